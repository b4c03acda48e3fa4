/* SPDX-License-Identifier: MIT */
/* The v1 <-> v2 table: shares <-> weight conversion and the knob names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/cgfs.h"
#include "qosd/cgroup.h"
#include "qosd/policy.h"
#include "qosd/limits.h"
#include "qosd/util.h"

static void test_shares_to_weight(void **state)
{
	assert_int_equal(qos_shares_to_weight(1024), 100);
	assert_int_equal(qos_shares_to_weight(512), 50);
	assert_int_equal(qos_shares_to_weight(2048), 200);
	assert_int_equal(qos_shares_to_weight(2), 1); /* never 0 */
	assert_int_equal(qos_shares_to_weight(0), 1);
	assert_int_equal(qos_shares_to_weight(10), 1);
	assert_int_equal(qos_shares_to_weight(262144), 10000);
	assert_int_equal(qos_shares_to_weight(1000000), 10000); /* never > 10000 */
	assert_int_equal(qos_shares_to_weight(UINT64_MAX), 10000);
	for (uint64_t s = 0; s <= 300000; s++) {
		uint64_t w = qos_shares_to_weight(s);

		assert_true(w >= 1 && w <= 10000);
	}
}

static void test_weight_to_shares(void **state)
{
	assert_int_equal(qos_weight_to_shares(100), 1024);
	/* the kernel's own mapping: weight 10000 is shares 102400 (not v1's top, 262144), which is
	 * what keeps the round trip exact; shares above 102400 all map to weight 10000 */
	assert_int_equal(qos_weight_to_shares(10000), 102400);
	assert_int_equal(qos_shares_to_weight(102400), 10000);
	assert_int_equal(qos_weight_to_shares(1), 10);
	assert_int_equal(qos_weight_to_shares(0), 2);
	assert_int_equal(qos_weight_to_shares(50), 512);
	assert_int_equal(qos_weight_to_shares(UINT64_MAX), 102400);
}

/* The kernel stores weight w as shares round(w * 1024 / 100): every weight survives the trip. */
static void test_round_trip(void **state)
{
	for (uint64_t w = 1; w <= 10000; w++)
		assert_int_equal(qos_shares_to_weight(qos_weight_to_shares(w)), w);
	assert_int_equal(qos_weight_to_shares(qos_shares_to_weight(1024)), 1024);
}

static void test_knob_names(void **state)
{
	static const struct {
		const char *key, *v1, *v2;
	} rows[] = {
		{ "cpu.shares", "cpu.shares", "cpu.weight" },
		{ "cpu.weight", "cpu.shares", "cpu.weight" },
		{ "cpu.quota", "cpu.cfs_quota_us", "cpu.max" },
		{ "cpu.period", "cpu.cfs_period_us", "cpu.max" },
		{ "cpuset.cpus", "cpuset.cpus", "cpuset.cpus" },
		{ "cpuset.mems", "cpuset.mems", "cpuset.mems" },
		{ "memory.limit", "memory.limit_in_bytes", "memory.max" },
		{ "memory.swap", "memory.memsw.limit_in_bytes", "memory.swap.max" },
		{ "memory.reservation", "memory.soft_limit_in_bytes", "memory.low" },
		{ "pids.limit", "pids.max", "pids.max" },
		{ "cpu.burst", "cpu.cfs_burst_us", "cpu.max.burst" },
		{ "cpu.idle", "cpu.idle", "cpu.idle" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		int k = qos_key_from_name(rows[i].key);

		assert_true(k >= 0);
		assert_string_equal(cg_knob_file(k, CG_LEGACY), rows[i].v1);
		assert_string_equal(cg_knob_file(k, CG_HYBRID), rows[i].v1);
		assert_string_equal(cg_knob_file(k, CG_UNIFIED), rows[i].v2);
	}
	/* keys the cgroup table does not write, and no key at all */
	assert_null(cg_knob_file(QK_NET_INGRESS, CG_UNIFIED));
	assert_null(cg_knob_file(_QK_MAX, CG_UNIFIED));
	/* v2 only: v1 has no file (qosctl show reports the key as not applied) */
	assert_null(cg_knob_file(QK_MEMORY_HIGH, CG_HYBRID));
	assert_string_equal(cg_knob_file(QK_MEMORY_HIGH, CG_UNIFIED), "memory.high");
	assert_null(cg_knob_file(QK_MEMORY_MIN, CG_LEGACY));
	assert_string_equal(cg_knob_file(QK_MEMORY_MIN, CG_UNIFIED), "memory.min");
	assert_null(cg_knob_counterpart("memory.high", CG_LEGACY));
	assert_string_equal(cg_knob_counterpart("cpu.cfs_burst_us", CG_UNIFIED), "cpu.max.burst");
	assert_string_equal(cg_knob_counterpart("cpu.shares", CG_UNIFIED), "cpu.weight");
	assert_string_equal(cg_knob_counterpart("cpu.weight", CG_LEGACY), "cpu.shares");
	assert_string_equal(cg_knob_counterpart("memory.limit_in_bytes", CG_UNIFIED), "memory.max");
	assert_string_equal(cg_knob_counterpart("memory.max", CG_LEGACY), "memory.limit_in_bytes");
	assert_string_equal(cg_knob_counterpart("memory.memsw.limit_in_bytes", CG_UNIFIED),
			    "memory.swap.max");
	assert_string_equal(cg_knob_counterpart("memory.low", CG_LEGACY),
			    "memory.soft_limit_in_bytes");
	assert_string_equal(cg_knob_counterpart("cpu.cfs_quota_us", CG_UNIFIED), "cpu.max");
	assert_null(cg_knob_counterpart("release_agent", CG_UNIFIED));
}

/* Every kernel file a policy key maps to passes the writer's allow-list (a new row without its
 * allow-list entry would fail with EPERM on every container). */
static void test_knob_files_allowed(void **state)
{
	unsigned n = 0;

	for (int k = 0; k < _QK_MAX; k++)
		for (enum cg_mode m = CG_LEGACY; m <= CG_UNIFIED; m++) {
			const char *f = cg_knob_file(k, m);

			if (!f)
				continue;
			if (!cgfs_knob_allowed(f))
				fail_msg("%s (%s) maps to %s, which cgfs refuses", qos_key_name(k),
					 cg_mode_name(m), f);
			n++;
		}
	assert_true(n >= 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_to_weight),   cmocka_unit_test(test_weight_to_shares),
		cmocka_unit_test(test_round_trip),	   cmocka_unit_test(test_knob_names),
		cmocka_unit_test(test_knob_files_allowed),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
