/* SPDX-License-Identifier: MIT */
/* What the files of blkio/ share; not for other modules. */
#pragma once

#include "blkio/blkio.h"

struct udev;
struct udev_monitor;

struct blkio_ctx {
	struct udev *udev;
	struct udev_monitor *mon;
	char *sysfs; /* "/sys" unless a test points elsewhere */
	char *mountinfo; /* "/proc/self/mountinfo" unless a test points elsewhere */
	bool use_udev; /* libudev reads the real /sys only */
};

/* A block device as sysfs or udev knows it. */
struct blkio_dev {
	dev_t dev;
	char name[64]; /* kernel name: "vda1" */
	bool partition;
	dev_t disk; /* the whole disk (dev itself when not a partition) */
	char disk_name[64];
};

/* Look dev up via udev or sysfs; -ENODEV when there is no such block device. */
int blkio_dev_lookup(struct blkio_ctx *ctx, dev_t dev, struct blkio_dev *ret);
