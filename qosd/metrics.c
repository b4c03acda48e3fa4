/* SPDX-License-Identifier: MIT */
/* Collection (kernel -> samples) and the Prometheus text format. Names: qosd_ prefix, base units
 * (seconds, bytes), counters end in _total; labels id, tenant, class (and device or direction
 * where a cgroup has several). Tenant cgroups get the qosd_tenant_ families (label tenant). */
#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>

#include "cgroup.h"
#include "controller.h"
#include "log.h"
#include "manager.h"
#include "metrics-internal.h"
#include "quota/quota.h"
#include "stats.h"
#include "tc/tc.h"

#ifndef QOSD_VERSION
#define QOSD_VERSION "unknown"
#endif

enum fam_type { F_COUNTER, F_GAUGE };

/* One family read from a cgroup: ST_* value, name after the prefix, scale (decimals of the
 * kernel unit: 9 = nanoseconds -> seconds, 6 = microseconds -> seconds). */
struct cg_family {
	enum qos_stat st;
	const char *name;
	enum fam_type type;
	unsigned decimals;
	const char *help;
};

static const struct cg_family cg_families[] = {
	{ ST_CPU_USAGE_NS, "cpu_usage_seconds_total", F_COUNTER, 9, "CPU time used" },
	{ ST_CPU_PERIODS, "cpu_periods_total", F_COUNTER, 0, "CFS enforcement periods elapsed" },
	{ ST_CPU_THROTTLED_PERIODS, "cpu_throttled_periods_total", F_COUNTER, 0,
	  "CFS periods in which the cgroup was throttled" },
	{ ST_CPU_THROTTLED_NS, "cpu_throttled_seconds_total", F_COUNTER, 9,
	  "Time the cgroup's tasks were throttled by the CPU quota" },
	{ ST_MEM_USAGE, "memory_usage_bytes", F_GAUGE, 0, "Memory in use" },
	{ ST_MEM_PEAK, "memory_peak_bytes", F_GAUGE, 0, "Highest memory use recorded" },
	{ ST_MEM_LIMIT, "memory_limit_bytes", F_GAUGE, 0, "Memory limit (absent: unlimited)" },
	{ ST_MEM_EV_HIGH, "memory_high_events_total", F_COUNTER, 0,
	  "Times memory use went over memory.high (v2)" },
	{ ST_MEM_EV_MAX, "memory_max_events_total", F_COUNTER, 0,
	  "Times memory use hit the limit (v2 memory.events max, v1 memory.failcnt)" },
	{ ST_MEM_EV_OOM, "memory_oom_events_total", F_COUNTER, 0,
	  "Times the OOM killer was invoked for the cgroup (v2)" },
	{ ST_MEM_EV_OOM_KILL, "memory_oom_kills_total", F_COUNTER, 0,
	  "Processes of the cgroup killed by the OOM killer" },
	{ ST_MEM_UNDER_OOM, "memory_under_oom", F_GAUGE, 0,
	  "1 while the cgroup is under OOM (v1 memory.oom_control)" },
	{ ST_PSI_CPU_SOME_US, "pressure_cpu_waiting_seconds_total", F_COUNTER, 6,
	  "PSI: time some tasks waited for CPU" },
	{ ST_PSI_CPU_FULL_US, "pressure_cpu_stalled_seconds_total", F_COUNTER, 6,
	  "PSI: time all tasks were stalled on CPU" },
	{ ST_PSI_MEM_SOME_US, "pressure_memory_waiting_seconds_total", F_COUNTER, 6,
	  "PSI: time some tasks waited for memory" },
	{ ST_PSI_MEM_FULL_US, "pressure_memory_stalled_seconds_total", F_COUNTER, 6,
	  "PSI: time all tasks were stalled on memory" },
	{ ST_PSI_IO_SOME_US, "pressure_io_waiting_seconds_total", F_COUNTER, 6,
	  "PSI: time some tasks waited for I/O" },
	{ ST_PSI_IO_FULL_US, "pressure_io_stalled_seconds_total", F_COUNTER, 6,
	  "PSI: time all tasks were stalled on I/O" },
};

static const char *const type_name[] = { [F_COUNTER] = "counter", [F_GAUGE] = "gauge" };

