/* SPDX-License-Identifier: MIT */
/* qos-hook-apply: qos-hook's fallback, exec'd by it (LIBEXECDIR) when qosd does not answer.
 * createRuntime / prestart: apply the container's limits from the same policy files qosd reads
 * and leave a record qosd adopts at start. poststop: drop the record a hook left. Never forks:
 * nothing is left behind when the runtime's timeout kills it. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

#include "allow.h"
#include "assign.h"
#include "blkio/blkio.h"
#include "cgroup.h"
#include "config.h"
#include "desired.h"
#include "hook-args.h"
#include "log.h"
#include "manager.h"
#include "policy.h"
#include "quota/quota.h"
#include "reconcile.h"
#include "registry.h"
#include "sdunit.h"
#include "tc/tc.h"
#include "units.h"

struct hook {
	struct hook_args a;
	struct qosd_config cfg;

	/* applying ourselves */
	struct qos_policy *policy;
	struct reconcile_env env;
	char *cgpath;
	struct cg_paths hier; /* v1: its paths in hierarchies where they differ from cgpath */
};

struct projids {
	uint32_t *v;
	size_t n;
};

#define say(h, ...) hook_say(&(h)->a, __VA_ARGS__)
#define refuse(h, ...) hook_refuse(&(h)->a, __VA_ARGS__)

/* ---- applying the limits ourselves ---- */

static int setup(struct hook *h)
{
	_cleanup_free_ char *msg = NULL, *errors = NULL;
	int r = config_load_file(&h->cfg, h->cfg.conf_file, h->a.conf_given, &msg);

	if (r < 0)
		return refuse(h, "%s", msg ? msg : strerror(-r));
	r = policy_load_dir(h->cfg.config_dir, &h->policy, &errors);
	if (r < 0)
		return refuse(h, "the policy in %s is invalid or unreadable:\n%s",
			      h->cfg.config_dir, errors ? errors : strerror(-r));
	h->env.diskdir.quota_roots = h->cfg.quota_roots;
	r = cg_root_open(h->cfg.cgroupfs, &h->env.cg);
	if (r < 0)
		return refuse(h, "cannot open the cgroup root %s: %s", h->cfg.cgroupfs,
			      strerror(-r));
	return 0;
}

/* The same rules and words as qosd's register command (assign.c): names that exist, and a
 * claim inside the tenant's [claim] binding. */
static int check_claim(struct hook *h)
{
	const struct assign_claim claim = { .cgpath = h->cgpath,
					    .annotations = h->a.st.annotations,
					    .n_annotations = h->a.st.n_annotations };
	_cleanup_free_ char *msg = NULL;
	int r = assign_check_registration(h->policy, h->cfg.config_dir, h->a.st.tenant, h->a.st.cls,
					  &claim, &msg);

	if (r < 0)
		return refuse(h, "%s", msg ? msg : strerror(-r));
	return 0;
}

/* The cgroups qosd makes for tenant budgets (as the daemon names them): without systemd
 * PARENT/qosd-TENANT, with it the slice /qosd.slice/qosd-TENANT.slice; the hook does not know
 * which, so both. */
static char **tenant_cgroups(const struct qos_policy *p, const char *parent, size_t *ret_n)
{
	char **v = calloc(2 * p->n_tenants + 1, sizeof(char *));
	size_t n = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < p->n_tenants; i++)
		if (p->tenants[i].has_budget) {
			_cleanup_free_ char *unit = NULL;

			v[n] = assign_tenant_cgroup(parent, p->tenants[i].name);
			if (!v[n] ||
			    sdunit_tenant_slice(p->tenants[i].name, &unit, &v[n + 1]) < 0) {
				cg_strv_free(v);
				return NULL;
			}
			n += 2;
		}
	*ret_n = n;
	return v;
}

/* qosd's own cgroup, as the daemon wrote it at start (NULL if it never ran here). */
static char *self_cgroup(struct hook *h)
{
	_cleanup_free_ char *path = strprintf("%s/qosd.cgroup", h->cfg.state_dir);
	char *s = NULL;

	if (!path || read_file_at(AT_FDCWD, path, CGPATH_MAX + 1, &s) < 0)
		return NULL;
	s[strcspn(s, "\n")] = 0;
	return s;
}

