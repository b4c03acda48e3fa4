/* SPDX-License-Identifier: MIT */
/* Many containers under one [match] root (PARENT/s-0 .. s-N-1).
 *   scale mk PARENT N          make them in every hierarchy
 *   scale rm PARENT N          remove them
 *   scale start PARENT N VALUE LOG QOSD ARGS...
 *                              exec qosd (output to LOG) and time until every container's pids.max
 *                              reads VALUE (adoption at start); prints "QOSD_PID pid"
 *   scale reload SOCK PARENT N VALUE
 *                              a reload request, and the time until every pids.max reads VALUE
 *   scale floor PARENT N [FILE VALUE]
 *                              the floor of a pass over all: every knob of class "scale" (or
 *                              FILE alone) written and read back, raw syscalls, one container
 *                              after another
 * pids.max is the last knob qosd writes in a pass; the other knobs are checked on a sample. */
#include <sched.h>

#include "bench.h"

static struct hier H[4];
static size_t NH;
static int pfd[4];
static int pids_h; /* the hierarchy that holds pids.max */

static void open_parents(const char *parent)
{
	NH = hierarchies(H);
	for (size_t h = 0; h < NH; h++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s%s", H[h].dir, parent);
		if ((pfd[h] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			die("open %s", p);
		if (!strcmp(H[h].name, "pids"))
			pids_h = (int) h;
	}
}

/* No cpuset.cpus/mems: the groups hold no task, and each cpuset write makes the kernel rebuild
 * its scheduling domains over every cpuset (10,000 of them: 40 s instead of 2 s). */
static void mk(int n)
{
	for (int i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "s-%d", i);
		for (size_t h = 0; h < NH; h++)
			if (mkdirat(pfd[h], name, 0755) < 0 && errno != EEXIST)
				die("mkdir %s", name);
	}
}

static void rm(int n)
{
	for (int i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "s-%d", i);
		for (size_t h = 0; h < NH; h++)
			(void) unlinkat(pfd[h], name, AT_REMOVEDIR);
	}
}

/* Poll until every container's pids.max reads value; ms since t0. */
static double wait_all(int n, const char *value, uint64_t t0)
{
	int *pending = malloc(n * sizeof(int)), np = n;
	uint64_t deadline = t0 + 120 * 1000000000ULL, last = 0;

	for (int i = 0; i < n; i++)
		pending[i] = i;
	while (np > 0) {
		int keep = 0;

		for (int j = 0; j < np; j++) {
			char f[64], buf[64];

			snprintf(f, sizeof(f), "s-%d/pids.max", pending[j]);
			if (read_at(pfd[pids_h], f, buf, sizeof(buf)) == 0 && !strcmp(buf, value))
				continue;
			pending[keep++] = pending[j];
		}
		last = now_ns();
		np = keep;
		if (np && last > deadline)
			die("%d containers still without pids.max=%s after 120 s", np, value);
		if (np)
			usleep(np > 100 ? 5000 : 200);
	}
	free(pending);
	return (double) (last - t0) / 1e6;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	double ms;

	if (!strcmp(mode, "mk") || !strcmp(mode, "rm")) {
		uint64_t t0 = now_ns();

		if (argc != 4)
			die("usage: scale mk|rm PARENT N");
		open_parents(argv[2]);
		(!strcmp(mode, "mk") ? mk : rm)(atoi(argv[3]));
		fprintf(stderr, "scale: %s %s in %.0f ms\n", mode, argv[3],
			(double) (now_ns() - t0) / 1e6);
		return 0;
	}
	if (!strcmp(mode, "floor") && (argc == 4 || argc == 6)) {
		size_t nk;
		const struct knob *k = knobs(&nk);
		struct knob one[1];
		struct knob sub[8];
		uint64_t t0;
		int n = atoi(argv[3]);

		/* class "scale": no cpu quota, no cpuset (see README: the kernel's cost of those
		 * grows with the number of cgroups) */
		size_t ns = 0;

		for (size_t j = 0; j < nk; j++)
			if (strncmp(k[j].file, "cpuset.", 7) && strncmp(k[j].file, "cpu.cfs_", 8) &&
			    strcmp(k[j].file, "cpu.max"))
				sub[ns++] = k[j];
		k = sub;
		nk = ns;
		if (argc == 6) {
			one[0] = (struct knob){ 0, argv[4], argv[5], false };
			for (size_t j = 0; j < ns; j++)
				if (!strcmp(sub[j].file, argv[4]))
					one[0].h = sub[j].h;
			k = one;
			nk = 1;
		}

		open_parents(argv[2]);
		t0 = now_ns();
		for (int i = 0; i < n; i++) {
			char name[32], buf[256];
			int fd[4];

			snprintf(name, sizeof(name), "s-%d", i);
			for (size_t h = 0; h < NH; h++)
				fd[h] = openat(pfd[h], name, O_PATH | O_DIRECTORY | O_CLOEXEC);
			for (size_t j = 0; j < nk; j++)
				if (write_at(fd[k[j].h], k[j].file, k[j].val) < 0)
					die("write %s/%s", name, k[j].file);
			for (size_t j = 0; j < nk; j++)
				(void) read_at(fd[k[j].h], k[j].file, buf, sizeof(buf));
			for (size_t h = 0; h < NH; h++)
				close(fd[h]);
		}
		ms = (double) (now_ns() - t0) / 1e6;
		printf("RESULT scale.floor%s %.0f %.0f 1\n", argc == 6 ? "_one" : "", ms, ms);
		return 0;
	}
	if (!strcmp(mode, "start") && argc >= 7) {
		uint64_t t0;
		pid_t p;

		open_parents(argv[2]);
		t0 = now_ns();
		p = fork();
		if (p == 0) {
			int fd = open(argv[5], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

			dup2(fd, 1);
			dup2(fd, 2);
			setsid();
			execv(argv[6], argv + 6);
			_exit(127);
		}
		printf("QOSD_PID %d\n", (int) p);
		fflush(stdout);
		ms = wait_all(atoi(argv[3]), argv[4], t0);
		printf("RESULT scale.adopt %.0f %.0f 1\n", ms, ms);
		return 0;
	}
	if (!strcmp(mode, "reload") && argc == 6) {
		char buf[4096];
		uint64_t t0;

		open_parents(argv[3]);
		t0 = now_ns();
		if (qosd_call(argv[2], "{\"cmd\":\"reload\"}", buf, sizeof(buf)) < 0)
			die("reload refused");
		ms = wait_all(atoi(argv[4]), argv[5], t0);
		printf("RESULT scale.reload %.0f %.0f 1\n", ms, ms);
		return 0;
	}
	die("usage: scale mk|rm PARENT N | start PARENT N VALUE LOG QOSD ARGS... | reload SOCK "
	    "PARENT N VALUE");
}
