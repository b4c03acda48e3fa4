/* SPDX-License-Identifier: MIT */
/* cg_apply_unit against a fake tree and a fake systemd (sdunit_new_fake): which knobs of a unit's
 * own cgroup go to systemd and which to cgroupfs, one call for a run of them, a refusal that sets
 * nothing and names unit, property and value, the cgroupfs fallback where systemd cannot take a
 * property, and a delegated child that never sees systemd. The fake systemd writes the cgroup
 * files the way systemd does (quota = per_sec x period / 1s), so the read-back is real. */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "qosd/cgroup.h"
#include "qosd/report.h"
#include "qosd/sdunit.h"
#include "qosd/util.h"
#include "tests/unit/testlib.h"

#define UNIT_CG "/system.slice/docker-1.scope"
#define CHILD_CG "/machine.slice/libpod-2.scope/container"

struct fx {
	char dir[PATH_MAX];
	struct cg_root *root;
	struct sdunit *sd;
	struct qos_report r;
	struct qos_cg_limits l;
	bool v2;
	/* the fake systemd */
	int calls;
	char seen[1024]; /* "unit: Prop=V Prop=V | ..." */
	const char *refuse; /* a property it refuses (-EINVAL) */
	const char *unknown; /* a property it does not know (-EROFS) */
};

static bool mode_v2;

/* Where file of cgpath lives in the fake tree: v1 by its controller's hierarchy. */
static void rel_path(const struct fx *f, const char *cgpath, const char *file, char *buf,
		     size_t len)
{
	const char *h = startswith(file, "cpuset.") ? "cpuset/"
			: startswith(file, "cpu.")  ? "cpu/"
			: startswith(file, "pids.") ? "pids/"
						    : "memory/";

	snprintf(buf, len, "%s%s/%s", f->v2 ? "" : h, cgpath + 1, file);
}

static void put(struct fx *f, const char *cgpath, const char *file, const char *v)
{
	char rel[PATH_MAX];

	rel_path(f, cgpath, file, rel, sizeof(rel));
	tl_put(f->dir, rel, v);
}

