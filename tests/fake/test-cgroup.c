/* SPDX-License-Identifier: MIT */
/* cgfs and cgroup against fake trees (temp directories laid out like cgroupfs v1 and v2), and a
 * root-only sanity test against this host's real cgroupfs. */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cmocka.h>

/* test paths are short: temp dirs under /tmp */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "qosd/cgfs.h"
#include "qosd/cgroup-internal.h"
#include "qosd/cgroup.h"
#include "qosd/report.h"
#include "qosd/util.h"
#include "tests/unit/testlib.h"

#define UNLIMITED "9223372036854771712"

struct fx {
	char dir[PATH_MAX];
	struct cg_root *root;
	struct qos_report r;
	struct qos_cg_limits l;
	bool v2;
};

static char *slurp(const struct fx *f, const char *rel)
{
	char path[PATH_MAX], *s = NULL;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_true(read_file_at(AT_FDCWD, path, 1 << 20, &s) >= 0);
	return s;
}

static void assert_file(const struct fx *f, const char *rel, const char *want)
{
	_cleanup_free_ char *s = slurp(f, rel);

	if (!streq(s, want))
		fail_msg("%s: \"%s\" != \"%s\"", rel, s, want);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 ? -1 : 0;
}

static void mk_v1_cg(const char *d, const char *cg)
{
	char b[PATH_MAX];

#define P(h, k, v) (snprintf(b, sizeof(b), "%s%s/%s", h, cg, k), tl_put(d, b, v))
	P("cpu", "cpu.shares", "1024\n");
	P("cpu", "cpu.cfs_period_us", "100000\n");
	P("cpu", "cpu.cfs_quota_us", "-1\n");
	P("cpu", "cgroup.procs", "");
	P("cpu", "tasks", "");
	P("cpuset", "cpuset.cpus", "\n");
	P("cpuset", "cpuset.mems", "\n");
	P("memory", "memory.limit_in_bytes", UNLIMITED "\n");
	P("memory", "memory.memsw.limit_in_bytes", UNLIMITED "\n");
	P("memory", "memory.soft_limit_in_bytes", UNLIMITED "\n");
	P("memory", "memory.usage_in_bytes", "83886080\n");
	P("memory", "memory.memsw.usage_in_bytes", "83886080\n");
	P("pids", "pids.max", "max\n");
	P("blkio", "blkio.throttle.read_bps_device", "");
#undef P
}

static void mk_v2_cg(const char *d, const char *cg)
{
	char b[PATH_MAX];

#define P(k, v) (snprintf(b, sizeof(b), "%s/%s", cg + 1, k), tl_put(d, b, v))
	P("cgroup.controllers", "cpu cpuset io memory pids\n");
	P("cgroup.subtree_control", "\n");
	P("cgroup.procs", "");
	P("cpu.weight", "100\n");
	P("cpu.max", "max 100000\n");
	P("cpuset.cpus", "\n");
	P("cpuset.mems", "\n");
	P("memory.max", "max\n");
	P("memory.swap.max", "max\n");
	P("memory.low", "0\n");
	P("pids.max", "max\n");
#undef P
}

static int fx_new(void **state, bool v2)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/qosd-test-%d-XXXXXX", (int) getpid());
	if (!mkdtemp(f->dir))
		return -1;
	f->v2 = v2;
	if (v2) {
		tl_put(f->dir, "cgroup.controllers", "cpu cpuset io memory pids\n");
		tl_put(f->dir, "cgroup.subtree_control", "\n");
		tl_put(f->dir, "cgroup.procs", "1\n");
		mk_v2_cg(f->dir, "/pod");
		mk_v2_cg(f->dir, "/pod/c1");
	} else {
		tl_put(f->dir, "cpu/release_agent", "/sbin/agent\n");
		tl_put(f->dir, "cpu/notify_on_release", "0\n");
		tl_put(f->dir, "cpu/cgroup.procs", "1\n");
		tl_put(f->dir, "cpu/tasks", "1\n");
		tl_put(f->dir, "cpuset/cpuset.cpus", "0-3\n");
		tl_put(f->dir, "cpuset/cpuset.mems", "0\n");
		mk_v1_cg(f->dir, "/pod");
		tl_put(f->dir, "cpuset/pod/cpuset.cpus", "0-3\n");
		tl_put(f->dir, "cpuset/pod/cpuset.mems", "0\n");
		mk_v1_cg(f->dir, "/pod/c1");
	}
	*state = f;
	return 0;
}

/* The tree the next test runs on: set by the group (cgroup v1 or v2) it runs in. */
static bool mode_v2;

static int group_v1(void **state)
{
	mode_v2 = false;
	return 0;
}

static int group_v2(void **state)
{
	mode_v2 = true;
	return 0;
}

static int setup(void **state)
{
	struct fx *f;

	if (fx_new(state, mode_v2) < 0)
		return -1;
	f = *state;
	return cg_root_open(f->dir, &f->root);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cg_root_free(f->root);
	report_done(&f->r);
	free(f->l.cpu.cpus.v);
	free(f->l.cpu.mems.v);
	if (f->dir[0])
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void set_u64(struct qos_u64 *k, uint64_t v)
{
	*k = (struct qos_u64){ QOS_SET, v };
}

static void set_str(struct qos_str *k, const char *v)
{
	free(k->v);
	*k = (struct qos_str){ QOS_SET, strdup(v) };
}

static void set_all(struct qos_cg_limits *l)
{
	set_u64(&l->cpu.shares, 512);
	set_u64(&l->cpu.weight, 50);
	set_u64(&l->cpu.period_us, 100000);
	set_u64(&l->cpu.quota_us, 50000);
	set_str(&l->cpu.cpus, "0-1");
	set_str(&l->cpu.mems, "0");
	set_u64(&l->mem.limit, 512ULL << 20);
	set_u64(&l->mem.swap, 64ULL << 20);
	set_u64(&l->mem.reservation, 256ULL << 20);
	set_u64(&l->pids.max, 100);
}

static void clear_all(struct qos_cg_limits *l)
{
	struct qos_u64 *u[] = { &l->cpu.shares,	     &l->cpu.weight, &l->cpu.period_us,
				&l->cpu.quota_us,    &l->mem.limit,  &l->mem.swap,
				&l->mem.reservation, &l->pids.max };

	for (size_t i = 0; i < ELEMENTSOF(u); i++)
		*u[i] = (struct qos_u64){ QOS_CLEAR, 0 };
	l->cpu.cpus.op = QOS_CLEAR;
	l->cpu.mems.op = QOS_CLEAR;
}

static void assert_no_errors(const struct qos_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].error)
			fail_msg("%s: %s", r->v[i].key, r->v[i].error_msg);
}

/* ---- cgfs ---- */

