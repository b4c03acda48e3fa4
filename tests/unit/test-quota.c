/* SPDX-License-Identifier: MIT */
/* quota/: id files, ranges, id choice and rebuild, path and directory checks, mountinfo. Pure or in
 * a temp directory; what needs quota support in the kernel is in tests/func/t-quota.sh (VM). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "qosd/diskdir.h"
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

/* Host mount tables as each runtime leaves them at createRuntime (recorded shapes; ids shortened).
 * The container's own table is never read: these are the host's (qosd's) view. */
#define MI_HOST "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
#define PODMAN_L "/var/lib/containers/storage/overlay/6b1f09"
#define CTRD_S "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
#define CTRD_B "/run/containerd/io.containerd.runtime.v2.task"
static const struct {
	const char *name, *bundle, *config, *mountinfo, *upper;
} runtimes[] = {
	/* runc and crun with a plain directory as rootfs: nothing mounted there on the host */
	{ "runc", "/run/qt/b1", "{\"root\":{\"path\":\"rootfs\"}}", MI_HOST, "/run/qt/b1/rootfs" },
	{ "crun", "/run/qt/b2/", "{\"root\":{\"path\":\"rootfs/\",\"readonly\":false}}", MI_HOST,
	  "/run/qt/b2/rootfs" },
	/* podman (runc or crun): bundle userdata/, rootfs the storage overlay's merged directory */
	{ "podman", "/var/lib/containers/storage/overlay-containers/c0ffee/userdata",
	  "{\"root\":{\"path\":\"" PODMAN_L "/merged\"}}",
	  MI_HOST "612 22 0:61 / " PODMAN_L "/merged rw,nodev,relatime - overlay overlay "
		  "rw,context=\"system_u:object_r:container_file_t:s0:c1,c2\",lowerdir=/var/lib/"
		  "containers/storage/overlay/l/ABC:/var/lib/containers/storage/overlay/l/DEF,"
		  "upperdir=" PODMAN_L "/diff,workdir=" PODMAN_L "/work,metacopy=on\n",
	  PODMAN_L "/diff" },
	/* recorded on this host: podman 4.3.1, runc, kernel 6.18 (the store at /var/lib/containers
	 * instead of the test's temporary one) */
	{ "podman-4.3.1-recorded", "/var/lib/containers/storage/overlay-containers/9f1/userdata",
	  "{\"root\":{\"path\":\"/var/lib/containers/storage/overlay/17b1aa04e3e4/merged\"}}",
	  MI_HOST
	  "47 43 0:40 / /var/lib/containers/storage/overlay/17b1aa04e3e4/merged rw,relatime - "
	  "overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/ROZGDGJOGU5BO7F5GF"
	  "VXA55HGL,upperdir=/var/lib/containers/storage/overlay/17b1aa04e3e4/diff,workdir=/var/"
	  "lib/containers/storage/overlay/17b1aa04e3e4/work,uuid=on\n",
	  "/var/lib/containers/storage/overlay/17b1aa04e3e4/diff" },
	/* CRI-O: the same storage, the bundle under /run */
	{ "cri-o", "/run/containers/storage/overlay-containers/beef/userdata",
	  "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/var/lib/containers/storage/overlay/"
	  "77aa/merged\"}}",
	  MI_HOST "700 22 0:70 / /var/lib/containers/storage/overlay/77aa/merged rw,relatime "
		  "shared:300 - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/"
		  "Q1,upperdir=/var/lib/containers/storage/overlay/77aa/diff,workdir=/var/lib/"
		  "containers/storage/overlay/77aa/work,volatile\n",
	  "/var/lib/containers/storage/overlay/77aa/diff" },
	/* containerd: the snapshotter's overlay mounted at BUNDLE/rootfs */
	{ "containerd", CTRD_B "/k8s.io/abc123", "{\"root\":{\"path\":\"rootfs\"}}",
	  MI_HOST "801 22 0:80 / " CTRD_B "/k8s.io/abc123/rootfs rw,relatime - overlay overlay "
		  "rw,lowerdir=" CTRD_S "/12/fs:" CTRD_S "/11/fs,upperdir=" CTRD_S "/34/fs,"
		  "workdir=" CTRD_S "/34/work\n",
	  CTRD_S "/34/fs" },
	/* Docker: overlay2's merged directory, mounted by dockerd */
	{ "docker", CTRD_B "/moby/d0c",
	  "{\"root\":{\"path\":\"/var/lib/docker/overlay2/e1/merged\"}}",
	  MI_HOST "900 22 0:90 / /var/lib/docker/overlay2/e1/merged rw,relatime - overlay overlay "
		  "rw,lowerdir=/var/lib/docker/overlay2/l/X1:/var/lib/docker/overlay2/l/X2,"
		  "upperdir=/var/lib/docker/overlay2/e1/diff,workdir=/var/lib/docker/overlay2/e1/"
		  "work\n",
	  "/var/lib/docker/overlay2/e1/diff" },
	/* Docker with many layers: options relative to the storage directory */
	{ "docker-relative", CTRD_B "/moby/d0d",
	  "{\"root\":{\"path\":\"/var/lib/docker/overlay2/e2/merged\"}}",
	  MI_HOST "901 22 0:91 / /var/lib/docker/overlay2/e2/merged rw,relatime - overlay overlay "
		  "rw,lowerdir=l/X1:l/X2,upperdir=e2/diff,workdir=e2/work\n",
	  "/var/lib/docker/overlay2/e2/diff" },
};

