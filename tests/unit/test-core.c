/* Unit tests for the daemon's core pieces that need no root: id and path validation, the control
 * protocol decoder (the state records: test-registry.c), cgroup-name ids, the
 * peer-credential rule, a registering peer still being itself, and the watcher's nested globs on a temporary directory tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <jansson.h>

#include "qosd/control.h"
#include "qosd/jsonw.h"
#include "qosd/manager-internal.h"
#include "qosd/manager.h"
#include "qosd/proto.h"
#include "qosd/registry.h"
#include "qosd/util.h"
#include "qosd/watch.h"
#include "tests/unit/testlib.h"

/* n bytes of 'x' through a pipe, read back with read_fd_full(max) */
static int read_pipe(size_t n, size_t max, uint64_t deadline, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *data = malloc(n);
	int p[2], r;

	assert_non_null(data);
	memset(data, 'x', n);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int) n, 1);
	assert_int_equal(write(p[1], data, n), (ssize_t) n);
	close(p[1]);
	r = read_fd_full(p[0], max, deadline, ret, ret_len);
	close(p[0]);
	return r;
}

/* The one growing-buffer reader: exactly max bytes fit, one more is -EFBIG, the buffer grows
 * past its first size, and it is NUL-terminated; with a deadline it gives up on a silent fd. */