static int check_cgroup(struct hook *h)
{
	_cleanup_free_ char *why = NULL, *self = self_cgroup(h);
	size_t n = 0;
	char **tcg = tenant_cgroups(h->policy, h->cfg.tenant_parent, &n);
	struct cg_allow_rules a = { .self_cgroup = self,
				    .roots = h->cfg.container_roots,
				    .n_roots = h->cfg.n_container_roots,
				    .tenant_cgroups = (const char *const *) tcg,
				    .n_tenant_cgroups = n };
	bool ok;

	if (!tcg)
		return -ENOMEM;
	ok = cg_allowed_all(&a, h->cgpath, &h->hier, &why);
	cg_strv_free(tcg);
	if (!ok)
		return refuse(h, "%s", why ? why : "qosd may not manage its cgroup");
	return 0;
}

/* qosd.io/disk-dir: the same rule as qosd's register (qosd/diskdir.h); the canonical path is
 * what gets tagged and recorded. Without one, the bundle's writable layer, if it can be found. */
static int check_disk_dir(struct hook *h)
{
	_cleanup_free_ char *msg = NULL;
	char *dir = NULL;
	int r;

	if (!h->a.st.disk_dir && !h->a.st.bundle)
		return 0;
	r = diskdir_decide(&h->env.diskdir, h->a.st.disk_dir, h->a.st.bundle, (pid_t) h->a.st.pid,
			   &dir, &msg);
	if (r < 0 && !h->a.st.disk_dir)
		return 0;
	if (r < 0)
		return refuse(h, OCI_ANNOTATION_DISK_DIR ": %s", msg ? msg : strerror(-r));
	free(h->a.st.disk_dir);
	h->a.st.disk_dir = dir;
	return 0;
}

static int find_cgroup(struct hook *h)
{
	int r = cg_pid_path(h->env.cg, NULL, (pid_t) h->a.st.pid, &h->cgpath);

	if (r >= 0)
		r = cg_pid_paths(h->env.cg, NULL, (pid_t) h->a.st.pid, h->cgpath, &h->hier);
	if (r < 0)
		return refuse(h, "pid %lld: no such process (or its cgroup is unreadable)",
			      (long long) h->a.st.pid);
	r = check_cgroup(h);
	if (r >= 0 && !cg_exists(h->env.cg, h->cgpath))
		return refuse(h, "cgroup %s does not exist", h->cgpath);
	return r;
}

/* Tenant and class as qosd chooses them (assign.c): annotations first, then [match] rules. */
static int assignment(struct hook *h, const struct qos_tenant **t, const struct qos_class **cls)
{
	const struct assign_input in = { .hook_tenant = h->a.st.tenant,
					 .hook_cls = h->a.st.cls,
					 .claim = { .cgpath = h->cgpath,
						    .annotations = h->a.st.annotations,
						    .n_annotations = h->a.st.n_annotations } };
	_cleanup_free_ char *why = NULL;
	const char *origin;
	int r = assign_resolve(h->policy, &in, t, cls, &origin, &why);

	if (r < 0)
		return refuse(h, "%s", why ? why : strerror(-r));
	return r;
}

static void open_enforcers(struct hook *h, const struct qos_desired *d)
{
	struct quota_config qc = { .range_lo = h->cfg.quota_lo, .range_hi = h->cfg.quota_hi };

	if ((d->l.io.n_targets || d->l.io.own) && blkio_ctx_new(&h->env.blkio) < 0)
		h->env.blkio = NULL;
	if (desired_has_net(d) && tc_ctx_new(&h->env.tc) < 0)
		h->env.tc = NULL;
	if (desired_has_disk(d) && quota_ctx_new(&qc, &h->env.quota) < 0)
		h->env.quota = NULL;
}

static void projids_add(struct projids *p, json_int_t id)
{
	uint32_t *v;

	if (id <= 0 || id > UINT32_MAX || !(v = realloc(p->v, (p->n + 1) * sizeof(*v))))
		return;
	p->v = v;
	p->v[p->n++] = (uint32_t) id;
}

static void projids_load_pending(struct projids *p, const char *pdir)
{
	DIR *d = pdir ? opendir(pdir) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (endswith(de->d_name, ".json")) {
			_cleanup_free_ char *fn = strprintf("%s/%s", pdir, de->d_name);
			json_auto_t *one = fn ? json_load_file(fn, 0, NULL) : NULL;

			projids_add(p, json_integer_value(json_object_get(one, "projid")));
		}
	if (d)
		closedir(d);
}

/* Project ids qosd holds (its records in containers/, read-only through qosd's own loader: the
 * snapshot, the journal, the per-file records and state.json of older versions) or other hooks
 * recorded (pending/). */
