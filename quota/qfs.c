/* SPDX-License-Identifier: MIT */
/* Kernel side of the quota module: filesystem identification, quotactl, project ids on inodes. */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#include "qosd/util.h"
#include "quota-internal.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

/* From xfsprogs' xfs_fs.h (not installed here): the geometry ioctls and the projid32bit flag. */
struct xfs_fsop_geom_q {
	uint32_t blocksize, rtextsize, agblocks, agcount, logblocks, sectsize, inodesize, imaxpct;
	uint64_t datablocks, rtblocks, rtextents, logstart;
	unsigned char uuid[16];
	uint32_t sunit, swidth;
	int32_t version;
	uint32_t flags;
	uint32_t logsectsize, rtsectsize, dirblocksize, logsunit, sick, checked;
	uint64_t reserved[17];
};
struct xfs_fsop_geom_v1_q {
	uint32_t blocksize, rtextsize, agblocks, agcount, logblocks, sectsize, inodesize, imaxpct;
	uint64_t datablocks, rtblocks, rtextents, logstart;
	unsigned char uuid[16];
	uint32_t sunit, swidth;
	int32_t version;
	uint32_t flags;
	uint32_t logsectsize, rtsectsize, dirblocksize;
};
#define XFS_IOC_FSGEOMETRY_Q _IOR('X', 126, struct xfs_fsop_geom_q)
#define XFS_IOC_FSGEOMETRY_V1_Q _IOR('X', 100, struct xfs_fsop_geom_v1_q)
#define XFS_FSOP_GEOM_FLAGS_PROJID32 (1u << 11)

#define BBSIZE 512u
/* QCMD() shifts a signed int: Q_GETQUOTA (0x800007) << 8 overflows it */
#define QCMD_PRJ(cmd) ((int) (((unsigned) (cmd) << SUBCMDSHIFT) | (PRJQUOTA & SUBCMDMASK)))
#define TREE_DEPTH_MAX 256

void quota_fs_done(struct quota_fs *fs)
{
	free(fs->mnt);
	free(fs->source);
	free(fs->fstype);
	*fs = (struct quota_fs){ 0 };
}

static int xfs_projid32(int fd, bool *ret)
{
	struct xfs_fsop_geom_q g = { 0 };
	struct xfs_fsop_geom_v1_q g1 = { 0 };

	if (ioctl(fd, XFS_IOC_FSGEOMETRY_Q, &g) == 0) {
		*ret = g.flags & XFS_FSOP_GEOM_FLAGS_PROJID32;
		return 0;
	}
	if (ioctl(fd, XFS_IOC_FSGEOMETRY_V1_Q, &g1) == 0) {
		*ret = g1.flags & XFS_FSOP_GEOM_FLAGS_PROJID32;
		return 0;
	}
	return negative_errno();
}

int quota_fs_from_fd(int fd, const char *path, struct quota_fs *ret)
{
	_cleanup_free_ char *mi = NULL;
	struct quota_mnt m = { 0 };
	struct statfs sfs;
	struct stat st;
	bool p32 = true;
	int r;

	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
		return negative_errno();
	r = read_file_at(AT_FDCWD, "/proc/self/mountinfo", 64u << 20, &mi);
	if (r < 0)
		return r;
	r = quota_mountinfo_find(mi, st.st_dev, path, &m);
	if (r < 0)
		return r;
	*ret = (struct quota_fs){ .dev = st.st_dev, .mnt = m.mnt, .source = m.source };
	ret->fstype = m.fstype;
	ret->xfs = (uint64_t) sfs.f_type == XFS_SUPER_MAGIC;
	if (ret->xfs && xfs_projid32(fd, &p32) < 0)
		p32 = false;
	ret->projid32 = p32;
	ret->bsize = sfs.f_bsize > 0 ? (uint64_t) sfs.f_bsize : BBSIZE;
	if (!ret->xfs && (uint64_t) sfs.f_type != EXT4_SUPER_MAGIC)
		return -EOPNOTSUPP;
	return 0;
}

