/* SPDX-License-Identifier: MIT */
/* The controller's arithmetic with simulated pressure series: readings from PSI and throttling
 * counters, the level's steps and hysteresis, values within the class's bounds, the livelock
 * guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/pressure.h"
#include "qosd/util.h"

static const struct pressure_cfg cfg = {
	.high_pm = 100, /* 10 % */
	.low_pm = 30, /* 3 % */
	.up_ticks = 2,
	.down_ticks = 3,
	.steps = 4,
	.livelock_pm = 200,
	.livelock_ticks = 3,
};

/* A sample at t seconds with cumulative stall (ms) of each resource's some line. */
static struct pressure_sample psi(uint64_t t_s, uint64_t cpu_ms, uint64_t mem_ms, uint64_t io_ms)
{
	struct pressure_sample s = { .t_us = t_s * 1000000 };

	for (int i = 0; i < _PR_MAX; i++)
		s.have_psi[i] = true;
	s.some_us[PR_CPU] = cpu_ms * 1000;
	s.some_us[PR_MEMORY] = mem_ms * 1000;
	s.some_us[PR_IO] = io_ms * 1000;
	return s;
}

static struct pressure_reading pm(uint32_t v)
{
	return (struct pressure_reading){ .pm = v, .valid = true };
}

static void cfg_check_refuses_what_cannot_work(void **state)
{
	struct pressure_cfg c = cfg;

	assert_int_equal(pressure_cfg_check(&c), 0);
	c.low_pm = c.high_pm;
	assert_int_equal(pressure_cfg_check(&c), -EINVAL);
	c = cfg;
	c.steps = 0;
	assert_int_equal(pressure_cfg_check(&c), -EINVAL);
	c = cfg;
	c.high_pm = 1001;
	assert_int_equal(pressure_cfg_check(&c), -EINVAL);
	c = cfg;
	c.up_ticks = 0;
	assert_int_equal(pressure_cfg_check(&c), -EINVAL);
}

static void reading_is_the_worst_resource(void **state)
{
	struct pressure_sample a = psi(10, 0, 0, 0), b = psi(11, 50, 200, 20);
	struct pressure_reading r = pressure_read(&a, &b);

	assert_true(r.valid);
	assert_int_equal(r.res, PR_MEMORY);
	assert_int_equal(r.pm, 200);
	assert_false(r.throttling);
	/* full stall counts double: 80 ms full of io beats 150 ms some of memory */
	b.some_us[PR_MEMORY] = 150000;
	b.full_us[PR_IO] = 80000;
	r = pressure_read(&a, &b);
	assert_int_equal(r.res, PR_IO);
	assert_int_equal(r.pm, 160);
	assert_true(r.full);
	/* more stall than wall time (counters sampled apart) is clamped */
	b.some_us[PR_CPU] = 5000000;
	assert_int_equal(pressure_read(&a, &b).pm, 1000);
}

static void reading_refuses_counters_going_back_and_time_standing_still(void **state)
{
	struct pressure_sample a = psi(10, 500, 500, 500), b = psi(11, 100, 600, 500);
	struct pressure_reading r = pressure_read(&a, &b);

	/* cpu went back (a recreated cgroup): cpu is skipped, memory still counts */
	assert_true(r.valid);
	assert_int_equal(r.res, PR_MEMORY);
	assert_int_equal(r.pm, 100);
	assert_false(pressure_read(&a, &a).valid);
	assert_false(pressure_read(&b, &a).valid);
	b = (struct pressure_sample){ .t_us = 20000000 };
	assert_false(pressure_read(&a, &b).valid);
}

