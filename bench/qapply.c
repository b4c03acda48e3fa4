/* SPDX-License-Identifier: MIT */
/* One container's limits made true through qosd. The cgroup is made the way a runtime makes it
 * (mkdir in runc's order, cpuset copied from the parent, one task attached), then:
 *   qapply socket SOCK PARENT N            a register request over qosd's socket, timed here
 *   qapply hook SOCK PARENT N HOOK ARGS... fork + exec of qos-hook ARGS --id --pid --tenant
 *                                          --class, until it exits
 * Every container's knobs are read back afterwards (not timed) and must hold the class values;
 * it is then unregistered and removed. Prints qosd.MODE (the call alone) and qosd.MODE.create
 * (mkdir + attach + call); $QB_PREFIX replaces "qosd".
 * QB_PAIR_FLOOR=PARENT: each round also takes its floor in a half-round of its own made like
 * qosd's: a group under PARENT made as the runtime makes it (the task attached), then timed the
 * raw writes and read-backs on that group (hook mode: first a fork + exec of QB_PAIR_NOOP=PROG,
 * the static no-op; hook mode pairs only with it), then the group removed (with QB_DEFER_RM,
 * after the last round, as qosd's). The two halves alternate which goes first (floor, qosd;
 * qosd, floor; ...), so each follows the other kind as often as its own. Printed as
 * PREFIX.pair.MODE.limits (and .exec_static), and per run as "PREFIX.pair.MODE MEDIAN P99 N" with
 * "PREFIX.pair.MODE.floor SUM - N" (the writes' median; hook: plus the no-op's), which the table
 * divides within one run; PREFIX.pair.MODE.create and PREFIX.pair.MODE.floor_create the same with
 * the group's making (mkdirs + attach) timed on both sides. QB_PAIR_DUMP=FILE appends every
 * round. */
#include <signal.h>
#include <sys/wait.h>

#include "bench.h"

static struct hier H[4];
static size_t NH;
static int pfd[4];
static int blkio_pfd = -1; /* v1: the blkio group runc makes too (bench.h) */
static const char *sock_path;

/* The container's knobs read back (check_limits says which does not hold); 0 if all hold. */
static int verify(const char *name)
{
	int fd[4], r;

	open_group(pfd, NH, name, fd);
	r = check_limits(fd, name);
	for (size_t h = 0; h < NH; h++)
		close(fd[h]);
	return r;
}

static int fpfd[4] = { -1, -1, -1, -1 };
static int fblkio_pfd = -1; /* the floor's groups get their blkio group too, as qosd's do */
static double *noop_us, *lim_us, *mk_lim_us;

/* The floor's half of round i: group pf-i made under the floor's parents as the runtime makes
 * the container's (task attached), the no-op's exec (noop: NULL, none) and the raw writes and
 * read-backs timed, the group removed (deferred: after the last round). lim_us: the writes;
 * mk_lim_us: the group's making and the writes (what PREFIX.pair.MODE.create is compared with). */
static void floor_half(int i, const char *noop, pid_t child)
{
	char name[64];
	int fd[4];
	uint64_t t0;

	snprintf(name, sizeof(name), "pf-%d", i);
	t0 = now_ns();
	runtime_create(fpfd, NH, fblkio_pfd, name, child);
	mk_lim_us[i] = (double) (now_ns() - t0) / 1000.0;
	noop_us[i] = noop ? exec_wait_us(noop) : 0;
	t0 = now_ns();
	open_group(fpfd, NH, name, fd);
	if (raw_limits(fd, name) < 0)
		die("limits on %s", name);
	lim_us[i] = (double) (now_ns() - t0) / 1000.0;
	mk_lim_us[i] += lim_us[i];
	for (size_t h = 0; h < NH; h++)
		close(fd[h]);
	if (!defer_rm())
		runtime_remove(fpfd, NH, fblkio_pfd, name, child);
}

