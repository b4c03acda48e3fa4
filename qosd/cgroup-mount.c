/* SPDX-License-Identifier: MIT */
/* Hierarchy discovery from the mount table, for hosts whose cgroups are not below /sys/fs/cgroup
 * (old layouts such as /cgroup/cpu, or one controller mounted on its own somewhere else). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cgroup-internal.h"
#include "log.h"
#include "util.h"

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTS" (proc(5)); the two paths with \ooo escapes decoded in place. */
struct mount_line {
	dev_t dev;
	char *root, *point, *fstype, *superopts;
};

static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o = (char) ((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else
			*o = *s;
	}
	*o = 0;
}

static int parse_line(char *line, struct mount_line *ret)
{
	char *f[6], *save = NULL, *sep;
	unsigned ma, mi;

	for (int i = 0; i < 6; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, " ", &save)))
			return -EINVAL;
	/* optional fields up to the lone "-" */
	while ((sep = strtok_r(NULL, " ", &save)) && !streq(sep, "-"))
		;
	ret->fstype = sep ? strtok_r(NULL, " ", &save) : NULL;
	if (!ret->fstype || !strtok_r(NULL, " ", &save) ||
	    !(ret->superopts = strtok_r(NULL, " \n", &save)))
		return -EINVAL;
	if (sscanf(f[2], "%u:%u", &ma, &mi) != 2)
		return -EINVAL;
	ret->dev = makedev(ma, mi);
	ret->root = f[3];
	ret->point = f[4];
	unescape(ret->root);
	unescape(ret->point);
	return 0;
}

static bool has_opt(const char *opts, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = opts; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (strneq(p, name, n) && (p[n] == ',' || p[n] == 0))
			return true;
	}
	return false;
}

/* The mount point, if what it names now is this mount: a mount hidden under a later one (a tmpfs
 * over /sys/fs/cgroup) resolves to another device and does not count. */
static int open_visible(const struct mount_line *m, int *ret_fd)
{
	_cleanup_close_ int fd = open(m->point, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (st.st_dev != m->dev)
		return -ENOENT;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* v1: the first visible mount of each controller qosd uses whose root is the hierarchy's root (a
 * mount of a subtree, as inside a container, would shift every cgroup path). */
static int take_v1(struct cg_root *root, const struct mount_line *m)
{
	if (!streq(m->fstype, "cgroup") || !streq(m->root, "/"))
		return 0;
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		int fd;

		if (root->fd[c] >= 0 || !has_opt(m->superopts, cg_ctrl_name(c)) ||
		    open_visible(m, &fd) < 0)
			continue;
		root->fd[c] = fd;
		root->hpath[c] = strdup(m->point);
		if (!root->hpath[c])
			return -ENOMEM;
		log_debug("cgroup: %s hierarchy at %s (mount table)", cg_ctrl_name(c), m->point);
	}
	return 0;
}

static int take_v2(struct cg_root *root, const struct mount_line *m)
{
	if (root->root_fd >= 0 || !streq(m->fstype, "cgroup2") || !streq(m->root, "/") ||
	    open_visible(m, &root->root_fd) < 0)
		return 0;
	return free_and_strdup(&root->path, m->point);
}

int cg_root_alloc(const char *path, struct cg_root **ret)
{
	struct cg_root *root = calloc(1, sizeof(*root));

	if (!root)
		return -ENOMEM;
	root->root_fd = -1;
	for (int c = 0; c < _CG_CTRL_MAX; c++)
		root->fd[c] = -1;
	root->path = strdup(path);
	if (!root->path) {
		free(root);
		return -ENOMEM;
	}
	*ret = root;
	return 0;
}

int cg_root_open_mounts(const char *mountinfo, struct cg_root **ret)
{
	_cleanup_(cg_root_freep) struct cg_root *root = NULL;
	_cleanup_free_ char *text = NULL;
	char *save = NULL;
	int r;

	r = read_file_at(AT_FDCWD, mountinfo, 16u << 20, &text);
	if (r < 0)
		return r;
	r = cg_root_alloc(mountinfo, &root);
	if (r < 0)
		return r;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct mount_line m;

		if (parse_line(l, &m) < 0)
			continue;
		r = take_v1(root, &m);
		if (r >= 0)
			r = take_v2(root, &m);
		if (r < 0)
			return r;
	}
	if (root->fd[CG_CPU] >= 0) {
		/* v1 wins as in the layout check: a hybrid host's cgroup2 mount holds no controller
		 * qosd uses */
		root->mode = root->root_fd >= 0 ? CG_HYBRID : CG_LEGACY;
		r = free_and_strdup(&root->path, root->hpath[CG_CPU]);
	} else if (root->root_fd >= 0) {
		root->mode = CG_UNIFIED;
		for (int c = 0; c < _CG_CTRL_MAX; c++) {
			if (root->fd[c] >= 0)
				close(root->fd[c]);
			root->fd[c] = -1;
			free(root->hpath[c]);
			root->hpath[c] = NULL;
		}
	} else
		return -ENOMEDIUM;
	if (r < 0)
		return r;
	cg_root_detect_plain(root);
	log_debug("cgroup: %s from %s", cg_mode_name(root->mode), mountinfo);
	*ret = TAKE_PTR(root);
	return 0;
}
