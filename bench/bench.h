/* SPDX-License-Identifier: MIT */
/* Shared by the bench programs: clock, sample statistics, the result line run.sh parses, and raw
 * cgroup v1/v2 file helpers on directory fds. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CGROOT "/sys/fs/cgroup"

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static inline void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s%s\n", errno ? ": " : "", errno ? strerror(errno) : "");
	va_end(ap);
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0; sorts v. */
static inline double median_sorting(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "RESULT key median p99 n", samples in microseconds; sorts v. */
static inline void report(const char *key, double *v, size_t n)
{
	size_t i99;
	double med;

	if (n == 0) {
		printf("RESULT %s - - 0\n", key);
		return;
	}
	med = median_sorting(v, n);
	i99 = (size_t) ((double) (n - 1) * 0.99 + 0.5);
	printf("RESULT %s %.1f %.1f %zu\n", key, med, v[i99], n);
	fflush(stdout);
}

static inline bool cg_is_v2(void)
{
	struct statfs sf;

	return statfs(CGROOT, &sf) == 0 && sf.f_type == 0x63677270; /* CGROUP2_SUPER_MAGIC */
}

/* The hierarchies qosd writes (v1: one per controller; v2: the one root). */
struct hier {
	const char *name;
	const char *dir; /* CGROOT/name, or CGROOT on v2 */
};

static inline size_t hierarchies(struct hier *h)
{
	static const char *const v1[] = { "cpu", "cpuset", "memory", "pids" };

	if (cg_is_v2()) {
		h[0] = (struct hier){ "unified", CGROOT };
		return 1;
	}
	for (size_t i = 0; i < 4; i++) {
		char *d;

		if (asprintf(&d, CGROOT "/%s", v1[i]) < 0)
			die("oom");
		h[i] = (struct hier){ v1[i], d };
	}
	return 4;
}

static inline int write_at(int dfd, const char *file, const char *val)
{
	int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int) n;
}

static inline int read_at(int dfd, const char *file, char *buf, size_t len)
{
	int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

/* One request to qosd's socket, the whole reply into buf; 0 if the reply says "ok":true. */
static inline int qosd_call(const char *sock_path, const char *req, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		die("connect %s", sock_path);
	if (write(fd, req, strlen(req)) != (ssize_t) strlen(req) || write(fd, "\n", 1) != 1)
		die("send");
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t) n;
	buf[got] = 0;
	close(fd);
	return strstr(buf, "\"ok\":true") ? 0 : -1;
}

/* One knob write of a container: hierarchy index, file, value (v1 names; see knobs_v2). fresh:
 * a new group holds this value already (the kernel's default), so the floor does not write it,
 * as qosd does not (qosd reads each knob first; the floor knows); it is still read back. */
struct knob {
	int h;
	const char *file, *val;
	bool fresh;
};

/* What class "std" of bench/run.sh's policy asks for: cpu.shares 512, cpu.quota 50%, cpuset 0,
 * memory 256M, no swap, pids 256. */
static const struct knob knobs_v1[] = {
	{ 0, "cpu.shares", "512", false },
	/* the default period: writing it, even unchanged, walks every task group (tg_set_bandwidth),
	 * about 200 us beside 10,000 groups */
	{ 0, "cpu.cfs_period_us", "100000", true },
	{ 0, "cpu.cfs_quota_us", "50000", false },
	{ 1, "cpuset.cpus", "0", false },
	{ 1, "cpuset.mems", "0", false },
	{ 2, "memory.limit_in_bytes", "268435456", false },
	{ 2, "memory.memsw.limit_in_bytes", "268435456", false },
	{ 3, "pids.max", "256", false },
};

static const struct knob knobs_v2[] = {
	{ 0, "cpu.weight", "50", false },	 { 0, "cpu.max", "50000 100000", false },
	{ 0, "cpuset.cpus", "0", false },	 { 0, "cpuset.mems", "0", false },
	{ 0, "memory.max", "268435456", false }, { 0, "memory.swap.max", "0", false },
	{ 0, "pids.max", "256", false },
};

static inline const struct knob *knobs(size_t *n)
{
	if (cg_is_v2()) {
		*n = sizeof(knobs_v2) / sizeof(knobs_v2[0]);
		return knobs_v2;
	}
	*n = sizeof(knobs_v1) / sizeof(knobs_v1[0]);
	return knobs_v1;
}

/* Every knob of knobs() read back on dirfds fd[] (one per hierarchy) of group `name` and
 * compared; 0 if all hold. Else -1, each knob that does not said on stderr (the group, the file,
 * what it read or why it could not, what it should be), and errno cleared: the caller's die()
 * names the group, and the reason is the lines above, not a stale errno. */
