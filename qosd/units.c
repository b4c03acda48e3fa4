/* SPDX-License-Identifier: MIT */
/* Strict unit parsing: a value is digits immediately followed by one suffix from a fixed table.
 * Everything the tables do not list (signs, spaces, fractions, other suffixes) is -EINVAL;
 * anything that does not fit in 64 bits is -ERANGE, never wrapped. */
#include <inttypes.h>

#include "units.h"
#include "util.h"

struct unit {
	const char *suffix;
	uint64_t factor;
};

#define KI (UINT64_C(1) << 10)
#define MI (UINT64_C(1) << 20)
#define GI (UINT64_C(1) << 30)
#define TI (UINT64_C(1) << 40)

static const struct unit size_units[] = {
	{ "", 1 },     { "K", KI },   { "M", MI },   { "G", GI },   { "T", TI },
	{ "KiB", KI }, { "MiB", MI }, { "GiB", GI }, { "TiB", TI },
};

static const struct unit duration_units[] = {
	{ "us", 1 },
	{ "ms", 1000 },
	{ "s", 1000000 },
};

static const struct unit rate_units[] = {
	{ "bit", 1 },
	{ "kbit", 1000 },
	{ "mbit", 1000000 },
	{ "gbit", 1000000000 },
};

/* Leading decimal digits of s into *ret; returns how many, or -ERANGE on 64-bit overflow. */
static int parse_digits(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	int n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[n] - '0', &v))
			return -ERANGE;
	}
	*ret = v;
	return n;
}

static int parse_with_units(const char *s, const struct unit *units, size_t n_units, uint64_t *ret)
{
	uint64_t v, r;
	int n;

	n = parse_digits(s, &v);
	if (n < 0) {
		/* still refuse garbage first: "99999999999999999999Q" is a bad unit, not a range */
		n = (int) strspn(s, "0123456789");
		for (size_t i = 0; i < n_units; i++)
			if (streq(s + n, units[i].suffix))
				return -ERANGE;
		return -EINVAL;
	}
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n_units; i++) {
		if (!streq(s + n, units[i].suffix))
			continue;
		if (__builtin_mul_overflow(v, units[i].factor, &r))
			return -ERANGE;
		*ret = r;
		return 0;
	}
	return -EINVAL;
}

int parse_u64(const char *s, uint64_t *ret)
{
	static const struct unit none[] = { { "", 1 } };

	return parse_with_units(s, none, ELEMENTSOF(none), ret);
}

int parse_size(const char *s, uint64_t *ret)
{
	return parse_with_units(s, size_units, ELEMENTSOF(size_units), ret);
}

int parse_duration_us(const char *s, uint64_t *ret)
{
	return parse_with_units(s, duration_units, ELEMENTSOF(duration_units), ret);
}

int parse_rate_bits(const char *s, uint64_t *ret)
{
	return parse_with_units(s, rate_units, ELEMENTSOF(rate_units), ret);
}

int parse_percent_milli(const char *s, uint64_t *ret)
{
	uint64_t whole, frac = 0, v;
	int n, nf = 0;

	n = parse_digits(s, &whole);
	if (n <= 0)
		return n < 0 ? -ERANGE : -EINVAL;
	s += n;
	if (*s == '.') {
		s++;
		/* at most three decimals: per-mille of a percent is the stored resolution */
		for (; *s >= '0' && *s <= '9'; s++, nf++) {
			if (nf == 3)
				return -EINVAL;
			frac = frac * 10 + (uint64_t) (*s - '0');
		}
		if (nf == 0)
			return -EINVAL;
		for (int i = nf; i < 3; i++)
			frac *= 10;
	}
	if (!streq(s, "%"))
		return -EINVAL;
	if (__builtin_mul_overflow(whole, 1000, &v) || __builtin_add_overflow(v, frac, &v))
		return -ERANGE;
	*ret = v;
	return 0;
}

