/* SPDX-License-Identifier: MIT */
/* The state records on disk (registry-store.c): the journal's round trip, a torn last line, a bad
 * line costs its container alone, the compaction's crash window (snapshot renamed, the empty
 * journal not yet renamed over the old one), a compaction under a reader, the migrations from the
 * per-file records and the single state file, the read-only load of qos-hook-apply, one rule per
 * field in and out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "qosd/registry-internal.h"
#include "qosd/util.h"
#include "tests/unit/testlib.h"

static char tmpdir[64];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/qosd-test-%d-reg.XXXXXX", (int) getpid());
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	tl_rm_tree(tmpdir);
	return 0;
}

/* The compaction's crash window, made on purpose: while set, the store's rename of the empty
 * journal over the old one fails (this binary's definition wins over libc's for the library it
 * links). */
static bool fail_journal_rename;

int renameat(int olddfd, const char *oldname, int newdfd, const char *newname)
{
	if (fail_journal_rename && streq(newname, "journal.jsonl")) {
		errno = EIO;
		return -1;
	}
	return (int) syscall(SYS_renameat, olddfd, oldname, newdfd, newname);
}

/* A compaction between a reader's opens: when armed, the first open of snapshot.jsonl (after the
 * reader opened the journal) compacts the writer's store before it returns. */
static struct registry *compact_on_snapshot_open;
static int compact_on_snapshot_open_r = 1;
/* while set, no NAME.corrupt-TIME file can be made (a full disk) */
static bool fail_aside;

int openat(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (fail_aside && strstr(name, ".corrupt-")) {
		errno = ENOSPC;
		return -1;
	}
	fd = (int) syscall(SYS_openat, dfd, name, flags, mode);
	if (compact_on_snapshot_open && streq(name, "snapshot.jsonl")) {
		struct registry *w = TAKE_PTR(compact_on_snapshot_open);

		compact_on_snapshot_open_r = registry_compact(w);
	}
	return fd;
}

int __openat_2(int dfd, const char *name, int flags)
{
	return openat(dfd, name, flags);
}

static char *slurp(const char *path)
{
	char *s = NULL;
	int r = read_file_at(AT_FDCWD, path, 64 << 20, &s);

	if (r < 0)
		fail_msg("%s: %s", path, strerror(-r));
	return s;
}

static size_t nlines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* Files in dir whose name ends in suffix (or holds it anywhere: anywhere). */
static size_t count_files(const char *dir, const char *suffix, bool anywhere)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += anywhere ? strstr(de->d_name, suffix) != NULL : endswith(de->d_name, suffix);
	closedir(d);
	return n;
}

static size_t count_suffix(const char *dir, const char *suffix)
{
	return count_files(dir, suffix, false);
}

static size_t count_named(const char *dir, const char *part)
{
	return count_files(dir, part, true);
}

/* b holds the same containers as a, each with the same record */
static void assert_same(struct registry *a, struct registry *b)
{
	struct container *c;

	assert_int_equal(registry_size(a), registry_size(b));
	for (size_t i = 0; (c = registry_at(a, i)); i++) {
		struct container *d = registry_get(b, c->id);
		struct textbuf x = { 0 }, y = { 0 };

		if (!d)
			fail_msg("%s is missing", c->id);
		assert_int_equal(container_put_json(&x, c), 0);
		assert_int_equal(container_put_json(&y, d), 0);
		if (!streq(x.p, y.p))
			fail_msg("%s: %s against %s", c->id, x.p, y.p);
		free(x.p);
		free(y.p);
	}
}

/* n containers PREFIX0.. in cgroups /PREFIX/0.., project ids projid0.. */
static void add_numbered(struct registry *reg, const char *prefix, int n, uint32_t projid0)
{
	struct container *c;

	for (int i = 0; i < n; i++) {
		char id[32], cg[64];

		snprintf(id, sizeof(id), "%s%d", prefix, i);
		snprintf(cg, sizeof(cg), "/%s/%d", prefix, i);
		assert_int_equal(registry_add(reg, id, cg, &c), 0);
		c->projid = projid0 + (uint32_t) i;
	}
}

