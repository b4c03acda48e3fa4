/* SPDX-License-Identifier: MIT */
/* The control socket's requests: list, show, set, unset, reload, register, unregister. Every
 * change is validated whole before anything is touched; a change the kernel refuses is rolled
 * back, so a request is either applied or changes nothing. */
#include <jansson.h>

#include "assign.h"
#include "cgroup.h"
#include "jsonw.h"
#include "log.h"
#include "manager.h"
#include "ocistate.h"
#include "plan.h"

static char *reply_ok(json_t *o)
{
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "ok", json_true());
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Save the state now. NULL when saved; else the warnings for the reply (prev's, then this one):
 * the change is in force in the kernel, but a restart before a later save succeeds would not
 * know it. */
static char *save_warning(struct manager *m, const char *prev, bool durable)
{
	int r = manager_save_state(m, durable);

	if (r >= 0)
		return NULL;
	return strprintf("%s%sthe state file could not be written (%s): in force now, but not yet "
			 "saved for a restart (qosd retries)",
			 prev ? prev : "", prev ? "; " : "", strerror(-r));
}

static json_t *container_summary(const struct container *c)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "id", c->id, "cgroup", c->cgpath, "tenant",
			 jstr(c->tenant), "class", jstr(c->cls), "origin", jstr(c->origin),
			 "status", jstr(c->status));
}

/* The end every written reply shares: [,"warnings":S],"ok":true} and the text, or NULL (and the
 * buffer freed) when anything in it failed. */
static char *reply_end(struct textbuf *b, bool *first, const char *warnings)
{
	if (warnings)
		jsonw_member_str(b, first, "warnings", warnings);
	jsonw_member_bool(b, first, "ok", true);
	textbuf_put(b, "}", 1);
	if (b->failed) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

/* The reply of a change on every container start (register) or set: reply_ok() of
 * container_summary() and its warnings, written without a json_t tree (jsonw.h, issue 16); the
 * same text. NULL on failure. */
static char *reply_summary(const struct container *c, const char *warnings)
{
	struct textbuf b = { 0 };
	bool first = true;

	textbuf_put(&b, "{", 1);
	jsonw_member_str(&b, &first, "id", c->id);
	jsonw_member_str(&b, &first, "cgroup", c->cgpath);
	jsonw_member_str(&b, &first, "tenant", c->tenant);
	jsonw_member_str(&b, &first, "class", c->cls);
	jsonw_member_str(&b, &first, "origin", c->origin);
	jsonw_member_str(&b, &first, "status", c->status);
	if (!c->id || !c->cgpath)
		b.failed = true;
	return reply_end(&b, &first, warnings);
}

static char *cmd_list(struct manager *m)
{
	json_t *arr = json_array(), *tenants = json_array();

	for (size_t i = 0; i < registry_size(m->reg); i++)
		json_array_append_new(arr, container_summary(registry_at(m->reg, i)));
	for (size_t i = 0; i < m->n_tenants; i++)
		json_array_append_new(tenants,
				      json_pack("{s:s,s:s,s:o}", "tenant", m->tenants[i].name,
						"cgroup", m->tenants[i].cgpath, "status",
						jstr(m->tenants[i].status)));
	return reply_ok(json_pack("{s:o,s:o,s:s}", "containers", arr, "tenants", tenants, "mode",
				  cg_mode_name(cg_root_mode(m->env.cg))));
}

/* The last error recorded for a kernel object, from the container's "key\tobject\tmsg" lines. */
static json_t *last_error(const struct container *c, const char *object)
{
	size_t ol = strlen(object);

	for (const char *l = c->errors; l && *l;) {
		const char *tab = strchr(l, '\t'), *nl = strchr(l, '\n');

		if (!nl)
			break;
		if (tab && tab < nl && strneq(tab + 1, object, ol) && tab[1 + ol] == '\t')
			return json_stringn(tab + 2 + ol, nl - (tab + 2 + ol));
		l = nl + 1;
	}
	return json_null();
}

static json_t *knob_json(const struct container *c, const struct qos_knob *k)
{
	json_t *err = k->error ? json_string(k->error_msg ? k->error_msg : strerror(-k->error))
			       : last_error(c, k->object);

	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "key", k->key, "object", k->object,
			 "desired", jstr(k->desired), "applied", jstr(k->applied), "source",
			 jstr(k->source), "via", jstr(k->via), "note", jstr(k->note), "error", err);
}

