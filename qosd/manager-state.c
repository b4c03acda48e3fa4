/* SPDX-License-Identifier: MIT */
/* The manager's state on disk: records saved (durably for a request, in the background for a
 * pass), loaded at start, and the registrations qos-hook left while qosd was down. */
#include <dirent.h>
#include <systemd/sd-event.h>

#include "cgroup.h"
#include "log.h"
#include "manager-internal.h"

/* The state is a snapshot and a journal of records (registry-store.c): a request appends its
 * container's record and fdatasyncs the journal before it answers; what passes change (keys
 * applied, project ids) is appended without fdatasync, at most SAVE_BATCH records per event-loop
 * iteration. */
#define SAVE_BATCH 256
#define SAVE_RETRY_USEC (1000 * 1000ULL)
/* A compaction writes every record: it waits this long after the append that made it due, on the
 * save timer, so that the request whose record made it due has had its answer. */
#define COMPACT_DELAY_USEC (100 * 1000ULL)

static void compact(struct manager *m)
{
	uint64_t start = now_usec();
	int r = registry_compact(m->reg);

	if (r < 0)
		log_warning_errno(r,
				  "cannot compact the state journal in %s/containers (it grows "
				  "on, the next start reads it whole), ignoring",
				  m->cfg->state_dir);
	else
		log_info("state: %zu record(s) compacted into the snapshot in %llu ms",
			 registry_size(m->reg), (unsigned long long) (now_usec() - start) / 1000);
}

