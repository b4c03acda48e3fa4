/* SPDX-License-Identifier: MIT */
/* Statistics of the qdiscs qosd made for a container (read only). */
#include <fcntl.h>
#include <sys/stat.h>

#include "tc/tc-internal.h"
#include "qosd/util.h"

static void add(struct tc_net_stats *s, uint64_t bytes, uint64_t packets, uint64_t drops,
		uint64_t overlimits)
{
	s->have = true;
	s->bytes += bytes;
	s->packets += packets;
	s->drops += drops;
	s->overlimits += overlimits;
}

static void add_state(struct tc_net_stats *s, const struct tc_qdisc_state *q)
{
	add(s, q->bytes, q->packets, q->drops, q->overlimits);
}

/* Into the container: the root tbf on each host veth. Out of it: the root qdisc of the ifb the
 * veth's ingress redirects to (named from id and the veth's index). */
int tc_stats(struct tc_ctx *ctx, const char *id, pid_t pid, struct tc_net_stats ret[2])
{
	_cleanup_free_ struct tc_veth *v = NULL;
	const char *why;
	size_t n = 0;
	int r;

	ret[TC_DIR_IN] = (struct tc_net_stats){ 0 };
	ret[TC_DIR_OUT] = (struct tc_net_stats){ 0 };
	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	tc_nl_resync(ctx);
	r = tc_container_veths(ctx, pid, &v, &n, &why);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct tc_qdisc_state q;
		struct tc_link_state l;
		char ifb[16];

		if (tc_nl_qdisc_get(ctx, v[i].h_ifindex, false, &q) >= 0 && streq(q.kind, "tbf"))
			add_state(&ret[TC_DIR_IN], &q);
		if (tc_ifb_name(id, (unsigned) i, ifb) < 0 || tc_nl_link_get(ctx, 0, ifb, &l) < 0 ||
		    !l.ifindex)
			continue;
		if (tc_nl_qdisc_get(ctx, l.ifindex, false, &q) >= 0 && streq(q.kind, "tbf"))
			add_state(&ret[TC_DIR_OUT], &q);
	}
	return 0;
}

/* ---- many containers per pass ---- */

struct ns_nsid {
	dev_t dev;
	ino_t ino;
	int nsid;
	bool seen; /* met in this pass */
};

/* The pid a container was last found by, and the netns it was in then. */
struct pid_hint {
	char *id;
	pid_t pid;
	dev_t dev;
	ino_t ino;
	bool seen;
};

struct tc_stats_cache {
	struct ns_nsid *ns; /* sorted by (dev, ino) */
	size_t n_ns, cap_ns;
	struct pid_hint *hints; /* sorted by id */
	size_t n_hints, cap_hints;
	bool dumped;
	struct tc_dump_link *links; /* veths by (nsid, ifindex), then ifbs by name */
	size_t n_links, n_veths;
	struct tc_dump_qdisc *qd; /* by ifindex */
	size_t n_qd;
};

