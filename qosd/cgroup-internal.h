/* SPDX-License-Identifier: MIT */
/* Shared between cgroup.c (discovery, paths) and cgroup-apply.c (the knob writers). */
#pragma once

#include "cgroup.h"

struct cg_root {
	enum cg_mode mode;
	char *path; /* as given to cg_root_open */
	int root_fd; /* O_PATH; on v2 the one hierarchy */
	int fd[_CG_CTRL_MAX]; /* v1 hierarchy dirfds (-1: not mounted); unused on v2 */
	char *hpath[_CG_CTRL_MAX]; /* v1 hierarchy paths, symlinks resolved */
	bool plain[_CG_CTRL_MAX]; /* not on a cgroup mount (a fake tree): a knob write truncates */
};

/* Where every distribution mounts cgroups; elsewhere only the mount table knows. */
#define CG_STANDARD_ROOT "/sys/fs/cgroup"

/* A root with nothing open, path copied. */
int cg_root_alloc(const char *path, struct cg_root **ret);

/* Decide once, with fstatfs, which hierarchies are plain directories (a fake tree) rather than
 * cgroup mounts. */
void cg_root_detect_plain(struct cg_root *root);

static inline void cg_root_freep(struct cg_root **p)
{
	cg_root_free(*p);
}

static inline bool cg_is_v2(const struct cg_root *root)
{
	return root->mode == CG_UNIFIED;
}

/* The hierarchy dirfd for controller c (v2: the root), -1 if that controller is not mounted. */
static inline int cg_hier_fd(const struct cg_root *root, enum cg_ctrl c)
{
	return cg_is_v2(root) ? root->root_fd : root->fd[c];
}

/* True if controller c's hierarchy is a plain directory tree (tests), not a cgroup mount. */
static inline bool cg_hier_plain(const struct cg_root *root, enum cg_ctrl c)
{
	return root->plain[cg_is_v2(root) ? CG_CPU : c];
}
