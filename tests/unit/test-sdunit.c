/* SPDX-License-Identifier: MIT */
/* systemd units without a bus: which cgroup is a unit's own, the knob -> unit property column of
 * the knob table, and the value conversions (weight, quota per second, bytes, "max" = infinity,
 * CPU masks, tenant slice names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/cgroup.h"
#include "qosd/sdunit.h"
#include "qosd/util.h"

static void expect_unit(const char *cgpath, const char *want)
{
	char *got = NULL;
	int r = sdunit_name_of_cgpath(cgpath, &got);

	if (want && (r != 1 || !got || !streq(got, want)))
		fail_msg("%s: got %d \"%s\", expected unit %s", cgpath, r, got ? got : "", want);
	if (!want && r != 0)
		fail_msg("%s: got %d \"%s\", expected no unit", cgpath, r, got ? got : "");
	free(got);
}

static void unit_is_the_cgroup_that_is_a_scope_service_or_slice(void **state)
{
	expect_unit("/system.slice/docker-0123abcd.scope", "docker-0123abcd.scope");
	expect_unit("/machine.slice/libpod-77aa.scope", "libpod-77aa.scope");
	expect_unit("/system.slice/containerd.service", "containerd.service");
	expect_unit("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/"
		    "cri-containerd-9f.scope",
		    "cri-containerd-9f.scope");
	expect_unit("/kubepods.slice/kubepods-burstable.slice", "kubepods-burstable.slice");
	expect_unit("/qosd.slice/qosd-acme.slice", "qosd-acme.slice");
	expect_unit("/qosd.slice/qosd-acme.slice/docker-1.scope", "docker-1.scope");
	expect_unit("/init.scope", "init.scope");
	expect_unit("/qosd.slice/qosd-a\\x2db.slice", "qosd-a\\x2db.slice");
}

static void delegated_children_and_plain_directories_are_not_units(void **state)
{
	/* podman: the container lives in a delegated child of its scope */
	expect_unit("/machine.slice/libpod-77aa.scope/container", NULL);
	/* the user manager's units sit below user@.service: not the system manager's */
	expect_unit("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", NULL);
	/* docker's cgroupfs driver, a tenant cgroup without systemd, the root */
	expect_unit("/docker/0123abcd", NULL);
	expect_unit("/qosd-acme", NULL);
	expect_unit("/", NULL);
	expect_unit("/system.slice", "system.slice");
	/* a slice where systemd would never put it: made by hand, not a unit's */
	expect_unit("/system.slice/kubepods-besteffort.slice/x.scope", NULL);
	expect_unit("/a-b.slice/x.scope", NULL);
	expect_unit("/a.slice/a-b-c.slice", NULL);
	expect_unit("/foo/bar.scope", NULL);
	expect_unit("/.scope", NULL);
	expect_unit("relative.scope", NULL);
	expect_unit("/system.slice/../x.scope", NULL);
}

static void expect_props(enum sdprop_kind k, const char *text, uint64_t period, const char *t0,
			 const char *t1)
{
	struct sdprop p[2];
	size_t n = 0;
	int r = sdprop_from_kernel(k, text, period, p, &n);

	if (r < 0)
		fail_msg("kind %d \"%s\": refused %d", k, text, r);
	assert_int_equal(n, t1 ? 2 : 1);
	assert_string_equal(p[0].text, t0);
	if (t1)
		assert_string_equal(p[1].text, t1);
}

static void values_convert_to_unit_properties(void **state)
{
	struct sdprop p[2];
	size_t n;

	expect_props(SDP_CPU_WEIGHT, "100", 0, "CPUWeight=100", NULL);
	expect_props(SDP_CPU_SHARES, "512", 0, "CPUShares=512", NULL);
	expect_props(SDP_MEMORY_MAX, "41943040", 0, "MemoryMax=41943040", NULL);
	expect_props(SDP_MEMORY_MAX, "max", 0, "MemoryMax=infinity", NULL);
	expect_props(SDP_MEMORY_LIMIT, "-1", 0, "MemoryLimit=infinity", NULL);
	expect_props(SDP_MEMORY_SWAP_MAX, "0", 0, "MemorySwapMax=0", NULL);
	expect_props(SDP_MEMORY_LOW, "0", 0, "MemoryLow=0", NULL);
	expect_props(SDP_TASKS_MAX, "77", 0, "TasksMax=77", NULL);
	expect_props(SDP_TASKS_MAX, "max", 0, "TasksMax=infinity", NULL);
	expect_props(SDP_MEMORY_HIGH, "max", 0, "MemoryHigh=infinity", NULL);
	expect_props(SDP_MEMORY_MIN, "8388608", 0, "MemoryMin=8388608", NULL);
	assert_int_equal(sdprop_from_kernel(SDP_MEMORY_MAX, "max", 0, p, &n), 0);
	assert_true(p[0].type == 't' && p[0].u == UINT64_MAX);
	assert_string_equal(p[0].name, "MemoryMax");
	/* what no property value can say */
	assert_int_equal(sdprop_from_kernel(SDP_CPU_WEIGHT, "max", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_MEMORY_MAX, "12k", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_MEMORY_MAX, "", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_NONE, "1", 0, p, &n), -EINVAL);
}

