/* SPDX-License-Identifier: MIT */
/* qos-hook: OCI runtime hook. createRuntime / prestart: register the container with qosd, or, when
 * qosd does not answer, apply its limits from the same policy files and leave a record qosd
 * adopts at start. poststop: unregister it. A plain form serves orchestrators with hooks of their
 * own. Never forks: nothing is left behind when the runtime's timeout kills it. */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "allow.h"
#include "assign.h"
#include "blkio/blkio.h"
#include "cgroup.h"
#include "config.h"
#include "desired.h"
#include "log.h"
#include "manager.h"
#include "ocistate.h"
#include "policy.h"
#include "proto.h"
#include "quota/quota.h"
#include "reconcile.h"
#include "registry.h"
#include "sdunit.h"
#include "tc/tc.h"
#include "units.h"

#define HOOK_TIMEOUT_USEC (2 * 1000000ULL)
/* time kept back from the qosd call so that applying the limits ourselves still fits */
#define FALLBACK_RESERVE_USEC 500000ULL

enum action { ACT_REGISTER, ACT_RELEASE };

struct hook {
	struct qosd_config cfg;
	bool conf_given;
	uint64_t timeout_usec, deadline;
	enum action act;
	const char *stage; /* NULL in the plain form */
	/* the plain form's options */
	bool plain;
	const char *id, *tenant, *cls, *dir;
	long long pid;

