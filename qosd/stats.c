/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/statfs.h>

#include "cgfs.h"
#include "stats.h"
#include "util.h"

/* v1 hierarchies read here; on v2 every file is in H_CPU, the root itself. */
enum { H_CPU, H_CPUACCT, H_MEMORY, H_BLKIO, H_UNIFIED, _H_MAX };
static const char *const h_dir[_H_MAX] = { "cpu", "cpuacct", "memory", "blkio", "unified" };

/* A v1 limit at or above this is the kernel's "unlimited" (PAGE_COUNTER_MAX pages). */
#define V1_UNLIMITED (1ULL << 62)
/* kernfs generates a statistics file into one page; io.stat with many devices may be more */
#define READ_MAX 4096
/* Kept fds at most, whatever the fd limit: each costs the kernel a page (the seq_file buffer,
 * charged to qosd's memory cgroup) once read, so 16,384 kept files are 64 MiB. */
#define KEPT_FDS_MAX 16384
/* Hash buckets of the kept cgroups (a power of two; doubled as they grow). */
#define BUCKETS_MIN 64

struct stat_file;
typedef void (*stat_parse_fn)(const char *text, size_t len, const struct stat_file *f,
			      struct qos_cg_stats *s);

/* One kernel file read for a cgroup: where, and what it gives (a table per cgroup version). */
struct stat_file {
	const char *name;
	unsigned h;
	stat_parse_fn parse;
	enum qos_stat st; /* the value parse() puts (PSI: "some"; "full" is st + 1) */
	const struct stats_key *keys; /* keyed files: the lines wanted */
	size_t n_keys;
};

#define STATS_FILES_MAX 16

struct stats_cg {
	struct stats_cg *next; /* hash chain */
	char *key; /* the cgroup's path (stats_paths.cgpath) */
	char *path[_H_MAX]; /* the path each hierarchy's fds were opened for; NULL: none kept */
	int fd[STATS_FILES_MAX]; /* parallel to ctx->files; -1: not kept (or no such file) */
	unsigned gen; /* ctx->gen of the pass that last read it */
};

struct stats_ctx {
	bool v2;
	int root[_H_MAX]; /* O_PATH dirfd of each hierarchy's root, -1 if not mounted */
	const struct stat_file *files;
	size_t n_files, n_in[_H_MAX]; /* files, and how many of them in each hierarchy */
	struct stats_cg **bucket;
	size_t n_buckets, n_cgs;
	unsigned gen;
	size_t kept, kept_max; /* fds kept open now, and the most that may be */
	bool fd_limit_hit; /* an open failed with EMFILE/ENFILE: kept_max was cut to kept */
};

/* ---- parsers: one pass over the text the kernel printed, no allocation ---- */

/* Decimal digits at p (before end) into *ret; the end of the number, NULL if none or overflow. */
static const char *scan_u64(const char *p, const char *end, uint64_t *ret)
{
	const char *start = p;
	uint64_t v = 0;

	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned) (*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
	}
	if (p == start)
		return NULL;
	*ret = v;
	return p;
}

/* The line starting at p: its end (the '\n' or end) in *ret_eol; the next line's start. */
static const char *line_next(const char *p, const char *end, const char **ret_eol)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));

	*ret_eol = nl ? nl : end;
	return nl ? nl + 1 : end;
}

/* The value of a "key value" line: the whole rest of the line is one number. */
static int line_value(const char *v, const char *eol, uint64_t *ret)
{
	const char *e = scan_u64(v, eol, ret);

	return e && e == eol ? 0 : -EBADMSG;
}

static void put(struct qos_cg_stats *s, enum qos_stat k, uint64_t v)
{
	s->v[k] = v;
	s->have |= 1u << k;
}

unsigned stats_scan_keyed(const char *text, size_t len, const struct stats_key *keys, size_t n,
			  struct qos_cg_stats *s)
{
	const char *end = text + len;
	unsigned found = 0;

	for (const char *l = text, *next, *eol; l < end; l = next) {
		const char *sp;
		uint64_t v;

		next = line_next(l, end, &eol);
		sp = memchr(l, ' ', (size_t) (eol - l));
		if (!sp)
			continue;
		for (size_t i = 0; i < n; i++)
			if (keys[i].len == (size_t) (sp - l) &&
			    !memcmp(l, keys[i].key, keys[i].len)) {
				if (line_value(sp + 1, eol, &v) >= 0 &&
				    v <= UINT64_MAX / keys[i].scale) {
					put(s, keys[i].st, v * keys[i].scale);
					found++;
				}
				break;
			}
	}
	return found;
}

