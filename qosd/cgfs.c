/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cgfs.h"
#include "log.h"
#include "util.h"

#define CGFS_READ_MAX (1024 * 1024)

/* Only resource limits and controller enabling; never release_agent, notify_on_release,
 * cgroup.procs, tasks (attaching is not a knob write). */
static const char *const allowed_knobs[] = {
	"cpu.shares",
	"cpu.cfs_quota_us",
	"cpu.cfs_period_us",
	"cpu.weight",
	"cpu.max",
	"cpu.cfs_burst_us",
	"cpu.max.burst",
	"cpu.idle",
	"cpuset.cpus",
	"cpuset.mems",
	"memory.limit_in_bytes",
	"memory.memsw.limit_in_bytes",
	"memory.soft_limit_in_bytes",
	"memory.max",
	"memory.swap.max",
	"memory.low",
	"memory.high",
	"memory.min",
	"pids.max",
	"blkio.throttle.read_bps_device",
	"blkio.throttle.write_bps_device",
	"blkio.throttle.read_iops_device",
	"blkio.throttle.write_iops_device",
	"io.max",
	"cgroup.subtree_control",
};

bool cgfs_knob_allowed(const char *knob)
{
	if (!knob)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(allowed_knobs); i++)
		if (streq(knob, allowed_knobs[i]))
			return true;
	return false;
}

/* A single file name: no '/', not "." or "..", not empty. */
static bool name_ok(const char *name)
{
	return name && *name && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

static bool openat2_missing;

static int openat2_beneath(int dirfd, const char *path, int flags, uint64_t resolve, int *ret_fd)
{
	struct open_how how = {
		.flags = (uint64_t) flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | resolve,
	};
	long fd;

	if (openat2_missing)
		return -ENOSYS;
	fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd < 0) {
		if (errno == ENOSYS)
			openat2_missing = true;
		return negative_errno();
	}
	*ret_fd = (int) fd;
	return 0;
}

/* Open one component below dirfd, refusing symlinks. 1 if openat2 opened it (with resolve). */
static int open_component(int dirfd, const char *name, int flags, uint64_t resolve, int *ret_fd)
{
	int fd, r;

	r = openat2_beneath(dirfd, name, flags, resolve, ret_fd);
	if (r >= 0)
		return 1;
	if (r != -ENOSYS)
		return r;
	fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	*ret_fd = fd;
	return 0;
}

static int check_relpath(const char *relpath)
{
	const char *c = relpath;

	if (!relpath || strlen(relpath) > PATH_MAX)
		return -EINVAL;
	while (*c) {
		size_t len = strcspn(c, "/");

		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += len;
		c += strspn(c, "/");
	}
	return 0;
}

