/* SPDX-License-Identifier: MIT */
/* blkio target resolution and merge rules: a fake sysfs tree and mountinfo in a temp directory
 * (partitions, loop, dm), plus read-only checks against the real /sys where that is safe. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "blkio/blkio.h"
#include "tests/unit/testlib.h"

struct fx {
	char tmp[64]; /* the fake tree's root */
	char sys[128];
	char mi[128];
	char data[128]; /* a directory on a real disk filesystem, or "" */
	dev_t data_dev;
	struct blkio_ctx *ctx;
};

/* A block device directory under devices/ with its dev/block link, like the kernel's. */
static void fake_dev(struct fx *fx, const char *rel, unsigned ma, unsigned mi, bool part)
{
	_cleanup_free_ char *dir = strprintf("%s/devices/%s", fx->sys, rel);
	_cleanup_free_ char *cmd = strprintf("mkdir -p '%s'", dir);
	_cleanup_free_ char *link = strprintf("%s/dev/block/%u:%u", fx->sys, ma, mi);
	_cleanup_free_ char *target = strprintf("../../devices/%s", rel);
	_cleanup_free_ char *devs = strprintf("%u:%u\n", ma, mi);

	assert_int_equal(system(cmd), 0);
	tl_put(dir, "dev", devs);
	if (part)
		tl_put(dir, "partition", "1\n");
	assert_int_equal(symlink(target, link), 0);
}

/* The data directory's filesystem becomes partition 2 of a fake disk "fakedisk", so a path
 * resolves through stat -> partition -> disk without touching any real device. */
static void fake_data_fs(struct fx *fx)
{
	struct stat st;
	_cleanup_free_ char *rel = NULL;

	snprintf(fx->data, sizeof(fx->data), "/var/tmp/qosd-test-%d-blkio-data", getpid());
	if (mkdir(fx->data, 0700) < 0 || stat(fx->data, &st) < 0 || major(st.st_dev) == 0) {
		rmdir(fx->data);
		fx->data[0] = 0;
		return;
	}
	fx->data_dev = st.st_dev;
	rel = strprintf("virtual/block/fakedisk/fakedisk%u", minor(st.st_dev));
	fake_dev(fx, "virtual/block/fakedisk", 4000, 0, false);
	fake_dev(fx, rel, major(st.st_dev), minor(st.st_dev), true);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	_cleanup_free_ char *cmd = NULL;

	assert_non_null(fx);
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/qosd-test-%d-blkio.XXXXXX", getpid());
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->sys, sizeof(fx->sys), "%s/sys", fx->tmp);
	snprintf(fx->mi, sizeof(fx->mi), "%s/mountinfo", fx->tmp);
	cmd = strprintf("mkdir -p '%s/dev/block'", fx->sys);
	assert_int_equal(system(cmd), 0);
	fake_dev(fx, "virtual/block/loop0", 7, 0, false);
	fake_dev(fx, "pci0000:00/virtio1/block/vda", 253, 0, false);
	fake_dev(fx, "pci0000:00/virtio1/block/vda/vda1", 253, 1, true);
	fake_dev(fx, "pci0000:00/virtio1/block/vda/vda2", 253, 2, true);
	fake_dev(fx, "virtual/block/dm-0", 252, 0, false);
	fake_dev(fx, "virtual/block/md0", 9, 0, false);
	/* a partition with an extended minor (major 259), as loop partitions get */
	fake_dev(fx, "virtual/block/loop1", 7, 1, false);
	fake_dev(fx, "virtual/block/loop1/loop1p1", 259, 0, true);
	fake_data_fs(fx);
	tl_put(fx->tmp, "mountinfo", "");
	assert_int_equal(blkio_ctx_new(&fx->ctx), 0);
	assert_int_equal(blkio_ctx_set_roots(fx->ctx, fx->sys, fx->mi), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	_cleanup_free_ char *cmd = strprintf("rm -rf '%s'", fx->tmp);

	blkio_ctx_free(fx->ctx);
	assert_int_equal(system(cmd), 0);
	if (fx->data[0]) {
		free(cmd);
		cmd = strprintf("rm -rf '%s'", fx->data);
		assert_int_equal(system(cmd), 0);
	}
	free(fx);
	return 0;
}

