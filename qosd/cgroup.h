/* SPDX-License-Identifier: MIT */
/* cgroup hierarchy discovery (legacy / hybrid / unified) and the cpu, cpuset, memory and pids
 * writers for v1 and v2. Takes plain structs (limits.h); never includes policy.h. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "keys.h"
#include "limits.h"
#include "report.h"
#include "sdunit.h"
#include "util.h"

enum cg_mode { CG_LEGACY, CG_HYBRID, CG_UNIFIED };

/* v1 controllers qosd uses; on v2 all are in the one hierarchy. */
enum cg_ctrl { CG_CPU, CG_CPUSET, CG_MEMORY, CG_PIDS, CG_BLKIO, _CG_CTRL_MAX };

struct cg_root;

/* Open the cgroup root (normally /sys/fs/cgroup; a plain directory laid out like cgroupfs is a
 * "fake tree" for tests) and detect its mode: statfs magic first, then the layout. */
int cg_root_open(const char *path, struct cg_root **ret);
/* Open the hierarchies a mount table (/proc/self/mountinfo format) names, wherever they are
 * mounted: each v1 controller's first visible mount of its hierarchy's root, else the first
 * visible cgroup2 mount. -ENOMEDIUM if it has neither. cg_root_open falls back to it when
 * /sys/fs/cgroup holds no hierarchy. */
int cg_root_open_mounts(const char *mountinfo, struct cg_root **ret);
void cg_root_free(struct cg_root *root);
enum cg_mode cg_root_mode(const struct cg_root *root);
const char *cg_mode_name(enum cg_mode mode);
/* "cpu", "cpuset", ... (v1 hierarchy names). */
const char *cg_ctrl_name(enum cg_ctrl c);

/* Absolute path of the hierarchy whose directories stand for containers (v1: the cpu hierarchy;
 * v2: the root). Watches and adoption scans run there. */
const char *cg_primary_path(const struct cg_root *root);

/* O_PATH dirfd of cgpath in controller c's hierarchy (v2: the unified one). -ENOENT if absent,
 * -ENOMEDIUM if controller c is not mounted (v1). */
int cg_open(const struct cg_root *root, enum cg_ctrl c, const char *cgpath, int *ret_fd);

/* A cgroup's directory in each hierarchy, opened at most once while one request or one reconcile
 * runs (existence check, knobs, blkio) and closed at its end by cg_dirs_done(): never kept across
 * events, so a cgroup removed and made again under the same path is opened anew by the next. */
struct cg_dirs {
	char cgpath[CGPATH_MAX + 1]; /* the primary path the fds are of; "" = none yet */
	int fd[_CG_CTRL_MAX]; /* v2: the one directory, in fd[CG_CPU] */
	int err[_CG_CTRL_MAX]; /* 1: not tried, 0: open, else the open's -errno */
};

struct cg_paths;
void cg_dirs_init(struct cg_dirs *d);
void cg_dirs_done(struct cg_dirs *d);
/* Controller c's directory of cgpath (hier: the container's v1 paths, may be NULL) as a borrowed
 * O_PATH fd: opened on the first call, the same fd or the same -errno (as cg_open) after. A call
 * for another cgpath closes what d held first. */
int cg_dirs_get(const struct cg_root *root, struct cg_dirs *d, enum cg_ctrl c, const char *cgpath,
		const struct cg_paths *hier, int *ret_fd);
/* Forget the -errno d keeps for controller c (v1): its directory is looked for again by the next
 * cg_dirs_get (a hierarchy a runtime had not made yet). */
void cg_dirs_again(struct cg_dirs *d, enum cg_ctrl c);
/* cg_check_exists through d: the primary directory it opens stays open in d for the apply. */
int cg_dirs_exists(const struct cg_root *root, struct cg_dirs *d, const char *cgpath);

/* True if cgpath exists in the primary hierarchy. */
bool cg_exists(const struct cg_root *root, const char *cgpath);
/* 1 if cgpath exists in the primary hierarchy, 0 if it is gone (ENOENT, ENOTDIR), -errno if that
 * cannot be told (EMFILE, ENOMEM, EACCES, ...): only 0 may release what qosd holds for it. */
int cg_check_exists(const struct cg_root *root, const char *cgpath);

/* Make cgpath and its parents in every hierarchy qosd uses (v1: cpuset.cpus/mems copied into
 * new directories so tasks can join; v2: controllers enabled in each ancestor's
 * cgroup.subtree_control). Used for tenant cgroups, which qosd owns. */
