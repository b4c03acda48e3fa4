/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <jansson.h>

#include "ocistate.h"
#include "util.h"

#define OCI_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */

void oci_state_done(struct oci_state *s)
{
	free(s->version);
	free(s->id);
	free(s->status);
	free(s->bundle);
	free(s->tenant);
	free(s->cls);
	free(s->disk_dir);
	strv_free_n(s->annotations, s->n_annotations);
	*s = (struct oci_state){ 0 };
}

static int fail(char **ret_error, int err, char *msg)
{
	*ret_error = msg;
	return err;
}

/* An optional string member: absent or null leaves *ret NULL; anything but a string of at
 * most max bytes without an embedded NUL is -EINVAL. */
static int get_str(json_t *o, const char *key, size_t max, char **ret, char **ret_error)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(ret_error, -EINVAL, strprintf("\"%s\" is not a string", key));
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return fail(ret_error, -EINVAL,
			    strprintf("\"%s\" is longer than %zu bytes or holds a NUL", key, max));
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static bool path_ok(const char *p)
{
	return p[0] == '/' && !strstr(p, "/../") && !endswith(p, "/..");
}

static int parse_version(json_t *o, struct oci_state *s, char **ret_error)
{
	int r = get_str(o, "ociVersion", 64, &s->version, ret_error);

	if (r < 0)
		return r;
	if (!s->version)
		return fail(ret_error, -EINVAL, strdup("no \"ociVersion\": not an OCI state"));
	if (!startswith(s->version, "1."))
		return fail(ret_error, -EINVAL,
			    strprintf("ociVersion \"%s\" is not supported (runtime-spec 1.x)",
				      s->version));
	return 0;
}

static int check_id(const struct oci_state *s, char **ret_error)
{
	if (!s->id)
		return fail(ret_error, -EINVAL, strdup("no container \"id\""));
	if (name_validate(s->id, ID_MAX) < 0)
		return fail(ret_error, -EINVAL,
			    strprintf("invalid container id \"%.64s\" (allowed: "
				      "[A-Za-z0-9][A-Za-z0-9_.+-]*, at most %d bytes, not a "
				      "cgroup file name)",
				      s->id, ID_MAX));
	return 0;
}

static int parse_id(json_t *o, struct oci_state *s, char **ret_error)
{
	int r = get_str(o, "id", 4096, &s->id, ret_error);

	return r < 0 ? r : check_id(s, ret_error);
}

static int parse_pid(json_t *o, struct oci_state *s, char **ret_error)
{
	json_t *v = json_object_get(o, "pid");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > OCI_PID_MAX)
		return fail(ret_error, -EINVAL, strdup("\"pid\" is not a process id"));
	s->pid = json_integer_value(v);
	return 0;
}

static int parse_bundle(json_t *o, struct oci_state *s, char **ret_error)
{
	int r = get_str(o, "bundle", 4095, &s->bundle, ret_error);

	if (r >= 0 && !s->bundle)
		r = get_str(o, "bundlePath", 4095, &s->bundle, ret_error);
	if (r < 0)
		return r;
	if (s->bundle && s->bundle[0] != '/')
		return fail(ret_error, -EINVAL,
			    strprintf("bundle \"%.128s\" is not an absolute path", s->bundle));
	return 0;
}

/* Recorded, not validated: a runtime sets many annotations qosd has no use for. One it skips
 * (too long, odd key) only ever makes a [claim] rule on it fail, never pass. */
