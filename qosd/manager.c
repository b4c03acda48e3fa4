/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "allow.h"
#include "assign.h"
#include "blkio/blkio.h"
#include "cgroup.h"
#include "control.h"
#include "controller.h"
#include "desired.h"
#include "log.h"
#include "manager.h"
#include "sdunit.h"
#include "quota/quota.h"
#include "tc/tc.h"
#include "units.h"
#include "watch.h"

#define RETRY_MAX 40
#define QUOTA_WALK_STEP 4096
#define RETRY_FIRST_USEC 500ULL
#define RETRY_CAP_USEC (5 * 1000000ULL)
/* The state is one record per container (registry-store.c): a request writes its container's
 * record durably before it answers; what passes change (keys applied, project ids) is written
 * without fsync, at most SAVE_BATCH records per event-loop iteration. */
#define SAVE_BATCH 256
/* A pass reconciles dirty containers for at most this long, then lets the event loop answer the
 * socket and take events before it goes on: 10,000 containers, or netlink calls the kernel is
 * slow to take (rtnl contention), never keep qosctl waiting for a whole pass. */
#define PASS_SLICE_USEC (50 * 1000ULL)
#define SAVE_RETRY_USEC (1000 * 1000ULL)

static const char *const runtime_prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };

int container_id_from_cgroup(const char *cgpath, char **ret)
{
	const char *base = strrchr(cgpath, '/');
	_cleanup_free_ char *id = NULL;
	size_t skip = 0, len;

	base = base ? base + 1 : cgpath;
	len = strlen(base);
	if (endswith(base, ".scope"))
		len -= strlen(".scope");
	for (size_t i = 0; i < ELEMENTSOF(runtime_prefixes); i++)
		if (startswith(base, runtime_prefixes[i]) && strlen(runtime_prefixes[i]) < len) {
			skip = strlen(runtime_prefixes[i]);
			break;
		}
	id = strndup(base + skip, len - skip);
	if (!id)
		return -ENOMEM;
	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	*ret = TAKE_PTR(id);
	return 0;
}

static struct log_ctx ctx_of(const struct container *c)
{
	return (struct log_ctx){ .container = c->id, .tenant = c->tenant, .cls = c->cls };
}

static void set_status(char **field, const char *fmt, ...) _printf_(2, 3);
static void set_status(char **field, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*field);
	*field = s;
}

static void enable_defer(struct manager *m)
{
	sd_event_source_set_enabled(m->defer_src, SD_EVENT_ONESHOT);
}

void manager_mark_dirty(struct manager *m, struct container *c)
{
	c->dirty = true;
	enable_defer(m);
}

void manager_mark_all_dirty(struct manager *m)
{
	for (size_t i = 0; i < registry_size(m->reg); i++)
		registry_at(m->reg, i)->dirty = true;
	m->tenants_dirty = true;
	enable_defer(m);
}

/* The rule itself is cg_allowed() (allow.c), shared with qos-hook so the two never disagree. */
bool manager_cgroup_allowed(struct manager *m, const char *cgpath, char **ret_why)
{
	return manager_cgroups_allowed(m, cgpath, NULL, ret_why);
}

bool manager_cgroups_allowed(struct manager *m, const char *cgpath, const struct cg_paths *hier,
			     char **ret_why)
{
	_cleanup_free_ const char **tcg = calloc(m->n_tenants + 1, sizeof(char *));
	struct cg_allow_rules a = { .self_cgroup = m->self_cgroup,
				    .roots = m->cfg->container_roots,
				    .n_roots = m->cfg->n_container_roots,
				    .tenant_cgroups = tcg,
				    .n_tenant_cgroups = m->n_tenants };

	if (!tcg)
		return (*ret_why = strdup("out of memory")), false;
	for (size_t i = 0; i < m->n_tenants; i++)
		tcg[i] = m->tenants[i].cgpath;
	return cg_allowed_all(&a, cgpath, hier, ret_why);
}

/* The rule itself is assign_resolve() (assign.c), shared with qos-hook. */
int manager_assignment(struct manager *m, const struct container *c, const struct qos_tenant **t,
		       const struct qos_class **cls, const char **origin, char **ret_why)
{
	const struct assign_input in = { .op_tenant = c->op_tenant,
					 .op_cls = c->op_cls,
					 .hook_tenant = c->hook_tenant,
					 .hook_cls = c->hook_cls,
					 .claim = { .cgpath = c->cgpath,
						    .annotations = c->annotations,
						    .n_annotations = c->n_annotations } };

	return assign_resolve(m->policy, &in, t, cls, origin, ret_why);
}

