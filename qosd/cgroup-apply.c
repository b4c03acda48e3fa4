/* SPDX-License-Identifier: MIT */
/* cg_apply: the cpu, cpuset, memory and pids writers for v1 and v2, driven by one knob table. */
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>

#include "cgfs.h"
#include "cgroup-internal.h"
#include "keys.h"
#include "log.h"
#include "sdunit.h"
#include "units.h"
#include "util.h"

/* How a knob's text is compared: normalized on both sides, so a value the kernel rounds, clamps
 * or spells differently is not rewritten on every pass. */
enum cg_kind {
	K_NUM, /* plain decimal */
	K_SHARES, /* v1 cpu.shares: silently clamped to [2, 262144] */
	K_QUOTA, /* v1 cpu.cfs_quota_us: -1 = unlimited */
	K_BYTES, /* page counter: read back rounded down to pages; -1, "max", PAGE_COUNTER_MAX = max */
	K_MAXNUM, /* "max" or decimal (pids.max) */
	K_CPUMAX, /* v2 cpu.max "QUOTA|max PERIOD" */
	K_LIST, /* cpu / node list "0-3,6" */
};

struct apply_ctx;
struct step;
typedef int (*build_fn)(struct apply_ctx *c, struct step *s);

struct cg_knob_ver {
	enum qos_key key; /* the policy key, as the report names it */
	const char *file; /* kernel file; NULL: none on this version */
	enum cg_kind kind;
	const char *clear; /* text written on CLEAR (the kernel default) */
	size_t off; /* the qos_u64 / qos_str in struct qos_cg_limits */
	build_fn build; /* NULL: SET writes the value, CLEAR writes clear */
	const char *usage; /* v1: usage file quoted when the kernel says EBUSY */
	bool merged; /* written as part of another row's file (v2 cpu.period in cpu.max) */
	const char *none; /* file == NULL: why this version has no such knob (a u64 row) */
	enum sdprop_kind sdp; /* the systemd unit property that models it (SDP_NONE: cgroupfs) */
};

struct cg_knob_desc {
	enum cg_ctrl ctrl;
	bool str; /* qos_str, else qos_u64 */
	struct cg_knob_ver v[2]; /* [0] v1, [1] v2 */
};

struct step {
	const struct cg_knob_desc *d;
	const struct cg_knob_ver *kv;
	size_t idx; /* report entry */
	int fd; /* borrowed */
	struct cgfs_knob k; /* kept open from the read before the write to the read-back */
	enum qos_op op;
	char *cur, *want;
	bool write;
	bool sd; /* goes through systemd (the cgroup is a unit's and systemd models the knob) */
	int err;
};

struct apply_ctx {
	struct cg_root *root;
	const char *cgpath;
	const struct cg_paths *hier; /* v1 per-hierarchy paths, NULL = cgpath everywhere */
	struct cg_dirs *dirs; /* the cgroup's directories, opened once per request: fd[] borrowed */
	const struct qos_cg_limits *l;
	bool dry_run;
	struct qos_report *r;
	struct sdunit *sdu; /* with unit: the cgroup is that systemd unit's own */
	const char *unit;
	bool fresh; /* first pass on this unit: push every owned knob to systemd once */
	int v; /* 0: v1, 1: v2 */
	int fd[_CG_CTRL_MAX];
	int dir_err[_CG_CTRL_MAX];
	bool off[_CG_CTRL_MAX]; /* v2: the parent does not enable this controller for the cgroup */
	bool off_read; /* off[] was filled (find_disabled, on the first knob that cannot be read) */
	bool off_said[_CG_CTRL_MAX];
	struct step steps[16];
	size_t n;
	int ret;
};

static int build_cpumax(struct apply_ctx *c, struct step *s);
static int build_cpuset_v1(struct apply_ctx *c, struct step *s);
static int build_memsw(struct apply_ctx *c, struct step *s);

/* One version's side of a row; the optional tail is .build, .usage, .merged. */
#define KV(k, f, kd, clr, field, ...)                                     \
	{                                                                 \
		.key = (k), .file = (f), .kind = (kd), .clear = (clr),    \
		.off = offsetof(struct qos_cg_limits, field), __VA_ARGS__ \
	}

