/* SPDX-License-Identifier: MIT */
/* The manager's policy: loaded at start, reloaded on SIGHUP or qosctl reload, and the [match]
 * roots it watches. */
#include <systemd/sd-daemon.h>

#include "controller.h"
#include "log.h"
#include "manager-internal.h"
#include "watch.h"

int set_globs(struct manager *m)
{
	_cleanup_free_ const char **globs = NULL;
	size_t n = 0, cap = 0;
	int r;

	for (size_t i = 0; i < m->policy->n_tenants; i++)
		cap += m->policy->tenants[i].n_matches;
	globs = calloc(cap + 1, sizeof(char *));
	if (!globs)
		return -ENOMEM;
	for (size_t i = 0; i < m->policy->n_tenants; i++)
		for (size_t j = 0; j < m->policy->tenants[i].n_matches; j++)
			globs[n++] = m->policy->tenants[i].matches[j].glob;
	r = watch_set_globs(m->watch, globs, n);
	for (size_t i = 0; i < registry_size(m->reg); i++)
		manager_watch_exit(m, registry_at(m->reg, i));
	return r;
}

void manager_watch_exit(struct manager *m, struct container *c)
{
	int r = c->matched ? 0 : watch_add_exit(m->watch, c->cgpath);

	if (r < 0 && r != -ENOENT)
		log_debug("cannot watch %s for its removal (the drift pass will notice): %s",
			  c->cgpath, strerror(-r));
}

static uint32_t set_keys(const struct qos_class *cls)
{
	uint32_t keys = 0;

	for (int k = 0; cls && k < _QK_MAX; k++)
		if (cls->s.v[k].set)
			keys |= 1u << k;
	return keys;
}

/* Keys a class sets the same way in both policies (or in neither). */
static uint32_t same_keys(const struct qos_class *a, const struct qos_class *b)
{
	uint32_t same = 0;

	for (int k = 0; k < _QK_MAX; k++) {
		const struct qos_value *x = &a->s.v[k], *y = &b->s.v[k];

		if (x->set == y->set && (!x->set || (x->num == y->num && streq(x->str, y->str))))
			same |= 1u << k;
	}
	return same;
}

/* Before a reload's pass: the keys of c's class that the new policy leaves as they were and that
 * held after the last pass are not read again (a reload of 10,000 containers that changes one
 * key reads and writes that key's knob alone); what the pass writes is the new policy, not a
 * correction of drift (verified cleared for the changed keys). A class with a priority (the
 * controller moves its knobs) is read in full. */
static void reload_compare(struct manager *m, const struct qos_policy *old, struct container *c)
{
	const struct qos_tenant *ot = c->tenant ? policy_tenant(old, c->tenant) : NULL;
	const struct qos_class *ocls = ot && c->cls ? policy_class(ot, c->cls) : NULL, *cls = NULL;
	const struct qos_tenant *t = NULL;
	_cleanup_free_ char *why = NULL;
	const char *origin = NULL;
	uint32_t same = 0;

	if (ocls && manager_assignment(m, c, &t, &cls, &origin, &why) > 0 && cls &&
	    streq(cls->name, ocls->name) && t && streq(t->name, ot->name) &&
	    !cls->s.v[QK_PRIORITY].set && !ocls->s.v[QK_PRIORITY].set)
		same = same_keys(ocls, cls);
	c->verified &= same;
	/* with the keys neither policy sets and qosd never set (nothing to do for them: a group
	 * such as shares + weight is left when its one set key held) */
	c->reload_same = c->verified ? c->verified | (same & ~c->owned & ~set_keys(cls)) : 0;
	c->reload_cls = c->reload_same ? cls : NULL;
}

int manager_reload(struct manager *m, char **ret_msg)
{
	struct qos_policy *p = NULL, *old;
	_cleanup_free_ char *errors = NULL;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the policy",
		   (unsigned long long) now_usec());
	r = policy_load_dir(m->cfg->config_dir, &p, &errors);
	if (r < 0) {
		log_error("reload refused, the previous policy stays in force:\n%s",
			  errors ? errors : strerror(-r));
		sd_notifyf(0, "READY=1\nSTATUS=reload refused (previous policy in force): %s",
			   errors ? errors : strerror(-r));
		*ret_msg = TAKE_PTR(errors);
		return r;
	}
	old = m->policy;
	m->policy = p;
	for (size_t i = 0; i < registry_size(m->reg); i++)
		reload_compare(m, old, registry_at(m->reg, i));
	policy_free(old);
	log_info("policy reloaded from %s: %zu tenant(s)", m->cfg->config_dir, p->n_tenants);
	r = set_globs(m);
	if (r < 0)
		log_warning_errno(r, "cannot watch every [match] root, ignoring");
	(void) controller_configure(m);
	manager_mark_all_dirty(m);
	sd_notifyf(0, "READY=1\nSTATUS=%zu tenant(s), %zu container(s)", p->n_tenants,
		   registry_size(m->reg));
	return 0;
}

int load_policy(struct manager *m)
{
	_cleanup_free_ char *errors = NULL;
	int r = policy_load_dir(m->cfg->config_dir, &m->policy, &errors);

	if (r < 0)
		return log_error_errno(r, "refusing to start: the policy in %s is invalid:\n%s",
				       m->cfg->config_dir, errors ? errors : "");
	log_info("policy: %zu tenant(s) from %s", m->policy->n_tenants, m->cfg->config_dir);
	return 0;
}
