/* SPDX-License-Identifier: MIT */
/* qosctl explain ID [KEY]: where each value a container gets comes from: the class key's
 * file:line, the operator's override (and who set it, since qosd started), the hook's annotation,
 * or the [match] rule's file:line. */
#include <jansson.h>
#include <pwd.h>
#include <time.h>

#include "control.h"
#include "desired.h"
#include "manager.h"
#include "metrics-internal.h"
#include "plan.h"

struct ovr_note {
	char *id, *key;
	uid_t uid;
	pid_t pid;
	time_t when;
};

static void note_free(struct ovr_note *n)
{
	free(n->id);
	free(n->key);
}

void explain_notes_free(struct metrics *mt)
{
	for (size_t i = 0; i < mt->n_notes; i++)
		note_free(&mt->notes[i]);
	free(mt->notes);
	mt->notes = NULL;
	mt->n_notes = 0;
}

static struct ovr_note *note_find(struct metrics *mt, const char *id, const char *key)
{
	for (size_t i = 0; i < mt->n_notes; i++)
		if (streq(mt->notes[i].id, id) && streq(mt->notes[i].key, key))
			return &mt->notes[i];
	return NULL;
}

static void note_drop(struct metrics *mt, const char *id, const char *key)
{
	struct ovr_note *n = note_find(mt, id, key);

	if (!n)
		return;
	note_free(n);
	*n = mt->notes[--mt->n_notes];
}

/* Notes of containers qosd forgot (they exited) go: the list stays as long as the registry. */
static void notes_prune(struct manager *m, struct metrics *mt)
{
	for (size_t i = mt->n_notes; i > 0; i--)
		if (!registry_get(m->reg, mt->notes[i - 1].id)) {
			note_free(&mt->notes[i - 1]);
			mt->notes[i - 1] = mt->notes[--mt->n_notes];
		}
}

static void note_set(struct metrics *mt, const char *id, const char *key,
		     const struct control_peer *peer)
{
	struct ovr_note *n = note_find(mt, id, key), *v;

	if (!n) {
		v = realloc(mt->notes, (mt->n_notes + 1) * sizeof(*v));
		if (!v)
			return;
		mt->notes = v;
		n = &v[mt->n_notes];
		*n = (struct ovr_note){ .id = strdup(id), .key = strdup(key) };
		if (!n->id || !n->key) {
			note_free(n);
			return;
		}
		mt->n_notes++;
	}
	n->uid = peer->uid;
	n->pid = peer->pid;
	n->when = time(NULL);
}

void explain_after_request(struct manager *m, const struct qos_request *req,
			   const struct control_peer *peer, const char *reply)
{
	struct metrics *mt;

	if ((req->cmd != CMD_SET && req->cmd != CMD_UNSET) || !reply || !req->id ||
	    !strstr(reply, "\"ok\":true") || metrics_ctx(m, &mt) < 0)
		return;
	notes_prune(m, mt);
	if (req->cmd == CMD_UNSET && req->all) {
		for (size_t i = mt->n_notes; i > 0; i--)
			if (streq(mt->notes[i - 1].id, req->id))
				note_drop(mt, req->id, mt->notes[i - 1].key);
		return;
	}
	for (size_t i = 0; i < req->n_args; i++) {
		_cleanup_free_ char *key = strndup(req->args[i], strcspn(req->args[i], "="));

		if (!key)
			continue;
		if (req->cmd == CMD_SET)
			note_set(mt, req->id, key, peer);
		else
			note_drop(mt, req->id, key);
	}
}

/* "by uid 0 (root), pid 1234, at 2026-11-29T18:30:00Z", or NULL when qosd has no record */
static char *who_set(struct manager *m, const char *id, const char *key)
{
	struct ovr_note *n = m->metrics ? note_find(m->metrics, id, key) : NULL;
	struct passwd *pw;
	char when[32];
	struct tm tm;

	if (!n)
		return NULL;
	pw = getpwuid(n->uid);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&n->when, &tm));
	return strprintf("by uid %u (%s), pid %d, at %s", (unsigned) n->uid, pw ? pw->pw_name : "?",
			 (int) n->pid, when);
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *operator_json(struct manager *m, const struct container *c, const char *key,
			     const char *what)
{
	_cleanup_free_ char *who = who_set(m, c->id, key);
	_cleanup_free_ char *text =
		strprintf("%s (qosctl set %s) %s", what, key,
			  who ? who : "before qosd's last start (qosd keeps no record of who)");

	return jstr(text);
}

