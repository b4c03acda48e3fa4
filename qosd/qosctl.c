/* SPDX-License-Identifier: MIT */
/* qosctl: the operator's tool. Exit 0 on success, 1 on a refused or failed request, 2 on a
 * usage error. */
#include <getopt.h>
#include <jansson.h>

#include "config.h"
#include "policy.h"
#include "proto.h"
#include "qosctl.h"
#include "util.h"

#define TIMEOUT_MS 30000

const char *sock_path = QOSD_SOCKET;
bool want_json;

static void help(FILE *f)
{
	fprintf(f,
		"Usage: qosctl [-s SOCKET] COMMAND ...\n\n"
		"  list [--json]                 containers qosd knows: tenant, class, origin, "
		"status\n"
		"  show ID [--json]              per knob: desired, applied (read from the "
		"kernel),\n"
		"                                source, last error\n"
		"  set ID KEY=VALUE...           class=, tenant=, disk.dir=, cgroup=PATH (register "
		"a\n"
		"                                cgroup by hand), or any policy key as an "
		"override\n"
		"  unset ID KEY...|--all         drop overrides (and class=, tenant=, disk.dir=)\n"
		"  reload                        reload the policy (all or nothing)\n"
		"  explain ID [KEY]              where each value comes from: file:line, override "
		"(who),\n"
		"                                annotation or [match] rule\n"
		"  plan DIR                      what loading the policy in DIR would change, knob "
		"by knob;\n"
		"                                writes nothing\n"
		"  top [-b] [-n N] [-d SECONDS] [-o KEY]\n"
		"                                live CPU, throttling, memory, I/O and network per "
		"container\n"
		"  check [DIR]                   validate a policy directory without touching "
		"anything\n"
		"                                (default " QOSD_CONFIG_DIR ")\n\n"
		"  -s, --socket PATH             qosd's socket (default " QOSD_SOCKET ")\n"
		"  -h, --help\n\n"
		"Exit status: 0 success, 1 refused or failed, 2 usage error. Changing anything "
		"takes\n"
		"root or qosd's admin group. See qosctl(8).\n");
}

int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "qosctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'qosctl --help'.\n");
	return 2;
}

int call(json_t *req, json_t **ret)
{
	_cleanup_free_ char *text = json_dumps(req, JSON_COMPACT), *reply = NULL;
	json_error_t e;
	int r;

	if (!text)
		return 1;
	r = proto_call(sock_path, text, TIMEOUT_MS, &reply);
	if (r == -EACCES || r == -EPERM) {
		fprintf(stderr,
			"qosctl: permission denied on %s: talking to qosd takes root or its "
			"admin group\n",
			sock_path);
		return 1;
	}
	if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(stderr, "qosctl: qosd is not running (no socket at %s)\n", sock_path);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "qosctl: %s: %s\n", sock_path, strerror(-r));
		return 1;
	}
	*ret = json_loads(reply, 0, &e);
	if (!*ret) {
		fprintf(stderr, "qosctl: malformed reply from qosd: %s\n", e.text);
		return 1;
	}
	if (!json_is_true(json_object_get(*ret, "ok"))) {
		const char *err = json_string_value(json_object_get(*ret, "error"));

		fprintf(stderr, "qosctl: %s\n", err ? err : "request failed");
		return 1;
	}
	return 0;
}

const char *s_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

/* The table's status: the word before the reason ("pending: cgroup ... yet" -> "pending");
 * `show` and --json carry the whole text. */
static int status_word(const char *status)
{
	size_t n = strcspn(status, ":;");

	return (int) MIN(n, (size_t) 12);
}

