/* SPDX-License-Identifier: MIT */
/* The one table of policy key names (tests/layer-style.sh checks that no other file spells one). */
#include <errno.h>

#include "keys.h"
#include "limits.h"
#include "util.h"

#define SIZE_MAX_BYTES (UINT64_C(1) << 60)

static const struct qos_key_info key_table[_QK_MAX] = {
	[QK_CPU_SHARES] = { "cpu.shares", QVK_COUNT, 2, 262144, true },
	[QK_CPU_WEIGHT] = { "cpu.weight", QVK_COUNT, 1, 10000, true },
	/* 0.1% is the least that can reach the kernel's 1 ms quota, with the longest period */
	[QK_CPU_QUOTA] = { "cpu.quota", QVK_PERCENT, 100, 100000000, true },
	[QK_CPU_PERIOD] = { "cpu.period", QVK_DURATION, 1000, 1000000, true },
	[QK_CPUSET_CPUS] = { "cpuset.cpus", QVK_CPULIST, 0, 0, true },
	[QK_CPUSET_MEMS] = { "cpuset.mems", QVK_CPULIST, 0, 0, true },
	[QK_MEMORY_LIMIT] = { "memory.limit", QVK_SIZE, UINT64_C(1) << 20, SIZE_MAX_BYTES, true },
	[QK_MEMORY_SWAP] = { "memory.swap", QVK_SIZE, 0, SIZE_MAX_BYTES, true },
	[QK_MEMORY_RESERVATION] = { "memory.reservation", QVK_SIZE, 0, SIZE_MAX_BYTES, true },
	/* PID_MAX_LIMIT */
	[QK_PIDS_LIMIT] = { "pids.limit", QVK_COUNT, 1, 4194304, true },
	[QK_BLKIO_READ_BPS] = { "blkio.read_bps", QVK_BLKIO_BPS, 1, SIZE_MAX_BYTES, true },
	[QK_BLKIO_WRITE_BPS] = { "blkio.write_bps", QVK_BLKIO_BPS, 1, SIZE_MAX_BYTES, true },
	[QK_BLKIO_READ_IOPS] = { "blkio.read_iops", QVK_BLKIO_IOPS, 1, 1000000000, true },
	[QK_BLKIO_WRITE_IOPS] = { "blkio.write_iops", QVK_BLKIO_IOPS, 1, 1000000000, true },
	/* what the tc enforcer can do (limits.h): more would be refused at every registration */
	[QK_NET_INGRESS] = { "net.ingress", QVK_RATE, QOS_NET_RATE_MIN_BITS, QOS_NET_RATE_MAX_BITS,
			     false },
	[QK_NET_EGRESS] = { "net.egress", QVK_RATE, QOS_NET_RATE_MIN_BITS, QOS_NET_RATE_MAX_BITS,
			    false },
	[QK_NET_BURST] = { "net.burst", QVK_SIZE, 1, QOS_NET_BURST_MAX, false },
	[QK_DISK_QUOTA] = { "disk.quota", QVK_SIZE, UINT64_C(1) << 20, SIZE_MAX_BYTES, false },
	[QK_DISK_INODES] = { "disk.inodes", QVK_COUNT, 1, SIZE_MAX_BYTES, false },
	[QK_MEMORY_HIGH] = { "memory.high", QVK_SIZE, UINT64_C(1) << 20, SIZE_MAX_BYTES, true },
	[QK_MEMORY_MIN] = { "memory.min", QVK_SIZE, 0, SIZE_MAX_BYTES, true },
	[QK_CPU_BURST] = { "cpu.burst", QVK_DURATION, 0, UINT64_C(1000000000), true },
	[QK_CPU_IDLE] = { "cpu.idle", QVK_COUNT, 0, 1, true },
	[QK_PRIORITY] = { "priority", QVK_PRIORITY, 0, _QOS_PRIO_MAX - 1, false, true },
	[QK_FLOOR_CPU_QUOTA] = { "floor.cpu.quota", QVK_PERCENT, 100, 100000000, false, true },
	[QK_FLOOR_CPU_WEIGHT] = { "floor.cpu.weight", QVK_COUNT, 1, 10000, false, true },
	[QK_FLOOR_MEMORY_HIGH] = { "floor.memory.high", QVK_SIZE, UINT64_C(1) << 20, SIZE_MAX_BYTES,
				   false, true },
	[QK_FLOOR_BLKIO] = { "floor.blkio", QVK_PERCENT, 100, 100000, false, true },
};

/* memory.low is the v2 name of memory.reservation (v1 memory.soft_limit_in_bytes): one key. */
static const struct {
	const char *alias;
	enum qos_key key;
} key_aliases[] = {
	{ "memory.low", QK_MEMORY_RESERVATION },
};

const struct qos_key_info *qos_key_info(enum qos_key k)
{
	return (unsigned) k < _QK_MAX ? &key_table[k] : NULL;
}

const char *qos_key_name(enum qos_key k)
{
	return (unsigned) k < _QK_MAX ? key_table[k].name : NULL;
}

int qos_key_from_name(const char *name)
{
	for (int k = 0; k < _QK_MAX; k++)
		if (streq(key_table[k].name, name))
			return k;
	for (size_t i = 0; i < ELEMENTSOF(key_aliases); i++)
		if (streq(key_aliases[i].alias, name))
			return key_aliases[i].key;
	return -ENOENT;
}

bool qos_key_tenant_ok(enum qos_key k)
{
	return (unsigned) k < _QK_MAX && key_table[k].tenant_ok;
}

bool qos_key_class_only(enum qos_key k)
{
	return (unsigned) k < _QK_MAX && key_table[k].class_only;
}
