/* SPDX-License-Identifier: MIT */
/* The policy parser: the shipped examples, edge cases that must pass, every file in
 * tests/unit/policy-bad/ (each one its own test, its exact messages in NAME.expected), and
 * directory loading (all-or-nothing, name order, ignored files, [match]). */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qosd/limits.h"
#include "qosd/policy.h"
#include "qosd/util.h"

static char *read_all(const char *path)
{
	char *buf = NULL;

	assert_true(read_file_at(AT_FDCWD, path, 1 << 20, &buf) >= 0);
	return buf;
}

static struct qos_tenant *load_ok(const char *name, const char *text)
{
	struct qos_tenant *t = NULL;
	_cleanup_free_ char *errs = NULL;
	int r;

	r = policy_load_string(name, "test.conf", text, &t, &errs);
	if (r < 0)
		fail_msg("unexpected refusal (%d):\n%s", r, errs ? errs : "(no message)");
	assert_null(errs);
	return t;
}

/* Refused, with exactly these messages. */
static void load_bad(const char *text, const char *expected)
{
	struct qos_tenant *t = NULL;
	_cleanup_free_ char *errs = NULL;

	assert_int_equal(policy_load_string("t", "t.conf", text, &t, &errs), -EINVAL);
	assert_null(t);
	assert_non_null(errs);
	assert_string_equal(errs, expected);
}

static const struct qos_value *cval(const struct qos_tenant *t, const char *cls, enum qos_key k)
{
	const struct qos_class *c = policy_class(t, cls);

	assert_non_null(c);
	return &c->s.v[k];
}

static void batch_class_with_bounds_and_v2_memory_keys(void **state)
{
	struct qos_tenant *t = load_ok("t", "[class lat]\npriority = latency\n"
					    "[class b]\npriority = batch\ncpu.quota = 150%\n"
					    "floor.cpu.quota = 10%\ncpu.shares = 1024\n"
					    "floor.cpu.weight = 100\nmemory.limit = 1G\n"
					    "memory.high = 512M\nfloor.memory.high = 64M\n"
					    "memory.min = 16M\nmemory.low = 32M\n"
					    "cpu.burst = 20ms\ncpu.idle = 0\n");

	assert_int_equal(cval(t, "lat", QK_PRIORITY)->num, QOS_PRIO_LATENCY);
	assert_string_equal(cval(t, "lat", QK_PRIORITY)->str, "latency");
	assert_int_equal(cval(t, "b", QK_PRIORITY)->num, QOS_PRIO_BATCH);
	assert_int_equal(cval(t, "b", QK_FLOOR_CPU_QUOTA)->num, 10000);
	assert_int_equal(cval(t, "b", QK_FLOOR_CPU_WEIGHT)->num, 100);
	assert_int_equal(cval(t, "b", QK_FLOOR_MEMORY_HIGH)->num, 64u << 20);
	assert_int_equal(cval(t, "b", QK_MEMORY_HIGH)->num, 512u << 20);
	assert_int_equal(cval(t, "b", QK_MEMORY_MIN)->num, 16u << 20);
	assert_int_equal(cval(t, "b", QK_MEMORY_RESERVATION)->num, 32u << 20);
	assert_int_equal(cval(t, "b", QK_CPU_BURST)->num, 20000);
	assert_true(cval(t, "b", QK_CPU_IDLE)->set);
	assert_int_equal(cval(t, "b", QK_CPU_IDLE)->num, 0);
	assert_string_equal(qos_priority_name(QOS_PRIO_BATCH), "batch");
	assert_null(qos_priority_name(_QOS_PRIO_MAX));
	tenant_free(t);
	/* burst equal to the quota of one period is what the kernel still takes */
	t = load_ok("t", "[class a]\ncpu.quota = 20%\ncpu.burst = 20ms\n");
	tenant_free(t);
}