static void resolve_ok(struct fx *fx, const char *target, dev_t want, const char *want_note)
{
	_cleanup_free_ char *note = NULL;
	dev_t d = 0;

	assert_int_equal(blkio_resolve(fx->ctx, target, &d, &note), 0);
	assert_int_equal(major(d), major(want));
	assert_int_equal(minor(d), minor(want));
	if (want_note)
		assert_string_equal(note, want_note);
	else
		assert_null(note);
}

static void resolve_err(struct fx *fx, const char *target, int err, const char *msg_part)
{
	_cleanup_free_ char *msg = NULL;
	dev_t d = makedev(1, 1);
	char *note = (char *) "untouched";

	assert_int_equal(blkio_resolve_full(fx->ctx, target, &d, &note, &msg), err);
	assert_int_equal(d, makedev(1, 1));
	assert_string_equal(note, "untouched");
	assert_non_null(msg);
	assert_non_null(strstr(msg, msg_part));
}

static void test_majmin(void **state)
{
	struct fx *fx = *state;

	resolve_ok(fx, "7:0", makedev(7, 0), NULL);
	resolve_ok(fx, "253:0", makedev(253, 0), NULL);
	resolve_ok(fx, "252:0", makedev(252, 0), NULL); /* dm: throttled as itself */
	resolve_ok(fx, "9:0", makedev(9, 0), NULL); /* md: as itself */
}

static void test_partition(void **state)
{
	struct fx *fx = *state;

	resolve_ok(fx, "253:1", makedev(253, 0),
		   "253:1 (vda1) is a partition: throttling its disk vda 253:0");
	resolve_ok(fx, "253:2", makedev(253, 0),
		   "253:2 (vda2) is a partition: throttling its disk vda 253:0");
	resolve_ok(fx, "259:0", makedev(7, 1),
		   "259:0 (loop1p1) is a partition: throttling its disk loop1 7:1");
}

static void test_bad_targets(void **state)
{
	struct fx *fx = *state;

	resolve_err(fx, "999:999", -ENODEV, "no block device 999:999");
	resolve_err(fx, "8:", -EINVAL, "\"8:\"");
	resolve_err(fx, "8:1x", -EINVAL, "not a device path");
	resolve_err(fx, ":1", -EINVAL, "not a device path");
	resolve_err(fx, "sda", -EINVAL, "\"sda\"");
	resolve_err(fx, "", -EINVAL, "not a device path");
	resolve_err(fx, "/nonexistent-qosd-test", -ENOENT, "/nonexistent-qosd-test: No such file");
	resolve_err(fx, "/dev/null", -ENOTBLK, "/dev/null is a character device");
}

/* A path means the disk under its filesystem, with the partition remark. */
static void test_path(void **state)
{
	struct fx *fx = *state;
	_cleanup_free_ char *file = NULL, *note = NULL, *link = NULL;

	if (!fx->data[0])
		skip();
	file = strprintf("%s/f", fx->data);
	tl_put(fx->data, "f", "x");
	note = strprintf("%s is on fakedisk%u (%u:%u), a partition: throttling its disk fakedisk "
			 "4000:0",
			 file, minor(fx->data_dev), major(fx->data_dev), minor(fx->data_dev));
	resolve_ok(fx, file, makedev(4000, 0), note);
	free(note);
	/* a symlink to it means the same */
	link = strprintf("%s/link", fx->data);
	assert_int_equal(symlink(file, link), 0);
	note = strprintf("%s is on fakedisk%u (%u:%u), a partition: throttling its disk fakedisk "
			 "4000:0",
			 link, minor(fx->data_dev), major(fx->data_dev), minor(fx->data_dev));
	resolve_ok(fx, link, makedev(4000, 0), note);
}