static void test_allow_list(void **state)
{
	struct fx *f = *state;
	const char *refused[] = { "release_agent", "notify_on_release", "cgroup.procs", "tasks" };
	_cleanup_close_ int fd = -1;

	assert_true(cgfs_knob_allowed("cpu.shares"));
	assert_true(cgfs_knob_allowed("io.max"));
	assert_true(cgfs_knob_allowed("cgroup.subtree_control"));
	assert_false(cgfs_knob_allowed("cgroup.threads"));
	assert_false(cgfs_knob_allowed("memory.force_empty"));
	assert_false(cgfs_knob_allowed(NULL));
	fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	{
		_cleanup_close_ int cfd = -1;

		assert_int_equal(cgfs_open_dir(fd, "cpu", &cfd), 0);
		for (size_t i = 0; i < ELEMENTSOF(refused); i++)
			assert_int_equal(cgfs_write(cfd, refused[i], "1"), -EPERM);
	}
	assert_file(f, "cpu/release_agent", "/sbin/agent\n");
	assert_file(f, "cpu/notify_on_release", "0\n");
	assert_file(f, "cpu/cgroup.procs", "1\n");
	assert_file(f, "cpu/tasks", "1\n");
}

static void test_open_dir_escapes(void **state)
{
	struct fx *f = *state;
	_cleanup_close_ int fd = -1, cfd = -1, x = -1;
	char path[PATH_MAX], outside[PATH_MAX];
	_cleanup_free_ char *v = NULL;

	fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cgfs_open_dir(fd, "cpu", &cfd), 0);
	assert_int_equal(cgfs_open_dir(cfd, "../x", &x), -EINVAL);
	assert_int_equal(cgfs_open_dir(cfd, "/..", &x), -EINVAL);
	assert_int_equal(cgfs_open_dir(cfd, "pod/../..", &x), -EINVAL);
	assert_int_equal(cgfs_open_dir(cfd, "/pod/./c1", &x), -EINVAL);
	assert_int_equal(x, -1);
	/* a symlinked directory and a symlinked knob are refused */
	snprintf(path, sizeof(path), "%s/cpu/lnk", f->dir);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_true(cgfs_open_dir(cfd, "lnk", &x) < 0);
	assert_true(cgfs_open_dir(cfd, "/lnk", &x) < 0);
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	tl_put(f->dir, "outside", "keep\n");
	snprintf(path, sizeof(path), "%s/cpu/pod/c1/cpu.weight", f->dir);
	assert_int_equal(symlink(outside, path), 0);
	{
		_cleanup_close_ int c1 = -1;

		assert_int_equal(cgfs_open_dir(cfd, "/pod/c1", &c1), 0);
		assert_true(cgfs_write(c1, "cpu.weight", "1") < 0);
		assert_true(cgfs_read(c1, "cpu.weight", &v) < 0);
		assert_int_equal(cgfs_write(c1, "../cpu.shares", "1"), -EPERM);
		assert_int_equal(cgfs_read(c1, "../cpu.shares", &v), -EINVAL);
		assert_int_equal(cgfs_read(c1, "cpu.shares", &v), 0);
		assert_string_equal(v, "1024");
	}
	assert_file(f, "outside", "keep\n");
	assert_int_equal(cgfs_open_dir(cfd, "/", &x), 0);
	close(x);
	assert_int_equal(cgfs_mkdir(cfd, "/pod/new"), 1);
	assert_int_equal(cgfs_mkdir(cfd, "/pod/new"), 0);
	assert_int_equal(cgfs_mkdir(cfd, "/pod/../new"), -EINVAL);
}

/* A knob's text longer than the first read (blkio device lists): read to its end, and read back
 * from the start on the kept fd (pread at 0, then on from 1024), shorter or longer than before. */
static void test_long_knob_text(void **state)
{
	struct fx *f = *state;
	_cleanup_close_ int fd = -1, c1 = -1;
	struct cgfs_knob k = CGFS_KNOB_NONE;
	_cleanup_free_ char *v = NULL, *again = NULL, *third = NULL;
	char big[3001], big2[2501];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[1023] = 'b'; /* the last byte of the first read, the first of the rest: */
	big[1024] = 'c';
	memset(big2, 'd', sizeof(big2) - 1);
	big2[sizeof(big2) - 1] = 0;
	fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cgfs_open_dir(fd, "blkio/pod/c1", &c1), 0);
	tl_put(f->dir, "blkio/pod/c1/blkio.throttle.read_bps_device", big);
	assert_int_equal(cgfs_knob_open(c1, "blkio.throttle.read_bps_device", false, true, &k, &v),
			 0);
	assert_string_equal(v, big);
	tl_put(f->dir, "blkio/pod/c1/blkio.throttle.read_bps_device", "8:0 100\n");
	assert_int_equal(cgfs_knob_reread(&k, &again), 0);
	assert_string_equal(again, "8:0 100");
	tl_put(f->dir, "blkio/pod/c1/blkio.throttle.read_bps_device", big2);
	assert_int_equal(cgfs_knob_reread(&k, &third), 0);
	assert_string_equal(third, big2);
	cgfs_knob_close(&k);
}

/* ---- both versions: the same test on a v1 and a v2 tree ---- */