/* A registration (hook, pending record) of id for cgpath: one entry per cgroup. */
int manager_entry(struct manager *m, const char *id, const char *cgpath, struct container **ret)
{
	struct container *c = registry_get(m->reg, id), *o = registry_by_cgroup(m->reg, cgpath);
	_cleanup_free_ char *old = NULL;
	int r;

	if (c && o && o != c) {
		/* id moved into a cgroup another entry holds: that entry stood for this container */
		log_info("container %s: registered for cgroup %s, which entry %s held; dropping %s",
			 id, cgpath, o->id, o->id);
		manager_forget(m, o);
	}
	if (c) {
		r = streq(c->cgpath, cgpath) ? 0 : registry_set_cgroup(m->reg, c, cgpath);
		if (r >= 0)
			*ret = c;
		return r;
	}
	if (!o)
		return registry_add(m->reg, id, cgpath, ret);
	/* a [match] rule (or an earlier registration) found the cgroup first: the registration
	 * takes that entry over (operator > hook > match), operator settings and all */
	old = strdup(o->id);
	if (!old)
		return -ENOMEM;
	r = registry_rename(m->reg, o, id);
	if (r < 0)
		return r;
	reconcile_release(&m->env, old, NULL, 0); /* the ifb named after the old id */
	log_info("container %s: takes over the entry %s of cgroup %s", id, old, cgpath);
	free(o->replaced);
	o->replaced = TAKE_PTR(old);
	m->state_dirty = true;
	*ret = o;
	return 0;
}

static void forget_quietly(struct manager *m, struct container *c)
{
	log_debug("container %s: cgroup %s is gone, forgetting it", c->id, c->cgpath);
	manager_forget(m, c);
}

void manager_forget(struct manager *m, struct container *c)
{
	reconcile_release(&m->env, c->id, c->dir, c->projid);
	if (m->env.sd)
		sdunit_forget(m->env.sd, c->cgpath);
	registry_remove(m->reg, c);
	m->state_dirty = true;
}

static bool projid_taken(uint32_t id, void *userdata)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < registry_size(m->reg); i++)
		if (registry_at(m->reg, i)->projid == id)
			return true;
	return false;
}

static void schedule_retry(struct manager *m, struct container *c, const char *why)
{
	uint64_t delay;

	if (c->retries >= RETRY_MAX) {
		c->retry_at = 0;
		return; /* the drift timer keeps trying */
	}
	/* v1: a runtime makes the hierarchies one by one (runc: cpuset, memory, cpu, pids), and the
	 * watch sees the first: the rest follow within a millisecond, so start small */
	delay = MIN(RETRY_FIRST_USEC << MIN(c->retries, 12u), RETRY_CAP_USEC);
	c->retries++;
	c->retry_at = now_usec() + delay;
	if (!m->retry_at || c->retry_at < m->retry_at) {
		m->retry_at = c->retry_at;
		sd_event_source_set_time(m->retry_src, m->retry_at);
		sd_event_source_set_enabled(m->retry_src, SD_EVENT_ONESHOT);
	}
	log_debug("container %s: retry in %llu ms: %s", c->id, (unsigned long long) delay / 1000,
		  why ? why : "");
}

/* cpu.shares and cpu.weight are one knob: a report entry for either stands for both keys. */
static uint32_t key_mask(int key)
{
	if (key == QK_CPU_SHARES || key == QK_CPU_WEIGHT)
		return (1u << QK_CPU_SHARES) | (1u << QK_CPU_WEIGHT);
	return key >= 0 ? 1u << key : 0;
}

static bool knob_pending(const struct qos_report *r, const struct qos_knob *k)
{
	return r->retry && k->error == -ENOENT;
}

/* Log what this pass changed, and the errors that are new since the last pass (a knob that
 * keeps failing the same way is logged once, not on every drift pass). */
