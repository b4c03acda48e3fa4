/* SPDX-License-Identifier: MIT */
/* The control socket's read-only requests that look at what the limits do or would do: stats
 * (qosctl top), explain (where a value comes from), plan (what a policy would change). */
#include <jansson.h>

#include "control.h"
#include "manager.h"
#include "metrics.h"
#include "plan.h"

char *manager_observe_request(struct manager *m, const struct qos_request *req)
{
	switch (req->cmd) {
	case CMD_STATS:
		return metrics_stats_reply(m);
	case CMD_EXPLAIN:
		return explain_reply(m, req->id, req->n_args ? req->args[0] : NULL);
	case CMD_PLAN:
		return plan_reply(m, req->dir);
	default:
		return control_error_reply("unknown command");
	}
}
