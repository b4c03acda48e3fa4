/* SPDX-License-Identifier: MIT */
#include "allow.h"
#include "cgroup.h"
#include "util.h"

static bool refuse(char **ret_why, char *why)
{
	*ret_why = why;
	return false;
}

/* cgpath is self or one of self's ancestors: managing it would limit (or move) qosd itself. */
static bool holds(const char *self, const char *cgpath)
{
	size_t n = strlen(cgpath);

	return self && (streq(self, cgpath) || (strneq(self, cgpath, n) && self[n] == '/'));
}

static bool under_root(const struct cg_allow_rules *a, const char *cgpath)
{
	if (a->n_roots == 0)
		return true;
	for (size_t i = 0; i < a->n_roots; i++) {
		const char *root = a->roots[i];
		size_t l = strlen(root);

		if (streq(root, "/") || (strneq(root, cgpath, l) && cgpath[l] == '/'))
			return true;
	}
	return false;
}

bool cg_allowed(const struct cg_allow_rules *a, const char *cgpath, char **ret_why)
{
	const char *base = strrchr(cgpath, '/');

	if (cgpath_validate(cgpath) < 0)
		return refuse(ret_why, strprintf("\"%s\" is not a valid cgroup path", cgpath));
	if (streq(cgpath, "/"))
		return refuse(ret_why, strdup("the root cgroup is never a container"));
	if (holds(a->self_cgroup, cgpath))
		return refuse(ret_why, strprintf("%s holds qosd itself", cgpath));
	if (base && endswith(base, ".service"))
		return refuse(ret_why,
			      strprintf("%s is a system service unit, not a container", cgpath));
	for (size_t i = 0; i < a->n_tenant_cgroups; i++)
		if (streq(a->tenant_cgroups[i], cgpath))
			return refuse(ret_why, strprintf("%s is a tenant cgroup", cgpath));
	if (!under_root(a, cgpath))
		return refuse(ret_why,
			      strprintf("%s is outside the configured container_roots", cgpath));
	return true;
}

bool cg_allowed_all(const struct cg_allow_rules *a, const char *cgpath, const struct cg_paths *hier,
		    char **ret_why)
{
	if (!cg_allowed(a, cgpath, ret_why))
		return false;
	for (int i = 0; hier && i < _CG_CTRL_MAX; i++) {
		_cleanup_free_ char *why = NULL;

		if (!hier->v[i] || cg_allowed(a, hier->v[i], &why))
			continue;
		*ret_why = strprintf("in the %s hierarchy: %s", cg_ctrl_name(i),
				     why ? why : "not allowed");
		return false;
	}
	return true;
}
