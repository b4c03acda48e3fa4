/* SPDX-License-Identifier: MIT */
/* The containers qosd knows: id, cgroup, who assigned its tenant and class, operator overrides,
 * quota directory and project id, and which keys qosd applied. Persisted atomically in the state
 * directory: only what the kernel cannot tell us. */
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
	struct qos_settings ovr; /* operator overrides, persisted */
	char *dir, *bundle; /* disk.dir and the OCI bundle */
	uint32_t projid;
	uint32_t owned; /* keys qosd applied (bit 1u << enum qos_key) */
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
	size_t reg_idx; /* position in the registry (private) */
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

/* Write state to path atomically (mode 0600); durable: fsync too (see write_file_replace). */
int registry_save(const struct registry *reg, const char *path, bool durable);
/* Load state from path into reg (empty if missing). A corrupt file is renamed to
 * path.corrupt-<time> and -EBADMSG returned with a message: the caller logs and starts empty. */
int registry_load(struct registry *reg, const char *path, char **ret_msg);

/* Parse a JSON registration record (the hook's pending file): fills a container skeleton. */
int registry_load_pending(const char *path, struct container **ret);
/* Write one registration record atomically (hook side, when qosd does not answer). */
int registry_write_pending(const char *path, const struct container *c);
void container_free(struct container *c);
