/* SPDX-License-Identifier: MIT */
/* The containers qosd knows: id, cgroup, who assigned its tenant and class, operator overrides,
 * quota directory and project id, and which keys qosd applied. Persisted as a snapshot and an
 * append-only journal of records in the state directory (registry-store.c): only what the kernel
 * cannot tell us. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "policy.h"

struct container {
	char *id;
	char *cgpath;
	/* assignments, strongest first: operator (qosctl set), hook annotations; [match] rules are
	 * evaluated on the fly and not stored */
	char *op_tenant, *op_cls;
	char *hook_tenant, *hook_cls;
	bool matched; /* found by a [match] rule (watch or scan) */
	/* operator overrides, persisted; NULL = none (container_ovr): an empty struct qos_settings
	 * is 1 KiB, most of a container's memory at 10,000 containers */
	struct qos_settings *ovr;
	char *dir, *bundle; /* disk.dir and the OCI bundle */
	uint32_t projid;
	uint32_t owned; /* keys qosd applied (bit 1u << enum qos_key) */
	bool tasks_idle; /* qosd made its threads SCHED_IDLE (controller.c), until it undoes that */
	/* runtime, from the last pass that computed its limits (desired.h's idle_tasks): its
	 * threads run SCHED_IDLE or not; TASKS_LEAVE before any, or when that pass refused its
	 * limits (they stay as they were, and so do its threads' policies) */
	enum { TASKS_LEAVE, TASKS_IDLE, TASKS_OTHER } tasks_want;
	pid_t pid; /* a process of the container, from the hook (hint only) */
	/* the annotations the hook passed that tenants' [claim] rules name ("KEY=VALUE"): the
	 * evidence a hook claim is checked against on every pass (assign.h) */
	char **annotations;
	size_t n_annotations;
	/* v1: the container's path in hierarchies where it is not cgpath (from /proc/PID/cgroup at
	 * registration: runc without cgroupsPath); persisted as "hierarchies" */
	struct cg_paths hier;

	/* runtime only */
	char *tenant, *cls; /* effective, after the last reconcile */
	const char *origin; /* "operator", "hook", "match" or NULL */
	char *status; /* "ok", "unassigned", "orphaned: ...", "pending: ...", "N errors" */
	char *errors; /* last errors, "key: message\n" lines */
	char *replaced; /* the id of the [match] entry a registration took over, or NULL */
	bool dirty;
	unsigned retries;
	uint64_t retry_at; /* CLOCK_MONOTONIC usec of the next retry, 0 = none */
	uint32_t
		verified; /* keys whose knobs all held after the last pass (drift = a change to one) */
	bool has_net, has_blkio; /* the last desired state named net.* / blkio.* keys */
	/* a reload's finding for the next pass: keys the class reload_cls (of the new policy) sets
	 * as before and that held (verified), whose knobs that pass does not read (manager.c) */
	uint32_t reload_same;
	const void *reload_cls;
	size_t reg_idx; /* position in the registry (private) */
	bool rec_queued; /* its record waits in the store's write queue (private) */
	size_t wq_idx; /* its place in that queue (private) */
	uint64_t rec_hash; /* FNV-1a 64 of the record last written or read (private) */
};

struct registry;

int registry_new(struct registry **ret);
void registry_free(struct registry *reg);
size_t registry_size(const struct registry *reg);

struct container *registry_get(const struct registry *reg, const char *id);
struct container *registry_by_cgroup(const struct registry *reg, const char *cgpath);
/* Add a new container (id and cgpath validated by the caller). -EEXIST if id is known. */
int registry_add(struct registry *reg, const char *id, const char *cgpath, struct container **ret);
/* Change a known container's cgroup path. */
int registry_set_cgroup(struct registry *reg, struct container *c, const char *cgpath);
/* Give a known container another id (-EEXIST if id is taken): a registration taking over the
 * entry a [match] rule made for the same cgroup. */
