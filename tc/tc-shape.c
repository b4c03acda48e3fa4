/* SPDX-License-Identifier: MIT */
/* Pure parts of the tc module: ifb names, tbf parameters, text. No libnl, no I/O. */
#include <inttypes.h>

#include "qosd/units.h"
#include "qosd/util.h"
#include "tc/tc.h"

#define TC_BUCKET_MAX_SEC 250u /* kernel keeps the bucket as u32 psched ticks (64 ns): 274 s */

/* IFNAMSIZ leaves 15 bytes: the prefix (4), the hash in base 36 (9 digits: 46.5 bits, where hex
 * gave 32 for the second veth on), the veth index (2 decimal digits). */
#define HASH_DIGITS 9

int tc_ifb_name(const char *id, unsigned idx, char ret[16])
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char *p = ret + strlen(TC_IFB_PREFIX);
	uint64_t h;

	if (!id || !*id)
		return -EINVAL;
	if (idx > 99)
		return -ERANGE;
	h = fnv1a64(id);
	memcpy(ret, TC_IFB_PREFIX, strlen(TC_IFB_PREFIX));
	for (int i = HASH_DIGITS - 1; i >= 0; i--) {
		p[i] = digits[h % 36];
		h /= 36;
	}
	p[HASH_DIGITS] = (char) ('0' + idx / 10);
	p[HASH_DIGITS + 1] = (char) ('0' + idx % 10);
	p[HASH_DIGITS + 2] = 0;
	return 0;
}

bool tc_ifb_owned_by(const char *name, const char *id)
{
	size_t stem = strlen(TC_IFB_PREFIX) + HASH_DIGITS;
	char n0[16];

	if (tc_ifb_name(id, 0, n0) < 0 || strlen(name) != stem + 2 || !strneq(name, n0, stem))
		return false;
	return name[stem] >= '0' && name[stem] <= '9' && name[stem + 1] >= '0' &&
	       name[stem + 1] <= '9';
}

int tc_ifb_alias(int veth_ifindex, const char *id, char *buf, size_t len)
{
	int n = snprintf(buf, len, TC_ALIAS_FMT, veth_ifindex, id);

	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int tc_ifb_alias_parse(const char *alias, int *ret_veth, const char **ret_id)
{
	int vix = 0, off = 0;

	if (sscanf(alias, "qosd veth=%d id=%n", &vix, &off) != 1 || off == 0 || vix <= 0 ||
	    name_validate(alias + off, ID_MAX) < 0)
		return -EINVAL;
	*ret_veth = vix;
	*ret_id = alias + off;
	return 0;
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

int tc_shape_format(uint64_t rate_bits, uint32_t burst, char *buf, size_t len)
{
	char r[32], b[32];
	int n;

	(void) format_rate_bits(rate_bits, r, sizeof(r));
	(void) format_size(burst, b, sizeof(b));
	n = snprintf(buf, len, "%s burst %s", r, b);
	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

bool tc_burst_close(uint32_t want, uint32_t got)
{
	uint64_t d = want > got ? want - got : got - want;

	return d <= (uint64_t) want / 200 + 2;
}
