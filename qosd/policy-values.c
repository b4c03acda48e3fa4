/* SPDX-License-Identifier: MIT */
/* One policy value: each key's text parsed by its kind (keys.h) into a number and canonical text,
 * and the rules across the keys of one section (cpu.shares with cpu.weight, quota x period, ...).
 * Shared by the policy parser and qosctl overrides. */
#include <inttypes.h>

#include "keys.h"
#include "limits.h"
#include "policy-internal.h"
#include "policy.h"
#include "units.h"
#include "util.h"

#define DEFAULT_PERIOD_US 100000
#define MIN_QUOTA_US 1000

static const char *const priority_names[_QOS_PRIO_MAX] = {
	[QOS_PRIO_NORMAL] = "normal",
	[QOS_PRIO_LATENCY] = "latency",
	[QOS_PRIO_BATCH] = "batch",
};

struct kind_info {
	int (*parse)(const char *s, uint64_t *ret);
	int (*format)(uint64_t v, char *buf, size_t len);
	const char *what;
};

static int format_count(uint64_t v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%" PRIu64, v);

	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

static int parse_priority(const char *s, uint64_t *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(priority_names); i++)
		if (streq(s, priority_names[i])) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static int format_priority(uint64_t v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", v < _QOS_PRIO_MAX ? priority_names[v] : "?");

	return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

const char *qos_priority_name(enum qos_priority p)
{
	return (unsigned) p < _QOS_PRIO_MAX ? priority_names[p] : NULL;
}

static const struct kind_info kind_table[_QVK_MAX] = {
	[QVK_COUNT] = { parse_u64, format_count, "a count (plain digits)" },
	[QVK_SIZE] = { parse_size, format_size,
		       "a size (digits, then nothing for bytes or K, M, G, T, KiB, MiB, GiB, "
		       "TiB)" },
	[QVK_DURATION] = { parse_duration_us, format_duration_us,
			   "a duration (digits, then us, ms or s)" },
	[QVK_RATE] = { parse_rate_bits, format_rate_bits,
		       "a rate (digits, then bit, kbit, mbit or gbit)" },
	[QVK_PERCENT] = { parse_percent_milli, format_percent_milli,
			  "a percent (such as 150% or 12.5%)" },
	[QVK_BLKIO_BPS] = { parse_size, format_size,
			    "a size (digits, then nothing for bytes or K, M, G, T, KiB, MiB, GiB, "
			    "TiB)" },
	[QVK_BLKIO_IOPS] = { parse_u64, format_count, "a count (plain digits)" },
	[QVK_PRIORITY] = { parse_priority, format_priority, "latency, normal or batch" },
};

/* ---- values ---- */

/* Parse one number of kind vk within [min, max]; canonical text into buf. */
static int parse_number(const char *key, enum qos_value_kind vk, uint64_t min, uint64_t max,
			const char *text, uint64_t *ret, char buf[static UNIT_FMT_MAX],
			char **ret_msg)
{
	const struct kind_info *ki = &kind_table[vk];
	char lo[UNIT_FMT_MAX], hi[UNIT_FMT_MAX];
	uint64_t v;
	int r;

	r = ki->parse(text, &v);
	if (r == -ERANGE) {
		*ret_msg = strprintf("%s: '%s' is too large (does not fit in 64 bits)", key, text);
		return -ERANGE;
	}
	if (r < 0) {
		*ret_msg = strprintf("%s: '%s' is not %s", key, text, ki->what);
		return -EINVAL;
	}
	if (v < min || v > max) {
		(void) ki->format(min, lo, sizeof(lo));
		(void) ki->format(max, hi, sizeof(hi));
		*ret_msg = strprintf("%s: %s is out of range %s..%s", key, text, lo, hi);
		return -ERANGE;
	}
	(void) ki->format(v, buf, UNIT_FMT_MAX);
	*ret = v;
	return 0;
}

/* "8:16" with both numbers, or an absolute path; canonical form into ret. */
static int blkio_target(const char *t, char **ret)
{
	uint64_t maj, min;
	const char *colon;
	char *m;

	if (t[0] == '/') {
		*ret = strdup(t);
		return *ret ? 0 : -ENOMEM;
	}
	colon = strchr(t, ':');
	if (!colon || colon == t)
		return -EINVAL;
	m = strndup(t, colon - t);
	if (!m)
		return -ENOMEM;
	if (parse_u64(m, &maj) < 0 || parse_u64(colon + 1, &min) < 0 || maj > UINT32_MAX ||
	    min > UINT32_MAX) {
		free(m);
		return -EINVAL;
	}
	free(m);
	*ret = strprintf("%" PRIu64 ":%" PRIu64, maj, min);
	return *ret ? 0 : -ENOMEM;
}

int policy_blkio_split(char *item, char **ret_target, char **ret_rate)
{
	char *sp = strpbrk(item, " \t");
	char *rate;

	if (!sp)
		return -EINVAL;
	*sp = 0;
	rate = sp + 1 + strspn(sp + 1, " \t");
	if (*rate == 0 || strpbrk(rate, " \t"))
		return -EINVAL;
	*ret_target = item;
	*ret_rate = rate;
	return 0;
}

/* One item of a blkio list: appended to *out in canonical form. */
static int blkio_item(enum qos_key k, char *item, char **out, char **ret_msg)
{
	const struct qos_key_info *ki = qos_key_info(k);
	_cleanup_free_ char *target = NULL, *needle = NULL;
	char buf[UNIT_FMT_MAX], *t, *rate;
	uint64_t v;
	int r;

	if (policy_blkio_split(item, &t, &rate) < 0) {
		*ret_msg = strprintf("%s: '%s' is not TARGET RATE", ki->name, item);
		return -EINVAL;
	}
	r = blkio_target(t, &target);
	if (r == -EINVAL)
		*ret_msg = strprintf("%s: '%s' is not a target (a /dev node, an absolute path, "
				     "or MAJ:MIN)",
				     ki->name, t);
	if (r < 0)
		return r;
	r = parse_number(ki->name, ki->kind, ki->min, ki->max, rate, &v, buf, ret_msg);
	if (r < 0)
		return r;
	needle = strprintf(", %s ", target);
	if (!needle)
		return -ENOMEM;
	/* out is ", T R, T R": a target named twice would leave the kernel to pick one */
	if (*out && strstr(*out, needle)) {
		*ret_msg = strprintf("%s: target %s is named twice", ki->name, target);
		return -EINVAL;
	}
	return strextend(out, ", %s %s", target, buf);
}

static int parse_blkio(enum qos_key k, const char *text, char **ret_str, char **ret_msg)
{
	_cleanup_free_ char *copy = strdup(text), *out = NULL;
	char *p = copy, *item;
	int r;

	if (!copy)
		return -ENOMEM;
	while ((item = strsep(&p, ","))) {
		item = strstrip(item);
		if (*item == 0) {
			*ret_msg = strprintf("%s: empty entry in '%s' (a stray comma?)",
					     qos_key_name(k), text);
			return -EINVAL;
		}
		r = blkio_item(k, item, &out, ret_msg);
		if (r < 0)
			return r;
	}
	/* drop the leading ", " */
	*ret_str = strdup(out + 2);
	return *ret_str ? 0 : -ENOMEM;
}

static int parse_value_text(enum qos_key k, const char *text, uint64_t *num, char **str,
			    char **ret_msg)
{
	const struct qos_key_info *ki = qos_key_info(k);
	char buf[UNIT_FMT_MAX];
	int r;

	switch (ki->kind) {
	case QVK_CPULIST:
		r = parse_cpulist(text, str);
		if (r == -EINVAL || r == -ERANGE) {
			*ret_msg = strprintf("%s: '%s' is not a list (ascending ids or ranges "
					     "below 4096, such as 0-3,6)",
					     ki->name, text);
			return -EINVAL;
		}
		return r;
	case QVK_BLKIO_BPS:
	case QVK_BLKIO_IOPS:
		return parse_blkio(k, text, str, ret_msg);
	default:
		r = parse_number(ki->name, ki->kind, ki->min, ki->max, text, num, buf, ret_msg);
		if (r < 0)
			return r;
		*str = strdup(buf);
		return *str ? 0 : -ENOMEM;
	}
}

int qos_value_parse(enum qos_key k, const char *text, struct qos_value *ret, char **ret_msg)
{
	_cleanup_free_ char *str = NULL, *msg = NULL;
	uint64_t num = 0;
	int r;

	if ((unsigned) k >= _QK_MAX)
		return -EINVAL;
	if (*text == 0) {
		msg = strprintf("%s: empty value", qos_key_name(k));
		r = -EINVAL;
	} else {
		r = parse_value_text(k, text, &num, &str, &msg);
	}
	if (r < 0) {
		if (ret_msg && r != -ENOMEM)
			*ret_msg = msg ? TAKE_PTR(msg) : strdup("out of memory");
		return r;
	}
	*ret = (struct qos_value){ .set = true, .num = num, .str = TAKE_PTR(str) };
	return 0;
}

void qos_value_done(struct qos_value *v)
{
	free(v->str);
	*v = (struct qos_value){ 0 };
}

int qos_value_copy(const struct qos_value *src, struct qos_value *dst)
{
	char *s = NULL;

	if (src->str && !(s = strdup(src->str)))
		return -ENOMEM;
	*dst = *src;
	dst->str = s;
	return 0;
}

void qos_settings_done(struct qos_settings *s)
{
	for (int k = 0; k < _QK_MAX; k++)
		qos_value_done(&s->v[k]);
}

/* ---- rules across keys ---- */

typedef int (*rule_fn)(const struct qos_settings *s, char **ret_msg, unsigned *ret_line);

static unsigned later(const struct qos_settings *s, enum qos_key a, enum qos_key b)
{
	return MAX(s->v[a].line, s->v[b].line);
}

static int rule_shares_weight(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	if (!s->v[QK_CPU_SHARES].set || !s->v[QK_CPU_WEIGHT].set)
		return 0;
	*ret_line = later(s, QK_CPU_SHARES, QK_CPU_WEIGHT);
	*ret_msg = strdup("cpu.shares and cpu.weight are the same knob (v1 and v2 scales): "
			  "set only one");
	return *ret_msg ? -EINVAL : -ENOMEM;
}

static int rule_quota_period(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *q = &s->v[QK_CPU_QUOTA], *p = &s->v[QK_CPU_PERIOD];
	uint64_t period = p->set ? p->num : DEFAULT_PERIOD_US, quota_us;

	if (!q->set)
		return 0;
	quota_us = q->num * period / 100000;
	if (quota_us >= MIN_QUOTA_US)
		return 0;
	*ret_line = later(s, QK_CPU_QUOTA, QK_CPU_PERIOD);
	*ret_msg = strprintf("cpu.quota %s of cpu.period %s%s is %" PRIu64
			     "us, below the kernel's minimum of 1ms",
			     q->str, p->set ? p->str : "100ms", p->set ? "" : " (the default)",
			     quota_us);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

static int rule_swap_limit(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	if (!s->v[QK_MEMORY_SWAP].set || s->v[QK_MEMORY_LIMIT].set)
		return 0;
	*ret_line = s->v[QK_MEMORY_SWAP].line;
	*ret_msg = strdup("memory.swap needs memory.limit (it is the swap allowed on top of it)");
	return *ret_msg ? -EINVAL : -ENOMEM;
}

static int rule_reservation(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *res = &s->v[QK_MEMORY_RESERVATION], *lim = &s->v[QK_MEMORY_LIMIT];

	if (!res->set || !lim->set || res->num <= lim->num)
		return 0;
	*ret_line = later(s, QK_MEMORY_RESERVATION, QK_MEMORY_LIMIT);
	*ret_msg = strprintf("memory.reservation %s is above memory.limit %s", res->str, lim->str);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

/* a below b (both set); "what" explains what breaks. */
static int rule_le(const struct qos_settings *s, enum qos_key a, enum qos_key b, const char *what,
		   char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *va = &s->v[a], *vb = &s->v[b];

	if (!va->set || !vb->set || va->num <= vb->num)
		return 0;
	*ret_line = later(s, a, b);
	*ret_msg = strprintf("%s %s is above %s %s%s", qos_key_name(a), va->str, qos_key_name(b),
			     vb->str, what);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

static int rule_memory_high(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	int r = rule_le(s, QK_MEMORY_HIGH, QK_MEMORY_LIMIT,
			" (the throttle must lie below the hard limit)", ret_msg, ret_line);

	return r < 0 ? r
		     : rule_le(s, QK_MEMORY_MIN, QK_MEMORY_LIMIT,
			       " (a protection above the limit is never used)", ret_msg, ret_line);
}

/* The kernel refuses a burst without a quota or larger than the quota (tg_set_cfs_bandwidth). */
static int rule_burst(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *b = &s->v[QK_CPU_BURST], *q = &s->v[QK_CPU_QUOTA],
			       *p = &s->v[QK_CPU_PERIOD];
	uint64_t quota_us;

	if (!b->set || !b->num)
		return 0;
	*ret_line = later(s, QK_CPU_BURST, QK_CPU_QUOTA);
	if (!q->set) {
		*ret_msg = strprintf("cpu.burst %s needs cpu.quota (a cgroup banks unused quota)",
				     b->str);
		return *ret_msg ? -EINVAL : -ENOMEM;
	}
	quota_us = q->num * (p->set ? p->num : DEFAULT_PERIOD_US) / 100000;
	if (b->num <= quota_us)
		return 0;
	*ret_line = MAX(*ret_line, p->line);
	*ret_msg = strprintf("cpu.burst %s is above the quota of one period (%" PRIu64
			     "us from cpu.quota %s): the kernel refuses it",
			     b->str, quota_us, q->str);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

/* An idle group's weight is the kernel's least (shares read 3), and writes to it fail (EINVAL). */
static int rule_idle(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	enum qos_key w = s->v[QK_CPU_SHARES].set ? QK_CPU_SHARES : QK_CPU_WEIGHT;

	if (!s->v[QK_CPU_IDLE].set || s->v[QK_CPU_IDLE].num == 0 || !s->v[w].set)
		return 0;
	*ret_line = later(s, QK_CPU_IDLE, w);
	*ret_msg = strprintf("cpu.idle = 1 and %s: an idle cgroup has the least weight and the "
			     "kernel refuses a weight for it; set only one",
			     qos_key_name(w));
	return *ret_msg ? -EINVAL : -ENOMEM;
}

/* floor.X: only in a batch class, only with X (the ceiling) set, never above X. */
static int rule_floor(const struct qos_settings *s, enum qos_key floor, enum qos_key ceil,
		      char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *f = &s->v[floor], *pr = &s->v[QK_PRIORITY];

	if (!f->set)
		return 0;
	*ret_line = f->line;
	if (!pr->set || pr->num != QOS_PRIO_BATCH)
		*ret_msg = strprintf("%s needs priority = batch (only batch classes are tightened)",
				     qos_key_name(floor));
	else if (!s->v[ceil].set)
		*ret_msg = strprintf(
			"%s needs %s (the ceiling the controller gives back)", qos_key_name(floor),
			floor == QK_FLOOR_BLKIO ? "a blkio.* rate" : qos_key_name(ceil));
	else if (floor == QK_FLOOR_BLKIO)
		return 0; /* a percent of the ceiling: never above it */
	else
		return rule_le(s, floor, ceil, " (the floor must not exceed the ceiling)", ret_msg,
			       ret_line);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

/* floor.blkio bounds every blkio.* rate the class sets: its ceiling is any of them */
static enum qos_key first_blkio_key(const struct qos_settings *s)
{
	static const enum qos_key k[] = { QK_BLKIO_READ_BPS, QK_BLKIO_WRITE_BPS, QK_BLKIO_READ_IOPS,
					  QK_BLKIO_WRITE_IOPS };

	for (size_t i = 0; i < ELEMENTSOF(k); i++)
		if (s->v[k[i]].set)
			return k[i];
	return QK_BLKIO_WRITE_BPS;
}

static int rule_floors(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *fw = &s->v[QK_FLOOR_CPU_WEIGHT], *sh = &s->v[QK_CPU_SHARES];
	int r;

	r = rule_floor(s, QK_FLOOR_CPU_QUOTA, QK_CPU_QUOTA, ret_msg, ret_line);
	if (r >= 0)
		r = rule_floor(s, QK_FLOOR_MEMORY_HIGH, QK_MEMORY_HIGH, ret_msg, ret_line);
	if (r >= 0)
		r = rule_floor(s, QK_FLOOR_BLKIO, first_blkio_key(s), ret_msg, ret_line);
	if (r < 0 || !fw->set)
		return r;
	/* the weight ceiling may be given on the v1 scale */
	if (sh->set && s->v[QK_PRIORITY].num == QOS_PRIO_BATCH) {
		if (fw->num <= qos_shares_to_weight(sh->num))
			return 0;
		*ret_line = later(s, QK_FLOOR_CPU_WEIGHT, QK_CPU_SHARES);
		*ret_msg = strprintf("floor.cpu.weight %s is above cpu.shares %s (weight %" PRIu64
				     "): the floor must not exceed the ceiling",
				     fw->str, sh->str, qos_shares_to_weight(sh->num));
		return *ret_msg ? -EINVAL : -ENOMEM;
	}
	return rule_floor(s, QK_FLOOR_CPU_WEIGHT, QK_CPU_WEIGHT, ret_msg, ret_line);
}

/* tbf's bucket holds less than QOS_NET_BUCKET_MAX_SEC of traffic at the rate */
static int rule_net_bucket(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *b = &s->v[QK_NET_BURST];
	static const enum qos_key rates[] = { QK_NET_INGRESS, QK_NET_EGRESS };

	if (!b->set)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(rates); i++) {
		const struct qos_value *r = &s->v[rates[i]];

		if (!r->set || b->num / (r->num / 8) < QOS_NET_BUCKET_MAX_SEC)
			continue;
		*ret_line = later(s, QK_NET_BURST, rates[i]);
		*ret_msg =
			strprintf("net.burst %s is %" PRIu64 " s of traffic at %s %s: tc's bucket "
				  "holds less than %u s (raise the rate or lower the burst)",
				  b->str, b->num / (r->num / 8), qos_key_name(rates[i]), r->str,
				  QOS_NET_BUCKET_MAX_SEC);
		return *ret_msg ? -EINVAL : -ENOMEM;
	}
	return 0;
}

static const rule_fn rules[] = {
	rule_shares_weight, rule_quota_period, rule_swap_limit, rule_reservation, rule_memory_high,
	rule_burst,	    rule_idle,	       rule_floors,	rule_net_bucket,
};

void policy_rules_each(const struct qos_settings *s,
		       void (*report)(void *userdata, unsigned line, char *msg), void *userdata)
{
	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		unsigned line = 0;
		char *msg = NULL;

		if (rules[i](s, &msg, &line) < 0)
			report(userdata, line, msg);
	}
}

int qos_settings_check(const struct qos_settings *s, char **ret_msg)
{
	unsigned line;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		char *msg = NULL;

		r = rules[i](s, &msg, &line);
		if (r < 0) {
			if (ret_msg)
				*ret_msg = msg;
			else
				free(msg);
			return r;
		}
	}
	return 0;
}
