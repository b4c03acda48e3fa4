/* SPDX-License-Identifier: MIT */
/* What the limits do, for Prometheus (an HTTP endpoint through libmicrohttpd, or a textfile for
 * node_exporter's textfile collector) and for qosctl top. Off by default: with neither
 * metrics_listen nor metrics_textfile set, nothing here runs and no timer exists. */
#pragma once

#include <stdint.h>

#include "policy.h"
#include "report.h"

struct manager;
struct metrics;

/* qosd's own counters, kept by the manager. */
struct qosd_counters {
	uint64_t drift[_QK_MAX]; /* a knob found changed behind qosd's back and corrected */
	uint64_t errors[_QK_MAX]; /* a knob write the kernel refused (every pass that failed) */
	uint64_t reconcile_usec, reconciles; /* per container reconcile: total time, count */
};

/* Count one pass's results: key (enum qos_key, or < 0) written after drifting, or failed. */
void metrics_count_knob(struct qosd_counters *c, int key, bool drift, bool error);

/* Start the endpoint and the textfile timer that m->cfg asks for (none: does nothing). */
int metrics_start(struct manager *m);
void metrics_free(struct metrics *mt);

/* The exposition text (Prometheus text format 0.0.4) of every managed container and tenant
 * cgroup, read from the kernel now. */
int metrics_render(struct manager *m, char **ret, size_t *ret_len);

/* JSON text of the same numbers per container (qosctl top), for the control socket. */
char *metrics_stats_reply(struct manager *m);
