/* SPDX-License-Identifier: MIT */
/* The policy language. inih does the key = value split, but Debian's build truncates long lines
 * and section names silently, folds indented lines into the previous value, strips " ;" inline
 * comments and splits on ':' as well as '='. So every line is checked here first, and inih only
 * ever sees lines whose meaning does not depend on how it was compiled: bad lines are blanked
 * (keeping line numbers) after their error is recorded. Each handler call is paired with the
 * key line the pre-check saw, which gives line numbers without INI_HANDLER_LINENO. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>

#include <ini.h>

#include "keys.h"
#include "limits.h"
#include "policy.h"
#include "units.h"
#include "util.h"

/* inih (INI_MAX_LINE 200) reads at most 199 bytes of a line into its buffer */
#define LINE_MAX_BYTES 199
/* INI_MAX_SECTION; we never use inih's copy of the section name, but keep its documented limit */
#define SECTION_MAX_BYTES 50
#define FILE_MAX_BYTES (1024 * 1024)
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

/* Split "TARGET RATE" (one or more blanks between, nothing else) in place. */
static int blkio_split(char *item, char **ret_target, char **ret_rate)
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

	if (blkio_split(item, &t, &rate) < 0) {
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
		*ret_msg = strprintf("%s needs %s (the ceiling the controller gives back)",
				     qos_key_name(floor), qos_key_name(ceil));
	else
		return rule_le(s, floor, ceil, " (the floor must not exceed the ceiling)", ret_msg,
			       ret_line);
	return *ret_msg ? -EINVAL : -ENOMEM;
}

static int rule_floors(const struct qos_settings *s, char **ret_msg, unsigned *ret_line)
{
	const struct qos_value *fw = &s->v[QK_FLOOR_CPU_WEIGHT], *sh = &s->v[QK_CPU_SHARES];
	int r;

	r = rule_floor(s, QK_FLOOR_CPU_QUOTA, QK_CPU_QUOTA, ret_msg, ret_line);
	if (r >= 0)
		r = rule_floor(s, QK_FLOOR_MEMORY_HIGH, QK_MEMORY_HIGH, ret_msg, ret_line);
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

/* ---- the file parser ---- */

struct perr {
	unsigned line; /* 0: about the whole file */
	char *msg;
};

enum sect_kind { S_NONE, S_TENANT, S_CLASS, S_MATCH, S_CLAIM, S_BAD };

/* A key line the pre-check let through, in order: the n-th inih handler call is the n-th. */
struct kvline {
	unsigned line;
	enum sect_kind sect;
	size_t cls;
	char *key;
};

struct parser {
	const char *path;
	struct qos_tenant *t;
	struct perr *errs;
	size_t n_errs;
	struct kvline *kv;
	size_t n_kv, next_kv;
	unsigned tenant_line, match_line, anyone_line;
	enum sect_kind cur;
	size_t cur_cls;
	bool oom;
};

static void parser_done(struct parser *p)
{
	for (size_t i = 0; i < p->n_errs; i++)
		free(p->errs[i].msg);
	free(p->errs);
	for (size_t i = 0; i < p->n_kv; i++)
		free(p->kv[i].key);
	free(p->kv);
	tenant_free(p->t);
}

/* Take ownership of msg (NULL = allocation failed). */
static void perr_take(struct parser *p, unsigned line, char *msg)
{
	struct perr *n;

	if (!msg) {
		p->oom = true;
		return;
	}
	n = reallocarray(p->errs, p->n_errs + 1, sizeof(*n));
	if (!n) {
		free(msg);
		p->oom = true;
		return;
	}
	p->errs = n;
	p->errs[p->n_errs++] = (struct perr){ line, msg };
}

_printf_(3, 4) static void perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	perr_take(p, line, msg);
}

