/* SPDX-License-Identifier: MIT */
/* One cgroup (a container or a tenant cgroup): desired limits -> every enforcer. Idempotent:
 * each enforcer reads the kernel, writes what differs, reads back; never stops at the first
 * failed knob; every knob's result lands in the report. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "desired.h"
#include "diskdir.h"
#include "report.h"

struct cg_root;
struct blkio_ctx;
struct tc_ctx;
struct quota_ctx;
struct sdunit;

struct reconcile_env {
	struct cg_root *cg;
	struct blkio_ctx *blkio; /* NULL: blkio keys reported as unavailable */
	struct tc_ctx *tc;
	struct quota_ctx *quota;
	struct diskdir_rules diskdir; /* where a quota may tag (qosd.conf quota_roots) */
	struct sdunit *sd; /* NULL: no systemd, cgroupfs only */
	int sd_last_err; /* the last unit lookup error, logged once */
};

struct cg_paths;
struct cg_dirs;

struct reconcile_target {
	const char *id; /* NULL for a tenant cgroup (no tc, no quota) */
	const char *cgpath;
	const struct cg_paths *hier; /* v1: paths that differ per hierarchy; NULL = none */
	struct cg_dirs *dirs; /* its directories opened for this request or pass (NULL: here) */
	const char *base; /* where class values come from, for the report: "class gold" */
	pid_t pid_hint; /* a process of the container known from the hook, 0 = none */
	/* in/out: the directory a quota tags, canonical; *dir NULL = the container's writable layer:
	 * with a bundle, none (it is decided when the container registers, from the runtime's mount
	 * table); without, decided (diskdir_decide, from /proc/PID/root) and stored here on the first
	 * pass that needs it (not on dry runs) */
	char **dir;
	const char *bundle;
	uint32_t *projid; /* in/out: project id kept in the state */
	bool (*projid_taken)(uint32_t id, void *userdata);
	void *userdata;
};

/* Apply d to t (dry_run: read only). Returns 0 or the first -errno; details per knob in r. */
int reconcile_one(struct reconcile_env *env, const struct reconcile_target *t,
		  const struct qos_desired *d, bool dry_run, struct qos_report *r);

/* The cgroup of a tenant's budget with systemd: the slice /qosd.slice/qosd-TENANT.slice (without
 * systemd: assign_tenant_cgroup). NULL on allocation failure. */
char *reconcile_tenant_slice(const char *tenant);
/* Make it: with systemd, start the transient slice (StartTransientUnit) and wait until it is
 * active; else mkdir (cg_make). ret_why: systemd's words on failure. */
int reconcile_make_tenant(struct reconcile_env *env, const char *tenant, const char *cgpath,
			  char **ret_why);

/* Release what qosd created for a container that went away (ifb devices, quota id). net: it may
 * have an ifb (false skips the link dump that finds them: a container never shaped has none). */
void reconcile_release(struct reconcile_env *env, const char *id, bool net, const char *dir,
		       uint32_t projid);

/* True if d names any key the enforcer handles (so the caller can skip work). */
bool desired_has_net(const struct qos_desired *d);
bool desired_has_disk(const struct qos_desired *d);
