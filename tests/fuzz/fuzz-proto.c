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
	/* where the flat decoder answers, jansson's must answer the same */
	if (size <= PROTO_REQUEST_MAX && proto_decode_compare((const char *) data, size) == -EPROTO)
		abort();
	return 0;
}