static const char *mountinfo_of(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(runtimes); i++)
		if (streq(runtimes[i].name, name))
			return runtimes[i].mountinfo;
	fail_msg("no runtime sample %s", name);
	return NULL;
}

static void test_layer_per_runtime(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(runtimes); i++) {
		_cleanup_free_ char *rootfs = NULL, *layer = NULL, *msg = NULL;

		assert_int_equal(diskdir_rootfs_of(runtimes[i].bundle, runtimes[i].config, &rootfs),
				 0);
		if (diskdir_layer_in(runtimes[i].mountinfo, rootfs, &layer, &msg) < 0)
			fail_msg("%s: %s", runtimes[i].name, msg ? msg : "?");
		if (!streq(layer, runtimes[i].upper))
			fail_msg("%s: writable layer %s, expected %s", runtimes[i].name, layer,
				 runtimes[i].upper);
	}
}

static void test_layer_refused(void **state)
{
	_cleanup_free_ char *rootfs = NULL, *layer = NULL, *msg = NULL, *shadow = NULL;

	/* no config.json (or not JSON): BUNDLE/rootfs */
	assert_int_equal(diskdir_rootfs_of("/b", NULL, &rootfs), 0);
	assert_string_equal(rootfs, "/b/rootfs");
	free(rootfs);
	assert_int_equal(diskdir_rootfs_of("/b", "{not json", &rootfs), 0);
	assert_string_equal(rootfs, "/b/rootfs");
	assert_int_equal(diskdir_rootfs_of("relative", NULL, &layer), -EINVAL);
	/* a bind mount of /etc as the rootfs: its content is someone else's */
	assert_int_equal(diskdir_layer_in(MI_HOST "50 22 254:0 /etc /b/rootfs rw - ext4 /dev/vda "
						  "rw\n",
					  "/b/rootfs", &layer, &msg),
			 -EPERM);
	assert_non_null(strstr(msg, "not an overlay"));
	free(msg);
	msg = NULL;
	/* a later mount at the same point shadows the overlay */
	shadow = strprintf("%s60 22 0:61 / " CTRD_B "/k8s.io/abc123/rootfs rw - tmpfs tmpfs rw\n",
			   mountinfo_of("containerd"));
	assert_int_equal(diskdir_layer_in(shadow, CTRD_B "/k8s.io/abc123/rootfs", &layer, &msg),
			 -EPERM);
	free(msg);
	msg = NULL;
	/* the host's root is never a container's writable layer */
	assert_int_equal(diskdir_layer_in(MI_HOST, "/", &layer, &msg), -EPERM);
	free(msg);
	msg = NULL;
	/* an overlay without upperdir (read-only) or with one Docker's rule cannot place */
	assert_int_equal(diskdir_layer_in("9 1 0:5 / /r ro - overlay overlay ro,lowerdir=/a:/b\n",
					  "/r", &layer, &msg),
			 -EPERM);
	free(msg);
	msg = NULL;
	assert_int_equal(
		diskdir_layer_in("9 1 0:5 / /r rw - overlay overlay rw,upperdir=u,workdir=w\n",
				 "/r", &layer, &msg),
		-EPERM);
	assert_null(layer);
}

