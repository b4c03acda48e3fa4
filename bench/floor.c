/* SPDX-License-Identifier: MIT */
/* The floor: what one container's limits cost as raw syscalls on pre-opened directory fds.
 *   floor create PARENT N   the cgroups made the way qapply's runtime makes them (bench.h
 *                           runtime_create: runc's order, blkio too on v1, cpuset copied from the
 *                           parent, the task attached), then the knob writes and a read-back of
 *                           each on O_PATH fds: what qosd's socket call is compared with
 *   floor direct PARENT N   the floor of round one: mkdirat + O_PATH open in the four hierarchies,
 *                           the knob writes (cpuset as a knob, no copy, no blkio group), a
 *                           read-back of each, the attach (floor.direct; shown beside the row)
 *   floor limits PARENT N   the knob writes and read-backs alone, on an existing cgroup
 *   floor inotify PARENT N  mkdir (every hierarchy, runc's order) -> IN_CREATE read by another
 *                           thread watching the first hierarchy, and -> the thread's raw writes done
 *   floor exec N [PROG KEY] fork + exec of /bin/true until it exits (what any hook pays); or of
 *                           PROG, reported as KEY (make bench: a static no-op, floor.exec_static)
 * PARENT is a cgroup path ("/qosd-bench-1/floor") that exists in every hierarchy. $QB_PREFIX
 * replaces "floor" in the create/limits result names. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/wait.h>

#include "bench.h"

static struct hier H[4];
static size_t NH;
static int pfd[4];
static int blkio_pfd = -1;

static void open_parents(const char *parent)
{
	NH = hierarchies(H);
	open_parents_at(H, NH, parent, pfd, &blkio_pfd);
}

enum create_mode { ONLY_LIMITS, RUNTIME_CREATE, DIRECT_CREATE };

static void do_create(int n, enum create_mode mode)
{
	static const char *const key_of[] = { "limits", "create", "direct" };
	double *v = calloc(n, sizeof(double));
	long cpusets_before = defer_rm() ? cpuset_groups() : -1;
	pid_t child = sleeper();
	char s[32], key[64];

	snprintf(s, sizeof(s), "%d", (int) child);
	for (int i = 0; i < n; i++) {
		char name[64];
		int fd[4];
		uint64_t t0;

		snprintf(name, sizeof(name), "f%d", i);
		if (mode == ONLY_LIMITS)
			for (size_t h = 0; h < NH; h++)
				if (mkdirat(pfd[h], name, 0755) < 0)
					die("mkdir %s", name);
		t0 = now_ns();
		if (mode == RUNTIME_CREATE)
			runtime_create(pfd, NH, blkio_pfd, name, child);
		for (size_t h = 0; h < NH; h++) {
			if (mode == DIRECT_CREATE && mkdirat(pfd[h], name, 0755) < 0)
				die("mkdir %s", name);
			fd[h] = openat(pfd[h], name, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd[h] < 0)
				die("open %s", name);
		}
		if (raw_limits(fd, name) < 0)
			die("limits on %s", name);
		for (size_t h = 0; mode == DIRECT_CREATE && h < NH; h++)
			if (write_at(fd[h], "cgroup.procs", s) < 0)
				die("attach");
		v[i] = (double) (now_ns() - t0) / 1000.0;
		for (size_t h = 0; h < NH; h++)
			close(fd[h]);
		/* the direct and limits groups have no blkio group */
		if (!defer_rm())
			runtime_remove(pfd, NH, mode == RUNTIME_CREATE ? blkio_pfd : -1, name,
				       mode == ONLY_LIMITS ? 0 : child);
	}
	for (int i = 0; defer_rm() && i < n; i++) {
		char name[64];

		snprintf(name, sizeof(name), "f%d", i);
		runtime_remove(pfd, NH, mode == RUNTIME_CREATE ? blkio_pfd : -1, name,
			       mode == ONLY_LIMITS || i < n - 1 ? 0 : child);
	}
	if (defer_rm())
		settle_cpusets(cpusets_before);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(key, sizeof(key), "%s.%s", getenv("QB_PREFIX") ? getenv("QB_PREFIX") : "floor",
		 key_of[mode]);
	report(key, v, n);
}

