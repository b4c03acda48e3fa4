/* SPDX-License-Identifier: MIT */
/* The sd-bus adapter for systemd's units (see sdunit.h). The conversions at the top are pure. */
#include <inttypes.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "sdunit.h"
#include "units.h"
#include "util.h"

#define USEC_PER_SEC 1000000ULL
#define BUS_TIMEOUT_USEC (3 * USEC_PER_SEC)
#define SLICE_WAIT_USEC (5 * USEC_PER_SEC)
#define CACHE_MAX 4096

/* ---- pure: kernel text -> unit properties ---- */

static const char *const io_v2[] = { "IOReadBandwidthMax", "IOWriteBandwidthMax", "IOReadIOPSMax",
				     "IOWriteIOPSMax" };
static const char *const io_v1[] = { "BlockIOReadBandwidth", "BlockIOWriteBandwidth", NULL, NULL };

const char *sdprop_io_name(int kind, bool v2)
{
	if (kind < 0 || kind >= (int) ELEMENTSOF(io_v2))
		return NULL;
	return v2 ? io_v2[kind] : io_v1[kind];
}

static int parse_num(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n'))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "max" and "-1" (v1's unlimited) are infinity. */
static int parse_limit(const char *s, uint64_t *ret)
{
	if (streq(s, "max") || streq(s, "max\n") || streq(s, "-1") || streq(s, "-1\n")) {
		*ret = UINT64_MAX;
		return 0;
	}
	return parse_num(s, ret);
}

static void set_u(struct sdprop *p, const char *name, uint64_t v)
{
	*p = (struct sdprop){ .name = name, .type = 't', .u = v };
	if (v == UINT64_MAX)
		snprintf(p->text, sizeof(p->text), "%s=infinity", name);
	else
		snprintf(p->text, sizeof(p->text), "%s=%" PRIu64, name, v);
}

/* "0-3,6" -> bit i of byte i / 8; "" -> empty mask (unset: the parent's). */
static int set_mask(struct sdprop *p, const char *name, const char *list)
{
	const char *s = list;

	*p = (struct sdprop){ .name = name, .type = 'y' };
	while (*s && *s != '\n') {
		unsigned a, b;

		if (cpulist_element(&s, &a, &b) < 0)
			return -EINVAL;
		if (b >= SDPROP_MASK_MAX * 8)
			return -ERANGE;
		for (unsigned i = a; i <= b; i++)
			p->mask[i / 8] |= (uint8_t) (1u << (i % 8));
		p->mask_len = MAX(p->mask_len, b / 8 + 1);
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	snprintf(p->text, sizeof(p->text), "%s=%.*s", name, (int) strcspn(list, "\n"), list);
	return 0;
}

/* systemd writes quota = per_sec * period / 1s: round per_sec up so that gives back quota. */
static void set_quota(struct sdprop out[2], uint64_t quota, uint64_t period)
{
	uint64_t per_sec = UINT64_MAX;

	if (quota != UINT64_MAX && period > 0)
		per_sec = (quota * USEC_PER_SEC + period - 1) / period;
	set_u(&out[0], "CPUQuotaPerSecUSec", per_sec);
	set_u(&out[1], "CPUQuotaPeriodUSec", period);
}

static int cpu_max(const char *text, struct sdprop out[2])
{
	char q[32], extra;
	uint64_t quota, period = 100000;
	int n = sscanf(text, "%31s %" SCNu64 " %c", q, &period, &extra);

	if (n < 1 || n > 2 || parse_limit(q, &quota) < 0 || period == 0)
		return -EINVAL;
	set_quota(out, quota, period);
	return 0;
}

static const char *const u64_name[_SDP_MAX] = {
	[SDP_CPU_WEIGHT] = "CPUWeight",		 [SDP_CPU_SHARES] = "CPUShares",
	[SDP_MEMORY_MAX] = "MemoryMax",		 [SDP_MEMORY_LIMIT] = "MemoryLimit",
	[SDP_MEMORY_SWAP_MAX] = "MemorySwapMax", [SDP_MEMORY_LOW] = "MemoryLow",
	[SDP_MEMORY_HIGH] = "MemoryHigh",	 [SDP_TASKS_MAX] = "TasksMax",
	[SDP_MEMORY_MIN] = "MemoryMin",
};

int sdprop_from_kernel(enum sdprop_kind kind, const char *text, uint64_t period_us,
		       struct sdprop out[2], size_t *ret_n)
{
	uint64_t v;
	int r;

	switch (kind) {
	case SDP_CPU_MAX:
		r = cpu_max(text, out);
		*ret_n = r < 0 ? 0 : 2;
		return r;
	case SDP_CPU_QUOTA_V1:
		/* v1 keeps quota and period in two files: the period row sets CPUQuotaPeriodUSec */
		if (parse_limit(text, &v) < 0 || period_us == 0)
			return -EINVAL;
		set_quota(out, v, period_us);
		*ret_n = 1;
		return 0;
	case SDP_CPU_PERIOD_V1:
		if (parse_num(text, &v) < 0)
			return -EINVAL;
		set_u(&out[0], "CPUQuotaPeriodUSec", v);
		*ret_n = 1;
		return 0;
	case SDP_ALLOWED_CPUS:
	case SDP_ALLOWED_MEMS:
		r = set_mask(out, kind == SDP_ALLOWED_CPUS ? "AllowedCPUs" : "AllowedMemoryNodes",
			     text);
		*ret_n = r < 0 ? 0 : 1;
		return r;
	default:
		if (kind <= SDP_NONE || kind >= _SDP_MAX || !u64_name[kind])
			return -EINVAL;
		if (parse_limit(text, &v) < 0)
			return -EINVAL;
		/* a weight or shares of "max" is no value */
		if (v == UINT64_MAX && (kind == SDP_CPU_WEIGHT || kind == SDP_CPU_SHARES))
			return -EINVAL;
		set_u(&out[0], u64_name[kind], v);
		*ret_n = 1;
		return 0;
	}
}

int sdprop_io(const char *name, unsigned maj, unsigned min, uint64_t value, struct sdprop *ret)
{
	if (!name)
		return -EINVAL;
	*ret = (struct sdprop){ .name = name, .type = 'd', .u = value };
	snprintf(ret->path, sizeof(ret->path), "/dev/block/%u:%u", maj, min);
	if (value == UINT64_MAX)
		snprintf(ret->text, sizeof(ret->text), "%s=%s infinity", name, ret->path);
	else
		snprintf(ret->text, sizeof(ret->text), "%s=%s %" PRIu64, name, ret->path, value);
	return 0;
}

/* ---- pure: cgroup path <-> unit name ---- */

static bool is_unit_leaf(const char *name, size_t len)
{
	static const char *const sfx[] = { ".slice", ".scope", ".service" };

	for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
		size_t l = strlen(sfx[i]);

		if (len > l && strneq(name + len - l, sfx[i], l))
			return true;
	}
	return false;
}

