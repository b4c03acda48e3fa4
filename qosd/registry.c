/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>

#include "jsonw.h"
#include "registry-internal.h"
#include "util.h"

#define hash_str fnv1a64

int registry_new(struct registry **ret)
{
	struct registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return -ENOMEM;
	reg->nb = 64;
	reg->dfd = -1;
	reg->jfd = -1;
	reg->by_id = calloc(reg->nb, sizeof(*reg->by_id));
	reg->by_cg = calloc(reg->nb, sizeof(*reg->by_cg));
	if (!reg->by_id || !reg->by_cg) {
		registry_free(reg);
		return -ENOMEM;
	}
	*ret = reg;
	return 0;
}

const struct qos_settings *container_ovr(const struct container *c)
{
	static const struct qos_settings none;

	return c->ovr ? c->ovr : &none;
}

struct qos_settings *container_ovr_mut(struct container *c)
{
	if (!c->ovr)
		c->ovr = calloc(1, sizeof(*c->ovr));
	return c->ovr;
}

void container_free(struct container *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->cgpath);
	free(c->op_tenant);
	free(c->op_cls);
	free(c->hook_tenant);
	free(c->hook_cls);
	if (c->ovr)
		qos_settings_done(c->ovr);
	free(c->ovr);
	free(c->dir);
	free(c->bundle);
	strv_free_n(c->annotations, c->n_annotations);
	free(c->replaced);
	cg_paths_done(&c->hier);
	free(c->tenant);
	free(c->cls);
	free(c->status);
	free(c->errors);
	free(c);
}

static void table_free(struct hnode **t, size_t nb)
{
	for (size_t i = 0; t && i < nb; i++)
		while (t[i]) {
			struct hnode *n = t[i];

			t[i] = n->next;
			free(n);
		}
	free(t);
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		container_free(reg->v[i]);
	free(reg->v);
	table_free(reg->by_id, reg->nb);
	table_free(reg->by_cg, reg->nb);
	store_done(reg);
	free(reg);
}

size_t registry_size(const struct registry *reg)
{
	return reg->n;
}

struct container *registry_at(const struct registry *reg, size_t i)
{
	return i < reg->n ? reg->v[i] : NULL;
}

static struct container *table_find(struct hnode **t, size_t nb, const char *key, bool by_id)
{
	for (struct hnode *n = t[hash_str(key) & (nb - 1)]; n; n = n->next)
		if (streq(by_id ? n->c->id : n->c->cgpath, key))
			return n->c;
	return NULL;
}

struct container *registry_get(const struct registry *reg, const char *id)
{
	return table_find(reg->by_id, reg->nb, id, true);
}

struct container *registry_by_cgroup(const struct registry *reg, const char *cgpath)
{
	return table_find(reg->by_cg, reg->nb, cgpath, false);
}

static int table_insert(struct hnode **t, size_t nb, const char *key, struct container *c)
{
	struct hnode *n = malloc(sizeof(*n));
	size_t b = hash_str(key) & (nb - 1);

	if (!n)
		return -ENOMEM;
	n->c = c;
	n->next = t[b];
	t[b] = n;
	return 0;
}

static void table_remove(struct hnode **t, size_t nb, const char *key, struct container *c)
{
	for (struct hnode **p = &t[hash_str(key) & (nb - 1)]; *p; p = &(*p)->next)
		if ((*p)->c == c) {
			struct hnode *n = *p;

			*p = n->next;
			free(n);
			return;
		}
}

static int grow(struct registry *reg)
{
	struct hnode **id, **cg;
	size_t nb = reg->nb * 4;

	if (reg->n < reg->nb)
		return 0;
	id = calloc(nb, sizeof(*id));
	cg = calloc(nb, sizeof(*cg));
	if (!id || !cg) {
		free(id);
		free(cg);
		return -ENOMEM;
	}
	for (size_t i = 0; i < reg->n; i++)
		if (table_insert(id, nb, reg->v[i]->id, reg->v[i]) < 0 ||
		    table_insert(cg, nb, reg->v[i]->cgpath, reg->v[i]) < 0) {
			table_free(id, nb);
			table_free(cg, nb);
			return -ENOMEM;
		}
	table_free(reg->by_id, reg->nb);
	table_free(reg->by_cg, reg->nb);
	reg->by_id = id;
	reg->by_cg = cg;
	reg->nb = nb;
	return 0;
}

