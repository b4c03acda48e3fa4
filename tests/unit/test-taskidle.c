/* SPDX-License-Identifier: MIT */
/* taskidle: the strict parse of a cgroup's thread list, and a sweep over a list that names this
 * process's own threads and one id that no thread can hold: the listed threads go SCHED_IDLE and
 * back with their nice values (a reset-on-fork flag dropped), the missing id is skipped without
 * an error, and a thread that cannot be pinned (no /proc directory) is not changed. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "qosd/taskidle.h"
#include "qosd/util.h"

static void expect_parse(const char *text, const int *want, unsigned n_want)
{
	_cleanup_free_ int *v = NULL;
	unsigned n = 99;

	if (taskidle_parse(text, &v, &n) != 0)
		fail_msg("'%s' refused", text);
	assert_int_equal(n, n_want);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(v[i], want[i]);
}

static void parse_sorts_ids(void **state)
{
	expect_parse("", NULL, 0);
	expect_parse("7", (int[]){ 7 }, 1);
	expect_parse("30\n1\n2147483647\n5", (int[]){ 1, 5, 30, 2147483647 }, 4);
	expect_parse("4\n", (int[]){ 4 }, 1);
	/* 0: a thread that exited while the kernel printed the list */
	expect_parse("0\n9\n0", (int[]){ 9 }, 1);
}

static void parse_refuses_anything_else(void **state)
{
	static const char *bad[] = {
		"-1",	"1 2", "1\n\n2", " 1", "abc", "2147483648", "99999999999999999999",
		"1\nx", "+3",  "1\t"
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ int *v = NULL;
		unsigned n = 0;

		if (taskidle_parse(bad[i], &v, &n) != -EINVAL)
			fail_msg("'%s' was not refused", bad[i]);
	}
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int child_tid, done;

static void *child(void *arg)
{
	pthread_mutex_lock(&mu);
	child_tid = (int) syscall(SYS_gettid);
	setpriority(PRIO_PROCESS, (id_t) child_tid, 3);
	pthread_cond_broadcast(&cv);
	while (!done)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* an id no thread can hold: above the kernel's PID_MAX_LIMIT (4194304) */
#define GONE_ID 4194305

/* CAP_SYS_NICE in the effective set (bit 23 of CapEff): needed to leave SCHED_IDLE */
static bool has_sys_nice(void)
{
	_cleanup_free_ char *text = NULL;
	const char *p;

	if (read_file_at(AT_FDCWD, "/proc/self/status", 65536, &text) < 0 ||
	    !(p = strstr(text, "\nCapEff:")))
		return false;
	return (strtoull(p + 8, NULL, 16) >> 23) & 1;
}

static void sweep_sets_listed_threads_and_undoes(void **state)
{
	char dir[] = "/tmp/qosd-unit-taskidle.XXXXXX", path[256], list[128];
	_cleanup_close_ int dfd = -1;
	struct taskidle_count n;
	pthread_t t;
	int self = (int) syscall(SYS_gettid), fd;

	if (!has_sys_nice() || sched_getscheduler(0) != SCHED_OTHER) {
		skip(); /* undoing SCHED_IDLE needs CAP_SYS_NICE; the test starts from SCHED_OTHER */
		return;
	}
	assert_non_null(mkdtemp(dir));
	pthread_create(&t, NULL, child, NULL);
	pthread_mutex_lock(&mu);
	while (!child_tid)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	snprintf(list, sizeof(list), "%d\n%d\n%d", self, child_tid, GONE_ID);
	snprintf(path, sizeof(path), "%s/tasks", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, list, strlen(list)), (ssize_t) strlen(list));
	close(fd);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);

	/* a /proc without the threads' directories: nothing can be pinned, nothing changes */
	assert_int_equal(taskidle_sweep(dfd, false, true, "/nonexistent-proc", &n), 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.failed, 0);
	assert_int_equal(sched_getscheduler(self), SCHED_OTHER);

	/* the child's reset-on-fork flag is dropped with the change (see taskidle.c) */
	assert_int_equal(sched_setscheduler(child_tid, SCHED_OTHER | SCHED_RESET_ON_FORK,
					    &(struct sched_param){ 0 }),
			 0);
	assert_int_equal(taskidle_sweep(dfd, false, true, "/proc", &n), 0);
	assert_int_equal(n.threads, 3);
	assert_int_equal(n.changed, 2);
	assert_int_equal(n.idle, 2);
	assert_int_equal(n.unsure, 0);
	assert_int_equal(sched_getscheduler(self), SCHED_IDLE);
	assert_int_equal(sched_getscheduler(child_tid), SCHED_IDLE); /* no flag */
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t) child_tid), 3);
	/* again: nothing left to change */
	assert_int_equal(taskidle_sweep(dfd, false, true, "/proc", &n), 0);
	assert_int_equal(n.changed, 0);
	assert_int_equal(n.idle, 2);

	assert_int_equal(taskidle_sweep(dfd, false, false, "/proc", &n), 0);
	assert_int_equal(n.changed, 2);
	assert_int_equal(n.idle, 0);
	assert_int_equal(sched_getscheduler(self), SCHED_OTHER);
	assert_int_equal(sched_getscheduler(child_tid), SCHED_OTHER);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t) child_tid), 3);

	/* a list that cannot be parsed changes nothing */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	snprintf(list, sizeof(list), "%d\nnot-a-tid", self);
	assert_int_equal(write(fd, list, strlen(list)), (ssize_t) strlen(list));
	close(fd);
	assert_int_equal(taskidle_sweep(dfd, false, true, "/proc", &n), -EINVAL);
	assert_int_equal(sched_getscheduler(self), SCHED_OTHER);

	pthread_mutex_lock(&mu);
	done = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_sorts_ids),
		cmocka_unit_test(parse_refuses_anything_else),
		cmocka_unit_test(sweep_sets_listed_threads_and_undoes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
