/* SPDX-License-Identifier: MIT */
/* Network shaping of one container, both directions (root tbf on the host veth; ingress qdisc +
 * u32 mirred to an ifb with its tbf), through tc_apply against the same objects made with the
 * tc / ip CLI. Run inside the "host" netns that holds VETH, with PID in the container's netns:
 *   tc-bench PID VETH N
 * Prints RESULT lines (bench.h): tc.apply.create (ifb made, 2 tbf, ingress, filter, read back),
 * tc.apply.noop (nothing differs: read only), tc.apply.change (both rates replaced in place),
 * tc.apply.clear (all removed), tc.cli.create (the same through 6 ip/tc execs). */
#include <spawn.h>
#include <sys/wait.h>

#include "bench.h"
#include "qosd/report.h"
#include "tc/tc.h"

extern char **environ;

static double apply_us(struct tc_ctx *ctx, const char *id, pid_t pid, uint64_t in, uint64_t out,
		       enum qos_op op)
{
	struct qos_net net = { { op, in }, { op, out }, { QOS_LEAVE, 0 } };
	struct qos_report r = { 0 };
	uint64_t t = now_ns();
	int e = tc_apply(ctx, id, pid, &net, false, &r);

	t = now_ns() - t;
	if (e < 0 || report_errors(&r) || r.n != 2)
		die("tc_apply %s: %d (%zu entries)", id, e, r.n);
	report_done(&r);
	return (double) t / 1000.0;
}

static void run(char *const argv[])
{
	pid_t p;
	int st;

	if (posix_spawnp(&p, argv[0], NULL, NULL, argv, environ) != 0)
		die("spawn %s", argv[0]);
	if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s %s %s failed", argv[0], argv[1], argv[2]);
}

/* The CNI bandwidth plugin's commands, as an operator would type them. */
static double cli_create(const char *veth, const char *ifb)
{
	char *const cmds[][24] = {
		{ "ip", "link", "add", (char *) ifb, "type", "ifb", NULL },
		{ "ip", "link", "set", (char *) ifb, "up", NULL },
		{ "tc", "qdisc", "replace", "dev", (char *) ifb, "root", "handle", "1:", "tbf",
		  "rate", "10mbit", "burst", "32k", "limit", "95232", NULL },
		{ "tc", "qdisc", "replace", "dev", (char *) veth, "ingress", NULL },
		{ "tc",	    "filter",	"replace", "dev",	 (char *) veth, "parent",
		  "ffff:",  "protocol", "all",	   "prio",	 "1",		"u32",
		  "match",  "u32",	"0",	   "0",		 "action",	"mirred",
		  "egress", "redirect", "dev",	   (char *) ifb, NULL },
		{ "tc", "qdisc", "replace", "dev", (char *) veth, "root", "handle", "1:", "tbf",
		  "rate", "20mbit", "burst", "32k", "limit", "157768", NULL },
	};
	uint64_t t = now_ns();

	for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
		run(cmds[i]);
	return (double) (now_ns() - t) / 1000.0;
}

static void cli_clear(const char *veth, const char *ifb)
{
	char *const a[] = { "tc", "qdisc", "del", "dev", (char *) veth, "ingress", NULL };
	char *const b[] = { "tc", "qdisc", "del", "dev", (char *) veth, "root", NULL };
	char *const c[] = { "ip", "link", "del", (char *) ifb, NULL };

	run(a);
	run(b);
	run(c);
}

int main(int argc, char **argv)
{
	struct tc_ctx *ctx;
	pid_t pid;
	int n;

	if (argc != 4)
		die("usage: tc-bench PID VETH N");
	pid = atoi(argv[1]);
	n = atoi(argv[3]);
	double *v[5];
	for (int k = 0; k < 5; k++)
		if (!(v[k] = calloc((size_t) n, sizeof(double))))
			die("oom");
	if (tc_ctx_new(&ctx) < 0)
		die("tc_ctx_new");
	for (int i = 0; i < n; i++) {
		char id[32], ifb[16];

		snprintf(id, sizeof(id), "bench-%d-%d", (int) getpid(), i);
		v[0][i] = apply_us(ctx, id, pid, 20000000, 10000000, QOS_SET);
		v[1][i] = apply_us(ctx, id, pid, 20000000, 10000000, QOS_SET);
		v[2][i] = apply_us(ctx, id, pid, 30000000, 15000000, QOS_SET);
		v[3][i] = apply_us(ctx, id, pid, 0, 0, QOS_CLEAR);
		tc_ifb_name(id, 0, ifb);
		v[4][i] = cli_create(argv[2], ifb);
		cli_clear(argv[2], ifb);
	}
	report("tc.apply.create", v[0], (size_t) n);
	report("tc.apply.noop", v[1], (size_t) n);
	report("tc.apply.change", v[2], (size_t) n);
	report("tc.apply.clear", v[3], (size_t) n);
	report("tc.cli.create", v[4], (size_t) n);
	tc_ctx_free(ctx);
	return 0;
}
