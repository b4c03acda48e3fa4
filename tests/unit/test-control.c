/* SPDX-License-Identifier: MIT */
/* The control socket's connections on a real sd-event loop and a temporary socket (no root): a
 * request that came whole with its connection (answered without an event source of its own), one
 * that comes in pieces, one ended by EOF, a reply larger than the socket buffer, a request too
 * large, and a connection that says nothing (closed after its timeout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-event.h>

#include "qosd/control.h"
#include "qosd/util.h"
#include "tests/unit/testlib.h"

struct fx {
	char dir[64], path[96];
	sd_event *e;
	struct control *ctl;
	int calls;
	size_t reply_len; /* 0: {"ok":true} */
};

static int handler(void *userdata, const struct qos_request *req, const struct control_peer *peer,
		   char **ret)
{
	struct fx *f = userdata;
	char *s;

	f->calls++;
	if (!f->reply_len) {
		*ret = strdup("{\"ok\":true}");
		return *ret ? 0 : -ENOMEM;
	}
	s = malloc(f->reply_len + 1);
	if (!s)
		return -ENOMEM;
	memset(s, 'a', f->reply_len);
	s[f->reply_len] = 0;
	*ret = s;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/qosd-test-%d-XXXXXX", (int) getpid());
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	if (sd_event_new(&f->e) < 0 ||
	    control_new(f->e, f->path, false, 0, handler, f, &f->ctl) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	control_free(f->ctl);
	sd_event_unref(f->e);
	tl_rm_tree(f->dir);
	free(f);
	return 0;
}

static int dial(const struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t) len);
}

/* Turns of the loop with nothing to wait for beyond 1 ms each. */
static void pump(struct fx *f, int turns)
{
	for (int i = 0; i < turns; i++)
		assert_true(sd_event_run(f->e, 1000) >= 0);
}

/* Everything the server sends until it closes, the loop turning in between. */
static size_t read_reply(struct fx *f, int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (int i = 0; i < 100000; i++) {
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);

		if (n == 0)
			return len;
		if (n > 0) {
			len += (size_t) n;
			assert_true(len < cap);
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		pump(f, 1);
	}
	fail_msg("no end of the reply after %zu bytes", len);
	return len;
}

/* The one reply of the handler's, then the end of the connection. */
static void expect_ok(struct fx *f, int fd)
{
	char buf[256];

	buf[read_reply(f, fd, buf, sizeof(buf))] = 0;
	assert_string_equal(buf, "{\"ok\":true}\n");
	close(fd);
}

static const char req[] = "{\"cmd\":\"list\"}\n";

static void test_whole(void **state)
{
	struct fx *f = *state;
	int fd = dial(f);

	send_all(fd, req, strlen(req));
	pump(f, 1); /* the accept: the request is there, answered in the same turn */
	assert_int_equal(f->calls, 1);
	expect_ok(f, fd);
}

static void test_pieces(void **state)
{
	struct fx *f = *state;
	int fd = dial(f);

	pump(f, 3); /* accepted with nothing to read yet: it waits */
	send_all(fd, req, 5);
	pump(f, 3);
	assert_int_equal(f->calls, 0);
	send_all(fd, req + 5, strlen(req) - 5);
	pump(f, 3);
	assert_int_equal(f->calls, 1);
	expect_ok(f, fd);
}

static void test_eof_ends_request(void **state)
{
	struct fx *f = *state;
	int fd = dial(f);

	send_all(fd, req, strlen(req) - 1); /* no newline: the end of the stream ends it */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_ok(f, fd);
	assert_int_equal(f->calls, 1);
}

/* 4 MiB: the socket takes a part, the rest goes as the peer reads (EPOLLOUT). */
static void test_big_reply(void **state)
{
	struct fx *f = *state;
	size_t cap = (4u << 20) + 16, len;
	_cleanup_free_ char *buf = malloc(cap);
	int fd = dial(f);

	assert_non_null(buf);
	f->reply_len = 4u << 20;
	send_all(fd, req, strlen(req));
	len = read_reply(f, fd, buf, cap);
	assert_int_equal(len, f->reply_len + 1);
	assert_int_equal(buf[0], 'a');
	assert_int_equal(buf[len - 2], 'a');
	assert_int_equal(buf[len - 1], '\n');
	close(fd);
}

static void test_too_large(void **state)
{
	struct fx *f = *state;
	size_t n = PROTO_REQUEST_MAX + 1;
	_cleanup_free_ char *big = malloc(n);
	char buf[256];
	int fd = dial(f);

	assert_non_null(big);
	memset(big, ' ', n);
	/* in pieces the socket buffer takes, the loop reading in between */
	for (size_t off = 0; off < n; off += 4096) {
		send_all(fd, big + off, MIN((size_t) 4096, n - off));
		pump(f, 2);
	}
	buf[read_reply(f, fd, buf, sizeof(buf))] = 0;
	assert_non_null(strstr(buf, "request too large"));
	assert_int_equal(f->calls, 0);
	close(fd);
}

/* A peer that connects and says nothing is closed after the connection timeout (5 s), not kept
 * (64 such would shut everyone out), and not before it. */
static void test_idle_closed(void **state)
{
	struct fx *f = *state;
	uint64_t start = now_usec(), end = start + 15 * 1000000ULL;
	struct pollfd p;
	int fd = dial(f);
	char c;

	pump(f, 2);
	for (;;) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		assert_true(poll(&p, 1, 0) >= 0);
		if (p.revents)
			break;
		if (now_usec() > end)
			fail_msg("an idle connection is still open after 15 s");
		assert_true(sd_event_run(f->e, 200 * 1000) >= 0);
	}
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0);
	assert_true(now_usec() - start >= 4 * 1000000ULL);
	assert_int_equal(f->calls, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_ends_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_closed, setup, teardown),
	};

	return cmocka_run_group_tests_name("control socket", tests, NULL, NULL);
}
