/* SPDX-License-Identifier: MIT */
/* The state (registry_load): the input as the journal (containers/journal.jsonl), as the snapshot
 * (containers/snapshot.jsonl), as a record of the per-file layout (containers/x.json) and as the
 * single file of older versions it migrates (state.json), read-write and read-only (qos-hook-apply's
 * reader); and the hook's pending registration records (registry_load_pending). A corrupt or hostile file must never crash qosd;
 * what loads must survive a write and a reload with the same containers, or a restart would lose
 * it. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "qosd/registry.h"

static char dir[PATH_MAX];

/* registry_load sets bad records aside and renames a migrated file: remove whatever it left. */
static void clean_one(const char *d_path)
{
	DIR *d = opendir(d_path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0)
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	closedir(d);
}

static void clean_dir(void)
{
	char sub[PATH_MAX + 16];

	snprintf(sub, sizeof(sub), "%s/containers", dir);
	clean_one(sub);
	snprintf(sub, sizeof(sub), "%s/again", dir);
	clean_one(sub);
	clean_one(dir);
}
static void remove_dir(void)
{
	clean_dir();
	rmdir(dir);
}

static int setup(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (dir[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s/qosd-fuzz-state.XXXXXX", base);
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return -1;
	}
	atexit(remove_dir);
	return 0;
}

static int write_input(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += n;
	}
	return close(fd);
}

/* what qosd loaded, qosd must be able to write, and load again whole */
static void round_trip(struct registry *reg)
{
	char again_dir[PATH_MAX + 16];
	struct registry *again = NULL;
	char *msg = NULL;

	snprintf(again_dir, sizeof(again_dir), "%s/again", dir);
	for (size_t i = 0; registry_at(reg, i); i++)
		registry_touch(reg, registry_at(reg, i));
	if (registry_open_store(reg, again_dir) < 0 || registry_sync(reg, false, 0) != 0)
		abort();
	if (registry_new(&again) < 0)
		return;
	if (registry_open_store(again, again_dir) < 0 || registry_load(again, NULL, &msg) != 0 ||
	    registry_size(again) != registry_size(reg))
		abort();
	for (size_t i = 0; registry_at(reg, i); i++)
		if (!registry_get(again, registry_at(reg, i)->id))
			abort();
	free(msg);
	registry_free(again);
}

enum as { AS_JOURNAL, AS_SNAPSHOT, AS_RECORD, AS_OLD_STATE, _AS_MAX };

/* Load the input as one of the files of the state, read-write then read-only. */
static void load_as(const uint8_t *data, size_t size, enum as as, bool ro)
{
	static const char *const name[] = { "containers/journal.jsonl", "containers/snapshot.jsonl",
					    "containers/x.json", "state.json" };
	char rdir[PATH_MAX + 16], path[PATH_MAX + 32];
	struct registry *reg = NULL;
	char *msg = NULL;
	int r;

	snprintf(rdir, sizeof(rdir), "%s/containers", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name[as]);
	if (mkdir(rdir, 0700) < 0 || write_input(path, data, size) < 0)
		return;
	if (registry_new(&reg) < 0)
		return;
	r = ro ? registry_open_store_ro(reg, rdir) : registry_open_store(reg, rdir);
	if (r >= 0 && registry_load(reg, as == AS_OLD_STATE ? path : NULL, &msg) >= 0 && !ro)
		round_trip(reg);
	free(msg);
	registry_free(reg);
	clean_dir();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX + 32];
	struct container *c = NULL;

	if (setup() < 0)
		return 0;
	for (int as = 0; as < _AS_MAX; as++) {
		load_as(data, size, as, false);
		load_as(data, size, as, true);
	}
	snprintf(path, sizeof(path), "%s/pending.json", dir);
	if (write_input(path, data, size) >= 0 && registry_load_pending(path, &c) >= 0)
		container_free(c);
	clean_dir();
	return 0;
}
