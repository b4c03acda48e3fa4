/* SPDX-License-Identifier: MIT */
/* Kernel side of the quota module: filesystem identification, quotactl, project ids on inodes. */
#include <dirent.h>
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

struct walk {
	uint32_t id;
	dev_t dev;
	uint64_t mnt_id;
	int changed;
};

/* A regular file: opened as O_PATH first, so nothing else (a device node, a FIFO) is ever opened
 * for real, then reopened through its magic link once fstat says it is a regular file. */
static int tag_file(int dirfd, const char *name, struct walk *w)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char proc[64];
	struct stat st;
	int r;

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
	r = fd_set_projid(fd, w->id, false);
	if (r > 0)
		w->changed++;
	return r < 0 ? r : 0;
}

static int tag_dir(int dfd, struct walk *w, int depth);

static int tag_subdir(int dirfd, const char *name, struct walk *w, int depth)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t mid;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0 : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	mid = fd_mnt_id(fd);
	if (st.st_dev != w->dev || (mid && w->mnt_id && mid != w->mnt_id))
		return 0; /* a mount point: not ours to retag */
	return tag_dir(fd, w, depth + 1);
}

static int tag_entry(int dfd, struct dirent *de, struct walk *w, int depth)
{
	unsigned char type = de->d_type;
	struct stat st;

	if (type == DT_UNKNOWN) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : negative_errno();
		type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
	}
	if (type == DT_DIR)
		return tag_subdir(dfd, de->d_name, w, depth);
	if (type == DT_REG)
		return tag_file(dfd, de->d_name, w);
	return 0;
}

static int tag_dir(int dfd, struct walk *w, int depth)
{
	DIR *d;
	struct dirent *de;
	int r, fd;

	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	r = fd_set_projid(dfd, w->id, true);
	if (r < 0)
		return r;
	w->changed += r;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		r = negative_errno();
		close(fd);
		return r;
	}
	r = 0;
	while (r >= 0 && (errno = 0, de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			r = tag_entry(dfd, de, w, depth);
	if (r >= 0 && errno)
		r = negative_errno();
	closedir(d);
	return r;
}

int quota_tree_tag(int dirfd, uint32_t id)
{
	struct walk w = { .id = id };
	struct stat st;
	int r;

	if (fstat(dirfd, &st) < 0)
		return negative_errno();
	w.dev = st.st_dev;
	w.mnt_id = fd_mnt_id(dirfd);
	r = tag_dir(dirfd, &w, 0);
	return r < 0 ? r : w.changed;
}
