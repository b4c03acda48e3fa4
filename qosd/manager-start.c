/* SPDX-License-Identifier: MIT */
/* The manager's life: start-up (enforcers, event sources, signals), the event loop, the end. */
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "blkio/blkio.h"
#include "cgroup.h"
#include "controller.h"
#include "log.h"
#include "manager-internal.h"
#include "quota/quota.h"
#include "sdunit.h"
#include "tc/tc.h"
#include "watch.h"

#define QUOTA_WALK_STEP 4096

/* STATE_DIR/qosd.cgroup: qosd's own cgroup, so that qos-hook, applying limits while qosd is
 * down, refuses the same cgroups (cg_allowed) without knowing qosd's pid. */
static void write_self_cgroup(struct manager *m)
{
	_cleanup_free_ char *path = strprintf("%s/qosd.cgroup", m->cfg->state_dir);
	_cleanup_free_ char *text = strprintf("%s\n", m->self_cgroup ? m->self_cgroup : "");
	int r = path && text ? write_file_atomic(path, text, strlen(text), 0644) : -ENOMEM;

	if (r < 0)
		log_warning_errno(r, "cannot write %s, ignoring", path ? path : "qosd.cgroup");
}

static int open_enforcers(struct manager *m)
{
	/* a quota tree is tagged QUOTA_WALK_STEP inodes per pass, so the loop stays responsive */
	struct quota_config qc = { .range_lo = m->cfg->quota_lo,
				   .range_hi = m->cfg->quota_hi,
				   .walk_step = QUOTA_WALK_STEP };
	int r;

	m->env.diskdir.quota_roots = m->cfg->quota_roots;
	r = blkio_ctx_new(&m->env.blkio);
	if (r < 0)
		log_warning_errno(r, "block I/O throttling unavailable (udev), ignoring");
	r = tc_ctx_new(&m->env.tc);
	if (r < 0)
		log_warning_errno(r, "network shaping unavailable (netlink), ignoring");
	r = quota_ctx_new(&qc, &m->env.quota);
	if (r < 0)
		log_warning_errno(r, "disk quotas unavailable, ignoring");
	r = sdunit_open(&m->env.sd);
	if (r > 0)
		log_info(
			"systemd %s: limits of units' own cgroups go through D-Bus, tenant budgets "
			"are slices",
			sdunit_version(m->env.sd));
	else if (r < 0)
		log_warning_errno(r,
				  "systemd runs but its bus does not answer: limits of its units "
				  "are written to cgroupfs (systemd may revert them) until qosd "
				  "restarts");
	return 0;
}

/* The heap a pass over thousands of containers (adoption, reload, drift), the writing of their
 * records, a list or a metrics page of them leave freed: malloc keeps it (10,000 containers:
 * 12 MiB of 18 after adoption, as much again after a scrape). Once TRIM_WORK units of such work
 * were done since the last look (a container reconciled, a KiB of reply or metrics page made),
 * more than TRIM_FREE bytes free in the heap are given back (malloc_trim). Both mallinfo2 and
 * malloc_trim walk the whole heap: counting work keeps that walk to once per TRIM_WORK units
 * (at 10,000 containers, once per thousand registers), and the look between requests costs no
 * system call. A post source runs only after other events (no wake-up of its own); the trim itself
 * waits TRIM_DELAY_USEC, one wake-up, for what the work leaves to be freed (a metrics page is
 * sent, and its buffers freed, over later turns of the loop). */
#define TRIM_WORK 1000
#define TRIM_FREE (2u << 20)
#define TRIM_DELAY_USEC (500 * 1000ULL)

bool manager_trim_due(struct manager *m)
{
	uint64_t work = m->counters.reconciles - m->trim_reconciles + m->trim_kib;

	if (work < TRIM_WORK)
		return false;
	m->trim_reconciles = m->counters.reconciles;
	m->trim_kib = 0;
	return true;
}

static int on_trim(sd_event_source *s, uint64_t usec, void *userdata)
{
	if (mallinfo2().fordblks > TRIM_FREE)
		(void) malloc_trim(0);
	return 0;
}

