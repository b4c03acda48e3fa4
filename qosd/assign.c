/* SPDX-License-Identifier: MIT */
#include <fnmatch.h>

#include "assign.h"
#include "util.h"

const struct qos_tenant *assign_tenant_with_class(const struct qos_policy *p, const char *cls)
{
	const struct qos_tenant *found = NULL;

	for (size_t i = 0; i < p->n_tenants; i++)
		if (policy_class(&p->tenants[i], cls)) {
			if (found)
				return NULL;
			found = &p->tenants[i];
		}
	return found;
}

static bool same_group(const struct qos_claim *a, const struct qos_claim *b)
{
	return a->kind == b->kind && (a->kind == QOS_CLAIM_CGROUP || streq(a->key, b->key));
}

static bool rule_holds(const struct qos_claim *r, const struct assign_claim *c)
{
	const char *v;

	if (r->kind == QOS_CLAIM_CGROUP)
		return c->cgpath && fnmatch(r->glob, c->cgpath, FNM_PATHNAME) == 0;
	v = annotation_get(c->annotations, c->n_annotations, r->key);
	return v && fnmatch(r->glob, v, 0) == 0;
}

/* Rules of one kind (cgroup, or one annotation key) are alternatives: any one holds. */
static bool group_holds(const struct qos_tenant *t, size_t first, const struct assign_claim *c)
{
	for (size_t j = first; j < t->n_claims; j++)
		if (same_group(&t->claims[first], &t->claims[j]) && rule_holds(&t->claims[j], c))
			return true;
	return false;
}

static bool group_seen(const struct qos_tenant *t, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (same_group(&t->claims[j], &t->claims[i]))
			return true;
	return false;
}

static int refuse_group(const struct qos_tenant *t, const struct qos_claim *r,
			const struct assign_claim *c, char **ret_msg)
{
	const char *v = r->kind == QOS_CLAIM_ANNOTATION
				? annotation_get(c->annotations, c->n_annotations, r->key)
				: NULL;

	if (r->kind == QOS_CLAIM_CGROUP)
		*ret_msg =
			strprintf("tenant \"%s\" may not be claimed from cgroup %s: no [claim] "
				  "cgroup glob matches it (%s:%u: cgroup = %s)",
				  t->name, c->cgpath ? c->cgpath : "?", t->file, r->line, r->glob);
	else
		*ret_msg =
			strprintf("tenant \"%s\" may not be claimed by this container: its "
				  "annotation %s is %s%s%s, which no [claim] rule for it matches "
				  "(%s:%u: annotation.%s = %s)",
				  t->name, r->key, v ? "\"" : "", v ? v : "not set", v ? "\"" : "",
				  t->file, r->line, r->key, r->glob);
	return -EPERM;
}

int assign_claim_check(const struct qos_policy *p, const struct qos_tenant *t,
		       const struct assign_claim *claim, char **ret_msg)
{
	if (!t->claim_line) {
		if (p->n_tenants <= 1)
			return 0;
		*ret_msg = strprintf("tenant \"%s\" may not be claimed by a container's "
				     "annotations: %s has no [claim] section and the policy has "
				     "%zu tenants (add [claim] with cgroup = GLOB or "
				     "annotation.KEY = GLOB, or use a [match] rule)",
				     t->name, t->file, p->n_tenants);
		return -EPERM;
	}
	if (t->claim_anyone)
		return 0;
	for (size_t i = 0; i < t->n_claims; i++)
		if (!group_seen(t, i) && !group_holds(t, i, claim))
			return refuse_group(t, &t->claims[i], claim, ret_msg);
	return 0;
}

/* The tenant a registration names: its own, or the one defining its class. */
static int named_tenant(const struct qos_policy *p, const char *config_dir, const char *tenant,
			const char *cls, const struct qos_tenant **ret, char **ret_msg)
{
	const struct qos_tenant *t = NULL;

	if (tenant && !(t = policy_tenant(p, tenant))) {
		*ret_msg = strprintf("unknown tenant \"%s\" (no %s/%s.conf)", tenant, config_dir,
				     tenant);
		return -ENOENT;
	}
	if (cls && t && !policy_class(t, cls)) {
		*ret_msg = strprintf("tenant \"%s\" has no class \"%s\"", tenant, cls);
		return -ENOENT;
	}
	if (cls && !t && !(t = assign_tenant_with_class(p, cls))) {
		*ret_msg = strprintf(
			"class \"%s\" is not defined by exactly one tenant: name the tenant", cls);
		return -ENOENT;
	}
	*ret = t;
	return 0;
}