static struct registry *load_dir(const char *dir, bool ro, int want_skipped, char **msg)
{
	struct registry *reg;
	int r;

	*msg = NULL;
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(ro ? registry_open_store_ro(reg, dir) : registry_open_store(reg, dir), 0);
	r = registry_load(reg, NULL, msg);
	if (r != want_skipped)
		fail_msg("load of %s: %d skipped, want %d; said:\n%s", dir, r, want_skipped,
			 *msg ? *msg : "");
	return reg;
}

static void test_registry_roundtrip(void **state)
{
	struct registry *reg, *back;
	struct container *c;
	char dir[128], path[192], *msg = NULL;
	_cleanup_free_ char *j = NULL;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	for (int i = 0; i < 300; i++) {
		char id[32], cg[64];

		snprintf(id, sizeof(id), "c%d", i);
		snprintf(cg, sizeof(cg), "/x/c%d", i);
		assert_int_equal(registry_add(reg, id, cg, &c), 0);
		c->projid = 100000 + i;
		c->owned = 0x5;
	}
	assert_int_equal(registry_add(reg, "c7", "/y", NULL), -EEXIST);
	/* a request's own record goes first: the one touched last, one line */
	registry_touch(reg, registry_get(reg, "c5"));
	assert_int_equal(registry_sync(reg, true, 1), 299);
	j = slurp(path);
	assert_int_equal(nlines(j), 1);
	assert_non_null(strstr(j, "\"id\":\"c5\""));
	/* a bounded write leaves the rest queued */
	assert_int_equal(registry_sync(reg, false, 99), 200);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	c = registry_get(reg, "c7");
	c->op_cls = strdup("gold");
	assert_int_equal(qos_value_parse(QK_MEMORY_LIMIT, "1G",
					 &container_ovr_mut(c)->v[QK_MEMORY_LIMIT], &msg),
			 0);
	registry_touch(reg, c);
	registry_remove(reg, registry_get(reg, "c3"));
	assert_null(registry_get(reg, "c3"));
	assert_non_null(registry_by_cgroup(reg, "/x/c299"));
	/* one record and one removal appended: not the whole state, no file per record */
	assert_int_equal(registry_sync(reg, true, 0), 0);
	free(j);
	j = slurp(path);
	assert_int_equal(nlines(j), 302);
	assert_non_null(strstr(j, "{\"removed\":\"c3\"}\n"));
	assert_int_equal(count_suffix(dir, ".json"), 0);
	/* a renamed entry (a registration taking over a [match] entry): removal + record */
	assert_int_equal(registry_rename(reg, registry_get(reg, "c9"), "z9"), 0);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	free(j);
	j = slurp(path);
	assert_non_null(strstr(j, "{\"removed\":\"c9\"}\n{\"id\":\"z9\""));
	/* a change made without a touch is found by the exit's safety net */
	registry_get(reg, "c8")->projid = 7;
	assert_int_equal(registry_touch_changed(reg), 1);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	assert_int_equal(registry_new(&back), 0);
	assert_int_equal(registry_open_store(back, dir), 0);
	assert_int_equal(registry_load(back, NULL, &msg), 0);
	assert_null(msg);
	assert_int_equal(registry_size(back), 299);
	c = registry_get(back, "c7");
	assert_non_null(c);
	assert_string_equal(c->op_cls, "gold");
	assert_int_equal(c->projid, 100007);
	assert_int_equal(registry_get(back, "c8")->projid, 7);
	assert_null(registry_get(back, "c3"));
	assert_null(registry_get(back, "c9"));
	assert_non_null(registry_get(back, "z9"));
	assert_true(c->ovr->v[QK_MEMORY_LIMIT].set);
	assert_int_equal(c->ovr->v[QK_MEMORY_LIMIT].num, 1ULL << 30);
	assert_int_equal(registry_touch_changed(back), 0); /* loaded = what is on disk */
	/* the load compacted: every record in the snapshot, the journal empty */
	free(j);
	j = slurp(path);
	assert_string_equal(j, "");
	snprintf(path, sizeof(path), "%s/snapshot.jsonl", dir);
	free(j);
	j = slurp(path);
	assert_int_equal(nlines(j), 299);
	assert_same(reg, back);
	registry_free(reg);
	registry_free(back);
}

