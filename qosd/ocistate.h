/* SPDX-License-Identifier: MIT */
/* The OCI runtime state a runtime hands a hook on stdin (runtime-spec 1.0 to 1.3): bounded read
 * and strict, pure parsing into a plain struct. qos-hook, its unit tests and its fuzz target
 * share this one decoder. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define OCI_STATE_MAX (1024 * 1024)

#define OCI_ANNOTATION_TENANT "qosd.io/tenant"
#define OCI_ANNOTATION_CLASS "qosd.io/class"
#define OCI_ANNOTATION_DISK_DIR "qosd.io/disk-dir"

struct oci_state {
	char *version; /* ociVersion, "1.x..." */
	char *id; /* validated with name_validate() */
	char *status; /* "creating", "created", "running", "stopped", ...; NULL if absent */
	int64_t pid; /* 0 = absent (poststop) */
	char *bundle; /* "bundle", or the older "bundlePath"; absolute; NULL if absent */
	char *tenant, *cls; /* annotations qosd.io/tenant and qosd.io/class, validated; or NULL */
	char *disk_dir; /* annotation qosd.io/disk-dir: absolute, no ".."; or NULL */
	/* the other annotations, as "KEY=VALUE" (for tenants' [claim] rules): those whose key and
	 * value util.h's annotation_add() accepts, the first ANNOTATIONS_MAX; never qosd.io/ */
	char **annotations;
	size_t n_annotations;
};

/* Parse one state (len bytes, need not be NUL-terminated; at most OCI_STATE_MAX). On failure
 * returns -EINVAL (or -EFBIG, -ENOMEM) with *ret_error (malloc'd) saying what is wrong, and
 * leaves *ret untouched. */
int oci_state_parse(const char *buf, size_t len, struct oci_state *ret, char **ret_error);
/* The same struct from qos-hook's plain options (--id, --pid, --tenant, --class, --dir), held
 * to the same rules as a state's fields, without a JSON text in between. pid 0: none. */
int oci_state_plain(const char *id, int64_t pid, const char *tenant, const char *cls,
		    const char *disk_dir, struct oci_state *ret, char **ret_error);
void oci_state_done(struct oci_state *s);

/* Read fd to EOF, at most max bytes, waiting with poll() until deadline (CLOCK_MONOTONIC usec,
 * as now_usec()). -EFBIG if there is more than max, -ETIMEDOUT at the deadline. *ret is
 * NUL-terminated. */
int oci_state_read(int fd, size_t max, uint64_t deadline, char **ret, size_t *ret_len);
