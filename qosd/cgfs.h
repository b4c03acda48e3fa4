/* SPDX-License-Identifier: MIT */
/* Safe access to cgroupfs files: directories held as O_PATH dirfds, knob files opened with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS), and writes limited to
 * an allow-list of knob names. Shared by cgroup.c and blkio/. */
#pragma once

#include <stdbool.h>

/* True if qosd may ever write this knob file name (never release_agent, notify_on_release,
 * cgroup.procs, tasks, or anything not a resource limit). */
bool cgfs_knob_allowed(const char *knob);

/* Open relpath ("/a/b" or "a/b"; "/" = dirfd itself) below dirfd as an O_PATH directory fd,
 * never leaving dirfd (no "..", no symlinks). */
int cgfs_open_dir(int dirfd, const char *relpath, int *ret_fd);

/* Read a knob file below dirfd; trailing newline removed. ret is malloc'd. */
int cgfs_read(int dirfd, const char *knob, char **ret);

/* The same, keeping the knob open: *ret_fd for cgfs_reread() (the read-back after a write, one
 * open per knob and pass instead of two). The caller closes it. */
int cgfs_read_keep(int dirfd, const char *knob, char **ret, int *ret_fd);
/* Read the knob of an fd from cgfs_read_keep() again from the start: the kernel generates the
 * text anew (seq_file), a plain file is read as it is now. */
int cgfs_reread(int fd, char **ret);

/* Write value to an allow-listed knob below dirfd in one write(2). -EPERM for a knob not on the
 * allow-list; the kernel's -errno otherwise. */
int cgfs_write(int dirfd, const char *knob, const char *value);

/* mkdir relpath's last component below dirfd (parents must exist); 0 if it already exists,
 * 1 if this call made it. */
int cgfs_mkdir(int dirfd, const char *relpath);
