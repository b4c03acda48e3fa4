/* SPDX-License-Identifier: MIT */
/* libnl adapter, qdiscs and filters: tbf, ingress, u32 match-all + mirred redirect. Reads are
 * single RTM_GET* requests for one object, not dumps, so their cost does not grow with the host. */
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/rtnl.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>

#include "qosd/util.h"
#include "tc/tc-internal.h"

#define QOSD_ROOT_HANDLE 0x10000u /* "1:" */
#define QOSD_FILTER_PRIO 1
#define QOSD_FILTER_HANDLE 0x80000800u /* u32 "800::800" */

void tc_rtnl_qdisc_putp(struct rtnl_qdisc **p)
{
	if (*p)
		rtnl_qdisc_put(*p);
}

void tc_rtnl_cls_putp(struct rtnl_cls **p)
{
	if (*p)
		rtnl_cls_put(*p);
}

void tc_rtnl_act_putp(struct rtnl_act **p)
{
	if (*p)
		rtnl_act_put(*p);
}

static int tc_get_request(struct tc_ctx *ctx, int type, const struct tcmsg *t, const char *kind,
			  struct nl_object **ret)
{
	/* RTM_GETQDISC answers through qdisc_notify(), which unicasts to the asker only with ECHO */
	_cleanup_nlmsg_ struct nl_msg *msg =
		nlmsg_alloc_simple(type, type == RTM_GETQDISC ? NLM_F_ECHO : 0);

	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, (void *) t, sizeof(*t), NLMSG_ALIGNTO) < 0 ||
	    (kind && nla_put_string(msg, TCA_KIND, kind) < 0))
		return -ENOMEM;
	/* a qdisc the kernel hides (the builtin noop on a link without an ingress qdisc) is
	 * answered with nothing but the ACK: only the ACK says the answer is complete */
	if (type == RTM_GETQDISC) {
		int r = tc_nl_request(ctx, msg, RTM_NEWQDISC, true, ret);

		return r == 1 ? -ENOENT : r;
	}
	return tc_nl_request(ctx, msg, RTM_NEWTFILTER, false, ret);
}

static void qdisc_state(struct rtnl_qdisc *q, struct tc_qdisc_state *ret)
{
	*ret = (struct tc_qdisc_state){ 0 };
	snprintf(ret->kind, sizeof(ret->kind), "%s", rtnl_tc_get_kind(TC_CAST(q)) ?: "");
	ret->handle = rtnl_tc_get_handle(TC_CAST(q));
	ret->bytes = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_BYTES);
	ret->packets = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_PACKETS);
	ret->drops = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS);
	ret->overlimits = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_OVERLIMITS);
	if (streq(ret->kind, "tbf")) {
		ret->rate_bytes = (uint32_t) rtnl_qdisc_tbf_get_rate(q);
		ret->burst = (uint32_t) rtnl_qdisc_tbf_get_rate_bucket(q);
		ret->limit = (uint32_t) rtnl_qdisc_tbf_get_limit(q);
	}
}

int tc_nl_qdisc_get(struct tc_ctx *ctx, int ifindex, bool ingress, struct tc_qdisc_state *ret)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC,
			   .tcm_ifindex = ifindex,
			   .tcm_parent = ingress ? TC_H_INGRESS : TC_H_ROOT };
	_cleanup_qdisc_ struct rtnl_qdisc *q = NULL;
	int r;

	*ret = (struct tc_qdisc_state){ 0 };
	r = tc_get_request(ctx, RTM_GETQDISC, &t, NULL, (struct nl_object **) &q);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	qdisc_state(q, ret);
	return 0;
}

static struct rtnl_qdisc *qdisc_new(int ifindex, uint32_t parent, uint32_t handle, const char *kind)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	if (handle)
		rtnl_tc_set_handle(TC_CAST(q), handle);
	if (rtnl_tc_set_kind(TC_CAST(q), kind) < 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

int tc_nl_tbf_replace(struct tc_ctx *ctx, int ifindex, const struct tc_shape *s,
		      struct tc_qdisc_state *ret_now)
{
	_cleanup_qdisc_ struct rtnl_qdisc *q =
		qdisc_new(ifindex, TC_H_ROOT, QOSD_ROOT_HANDLE, "tbf");
	_cleanup_qdisc_ struct rtnl_qdisc *now = NULL;
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	int r;

	ctx->nle = 0;
	if (!q)
		return -ENOMEM;
	/* libnl takes int and stores (uint32_t)rate: bytes/s up to 2^32-1 pass through intact */
	rtnl_qdisc_tbf_set_rate(q, (int) s->rate_bytes, (int) s->burst, 0);
	rtnl_qdisc_tbf_set_limit(q, (int) s->limit);
	/* NLM_F_ECHO: the kernel answers with the root qdisc as it now holds it (qdisc_notify),
	 * the read-back without a second request */
	r = rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ECHO, &msg);
	if (r < 0)
		return tc_nlerr(ctx, r);
	r = tc_nl_request(ctx, msg, RTM_NEWQDISC, true, (struct nl_object **) &now);
	if (r == 1) /* replaced, but no echo (an older kernel): read it */
		return tc_nl_qdisc_get(ctx, ifindex, false, ret_now);
	if (r < 0)
		return r;
	qdisc_state(now, ret_now);
	return 0;
}

