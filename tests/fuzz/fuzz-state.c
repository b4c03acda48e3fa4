/* SPDX-License-Identifier: MIT */
/* The state file (registry_load) and the hook's pending registration records
 * (registry_load_pending): a corrupt or hostile file must never crash qosd. A state that loads
 * must also survive a save and a reload with the same containers, or a restart would lose it. */
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

/* registry_load renames a corrupt file to state.json.corrupt-<time>: remove whatever it left. */
static void clean_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
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

static void round_trip(const struct registry *reg, const char *path)
{
	struct registry *again = NULL;
	char *msg = NULL;

	/* what qosd loaded, qosd must be able to save */
	if (registry_save(reg, path, false) < 0)
		abort();
	if (registry_new(&again) < 0)
		return;
	/* what qosd saved, qosd must load, whole */
	if (registry_load(again, path, &msg) < 0 || registry_size(again) != registry_size(reg))
		abort();
	for (size_t i = 0; registry_at(reg, i); i++)
		if (!registry_get(again, registry_at(reg, i)->id))
			abort();
	free(msg);
	registry_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX + 32], saved[PATH_MAX + 32];
	struct registry *reg = NULL;
	struct container *c = NULL;
	char *msg = NULL;

	if (setup() < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(saved, sizeof(saved), "%s/saved.json", dir);
	if (write_input(path, data, size) < 0)
		goto out;

	if (registry_new(&reg) < 0)
		goto out;
	if (registry_load(reg, path, &msg) >= 0)
		round_trip(reg, saved);
	free(msg);
	registry_free(reg);

	if (write_input(path, data, size) < 0)
		goto out;
	if (registry_load_pending(path, &c) >= 0)
		container_free(c);
out:
	clean_dir();
	return 0;
}