static bool tenant_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TENANT_MAX || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int class_add(struct parser *p, const char *name, unsigned line)
{
	struct qos_class *n;

	n = reallocarray(p->t->classes, p->t->n_classes + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->t->classes = n;
	n[p->t->n_classes] = (struct qos_class){ .name = strdup(name), .line = line };
	if (!n[p->t->n_classes].name)
		return -ENOMEM;
	p->cur_cls = p->t->n_classes++;
	return 0;
}

static enum sect_kind section_class(struct parser *p, unsigned line, const char *name)
{
	const struct qos_class *c;

	if (name_validate(name, CLASS_MAX) < 0) {
		perr(p, line,
		     "bad class name '%s' (letters, digits, '_', '.', '+', '-', starting with a "
		     "letter or digit, at most %d bytes, not a cgroup file name)",
		     name, CLASS_MAX);
		return S_BAD;
	}
	c = policy_class(p->t, name);
	if (c) {
		perr(p, line, "duplicate section [class %s] (first on line %u)", name, c->line);
		return S_BAD;
	}
	if (class_add(p, name, line) < 0) {
		p->oom = true;
		return S_BAD;
	}
	return S_CLASS;
}

static enum sect_kind section_once(struct parser *p, unsigned line, const char *name,
				   unsigned *first, enum sect_kind kind)
{
	if (*first) {
		perr(p, line, "duplicate section [%s] (first on line %u)", name, *first);
		return S_BAD;
	}
	*first = line;
	if (kind == S_TENANT)
		p->t->has_budget = true;
	return kind;
}

static enum sect_kind section_kind(struct parser *p, unsigned line, char *name)
{
	if (streq(name, "tenant"))
		return section_once(p, line, name, &p->tenant_line, S_TENANT);
	if (streq(name, "match"))
		return section_once(p, line, name, &p->match_line, S_MATCH);
	if (streq(name, "claim"))
		return section_once(p, line, name, &p->t->claim_line, S_CLAIM);
	if (startswith(name, "class") && (name[5] == ' ' || name[5] == '\t'))
		return section_class(p, line, strstrip(name + 5));
	if (streq(name, "class"))
		perr(p, line, "section [class] needs a name: [class NAME]");
	else
		perr(p, line,
		     "unknown section [%s] (expected [tenant], [class NAME], [match] or [claim])",
		     name);
	return S_BAD;
}

/* "[...]" line (already stripped); true if inih may see it. */
static bool section_line(struct parser *p, unsigned line, char *buf)
{
	size_t n = strlen(buf);
	char *name;

	p->cur = S_BAD;
	if (buf[n - 1] != ']') {
		perr(p, line, "section line must end with ']' (nothing may follow it)");
		return false;
	}
	buf[n - 1] = 0;
	name = strstrip(buf + 1);
	if (strpbrk(name, "[]")) {
		perr(p, line, "'[' or ']' inside a section name");
		return false;
	}
	if (strlen(name) > SECTION_MAX_BYTES) {
		perr(p, line, "section name too long (%zu bytes, at most %d)", strlen(name),
		     SECTION_MAX_BYTES);
		return false;
	}
	p->cur = section_kind(p, line, name);
	return p->cur != S_BAD;
}

static int kv_add(struct parser *p, unsigned line, const char *key)
{
	struct kvline *n;

	n = reallocarray(p->kv, p->n_kv + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->kv = n;
	n[p->n_kv] = (struct kvline){ line, p->cur, p->cur_cls, strdup(key) };
	if (!n[p->n_kv].key)
		return -ENOMEM;
	p->n_kv++;
	return 0;
}

/* "key = value" line (already stripped); true if inih may see it. */
static bool kv_line(struct parser *p, unsigned line, char *buf)
{
	char *eq = strchr(buf, '='), *key;

	if (strpbrk(buf, ";#")) {
		perr(p, line,
		     "inline comment (';' or '#' after text): put comments on their own "
		     "line");
		return false;
	}
	if (!eq) {
		perr(p, line, "expected 'KEY = VALUE', '[SECTION]' or a comment");
		return false;
	}
	*eq = 0;
	key = strstrip(buf);
	if (*key == 0) {
		perr(p, line, "missing key before '='");
		return false;
	}
	/* inih splits at the first '=' or ':' */
	if (strchr(key, ':')) {
		perr(p, line, "':' in key '%s' (keys and match globs may not contain ':')", key);
		return false;
	}
	if (p->cur == S_NONE) {
		perr(p, line, "key '%s' outside any section", key);
		return false;
	}
	if (p->cur == S_BAD)
		return false; /* the section's error says it all */
	if (kv_add(p, line, key) < 0) {
		p->oom = true;
		return false;
	}
	return true;
}

/* One line without its '\n'; true if it goes to inih unchanged, false if it is blanked. */
static bool precheck_line(struct parser *p, unsigned line, const char *s, size_t len)
{
	char buf[LINE_MAX_BYTES + 1], *t;

	if (len > LINE_MAX_BYTES) {
		perr(p, line, "line too long (%zu bytes, at most %d)", len, LINE_MAX_BYTES);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			perr(p, line, "control character 0x%02x (not a text file?)",
			     (unsigned char) s[i]);
			return false;
		}
	memcpy(buf, s, len);
	buf[len] = 0;
	t = strstrip(buf);
	/* indented comments are comments for inih too, so they are not continuation lines */
	if (*t == 0 || *t == '#' || *t == ';')
		return false;
	if (t != buf) {
		perr(p, line, "indented line (continuation lines are not allowed)");
		return false;
	}
	if (*t == '[')
		return section_line(p, line, t);
	return kv_line(p, line, t);
}

/* Build inih's input: every line checked, refused lines and comments blanked. */
static int precheck(struct parser *p, const char *text, char **ret_clean)
{
	_cleanup_free_ char *clean = malloc(strlen(text) + 2);
	const char *s = text;
	size_t o = 0;

	if (!clean)
		return -ENOMEM;
	if (startswith(s, "\xef\xbb\xbf"))
		s += 3; /* a UTF-8 BOM: inih may or may not skip it, so it never sees it */
	for (unsigned line = 1; *s; line++) {
		size_t len = strcspn(s, "\n"), keep = len;

		if (keep > 0 && s[keep - 1] == '\r')
			keep--;
		if (precheck_line(p, line, s, keep)) {
			memcpy(clean + o, s, keep);
			o += keep;
		}
		clean[o++] = '\n';
		s += len;
		if (*s == '\n')
			s++;
	}
	clean[o] = 0;
	*ret_clean = TAKE_PTR(clean);
	return p->oom ? -ENOMEM : 0;
}

static void settings_add(struct parser *p, struct qos_settings *s, bool tenant,
			 const struct kvline *kv, const char *value)
{
	struct qos_value *v;
	char *msg = NULL;
	int k;

	k = qos_key_from_name(kv->key);
	if (k < 0)
		return perr(p, kv->line, "unknown key '%s'", kv->key);
	if (tenant && !qos_key_tenant_ok(k))
		return perr(p, kv->line, "%s is not allowed in [tenant] (%s: put it in a class)",
			    kv->key,
			    qos_key_class_only(k) ? "it says how a class is treated"
						  : "net.* and disk.* apply to each container");
	v = &s->v[k];
	/* line is kept even when the first value was refused, so a second one is still a dup */
	if (v->line)
		return perr(p, kv->line, "duplicate key %s (first on line %u)", kv->key, v->line);
	v->line = kv->line;
	if (qos_value_parse(k, value, v, &msg) < 0)
		return perr_take(p, kv->line, msg);
	v->line = kv->line;
}

static void match_add(struct parser *p, const struct kvline *kv, const char *value)
{
	struct qos_tenant *t = p->t;
	struct qos_match *n;

	if (kv->key[0] != '/')
		return perr(p, kv->line, "match glob '%s' must start with '/' (a cgroup path)",
			    kv->key);
	for (size_t i = 0; i < t->n_matches; i++)
		if (streq(t->matches[i].glob, kv->key))
			return perr(p, kv->line, "duplicate match glob %s (first on line %u)",
				    kv->key, t->matches[i].line);
	if (*value == 0)
		return perr(p, kv->line, "match %s: empty value (expected a class name)", kv->key);
	if (name_validate(value, CLASS_MAX) < 0)
		return perr(p, kv->line, "match %s: bad class name '%s'", kv->key, value);
	n = reallocarray(t->matches, t->n_matches + 1, sizeof(*n));
	if (!n) {
		p->oom = true;
		return;
	}
	t->matches = n;
	n[t->n_matches] = (struct qos_match){ strdup(kv->key), strdup(value), kv->line };
	t->n_matches++;
	if (!n[t->n_matches - 1].glob || !n[t->n_matches - 1].cls)
		p->oom = true;
}

/* ---- [claim]: which containers may claim this tenant ---- */

static int claim_push(struct parser *p, enum qos_claim_kind kind, const char *key, const char *glob,
		      unsigned line)
{
	struct qos_tenant *t = p->t;
	struct qos_claim *n;

	for (size_t i = 0; i < t->n_claims; i++)
		if (t->claims[i].kind == kind && streq(t->claims[i].glob, glob) &&
		    (!key || streq(t->claims[i].key, key))) {
			perr(p, line, "duplicate [claim] rule (first on line %u)",
			     t->claims[i].line);
			return 0;
		}
	n = reallocarray(t->claims, t->n_claims + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->claims = n;
	n[t->n_claims] = (struct qos_claim){ kind, key ? strdup(key) : NULL, strdup(glob), line };
	t->n_claims++;
	if ((key && !n[t->n_claims - 1].key) || !n[t->n_claims - 1].glob)
		return -ENOMEM;
	return 0;
}

static void claim_anyone(struct parser *p, const struct kvline *kv, const char *value)
{
	if (p->anyone_line)
		return perr(p, kv->line, "duplicate key anyone (first on line %u)", p->anyone_line);
	p->anyone_line = kv->line;
	if (streq(value, "yes"))
		p->t->claim_anyone = true;
	else if (!streq(value, "no"))
		perr(p, kv->line, "anyone = %s: expected yes or no", value);
}

static void claim_add(struct parser *p, const struct kvline *kv, const char *value)
{
	const char *akey =
		startswith(kv->key, "annotation.") ? kv->key + strlen("annotation.") : NULL;
	int r = 0;

	if (streq(kv->key, "anyone"))
		return claim_anyone(p, kv, value);
	if (*value == 0)
		return perr(p, kv->line, "%s: empty value (expected a glob)", kv->key);
	if (strlen(value) > CLAIM_GLOB_MAX)
		return perr(p, kv->line, "%s: glob longer than %d bytes", kv->key, CLAIM_GLOB_MAX);
	if (streq(kv->key, "cgroup")) {
		if (value[0] != '/')
			return perr(p, kv->line,
				    "cgroup = %s: must start with '/' (a cgroup path glob)", value);
		r = claim_push(p, QOS_CLAIM_CGROUP, NULL, value, kv->line);
	} else if (akey) {
		if (!annotation_key_ok(akey))
			return perr(p, kv->line,
				    "%s: '%s' is not an annotation key ([A-Za-z0-9._/-], at most "
				    "%d bytes)",
				    kv->key, akey, ANNOTATION_KEY_MAX);
		/* the container's owner writes these: a rule on them would bind nothing */
		if (startswith(akey, "qosd.io/"))
			return perr(p, kv->line,
				    "%s: qosd.io/* annotations are set by whoever starts the "
				    "container; bind on a key the runtime sets (e.g. "
				    "io.kubernetes.pod.namespace) or on cgroup",
				    kv->key);
		r = claim_push(p, QOS_CLAIM_ANNOTATION, akey, value, kv->line);
	} else
		return perr(p, kv->line,
			    "unknown key '%s' in [claim] (expected cgroup, annotation.KEY or "
			    "anyone)",
			    kv->key);
	if (r < 0)
		p->oom = true;
}

static void check_claims(struct parser *p)
{
	const struct qos_tenant *t = p->t;

	if (t->claim_line && t->claim_anyone && t->n_claims)
		perr(p, t->claims[0].line,
		     "[claim] anyone = yes lets every container claim %s: other [claim] rules "
		     "would have no effect",
		     t->name);
	else if (t->claim_line && !t->claim_anyone && !t->n_claims)
		perr(p, t->claim_line,
		     "[claim] is empty: give cgroup = GLOB, annotation.KEY = GLOB or anyone = yes "
		     "(or remove it)");
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct kvline *kv;

	if (!name)
		return 1; /* INI_CALL_HANDLER_ON_NEW_SECTION builds: sections come from precheck */
	if (p->next_kv >= p->n_kv || !streq(p->kv[p->next_kv].key, name)) {
		/* cannot happen with the pre-check; never guess which line this was */
		perr(p, 0, "internal error: INI parser out of step at key '%s'", name);
		p->next_kv = p->n_kv;
		return 1;
	}
	kv = &p->kv[p->next_kv++];
	if (kv->sect == S_TENANT)
		settings_add(p, &p->t->budget, true, kv, value);
	else if (kv->sect == S_CLASS)
		settings_add(p, &p->t->classes[kv->cls].s, false, kv, value);
	else if (kv->sect == S_MATCH)
		match_add(p, kv, value);
	else if (kv->sect == S_CLAIM)
		claim_add(p, kv, value);
	return 1;
}

static void check_section(struct parser *p, const struct qos_settings *s)
{
	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		unsigned line = 0;
		char *msg = NULL;

		if (rules[i](s, &msg, &line) < 0)
			perr_take(p, line, msg);
	}
}

static void check_tenant(struct parser *p)
{
	const struct qos_tenant *t = p->t;

	if (t->has_budget)
		check_section(p, &t->budget);
	for (size_t i = 0; i < t->n_classes; i++)
		check_section(p, &t->classes[i].s);
	for (size_t i = 0; i < t->n_matches; i++)
		if (!policy_class(t, t->matches[i].cls))
			perr(p, t->matches[i].line,
			     "match %s: class '%s' is not defined in this file", t->matches[i].glob,
			     t->matches[i].cls);
	check_claims(p);
}

static int perr_cmp(const void *a, const void *b)
{
	const struct perr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	/* stable: messages of one line keep the order they were found in */
	return x < y ? -1 : x > y;
}

/* All errors, sorted by line, as "file:line: msg\n" ("file: msg\n" for the whole file). */
static int errors_text(struct parser *p, char **out)
{
	int r = 0;

	qsort(p->errs, p->n_errs, sizeof(*p->errs), perr_cmp);
	for (size_t i = 0; i < p->n_errs && r >= 0; i++) {
		if (p->errs[i].line)
			r = strextend(out, "%s:%u: %s\n", p->path, p->errs[i].line, p->errs[i].msg);
		else
			r = strextend(out, "%s: %s\n", p->path, p->errs[i].msg);
	}
	return r;
}

static int parse_text(struct parser *p, const char *text)
{
	_cleanup_free_ char *clean = NULL;
	int r;

	r = precheck(p, text, &clean);
	if (r < 0)
		return r;
	r = ini_parse_string(clean, ini_handler_cb, p);
	if (r < 0)
		return -ENOMEM; /* -2: inih's malloc; -1 (open) cannot happen for a string */
	if (r > 0)
		perr(p, (unsigned) r, "syntax error");
	if (p->next_kv != p->n_kv)
		perr(p, 0, "internal error: INI parser skipped lines");
	check_tenant(p);
	return p->oom ? -ENOMEM : 0;
}

int policy_load_string(const char *name, const char *path, const char *text,
		       struct qos_tenant **ret, char **ret_errors)
{
	struct parser p = { .path = path };
	_cleanup_free_ char *errs = NULL;
	int r;

	p.t = calloc(1, sizeof(*p.t));
	if (!p.t)
		return -ENOMEM;
	p.t->name = strdup(name);
	p.t->file = strdup(path);
	if (!p.t->name || !p.t->file) {
		parser_done(&p);
		return -ENOMEM;
	}
	if (!tenant_name_ok(name))
		perr(&p, 0,
		     "bad tenant name '%s' (the file name without .conf must match "
		     "[a-z0-9][a-z0-9_-]{0,31})",
		     name);
	r = parse_text(&p, text);
	if (r >= 0 && p.n_errs > 0)
		r = errors_text(&p, &errs) < 0 ? -ENOMEM : -EINVAL;
	if (r >= 0)
		*ret = TAKE_PTR(p.t);
	else if (r == -EINVAL && ret_errors)
		*ret_errors = TAKE_PTR(errs);
	parser_done(&p);
	return r;
}

/* "dir/acme.conf" -> "acme" */
static char *tenant_name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (endswith(base, ".conf"))
		n -= strlen(".conf");
	return strndup(base, n);
}

static int file_error(char **ret_errors, int r, const char *fmt, ...) _printf_(3, 4);
static int file_error(char **ret_errors, int r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!ret_errors)
		return r;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return -ENOMEM;
	*ret_errors = msg;
	return r;
}

