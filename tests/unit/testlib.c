/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qosd/util.h"
#include "tests/unit/testlib.h"

void tl_put(const char *dir, const char *rel, const char *content)
{
	_cleanup_free_ char *path = dir ? strprintf("%s/%s", dir, rel) : strdup(rel);
	_cleanup_fclose_ FILE *f = NULL;

	assert_non_null(path);
	for (char *s = path + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*s = '/';
	}
	f = fopen(path, "we");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_true(fputs(content, f) >= 0);
	assert_int_equal(fflush(f), 0);
}
