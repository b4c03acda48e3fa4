/* SPDX-License-Identifier: MIT */
#include "blkio/blkio.h"
#include "cgroup.h"
#include "log.h"
#include "sdunit.h"
#include "quota/quota.h"
#include "reconcile.h"
#include "tc/tc.h"

bool desired_has_net(const struct qos_desired *d)
{
	return d->l.net.ingress_bps.op != QOS_LEAVE || d->l.net.egress_bps.op != QOS_LEAVE;
}

bool desired_has_disk(const struct qos_desired *d)
{
	return d->l.disk.quota_bytes.op != QOS_LEAVE || d->l.disk.inodes.op != QOS_LEAVE;
}

static int first(int r, int k)
{
	return r < 0 ? r : k;
}

static int do_blkio(struct reconcile_env *env, const struct reconcile_target *t, const char *unit,
		    struct cg_dirs *dirs, const struct qos_desired *d, bool dry_run,
		    struct qos_report *r)
{
	const char *path = cg_paths_get(t->hier, CG_BLKIO, t->cgpath);
	struct qos_knob *k;
	int e, fd;

	if (d->l.io.n_targets == 0 && !d->l.io.own)
		return 0;
	e = cg_dirs_get(env->cg, dirs, CG_BLKIO, t->cgpath, t->hier, &fd);
	if (e < 0) {
		if (report_add_group(r, "blkio", "blkio", &k) >= 0)
			knob_fail(k, e, "cannot open the cgroup %s in the io/blkio hierarchy",
				  path);
		if (e == -ENOENT)
			report_retry(r, "cgroup %s not in the blkio hierarchy yet", path);
		return e;
	}
	if (!env->blkio) {
		if (report_add_group(r, "blkio", "blkio", &k) >= 0)
			knob_fail(k, -EOPNOTSUPP, "block I/O throttling is not available");
		return -EOPNOTSUPP;
	}
	return blkio_apply_unit(env->blkio, fd, cg_root_mode(env->cg) == CG_UNIFIED, env->sd, unit,
				&d->l.io, dry_run, r);
}

/* A process of the container: the hook's pid if it is still in the cgroup, else the first one. */
static int container_pid(struct reconcile_env *env, const struct reconcile_target *t, pid_t *ret)
{
	if (t->pid_hint > 0) {
		_cleanup_free_ char *p = NULL;

		if (cg_pid_path(env->cg, NULL, t->pid_hint, &p) >= 0 && streq(p, t->cgpath)) {
			*ret = t->pid_hint;
			return 0;
		}
	}
	return cg_first_pid(env->cg, t->cgpath, ret);
}

static int do_net(struct reconcile_env *env, const struct reconcile_target *t,
		  const struct qos_desired *d, bool dry_run, struct qos_report *r)
{
	struct qos_knob *k;
	pid_t pid;
	int e;

	if (!desired_has_net(d) || !t->id)
		return 0;
	if (!env->tc) {
		if (report_add_group(r, "net", "tc", &k) >= 0)
			knob_fail(k, -EOPNOTSUPP, "network shaping is not available (no netlink)");
		return -EOPNOTSUPP;
	}
	e = container_pid(env, t, &pid);
	if (e < 0) {
		if (report_add_group(r, "net", "tc", &k) >= 0)
			knob_printf(&k->note, "pending: no process in %s yet to find its network",
				    t->cgpath);
		report_retry(r, "no process in %s yet (network shaping waits for one)", t->cgpath);
		return 0;
	}
	return tc_apply(env->tc, t->id, pid, &d->l.net, dry_run, r);
}

static int do_disk(struct reconcile_env *env, const struct reconcile_target *t,
		   const struct qos_desired *d, bool dry_run, struct qos_report *r)
{
	_cleanup_free_ char *derived = NULL, *why = NULL;
	struct qos_knob *k;
	const char *dir = t->dir ? *t->dir : NULL;
	int e;

	if (!desired_has_disk(d) || !t->id)
		return 0;
	if (!env->quota) {
		if (report_add_group(r, "disk", "quota", &k) >= 0)
			knob_fail(k, -EOPNOTSUPP, "disk quotas are not available");
		return -EOPNOTSUPP;
	}
	if (!dir && t->bundle) {
		/* a bundle's layer is found once, when the container registers, in the runtime's
		 * mount table (the hook's): qosd's own may lack the runtime's mount and show an empty
		 * mount point in its place, which it must not limit instead */
		if (report_add_key(r, QK_DISK_QUOTA, "quota", &k) >= 0)
			knob_fail(k, -ENOENT,
				  "no directory to limit: the writable layer of bundle %s was not "
				  "found when the container was registered (qosd's log says why); "
				  "disk.dir can name one",
				  t->bundle);
		return -ENOENT;
	}
	if (!dir) {
		pid_t pid = 0;

		(void) container_pid(env, t, &pid);
		e = diskdir_decide(&env->diskdir, NULL, t->bundle, pid, &derived, &why);
		if (e < 0) {
			if (report_add_key(r, QK_DISK_QUOTA, "quota", &k) >= 0)
				knob_fail(k, e, "%s", why ? why : "no directory to limit");
			return e;
		}
		dir = derived;
		if (!dry_run && t->dir) {
			*t->dir = TAKE_PTR(derived);
			dir = *t->dir;
		}
	}
	return quota_apply(env->quota, dir, &d->l.disk, t->projid, t->projid_taken, t->userdata,
			   dry_run, r);
}