void metrics_count_knob(struct qosd_counters *c, int key, bool drift, bool error)
{
	if (key < 0 || key >= _QK_MAX)
		return;
	if (error)
		c->errors[key]++;
	else if (drift)
		c->drift[key]++;
}

int metrics_ctx(struct manager *m, struct metrics **ret)
{
	if (!m->metrics) {
		m->metrics = calloc(1, sizeof(*m->metrics));
		if (!m->metrics)
			return -ENOMEM;
		m->metrics->listen_fd = -1;
		m->metrics->m = m;
	}
	*ret = m->metrics;
	return 0;
}

/* metrics_ctx with the kernel readers open: only collection pays their fds (an override's
 * note, kept by explain, needs none). */
static int metrics_ctx_stats(struct manager *m, struct metrics **ret)
{
	int r = metrics_ctx(m, ret);

	if (r >= 0 && !(*ret)->stats)
		r = stats_ctx_new(m->cfg->cgroupfs, &(*ret)->stats);
	return r < 0 ? r : 0;
}

static void collect_net(struct manager *m, struct metrics *mt, const struct container *c,
			struct sample *s)
{
	pid_t pid = 0;

	if (!c->has_net || !m->env.tc)
		return;
	if (!mt->tcs && tc_stats_cache_new(&mt->tcs) < 0)
		return;
	/* the pid of the last scrape while it is still in the same netns; else a process in the
	 * cgroup now, not the hook's hint: that pid may be reused by now */
	if (tc_stats_pass(m->env.tc, mt->tcs, c->id, 0, s->net) != -EAGAIN)
		return;
	if (cg_first_pid(m->env.cg, c->cgpath, &pid) < 0 || pid <= 0)
		return;
	(void) tc_stats_pass(m->env.tc, mt->tcs, c->id, pid, s->net);
}

static void collect_disk(struct manager *m, const struct container *c, struct sample *s)
{
	struct quota_usage q;

	if (!c->projid || !c->dir || !m->env.quota)
		return;
	if (quota_get(m->env.quota, c->dir, c->projid, &q) < 0)
		return;
	s->have_disk = true;
	s->disk = q;
}

/* What a collection keeps for the next, at most (each of the samples, the labels, the text):
 * past it (about 3,000 containers) a scrape allocates afresh, so that RSS does not keep it. */
#define KEEP_MAX (4u << 20)

/* Drop what is too big to keep until the next collection; the output text too when failed (a
 * finished text leaves with the caller, and metrics_text_done() decides whether it comes back). */
static void metrics_trim(struct metrics *mt, bool failed)
{
	if (mt->samples_cap * sizeof(*mt->samples) > KEEP_MAX) {
		free(mt->samples);
		mt->samples = NULL;
		mt->samples_cap = 0;
	}
	if (mt->labels.cap > KEEP_MAX) {
		free(mt->labels.p);
		mt->labels = (struct textbuf){ 0 };
	}
	if (failed && mt->out.cap > KEEP_MAX) {
		free(mt->out.p);
		mt->out = (struct textbuf){ 0 };
	}
}

