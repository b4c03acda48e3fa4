/* SPDX-License-Identifier: MIT */
/* The assignment rules qosd and qos-hook share (assign.c), from the claimant's side: a tenant's
 * [claim] binding (cgroup globs, runtime-set annotations, anyone, the default with one and with
 * several tenants), the precedence operator > hook > [match], and how annotations travel from
 * the OCI state and the control protocol (bounded, qosd.io/ keys never taken as evidence). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "qosd/assign.h"
#include "qosd/ocistate.h"
#include "qosd/proto.h"
#include "qosd/util.h"

#define NS "io.kubernetes.pod.namespace"

struct pol {
	struct qos_policy p;
	struct qos_tenant t[4];
};

/* A policy of tenants given as name, text, name, text, ..., NULL. */
static void pol_load(struct pol *pl, ...)
{
	va_list ap;
	const char *name;

	*pl = (struct pol){ .p.tenants = pl->t };
	va_start(ap, pl);
	while ((name = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		_cleanup_free_ char *errs = NULL, *file = strprintf("conf.d/%s.conf", name);
		struct qos_tenant *t = NULL;

		if (policy_load_string(name, file, text, &t, &errs) < 0)
			fail_msg("%s refused:\n%s", name, errs ? errs : "?");
		assert_true(pl->p.n_tenants < 4);
		pl->t[pl->p.n_tenants++] = *t;
		free(t);
	}
	va_end(ap);
}

static void pol_done(struct pol *pl)
{
	for (size_t i = 0; i < pl->p.n_tenants; i++) {
		struct qos_tenant *t = malloc(sizeof(*t));

		assert_non_null(t);
		*t = pl->t[i];
		tenant_free(t);
	}
}

/* The registration rule, as qosd's register command and qos-hook apply it. */
static int claim(const struct pol *pl, const char *tenant, const char *cls, const char *cgpath,
		 const char *ns, char **msg)
{
	char *v[] = { (char *) ns, NULL };
	const struct assign_claim c = { .cgpath = cgpath, .annotations = v, .n_annotations = !!ns };

	*msg = NULL;
	return assign_check_registration(&pl->p, "conf.d", tenant, cls, &c, msg);
}

static void refused(const struct pol *pl, const char *tenant, const char *cls, const char *cgpath,
		    const char *ns, const char *want)
{
	_cleanup_free_ char *msg = NULL;
	int r = claim(pl, tenant, cls, cgpath, ns, &msg);

	if (r != -EPERM || !msg || !strstr(msg, want))
		fail_msg("%s/%s from %s (%s): got %d \"%s\", want \"%s\"", tenant ? tenant : "-",
			 cls ? cls : "-", cgpath, ns ? ns : "-", r, msg ? msg : "(null)", want);
}

static void allowed(const struct pol *pl, const char *tenant, const char *cls, const char *cgpath,
		    const char *ns)
{
	_cleanup_free_ char *msg = NULL;

	if (claim(pl, tenant, cls, cgpath, ns, &msg) != 0)
		fail_msg("%s/%s from %s (%s) refused: %s", tenant ? tenant : "-", cls ? cls : "-",
			 cgpath, ns ? ns : "-", msg ? msg : "?");
}

static const char *A_BOUND = "[class gold]\ncpu.shares = 1024\n"
			     "[claim]\n"
			     "cgroup = /kubepods.slice/*/*\n"
			     "cgroup = /team-a/*\n"
			     "annotation." NS " = team-a\n"
			     "annotation." NS " = team-a-*\n";
static const char *B_OPEN = "[class bronze]\ncpu.shares = 256\n";

static void single_tenant_without_claim_is_open(void **state)
{
	struct pol pl;

	pol_load(&pl, "solo", B_OPEN, NULL);
	allowed(&pl, "solo", "bronze", "/anything/x", NULL);
	allowed(&pl, NULL, "bronze", "/docker/y", NS "=whatever");
	pol_done(&pl);
}

static void several_tenants_without_claim_refuse_annotations(void **state)
{
	struct pol pl;

	pol_load(&pl, "a", A_BOUND, "b", B_OPEN, NULL);
	refused(&pl, "b", "bronze", "/team-a/x", NS "=team-a",
		"tenant \"b\" may not be claimed by a container's annotations: conf.d/b.conf has "
		"no [claim] section and the policy has 2 tenants");
	/* the class alone names the same tenant: the same refusal */
	refused(&pl, NULL, "bronze", "/x", NULL, "tenant \"b\" may not be claimed");
	pol_done(&pl);
}

static void cgroup_and_annotation_must_both_hold(void **state)
{
	struct pol pl;

	pol_load(&pl, "a", A_BOUND, "b", B_OPEN, NULL);
	allowed(&pl, "a", "gold", "/team-a/c1", NS "=team-a");
	allowed(&pl, "a", "gold", "/kubepods.slice/pod1/c1", NS "=team-a-dev");
	allowed(&pl, NULL, "gold", "/team-a/c1", NS "=team-a");
	/* another team's pod claims team a's class: namespace wrong */
	refused(&pl, "a", "gold", "/team-a/c1", NS "=team-b",
		"its annotation " NS " is \"team-b\", which no [claim] rule for it matches "
		"(conf.d/a.conf:6: annotation." NS " = team-a)");
	/* no namespace at all (a plain runc container) */
	refused(&pl, "a", "gold", "/team-a/c1", NULL, "annotation " NS " is not set");
	/* right namespace, wrong place: '*' does not cross '/' */
	refused(&pl, "a", "gold", "/team-a/sub/c1", NS "=team-a",
		"tenant \"a\" may not be claimed from cgroup /team-a/sub/c1: no [claim] cgroup "
		"glob matches it (conf.d/a.conf:4: cgroup = /kubepods.slice/*/*)");
	refused(&pl, NULL, "gold", "/elsewhere", NS "=team-a", "from cgroup /elsewhere");
	pol_done(&pl);
}

static void anyone_yes_opens_a_tenant_among_several(void **state)
{
	struct pol pl;

	pol_load(&pl, "a", A_BOUND, "shared",
		 "[class best]\npids.limit = 10\n[claim]\nanyone = yes\n", NULL);
	allowed(&pl, "shared", "best", "/x/y", NULL);
	refused(&pl, "a", "gold", "/x/y", NULL, "tenant \"a\"");
	pol_done(&pl);
}

/* The same rule on every pass: operator and [match] are root's word, a hook claim is bound. */
static int resolve(const struct pol *pl, const struct assign_input *in, const char **tenant,
		   const char **origin, char **why)
{
	const struct qos_tenant *t = NULL;
	const struct qos_class *c = NULL;
	int r;

	*why = NULL;
	r = assign_resolve(&pl->p, in, &t, &c, origin, why);
	*tenant = t ? t->name : NULL;
	return r;
}

static void precedence_and_binding_on_every_pass(void **state)
{
	struct pol pl;
	const char *t, *origin;
	char *ns[] = { NS "=team-b", NULL };
	_cleanup_free_ char *w1 = NULL, *w2 = NULL, *w3 = NULL, *w4 = NULL, *w5 = NULL;

	pol_load(&pl, "a", A_BOUND, "b",
		 "[class bronze]\ncpu.shares = 256\n[match]\n/b/* = bronze\n", NULL);
	/* a hook claim outside the binding: refused */
	assert_int_equal(resolve(&pl,
				 &(struct assign_input){ .hook_tenant = "a",
							 .hook_cls = "gold",
							 .claim = { "/team-a/c", ns, 1 } },
				 &t, &origin, &w1),
			 -EPERM);
	assert_null(t);
	assert_non_null(strstr(w1, "tenant \"a\""));
	/* the operator may put it there */
	assert_int_equal(resolve(&pl,
				 &(struct assign_input){ .op_tenant = "a",
							 .op_cls = "gold",
							 .hook_tenant = "b",
							 .claim = { "/team-a/c", ns, 1 } },
				 &t, &origin, &w2),
			 1);
	assert_string_equal(t, "a");
	assert_string_equal(origin, "operator");
	/* [match] is root's word: no [claim] needed, even with two tenants */
	assert_int_equal(resolve(&pl, &(struct assign_input){ .claim = { "/b/c1", NULL, 0 } }, &t,
				 &origin, &w3),
			 1);
	assert_string_equal(origin, "match");
	/* a hook naming only a class of the tenant [match] already gave: no claim of a tenant */
	assert_int_equal(resolve(&pl,
				 &(struct assign_input){ .hook_cls = "bronze",
							 .claim = { "/b/c1", NULL, 0 } },
				 &t, &origin, &w4),
			 1);
	assert_string_equal(t, "b");
	assert_string_equal(origin, "hook");
	/* ... but naming the tenant is a claim, and b has no [claim] */
	assert_int_equal(resolve(&pl,
				 &(struct assign_input){ .hook_tenant = "b",
							 .hook_cls = "bronze",
							 .claim = { "/b/c1", NULL, 0 } },
				 &t, &origin, &w5),
			 -EPERM);
	pol_done(&pl);
}

static void keep_claimed_stores_only_named_keys(void **state)
{
	struct pol pl;
	char **v = NULL;
	size_t n = 0;

	pol_load(&pl, "a", A_BOUND, NULL);
	assert_int_equal(annotation_add(&v, &n, "io.kubernetes.pod.name", "p"), 1);
	assert_int_equal(annotation_add(&v, &n, NS, "team-a"), 1);
	/* the first value of a key stays */
	assert_int_equal(annotation_add(&v, &n, NS, "team-b"), 0);
	assert_int_equal(annotation_add(&v, &n, "bad key", "x"), 0);
	assign_keep_claimed(&pl.p, v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], NS "=team-a");
	assert_null(v[1]);
	strv_free_n(v, n);
	pol_done(&pl);
}

