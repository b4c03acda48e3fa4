/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cgfs.h"
#include "cgroup-internal.h"
#include "log.h"
#include "util.h"

static const char *const ctrl_names[_CG_CTRL_MAX] = {
	[CG_CPU] = "cpu",   [CG_CPUSET] = "cpuset", [CG_MEMORY] = "memory",
	[CG_PIDS] = "pids", [CG_BLKIO] = "blkio",
};

/* v2 controllers qosd enables in ancestors' cgroup.subtree_control, in this order. */
static const char *const v2_controllers[] = { "cpu", "cpuset", "io", "memory", "pids" };

const char *cg_ctrl_name(enum cg_ctrl c)
{
	return c >= 0 && c < _CG_CTRL_MAX ? ctrl_names[c] : NULL;
}

const char *cg_mode_name(enum cg_mode mode)
{
	switch (mode) {
	case CG_LEGACY:
		return "legacy";
	case CG_HYBRID:
		return "hybrid";
	case CG_UNIFIED:
		return "unified";
	}
	return "unknown";
}

enum cg_mode cg_root_mode(const struct cg_root *root)
{
	return root->mode;
}

const char *cg_primary_path(const struct cg_root *root)
{
	return cg_is_v2(root) ? root->path : root->hpath[CG_CPU];
}

void cg_root_free(struct cg_root *root)
{
	if (!root)
		return;
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		if (root->fd[c] >= 0)
			close(root->fd[c]);
		free(root->hpath[c]);
	}
	if (root->root_fd >= 0)
		close(root->root_fd);
	free(root->path);
	free(root);
}

/* True if word appears in the list s separated by any of seps. */
static bool has_word(const char *s, const char *word, const char *seps)
{
	size_t wl = strlen(word);

	while (s && *s) {
		size_t len = strcspn(s, seps);

		if (len == wl && strneq(s, word, wl))
			return true;
		s += len;
		s += strspn(s, seps);
	}
	return false;
}

static bool is_fs(const char *path, unsigned long magic)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && (unsigned long) sfs.f_type == magic;
}

/* Name of the directory below the root holding controller name: "cpu" itself (maybe a symlink
 * to "cpu,cpuacct"), else a comma-joined mount directory such as "cpu,cpuacct". */
static int find_hierarchy(int root_fd, const char *name, char **ret)
{
	_cleanup_close_ int dfd = -1;
	struct dirent *de;
	DIR *d;
	int r = -ENOENT;

	if (faccessat(root_fd, name, F_OK, 0) == 0)
		return (*ret = strdup(name)) ? 0 : -ENOMEM;
	dfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	d = fdopendir(dfd);
	if (!d)
		return negative_errno();
	TAKE_FD(dfd);
	while ((de = readdir(d)))
		if (strchr(de->d_name, ',') && has_word(de->d_name, name, ",")) {
			*ret = strdup(de->d_name);
			r = *ret ? 0 : -ENOMEM;
			break;
		}
	closedir(d);
	return r;
}

static int open_v1_hierarchies(struct cg_root *root)
{
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		_cleanup_free_ char *dir = NULL, *full = NULL;

		if (find_hierarchy(root->root_fd, ctrl_names[c], &dir) < 0)
			continue;
		root->fd[c] = openat(root->root_fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root->fd[c] < 0)
			return negative_errno();
		full = strprintf("%s/%s", root->path, dir);
		if (!full)
			return -ENOMEM;
		root->hpath[c] = realpath(full, NULL);
		if (!root->hpath[c])
			return negative_errno();
		log_debug("cgroup: %s hierarchy at %s", ctrl_names[c], root->hpath[c]);
	}
	return root->fd[CG_CPU] >= 0 ? 0 : -ENOMEDIUM;
}

static enum cg_mode detect_mode(const struct cg_root *root)
{
	_cleanup_free_ char *unified = NULL;

	if (is_fs(root->path, CGROUP2_SUPER_MAGIC))
		return CG_UNIFIED;
	/* a fake tree (tests) says what it is by its layout */
	if (faccessat(root->root_fd, "cgroup.controllers", F_OK, 0) == 0)
		return CG_UNIFIED;
	unified = strprintf("%s/unified", root->path);
	if (unified && is_fs(root->path, TMPFS_MAGIC) && is_fs(unified, CGROUP2_SUPER_MAGIC))
		return CG_HYBRID;
	return CG_LEGACY;
}

static bool fd_is_cgroupfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && ((unsigned long) sfs.f_type == CGROUP_SUPER_MAGIC ||
					  (unsigned long) sfs.f_type == CGROUP2_SUPER_MAGIC);
}