/* The v1 <-> v2 table: one row per limit, in write order. */
static const struct cg_knob_desc knob_table[] = {
	{ CG_CPU,
	  false,
	  { KV(QK_CPU_SHARES, "cpu.shares", K_SHARES, "1024", cpu.shares, .sdp = SDP_CPU_SHARES),
	    KV(QK_CPU_WEIGHT, "cpu.weight", K_NUM, "100", cpu.weight, .sdp = SDP_CPU_WEIGHT) } },
	{ CG_CPU,
	  false,
	  { KV(QK_CPU_PERIOD, "cpu.cfs_period_us", K_NUM, "100000", cpu.period_us,
	       .sdp = SDP_CPU_PERIOD_V1),
	    KV(QK_CPU_PERIOD, "cpu.max", K_CPUMAX, NULL, cpu.period_us, .merged = true) } },
	{ CG_CPU,
	  false,
	  { KV(QK_CPU_QUOTA, "cpu.cfs_quota_us", K_QUOTA, "-1", cpu.quota_us,
	       .sdp = SDP_CPU_QUOTA_V1),
	    KV(QK_CPU_QUOTA, "cpu.max", K_CPUMAX, NULL, cpu.quota_us, .build = build_cpumax,
	       .sdp = SDP_CPU_MAX) } },
	/* after the quota: the kernel refuses a burst above it (then retried once the quota holds).
	 * systemd has no burst property (systemd#26658) and never writes the file: cgroupfs */
	{ CG_CPU,
	  false,
	  { KV(QK_CPU_BURST, "cpu.cfs_burst_us", K_NUM, "0", cpu.burst_us),
	    KV(QK_CPU_BURST, "cpu.max.burst", K_NUM, "0", cpu.burst_us) } },
	{ CG_CPU,
	  false,
	  { KV(QK_CPU_IDLE, "cpu.idle", K_NUM, "0", cpu.idle),
	    KV(QK_CPU_IDLE, "cpu.idle", K_NUM, "0", cpu.idle) } },
	{ CG_CPUSET,
	  true,
	  { KV(QK_CPUSET_CPUS, "cpuset.cpus", K_LIST, NULL, cpu.cpus, .build = build_cpuset_v1),
	    KV(QK_CPUSET_CPUS, "cpuset.cpus", K_LIST, "", cpu.cpus, .sdp = SDP_ALLOWED_CPUS) } },
	{ CG_CPUSET,
	  true,
	  { KV(QK_CPUSET_MEMS, "cpuset.mems", K_LIST, NULL, cpu.mems, .build = build_cpuset_v1),
	    KV(QK_CPUSET_MEMS, "cpuset.mems", K_LIST, "", cpu.mems, .sdp = SDP_ALLOWED_MEMS) } },
	{ CG_MEMORY,
	  false,
	  { KV(QK_MEMORY_LIMIT, "memory.limit_in_bytes", K_BYTES, "-1", mem.limit,
	       .usage = "memory.usage_in_bytes", .sdp = SDP_MEMORY_LIMIT),
	    KV(QK_MEMORY_LIMIT, "memory.max", K_BYTES, "max", mem.limit, .sdp = SDP_MEMORY_MAX) } },
	{ CG_MEMORY,
	  false,
	  { KV(QK_MEMORY_SWAP, "memory.memsw.limit_in_bytes", K_BYTES, "-1", mem.swap,
	       .build = build_memsw, .usage = "memory.memsw.usage_in_bytes"),
	    KV(QK_MEMORY_SWAP, "memory.swap.max", K_BYTES, "max", mem.swap,
	       .sdp = SDP_MEMORY_SWAP_MAX) } },
	/* memory.low is a protection: its default is 0, not max */
	{ CG_MEMORY,
	  false,
	  { KV(QK_MEMORY_RESERVATION, "memory.soft_limit_in_bytes", K_BYTES, "-1", mem.reservation),
	    KV(QK_MEMORY_RESERVATION, "memory.low", K_BYTES, "0", mem.reservation,
	       .sdp = SDP_MEMORY_LOW) } },
	{ CG_MEMORY,
	  false,
	  { KV(QK_MEMORY_HIGH, NULL, K_BYTES, NULL, mem.high,
	       .none = "cgroup v1 has no memory.high (no throttle below memory.limit; "
		       "memory.reservation maps to the soft limit)"),
	    KV(QK_MEMORY_HIGH, "memory.high", K_BYTES, "max", mem.high, .sdp = SDP_MEMORY_HIGH) } },
	{ CG_MEMORY,
	  false,
	  { KV(QK_MEMORY_MIN, NULL, K_BYTES, NULL, mem.min,
	       .none = "cgroup v1 has no hard memory protection (memory.min); "
		       "memory.reservation maps to the soft limit"),
	    KV(QK_MEMORY_MIN, "memory.min", K_BYTES, "0", mem.min, .sdp = SDP_MEMORY_MIN) } },
	{ CG_PIDS,
	  false,
	  { KV(QK_PIDS_LIMIT, "pids.max", K_MAXNUM, "max", pids.max, .sdp = SDP_TASKS_MAX),
	    KV(QK_PIDS_LIMIT, "pids.max", K_MAXNUM, "max", pids.max, .sdp = SDP_TASKS_MAX) } },
};

_Static_assert(ELEMENTSOF(knob_table) <= ELEMENTSOF(((struct apply_ctx *) 0)->steps),
	       "one step per table row");

const char *cg_knob_file(enum qos_key key, enum cg_mode mode)
{
	int v = mode == CG_UNIFIED;

	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++)
		if (knob_table[i].v[0].key == key || knob_table[i].v[1].key == key)
			return knob_table[i].v[v].file;
	return NULL;
}

enum sdprop_kind cg_knob_sdprop(const char *file, enum cg_mode mode)
{
	int v = mode == CG_UNIFIED;

	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++)
		if (knob_table[i].v[v].file && !knob_table[i].v[v].merged &&
		    streq(knob_table[i].v[v].file, file))
			return knob_table[i].v[v].sdp;
	return SDP_NONE;
}

