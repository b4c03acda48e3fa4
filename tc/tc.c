/* SPDX-License-Identifier: MIT */
/* Network shaping of one container: discovery, the two directions, read-back, release and gc.
 * Only tc-internal.h's adapter talks to libnl. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "qosd/keys.h"
#include "qosd/log.h"
#include "qosd/util.h"
#include "tc/tc-internal.h"

int tc_ctx_new(struct tc_ctx **ret)
{
	_cleanup_free_ struct tc_ctx *ctx = calloc(1, sizeof(*ctx));
	struct stat st;
	int r;

	if (!ctx)
		return -ENOMEM;
	ctx->own_nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ctx->own_nsfd < 0 || fstat(ctx->own_nsfd, &st) < 0) {
		r = negative_errno();
		closep(&ctx->own_nsfd);
		return r;
	}
	ctx->ns_dev = st.st_dev;
	ctx->ns_ino = st.st_ino;
	r = tc_nl_socket(ctx, -1, &ctx->sk);
	if (r >= 0)
		r = tc_nl_read_socket(ctx, &ctx->rd);
	if (r < 0) {
		tc_nl_sock_freep(&ctx->sk);
		close(ctx->own_nsfd);
		return r;
	}
	*ret = TAKE_PTR(ctx);
	return 0;
}

void tc_ctx_free(struct tc_ctx *ctx)
{
	if (!ctx)
		return;
	tc_nl_sock_freep(&ctx->sk);
	tc_nl_sock_freep(&ctx->rd);
	tc_nl_sock_freep(&ctx->mon);
	closep(&ctx->own_nsfd);
	free(ctx->seen);
	free(ctx);
}

/* 1 when pid shares qosd's netns (host network: nothing of its own to shape). */
static int open_netns(struct tc_ctx *ctx, pid_t pid, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	char path[64];
	struct stat st;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (st.st_dev == ctx->ns_dev && st.st_ino == ctx->ns_ino)
		return 1;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int tc_container_veths(struct tc_ctx *ctx, pid_t pid, struct tc_veth **ret, size_t *ret_n,
		       const char **ret_why)
{
	_cleanup_close_ int nsfd = -1;
	int r;

	ctx->nle = 0;
	*ret_why = NULL;
	r = open_netns(ctx, pid, &nsfd);
	if (r < 0)
		return r;
	if (r == 1) {
		*ret = NULL;
		*ret_n = 0;
		*ret_why = "the container shares the host's network namespace";
		return 0;
	}
	return tc_nl_container_veths(ctx, nsfd, ret, ret_n);
}

/* What one direction on one veth ended as: the kernel's state before and after, whether qosd
 * wrote anything, and the step that failed (for the message). */
struct outcome {
	struct tc_qdisc_state before, now;
	bool wrote;
	bool shaped; /* egress: the redirect into the ifb is in place */
	const char *step;
};

static bool tbf_matches(const struct tc_qdisc_state *q, const struct tc_shape *s)
{
	return streq(q->kind, "tbf") && q->rate_bytes == s->rate_bytes &&
	       tc_burst_close(s->burst, q->burst) && q->limit == s->limit;
}

static void applied_text(const struct tc_qdisc_state *q, const struct tc_shape *want, char *buf,
			 size_t len)
{
	uint32_t burst = q->burst;

	if (!streq(q->kind, "tbf")) {
		snprintf(buf, len, "unlimited");
		return;
	}
	/* libnl reads the bucket back through whole microseconds: 32768 may come back as 32767 */
	if (want && tc_burst_close(want->burst, burst))
		burst = want->burst;
	else if (tc_burst_close((burst + 512) / 1024 * 1024, burst))
		burst = (burst + 512) / 1024 * 1024;
	(void) tc_shape_format((uint64_t) q->rate_bytes * 8, burst, buf, len);
}

/* Root tbf on ifindex as s says (written only if it differs), read back. fresh: ifindex was made
 * in this call (an ifb just created): nothing of ours on it yet, no read before. */
static int tbf_ensure(struct tc_ctx *ctx, int ifindex, const struct tc_shape *s, bool fresh,
		      bool dry_run, struct outcome *o)
{
	int r = 0;

	if (!fresh)
		r = tc_nl_qdisc_get(ctx, ifindex, false, &o->before);
	o->now = o->before;
	if (r < 0 || dry_run || tbf_matches(&o->before, s))
		return r;
	r = tc_nl_tbf_replace(ctx, ifindex, s, &o->now);
	o->wrote = r >= 0;
	return r;
}

/* Desired text and notes of a SET direction; -ERANGE recorded on k. */
static int knob_shape(struct qos_knob *k, const struct qos_u64 *rate, const struct qos_u64 *burst,
		      const struct tc_veth *v, struct tc_shape *ret)
{
	char buf[64];
	int r;

	r = tc_shape_compute(rate->v, burst, v ? v->mtu : 1500, ret);
	if (r < 0) {
		knob_fail(k, r,
			  "rate %" PRIu64 " bit/s with burst %" PRIu64
			  " is outside what tbf can hold (8 bit/s .. 34 Gbit/s, bucket <= 250 s)",
			  rate->v, burst->op == QOS_SET ? burst->v : 0);
		return r;
	}
	(void) tc_shape_format(ret->rate_bits, ret->burst, buf, sizeof(buf));
	(void) knob_printf(&k->desired, "%s", buf);
	if (v)
		(void) knob_printf(&k->note, "container %s%s", v->c_name,
				   ret->burst_raised	? "; burst raised to MTU + 14"
				   : ret->burst_default ? "; burst default max(32K, 10ms at rate)"
							: "");
	return 0;
}

/* Fill applied (and written/before when something was written) from the outcome. */
static void knob_outcome(struct qos_knob *k, const struct outcome *o, const struct tc_shape *want)
{
	char buf[64];

	applied_text(&o->now, want, buf, sizeof(buf));
	(void) knob_printf(&k->applied, "%s", buf);
	if (!o->wrote)
		return;
	k->written = true;
	applied_text(&o->before, want, buf, sizeof(buf));
	(void) knob_printf(&k->before, "%s", buf);
}

static int ingress_clear(struct tc_ctx *ctx, const struct tc_veth *v, bool dry_run,
			 struct outcome *o)
{
	int r;

	o->step = "deleting tbf";
	r = tc_nl_qdisc_get(ctx, v->h_ifindex, false, &o->before);
	o->now = o->before;
	if (r < 0 || dry_run || !streq(o->before.kind, "tbf"))
		return r;
	r = tc_nl_qdisc_delete(ctx, v->h_ifindex, false);
	if (r < 0)
		return r;
	o->wrote = r > 0;
	return tc_nl_qdisc_get(ctx, v->h_ifindex, false, &o->now);
}

static int do_ingress(struct tc_ctx *ctx, const struct tc_veth *v, const struct qos_net *net,
		      bool dry_run, struct qos_report *r)
{
	struct outcome o = { .step = "replacing tbf" };
	struct tc_shape s, *want = NULL;
	struct qos_knob *k;
	char obj[64];
	int e;

	snprintf(obj, sizeof(obj), "tbf on %s", v->h_name);
	if (report_add_key(r, QK_NET_INGRESS, obj, &k) < 0)
		return -ENOMEM;
	if (net->ingress_bps.op == QOS_SET) {
		e = knob_shape(k, &net->ingress_bps, &net->burst_bytes, v, &s);
		if (e < 0)
			return e;
		want = &s;
		e = tbf_ensure(ctx, v->h_ifindex, &s, false, dry_run, &o);
	} else {
		(void) knob_printf(&k->desired, "unlimited");
		e = ingress_clear(ctx, v, dry_run, &o);
	}
	if (e < 0) {
		knob_fail(k, e, "%s on %s: %s", o.step, v->h_name, tc_errstr(ctx, e));
		return e;
	}
	knob_outcome(k, &o, want);
	return 0;
}

/* What the veth's ingress side has before the egress is set: an ingress qdisc, and the target
 * of qosd's redirect filter (0 none). */
struct redirect_state {
	bool ingress;
	int target;
};

static int redirect_read(struct tc_ctx *ctx, const struct tc_veth *v, struct outcome *o,
			 struct redirect_state *ret)
{
	struct tc_qdisc_state ing;
	int e;

	*ret = (struct redirect_state){ 0 };
	o->step = "reading ingress qdisc";
	e = tc_nl_qdisc_get(ctx, v->h_ifindex, true, &ing);
	if (e < 0 || !streq(ing.kind, "ingress"))
		return e; /* no ingress qdisc: no filter on it either */
	ret->ingress = true;
	o->step = "reading filter";
	return tc_nl_redirect_get(ctx, v->h_ifindex, &ret->target);
}

/* The ingress qdisc and the u32 match-all filter redirecting into ifx, from what rs read. */
static int redirect_ensure(struct tc_ctx *ctx, const struct tc_veth *v, int ifx,
			   const struct redirect_state *rs, bool dry_run, struct outcome *o)
{
	int e = 0, target = rs->target;

	o->step = "adding ingress qdisc";
	if (!dry_run && !rs->ingress) {
		e = tc_nl_ingress_replace(ctx, v->h_ifindex);
		o->wrote = true;
	}
	if (e < 0)
		return e;
	o->step = "adding u32 mirred filter";
	if (!dry_run && target != ifx) {
		e = tc_nl_redirect_replace(ctx, v->h_ifindex, ifx, &target);
		o->wrote = true;
	}
	o->shaped = e >= 0 && target == ifx;
	return e;
}

/* ifb + tbf first, then the redirect: traffic never goes to an unshaped or down ifb. The veth's
 * redirect is read first: when there is none (a first setup) the ifb is most likely not there
 * either, and is created without looking first. */
static int egress_set(struct tc_ctx *ctx, const char *id, const char *ifb, const struct tc_veth *v,
		      const struct tc_shape *s, bool dry_run, struct outcome *o)
{
	struct redirect_state rs;
	char alias[256];
	int e, ifx = 0;
	bool created = false;

	e = tc_ifb_alias(v->h_ifindex, id, alias, sizeof(alias));
	if (e < 0)
		return e;
	e = redirect_read(ctx, v, o, &rs);
	if (e < 0)
		return e;
	o->step = "creating ifb";
	e = tc_nl_ifb_ensure(ctx, ifb, v->mtu, alias, id, dry_run, rs.target == 0, &ifx, &created);
	if (e == -ENODEV && dry_run)
		return 0;
	if (e < 0)
		return e;
	o->step = "replacing tbf on ifb";
	e = tbf_ensure(ctx, ifx, s, created, dry_run, o);
	if (e < 0)
		return e;
	return redirect_ensure(ctx, v, ifx, &rs, dry_run, o);
}

static int egress_clear(struct tc_ctx *ctx, const char *ifb, const struct tc_veth *v, bool dry_run,
			struct outcome *o)
{
	struct tc_link_state l;
	int e, target = 0;

	o->step = "reading ifb";
	e = tc_nl_link_get(ctx, 0, ifb, &l);
	if (e >= 0)
		e = tc_nl_qdisc_get(ctx, l.ifindex, false, &o->before);
	if (e < 0 && e != -ENODEV)
		return e;
	if (!dry_run) {
		o->step = "deleting ingress qdisc";
		e = tc_nl_qdisc_delete(ctx, v->h_ifindex, true);
		if (e < 0)
			return e;
		o->wrote = e > 0;
		o->step = "deleting ifb";
		e = tc_nl_link_delete(ctx, ifb);
		if (e < 0)
			return e;
		o->wrote |= e > 0;
	}
	o->step = "reading filter";
	e = tc_nl_redirect_get(ctx, v->h_ifindex, &target);
	o->shaped = target > 0;
	return e;
}

static int do_egress(struct tc_ctx *ctx, const char *id, unsigned idx, const struct tc_veth *v,
		     const struct qos_net *net, bool dry_run, struct qos_report *r)
{
	struct outcome o = { .step = "naming ifb" };
	struct tc_shape s, *want = NULL;
	struct qos_knob *k;
	char ifb[16] = "", obj[96];
	int e;

	ctx->nle = 0;
	e = tc_ifb_name(id, idx, ifb);
	snprintf(obj, sizeof(obj), "tbf on %s via ingress u32 mirred from %s", e < 0 ? "ifb" : ifb,
		 v->h_name);
	if (report_add_key(r, QK_NET_EGRESS, obj, &k) < 0)
		return -ENOMEM;
	if (e >= 0 && net->egress_bps.op == QOS_SET) {
		e = knob_shape(k, &net->egress_bps, &net->burst_bytes, v, &s);
		if (e < 0)
			return e;
		want = &s;
		e = egress_set(ctx, id, ifb, v, &s, dry_run, &o);
	} else if (e >= 0) {
		(void) knob_printf(&k->desired, "unlimited");
		e = egress_clear(ctx, ifb, v, dry_run, &o);
	}
	if (e < 0) {
		knob_fail(k, e, "%s for %s: %s", o.step, v->h_name,
			  e == -EEXIST	     ? "the name belongs to a link that is not an ifb"
			  : e == -EADDRINUSE ? "the name is held by another container's ifb (its "
					       "alias says whose): left alone"
					     : tc_errstr(ctx, e));
		return e;
	}
	if (!o.shaped)
		o.now = (struct tc_qdisc_state){ 0 }; /* not redirected: traffic is not shaped */
	knob_outcome(k, &o, want);
	return 0;
}

/* Delete id's ifbs from index from on (the veths they served are gone). Probes names in order. */
static int drop_ifbs_from(struct tc_ctx *ctx, const char *id, unsigned from);

static int report_no_veth(const struct qos_net *net, const char *why, struct qos_report *r)
{
	static const enum qos_key keys[] = { QK_NET_INGRESS, QK_NET_EGRESS };
	const struct qos_u64 *ops[] = { &net->ingress_bps, &net->egress_bps };
	struct tc_shape s;
	struct qos_knob *k;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (ops[i]->op == QOS_LEAVE)
			continue;
		if (report_add_key(r, keys[i], "veth", &k) < 0)
			return -ENOMEM;
		if (ops[i]->op == QOS_SET)
			(void) knob_shape(k, ops[i], &net->burst_bytes, NULL, &s);
		else
			(void) knob_printf(&k->desired, "unlimited");
		(void) knob_printf(&k->note, "no veth to shape%s%s", why ? ": " : "", why ?: "");
	}
	return 0;
}

