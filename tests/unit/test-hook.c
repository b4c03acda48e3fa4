/* SPDX-License-Identifier: MIT */
/* qos-hook's pure parts: the OCI state decoder (every runtime-spec form from 1.0 to 1.3, and
 * hostile input), the bounded stdin reader, and the cgroup rule the hook shares with qosd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/allow.h"
#include "qosd/ocistate.h"
#include "qosd/util.h"

static int parse(const char *text, struct oci_state *s, char **err)
{
	*err = NULL;
	return oci_state_parse(text, strlen(text), s, err);
}

/* Parsing must fail with -EINVAL, a message containing want, and ret untouched. */
static void refused(const char *text, const char *want)
{
	struct oci_state s = { .id = (char *) 0x1 };
	_cleanup_free_ char *err = NULL;
	int r = parse(text, &s, &err);

	if (r != -EINVAL || !err || !strstr(err, want))
		fail_msg("%s: got %d \"%s\", want \"%s\"", text, r, err ? err : "(null)", want);
	assert_ptr_equal(s.id, (char *) 0x1);
}

/* container c1 (pid 8365) of tenant acme, class gold, disk directory /var/lib/c1 */
static void assert_c1(const struct oci_state *s)
{
	assert_string_equal(s->id, "c1");
	assert_int_equal(s->pid, 8365);
	assert_string_equal(s->tenant, "acme");
	assert_string_equal(s->cls, "gold");
	assert_string_equal(s->disk_dir, "/var/lib/c1");
}

static void runtime_spec_1_0_2_with_bundle(void **state)
{
	struct oci_state s;
	_cleanup_free_ char *err = NULL;

	assert_int_equal(
		parse("{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"status\":\"creating\","
		      "\"pid\":8365,\"bundle\":\"/run/b\",\"annotations\":{"
		      "\"qosd.io/tenant\":\"acme\",\"qosd.io/class\":\"gold\","
		      "\"qosd.io/disk-dir\":\"/var/lib/c1\",\"other\":\"x\"}}",
		      &s, &err),
		0);
	assert_string_equal(s.version, "1.0.2-dev");
	assert_string_equal(s.status, "creating");
	assert_string_equal(s.bundle, "/run/b");
	assert_c1(&s);
	oci_state_done(&s);
	assert_null(s.id);
}

static void older_bundle_path(void **state)
{
	struct oci_state s;
	_cleanup_free_ char *err = NULL;

	assert_int_equal(parse("{\"ociVersion\":\"1.0.0-rc5\",\"id\":\"old\",\"pid\":1,"
			       "\"bundlePath\":\"/b/old\"}",
			       &s, &err),
			 0);
	assert_string_equal(s.bundle, "/b/old");
	assert_null(s.status);
	assert_null(s.tenant);
	assert_null(s.cls);
	oci_state_done(&s);
	/* both given: "bundle" wins */
	assert_int_equal(parse("{\"ociVersion\":\"1.0.0\",\"id\":\"x\",\"bundlePath\":\"/old\","
			       "\"bundle\":\"/new\"}",
			       &s, &err),
			 0);
	assert_string_equal(s.bundle, "/new");
	oci_state_done(&s);
}

static void runtime_spec_1_3_and_poststop(void **state)
{
	struct oci_state s;
	_cleanup_free_ char *err = NULL;

	assert_int_equal(parse("{\"ociVersion\":\"1.3.0\",\"id\":\"n\",\"status\":\"creating\","
			       "\"pid\":42,\"bundle\":\"/b\",\"annotations\":{\"qosd.io/class\":"
			       "\"silver\"},\"future\":{\"field\":[1,2]}}",
			       &s, &err),
			 0);
	assert_string_equal(s.cls, "silver");
	assert_null(s.tenant);
	oci_state_done(&s);
	/* poststop: stopped, no pid (runc), or pid 0; annotations null */
	assert_int_equal(parse("{\"ociVersion\":\"1.0.2\",\"id\":\"n\",\"status\":\"stopped\","
			       "\"bundle\":\"/b\",\"annotations\":null}",
			       &s, &err),
			 0);
	assert_int_equal(s.pid, 0);
	oci_state_done(&s);
	assert_int_equal(parse("{\"ociVersion\":\"1.2.0\",\"id\":\"n\",\"pid\":0}", &s, &err), 0);
	assert_int_equal(s.pid, 0);
	oci_state_done(&s);
}

static void not_json_or_not_an_object(void **state)
{
	refused("", "not JSON");
	refused("not json", "not JSON");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\"", "not JSON");
	refused("[1,2]", "not a JSON object");
	refused("\"x\"", "not JSON"); /* a bare value is not a JSON text for jansson */
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"a\",\"id\":\"b\"}", "duplicate");
}

