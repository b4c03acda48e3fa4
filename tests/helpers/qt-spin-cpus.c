/* SPDX-License-Identifier: MIT */
/* qt-spin-cpus SECONDS: spin, sampling sched_getcpu(), then print the CPUs it ran on, "cpus=0,1". */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAXCPU 4096

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	static unsigned char seen[MAXCPU];
	long long end;
	volatile unsigned long spin = 0;
	const char *sep = "";

	if (argc != 2) {
		fprintf(stderr, "usage: qt-spin-cpus SECONDS\n");
		return 2;
	}
	end = now_us() + (long long) (atof(argv[1]) * 1e6);
	while (now_us() < end) {
		int c = sched_getcpu();

		if (c >= 0 && c < MAXCPU)
			seen[c] = 1;
		for (int i = 0; i < 1000; i++)
			spin++;
	}
	printf("cpus=");
	for (int c = 0; c < MAXCPU; c++)
		if (seen[c]) {
			printf("%s%d", sep, c);
			sep = ",";
		}
	printf("\n");
	return 0;
}
