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

/* A knob held open from the read before a write to the read-back after it: one open per knob
 * and pass (open, read, write, read back, close). */
struct cgfs_knob {
	int fd; /* -1: none */
	bool rw; /* opened read-write (an allow-listed knob) */
	bool plain; /* a plain file of a fake tree, not a kernfs knob: a write truncates it */
};
#define CGFS_KNOB_NONE ((struct cgfs_knob){ .fd = -1 })

/* Open knob below dirfd (as cgfs_read) and read it into *ret_text. writable: opened read-write
 * for cgfs_knob_write(), -EPERM for a knob not on the allow-list. plain: dirfd is not on a
 * cgroup mount (cg_root decides it once per hierarchy with statfs), so a write must truncate
 * what a longer old value leaves behind; kernfs takes each write whole. */
int cgfs_knob_open(int dirfd, const char *knob, bool writable, bool plain, struct cgfs_knob *ret,
		   char **ret_text);
/* Write value at offset 0 in one write(2) (an empty value as "\n"); -EBADF unless opened
 * writable. */
int cgfs_knob_write(const struct cgfs_knob *k, const char *value);
/* Read the knob again from the start: the kernel generates the text anew (seq_file), a plain
 * file is read as it is now. */
int cgfs_knob_reread(const struct cgfs_knob *k, char **ret);
void cgfs_knob_close(struct cgfs_knob *k);

/* Write value to an allow-listed knob below dirfd in one write(2). -EPERM for a knob not on the
 * allow-list; the kernel's -errno otherwise. */
int cgfs_write(int dirfd, const char *knob, const char *value);

/* mkdir relpath's last component below dirfd (parents must exist); 0 if it already exists,
 * 1 if this call made it. */
int cgfs_mkdir(int dirfd, const char *relpath);