/* Anonymous devices: an overlay mount throttles under its upperdir (escaped in mountinfo as
 * the kernel does), tmpfs has no disk. /proc stands in for the mount: its st_dev is anonymous. */
static void test_overlay_and_tmpfs(void **state)
{
	struct fx *fx = *state;
	_cleanup_free_ char *upper = NULL, *line = NULL, *esc = NULL, *cmd = NULL;
	struct stat st;
	dev_t d;

	if (!fx->data[0] || stat("/proc", &st) < 0 || major(st.st_dev) != 0)
		skip();
	upper = strprintf("%s/up per,1", fx->data);
	assert_int_equal(mkdir(upper, 0700), 0);
	esc = strprintf("%s/up\\040per\\0541", fx->data);
	line = strprintf("99 1 %u:%u / /proc rw - overlay overlay rw,lowerdir=/l,upperdir=%s,"
			 "workdir=/w\n",
			 major(st.st_dev), minor(st.st_dev), esc);
	tl_put(fx->tmp, "mountinfo", line);
	assert_int_equal(blkio_resolve(fx->ctx, "/proc", &d, NULL), 0);
	assert_int_equal(d, makedev(4000, 0));
	free(line);
	line = strprintf("99 1 %u:%u / /proc rw shared:5 - tmpfs tmpfs rw\n", major(st.st_dev),
			 minor(st.st_dev));
	tl_put(fx->tmp, "mountinfo", line);
	resolve_err(fx, "/proc", -ENODEV, "is on tmpfs");
	/* btrfs-like: the source names the block device; a subvolume's own anonymous device is
	 * not in mountinfo, so the mount with the longest mountpoint above the path counts */
	if (stat("/dev/loop0", &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 0)) {
		tl_put(fx->tmp, "mountinfo",
		       "1 0 0:9999 / / rw - ext4 /dev/nothing rw\n"
		       "99 1 0:9998 / /proc rw - btrfs /dev/loop0 rw\n");
		resolve_ok(fx, "/proc/self", makedev(7, 0), "/proc/self is on loop0 (7:0)");
	}
	cmd = strprintf("rmdir '%s'", upper);
	assert_int_equal(system(cmd), 0);
}

/* Merge: two targets on one disk give one entry with the smaller limit and a note naming
 * both; other kinds on the same disk stay separate. Dry run on an empty fake v1 cgroup. */
static void test_merge(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = {
		{ .target = (char *) "253:2", .kind = QOS_IO_WBPS, .value = 5 << 20 },
		{ .target = (char *) "253:1", .kind = QOS_IO_WBPS, .value = 2 << 20 },
		{ .target = (char *) "253:0", .kind = QOS_IO_RBPS, .value = 7 },
	};
	struct qos_io io = { .targets = t, .n_targets = ELEMENTSOF(t) };
	struct qos_report r = { 0 };
	_cleanup_close_ int fd = -1;
	const char *files[] = { "read_bps", "write_bps", "read_iops", "write_iops" };

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *n = strprintf("blkio.throttle.%s_device", files[i]);

		tl_put(fx->tmp, n, "");
	}
	fd = open(fx->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(blkio_apply(fx->ctx, fd, false, &io, true, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].key, "blkio.read_bps");
	assert_string_equal(r.v[0].object, "blkio.throttle.read_bps_device 253:0");
	assert_string_equal(r.v[0].desired, "7");
	assert_string_equal(r.v[0].applied, "max");
	assert_string_equal(r.v[1].key, "blkio.write_bps");
	assert_string_equal(r.v[1].object, "blkio.throttle.write_bps_device 253:0");
	assert_string_equal(r.v[1].desired, "2097152");
	assert_non_null(strstr(r.v[1].note, "253:2 (5242880) and 253:1 (2097152) both resolve to "
					    "disk 253:0: using the smaller, 2097152"));
	assert_non_null(strstr(r.v[1].note, "253:1 (vda1) is a partition"));
	assert_false(r.v[1].written);
	report_done(&r);
}