int cgfs_open_dir(int dirfd, const char *relpath, int *ret_fd)
{
	const int flags = O_PATH | O_DIRECTORY;
	_cleanup_close_ int fd = -1;
	const char *rel;
	int r;

	r = check_relpath(relpath);
	if (r < 0)
		return r;
	rel = relpath + strspn(relpath, "/");
	if (!*rel)
		rel = ".";
	r = openat2_beneath(dirfd, rel, flags, 0, &fd);
	if (r == -ENOSYS) {
		/* walk component by component with O_NOFOLLOW */
		_cleanup_free_ char *copy = strdup(rel);
		char *save = NULL;

		if (!copy)
			return -ENOMEM;
		r = open_component(dirfd, ".", flags, 0, &fd);
		for (char *p = strtok_r(copy, "/", &save); r >= 0 && p;
		     p = strtok_r(NULL, "/", &save)) {
			int next;

			r = open_component(fd, p, flags, 0, &next);
			if (r >= 0) {
				close(fd);
				fd = next;
			}
		}
	}
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* openat2 refused a symlink with ELOOP and a file on another mount than the cgroup directory
 * (RESOLVE_NO_XDEV): on a cgroup mount every file is a kernfs knob, so no fstat is needed (one
 * syscall less per knob). On the fallback path a non-regular file is refused. */
static int open_knob(int dirfd, const char *knob, int flags, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (!name_ok(knob))
		return -EINVAL;
	r = open_component(dirfd, knob, flags | O_NOCTTY, RESOLVE_NO_XDEV, &fd);
	if (r < 0)
		return r;
	if (r == 1) {
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A knob's text without its trailing newlines. kernfs fills a read from its seq_file until the
 * text ends, so a read shorter than asked holds all of it: the read that would return 0 is
 * skipped (one syscall less per knob); a longer text is read on to its end. from_start: pread
 * at 0 (seq_file makes the text again for a read at 0), no lseek first. */
static int read_fd(int fd, bool from_start, char **ret)
{
	char buf[1024];
	size_t len;
	ssize_t n;
	int r;

	do
		n = from_start ? pread(fd, buf, sizeof(buf), 0) : read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if ((size_t) n < sizeof(buf)) {
		len = (size_t) n;
		*ret = strndup(buf, len);
		if (!*ret)
			return -ENOMEM;
	} else {
		_cleanup_free_ char *rest = NULL;
		size_t rlen;

		if (from_start && lseek(fd, sizeof(buf), SEEK_SET) < 0)
			return negative_errno();
		r = read_fd_full(fd, CGFS_READ_MAX - sizeof(buf), 0, &rest, &rlen);
		if (r < 0)
			return r;
		len = sizeof(buf) + rlen;
		*ret = malloc(len + 1);
		if (!*ret)
			return -ENOMEM;
		memcpy(*ret, buf, sizeof(buf));
		memcpy(*ret + sizeof(buf), rest, rlen + 1);
	}
	while (len > 0 && (*ret)[len - 1] == '\n')
		(*ret)[--len] = 0;
	return 0;
}

int cgfs_read(int dirfd, const char *knob, char **ret)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = open_knob(dirfd, knob, O_RDONLY, &fd);
	if (r < 0)
		return r;
	return read_fd(fd, false, ret);
}

int cgfs_knob_open(int dirfd, const char *knob, bool writable, bool plain, struct cgfs_knob *ret,
		   char **ret_text)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (writable && !cgfs_knob_allowed(knob))
		return -EPERM;
	r = open_knob(dirfd, knob, writable ? O_RDWR : O_RDONLY, &fd);
	/* refused for writing only (a read-only mount, a file mode): read now, and the write by
	 * name (cgfs_write) says why it fails */
	if (writable && (r == -EACCES || r == -EPERM || r == -EROFS)) {
		writable = false;
		r = open_knob(dirfd, knob, O_RDONLY, &fd);
	}
	if (r >= 0)
		r = read_fd(fd, false, ret_text);
	if (r < 0)
		return r;
	*ret = (struct cgfs_knob){ .fd = TAKE_FD(fd), .rw = writable, .plain = plain };
	return 0;
}

int cgfs_knob_reread(const struct cgfs_knob *k, char **ret)
{
	return read_fd(k->fd, true, ret);
}

void cgfs_knob_close(struct cgfs_knob *k)
{
	if (k->fd >= 0)
		close(k->fd);
	*k = CGFS_KNOB_NONE;
}

/* The value to write: an empty one as "\n" (a zero-length write(2) may never reach the kernel
 * handler). */
static const char *write_text(const char *value)
{
	return value && *value ? value : "\n";
}

static int write_all_once(int fd, const char *v, bool at_start)
{
	size_t len = strlen(v);
	ssize_t n = at_start ? pwrite(fd, v, len, 0) : write(fd, v, len);

	if (n < 0)
		return negative_errno();
	return (size_t) n == len ? 0 : -EIO;
}

int cgfs_knob_write(const struct cgfs_knob *k, const char *value)
{
	const char *v = write_text(value);
	int r;

	if (k->fd < 0 || !k->rw)
		return -EBADF;
	r = write_all_once(k->fd, v, true);
	if (r >= 0 && k->plain && ftruncate(k->fd, (off_t) strlen(v)) < 0)
		r = negative_errno();
	if (r >= 0)
		log_debug("cgfs: wrote \"%s\" to an open knob", value ? value : "");
	return r;
}

int cgfs_write(int dirfd, const char *knob, const char *value)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!cgfs_knob_allowed(knob))
		return -EPERM;
	r = open_knob(dirfd, knob, O_WRONLY | O_TRUNC, &fd);
	if (r >= 0)
		r = write_all_once(fd, write_text(value), false);
	if (r >= 0)
		log_debug("cgfs: wrote \"%s\" to %s", value ? value : "", knob);
	return r;
}

int cgfs_mkdir(int dirfd, const char *relpath)
{
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int pfd = -1;
	const char *rel, *slash, *last;
	int r;

	r = check_relpath(relpath);
	if (r < 0)
		return r;
	rel = relpath + strspn(relpath, "/");
	slash = strrchr(rel, '/');
	last = slash ? slash + 1 : rel;
	if (!name_ok(last))
		return -EINVAL;
	parent = strndup(rel, slash ? (size_t) (slash - rel) : 0);
	if (!parent)
		return -ENOMEM;
	r = cgfs_open_dir(dirfd, parent, &pfd);
	if (r < 0)
		return r;
	if (mkdirat(pfd, last, 0755) < 0)
		return errno == EEXIST ? 0 : negative_errno();
	return 1;
}
