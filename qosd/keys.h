/* SPDX-License-Identifier: MIT */
/* The policy keys: one enum and one table of their names, value kinds, bounds and scopes. Every
 * module names a key through it (enforcers report under qos_key_name()); the policy parser reads
 * the kinds and bounds from it. Plain data, like limits.h: any module may include it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum qos_key {
	QK_CPU_SHARES,
	QK_CPU_WEIGHT,
	QK_CPU_QUOTA, /* num = per-mille percent (150% -> 150000) */
	QK_CPU_PERIOD, /* num = microseconds */
	QK_CPUSET_CPUS, /* str = normalized list */
	QK_CPUSET_MEMS,
	QK_MEMORY_LIMIT, /* bytes */
	QK_MEMORY_SWAP,
	QK_MEMORY_RESERVATION,
	QK_PIDS_LIMIT,
	QK_BLKIO_READ_BPS, /* str = normalized "TARGET RATE, TARGET RATE"; see policy_io_targets() */
	QK_BLKIO_WRITE_BPS,
	QK_BLKIO_READ_IOPS,
	QK_BLKIO_WRITE_IOPS,
	QK_NET_INGRESS, /* bits/s */
	QK_NET_EGRESS,
	QK_NET_BURST, /* bytes */
	QK_DISK_QUOTA, /* bytes */
	QK_DISK_INODES,
	QK_MEMORY_HIGH, /* bytes; v2 memory.high (v1 has none) */
	QK_MEMORY_MIN, /* bytes; v2 memory.min (v1 has none) */
	QK_CPU_BURST, /* num = microseconds of unused quota a cgroup may bank */
	QK_CPU_IDLE, /* 0 or 1 */
	QK_PRIORITY, /* num = enum qos_priority; class only */
	QK_FLOOR_CPU_QUOTA, /* batch bounds: the tightest the controller may go; class only */
	QK_FLOOR_CPU_WEIGHT,
	QK_FLOOR_MEMORY_HIGH,
	QK_FLOOR_BLKIO, /* per-mille percent of each blkio.* rate of the class */
	_QK_MAX
};

_Static_assert(_QK_MAX <= 32, "key masks are uint32_t");

/* priority = latency | normal | batch: what the pressure controller does with a class. */
enum qos_priority { QOS_PRIO_NORMAL, QOS_PRIO_LATENCY, QOS_PRIO_BATCH, _QOS_PRIO_MAX };

/* How a key's value is written; the policy parser has one parser and printer per kind. */
enum qos_value_kind {
	QVK_COUNT,
	QVK_SIZE,
	QVK_DURATION,
	QVK_RATE,
	QVK_PERCENT,
	QVK_CPULIST,
	QVK_BLKIO_BPS,
	QVK_BLKIO_IOPS,
	QVK_PRIORITY,
	_QVK_MAX
};

struct qos_key_info {
	const char *name;
	enum qos_value_kind kind;
	uint64_t min, max; /* bounds of a number, in the unit of enum qos_key's comment */
	bool tenant_ok; /* allowed in [tenant] (not net.*, not disk.*, not the class-only keys) */
	bool class_only; /* priority and the floor.* bounds: no [tenant], no override */
};

/* The table row of key k; NULL when k is not a key. */
const struct qos_key_info *qos_key_info(enum qos_key k);
/* The policy name of key k ("memory.limit"); NULL when k is not a key. */
const char *qos_key_name(enum qos_key k);
/* The key a name or an alias ("memory.low") names; -ENOENT for an unknown name. */
int qos_key_from_name(const char *name);
/* True for the keys allowed in [tenant] (not net.*, not disk.*, not the class-only keys). */
bool qos_key_tenant_ok(enum qos_key k);
/* True for priority and the floor.* bounds: only a class sets them (no [tenant], no override). */
bool qos_key_class_only(enum qos_key k);