const char *cg_knob_counterpart(const char *file, enum cg_mode mode)
{
	int v = mode == CG_UNIFIED;

	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++)
		if (knob_table[i].v[!v].file && streq(knob_table[i].v[!v].file, file))
			return knob_table[i].v[v].file;
	return NULL;
}

static const struct qos_u64 *row_u64(const struct apply_ctx *c, const struct cg_knob_ver *kv)
{
	return (const struct qos_u64 *) ((const char *) c->l + kv->off);
}

static const struct qos_str *row_str(const struct apply_ctx *c, const struct cg_knob_ver *kv)
{
	return (const struct qos_str *) ((const char *) c->l + kv->off);
}

static enum qos_op row_op(const struct apply_ctx *c, const struct cg_knob_desc *d)
{
	const struct cg_knob_ver *kv = &d->v[c->v];

	return d->str ? row_str(c, kv)->op : row_u64(c, kv)->op;
}

static struct qos_knob *step_knob(struct apply_ctx *c, const struct step *s)
{
	return &c->r->v[s->idx];
}

static void fail(struct apply_ctx *c, struct step *s, int err, const char *fmt, ...) _printf_(4, 5);

static void fail(struct apply_ctx *c, struct step *s, int err, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	s->err = err;
	knob_fail(step_knob(c, s), err, "%s", msg ? msg : strerror(-err));
	if (c->ret == 0)
		c->ret = err;
}

/* The kernel's "unlimited" for a page counter: PAGE_COUNTER_MAX pages, LONG_MAX rounded down. */
static uint64_t page_counter_max(void)
{
	uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE);

	return (uint64_t) LONG_MAX / page * page;
}

/* Bytes of a memory knob; UINT64_MAX for unlimited. */
static int parse_bytes(const char *s, uint64_t *ret)
{
	uint64_t v;

	if (streq(s, "max") || streq(s, "-1")) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (parse_u64(s, &v) < 0)
		return -EINVAL;
	*ret = v >= page_counter_max() ? UINT64_MAX : v;
	return 0;
}

static char *norm_cpumax(const char *s)
{
	char q[32], p[32], extra;
	uint64_t qv, pv;
	int n = sscanf(s, "%31s %31s %c", q, p, &extra);

	if (n < 1 || n > 2)
		return NULL;
	if (n == 1)
		strcpy(p, "100000");
	if (parse_u64(p, &pv) < 0)
		return NULL;
	if (streq(q, "max"))
		return strprintf("max %" PRIu64, pv);
	if (parse_u64(q, &qv) < 0)
		return NULL;
	return strprintf("%" PRIu64 " %" PRIu64, qv, pv);
}

/* A number knob's value as the kernel keeps it: *ret_max for "max" (or -1, or no byte limit). */
static int canon_u64(enum cg_kind kind, const char *s, uint64_t *ret, bool *ret_max)
{
	static uint64_t page;
	uint64_t v;

	*ret_max = false;
	if (kind == K_QUOTA && s[0] == '-') {
		*ret_max = true;
		return streq(s, "-1") ? 0 : -EINVAL;
	}
	if ((kind == K_MAXNUM && streq(s, "max"))) {
		*ret_max = true;
		return 0;
	}
	if (kind == K_BYTES) {
		if (parse_bytes(s, &v) < 0)
			return -EINVAL;
		if (!page)
			page = (uint64_t) sysconf(_SC_PAGESIZE);
		*ret_max = v == UINT64_MAX;
		*ret = v / page * page;
		return 0;
	}
	if (parse_u64(s, &v) < 0)
		return -EINVAL;
	*ret = kind == K_SHARES ? MIN(MAX(v, 2u), 262144u) : v;
	return 0;
}

/* A cpu or node list as a set of ids (an empty cpuset file is the empty set): two lists are the
 * same when their sets are, without building either's normalized text. */
static int list_bits(const char *s, uint64_t bits[CPULIST_MAX / 64])
{
	if (!*s) {
		memset(bits, 0, CPULIST_MAX / 8);
		return 0;
	}
	return cpulist_bits(s, bits);
}

/* Numbers and lists are compared parsed, without building their text: a pass compares every
 * knob. */
static bool same_value(enum cg_kind kind, const char *a, const char *b)
{
	_cleanup_free_ char *na = NULL, *nb = NULL;

	if (!a || !b)
		return false;
	if (kind == K_LIST) {
		uint64_t ba[CPULIST_MAX / 64], bb[CPULIST_MAX / 64];

		return list_bits(a, ba) >= 0 && list_bits(b, bb) >= 0 &&
		       !memcmp(ba, bb, sizeof(ba));
	}
	if (kind != K_CPUMAX) {
		uint64_t va = 0, vb = 0;
		bool ma, mb;

		return canon_u64(kind, a, &va, &ma) >= 0 && canon_u64(kind, b, &vb, &mb) >= 0 &&
		       ma == mb && (ma || va == vb);
	}
	na = norm_cpumax(a);
	nb = norm_cpumax(b);
	return na && nb && streq(na, nb);
}

