/* SPDX-License-Identifier: MIT */
/* The kernel statistics parsers (qosd/stats.c) on the texts the kernel prints, and the
 * metrics_listen syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/config.h"
#include "qosd/stats.h"
#include "qosd/util.h"

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
		cmocka_unit_test(listen_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