/* the cgroup's directories in every hierarchy, removed and made again as they were */
static void remake_c1(const struct fx *f)
{
	static const char *const hier[] = { "cpu", "cpuset", "memory", "pids", "blkio" };
	char p[PATH_MAX];

	for (size_t i = 0; i < (f->v2 ? 1 : ELEMENTSOF(hier)); i++) {
		snprintf(p, sizeof(p), "%s/%s%spod/c1", f->dir, f->v2 ? "" : hier[i],
			 f->v2 ? "" : "/");
		assert_int_equal(nftw(p, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
	}
	if (f->v2)
		mk_v2_cg(f->dir, "/pod/c1");
	else
		mk_v1_cg(f->dir, "/pod/c1");
}

/* the file (relative to the tree) and text of each version; a NULL path: none on this version */
static void want(const struct fx *f, const char *p1, const char *w1, const char *p2, const char *w2)
{
	const char *p = f->v2 ? p2 : p1;

	if (p)
		assert_file(f, p, f->v2 ? w2 : w1);
}

#define V(a, b) (f->v2 ? (b) : (a))

static void test_detect(void **state)
{
	struct fx *f = *state;
	char cpu[PATH_MAX];

	snprintf(cpu, sizeof(cpu), "%s/cpu", f->dir);
	assert_int_equal(cg_root_mode(f->root), V(CG_LEGACY, CG_UNIFIED));
	assert_string_equal(cg_primary_path(f->root), V(cpu, f->dir));
	assert_true(cg_exists(f->root, "/pod/c1"));
	assert_false(cg_exists(f->root, "/pod/c2"));
	assert_false(cg_exists(f->root, "/pod/../pod"));
}

/* A fake tree is told from a cgroup mount once, when its root is opened: there a knob write
 * truncates what a longer old value leaves behind (kernfs takes a write whole). The knob is
 * read, written and read back on the one fd it was opened with, read-write only if allowed. */
static void test_plain_tree_knob(void **state)
{
	struct fx *f = *state;
	const char *file = V("cpu.shares", "cpu.weight");
	_cleanup_free_ char *before = NULL, *after = NULL, *ro = NULL, *procs = NULL;
	struct cgfs_knob k = CGFS_KNOB_NONE;
	_cleanup_close_ int dfd = -1;

	assert_true(cg_hier_plain(f->root, CG_CPU));
	assert_true(cg_hier_plain(f->root, CG_MEMORY));
	assert_int_equal(cg_open(f->root, CG_CPU, "/pod/c1", &dfd), 0);
	assert_int_equal(cgfs_knob_open(dfd, file, true, true, &k, &before), 0);
	assert_string_equal(before, V("1024", "100"));
	assert_true(k.rw);
	assert_int_equal(cgfs_knob_write(&k, "2"), 0);
	assert_int_equal(cgfs_knob_reread(&k, &after), 0);
	assert_string_equal(after, "2");
	cgfs_knob_close(&k);
	assert_int_equal(k.fd, -1);
	want(f, "cpu/pod/c1/cpu.shares", "2", "pod/c1/cpu.weight", "2");
	/* not on the allow-list: never opened for writing */
	assert_int_equal(cgfs_knob_open(dfd, "cgroup.procs", true, true, &k, &procs), -EPERM);
	assert_int_equal(k.fd, -1);
	/* opened for reading: not written */
	assert_int_equal(cgfs_knob_open(dfd, file, false, true, &k, &ro), 0);
	assert_int_equal(cgfs_knob_write(&k, "3"), -EBADF);
	cgfs_knob_close(&k);
	want(f, "cpu/pod/c1/cpu.shares", "2", "pod/c1/cpu.weight", "2");
}

/* One request opens each directory once: the same fd on every ask, one directory for every
 * controller on v2; asking for another cgroup closes them first; a missing one says so each
 * time. */
static void test_dirs_once(void **state)
{
	struct fx *f = *state;
	struct cg_dirs d;
	int a = -1, b = -1, mem = -1;

	cg_dirs_init(&d);
	assert_int_equal(cg_dirs_exists(f->root, &d, "/pod/c1"), 1);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_CPU, "/pod/c1", NULL, &a), 0);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_CPU, "/pod/c1", NULL, &b), 0);
	assert_int_equal(a, b);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_MEMORY, "/pod/c1", NULL, &mem), 0);
	if (f->v2)
		assert_int_equal(mem, a);
	else
		assert_int_not_equal(mem, a);
	assert_int_equal(cg_dirs_exists(f->root, &d, "/pod/c2"), 0);
	assert_int_equal(fcntl(a, F_GETFD), -1); /* c1's were closed */
	assert_int_equal(fcntl(mem, F_GETFD), -1);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_MEMORY, "/pod/c2", NULL, &mem), -ENOENT);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_MEMORY, "/pod/c2", NULL, &mem), -ENOENT);
	assert_int_equal(cg_dirs_get(f->root, &d, CG_CPU, "/pod/../c2", NULL, &mem), -EINVAL);
	cg_dirs_done(&d);
	for (int c = 0; c < _CG_CTRL_MAX; c++)
		assert_int_equal(d.fd[c], -1);
}

/* A cgroup removed and made again under the same path between two applies: the second writes
 * the new one (no directory fd outlives its request). */
static void test_recreated_cgroup(void **state)
{
	struct fx *f = *state;

	set_all(&f->l);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	want(f, "pids/pod/c1/pids.max", "100", "pod/c1/pids.max", "100");
	remake_c1(f);
	want(f, "pids/pod/c1/pids.max", "max\n", "pod/c1/pids.max", "max\n");
	report_done(&f->r);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_no_errors(&f->r);
	want(f, "pids/pod/c1/pids.max", "100", "pod/c1/pids.max", "100");
	want(f, "cpu/pod/c1/cpu.shares", "512", "pod/c1/cpu.weight", "50");
	assert_string_equal(tl_knob(&f->r, "pids.limit")->applied, "100");
}

static void test_set(void **state)
{
	struct fx *f = *state;
	const struct qos_knob *k;

	set_all(&f->l);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_no_errors(&f->r);
	assert_int_equal(f->r.n, V(9, 8));
	want(f, "cpu/pod/c1/cpu.shares", "512", "pod/c1/cpu.weight", "50");
	/* the same value is not rewritten */
	want(f, "cpu/pod/c1/cpu.cfs_period_us", "100000\n", NULL, NULL);
	want(f, "cpu/pod/c1/cpu.cfs_quota_us", "50000", "pod/c1/cpu.max", "50000 100000");
	want(f, "cpuset/pod/c1/cpuset.cpus", "0-1", "pod/c1/cpuset.cpus", "0-1");
	want(f, "cpuset/pod/c1/cpuset.mems", "0", "pod/c1/cpuset.mems", "0");
	want(f, "memory/pod/c1/memory.limit_in_bytes", "536870912", "pod/c1/memory.max",
	     "536870912");
	want(f, "memory/pod/c1/memory.memsw.limit_in_bytes", "603979776", "pod/c1/memory.swap.max",
	     "67108864");
	want(f, "memory/pod/c1/memory.soft_limit_in_bytes", "268435456", "pod/c1/memory.low",
	     "268435456");
	want(f, "pids/pod/c1/pids.max", "100", "pod/c1/pids.max", "100");
	k = tl_knob(&f->r, "memory.swap");
	assert_string_equal(k->object, V("memory.memsw.limit_in_bytes", "memory.swap.max"));
	assert_string_equal(k->applied, V("603979776", "67108864"));
	if (!f->v2) {
		assert_string_equal(k->desired, "603979776");
		assert_string_equal(k->note, "memsw = limit + swap = 576M");
	}
	k = tl_knob(&f->r, V("cpu.shares", "cpu.weight"));
	assert_string_equal(k->object, V("cpu.shares", "cpu.weight"));
	assert_string_equal(k->applied, V("512", "50"));
	assert_string_equal(tl_knob(&f->r, "cpu.quota")->object, V("cpu.cfs_quota_us", "cpu.max"));
	assert_string_equal(tl_knob(&f->r, "memory.reservation")->applied, "268435456");
	assert_false(f->r.retry);
}