static void log_results(struct manager *m, struct container *c, const struct qos_report *r)
{
	struct log_ctx lc = ctx_of(c);
	_cleanup_free_ char *errors = NULL;

	for (size_t i = 0; i < r->n; i++) {
		const struct qos_knob *k = &r->v[i];
		int key = k->qk;
		bool drift = (c->verified & key_mask(key)) != 0;

		if ((k->written && !k->error) || (k->error && !knob_pending(r, k)))
			metrics_count_knob(&m->counters, key, drift, k->error != 0);

		if (k->written && !k->error)
			log_full(drift ? LOG_NOTICE : LOG_INFO, 0, &lc, "%s %s: %s -> %s",
				 drift ? "corrected" : "applied", k->object,
				 k->before ? k->before : "?", k->applied ? k->applied : "?");
		if (k->error && !knob_pending(r, k))
			(void) strextend(&errors, "%s\t%s\t%s\n", k->key, k->object,
					 k->error_msg ? k->error_msg : strerror(-k->error));
	}
	if (errors && (!c->errors || !streq(errors, c->errors)))
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i].error && !knob_pending(r, &r->v[i]))
				log_full(LOG_WARNING, 0, &lc, "%s (%s%s%s): %s", r->v[i].object,
					 r->v[i].key, r->v[i].desired ? " = " : "",
					 r->v[i].desired ? r->v[i].desired : "",
					 r->v[i].error_msg ? r->v[i].error_msg
							   : strerror(-r->v[i].error));
	free(c->errors);
	c->errors = TAKE_PTR(errors);
}

/* Keys all of whose knobs hold now. */
static uint32_t verified_keys(const struct qos_desired *d, const struct qos_report *r)
{
	uint32_t v = d->keys;

	for (size_t i = 0; i < r->n; i++) {
		int key = r->v[i].qk;

		if (r->v[i].error)
			v &= ~key_mask(key);
	}
	return v;
}

/* Keys whose CLEAR failed stay owned, so the next pass tries again. */
static uint32_t owned_after(const struct qos_desired *d, const struct qos_report *r)
{
	uint32_t owned = d->keys;

	for (size_t i = 0; i < r->n; i++) {
		int key = r->v[i].qk;

		if (key >= 0 && r->v[i].error && d->src[key] == QOS_SRC_CLEARED)
			owned |= 1u << key;
	}
	return owned;
}

static int set_assignment(struct manager *m, struct container *c, const struct qos_tenant **t,
			  const struct qos_class **cls)
{
	_cleanup_free_ char *why = NULL;
	const char *origin = NULL;
	int r = manager_assignment(m, c, t, cls, &origin, &why);

	c->origin = origin;
	free(c->tenant);
	free(c->cls);
	c->tenant = *t ? strdup((*t)->name) : NULL;
	c->cls = *cls ? strdup((*cls)->name) : NULL;
	if (r == -EPERM) {
		set_status(&c->status, "refused: %s; last applied limits kept", why);
		return r;
	}
	if (r < 0) {
		set_status(&c->status, "orphaned: %s; last applied limits kept", why);
		return r;
	}
	if (r == 0)
		set_status(&c->status,
			   "unassigned: no operator, hook or [match] rule names a class");
	return r;
}

static int compute(struct manager *m, struct container *c, const struct qos_class *cls,
		   struct qos_desired *d)
{
	_cleanup_free_ char *msg = NULL;
	struct log_ctx lc = ctx_of(c);
	int r = desired_compute(&cls->s, QOS_SRC_CLASS, &c->ovr, c->owned, d, &msg);

	if (r < 0) {
		set_status(&c->status, "error: %s", msg ? msg : strerror(-r));
		log_full(LOG_ERR, 0, &lc, "cannot compute limits: %s", msg ? msg : strerror(-r));
	}
	return r;
}

static void target_of(struct manager *m, struct container *c, const char *tenant,
		      const struct qos_class *cls, char *base, size_t len,
		      struct reconcile_target *t)
{
	snprintf(base, len, "class %s/%s", tenant ? tenant : "?", cls->name);
	*t = (struct reconcile_target){ .id = c->id,
					.cgpath = c->cgpath,
					.hier = &c->hier,
					.base = base,
					.pid_hint = c->pid,
					.dir = &c->dir,
					.bundle = c->bundle,
					.projid = &c->projid,
					.projid_taken = projid_taken,
					.userdata = m };
}

