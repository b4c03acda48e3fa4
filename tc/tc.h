/* SPDX-License-Identifier: MIT */
/* Network rate limits on a container's veth through libnl-route-3 (no tc process). Into the
 * container: root tbf on the host-side veth. Out of it: ingress qdisc + u32 match-all + mirred
 * redirect to a qosd-owned ifb with a root tbf. See docs/tc.md. No libnl type appears here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qosd/limits.h"
#include "qosd/report.h"

struct tc_ctx;

/* Route socket in qosd's own netns (kept open), own netns identity. */
int tc_ctx_new(struct tc_ctx **ret);
void tc_ctx_free(struct tc_ctx *ctx);

/* Shape every host-side veth of the container whose process is pid (id names the ifb). dry_run:
 * read only (dump and report). No veth: one report entry per asked direction with note "no veth
 * to shape". Returns 0 when every knob succeeded, else the first knob's -errno (all in r). */
int tc_apply(struct tc_ctx *ctx, const char *id, pid_t pid, const struct qos_net *net, bool dry_run,
	     struct qos_report *r);
/* Remove what tc_apply made for id (ifb devices; qdiscs on veths that still exist). */
int tc_release(struct tc_ctx *ctx, const char *id);
/* Delete qosd's ifb devices that shape nothing (no veth redirects into them: their container is
 * gone, or they were never finished). An ifb a veth still uses is kept even when its alias names
 * an id not in live_ids[0..n) (a container qosd lost track of keeps its shaping); those are
 * counted in *ret_unknown. Returns the number deleted. */
int tc_gc(struct tc_ctx *ctx, const char *const *live_ids, size_t n, size_t *ret_unknown);
/* The ifb name for (id, index): "qifb" + 9 base-36 digits of FNV-1a 64(id) + the index as 2
 * decimal digits (00..99). -ERANGE for index > 99. Two ids may share a name (46.5 bits): the
 * ifb's alias says whose it is, and qosd never takes over or deletes another id's ifb. */
int tc_ifb_name(const char *id, unsigned idx, char ret[16]);
/* True if name is one of id's ifb names (any index). */
bool tc_ifb_owned_by(const char *name, const char *id);
/* The alias qosd gives an ifb: which veth it serves and for which container. */
#define TC_ALIAS_FMT "qosd veth=%d id=%s"
int tc_ifb_alias(int veth_ifindex, const char *id, char *buf, size_t len);
/* Parse such an alias: -EINVAL if it is not one (ret_id points into alias). */
int tc_ifb_alias_parse(const char *alias, int *ret_veth, const char **ret_id);

/* Statistics of qosd's qdiscs for the container whose process is pid, summed per direction:
 * TC_DIR_IN = into the container (the host veths' root tbf), TC_DIR_OUT = out of it (the ifbs'
 * root tbf). have = false when qosd shapes nothing in that direction. Read only. */
enum { TC_DIR_IN, TC_DIR_OUT };
struct tc_net_stats {
	bool have;
	uint64_t bytes, packets, drops, overlimits;
};
int tc_stats(struct tc_ctx *ctx, const char *id, pid_t pid, struct tc_net_stats ret[2]);

/* The same for many containers in a pass (a metrics scrape): one dump of the links and one of the
 * root qdiscs of qosd's netns at the pass's first call, instead of a visit to each container's
 * netns and 5 or more requests per container. The cache keeps across passes the nsid qosd's
 * netns gives each container netns (fixed while that netns lives); a netns not known yet is
 * asked once. Falls back to tc_stats for a container it cannot place. */
struct tc_stats_cache;
int tc_stats_cache_new(struct tc_stats_cache **ret);
void tc_stats_cache_free(struct tc_stats_cache *c);
/* pid 0: the pid id was last read by, while it is in the netns it was in then; -EAGAIN if
 * there is none (call again with a pid of the container). */
int tc_stats_pass(struct tc_ctx *ctx, struct tc_stats_cache *c, const char *id, pid_t pid,
		  struct tc_net_stats ret[2]);
/* End of a pass: the dumps are dropped, the nsids and pids not used in the pass forgotten. */
void tc_stats_pass_end(struct tc_stats_cache *c);

/* Link-event socket (RTNLGRP_LINK), non-blocking; the daemon polls ret_fd. */
int tc_monitor_open(struct tc_ctx *ctx, int *ret_fd);
/* Drain pending events; *ret_changed = a host veth appeared, went away or changed peer. */
int tc_monitor_process(struct tc_ctx *ctx, bool *ret_changed);

/* Pure parts (unit-tested). */
#define TC_IFB_PREFIX "qifb"
#define TC_BURST_MIN 32768u /* default burst floor, bytes */
#define TC_BURST_MSEC 10u /* default burst: 10 ms at the rate, if larger */
#define TC_BURST_MAX_SEC 100u /* default burst: at most 100 s at the rate (slow rates) */
#define TC_LATENCY_MSEC 50u /* tbf queue: burst + 50 ms at the rate */
#define TC_ETH_HLEN 14u

struct tc_shape {
	uint64_t rate_bits; /* as asked, bits/s */
	uint32_t rate_bytes; /* what tbf gets, bytes/s */
	uint32_t burst; /* bytes */
	uint32_t limit; /* bytes queued */
	bool burst_default; /* no net.burst: the default rule */
	bool burst_raised; /* net.burst below MTU + header: raised */
};

/* Default burst for a rate in bits/s: max(32K, 10 ms of traffic) rounded up to 1K, but at most
 * 100 s of traffic (rounded down to 1K) for very slow rates. The MTU floor is tc_shape_compute's. */
uint32_t tc_default_burst(uint64_t rate_bits);
/* tbf parameters for rate (bits/s), optional burst (op SET) and link MTU. -ERANGE when the rate is
 * outside 8 bit/s .. 2^32-1 bytes/s or the bucket would hold more than 250 s of traffic. */
int tc_shape_compute(uint64_t rate_bits, const struct qos_u64 *burst, unsigned mtu,
		     struct tc_shape *ret);
/* "20mbit burst 32K" (rates in powers of 1000 as tc, sizes in powers of 1024). */
int tc_shape_format(uint64_t rate_bits, uint32_t burst, char *buf, size_t len);
/* True if a bucket read back from the kernel is the one asked (libnl's microsecond rounding). */
bool tc_burst_close(uint32_t want, uint32_t got);
