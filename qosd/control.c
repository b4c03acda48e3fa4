/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <systemd/sd-event.h>

#include "control.h"
#include "log.h"
#include "util.h"

#define CONN_TIMEOUT_USEC (5 * 1000000ULL)
#define CONN_MAX 64
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

struct control {
	sd_event *event;
	sd_event_source *listen_src;
	int fd;
	char *path;
	bool have_admin;
	gid_t admin_gid;
	control_handler handler;
	void *userdata;
	unsigned n_conns;
};

struct conn {
	struct control *ctl;
	sd_event_source *io, *timer;
	int fd;
	char *buf;
	size_t len;
	char *out;
	size_t out_len, out_off;
};

bool control_peer_is_admin(uid_t uid, gid_t gid, const gid_t *groups, size_t n, bool have_admin,
			   gid_t admin_gid)
{
	if (uid == 0)
		return true;
	if (!have_admin)
		return false;
	if (gid == admin_gid)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == admin_gid)
			return true;
	return false;
}

bool control_peer_present(const struct control_peer *peer)
{
	struct pollfd p = { .fd = peer->fd };
	_cleanup_close_ int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	if (peer->pid <= 0 || poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR)))
		return false;
	/* before 6.5: ENOPROTOOPT, and the open connection is the proof; a peer that exited: EINVAL
	 * or ESRCH */
	if (getsockopt(peer->fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		return errno == ENOPROTOOPT;
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

char *control_error_reply(const char *msg)
{
	json_auto_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", msg ? msg : "error");

	return o ? json_dumps(o, JSON_COMPACT) : NULL;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c->out);
	c->ctl->n_conns--;
	free(c);
}

static int peer_of(int fd, bool have_admin, gid_t admin_gid, struct control_peer *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];
	socklen_t glen = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return negative_errno();
	/* root is admin, and without an admin group no group counts: no need for the list */
	if (cred.uid == 0 || !have_admin)
		glen = 0;
	else if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) < 0)
		glen = 0; /* too many groups or an old kernel: primary gid only */
	ret->pid = cred.pid;
	ret->uid = cred.uid;
	ret->gid = cred.gid;
	ret->fd = fd;
	ret->admin = control_peer_is_admin(cred.uid, cred.gid, groups, glen / sizeof(gid_t),
					   have_admin, admin_gid);
	return 0;
}

static char *dispatch(struct conn *c, const char *buf, size_t n)
{
	struct control_peer peer;
	struct qos_request req = { 0 };
	_cleanup_free_ char *err = NULL;
	char *reply = NULL;
	int r;

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	r = peer_of(c->fd, c->ctl->have_admin, c->ctl->admin_gid, &peer);
	if (r < 0)
		return control_error_reply("cannot read the peer's credentials");
	r = proto_decode_request(buf, n, &req, &err);
	if (r < 0)
		return control_error_reply(err ? err : "malformed request");
	if (proto_cmd_privileged(req.cmd) && !peer.admin) {
		log_notice("refused \"%s\" from uid %u (pid %d): not root or the admin group",
			   proto_cmd_name(req.cmd), (unsigned) peer.uid, (int) peer.pid);
		proto_request_done(&req);
		return control_error_reply(
			"permission denied: changing qosd's state takes root or the admin group");
	}
	r = c->ctl->handler(c->ctl->userdata, &req, &peer, &reply);
	proto_request_done(&req);
	if (r < 0 || !reply) {
		free(reply);
		return control_error_reply("internal error");
	}
	return reply;
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	conn_free(userdata);
	return 0;
}

/* The connection waits for the peer (more of the request, room for the reply): only now does it
 * get an event source and its timeout. A request that came whole with the connection is answered
 * at once, without either (no epoll_ctl, no timer re-armed per request). */
static void conn_wait(struct conn *c, uint32_t events)
{
	int r = 0;

	if (c->io)
		r = sd_event_source_set_io_events(c->io, events);
	else {
		r = sd_event_add_io(c->ctl->event, &c->io, c->fd, events, on_conn_io, c);
		if (r >= 0)
			r = sd_event_add_time_relative(c->ctl->event, &c->timer, CLOCK_MONOTONIC,
						       CONN_TIMEOUT_USEC, 0, on_conn_timeout, c);
	}
	if (r < 0)
		conn_free(c);
}

static void conn_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN)
				conn_wait(c, EPOLLOUT);
			else
				conn_free(c);
			return;
		}
		c->out_off += n;
	}
	conn_free(c);
}

static void conn_reply(struct conn *c, char *reply)
{
	size_t len = reply ? strlen(reply) : 0;
	char *out = reply ? realloc(reply, len + 2) : NULL;

	if (!out) {
		free(reply);
		conn_free(c);
		return;
	}
	memcpy(out + len, "\n", 2);
	c->out = out;
	c->out_len = len + 1;
	conn_write(c);
}