	struct oci_state st;
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

static void say(struct hook *h, const char *fmt, ...) _printf_(2, 3);
static void say(struct hook *h, const char *fmt, ...)
{
	va_list ap;

	fputs("qos-hook: ", stderr);
	if (h->st.id)
		fprintf(stderr, "container %s: ", h->st.id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A refusal: the runtime shows this line to its user and does not start the container. */
#define refuse(h, ...) (say((h), __VA_ARGS__), -EINVAL)

static void help(void)
{
	printf("Usage: qos-hook [OPTIONS] STAGE < state.json        (OCI runtime hook)\n"
	       "       qos-hook [OPTIONS] --id ID --pid PID [--tenant T] [--class C] [--dir PATH]\n"
	       "       qos-hook [OPTIONS] --id ID --release\n\n"
	       "STAGE is createRuntime or prestart (register the container with qosd and apply "
	       "its\n"
	       "tenant's class), or poststop (forget it). The state JSON on stdin names the "
	       "policy\n"
	       "with the annotations qosd.io/tenant, qosd.io/class and qosd.io/disk-dir "
	       "(optional).\n"
	       "When qosd does not answer, the hook applies the limits itself from the same "
	       "policy\n"
	       "files and leaves STATE_DIR/pending/ID.json, which qosd adopts when it starts.\n\n"
	       "  --socket PATH      qosd's socket (default " QOSD_SOCKET ")\n"
	       "  --config-dir DIR   tenant policies (default " QOSD_CONFIG_DIR ")\n"
	       "  --config FILE      qosd's own settings (default " QOSD_CONF_FILE ")\n"
	       "  --state-dir DIR    qosd's state directory (default " QOSD_STATE_DIR ")\n"
	       "  --cgroupfs DIR     cgroup root (default " QOSD_CGROUPFS ")\n"
	       "  --timeout S        give up after S seconds, or a duration like 500ms (default "
	       "2)\n"
	       "  -h, --help         this text\n\n"
	       "podman, CRI-O: a hooks.d file (/etc/containers/oci/hooks.d/qosd.json):\n"
	       "  {\"version\": \"1.0.0\",\n"
	       "   \"hook\": {\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "            \"args\": [\"qos-hook\", \"createRuntime\"]},\n"
	       "   \"when\": {\"annotations\": {\"^qosd\\\\.io/class$\": \".*\"}},\n"
	       "   \"stages\": [\"createRuntime\"]}\n"
	       "  and a second one with \"poststop\"; then podman run --annotation "
	       "qosd.io/class=gold ...\n"
	       "runc, crun: in config.json,\n"
	       "  \"hooks\": {\"createRuntime\": [{\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "             \"args\": [\"qos-hook\", \"createRuntime\"], \"timeout\": 5}],\n"
	       "           \"poststop\": [{\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "             \"args\": [\"qos-hook\", \"poststop\"], \"timeout\": 5}]}\n"
	       "  with \"annotations\": {\"qosd.io/tenant\": \"acme\", \"qosd.io/class\": "
	       "\"gold\"}.\n"
	       "Kubernetes: through the CRI runtime's hooks.d (CRI-O) or an NRI hook injector\n"
	       "(containerd); pod annotations qosd.io/* reach the hook as OCI annotations.\n"
	       "Docker runs no OCI hooks: use [match] rules such as\n"
	       "  /system.slice/docker-*.scope = silver   (systemd cgroup driver)\n"
	       "  /docker/* = silver                      (cgroupfs driver)\n"
	       "See docs/integration.md and qos-hook(8).\n");
}

/* ---- command line ---- */

static int parse_timeout(const char *v, uint64_t *ret)
{
	uint64_t n;

	if (parse_u64(v, &n) >= 0 && n <= 3600) {
		*ret = n * 1000000ULL;
		return n > 0 ? 0 : -EINVAL;
	}
	if (parse_duration_us(v, &n) < 0 || n == 0 || n > 3600 * 1000000ULL)
		return -EINVAL;
	*ret = n;
	return 0;
}

enum {
	ARG_SOCKET = 256,
	ARG_CONFIG_DIR,
	ARG_CONFIG,
	ARG_STATE_DIR,
	ARG_CGROUPFS,
	ARG_TIMEOUT,
	ARG_ID,
	ARG_PID,
	ARG_TENANT,
	ARG_CLASS,
	ARG_DIR,
	ARG_RELEASE,
};

static int plain_opt(struct hook *h, int c, const char *v)
{
	char *end;

	h->plain = true;
	switch (c) {
	case ARG_ID:
		h->id = v;
		return 0;
	case ARG_PID:
		errno = 0;
		h->pid = strtoll(v, &end, 10);
		return errno || *end || h->pid <= 0 ? -EINVAL : 0;
	case ARG_TENANT:
		h->tenant = v;
		return 0;
	case ARG_CLASS:
		h->cls = v;
		return 0;
	case ARG_DIR:
		h->dir = v;
		return 0;
	default: /* ARG_RELEASE */
		h->act = ACT_RELEASE;
		return 0;
	}
}

static int one_opt(struct hook *h, int c, const char *v)
{
	switch (c) {
	case ARG_SOCKET:
		return free_and_strdup(&h->cfg.socket, v);
	case ARG_CONFIG_DIR:
		return free_and_strdup(&h->cfg.config_dir, v);
	case ARG_CONFIG:
		h->conf_given = true;
		return free_and_strdup(&h->cfg.conf_file, v);
	case ARG_STATE_DIR:
		return free_and_strdup(&h->cfg.state_dir, v);
	case ARG_CGROUPFS:
		return free_and_strdup(&h->cfg.cgroupfs, v);
	case ARG_TIMEOUT:
		return parse_timeout(v, &h->timeout_usec);
	case ARG_ID ... ARG_RELEASE:
		return plain_opt(h, c, v);
	default:
		return -EINVAL;
	}
}

static int check_stage(struct hook *h, int argc, char **argv)
{
	if (h->plain) {
		if (optind < argc || !h->id || (h->act == ACT_REGISTER && h->pid <= 0))
			return -EINVAL;
		return 1;
	}
	if (optind != argc - 1)
		return -EINVAL;
	h->stage = argv[optind];
	if (streq(h->stage, "createRuntime") || streq(h->stage, "prestart"))
		h->act = ACT_REGISTER;
	else if (streq(h->stage, "poststop"))
		h->act = ACT_RELEASE;
	else {
		fprintf(stderr,
			"qos-hook: unknown stage \"%s\" (createRuntime, prestart or poststop)\n",
			h->stage);
		return -EINVAL;
	}
	return 1;
}

/* 1: go on; 0: --help was printed; -EINVAL: usage error. */
static int parse_argv(int argc, char **argv, struct hook *h)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "cgroupfs", required_argument, NULL, ARG_CGROUPFS },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "id", required_argument, NULL, ARG_ID },
		{ "pid", required_argument, NULL, ARG_PID },
		{ "tenant", required_argument, NULL, ARG_TENANT },
		{ "class", required_argument, NULL, ARG_CLASS },
		{ "dir", required_argument, NULL, ARG_DIR },
		{ "release", no_argument, NULL, ARG_RELEASE },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if (c == 'h') {
			help();
			return 0;
		}
		if (one_opt(h, c, optarg) < 0) {
			if (c != '?')
				fprintf(stderr, "qos-hook: bad value for --%s: \"%s\"\n",
					opts[c - ARG_SOCKET].name, optarg ? optarg : "");
			return -EINVAL;
		}
	}
	return check_stage(h, argc, argv);
}

