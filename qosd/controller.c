/* SPDX-License-Identifier: MIT */
/* The controller's driver: a timer that exists only while a class sets priority. Each tick
 * samples latency-class containers (PSI from their v2 cgroup, or their unified twin on a hybrid
 * host; CPU throttling where PSI is missing) and batch-class containers (memory.high events and
 * memory stall for the livelock guard), steps the level, and marks what must be rewritten. The
 * values themselves are computed in controller_adjust() on the ordinary reconcile path, so what
 * qosctl show calls applied is still what the kernel reads back. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>

#include <systemd/sd-event.h>

#include "cgfs.h"
#include "cgroup.h"
#include "controller.h"
#include "desired.h"
#include "log.h"
#include "manager.h"
#include "pressure.h"
#include "stats.h"
#include "taskidle.h"
#include "units.h"
#include "util.h"

/* ticks at or above pressure_high before one step tighter; below pressure_low before one back:
 * tighten fast, give back slowly */
#define UP_TICKS 2
#define DOWN_TICKS 5

struct ctl_entry {
	char *id;
	struct pressure_sample prev;
	bool have_prev;
	struct livelock_state ll;
	bool relieved; /* the livelock guard raised memory.high (until a reload or the exit) */
	bool have_tasks; /* tasks holds the last SCHED_IDLE sweep's read-back */
	bool announced; /* its first threads made SCHED_IDLE were logged at info */
	struct taskidle_count tasks;
	int tasks_err; /* the last sweep's error, logged once per change */
};

struct controller {
	struct pressure_cfg cfg;
	uint64_t interval;
	/* one level per resource: latency CPU pressure tightens batch CPU, memory pressure batch
	 * memory.high, I/O pressure batch io.max / blkio throttles */
	struct pressure_state st[_PR_MAX];
	sd_event_source *timer;
	int unified_fd; /* hybrid host: the cgroup2 mount with the PSI files; -1 otherwise */
	struct ctl_entry *e;
	size_t n;
	char why[_PR_MAX][256]; /* why each level is what it is */
	uint64_t level_changes[_PR_MAX], reliefs;
};

/* Per resource: the keys whose knobs its level moves (their "verified" bit is dropped on a
 * change, so the write is logged as applied, not as drift corrected), and the class floor keys
 * that let it move them. */
static const struct {
	uint32_t keys, floors;
} ctl_res[_PR_MAX] = {
	[PR_CPU] = { (1u << QK_CPU_QUOTA) | (1u << QK_CPU_SHARES) | (1u << QK_CPU_WEIGHT),
		     (1u << QK_FLOOR_CPU_QUOTA) | (1u << QK_FLOOR_CPU_WEIGHT) },
	[PR_MEMORY] = { 1u << QK_MEMORY_HIGH, 1u << QK_FLOOR_MEMORY_HIGH },
	[PR_IO] = { (1u << QK_BLKIO_READ_BPS) | (1u << QK_BLKIO_WRITE_BPS) |
			    (1u << QK_BLKIO_READ_IOPS) | (1u << QK_BLKIO_WRITE_IOPS),
		    1u << QK_FLOOR_BLKIO },
};

uint64_t controller_level_changes(const struct controller *ctl, enum pressure_res r)
{
	return ctl && (unsigned) r < _PR_MAX ? ctl->level_changes[r] : 0;
}

uint32_t controller_level(const struct controller *ctl, enum pressure_res r)
{
	return ctl && (unsigned) r < _PR_MAX ? ctl->st[r].level : 0;
}

uint64_t controller_reliefs(const struct controller *ctl)
{
	return ctl ? ctl->reliefs : 0;
}

/* ---- reading the kernel: the parsers are stats.h's (the metrics read the same files) ---- */

static void read_psi(int dfd, struct pressure_sample *s)
{
	static const char *const files[_PR_MAX] = { "cpu.pressure", "memory.pressure",
						    "io.pressure" };

	for (int i = 0; i < _PR_MAX; i++) {
		_cleanup_free_ char *text = NULL;

		uint64_t some = UINT64_MAX, full = 0; /* cpu has no full line before 5.13 */

		if (cgfs_read(dfd, files[i], &text) < 0 || stats_psi(text, &some, &full) < 0 ||
		    some == UINT64_MAX)
			continue;
		s->some_us[i] = some;
		s->full_us[i] = full;
		s->have_psi[i] = true;
	}
}

