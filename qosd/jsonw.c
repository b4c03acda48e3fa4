/* SPDX-License-Identifier: MIT */
#include "jsonw.h"

static const char *escape_of(unsigned char ch, char tmp[7])
{
	static const char hex[] = "0123456789ABCDEF";

	switch (ch) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	}
	memcpy(tmp, "\\u00", 4);
	tmp[4] = hex[ch >> 4];
	tmp[5] = hex[ch & 15];
	tmp[6] = 0;
	return tmp;
}

void jsonw_string_n(struct textbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s, *end = p + len, *run;

	textbuf_put(b, "\"", 1);
	for (run = p; p < end;) {
		char tmp[7];
		size_t n;

		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			n = utf8_seq(p);
			if (n == 0 || n > (size_t) (end - p)) {
				b->failed = true;
				return;
			}
			p += n;
			continue;
		}
		textbuf_put(b, (const char *) run, p - run);
		textbuf_puts(b, escape_of(*p, tmp));
		run = ++p;
	}
	textbuf_put(b, (const char *) run, p - run);
	textbuf_put(b, "\"", 1);
}

void jsonw_string(struct textbuf *b, const char *s)
{
	if (!s)
		textbuf_put(b, "null", 4);
	else
		jsonw_string_n(b, s, strlen(s));
}

void jsonw_key(struct textbuf *b, bool *first, const char *key)
{
	if (!*first)
		textbuf_put(b, ",", 1);
	*first = false;
	jsonw_string(b, key);
	textbuf_put(b, ":", 1);
}

void jsonw_member_str(struct textbuf *b, bool *first, const char *key, const char *s)
{
	jsonw_key(b, first, key);
	jsonw_string(b, s);
}

void jsonw_member_int(struct textbuf *b, bool *first, const char *key, int64_t v)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;

	do
		*--p = (char) ('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	jsonw_key(b, first, key);
	textbuf_put(b, p, num + sizeof(num) - p);
}

void jsonw_member_bool(struct textbuf *b, bool *first, const char *key, bool v)
{
	jsonw_key(b, first, key);
	textbuf_put(b, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_member_kv(struct textbuf *b, bool *first, const char *key, char *const *kv, size_t n)
{
	if (n == 0)
		return;
	jsonw_key(b, first, key);
	textbuf_put(b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');

		if (!eq) {
			b->failed = true;
			return;
		}
		if (i > 0)
			textbuf_put(b, ",", 1);
		jsonw_string_n(b, kv[i], eq - kv[i]);
		textbuf_put(b, ":", 1);
		jsonw_string(b, eq + 1);
	}
	textbuf_put(b, "}", 1);
}