static void test_clear(void **state)
{
	struct fx *f = *state;

	set_all(&f->l);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	report_done(&f->r);
	clear_all(&f->l);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_no_errors(&f->r);
	want(f, "cpu/pod/c1/cpu.shares", "1024", "pod/c1/cpu.weight", "100");
	want(f, "cpu/pod/c1/cpu.cfs_period_us", "100000\n", NULL, NULL);
	want(f, "cpu/pod/c1/cpu.cfs_quota_us", "-1", "pod/c1/cpu.max", "max 100000");
	/* v1 has no empty cpuset: the parent's; v2's empty one means the parent's */
	want(f, "cpuset/pod/c1/cpuset.cpus", "0-3", "pod/c1/cpuset.cpus", "\n");
	want(f, "cpuset/pod/c1/cpuset.mems", "0", "pod/c1/cpuset.mems", "\n");
	want(f, "memory/pod/c1/memory.limit_in_bytes", "-1", "pod/c1/memory.max", "max");
	want(f, "memory/pod/c1/memory.memsw.limit_in_bytes", "-1", "pod/c1/memory.swap.max", "max");
	want(f, "memory/pod/c1/memory.soft_limit_in_bytes", "-1", "pod/c1/memory.low", "0");
	want(f, "pids/pod/c1/pids.max", "max", "pod/c1/pids.max", "max");
}

static void test_dry_run(void **state)
{
	struct fx *f = *state;
	const struct qos_knob *k;

	set_all(&f->l);
	f->l.pids.max.op = QOS_LEAVE;
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, true, &f->r), 0);
	assert_no_errors(&f->r);
	want(f, "cpu/pod/c1/cpu.shares", "1024\n", "pod/c1/cpu.weight", "100\n");
	want(f, "cpu/pod/c1/cpu.cfs_quota_us", "-1\n", "pod/c1/cpu.max", "max 100000\n");
	want(f, "cpuset/pod/c1/cpuset.cpus", "\n", "pod/c1/cpuset.cpus", "\n");
	want(f, "memory/pod/c1/memory.limit_in_bytes", UNLIMITED "\n", "pod/c1/memory.max",
	     "max\n");
	want(f, "memory/pod/c1/memory.memsw.limit_in_bytes", UNLIMITED "\n",
	     "pod/c1/memory.swap.max", "max\n");
	want(f, "pids/pod/c1/pids.max", "max\n", "pod/c1/pids.max", "max\n");
	k = tl_knob(&f->r, V("cpu.shares", "cpu.weight"));
	assert_string_equal(k->desired, V("512", "50"));
	assert_string_equal(k->applied, V("1024", "100"));
	assert_string_equal(k->note, V("dry run: would write 512", "dry run: would write 50"));
	k = tl_knob(&f->r, "cpu.quota");
	assert_string_equal(k->desired, V("50000", "50000 100000"));
	assert_string_equal(k->applied, V("-1", "max 100000"));
	/* the kernel's "no limit" reads max, also where v1 spells it PAGE_COUNTER_MAX bytes */
	assert_string_equal(tl_knob(&f->r, "memory.limit")->applied, "max");
	k = tl_knob(&f->r, "pids.limit"); /* LEAVE knobs are shown in a dry run, desired NULL */
	assert_null(k->desired);
	assert_string_equal(k->applied, "max");
	report_done(&f->r);
	f->l.mem.reservation.op = QOS_LEAVE;
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, true, &f->r), 0);
	assert_string_equal(tl_knob(&f->r, "memory.reservation")->applied, V("max", "0"));
}

/* ---- v1 ---- */

/* Values the kernel spells differently are not rewritten: page rounding, clamping, list syntax. */
static void test_v1_normalized_compare(void **state)
{
	struct fx *f = *state;

	set_all(&f->l);
	set_u64(&f->l.cpu.shares, 300000);
	set_u64(&f->l.mem.limit, (512ULL << 20) + 100);
	set_u64(&f->l.mem.swap, 64ULL << 20);
	set_u64(&f->l.mem.reservation, (256ULL << 20) + 4095);
	tl_put(f->dir, "cpu/pod/c1/cpu.shares", "262144\n");
	tl_put(f->dir, "cpuset/pod/c1/cpuset.cpus", "0,1\n"); /* the kernel prints 0-1 */
	tl_put(f->dir, "memory/pod/c1/memory.limit_in_bytes", "536870912\n");
	tl_put(f->dir, "memory/pod/c1/memory.memsw.limit_in_bytes", "603979776\n");
	tl_put(f->dir, "memory/pod/c1/memory.soft_limit_in_bytes", "268435456\n");
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_no_errors(&f->r);
	assert_file(f, "cpu/pod/c1/cpu.shares", "262144\n");
	assert_file(f, "cpuset/pod/c1/cpuset.cpus", "0,1\n");
	assert_file(f, "memory/pod/c1/memory.limit_in_bytes", "536870912\n");
	assert_file(f, "memory/pod/c1/memory.soft_limit_in_bytes", "268435456\n");
	assert_file(f, "cpu/pod/c1/cpu.cfs_quota_us", "50000"); /* this one differed */
}

/* Lists are compared as sets of ids: one id more (past the first 64) is a difference, another
 * spelling of the same set is not; a list the parser refuses is written (the kernel judges). */
static void test_v1_list_compare(void **state)
{
	struct fx *f = *state;

	set_str(&f->l.cpu.cpus, "0-1");
	set_str(&f->l.cpu.mems, "0,2-3");
	tl_put(f->dir, "cpuset/pod/c1/cpuset.cpus", "0-1,64\n");
	tl_put(f->dir, "cpuset/pod/c1/cpuset.mems", "0,2,3\n");
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "cpuset/pod/c1/cpuset.cpus", "0-1");
	assert_file(f, "cpuset/pod/c1/cpuset.mems", "0,2,3\n");
	report_done(&f->r);
	tl_put(f->dir, "cpuset/pod/c1/cpuset.cpus", "1,0\n"); /* not a list the kernel prints */
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "cpuset/pod/c1/cpuset.cpus", "0-1");
}

static void test_v1_missing_dir(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	const struct qos_knob *k;

	snprintf(path, sizeof(path), "%s/memory/pod/c1", f->dir);
	assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	set_all(&f->l);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), -ENOENT);
	assert_true(f->r.retry);
	assert_non_null(strstr(f->r.retry_why, "memory"));
	k = tl_knob(&f->r, "memory.limit");
	assert_int_equal(k->error, -ENOENT);
	assert_string_equal(k->error_msg, "cgroup not present in the memory hierarchy yet");
	assert_int_equal(tl_knob(&f->r, "memory.swap")->error, -ENOENT);
	assert_int_equal(tl_knob(&f->r, "cpu.shares")->error, 0);
	assert_file(f, "cpu/pod/c1/cpu.shares", "512");
	assert_file(f, "pids/pod/c1/pids.max", "100");
	assert_int_equal(report_errors(&f->r), 3);
}