static void read_sample(struct controller *ctl, struct cg_root *cg, const char *cgpath,
			struct pressure_sample *s)
{
	_cleanup_close_ int cfd = -1, ufd = -1;
	_cleanup_free_ char *text = NULL;
	bool v2 = cg_root_mode(cg) == CG_UNIFIED;

	*s = (struct pressure_sample){ .t_us = now_usec() };
	if (cg_open(cg, CG_CPU, cgpath, &cfd) >= 0 && cgfs_read(cfd, "cpu.stat", &text) >= 0)
		s->have_cpu_stat = stats_keyed(text, "nr_periods", &s->nr_periods) >= 0 &&
				   stats_keyed(text, "nr_throttled", &s->nr_throttled) >= 0;
	/* PSI: on v2 in the same directory; on a hybrid v1 host in the cgroup's unified twin */
	if (!v2 && (ctl->unified_fd < 0 || cgfs_open_dir(ctl->unified_fd, cgpath, &ufd) < 0))
		return;
	if ((v2 ? cfd : ufd) < 0)
		return;
	read_psi(v2 ? cfd : ufd, s);
	free(text);
	text = NULL;
	if (v2 && cgfs_read(cfd, "memory.events", &text) >= 0)
		s->have_high_events = stats_keyed(text, "high", &s->high_events) >= 0;
}

/* ---- per-container state ---- */

static struct ctl_entry *entry(struct controller *ctl, const char *id, bool create)
{
	struct ctl_entry *n;

	for (size_t i = 0; i < ctl->n; i++)
		if (streq(ctl->e[i].id, id))
			return &ctl->e[i];
	if (!create)
		return NULL;
	n = reallocarray(ctl->e, ctl->n + 1, sizeof(*n));
	if (!n)
		return NULL;
	ctl->e = n;
	n[ctl->n] = (struct ctl_entry){ .id = strdup(id) };
	if (!n[ctl->n].id)
		return NULL;
	return &n[ctl->n++];
}

/* Forget containers that left the registry. */
static void prune(struct controller *ctl, struct manager *m)
{
	size_t o = 0;

	for (size_t i = 0; i < ctl->n; i++) {
		if (registry_get(m->reg, ctl->e[i].id))
			ctl->e[o++] = ctl->e[i];
		else
			free(ctl->e[i].id);
	}
	ctl->n = o;
}

void controller_free(struct controller *ctl)
{
	if (!ctl)
		return;
	sd_event_source_disable_unref(ctl->timer);
	closep(&ctl->unified_fd);
	for (size_t i = 0; i < ctl->n; i++)
		free(ctl->e[i].id);
	free(ctl->e);
	free(ctl);
}

/* ---- the tick ---- */

static enum qos_priority priority_of(struct manager *m, const struct container *c,
				     const struct qos_class **ret_cls)
{
	const struct qos_tenant *t = NULL;
	const struct qos_class *cls = NULL;
	const char *origin = NULL;
	_cleanup_free_ char *why = NULL;

	*ret_cls = NULL;
	if (manager_assignment(m, c, &t, &cls, &origin, &why) <= 0 || !cls)
		return QOS_PRIO_NORMAL;
	*ret_cls = cls;
	return cls->s.v[QK_PRIORITY].set ? (enum qos_priority) cls->s.v[QK_PRIORITY].num
					 : QOS_PRIO_NORMAL;
}

static bool has_memory_high(const struct container *c, const struct qos_class *cls)
{
	return cls && (cls->s.v[QK_MEMORY_HIGH].set || container_ovr(c)->v[QK_MEMORY_HIGH].set);
}

static void relieve(struct controller *ctl, struct manager *m, struct container *c,
		    const struct qos_class *cls, struct ctl_entry *e, uint32_t mem_pm)
{
	struct log_ctx lc = { c->id, c->tenant, c->cls };
	const struct qos_value *lim = container_ovr(c)->v[QK_MEMORY_LIMIT].set
					      ? &container_ovr(c)->v[QK_MEMORY_LIMIT]
					      : &cls->s.v[QK_MEMORY_LIMIT];

	e->relieved = true;
	ctl->reliefs++;
	c->verified &= ~ctl_res[PR_MEMORY].keys;
	if (lim->set)
		log_full(
			LOG_WARNING, 0, &lc,
			"memory.high livelock: memory.high events rising with memory stall %u.%u%% "
			"for %" PRIu64
			" ms; raising memory.high to memory.limit %s: the kernel's OOM "
			"killer acts there if the container still does not fit",
			mem_pm / 10, mem_pm % 10, ctl->interval * ctl->cfg.livelock_ticks / 1000,
			lim->str);
	else
		log_full(
			LOG_WARNING, 0, &lc,
			"memory.high livelock: memory.high events rising with memory stall %u.%u%% "
			"for %" PRIu64
			" ms; the class has no memory.limit, so memory.high is lifted "
			"to max (only the node's memory bounds the container now)",
			mem_pm / 10, mem_pm % 10, ctl->interval * ctl->cfg.livelock_ticks / 1000);
	manager_mark_dirty(m, c);
}