static int vec_push(struct registry *reg, struct container *c)
{
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 64;
		struct container **v = realloc(reg->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		reg->v = v;
		reg->cap = cap;
	}
	c->reg_idx = reg->n;
	reg->v[reg->n++] = c;
	return 0;
}

int registry_insert(struct registry *reg, struct container *c)
{
	int r;

	if (registry_get(reg, c->id))
		return -EEXIST;
	r = grow(reg);
	if (r < 0)
		return r;
	r = table_insert(reg->by_id, reg->nb, c->id, c);
	if (r < 0)
		return r;
	r = table_insert(reg->by_cg, reg->nb, c->cgpath, c);
	if (r >= 0)
		r = vec_push(reg, c);
	if (r < 0) {
		table_remove(reg->by_id, reg->nb, c->id, c);
		table_remove(reg->by_cg, reg->nb, c->cgpath, c);
	}
	return r;
}

int registry_add(struct registry *reg, const char *id, const char *cgpath, struct container **ret)
{
	struct container *c;
	int r;

	if (registry_get(reg, id))
		return -EEXIST;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->id = strdup(id);
	c->cgpath = strdup(cgpath);
	if (!c->id || !c->cgpath) {
		container_free(c);
		return -ENOMEM;
	}
	r = registry_insert(reg, c);
	if (r < 0) {
		container_free(c);
		return r;
	}
	registry_touch(reg, c);
	if (ret)
		*ret = c;
	return 0;
}

int registry_set_cgroup(struct registry *reg, struct container *c, const char *cgpath)
{
	char *p = strdup(cgpath);

	if (!p)
		return -ENOMEM;
	table_remove(reg->by_cg, reg->nb, c->cgpath, c);
	free(c->cgpath);
	c->cgpath = p;
	registry_touch(reg, c);
	return table_insert(reg->by_cg, reg->nb, c->cgpath, c);
}

int registry_rename(struct registry *reg, struct container *c, const char *id)
{
	char *n;
	int r;

	if (registry_get(reg, id))
		return -EEXIST;
	n = strdup(id);
	if (!n)
		return -ENOMEM;
	store_forget(reg, c); /* the record under the old id goes */
	table_remove(reg->by_id, reg->nb, c->id, c);
	free(c->id);
	c->id = n;
	r = table_insert(reg->by_id, reg->nb, c->id, c);
	registry_touch(reg, c);
	return r;
}

void registry_remove(struct registry *reg, struct container *c)
{
	size_t i = c->reg_idx;

	store_forget(reg, c);
	table_remove(reg->by_id, reg->nb, c->id, c);
	table_remove(reg->by_cg, reg->nb, c->cgpath, c);
	reg->v[i] = reg->v[--reg->n];
	reg->v[i]->reg_idx = i;
	container_free(c);
}

/* ---- records: one rule per field, for every way in (register, set, hook records) and out ---- */

/* ---- fields of the [claim] binding (assign.h), kept apart from the core record ---- */

/* As every other field: whatever is not exactly what container_put_json writes is -EBADMSG. */
static int annotations_from_json(json_t *o, struct container *c)
{
	json_t *a = json_object_get(o, "annotations"), *v;
	const char *k;

	if (!a)
		return 0;
	if (!json_is_object(a) || json_object_size(a) > ANNOTATIONS_MAX)
		return -EBADMSG;
	json_object_foreach(a, k, v)
	{
		int r;

		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return -EBADMSG;
		r = annotation_add(&c->annotations, &c->n_annotations, k, json_string_value(v));
		if (r <= 0)
			return r < 0 ? r : -EBADMSG;
	}
	return 0;
}

/* ---- v1 per-hierarchy paths (struct cg_paths), kept apart from the core record ---- */

