/* SPDX-License-Identifier: MIT */
#include "limits.h"
#include "util.h"

void qos_limits_done(struct qos_limits *l)
{
	free(l->cg.cpu.cpus.v);
	free(l->cg.cpu.mems.v);
	for (size_t i = 0; i < l->io.n_targets; i++)
		free(l->io.targets[i].target);
	free(l->io.targets);
	*l = (struct qos_limits){ 0 };
}

/* kernel/sched/sched.h: sched_weight_to_cgroup() = clamp(DIV_ROUND_CLOSEST(w * 100, 1024), 1, 10000) */
uint64_t qos_shares_to_weight(uint64_t shares)
{
	uint64_t w;

	if (shares > 262144)
		shares = 262144;
	w = (shares * 100 + 512) / 1024;
	return w < 1 ? 1 : w > 10000 ? 10000 : w;
}

/* sched_weight_from_cgroup() = DIV_ROUND_CLOSEST(weight * 1024, 100), clamped to v1's range */
uint64_t qos_weight_to_shares(uint64_t weight)
{
	uint64_t s;

	if (weight > 10000)
		weight = 10000;
	s = (weight * 1024 + 50) / 100;
	return s < 2 ? 2 : s > 262144 ? 262144 : s;
}