/* cg_apply's sched_yield (linked with --wrap=sched_yield: the library's calls come here, libc's
 * and the sanitizers' own do not), which can play the runtime that makes the rest of its
 * hierarchies while qosd yields. */
int __real_sched_yield(void);
int __wrap_sched_yield(void);
static char yield_dir[PATH_MAX]; /* the tree, and */
static const char *yield_makes; /* the v1 cgroup made at the next yield (NULL: none) */
static int yields;

int __wrap_sched_yield(void)
{
	yields++;
	if (yield_makes && *yield_dir)
		mk_v1_cg(yield_dir, yield_makes);
	yield_makes = NULL;
	return __real_sched_yield();
}

/* v1: the watched hierarchy's mkdir woke qosd before the runtime made pids; the runtime makes it
 * while qosd yields once: every knob in one pass, no retry. Missing still after the yield: the
 * retry as before (test_v1_missing_dir). */
static void test_v1_made_while_yielding(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/pids/pod/c1", f->dir);
	assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	set_all(&f->l);
	snprintf(yield_dir, sizeof(yield_dir), "%s", f->dir);
	yield_makes = "/pod/c1";
	yields = 0;
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	yield_makes = NULL;
	assert_int_equal(yields, 1);
	assert_false(f->r.retry);
	assert_no_errors(&f->r);
	assert_file(f, "pids/pod/c1/pids.max", "100");
	assert_file(f, "cpu/pod/c1/cpu.shares", "512");
	report_done(&f->r);
	/* there (or not used): no yield */
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_int_equal(yields, 1);
}

/* A hierarchy the limits do not use does not count: no cpuset cgroup, no cpuset key, no retry. */
static void test_v1_unused_hierarchy(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cpuset/pod/c1", f->dir);
	assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	set_u64(&f->l.cpu.shares, 512);
	set_u64(&f->l.mem.limit, 64ULL << 20);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_no_errors(&f->r);
	assert_false(f->r.retry);
	assert_file(f, "cpu/pod/c1/cpu.shares", "512");
	report_done(&f->r);
	set_str(&f->l.cpu.cpus, "0"); /* now it does */
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), -ENOENT);
	assert_true(f->r.retry);
	assert_non_null(strstr(f->r.retry_why, "cpuset hierarchy"));
}

/* A mount table line for dir: "ID PARENT MAJ:MIN ROOT POINT OPTS - FSTYPE SOURCE SUPEROPTS" */
static void mount_line(FILE *mi, const char *dir, const char *root, const char *point,
		       const char *fstype, const char *opts)
{
	struct stat st;

	assert_int_equal(stat(dir, &st), 0);
	fprintf(mi, "31 23 %u:%u %s %s rw,relatime shared:9 - %s %s rw,%s\n", major(st.st_dev),
		minor(st.st_dev), root, point, fstype, fstype, opts);
}

/* cg_root_open_mounts on a table of one mount */
static int open_one(const struct fx *f, const char *mi_path, const char *point, const char *fstype,
		    struct cg_root **ret)
{
	FILE *mi = fopen(mi_path, "we");

	assert_non_null(mi);
	mount_line(mi, f->dir, "/", point, fstype, "cpu");
	fclose(mi);
	return cg_root_open_mounts(mi_path, ret);
}

/* Hierarchies mounted elsewhere (an old /cgroup/cpu layout): found from the mount table, not
 * from a mount hidden under another, not from a subtree mount, with escaped paths. */
static void test_mount_table(void **state)
{
	struct fx *f = *state;
	char old[PATH_MAX], mi_path[PATH_MAX], cpu[PATH_MAX], esc[PATH_MAX], v2[PATH_MAX];
	struct cg_root *root = NULL;
	_cleanup_close_ int fd = -1;
	FILE *mi;

	snprintf(old, sizeof(old), "%s/old layout", f->dir);
	snprintf(cpu, sizeof(cpu), "%s/cpu", old);
	snprintf(esc, sizeof(esc), "%s/old\\040layout", f->dir);
	snprintf(v2, sizeof(v2), "%s/v2", f->dir);
	mk_v1_cg(old, "/pod/c1");
	mk_v2_cg(v2, "/x");
	snprintf(mi_path, sizeof(mi_path), "%s/mountinfo", f->dir);
	mi = fopen(mi_path, "we");
	assert_non_null(mi);
	fprintf(mi, "garbage line\n");
	/* hidden: /proc is not on the device the line names */
	mount_line(mi, f->dir, "/", "/proc", "cgroup", "cpu,cpuacct");
	/* a subtree (as in a container) is not the hierarchy's root */
	mount_line(mi, f->dir, "/docker/x", f->dir, "cgroup", "memory");
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/cpu", esc);
		mount_line(mi, f->dir, "/", p, "cgroup", "cpu,cpuacct");
		snprintf(p, sizeof(p), "%s/memory", esc);
		mount_line(mi, f->dir, "/", p, "cgroup", "memory");
		mount_line(mi, f->dir, "/", "/somewhere/cpuacct", "cgroup", "cpuacct");
	}
	mount_line(mi, f->dir, "/", v2, "cgroup2", "nsdelegate");
	fclose(mi);
	assert_int_equal(cg_root_open_mounts(mi_path, &root), 0);
	assert_int_equal(cg_root_mode(root), CG_HYBRID);
	assert_string_equal(cg_primary_path(root), cpu);
	assert_true(cg_exists(root, "/pod/c1"));
	assert_int_equal(cg_open(root, CG_MEMORY, "/pod/c1", &fd), 0);
	assert_int_equal(cg_open(root, CG_PIDS, "/pod/c1", &fd), -ENOMEDIUM);
	set_u64(&f->l.cpu.shares, 300);
	set_u64(&f->l.mem.limit, 32ULL << 20);
	assert_int_equal(cg_apply(root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "old layout/cpu/pod/c1/cpu.shares", "300");
	assert_file(f, "old layout/memory/pod/c1/memory.limit_in_bytes", "33554432");
	cg_root_free(root);
	/* only a cgroup2 mount: unified there */
	assert_int_equal(open_one(f, mi_path, v2, "cgroup2", &root), 0);
	assert_int_equal(cg_root_mode(root), CG_UNIFIED);
	assert_string_equal(cg_primary_path(root), v2);
	assert_true(cg_exists(root, "/x"));
	cg_root_free(root);
	/* neither */
	assert_int_equal(open_one(f, mi_path, "/proc", "cgroup", &root), -ENOMEDIUM);
	assert_int_equal(cg_root_open_mounts("/nonexistent/mountinfo", &root), -ENOENT);
}

