/* SPDX-License-Identifier: MIT */
/* Helpers every unit and fake-tree test shares (linked into each test binary). */
#pragma once

/* Write content to dir/rel (rel alone when dir is NULL), making the missing directories on the
 * way; fails the test on any error. */
void tl_put(const char *dir, const char *rel, const char *content);
