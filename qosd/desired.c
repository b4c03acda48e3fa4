/* SPDX-License-Identifier: MIT */
/* Pure: merge overrides over a class (or tenant budget) and turn the result into the plain
 * struct qos_limits the enforcers take. cpu.shares and cpu.weight are one knob on two scales:
 * an override of either replaces the base's value of both, and the limits always carry both,
 * converted with the kernel's own mapping. */
#include <inttypes.h>

#include "desired.h"
#include "util.h"

#define DEFAULT_PERIOD_US 100000

/* Keys that map 1:1 onto a struct qos_u64 of the limits. */
static struct qos_u64 *u64_knob(struct qos_limits *l, enum qos_key k)
{
	switch (k) {
	case QK_MEMORY_LIMIT:
		return &l->cg.mem.limit;
	case QK_MEMORY_SWAP:
		return &l->cg.mem.swap;
	case QK_MEMORY_RESERVATION:
		return &l->cg.mem.reservation;
	case QK_MEMORY_HIGH:
		return &l->cg.mem.high;
	case QK_MEMORY_MIN:
		return &l->cg.mem.min;
	case QK_CPU_BURST:
		return &l->cg.cpu.burst_us;
	case QK_CPU_IDLE:
		return &l->cg.cpu.idle;
	case QK_PIDS_LIMIT:
		return &l->cg.pids.max;
	case QK_NET_INGRESS:
		return &l->net.ingress_bps;
	case QK_NET_EGRESS:
		return &l->net.egress_bps;
	case QK_NET_BURST:
		return &l->net.burst_bytes;
	case QK_DISK_QUOTA:
		return &l->disk.quota_bytes;
	case QK_DISK_INODES:
		return &l->disk.inodes;
	default:
		return NULL;
	}
}

static bool is_cpu_weight_key(enum qos_key k)
{
	return k == QK_CPU_SHARES || k == QK_CPU_WEIGHT;
}

static int merge(const struct qos_settings *base, enum qos_source src_base,
		 const struct qos_settings *ovr, struct qos_desired *d)
{
	bool ovr_cpu_weight = ovr && (ovr->v[QK_CPU_SHARES].set || ovr->v[QK_CPU_WEIGHT].set);
	int r;

	for (int k = 0; k < _QK_MAX; k++) {
		if (ovr && ovr->v[k].set) {
			r = qos_value_copy(&ovr->v[k], &d->merged.v[k]);
			d->src[k] = QOS_SRC_OVERRIDE;
		} else if (base && base->v[k].set && !(ovr_cpu_weight && is_cpu_weight_key(k))) {
			r = qos_value_copy(&base->v[k], &d->merged.v[k]);
			d->src[k] = src_base;
		} else {
			continue;
		}
		if (r < 0)
			return r;
		d->keys |= 1u << k;
	}
	return 0;
}

static void set_u64(struct qos_u64 *knob, uint64_t v)
{
	*knob = (struct qos_u64){ QOS_SET, v };
}

static void clear_u64(struct qos_u64 *knob)
{
	*knob = (struct qos_u64){ QOS_CLEAR, 0 };
}

static int cpu_weight_compute(struct qos_desired *d, uint32_t owned)
{
	const struct qos_value *sh = &d->merged.v[QK_CPU_SHARES], *w = &d->merged.v[QK_CPU_WEIGHT];
	struct qos_cpu *cpu = &d->l.cg.cpu;

	if (sh->set) {
		set_u64(&cpu->shares, sh->num);
		set_u64(&cpu->weight, qos_shares_to_weight(sh->num));
		d->cpu_note = strprintf("cpu.shares %" PRIu64 " -> cpu.weight %" PRIu64
					" (weight = round(shares * 100 / 1024), clamped to "
					"1..10000)",
					sh->num, cpu->weight.v);
	} else if (w->set) {
		set_u64(&cpu->weight, w->num);
		set_u64(&cpu->shares, qos_weight_to_shares(w->num));
		d->cpu_note = strprintf("cpu.weight %" PRIu64 " -> cpu.shares %" PRIu64
					" (shares = round(weight * 1024 / 100), clamped to "
					"2..262144)",
					w->num, cpu->shares.v);
	} else {
		/* an idle group refuses any weight (EINVAL): its own is the kernel's least */
		bool idle = d->merged.v[QK_CPU_IDLE].set && d->merged.v[QK_CPU_IDLE].num;

		if ((owned & (1u << QK_CPU_SHARES | 1u << QK_CPU_WEIGHT)) && !idle) {
			clear_u64(&cpu->shares);
			clear_u64(&cpu->weight);
		}
		return 0;
	}
	return d->cpu_note ? 0 : -ENOMEM;
}

