/* SPDX-License-Identifier: MIT */
/* desired_compute(): merging overrides over a class, where each key came from, clearing keys
 * owned before, the shares <-> weight mapping, and the cross-key rules after the merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/desired.h"
#include "qosd/limits.h"
#include "qosd/policy.h"
#include "qosd/util.h"

#define BIT(k) (1u << (k))

static void put(struct qos_settings *s, enum qos_key k, const char *text)
{
	_cleanup_free_ char *msg = NULL;

	qos_value_done(&s->v[k]);
	if (qos_value_parse(k, text, &s->v[k], &msg) < 0)
		fail_msg("%s", msg);
}

static void shares_to_weight_round_trip_and_clamps(void **state)
{
	assert_int_equal(qos_shares_to_weight(1024), 100);
	assert_int_equal(qos_weight_to_shares(100), 1024);
	assert_int_equal(qos_weight_to_shares(qos_shares_to_weight(1024)), 1024);
	assert_int_equal(qos_shares_to_weight(2), 1); /* never 0 */
	assert_int_equal(qos_shares_to_weight(262144), 10000); /* never more */
	assert_int_equal(qos_weight_to_shares(1), 10); /* round(1024 / 100) */
	assert_int_equal(qos_weight_to_shares(10000), 102400);
	assert_int_equal(qos_shares_to_weight(512), 50);
	for (uint64_t s = 2; s <= 262144; s++) {
		uint64_t w = qos_shares_to_weight(s);

		if (w < 1 || w > 10000)
			fail_msg("shares %llu -> weight %llu", (unsigned long long) s,
				 (unsigned long long) w);
	}
}

static void class_only_sets_what_it_names(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;
	_cleanup_free_ char *msg = NULL;

	put(&cls, QK_CPU_SHARES, "512");
	put(&cls, QK_MEMORY_LIMIT, "256M");
	put(&cls, QK_MEMORY_SWAP, "0");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, &msg), 0);
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.shares.v, 512);
	assert_int_equal(d.l.cg.cpu.weight.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.weight.v, 50);
	assert_string_equal(d.cpu_note, "cpu.shares 512 -> cpu.weight 50 (weight = round(shares * "
					"100 / 1024), clamped to 1..10000)");
	assert_int_equal(d.l.cg.mem.limit.op, QOS_SET);
	assert_int_equal(d.l.cg.mem.limit.v, 256u << 20);
	assert_int_equal(d.l.cg.mem.swap.op, QOS_SET);
	assert_int_equal(d.l.cg.mem.swap.v, 0);
	assert_int_equal(d.l.cg.mem.reservation.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.cpu.quota_us.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.pids.max.op, QOS_LEAVE);
	assert_int_equal(d.l.net.ingress_bps.op, QOS_LEAVE);
	assert_int_equal(d.l.io.n_targets, 0);
	assert_false(d.l.io.own);
	assert_int_equal(d.keys, BIT(QK_CPU_SHARES) | BIT(QK_MEMORY_LIMIT) | BIT(QK_MEMORY_SWAP));
	assert_int_equal(d.src[QK_CPU_SHARES], QOS_SRC_CLASS);
	assert_int_equal(d.src[QK_CPU_WEIGHT], QOS_SRC_NONE);
	assert_string_equal(qos_source_name(d.src[QK_MEMORY_LIMIT]), "class");
	desired_done(&d);
	qos_settings_done(&cls);
}

static void weight_given_fills_shares(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPU_WEIGHT, "100");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.l.cg.cpu.shares.v, 1024);
	assert_int_equal(d.l.cg.cpu.weight.v, 100);
	assert_string_equal(d.cpu_note,
			    "cpu.weight 100 -> cpu.shares 1024 (shares = round(weight * "
			    "1024 / 100), clamped to 2..262144)");
	desired_done(&d);
	qos_settings_done(&cls);
}