/* Where the tenant and class come from. */
static json_t *assignment_json(struct manager *m, const struct container *c, const char *origin,
			       const struct qos_tenant *t, const struct qos_class *cls)
{
	const struct qos_tenant *mt = NULL;
	const struct qos_match *rule = NULL;
	_cleanup_free_ char *text = NULL;

	if (!origin)
		return json_null();
	if (streq(origin, "operator"))
		return operator_json(m, c, "class", "set by the operator");
	if (streq(origin, "hook"))
		text = strprintf("annotation qosd.io/class=%s%s%s of the OCI bundle %s (qos-hook)",
				 c->hook_cls, c->hook_tenant ? ", qosd.io/tenant=" : "",
				 c->hook_tenant ? c->hook_tenant : "", c->bundle ? c->bundle : "-");
	else if (policy_match_rule(m->policy, c->cgpath, &mt, &rule) > 0)
		text = strprintf("%s:%u: [match] %s = %s", mt->file, rule->line, rule->glob,
				 rule->cls);
	(void) t;
	(void) cls;
	return jstr(text);
}

static json_t *key_json(struct manager *m, const struct container *c, const struct qos_tenant *t,
			const struct qos_class *cls, const struct qos_desired *d, int k)
{
	const struct qos_value *v = &d->merged.v[k];
	_cleanup_free_ char *where = NULL;
	json_t *from;

	switch (d->src[k]) {
	case QOS_SRC_CLASS:
		where = strprintf("%s:%u: [class %s] %s = %s", t->file, v->line, cls->name,
				  qos_key_name(k), v->str);
		from = jstr(where);
		break;
	case QOS_SRC_OVERRIDE:
		from = operator_json(m, c, qos_key_name(k), "override set by the operator");
		break;
	case QOS_SRC_CLEARED:
		from = json_string("no longer in the policy: qosd set it before, so it restores "
				   "the kernel's default");
		break;
	default:
		return NULL;
	}
	return json_pack("{s:s,s:o,s:s,s:o}", "key", qos_key_name(k), "value",
			 jstr(v->set ? v->str : "default"), "source", qos_source_name(d->src[k]),
			 "from", from);
}

char *explain_reply(struct manager *m, const char *id, const char *only)
{
	struct container *c = registry_get(m->reg, id);
	const struct qos_tenant *t = NULL;
	const struct qos_class *cls = NULL;
	const char *origin = NULL;
	_cleanup_free_ char *why = NULL, *msg = NULL;
	struct qos_desired d = { 0 };
	int key = only ? qos_key_from_name(only) : -1, r;
	json_t *o, *keys;
	char *s;

	if (!c) {
		msg = strprintf("no container \"%s\" is known to qosd", id);
		return control_error_reply(msg);
	}
	if (only && key < 0 && !streq(only, "class") && !streq(only, "tenant")) {
		msg = strprintf("unknown key \"%.64s\"", only);
		return control_error_reply(msg);
	}
	r = manager_assignment(m, c, &t, &cls, &origin, &why);
	o = json_pack("{s:b,s:s,s:s,s:o,s:o,s:o}", "ok", 1, "id", c->id, "cgroup", c->cgpath,
		      "tenant", jstr(t ? t->name : NULL), "class", jstr(cls ? cls->name : NULL),
		      "assignment", assignment_json(m, c, origin, t, cls));
	if (!o)
		return NULL;
	if (r < 0)
		json_object_set_new(o, "problem", jstr(why));
	if (cls)
		json_object_set_new(
			o, "class_at",
			json_sprintf("%s:%u: [class %s]", t->file, cls->line, cls->name));
	keys = json_array();
	if (cls &&
	    desired_compute(&cls->s, QOS_SRC_CLASS, container_ovr(c), c->owned, &d, &msg) >= 0) {
		for (int k = 0; k < _QK_MAX; k++) {
			json_t *j = key < 0 && only	     ? NULL
				    : (key >= 0 && k != key) ? NULL
							     : key_json(m, c, t, cls, &d, k);

			if (j)
				json_array_append_new(keys, j);
		}
		desired_done(&d);
	} else if (msg)
		json_object_set_new(o, "problem", jstr(msg));
	json_object_set_new(o, "keys", keys);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
