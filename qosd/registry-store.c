/* SPDX-License-Identifier: MIT */
/* The registry on disk, in its directory: snapshot.jsonl (every record at the last compaction, one
 * JSON object a line) and journal.jsonl (appended since: a record line puts a container, a
 * {"removed":"ID"} line removes one). A sync appends its lines with one write() to the journal,
 * kept open O_APPEND, and when durable one fdatasync: no file is created, renamed or deleted on a
 * request's path. A compaction writes the snapshot (tmp + fsync + rename + directory fsync), then
 * renames an empty journal over the old one (never truncates it: a reader holding it sees it whole). A bad line costs that container alone. The per-file layout before the
 * journal (ID.json) and the single state file before that are read once and folded in. */
#include <dirent.h>
#include <jansson.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "registry-internal.h"
#include "util.h"

#define SNAP "snapshot.jsonl"
#define SNAP_TMP ".snapshot.jsonl.tmp"
#define JOURNAL "journal.jsonl"
#define REC_SUFFIX ".json" /* the per-file layout */
#define REC_TMP_SUFFIX ".json.tmp"
#define REC_MAX (64 * 1024) /* one record, one line */
#define SNAP_CHUNK (64 * 1024)
/* a compaction is due when the journal is over COMPACT_MIN and over twice the snapshot */
#define COMPACT_MIN (1u << 20)

/* name in the store, a regular file (never through a symlink, never a FIFO or a device): 0 with
 * *ret_fd -1 when it does not exist (and create is not set: then made 0600, the directory
 * fsync'd so that its name is durable before anything relies on an fdatasync of it). */
static int open_regular(struct registry *reg, const char *name, int flags, bool create, int *ret_fd,
			struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;

	flags |= O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	fd = openat(reg->dfd, name, flags);
	if (fd < 0 && errno == ENOENT && create) {
		fd = openat(reg->dfd, name, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 && fsync(reg->dfd) < 0)
			return negative_errno();
	}
	*ret_fd = -1;
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (fstat(fd, ret_st) < 0)
		return negative_errno();
	if (!S_ISREG(ret_st->st_mode))
		return -EBADFD;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int open_journal(struct registry *reg)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r = open_regular(reg, JOURNAL, reg->ro ? O_RDONLY : O_RDWR | O_APPEND, !reg->ro, &fd,
			     &st);

	if (r < 0 || fd < 0)
		return r;
	if (!reg->ro && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return negative_errno();
	reg->jlen = (uint64_t) st.st_size;
	reg->jfd = TAKE_FD(fd);
	return 0;
}

static int open_store(struct registry *reg, const char *dir, bool ro)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!ro && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	/* read-only, no directory: a state of a version before it (its state.json is still read) */
	if (fd < 0 && !(ro && errno == ENOENT))
		return negative_errno();
	r = free_and_strdup(&reg->dir, dir);
	if (r < 0)
		return r;
	closep(&reg->dfd);
	closep(&reg->jfd);
	reg->dfd = TAKE_FD(fd);
	reg->ro = ro;
	reg->nodir = reg->dfd < 0;
	reg->jlen = reg->slen = 0;
	reg->jtrunc = reg->legacy = reg->unsynced = reg->unkept = reg->cfailed = false;
	return reg->nodir ? 0 : open_journal(reg);
}

int registry_open_store(struct registry *reg, const char *dir)
{
	return open_store(reg, dir, false);
}

int registry_open_store_ro(struct registry *reg, const char *dir)
{
	return open_store(reg, dir, true);
}

static void rm_clear(struct registry *reg)
{
	for (size_t i = 0; i < reg->nrm; i++)
		free(reg->rm[i]);
	reg->nrm = 0;
}

void store_done(struct registry *reg)
{
	closep(&reg->dfd);
	closep(&reg->jfd);
	free(reg->dir);
	free(reg->wq);
	rm_clear(reg);
	free(reg->rm);
}

