/* SPDX-License-Identifier: MIT */
/* qosctl's commands in files of their own (qosctl-*.c) share these with qosctl.c. */
#pragma once

#include <stdbool.h>

struct json_t; /* jansson's json_t: no library header here */

extern const char *sock_path;
extern bool want_json;

/* One request to qosd; 0 with *ret set, or 1 after printing why (exit status). */
int call(struct json_t *req, struct json_t **ret);
/* Print "qosctl: <fmt>" and the --help hint; returns 2. */
int usage(const char *fmt, const char *arg);
/* o[key] as a string, or dflt. */
const char *s_or(struct json_t *o, const char *key, const char *dflt);

int qosctl_explain(const char *id, const char *key);
int qosctl_plan(const char *dir);
/* argv[0] = "top" */
int qosctl_top(int argc, char **argv);
