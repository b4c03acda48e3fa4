/* SPDX-License-Identifier: MIT */
/* quota/: id files, ranges, id choice and rebuild, path and directory checks, mountinfo. Pure or in
 * a temp directory; what needs quota support in the kernel is in tests/func/t-quota.sh (VM). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "qosd/util.h"
#include "quota/quota-internal.h"
#include "quota/quota.h"
#include "tests/unit/testlib.h"

static char tmpdir[256];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/qosd-test-%d-quota.XXXXXX", (int) getpid());
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	char *cmd = strprintf("rm -rf '%s'", tmpdir);
	int r = system(cmd);

	free(cmd);
	return r == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
	char *p = strprintf("%s/%s", tmpdir, name);

	assert_non_null(p);
	return p;
}

static void test_idset_parse(void **state)
{
	struct quota_idset s = { 0 };

	assert_int_equal(quota_idset_parse_projects(&s, "# comment\n100001:/srv/a\n  100005:/x y\n"
							"bad line\n42:/y\n:/z\n-3:/w\n"
							"99999999999:/big\n100001:/dup"),
			 0);
	assert_int_equal(s.n, 3);
	assert_true(quota_idset_has(&s, 42));
	assert_true(quota_idset_has(&s, 100001));
	assert_true(quota_idset_has(&s, 100005));
	assert_false(quota_idset_has(&s, 100002));
	assert_int_equal(quota_idset_parse_projid(&s, "web:100002\n#db:100003\nlogs:7:extra\nx:\n"),
			 0);
	assert_int_equal(s.n, 5);
	assert_true(quota_idset_has(&s, 100002));
	assert_true(quota_idset_has(&s, 7));
	assert_false(quota_idset_has(&s, 100003));
	for (size_t i = 1; i < s.n; i++)
		assert_true(s.v[i - 1] < s.v[i]);
	quota_idset_done(&s);
}

static void test_idset_load(void **state)
{
	_cleanup_free_ char *projects = tmp_path("projects"), *projid = tmp_path("projid");
	_cleanup_free_ char *missing = tmp_path("missing");
	struct quota_idset s = { 0 };

	tl_put(NULL, projects, "100010:/srv/x\n");
	tl_put(NULL, projid, "other:100011\n");
	assert_int_equal(quota_idset_load(&s, projects, projid), 0);
	assert_int_equal(s.n, 2);
	assert_true(quota_idset_has(&s, 100010) && quota_idset_has(&s, 100011));
	quota_idset_done(&s);
	assert_int_equal(quota_idset_load(&s, missing, missing), 0);
	assert_int_equal(s.n, 0);
	quota_idset_done(&s);
}

static void test_range(void **state)
{
	struct quota_idset res = { 0 };
	uint32_t lo = 0, hi = 0;
	char *msg = NULL;

	assert_int_equal(quota_range_resolve(0, 0, true, &res, &lo, &hi, &msg), 0);
	assert_int_equal(lo, QUOTA_RANGE32_LO);
	assert_int_equal(hi, QUOTA_RANGE32_HI);
	assert_int_equal(quota_range_resolve(0, 0, false, &res, &lo, &hi, &msg), 0);
	assert_int_equal(lo, QUOTA_RANGE16_LO);
	assert_int_equal(hi, QUOTA_RANGE16_HI);
	assert_true(hi < 65536);
	assert_int_equal(quota_range_resolve(70000, 70010, false, &res, &lo, &hi, &msg), -ERANGE);
	assert_non_null(strstr(msg, "projid32bit"));
	free(msg);
	msg = NULL;
	/* a range that overlaps /etc/projects: fine (those ids are skipped at allocation) */
	assert_int_equal(quota_idset_parse_projects(&res, "500:/a\n501:/b\n502:/c\n"), 0);
	assert_int_equal(quota_range_resolve(500, 503, false, &res, &lo, &hi, &msg), 0);
	assert_int_equal(lo, 500);
	/* a range entirely inside them: a clear error */
	assert_int_equal(quota_range_resolve(500, 502, false, &res, &lo, &hi, &msg), -ENOSPC);
	assert_non_null(strstr(msg, "/etc/projects"));
	assert_non_null(strstr(msg, "500-502"));
	free(msg);
	quota_idset_done(&res);
}

struct fake_fs {
	uint32_t in_use[8];
	size_t n_in_use;
	uint32_t taken[8];
	size_t n_taken;
	int fail_at; /* in_use returns -EIO for this id */
};

static bool fake_taken(uint32_t id, void *ud)
{
	struct fake_fs *f = ud;

	for (size_t i = 0; i < f->n_taken; i++)
		if (f->taken[i] == id)
			return true;
	return false;
}