static int grow_array(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static void wq_take(struct registry *reg, struct container *c)
{
	struct container *last = reg->wq[--reg->nwq];

	reg->wq[c->wq_idx] = last;
	last->wq_idx = c->wq_idx;
	c->rec_queued = false;
}

void registry_touch(struct registry *reg, struct container *c)
{
	/* the queue is written from its end: a request's own record goes first */
	if (c->rec_queued)
		wq_take(reg, c);
	if (grow_array((void **) &reg->wq, &reg->capwq, reg->nwq, sizeof(*reg->wq)) < 0) {
		c->rec_hash = 0; /* the exit's registry_touch_changed still finds it */
		return;
	}
	c->wq_idx = reg->nwq;
	reg->wq[reg->nwq++] = c;
	c->rec_queued = true;
}

void store_forget(struct registry *reg, struct container *c)
{
	char *id;

	if (c->rec_queued)
		wq_take(reg, c);
	if (reg->jfd < 0 || reg->ro || reg->loading)
		return;
	/* without memory no removal line: the next start drops the container when its cgroup is
	 * gone */
	id = strdup(c->id);
	if (!id || grow_array((void **) &reg->rm, &reg->caprm, reg->nrm, sizeof(*reg->rm)) < 0) {
		free(id);
		return;
	}
	reg->rm[reg->nrm++] = id;
}

/* ---- lines ---- */

/* jansson's dump callback, and the store's own appends: -1 once the buffer failed */
static int buf_add(const char *s, size_t n, void *data)
{
	struct textbuf *b = data;

	textbuf_put(b, s, n);
	return b->failed ? -1 : 0;
}

/* c's record as one line at the end of b; *ret_hash its fingerprint (the line without '\n') */
static int buf_put_record(struct textbuf *b, const struct container *c, uint64_t *ret_hash)
{
	size_t start = b->len;

	if (container_put_json(b, c) < 0 || buf_add("\n", 1, b) < 0) {
		b->len = start;
		return -ENOMEM;
	}
	b->p[b->len - 1] = 0;
	*ret_hash = fnv1a64(b->p + start);
	b->p[b->len - 1] = '\n';
	return 0;
}

/* ids are validated names (no quote, no backslash): printed as they are */
static int buf_put_removed(struct textbuf *b, const char *id)
{
	return buf_add("{\"removed\":\"", 12, b) < 0 || buf_add(id, strlen(id), b) < 0 ||
			       buf_add("\"}\n", 3, b) < 0
		       ? -ENOMEM
		       : 0;
}

/* One write() at the journal's end. Nothing half-written stays: a short append (a full disk) is
 * cut off again, to the length before it (the file's, not jlen: robust to an operator's own
 * appends), and if even that fails, before the next append. */
static int journal_append(struct registry *reg, const char *p, size_t len)
{
	struct stat st;
	ssize_t n;

	if (reg->jtrunc) {
		if (ftruncate(reg->jfd, (off_t) reg->jlen) < 0)
			return negative_errno();
		reg->jtrunc = false;
	}
	do
		n = write(reg->jfd, p, len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t) len) {
		reg->jlen += len;
		return 0;
	}
	if (n < 0)
		return negative_errno(); /* nothing written */
	if (fstat(reg->jfd, &st) == 0 && st.st_size >= n)
		reg->jlen = (uint64_t) (st.st_size - n);
	if (ftruncate(reg->jfd, (off_t) reg->jlen) < 0)
		reg->jtrunc = true;
	return -ENOSPC;
}

