/* SPDX-License-Identifier: MIT */
/* Shared by metrics.c (collection, text format) and metrics-http.c (endpoint, textfile) only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "quota/quota.h"
#include "stats.h"
#include "tc/tc.h"
#include "util.h"

struct sd_event_source;
struct MHD_Daemon;
struct ovr_note;

/* A text being built: grows, kept across scrapes. failed: an allocation failed. */
/* One cgroup's numbers. id NULL: a tenant cgroup. */
struct sample {
	const char *id, *tenant, *cls, *status;
	struct qos_cg_stats st;
	struct tc_net_stats net[2];
	bool have_disk;
	struct quota_usage disk;
	size_t lab_off, lab_len; /* its labels in metrics.labels (metrics_render) */
};

struct metrics {
	struct manager *m;
	struct stats_ctx *stats; /* made on first use (a scrape or qosctl top) */
	struct tc_stats_cache *tcs; /* made at the first container with net.* keys */
	struct MHD_Daemon *httpd; /* NULL: no endpoint */
	int listen_fd;
	char *unix_path; /* the endpoint's socket file, removed at exit */
	struct sd_event_source *io_src, *timeout_src, *textfile_src;
	struct ovr_note *notes; /* explain.c: who set each override, since qosd started */
	size_t n_notes;
	/* collection's memory, kept between scrapes: a scrape at 1,000 containers would otherwise
	 * fault in about 2 MiB of fresh pages each time */
	struct sample *samples;
	size_t samples_cap;
	struct textbuf out, labels;
};

/* m->metrics, made (with its stats reader) if missing. */
int metrics_ctx(struct manager *m, struct metrics **ret);
/* Containers (ret[0..*ret_nc)), then tenant cgroups, read now. Pointers borrow from m; the
 * array is m->metrics' own, valid until the next collection. */
int metrics_collect(struct manager *m, struct sample **ret, size_t *ret_n, size_t *ret_nc);
/* Give back a text metrics_render returned (mt may be NULL): kept for the next render. */
void metrics_text_done(struct metrics *mt, char *text);
