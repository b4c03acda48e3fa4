/* SPDX-License-Identifier: MIT */
/* mountinfo parsing for the quota module: the filesystem that holds a directory, and the overlay
 * upperdir of a container's root. */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "qosd/util.h"
#include "quota-internal.h"

#define MI_FIELDS_MAX 32

/* Undo the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*o++ = (char) (((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) |
				       (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

/* Split one line into space-separated fields (pointers into line, which is modified). Returns the
 * number of fields, and through ret_sep the index of the "-" separator (-1 if missing). */
static int split_fields(char *line, char **f, int *ret_sep)
{
	int n = 0, sep = -1;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t && n < MI_FIELDS_MAX;
	     t = strtok_r(NULL, " ", &save)) {
		if (sep < 0 && n >= 6 && streq(t, "-"))
			sep = n;
		f[n++] = t;
	}
	*ret_sep = sep;
	return n;
}

/* Call fn for every well-formed line: f[2] maj:min, f[4] mount point, then fstype, source and super
 * options at sep+1..sep+3. fn returns > 0 to stop. */
static int mountinfo_foreach(const char *text, int (*fn)(char **f, int sep, void *ud), void *ud)
{
	_cleanup_free_ char *copy = strdup(text);
	char *p = copy, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[MI_FIELDS_MAX];
		int sep, n = split_fields(line, f, &sep), r;

		if (sep < 0 || n < sep + 4)
			continue;
		r = fn(f, sep, ud);
		if (r != 0)
			return r;
	}
	return 0;
}

/* The value of key= in a comma-separated option string (still escaped), or NULL. */
static const char *opt_find(const char *opts, const char *key, size_t *ret_len)
{
	size_t kl = strlen(key);

	for (const char *p = opts; p && *p;) {
		size_t len = strcspn(p, ",");

		if (len > kl && strneq(p, key, kl) && p[kl] == '=') {
			*ret_len = len - kl - 1;
			return p + kl + 1;
		}
		p += len;
		p = *p ? p + 1 : NULL;
	}
	return NULL;
}

/* Docker's overlay2 mounts from inside its storage directory with relative paths when the
 * options would not fit a page: upperdir=HASH/diff for the mount point STORAGE/HASH/merged. */
static char *relative_upper(const char *mp, const char *upper)
{
	const char *slash;
	size_t n = strlen(mp);

	if (!endswith(mp, "/merged") || upper[0] == 0)
		return NULL;
	n -= strlen("/merged");
	slash = memrchr(mp, '/', n);
	if (!slash || slash == mp)
		return NULL;
	return strprintf("%.*s/%s", (int) (slash - mp), mp, upper);
}

/* The upperdir of one line (an overlay), unescaped and absolute; -ENOENT when it has none. */
static int line_upperdir(char **f, int sep, char **ret)
{
	_cleanup_free_ char *up = NULL, *mp = NULL;
	const char *v;
	size_t len;

	*ret = NULL;
	if (!streq(f[sep + 1], "overlay"))
		return -ENOENT;
	v = opt_find(f[sep + 3], "upperdir", &len);
	if (!v || len == 0)
		return -ENOENT;
	up = unescape(v, len);
	if (!up)
		return -ENOMEM;
	if (up[0] == '/') {
		*ret = TAKE_PTR(up);
		return 0;
	}
	mp = unescape(f[4], strlen(f[4]));
	if (!mp)
		return -ENOMEM;
	*ret = relative_upper(mp, up);
	return *ret ? 0 : -ENOENT;
}

struct root_find {
	const char *path;
	bool found;
	char *upper, *fstype;
	int err;
};

static int root_cb(char **f, int sep, void *ud)
{
	struct root_find *u = ud;
	_cleanup_free_ char *mp = unescape(f[4], strlen(f[4]));

	if (!mp)
		return -ENOMEM;
	if (!streq(mp, u->path))
		return 0;
	/* a later mount at the same point shadows an earlier one */
	free(u->upper);
	free(u->fstype);
	u->found = true;
	u->fstype = strdup(f[sep + 1]);
	u->err = line_upperdir(f, sep, &u->upper);
	return u->fstype ? 0 : -ENOMEM;
}