/* net.*: what the tc enforcer can do is accepted, one step beyond is refused with file:line */
static void net_limits_at_both_edges(void **state)
{
	struct qos_tenant *t =
		load_ok("t", "[class top]\nnet.ingress = 34gbit\nnet.egress = 34gbit\n"
			     "net.burst = 1023M\n"
			     "[class slow]\nnet.egress = 8mbit\nnet.burst = 249999999\n"
			     "[class low]\nnet.ingress = 1kbit\n");

	assert_true(cval(t, "top", QK_NET_INGRESS)->num == QOS_NET_RATE_MAX_BITS);
	assert_true(cval(t, "top", QK_NET_BURST)->num == QOS_NET_BURST_MAX);
	tenant_free(t);
	load_bad("[class a]\nnet.ingress = 34000000001bit\n",
		 "t.conf:2: net.ingress: 34000000001bit is out of range 1kbit..34gbit\n");
	load_bad("[class a]\nnet.egress = 999bit\n",
		 "t.conf:2: net.egress: 999bit is out of range 1kbit..34gbit\n");
	load_bad("[class a]\nnet.burst = 1072693249\n",
		 "t.conf:2: net.burst: 1072693249 is out of range 1..1023M\n");
	load_bad("[class a]\nnet.egress = 8mbit\nnet.burst = 250000000\n",
		 "t.conf:3: net.burst 250000000 is 250 s of traffic at net.egress 8mbit: tc's "
		 "bucket holds less than 250 s (raise the rate or lower the burst)\n");
}

static void example_acme_parses_with_every_value(void **state)
{
	struct qos_tenant *t = NULL;
	_cleanup_free_ char *errs = NULL;

	assert_int_equal(policy_load_file("../../conf.d/acme.conf", &t, &errs), 0);
	assert_string_equal(t->name, "acme");
	assert_true(t->has_budget);
	assert_int_equal(t->budget.v[QK_MEMORY_LIMIT].num, 2ull << 30);
	assert_int_equal(t->budget.v[QK_CPU_QUOTA].num, 150000);
	assert_string_equal(t->budget.v[QK_CPU_QUOTA].str, "150%");
	assert_int_equal(t->n_classes, 3);
	assert_int_equal(cval(t, "gold", QK_CPU_SHARES)->num, 1024);
	assert_int_equal(cval(t, "silver", QK_MEMORY_LIMIT)->num, 256u << 20);
	assert_string_equal(cval(t, "silver", QK_MEMORY_LIMIT)->str, "256M");
	assert_true(cval(t, "bronze", QK_MEMORY_SWAP)->set);
	assert_int_equal(cval(t, "bronze", QK_MEMORY_SWAP)->num, 0);
	assert_int_equal(cval(t, "bronze", QK_PIDS_LIMIT)->num, 64);
	assert_int_equal(cval(t, "bronze", QK_CPU_QUOTA)->num, 20000);
	assert_false(cval(t, "bronze", QK_CPU_WEIGHT)->set);
	assert_int_equal(t->n_matches, 4);
	assert_string_equal(t->matches[3].glob, "/system.slice/docker-*.scope");
	assert_string_equal(t->matches[3].cls, "silver");
	tenant_free(t);
}

static void example_globex_parses_blkio_net_disk(void **state)
{
	struct qos_tenant *t = NULL;
	_cleanup_free_ char *errs = NULL;

	assert_int_equal(policy_load_file("../../conf.d/globex.conf", &t, &errs), 0);
	assert_string_equal(cval(t, "ingest", QK_BLKIO_WRITE_BPS)->str, "/dev/vda 20M");
	assert_string_equal(cval(t, "ingest", QK_BLKIO_READ_BPS)->str, "/dev/vda 50M, 8:16 10M");
	assert_int_equal(cval(t, "ingest", QK_NET_INGRESS)->num, 100000000);
	assert_int_equal(cval(t, "ingest", QK_NET_EGRESS)->num, 50000000);
	assert_int_equal(cval(t, "ingest", QK_DISK_QUOTA)->num, 10ull << 30);
	assert_int_equal(cval(t, "ingest", QK_CPU_PERIOD)->num, 50000);
	assert_string_equal(cval(t, "ingest", QK_CPUSET_CPUS)->str, "0-3");
	assert_false(t->has_budget);
	tenant_free(t);
}

static void good_edge_file_bom_crlf_tabs_indented_comments_max_lengths(void **state)
{
	struct qos_tenant *t = NULL;
	_cleanup_free_ char *errs = NULL;
	int r;

	r = policy_load_file("policy-good/edge.conf", &t, &errs);
	if (r < 0)
		fail_msg("%s", errs ? errs : "no message");
	assert_int_equal(t->n_classes, 1);
	assert_int_equal(strlen(t->classes[0].name), 44);
	assert_int_equal(t->classes[0].s.v[QK_MEMORY_LIMIT].num, 1u << 30);
	assert_int_equal(t->classes[0].s.v[QK_MEMORY_LIMIT].line, 5);
	assert_int_equal(t->n_matches, 1);
	assert_int_equal(strlen(t->matches[0].glob), 152);
	tenant_free(t);
}

