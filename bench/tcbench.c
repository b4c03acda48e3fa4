/* SPDX-License-Identifier: MIT */
/* Both directions of shaping for one container's host-side veth: into the container a root tbf
 * on the veth; out of it an ifb (created, up) with a root tbf, an ingress qdisc on the veth and a
 * u32 match-all filter with a mirred redirect to the ifb. 10mbit, burst 32K, limit 32K + 50 ms.
 *   tcbench nl VETH N                 libnl-route-3 on one socket (the "raw netlink" column)
 *   tcbench cli VETH N                tc and ip, one exec per step
 *   tcbench qosd SOCK CGPARENT NETNS VETH N
 *                                     a register over qosd's socket of a container (a task in
 *                                     NETNS, in a fresh cgroup) whose class has net.ingress and
 *                                     net.egress; the qdiscs are checked after (not timed)
 * Everything is torn down after each round (not timed). */
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "bench.h"

#define RATE_BYTES (10000000 / 8)
#define BURST 32768
#define LIMIT (BURST + RATE_BYTES / 20)

static struct nl_sock *sk;

static void nlcheck(int r, const char *what)
{
	if (r < 0) {
		errno = 0;
		die("%s: %s", what, nl_geterror(r));
	}
}

static struct rtnl_qdisc *qdisc(int ifindex, uint32_t parent, const char *kind)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	if (parent == TC_H_INGRESS)
		rtnl_tc_set_handle(TC_CAST(q), TC_H_MAKE(TC_H_INGRESS, 0));
	nlcheck(rtnl_tc_set_kind(TC_CAST(q), kind), kind);
	return q;
}

static void tbf(int ifindex)
{
	struct rtnl_qdisc *q = qdisc(ifindex, TC_H_ROOT, "tbf");

	rtnl_qdisc_tbf_set_rate(q, RATE_BYTES, BURST, 0);
	rtnl_qdisc_tbf_set_limit(q, LIMIT);
	nlcheck(rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE), "tbf");
	rtnl_qdisc_put(q);
}

static int ifb_up(const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc(), *got = NULL;
	int idx;

	nlcheck(rtnl_link_set_type(l, "ifb"), "ifb type");
	rtnl_link_set_name(l, name);
	rtnl_link_set_flags(l, IFF_UP);
	nlcheck(rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL), "ifb add");
	rtnl_link_put(l);
	nlcheck(rtnl_link_get_kernel(sk, 0, name, &got), "ifb get");
	idx = rtnl_link_get_ifindex(got);
	if (!(rtnl_link_get_flags(got) & IFF_UP)) {
		struct rtnl_link *ch = rtnl_link_alloc();

		rtnl_link_set_flags(ch, IFF_UP);
		nlcheck(rtnl_link_change(sk, got, ch, 0), "ifb up");
		rtnl_link_put(ch);
	}
	rtnl_link_put(got);
	return idx;
}

static void redirect(int ifindex, int target)
{
	struct rtnl_cls *f = rtnl_cls_alloc();
	struct rtnl_act *a = rtnl_act_alloc();
	struct rtnl_qdisc *q = qdisc(ifindex, TC_H_INGRESS, "ingress");

	nlcheck(rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE), "ingress");
	rtnl_qdisc_put(q);
	rtnl_tc_set_ifindex(TC_CAST(f), ifindex);
	rtnl_tc_set_parent(TC_CAST(f), TC_H_MAKE(TC_H_INGRESS, 0));
	rtnl_cls_set_prio(f, 1);
	rtnl_cls_set_protocol(f, ETH_P_ALL);
	nlcheck(rtnl_tc_set_kind(TC_CAST(f), "u32"), "u32");
	nlcheck(rtnl_tc_set_kind(TC_CAST(a), "mirred"), "mirred");
	rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(a, (uint32_t) target);
	nlcheck(rtnl_u32_add_key_uint32(f, 0, 0, 0, 0), "u32 key");
	nlcheck(rtnl_u32_add_action(f, a), "u32 action");
	nlcheck(rtnl_cls_add(sk, f, NLM_F_CREATE | NLM_F_REPLACE), "filter");
	rtnl_act_put(a);
	rtnl_cls_put(f);
}

static void teardown(int ifindex, const char *ifb)
{
	struct rtnl_qdisc *q = qdisc(ifindex, TC_H_INGRESS, "ingress");
	struct rtnl_link *l = rtnl_link_alloc();

	(void) rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	q = qdisc(ifindex, TC_H_ROOT, "tbf");
	(void) rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	if (ifb) {
		rtnl_link_set_name(l, ifb);
		(void) rtnl_link_delete(sk, l);
	}
	rtnl_link_put(l);
}

/* Is the veth's root qdisc a tbf, and does an ingress qdisc sit beside it? */
static bool shaped(int ifindex)
{
	struct nl_cache *c;
	struct rtnl_qdisc *root, *in;
	bool ok;

	nlcheck(rtnl_qdisc_alloc_cache(sk, &c), "qdisc dump");
	root = rtnl_qdisc_get_by_parent(c, ifindex, TC_H_ROOT);
	in = rtnl_qdisc_get_by_parent(c, ifindex, TC_H_INGRESS);
	ok = root && in && !strcmp(rtnl_tc_get_kind(TC_CAST(root)), "tbf");
	if (root)
		rtnl_qdisc_put(root);
	if (in)
		rtnl_qdisc_put(in);
	nl_cache_free(c);
	return ok;
}

