/* SPDX-License-Identifier: MIT */
/* qt-alloc MB [--hold SECONDS]: allocate MB MiB in 1 MiB chunks, touching every page, print
 * "allocated=<MB>", sleep SECONDS (default 0), exit 0. Killed by the OOM killer: SIGKILL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mb, i;
	double hold = 0;

	if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--hold") == 0)) {
		fprintf(stderr, "usage: qt-alloc MB [--hold SECONDS]\n");
		return 2;
	}
	mb = atol(argv[1]);
	if (argc == 4)
		hold = atof(argv[3]);
	for (i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);

		if (!p) {
			printf("allocated=%ld failed\n", i);
			return 1;
		}
		memset(p, 0x5a, 1 << 20);
		/* keep the compiler from dropping the chunk: it is never freed */
		__asm__ volatile("" : : "r"(p) : "memory");
	}
	printf("allocated=%ld\n", mb);
	fflush(stdout);
	if (hold > 0)
		usleep((useconds_t) (hold * 1e6));
	return 0;
}
