/* SPDX-License-Identifier: MIT */
/* detect PARENT N: a cgroup made under a [match] root until qosd has its limits in place.
 * PARENT must be matched by "PARENT/d-*" = the bench class. Each round mkdirs PARENT/d-I in every
 * hierarchy (runc's order: cpuset, memory, cpu, pids), then reads the knobs until every one holds
 * the class value; the figure is mkdir start -> the last knob seen. The group is removed after,
 * and the next round waits until qosd has forgotten it (nothing else to do meanwhile). */
#include <sched.h>

#include "bench.h"

int main(int argc, char **argv)
{
	static const int order[4] = { 1, 2, 0, 3 };
	struct hier H[4];
	int pfd[4], n, late = 0;
	size_t nh, nk;
	const struct knob *k;
	double *v;

	if (argc != 3)
		die("usage: detect PARENT N");
	n = atoi(argv[2]);
	nh = hierarchies(H);
	k = knobs(&nk);
	v = calloc(n, sizeof(double));
	for (size_t h = 0; h < nh; h++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s%s", H[h].dir, argv[1]);
		if ((pfd[h] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			die("open %s", p);
	}
	for (int i = 0; i < n; i++) {
		char name[64], buf[256];
		int fd[4];
		size_t ok = 0;
		uint64_t t0, t1, deadline;

		snprintf(name, sizeof(name), "d-%d", i);
		t0 = now_ns();
		for (size_t j = 0; j < nh; j++) {
			size_t h = nh == 4 ? (size_t) order[j] : j;

			if (mkdirat(pfd[h], name, 0755) < 0)
				die("mkdir %s", name);
			fd[h] = openat(pfd[h], name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		/* qosd writes in table order: the last knob first, then confirm every one */
		deadline = t0 + 5000000000ULL;
		t1 = 0;
		while (ok < nk) {
			const struct knob *x = &k[nk - 1 - ok];

			if (read_at(fd[x->h], x->file, buf, sizeof(buf)) == 0 &&
			    !strcmp(buf, x->val)) {
				ok++;
				if (!t1)
					t1 = now_ns();
				continue;
			}
			t1 = 0;
			ok = 0;
			if (now_ns() > deadline)
				die("%s: %s never became %s (is qosd running with the bench "
				    "policy?)",
				    name, x->file, x->val);
			sched_yield();
		}
		v[i] = (double) (t1 - t0) / 1000.0;
		if (v[i] > 2000)
			late++;
		for (size_t h = 0; h < nh; h++) {
			close(fd[h]);
			if (unlinkat(pfd[h], name, AT_REMOVEDIR) < 0)
				die("rmdir %s", name);
		}
		usleep(500);
	}
	report("qosd.detect", v, n);
	fprintf(stderr, "detect: %d of %d over 2 ms\n", late, n);
	return 0;
}
