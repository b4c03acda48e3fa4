/* SPDX-License-Identifier: MIT */
/* qos-hook: OCI runtime hook. createRuntime / prestart: register the container with qosd;
 * poststop: unregister it. A plain form serves orchestrators with hooks of their own.
 *
 * This is the fast path, run on every container start: the arguments, the state on stdin, one
 * request over qosd's socket. It links jansson and libc alone. When qosd does not answer, it
 * execs qos-hook-apply (same pid, same deadline, the state it read handed over in a memfd),
 * which applies the limits from the policy files and leaves a record qosd adopts at start.
 * Never forks: nothing is left behind when the runtime's timeout kills it. */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "config.h"
#include "hook-args.h"
#include "jsonw.h"
#include "proto.h"

/* time kept back from the qosd call so that applying the limits ourselves still fits */
#define FALLBACK_RESERVE_USEC 500000ULL

#ifndef QOSD_LIBEXECDIR
#define QOSD_LIBEXECDIR "/usr/local/libexec/qosd"
#endif

#define say hook_say
#define refuse hook_refuse

/* ---- talking to qosd ---- */

/* 1: qosd answered with *ret; 0: qosd is not there or does not answer (*ret_why); < 0: we may
 * not talk to it (said). */
static int call_qosd(struct hook_args *a, const char *req, json_t **ret, char **ret_why)
{
	const char *sock = a->socket ?: QOSD_SOCKET;
	uint64_t now = now_usec(), left = a->deadline > now ? a->deadline - now : 0;
	uint64_t budget = left - MIN(left / 4, FALLBACK_RESERVE_USEC);
	_cleanup_free_ char *reply = NULL;
	json_error_t e;
	int r = proto_call(sock, req, (int) MAX(budget / 1000, 50), &reply);

	if (r == -EACCES || r == -EPERM || r == -ENAMETOOLONG)
		return refuse(a, "cannot talk to qosd on %s: %s", sock, strerror(-r));
	if (r < 0) {
		*ret_why = strdup(strerror(-r));
		return 0;
	}
	*ret = json_loads(reply, 0, &e);
	if (!*ret || !json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		*ret_why = strdup(*reply ? "its reply is not JSON" : "it closed the connection");
		return 0;
	}
	return 1;
}

static int reply_result(struct hook_args *a, json_t *reply, const char *what)
{
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	return refuse(a, "qosd refused to %s it: %s", what,
		      json_string_value(json_object_get(reply, "error")) ?: "no reason given");
}