static void cpu_quota_compute(struct qos_desired *d, uint32_t owned)
{
	const struct qos_value *q = &d->merged.v[QK_CPU_QUOTA], *p = &d->merged.v[QK_CPU_PERIOD];
	struct qos_cpu *cpu = &d->l.cg.cpu;
	uint64_t period = p->set ? p->num : DEFAULT_PERIOD_US;

	/* a quota is relative to its period, so the period is always written with it */
	if (q->set) {
		set_u64(&cpu->quota_us, q->num * period / 100000);
		set_u64(&cpu->period_us, period);
		return;
	}
	if (owned & (1u << QK_CPU_QUOTA))
		clear_u64(&cpu->quota_us);
	if (p->set)
		set_u64(&cpu->period_us, period);
	else if (owned & (1u << QK_CPU_PERIOD))
		clear_u64(&cpu->period_us);
}

static int cpuset_compute(struct qos_str *knob, const struct qos_value *v, bool owned)
{
	if (v->set) {
		knob->op = QOS_SET;
		knob->v = strdup(v->str);
		return knob->v ? 0 : -ENOMEM;
	}
	if (owned)
		knob->op = QOS_CLEAR;
	return 0;
}

static const struct {
	enum qos_key key;
	enum qos_io_kind kind;
} io_keys[] = {
	{ QK_BLKIO_READ_BPS, QOS_IO_RBPS },
	{ QK_BLKIO_WRITE_BPS, QOS_IO_WBPS },
	{ QK_BLKIO_READ_IOPS, QOS_IO_RIOPS },
	{ QK_BLKIO_WRITE_IOPS, QOS_IO_WIOPS },
};

static int io_append(struct qos_io *io, struct qos_io_target *t, size_t n)
{
	struct qos_io_target *nv;

	nv = reallocarray(io->targets, io->n_targets + n, sizeof(*nv));
	if (!nv) {
		for (size_t i = 0; i < n; i++)
			free(t[i].target);
		free(t);
		return -ENOMEM;
	}
	memcpy(nv + io->n_targets, t, n * sizeof(*t));
	io->targets = nv;
	io->n_targets += n;
	free(t);
	return 0;
}

static int io_compute(struct qos_desired *d, uint32_t owned)
{
	struct qos_io *io = &d->l.io;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(io_keys); i++) {
		const struct qos_value *v = &d->merged.v[io_keys[i].key];
		struct qos_io_target *t = NULL;
		size_t n = 0;

		/* owned once: lines we wrote for disks no longer named must be removed */
		if (v->set || (owned & (1u << io_keys[i].key)))
			io->own = true;
		if (!v->set)
			continue;
		r = policy_io_targets(v, io_keys[i].kind, &t, &n);
		if (r < 0)
			return r;
		r = io_append(io, t, n);
		if (r < 0)
			return r;
	}
	return 0;
}

static void sources_cleared(struct qos_desired *d, uint32_t owned)
{
	bool cpu_weight_set = d->merged.v[QK_CPU_SHARES].set || d->merged.v[QK_CPU_WEIGHT].set;

	for (int k = 0; k < _QK_MAX; k++) {
		if (d->merged.v[k].set || !(owned & (1u << k)))
			continue;
		/* shares <-> weight: the knob is still set, through the other key */
		if (is_cpu_weight_key(k) && cpu_weight_set)
			continue;
		d->src[k] = QOS_SRC_CLEARED;
	}
}

static int limits_compute(struct qos_desired *d, uint32_t owned)
{
	const struct qos_settings *m = &d->merged;
	int r;

	r = cpu_weight_compute(d, owned);
	if (r < 0)
		return r;
	cpu_quota_compute(d, owned);
	r = cpuset_compute(&d->l.cg.cpu.cpus, &m->v[QK_CPUSET_CPUS],
			   owned & (1u << QK_CPUSET_CPUS));
	if (r < 0)
		return r;
	r = cpuset_compute(&d->l.cg.cpu.mems, &m->v[QK_CPUSET_MEMS],
			   owned & (1u << QK_CPUSET_MEMS));
	if (r < 0)
		return r;
	for (int k = 0; k < _QK_MAX; k++) {
		struct qos_u64 *knob = u64_knob(&d->l, k);

		if (!knob)
			continue;
		if (m->v[k].set)
			set_u64(knob, m->v[k].num);
		else if (owned & (1u << k))
			clear_u64(knob);
	}
	sources_cleared(d, owned);
	return io_compute(d, owned);
}

