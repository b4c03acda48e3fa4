/* SPDX-License-Identifier: MIT */
/* systemd's units and their cgroups. systemd keeps one writer per unit cgroup: it re-applies the
 * resource properties it models (daemon-reload, set-property) over what another process wrote. So
 * for a cgroup that IS a unit's (".../docker-ID.scope", not a delegated child below it), qosd sets
 * those knobs as runtime unit properties over D-Bus (SetUnitProperties), and writes cgroupfs only
 * for what systemd does not model. Tenant budgets become transient slices (qosd-TENANT.slice).
 * sd-bus stays in sdunit.c; the conversions are pure and unit-tested. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which unit property models a kernel file, per cgroup version (the knob table's systemd column). */
enum sdprop_kind {
	SDP_NONE = 0, /* systemd does not model it: cgroupfs */
	SDP_CPU_WEIGHT, /* v2 cpu.weight -> CPUWeight */
	SDP_CPU_SHARES, /* v1 cpu.shares -> CPUShares */
	SDP_CPU_MAX, /* v2 cpu.max "QUOTA PERIOD" -> CPUQuotaPerSecUSec + CPUQuotaPeriodUSec */
	SDP_CPU_QUOTA_V1, /* v1 cpu.cfs_quota_us (with the period) -> CPUQuotaPerSecUSec */
	SDP_CPU_PERIOD_V1, /* v1 cpu.cfs_period_us -> CPUQuotaPeriodUSec */
	SDP_ALLOWED_CPUS, /* v2 cpuset.cpus -> AllowedCPUs */
	SDP_ALLOWED_MEMS, /* v2 cpuset.mems -> AllowedMemoryNodes */
	SDP_MEMORY_MAX, /* v2 memory.max -> MemoryMax */
	SDP_MEMORY_LIMIT, /* v1 memory.limit_in_bytes -> MemoryLimit */
	SDP_MEMORY_SWAP_MAX, /* v2 memory.swap.max -> MemorySwapMax */
	SDP_MEMORY_LOW, /* v2 memory.low -> MemoryLow */
	SDP_MEMORY_HIGH, /* v2 memory.high -> MemoryHigh */
	SDP_MEMORY_MIN, /* v2 memory.min -> MemoryMin */
	SDP_TASKS_MAX, /* pids.max -> TasksMax */
	_SDP_MAX
};

/* An I/O limit's property: v2 IO{Read,Write}{Bandwidth,IOPS}Max, v1 BlockIO{Read,Write}Bandwidth
 * (v1 has no IOPS property: NULL). kind is enum qos_io_kind. */
const char *sdprop_io_name(int kind, bool v2);

#define SDPROP_MASK_MAX 1024 /* AllowedCPUs bitmask bytes: CPUs 0..8191 */

/* One unit property with its D-Bus value: 't' (u), 'ay' (mask), or 'a(st)' (path, u). */
struct sdprop {
	const char *name;
	char type; /* 't', 'y' (ay), 'd' (a(st): one device entry) */
	uint64_t u; /* UINT64_MAX = infinity */
	char path[32]; /* 'd': /dev/block/MAJ:MIN */
	uint8_t mask[SDPROP_MASK_MAX];
	size_t mask_len;
	char text[96]; /* "MemoryMax=67108864", for the report */
};

/* Convert the kernel text qosd would write into the unit properties that make systemd write it.
 * period_us: the CFS period that goes with a v1 quota (SDP_CPU_QUOTA_V1, SDP_CPU_PERIOD_V1).
 * Fills out[0..*ret_n) (at most 2). -EINVAL for text that does not parse, -ERANGE for a CPU or
 * node beyond the mask. Quotas round up to the microsecond per second, so systemd's
 * quota = per_sec * period / 1s gives back the exact quota. */
int sdprop_from_kernel(enum sdprop_kind kind, const char *text, uint64_t period_us,
		       struct sdprop out[2], size_t *ret_n);