static void test_v1_swap_needs_limit(void **state)
{
	struct fx *f = *state;

	set_u64(&f->l.mem.swap, 64ULL << 20);
	set_u64(&f->l.pids.max, 7);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), -EINVAL);
	assert_int_equal(tl_knob(&f->r, "memory.swap")->error, -EINVAL);
	assert_file(f, "memory/pod/c1/memory.memsw.limit_in_bytes", UNLIMITED "\n");
	assert_file(f, "pids/pod/c1/pids.max", "7"); /* never stops at the first failure */
}

static void test_v1_combined_mount(void **state)
{
	struct fx *f = *state;
	char a[PATH_MAX], b[PATH_MAX];
	struct cg_root *root = NULL;

	snprintf(a, sizeof(a), "%s/cpu", f->dir);
	snprintf(b, sizeof(b), "%s/cpu,cpuacct", f->dir);
	assert_int_equal(rename(a, b), 0);
	/* only the comma-joined directory */
	assert_int_equal(cg_root_open(f->dir, &root), 0);
	assert_string_equal(cg_primary_path(root), b);
	assert_true(cg_exists(root, "/pod/c1"));
	cg_root_free(root);
	/* Debian: cpu -> cpu,cpuacct */
	assert_int_equal(symlink("cpu,cpuacct", a), 0);
	assert_int_equal(cg_root_open(f->dir, &root), 0);
	assert_string_equal(cg_primary_path(root), b);
	set_u64(&f->l.cpu.shares, 2048);
	assert_int_equal(cg_apply(root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "cpu,cpuacct/pod/c1/cpu.shares", "2048");
	cg_root_free(root);
}

static void test_v1_make(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	struct stat st;

	/* a fake cpuset hierarchy cannot give new directories their files: drop it here (the
	 * real-kernel test covers the copy) */
	snprintf(path, sizeof(path), "%s/cpuset", f->dir);
	assert_int_equal(nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	cg_root_free(f->root);
	assert_int_equal(cg_root_open(f->dir, &f->root), 0);
	assert_int_equal(cg_make(f->root, "/tenant/acme"), 0);
	assert_int_equal(cg_make(f->root, "/tenant/acme"), 0);
	for (int c = 0; c < _CG_CTRL_MAX; c++) {
		if (c == CG_CPUSET)
			continue;
		snprintf(path, sizeof(path), "%s/%s/tenant/acme", f->dir, cg_ctrl_name(c));
		assert_int_equal(stat(path, &st), 0);
	}
	assert_int_equal(cg_make(f->root, "/../x"), -EINVAL);
	assert_int_equal(cg_remove(f->root, "/tenant/acme"), 0);
	snprintf(path, sizeof(path), "%s/memory/tenant/acme", f->dir);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(cg_remove(f->root, "/tenant/acme"), 0);
	assert_int_equal(cg_enable_controllers(f->root, "/tenant"), 0); /* no-op on v1 */
}

static void test_pid_path(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *p = NULL, *q = NULL;
	char procfs[PATH_MAX];
	struct cg_root *v2 = NULL;

	tl_put(f->dir, "proc/42/cgroup",
	       "12:pids:/other\n4:cpu,cpuacct:/pod/c1\n2:memory:/pod/c1\n0::/user.slice\n");
	tl_put(f->dir, "proc/43/cgroup", "0::/sys/pod\n");
	tl_put(f->dir, "v2/cgroup.controllers", "cpu\n");
	snprintf(procfs, sizeof(procfs), "%s/proc", f->dir);
	assert_int_equal(cg_pid_path(f->root, procfs, 42, &p), 0);
	assert_string_equal(p, "/pod/c1");
	assert_int_equal(cg_pid_path(f->root, procfs, 43, &q), -ENODATA);
	assert_int_equal(cg_pid_path(f->root, procfs, 44, &q), -ESRCH);
	snprintf(procfs, sizeof(procfs), "%s/v2", f->dir);
	assert_int_equal(cg_root_open(procfs, &v2), 0);
	assert_int_equal(cg_root_mode(v2), CG_UNIFIED);
	snprintf(procfs, sizeof(procfs), "%s/proc", f->dir);
	assert_int_equal(cg_pid_path(v2, procfs, 43, &q), 0);
	assert_string_equal(q, "/sys/pod");
	cg_root_free(v2);
	free(p);
	p = NULL;
	assert_int_equal(cg_pid_path(f->root, NULL, getpid(), &p), 0);
	assert_true(p[0] == '/');
}

static void test_first_pid_children(void **state)
{
	struct fx *f = *state;
	char **v = NULL;
	pid_t pid = 0;

	tl_put(f->dir, "cpu/pod/c1/cgroup.procs", "4242\n17\n");
	assert_int_equal(cg_first_pid(f->root, "/pod/c1", &pid), 0);
	assert_int_equal(pid, 4242);
	tl_put(f->dir, "cpu/pod/cgroup.procs", "");
	assert_int_equal(cg_first_pid(f->root, "/pod", &pid), -ESRCH);
	assert_int_equal(pid, 4242);
	assert_int_equal(cg_first_pid(f->root, "/nope", &pid), -ENOENT);
	assert_int_equal(cg_list_children(f->root, "/pod", &v), 1);
	assert_string_equal(v[0], "c1");
	assert_null(v[1]);
	cg_strv_free(v);
	assert_int_equal(cg_list_children(f->root, "/pod/c1", &v), 0);
	assert_null(v[0]);
	cg_strv_free(v);
}

/* ---- v2 ---- */

/* A controller the parent does not enable: its knobs are missing, said once per controller with
 * the parent's name (cgroup.controllers is read only then, not on every apply), and the knobs of
 * the others are applied. */
static void test_v2_controller_off(void **state)
{
	struct fx *f = *state;
	const struct qos_knob *k;

	tl_put(f->dir, "pod/c2/cgroup.controllers", "cpu pids\n");
	tl_put(f->dir, "pod/c2/cpu.weight", "100\n");
	tl_put(f->dir, "pod/c2/pids.max", "max\n");
	set_u64(&f->l.mem.limit, 64ULL << 20);
	set_u64(&f->l.mem.reservation, 32ULL << 20);
	set_u64(&f->l.pids.max, 100);
	assert_int_equal(cg_apply(f->root, "/pod/c2", &f->l, false, &f->r), -EOPNOTSUPP);
	k = tl_knob(&f->r, "memory.limit");
	assert_int_equal(k->error, -EOPNOTSUPP);
	assert_non_null(strstr(k->error_msg, "the memory controller is not enabled for this "
					     "cgroup: its parent /pod does not enable it"));
	k = tl_knob(&f->r, "memory.reservation");
	assert_string_equal(k->error_msg, "memory controller not enabled (see above)");
	assert_null(tl_knob(&f->r, "pids.limit")->error_msg);
	assert_file(f, "pod/c2/pids.max", "100");
}

static void test_v2_cpu_max_halves(void **state)
{
	struct fx *f = *state;

	tl_put(f->dir, "pod/c1/cpu.max", "20000 100000\n");
	set_u64(&f->l.cpu.period_us, 50000);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "pod/c1/cpu.max", "20000 50000");
	report_done(&f->r);
	f->l.cpu.period_us.op = QOS_LEAVE;
	set_u64(&f->l.cpu.quota_us, 30000);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "pod/c1/cpu.max", "30000 50000");
	/* the same value spelled as one number is not rewritten */
	tl_put(f->dir, "pod/c1/cpu.max", "30000 50000\n");
	report_done(&f->r);
	assert_int_equal(cg_apply(f->root, "/pod/c1", &f->l, false, &f->r), 0);
	assert_file(f, "pod/c1/cpu.max", "30000 50000\n");
}