static char *slurp(struct fx *f, const char *cgpath, const char *file)
{
	char rel[PATH_MAX], path[PATH_MAX * 2], *s = NULL;

	rel_path(f, cgpath, file, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_true(read_file_at(AT_FDCWD, path, 1 << 16, &s) >= 0);
	s[strcspn(s, "\n")] = 0;
	return s;
}

static void assert_file(struct fx *f, const char *cgpath, const char *file, const char *want)
{
	_cleanup_free_ char *s = slurp(f, cgpath, file);

	if (!streq(s, want))
		fail_msg("%s/%s: \"%s\" != \"%s\"", cgpath, file, s, want);
}

static void mk_cg(struct fx *f, const char *cg)
{
	if (f->v2) {
		put(f, cg, "cgroup.controllers", "cpu cpuset io memory pids\n");
		put(f, cg, "cgroup.subtree_control", "\n");
		put(f, cg, "cgroup.procs", "");
		put(f, cg, "cpu.weight", "100\n");
		put(f, cg, "cpu.max", "max 100000\n");
		put(f, cg, "cpuset.cpus", "\n");
		put(f, cg, "memory.max", "max\n");
		put(f, cg, "memory.swap.max", "max\n");
		put(f, cg, "memory.low", "0\n");
		put(f, cg, "pids.max", "max\n");
		return;
	}
	put(f, cg, "cpu.shares", "1024\n");
	put(f, cg, "cpu.cfs_period_us", "100000\n");
	put(f, cg, "cpu.cfs_quota_us", "-1\n");
	put(f, cg, "cgroup.procs", "");
	put(f, cg, "cpuset.cpus", "0-3\n");
	put(f, cg, "cpuset.mems", "0\n");
	put(f, cg, "memory.limit_in_bytes", "9223372036854771712\n");
	put(f, cg, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
	put(f, cg, "memory.soft_limit_in_bytes", "9223372036854771712\n");
	put(f, cg, "pids.max", "max\n");
	put(f, cg, "cpu.stat", ""); /* every v1 hierarchy gets the directory */
	put(f, cg, "pids.current", "0\n");
}

static void text_u(char *buf, size_t len, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, len, "max\n");
	else
		snprintf(buf, len, "%" PRIu64 "\n", v);
}

/* What systemd writes for the properties (the subset qosd sends for cgroup knobs). */
static void realize(struct fx *f, const char *cg, const struct sdprop *p, size_t n)
{
	uint64_t per_sec = UINT64_MAX - 1, period = 100000;
	char b[64];

	for (size_t i = 0; i < n; i++) {
		const char *name = p[i].name;

		text_u(b, sizeof(b), p[i].u);
		if (streq(name, "CPUQuotaPerSecUSec"))
			per_sec = p[i].u;
		else if (streq(name, "CPUQuotaPeriodUSec"))
			period = p[i].u;
		else if (streq(name, "CPUWeight"))
			put(f, cg, "cpu.weight", b);
		else if (streq(name, "CPUShares"))
			put(f, cg, "cpu.shares", b);
		else if (streq(name, "MemoryMax"))
			put(f, cg, "memory.max", b);
		else if (streq(name, "MemoryLimit"))
			put(f, cg, "memory.limit_in_bytes", b);
		else if (streq(name, "MemorySwapMax"))
			put(f, cg, "memory.swap.max", b);
		else if (streq(name, "MemoryLow"))
			put(f, cg, "memory.low", b);
		else if (streq(name, "TasksMax"))
			put(f, cg, "pids.max", b);
		else if (streq(name, "AllowedCPUs"))
			put(f, cg, "cpuset.cpus",
			    p[i].mask_len && p[i].mask[0] == 0x3 ? "0-1\n" : "\n");
	}
	if (per_sec == UINT64_MAX - 1)
		return;
	if (f->v2) {
		if (per_sec == UINT64_MAX)
			snprintf(b, sizeof(b), "max %" PRIu64 "\n", period);
		else
			snprintf(b, sizeof(b), "%" PRIu64 " %" PRIu64 "\n",
				 per_sec * period / 1000000, period);
		put(f, cg, "cpu.max", b);
		return;
	}
	snprintf(b, sizeof(b), "%" PRIu64 "\n", period);
	put(f, cg, "cpu.cfs_period_us", b);
	if (per_sec == UINT64_MAX)
		snprintf(b, sizeof(b), "-1\n");
	else
		snprintf(b, sizeof(b), "%" PRIu64 "\n", per_sec * period / 1000000);
	put(f, cg, "cpu.cfs_quota_us", b);
}

static int fake_set(void *ud, const char *unit, const struct sdprop *p, size_t n, char **ret_error)
{
	struct fx *f = ud;
	size_t len = strlen(f->seen);

	f->calls++;
	len += snprintf(f->seen + len, sizeof(f->seen) - len, "%s%s:", len ? " | " : "", unit);
	for (size_t i = 0; i < n; i++)
		len += snprintf(f->seen + len, sizeof(f->seen) - len, " %s", p[i].text);
	/* systemd checks every property before it applies any */
	for (size_t i = 0; i < n; i++) {
		if (f->refuse && streq(p[i].name, f->refuse)) {
			*ret_error = strprintf("Value %s out of range", p[i].text);
			return -EINVAL;
		}
		if (f->unknown && streq(p[i].name, f->unknown)) {
			*ret_error = strprintf("Cannot set property %s, or unknown property.",
					       p[i].name);
			return -EROFS;
		}
	}
	assert_string_equal(unit, "docker-1.scope");
	realize(f, UNIT_CG, p, n);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/qosd-test-%d-XXXXXX", (int) getpid());
	if (!mkdtemp(f->dir))
		return -1;
	f->v2 = mode_v2;
	if (f->v2) {
		tl_put(f->dir, "cgroup.controllers", "cpu cpuset io memory pids\n");
		tl_put(f->dir, "cgroup.subtree_control", "\n");
		tl_put(f->dir, "cgroup.procs", "1\n");
	} else {
		tl_put(f->dir, "cpu/cgroup.procs", "1\n");
		tl_put(f->dir, "cpu/tasks", "1\n");
		tl_put(f->dir, "cpu/release_agent", "\n");
		tl_put(f->dir, "cpuset/cpuset.cpus", "0-3\n");
		tl_put(f->dir, "cpuset/cpuset.mems", "0\n");
		tl_put(f->dir, "memory/memory.limit_in_bytes", "9223372036854771712\n");
		tl_put(f->dir, "pids/cgroup.procs", "1\n");
		tl_put(f->dir, "blkio/cgroup.procs", "1\n");
	}
	mk_cg(f, "/system.slice");
	mk_cg(f, UNIT_CG);
	mk_cg(f, "/machine.slice");
	mk_cg(f, "/machine.slice/libpod-2.scope");
	mk_cg(f, CHILD_CG);
	*state = f;
	if (cg_root_open(f->dir, &f->root) < 0)
		return -1;
	return sdunit_new_fake(fake_set, f, &f->sd);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	sdunit_free(f->sd);
	cg_root_free(f->root);
	report_done(&f->r);
	free(f->l.cpu.cpus.v);
	tl_rm_tree(f->dir);
	free(f);
	return 0;
}

static void set_u64(struct qos_u64 *k, uint64_t v)
{
	*k = (struct qos_u64){ QOS_SET, v };
}

static void set_class(struct fx *f)
{
	if (f->v2)
		set_u64(&f->l.cpu.weight, 50);
	else
		set_u64(&f->l.cpu.shares, 512);
	set_u64(&f->l.cpu.quota_us, 30000);
	set_u64(&f->l.cpu.period_us, 100000);
	f->l.cpu.cpus = (struct qos_str){ QOS_SET, strdup("0-1") };
	set_u64(&f->l.mem.limit, 40ULL << 20);
	set_u64(&f->l.mem.swap, 0);
	set_u64(&f->l.mem.reservation, 16ULL << 20);
	set_u64(&f->l.pids.max, 77);
}

static int apply(struct fx *f, const char *cg, bool fresh, bool dry)
{
	const char *unit = NULL;
	bool fr = false;
	int r = sdunit_lookup(f->sd, cg, &unit, &fr);

	assert_true(r >= 0);
	report_done(&f->r);
	return cg_apply_unit(f->root, f->sd, r > 0 ? unit : NULL, fresh && fr, cg, NULL, NULL,
			     &f->l, dry, &f->r);
}

static void expect_via(struct fx *f, const char *key, const char *via)
{
	const struct qos_knob *k = tl_knob(&f->r, key);

	if (!k->via || !streq(k->via, via))
		fail_msg("%s: via %s, expected %s", key, k->via ? k->via : "(none)", via);
}

/* v2: every knob systemd models goes in one SetUnitProperties; systemd writes the files. */
static void v2_unit_knobs_go_to_systemd_in_one_call(void **state)
{
	struct fx *f = *state;

	set_class(f);
	assert_int_equal(apply(f, UNIT_CG, true, false), 0);
	assert_int_equal(f->calls, 1);
	assert_string_equal(f->seen, "docker-1.scope: CPUWeight=50 CPUQuotaPerSecUSec=300000 "
				     "CPUQuotaPeriodUSec=100000 AllowedCPUs=0-1 MemoryMax=41943040 "
				     "MemorySwapMax=0 MemoryLow=16777216 TasksMax=77");
	assert_file(f, UNIT_CG, "cpu.max", "30000 100000");
	assert_file(f, UNIT_CG, "memory.max", "41943040");
	assert_file(f, UNIT_CG, "pids.max", "77");
	assert_string_equal(tl_knob(&f->r, "cpu.quota")->applied, "30000 100000");
	assert_string_equal(tl_knob(&f->r, "pids.limit")->applied, "77");
	assert_true(tl_knob(&f->r, "memory.limit")->written);
	expect_via(f, "cpu.quota", "systemd");
	expect_via(f, "memory.swap", "systemd");
	assert_int_equal(report_errors(&f->r), 0);
	assert_non_null(strstr(tl_knob(&f->r, "memory.limit")->note, "docker-1.scope MemoryMax"));

	/* the kernel agrees now: the next pass sends nothing */
	sdunit_pushed(f->sd, UNIT_CG);
	assert_int_equal(apply(f, UNIT_CG, true, false), 0);
	assert_int_equal(f->calls, 1);
	assert_false(tl_knob(&f->r, "memory.limit")->written);
}

/* A fresh unit gets every owned knob once even where the kernel has the value already (a hook
 * wrote cgroupfs; systemd would put its own back on the next reload). */
static void fresh_unit_gets_every_owned_knob(void **state)
{
	struct fx *f = *state;

	set_u64(&f->l.pids.max, 77);
	put(f, UNIT_CG, "pids.max", "77\n");
	assert_int_equal(apply(f, UNIT_CG, true, false), 0);
	assert_string_equal(f->seen, "docker-1.scope: TasksMax=77");
	assert_int_equal(apply(f, UNIT_CG, false, false), 0);
	assert_int_equal(f->calls, 1);
}

/* podman's container lives in a delegated child: never systemd's. */
static void delegated_child_is_written_directly(void **state)
{
	struct fx *f = *state;

	set_class(f);
	assert_int_equal(apply(f, CHILD_CG, true, false), 0);
	assert_int_equal(f->calls, 0);
	assert_file(f, CHILD_CG, "memory.max", "41943040");
	assert_file(f, CHILD_CG, "cpu.max", "30000 100000");
	expect_via(f, "memory.limit", "cgroupfs");
}

/* systemd refuses one value: the batch sets nothing, each knob alone says which; the refused
 * knob names unit, property and value, and its file is untouched (no cgroupfs behind
 * systemd's back). */
static void refusal_sets_nothing_and_names_the_property(void **state)
{
	struct fx *f = *state;
	const struct qos_knob *k;

	set_class(f);
	f->refuse = "MemoryMax";
	assert_true(apply(f, UNIT_CG, true, false) < 0);
	assert_int_equal(f->calls, 1 + 7); /* the batch, then each of the seven knobs */
	k = tl_knob(&f->r, "memory.limit");
	assert_int_equal(k->error, -EINVAL);
	assert_non_null(strstr(k->error_msg, "MemoryMax=41943040"));
	assert_non_null(strstr(k->error_msg, "docker-1.scope"));
	assert_file(f, UNIT_CG, "memory.max", "max");
	assert_file(f, UNIT_CG, "pids.max", "77");
	assert_file(f, UNIT_CG, "memory.swap.max", "0");
	assert_int_equal(report_errors(&f->r), 1);
}

/* systemd without the property: cgroupfs is safe (it will not revert what it does not know). */
static void unknown_property_falls_back_to_cgroupfs(void **state)
{
	struct fx *f = *state;
	const struct qos_knob *k;

	set_class(f);
	f->unknown = "MemorySwapMax";
	assert_int_equal(apply(f, UNIT_CG, true, false), 0);
	k = tl_knob(&f->r, "memory.swap");
	assert_int_equal(k->error, 0);
	assert_string_equal(k->via, "cgroupfs");
	assert_non_null(strstr(k->note, "written to cgroupfs"));
	assert_file(f, UNIT_CG, "memory.swap.max", "0");
	assert_file(f, UNIT_CG, "memory.max", "41943040");
	expect_via(f, "memory.limit", "systemd");
}

/* qosctl show: a dry run reads and says what it would set, and calls nobody. */
static void dry_run_calls_nobody(void **state)
{
	struct fx *f = *state;

	set_class(f);
	assert_int_equal(apply(f, UNIT_CG, true, true), 0);
	assert_int_equal(f->calls, 0);
	assert_file(f, UNIT_CG, "memory.max", "max");
	assert_non_null(strstr(tl_knob(&f->r, "memory.limit")->note, "dry run: would set on"));
	expect_via(f, "memory.limit", "systemd");
}

/* v1: systemd models shares, quota, memory limit and tasks; memsw, soft limit and cpuset are
 * cgroupfs. memsw = limit + swap stays >= memory at every step. */
static void v1_splits_between_systemd_and_cgroupfs(void **state)
{
	struct fx *f = *state;

	set_class(f);
	assert_int_equal(apply(f, UNIT_CG, true, false), 0);
	assert_int_equal(report_errors(&f->r), 0);
	assert_string_equal(f->seen, "docker-1.scope: CPUShares=512 CPUQuotaPeriodUSec=100000 "
				     "CPUQuotaPerSecUSec=300000 | docker-1.scope: "
				     "MemoryLimit=41943040 | docker-1.scope: TasksMax=77");
	assert_int_equal(f->calls, 3);
	assert_file(f, UNIT_CG, "cpu.cfs_quota_us", "30000");
	assert_file(f, UNIT_CG, "memory.limit_in_bytes", "41943040");
	assert_file(f, UNIT_CG, "memory.memsw.limit_in_bytes", "41943040");
	assert_file(f, UNIT_CG, "cpuset.cpus", "0-1");
	expect_via(f, "memory.swap", "cgroupfs");
	expect_via(f, "cpuset.cpus", "cgroupfs");
	expect_via(f, "pids.limit", "systemd");
}

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest v2[] = {
		T(v2_unit_knobs_go_to_systemd_in_one_call),
		T(fresh_unit_gets_every_owned_knob),
		T(delegated_child_is_written_directly),
		T(refusal_sets_nothing_and_names_the_property),
		T(unknown_property_falls_back_to_cgroupfs),
		T(dry_run_calls_nobody),
	};
	const struct CMUnitTest v1[] = {
		T(v1_splits_between_systemd_and_cgroupfs),
	};
	int r = cmocka_run_group_tests_name("v2", v2, group_v2, NULL);

	return r | cmocka_run_group_tests_name("v1", v1, group_v1, NULL);
}
