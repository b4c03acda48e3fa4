/* SPDX-License-Identifier: MIT */
/* The throttle writers. v1: four files blkio.throttle.{read,write}_{bps,iops}_device, one
 * "MAJ:MIN VALUE" line per device, 0 clears. v2: io.max, one "MAJ:MIN rbps= wbps= riops= wiops="
 * line per device, "max" clears a key, any subset of keys per write. Both: read what the kernel
 * has, write only what differs, read back what it kept. */
#include <inttypes.h>
#include <sys/sysmacros.h>

#include "blkio/blkio-internal.h"
#include "qosd/cgfs.h"
#include "qosd/keys.h"
#include "qosd/sdunit.h"

#define UNLIMITED UINT64_MAX

static const enum qos_key kind_key[_QOS_IO_KIND_MAX] = {
	[QOS_IO_RBPS] = QK_BLKIO_READ_BPS,
	[QOS_IO_WBPS] = QK_BLKIO_WRITE_BPS,
	[QOS_IO_RIOPS] = QK_BLKIO_READ_IOPS,
	[QOS_IO_WIOPS] = QK_BLKIO_WRITE_IOPS,
};

static const char *const v1_file[_QOS_IO_KIND_MAX] = {
	[QOS_IO_RBPS] = "blkio.throttle.read_bps_device",
	[QOS_IO_WBPS] = "blkio.throttle.write_bps_device",
	[QOS_IO_RIOPS] = "blkio.throttle.read_iops_device",
	[QOS_IO_WIOPS] = "blkio.throttle.write_iops_device",
};

/* io.max key names, in the order the kernel prints them */
static const char *const v2_key[_QOS_IO_KIND_MAX] = {
	[QOS_IO_RBPS] = "rbps",
	[QOS_IO_WBPS] = "wbps",
	[QOS_IO_RIOPS] = "riops",
	[QOS_IO_WIOPS] = "wiops",
};

/* One device's limits, as wanted or as the kernel has them; UNLIMITED = no limit. */
struct line {
	dev_t dev;
	uint64_t v[_QOS_IO_KIND_MAX];
	bool set[_QOS_IO_KIND_MAX]; /* wanted: the policy names this (disk, kind) */
	char *note[_QOS_IO_KIND_MAX]; /* wanted: resolution and merge remarks */
	char *who[_QOS_IO_KIND_MAX]; /* wanted: targets merged here, for the merge note */
};

struct table {
	struct line *v;
	size_t n;
};

static void table_done(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++) {
			free(t->v[i].note[k]);
			free(t->v[i].who[k]);
		}
	free(t->v);
	*t = (struct table){ 0 };
}

static struct line *table_find(const struct table *t, dev_t dev)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].dev == dev)
			return &t->v[i];
	return NULL;
}

