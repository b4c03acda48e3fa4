/* qt-runas UID GID CMD...: drop to UID/GID with no supplementary groups, then exec CMD (used to
 * show that an unprivileged caller is refused; busybox has no setpriv). */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uid_t uid;
	gid_t gid;

	if (argc < 4) {
		fprintf(stderr, "usage: qt-runas UID GID CMD...\n");
		return 2;
	}
	uid = (uid_t) strtoul(argv[1], NULL, 10);
	gid = (gid_t) strtoul(argv[2], NULL, 10);
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		perror("qt-runas");
		return 2;
	}
	execvp(argv[3], argv + 3);
	perror("qt-runas: exec");
	return 127;
}