static int on_post(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	int on = SD_EVENT_OFF;

	if (!manager_trim_due(m))
		return 0;
	/* armed once: more work meanwhile does not put it off */
	if (sd_event_source_get_enabled(m->trim_src, &on) >= 0 && on != SD_EVENT_OFF)
		return 0;
	if (sd_event_source_set_time_relative(m->trim_src, TRIM_DELAY_USEC) >= 0)
		(void) sd_event_source_set_enabled(m->trim_src, SD_EVENT_ONESHOT);
	return 0;
}

static int add_sources(struct manager *m)
{
	sd_event *e = m->event;
	int fd, r;

	r = sd_event_add_defer(e, &m->defer_src, on_defer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->defer_src, SD_EVENT_OFF);
	/* after the socket and the watches: a pass cut into slices lets them in between */
	if (r >= 0)
		r = sd_event_source_set_priority(m->defer_src, SD_EVENT_PRIORITY_NORMAL + 1);
	if (r >= 0)
		r = sd_event_add_time(e, &m->retry_src, CLOCK_MONOTONIC, UINT64_MAX, 1, on_retry,
				      m); /* accuracy 0 would mean sd-event's default, 250 ms */
	if (r >= 0)
		r = sd_event_add_time(e, &m->save_src, CLOCK_MONOTONIC, UINT64_MAX, 10000, on_save,
				      m);
	if (r >= 0 && m->cfg->drift_usec)
		r = sd_event_add_time_relative(e, &m->drift_src, CLOCK_MONOTONIC,
					       m->cfg->drift_usec, m->cfg->drift_usec / 20,
					       on_drift, m);
	if (r >= 0)
		r = sd_event_add_io(e, &m->watch_src, watch_fd(m->watch), EPOLLIN, on_watch, m);
	if (r >= 0)
		r = sd_event_add_post(e, &m->post_src, on_post, m);
	if (r >= 0)
		r = sd_event_add_time(e, &m->trim_src, CLOCK_MONOTONIC, UINT64_MAX, 100 * 1000,
				      on_trim, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->trim_src, SD_EVENT_OFF);
	if (r < 0)
		return r;
	if (m->env.blkio && blkio_monitor_open(m->env.blkio, &fd) >= 0)
		(void) sd_event_add_io(e, &m->blkio_src, fd, EPOLLIN, on_blkio, m);
	if (m->env.tc && tc_monitor_open(m->env.tc, &fd) >= 0)
		(void) sd_event_add_io(e, &m->tc_src, fd, EPOLLIN, on_link, m);
	return 0;
}