/* Each bad record costs its own container only: the others load, the bad ones are set aside and
 * named with their field. */
static void test_registry_bad_record(void **state)
{
	static const struct {
		const char *id, *json, *field;
	} bad[] = {
		{ "b1", "{not json", "(the record)" },
		{ "b2", "{\"id\":\"b2\",\"cgroup\":\"/a/../b\"}", "cgroup" },
		{ "b3", "{\"id\":\"b3\",\"cgroup\":\"/a\",\"dir\":\"relative/dir\"}", "dir" },
		{ "b4", "{\"id\":\"b4\",\"cgroup\":\"/a\",\"overrides\":{\"memory.limit\":\"-1\"}}",
		  "overrides" },
		{ "b5", "{\"id\":\"b5\",\"cgroup\":\"/a\",\"projid\":-5}", "projid" },
		{ "b6", "{\"id\":\"other\",\"cgroup\":\"/a\"}", "id" },
		{ "b7", "{\"id\":\"b7\",\"cgroup\":\"/a\",\"bundle\":\"/x/../etc\"}", "bundle" },
	};
	char dir[128], path[256], *msg = NULL;
	struct registry *reg;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (int i = 0; i < 20; i++) {
		char rec[128];

		snprintf(path, sizeof(path), "%s/g%d.json", dir, i);
		snprintf(rec, sizeof(rec),
			 "{\"id\":\"g%d\",\"cgroup\":\"/g/%d\",\"dir\":\"/d/%d\"}", i, i, i);
		tl_put(NULL, path, rec);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(path, sizeof(path), "%s/%s.json", dir, bad[i].id);
		tl_put(NULL, path, bad[i].json);
	}
	snprintf(path, sizeof(path), "%s/.g1.json.tmp", dir); /* an interrupted write */
	tl_put(NULL, path, "{\"id\":");
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_load(reg, NULL, &msg), (int) ELEMENTSOF(bad));
	assert_int_equal(registry_size(reg), 20);
	assert_non_null(msg);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char want[160];

		assert_null(registry_get(reg, bad[i].id));
		snprintf(want, sizeof(want), "%s.json: field \"%s\" is invalid", bad[i].id,
			 bad[i].field);
		if (!strstr(msg, want))
			fail_msg("no \"%s\" in:\n%s", want, msg);
	}
	assert_int_equal(count_named(dir, ".corrupt-"), ELEMENTSOF(bad));
	assert_int_equal(count_named(dir, ".tmp"), 0);
	free(msg);
	registry_free(reg);
}

/* The state file of older versions: read once, entry by entry; a bad entry costs that entry. */
static void test_registry_migrate(void **state)
{
	char dir[128], path[192], done[224], *msg = NULL;
	struct registry *reg;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	snprintf(done, sizeof(done), "%s.migrated", path);
	tl_put(NULL, path,
	       "{\"version\":1,\"containers\":[{\"id\":\"a\",\"cgroup\":\"/a\",\"projid\":9},"
	       "{\"id\":\"bad\",\"cgroup\":\"/b\",\"dir\":\"x\"},"
	       "{\"id\":\"c\",\"cgroup\":\"/c\",\"op_class\":\"gold\"}]}");
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_load(reg, path, &msg), 1);
	assert_non_null(strstr(msg, "entry 1 (id \"bad\"): field \"dir\" is invalid"));
	assert_int_equal(registry_size(reg), 2);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(done, F_OK), 0);
	registry_free(reg);
	free(msg);
	msg = NULL;
	/* the records stand alone now */
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_load(reg, path, &msg), 0);
	assert_int_equal(registry_size(reg), 2);
	assert_int_equal(registry_get(reg, "a")->projid, 9);
	assert_string_equal(registry_get(reg, "c")->op_cls, "gold");
	registry_free(reg);
	/* a file that is not a state at all is set aside whole: there is no entry to keep */
	tl_put(NULL, path, "{not json");
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_load(reg, path, &msg), 1);
	assert_int_equal(registry_size(reg), 2);
	assert_int_equal(count_named(tmpdir, "state.json.corrupt-"), 1);
	registry_free(reg);
	free(msg);
}

