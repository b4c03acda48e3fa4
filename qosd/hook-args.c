/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdarg.h>

#include "config.h"
#include "hook-args.h"
#include "units.h"

void hook_say(const struct hook_args *a, const char *fmt, ...)
{
	va_list ap;

	fputs("qos-hook: ", stderr);
	if (a->st.id)
		fprintf(stderr, "container %s: ", a->st.id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void help(void)
{
	printf("Usage: qos-hook [OPTIONS] STAGE < state.json        (OCI runtime hook)\n"
	       "       qos-hook [OPTIONS] --id ID --pid PID [--tenant T] [--class C] [--dir PATH]\n"
	       "       qos-hook [OPTIONS] --id ID --release\n\n"
	       "STAGE is createRuntime or prestart (register the container with qosd and apply "
	       "its\n"
	       "tenant's class), or poststop (forget it). The state JSON on stdin names the "
	       "policy\n"
	       "with the annotations qosd.io/tenant, qosd.io/class and qosd.io/disk-dir "
	       "(optional).\n"
	       "When qosd does not answer, the hook applies the limits itself from the same "
	       "policy\n"
	       "files and leaves STATE_DIR/pending/ID.json, which qosd adopts when it starts.\n\n"
	       "  --socket PATH      qosd's socket (default " QOSD_SOCKET ")\n"
	       "  --config-dir DIR   tenant policies (default " QOSD_CONFIG_DIR ")\n"
	       "  --config FILE      qosd's own settings (default " QOSD_CONF_FILE ")\n"
	       "  --state-dir DIR    qosd's state directory (default " QOSD_STATE_DIR ")\n"
	       "  --cgroupfs DIR     cgroup root (default " QOSD_CGROUPFS ")\n"
	       "  --timeout S        give up after S seconds, or a duration like 500ms (default "
	       "2)\n"
	       "  -h, --help         this text\n\n"
	       "podman, CRI-O: a hooks.d file (/etc/containers/oci/hooks.d/qosd.json):\n"
	       "  {\"version\": \"1.0.0\",\n"
	       "   \"hook\": {\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "            \"args\": [\"qos-hook\", \"createRuntime\"]},\n"
	       "   \"when\": {\"annotations\": {\"^qosd\\\\.io/class$\": \".*\"}},\n"
	       "   \"stages\": [\"createRuntime\"]}\n"
	       "  and a second one with \"poststop\"; then podman run --annotation "
	       "qosd.io/class=gold ...\n"
	       "runc, crun: in config.json,\n"
	       "  \"hooks\": {\"createRuntime\": [{\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "             \"args\": [\"qos-hook\", \"createRuntime\"], \"timeout\": 5}],\n"
	       "           \"poststop\": [{\"path\": \"/usr/local/sbin/qos-hook\",\n"
	       "             \"args\": [\"qos-hook\", \"poststop\"], \"timeout\": 5}]}\n"
	       "  with \"annotations\": {\"qosd.io/tenant\": \"acme\", \"qosd.io/class\": "
	       "\"gold\"}.\n"
	       "Kubernetes: through the CRI runtime's hooks.d (CRI-O) or an NRI hook injector\n"
	       "(containerd); pod annotations qosd.io/* reach the hook as OCI annotations.\n"
	       "Docker runs no OCI hooks: use [match] rules such as\n"
	       "  /system.slice/docker-*.scope = silver   (systemd cgroup driver)\n"
	       "  /docker/* = silver                      (cgroupfs driver)\n"
	       "See docs/integration.md and qos-hook(8).\n");
}

/* ---- command line ---- */

static int parse_timeout(const char *v, uint64_t *ret)
{
	uint64_t n;

	if (parse_u64(v, &n) >= 0 && n <= 3600) {
		*ret = n * 1000000ULL;
		return n > 0 ? 0 : -EINVAL;
	}
	if (parse_duration_us(v, &n) < 0 || n == 0 || n > 3600 * 1000000ULL)
		return -EINVAL;
	*ret = n;
	return 0;
}

enum {
	ARG_SOCKET = 256,
	ARG_CONFIG_DIR,
	ARG_CONFIG,
	ARG_STATE_DIR,
	ARG_CGROUPFS,
	ARG_TIMEOUT,
	ARG_ID,
	ARG_PID,
	ARG_TENANT,
	ARG_CLASS,
	ARG_DIR,
	ARG_RELEASE,
	ARG_FALLBACK_WHY,
	ARG_FALLBACK_DEADLINE,
};

static int plain_opt(struct hook_args *a, int c, const char *v)
{
	char *end;

	a->plain = true;
	switch (c) {
	case ARG_ID:
		a->id = v;
		return 0;
	case ARG_PID:
		errno = 0;
		a->pid = strtoll(v, &end, 10);
		return errno || *end || a->pid <= 0 ? -EINVAL : 0;
	case ARG_TENANT:
		a->tenant = v;
		return 0;
	case ARG_CLASS:
		a->cls = v;
		return 0;
	case ARG_DIR:
		a->dir = v;
		return 0;
	default: /* ARG_RELEASE */
		a->act = ACT_RELEASE;
		return 0;
	}
}

/* qos-hook's deadline, as it handed it over: not past, not beyond the longest --timeout */
static int parse_deadline(const char *v, uint64_t *ret)
{
	uint64_t n, now = now_usec();

	if (parse_u64(v, &n) < 0 || n > now + 3600 * 1000000ULL)
		return -EINVAL;
	*ret = n;
	return 0;
}

static int one_opt(struct hook_args *a, int c, const char *v)
{
	switch (c) {
	case ARG_SOCKET:
		a->socket = v;
		return 0;
	case ARG_CONFIG_DIR:
		a->config_dir = v;
		return 0;
	case ARG_CONFIG:
		a->conf_given = true;
		a->conf_file = v;
		return 0;
	case ARG_STATE_DIR:
		a->state_dir = v;
		return 0;
	case ARG_CGROUPFS:
		a->cgroupfs = v;
		return 0;
	case ARG_TIMEOUT:
		return parse_timeout(v, &a->timeout_usec);
	case ARG_ID ... ARG_RELEASE:
		return plain_opt(a, c, v);
	case ARG_FALLBACK_WHY:
		a->why = v;
		return 0;
	case ARG_FALLBACK_DEADLINE:
		return parse_deadline(v, &a->deadline);
	default:
		return -EINVAL;
	}
}

static int check_stage(struct hook_args *a, int argc, char **argv)
{
	if (a->plain) {
		if (optind < argc || !a->id || (a->act == ACT_REGISTER && a->pid <= 0))
			return -EINVAL;
		return 1;
	}
	if (optind != argc - 1)
		return -EINVAL;
	a->stage = argv[optind];
	if (streq(a->stage, "createRuntime") || streq(a->stage, "prestart"))
		a->act = ACT_REGISTER;
	else if (streq(a->stage, "poststop"))
		a->act = ACT_RELEASE;
	else {
		fprintf(stderr,
			"qos-hook: unknown stage \"%s\" (createRuntime, prestart or poststop)\n",
			a->stage);
		return -EINVAL;
	}
	return 1;
}

static const char *opt_name(const struct option *opts, int c)
{
	for (; opts->name; opts++)
		if (opts->val == c)
			return opts->name;
	return "?";
}

int hook_parse_argv(int argc, char **argv, struct hook_args *a, bool fallback)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "cgroupfs", required_argument, NULL, ARG_CGROUPFS },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "id", required_argument, NULL, ARG_ID },
		{ "pid", required_argument, NULL, ARG_PID },
		{ "tenant", required_argument, NULL, ARG_TENANT },
		{ "class", required_argument, NULL, ARG_CLASS },
		{ "dir", required_argument, NULL, ARG_DIR },
		{ "release", no_argument, NULL, ARG_RELEASE },
		{ "help", no_argument, NULL, 'h' },
		/* qos-hook -> qos-hook-apply only (not in qos-hook's table) */
		{ "fallback-why", required_argument, NULL, ARG_FALLBACK_WHY },
		{ "fallback-deadline", required_argument, NULL, ARG_FALLBACK_DEADLINE },
		{}
	};
	int c, r;

	a->timeout_usec = HOOK_TIMEOUT_USEC;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if (c == 'h') {
			help();
			return 0;
		}
		if (c == '?')
			return -EINVAL; /* getopt said which */
		if (!fallback && c >= ARG_FALLBACK_WHY) {
			fprintf(stderr, "qos-hook: unrecognized option '--%s'\n",
				opt_name(opts, c));
			return -EINVAL;
		}
		if (one_opt(a, c, optarg) < 0) {
			fprintf(stderr, "qos-hook: bad value for --%s: \"%s\"\n", opt_name(opts, c),
				optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (fallback && (!a->why || !a->deadline)) {
		fprintf(stderr, "%s: internal to qos-hook (run qos-hook instead)\n",
			HOOK_APPLY_NAME);
		return -EINVAL;
	}
	r = check_stage(a, argc, argv);
	if (r > 0 && !fallback)
		a->deadline = now_usec() + a->timeout_usec;
	return r;
}

/* ---- the state ---- */

int hook_load_state(struct hook_args *a)
{
	_cleanup_free_ char *err = NULL;
	int r;

	if (a->plain)
		r = oci_state_plain(a->id, a->pid, a->tenant, a->cls, a->dir, &a->st, &err);
	else {
		r = oci_state_read(STDIN_FILENO, OCI_STATE_MAX, a->deadline, &a->raw, &a->raw_len);
		if (r == -EFBIG)
			return hook_refuse(a, "the state on stdin is larger than %d bytes",
					   OCI_STATE_MAX);
		if (r == -ETIMEDOUT)
			return hook_refuse(a, "no complete state on stdin within %llu ms",
					   (unsigned long long) a->timeout_usec / 1000);
		if (r < 0)
			return hook_refuse(a, "cannot read the state on stdin: %s", strerror(-r));
		r = oci_state_parse(a->raw, a->raw_len, &a->st, &err);
	}
	if (r < 0)
		return hook_refuse(a, "malformed state: %s", err ? err : strerror(-r));
	return 0;
}

void hook_args_done(struct hook_args *a)
{
	oci_state_done(&a->st);
	free(a->raw);
	a->raw = NULL;
}