static void report_fail_all(struct tc_ctx *ctx, const struct qos_net *net, int e, pid_t pid,
			    struct qos_report *r)
{
	static const enum qos_key keys[] = { QK_NET_INGRESS, QK_NET_EGRESS };
	const struct qos_u64 *ops[] = { &net->ingress_bps, &net->egress_bps };
	struct qos_knob *k;
	struct tc_shape s;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (ops[i]->op != QOS_LEAVE && report_add_key(r, keys[i], "veth", &k) >= 0) {
			/* the value stays named in show even when no veth could be looked at */
			if (ops[i]->op == QOS_SET)
				(void) knob_shape(k, ops[i], &net->burst_bytes, NULL, &s);
			else
				(void) knob_printf(&k->desired, "unlimited");
			knob_fail(k, e, "finding the veths of pid %d: %s", (int) pid,
				  e == -ESRCH ? "no such process" : tc_errstr(ctx, e));
		}
	if (e == -ESRCH)
		report_retry(r, "tc: no process to find the network namespace from");
}

int tc_apply(struct tc_ctx *ctx, const char *id, pid_t pid, const struct qos_net *net, bool dry_run,
	     struct qos_report *r)
{
	_cleanup_free_ struct tc_veth *v = NULL;
	const char *why;
	size_t n = 0;
	int e, first = 0;

