/* SPDX-License-Identifier: MIT */
/* The batch-beside-latency controller's driver (part of the manager): samples the pressure of
 * latency-class containers, moves the level of pressure.c, and overlays the adjusted values on
 * batch-class containers' desired limits before reconcile writes them; it also makes the threads
 * of batch containers SCHED_IDLE (taskidle.h). Off (no timer, no state) unless some class of the
 * policy sets priority, or threads it made SCHED_IDLE are still to be put back (then it runs on
 * until they are, and stops). Its levels live only in memory: after a restart every batch
 * container starts at its class's values, which lie within the class's bounds; which containers'
 * threads it made SCHED_IDLE is in the state (struct container's tasks_idle). */
#pragma once

#include <stdint.h>

#include "keys.h"
#include "pressure.h"

struct manager;
struct container;
struct qos_class;
struct qos_desired;
struct qos_report;
struct controller;

/* Start, keep or stop the controller for m's current policy (at start and after each reload). */
int controller_configure(struct manager *m);
void controller_free(struct controller *ctl);

/* What the controller changed in one container's desired limits, for the report. */
struct ctl_adjust {
	enum qos_key key[10];
	char *note[10];
	unsigned n;
};

/* Overlay the controller's values on d (computed from cls and c's overrides). Values stay within
 * the class's floor and ceiling; a livelock relief may raise memory.high up to memory.limit. */
void controller_adjust(struct manager *m, const struct container *c, const struct qos_class *cls,
		       struct qos_desired *d, struct ctl_adjust *ret);
/* Add adj's notes to the report's knobs of those keys; frees adj's notes. */
void controller_annotate(struct ctl_adjust *adj, struct qos_report *r);

/* Counters for the metrics: level changes of one resource's level and livelock reliefs so far;
 * the level now (0 = class values). 0 when the controller is off (ctl NULL). */
uint64_t controller_level_changes(const struct controller *ctl, enum pressure_res r);
uint32_t controller_level(const struct controller *ctl, enum pressure_res r);
uint64_t controller_reliefs(const struct controller *ctl);
