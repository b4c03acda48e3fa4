/* SPDX-License-Identifier: MIT */
/* One container's limits made true through qosd. The cgroup is made the way a runtime makes it
 * (mkdir in runc's order, cpuset copied from the parent, one task attached), then:
 *   qapply socket SOCK PARENT N            a register request over qosd's socket, timed here
 *   qapply hook SOCK PARENT N HOOK ARGS... fork + exec of qos-hook ARGS --id --pid --tenant
 *                                          --class, until it exits
 * Every container's knobs are read back afterwards (not timed) and must hold the class values;
 * it is then unregistered and removed. Prints qosd.MODE (the call alone) and qosd.MODE.create
 * (mkdir + attach + call); $QB_PREFIX replaces "qosd". */
#include <signal.h>
#include <sys/wait.h>

#include "bench.h"

static struct hier H[4];
static size_t NH;
static int pfd[4];
static int blkio_pfd = -1; /* v1: the blkio group runc makes too (bench.h) */
static const char *sock_path;

static int verify(const char *name)
{
	size_t nk;
	const struct knob *k = knobs(&nk);
	char buf[256];
	int bad = 0;

	for (size_t i = 0; i < nk; i++) {
		int fd = openat(pfd[k[i].h], name, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (read_at(fd, k[i].file, buf, sizeof(buf)) < 0 || strcmp(buf, k[i].val)) {
			fprintf(stderr, "bench: %s %s = \"%s\", want \"%s\"\n", name, k[i].file,
				buf, k[i].val);
			bad = -1;
		}
		close(fd);
	}
	return bad;
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
	char buf[65536] = "", req[8192], key[64];
	pid_t child;
	int n;

	if (argc < 5)
		die("usage: qapply socket|hook SOCK PARENT N [HOOK ARGS...]");
	mode = argv[1];
	sock_path = argv[2];
	parent = argv[3];
	n = atoi(argv[4]);
	NH = hierarchies(H);
	open_parents_at(H, NH, parent, pfd, &blkio_pfd);
	call_us = calloc(n, sizeof(double));
	all_us = calloc(n, sizeof(double));
	child = sleeper();
	for (int i = 0; i < n; i++) {
		char name[64];
		uint64_t t0, t1, t2;
		int r;

		snprintf(name, sizeof(name), "qa-%d", i);
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
	}
	for (int i = 0; defer_rm() && i < n; i++) {
		char name[64];

		snprintf(name, sizeof(name), "qa-%d", i);
		runtime_remove(pfd, NH, blkio_pfd, name, i == n - 1 ? child : 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(key, sizeof(key), "%s.%s", prefix, mode);
	report(key, call_us, n);
	snprintf(key, sizeof(key), "%s.%s.create", prefix, mode);
	report(key, all_us, n);
	return 0;
}