/* priority = batch without cpu.idle, cpu.shares or cpu.weight: cpu.idle = 1, so the latency
 * class's tasks preempt batch work at wake-up (SCHED_IDLE group), which no weight can do. */
static int batch_idle_imply(struct qos_desired *d)
{
	struct qos_settings *m = &d->merged;
	const struct qos_value *p = &m->v[QK_PRIORITY];

	if (!p->set || p->num != QOS_PRIO_BATCH || m->v[QK_CPU_IDLE].set ||
	    m->v[QK_CPU_SHARES].set || m->v[QK_CPU_WEIGHT].set)
		return 0;
	m->v[QK_CPU_IDLE] = (struct qos_value){ .set = true, .num = 1, .line = p->line };
	m->v[QK_CPU_IDLE].str = strdup("1");
	if (!m->v[QK_CPU_IDLE].str)
		return -ENOMEM;
	d->src[QK_CPU_IDLE] = d->src[QK_PRIORITY];
	d->keys |= 1u << QK_CPU_IDLE;
	d->idle_implied = true;
	return 0;
}

int desired_compute(const struct qos_settings *base, enum qos_source src_base,
		    const struct qos_settings *ovr, uint32_t owned, struct qos_desired *ret,
		    char **ret_msg)
{
	struct qos_desired d = { 0 };
	char *msg = NULL;
	int r;

	r = merge(base, src_base, ovr, &d);
	if (r >= 0)
		r = batch_idle_imply(&d);
	if (r >= 0) {
		r = qos_settings_check(&d.merged, &msg);
		if (r == -EINVAL && ret_msg)
			*ret_msg = TAKE_PTR(msg);
		free(msg);
	}
	if (r >= 0)
		r = limits_compute(&d, owned);
	if (r < 0) {
		desired_done(&d);
		return r;
	}
	d.idle_tasks = d.merged.v[QK_PRIORITY].set &&
		       d.merged.v[QK_PRIORITY].num == QOS_PRIO_BATCH &&
		       d.merged.v[QK_CPU_IDLE].set && d.merged.v[QK_CPU_IDLE].num == 1;
	*ret = d;
	return 0;
}

void desired_done(struct qos_desired *d)
{
	qos_limits_done(&d->l);
	qos_settings_done(&d->merged);
	free(d->cpu_note);
	*d = (struct qos_desired){ 0 };
}

void desired_leave(struct qos_desired *d, uint32_t keys)
{
	struct qos_cpu *cpu = &d->l.cg.cpu;
	struct qos_mem *mem = &d->l.cg.mem;
	/* each group's keys, and the ops of the knobs they write together */
	const struct {
		uint32_t keys;
		enum qos_op *op[3];
	} groups[] = {
		{ 1u << QK_CPU_SHARES | 1u << QK_CPU_WEIGHT, { &cpu->shares.op, &cpu->weight.op } },
		{ 1u << QK_CPU_QUOTA | 1u << QK_CPU_PERIOD | 1u << QK_CPU_BURST,
		  { &cpu->quota_us.op, &cpu->period_us.op, &cpu->burst_us.op } },
		{ 1u << QK_MEMORY_LIMIT | 1u << QK_MEMORY_SWAP, { &mem->limit.op, &mem->swap.op } },
		{ 1u << QK_MEMORY_RESERVATION, { &mem->reservation.op } },
		{ 1u << QK_MEMORY_HIGH, { &mem->high.op } },
		{ 1u << QK_MEMORY_MIN, { &mem->min.op } },
		{ 1u << QK_CPU_IDLE, { &cpu->idle.op } },
		{ 1u << QK_PIDS_LIMIT, { &d->l.cg.pids.max.op } },
		{ 1u << QK_CPUSET_CPUS, { &cpu->cpus.op } },
		{ 1u << QK_CPUSET_MEMS, { &cpu->mems.op } },
	};

	for (size_t g = 0; g < ELEMENTSOF(groups); g++)
		if ((keys & groups[g].keys) == groups[g].keys)
			for (size_t i = 0; i < 3 && groups[g].op[i]; i++)
				*groups[g].op[i] = QOS_LEAVE;
}

const char *qos_source_name(enum qos_source s)
{
	static const char *const names[] = {
		[QOS_SRC_NONE] = "none",	 [QOS_SRC_CLASS] = "class",
		[QOS_SRC_OVERRIDE] = "override", [QOS_SRC_TENANT] = "tenant",
		[QOS_SRC_CLEARED] = "cleared",
	};

	return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}