int registry_sync(struct registry *reg, bool durable, size_t max)
{
	size_t want = max == 0 ? reg->nwq : MIN(max, reg->nwq), k = 0;
	_cleanup_free_ uint64_t *h = NULL;
	struct textbuf b = { 0 };
	int r = 0;

	if (reg->ro)
		return -EROFS;
	if (reg->jfd < 0)
		return -EBADF;
	if (want > 0 && !(h = calloc(want, sizeof(*h))))
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < reg->nrm; i++)
		r = buf_put_removed(&b, reg->rm[i]);
	for (; r >= 0 && k < want; k++)
		r = buf_put_record(&b, reg->wq[reg->nwq - 1 - k], &h[k]);
	if (r >= 0 && b.len > 0)
		r = journal_append(reg, b.p, b.len);
	free(b.p);
	if (r < 0)
		return r; /* what failed stays queued */
	reg->unsynced |= b.len > 0;
	/* the journal exists already: its data and length are all an fdatasync has to make durable.
	 * Failed: the lines stay queued, appended again (a replay of a line twice is the same). */
	if (durable && reg->unsynced) {
		if (fdatasync(reg->jfd) < 0)
			return negative_errno();
		reg->unsynced = false;
	}
	for (size_t j = 0; j < want; j++) {
		struct container *c = reg->wq[reg->nwq - 1];

		c->rec_hash = h[j];
		wq_take(reg, c);
	}
	rm_clear(reg);
	return (int) MIN(reg->nwq, (size_t) INT32_MAX);
}

size_t registry_touch_changed(struct registry *reg)
{
	struct textbuf b = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < reg->n; i++) {
		struct container *c = reg->v[i];
		uint64_t h;

		b.len = 0;
		b.failed = false;
		if (c->rec_queued || buf_put_record(&b, c, &h) < 0 || h == c->rec_hash)
			continue;
		registry_touch(reg, c);
		n++;
	}
	free(b.p);
	return n;
}

/* ---- compaction ---- */

bool registry_compact_due(const struct registry *reg)
{
	/* after a failed compaction (a full disk), not again before another COMPACT_MIN of journal */
	return !reg->ro && reg->jfd >= 0 &&
	       (!reg->cfailed || reg->jlen > reg->cfail_jlen + COMPACT_MIN) &&
	       (reg->legacy || (reg->jlen > COMPACT_MIN && reg->jlen > 2 * reg->slen));
}

/* The store's directory listed from its start, on a descriptor of its own. */
static int store_opendir(struct registry *reg, DIR **ret)
{
	int fd = fcntl(reg->dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int r;

	if (!d) {
		r = negative_errno();
		closep(&fd);
		return r;
	}
	rewinddir(d);
	*ret = d;
	return 0;
}

/* The records of the per-file layout, once the snapshot holds them. */
static int unlink_legacy(struct registry *reg)
{
	struct dirent *de;
	DIR *d = NULL;
	int r = store_opendir(reg, &d);

	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && endswith(de->d_name, REC_SUFFIX) &&
		    unlinkat(reg->dfd, de->d_name, 0) < 0 && errno != ENOENT && r >= 0)
			r = negative_errno();
	closedir(d);
	return r;
}

/* Every record into the snapshot's tmp file; a record that differs from the journal's last line
 * for it is queued, so that the journal ends on what the snapshot says. */
static int snapshot_write(struct registry *reg, int fd, uint64_t *ret_len)
{
	struct textbuf b = { 0 };
	uint64_t len = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i <= reg->n; i++) {
		struct container *c = i < reg->n ? reg->v[i] : NULL;
		uint64_t h;

		if (c) {
			r = buf_put_record(&b, c, &h);
			if (r >= 0 && h != c->rec_hash && !c->rec_queued)
				registry_touch(reg, c);
		}
		if (r >= 0 && b.len > 0 && (!c || b.len >= SNAP_CHUNK)) {
			r = write_all(fd, b.p, b.len);
			len += b.len;
			b.len = 0;
		}
	}
	free(b.p);
	*ret_len = len;
	return r;
}

