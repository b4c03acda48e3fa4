/* SPDX-License-Identifier: MIT */
/* libnl adapter, links and sockets: NLE_* codes become -errno here, the text stays for messages. */
#include <linux/if.h>
#include <linux/net_namespace.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/rtnl.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "qosd/log.h"
#include "qosd/util.h"
#include "tc/tc-internal.h"

void tc_nl_msg_freep(struct nl_msg **p)
{
	if (*p)
		nlmsg_free(*p);
}

void tc_nl_cache_freep(struct nl_cache **p)
{
	if (*p)
		nl_cache_free(*p);
}

void tc_nl_cb_putp(struct nl_cb **p)
{
	if (*p)
		nl_cb_put(*p);
}

void tc_nl_sock_freep(struct nl_sock **p)
{
	if (*p)
		nl_socket_free(*p);
}

void tc_rtnl_link_putp(struct rtnl_link **p)
{
	if (*p)
		rtnl_link_put(*p);
}

struct nl_cb *tc_nl_cb_clone(struct nl_sock *sk)
{
	_cleanup_cb_ struct nl_cb *cur = nl_socket_get_cb(sk); /* a reference of our own */

	return cur ? nl_cb_clone(cur) : NULL;
}

static const int nle_errno[NLE_MAX + 1] = {
	[NLE_FAILURE] = EIO,
	[NLE_INTR] = EINTR,
	[NLE_BAD_SOCK] = EBADF,
	[NLE_AGAIN] = EAGAIN,
	[NLE_NOMEM] = ENOMEM,
	[NLE_EXIST] = EEXIST,
	[NLE_INVAL] = EINVAL,
	[NLE_RANGE] = ERANGE,
	[NLE_MSGSIZE] = EMSGSIZE,
	[NLE_OPNOTSUPP] = EOPNOTSUPP,
	[NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
	[NLE_OBJ_NOTFOUND] = ENOENT,
	[NLE_NOATTR] = ENODATA,
	[NLE_MISSING_ATTR] = EINVAL,
	[NLE_AF_MISMATCH] = EAFNOSUPPORT,
	[NLE_SEQ_MISMATCH] = EBADMSG,
	[NLE_MSG_OVERFLOW] = EOVERFLOW,
	[NLE_MSG_TRUNC] = EMSGSIZE,
	[NLE_NOADDR] = EADDRNOTAVAIL,
	[NLE_SRCRT_NOSUPPORT] = EOPNOTSUPP,
	[NLE_MSG_TOOSHORT] = EBADMSG,
	[NLE_MSGTYPE_NOSUPPORT] = EOPNOTSUPP,
	[NLE_OBJ_MISMATCH] = EINVAL,
	[NLE_NOCACHE] = ENOENT,
	[NLE_BUSY] = EBUSY,
	[NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
	[NLE_NOACCESS] = EACCES,
	[NLE_PERM] = EPERM,
	[NLE_PKTLOC_FILE] = ENOENT,
	[NLE_PARSE_ERR] = EBADMSG,
	[NLE_NODEV] = ENODEV,
	[NLE_IMMUTABLE] = EPERM,
	[NLE_DUMP_INTR] = EINTR,
	[NLE_ATTRSIZE] = EMSGSIZE,
};

int tc_nlerr(struct tc_ctx *ctx, int nle)
{
	int e;

	nle = nle < 0 ? -nle : nle;
	e = nle > 0 && nle <= NLE_MAX ? nle_errno[nle] : 0;
	if (ctx)
		ctx->nle = nle ? nle : NLE_FAILURE;
	if (ctx && (nle == NLE_AGAIN || nle == NLE_SEQ_MISMATCH))
		ctx->sk_stale = true;
	return -(e ? e : EIO);
}

const char *tc_errstr(struct tc_ctx *ctx, int r)
{
	if (ctx->nle)
		return nl_geterror(ctx->nle);
	return strerror(r < 0 ? -r : r);
}

/* A socket belongs to the netns its creator was in: step into nsfd for socket() only, then back
 * (this thread only; nothing runs in between). A thread per call costs about 200 us here, this
 * about 20. Failing to step back would leave qosd in a container's netns: abort instead. */
static int connect_in(struct tc_ctx *ctx, struct nl_sock *sk, int nsfd)
{
	int r;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return negative_errno();
	r = nl_connect(sk, NETLINK_ROUTE);
	if (setns(ctx->own_nsfd, CLONE_NEWNET) < 0) {
		log_error_errno(errno, "tc: cannot return to qosd's network namespace, aborting");
		abort();
	}
	return r < 0 ? tc_nlerr(ctx, r) : 0;
}

int tc_nl_socket(struct tc_ctx *ctx, int nsfd, struct nl_sock **ret)
{
	_cleanup_sock_ struct nl_sock *sk = nl_socket_alloc();
	int r;

	ctx->nle = 0;
	if (!sk)
		return -ENOMEM;
	if (nsfd < 0) {
		r = nl_connect(sk, NETLINK_ROUTE);
		r = r < 0 ? tc_nlerr(ctx, r) : 0;
	} else {
		r = connect_in(ctx, sk, nsfd);
	}
	if (r < 0)
		return r;
	/* a set buffer size also turns off libnl's MSG_PEEK before each recvmsg (to size the
	 * buffer): one recvmsg per datagram of a single object's answer; a larger message fails as
	 * NLE_MSG_TRUNC, never cut. Dumps turn the peek on around themselves (TC_NL_MSG_BUF). */
	r = nl_socket_set_msg_buf_size(sk, TC_NL_MSG_BUF);
	if (r < 0)
		return tc_nlerr(ctx, r);
	if (setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO,
		       &(struct timeval){ .tv_sec = TC_NL_REPLY_TIMEOUT_SEC },
		       sizeof(struct timeval)) < 0)
		return negative_errno();
	*ret = TAKE_PTR(sk);
	return 0;
}

int tc_nl_read_socket(struct tc_ctx *ctx, struct nl_sock **ret)
{
	struct nl_sock *sk = NULL;
	int r = tc_nl_socket(ctx, -1, &sk);

	if (r < 0)
		return r;
	nl_socket_disable_auto_ack(sk);
	*ret = sk;
	return 0;
}

void tc_nl_resync(struct tc_ctx *ctx)
{
	_cleanup_sock_ struct nl_sock *sk = NULL, *rd = NULL;

	if (!ctx->sk_stale || tc_nl_socket(ctx, -1, &sk) < 0 || tc_nl_read_socket(ctx, &rd) < 0)
		return;
	tc_nl_sock_freep(&ctx->sk);
	tc_nl_sock_freep(&ctx->rd);
	ctx->sk = TAKE_PTR(sk);
	ctx->rd = TAKE_PTR(rd);
	ctx->sk_stale = false;
	log_debug("tc: a netlink reply timed out or came out of sequence: new request sockets");
}

static void link_state(struct rtnl_link *l, struct tc_link_state *ret)
{
	const char *s;
	int32_t nsid;

	*ret = (struct tc_link_state){ .ifindex = rtnl_link_get_ifindex(l), .nsid = -1 };
	snprintf(ret->name, sizeof(ret->name), "%s", rtnl_link_get_name(l) ?: "");
	s = rtnl_link_get_type(l);
	snprintf(ret->kind, sizeof(ret->kind), "%s", s ?: "");
	ret->mtu = rtnl_link_get_mtu(l);
	ret->up = rtnl_link_get_flags(l) & IFF_UP;
	ret->link = rtnl_link_get_link(l);
	if (rtnl_link_get_link_netnsid(l, &nsid) == 0)
		ret->nsid = nsid;
	s = rtnl_link_get_ifalias(l);
	snprintf(ret->alias, sizeof(ret->alias), "%s", s ?: "");
}

struct pick {
	int type;
	struct nl_object *obj;
};

static void pick_obj(struct nl_object *obj, void *arg)
{
	struct pick *p = arg;

	if (!p->obj) {
		nl_object_get(obj);
		p->obj = obj;
	}
}

static int pick_valid(struct nl_msg *msg, void *arg)
{
	struct pick *p = arg;

	/* an echo of a replace may carry the deleted object first (RTM_DEL*): not the state */
	if (nlmsg_hdr(msg)->nlmsg_type == p->type)
		(void) nl_msg_parse(msg, pick_obj, p);
	return NL_OK;
}

struct read_req {
	unsigned seq;
	bool bad_seq;
};

static int read_seq_check(struct nl_msg *msg, void *arg)
{
	struct read_req *q = arg;

	if (nlmsg_hdr(msg)->nlmsg_seq == q->seq)
		return NL_OK;
	q->bad_seq = true; /* a late answer of an earlier request */
	return NL_STOP;
}

/* A read on ctx->rd: no ACK asked (the answer, or an error, ends it). libnl checks sequence
 * numbers only with ACKs: checked here. */
static int read_request(struct tc_ctx *ctx, struct nl_msg *msg, nl_recvmsg_msg_cb_t valid,
			void *arg)
{
	_cleanup_cb_ struct nl_cb *cb = tc_nl_cb_clone(ctx->rd);
	struct read_req q = { 0 };
	int r;

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid, arg);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, read_seq_check, &q);
	r = nl_send_auto(ctx->rd, msg);
	if (r < 0)
		return tc_nlerr(ctx, r);
	q.seq = nlmsg_hdr(msg)->nlmsg_seq;
	r = nl_recvmsgs(ctx->rd, cb);
	if (r >= 0 && q.bad_seq)
		r = -NLE_SEQ_MISMATCH;
	return r < 0 ? tc_nlerr(ctx, r) : 0;
}