static void finish(struct manager *m, struct container *c, const struct qos_desired *d,
		   const struct qos_report *r, uint32_t projid_before)
{
	uint32_t owned = owned_after(d, r);
	size_t nerr = report_errors(r);

	log_results(m, c, r);
	c->verified = verified_keys(d, r);
	if (owned != c->owned || projid_before != c->projid) {
		registry_touch(m->reg, c);
		m->state_dirty = true;
	}
	c->owned = owned;
	c->has_net = desired_has_net(d);
	c->has_blkio = d->l.io.n_targets > 0 || d->l.io.own;
	if (r->retry)
		set_status(&c->status, "pending: %s", r->retry_why ? r->retry_why : "retrying");
	else if (nerr)
		set_status(&c->status, "%zu error%s", nerr, nerr > 1 ? "s" : "");
	else
		set_status(&c->status, "ok");
	if (r->progress)
		c->retries = 0; /* a long job's next step: soon, without backoff */
	if (r->retry)
		schedule_retry(m, c, r->retry_why);
	else
		c->retries = 0, c->retry_at = 0;
}

int manager_reconcile(struct manager *m, struct container *c, struct qos_report *ret_report)
{
	const struct qos_tenant *t;
	const struct qos_class *cls;
	struct qos_desired d = { 0 };
	struct qos_report r = { 0 };
	struct reconcile_target tg;
	struct ctl_adjust adj;
	char base[128];
	uint32_t projid_before = c->projid;
	int k;
	uint64_t start;

	c->dirty = false;
	k = cg_check_exists(m->env.cg, c->cgpath);
	if (k == 0) {
		forget_quietly(m, c);
		return 1;
	}
	if (k < 0) {
		/* EMFILE, ENOMEM...: not a sign the container went; keep it and every limit it has */
		if (!c->status || !startswith(c->status, "error: cannot open cgroup"))
			log_warning(
				"container %s: cannot open cgroup %s (%s), keeping it; retrying",
				c->id, c->cgpath, strerror(-k));
		set_status(&c->status, "error: cannot open cgroup %s: %s; retrying", c->cgpath,
			   strerror(-k));
		schedule_retry(m, c, "cgroup unreadable");
		return k;
	}
	if (set_assignment(m, c, &t, &cls) <= 0)
		return 0;
	if (compute(m, c, cls, &d) < 0)
		return 0;
	controller_adjust(m, c, cls, &d, &adj);
	target_of(m, c, c->tenant, cls, base, sizeof(base), &tg);
	start = now_usec();
	(void) reconcile_one(&m->env, &tg, &d, false, &r);
	m->counters.reconcile_usec += now_usec() - start;
	m->counters.reconciles++;
	controller_annotate(&adj, &r);
	finish(m, c, &d, &r, projid_before);
	desired_done(&d);
	if (ret_report)
		*ret_report = r;
	else
		report_done(&r);
	return 0;
}

int manager_inspect(struct manager *m, struct container *c, struct qos_report *ret,
		    char **ret_cpu_note)
{
	const struct qos_tenant *t;
	const struct qos_class *cls;
	struct qos_desired d = { 0 };
	struct qos_report r = { 0 };
	struct reconcile_target tg;
	struct ctl_adjust adj;
	char base[128];
	uint32_t projid = c->projid;
	int k;

	if (set_assignment(m, c, &t, &cls) <= 0)
		return 0;
	if (compute(m, c, cls, &d) < 0)
		return 0;
	controller_adjust(m, c, cls, &d, &adj);
	target_of(m, c, c->tenant, cls, base, sizeof(base), &tg);
	tg.projid = &projid;
	k = reconcile_one(&m->env, &tg, &d, true, &r);
	controller_annotate(&adj, &r);
	if (ret_cpu_note && d.cpu_note)
		*ret_cpu_note = strdup(d.cpu_note);
	desired_done(&d);
	*ret = r;
	return k < 0 ? k : 0;
}

int manager_dry_run(struct manager *m, struct container *c, const struct qos_tenant *t,
		    const struct qos_class *cls, struct qos_report *ret, char **ret_msg)
{
	struct qos_desired d = { 0 };
	struct reconcile_target tg;
	char base[128];
	uint32_t projid = c->projid;
	int k = desired_compute(&cls->s, QOS_SRC_CLASS, &c->ovr, c->owned, &d, ret_msg);

	if (k < 0)
		return k;
	target_of(m, c, t->name, cls, base, sizeof(base), &tg);
	tg.projid = &projid;
	*ret = (struct qos_report){ 0 };
	(void) reconcile_one(&m->env, &tg, &d, true, ret);
	desired_done(&d);
	return 0;
}

/* ---- tenant cgroups ---- */

static void tenants_clear(struct manager *m)
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

