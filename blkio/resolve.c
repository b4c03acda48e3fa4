/* SPDX-License-Identifier: MIT */
/* Target -> whole disk. The kernel throttles whole disks only (a partition's MAJ:MIN gets ENODEV),
 * so partitions go up to their disk; device-mapper, md and loop devices are disks of their own.
 * A path means the filesystem holding it: st_dev, or for anonymous devices (overlayfs, btrfs) the
 * mount's upper directory or source found in mountinfo. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libudev.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "blkio/blkio-internal.h"

/* overlay on overlay on ... : bounded so a crafted mount table cannot loop us */
#define MAX_DEPTH 8

struct mount_entry {
	char *mountpoint;
	char *fstype;
	char *source;
	char *superopts;
};

static void mount_entry_done(struct mount_entry *m)
{
	free(m->mountpoint);
	free(m->fstype);
	free(m->source);
	free(m->superopts);
	*m = (struct mount_entry){ 0 };
}

static void udev_device_unrefp(struct udev_device **d)
{
	if (*d)
		udev_device_unref(*d);
}

/* "MAJ:MIN" -> 1 and *ret; an absolute path -> 0; anything else (a "8:", "sda") -> -EINVAL. */
static int parse_majmin(const char *s, dev_t *ret)
{
	unsigned long ma, mi;
	char *end;

	if (s[0] == '/')
		return 0;
	if (!isdigit((unsigned char) s[0]))
		return -EINVAL;
	errno = 0;
	ma = strtoul(s, &end, 10);
	if (errno || *end != ':' || !isdigit((unsigned char) end[1]) || ma > UINT32_MAX)
		return -EINVAL;
	mi = strtoul(end + 1, &end, 10);
	if (errno || *end || mi > UINT32_MAX)
		return -EINVAL;
	*ret = makedev(ma, mi);
	return 1;
}

/* Undo the octal escapes (\040 for a space, \054 for a comma) of mountinfo fields, in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*w++ = *s;
	}
	*w = 0;
}

static int dup_field(const char *s, char **ret)
{
	*ret = strdup(s);
	if (!*ret)
		return -ENOMEM;
	unescape_octal(*ret);
	return 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SOPTS" */
static int parse_mount_line(char *line, dev_t *ret_dev, struct mount_entry *ret)
{
	char *f[6], *tail, *save = NULL, *sep;
	unsigned ma, mi;
	int r;

	sep = strstr(line, " - ");
	if (!sep || sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2)
		return -EINVAL;
	*sep = 0;
	tail = sep + 3;
	for (size_t i = 0; i < 5; i++) {
		f[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (!f[i])
			return -EINVAL;
	}
	save = NULL;
	f[0] = strtok_r(tail, " \n", &save);
	f[1] = strtok_r(NULL, " \n", &save);
	f[2] = strtok_r(NULL, " \n", &save);
	if (!f[0] || !f[1])
		return -EINVAL;
	r = dup_field(f[4] ? f[4] : "", &ret->mountpoint);
	if (r >= 0)
		r = dup_field(f[0], &ret->fstype);
	if (r >= 0)
		r = dup_field(f[1], &ret->source);
	/* options stay escaped until split: an escaped comma is part of a value */
	if (r >= 0 && !(ret->superopts = strdup(f[2] ? f[2] : "")))
		r = -ENOMEM;
	*ret_dev = makedev(ma, mi);
	return r;
}

/* Path-prefix test on whole components: "/a" holds "/a/b" and "/a", not "/ab". */
static size_t mount_covers(const char *mnt, const char *path)
{
	size_t n = strlen(mnt);

	if (streq(mnt, "/"))
		return 1;
	if (strncmp(mnt, path, n) == 0 && (path[n] == 0 || path[n] == '/'))
		return n + 1;
	return 0;
}

/* The mount whose device is dev; if none carries it (a btrfs subvolume's own anonymous device),
 * the mount with the longest mountpoint above canonical path. */
static int mount_find(struct blkio_ctx *ctx, dev_t dev, const char *path, struct mount_entry *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	struct mount_entry best = { 0 };
	size_t cap = 0, best_len = 0;

	f = fopen(ctx->mountinfo, "re");
	if (!f)
		return negative_errno();
	while (getline(&line, &cap, f) > 0) {
		struct mount_entry m = { 0 };
		dev_t d;
		size_t len;

		if (parse_mount_line(line, &d, &m) < 0) {
			mount_entry_done(&m);
			continue;
		}
		len = d == dev ? SIZE_MAX : (path ? mount_covers(m.mountpoint, path) : 0);
		if (len > best_len) {
			mount_entry_done(&best);
			best = m;
			best_len = len;
		} else
			mount_entry_done(&m);
		if (len == SIZE_MAX)
			break;
	}
	if (!best_len)
		return -ENOENT;
	*ret = best;
	return 0;
}

/* The value of key= in a comma-separated mount option string (octal escapes undone). */
static int mount_opt(const char *opts, const char *key, char **ret)
{
	size_t kl = strlen(key);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, ",");
			char *v = strndup(p + kl + 1, n);

			if (!v)
				return -ENOMEM;
			unescape_octal(v);
			*ret = v;
			return 0;
		}
	}
	return -ENOENT;
}