/* One rule per stored field, on the way in and out: a value register accepts loads again, a
 * value load refuses register refuses. */
static void test_registry_field_rule(void **state)
{
	static const char *const dirs[] = { "/var/lib/x", "/",	     "//a//b/", "relative",
					    "",		  "/a/../b", "/a/./b",	"/a/..",
					    "/a\nb",	  "/..a/b.", "/a/b..c" };
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *why = NULL, *msg = NULL;
		struct registry *reg, *back;
		struct container *c;
		bool in = registry_field_check("dir", dirs[i], &why) >= 0;

		assert_int_equal(registry_new(&reg), 0);
		assert_int_equal(registry_open_store(reg, dir), 0);
		assert_int_equal(registry_add(reg, "x", "/x", &c), 0);
		c->dir = strdup(dirs[i]);
		assert_int_equal(registry_sync(reg, false, 0), 0);
		assert_int_equal(registry_new(&back), 0);
		assert_int_equal(registry_open_store(back, dir), 0);
		(void) registry_load(back, NULL, &msg);
		if (in != (registry_get(back, "x") != NULL))
			fail_msg("dir \"%s\": register says %d, load says %d", dirs[i], in, !in);
		if (!in)
			assert_non_null(strstr(why, "dir"));
		registry_remove(reg, c);
		assert_int_equal(registry_sync(reg, false, 0), 0);
		registry_free(reg);
		registry_free(back);
	}
	assert_int_equal(registry_field_check("nosuch", "x", NULL), -ENOENT);
}

/* A crash mid-append leaves the journal's last line without its newline: it is dropped, and the
 * journal cut back before the next append (else that append would join it and be lost too). */