/* The save timer will fire (it is made enabled at UINT64_MAX: that is never) */
static bool save_armed(struct manager *m)
{
	int enabled = SD_EVENT_OFF;
	uint64_t at = UINT64_MAX;

	return sd_event_source_get_enabled(m->save_src, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
	       sd_event_source_get_time(m->save_src, &at) >= 0 && at != UINT64_MAX;
}

/* durable: one fdatasync of the journal (what a request calls saved). Records left over (max
 * reached) or failed are written at the next turn of the event loop / in a second. */
static int save_records(struct manager *m, bool durable, size_t max)
{
	uint64_t start = now_usec();
	int r = registry_sync(m->reg, durable, max);

	if (r < 0) {
		/* retried in a second even when nothing else happens (no drift timer, no requests) */
		if (m->save_src) {
			sd_event_source_set_time(m->save_src, now_usec() + SAVE_RETRY_USEC);
			sd_event_source_set_enabled(m->save_src, SD_EVENT_ONESHOT);
		}
		return log_error_errno(r,
				       "cannot write the state records in %s/containers (will "
				       "retry)",
				       m->cfg->state_dir);
	}
	m->state_dirty = r > 0;
	m->saved_at = now_usec();
	m->save_cost = m->saved_at - start;
	/* records left: at once. A compaction due: once, COMPACT_DELAY after the save that made it
	 * due, not pushed back by each save after it (steady churn would never let it run) */
	if (m->save_src && (r > 0 || (registry_compact_due(m->reg) && !save_armed(m)))) {
		sd_event_source_set_time(m->save_src,
					 m->saved_at + (r > 0 ? 0 : COMPACT_DELAY_USEC));
		sd_event_source_set_enabled(m->save_src, SD_EVENT_ONESHOT);
	}
	return 0;
}

/* Every request changes one container: its record, the most recently touched, is written before
 * the answer; the rest of the queue (a pass's changes) goes on in the background. */
int manager_save_state(struct manager *m, bool durable)
{
	return save_records(m, durable, 1);
}

void manager_save_state_later(struct manager *m)
{
	m->state_dirty = true;
	enable_defer(m);
}

void save_soon(struct manager *m)
{
	(void) save_records(m, false, SAVE_BATCH);
}

int on_save(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	if (m->state_dirty)
		save_soon(m);
	/* a timer of its own turn of the loop: the request that made it due has its answer */
	if (!m->state_dirty && registry_compact_due(m->reg))
		compact(m);
	return 0;
}

static void adopt_one_pending(struct manager *m, const char *path)
{
	struct container *p = NULL, *c;
	_cleanup_free_ char *why = NULL;
	int r = registry_load_pending(path, &p);

	if (r < 0) {
		log_warning_errno(r, "pending registration %s is unreadable, ignoring", path);
		(void) unlink(path);
		return;
	}
	if (!manager_cgroups_allowed(m, p->cgpath, &p->hier, &why)) {
		log_warning("pending registration %s: %s, ignoring", p->id, why);
		container_free(p);
		(void) unlink(path);
		return;
	}
	/* the hook knows only its own fields: what the operator set for this id stays */
	if (manager_entry(m, p->id, p->cgpath, &c) >= 0) {
		free(c->hook_tenant);
		free(c->hook_cls);
		if (p->dir)
			free(c->dir);
		if (p->bundle)
			free(c->bundle);
		c->hook_tenant = TAKE_PTR(p->hook_tenant);
		c->hook_cls = TAKE_PTR(p->hook_cls);
		if (p->dir)
			c->dir = TAKE_PTR(p->dir);
		if (p->bundle)
			c->bundle = TAKE_PTR(p->bundle);
		c->pid = p->pid;
		cg_paths_done(&c->hier);
		c->hier = p->hier;
		p->hier = (struct cg_paths){ 0 };
		strv_free_n(c->annotations, c->n_annotations);
		c->annotations = TAKE_PTR(p->annotations);
		c->n_annotations = p->n_annotations;
		p->n_annotations = 0;
		c->owned |= p->owned;
		if (p->projid)
			c->projid = p->projid;
		manager_mark_dirty(m, c);
		registry_touch(m->reg, c);
		m->state_dirty = true;
		manager_watch_exit(m, c);
		log_info("adopted %s (registered by qos-hook while qosd was down)", c->id);
	}
	container_free(p);
	(void) unlink(path);
}

void adopt_pending(struct manager *m)
{
	DIR *d = opendir(m->pending_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL;

		if (!endswith(de->d_name, ".json"))
			continue;
		path = strprintf("%s/%s", m->pending_dir, de->d_name);
		if (path)
			adopt_one_pending(m, path);
	}
	closedir(d);
}

/* A state directory qosd trusts: a real directory it owns, not writable by others. */
static int check_state_dir(const char *dir)
{
	_cleanup_free_ char *msg = NULL;
	int r = dir_check_private(dir, &msg);

	if (r < 0)
		log_error("state directory: %s", msg ? msg : strerror(-r));
	return r;
}

/* The single state.json of older versions, written tmp + rename, left state.json.tmp.<pid> behind
 * when qosd was killed during a save: nothing reads those. (The per-file records of later versions
 * left .ID.json.tmp files, an interrupted compaction .snapshot.jsonl.tmp: registry-store.c
 * removes those as it loads.) */
static void remove_stale_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (startswith(de->d_name, "state.json.tmp.") && de->d_type == DT_REG &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_debug("removed %s/%s, left by an interrupted save", dir, de->d_name);
	closedir(d);
}

int load_state(struct manager *m)
{
	_cleanup_free_ char *msg = NULL, *records = NULL;
	int r = check_state_dir(m->cfg->state_dir);

	if (r < 0)
		return r;
	m->state_path = strprintf("%s/state.json", m->cfg->state_dir);
	m->pending_dir = strprintf("%s/pending", m->cfg->state_dir);
	records = strprintf("%s/containers", m->cfg->state_dir);
	if (!m->state_path || !m->pending_dir || !records)
		return -ENOMEM;
	/* qosd reads and deletes the records in these: the same trust as the state directory */
	r = check_state_dir(m->pending_dir);
	if (r >= 0)
		r = check_state_dir(records);
	if (r < 0)
		return r;
	remove_stale_tmp(m->cfg->state_dir);
	r = registry_open_store(m->reg, records);
	if (r >= 0)
		r = registry_load(m->reg, m->state_path, &msg);
	/* each bad record costs its container alone: one warning line each */
	for (char *save = NULL, *l = msg ? strtok_r(msg, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		log_warning("%s", l);
	if (r < 0)
		return log_error_errno(r, "cannot read the state in %s", records);
	m->state_dirty = true; /* records a migration could not write yet */
	log_info("state: %zu container(s) from %s%s", registry_size(m->reg), records,
		 r > 0 ? " (bad records skipped, see above)" : "");
	return 0;
}
