/* SPDX-License-Identifier: MIT */
/* Block I/O throttling: policy targets (device node, /dev/disk/by-* link, MAJ:MIN or any path)
 * resolved to whole disks, v1 blkio.throttle.* and v2 io.max writers, and a udev monitor that
 * says when block devices appear. Takes plain structs (limits.h); libudev stays in the .c files. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "qosd/limits.h"
#include "qosd/report.h"

struct blkio_ctx;
struct sdunit;

/* New context: libudev handle, sysfs root "/sys", /proc/self/mountinfo. */
int blkio_ctx_new(struct blkio_ctx **ret);
void blkio_ctx_free(struct blkio_ctx *ctx);

/* Tests: look devices up below sysfs_root (a tree laid out like /sys: dev/block/MAJ:MIN links)
 * instead of /sys, and read mounts from mountinfo; either may be NULL to keep the default.
 * With a sysfs root other than "/sys" libudev is not used for lookups (it only knows /sys). */
int blkio_ctx_set_roots(struct blkio_ctx *ctx, const char *sysfs_root, const char *mountinfo);

/* Resolve io->targets, merge per disk, and bring the cgroup's throttles to them. cg_dirfd: O_PATH
 * dirfd of the container's cgroup in the blkio hierarchy (v1) or the unified one (v2 = true).
 * dry_run: read only. One report entry per (disk, kind) and one per unresolvable target.
 * Two targets on one disk merge to the smaller value (the entry's note names both). With io->own,
 * limits on disks the policy does not name are cleared. Never stops at the first failure.
 * Returns 0 or the first -errno, unresolvable targets included (details in r). */
int blkio_apply(struct blkio_ctx *ctx, int cg_dirfd, bool v2, const struct qos_io *io, bool dry_run,
		struct qos_report *r);

/* blkio_apply for a cgroup that is systemd unit unit's own (sdu/unit NULL: none): on v2 each
 * disk's changed io.max keys go to the unit as IO{Read,Write}{Bandwidth,IOPS}Max properties
 * (SetUnitProperties, runtime); where systemd cannot take them (sdunit_error_falls_back) io.max
 * is written instead. v1 stays cgroupfs. Entries' via says which path was taken. */
int blkio_apply_unit(struct blkio_ctx *ctx, int cg_dirfd, bool v2, struct sdunit *sdu,
		     const char *unit, const struct qos_io *io, bool dry_run, struct qos_report *r);

/* Resolve one target to a whole-disk dev_t; ret_note gets a remark (partition -> disk) or NULL.
 * -EINVAL: not MAJ:MIN nor an absolute path; -ENOENT: no such path; -ENOTBLK: a character device
 * or other non-block node; -ENODEV: no such block device, or a filesystem without one (tmpfs). */
int blkio_resolve(struct blkio_ctx *ctx, const char *target, dev_t *ret_disk, char **ret_note);

/* The same, with a sentence for the failure ("/x is on tmpfs (0:27), which has no block device")
 * in ret_error (NULL on success); ret_note and ret_error may each be NULL. */
int blkio_resolve_full(struct blkio_ctx *ctx, const char *target, dev_t *ret_disk, char **ret_note,
		       char **ret_error);

/* Subscribe to block device events (udevd's when it runs, else the kernel's uevents). ret_fd is
 * owned by ctx: poll it for POLLIN and call blkio_monitor_process(). */
int blkio_monitor_open(struct blkio_ctx *ctx, int *ret_fd);

/* Drain pending events; ret_changed = true if a block device was added, changed or moved (so
 * containers with blkio keys should be reconciled again). */
int blkio_monitor_process(struct blkio_ctx *ctx, bool *ret_changed);