int assign_check_registration(const struct qos_policy *p, const char *config_dir,
			      const char *tenant, const char *cls, const struct assign_claim *claim,
			      char **ret_msg)
{
	const struct assign_input in = { .hook_tenant = tenant, .hook_cls = cls, .claim = *claim };
	const struct qos_tenant *t = NULL;
	const struct qos_class *c = NULL;
	const char *origin;
	int r = named_tenant(p, config_dir, tenant, cls, &t, ret_msg);

	if (r < 0)
		return r;
	/* the binding exactly as every later pass applies it */
	r = assign_resolve(p, &in, &t, &c, &origin, ret_msg);
	return r == -EPERM ? r : 0;
}

static int resolve_names(const struct qos_policy *p, const char *tname, const char *cname,
			 const struct qos_tenant **t, const struct qos_class **cls, char **ret_why)
{
	if (!tname) {
		*t = assign_tenant_with_class(p, cname);
		if (!*t)
			return (*ret_why = strprintf(
					"class \"%s\" names no single tenant: give tenant=",
					cname)),
			       -ENOENT;
	} else if (!(*t = policy_tenant(p, tname)))
		return (*ret_why = strprintf("tenant \"%s\" has no policy file (removed?)", tname)),
		       -ENOENT;
	*cls = policy_class(*t, cname);
	if (!*cls)
		return (*ret_why =
				strprintf("tenant \"%s\" has no class \"%s\"", (*t)->name, cname)),
		       -ENOENT;
	return 1;
}

int assign_resolve(const struct qos_policy *p, const struct assign_input *in,
		   const struct qos_tenant **t, const struct qos_class **cls, const char **origin,
		   char **ret_why)
{
	const struct qos_tenant *mt = NULL;
	const struct qos_class *mc = NULL;
	const char *tname, *cname;
	bool by_hook;
	int r;

	(void) policy_match(p, in->claim.cgpath, &mt, &mc);
	cname = in->op_cls ? in->op_cls : in->hook_cls ? in->hook_cls : mc ? mc->name : NULL;
	*origin = in->op_cls ? "operator" : in->hook_cls ? "hook" : mc ? "match" : NULL;
	tname = in->op_tenant	  ? in->op_tenant
		: in->hook_tenant ? in->hook_tenant
		: mt		  ? mt->name
				  : NULL;
	*t = NULL;
	*cls = NULL;
	if (!cname)
		return 0;
	r = resolve_names(p, tname, cname, t, cls, ret_why);
	/* the tenant came from the hook (named, or the owner of the class it named; not from
	 * the operator or a [match] rule): bound by its [claim] */
	by_hook = !in->op_tenant && (in->hook_tenant || (!mt && !in->op_cls && in->hook_cls));
	if (r > 0 && by_hook && assign_claim_check(p, *t, &in->claim, ret_why) < 0) {
		*t = NULL;
		*cls = NULL;
		return -EPERM;
	}
	return r;
}

static bool key_claimed(const struct qos_policy *p, const char *kv)
{
	size_t l = strcspn(kv, "=");

	for (size_t i = 0; i < p->n_tenants; i++)
		for (size_t j = 0; j < p->tenants[i].n_claims; j++) {
			const struct qos_claim *r = &p->tenants[i].claims[j];

			if (r->kind == QOS_CLAIM_ANNOTATION && strlen(r->key) == l &&
			    strneq(r->key, kv, l))
				return true;
		}
	return false;
}

void assign_keep_claimed(const struct qos_policy *p, char **v, size_t *n)
{
	size_t o = 0;

	for (size_t i = 0; i < *n; i++) {
		if (key_claimed(p, v[i]))
			v[o++] = v[i];
		else
			free(v[i]);
	}
	if (v)
		v[o] = NULL;
	*n = o;
}

char *assign_tenant_cgroup(const char *parent, const char *tenant)
{
	return strprintf("%s/qosd-%s", streq(parent, "/") ? "" : parent, tenant);
}
