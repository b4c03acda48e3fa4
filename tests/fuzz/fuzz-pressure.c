/* SPDX-License-Identifier: MIT */
/* The controller's arithmetic on any counters the kernel could give (and many it could not):
 * a configuration, then a series of samples of a latency cgroup and of a batch cgroup. Besides
 * "no crash, no undefined behaviour", the promises of pressure.h must hold on every tick: a
 * reading within 0..1000, a level within 0..steps that moves at most one step, and a value
 * within the bounds. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qosd/pressure.h"
#include "qosd/util.h"

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct reader *r, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && r->n; i++, r->p++, r->n--)
		v = v << 8 | *r->p;
	return v;
}

static void take_sample(struct reader *r, struct pressure_sample *s)
{
	uint8_t flags = (uint8_t) take(r, 1);

	s->t_us = take(r, 8);
	for (int i = 0; i < _PR_MAX; i++) {
		s->have_psi[i] = flags & (1u << i);
		s->some_us[i] = take(r, 8);
		s->full_us[i] = take(r, 8);
	}
	s->have_cpu_stat = flags & 8;
	s->nr_periods = take(r, 8);
	s->nr_throttled = take(r, 8);
	s->have_high_events = flags & 16;
	s->high_events = take(r, 8);
}

static void check_reading(struct pressure_reading rd)
{
	if (rd.valid && (rd.pm > 1000 || (unsigned) rd.res >= _PR_MAX))
		abort();
	if (!rd.valid && rd.pm)
		abort();
}

/* The per-resource levels (one for cpu, memory, io): each reading is its own resource's, none
 * is worse than the worst of all; each level stays within bounds, and a rate between the
 * ceiling and its share never reaches 0 (no limit) unless the ceiling is 0. */
static void step_resources(const struct pressure_cfg *cfg, struct pressure_state *st,
			   const struct pressure_sample *lat, struct pressure_reading worst,
			   uint64_t ceiling, uint32_t share)
{
	struct pressure_reading all = pressure_read(&lat[0], &lat[1]);

	for (int i = 0; i < _PR_MAX; i++) {
		struct pressure_reading rd = pressure_read_res(&lat[0], &lat[1], i);
		uint64_t v;

		check_reading(rd);
		if (rd.valid &&
		    (rd.res != (enum pressure_res) i || rd.pm > all.pm || rd.pm > worst.pm))
			abort();
		(void) pressure_step(cfg, &st[i], rd);
		if (st[i].level > cfg->steps)
			abort();
		v = pressure_value_share(ceiling, share, st[i].level, cfg->steps);
		if (v > ceiling || (ceiling && !v))
			abort();
		if (share < 100000 && st[i].level == cfg->steps &&
		    v != MAX(MIN(ceiling, 1),
			     (uint64_t) ((unsigned __int128) ceiling * share / 100000)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct pressure_cfg cfg = {
		.high_pm = (uint32_t) take(&r, 2),
		.low_pm = (uint32_t) take(&r, 2),
		.up_ticks = (uint32_t) take(&r, 1),
		.down_ticks = (uint32_t) take(&r, 1),
		.steps = (uint32_t) take(&r, 1),
		.livelock_pm = (uint32_t) take(&r, 2),
		.livelock_ticks = (uint32_t) take(&r, 1),
	};
	uint64_t ceiling = take(&r, 8), floor = take(&r, 8);
	uint32_t share = (uint32_t) take(&r, 4); /* floor.blkio, thousandths of a percent */
	struct pressure_state st = { .level = (uint32_t) take(&r, 1) }, res_st[_PR_MAX] = { 0 };
	struct livelock_state ll = { 0 };
	struct pressure_sample lat[2] = { 0 }, bat[2] = { 0 };

	if (pressure_cfg_check(&cfg) < 0)
		return 0;
	take_sample(&r, &lat[0]);
	take_sample(&r, &bat[0]);
	while (r.n) {
		struct pressure_reading rd;
		uint32_t before;
		uint64_t v;
		int d;

		take_sample(&r, &lat[1]);
		take_sample(&r, &bat[1]);
		rd = pressure_worse(pressure_read(&lat[0], &lat[1]),
				    pressure_read(&bat[0], &bat[1]));
		check_reading(rd);
		before = MIN(st.level, cfg.steps);
		d = pressure_step(&cfg, &st, rd);
		if (st.level > cfg.steps || (int) st.level - (int) before != d)
			abort();
		v = pressure_value(ceiling, floor, st.level, cfg.steps);
		if (v > ceiling || (floor <= ceiling && v < floor))
			abort();
		step_resources(&cfg, res_st, lat, rd, ceiling, share);
		if (pressure_mem_pm(&bat[0], &bat[1]) > 1000)
			abort();
		(void) pressure_livelock(&cfg, &ll, &bat[0], &bat[1]);
		if (ll.ticks >= cfg.livelock_ticks)
			abort();
		lat[0] = lat[1];
		bat[0] = bat[1];
	}
	return 0;
}