static int run(const char *cmd)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
		_exit(127);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A task in netns ns, attached to cgroup path cg in every hierarchy. */
static pid_t netns_task(const char *ns)
{
	char p[4096];
	pid_t pid;
	int fd;

	snprintf(p, sizeof(p), "/run/netns/%s", ns);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", p);
	pid = fork();
	if (pid == 0) {
		/* gone with the bench, also when it dies on an error */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(1);
		if (setns(fd, CLONE_NEWNET) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(fd);
	usleep(20000);
	return pid;
}

static void cg_attach(struct hier *H, size_t nh, const char *cg, pid_t pid, bool make)
{
	char p[4096], v[64], s[32];

	snprintf(s, sizeof(s), "%d", (int) pid);
	for (size_t h = 0; h < nh; h++) {
		snprintf(p, sizeof(p), "%s%s", H[h].dir, cg);
		if (make) {
			if (mkdir(p, 0755) < 0)
				die("mkdir %s", p);
			if (!strcmp(H[h].name, "cpuset")) {
				int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);

				if (read_at(fd, "../cpuset.cpus", v, sizeof(v)) < 0 ||
				    write_at(fd, "cpuset.cpus", v) < 0 ||
				    read_at(fd, "../cpuset.mems", v, sizeof(v)) < 0 ||
				    write_at(fd, "cpuset.mems", v) < 0)
					die("cpuset");
				close(fd);
			}
		}
		strncat(p, "/cgroup.procs", sizeof(p) - strlen(p) - 1);
		int fd = open(p, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, s, strlen(s)) < 0)
			die("attach %s", p);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *veth;
	int n, ifindex;
	double *v;
	char key[64];

	if (!strcmp(mode, "qosd") ? argc != 7 : argc != 4)
		die("usage: tcbench nl|cli VETH N | tcbench qosd SOCK CGPARENT NETNS VETH N");
	veth = argv[argc - 2];
	n = atoi(argv[argc - 1]);
	v = calloc(n, sizeof(double));
	sk = nl_socket_alloc();
	nlcheck(nl_connect(sk, NETLINK_ROUTE), "connect");
	ifindex = (int) if_nametoindex(veth);
	if (!ifindex)
		die("no link %s", veth);
	if (!strcmp(mode, "nl") || !strcmp(mode, "cli")) {
		char ifb[IFNAMSIZ], cmd[2048];

		snprintf(ifb, sizeof(ifb), "%s",
			 getenv("QB_IFB") ? getenv("QB_IFB") : "qbifb-bench");
		for (int i = 0; i < n; i++) {
			uint64_t t0 = now_ns();

			if (!strcmp(mode, "nl")) {
				int idx;

				tbf(ifindex);
				idx = ifb_up(ifb);
				tbf(idx);
				redirect(ifindex, idx);
			} else {
				snprintf(
					cmd, sizeof(cmd),
					"tc qdisc replace dev %s root tbf rate 10mbit burst 32k "
					"latency 50ms && ip link add %s type ifb && ip link set "
					"%s up && tc qdisc replace dev %s root tbf rate 10mbit "
					"burst 32k latency 50ms && tc qdisc replace dev %s ingress "
					"&& tc filter replace dev %s parent ffff: protocol all "
					"prio "
					"1 u32 match u32 0 0 action mirred egress redirect dev %s",
					veth, ifb, ifb, ifb, veth, veth, ifb);
				if (run(cmd))
					die("tc/ip failed: %s", cmd);
			}
			v[i] = (double) (now_ns() - t0) / 1000.0;
			if (!shaped(ifindex))
				die("%s: not shaped after %s", veth, mode);
			teardown(ifindex, ifb);
		}
	} else if (!strcmp(mode, "qosd")) {
		struct hier H[4];
		size_t nh = hierarchies(H);
		pid_t task = netns_task(argv[4]);
		char buf[65536], req[8192], cg[4096];

		for (int i = 0; i < n; i++) {
			uint64_t t0;

			snprintf(cg, sizeof(cg), "%s/tc-%d", argv[3], i);
			cg_attach(H, nh, cg, task, true);
			snprintf(req, sizeof(req),
				 "{\"cmd\":\"register\",\"id\":\"tc-%d\",\"cgroup\":\"%s\","
				 "\"pid\":%d,\"tenant\":\"bench\",\"class\":\"net\"}",
				 i, cg, (int) task);
			t0 = now_ns();
			if (qosd_call(argv[2], req, buf, sizeof(buf)) < 0)
				die("register tc-%d: %s", i, buf);
			v[i] = (double) (now_ns() - t0) / 1000.0;
			if (!shaped(ifindex))
				die("%s: not shaped after the register", veth);
			snprintf(req, sizeof(req), "{\"cmd\":\"unregister\",\"id\":\"tc-%d\"}", i);
			(void) qosd_call(argv[2], req, buf, sizeof(buf));
			cg_attach(H, nh, argv[3], task, false);
			for (size_t h = 0; h < nh; h++) {
				char p[4096];

				snprintf(p, sizeof(p), "%s%s", H[h].dir, cg);
				if (rmdir(p) < 0)
					die("rmdir %s", p);
			}
			teardown(ifindex, NULL); /* in case qosd left the veth's qdiscs */
		}
		kill(task, SIGKILL);
		waitpid(task, NULL, 0);
	} else {
		die("unknown mode %s", mode);
	}
	snprintf(key, sizeof(key), "tc.%s", mode);
	report(key, v, n);
	return 0;
}