static void reading_falls_back_to_throttling_without_cpu_psi(void **state)
{
	struct pressure_sample a = {
		.t_us = 1000000, .have_cpu_stat = true, .nr_periods = 100, .nr_throttled = 10
	};
	struct pressure_sample b = a;
	struct pressure_reading r;

	b.t_us = 2000000;
	b.nr_periods = 110;
	b.nr_throttled = 13;
	r = pressure_read(&a, &b);
	assert_true(r.valid);
	assert_true(r.throttling);
	assert_int_equal(r.res, PR_CPU);
	assert_int_equal(r.pm, 300);
	/* with CPU PSI present, throttling is not used */
	a.have_psi[PR_CPU] = b.have_psi[PR_CPU] = true;
	r = pressure_read(&a, &b);
	assert_false(r.throttling);
	assert_int_equal(r.pm, 0);
	/* more throttled than periods (counter noise) stays at 1000 */
	a.have_psi[PR_CPU] = b.have_psi[PR_CPU] = false;
	b.nr_throttled = 1000;
	assert_int_equal(pressure_read(&a, &b).pm, 1000);
}

static void worse_prefers_valid_and_higher(void **state)
{
	struct pressure_reading none = { 0 };

	assert_int_equal(pressure_worse(none, pm(5)).pm, 5);
	assert_int_equal(pressure_worse(pm(7), none).pm, 7);
	assert_int_equal(pressure_worse(pm(7), pm(9)).pm, 9);
	assert_false(pressure_worse(none, none).valid);
}

/* Run a series; returns the level after each tick in out. */
static void run(struct pressure_state *st, const uint32_t *series, size_t n, uint32_t *out)
{
	for (size_t i = 0; i < n; i++) {
		(void) pressure_step(&cfg, st, pm(series[i]));
		out[i] = st->level;
	}
}

static void steps_need_consecutive_ticks_and_stop_at_the_floor(void **state)
{
	/* high, dip to the middle band (resets the count), then sustained high */
	static const uint32_t series[] = {
		500, 50, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500
	};
	static const uint32_t want[] = { 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4 };
	struct pressure_state st = { 0 };
	uint32_t got[ELEMENTSOF(series)];

	run(&st, series, ELEMENTSOF(series), got);
	for (size_t i = 0; i < ELEMENTSOF(series); i++)
		assert_int_equal(got[i], want[i]);
}

static void hysteresis_holds_in_the_band_and_gives_back_slowly(void **state)
{
	/* at level 4: the band (31..99) holds; low for 3 ticks gives one step back each time */
	static const uint32_t series[] = { 60, 99, 31, 30, 30, 30, 10, 10, 10, 0, 0, 50, 0, 0, 0 };
	static const uint32_t want[] = { 4, 4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1 };
	struct pressure_state st = { .level = 4 };
	uint32_t got[ELEMENTSOF(series)];

	run(&st, series, ELEMENTSOF(series), got);
	for (size_t i = 0; i < ELEMENTSOF(series); i++)
		assert_int_equal(got[i], want[i]);
}

static void oscillating_pressure_does_not_flap(void **state)
{
	struct pressure_state st = { .level = 2 };

	/* high and low alternating: neither count ever reaches its ticks */
	for (int i = 0; i < 100; i++)
		assert_int_equal(pressure_step(&cfg, &st, pm(i % 2 ? 500 : 0)), 0);
	assert_int_equal(st.level, 2);
	/* invalid readings hold everything */
	st.above = 1;
	assert_int_equal(pressure_step(&cfg, &st, (struct pressure_reading){ 0 }), 0);
	assert_int_equal(st.above, 1);
	/* a level beyond the steps (steps lowered by a reload) is pulled back within bounds */
	st.level = 99;
	(void) pressure_step(&cfg, &st, pm(50));
	assert_int_equal(st.level, cfg.steps);
}

static void values_lie_between_floor_and_ceiling(void **state)
{
	/* cpu.quota 80000us ceiling, 20000us floor, 4 steps */
	assert_int_equal(pressure_value(80000, 20000, 0, 4), 80000);
	assert_int_equal(pressure_value(80000, 20000, 1, 4), 65000);
	assert_int_equal(pressure_value(80000, 20000, 2, 4), 50000);
	assert_int_equal(pressure_value(80000, 20000, 4, 4), 20000);
	assert_int_equal(pressure_value(80000, 20000, 9, 4), 20000);
	/* rounding goes towards the ceiling: never below the exact value */
	assert_int_equal(pressure_value(10, 0, 1, 3), 7);
	/* a floor above the ceiling (never from a checked policy) gives the ceiling */
	assert_int_equal(pressure_value(100, 200, 3, 4), 100);
	assert_int_equal(pressure_value(100, 50, 3, 0), 100);
	/* no overflow at the largest sizes */
	assert_true(pressure_value(UINT64_MAX, 0, 1, 2) == UINT64_MAX - UINT64_MAX / 2);
	for (uint32_t l = 0; l <= 10; l++) {
		uint64_t v = pressure_value(1ull << 60, 1ull << 20, l, 7);

		assert_true(v >= 1ull << 20 && v <= 1ull << 60);
		if (l)
			assert_true(v <= pressure_value(1ull << 60, 1ull << 20, l - 1, 7));
	}
}