static int compact(struct registry *reg)
{
	_cleanup_close_ int fd = -1;
	uint64_t len = 0;
	int r;

	if (reg->ro)
		return -EROFS;
	if (reg->jfd < 0)
		return -EBADF;
	fd = openat(reg->dfd, SNAP_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return negative_errno();
	r = snapshot_write(reg, fd, &len);
	/* a crash after the rename replays the whole journal over the new snapshot: each id's last
	 * line there must be what the snapshot holds, and durable before the rename is */
	if (r >= 0)
		r = registry_sync(reg, true, 0);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r >= 0 && renameat(reg->dfd, SNAP_TMP, reg->dfd, SNAP) < 0)
		r = negative_errno();
	if (r >= 0 && reg->legacy)
		r = unlink_legacy(reg);
	if (r >= 0 && fsync(reg->dfd) < 0)
		r = negative_errno();
	if (r < 0) {
		(void) unlinkat(reg->dfd, SNAP_TMP, 0);
		return r;
	}
	reg->slen = len;
	reg->legacy = false;
	/* a fresh journal renamed over the old one, not the old one truncated in place: a reader
	 * (qos-hook-apply) holding the old journal and either snapshot replays to the same state */
	{
		_cleanup_close_ int nfd = -1;

		(void) unlinkat(reg->dfd, ".journal.jsonl.tmp", 0);
		nfd = openat(reg->dfd, ".journal.jsonl.tmp",
			     O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (nfd < 0)
			return negative_errno();
		if (renameat(reg->dfd, ".journal.jsonl.tmp", reg->dfd, JOURNAL) < 0 ||
		    fsync(reg->dfd) < 0)
			return negative_errno();
		closep(&reg->jfd);
		reg->jfd = TAKE_FD(nfd);
	}
	reg->jlen = 0;
	reg->jtrunc = false;
	return 0;
}

int registry_compact(struct registry *reg)
{
	int r = compact(reg);

	reg->cfailed = r < 0;
	reg->cfail_jlen = r < 0 ? reg->jlen : 0;
	return r;
}

/* ---- loading ---- */

struct replay {
	struct registry *reg;
	const char *name; /* SNAP or JOURNAL */
	char **msgs;
	size_t *skipped;
	int aside; /* NAME.corrupt-TIME: the bad lines, for the operator */
	char *aside_name;
	int aside_err; /* why it could not be made or written (an errno), 0 if it could */
};

static void set_aside_at(int dfd, const char *name, char **msgs, const char *what)
{
	_cleanup_free_ char *aside = strprintf("%s.corrupt-%lld", name, (long long) time(NULL));

	if (aside && renameat(dfd, name, dfd, aside) == 0)
		(void) strextend(msgs, "%s: set aside as %s\n", what, aside);
	else
		(void) strextend(msgs, "%s: could not be set aside: %s\n", what,
				 aside ? strerror(errno) : "out of memory");
}

static bool id_valid(const char *id)
{
	_cleanup_free_ char *why = NULL;

	return id && registry_field_check("id", id, &why) >= 0;
}

/* A container is gone from what is loaded: no removal line for it (the files say so already). */
static void drop_loaded(struct registry *reg, const char *id)
{
	struct container *c = registry_get(reg, id);

	if (c)
		registry_remove(reg, c);
}

/* The bad line is kept in NAME.corrupt-TIME (read-write store only). */
static void keep_line(struct replay *rp, const char *line, size_t len)
{
	struct registry *reg = rp->reg;

	if (reg->ro || !line)
		return;
	if (!rp->aside_name && !rp->aside_err) {
		rp->aside_name = strprintf("%s.corrupt-%lld", rp->name, (long long) time(NULL));
		if (!rp->aside_name) {
			rp->aside_err = ENOMEM;
			return;
		}
		rp->aside = openat(
			reg->dfd, rp->aside_name,
			O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (rp->aside < 0)
			rp->aside_err = errno;
	}
	if (rp->aside >= 0) {
		int r = write_all(rp->aside, line, len);

		if (r >= 0)
			r = write_all(rp->aside, "\n", 1);
		if (r < 0) {
			rp->aside_err = -r;
			closep(&rp->aside);
		}
	}
}

/* Line lineno is bad: the container it names (if it names one) is skipped, whatever earlier lines
 * said of it; the line is kept aside and named with its field. */
static int replay_bad(struct replay *rp, unsigned lineno, const char *line, size_t len,
		      const char *id, const char *field)
{
	bool named = id_valid(id), kept, lost;

	if (named)
		drop_loaded(rp->reg, id);
	keep_line(rp, line, len);
	kept = line && rp->aside >= 0;
	/* the journal and the snapshot stay its only copy: no compaction at this start */
	lost = line && !kept && !rp->reg->ro;
	rp->reg->unkept |= lost;
	(*rp->skipped)++;
	return strextend(
		rp->msgs,
		"state %s/%s line %u%s%s%s: field \"%s\" is invalid: that container "
		"alone is skipped%s%s%s%s%s%s%s\n",
		rp->reg->dir, rp->name, lineno, named ? " (container " : "", named ? id : "",
		named ? ")" : "", field, kept ? " (the line kept in " : "",
		kept ? rp->reg->dir : "", kept ? "/" : "", kept ? rp->aside_name : "",
		lost ? " (the line could not be kept: " : "",
		lost ? strerror(rp->aside_err ? rp->aside_err : EIO) : "", lost ? ")" : "");
}

/* One line (NUL-terminated in place): a record puts its container, {"removed":ID} removes one. */
static int replay_line(struct replay *rp, const char *line, size_t len, unsigned lineno)
{
	_cleanup_(container_freep) struct container *c = NULL;
	const char *field = "(the record)";
	json_auto_t *o = NULL;
	json_t *rm;
	int r;

	if (len == 0)
		return 0;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!o)
		return replay_bad(rp, lineno, line, len, NULL, field);
	rm = json_object_get(o, "removed");
	if (rm) {
		const char *id = json_string_value(rm);

		if (json_object_size(o) != 1 || !id_valid(id))
			return replay_bad(rp, lineno, line, len, NULL, "removed");
		drop_loaded(rp->reg, id);
		return 0;
	}
	r = container_from_json(o, &c, &field);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return replay_bad(rp, lineno, line, len,
				  json_string_value(json_object_get(o, "id")), field);
	c->rec_hash = fnv1a64(line);
	drop_loaded(rp->reg, c->id);
	r = registry_insert(rp->reg, c);
	if (r >= 0)
		TAKE_PTR(c);
	return r;
}

struct lines_end {
	uint64_t complete, total; /* the offset after the last '\n'; the bytes read */
	unsigned lineno;
};

/* Each line of fd through replay_line; a line over REC_MAX is bad. The last line without '\n'
 * goes through too when tail is set, else it is left to the caller (a torn append). */
static int replay_fd(struct replay *rp, int fd, bool tail, struct lines_end *ret)
{
	_cleanup_free_ char *buf = malloc(REC_MAX + 1);
	struct lines_end e = { 0 };
	bool skipping = false;
	size_t have = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + have, REC_MAX - have);
		char *p = buf, *end, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		have += (size_t) n;
		e.total += (uint64_t) n;
		end = buf + have;
		while (r >= 0 && (nl = memchr(p, '\n', (size_t) (end - p)))) {
			*nl = 0;
			e.lineno++;
			r = skipping ? replay_bad(rp, e.lineno, NULL, 0, NULL,
						  "(longer than 64 KiB)")
				     : replay_line(rp, p, (size_t) (nl - p), e.lineno);
			skipping = false;
			e.complete = e.total - (uint64_t) (end - nl - 1);
			p = nl + 1;
		}
		if (r < 0)
			return r;
		have = (size_t) (end - p);
		memmove(buf, p, have);
		if (have == REC_MAX) {
			skipping = true;
			have = 0;
		}
	}
	if (tail && (have > 0 || skipping)) {
		buf[have] = 0;
		e.lineno++;
		r = skipping ? replay_bad(rp, e.lineno, NULL, 0, NULL, "(longer than 64 KiB)")
			     : replay_line(rp, buf, have, e.lineno);
	}
	*ret = e;
	return r;
}

