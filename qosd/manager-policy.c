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

int manager_reload(struct manager *m, char **ret_msg)
{
	struct qos_policy *p = NULL;
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
	policy_free(m->policy);
	m->policy = p;
	/* what the next pass writes is the new policy, not a correction of drift */
	for (size_t i = 0; i < registry_size(m->reg); i++)
		registry_at(m->reg, i)->verified = 0;
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
