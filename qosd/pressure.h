/* SPDX-License-Identifier: MIT */
/* The batch-beside-latency controller's arithmetic. Pure: no I/O, no clock, no policy types.
 * Latency containers' pressure (PSI stall time, or CPU throttling where PSI is missing) moves one
 * node-wide level with hysteresis; a batch container's value at a level lies between the ceiling
 * (its class's value, level 0) and the floor its class declares (level = steps), both included.
 * A livelock guard watches a container's memory.high events and memory stall time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum pressure_res { PR_CPU, PR_MEMORY, PR_IO, _PR_MAX };

struct pressure_cfg {
	uint32_t high_pm; /* stall per mille of wall time at or above which batch is tightened */
	uint32_t low_pm; /* at or below which room is given back; low_pm < high_pm */
	uint32_t up_ticks; /* consecutive ticks at or above high_pm before one step tighter */
	uint32_t down_ticks; /* consecutive ticks at or below low_pm before one step back */
	uint32_t steps; /* levels from ceiling (0) to floor (steps), >= 1 */
	uint32_t livelock_pm; /* memory stall per mille that, with rising memory.high events, */
	uint32_t livelock_ticks; /* for this many consecutive ticks, is a livelock */
};

/* Cumulative counters of one cgroup at one moment, as the kernel gives them. */
struct pressure_sample {
	uint64_t t_us; /* CLOCK_MONOTONIC */
	bool have_psi[_PR_MAX];
	uint64_t some_us[_PR_MAX], full_us[_PR_MAX]; /* PSI total= of the some and full lines */
	bool have_cpu_stat;
	uint64_t nr_periods, nr_throttled; /* cpu.stat: the fallback where PSI is missing */
	bool have_high_events;
	uint64_t high_events; /* memory.events high */
};

/* How much a cgroup stalled between two samples: the worst resource. */
struct pressure_reading {
	uint32_t pm; /* 0..1000 */
	enum pressure_res res;
	bool full; /* the full line (every task stalled) gave the value, not some */
	bool throttling; /* from cpu.stat throttled periods (no PSI) */
	bool valid; /* false: no usable counters or time did not advance */
};

struct pressure_state {
	uint32_t level; /* 0 = class values (ceiling) .. cfg.steps = floors */
	uint32_t above, below; /* consecutive ticks at/above high, at/below low */
};

struct livelock_state {
	uint32_t ticks; /* consecutive ticks with memory stall at or above livelock_pm */
	uint64_t events0; /* memory.high events when that run of ticks began */
};

/* 0, or -EINVAL when the configuration cannot work (low >= high, no steps, pm above 1000). */
int pressure_cfg_check(const struct pressure_cfg *cfg);

/* Stall between prev and now. Counters that went backwards (a cgroup recreated) or a time that
 * did not advance give valid = false. Full stall counts double-weighted against some: the
 * reading is max(some, min(1000, 2 x full)) per resource, so full stall alone trips earlier. */
struct pressure_reading pressure_read(const struct pressure_sample *prev,
				      const struct pressure_sample *now);

/* The same for one resource; for PR_CPU without CPU PSI, the throttled share of CPU periods. */
struct pressure_reading pressure_read_res(const struct pressure_sample *prev,
					  const struct pressure_sample *now, enum pressure_res res);

/* The worse of two readings (invalid ones lose). */
struct pressure_reading pressure_worse(struct pressure_reading a, struct pressure_reading b);

/* One tick of the level's hysteresis. Returns +1 (one step tighter), -1 (one step back) or 0.
 * An invalid reading holds the level and the counters. The level never leaves 0..steps. */
int pressure_step(const struct pressure_cfg *cfg, struct pressure_state *st,
		  struct pressure_reading r);

/* The value at level: ceiling - (ceiling - floor) x level / steps, rounded towards the ceiling,
 * always within [min(floor, ceiling), ceiling]. */
uint64_t pressure_value(uint64_t ceiling, uint64_t floor, uint32_t level, uint32_t steps);

/* The same with the floor given as a share of the ceiling, in thousandths of a percent
 * (floor.blkio: 25% -> 25000): never 0 where the ceiling is not (0 is "no limit" to the kernel's
 * throttles), never above the ceiling. */
uint64_t pressure_value_share(uint64_t ceiling, uint32_t floor_pcm, uint32_t level, uint32_t steps);

/* One tick of the livelock guard for a container with memory.high set. Returns true when the
 * container has stalled on memory (some stall at or above livelock_pm) on livelock_ticks
 * consecutive ticks and its memory.high events rose during that run (then the count restarts).
 * Events need not rise on every tick: the kernel's throttle sleeps up to 2 s per allocation
 * without counting one, and that sleep is itself memory stall. */
bool pressure_livelock(const struct pressure_cfg *cfg, struct livelock_state *st,
		       const struct pressure_sample *prev, const struct pressure_sample *now);

/* Memory stall per mille between two samples (some line), 0 if unknown. */
uint32_t pressure_mem_pm(const struct pressure_sample *prev, const struct pressure_sample *now);

const char *pressure_res_name(enum pressure_res r);
