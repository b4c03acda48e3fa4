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

/* s appended at buf[*len], cut to what fits before the NUL at buf[cap - 1] (as snprintf cuts) */
static void put(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strnlen(s, cap - 1 - *len);

	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = 0;
}

/* "IDENT: TAG: [CONTAINER TENANT/CLASS] MSG\n" (the bracket when there is a container) as one
 * fwrite to the unbuffered stderr: one write(2), without a second printf pass over msg (issue
 * 16: a log line on every register) */
static void log_stderr(int level, const struct log_ctx *ctx, const char *msg)
{
	static const char *const tags[] = { "emerg",   "alert",	 "crit", "error",
					    "warning", "notice", "info", "debug" };
	char line[64 + 256 + 2048 + 2];
	char pre[256];
	size_t len = 0, plen = 0;

	if (ctx && ctx->container) {
		put(pre, sizeof(pre), &plen, "[");
		put(pre, sizeof(pre), &plen, ctx->container);
		put(pre, sizeof(pre), &plen, ctx->tenant ? " " : "");
		put(pre, sizeof(pre), &plen, ctx->tenant ? ctx->tenant : "");
		put(pre, sizeof(pre), &plen, ctx->cls ? "/" : "");
		put(pre, sizeof(pre), &plen, ctx->cls ? ctx->cls : "");
		put(pre, sizeof(pre), &plen, "] ");
	}
	put(line, 64, &len, ident);
	put(line, 64, &len, ": ");
	put(line, 64, &len, tags[level & 7]);
	put(line, 64, &len, ": ");
	memcpy(line + len, pre, plen);
	len += plen;
	line[len] = 0;
	put(line, sizeof(line) - 1, &len, msg);
	line[len++] = '\n';
	(void) fwrite(line, 1, len, stderr);
}

int log_full(int level, int err, const struct log_ctx *ctx, const char *fmt, ...)
{
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

	if (to_journal)
		sd_journal_send(
			"MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=%s", ident,
			"QOS_CONTAINER=%s", ctx && ctx->container ? ctx->container : "",
			"QOS_TENANT=%s", ctx && ctx->tenant ? ctx->tenant : "", "QOS_CLASS=%s",
			ctx && ctx->cls ? ctx->cls : "", err ? "ERRNO=%d" : NULL, err, NULL);
	else
		log_stderr(level, ctx, msg);
	errno = saved;
	return -err;
}