static void oci_state_records_runtime_annotations_never_qosd_ones(void **state)
{
	struct oci_state s = { 0 };
	_cleanup_free_ char *err = NULL, *big = NULL, *text = NULL;
	const char *t = "{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"pid\":1,\"annotations\":{"
			"\"qosd.io/tenant\":\"a\",\"" NS "\":\"team-a\",\"odd key\":\"x\"}}";

	assert_int_equal(oci_state_parse(t, strlen(t), &s, &err), 0);
	assert_int_equal(s.n_annotations, 1);
	assert_string_equal(annotation_get(s.annotations, s.n_annotations, NS), "team-a");
	assert_null(annotation_get(s.annotations, s.n_annotations, "qosd.io/tenant"));
	oci_state_done(&s);
	/* a key with a NUL cannot pose as the runtime's key */
	t = "{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"annotations\":{\"" NS
	    "\\u0000x\":\"team-a\"}}";
	s = (struct oci_state){ 0 };
	if (oci_state_parse(t, strlen(t), &s, &err) == 0) {
		assert_null(annotation_get(s.annotations, s.n_annotations, NS));
		oci_state_done(&s);
	}
	/* a value too long to record: the key is absent, so a rule on it fails (never passes) */
	big = calloc(1, ANNOTATION_VALUE_MAX + 2);
	assert_non_null(big);
	memset(big, 'x', ANNOTATION_VALUE_MAX + 1);
	text = strprintf("{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"annotations\":{\"" NS
			 "\":\"%s\"}}",
			 big);
	s = (struct oci_state){ 0 };
	free(err);
	err = NULL;
	assert_int_equal(oci_state_parse(text, strlen(text), &s, &err), 0);
	assert_null(annotation_get(s.annotations, s.n_annotations, NS));
	oci_state_done(&s);
}