/* child ("a-b.slice") sits where systemd puts it: directly in parent ("a.slice"), or at the top
 * when it has no '-' (parent NULL). */
static bool slice_nested(const char *parent, size_t plen, const char *child, size_t clen)
{
	size_t pb = plen - strlen(".slice"), cb = clen - strlen(".slice");

	if (!parent)
		return !memchr(child, '-', cb);
	return cb > pb + 1 && strneq(child, parent, pb) && child[pb] == '-' &&
	       !memchr(child + pb + 1, '-', cb - pb - 1);
}

static bool is_slice(const char *name, size_t len)
{
	return len > strlen(".slice") && strneq(name + len - 6, ".slice", 6);
}

int sdunit_name_of_cgpath(const char *cgpath, char **ret)
{
	const char *c = cgpath, *prev = NULL;
	size_t prev_len = 0;

	if (cgpath_validate(cgpath) < 0 || streq(cgpath, "/"))
		return 0;
	for (c = cgpath + 1;;) {
		size_t len = strcspn(c, "/");
		bool last = c[len] == 0;

		if (!last && (!is_slice(c, len) || !slice_nested(prev, prev_len, c, len)))
			return 0;
		if (last) {
			if (!is_unit_leaf(c, len))
				return 0;
			if (is_slice(c, len) && !slice_nested(prev, prev_len, c, len))
				return 0;
			*ret = strndup(c, len);
			return *ret ? 1 : -ENOMEM;
		}
		prev = c;
		prev_len = len;
		c += len + 1;
	}
}

/* systemd's unit name escaping for a tenant name ([A-Za-z0-9][A-Za-z0-9_.+-]*): '-' would nest. */
static int escape_tenant(const char *t, char **ret)
{
	char *out = strdup("");

	for (const char *p = t; *p && out; p++) {
		if (*p == '-' || *p == '+') {
			if (strextend(&out, "\\x%02x", (unsigned) *p) < 0)
				break;
		} else if (strextend(&out, "%c", *p) < 0)
			break;
	}
	if (!out || strlen(out) < strlen(t)) {
		free(out);
		return -ENOMEM;
	}
	*ret = out;
	return 0;
}

