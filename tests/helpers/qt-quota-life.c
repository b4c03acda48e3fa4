/* SPDX-License-Identifier: MIT */
/* qt-quota-life SOCKET N DIR CGROUP PID TENANT CLASS: N container lifetimes through qosd's socket,
 * one after the other, each with a fresh OCI-like bundle DIR/b<i> whose rootfs/ is a plain
 * directory (qosd derives the quota directory from it) holding one 4 KiB file: register, show
 * (the first two, then every 100th, and the last), unregister, remove the bundle. Prints
 * "cycles=<n> failed=<k> ids=<id0>,<id1>,...,<idlast> dir0=<disk_dir of the first>" and the first
 * error. Plain sockets: the helpers link nothing of qosd's. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char reply[1 << 16];

static int call(const char *sock, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(sock) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, sock);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t) strlen(req) || write(fd, "\n", 1) != 1) {
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while (len < sizeof(reply) - 1 && (n = read(fd, reply + len, sizeof(reply) - 1 - len)) > 0)
		len += (size_t) n;
	reply[len] = 0;
	close(fd);
	return strstr(reply, "\"ok\":true") || strstr(reply, "\"ok\": true") ? 0 : -1;
}

/* The value of "key": in the reply, as text up to the next , or } (quotes stripped). */
static void field(const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(reply, pat);
	if (!p) {
		snprintf(out, len, "?");
		return;
	}
	p += strlen(pat);
	while (*p == ' ' || *p == '"')
		p++;
	n = strcspn(p, "\",}");
	snprintf(out, len, "%.*s", (int) (n < len ? n : len - 1), p);
}

static int make_bundle(const char *b)
{
	char path[4200], buf[4096];
	int fd;

	memset(buf, 'x', sizeof(buf));
	snprintf(path, sizeof(path), "%s/rootfs", b);
	if (mkdir(b, 0700) < 0 || mkdir(path, 0755) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/rootfs/f", b);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t) sizeof(buf)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

static void remove_bundle(const char *b)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/rootfs/f", b);
	unlink(path);
	snprintf(path, sizeof(path), "%s/rootfs", b);
	rmdir(path);
	rmdir(b);
}

int main(int argc, char **argv)
{
	static char req[16384], err[512], ids[8192], dir0[4096];
	long n, failed = 0;
	size_t il = 0;

	if (argc != 8) {
		fprintf(stderr, "usage: qt-quota-life SOCKET N DIR CGROUP PID TENANT CLASS\n");
		return 2;
	}
	n = atol(argv[2]);
	for (long i = 0; i < n; i++) {
		char b[4096], id[64], v[64];
		bool show = i < 2 || i % 100 == 0 || i == n - 1;

		snprintf(b, sizeof(b), "%s/b%ld", argv[3], i);
		snprintf(id, sizeof(id), "life-%ld", i);
		if (make_bundle(b) < 0) {
			failed++;
			snprintf(err, sizeof(err), "cycle %ld: cannot make %.200s: %s", i, b,
				 strerror(errno));
			continue;
		}
		snprintf(req, sizeof(req),
			 "{\"cmd\":\"register\",\"id\":\"%s\",\"cgroup\":\"%s\",\"pid\":%s,"
			 "\"tenant\":\"%s\",\"class\":\"%s\",\"bundle\":\"%s\"}",
			 id, argv[4], argv[5], argv[6], argv[7], b);
		if (call(argv[1], req) < 0 && !failed++)
			snprintf(err, sizeof(err), "cycle %ld: register: %.400s", i, reply);
		snprintf(req, sizeof(req), "{\"cmd\":\"show\",\"id\":\"%s\"}", id);
		if (show && call(argv[1], req) == 0) {
			field("projid", v, sizeof(v));
			il += (size_t) snprintf(ids + il, sizeof(ids) - il, "%s%s", il ? "," : "",
						v);
			if (i == 0)
				field("disk_dir", dir0, sizeof(dir0));
		}
		snprintf(req, sizeof(req), "{\"cmd\":\"unregister\",\"id\":\"%s\"}", id);
		if (call(argv[1], req) < 0 && !failed++)
			snprintf(err, sizeof(err), "cycle %ld: unregister: %.400s", i, reply);
		remove_bundle(b);
	}
	printf("cycles=%ld failed=%ld ids=%s dir0=%s\n", n, failed, ids, dir0);
	if (failed)
		printf("first error: %s\n", err);
	return failed ? 1 : 0;
}