/* What a target stood for, for the note. */
struct origin {
	bool majmin; /* "MAJ:MIN" */
	bool fs; /* a path on a filesystem (not a device node) */
	char *via; /* "overlay upperdir /x" */
};

static int path_to_dev(struct blkio_ctx *ctx, const char *path, unsigned depth, dev_t *ret,
		       struct origin *o, char **ret_error);

/* A filesystem on an anonymous device: overlayfs throttles where its upper directory lives;
 * btrfs and friends name their block device as the mount source. */
static int anon_to_dev(struct blkio_ctx *ctx, const char *path, dev_t dev, unsigned depth,
		       dev_t *ret, struct origin *o, char **ret_error)
{
	_cleanup_free_ char *canon = realpath(path, NULL), *upper = NULL;
	struct mount_entry m = { 0 };
	struct stat st;
	int r;

	r = mount_find(ctx, dev, canon, &m);
	if (r < 0) {
		*ret_error = strprintf("%s: no mount found for its device %u:%u", path, major(dev),
				       minor(dev));
		return -ENODEV;
	}
	/* the kernel shows upperdir as the mounter wrote it: a relative one says nothing to us */
	if (streq(m.fstype, "overlay") && mount_opt(m.superopts, "upperdir", &upper) >= 0 &&
	    upper[0] == '/') {
		r = path_to_dev(ctx, upper, depth + 1, ret, o, ret_error);
		if (r >= 0 && !o->via)
			o->via = strprintf("overlay upperdir %s", upper);
	} else if (m.source[0] == '/' && stat(m.source, &st) >= 0 && S_ISBLK(st.st_mode)) {
		*ret = st.st_rdev;
		r = 0;
	} else {
		*ret_error = strprintf("%s is on %s (%u:%u), which has no block device", path,
				       m.fstype, major(dev), minor(dev));
		r = -ENODEV;
	}
	mount_entry_done(&m);
	return r;
}

static int path_to_dev(struct blkio_ctx *ctx, const char *path, unsigned depth, dev_t *ret,
		       struct origin *o, char **ret_error)
{
	struct stat st;

	if (depth > MAX_DEPTH) {
		*ret_error = strprintf("%s: too many stacked filesystems", path);
		return -ELOOP;
	}
	if (stat(path, &st) < 0) {
		int r = negative_errno();

		*ret_error = strprintf("%s: %s", path, strerror(-r));
		return r;
	}
	if (S_ISBLK(st.st_mode)) {
		*ret = st.st_rdev;
		return 0;
	}
	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		*ret_error = strprintf("%s is a %s, not a block device", path,
				       S_ISCHR(st.st_mode) ? "character device" : "special file");
		return -ENOTBLK;
	}
	o->fs = true;
	if (major(st.st_dev) != 0) {
		*ret = st.st_dev;
		return 0;
	}
	return anon_to_dev(ctx, path, st.st_dev, depth, ret, o, ret_error);
}

/* Kernel name of a sysfs device directory: the last component of its link target. */
static int sysfs_name(int dirfd, const char *link, char *buf, size_t len, size_t skip)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dirfd, link, target, sizeof(target) - 1);
	char *p;

	if (n < 0)
		return negative_errno();
	target[n] = 0;
	for (; skip > 0; skip--) {
		p = strrchr(target, '/');
		if (!p)
			return -EINVAL;
		*p = 0;
	}
	p = strrchr(target, '/');
	p = p ? p + 1 : target;
	if (strlen(p) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, p, strlen(p) + 1);
	return 0;
}

static int sysfs_read_dev(int dirfd, const char *name, dev_t *ret)
{
	_cleanup_free_ char *s = NULL;
	dev_t d;
	int r;

	r = read_file_at(dirfd, name, 64, &s);
	if (r < 0)
		return r;
	if (parse_majmin(strstrip(s), &d) != 1)
		return -EINVAL;
	*ret = d;
	return 0;
}

/* sysfs: /sys/dev/block/MAJ:MIN links to the device directory; a partition has a "partition"
 * file and sits inside its disk's directory, whose "dev" is the disk's number. */