int cg_make(struct cg_root *root, const char *cgpath);

/* v2 only: enable cpu, cpuset, io, memory, pids in the subtree_control of every ancestor of
 * cgpath (not cgpath itself) where available. No-op on v1. */
int cg_enable_controllers(struct cg_root *root, const char *cgpath);

/* Bring cgpath's cpu, cpuset, memory and pids knobs to l, writing only what differs (dry_run:
 * read only), v1 memory/memsw in a safe order, one report entry per knob with the value read
 * back. Never stops at the first failure. Returns 0, or the first -errno (details in r). */
int cg_apply(struct cg_root *root, const char *cgpath, const struct qos_cg_limits *l, bool dry_run,
	     struct qos_report *r);

/* The cgroup path of pid in the primary hierarchy (v1: the cpu line of /proc/PID/cgroup, or its
 * "cpu,cpuacct" form; v2: the "0::" line). procfs may be NULL for "/proc". */
int cg_pid_path(const struct cg_root *root, const char *procfs, pid_t pid, char **ret);

/* v1: where a container sits in each hierarchy, when that is not its primary path. runc run
 * without cgroupsPath puts the container under its caller's cgroup in every hierarchy, so from a
 * shell whose memory cgroup is not the root it is /ID for cpu and /that/memory/cgroup/ID for
 * memory. NULL entries: the primary path. Always all NULL on v2. */
struct cg_paths {
	char *v[_CG_CTRL_MAX];
};

/* The paths of pid in every v1 hierarchy qosd uses that differ from primary (read from
 * /proc/PID/cgroup; procfs NULL for "/proc"), each validated. v2: all NULL. */
int cg_pid_paths(const struct cg_root *root, const char *procfs, pid_t pid, const char *primary,
		 struct cg_paths *ret);
void cg_paths_done(struct cg_paths *p);
/* Controller c's path: hier's entry, or cgpath. hier may be NULL. */
const char *cg_paths_get(const struct cg_paths *hier, enum cg_ctrl c, const char *cgpath);
struct cg_dirs;
/* cg_apply with per-hierarchy paths (NULL: cgpath in every hierarchy). */
int cg_apply_paths(struct cg_root *root, const char *cgpath, const struct cg_paths *hier,
		   const struct qos_cg_limits *l, bool dry_run, struct qos_report *r);
/* cg_apply_paths for a cgroup that is systemd unit unit's own (sdu and unit NULL: none): the
 * knobs systemd models go to it as runtime unit properties (one SetUnitProperties per run of
 * them), the rest to cgroupfs; read back from the kernel as always. fresh: push every owned
 * modelled knob even where the kernel already has the value. A knob systemd refuses gets its
 * error; where systemd cannot take it at all (sdunit_error_falls_back) it is written to cgroupfs
 * instead. Each report entry's via says which path it took. dirs: the directories already
 * opened for this request (NULL: opened and closed here). */
int cg_apply_unit(struct cg_root *root, struct sdunit *sdu, const char *unit, bool fresh,
		  const char *cgpath, const struct cg_paths *hier, struct cg_dirs *dirs,
		  const struct qos_cg_limits *l, bool dry_run, struct qos_report *r);

/* The first pid in cgpath's cgroup.procs in the primary hierarchy; -ESRCH if it has none. */
int cg_first_pid(const struct cg_root *root, const char *cgpath, pid_t *ret);

/* Names of cgpath's child cgroups in the primary hierarchy, as a NULL-terminated array
 * (free with cg_strv_free). Returns the count. */
int cg_list_children(const struct cg_root *root, const char *cgpath, char ***ret);
void cg_strv_free(char **v);

/* The v1 <-> v2 knob table. cg_knob_file: the kernel file for a policy key (QK_CPU_SHARES and
 * QK_CPU_WEIGHT name the same row) on mode (NULL: none). cg_knob_counterpart: the file on mode
 * that corresponds to a file of the other version ("cpu.shares", CG_UNIFIED -> "cpu.weight"). */
const char *cg_knob_file(enum qos_key key, enum cg_mode mode);
const char *cg_knob_counterpart(const char *file, enum cg_mode mode);
/* The systemd unit property that models kernel file file on mode (SDP_NONE: cgroupfs only). */
enum sdprop_kind cg_knob_sdprop(const char *file, enum cg_mode mode);

/* Remove cgpath (a leaf qosd made) from every hierarchy; 0 if already gone, -EBUSY while it has
 * tasks or children. Tries every hierarchy, returns the first error. */
int cg_remove(struct cg_root *root, const char *cgpath);
