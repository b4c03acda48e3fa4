/* SPDX-License-Identifier: MIT */
/* Small helpers every module shares: cleanup attributes, ownership hand-off, string and file utilities. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p)
{
	free(*(void **) p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership on: returns the value and leaves NULL (or -1) behind. */
#define TAKE_PTR(p)                   \
	({                            \
		typeof(p) _tp_ = (p); \
		(p) = NULL;           \
		_tp_;                 \
	})
#define TAKE_FD(fd)              \
	({                       \
		int _tf_ = (fd); \
		(fd) = -1;       \
		_tf_;            \
	})

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Negative errno from the current errno, never 0 (guards against libraries that fail without it). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* True if s starts with prefix. */
static inline bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True if s ends with suffix. */
bool endswith(const char *s, const char *suffix);

/* FNV-1a, 64 bits: hash buckets, record fingerprints, stable interface names. */
uint64_t fnv1a64(const char *s);

/* Strip leading and trailing whitespace in place; returns s moved past leading blanks. */
char *strstrip(char *s);

/* Replace *field with a copy of v (NULL v: set NULL), freeing the old value. 0 or -ENOMEM. */
int free_and_strdup(char **field, const char *v);

/* malloc'd printf; NULL on allocation failure. */
char *strprintf(const char *fmt, ...) _printf_(1, 2);

/* Append a printf'd string to a malloc'd buffer (*buf may be NULL). Returns 0 or -ENOMEM. */
int strextend(char **buf, const char *fmt, ...) _printf_(2, 3);

/* A text built by appends, for many appends (a metrics page, journal lines): capacity doubles,
 * p stays NUL-terminated. An allocation failure makes it failed, and every later append does
 * nothing until failed is cleared: the caller checks once at the end. */
struct textbuf {
	char *p;
	size_t len, cap;
	bool failed;
};
/* Room for n more bytes and the NUL; false if the buffer is (or now becomes) failed. */
bool textbuf_room(struct textbuf *b, size_t n);
void textbuf_put(struct textbuf *b, const char *s, size_t n);
void textbuf_puts(struct textbuf *b, const char *s);
void textbuf_printf(struct textbuf *b, const char *fmt, ...) _printf_(2, 3);

/* Read a whole file (at most max bytes, -EFBIG beyond) relative to dirfd (AT_FDCWD for a path).
 * Returns its length. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret);

/* Read fd to EOF into a NUL-terminated buffer: at most max bytes (-EFBIG if there is more). A
 * deadline (CLOCK_MONOTONIC usec, as now_usec(); 0 = none) waits for input with poll() and gives
 * -ETIMEDOUT when it passes. ret_len may be NULL. */
int read_fd_full(int fd, size_t max, uint64_t deadline, char **ret, size_t *ret_len);

/* Wait until fd is ready for events (POLLIN, POLLOUT); -ETIMEDOUT once the deadline (as
 * now_usec()) has passed, never earlier. */
int fd_wait(int fd, short events, uint64_t deadline);

/* write() until len bytes are written (EINTR retried). */
int write_all(int fd, const char *p, size_t len);
/* Atomically replace path with contents: tmp file in the same directory, fsync, rename, fsync dir.
 * The file gets mode (umask ignored). */
int write_file_atomic(const char *path, const char *contents, size_t len, mode_t mode);
/* The same; durable = false skips the two fsyncs: the replacement is still atomic and survives a
 * crash of the process (the page cache does), only not a crash of the machine. */
int write_file_replace(const char *path, const char *contents, size_t len, mode_t mode,
		       bool durable);

/* Make dir (0700) if missing and check it can be trusted: a real directory (not a symlink),
 * owned by the effective uid, writable by nobody else. ret_msg says what is wrong. */
int dir_check_private(const char *dir, char **ret_msg);

/* Validate a container id / tenant / class name: [A-Za-z0-9][A-Za-z0-9_.+-]*, at most max bytes,
 * never "." or "..", never a cgroup attribute name. Returns 0 or -EINVAL. */
int name_validate(const char *s, size_t max);

/* Validate a cgroup path relative to the cgroup root: begins with '/', no "." or ".." components,
 * no empty components, no control-character bytes, valid UTF-8 only (the state keeps it as a JSON
 * string), bounded length. "/" itself is valid. */
/* Length of the UTF-8 sequence at s (1-4 bytes), or 0 when it is not one jansson takes: a stray
 * or truncated continuation (the NUL included), an overlong form, a surrogate, past U+10FFFF. */
size_t utf8_seq(const unsigned char *s);
int cgpath_validate(const char *p);

/* Monotonic clock in microseconds. */
uint64_t now_usec(void);

#define ID_MAX 128
#define TENANT_MAX 32
#define CLASS_MAX 64
#define CGPATH_MAX 1024

/* OCI annotations qosd records for tenants' [claim] rules (assign.h): at most ANNOTATIONS_MAX of
 * them, as "KEY=VALUE" strings; keys [A-Za-z0-9._/-] up to ANNOTATION_KEY_MAX bytes, values up
 * to ANNOTATION_VALUE_MAX bytes without control characters. */
#define ANNOTATIONS_MAX 64
#define ANNOTATION_KEY_MAX 253
#define ANNOTATION_VALUE_MAX 256
bool annotation_key_ok(const char *k);
bool annotation_value_ok(const char *v);
/* Append "KEY=VALUE" to the NULL-terminated *v of *n entries if key and value are acceptable
 * and there is room: 1 appended, 0 skipped (not acceptable: the caller decides whether that is
 * an error), -ENOMEM. */
int annotation_add(char ***v, size_t *n, const char *key, const char *value);
/* The value of key in such a list, or NULL. */
const char *annotation_get(char *const *v, size_t n, const char *key);
void strv_free_n(char **v, size_t n);