static int sysfs_lookup(struct blkio_ctx *ctx, dev_t dev, struct blkio_dev *ret)
{
	_cleanup_free_ char *dir = strprintf("%s/dev/block", ctx->sysfs);
	_cleanup_close_ int fd = -1;
	char link[64], up[80];
	struct blkio_dev d = { .dev = dev, .disk = dev };
	int r;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	snprintf(link, sizeof(link), "%u:%u", major(dev), minor(dev));
	if (sysfs_name(fd, link, d.name, sizeof(d.name), 0) < 0)
		return -ENODEV;
	snprintf(d.disk_name, sizeof(d.disk_name), "%s", d.name);
	snprintf(up, sizeof(up), "%s/partition", link);
	if (faccessat(fd, up, F_OK, 0) >= 0) {
		d.partition = true;
		snprintf(up, sizeof(up), "%s/../dev", link);
		r = sysfs_read_dev(fd, up, &d.disk);
		if (r < 0)
			return r;
		r = sysfs_name(fd, link, d.disk_name, sizeof(d.disk_name), 1);
		if (r < 0)
			return r;
	}
	*ret = d;
	return 0;
}

static int udev_lookup(struct blkio_ctx *ctx, dev_t dev, struct blkio_dev *ret)
{
	_cleanup_(udev_device_unrefp) struct udev_device *u = NULL;
	struct udev_device *disk;
	const char *type;
	struct blkio_dev d = { .dev = dev, .disk = dev };

	errno = 0;
	u = udev_device_new_from_devnum(ctx->udev, 'b', dev);
	if (!u)
		return errno == ENOMEM ? -ENOMEM : -ENODEV;
	snprintf(d.name, sizeof(d.name), "%s", udev_device_get_sysname(u));
	snprintf(d.disk_name, sizeof(d.disk_name), "%s", d.name);
	type = udev_device_get_devtype(u);
	if (type && streq(type, "partition")) {
		/* owned by u: no unref */
		disk = udev_device_get_parent_with_subsystem_devtype(u, "block", "disk");
		if (!disk)
			return -ENODEV;
		d.partition = true;
		d.disk = udev_device_get_devnum(disk);
		snprintf(d.disk_name, sizeof(d.disk_name), "%s", udev_device_get_sysname(disk));
	}
	*ret = d;
	return 0;
}

int blkio_dev_lookup(struct blkio_ctx *ctx, dev_t dev, struct blkio_dev *ret)
{
	if (ctx->use_udev && ctx->udev)
		return udev_lookup(ctx, dev, ret);
	return sysfs_lookup(ctx, dev, ret);
}

/* The remark qosctl show prints: how the target became this disk (NULL when it is the disk). */
static char *make_note(const char *target, bool majmin, bool fs, const struct blkio_dev *d,
		       const char *via)
{
	_cleanup_free_ char *what = NULL;

	if (majmin)
		what = strprintf("%s (%s)", target, d->name);
	else if (fs)
		what = strprintf("%s is on %s%s%s (%u:%u)", target, via ? via : "", via ? ", " : "",
				 d->name, major(d->dev), minor(d->dev));
	else
		what = strprintf("%s (%u:%u)", target, major(d->dev), minor(d->dev));
	if (!what)
		return NULL;
	if (d->partition)
		return strprintf("%s%s a partition: throttling its disk %s %u:%u", what,
				 fs ? "," : " is", d->disk_name, major(d->disk), minor(d->disk));
	if (fs)
		return TAKE_PTR(what);
	return NULL;
}

/* Resolution without the final sysfs check: the device number the target stands for. */
static int target_to_dev(struct blkio_ctx *ctx, const char *target, dev_t *ret, struct origin *o,
			 char **ret_error)
{
	int r = parse_majmin(target, ret);

	if (r < 0) {
		*ret_error =
			strprintf("\"%s\" is not a device path, MAJ:MIN or absolute path", target);
		return r;
	}
	o->majmin = r > 0;
	if (r > 0)
		return 0;
	return path_to_dev(ctx, target, 0, ret, o, ret_error);
}

int blkio_resolve_full(struct blkio_ctx *ctx, const char *target, dev_t *ret_disk, char **ret_note,
		       char **ret_error)
{
	_cleanup_free_ char *error = NULL, *note = NULL;
	struct origin o = { 0 };
	struct blkio_dev d;
	dev_t dev = 0;
	int r;

	r = target_to_dev(ctx, target, &dev, &o, &error);
	if (r >= 0) {
		r = blkio_dev_lookup(ctx, dev, &d);
		if (r < 0)
			error = strprintf("%s: no block device %u:%u", target, major(dev),
					  minor(dev));
	}
	if (r >= 0 && (d.partition || o.fs)) {
		note = make_note(target, o.majmin, o.fs, &d, o.via);
		if (!note)
			r = -ENOMEM;
	}
	free(o.via);
	if (r < 0) {
		if (ret_error)
			*ret_error =
				error ? TAKE_PTR(error) : strprintf("%s: %s", target, strerror(-r));
		return r;
	}
	if (ret_note)
		*ret_note = TAKE_PTR(note);
	if (ret_error)
		*ret_error = NULL;
	*ret_disk = d.disk;
	return 0;
}

int blkio_resolve(struct blkio_ctx *ctx, const char *target, dev_t *ret_disk, char **ret_note)
{
	return blkio_resolve_full(ctx, target, ret_disk, ret_note, NULL);
}