static void good_values_are_canonicalized_with_line_numbers(void **state)
{
	struct qos_tenant *t = load_ok("t", "# comment\n"
					    "; comment\n"
					    "[class a]\n"
					    "memory.limit = 524288KiB\n"
					    "memory.reservation = 1048577\n"
					    "cpu.quota = 12.5%\n"
					    "cpu.period = 1000000us\n"
					    "cpuset.cpus = 0,1,2,3,6,8-9\n"
					    "net.ingress = 1000kbit\n"
					    "blkio.read_iops = 8:0 100,/dev/disk/by-id/x 5\n"
					    "[class b]\n"
					    "cpu.weight = 1\n");

	assert_string_equal(cval(t, "a", QK_MEMORY_LIMIT)->str, "512M");
	assert_int_equal(cval(t, "a", QK_MEMORY_LIMIT)->line, 4);
	assert_string_equal(cval(t, "a", QK_MEMORY_RESERVATION)->str, "1048577");
	assert_int_equal(cval(t, "a", QK_CPU_QUOTA)->num, 12500);
	assert_string_equal(cval(t, "a", QK_CPU_QUOTA)->str, "12.5%");
	assert_string_equal(cval(t, "a", QK_CPU_PERIOD)->str, "1s");
	assert_string_equal(cval(t, "a", QK_CPUSET_CPUS)->str, "0-3,6,8-9");
	assert_string_equal(cval(t, "a", QK_NET_INGRESS)->str, "1mbit");
	assert_string_equal(cval(t, "a", QK_BLKIO_READ_IOPS)->str, "8:0 100, /dev/disk/by-id/x 5");
	assert_int_equal(cval(t, "b", QK_CPU_WEIGHT)->num, 1);
	tenant_free(t);
}

static void good_empty_file_is_an_empty_tenant(void **state)
{
	struct qos_tenant *t = load_ok("empty", "");

	assert_int_equal(t->n_classes, 0);
	assert_false(t->has_budget);
	tenant_free(t);
	t = load_ok("comments-only", "# nothing here\n\n   \n");
	tenant_free(t);
}

static void good_match_may_name_a_class_defined_later(void **state)
{
	struct qos_tenant *t = load_ok("t", "[match]\n/a/* = late\n[class late]\npids.limit = 5\n");

	assert_int_equal(t->n_matches, 1);
	assert_non_null(policy_class(t, "late"));
	tenant_free(t);
}

static void good_tenant_section_allows_cpu_memory_pids_blkio(void **state)
{
	struct qos_tenant *t = load_ok("t", "[tenant]\ncpu.shares = 2048\ncpu.quota = 400%\n"
					    "memory.limit = 8G\npids.limit = 4096\n"
					    "blkio.write_bps = /dev/vda 100M\n");

	assert_true(t->has_budget);
	assert_int_equal(t->budget.v[QK_PIDS_LIMIT].num, 4096);
	tenant_free(t);
}

static void quota_times_period_at_exactly_1ms_is_accepted(void **state)
{
	/* 1% of 100ms = 1000us; 0.1% of 1s = 1000us */
	tenant_free(load_ok("t", "[class a]\ncpu.quota = 1%\n"));
	tenant_free(load_ok("t", "[class a]\ncpu.quota = 0.1%\ncpu.period = 1s\n"));
	load_bad("[class a]\ncpu.quota = 1%\ncpu.period = 50ms\n",
		 "t.conf:3: cpu.quota 1% of cpu.period 50ms is 500us, below the kernel's minimum "
		 "of 1ms\n");
}

static void line_of_199_bytes_is_accepted_and_200_refused(void **state)
{
	char text[400];
	int n;

	n = snprintf(text, sizeof(text), "[class a]\n[match]\n/");
	memset(text + n, 'x', 199 - 1 - 4);
	strcpy(text + n + 199 - 1 - 4, " = a");
	tenant_free(load_ok("t", text));
	memset(text + n, 'x', 200 - 1 - 4);
	strcpy(text + n + 200 - 1 - 4, " = a");
	load_bad(text, "t.conf:3: line too long (200 bytes, at most 199)\n");
}