int stats_keyed(const char *text, const char *key, uint64_t *ret)
{
	const char *end = text + strlen(text);
	size_t kl = strlen(key);

	for (const char *l = text, *next, *eol; l < end; l = next) {
		next = line_next(l, end, &eol);
		if ((size_t) (eol - l) > kl && l[kl] == ' ' && !memcmp(l, key, kl))
			return line_value(l + kl + 1, eol, ret);
	}
	return -ENOENT;
}

int stats_psi_text(const char *text, size_t len, uint64_t *ret_some, uint64_t *ret_full)
{
	const char *end = text + len;
	int found = 0;

	for (const char *l = text, *next, *eol; l < end; l = next) {
		uint64_t *dst = NULL;

		next = line_next(l, end, &eol);
		if (eol - l > 5 && !memcmp(l, "some ", 5))
			dst = ret_some;
		else if (eol - l > 5 && !memcmp(l, "full ", 5))
			dst = ret_full;
		/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=N": find the token total= */
		for (const char *t = l + 5; dst && t < eol;) {
			const char *sp = memchr(t, ' ', (size_t) (eol - t));

			if (eol - t > 6 && !memcmp(t, "total=", 6)) {
				if (scan_u64(t + 6, sp ? sp : eol, dst))
					found++;
				break;
			}
			t = sp ? sp + 1 : eol;
		}
	}
	return found ? 0 : -ENOENT;
}

int stats_psi(const char *text, uint64_t *ret_some, uint64_t *ret_full)
{
	return stats_psi_text(text, strlen(text), ret_some, ret_full);
}

static struct qos_io_dev_stat *io_dev(struct qos_cg_stats *s, unsigned maj, unsigned min)
{
	for (unsigned i = 0; i < s->n_io; i++)
		if (s->io[i].major == maj && s->io[i].minor == min)
			return &s->io[i];
	if (s->n_io >= STATS_IO_DEVS_MAX)
		return NULL;
	s->io[s->n_io] = (struct qos_io_dev_stat){ .major = maj, .minor = min };
	return &s->io[s->n_io++];
}

void stats_parse_io_v2(const char *text, struct qos_cg_stats *s)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		struct qos_io_dev_stat *d;
		unsigned maj, min;
		char line[512], *save = NULL;
		size_t len = strcspn(l, "\n");

		if (sscanf(l, "%u:%u", &maj, &min) != 2 || !(d = io_dev(s, maj, min)))
			continue;
		snprintf(line, sizeof(line), "%.*s", (int) MIN(len, sizeof(line) - 1), l);
		/* "rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N", in any order */
		for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(t, '=');
			uint64_t v = eq ? strtoull(eq + 1, NULL, 10) : 0;

			if (startswith(t, "rbytes="))
				d->rbytes = v;
			else if (startswith(t, "wbytes="))
				d->wbytes = v;
			else if (startswith(t, "rios="))
				d->rios = v;
			else if (startswith(t, "wios="))
				d->wios = v;
		}
	}
}

void stats_parse_io_v1(const char *text, bool bytes, struct qos_cg_stats *s)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		struct qos_io_dev_stat *d;
		unsigned maj, min;
		unsigned long long v;
		char op[16];

		if (sscanf(l, "%u:%u %15s %llu", &maj, &min, op, &v) != 4)
			continue;
		if (!streq(op, "Read") && !streq(op, "Write"))
			continue;
		d = io_dev(s, maj, min);
		if (!d)
			continue;
		if (streq(op, "Read"))
			*(bytes ? &d->rbytes : &d->rios) = v;
		else
			*(bytes ? &d->wbytes : &d->wios) = v;
	}
}

/* ---- the files, as tables ---- */

static void p_u64(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	uint64_t v;

	if (scan_u64(t, t + len, &v))
		put(s, f->st, v);
}

/* v1 memory.limit_in_bytes: unlimited is left out */
static void p_v1_limit(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	uint64_t v;

	if (scan_u64(t, t + len, &v) && v < V1_UNLIMITED)
		put(s, f->st, v);
}