static void cpu_quota_becomes_usec_per_second_and_back_exactly(void **state)
{
	struct sdprop p[2];
	size_t n;

	expect_props(SDP_CPU_MAX, "30000 100000", 0, "CPUQuotaPerSecUSec=300000",
		     "CPUQuotaPeriodUSec=100000");
	expect_props(SDP_CPU_MAX, "max 100000", 0, "CPUQuotaPerSecUSec=infinity",
		     "CPUQuotaPeriodUSec=100000");
	expect_props(SDP_CPU_MAX, "150000 100000", 0, "CPUQuotaPerSecUSec=1500000",
		     "CPUQuotaPeriodUSec=100000");
	expect_props(SDP_CPU_QUOTA_V1, "50000", 200000, "CPUQuotaPerSecUSec=250000", NULL);
	expect_props(SDP_CPU_QUOTA_V1, "-1", 100000, "CPUQuotaPerSecUSec=infinity", NULL);
	expect_props(SDP_CPU_PERIOD_V1, "200000", 0, "CPUQuotaPeriodUSec=200000", NULL);
	/* systemd writes quota = per_sec * period / 1s (integer): every quota comes back as is */
	for (uint64_t period = 1000; period <= 1000000; period += 997)
		for (uint64_t quota = 1000; quota <= 4 * period; quota += period / 7 + 13) {
			char text[64];

			snprintf(text, sizeof(text), "%llu %llu", (unsigned long long) quota,
				 (unsigned long long) period);
			assert_int_equal(sdprop_from_kernel(SDP_CPU_MAX, text, 0, p, &n), 0);
			if (p[0].u * period / 1000000 != quota)
				fail_msg("%s: %llu us/s gives back %llu", text,
					 (unsigned long long) p[0].u,
					 (unsigned long long) (p[0].u * period / 1000000));
		}
	assert_int_equal(sdprop_from_kernel(SDP_CPU_QUOTA_V1, "50000", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_CPU_MAX, "50000 0", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_CPU_MAX, "x 100000", 0, p, &n), -EINVAL);
}

static void cpu_lists_become_byte_masks(void **state)
{
	struct sdprop p[2];
	size_t n;

	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_CPUS, "0-3,6,9-10", 0, p, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(p[0].name, "AllowedCPUs");
	assert_int_equal(p[0].mask_len, 2);
	assert_int_equal(p[0].mask[0], 0x4f);
	assert_int_equal(p[0].mask[1], 0x06);
	assert_string_equal(p[0].text, "AllowedCPUs=0-3,6,9-10");
	/* "" (unset) is the empty mask: systemd then leaves the parent's */
	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_MEMS, "", 0, p, &n), 0);
	assert_int_equal(p[0].mask_len, 0);
	assert_string_equal(p[0].name, "AllowedMemoryNodes");
	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_CPUS, "3-1", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_CPUS, "1,,2x", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_CPUS, "0-9000", 0, p, &n), -EINVAL);
	assert_int_equal(sdprop_from_kernel(SDP_ALLOWED_CPUS, "4095", 0, p, &n), 0);
	assert_int_equal(p[0].mask_len, 512);
	assert_int_equal(p[0].mask[511], 0x80);
}

