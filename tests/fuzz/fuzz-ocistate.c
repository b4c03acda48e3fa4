/* SPDX-License-Identifier: MIT */
/* The hook's OCI state parser: the JSON a runtime hands qos-hook on stdin, whose annotations any
 * user who can start a container controls. Besides "no crash, no leak", a parsed state must keep
 * the promises ocistate.h makes, and a refused one must leave *ret untouched. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qosd/ocistate.h"
#include "qosd/util.h"

static bool path_ok(const char *p)
{
	return p[0] == '/' && !strstr(p, "/../") && !endswith(p, "/..");
}

static void check(const struct oci_state *s)
{
	if (!s->version || !startswith(s->version, "1."))
		abort();
	if (!s->id || name_validate(s->id, ID_MAX) < 0)
		abort();
	if (s->pid < 0 || s->pid > 4194304)
		abort();
	if (s->bundle && s->bundle[0] != '/')
		abort();
	if (s->tenant && name_validate(s->tenant, TENANT_MAX) < 0)
		abort();
	if (s->cls && name_validate(s->cls, CLASS_MAX) < 0)
		abort();
	if (s->disk_dir && !path_ok(s->disk_dir))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct oci_state untouched = { .pid = -42 };
	struct oci_state s = untouched;
	char *err = NULL;
	int r;

	r = oci_state_parse((const char *) data, size, &s, &err);
	if (r >= 0) {
		check(&s);
		oci_state_done(&s);
	} else {
		if (memcmp(&s, &untouched, sizeof(s)) != 0)
			abort();
		/* every refusal but an allocation failure says why */
		if (!err && r != -ENOMEM)
			abort();
	}
	free(err);
	return 0;
}
