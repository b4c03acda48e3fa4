/* SPDX-License-Identifier: MIT */
/* Pure: (class settings, per-container overrides, keys applied before) -> the limits to enforce,
 * with where each key came from. No I/O. */
#pragma once

#include <stdint.h>

#include "limits.h"
#include "policy.h"

enum qos_source { QOS_SRC_NONE, QOS_SRC_CLASS, QOS_SRC_OVERRIDE, QOS_SRC_TENANT, QOS_SRC_CLEARED };

struct qos_desired {
	struct qos_limits l;
	struct qos_settings merged; /* overrides over class */
	enum qos_source src[_QK_MAX];
	uint32_t keys; /* bit (1u << key) for every key that is SET now: the next "owned" mask */
	bool idle_implied; /* cpu.idle = 1 comes from priority = batch, not from a cpu.idle key */
	/* priority = batch with cpu.idle = 1 (set or implied): its threads run SCHED_IDLE too
	 * (controller.c) */
	bool idle_tasks;
	char *cpu_note; /* "cpu.shares 512 -> cpu.weight 50 (weight = round(shares x 100 / 1024))" */
};

/* base: class (or [tenant] budget) settings, may be NULL; ovr: overrides, may be NULL;
 * owned: keys qosd applied before (from the state file): those no longer set become CLEAR.
 * src_base says what base is (QOS_SRC_CLASS or QOS_SRC_TENANT).
 * Fails with -EINVAL and a message when the merged settings break a cross-key rule. */
int desired_compute(const struct qos_settings *base, enum qos_source src_base,
		    const struct qos_settings *ovr, uint32_t owned, struct qos_desired *ret,
		    char **ret_msg);
void desired_done(struct qos_desired *d);
/* Leave the cgroup knobs of keys (a mask) untouched (QOS_LEAVE): a pass that knows they hold
 * does not read them. Keys whose knobs go together (v1 memsw = limit + swap; quota, period and
 * burst; shares and weight, one knob) are left only when all of their group is in keys. */
void desired_leave(struct qos_desired *d, uint32_t keys);
const char *qos_source_name(enum qos_source s);