static void print_list(json_t *reply)
{
	json_t *arr = json_object_get(reply, "containers"), *c, *t;
	size_t i;

	printf("%-24s %-12s %-12s %-9s %-12s %s\n", "ID", "TENANT", "CLASS", "ORIGIN", "STATUS",
	       "CGROUP");
	json_array_foreach(arr, i, c)
	{
		const char *st = s_or(c, "status", "-");

		printf("%-24s %-12s %-12s %-9s %-12.*s %s\n", s_or(c, "id", "?"),
		       s_or(c, "tenant", "-"), s_or(c, "class", "-"), s_or(c, "origin", "-"),
		       status_word(st), st, s_or(c, "cgroup", "?"));
	}
	json_array_foreach(json_object_get(reply, "tenants"), i, t)
	{
		const char *st = s_or(t, "status", "-");

		if (i == 0)
			printf("\nTENANT CGROUPS (aggregate budgets)\n");
		printf("%-24s %-12.*s %s\n", s_or(t, "tenant", "?"), status_word(st), st,
		       s_or(t, "cgroup", "?"));
	}
}

static void print_show(json_t *o)
{
	json_t *k, *ovr = json_object_get(o, "overrides"), *v;
	const char *key;
	size_t i;

	printf("container %s\n  cgroup   %s\n  tenant   %s\n  class    %s (from %s)\n  status   "
	       "%s\n",
	       s_or(o, "id", "?"), s_or(o, "cgroup", "?"), s_or(o, "tenant", "-"),
	       s_or(o, "class", "-"), s_or(o, "origin", "nobody"), s_or(o, "status", "-"));
	if (json_string_value(json_object_get(o, "replaces")))
		printf("  entry    took over %s, the entry a [match] rule made for this cgroup\n",
		       s_or(o, "replaces", "?"));
	else if (json_is_true(json_object_get(o, "matched")) &&
		 !streq(s_or(o, "origin", ""), "match"))
		printf("  entry    a [match] rule matches this cgroup too; %s takes precedence\n",
		       s_or(o, "origin", "?"));
	if (json_object_size(ovr) > 0) {
		printf("  overrides");
		json_object_foreach(ovr, key, v) printf(" %s=%s", key, json_string_value(v));
		printf("\n");
	}
	if (json_string_value(json_object_get(o, "cpu_conversion")))
		printf("  cpu      %s\n", s_or(o, "cpu_conversion", ""));
	printf("\n%-20s %-36s %-16s %-16s %-20s %-8s %s\n", "KEY", "KERNEL OBJECT", "DESIRED",
	       "APPLIED", "SOURCE", "VIA", "NOTE / LAST ERROR");
	json_array_foreach(json_object_get(o, "knobs"), i, k)
	{
		const char *err = s_or(k, "error", NULL), *note = s_or(k, "note", "");

		printf("%-20s %-36s %-16s %-16s %-20s %-8s %s%s%s\n", s_or(k, "key", "?"),
		       s_or(k, "object", "?"), s_or(k, "desired", "-"), s_or(k, "applied", "?"),
		       s_or(k, "source", "-"), s_or(k, "via", "-"), note, err && *note ? "; " : "",
		       err ? err : "");
	}
	if (json_string_value(json_object_get(o, "pending")))
		printf("\npending: %s\n", s_or(o, "pending", ""));
}

static int output(json_t *reply, void (*human)(json_t *))
{
	json_object_del(reply, "ok");
	if (want_json) {
		_cleanup_free_ char *s = json_dumps(reply, JSON_INDENT(2));

		printf("%s\n", s ? s : "{}");
	} else
		human(reply);
	return 0;
}

static int cmd_simple(const char *cmd, const char *id, void (*human)(json_t *))
{
	json_auto_t *req = json_pack("{s:s}", "cmd", cmd), *reply = NULL;
	int r;

	if (id)
		json_object_set_new(req, "id", json_string(id));
	r = call(req, &reply);
	if (r)
		return r;
	return human ? output(reply, human) : 0;
}

