/* SPDX-License-Identifier: MIT */
/* The policy parser on a whole file, then everything the daemon derives from a parsed tenant:
 * desired limits for every class and for the [tenant] budget (with and without previously owned
 * keys, and with another class's settings as overrides), the blkio target lists, and the [claim]
 * binding (assign.c) for claims built from the file's own globs and a few fixed ones. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qosd/assign.h"
#include "qosd/desired.h"
#include "qosd/limits.h"
#include "qosd/policy.h"
#include "qosd/util.h"

#define ALL_KEYS ((uint32_t) ((1u << _QK_MAX) - 1))

static void desired_once(const struct qos_settings *base, enum qos_source src,
			 const struct qos_settings *ovr, uint32_t owned)
{
	struct qos_desired d = { 0 };
	char *msg = NULL;

	if (desired_compute(base, src, ovr, owned, &d, &msg) >= 0) {
		for (int k = 0; k < _QK_MAX; k++) {
			/* a key is owned next time exactly when it is set now */
			if (!!(d.keys & (1u << k)) != d.merged.v[k].set)
				abort();
			(void) qos_source_name(d.src[k]);
		}
		desired_done(&d);
	}
	free(msg);
}

static void io_targets(const struct qos_settings *s)
{
	static const enum qos_key keys[] = { QK_BLKIO_READ_BPS, QK_BLKIO_WRITE_BPS,
					     QK_BLKIO_READ_IOPS, QK_BLKIO_WRITE_IOPS };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct qos_io_target *t = NULL;
		size_t n = 0;

		if (!s->v[keys[i]].set)
			continue;
		if (policy_io_targets(&s->v[keys[i]], (int) i, &t, &n) < 0)
			continue;
		for (size_t j = 0; j < n; j++)
			free(t[j].target);
		free(t);
	}
}

static void settings(const struct qos_settings *s, enum qos_source src,
		     const struct qos_settings *other)
{
	char *msg = NULL;

	(void) qos_settings_check(s, &msg);
	free(msg);
	desired_once(s, src, NULL, 0);
	desired_once(s, src, NULL, ALL_KEYS);
	desired_once(NULL, src, s, ALL_KEYS);
	if (other)
		desired_once(s, src, other, 0);
	io_targets(s);
}

/* What the watcher does with a new cgroup: the first [match] glob wins, and a parsed policy never
 * names a class it does not define. */
static void match(struct qos_tenant *t)
{
	static const char *const paths[] = { "/", "/docker/4f1c2a9b",
					     "/system.slice/docker-a.scope", "/qosd-demo/gold-1",
					     "/a/b/c" };
	struct qos_policy p = { .dir = (char *) ".", .tenants = t, .n_tenants = 1 };
	const struct qos_tenant *rt;
	const struct qos_class *rc;

	for (size_t i = 0; i < t->n_classes; i++)
		if (policy_class(t, t->classes[i].name) != &t->classes[i])
			abort();
	if (policy_tenant(&p, t->name) != t)
		abort();
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) + t->n_matches; i++) {
		const char *path = i < sizeof(paths) / sizeof(paths[0])
					   ? paths[i]
					   : t->matches[i - sizeof(paths) / sizeof(paths[0])].glob;

		rt = NULL;
		rc = NULL;
		if (policy_match(&p, path, &rt, &rc) == 1 && (rt != t || !rc))
			abort();
	}
}

/* One claim against t alone and against t among two tenants: a refusal always names the tenant;
 * anyone = yes never refuses; no [claim] refuses exactly when there are two tenants; the
 * operator's word is never refused. */
static void claim_once(struct qos_tenant *t, const char *cgpath, char *const *ann, size_t n_ann)
{
	struct qos_tenant two[2] = { *t, { .name = (char *) "other", .file = (char *) "o.conf" } };
	struct qos_policy p1 = { .tenants = t, .n_tenants = 1 };
	struct qos_policy p2 = { .tenants = two, .n_tenants = 2 };
	const struct assign_claim c = { cgpath, ann, n_ann };
	const struct qos_policy *ps[] = { &p1, &p2 };

	for (size_t i = 0; i < 2; i++) {
		const struct assign_input op = { .op_tenant = t->name,
						 .op_cls = t->n_classes ? t->classes[0].name : NULL,
						 .hook_tenant = t->name,
						 .claim = c };
		const struct assign_input hook = { .hook_tenant = t->name,
						   .hook_cls = op.op_cls,
						   .claim = c };
		const struct qos_tenant *rt;
		const struct qos_class *rc;
		const char *origin;
		char *msg = NULL;
		int r = assign_claim_check(ps[i], &ps[i]->tenants[0], &c, &msg);

		if ((r < 0) != (msg != NULL) || (r < 0 && !strstr(msg, t->name)))
			abort();
		if ((t->claim_anyone && r < 0) || (!t->claim_line && (r < 0) != (i == 1)))
			abort();
		free(msg);
		msg = NULL;
		if (assign_resolve(ps[i], &op, &rt, &rc, &origin, &msg) == -EPERM)
			abort();
		free(msg);
		msg = NULL;
		/* the hook's claim is refused on every pass exactly when the registration is */
		if (op.op_cls &&
		    (assign_resolve(ps[i], &hook, &rt, &rc, &origin, &msg) == -EPERM) != (r < 0))
			abort();
		free(msg);
	}
}

static void claims(struct qos_tenant *t)
{
	static const char *const paths[] = { "/", "/kubepods.slice/pod1/c1", "/docker/x" };
	char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		claim_once(t, paths[i], NULL, 0);
	/* each cgroup glob as a path; every annotation glob as its own value */
	for (size_t i = 0; i < t->n_claims; i++)
		if (t->claims[i].kind == QOS_CLAIM_CGROUP)
			claim_once(t, t->claims[i].glob, NULL, 0);
		else if (annotation_add(&v, &n, t->claims[i].key, t->claims[i].glob) < 0)
			break;
	for (size_t i = 0; i < t->n_claims; i++)
		if (t->claims[i].kind == QOS_CLAIM_CGROUP)
			claim_once(t, t->claims[i].glob, v, n);
	claim_once(t, "/", v, n);
	strv_free_n(v, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qos_tenant *t = NULL;
	char *text, *errors = NULL;

	/* the file loader refuses NUL bytes before parsing */
	if (memchr(data, 0, size))
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	if (policy_load_string("fuzz", "fuzz.conf", text, &t, &errors) >= 0) {
		if (t->has_budget)
			settings(&t->budget, QOS_SRC_TENANT, NULL);
		for (size_t i = 0; i < t->n_classes; i++)
			settings(&t->classes[i].s, QOS_SRC_CLASS,
				 t->n_classes > 1 ? &t->classes[(i + 1) % t->n_classes].s : NULL);
		match(t);
		claims(t);
		tenant_free(t);
	}
	free(errors);
	free(text);
	return 0;
}
