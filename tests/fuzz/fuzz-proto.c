/* SPDX-License-Identifier: MIT */
/* The control protocol's request decoder: every byte a local client can send to qosd's socket.
 * Besides "no crash, no leak", a decoded request must keep the promises proto.h makes, and the
 * flat decoder must agree with jansson's wherever it answers. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qosd/proto.h"
#include "qosd/util.h"

static void check(const struct qos_request *r)
{
	bool need_id = r->cmd == CMD_SHOW || r->cmd == CMD_SET || r->cmd == CMD_UNSET ||
		       r->cmd == CMD_REGISTER || r->cmd == CMD_UNREGISTER;

	if ((unsigned) r->cmd >= _CMD_MAX || r->n_args > PROTO_ARGS_MAX)
		abort();
	if (need_id && !r->id)
		abort();
	if (r->id && name_validate(r->id, ID_MAX) < 0)
		abort();
	if (r->cgroup && cgpath_validate(r->cgroup) < 0)
		abort();
	if (r->pid < 0 || (r->cmd == CMD_REGISTER && !r->cgroup && r->pid == 0))
		abort();
	for (size_t i = 0; i < r->n_args; i++)
		if (!r->args[i])
			abort();
	(void) proto_cmd_name(r->cmd);
	(void) proto_cmd_privileged(r->cmd);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

/* Where the flat decoder answers (proto.h), jansson's must answer the same: the same fields, or
 * the same refusal. */
static void compare_decoders(const uint8_t *data, size_t size)
{
	struct qos_request f = { 0 }, j = { 0 };
	char *ferr = NULL, *jerr = NULL;
	int kf = proto_decode_flat((const char *) data, size, &f, &ferr);
	int kj;

	if (kf == 0) {
		if (ferr)
			abort(); /* declined: no message, nothing kept */
		return;
	}
	kj = proto_decode_json((const char *) data, size, &j, &jerr);
	if (kf > 0 &&
	    (kj < 0 || f.cmd != j.cmd || !same_str(f.id, j.id) || !same_str(f.cgroup, j.cgroup) ||
	     !same_str(f.tenant, j.tenant) || !same_str(f.cls, j.cls) || !same_str(f.dir, j.dir) ||
	     !same_str(f.bundle, j.bundle) || f.pid != j.pid || f.all != j.all || j.n_args ||
	     j.n_annotations))
		abort();
	if (kf < 0 && (kj >= 0 || !same_str(ferr, jerr)))
		abort();
	if (kf > 0)
		proto_request_done(&f);
	if (kj >= 0)
		proto_request_done(&j);
	free(ferr);
	free(jerr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qos_request req = { 0 };
	char *err = NULL;

	if (proto_decode_request((const char *) data, size, &req, &err) >= 0) {
		check(&req);
		proto_request_done(&req);
	} else if (!err) {
		/* every refusal carries a message for the client */
		abort();
	}
	free(err);
	if (size <= PROTO_REQUEST_MAX)
		compare_decoders(data, size);
	return 0;
}
