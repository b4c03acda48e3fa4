/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <fcntl.h>
#include <time.h>

#include "registry.h"
#include "util.h"

struct hnode {
	struct container *c;
	struct hnode *next;
};

struct registry {
	struct container **v;
	size_t n, cap;
	struct hnode **by_id, **by_cg;
	size_t nb; /* buckets in each table, a power of two */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

int registry_new(struct registry **ret)
{
	struct registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return -ENOMEM;
	reg->nb = 64;
	reg->by_id = calloc(reg->nb, sizeof(*reg->by_id));
	reg->by_cg = calloc(reg->nb, sizeof(*reg->by_cg));
	if (!reg->by_id || !reg->by_cg) {
		registry_free(reg);
		return -ENOMEM;
	}
	*ret = reg;
	return 0;
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
	qos_settings_done(&c->ovr);
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

static int insert(struct registry *reg, struct container *c)
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
	r = insert(reg, c);
	if (r < 0) {
		container_free(c);
		return r;
	}
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
	table_remove(reg->by_id, reg->nb, c->id, c);
	free(c->id);
	c->id = n;
	r = table_insert(reg->by_id, reg->nb, c->id, c);
	return r;
}

void registry_remove(struct registry *reg, struct container *c)
{
	size_t i = c->reg_idx;

	table_remove(reg->by_id, reg->nb, c->id, c);
	table_remove(reg->by_cg, reg->nb, c->cgpath, c);
	reg->v[i] = reg->v[--reg->n];
	reg->v[i]->reg_idx = i;
	container_free(c);
}

/* ---- state file ---- */

static int set_opt(json_t *o, const char *key, const char *val)
{
	if (!val)
		return 0;
	return json_object_set_new(o, key, json_string(val)) < 0 ? -ENOMEM : 0;
}

/* ---- fields of the [claim] binding (assign.h), kept apart from the core record ---- */

static int annotations_to_json(const struct container *c, json_t *o)
{
	json_t *a;

	if (!c->n_annotations)
		return 0;
	a = json_object();
	if (!a || json_object_set_new(o, "annotations", a) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_annotations; i++) {
		const char *eq = strchr(c->annotations[i], '=');
		_cleanup_free_ char *k =
			eq ? strndup(c->annotations[i], eq - c->annotations[i]) : NULL;

		if (!k || json_object_set_new(a, k, json_string(eq + 1)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* As every other field: whatever is not exactly what registry_save writes is -EBADMSG. */
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

static int hier_to_json(const struct container *c, json_t *o)
{
	json_t *h = NULL;

	for (int i = 0; i < _CG_CTRL_MAX; i++) {
		if (!c->hier.v[i])
			continue;
		if (!h && (!(h = json_object()) || json_object_set_new(o, "hierarchies", h) < 0))
			return -ENOMEM;
		if (json_object_set_new(h, cg_ctrl_name(i), json_string(c->hier.v[i])) < 0)
			return -ENOMEM;
	}
	return 0;
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

static json_t *container_to_json(const struct container *c)
{
	json_t *o = json_object(), *ovr = json_object();

	if (!o || !ovr)
		goto fail;
	for (int k = 0; k < _QK_MAX; k++)
		if (c->ovr.v[k].set &&
		    json_object_set_new(ovr, qos_key_name(k), json_string(c->ovr.v[k].str)) < 0)
			goto fail;
	if (set_opt(o, "id", c->id) < 0 || set_opt(o, "cgroup", c->cgpath) < 0 ||
	    set_opt(o, "op_tenant", c->op_tenant) < 0 || set_opt(o, "op_class", c->op_cls) < 0 ||
	    set_opt(o, "hook_tenant", c->hook_tenant) < 0 ||
	    set_opt(o, "hook_class", c->hook_cls) < 0 || set_opt(o, "dir", c->dir) < 0 ||
	    set_opt(o, "bundle", c->bundle) < 0 ||
	    json_object_set_new(o, "projid", json_integer(c->projid)) < 0 ||
	    json_object_set_new(o, "owned", json_integer(c->owned)) < 0 ||
	    json_object_set_new(o, "pid", json_integer(c->pid)) < 0 ||
	    json_object_set_new(o, "matched", json_boolean(c->matched)) < 0 ||
	    json_object_set(o, "overrides", ovr) < 0 || annotations_to_json(c, o) < 0 ||
	    hier_to_json(c, o) < 0)
		goto fail;
	json_decref(ovr);
	return o;
fail:
	json_decref(o);
	json_decref(ovr);
	return NULL;
}

static int dump_to_file(json_t *root, const char *path, bool durable)
{
	_cleanup_free_ char *s = json_dumps(root, JSON_COMPACT);

	if (!s)
		return -ENOMEM;
	return write_file_replace(path, s, strlen(s), 0600, durable);
}

int registry_save(const struct registry *reg, const char *path, bool durable)
{
	json_auto_t *root = json_object(), *arr = json_array();

	if (!root || !arr)
		return -ENOMEM;
	for (size_t i = 0; i < reg->n; i++) {
		json_t *o = container_to_json(reg->v[i]);

		if (!o || json_array_append_new(arr, o) < 0)
			return -ENOMEM;
	}
	if (json_object_set_new(root, "version", json_integer(1)) < 0 ||
	    json_object_set(root, "containers", arr) < 0)
		return -ENOMEM;
	return dump_to_file(root, path, durable);
}

/* Optional string: absent is fine, wrong type or invalid is -EBADMSG. */
static int get_opt(json_t *o, const char *key, int (*valid)(const char *), char **ret)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || (valid && valid(json_string_value(v)) < 0))
		return -EBADMSG;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
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
static int valid_abs(const char *s)
{
	return s[0] == '/' && strlen(s) < 4096 ? 0 : -EINVAL;
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

		if (k < 0 || !json_is_string(v) ||
		    qos_value_parse(k, json_string_value(v), &c->ovr.v[k], &msg) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int container_from_json(json_t *o, struct container **ret)
{
	struct container *c = calloc(1, sizeof(*c));
	json_t *projid = json_object_get(o, "projid"), *owned = json_object_get(o, "owned");
	json_t *pid = json_object_get(o, "pid");
	int r;

	if (!c)
		return -ENOMEM;
	r = json_is_object(o) ? 0 : -EBADMSG;
	if (r >= 0)
		r = get_opt(o, "id", valid_id, &c->id);
	if (r >= 0)
		r = get_opt(o, "cgroup", cgpath_validate, &c->cgpath);
	if (r >= 0 && (!c->id || !c->cgpath))
		r = -EBADMSG;
	if (r >= 0)
		r = get_opt(o, "op_tenant", valid_tenant, &c->op_tenant);
	if (r >= 0)
		r = get_opt(o, "op_class", valid_class, &c->op_cls);
	if (r >= 0)
		r = get_opt(o, "hook_tenant", valid_tenant, &c->hook_tenant);
	if (r >= 0)
		r = get_opt(o, "hook_class", valid_class, &c->hook_cls);
	if (r >= 0)
		r = get_opt(o, "dir", valid_abs, &c->dir);
	if (r >= 0)
		r = get_opt(o, "bundle", valid_abs, &c->bundle);
	if (r >= 0)
		r = get_overrides(o, c);
	if (r >= 0)
		r = annotations_from_json(o, c);
	if (r >= 0)
		r = hier_from_json(o, c);
	if (r >= 0 && ((projid && (!json_is_integer(projid) || json_integer_value(projid) < 0 ||
				   json_integer_value(projid) > UINT32_MAX)) ||
		       (owned && (!json_is_integer(owned) || json_integer_value(owned) < 0 ||
				  json_integer_value(owned) > UINT32_MAX)) ||
		       (pid && (!json_is_integer(pid) || json_integer_value(pid) < 0 ||
				json_integer_value(pid) > 4194304))))
		r = -EBADMSG;
	if (r < 0) {
		container_free(c);
		return r;
	}
	c->projid = projid ? json_integer_value(projid) : 0;
	c->owned = owned ? json_integer_value(owned) : 0;
	c->pid = pid ? json_integer_value(pid) : 0;
	c->matched = json_is_true(json_object_get(o, "matched"));
	*ret = c;
	return 0;
}

static int set_aside(const char *path, char **ret_msg)
{
	_cleanup_free_ char *aside = strprintf("%s.corrupt-%lld", path, (long long) time(NULL));

	if (!aside)
		return -ENOMEM;
	if (rename(path, aside) < 0)
		*ret_msg =
			strprintf("state file %s is corrupt and could not be set aside: %m", path);
	else
		*ret_msg = strprintf("state file %s is corrupt: set aside as %s, starting empty",
				     path, aside);
	return -EBADMSG;
}

int registry_load(struct registry *reg, const char *path, char **ret_msg)
{
	json_auto_t *root = NULL;
	json_t *arr, *o;
	json_error_t e;
	size_t i;

	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	arr = root ? json_object_get(root, "containers") : NULL;
	if (!root || !json_is_array(arr) ||
	    json_integer_value(json_object_get(root, "version")) != 1)
		return set_aside(path, ret_msg);
	json_array_foreach(arr, i, o)
	{
		struct container *c;
		int r = container_from_json(o, &c);

		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return set_aside(path, ret_msg);
		r = insert(reg, c);
		if (r < 0) {
			container_free(c);
			if (r != -EEXIST)
				return r;
		}
	}
	return 0;
}

int registry_load_pending(const char *path, struct container **ret)
{
	json_auto_t *o = NULL;
	json_error_t e;
	_cleanup_free_ char *text = NULL;
	int r = read_file_at(AT_FDCWD, path, 64 * 1024, &text);

	if (r < 0)
		return r;
	o = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		return -EBADMSG;
	return container_from_json(o, ret);
}

int registry_write_pending(const char *path, const struct container *c)
{
	json_auto_t *o = container_to_json(c);

	if (!o)
		return -ENOMEM;
	return dump_to_file(o, path, true);
}
