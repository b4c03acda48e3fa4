/* SPDX-License-Identifier: MIT */
/* A cgroup's thread list as taskidle_parse() reads it (tasks, cgroup.threads), from any bytes.
 * Besides "no crash, no undefined behaviour": accepted means every line was one id in
 * 0..INT_MAX, the ids come back sorted, one per line but for the 0 lines (skipped); refused means
 * -EINVAL (or -ENOMEM). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qosd/taskidle.h"
#include "qosd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = strndup((const char *) data, size);
	_cleanup_free_ int *ids = NULL;
	unsigned n = 0, lines = 0;
	int r;

	if (!text)
		return 0;
	r = taskidle_parse(text, &ids, &n);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		return 0;
	}
	/* accepted: every line is digits; the ids are its lines' values except 0 (skipped) */
	for (const char *p = text; *p;) {
		char *end;

		if (strtoul(p, &end, 10))
			lines++;
		p = *end ? end + 1 : end;
	}
	if (n != lines)
		abort();
	for (unsigned i = 0; i < n; i++)
		if (ids[i] <= 0 || (i && ids[i - 1] > ids[i]))
			abort();
	return 0;
}