int registry_rename(struct registry *reg, struct container *c, const char *id);
void registry_remove(struct registry *reg, struct container *c);
/* Iterate: i from 0 while it returns non-NULL (order unspecified, stable while unchanged). */
struct container *registry_at(const struct registry *reg, size_t i);

/* ---- persistence (registry-store.c) ---- */

/* Use directory dir (created 0700 if missing; the caller has checked its parent) for the records:
 * DIR/snapshot.jsonl (every record at the last compaction, one a line) and DIR/journal.jsonl
 * (appended since; created 0600, kept open). */
int registry_open_store(struct registry *reg, const char *dir);
/* The same, read-only (qos-hook-apply reading qosd's records): nothing is ever created, written,
 * truncated, renamed or set aside; registry_sync and registry_compact give -EROFS. A dir that does
 * not exist is an empty store (a state directory of a version before it: registry_load still reads
 * its legacy_path). */
int registry_open_store_ro(struct registry *reg, const char *dir);
/* Load the records of the per-file layout (DIR/ID.json) of older versions, then the snapshot, then
 * the journal replayed in order, then, once, a single-file state of the oldest format (legacy_path,
 * may be NULL; its entries are journalled and the file renamed legacy_path.migrated). A bad record
 * or line costs that container alone: it is skipped and named, with its file, line and field, in a
 * line of *ret_msg (a bad file set aside as NAME.corrupt-<time>, a bad line appended to
 * NAME.corrupt-<time>). A journal's last line without its newline (a crash mid-append) is dropped
 * and the journal cut back to the line before. Read-write: then compacts once when there was a
 * journal or old files. Returns the number of skipped entries, or -errno when the store cannot be
 * read at all. */
int registry_load(struct registry *reg, const char *legacy_path, char **ret_msg);
/* c's record changed (registry_add and registry_set_cgroup touch by themselves); c goes to the
 * head of the write queue. */
void registry_touch(struct registry *reg, struct container *c);
/* Append the removals of removed containers and at most max queued records (0: all), the most
 * recently touched first, to the journal with one write(); with durable, one fdatasync of the
 * journal. A failed or short append is cut off again (nothing half-written). Returns the number
 * of records still queued (>= 0), or the first -errno (what failed stays queued). */
int registry_sync(struct registry *reg, bool durable, size_t max);
/* Queue every container whose record differs from what was last written or read (the safety net
 * before the last save at exit). Returns how many were queued. */
size_t registry_touch_changed(struct registry *reg);
/* The journal has grown past its bound (over 1 MiB and over twice the snapshot), or records of the
 * per-file layout remain: registry_compact() is due (not on a request's path: it writes every
 * record). After a failed compaction, not before the journal has grown 1 MiB more (a full disk is
 * not retried on every save). */
bool registry_compact_due(const struct registry *reg);
/* Write every record to the snapshot (tmp + fsync + rename + directory fsync; the queue appended
 * and fdatasync'd to the journal first), then empty the journal. A crash between the two replays
 * the old journal over the new snapshot: the same state. 0 or -errno (the journal then stays). */
int registry_compact(struct registry *reg);

/* The rule a stored string field (id, cgroup, op_tenant, op_class, hook_tenant, hook_class, dir,
 * bundle) must meet, on the way in as on the way out. -EINVAL with *ret_msg naming field and
 * value; -ENOENT for an unknown field. */
int registry_field_check(const char *field, const char *value, char **ret_msg);

/* Parse a JSON registration record (the hook's pending file): fills a container skeleton. */
int registry_load_pending(const char *path, struct container **ret);
/* Write one registration record atomically (hook side, when qosd does not answer). */
int registry_write_pending(const char *path, const struct container *c);
void container_free(struct container *c);
/* c's overrides: never NULL (a shared empty set when c has none). */
const struct qos_settings *container_ovr(const struct container *c);
/* The same, to change: made on first use. NULL when out of memory. */
struct qos_settings *container_ovr_mut(struct container *c);
