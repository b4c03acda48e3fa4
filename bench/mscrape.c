/* SPDX-License-Identifier: MIT */
/* The metrics figures of make bench (bench/metrics-bench.sh).
 *   mscrape mk PARENT N          make PARENT/s-0 .. s-N-1 in every hierarchy qosd reads
 *   mscrape rm PARENT N          remove them
 *   mscrape http PORT ROUNDS     GET /metrics from 127.0.0.1:PORT, whole body read, per round
 *   mscrape floor PARENT N ROUNDS
 *                                the floor of one collection: every file qosd's collector reads
 *                                for the N cgroups (v1: cpu.stat, cpuacct.usage, memory.*,
 *                                blkio.throttle.*, the unified hierarchy's pressure files; v2:
 *                                cpu.stat, cpu.max, memory.*, io.stat, pressure), open + read +
 *                                close with raw syscalls, no parsing, no text built
 *   mscrape kept PARENT N ROUNDS the floor of qosd's way: the same files opened once (not timed),
 *                                then each round one pread from offset 0 of each, nothing parsed */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "bench.h"

static const char *const v1_dirs[] = { "cpu", "cpuacct", "memory", "blkio", "unified" };
static const char *const v1_files[][8] = {
	{ "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", NULL },
	{ "cpuacct.usage", NULL },
	{ "memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.limit_in_bytes",
	  "memory.failcnt", "memory.oom_control", NULL },
	{ "blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced", NULL },
	{ "cpu.pressure", "memory.pressure", "io.pressure", NULL },
};
static const char *const v2_files[] = { "cpu.stat",
					"cpu.max",
					"memory.current",
					"memory.peak",
					"memory.max",
					"memory.events",
					"cpu.pressure",
					"memory.pressure",
					"io.pressure",
					"io.stat",
					NULL };

/* every hierarchy qosd needs a container in (v1), the statistics ones among them */
static const char *const v1_mk[] = { "cpu",   "cpuacct", "cpuset", "memory",
				     "blkio", "pids",	 "unified" };

static void mk_rm(const char *parent, int n, bool make)
{
	bool v2 = cg_is_v2();
	size_t nd = v2 ? 1 : sizeof(v1_mk) / sizeof(v1_mk[0]);

	for (size_t d = 0; d < nd; d++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s%s", CGROOT, v2 ? "" : v1_mk[d], parent);
		if (make && mkdir(p, 0755) < 0 && errno != EEXIST)
			die("mkdir %s", p);
		for (int i = 0; i < n; i++) {
			char c[4200];

			snprintf(c, sizeof(c), "%s/s-%d", p, i);
			if (make && mkdir(c, 0755) < 0 && errno != EEXIST)
				die("mkdir %s", c);
			if (!make)
				(void) rmdir(c);
		}
		if (!make)
			(void) rmdir(p);
	}
}

/* kept: NULL, open + read + close each file; else append each file's fd to kept (not read) */
struct fds {
	int *fd;
	size_t n, cap;
};

static void read_all(int dirfd, const char *const *files, struct fds *kept)
{
	char buf[4096];

	for (size_t i = 0; files[i]; i++) {
		int fd = openat(dirfd, files[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (kept) {
			if (kept->n == kept->cap) {
				kept->cap = kept->cap ? kept->cap * 2 : 1024;
				kept->fd = realloc(kept->fd, kept->cap * sizeof(int));
				if (!kept->fd)
					die("realloc");
			}
			kept->fd[kept->n++] = fd;
			continue;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
}

static void floor_round(const char *parent, int n, bool v2, struct fds *kept)
{
	size_t nd = v2 ? 1 : sizeof(v1_dirs) / sizeof(v1_dirs[0]);

	for (int i = 0; i < n; i++)
		for (size_t d = 0; d < nd; d++) {
			char p[4096];
			int fd;

			snprintf(p, sizeof(p), "%s/%s%s/s-%d", CGROOT, v2 ? "" : v1_dirs[d], parent,
				 i);
			fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				continue;
			read_all(fd, v2 ? v2_files : v1_files[d], kept);
			close(fd);
		}
}

static void pread_round(const struct fds *kept)
{
	char buf[4096];

	for (size_t i = 0; i < kept->n; i++)
		(void) pread(kept->fd[i], buf, sizeof(buf), 0);
}

static void do_floor(const char *parent, int n, int rounds, bool keep)
{
	double *v = calloc((size_t) rounds, sizeof(double));
	bool v2 = cg_is_v2();
	struct fds kept = { 0 };
	struct rusage a, b;
	struct rlimit rl;

	if (keep) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
		}
		floor_round(parent, n, v2, &kept);
		pread_round(&kept); /* the first read allocates each file's buffer */
		printf("FILES %zu\n", kept.n);
	}
	getrusage(RUSAGE_SELF, &a);
	for (int r = 0; r < rounds; r++) {
		uint64_t t = now_ns();

		if (keep)
			pread_round(&kept);
		else
			floor_round(parent, n, v2, NULL);
		v[r] = (double) (now_ns() - t) / 1000.0;
	}
	getrusage(RUSAGE_SELF, &b);
	/* CPU time per round (user + system): on a busy machine the wall time is mostly waiting */
	printf("CPU_MS %.1f\n", ((double) (b.ru_utime.tv_sec - a.ru_utime.tv_sec +
					   b.ru_stime.tv_sec - a.ru_stime.tv_sec) *
					 1e3 +
				 (double) (b.ru_utime.tv_usec - a.ru_utime.tv_usec +
					   b.ru_stime.tv_usec - a.ru_stime.tv_usec) /
					 1e3) /
					rounds);
	report(keep ? "metrics.kept" : "metrics.floor", v, (size_t) rounds);
	for (size_t i = 0; i < kept.n; i++)
		close(kept.fd[i]);
	free(kept.fd);
	free(v);
}

/* One GET, the whole body read; returns its size. */
static size_t get_once(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	static char buf[1 << 16];
	size_t total = 0;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		die("connect 127.0.0.1:%d", port);
	if (write(fd, req, sizeof(req) - 1) != (ssize_t) sizeof(req) - 1)
		die("write");
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t) k;
	close(fd);
	return total;
}

static void do_http(int port, int rounds)
{
	double *v = calloc((size_t) rounds, sizeof(double));
	size_t bytes = 0;

	for (int r = 0; r < rounds; r++) {
		uint64_t t = now_ns();

		bytes = get_once(port);
		v[r] = (double) (now_ns() - t) / 1000.0;
	}
	printf("BYTES %zu\n", bytes);
	report("metrics.scrape", v, (size_t) rounds);
	free(v);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "mk"))
		mk_rm(argv[2], atoi(argv[3]), true);
	else if (argc == 4 && !strcmp(argv[1], "rm"))
		mk_rm(argv[2], atoi(argv[3]), false);
	else if (argc == 4 && !strcmp(argv[1], "http"))
		do_http(atoi(argv[2]), atoi(argv[3]));
	else if (argc == 5 && !strcmp(argv[1], "floor"))
		do_floor(argv[2], atoi(argv[3]), atoi(argv[4]), false);
	else if (argc == 5 && !strcmp(argv[1], "kept"))
		do_floor(argv[2], atoi(argv[3]), atoi(argv[4]), true);
	else {
		fprintf(stderr,
			"usage: mscrape mk|rm PARENT N | http PORT ROUNDS | floor|kept PARENT "
			"N ROUNDS\n");
		return 2;
	}
	return 0;
}