/* A NUL makes the rest of the file invisible to string functions: refuse, naming the line. */
static int check_nul(const char *path, const char *buf, size_t len, char **ret_errors)
{
	const char *nul = memchr(buf, 0, len);
	unsigned line = 1;

	if (!nul)
		return 0;
	for (const char *c = buf; c < nul; c++)
		line += *c == '\n';
	return file_error(ret_errors, -EINVAL, "%s:%u: NUL byte (not a text file)\n", path, line);
}

/* Read path (shown as path) into a tenant named after the file. */
static int load_file_at(int dirfd, const char *name, const char *path, struct qos_tenant **ret,
			char **ret_errors)
{
	_cleanup_free_ char *buf = NULL, *tname = NULL;
	int r;

	r = read_file_at(dirfd, name, FILE_MAX_BYTES, &buf);
	if (r == -EFBIG)
		return file_error(ret_errors, -EFBIG, "%s: file too large (more than %d bytes)\n",
				  path, FILE_MAX_BYTES);
	if (r < 0)
		return file_error(ret_errors, r, "%s: cannot read: %s\n", path, strerror(-r));
	r = check_nul(path, buf, (size_t) r, ret_errors);
	if (r < 0)
		return r;
	tname = tenant_name_from_path(path);
	if (!tname)
		return -ENOMEM;
	return policy_load_string(tname, path, buf, ret, ret_errors);
}