static void test_registry_torn(void **state)
{
	char dir[128], path[192], *msg = NULL;
	_cleanup_free_ char *j = NULL;
	struct registry *reg, *back;
	struct container *c;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	tl_put(dir, "snapshot.jsonl",
	       "{\"id\":\"a\",\"cgroup\":\"/a\"}\n{\"id\":\"b\",\"cgroup\":\"/b\",\"projid\":5}\n");
	tl_put(dir, "journal.jsonl",
	       "{\"id\":\"c\",\"cgroup\":\"/c\"}\n{\"removed\":\"a\"}\n"
	       "{\"id\":\"b\",\"cgroup\":\"/b\",\"projid\":6}\n{\"id\":\"d\",\"cgr");
	/* no compaction at this load (a directory where its tmp file goes): the cut is the load's */
	snprintf(path, sizeof(path), "%s/.snapshot.jsonl.tmp", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	reg = load_dir(dir, false, 0, &msg);
	assert_non_null(msg);
	if (!strstr(msg, "journal.jsonl: its last line (14 bytes, line 4) has no end"))
		fail_msg("%s", msg);
	assert_non_null(strstr(msg, "cannot write the snapshot"));
	assert_int_equal(registry_size(reg), 2);
	assert_null(registry_get(reg, "a"));
	assert_null(registry_get(reg, "d"));
	assert_int_equal(registry_get(reg, "b")->projid, 6);
	assert_int_equal(registry_add(reg, "e", "/e", &c), 0);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	j = slurp(path);
	assert_non_null(strstr(j, "\"projid\":6}\n{\"id\":\"e\""));
	free(msg);
	back = load_dir(dir, true, 0, &msg);
	assert_null(msg);
	assert_same(reg, back);
	registry_free(reg);
	registry_free(back);
}

/* A bad line in the middle costs that container alone (whatever earlier lines said of it): named
 * with file, line and field, kept in NAME.corrupt-TIME, gone from the files after the load. */
static void test_registry_bad_line(void **state)
{
	char dir[128], snap[4096] = "", *msg = NULL;
	struct registry *reg;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	for (int i = 0; i < 10; i++) {
		char rec[128];

		snprintf(rec, sizeof(rec), "{\"id\":\"g%d\",\"cgroup\":\"/g/%d\",\"projid\":%d}\n",
			 i, i, i + 1);
		strcat(snap, rec);
		if (i == 4)
			strcat(snap, "{\"id\":\"b1\",\"cgroup\":\"/a/../b\"}\n{not json\n");
	}
	tl_put(dir, "snapshot.jsonl", snap);
	tl_put(dir, "journal.jsonl",
	       "{\"id\":\"g3\",\"cgroup\":\"/g/3\",\"dir\":\"relative\"}\n"
	       "{\"id\":\"g5\",\"cgroup\":\"/g/5\",\"projid\":55}\n"
	       "{\"removed\":\"../g6\"}\n"
	       "{\"removed\":\"g7\",\"x\":1}\n"
	       "\n"
	       "{\"id\":\"g8\",\"cgroup\":\"/g/8\",\"projid\":88}\n");
	reg = load_dir(dir, false, 5, &msg);
	static const char *const want[] = {
		"snapshot.jsonl line 6 (container b1): field \"cgroup\" is invalid",
		"snapshot.jsonl line 7: field \"(the record)\" is invalid",
		"journal.jsonl line 1 (container g3): field \"dir\" is invalid",
		"journal.jsonl line 3: field \"removed\" is invalid",
		"journal.jsonl line 4: field \"removed\" is invalid",
		"that container alone is skipped (the line kept in /",
		"/containers/journal.jsonl.corrupt-",
	};
	for (size_t i = 0; i < ELEMENTSOF(want); i++)
		if (!strstr(msg, want[i]))
			fail_msg("no \"%s\" in:\n%s", want[i], msg);
	assert_int_equal(registry_size(reg), 9);
	assert_null(registry_get(reg, "g3"));
	assert_null(registry_get(reg, "b1"));
	assert_int_equal(registry_get(reg, "g5")->projid, 55);
	assert_int_equal(registry_get(reg, "g6")->projid, 7);
	assert_int_equal(registry_get(reg, "g7")->projid, 8);
	assert_int_equal(registry_get(reg, "g8")->projid, 88);
	assert_int_equal(count_suffix(dir, ".tmp"), 0);
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		size_t kept = 0;

		while ((de = readdir(d)))
			if (strstr(de->d_name, ".corrupt-")) {
				char p[512];
				_cleanup_free_ char *t = NULL;

				snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
				t = slurp(p);
				kept += nlines(t);
			}
		closedir(d);
		assert_int_equal(kept, 5);
	}
	free(msg);
	/* the load compacted: the bad lines are gone from the snapshot and the journal */
	{
		struct registry *back = load_dir(dir, false, 0, &msg);

		assert_null(msg);
		assert_same(reg, back);
		registry_free(back);
	}
	registry_free(reg);
}

/* A bad line that cannot be kept aside (a full disk): the message says why, and the start-up
 * compaction is skipped so that the files keep the only copy of it; kept at the next start. */
static void test_registry_bad_line_unkept(void **state)
{
	char dir[128], path[192], *msg = NULL;
	_cleanup_free_ char *j = NULL, *j2 = NULL;
	struct registry *reg;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	tl_put(dir, "snapshot.jsonl", "{\"id\":\"a\",\"cgroup\":\"/a\",\"projid\":1}\n");
	tl_put(dir, "journal.jsonl", "{\"id\":\"b\",\"cgroup\":\"/b\",\"projid\":2}\n{not json\n");
	j = slurp(path);
	fail_aside = true;
	reg = load_dir(dir, false, 1, &msg);
	fail_aside = false;
	if (!strstr(msg,
		    "journal.jsonl line 2: field \"(the record)\" is invalid: that container "
		    "alone is skipped (the line could not be kept: No space left on device)") ||
	    !strstr(msg, "not compacted at this start"))
		fail_msg("said:\n%s", msg);
	assert_int_equal(registry_size(reg), 2);
	assert_int_equal(count_named(dir, ".corrupt-"), 0);
	j2 = slurp(path);
	assert_string_equal(j, j2); /* not compacted: the bad line is still there */
	registry_free(reg);
	free(msg);
	/* the next start keeps it aside, then compacts */
	reg = load_dir(dir, false, 1, &msg);
	if (!strstr(msg, "(the line kept in /") || strstr(msg, "not compacted"))
		fail_msg("said:\n%s", msg);
	assert_int_equal(count_named(dir, ".corrupt-"), 1);
	free(j2);
	j2 = slurp(path);
	assert_string_equal(j2, "");
	registry_free(reg);
	free(msg);
}

