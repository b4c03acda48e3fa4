/* SPDX-License-Identifier: MIT */
/* Dumps of every link and every root qdisc of qosd's netns, parsed for the few attributes the
 * statistics need (the metrics read all containers from one dump of each per scrape). Part of
 * the libnl adapter: the rest of tc/ sees plain structs. */
#include <linux/gen_stats.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "qosd/util.h"
#include "tc/tc-internal.h"

struct dump {
	void *v; /* array of elem-byte items */
	size_t n, cap, elem;
	bool oom;
};

static void *dump_push(struct dump *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *v = reallocarray(d->v, cap, d->elem);

		if (!v) {
			d->oom = true;
			return NULL;
		}
		d->v = v;
		d->cap = cap;
	}
	return memset((char *) d->v + d->n++ * d->elem, 0, d->elem);
}

static void copy_name(char dst[16], const struct nlattr *a)
{
	snprintf(dst, 16, "%.*s", (int) MIN((size_t) nla_len(a), (size_t) 15),
		 (const char *) nla_data(a));
}

static int link_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const struct ifinfomsg *ifi = nlmsg_data(h);
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct tc_dump_link *l;
	char kind[16] = "";

	if (h->nlmsg_type != RTM_NEWLINK || nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[IFLA_LINKINFO] &&
	    nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) >= 0 && li[IFLA_INFO_KIND])
		copy_name(kind, li[IFLA_INFO_KIND]);
	if (!streq(kind, "veth") && !streq(kind, "ifb"))
		return NL_OK;
	l = dump_push(arg);
	if (!l)
		return NL_STOP;
	l->ifindex = ifi->ifi_index;
	l->ifb = streq(kind, "ifb");
	l->nsid = tb[IFLA_LINK_NETNSID] ? (int32_t) nla_get_u32(tb[IFLA_LINK_NETNSID]) : -1;
	if (tb[IFLA_IFNAME])
		copy_name(l->name, tb[IFLA_IFNAME]);
	return NL_OK;
}

static void qdisc_stats(struct nlattr *stats2, struct tc_dump_qdisc *q)
{
	struct nlattr *st[TCA_STATS_MAX + 1];

	if (nla_parse_nested(st, TCA_STATS_MAX, stats2, NULL) < 0)
		return;
	if (st[TCA_STATS_BASIC] && (size_t) nla_len(st[TCA_STATS_BASIC]) >= 12) {
		struct gnet_stats_basic b = { 0 };

		memcpy(&b, nla_data(st[TCA_STATS_BASIC]),
		       MIN(sizeof(b), (size_t) nla_len(st[TCA_STATS_BASIC])));
		q->bytes = b.bytes;
		q->packets = b.packets;
	}
	/* the packet count in 64 bits, where 32 overflowed */
	if (st[TCA_STATS_PKT64] && nla_len(st[TCA_STATS_PKT64]) >= 8)
		q->packets = nla_get_u64(st[TCA_STATS_PKT64]);
	if (st[TCA_STATS_QUEUE] &&
	    (size_t) nla_len(st[TCA_STATS_QUEUE]) >= sizeof(struct gnet_stats_queue)) {
		struct gnet_stats_queue qs;

		memcpy(&qs, nla_data(st[TCA_STATS_QUEUE]), sizeof(qs));
		q->drops = qs.drops;
		q->overlimits = qs.overlimits;
	}
}

static int qdisc_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const struct tcmsg *t = nlmsg_data(h);
	struct nlattr *tb[TCA_MAX + 1];
	struct tc_dump_qdisc *q;

	if (h->nlmsg_type != RTM_NEWQDISC || nlmsg_parse(h, sizeof(*t), tb, TCA_MAX, NULL) < 0 ||
	    t->tcm_parent != TC_H_ROOT)
		return NL_SKIP;
	q = dump_push(arg);
	if (!q)
		return NL_STOP;
	q->ifindex = t->tcm_ifindex;
	if (tb[TCA_KIND])
		copy_name(q->kind, tb[TCA_KIND]);
	if (tb[TCA_STATS2])
		qdisc_stats(tb[TCA_STATS2], q);
	return NL_OK;
}

/* One dump request of type with header hdr, every answer through valid into d. */
static int dump_run(struct tc_ctx *ctx, int type, void *hdr, size_t hdr_len,
		    nl_recvmsg_msg_cb_t valid, struct dump *d, void **ret, size_t *ret_n)
{
	_cleanup_cb_ struct nl_cb *cb = tc_nl_cb_clone(ctx->sk);
	int r;

	ctx->nle = 0;
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid, d);
	nl_socket_enable_msg_peek(ctx->sk); /* TC_NL_MSG_BUF */
	r = nl_send_simple(ctx->sk, type, NLM_F_DUMP, hdr, hdr_len);
	if (r >= 0)
		r = nl_recvmsgs(ctx->sk, cb);
	nl_socket_disable_msg_peek(ctx->sk);
	if (r >= 0 && d->oom)
		r = -NLE_NOMEM;
	if (r < 0) {
		free(d->v);
		return tc_nlerr(ctx, r);
	}
	*ret = d->v;
	*ret_n = d->n;
	return 0;
}

int tc_nl_dump_links(struct tc_ctx *ctx, struct tc_dump_link **ret, size_t *ret_n)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct dump d = { .elem = sizeof(struct tc_dump_link) };

	return dump_run(ctx, RTM_GETLINK, &ifi, sizeof(ifi), link_valid, &d, (void **) ret, ret_n);
}

int tc_nl_dump_root_qdiscs(struct tc_ctx *ctx, struct tc_dump_qdisc **ret, size_t *ret_n)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC };
	struct dump d = { .elem = sizeof(struct tc_dump_qdisc) };

	return dump_run(ctx, RTM_GETQDISC, &t, sizeof(t), qdisc_valid, &d, (void **) ret, ret_n);
}