/* v2 cpu.max carries quota and period: a LEAVE half keeps what the kernel has. */
static int build_cpumax(struct apply_ctx *c, struct step *s)
{
	const struct qos_u64 *q = &c->l->cpu.quota_us, *p = &c->l->cpu.period_us;
	_cleanup_free_ char *cur = s->cur ? norm_cpumax(s->cur) : NULL;
	char cq[32] = "max", qs[32], ps[32];
	uint64_t cp = 100000;

	if (cur && sscanf(cur, "%31s %" SCNu64, cq, &cp) != 2)
		return -EBADMSG;
	if (q->op == QOS_SET)
		snprintf(qs, sizeof(qs), "%" PRIu64, q->v);
	else
		snprintf(qs, sizeof(qs), "%s", q->op == QOS_CLEAR ? "max" : cq);
	snprintf(ps, sizeof(ps), "%" PRIu64,
		 p->op == QOS_SET     ? p->v
		 : p->op == QOS_CLEAR ? 100000
				      : cp);
	if (p->op != QOS_LEAVE)
		(void) knob_printf(&step_knob(c, s)->note, "quota and period share cpu.max");
	s->want = strprintf("%s %s", qs, ps);
	return s->want ? 0 : -ENOMEM;
}

static int parent_path(const char *cgpath, char **ret)
{
	const char *slash = strrchr(cgpath, '/');

	if (streq(cgpath, "/"))
		return -ENOENT;
	*ret = strndup(cgpath, slash == cgpath ? 1 : (size_t) (slash - cgpath));
	return *ret ? 0 : -ENOMEM;
}

/* v1 cpuset has no "unset": CLEAR copies the parent's value. */
static int build_cpuset_v1(struct apply_ctx *c, struct step *s)
{
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int pfd = -1;
	int r;

	if (s->op == QOS_SET) {
		s->want = strdup(row_str(c, s->kv)->v ? row_str(c, s->kv)->v : "");
		return s->want ? 0 : -ENOMEM;
	}
	r = parent_path(cg_paths_get(c->hier, CG_CPUSET, c->cgpath), &parent);
	if (r < 0)
		return r;
	r = cg_open(c->root, CG_CPUSET, parent, &pfd);
	if (r < 0)
		return r;
	r = cgfs_read(pfd, s->kv->file, &s->want);
	if (r < 0)
		return r;
	(void) knob_printf(&step_knob(c, s)->note, "unset: the parent's %s", s->want);
	return 0;
}

/* v1 memsw counts memory + swap: memsw = limit + swap. */
static int build_memsw(struct apply_ctx *c, struct step *s)
{
	const struct qos_u64 *lim = &c->l->mem.limit, *sw = &c->l->mem.swap;
	char b[32];
	uint64_t v;

	if (s->op == QOS_CLEAR) {
		s->want = strdup("-1");
		return s->want ? 0 : -ENOMEM;
	}
	if (lim->op != QOS_SET) {
		fail(c, s, -EINVAL,
		     "memory.swap needs memory.limit on cgroup v1 (memsw = limit + swap)");
		return -EINVAL;
	}
	if (__builtin_add_overflow(lim->v, sw->v, &v))
		v = UINT64_MAX;
	s->want = strprintf("%" PRIu64, v);
	if (!s->want)
		return -ENOMEM;
	format_size_approx(v, b, sizeof(b));
	(void) knob_printf(&step_knob(c, s)->note, "memsw = limit + swap = %s", b);
	return 0;
}

static int build_default(struct apply_ctx *c, struct step *s)
{
	if (s->op == QOS_CLEAR)
		s->want = strdup(s->kv->clear ? s->kv->clear : "");
	else if (s->d->str)
		s->want = strdup(row_str(c, s->kv)->v ? row_str(c, s->kv)->v : "");
	else
		s->want = strprintf("%" PRIu64, row_u64(c, s->kv)->v);
	return s->want ? 0 : -ENOMEM;
}

/* v2 cpu.max is one file for quota and period: it is ours if either half is. */
static enum qos_op step_op(const struct apply_ctx *c, const struct cg_knob_desc *d)
{
	enum qos_op op = row_op(c, d);

	if (c->v && d->v[1].kind == K_CPUMAX && op == QOS_LEAVE)
		op = c->l->cpu.period_us.op;
	return op;
}

/* A hierarchy counts only if the limits set or clear a knob in it: a missing cpuset cgroup does
 * not hold back a container whose class sets no cpuset key. A dry run (show) opens the others
 * too, to report what they hold. */
