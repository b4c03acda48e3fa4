/* SPDX-License-Identifier: MIT */
/* Pure parts of the quota module: reserved-id files, ranges, id choice, path syntax, mountinfo. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/sysmacros.h>

#include "qosd/util.h"
#include "quota-internal.h"

#define IDFILE_MAX (4u << 20)

void quota_idset_done(struct quota_idset *s)
{
	free(s->v);
	*s = (struct quota_idset){ 0 };
}

bool quota_idset_has(const struct quota_idset *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid] == id)
			return true;
		if (s->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int idset_add(struct quota_idset *s, uint32_t id)
{
	size_t i = s->n;

	if (quota_idset_has(s, id))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		uint32_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	while (i > 0 && s->v[i - 1] > id) {
		s->v[i] = s->v[i - 1];
		i--;
	}
	s->v[i] = id;
	s->n++;
	return 0;
}

/* Plain decimal id, 32 bits, nothing else. */
static int parse_id(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t) v;
	return 0;
}

/* For each non-comment line, take the field before (id_first) or after the first ':'. Lines that
 * do not parse are skipped: these files belong to the administrator, not to us. */
static int idset_parse(struct quota_idset *s, const char *text, bool id_first)
{
	const char *p = text;

	while (p && *p) {
		const char *eol = strchrnul(p, '\n'), *colon = memchr(p, ':', (size_t) (eol - p));
		const char *b = p;
		uint32_t id;

		p = *eol ? eol + 1 : NULL;
		b += strspn(b, " \t");
		if (*b == '#' || !colon)
			continue;
		if (id_first ? parse_id(b, (size_t) (colon - b), &id) == 0
			     : parse_id(colon + 1, strcspn(colon + 1, ":\n \t"), &id) == 0) {
			int r = idset_add(s, id);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

int quota_idset_parse_projects(struct quota_idset *s, const char *text)
{
	return idset_parse(s, text, true);
}

int quota_idset_parse_projid(struct quota_idset *s, const char *text)
{
	return idset_parse(s, text, false);
}

static int idset_load_one(struct quota_idset *s, const char *path, bool id_first)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = read_file_at(AT_FDCWD, path, IDFILE_MAX, &text);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return idset_parse(s, text, id_first);
}

int quota_idset_load(struct quota_idset *s, const char *projects_file, const char *projid_file)
{
	int r;

	r = idset_load_one(s, projects_file ? projects_file : "/etc/projects", true);
	if (r < 0)
		return r;
	return idset_load_one(s, projid_file ? projid_file : "/etc/projid", false);
}

int quota_range_resolve(uint32_t cfg_lo, uint32_t cfg_hi, bool projid32,
			const struct quota_idset *reserved, uint32_t *ret_lo, uint32_t *ret_hi,
			char **ret_msg)
{
	uint32_t lo = cfg_lo, hi = cfg_hi;

	if (lo == 0 && hi == 0) {
		lo = projid32 ? QUOTA_RANGE32_LO : QUOTA_RANGE16_LO;
		hi = projid32 ? QUOTA_RANGE32_HI : QUOTA_RANGE16_HI;
	}
	if (lo == 0 || lo > hi) {
		*ret_msg = strprintf("project id range %" PRIu32 "-%" PRIu32 " is invalid", lo, hi);
		return -EINVAL;
	}
	if (!projid32 && hi > 65535) {
		*ret_msg = strprintf("project id range %" PRIu32 "-%" PRIu32
				     " needs 32-bit project ids, and the filesystem has no "
				     "projid32bit (ids must stay below 65536)",
				     lo, hi);
		return -ERANGE;
	}
	for (uint64_t id = lo; id <= hi; id++)
		if (!quota_idset_has(reserved, (uint32_t) id)) {
			*ret_lo = lo;
			*ret_hi = hi;
			return 0;
		}
	*ret_msg = strprintf("project id range %" PRIu32 "-%" PRIu32
			     " lies entirely inside ids reserved in /etc/projects or /etc/projid",
			     lo, hi);
	return -ENOSPC;
}

int quota_id_pick(uint32_t lo, uint32_t hi, const struct quota_idset *reserved,
		  const struct quota_idset *held, quota_taken_fn taken, void *taken_ud,
		  quota_in_use_fn in_use, void *in_use_ud, uint32_t *ret)
{
	for (uint64_t i = lo; i <= hi; i++) {
		uint32_t id = (uint32_t) i;
		int r;

		if (id == 0 || quota_idset_has(reserved, id) || (held && quota_idset_has(held, id)))
			continue;
		if (taken && taken(id, taken_ud))
			continue;
		r = in_use ? in_use(id, in_use_ud) : 0;
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		*ret = id;
		return 0;
	}
	return -ENOSPC;
}

int quota_id_decide(uint32_t state_id, uint32_t dir_id, uint32_t lo, uint32_t hi,
		    quota_taken_fn taken, void *taken_ud, uint32_t *ret)
{
	bool in_range = dir_id != 0 && dir_id >= lo && dir_id <= hi;

	if (in_range && dir_id != state_id && taken && taken(dir_id, taken_ud))
		return -EBUSY;
	if (state_id != 0)
		*ret = state_id;
	else
		*ret = in_range ? dir_id : 0;
	return 0;
}

int quota_path_check_syntax(const char *dir, char **ret_msg)
{
	const char *p;

	if (!dir || dir[0] != '/') {
		*ret_msg = strprintf("%s: not an absolute path", dir ? dir : "(null)");
		return -EINVAL;
	}
	if (strlen(dir) >= 4096) {
		*ret_msg = strprintf("%.64s...: path too long", dir);
		return -ENAMETOOLONG;
	}
	for (p = dir; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f) {
			*ret_msg = strprintf("%s: control character in path", dir);
			return -EINVAL;
		}
	for (p = dir; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == 0)) {
			*ret_msg = strprintf("%s: path has a \"..\" component", dir);
			return -EINVAL;
		}
	return 0;
}

bool quota_path_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 1 && root[0] == '/')
		return path[0] == '/';
	return strneq(path, root, n) && (path[n] == 0 || path[n] == '/');
}
