/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include "cgfs.h"
#include "stats.h"
#include "util.h"

/* v1 hierarchies read here; on v2 every one is the root itself. */
enum { H_CPU, H_CPUACCT, H_MEMORY, H_BLKIO, H_UNIFIED, _H_MAX };
static const char *const h_dir[_H_MAX] = { "cpu", "cpuacct", "memory", "blkio", "unified" };

struct stats_ctx {
	bool v2;
	int root[_H_MAX]; /* O_PATH dirfd of each hierarchy's root, -1 if not mounted */
};

/* A v1 limit at or above this is the kernel's "unlimited" (PAGE_COUNTER_MAX pages). */
#define V1_UNLIMITED (1ULL << 62)

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
	for (int h = 0; h < _H_MAX; h++) {
		_cleanup_free_ char *p =
			ctx->v2 ? strdup(cgroupfs) : strprintf("%s/%s", cgroupfs, h_dir[h]);

		if (p)
			ctx->root[h] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	*ret = ctx;
	return 0;
}

void stats_ctx_free(struct stats_ctx *ctx)
{
	if (!ctx)
		return;
	for (int h = 0; h < _H_MAX; h++)
		closep(&ctx->root[h]);
	free(ctx);
}

int stats_keyed(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char *end;

		if (!strneq(l, key, kl) || l[kl] != ' ')
			continue;
		errno = 0;
		*ret = strtoull(l + kl + 1, &end, 10);
		if (errno || end == l + kl + 1)
			return -EBADMSG;
		return 0;
	}
	return -ENOENT;
}

int stats_psi(const char *text, uint64_t *ret_some, uint64_t *ret_full)
{
	int found = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *t = strstr(l, "total="), *nl = strchr(l, '\n');
		uint64_t *dst = startswith(l, "some ")	 ? ret_some
				: startswith(l, "full ") ? ret_full
							 : NULL;

		if (!dst || !t || (nl && t > nl))
			continue;
		*dst = strtoull(t + 6, NULL, 10);
		found++;
	}
	return found ? 0 : -ENOENT;
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

/* Read a small kernel file below dirfd into buf (NUL-terminated). The dirfd was opened beneath
 * the hierarchy's root without following symlinks; the name is one of ours. */