static int replay_file(struct registry *reg, const char *name, int fd, char **msgs, size_t *skipped,
		       struct lines_end *ret)
{
	struct replay rp = {
		.reg = reg, .name = name, .msgs = msgs, .skipped = skipped, .aside = -1
	};
	bool journal = streq(name, JOURNAL);
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return negative_errno();
	r = replay_fd(&rp, fd, !journal, ret);
	closep(&rp.aside);
	free(rp.aside_name);
	return r;
}

static int load_snapshot(struct registry *reg, char **msgs, size_t *skipped)
{
	_cleanup_close_ int fd = -1;
	struct lines_end e = { 0 };
	struct stat st;
	int r;

	if (!reg->ro)
		(void) unlinkat(reg->dfd, SNAP_TMP, 0); /* a compaction cut short */
	r = open_regular(reg, SNAP, O_RDONLY, false, &fd, &st);
	if (r < 0 || fd < 0)
		return r;
	r = replay_file(reg, SNAP, fd, msgs, skipped, &e);
	reg->slen = e.total;
	return r;
}

/* The journal, in order. A last line without '\n' is an append a crash cut short: it was never
 * acknowledged; dropped, and the journal cut back to its last complete line before the next
 * append (else that append would join it). */
static int load_journal(struct registry *reg, char **msgs, size_t *skipped)
{
	struct lines_end e;
	int r;

	if (reg->jfd < 0)
		return 0;
	r = replay_file(reg, JOURNAL, reg->jfd, msgs, skipped, &e);
	if (r < 0)
		return r;
	if (e.total == e.complete)
		return 0;
	(void) strextend(msgs,
			 "state %s/%s: its last line (%llu bytes, line %u) has no end: an append a "
			 "crash cut short, dropped%s\n",
			 reg->dir, JOURNAL, (unsigned long long) (e.total - e.complete),
			 e.lineno + 1,
			 reg->ro ? "" : "; the journal is cut back to the line before");
	if (reg->ro)
		return 0;
	reg->jlen = e.complete;
	reg->jtrunc = ftruncate(reg->jfd, (off_t) e.complete) < 0;
	return 0;
}

