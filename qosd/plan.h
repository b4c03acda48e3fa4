/* SPDX-License-Identifier: MIT */
/* The read-only requests behind qosctl plan and qosctl explain (control socket replies, JSON). */
#pragma once

#include "control.h"
#include "proto.h"

struct manager;
struct metrics;

/* What the policy in dir would change on every container and tenant cgroup; writes nothing. */
char *plan_reply(struct manager *m, const char *dir);
/* Where each value of container id comes from; only: one key (or "class"/"tenant"), or NULL. */
char *explain_reply(struct manager *m, const char *id, const char *only);
/* Remember who set or unset an override (a successful set/unset), for explain. */
void explain_after_request(struct manager *m, const struct qos_request *req,
			   const struct control_peer *peer, const char *reply);
void explain_notes_free(struct metrics *mt);