int tc_nl_ingress_replace(struct tc_ctx *ctx, int ifindex)
{
	_cleanup_qdisc_ struct rtnl_qdisc *q =
		qdisc_new(ifindex, TC_H_INGRESS, TC_H_MAKE(TC_H_INGRESS, 0), "ingress");
	int r;

	ctx->nle = 0;
	if (!q)
		return -ENOMEM;
	r = rtnl_qdisc_add(ctx->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	return r < 0 ? tc_nlerr(ctx, r) : 0;
}

int tc_nl_qdisc_delete(struct tc_ctx *ctx, int ifindex, bool ingress)
{
	_cleanup_qdisc_ struct rtnl_qdisc *q = qdisc_new(
		ifindex, ingress ? TC_H_INGRESS : TC_H_ROOT, 0, ingress ? "ingress" : "tbf");
	int r;

	ctx->nle = 0;
	if (!q)
		return -ENOMEM;
	r = rtnl_qdisc_delete(ctx->sk, q);
	/* none there (ENOENT), or the link went away meanwhile */
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	return r < 0 ? tc_nlerr(ctx, r) : 1;
}

static struct rtnl_cls *filter_new(int ifindex)
{
	struct rtnl_cls *f = rtnl_cls_alloc();

	if (!f)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(f), ifindex);
	rtnl_tc_set_parent(TC_CAST(f), TC_H_MAKE(TC_H_INGRESS, 0));
	rtnl_tc_set_handle(TC_CAST(f), QOSD_FILTER_HANDLE);
	rtnl_cls_set_prio(f, QOSD_FILTER_PRIO);
	rtnl_cls_set_protocol(f, ETH_P_ALL);
	if (rtnl_tc_set_kind(TC_CAST(f), "u32") < 0) {
		rtnl_cls_put(f);
		return NULL;
	}
	return f;
}

/* The mirred redirect target of a u32 filter of ours, 0 if it has none. */
static int filter_target(struct rtnl_cls *f)
{
	for (struct rtnl_act *a = rtnl_u32_get_action(f); a; a = rtnl_act_next(a)) {
		const char *k = rtnl_tc_get_kind(TC_CAST(a));

		if (k && streq(k, "mirred") && rtnl_mirred_get_action(a) == TCA_EGRESS_REDIR)
			return (int) rtnl_mirred_get_ifindex(a);
	}
	return 0;
}

int tc_nl_redirect_get(struct tc_ctx *ctx, int ifindex, int *ret_target)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC,
			   .tcm_ifindex = ifindex,
			   .tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
			   .tcm_handle = QOSD_FILTER_HANDLE,
			   .tcm_info = TC_H_MAKE(QOSD_FILTER_PRIO << 16, htons(ETH_P_ALL)) };
	_cleanup_cls_ struct rtnl_cls *f = NULL;
	int r;

	*ret_target = 0;
	r = tc_get_request(ctx, RTM_GETTFILTER, &t, "u32", (struct nl_object **) &f);
	if (r == -ENOENT || r == -EINVAL)
		return 0; /* no filter; EINVAL: a filter of another kind at our priority */
	if (r < 0)
		return r;
	*ret_target = filter_target(f);
	return 0;
}

static int redirect_build(struct rtnl_cls *f, int target)
{
	_cleanup_act_ struct rtnl_act *a = rtnl_act_alloc();
	int r;

	if (!a)
		return -NLE_NOMEM;
	r = rtnl_tc_set_kind(TC_CAST(a), "mirred");
	if (r < 0)
		return r;
	rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(a, (uint32_t) target);
	r = rtnl_u32_add_key_uint32(f, 0, 0, 0, 0); /* match u32 0 0: everything */
	if (r < 0)
		return r;
	r = rtnl_u32_set_cls_terminal(f);
	if (r < 0)
		return r;
	return rtnl_u32_add_action(f, a); /* takes its own reference */
}

int tc_nl_redirect_replace(struct tc_ctx *ctx, int ifindex, int target, int *ret_target)
{
	_cleanup_cls_ struct rtnl_cls *f = filter_new(ifindex);
	_cleanup_cls_ struct rtnl_cls *now = NULL;
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	int r;

	ctx->nle = 0;
	if (!f)
		return -ENOMEM;
	r = redirect_build(f, target);
	/* NLM_F_ECHO: the answer is the filter as the kernel now holds it (tfilter_notify) */
	if (r >= 0)
		r = rtnl_cls_build_add_request(f, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ECHO, &msg);
	if (r < 0)
		return tc_nlerr(ctx, r);
	r = tc_nl_request(ctx, msg, RTM_NEWTFILTER, true, (struct nl_object **) &now);
	if (r == 1) /* replaced, but no echo: read it */
		return tc_nl_redirect_get(ctx, ifindex, ret_target);
	if (r < 0)
		return r;
	*ret_target = filter_target(now);
	return 0;
}
