/* SPDX-License-Identifier: MIT */
/* The manager's tenant cgroups: a [tenant] budget applied to the cgroup qosd makes for it. */

#include "assign.h"
#include "desired.h"
#include "log.h"
#include "manager-internal.h"

void tenants_clear(struct manager *m)
{
	for (size_t i = 0; i < m->n_tenants; i++) {
		free(m->tenants[i].name);
		free(m->tenants[i].cgpath);
		free(m->tenants[i].status);
	}
	free(m->tenants);
	m->tenants = NULL;
	m->n_tenants = 0;
}

static struct tenant_state *tenant_state(struct manager *m, const char *name)
{
	struct tenant_state *v;
	const char *parent = m->cfg->tenant_parent;

	for (size_t i = 0; i < m->n_tenants; i++)
		if (streq(m->tenants[i].name, name))
			return &m->tenants[i];
	v = realloc(m->tenants, (m->n_tenants + 1) * sizeof(*v));
	if (!v)
		return NULL;
	m->tenants = v;
	v = &v[m->n_tenants];
	*v = (struct tenant_state){ 0 };
	v->name = strdup(name);
	v->cgpath = m->env.sd ? reconcile_tenant_slice(name) : assign_tenant_cgroup(parent, name);
	if (!v->name || !v->cgpath) {
		free(v->name);
		free(v->cgpath);
		return NULL;
	}
	m->n_tenants++;
	return v;
}

static void apply_tenant(struct manager *m, const struct qos_tenant *t)
{
	struct tenant_state *ts = tenant_state(m, t->name);
	struct log_ctx lc = { .tenant = t->name };
	_cleanup_free_ char *msg = NULL;
	struct qos_desired d = { 0 };
	struct qos_report r = { 0 };
	struct reconcile_target tg = { 0 };
	char base[64];
	int k;

	if (!ts)
		return;
	k = reconcile_make_tenant(&m->env, t->name, ts->cgpath, &msg);
	if (k < 0) {
		log_full(LOG_ERR, k, &lc, "cannot create the tenant cgroup %s%s%s", ts->cgpath,
			 msg ? ": " : "", msg ? msg : "");
		set_status(&ts->status, "error: cannot create %s: %s", ts->cgpath, strerror(-k));
		return;
	}
	k = desired_compute(&t->budget, QOS_SRC_TENANT, NULL, ts->owned, &d, &msg);
	if (k < 0) {
		log_full(LOG_ERR, 0, &lc, "tenant budget: %s", msg ? msg : strerror(-k));
		return;
	}
	snprintf(base, sizeof(base), "tenant %s", t->name);
	tg.cgpath = ts->cgpath;
	tg.base = base;
	(void) reconcile_one(&m->env, &tg, &d, false, &r);
	for (size_t i = 0; i < r.n; i++)
		if (r.v[i].error)
			log_full(LOG_WARNING, 0, &lc, "tenant cgroup %s: %s: %s", ts->cgpath,
				 r.v[i].object, r.v[i].error_msg ? r.v[i].error_msg : "failed");
	ts->owned = owned_after(&d, &r);
	set_status(&ts->status, report_errors(&r) ? "errors" : "ok");
	report_done(&r);
	desired_done(&d);
}

void apply_tenants(struct manager *m)
{
	m->tenants_dirty = false;
	for (size_t i = 0; i < m->policy->n_tenants; i++)
		if (m->policy->tenants[i].has_budget)
			apply_tenant(m, &m->policy->tenants[i]);
}
