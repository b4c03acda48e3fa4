/* SPDX-License-Identifier: MIT */
/* The control socket's read-only requests that look at what the limits do or would do: stats
 * (qosctl top), explain (where a value comes from), plan (what a policy would change). */
#include <jansson.h>

#include "control.h"
#include "manager.h"
#include "metrics.h"

char *manager_observe_request(struct manager *m, const struct qos_request *req)
{
	switch (req->cmd) {
	case CMD_STATS:
		return metrics_stats_reply(m);
	default:
		return control_error_reply("unknown command");
	}
}