static void open_dirs(struct apply_ctx *c)
{
	bool used[_CG_CTRL_MAX] = { false };

	for (int i = 0; i < _CG_CTRL_MAX; i++) {
		c->fd[i] = -1;
		c->dir_err[i] = 1; /* not tried */
	}
	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++)
		if (step_op(c, &knob_table[i]) != QOS_LEAVE)
			used[knob_table[i].ctrl] = true;
	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++) {
		enum cg_ctrl ctl = knob_table[i].ctrl;

		if (c->dir_err[ctl] <= 0 || (!used[ctl] && !c->dry_run))
			continue;
		c->dir_err[ctl] =
			cg_dirs_get(c->root, c->dirs, ctl, c->cgpath, c->hier, &c->fd[ctl]);
		/* v1: a runtime makes the hierarchies one by one (runc: cpuset, memory, cpu, pids)
		 * and the watch sees cpu's. Woken by that mkdir, qosd has most likely taken the CPU
		 * from the runtime itself (the scheduler's wake-up preemption), which cannot make
		 * the rest until qosd sleeps or yields: yield once and look again, rather than
		 * sleep until a retry (in the bench 60-90 % of the creations found pids missing) */
		if (c->dir_err[ctl] == -ENOENT && used[ctl] && !c->v && !c->dry_run) {
			sched_yield();
			cg_dirs_again(c->dirs, ctl);
			c->dir_err[ctl] =
				cg_dirs_get(c->root, c->dirs, ctl, c->cgpath, c->hier, &c->fd[ctl]);
		}
		if (c->dir_err[ctl] == -ENOENT && used[ctl])
			report_retry(c->r, "cgroup %s not present in the %s hierarchy yet",
				     cg_paths_get(c->hier, ctl, c->cgpath),
				     c->v ? "unified" : cg_ctrl_name(ctl));
	}
}

static const char *v2_ctrl_name(enum cg_ctrl ctl)
{
	return ctl == CG_BLKIO ? "io" : cg_ctrl_name(ctl);
}

/* v2: a cgroup has a controller's files only when its parent enables the controller in its
 * cgroup.subtree_control; qosd does not write the parent (it is not the container's). Read only
 * when a knob cannot be read, to say why: not on every apply (3 system calls). fd: the
 * cgroup's directory (on v2 one for every controller; the cpu one is not open when no cpu key
 * is set). */
static void find_disabled(struct apply_ctx *c, int fd)
{
	_cleanup_free_ char *avail = NULL;

	if (c->off_read)
		return;
	c->off_read = true;
	if (!c->v || fd < 0 || cgfs_read(fd, "cgroup.controllers", &avail) < 0)
		return;
	for (int i = 0; i < _CG_CTRL_MAX; i++) {
		const char *name = v2_ctrl_name(i);
		size_t len = strlen(name);
		bool found = false;

		for (const char *p = avail; (p = strstr(p, name)); p += len)
			if ((p == avail || p[-1] == ' ') && (!p[len] || strchr(" \n", p[len])))
				found = true;
		c->off[i] = !found;
	}
}

/* Said once per controller, naming the parent: not an ENOENT per missing file. */
static void fail_off(struct apply_ctx *c, struct step *s)
{
	enum cg_ctrl ctl = s->d->ctrl;
	const char *slash = strrchr(c->cgpath, '/');
	int plen = slash && slash != c->cgpath ? (int) (slash - c->cgpath) : 1;

	if (c->off_said[ctl]) {
		fail(c, s, -EOPNOTSUPP, "%s controller not enabled (see above)", v2_ctrl_name(ctl));
		return;
	}
	c->off_said[ctl] = true;
	fail(c, s, -EOPNOTSUPP,
	     "the %s controller is not enabled for this cgroup: its parent %.*s does not enable it "
	     "in cgroup.subtree_control",
	     v2_ctrl_name(ctl), plen, c->cgpath);
}

static void fail_dir(struct apply_ctx *c, struct step *s)
{
	const char *h = c->v ? "unified" : cg_ctrl_name(s->d->ctrl);
	int err = c->dir_err[s->d->ctrl];

	if (err == -ENOENT)
		fail(c, s, err, "cgroup not present in the %s hierarchy yet", h);
	else if (err == -ENOMEDIUM)
		fail(c, s, err, "the %s controller is not mounted", h);
	else
		fail(c, s, err, "cannot open %s in the %s hierarchy: %s",
		     cg_paths_get(c->hier, s->d->ctrl, c->cgpath), h, strerror(-err));
}

static void fail_read(struct apply_ctx *c, struct step *s, int err)
{
	if (err == -ENOENT && s->kv->key == QK_MEMORY_SWAP)
		fail(c, s, err, "%s not present: swap accounting is off in this kernel",
		     s->kv->file);
	else if (err == -ENOENT && s->kv->key == QK_CPU_IDLE)
		fail(c, s, err, "%s not present: it needs kernel 5.15 or later", s->kv->file);
	else if (err == -ENOENT && s->kv->key == QK_CPU_BURST)
		fail(c, s, err, "%s not present: it needs kernel 5.14 or later", s->kv->file);
	else
		fail(c, s, err, "cannot read %s: %s", s->kv->file, strerror(-err));
}

