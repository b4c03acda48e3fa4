/* SPDX-License-Identifier: MIT */
/* qosd's own settings: command line, and the optional /etc/qosd/qosd.conf (admin_group,
 * drift_interval, tenant_parent, container_roots, quota ranges). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define QOSD_CONFIG_DIR "/etc/qosd/conf.d"
#define QOSD_CONF_FILE "/etc/qosd/qosd.conf"
#define QOSD_STATE_DIR "/var/lib/qosd"
#define QOSD_SOCKET "/run/qosd/qosd.sock"
#define QOSD_CGROUPFS "/sys/fs/cgroup"

struct qosd_config {
	char *config_dir, *state_dir, *socket, *cgroupfs, *conf_file;
	char *admin_group;
	bool have_admin_gid;
	gid_t admin_gid;
	uint64_t drift_usec; /* 0 = no drift timer */
	char *tenant_parent; /* cgroup under which qosd-<tenant> cgroups are made */
	char **container_roots; /* cgroup path prefixes containers may live under; none = any */
	size_t n_container_roots;
	uint32_t quota_lo, quota_hi; /* 0 = default by the filesystem */
	char *quota_roots; /* colon-separated directories disk.dir may be under; NULL = any */
	int log_level;
	/* the batch-beside-latency controller (runs only when a class sets priority) */
	uint64_t pressure_usec; /* sampling interval */
	uint32_t pressure_high_pm, pressure_low_pm; /* tighten at or above, give back at or below */
	uint32_t pressure_steps; /* levels from a batch class's ceiling to its floor */
	uint64_t livelock_usec; /* memory.high events with memory stall this long: relieve */
	uint32_t livelock_pm; /* memory stall that counts towards a livelock */
	/* metrics (metrics.c): off unless one of the two is set */
	char *metrics_listen; /* "HOST:PORT", "[V6]:PORT" or a Unix socket path */
	char *metrics_textfile; /* a .prom file for node_exporter's textfile collector */
	uint64_t metrics_interval_usec; /* textfile rewrite interval */
};

/* metrics_listen: "/path" (Unix socket) or "HOST:PORT" / "[V6]:PORT". 0 with *ret_host (the path
 * or host) and *ret_port (NULL for a path), or -EINVAL. */
int config_listen_parse(const char *s, char **ret_host, char **ret_port);

/* Defaults (the paths above, drift 30 s, tenant_parent "/", pressure 1 s 10 % / 3 %, 4 steps,
 * livelock 10 s at 20 %). */
int config_init(struct qosd_config *cfg);
void config_done(struct qosd_config *cfg);
/* Read KEY = VALUE lines of qosd.conf; a missing file is fine unless required. Unknown keys
 * and bad values are refused with "file:line: message". */
int config_load_file(struct qosd_config *cfg, const char *path, bool required, char **ret_msg);
