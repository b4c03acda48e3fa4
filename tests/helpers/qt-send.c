/* SPDX-License-Identifier: MIT */
/* qt-send SOCKET JSON: one raw request on qosd's control socket, as any client could send it
 * (no client-side validation), then print the reply. Exit 0 if a reply came, 1 otherwise. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: qt-send SOCKET JSON\n");
		return 2;
	}
	strcpy(a.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
	    write(fd, argv[2], strlen(argv[2])) != (ssize_t) strlen(argv[2])) {
		perror("qt-send");
		return 1;
	}
	shutdown(fd, SHUT_WR);
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t) n;
	buf[len] = 0;
	printf("%s\n", buf);
	close(fd);
	return len > 0 ? 0 : 1;
}