int policy_load_file(const char *path, struct qos_tenant **ret, char **ret_errors)
{
	return load_file_at(AT_FDCWD, path, path, ret, ret_errors);
}

/* Frees what t owns, not t itself. */
static void tenant_clear(struct qos_tenant *t)
{
	free(t->name);
	free(t->file);
	qos_settings_done(&t->budget);
	for (size_t i = 0; i < t->n_classes; i++) {
		free(t->classes[i].name);
		qos_settings_done(&t->classes[i].s);
	}
	free(t->classes);
	for (size_t i = 0; i < t->n_matches; i++) {
		free(t->matches[i].glob);
		free(t->matches[i].cls);
	}
	free(t->matches);
	for (size_t i = 0; i < t->n_claims; i++) {
		free(t->claims[i].key);
		free(t->claims[i].glob);
	}
	free(t->claims);
	*t = (struct qos_tenant){ 0 };
}

void tenant_free(struct qos_tenant *t)
{
	if (!t)
		return;
	tenant_clear(t);
	free(t);
}

void policy_free(struct qos_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_tenants; i++)
		tenant_clear(&p->tenants[i]);
	free(p->tenants);
	free(p->dir);
	free(p);
}

static void policy_freep(struct qos_policy **p)
{
	policy_free(*p);
}

