/* SPDX-License-Identifier: MIT */
/* A cgroup's threads made SCHED_IDLE (or back). The thread ids come from the cgroup's list; an
 * id is only a number, and a thread that exits frees its number for the next fork anywhere on
 * the node. So each candidate is pinned first: an O_PATH fd on /proc/TID holds that thread's
 * struct pid, which no later thread shares even if it gets the same number, and opening "stat"
 * below the pin succeeds only while that thread lives. Per batch of candidates:
 *
 *   1. read the list (candidates: threads whose policy needs a change)
 *   2. pin each candidate
 *   3. read the list again: a candidate not in it now is dropped
 *   4. per candidate: check the pinned thread alive, change the policy of its id at once, and
 *      check it alive again
 *
 * Alive at 4's first check means the pinned thread held its id from 2 on, so at 3 the id was
 * its and it was in the cgroup. Between that check and the change is only the read of its
 * policy: for the change to reach another thread, the pinned one would have to exit and its id
 * be handed to a new fork in that gap. Alive at the second check rules even that out; if not, the change is
 * counted as unsure for the caller to report. */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>

#include "cgfs.h"
#include "taskidle.h"
#include "util.h"

/* candidates pinned at a time: bounds the fds held open */
#define PIN_BATCH 256

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;

	return (x > y) - (x < y);
}

int taskidle_parse(const char *text, int **ret, unsigned *ret_n)
{
	_cleanup_free_ int *v = NULL;
	unsigned n = 0, cap = 0;
	const char *p = text;

	while (*p) {
		unsigned long x;
		char *end;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		x = strtoul(p, &end, 10);
		if (errno || x > INT_MAX || (*end != '\n' && *end != '\0'))
			return -EINVAL;
		p = *end ? end + 1 : end;
		/* the kernel prints 0 for a thread that exited while the list was generated, or one
		 * outside the reader's pid namespace: nothing to act on */
		if (x == 0)
			continue;
		if (n == cap) {
			unsigned ncap = cap ? cap * 2 : 64;
			int *nv = reallocarray(v, ncap, sizeof(*v));

			if (!nv)
				return -ENOMEM;
			v = nv;
			cap = ncap;
		}
		v[n++] = (int) x;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_int);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static bool is_idle(int policy)
{
	return policy >= 0 && (policy & ~SCHED_RESET_ON_FORK) == SCHED_IDLE;
}

/* The policy to move a thread of policy to, or -1: only the fair policies are touched. */
static int target(int policy, bool idle)
{
	if (policy < 0)
		return -1;
	policy &= ~SCHED_RESET_ON_FORK;
	if (idle)
		return policy == SCHED_OTHER || policy == SCHED_BATCH ? SCHED_IDLE : -1;
	return policy == SCHED_IDLE ? SCHED_OTHER : -1;
}

/* Change tid's policy. sched_setscheduler() keeps the nice value and a custom slice (the kernel
 * copies them over for the fair policies). A reset-on-fork flag is dropped: passed back, the
 * policy value is above SCHED_IDLE, which the seccomp filter of systemd's RestrictRealtime=
 * refuses (EPERM) in the unit qosd ships; and a batch thread's children should stay SCHED_IDLE.
 * 1 if changed, 0 if nothing to do, -errno (-ESRCH: gone). */
static int set_policy(int tid, bool idle)
{
	int cur = sched_getscheduler(tid), to = target(cur, idle);
	struct sched_param sp = { 0 };

	if (cur < 0)
		return negative_errno();
	if (to < 0)
		return 0;
	if (sched_setscheduler(tid, to, &sp) < 0)
		return negative_errno();
	return 1;
}

static int pin(const char *proc, int tid)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t) snprintf(path, sizeof(path), "%s/%d", proc, tid) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? negative_errno() : fd;
}

static bool pinned_alive(int pinfd)
{
	int fd = openat(pinfd, "stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int read_list(int dirfd, bool v2, int **ret, unsigned *ret_n)
{
	_cleanup_free_ char *text = NULL;
	int r = cgfs_read(dirfd, v2 ? "cgroup.threads" : "tasks", &text);

	return r < 0 ? r : taskidle_parse(text, ret, ret_n);
}

static void failed(struct taskidle_count *n, int err)
{
	n->failed++;
	if (!n->err)
		n->err = err;
}

/* Steps 2-4 for the candidates in tids (at most PIN_BATCH). */
static int sweep_batch(int dirfd, bool v2, bool idle, const char *proc, const int *tids, unsigned n,
		       struct taskidle_count *ret)
{
	_cleanup_free_ int *now = NULL;
	int fds[PIN_BATCH];
	unsigned n_now = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		fds[i] = pin(proc, tids[i]);
		if (fds[i] < 0 && fds[i] != -ENOENT && fds[i] != -ESRCH)
			failed(ret, fds[i]);
	}
	r = read_list(dirfd, v2, &now, &n_now);
	for (unsigned i = 0; r >= 0 && i < n; i++) {
		int s;

		if (fds[i] < 0 || !n_now || !bsearch(&tids[i], now, n_now, sizeof(*now), cmp_int) ||
		    !pinned_alive(fds[i]))
			continue;
		s = set_policy(tids[i], idle);
		if (s == -ESRCH || s == 0)
			continue;
		if (s < 0)
			failed(ret, s);
		else if (pinned_alive(fds[i]))
			ret->changed++;
		else
			ret->unsure++;
	}
	for (unsigned i = 0; i < n; i++)
		closep(&fds[i]);
	return r;
}

int taskidle_sweep(int dirfd, bool v2, bool idle, const char *proc, struct taskidle_count *ret)
{
	_cleanup_free_ int *tids = NULL, *cand = NULL;
	unsigned n = 0, nc = 0;
	int r;

	*ret = (struct taskidle_count){ 0 };
	r = read_list(dirfd, v2, &tids, &n);
	if (r < 0)
		return r;
	cand = calloc(n ? n : 1, sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int pol = sched_getscheduler(tids[i]);

		if (target(pol, idle) >= 0)
			cand[nc++] = tids[i];
		else if (is_idle(pol))
			ret->idle++;
	}
	ret->threads = n;
	if (!nc)
		return 0;
	for (unsigned i = 0; i < nc; i += PIN_BATCH) {
		r = sweep_batch(dirfd, v2, idle, proc, cand + i, MIN(nc - i, PIN_BATCH), ret);
		if (r < 0)
			return r;
	}
	/* read back: the list as it is now, and each thread's policy */
	free(tids);
	tids = NULL;
	r = read_list(dirfd, v2, &tids, &n);
	if (r < 0)
		return r;
	ret->threads = n;
	ret->idle = 0;
	for (unsigned i = 0; i < n; i++)
		ret->idle += is_idle(sched_getscheduler(tids[i]));
	return 0;
}