static void override_wins_and_is_marked_as_override(void **state)
{
	struct qos_settings cls = { 0 }, ovr = { 0 };
	struct qos_desired d;

	put(&cls, QK_MEMORY_LIMIT, "256M");
	put(&cls, QK_PIDS_LIMIT, "64");
	put(&ovr, QK_MEMORY_LIMIT, "1G");
	put(&ovr, QK_NET_EGRESS, "10mbit");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, &ovr, 0, &d, NULL), 0);
	assert_int_equal(d.l.cg.mem.limit.v, 1u << 30);
	assert_int_equal(d.src[QK_MEMORY_LIMIT], QOS_SRC_OVERRIDE);
	assert_int_equal(d.l.cg.pids.max.v, 64);
	assert_int_equal(d.src[QK_PIDS_LIMIT], QOS_SRC_CLASS);
	assert_int_equal(d.l.net.egress_bps.op, QOS_SET);
	assert_int_equal(d.l.net.egress_bps.v, 10000000);
	assert_string_equal(d.merged.v[QK_MEMORY_LIMIT].str, "1G");
	assert_int_equal(d.keys, BIT(QK_MEMORY_LIMIT) | BIT(QK_PIDS_LIMIT) | BIT(QK_NET_EGRESS));
	desired_done(&d);
	qos_settings_done(&cls);
	qos_settings_done(&ovr);
}

static void override_weight_replaces_class_shares(void **state)
{
	struct qos_settings cls = { 0 }, ovr = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPU_SHARES, "2048");
	put(&ovr, QK_CPU_WEIGHT, "50");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, &ovr, 0, &d, NULL), 0);
	assert_false(d.merged.v[QK_CPU_SHARES].set);
	assert_int_equal(d.l.cg.cpu.weight.v, 50);
	assert_int_equal(d.l.cg.cpu.shares.v, 512);
	assert_int_equal(d.src[QK_CPU_WEIGHT], QOS_SRC_OVERRIDE);
	assert_int_equal(d.src[QK_CPU_SHARES], QOS_SRC_NONE);
	assert_int_equal(d.keys, BIT(QK_CPU_WEIGHT));
	desired_done(&d);
	qos_settings_done(&cls);
	qos_settings_done(&ovr);
}

static void owned_keys_no_longer_set_are_cleared(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;
	uint32_t owned = BIT(QK_MEMORY_LIMIT) | BIT(QK_PIDS_LIMIT) | BIT(QK_CPU_SHARES) |
			 BIT(QK_CPU_QUOTA) | BIT(QK_CPUSET_CPUS) | BIT(QK_NET_INGRESS) |
			 BIT(QK_DISK_QUOTA) | BIT(QK_BLKIO_READ_BPS);

	put(&cls, QK_MEMORY_LIMIT, "128M");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, owned, &d, NULL), 0);
	assert_int_equal(d.l.cg.mem.limit.op, QOS_SET);
	assert_int_equal(d.src[QK_MEMORY_LIMIT], QOS_SRC_CLASS);
	assert_int_equal(d.l.cg.pids.max.op, QOS_CLEAR);
	assert_int_equal(d.src[QK_PIDS_LIMIT], QOS_SRC_CLEARED);
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_CLEAR);
	assert_int_equal(d.l.cg.cpu.weight.op, QOS_CLEAR);
	assert_int_equal(d.src[QK_CPU_SHARES], QOS_SRC_CLEARED);
	assert_int_equal(d.l.cg.cpu.quota_us.op, QOS_CLEAR);
	assert_int_equal(d.l.cg.cpu.cpus.op, QOS_CLEAR);
	assert_int_equal(d.l.net.ingress_bps.op, QOS_CLEAR);
	assert_int_equal(d.l.disk.quota_bytes.op, QOS_CLEAR);
	assert_int_equal(d.src[QK_DISK_QUOTA], QOS_SRC_CLEARED);
	/* never ours: left alone */
	assert_int_equal(d.l.cg.mem.swap.op, QOS_LEAVE);
	assert_int_equal(d.l.net.egress_bps.op, QOS_LEAVE);
	assert_int_equal(d.src[QK_MEMORY_SWAP], QOS_SRC_NONE);
	/* blkio owned before: qosd still owns the throttles, now with no targets */
	assert_true(d.l.io.own);
	assert_int_equal(d.l.io.n_targets, 0);
	assert_string_equal(qos_source_name(QOS_SRC_CLEARED), "cleared");
	assert_int_equal(d.keys, BIT(QK_MEMORY_LIMIT));
	desired_done(&d);
	qos_settings_done(&cls);
}