static int is_conf(const struct dirent *d)
{
	return endswith(d->d_name, ".conf");
}

/* strcmp, not strcoll: the order must not depend on the locale qosd runs in */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int policy_add(struct qos_policy *p, struct qos_tenant *t)
{
	struct qos_tenant *n;

	n = reallocarray(p->tenants, p->n_tenants + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->tenants = n;
	n[p->n_tenants++] = *t;
	free(t); /* the shell only: its contents now live in the array */
	return 0;
}

/* Load every file of the sorted list into p; errors of all files go to *errs. */
static int load_entries(struct qos_policy *p, int dfd, struct dirent **list, int n, char **errs)
{
	int ret = 0, r;

	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL, *e = NULL;
		struct qos_tenant *t = NULL;

		path = strprintf("%s%s%s", p->dir, endswith(p->dir, "/") ? "" : "/",
				 list[i]->d_name);
		if (!path)
			return -ENOMEM;
		r = load_file_at(dfd, list[i]->d_name, path, &t, &e);
		if (r == -ENOMEM || (e && strextend(errs, "%s", e) < 0))
			return -ENOMEM;
		if (r < 0) {
			ret = -EINVAL;
			continue;
		}
		if (policy_add(p, t) < 0) {
			tenant_free(t);
			return -ENOMEM;
		}
	}
	return ret;
}