static int cmd_change(const char *cmd, int argc, char **argv)
{
	json_auto_t *req = json_pack("{s:s,s:s}", "cmd", cmd, "id", argv[0]), *reply = NULL;
	json_t *args = json_array();
	const char *warn;
	int r;

	for (int i = 1; i < argc; i++) {
		if (streq(cmd, "unset") && streq(argv[i], "--all")) {
			json_object_set_new(req, "all", json_true());
			continue;
		}
		if (streq(cmd, "set") && !strchr(argv[i], '=')) {
			json_decref(args);
			return usage("set: \"%s\" is not KEY=VALUE", argv[i]);
		}
		json_array_append_new(args, json_string(argv[i]));
	}
	json_object_set_new(req, "args", args);
	r = call(req, &reply);
	if (r)
		return r;
	warn = s_or(reply, "warnings", NULL);
	if (warn)
		fprintf(stderr, "qosctl: warning: %s\n", warn);
	printf("%s: %s\n", argv[0], s_or(reply, "status", "ok"));
	return 0;
}

static int cmd_check(const char *dir)
{
	struct qos_policy *p = NULL;
	_cleanup_free_ char *errors = NULL;
	int r = policy_load_dir(dir, &p, &errors);

	if (r < 0) {
		fprintf(stderr, "%s", errors ? errors : strerror(-r));
		if (!errors || !endswith(errors, "\n"))
			fputc('\n', stderr);
		return 1;
	}
	printf("%s: %zu tenant(s), valid\n", dir, p->n_tenants);
	policy_free(p);
	return 0;
}

static int dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];

	if (streq(cmd, "list"))
		return argc == 1 ? cmd_simple("list", NULL, print_list)
				 : usage("list: unexpected \"%s\"", argv[1]);
	if (streq(cmd, "show"))
		return argc == 2 ? cmd_simple("show", argv[1], print_show)
				 : usage("%s", "show needs exactly one container id");
	if (streq(cmd, "set") || streq(cmd, "unset"))
		return argc >= 3 ? cmd_change(cmd, argc - 1, argv + 1)
				 : usage("%s needs an id and at least one key", cmd);
	if (streq(cmd, "reload"))
		return argc == 1 ? cmd_simple("reload", NULL, NULL)
				 : usage("%s", "reload takes no "
					       "arguments");
	if (streq(cmd, "explain"))
		return argc == 2 || argc == 3
			       ? qosctl_explain(argv[1], argc == 3 ? argv[2] : NULL)
			       : usage("%s", "explain needs a container id and at most "
					     "one key");
	if (streq(cmd, "plan"))
		return argc == 2 ? qosctl_plan(argv[1]) : usage("%s", "plan needs one directory");
	if (streq(cmd, "check"))
		return argc <= 2 ? cmd_check(argc == 2 ? argv[1] : QOSD_CONFIG_DIR)
				 : usage("%s", "check takes at most one directory");
	return usage("unknown command \"%s\"", cmd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "socket", required_argument, NULL, 's' },
					      { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	char *args[64];
	int n = 0, c;

	/* options may come anywhere ("show ID --json"); "--all" belongs to unset */
	opterr = 0;
	while (optind < argc) {
		if (n < (int) ELEMENTSOF(args) && streq(argv[optind], "--all")) {
			args[n++] = argv[optind++];
			continue;
		}
		if (streq(argv[optind], "--")) {
			/* everything after "--" is an argument, even "-x" */
			for (optind++; optind < argc && n < (int) ELEMENTSOF(args);)
				args[n++] = argv[optind++];
			break;
		}
		if (n == 0 && streq(argv[optind], "top")) {
			/* top has options of its own (-b, -n, -d, -o): it parses the rest */
			optind++;
			return qosctl_top(argc - optind + 1, argv + optind - 1);
		}
		c = getopt_long(argc, argv, "+s:h", opts, NULL);
		if (c == -1) {
			if (n >= (int) ELEMENTSOF(args))
				return usage("%s", "too many arguments");
			args[n++] = argv[optind++];
			continue;
		}
		if (c == 's')
			sock_path = optarg;
		else if (c == 'j')
			want_json = true;
		else if (c == 'h') {
			help(stdout);
			return 0;
		} else
			return usage("unknown option \"%s\"", argv[optind - 1]);
	}
	if (n == 0) {
		help(stderr);
		return 2;
	}
	return dispatch(n, args);
}
