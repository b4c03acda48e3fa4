/* SPDX-License-Identifier: MIT */
/* Logging: to the journal with structured fields when stderr is the journal, else to stderr.
 * Library-like modules (units, policy, cgroup, blkio, tc, quota) never log above debug. */
#pragma once

#include <syslog.h>

#include "util.h"

/* Context fields attached to a message as QOS_CONTAINER=, QOS_TENANT=, QOS_CLASS= (each may be NULL). */
struct log_ctx {
	const char *container;
	const char *tenant;
	const char *cls;
};

void log_set_max_level(int level);
/* Parse "debug", "info", "notice", "warning", "err"/"error", or a number 0..7. */
int log_level_from_string(const char *s);
/* Program name printed before each stderr line. */
void log_set_ident(const char *ident);
/* Send to the journal instead of stderr (auto-detected from $JOURNAL_STREAM by log_open()). */
void log_open(void);

/* Returns -abs(err) when err != 0, else 0, so callers can "return log_error_errno(r, ...)". */
int log_full(int level, int err, const struct log_ctx *ctx, const char *fmt, ...) _printf_(4, 5);

#define log_debug(...) log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full(LOG_DEBUG, (e), NULL, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_WARNING, (e), NULL, __VA_ARGS__)
#define log_error_errno(e, ...) log_full(LOG_ERR, (e), NULL, __VA_ARGS__)
