/* SPDX-License-Identifier: MIT */
/* What the limits do to a cgroup, read from the kernel: CPU usage and throttling, memory usage,
 * peak and events, pressure (PSI), block I/O per device. Read only; v1, hybrid (PSI from the
 * unified hierarchy) and v2. Values in the kernel's units, converted by the exporter. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One counter or gauge of a cgroup; ST_* index struct qos_cg_stats.v. */
enum qos_stat {
	ST_CPU_USAGE_NS,
	ST_CPU_PERIODS,
	ST_CPU_THROTTLED_PERIODS,
	ST_CPU_THROTTLED_NS,
	ST_CPU_QUOTA_US, /* limit: quota per period; absent = unlimited */
	ST_CPU_PERIOD_US,
	ST_MEM_USAGE,
	ST_MEM_PEAK,
	ST_MEM_LIMIT, /* absent = unlimited */
	ST_MEM_EV_HIGH, /* v2 memory.events high */
	ST_MEM_EV_MAX, /* v2 memory.events max; v1 memory.failcnt (usage hit the limit) */
	ST_MEM_EV_OOM, /* v2 memory.events oom */
	ST_MEM_EV_OOM_KILL, /* v2 memory.events oom_kill; v1 memory.oom_control oom_kill */
	ST_MEM_UNDER_OOM, /* v1 memory.oom_control under_oom */
	ST_PSI_CPU_SOME_US,
	ST_PSI_CPU_FULL_US,
	ST_PSI_MEM_SOME_US,
	ST_PSI_MEM_FULL_US,
	ST_PSI_IO_SOME_US,
	ST_PSI_IO_FULL_US,
	_ST_MAX
};

struct qos_io_dev_stat {
	unsigned major, minor;
	uint64_t rbytes, wbytes, rios, wios;
};

#define STATS_IO_DEVS_MAX 16

struct qos_cg_stats {
	uint64_t v[_ST_MAX];
	uint32_t have; /* bit (1u << ST_*) for each value the kernel gave */
	struct qos_io_dev_stat io[STATS_IO_DEVS_MAX];
	unsigned n_io;
};

struct stats_ctx;

/* cgroupfs: the cgroup root (as qosd's --cgroupfs); the mode is detected like cgroup.c does. */
int stats_ctx_new(const char *cgroupfs, struct stats_ctx **ret);
void stats_ctx_free(struct stats_ctx *ctx);

/* Where a cgroup sits in each hierarchy (v1 paths may differ per hierarchy; NULL = cgpath). */
struct stats_paths {
	const char *cgpath;
	const char *cpu, *cpuacct, *memory, *blkio, *unified;
};

/* Read every statistic of the cgroup that the kernel offers; -ENOENT if it is gone from every
 * hierarchy. Values a hierarchy does not have are left out (have bit clear). Opens and closes
 * every file (nothing kept between calls). */
int stats_read(struct stats_ctx *ctx, const struct stats_paths *p, struct qos_cg_stats *ret);

/* The same, through fds kept open for the cgroup (keyed by p->cgpath) across calls and read
 * again from offset 0: opened on first use, opened again when the cgroup was removed and made
 * again under the same name (the old fds then fail with ENODEV) or its paths changed. Over the
 * budget of kept fds (the soft fd limit, which qosd raises to the hard one at start, less a
 * reserve, at most 16,384: each read kernfs file holds a page of kernel memory), or when fds run
 * out, a cgroup is read as stats_read does. */
int stats_read_kept(struct stats_ctx *ctx, const struct stats_paths *p, struct qos_cg_stats *ret);
/* End of a collection pass: close the kept fds of every cgroup not read since the previous
 * call (it went, or is no longer collected). */
void stats_forget_unread(struct stats_ctx *ctx);
/* True once after an open ran out of fds (EMFILE/ENFILE): the budget was cut to the fds kept
 * then, and later cgroups are read without keeping theirs. */
bool stats_fd_limit_hit(struct stats_ctx *ctx);
/* The budget of kept fds (tests), and how many are kept now. */
void stats_ctx_set_kept_max(struct stats_ctx *ctx, size_t n);
size_t stats_ctx_kept(const struct stats_ctx *ctx);

/* Pure parsers (unit-tested). "key value" lines: the value of key, -ENOENT if absent. */
int stats_keyed(const char *text, const char *key, uint64_t *ret);
/* A PSI file: the total= of the "some" and "full" lines (microseconds); outputs of a line
 * not there are untouched. */
int stats_psi(const char *text, uint64_t *ret_some, uint64_t *ret_full);
/* The same on len bytes of text (no NUL needed). */
int stats_psi_text(const char *text, size_t len, uint64_t *ret_some, uint64_t *ret_full);

/* A line "KEY VALUE" of a keyed file wanted: its value times scale goes to ST. */
struct stats_key {
	const char *key;
	size_t len; /* strlen(key) */
	enum qos_stat st;
	uint64_t scale;
};
/* One pass over len bytes of "key value" lines: each line whose key is one of keys[0..n) (the
 * whole key: "oom" is not "oom_kill") and whose value is a number gives s that value times the
 * key's scale (have bit set); other lines, and values that are not numbers or overflow, are
 * skipped. Returns how many values it put. */
unsigned stats_scan_keyed(const char *text, size_t len, const struct stats_key *keys, size_t n,
			  struct qos_cg_stats *s);
/* v2 io.stat lines into s->io. */
void stats_parse_io_v2(const char *text, struct qos_cg_stats *s);
/* v1 blkio.throttle.io_service_bytes (bytes = true) or io_serviced lines into s->io. */
void stats_parse_io_v1(const char *text, bool bytes, struct qos_cg_stats *s);