/* A key this cgroup version has no file for: reported as an error, never silently dropped. */
static void plan_none(struct apply_ctx *c, const struct cg_knob_desc *d)
{
	const struct cg_knob_ver *kv = &d->v[c->v];
	struct qos_knob *k;

	if (report_add_key(c->r, kv->key, "-", &k) < 0) {
		c->ret = c->ret ? c->ret : -ENOMEM;
		return;
	}
	(void) knob_printf(&k->desired, "%" PRIu64, row_u64(c, kv)->v);
	knob_fail(k, -EOPNOTSUPP, "%s: not applied", kv->none);
	if (c->ret == 0)
		c->ret = -EOPNOTSUPP;
}

/* Read the knob and decide what to write. LEAVE knobs are reported only in a dry run. */
static void plan_knob(struct apply_ctx *c, const struct cg_knob_desc *d)
{
	const struct cg_knob_ver *kv = &d->v[c->v];
	enum qos_op op = step_op(c, d);
	struct step *s = &c->steps[c->n];
	int r = 0;

	/* nothing was ever written there, so a CLEAR has nothing to undo */
	if (!kv->file && kv->none && op == QOS_SET)
		return plan_none(c, d);
	if (!kv->file || kv->merged || (op == QOS_LEAVE && (!c->dry_run || c->dir_err[d->ctrl])))
		return;
	*s = (struct step){ .d = d,
			    .kv = kv,
			    .fd = c->fd[d->ctrl],
			    .k = CGFS_KNOB_NONE,
			    .op = op,
			    .sd = c->unit && kv->sdp != SDP_NONE };
	/* a knob qosd may write is opened read-write: its read, write and read-back on one fd */
	if (!c->dir_err[d->ctrl])
		r = cgfs_knob_open(s->fd, kv->file, op != QOS_LEAVE && !c->dry_run && !s->sd,
				   cg_hier_plain(c->root, d->ctrl), &s->k, &s->cur);
	if (r < 0 && op == QOS_LEAVE)
		return;
	if (report_add_key(c->r, kv->key, kv->file, NULL) < 0) {
		free(s->cur);
		cgfs_knob_close(&s->k);
		c->ret = c->ret ? c->ret : -ENOMEM;
		return;
	}
	s->idx = c->r->n - 1;
	c->n++;
	step_knob(c, s)->via = s->sd ? "systemd" : "cgroupfs";
	if (c->dir_err[d->ctrl])
		return fail_dir(c, s);
	/* v2: systemd enables a controller for a unit once a property needs it */
	if (r < 0 && !(r == -ENOENT && s->sd && c->v && op != QOS_LEAVE)) {
		find_disabled(c, s->fd);
		if (c->off[d->ctrl])
			return fail_off(c, s);
		return fail_read(c, s, r);
	}
	if (op == QOS_LEAVE)
		return;
	r = (kv->build ? kv->build : build_default)(c, s);
	if (r < 0 && !s->err)
		fail(c, s, r, "%s: cannot compute the value: %s", kv->file, strerror(-r));
	if (r < 0)
		return;
	(void) free_and_strdup(&step_knob(c, s)->desired, s->want);
	/* what the kernel has may not be what systemd keeps (a hook or an old qosd wrote it) */
	s->write = !same_value(kv->kind, s->cur, s->want) || (s->sd && c->fresh);
}

/* A knob to write keeps the fd of its read for the read-back; the others close it at once. */
static void plan_row(struct apply_ctx *c, const struct cg_knob_desc *d)
{
	size_t n = c->n;

	plan_knob(c, d);
	if (c->n > n && !c->steps[n].write)
		cgfs_knob_close(&c->steps[n].k);
}

static struct step *find_step(struct apply_ctx *c, const char *file)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->steps[i].kv->file, file))
			return &c->steps[i];
	return NULL;
}

/* v1: memsw must stay >= memory at every step. Raising memsw first is safe when the current
 * limit fits under the new memsw; otherwise lowering memory first is (one of the two always is). */
static void order_memory(struct apply_ctx *c)
{
	struct step *lim = find_step(c, "memory.limit_in_bytes");
	struct step *sw = find_step(c, "memory.memsw.limit_in_bytes");
	uint64_t cur_limit, new_memsw;
	struct step tmp;

	if (!lim || !sw || !lim->write || !sw->write || lim > sw)
		return;
	if (parse_bytes(lim->cur, &cur_limit) < 0 || parse_bytes(sw->want, &new_memsw) < 0)
		return;
	if (cur_limit > new_memsw)
		return;
	tmp = *lim;
	*lim = *sw;
	*sw = tmp;
}

static void commit(struct apply_ctx *c, struct step *s)
{
	if (!s->write || (s->err && s->err != -EINVAL))
		return;
	if (c->dry_run) {
		step_knob(c, s)->would_write = true;
		(void) knob_printf(&step_knob(c, s)->note, "dry run: would write %s", s->want);
		return;
	}
	/* not opened read-write (systemd's knob falling back, a knob unreadable before): by name */
	s->err =
		s->k.rw ? cgfs_knob_write(&s->k, s->want) : cgfs_write(s->fd, s->kv->file, s->want);
	if (!s->err) {
		struct qos_knob *k = step_knob(c, s);

		k->written = true;
		(void) free_and_strdup(&k->before, s->cur ? s->cur : "?");
	}
	log_debug("cgroup: %s %s = \"%s\": %s", cg_paths_get(c->hier, s->d->ctrl, c->cgpath),
		  s->kv->file, s->want, s->err ? strerror(-s->err) : "ok");
}