/* v1 cpu.cfs_quota_us ("-1": unlimited) and v2 memory.max ("max"): a number or left out */
#define p_or_unlimited p_u64

/* v2 cpu.max: "QUOTA PERIOD" or "max PERIOD" */
static void p_cpu_max(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	const char *end = t + len, *sp = memchr(t, ' ', len);
	uint64_t v;

	if (!sp)
		return;
	if (scan_u64(t, sp, &v) == sp)
		put(s, ST_CPU_QUOTA_US, v);
	if (scan_u64(sp + 1, end, &v))
		put(s, ST_CPU_PERIOD_US, v);
}

static void p_keyed(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	(void) stats_scan_keyed(t, len, f->keys, f->n_keys, s);
}

static void p_psi(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	uint64_t some = UINT64_MAX, full = UINT64_MAX;

	if (stats_psi_text(t, len, &some, &full) < 0)
		return;
	if (some != UINT64_MAX)
		put(s, f->st, some);
	if (full != UINT64_MAX)
		put(s, f->st + 1, full);
}

static void p_io_v2(const char *t, size_t len, const struct stat_file *f, struct qos_cg_stats *s)
{
	stats_parse_io_v2(t, s);
}

static void p_io_v1_bytes(const char *t, size_t len, const struct stat_file *f,
			  struct qos_cg_stats *s)
{
	stats_parse_io_v1(t, true, s);
}

static void p_io_v1_ops(const char *t, size_t len, const struct stat_file *f,
			struct qos_cg_stats *s)
{
	stats_parse_io_v1(t, false, s);
}

#define KEY(k, st, scale)                   \
	{                                   \
		k, sizeof(k) - 1, st, scale \
	}
static const struct stats_key v1_cpu_stat[] = {
	KEY("nr_periods", ST_CPU_PERIODS, 1),
	KEY("nr_throttled", ST_CPU_THROTTLED_PERIODS, 1),
	KEY("throttled_time", ST_CPU_THROTTLED_NS, 1),
};
static const struct stats_key v1_oom_control[] = {
	KEY("oom_kill", ST_MEM_EV_OOM_KILL, 1),
	KEY("under_oom", ST_MEM_UNDER_OOM, 1),
};
static const struct stats_key v2_cpu_stat[] = {
	KEY("usage_usec", ST_CPU_USAGE_NS, 1000),
	KEY("nr_periods", ST_CPU_PERIODS, 1),
	KEY("nr_throttled", ST_CPU_THROTTLED_PERIODS, 1),
	KEY("throttled_usec", ST_CPU_THROTTLED_NS, 1000),
};
static const struct stats_key v2_memory_events[] = {
	KEY("high", ST_MEM_EV_HIGH, 1),
	KEY("max", ST_MEM_EV_MAX, 1),
	KEY("oom", ST_MEM_EV_OOM, 1),
	KEY("oom_kill", ST_MEM_EV_OOM_KILL, 1),
};
#define KEYED(n, hier, k)                                                                  \
	{                                                                                  \
		.name = n, .h = hier, .parse = p_keyed, .keys = k, .n_keys = ELEMENTSOF(k) \
	}
#define VAL(n, hier, fn, stat)                                \
	{                                                     \
		.name = n, .h = hier, .parse = fn, .st = stat \
	}
#define OTHER(n, hier, fn)                        \
	{                                         \
		.name = n, .h = hier, .parse = fn \
	}

/* cpu and cpuacct are one hierarchy on most hosts ("cpu,cpuacct"); H_CPUACCT falls back to the
 * cpu hierarchy's root where cpuacct is not mounted (stats_ctx_new). */