/* The compaction's crash window: the snapshot renamed, the empty journal not yet renamed over the
 * old one. Replaying that
 * journal over the new snapshot gives the same state, with records queued but not yet appended,
 * a change made without a touch, and removals not yet appended. */
static void test_registry_compact_crash(void **state)
{
	char dir[128], path[192], *msg = NULL;
	_cleanup_free_ char *j = NULL;
	struct registry *reg, *back;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_load(reg, NULL, &msg), 0);
	add_numbered(reg, "k", 50, 1000);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	registry_get(reg, "k1")->projid = 1; /* touched, not appended */
	registry_touch(reg, registry_get(reg, "k1"));
	registry_get(reg, "k2")->projid = 2; /* not even touched */
	registry_remove(reg, registry_get(reg, "k3")); /* removal not appended */
	assert_int_equal(registry_add(reg, "n1", "/n/1", NULL), 0);
	fail_journal_rename = true;
	assert_int_equal(registry_compact(reg), -EIO);
	fail_journal_rename = false;
	j = slurp(path);
	assert_true(nlines(j) >= 50);
	back = load_dir(dir, true, 0, &msg);
	assert_null(msg);
	assert_same(reg, back);
	assert_int_equal(registry_get(back, "k2")->projid, 2);
	registry_free(back);
	/* and once emptied: the snapshot alone says the same */
	assert_int_equal(registry_compact(reg), 0);
	free(j);
	j = slurp(path);
	assert_string_equal(j, "");
	back = load_dir(dir, true, 0, &msg);
	assert_same(reg, back);
	registry_free(back);
	registry_free(reg);
}

/* qos-hook-apply's read-only load opens the journal, then the snapshot, then reads the journal:
 * qosd compacting between those opens must not hide a container from it (the old journal it holds
 * is still whole, whichever snapshot it opened). */
static void test_registry_compact_under_reader(void **state)
{
	char dir[128], *msg = NULL;
	struct registry *w, *rd;
	struct container *c;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	w = load_dir(dir, false, 0, &msg);
	assert_int_equal(registry_add(w, "a", "/a", &c), 0);
	c->projid = 1;
	assert_int_equal(registry_sync(w, true, 0), 0);
	assert_int_equal(registry_compact(w), 0); /* the snapshot: a */
	add_numbered(w, "n", 5, 100);
	assert_int_equal(registry_sync(w, true, 0), 0); /* the journal: n0..n4 */
	assert_int_equal(registry_new(&rd), 0);
	assert_int_equal(registry_open_store_ro(rd, dir), 0);
	compact_on_snapshot_open = w;
	compact_on_snapshot_open_r = 1;
	assert_int_equal(registry_load(rd, NULL, &msg), 0);
	assert_null(compact_on_snapshot_open);
	assert_int_equal(compact_on_snapshot_open_r, 0); /* it did compact in the window */
	assert_null(msg);
	assert_same(w, rd);
	registry_free(rd);
	/* and a reader after it: the new snapshot and the new, empty journal */
	rd = load_dir(dir, true, 0, &msg);
	assert_same(w, rd);
	registry_free(rd);
	registry_free(w);
}

/* A compaction is due past 1 MiB of journal (and twice the snapshot); after one failed (a full
 * disk) it is not due again before another 1 MiB of journal, and then it is. */
