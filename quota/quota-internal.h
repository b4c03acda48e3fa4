/* SPDX-License-Identifier: MIT */
/* Pieces of the quota module shared between its files and exposed for the unit tests. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "quota.h"

/* A sorted set of project ids (from /etc/projects, /etc/projid). */
struct quota_idset {
	uint32_t *v;
	size_t n, cap;
};

void quota_idset_done(struct quota_idset *s);
bool quota_idset_has(const struct quota_idset *s, uint32_t id);
/* Add the ids named in an /etc/projects ("ID:PATH") or /etc/projid ("NAME:ID") text. */
int quota_idset_parse_projects(struct quota_idset *s, const char *text);
int quota_idset_parse_projid(struct quota_idset *s, const char *text);
/* Load both files (a missing file is empty). */
int quota_idset_load(struct quota_idset *s, const char *projects_file, const char *projid_file);

/* Effective range: the configured one, or the default for projid32. -ERANGE (msg) when an id
 * above 65535 is asked for on a filesystem without projid32bit, -ENOSPC (msg) when every id of the
 * range is reserved in the files. */
int quota_range_resolve(uint32_t cfg_lo, uint32_t cfg_hi, bool projid32,
			const struct quota_idset *reserved, uint32_t *ret_lo, uint32_t *ret_hi,
			char **ret_msg);

/* in_use(id, userdata): 1 = the filesystem has usage or limits for id, 0 = free, <0 = error. */
typedef int (*quota_in_use_fn)(uint32_t id, void *userdata);
typedef bool (*quota_taken_fn)(uint32_t id, void *userdata);

/* First id of [lo, hi] not reserved, not taken, not held in this process (held), not in use. */
int quota_id_pick(uint32_t lo, uint32_t hi, const struct quota_idset *reserved,
		  const struct quota_idset *held, quota_taken_fn taken, void *taken_ud,
		  quota_in_use_fn in_use, void *in_use_ud, uint32_t *ret);

/* Which id a directory keeps: the state file's (state_id != 0), else the directory's own when it is
 * in [lo, hi]; *ret = 0: allocate a new one. -EBUSY when the directory carries an id of our range
 * that another container holds (never steal it, never share it). */
int quota_id_decide(uint32_t state_id, uint32_t dir_id, uint32_t lo, uint32_t hi,
		    quota_taken_fn taken, void *taken_ud, uint32_t *ret);

/* One mountinfo line split out. */
struct quota_mnt {
	char *mnt; /* mount point */
	char *fstype;
	char *source; /* device node, or NULL when the source is not one */
	dev_t dev;
};
void quota_mnt_done(struct quota_mnt *m);
/* The mount of device dev whose mount point is the longest prefix of path, from a mountinfo text. */
int quota_mountinfo_find(const char *mountinfo, dev_t dev, const char *path, struct quota_mnt *ret);

/* The filesystem holding a directory, as quotactl needs it. */
struct quota_fs {
	dev_t dev;
	char *mnt; /* mount point (quotactl_fd opens it) */
	char *source; /* block device node, or NULL */
	char *fstype; /* "xfs", "ext4" */
	bool xfs, projid32;
	uint64_t bsize; /* XFS keeps block limits in filesystem blocks: what reads back */
};
void quota_fs_done(struct quota_fs *fs);
/* The filesystem of fd (a directory whose canonical path is path). -EOPNOTSUPP for a filesystem
 * type without project quotas (fstype still filled for the message). */
int quota_fs_from_fd(int fd, const char *path, struct quota_fs *ret);
/* 0 when project quota limits are enforced; -ENOSYS no quota support in the kernel; -ESRCH project
 * quota off; -EPROTO accounting on but limits not enforced. */
int quota_fs_enabled(const struct quota_fs *fs);
/* Limits and usage of id (all 0 when the filesystem has no record of it). ret_other: soft limits
 * set (the id is in use by someone). */
int quota_fs_get(const struct quota_fs *fs, uint32_t id, struct quota_usage *ret, bool *ret_other);
/* Set the hard limits of id; NULL = leave that one alone; 0 = no limit. */
int quota_fs_set(const struct quota_fs *fs, uint32_t id, const uint64_t *bytes,
		 const uint64_t *inodes);
/* The project id of an open file and whether it has FS_XFLAG_PROJINHERIT. */
int quota_fd_get_projid(int fd, uint32_t *ret_id, bool *ret_inherit);

/* A walk over a directory tree on one mount (no symlink followed, no mount crossed; special files
 * and symlinks left alone), in bounded steps: first every inode's project id is checked
 * (foreign(found_id, ud) true = the tree is refused, nothing tagged), then each is given id (and
 * PROJINHERIT on directories); the top directory last, so that "top tagged" means "walk done". */
struct quota_walk;
typedef bool (*quota_foreign_fn)(uint32_t found, void *userdata);
/* Takes a dup of dirfd. */
int quota_walk_new(int dirfd, uint32_t id, struct quota_walk **ret);
void quota_walk_free(struct quota_walk *w);
/* Visit at most budget inodes (0 = no bound). 1: done; 0: more to do; -errno: failed, with
 * *ret_msg (path relative to the top, the id found) for -EBUSY (foreign id) and -ELOOP (too deep).
 * After a failure the walk must be freed. */
int quota_walk_step(struct quota_walk *w, unsigned budget, quota_foreign_fn foreign, void *ud,
		    char **ret_msg);
/* Inodes visited and changed so far. */
void quota_walk_counts(const struct quota_walk *w, uint64_t *ret_visited, uint64_t *ret_changed);