static int table_get(struct table *t, dev_t dev, struct line **ret)
{
	struct line *l = table_find(t, dev), *v;

	if (!l) {
		v = realloc(t->v, (t->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		l = &t->v[t->n++];
		*l = (struct line){ .dev = dev };
		for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++)
			l->v[k] = UNLIMITED;
	}
	*ret = l;
	return 0;
}

static int value_text(uint64_t v, char **ret)
{
	if (v == UNLIMITED)
		return knob_printf(ret, "max");
	return knob_printf(ret, "%" PRIu64, v);
}

static void keep_first(int *first, int r)
{
	if (r < 0 && *first == 0)
		*first = r;
}

/* ---- wanted: targets resolved and merged ---- */

static int report_unresolved(struct qos_report *r, bool v2, const struct qos_io_target *t, int err,
			     const char *msg)
{
	_cleanup_free_ char *obj = NULL;
	struct qos_knob *k;
	int q;

	obj = v2 ? strprintf("io.max %s %s", t->target, v2_key[t->kind])
		 : strprintf("%s %s", v1_file[t->kind], t->target);
	if (!obj)
		return -ENOMEM;
	q = report_add_key(r, kind_key[t->kind], obj, &k);
	if (q < 0)
		return q;
	(void) value_text(t->value, &k->desired);
	/* a missing device may still come (udev add); a bad name or a char device will not */
	knob_fail(k, err, "%s: %s%s", k->key, msg,
		  err == -ENOENT || err == -ENODEV ? " (applied when it appears)" : "");
	return 0;
}

/* A second target on a disk already named for this kind: the smaller limit wins, and the note
 * says which targets met there (never last-write-wins). */
static int merge_into(struct line *l, const struct qos_io_target *t, dev_t disk)
{
	uint64_t old = l->v[t->kind];

	l->v[t->kind] = MIN(old, t->value);
	return knob_printf(&l->note[t->kind],
			   "%s%s%s and %s (%" PRIu64 ") both resolve to disk %u:%u: using the "
			   "smaller, %" PRIu64,
			   l->note[t->kind] ? l->note[t->kind] : "", l->note[t->kind] ? "; " : "",
			   l->who[t->kind], t->target, t->value, major(disk), minor(disk),
			   l->v[t->kind]);
}

static int add_target(struct table *want, const struct qos_io_target *t, dev_t disk, char *note)
{
	struct line *l;
	int r;

	r = table_get(want, disk, &l);
	if (r < 0)
		return r;
	if (l->set[t->kind])
		r = merge_into(l, t, disk);
	else {
		l->set[t->kind] = true;
		l->v[t->kind] = t->value;
	}
	if (r >= 0 && note)
		r = strextend(&l->note[t->kind], "%s%s", l->note[t->kind] ? "; " : "", note);
	if (r >= 0)
		r = strextend(&l->who[t->kind], "%s%s (%" PRIu64 ")",
			      l->who[t->kind] ? " and " : "", t->target, t->value);
	return r;
}

static int build_wanted(struct blkio_ctx *ctx, bool v2, const struct qos_io *io, struct table *want,
			struct qos_report *r, int *first)
{
	for (size_t i = 0; i < io->n_targets; i++) {
		const struct qos_io_target *t = &io->targets[i];
		_cleanup_free_ char *note = NULL, *err = NULL;
		dev_t disk;
		int q;

		if (t->kind >= _QOS_IO_KIND_MAX || !t->target)
			return -EINVAL;
		q = blkio_resolve_full(ctx, t->target, &disk, &note, &err);
		if (q < 0) {
			keep_first(first, q);
			q = report_unresolved(r, v2, t, q, err ? err : strerror(-q));
		} else
			q = add_target(want, t, disk, note);
		if (q < 0)
			return q;
	}
	return 0;
}

/* ---- what the kernel has ---- */

/* Parse "MAJ:MIN" at *p and move past it. */
static int parse_dev(char **p, dev_t *ret)
{
	unsigned long ma, mi;
	char *end;

	errno = 0;
	ma = strtoul(*p, &end, 10);
	if (errno || end == *p || *end != ':')
		return -EINVAL;
	mi = strtoul(end + 1, p, 10);
	if (errno || *p == end + 1)
		return -EINVAL;
	*ret = makedev(ma, mi);
	return 0;
}

static int parse_value(const char *s, uint64_t *ret)
{
	char *end;

	if (streq(s, "max")) {
		*ret = UNLIMITED;
		return 0;
	}
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

/* v1 file: "MAJ:MIN VALUE" lines, into column kind of t. */
static int parse_v1(char *text, enum qos_io_kind kind, struct table *t)
{
	char *save = NULL;

	for (char *s = strtok_r(text, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
		struct line *l;
		uint64_t v;
		dev_t dev;

		if (parse_dev(&s, &dev) < 0 || parse_value(strstrip(s), &v) < 0)
			continue;
		if (table_get(t, dev, &l) < 0)
			return -ENOMEM;
		l->v[kind] = v == 0 ? UNLIMITED : v; /* v1: 0 is no limit */
	}
	return 0;
}

static int parse_v2_line(char *s, struct table *t)
{
	char *save = NULL;
	struct line *l;
	dev_t dev;

	if (parse_dev(&s, &dev) < 0)
		return 0;
	if (table_get(t, dev, &l) < 0)
		return -ENOMEM;
	for (char *kv = strtok_r(s, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(kv, '=');

		if (!eq)
			continue;
		*eq = 0;
		for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++)
			if (streq(kv, v2_key[k]) && parse_value(eq + 1, &l->v[k]) < 0)
				l->v[k] = UNLIMITED;
	}
	return 0;
}

/* io.max: "MAJ:MIN rbps=N wbps=max riops=max wiops=max" lines. */
static int parse_v2(char *text, struct table *t)
{
	char *save = NULL;
	int r;

	for (char *s = strtok_r(text, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
		r = parse_v2_line(s, t);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read one throttle file into t (v1: column kind; v2: all columns). */
static int read_kernel(int dirfd, bool v2, enum qos_io_kind kind, struct table *t)
{
	_cleanup_free_ char *text = NULL;
	int r;

	table_done(t);
	r = cgfs_read(dirfd, v2 ? "io.max" : v1_file[kind], &text);
	if (r < 0)
		return r;
	return v2 ? parse_v2(text, t) : parse_v1(text, kind, t);
}

static uint64_t kernel_value(const struct table *t, dev_t dev, enum qos_io_kind kind)
{
	const struct line *l = table_find(t, dev);

	return l ? l->v[kind] : UNLIMITED;
}

/* ---- report entries and writes ---- */

/* One (disk, kind) entry; its index is returned since report_add may move the array. */
static int knob_new(struct qos_report *r, bool v2, dev_t dev, enum qos_io_kind kind,
		    const struct line *want, uint64_t cur, size_t *ret_idx)
{
	_cleanup_free_ char *obj = NULL;
	struct qos_knob *k;
	int q;

	obj = v2 ? strprintf("io.max %u:%u %s", major(dev), minor(dev), v2_key[kind])
		 : strprintf("%s %u:%u", v1_file[kind], major(dev), minor(dev));
	if (!obj)
		return -ENOMEM;
	q = report_add_key(r, kind_key[kind], obj, &k);
	if (q < 0)
		return q;
	q = value_text(want && want->set[kind] ? want->v[kind] : UNLIMITED, &k->desired);
	if (q >= 0 && want && want->note[kind])
		q = knob_printf(&k->note, "%s", want->note[kind]);
	if (q >= 0)
		q = value_text(cur, &k->before);
	*ret_idx = r->n - 1;
	return q;
}

/* The entries of one file, so the read-back can fill them once every write is done. */
struct pending {
	struct {
		size_t idx; /* into r->v: report_add may move the array */
		dev_t dev;
		enum qos_io_kind kind;
	} * v;
	size_t n;
	bool wrote;
};

static int pending_add(struct pending *p, size_t idx, dev_t dev, enum qos_io_kind kind)
{
	typeof(p->v) v = realloc(p->v, (p->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	p->v = v;
	p->v[p->n].idx = idx;
	p->v[p->n].dev = dev;
	p->v[p->n++].kind = kind;
	return 0;
}

/* Fill applied: from a fresh read when this pass wrote (the kernel may round or refuse), else
 * from what was read before. */
static void fill_applied(struct qos_report *r, struct pending *p, const struct table *cur,
			 int dirfd, bool v2, int *first)
{
	struct table now = { 0 };
	int q = 0;

	if (p->n && p->wrote)
		q = read_kernel(dirfd, v2, p->v[0].kind, &now);
	for (size_t i = 0; i < p->n; i++) {
		struct qos_knob *k = &r->v[p->v[i].idx];

		if (!k->written)
			free(TAKE_PTR(k->before));
		if (q < 0) {
			keep_first(first, q);
			if (!k->error)
				knob_fail(k, q, "reading back %s: %s", k->object, strerror(-q));
			continue;
		}
		(void) value_text(kernel_value(p->wrote ? &now : cur, p->v[i].dev, p->v[i].kind),
				  &k->applied);
	}
	table_done(&now);
	free(p->v);
	*p = (struct pending){ 0 };
}

static void write_failed(struct qos_report *r, const struct pending *p, size_t from, int err,
			 const char *file, const char *line)
{
	for (size_t i = from; i < p->n; i++)
		knob_fail(&r->v[p->v[i].idx], err, "writing \"%s\" to %s: %s", line, file,
			  strerror(-err));
}

static void mark_written(struct qos_report *r, struct pending *p, size_t from)
{
	for (size_t i = from; i < p->n; i++) {
		struct qos_knob *k = &r->v[p->v[i].idx];

		/* a v2 line also carries keys that were right already */
		k->written = !k->desired || !k->before || !streq(k->desired, k->before);
	}
	p->wrote = true;
}

/* ---- v1 ---- */

static int v1_one(int dirfd, dev_t dev, enum qos_io_kind kind, uint64_t want, uint64_t cur,
		  const struct line *wl, bool dry_run, struct qos_report *r, struct pending *p)
{
	char line[64];
	size_t idx, from = p->n;
	int q;

	q = knob_new(r, false, dev, kind, wl, cur, &idx);
	if (q >= 0)
		q = pending_add(p, idx, dev, kind);
	if (q >= 0)
		r->v[idx].via = "cgroupfs";
	if (q < 0 || dry_run || want == cur)
		return q;
	/* v1 clears with 0; "max" is not understood there */
	snprintf(line, sizeof(line), "%u:%u %" PRIu64, major(dev), minor(dev),
		 want == UNLIMITED ? 0 : want);
	q = cgfs_write(dirfd, v1_file[kind], line);
	if (q < 0) {
		write_failed(r, p, from, q, v1_file[kind], line);
		return q;
	}
	mark_written(r, p, from);
	return 0;
}

static int v1_file_apply(int dirfd, enum qos_io_kind kind, const struct table *want, bool own,
			 bool dry_run, struct qos_report *r, int *first)
{
	struct table cur = { 0 };
	struct pending p = { 0 };
	int q;

	q = read_kernel(dirfd, false, kind, &cur);
	for (size_t i = 0; i < want->n && q >= 0; i++) {
		const struct line *l = &want->v[i];

		if (l->set[kind])
			keep_first(first,
				   v1_one(dirfd, l->dev, kind, l->v[kind],
					  kernel_value(&cur, l->dev, kind), l, dry_run, r, &p));
	}
	for (size_t i = 0; own && q >= 0 && i < cur.n; i++) {
		const struct line *l = table_find(want, cur.v[i].dev);

		if (cur.v[i].v[kind] != UNLIMITED && !(l && l->set[kind]))
			keep_first(first, v1_one(dirfd, cur.v[i].dev, kind, UNLIMITED,
						 cur.v[i].v[kind], NULL, dry_run, r, &p));
	}
	if (q >= 0)
		fill_applied(r, &p, &cur, dirfd, false, first);
	free(p.v);
	table_done(&cur);
	return q;
}

/* The whole file could not be read: every (disk, kind) it should hold gets the error. */
static int read_failed(struct qos_report *r, bool v2, const struct table *want, int only_kind,
		       int err)
{
	const char *file;

	for (size_t i = 0; i < want->n; i++)
		for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++) {
			struct qos_knob *kn;
			size_t idx;

			if (!want->v[i].set[k] || (only_kind >= 0 && (int) k != only_kind))
				continue;
			if (knob_new(r, v2, want->v[i].dev, k, &want->v[i], UNLIMITED, &idx) < 0)
				return -ENOMEM;
			kn = &r->v[idx];
			free(TAKE_PTR(kn->before));
			file = v2 ? "io.max" : v1_file[k];
			knob_fail(kn, err, "reading %s: %s", file, strerror(-err));
		}
	return 0;
}

static int apply_v1(int dirfd, const struct table *want, bool own, bool dry_run,
		    struct qos_report *r, int *first)
{
	for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++) {
		int q = v1_file_apply(dirfd, k, want, own, dry_run, r, first);

		if (q == -ENOMEM)
			return q;
		if (q < 0) {
			keep_first(first, q);
			if (read_failed(r, false, want, (int) k, q) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- v2 ---- */

/* The systemd unit whose own cgroup this is (sdu NULL: none): io.max lines go to it. */
struct unit_ref {
	struct sdunit *sdu;
	const char *unit;
};

static void note_all(struct qos_report *r, const struct pending *p, size_t from, const char *text)
{
	for (size_t i = from; i < p->n; i++) {
		struct qos_knob *k = &r->v[p->v[i].idx];

		if (k->note)
			(void) knob_printf(&k->note, "%s; %s", k->note, text);
		else
			(void) knob_printf(&k->note, "%s", text);
	}
}

/* One disk's changed keys as IO*Max properties of the unit (one call: all or none). Returns 1
 * when systemd cannot take them at all (the caller writes io.max instead), 0, or -errno. */
static int v2_line_unit(const struct unit_ref *u, dev_t dev, const uint64_t target[],
			const bool touch[], const struct line *cl, struct qos_report *r,
			struct pending *p, size_t from)
{
	struct sdprop props[_QOS_IO_KIND_MAX];
	_cleanup_free_ char *msg = NULL, *text = NULL;
	size_t n = 0;
	int q;

	for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++) {
		uint64_t cur = cl ? cl->v[k] : UNLIMITED;

		if (!touch[k] || target[k] == cur)
			continue;
		q = sdprop_io(sdprop_io_name((int) k, true), major(dev), minor(dev), target[k],
			      &props[n]);
		if (q < 0)
			return q;
		if (strextend(&text, "%s%s", n ? " " : "", props[n].text) < 0)
			return -ENOMEM;
		n++;
	}
	q = sdunit_set(u->sdu, u->unit, props, n, &msg);
	if (q >= 0) {
		_cleanup_free_ char *note = strprintf("set on %s %s", u->unit, text);

		mark_written(r, p, from);
		note_all(r, p, from, note ? note : "set through systemd");
		return 0;
	}
	if (sdunit_error_falls_back(q)) {
		_cleanup_free_ char *note =
			strprintf("%s; systemd unavailable for this knob: written to cgroupfs",
				  msg ? msg : "");

		note_all(r, p, from, note ? note : "written to cgroupfs");
		for (size_t i = from; i < p->n; i++)
			r->v[p->v[i].idx].via = "cgroupfs";
		return 1;
	}
	for (size_t i = from; i < p->n; i++)
		knob_fail(&r->v[p->v[i].idx], q, "systemd refused %s on %s: %s", text, u->unit,
			  msg ? msg : strerror(-q));
	return q;
}

/* Which keys of one io.max line this pass touches: the policy's, and with own the others that
 * are limited now (cleared to max). Returns how many. */
static size_t v2_plan(const struct line *wl, const struct line *cl, bool own,
		      uint64_t target[_QOS_IO_KIND_MAX], bool touch[_QOS_IO_KIND_MAX])
{
	size_t n = 0;

	for (size_t k = 0; k < _QOS_IO_KIND_MAX; k++) {
		uint64_t cur = cl ? cl->v[k] : UNLIMITED;

		touch[k] = (wl && wl->set[k]) || (own && cur != UNLIMITED);
		target[k] = wl && wl->set[k] ? wl->v[k] : UNLIMITED;
		n += touch[k];
	}
	return n;
}

static int v2_line(int dirfd, const struct unit_ref *u, dev_t dev, const struct line *wl,
		   const struct line *cl, bool own, bool dry_run, struct qos_report *r,
		   struct pending *p)
{
	uint64_t target[_QOS_IO_KIND_MAX];
	bool touch[_QOS_IO_KIND_MAX];
	_cleanup_free_ char *line = strprintf("%u:%u", major(dev), minor(dev));
	size_t from = p->n, idx, diff = 0;
	int q = line ? 0 : -ENOMEM;

	v2_plan(wl, cl, own, target, touch);
	for (size_t k = 0; k < _QOS_IO_KIND_MAX && q >= 0; k++) {
		uint64_t cur = cl ? cl->v[k] : UNLIMITED;

		if (!touch[k])
			continue;
		q = knob_new(r, true, dev, k, wl, cur, &idx);
		if (q >= 0)
			q = pending_add(p, idx, dev, k);
		if (q >= 0)
			r->v[idx].via = u->sdu ? "systemd" : "cgroupfs";
		if (q >= 0 && target[k] != cur) {
			diff++;
			q = target[k] == UNLIMITED
				    ? strextend(&line, " %s=max", v2_key[k])
				    : strextend(&line, " %s=%" PRIu64, v2_key[k], target[k]);
		}
	}
	if (q < 0 || dry_run || diff == 0)
		return q;
	if (u->sdu) {
		q = v2_line_unit(u, dev, target, touch, cl, r, p, from);
		if (q <= 0)
			return q;
	}
	q = cgfs_write(dirfd, "io.max", line);
	if (q < 0) {
		write_failed(r, p, from, q, "io.max", line);
		return q;
	}
	mark_written(r, p, from);
	return 0;
}

static int apply_v2(int dirfd, const struct unit_ref *u, const struct table *want, bool own,
		    bool dry_run, struct qos_report *r, int *first)
{
	struct table cur = { 0 };
	struct pending p = { 0 };
	int q;

	q = read_kernel(dirfd, true, 0, &cur);
	if (q < 0) {
		keep_first(first, q);
		return read_failed(r, true, want, -1, q);
	}
	for (size_t i = 0; i < want->n; i++)
		keep_first(first, v2_line(dirfd, u, want->v[i].dev, &want->v[i],
					  table_find(&cur, want->v[i].dev), own, dry_run, r, &p));
	for (size_t i = 0; own && i < cur.n; i++)
		if (!table_find(want, cur.v[i].dev))
			keep_first(first, v2_line(dirfd, u, cur.v[i].dev, NULL, &cur.v[i], own,
						  dry_run, r, &p));
	fill_applied(r, &p, &cur, dirfd, true, first);
	table_done(&cur);
	return 0;
}

int blkio_apply(struct blkio_ctx *ctx, int cg_dirfd, bool v2, const struct qos_io *io, bool dry_run,
		struct qos_report *r)
{
	return blkio_apply_unit(ctx, cg_dirfd, v2, NULL, NULL, io, dry_run, r);
}

int blkio_apply_unit(struct blkio_ctx *ctx, int cg_dirfd, bool v2, struct sdunit *sdu,
		     const char *unit, const struct qos_io *io, bool dry_run, struct qos_report *r)
{
	const struct unit_ref u = { .sdu = unit ? sdu : NULL, .unit = unit };
	struct table want = { 0 };
	int first = 0, q;

	q = build_wanted(ctx, v2, io, &want, r, &first);
	/* v1: systemd's BlockIO* properties have no IOPS; blkio stays cgroupfs there */
	if (q >= 0 && (want.n > 0 || io->own))
		q = v2 ? apply_v2(cg_dirfd, &u, &want, io->own, dry_run, r, &first)
		       : apply_v1(cg_dirfd, &want, io->own, dry_run, r, &first);
	table_done(&want);
	if (q < 0)
		return q;
	return first;
}