/* Sweep c's threads: SCHED_IDLE while its class asks for it, back to SCHED_OTHER after it
 * stops (a reload that changes the class, or moves the container to another, or leaves no class
 * with priority: the controller runs on until the threads are back, after a restart too).
 * c->tasks_idle (persisted) says qosd made them SCHED_IDLE: written to the state before the
 * first change, cleared only once a read-back finds none left, so neither a crash, a restart nor
 * a partial failure strands SCHED_IDLE threads. */
static void sweep_tasks(struct manager *m, struct container *c, struct ctl_entry *e, bool idle)
{
	struct log_ctx lc = { c->id, c->tenant, c->cls };
	_cleanup_close_ int fd = -1;
	struct taskidle_count n = { 0 };
	int r;

	if (idle && !c->tasks_idle) {
		c->tasks_idle = true;
		registry_touch(m->reg, c);
		r = manager_save_state(m, false);
		if (r < 0) {
			/* not recorded: nothing is changed this tick (the save is retried) */
			log_full(
				LOG_WARNING, r, &lc,
				"controller: cannot record in the state that its threads are to be "
				"made SCHED_IDLE; not yet");
			c->tasks_idle = false;
			return;
		}
	}
	r = cg_open(m->env.cg, CG_CPU, cg_paths_get(&c->hier, CG_CPU, c->cgpath), &fd);
	if (r >= 0)
		r = taskidle_sweep(fd, cg_root_mode(m->env.cg) == CG_UNIFIED, idle, "/proc", &n);
	if (r < 0) {
		/* a cpu directory not there (yet) is for the next tick */
		if (r != e->tasks_err)
			log_full(r == -ENOENT ? LOG_DEBUG : LOG_WARNING, r, &lc,
				 "controller: cannot read its threads to make them %s",
				 idle ? "SCHED_IDLE" : "SCHED_OTHER again");
		e->tasks_err = r;
		e->have_tasks = false;
		return;
	}
	if (n.failed && n.err != e->tasks_err)
		log_full(LOG_WARNING, n.err, &lc,
			 "controller: cannot make %u of its %u thread(s) %s", n.failed, n.threads,
			 idle ? "SCHED_IDLE" : "SCHED_OTHER again");
	e->tasks_err = n.failed ? n.err : 0;
	e->tasks = n;
	e->have_tasks = idle;
	if (n.changed && idle)
		log_full(
			e->announced ? LOG_DEBUG : LOG_INFO, 0, &lc,
			"controller: %u thread(s) made SCHED_IDLE (priority = batch); %u of %u now",
			n.changed, n.idle, n.threads);
	else if (n.changed)
		log_full(LOG_INFO, 0, &lc,
			 "controller: %u thread(s) back to SCHED_OTHER (the class no longer sets "
			 "priority = batch with cpu.idle 1); %u of %u still SCHED_IDLE",
			 n.changed, n.idle, n.threads);
	e->announced = idle && (e->announced || n.changed);
	if (n.unsure)
		log_full(LOG_WARNING, 0, &lc,
			 "controller: %u thread(s) exited right after their policy was changed; "
			 "their ids may name new threads now",
			 n.unsure);
	/* a thread forked from one still SCHED_IDLE during the sweep: the next tick */
	if (!idle && !n.failed && !n.idle) {
		c->tasks_idle = false;
		registry_touch(m->reg, c);
		manager_save_state_later(m);
	}
}

/* What the last pass decided (c->tasks_want). Unassigned or orphaned containers (cls NULL),
 * and those whose limits the last pass refused, keep their threads as they are, as their
 * limits. */