static void oversized(void **state)
{
	struct oci_state s = { 0 };
	_cleanup_free_ char *err = NULL;
	size_t n = OCI_STATE_MAX + 1;
	_cleanup_free_ char *big = malloc(n);

	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	assert_int_equal(oci_state_parse(big, n, &s, &err), -EFBIG);
	assert_non_null(strstr(err, "more than"));
	assert_null(s.id);
}

static void version(void **state)
{
	refused("{\"id\":\"c\"}", "ociVersion");
	refused("{\"ociVersion\":2,\"id\":\"c\"}", "not a string");
	refused("{\"ociVersion\":\"2.0.0\",\"id\":\"c\"}", "not supported");
	refused("{\"ociVersion\":\"0.5.0\",\"id\":\"c\"}", "not supported");
}

static void hostile_ids(void **state)
{
	static const char *const ids[] = { "../../x", "..",	      ".",     "",
					   "a/b",     "cgroup.procs", "tasks", "release_agent",
					   "-x",      "memory.max",   "a b",   "\\u00e9t\\u00e9" };
	char buf[512];

	for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
		snprintf(buf, sizeof(buf), "{\"ociVersion\":\"1.0.2\",\"id\":\"%s\",\"pid\":1}",
			 ids[i]);
		refused(buf, "invalid container id");
	}
	refused("{\"ociVersion\":\"1.0.2\",\"pid\":1}", "no container \"id\"");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":7}", "not a string");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"a\\u0000b\"}", "NUL");
	memset(buf, 'a', 300);
	strcpy(buf + 300, "\"}");
	{
		_cleanup_free_ char *t = strprintf("{\"ociVersion\":\"1.0.2\",\"id\":\"%s", buf);

		refused(t, "invalid container id");
	}
}

static void bad_pids(void **state)
{
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"pid\":-1}", "process id");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"pid\":\"12\"}", "process id");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"pid\":1.5}", "process id");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"pid\":4194305}", "process id");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"pid\":99999999999999999999}", "not JSON");
}

static void bad_bundles_and_annotations(void **state)
{
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"bundle\":\"rel/b\"}", "absolute");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"bundlePath\":5}", "not a string");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":[]}", "not an object");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":{\"qosd.io/tenant\":"
		"\"Bad Tenant\"}}",
		"not a valid tenant name");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":{\"qosd.io/class\":"
		"\"../gold\"}}",
		"not a valid class name");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":{\"qosd.io/class\":1}}",
		"not a string");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":{\"qosd.io/disk-dir\":"
		"\"var/lib\"}}",
		"absolute path");
	refused("{\"ociVersion\":\"1.0.2\",\"id\":\"c\",\"annotations\":{\"qosd.io/disk-dir\":"
		"\"/var/../etc\"}}",
		"absolute path");
}

/* ---- the stdin reader ---- */

static void read_to_eof(void **state)
{
	int p[2];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "{\"a\":1}", 7), 7);
	close(p[1]);
	assert_int_equal(oci_state_read(p[0], 100, now_usec() + 1000000, &buf, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "{\"a\":1}");
	close(p[0]);
}

static void read_too_much(void **state)
{
	int p[2];
	char chunk[64];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], chunk, sizeof(chunk)), (ssize_t) sizeof(chunk));
	close(p[1]);
	assert_int_equal(oci_state_read(p[0], 63, now_usec() + 1000000, &buf, &len), -EFBIG);
	assert_null(buf);
	close(p[0]);
	/* exactly max is fine */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], chunk, 32), 32);
	close(p[1]);
	assert_int_equal(oci_state_read(p[0], 32, now_usec() + 1000000, &buf, &len), 0);
	assert_int_equal(len, 32);
	close(p[0]);
}

static void read_deadline(void **state)
{
	int p[2];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	uint64_t t0 = now_usec();

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "{", 1), 1); /* the writer never finishes */
	assert_int_equal(oci_state_read(p[0], 100, t0 + 100000, &buf, &len), -ETIMEDOUT);
	assert_true(now_usec() - t0 >= 90000);
	assert_true(now_usec() - t0 < 2000000);
	close(p[0]);
	close(p[1]);
}

/* ---- the shared cgroup rule ---- */

static bool allowed(const struct cg_allow_rules *a, const char *cg, const char *want_why)
{
	_cleanup_free_ char *why = NULL;
	bool ok = cg_allowed(a, cg, &why);

	if (!ok && want_why && (!why || !strstr(why, want_why)))
		fail_msg("%s: refused with \"%s\", want \"%s\"", cg, why ? why : "(null)",
			 want_why);
	return ok;
}

