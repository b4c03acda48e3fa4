/* SPDX-License-Identifier: MIT */
/* qosctl plan DIR: what loading the policy in DIR would change, knob by knob, on every container
 * and tenant cgroup qosd manages. Read only: the policy is parsed, the kernel is read, nothing is
 * written (the enforcers' dry run), and qosd's own policy stays in force. */
#include <jansson.h>

#include "cgroup.h"
#include "control.h"
#include "desired.h"
#include "manager.h"
#include "plan.h"

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* cgroup knobs say so themselves; the others report comparable desired and applied texts */
static bool knob_changes(const struct qos_knob *k)
{
	if (k->error || !k->desired)
		return false;
	if (startswith(k->key, "blkio.") || startswith(k->key, "net.") ||
	    startswith(k->key, "disk."))
		return !k->applied || !streq(k->desired, k->applied);
	return k->would_write;
}

static json_t *changes_json(const struct qos_report *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct qos_knob *k = &r->v[i];

		if (knob_changes(k))
			json_array_append_new(arr,
					      json_pack("{s:s,s:s,s:o,s:s}", "key", k->key,
							"object", k->object, "now",
							jstr(k->applied), "would", k->desired));
		else if (k->error && k->desired)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:s,s:o}", "key", k->key,
							     "object", k->object, "now",
							     jstr(k->applied), "would", k->desired,
							     "error", jstr(k->error_msg)));
	}
	return arr;
}

static json_t *plan_container(struct manager *m, struct container *c)
{
	const struct qos_tenant *t = NULL;
	const struct qos_class *cls = NULL;
	const char *origin = NULL;
	_cleanup_free_ char *why = NULL, *msg = NULL;
	struct qos_report r = { 0 };
	json_t *o;
	int k = manager_assignment(m, c, &t, &cls, &origin, &why);

	o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id", c->id, "cgroup", c->cgpath,
		      "tenant_now", jstr(c->tenant), "class_now", jstr(c->cls), "tenant",
		      jstr(t ? t->name : NULL), "class", jstr(cls ? cls->name : NULL), "origin",
		      jstr(origin));
	if (!o)
		return NULL;
	if (k < 0) {
		json_object_set_new(o, "loses_class", json_string(why ? why : "no class"));
		return o; /* orphaned: qosd keeps the limits it last applied */
	}
	if (k == 0) {
		if (c->cls)
			json_object_set_new(o, "loses_class",
					    json_string("no operator, hook or [match] rule names "
							"a class any more"));
		return o;
	}
	if (manager_dry_run(m, c, t, cls, &r, &msg) < 0) {
		json_object_set_new(o, "error", json_string(msg ? msg : "cannot compute"));
		return o;
	}
	json_object_set_new(o, "knobs", changes_json(&r));
	report_done(&r);
	return o;
}

static const struct tenant_state *tenant_known(const struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->n_tenants; i++)
		if (streq(m->tenants[i].name, name))
			return &m->tenants[i];
	return NULL;
}

static json_t *plan_tenant(struct manager *m, const struct qos_tenant *t)
{
	const struct tenant_state *ts = tenant_known(m, t->name);
	const char *parent = m->cfg->tenant_parent;
	_cleanup_free_ char *cgpath = NULL, *msg = NULL;
	struct qos_desired d = { 0 };
	struct qos_report r = { 0 };
	struct reconcile_target tg = { 0 };
	char base[64];
	json_t *o;

	cgpath = ts ? strdup(ts->cgpath)
		    : strprintf("%s/qosd-%s", streq(parent, "/") ? "" : parent, t->name);
	if (!cgpath)
		return NULL;
	o = json_pack("{s:s,s:s,s:b}", "tenant", t->name, "cgroup", cgpath, "create",
		      !cg_exists(m->env.cg, cgpath));
	if (!o ||
	    desired_compute(&t->budget, QOS_SRC_TENANT, NULL, ts ? ts->owned : 0, &d, &msg) < 0) {
		if (o)
			json_object_set_new(o, "error", jstr(msg));
		return o;
	}
	snprintf(base, sizeof(base), "tenant %s", t->name);
	tg.cgpath = cgpath;
	tg.base = base;
	(void) reconcile_one(&m->env, &tg, &d, true, &r);
	json_object_set_new(o, "knobs", changes_json(&r));
	report_done(&r);
	desired_done(&d);
	return o;
}

char *plan_reply(struct manager *m, const char *dir)
{
	struct qos_policy *p = NULL, *keep = m->policy;
	_cleanup_free_ char *errors = NULL;
	json_t *cs, *ts, *o;
	char *s;
	int r = policy_load_dir(dir, &p, &errors);

	if (r < 0) {
		o = json_pack("{s:b,s:s,s:s}", "ok", 1, "dir", dir, "refused",
			      errors ? errors : strerror(-r));
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		return s;
	}
	/* evaluate every container under the new policy; nothing below writes */
	m->policy = p;
	cs = json_array();
	for (size_t i = 0; i < registry_size(m->reg); i++) {
		struct container *c = registry_at(m->reg, i);

		if (cg_exists(m->env.cg, c->cgpath))
			json_array_append_new(cs, plan_container(m, c));
	}
	ts = json_array();
	for (size_t i = 0; i < p->n_tenants; i++)
		if (p->tenants[i].has_budget)
			json_array_append_new(ts, plan_tenant(m, &p->tenants[i]));
	m->policy = keep;
	policy_free(p);
	o = json_pack("{s:b,s:s,s:o,s:o}", "ok", 1, "dir", dir, "containers", cs, "tenants", ts);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}