/* quotactl on the filesystem: through an fd on its mount point (quotactl_fd, Linux 5.14), else
 * through its block device node. */
static int fs_quotactl(const struct quota_fs *fs, int cmd, uint32_t id, void *addr)
{
	_cleanup_close_ int fd = -1;

	fd = open(fs->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		if (syscall(SYS_quotactl_fd, fd, QCMD_PRJ(cmd), id, addr) == 0)
			return 0;
		if (errno != ENOSYS)
			return negative_errno();
	}
	if (!fs->source)
		return fd >= 0 ? -ENOSYS : -ENODEV;
	if (syscall(SYS_quotactl, QCMD_PRJ(cmd), fs->source, id, addr) < 0)
		return negative_errno();
	return 0;
}

int quota_fs_enabled(const struct quota_fs *fs)
{
	struct fs_quota_stat st = { .qs_version = FS_QSTAT_VERSION };
	struct if_dqinfo info;
	int r;

	r = fs_quotactl(fs, Q_XGETQSTAT, 0, &st);
	if (r == 0) {
		if (!(st.qs_flags & FS_QUOTA_PDQ_ACCT))
			return -ESRCH;
		return st.qs_flags & FS_QUOTA_PDQ_ENFD ? 0 : -EPROTO;
	}
	if (r == -ENOSYS || fs->xfs)
		return r;
	/* ext4 without the XFS status call: Q_GETINFO fails with ESRCH when project quota is off */
	r = fs_quotactl(fs, Q_GETINFO, 0, &info);
	return r == -ENOENT ? -ESRCH : r;
}

static int xfs_get(const struct quota_fs *fs, uint32_t id, struct quota_usage *ret, bool *other)
{
	struct fs_disk_quota q = { 0 };
	int r;

	r = fs_quotactl(fs, Q_XGETQUOTA, id, &q);
	if (r == -ENOENT) {
		*ret = (struct quota_usage){ 0 };
		*other = false;
		return 0;
	}
	if (r < 0)
		return r;
	ret->limit_bytes = q.d_blk_hardlimit * BBSIZE;
	ret->used_bytes = q.d_bcount * BBSIZE;
	ret->limit_inodes = q.d_ino_hardlimit;
	ret->used_inodes = q.d_icount;
	*other = q.d_blk_softlimit || q.d_ino_softlimit;
	return 0;
}

static int gen_get(const struct quota_fs *fs, uint32_t id, struct if_dqblk *q)
{
	int r;

	*q = (struct if_dqblk){ 0 };
	r = fs_quotactl(fs, Q_GETQUOTA, id, q);
	return r == -ENOENT ? 0 : r;
}

int quota_fs_get(const struct quota_fs *fs, uint32_t id, struct quota_usage *ret, bool *ret_other)
{
	struct if_dqblk q;
	int r;

	if (fs->xfs)
		return xfs_get(fs, id, ret, ret_other);
	r = gen_get(fs, id, &q);
	if (r < 0)
		return r;
	ret->limit_bytes = q.dqb_bhardlimit * QIF_DQBLKSIZE;
	ret->used_bytes = q.dqb_curspace;
	ret->limit_inodes = q.dqb_ihardlimit;
	ret->used_inodes = q.dqb_curinodes;
	*ret_other = q.dqb_bsoftlimit || q.dqb_isoftlimit;
	return 0;
}

static uint64_t div_round_up(uint64_t v, uint64_t d)
{
	return v / d + (v % d ? 1 : 0);
}