int tc_nl_request(struct tc_ctx *ctx, struct nl_msg *msg, int type, bool ack,
		  struct nl_object **ret)
{
	_cleanup_cb_ struct nl_cb *cb = NULL;
	struct pick p = { .type = type };
	int r;

	ctx->nle = 0;
	if (!ack) {
		r = read_request(ctx, msg, pick_valid, &p);
	} else {
		cb = tc_nl_cb_clone(ctx->sk);
		if (!cb)
			return -ENOMEM;
		nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, pick_valid, &p);
		r = nl_send_auto(ctx->sk, msg);
		if (r >= 0)
			r = nl_recvmsgs(ctx->sk, cb);
		/* the echo came first, the ACK (or a late error) follows; without an echo the
		 * ACK was what nl_recvmsgs read */
		if (r >= 0 && p.obj)
			r = nl_wait_for_ack(ctx->sk);
		r = r < 0 ? tc_nlerr(ctx, r) : 0;
	}
	if (r < 0) {
		if (p.obj)
			nl_object_put(p.obj);
		return r;
	}
	if (!p.obj) {
		/* a write that was only ACKed (no echo on this kernel) is 1, apart from the
		 * kernel's own -ENOENT (an unknown qdisc kind or classifier): that one failed */
		*ret = NULL;
		return ack ? 1 : -ENOENT;
	}
	*ret = p.obj;
	return 0;
}

