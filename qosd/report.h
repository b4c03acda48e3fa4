/* SPDX-License-Identifier: MIT */
/* Per-knob results of one reconcile (or read-only inspection): what qosctl show prints.
 * Enforcers append one entry per kernel object they handle. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "keys.h"
#include "util.h"

struct qos_knob {
	char *key; /* policy key, "memory.limit", or a group ("blkio", "net", "disk") */
	int qk; /* enum qos_key of key; -1 for a group */
	char *object; /* kernel object, "memory.limit_in_bytes", "io.max 7:0", "tbf on veth12ab" */
	char *desired; /* text; NULL = not desired (left alone) */
	char *applied; /* as read back from the kernel after the write; NULL = could not read */
	char *note; /* conversion or resolution remark ("shares 512 -> weight 50", "sda1 -> sda") */
	char *source; /* filled by reconcile: "class gold", "override", "tenant acme" */
	const char *via; /* static: which path sets it, "systemd" (unit property) or "cgroupfs" */
	bool written; /* this pass wrote the kernel object (the value differed) */
	bool would_write; /* dry run: the value differs, a real pass would write it (cgroup knobs) */
	char *before; /* value read before the write, when written (for "corrected X -> Y" logs) */
	int error; /* 0 or -errno of the last failed operation */
	char *error_msg; /* human words for error, with value and object */
};

struct qos_report {
	struct qos_knob *v;
	size_t n, cap;
	/* set by an enforcer when something is not ready yet (cgroup directory missing in one
	 * hierarchy, no process in the cgroup, veth not there): reconcile again later */
	bool retry;
	/* set with retry by an enforcer that did a bounded step of a long job (a quota tree walk):
	 * the next step comes soon, without the backoff a missing object gets */
	bool progress;
	char *retry_why;
};

/* Append an entry for policy key qk on a kernel object; returns it through ret (owned by the
 * report). */
int report_add_key(struct qos_report *r, enum qos_key qk, const char *object,
		   struct qos_knob **ret);
/* The same for a problem of a whole group of keys ("blkio", "net", "disk"): qk = -1. */
int report_add_group(struct qos_report *r, const char *group, const char *object,
		     struct qos_knob **ret);
/* Replace *field with a printf'd string (NULL fmt clears). Returns 0 or -ENOMEM. */
int knob_printf(char **field, const char *fmt, ...) _printf_(2, 3);
/* Record an error on a knob: error = -abs(err), error_msg printf'd. */
void knob_fail(struct qos_knob *k, int err, const char *fmt, ...) _printf_(3, 4);
/* Mark the report for a later retry, keeping the first reason. */
void report_retry(struct qos_report *r, const char *fmt, ...) _printf_(2, 3);
/* Number of knobs with error != 0. */
size_t report_errors(const struct qos_report *r);
void report_done(struct qos_report *r);