/* An I/O device limit: name from sdprop_io_name, the whole disk, value (UINT64_MAX = none). */
int sdprop_io(const char *name, unsigned maj, unsigned min, uint64_t value, struct sdprop *ret);

/* The unit whose own cgroup cgpath is, by systemd's naming: every component but the last a
 * slice nested by its name ("a-b.slice" inside "a.slice"), the last a .slice, .scope or .service.
 * Returns 1 with the name, 0 when cgpath is not a unit's own cgroup (a delegated child such as
 * "libpod-ID.scope/container", a runtime's own directory, the root), -ENOMEM. */
int sdunit_name_of_cgpath(const char *cgpath, char **ret);

/* The transient slice of a tenant: "qosd-NAME.slice" (systemd's escaping: '-' is \x2d, '+' is
 * \x2b) and its cgroup "/qosd.slice/qosd-NAME.slice". */
int sdunit_tenant_slice(const char *tenant, char **ret_unit, char **ret_cgpath);

struct sdunit;

/* Connect to systemd over the system bus if it runs (decided once). Returns 1 with *ret, 0 with
 * *ret = NULL when there is no systemd (no /run/systemd/system and no bus socket, or nothing
 * answers as org.freedesktop.systemd1), -errno when systemd is PID 1 but its bus does not
 * answer (cgroupfs then, until qosd restarts). QOSD_SYSTEMD=0 in the environment
 * forces 0 (tests, and hosts where the admin wants cgroupfs only). */
int sdunit_open(struct sdunit **ret);
void sdunit_free(struct sdunit *sd);
/* systemd's version as it reports it ("252.19-1~deb12u1"). */
const char *sdunit_version(const struct sdunit *sd);

/* The unit whose own cgroup cgpath is, confirmed by systemd (the unit's ControlGroup property
 * equals cgpath), cached. Returns 1 with *ret_unit (borrowed: valid until the next call), 0 when
 * none. ret_fresh (may be NULL): qosd has not yet pushed its knobs to this unit since it started
 * (sdunit_pushed), so the caller sets every knob it owns once: what the kernel has may not be
 * what systemd keeps (a hook or an earlier qosd wrote cgroupfs). */
int sdunit_lookup(struct sdunit *sd, const char *cgpath, const char **ret_unit, bool *ret_fresh);
/* Every owned knob of cgpath's unit is now set through systemd. */
void sdunit_pushed(struct sdunit *sd, const char *cgpath);
/* Forget a cached lookup (the cgroup went away). */
void sdunit_forget(struct sdunit *sd, const char *cgpath);

/* SetUnitProperties(unit, runtime = true, p[0..n)), then one more round trip so systemd has
 * written the cgroup when this returns (it realizes cgroups between two bus messages). systemd
 * checks all properties before it applies any: on failure none is set. ret_error gets systemd's
 * words. -EROFS: systemd does not know a property (older systemd: cgroupfs is then safe);
 * -ETIMEDOUT, -ENOTCONN, -ECONNRESET: the bus. */
int sdunit_set(struct sdunit *sd, const char *unit, const struct sdprop *p, size_t n,
	       char **ret_error);

/* Start the transient slice unit (StartTransientUnit, mode "fail") unless it exists, and wait
 * (bounded) until it is active. ret_error gets systemd's words. */
int sdunit_start_slice(struct sdunit *sd, const char *unit, const char *description,
		       char **ret_error);

/* Tests: an sdunit without a bus. sdunit_set calls set(userdata, ...) instead of systemd, and
 * sdunit_lookup trusts the path rule (no ControlGroup check); start_slice succeeds. */
typedef int (*sdunit_set_fn)(void *userdata, const char *unit, const struct sdprop *p, size_t n,
			     char **ret_error);
int sdunit_new_fake(sdunit_set_fn set, void *userdata, struct sdunit **ret);

/* True when errors like err from sdunit_set leave cgroupfs as the safe fallback: systemd does
 * not model the property, or it cannot be reached (a limit now beats none; the next pass tries
 * systemd again). */
bool sdunit_error_falls_back(int err);