static void hier_put(struct textbuf *b, bool *first, const struct container *c)
{
	bool hfirst = true;

	for (int i = 0; i < _CG_CTRL_MAX; i++) {
		if (!c->hier.v[i])
			continue;
		if (hfirst) {
			jsonw_key(b, first, "hierarchies");
			textbuf_put(b, "{", 1);
		}
		jsonw_member_str(b, &hfirst, cg_ctrl_name(i), c->hier.v[i]);
	}
	if (!hfirst)
		textbuf_put(b, "}", 1);
}

static int hier_from_json(json_t *o, struct container *c)
{
	json_t *h = json_object_get(o, "hierarchies"), *v;
	const char *k;

	if (!h)
		return 0;
	if (!json_is_object(h))
		return -EBADMSG;
	json_object_foreach(h, k, v)
	{
		int i = 0;

		while (i < _CG_CTRL_MAX && !streq(k, cg_ctrl_name(i)))
			i++;
		if (i == _CG_CTRL_MAX || c->hier.v[i] || !json_is_string(v) ||
		    cgpath_validate(json_string_value(v)) < 0)
			return -EBADMSG;
		c->hier.v[i] = strdup(json_string_value(v));
		if (!c->hier.v[i])
			return -ENOMEM;
	}
	return 0;
}

static int valid_id(const char *s)
{
	return name_validate(s, ID_MAX);
}
static int valid_tenant(const char *s)
{
	return name_validate(s, TENANT_MAX);
}
static int valid_class(const char *s)
{
	return name_validate(s, CLASS_MAX);
}
/* An absolute path without "." or ".." components or control characters, shorter than PATH_MAX:
 * what the quota module and the hook may later resolve. */
static int valid_path(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= PATH_MAX || s[0] != '/')
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return -EINVAL;
	for (const char *p = s; *p;) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		p += len;
	}
	return 0;
}

static const struct field {
	const char *key;
	size_t off; /* of a char * in struct container */
	int (*valid)(const char *);
	bool required;
	const char *rule;
} fields[] = {
	{ "id", offsetof(struct container, id), valid_id, true, "a container id" },
	{ "cgroup", offsetof(struct container, cgpath), cgpath_validate, true, "a cgroup path" },
	{ "op_tenant", offsetof(struct container, op_tenant), valid_tenant, false, "a tenant" },
	{ "op_class", offsetof(struct container, op_cls), valid_class, false, "a class" },
	{ "hook_tenant", offsetof(struct container, hook_tenant), valid_tenant, false, "a tenant" },
	{ "hook_class", offsetof(struct container, hook_cls), valid_class, false, "a class" },
	{ "dir", offsetof(struct container, dir), valid_path, false,
	  "an absolute path without \".\" or \"..\" components" },
	{ "bundle", offsetof(struct container, bundle), valid_path, false,
	  "an absolute path without \".\" or \"..\" components" },
};

#define FIELD(c, f) (*(char **) ((char *) (c) + (f)->off))

int registry_field_check(const char *field, const char *value, char **ret_msg)
{
	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		if (streq(fields[i].key, field)) {
			if (fields[i].valid(value) >= 0)
				return 0;
			*ret_msg = strprintf("%s \"%.*s\" is invalid: want %s", field, 256, value,
					     fields[i].rule);
			return -EINVAL;
		}
	return -ENOENT;
}

int container_put_json(struct textbuf *b, const struct container *c)
{
	size_t start = b->len;
	bool first = true, ofirst = true;

	textbuf_put(b, "{", 1);
	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		const char *v = FIELD(c, &fields[i]);

		if (v)
			jsonw_member_str(b, &first, fields[i].key, v);
	}
	jsonw_member_int(b, &first, "projid", c->projid);
	jsonw_member_int(b, &first, "owned", c->owned);
	jsonw_member_int(b, &first, "pid", c->pid);
	jsonw_member_bool(b, &first, "matched", c->matched);
	if (c->tasks_idle)
		jsonw_member_bool(b, &first, "tasks_idle", true);
	jsonw_key(b, &first, "overrides");
	textbuf_put(b, "{", 1);
	for (int k = 0; k < _QK_MAX; k++)
		if (container_ovr(c)->v[k].set)
			jsonw_member_str(b, &ofirst, qos_key_name(k), c->ovr->v[k].str);
	textbuf_put(b, "}", 1);
	jsonw_member_kv(b, &first, "annotations", c->annotations, c->n_annotations);
	hier_put(b, &first, c);
	textbuf_put(b, "}", 1);
	if (b->failed) {
		/* this record alone: b stays usable for the next (a realloc that failed kept p) */
		b->len = start;
		b->failed = false;
		if (b->p)
			b->p[start] = 0;
		return -ENOMEM;
	}
	return 0;
}