int tc_stats_cache_new(struct tc_stats_cache **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

static void drop_dumps(struct tc_stats_cache *c)
{
	free(c->links);
	free(c->qd);
	c->links = NULL;
	c->qd = NULL;
	c->n_links = c->n_veths = c->n_qd = 0;
	c->dumped = false;
}

void tc_stats_cache_free(struct tc_stats_cache *c)
{
	if (!c)
		return;
	drop_dumps(c);
	free(c->ns);
	for (size_t i = 0; i < c->n_hints; i++)
		free(c->hints[i].id);
	free(c->hints);
	free(c);
}

void tc_stats_pass_end(struct tc_stats_cache *c)
{
	size_t k = 0;

	if (!c)
		return;
	drop_dumps(c);
	for (size_t i = 0; i < c->n_ns; i++)
		if (c->ns[i].seen) {
			c->ns[k] = c->ns[i];
			c->ns[k++].seen = false;
		}
	c->n_ns = k;
	k = 0;
	for (size_t i = 0; i < c->n_hints; i++)
		if (c->hints[i].seen) {
			c->hints[k] = c->hints[i];
			c->hints[k++].seen = false;
		} else
			free(c->hints[i].id);
	c->n_hints = k;
}

static int link_cmp(const void *a, const void *b)
{
	const struct tc_dump_link *x = a, *y = b;

	if (x->ifb != y->ifb)
		return x->ifb - y->ifb;
	if (x->ifb)
		return strcmp(x->name, y->name);
	if (x->nsid != y->nsid)
		return (x->nsid > y->nsid) - (x->nsid < y->nsid);
	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int qdisc_cmp(const void *a, const void *b)
{
	const struct tc_dump_qdisc *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int pass_dump(struct tc_ctx *ctx, struct tc_stats_cache *c)
{
	int r;

	if (c->dumped)
		return 0;
	tc_nl_resync(ctx);
	r = tc_nl_dump_links(ctx, &c->links, &c->n_links);
	if (r >= 0)
		r = tc_nl_dump_root_qdiscs(ctx, &c->qd, &c->n_qd);
	if (r < 0) {
		drop_dumps(c);
		return r;
	}
	qsort(c->links, c->n_links, sizeof(*c->links), link_cmp);
	qsort(c->qd, c->n_qd, sizeof(*c->qd), qdisc_cmp);
	while (c->n_veths < c->n_links && !c->links[c->n_veths].ifb)
		c->n_veths++;
	c->dumped = true;
	return 0;
}

/* The entry of netns (dev, ino), or where it would go. */
static size_t ns_find(const struct tc_stats_cache *c, dev_t dev, ino_t ino, bool *ret_found)
{
	size_t lo = 0, hi = c->n_ns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ns_nsid *e = &c->ns[mid];

		if (e->dev < dev || (e->dev == dev && e->ino < ino))
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = lo < c->n_ns && c->ns[lo].dev == dev && c->ns[lo].ino == ino;
	return lo;
}

/* The netns pid is in (stat of /proc/PID/ns/net). */
static int netns_stat(pid_t pid, struct stat *ret)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
	if (stat(path, ret) < 0)
		return errno == ENOENT ? -ESRCH : negative_errno();
	return 0;
}

/* The nsid of pid's netns (st0: its stat), asked of the kernel once per netns; 1: qosd's own. */
static int ns_nsid(struct tc_ctx *ctx, struct tc_stats_cache *c, pid_t pid, const struct stat *st0,
		   int *ret)
{
	_cleanup_close_ int fd = -1;
	char path[64];
	struct stat st = *st0;
	bool found;
	size_t i;
	int r, nsid;

	if (st.st_dev == ctx->ns_dev && st.st_ino == ctx->ns_ino)
		return 1; /* qosd's own: the host network */
	i = ns_find(c, st.st_dev, st.st_ino, &found);
	if (found) {
		c->ns[i].seen = true;
		*ret = c->ns[i].nsid;
		return 0;
	}
	/* the kernel's own answer, on the netns opened (the pid may have moved since the stat) */
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return errno == ENOENT ? -ESRCH : negative_errno();
	r = tc_nl_nsid(ctx, fd, &nsid);
	if (r < 0)
		return r;
	*ret = nsid;
	if (nsid < 0)
		return 0; /* none yet: no veth of qosd's netns points there; ask again next time */
	i = ns_find(c, st.st_dev, st.st_ino, &found);
	if (!found && c->n_ns == c->cap_ns) {
		size_t cap = c->cap_ns ? c->cap_ns * 2 : 64;
		struct ns_nsid *v = reallocarray(c->ns, cap, sizeof(*v));

		if (!v)
			return 0; /* answered, not cached */
		c->ns = v;
		c->cap_ns = cap;
	}
	if (!found) {
		memmove(&c->ns[i + 1], &c->ns[i], (c->n_ns - i) * sizeof(*c->ns));
		c->n_ns++;
	}
	c->ns[i] =
		(struct ns_nsid){ .dev = st.st_dev, .ino = st.st_ino, .nsid = nsid, .seen = true };
	return 0;
}

/* The first veth whose peer is in netns nsid (veths are sorted by nsid). */
static size_t veths_from(const struct tc_stats_cache *c, int nsid)
{
	size_t lo = 0, hi = c->n_veths;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->links[mid].nsid < nsid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void add_root_tbf(const struct tc_stats_cache *c, int ifindex, struct tc_net_stats *s)
{
	const struct tc_dump_qdisc key = { .ifindex = ifindex },
				   *q = bsearch(&key, c->qd, c->n_qd, sizeof(*c->qd), qdisc_cmp);

	if (q && streq(q->kind, "tbf"))
		add(s, q->bytes, q->packets, q->drops, q->overlimits);
}

static size_t hint_find(const struct tc_stats_cache *c, const char *id, bool *ret_found)
{
	size_t lo = 0, hi = c->n_hints;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->hints[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = lo < c->n_hints && streq(c->hints[lo].id, id);
	return lo;
}

static void hint_set(struct tc_stats_cache *c, const char *id, pid_t pid, const struct stat *st)
{
	bool found;
	size_t i = hint_find(c, id, &found);

	if (!found) {
		char *copy = strdup(id);

		if (!copy)
			return;
		if (c->n_hints == c->cap_hints) {
			size_t cap = c->cap_hints ? c->cap_hints * 2 : 64;
			struct pid_hint *v = reallocarray(c->hints, cap, sizeof(*v));

			if (!v) {
				free(copy);
				return;
			}
			c->hints = v;
			c->cap_hints = cap;
		}
		memmove(&c->hints[i + 1], &c->hints[i], (c->n_hints - i) * sizeof(*c->hints));
		c->n_hints++;
		c->hints[i].id = copy;
	}
	c->hints[i].pid = pid;
	c->hints[i].dev = st->st_dev;
	c->hints[i].ino = st->st_ino;
	c->hints[i].seen = true;
}

/* The pid id was last found by, if it is still in the netns it was in then (a pid that ended
 * and was reused elsewhere is in another netns; one reused in that same netns shows the same
 * veths): -EAGAIN when there is none. */
static int hint_get(struct tc_stats_cache *c, const char *id, pid_t *ret_pid, struct stat *ret_st)
{
	bool found;
	size_t i = hint_find(c, id, &found);

	if (!found || netns_stat(c->hints[i].pid, ret_st) < 0 ||
	    ret_st->st_dev != c->hints[i].dev || ret_st->st_ino != c->hints[i].ino)
		return -EAGAIN;
	c->hints[i].seen = true;
	*ret_pid = c->hints[i].pid;
	return 0;
}

int tc_stats_pass(struct tc_ctx *ctx, struct tc_stats_cache *c, const char *id, pid_t pid,
		  struct tc_net_stats ret[2])
{
	struct stat st;
	unsigned n = 0;
	int r, nsid = -1;

	ret[TC_DIR_IN] = (struct tc_net_stats){ 0 };
	ret[TC_DIR_OUT] = (struct tc_net_stats){ 0 };
	if (name_validate(id, ID_MAX) < 0)
		return -EINVAL;
	if (pid == 0) {
		r = hint_get(c, id, &pid, &st);
		if (r < 0)
			return r;
	} else if (pid < 0)
		return -ESRCH;
	else {
		r = netns_stat(pid, &st);
		if (r < 0)
			return r;
		hint_set(c, id, pid, &st);
	}
	/* the dump first: it makes the kernel number every netns a veth of ours points into */
	if (pass_dump(ctx, c) < 0)
		return tc_stats(ctx, id, pid, ret);
	r = ns_nsid(ctx, c, pid, &st, &nsid);
	if (r == -ESRCH || r == 1)
		return r == 1 ? 0 : r;
	if (r < 0)
		return tc_stats(ctx, id, pid, ret);
	/* into the container: the root tbf of each host veth whose peer is in its netns */
	for (size_t i = veths_from(c, nsid);
	     nsid >= 0 && i < c->n_veths && c->links[i].nsid == nsid; i++) {
		add_root_tbf(c, c->links[i].ifindex, &ret[TC_DIR_IN]);
		n++;
	}
	/* out of it: the root tbf of the ifb of each of those veths */
	for (unsigned i = 0; i < n; i++) {
		struct tc_dump_link key = { .ifb = true };
		const struct tc_dump_link *l;

		if (tc_ifb_name(id, i, key.name) < 0)
			continue;
		l = bsearch(&key, c->links + c->n_veths, c->n_links - c->n_veths, sizeof(*c->links),
			    link_cmp);
		if (l)
			add_root_tbf(c, l->ifindex, &ret[TC_DIR_OUT]);
	}
	return 0;
}
