/* SPDX-License-Identifier: MIT */
/* The control protocol between qosd and its clients (qosctl, qos-hook): one JSON object per
 * connection each way, newline-terminated, over a Unix stream socket. Requests are bounded and
 * decoded into a plain struct here, so the daemon, the fuzzer and the tests share one decoder. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_REQUEST_MAX (64 * 1024)
#define PROTO_RESPONSE_MAX (64 * 1024 * 1024)
#define PROTO_ARGS_MAX 64
#define PROTO_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT: a larger "pid" is refused */

enum qos_cmd {
	CMD_LIST,
	CMD_SHOW,
	CMD_SET,
	CMD_UNSET,
	CMD_RELOAD,
	CMD_REGISTER,
	CMD_UNREGISTER,
	CMD_STATS, /* observe.c: numbers per container (qosctl top) */
	CMD_EXPLAIN, /* where each value of id comes from; args[0] = one key (optional) */
	CMD_PLAN, /* what the policy in dir would change; writes nothing */
	_CMD_MAX
};

struct qos_request {
	enum qos_cmd cmd;
	char *id; /* validated with name_validate() */
	char **args; /* set: "KEY=VALUE"; unset: "KEY" */
	size_t n_args;
	bool all; /* unset --all */
	/* register */
	char *cgroup; /* validated with cgpath_validate() */
	char *tenant, *cls, *dir, *bundle;
	int64_t pid; /* 0 = not given */
	/* the container's other OCI annotations, "KEY=VALUE" (util.h: annotation_add), for the
	 * tenants' [claim] rules; an entry annotation_add() refuses is a malformed request */
	char **annotations;
	size_t n_annotations;
};

/* Decode and validate one request (len bytes, need not be NUL-terminated). On failure returns
 * -EINVAL with a message for the client. */
int proto_decode_request(const char *buf, size_t len, struct qos_request *ret, char **ret_error);
/* The two ways proto_decode_request takes, for the fuzzer's comparison: _flat decodes a flat
 * object of the known string fields, cmd, pid and all, ASCII without escapes, each key once (what
 * qos-hook and qosctl send for register, unregister, show): 1 decoded, or -EINVAL refused by
 * the same checks and message as _json; 0 when the text is not of that form (then _json, with
 * jansson, decides: every JSON text). */
int proto_decode_flat(const char *buf, size_t len, struct qos_request *ret, char **ret_error);
int proto_decode_json(const char *buf, size_t len, struct qos_request *ret, char **ret_error);
/* For the tests and the fuzzer: buf through both; _flat's answer (1, -EINVAL, 0), or -EPROTO
 * where it answered otherwise than _json (other fields, or another refusal message). */
int proto_decode_compare(const char *buf, size_t len);
void proto_request_done(struct qos_request *r);
const char *proto_cmd_name(enum qos_cmd c);
/* True for commands that change something (need root or the admin group). */
bool proto_cmd_privileged(enum qos_cmd c);

/* Client side: connect to sock, send req (a JSON text), read the whole reply into ret (malloc'd).
 * timeout_ms bounds connect + send + receive. -ENOENT/-ECONNREFUSED: no daemon; -EACCES: the
 * socket refused us; -ETIMEDOUT. */
int proto_call(const char *sock, const char *req, int timeout_ms, char **ret);