void cg_root_detect_plain(struct cg_root *root)
{
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		int fd = cg_hier_fd(root, c);

		root->plain[c] = fd >= 0 && !fd_is_cgroupfs(fd);
	}
}

int cg_root_open(const char *path, struct cg_root **ret)
{
	_cleanup_(cg_root_freep) struct cg_root *root = NULL;
	int r;

	if (!path || path[0] != '/')
		return -EINVAL;
	r = cg_root_alloc(path, &root);
	if (r < 0)
		return r;
	root->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->root_fd < 0)
		r = negative_errno();
	else
		root->mode = detect_mode(root);
	if (r >= 0 && !cg_is_v2(root))
		r = open_v1_hierarchies(root);
	/* the standard place holds no hierarchy qosd can use: the mount table says where they are */
	if ((r == -ENOENT || r == -ENOMEDIUM) && streq(path, CG_STANDARD_ROOT))
		return cg_root_open_mounts("/proc/self/mountinfo", ret);
	if (r < 0)
		return r;
	cg_root_detect_plain(root);
	log_debug("cgroup: %s is %s%s", path, cg_mode_name(root->mode),
		  root->plain[CG_CPU] ? " (a plain directory tree, not a cgroup mount)" : "");
	*ret = TAKE_PTR(root);
	return 0;
}

int cg_open(const struct cg_root *root, enum cg_ctrl c, const char *cgpath, int *ret_fd)
{
	int r, hfd;

	if (c < 0 || c >= _CG_CTRL_MAX)
		return -EINVAL;
	r = cgpath_validate(cgpath);
	if (r < 0)
		return r;
	hfd = cg_hier_fd(root, c);
	if (hfd < 0)
		return -ENOMEDIUM;
	return cgfs_open_dir(hfd, cgpath, ret_fd);
}

void cg_dirs_init(struct cg_dirs *d)
{
	d->cgpath[0] = 0;
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		d->fd[c] = -1;
		d->err[c] = 1;
	}
}

void cg_dirs_done(struct cg_dirs *d)
{
	for (int c = 0; c < _CG_CTRL_MAX; c++)
		if (d->fd[c] >= 0)
			close(d->fd[c]);
	cg_dirs_init(d);
}

int cg_dirs_get(const struct cg_root *root, struct cg_dirs *d, enum cg_ctrl c, const char *cgpath,
		const struct cg_paths *hier, int *ret_fd)
{
	int i = cg_is_v2(root) ? CG_CPU : c; /* v2: one directory for every controller */

	if (c < 0 || c >= _CG_CTRL_MAX || !cgpath || strlen(cgpath) > CGPATH_MAX)
		return -EINVAL;
	if (!streq(d->cgpath, cgpath)) {
		cg_dirs_done(d);
		strcpy(d->cgpath, cgpath);
	}
	if (d->err[i] > 0)
		d->err[i] = cg_open(root, c, cg_paths_get(hier, c, cgpath), &d->fd[i]);
	if (d->err[i] < 0)
		return d->err[i];
	*ret_fd = d->fd[i];
	return 0;
}

void cg_dirs_again(struct cg_dirs *d, enum cg_ctrl c)
{
	if (c >= 0 && c < _CG_CTRL_MAX && d->err[c] < 0)
		d->err[c] = 1;
}

int cg_dirs_exists(const struct cg_root *root, struct cg_dirs *d, const char *cgpath)
{
	int fd, r = cg_dirs_get(root, d, CG_CPU, cgpath, NULL, &fd);

	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	return r < 0 ? r : 1;
}

int cg_check_exists(const struct cg_root *root, const char *cgpath)
{
	struct cg_dirs d;
	int r;

	cg_dirs_init(&d);
	r = cg_dirs_exists(root, &d, cgpath);
	cg_dirs_done(&d);
	return r;
}

bool cg_exists(const struct cg_root *root, const char *cgpath)
{
	return cg_check_exists(root, cgpath) > 0;
}

static int copy_knob(int from, int to, const char *knob)
{
	_cleanup_free_ char *v = NULL;
	int r;

	r = cgfs_read(from, knob, &v);
	if (r < 0)
		return r;
	return cgfs_write(to, knob, v);
}

/* v1: a new cpuset cgroup has empty cpus and mems, and no task can join it until they are set. */
static int cpuset_copy_parent(int hfd, const char *parent, const char *child)
{
	_cleanup_close_ int pfd = -1, cfd = -1;
	int r;

	r = cgfs_open_dir(hfd, parent, &pfd);
	if (r < 0)
		return r;
	r = cgfs_open_dir(hfd, child, &cfd);
	if (r < 0)
		return r;
	r = copy_knob(pfd, cfd, "cpuset.cpus");
	if (r < 0)
		return r;
	return copy_knob(pfd, cfd, "cpuset.mems");
}