static void test_registry_compact_due_after_failure(void **state)
{
	char dir[128], cg[300] = "/k/", *msg = NULL;
	struct registry *reg;
	struct container *c;
	uint64_t failed_at, before = 0;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	memset(cg + 3, 'x', 250);
	cg[253] = 0;
	reg = load_dir(dir, false, 0, &msg);
	assert_int_equal(registry_add(reg, "big", cg, &c), 0);
	assert_false(registry_compact_due(reg));
	while (!registry_compact_due(reg) && n++ < 100000) {
		c->projid++;
		registry_touch(reg, c);
		assert_int_equal(registry_sync(reg, false, 0), 0);
	}
	assert_true(registry_compact_due(reg));
	fail_journal_rename = true;
	assert_int_equal(registry_compact(reg), -EIO);
	fail_journal_rename = false;
	failed_at = reg->jlen;
	assert_false(registry_compact_due(reg));
	while (!registry_compact_due(reg) && n++ < 200000) {
		before = reg->jlen;
		c->projid++;
		registry_touch(reg, c);
		assert_int_equal(registry_sync(reg, false, 0), 0);
	}
	assert_true(registry_compact_due(reg));
	assert_true(before <= failed_at + (1u << 20));
	assert_true(reg->jlen > failed_at + (1u << 20));
	assert_int_equal(registry_compact(reg), 0);
	assert_false(registry_compact_due(reg));
	registry_free(reg);
}

/* The per-file layout (containers/ID.json): read once, the journal's lines win over it, then
 * written as the snapshot and the files deleted. */
static void test_registry_legacy_files(void **state)
{
	char dir[128], *msg = NULL;
	struct registry *reg, *back;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	tl_put(dir, "a.json", "{\"id\":\"a\",\"cgroup\":\"/a\",\"projid\":1}");
	tl_put(dir, "b.json", "{\"id\":\"b\",\"cgroup\":\"/b\",\"op_class\":\"gold\"}");
	tl_put(dir, "c.json", "{\"id\":\"c\",\"cgroup\":\"/c\"}");
	tl_put(dir, "journal.jsonl",
	       "{\"id\":\"a\",\"cgroup\":\"/a\",\"projid\":2}\n"
	       "{\"removed\":\"c\"}\n");
	reg = load_dir(dir, false, 0, &msg);
	assert_int_equal(registry_size(reg), 2);
	assert_int_equal(registry_get(reg, "a")->projid, 2);
	assert_string_equal(registry_get(reg, "b")->op_cls, "gold");
	assert_null(registry_get(reg, "c"));
	assert_int_equal(count_suffix(dir, ".json"), 0);
	back = load_dir(dir, true, 0, &msg);
	assert_same(reg, back);
	registry_free(back);
	registry_free(reg);
}

static void stat_all(const char *dir, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	out[0] = 0;
	assert_non_null(d);
	while ((de = readdir(d))) {
		char p[512], line[640];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		assert_int_equal(lstat(p, &st), 0);
		snprintf(line, sizeof(line), "%s %o %lld %lld.%ld\n", de->d_name, st.st_mode,
			 (long long) st.st_size, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		strncat(out, line, size - strlen(out) - 1);
	}
	closedir(d);
}

/* qos-hook-apply reads qosd's records read-only: a torn line, a bad line, old files and an old
 * state file are read, and nothing in the directory changes. Files are 0600, never followed. */
static void test_registry_ro_and_modes(void **state)
{
	char dir[128], old[192], path[192], before[4096], after[4096], *msg = NULL;
	struct registry *reg;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/containers", tmpdir);
	snprintf(old, sizeof(old), "%s/state.json", tmpdir);
	tl_put(dir, "a.json", "{\"id\":\"a\",\"cgroup\":\"/a\",\"projid\":1}");
	tl_put(dir, "x.json", "{bad");
	tl_put(dir, ".y.json.tmp", "{");
	tl_put(dir, "snapshot.jsonl", "{\"id\":\"b\",\"cgroup\":\"/b\",\"projid\":2}\n{bad\n");
	tl_put(dir, "journal.jsonl", "{\"id\":\"c\",\"cgroup\":\"/c\",\"projid\":3}\n{\"id\":");
	tl_put(NULL, old, "{\"version\":1,\"containers\":[{\"id\":\"d\",\"cgroup\":\"/d\"}]}");
	stat_all(dir, before, sizeof(before));
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store_ro(reg, dir), 0);
	assert_int_equal(registry_load(reg, old, &msg), 2);
	assert_int_equal(registry_size(reg), 4);
	assert_int_equal(registry_get(reg, "c")->projid, 3);
	assert_int_equal(registry_sync(reg, false, 0), -EROFS);
	assert_int_equal(registry_compact(reg), -EROFS);
	registry_remove(reg, registry_get(reg, "a"));
	stat_all(dir, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(access(old, F_OK), 0);
	registry_free(reg);
	free(msg);

	/* read-only, no containers/ at all (a state directory of the single-file version): an empty
	 * store, the old state file still read, nothing created */
	tl_rm_tree(dir);
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store_ro(reg, dir), 0);
	assert_int_equal(registry_load(reg, old, &msg), 0);
	assert_null(msg);
	assert_int_equal(registry_size(reg), 1);
	assert_non_null(registry_get(reg, "d"));
	assert_int_equal(registry_sync(reg, false, 0), -EROFS);
	assert_int_equal(registry_compact(reg), -EROFS);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(access(old, F_OK), 0);
	registry_free(reg);

	/* read-write: the files qosd makes are 0600 whatever the umask, a symlink is refused */
	tl_rm_tree(dir);
	umask(0);
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), 0);
	assert_int_equal(registry_add(reg, "a", "/a", NULL), 0);
	assert_int_equal(registry_sync(reg, true, 0), 0);
	assert_int_equal(registry_compact(reg), 0);
	umask(022);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/snapshot.jsonl", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	registry_free(reg);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(registry_new(&reg), 0);
	assert_int_equal(registry_open_store(reg, dir), -ELOOP);
	registry_free(reg);
}

