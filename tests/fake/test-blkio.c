/* SPDX-License-Identifier: MIT */
/* blkio writers against a fake cgroup directory: the four v1 throttle files and v2 io.max, what
 * is written (only what differs), read back, cleared when owned, and errors that leave the rest
 * applied. A regular file keeps only the last write (O_TRUNC), so each case checks one line. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "blkio/blkio.h"
#include "tests/unit/testlib.h"

static const char *const v1_files[] = {
	"blkio.throttle.read_bps_device",
	"blkio.throttle.write_bps_device",
	"blkio.throttle.read_iops_device",
	"blkio.throttle.write_iops_device",
};

struct fx {
	char tmp[64];
	char cg[96]; /* the fake cgroup */
	int cgfd;
	struct blkio_ctx *ctx;
	struct qos_report r;
};

static char *get(struct fx *fx, const char *name)
{
	char *s = NULL;

	assert_true(read_file_at(fx->cgfd, name, 4096, &s) >= 0);
	return s;
}

static void sh(const char *fmt, const char *arg)
{
	_cleanup_free_ char *cmd = strprintf(fmt, arg, arg, arg);

	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	_cleanup_free_ char *sys = NULL;

	assert_non_null(fx);
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/qosd-test-%d-blkio-fake.XXXXXX", getpid());
	assert_non_null(mkdtemp(fx->tmp));
	/* fake sysfs: loop0 7:0, vda 253:0 with partition vda1 253:1 */
	sh("cd '%s' && mkdir -p cg sys/dev/block sys/devices/loop0 sys/devices/vda/vda1", fx->tmp);
	sh("cd '%s/sys' && echo 7:0 > devices/loop0/dev && echo 253:0 > devices/vda/dev && "
	   "echo 253:1 > devices/vda/vda1/dev && echo 1 > devices/vda/vda1/partition",
	   fx->tmp);
	sh("cd '%s/sys/dev/block' && ln -s ../../devices/loop0 7:0 && ln -s ../../devices/vda "
	   "253:0 "
	   "&& ln -s ../../devices/vda/vda1 253:1",
	   fx->tmp);
	snprintf(fx->cg, sizeof(fx->cg), "%s/cg", fx->tmp);
	fx->cgfd = open(fx->cg, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->cgfd >= 0);
	sys = strprintf("%s/sys", fx->tmp);
	assert_int_equal(blkio_ctx_new(&fx->ctx), 0);
	assert_int_equal(blkio_ctx_set_roots(fx->ctx, sys, "/dev/null"), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	report_done(&fx->r);
	blkio_ctx_free(fx->ctx);
	close(fx->cgfd);
	sh("rm -rf '%s'", fx->tmp);
	free(fx);
	return 0;
}

/* Each test starts with empty v1 files and io.max and an empty report. */
static int reset(void **state)
{
	struct fx *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(v1_files); i++)
		tl_put(fx->cg, v1_files[i], "");
	tl_put(fx->cg, "io.max", "");
	report_done(&fx->r);
	return 0;
}

#define T(t, k, v)                                                \
	{                                                         \
		.target = (char *) (t), .kind = (k), .value = (v) \
	}

static int apply(struct fx *fx, bool v2, bool own, bool dry, struct qos_io_target *t, size_t n)
{
	struct qos_io io = { .targets = t, .n_targets = n, .own = own };

	report_done(&fx->r);
	return blkio_apply(fx->ctx, fx->cgfd, v2, &io, dry, &fx->r);
}

static struct qos_knob *knob(struct fx *fx, const char *object)
{
	for (size_t i = 0; i < fx->r.n; i++)
		if (streq(fx->r.v[i].object, object))
			return &fx->r.v[i];
	fail_msg("no report entry for %s", object);
	return NULL;
}

static void check_knob(struct fx *fx, const char *object, const char *key, const char *desired,
		       const char *applied, bool written)
{
	struct qos_knob *k = knob(fx, object);

	assert_string_equal(k->key, key);
	assert_string_equal(k->desired, desired);
	assert_string_equal(k->applied, applied);
	assert_int_equal(k->written, written);
	assert_int_equal(k->error, 0);
}