static const struct stat_file v1_files[] = {
	KEYED("cpu.stat", H_CPU, v1_cpu_stat),
	VAL("cpu.cfs_quota_us", H_CPU, p_or_unlimited, ST_CPU_QUOTA_US),
	VAL("cpu.cfs_period_us", H_CPU, p_u64, ST_CPU_PERIOD_US),
	VAL("cpuacct.usage", H_CPUACCT, p_u64, ST_CPU_USAGE_NS),
	VAL("memory.usage_in_bytes", H_MEMORY, p_u64, ST_MEM_USAGE),
	VAL("memory.max_usage_in_bytes", H_MEMORY, p_u64, ST_MEM_PEAK),
	VAL("memory.limit_in_bytes", H_MEMORY, p_v1_limit, ST_MEM_LIMIT),
	VAL("memory.failcnt", H_MEMORY, p_u64, ST_MEM_EV_MAX),
	KEYED("memory.oom_control", H_MEMORY, v1_oom_control),
	OTHER("blkio.throttle.io_service_bytes", H_BLKIO, p_io_v1_bytes),
	OTHER("blkio.throttle.io_serviced", H_BLKIO, p_io_v1_ops),
	VAL("cpu.pressure", H_UNIFIED, p_psi, ST_PSI_CPU_SOME_US),
	VAL("memory.pressure", H_UNIFIED, p_psi, ST_PSI_MEM_SOME_US),
	VAL("io.pressure", H_UNIFIED, p_psi, ST_PSI_IO_SOME_US),
};

static const struct stat_file v2_files[] = {
	KEYED("cpu.stat", H_CPU, v2_cpu_stat),
	OTHER("cpu.max", H_CPU, p_cpu_max),
	VAL("memory.current", H_CPU, p_u64, ST_MEM_USAGE),
	VAL("memory.peak", H_CPU, p_u64, ST_MEM_PEAK),
	VAL("memory.max", H_CPU, p_or_unlimited, ST_MEM_LIMIT),
	KEYED("memory.events", H_CPU, v2_memory_events),
	VAL("cpu.pressure", H_CPU, p_psi, ST_PSI_CPU_SOME_US),
	VAL("memory.pressure", H_CPU, p_psi, ST_PSI_MEM_SOME_US),
	VAL("io.pressure", H_CPU, p_psi, ST_PSI_IO_SOME_US),
	OTHER("io.stat", H_CPU, p_io_v2),
};

_Static_assert(ELEMENTSOF(v1_files) <= STATS_FILES_MAX, "STATS_FILES_MAX");
_Static_assert(ELEMENTSOF(v2_files) <= STATS_FILES_MAX, "STATS_FILES_MAX");

/* ---- the context ---- */

/* The fd limit's soft value raised to the hard one (the kept fds are many; qosd uses epoll and
 * poll, never select), and the share of it the kept fds may take. */
static size_t kept_budget(void)
{
	struct rlimit rl;
	size_t cur, reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	cur = rl.rlim_cur == RLIM_INFINITY ? KEPT_FDS_MAX * 2 : (size_t) rl.rlim_cur;
	reserve = MAX((size_t) 256, cur / 4); /* sockets, watches, the enforcers' own opens */
	return cur > reserve ? MIN(cur - reserve, (size_t) KEPT_FDS_MAX) : 0;
}