int sdunit_tenant_slice(const char *tenant, char **ret_unit, char **ret_cgpath)
{
	_cleanup_free_ char *esc = NULL, *unit = NULL, *cg = NULL;
	int r = name_validate(tenant, TENANT_MAX);

	if (r < 0)
		return r;
	r = escape_tenant(tenant, &esc);
	if (r < 0)
		return r;
	unit = strprintf("qosd-%s.slice", esc);
	cg = strprintf("/qosd.slice/qosd-%s.slice", esc);
	if (!unit || !cg)
		return -ENOMEM;
	*ret_unit = TAKE_PTR(unit);
	*ret_cgpath = TAKE_PTR(cg);
	return 0;
}

/* ---- the bus ---- */

struct cache_entry {
	char *cgpath;
	char *unit; /* NULL: not a unit's own cgroup */
	bool pushed;
};

struct sdunit {
	sd_bus *bus;
	sdunit_set_fn fake_set; /* tests: no bus */
	void *fake_ud;
	char *version;
	struct cache_entry cache[CACHE_MAX]; /* direct-mapped by a hash of cgpath */
};

static inline void bus_unrefp(sd_bus **b)
{
	if (*b)
		sd_bus_flush_close_unref(*b);
}

static inline void msg_unrefp(sd_bus_message **m)
{
	if (*m)
		sd_bus_message_unref(*m);
}

#define _cleanup_bus_ _cleanup_(bus_unrefp)
#define _cleanup_msg_ _cleanup_(msg_unrefp)

static int bus_connect(sd_bus **ret)
{
	_cleanup_bus_ sd_bus *b = NULL;
	int r = sd_bus_open_system(&b);

	if (r >= 0)
		r = sd_bus_set_method_call_timeout(b, BUS_TIMEOUT_USEC);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

/* Other messages (NameAcquired, ...) queue up behind sync calls: drop them. */
static void drain(sd_bus *b)
{
	for (int i = 0; i < 64 && sd_bus_process(b, NULL) > 0; i++)
		;
}

/* A broken connection (the bus daemon restarted) is replaced on the next call. */
static int bus_of(struct sdunit *sd, sd_bus **ret)
{
	if (sd->bus && !sd_bus_is_open(sd->bus)) {
		sd_bus_flush_close_unref(sd->bus);
		sd->bus = NULL;
	}
	if (!sd->bus) {
		int r = bus_connect(&sd->bus);

		if (r < 0)
			return r;
	}
	*ret = sd->bus;
	return 0;
}

static int take_error(sd_bus_error *e, int r, char **ret_error)
{
	if (ret_error)
		*ret_error = strdup(e->message ? e->message : strerror(-r));
	sd_bus_error_free(e);
	return r < 0 ? r : -EIO;
}

static int get_version(sd_bus *b, char **ret)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_get_property_string(b, "org.freedesktop.systemd1",
					   "/org/freedesktop/systemd1",
					   "org.freedesktop.systemd1.Manager", "Version", &e, ret);

	sd_bus_error_free(&e);
	return r;
}

int sdunit_open(struct sdunit **ret)
{
	const char *env = getenv("QOSD_SYSTEMD");
	const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	_cleanup_bus_ sd_bus *b = NULL;
	_cleanup_free_ char *version = NULL;
	struct sdunit *sd;
	int r;

	*ret = NULL;
	if (env && streq(env, "0"))
		return 0;
	if (sd_booted() <= 0 && !addr && access("/run/dbus/system_bus_socket", F_OK) < 0)
		return 0;
	r = bus_connect(&b);
	if (r >= 0)
		r = get_version(b, &version);
	if (r < 0) {
		log_debug("systemd: no answer on the system bus (%s): cgroupfs only", strerror(-r));
		/* systemd is PID 1 but its bus is not there: the caller says so */
		return sd_booted() > 0 ? r : 0;
	}
	drain(b);
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->bus = TAKE_PTR(b);
	sd->version = TAKE_PTR(version);
	*ret = sd;
	return 1;
}

int sdunit_new_fake(sdunit_set_fn set, void *userdata, struct sdunit **ret)
{
	struct sdunit *sd = calloc(1, sizeof(*sd));

	if (!sd)
		return -ENOMEM;
	sd->fake_set = set;
	sd->fake_ud = userdata;
	sd->version = strdup("fake");
	if (!sd->version) {
		free(sd);
		return -ENOMEM;
	}
	*ret = sd;
	return 0;
}