static void shares_owned_then_weight_given_is_not_cleared(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPU_WEIGHT, "200");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, BIT(QK_CPU_SHARES), &d, NULL),
			 0);
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.shares.v, 2048);
	assert_int_not_equal(d.src[QK_CPU_SHARES], QOS_SRC_CLEARED);
	desired_done(&d);
	qos_settings_done(&cls);
}

static void quota_percent_times_period(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPU_QUOTA, "150%");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.l.cg.cpu.quota_us.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.quota_us.v, 150000);
	assert_int_equal(d.l.cg.cpu.period_us.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.period_us.v, 100000);
	desired_done(&d);
	put(&cls, QK_CPU_PERIOD, "50ms");
	put(&cls, QK_CPU_QUOTA, "12.5%");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.l.cg.cpu.quota_us.v, 6250);
	assert_int_equal(d.l.cg.cpu.period_us.v, 50000);
	desired_done(&d);
	qos_settings_done(&cls);
}

static void period_override_that_makes_quota_below_1ms_is_refused(void **state)
{
	struct qos_settings cls = { 0 }, ovr = { 0 };
	struct qos_desired d = { .keys = 0xdead };
	_cleanup_free_ char *msg = NULL;

	put(&cls, QK_CPU_QUOTA, "1%");
	put(&ovr, QK_CPU_PERIOD, "10ms");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, &ovr, 0, &d, &msg), -EINVAL);
	assert_string_equal(msg, "cpu.quota 1% of cpu.period 10ms is 100us, below the kernel's "
				 "minimum of 1ms");
	assert_int_equal(d.keys, 0xdead); /* untouched */
	qos_settings_done(&cls);
	qos_settings_done(&ovr);
}

static void override_with_both_shares_and_weight_is_refused(void **state)
{
	struct qos_settings ovr = { 0 };
	struct qos_desired d;
	_cleanup_free_ char *msg = NULL;

	put(&ovr, QK_CPU_SHARES, "512");
	put(&ovr, QK_CPU_WEIGHT, "50");
	assert_int_equal(desired_compute(NULL, QOS_SRC_CLASS, &ovr, 0, &d, &msg), -EINVAL);
	assert_non_null(strstr(msg, "cpu.shares and cpu.weight"));
	qos_settings_done(&ovr);
}

static void blkio_keys_become_io_targets(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_BLKIO_WRITE_BPS, "/dev/vda 20M");
	put(&cls, QK_BLKIO_READ_IOPS, "8:16 100, /var/lib 50");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_true(d.l.io.own);
	assert_int_equal(d.l.io.n_targets, 3);
	assert_string_equal(d.l.io.targets[0].target, "/dev/vda");
	assert_int_equal(d.l.io.targets[0].kind, QOS_IO_WBPS);
	assert_int_equal(d.l.io.targets[0].value, 20u << 20);
	assert_string_equal(d.l.io.targets[1].target, "8:16");
	assert_int_equal(d.l.io.targets[1].kind, QOS_IO_RIOPS);
	assert_int_equal(d.l.io.targets[1].value, 100);
	assert_string_equal(d.l.io.targets[2].target, "/var/lib");
	desired_done(&d);
	qos_settings_done(&cls);
}

static void cpuset_net_disk_are_copied(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPUSET_CPUS, "0,1,2,5");
	put(&cls, QK_CPUSET_MEMS, "0");
	put(&cls, QK_NET_INGRESS, "100mbit");
	put(&cls, QK_NET_BURST, "64K");
	put(&cls, QK_DISK_QUOTA, "10G");
	put(&cls, QK_DISK_INODES, "1000");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.l.cg.cpu.cpus.op, QOS_SET);
	assert_string_equal(d.l.cg.cpu.cpus.v, "0-2,5");
	assert_string_equal(d.l.cg.cpu.mems.v, "0");
	assert_int_equal(d.l.net.ingress_bps.v, 100000000);
	assert_int_equal(d.l.net.burst_bytes.v, 65536);
	assert_int_equal(d.l.disk.quota_bytes.v, 10ull << 30);
	assert_int_equal(d.l.disk.inodes.v, 1000);
	desired_done(&d);
	qos_settings_done(&cls);
}

