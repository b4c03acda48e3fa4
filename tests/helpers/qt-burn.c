/* SPDX-License-Identifier: MIT */
/* qt-burn SECONDS [--pin CPU]: spin for SECONDS of wall time, then print
 * "cpu_us=<user+sys us> wall_us=<us> cpu=<last cpu>". Standalone test helper. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

int main(int argc, char **argv)
{
	double secs;
	long long start, end;
	volatile unsigned long spin = 0;
	struct rusage ru;

	if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--pin") == 0)) {
		fprintf(stderr, "usage: qt-burn SECONDS [--pin CPU]\n");
		return 2;
	}
	secs = atof(argv[1]);
	if (argc == 4) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[3]), &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("sched_setaffinity");
			return 1;
		}
	}
	start = now_us();
	end = start + (long long) (secs * 1e6);
	while (now_us() < end)
		for (int i = 0; i < 10000; i++)
			spin++;
	getrusage(RUSAGE_SELF, &ru);
	printf("cpu_us=%lld wall_us=%lld cpu=%d\n", tv_us(ru.ru_utime) + tv_us(ru.ru_stime),
	       now_us() - start, sched_getcpu());
	return 0;
}