static json_t *overrides_json(const struct container *c)
{
	json_t *o = json_object();

	for (int k = 0; k < _QK_MAX; k++)
		if (container_ovr(c)->v[k].set)
			json_object_set_new(o, qos_key_name(k), json_string(c->ovr->v[k].str));
	return o;
}

static char *cmd_show(struct manager *m, const char *id)
{
	struct container *c = registry_get(m->reg, id);
	struct qos_report r = { 0 };
	_cleanup_free_ char *cpu_note = NULL, *msg = NULL;
	json_t *o, *knobs;

	if (!c || cg_check_exists(m->env.cg, c->cgpath) == 0) {
		msg = strprintf("no container \"%s\" is known to qosd", id);
		return control_error_reply(msg);
	}
	(void) manager_inspect(m, c, &r, &cpu_note);
	knobs = json_array();
	for (size_t i = 0; i < r.n; i++)
		json_array_append_new(knobs, knob_json(c, &r.v[i]));
	o = container_summary(c);
	json_object_set_new(o, "knobs", knobs);
	json_object_set_new(o, "overrides", overrides_json(c));
	json_object_set_new(o, "cpu_conversion", jstr(cpu_note));
	json_object_set_new(o, "pending", jstr(r.retry ? r.retry_why : NULL));
	json_object_set_new(o, "disk_dir", jstr(c->dir));
	json_object_set_new(o, "matched", json_boolean(c->matched));
	json_object_set_new(o, "replaces", jstr(c->replaced));
	if (c->projid)
		json_object_set_new(o, "projid", json_integer(c->projid));
	report_done(&r);
	return reply_ok(o);
}

/* ---- set / unset ---- */

/* Everything set/unset may change on a container, saved so a refused change can be undone. */
struct snapshot {
	char *op_tenant, *op_cls, *dir, *cgpath;
	struct qos_settings ovr;
};

static int snapshot_take(const struct container *c, struct snapshot *s)
{
	*s = (struct snapshot){ 0 };
	for (int k = 0; k < _QK_MAX; k++)
		if (container_ovr(c)->v[k].set && qos_value_copy(&c->ovr->v[k], &s->ovr.v[k]) < 0)
			return -ENOMEM;
	s->op_tenant = c->op_tenant ? strdup(c->op_tenant) : NULL;
	s->op_cls = c->op_cls ? strdup(c->op_cls) : NULL;
	s->dir = c->dir ? strdup(c->dir) : NULL;
	s->cgpath = strdup(c->cgpath);
	if ((c->op_tenant && !s->op_tenant) || (c->op_cls && !s->op_cls) || (c->dir && !s->dir) ||
	    !s->cgpath)
		return -ENOMEM;
	return 0;
}

static void snapshot_restore(struct manager *m, struct container *c, struct snapshot *s)
{
	if (container_ovr_mut(c)) {
		qos_settings_done(c->ovr);
		*c->ovr = s->ovr;
		s->ovr = (struct qos_settings){ 0 };
	}
	free(c->op_tenant);
	free(c->op_cls);
	free(c->dir);
	c->op_tenant = TAKE_PTR(s->op_tenant);
	c->op_cls = TAKE_PTR(s->op_cls);
	c->dir = TAKE_PTR(s->dir);
	if (s->cgpath && !streq(s->cgpath, c->cgpath))
		(void) registry_set_cgroup(m->reg, c, s->cgpath);
}

static void snapshot_done(struct snapshot *s)
{
	free(s->op_tenant);
	free(s->op_cls);
	free(s->dir);
	free(s->cgpath);
	qos_settings_done(&s->ovr);
}

/* class=NAME, tenant=NAME: the operator's assignment. */
static int set_name(struct manager *m, struct container *c, const char *key, const char *v,
		    char **msg)
{
	bool cls = streq(key, "class");

	if (name_validate(v, cls ? CLASS_MAX : TENANT_MAX) < 0) {
		*msg = strprintf("%s=%s: not a valid name", key, v);
		return -EINVAL;
	}
	return free_and_strdup(cls ? &c->op_cls : &c->op_tenant, v);
}

