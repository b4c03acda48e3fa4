/* SPDX-License-Identifier: MIT */
/* The manager's containers: the entry a registration goes into, and one container's reconcile
 * (assignment, desired limits, the enforcers, what held), inspection and dry run. */
#include <stdarg.h>
#include <systemd/sd-event.h>

#include "allow.h"
#include "assign.h"
#include "cgroup.h"
#include "controller.h"
#include "desired.h"
#include "log.h"
#include "manager-internal.h"
#include "sdunit.h"

#define RETRY_MAX 40
#define RETRY_FIRST_USEC 100ULL
#define RETRY_CAP_USEC (5 * 1000000ULL)

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

void set_status(char **field, const char *fmt, ...)
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

void enable_defer(struct manager *m)
{
	sd_event_source_set_enabled(m->defer_src, SD_EVENT_ONESHOT);
}

void manager_mark_dirty(struct manager *m, struct container *c)
{
	if (!c->dirty)
		m->n_dirty++;
	c->dirty = true;
	enable_defer(m);
}

static void clear_dirty(struct manager *m, struct container *c)
{
	if (c->dirty)
		m->n_dirty--;
	c->dirty = false;
}

void manager_mark_all_dirty(struct manager *m)
{
	for (size_t i = 0; i < registry_size(m->reg); i++)
		registry_at(m->reg, i)->dirty = true;
	m->n_dirty = registry_size(m->reg);
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
	reconcile_release(&m->env, old, true, NULL, 0); /* the ifb named after the old id */
	log_info("container %s: takes over the entry %s of cgroup %s", id, old, cgpath);
	free(o->replaced);
	o->replaced = TAKE_PTR(old);
	m->state_dirty = true;
	*ret = o;
	return 0;
}

void forget_quietly(struct manager *m, struct container *c)
{
	log_debug("container %s: cgroup %s is gone, forgetting it", c->id, c->cgpath);
	manager_forget(m, c);
}

void manager_forget(struct manager *m, struct container *c)
{
	const uint32_t net_keys =
		(1u << QK_NET_INGRESS) | (1u << QK_NET_EGRESS) | (1u << QK_NET_BURST);

	/* shaped now, or shaped before and not yet cleared (owned): it may have an ifb */
	reconcile_release(&m->env, c->id, c->has_net || (c->owned & net_keys), c->dir, c->projid);
	if (m->env.sd)
		sdunit_forget(m->env.sd, c->cgpath);
	clear_dirty(m, c);
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
 * keeps failing the same way is logged once, not on every drift pass). The knobs written go on
 * one line per container ("applied K: A -> B; corrected ..."): a line per knob cost a write(2)
 * and a journal entry each, 40,000 of them for an adoption of 10,000 containers. */
static void log_results(struct manager *m, struct container *c, const struct qos_report *r)
{
	struct log_ctx lc = ctx_of(c);
	_cleanup_free_ char *errors = NULL;
	struct textbuf done = { 0 };
	bool any_drift = false;

	for (size_t i = 0; i < r->n; i++) {
		const struct qos_knob *k = &r->v[i];
		int key = k->qk;
		bool drift = (c->verified & key_mask(key)) != 0;

		if ((k->written && !k->error) || (k->error && !knob_pending(r, k)))
			metrics_count_knob(&m->counters, key, drift, k->error != 0);

		if (k->written && !k->error) {
			/* "applied OBJECT: BEFORE -> AFTER; corrected ...": appended piece by piece,
			 * not printf'd (issue 16: it was a tenth of a register's instructions) */
			if (done.len)
				textbuf_put(&done, "; ", 2);
			textbuf_puts(&done, drift ? "corrected " : "applied ");
			textbuf_puts(&done, k->object);
			textbuf_put(&done, ": ", 2);
			textbuf_puts(&done, k->before ? k->before : "?");
			textbuf_put(&done, " -> ", 4);
			textbuf_puts(&done, k->applied ? k->applied : "?");
			any_drift |= drift;
		}
		if (k->error && !knob_pending(r, k))
			(void) strextend(&errors, "%s\t%s\t%s\n", k->key, k->object,
					 k->error_msg ? k->error_msg : strerror(-k->error));
	}
	if (done.len && !done.failed)
		log_full(any_drift ? LOG_NOTICE : LOG_INFO, 0, &lc, "%s", done.p);
	free(done.p);
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
uint32_t owned_after(const struct qos_desired *d, const struct qos_report *r)
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
	int r = desired_compute(&cls->s, QOS_SRC_CLASS, container_ovr(c), c->owned, d, &msg);

	c->tasks_want = r < 0 ? TASKS_LEAVE : d->idle_tasks ? TASKS_IDLE : TASKS_OTHER;
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
	struct cg_dirs dirs;
	int k;

	cg_dirs_init(&dirs);
	k = manager_reconcile_dirs(m, c, &dirs, ret_report);
	cg_dirs_done(&dirs);
	return k;
}

int manager_reconcile_dirs(struct manager *m, struct container *c, struct cg_dirs *dirs,
			   struct qos_report *ret_report)
{
	const struct qos_tenant *t;
	const struct qos_class *cls;
	struct qos_desired d = { 0 };
	struct qos_report r = { 0 };
	struct reconcile_target tg;
	struct ctl_adjust adj;
	char base[128];
	uint32_t projid_before = c->projid, same = c->reload_same;
	const void *same_cls = c->reload_cls;
	int k;
	uint64_t start;

	clear_dirty(m, c);
	c->reload_same = 0; /* for this pass only */
	c->reload_cls = NULL;
	/* the directory stays open in dirs for the apply: one open for the check and the knobs */
	k = cg_dirs_exists(m->env.cg, dirs, c->cgpath);
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
	/* a key verified before the reload and unchanged by it holds, unless something since
	 * (qosctl set/unset, the controller) cleared its verified bit and wants it now */
	if (same && cls == same_cls)
		desired_leave(&d, same & (c->verified | ~d.keys));
	controller_adjust(m, c, cls, &d, &adj);
	target_of(m, c, c->tenant, cls, base, sizeof(base), &tg);
	tg.dirs = dirs;
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
	int k = desired_compute(&cls->s, QOS_SRC_CLASS, container_ovr(c), c->owned, &d, ret_msg);

	if (k < 0)
		return k;
	target_of(m, c, t->name, cls, base, sizeof(base), &tg);
	tg.projid = &projid;
	*ret = (struct qos_report){ 0 };
	(void) reconcile_one(&m->env, &tg, &d, true, ret);
	desired_done(&d);
	return 0;
}
