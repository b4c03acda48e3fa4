/* SPDX-License-Identifier: MIT */
/* Units of the policy language: what parses, what is refused (-EINVAL) and what overflows
 * (-ERANGE), and the canonical text printed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/units.h"
#include "qosd/util.h"

typedef int (*parse_fn)(const char *s, uint64_t *ret);

static void expect_ok(parse_fn f, const char *s, uint64_t want)
{
	uint64_t v = 0;
	int r = f(s, &v);

	if (r != 0)
		fail_msg("'%s' refused (%d)", s, r);
	if (v != want)
		fail_msg("'%s' -> %llu, expected %llu", s, (unsigned long long) v,
			 (unsigned long long) want);
}

/* Refused with err, and the output untouched. */
static void expect_err(parse_fn f, const char *s, int err)
{
	uint64_t v = 12345;
	int r = f(s, &v);

	if (r != err)
		fail_msg("'%s': got %d, expected %d", s, r, err);
	assert_int_equal(v, 12345);
}

static void u64_accepts_plain_digits(void **state)
{
	expect_ok(parse_u64, "0", 0);
	expect_ok(parse_u64, "42", 42);
	expect_ok(parse_u64, "007", 7);
	expect_ok(parse_u64, "18446744073709551615", UINT64_MAX);
}

static void u64_refuses_sign_space_suffix_and_empty(void **state)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "1K", "0x10", "1.0", "1e3" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		expect_err(parse_u64, bad[i], -EINVAL);
}

static void u64_overflow_is_erange(void **state)
{
	expect_err(parse_u64, "18446744073709551616", -ERANGE);
	expect_err(parse_u64, "99999999999999999999999", -ERANGE);
}

static void size_accepts_bytes_and_binary_suffixes(void **state)
{
	expect_ok(parse_size, "0", 0);
	expect_ok(parse_size, "4096", 4096);
	expect_ok(parse_size, "1K", 1024);
	expect_ok(parse_size, "512M", 512ull << 20);
	expect_ok(parse_size, "2G", 2ull << 30);
	expect_ok(parse_size, "3T", 3ull << 40);
	expect_ok(parse_size, "1KiB", 1024);
	expect_ok(parse_size, "10MiB", 10ull << 20);
	expect_ok(parse_size, "1GiB", 1ull << 30);
	expect_ok(parse_size, "1TiB", 1ull << 40);
	expect_ok(parse_size, "16777215T", 16777215ull << 40);
}