static int set_dir(struct manager *m, struct container *c, const char *key, const char *v,
		   char **msg)
{
	_cleanup_free_ char *why = NULL, *dir = NULL;
	int r;

	/* a symlink, a non-directory, a place outside the container's writable layer and
	 * quota_roots: refused now, not later */
	r = diskdir_decide(&m->env.diskdir, v, c->bundle, c->pid, &dir, &why);
	if (r < 0) {
		*msg = strprintf("disk.dir=%s: %s", v, why ? why : "refused");
		return r == -EPERM ? -EPERM : -EINVAL;
	}
	/* the state record's own rule: what is stored here loads again at start */
	r = registry_field_check("dir", dir, msg);
	if (r < 0)
		return r;
	free(c->dir);
	c->dir = TAKE_PTR(dir);
	return 0;
}

static int set_cgroup(struct manager *m, struct container *c, const char *key, const char *v,
		      char **msg)
{
	_cleanup_free_ char *why = NULL;
	int r;

	if (!manager_cgroup_allowed(m, v, &why)) {
		*msg = strprintf("cgroup=%s: %s", v, why ? why : "not allowed");
		return -EPERM;
	}
	if (!cg_exists(m->env.cg, v)) {
		*msg = strprintf("cgroup=%s: no such cgroup", v);
		return -ENOENT;
	}
	r = registry_set_cgroup(m->reg, c, v);
	if (r >= 0)
		manager_watch_exit(m, c); /* its new place must be watched for its exit too */
	return r;
}

/* KEY=VALUE for a policy key: an override. */
static int set_override(struct container *c, const char *key, const char *v, char **msg)
{
	_cleanup_free_ char *vmsg = NULL;
	struct qos_value val = { 0 };
	int k = qos_key_from_name(key);

	if (k < 0) {
		*msg = strprintf(
			"unknown key \"%s\" (class, tenant, disk.dir, cgroup, or a policy key)",
			key);
		return -EINVAL;
	}
	if (qos_key_class_only(k)) {
		*msg = strprintf("%s is a class key (it decides how other containers are treated): "
				 "set it in the class, not per container",
				 key);
		return -EINVAL;
	}
	if (qos_value_parse(k, v, &val, &vmsg) < 0) {
		*msg = TAKE_PTR(vmsg);
		return -EINVAL;
	}
	if (!container_ovr_mut(c)) {
		qos_value_done(&val);
		return -ENOMEM;
	}
	qos_value_done(&c->ovr->v[k]);
	c->ovr->v[k] = val;
	/* cpu.shares and cpu.weight are one knob: an override of either replaces the other */
	if (k == QK_CPU_SHARES || k == QK_CPU_WEIGHT)
		qos_value_done(&c->ovr->v[k == QK_CPU_SHARES ? QK_CPU_WEIGHT : QK_CPU_SHARES]);
	return 0;
}

/* The keys of qosctl set/unset that are not policy keys (cgroup=PATH moves a container: no unset). */
static const struct {
	const char *key;
	int (*set)(struct manager *m, struct container *c, const char *key, const char *v,
		   char **msg);
	size_t unset_field; /* offset of the char * in struct container that unset clears */
	bool can_unset;
} arg_table[] = {
	{ "class", set_name, offsetof(struct container, op_cls), true },
	{ "tenant", set_name, offsetof(struct container, op_tenant), true },
	{ "disk.dir", set_dir, offsetof(struct container, dir), true },
	{ "cgroup", set_cgroup, 0, false },
};

static int arg_find(const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(arg_table); i++)
		if (streq(arg_table[i].key, key))
			return i;
	return -ENOENT;
}

/* One KEY=VALUE of qosctl set onto c. Policy keys become overrides. */
static int apply_arg(struct manager *m, struct container *c, const char *arg, char **msg)
{
	_cleanup_free_ char *key = NULL;
	const char *eq = strchr(arg, '=');
	int a;

	if (!eq || eq == arg) {
		*msg = strprintf("\"%s\": expected KEY=VALUE", arg);
		return -EINVAL;
	}
	key = strndup(arg, eq - arg);
	if (!key)
		return -ENOMEM;
	a = arg_find(key);
	if (a >= 0)
		return arg_table[a].set(m, c, key, eq + 1, msg);
	return set_override(c, key, eq + 1, msg);
}