int quota_mountinfo_root_at(const char *mountinfo, const char *path, char **ret_upper,
			    char **ret_fstype)
{
	struct root_find u = { .path = path };
	int r = mountinfo_foreach(mountinfo, root_cb, &u);

	if (r >= 0 && u.found && u.err == 0) {
		*ret_upper = TAKE_PTR(u.upper);
		r = 1;
	} else if (r >= 0 && u.found && u.err == -ENOMEM) {
		r = -ENOMEM;
	} else if (r >= 0 && u.found) {
		*ret_fstype = TAKE_PTR(u.fstype);
		r = -EMEDIUMTYPE;
	}
	free(u.upper);
	free(u.fstype);
	return r;
}

struct dev_find {
	dev_t dev;
	char *upper;
};

static int parse_devno(const char *s, dev_t *ret);

static int dev_cb(char **f, int sep, void *ud)
{
	struct dev_find *u = ud;
	dev_t dev;
	int r;

	if (parse_devno(f[2], &dev) < 0 || dev != u->dev)
		return 0;
	r = line_upperdir(f, sep, &u->upper);
	return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

int quota_mountinfo_upper_by_dev(const char *mountinfo, dev_t dev, char **ret_upper)
{
	struct dev_find u = { .dev = dev };
	int r = mountinfo_foreach(mountinfo, dev_cb, &u);

	if (r < 0)
		return r;
	if (!u.upper)
		return -ENOENT;
	*ret_upper = u.upper;
	return 0;
}

void quota_mnt_done(struct quota_mnt *m)
{
	free(m->mnt);
	free(m->fstype);
	free(m->source);
	*m = (struct quota_mnt){ 0 };
}

struct mnt_find {
	dev_t dev;
	const char *path;
	struct quota_mnt best;
	size_t best_len;
	int err;
};

static int parse_devno(const char *s, dev_t *ret)
{
	unsigned ma, mi;
	int n = 0;

	if (sscanf(s, "%u:%u%n", &ma, &mi, &n) != 2 || s[n] != 0)
		return -EINVAL;
	*ret = makedev(ma, mi);
	return 0;
}

/* The source, if it names a block device node of dev (else NULL: quotactl_fd is the way). */
static char *source_devnode(const char *src, dev_t dev)
{
	struct stat st;
	char *s = unescape(src, strlen(src));

	if (s && s[0] == '/' && stat(s, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
		return s;
	free(s);
	s = strprintf("/dev/block/%u:%u", major(dev), minor(dev));
	if (s && stat(s, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
		return s;
	free(s);
	return NULL;
}

static int mnt_cb(char **f, int sep, void *ud)
{
	struct mnt_find *m = ud;
	_cleanup_free_ char *mp = NULL;
	dev_t dev;
	size_t len;

	if (parse_devno(f[2], &dev) < 0 || dev != m->dev)
		return 0;
	mp = unescape(f[4], strlen(f[4]));
	if (!mp)
		return -ENOMEM;
	len = strlen(mp);
	if (!quota_path_under(m->path, mp) || (m->best.mnt && len < m->best_len))
		return 0;
	quota_mnt_done(&m->best);
	m->best.dev = dev;
	m->best.mnt = TAKE_PTR(mp);
	m->best.fstype = strdup(f[sep + 1]);
	m->best.source = source_devnode(f[sep + 2], dev);
	m->best_len = len;
	return m->best.fstype ? 0 : -ENOMEM;
}

int quota_mountinfo_find(const char *mountinfo, dev_t dev, const char *path, struct quota_mnt *ret)
{
	struct mnt_find m = { .dev = dev, .path = path };
	int r;

	r = mountinfo_foreach(mountinfo, mnt_cb, &m);
	if (r < 0 || !m.best.mnt) {
		quota_mnt_done(&m.best);
		return r < 0 ? r : -ENOENT;
	}
	*ret = m.best;
	return 0;
}
