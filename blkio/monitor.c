/* SPDX-License-Identifier: MIT */
/* The blkio context (libudev handle, lookup roots) and the block device monitor: a device named
 * by the policy may appear after the container started (a loop device attached, a disk
 * hot-plugged), and its throttle is applied then, without a reload. */
#include <libudev.h>

#include "blkio/blkio-internal.h"

int blkio_ctx_new(struct blkio_ctx **ret)
{
	struct blkio_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	ctx->sysfs = strdup("/sys");
	ctx->mountinfo = strdup("/proc/self/mountinfo");
	errno = ENOMEM;
	ctx->udev = udev_new();
	if (!ctx->sysfs || !ctx->mountinfo || !ctx->udev) {
		int r = negative_errno();

		blkio_ctx_free(ctx);
		return r;
	}
	ctx->use_udev = true;
	*ret = ctx;
	return 0;
}

void blkio_ctx_free(struct blkio_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->mon)
		udev_monitor_unref(ctx->mon);
	if (ctx->udev)
		udev_unref(ctx->udev);
	free(ctx->sysfs);
	free(ctx->mountinfo);
	free(ctx);
}

static int replace_str(char **field, const char *v)
{
	char *s;

	if (!v)
		return 0;
	s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

int blkio_ctx_set_roots(struct blkio_ctx *ctx, const char *sysfs_root, const char *mountinfo)
{
	int r;

	r = replace_str(&ctx->sysfs, sysfs_root);
	if (r < 0)
		return r;
	r = replace_str(&ctx->mountinfo, mountinfo);
	if (r < 0)
		return r;
	ctx->use_udev = streq(ctx->sysfs, "/sys");
	return 0;
}

/* udevd's events come after its rules ran (so /dev/disk/by-* links exist); without udevd only
 * the kernel's uevents are there, and devtmpfs has made the node by the time they arrive. */
static const char *monitor_source(void)
{
	return access("/run/udev/control", F_OK) >= 0 ? "udev" : "kernel";
}

int blkio_monitor_open(struct blkio_ctx *ctx, int *ret_fd)
{
	struct udev_monitor *mon;
	int r, fd;

	if (!ctx->mon) {
		errno = 0;
		mon = udev_monitor_new_from_netlink(ctx->udev, monitor_source());
		if (!mon)
			return negative_errno();
		r = udev_monitor_filter_add_match_subsystem_devtype(mon, "block", NULL);
		if (r >= 0)
			r = udev_monitor_enable_receiving(mon);
		if (r < 0) {
			udev_monitor_unref(mon);
			return r;
		}
		ctx->mon = mon;
	}
	fd = udev_monitor_get_fd(ctx->mon);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

static bool event_matters(struct udev_device *d)
{
	const char *action = udev_device_get_action(d);
	const char *subsys = udev_device_get_subsystem(d);

	if (!action || !subsys || !streq(subsys, "block"))
		return false;
	return streq(action, "add") || streq(action, "change") || streq(action, "move");
}

int blkio_monitor_process(struct blkio_ctx *ctx, bool *ret_changed)
{
	bool changed = false;

	if (!ctx->mon)
		return -EBADF;
	/* receive_device does not block: NULL once the socket is drained */
	for (unsigned i = 0; i < 1024; i++) {
		struct udev_device *d = udev_monitor_receive_device(ctx->mon);

		if (!d)
			break;
		changed = changed || event_matters(d);
		udev_device_unref(d);
	}
	*ret_changed = changed;
	return 0;
}