static int unapply_arg(struct container *c, const char *key, char **msg)
{
	int a = arg_find(key), k;

	if (a >= 0 && arg_table[a].can_unset)
		return free_and_strdup((char **) ((uint8_t *) c + arg_table[a].unset_field), NULL);
	k = qos_key_from_name(key);
	if (k < 0) {
		*msg = strprintf("unknown key \"%s\"", key);
		return -EINVAL;
	}
	if (c->ovr)
		qos_value_done(&c->ovr->v[k]);
	return 0;
}

/* Would the container's assignment and limits be valid? (Checked before touching the kernel.) */
static int validate_result(struct manager *m, struct container *c, char **msg)
{
	const struct qos_tenant *t;
	const struct qos_class *cls;
	const char *origin;
	struct qos_desired d = { 0 };
	int r = manager_assignment(m, c, &t, &cls, &origin, msg);

	if (r <= 0)
		return r;
	r = desired_compute(&cls->s, QOS_SRC_CLASS, container_ovr(c), c->owned, &d, msg);
	desired_done(&d);
	return r;
}

/* Errors on knobs of the keys in mask (all keys: UINT32_MAX). */
static char *errors_text(const struct qos_report *r, uint32_t mask)
{
	char *s = NULL;

	for (size_t i = 0; i < r->n; i++) {
		int key = r->v[i].qk;
		bool named = key < 0 ? mask == UINT32_MAX : (mask & (1u << key)) != 0;

		if (r->v[i].error && named)
			(void) strextend(&s, "%s%s (%s%s%s): %s", s ? "; " : "", r->v[i].object,
					 r->v[i].key, r->v[i].desired ? " = " : "",
					 r->v[i].desired ? r->v[i].desired : "",
					 r->v[i].error_msg ? r->v[i].error_msg
							   : strerror(-r->v[i].error));
	}
	return s;
}

/* The policy keys a set/unset request names explicitly. */
static uint32_t keys_named(const struct qos_request *req)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < req->n_args; i++) {
		_cleanup_free_ char *key = strndup(req->args[i], strcspn(req->args[i], "="));
		int k = key ? qos_key_from_name(key) : -1;

		if (k >= 0)
			mask |= 1u << k;
	}
	return mask;
}

/* Reconcile now. If the kernel refuses a key the request named, undo to the snapshot and
 * reconcile again; other knobs' errors come back as warnings. */
static char *commit(struct manager *m, struct container *c, struct snapshot *snap, uint32_t named)
{
	_cleanup_(report_done) struct qos_report r = { 0 };
	_cleanup_free_ char *id = strdup(c->id), *errs = NULL, *msg = NULL, *warn = NULL,
			    *saved = NULL;
	int k;

	c->verified &= ~named; /* the operator's change, not drift (logs, qosd_drift_corrections) */
	k = manager_reconcile(m, c, &r);
	if (k == 1)
		return control_error_reply("the container's cgroup is gone");
	if (k < 0) {
		snapshot_restore(m, c, snap);
		msg = strprintf("cannot open the container's cgroup (%s), nothing changed",
				strerror(-k));
		return control_error_reply(msg);
	}
	errs = errors_text(&r, named);
	warn = errors_text(&r, UINT32_MAX);
	if (errs) {
		snapshot_restore(m, c, snap);
		(void) manager_reconcile(m, c, NULL);
		msg = strprintf("the kernel refused the change, nothing changed: %s", errs);
		log_warning("%s: %s", id ? id : "?", msg);
		return control_error_reply(msg);
	}
	registry_touch(m->reg, c);
	m->state_dirty = true;
	saved = save_warning(m, warn, true);
	return reply_summary(c, saved ? saved : warn);
}