static void tenant_budget_is_marked_tenant(void **state)
{
	struct qos_settings budget = { 0 };
	struct qos_desired d;

	put(&budget, QK_MEMORY_LIMIT, "2G");
	assert_int_equal(desired_compute(&budget, QOS_SRC_TENANT, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.src[QK_MEMORY_LIMIT], QOS_SRC_TENANT);
	assert_string_equal(qos_source_name(QOS_SRC_TENANT), "tenant");
	desired_done(&d);
	qos_settings_done(&budget);
}

/* A reload's pass leaves the knobs of keys that held and did not change; a key whose knob goes
 * with a changed key (memsw = limit + swap, quota with its period) is not left. */
static void leave_keys_in_groups(void **state)
{
	struct qos_settings cls = { 0 };
	struct qos_desired d;

	put(&cls, QK_CPU_SHARES, "512");
	put(&cls, QK_CPU_QUOTA, "50%");
	put(&cls, QK_CPUSET_CPUS, "0");
	put(&cls, QK_MEMORY_LIMIT, "256M");
	put(&cls, QK_MEMORY_SWAP, "0");
	put(&cls, QK_PIDS_LIMIT, "300");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	/* pids changed; memory.swap the same, memory.limit not: both stay */
	desired_leave(&d, (d.keys & ~(BIT(QK_PIDS_LIMIT) | BIT(QK_MEMORY_LIMIT))) |
				  BIT(QK_CPU_WEIGHT) | BIT(QK_CPU_PERIOD) | BIT(QK_CPU_BURST));
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.cpu.weight.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.cpu.quota_us.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.cpu.period_us.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.cpu.cpus.op, QOS_LEAVE);
	assert_int_equal(d.l.cg.mem.limit.op, QOS_SET);
	assert_int_equal(d.l.cg.mem.swap.op, QOS_SET);
	assert_int_equal(d.l.cg.pids.max.op, QOS_SET);
	assert_int_equal(d.l.cg.pids.max.v, 300);
	desired_done(&d);
	/* the quota without its period in the mask: the group stays */
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	desired_leave(&d, BIT(QK_CPU_QUOTA));
	assert_int_equal(d.l.cg.cpu.quota_us.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_SET);
	desired_done(&d);
	qos_settings_done(&cls);
}

static void nothing_given_nothing_owned_leaves_everything(void **state)
{
	struct qos_desired d;
	const struct qos_desired zero = { 0 };

	assert_int_equal(desired_compute(NULL, QOS_SRC_CLASS, NULL, 0, &d, NULL), 0);
	assert_int_equal(d.keys, 0);
	assert_null(d.cpu_note);
	assert_memory_equal(&d.l, &zero.l, sizeof(d.l));
	desired_done(&d);
}

/* desired_compute's idle_tasks for cls (and ovr): 1 or 0, or -1 when it refuses them */
static int idle_tasks_of(const struct qos_settings *cls, const struct qos_settings *ovr)
{
	struct qos_desired d;
	int r = desired_compute(cls, QOS_SRC_CLASS, ovr, 0, &d, NULL);

	if (r < 0)
		return -1;
	r = d.idle_tasks;
	desired_done(&d);
	return r;
}

