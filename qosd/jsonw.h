/* SPDX-License-Identifier: MIT */
/* JSON text written straight into a textbuf, without a json_t tree: for the texts written on
 * every request (a reply, a state record). Byte for byte what jansson's json_dumps(JSON_COMPACT)
 * writes for the same members in the same order (test-core `jsonw_*` compares the two), so
 * every reader (jansson) takes it as before. A string that is not valid UTF-8 (which jansson
 * refuses to hold) makes the buffer failed, as an allocation failure does: checked once at the
 * end. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* s quoted and escaped as jansson does ('"', '\\', control characters; "/" and non-ASCII as
 * they are); NULL as null. */
void jsonw_string(struct textbuf *b, const char *s);
/* The same for the len bytes at s (a key cut out of "KEY=VALUE"). */
void jsonw_string_n(struct textbuf *b, const char *s, size_t len);
/* ,"key": (no comma before the first member: *first is then cleared) */
void jsonw_key(struct textbuf *b, bool *first, const char *key);
void jsonw_member_str(struct textbuf *b, bool *first, const char *key, const char *s);
void jsonw_member_int(struct textbuf *b, bool *first, const char *key, int64_t v);
void jsonw_member_bool(struct textbuf *b, bool *first, const char *key, bool v);
/* "key":{"K":"V",...} from n "K=V" strings (annotations), in their order; nothing when n is 0. */
void jsonw_member_kv(struct textbuf *b, bool *first, const char *key, char *const *kv, size_t n);