static int get_string(json_t *o, const struct field *f, struct container *c)
{
	json_t *v = json_object_get(o, f->key);

	if (!v)
		return f->required ? -EBADMSG : 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    f->valid(json_string_value(v)) < 0)
		return -EBADMSG;
	FIELD(c, f) = strdup(json_string_value(v));
	return FIELD(c, f) ? 0 : -ENOMEM;
}

static int get_overrides(json_t *o, struct container *c)
{
	json_t *ovr = json_object_get(o, "overrides"), *v;
	const char *key;

	if (!ovr)
		return 0;
	if (!json_is_object(ovr))
		return -EBADMSG;
	json_object_foreach(ovr, key, v)
	{
		_cleanup_free_ char *msg = NULL;
		int k = qos_key_from_name(key);

		if (k < 0 || !json_is_string(v))
			return -EBADMSG;
		if (!container_ovr_mut(c))
			return -ENOMEM;
		if (qos_value_parse(k, json_string_value(v), &c->ovr->v[k], &msg) < 0)
			return -EBADMSG;
	}
	return 0;
}

/* An optional integer field in 0..max. */
static int get_uint(json_t *o, const char *key, json_int_t max, json_int_t *ret)
{
	json_t *v = json_object_get(o, key);

	*ret = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

int container_from_json(json_t *o, struct container **ret, const char **ret_field)
{
	_cleanup_(container_freep) struct container *c = calloc(1, sizeof(*c));
	json_t *matched = json_object_get(o, "matched");
	json_t *tasks_idle = json_object_get(o, "tasks_idle");
	json_int_t projid, owned, pid;
	int r;

	*ret_field = "(the record)";
	if (!c)
		return -ENOMEM;
	if (!json_is_object(o))
		return -EBADMSG;
	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		*ret_field = fields[i].key;
		r = get_string(o, &fields[i], c);
		if (r < 0)
			return r;
	}
	*ret_field = "overrides";
	r = get_overrides(o, c);
	if (r < 0)
		return r;
	*ret_field = "annotations";
	r = annotations_from_json(o, c);
	if (r < 0)
		return r;
	*ret_field = "hierarchies";
	r = hier_from_json(o, c);
	if (r < 0)
		return r;
	*ret_field = "projid";
	if (get_uint(o, "projid", UINT32_MAX, &projid) < 0)
		return -EBADMSG;
	*ret_field = "owned";
	if (get_uint(o, "owned", UINT32_MAX, &owned) < 0)
		return -EBADMSG;
	*ret_field = "pid";
	if (get_uint(o, "pid", 4194304, &pid) < 0)
		return -EBADMSG;
	*ret_field = "matched";
	if (matched && !json_is_boolean(matched))
		return -EBADMSG;
	*ret_field = "tasks_idle";
	if (tasks_idle && !json_is_boolean(tasks_idle))
		return -EBADMSG;
	c->projid = (uint32_t) projid;
	c->owned = (uint32_t) owned;
	c->pid = (pid_t) pid;
	c->matched = json_is_true(matched);
	c->tasks_idle = json_is_true(tasks_idle);
	*ret_field = NULL;
	*ret = TAKE_PTR(c);
	return 0;
}

int registry_load_pending(const char *path, struct container **ret)
{
	json_auto_t *o = NULL;
	json_error_t e;
	_cleanup_free_ char *text = NULL;
	const char *field;
	int r = read_file_at(AT_FDCWD, path, 64 * 1024, &text);

	if (r < 0)
		return r;
	o = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		return -EBADMSG;
	return container_from_json(o, ret, &field);
}

int registry_write_pending(const char *path, const struct container *c)
{
	struct textbuf b = { 0 };
	int r = container_put_json(&b, c);

	if (r >= 0)
		r = write_file_replace(path, b.p, b.len, 0600, true);
	free(b.p);
	return r;
}
