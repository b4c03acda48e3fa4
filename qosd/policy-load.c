/* SPDX-License-Identifier: MIT */
/* The policy loader: a directory of tenant files (or one file) read whole, each through the
 * parser, all-or-nothing; lookups in the loaded policy; io targets out of a blkio value. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>

#include "keys.h"
#include "limits.h"
#include "policy-internal.h"
#include "policy.h"
#include "units.h"
#include "util.h"

#define FILE_MAX_BYTES (1024 * 1024)

/* "dir/acme.conf" -> "acme" */
static char *tenant_name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (endswith(base, ".conf"))
		n -= strlen(".conf");
	return strndup(base, n);
}

static int file_error(char **ret_errors, int r, const char *fmt, ...) _printf_(3, 4);
static int file_error(char **ret_errors, int r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!ret_errors)
		return r;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return -ENOMEM;
	*ret_errors = msg;
	return r;
}

/* A NUL makes the rest of the file invisible to string functions: refuse, naming the line. */
static int check_nul(const char *path, const char *buf, size_t len, char **ret_errors)
{
	const char *nul = memchr(buf, 0, len);
	unsigned line = 1;

	if (!nul)
		return 0;
	for (const char *c = buf; c < nul; c++)
		line += *c == '\n';
	return file_error(ret_errors, -EINVAL, "%s:%u: NUL byte (not a text file)\n", path, line);
}

/* Read path (shown as path) into a tenant named after the file. */
static int load_file_at(int dirfd, const char *name, const char *path, struct qos_tenant **ret,
			char **ret_errors)
{
	_cleanup_free_ char *buf = NULL, *tname = NULL;
	int r;

	r = read_file_at(dirfd, name, FILE_MAX_BYTES, &buf);
	if (r == -EFBIG)
		return file_error(ret_errors, -EFBIG, "%s: file too large (more than %d bytes)\n",
				  path, FILE_MAX_BYTES);
	if (r < 0)
		return file_error(ret_errors, r, "%s: cannot read: %s\n", path, strerror(-r));
	r = check_nul(path, buf, (size_t) r, ret_errors);
	if (r < 0)
		return r;
	tname = tenant_name_from_path(path);
	if (!tname)
		return -ENOMEM;
	return policy_load_string(tname, path, buf, ret, ret_errors);
}

int policy_load_file(const char *path, struct qos_tenant **ret, char **ret_errors)
{
	return load_file_at(AT_FDCWD, path, path, ret, ret_errors);
}

/* Frees what t owns, not t itself. */
static void tenant_clear(struct qos_tenant *t)
{
	free(t->name);
	free(t->file);
	qos_settings_done(&t->budget);
	for (size_t i = 0; i < t->n_classes; i++) {
		free(t->classes[i].name);
		qos_settings_done(&t->classes[i].s);
	}
	free(t->classes);
	for (size_t i = 0; i < t->n_matches; i++) {
		free(t->matches[i].glob);
		free(t->matches[i].cls);
	}
	free(t->matches);
	for (size_t i = 0; i < t->n_claims; i++) {
		free(t->claims[i].key);
		free(t->claims[i].glob);
	}
	free(t->claims);
	*t = (struct qos_tenant){ 0 };
}

void tenant_free(struct qos_tenant *t)
{
	if (!t)
		return;
	tenant_clear(t);
	free(t);
}

void policy_free(struct qos_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_tenants; i++)
		tenant_clear(&p->tenants[i]);
	free(p->tenants);
	free(p->dir);
	free(p);
}

static void policy_freep(struct qos_policy **p)
{
	policy_free(*p);
}

static int is_conf(const struct dirent *d)
{
	return endswith(d->d_name, ".conf");
}

/* strcmp, not strcoll: the order must not depend on the locale qosd runs in */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int policy_add(struct qos_policy *p, struct qos_tenant *t)
{
	struct qos_tenant *n;

	n = reallocarray(p->tenants, p->n_tenants + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->tenants = n;
	n[p->n_tenants++] = *t;
	free(t); /* the shell only: its contents now live in the array */
	return 0;
}

/* Load every file of the sorted list into p; errors of all files go to *errs. */
static int load_entries(struct qos_policy *p, int dfd, struct dirent **list, int n, char **errs)
{
	int ret = 0, r;

	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL, *e = NULL;
		struct qos_tenant *t = NULL;

		path = strprintf("%s%s%s", p->dir, endswith(p->dir, "/") ? "" : "/",
				 list[i]->d_name);
		if (!path)
			return -ENOMEM;
		r = load_file_at(dfd, list[i]->d_name, path, &t, &e);
		if (r == -ENOMEM || (e && strextend(errs, "%s", e) < 0))
			return -ENOMEM;
		if (r < 0) {
			ret = -EINVAL;
			continue;
		}
		if (policy_add(p, t) < 0) {
			tenant_free(t);
			return -ENOMEM;
		}
	}
	return ret;
}

