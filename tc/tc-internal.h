/* SPDX-License-Identifier: MIT */
/* Shared by the tc module only. libnl types are forward-declared: no library header here. tc-nl.c is
 * the adapter: every function returns 0 / -errno and records libnl's error for the message. */
#pragma once

#include <sys/types.h>

#include "tc/tc.h"

struct nl_sock;
struct nl_object;
struct nl_msg;
struct nl_cache;
struct nl_cb;
struct rtnl_link;
struct rtnl_qdisc;
struct rtnl_cls;
struct rtnl_act;

/* Cleanup helpers for libnl objects (defined in tc-nl.c; accept NULL). */
void tc_nl_msg_freep(struct nl_msg **p);
void tc_nl_cache_freep(struct nl_cache **p);
void tc_nl_cb_putp(struct nl_cb **p);
void tc_nl_sock_freep(struct nl_sock **p);
void tc_rtnl_link_putp(struct rtnl_link **p);
void tc_rtnl_qdisc_putp(struct rtnl_qdisc **p);
void tc_rtnl_cls_putp(struct rtnl_cls **p);
void tc_rtnl_act_putp(struct rtnl_act **p);
/* A private copy of sk's callbacks (for one request with handlers of its own). */
struct nl_cb *tc_nl_cb_clone(struct nl_sock *sk);
#define _cleanup_nlmsg_ _cleanup_(tc_nl_msg_freep)
#define _cleanup_cache_ _cleanup_(tc_nl_cache_freep)
#define _cleanup_cb_ _cleanup_(tc_nl_cb_putp)
#define _cleanup_sock_ _cleanup_(tc_nl_sock_freep)
#define _cleanup_link_ _cleanup_(tc_rtnl_link_putp)
#define _cleanup_qdisc_ _cleanup_(tc_rtnl_qdisc_putp)
#define _cleanup_cls_ _cleanup_(tc_rtnl_cls_putp)
#define _cleanup_act_ _cleanup_(tc_rtnl_act_putp)

struct tc_seen {
	int ifindex; /* host veth */
	int peer; /* IFLA_LINK */
	int nsid; /* IFLA_LINK_NETNSID, -1 none */
};

struct tc_ctx {
	struct nl_sock *sk; /* qosd's own netns, requests */
	struct nl_sock *rd; /* qosd's own netns, reads of one object: no ACK asked */
	struct nl_sock *mon; /* RTNLGRP_LINK, NULL until tc_monitor_open */
	int nle; /* last libnl error (positive NLE_*), 0 if the last error was not libnl's */
	int own_nsfd; /* qosd's own netns (this thread's), to step back into */
	dev_t ns_dev;
	ino_t ns_ino;
	struct tc_seen *seen; /* host veths the monitor knows */
	size_t n_seen, cap_seen;
	bool mon_changed;
	bool sk_stale; /* a reply timed out or came out of sequence: reopen sk before the next use */
};

/* One veth of the container and its host-side peer. */
struct tc_veth {
	int c_ifindex;
	char c_name[16];
	int h_ifindex;
	char h_name[16];
	unsigned mtu; /* host side */
};

/* Root (or ingress) qdisc of a link as the kernel reports it. */
struct tc_qdisc_state {
	char kind[16]; /* "" if none */
	uint32_t handle;
	uint32_t rate_bytes, burst, limit; /* tbf only */
	uint64_t bytes, packets, drops, overlimits; /* the qdisc's statistics */
};

struct tc_link_state {
	int ifindex;
	char name[16];
	char kind[16]; /* rtnl link type, "" if none */
	unsigned mtu;
	bool up;
	int link; /* IFLA_LINK (veth peer ifindex), 0 none */
	int nsid; /* IFLA_LINK_NETNSID, -1 none */
	char alias[256]; /* IFLA_IFALIAS, "" none */
};

/* libnl error (negative NLE_*) -> -errno, remembered for tc_errstr(). */
int tc_nlerr(struct tc_ctx *ctx, int nle);
/* Words for the last failure r: libnl's text when it was libnl's, else strerror. */
const char *tc_errstr(struct tc_ctx *ctx, int r);

/* Route socket in the netns nsfd (-1: qosd's own), bound there for its whole life. Replies are
 * awaited at most TC_NL_REPLY_TIMEOUT_SEC: a request lost on the way must not block qosd. */
#define TC_NL_REPLY_TIMEOUT_SEC 2
/* The receive buffer of one recvmsg, enough for the answer about one of qosd's own objects (a
 * host veth or ifb, a qdisc, a filter). A dump's datagrams are sized by its largest message, and
 * one link can pass 64 KiB (a NIC with a hundred VFs, a container's veth with 64 KiB of
 * altnames): every dump turns libnl's MSG_PEEK on around itself, which grows the buffer. */
#define TC_NL_MSG_BUF 32768
int tc_nl_socket(struct tc_ctx *ctx, int nsfd, struct nl_sock **ret);
/* The socket for ctx->rd: no ACK asked. */
int tc_nl_read_socket(struct tc_ctx *ctx, struct nl_sock **ret);
/* A fresh ctx->sk and ctx->rd after a timed-out or out-of-sequence reply (a late reply would otherwise answer
 * the next request). */
