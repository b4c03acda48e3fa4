/* SPDX-License-Identifier: MIT */
/* The policy file parser: one tenant's INI text -> struct qos_tenant, with file:line errors.
 * inih does the key = value split, but Debian's build truncates long lines
 * and section names silently, folds indented lines into the previous value, strips " ;" inline
 * comments and splits on ':' as well as '='. So every line is checked here first, and inih only
 * ever sees lines whose meaning does not depend on how it was compiled: bad lines are blanked
 * (keeping line numbers) after their error is recorded. Each handler call is paired with the
 * key line the pre-check saw, which gives line numbers without INI_HANDLER_LINENO. */
#include <stdarg.h>

#include <ini.h>

#include "keys.h"
#include "policy-internal.h"
#include "policy.h"
#include "util.h"

/* inih (INI_MAX_LINE 200) reads at most 199 bytes of a line into its buffer */
#define LINE_MAX_BYTES 199
/* INI_MAX_SECTION; we never use inih's copy of the section name, but keep its documented limit */
#define SECTION_MAX_BYTES 50

/* ---- the file parser ---- */

struct perr {
	unsigned line; /* 0: about the whole file */
	char *msg;
};

enum sect_kind { S_NONE, S_TENANT, S_CLASS, S_MATCH, S_CLAIM, S_BAD };

/* A key line the pre-check let through, in order: the n-th inih handler call is the n-th. */
struct kvline {
	unsigned line;
	enum sect_kind sect;
	size_t cls;
	char *key;
};

struct parser {
	const char *path;
	struct qos_tenant *t;
	struct perr *errs;
	size_t n_errs;
	struct kvline *kv;
	size_t n_kv, next_kv;
	unsigned tenant_line, match_line, anyone_line;
	enum sect_kind cur;
	size_t cur_cls;
	bool oom;
};

static void parser_done(struct parser *p)
{
	for (size_t i = 0; i < p->n_errs; i++)
		free(p->errs[i].msg);
	free(p->errs);
	for (size_t i = 0; i < p->n_kv; i++)
		free(p->kv[i].key);
	free(p->kv);
	tenant_free(p->t);
}

/* Take ownership of msg (NULL = allocation failed). */
static void perr_take(struct parser *p, unsigned line, char *msg)
{
	struct perr *n;

	if (!msg) {
		p->oom = true;
		return;
	}
	n = reallocarray(p->errs, p->n_errs + 1, sizeof(*n));
	if (!n) {
		free(msg);
		p->oom = true;
		return;
	}
	p->errs = n;
	p->errs[p->n_errs++] = (struct perr){ line, msg };
}

_printf_(3, 4) static void perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	perr_take(p, line, msg);
}