/* ---- the state ---- */

/* The plain form's options, put through the same decoder as a runtime's state. */
static int plain_state(struct hook *h, char **ret_error)
{
	json_auto_t *o = json_pack("{s:s,s:s,s:I,s:{}}", "ociVersion", "1.0.0", "id", h->id, "pid",
				   (json_int_t) h->pid, "annotations");
	json_t *a = json_object_get(o, "annotations");
	_cleanup_free_ char *text = NULL;

	if (!o ||
	    (h->tenant &&
	     json_object_set_new(a, OCI_ANNOTATION_TENANT, json_string(h->tenant)) < 0) ||
	    (h->cls && json_object_set_new(a, OCI_ANNOTATION_CLASS, json_string(h->cls)) < 0) ||
	    (h->dir && json_object_set_new(a, OCI_ANNOTATION_DISK_DIR, json_string(h->dir)) < 0)) {
		*ret_error = strdup("an option is not valid UTF-8 text");
		return -EINVAL;
	}
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	return oci_state_parse(text, strlen(text), &h->st, ret_error);
}

static int load_state(struct hook *h)
{
	_cleanup_free_ char *buf = NULL, *err = NULL;
	size_t len = 0;
	int r;

	if (h->plain)
		r = plain_state(h, &err);
	else {
		r = oci_state_read(STDIN_FILENO, OCI_STATE_MAX, h->deadline, &buf, &len);
		if (r == -EFBIG)
			return refuse(h, "the state on stdin is larger than %d bytes",
				      OCI_STATE_MAX);
		if (r == -ETIMEDOUT)
			return refuse(h, "no complete state on stdin within %llu ms",
				      (unsigned long long) h->timeout_usec / 1000);
		if (r < 0)
			return refuse(h, "cannot read the state on stdin: %s", strerror(-r));
		r = oci_state_parse(buf, len, &h->st, &err);
	}
	if (r < 0)
		return refuse(h, "malformed state: %s", err ? err : strerror(-r));
	return 0;
}

/* ---- talking to qosd ---- */

/* 1: qosd answered with *ret; 0: qosd is not there or does not answer (*ret_why); < 0: we may
 * not talk to it (said). */
static int call_qosd(struct hook *h, const char *req, json_t **ret, char **ret_why)
{
	uint64_t now = now_usec(), left = h->deadline > now ? h->deadline - now : 0;
	uint64_t budget = left - MIN(left / 4, FALLBACK_RESERVE_USEC);
	_cleanup_free_ char *reply = NULL;
	json_error_t e;
	int r = proto_call(h->cfg.socket, req, (int) MAX(budget / 1000, 50), &reply);

	if (r == -EACCES || r == -EPERM || r == -ENAMETOOLONG)
		return refuse(h, "cannot talk to qosd on %s: %s", h->cfg.socket, strerror(-r));
	if (r < 0) {
		*ret_why = strdup(strerror(-r));
		return 0;
	}
	*ret = json_loads(reply, 0, &e);
	if (!*ret || !json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		*ret_why = strdup(*reply ? "its reply is not JSON" : "it closed the connection");
		return 0;
	}
	return 1;
}

static int reply_result(struct hook *h, json_t *reply, const char *what)
{
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	return refuse(h, "qosd refused to %s it: %s", what,
		      json_string_value(json_object_get(reply, "error")) ?: "no reason given");
}