static struct container *find_or_register(struct manager *m, const struct qos_request *req,
					  char **msg)
{
	struct container *c = registry_get(m->reg, req->id);

	if (c)
		return c;
	for (size_t i = 0; i < req->n_args; i++)
		if (startswith(req->args[i], "cgroup=")) {
			const char *cg = req->args[i] + strlen("cgroup=");

			if (!manager_cgroup_allowed(m, cg, msg))
				return NULL;
			if (!cg_exists(m->env.cg, cg)) {
				*msg = strprintf("cgroup %s does not exist", cg);
				return NULL;
			}
			int r = registry_add(m->reg, req->id, cg, &c);

			if (r < 0) {
				*msg = strprintf("cannot register %s: %s", req->id, strerror(-r));
				return NULL;
			}
			manager_watch_exit(m, c);
			return c;
		}
	*msg = strprintf("no container \"%s\" is known to qosd (register it with qos-hook, a "
			 "[match] rule, or cgroup=PATH)",
			 req->id);
	return NULL;
}

static char *cmd_change(struct manager *m, const struct qos_request *req, bool set)
{
	_cleanup_free_ char *msg = NULL;
	_cleanup_(snapshot_done) struct snapshot snap = { 0 };
	struct container *c = set ? find_or_register(m, req, &msg) : registry_get(m->reg, req->id);
	bool fresh = c && !c->status;
	int r = 0;

	if (!c)
		return control_error_reply(msg ? msg : "no such container");
	if (req->n_args == 0 && !req->all)
		return control_error_reply(set ? "set needs KEY=VALUE"
					       : "unset needs KEY or --all");
	if (snapshot_take(c, &snap) < 0)
		return control_error_reply("out of memory");
	if (!set && req->all) {
		if (c->ovr)
			qos_settings_done(c->ovr);
		free_and_strdup(&c->op_cls, NULL);
		free_and_strdup(&c->op_tenant, NULL);
	}
	for (size_t i = 0; r >= 0 && i < req->n_args; i++)
		r = set ? apply_arg(m, c, req->args[i], &msg) : unapply_arg(c, req->args[i], &msg);
	if (r >= 0)
		r = validate_result(m, c, &msg);
	if (r < 0) {
		snapshot_restore(m, c, &snap);
		if (fresh)
			registry_remove(m->reg, c);
		return control_error_reply(msg ? msg : strerror(-r));
	}
	return commit(m, c, &snap, keys_named(req));
}

/* ---- register / unregister (qos-hook) ---- */

/* The rules are assign.c's, shared with qos-hook's own path: names that exist, and a claim
 * inside the tenant's [claim] binding. */
static int check_claim(struct manager *m, const struct qos_request *req, const char *cgpath,
		       char **msg)
{
	const struct assign_claim claim = { .cgpath = cgpath,
					    .annotations = req->annotations,
					    .n_annotations = req->n_annotations };

	return assign_check_registration(m->policy, m->cfg->config_dir, req->tenant, req->cls,
					 &claim, msg);
}

/* The annotations worth keeping: those some [claim] rule names (checked again every pass). */
static int take_annotations(struct manager *m, struct container *c, const struct qos_request *req)
{
	char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < req->n_annotations; i++) {
		const char *kv = req->annotations[i], *eq = strchr(kv, '=');
		_cleanup_free_ char *k = strndup(kv, eq - kv);

		if (!k || annotation_add(&v, &n, k, eq + 1) < 0) {
			strv_free_n(v, n);
			return -ENOMEM;
		}
	}
	assign_keep_claimed(m->policy, v, &n);
	strv_free_n(c->annotations, c->n_annotations);
	c->annotations = v;
	c->n_annotations = n;
	return 0;
}

/* The container's cgroup: given, or the pid's (and then, on v1, its path in every hierarchy:
 * runc without cgroupsPath puts it under its caller's cgroup in each). */
static int register_cgroup(struct manager *m, const struct qos_request *req, char **ret,
			   struct cg_paths *hier, struct cg_dirs *dirs, char **msg)
{
	int k;

	if (req->cgroup)
		*ret = strdup(req->cgroup);
	else if (cg_pid_path(m->env.cg, NULL, req->pid, ret) < 0 ||
		 (*ret && cg_pid_paths(m->env.cg, NULL, req->pid, *ret, hier) < 0)) {
		*msg = strprintf("pid %lld: no such process (or its cgroup is unreadable)",
				 (long long) req->pid);
		return -ESRCH;
	}
	if (!*ret)
		return -ENOMEM;
	if (!manager_cgroups_allowed(m, *ret, hier, msg))
		return -EPERM;
	k = cg_dirs_exists(m->env.cg, dirs, *ret);
	if (k < 0) { /* EMFILE, ENOMEM, EACCES: not an answer about the cgroup */
		*msg = strprintf("cannot open cgroup %s: %s", *ret, strerror(-k));
		return k;
	}
	if (k == 0) {
		*msg = strprintf("cgroup %s does not exist", *ret);
		return -ENOENT;
	}
	return 0;
}