int quota_fs_set(const struct quota_fs *fs, uint32_t id, const uint64_t *bytes,
		 const uint64_t *inodes)
{
	struct fs_disk_quota x = { .d_version = FS_DQUOT_VERSION, .d_flags = FS_PROJ_QUOTA };
	struct if_dqblk q;
	int r;

	if (!bytes && !inodes)
		return 0;
	if (fs->xfs) {
		x.d_id = id;
		x.d_fieldmask = (bytes ? FS_DQ_BHARD : 0) | (inodes ? FS_DQ_IHARD : 0);
		x.d_blk_hardlimit = bytes ? div_round_up(*bytes, BBSIZE) : 0;
		x.d_ino_hardlimit = inodes ? *inodes : 0;
		return fs_quotactl(fs, Q_XSETQLIM, id, &x);
	}
	/* Q_SETQUOTA sets hard and soft together: keep the soft limits read just before */
	r = gen_get(fs, id, &q);
	if (r < 0)
		return r;
	q.dqb_valid = (bytes ? QIF_BLIMITS : 0) | (inodes ? QIF_ILIMITS : 0);
	if (bytes)
		q.dqb_bhardlimit = div_round_up(*bytes, QIF_DQBLKSIZE);
	if (inodes)
		q.dqb_ihardlimit = *inodes;
	return fs_quotactl(fs, Q_SETQUOTA, id, &q);
}

int quota_fd_get_projid(int fd, uint32_t *ret_id, bool *ret_inherit)
{
	struct fsxattr fa = { 0 };

	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
		return negative_errno();
	*ret_id = fa.fsx_projid;
	if (ret_inherit)
		*ret_inherit = fa.fsx_xflags & FS_XFLAG_PROJINHERIT;
	return 0;
}

/* Returns 1 when the inode changed, 0 when it already had id (and PROJINHERIT, for a dir). */
static int fd_set_projid(int fd, uint32_t id, bool inherit)
{
	struct fsxattr fa = { 0 };

	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
		return negative_errno();
	if (fa.fsx_projid == id && (!inherit || (fa.fsx_xflags & FS_XFLAG_PROJINHERIT)))
		return 0;
	fa.fsx_projid = id;
	if (inherit)
		fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
		return negative_errno();
	return 1;
}

/* Mount id of fd (statx), or 0 when the kernel does not say. */
static uint64_t fd_mnt_id(int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0 ||
	    !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return sx.stx_mnt_id;
}

struct wframe {
	DIR *d; /* owns its fd */
	size_t plen; /* length of w->path for this directory */
};

struct quota_walk {
	uint32_t id;
	dev_t dev;
	uint64_t mnt_id;
	int top;
	bool tagging; /* second phase */
	bool started; /* the current phase has opened the top */
	int depth; /* frames in use */
	struct wframe st[TREE_DEPTH_MAX + 1];
	char path[PATH_MAX]; /* of the directory being read, relative to the top, for messages */
	uint64_t visited, changed;
};

int quota_walk_new(int dirfd, uint32_t id, struct quota_walk **ret)
{
	struct quota_walk *w;
	struct stat st;

	if (fstat(dirfd, &st) < 0)
		return negative_errno();
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->top = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (w->top < 0) {
		free(w);
		return negative_errno();
	}
	w->id = id;
	w->dev = st.st_dev;
	w->mnt_id = fd_mnt_id(dirfd);
	strcpy(w->path, ".");
	*ret = w;
	return 0;
}

static void walk_pop(struct quota_walk *w)
{
	struct wframe *f = &w->st[--w->depth];

	closedir(f->d);
	f->d = NULL;
	w->path[f->plen] = 0;
}

void quota_walk_free(struct quota_walk *w)
{
	if (!w)
		return;
	while (w->depth > 0)
		walk_pop(w);
	closep(&w->top);
	free(w);
}

void quota_walk_counts(const struct quota_walk *w, uint64_t *ret_visited, uint64_t *ret_changed)
{
	*ret_visited = w->visited;
	*ret_changed = w->changed;
}