/* Read what the peer sent; answer once a line (or the end) is there, else wait for more. */
static void conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->len >= PROTO_REQUEST_MAX + 1) {
			conn_reply(c, control_error_reply("request too large"));
			return;
		}
		n = recv(c->fd, c->buf + c->len, PROTO_REQUEST_MAX + 1 - c->len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN)
				conn_wait(c, EPOLLIN);
			else
				conn_free(c);
			return;
		}
		c->len += n;
		if (n == 0 || memchr(c->buf + c->len - n, '\n', n)) {
			conn_reply(c, dispatch(c, c->buf, c->len));
			return;
		}
	}
}

/* The first read of a connection, into a buffer on the stack: a request that came whole (a
 * register: a few hundred bytes) is answered from it; the connection's own buffer of
 * PROTO_REQUEST_MAX (a malloc large enough to make glibc consolidate its free lists, issue 16)
 * only for one that comes in pieces. */
static void conn_first_read(struct conn *c)
{
	char first[4096];
	ssize_t n = recv(c->fd, first, sizeof(first), MSG_DONTWAIT);

	if (n == 0 || (n > 0 && memchr(first, '\n', n))) {
		conn_reply(c, dispatch(c, first, n));
		return;
	}
	if (n < 0 && errno != EAGAIN) {
		conn_free(c);
		return;
	}
	if (!(c->buf = malloc(PROTO_REQUEST_MAX + 2))) {
		conn_free(c);
		return;
	}
	if (n < 0) { /* nothing yet: wait for it, without a second recv now */
		conn_wait(c, EPOLLIN);
		return;
	}
	memcpy(c->buf, first, n);
	c->len = n;
	conn_read(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;

	if (c->out)
		conn_write(c);
	else
		conn_read(c);
	return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct control *ctl = userdata;
	struct conn *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (cfd < 0)
		return 0;
	if (ctl->n_conns >= CONN_MAX) {
		close(cfd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->ctl = ctl;
	c->fd = cfd;
	ctl->n_conns++;
	conn_first_read(c);
	return 0;
}

/* The socket's directory must be a real directory, owned by root (or us), not writable by
 * others: anyone who can write it could swap the socket for their own. */
static int check_dir(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	struct stat st;

	if (!dir)
		return -ENOMEM;
	if (!slash)
		return 0;
	*slash = 0;
	if (!*dir)
		return 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "cannot create the socket directory %s", dir);
	if (lstat(dir, &st) < 0)
		return log_error_errno(errno, "cannot stat the socket directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(ENOTDIR,
				       "socket directory %s is not a directory (a symlink?)", dir);
	if (st.st_uid != geteuid() || (st.st_mode & S_IWOTH && !(st.st_mode & S_ISVTX)))
		return log_error_errno(EPERM,
				       "socket directory %s is not owned by uid %u or is "
				       "writable by others",
				       dir, (unsigned) geteuid());
	return 0;
}

static int check_path(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : log_error_errno(errno, "cannot stat %s", path);
	if (!S_ISSOCK(st.st_mode))
		return log_error_errno(EEXIST,
				       "%s exists and is not a socket (a symlink?); refusing "
				       "to replace it",
				       path);
	if (unlink(path) < 0)
		return log_error_errno(errno, "cannot remove the old socket %s", path);
	return 0;
}

static int bind_socket(struct control *ctl, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0)
		return negative_errno();
	old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *) &sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return log_error_errno(errno, "cannot bind %s", path);
	if (ctl->have_admin &&
	    (chown(path, geteuid(), ctl->admin_gid) < 0 || chmod(path, 0660) < 0))
		return log_error_errno(errno, "cannot give %s to the admin group", path);
	if (listen(ctl->fd, 64) < 0)
		return negative_errno();
	return 0;
}

int control_new(struct sd_event *e, const char *path, bool have_admin, gid_t admin_gid,
		control_handler h, void *userdata, struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->fd = -1;
	ctl->event = e;
	ctl->have_admin = have_admin;
	ctl->admin_gid = admin_gid;
	ctl->handler = h;
	ctl->userdata = userdata;
	ctl->path = strdup(path);
	r = ctl->path ? check_dir(path) : -ENOMEM;
	if (r >= 0)
		r = check_path(path);
	if (r >= 0)
		r = bind_socket(ctl, path);
	if (r >= 0)
		r = sd_event_add_io(e, &ctl->listen_src, ctl->fd, EPOLLIN, on_accept, ctl);
	if (r < 0) {
		control_free(ctl);
		return r;
	}
	*ret = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	sd_event_source_disable_unref(ctl->listen_src);
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
}
