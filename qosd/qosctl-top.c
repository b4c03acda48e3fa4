/* SPDX-License-Identifier: MIT */
/* qosctl top: a live view like systemd-cgtop. Two samples of qosd's stats request, DELAY apart,
 * give the rates. Interactive on a terminal (keys sort, q quits); -b prints N plain iterations;
 * --json prints the rows as JSON. */
#include <getopt.h>
#include <poll.h>
#include <termios.h>

#include <jansson.h>

#include "qosctl.h"
#include "units.h"
#include "util.h"

struct row {
	const char *id, *tenant, *cls, *status;
	double cpu_pct; /* of one CPU */
	double quota_pct; /* of the container's quota, -1 = unlimited */
	double thr_pct; /* periods throttled */
	double mem, mem_limit; /* bytes, limit 0 = unlimited */
	double io_rate, net_rate, drops; /* bytes/s, bytes/s, drops/s */
};

enum sort_key { S_CPU, S_THROTTLE, S_MEM, S_IO, S_NET, S_ID };
static const char sort_keys[] = "ctminp"; /* one key per enum sort_key, 'p' = path/id */

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (double) json_integer_value(v) : -1;
}

static json_t *find(json_t *arr, const char *id)
{
	json_t *c;
	size_t i;

	json_array_foreach(arr, i, c) if (streq(s_or(c, "id", ""), id)) return c;
	return NULL;
}

static double rate(json_t *a, json_t *b, const char *k, double secs)
{
	double x = num(a, k), y = num(b, k);

	return x < 0 || y < 0 || y < x || secs <= 0 ? 0 : (y - x) / secs;
}

static void fill_row(struct row *r, json_t *a, json_t *b, double secs)
{
	double q = num(b, "cpu_quota_us"), p = num(b, "cpu_period_us");
	double periods = num(b, "cpu_periods") - num(a, "cpu_periods");

	*r = (struct row){ .id = s_or(b, "id", "?"),
			   .tenant = s_or(b, "tenant", "-"),
			   .cls = s_or(b, "class", "-"),
			   .status = s_or(b, "status", "-") };
	r->cpu_pct = rate(a, b, "cpu_usage_ns", secs) / 1e7;
	r->quota_pct = q > 0 && p > 0 ? r->cpu_pct / (q / p) : -1;
	r->thr_pct = periods > 0
			     ? 100.0 * (num(b, "cpu_throttled") - num(a, "cpu_throttled")) / periods
			     : 0;
	r->mem = MAX(num(b, "mem_usage"), 0);
	r->mem_limit = MAX(num(b, "mem_limit"), 0);
	r->io_rate = rate(a, b, "io_bytes", secs);
	r->net_rate = rate(a, b, "net_bytes", secs);
	r->drops = rate(a, b, "net_drops", secs);
}

static enum sort_key sort_by = S_CPU;

static double key_of(const struct row *r)
{
	switch (sort_by) {
	case S_THROTTLE:
		return r->thr_pct;
	case S_MEM:
		return r->mem;
	case S_IO:
		return r->io_rate;
	case S_NET:
		return r->net_rate;
	default:
		return r->cpu_pct;
	}
}

static int row_cmp(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	double ka, kb;

	if (sort_by == S_ID)
		return strcmp(a->id, b->id);
	ka = key_of(a);
	kb = key_of(b);
	return ka < kb ? 1 : ka > kb ? -1 : strcmp(a->id, b->id);
}

/* Sizes and byte rates as "64M" or "80.2M" (units.c). */
static void human(double v, char *buf, size_t len)
{
	(void) format_size_approx(v > 0 ? (uint64_t) v : 0, buf, len);
}

static void print_rows(const struct row *v, size_t n, bool clear)
{
	if (clear)
		printf("\033[H\033[2J");
	printf("%-24s %-10s %-10s %7s %7s %6s %9s %9s %9s %9s %7s  %s\n", "ID", "TENANT", "CLASS",
	       "CPU%", "QUOTA%", "THR%", "MEMORY", "LIMIT", "IO/s", "NET/s", "DROP/s", "STATUS");
	for (size_t i = 0; i < n; i++) {
		char mem[16], lim[16], io[16], net[16], q[16];

		human(v[i].mem, mem, sizeof(mem));
		if (v[i].mem_limit > 0)
			human(v[i].mem_limit, lim, sizeof(lim));
		else
			snprintf(lim, sizeof(lim), "-");
		human(v[i].io_rate, io, sizeof(io));
		human(v[i].net_rate, net, sizeof(net));
		if (v[i].quota_pct >= 0)
			snprintf(q, sizeof(q), "%.1f", v[i].quota_pct);
		else
			snprintf(q, sizeof(q), "-");
		printf("%-24s %-10s %-10s %7.1f %7s %6.1f %9s %9s %9s %9s %7.1f  %s\n", v[i].id,
		       v[i].tenant, v[i].cls, v[i].cpu_pct, q, v[i].thr_pct, mem, lim, io, net,
		       v[i].drops, v[i].status);
	}
	if (clear)
		printf("\nsort: c cpu  t throttled  m memory  i io  n network  p id    q quit\n");
	fflush(stdout);
}