static void dirents_free(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int policy_load_dir(const char *dir, struct qos_policy **ret, char **ret_errors)
{
	_cleanup_(policy_freep) struct qos_policy *p = NULL;
	_cleanup_free_ char *errs = NULL;
	_cleanup_close_ int dfd = -1;
	struct dirent **list = NULL;
	int n, r;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = negative_errno();
		return file_error(ret_errors, r, "%s: %s\n", dir,
				  r == -ENOENT ? "no such directory" : strerror(-r));
	}
	n = scandirat(dfd, ".", &list, is_conf, name_cmp);
	if (n < 0) {
		r = negative_errno();
		return file_error(ret_errors, r, "%s: cannot list: %s\n", dir, strerror(-r));
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->dir = strdup(dir);
	r = p && p->dir ? load_entries(p, dfd, list, n, &errs) : -ENOMEM;
	dirents_free(list, n);
	if (r < 0) {
		if (r == -EINVAL && ret_errors)
			*ret_errors = TAKE_PTR(errs);
		return r;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

const struct qos_tenant *policy_tenant(const struct qos_policy *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_tenants; i++)
		if (streq(p->tenants[i].name, name))
			return &p->tenants[i];
	return NULL;
}

const struct qos_class *policy_class(const struct qos_tenant *t, const char *name)
{
	for (size_t i = 0; t && i < t->n_classes; i++)
		if (streq(t->classes[i].name, name))
			return &t->classes[i];
	return NULL;
}

int policy_match_rule(const struct qos_policy *p, const char *cgpath,
		      const struct qos_tenant **ret_t, const struct qos_match **ret_rule)
{
	for (size_t i = 0; p && i < p->n_tenants; i++) {
		const struct qos_tenant *t = &p->tenants[i];

		for (size_t j = 0; j < t->n_matches; j++) {
			if (fnmatch(t->matches[j].glob, cgpath, FNM_PATHNAME) != 0)
				continue;
			*ret_t = t;
			*ret_rule = &t->matches[j];
			return 1;
		}
	}
	return -ENOENT;
}

int policy_match(const struct qos_policy *p, const char *cgpath, const struct qos_tenant **ret_t,
		 const struct qos_class **ret_c)
{
	const struct qos_tenant *t;
	const struct qos_match *rule;
	int r = policy_match_rule(p, cgpath, &t, &rule);

	if (r < 0)
		return r;
	if (ret_t)
		*ret_t = t;
	if (ret_c)
		*ret_c = policy_class(t, rule->cls);
	return 1;
}

static void io_targets_free(struct qos_io_target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].target);
	free(v);
}

