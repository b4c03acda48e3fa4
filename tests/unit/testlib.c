/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qosd/report.h"
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

const struct qos_knob *tl_knob(const struct qos_report *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (streq(r->v[i].key, key))
			return &r->v[i];
	fail_msg("no report entry %s", key);
	return NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 ? -1 : 0;
}

void tl_rm_tree(const char *dir)
{
	if (dir && dir[0])
		(void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
