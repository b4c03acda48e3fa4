/* SPDX-License-Identifier: MIT */
/* The registry on disk: one record per container, DIR/ID.json, each written tmp + rename (+ fsync
 * of the file and one fsync of the directory when durable). A registration writes one small file,
 * never the whole state; a bad record costs that container alone. */
#include <dirent.h>
#include <jansson.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "registry-internal.h"
#include "util.h"

#define REC_SUFFIX ".json"
#define REC_TMP_SUFFIX ".json.tmp"
#define REC_MAX (64 * 1024)

int registry_open_store(struct registry *reg, const char *dir)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	r = free_and_strdup(&reg->dir, dir);
	if (r < 0)
		return r;
	closep(&reg->dfd);
	reg->dfd = TAKE_FD(fd);
	return 0;
}

void store_done(struct registry *reg)
{
	closep(&reg->dfd);
	free(reg->dir);
	free(reg->wq);
	for (size_t i = 0; i < reg->nrm; i++)
		free(reg->rm[i]);
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
	if (reg->dfd < 0)
		return;
	/* without memory the record stays: the next start drops it when the cgroup is gone */
	id = strdup(c->id);
	if (!id || grow_array((void **) &reg->rm, &reg->caprm, reg->nrm, sizeof(*reg->rm)) < 0) {
		free(id);
		return;
	}
	reg->rm[reg->nrm++] = id;
}

static int record_text(const struct container *c, char **ret)
{
	json_auto_t *o = container_to_json(c);

	*ret = o ? json_dumps(o, JSON_COMPACT) : NULL;
	return *ret ? 0 : -ENOMEM;
}

static int write_all_fd(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? negative_errno() : -EIO;
		s += n;
		len -= (size_t) n;
	}
	return 0;
}

static int record_write(struct registry *reg, struct container *c, bool durable)
{
	_cleanup_free_ char *text = NULL, *name = strprintf("%s" REC_SUFFIX, c->id);
	_cleanup_free_ char *tmp = strprintf(".%s" REC_TMP_SUFFIX, c->id);
	_cleanup_close_ int fd = -1;
	int r;

	if (!name || !tmp || record_text(c, &text) < 0)
		return -ENOMEM;
	fd = openat(reg->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = fchmod(fd, 0600) < 0 ? negative_errno() : 0;
	if (r >= 0)
		r = write_all_fd(fd, text, strlen(text));
	if (r >= 0 && durable && fsync(fd) < 0)
		r = negative_errno();
	if (r >= 0 && renameat(reg->dfd, tmp, reg->dfd, name) < 0)
		r = negative_errno();
	if (r < 0) {
		(void) unlinkat(reg->dfd, tmp, 0);
		return r;
	}
	c->rec_hash = fnv1a64(text);
	return 0;
}

static int drop_removed(struct registry *reg)
{
	while (reg->nrm > 0) {
		_cleanup_free_ char *name = strprintf("%s" REC_SUFFIX, reg->rm[reg->nrm - 1]);

		if (!name)
			return -ENOMEM;
		if (unlinkat(reg->dfd, name, 0) < 0 && errno != ENOENT)
			return negative_errno();
		free(reg->rm[--reg->nrm]);
	}
	return 0;
}

int registry_sync(struct registry *reg, bool durable, size_t max)
{
	bool changed = reg->nrm > 0;
	size_t done = 0;
	int r;

	if (reg->dfd < 0)
		return -EBADF;
	r = drop_removed(reg);
	while (r >= 0 && reg->nwq > 0 && (max == 0 || done < max)) {
		struct container *c = reg->wq[reg->nwq - 1];

		r = record_write(reg, c, durable);
		if (r < 0)
			break;
		wq_take(reg, c);
		done++;
		changed = true;
	}
	/* a rename is durable once the directory is: one fsync for the whole batch */
	if (durable && (changed || reg->unsynced) && fsync(reg->dfd) < 0 && r >= 0)
		r = negative_errno();
	if (durable && r >= 0)
		reg->unsynced = false;
	else if (changed)
		reg->unsynced = true;
	return r < 0 ? r : (int) MIN(reg->nwq, (size_t) INT32_MAX);
}

size_t registry_touch_changed(struct registry *reg)
{
	size_t n = 0;

	for (size_t i = 0; i < reg->n; i++) {
		struct container *c = reg->v[i];
		_cleanup_free_ char *text = NULL;

		if (c->rec_queued || record_text(c, &text) < 0 || fnv1a64(text) == c->rec_hash)
			continue;
		registry_touch(reg, c);
		n++;
	}
	return n;
}

/* ---- loading ---- */

static void set_aside_at(int dfd, const char *name, char **msgs, const char *what)
{
	_cleanup_free_ char *aside = strprintf("%s.corrupt-%lld", name, (long long) time(NULL));

	if (aside && renameat(dfd, name, dfd, aside) == 0)
		(void) strextend(msgs, "%s: set aside as %s\n", what, aside);
	else
		(void) strextend(msgs, "%s: could not be set aside: %s\n", what,
				 aside ? strerror(errno) : "out of memory");
}

/* One record file. 1 if it was bad (skipped and named in msgs). */
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
	if (r == -EBADMSG)
		set_aside_at(reg->dfd, name, msgs, what);
	else
		(void) strextend(msgs, "%s\n", what);
	return 1;
}

static int load_records(struct registry *reg, char **msgs, size_t *skipped)
{
	int fd = fcntl(reg->dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = negative_errno();
		closep(&fd);
		return r;
	}
	rewinddir(d);
	while (r >= 0 && (de = readdir(d))) {
		/* a write interrupted by a kill leaves its tmp file: nothing else reads those */
		if (de->d_name[0] == '.' && endswith(de->d_name, REC_TMP_SUFFIX)) {
			(void) unlinkat(reg->dfd, de->d_name, 0);
			continue;
		}
		if (de->d_name[0] == '.' || !endswith(de->d_name, REC_SUFFIX))
			continue;
		r = load_record(reg, de->d_name, msgs);
		if (r == 1)
			(*skipped)++;
	}
	closedir(d);
	return r < 0 ? r : 0;
}

/* The single state file of versions before the per-container records: read once, entry by
 * entry, written as records, then renamed PATH.migrated. */
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
		registry_touch(reg, c);
	}
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
			 "old state file %s: %zu container(s) now one record each in %s, "
			 "the file renamed %s\n",
			 path, json_array_size(arr), reg->dir, done);
	return 0;
}

int registry_load(struct registry *reg, const char *legacy_path, char **ret_msg)
{
	_cleanup_free_ char *msgs = NULL;
	size_t skipped = 0;
	int r;

	if (reg->dfd < 0)
		return -EBADF;
	r = load_records(reg, &msgs, &skipped);
	if (r >= 0 && legacy_path)
		r = migrate_legacy(reg, legacy_path, &msgs, &skipped);
	*ret_msg = TAKE_PTR(msgs);
	return r < 0 ? r : (int) MIN(skipped, (size_t) INT32_MAX);
}
