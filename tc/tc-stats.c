/* SPDX-License-Identifier: MIT */
/* Statistics of the qdiscs qosd made for a container (read only). */
#include "tc/tc-internal.h"
#include "qosd/util.h"

static void add(struct tc_net_stats *s, const struct tc_qdisc_state *q)
{
	s->have = true;
	s->bytes += q->bytes;
	s->packets += q->packets;
	s->drops += q->drops;
	s->overlimits += q->overlimits;
}

/* Into the container: the root tbf on each host veth. Out of it: the root qdisc of the ifb the
 * veth's ingress redirects to (named from id and the veth's index). */
int tc_stats(struct tc_ctx *ctx, const char *id, pid_t pid, struct tc_net_stats ret[2])
{
	_cleanup_free_ struct tc_veth *v = NULL;
	const char *why;
	size_t n = 0;
	int r;

	ret[TC_DIR_IN] = (struct tc_net_stats){ 0 };
	ret[TC_DIR_OUT] = (struct tc_net_stats){ 0 };
	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	tc_nl_resync(ctx);
	r = tc_container_veths(ctx, pid, &v, &n, &why);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct tc_qdisc_state q;
		struct tc_link_state l;
		char ifb[16];

		if (tc_nl_qdisc_get(ctx, v[i].h_ifindex, false, &q) >= 0 && streq(q.kind, "tbf"))
			add(&ret[TC_DIR_IN], &q);
		if (tc_ifb_name(id, (unsigned) i, ifb) < 0 || tc_nl_link_get(ctx, 0, ifb, &l) < 0 ||
		    !l.ifindex)
			continue;
		if (tc_nl_qdisc_get(ctx, l.ifindex, false, &q) >= 0 && streq(q.kind, "tbf"))
			add(&ret[TC_DIR_OUT], &q);
	}
	return 0;
}