int tc_nl_link_get(struct tc_ctx *ctx, int ifindex, const char *name, struct tc_link_state *ret)
{
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r;

	ctx->nle = 0;
	r = rtnl_link_build_get_request(ifindex, name, &msg);
	if (r < 0)
		return tc_nlerr(ctx, r);
	r = tc_nl_request(ctx, msg, RTM_NEWLINK, false, (struct nl_object **) &l);
	if (r == -ENODEV || r == -ENOENT) {
		ctx->nle = 0;
		return -ENODEV;
	}
	if (r < 0)
		return r;
	link_state(l, ret);
	return 0;
}

struct nsid_req {
	int nsid;
	bool got;
};

static int nsid_valid(struct nl_msg *msg, void *arg)
{
	struct nsid_req *q = arg;
	struct nlattr *tb[NETNSA_MAX + 1];

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[NETNSA_NSID]) {
		q->nsid = (int32_t) nla_get_u32(tb[NETNSA_NSID]);
		q->got = true;
	}
	return NL_OK;
}

int tc_nl_nsid(struct tc_ctx *ctx, int nsfd, int *ret)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETNSID, 0);
	struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
	struct nsid_req q = { .nsid = -1 };
	int r;

	ctx->nle = 0;
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, NETNSA_FD, (uint32_t) nsfd) < 0)
		return -ENOMEM;
	r = read_request(ctx, msg, nsid_valid, &q);
	if (r < 0)
		return r;
	*ret = q.nsid;
	return 0;
}