static void section_name_of_51_bytes_is_refused(void **state)
{
	load_bad("[class 012345678901234567890123456789012345678901234]\n",
		 "t.conf:1: section name too long (51 bytes, at most 50)\n");
}

static void key_value_parse_refuses_without_file_context(void **state)
{
	struct qos_value v = { 0 };
	_cleanup_free_ char *msg = NULL;

	assert_int_equal(qos_value_parse(QK_CPU_SHARES, "1", &v, &msg), -ERANGE);
	assert_string_equal(msg, "cpu.shares: 1 is out of range 2..262144");
	assert_false(v.set);
	assert_int_equal(qos_value_parse(QK_MEMORY_LIMIT, "1G", &v, NULL), 0);
	assert_true(v.set);
	assert_int_equal(v.num, 1u << 30);
	assert_string_equal(v.str, "1G");
	assert_int_equal(v.line, 0);
	qos_value_done(&v);
	assert_null(v.str);
}

static void key_table_names_round_trip_and_tenant_rule(void **state)
{
	for (int k = 0; k < _QK_MAX; k++) {
		assert_non_null(qos_key_name(k));
		assert_int_equal(qos_key_from_name(qos_key_name(k)), k);
		assert_int_equal(qos_key_tenant_ok(k),
				 !startswith(qos_key_name(k), "net.") &&
					 !startswith(qos_key_name(k), "disk.") &&
					 !qos_key_class_only(k));
		assert_int_equal(qos_key_class_only(k),
				 k == QK_PRIORITY || startswith(qos_key_name(k), "floor."));
	}
	/* memory.low is memory.reservation's v2 name */
	assert_int_equal(qos_key_from_name("memory.low"), QK_MEMORY_RESERVATION);
	assert_int_equal(qos_key_from_name("class"), -ENOENT);
	assert_int_equal(qos_key_from_name("cpu"), -ENOENT);
}

static void settings_check_names_both_keys(void **state)
{
	struct qos_settings s = { 0 };
	_cleanup_free_ char *msg = NULL;

	assert_int_equal(qos_value_parse(QK_CPU_SHARES, "512", &s.v[QK_CPU_SHARES], NULL), 0);
	assert_int_equal(qos_settings_check(&s, NULL), 0);
	assert_int_equal(qos_value_parse(QK_CPU_WEIGHT, "50", &s.v[QK_CPU_WEIGHT], NULL), 0);
	assert_int_equal(qos_settings_check(&s, &msg), -EINVAL);
	assert_non_null(strstr(msg, "cpu.shares and cpu.weight"));
	qos_settings_done(&s);
}

static void io_targets_split_canonical_value(void **state)
{
	struct qos_value v = { 0 };
	struct qos_io_target *t = NULL;
	size_t n = 0;

	assert_int_equal(
		qos_value_parse(QK_BLKIO_WRITE_BPS, "/dev/vda 20M,  008:016\t1K", &v, NULL), 0);
	assert_string_equal(v.str, "/dev/vda 20M, 8:16 1K");
	assert_int_equal(policy_io_targets(&v, QOS_IO_WBPS, &t, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].target, "/dev/vda");
	assert_int_equal(t[0].value, 20u << 20);
	assert_int_equal(t[0].kind, QOS_IO_WBPS);
	assert_string_equal(t[1].target, "8:16");
	assert_int_equal(t[1].value, 1024);
	for (size_t i = 0; i < n; i++)
		free(t[i].target);
	free(t);
	qos_value_done(&v);
}

/* ---- every file in policy-bad/ is its own test ---- */

static void bad_file_is_refused_with_exact_messages(void **state)
{
	const char *conf = *state;
	_cleanup_free_ char *expected_path = NULL, *expected = NULL, *errs = NULL;
	struct qos_tenant *t = NULL;

	expected_path = strprintf("%.*s.expected", (int) (strlen(conf) - strlen(".conf")), conf);
	expected = read_all(expected_path);
	assert_int_equal(policy_load_file(conf, &t, &errs), -EINVAL);
	assert_null(t);
	assert_non_null(errs);
	assert_string_equal(errs, expected);
}

/* ---- directories ---- */

