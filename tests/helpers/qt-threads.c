/* SPDX-License-Identifier: MIT */
/* qt-threads N: run N threads (the main one and N-1 more), each blocked in pause(), until
 * killed. For tests that look at each thread of a process (/proc/PID/task). Standalone test
 * helper. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *run(void *arg)
{
	(void) arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	int n;

	if (argc != 2 || (n = atoi(argv[1])) < 1 || n > 64) {
		fprintf(stderr, "usage: qt-threads N   (1 <= N <= 64)\n");
		return 2;
	}
	for (int i = 1; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, run, NULL)) {
			fprintf(stderr, "qt-threads: pthread_create failed\n");
			return 1;
		}
	}
	run(NULL);
	return 0;
}