/* SCHED_IDLE threads (controller.c) exactly where the group is idle for priority = batch */
static void idle_tasks_follow_the_idle_group(void **state)
{
	struct qos_settings cls = { 0 }, ovr = { 0 };

	assert_int_equal(idle_tasks_of(&cls, NULL), 0);
	put(&cls, QK_PRIORITY, "batch");
	assert_int_equal(idle_tasks_of(&cls, NULL), 1); /* implied */
	assert_int_equal(idle_tasks_of(&cls, &ovr), 1);
	put(&cls, QK_CPU_IDLE, "1");
	assert_int_equal(idle_tasks_of(&cls, NULL), 1);
	put(&ovr, QK_CPU_IDLE, "0"); /* the override wins */
	assert_int_equal(idle_tasks_of(&cls, &ovr), 0);
	qos_value_done(&ovr.v[QK_CPU_IDLE]);
	put(&ovr, QK_CPU_WEIGHT, "10"); /* a weight with cpu.idle = 1: refused */
	assert_int_equal(idle_tasks_of(&cls, &ovr), -1);
	qos_value_done(&cls.v[QK_CPU_IDLE]);
	assert_int_equal(idle_tasks_of(&cls, &ovr), 0); /* a weighted batch group */
	put(&cls, QK_CPU_SHARES, "2");
	assert_int_equal(idle_tasks_of(&cls, NULL), 0);
	qos_value_done(&cls.v[QK_CPU_SHARES]);
	put(&cls, QK_PRIORITY, "latency");
	assert_int_equal(idle_tasks_of(&cls, NULL), 0);
	qos_settings_done(&cls);
	qos_settings_done(&ovr);
}

static void batch_without_weight_implies_idle(void **state)
{
	struct qos_settings cls = { 0 }, ovr = { 0 };
	struct qos_desired d;

	put(&cls, QK_PRIORITY, "batch");
	put(&cls, QK_CPU_QUOTA, "150%");
	/* shares owned before: an idle group refuses a weight, so they are not cleared */
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, BIT(QK_CPU_SHARES), &d, NULL),
			 0);
	assert_true(d.idle_implied);
	assert_int_equal(d.l.cg.cpu.idle.op, QOS_SET);
	assert_int_equal(d.l.cg.cpu.idle.v, 1);
	assert_int_equal(d.src[QK_CPU_IDLE], QOS_SRC_CLASS);
	assert_true(d.keys & BIT(QK_CPU_IDLE));
	assert_int_equal(d.l.cg.cpu.shares.op, QOS_LEAVE);
	desired_done(&d);
	/* an override of the weight: a weighted batch group, no idle */
	put(&ovr, QK_CPU_WEIGHT, "10");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, &ovr, 0, &d, NULL), 0);
	assert_false(d.idle_implied);
	assert_int_equal(d.l.cg.cpu.idle.op, QOS_LEAVE);
	desired_done(&d);
	/* the class's own cpu.idle wins (0 too); idle implied before and no longer: cleared */
	put(&cls, QK_CPU_IDLE, "0");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, BIT(QK_CPU_IDLE), &d, NULL), 0);
	assert_false(d.idle_implied);
	assert_int_equal(d.l.cg.cpu.idle.v, 0);
	desired_done(&d);
	qos_value_done(&cls.v[QK_CPU_IDLE]);
	put(&cls, QK_PRIORITY, "latency");
	assert_int_equal(desired_compute(&cls, QOS_SRC_CLASS, NULL, BIT(QK_CPU_IDLE), &d, NULL), 0);
	assert_false(d.idle_implied);
	assert_int_equal(d.l.cg.cpu.idle.op, QOS_CLEAR);
	desired_done(&d);
	qos_settings_done(&cls);
	qos_settings_done(&ovr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shares_to_weight_round_trip_and_clamps),
		cmocka_unit_test(class_only_sets_what_it_names),
		cmocka_unit_test(weight_given_fills_shares),
		cmocka_unit_test(override_wins_and_is_marked_as_override),
		cmocka_unit_test(override_weight_replaces_class_shares),
		cmocka_unit_test(owned_keys_no_longer_set_are_cleared),
		cmocka_unit_test(shares_owned_then_weight_given_is_not_cleared),
		cmocka_unit_test(quota_percent_times_period),
		cmocka_unit_test(period_override_that_makes_quota_below_1ms_is_refused),
		cmocka_unit_test(override_with_both_shares_and_weight_is_refused),
		cmocka_unit_test(blkio_keys_become_io_targets),
		cmocka_unit_test(cpuset_net_disk_are_copied),
		cmocka_unit_test(tenant_budget_is_marked_tenant),
		cmocka_unit_test(nothing_given_nothing_owned_leaves_everything),
		cmocka_unit_test(batch_without_weight_implies_idle),
		cmocka_unit_test(idle_tasks_follow_the_idle_group),
		cmocka_unit_test(leave_keys_in_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