static inline int check_limits(const int *fd, const char *name)
{
	size_t nk;
	const struct knob *k = knobs(&nk);
	char buf[256];
	int bad = 0, r;

	for (size_t i = 0; i < nk; i++) {
		if ((r = read_at(fd[k[i].h], k[i].file, buf, sizeof(buf))) < 0)
			fprintf(stderr, "bench: %s %s: cannot read: %s\n", name, k[i].file,
				strerror(-r));
		else if (strcmp(buf, k[i].val))
			fprintf(stderr, "bench: %s %s = \"%s\", want \"%s\"\n", name, k[i].file,
				buf, k[i].val);
		else
			continue;
		bad = -1;
	}
	if (bad)
		errno = 0;
	return bad;
}

/* The floor's raw writes: every knob of knobs() that a fresh group does not hold already written
 * on dirfds fd[] of group `name`, then check_limits(); 0 if every value reads back. A write the
 * kernel refuses is said on stderr, as check_limits says a wrong value. */
static inline int raw_limits(const int *fd, const char *name)
{
	size_t nk;
	const struct knob *k = knobs(&nk);
	int bad = 0, r;

	for (size_t i = 0; i < nk; i++)
		if (!k[i].fresh && (r = write_at(fd[k[i].h], k[i].file, k[i].val)) < 0) {
			fprintf(stderr, "bench: %s %s: cannot write \"%s\": %s\n", name, k[i].file,
				k[i].val, strerror(-r));
			bad = -1;
		}
	if (check_limits(fd, name) < 0)
		bad = -1;
	if (bad)
		errno = 0;
	return bad;
}

/* Group `name`'s directory under each of the nh parents pfd[] opened O_PATH into fd[]; dies
 * naming it if one is missing. */