static void projids_load(struct hook *h, struct projids *p)
{
	_cleanup_free_ char *state = strprintf("%s/state.json", h->cfg.state_dir);
	_cleanup_free_ char *rdir = strprintf("%s/containers", h->cfg.state_dir);
	_cleanup_free_ char *pdir = strprintf("%s/pending", h->cfg.state_dir);
	_cleanup_free_ char *msg = NULL;
	struct registry *reg = NULL;
	struct container *c;

	if (state && rdir && registry_new(&reg) >= 0 && registry_open_store_ro(reg, rdir) >= 0)
		(void) registry_load(reg, state, &msg);
	for (size_t i = 0; reg && (c = registry_at(reg, i)); i++)
		projids_add(p, c->projid);
	registry_free(reg);
	projids_load_pending(p, pdir);
}

static bool projid_taken(uint32_t id, void *userdata)
{
	const struct projids *p = userdata;

	for (size_t i = 0; i < p->n; i++)
		if (p->v[i] == id)
			return true;
	return false;
}

/* Say every knob the kernel refused; a blkio target not there yet is only a warning (qosd
 * applies it when the device appears), as in qosd's register command. */
static int report_result(struct hook *h, const struct qos_report *r)
{
	int ret = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct qos_knob *k = &r->v[i];
		bool warn = startswith(k->key, "blkio");

		if (!k->error)
			continue;
		say(h, "%s%s (%s): %s", warn ? "warning: " : "", k->object, k->key,
		    k->error_msg ? k->error_msg : strerror(-k->error));
		if (!warn)
			ret = -EIO;
	}
	if (r->retry)
		say(h, "not complete yet (%s): qosd finishes it when it starts",
		    r->retry_why ? r->retry_why : "retry");
	return ret;
}

static int apply(struct hook *h, const struct qos_tenant *t, const struct qos_class *cls,
		 const struct qos_desired *d, uint32_t *projid)
{
	struct projids taken = { 0 };
	struct qos_report r = { 0 };
	char base[128];
	struct reconcile_target tg = { .id = h->a.st.id,
				       .cgpath = h->cgpath,
				       .hier = &h->hier,
				       .base = base,
				       .pid_hint = (pid_t) h->a.st.pid,
				       .dir = &h->a.st.disk_dir,
				       .bundle = h->a.st.bundle,
				       .projid = projid,
				       .projid_taken = projid_taken,
				       .userdata = &taken };
	int k;

	snprintf(base, sizeof(base), "class %s/%s", t->name, cls->name);
	open_enforcers(h, d);
	if (desired_has_disk(d))
		projids_load(h, &taken);
	(void) reconcile_one(&h->env, &tg, d, false, &r);
	k = report_result(h, &r);
	report_done(&r);
	free(taken.v);
	return k;
}

static int pending_path(struct hook *h, char **ret)
{
	_cleanup_free_ char *dir = strprintf("%s/pending", h->cfg.state_dir);

	_cleanup_free_ char *msg = NULL;
	int r;

	if (!dir)
		return -ENOMEM;
	/* qosd adopts what is in it: never write through a symlink or into a shared directory */
	r = dir_check_private(h->cfg.state_dir, &msg);
	if (r >= 0)
		r = dir_check_private(dir, &msg);
	if (r < 0) {
		say(h, "%s", msg ? msg : strerror(-r));
		return r;
	}
	*ret = strprintf("%s/%s.json", dir, h->a.st.id);
	return *ret ? 0 : -ENOMEM;
}

/* Leave the registration where qosd adopts it at start (and on every drift pass). */
static int write_pending(struct hook *h, uint32_t owned, uint32_t projid)
{
	_cleanup_free_ char *path = NULL;
	struct container c = { .id = h->a.st.id,
			       .cgpath = h->cgpath,
			       .hook_tenant = h->a.st.tenant,
			       .hook_cls = h->a.st.cls,
			       .dir = h->a.st.disk_dir,
			       .bundle = h->a.st.bundle,
			       .pid = (pid_t) h->a.st.pid,
			       .owned = owned,
			       .projid = projid };
	int r = pending_path(h, &path);

	/* what qosd would keep of them: the keys [claim] rules name */
	assign_keep_claimed(h->policy, h->a.st.annotations, &h->a.st.n_annotations);
	c.annotations = h->a.st.annotations;
	c.n_annotations = h->a.st.n_annotations;
	c.hier = h->hier; /* borrowed: c is not freed */

	if (r >= 0)
		r = registry_write_pending(path, &c);
	if (r < 0)
		say(h, "cannot record the registration in %s/pending for qosd: %s",
		    h->cfg.state_dir, strerror(-r));
	return r;
}

