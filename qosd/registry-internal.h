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

	/* the store: records directory, the write queue, ids whose record is to be deleted */
	int dfd;
	char *dir;
	struct container **wq;
	size_t nwq, capwq;
	char **rm;
	size_t nrm, caprm;
	bool unsynced; /* renames since the last fsync of the directory */
};

static inline void container_freep(struct container **c)
{
	container_free(*c);
}

/* Put c into the tables (no record written). -EEXIST if the id is known. */
int registry_insert(struct registry *reg, struct container *c);
/* The record of c as JSON, and back: every string field through one validator each
 * (registry_field_check's). ret_field names the first bad field on -EBADMSG. */
struct json_t *container_to_json(const struct container *c);
int container_from_json(struct json_t *o, struct container **ret, const char **ret_field);

/* registry-store.c: c leaves the registry (its record is deleted at the next sync). */
void store_forget(struct registry *reg, struct container *c);
void store_done(struct registry *reg);
