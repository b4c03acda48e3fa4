/* SPDX-License-Identifier: MIT */
/* Pure parts of the tc module: ifb names, tbf parameters, text. No libnl, no I/O. */
#include <inttypes.h>

#include "qosd/util.h"
#include "tc/tc.h"

#define TC_BUCKET_MAX_SEC 250u /* kernel keeps the bucket as u32 psched ticks (64 ns): 274 s */

uint64_t tc_fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char) *s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int tc_ifb_name(const char *id, unsigned idx, char ret[16])
{
	uint64_t h;

	if (!id || !*id)
		return -EINVAL;
	if (idx > 99)
		return -ERANGE;
	h = tc_fnv1a64(id);
	if (idx == 0)
		snprintf(ret, 16, TC_IFB_PREFIX "%011" PRIx64, h >> 20);
	else
		snprintf(ret, 16, TC_IFB_PREFIX "%08" PRIx64 "x%u", h >> 32, idx);
	return 0;
}

bool tc_ifb_owned_by(const char *name, const char *id)
{
	char n0[16], stem[16];
	size_t len;

	if (tc_ifb_name(id, 0, n0) < 0)
		return false;
	if (streq(name, n0))
		return true;
	/* indexed names share the first 8 hex digits, then 'x' and 1..99 */
	len = strlen(TC_IFB_PREFIX) + 8;
	memcpy(stem, n0, len);
	stem[len] = 'x';
	stem[len + 1] = 0;
	if (!startswith(name, stem))
		return false;
	name += len + 1;
	return name[0] >= '1' && name[0] <= '9' &&
	       (name[1] == 0 || (name[1] >= '0' && name[1] <= '9' && name[2] == 0));
}

uint32_t tc_default_burst(uint64_t rate_bits)
{
	uint64_t bytes = rate_bits / 8, b = bytes * TC_BURST_MSEC / 1000;

	b = (b + 1023) / 1024 * 1024;
	if (b < TC_BURST_MIN)
		b = TC_BURST_MIN;
	/* very slow rates: never more than TC_BURST_MAX_SEC of traffic (the kernel's bound is 274 s) */
	if (b > bytes * TC_BURST_MAX_SEC)
		b = bytes * TC_BURST_MAX_SEC / 1024 * 1024;
	return b > INT32_MAX / 2 ? INT32_MAX / 2 : (uint32_t) b;
}

int tc_shape_compute(uint64_t rate_bits, const struct qos_u64 *burst, unsigned mtu,
		     struct tc_shape *ret)
{
	struct tc_shape s = { .rate_bits = rate_bits };
	uint64_t bytes = (rate_bits + 4) / 8, b, lim, floor_b = (uint64_t) mtu + TC_ETH_HLEN;

	if (rate_bits < 8 || bytes > UINT32_MAX)
		return -ERANGE;
	s.rate_bytes = (uint32_t) bytes;
	if (burst && burst->op == QOS_SET) {
		b = burst->v;
	} else {
		b = tc_default_burst(rate_bits);
		s.burst_default = true;
	}
	if (b < floor_b) {
		b = floor_b;
		s.burst_raised = !s.burst_default;
	}
	if (b > INT32_MAX / 2 || b / bytes >= TC_BUCKET_MAX_SEC)
		return -ERANGE;
	lim = b + bytes * TC_LATENCY_MSEC / 1000;
	if (lim > INT32_MAX)
		lim = INT32_MAX;
	s.burst = (uint32_t) b;
	s.limit = (uint32_t) lim;
	*ret = s;
	return 0;
}

static void format_rate(uint64_t bits, char *buf, size_t len)
{
	static const struct {
		uint64_t mul;
		const char *unit;
	} units[] = { { 1000000000ULL, "gbit" }, { 1000000ULL, "mbit" }, { 1000ULL, "kbit" } };

	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (bits >= units[i].mul && bits % units[i].mul == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", bits / units[i].mul, units[i].unit);
			return;
		}
	snprintf(buf, len, "%" PRIu64 "bit", bits);
}

static void format_bytes(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "KMG";

	for (int i = (int) sizeof(units) - 2; i >= 0; i--) {
		uint64_t mul = 1ULL << (10 * (i + 1));

		if (b >= mul && b % mul == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", b / mul, units[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, b);
}

int tc_shape_format(uint64_t rate_bits, uint32_t burst, char *buf, size_t len)
{
	char r[32], b[32];
	int n;

	format_rate(rate_bits, r, sizeof(r));
	format_bytes(burst, b, sizeof(b));
	n = snprintf(buf, len, "%s burst %s", r, b);
	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

bool tc_burst_close(uint32_t want, uint32_t got)
{
	uint64_t d = want > got ? want - got : got - want;

	return d <= (uint64_t) want / 200 + 2;
}