static void tasks_tick(struct controller *ctl, struct manager *m, struct container *c,
		       const struct qos_class *cls)
{
	bool want = c->tasks_want == TASKS_IDLE;
	struct ctl_entry *e;

	if (!cls || c->tasks_want == TASKS_LEAVE || (!want && !c->tasks_idle))
		return;
	e = entry(ctl, c->id, true);
	if (e)
		sweep_tasks(m, c, e, want);
}

/* One container's sample: its latency readings (one per resource, into rd), and the livelock
 * guard for memory.high. */
static void sample_one(struct controller *ctl, struct manager *m, struct container *c,
		       struct pressure_reading rd[_PR_MAX])
{
	const struct qos_class *cls;
	enum qos_priority p = priority_of(m, c, &cls);
	struct pressure_sample s;
	struct ctl_entry *e;

	for (int i = 0; i < _PR_MAX; i++)
		rd[i] = (struct pressure_reading){ 0 };
	tasks_tick(ctl, m, c, cls);
	if (p != QOS_PRIO_LATENCY && !has_memory_high(c, cls))
		return;
	e = entry(ctl, c->id, true);
	if (!e)
		return;
	read_sample(ctl, m->env.cg, c->cgpath, &s);
	if (e->have_prev) {
		for (int i = 0; i < _PR_MAX && p == QOS_PRIO_LATENCY; i++)
			rd[i] = pressure_read_res(&e->prev, &s, i);
		if (has_memory_high(c, cls) && !e->relieved &&
		    pressure_livelock(&ctl->cfg, &e->ll, &e->prev, &s))
			relieve(ctl, m, c, cls, e, pressure_mem_pm(&e->prev, &s));
	}
	e->prev = s;
	e->have_prev = true;
}

static void set_why(struct controller *ctl, enum pressure_res res, int d,
		    struct pressure_reading rd, const char *id)
{
	const struct pressure_cfg *k = &ctl->cfg;
	char *why = ctl->why[res];

	if (d > 0)
		snprintf(why, sizeof(ctl->why[0]),
			 "latency pressure %u.%u%% (%s %s%s) in container %s >= %u.%u%%",
			 rd.pm / 10, rd.pm % 10, pressure_res_name(res),
			 rd.throttling ? "throttled" : "some", rd.full ? "/full" : "", id,
			 k->high_pm / 10, k->high_pm % 10);
	else
		snprintf(
			why, sizeof(ctl->why[0]),
			"latency %s pressure fell to %u.%u%% <= %u.%u%%; giving room back stepwise",
			pressure_res_name(res), rd.pm / 10, rd.pm % 10, k->low_pm / 10,
			k->low_pm % 10);
}

/* c's class or its overrides set one of keys */
static bool sets_any(const struct container *c, const struct qos_class *cls, uint32_t keys)
{
	for (int k = 0; k < _QK_MAX; k++)
		if ((keys & (1u << k)) && (cls->s.v[k].set || container_ovr(c)->v[k].set))
			return true;
	return false;
}

/* Levels of the resources in moved changed: the batch containers whose class bounds one of
 * them (a floor key) are recomputed, and only their knobs of those resources lose
 * their verified bit (a write there is the controller's, not drift). */
static void mark_batch(struct manager *m, const bool moved[_PR_MAX])
{
	struct container *c;
	const struct qos_class *cls;

	for (size_t i = 0; (c = registry_at(m->reg, i)); i++) {
		uint32_t keys = 0;

		if (priority_of(m, c, &cls) != QOS_PRIO_BATCH || !cls)
			continue;
		for (int r = 0; r < _PR_MAX; r++)
			if (moved[r] && sets_any(c, cls, ctl_res[r].floors))
				keys |= ctl_res[r].keys;
		if (!keys)
			continue;
		c->verified &= ~keys;
		manager_mark_dirty(m, c);
	}
}