/* ---- through systemd: the cgroup is a unit's own ---- */

static void note_add(struct qos_knob *k, const char *text)
{
	if (k->note)
		(void) knob_printf(&k->note, "%s; %s", k->note, text);
	else
		(void) free_and_strdup(&k->note, text);
}

/* The CFS period a v1 quota goes with: the one this pass writes, else the kernel's. */
static uint64_t v1_period(struct apply_ctx *c)
{
	struct step *p = find_step(c, "cpu.cfs_period_us");
	_cleanup_free_ char *text = NULL;
	uint64_t v = 0;

	if (p && (p->write ? p->want : p->cur))
		(void) parse_u64(p->write ? p->want : p->cur, &v);
	else if (c->fd[CG_CPU] >= 0 && cgfs_read(c->fd[CG_CPU], "cpu.cfs_period_us", &text) >= 0)
		(void) parse_u64(strstrip(text), &v);
	return v;
}

static int step_props(struct apply_ctx *c, struct step *s, struct sdprop out[2], size_t *n)
{
	uint64_t period = s->kv->sdp == SDP_CPU_QUOTA_V1 ? v1_period(c) : 0;
	int r = sdprop_from_kernel(s->kv->sdp, s->want, period, out, n);

	if (r < 0)
		fail(c, s, r, "%s: \"%s\" has no systemd property value: %s", s->kv->file, s->want,
		     strerror(-r));
	return r;
}

static void note_props(struct apply_ctx *c, struct step *s, const struct sdprop *p, size_t n,
		       const char *verb)
{
	char buf[256];
	int len = snprintf(buf, sizeof(buf), "%s %s", verb, c->unit);

	for (size_t i = 0; i < n && len > 0 && (size_t) len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - len, " %s", p[i].text);
	note_add(step_knob(c, s), buf);
}

/* One step alone, after its batch failed: systemd's error, or cgroupfs where that is safe. */
static void commit_unit_one(struct apply_ctx *c, struct step *s)
{
	_cleanup_free_ char *msg = NULL;
	struct sdprop p[2];
	size_t n;
	int r;

	if (step_props(c, s, p, &n) < 0)
		return;
	r = sdunit_set(c->sdu, c->unit, p, n, &msg);
	if (r >= 0) {
		struct qos_knob *k = step_knob(c, s);

		k->written = true;
		(void) free_and_strdup(&k->before, s->cur ? s->cur : "?");
		return note_props(c, s, p, n, "set on");
	}
	if (!sdunit_error_falls_back(r)) {
		fail(c, s, r, "systemd refused %s on %s: %s", p[0].text, c->unit,
		     msg ? msg : strerror(-r));
		return;
	}
	note_add(step_knob(c, s), msg ? msg : strerror(-r));
	note_add(step_knob(c, s), "systemd unavailable for this knob: written to cgroupfs");
	step_knob(c, s)->via = "cgroupfs";
	s->sd = false;
	commit(c, s);
}

/* Steps [from, to) go to systemd as one SetUnitProperties: systemd checks every property before
 * it applies any, so a refusal leaves all unset, and each is then tried alone to say which. */
static void commit_unit(struct apply_ctx *c, size_t from, size_t to)
{
	struct sdprop p[2 * ELEMENTSOF(knob_table)];
	size_t n = 0, k;
	int r;

	for (size_t i = from; i < to; i++) {
		struct step *s = &c->steps[i];

		if (!s->write || s->err || step_props(c, s, &p[n], &k) < 0)
			continue;
		if (c->dry_run)
			note_props(c, s, &p[n], k, "dry run: would set on");
		n += k;
	}
	if (n == 0 || c->dry_run)
		return;
	r = sdunit_set(c->sdu, c->unit, p, n, NULL);
	log_debug("cgroup: %s: %zu unit properties on %s: %s", c->cgpath, n, c->unit,
		  r < 0 ? strerror(-r) : "ok");
	for (size_t i = from, j = 0; i < to; i++) {
		struct step *s = &c->steps[i];

		if (!s->write || s->err)
			continue;
		if (r < 0) {
			commit_unit_one(c, s);
			continue;
		}
		if (step_props(c, s, &p[j], &k) < 0)
			continue;
		step_knob(c, s)->written = true;
		(void) free_and_strdup(&step_knob(c, s)->before, s->cur ? s->cur : "?");
		note_props(c, s, &p[j], k, "set on");
		j += k;
	}
}

/* In table order; consecutive systemd steps go as one call (v1 memory/memsw order holds). */
static void commit_all(struct apply_ctx *c)
{
	for (size_t i = 0; i < c->n;) {
		size_t j = i;

		while (j < c->n && c->steps[j].sd)
			j++;
		if (j > i) {
			commit_unit(c, i, j);
			i = j;
		} else
			commit(c, &c->steps[i++]);
	}
}