/* A record is written as jansson's json_dumps(JSON_COMPACT) wrote it (jsonw.h): every member,
 * escapes and non-ASCII included, byte for byte, and it loads back to the same text. */
static void test_registry_record_text(void **state)
{
	static const char text[] =
		"{\"id\":\"c1\",\"cgroup\":\"/a/b\",\"op_tenant\":\"t\",\"op_class\":\"k\","
		"\"hook_tenant\":\"t2\",\"hook_class\":\"k2\",\"dir\":\"/var/x "
		"y/\xc3\xa9\\\"q\\\\\","
		"\"bundle\":\"/b\",\"projid\":7,\"owned\":3,\"pid\":42,\"matched\":true,"
		"\"tasks_idle\":true,\"overrides\":{\"cpu.shares\":\"512\"},\"annotations\":{\"io."
		"k/x\":\"v\\\\w\"},"
		"\"hierarchies\":{\"cpu\":\"/x/cpu\",\"memory\":\"/x/mem\"}}";
	json_auto_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	_cleanup_free_ char *again = o ? json_dumps(o, JSON_COMPACT) : NULL;
	_cleanup_(container_freep) struct container *c = NULL;
	struct textbuf b = { 0 };
	const char *field;

	assert_non_null(o);
	assert_string_equal(again, text); /* the text is jansson's own form of it */
	assert_int_equal(container_from_json(o, &c, &field), 0);
	assert_true(c->tasks_idle);
	assert_int_equal(container_put_json(&b, c), 0);
	assert_string_equal(b.p, text);
	/* tasks_idle must be a boolean; it is left out while false (state files before it load) */
	{
		json_auto_t *bad =
			json_loads("{\"id\":\"c2\",\"cgroup\":\"/a\",\"tasks_idle\":1}", 0, NULL);
		_cleanup_(container_freep) struct container *c2 = NULL;

		assert_non_null(bad);
		assert_int_equal(container_from_json(bad, &c2, &field), -EBADMSG);
		assert_string_equal(field, "tasks_idle");
	}
	c->tasks_idle = false;
	b.len = 0;
	assert_int_equal(container_put_json(&b, c), 0);
	assert_null(strstr(b.p, "tasks_idle"));
	/* a string jansson could not hold fails the record and leaves the buffer as it was */
	free(c->dir);
	c->dir = strdup("/x\xc3");
	b.len = 0;
	assert_int_equal(container_put_json(&b, c), -ENOMEM);
	assert_int_equal(b.len, 0);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry_roundtrip, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_registry_record_text),
		cmocka_unit_test_setup_teardown(test_registry_torn, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_bad_line, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_bad_line_unkept, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_compact_crash, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_compact_under_reader, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_compact_due_after_failure, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_legacy_files, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_ro_and_modes, setup_tmp,
						teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_bad_record, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_migrate, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_registry_field_rule, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