/* Whose mount table holds the runtime's mounts: the registering process's, when it is root (the
 * hook runs in the runtime's mount namespace; qosd may run in one of its own, as under its
 * systemd unit, which lacks the runtime's private storage mounts). An admin-group member's
 * namespace is its own to fill: qosd's own table then. */
static pid_t runtime_pid_of(const struct control_peer *peer)
{
	return peer && peer->uid == 0 && peer->pid > 0 ? peer->pid : 0;
}

/* qosd.io/disk-dir, decided before anything is registered (qosd/diskdir.h); without one, the
 * writable layer of the bundle, derived now (createRuntime: the runtime's rootfs mount is in
 * place) from the runtime's mount table, if it can be: a class with disk keys needs it later. */
static int register_dir(struct manager *m, const struct qos_request *req,
			const struct control_peer *peer, char **ret, char **msg)
{
	_cleanup_free_ char *why = NULL;
	struct diskdir_rules rules = m->env.diskdir;
	int r;

	rules.runtime_pid = runtime_pid_of(peer);
	r = diskdir_decide(&rules, req->dir, req->bundle, (pid_t) req->pid, ret, &why);
	if (r >= 0 && rules.runtime_pid > 0 && !control_peer_present(peer)) {
		/* its pid may name another process by now: what was read is not the runtime's */
		free(*ret);
		*ret = NULL;
		*msg = strprintf("the registering process %d went away while its mount table was "
				 "read",
				 (int) rules.runtime_pid);
		return -ESRCH;
	}
	if (r < 0 && !req->dir) {
		/* info: a class with disk keys cites this later */
		log_info("container %s: no writable layer found in bundle %s: %s", req->id,
			 req->bundle, why ? why : strerror(-r));
		return 0;
	}
	if (r < 0)
		*msg = strprintf(OCI_ANNOTATION_DISK_DIR ": %s", why ? why : "refused");
	return r;
}