static void io_values_keep_a_share_of_the_class_rate(void **state)
{
	/* blkio.write_bps 100M, floor.blkio 10 %, 4 steps */
	static const uint64_t want[] = { 104857600, 81264640, 57671680, 34078720, 10485760 };

	for (uint32_t l = 0; l <= 4; l++)
		assert_true(pressure_value_share(104857600, 10000, l, 4) == want[l]);
	assert_true(pressure_value_share(104857600, 10000, 7, 4) == want[4]);
	/* 100 % (or more, never from a checked policy) is no room to tighten */
	assert_int_equal(pressure_value_share(5000, 100000, 4, 4), 5000);
	assert_int_equal(pressure_value_share(5000, 250000, 4, 4), 5000);
	/* a rate of 1 at the smallest share stays 1: a 0 would lift the throttle */
	assert_int_equal(pressure_value_share(1, 100, 4, 4), 1);
	assert_int_equal(pressure_value_share(999, 100, 4, 4), 1);
	assert_int_equal(pressure_value_share(0, 100, 4, 4), 0);
	/* the largest rates do not overflow */
	assert_true(pressure_value_share(UINT64_MAX, 50000, 4, 4) == UINT64_MAX / 2);
}

/* One level per resource, each fed by its own reading: an I/O pressure series moves only the
 * I/O level (batch io.max to its floor and back), CPU stays at the class's values. */
static void io_pressure_moves_only_the_io_level(void **state)
{
	struct pressure_state st[_PR_MAX] = { 0 };
	struct pressure_sample prev = psi(0, 0, 0, 0), now;
	uint64_t cpu = 0, io = 0, wbps[24];
	size_t n = 0;

	/* 12 s of 40 % io stall (1 % cpu), then 12 s without */
	for (uint64_t t = 1; t <= 24; t++) {
		cpu += 10;
		io += t <= 12 ? 400 : 0;
		now = psi(t, cpu, 0, io);
		for (int r = 0; r < _PR_MAX; r++)
			(void) pressure_step(&cfg, &st[r], pressure_read_res(&prev, &now, r));
		wbps[n++] = pressure_value_share(100000000, 10000, st[PR_IO].level, cfg.steps);
		assert_int_equal(st[PR_CPU].level, 0);
		assert_int_equal(st[PR_MEMORY].level, 0);
		prev = now;
	}
	/* two ticks per step up: the floor (10 MB/s) after 8 ticks, held while stalled */
	assert_true(wbps[0] == 100000000 && wbps[1] == 77500000 && wbps[3] == 55000000);
	assert_true(wbps[7] == 10000000 && wbps[11] == 10000000);
	/* given back stepwise, three low ticks per step: back at the ceiling 12 ticks later */
	assert_true(wbps[14] == 32500000 && wbps[17] == 55000000 && wbps[23] == 100000000);
	for (size_t i = 1; i < n; i++)
		assert_true(wbps[i] >= 10000000 && wbps[i] <= 100000000);
}