/* ---- inotify ---- */

static int in_fd, done_fd;
static _Atomic uint64_t t_event, t_done;

static void *watcher(void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(in_fd, buf, sizeof(buf));
		uint64_t t = now_ns();

		if (n <= 0)
			continue;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *) p;

			if (ev->mask & IN_CREATE) {
				int fd[4];

				t_event = t;
				/* the floor of a reaction: open the new group, write its limits */
				for (size_t h = 0; h < NH; h++) {
					/* v1: another hierarchy may not have it yet (runc's order) */
					while ((fd[h] = openat(pfd[h], ev->name,
							       O_PATH | O_DIRECTORY | O_CLOEXEC)) <
					       0)
						sched_yield();
				}
				(void) raw_limits(fd, ev->name);
				for (size_t h = 0; h < NH; h++)
					close(fd[h]);
				t_done = now_ns();
				(void) eventfd_write(done_fd, 1);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return arg;
}

/* runc creates a v1 container's groups in the order of its subsystem list: cpuset, memory, cpu,
 * pids (of the four qosd writes). */
static const int runc_order[4] = { 1, 2, 0, 3 };

static void do_inotify(int n)
{
	double *a = calloc(n, sizeof(double)), *b = calloc(n, sizeof(double));
	pthread_t th;

	in_fd = inotify_init1(IN_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	{
		char p[4096];

		snprintf(p, sizeof(p), "/proc/self/fd/%d", pfd[0]);
		if (inotify_add_watch(in_fd, p, IN_CREATE | IN_ONLYDIR) < 0)
			die("inotify_add_watch");
	}
	pthread_create(&th, NULL, watcher, NULL);
	for (int i = 0; i < n; i++) {
		char name[64];
		uint64_t t0;

		snprintf(name, sizeof(name), "i%d", i);
		t_event = t_done = 0;
		t0 = now_ns();
		for (size_t k = 0; k < NH; k++) {
			size_t h = NH == 4 ? (size_t) runc_order[k] : k;

			if (mkdirat(pfd[h], name, 0755) < 0)
				die("mkdir");
		}
		{
			eventfd_t x;

			(void) eventfd_read(done_fd, &x);
		}
		a[i] = (double) (t_event - t0) / 1000.0;
		b[i] = (double) (t_done - t0) / 1000.0;
		runtime_remove(pfd, NH, -1, name, 0);
		usleep(200);
	}
	report("floor.inotify", a, n);
	report("floor.inotify_write", b, n);
}

int main(int argc, char **argv)
{
	int n;

	if ((argc == 3 || argc == 5) && !strcmp(argv[1], "exec")) {
		/* calibration for the hook: fork + exec of /bin/true (or PROG, reported as KEY) until
		 * it exits */
		const char *prog = argc == 5 ? argv[3] : "/bin/true";
		const char *key = argc == 5 ? argv[4] : "floor.exec";

		n = atoi(argv[2]);
		double *v = calloc(n, sizeof(double));

		for (int i = 0; i < n; i++)
			v[i] = exec_wait_us(prog);
		report(key, v, n);
		return 0;
	}
	if (argc != 4)
		die("usage: floor create|direct|limits|inotify PARENT N | floor exec N [PROG KEY]");
	n = atoi(argv[3]);
	open_parents(argv[2]);
	if (!strcmp(argv[1], "limits"))
		do_create(n, ONLY_LIMITS);
	else if (!strcmp(argv[1], "create"))
		do_create(n, RUNTIME_CREATE);
	else if (!strcmp(argv[1], "direct"))
		do_create(n, DIRECT_CREATE);
	else if (!strcmp(argv[1], "inotify"))
		do_inotify(n);
	else
		die("unknown mode %s", argv[1]);
	return 0;
}
