/* SPDX-License-Identifier: MIT */
/* tc module, pure parts: ifb names and ownership, burst defaults, tbf parameters, text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/limits.h"
#include "qosd/util.h"
#include "tc/tc.h"

static void test_fnv(void **state)
{
	/* published FNV-1a 64 test vectors */
	assert_true(tc_fnv1a64("") == 0xcbf29ce484222325ULL);
	assert_true(tc_fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(tc_fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

static void test_ifb_name(void **state)
{
	char a[16], b[16], c[16];

	assert_int_equal(tc_ifb_name("ctr1", 0, a), 0);
	assert_string_equal(a, "qifb45258490a90"); /* stable: fnv1a64("ctr1") >> 20 */
	assert_int_equal(strlen(a), 15);
	assert_int_equal(tc_ifb_name("ctr1", 1, b), 0);
	assert_string_equal(b, "qifb45258490x1");
	assert_int_equal(tc_ifb_name("ctr1", 99, c), 0);
	assert_string_equal(c, "qifb45258490x99");
	assert_int_equal(strlen(c), 15);
	assert_int_equal(tc_ifb_name("ctr1", 100, c), -ERANGE);
	assert_int_equal(tc_ifb_name("", 0, c), -EINVAL);
	assert_int_equal(tc_ifb_name(NULL, 0, c), -EINVAL);
	/* a 128-byte id still fits IFNAMSIZ */
	char id[129];
	memset(id, 'x', 128);
	id[128] = 0;
	assert_int_equal(tc_ifb_name(id, 0, c), 0);
	assert_int_equal(strlen(c), 15);
	/* different ids, different names */
	assert_int_equal(tc_ifb_name("ctr2", 0, b), 0);
	assert_string_not_equal(a, b);
}

static void test_ifb_owner(void **state)
{
	char n[16];

	for (unsigned i = 0; i <= 99; i++) {
		assert_int_equal(tc_ifb_name("abc", i, n), 0);
		assert_true(tc_ifb_owned_by(n, "abc"));
		assert_false(tc_ifb_owned_by(n, "abd"));
	}
	assert_int_equal(tc_ifb_name("abc", 0, n), 0);
	n[14] ^= 1;
	assert_false(tc_ifb_owned_by(n, "abc"));
	assert_int_equal(tc_ifb_name("abc", 1, n), 0);
	assert_false(tc_ifb_owned_by("qifb", "abc"));
	assert_false(tc_ifb_owned_by("eth0", "abc"));
	n[12] = 'x', n[13] = '0', n[14] = 0; /* index 0 is never spelled with x */
	assert_false(tc_ifb_owned_by(n, "abc"));
	n[13] = '1', n[14] = '2', n[15] = 0;
	assert_true(tc_ifb_owned_by(n, "abc"));
	n[13] = 'a';
	assert_false(tc_ifb_owned_by(n, "abc"));
}

static void test_default_burst(void **state)
{
	assert_int_equal(tc_default_burst(20000000), 32768); /* 25000 B at 10 ms -> floor 32K */
	assert_int_equal(tc_default_burst(10000000), 32768);
	assert_int_equal(tc_default_burst(30000000), 37888); /* 37500 -> 37K */
	assert_int_equal(tc_default_burst(1000000000), 1250304); /* 1.25 MB rounded up to 1K */
	/* slow rates: at most 100 s of traffic, so the kernel's 274 s bucket bound holds */
	assert_int_equal(tc_default_burst(1000), 12288); /* 125 B/s * 100 s = 12500 -> 12K */
	assert_int_equal(tc_default_burst(8000), 32768);
	assert_true(tc_default_burst(UINT64_C(10000000000000)) <= INT32_MAX / 2);
}

static void test_shape(void **state)
{
	struct qos_u64 none = { 0 }, b = { QOS_SET, 100 };
	struct tc_shape s;

	assert_int_equal(tc_shape_compute(20000000, &none, 1500, &s), 0);
	assert_int_equal(s.rate_bytes, 2500000);
	assert_int_equal(s.burst, 32768);
	assert_int_equal(s.limit, 32768 + 125000); /* burst + 50 ms at the rate */
	assert_true(s.burst_default);
	assert_false(s.burst_raised);
	/* a burst below one frame would drop every full-size packet: raised to MTU + 14 */
	assert_int_equal(tc_shape_compute(20000000, &b, 1500, &s), 0);
	assert_int_equal(s.burst, 1514);
	assert_true(s.burst_raised);
	assert_int_equal(tc_shape_compute(20000000, &b, 9000, &s), 0);
	assert_int_equal(s.burst, 9014);
	b.v = 65536;
	assert_int_equal(tc_shape_compute(20000000, &b, 1500, &s), 0);
	assert_int_equal(s.burst, 65536);
	assert_false(s.burst_default || s.burst_raised);
	/* the policy's lowest rate works with the default burst */
	assert_int_equal(tc_shape_compute(1000, &none, 1500, &s), 0);
	assert_int_equal(s.rate_bytes, 125);
	/* out of range: below 1 byte/s, above 2^32-1 bytes/s, a bucket of more than 250 s */
	assert_int_equal(tc_shape_compute(7, &none, 1500, &s), -ERANGE);
	assert_int_equal(tc_shape_compute(UINT64_C(34359738360), &none, 1500, &s), 0);
	assert_int_equal(tc_shape_compute(UINT64_C(34359738368), &none, 1500, &s), -ERANGE);
	b.v = 1 << 20;
	assert_int_equal(tc_shape_compute(8000, &b, 1500, &s), -ERANGE);
	b.v = UINT32_MAX;
	assert_int_equal(tc_shape_compute(UINT64_C(10000000000), &b, 1500, &s), -ERANGE);
}

static void test_format(void **state)
{
	char buf[64];

	assert_int_equal(tc_shape_format(20000000, 32768, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "20mbit burst 32K");
	assert_int_equal(tc_shape_format(1000000000, 1250304, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1gbit burst 1221K");
	assert_int_equal(tc_shape_format(1500000, 1514, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1500kbit burst 1514");
	assert_int_equal(tc_shape_format(1001, 1 << 20, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1001bit burst 1M");
	assert_int_equal(tc_shape_format(20000000, 32768, buf, 8), -ENOBUFS);
}

static void test_burst_close(void **state)
{
	assert_true(tc_burst_close(32768, 32767)); /* libnl's microsecond rounding */
	assert_true(tc_burst_close(32768, 32768));
	assert_true(tc_burst_close(1250304, 1250000));
	assert_false(tc_burst_close(32768, 16384));
	assert_false(tc_burst_close(32768, 40000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv),	    cmocka_unit_test(test_ifb_name),
		cmocka_unit_test(test_ifb_owner),   cmocka_unit_test(test_default_burst),
		cmocka_unit_test(test_shape),	    cmocka_unit_test(test_format),
		cmocka_unit_test(test_burst_close),
	};

	return cmocka_run_group_tests_name("tc", tests, NULL, NULL);
}
