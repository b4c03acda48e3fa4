/* SPDX-License-Identifier: MIT */
/* The policy language: one INI file per tenant in a directory, parsed strictly (inih, with every
 * line pre-checked so inih's truncation and continuation lines never change a value), with
 * file:line diagnostics. The keys themselves are keys.h's table. Three files: policy-values.c
 * (one value, rules across keys), policy-parse.c (one file's text), policy-load.c (files, the
 * directory, lookups). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

struct qos_value {
	bool set;
	uint64_t num; /* numbers, in the unit keys.h notes for the key */
	char *str; /* canonical text of the value (always set when set = true) */
	unsigned line; /* where it was given (0 for overrides) */
};

struct qos_settings {
	struct qos_value v[_QK_MAX];
};

struct qos_class {
	char *name;
	unsigned line;
	struct qos_settings s;
};

struct qos_match {
	char *glob; /* on the cgroup path, fnmatch(FNM_PATHNAME) */
	char *cls;
	unsigned line;
};

/* One line of a tenant's [claim] section: which containers may claim the tenant (by the
 * qosd.io/tenant or qosd.io/class annotation). The rule itself is in assign.c. */
enum qos_claim_kind {
	QOS_CLAIM_CGROUP, /* cgroup = GLOB: fnmatch(FNM_PATHNAME) on the container's cgroup path */
	QOS_CLAIM_ANNOTATION, /* annotation.KEY = GLOB: fnmatch on that OCI annotation's value */
};

#define CLAIM_GLOB_MAX 256

struct qos_claim {
	enum qos_claim_kind kind;
	char *key; /* the annotation's key (QOS_CLAIM_ANNOTATION), else NULL */
	char *glob;
	unsigned line;
};

struct qos_tenant {
	char *name; /* file name without .conf */
	char *file; /* full path */
	bool has_budget; /* a [tenant] section was present */
	struct qos_settings budget;
	struct qos_class *classes;
	size_t n_classes;
	struct qos_match *matches;
	size_t n_matches;
	unsigned claim_line; /* line of [claim], 0 = no such section (see assign.h: the default) */
	bool claim_anyone; /* [claim] anyone = yes */
	struct qos_claim *claims;
	size_t n_claims;
};

struct qos_policy {
	char *dir;
	struct qos_tenant *tenants; /* in file-name order */
	size_t n_tenants;
};

const char *qos_priority_name(enum qos_priority p);

/* Parse and validate one value for key k, filling ret (set, num, canonical str). On failure
 * returns -EINVAL/-ERANGE and a message without file:line ("cpu.shares: 1 is out of range
 * 2..262144"). Used by the policy parser and by qosctl overrides. */
int qos_value_parse(enum qos_key k, const char *text, struct qos_value *ret, char **ret_msg);
void qos_value_done(struct qos_value *v);
int qos_value_copy(const struct qos_value *src, struct qos_value *dst);
void qos_settings_done(struct qos_settings *s);

/* Rules across keys of one section (cpu.shares with cpu.weight, cpu.quota x cpu.period below the
 * kernel's 1 ms minimum, ...). Returns 0 or -EINVAL with a message naming the keys. */
int qos_settings_check(const struct qos_settings *s, char **ret_msg);

/* Load every *.conf in dir (name order). All-or-nothing: on any refused file returns -EINVAL
 * with every problem in ret_errors ("file:line: message\n" lines) and no policy. An empty or
 * empty directory is an empty policy; a missing one is -ENOENT with a message. */
int policy_load_dir(const char *dir, struct qos_policy **ret, char **ret_errors);
/* Load one file as tenant (name from the file name). ret_errors as above. */
int policy_load_file(const char *path, struct qos_tenant **ret, char **ret_errors);
/* Parse a tenant from a string (fuzzing and tests); name and path are used in messages. */
int policy_load_string(const char *name, const char *path, const char *text,
		       struct qos_tenant **ret, char **ret_errors);
void policy_free(struct qos_policy *p);
void tenant_free(struct qos_tenant *t);

const struct qos_tenant *policy_tenant(const struct qos_policy *p, const char *name);
const struct qos_class *policy_class(const struct qos_tenant *t, const char *name);
/* First [match] line (files in name order, lines in order) whose glob matches cgpath.
 * Returns 1 with ret_t/ret_c set (either may be NULL), or -ENOENT when nothing matches. */
int policy_match(const struct qos_policy *p, const char *cgpath, const struct qos_tenant **ret_t,
		 const struct qos_class **ret_c);

/* The same, giving the [match] line itself (its glob, class and line number). */
int policy_match_rule(const struct qos_policy *p, const char *cgpath,
		      const struct qos_tenant **ret_t, const struct qos_match **ret_rule);

/* Split a blkio value's canonical text into targets: "TARGET RATE, TARGET RATE". kind is an
 * enum qos_io_kind. *targets is a new array (each .target and the array are the caller's). */
struct qos_io_target;
int policy_io_targets(const struct qos_value *v, int kind, struct qos_io_target **targets,
		      size_t *n);