/* mkdir every component of cgpath below hfd, root first. */
static int make_path(int hfd, const char *cgpath, bool cpuset)
{
	_cleanup_free_ char *buf = strdup(cgpath);
	char *slash;
	int r;

	if (!buf)
		return -ENOMEM;
	for (slash = buf + 1;; slash++) {
		char saved;

		slash += strcspn(slash, "/");
		saved = *slash;
		*slash = 0;
		r = cgfs_mkdir(hfd, buf);
		if (r > 0 && cpuset) {
			char *p = strrchr(buf, '/');
			_cleanup_free_ char *parent =
				strndup(buf, p == buf ? 1 : (size_t) (p - buf));

			r = parent ? cpuset_copy_parent(hfd, parent, buf) : -ENOMEM;
		}
		*slash = saved;
		if (r < 0 || !saved)
			return r < 0 ? r : 0;
	}
}

int cg_make(struct cg_root *root, const char *cgpath)
{
	int r, ret = 0;

	r = cgpath_validate(cgpath);
	if (r < 0)
		return r;
	if (streq(cgpath, "/"))
		return 0;
	if (cg_is_v2(root)) {
		r = make_path(root->root_fd, cgpath, false);
		return r < 0 ? r : cg_enable_controllers(root, cgpath);
	}
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		if (root->fd[c] < 0)
			continue;
		r = make_path(root->fd[c], cgpath, c == CG_CPUSET);
		if (r < 0) {
			log_debug("cgroup: making %s in %s failed: %s", cgpath, ctrl_names[c],
				  strerror(-r));
			if (ret == 0)
				ret = r;
		}
	}
	return ret;
}

/* Enable each wanted controller available in dir's cgroup.controllers, one write each, so one
 * refusal (EBUSY from the no-internal-process rule, RT tasks for cpu) does not block the others. */
static int enable_in(int hfd, const char *dir)
{
	_cleanup_free_ char *avail = NULL, *enabled = NULL;
	_cleanup_close_ int fd = -1;
	int r, ret = 0;

	r = cgfs_open_dir(hfd, dir, &fd);
	if (r < 0)
		return r;
	r = cgfs_read(fd, "cgroup.controllers", &avail);
	if (r < 0)
		return r;
	r = cgfs_read(fd, "cgroup.subtree_control", &enabled);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(v2_controllers); i++) {
		const char *c = v2_controllers[i];
		char buf[32];

		if (!has_word(avail, c, " \t\n") || has_word(enabled, c, " \t\n+"))
			continue;
		snprintf(buf, sizeof(buf), "+%s", c);
		r = cgfs_write(fd, "cgroup.subtree_control", buf);
		if (r < 0) {
			log_debug("cgroup: enabling %s in %s failed: %s", c, dir, strerror(-r));
			if (ret == 0)
				ret = r;
		}
	}
	return ret;
}

