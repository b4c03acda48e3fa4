/* SPDX-License-Identifier: MIT */
/* Shared by the manager's files alone (manager.c, manager-events.c, manager-policy.c,
 * manager-start.c, manager-state.c, manager-tenants.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"

struct sd_event_source;
struct signalfd_siginfo;

/* manager.c */
void set_status(char **field, const char *fmt, ...) _printf_(2, 3);
void enable_defer(struct manager *m);
void forget_quietly(struct manager *m, struct container *c);
uint32_t owned_after(const struct qos_desired *d, const struct qos_report *r);

/* manager-start.c */
/* True (and the count starts again) once enough work to leave much of the heap freed was done
 * since the last time it said so: the heap is then worth a look (on_post). O(1). */
bool manager_trim_due(struct manager *m);

/* manager-events.c */
void run_pass(struct manager *m, uint64_t budget_usec);
int on_defer(struct sd_event_source *s, void *userdata);
int on_retry(struct sd_event_source *s, uint64_t usec, void *userdata);
int on_drift(struct sd_event_source *s, uint64_t usec, void *userdata);
int on_signal(struct sd_event_source *s, const struct signalfd_siginfo *si, void *userdata);
void on_cgroup(void *userdata, const char *cgpath, bool created);
int on_watch(struct sd_event_source *s, int fd, uint32_t revents, void *userdata);
int on_blkio(struct sd_event_source *s, int fd, uint32_t revents, void *userdata);
int on_link(struct sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* manager-policy.c */
int set_globs(struct manager *m);
int load_policy(struct manager *m);

/* manager-state.c */
void save_soon(struct manager *m);
int on_save(struct sd_event_source *s, uint64_t usec, void *userdata);
void adopt_pending(struct manager *m);
int load_state(struct manager *m);

/* manager-tenants.c */
void tenants_clear(struct manager *m);
void apply_tenants(struct manager *m);
