/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "diskdir.h"
#include "quota/quota.h"
#include "util.h"

#define CONFIG_MAX (16u << 20)
#define MOUNTINFO_MAX (64u << 20)

/* bundle + "/" + rel, without doubled or trailing slashes. */
static char *join(const char *bundle, const char *rel)
{
	size_t n = strlen(bundle);

	while (n > 1 && bundle[n - 1] == '/')
		n--;
	while (*rel == '/')
		rel++;
	return strprintf("%.*s%s%s", (int) n, bundle, n == 1 ? "" : "/", rel);
}

int diskdir_rootfs_of(const char *bundle, const char *config, char **ret)
{
	json_auto_t *o = config ? json_loads(config, 0, NULL) : NULL;
	const char *p = json_string_value(json_object_get(json_object_get(o, "root"), "path"));
	char *s;

	if (!bundle || bundle[0] != '/')
		return -EINVAL;
	if (!p || !*p)
		p = "rootfs";
	s = p[0] == '/' ? strdup(p) : join(bundle, p);
	if (!s)
		return -ENOMEM;
	for (size_t n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
		s[n - 1] = 0;
	*ret = s;
	return 0;
}

int diskdir_layer_in(const char *mountinfo, const char *rootfs, char **ret, char **ret_msg)
{
	_cleanup_free_ char *fstype = NULL;
	char *upper = NULL;
	int r;

	if (streq(rootfs, "/")) {
		*ret_msg = strdup("the container's rootfs is the host's root directory: it has no "
				  "writable layer of its own");
		return -EPERM;
	}
	r = quota_mountinfo_root_at(mountinfo, rootfs, &upper, &fstype);
	if (r == -EMEDIUMTYPE && streq(fstype, "overlay")) {
		*ret_msg = strprintf("%s is an overlay without an upperdir qosd can place", rootfs);
		return -EPERM;
	}
	if (r == -EMEDIUMTYPE) {
		*ret_msg = strprintf("%s is a mount of %s, not an overlay: its content is not the "
				     "container's own (give disk.dir under a quota root)",
				     rootfs, fstype ? fstype : "?");
		return -EPERM;
	}
	if (r < 0)
		return r;
	if (r == 0)
		upper = strdup(rootfs); /* a plain directory: runc and crun with a bundle rootfs */
	if (!upper)
		return -ENOMEM;
	*ret = upper;
	return 0;
}

/* A regular file's text, opened without following a final symlink and without blocking on a
 * FIFO someone put there. */
static int read_regular(const char *path, size_t max, char **ret)
{
	_cleanup_close_ int fd =
		open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	char proc[64];
	struct stat st;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return read_file_at(AT_FDCWD, proc, max, ret);
}

static int layer_of_bundle(const char *mi, const char *bundle, char **ret, char **msg)
{
	_cleanup_free_ char *config = NULL, *cfgpath = join(bundle, "config.json"), *rootfs = NULL;
	_cleanup_free_ char *real = NULL;
	int r;

	if (!cfgpath)
		return -ENOMEM;
	(void) read_regular(cfgpath, CONFIG_MAX, &config);
	r = diskdir_rootfs_of(bundle, config, &rootfs);
	if (r < 0)
		return r;
	real = realpath(rootfs, NULL);
	if (!real) {
		r = negative_errno();
		*msg = strprintf("the rootfs %s of bundle %s: %s", rootfs, bundle, strerror(-r));
		return r;
	}
	return diskdir_layer_in(mi, real, ret, msg);
}

static int layer_of_pid(const char *mi, const char *ourroot, pid_t pid, char **ret, char **msg)
{
	_cleanup_free_ char *root = strprintf("/proc/%d/root", (int) pid);
	struct stat st, self;
	int r;

	if (!root)
		return -ENOMEM;
	if (pid <= 0 || stat(root, &st) < 0) {
		*msg = strprintf("no bundle, and pid %d is not there to find its root", (int) pid);
		return -ESRCH;
	}
	if (stat(ourroot, &self) == 0 && self.st_dev == st.st_dev && self.st_ino == st.st_ino) {
		*msg = strprintf("no bundle, and pid %d has not entered its own root yet",
				 (int) pid);
		return -ESRCH;
	}
	r = quota_mountinfo_upper_by_dev(mi, st.st_dev, ret);
	if (r == -ENOENT)
		*msg = strprintf("no bundle, and the root of pid %d is not an overlay the host's "
				 "mount table knows",
				 (int) pid);
	return r;
}

/* path (absolute) opened O_PATH as the process whose root is rootfd sees it: its symlinks and
 * ".." stay inside that root (RESOLVE_IN_ROOT; plain openat before Linux 5.6). */
static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		fd = openat(rootfd, path + strspn(path, "/"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? negative_errno() : fd;
}

/* The layer found in the runtime's mount table must be the very directory qosd opens at that
 * path in its own mount namespace: a mount qosd's namespace lacks (a runtime's private storage
 * mount) would otherwise leave it an empty mount point, or another directory, to tag. */
static int same_for_runtime(pid_t rt, const char *real, char **msg)
{
	_cleanup_free_ char *rootp = strprintf("/proc/%d/root", (int) rt);
	_cleanup_close_ int rootfd = -1, fd = -1;
	struct stat theirs, ours;
	int r;

	if (!rootp)
		return -ENOMEM;
	rootfd = open(rootp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fd = rootfd < 0 ? negative_errno() : open_in_root(rootfd, real);
	if (fd < 0 || fstat(fd, &theirs) < 0) {
		r = fd < 0 ? fd : negative_errno();
		*msg = strprintf("the writable layer %s as the runtime (pid %d) sees it: %s", real,
				 (int) rt, strerror(-r));
		return r;
	}
	if (stat(real, &ours) < 0)
		return negative_errno();
	if (ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino)
		return 0;
	*msg = strprintf("the writable layer %s in the runtime's mount namespace (pid %d) is not "
			 "the directory qosd finds at that path in its own: give qosd the "
			 "runtime's storage (qosd(8), SYSTEMD)",
			 real, (int) rt);
	return -EXDEV;
}

int diskdir_writable_layer(const struct diskdir_rules *r, const char *bundle, pid_t pid, char **ret,
			   char **ret_msg)
{
	_cleanup_free_ char *mi = NULL, *layer = NULL, *msg = NULL, *rtmi = NULL, *rtroot = NULL;
	pid_t rt = r ? r->runtime_pid : 0;
	const char *mipath = "/proc/self/mountinfo", *ourroot = "/proc/self/root";
	char *real;
	int k;

	if (rt > 0) {
		rtmi = strprintf("/proc/%d/mountinfo", (int) rt);
		rtroot = strprintf("/proc/%d/root", (int) rt);
		if (!rtmi || !rtroot)
			return -ENOMEM;
		mipath = rtmi;
		ourroot = rtroot;
	}
	if (r && r->mountinfo)
		mipath = r->mountinfo;
	k = read_file_at(AT_FDCWD, mipath, MOUNTINFO_MAX, &mi);
	if (k < 0) {
		*ret_msg = strprintf("cannot read %s: %s", mipath, strerror(-k));
		return k;
	}
	if (bundle && *bundle)
		k = layer_of_bundle(mi, bundle, &layer, &msg);
	else
		k = layer_of_pid(mi, ourroot, pid, &layer, &msg);
	if (k < 0) {
		*ret_msg = msg ? TAKE_PTR(msg) : strprintf("%s", strerror(-k));
		return k;
	}
	real = realpath(layer, NULL);
	if (!real) {
		k = negative_errno();
		*ret_msg = strprintf("the writable layer %s: %s", layer, strerror(-k));
		return k;
	}
	k = rt > 0 ? same_for_runtime(rt, real, &msg) : 0;
	if (k < 0) {
		*ret_msg = msg ? TAKE_PTR(msg) : strprintf("%s: %s", real, strerror(-k));
		free(real);
		return k;
	}
	*ret = real;
	return 0;
}

/* Is real under one of the colon-separated roots? Their list goes to *ret_list for messages. */
static bool under_roots(const char *roots, const char *real, char **ret_list)
{
	_cleanup_free_ char *copy = roots ? strdup(roots) : NULL;
	char *save = NULL;

	for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t;
	     t = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *rr = realpath(t, NULL);

		if (t[0] == '/' && quota_path_under(real, rr ? rr : t))
			return true;
		(void) strextend(ret_list, "%s%s", *ret_list ? ", " : "", t);
	}
	return false;
}

/* The requested directory itself: a real directory, its canonical path in *ret. */
static int requested_real(const char *dir, char **ret, char **msg)
{
	_cleanup_close_ int fd = -1;

	return quota_dir_open(dir, &fd, ret, msg);
}

int diskdir_decide(const struct diskdir_rules *r, const char *requested, const char *bundle,
		   pid_t pid, char **ret, char **ret_msg)
{
	_cleanup_free_ char *real = NULL, *layer = NULL, *why = NULL, *list = NULL;
	int k;

	*ret_msg = NULL;
	if (requested) {
		k = requested_real(requested, &real, ret_msg);
		if (k < 0)
			return k;
		if (under_roots(r->quota_roots, real, &list)) {
			*ret = TAKE_PTR(real);
			return 0;
		}
	}
	k = diskdir_writable_layer(r, bundle, pid, &layer, &why);
	if (k >= 0 && (!real || quota_path_under(real, layer))) {
		*ret = real ? TAKE_PTR(real) : TAKE_PTR(layer);
		return 0;
	}
	if (!requested) {
		*ret_msg = strprintf("no directory to limit: %s", why ? why : strerror(-k));
		return k;
	}
	*ret_msg =
		strprintf("%s%s%s%s lies outside the container's writable layer (%s) and outside "
			  "the configured quota roots (%s)",
			  requested, streq(requested, real) ? "" : " (really ",
			  streq(requested, real) ? "" : real, streq(requested, real) ? "" : ")",
			  layer ? layer
			  : why ? why
				: "?",
			  list ? list : "none configured");
	return -EPERM;
}
