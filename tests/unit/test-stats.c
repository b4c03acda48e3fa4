/* SPDX-License-Identifier: MIT */
/* The kernel statistics parsers (qosd/stats.c) on the texts the kernel prints, the kept fds of
 * stats_read_kept (a fake v1 tree; the removal and re-creation of a real cgroup as root), and
 * the metrics_listen syntax. */
#include <sys/resource.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cmocka.h>

#include "qosd/config.h"
#include "qosd/stats.h"
#include "qosd/util.h"
#include "testlib.h"

static void keyed_finds_whole_keys(void **state)
{
	const char *v1 = "nr_periods 120\nnr_throttled 7\nthrottled_time 123456789\n"
			 "nr_bursts 0\nburst_time 0";
	const char *ev = "low 0\nhigh 3\nmax 11\noom 2\noom_kill 1\noom_group_kill 0";
	uint64_t v = 0;

	assert_int_equal(stats_keyed(v1, "nr_throttled", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(stats_keyed(v1, "throttled_time", &v), 0);
	assert_int_equal(v, 123456789);
	/* "oom" must not match "oom_kill" or "oom_group_kill", nor "max" a longer key */
	assert_int_equal(stats_keyed(ev, "oom", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(stats_keyed(ev, "oom_kill", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(stats_keyed(ev, "max", &v), 0);
	assert_int_equal(v, 11);
	assert_int_equal(stats_keyed(ev, "nosuch", &v), -ENOENT);
	assert_int_equal(stats_keyed("max x", "max", &v), -EBADMSG);
}

static void psi_takes_both_totals(void **state)
{
	const char *t = "some avg10=1.00 avg60=0.50 avg300=0.10 total=22087058\n"
			"full avg10=0.90 avg60=0.40 avg300=0.05 total=20394130\n";
	uint64_t some = 0, full = 0;

	assert_int_equal(stats_psi(t, &some, &full), 0);
	assert_int_equal(some, 22087058);
	assert_int_equal(full, 20394130);
	some = full = 5;
	assert_int_equal(stats_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=9", &some, &full),
			 0);
	assert_int_equal(some, 9);
	assert_int_equal(full, 5); /* no full line (cpu.pressure on old kernels): untouched */
	assert_int_equal(stats_psi("", &some, &full), -ENOENT);
}

static void io_v2_lines_per_device(void **state)
{
	struct qos_cg_stats s = { 0 };

	stats_parse_io_v2("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
			  "253:1 wios=5 rbytes=10 wbytes=20 rios=3\n",
			  &s);
	assert_int_equal(s.n_io, 2);
	assert_int_equal(s.io[0].major, 8);
	assert_int_equal(s.io[0].rbytes, 4096);
	assert_int_equal(s.io[0].wbytes, 8192);
	assert_int_equal(s.io[0].wios, 2);
	assert_int_equal(s.io[1].major, 253);
	assert_int_equal(s.io[1].minor, 1);
	assert_int_equal(s.io[1].rios, 3);
	assert_int_equal(s.io[1].wios, 5);
}

static void io_v1_bytes_and_ops_merge(void **state)
{
	struct qos_cg_stats s = { 0 };

	stats_parse_io_v1("8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Async 0\n"
			  "8:0 Discard 0\n8:0 Total 300\nTotal 300\n",
			  true, &s);
	stats_parse_io_v1("8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n", false, &s);
	assert_int_equal(s.n_io, 1);
	assert_int_equal(s.io[0].rbytes, 100);
	assert_int_equal(s.io[0].wbytes, 200);
	assert_int_equal(s.io[0].rios, 1);
	assert_int_equal(s.io[0].wios, 2);
}

static void io_devices_are_capped(void **state)
{
	struct qos_cg_stats s = { 0 };
	char text[4096] = "";

	for (int i = 0; i < STATS_IO_DEVS_MAX + 5; i++) {
		char line[64];

		snprintf(line, sizeof(line), "8:%d rbytes=1 wbytes=1 rios=1 wios=1\n", i);
		strcat(text, line);
	}
	stats_parse_io_v2(text, &s);
	assert_int_equal(s.n_io, STATS_IO_DEVS_MAX);
}

#define K(k, st, scale)                     \
	{                                   \
		k, sizeof(k) - 1, st, scale \
	}

/* The one-pass scanner: whole keys only, scale applied, bad values and overflow skipped, no NUL
 * needed (the length bounds it). */
static void scan_keyed_one_pass(void **state)
{
	static const struct stats_key keys[] = {
		K("usage_usec", ST_CPU_USAGE_NS, 1000),
		K("nr_throttled", ST_CPU_THROTTLED_PERIODS, 1),
		K("oom", ST_MEM_EV_OOM, 1),
		K("max", ST_MEM_EV_MAX, 1),
		K("high", ST_MEM_EV_HIGH, 1),
	};
	const char *t = "usage_usec 1500\nuser_usec 1000\nnr_throttled 7\noom_kill 9\n"
			"oom_group_kill 8\noom 2\nmax 12x\nhigh 18446744073709551616\nlow 1";
	struct qos_cg_stats s = { 0 };

	assert_int_equal(stats_scan_keyed(t, strlen(t), keys, ELEMENTSOF(keys), &s), 3);
	assert_int_equal(s.v[ST_CPU_USAGE_NS], 1500000);
	assert_int_equal(s.v[ST_CPU_THROTTLED_PERIODS], 7);
	assert_int_equal(s.v[ST_MEM_EV_OOM], 2); /* not oom_kill's 9 or oom_group_kill's 8 */
	assert_false(s.have & (1u << ST_MEM_EV_MAX)); /* "12x" is not a number */
	assert_false(s.have & (1u << ST_MEM_EV_HIGH)); /* 2^64 overflows */
	assert_int_equal(s.have, (1u << ST_CPU_USAGE_NS) | (1u << ST_CPU_THROTTLED_PERIODS) |
					 (1u << ST_MEM_EV_OOM));
	/* the length bounds the text: "oom 2" cut to "oom " has no value, "nr_throttled 7" to
	 * "nr_thr" no key */
	s = (struct qos_cg_stats){ 0 };
	assert_int_equal(stats_scan_keyed("oom 2", 4, keys, ELEMENTSOF(keys), &s), 0);
	assert_int_equal(stats_scan_keyed("nr_throttled 7", 6, keys, ELEMENTSOF(keys), &s), 0);
	assert_int_equal(stats_scan_keyed("", 0, keys, ELEMENTSOF(keys), &s), 0);
	assert_int_equal(s.have, 0);
	/* a scale that would overflow is skipped, not wrapped */
	assert_int_equal(stats_scan_keyed("usage_usec 18446744073709552", 28, keys, 1, &s), 0);
}

static void psi_text_bounded(void **state)
{
	const char *t = "some avg10=0.00 avg60=0.00 avg300=0.00 total=77\n"
			"full avg10=0.00 avg60=0.00 avg300=0.00 total=66\n";
	uint64_t some = 0, full = 0;

	/* only the first line's bytes: full untouched */
	assert_int_equal(stats_psi_text(t, strchr(t, '\n') - t, &some, &full), 0);
	assert_int_equal(some, 77);
	assert_int_equal(full, 0);
	assert_int_equal(stats_psi_text("some total=", 11, &some, &full), -ENOENT);
	assert_int_equal(stats_psi_text("other total=5", 13, &some, &full), -ENOENT);
}

/* A fake v1 tree (a temp directory is not cgroup2, so stats_ctx_new reads it as v1). */
static char *fake_v1_tree(void)
{
	char *dir = strdup("/tmp/qosd-test-stats-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	for (int i = 1; i <= 2; i++) {
		char rel[64], val[32];

		snprintf(rel, sizeof(rel), "cpu/c%d/cpu.stat", i);
		tl_put(dir, rel, "nr_periods 10\nnr_throttled 3\nthrottled_time 4000\n");
		snprintf(rel, sizeof(rel), "cpu/c%d/cpu.cfs_quota_us", i);
		tl_put(dir, rel, "-1\n");
		snprintf(rel, sizeof(rel), "cpuacct/c%d/cpuacct.usage", i);
		tl_put(dir, rel, "123456\n");
		snprintf(rel, sizeof(rel), "memory/c%d/memory.limit_in_bytes", i);
		snprintf(val, sizeof(val), "%d\n", i * 1048576);
		tl_put(dir, rel, val);
		snprintf(rel, sizeof(rel), "memory/c%d/memory.oom_control", i);
		tl_put(dir, rel, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	}
	return dir;
}

/* Kept fds read the file as it is now (offset 0 each time), follow a changed path, fall back to
 * open-per-read over the budget, and are closed when a pass does not read their cgroup. */
static void kept_fds_follow_the_files(void **state)
{
	_cleanup_free_ char *dir = fake_v1_tree();
	struct stats_ctx *ctx = NULL;
	struct qos_cg_stats s;
	struct stats_paths p = { .cgpath = "/c1" };

	assert_int_equal(stats_ctx_new(dir, &ctx), 0);
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(s.v[ST_CPU_THROTTLED_NS], 4000);
	assert_int_equal(s.v[ST_CPU_USAGE_NS], 123456);
	assert_int_equal(s.v[ST_MEM_LIMIT], 1048576);
	assert_int_equal(s.v[ST_MEM_EV_OOM_KILL], 1);
	assert_false(s.have & (1u << ST_CPU_QUOTA_US)); /* -1: unlimited */
	assert_int_equal(stats_ctx_kept(ctx), 5); /* the five files that exist */
	/* rewritten in place (same inode, as kernfs regenerates): the new text */
	tl_put(dir, "cpu/c1/cpu.stat", "nr_periods 11\nnr_throttled 4\nthrottled_time 9000\n");
	tl_put(dir, "memory/c1/memory.limit_in_bytes", "9223372036854771712\n");
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(s.v[ST_CPU_THROTTLED_NS], 9000);
	assert_false(s.have & (1u << ST_MEM_LIMIT)); /* v1's unlimited */
	assert_int_equal(stats_ctx_kept(ctx), 5);
	/* the container's memory path changed: that hierarchy's fds are opened again there */
	p.memory = "/c2";
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(s.v[ST_MEM_LIMIT], 2097152);
	assert_int_equal(s.v[ST_CPU_THROTTLED_NS], 9000);
	assert_int_equal(stats_ctx_kept(ctx), 5);
	/* a pass that did not read c1: its fds are closed */
	stats_forget_unread(ctx);
	assert_int_equal(stats_ctx_kept(ctx), 5); /* read in the pass just ended */
	stats_forget_unread(ctx);
	assert_int_equal(stats_ctx_kept(ctx), 0);
	/* no budget: read all the same, nothing kept */
	stats_ctx_set_kept_max(ctx, 2);
	p.memory = NULL;
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(s.v[ST_MEM_EV_OOM_KILL], 1);
	assert_int_equal(s.v[ST_CPU_THROTTLED_NS], 9000);
	assert_int_equal(s.v[ST_CPU_USAGE_NS], 123456);
	assert_int_equal(stats_ctx_kept(ctx),
			 1); /* cpuacct's one file fit; cpu's two and memory's two did not */
	/* a cgroup in no hierarchy */
	p.cgpath = "/nosuch";
	assert_int_equal(stats_read_kept(ctx, &p, &s), -ENOENT);
	stats_ctx_free(ctx);
	tl_rm_tree(dir);
}

/* Out of fds while keeping: the cgroup is still read (open per read), the budget is cut to what
 * is kept, and stats_fd_limit_hit says so once (metrics logs it). */
static void kept_fds_out_of_fds(void **state)
{
	_cleanup_free_ char *dir = fake_v1_tree();
	struct stats_ctx *ctx = NULL;
	struct qos_cg_stats s;
	struct stats_paths p = { .cgpath = "/c1" };
	struct rlimit was, low;
	int spare;

	assert_int_equal(stats_ctx_new(dir, &ctx), 0);
	assert_false(stats_fd_limit_hit(ctx));
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	/* fds are handed out lowest first: a limit 3 above the lowest free one leaves at most 3,
	 * and keeping c1 takes 5 files and their directories */
	spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(spare >= 0);
	close(spare);
	low = was;
	low.rlim_cur = (rlim_t) spare + 3;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_true(stats_fd_limit_hit(ctx));
	assert_false(stats_fd_limit_hit(ctx)); /* said once */
	assert_int_equal(s.v[ST_CPU_THROTTLED_NS], 4000); /* read all the same */
	assert_int_equal(s.v[ST_MEM_EV_OOM_KILL], 1);
	assert_true(stats_ctx_kept(ctx) < 5);
	stats_ctx_free(ctx);
	tl_rm_tree(dir);
}

/* A real cgroup removed and made again under the same name between two reads: the kept fds
 * fail with ENODEV and are opened again on the new cgroup (root and cgroupfs needed). */
static char cg_dir[256];

static int cg_teardown(void **state)
{
	if (cg_dir[0])
		(void) rmdir(cg_dir);
	return 0;
}

static void cg_make(const char *limit_file, const char *limit)
{
	char knob[512];
	int fd;

	if (mkdir(cg_dir, 0755) < 0)
		fail_msg("mkdir %s: %s", cg_dir, strerror(errno));
	snprintf(knob, sizeof(knob), "%s/%s", cg_dir, limit_file);
	fd = open(knob, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, limit, strlen(limit)) != (ssize_t) strlen(limit))
		fail_msg("%s: %s", knob, strerror(errno));
	close(fd);
}

static void kept_fds_reopen_after_enodev(void **state)
{
	struct stats_ctx *ctx = NULL;
	struct qos_cg_stats s;
	char cgpath[64];
	struct statfs sf;
	const char *limit_file;
	bool v2;

	if (geteuid() != 0 || statfs("/sys/fs/cgroup", &sf) < 0) {
		print_message("SKIP: kept_fds_reopen_after_enodev: needs root and cgroupfs\n");
		skip();
	}
	v2 = sf.f_type == CGROUP2_SUPER_MAGIC;
	limit_file = v2 ? "memory.max" : "memory.limit_in_bytes";
	snprintf(cgpath, sizeof(cgpath), "/qosd-test-%d-stats", (int) getpid());
	snprintf(cg_dir, sizeof(cg_dir), "/sys/fs/cgroup%s%s", v2 ? "" : "/memory", cgpath);
	cg_make(limit_file, "67108864");
	assert_int_equal(stats_ctx_new("/sys/fs/cgroup", &ctx), 0);

	const struct stats_paths p = { .cgpath = cgpath };
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_int_equal(s.v[ST_MEM_LIMIT], 67108864);
	assert_true(stats_ctx_kept(ctx) > 0);
	/* removed and made again with another limit: the old fds say ENODEV */
	assert_int_equal(rmdir(cg_dir), 0);
	cg_make(limit_file, "33554432");
	assert_int_equal(stats_read_kept(ctx, &p, &s), 0);
	assert_true(s.have & (1u << ST_MEM_LIMIT));
	assert_int_equal(s.v[ST_MEM_LIMIT], 33554432);
	/* removed for good: gone, and its fds closed */
	assert_int_equal(rmdir(cg_dir), 0);
	cg_dir[0] = 0;
	assert_int_equal(stats_read_kept(ctx, &p, &s), -ENOENT);
	assert_int_equal(stats_ctx_kept(ctx), 0);
	stats_ctx_free(ctx);
}

static void listen_syntax(void **state)
{
	static const char *const good[][3] = {
		{ "127.0.0.1:9464", "127.0.0.1", "9464" },
		{ "[::1]:9464", "::1", "9464" },
		{ "localhost:1", "localhost", "1" },
		{ "/run/qosd/metrics.sock", "/run/qosd/metrics.sock", NULL },
	};
	static const char *const bad[] = { "localhost",	    "9464",	 ":9464",
					   "127.0.0.1:",    "1.2.3.4:0", "1.2.3.4:65536",
					   "1.2.3.4:12ab",  "::1:9464",	 "[::1]9464",
					   "relative/path", "" };

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		char *h = NULL, *p = NULL;

		if (config_listen_parse(good[i][0], &h, &p) != 0)
			fail_msg("\"%s\" refused", good[i][0]);
		assert_string_equal(h, good[i][1]);
		if (good[i][2])
			assert_string_equal(p, good[i][2]);
		else
			assert_null(p);
		free(h);
		free(p);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *h = NULL, *p = NULL;

		if (config_listen_parse(bad[i], &h, &p) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keyed_finds_whole_keys),
		cmocka_unit_test(psi_takes_both_totals),
		cmocka_unit_test(io_v2_lines_per_device),
		cmocka_unit_test(io_v1_bytes_and_ops_merge),
		cmocka_unit_test(io_devices_are_capped),
		cmocka_unit_test(scan_keyed_one_pass),
		cmocka_unit_test(psi_text_bounded),
		cmocka_unit_test(kept_fds_follow_the_files),
		cmocka_unit_test(kept_fds_out_of_fds),
		cmocka_unit_test_teardown(kept_fds_reopen_after_enodev, cg_teardown),
		cmocka_unit_test(listen_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