static void test_v1_write(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 2 << 20), T("7:0", QOS_IO_RIOPS, 50),
				     T("253:1", QOS_IO_WIOPS, 9) };
	_cleanup_free_ char *w = NULL, *ri = NULL, *wi = NULL, *rb = NULL;

	assert_int_equal(apply(fx, false, false, false, t, ELEMENTSOF(t)), 0);
	assert_int_equal(fx->r.n, 3);
	w = get(fx, "blkio.throttle.write_bps_device");
	ri = get(fx, "blkio.throttle.read_iops_device");
	wi = get(fx, "blkio.throttle.write_iops_device");
	rb = get(fx, "blkio.throttle.read_bps_device");
	assert_string_equal(w, "7:0 2097152");
	assert_string_equal(ri, "7:0 50");
	assert_string_equal(wi, "253:0 9");
	assert_string_equal(rb, "");
	check_knob(fx, "blkio.throttle.write_bps_device 7:0", "blkio.write_bps", "2097152",
		   "2097152", true);
	check_knob(fx, "blkio.throttle.read_iops_device 7:0", "blkio.read_iops", "50", "50", true);
	check_knob(fx, "blkio.throttle.write_iops_device 253:0", "blkio.write_iops", "9", "9",
		   true);
	assert_string_equal(knob(fx, "blkio.throttle.write_iops_device 253:0")->note,
			    "253:1 (vda1) is a partition: throttling its disk vda 253:0");
	assert_string_equal(knob(fx, "blkio.throttle.write_bps_device 7:0")->before, "max");
}

/* What the kernel has already is not written again; other devices' lines stay. */
static void test_v1_idempotent(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 2 << 20) };
	_cleanup_free_ char *w = NULL;

	tl_put(fx->cg, "blkio.throttle.write_bps_device", "8:16 100\n7:0 2097152\n");
	assert_int_equal(apply(fx, false, false, false, t, 1), 0);
	assert_int_equal(fx->r.n, 1);
	check_knob(fx, "blkio.throttle.write_bps_device 7:0", "blkio.write_bps", "2097152",
		   "2097152", false);
	assert_null(fx->r.v[0].before);
	w = get(fx, "blkio.throttle.write_bps_device");
	assert_string_equal(w, "8:16 100\n7:0 2097152\n");
}

/* Owned: a device the policy no longer names is cleared with "MAJ:MIN 0". */
static void test_v1_own_clears(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 2 << 20) };
	_cleanup_free_ char *w = NULL;

	tl_put(fx->cg, "blkio.throttle.write_bps_device", "8:16 100\n7:0 2097152\n");
	assert_int_equal(apply(fx, false, true, false, t, 1), 0);
	assert_int_equal(fx->r.n, 2);
	w = get(fx, "blkio.throttle.write_bps_device");
	assert_string_equal(w, "8:16 0");
	check_knob(fx, "blkio.throttle.write_bps_device 8:16", "blkio.write_bps", "max", "max",
		   true);
	assert_string_equal(knob(fx, "blkio.throttle.write_bps_device 8:16")->before, "100");
}

/* Dry run reads only: applied is what the kernel has. */
static void test_v1_dry_run(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_RBPS, 1 << 20) };
	_cleanup_free_ char *rb = NULL;

	tl_put(fx->cg, "blkio.throttle.read_bps_device", "7:0 5\n");
	assert_int_equal(apply(fx, false, true, true, t, 1), 0);
	check_knob(fx, "blkio.throttle.read_bps_device 7:0", "blkio.read_bps", "1048576", "5",
		   false);
	rb = get(fx, "blkio.throttle.read_bps_device");
	assert_string_equal(rb, "7:0 5\n");
}