static void reading_of_one_resource(void **state)
{
	struct pressure_sample a = psi(10, 0, 0, 0), b = psi(12, 100, 600, 200);

	assert_int_equal(pressure_read_res(&a, &b, PR_CPU).pm, 50);
	assert_int_equal(pressure_read_res(&a, &b, PR_MEMORY).pm, 300);
	assert_int_equal(pressure_read_res(&a, &b, PR_IO).res, PR_IO);
	assert_int_equal(pressure_read_res(&a, &b, PR_IO).pm, 100);
	assert_false(pressure_read_res(&a, &b, _PR_MAX).valid);
	/* io without PSI: invalid (no fallback for io); cpu without PSI: throttling */
	b.have_psi[PR_IO] = false;
	assert_false(pressure_read_res(&a, &b, PR_IO).valid);
	a.have_psi[PR_CPU] = false;
	a.have_cpu_stat = b.have_cpu_stat = true;
	b.nr_periods = 10;
	b.nr_throttled = 5;
	assert_true(pressure_read_res(&a, &b, PR_CPU).throttling);
	assert_int_equal(pressure_read_res(&a, &b, PR_CPU).pm, 500);
}

/* a batch sample at t s: cumulative memory stall (ms) and memory.high events */
static struct pressure_sample memsample(uint64_t t, uint64_t mem_ms, uint64_t events)
{
	struct pressure_sample s = psi(t, 0, mem_ms, 0);

	s.have_high_events = true;
	s.high_events = events;
	return s;
}

static void livelock_needs_stall_for_the_whole_time_and_rising_events(void **state)
{
	struct livelock_state st = { 0 };
	struct pressure_sample a = memsample(0, 0, 10), b;

	/* stalled 50 %; events rise once, on the first tick only (the kernel's throttle sleeps
	 * without counting): trips on the third tick */
	for (int i = 1; i <= 3; i++) {
		b = memsample(i, 500 * i, 11);
		assert_int_equal(pressure_livelock(&cfg, &st, &a, &b), i == 3);
		a = b;
	}
	assert_int_equal(st.ticks, 0);
	/* stalled for many ticks with no memory.high event at all: never (not a memory.high
	 * livelock), and the count stays below the window */
	for (int i = 4; i <= 12; i++) {
		b = memsample(i, 1500 + 500 * (i - 3), 11);
		assert_false(pressure_livelock(&cfg, &st, &a, &b));
		assert_true(st.ticks < cfg.livelock_ticks);
		a = b;
	}
	/* ... until one event inside the window */
	b = memsample(13, a.some_us[PR_MEMORY] / 1000 + 500, 12);
	assert_true(pressure_livelock(&cfg, &st, &a, &b));
	a = b;
	/* a tick with little stall (10 %, below 20 %) restarts the count */
	b = memsample(14, a.some_us[PR_MEMORY] / 1000 + 500, 20);
	assert_false(pressure_livelock(&cfg, &st, &a, &b));
	a = b;
	b = memsample(15, a.some_us[PR_MEMORY] / 1000 + 100, 30);
	assert_false(pressure_livelock(&cfg, &st, &a, &b));
	assert_int_equal(st.ticks, 0);
	assert_int_equal(pressure_mem_pm(&a, &b), 100);
	/* no memory.events (v1): never */
	a.have_high_events = false;
	b.some_us[PR_MEMORY] = 90000000;
	assert_false(pressure_livelock(&cfg, &st, &a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cfg_check_refuses_what_cannot_work),
		cmocka_unit_test(reading_is_the_worst_resource),
		cmocka_unit_test(reading_refuses_counters_going_back_and_time_standing_still),
		cmocka_unit_test(reading_falls_back_to_throttling_without_cpu_psi),
		cmocka_unit_test(worse_prefers_valid_and_higher),
		cmocka_unit_test(steps_need_consecutive_ticks_and_stop_at_the_floor),
		cmocka_unit_test(hysteresis_holds_in_the_band_and_gives_back_slowly),
		cmocka_unit_test(oscillating_pressure_does_not_flap),
		cmocka_unit_test(values_lie_between_floor_and_ceiling),
		cmocka_unit_test(livelock_needs_stall_for_the_whole_time_and_rising_events),
		cmocka_unit_test(io_values_keep_a_share_of_the_class_rate),
		cmocka_unit_test(io_pressure_moves_only_the_io_level),
		cmocka_unit_test(reading_of_one_resource),
	};

	return cmocka_run_group_tests_name("pressure", tests, NULL, NULL);
}
