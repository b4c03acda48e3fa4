/* SPDX-License-Identifier: MIT */
/* The manager's event sources: passes over dirty containers, retries, drift, signals, cgroup,
 * block-device and link events. */
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "blkio/blkio.h"
#include "cgroup.h"
#include "log.h"
#include "manager-internal.h"
#include "tc/tc.h"
#include "watch.h"

/* A pass reconciles dirty containers for at most this long, then lets the event loop answer the
 * socket and take events before it goes on: 10,000 containers, or netlink calls the kernel is
 * slow to take (rtnl contention), never keep qosctl waiting for a whole pass. */
#define PASS_SLICE_USEC (50 * 1000ULL)

/* Reconcile dirty containers until none is left or budget_usec has passed (then the defer source
 * runs again after the loop's other sources: the rest waits one turn, nothing is lost). */
void run_pass(struct manager *m, uint64_t budget_usec)
{
	uint64_t end = budget_usec == UINT64_MAX ? UINT64_MAX : now_usec() + budget_usec;

	/* this pass does what the defer source would: it is armed again only for what is left
	 * (budget spent) or what the pass itself marks dirty */
	if (m->defer_src)
		sd_event_source_set_enabled(m->defer_src, SD_EVENT_OFF);
	if (m->tenants_dirty)
		apply_tenants(m);
	/* a request's pass (nothing dirty but its record to save) scans nothing: O(dirty), not O(N) */
	for (size_t i = 0; m->n_dirty > 0 && i < registry_size(m->reg);) {
		struct container *c = registry_at(m->reg, i);

		if (c->dirty && now_usec() >= end) {
			enable_defer(m);
			break;
		}
		if (c->dirty && manager_reconcile(m, c, NULL) == 1)
			continue; /* forgotten: another container moved into slot i */
		i++;
	}
	/* records wait until no container waits for its limits (adoption: limits first) */
	if (m->state_dirty && m->n_dirty == 0)
		save_soon(m);
}

int on_defer(sd_event_source *s, void *userdata)
{
	run_pass(userdata, PASS_SLICE_USEC);
	return 0;
}

int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t now = now_usec(), next = 0;

	for (size_t i = 0; i < registry_size(m->reg); i++) {
		struct container *c = registry_at(m->reg, i);

		if (!c->retry_at)
			continue;
		if (c->retry_at <= now + 1000) {
			c->retry_at = 0;
			manager_mark_dirty(m, c);
		} else if (!next || c->retry_at < next)
			next = c->retry_at;
	}
	m->retry_at = next;
	if (next) {
		sd_event_source_set_time(s, next);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	}
	return 0;
}

int on_drift(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	adopt_pending(m);
	manager_mark_all_dirty(m);
	sd_event_source_set_time_relative(s, m->cfg->drift_usec);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_free_ char *msg = NULL;

	if (si->ssi_signo == SIGHUP) {
		(void) manager_reload(m, &msg);
		return 0;
	}
	log_info("signal %d: stopping; every limit stays in place", (int) si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(m->event, 0);
}

/* A container cgroup appeared (or was found by a scan) under a [match] root, or went away. */
void on_cgroup(void *userdata, const char *cgpath, bool created)
{
	struct manager *m = userdata;
	_cleanup_free_ char *id = NULL, *why = NULL;
	struct container *c = registry_by_cgroup(m->reg, cgpath);

	if (!created) {
		if (c)
			forget_quietly(m, c);
		return;
	}
	if (c) {
		c->matched = true;
		manager_mark_dirty(m, c);
		return;
	}
	if (!manager_cgroup_allowed(m, cgpath, &why)) {
		log_debug("not managing %s: %s", cgpath, why);
		return;
	}
	if (container_id_from_cgroup(cgpath, &id) < 0) {
		log_warning(
			"cgroup %s matches a [match] rule but its name is not a valid container "
			"id, ignoring",
			cgpath);
		return;
	}
	c = registry_get(m->reg, id);
	if (c && !streq(c->cgpath, cgpath)) {
		if (cg_check_exists(m->env.cg, c->cgpath) != 0) {
			log_warning("cgroup %s: container id %s is already used by %s, ignoring",
				    cgpath, id, c->cgpath);
			return;
		}
		(void) registry_set_cgroup(m->reg, c, cgpath);
	} else if (!c && registry_add(m->reg, id, cgpath, &c) < 0)
		return;
	c->matched = true;
	registry_touch(m->reg, c);
	m->state_dirty = true;
	manager_mark_dirty(m, c);
}

/* The events read are whole: a container they made is reconciled in this turn of the loop, not
 * after the post source's turn and the defer source's (two more epoll_wait and the pass later).
 * Only when nothing else was waiting: a pass already under way (a reload, a drift pass over
 * 10,000) goes on in the defer source's slices, with the socket and the events in between. */
int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool idle = m->n_dirty == 0;
	int r = watch_process(m->watch);

	if (r < 0)
		log_warning_errno(r, "reading cgroup events failed, ignoring");
	if (idle && m->n_dirty > 0)
		run_pass(m, PASS_SLICE_USEC);
	return 0;
}

static void mark_where(struct manager *m, bool net)
{
	for (size_t i = 0; i < registry_size(m->reg); i++) {
		struct container *c = registry_at(m->reg, i);

		if (net ? c->has_net : c->has_blkio)
			manager_mark_dirty(m, c);
	}
}

int on_blkio(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool changed = false;

	if (blkio_monitor_process(m->env.blkio, &changed) >= 0 && changed)
		mark_where(m, false);
	return 0;
}

int on_link(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool changed = false;

	if (tc_monitor_process(m->env.tc, &changed) >= 0 && changed)
		mark_where(m, true);
	return 0;
}