/* One "TARGET RATE" item of a canonical value into *t. */
static int io_target_parse(char *item, int kind, struct qos_io_target *t)
{
	char *target, *rate;
	uint64_t v;
	int r;

	r = blkio_split(strstrip(item), &target, &rate);
	if (r < 0)
		return r;
	if (kind == QOS_IO_RBPS || kind == QOS_IO_WBPS)
		r = parse_size(rate, &v);
	else
		r = parse_u64(rate, &v);
	if (r < 0)
		return r;
	*t = (struct qos_io_target){ .target = strdup(target), .kind = kind, .value = v };
	return t->target ? 0 : -ENOMEM;
}

int policy_io_targets(const struct qos_value *v, int kind, struct qos_io_target **targets,
		      size_t *n)
{
	_cleanup_free_ char *copy = NULL;
	struct qos_io_target *out = NULL, *nv;
	size_t count = 0;
	char *p, *item;
	int r = 0;

	if (!v->set || !v->str || kind < 0 || kind >= _QOS_IO_KIND_MAX)
		return -EINVAL;
	copy = strdup(v->str);
	if (!copy)
		return -ENOMEM;
	for (p = copy; r >= 0 && (item = strsep(&p, ","));) {
		nv = reallocarray(out, count + 1, sizeof(*out));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		out = nv;
		r = io_target_parse(item, kind, &out[count]);
		if (r >= 0)
			count++;
	}
	if (r < 0) {
		io_targets_free(out, count);
		return r;
	}
	*targets = out;
	*n = count;
	return 0;
}