static void test_v2_enable_controllers(void **state)
{
	struct fx *f = *state;

	tl_put(f->dir, "cgroup.subtree_control", "cpu cpuset io memory\n");
	tl_put(f->dir, "pod/cgroup.controllers", "cpu memory pids\n");
	tl_put(f->dir, "pod/cgroup.subtree_control", "cpu memory\n");
	assert_int_equal(cg_enable_controllers(f->root, "/pod/c1"), 0);
	assert_file(f, "cgroup.subtree_control", "+pids");
	assert_file(f, "pod/cgroup.subtree_control", "+pids");
	tl_put(f->dir, "cgroup.subtree_control", "cpu cpuset io memory pids\n");
	tl_put(f->dir, "pod/cgroup.subtree_control", "cpu memory pids\n");
	assert_int_equal(cg_enable_controllers(f->root, "/pod/c1"), 0);
	assert_file(f, "cgroup.subtree_control", "cpu cpuset io memory pids\n");
	assert_file(f, "pod/cgroup.subtree_control", "cpu memory pids\n");
	assert_file(f, "pod/c1/cgroup.subtree_control", "\n"); /* cgpath itself untouched */
	assert_file(f, "cgroup.procs", "1\n");
	/* cg_make: mkdir, then the ancestors' controllers */
	tl_put(f->dir, "cgroup.subtree_control", "cpu\n");
	assert_int_equal(cg_make(f->root, "/t1"), 0);
	assert_file(f, "cgroup.subtree_control", "+pids");
	assert_true(cg_exists(f->root, "/t1"));
	assert_int_equal(cg_remove(f->root, "/t1"), 0);
	assert_false(cg_exists(f->root, "/t1"));
}

/* ---- the real kernel (root, v1 or hybrid host) ---- */

struct real {
	struct cg_root *root;
	char cg[64];
	pid_t child;
	struct qos_report r;
	struct qos_cg_limits l;
};

static int real_setup(void **state)
{
	struct real *x = calloc(1, sizeof(*x));
	struct statfs sfs;

	*state = x;
	if (geteuid() != 0 || statfs("/sys/fs/cgroup/memory", &sfs) < 0 ||
	    sfs.f_type != CGROUP_SUPER_MAGIC)
		return 0;
	if (cg_root_open("/sys/fs/cgroup", &x->root) < 0)
		return 0;
	snprintf(x->cg, sizeof(x->cg), "/qosd-test-%d-x", (int) getpid());
	return 0;
}

static int real_teardown(void **state)
{
	struct real *x = *state;

	if (x->child > 0) {
		kill(x->child, SIGKILL);
		waitpid(x->child, NULL, 0);
	}
	if (x->root) {
		for (int i = 0; i < 50 && cg_remove(x->root, x->cg) == -EBUSY; i++)
			usleep(20000);
		cg_root_free(x->root);
	}
	report_done(&x->r);
	free(x->l.cpu.cpus.v);
	free(x->l.cpu.mems.v);
	free(x);
	return 0;
}

static void real_assert(struct real *x, enum cg_ctrl c, const char *knob_file, const char *want)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *v = NULL;

	assert_int_equal(cg_open(x->root, c, x->cg, &fd), 0);
	assert_int_equal(cgfs_read(fd, knob_file, &v), 0);
	if (!streq(v, want))
		fail_msg("%s: \"%s\" != \"%s\"", knob_file, v, want);
}

static void real_apply(struct real *x)
{
	report_done(&x->r);
	assert_int_equal(cg_apply(x->root, x->cg, &x->l, false, &x->r), 0);
	assert_no_errors(&x->r);
}

static void test_real_v1(void **state)
{
	struct real *x = *state;
	_cleanup_free_ char *parent_cpus = NULL;
	_cleanup_close_ int rfd = -1;

	if (!x->root || cg_root_mode(x->root) == CG_UNIFIED)
		skip();
	assert_int_equal(cg_make(x->root, x->cg), 0);
	assert_int_equal(cg_open(x->root, CG_CPUSET, "/", &rfd), 0);
	assert_int_equal(cgfs_read(rfd, "cpuset.cpus", &parent_cpus), 0);
	real_assert(x, CG_CPUSET, "cpuset.cpus", parent_cpus); /* copied by cg_make */
	set_u64(&x->l.cpu.shares, 512);
	set_u64(&x->l.cpu.period_us, 100000);
	set_u64(&x->l.cpu.quota_us, 50000);
	set_str(&x->l.cpu.cpus, "0");
	set_str(&x->l.cpu.mems, "0");
	set_u64(&x->l.mem.limit, 64ULL << 20);
	set_u64(&x->l.mem.swap, 16ULL << 20);
	set_u64(&x->l.mem.reservation, 32ULL << 20);
	set_u64(&x->l.pids.max, 50);
	real_apply(x);
	real_assert(x, CG_CPU, "cpu.shares", "512");
	real_assert(x, CG_CPU, "cpu.cfs_quota_us", "50000");
	real_assert(x, CG_CPUSET, "cpuset.cpus", "0");
	real_assert(x, CG_MEMORY, "memory.limit_in_bytes", "67108864");
	real_assert(x, CG_MEMORY, "memory.memsw.limit_in_bytes", "83886080");
	real_assert(x, CG_MEMORY, "memory.soft_limit_in_bytes", "33554432");
	real_assert(x, CG_PIDS, "pids.max", "50");
	assert_string_equal(tl_knob(&x->r, "memory.swap")->applied, "83886080");
	/* lower both (memory first), then raise both (memsw first): the wrong order is EINVAL */
	set_u64(&x->l.mem.limit, 32ULL << 20);
	set_u64(&x->l.mem.swap, 8ULL << 20);
	real_apply(x);
	real_assert(x, CG_MEMORY, "memory.memsw.limit_in_bytes", "41943040");
	set_u64(&x->l.mem.limit, 128ULL << 20);
	set_u64(&x->l.mem.swap, 64ULL << 20);
	real_apply(x);
	real_assert(x, CG_MEMORY, "memory.limit_in_bytes", "134217728");
	real_assert(x, CG_MEMORY, "memory.memsw.limit_in_bytes", "201326592");
	/* shares are clamped silently: read back, not rewritten next time */
	set_u64(&x->l.cpu.shares, 1);
	real_apply(x);
	assert_string_equal(tl_knob(&x->r, "cpu.shares")->applied, "2");
	assert_string_equal(tl_knob(&x->r, "cpu.shares")->note, "clamped by the kernel to 2");
	real_apply(x); /* 2 is what 1 becomes: nothing to write */
	assert_null(tl_knob(&x->r, "cpu.shares")->note);
	clear_all(&x->l);
	real_apply(x);
	real_assert(x, CG_CPU, "cpu.shares", "1024");
	real_assert(x, CG_CPU, "cpu.cfs_quota_us", "-1");
	real_assert(x, CG_CPUSET, "cpuset.cpus", parent_cpus);
	real_assert(x, CG_MEMORY, "memory.limit_in_bytes", UNLIMITED);
	real_assert(x, CG_MEMORY, "memory.memsw.limit_in_bytes", UNLIMITED);
	real_assert(x, CG_PIDS, "pids.max", "max");
}