static void apply_tenants(struct manager *m)
{
	m->tenants_dirty = false;
	for (size_t i = 0; i < m->policy->n_tenants; i++)
		if (m->policy->tenants[i].has_budget)
			apply_tenant(m, &m->policy->tenants[i]);
}

/* ---- state ---- */

/* durable: fsync of each record and of the directory (what a request calls saved). Records left
 * over (max reached) or failed are written at the next turn of the event loop / in a second. */
static int save_records(struct manager *m, bool durable, size_t max)
{
	uint64_t start = now_usec();
	int r = registry_sync(m->reg, durable, max);

	if (r < 0) {
		/* retried in a second even when nothing else happens (no drift timer, no requests) */
		if (m->save_src) {
			sd_event_source_set_time(m->save_src, now_usec() + SAVE_RETRY_USEC);
			sd_event_source_set_enabled(m->save_src, SD_EVENT_ONESHOT);
		}
		return log_error_errno(r,
				       "cannot write the state records in %s/containers (will "
				       "retry)",
				       m->cfg->state_dir);
	}
	m->state_dirty = r > 0;
	m->saved_at = now_usec();
	m->save_cost = m->saved_at - start;
	if (r > 0 && m->save_src) {
		sd_event_source_set_time(m->save_src, m->saved_at);
		sd_event_source_set_enabled(m->save_src, SD_EVENT_ONESHOT);
	}
	return 0;
}

/* Every request changes one container: its record, the most recently touched, is written and
 * fsync'd (with the directory) before the answer; the rest of the queue (a pass's changes) goes on
 * in the background. */
int manager_save_state(struct manager *m)
{
	return save_records(m, true, 1);
}

void manager_save_state_later(struct manager *m)
{
	m->state_dirty = true;
	enable_defer(m);
}

static void save_soon(struct manager *m)
{
	(void) save_records(m, false, SAVE_BATCH);
}

static int on_save(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	if (m->state_dirty)
		save_soon(m);
	return 0;
}

/* ---- events ---- */

/* Reconcile dirty containers until none is left or budget_usec has passed (then the defer source
 * runs again after the loop's other sources: the rest waits one turn, nothing is lost). */
static void run_pass(struct manager *m, uint64_t budget_usec)
{
	uint64_t end = budget_usec == UINT64_MAX ? UINT64_MAX : now_usec() + budget_usec;

	if (m->tenants_dirty)
		apply_tenants(m);
	for (size_t i = 0; i < registry_size(m->reg);) {
		struct container *c = registry_at(m->reg, i);

		if (c->dirty && now_usec() >= end) {
			enable_defer(m);
			break;
		}
		if (c->dirty && manager_reconcile(m, c, NULL) == 1)
			continue; /* forgotten: another container moved into slot i */
		i++;
	}
	if (m->state_dirty)
		save_soon(m);
}