static void test_read_fd_full(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	int p[2];
	uint64_t t0;

	assert_int_equal(read_pipe(5000, 5000, 0, &buf, &len), 0);
	assert_int_equal(len, 5000);
	assert_int_equal(strlen(buf), 5000);
	free(buf);
	buf = NULL;
	assert_int_equal(read_pipe(5001, 5000, 0, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_pipe(0, 10, now_usec() + 1000000, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	buf = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	t0 = now_usec();
	assert_int_equal(read_fd_full(p[0], 10, t0 + 20000, &buf, &len), -ETIMEDOUT);
	assert_true(now_usec() >= t0 + 20000); /* never before the deadline */
	assert_int_equal(fd_wait(p[1], POLLOUT, now_usec() + 20000), 0);
	close(p[0]);
	close(p[1]);
}

static void test_name_validate(void **state)
{
	char long_id[300];

	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	assert_int_equal(name_validate("web-1", ID_MAX), 0);
	assert_int_equal(name_validate("a.b+c_d", ID_MAX), 0);
	assert_int_equal(name_validate("..", ID_MAX), -EINVAL);
	assert_int_equal(name_validate(".", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("../x", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("a/b", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("release_agent", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("notify_on_release", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("tasks", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("cgroup.procs", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("memory.limit_in_bytes", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("-x", ID_MAX), -EINVAL);
	assert_int_equal(name_validate("", ID_MAX), -EINVAL);
	assert_int_equal(name_validate(long_id, ID_MAX), -EINVAL);
}

static void test_cgpath_validate(void **state)
{
	assert_int_equal(cgpath_validate("/"), 0);
	assert_int_equal(cgpath_validate("/a/b.scope"), 0);
	assert_int_equal(cgpath_validate("a/b"), -EINVAL);
	assert_int_equal(cgpath_validate("/a/../b"), -EINVAL);
	assert_int_equal(cgpath_validate("/.."), -EINVAL);
	assert_int_equal(cgpath_validate("/a//b"), -EINVAL);
	assert_int_equal(cgpath_validate("/a/"), -EINVAL);
	assert_int_equal(cgpath_validate("/a/\nb"), -EINVAL);
	/* UTF-8 only: one record the state cannot write as JSON held back every later save */
	assert_int_equal(cgpath_validate("/k8s/caf\xc3\xa9.scope"), 0);
	assert_int_equal(cgpath_validate("/k8s/caf\xe9.scope"), -EINVAL);
	assert_int_equal(cgpath_validate("/a/\xc3"), -EINVAL);
	assert_int_equal(cgpath_validate("/a/\xed\xa0\x80"), -EINVAL); /* a surrogate */
}

static int decode(const char *s, struct qos_request *r, char **err)
{
	*err = NULL;
	return proto_decode_request(s, strlen(s), r, err);
}

static void test_proto_good(void **state)
{
	struct qos_request r;
	char *err;

	assert_int_equal(decode("{\"cmd\":\"list\"}", &r, &err), 0);
	assert_int_equal(r.cmd, CMD_LIST);
	proto_request_done(&r);
	assert_int_equal(
		decode("{\"cmd\":\"set\",\"id\":\"c1\",\"args\":[\"memory.limit=1G\"]}", &r, &err),
		0);
	assert_int_equal(r.cmd, CMD_SET);
	assert_string_equal(r.id, "c1");
	assert_int_equal(r.n_args, 1);
	assert_string_equal(r.args[0], "memory.limit=1G");
	assert_true(proto_cmd_privileged(r.cmd));
	proto_request_done(&r);
	assert_int_equal(decode("{\"cmd\":\"register\",\"id\":\"c1\",\"pid\":42,\"tenant\":\"t\","
				"\"class\":\"gold\"}",
				&r, &err),
			 0);
	assert_int_equal(r.pid, 42);
	proto_request_done(&r);
}

static void expect_refused(const char *req, const char *words)
{
	struct qos_request r;
	char *err = NULL;

	assert_int_equal(proto_decode_request(req, strlen(req), &r, &err), -EINVAL);
	assert_non_null(err);
	if (!strstr(err, words))
		fail_msg("request %s: error \"%s\" lacks \"%s\"", req, err, words);
	free(err);
}

/* The flat decoder (proto.h) answers for what qos-hook and qosctl send, the same as jansson's;
 * every other text it leaves to jansson (0), which then decides. */
static void expect_flat(const char *req, int want)
{
	int k = proto_decode_compare(req, strlen(req));

	if (k != want)
		fail_msg("%s: flat decoder %d, want %d (-EPROTO: jansson's answer differs)", req, k,
			 want);
}

static void test_proto_flat(void **state)
{
	expect_flat("{\"cmd\":\"register\",\"id\":\"qa-1\",\"cgroup\":\"/b/qa-1\",\"pid\":4242,"
		    "\"tenant\":\"bench\",\"class\":\"std\"}",
		    1);
	expect_flat(" {\t\"cmd\" : \"unregister\" ,\"id\":\"qa-1\"}\r\n", 1);
	expect_flat("{\"cmd\":\"unset\",\"id\":\"x\",\"all\":true,\"dir\":null}", 1);
	expect_flat("{\"cmd\":\"list\"}", 1);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":4194304}", 1);
	/* refused by the same checks, with the same words */
	expect_flat("{\"cmd\":\"show\",\"id\":\"../x\"}", -EINVAL);
	expect_flat("{\"cmd\":\"show\"}", -EINVAL);
	expect_flat("{\"cmd\":\"register\",\"id\":\"c\"}", -EINVAL);
	expect_flat("{\"cmd\":\"register\",\"id\":\"c\",\"tenant\":\"-x\",\"pid\":1}", -EINVAL);
	/* jansson's to decide */
	expect_flat("{\"cmd\":\"show\",\"id\":\"a\\u0062\"}", 0);
	expect_flat("{\"cmd\":\"show\",\"id\":\"x\",\"id\":\"y\"}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":0}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":012}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":4194305}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":1.5}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":1e3}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"pid\":-1}", 0);
	expect_flat("{\"cmd\":\"register\",\"id\":\"x\",\"tenant\":"
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"pid\":1}",
		    0);
	expect_flat("{\"cmd\":\"set\",\"id\":\"x\",\"args\":[\"pids.limit=1\"]}", 0);
	expect_flat("{\"cmd\":\"show\",\"id\":\"x\",\"other\":1}", 0);
	expect_flat("{\"cmd\":\"show\",\"id\":\"x\"}x", 0);
	expect_flat("{\"cmd\":\"show\",\"id\":\"x\",}", 0);
	expect_flat("{\"cmd\":\"show\",\"id\":\"\xc3\xa9\"}", 0);
	expect_flat("{\"cmd\":\"unset\",\"id\":\"x\",\"all\":truex}", 0);
	expect_flat("{\"cmd\":null,\"id\":\"x\"}", 0);
	expect_flat("{\"cmd\":\"format-disk\"}", 0);
	expect_flat("{}", 0);
	expect_flat("", 0);
}

static void test_proto_hostile(void **state)
{
	char big[PROTO_REQUEST_MAX + 10];

	memset(big, ' ', sizeof(big));
	expect_refused("not json", "not a JSON object");
	expect_refused("[1,2]", "not a JSON object");
	expect_refused("{\"cmd\":\"format-disk\"}", "unknown command");
	expect_refused("{\"cmd\":\"show\"}", "needs a container id");
	expect_refused("{\"cmd\":\"show\",\"id\":\"../x\"}", "invalid container id");
	expect_refused("{\"cmd\":\"show\",\"id\":\"release_agent\"}", "invalid container id");
	expect_refused("{\"cmd\":\"show\",\"id\":5}", "malformed field");
	expect_refused("{\"cmd\":\"register\",\"id\":\"c\",\"cgroup\":\"/a/../b\"}",
		       "invalid cgroup path");
	expect_refused("{\"cmd\":\"register\",\"id\":\"c\",\"pid\":-1}", "process id");
	expect_refused("{\"cmd\":\"register\",\"id\":\"c\"}", "needs a cgroup or a pid");
	expect_refused("{\"cmd\":\"list\",\"cmd\":\"reload\"}", "not a JSON object");
	expect_refused("{\"cmd\":\"show\",\"id\":\"a\\u0000b\"}", "not allowed");
	{
		struct qos_request r;
		char *err = NULL;

		assert_int_equal(proto_decode_request(big, sizeof(big), &r, &err), -EINVAL);
		assert_non_null(strstr(err, "too large"));
		free(err);
	}
}

static void test_container_id_from_cgroup(void **state)
{
	static const struct {
		const char *path, *id;
	} cases[] = {
		{ "/system.slice/docker-0123abcd.scope", "0123abcd" },
		{ "/kubepods.slice/x/y/cri-containerd-feed42.scope", "feed42" },
		{ "/machine.slice/libpod-c0ffee.scope", "c0ffee" },
		{ "/crio-77.scope", "77" },
		{ "/docker/5678", "5678" },
		{ "/demo/gold-1", "gold-1" },
	};
	char *id;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		assert_int_equal(container_id_from_cgroup(cases[i].path, &id), 0);
		assert_string_equal(id, cases[i].id);
		free(id);
	}
	assert_int_equal(container_id_from_cgroup("/x/release_agent", &id), -EINVAL);
	assert_int_equal(container_id_from_cgroup("/x/tasks", &id), -EINVAL);
}

static void test_peer_admin(void **state)
{
	gid_t groups[] = { 5, 27, 1001 };

	assert_true(control_peer_is_admin(0, 0, NULL, 0, false, 0));
	assert_false(control_peer_is_admin(1000, 1000, groups, 3, false, 0));
	assert_true(control_peer_is_admin(1000, 1000, groups, 3, true, 27));
	assert_true(control_peer_is_admin(1000, 27, NULL, 0, true, 27));
	assert_false(control_peer_is_admin(1000, 1000, groups, 3, true, 28));
}

/* The registering process is still the one that connected: its end open (the hook shuts only its
 * writing side down), and, where the kernel has SO_PEERPIDFD, the process itself, even when a
 * child it left behind keeps the connection open. */
static void test_peer_present(void **state)
{
	struct control_peer p = { .pid = getpid() };
	int sv[2], fds[2], pidfd = -1;
	socklen_t len = sizeof(pidfd);
	char c;
	pid_t child;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p.fd = sv[0];
	assert_true(control_peer_present(&p));
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	assert_true(control_peer_present(&p));
	close(sv[1]);
	assert_false(control_peer_present(&p)); /* it closed: it exited */
	p.pid = 0;
	assert_false(control_peer_present(&p)); /* a pid qosd cannot see */
	close(sv[0]);

	/* a child connects (so the child is the peer), leaves a grandchild holding its end and
	 * exits; reaped, its pid may be reused */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	salen = offsetof(struct sockaddr_un, sun_path) + 1 +
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "qosd-test-%d-peer",
			 (int) getpid());
	assert_int_equal(bind(l, (struct sockaddr *) &sa, salen), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (s < 0 || connect(s, (struct sockaddr *) &sa, salen) < 0)
			_exit(1);
		if (fork() == 0) {
			/* holds s until the test writes or ends (EOF), whichever comes first */
			close(fds[1]);
			(void) !read(fds[0], &c, 1);
			_exit(0);
		}
		_exit(0);
	}
	p.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(p.fd >= 0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	p.pid = child;
	if (getsockopt(p.fd, SOL_SOCKET, 77 /* SO_PEERPIDFD */, &pidfd, &len) < 0 &&
	    errno == ENOPROTOOPT)
		print_message("SKIP: peer_present: no SO_PEERPIDFD before Linux 6.5: an exited "
			      "peer whose child holds its end counts as present\n");
	else
		assert_false(control_peer_present(&p));
	if (pidfd >= 0)
		close(pidfd);
	assert_int_equal(write(fds[1], "x", 1), 1);
	close(p.fd);
	close(l);
	close(fds[0]);
	close(fds[1]);
	while (wait(NULL) > 0)
		;
}

static char tmpdir[64];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/qosd-test-%d-core.XXXXXX", (int) getpid());
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

struct seen {
	char paths[16][128];
	bool created[16];
	int n;
};

static void on_path(void *userdata, const char *cgpath, bool created)
{
	struct seen *s = userdata;

	if (s->n < 16) {
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", cgpath);
		s->created[s->n++] = created;
	}
}

static void mk(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s%s", tmpdir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void drain(struct watch *w)
{
	struct pollfd pfd = { .fd = watch_fd(w), .events = POLLIN };

	while (poll(&pfd, 1, 100) > 0)
		assert_int_equal(watch_process(w), 0);
}

static void test_watch_nested_globs(void **state)
{
	const char *globs[] = { "/kube/*/*/ctr-*.scope", "/flat/c-*" };
	struct seen s = { 0 };
	struct watch *w;
	char p[256];

	mk("/kube");
	mk("/kube/pod1");
	mk("/kube/pod1/burstable");
	mk("/kube/pod1/burstable/ctr-early.scope"); /* exists before: found by the scan */
	mk("/flat");
	assert_int_equal(watch_new(tmpdir, on_path, &s, &w), 0);
	assert_int_equal(watch_set_globs(w, globs, 2), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.paths[0], "/kube/pod1/burstable/ctr-early.scope");
	mk("/kube/pod2");
	mk("/kube/pod2/besteffort");
	mk("/kube/pod2/besteffort/ctr-new.scope");
	mk("/kube/pod2/besteffort/other");
	mk("/flat/c-1");
	mk("/flat/d-1");
	drain(w);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.paths[1], "/kube/pod2/besteffort/ctr-new.scope");
	assert_string_equal(s.paths[2], "/flat/c-1");
	snprintf(p, sizeof(p), "%s/flat/c-1", tmpdir);
	assert_int_equal(rmdir(p), 0);
	drain(w);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.paths[3], "/flat/c-1");
	assert_false(s.created[3]);
	watch_free(w);
}

/* The heap trim is decided on two counters, O(1) whatever the heap holds: due once 1000 units of
 * work (containers reconciled, KiB of replies and metrics pages) were done since it last was,
 * then counted from zero again. */
static void test_trim_due(void **state)
{
	struct manager m = { 0 };

	assert_false(manager_trim_due(&m));
	m.counters.reconciles = 999;
	assert_false(manager_trim_due(&m));
	m.trim_kib = 1;
	assert_true(manager_trim_due(&m));
	assert_int_equal(m.trim_kib, 0);
	assert_false(manager_trim_due(&m));
	m.counters.reconciles += 500;
	m.trim_kib = 499;
	assert_false(manager_trim_due(&m));
	m.trim_kib = 6500; /* one scrape of 10,000 containers: 6.5 MB */
	assert_true(manager_trim_due(&m));
	assert_false(manager_trim_due(&m));
}

/* jsonw_string against jansson's own dump of the same string (jsonw.h: byte for byte), and a
 * string jansson refuses (not UTF-8) fails the buffer */
static void check_jsonw(const char *s)
{
	json_auto_t *j = json_string(s);
	_cleanup_free_ char *want = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	struct textbuf b = { 0 };

	jsonw_string(&b, s);
	if (!j && !b.failed)
		fail_msg("jansson refuses %s, jsonw wrote %s", s, b.p);
	if (j && (b.failed || !streq(want, b.p)))
		fail_msg("jansson wrote %s, jsonw %s", want, b.failed ? "(failed)" : b.p);
	free(b.p);
}

static void test_jsonw_like_jansson(void **state)
{
	static const char *const cases[] = {
		"",	"plain",    "a\"b\\c/d",	"\b\f\n\r\t\x01\x1f\x7f",
		"é€𝄞",	"\xc0\x80", "\xed\xa0\x80",	"\xf4\x90\x80\x80",
		"\x80", "\xe2\x82", "\xf5\x80\x80\x80",
	};
	static const unsigned char last[] = { 0x01, 0x20, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xff };
	unsigned char s[5] = { 0 };
	struct textbuf b = { 0 };
	bool first = true;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_jsonw(cases[i]);
	/* every string of one and two bytes */
	for (int x = 1; x < 256; x++)
		for (int y = 0; y < 256; y++) {
			s[0] = x;
			s[1] = y;
			s[2] = 0;
			check_jsonw((const char *) s);
		}
	/* the lead bytes of 3 and 4, every second byte, the edges of the others */
	for (int x = 0xe0; x < 0x100; x++)
		for (int y = 1; y < 256; y++)
			for (size_t z = 0; z < ELEMENTSOF(last); z++)
				for (size_t w = 0; w < ELEMENTSOF(last); w++) {
					s[0] = x;
					s[1] = y;
					s[2] = last[z];
					s[3] = x >= 0xf0 ? last[w] : 0;
					check_jsonw((const char *) s);
				}
	/* members, as json_dumps(JSON_COMPACT) of an object built in this order */
	textbuf_put(&b, "{", 1);
	jsonw_member_str(&b, &first, "id", "a");
	jsonw_member_str(&b, &first, "n", NULL);
	jsonw_member_int(&b, &first, "pid", -42);
	jsonw_member_int(&b, &first, "z", 0);
	jsonw_member_int(&b, &first, "min", INT64_MIN);
	jsonw_member_int(&b, &first, "max", INT64_MAX);
	jsonw_member_bool(&b, &first, "ok", true);
	jsonw_member_bool(&b, &first, "no", false);
	textbuf_put(&b, "}", 1);
	assert_false(b.failed);
	assert_string_equal(b.p, "{\"id\":\"a\",\"n\":null,\"pid\":-42,\"z\":0,"
				 "\"min\":-9223372036854775808,\"max\":9223372036854775807,"
				 "\"ok\":true,\"no\":false}");
	free(b.p);
}

/* "K=V" lists as an object (annotations), and a key cut at its '=': a multibyte sequence may not
 * run past the cut */
static void test_jsonw_kv(void **state)
{
	char *kv[] = { (char *) "io.k/x=v\\w", (char *) "b=", (char *) "c=d=e" };
	char *bad[] = { (char *) "noequals" };
	struct textbuf b = { 0 };
	bool first = true;

	textbuf_put(&b, "{", 1);
	jsonw_member_kv(&b, &first, "none", kv, 0);
	jsonw_member_kv(&b, &first, "a", kv, ELEMENTSOF(kv));
	textbuf_put(&b, "}", 1);
	assert_false(b.failed);
	assert_string_equal(b.p, "{\"a\":{\"io.k/x\":\"v\\\\w\",\"b\":\"\",\"c\":\"d=e\"}}");
	free(b.p);
	b = (struct textbuf){ 0 };
	jsonw_string_n(&b, "x\xc3\xa9", 2);
	assert_true(b.failed);
	free(b.p);
	b = (struct textbuf){ 0 };
	first = true;
	jsonw_member_kv(&b, &first, "a", bad, 1);
	assert_true(b.failed);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_fd_full),
		cmocka_unit_test(test_name_validate),
		cmocka_unit_test(test_cgpath_validate),
		cmocka_unit_test(test_jsonw_kv),
		cmocka_unit_test(test_proto_good),
		cmocka_unit_test(test_proto_hostile),
		cmocka_unit_test(test_proto_flat),
		cmocka_unit_test(test_container_id_from_cgroup),
		cmocka_unit_test(test_peer_admin),
		cmocka_unit_test(test_peer_present),
		cmocka_unit_test(test_trim_due),
		cmocka_unit_test(test_jsonw_like_jansson),
		cmocka_unit_test_setup_teardown(test_watch_nested_globs, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
