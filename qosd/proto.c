/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "proto.h"
#include "util.h"

static const char *const cmd_names[_CMD_MAX] = {
	[CMD_LIST] = "list",
	[CMD_SHOW] = "show",
	[CMD_SET] = "set",
	[CMD_UNSET] = "unset",
	[CMD_RELOAD] = "reload",
	[CMD_REGISTER] = "register",
	[CMD_UNREGISTER] = "unregister",
	[CMD_STATS] = "stats",
	[CMD_EXPLAIN] = "explain",
	[CMD_PLAN] = "plan",
};

const char *proto_cmd_name(enum qos_cmd c)
{
	return c < _CMD_MAX ? cmd_names[c] : "?";
}

bool proto_cmd_privileged(enum qos_cmd c)
{
	return c != CMD_LIST && c != CMD_SHOW && c != CMD_STATS && c != CMD_EXPLAIN;
}

void proto_request_done(struct qos_request *r)
{
	free(r->id);
	for (size_t i = 0; i < r->n_args; i++)
		free(r->args[i]);
	free(r->args);
	free(r->cgroup);
	free(r->tenant);
	free(r->cls);
	free(r->dir);
	free(r->bundle);
	strv_free_n(r->annotations, r->n_annotations);
	*r = (struct qos_request){ 0 };
}

/* Copy an optional string member; -EINVAL if present but not a string or too long. */
static int get_str(json_t *o, const char *key, size_t max, char **ret)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static int get_args(json_t *o, const char *key, struct qos_request *r)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > PROTO_ARGS_MAX)
		return -EINVAL;
	r->args = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!r->args)
		return -ENOMEM;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) > 4096 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return -EINVAL;
		r->args[r->n_args] = strdup(json_string_value(v));
		if (!r->args[r->n_args])
			return -ENOMEM;
		r->n_args++;
	}
	return 0;
}

static int get_annotations(json_t *o, const char *key, struct qos_request *r)
{
	json_t *a = json_object_get(o, key), *v;
	const char *k;

	if (!a)
		return 0;
	if (!json_is_object(a) || json_object_size(a) > ANNOTATIONS_MAX)
		return -EINVAL;
	json_object_foreach(a, k, v)
	{
		int x;

		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    startswith(k, "qosd.io/"))
			return -EINVAL;
		x = annotation_add(&r->annotations, &r->n_annotations, k, json_string_value(v));
		if (x <= 0)
			return x < 0 ? x : -EINVAL;
	}
	return 0;
}

static int decode_cmd(json_t *o, struct qos_request *r, char **ret_error)
{
	const char *c = json_string_value(json_object_get(o, "cmd"));

	if (!c) {
		*ret_error = strdup("request has no \"cmd\" string");
		return -EINVAL;
	}
	for (int i = 0; i < _CMD_MAX; i++)
		if (streq(c, cmd_names[i])) {
			r->cmd = i;
			return 0;
		}
	*ret_error = strprintf("unknown command \"%.64s\"", c);
	return -EINVAL;
}

/* The string fields of a request and their longest values: both decoders take them from here. */
static const struct str_field {
	const char *key;
	size_t max;
	size_t off; /* of a char * in struct qos_request */
} str_fields[] = {
	{ "id", 4096, offsetof(struct qos_request, id) },
	{ "cgroup", CGPATH_MAX, offsetof(struct qos_request, cgroup) },
	{ "tenant", TENANT_MAX, offsetof(struct qos_request, tenant) },
	{ "class", CLASS_MAX, offsetof(struct qos_request, cls) },
	{ "dir", 4096, offsetof(struct qos_request, dir) },
	{ "bundle", 4096, offsetof(struct qos_request, bundle) },
};

static int decode_fields(json_t *o, struct qos_request *r, char **ret_error)
{
	json_t *pid = json_object_get(o, "pid"), *all = json_object_get(o, "all");

	for (size_t i = 0; i < ELEMENTSOF(str_fields); i++)
		if (get_str(o, str_fields[i].key, str_fields[i].max,
			    (char **) ((char *) r + str_fields[i].off)) < 0) {
			*ret_error = strdup(
				"malformed field (wrong type, too long, or an embedded NUL)");
			return -EINVAL;
		}
	if (get_args(o, "args", r) < 0 || get_annotations(o, "annotations", r) < 0) {
		*ret_error = strdup("malformed field (wrong type, too long, or an embedded NUL)");
		return -EINVAL;
	}
	if (pid && (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
		    json_integer_value(pid) > PROTO_PID_MAX)) {
		*ret_error = strdup("\"pid\" must be a process id");
		return -EINVAL;
	}
	r->pid = pid ? json_integer_value(pid) : 0;
	if (all && !json_is_boolean(all)) {
		*ret_error = strdup("\"all\" must be true or false");
		return -EINVAL;
	}
	r->all = all && json_is_true(all);
	return 0;
}