/* The samples array, kept across collections (its size follows the registry). */
static int samples_room(struct metrics *mt, size_t n)
{
	struct sample *v;

	if (n <= mt->samples_cap)
		return 0;
	v = reallocarray(mt->samples, n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	mt->samples = v;
	mt->samples_cap = n;
	return 0;
}

/* Every managed container and tenant cgroup, read now. ret[0..*ret_n): containers first. */
int metrics_collect(struct manager *m, struct sample **ret, size_t *ret_n, size_t *ret_nc)
{
	struct metrics *mt;
	size_t nc = registry_size(m->reg), n = 0;
	struct sample *v;
	/* kept fds only while scrapes come: a qosctl top with metrics off must not leave them */
	int (*rd)(struct stats_ctx *, const struct stats_paths *, struct qos_cg_stats *) =
		m->cfg->metrics_listen || m->cfg->metrics_textfile ? stats_read_kept : stats_read;
	int r = metrics_ctx_stats(m, &mt);

	if (r >= 0)
		r = samples_room(mt, nc + m->n_tenants + 1);
	if (r < 0)
		return r;
	v = mt->samples;
	for (size_t i = 0; i < nc; i++) {
		const struct container *c = registry_at(m->reg, i);
		struct sample *s = &v[n];

		const struct stats_paths sp = {
			.cgpath = c->cgpath,
			.cpu = cg_paths_get(&c->hier, CG_CPU, c->cgpath),
			.memory = cg_paths_get(&c->hier, CG_MEMORY, c->cgpath),
			.blkio = cg_paths_get(&c->hier, CG_BLKIO, c->cgpath),
		};

		*s = (struct sample){ 0 };
		if (rd(mt->stats, &sp, &s->st) < 0)
			continue; /* gone since: the next pass forgets it */
		s->id = c->id;
		s->tenant = c->tenant;
		s->cls = c->cls;
		s->status = c->status;
		collect_net(m, mt, c, s);
		collect_disk(m, c, s);
		n++;
	}
	*ret_nc = n;
	for (size_t i = 0; i < m->n_tenants; i++) {
		const struct stats_paths sp = { .cgpath = m->tenants[i].cgpath };

		v[n] = (struct sample){ 0 };
		if (rd(mt->stats, &sp, &v[n].st) >= 0)
			v[n++].tenant = m->tenants[i].name;
	}
	stats_forget_unread(mt->stats); /* the fds of cgroups gone since the last collection */
	if (stats_fd_limit_hit(mt->stats))
		log_warning("metrics: out of file descriptors with %zu statistics files kept open; "
			    "other cgroups' files are opened at each scrape from now on (raise "
			    "LimitNOFILE= to keep them all)",
			    stats_ctx_kept(mt->stats));
	tc_stats_pass_end(mt->tcs);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- the text: appended to one buffer, kept across scrapes ---- */

/* v as a decimal with decimals digits after the point (v in units of 10^-decimals), and '\n' */
static void put_value(struct textbuf *b, uint64_t v, unsigned decimals)
{
	char t[48];
	size_t i = sizeof(t);

	t[--i] = '\n';
	for (unsigned d = 0; d < decimals; d++, v /= 10)
		t[--i] = (char) ('0' + v % 10);
	if (decimals)
		t[--i] = '.';
	do {
		t[--i] = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	textbuf_put(b, t + i, sizeof(t) - i);
}

/* Label values are validated names, but escape anyway: the format breaks on \, " and newline. */
static void put_label(struct textbuf *b, const char *name, const char *v, bool first)
{
	if (!first)
		textbuf_put(b, ",", 1);
	textbuf_puts(b, name);
	textbuf_put(b, "=\"", 2);
	v = v ? v : "";
	if (!v[strcspn(v, "\\\"\n")])
		textbuf_puts(b, v);
	else
		for (const char *p = v; *p; p++) {
			if (*p == '\\' || *p == '"')
				textbuf_put(b, "\\", 1);
			if (*p == '\n')
				textbuf_put(b, "\\n", 2);
			else
				textbuf_put(b, p, 1);
		}
	textbuf_put(b, "\"", 1);
}

/* Each sample's labels (id, tenant, class; tenant cgroups: tenant), printed once per scrape
 * into lb and found by s->lab_off / lab_len. */
static void make_labels(struct textbuf *lb, struct sample *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		v[i].lab_off = lb->len;
		if (v[i].id) {
			put_label(lb, "id", v[i].id, true);
			put_label(lb, "tenant", v[i].tenant, false);
			put_label(lb, "class", v[i].cls, false);
		} else
			put_label(lb, "tenant", v[i].tenant, true);
		v[i].lab_len = lb->len - v[i].lab_off;
	}
}

/* name{id=..,tenant=..,class=..[,extra=..]} */
static void put_head(struct textbuf *b, const struct textbuf *lb, const char *prefix,
		     const char *name, const struct sample *s, const char *xname, const char *xval)
{
	textbuf_puts(b, prefix);
	textbuf_puts(b, name);
	textbuf_put(b, "{", 1);
	textbuf_put(b, lb->p + s->lab_off, s->lab_len);
	if (xname)
		put_label(b, xname, xval, false);
	textbuf_put(b, "} ", 2);
}

static void put_family(struct textbuf *b, const char *prefix, const char *name, enum fam_type t,
		       const char *help)
{
	textbuf_printf(b, "# HELP %s%s %s.\n# TYPE %s%s %s\n", prefix, name, help, prefix, name,
		       type_name[t]);
}

static void render_cg(struct textbuf *b, const struct textbuf *lb, const char *prefix,
		      const struct sample *v, size_t n)
{
	for (size_t k = 0; k < ELEMENTSOF(cg_families); k++) {
		const struct cg_family *fam = &cg_families[k];

		put_family(b, prefix, fam->name, fam->type, fam->help);
		for (size_t i = 0; i < n; i++)
			if (v[i].st.have & (1u << fam->st)) {
				put_head(b, lb, prefix, fam->name, &v[i], NULL, NULL);
				put_value(b, v[i].st.v[fam->st], fam->decimals);
			}
	}
	put_family(b, prefix, "cpu_limit_cores", F_GAUGE, "CPU quota in CPUs (absent: unlimited)");
	for (size_t i = 0; i < n; i++) {
		const struct qos_cg_stats *st = &v[i].st;

		if ((st->have & (1u << ST_CPU_QUOTA_US)) && (st->have & (1u << ST_CPU_PERIOD_US)) &&
		    st->v[ST_CPU_PERIOD_US]) {
			put_head(b, lb, prefix, "cpu_limit_cores", &v[i], NULL, NULL);
			textbuf_printf(b, "%.6f\n",
				       (double) st->v[ST_CPU_QUOTA_US] /
					       (double) st->v[ST_CPU_PERIOD_US]);
		}
	}
}

#define IO_FIELD(field) offsetof(struct qos_io_dev_stat, field)
static const struct {
	const char *name, *help;
	size_t off;
} io_families[] = {
	{ "io_read_bytes_total", "Bytes read from the device", IO_FIELD(rbytes) },
	{ "io_written_bytes_total", "Bytes written to the device", IO_FIELD(wbytes) },
	{ "io_reads_total", "Read operations on the device", IO_FIELD(rios) },
	{ "io_writes_total", "Write operations on the device", IO_FIELD(wios) },
};

static void render_io(struct textbuf *b, const struct textbuf *lb, const char *prefix,
		      const struct sample *v, size_t n)
{
	for (size_t k = 0; k < ELEMENTSOF(io_families); k++) {
		put_family(b, prefix, io_families[k].name, F_COUNTER, io_families[k].help);
		for (size_t i = 0; i < n; i++)
			for (unsigned d = 0; d < v[i].st.n_io; d++) {
				const struct qos_io_dev_stat *io = &v[i].st.io[d];
				char dev[32];

				snprintf(dev, sizeof(dev), "%u:%u", io->major, io->minor);
				put_head(b, lb, prefix, io_families[k].name, &v[i], "device", dev);
				put_value(b,
					  *(const uint64_t *) ((const char *) io +
							       io_families[k].off),
					  0);
			}
	}
}

#define NET_FIELD(field) offsetof(struct tc_net_stats, field)
static const struct {
	const char *name, *help;
	size_t off;
} net_families[] = {
	{ "network_bytes_total", "Bytes through qosd's shaper (direction in: into the container)",
	  NET_FIELD(bytes) },
	{ "network_packets_total", "Packets through qosd's shaper", NET_FIELD(packets) },
	{ "network_drops_total", "Packets qosd's shaper dropped", NET_FIELD(drops) },
	{ "network_overlimits_total", "Times qosd's shaper held a packet back over its rate",
	  NET_FIELD(overlimits) },
};

static void render_net(struct textbuf *b, const struct textbuf *lb, const struct sample *v,
		       size_t n)
{
	static const char *const dir[] = { [TC_DIR_IN] = "in", [TC_DIR_OUT] = "out" };

	for (size_t k = 0; k < ELEMENTSOF(net_families); k++) {
		put_family(b, "qosd_", net_families[k].name, F_COUNTER, net_families[k].help);
		for (size_t i = 0; i < n; i++)
			for (int d = 0; d < 2; d++)
				if (v[i].net[d].have) {
					put_head(b, lb, "qosd_", net_families[k].name, &v[i],
						 "direction", dir[d]);
					put_value(b,
						  *(const uint64_t *) ((const char *) &v[i].net[d] +
								       net_families[k].off),
						  0);
				}
	}
}

static void render_disk(struct textbuf *b, const struct textbuf *lb, const struct sample *v,
			size_t n)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fam[] = {
		{ "disk_used_bytes", "Bytes charged to the container's project quota",
		  offsetof(struct quota_usage, used_bytes) },
		{ "disk_limit_bytes", "Project quota limit in bytes (0: none)",
		  offsetof(struct quota_usage, limit_bytes) },
		{ "disk_used_inodes", "Inodes charged to the container's project quota",
		  offsetof(struct quota_usage, used_inodes) },
		{ "disk_limit_inodes", "Project quota inode limit (0: none)",
		  offsetof(struct quota_usage, limit_inodes) },
	};

	for (size_t k = 0; k < ELEMENTSOF(fam); k++) {
		put_family(b, "qosd_", fam[k].name, F_GAUGE, fam[k].help);
		for (size_t i = 0; i < n; i++)
			if (v[i].have_disk) {
				put_head(b, lb, "qosd_", fam[k].name, &v[i], NULL, NULL);
				put_value(b,
					  *(const uint64_t *) ((const char *) &v[i].disk +
							       fam[k].off),
					  0);
			}
	}
}

static void render_keyed(struct textbuf *b, const char *name, const char *help, const uint64_t *v)
{
	put_family(b, "qosd_", name, F_COUNTER, help);
	for (int k = 0; k < _QK_MAX; k++)
		textbuf_printf(b, "qosd_%s{key=\"%s\"} %llu\n", name, qos_key_name(k),
			       (unsigned long long) v[k]);
}

/* The batch-beside-latency controller (all zero while no class sets priority). */
static void render_controller(struct textbuf *b, const struct controller *ctl)
{
	put_family(b, "qosd_", "controller_level", F_GAUGE,
		   "How far batch containers are tightened, per resource (0 = class values)");
	for (int r = 0; r < _PR_MAX; r++)
		textbuf_printf(b, "qosd_controller_level{resource=\"%s\"} %u\n",
			       pressure_res_name(r), controller_level(ctl, r));
	put_family(b, "qosd_", "controller_level_changes_total", F_COUNTER,
		   "Steps of the controller's level, per resource");
	for (int r = 0; r < _PR_MAX; r++)
		textbuf_printf(b, "qosd_controller_level_changes_total{resource=\"%s\"} %llu\n",
			       pressure_res_name(r),
			       (unsigned long long) controller_level_changes(ctl, r));
	put_family(b, "qosd_", "controller_livelock_reliefs_total", F_COUNTER,
		   "memory.high raised by the livelock guard");
	textbuf_printf(b, "qosd_controller_livelock_reliefs_total %llu\n",
		       (unsigned long long) controller_reliefs(ctl));
}

static void render_self(struct textbuf *b, struct manager *m)
{
	const struct qosd_counters *c = &m->counters;

	put_family(b, "qosd_", "build_info", F_GAUGE, "qosd's version (value always 1)");
	textbuf_printf(b, "qosd_build_info{version=\"%s\"} 1\n", QOSD_VERSION);
	put_family(b, "qosd_", "containers_managed", F_GAUGE, "Containers qosd knows");
	textbuf_printf(b, "qosd_containers_managed %zu\n", registry_size(m->reg));
	put_family(b, "qosd_", "tenants_managed", F_GAUGE, "Tenants in the policy");
	textbuf_printf(b, "qosd_tenants_managed %zu\n", m->policy ? m->policy->n_tenants : 0);
	render_keyed(b, "drift_corrections_total",
		     "Knobs found changed behind qosd's back and set again, by policy key",
		     c->drift);
	render_keyed(b, "apply_errors_total", "Knob writes the kernel refused, by policy key",
		     c->errors);
	render_controller(b, m->ctl);
	textbuf_puts(b, "# HELP qosd_reconcile_duration_seconds Time to reconcile one container.\n"
			"# TYPE qosd_reconcile_duration_seconds summary\n"
			"qosd_reconcile_duration_seconds_sum ");
	put_value(b, c->reconcile_usec, 6);
	textbuf_printf(b, "qosd_reconcile_duration_seconds_count %llu\n",
		       (unsigned long long) c->reconciles);
}

int metrics_render(struct manager *m, char **ret, size_t *ret_len)
{
	struct sample *v = NULL;
	size_t n = 0, nc = 0;
	struct metrics *mt;
	struct textbuf *b, *lb;
	int r = metrics_collect(m, &v, &n, &nc);

	if (r < 0)
		return r;
	mt = m->metrics;
	b = &mt->out;
	lb = &mt->labels;
	b->len = lb->len = 0;
	b->failed = lb->failed = false;
	make_labels(lb, v, n);
	render_cg(b, lb, "qosd_", v, nc);
	render_io(b, lb, "qosd_", v, nc);
	render_net(b, lb, v, nc);
	render_disk(b, lb, v, nc);
	render_cg(b, lb, "qosd_tenant_", v + nc, n - nc);
	render_io(b, lb, "qosd_tenant_", v + nc, n - nc);
	render_self(b, m);
	m->trim_kib += b->len / 1024; /* freed again: on_post gives the heap back after big work */
	r = b->failed || lb->failed || !textbuf_room(b, 1) ? -ENOMEM : 0;
	metrics_trim(mt, r < 0);
	if (r < 0)
		return r;
	b->p[b->len] = 0;
	*ret_len = b->len;
	*ret = TAKE_PTR(b->p);
	b->cap = 0;
	return 0;
}

void metrics_text_done(struct metrics *mt, char *text)
{
	/* the next render writes into it again, unless one was made meanwhile or it is too big */
	if (mt && !mt->out.p && malloc_usable_size(text) <= KEEP_MAX) {
		mt->out.p = text;
		mt->out.cap = malloc_usable_size(text);
	} else
		free(text);
}

static json_t *stat_json(const struct qos_cg_stats *st, enum qos_stat k)
{
	return st->have & (1u << k) ? json_integer((json_int_t) st->v[k]) : json_null();
}

static json_t *sample_json(const struct sample *s)
{
	static const struct {
		const char *name;
		enum qos_stat k;
	} f[] = {
		{ "cpu_usage_ns", ST_CPU_USAGE_NS },
		{ "cpu_periods", ST_CPU_PERIODS },
		{ "cpu_throttled", ST_CPU_THROTTLED_PERIODS },
		{ "throttled_ns", ST_CPU_THROTTLED_NS },
		{ "cpu_quota_us", ST_CPU_QUOTA_US },
		{ "cpu_period_us", ST_CPU_PERIOD_US },
		{ "mem_usage", ST_MEM_USAGE },
		{ "mem_peak", ST_MEM_PEAK },
		{ "mem_limit", ST_MEM_LIMIT },
		{ "oom_kills", ST_MEM_EV_OOM_KILL },
	};
	json_t *o = json_pack("{s:s,s:o,s:o,s:o}", "id", s->id, "tenant",
			      s->tenant ? json_string(s->tenant) : json_null(), "class",
			      s->cls ? json_string(s->cls) : json_null(), "status",
			      s->status ? json_string(s->status) : json_null());
	uint64_t rb = 0, wb = 0, nb = 0, drops = 0;

	for (size_t i = 0; o && i < ELEMENTSOF(f); i++)
		json_object_set_new(o, f[i].name, stat_json(&s->st, f[i].k));
	for (unsigned d = 0; d < s->st.n_io; d++)
		rb += s->st.io[d].rbytes, wb += s->st.io[d].wbytes;
	for (int d = 0; d < 2; d++)
		nb += s->net[d].bytes, drops += s->net[d].drops;
	if (o) {
		json_object_set_new(o, "io_bytes", json_integer((json_int_t) (rb + wb)));
		json_object_set_new(o, "net_bytes", json_integer((json_int_t) nb));
		json_object_set_new(o, "net_drops", json_integer((json_int_t) drops));
	}
	return o;
}

char *metrics_stats_reply(struct manager *m)
{
	struct sample *v = NULL;
	size_t n = 0, nc = 0;
	json_t *arr, *o;
	char *s;
	int r = metrics_collect(m, &v, &n, &nc);

	if (r < 0)
		return control_error_reply(strerror(-r));
	arr = json_array();
	for (size_t i = 0; i < nc; i++)
		json_array_append_new(arr, sample_json(&v[i]));
	o = json_pack("{s:b,s:o,s:I}", "ok", 1, "containers", arr, "time_us",
		      (json_int_t) now_usec());
	metrics_trim(m->metrics, false);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}