void sdunit_free(struct sdunit *sd)
{
	if (!sd)
		return;
	for (size_t i = 0; i < CACHE_MAX; i++) {
		free(sd->cache[i].cgpath);
		free(sd->cache[i].unit);
	}
	if (sd->bus)
		sd_bus_flush_close_unref(sd->bus);
	free(sd->version);
	free(sd);
}

const char *sdunit_version(const struct sdunit *sd)
{
	return sd->version;
}

static struct cache_entry *cache_slot(struct sdunit *sd, const char *cgpath)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = cgpath; *p; p++)
		h = (h ^ (uint8_t) *p) * 16777619u;
	return &sd->cache[h % CACHE_MAX];
}

static struct cache_entry *cache_find(struct sdunit *sd, const char *cgpath)
{
	struct cache_entry *ce = cache_slot(sd, cgpath);

	return ce->cgpath && streq(ce->cgpath, cgpath) ? ce : NULL;
}

/* The interface that carries a unit type's cgroup properties. */
static const char *cgroup_interface(const char *unit)
{
	if (endswith(unit, ".scope"))
		return "org.freedesktop.systemd1.Scope";
	if (endswith(unit, ".slice"))
		return "org.freedesktop.systemd1.Slice";
	return "org.freedesktop.systemd1.Service";
}

/* The unit's ControlGroup as systemd has it ("" for a unit without one, or one not loaded). */
static int unit_cgroup(sd_bus *b, const char *unit, char **ret)
{
	_cleanup_free_ char *path = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r < 0)
		return r;
	r = sd_bus_get_property_string(b, "org.freedesktop.systemd1", path, cgroup_interface(unit),
				       "ControlGroup", &e, ret);
	sd_bus_error_free(&e);
	return r;
}

int sdunit_lookup(struct sdunit *sd, const char *cgpath, const char **ret_unit, bool *ret_fresh)
{
	_cleanup_free_ char *name = NULL, *cg = NULL;
	struct cache_entry *ce = cache_find(sd, cgpath);
	sd_bus *b;
	int r;

	if (ret_fresh)
		*ret_fresh = false;
	if (ce) {
		if (ret_fresh)
			*ret_fresh = ce->unit && !ce->pushed;
		*ret_unit = ce->unit;
		return ce->unit ? 1 : 0;
	}
	r = sdunit_name_of_cgpath(cgpath, &name);
	if (r > 0 && !sd->fake_set) {
		r = bus_of(sd, &b);
		if (r >= 0)
			r = unit_cgroup(b, name, &cg);
		if (r < 0) /* not cached: asked again next time */
			return r;
		drain(b);
		if (!streq(cg, cgpath)) {
			log_debug("systemd: %s is named like unit %s, whose cgroup is \"%s\"",
				  cgpath, name, cg);
			free(TAKE_PTR(name));
		}
	}
	ce = cache_slot(sd, cgpath); /* a collision only costs one more lookup */
	free(ce->cgpath);
	free(ce->unit);
	ce->cgpath = strdup(cgpath);
	ce->unit = TAKE_PTR(name);
	ce->pushed = false;
	if (!ce->cgpath) {
		free(TAKE_PTR(ce->unit));
		return -ENOMEM;
	}
	if (ret_fresh)
		*ret_fresh = ce->unit != NULL;
	*ret_unit = ce->unit;
	return ce->unit ? 1 : 0;
}

void sdunit_pushed(struct sdunit *sd, const char *cgpath)
{
	struct cache_entry *ce = cache_find(sd, cgpath);

	if (ce)
		ce->pushed = true;
}

void sdunit_forget(struct sdunit *sd, const char *cgpath)
{
	struct cache_entry *ce = cache_find(sd, cgpath);

	if (ce) {
		free(TAKE_PTR(ce->cgpath));
		free(TAKE_PTR(ce->unit));
	}
}