/* The runtime's other annotations, for the tenants' [claim] rules (qosd keeps those they name). */
static int add_annotations(json_t *o, const struct oci_state *st)
{
	json_t *a;

	if (!st->n_annotations)
		return 0;
	a = json_object();
	if (!a || json_object_set_new(o, "annotations", a) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_annotations; i++) {
		const char *kv = st->annotations[i], *eq = strchr(kv, '=');
		_cleanup_free_ char *k = strndup(kv, eq - kv);

		if (!k || json_object_set_new(a, k, json_string(eq + 1)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static char *request(struct hook *h, const char *cmd)
{
	json_auto_t *o = json_pack("{s:s,s:s}", "cmd", cmd, "id", h->st.id);

	if (!o)
		return NULL;
	if (h->act == ACT_REGISTER &&
	    (json_object_set_new(o, "pid", json_integer(h->st.pid)) < 0 ||
	     (h->st.tenant && json_object_set_new(o, "tenant", json_string(h->st.tenant)) < 0) ||
	     (h->st.cls && json_object_set_new(o, "class", json_string(h->st.cls)) < 0) ||
	     (h->st.disk_dir && json_object_set_new(o, "dir", json_string(h->st.disk_dir)) < 0) ||
	     (h->st.bundle && json_object_set_new(o, "bundle", json_string(h->st.bundle)) < 0) ||
	     add_annotations(o, &h->st) < 0))
		return NULL;
	return json_dumps(o, JSON_COMPACT);
}

/* ---- applying the limits ourselves ---- */

static int setup(struct hook *h)
{
	_cleanup_free_ char *msg = NULL, *errors = NULL;
	int r = config_load_file(&h->cfg, h->cfg.conf_file, h->conf_given, &msg);

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
					    .annotations = h->st.annotations,
					    .n_annotations = h->st.n_annotations };
	_cleanup_free_ char *msg = NULL;
	int r = assign_check_registration(h->policy, h->cfg.config_dir, h->st.tenant, h->st.cls,
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

	if (!h->st.disk_dir && !h->st.bundle)
		return 0;
	r = diskdir_decide(&h->env.diskdir, h->st.disk_dir, h->st.bundle, (pid_t) h->st.pid, &dir,
			   &msg);
	if (r < 0 && !h->st.disk_dir)
		return 0;
	if (r < 0)
		return refuse(h, OCI_ANNOTATION_DISK_DIR ": %s", msg ? msg : strerror(-r));
	free(h->st.disk_dir);
	h->st.disk_dir = dir;
	return 0;
}

static int find_cgroup(struct hook *h)
{
	int r = cg_pid_path(h->env.cg, NULL, (pid_t) h->st.pid, &h->cgpath);

	if (r >= 0)
		r = cg_pid_paths(h->env.cg, NULL, (pid_t) h->st.pid, h->cgpath, &h->hier);
	if (r < 0)
		return refuse(h, "pid %lld: no such process (or its cgroup is unreadable)",
			      (long long) h->st.pid);
	r = check_cgroup(h);
	if (r >= 0 && !cg_exists(h->env.cg, h->cgpath))
		return refuse(h, "cgroup %s does not exist", h->cgpath);
	return r;
}

/* Tenant and class as qosd chooses them (assign.c): annotations first, then [match] rules. */
static int assignment(struct hook *h, const struct qos_tenant **t, const struct qos_class **cls)
{
	const struct assign_input in = { .hook_tenant = h->st.tenant,
					 .hook_cls = h->st.cls,
					 .claim = { .cgpath = h->cgpath,
						    .annotations = h->st.annotations,
						    .n_annotations = h->st.n_annotations } };
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

static void projids_add(struct projids *p, json_t *o)
{
	json_int_t id = json_integer_value(json_object_get(o, "projid"));
	uint32_t *v;

	if (id <= 0 || id > UINT32_MAX || !(v = realloc(p->v, (p->n + 1) * sizeof(*v))))
		return;
	p->v = v;
	p->v[p->n++] = (uint32_t) id;
}

static void projids_load_dir(struct projids *p, const char *pdir)
{
	DIR *d = pdir ? opendir(pdir) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (endswith(de->d_name, ".json")) {
			_cleanup_free_ char *fn = strprintf("%s/%s", pdir, de->d_name);
			json_auto_t *one = fn ? json_load_file(fn, 0, NULL) : NULL;

			projids_add(p, one);
		}
	if (d)
		closedir(d);
}

/* Project ids qosd holds (containers/, one record each; state.json of older versions) or other
 * hooks recorded (pending/), read only. */
static void projids_load(struct hook *h, struct projids *p)
{
	_cleanup_free_ char *state = strprintf("%s/state.json", h->cfg.state_dir);
	_cleanup_free_ char *rdir = strprintf("%s/containers", h->cfg.state_dir);
	_cleanup_free_ char *pdir = strprintf("%s/pending", h->cfg.state_dir);
	json_auto_t *o = state ? json_load_file(state, 0, NULL) : NULL;
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(o, "containers"), i, c) projids_add(p, c);
	projids_load_dir(p, rdir);
	projids_load_dir(p, pdir);
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
	struct reconcile_target tg = { .id = h->st.id,
				       .cgpath = h->cgpath,
				       .hier = &h->hier,
				       .base = base,
				       .pid_hint = (pid_t) h->st.pid,
				       .dir = &h->st.disk_dir,
				       .bundle = h->st.bundle,
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
	*ret = strprintf("%s/%s.json", dir, h->st.id);
	return *ret ? 0 : -ENOMEM;
}

/* Leave the registration where qosd adopts it at start (and on every drift pass). */
static int write_pending(struct hook *h, uint32_t owned, uint32_t projid)
{
	_cleanup_free_ char *path = NULL;
	struct container c = { .id = h->st.id,
			       .cgpath = h->cgpath,
			       .hook_tenant = h->st.tenant,
			       .hook_cls = h->st.cls,
			       .dir = h->st.disk_dir,
			       .bundle = h->st.bundle,
			       .pid = (pid_t) h->st.pid,
			       .owned = owned,
			       .projid = projid };
	int r = pending_path(h, &path);

	/* what qosd would keep of them: the keys [claim] rules name */
	assign_keep_claimed(h->policy, h->st.annotations, &h->st.n_annotations);
	c.annotations = h->st.annotations;
	c.n_annotations = h->st.n_annotations;
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

/* ---- the two actions ---- */

static bool pid_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static int do_register(struct hook *h)
{
	_cleanup_free_ char *req = NULL, *why = NULL;
	json_auto_t *reply = NULL;
	int r;

	if (h->st.pid <= 0)
		return refuse(h, "the state has no pid: run qos-hook at createRuntime or prestart");
	if (!pid_exists((pid_t) h->st.pid))
		return refuse(h, "pid %lld does not exist", (long long) h->st.pid);
	req = request(h, "register");
	if (!req)
		return -ENOMEM;
	r = call_qosd(h, req, &reply, &why);
	if (r > 0)
		return reply_result(h, reply, "register");
	if (r < 0)
		return r;
	return register_ourselves(h, why ? why : "?");
}

/* qosd is down: drop the record a hook left for it, and the project id that record holds. */
static int release_pending(struct hook *h)
{
	_cleanup_free_ char *path = strprintf("%s/pending/%s.json", h->cfg.state_dir, h->st.id);
	struct container *c = NULL;
	struct quota_config qc = { 0 };

	if (!path)
		return -ENOMEM;
	if (registry_load_pending(path, &c) < 0)
		return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
	if (c->projid && quota_ctx_new(&qc, &h->env.quota) >= 0)
		reconcile_release(&h->env, c->id, c->dir, c->projid);
	container_free(c);
	return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
}

static int do_release(struct hook *h)
{
	_cleanup_free_ char *req = request(h, "unregister"), *why = NULL;
	json_auto_t *reply = NULL;
	int r;

	if (!req)
		return -ENOMEM;
	r = call_qosd(h, req, &reply, &why);
	if (r > 0)
		return reply_result(h, reply, "unregister");
	if (r < 0)
		return r;
	r = release_pending(h);
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
	oci_state_done(&h->st);
	config_done(&h->cfg);
}

int main(int argc, char **argv)
{
	struct hook h = { .timeout_usec = HOOK_TIMEOUT_USEC };
	int r;

	log_set_ident("qos-hook");
	log_open();
	log_set_max_level(LOG_WARNING);
	if (config_init(&h.cfg) < 0)
		return 1;
	r = parse_argv(argc, argv, &h);
	if (r <= 0) {
		if (r < 0)
			fprintf(stderr, "qos-hook: usage error; see qos-hook --help\n");
		hook_done(&h);
		return r < 0 ? 2 : 0;
	}
	h.deadline = now_usec() + h.timeout_usec;
	/* a backstop: whatever blocks, the runtime gets an answer (the hook has no children) */
	alarm((unsigned) (h.timeout_usec / 1000000) + 2);
	r = load_state(&h);
	if (r >= 0)
		r = h.act == ACT_REGISTER ? do_register(&h) : do_release(&h);
	hook_done(&h);
	return r < 0 ? 1 : 0;
}