static bool tenant_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TENANT_MAX || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int class_add(struct parser *p, const char *name, unsigned line)
{
	struct qos_class *n;

	n = reallocarray(p->t->classes, p->t->n_classes + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->t->classes = n;
	n[p->t->n_classes] = (struct qos_class){ .name = strdup(name), .line = line };
	if (!n[p->t->n_classes].name)
		return -ENOMEM;
	p->cur_cls = p->t->n_classes++;
	return 0;
}

static enum sect_kind section_class(struct parser *p, unsigned line, const char *name)
{
	const struct qos_class *c;

	if (name_validate(name, CLASS_MAX) < 0) {
		perr(p, line,
		     "bad class name '%s' (letters, digits, '_', '.', '+', '-', starting with a "
		     "letter or digit, at most %d bytes, not a cgroup file name)",
		     name, CLASS_MAX);
		return S_BAD;
	}
	c = policy_class(p->t, name);
	if (c) {
		perr(p, line, "duplicate section [class %s] (first on line %u)", name, c->line);
		return S_BAD;
	}
	if (class_add(p, name, line) < 0) {
		p->oom = true;
		return S_BAD;
	}
	return S_CLASS;
}

static enum sect_kind section_once(struct parser *p, unsigned line, const char *name,
				   unsigned *first, enum sect_kind kind)
{
	if (*first) {
		perr(p, line, "duplicate section [%s] (first on line %u)", name, *first);
		return S_BAD;
	}
	*first = line;
	if (kind == S_TENANT)
		p->t->has_budget = true;
	return kind;
}

static enum sect_kind section_kind(struct parser *p, unsigned line, char *name)
{
	if (streq(name, "tenant"))
		return section_once(p, line, name, &p->tenant_line, S_TENANT);
	if (streq(name, "match"))
		return section_once(p, line, name, &p->match_line, S_MATCH);
	if (streq(name, "claim"))
		return section_once(p, line, name, &p->t->claim_line, S_CLAIM);
	if (startswith(name, "class") && (name[5] == ' ' || name[5] == '\t'))
		return section_class(p, line, strstrip(name + 5));
	if (streq(name, "class"))
		perr(p, line, "section [class] needs a name: [class NAME]");
	else
		perr(p, line,
		     "unknown section [%s] (expected [tenant], [class NAME], [match] or [claim])",
		     name);
	return S_BAD;
}

/* "[...]" line (already stripped); true if inih may see it. */
static bool section_line(struct parser *p, unsigned line, char *buf)
{
	size_t n = strlen(buf);
	char *name;

	p->cur = S_BAD;
	if (buf[n - 1] != ']') {
		perr(p, line, "section line must end with ']' (nothing may follow it)");
		return false;
	}
	buf[n - 1] = 0;
	name = strstrip(buf + 1);
	if (strpbrk(name, "[]")) {
		perr(p, line, "'[' or ']' inside a section name");
		return false;
	}
	if (strlen(name) > SECTION_MAX_BYTES) {
		perr(p, line, "section name too long (%zu bytes, at most %d)", strlen(name),
		     SECTION_MAX_BYTES);
		return false;
	}
	p->cur = section_kind(p, line, name);
	return p->cur != S_BAD;
}

static int kv_add(struct parser *p, unsigned line, const char *key)
{
	struct kvline *n;

	n = reallocarray(p->kv, p->n_kv + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->kv = n;
	n[p->n_kv] = (struct kvline){ line, p->cur, p->cur_cls, strdup(key) };
	if (!n[p->n_kv].key)
		return -ENOMEM;
	p->n_kv++;
	return 0;
}

/* "key = value" line (already stripped); true if inih may see it. */
static bool kv_line(struct parser *p, unsigned line, char *buf)
{
	char *eq = strchr(buf, '='), *key;

	if (strpbrk(buf, ";#")) {
		perr(p, line,
		     "inline comment (';' or '#' after text): put comments on their own "
		     "line");
		return false;
	}
	if (!eq) {
		perr(p, line, "expected 'KEY = VALUE', '[SECTION]' or a comment");
		return false;
	}
	*eq = 0;
	key = strstrip(buf);
	if (*key == 0) {
		perr(p, line, "missing key before '='");
		return false;
	}
	/* inih splits at the first '=' or ':' */
	if (strchr(key, ':')) {
		perr(p, line, "':' in key '%s' (keys and match globs may not contain ':')", key);
		return false;
	}
	if (p->cur == S_NONE) {
		perr(p, line, "key '%s' outside any section", key);
		return false;
	}
	if (p->cur == S_BAD)
		return false; /* the section's error says it all */
	if (kv_add(p, line, key) < 0) {
		p->oom = true;
		return false;
	}
	return true;
}

/* One line without its '\n'; true if it goes to inih unchanged, false if it is blanked. */
static bool precheck_line(struct parser *p, unsigned line, const char *s, size_t len)
{
	char buf[LINE_MAX_BYTES + 1], *t;

	if (len > LINE_MAX_BYTES) {
		perr(p, line, "line too long (%zu bytes, at most %d)", len, LINE_MAX_BYTES);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			perr(p, line, "control character 0x%02x (not a text file?)",
			     (unsigned char) s[i]);
			return false;
		}
	memcpy(buf, s, len);
	buf[len] = 0;
	t = strstrip(buf);
	/* indented comments are comments for inih too, so they are not continuation lines */
	if (*t == 0 || *t == '#' || *t == ';')
		return false;
	if (t != buf) {
		perr(p, line, "indented line (continuation lines are not allowed)");
		return false;
	}
	if (*t == '[')
		return section_line(p, line, t);
	return kv_line(p, line, t);
}

/* Build inih's input: every line checked, refused lines and comments blanked. */
static int precheck(struct parser *p, const char *text, char **ret_clean)
{
	_cleanup_free_ char *clean = malloc(strlen(text) + 2);
	const char *s = text;
	size_t o = 0;

	if (!clean)
		return -ENOMEM;
	if (startswith(s, "\xef\xbb\xbf"))
		s += 3; /* a UTF-8 BOM: inih may or may not skip it, so it never sees it */
	for (unsigned line = 1; *s; line++) {
		size_t len = strcspn(s, "\n"), keep = len;

		if (keep > 0 && s[keep - 1] == '\r')
			keep--;
		if (precheck_line(p, line, s, keep)) {
			memcpy(clean + o, s, keep);
			o += keep;
		}
		clean[o++] = '\n';
		s += len;
		if (*s == '\n')
			s++;
	}
	clean[o] = 0;
	*ret_clean = TAKE_PTR(clean);
	return p->oom ? -ENOMEM : 0;
}

static void settings_add(struct parser *p, struct qos_settings *s, bool tenant,
			 const struct kvline *kv, const char *value)
{
	struct qos_value *v;
	char *msg = NULL;
	int k;

	k = qos_key_from_name(kv->key);
	if (k < 0)
		return perr(p, kv->line, "unknown key '%s'", kv->key);
	if (tenant && !qos_key_tenant_ok(k))
		return perr(p, kv->line, "%s is not allowed in [tenant] (%s: put it in a class)",
			    kv->key,
			    qos_key_class_only(k) ? "it says how a class is treated"
						  : "net.* and disk.* apply to each container");
	v = &s->v[k];
	/* line is kept even when the first value was refused, so a second one is still a dup */
	if (v->line)
		return perr(p, kv->line, "duplicate key %s (first on line %u)", kv->key, v->line);
	v->line = kv->line;
	if (qos_value_parse(k, value, v, &msg) < 0)
		return perr_take(p, kv->line, msg);
	v->line = kv->line;
}

static void match_add(struct parser *p, const struct kvline *kv, const char *value)
{
	struct qos_tenant *t = p->t;
	struct qos_match *n;

	if (kv->key[0] != '/')
		return perr(p, kv->line, "match glob '%s' must start with '/' (a cgroup path)",
			    kv->key);
	for (size_t i = 0; i < t->n_matches; i++)
		if (streq(t->matches[i].glob, kv->key))
			return perr(p, kv->line, "duplicate match glob %s (first on line %u)",
				    kv->key, t->matches[i].line);
	if (*value == 0)
		return perr(p, kv->line, "match %s: empty value (expected a class name)", kv->key);
	if (name_validate(value, CLASS_MAX) < 0)
		return perr(p, kv->line, "match %s: bad class name '%s'", kv->key, value);
	n = reallocarray(t->matches, t->n_matches + 1, sizeof(*n));
	if (!n) {
		p->oom = true;
		return;
	}
	t->matches = n;
	n[t->n_matches] = (struct qos_match){ strdup(kv->key), strdup(value), kv->line };
	t->n_matches++;
	if (!n[t->n_matches - 1].glob || !n[t->n_matches - 1].cls)
		p->oom = true;
}

/* ---- [claim]: which containers may claim this tenant ---- */

static int claim_push(struct parser *p, enum qos_claim_kind kind, const char *key, const char *glob,
		      unsigned line)
{
	struct qos_tenant *t = p->t;
	struct qos_claim *n;

	for (size_t i = 0; i < t->n_claims; i++)
		if (t->claims[i].kind == kind && streq(t->claims[i].glob, glob) &&
		    (!key || streq(t->claims[i].key, key))) {
			perr(p, line, "duplicate [claim] rule (first on line %u)",
			     t->claims[i].line);
			return 0;
		}
	n = reallocarray(t->claims, t->n_claims + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->claims = n;
	n[t->n_claims] = (struct qos_claim){ kind, key ? strdup(key) : NULL, strdup(glob), line };
	t->n_claims++;
	if ((key && !n[t->n_claims - 1].key) || !n[t->n_claims - 1].glob)
		return -ENOMEM;
	return 0;
}

static void claim_anyone(struct parser *p, const struct kvline *kv, const char *value)
{
	if (p->anyone_line)
		return perr(p, kv->line, "duplicate key anyone (first on line %u)", p->anyone_line);
	p->anyone_line = kv->line;
	if (streq(value, "yes"))
		p->t->claim_anyone = true;
	else if (!streq(value, "no"))
		perr(p, kv->line, "anyone = %s: expected yes or no", value);
}

static void claim_add(struct parser *p, const struct kvline *kv, const char *value)
{
	const char *akey =
		startswith(kv->key, "annotation.") ? kv->key + strlen("annotation.") : NULL;
	int r = 0;

	if (streq(kv->key, "anyone"))
		return claim_anyone(p, kv, value);
	if (*value == 0)
		return perr(p, kv->line, "%s: empty value (expected a glob)", kv->key);
	if (strlen(value) > CLAIM_GLOB_MAX)
		return perr(p, kv->line, "%s: glob longer than %d bytes", kv->key, CLAIM_GLOB_MAX);
	if (streq(kv->key, "cgroup")) {
		if (value[0] != '/')
			return perr(p, kv->line,
				    "cgroup = %s: must start with '/' (a cgroup path glob)", value);
		r = claim_push(p, QOS_CLAIM_CGROUP, NULL, value, kv->line);
	} else if (akey) {
		if (!annotation_key_ok(akey))
			return perr(p, kv->line,
				    "%s: '%s' is not an annotation key ([A-Za-z0-9._/-], at most "
				    "%d bytes)",
				    kv->key, akey, ANNOTATION_KEY_MAX);
		/* the container's owner writes these: a rule on them would bind nothing */
		if (startswith(akey, "qosd.io/"))
			return perr(p, kv->line,
				    "%s: qosd.io/* annotations are set by whoever starts the "
				    "container; bind on a key the runtime sets (e.g. "
				    "io.kubernetes.pod.namespace) or on cgroup",
				    kv->key);
		r = claim_push(p, QOS_CLAIM_ANNOTATION, akey, value, kv->line);
	} else
		return perr(p, kv->line,
			    "unknown key '%s' in [claim] (expected cgroup, annotation.KEY or "
			    "anyone)",
			    kv->key);
	if (r < 0)
		p->oom = true;
}

static void check_claims(struct parser *p)
{
	const struct qos_tenant *t = p->t;

	if (t->claim_line && t->claim_anyone && t->n_claims)
		perr(p, t->claims[0].line,
		     "[claim] anyone = yes lets every container claim %s: other [claim] rules "
		     "would have no effect",
		     t->name);
	else if (t->claim_line && !t->claim_anyone && !t->n_claims)
		perr(p, t->claim_line,
		     "[claim] is empty: give cgroup = GLOB, annotation.KEY = GLOB or anyone = yes "
		     "(or remove it)");
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct kvline *kv;

	if (!name)
		return 1; /* INI_CALL_HANDLER_ON_NEW_SECTION builds: sections come from precheck */
	if (p->next_kv >= p->n_kv || !streq(p->kv[p->next_kv].key, name)) {
		/* cannot happen with the pre-check; never guess which line this was */
		perr(p, 0, "internal error: INI parser out of step at key '%s'", name);
		p->next_kv = p->n_kv;
		return 1;
	}
	kv = &p->kv[p->next_kv++];
	if (kv->sect == S_TENANT)
		settings_add(p, &p->t->budget, true, kv, value);
	else if (kv->sect == S_CLASS)
		settings_add(p, &p->t->classes[kv->cls].s, false, kv, value);
	else if (kv->sect == S_MATCH)
		match_add(p, kv, value);
	else if (kv->sect == S_CLAIM)
		claim_add(p, kv, value);
	return 1;
}

static void rule_broken(void *userdata, unsigned line, char *msg)
{
	perr_take(userdata, line, msg);
}

static void check_section(struct parser *p, const struct qos_settings *s)
{
	policy_rules_each(s, rule_broken, p);
}

static void check_tenant(struct parser *p)
{
	const struct qos_tenant *t = p->t;

	if (t->has_budget)
		check_section(p, &t->budget);
	for (size_t i = 0; i < t->n_classes; i++)
		check_section(p, &t->classes[i].s);
	for (size_t i = 0; i < t->n_matches; i++)
		if (!policy_class(t, t->matches[i].cls))
			perr(p, t->matches[i].line,
			     "match %s: class '%s' is not defined in this file", t->matches[i].glob,
			     t->matches[i].cls);
	check_claims(p);
}

static int perr_cmp(const void *a, const void *b)
{
	const struct perr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	/* stable: messages of one line keep the order they were found in */
	return x < y ? -1 : x > y;
}

/* All errors, sorted by line, as "file:line: msg\n" ("file: msg\n" for the whole file). */
static int errors_text(struct parser *p, char **out)
{
	int r = 0;

	qsort(p->errs, p->n_errs, sizeof(*p->errs), perr_cmp);
	for (size_t i = 0; i < p->n_errs && r >= 0; i++) {
		if (p->errs[i].line)
			r = strextend(out, "%s:%u: %s\n", p->path, p->errs[i].line, p->errs[i].msg);
		else
			r = strextend(out, "%s: %s\n", p->path, p->errs[i].msg);
	}
	return r;
}

static int parse_text(struct parser *p, const char *text)
{
	_cleanup_free_ char *clean = NULL;
	int r;

	r = precheck(p, text, &clean);
	if (r < 0)
		return r;
	r = ini_parse_string(clean, ini_handler_cb, p);
	if (r < 0)
		return -ENOMEM; /* -2: inih's malloc; -1 (open) cannot happen for a string */
	if (r > 0)
		perr(p, (unsigned) r, "syntax error");
	if (p->next_kv != p->n_kv)
		perr(p, 0, "internal error: INI parser skipped lines");
	check_tenant(p);
	return p->oom ? -ENOMEM : 0;
}

int policy_load_string(const char *name, const char *path, const char *text,
		       struct qos_tenant **ret, char **ret_errors)
{
	struct parser p = { .path = path };
	_cleanup_free_ char *errs = NULL;
	int r;

	p.t = calloc(1, sizeof(*p.t));
	if (!p.t)
		return -ENOMEM;
	p.t->name = strdup(name);
	p.t->file = strdup(path);
	if (!p.t->name || !p.t->file) {
		parser_done(&p);
		return -ENOMEM;
	}
	if (!tenant_name_ok(name))
		perr(&p, 0,
		     "bad tenant name '%s' (the file name without .conf must match "
		     "[a-z0-9][a-z0-9_-]{0,31})",
		     name);
	r = parse_text(&p, text);
	if (r >= 0 && p.n_errs > 0)
		r = errors_text(&p, &errs) < 0 ? -ENOMEM : -EINVAL;
	if (r >= 0)
		*ret = TAKE_PTR(p.t);
	else if (r == -EINVAL && ret_errors)
		*ret_errors = TAKE_PTR(errs);
	parser_done(&p);
	return r;
}
