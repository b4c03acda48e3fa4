/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool to_journal;
static const char *ident = "qosd";

void log_set_max_level(int level)
{
	max_level = level;
}

void log_set_ident(const char *s)
{
	ident = s;
}

int log_level_from_string(const char *s)
{
	static const char *const names[] = { "emerg",	"alert",  "crit", "err",
					     "warning", "notice", "info", "debug" };

	if (streq(s, "error"))
		return LOG_ERR;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(s, names[i]))
			return (int) i;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
		return s[0] - '0';
	return -EINVAL;
}

/* stderr is the journal when $JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
void log_open(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	to_journal = st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

int log_full(int level, int err, const struct log_ctx *ctx, const char *fmt, ...)
{
	static const char *const tags[] = { "emerg",   "alert",	 "crit", "error",
					    "warning", "notice", "info", "debug" };
	char msg[2048];
	va_list ap;
	int saved = errno;

	if (err < 0)
		err = -err;
	if (level > max_level) {
		errno = saved;
		return -err;
	}
	va_start(ap, fmt);
	errno = err;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ": %s", strerror(err));

	if (to_journal) {
		sd_journal_send(
			"MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=%s", ident,
			"QOS_CONTAINER=%s", ctx && ctx->container ? ctx->container : "",
			"QOS_TENANT=%s", ctx && ctx->tenant ? ctx->tenant : "", "QOS_CLASS=%s",
			ctx && ctx->cls ? ctx->cls : "", err ? "ERRNO=%d" : NULL, err, NULL);
	} else {
		char pre[256] = "";

		if (ctx && ctx->container)
			snprintf(pre, sizeof(pre), "[%s%s%s%s%s] ", ctx->container,
				 ctx->tenant ? " " : "", ctx->tenant ? ctx->tenant : "",
				 ctx->cls ? "/" : "", ctx->cls ? ctx->cls : "");
		fprintf(stderr, "%s: %s: %s%s\n", ident, tags[level & 7], pre, msg);
	}
	errno = saved;
	return -err;
}