/* A limit below what the cgroup uses (anonymous memory, no swap device) is EBUSY on v1. */
/* This host's cgroup mounts are not plain trees (a knob write is not followed by a truncate),
 * and a cgroup removed and made again between two applies gets the second one's writes. */
static void test_real_recreated(void **state)
{
	struct real *x = *state;

	if (!x->root)
		skip();
	for (int c = 0; c < _CG_CTRL_MAX; c++)
		assert_false(cg_hier_plain(x->root, c));
	assert_int_equal(cg_make(x->root, x->cg), 0);
	set_u64(&x->l.pids.max, 100);
	set_u64(&x->l.mem.limit, 64ULL << 20);
	real_apply(x);
	real_assert(x, CG_PIDS, "pids.max", "100");
	assert_int_equal(cg_remove(x->root, x->cg), 0);
	assert_int_equal(cg_make(x->root, x->cg), 0);
	real_assert(x, CG_PIDS, "pids.max", "max");
	real_apply(x);
	real_assert(x, CG_PIDS, "pids.max", "100");
	real_assert(x, CG_MEMORY,
		    cg_root_mode(x->root) == CG_UNIFIED ? "memory.max" : "memory.limit_in_bytes",
		    "67108864");
}

static void test_real_v1_ebusy(void **state)
{
	struct real *x = *state;
	_cleanup_close_ int fd = -1;
	const struct qos_knob *k;
	int p[2], q[2];
	char buf[32];

	if (!x->root || cg_root_mode(x->root) == CG_UNIFIED)
		skip();
	assert_int_equal(cg_make(x->root, x->cg), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	x->child = fork();
	assert_true(x->child >= 0);
	if (x->child == 0) {
		volatile char *m;

		if (read(p[0], buf, 1) != 1)
			_exit(1);
		m = malloc(24 << 20);
		for (size_t i = 0; m && i < 24 << 20; i += 4096)
			m[i] = 1;
		if (write(q[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(cg_open(x->root, CG_MEMORY, x->cg, &fd), 0);
	{
		_cleanup_close_ int procs = openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);

		snprintf(buf, sizeof(buf), "%d", (int) x->child);
		assert_true(procs >= 0);
		assert_true(write(procs, buf, strlen(buf)) > 0);
	}
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(read(q[0], buf, 1), 1);
	set_u64(&x->l.mem.limit, 4ULL << 20);
	assert_int_equal(cg_apply(x->root, x->cg, &x->l, false, &x->r), -EBUSY);
	k = tl_knob(&x->r, "memory.limit");
	assert_int_equal(k->error, -EBUSY);
	assert_non_null(
		strstr(k->error_msg, "memory.limit_in_bytes: 4M is below the current usage"));
	print_message("# %s\n", k->error_msg);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/* Run tests once per version: their names get the version appended ("test_set v1"). */
static int run_on(const char *group, const struct CMUnitTest *tests, size_t n,
		  CMFixtureFunction group_setup)
{
	struct CMUnitTest t[16];
	char names[16][64];
	int r;

	assert_true(n <= ELEMENTSOF(t));
	for (size_t i = 0; i < n; i++) {
		t[i] = tests[i];
		snprintf(names[i], sizeof(names[i]), "%s %s", tests[i].name, group);
		t[i].name = names[i];
	}
	r = _cmocka_run_group_tests(group, t, n, group_setup, NULL);
	return r;
}

/* a test on a fresh fake tree of the group's version */
#define FAKE(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest both[] = {
		FAKE(test_detect),
		FAKE(test_set),
		FAKE(test_clear),
		FAKE(test_dry_run),
		FAKE(test_plain_tree_knob),
		FAKE(test_dirs_once),
		FAKE(test_recreated_cgroup),
	};
	const struct CMUnitTest v1[] = {
		FAKE(test_allow_list),		FAKE(test_open_dir_escapes),
		FAKE(test_long_knob_text),	FAKE(test_v1_normalized_compare),
		FAKE(test_v1_list_compare),	FAKE(test_v1_missing_dir),
		FAKE(test_v1_unused_hierarchy), FAKE(test_v1_swap_needs_limit),
		FAKE(test_v1_combined_mount),	FAKE(test_v1_make),
		FAKE(test_mount_table),		FAKE(test_pid_path),
		FAKE(test_first_pid_children),	FAKE(test_v1_made_while_yielding),
	};
	const struct CMUnitTest v2[] = {
		FAKE(test_v2_cpu_max_halves),
		FAKE(test_v2_controller_off),
		FAKE(test_v2_enable_controllers),
	};
	const struct CMUnitTest real[] = {
		cmocka_unit_test_setup_teardown(test_real_v1, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_v1_ebusy, real_setup, real_teardown),
		cmocka_unit_test_setup_teardown(test_real_recreated, real_setup, real_teardown),
	};
	int r = 0;

	r += run_on("v1", both, ELEMENTSOF(both), group_v1);
	r += run_on("v2", both, ELEMENTSOF(both), group_v2);
	r += cmocka_run_group_tests_name("cgroup v1", v1, group_v1, NULL);
	r += cmocka_run_group_tests_name("cgroup v2", v2, group_v2, NULL);
	r += cmocka_run_group_tests_name("cgroup on this host", real, NULL, NULL);
	return r;
}
