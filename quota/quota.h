/* SPDX-License-Identifier: MIT */
/* Disk quotas on a container's writable directory: XFS project quotas (ext4 with -O project too).
 * Project ids come from a configured range; the directory's own project id is the truth that
 * survives restarts and lost state files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qosd/limits.h"
#include "qosd/report.h"

struct quota_ctx;

struct quota_config {
	uint32_t range_lo, range_hi; /* 0,0 = default by projid32bit */
	const char *projects_file, *projid_file; /* NULL = /etc/projects, /etc/projid */
	unsigned walk_step; /* inodes tagged per quota_apply call; 0 = the whole tree at once */
};

/* Default id ranges: with projid32bit, and without (ids must stay below 65536). */
#define QUOTA_RANGE32_LO 100000u
#define QUOTA_RANGE32_HI 199999u
#define QUOTA_RANGE16_LO 50000u
#define QUOTA_RANGE16_HI 59999u

/* Copies cfg (strings included). -EINVAL on a reversed range or id 0 in it. */
int quota_ctx_new(const struct quota_config *cfg, struct quota_ctx **ret);
void quota_ctx_free(struct quota_ctx *ctx);

/* What a host mount table (mountinfo text, the host's or the runtime's view, never a container's)
 * says about a container's root directory path (canonical): 1 and *ret_upper when the last mount
 * at exactly path is an overlay with an upperdir; 0 when nothing is mounted at path (a plain
 * directory); -EMEDIUMTYPE with *ret_fstype when something else is mounted there (a bind mount:
 * its content is not the container's). */
int quota_mountinfo_root_at(const char *mountinfo, const char *path, char **ret_upper,
			    char **ret_fstype);
/* The upperdir of an overlay mount of device dev in a mountinfo text; -ENOENT if none. */
int quota_mountinfo_upper_by_dev(const char *mountinfo, dev_t dev, char **ret_upper);

/* Path syntax: absolute, no ".." component, no control character, bounded. 0 or -EINVAL (or
 * -ENAMETOOLONG) with *ret_msg. */
int quota_path_check_syntax(const char *dir, char **ret_msg);
/* True if path (canonical) is root or below it (canonical). */
bool quota_path_under(const char *path, const char *root);

/* Open dir for a quota: the syntax above, then a real directory, not a symbolic link (its last
 * component; earlier ones are resolved, and *ret_real is where they lead). -errno with *ret_msg. */
int quota_dir_open(const char *dir, int *ret_fd, char **ret_real, char **ret_msg);

/* Bring dir's project quota to d. dir must be canonical (decided by qosd/diskdir.h): a path that
 * resolves elsewhere now (a component became a symlink) is refused. *projid: in = the id from the
 * state file (0 = none), out = the id in use (allocated or rebuilt from the directory's own
 * project id). taken(id, userdata) tells ids other containers hold. The tree is tagged only if no
 * inode in it carries a live id of someone else (held by another container, reserved in
 * /etc/projects or /etc/projid, or outside qosd's range), in steps of walk_step inodes: while a
 * walk is under way the report asks for a retry (r->progress), and the top directory is tagged
 * last, so a walk cut short (crash, error) is redone. dry_run: read only. Adds one report entry
 * for disk.quota and one for disk.inodes (applied/usage read back with quotactl). Nothing to do
 * (both LEAVE, no id): 0, no entries. */
int quota_apply(struct quota_ctx *ctx, const char *dir, const struct qos_disk *d, uint32_t *projid,
		bool (*taken)(uint32_t id, void *userdata), void *userdata, bool dry_run,
		struct qos_report *r);

/* Clear the limits of projid (set to 0) on the filesystem of dir and forget the id. dir may be
 * gone: the filesystem is then the one recorded when the id was applied, else the one of dir's
 * nearest existing ancestor. The directory keeps its project id (its files keep counting against
 * the id, so it is not handed out again while they exist). */
int quota_release(struct quota_ctx *ctx, const char *dir, uint32_t projid);

/* Read the kernel's view of projid on dir's filesystem (for show). Units: bytes and inodes. */
struct quota_usage {
	uint64_t limit_bytes, used_bytes, limit_inodes, used_inodes;
};
int quota_get(struct quota_ctx *ctx, const char *dir, uint32_t projid, struct quota_usage *ret);
