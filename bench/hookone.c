/* SPDX-License-Identifier: MIT */
/* The floor of a hook's own work (issue 16), for bench/hook-callgrind.sh:
 *   hookone call SOCK REQUEST        one request over qosd's socket and nothing else: connect,
 *                                    one send, read to EOF; exit 0 when the reply says "ok":true.
 *                                    Linked like qos-hook (static PIE), it is what any hook pays
 *                                    to register through qosd, without arguments or JSON to parse
 *   hookone time N PROG ARGS...      fork + exec of PROG ARGS until it exits, N times; prints
 *                                    "RESULT PROG median p99 N" (microseconds); a failed run fails */
#include <sys/wait.h>

#include "bench.h"

static int call(const char *sock, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536], msg[8192];
	size_t got = 0;
	ssize_t n;
	int fd, len = snprintf(msg, sizeof(msg), "%s\n", req);

	if (strlen(sock) >= sizeof(sa.sun_path) || len >= (int) sizeof(msg))
		return 2;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
	    send(fd, msg, len, MSG_NOSIGNAL) != len)
		return 1;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = 0;
	close(fd);
	return strstr(buf, "\"ok\":true") ? 0 : 1;
}

static int time_runs(int n, char **argv)
{
	double *us = calloc(n > 0 ? n : 1, sizeof(double));

	if (!us || n <= 0)
		die("time: N must be positive");
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int st;
		pid_t p = fork();

		if (p < 0)
			die("fork");
		if (p == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("%s: run %d failed (status 0x%x)", argv[0], i, st);
		us[i] = (double) (now_ns() - t0) / 1000.0;
	}
	report(argv[0], us, n);
	free(us);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "call"))
		return call(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "time"))
		return time_runs(atoi(argv[2]), argv + 3);
	fprintf(stderr, "usage: hookone call SOCK REQUEST | hookone time N PROG ARGS...\n");
	return 2;
}
