/* SPDX-License-Identifier: MIT */
/* Link events: which host-side veths exist, with which peer. The daemon polls the fd; a veth that
 * appears, goes away or changes peer (moved into a netns) makes tc_monitor_process say "changed". */
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "qosd/log.h"
#include "qosd/util.h"
#include "tc/tc-internal.h"

void tc_seen_update(struct tc_ctx *ctx, const struct tc_seen *s, bool del)
{
	size_t i;

	for (i = 0; i < ctx->n_seen && ctx->seen[i].ifindex != s->ifindex; i++)
		;
	if (del) {
		if (i == ctx->n_seen)
			return;
		ctx->seen[i] = ctx->seen[--ctx->n_seen];
		ctx->mon_changed = true;
		return;
	}
	if (i < ctx->n_seen) {
		if (ctx->seen[i].peer != s->peer || ctx->seen[i].nsid != s->nsid) {
			ctx->seen[i] = *s;
			ctx->mon_changed = true;
		}
		return;
	}
	if (ctx->n_seen == ctx->cap_seen) {
		size_t cap = ctx->cap_seen * 2 + 16;
		struct tc_seen *v = realloc(ctx->seen, cap * sizeof(*v));

		if (!v) {
			ctx->mon_changed = true; /* cannot track it: say changed, stay correct */
			return;
		}
		ctx->seen = v;
		ctx->cap_seen = cap;
	}
	ctx->seen[ctx->n_seen++] = *s;
	ctx->mon_changed = true;
}

static void mon_obj(struct nl_object *obj, void *arg)
{
	struct rtnl_link *l = (struct rtnl_link *) obj;
	const char *kind = rtnl_link_get_type(l);
	struct tc_seen s = { .ifindex = rtnl_link_get_ifindex(l), .nsid = -1 };
	int32_t nsid;

	if (!kind || !streq(kind, "veth"))
		return;
	s.peer = rtnl_link_get_link(l);
	if (rtnl_link_get_link_netnsid(l, &nsid) == 0)
		s.nsid = nsid;
	tc_seen_update(arg, &s, nl_object_get_msgtype(obj) == RTM_DELLINK);
}

static int mon_valid(struct nl_msg *msg, void *arg)
{
	int t = nlmsg_hdr(msg)->nlmsg_type;

	if (t == RTM_NEWLINK || t == RTM_DELLINK)
		(void) nl_msg_parse(msg, mon_obj, arg);
	return NL_OK;
}

static int mon_resync(struct tc_ctx *ctx)
{
	struct tc_seen *v;
	size_t n;
	int r;

	r = tc_nl_veth_list(ctx, &v, &n);
	if (r < 0)
		return r;
	free(ctx->seen);
	ctx->seen = v;
	ctx->n_seen = ctx->cap_seen = n;
	return 0;
}

int tc_nl_monitor_open(struct tc_ctx *ctx, int *ret_fd)
{
	_cleanup_sock_ struct nl_sock *sk = nl_socket_alloc();
	int r;

	ctx->nle = 0;
	if (!sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, mon_valid, ctx);
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r >= 0)
		r = nl_socket_add_membership(sk, RTNLGRP_LINK);
	if (r >= 0)
		r = nl_socket_set_nonblocking(sk);
	if (r >= 0)
		r = nl_socket_set_buffer_size(sk, 1 << 20, 0);
	if (r < 0)
		return tc_nlerr(ctx, r);
	/* subscribed first, listed second: nothing falls between the two */
	r = mon_resync(ctx);
	if (r < 0)
		return r;
	ctx->mon = TAKE_PTR(sk);
	*ret_fd = nl_socket_get_fd(ctx->mon);
	return 0;
}

int tc_nl_monitor_drain(struct tc_ctx *ctx)
{
	int r;

	for (;;) {
		r = nl_recvmsgs_default(ctx->mon);
		if (r == -NLE_AGAIN)
			return 0;
		if (r == -NLE_NOMEM || r == -NLE_MSG_OVERFLOW) {
			/* ENOBUFS: events were lost; relist and let the daemon reconcile */
			log_debug("tc: link monitor overrun, relisting veths");
			ctx->mon_changed = true;
			return mon_resync(ctx);
		}
		if (r < 0)
			return tc_nlerr(ctx, r);
	}
}