static int read_small(int dirfd, const char *name, char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	n = read(fd, buf, len - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	return 0;
}

static void put(struct qos_cg_stats *s, enum qos_stat k, uint64_t v)
{
	s->v[k] = v;
	s->have |= 1u << k;
}

static void read_u64(int fd, const char *name, struct qos_cg_stats *s, enum qos_stat k)
{
	char buf[64], *end;
	uint64_t v;

	if (read_small(fd, name, buf, sizeof(buf)) < 0)
		return;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (!errno && end != buf)
		put(s, k, v);
}

static void read_keyed(const char *text, const char *key, struct qos_cg_stats *s, enum qos_stat k,
		       uint64_t scale)
{
	uint64_t v;

	if (stats_keyed(text, key, &v) >= 0)
		put(s, k, v * scale);
}

static void read_psi(int fd, struct qos_cg_stats *s)
{
	static const char *const files[] = { "cpu.pressure", "memory.pressure", "io.pressure" };
	char buf[512];

	for (unsigned i = 0; i < ELEMENTSOF(files); i++) {
		uint64_t some = UINT64_MAX, full = UINT64_MAX;

		if (read_small(fd, files[i], buf, sizeof(buf)) < 0 ||
		    stats_psi(buf, &some, &full) < 0)
			continue;
		if (some != UINT64_MAX)
			put(s, ST_PSI_CPU_SOME_US + 2 * i, some);
		if (full != UINT64_MAX)
			put(s, ST_PSI_CPU_FULL_US + 2 * i, full);
	}
}

static void read_cpu_v2(int fd, struct qos_cg_stats *s)
{
	char buf[1024];
	unsigned long long quota, period;

	if (read_small(fd, "cpu.stat", buf, sizeof(buf)) >= 0) {
		read_keyed(buf, "usage_usec", s, ST_CPU_USAGE_NS, 1000);
		read_keyed(buf, "nr_periods", s, ST_CPU_PERIODS, 1);
		read_keyed(buf, "nr_throttled", s, ST_CPU_THROTTLED_PERIODS, 1);
		read_keyed(buf, "throttled_usec", s, ST_CPU_THROTTLED_NS, 1000);
	}
	if (read_small(fd, "cpu.max", buf, sizeof(buf)) >= 0) {
		if (sscanf(buf, "%llu %llu", &quota, &period) == 2)
			put(s, ST_CPU_QUOTA_US, quota);
		if (sscanf(buf, "%*s %llu", &period) == 1)
			put(s, ST_CPU_PERIOD_US, period);
	}
}

static void read_mem_v2(int fd, struct qos_cg_stats *s)
{
	char buf[512];

	read_u64(fd, "memory.current", s, ST_MEM_USAGE);
	read_u64(fd, "memory.peak", s, ST_MEM_PEAK);
	read_u64(fd, "memory.max", s, ST_MEM_LIMIT); /* "max" is not a number: left out */
	if (read_small(fd, "memory.events", buf, sizeof(buf)) >= 0) {
		read_keyed(buf, "high", s, ST_MEM_EV_HIGH, 1);
		read_keyed(buf, "max", s, ST_MEM_EV_MAX, 1);
		read_keyed(buf, "oom", s, ST_MEM_EV_OOM, 1);
		read_keyed(buf, "oom_kill", s, ST_MEM_EV_OOM_KILL, 1);
	}
}

static void read_v2(int fd, struct qos_cg_stats *s)
{
	char buf[4096];

	read_cpu_v2(fd, s);
	read_mem_v2(fd, s);
	read_psi(fd, s);
	if (read_small(fd, "io.stat", buf, sizeof(buf)) >= 0)
		stats_parse_io_v2(buf, s);
}

static void read_cpu_v1(int cpu, int acct, struct qos_cg_stats *s)
{
	char buf[512];
	uint64_t quota;

	if (cpu >= 0 && read_small(cpu, "cpu.stat", buf, sizeof(buf)) >= 0) {
		read_keyed(buf, "nr_periods", s, ST_CPU_PERIODS, 1);
		read_keyed(buf, "nr_throttled", s, ST_CPU_THROTTLED_PERIODS, 1);
		read_keyed(buf, "throttled_time", s, ST_CPU_THROTTLED_NS, 1);
	}
	if (cpu >= 0 && read_small(cpu, "cpu.cfs_quota_us", buf, sizeof(buf)) >= 0 &&
	    buf[0] != '-' && sscanf(buf, "%" SCNu64, &quota) == 1)
		put(s, ST_CPU_QUOTA_US, quota);
	if (cpu >= 0)
		read_u64(cpu, "cpu.cfs_period_us", s, ST_CPU_PERIOD_US);
	/* cpu and cpuacct are one hierarchy on most hosts ("cpu,cpuacct"), two on some */
	read_u64(acct >= 0 ? acct : cpu, "cpuacct.usage", s, ST_CPU_USAGE_NS);
	if (!(s->have & (1u << ST_CPU_USAGE_NS)) && cpu >= 0)
		read_u64(cpu, "cpuacct.usage", s, ST_CPU_USAGE_NS);
}

static void read_mem_v1(int fd, struct qos_cg_stats *s)
{
	char buf[512];

	read_u64(fd, "memory.usage_in_bytes", s, ST_MEM_USAGE);
	read_u64(fd, "memory.max_usage_in_bytes", s, ST_MEM_PEAK);
	read_u64(fd, "memory.limit_in_bytes", s, ST_MEM_LIMIT);
	if ((s->have & (1u << ST_MEM_LIMIT)) && s->v[ST_MEM_LIMIT] >= V1_UNLIMITED)
		s->have &= ~(1u << ST_MEM_LIMIT);
	read_u64(fd, "memory.failcnt", s, ST_MEM_EV_MAX);
	if (read_small(fd, "memory.oom_control", buf, sizeof(buf)) >= 0) {
		read_keyed(buf, "oom_kill", s, ST_MEM_EV_OOM_KILL, 1);
		read_keyed(buf, "under_oom", s, ST_MEM_UNDER_OOM, 1);
	}
}

static void read_blkio_v1(int fd, struct qos_cg_stats *s)
{
	char buf[4096];

	if (read_small(fd, "blkio.throttle.io_service_bytes", buf, sizeof(buf)) >= 0)
		stats_parse_io_v1(buf, true, s);
	if (read_small(fd, "blkio.throttle.io_serviced", buf, sizeof(buf)) >= 0)
		stats_parse_io_v1(buf, false, s);
}

int stats_read(struct stats_ctx *ctx, const struct stats_paths *p, struct qos_cg_stats *ret)
{
	const char *path[_H_MAX] = { p->cpu, p->cpuacct, p->memory, p->blkio, p->unified };
	int fd[_H_MAX];
	int found = 0;

	*ret = (struct qos_cg_stats){ 0 };
	for (int h = 0; h < _H_MAX; h++) {
		fd[h] = -1;
		if (ctx->root[h] >= 0 && (!ctx->v2 || h == 0) &&
		    cgfs_open_dir(ctx->root[h], path[h] ? path[h] : p->cgpath, &fd[h]) >= 0)
			found++;
	}
	if (ctx->v2)
		read_v2(fd[0], ret);
	else {
		read_cpu_v1(fd[H_CPU], fd[H_CPUACCT], ret);
		if (fd[H_MEMORY] >= 0)
			read_mem_v1(fd[H_MEMORY], ret);
		if (fd[H_BLKIO] >= 0)
			read_blkio_v1(fd[H_BLKIO], ret);
		if (fd[H_UNIFIED] >= 0)
			read_psi(fd[H_UNIFIED], ret);
	}
	for (int h = 0; h < _H_MAX; h++)
		closep(&fd[h]);
	return found ? 0 : -ENOENT;
}
