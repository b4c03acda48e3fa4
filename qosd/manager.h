/* SPDX-License-Identifier: MIT */
/* The daemon's core: owns the policy, the registry and every event source; events only mark
 * containers dirty, and one pass of the event loop reconciles each dirty container once. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "control.h"
#include "metrics.h"
#include "policy.h"
#include "reconcile.h"
#include "registry.h"

struct sd_event;
struct sd_event_source;
struct watch;
struct control;

struct tenant_state {
	char *name;
	char *cgpath;
	uint32_t owned;
	char *status;
};

struct manager {
	struct qosd_config *cfg;
	struct sd_event *event;
	struct qos_policy *policy;
	struct registry *reg;
	struct reconcile_env env;
	struct watch *watch;
	struct control *control;
	struct sd_event_source *defer_src, *drift_src, *retry_src, *watch_src, *blkio_src, *tc_src;
	struct tenant_state *tenants;
	size_t n_tenants;
	char *self_cgroup; /* qosd's own cgroup in the primary hierarchy */
	char *state_path, *pending_dir;
	bool state_dirty, tenants_dirty;
	size_t n_dirty; /* containers with dirty set: a pass stops scanning once it met them all */
	struct sd_event_source *post_src; /* gives freed heap back after large work (on_post) */
	struct sd_event_source *trim_src; /* ... a moment later, once that work's memory is freed */
	uint64_t trim_reconciles; /* counters.reconciles when on_post last looked at the heap */
	size_t trim_kib; /* KiB of replies and metrics pages made since then */
	uint64_t retry_at; /* earliest pending retry (CLOCK_MONOTONIC usec), 0 = none */
	struct sd_event_source *save_src; /* a rate-limited state save (manager_save_state_later) */
	uint64_t saved_at; /* last successful state save (CLOCK_MONOTONIC usec) */
	uint64_t save_cost; /* how long that save took (usec) */
	struct controller *ctl; /* NULL unless a class sets priority (controller.h) */
	struct metrics *metrics; /* metrics.c: NULL until asked for */
	struct qosd_counters counters;
};

int manager_new(struct qosd_config *cfg, struct manager **ret);
void manager_free(struct manager *m);
/* Adopt, apply, tell systemd READY=1, and run the event loop until SIGTERM/SIGINT. */
int manager_run(struct manager *m);

/* Load the policy directory again; all-or-nothing. ret_msg gets the refusal's messages. */
int manager_reload(struct manager *m, char **ret_msg);
void manager_mark_dirty(struct manager *m, struct container *c);
void manager_mark_all_dirty(struct manager *m);
/* Reconcile one container now. Returns 1 if it was forgotten (its cgroup is gone: c is freed),
 * -errno if whether its cgroup exists cannot be told (EMFILE, ...: nothing applied, nothing
 * released, retried later), else 0. With ret_report, the report is handed to the caller (who
 * frees it; empty unless 0 was returned). */
int manager_reconcile(struct manager *m, struct container *c, struct qos_report *ret_report);
struct cg_dirs;
/* The same with c's cgroup directories already opened for this request (dirs: of c->cgpath, or
 * empty); what it opens stays in dirs for the caller to close (cg_dirs_done). */
int manager_reconcile_dirs(struct manager *m, struct container *c, struct cg_dirs *dirs,
			   struct qos_report *ret_report);
/* Report of what the kernel has for c, read only (qosctl show). */
int manager_inspect(struct manager *m, struct container *c, struct qos_report *ret,
		    char **ret_cpu_note);
/* The one entry a registration of id for cgpath goes into: id's own (moved to cgpath), else
 * the entry a [match] rule or an earlier registration made for cgpath, renamed to id (taken
 * over: its operator settings stay), else a new one. */
int manager_entry(struct manager *m, const char *id, const char *cgpath, struct container **ret);
/* What reconciling c as class cls of tenant t would do, read only (qosctl plan; c is not
 * changed: a dry run stores neither its directory nor its project id): the report's
 * knobs carry desired and the kernel's current value. ret_msg: why the limits cannot be computed. */
int manager_dry_run(struct manager *m, struct container *c, const struct qos_tenant *t,
		    const struct qos_class *cls, struct qos_report *ret, char **ret_msg);
/* Forget a container: release its ifb and quota id, drop it from the registry. */
void manager_forget(struct manager *m, struct container *c);
/* Is cgpath a cgroup qosd may manage? ret_why explains a refusal. */
bool manager_cgroup_allowed(struct manager *m, const char *cgpath, char **ret_why);
/* The same for a container's path in each v1 hierarchy (hier may be NULL). */
bool manager_cgroups_allowed(struct manager *m, const char *cgpath, const struct cg_paths *hier,
			     char **ret_why);
/* Effective tenant and class of c by precedence operator > hook > [match], the hook's claim
 * bound by its tenant's [claim] (assign.h). */
int manager_assignment(struct manager *m, const struct container *c, const struct qos_tenant **t,
		       const struct qos_class **cls, const char **origin, char **ret_why);
/* Write the most recently touched record (the container the current request changed) before the
 * answer; the rest of the queue follows in the background. -errno when it failed (retried).
 * durable: fsync'd with the directory (qosctl set/unset: the operator's word survives a power
 * loss); else in the page cache only, which survives qosd's own crash or kill: what a
 * registration needs, since a machine crash takes the container and its cgroup too and the
 * runtime's next start registers it again. */
int manager_save_state(struct manager *m, bool durable);
/* Watch a registered container's cgroup for its removal (matched ones are watched already). */
void manager_watch_exit(struct manager *m, struct container *c);
/* Save the changed records once the current request is answered (the next event-loop pass),
 * without fsync, like a pass's changes: a burst of requests is written once. A request that
 * promises its change survives a restart calls manager_save_state() before it answers. */
void manager_save_state_later(struct manager *m);

/* commands.c: the control socket's request handler. */
int manager_handle_request(void *userdata, const struct qos_request *req,
			   const struct control_peer *peer, char **ret);

/* observe.c: the read-only requests (stats, explain, plan); an error reply for anything else. */
char *manager_observe_request(struct manager *m, const struct qos_request *req);

/* The container id a runtime encodes in a cgroup name: docker-<id>.scope, crio-<id>.scope,
 * cri-containerd-<id>.scope, libpod-<id>.scope, or the directory name itself. */
int container_id_from_cgroup(const char *cgpath, char **ret);