static int on_defer(sd_event_source *s, void *userdata)
{
	run_pass(userdata, PASS_SLICE_USEC);
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
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

static void adopt_pending(struct manager *m);

static int on_drift(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	adopt_pending(m);
	manager_mark_all_dirty(m);
	sd_event_source_set_time_relative(s, m->cfg->drift_usec);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
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
static void on_cgroup(void *userdata, const char *cgpath, bool created)
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

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = watch_process(m->watch);

	if (r < 0)
		log_warning_errno(r, "reading cgroup events failed, ignoring");
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

static int on_blkio(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool changed = false;

	if (blkio_monitor_process(m->env.blkio, &changed) >= 0 && changed)
		mark_where(m, false);
	return 0;
}

static int on_link(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool changed = false;

	if (tc_monitor_process(m->env.tc, &changed) >= 0 && changed)
		mark_where(m, true);
	return 0;
}

/* ---- policy ---- */

static int set_globs(struct manager *m)
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

/* ---- start-up ---- */

static void adopt_one_pending(struct manager *m, const char *path)
{
	struct container *p = NULL, *c;
	_cleanup_free_ char *why = NULL;
	int r = registry_load_pending(path, &p);

	if (r < 0) {
		log_warning_errno(r, "pending registration %s is unreadable, ignoring", path);
		(void) unlink(path);
		return;
	}
	if (!manager_cgroups_allowed(m, p->cgpath, &p->hier, &why)) {
		log_warning("pending registration %s: %s, ignoring", p->id, why);
		container_free(p);
		(void) unlink(path);
		return;
	}
	/* the hook knows only its own fields: what the operator set for this id stays */
	if (manager_entry(m, p->id, p->cgpath, &c) >= 0) {
		free(c->hook_tenant);
		free(c->hook_cls);
		if (p->dir)
			free(c->dir);
		if (p->bundle)
			free(c->bundle);
		c->hook_tenant = TAKE_PTR(p->hook_tenant);
		c->hook_cls = TAKE_PTR(p->hook_cls);
		if (p->dir)
			c->dir = TAKE_PTR(p->dir);
		if (p->bundle)
			c->bundle = TAKE_PTR(p->bundle);
		c->pid = p->pid;
		cg_paths_done(&c->hier);
		c->hier = p->hier;
		p->hier = (struct cg_paths){ 0 };
		strv_free_n(c->annotations, c->n_annotations);
		c->annotations = TAKE_PTR(p->annotations);
		c->n_annotations = p->n_annotations;
		p->n_annotations = 0;
		c->owned |= p->owned;
		if (p->projid)
			c->projid = p->projid;
		manager_mark_dirty(m, c);
		registry_touch(m->reg, c);
		m->state_dirty = true;
		manager_watch_exit(m, c);
		log_info("adopted %s (registered by qos-hook while qosd was down)", c->id);
	}
	container_free(p);
	(void) unlink(path);
}

static void adopt_pending(struct manager *m)
{
	DIR *d = opendir(m->pending_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL;

		if (!endswith(de->d_name, ".json"))
			continue;
		path = strprintf("%s/%s", m->pending_dir, de->d_name);
		if (path)
			adopt_one_pending(m, path);
	}
	closedir(d);
}

/* A state directory qosd trusts: a real directory it owns, not writable by others. */
static int check_state_dir(const char *dir)
{
	_cleanup_free_ char *msg = NULL;
	int r = dir_check_private(dir, &msg);

	if (r < 0)
		log_error("state directory: %s", msg ? msg : strerror(-r));
	return r;
}

/* The single state.json of older versions, written tmp + rename, left state.json.tmp.<pid> behind
 * when qosd was killed during a save: nothing reads those. (Records leave .ID.json.tmp files,
 * which registry-store.c removes as it loads.) */
static void remove_stale_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (startswith(de->d_name, "state.json.tmp.") && de->d_type == DT_REG &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_debug("removed %s/%s, left by an interrupted save", dir, de->d_name);
	closedir(d);
}

static int load_state(struct manager *m)
{
	_cleanup_free_ char *msg = NULL, *records = NULL;
	int r = check_state_dir(m->cfg->state_dir);

	if (r < 0)
		return r;
	m->state_path = strprintf("%s/state.json", m->cfg->state_dir);
	m->pending_dir = strprintf("%s/pending", m->cfg->state_dir);
	records = strprintf("%s/containers", m->cfg->state_dir);
	if (!m->state_path || !m->pending_dir || !records)
		return -ENOMEM;
	/* qosd reads and deletes the records in these: the same trust as the state directory */
	r = check_state_dir(m->pending_dir);
	if (r >= 0)
		r = check_state_dir(records);
	if (r < 0)
		return r;
	remove_stale_tmp(m->cfg->state_dir);
	r = registry_open_store(m->reg, records);
	if (r >= 0)
		r = registry_load(m->reg, m->state_path, &msg);
	/* each bad record costs its container alone: one warning line each */
	for (char *save = NULL, *l = msg ? strtok_r(msg, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		log_warning("%s", l);
	if (r < 0)
		return log_error_errno(r, "cannot read the state records in %s", records);
	m->state_dirty = true; /* records a migration could not write yet */
	log_info("state: %zu container(s) from %s%s", registry_size(m->reg), records,
		 r > 0 ? " (bad records skipped, see above)" : "");
	return 0;
}

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

static int load_policy(struct manager *m)
{
	_cleanup_free_ char *errors = NULL;
	int r = policy_load_dir(m->cfg->config_dir, &m->policy, &errors);

	if (r < 0)
		return log_error_errno(r, "refusing to start: the policy in %s is invalid:\n%s",
				       m->cfg->config_dir, errors ? errors : "");
	log_info("policy: %zu tenant(s) from %s", m->policy->n_tenants, m->cfg->config_dir);
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

int manager_new(struct qosd_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return start_step(-ENOMEM, "out of memory");
	m->cfg = cfg;
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
		r = start_step(sd_event_default(&m->event), "event loop");
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