/* A bad target is reported with its name; the rest still applies; the first error returns. */
static void test_v1_bad_target_rest_applies(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("/nonexistent-qosd-test", QOS_IO_WBPS, 1),
				     T("999:999", QOS_IO_WBPS, 1), T("/dev/null", QOS_IO_WBPS, 1),
				     T("7:0", QOS_IO_WBPS, 3) };
	struct qos_knob *k;
	_cleanup_free_ char *w = NULL;

	assert_int_equal(apply(fx, false, false, false, t, ELEMENTSOF(t)), -ENOENT);
	assert_int_equal(fx->r.n, 4);
	k = knob(fx, "blkio.throttle.write_bps_device /nonexistent-qosd-test");
	assert_int_equal(k->error, -ENOENT);
	assert_string_equal(k->error_msg,
			    "blkio.write_bps: /nonexistent-qosd-test: No such file or "
			    "directory (applied when it appears)");
	k = knob(fx, "blkio.throttle.write_bps_device 999:999");
	assert_int_equal(k->error, -ENODEV);
	assert_non_null(strstr(k->error_msg, "no block device 999:999"));
	k = knob(fx, "blkio.throttle.write_bps_device /dev/null");
	assert_int_equal(k->error, -ENOTBLK);
	assert_non_null(strstr(k->error_msg, "/dev/null is a character device"));
	w = get(fx, "blkio.throttle.write_bps_device");
	assert_string_equal(w, "7:0 3");
	check_knob(fx, "blkio.throttle.write_bps_device 7:0", "blkio.write_bps", "3", "3", true);
}

/* No blkio controller there: every wanted (disk, kind) gets the read error. */
static void test_v1_missing_file(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 3), T("7:0", QOS_IO_RBPS, 3) };
	_cleanup_free_ char *p = strprintf("%s/blkio.throttle.write_bps_device", fx->cg);

	assert_int_equal(unlink(p), 0);
	assert_int_equal(apply(fx, false, false, false, t, 2), -ENOENT);
	assert_int_equal(fx->r.n, 2);
	assert_int_equal(knob(fx, "blkio.throttle.write_bps_device 7:0")->error, -ENOENT);
	assert_non_null(strstr(knob(fx, "blkio.throttle.write_bps_device 7:0")->error_msg,
			       "reading blkio.throttle.write_bps_device"));
	check_knob(fx, "blkio.throttle.read_bps_device 7:0", "blkio.read_bps", "3", "3", true);
}

static void test_v2_write(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("253:1", QOS_IO_WBPS, 2 << 20),
				     T("253:1", QOS_IO_RIOPS, 50) };
	_cleanup_free_ char *m = NULL;

	assert_int_equal(apply(fx, true, false, false, t, 2), 0);
	m = get(fx, "io.max");
	assert_string_equal(m, "253:0 wbps=2097152 riops=50");
	assert_int_equal(fx->r.n, 2);
	check_knob(fx, "io.max 253:0 wbps", "blkio.write_bps", "2097152", "2097152", true);
	check_knob(fx, "io.max 253:0 riops", "blkio.read_iops", "50", "50", true);
	assert_non_null(strstr(knob(fx, "io.max 253:0 wbps")->note, "is a partition"));
}

/* Only the keys that differ are written; equal lines are not written at all. */
static void test_v2_idempotent_and_partial(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 2 << 20), T("7:0", QOS_IO_RIOPS, 50) };
	const char *kernel = "7:0 rbps=max wbps=2097152 riops=50 wiops=max\n";
	_cleanup_free_ char *m = NULL, *m2 = NULL;

	tl_put(fx->cg, "io.max", kernel);
	assert_int_equal(apply(fx, true, false, false, t, 2), 0);
	m = get(fx, "io.max");
	assert_string_equal(m, kernel);
	check_knob(fx, "io.max 7:0 wbps", "blkio.write_bps", "2097152", "2097152", false);
	check_knob(fx, "io.max 7:0 riops", "blkio.read_iops", "50", "50", false);

	t[0].value = 3 << 20;
	assert_int_equal(apply(fx, true, false, false, t, 2), 0);
	m2 = get(fx, "io.max");
	assert_string_equal(m2, "7:0 wbps=3145728");
	assert_true(knob(fx, "io.max 7:0 wbps")->written);
	assert_false(knob(fx, "io.max 7:0 riops")->written);
}