int cpulist_element(const char **p, unsigned *ret_lo, unsigned *ret_hi)
{
	uint64_t lo, hi;
	int n;

	n = parse_digits(*p, &lo);
	if (n <= 0)
		return -EINVAL;
	*p += n;
	hi = lo;
	if (**p == '-') {
		(*p)++;
		n = parse_digits(*p, &hi);
		if (n <= 0)
			return -EINVAL;
		*p += n;
	}
	if (lo > hi || hi >= CPULIST_MAX)
		return -EINVAL;
	*ret_lo = (unsigned) lo;
	*ret_hi = (unsigned) hi;
	return 0;
}

static int cpulist_append(char **buf, unsigned lo, unsigned hi)
{
	const char *sep = *buf ? "," : "";

	if (lo == hi)
		return strextend(buf, "%s%u", sep, lo);
	return strextend(buf, "%s%u-%u", sep, lo, hi);
}

int cpulist_bits(const char *s, uint64_t bits[CPULIST_MAX / 64])
{
	int prev_hi = -1, r;
	unsigned lo, hi;

	memset(bits, 0, CPULIST_MAX / 8);
	for (const char *p = s;;) {
		r = cpulist_element(&p, &lo, &hi);
		if (r < 0)
			return r;
		/* strictly ascending and disjoint: "3,1" and "0-3,2" are typos, not lists */
		if ((int) lo <= prev_hi)
			return -EINVAL;
		prev_hi = (int) hi;
		for (unsigned i = lo; i <= hi; i++)
			bits[i / 64] |= 1ULL << (i % 64);
		if (*p == 0)
			return 0;
		if (*p++ != ',')
			return -EINVAL;
	}
}

int parse_cpulist(const char *s, char **ret)
{
	_cleanup_free_ char *out = NULL;
	uint64_t bits[CPULIST_MAX / 64];
	int r = cpulist_bits(s, bits);

	for (unsigned i = 0; r >= 0 && i < CPULIST_MAX; i++) {
		unsigned lo = i;

		if (!(bits[i / 64] & (1ULL << (i % 64))))
			continue;
		while (i + 1 < CPULIST_MAX && (bits[(i + 1) / 64] & (1ULL << ((i + 1) % 64))))
			i++;
		r = cpulist_append(&out, lo, i);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/* Largest unit that divides v exactly (units in ascending factor order; units[0] factor 1). */
static int format_with_units(uint64_t v, const struct unit *units, size_t n_units, char *buf,
			     size_t len)
{
	size_t i = n_units - 1;
	int n;

	while (i > 0 && (v == 0 || v % units[i].factor != 0))
		i--;
	n = snprintf(buf, len, "%" PRIu64 "%s", v / units[i].factor, units[i].suffix);
	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int format_size(uint64_t bytes, char *buf, size_t len)
{
	/* only the short forms: the first five entries */
	return format_with_units(bytes, size_units, 5, buf, len);
}

int format_size_approx(uint64_t bytes, char *buf, size_t len)
{
	size_t i = 4; /* the short forms: "", K, M, G, T */
	int n;

	while (i > 0 && bytes < size_units[i].factor)
		i--;
	if (bytes % size_units[i].factor == 0)
		n = snprintf(buf, len, "%" PRIu64 "%s", bytes / size_units[i].factor,
			     size_units[i].suffix);
	else
		n = snprintf(buf, len, "%.1f%s", (double) bytes / (double) size_units[i].factor,
			     size_units[i].suffix);
	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int format_rate_bits(uint64_t bps, char *buf, size_t len)
{
	return format_with_units(bps, rate_units, ELEMENTSOF(rate_units), buf, len);
}

int format_duration_us(uint64_t us, char *buf, size_t len)
{
	return format_with_units(us, duration_units, ELEMENTSOF(duration_units), buf, len);
}

int format_percent_milli(uint64_t milli, char *buf, size_t len)
{
	int n;

	if (milli % 1000 == 0)
		n = snprintf(buf, len, "%" PRIu64 "%%", milli / 1000);
	else if (milli % 100 == 0)
		n = snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "%%", milli / 1000,
			     milli % 1000 / 100);
	else if (milli % 10 == 0)
		n = snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 "%%", milli / 1000,
			     milli % 1000 / 10);
	else
		n = snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 "%%", milli / 1000, milli % 1000);
	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}