static bool tasks_to_undo(struct manager *m);
static bool policy_uses_priority(const struct qos_policy *p);

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	struct controller *ctl = m->ctl;
	struct pressure_reading worst[_PR_MAX] = { 0 };
	const char *worst_id[_PR_MAX] = { 0 };
	bool changed = false, moved[_PR_MAX] = { false };
	struct container *c;

	for (size_t i = 0; (c = registry_at(m->reg, i)); i++) {
		struct pressure_reading rd[_PR_MAX];

		sample_one(ctl, m, c, rd);
		for (int r = 0; r < _PR_MAX; r++)
			if (rd[r].valid && (!worst[r].valid || rd[r].pm > worst[r].pm)) {
				worst[r] = rd[r];
				worst_id[r] = c->id;
			}
	}
	prune(ctl, m);
	for (int r = 0; r < _PR_MAX; r++) {
		int d = pressure_step(&ctl->cfg, &ctl->st[r], worst[r]);

		if (!d)
			continue;
		set_why(ctl, r, d, worst[r], worst_id[r] ? worst_id[r] : "?");
		ctl->level_changes[r]++;
		log_notice("controller: batch %s level %u -> %u of %u: %s", pressure_res_name(r),
			   ctl->st[r].level - d, ctl->st[r].level, ctl->cfg.steps, ctl->why[r]);
		changed = moved[r] = true;
	}
	if (changed)
		mark_batch(m, moved);
	if (!policy_uses_priority(m->policy) && !tasks_to_undo(m)) {
		/* it ran on only to put threads back: done (sd-event frees the timer after this
		 * callback returns) */
		log_info("controller: stopped (no class sets priority; every thread it made "
			 "SCHED_IDLE is back)");
		controller_free(TAKE_PTR(m->ctl));
		return 0;
	}
	sd_event_source_set_time_relative(src, ctl->interval);
	sd_event_source_set_enabled(src, SD_EVENT_ON);
	return 0;
}

/* A container still assigned to a class whose threads qosd made SCHED_IDLE: the controller runs
 * on for it, even when no class sets priority, until they are back (orphaned and unassigned
 * containers keep their threads as they are, as their limits). */
static bool tasks_to_undo(struct manager *m)
{
	const struct qos_class *cls;
	struct container *c;

	for (size_t i = 0; (c = registry_at(m->reg, i)); i++)
		if (c->tasks_idle && (priority_of(m, c, &cls), cls))
			return true;
	return false;
}

static bool policy_uses_priority(const struct qos_policy *p)
{
	for (size_t i = 0; p && i < p->n_tenants; i++)
		for (size_t j = 0; j < p->tenants[i].n_classes; j++)
			if (p->tenants[i].classes[j].s.v[QK_PRIORITY].set)
				return true;
	return false;
}