int stats_ctx_new(const char *cgroupfs, struct stats_ctx **ret)
{
	struct stats_ctx *ctx = calloc(1, sizeof(*ctx));
	struct statfs sf;

	if (!ctx)
		return -ENOMEM;
	for (int h = 0; h < _H_MAX; h++)
		ctx->root[h] = -1;
	if (statfs(cgroupfs, &sf) < 0) {
		int r = negative_errno();

		free(ctx);
		return r;
	}
	ctx->v2 = sf.f_type == CGROUP2_SUPER_MAGIC;
	ctx->files = ctx->v2 ? v2_files : v1_files;
	ctx->n_files = ctx->v2 ? ELEMENTSOF(v2_files) : ELEMENTSOF(v1_files);
	for (size_t i = 0; i < ctx->n_files; i++)
		ctx->n_in[ctx->files[i].h]++;
	for (int h = 0; h < _H_MAX; h++) {
		_cleanup_free_ char *p = NULL;

		if (!ctx->n_in[h])
			continue;
		p = ctx->v2 ? strdup(cgroupfs) : strprintf("%s/%s", cgroupfs, h_dir[h]);
		if (p)
			ctx->root[h] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (ctx->root[H_CPUACCT] < 0 && ctx->root[H_CPU] >= 0 && ctx->n_in[H_CPUACCT])
		ctx->root[H_CPUACCT] = fcntl(ctx->root[H_CPU], F_DUPFD_CLOEXEC, 3);
	ctx->kept_max = kept_budget();
	*ret = ctx;
	return 0;
}

bool stats_fd_limit_hit(struct stats_ctx *ctx)
{
	bool hit = ctx->fd_limit_hit;

	ctx->fd_limit_hit = false;
	return hit;
}

void stats_ctx_set_kept_max(struct stats_ctx *ctx, size_t n)
{
	ctx->kept_max = n;
}

size_t stats_ctx_kept(const struct stats_ctx *ctx)
{
	return ctx->kept;
}

/* ---- reading ---- */

/* File f read from its start on fd and parsed into s: 0, or the read's -errno. */
static int read_parse(const struct stat_file *f, int fd, struct qos_cg_stats *s)
{
	char buf[READ_MAX];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	f->parse(buf, (size_t) n, f, s);
	return 0;
}

/* Each file of hierarchy h below the cgroup's dirfd: open, read, close (no fds kept). */
static void read_h_dirfd(struct stats_ctx *ctx, int dirfd, unsigned h, struct qos_cg_stats *s)
{
	for (size_t i = 0; i < ctx->n_files; i++) {
		_cleanup_close_ int fd = -1;

		if (ctx->files[i].h != h)
			continue;
		fd = openat(dirfd, ctx->files[i].name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			(void) read_parse(&ctx->files[i], fd, s);
	}
}

/* The path of the cgroup in hierarchy h (cpuacct: as cpu, where it is not given). */
static const char *h_path(const struct stats_paths *p, unsigned h)
{
	const char *path[_H_MAX] = { p->cpu, p->cpuacct ?: p->cpu, p->memory, p->blkio,
				     p->unified };

	return path[h] ?: p->cgpath;
}

/* Open and read hierarchy h without keeping anything; -ENOENT if the cgroup is not in it. */
static int read_h_once(struct stats_ctx *ctx, const char *rel, unsigned h, struct qos_cg_stats *s)
{
	_cleanup_close_ int dirfd = -1;
	int r = cgfs_open_dir(ctx->root[h], rel, &dirfd);

	if (r < 0)
		return r;
	read_h_dirfd(ctx, dirfd, h, s);
	return 0;
}

int stats_read(struct stats_ctx *ctx, const struct stats_paths *p, struct qos_cg_stats *ret)
{
	int found = 0;

	*ret = (struct qos_cg_stats){ 0 };
	for (unsigned h = 0; h < _H_MAX; h++)
		if (ctx->root[h] >= 0 && read_h_once(ctx, h_path(p, h), h, ret) >= 0)
			found++;
	return found ? 0 : -ENOENT;
}

static void cg_close_h(struct stats_ctx *ctx, struct stats_cg *e, unsigned h)
{
	for (size_t i = 0; i < ctx->n_files; i++)
		if (ctx->files[i].h == h && e->fd[i] >= 0) {
			close(e->fd[i]);
			e->fd[i] = -1;
			ctx->kept--;
		}
	free(e->path[h]);
	e->path[h] = NULL;
}

/* Open hierarchy h's files of the cgroup and keep them: 1 kept, 0 not (over the budget, or the
 * fd limit reached: read without keeping), -ENOENT the cgroup is not in h. */
static int cg_open_h(struct stats_ctx *ctx, struct stats_cg *e, unsigned h, const char *rel)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *copy = NULL;
	int r;

	if (ctx->kept + ctx->n_in[h] > ctx->kept_max)
		return 0;
	r = cgfs_open_dir(ctx->root[h], rel, &dirfd);
	if (r == -EMFILE || r == -ENFILE) {
		ctx->kept_max = ctx->kept;
		ctx->fd_limit_hit = true;
		return 0;
	}
	if (r < 0)
		return r;
	copy = strdup(rel);
	if (!copy)
		return 0;
	for (size_t i = 0; i < ctx->n_files; i++) {
		if (ctx->files[i].h != h)
			continue;
		e->fd[i] = openat(dirfd, ctx->files[i].name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (e->fd[i] >= 0)
			ctx->kept++;
		else if (errno == EMFILE || errno == ENFILE) {
			e->path[h] = TAKE_PTR(copy);
			cg_close_h(ctx, e, h);
			ctx->kept_max = ctx->kept; /* no more from now on */
			ctx->fd_limit_hit = true;
			return 0;
		}
	}
	e->path[h] = TAKE_PTR(copy);
	return 1;
}

/* Read hierarchy h's kept files again from offset 0 (kernfs prints them anew); -ENODEV if the
 * cgroup was removed since they were opened (a new one of the same name has other files). */
static int read_h_kept(struct stats_ctx *ctx, struct stats_cg *e, unsigned h,
		       struct qos_cg_stats *s)
{
	for (size_t i = 0; i < ctx->n_files; i++)
		if (ctx->files[i].h == h && e->fd[i] >= 0 &&
		    read_parse(&ctx->files[i], e->fd[i], s) == -ENODEV)
			return -ENODEV; /* the cgroup was removed (and maybe made again) */
	return 0;
}

/* Hierarchy h of a kept cgroup: through its kept fds (opened now if need be, opened again if
 * the cgroup was replaced), else opened for this read only. */
static int read_h(struct stats_ctx *ctx, struct stats_cg *e, unsigned h, const char *rel,
		  struct qos_cg_stats *s)
{
	int r;

	if (e->path[h] && !streq(e->path[h], rel))
		cg_close_h(ctx, e, h);
	for (int attempt = 0; attempt < 2; attempt++) {
		r = e->path[h] ? 1 : cg_open_h(ctx, e, h, rel);
		if (r < 0)
			return r;
		if (r == 0)
			return read_h_once(ctx, rel, h, s);
		r = read_h_kept(ctx, e, h, s);
		if (r != -ENODEV)
			return r;
		cg_close_h(ctx, e, h);
	}
	return -ENOENT; /* removed again between the reopen and the read */
}

static void cg_free(struct stats_ctx *ctx, struct stats_cg *e)
{
	for (unsigned h = 0; h < _H_MAX; h++)
		cg_close_h(ctx, e, h);
	free(e->key);
	free(e);
}

static int buckets_grow(struct stats_ctx *ctx)
{
	size_t nb = ctx->n_buckets ? ctx->n_buckets * 2 : BUCKETS_MIN;
	struct stats_cg **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < ctx->n_buckets; i++)
		while (ctx->bucket[i]) {
			struct stats_cg *e = ctx->bucket[i];

			ctx->bucket[i] = e->next;
			e->next = b[fnv1a64(e->key) & (nb - 1)];
			b[fnv1a64(e->key) & (nb - 1)] = e;
		}
	free(ctx->bucket);
	ctx->bucket = b;
	ctx->n_buckets = nb;
	return 0;
}

/* The kept entry of cgroup key, made if missing. */
static int cg_get(struct stats_ctx *ctx, const char *key, struct stats_cg **ret)
{
	struct stats_cg *e;
	size_t b;

	if (ctx->n_cgs >= ctx->n_buckets && buckets_grow(ctx) < 0 && !ctx->n_buckets)
		return -ENOMEM;
	b = fnv1a64(key) & (ctx->n_buckets - 1);
	for (e = ctx->bucket[b]; e; e = e->next)
		if (streq(e->key, key)) {
			*ret = e;
			return 0;
		}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < STATS_FILES_MAX; i++)
		e->fd[i] = -1;
	e->next = ctx->bucket[b];
	ctx->bucket[b] = e;
	ctx->n_cgs++;
	*ret = e;
	return 0;
}

