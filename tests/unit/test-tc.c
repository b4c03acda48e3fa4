/* SPDX-License-Identifier: MIT */
/* tc module, pure parts: ifb names and ownership, burst defaults, tbf parameters, text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/limits.h"
#include "qosd/util.h"
#include "tc/tc.h"

/* two ids whose ifb names collide (found by search; see t-tc.sh) */
#define TC_TEST_COLLIDE_A "qc-964001deb298d50f"
#define TC_TEST_COLLIDE_B "qc-ca3cf2543fa8f9a4"

static void test_fnv(void **state)
{
	/* published FNV-1a 64 test vectors */
	assert_true(fnv1a64("") == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

static void test_ifb_name(void **state)
{
	char a[16], b[16], c[16];

	assert_int_equal(tc_ifb_name("ctr1", 0, a), 0);
	assert_int_equal(strlen(a), 15);
	assert_memory_equal(a, "qifb", 4);
	assert_string_equal(a + 13, "00");
	assert_int_equal(tc_ifb_name("ctr1", 1, b), 0);
	assert_memory_equal(a, b, 13); /* one stem per id, the index last */
	assert_string_equal(b + 13, "01");
	assert_int_equal(tc_ifb_name("ctr1", 99, c), 0);
	assert_string_equal(c + 13, "99");
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

/* More than 32 bits of the hash in every name: ids whose names shared the 8 hex digits of the old
 * scheme (qifbXXXXXXXXxN for the second veth on) now differ at every index. */
static void test_ifb_name_bits(void **state)
{
	char a[16], b[16];
	size_t same = 0;

	for (unsigned i = 0; i < 200000; i++) {
		char x[32], y[32];

		snprintf(x, sizeof(x), "c%u", i);
		snprintf(y, sizeof(y), "d%u", i);
		assert_int_equal(tc_ifb_name(x, 1, a), 0);
		assert_int_equal(tc_ifb_name(y, 1, b), 0);
		same += streq(a, b);
	}
	assert_int_equal(same, 0);
	/* the base-36 stem carries 9 digits: 36^9 > 2^46 */
	assert_int_equal(tc_ifb_name("ctr1", 7, a), 0);
	for (int i = 4; i < 13; i++)
		assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'z'));
}

/* Two ids constructed to share every ifb name (the func test t-tc.sh uses them): if the name
 * function changes, find a new pair (see the comment in t-tc.sh). */
static void test_ifb_name_collision(void **state)
{
	char a[16], b[16];

	assert_int_equal(tc_ifb_name(TC_TEST_COLLIDE_A, 0, a), 0);
	assert_int_equal(tc_ifb_name(TC_TEST_COLLIDE_B, 0, b), 0);
	assert_string_equal(a, b);
	assert_true(tc_ifb_owned_by(a, TC_TEST_COLLIDE_A));
	assert_true(tc_ifb_owned_by(a, TC_TEST_COLLIDE_B)); /* by name: only the alias tells */
}

static void test_ifb_alias(void **state)
{
	char buf[256];
	const char *id;
	int vix;

	assert_int_equal(tc_ifb_alias(7, "web-1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "qosd veth=7 id=web-1");
	assert_int_equal(tc_ifb_alias_parse(buf, &vix, &id), 0);
	assert_int_equal(vix, 7);
	assert_string_equal(id, "web-1");
	assert_int_equal(tc_ifb_alias(7, "web-1", buf, 10), -ENOBUFS);
	assert_int_equal(tc_ifb_alias_parse("", &vix, &id), -EINVAL);
	assert_int_equal(tc_ifb_alias_parse("qosd veth=0 id=a", &vix, &id), -EINVAL);
	assert_int_equal(tc_ifb_alias_parse("qosd veth=3 id=", &vix, &id), -EINVAL);
	assert_int_equal(tc_ifb_alias_parse("qosd veth=3 id=../x", &vix, &id), -EINVAL);
	assert_int_equal(tc_ifb_alias_parse("someone else's", &vix, &id), -EINVAL);
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
	n[12] = n[12] == 'a' ? 'b' : 'a';
	assert_false(tc_ifb_owned_by(n, "abc"));
	assert_int_equal(tc_ifb_name("abc", 1, n), 0);
	assert_false(tc_ifb_owned_by("qifb", "abc"));
	assert_false(tc_ifb_owned_by("eth0", "abc"));
	n[13] = 'x';
	assert_false(tc_ifb_owned_by(n, "abc"));
	n[13] = '1';
	n[14] = 0;
	assert_false(tc_ifb_owned_by(n, "abc")); /* one index digit only */
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

/* Everything the policy accepts (limits.h, checked by policy-values.c), tbf can hold: the edges. */
static void test_shape_policy_edges(void **state)
{
	struct qos_u64 none = { 0 }, b = { QOS_SET, QOS_NET_BURST_MAX };
	struct tc_shape s;

	assert_int_equal(tc_shape_compute(QOS_NET_RATE_MAX_BITS, &none, 1500, &s), 0);
	assert_int_equal(tc_shape_compute(QOS_NET_RATE_MAX_BITS, &b, 1500, &s), 0);
	assert_int_equal(s.burst, QOS_NET_BURST_MAX);
	assert_int_equal(tc_shape_compute(QOS_NET_RATE_MIN_BITS, &none, 9000, &s), 0);
	/* the longest bucket the policy lets through: just under 250 s at 8mbit */
	b.v = QOS_NET_BUCKET_MAX_SEC * 1000000ULL - 1;
	assert_int_equal(tc_shape_compute(8000000, &b, 1500, &s), 0);
	b.v = QOS_NET_BUCKET_MAX_SEC * 1000000ULL;
	assert_int_equal(tc_shape_compute(8000000, &b, 1500, &s), -ERANGE);
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
		cmocka_unit_test(test_fnv),
		cmocka_unit_test(test_ifb_name),
		cmocka_unit_test(test_ifb_name_bits),
		cmocka_unit_test(test_ifb_name_collision),
		cmocka_unit_test(test_ifb_alias),
		cmocka_unit_test(test_ifb_owner),
		cmocka_unit_test(test_shape_policy_edges),
		cmocka_unit_test(test_default_burst),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_burst_close),
	};

	return cmocka_run_group_tests_name("tc", tests, NULL, NULL);
}