/* The runtime's other annotations, for the tenants' [claim] rules (qosd keeps those they name). */
/* The request as jansson's json_dumps(JSON_COMPACT) wrote it, without a json_t tree (jsonw.h) */
static char *request(struct hook_args *a, const char *cmd)
{
	const struct oci_state *st = &a->st;
	struct textbuf b = { 0 };
	bool first = true;

	textbuf_put(&b, "{", 1);
	jsonw_member_str(&b, &first, "cmd", cmd);
	jsonw_member_str(&b, &first, "id", st->id);
	if (a->act == ACT_REGISTER) {
		jsonw_member_int(&b, &first, "pid", st->pid);
		if (st->tenant)
			jsonw_member_str(&b, &first, "tenant", st->tenant);
		if (st->cls)
			jsonw_member_str(&b, &first, "class", st->cls);
		if (st->disk_dir)
			jsonw_member_str(&b, &first, "dir", st->disk_dir);
		if (st->bundle)
			jsonw_member_str(&b, &first, "bundle", st->bundle);
		jsonw_member_kv(&b, &first, "annotations", st->annotations, st->n_annotations);
	}
	textbuf_put(&b, "}", 1);
	if (b.failed || !st->id) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- qosd not answering: qos-hook-apply ---- */

/* The applier beside this program (a build tree, a relocated install), else LIBEXECDIR's. Opened
 * once and checked on the fd it is run from: a regular file no one but root (or our owner) may
 * write. */
static int open_applier(char **ret_path)
{
	_cleanup_free_ char *self = NULL, *near = NULL;
	ssize_t n;
	struct stat sb;
	int fd = -1;

	self = calloc(1, PATH_MAX);
	if (self && (n = readlink("/proc/self/exe", self, PATH_MAX - 1)) > 0 && self[0] == '/') {
		self[n] = 0;
		*strrchr(self, '/') = 0;
		near = strprintf("%s/" HOOK_APPLY_NAME, self);
		if (near)
			fd = open(near, O_RDONLY | O_CLOEXEC);
	}
	if (fd >= 0)
		*ret_path = TAKE_PTR(near);
	else {
		*ret_path = strdup(QOSD_LIBEXECDIR "/" HOOK_APPLY_NAME);
		fd = open(QOSD_LIBEXECDIR "/" HOOK_APPLY_NAME, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return negative_errno();
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 022) ||
	    (sb.st_uid != 0 && sb.st_uid != geteuid())) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* The state we read, as stdin for the applier (which reads and checks it again). */
static int state_as_stdin(struct hook_args *a)
{
	int fd;

	if (a->plain)
		return 0;
	fd = memfd_create("qos-hook-state", MFD_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (write_all(fd, a->raw, a->raw_len) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    dup2(fd, STDIN_FILENO) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

/* Only returns on failure (said): the container must not start unlimited. */
static int exec_applier(struct hook_args *a, int argc, char **argv, const char *why)
{
	_cleanup_free_ char *path = NULL,
			    *deadline = strprintf("%llu", (unsigned long long) a->deadline);
	_cleanup_free_ char **args = calloc(argc + 6, sizeof(char *));
	int fd = open_applier(&path), r;

	if (fd < 0) {
		r = fd;
		goto fail;
	}
	if (!deadline || !args) {
		r = -ENOMEM;
		goto fail;
	}
	args[0] = (char *) HOOK_APPLY_NAME;
	args[1] = (char *) "--fallback-why";
	args[2] = (char *) why;
	args[3] = (char *) "--fallback-deadline";
	args[4] = deadline;
	for (int i = 1; i < argc; i++)
		args[4 + i] = argv[i];
	r = state_as_stdin(a);
	if (r >= 0) {
		fflush(NULL);
		fexecve(fd, args, environ);
		r = negative_errno();
	}
fail:
	if (fd >= 0)
		close(fd);
	return refuse(a,
		      "qosd does not answer on %s (%s), and its fallback %s cannot run (%s): not "
		      "starting the container unlimited",
		      a->socket ?: QOSD_SOCKET, why, path ?: HOOK_APPLY_NAME, strerror(-r));
}

/* ---- the two actions ---- */

static bool pid_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static int run(struct hook_args *a, int argc, char **argv)
{
	_cleanup_free_ char *req = NULL, *why = NULL;
	json_auto_t *reply = NULL;
	bool reg = a->act == ACT_REGISTER;
	int r;

	if (reg && a->st.pid <= 0)
		return refuse(a, "the state has no pid: run qos-hook at createRuntime or prestart");
	if (reg && !pid_exists((pid_t) a->st.pid))
		return refuse(a, "pid %lld does not exist", (long long) a->st.pid);
	req = request(a, reg ? "register" : "unregister");
	if (!req)
		return -ENOMEM;
	r = call_qosd(a, req, &reply, &why);
	if (r > 0)
		return reply_result(a, reply, reg ? "register" : "unregister");
	if (r < 0)
		return r;
	return exec_applier(a, argc, argv, why ?: "?");
}

/* jansson seeds its hash (keys of a hostile state) from /dev/urandom, open + read + close, at
 * its first object; one getrandom does the same (a failure leaves jansson to its own way) */
static void seed_json(void)
{
	uint32_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed) && seed)
		json_object_seed(seed);
}

int main(int argc, char **argv)
{
	struct hook_args a = { 0 };
	int r = hook_parse_argv(argc, argv, &a, false);

	if (r <= 0) {
		if (r < 0)
			fprintf(stderr, "qos-hook: usage error; see qos-hook --help\n");
		return r < 0 ? 2 : 0;
	}
	/* a backstop: whatever blocks, the runtime gets an answer (the hook has no children); it
	 * stays armed across the exec of the applier */
	alarm((unsigned) (a.timeout_usec / 1000000) + 2);
	seed_json();
	r = hook_load_state(&a);
	if (r >= 0)
		r = run(&a, argc, argv);
	hook_args_done(&a);
	return r < 0 ? 1 : 0;
}