/* Keys the policy does not name: left alone, or cleared to max when owned. */
static void test_v2_other_keys(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("7:0", QOS_IO_WBPS, 2 << 20) };
	_cleanup_free_ char *m = NULL, *m2 = NULL;

	tl_put(fx->cg, "io.max", "7:0 rbps=100 wbps=max riops=max wiops=max\n");
	assert_int_equal(apply(fx, true, false, false, t, 1), 0);
	assert_int_equal(fx->r.n, 1);
	m = get(fx, "io.max");
	assert_string_equal(m, "7:0 wbps=2097152");

	tl_put(fx->cg, "io.max", "7:0 rbps=100 wbps=max riops=max wiops=max\n");
	assert_int_equal(apply(fx, true, true, false, t, 1), 0);
	assert_int_equal(fx->r.n, 2);
	m2 = get(fx, "io.max");
	assert_string_equal(m2, "7:0 rbps=max wbps=2097152");
	assert_string_equal(knob(fx, "io.max 7:0 rbps")->desired, "max");
	assert_string_equal(knob(fx, "io.max 7:0 rbps")->before, "100");
}

/* Owned with no targets left: every limited line goes back to max. */
static void test_v2_own_clears_devices(void **state)
{
	struct fx *fx = *state;
	_cleanup_free_ char *m = NULL;

	tl_put(fx->cg, "io.max", "8:16 rbps=max wbps=5 riops=max wiops=9\n");
	assert_int_equal(apply(fx, true, false, false, NULL, 0), 0);
	assert_int_equal(fx->r.n, 0);
	assert_int_equal(apply(fx, true, true, false, NULL, 0), 0);
	m = get(fx, "io.max");
	assert_string_equal(m, "8:16 wbps=max wiops=max");
	assert_int_equal(fx->r.n, 2);
	check_knob(fx, "io.max 8:16 wbps", "blkio.write_bps", "max", "max", true);
	check_knob(fx, "io.max 8:16 wiops", "blkio.write_iops", "max", "max", true);
}

/* Two targets on one disk: one write with the smaller value. */
static void test_v2_merge(void **state)
{
	struct fx *fx = *state;
	struct qos_io_target t[] = { T("253:0", QOS_IO_RBPS, 9 << 20),
				     T("253:1", QOS_IO_RBPS, 4 << 20) };
	_cleanup_free_ char *m = NULL;

	assert_int_equal(apply(fx, true, false, false, t, 2), 0);
	m = get(fx, "io.max");
	assert_string_equal(m, "253:0 rbps=4194304");
	assert_int_equal(fx->r.n, 1);
	assert_non_null(strstr(fx->r.v[0].note, "253:0 (9437184) and 253:1 (4194304) both resolve "
						"to disk 253:0: using the smaller, 4194304"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_v1_write, reset),
		cmocka_unit_test_setup(test_v1_idempotent, reset),
		cmocka_unit_test_setup(test_v1_own_clears, reset),
		cmocka_unit_test_setup(test_v1_dry_run, reset),
		cmocka_unit_test_setup(test_v1_bad_target_rest_applies, reset),
		cmocka_unit_test_setup(test_v1_missing_file, reset),
		cmocka_unit_test_setup(test_v2_write, reset),
		cmocka_unit_test_setup(test_v2_idempotent_and_partial, reset),
		cmocka_unit_test_setup(test_v2_other_keys, reset),
		cmocka_unit_test_setup(test_v2_own_clears_devices, reset),
		cmocka_unit_test_setup(test_v2_merge, reset),
	};

	return cmocka_run_group_tests_name("blkio-fake", tests, setup, teardown);
}