static void size_refuses_other_units_fractions_and_signs(void **state)
{
	static const char *const bad[] = { "10Q", "1k",	 "1m",	 "1KB", "1MB", "1B",  "1.5G",
					   "-1",  "+1",	 "1 M",	 " 1M", "1M ", "M",   "",
					   "1P",  "1Ki", "1mib", "1E",	"1G1", "1,5G" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		expect_err(parse_size, bad[i], -EINVAL);
}

static void size_overflow_is_erange(void **state)
{
	expect_err(parse_size, "18446744073709551616", -ERANGE);
	expect_err(parse_size, "99999999999T", -ERANGE);
	expect_err(parse_size, "16777216T", -ERANGE);
	expect_err(parse_size, "18014398509481984K", -ERANGE);
	/* a bad suffix is a bad unit even when the digits overflow */
	expect_err(parse_size, "99999999999999999999Q", -EINVAL);
}

static void duration_needs_a_unit(void **state)
{
	expect_ok(parse_duration_us, "100ms", 100000);
	expect_ok(parse_duration_us, "1s", 1000000);
	expect_ok(parse_duration_us, "250us", 250);
	expect_err(parse_duration_us, "100", -EINVAL);
	expect_err(parse_duration_us, "1m", -EINVAL);
	expect_err(parse_duration_us, "1h", -EINVAL);
	expect_err(parse_duration_us, "1.5s", -EINVAL);
	expect_err(parse_duration_us, "1MS", -EINVAL);
	expect_err(parse_duration_us, "99999999999999s", -ERANGE);
}

static void rate_is_bits_in_powers_of_1000(void **state)
{
	expect_ok(parse_rate_bits, "100mbit", 100000000);
	expect_ok(parse_rate_bits, "1gbit", 1000000000);
	expect_ok(parse_rate_bits, "500kbit", 500000);
	expect_ok(parse_rate_bits, "8bit", 8);
	expect_err(parse_rate_bits, "100", -EINVAL);
	expect_err(parse_rate_bits, "100M", -EINVAL);
	expect_err(parse_rate_bits, "100mbps", -EINVAL);
	expect_err(parse_rate_bits, "100Mbit", -EINVAL);
	expect_err(parse_rate_bits, "1tbit", -EINVAL);
	expect_err(parse_rate_bits, "-1mbit", -EINVAL);
	expect_err(parse_rate_bits, "99999999999gbit", -ERANGE);
}

static void percent_is_stored_per_mille(void **state)
{
	expect_ok(parse_percent_milli, "150%", 150000);
	expect_ok(parse_percent_milli, "0%", 0);
	expect_ok(parse_percent_milli, "12.5%", 12500);
	expect_ok(parse_percent_milli, "0.125%", 125);
	expect_ok(parse_percent_milli, "100000%", 100000000);
	expect_err(parse_percent_milli, "150", -EINVAL);
	expect_err(parse_percent_milli, "1.2345%", -EINVAL);
	expect_err(parse_percent_milli, ".5%", -EINVAL);
	expect_err(parse_percent_milli, "5.%", -EINVAL);
	expect_err(parse_percent_milli, "-5%", -EINVAL);
	expect_err(parse_percent_milli, "5 %", -EINVAL);
	expect_err(parse_percent_milli, "5%%", -EINVAL);
	expect_err(parse_percent_milli, "18446744073709552%", -ERANGE);
}

static void expect_list(const char *in, const char *want)
{
	_cleanup_free_ char *out = NULL;
	int r = parse_cpulist(in, &out);

	if (r < 0)
		fail_msg("'%s' refused (%d)", in, r);
	assert_string_equal(out, want);
}

static void cpulist_normalizes_runs(void **state)
{
	expect_list("0", "0");
	expect_list("0-3,6", "0-3,6");
	expect_list("0,1,2,3", "0-3");
	expect_list("0-1,2-3,5,7-8", "0-3,5,7-8");
	expect_list("4095", "4095");
	expect_list("3-3", "3");
}

static void cpulist_refuses_reversed_overlapping_and_junk(void **state)
{
	static const char *const bad[] = { "",	    "3-1",  "4096",  "0-4096", "1,0",
					   "0-3,2", "0,,1", "0,",    ",0",     "0-",
					   "-1",    "a",    "0 - 3", "0;1",    "+1" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *out = (char *) "untouched";

		if (parse_cpulist(bad[i], &out) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_string_equal(out, "untouched");
	}
}

static void expect_approx(uint64_t v, const char *want)
{
	char buf[UNIT_FMT_MAX];

	assert_int_equal(format_size_approx(v, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void size_approx_is_exact_or_one_decimal(void **state)
{
	expect_approx(0, "0");
	expect_approx(1023, "1023");
	expect_approx(64ull << 20, "64M");
	expect_approx(84095795, "80.2M");
	expect_approx(1536, "1.5K");
	expect_approx(3ull << 40, "3T");
	expect_approx((1ull << 30) + (1ull << 29), "1.5G");
}

static void format_prints_canonical_text_that_parses_back(void **state)
{
	char buf[UNIT_FMT_MAX];
	uint64_t v;

	assert_int_equal(format_size(512ull << 20, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "512M");
	assert_int_equal(format_size(1536, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1536");
	assert_int_equal(format_size(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
	assert_int_equal(format_size(2ull << 40, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2T");
	/* no P or E: above T the text stays in T, which parse_size reads back (quota and tc
	 * reports print with this formatter too) */
	assert_int_equal(format_size(1ull << 50, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1024T");
	assert_int_equal(parse_size(buf, &v), 0);
	assert_int_equal(v, 1ull << 50);
	/* tc's burst: the largest exact unit, bytes otherwise */
	assert_int_equal(format_size(1250304, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1221K");
	assert_int_equal(format_size(1514, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1514");
	assert_int_equal(format_rate_bits(100000000, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "100mbit");
	assert_int_equal(format_rate_bits(1500, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1500bit");
	assert_int_equal(format_duration_us(100000, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "100ms");
	assert_int_equal(format_duration_us(1500, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1500us");
	assert_int_equal(format_percent_milli(12500, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "12.5%");
	assert_int_equal(format_percent_milli(125, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0.125%");
	assert_int_equal(format_percent_milli(150000, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "150%");
	assert_int_equal(format_size(UINT64_MAX, buf, sizeof(buf)), 0);
	assert_int_equal(parse_size(buf, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(format_size(1 << 20, buf, 2), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(u64_accepts_plain_digits),
		cmocka_unit_test(u64_refuses_sign_space_suffix_and_empty),
		cmocka_unit_test(u64_overflow_is_erange),
		cmocka_unit_test(size_accepts_bytes_and_binary_suffixes),
		cmocka_unit_test(size_refuses_other_units_fractions_and_signs),
		cmocka_unit_test(size_overflow_is_erange),
		cmocka_unit_test(duration_needs_a_unit),
		cmocka_unit_test(rate_is_bits_in_powers_of_1000),
		cmocka_unit_test(percent_is_stored_per_mille),
		cmocka_unit_test(size_approx_is_exact_or_one_decimal),
		cmocka_unit_test(cpulist_normalizes_runs),
		cmocka_unit_test(cpulist_refuses_reversed_overlapping_and_junk),
		cmocka_unit_test(format_prints_canonical_text_that_parses_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
