/* SPDX-License-Identifier: MIT */
/* Which cgroups qosd may manage. One pure rule shared by the daemon (registrations, [match]
 * adoption, qosctl set cgroup=) and by qos-hook when it applies limits itself, so the two never
 * disagree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cg_allow_rules {
	const char *self_cgroup; /* qosd's own cgroup (primary hierarchy); NULL = unknown */
	char *const *roots; /* container_roots from qosd.conf; none = anywhere */
	size_t n_roots;
	const char *const *tenant_cgroups; /* cgroups qosd made for tenant budgets */
	size_t n_tenant_cgroups;
};

/* True if cgpath may hold a container qosd manages: a valid path, not the root cgroup, not
 * qosd's own cgroup or one of its ancestors, not a *.service unit, not a tenant cgroup, and under
 * one of the roots (when any are configured). Otherwise false, with *ret_why (malloc'd; NULL if
 * out of memory) saying why. */
bool cg_allowed(const struct cg_allow_rules *a, const char *cgpath, char **ret_why);

struct cg_paths;
/* cg_allowed for cgpath and for each of the container's other v1 hierarchy paths (hier may be
 * NULL); a refusal of one of those names its hierarchy. */
bool cg_allowed_all(const struct cg_allow_rules *a, const char *cgpath, const struct cg_paths *hier,
		    char **ret_why);
