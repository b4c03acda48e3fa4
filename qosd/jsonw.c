/* SPDX-License-Identifier: MIT */
#include "jsonw.h"

/* Length of the UTF-8 sequence at s (1-4 bytes), or 0 if jansson would refuse it: a stray or
 * truncated continuation, an overlong form, a surrogate, past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* the NUL ends the string here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

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

void jsonw_string(struct textbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *) s, *run;

	if (!s) {
		textbuf_put(b, "null", 4);
		return;
	}
	textbuf_put(b, "\"", 1);
	for (run = p; *p;) {
		char tmp[7];
		size_t n;

		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			n = utf8_seq(p);
			if (n == 0) {
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
