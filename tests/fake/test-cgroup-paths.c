/* SPDX-License-Identifier: MIT */
/* v1 per-hierarchy paths (issue 12): a container whose memory cgroup is not its cpu cgroup (runc
 * run without cgroupsPath from a shell in a memory cgroup) is found in /proc/PID/cgroup, and its
 * limits reach each hierarchy's own directory in a fake v1 tree. */
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qosd/cgroup.h"
#include "qosd/report.h"
#include "qosd/util.h"
#include "tests/unit/testlib.h"

struct fx {
	char dir[PATH_MAX];
	struct cg_root *root;
};

static char *knob(const struct fx *f, const char *rel)
{
	_cleanup_free_ char *path = strprintf("%s/%s", f->dir, rel);
	char *s = NULL;

	assert_true(read_file_at(AT_FDCWD, path, 4096, &s) >= 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/qosd-test-%d-XXXXXX", (int) getpid());
	if (!mkdtemp(f->dir))
		return -1;
	tl_put(f->dir, "cpu/cgroup.procs", "1\n");
	tl_put(f->dir, "cpuset/cpuset.cpus", "0-3\n");
	tl_put(f->dir, "cpuset/cpuset.mems", "0\n");
	tl_put(f->dir, "pids/cgroup.procs", "1\n");
	tl_put(f->dir, "blkio/cgroup.procs", "1\n");
	/* the container: /ctr in cpu and pids, /sh/ctr in memory (the shell's memory cgroup) */
	tl_put(f->dir, "cpu/ctr/cpu.shares", "1024\n");
	tl_put(f->dir, "pids/ctr/pids.max", "max\n");
	tl_put(f->dir, "cpuset/ctr/cpuset.cpus", "0-3\n");
	tl_put(f->dir, "cpuset/ctr/cpuset.mems", "0\n");
	tl_put(f->dir, "memory/sh/ctr/memory.limit_in_bytes", "9223372036854771712\n");
	tl_put(f->dir, "memory/sh/ctr/memory.usage_in_bytes", "1048576\n");
	tl_put(f->dir, "proc/42/cgroup",
	       "9:name=systemd:/\n8:pids:/ctr\n4:memory:/sh/ctr\n3:cpuset:/\n1:cpu,cpuacct:/ctr\n"
	       "0::/\n");
	tl_put(f->dir, "proc/43/cgroup", "4:memory:/sh/../etc\n1:cpu,cpuacct:/ctr\n");
	*state = f;
	return cg_root_open(f->dir, &f->root);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cg_root_free(f->root);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void paths_from_proc(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *procfs = strprintf("%s/proc", f->dir);
	struct cg_paths p = { 0 };

	assert_int_equal(cg_pid_paths(f->root, procfs, 42, "/ctr", &p), 0);
	assert_string_equal(p.v[CG_MEMORY], "/sh/ctr");
	/* the cpuset line says "/": a path of its own, reported as such */
	assert_string_equal(p.v[CG_CPUSET], "/");
	assert_null(p.v[CG_CPU]);
	assert_null(p.v[CG_PIDS]);
	assert_null(p.v[CG_BLKIO]); /* no blkio line */
	assert_string_equal(cg_paths_get(&p, CG_MEMORY, "/ctr"), "/sh/ctr");
	assert_string_equal(cg_paths_get(&p, CG_PIDS, "/ctr"), "/ctr");
	assert_string_equal(cg_paths_get(NULL, CG_MEMORY, "/ctr"), "/ctr");
	cg_paths_done(&p);
	/* a path that could leave the hierarchy is refused whole */
	assert_int_equal(cg_pid_paths(f->root, procfs, 43, "/ctr", &p), -EINVAL);
	assert_int_equal(cg_pid_paths(f->root, procfs, 44, "/ctr", &p), -ESRCH);
}

static void limits_reach_each_hierarchy(void **state)
{
	struct fx *f = *state;
	struct cg_paths p = { .v = { [CG_MEMORY] = (char *) "/sh/ctr" } };
	struct qos_cg_limits l = { .cpu.shares = { QOS_SET, 512 },
				   .mem.limit = { QOS_SET, 64 << 20 },
				   .pids.max = { QOS_SET, 64 } };
	struct qos_report r = { 0 };
	_cleanup_free_ char *mem = NULL, *cpu = NULL, *pids = NULL;

	/* one path for all: memory is "not present yet", forever (what qos-hook refused) */
	(void) cg_apply(f->root, "/ctr", &l, false, &r);
	assert_true(r.retry);
	assert_non_null(strstr(r.retry_why, "not present in the memory hierarchy"));
	report_done(&r);
	r = (struct qos_report){ 0 };
	assert_int_equal(cg_apply_paths(f->root, "/ctr", &p, &l, false, &r), 0);
	assert_false(r.retry);
	assert_int_equal(report_errors(&r), 0);
	report_done(&r);
	mem = knob(f, "memory/sh/ctr/memory.limit_in_bytes");
	cpu = knob(f, "cpu/ctr/cpu.shares");
	pids = knob(f, "pids/ctr/pids.max");
	assert_string_equal(mem, "67108864");
	assert_string_equal(cpu, "512");
	assert_string_equal(pids, "64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(paths_from_proc, setup, teardown),
		cmocka_unit_test_setup_teardown(limits_reach_each_hierarchy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
