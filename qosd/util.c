/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

bool endswith(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *strstrip(char *s)
{
	char *e;

	s += strspn(s, " \t\r\n");
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		e--;
	*e = 0;
	return s;
}

int free_and_strdup(char **field, const char *v)
{
	char *s = v ? strdup(v) : NULL;

	if (v && !s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

char *strprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int strextend(char **buf, const char *fmt, ...)
{
	_cleanup_free_ char *add = NULL;
	va_list ap;
	size_t old = *buf ? strlen(*buf) : 0;
	char *n;

	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0) {
		va_end(ap);
		return -ENOMEM;
	}
	va_end(ap);
	n = realloc(*buf, old + strlen(add) + 1);
	if (!n)
		return -ENOMEM;
	strcpy(n + old, add);
	*buf = n;
	return 0;
}

bool textbuf_room(struct textbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n < b->cap)
		return true;
	/* from 512: a short text (a reply, a journal line) stays in glibc's per-thread cache and its
	 * small bins; 4096 took the large-chunk path and a consolidation of the free lists */
	cap = MAX(MAX(b->cap * 2, b->len + n + 1), (size_t) 512);
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void textbuf_put(struct textbuf *b, const char *s, size_t n)
{
	if (!textbuf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void textbuf_puts(struct textbuf *b, const char *s)
{
	textbuf_put(b, s, strlen(s));
}

void textbuf_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0 || !textbuf_room(b, (size_t) k))
		return;
	va_start(ap, fmt);
	(void) vsnprintf(b->p + b->len, (size_t) k + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) k;
}

int fd_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = now_usec();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		/* rounded up to whole milliseconds: poll never gives up before the deadline */
		r = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT_MAX));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return negative_errno();
		if (r > 0)
			return 0;
	}
}

int read_fd_full(int fd, size_t max, uint64_t deadline, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;
		int r;

		if (len == cap) {
			/* room for max + 1 bytes, so that one byte too many is seen */
			size_t want = MIN(cap ? cap * 2 : 1024, max + 1);
			char *nb = realloc(buf, want + 1);

			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = want;
		}
		if (deadline) {
			r = fd_wait(fd, POLLIN, deadline);
			if (r < 0)
				return r;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || (errno == EAGAIN && deadline)))
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		len += n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, char **ret)
{
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	r = read_fd_full(fd, max, 0, ret, &len);
	if (r < 0)
		return r;
	return (int) MIN(len, (size_t) INT_MAX);
}

int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= n;
	}
	return 0;
}

int write_file_atomic(const char *path, const char *contents, size_t len, mode_t mode)
{
	return write_file_replace(path, contents, len, mode, true);
}

int write_file_replace(const char *path, const char *contents, size_t len, mode_t mode,
		       bool durable)
{
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	const char *slash;
	int r;

	tmp = strprintf("%s.tmp.%d", path, (int) getpid());
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : strdup(".");
	if (!tmp || !dir)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	if (fchmod(fd, mode) < 0 || (r = write_all(fd, contents, len)) < 0 ||
	    (durable && fsync(fd) < 0)) {
		r = negative_errno();
		unlink(tmp);
		return r;
	}
	if (rename(tmp, path) < 0) {
		r = negative_errno();
		unlink(tmp);
		return r;
	}
	if (!durable)
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void) fsync(dfd);
	return 0;
}

int dir_check_private(const char *dir, char **ret_msg)
{
	struct stat st;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = negative_errno();
		*ret_msg = strprintf("cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	if (lstat(dir, &st) < 0) {
		r = negative_errno();
		*ret_msg = strprintf("cannot stat %s: %s", dir, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		*ret_msg = strprintf("%s is not a directory (a symlink?)", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
		*ret_msg = strprintf("%s is not owned by uid %u or is writable by others", dir,
				     (unsigned) geteuid());
		return -EPERM;
	}
	return 0;
}

static const char *const reserved_names[] = {
	"release_agent",	 "notify_on_release",	 "tasks",
	"cgroup.procs",		 "cgroup.threads",	 "cgroup.subtree_control",
	"cgroup.clone_children", "cgroup.sane_behavior",
};

bool annotation_key_ok(const char *k)
{
	size_t n = strlen(k);

	return n > 0 && n <= ANNOTATION_KEY_MAX &&
	       strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") == n;
}

bool annotation_value_ok(const char *v)
{
	size_t n = strlen(v);

	if (n > ANNOTATION_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return true;
}

int annotation_add(char ***v, size_t *n, const char *key, const char *value)
{
	char **nv;

	/* a second value for a key is never taken: the first one stays */
	if (!annotation_key_ok(key) || !annotation_value_ok(value) || *n >= ANNOTATIONS_MAX ||
	    annotation_get(*v, *n, key))
		return 0;
	nv = reallocarray(*v, *n + 2, sizeof(char *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strprintf("%s=%s", key, value);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 1;
}

const char *annotation_get(char *const *v, size_t n, const char *key)
{
	size_t l = strlen(key);

	for (size_t i = 0; i < n; i++)
		if (strneq(v[i], key, l) && v[i][l] == '=')
			return v[i] + l + 1;
	return NULL;
}

void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int name_validate(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return -EINVAL;
	if (streq(s, ".") || streq(s, ".."))
		return -EINVAL;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '+' || c == '-'))
			return -EINVAL;
	}
	for (size_t i = 0; i < ELEMENTSOF(reserved_names); i++)
		if (streq(s, reserved_names[i]))
			return -EINVAL;
	/* a kernel attribute looks like "controller.knob": refuse the controllers' prefixes */
	if (startswith(s, "cgroup.") || startswith(s, "cpu.") || startswith(s, "cpuset.") ||
	    startswith(s, "memory.") || startswith(s, "pids.") || startswith(s, "blkio.") ||
	    startswith(s, "io.") || startswith(s, "cpuacct.") || startswith(s, "hugetlb.") ||
	    startswith(s, "rdma.") || startswith(s, "misc."))
		return -EINVAL;
	return 0;
}

size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* the NUL ends the string here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int cgpath_validate(const char *p)
{
	size_t n = strlen(p);
	const char *c;

	if (n == 0 || n > CGPATH_MAX || p[0] != '/')
		return -EINVAL;
	if (streq(p, "/"))
		return 0;
	if (p[n - 1] == '/')
		return -EINVAL;
	/* no control characters, and UTF-8 only: a path is kept in the state as a JSON string, and
	 * one record that cannot be written would hold back every later save */
	for (c = p; *c;) {
		size_t k = utf8_seq((const unsigned char *) c);

		if (k == 0 || (unsigned char) *c < 0x20 || *c == 0x7f)
			return -EINVAL;
		c += k;
	}
	for (c = p + 1; *c;) {
		size_t len = strcspn(c, "/");

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += len;
		if (*c == '/')
			c++;
	}
	return 0;
}

uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
	return h;
}