static char *cmd_register(struct manager *m, const struct qos_request *req,
			  const struct control_peer *peer)
{
	_cleanup_free_ char *msg = NULL, *cgpath = NULL, *dir = NULL, *warn = NULL;
	_cleanup_(cg_paths_done) struct cg_paths hier = { 0 };
	_cleanup_(cg_dirs_done) struct cg_dirs dirs;
	struct qos_report r = { 0 };
	struct container *c;
	int k;

	/* its directories are opened once: the check here, the reconcile's check and the apply */
	cg_dirs_init(&dirs);
	k = register_cgroup(m, req, &cgpath, &hier, &dirs, &msg);

	/* stored fields meet the rule the state records are loaded with */
	if (k >= 0 && req->dir)
		k = registry_field_check("dir", req->dir, &msg);
	if (k >= 0 && req->bundle)
		k = registry_field_check("bundle", req->bundle, &msg);
	if (k >= 0)
		k = check_claim(m, req, cgpath, &msg);
	if (k >= 0 && (req->dir || req->bundle))
		k = register_dir(m, req, peer, &dir, &msg);
	if (k >= 0 && dir)
		k = registry_field_check("dir", dir, &msg);
	if (k < 0)
		return control_error_reply(msg ? msg : strerror(-k));
	k = manager_entry(m, req->id, cgpath, &c);
	if (k >= 0)
		k = take_annotations(m, c, req);
	if (k < 0)
		return control_error_reply(strerror(-k));
	free_and_strdup(&c->hook_tenant, req->tenant);
	free_and_strdup(&c->hook_cls, req->cls);
	if (dir)
		free_and_strdup(&c->dir, dir);
	if (req->bundle)
		free_and_strdup(&c->bundle, req->bundle);
	c->pid = (pid_t) req->pid;
	cg_paths_done(&c->hier);
	c->hier = hier;
	hier = (struct cg_paths){ 0 };
	manager_watch_exit(m, c);
	registry_touch(m->reg, c);
	m->state_dirty = true;
	k = manager_reconcile_dirs(m, c, &dirs, &r);
	/* its directory was opened once, for the check above: an apply that failed may mean the
	 * cgroup went since, which a fresh open tells (only then: no second open on success) */
	if (k == 0 && (r.retry || report_errors(&r) > 0) &&
	    cg_check_exists(m->env.cg, cgpath) == 0) {
		report_done(&r);
		log_debug("container %s: cgroup %s went during its registration", req->id, cgpath);
		manager_forget(m, c);
		k = 1;
	}
	if (k == 1) {
		/* its cgroup went away between the check above and now: c is freed */
		msg = strprintf("cgroup %s vanished while %s was being registered", cgpath,
				req->id);
		return control_error_reply(msg ? msg : "the container's cgroup is gone");
	}
	if (k < 0) {
		msg = strprintf("registered, but its cgroup %s cannot be opened now (%s): qosd "
				"retries",
				cgpath, strerror(-k));
		(void) manager_save_state(m, false);
		return control_error_reply(msg);
	}
	/* a blkio target that is not there yet is a warning: it is applied when it appears */
	msg = errors_text(&r,
			  UINT32_MAX & ~((1u << QK_BLKIO_READ_BPS) | (1u << QK_BLKIO_WRITE_BPS) |
					 (1u << QK_BLKIO_READ_IOPS) | (1u << QK_BLKIO_WRITE_IOPS)));
	report_done(&r);
	log_info("registered %s (cgroup %s, tenant %s, class %s)", req->id, cgpath,
		 req->tenant ? req->tenant : "-", req->cls ? req->cls : "-");
	if (msg) {
		_cleanup_free_ char *full = strprintf("limits not fully applied: %s", msg);

		(void) manager_save_state(m, false);
		return control_error_reply(full);
	}
	/* a registration is not derivable from the kernel: written before the hook hears "ok", so
	 * that qosd's own crash cannot lose it; not fsync'd (manager_save_state) */
	warn = save_warning(m, NULL, false);
	return reply_summary(c, warn);
}

static char *cmd_unregister(struct manager *m, const char *id)
{
	struct container *c = registry_get(m->reg, id);
	_cleanup_free_ char *warn = NULL;
	struct textbuf b = { 0 };
	bool first = true;

	if (c) {
		log_info("unregistered %s", id);
		manager_forget(m, c);
		warn = save_warning(m, NULL, false);
	}
	textbuf_put(&b, "{", 1);
	jsonw_member_bool(&b, &first, "known", c != NULL);
	return reply_end(&b, &first, warn);
}

static char *cmd_reload(struct manager *m)
{
	_cleanup_free_ char *msg = NULL;

	if (manager_reload(m, &msg) < 0)
		return control_error_reply(msg ? msg : "reload refused");
	return reply_ok(json_pack("{s:i}", "tenants", (int) m->policy->n_tenants));
}

int manager_handle_request(void *userdata, const struct qos_request *req,
			   const struct control_peer *peer, char **ret)
{
	struct manager *m = userdata;

	switch (req->cmd) {
	case CMD_LIST:
		*ret = cmd_list(m);
		break;
	case CMD_SHOW:
		*ret = cmd_show(m, req->id);
		break;
	case CMD_SET:
		*ret = cmd_change(m, req, true);
		break;
	case CMD_UNSET:
		*ret = cmd_change(m, req, false);
		break;
	case CMD_RELOAD:
		*ret = cmd_reload(m);
		break;
	case CMD_REGISTER:
		*ret = cmd_register(m, req, peer);
		break;
	case CMD_UNREGISTER:
		*ret = cmd_unregister(m, req->id);
		break;
	default:
		*ret = manager_observe_request(m, req); /* observe.c: stats, explain, plan */
	}
	explain_after_request(m, req, peer, *ret); /* who set an override, for explain */
	if (*ret)
		m->trim_kib +=
			strlen(*ret) / 1024; /* a list of thousands: on_post trims after it */
	if (m->state_dirty)
		manager_save_state_later(m);
	return *ret ? 0 : -ENOMEM;
}
