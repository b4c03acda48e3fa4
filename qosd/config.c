/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <sys/un.h>
#include <syslog.h>

#include "config.h"
#include "units.h"
#include "util.h"

int config_init(struct qosd_config *cfg)
{
	*cfg = (struct qosd_config){ .drift_usec = 30 * 1000000ULL,
				     .log_level = LOG_INFO,
				     .pressure_usec = 1000000,
				     .pressure_high_pm = 100,
				     .pressure_low_pm = 30,
				     .pressure_steps = 4,
				     .livelock_usec = 10 * 1000000ULL,
				     .livelock_pm = 200,
				     .metrics_interval_usec = 15 * 1000000ULL };
	if (free_and_strdup(&cfg->config_dir, QOSD_CONFIG_DIR) < 0 ||
	    free_and_strdup(&cfg->state_dir, QOSD_STATE_DIR) < 0 ||
	    free_and_strdup(&cfg->socket, QOSD_SOCKET) < 0 ||
	    free_and_strdup(&cfg->cgroupfs, QOSD_CGROUPFS) < 0 ||
	    free_and_strdup(&cfg->conf_file, QOSD_CONF_FILE) < 0 ||
	    free_and_strdup(&cfg->tenant_parent, "/") < 0)
		return -ENOMEM;
	return 0;
}

void config_done(struct qosd_config *cfg)
{
	free(cfg->config_dir);
	free(cfg->state_dir);
	free(cfg->socket);
	free(cfg->cgroupfs);
	free(cfg->conf_file);
	free(cfg->admin_group);
	free(cfg->tenant_parent);
	for (size_t i = 0; i < cfg->n_container_roots; i++)
		free(cfg->container_roots[i]);
	free(cfg->container_roots);
	free(cfg->quota_roots);
	free(cfg->metrics_listen);
	free(cfg->metrics_textfile);
	*cfg = (struct qosd_config){ 0 };
}

static int set_group(struct qosd_config *cfg, const char *v, char **msg)
{
	struct group *g = getgrnam(v);

	if (!g) {
		*msg = strprintf("admin_group: no group named \"%s\"", v);
		return -EINVAL;
	}
	cfg->have_admin_gid = true;
	cfg->admin_gid = g->gr_gid;
	return free_and_strdup(&cfg->admin_group, v);
}

static int set_roots(struct qosd_config *cfg, const char *v, char **msg)
{
	_cleanup_free_ char *copy = strdup(v);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		char **n;

		if (cgpath_validate(t) < 0) {
			*msg = strprintf("container_roots: \"%s\" is not a cgroup path", t);
			return -EINVAL;
		}
		n = realloc(cfg->container_roots, (cfg->n_container_roots + 1) * sizeof(char *));
		if (!n)
			return -ENOMEM;
		cfg->container_roots = n;
		n[cfg->n_container_roots] = strdup(t);
		if (!n[cfg->n_container_roots])
			return -ENOMEM;
		cfg->n_container_roots++;
	}
	return 0;
}

static int set_range(struct qosd_config *cfg, const char *v, char **msg)
{
	unsigned lo, hi;
	int n = 0;

	if (sscanf(v, "%u-%u%n", &lo, &hi, &n) != 2 || v[n] || lo == 0 || lo > hi) {
		*msg = strprintf("quota_range: \"%s\" is not LOW-HIGH with 0 < LOW <= HIGH", v);
		return -EINVAL;
	}
	cfg->quota_lo = lo;
	cfg->quota_hi = hi;
	return 0;
}

/* pressure_* and livelock_* settings: durations, per-mille shares of time, a step count. */
static int set_pressure(struct qosd_config *cfg, const char *k, const char *v, char **msg)
{
	static const struct {
		const char *key;
		size_t off;
		bool percent;
		uint64_t lo, hi;
	} keys[] = {
		{ "pressure_interval", offsetof(struct qosd_config, pressure_usec), false, 100000,
		  60000000 },
		{ "livelock_time", offsetof(struct qosd_config, livelock_usec), false, 100000,
		  3600000000ULL },
		{ "pressure_high", offsetof(struct qosd_config, pressure_high_pm), true, 1, 1000 },
		{ "pressure_low", offsetof(struct qosd_config, pressure_low_pm), true, 0, 999 },
		{ "livelock_pressure", offsetof(struct qosd_config, livelock_pm), true, 1, 1000 },
		{ "pressure_steps", offsetof(struct qosd_config, pressure_steps), false, 1, 100 },
	};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		bool steps = streq(k, "pressure_steps");
		uint64_t x;
		int r;

		if (!streq(k, keys[i].key))
			continue;
		r = keys[i].percent ? parse_percent_milli(v, &x)
		    : steps	    ? parse_u64(v, &x)
				    : parse_duration_us(v, &x);
		if (keys[i].percent)
			x /= 100; /* per-mille percent -> per mille of time */
		if (r < 0 || x < keys[i].lo || x > keys[i].hi) {
			*msg = strprintf("%s: \"%s\" is not %s", k, v,
					 keys[i].percent ? "a percent of time within 0.1%..100%"
					 : steps	 ? "a count within 1..100"
							 : "a duration within 100ms..1h");
			return -EINVAL;
		}
		if (keys[i].percent || steps)
			*(uint32_t *) ((char *) cfg + keys[i].off) = (uint32_t) x;
		else
			*(uint64_t *) ((char *) cfg + keys[i].off) = x;
		return 0;
	}
	return -ENOENT;
}

