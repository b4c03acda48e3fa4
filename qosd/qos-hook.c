/* SPDX-License-Identifier: MIT */
/* qos-hook: OCI runtime hook (placeholder until the hook issue lands: it only parses its input). */
#include <jansson.h>

#include "util.h"

int main(int argc, char **argv)
{
	json_auto_t *st = NULL;
	json_error_t e;

	if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: qos-hook STAGE < state.json\n"
		       "NOT YET FUNCTIONAL: this build only parses the OCI state on stdin.\n");
		return 0;
	}
	st = json_loadf(stdin, 0, &e);
	if (!st) {
		fprintf(stderr, "qos-hook: state is not JSON: %s\n", e.text);
		return 1;
	}
	return 0;
}
