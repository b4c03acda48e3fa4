/* SPDX-License-Identifier: MIT */
/* Helpers every unit and fake-tree test shares (linked into each test binary). */
#pragma once

/* Write content to dir/rel (rel alone when dir is NULL), making the missing directories on the
 * way; fails the test on any error. */
void tl_put(const char *dir, const char *rel, const char *content);

struct qos_report;
struct qos_knob;
/* The report entry of policy key key; fails the test when there is none. */
const struct qos_knob *tl_knob(const struct qos_report *r, const char *key);
/* Remove dir and everything below it (a test's temp tree). */
void tl_rm_tree(const char *dir);
