/* SPDX-License-Identifier: MIT */
/* qt-fork N: fork up to N children that pause; print "forked=<k> failed_errno=<e>" (k: how
 * many succeeded before the first failure, e: its errno or 0), then kill and reap them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n, k = 0;
	int err = 0;
	pid_t *pids;

	if (argc != 2) {
		fprintf(stderr, "usage: qt-fork N\n");
		return 2;
	}
	n = atol(argv[1]);
	pids = calloc(n > 0 ? n : 1, sizeof(pid_t));
	if (!pids)
		return 1;
	for (; k < n; k++) {
		pid_t p = fork();

		if (p < 0) {
			err = errno;
			break;
		}
		if (p == 0) {
			pause();
			_exit(0);
		}
		pids[k] = p;
	}
	printf("forked=%ld failed_errno=%d\n", k, err);
	fflush(stdout);
	for (long i = 0; i < k; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < k; i++)
		waitpid(pids[i], NULL, 0);
	free(pids);
	return 0;
}