static void cgroup_rule(void **state)
{
	const char *tenants[] = { "/qosd-acme" };
	struct cg_allow_rules a = { .self_cgroup = "/system.slice/qosd.service/sub",
				    .tenant_cgroups = tenants,
				    .n_tenant_cgroups = 1 };
	char *roots[] = { "/kubepods", "/machine.slice" };

	assert_false(allowed(&a, "/", "root cgroup"));
	assert_false(allowed(&a, "/system.slice", "holds qosd"));
	assert_false(allowed(&a, "/system.slice/qosd.service/sub", "holds qosd"));
	assert_false(allowed(&a, "/system.slice/sshd.service", "service unit"));
	assert_false(allowed(&a, "/qosd-acme", "tenant cgroup"));
	assert_false(allowed(&a, "/a/../b", "not a valid cgroup path"));
	assert_false(allowed(&a, "relative", "not a valid cgroup path"));
	assert_true(allowed(&a, "/system.slice/docker-abc.scope", NULL));
	assert_true(allowed(&a, "/qosd-acme/c1", NULL));
	/* a name that merely starts like qosd's cgroup is not an ancestor of it */
	assert_true(allowed(&a, "/system.slic", NULL));
	assert_true(allowed(&a, "/system.slice/qosd.service-x", NULL));
	a.roots = roots;
	a.n_roots = 2;
	assert_true(allowed(&a, "/kubepods/pod1/c", NULL));
	assert_true(allowed(&a, "/machine.slice/libpod-1.scope", NULL));
	assert_false(allowed(&a, "/kubepods", "outside the configured container_roots"));
	assert_false(allowed(&a, "/kubepods-x/c", "outside the configured container_roots"));
	a.self_cgroup = NULL;
	assert_false(allowed(&a, "/", "root cgroup"));
}

/* qos-hook's plain options go through the same field rules as a state, without JSON in between
 * (issue 16); a refusal leaves ret untouched. */
static void plain_refused(const char *id, int64_t pid, const char *tenant, const char *cls,
			  const char *dir, const char *want)
{
	struct oci_state s = { .id = (char *) 0x1 };
	_cleanup_free_ char *err = NULL;
	int r = oci_state_plain(id, pid, tenant, cls, dir, &s, &err);

	if (r != -EINVAL || !err || !strstr(err, want))
		fail_msg("plain %s/%s/%s/%s: got %d \"%s\", want \"%s\"", id, tenant, cls, dir, r,
			 err ? err : "(null)", want);
	assert_ptr_equal(s.id, (char *) 0x1);
}

static void plain_options(void **state)
{
	struct oci_state s;
	_cleanup_free_ char *err = NULL, *long_dir = calloc(1, 4098);

	assert_int_equal(oci_state_plain("c1", 8365, "acme", "gold", "/var/lib/c1", &s, &err), 0);
	assert_null(err);
	assert_string_equal(s.version, "1.0.0");
	assert_c1(&s);
	assert_null(s.bundle);
	assert_int_equal(s.n_annotations, 0);
	oci_state_done(&s);
	assert_int_equal(oci_state_plain("c2", 0, NULL, NULL, NULL, &s, &err), 0);
	assert_null(s.tenant);
	assert_int_equal(s.pid, 0);
	oci_state_done(&s);

	plain_refused("../x", 1, NULL, NULL, NULL, "invalid container id");
	plain_refused("release_agent", 1, NULL, NULL, NULL, "invalid container id");
	plain_refused("c", 4194305, NULL, NULL, NULL, "process id");
	plain_refused("c", 1, "a/b", NULL, NULL, "not a valid tenant name");
	plain_refused("c", 1, NULL, "..", NULL, "not a valid class name");
	plain_refused("c", 1, NULL, NULL, "rel/dir", "absolute path");
	plain_refused("c", 1, NULL, NULL, "/a/../b", "absolute path");
	plain_refused("c", 1, NULL, NULL, "/a/\xff\xfe", "UTF-8");
	assert_non_null(long_dir);
	long_dir[0] = '/';
	memset(long_dir + 1, 'd', 4095);
	plain_refused("c", 1, NULL, NULL, long_dir, "longer than 4095");
	long_dir[4095] = 0;
	assert_int_equal(oci_state_plain("c3", 1, NULL, NULL, long_dir, &s, &err), 0);
	oci_state_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runtime_spec_1_0_2_with_bundle),
		cmocka_unit_test(older_bundle_path),
		cmocka_unit_test(runtime_spec_1_3_and_poststop),
		cmocka_unit_test(not_json_or_not_an_object),
		cmocka_unit_test(oversized),
		cmocka_unit_test(version),
		cmocka_unit_test(hostile_ids),
		cmocka_unit_test(bad_pids),
		cmocka_unit_test(bad_bundles_and_annotations),
		cmocka_unit_test(plain_options),
		cmocka_unit_test(read_to_eof),
		cmocka_unit_test(read_too_much),
		cmocka_unit_test(read_deadline),
		cmocka_unit_test(cgroup_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
