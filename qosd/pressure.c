/* SPDX-License-Identifier: MIT */
/* The controller's arithmetic: readings, the level's hysteresis, values between the bounds, the
 * livelock guard. Every input is a counter the kernel (or a fuzzer) chose: no assumption that
 * counters rise, that time advances, or that the floor lies below the ceiling. */
#include <errno.h>

#include "pressure.h"
#include "util.h"

int pressure_cfg_check(const struct pressure_cfg *cfg)
{
	if (cfg->steps == 0 || cfg->up_ticks == 0 || cfg->down_ticks == 0 ||
	    cfg->livelock_ticks == 0 || cfg->high_pm > 1000 || cfg->livelock_pm > 1000 ||
	    cfg->low_pm >= cfg->high_pm)
		return -EINVAL;
	return 0;
}

/* delta / dt in per mille, clamped to 1000 (PSI can slightly exceed wall time per sample) */
static uint32_t per_mille(uint64_t a, uint64_t b, uint64_t dt)
{
	unsigned __int128 v;

	if (b < a)
		return 0;
	v = (unsigned __int128) (b - a) * 1000 / dt;
	return v > 1000 ? 1000 : (uint32_t) v;
}

static bool counters_went_back(const struct pressure_sample *p, const struct pressure_sample *n,
			       int res)
{
	return n->some_us[res] < p->some_us[res] || n->full_us[res] < p->full_us[res];
}

/* CPU periods in which the cgroup was throttled, per mille: where there is no CPU PSI */
static struct pressure_reading throttled_read(const struct pressure_sample *prev,
					      const struct pressure_sample *now)
{
	uint64_t dp, dthr;

	if (!prev->have_cpu_stat || !now->have_cpu_stat || now->nr_periods <= prev->nr_periods ||
	    now->nr_throttled < prev->nr_throttled)
		return (struct pressure_reading){ 0 };
	dp = now->nr_periods - prev->nr_periods;
	dthr = MIN(now->nr_throttled - prev->nr_throttled, dp);
	return (struct pressure_reading){ .pm = (uint32_t) (dthr * 1000 / dp),
					  .res = PR_CPU,
					  .throttling = true,
					  .valid = true };
}

struct pressure_reading pressure_read_res(const struct pressure_sample *prev,
					  const struct pressure_sample *now, enum pressure_res res)
{
	uint32_t some, full;
	uint64_t dt;

	if (now->t_us <= prev->t_us || (unsigned) res >= _PR_MAX)
		return (struct pressure_reading){ 0 };
	dt = now->t_us - prev->t_us;
	if (!prev->have_psi[res] || !now->have_psi[res])
		return res == PR_CPU ? throttled_read(prev, now) : (struct pressure_reading){ 0 };
	if (counters_went_back(prev, now, res))
		return (struct pressure_reading){ 0 };
	some = per_mille(prev->some_us[res], now->some_us[res], dt);
	full = per_mille(prev->full_us[res], now->full_us[res], dt);
	return (struct pressure_reading){ .pm = MAX(some, MIN(1000u, 2 * full)),
					  .res = res,
					  .full = 2 * full > some,
					  .valid = true };
}

struct pressure_reading pressure_read(const struct pressure_sample *prev,
				      const struct pressure_sample *now)
{
	struct pressure_reading r = { 0 };

	for (int i = 0; i < _PR_MAX; i++)
		r = pressure_worse(r, pressure_read_res(prev, now, i));
	return r;
}

struct pressure_reading pressure_worse(struct pressure_reading a, struct pressure_reading b)
{
	if (!a.valid)
		return b;
	if (!b.valid)
		return a;
	return b.pm > a.pm ? b : a;
}

int pressure_step(const struct pressure_cfg *cfg, struct pressure_state *st,
		  struct pressure_reading r)
{
	if (st->level > cfg->steps)
		st->level = cfg->steps;
	if (!r.valid)
		return 0;
	if (r.pm >= cfg->high_pm) {
		st->below = 0;
		if (st->above < UINT32_MAX)
			st->above++;
		if (st->above < cfg->up_ticks || st->level >= cfg->steps)
			return 0;
		st->above = 0;
		st->level++;
		return 1;
	}
	if (r.pm <= cfg->low_pm) {
		st->above = 0;
		if (st->below < UINT32_MAX)
			st->below++;
		if (st->below < cfg->down_ticks || st->level == 0)
			return 0;
		st->below = 0;
		st->level--;
		return -1;
	}
	/* between the thresholds: hold, and start counting afresh */
	st->above = st->below = 0;
	return 0;
}

uint64_t pressure_value(uint64_t ceiling, uint64_t floor, uint32_t level, uint32_t steps)
{
	unsigned __int128 cut;

	if (floor >= ceiling || steps == 0 || level == 0)
		return ceiling;
	if (level >= steps)
		return floor;
	cut = (unsigned __int128) (ceiling - floor) * level / steps;
	return ceiling - (uint64_t) cut;
}

uint64_t pressure_value_share(uint64_t ceiling, uint32_t floor_pcm, uint32_t level, uint32_t steps)
{
	uint64_t floor;

	if (floor_pcm >= 100000)
		return ceiling;
	floor = (uint64_t) ((unsigned __int128) ceiling * floor_pcm / 100000);
	return pressure_value(ceiling, MAX(floor, MIN(ceiling, 1)), level, steps);
}

uint32_t pressure_mem_pm(const struct pressure_sample *prev, const struct pressure_sample *now)
{
	if (now->t_us <= prev->t_us || !prev->have_psi[PR_MEMORY] || !now->have_psi[PR_MEMORY])
		return 0;
	return per_mille(prev->some_us[PR_MEMORY], now->some_us[PR_MEMORY], now->t_us - prev->t_us);
}

bool pressure_livelock(const struct pressure_cfg *cfg, struct livelock_state *st,
		       const struct pressure_sample *prev, const struct pressure_sample *now)
{
	if (!prev->have_high_events || !now->have_high_events ||
	    pressure_mem_pm(prev, now) < cfg->livelock_pm) {
		st->ticks = 0;
		return false;
	}
	if (st->ticks == 0)
		st->events0 = prev->high_events;
	if (++st->ticks < cfg->livelock_ticks)
		return false;
	if (now->high_events <= st->events0) {
		/* stalled, but not on memory.high: slide the window by one tick */
		st->ticks--;
		st->events0 = prev->high_events;
		return false;
	}
	st->ticks = 0;
	return true;
}

const char *pressure_res_name(enum pressure_res r)
{
	static const char *const names[_PR_MAX] = { "cpu", "memory", "io" };

	return (unsigned) r < _PR_MAX ? names[r] : "?";
}
