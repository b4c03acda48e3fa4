/* SPDX-License-Identifier: MIT */
/* The metrics endpoint (libmicrohttpd driven from qosd's own event loop: its epoll fd is one more
 * sd-event source, so a scrape runs on qosd's thread and no thread or timer exists while nobody
 * scrapes) and the textfile writer for node_exporter. */
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "manager.h"
#include "metrics-internal.h"
#include "plan.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTTP_TIMEOUT_SEC 10u
#define HTTP_CONN_MAX 32u

struct text_ref {
	struct metrics *mt;
	char *text;
};

static int listen_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;

	if (fd < 0)
		return negative_errno();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* a socket left by an earlier qosd; anything else at that path is not ours to remove */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void) unlink(path);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listen_inet(const char *host, const char *port, int *ret_fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	_cleanup_close_ int fd = -1;
	int r, one = 1;

	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? negative_errno() : -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		r = negative_errno();
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Queue resp (NULL: it could not be made) with its content type. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
			     struct MHD_Response *resp, const char *type)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
			     const char *type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!resp)
		free(body);
	return queue(conn, status, resp, type);
}

static void text_done(void *cls)
{
	struct text_ref *t = cls;

	metrics_text_done(t->mt, t->text);
	free(t);
}

/* 200 with the exposition text; MHD hands it back for the next scrape when it is sent. */
static enum MHD_Result reply_text(struct MHD_Connection *conn, struct metrics *mt, char *text,
				  size_t len)
{
	struct text_ref *t = malloc(sizeof(*t));
	struct MHD_Response *resp;

	if (!t) {
		free(text);
		return MHD_NO;
	}
	*t = (struct text_ref){ .mt = mt, .text = text };
	resp = MHD_create_response_from_buffer_with_free_callback_cls(len, text, text_done, t);
	if (!resp)
		text_done(t);
	return queue(conn, MHD_HTTP_OK, resp, CONTENT_TYPE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct metrics *mt = cls;
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!streq(method, "GET") && !streq(method, "HEAD")) {
		text = strdup("only GET\n");
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, text ? strlen(text) : 0,
			     "text/plain");
	}
	if (!streq(url, "/metrics")) {
		text = strdup("qosd: metrics are at /metrics\n");
		return reply(conn, MHD_HTTP_NOT_FOUND, text, text ? strlen(text) : 0, "text/plain");
	}
	r = metrics_render(mt->m, &text, &len);
	if (r < 0) {
		log_warning_errno(r, "metrics: cannot collect, ignoring");
		text = strprintf("qosd: collecting failed: %s\n", strerror(-r));
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, text ? strlen(text) : 0,
			     "text/plain");
	}
	return reply_text(conn, mt, text, len);
}

/* After every MHD_run: arm a timer only while MHD has a connection with a deadline. */
static void rearm(struct metrics *mt)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	if (MHD_get_timeout(mt->httpd, &ms) == MHD_YES) {
		(void) sd_event_source_set_time(mt->timeout_src, now_usec() + ms * 1000);
		(void) sd_event_source_set_enabled(mt->timeout_src, SD_EVENT_ONESHOT);
	} else
		(void) sd_event_source_set_enabled(mt->timeout_src, SD_EVENT_OFF);
}

static int on_http(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct metrics *mt = userdata;

	(void) MHD_run(mt->httpd);
	rearm(mt);
	return 0;
}

static int on_http_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	return on_http(s, -1, 0, userdata);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	_cleanup_free_ char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) >= 0)
		log_debug("metrics: libmicrohttpd: %s", strstrip(msg));
}

static int start_http(struct manager *m, struct metrics *mt)
{
	_cleanup_free_ char *host = NULL, *port = NULL;
	const union MHD_DaemonInfo *info;
	int r = config_listen_parse(m->cfg->metrics_listen, &host, &port);

	if (r < 0)
		return r;
	r = port ? listen_inet(host, port, &mt->listen_fd) : listen_unix(host, &mt->listen_fd);
	if (r < 0)
		return r;
	if (!port)
		mt->unix_path = TAKE_PTR(host);
	mt->httpd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
				     mt, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, mt->listen_fd,
				     MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_SEC,
				     MHD_OPTION_CONNECTION_LIMIT, HTTP_CONN_MAX, MHD_OPTION_END);
	if (!mt->httpd)
		return -EIO;
	mt->listen_fd = -1; /* MHD_stop_daemon closes it */
	info = MHD_get_daemon_info(mt->httpd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return -EIO;
	r = sd_event_add_io(m->event, &mt->io_src, info->epoll_fd, EPOLLIN, on_http, mt);
	if (r >= 0)
		r = sd_event_add_time(m->event, &mt->timeout_src, CLOCK_MONOTONIC, UINT64_MAX, 1000,
				      on_http_timeout, mt);
	if (r >= 0)
		r = sd_event_source_set_enabled(mt->timeout_src, SD_EVENT_OFF);
	return r;
}

static int metrics_write_textfile(struct manager *m)
{
	char *text = NULL;
	size_t len = 0;
	int r = metrics_render(m, &text, &len);

	if (r >= 0) {
		r = write_file_replace(m->cfg->metrics_textfile, text, len, 0644, false);
		metrics_text_done(m->metrics, text);
	}
	return r;
}

static int on_textfile(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct metrics *mt = userdata;
	struct manager *m = mt->m;
	int r = metrics_write_textfile(m);

	if (r < 0)
		log_warning_errno(r, "metrics: cannot write %s, ignoring",
				  m->cfg->metrics_textfile);
	(void) sd_event_source_set_time_relative(s, m->cfg->metrics_interval_usec);
	(void) sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

int metrics_start(struct manager *m)
{
	struct metrics *mt;
	int r;

	if (!m->cfg->metrics_listen && !m->cfg->metrics_textfile)
		return 0;
	r = metrics_ctx(m, &mt);
	if (r < 0)
		return r;
	if (m->cfg->metrics_listen) {
		r = start_http(m, mt);
		if (r < 0)
			return log_error_errno(r, "metrics: cannot serve on %s",
					       m->cfg->metrics_listen);
		log_info("metrics: serving /metrics on %s", m->cfg->metrics_listen);
	}
	if (m->cfg->metrics_textfile) {
		/* the first file at once, then every interval */
		r = sd_event_add_time_relative(m->event, &mt->textfile_src, CLOCK_MONOTONIC, 0,
					       m->cfg->metrics_interval_usec / 20, on_textfile, mt);
		if (r < 0)
			return log_error_errno(r, "metrics: cannot start the textfile timer");
		log_info("metrics: writing %s every %llu s", m->cfg->metrics_textfile,
			 (unsigned long long) m->cfg->metrics_interval_usec / 1000000);
	}
	return 0;
}

void metrics_free(struct metrics *mt)
{
	if (!mt)
		return;
	sd_event_source_disable_unref(mt->io_src);
	sd_event_source_disable_unref(mt->timeout_src);
	sd_event_source_disable_unref(mt->textfile_src);
	if (mt->httpd)
		MHD_stop_daemon(mt->httpd);
	closep(&mt->listen_fd);
	if (mt->unix_path)
		(void) unlink(mt->unix_path);
	free(mt->unix_path);
	stats_ctx_free(mt->stats);
	tc_stats_cache_free(mt->tcs);
	free(mt->samples);
	free(mt->out.p);
	free(mt->labels.p);
	explain_notes_free(mt);
	free(mt);
}