static void test_upper_by_dev(void **state)
{
	char *up = NULL;

	assert_int_equal(quota_mountinfo_upper_by_dev(mountinfo_of("docker"), makedev(0, 90), &up),
			 0);
	assert_string_equal(up, "/var/lib/docker/overlay2/e1/diff");
	free(up);
	up = NULL;
	assert_int_equal(quota_mountinfo_upper_by_dev(mountinfo_of("docker"), makedev(254, 0), &up),
			 -ENOENT);
	assert_int_equal(quota_mountinfo_upper_by_dev("garbage\n\n1 2 3\n", makedev(0, 90), &up),
			 -ENOENT);
	assert_null(up);
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

static struct quota_ctx *ctx_new(unsigned walk_step)
{
	_cleanup_free_ char *projects = tmp_path("projects"), *projid = tmp_path("projid");
	struct quota_config cfg = { .projects_file = projects,
				    .projid_file = projid,
				    .walk_step = walk_step };
	struct quota_ctx *ctx = NULL;

	assert_int_equal(quota_ctx_new(&cfg, &ctx), 0);
	return ctx;
}

static void expect_refused(const struct diskdir_rules *rules, const char *dir, const char *bundle,
			   int err, const char *words)
{
	char *msg = NULL, *out = NULL;
	int r = diskdir_decide(rules, dir, bundle, 0, &out, &msg);

	if (err)
		assert_int_equal(r, err);
	else
		assert_true(r < 0);
	assert_null(out);
	assert_non_null(msg);
	if (!strstr(msg, words))
		fail_msg("%s: message \"%s\" lacks \"%s\"", dir, msg, words);
	free(msg);
}

static char *decided(const struct diskdir_rules *rules, const char *dir, const char *bundle)
{
	char *msg = NULL, *out = NULL;

	if (diskdir_decide(rules, dir, bundle, 0, &out, &msg) < 0)
		fail_msg("%s: refused: %s", dir ? dir : "(layer)", msg);
	return out;
}

/* The attacker names places outside its own writable layer: refused, whatever the route. */
static void test_diskdir_decide(void **state)
{
	_cleanup_free_ char *root = tmp_path("roots"), *c1 = tmp_path("roots/c1");
	_cleanup_free_ char *link = tmp_path("roots/etc-link"), *file = tmp_path("roots/file");
	_cleanup_free_ char *outside = tmp_path("outside"), *dotdot = tmp_path("roots/c1/../c1");
	_cleanup_free_ char *mid = tmp_path("roots/up"), *via = tmp_path("roots/up/etc");
	_cleanup_free_ char *gone = tmp_path("roots/gone"), *bundle = tmp_path("bundle");
	_cleanup_free_ char *rootfs = tmp_path("bundle/rootfs"),
			    *data = tmp_path("bundle/rootfs/d");
	_cleanup_free_ char *other = tmp_path("other"), *orootfs = tmp_path("other/rootfs");
	_cleanup_free_ char *esc = tmp_path("bundle/rootfs/esc");
	char *d;
	struct diskdir_rules with_root = { .quota_roots = root };
	struct diskdir_rules none = { 0 };

	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(c1, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(mkdir(bundle, 0755), 0);
	assert_int_equal(mkdir(rootfs, 0755), 0);
	assert_int_equal(mkdir(data, 0755), 0);
	assert_int_equal(mkdir(other, 0755), 0);
	assert_int_equal(mkdir(orootfs, 0755), 0);
	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(symlink("/", mid), 0);
	assert_int_equal(symlink(orootfs, esc), 0);
	tl_put(NULL, file, "x");
	expect_refused(&with_root, link, NULL, -ELOOP, "symbolic link (to /etc)");
	expect_refused(&with_root, dotdot, NULL, -EINVAL, "\"..\"");
	expect_refused(&with_root, outside, NULL, -EPERM, "outside the configured quota roots");
	expect_refused(&with_root, "/etc", bundle, -EPERM, "outside the configured quota roots");
	expect_refused(&with_root, "/var/lib", bundle, -EPERM, "writable layer");
	/* a symlink in the middle of the path: judged by where it really leads */
	expect_refused(&with_root, via, NULL, -EPERM, "really /etc");
	expect_refused(&with_root, file, NULL, -ENOTDIR, "not a directory");
	expect_refused(&with_root, gone, NULL, -ENOENT, "No such file");
	expect_refused(&with_root, "relative", NULL, -EINVAL, "absolute");
	/* no quota_roots (the default): only the container's own writable layer */
	expect_refused(&none, c1, bundle, -EPERM, "none configured");
	expect_refused(&none, c1, NULL, -EPERM, "none configured");
	/* another container's directory, also through a symlink planted in one's own layer */
	expect_refused(&none, orootfs, bundle, -EPERM, "outside the container's writable layer");
	expect_refused(&none, esc, bundle, -ELOOP, "symbolic link");
	/* allowed: under a root, in the layer, or the whole layer (canonical paths) */
	d = decided(&with_root, c1, NULL);
	assert_string_equal(d, c1);
	free(d);
	d = decided(&none, data, bundle);
	assert_string_equal(d, data);
	free(d);
	d = decided(&none, NULL, bundle);
	assert_string_equal(d, rootfs);
	free(d);
	/* without a bundle the pid's root is used: this process has not left the host's root */
	expect_refused(&none, NULL, NULL, -ESRCH, "no directory to limit");
}

static void test_apply_refused(void **state)
{
	_cleanup_free_ char *link = tmp_path("etc-link2");
	struct qos_disk d = { .quota_bytes = { QOS_SET, 10u << 20 }, .inodes = { QOS_SET, 100 } };
	struct qos_disk none = { 0 };
	struct qos_report rep = { 0 };
	struct quota_ctx *ctx = ctx_new(0);
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

static bool has_inherit(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint32_t id;
	bool inherit = false;

	assert_true(fd >= 0);
	assert_int_equal(quota_fd_get_projid(fd, &id, &inherit), 0);
	return inherit;
}

static int walk_open(const char *top, struct quota_walk **w)
{
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return quota_walk_new(fd, 0, w);
}

/* A walk cut short leaves the top untagged (so the next pass redoes it); only a finished walk
 * tags the top. Id 0 with PROJINHERIT works on any ext4/XFS, quota support or not. */
static void test_walk_top_last(void **state)
{
	_cleanup_free_ char *top = tmp_path("walk"), *a = tmp_path("walk/a");
	_cleanup_free_ char *b = tmp_path("walk/a/b");
	struct quota_walk *w = NULL;
	char *msg = NULL;
	int steps = 0, r;

	assert_int_equal(mkdir(top, 0755), 0);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	for (int i = 0; i < 6; i++) {
		_cleanup_free_ char *f = strprintf("%s/f%d", i % 2 ? b : top, i);

		tl_put(NULL, f, "x");
	}
	assert_int_equal(walk_open(top, &w), 0);
	while ((r = quota_walk_step(w, 2, NULL, NULL, &msg)) == 0) {
		steps++;
		if (has_inherit(top))
			fail_msg("the top was tagged after %d steps, before the walk ended", steps);
	}
	assert_int_equal(r, 1);
	assert_null(msg);
	/* 3 entries in the top, 1 in a, 3 in b, twice (check, then tag), 2 per step */
	assert_true(steps >= 6);
	assert_true(has_inherit(top));
	assert_true(has_inherit(a));
	assert_true(has_inherit(b));
	quota_walk_free(w);
}

/* Deeper than the walk goes: refused before anything is tagged. */
static void test_walk_too_deep(void **state)
{
	_cleanup_free_ char *top = tmp_path("deep"), *mid = NULL;
	_cleanup_close_ int fd = -1;
	struct quota_walk *w = NULL;
	char *msg = NULL;

	assert_int_equal(mkdir(top, 0755), 0);
	fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 260; i++) {
		int next;

		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	assert_int_equal(walk_open(top, &w), 0);
	assert_int_equal(quota_walk_step(w, 0, NULL, NULL, &msg), -ELOOP);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "directories deep"));
	free(msg);
	quota_walk_free(w);
	mid = tmp_path("deep/d/d");
	assert_false(has_inherit(top));
	assert_false(has_inherit(mid));
}

static void test_release_gone(void **state)
{
	_cleanup_free_ char *gone = tmp_path("never/was/here");
	struct quota_ctx *ctx = ctx_new(0);

	assert_int_equal(quota_release(ctx, gone, 0), 0);
	/* the directory is gone: its nearest ancestor's filesystem is used; this host has no quota
	 * support, so the release reports it (and must not crash or hang) */
	assert_true(quota_release(ctx, gone, 100001) <= 0);
	assert_true(quota_release(ctx, "relative", 100001) < 0);
	quota_ctx_free(ctx);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idset_parse),    cmocka_unit_test(test_idset_load),
		cmocka_unit_test(test_range),	       cmocka_unit_test(test_pick),
		cmocka_unit_test(test_decide),	       cmocka_unit_test(test_path_syntax),
		cmocka_unit_test(test_path_under),     cmocka_unit_test(test_layer_per_runtime),
		cmocka_unit_test(test_layer_refused),  cmocka_unit_test(test_upper_by_dev),
		cmocka_unit_test(test_mountinfo_find), cmocka_unit_test(test_diskdir_decide),
		cmocka_unit_test(test_apply_refused),  cmocka_unit_test(test_walk_top_last),
		cmocka_unit_test(test_walk_too_deep),  cmocka_unit_test(test_release_gone),
		cmocka_unit_test(test_ctx_config),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
