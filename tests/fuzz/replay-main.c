/* SPDX-License-Identifier: MIT */
/* Replays fuzz inputs without libFuzzer: run every file named on the command line through the
 * target's LLVMFuzzerTestOneInput once. Built with gcc and ASan+UBSan by tests/layer-fuzz.sh, so
 * make check replays the corpora and every crash ever found. A crash aborts the process (the
 * sanitizer names the input via the "replay:" line printed before each one with -v). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	/* an exactly-sized copy so ASan catches a read one byte past the input */
	*ret = malloc(len ? len : 1);
	if (!*ret) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(*ret, buf, len);
	free(buf);
	*ret_len = len;
	return 0;
}

int main(int argc, char **argv)
{
	bool verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	int first = verbose ? 2 : 1, failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = first; i < argc; i++) {
		uint8_t *data;
		size_t len;
		int r = read_all(argv[i], &data, &len);

		if (r < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
			failed = 1;
			continue;
		}
		if (verbose)
			fprintf(stderr, "replay: %s (%zu bytes)\n", argv[i], len);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	return failed;
}
