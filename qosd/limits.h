/* SPDX-License-Identifier: MIT */
/* The plain structs enforcers take: what one cgroup (container or tenant) should have.
 * No policy types here: cgroup, blkio, tc and quota include only this and report.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What to do with one knob. LEAVE: not ours, never touched. SET: write v. CLEAR: we set it
 * before and the policy no longer names it, so write the kernel's default ("unlimited"). */
enum qos_op { QOS_LEAVE = 0, QOS_SET, QOS_CLEAR };

struct qos_u64 {
	enum qos_op op;
	uint64_t v;
};

struct qos_str {
	enum qos_op op;
	char *v; /* owned; normalized list "0-3,6" */
};

struct qos_cpu {
	struct qos_u64 shares; /* v1 cpu.shares, 2..262144 */
	struct qos_u64
		weight; /* v2 cpu.weight, 1..10000; desired fills both from whichever key was given */
	struct qos_u64
		quota_us; /* CFS quota in microseconds (percent x period); CLEAR = unlimited */
	struct qos_u64 period_us; /* 1000..1000000 */
	struct qos_u64 burst_us; /* v1 cpu.cfs_burst_us, v2 cpu.max.burst; <= quota */
	struct qos_u64 idle; /* cpu.idle 0/1 (v1 and v2, kernel >= 5.15) */
	struct qos_str cpus;
	struct qos_str mems;
};

struct qos_mem {
	struct qos_u64 limit; /* bytes */
	struct qos_u64
		swap; /* swap on top of limit, bytes (v1 memsw = limit + swap; v2 memory.swap.max) */
	struct qos_u64 reservation; /* v1 soft_limit_in_bytes, v2 memory.low */
	struct qos_u64 high; /* v2 memory.high (throttle and reclaim above it); v1 has none */
	struct qos_u64 min; /* v2 memory.min (hard protection); v1 has none */
};

struct qos_pids {
	struct qos_u64 max;
};

struct qos_cg_limits {
	struct qos_cpu cpu;
	struct qos_mem mem;
	struct qos_pids pids;
};

enum qos_io_kind { QOS_IO_RBPS, QOS_IO_WBPS, QOS_IO_RIOPS, QOS_IO_WIOPS, _QOS_IO_KIND_MAX };

/* One TARGET VALUE pair as the policy wrote it; blkio/ resolves target to a whole disk. */
struct qos_io_target {
	char *target; /* device node, /dev/disk/by-* link, "MAJ:MIN", or any path */
	enum qos_io_kind kind;
	uint64_t value; /* bytes/s or IO/s, > 0 */
};

struct qos_io {
	struct qos_io_target *targets;
	size_t n_targets;
	/* true when qosd owns this cgroup's throttles: lines for disks not named are cleared */
	bool own;
};

/* What the tc enforcer can do (tbf through libnl-route-3, which has no TCA_TBF_RATE64): a rate
 * of at most 2^32-1 bytes/s, a bucket below 2^30 bytes holding less than 250 s of traffic (the
 * kernel keeps it as u32 ticks of 64 ns: 274 s). The policy refuses more, with file:line. */
#define QOS_NET_RATE_MIN_BITS UINT64_C(1000)
#define QOS_NET_RATE_MAX_BITS (UINT64_C(34) * 1000000000)
#define QOS_NET_BURST_MAX (UINT64_C(1023) << 20)
#define QOS_NET_BUCKET_MAX_SEC 250u

struct qos_net {
	struct qos_u64 ingress_bps; /* bits/s into the container */
	struct qos_u64 egress_bps; /* bits/s out of it */
	struct qos_u64 burst_bytes; /* LEAVE = enforcer's default */
};

struct qos_disk {
	struct qos_u64 quota_bytes;
	struct qos_u64 inodes;
};

struct qos_limits {
	struct qos_cg_limits cg;
	struct qos_io io;
	struct qos_net net;
	struct qos_disk disk;
};

/* Frees what the limits own (strings, targets); the struct itself is the caller's. */
void qos_limits_done(struct qos_limits *l);

/* Kernel mapping between v1 shares and v2 weight (kernel/sched: weight*1024/100, rounded to
 * nearest), clamped so the result is always valid: weight 1..10000, shares 2..262144. */
uint64_t qos_shares_to_weight(uint64_t shares);
uint64_t qos_weight_to_shares(uint64_t weight);