	if (net->ingress_bps.op == QOS_LEAVE && net->egress_bps.op == QOS_LEAVE)
		return 0;
	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	tc_nl_resync(ctx);
	e = tc_container_veths(ctx, pid, &v, &n, &why);
	if (e < 0) {
		report_fail_all(ctx, net, e, pid, r);
		return e;
	}
	if (n == 0 && report_no_veth(net, why, r) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (net->ingress_bps.op != QOS_LEAVE) {
			e = do_ingress(ctx, &v[i], net, dry_run, r);
			first = first ?: MIN(e, 0);
		}
		if (net->egress_bps.op != QOS_LEAVE) {
			e = do_egress(ctx, id, (unsigned) i, &v[i], net, dry_run, r);
			first = first ?: MIN(e, 0);
		}
	}
	if (net->egress_bps.op != QOS_LEAVE && !dry_run) {
		e = drop_ifbs_from(ctx, id, net->egress_bps.op == QOS_SET ? (unsigned) n : 0);
		if (e < 0)
			log_debug("tc: %s: removing ifbs of vanished veths: %s", id,
				  tc_errstr(ctx, e));
	}
	return first;
}

/* What an ifb is: whose (its alias), and whether the veth its alias names still redirects into
 * it (if not, it shapes nothing). */
struct ifb_use {
	struct tc_link_state s;
	int vix;
	const char *owner; /* into s.alias; NULL: no qosd alias (never completed, or not ours) */
	bool used;
};