/* The knob table's systemd column: every knob systemd models, per version; the rest cgroupfs. */
static void knob_table_names_the_property_per_version(void **state)
{
	static const struct {
		const char *file;
		enum sdprop_kind v1, v2;
	} rows[] = {
		{ "cpu.shares", SDP_CPU_SHARES, SDP_NONE },
		{ "cpu.weight", SDP_NONE, SDP_CPU_WEIGHT },
		{ "cpu.cfs_quota_us", SDP_CPU_QUOTA_V1, SDP_NONE },
		{ "cpu.cfs_period_us", SDP_CPU_PERIOD_V1, SDP_NONE },
		{ "cpu.max", SDP_NONE, SDP_CPU_MAX },
		{ "cpuset.cpus", SDP_NONE, SDP_ALLOWED_CPUS }, /* v1: systemd leaves cpuset alone */
		{ "cpuset.mems", SDP_NONE, SDP_ALLOWED_MEMS },
		{ "memory.limit_in_bytes", SDP_MEMORY_LIMIT, SDP_NONE },
		{ "memory.max", SDP_NONE, SDP_MEMORY_MAX },
		{ "memory.memsw.limit_in_bytes", SDP_NONE, SDP_NONE }, /* no memsw property */
		{ "memory.swap.max", SDP_NONE, SDP_MEMORY_SWAP_MAX },
		{ "memory.soft_limit_in_bytes", SDP_NONE, SDP_NONE },
		{ "memory.low", SDP_NONE, SDP_MEMORY_LOW },
		{ "pids.max", SDP_TASKS_MAX, SDP_TASKS_MAX },
		{ "memory.high", SDP_NONE, SDP_MEMORY_HIGH },
		{ "memory.min", SDP_NONE, SDP_MEMORY_MIN },
		/* no property: systemd#26658 (burst); cpu.idle is CPUWeight=idle, not mapped yet */
		{ "cpu.max.burst", SDP_NONE, SDP_NONE },
		{ "cpu.cfs_burst_us", SDP_NONE, SDP_NONE },
		{ "cpu.idle", SDP_NONE, SDP_NONE },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		enum sdprop_kind a = cg_knob_sdprop(rows[i].file, CG_HYBRID);
		enum sdprop_kind b = cg_knob_sdprop(rows[i].file, CG_UNIFIED);

		if (a != rows[i].v1 || b != rows[i].v2)
			fail_msg("%s: v1 %d v2 %d, expected %d %d", rows[i].file, a, b, rows[i].v1,
				 rows[i].v2);
	}
	assert_string_equal(sdprop_io_name(0, true), "IOReadBandwidthMax");
	assert_string_equal(sdprop_io_name(3, true), "IOWriteIOPSMax");
	assert_string_equal(sdprop_io_name(1, false), "BlockIOWriteBandwidth");
	assert_null(sdprop_io_name(2, false)); /* v1 systemd has no IOPS property */
}

static void tenant_slices_escape_what_systemd_reads_as_nesting(void **state)
{
	char *unit = NULL, *cg = NULL, *back = NULL;

	assert_int_equal(sdunit_tenant_slice("acme", &unit, &cg), 0);
	assert_string_equal(unit, "qosd-acme.slice");
	assert_string_equal(cg, "/qosd.slice/qosd-acme.slice");
	assert_int_equal(sdunit_name_of_cgpath(cg, &back), 1);
	assert_string_equal(back, unit);
	free(unit), free(cg), free(back);
	assert_int_equal(sdunit_tenant_slice("team-a+b", &unit, &cg), 0);
	assert_string_equal(unit, "qosd-team\\x2da\\x2bb.slice");
	assert_string_equal(cg, "/qosd.slice/qosd-team\\x2da\\x2bb.slice");
	assert_int_equal(sdunit_name_of_cgpath(cg, &back), 1);
	assert_string_equal(back, unit);
	free(unit), free(cg), free(back);
	assert_int_equal(sdunit_tenant_slice("../x", &unit, &cg), -EINVAL);
	assert_int_equal(sdunit_tenant_slice("", &unit, &cg), -EINVAL);
}

static void io_limits_name_the_whole_disk(void **state)
{
	struct sdprop p;

	assert_int_equal(sdprop_io("IOReadBandwidthMax", 8, 0, 1048576, &p), 0);
	assert_int_equal(p.type, 'd');
	assert_string_equal(p.path, "/dev/block/8:0");
	assert_string_equal(p.text, "IOReadBandwidthMax=/dev/block/8:0 1048576");
	assert_int_equal(sdprop_io("IOWriteIOPSMax", 253, 1, UINT64_MAX, &p), 0);
	assert_string_equal(p.text, "IOWriteIOPSMax=/dev/block/253:1 infinity");
	assert_int_equal(sdprop_io(NULL, 8, 0, 1, &p), -EINVAL);
}

/* No systemd here (or QOSD_SYSTEMD=0): nothing to connect to, and that is not an error. */
static void no_systemd_means_cgroupfs(void **state)
{
	struct sdunit *sd = (void *) 1;

	setenv("QOSD_SYSTEMD", "0", 1);
	assert_int_equal(sdunit_open(&sd), 0);
	assert_null(sd);
	unsetenv("QOSD_SYSTEMD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unit_is_the_cgroup_that_is_a_scope_service_or_slice),
		cmocka_unit_test(delegated_children_and_plain_directories_are_not_units),
		cmocka_unit_test(values_convert_to_unit_properties),
		cmocka_unit_test(cpu_quota_becomes_usec_per_second_and_back_exactly),
		cmocka_unit_test(cpu_lists_become_byte_masks),
		cmocka_unit_test(knob_table_names_the_property_per_version),
		cmocka_unit_test(tenant_slices_escape_what_systemd_reads_as_nesting),
		cmocka_unit_test(io_limits_name_the_whole_disk),
		cmocka_unit_test(no_systemd_means_cgroupfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