void tc_nl_resync(struct tc_ctx *ctx);
/* Send msg (built, not sent) on ctx->sk and keep the first answer of nlmsg type `type`, parsed
 * (an echo of a replace may carry the deleted object before the new one). ack: msg asks for an
 * ACK and it is awaited after the answer (a write with NLM_F_ECHO); false: a read, the answer
 * ends it. 0 and *ret with the answer; without one, 1 for a write (the kernel only ACKed: no
 * echo on this kernel, the caller reads the object) and -ENOENT for a read. A write the kernel
 * refused is its -errno, -ENOENT included (an unknown qdisc kind, classifier or action). */
int tc_nl_request(struct tc_ctx *ctx, struct nl_msg *msg, int type, bool ack,
		  struct nl_object **ret);
/* The nsid qosd's netns gives the netns nsfd, -1 if none assigned. */
int tc_nl_nsid(struct tc_ctx *ctx, int nsfd, int *ret);
/* veths of the netns nsfd whose peer is a veth in qosd's netns pointing back at it. */
int tc_nl_container_veths(struct tc_ctx *ctx, int nsfd, struct tc_veth **ret, size_t *ret_n);

int tc_nl_link_get(struct tc_ctx *ctx, int ifindex, const char *name, struct tc_link_state *ret);
/* ifb name exists, is up, has mtu and alias (created unless dry_run; -ENODEV then). -EEXIST if
 * the name belongs to a link of another kind, -EADDRINUSE if it is an ifb whose qosd alias names
 * a container other than id (never taken over). create_first: try to create it before looking
 * (a first setup: one request instead of three). *ret_created: made by this call. */
int tc_nl_ifb_ensure(struct tc_ctx *ctx, const char *name, unsigned mtu, const char *alias,
		     const char *id, bool dry_run, bool create_first, int *ret_ifindex,
		     bool *ret_created);
int tc_nl_link_delete(struct tc_ctx *ctx, const char *name);
/* Names of every ifb link whose name starts with TC_IFB_PREFIX (malloc'd array of char[16]). */
int tc_nl_ifb_list(struct tc_ctx *ctx, char (**ret)[16], size_t *ret_n);
/* Every veth in qosd's netns (for the monitor). */
int tc_nl_veth_list(struct tc_ctx *ctx, struct tc_seen **ret, size_t *ret_n);

/* The veths of pid's netns with their host peers. ret_why: why there are none, if known. */
int tc_container_veths(struct tc_ctx *ctx, pid_t pid, struct tc_veth **ret, size_t *ret_n,
		       const char **ret_why);

/* parent: 0 = root, else TC_H_INGRESS. kind "" when there is none. */
int tc_nl_qdisc_get(struct tc_ctx *ctx, int ifindex, bool ingress, struct tc_qdisc_state *ret);
/* Replace the root qdisc with a tbf as s says; ret_now: the root qdisc as the kernel reports it
 * after the change (its echo, or a read when the kernel does not echo). */
int tc_nl_tbf_replace(struct tc_ctx *ctx, int ifindex, const struct tc_shape *s,
		      struct tc_qdisc_state *ret_now);
int tc_nl_ingress_replace(struct tc_ctx *ctx, int ifindex);
/* Delete the root (kind "tbf") or the ingress qdisc; 0 if there was none. */
int tc_nl_qdisc_delete(struct tc_ctx *ctx, int ifindex, bool ingress);
/* qosd's u32 filter on ifindex's ingress: its mirred target ifindex, 0 if none. */
int tc_nl_redirect_get(struct tc_ctx *ctx, int ifindex, int *ret_target);
/* Replace it, redirecting to target; ret_target: the filter's target as the kernel reports it
 * after the change (as tc_nl_tbf_replace). */
int tc_nl_redirect_replace(struct tc_ctx *ctx, int ifindex, int target, int *ret_target);

/* Monitor socket: open (subscribed, non-blocking) and drain; calls tc_seen_update per link. */
int tc_nl_monitor_open(struct tc_ctx *ctx, int *ret_fd);
int tc_nl_monitor_drain(struct tc_ctx *ctx);
/* A veth link was reported (del = gone): update ctx->seen, set ctx->mon_changed on news. */
void tc_seen_update(struct tc_ctx *ctx, const struct tc_seen *s, bool del);

/* A veth or ifb of qosd's netns, from a link dump. */
struct tc_dump_link {
	int ifindex;
	int nsid; /* IFLA_LINK_NETNSID: the netns of a veth's peer; -1 none */
	bool ifb;
	char name[16];
};
/* The root qdisc of a link, from a qdisc dump, with its counters. */
struct tc_dump_qdisc {
	int ifindex;
	char kind[16];
	uint64_t bytes, packets, drops, overlimits;
};
/* Every veth and ifb (tc-dump.c), every root qdisc, of qosd's netns: one dump each, malloc'd
 * arrays in the kernel's order. */
int tc_nl_dump_links(struct tc_ctx *ctx, struct tc_dump_link **ret, size_t *ret_n);
int tc_nl_dump_root_qdiscs(struct tc_ctx *ctx, struct tc_dump_qdisc **ret, size_t *ret_n);