int stats_read_kept(struct stats_ctx *ctx, const struct stats_paths *p, struct qos_cg_stats *ret)
{
	struct stats_cg *e;
	int found = 0;

	if (cg_get(ctx, p->cgpath, &e) < 0)
		return stats_read(ctx, p, ret);
	e->gen = ctx->gen;
	*ret = (struct qos_cg_stats){ 0 };
	for (unsigned h = 0; h < _H_MAX; h++)
		if (ctx->root[h] >= 0 && read_h(ctx, e, h, h_path(p, h), ret) >= 0)
			found++;
	return found ? 0 : -ENOENT;
}

void stats_forget_unread(struct stats_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_buckets; i++)
		for (struct stats_cg **pe = &ctx->bucket[i]; *pe;) {
			struct stats_cg *e = *pe;

			if (e->gen == ctx->gen) {
				pe = &e->next;
				continue;
			}
			*pe = e->next;
			cg_free(ctx, e);
			ctx->n_cgs--;
		}
	ctx->gen++;
}

void stats_ctx_free(struct stats_ctx *ctx)
{
	if (!ctx)
		return;
	ctx->gen++;
	stats_forget_unread(ctx);
	free(ctx->bucket);
	for (int h = 0; h < _H_MAX; h++)
		closep(&ctx->root[h]);
	free(ctx);
}