static int add_signals(struct manager *m)
{
	sigset_t ss;
	int sigs[] = { SIGHUP, SIGTERM, SIGINT };

	sigemptyset(&ss);
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaddset(&ss, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		return negative_errno();
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
		int r = sd_event_add_signal(m->event, NULL, sigs[i], on_signal, m);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Name a start-up step that failed: qosd never exits 1 without saying why. (A step that logged
 * its own detail gets this summary line as well.) */
static int start_step(int r, const char *what)
{
	if (r < 0)
		log_error_errno(r, "cannot start: %s", what);
	return r;
}

/* The soft fd limit raised to the hard one, once at start: the statistics files kept open
 * between scrapes (stats.c's budget is a share of it), sockets, watches. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("cannot raise the soft fd limit to %llu: %s",
			  (unsigned long long) rl.rlim_max, strerror(errno));
}

int manager_new(struct qosd_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return start_step(-ENOMEM, "out of memory");
	m->cfg = cfg;
	raise_fd_limit();
	r = load_policy(m);
	if (r >= 0)
		r = start_step(cg_root_open(cfg->cgroupfs, &m->env.cg), "the cgroup root");
	if (r < 0) {
		manager_free(m);
		return r;
	}
	log_info("cgroups: %s at %s", cg_mode_name(cg_root_mode(m->env.cg)), cfg->cgroupfs);
	(void) cg_pid_path(m->env.cg, NULL, getpid(), &m->self_cgroup);
	r = start_step(registry_new(&m->reg), "registry");
	if (r >= 0)
		r = start_step(load_state(m), "state directory");
	if (r >= 0)
		write_self_cgroup(m);
	if (r >= 0)
		/* not sd_event_default(): the default loop checks its thread (gettid) on every turn */
		r = start_step(sd_event_new(&m->event), "event loop");
	if (r >= 0)
		r = start_step(add_signals(m), "signal handlers");
	if (r >= 0)
		r = start_step(watch_new(cg_primary_path(m->env.cg), on_cgroup, m, &m->watch),
			       "cgroup watch (inotify)");
	if (r >= 0)
		r = start_step(open_enforcers(m), "enforcers");
	if (r >= 0)
		r = start_step(add_sources(m), "event sources");
	if (r >= 0)
		r = start_step(control_new(m->event, cfg->socket, cfg->have_admin_gid,
					   cfg->admin_gid, manager_handle_request, m, &m->control),
			       "control socket");
	if (r >= 0)
		r = start_step(metrics_start(m), "metrics endpoint");
	if (r < 0) {
		manager_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ifb devices that shape nothing any more (their container went while qosd was down) */
static int tc_gc_live(struct manager *m)
{
	_cleanup_free_ const char **ids = NULL;
	size_t n = registry_size(m->reg), unknown = 0;
	int r;

	if (!m->env.tc)
		return 0;
	ids = calloc(n + 1, sizeof(char *));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ids[i] = registry_at(m->reg, i)->id;
	r = tc_gc(m->env.tc, ids, n, &unknown);
	if (unknown > 0)
		log_warning("tc: %zu ifb(s) still shape a container qosd does not know (its state "
			    "record was lost?): left in place",
			    unknown);
	return r;
}

int manager_run(struct manager *m)
{
	uint64_t start = now_usec();
	int r;

	(void) sd_event_set_watchdog(m->event, true);
	/* a fixed threshold (glibc raises it after each large free): a reply or a metrics page of
	 * 10,000 containers is mapped and given back when freed, not left in the heap */
	(void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* containers in the state whose cgroup is gone are dropped by their first reconcile */
	adopt_pending(m);
	r = set_globs(m);
	if (r < 0)
		log_warning_errno(r, "cannot watch every [match] root, ignoring");
	(void) controller_configure(m);
	manager_mark_all_dirty(m);
	run_pass(m, UINT64_MAX); /* READY=1 means applied */
	(void) tc_gc_live(m);
	log_info("ready: %zu container(s) adopted and applied in %llu ms", registry_size(m->reg),
		 (unsigned long long) (now_usec() - start) / 1000);
	sd_notifyf(0, "READY=1\nSTATUS=%zu tenant(s), %zu container(s)", m->policy->n_tenants,
		   registry_size(m->reg));
	r = sd_event_loop(m->event);
	(void) registry_touch_changed(m->reg);
	if (registry_sync(m->reg, true, 0) < 0)
		log_warning("cannot write the state records in %s/containers at exit, ignoring",
			    m->cfg->state_dir);
	return r;
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	control_free(m->control);
	controller_free(m->ctl);
	metrics_free(m->metrics);
	sd_event_source_disable_unref(m->defer_src);
	sd_event_source_disable_unref(m->drift_src);
	sd_event_source_disable_unref(m->retry_src);
	sd_event_source_disable_unref(m->save_src);
	sd_event_source_disable_unref(m->watch_src);
	sd_event_source_disable_unref(m->blkio_src);
	sd_event_source_disable_unref(m->tc_src);
	sd_event_source_disable_unref(m->post_src);
	sd_event_source_disable_unref(m->trim_src);
	watch_free(m->watch);
	if (m->env.blkio)
		blkio_ctx_free(m->env.blkio);
	if (m->env.tc)
		tc_ctx_free(m->env.tc);
	if (m->env.quota)
		quota_ctx_free(m->env.quota);
	sdunit_free(m->env.sd);
	cg_root_free(m->env.cg);
	registry_free(m->reg);
	policy_free(m->policy);
	tenants_clear(m);
	free(m->self_cgroup);
	free(m->state_path);
	free(m->pending_dir);
	sd_event_unref(m->event);
	free(m);
}