static int exec_hook(char **base, int nbase, const char *id, pid_t pid)
{
	char *argv[64], ps[32];
	int a = 0, st;
	pid_t p;

	snprintf(ps, sizeof(ps), "%d", (int) pid);
	for (int i = 0; i < nbase && a < 50; i++)
		argv[a++] = base[i];
	argv[a++] = "--id";
	argv[a++] = (char *) id;
	argv[a++] = "--pid";
	argv[a++] = ps;
	argv[a++] = "--tenant";
	argv[a++] = "bench";
	argv[a++] = "--class";
	argv[a++] = "std";
	argv[a] = NULL;
	p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode, *parent, *prefix = getenv("QB_PREFIX") ? getenv("QB_PREFIX") : "qosd";
	double *call_us, *all_us;
	const char *noop = NULL, *fparent = getenv("QB_PAIR_FLOOR");
	char buf[65536] = "", req[8192], key[64];
	pid_t child;
	int n;

	if (argc < 5)
		die("usage: qapply socket|hook SOCK PARENT N [HOOK ARGS...]");
	mode = argv[1];
	if (!strcmp(mode, "hook"))
		noop = getenv("QB_PAIR_NOOP"); /* the socket call has no exec to pair it with */
	sock_path = argv[2];
	parent = argv[3];
	n = atoi(argv[4]);
	if (n < 1)
		die("N must be at least 1");
	NH = hierarchies(H);
	open_parents_at(H, NH, parent, pfd, &blkio_pfd);
	call_us = calloc(n, sizeof(double));
	all_us = calloc(n, sizeof(double));
	if (!call_us || !all_us)
		die("calloc");
	bool pair = fparent && (noop || !strcmp(mode, "socket"));
	if (pair) {
		open_parents_at(H, NH, fparent, fpfd, &fblkio_pfd);
		noop_us = calloc(n, sizeof(double));
		lim_us = calloc(n, sizeof(double));
		mk_lim_us = calloc(n, sizeof(double));
		if (!noop_us || !lim_us || !mk_lim_us)
			die("calloc");
	}
	long cpusets_before = defer_rm() ? cpuset_groups() : -1;
	child = sleeper();
	for (int i = 0; i < n; i++) {
		char name[64];
		uint64_t t0, t1, t2;
		int r;

		snprintf(name, sizeof(name), "qa-%d", i);
		/* the floor's half, then qosd's in even rounds; qosd's, then the floor's in odd ones */
		if (pair && i % 2 == 0)
			floor_half(i, noop, child);
		t0 = now_ns();
		runtime_create(pfd, NH, blkio_pfd, name, child);
		t1 = now_ns();
		if (!strcmp(mode, "socket")) {
			snprintf(req, sizeof(req),
				 "{\"cmd\":\"register\",\"id\":\"%s\",\"cgroup\":\"%s/%s\","
				 "\"pid\":%d,\"tenant\":\"bench\",\"class\":\"std\"}",
				 name, parent, name, (int) child);
			r = qosd_call(sock_path, req, buf, sizeof(buf));
		} else {
			r = exec_hook(argv + 5, argc - 5, name, child);
		}
		t2 = now_ns();
		if (r < 0)
			die("register %s failed: %s", name, buf);
		if (verify(name) < 0)
			die("%s: limits not in place after the call returned", name);
		call_us[i] = (double) (t2 - t1) / 1000.0;
		all_us[i] = (double) (t2 - t0) / 1000.0;
		snprintf(req, sizeof(req), "{\"cmd\":\"unregister\",\"id\":\"%s\"}", name);
		(void) qosd_call(sock_path, req, buf, sizeof(buf));
		if (!defer_rm())
			runtime_remove(pfd, NH, blkio_pfd, name, child);
		if (pair && i % 2 == 1)
			floor_half(i, noop, child);
	}
	for (int i = 0; defer_rm() && i < n; i++) {
		char name[64];

		/* the task is in the last round's groups: moved back to each parent first */
		snprintf(name, sizeof(name), "qa-%d", i);
		runtime_remove(pfd, NH, blkio_pfd, name, i == n - 1 ? child : 0);
		snprintf(name, sizeof(name), "pf-%d", i);
		if (pair)
			runtime_remove(fpfd, NH, fblkio_pfd, name, i == n - 1 ? child : 0);
	}
	if (defer_rm())
		settle_cpusets(cpusets_before);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	for (size_t h = 0; pair && h < NH; h++)
		close(fpfd[h]);
	if (fblkio_pfd >= 0)
		close(fblkio_pfd);
	/* QB_PAIR_DUMP=FILE: per round, PREFIX.MODE, the half first (0: the floor's), no-op (0:
	 * none), writes, qosd's call or hook, the floor's group making, qosd's group making (us),
	 * appended; before report() sorts them */
	FILE *dump = pair && getenv("QB_PAIR_DUMP") ? fopen(getenv("QB_PAIR_DUMP"), "a") : NULL;
	for (int i = 0; dump && i < n; i++)
		fprintf(dump, "%s.%s %d %.1f %.1f %.1f %.1f %.1f\n", prefix, mode, i % 2,
			noop_us[i], lim_us[i], call_us[i], mk_lim_us[i] - lim_us[i],
			all_us[i] - call_us[i]);
	if (dump)
		fclose(dump);
	snprintf(key, sizeof(key), "%s.%s", prefix, mode);
	report(key, call_us, n);
	if (pair) { /* the same run's call and its floor, side by side for the table */
		snprintf(key, sizeof(key), "%s.pair.%s", prefix, mode);
		report(key, call_us, n);
		printf("RESULT %s.pair.%s.floor %.1f - %d\n", prefix, mode,
		       (noop ? median_sorting(noop_us, n) : 0) + median_sorting(lim_us, n), n);
	}
	snprintf(key, sizeof(key), "%s.%s.create", prefix, mode);
	report(key, all_us, n);
	if (pair) { /* the same with the groups' making: the runtime's steps plus the call or writes */
		double noop_med = noop ? median_sorting(noop_us, n) : 0;

		snprintf(key, sizeof(key), "%s.pair.%s.create", prefix, mode);
		report(key, all_us, n);
		printf("RESULT %s.pair.%s.floor_create %.1f - %d\n", prefix, mode,
		       noop_med + median_sorting(mk_lim_us, n), n);
	}
	if (pair && noop) {
		snprintf(key, sizeof(key), "%s.pair.%s.exec_static", prefix, mode);
		report(key, noop_us, n);
	}
	if (pair) {
		snprintf(key, sizeof(key), "%s.pair.%s.limits", prefix, mode);
		report(key, lim_us, n);
	}
	return 0;
}
