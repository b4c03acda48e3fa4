/* SPDX-License-Identifier: MIT */
/* qt-cgsample DIR INTERVAL_US FILE=WANT...: read each FILE of the cgroup directory DIR every
 * INTERVAL_US microseconds until SIGTERM/SIGINT, and count the samples that differ from WANT.
 * Prints one line per file: "FILE samples N bad M [first bad VALUE at +MS ms] [values: V xN ...]"
 * and exits 0 (the caller judges). Reading a file that vanished counts as bad ("<gone>"). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXF 16
#define MAXV 8

struct watched {
	const char *name, *want;
	int fd;
	long samples, bad, first_ms;
	char first[64];
	char vals[MAXV][64];
	long nvals[MAXV];
};

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
	(void) s;
	stop = 1;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void count_value(struct watched *w, const char *v)
{
	for (int i = 0; i < MAXV; i++) {
		if (!w->vals[i][0]) {
			snprintf(w->vals[i], sizeof(w->vals[i]), "%s", v);
			w->nvals[i] = 1;
			return;
		}
		if (!strcmp(w->vals[i], v)) {
			w->nvals[i]++;
			return;
		}
	}
}

static void sample(struct watched *w, const struct timespec *t0)
{
	char buf[64];
	ssize_t n = pread(w->fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		snprintf(buf, sizeof(buf), "<gone>");
	else {
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
	}
	w->samples++;
	if (!strcmp(buf, w->want))
		return;
	if (w->bad++ == 0) {
		snprintf(w->first, sizeof(w->first), "%s", buf);
		w->first_ms = ms_since(t0);
	}
	count_value(w, buf);
}

int main(int argc, char **argv)
{
	struct watched w[MAXF];
	struct timespec t0, next;
	long interval;
	int dfd, n = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: qt-cgsample DIR INTERVAL_US FILE=WANT...\n");
		return 2;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	interval = atol(argv[2]);
	if (dfd < 0 || interval <= 0) {
		fprintf(stderr, "qt-cgsample: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	for (int i = 3; i < argc && n < MAXF; i++, n++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return 2;
		*eq = 0;
		memset(&w[n], 0, sizeof(w[n]));
		w[n].name = argv[i];
		w[n].want = eq + 1;
		w[n].fd = openat(dfd, argv[i], O_RDONLY | O_CLOEXEC);
		if (w[n].fd < 0) {
			fprintf(stderr, "qt-cgsample: %s/%s: %s\n", argv[1], argv[i],
				strerror(errno));
			return 2;
		}
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	next = t0;
	while (!stop) {
		for (int i = 0; i < n; i++)
			sample(&w[i], &t0);
		next.tv_nsec += interval * 1000;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	for (int i = 0; i < n; i++) {
		printf("%s samples %ld bad %ld", w[i].name, w[i].samples, w[i].bad);
		if (w[i].bad) {
			printf(" first bad \"%s\" at +%ld ms; values:", w[i].first, w[i].first_ms);
			for (int j = 0; j < MAXV && w[i].vals[j][0]; j++)
				printf(" \"%s\" x%ld", w[i].vals[j], w[i].nvals[j]);
		}
		printf(" (over %ld ms)\n", ms_since(&t0));
	}
	return 0;
}
