/* SPDX-License-Identifier: MIT */
/* Shared by the policy module's files alone: policy-values.c (one value, rules across keys),
 * policy-parse.c (one file's text) and policy-load.c (files, directory, lookups). */
#pragma once

#include "policy.h"

/* Split "TARGET RATE" (one or more blanks between, nothing else) in place. -EINVAL otherwise. */
int policy_blkio_split(char *item, char **ret_target, char **ret_rate);

/* Every rule across keys that s breaks, in table order: report(userdata, the line of the later
 * of the keys involved, message) once each; the message (NULL when out of memory) is report's. */
void policy_rules_each(const struct qos_settings *s,
		       void (*report)(void *userdata, unsigned line, char *msg), void *userdata);