/* One record file of the per-file layout. 1 if it was bad (skipped and named in msgs). */
static int load_record(struct registry *reg, const char *name, char **msgs)
{
	_cleanup_free_ char *text = NULL, *what = NULL;
	_cleanup_(container_freep) struct container *c = NULL;
	json_auto_t *o = NULL;
	json_error_t e;
	const char *field = "(the record)";
	int r = read_file_at(reg->dfd, name, REC_MAX, &text);

	if (r == -ENOMEM)
		return r;
	if (r >= 0 && !(o = json_loads(text, JSON_REJECT_DUPLICATES, &e)))
		r = -EBADMSG;
	if (r >= 0)
		r = container_from_json(o, &c, &field);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 &&
	    !(strlen(name) == strlen(c->id) + strlen(REC_SUFFIX) && startswith(name, c->id))) {
		field = "id";
		r = -EBADMSG;
	}
	if (r >= 0) {
		c->rec_hash = fnv1a64(text);
		r = registry_insert(reg, c);
		if (r >= 0)
			TAKE_PTR(c);
		return r == -EEXIST ? 0 : r;
	}
	what = strprintf("state record %s/%s: %s%s%s: that container alone is skipped", reg->dir,
			 name, r == -EBADMSG ? "field \"" : "",
			 r == -EBADMSG ? field : strerror(-r),
			 r == -EBADMSG ? "\" is invalid" : "");
	if (!what)
		return -ENOMEM;
	if (r == -EBADMSG && !reg->ro)
		set_aside_at(reg->dfd, name, msgs, what);
	else
		(void) strextend(msgs, "%s\n", what);
	return 1;
}

/* The per-file layout (DIR/ID.json) of versions before the journal. */
static int load_records(struct registry *reg, char **msgs, size_t *skipped)
{
	struct dirent *de;
	DIR *d = NULL;
	int r = store_opendir(reg, &d);

	if (r < 0)
		return r;
	while (r >= 0 && (de = readdir(d))) {
		/* a write interrupted by a kill leaves its tmp file: nothing else reads those */
		if (de->d_name[0] == '.' && endswith(de->d_name, REC_TMP_SUFFIX)) {
			if (!reg->ro)
				(void) unlinkat(reg->dfd, de->d_name, 0);
			continue;
		}
		if (de->d_name[0] == '.' || !endswith(de->d_name, REC_SUFFIX))
			continue;
		reg->legacy = true;
		r = load_record(reg, de->d_name, msgs);
		if (r == 1)
			(*skipped)++;
	}
	closedir(d);
	return r < 0 ? r : 0;
}

