/* SPDX-License-Identifier: MIT */
/* The control socket: a Unix stream socket in a root-owned directory, one request per
 * connection, the peer's credentials taken from the kernel (SO_PEERCRED, SO_PEERGROUPS). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "proto.h"

struct sd_event;
struct control;

struct control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool admin; /* uid 0, or the admin group among its groups */
	int fd; /* the connection (control_peer_present) */
};

/* Handle one decoded request; return the reply JSON text (malloc'd) in ret. */
typedef int (*control_handler)(void *userdata, const struct qos_request *req,
			       const struct control_peer *peer, char **ret);

/* Create the socket at path (its directory made 0755 root-owned if missing; refused if the
 * directory or an existing path is a symlink or writable by others). Socket mode 0660, group
 * admin_gid when have_admin (else 0600). */
int control_new(struct sd_event *e, const char *path, bool have_admin, gid_t admin_gid,
		control_handler h, void *userdata, struct control **ret);
void control_free(struct control *c);

/* Credential rule, exported for tests: uid 0 or admin_gid among gid/groups. */
bool control_peer_is_admin(uid_t uid, gid_t gid, const gid_t *groups, size_t n, bool have_admin,
			   gid_t admin_gid);

/* Is the process that connected (peer->pid) still there, the same one? Call after reading its
 * /proc/PID files: true means the pid was not reused in between. Proof: its pidfd (SO_PEERPIDFD,
 * Linux 6.5), else its end of the connection still open (the hook has no children). */
bool control_peer_present(const struct control_peer *peer);

/* A reply {"ok":false,"error":msg}. */
char *control_error_reply(const char *msg);