static int append_prop(sd_bus_message *m, const struct sdprop *p)
{
	int r = sd_bus_message_open_container(m, 'r', "sv");

	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "s", p->name);
	if (r < 0)
		return r;
	switch (p->type) {
	case 't':
		r = sd_bus_message_append(m, "v", "t", p->u);
		break;
	case 'y':
		r = sd_bus_message_open_container(m, 'v', "ay");
		if (r >= 0)
			r = sd_bus_message_append_array(m, 'y', p->mask, p->mask_len);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		break;
	case 'd':
		r = sd_bus_message_append(m, "v", "a(st)", 1, p->path, p->u);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static int append_props(sd_bus_message *m, const struct sdprop *p, size_t n)
{
	int r = sd_bus_message_open_container(m, 'a', "(sv)");

	for (size_t i = 0; i < n && r >= 0; i++)
		r = append_prop(m, &p[i]);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

/* systemd handles one bus message per event-loop turn and realizes cgroups in between: once a
 * second call is answered, the first call's properties are in the cgroup files. */
static int sync_systemd(sd_bus *b)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(b, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				   "org.freedesktop.DBus.Peer", "Ping", &e, NULL, NULL);

	sd_bus_error_free(&e);
	return r;
}

/* systemd's answer for a property it does not know, mapped to -EROFS. */
static int map_error(const sd_bus_error *e, int r)
{
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_PROPERTY_READ_ONLY))
		return -EROFS;
	return r;
}

/* A call of org.freedesktop.systemd1.Manager's method, on the (re)connected bus. */
static int manager_method(struct sdunit *sd, const char *method, sd_bus **ret_bus,
			  sd_bus_message **ret)
{
	int r = bus_of(sd, ret_bus);

	if (r < 0)
		return r;
	return sd_bus_message_new_method_call(*ret_bus, ret, "org.freedesktop.systemd1",
					      "/org/freedesktop/systemd1",
					      "org.freedesktop.systemd1.Manager", method);
}

int sdunit_set(struct sdunit *sd, const char *unit, const struct sdprop *p, size_t n,
	       char **ret_error)
{
	_cleanup_msg_ sd_bus_message *m = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *b;
	int r;

	if (ret_error)
		*ret_error = NULL;
	if (sd->fake_set) {
		_cleanup_free_ char *msg = NULL;

		r = sd->fake_set(sd->fake_ud, unit, p, n, &msg);
		if (ret_error)
			*ret_error = TAKE_PTR(msg);
		return r;
	}
	r = manager_method(sd, "SetUnitProperties", &b, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "sb", unit, 1);
	if (r >= 0)
		r = append_props(m, p, n);
	if (r >= 0)
		r = sd_bus_call(b, m, 0, &e, NULL);
	if (r < 0)
		return take_error(&e, map_error(&e, r), ret_error);
	r = sync_systemd(b);
	drain(b);
	return r < 0 ? take_error(&e, r, ret_error) : 0;
}

static int active_state(sd_bus *b, const char *unit, char **ret)
{
	_cleanup_free_ char *path = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);

	if (r >= 0)
		r = sd_bus_get_property_string(b, "org.freedesktop.systemd1", path,
					       "org.freedesktop.systemd1.Unit", "ActiveState", &e,
					       ret);
	sd_bus_error_free(&e);
	return r;
}

static int wait_active(sd_bus *b, const char *unit, char **ret_error)
{
	uint64_t until = now_usec() + SLICE_WAIT_USEC;

	for (;;) {
		_cleanup_free_ char *state = NULL;
		int r = active_state(b, unit, &state);

		if (r < 0)
			return r;
		if (streq(state, "active"))
			return 0;
		if (streq(state, "failed") || now_usec() > until) {
			if (ret_error)
				*ret_error = strprintf("%s is %s", unit, state);
			return streq(state, "failed") ? -EIO : -ETIMEDOUT;
		}
		(void) nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

int sdunit_start_slice(struct sdunit *sd, const char *unit, const char *description,
		       char **ret_error)
{
	_cleanup_msg_ sd_bus_message *m = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *b;
	int r;

	if (ret_error)
		*ret_error = NULL;
	if (sd->fake_set)
		return 0;
	r = manager_method(sd, "StartTransientUnit", &b, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", unit, "fail");
	if (r >= 0)
		r = sd_bus_message_append(m, "a(sv)", 1, "Description", "s", description);
	if (r >= 0)
		r = sd_bus_message_append(m, "a(sa(sv))", 0);
	if (r >= 0)
		r = sd_bus_call(b, m, 0, &e, NULL);
	if (r < 0 && !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.UnitExists"))
		return take_error(&e, r, ret_error);
	sd_bus_error_free(&e);
	r = wait_active(b, unit, ret_error);
	drain(b);
	return r;
}

bool sdunit_error_falls_back(int err)
{
	return err == -EROFS || err == -ETIMEDOUT || err == -ENOTCONN || err == -ECONNRESET ||
	       err == -ENOENT || err == -ECONNREFUSED;
}
