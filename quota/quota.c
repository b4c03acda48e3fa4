/* SPDX-License-Identifier: MIT */
/* Project quotas on container directories: checks, id choice, tagging, limits, release. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>

#include "qosd/keys.h"
#include "qosd/log.h"
#include "qosd/units.h"
#include "qosd/util.h"
#include "quota-internal.h"

struct held {
	uint32_t id;
	char *dir, *mnt;
	struct quota_walk *walk; /* tagging under way (bounded steps) */
};

struct quota_ctx {
	uint32_t lo, hi;
	char *projects_file, *projid_file;
	unsigned walk_step;
	struct held *held;
	size_t n_held;
};

/* An opened, checked directory. */
struct qdir {
	int fd;
	char *real;
	struct quota_fs fs;
};

static void qdir_done(struct qdir *q)
{
	closep(&q->fd);
	free(q->real);
	quota_fs_done(&q->fs);
}

static char *strdup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

int quota_ctx_new(const struct quota_config *cfg, struct quota_ctx **ret)
{
	struct quota_ctx *c;
	bool oom = false;

	if (cfg->range_lo > cfg->range_hi || (cfg->range_hi != 0 && cfg->range_lo == 0))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lo = cfg->range_lo;
	c->hi = cfg->range_hi;
	c->projects_file = strdup_or_null(cfg->projects_file, &oom);
	c->projid_file = strdup_or_null(cfg->projid_file, &oom);
	c->walk_step = cfg->walk_step;
	if (oom) {
		quota_ctx_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void quota_ctx_free(struct quota_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->n_held; i++) {
		free(ctx->held[i].dir);
		free(ctx->held[i].mnt);
		quota_walk_free(ctx->held[i].walk);
	}
	free(ctx->held);
	free(ctx->projects_file);
	free(ctx->projid_file);
	free(ctx);
}

static struct held *held_find(struct quota_ctx *ctx, uint32_t id)
{
	for (size_t i = 0; i < ctx->n_held; i++)
		if (ctx->held[i].id == id)
			return &ctx->held[i];
	return NULL;
}

static int held_add(struct quota_ctx *ctx, uint32_t id, const char *dir, const char *mnt)
{
	struct held *h = held_find(ctx, id), *v;
	char *d = strdup(dir), *m = strdup(mnt);

	if (!d || !m) {
		free(d);
		free(m);
		return -ENOMEM;
	}
	if (h && h->dir && !streq(h->dir, dir)) {
		quota_walk_free(h->walk);
		h->walk = NULL;
	}
	if (!h) {
		v = realloc(ctx->held, (ctx->n_held + 1) * sizeof(*v));
		if (!v) {
			free(d);
			free(m);
			return -ENOMEM;
		}
		ctx->held = v;
		h = &v[ctx->n_held++];
		*h = (struct held){ .id = id };
	}
	free(h->dir);
	free(h->mnt);
	h->dir = d;
	h->mnt = m;
	return 0;
}

static void held_remove(struct quota_ctx *ctx, uint32_t id)
{
	struct held *h = held_find(ctx, id);

	if (!h)
		return;
	free(h->dir);
	free(h->mnt);
	quota_walk_free(h->walk);
	*h = ctx->held[--ctx->n_held];
}

/* The final component must be a real directory: lstat for the message, O_NOFOLLOW for the truth. */
static int dir_open_nofollow(const char *dir, int *ret_fd, char **msg)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (lstat(dir, &st) < 0) {
		*msg = strprintf("%s: %s", dir, strerror(errno));
		return negative_errno();
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(dir, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = 0;
		*msg = strprintf("%s is a symbolic link (to %s): refused", dir, target);
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		*msg = strprintf("%s is not a directory", dir);
		return -ENOTDIR;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*msg = strprintf("%s: %s", dir,
				 errno == ELOOP ? "is a symbolic link: refused" : strerror(errno));
		return negative_errno();
	}
	*ret_fd = fd;
	return 0;
}

static int fd_real_path(int fd, char **ret)
{
	char proc[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, sizeof(buf) - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* dir was decided canonical (qosd/diskdir.h): if it resolves elsewhere now, a component was
 * replaced (by a symbolic link, or a mount) since, and the tree is no longer the one decided. */
static int check_canonical(const char *dir, const char *real, char **msg)
{
	if (streq(dir, real))
		return 0;
	*msg = strprintf("%s now resolves to %s (a component was replaced, by a symbolic link or a "
			 "mount?): refused",
			 dir, real);
	return -EXDEV;
}

static int check_fs(struct qdir *q, const char *dir, char **msg)
{
	int r = quota_fs_from_fd(q->fd, q->real, &q->fs);

	if (r == -EOPNOTSUPP) {
		*msg = strprintf("%s is on %s (%s), which has no project quotas: use XFS or ext4",
				 dir, q->fs.fstype, q->fs.mnt);
		return r;
	}
	if (r < 0) {
		*msg = strprintf("%s: cannot find its filesystem: %s", dir, strerror(-r));
		return r;
	}
	r = quota_fs_enabled(&q->fs);
	if (r == -ENOSYS)
		*msg = strprintf("%s: the kernel has no quota support (quotactl: %s)", dir,
				 strerror(ENOSYS));
	else if (r == -ESRCH)
		*msg = strprintf("%s: project quota is not enabled on %s (%s on %s): mount it "
				 "with prjquota",
				 dir, q->fs.mnt, q->fs.fstype, q->fs.source ? q->fs.source : "?");
	else if (r == -EPROTO)
		*msg = strprintf("%s: project quota on %s is accounted but not enforced "
				 "(mounted with pqnoenforce?)",
				 dir, q->fs.mnt);
	else if (r < 0)
		*msg = strprintf("%s: cannot read the quota state of %s: %s", dir, q->fs.mnt,
				 strerror(-r));
	return r;
}

int quota_dir_open(const char *dir, int *ret_fd, char **ret_real, char **ret_msg)
{
	_cleanup_close_ int fd = -1;
	int r;

	*ret_msg = NULL;
	r = quota_path_check_syntax(dir, ret_msg);
	if (r >= 0)
		r = dir_open_nofollow(dir, &fd, ret_msg);
	if (r >= 0)
		r = fd_real_path(fd, ret_real);
	if (r < 0 && !*ret_msg)
		*ret_msg = strprintf("%s: %s", dir, strerror(-r));
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int dir_open_checked(const char *dir, struct qdir *q, char **msg)
{
	int r;

	r = quota_dir_open(dir, &q->fd, &q->real, msg);
	if (r < 0)
		return r;
	r = check_canonical(dir, q->real, msg);
	if (r < 0)
		return r;
	return check_fs(q, dir, msg);
}

/* Everything that tells which ids are not free for dir: the daemon's registry and the ids this
 * process handed out for other directories. */
struct taken_wrap {
	struct quota_ctx *ctx;
	const char *dir;
	bool (*taken)(uint32_t id, void *userdata);
	void *ud;
};

static bool wrap_taken(uint32_t id, void *userdata)
{
	struct taken_wrap *w = userdata;
	struct held *h = held_find(w->ctx, id);

	if (h && !streq(h->dir, w->dir))
		return true;
	return w->taken && w->taken(id, w->ud);
}

static int fs_in_use(uint32_t id, void *userdata)
{
	struct quota_usage u;
	bool other;
	int r = quota_fs_get(userdata, id, &u, &other);

	if (r < 0)
		return r;
	return other || u.limit_bytes || u.used_bytes || u.limit_inodes || u.used_inodes;
}

static int allocate_id(struct qdir *q, uint32_t lo, uint32_t hi, const struct quota_idset *reserved,
		       struct taken_wrap *w, uint32_t *ret, char **msg)
{
	int r = quota_id_pick(lo, hi, reserved, NULL, wrap_taken, w, fs_in_use, &q->fs, ret);

	if (r < 0) {
		*msg = strprintf("no free project id in %" PRIu32 "-%" PRIu32 ": %s", lo, hi,
				 r == -ENOSPC ? "all reserved, taken or in use" : strerror(-r));
		return r;
	}
	log_debug("quota: %s gets project id %" PRIu32 " (range %" PRIu32 "-%" PRIu32 "%s)",
		  q->real, *ret, lo, hi, q->fs.projid32 ? "" : ", no projid32bit");
	return 0;
}

/* What decides ids for one directory: the reserved files, the effective range, who holds what. */
struct idview {
	struct quota_idset reserved;
	uint32_t lo, hi;
	struct taken_wrap w;
};

/* An id found inside a tree that is not ours to take over: held by another container, reserved
 * by the administrator, or outside our range (set by someone else). 0 is nobody's. */
static bool id_foreign(uint32_t found, void *userdata)
{
	struct idview *v = userdata;

	return found < v->lo || found > v->hi || quota_idset_has(&v->reserved, found) ||
	       wrap_taken(found, &v->w);
}

static int choose_id(struct quota_ctx *ctx, struct qdir *q, uint32_t state_id, struct idview *v,
		     bool dry_run, uint32_t *ret, char **msg)
{
	uint32_t dir_id, id = 0;
	int r;

	r = quota_idset_load(&v->reserved, ctx->projects_file, ctx->projid_file);
	if (r < 0) {
		*msg = strprintf("cannot read /etc/projects or /etc/projid: %s", strerror(-r));
		return r;
	}
	r = quota_range_resolve(ctx->lo, ctx->hi, q->fs.projid32, &v->reserved, &v->lo, &v->hi,
				msg);
	if (r < 0 && state_id != 0) {
		/* the id is ours already: a bad range only stops new allocations */
		free(*msg);
		*msg = NULL;
		v->lo = v->hi = state_id;
		r = 0;
	}
	if (r < 0)
		return r;
	r = quota_fd_get_projid(q->fd, &dir_id, NULL);
	if (r < 0) {
		*msg = strprintf("%s: cannot read its project id: %s", q->real, strerror(-r));
		return r;
	}
	if (quota_idset_has(&v->reserved, dir_id))
		dir_id = 0;
	r = quota_id_decide(state_id, dir_id, v->lo, v->hi, wrap_taken, &v->w, &id);
	if (r < 0) {
		*msg = strprintf("%s carries project id %" PRIu32 ", which another container holds",
				 q->real, dir_id);
		return r;
	}
	if (id == 0 && !dry_run)
		r = allocate_id(q, v->lo, v->hi, &v->reserved, &v->w, &id, msg);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

/* Round a byte limit to what the filesystem keeps (and reads back). */
static uint64_t limit_granule(const struct quota_fs *fs, uint64_t bytes)
{
	uint64_t g = fs->xfs ? MAX(fs->bsize, 512u) : 1024u;

	return bytes % g ? bytes - bytes % g + g : bytes;
}

static int set_limits(const struct quota_fs *fs, uint32_t id, const struct qos_disk *d)
{
	struct quota_usage cur;
	uint64_t b = 0, i = 0;
	const uint64_t *pb = NULL, *pi = NULL;
	bool other;
	int r;

	r = quota_fs_get(fs, id, &cur, &other);
	if (r < 0)
		return r;
	if (d->quota_bytes.op != QOS_LEAVE) {
		b = d->quota_bytes.op == QOS_SET ? d->quota_bytes.v : 0;
		if (limit_granule(fs, b) != cur.limit_bytes)
			pb = &b;
	}
	if (d->inodes.op != QOS_LEAVE) {
		/* the project's inode count includes the directory itself: disk.inodes counts what
		 * is in it, so N lets N files (or directories) be created */
		i = d->inodes.op == QOS_SET ? d->inodes.v + 1 : 0;
		if (i != cur.limit_inodes)
			pi = &i;
	}
	return quota_fs_set(fs, id, pb, pi);
}

static int desired_text(const struct qos_u64 *u, bool size, char **field)
{
	char buf[32];

	if (u->op == QOS_LEAVE)
		return 0;
	if (u->op == QOS_CLEAR)
		return knob_printf(field, "none");
	if (size)
		(void) format_size(u->v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%" PRIu64, u->v);
	return knob_printf(field, "%s", buf);
}

static int knobs_add(struct qos_report *rep, const struct qos_disk *d, const char *dir,
		     size_t *ret_idx)
{
	size_t idx = rep->n;
	struct qos_knob *k;
	int r;

	r = report_add_key(rep, QK_DISK_QUOTA, dir, &k);
	if (r < 0)
		return r;
	r = desired_text(&d->quota_bytes, true, &k->desired);
	if (r < 0)
		return r;
	r = report_add_key(rep, QK_DISK_INODES, dir, &k);
	if (r < 0)
		return r;
	r = desired_text(&d->inodes, false, &k->desired);
	if (r < 0)
		return r;
	*ret_idx = idx;
	return 0;
}

static int knobs_fail(struct qos_report *rep, size_t idx, int err, const char *msg)
{
	for (size_t i = idx; i < idx + 2; i++)
		knob_fail(&rep->v[i], err, "%s", msg ? msg : strerror(-err));
	return err;
}

static int knobs_object(struct qos_report *rep, size_t idx, const struct quota_fs *fs, uint32_t id)
{
	for (size_t i = idx; i < idx + 2; i++) {
		int r = fs->source ? knob_printf(&rep->v[i].object,
						 "%s project %" PRIu32 " on %s (%s)", fs->fstype,
						 id, fs->source, fs->mnt)
				   : knob_printf(&rep->v[i].object, "%s project %" PRIu32 " on %s",
						 fs->fstype, id, fs->mnt);
		if (r < 0)
			return r;
	}
	return 0;
}

static int knobs_applied(struct qos_report *rep, size_t idx, const struct quota_fs *fs, uint32_t id)
{
	struct quota_usage u;
	char lim[32] = "none", used[32];
	bool other;
	int r;

	r = quota_fs_get(fs, id, &u, &other);
	if (r < 0)
		return r;
	if (u.limit_bytes)
		(void) format_size_approx(u.limit_bytes, lim, sizeof(lim));
	(void) format_size_approx(u.used_bytes, used, sizeof(used));
	r = knob_printf(&rep->v[idx].applied, "limit %s, used %s", lim, used);
	if (r < 0)
		return r;
	/* shown without the directory's own inode, as disk.inodes counts (see set_limits) */
	if (u.limit_inodes)
		snprintf(lim, sizeof(lim), "%" PRIu64, u.limit_inodes - 1);
	else
		snprintf(lim, sizeof(lim), "none");
	return knob_printf(&rep->v[idx + 1].applied, "limit %s, used %" PRIu64, lim,
			   u.used_inodes ? u.used_inodes - 1 : 0);
}

/* One step of the tree's tagging. 1: the tree is tagged; 0: more to do (the report asks for a
 * retry); -errno: refused or failed (the knobs say why). */
static int tag_step(struct quota_ctx *ctx, struct qdir *q, uint32_t id, struct idview *v,
		    struct qos_report *rep, size_t idx)
{
	_cleanup_free_ char *msg = NULL;
	struct held *h = held_find(ctx, id);
	uint64_t seen, changed;
	uint32_t dir_id;
	bool inherit;
	int r;

	if (!h->walk) {
		/* the top is tagged last: tagged means a walk went through to the end */
		r = quota_fd_get_projid(q->fd, &dir_id, &inherit);
		if (r >= 0 && dir_id == id && inherit)
			return 1;
		if (r >= 0)
			r = quota_walk_new(q->fd, id, &h->walk);
		if (r < 0)
			goto fail;
	}
	r = quota_walk_step(h->walk, ctx->walk_step, id_foreign, v, &msg);
	quota_walk_counts(h->walk, &seen, &changed);
	if (r == 0) {
		rep->progress = true;
		report_retry(rep,
			     "tagging %s with project id %" PRIu32 ": %" PRIu64 " inodes so far",
			     q->real, id, seen);
		return 0;
	}
	quota_walk_free(h->walk);
	h->walk = NULL;
	if (r > 0) {
		log_debug("quota: %s: project id %" PRIu32 ", %" PRIu64 " inodes seen, %" PRIu64
			  " retagged",
			  q->real, id, seen, changed);
		return 1;
	}
fail:
	if (r == -EBUSY)
		msg = strprintf("%s: refused, nothing tagged: %s", q->real, msg ? msg : "?");
	else
		msg = strprintf("cannot set project id %" PRIu32 " on %s: %s%s%s", id, q->real,
				strerror(-r), msg ? ": " : "", msg ? msg : "");
	return knobs_fail(rep, idx, r, msg);
}

static int apply_write(struct quota_ctx *ctx, struct qdir *q, const char *dir, uint32_t id,
		       struct idview *v, const struct qos_disk *d, struct qos_report *rep,
		       size_t idx)
{
	_cleanup_free_ char *msg = NULL;
	int r;

	r = held_add(ctx, id, dir, q->fs.mnt);
	if (r < 0)
		return r;
	r = tag_step(ctx, q, id, v, rep, idx);
	if (r < 0)
		return r;
	r = set_limits(&q->fs, id, d);
	if (r < 0) {
		msg = strprintf("cannot set the limits of %s project %" PRIu32 " on %s: %s",
				q->fs.fstype, id, q->fs.mnt, strerror(-r));
		return knobs_fail(rep, idx, r, msg);
	}
	return 0;
}

int quota_apply(struct quota_ctx *ctx, const char *dir, const struct qos_disk *d, uint32_t *projid,
		bool (*taken)(uint32_t id, void *userdata), void *userdata, bool dry_run,
		struct qos_report *rep)
{
	_cleanup_(qdir_done) struct qdir q = { .fd = -1 };
	_cleanup_free_ char *msg = NULL;
	struct idview v = { .w = { .ctx = ctx, .dir = dir, .taken = taken, .ud = userdata } };
	uint32_t id = 0;
	size_t idx;
	int r, r2;

	if (d->quota_bytes.op == QOS_LEAVE && d->inodes.op == QOS_LEAVE && *projid == 0)
		return 0;
	r = knobs_add(rep, d, dir, &idx);
	if (r < 0)
		return r;
	r = dir_open_checked(dir, &q, &msg);
	if (r >= 0)
		r = choose_id(ctx, &q, *projid, &v, dry_run, &id, &msg);
	if (r < 0) {
		quota_idset_done(&v.reserved);
		return knobs_fail(rep, idx, r, msg);
	}
	if (id == 0) {
		/* dry run on a directory that has no id of ours yet */
		for (size_t i = idx; i < idx + 2; i++)
			(void) knob_printf(&rep->v[i].applied, "no project id yet");
		*projid = 0;
		quota_idset_done(&v.reserved);
		return 0;
	}
	r = knobs_object(rep, idx, &q.fs, id);
	if (r >= 0 && !q.fs.projid32)
		for (size_t i = idx; i < idx + 2; i++)
			r = knob_printf(&rep->v[i].note, "no projid32bit: ids below 65536");
	if (r >= 0 && !dry_run)
		r = apply_write(ctx, &q, dir, id, &v, d, rep, idx);
	quota_idset_done(&v.reserved);
	r2 = knobs_applied(rep, idx, &q.fs, id);
	*projid = id;
	return r < 0 ? r : r2;
}

static int fs_at_path(const char *path, struct quota_fs *ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *real = NULL;
	struct quota_fs fs = { 0 };
	int r;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	r = fd_real_path(fd, &real);
	if (r >= 0)
		r = quota_fs_from_fd(fd, real, &fs);
	if (r < 0) {
		quota_fs_done(&fs);
		return r;
	}
	*ret = fs;
	return 0;
}

/* The filesystem an id lives on: dir's, the one recorded when it was applied, or the one of dir's
 * nearest existing ancestor (the directory may be gone already). */
static int fs_for_id(struct quota_ctx *ctx, const char *dir, uint32_t id, struct quota_fs *ret)
{
	_cleanup_free_ char *p = NULL;
	struct held *h = held_find(ctx, id);
	char *slash;

	if (dir && dir[0] == '/' && fs_at_path(dir, ret) >= 0)
		return 0;
	if (h && fs_at_path(h->mnt, ret) >= 0)
		return 0;
	if (!dir || dir[0] != '/')
		return -ENOENT;
	p = strdup(dir);
	if (!p)
		return -ENOMEM;
	while ((slash = strrchr(p, '/'))) {
		slash[slash == p ? 1 : 0] = 0;
		if (fs_at_path(p, ret) >= 0)
			return 0;
		if (slash == p)
			break;
	}
	return -ENOENT;
}

int quota_release(struct quota_ctx *ctx, const char *dir, uint32_t projid)
{
	struct quota_fs fs = { 0 };
	uint64_t zero = 0;
	int r;

	if (projid == 0)
		return 0;
	r = fs_for_id(ctx, dir, projid, &fs);
	if (r >= 0) {
		r = quota_fs_set(&fs, projid, &zero, &zero);
		log_debug("quota: project %" PRIu32 " on %s: limits cleared: %s", projid, fs.mnt,
			  r < 0 ? strerror(-r) : "ok");
		if (r == -ENOENT)
			r = 0;
	}
	held_remove(ctx, projid);
	quota_fs_done(&fs);
	return r;
}

int quota_get(struct quota_ctx *ctx, const char *dir, uint32_t projid, struct quota_usage *ret)
{
	struct quota_fs fs = { 0 };
	bool other;
	int r;

	r = fs_for_id(ctx, dir, projid, &fs);
	if (r >= 0)
		r = quota_fs_get(&fs, projid, ret, &other);
	quota_fs_done(&fs);
	return r;
}