/* Say where each knob's desired value came from. */
static void fill_sources(const struct reconcile_target *t, const struct qos_desired *d,
			 struct qos_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct qos_knob *k = &r->v[i];
		int key = k->qk;

		if (key < 0 || k->source)
			continue;
		/* a quota always writes its period: the period comes from where the quota did */
		if (key == QK_CPU_PERIOD && d->src[key] == QOS_SRC_NONE && k->desired)
			key = QK_CPU_QUOTA;
		switch (d->src[key]) {
		case QOS_SRC_CLASS:
		case QOS_SRC_TENANT:
			k->source = strdup(t->base ? t->base : qos_source_name(d->src[key]));
			break;
		case QOS_SRC_NONE:
			break;
		default:
			k->source = strdup(qos_source_name(d->src[key]));
		}
	}
}

/* The systemd unit whose own cgroup t is (NULL: none, or no systemd). A failed lookup is logged
 * and treated as none: cgroupfs now, systemd asked again on the next pass. */
static const char *unit_of(struct reconcile_env *env, const struct reconcile_target *t,
			   bool *ret_fresh)
{
	const char *unit = NULL;
	int e;

	*ret_fresh = false;
	if (!env->sd)
		return NULL;
	e = sdunit_lookup(env->sd, t->cgpath, &unit, ret_fresh);
	if (e < 0 && e != env->sd_last_err)
		log_warning_errno(e, "systemd: cannot tell which unit owns %s, writing cgroupfs",
				  t->cgpath);
	env->sd_last_err = e < 0 ? e : 0;
	return e > 0 ? unit : NULL;
}

int reconcile_one(struct reconcile_env *env, const struct reconcile_target *t,
		  const struct qos_desired *d, bool dry_run, struct qos_report *r)
{
	bool fresh;
	const char *unit = unit_of(env, t, &fresh);
	struct cg_dirs own, *dirs = t->dirs ? t->dirs : &own;
	int ret;

	if (!t->dirs)
		cg_dirs_init(&own);
	ret = cg_apply_unit(env->cg, env->sd, unit, fresh && !dry_run, t->cgpath, t->hier, dirs,
			    &d->l.cg, dry_run, r);
	if (unit && fresh && !dry_run && report_errors(r) == 0)
		sdunit_pushed(env->sd, t->cgpath);
	ret = first(ret, do_blkio(env, t, unit, dirs, d, dry_run, r));
	ret = first(ret, do_net(env, t, d, dry_run, r));
	ret = first(ret, do_disk(env, t, d, dry_run, r));
	fill_sources(t, d, r);
	if (!t->dirs)
		cg_dirs_done(&own);
	return ret < 0 ? ret : 0;
}

char *reconcile_tenant_slice(const char *tenant)
{
	_cleanup_free_ char *unit = NULL;
	char *cg = NULL;

	return sdunit_tenant_slice(tenant, &unit, &cg) < 0 ? NULL : cg;
}

int reconcile_make_tenant(struct reconcile_env *env, const char *tenant, const char *cgpath,
			  char **ret_why)
{
	_cleanup_free_ char *unit = NULL, *cg = NULL, *desc = NULL;
	int e;

	*ret_why = NULL;
	if (!env->sd)
		return cg_make(env->cg, cgpath);
	e = sdunit_tenant_slice(tenant, &unit, &cg);
	if (e < 0)
		return e;
	desc = strprintf("qosd tenant %s", tenant);
	if (!desc)
		return -ENOMEM;
	e = sdunit_start_slice(env->sd, unit, desc, ret_why);
	/* v1: systemd makes the slice only in the hierarchies it manages (not cpuset) */
	if (e >= 0 && cg_root_mode(env->cg) != CG_UNIFIED)
		e = cg_make(env->cg, cgpath);
	return e;
}

void reconcile_release(struct reconcile_env *env, const char *id, bool net, const char *dir,
		       uint32_t projid)
{
	if (env->tc && net)
		(void) tc_release(env->tc, id);
	if (env->quota && projid)
		(void) quota_release(env->quota, dir, projid);
}