int config_listen_parse(const char *s, char **ret_host, char **ret_port)
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

/* metrics_listen, metrics_textfile, metrics_interval */
static int apply_key_metrics(struct qosd_config *cfg, const char *k, const char *v, char **msg)
{
	_cleanup_free_ char *host = NULL, *port = NULL;

	if (streq(k, "metrics_listen")) {
		if (config_listen_parse(v, &host, &port) < 0) {
			*msg = strprintf("metrics_listen: \"%s\" is not HOST:PORT, [V6]:PORT or an "
					 "absolute Unix socket path",
					 v);
			return -EINVAL;
		}
		return free_and_strdup(&cfg->metrics_listen, v);
	}
	if (streq(k, "metrics_textfile")) {
		if (v[0] != '/' || !endswith(v, ".prom")) {
			*msg = strprintf("metrics_textfile: \"%s\" is not an absolute path ending "
					 "in .prom",
					 v);
			return -EINVAL;
		}
		return free_and_strdup(&cfg->metrics_textfile, v);
	}
	if (streq(k, "metrics_interval")) {
		if (parse_duration_us(v, &cfg->metrics_interval_usec) < 0 ||
		    cfg->metrics_interval_usec < 1000000) {
			*msg = strprintf(
				"metrics_interval: \"%s\" is not a duration of at least 1s", v);
			return -EINVAL;
		}
		return 0;
	}
	*msg = strprintf("unknown setting \"%s\"", k);
	return -EINVAL;
}

static int apply_key(struct qosd_config *cfg, const char *k, const char *v, char **msg)
{
	int r;

	if (streq(k, "admin_group"))
		return set_group(cfg, v, msg);
	if (streq(k, "drift_interval")) {
		if (parse_duration_us(v, &cfg->drift_usec) < 0 ||
		    (cfg->drift_usec && cfg->drift_usec < 10000)) {
			*msg = strprintf(
				"drift_interval: \"%s\" is not a duration of at least 10ms "
				"(or 0s to disable)",
				v);
			return -EINVAL;
		}
		return 0;
	}
	if (streq(k, "tenant_parent")) {
		if (cgpath_validate(v) < 0) {
			*msg = strprintf("tenant_parent: \"%s\" is not a cgroup path", v);
			return -EINVAL;
		}
		return free_and_strdup(&cfg->tenant_parent, v);
	}
	if (streq(k, "container_roots"))
		return set_roots(cfg, v, msg);
	if (streq(k, "quota_range"))
		return set_range(cfg, v, msg);
	if (streq(k, "quota_roots"))
		return free_and_strdup(&cfg->quota_roots, v);
	r = set_pressure(cfg, k, v, msg);
	if (r != -ENOENT)
		return r;
	if (startswith(k, "metrics_"))
		return apply_key_metrics(cfg, k, v, msg);
	*msg = strprintf("unknown setting \"%s\"", k);
	return -EINVAL;
}

static int load_line(struct qosd_config *cfg, char *line, char **msg)
{
	char *eq, *k, *v;

	line = strstrip(line);
	if (!*line || *line == '#' || *line == ';')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		*msg = strdup("expected KEY = VALUE");
		return -EINVAL;
	}
	*eq = 0;
	k = strstrip(line);
	v = strstrip(eq + 1);
	if (!*v) {
		*msg = strprintf("%s: empty value", k);
		return -EINVAL;
	}
	return apply_key(cfg, k, v, msg);
}

int config_load_file(struct qosd_config *cfg, const char *path, bool required, char **ret_msg)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL, *line;
	unsigned n = 0;
	int r = read_file_at(AT_FDCWD, path, 64 * 1024, &text);

	if (r == -ENOENT && !required)
		return 0;
	if (r < 0) {
		*ret_msg = strprintf("%s: %s", path, strerror(-r));
		return r;
	}
	/* strtok_r skips empty lines, so count them by hand */
	for (line = text; line; line = save) {
		_cleanup_free_ char *msg = NULL;

		save = strchr(line, '\n');
		if (save)
			*save++ = 0;
		n++;
		r = load_line(cfg, line, &msg);
		if (r < 0) {
			*ret_msg = strprintf("%s:%u: %s", path, n, msg ? msg : strerror(-r));
			return r;
		}
	}
	if (cfg->pressure_low_pm >= cfg->pressure_high_pm) {
		*ret_msg = strprintf("%s: pressure_low (%u.%u%%) must be below pressure_high "
				     "(%u.%u%%): the band between them is the hysteresis",
				     path, cfg->pressure_low_pm / 10, cfg->pressure_low_pm % 10,
				     cfg->pressure_high_pm / 10, cfg->pressure_high_pm % 10);
		return -EINVAL;
	}
	return 0;
}