static char *make_dir(void)
{
	char *d = strprintf("/tmp/qosd-test-%d-policy-XXXXXX", (int) getpid());

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void put(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = strprintf("%s/%s", dir, name);

	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static void rm_dir(const char *dir)
{
	_cleanup_free_ char *cmd = strprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
}

static void dir_loads_in_name_order_and_ignores_other_files(void **state)
{
	_cleanup_free_ char *d = make_dir(), *errs = NULL;
	struct qos_policy *p = NULL;
	const struct qos_tenant *t = NULL;
	const struct qos_class *c = NULL;

	put(d, "zeta.conf", "[class z]\n[match]\n/docker/* = z\n");
	put(d, "alpha.conf", "[class a]\npids.limit = 5\n[match]\n/docker/a* = a\n");
	put(d, "README", "not a policy = at all\n");
	put(d, "alpha.conf.bak", "[bogus]\n");
	assert_int_equal(policy_load_dir(d, &p, &errs), 0);
	assert_int_equal(p->n_tenants, 2);
	assert_string_equal(p->tenants[0].name, "alpha");
	assert_string_equal(p->tenants[1].name, "zeta");
	assert_non_null(policy_tenant(p, "zeta"));
	assert_null(policy_tenant(p, "README"));
	/* first match wins, files in name order: alpha's glob before zeta's */
	assert_int_equal(policy_match(p, "/docker/abc", &t, &c), 1);
	assert_string_equal(t->name, "alpha");
	assert_string_equal(c->name, "a");
	assert_int_equal(policy_match(p, "/docker/xyz", &t, &c), 1);
	assert_string_equal(t->name, "zeta");
	/* FNM_PATHNAME: '*' does not cross '/' */
	assert_int_equal(policy_match(p, "/docker/x/y", &t, &c), -ENOENT);
	assert_int_equal(policy_match(p, "/other", &t, &c), -ENOENT);
	policy_free(p);
	rm_dir(d);
}

static void dir_with_one_bad_file_is_refused_as_a_whole(void **state)
{
	_cleanup_free_ char *d = make_dir(), *errs = NULL, *expected = NULL;
	struct qos_policy *p = NULL;

	put(d, "a.conf", "[class ok]\npids.limit = 5\n");
	put(d, "b.conf", "[class x]\npids.limit = 0\n");
	put(d, "c.conf", "[tenant]\nnet.egress = 1mbit\n");
	put(d, "Upper.conf", "");
	assert_int_equal(policy_load_dir(d, &p, &errs), -EINVAL);
	assert_null(p);
	expected =
		strprintf("%1$s/Upper.conf: bad tenant name 'Upper' (the file name without .conf "
			  "must match [a-z0-9][a-z0-9_-]{0,31})\n"
			  "%1$s/b.conf:2: pids.limit: 0 is out of range 1..4194304\n"
			  "%1$s/c.conf:2: net.egress is not allowed in [tenant] (net.* and "
			  "disk.* apply to each container: put it in a class)\n",
			  d);
	assert_string_equal(errs, expected);
	rm_dir(d);
}

static void dir_missing_is_enoent_with_message(void **state)
{
	struct qos_policy *p = NULL;
	_cleanup_free_ char *errs = NULL;

	assert_int_equal(policy_load_dir("/nonexistent/qosd-test", &p, &errs), -ENOENT);
	assert_null(p);
	assert_string_equal(errs, "/nonexistent/qosd-test: no such directory\n");
}

static void dir_empty_is_an_empty_policy(void **state)
{
	_cleanup_free_ char *d = make_dir(), *errs = NULL;
	struct qos_policy *p = NULL;

	assert_int_equal(policy_load_dir(d, &p, &errs), 0);
	assert_int_equal(p->n_tenants, 0);
	assert_int_equal(policy_match(p, "/docker/x", NULL, NULL), -ENOENT);
	policy_free(p);
	rm_dir(d);
}

static void dir_conf_d_examples_match_demo_and_docker_paths(void **state)
{
	_cleanup_free_ char *errs = NULL;
	struct qos_policy *p = NULL;
	const struct qos_tenant *t = NULL;
	const struct qos_class *c = NULL;

	assert_int_equal(policy_load_dir("../../conf.d", &p, &errs), 0);
	assert_non_null(policy_tenant(p, "acme"));
	assert_non_null(policy_tenant(p, "globex"));
	assert_int_equal(policy_match(p, "/qosd-demo/gold-1", &t, &c), 1);
	assert_string_equal(c->name, "gold");
	assert_int_equal(policy_match(p, "/system.slice/docker-0123abcd.scope", &t, &c), 1);
	assert_string_equal(t->name, "acme");
	assert_string_equal(c->name, "silver");
	assert_int_equal(policy_match(p, "/globex.slice/ingest-7.scope", &t, &c), 1);
	assert_string_equal(t->name, "globex");
	policy_free(p);
}

static void file_not_ending_in_conf_keeps_its_whole_name(void **state)
{
	_cleanup_free_ char *d = make_dir(), *path = NULL, *errs = NULL;
	struct qos_tenant *t = NULL;

	put(d, "web", "[class a]\n");
	path = strprintf("%s/web", d);
	assert_int_equal(policy_load_file(path, &t, &errs), 0);
	assert_string_equal(t->name, "web");
	assert_string_equal(t->file, path);
	tenant_free(t);
	rm_dir(d);
}

static int bad_files(struct CMUnitTest **ret, char ***ret_names)
{
	struct dirent **list = NULL;
	struct CMUnitTest *v;
	char **names;
	int n, m = 0;

	n = scandir("policy-bad", &list, NULL, alphasort);
	assert_true(n > 0);
	v = calloc(n, sizeof(*v));
	names = calloc(n * 2, sizeof(*names));
	for (int i = 0; i < n; i++) {
		const char *f = list[i]->d_name;

		if (endswith(f, ".conf")) {
			names[2 * m] = strprintf("bad_file_%.*s", (int) strlen(f) - 5, f);
			names[2 * m + 1] = strprintf("policy-bad/%s", f);
			v[m] = (struct CMUnitTest){ .name = names[2 * m],
						    .test_func =
							    bad_file_is_refused_with_exact_messages,
						    .initial_state = names[2 * m + 1] };
			m++;
		}
		free(list[i]);
	}
	free(list);
	*ret = v;
	*ret_names = names;
	return m;
}

int main(void)
{
	const char *src = getenv("QOSD_SRC");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(example_acme_parses_with_every_value),
		cmocka_unit_test(batch_class_with_bounds_and_v2_memory_keys),
		cmocka_unit_test(example_globex_parses_blkio_net_disk),
		cmocka_unit_test(net_limits_at_both_edges),
		cmocka_unit_test(good_edge_file_bom_crlf_tabs_indented_comments_max_lengths),
		cmocka_unit_test(good_values_are_canonicalized_with_line_numbers),
		cmocka_unit_test(good_empty_file_is_an_empty_tenant),
		cmocka_unit_test(good_match_may_name_a_class_defined_later),
		cmocka_unit_test(good_tenant_section_allows_cpu_memory_pids_blkio),
		cmocka_unit_test(quota_times_period_at_exactly_1ms_is_accepted),
		cmocka_unit_test(line_of_199_bytes_is_accepted_and_200_refused),
		cmocka_unit_test(section_name_of_51_bytes_is_refused),
		cmocka_unit_test(key_value_parse_refuses_without_file_context),
		cmocka_unit_test(key_table_names_round_trip_and_tenant_rule),
		cmocka_unit_test(settings_check_names_both_keys),
		cmocka_unit_test(io_targets_split_canonical_value),
		cmocka_unit_test(dir_loads_in_name_order_and_ignores_other_files),
		cmocka_unit_test(dir_with_one_bad_file_is_refused_as_a_whole),
		cmocka_unit_test(dir_missing_is_enoent_with_message),
		cmocka_unit_test(dir_empty_is_an_empty_policy),
		cmocka_unit_test(dir_conf_d_examples_match_demo_and_docker_paths),
		cmocka_unit_test(file_not_ending_in_conf_keeps_its_whole_name),
	};
	struct CMUnitTest *bad = NULL;
	char **names = NULL;
	int n_bad, r;

	/* data files are found relative to tests/unit of the source tree */
	if (chdir(src ? src : ".") < 0 || chdir("tests/unit") < 0) {
		fprintf(stderr, "cannot find tests/unit (set QOSD_SRC): %m\n");
		return 1;
	}
	r = _cmocka_run_group_tests("policy", tests, ELEMENTSOF(tests), NULL, NULL);
	n_bad = bad_files(&bad, &names);
	r += _cmocka_run_group_tests("policy-bad", bad, n_bad, NULL, NULL);
	for (int i = 0; i < 2 * n_bad; i++)
		free(names[i]);
	free(names);
	free(bad);
	return r;
}
