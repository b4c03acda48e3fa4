/* SPDX-License-Identifier: MIT */
/* qosctl plan DIR and qosctl explain ID [KEY]: the client side (qosd computes both). */
#include <limits.h>

#include <jansson.h>

#include "qosctl.h"
#include "util.h"

static int print_json(json_t *reply)
{
	_cleanup_free_ char *s = NULL;

	json_object_del(reply, "ok");
	s = json_dumps(reply, JSON_INDENT(2));
	printf("%s\n", s ? s : "{}");
	return 0;
}

static size_t print_knobs(json_t *knobs)
{
	json_t *k;
	size_t i;

	json_array_foreach(knobs, i, k)
	{
		const char *err = s_or(k, "error", NULL);

		printf("  %-20s %-36s %s -> %s%s%s\n", s_or(k, "key", "?"), s_or(k, "object", "?"),
		       s_or(k, "now", "?"), s_or(k, "would", "?"), err ? "  (fails now: " : "",
		       err ? err : "");
		if (err)
			printf(")\n");
	}
	return json_array_size(knobs);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

/* One container's entry; returns 1 if it would change. */
static int print_container(json_t *c)
{
	const char *tn = s_or(c, "tenant_now", NULL), *cn = s_or(c, "class_now", NULL);
	const char *t = s_or(c, "tenant", NULL), *cl = s_or(c, "class", NULL);
	const char *lose = s_or(c, "loses_class", NULL), *err = s_or(c, "error", NULL);
	json_t *knobs = json_object_get(c, "knobs");
	bool moves = !same_str(tn, t) || !same_str(cn, cl);

	if (!lose && !err && !moves && json_array_size(knobs) == 0)
		return 0;
	printf("container %s", s_or(c, "id", "?"));
	if (lose)
		printf(": would lose its class %s/%s: %s; the limits it has stay\n", tn ? tn : "-",
		       cn ? cn : "-", lose);
	else if (moves)
		printf(": class %s/%s -> %s/%s (%s)\n", tn ? tn : "-", cn ? cn : "-", t ? t : "-",
		       cl ? cl : "-", s_or(c, "origin", "?"));
	else
		printf(" (%s/%s)\n", t ? t : "-", cl ? cl : "-");
	if (err)
		printf("  refused: %s\n", err);
	print_knobs(knobs);
	return 1;
}

static void print_plan(json_t *reply)
{
	json_t *c, *t;
	size_t i, changed = 0, n = json_array_size(json_object_get(reply, "containers"));

	json_array_foreach(json_object_get(reply, "containers"), i, c) changed +=
		print_container(c);
	json_array_foreach(json_object_get(reply, "tenants"), i, t)
	{
		json_t *knobs = json_object_get(t, "knobs");

		if (!json_is_true(json_object_get(t, "create")) && json_array_size(knobs) == 0)
			continue;
		printf("tenant %s (cgroup %s)%s\n", s_or(t, "tenant", "?"), s_or(t, "cgroup", "?"),
		       json_is_true(json_object_get(t, "create")) ? ": would create it" : "");
		print_knobs(knobs);
	}
	printf("%zu of %zu container(s) would change; nothing was written\n", changed, n);
}

int qosctl_plan(const char *dir)
{
	char abs[PATH_MAX];
	json_auto_t *req = NULL, *reply = NULL;
	const char *refused;
	int r;

	if (!realpath(dir, abs)) {
		fprintf(stderr, "qosctl: plan: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	req = json_pack("{s:s,s:s}", "cmd", "plan", "dir", abs);
	r = call(req, &reply);
	if (r)
		return r;
	refused = s_or(reply, "refused", NULL);
	if (want_json)
		print_json(reply);
	else if (refused)
		printf("a reload of %s would be refused, and change nothing (all or "
		       "nothing):\n%s%s",
		       abs, refused, endswith(refused, "\n") ? "" : "\n");
	else
		print_plan(reply);
	return refused ? 1 : 0;
}

int qosctl_explain(const char *id, const char *key)
{
	json_auto_t *req = json_pack("{s:s,s:s}", "cmd", "explain", "id", id), *reply = NULL;
	json_t *k;
	size_t i;
	int r;

	if (key)
		json_object_set_new(req, "args", json_pack("[s]", key));
	r = call(req, &reply);
	if (r)
		return r;
	if (want_json)
		return print_json(reply);
	printf("container %s (cgroup %s)\n", s_or(reply, "id", "?"), s_or(reply, "cgroup", "?"));
	printf("  tenant %s, class %s\n", s_or(reply, "tenant", "-"), s_or(reply, "class", "-"));
	printf("  assigned by %s\n", s_or(reply, "assignment", "nobody (no class)"));
	if (s_or(reply, "class_at", NULL))
		printf("  class at    %s\n", s_or(reply, "class_at", ""));
	if (s_or(reply, "problem", NULL))
		printf("  problem     %s\n", s_or(reply, "problem", ""));
	if (json_array_size(json_object_get(reply, "keys")))
		printf("\n%-20s %-14s %-10s %s\n", "KEY", "VALUE", "SOURCE", "FROM");
	json_array_foreach(json_object_get(reply, "keys"), i, k)
	{
		printf("%-20s %-14s %-10s %s\n", s_or(k, "key", "?"), s_or(k, "value", "?"),
		       s_or(k, "source", "?"), s_or(k, "from", "?"));
	}
	return 0;
}
