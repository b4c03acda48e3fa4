/* SPDX-License-Identifier: MIT */
/* qt-churn threads SECONDS: for SECONDS, start threads that make themselves SCHED_OTHER and exit
 * at once, one after another (a container owner with CAP_SYS_NICE spending thread ids as fast as
 * it can, each thread a candidate for qosd's sweep while it lives); print "threads=<n>".
 * qt-churn procs SECONDS: for SECONDS, fork short-lived children that each check their own
 * scheduling policy just before they exit (processes outside the container, which may get the
 * ids the churning threads gave up); print "procs=<n> idle=<k>" (k: children that found
 * themselves SCHED_IDLE). Standalone test helper. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *short_life(void *arg)
{
	struct sched_param sp = { 0 };

	sched_setscheduler(0, SCHED_OTHER, &sp);
	for (int i = 0; i < 5; i++)
		sched_yield();
	return arg;
}

int main(int argc, char **argv)
{
	double end;
	long n = 0, idle = 0;

	if (argc != 3 || (strcmp(argv[1], "threads") && strcmp(argv[1], "procs"))) {
		fprintf(stderr, "usage: qt-churn threads|procs SECONDS\n");
		return 2;
	}
	end = now() + atof(argv[2]);
	while (now() < end) {
		if (!strcmp(argv[1], "threads")) {
			pthread_t t;

			if (pthread_create(&t, NULL, short_life, NULL) == 0) {
				pthread_join(t, NULL);
				n++;
			}
			continue;
		}
		pid_t p = fork();
		int st;

		if (p == 0) {
			for (int i = 0; i < 20; i++)
				sched_yield();
			_exit((sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_IDLE ? 1 : 0);
		}
		if (p > 0 && waitpid(p, &st, 0) == p) {
			n++;
			idle += WIFEXITED(st) && WEXITSTATUS(st) == 1;
		}
	}
	if (!strcmp(argv[1], "threads"))
		printf("threads=%ld\n", n);
	else
		printf("procs=%ld idle=%ld\n", n, idle);
	return 0;
}
