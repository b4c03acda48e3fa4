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

static int openat2_beneath(int dirfd, const char *path, int flags, int *ret_fd)
{
	struct open_how how = {
		.flags = (uint64_t) flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
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

/* Open one component below dirfd, refusing symlinks. */
static int open_component(int dirfd, const char *name, int flags, int *ret_fd)
{
	int fd, r;

	r = openat2_beneath(dirfd, name, flags, ret_fd);
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
	r = openat2_beneath(dirfd, rel, flags, &fd);
	if (r == -ENOSYS) {
		/* walk component by component with O_NOFOLLOW */
		_cleanup_free_ char *copy = strdup(rel);
		char *save = NULL;

		if (!copy)
			return -ENOMEM;
		r = open_component(dirfd, ".", flags, &fd);
		for (char *p = strtok_r(copy, "/", &save); r >= 0 && p;
		     p = strtok_r(NULL, "/", &save)) {
			int next;

			r = open_component(fd, p, flags, &next);
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

/* openat2 refused a symlink with ELOOP; on the fallback path a non-regular file is refused. */
static int open_knob(int dirfd, const char *knob, int flags, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (!name_ok(knob))
		return -EINVAL;
	r = open_component(dirfd, knob, flags | O_NOCTTY, &fd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A knob's text without its trailing newlines. */
static int read_fd(int fd, char **ret)
{
	size_t len;
	int r = read_fd_full(fd, CGFS_READ_MAX, 0, ret, &len);

	if (r < 0)
		return r;
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
	return read_fd(fd, ret);
}

int cgfs_read_keep(int dirfd, const char *knob, char **ret, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = open_knob(dirfd, knob, O_RDONLY, &fd);
	if (r >= 0)
		r = read_fd(fd, ret);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cgfs_reread(int fd, char **ret)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return negative_errno();
	return read_fd(fd, ret);
}

/* An empty value is written as "\n": a zero-length write(2) may never reach the kernel handler. */
int cgfs_write(int dirfd, const char *knob, const char *value)
{
	_cleanup_close_ int fd = -1;
	const char *v = value && *value ? value : "\n";
	size_t len = strlen(v);
	ssize_t n;
	int r;

	if (!cgfs_knob_allowed(knob))
		return -EPERM;
	r = open_knob(dirfd, knob, O_WRONLY | O_TRUNC, &fd);
	if (r < 0)
		return r;
	n = write(fd, v, len);
	if (n < 0)
		return negative_errno();
	if ((size_t) n != len)
		return -EIO;
	log_debug("cgfs: wrote \"%s\" to %s", value ? value : "", knob);
	return 0;
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
