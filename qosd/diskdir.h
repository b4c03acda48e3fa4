/* SPDX-License-Identifier: MIT */
/* Which directory a container's disk quota may tag: its own writable layer (the upperdir of the
 * runtime's mount of its rootfs, read from the runtime's mount table, never the container's) or a
 * place under a configured quota root. An annotation (qosd.io/disk-dir) or disk.dir can only
 * narrow that, never widen it. One rule, used by qosd and by qos-hook's fallback path. */
#pragma once

#include <sys/types.h>

struct diskdir_rules {
	const char *quota_roots; /* qosd.conf quota_roots: DIR[:DIR...]; NULL or "" = none */
	const char *mountinfo; /* tests: this mount table instead of the one below */
	/* a process in the runtime's mount namespace (the hook registering through the socket: qosd
	 * may run in a namespace of its own, which lacks the runtime's private storage mounts): its
	 * mount table is read, and the layer found must be the same directory through its root as
	 * in ours. 0 = our own namespace and table (qos-hook, later passes). */
	pid_t runtime_pid;
};

/* Pure: the rootfs path of an OCI bundle, from config.json's root.path (config may be NULL or
 * not JSON: BUNDLE/rootfs). A relative root.path is taken relative to the bundle. */
int diskdir_rootfs_of(const char *bundle, const char *config, char **ret);

/* Pure: the writable layer of a container whose rootfs is the canonical path rootfs, from a
 * mountinfo text: the overlay's upperdir when an overlay is mounted there (containerd, Docker,
 * podman, CRI-O), the rootfs itself when nothing is (runc/crun with a plain directory). Refused
 * (-EPERM, *ret_msg) when something else is mounted there (a bind mount: its content belongs to
 * someone else) or when rootfs is "/". */
int diskdir_layer_in(const char *mountinfo, const char *rootfs, char **ret, char **ret_msg);

/* The writable layer of a container, canonical: from its bundle (see above) when given, else from
 * the device of /proc/PID/root, which must be an overlay the runtime's mount table knows (a pid
 * that has not entered its root yet is refused). With r->runtime_pid, -EXDEV when that layer is
 * not the directory qosd's own namespace has at that path. -errno with *ret_msg (malloc'd). */
int diskdir_writable_layer(const struct diskdir_rules *r, const char *bundle, pid_t pid, char **ret,
			   char **ret_msg);

/* The directory qosd may tag for a container, canonical (*ret, malloc'd): requested (NULL = the
 * whole writable layer) when it is a real directory (not a symlink) whose canonical path lies in
 * the container's writable layer or under a quota root. -EINVAL (syntax), -ELOOP (a symlink),
 * -ENOTDIR, -ENOENT, -EPERM (outside both) with *ret_msg naming the directory and what is
 * allowed. */
int diskdir_decide(const struct diskdir_rules *r, const char *requested, const char *bundle,
		   pid_t pid, char **ret, char **ret_msg);
