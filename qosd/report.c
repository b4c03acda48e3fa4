/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "report.h"

static int report_add(struct qos_report *r, int qk, const char *key, const char *object,
		      struct qos_knob **ret)
{
	struct qos_knob *k;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct qos_knob *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	k = &r->v[r->n];
	*k = (struct qos_knob){ .qk = qk };
	k->key = strdup(key ? key : "");
	k->object = strdup(object ? object : "");
	if (!k->key || !k->object) {
		free(k->key);
		free(k->object);
		return -ENOMEM;
	}
	r->n++;
	if (ret)
		*ret = k;
	return 0;
}

int report_add_key(struct qos_report *r, enum qos_key qk, const char *object, struct qos_knob **ret)
{
	const char *name = qos_key_name(qk);

	if (!name)
		return -EINVAL;
	return report_add(r, qk, name, object, ret);
}

int report_add_group(struct qos_report *r, const char *group, const char *object,
		     struct qos_knob **ret)
{
	return report_add(r, -1, group, object, ret);
}

static int vprintf_field(char **field, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (fmt && vasprintf(&s, fmt, ap) < 0)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

int knob_printf(char **field, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vprintf_field(field, fmt, ap);
	va_end(ap);
	return r;
}

void knob_fail(struct qos_knob *k, int err, const char *fmt, ...)
{
	va_list ap;

	k->error = err < 0 ? err : -err;
	if (k->error == 0)
		k->error = -EIO;
	va_start(ap, fmt);
	(void) vprintf_field(&k->error_msg, fmt, ap);
	va_end(ap);
}

void report_retry(struct qos_report *r, const char *fmt, ...)
{
	va_list ap;

	r->retry = true;
	if (r->retry_why)
		return;
	va_start(ap, fmt);
	(void) vprintf_field(&r->retry_why, fmt, ap);
	va_end(ap);
}

size_t report_errors(const struct qos_report *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].error)
			n++;
	return n;
}

void report_done(struct qos_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct qos_knob *k = &r->v[i];

		free(k->key);
		free(k->object);
		free(k->desired);
		free(k->applied);
		free(k->before);
		free(k->note);
		free(k->source);
		free(k->error_msg);
	}
	free(r->v);
	free(r->retry_why);
	*r = (struct qos_report){ 0 };
}