static int controller_new(struct manager *m, struct controller **ret)
{
	_cleanup_free_ char *unified = NULL;
	struct controller *ctl = calloc(1, sizeof(*ctl));
	const struct qosd_config *k = m->cfg;
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->unified_fd = -1;
	ctl->interval = k->pressure_usec;
	ctl->cfg = (struct pressure_cfg){
		.high_pm = k->pressure_high_pm,
		.low_pm = k->pressure_low_pm,
		.up_ticks = UP_TICKS,
		.down_ticks = DOWN_TICKS,
		.steps = k->pressure_steps,
		.livelock_pm = k->livelock_pm,
		.livelock_ticks = (uint32_t) MAX(1u, k->livelock_usec / k->pressure_usec),
	};
	r = pressure_cfg_check(&ctl->cfg);
	if (r >= 0 && cg_root_mode(m->env.cg) == CG_HYBRID) {
		unified = strprintf("%s/unified", k->cgroupfs);
		if (unified)
			ctl->unified_fd = open(unified, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &ctl->timer, CLOCK_MONOTONIC,
					       ctl->interval, ctl->interval / 20, on_tick, m);
	if (r < 0) {
		controller_free(ctl);
		return r;
	}
	for (int i = 0; i < _PR_MAX; i++)
		snprintf(ctl->why[i], sizeof(ctl->why[i]), "no latency pressure seen yet");
	*ret = ctl;
	return 0;
}

int controller_configure(struct manager *m)
{
	int r;

	if (!policy_uses_priority(m->policy) && !tasks_to_undo(m)) {
		if (m->ctl)
			log_info("controller: stopped (no class sets priority)");
		controller_free(TAKE_PTR(m->ctl));
		return 0;
	}
	if (m->ctl) {
		/* a reload: reliefs end (the class's memory.high may have changed), the level stays */
		for (size_t i = 0; i < m->ctl->n; i++)
			m->ctl->e[i].relieved = false;
		return 0;
	}
	r = controller_new(m, &m->ctl);
	if (r < 0)
		return log_error_errno(r, "controller: cannot start: %s", strerror(-r));
	if (!policy_uses_priority(m->policy)) {
		log_info("controller: started to put SCHED_IDLE threads back (no class sets "
			 "priority)");
		return 0;
	}
	log_info("controller: started (every %" PRIu64 " ms, tighten at %u.%u%%, give back at "
		 "%u.%u%%, %u steps)",
		 m->ctl->interval / 1000, m->ctl->cfg.high_pm / 10, m->ctl->cfg.high_pm % 10,
		 m->ctl->cfg.low_pm / 10, m->ctl->cfg.low_pm % 10, m->ctl->cfg.steps);
	return 0;
}

/* ---- the overlay on the reconcile path ---- */

static void adjust_note(struct ctl_adjust *a, enum qos_key key, const char *fmt, ...)
	_printf_(3, 4);

static void adjust_note(struct ctl_adjust *a, enum qos_key key, const char *fmt, ...)
{
	va_list ap;

	if (a->n >= ELEMENTSOF(a->key))
		return;
	va_start(ap, fmt);
	if (vasprintf(&a->note[a->n], fmt, ap) < 0)
		a->note[a->n] = NULL;
	va_end(ap);
	a->key[a->n++] = key;
}

static void adjust_cpu(struct controller *ctl, struct qos_desired *d, struct ctl_adjust *a)
{
	const struct qos_value *fq = &d->merged.v[QK_FLOOR_CPU_QUOTA];
	const struct qos_value *fw = &d->merged.v[QK_FLOOR_CPU_WEIGHT];
	struct qos_cpu *cpu = &d->l.cg.cpu;
	uint32_t lv = ctl->st[PR_CPU].level, n = ctl->cfg.steps;

	if (fq->set && cpu->quota_us.op == QOS_SET && cpu->period_us.op == QOS_SET) {
		uint64_t ceil = cpu->quota_us.v, floor = fq->num * cpu->period_us.v / 100000;

		cpu->quota_us.v = pressure_value(ceil, floor, lv, n);
		/* the kernel refuses a burst above the quota */
		if (cpu->burst_us.op == QOS_SET && cpu->burst_us.v > cpu->quota_us.v)
			cpu->burst_us.v = cpu->quota_us.v;
		adjust_note(a, QK_CPU_QUOTA,
			    "adjusted by the controller: quota %" PRIu64
			    "us of the class's %" PRIu64 "us (level %u of %u, floor %" PRIu64
			    "us), because %s",
			    cpu->quota_us.v, ceil, lv, n, floor, ctl->why[PR_CPU]);
	}
	if (fw->set && cpu->weight.op == QOS_SET) {
		uint64_t ceil = cpu->weight.v;

		cpu->weight.v = pressure_value(ceil, fw->num, lv, n);
		cpu->shares.v = qos_weight_to_shares(cpu->weight.v);
		adjust_note(a, QK_CPU_WEIGHT,
			    "adjusted by the controller: weight %" PRIu64 " (shares %" PRIu64
			    ") of the class's %" PRIu64 " (level %u of %u, floor %" PRIu64
			    "), because %s",
			    cpu->weight.v, cpu->shares.v, ceil, lv, n, fw->num, ctl->why[PR_CPU]);
	}
}

_Static_assert(QK_BLKIO_WRITE_BPS == QK_BLKIO_READ_BPS + QOS_IO_WBPS &&
		       QK_BLKIO_READ_IOPS == QK_BLKIO_READ_BPS + QOS_IO_RIOPS &&
		       QK_BLKIO_WRITE_IOPS == QK_BLKIO_READ_BPS + QOS_IO_WIOPS,
	       "io kinds follow the blkio keys");

/* Every rate the class gives (the disks it names) between itself and floor.blkio of itself. */
static void adjust_io(struct controller *ctl, struct qos_desired *d, struct ctl_adjust *a)
{
	const struct qos_value *f = &d->merged.v[QK_FLOOR_BLKIO];
	uint32_t lv = ctl->st[PR_IO].level, n = ctl->cfg.steps;
	bool noted[_QOS_IO_KIND_MAX] = { 0 };

	if (!f->set)
		return;
	for (size_t i = 0; i < d->l.io.n_targets; i++) {
		struct qos_io_target *t = &d->l.io.targets[i];
		uint64_t ceil = t->value;

		t->value = pressure_value_share(ceil, (uint32_t) MIN(f->num, 100000), lv, n);
		if (noted[t->kind])
			continue;
		noted[t->kind] = true;
		adjust_note(a, QK_BLKIO_READ_BPS + t->kind,
			    "adjusted by the controller: %s %" PRIu64 " of the class's %" PRIu64
			    " (level %u of %u, floor.blkio %s of the class's rates), because %s",
			    t->target, t->value, ceil, lv, n, f->str, ctl->why[PR_IO]);
	}
}

static void adjust_memory(struct controller *ctl, const struct ctl_entry *e, struct qos_desired *d,
			  struct ctl_adjust *a)
{
	const struct qos_value *fh = &d->merged.v[QK_FLOOR_MEMORY_HIGH];
	struct qos_mem *mem = &d->l.cg.mem;
	char b1[32], b2[32], b3[32];
	uint64_t ceil = mem->high.v;
	uint32_t lv = ctl->st[PR_MEMORY].level;

	if (mem->high.op != QOS_SET)
		return;
	if (e && e->relieved) {
		if (mem->limit.op == QOS_SET)
			mem->high.v = MAX(ceil, mem->limit.v);
		else
			mem->high = (struct qos_u64){ QOS_CLEAR, 0 };
		format_size_approx(ceil, b1, sizeof(b1));
		adjust_note(a, QK_MEMORY_HIGH,
			    "raised by the controller's livelock guard from the class's %s to %s: "
			    "memory.high events and memory stall stayed high; the kernel's OOM "
			    "killer acts at memory.limit",
			    b1,
			    mem->limit.op == QOS_SET ? qos_key_name(QK_MEMORY_LIMIT)
						     : "max (no memory.limit)");
		return;
	}
	if (!fh->set || d->merged.v[QK_PRIORITY].num != QOS_PRIO_BATCH || lv == 0)
		return;
	mem->high.v = pressure_value(ceil, fh->num, lv, ctl->cfg.steps);
	format_size_approx(mem->high.v, b1, sizeof(b1));
	format_size_approx(ceil, b2, sizeof(b2));
	format_size_approx(fh->num, b3, sizeof(b3));
	adjust_note(a, QK_MEMORY_HIGH,
		    "adjusted by the controller: %s of the class's %s (level %u of %u, floor %s), "
		    "because %s",
		    b1, b2, lv, ctl->cfg.steps, b3, ctl->why[PR_MEMORY]);
}

/* What the last sweep read back of the container's threads, on its cpu.idle knob. */
static void adjust_tasks(const struct ctl_entry *e, struct ctl_adjust *a)
{
	if (!e || !e->have_tasks)
		return;
	adjust_note(a, QK_CPU_IDLE,
		    "%u of its %u thread(s) SCHED_IDLE at the controller's last sweep (priority = "
		    "batch: a waking latency task preempts each of them)",
		    e->tasks.idle, e->tasks.threads);
}

void controller_adjust(struct manager *m, const struct container *c, const struct qos_class *cls,
		       struct qos_desired *d, struct ctl_adjust *ret)
{
	struct controller *ctl = m->ctl;
	const struct qos_value *p = &d->merged.v[QK_PRIORITY];

	*ret = (struct ctl_adjust){ 0 };
	if (!ctl)
		return;
	if (d->idle_implied)
		adjust_note(ret, QK_CPU_IDLE,
			    "implied by priority = batch (the class sets no cpu.idle, cpu.shares "
			    "or cpu.weight): the latency class's tasks preempt this group's at "
			    "wake-up");
	if (p->set && p->num == QOS_PRIO_BATCH && ctl->st[PR_CPU].level > 0)
		adjust_cpu(ctl, d, ret);
	if (p->set && p->num == QOS_PRIO_BATCH && ctl->st[PR_IO].level > 0)
		adjust_io(ctl, d, ret);
	adjust_memory(ctl, entry(ctl, c->id, false), d, ret);
	adjust_tasks(entry(ctl, c->id, false), ret);
}

void controller_annotate(struct ctl_adjust *adj, struct qos_report *r)
{
	for (unsigned i = 0; i < adj->n; i++) {
		for (size_t j = 0; j < r->n && adj->note[i]; j++) {
			struct qos_knob *k = &r->v[j];

			/* one knob on two scales: v1 reports it as cpu.shares */
			if (k->qk != (int) adj->key[i] &&
			    !(adj->key[i] == QK_CPU_WEIGHT && k->qk == QK_CPU_SHARES))
				continue;
			if (k->note)
				(void) knob_printf(&k->note, "%s; %s", k->note, adj->note[i]);
			else
				(void) free_and_strdup(&k->note, adj->note[i]);
		}
		free(adj->note[i]);
	}
	*adj = (struct ctl_adjust){ 0 };
}