int cg_enable_controllers(struct cg_root *root, const char *cgpath)
{
	_cleanup_free_ char *buf = NULL;
	int r, ret = 0;

	if (!cg_is_v2(root))
		return 0;
	r = cgpath_validate(cgpath);
	if (r < 0)
		return r;
	if (streq(cgpath, "/"))
		return 0;
	buf = strdup(cgpath);
	if (!buf)
		return -ENOMEM;
	/* every ancestor, root first; "/a/b/c" -> "/", "/a", "/a/b" */
	r = enable_in(root->root_fd, "/");
	if (r < 0 && ret == 0)
		ret = r;
	for (char *s = buf + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		r = enable_in(root->root_fd, buf);
		*s = '/';
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

/* One "ID:CONTROLLERS:PATH" line of /proc/PID/cgroup: the path if it is the primary hierarchy. */
static const char *pid_line_path(const struct cg_root *root, char *line)
{
	char *ctrls, *path;

	ctrls = strchr(line, ':');
	if (!ctrls)
		return NULL;
	path = strchr(++ctrls, ':');
	if (!path)
		return NULL;
	*path++ = 0;
	if (cg_is_v2(root))
		return strneq(line, "0:", 2) && !*ctrls ? path : NULL;
	return has_word(ctrls, "cpu", ",") ? path : NULL;
}

/* /proc/PID/cgroup (procfs NULL: /proc); -ESRCH if there is no such process. */
static int read_pid_cgroup(const char *procfs, pid_t pid, char **ret)
{
	_cleanup_free_ char *fn = NULL;
	int r;

	if (pid <= 0)
		return -EINVAL;
	fn = strprintf("%s/%d/cgroup", procfs ? procfs : "/proc", (int) pid);
	if (!fn)
		return -ENOMEM;
	r = read_file_at(AT_FDCWD, fn, 64 * 1024, ret);
	return r == -ENOENT ? -ESRCH : r;
}

int cg_pid_path(const struct cg_root *root, const char *procfs, pid_t pid, char **ret)
{
	_cleanup_free_ char *data = NULL;
	char *save = NULL;
	int r = read_pid_cgroup(procfs, pid, &data);

	if (r < 0)
		return r;
	for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *p = pid_line_path(root, l);
		char *s;

		if (!p)
			continue;
		s = strdup(p);
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	return -ENODATA;
}

void cg_paths_done(struct cg_paths *p)
{
	for (int i = 0; i < _CG_CTRL_MAX; i++) {
		free(p->v[i]);
		p->v[i] = NULL;
	}
}

const char *cg_paths_get(const struct cg_paths *hier, enum cg_ctrl c, const char *cgpath)
{
	return hier && c >= 0 && c < _CG_CTRL_MAX && hier->v[c] ? hier->v[c] : cgpath;
}

/* One v1 line "ID:CONTROLLERS:PATH": fill the entries of the controllers it names. */
static int paths_from_line(char *line, const char *primary, struct cg_paths *p)
{
	char *ctrls = strchr(line, ':'), *path;

	if (!ctrls || !(path = strchr(++ctrls, ':')))
		return 0;
	*path++ = 0;
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		if (!has_word(ctrls, cg_ctrl_name(c), ",") || streq(path, primary) || p->v[c])
			continue;
		if (cgpath_validate(path) < 0)
			return -EINVAL;
		p->v[c] = strdup(path);
		if (!p->v[c])
			return -ENOMEM;
	}
	return 0;
}

int cg_pid_paths(const struct cg_root *root, const char *procfs, pid_t pid, const char *primary,
		 struct cg_paths *ret)
{
	_cleanup_free_ char *data = NULL;
	struct cg_paths p = { 0 };
	char *save = NULL;
	int r = read_pid_cgroup(procfs, pid, &data);

	if (r < 0)
		return r;
	if (cg_is_v2(root)) {
		*ret = p;
		return 0;
	}
	for (char *l = strtok_r(data, "\n", &save); l && r >= 0; l = strtok_r(NULL, "\n", &save))
		r = paths_from_line(l, primary, &p);
	if (r < 0) {
		cg_paths_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

int cg_first_pid(const struct cg_root *root, const char *cgpath, pid_t *ret)
{
	_cleanup_free_ char *procs = NULL;
	_cleanup_close_ int fd = -1;
	char *end;
	long v;
	int r;

	r = cg_open(root, CG_CPU, cgpath, &fd);
	if (r < 0)
		return r;
	r = cgfs_read(fd, "cgroup.procs", &procs);
	if (r < 0)
		return r;
	if (!*procs)
		return -ESRCH;
	errno = 0;
	v = strtol(procs, &end, 10);
	if (errno || v <= 0 || v > INT_MAX || (*end && *end != '\n'))
		return -EBADMSG;
	*ret = (pid_t) v;
	return 0;
}

void cg_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void cg_strv_freep(char ***v)
{
	cg_strv_free(*v);
}

static bool is_subdir(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_name[0] == '.')
		return false;
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

int cg_list_children(const struct cg_root *root, const char *cgpath, char ***ret)
{
	_cleanup_(cg_strv_freep) char **v = NULL;
	_cleanup_close_ int pfd = -1;
	struct dirent *de;
	size_t n = 0;
	int fd, r = 0;
	DIR *d;

	r = cg_open(root, CG_CPU, cgpath, &pfd);
	if (r < 0)
		return r;
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	v = calloc(1, sizeof(char *));
	r = v ? 0 : -ENOMEM;
	while (r >= 0 && (de = readdir(d)))
		if (is_subdir(d, de))
			r = strv_push(&v, &n, de->d_name);
	closedir(d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return (int) MIN(n, (size_t) INT_MAX);
}

int cg_remove(struct cg_root *root, const char *cgpath)
{
	int r, ret = 0;

	r = cgpath_validate(cgpath);
	if (r < 0)
		return r;
	if (streq(cgpath, "/"))
		return -EPERM;
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		int hfd = cg_hier_fd(root, c);

		if (hfd < 0 || (cg_is_v2(root) && c != CG_CPU))
			continue;
		if (unlinkat(hfd, cgpath + 1, AT_REMOVEDIR) < 0 && errno != ENOENT && ret == 0)
			ret = negative_errno();
	}
	return ret;
}
