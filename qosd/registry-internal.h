/* SPDX-License-Identifier: MIT */
/* Shared by registry.c (the tables, the record codec) and registry-store.c (the records on disk).
 * Nothing else includes this. */
#pragma once

#include "registry.h"

struct json_t; /* jansson's, kept out of headers */

struct hnode {
	struct container *c;
	struct hnode *next;
};

struct registry {
	struct container **v;
	size_t n, cap;
	struct hnode **by_id, **by_cg;
	size_t nb; /* buckets in each table, a power of two */

	/* the store (registry-store.c): its directory, the journal (appended, O_APPEND), the write
	 * queue, ids whose removal is still to be appended */
	int dfd, jfd;
	char *dir;
	uint64_t jlen; /* the journal's length: what a failed append is truncated back to */
	uint64_t slen; /* the snapshot's length when last written or read */
	bool ro; /* registry_open_store_ro: never writes, truncates or renames anything */
	bool nodir; /* read-only and the directory does not exist: an empty store (dfd -1) */
	bool loading; /* registry_load replays: removals are not journalled */
	bool jtrunc; /* a failed append could not be undone: truncate to jlen before the next */
	bool legacy; /* records of the per-file layout remain: the next compaction deletes them */
	bool unsynced; /* appended since the last fdatasync of the journal */
	bool cfailed; /* the last registry_compact failed, at a journal of cfail_jlen bytes */
	uint64_t cfail_jlen;
	bool unkept; /* registry_load: a bad line could not be kept aside: no start-up compaction */
	struct container **wq;
	size_t nwq, capwq;
	char **rm;
	size_t nrm, caprm;
};

static inline void container_freep(struct container **c)
{
	container_free(*c);
}

/* Put c into the tables (no record written). -EEXIST if the id is known. */
int registry_insert(struct registry *reg, struct container *c);
/* The record of c as one JSON object appended to b (no newline; jsonw.h: what jansson's
 * json_dumps(JSON_COMPACT) wrote for it), and back: every string field through one validator
 * each (registry_field_check's). -ENOMEM if memory or a string is not UTF-8: b is then as it
 * was, not failed.
 * ret_field names the first bad field on -EBADMSG. */
int container_put_json(struct textbuf *b, const struct container *c);
int container_from_json(struct json_t *o, struct container **ret, const char **ret_field);

/* registry-store.c: c leaves the registry (its record is deleted at the next sync). */
void store_forget(struct registry *reg, struct container *c);
void store_done(struct registry *reg);