static void dirents_free(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int policy_load_dir(const char *dir, struct qos_policy **ret, char **ret_errors)
{
	_cleanup_(policy_freep) struct qos_policy *p = NULL;
	_cleanup_free_ char *errs = NULL;
	_cleanup_close_ int dfd = -1;
	struct dirent **list = NULL;
	int n, r;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = negative_errno();
		return file_error(ret_errors, r, "%s: %s\n", dir,
				  r == -ENOENT ? "no such directory" : strerror(-r));
	}
	n = scandirat(dfd, ".", &list, is_conf, name_cmp);
	if (n < 0) {
		r = negative_errno();
		return file_error(ret_errors, r, "%s: cannot list: %s\n", dir, strerror(-r));
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->dir = strdup(dir);
	r = p && p->dir ? load_entries(p, dfd, list, n, &errs) : -ENOMEM;
	dirents_free(list, n);
	if (r < 0) {
		if (r == -EINVAL && ret_errors)
			*ret_errors = TAKE_PTR(errs);
		return r;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

const struct qos_tenant *policy_tenant(const struct qos_policy *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_tenants; i++)
		if (streq(p->tenants[i].name, name))
			return &p->tenants[i];
	return NULL;
}

const struct qos_class *policy_class(const struct qos_tenant *t, const char *name)
{
	for (size_t i = 0; t && i < t->n_classes; i++)
		if (streq(t->classes[i].name, name))
			return &t->classes[i];
	return NULL;
}

int policy_match_rule(const struct qos_policy *p, const char *cgpath,
		      const struct qos_tenant **ret_t, const struct qos_match **ret_rule)
{
	for (size_t i = 0; p && i < p->n_tenants; i++) {
		const struct qos_tenant *t = &p->tenants[i];

		for (size_t j = 0; j < t->n_matches; j++) {
			if (fnmatch(t->matches[j].glob, cgpath, FNM_PATHNAME) != 0)
				continue;
			*ret_t = t;
			*ret_rule = &t->matches[j];
			return 1;
		}
	}
	return -ENOENT;
}

int policy_match(const struct qos_policy *p, const char *cgpath, const struct qos_tenant **ret_t,
		 const struct qos_class **ret_c)
{
	const struct qos_tenant *t;
	const struct qos_match *rule;
	int r = policy_match_rule(p, cgpath, &t, &rule);

	if (r < 0)
		return r;
	if (ret_t)
		*ret_t = t;
	if (ret_c)
		*ret_c = policy_class(t, rule->cls);
	return 1;
}

static void io_targets_free(struct qos_io_target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].target);
	free(v);
}

/* One "TARGET RATE" item of a canonical value into *t. */
static int io_target_parse(char *item, int kind, struct qos_io_target *t)
{
	char *target, *rate;
	uint64_t v;
	int r;

	r = policy_blkio_split(strstrip(item), &target, &rate);
	if (r < 0)
		return r;
	if (kind == QOS_IO_RBPS || kind == QOS_IO_WBPS)
		r = parse_size(rate, &v);
	else
		r = parse_u64(rate, &v);
	if (r < 0)
		return r;
	*t = (struct qos_io_target){ .target = strdup(target), .kind = kind, .value = v };
	return t->target ? 0 : -ENOMEM;
}

int policy_io_targets(const struct qos_value *v, int kind, struct qos_io_target **targets,
		      size_t *n)
{
	_cleanup_free_ char *copy = NULL;
	struct qos_io_target *out = NULL, *nv;
	size_t count = 0;
	char *p, *item;
	int r = 0;

	if (!v->set || !v->str || kind < 0 || kind >= _QOS_IO_KIND_MAX)
		return -EINVAL;
	copy = strdup(v->str);
	if (!copy)
		return -ENOMEM;
	for (p = copy; r >= 0 && (item = strsep(&p, ","));) {
		nv = reallocarray(out, count + 1, sizeof(*out));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		out = nv;
		r = io_target_parse(item, kind, &out[count]);
		if (r >= 0)
			count++;
	}
	if (r < 0) {
		io_targets_free(out, count);
		return r;
	}
	*targets = out;
	*n = count;
	return 0;
}