static int fake_in_use(uint32_t id, void *ud)
{
	struct fake_fs *f = ud;

	if (f->fail_at && (uint32_t) f->fail_at == id)
		return -EIO;
	for (size_t i = 0; i < f->n_in_use; i++)
		if (f->in_use[i] == id)
			return 1;
	return 0;
}

static void test_pick(void **state)
{
	struct quota_idset res = { 0 }, held = { 0 };
	struct fake_fs f = {
		.taken = { 100000, 100002 }, .n_taken = 2, .in_use = { 100003 }, .n_in_use = 1
	};
	uint32_t id = 0;

	assert_int_equal(quota_idset_parse_projects(&res, "100001:/srv/admin\n"), 0);
	assert_int_equal(quota_idset_parse_projid(&held, "x:100004\n"), 0);
	/* 100000 taken, 100001 reserved, 100002 taken, 100003 has usage, 100004 held here */
	assert_int_equal(
		quota_id_pick(100000, 100010, &res, &held, fake_taken, &f, fake_in_use, &f, &id),
		0);
	assert_int_equal(id, 100005);
	/* exhaustion */
	id = 7;
	assert_int_equal(
		quota_id_pick(100000, 100004, &res, &held, fake_taken, &f, fake_in_use, &f, &id),
		-ENOSPC);
	assert_int_equal(id, 7);
	/* an error reading usage is not "free" */
	f.fail_at = 100005;
	assert_int_equal(
		quota_id_pick(100000, 100010, &res, &held, fake_taken, &f, fake_in_use, &f, &id),
		-EIO);
	/* id 0 ("no project") is never handed out */
	assert_int_equal(quota_id_pick(0, 1, &res, NULL, NULL, NULL, NULL, NULL, &id), 0);
	assert_int_equal(id, 1);
	quota_idset_done(&res);
	quota_idset_done(&held);
}

/* Restart logic: the state file's id wins; without it, the directory's own id (in range, not held
 * by another container) is reused, so kill -9 + lost state never gives a container a second id. */
