/* SPDX-License-Identifier: MIT */
/* Which tenant and class a container gets, and whether it may claim them. One set of pure rules
 * shared by the daemon (registrations, every reconcile) and by qos-hook when it applies limits
 * itself, so the two never disagree (as allow.c is for cgroups).
 *
 * Precedence: operator (qosctl set) > hook (the qosd.io/tenant and qosd.io/class annotations) >
 * [match] rules. The operator and [match] rules are root's own word. A hook claim is the word of
 * whoever starts the container, so it must fall inside the tenant's binding, its [claim]
 * section:
 *   cgroup = GLOB             the container's cgroup path matches (fnmatch, '*' stops at '/');
 *                             several lines: any one of them
 *   annotation.KEY = GLOB     the OCI annotation KEY (one the runtime sets; never a qosd.io/ key)
 *                             matches; several lines for one KEY: any one of them
 *   anyone = yes              every container may claim the tenant
 * Every kind given must hold (cgroup AND each annotation KEY). A tenant without [claim] may be
 * claimed by any container only while it is the only tenant in the policy (a single-tenant
 * host needs nothing); with two or more tenants, only by [match] and the operator. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* What the runtime says about a container claiming a tenant. */
struct assign_claim {
	const char *cgpath;
	char *const *annotations; /* "KEY=VALUE" (util.h: annotation_add) */
	size_t n_annotations;
};

/* Everything that names a tenant or a class for one container, strongest first. */
struct assign_input {
	const char *op_tenant, *op_cls;
	const char *hook_tenant, *hook_cls;
	struct assign_claim claim; /* cgpath also feeds [match] */
};

/* The only tenant that defines a class of this name, or NULL if none or several do. */
const struct qos_tenant *assign_tenant_with_class(const struct qos_policy *p, const char *cls);

/* Whether claim may take tenant t. 0, or -EPERM with *ret_msg naming the tenant and the rule
 * (file:line) it fails. */
int assign_claim_check(const struct qos_policy *p, const struct qos_tenant *t,
		       const struct assign_claim *claim, char **ret_msg);

/* A registration's names (annotations or the hook's options), before anything is touched:
 * tenant and class exist, and the claim is inside the tenant's binding. 0, or -ENOENT/-EPERM
 * with *ret_msg. config_dir only words the message. */
int assign_check_registration(const struct qos_policy *p, const char *config_dir,
			      const char *tenant, const char *cls, const struct assign_claim *claim,
			      char **ret_msg);

/* The effective tenant and class by precedence. 1 with *t, *cls and *origin ("operator",
 * "hook", "match") set; 0 if nothing names a class; -ENOENT if a name is not in the policy
 * (anymore); -EPERM if the hook's claim is outside the tenant's binding. *ret_why says why
 * (< 0 only). */
int assign_resolve(const struct qos_policy *p, const struct assign_input *in,
		   const struct qos_tenant **t, const struct qos_class **cls, const char **origin,
		   char **ret_why);

/* Keep only the annotations some tenant's [claim] rule names (what is worth storing). */
void assign_keep_claimed(const struct qos_policy *p, char **v, size_t *n);

/* The cgroup qosd makes for a tenant's budget: PARENT/qosd-TENANT (malloc'd; NULL: ENOMEM). */
char *assign_tenant_cgroup(const char *parent, const char *tenant);