/* 0 none, 1 an ifb described in *u. */
static int ifb_inspect(struct tc_ctx *ctx, const char *name, struct ifb_use *u)
{
	int e, target = 0;

	*u = (struct ifb_use){ 0 };
	e = tc_nl_link_get(ctx, 0, name, &u->s);
	if (e == -ENODEV)
		return 0;
	if (e < 0)
		return e;
	if (!streq(u->s.kind, "ifb"))
		return 0;
	if (tc_ifb_alias_parse(u->s.alias, &u->vix, &u->owner) < 0)
		return 1;
	u->used = tc_nl_redirect_get(ctx, u->vix, &target) >= 0 && target == u->s.ifindex;
	return 1;
}

/* Undo one ifb: the redirect into it on the veth its alias names (if still pointing here), then
 * the ifb itself. With id, only an ifb whose alias names id (or that has no qosd alias, made by a
 * qosd killed before it could name it). 0 if there was none (or not ours), 1 if deleted. */
static int release_ifb(struct tc_ctx *ctx, const char *name, const char *id)
{
	struct ifb_use u;
	int e = ifb_inspect(ctx, name, &u);

	if (e <= 0)
		return e;
	if (id && u.owner && !streq(u.owner, id))
		return 0;
	if (u.used) {
		e = tc_nl_qdisc_delete(ctx, u.vix, true);
		if (e < 0)
			return e;
	}
	return tc_nl_link_delete(ctx, name);
}

