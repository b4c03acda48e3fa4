/* SPDX-License-Identifier: MIT */
/* inotify on the cgroup directories that [match] globs can reach (nested globs such as
 * /kubepods.slice/x/x/cri-containerd-x.scope included, with '*' for x), and the adoption scan. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct watch;

/* Called with a cgroup path (relative to the hierarchy root, "/a/b") that matches one of the
 * globs: created = true when it appeared (or was found by a scan), false when it went away. */
typedef void (*watch_cb)(void *userdata, const char *cgpath, bool created);

/* root: absolute path of the hierarchy watched (cg_primary_path()). */
int watch_new(const char *root, watch_cb cb, void *userdata, struct watch **ret);
void watch_free(struct watch *w);
int watch_fd(const struct watch *w);

/* Replace the glob set: drops old watches, adds watches for every existing directory a glob can
 * reach, and calls cb(created = true) for every existing directory that matches (adoption). */
int watch_set_globs(struct watch *w, const char *const *globs, size_t n);

/* Also report the removal of cgpath (a container registered by the hook or the operator, which
 * no glob may name): watches its parent directory. Dropped by the next watch_set_globs(). */
int watch_add_exit(struct watch *w, const char *cgpath);

/* Read pending inotify events and call cb for each. On queue overflow, rescans everything. */
int watch_process(struct watch *w);
