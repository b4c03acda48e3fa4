/* SPDX-License-Identifier: MIT */
/* metrics_listen's syntax, apart from the endpoint so that qosd.conf's parser (linked into every
 * program) does not pull libmicrohttpd in. */
#include <sys/un.h>

#include "metrics.h"
#include "util.h"

int metrics_listen_parse(const char *s, char **ret_host, char **ret_port)
{
	const char *colon, *host = s, *end;
	size_t hl;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
			return -EINVAL;
		*ret_host = strdup(s);
		*ret_port = NULL;
		return *ret_host ? 0 : -ENOMEM;
	}
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		host = s + 1;
		hl = (size_t) (end - host);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = (size_t) (colon - s);
	}
	if (!hl || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5 || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return -EINVAL;
	*ret_host = strndup(host, hl);
	*ret_port = strdup(colon + 1);
	if (!*ret_host || !*ret_port) {
		free(*ret_host);
		free(*ret_port);
		return -ENOMEM;
	}
	return 0;
}