static int veth_cmp(const void *a, const void *b)
{
	const struct tc_veth *x = a, *y = b;

	return (x->c_ifindex > y->c_ifindex) - (x->c_ifindex < y->c_ifindex);
}

#define NSID_UNASKED (-2)
#define NSID_UNKNOWN (-3) /* RTM_GETNSID failed: match on the ifindex pair alone */

/* Is host link h the peer of container veth c (ifindex c_ifindex in the netns numbered nsid)? */
static bool is_peer(const struct tc_link_state *h, int c_ifindex, int nsid)
{
	if (!streq(h->kind, "veth") || h->link != c_ifindex || h->nsid < 0)
		return false;
	/* -1: qosd's netns gives the container's none, so no host veth can point into it */
	return nsid == NSID_UNKNOWN || (nsid >= 0 && h->nsid == nsid);
}

static int host_peer(struct tc_ctx *ctx, int nsfd, const struct tc_link_state *c, int *nsid,
		     struct tc_veth *ret)
{
	struct tc_link_state h;
	int r;

	r = tc_nl_link_get(ctx, c->link, NULL, &h);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	/* the lookup above made the kernel assign the container netns an id if it had none */
	if (*nsid == NSID_UNASKED && tc_nl_nsid(ctx, nsfd, nsid) < 0)
		*nsid = NSID_UNKNOWN;
	if (!is_peer(&h, c->ifindex, *nsid))
		return 0;
	*ret = (struct tc_veth){ .c_ifindex = c->ifindex, .h_ifindex = h.ifindex, .mtu = h.mtu };
	memcpy(ret->c_name, c->name, sizeof(ret->c_name));
	memcpy(ret->h_name, h.name, sizeof(ret->h_name));
	return 1;
}

int tc_nl_container_veths(struct tc_ctx *ctx, int nsfd, struct tc_veth **ret, size_t *ret_n)
{
	_cleanup_sock_ struct nl_sock *sk = NULL;
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_free_ struct tc_veth *v = NULL;
	size_t n = 0;
	int r, nsid = NSID_UNASKED;

	r = tc_nl_socket(ctx, nsfd, &sk);
	if (r < 0)
		return r;
	/* the container's own links: it may give one of them 64 KiB of altnames */
	nl_socket_enable_msg_peek(sk);
	r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (r < 0)
		return tc_nlerr(ctx, r);
	v = calloc(nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct tc_link_state c;

		link_state((struct rtnl_link *) o, &c);
		if (!streq(c.kind, "veth") || c.nsid < 0 || c.link <= 0)
			continue; /* not a veth, or its peer is in this same netns */
		r = host_peer(ctx, nsfd, &c, &nsid, &v[n]);
		if (r < 0)
			return r;
		n += r;
	}
	qsort(v, n, sizeof(*v), veth_cmp);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static int link_dump(struct tc_ctx *ctx, struct nl_cache **ret)
{
	int r;

	ctx->nle = 0;
	nl_socket_enable_msg_peek(ctx->sk);
	r = rtnl_link_alloc_cache(ctx->sk, AF_UNSPEC, ret);
	nl_socket_disable_msg_peek(ctx->sk);
	return r < 0 ? tc_nlerr(ctx, r) : 0;
}

int tc_nl_ifb_list(struct tc_ctx *ctx, char (**ret)[16], size_t *ret_n)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_free_ char(*v)[16] = NULL;
	size_t n = 0;
	int r;

	r = link_dump(ctx, &cache);
	if (r < 0)
		return r;
	v = calloc(nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *) o;
		const char *kind = rtnl_link_get_type(l), *name = rtnl_link_get_name(l);

		if (kind && streq(kind, "ifb") && name && startswith(name, TC_IFB_PREFIX))
			snprintf(v[n++], 16, "%s", name);
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int tc_nl_veth_list(struct tc_ctx *ctx, struct tc_seen **ret, size_t *ret_n)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_free_ struct tc_seen *v = NULL;
	size_t n = 0;
	int r;

	r = link_dump(ctx, &cache);
	if (r < 0)
		return r;
	v = calloc(nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct tc_link_state s;

		link_state((struct rtnl_link *) o, &s);
		if (streq(s.kind, "veth"))
			v[n++] = (struct tc_seen){ s.ifindex, s.link, s.nsid };
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* Create ifb name (up, mtu) and read what was made from the kernel's echo of it (a link of
 * this name made meanwhile by someone else: -EEXIST). */
static int ifb_create(struct tc_ctx *ctx, const char *name, unsigned mtu, struct tc_link_state *ret)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();
	_cleanup_link_ struct rtnl_link *made = NULL;
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	int r;

	if (!l)
		return -ENOMEM;
	r = rtnl_link_set_type(l, "ifb");
	if (r < 0)
		return tc_nlerr(ctx, r);
	rtnl_link_set_name(l, name);
	rtnl_link_set_mtu(l, mtu);
	rtnl_link_set_flags(l, IFF_UP);
	r = rtnl_link_build_add_request(l, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, &msg);
	if (r < 0)
		return tc_nlerr(ctx, r);
	r = tc_nl_request(ctx, msg, RTM_NEWLINK, true, (struct nl_object **) &made);
	if (r == 1) /* made, but no echo (a kernel before 6.3): read it */
		return tc_nl_link_get(ctx, 0, name, ret);
	if (r < 0)
		return r;
	link_state(made, ret);
	return 0;
}