static int validate(struct qos_request *r, char **ret_error)
{
	bool need_id = r->cmd == CMD_SHOW || r->cmd == CMD_SET || r->cmd == CMD_UNSET ||
		       r->cmd == CMD_REGISTER || r->cmd == CMD_UNREGISTER || r->cmd == CMD_EXPLAIN;

	if (need_id && !r->id) {
		*ret_error = strprintf("%s needs a container id", cmd_names[r->cmd]);
		return -EINVAL;
	}
	if (r->id && name_validate(r->id, ID_MAX) < 0) {
		*ret_error = strprintf(
			"invalid container id \"%.*s\" (allowed: [A-Za-z0-9][A-Za-z0-9_.+-]*, "
			"at most %d bytes, not a cgroup file name)",
			64, r->id, ID_MAX);
		return -EINVAL;
	}
	if (r->cgroup && cgpath_validate(r->cgroup) < 0) {
		*ret_error = strprintf("invalid cgroup path \"%.*s\"", 128, r->cgroup);
		return -EINVAL;
	}
	if ((r->tenant && name_validate(r->tenant, TENANT_MAX) < 0) ||
	    (r->cls && name_validate(r->cls, CLASS_MAX) < 0)) {
		*ret_error = strdup("invalid tenant or class name");
		return -EINVAL;
	}
	if (r->cmd == CMD_PLAN && (!r->dir || r->dir[0] != '/')) {
		*ret_error = strdup("plan needs an absolute policy directory");
		return -EINVAL;
	}
	if (r->cmd == CMD_REGISTER && !r->cgroup && r->pid <= 0) {
		*ret_error = strdup("register needs a cgroup or a pid");
		return -EINVAL;
	}
	return 0;
}

int proto_decode_json(const char *buf, size_t len, struct qos_request *ret, char **ret_error)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	struct qos_request r = { 0 };
	json_error_t e;
	int k;

	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!o || !json_is_object(o)) {
		*ret_error =
			strprintf("request is not a JSON object: %s", o ? "wrong type" : e.text);
		return -EINVAL;
	}
	k = decode_cmd(o, &r, ret_error);
	if (k >= 0)
		k = decode_fields(o, &r, ret_error);
	if (k >= 0)
		k = validate(&r, ret_error);
	if (k < 0) {
		proto_request_done(&r);
		return k;
	}
	*ret = r;
	return 0;
}

/* ---- the flat path: what qos-hook and qosctl send for a register, an unregister, a show ---- */

struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool scan_char(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

/* A string of printable ASCII without escapes; anything else is jansson's to decide. */
static bool scan_str(struct scan *s, const char **ret, size_t *ret_len)
{
	const char *start;

	if (!scan_char(s, '"'))
		return false;
	for (start = s->p; s->p < s->end && *s->p != '"'; s->p++)
		if (*s->p < 0x20 || *s->p > 0x7e || *s->p == '\\')
			return false;
	if (s->p >= s->end)
		return false;
	*ret = start;
	*ret_len = s->p++ - start;
	return true;
}

static bool scan_word(struct scan *s, const char *w)
{
	size_t n = strlen(w);

	skip_ws(s);
	if ((size_t) (s->end - s->p) < n || memcmp(s->p, w, n))
		return false;
	s->p += n;
	return true;
}

/* A positive integer of at most 9 digits (a pid), no sign, no leading zero, no fraction. */
static bool scan_pid(struct scan *s, int64_t *ret)
{
	int64_t v = 0;
	int n = 0;

	skip_ws(s);
	if (s->p < s->end && *s->p == '0')
		return false;
	for (; s->p < s->end && *s->p >= '0' && *s->p <= '9' && n < 10; s->p++, n++)
		v = v * 10 + (*s->p - '0');
	if (n == 0 || n > 9 || (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')))
		return false;
	*ret = v;
	return true;
}

enum { FLAT_CMD = ELEMENTSOF(str_fields), FLAT_PID, FLAT_ALL };

static int flat_key(const char *k, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(str_fields); i++)
		if (strlen(str_fields[i].key) == n && !memcmp(str_fields[i].key, k, n))
			return (int) i;
	if (n == 3 && !memcmp(k, "cmd", 3))
		return FLAT_CMD;
	if (n == 3 && !memcmp(k, "pid", 3))
		return FLAT_PID;
	if (n == 3 && !memcmp(k, "all", 3))
		return FLAT_ALL;
	return -1;
}

/* A string member's value as it stands in the request: copied only once the whole request is
 * taken, so a request the flat path declines (one with annotations: most hooks' registers) costs
 * the scan alone before jansson reads it. */
struct span {
	const char *p;
	size_t n;
};

/* One member's value: a string field's into spans[f], the rest into r. 1: taken; 0: not for the
 * flat path. */
static int flat_value(struct scan *s, int f, struct qos_request *r, struct span *spans,
		      bool *has_cmd)
{
	const char *v;
	size_t n;

	if (f == FLAT_PID)
		return scan_pid(s, &r->pid) && r->pid <= PROTO_PID_MAX;
	if (f == FLAT_ALL) {
		r->all = scan_word(s, "true");
		return r->all || scan_word(s, "false");
	}
	if (f < FLAT_CMD && scan_word(s, "null"))
		return 1;
	if (!scan_str(s, &v, &n))
		return 0;
	if (f == FLAT_CMD) {
		for (int i = 0; i < _CMD_MAX; i++)
			if (strlen(cmd_names[i]) == n && !memcmp(cmd_names[i], v, n)) {
				r->cmd = i;
				*has_cmd = true;
				return 1;
			}
		return 0;
	}
	if (n > str_fields[f].max)
		return 0;
	spans[f] = (struct span){ v, n };
	return 1;
}

/* {"KEY":VALUE,...}: each key once, one of the string fields, cmd, pid or all, each value of the
 * type decode_fields() takes; anything else (escapes, non-ASCII, args, annotations, another
 * key, a wrong type, a duplicate, trailing text) is left to jansson. 1: taken (the strings
 * copied into r), 0: declined (nothing allocated), -ENOMEM. */
static int flat_members(struct scan *s, struct qos_request *r)
{
	struct span spans[ELEMENTSOF(str_fields)] = { 0 };
	uint32_t seen = 0;
	bool has_cmd = false;

	if (!scan_char(s, '{'))
		return 0;
	if (!scan_char(s, '}'))
		for (;;) {
			const char *k;
			size_t n;
			int f;

			if (!scan_str(s, &k, &n) || (f = flat_key(k, n)) < 0 ||
			    (seen & (1u << f)) || !scan_char(s, ':'))
				return 0;
			seen |= 1u << f;
			if (!flat_value(s, f, r, spans, &has_cmd))
				return 0;
			if (scan_char(s, '}'))
				break;
			if (!scan_char(s, ','))
				return 0;
		}
	skip_ws(s);
	if (s->p != s->end || !has_cmd)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(str_fields); i++) {
		char **to = (char **) ((char *) r + str_fields[i].off);

		if (spans[i].p && !(*to = strndup(spans[i].p, spans[i].n)))
			return -ENOMEM;
	}
	return 1;
}

int proto_decode_flat(const char *buf, size_t len, struct qos_request *ret, char **ret_error)
{
	struct scan s = { buf, buf + len };
	struct qos_request r = { 0 };
	int k = flat_members(&s, &r);

	if (k > 0 && validate(&r, ret_error) < 0)
		k = -EINVAL;
	if (k <= 0) {
		proto_request_done(&r);
		return k;
	}
	*ret = r;
	return 1;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

int proto_decode_compare(const char *buf, size_t len)
{
	struct qos_request f = { 0 }, j = { 0 };
	_cleanup_free_ char *ferr = NULL, *jerr = NULL;
	int kf = proto_decode_flat(buf, len, &f, &ferr), kj;
	bool same;

	if (kf == 0)
		return ferr ? -EPROTO : 0; /* declined: without a message */
	kj = proto_decode_json(buf, len, &j, &jerr);
	if (kf > 0)
		same = kj >= 0 && f.cmd == j.cmd && same_str(f.id, j.id) &&
		       same_str(f.cgroup, j.cgroup) && same_str(f.tenant, j.tenant) &&
		       same_str(f.cls, j.cls) && same_str(f.dir, j.dir) &&
		       same_str(f.bundle, j.bundle) && f.pid == j.pid && f.all == j.all &&
		       !j.n_args && !j.n_annotations;
	else
		same = kj < 0 && same_str(ferr, jerr);
	if (kf > 0)
		proto_request_done(&f);
	if (kj >= 0)
		proto_request_done(&j);
	return same ? kf : -EPROTO;
}

int proto_decode_request(const char *buf, size_t len, struct qos_request *ret, char **ret_error)
{
	int k;

	if (len > PROTO_REQUEST_MAX) {
		*ret_error = strprintf("request too large (%zu bytes, at most %d)", len,
				       PROTO_REQUEST_MAX);
		return -EINVAL;
	}
	k = proto_decode_flat(buf, len, ret, ret_error);
	if (k != 0)
		return k < 0 ? k : 0;
	return proto_decode_json(buf, len, ret, ret_error);
}

/* fd is non-blocking: send first, wait only when the socket is full */
static int send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			int r = fd_wait(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= n;
	}
	return 0;
}

int proto_call(const char *sock, const char *req, int timeout_ms, char **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *msg = NULL;
	size_t len = strlen(req);
	int r;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	/* the request and the newline qosd answers at, in one send (issue 16: syscalls of the
	 * hook on every container start) */
	msg = malloc(len + 1);
	if (!msg)
		return -ENOMEM;
	memcpy(msg, req, len);
	msg[len] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return negative_errno();
		r = fd_wait(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	r = send_all(fd, msg, len + 1, deadline);
	if (r < 0)
		return r;
	shutdown(fd, SHUT_WR);
	return read_fd_full(fd, PROTO_RESPONSE_MAX, deadline, ret, NULL);
}