/* The single state file of versions before the per-container records: read once, entry by
 * entry, appended to the journal, then renamed PATH.migrated. */
static int migrate_legacy(struct registry *reg, const char *path, char **msgs, size_t *skipped)
{
	_cleanup_free_ char *done = strprintf("%s.migrated", path);
	json_auto_t *root = NULL;
	json_t *arr, *o;
	json_error_t e;
	size_t i;
	int r;

	if (!done)
		return -ENOMEM;
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	arr = root ? json_object_get(root, "containers") : NULL;
	if (!root || !json_is_array(arr) ||
	    json_integer_value(json_object_get(root, "version")) != 1) {
		(*skipped)++;
		if (!reg->ro)
			set_aside_at(AT_FDCWD, path, msgs, "old state file: not a version 1 state");
		return 0;
	}
	json_array_foreach(arr, i, o)
	{
		struct container *c = NULL;
		const char *field;
		json_t *id = json_object_get(o, "id");

		r = container_from_json(o, &c, &field);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			(*skipped)++;
			(void) strextend(msgs,
					 "old state file %s: entry %zu (id \"%.*s\"): field \"%s\" "
					 "is invalid: that container alone is skipped\n",
					 path, i, 64,
					 json_is_string(id) ? json_string_value(id) : "?", field);
			continue;
		}
		if (registry_get(reg, c->id) || registry_insert(reg, c) < 0) {
			container_free(c); /* a record of the same id is newer */
			continue;
		}
		if (!reg->ro)
			registry_touch(reg, c);
	}
	if (reg->ro)
		return 0;
	/* not written (a full disk): the file stays and is read again at the next start (the records
	 * win); the containers are loaded and their records stay queued */
	r = registry_sync(reg, true, 0);
	if (r < 0 || rename(path, done) < 0) {
		(void) strextend(msgs,
				 "old state file %s: kept, its containers not yet written as "
				 "records: %s\n",
				 path, strerror(r < 0 ? -r : errno));
		return 0;
	}
	(void) strextend(msgs,
			 "old state file %s: %zu container(s) now in the journal of %s, "
			 "the file renamed %s\n",
			 path, json_array_size(arr), reg->dir, done);
	return 0;
}

int registry_load(struct registry *reg, const char *legacy_path, char **ret_msg)
{
	_cleanup_free_ char *msgs = NULL;
	size_t skipped = 0;
	int r;

	if (reg->dfd < 0 && !reg->nodir)
		return -EBADF;
	reg->loading = true;
	r = reg->nodir ? 0 : load_records(reg, &msgs, &skipped);
	if (r >= 0 && !reg->nodir)
		r = load_snapshot(reg, &msgs, &skipped);
	if (r >= 0 && !reg->nodir)
		r = load_journal(reg, &msgs, &skipped);
	reg->loading = false;
	if (r >= 0 && legacy_path)
		r = migrate_legacy(reg, legacy_path, &msgs, &skipped);
	/* once at start: the journal folded into the snapshot, bad lines and old files gone; not
	 * when a bad line could not be kept aside (the journal or the snapshot is its only copy) */
	if (r >= 0 && !reg->ro && reg->unkept)
		(void) strextend(&msgs,
				 "state %s: not compacted at this start: a bad line could not be "
				 "kept aside, the files keep it until the next start\n",
				 reg->dir);
	else if (r >= 0 && !reg->ro && (reg->jlen > 0 || reg->legacy)) {
		int k = registry_compact(reg);

		if (k < 0)
			(void) strextend(&msgs,
					 "state %s: cannot write the snapshot (%s): the journal "
					 "stays as it is, read again at the next start\n",
					 reg->dir, strerror(-k));
	}
	*ret_msg = TAKE_PTR(msgs);
	return r < 0 ? r : (int) MIN(skipped, (size_t) INT32_MAX);
}