/* The real /sys, read only: udev and the sysfs walk agree on every block device. */
static void test_real_sys_agrees(void **state)
{
	struct blkio_ctx *u = NULL, *s = NULL;
	_cleanup_close_ int fd = open("/sys/dev/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FILE *ls;
	char name[64];

	if (fd < 0)
		skip();
	assert_int_equal(blkio_ctx_new(&u), 0);
	assert_int_equal(blkio_ctx_new(&s), 0);
	/* any root but "/sys" itself turns udev off */
	assert_int_equal(blkio_ctx_set_roots(s, "/sys/.", NULL), 0);
	ls = popen("ls /sys/dev/block", "re");
	assert_non_null(ls);
	while (fscanf(ls, "%63s", name) == 1) {
		_cleanup_free_ char *nu = NULL, *ns = NULL;
		dev_t du = 0, ds = 0;
		int ru = blkio_resolve(u, name, &du, &nu), rs = blkio_resolve(s, name, &ds, &ns);

		assert_int_equal(ru, rs);
		assert_int_equal(du, ds);
		if (nu || ns)
			assert_string_equal(nu, ns);
	}
	pclose(ls);
	blkio_ctx_free(u);
	blkio_ctx_free(s);
	(void) state;
}

/* The root filesystem resolves to a whole disk, or to a clear ENODEV in a container. */
static void test_real_root(void **state)
{
	struct blkio_ctx *ctx = NULL;
	_cleanup_free_ char *msg = NULL, *part = NULL;
	dev_t d = 0;
	int r;

	assert_int_equal(blkio_ctx_new(&ctx), 0);
	r = blkio_resolve_full(ctx, "/", &d, NULL, &msg);
	if (r == 0) {
		part = strprintf("/sys/dev/block/%u:%u/partition", major(d), minor(d));
		assert_int_not_equal(access(part, F_OK), 0);
	} else {
		assert_int_equal(r, -ENODEV);
		assert_non_null(msg);
	}
	blkio_ctx_free(ctx);
	(void) state;
}

/* The monitor drains without blocking; as root, a synthetic "change" uevent on loop0 (harmless:
 * it re-announces the device) must be seen. */
static void test_monitor(void **state)
{
	struct blkio_ctx *ctx = NULL;
	struct pollfd p = { .events = POLLIN };
	bool changed = true;
	uint64_t t0;
	int fd;

	assert_int_equal(blkio_ctx_new(&ctx), 0);
	assert_int_equal(blkio_monitor_process(ctx, &changed), -EBADF);
	assert_int_equal(blkio_monitor_open(ctx, &p.fd), 0);
	assert_int_equal(blkio_monitor_open(ctx, &fd), 0);
	assert_int_equal(fd, p.fd);
	t0 = now_usec();
	assert_int_equal(blkio_monitor_process(ctx, &changed), 0);
	assert_true(now_usec() - t0 < 1000000);
	if (geteuid() == 0 && access("/sys/block/loop0/uevent", W_OK) == 0) {
		fd = open("/sys/block/loop0/uevent", O_WRONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "change", 6), 6);
		close(fd);
		changed = false;
		for (int i = 0; i < 50 && !changed; i++) {
			if (poll(&p, 1, 100) > 0)
				assert_int_equal(blkio_monitor_process(ctx, &changed), 0);
		}
		assert_true(changed);
	}
	blkio_ctx_free(ctx);
	(void) state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_majmin),
		cmocka_unit_test(test_partition),
		cmocka_unit_test(test_bad_targets),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_overlay_and_tmpfs),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_real_sys_agrees),
		cmocka_unit_test(test_real_root),
		cmocka_unit_test(test_monitor),
	};

	return cmocka_run_group_tests_name("blkio", tests, setup, teardown);
}