static int other_annotations(json_t *a, struct oci_state *s)
{
	const char *k;
	json_t *v;

	json_object_foreach(a, k, v)
	{
		if (startswith(k, "qosd.io/") || !json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			continue;
		if (annotation_add(&s->annotations, &s->n_annotations, k, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* qosd.io/tenant, qosd.io/class and qosd.io/disk-dir, whichever way they came */
static int check_annotations(const struct oci_state *s, char **ret_error)
{
	if (s->tenant && name_validate(s->tenant, TENANT_MAX) < 0)
		return fail(ret_error, -EINVAL,
			    strprintf(OCI_ANNOTATION_TENANT "=\"%.64s\" is not a valid tenant name",
				      s->tenant));
	if (s->cls && name_validate(s->cls, CLASS_MAX) < 0)
		return fail(ret_error, -EINVAL,
			    strprintf(OCI_ANNOTATION_CLASS "=\"%.80s\" is not a valid class name",
				      s->cls));
	if (s->disk_dir && !path_ok(s->disk_dir))
		return fail(ret_error, -EINVAL,
			    strprintf(OCI_ANNOTATION_DISK_DIR
				      "=\"%.128s\": give an absolute path without \"..\"",
				      s->disk_dir));
	return 0;
}

static int parse_annotations(json_t *o, struct oci_state *s, char **ret_error)
{
	json_t *a = json_object_get(o, "annotations");
	int r;

	if (!a || json_is_null(a))
		return 0;
	if (!json_is_object(a))
		return fail(ret_error, -EINVAL, strdup("\"annotations\" is not an object"));
	r = get_str(a, OCI_ANNOTATION_TENANT, 4096, &s->tenant, ret_error);
	if (r >= 0)
		r = get_str(a, OCI_ANNOTATION_CLASS, 4096, &s->cls, ret_error);
	if (r >= 0)
		r = get_str(a, OCI_ANNOTATION_DISK_DIR, 4095, &s->disk_dir, ret_error);
	if (r < 0)
		return r;
	r = other_annotations(a, s);
	if (r < 0)
		return fail(ret_error, r, NULL);
	return check_annotations(s, ret_error);
}

static int parse_object(json_t *o, struct oci_state *s, char **ret_error)
{
	int r = parse_version(o, s, ret_error);

	if (r >= 0)
		r = parse_id(o, s, ret_error);
	if (r >= 0)
		r = get_str(o, "status", 64, &s->status, ret_error);
	if (r >= 0)
		r = parse_pid(o, s, ret_error);
	if (r >= 0)
		r = parse_bundle(o, s, ret_error);
	if (r >= 0)
		r = parse_annotations(o, s, ret_error);
	return r;
}

int oci_state_parse(const char *buf, size_t len, struct oci_state *ret, char **ret_error)
{
	json_auto_t *o = NULL;
	struct oci_state s = { 0 };
	json_error_t e;
	int r;

	*ret_error = NULL;
	if (len > OCI_STATE_MAX)
		return fail(ret_error, -EFBIG,
			    strprintf("state is %zu bytes, more than the %d allowed", len,
				      OCI_STATE_MAX));
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!o)
		return fail(ret_error, -EINVAL,
			    strprintf("state is not JSON: %s (line %d, column %d)", e.text, e.line,
				      e.column));
	if (!json_is_object(o))
		return fail(ret_error, -EINVAL, strdup("state is not a JSON object"));
	r = parse_object(o, &s, ret_error);
	if (r < 0) {
		oci_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int oci_state_read(int fd, size_t max, uint64_t deadline, char **ret, size_t *ret_len)
{
	return read_fd_full(fd, max, deadline, ret, ret_len);
}

/* What the JSON path's get_str() holds a string to: at most 4095 bytes, UTF-8 (the text goes
 * on to qosd as JSON) */
static int check_text(const char *v, char **ret_error)
{
	json_t *j = strlen(v) <= 4095 ? json_string(v) : NULL;

	if (!j)
		return fail(ret_error, -EINVAL,
			    strdup("an option is longer than 4095 bytes or not valid UTF-8 text"));
	json_decref(j);
	return 0;
}

int oci_state_plain(const char *id, int64_t pid, const char *tenant, const char *cls,
		    const char *disk_dir, struct oci_state *ret, char **ret_error)
{
	struct oci_state s = { .pid = pid };
	int r = 0;

	*ret_error = NULL;
	if (pid < 0 || pid > OCI_PID_MAX)
		return fail(ret_error, -EINVAL, strdup("\"pid\" is not a process id"));
	if (!(s.version = strdup("1.0.0")) || !(s.id = strdup(id)) ||
	    (tenant && !(s.tenant = strdup(tenant))) || (cls && !(s.cls = strdup(cls))) ||
	    (disk_dir && !(s.disk_dir = strdup(disk_dir))))
		r = -ENOMEM;
	if (r >= 0)
		r = check_id(&s, ret_error);
	if (r >= 0)
		r = check_annotations(&s, ret_error);
	if (r >= 0 && disk_dir)
		r = check_text(disk_dir, ret_error);
	if (r < 0) {
		oci_state_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}