static int link_fix(struct tc_ctx *ctx, const struct tc_link_state *s, unsigned mtu,
		    const char *alias)
{
	_cleanup_link_ struct rtnl_link *orig = rtnl_link_alloc();
	_cleanup_link_ struct rtnl_link *chg = rtnl_link_alloc();
	int r;

	if (!orig || !chg)
		return -ENOMEM;
	rtnl_link_set_ifindex(orig, s->ifindex);
	if (!s->up)
		rtnl_link_set_flags(chg, IFF_UP);
	if (s->mtu != mtu)
		rtnl_link_set_mtu(chg, mtu);
	if (!streq(s->alias, alias))
		rtnl_link_set_ifalias(chg, alias);
	r = rtnl_link_change(ctx->sk, orig, chg, 0);
	return r < 0 ? tc_nlerr(ctx, r) : 0;
}

int tc_nl_ifb_ensure(struct tc_ctx *ctx, const char *name, unsigned mtu, const char *alias,
		     const char *id, bool dry_run, bool create_first, int *ret_ifindex,
		     bool *ret_created)
{
	struct tc_link_state s;
	const char *owner;
	int r = -ENODEV, vix;
	bool created = false;

	if (!create_first || dry_run)
		r = tc_nl_link_get(ctx, 0, name, &s);
	if (r == -ENODEV && !dry_run) {
		r = ifb_create(ctx, name, mtu, &s);
		created = r >= 0;
		if (r == -EEXIST)
			r = tc_nl_link_get(ctx, 0, name, &s);
	}
	if (r < 0)
		return r;
	if (!streq(s.kind, "ifb")) {
		ctx->nle = 0;
		return -EEXIST;
	}
	if (tc_ifb_alias_parse(s.alias, &vix, &owner) >= 0 && !streq(owner, id)) {
		ctx->nle = 0;
		return -EADDRINUSE;
	}
	if (!dry_run && (!s.up || s.mtu != mtu || !streq(s.alias, alias))) {
		r = link_fix(ctx, &s, mtu, alias);
		if (r < 0)
			return r;
	}
	*ret_ifindex = s.ifindex;
	*ret_created = created;
	return 0;
}

int tc_nl_link_delete(struct tc_ctx *ctx, const char *name)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();
	int r;

	ctx->nle = 0;
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	r = rtnl_link_delete(ctx->sk, l);
	if (r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND)
		return 0;
	return r < 0 ? tc_nlerr(ctx, r) : 1;
}