static void fail_write(struct apply_ctx *c, struct step *s)
{
	_cleanup_free_ char *usage = NULL;
	uint64_t want, used;
	char a[32], b[32];
	int err = s->err;

	if (err == -EBUSY && s->kv->usage && cgfs_read(s->fd, s->kv->usage, &usage) >= 0 &&
	    parse_bytes(s->want, &want) >= 0 && parse_bytes(usage, &used) >= 0) {
		format_size_approx(want, a, sizeof(a));
		format_size_approx(used, b, sizeof(b));
		fail(c, s, err, "%s: %s is below the current usage %s (EBUSY)", s->kv->file, a, b);
		return;
	}
	fail(c, s, err, "%s: writing \"%s\" failed: %s (%s)", s->kv->file, s->want, strerror(-err),
	     strerrorname_np(-err) ? strerrorname_np(-err) : "?");
}

/* The kernel's "no limit" for a page counter reads "max", whichever way it spells it (v1 prints
 * PAGE_COUNTER_MAX bytes); every other text is shown as read. Takes text. */
static char *shown(enum cg_kind kind, char *text)
{
	uint64_t v;

	if (kind != K_BYTES || !text || streq(text, "max") || parse_bytes(text, &v) < 0 ||
	    v != UINT64_MAX)
		return text;
	free(text);
	return strdup("max");
}

/* What the kernel has now: the read-back goes into applied. */
static void finish(struct apply_ctx *c, struct step *s)
{
	struct qos_knob *k = step_knob(c, s);
	_cleanup_free_ char *now = NULL;
	char buf[128];
	int rr = 0;

	if (!s->write || c->dry_run) {
		k->applied = shown(s->kv->kind, TAKE_PTR(s->cur));
	} else if ((rr = s->k.fd >= 0 ? cgfs_knob_reread(&s->k, &now)
				      : cgfs_read(s->fd, s->kv->file, &now)) >= 0) {
		if (!s->err && !same_value(s->kv->kind, now, s->want)) {
			snprintf(buf, sizeof(buf), "the kernel reads back %s", now);
			note_add(k, buf);
		} else if (!s->err && s->kv->kind == K_SHARES && !streq(now, s->want)) {
			snprintf(buf, sizeof(buf), "clamped by the kernel to %s", now);
			note_add(k, buf);
		}
		k->applied = shown(s->kv->kind, TAKE_PTR(now));
	} else if (s->sd && !s->err) {
		fail(c, s, rr, "set on %s, but %s cannot be read back: %s", c->unit, s->kv->file,
		     strerror(-rr));
	}
	if (s->write && s->err && !k->error)
		fail_write(c, s);
	free(s->cur);
	free(s->want);
	cgfs_knob_close(&s->k);
}

int cg_apply(struct cg_root *root, const char *cgpath, const struct qos_cg_limits *l, bool dry_run,
	     struct qos_report *r)
{
	return cg_apply_paths(root, cgpath, NULL, l, dry_run, r);
}

int cg_apply_paths(struct cg_root *root, const char *cgpath, const struct cg_paths *hier,
		   const struct qos_cg_limits *l, bool dry_run, struct qos_report *r)
{
	return cg_apply_unit(root, NULL, NULL, false, cgpath, hier, NULL, l, dry_run, r);
}

int cg_apply_unit(struct cg_root *root, struct sdunit *sdu, const char *unit, bool fresh,
		  const char *cgpath, const struct cg_paths *hier, struct cg_dirs *dirs,
		  const struct qos_cg_limits *l, bool dry_run, struct qos_report *r)
{
	struct cg_dirs own;
	struct apply_ctx c = { .root = root,
			       .cgpath = cgpath,
			       .hier = hier,
			       .dirs = dirs ? dirs : &own,
			       .l = l,
			       .dry_run = dry_run,
			       .r = r,
			       .sdu = sdu,
			       .unit = sdu ? unit : NULL,
			       .fresh = fresh };
	int ret;

	ret = cgpath_validate(cgpath);
	for (int i = 0; ret >= 0 && hier && i < _CG_CTRL_MAX; i++)
		if (hier->v[i])
			ret = cgpath_validate(hier->v[i]);
	if (ret < 0)
		return ret;
	c.v = cg_is_v2(root);
	if (!dirs)
		cg_dirs_init(&own);
	open_dirs(&c);
	for (size_t i = 0; i < ELEMENTSOF(knob_table); i++)
		plan_row(&c, &knob_table[i]);
	if (!c.v)
		order_memory(&c);
	commit_all(&c);
	/* EINVAL can be an ordering conflict (v1 period vs quota, memsw vs memory): once more */
	for (size_t i = 0; i < c.n; i++)
		if (c.steps[i].err == -EINVAL && c.steps[i].write && !c.steps[i].sd && !c.dry_run)
			commit(&c, &c.steps[i]);
	for (size_t i = 0; i < c.n; i++)
		finish(&c, &c.steps[i]);
	if (!dirs)
		cg_dirs_done(&own);
	return c.ret;
}