static int drop_ifbs_from(struct tc_ctx *ctx, const char *id, unsigned from)
{
	char name[16];
	int e, first = 0;

	for (unsigned i = from; tc_ifb_name(id, i, name) >= 0; i++) {
		e = release_ifb(ctx, name, id);
		if (e == 0)
			break;
		first = first ?: MIN(e, 0);
	}
	return first;
}

int tc_release(struct tc_ctx *ctx, const char *id)
{
	_cleanup_free_ char(*v)[16] = NULL;
	size_t n;
	int e, first = 0;

	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	tc_nl_resync(ctx);
	e = tc_nl_ifb_list(ctx, &v, &n);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++)
		if (tc_ifb_owned_by(v[i], id)) {
			e = release_ifb(ctx, v[i], id);
			first = first ?: MIN(e, 0);
		}
	return first;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int tc_gc(struct tc_ctx *ctx, const char *const *live_ids, size_t n, size_t *ret_unknown)
{
	_cleanup_free_ const char **live = calloc(n + 1, sizeof(char *));
	_cleanup_free_ char(*v)[16] = NULL;
	size_t m, unknown = 0;
	int e, deleted = 0;

	if (!live)
		return -ENOMEM;
	memcpy(live, live_ids, n * sizeof(char *));
	qsort(live, n, sizeof(char *), name_cmp);
	tc_nl_resync(ctx);
	e = tc_nl_ifb_list(ctx, &v, &m);
	if (e < 0)
		return e;
	for (size_t i = 0; i < m; i++) {
		struct ifb_use u;

		e = ifb_inspect(ctx, v[i], &u);
		if (e <= 0)
			continue;
		/* a veth still redirects into it: it shapes a live container, known or not */
		if (u.used) {
			unknown += !bsearch(&u.owner, live, n, sizeof(char *), name_cmp);
			continue;
		}
		e = tc_nl_link_delete(ctx, v[i]);
		if (e < 0)
			log_debug("tc: removing unused %s: %s", v[i], tc_errstr(ctx, e));
		else
			deleted += e;
	}
	if (ret_unknown)
		*ret_unknown = unknown;
	return deleted;
}

int tc_monitor_open(struct tc_ctx *ctx, int *ret_fd)
{
	if (ctx->mon)
		return -EBUSY;
	return tc_nl_monitor_open(ctx, ret_fd);
}

int tc_monitor_process(struct tc_ctx *ctx, bool *ret_changed)
{
	int e;

	if (!ctx->mon)
		return -EBADF;
	e = tc_nl_monitor_drain(ctx);
	*ret_changed = ctx->mon_changed;
	ctx->mon_changed = false;
	return e;
}