static void test_decide(void **state)
{
	struct fake_fs f = { .taken = { 100007 }, .n_taken = 1 };
	uint32_t id = 99;

	assert_int_equal(quota_id_decide(100003, 100003, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 100003);
	/* state lost: rebuilt from the directory */
	assert_int_equal(quota_id_decide(0, 100003, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 100003);
	/* state id wins over a directory that was recreated (id 0) */
	assert_int_equal(quota_id_decide(100003, 0, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 100003);
	/* a directory id outside our range is not ours: allocate */
	assert_int_equal(quota_id_decide(0, 42, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(quota_id_decide(0, 0, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 0);
	/* the directory carries an id another container holds: refuse, never share or steal */
	id = 5;
	assert_int_equal(quota_id_decide(0, 100007, 100000, 199999, fake_taken, &f, &id), -EBUSY);
	assert_int_equal(quota_id_decide(100003, 100007, 100000, 199999, fake_taken, &f, &id),
			 -EBUSY);
	assert_int_equal(id, 5);
	/* the state file's own id is held by this container (the registry may list it) */
	assert_int_equal(quota_id_decide(100007, 100007, 100000, 199999, fake_taken, &f, &id), 0);
	assert_int_equal(id, 100007);
}

static void test_path_syntax(void **state)
{
	static const char *const bad[] = { "relative/dir", "",	 "/a/../b",	   "/a/..",
					   "/..",	   "..", "/a/b/../../etc", "/a\n/b" };
	static const char *const good[] = { "/",	"/a/b",	    "/a/..b/c",
					    "/a/b../c", "/a/.../c", "/var/lib/x/" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *msg = NULL;

		assert_true(quota_path_check_syntax(bad[i], &msg) < 0);
		assert_non_null(msg);
		free(msg);
	}
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		char *msg = NULL;

		assert_int_equal(quota_path_check_syntax(good[i], &msg), 0);
		assert_null(msg);
	}
}

static void test_path_under(void **state)
{
	assert_true(quota_path_under("/a/b", "/a"));
	assert_true(quota_path_under("/a", "/a"));
	assert_true(quota_path_under("/a/b", "/a/"));
	assert_true(quota_path_under("/a/b", "/"));
	assert_false(quota_path_under("/ab", "/a"));
	assert_false(quota_path_under("/", "/a"));
	assert_false(quota_path_under("/etc", "/var/lib"));
}

static const char mi_overlay[] =
	"22 1 0:21 / /proc rw - proc proc rw\n"
	"600 500 0:55 / / rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,"
	"upperdir=/var/lib/c/ab\\054c/up\\040dir,workdir=/var/lib/c/work,index=off\n"
	"601 600 0:56 / /proc rw - proc proc rw\n";

static void test_mountinfo_upperdir(void **state)
{
	char *up = NULL;

	assert_int_equal(quota_mountinfo_upperdir(mi_overlay, &up), 0);
	assert_string_equal(up, "/var/lib/c/ab,c/up dir");
	free(up);
	up = NULL;
	assert_int_equal(quota_mountinfo_upperdir("27 1 254:0 / / rw - ext4 /dev/vda rw\n", &up),
			 -ENOENT);
	assert_null(up);
	/* a later mount at / shadows the overlay */
	char *shadow = strprintf("%s700 600 0:57 / / rw - tmpfs tmpfs rw\n", mi_overlay);

	assert_int_equal(quota_mountinfo_upperdir(shadow, &up), -ENOENT);
	free(shadow);
	/* an overlay without upperdir (read-only) has no writable directory */
	assert_int_equal(quota_mountinfo_upperdir(
				 "9 1 0:5 / / ro - overlay overlay ro,lowerdir=/a:/b\n", &up),
			 -ENOENT);
	assert_int_equal(quota_mountinfo_upperdir("garbage\n\n1 2 3\n", &up), -ENOENT);
}

static void test_mountinfo_find(void **state)
{
	static const char mi[] = "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
				 "40 27 7:0 / /mnt/x rw - xfs /dev/loop0 rw,prjquota\n"
				 "41 40 7:0 /sub /mnt/x/deep\\040er rw - xfs /dev/loop0 rw\n"
				 "42 27 7:1 / /mnt/y rw - xfs /dev/loop1 rw\n";
	struct quota_mnt m = { 0 };

	assert_int_equal(quota_mountinfo_find(mi, makedev(7, 0), "/mnt/x/c1", &m), 0);
	assert_string_equal(m.mnt, "/mnt/x");
	assert_string_equal(m.fstype, "xfs");
	quota_mnt_done(&m);
	assert_int_equal(quota_mountinfo_find(mi, makedev(7, 0), "/mnt/x/deep er/c2", &m), 0);
	assert_string_equal(m.mnt, "/mnt/x/deep er");
	quota_mnt_done(&m);
	assert_int_equal(quota_mountinfo_find(mi, makedev(7, 2), "/mnt/x/c1", &m), -ENOENT);
	assert_int_equal(quota_mountinfo_find(mi, makedev(7, 1), "/mnt/x/c1", &m), -ENOENT);
}

static struct quota_ctx *ctx_with_root(const char *root)
{
	_cleanup_free_ char *projects = tmp_path("projects"), *projid = tmp_path("projid");
	const char *roots[] = { root };
	struct quota_config cfg = { .projects_file = projects,
				    .projid_file = projid,
				    .roots = roots,
				    .n_roots = root ? 1 : 0 };
	struct quota_ctx *ctx = NULL;

	assert_int_equal(quota_ctx_new(&cfg, &ctx), 0);
	return ctx;
}

static void expect_refused(struct quota_ctx *ctx, const char *dir, int err, const char *words)
{
	char *msg = NULL;
	int r = quota_dir_check(ctx, dir, &msg);

	if (err)
		assert_int_equal(r, err);
	else
		assert_true(r < 0);
	assert_non_null(msg);
	if (!strstr(msg, words))
		fail_msg("%s: message \"%s\" lacks \"%s\"", dir, msg, words);
	free(msg);
}

static void test_dir_check(void **state)
{
	_cleanup_free_ char *root = tmp_path("roots"), *c1 = tmp_path("roots/c1");
	_cleanup_free_ char *link = tmp_path("roots/etc-link"), *file = tmp_path("roots/file");
	_cleanup_free_ char *outside = tmp_path("outside"), *dotdot = tmp_path("roots/c1/../c1");
	_cleanup_free_ char *mid = tmp_path("roots/up"), *via = tmp_path("roots/up/etc");
	_cleanup_free_ char *gone = tmp_path("roots/gone");
	struct quota_ctx *ctx;

	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(c1, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(symlink("/", mid), 0);
	tl_put(NULL, file, "x");
	ctx = ctx_with_root(root);
	expect_refused(ctx, link, -ELOOP, "symbolic link (to /etc)");
	expect_refused(ctx, dotdot, -EINVAL, "\"..\"");
	expect_refused(ctx, outside, -EPERM, "outside the configured quota roots");
	expect_refused(ctx, "/etc", -EPERM, "outside the configured quota roots");
	/* a symlink in the middle of the path: judged by where it really leads */
	expect_refused(ctx, via, -EPERM, "really /etc");
	expect_refused(ctx, file, -ENOTDIR, "not a directory");
	expect_refused(ctx, gone, -ENOENT, "No such file");
	expect_refused(ctx, "relative", -EINVAL, "absolute");
	/* a good directory still needs project quota on its filesystem; this host has none */
	expect_refused(ctx, c1, 0, "quota");
	quota_ctx_free(ctx);
}

static void test_apply_refused(void **state)
{
	_cleanup_free_ char *link = tmp_path("etc-link2");
	struct qos_disk d = { .quota_bytes = { QOS_SET, 10u << 20 }, .inodes = { QOS_SET, 100 } };
	struct qos_disk none = { 0 };
	struct qos_report rep = { 0 };
	struct quota_ctx *ctx = ctx_with_root(NULL);
	uint32_t id = 123;

	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(quota_apply(ctx, link, &d, &id, NULL, NULL, false, &rep), -ELOOP);
	assert_int_equal(id, 123);
	assert_int_equal(rep.n, 2);
	assert_string_equal(rep.v[0].key, "disk.quota");
	assert_string_equal(rep.v[0].desired, "10M");
	assert_string_equal(rep.v[1].key, "disk.inodes");
	assert_string_equal(rep.v[1].desired, "100");
	assert_int_equal(report_errors(&rep), 2);
	assert_non_null(strstr(rep.v[0].error_msg, "symbolic link"));
	report_done(&rep);
	/* nothing asked and no id held: nothing done, nothing reported */
	id = 0;
	assert_int_equal(quota_apply(ctx, link, &none, &id, NULL, NULL, false, &rep), 0);
	assert_int_equal(rep.n, 0);
	quota_ctx_free(ctx);
}

static void test_release_gone(void **state)
{
	_cleanup_free_ char *gone = tmp_path("never/was/here");
	struct quota_ctx *ctx = ctx_with_root(NULL);

	assert_int_equal(quota_release(ctx, gone, 0), 0);
	/* the directory is gone: its nearest ancestor's filesystem is used; this host has no quota
	 * support, so the release reports it (and must not crash or hang) */
	assert_true(quota_release(ctx, gone, 100001) <= 0);
	assert_true(quota_release(ctx, "relative", 100001) < 0);
	quota_ctx_free(ctx);
}

static void test_dir_for_container(void **state)
{
	char *d = NULL;

	/* this test's own root is not an overlay: the bundle's rootfs */
	assert_int_equal(quota_dir_for_container(getpid(), "/run/c/b1/", &d), 0);
	assert_string_equal(d, "/run/c/b1/rootfs");
	free(d);
	d = NULL;
	assert_int_equal(quota_dir_for_container(0, "/run/c/b2", &d), 0);
	assert_string_equal(d, "/run/c/b2/rootfs");
	free(d);
	d = NULL;
	assert_int_equal(quota_dir_for_container(0, NULL, &d), -ENOENT);
	assert_null(d);
}

static void test_ctx_config(void **state)
{
	struct quota_config bad1 = { .range_lo = 10, .range_hi = 5 };
	struct quota_config bad2 = { .range_lo = 0, .range_hi = 5 };
	struct quota_config ok = { .range_lo = 5, .range_hi = 5 };
	struct quota_ctx *ctx = NULL;

	assert_int_equal(quota_ctx_new(&bad1, &ctx), -EINVAL);
	assert_int_equal(quota_ctx_new(&bad2, &ctx), -EINVAL);
	assert_null(ctx);
	assert_int_equal(quota_ctx_new(&ok, &ctx), 0);
	quota_ctx_free(ctx);
	quota_ctx_free(NULL);
}

static void test_format(void **state)
{
	char buf[32];

	quota_format_size(10u << 20, buf, sizeof(buf));
	assert_string_equal(buf, "10M");
	quota_format_size(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1536");
	quota_format_size(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	quota_format_size(1ull << 40, buf, sizeof(buf));
	assert_string_equal(buf, "1T");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idset_parse),
		cmocka_unit_test(test_idset_load),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_path_syntax),
		cmocka_unit_test(test_path_under),
		cmocka_unit_test(test_mountinfo_upperdir),
		cmocka_unit_test(test_mountinfo_find),
		cmocka_unit_test(test_dir_check),
		cmocka_unit_test(test_apply_refused),
		cmocka_unit_test(test_release_gone),
		cmocka_unit_test(test_dir_for_container),
		cmocka_unit_test(test_ctx_config),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