static void print_json_rows(const struct row *v, size_t n)
{
	json_auto_t *arr = json_array();
	_cleanup_free_ char *s = NULL;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			arr,
			json_pack("{s:s,s:s,s:s,s:s,s:f,s:o,s:f,s:f,s:o,s:f,s:f,s:f}", "id",
				  v[i].id, "tenant", v[i].tenant, "class", v[i].cls, "status",
				  v[i].status, "cpu_percent", v[i].cpu_pct, "quota_percent",
				  v[i].quota_pct >= 0 ? json_real(v[i].quota_pct) : json_null(),
				  "throttled_percent", v[i].thr_pct, "memory_bytes", v[i].mem,
				  "memory_limit_bytes",
				  v[i].mem_limit > 0 ? json_real(v[i].mem_limit) : json_null(),
				  "io_bytes_per_second", v[i].io_rate, "net_bytes_per_second",
				  v[i].net_rate, "drops_per_second", v[i].drops));
	s = json_dumps(arr, JSON_COMPACT);
	printf("%s\n", s ? s : "[]");
	fflush(stdout);
}

static int sample(json_t **ret)
{
	json_auto_t *req = json_pack("{s:s}", "cmd", "stats");

	return call(req, ret);
}

/* Rows from two samples; containers new in b are shown with zero rates. */
static int rows_of(json_t *a, json_t *b, struct row **ret, size_t *ret_n)
{
	json_t *ca = json_object_get(a, "containers"), *cb = json_object_get(b, "containers"), *c;
	double secs = (num(b, "time_us") - num(a, "time_us")) / 1e6;
	size_t i, n = json_array_size(cb);
	struct row *v = calloc(n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	json_array_foreach(cb, i, c)
	{
		json_t *prev = find(ca, s_or(c, "id", ""));

		fill_row(&v[i], prev ? prev : c, c, secs);
	}
	qsort(v, n, sizeof(*v), row_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Wait delay_ms for a key; returns the key, 0 on timeout. */
static int wait_key(int delay_ms, bool tty)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char ch;

	if (!tty) {
		(void) poll(NULL, 0, delay_ms);
		return 0;
	}
	if (poll(&p, 1, delay_ms) <= 0 || read(STDIN_FILENO, &ch, 1) != 1)
		return 0;
	return ch;
}

static void key_pressed(int ch, bool *quit)
{
	const char *k = ch ? strchr(sort_keys, ch) : NULL;

	if (ch == 'q' || ch == 3)
		*quit = true;
	else if (k)
		sort_by = (enum sort_key)(k - sort_keys);
}

struct top_opts {
	bool batch;
	long iterations; /* 0 = until q */
	int delay_ms;
};

static int parse_top(int argc, char **argv, struct top_opts *o)
{
	static const struct option opts[] = { { "batch", no_argument, NULL, 'b' },
					      { "iterations", required_argument, NULL, 'n' },
					      { "delay", required_argument, NULL, 'd' },
					      { "order", required_argument, NULL, 'o' },
					      { "socket", required_argument, NULL, 's' },
					      { "json", no_argument, NULL, 'j' },
					      {} };
	const char *k;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "bn:d:o:s:", opts, NULL)) >= 0) {
		if (c == 'b')
			o->batch = true;
		else if (c == 'n' && (o->iterations = atol(optarg)) <= 0)
			return usage("top: -n \"%s\" is not a positive count", optarg);
		else if (c == 'd' && (o->delay_ms = (int) (atof(optarg) * 1000)) < 100)
			return usage("top: -d \"%s\" is not a delay of at least 0.1 s", optarg);
		else if (c == 'o') {
			k = strlen(optarg) == 1 ? strchr(sort_keys, optarg[0]) : NULL;
			if (!k)
				return usage("top: -o \"%s\" is not one of c t m i n p", optarg);
			sort_by = (enum sort_key)(k - sort_keys);
		} else if (c == 's')
			sock_path = optarg;
		else if (c == 'j')
			want_json = true;
		else if (c != 'n' && c != 'd')
			return usage("top: unknown option \"%s\"", argv[optind - 1]);
	}
	if (optind < argc)
		return usage("top: unexpected \"%s\"", argv[optind]);
	return 0;
}

int qosctl_top(int argc, char **argv)
{
	struct top_opts o = { .delay_ms = 1000 };
	struct termios saved, raw;
	json_t *prev = NULL, *cur = NULL;
	bool tty, quit = false;
	int r = parse_top(argc, argv, &o);

	if (r)
		return r;
	tty = !o.batch && !want_json && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		(void) tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else
		tty = false;
	r = sample(&prev);
	for (long it = 0; !r && !quit && (!o.iterations || it < o.iterations); it++) {
		_cleanup_free_ struct row *v = NULL;
		size_t n = 0;

		key_pressed(wait_key(o.delay_ms, tty), &quit);
		r = sample(&cur);
		if (r || rows_of(prev, cur, &v, &n) < 0)
			break;
		if (want_json)
			print_json_rows(v, n);
		else
			print_rows(v, n, tty);
		json_decref(prev);
		prev = TAKE_PTR(cur);
	}
	json_decref(prev);
	json_decref(cur);
	if (tty)
		(void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return r;
}