static inline void open_group(const int *pfd, size_t nh, const char *name, int *fd)
{
	for (size_t h = 0; h < nh; h++)
		if ((fd[h] = openat(pfd[h], name, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			die("open %s", name);
}

/* fork + exec of prog (no arguments) until it exits; its wall time in microseconds. A program
 * that does not exit 0 (not found, not executable) ends the bench: its time would not be an
 * exec's. */
static inline double exec_wait_us(const char *prog)
{
	uint64_t t0 = now_ns(), t1;
	pid_t p = fork();
	int st;

	if (p < 0)
		die("fork");
	if (p == 0) {
		execl(prog, prog, (char *) NULL);
		_exit(127);
	}
	if (waitpid(p, &st, 0) < 0)
		die("waitpid");
	t1 = now_ns();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s did not exit 0 (status %d)", prog, st);
	return (double) (t1 - t0) / 1000.0;
}

/* A child that sleeps until killed: the task every bench container gets. It dies with its
 * parent: a bench program that fails (die) leaves nothing holding make bench's output pipe. */
static inline pid_t sleeper(void)
{
	pid_t p = fork();

	if (p < 0)
		die("fork");
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(0);
		for (;;)
			pause();
	}
	return p;
}

/* The parents' directory fds of a bench section, one per hierarchy of hierarchies() (pfd[]), and
 * on v1 the blkio one runc makes too (*blkio_pfd, -1 on v2): qosd checks a container's path in
 * every hierarchy it manages, so a task left in the blkio root is refused. */
static inline void open_parents_at(const struct hier *h, size_t nh, const char *parent, int *pfd,
				   int *blkio_pfd)
{
	char p[4096];

	for (size_t i = 0; i < nh; i++) {
		snprintf(p, sizeof(p), "%s%s", h[i].dir, parent);
		if ((pfd[i] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			die("open %s", p);
	}
	*blkio_pfd = -1;
	if (nh == 4) {
		snprintf(p, sizeof(p), CGROOT "/blkio%s", parent);
		*blkio_pfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
}

/* A container's cgroups made the way runc makes them: mkdir in its order of the four (cpuset,
 * memory, cpu, pids) and then blkio on v1, cpuset.cpus/mems copied from the parent, task pid
 * attached in each. Both sides of the apply rows start from this: qapply before its call to qosd,
 * floor create before its raw writes (what a runtime does is paid with or without qosd). */
static inline void runtime_create(const int *pfd, size_t nh, int blkio_pfd, const char *name,
				  pid_t pid)
{
	static const int order[4] = { 1, 2, 0, 3 };
	char v[256], s[32];

	snprintf(s, sizeof(s), "%d", (int) pid);
	for (size_t k = 0; k < nh; k++) {
		size_t h = nh == 4 ? (size_t) order[k] : k;
		int fd;

		if (mkdirat(pfd[h], name, 0755) < 0)
			die("mkdir %s", name);
		fd = openat(pfd[h], name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (nh == 4 && h == 1 &&
		    (read_at(pfd[h], "cpuset.cpus", v, sizeof(v)) < 0 ||
		     write_at(fd, "cpuset.cpus", v) < 0 ||
		     read_at(pfd[h], "cpuset.mems", v, sizeof(v)) < 0 ||
		     write_at(fd, "cpuset.mems", v) < 0))
			die("cpuset");
		if (write_at(fd, "cgroup.procs", s) < 0)
			die("attach");
		close(fd);
	}
	if (blkio_pfd >= 0) {
		int fd;

		if (mkdirat(blkio_pfd, name, 0755) < 0)
			die("mkdir blkio %s", name);
		fd = openat(blkio_pfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (write_at(fd, "cgroup.procs", s) < 0)
			die("attach blkio");
		close(fd);
	}
}

/* cgroup v2: "CGROOT/PATH/cgroup.procs" of the calling process's own cgroup (the "0::" line of
 * /proc/self/cgroup), which can hold tasks since it holds the caller; "" if it cannot be read.
 * Read once: the bench does not move itself. */
static inline const char *own_cgroup_procs(void)
{
	static char procs[4200];
	static bool done;
	char line[4096];
	FILE *f;

	if (done)
		return procs;
	done = true;
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", CGROOT,
				 strcmp(line + 3, "/") ? line + 3 : "");
			break;
		}
	if (f)
		fclose(f);
	return procs;
}

/* The task (pid; 0: none) moved back to each parent and the groups runtime_create made removed
 * (blkio_pfd -1: none there). On cgroup v2 (nh 1) the bench's parents have controllers on for
 * their children and so cannot hold a task (EBUSY): the task goes back to the bench's own
 * cgroup, where it came from. */
static inline void runtime_remove(const int *pfd, size_t nh, int blkio_pfd, const char *name,
				  pid_t pid)
{
	char s[32];

	snprintf(s, sizeof(s), "%d", (int) pid);
	for (size_t h = 0; h < nh; h++) {
		if (pid && write_at(pfd[h], "cgroup.procs", s) < 0 && nh == 1) {
			const char *own = own_cgroup_procs();

			if (!own[0] || write_at(AT_FDCWD, own, s) < 0)
				die("%s: its task refused by the parent and by %s", name,
				    own[0] ? own : "the bench's own cgroup (not found)");
		}
		if (unlinkat(pfd[h], name, AT_REMOVEDIR) < 0)
			die("rmdir %s", name);
	}
	if (blkio_pfd >= 0) {
		if (pid)
			(void) write_at(blkio_pfd, "cgroup.procs", s);
		if (unlinkat(blkio_pfd, name, AT_REMOVEDIR) < 0)
			die("rmdir blkio %s", name);
	}
}

/* QB_DEFER_RM=1: a round's group is removed after the last round instead of before the next.
 * On cgroup v1 the kernel takes a removed cpuset offline in a kworker, and that rebuilds the
 * scheduling domains over every cpuset (cpuset_css_offline -> rebuild_sched_domains_locked): with
 * 10,000 groups, about 1.6 ms of kworker time per removed group, holding the cpuset mutex, which
 * lands in the next rounds' timed writes on either side of a ratio at random (perf, the 10,000-known
 * row). Deferred, every timed round sees the same tree plus the groups of earlier rounds. */
static inline bool defer_rm(void)
{
	const char *v = getenv("QB_DEFER_RM");

	return v && *v && strcmp(v, "0");
}

/* The cpuset controller's num_cgroups in /proc/cgroups (the groups not yet freed, those being
 * taken offline included); -1 if it cannot be read. */
static inline long cpuset_groups(void)
{
	char line[256], name[64];
	long hier, num = -1;
	FILE *f = fopen("/proc/cgroups", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld", name, &hier, &num) == 3 && !strcmp(name, "cpuset"))
			break;
		else
			num = -1;
	if (f)
		fclose(f);
	return num;
}

/* After deferred removals: wait (up to 30 s) until the kernel has freed them, back to `before`
 * cpusets, so that their offline work does not land in the next program's timed rounds. Gives up
 * quietly when the count stops falling for a second (other groups on the machine). */
static inline void settle_cpusets(long before)
{
	long last = -1, n;
	int still = 0;

	for (int t = 0; t < 3000 && (n = cpuset_groups()) > before && before >= 0; t++) {
		still = n == last ? still + 1 : 0;
		if (still >= 100)
			return;
		last = n;
		usleep(10000);
	}
}
