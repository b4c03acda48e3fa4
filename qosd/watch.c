/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sys/inotify.h>

#include "util.h"
#include "watch.h"

struct wdir {
	int wd;
	char *path; /* relative: "/a/b" ("" for the root) */
};

struct watch {
	char *root;
	int fd;
	watch_cb cb;
	void *userdata;
	char **globs;
	size_t n_globs;
	struct wdir *dirs;
	size_t n_dirs, cap_dirs;
};

int watch_new(const char *root, watch_cb cb, void *userdata, struct watch **ret)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->root = strdup(root);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->cb = cb;
	w->userdata = userdata;
	if (!w->root || w->fd < 0) {
		int r = w->root ? negative_errno() : -ENOMEM;

		watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static void drop_all(struct watch *w)
{
	for (size_t i = 0; i < w->n_dirs; i++) {
		inotify_rm_watch(w->fd, w->dirs[i].wd);
		free(w->dirs[i].path);
	}
	w->n_dirs = 0;
	for (size_t i = 0; i < w->n_globs; i++)
		free(w->globs[i]);
	free(w->globs);
	w->globs = NULL;
	w->n_globs = 0;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		drop_all(w);
		close(w->fd);
	}
	free(w->dirs);
	free(w->root);
	free(w);
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

static size_t depth_of(const char *p)
{
	size_t d = 0;

	for (; *p; p++)
		if (*p == '/')
			d++;
	return d;
}

/* Does path (depth d) match the first d components of glob? */
static bool prefix_matches(const char *glob, const char *path, size_t d)
{
	char buf[CGPATH_MAX + 1];
	const char *g = glob;

	if (d == 0)
		return true;
	for (size_t i = 0; i <= d && g; i++)
		g = i < d ? strchr(g + 1, '/') : g;
	if (!g) /* glob is not deeper than path */
		return false;
	if ((size_t) (g - glob) > CGPATH_MAX)
		return false;
	memcpy(buf, glob, g - glob);
	buf[g - glob] = 0;
	return fnmatch(buf, path, FNM_PATHNAME) == 0;
}

static bool is_match(const struct watch *w, const char *path)
{
	for (size_t i = 0; i < w->n_globs; i++)
		if (fnmatch(w->globs[i], path, FNM_PATHNAME) == 0)
			return true;
	return false;
}

/* A directory worth watching: some glob is deeper and its leading components match. */
static bool is_reachable(const struct watch *w, const char *path)
{
	size_t d = depth_of(path);

	for (size_t i = 0; i < w->n_globs; i++)
		if (depth_of(w->globs[i]) > d && prefix_matches(w->globs[i], path, d))
			return true;
	return false;
}

static struct wdir *find_wd(struct watch *w, int wd)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static int add_dir(struct watch *w, const char *path);

static int scan_dir(struct watch *w, const char *path)
{
	_cleanup_free_ char *abs = strprintf("%s%s", w->root, path);
	DIR *d;
	struct dirent *de;

	if (!abs)
		return -ENOMEM;
	d = opendir(abs);
	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	while ((de = readdir(d))) {
		_cleanup_free_ char *child = NULL;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		child = strprintf("%s/%s", path, de->d_name);
		if (!child || strlen(child) > CGPATH_MAX)
			continue;
		if (is_match(w, child))
			w->cb(w->userdata, child, true);
		if (is_reachable(w, child))
			(void) add_dir(w, child);
	}
	closedir(d);
	return 0;
}

static int add_watch(struct watch *w, const char *path);

/* Watch path, then scan it: a child created between the two is still seen by the scan. */
static int add_dir(struct watch *w, const char *path)
{
	int r = add_watch(w, path);

	return r < 0 ? r : scan_dir(w, path);
}

int watch_add_exit(struct watch *w, const char *cgpath)
{
	_cleanup_free_ char *parent = strdup(cgpath);
	char *slash = parent ? strrchr(parent, '/') : NULL;

	if (!parent)
		return -ENOMEM;
	if (!slash || slash == parent)
		return 0; /* a top-level cgroup: the root is not watched for exits */
	*slash = 0;
	return add_watch(w, parent);
}

static int add_watch(struct watch *w, const char *path)
{
	_cleanup_free_ char *abs = strprintf("%s%s", w->root, path);
	int wd;

	if (!abs)
		return -ENOMEM;
	wd = inotify_add_watch(w->fd, abs,
			       IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR);
	if (wd < 0)
		return negative_errno();
	if (!find_wd(w, wd)) {
		if (w->n_dirs == w->cap_dirs) {
			size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 16;
			struct wdir *v = realloc(w->dirs, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			w->dirs = v;
			w->cap_dirs = cap;
		}
		w->dirs[w->n_dirs].wd = wd;
		w->dirs[w->n_dirs].path = strdup(path);
		if (!w->dirs[w->n_dirs].path)
			return -ENOMEM;
		w->n_dirs++;
	}
	return 0;
}

int watch_set_globs(struct watch *w, const char *const *globs, size_t n)
{
	drop_all(w);
	w->globs = calloc(n + 1, sizeof(char *));
	if (!w->globs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		w->globs[i] = strdup(globs[i]);
		if (!w->globs[i])
			return -ENOMEM;
		w->n_globs++;
	}
	return n == 0 ? 0 : add_dir(w, "");
}

static void forget_wd(struct watch *w, int wd)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd) {
			free(w->dirs[i].path);
			w->dirs[i] = w->dirs[--w->n_dirs];
			return;
		}
}

static void handle_event(struct watch *w, const struct inotify_event *ev)
{
	struct wdir *d = find_wd(w, ev->wd);
	_cleanup_free_ char *child = NULL;

	if (ev->mask & IN_IGNORED) {
		forget_wd(w, ev->wd);
		return;
	}
	if (!d || !(ev->mask & IN_ISDIR) || ev->len == 0)
		return;
	child = strprintf("%s/%s", d->path, ev->name);
	if (!child || strlen(child) > CGPATH_MAX)
		return;
	if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
		if (is_match(w, child))
			w->cb(w->userdata, child, true);
		if (is_reachable(w, child))
			(void) add_dir(w, child);
	} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		/* matched or not: a registered container's cgroup may be any directory */
		w->cb(w->userdata, child, false);
	}
}

static int rescan(struct watch *w)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		inotify_rm_watch(w->fd, w->dirs[i].wd);
	for (size_t i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].path);
	w->n_dirs = 0;
	return w->n_globs ? add_dir(w, "") : 0;
}

int watch_process(struct watch *w)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		bool overflow = false;

		if (n < 0)
			return errno == EAGAIN ? 0 : negative_errno();
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *) p;

			if (ev->mask & IN_Q_OVERFLOW)
				overflow = true;
			else
				handle_event(w, ev);
			p += sizeof(*ev) + ev->len;
		}
		if (overflow)
			return rescan(w);
		/* room left for another event: the queue was empty (the fd is level-triggered in
		 * the event loop: what comes after this read wakes it again) */
		if ((size_t) n + sizeof(struct inotify_event) + NAME_MAX + 1 <= sizeof(buf))
			return 0;
	}
}