/* Take ownership of fd as the next frame, reading the directory name (appended to the path). */
static int walk_push(struct quota_walk *w, int fd, const char *name)
{
	size_t plen = strlen(w->path);
	DIR *d;

	if (name && plen + 1 + strlen(name) >= sizeof(w->path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	d = fdopendir(fd);
	if (!d) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	w->st[w->depth++] = (struct wframe){ .d = d, .plen = plen };
	if (name) {
		w->path[plen] = '/';
		strcpy(w->path + plen + 1, name);
	}
	return 0;
}

/* Check (first phase) or tag (second phase) one open inode. */
static int walk_inode(struct quota_walk *w, int fd, bool dir, const char *name,
		      quota_foreign_fn foreign, void *ud, char **msg)
{
	uint32_t found;
	int r;

	if (w->tagging) {
		r = fd_set_projid(fd, w->id, dir);
		if (r > 0)
			w->changed++;
		return r < 0 ? r : 0;
	}
	r = quota_fd_get_projid(fd, &found, NULL);
	if (r < 0)
		return r;
	if (found != 0 && found != w->id && foreign && foreign(found, ud)) {
		*msg = strprintf("%s%s%s carries project id %" PRIu32 " of someone else", w->path,
				 name ? "/" : "", name ? name : "", found);
		return -EBUSY;
	}
	return 0;
}

/* A regular file: opened as O_PATH first, so nothing else (a device node, a FIFO) is ever opened
 * for real, then reopened through its magic link once fstat says it is a regular file. */
static int walk_file(struct quota_walk *w, int dirfd, const char *name, quota_foreign_fn foreign,
		     void *ud, char **msg)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char proc[64];
	struct stat st;

	pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : negative_errno();
	if (fstat(pfd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_dev != w->dev)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	return walk_inode(w, fd, false, name, foreign, ud, msg);
}

static int walk_subdir(struct quota_walk *w, int dirfd, const char *name, quota_foreign_fn foreign,
		       void *ud, char **msg)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t mid;
	int r;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0 : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	mid = fd_mnt_id(fd);
	if (st.st_dev != w->dev || (mid && w->mnt_id && mid != w->mnt_id))
		return 0; /* a mount point: not ours to retag */
	if (w->depth > TREE_DEPTH_MAX - 1) {
		*msg = strprintf("%s/%s: more than %d directories deep", w->path, name,
				 TREE_DEPTH_MAX);
		return -ELOOP;
	}
	r = walk_inode(w, fd, true, name, foreign, ud, msg);
	if (r < 0)
		return r;
	return walk_push(w, TAKE_FD(fd), name);
}

static int walk_entry(struct quota_walk *w, struct dirent *de, quota_foreign_fn foreign, void *ud,
		      char **msg)
{
	int dfd = dirfd(w->st[w->depth - 1].d);
	unsigned char type = de->d_type;
	struct stat st;

	if (type == DT_UNKNOWN) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : negative_errno();
		type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
	}
	if (type == DT_DIR)
		return walk_subdir(w, dfd, de->d_name, foreign, ud, msg);
	if (type == DT_REG)
		return walk_file(w, dfd, de->d_name, foreign, ud, msg);
	return 0;
}

/* Open the top for a phase: the first phase checks its own id, the second tags it at the end. */
static int walk_start(struct quota_walk *w, quota_foreign_fn foreign, void *ud, char **msg)
{
	int fd = openat(w->top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return negative_errno();
	if (!w->tagging)
		r = walk_inode(w, fd, true, NULL, foreign, ud, msg);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->started = true;
	return walk_push(w, fd, NULL);
}

/* The current phase has read everything: on to the next, or tag the top and finish. */
static int walk_phase_end(struct quota_walk *w)
{
	int r;

	if (!w->tagging) {
		w->tagging = true;
		w->started = false;
		return 0;
	}
	r = fd_set_projid(w->top, w->id, true);
	if (r > 0)
		w->changed++;
	return r < 0 ? r : 1;
}

int quota_walk_step(struct quota_walk *w, unsigned budget, quota_foreign_fn foreign, void *ud,
		    char **ret_msg)
{
	unsigned n = 0;
	int r = 0;

	while (r == 0) {
		struct dirent *de;

		if (budget && n >= budget)
			return 0;
		if (!w->started) {
			r = walk_start(w, foreign, ud, ret_msg);
			continue;
		}
		if (w->depth == 0) {
			r = walk_phase_end(w);
			continue;
		}
		errno = 0;
		de = readdir(w->st[w->depth - 1].d);
		if (!de) {
			if (errno)
				return negative_errno();
			walk_pop(w);
			continue;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		n++;
		w->visited++;
		r = walk_entry(w, de, foreign, ud, ret_msg);
	}
	return r;
}