static void protocol_refuses_bad_or_too_many_annotations(void **state)
{
	struct qos_request r = { 0 };
	_cleanup_free_ char *err = NULL, *many = NULL;
	const char *ok = "{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{\"" NS
			 "\":\"team-a\"}}";
	const char *bad[] = {
		"{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":[\"x\"]}",
		"{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{\"a\":1}}",
		"{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{\"qosd.io/"
		"x\":\"y\"}}",
		"{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{\"a b\":\"y\"}}",
		"{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{\"a\":\"\\n\"}}",
	};

	assert_int_equal(proto_decode_request(ok, strlen(ok), &r, &err), 0);
	assert_string_equal(annotation_get(r.annotations, r.n_annotations, NS), "team-a");
	proto_request_done(&r);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		free(err);
		err = NULL;
		if (proto_decode_request(bad[i], strlen(bad[i]), &r, &err) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	many = strdup("{\"cmd\":\"register\",\"id\":\"c\",\"pid\":1,\"annotations\":{");
	for (int i = 0; i <= ANNOTATIONS_MAX; i++)
		assert_true(strextend(&many, "%s\"k%d\":\"v\"", i ? "," : "", i) >= 0);
	assert_true(strextend(&many, "}}") >= 0);
	free(err);
	err = NULL;
	assert_int_equal(proto_decode_request(many, strlen(many), &r, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_tenant_without_claim_is_open),
		cmocka_unit_test(several_tenants_without_claim_refuse_annotations),
		cmocka_unit_test(cgroup_and_annotation_must_both_hold),
		cmocka_unit_test(anyone_yes_opens_a_tenant_among_several),
		cmocka_unit_test(precedence_and_binding_on_every_pass),
		cmocka_unit_test(keep_claimed_stores_only_named_keys),
		cmocka_unit_test(oci_state_records_runtime_annotations_never_qosd_ones),
		cmocka_unit_test(protocol_refuses_bad_or_too_many_annotations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