static int compute(struct hook *h, const struct qos_class *cls, struct qos_desired *d)
{
	_cleanup_free_ char *msg = NULL;
	int r = desired_compute(&cls->s, QOS_SRC_CLASS, NULL, 0, d, &msg);

	if (r < 0)
		return refuse(h, "cannot compute the limits of class %s: %s", cls->name,
			      msg ? msg : strerror(-r));
	return 0;
}

static int register_ourselves(struct hook *h, const char *why)
{
	const struct qos_tenant *t = NULL;
	const struct qos_class *cls = NULL;
	struct qos_desired d = { 0 };
	uint32_t projid = 0;
	int r = setup(h);

	if (r >= 0)
		r = find_cgroup(h);
	if (r >= 0)
		r = check_claim(h);
	if (r >= 0)
		r = check_disk_dir(h);
	if (r >= 0)
		r = assignment(h, &t, &cls);
	if (r > 0)
		r = compute(h, cls, &d);
	if (r >= 0 && cls)
		r = apply(h, t, cls, &d, &projid);
	if (r >= 0)
		r = write_pending(h, d.keys, projid);
	if (r >= 0 && cls)
		say(h,
		    "qosd does not answer on %s (%s): applied %s/%s to cgroup %s myself; qosd "
		    "adopts the container when it starts",
		    h->cfg.socket, why, t->name, cls->name, h->cgpath);
	else if (r >= 0)
		say(h,
		    "qosd does not answer on %s (%s): no class named and no [match] rule for %s, "
		    "so no limits; recorded the container for qosd",
		    h->cfg.socket, why, h->cgpath);
	desired_done(&d);
	return r;
}

/* ---- the two actions, qosd not answering ---- */

/* qosd is down: drop the record a hook left for it, and the project id that record holds. */
static int release_pending(struct hook *h)
{
	_cleanup_free_ char *path = strprintf("%s/pending/%s.json", h->cfg.state_dir, h->a.st.id);
	struct container *c = NULL;
	struct quota_config qc = { 0 };

	if (!path)
		return -ENOMEM;
	if (registry_load_pending(path, &c) < 0)
		return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	if (c->projid && quota_ctx_new(&qc, &h->env.quota) >= 0)
		reconcile_release(&h->env, c->id, true, c->dir, c->projid);
	container_free(c);
	return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
}

static int do_release(struct hook *h)
{
	int r = release_pending(h);

	if (r < 0)
		say(h, "cannot remove its pending record: %s", strerror(-r));
	return r;
}

static void hook_done(struct hook *h)
{
	if (h->env.blkio)
		blkio_ctx_free(h->env.blkio);
	if (h->env.tc)
		tc_ctx_free(h->env.tc);
	if (h->env.quota)
		quota_ctx_free(h->env.quota);
	cg_root_free(h->env.cg);
	policy_free(h->policy);
	free(h->cgpath);
	cg_paths_done(&h->hier);
	hook_args_done(&h->a);
	config_done(&h->cfg);
}

/* The paths qos-hook was given, over config.h's defaults. */
static int hook_config(struct hook *h)
{
	const struct hook_args *a = &h->a;

	if (config_init(&h->cfg) < 0 ||
	    (a->socket && free_and_strdup(&h->cfg.socket, a->socket) < 0) ||
	    (a->config_dir && free_and_strdup(&h->cfg.config_dir, a->config_dir) < 0) ||
	    (a->conf_file && free_and_strdup(&h->cfg.conf_file, a->conf_file) < 0) ||
	    (a->state_dir && free_and_strdup(&h->cfg.state_dir, a->state_dir) < 0) ||
	    (a->cgroupfs && free_and_strdup(&h->cfg.cgroupfs, a->cgroupfs) < 0))
		return -ENOMEM;
	return 0;
}

/* qos-hook-apply: what qos-hook execs (same pid, its alarm still running) when qosd did not
 * answer: the same command line plus --fallback-why/--fallback-deadline, the state it read on
 * stdin. Applies the limits from the policy files and leaves the record qosd adopts. */
int main(int argc, char **argv)
{
	struct hook h = { 0 };
	int r;

	log_set_ident("qos-hook");
	log_open();
	log_set_max_level(LOG_WARNING);
	r = hook_parse_argv(argc, argv, &h.a, true);
	if (r <= 0) {
		hook_done(&h);
		return r < 0 ? 2 : 0;
	}
	r = hook_config(&h);
	if (r >= 0)
		r = hook_load_state(&h.a);
	if (r >= 0)
		r = h.a.act == ACT_REGISTER ? register_ourselves(&h, h.a.why) : do_release(&h);
	hook_done(&h);
	return r < 0 ? 1 : 0;
}
