/* Global configuration: the example loads against the schema and every
 * lookup answers; schema violations, each cross-check and a DOCTYPE are
 * refused with the file, line and element. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "core/globalconf.h"
#include "lib/crypto.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

static const char *src_dir(void)
{
	const char *e = getenv("AILGATE_SOURCE_DIR");

	return e && *e ? e : AILGATE_SOURCE_DIR;
}

static char xsd[PATH_MAX];

static void src_path(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", src_dir(), rel);
}

static struct xrd_id id_path(const char *text)
{
	struct xrd_id id;
	char err[128];

	if (xrd_id_parse_path(text, &id, err, sizeof(err)) != 0)
		fail_msg("bad test id %s: %s", text, err);
	return id;
}

static struct xrd_id svc_id(const char *text)
{
	struct xrd_id id;
	char err[128];

	if (xrd_id_parse(text, &id, err, sizeof(err)) != 0)
		fail_msg("bad test id %s: %s", text, err);
	return id;
}

static int load_example(void **state)
{
	char path[PATH_MAX], *err = NULL;
	struct gconf *g = NULL;

	src_path(xsd, sizeof(xsd), "config/globalconf.xsd");
	src_path(path, sizeof(path), "config/globalconf.example.xml");
	if (gconf_load(path, xsd, &g, &err) != 0) {
		fprintf(stderr, "example: %s\n", err);
		free(err);
		return -1;
	}
	*state = g;
	return 0;
}

static int unload(void **state)
{
	struct gconf *g = *state;

	gconf_unref(&g);
	return 0;
}

static void test_example_counts(void **state)
{
	struct gconf *g = *state;
	const struct gc_member *m;

	assert_string_equal(gconf_instance(g), "central-server");
	assert_int_equal(gconf_generated(g), 1736920800);   /* 2025-01-15T06:00:00Z */
	assert_int_equal(gconf_expires(g), 2052453600);     /* 2035-01-15T06:00:00Z */
	assert_int_equal(gconf_n_classes(g), 2);
	assert_string_equal(gconf_class(g, 0), "GOV");
	assert_string_equal(gconf_class(g, 1), "COM");
	assert_null(gconf_class(g, 2));
	assert_int_equal(gconf_n_members(g), 6);
	assert_int_equal(gconf_n_gateways(g), 3);
	assert_int_equal(gconf_n_groups(g), 4);   /* banks, citizen-facing (actsForUser), municipalities, state-registries */
	assert_int_equal(gconf_n_services(g), 14);
	assert_int_equal(gconf_group(g, "citizen-facing")->acts_for_user, 1);
	assert_int_equal(gconf_group(g, "banks")->acts_for_user, 0);
	m = gconf_member_at(g, 2);
	assert_string_equal(m->member_class, "GOV");
	assert_string_equal(m->code, "70000050");
	assert_int_equal(m->n_subsystems, 7);
	assert_string_equal(m->subsystems[0], "sanaripaymak-service");
	assert_null(gconf_member_at(g, 6));
	assert_null(gconf_gateway_at(g, 3));
	assert_null(gconf_service_at(g, 14));
}

static void test_example_members(void **state)
{
	static const struct { const char *id; int exists; const char *member_name; } cases[] = {
		{ "central-server/GOV/70000005/passport-service", 1, "State Registration Service (population and civil status registry)" },
		{ "central-server/GOV/70000005", 1, "State Registration Service (population and civil status registry)" },
		{ "central-server/COM/60000001/bank-is", 1, "Demo commercial bank" },
		{ "central-server/GOV/70000005/bank-is", 0, "State Registration Service (population and civil status registry)" },
		{ "central-server/COM/70000005/passport-service", 0, NULL },
		{ "central-server/GOV/79999999", 0, NULL },
		{ "other-instance/GOV/70000005/passport-service", 0, NULL },
		{ "other-instance/GOV/70000005", 0, NULL },
	};
	struct gconf *g = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xrd_id id = id_path(cases[i].id);
		const struct gc_member *m = gconf_member(g, &id);

		if (gconf_client_exists(g, &id) != cases[i].exists)
			fail_msg("client_exists(%s) != %d", cases[i].id, cases[i].exists);
		if (!cases[i].member_name)
			assert_null(m);
		else
			assert_string_equal(m->name, cases[i].member_name);
	}
}

static void test_example_gateways(void **state)
{
	static const struct { const char *id; const char *gw; } cases[] = {
		{ "central-server/GOV/70000005/passport-service", "state" },
		{ "central-server/GOV/70000019/dkrpni-service", "state" },
		{ "central-server/GOV/70000073/portal", "state" },
		{ "central-server/GOV/70000050/sanaripaymak-service", "municipality" },
		{ "central-server/GOV/70000050/certificates", "municipality" },
		{ "central-server/COM/60000001/bank-is", "bank" },
		{ "central-server/GOV/70000050", "municipality" },   /* a member: via its subsystems */
		{ "central-server/COM/60000001", "bank" },
		{ "central-server/GOV/70000050/nosuch", NULL },
		{ "central-server/GOV/79999999", NULL },
		{ "other-instance/COM/60000001/bank-is", NULL },
	};
	struct gconf *g = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xrd_id id = id_path(cases[i].id);
		const struct gc_gateway *gw = gconf_gateway_of(g, &id);

		if (!cases[i].gw) {
			if (gw)
				fail_msg("%s: gateway %s, want none", cases[i].id, gw->code);
			continue;
		}
		if (!gw)
			fail_msg("%s: no gateway, want %s", cases[i].id, cases[i].gw);
		assert_string_equal(gw->code, cases[i].gw);
		assert_int_equal(gconf_gateway_hosts(gw, &id), 1);
		assert_ptr_equal(gconf_gateway(g, cases[i].gw), gw);
	}
	/* a service id means its owner */
	{
		struct xrd_id s = svc_id("SERVICE:central-server/GOV/70000019/dkrpni-service/GetPropertyInfo");

		assert_string_equal(gconf_gateway_of(g, &s)->code, "state");
	}
	{
		struct xrd_id bank = id_path("central-server/COM/60000001/bank-is");

		assert_int_equal(gconf_gateway_hosts(gconf_gateway(g, "state"), &bank), 0);
		assert_null(gconf_gateway(g, "nosuch"));
		assert_string_equal(gconf_gateway(g, "bank")->address, "127.0.0.1:5502");
	}
}

static void test_example_gateway_by_cert(void **state)
{
	static const struct { const char *hex, *gw; } cases[] = {
		{ "159ec68dba9ce083d51674ec40d23ce2938d45c690c2d877287794a68fde2113", "municipality" },
		{ "57e180608102d3a2a096efb51193e54a6377dd33dd18da25e272f906dd2947e3", "state" },
		{ "251509239acce429d6c92e6a5e2dc458e4cdaa941b41ca2815a972c37b709fc8", "bank" },
		{ "251509239acce429d6c92e6a5e2dc458e4cdaa941b41ca2815a972c37b709fc9", NULL },
		{ "0000000000000000000000000000000000000000000000000000000000000000", NULL },
	};
	struct gconf *g = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char h[32];
		const struct gc_gateway *gw;

		assert_int_equal(hex_decode(cases[i].hex, h, 32), 0);
		gw = gconf_gateway_by_cert(g, h);
		if (cases[i].gw)
			assert_string_equal(gw->code, cases[i].gw);
		else
			assert_null(gw);
	}
}

static void test_example_services(void **state)
{
	static const struct { const char *id; const char *code, *version; } cases[] = {
		{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN/v1", "passportDataByPSN", "v1" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN", "passportDataByPSN", "v1" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN/v2", NULL, NULL },
		{ "SERVICE:central-server/GOV/70000005/passport-service/bankPinService", "bankPinService", "v1" },
		{ "SERVICE:central-server/GOV/70000050/sanaripaymak-service/family-members", "family-members", "" },
		{ "SERVICE:central-server/GOV/70000050/sanaripaymak-service/nosuch", NULL, NULL },
		{ "SERVICE:central-server/GOV/70000050/billing/family-members", NULL, NULL },
		{ "SERVICE:other-instance/GOV/70000050/sanaripaymak-service/family-members", NULL, NULL },
	};
	struct gconf *g = *state;
	const struct gc_service *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xrd_id id = svc_id(cases[i].id);

		s = gconf_service(g, &id);
		if (!cases[i].code) {
			if (s)
				fail_msg("%s found", cases[i].id);
			continue;
		}
		if (!s)
			fail_msg("%s not found", cases[i].id);
		assert_string_equal(s->id.service_code, cases[i].code);
		assert_string_equal(s->id.service_version, cases[i].version);
		assert_string_equal(s->id.instance, "central-server");
	}
	/* the details of one */
	{
		struct xrd_id id = svc_id("SERVICE:central-server/GOV/70000073/portal/getDigitalDocInfoByQrPdf");

		s = gconf_service(g, &id);
		assert_non_null(s);
		assert_int_equal(s->type, GC_SVC_SOAP);
		assert_int_equal(s->binding, GC_BIND_URL);
		assert_string_equal(s->url, "http://127.0.0.1:9090/portal");
		assert_string_equal(s->adapter, "");
		assert_string_equal(s->description, "portal.wsdl");
		assert_int_equal(s->n_allow, 0);
		assert_int_equal(s->n_allow_groups, 2);
		assert_string_equal(s->allow_groups[0], "banks");
	}
	{
		struct xrd_id id = svc_id("SERVICE:central-server/GOV/70000050/sanaripaymak-service/family-members");
		struct xrd_id client = id_path("central-server/GOV/70000073/portal");

		s = gconf_service(g, &id);
		assert_int_equal(s->type, GC_SVC_REST);
		assert_int_equal(s->binding, GC_BIND_ADAPTER);
		assert_string_equal(s->adapter, "household");
		assert_string_equal(s->title, "Members of a person's household");
		assert_int_equal(s->n_allow, 2);
		assert_true(xrd_id_equal(&s->allow[0], &client));
	}
	/* groups */
	{
		const struct gc_group *gr = gconf_group(g, "municipalities");

		assert_non_null(gr);
		assert_int_equal(gr->n_members, 1);
		assert_int_equal(gr->members[0].type, XRD_MEMBER);
		assert_string_equal(gr->members[0].member_code, "70000050");
		assert_null(gconf_group(g, "nosuch"));
	}
}

static void test_refcount(void **state)
{
	struct gconf *g = *state, *extra = gconf_ref(g), *copy = extra;

	assert_ptr_equal(extra, g);
	gconf_unref(&extra);
	assert_null(extra);
	/* still alive: the fixture holds its reference */
	assert_string_equal(gconf_instance(copy), "central-server");
	gconf_unref(NULL);
	assert_null(gconf_ref(NULL));
}

/* ---- bad documents ---------------------------------------------------------- */

#define H_STATE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H_MUN "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* One line per slot; the slots are on lines 4, 10, 12, 15 and 17. */
static const char base_doc[] =
	"<?xml version=\"1.0\"?>\n"
	"<globalConf xmlns=\"urn:ailgate:globalconf:1\">\n"
	"<instance>central-server</instance>\n"
	"%s\n"
	"<memberClass code=\"GOV\">State</memberClass>\n"
	"<memberClass code=\"COM\">Companies</memberClass>\n"
	"<member class=\"GOV\" code=\"70000005\" name=\"Registry\"><subsystem code=\"passport-service\"/></member>\n"
	"<member class=\"GOV\" code=\"70000050\" name=\"Ail okmotu\"><subsystem code=\"household-register\"/><subsystem code=\"certificates\"/></member>\n"
	"<member class=\"COM\" code=\"60000001\" name=\"Bank\"><subsystem code=\"bank-is\"/></member>\n"
	"%s\n"
	"<group code=\"banks\"><client>COM/60000001/bank-is</client></group>\n"
	"%s\n"
	"<gateway code=\"state\" address=\"127.0.0.1:5501\" authCertHash=\"" H_STATE "\"><client>GOV/70000005/passport-service</client></gateway>\n"
	"<gateway code=\"municipality\" address=\"127.0.0.1:5500\" authCertHash=\"" H_MUN "\"><client>GOV/70000050/household-register</client><client>GOV/70000050/certificates</client></gateway>\n"
	"%s\n"
	"<service client=\"GOV/70000005/passport-service\" code=\"passportDataByPSN\" version=\"v1\" type=\"soap\" adapter=\"population\"><allow>GOV/70000050</allow><allowGroup>banks</allowGroup></service>\n"
	"%s\n"
	"</globalConf>\n";

struct doc_case {
	const char *head, *member, *group, *gateway, *service;
	int xsd;              /* validate against the schema too */
	const char *msg;      /* expected in the error; NULL = loads */
};

static char *make_doc(const struct doc_case *c)
{
	char *doc = NULL;

	if (asprintf(&doc, base_doc, c->head ? c->head : "", c->member ? c->member : "",
		     c->group ? c->group : "", c->gateway ? c->gateway : "",
		     c->service ? c->service : "") < 0)
		fail_msg("asprintf");
	return doc;
}

static void run_doc_case(const struct doc_case *c, size_t i)
{
	char *doc = make_doc(c), *err = NULL;
	struct gconf *g = NULL;
	int rc = gconf_load_mem(doc, strlen(doc), "t.xml", c->xsd ? xsd : NULL, &g, &err);

	if (!c->msg) {
		if (rc != 0)
			fail_msg("case %zu: %s", i, err);
		assert_non_null(g);
		gconf_unref(&g);
	} else {
		if (rc == 0)
			fail_msg("case %zu loaded, want \"%s\"", i, c->msg);
		assert_null(g);
		if (!err || !strstr(err, c->msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, c->msg);
	}
	free(err);
	free(doc);
}

static void test_base_doc_loads(void **state)
{
	const struct doc_case ok[] = {
		{ NULL, NULL, NULL, NULL, NULL, 1, NULL },
		{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
		{ "<generatedAt>2025-01-01T00:00:00+06:00</generatedAt><expiresAt>2025-01-01T00:00:00Z</expiresAt>",
		  NULL, NULL, NULL, NULL, 1, NULL },
	};
	(void)state;
	src_path(xsd, sizeof(xsd), "config/globalconf.xsd");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		run_doc_case(&ok[i], i);
}

static void test_cross_checks(void **state)
{
	static const struct doc_case cases[] = {
		/* references, which the schema cannot check */
		{ NULL, "<member class=\"MUN\" code=\"1\" name=\"x\"/>", NULL, NULL, NULL, 1,
		  "t.xml:10: <member class='MUN' code='1'>: member class 'MUN' is not declared" },
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"h:1\" authCertHash=\"" H_STATE "c\"/>",
		  NULL, 0, "t.xml:15: <gateway code='bank'>: authCertHash is not 64 hex digits" },
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"h:1\" authCertHash=\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"><client>COM/60000001/nosuch</client></gateway>",
		  NULL, 1, "t.xml:15: <gateway code='bank'>: client 'COM/60000001/nosuch' names no subsystem" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/nosuch\" code=\"x\" type=\"soap\" adapter=\"a\"/>", 1,
		  "t.xml:17: <service client='GOV/70000005/nosuch' code='x'>: client 'GOV/70000005/nosuch' names no subsystem" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" adapter=\"a\"><allow>GOV/79999999</allow></service>", 1,
		  "t.xml:17: <service client='GOV/70000005/passport-service' code='x'>: allow 'GOV/79999999' names no member" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" adapter=\"a\"><allow>GOV/70000050/billing</allow></service>", 1,
		  "allow 'GOV/70000050/billing' names no subsystem" },
		{ NULL, NULL, "<group code=\"g\"><client>COM/60000001/bank-registry</client></group>", NULL, NULL, 1,
		  "t.xml:12: <group code='g'>: client 'COM/60000001/bank-registry' names no subsystem" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" adapter=\"a\"><allowGroup>nogroup</allowGroup></service>", 1,
		  "t.xml:17: <service client='GOV/70000005/passport-service' code='x'>: allowGroup 'nogroup' names no group" },
		/* uniqueness */
		{ NULL, NULL, NULL, "<gateway code=\"state\" address=\"h:1\" authCertHash=\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"/>",
		  NULL, 1, "t.xml:15: <gateway code='state'>: gateway code used twice" },
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"h:1\" authCertHash=\"" H_MUN "\"/>",
		  NULL, 1, "t.xml:15: <gateway code='bank'>: authCertHash already used by gateway 'municipality'" },
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"h:1\" authCertHash=\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"><client>GOV/70000050/certificates</client></gateway>",
		  NULL, 1, "t.xml:15: <gateway code='bank'>: client 'GOV/70000050/certificates' is already served by gateway 'municipality'" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"passportDataByPSN\" version=\"v1\" type=\"rest\" adapter=\"b\"/>", 1,
		  "t.xml:17: <service client='GOV/70000005/passport-service' code='passportDataByPSN'>: service (client, code, version) defined twice" },
		{ NULL, "<member class=\"GOV\" code=\"70000005\" name=\"again\"/>", NULL, NULL, NULL, 1,
		  "t.xml:10: <member class='GOV' code='70000005'>: member listed twice (also on line 7)" },
		{ NULL, "<member class=\"COM\" code=\"2\" name=\"x\"><subsystem code=\"a\"/><subsystem code=\"a\"/></member>", NULL, NULL, NULL, 1,
		  "t.xml:10: <member class='COM' code='2'>: subsystem 'a' listed twice" },
		{ NULL, NULL, "<group code=\"banks\"/>", NULL, NULL, 1, "t.xml:12: <group code='banks'>: group code used twice" },
		{ "<memberClass code=\"GOV\">again</memberClass>", NULL, NULL, NULL, NULL, 0,
		  "t.xml:5: <memberClass code='GOV'>: member class declared twice" },
		/* binding */
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" adapter=\"a\" url=\"http://h/\"/>", 1,
		  "t.xml:17: <service client='GOV/70000005/passport-service' code='x'>: give exactly one of adapter and url" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\"/>", 1,
		  "give exactly one of adapter and url" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" url=\"ftp://h/\"/>", 0,
		  "url 'ftp://h/' is not http:// or https://" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"soap\" adapter=\"a\" description=\"../../etc/passwd\"/>", 0,
		  "description '../../etc/passwd' must be a file name under wsdl/" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x\" type=\"grpc\" adapter=\"a\"/>", 0,
		  "type 'grpc' is not soap, rest or both" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005\" code=\"x\" type=\"soap\" adapter=\"a\"/>", 0,
		  "client 'GOV/70000005' is not CLASS/CODE/SUBSYSTEM" },
		/* values the schema also checks: the gateway checks them without it */
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"nope\" authCertHash=\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"/>",
		  NULL, 0, "t.xml:15: <gateway code='bank'>: address 'nope' is not host:port" },
		{ NULL, "<member class=\"COM\" code=\"a b\" name=\"x\"/>", NULL, NULL, NULL, 0,
		  "t.xml:10: <member class='COM' code='a b'>: code 'a b' is not a valid identifier part" },
		{ NULL, NULL, NULL, NULL,
		  "<service client=\"GOV/70000005/passport-service\" code=\"x_y\" type=\"soap\" adapter=\"a\"/>", 0,
		  "code 'x_y' is not a valid identifier part" },
		{ NULL, "<member class=\"COM\" code=\"2\"/>", NULL, NULL, NULL, 0,
		  "t.xml:10: <member class='COM' code='2'>: attribute name is missing" },
		{ NULL, "<frob/>", NULL, NULL, NULL, 0, "t.xml:10: <frob>: unknown element" },
		/* dates */
		{ "<generatedAt>2025-01-02T00:00:00Z</generatedAt><expiresAt>2025-01-01T00:00:00Z</expiresAt>",
		  NULL, NULL, NULL, NULL, 1, "expiresAt is not after generatedAt" },
		{ "<generatedAt>2025-01-01T00:00:00Z</generatedAt><expiresAt>2025-01-01T05:00:00+06:00</expiresAt>",
		  NULL, NULL, NULL, NULL, 1, "expiresAt is not after generatedAt" },
		{ "<generatedAt>2025-01-02T00:00:00</generatedAt>", NULL, NULL, NULL, NULL, 0,
		  "t.xml:4: <generatedAt>: '2025-01-02T00:00:00' is not a date-time with zone" },
		/* schema */
		{ "<generatedAt>2025-01-02T00:00:00</generatedAt>", NULL, NULL, NULL, NULL, 1,
		  "t.xml:4: Element '{urn:ailgate:globalconf:1}generatedAt'" },
		{ NULL, NULL, NULL, "<gateway code=\"bank\" address=\"h:1\" authCertHash=\"xyz\"/>", NULL, 1,
		  "t.xml:15: Element '{urn:ailgate:globalconf:1}gateway', attribute 'authCertHash'" },
		{ NULL, "<frob/>", NULL, NULL, NULL, 1, "t.xml:10: Element '{urn:ailgate:globalconf:1}frob': This element is not expected" },
	};
	(void)state;
	src_path(xsd, sizeof(xsd), "config/globalconf.xsd");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_doc_case(&cases[i], i);
}

/* Whole documents that are wrong before any element is read. */
static void test_bad_documents(void **state)
{
	static const struct { const char *xml, *msg; } cases[] = {
		{ "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"b\">]>\n<globalConf xmlns=\"urn:ailgate:globalconf:1\"/>",
		  "t.xml:2: DOCTYPE is not allowed" },
		{ "<globalConf xmlns=\"urn:ailgate:globalconf:1\"><instance>x</instance>\n<oops></globalConf>",
		  "t.xml:2: not well-formed XML" },
		{ "<globalConf xmlns=\"urn:other\"><instance>x</instance></globalConf>",
		  "the root element must be <globalConf xmlns=\"urn:ailgate:globalconf:1\">" },
		{ "<globalConf xmlns=\"urn:ailgate:globalconf:1\"><memberClass code=\"GOV\">x</memberClass></globalConf>",
		  "<instance> is missing" },
		{ "<globalConf xmlns=\"urn:ailgate:globalconf:1\"><instance>a/b</instance></globalConf>",
		  "instance 'a/b' is repeated or not a valid identifier part" },
		{ "", "t.xml" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gconf *g = NULL;
		char *err = NULL;

		assert_int_equal(gconf_load_mem(cases[i].xml, strlen(cases[i].xml), "t.xml", NULL, &g, &err), -1);
		assert_null(g);
		if (!err || !strstr(err, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].msg);
		free(err);
	}
}

/* The sample files under tests/data/config, loaded from disk with the schema. */
static void test_bad_files(void **state)
{
	static const struct { const char *file, *msg; } cases[] = {
		{ "globalconf-doctype.xml", "globalconf-doctype.xml:2: DOCTYPE is not allowed" },
		{ "globalconf-schema.xml", "globalconf-schema.xml:8: Element '{urn:ailgate:globalconf:1}gateway', attribute 'authCertHash'" },
		{ "globalconf-refs.xml", "globalconf-refs.xml:13: <service client='GOV/70000005/passport-service' code='passportDataByPSN'>: allow 'GOV/70000050/household-register' names no subsystem" },
		{ "nonexistent.xml", "nonexistent.xml: cannot open" },
	};
	(void)state;
	src_path(xsd, sizeof(xsd), "config/globalconf.xsd");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[PATH_MAX], *err = NULL;
		struct gconf *g = NULL;

		snprintf(path, sizeof(path), "%s/tests/data/config/%s", src_dir(), cases[i].file);
		assert_int_equal(gconf_load(path, xsd, &g, &err), -1);
		assert_null(g);
		if (!err || !strstr(err, cases[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].file, err, cases[i].msg);
		free(err);
	}
	/* a directory where the file should be: said so (was "read error") */
	{
		char path[PATH_MAX], *err = NULL;
		struct gconf *g = NULL;

		snprintf(path, sizeof(path), "%s/tests/data/config", src_dir());
		assert_int_equal(gconf_load(path, xsd, &g, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, "tests/data/config: is a directory, not a file"));
		free(err);
	}
	/* too many entries of one kind: which kind, how many (was "more than
	 * 20000 entries of one kind") */
	{
		struct buf groups = BUF_INIT;
		struct doc_case c = { 0 };

		for (int i = 0; i < 20001; i++)
			assert_int_equal(buf_printf(&groups, "<group code=\"g%d\"/>", i), 0);
		assert_int_equal(buf_append(&groups, "", 1), 0);
		c.group = groups.data;
		c.msg = "20002 <group> elements: at most 20000 are read";
		run_doc_case(&c, 0);
		buf_free(&groups);
	}
	/* a broken schema path is an error, not a silent pass */
	{
		char path[PATH_MAX], *err = NULL;
		struct gconf *g = NULL;

		src_path(path, sizeof(path), "config/globalconf.example.xml");
		assert_int_equal(gconf_load(path, "/nonexistent.xsd", &g, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, "/nonexistent.xsd: cannot read the schema"));
		free(err);
	}
}

/* Without a version: the unversioned service, else the first in the file. */
static void test_service_versions(void **state)
{
	static const char *const svc[] = {
		"<service client=\"GOV/70000005/passport-service\" code=\"a\" version=\"v2\" type=\"soap\" adapter=\"x\"/>"
		"<service client=\"GOV/70000005/passport-service\" code=\"a\" type=\"soap\" adapter=\"none\"/>"
		"<service client=\"GOV/70000005/passport-service\" code=\"a\" version=\"v1\" type=\"soap\" adapter=\"y\"/>"
		"<service client=\"GOV/70000005/passport-service\" code=\"b\" version=\"v2\" type=\"soap\" adapter=\"b2\"/>"
		"<service client=\"GOV/70000005/passport-service\" code=\"b\" version=\"v1\" type=\"soap\" adapter=\"b1\"/>"
		"<service client=\"GOV/70000005/passport-service\" code=\"d\" type=\"both\" adapter=\"d\" "
		"description=\"d.wsdl\" openapi=\"d.openapi.json\"/>",
	};
	static const struct { const char *id, *adapter; } cases[] = {
		{ "SERVICE:central-server/GOV/70000005/passport-service/a", "none" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/a/v1", "y" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/a/v2", "x" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/a/v3", NULL },
		{ "SERVICE:central-server/GOV/70000005/passport-service/b", "b2" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/b/v1", "b1" },
		{ "SERVICE:central-server/GOV/70000005/passport-service/c", NULL },
		{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN", "population" },
	};
	struct doc_case c = { NULL, NULL, NULL, NULL, svc[0], 1, NULL };
	char *doc = make_doc(&c), *err = NULL;
	struct gconf *g = NULL;

	(void)state;
	if (gconf_load_mem(doc, strlen(doc), "t.xml", xsd, &g, &err) != 0)
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xrd_id id = svc_id(cases[i].id);
		const struct gc_service *s = gconf_service(g, &id);

		if (!cases[i].adapter)
			assert_null(s);
		else if (!s)
			fail_msg("%s not found", cases[i].id);
		else
			assert_string_equal(s->adapter, cases[i].adapter);
	}
	{
		/* type="both": one service offered over SOAP and REST, one description each */
		struct xrd_id id = svc_id("SERVICE:central-server/GOV/70000005/passport-service/d");
		const struct gc_service *s = gconf_service(g, &id);

		assert_non_null(s);
		assert_int_equal(s->type, GC_SVC_BOTH);
		assert_true(s->type & GC_SVC_SOAP);
		assert_true(s->type & GC_SVC_REST);
		assert_string_equal(s->description, "d.wsdl");
		assert_string_equal(s->openapi, "d.openapi.json");
	}
	{
		struct xrd_id m = id_path("central-server/GOV/70000005/passport-service");

		assert_null(gconf_service(g, &m));   /* not a SERVICE id */
	}
	gconf_unref(&g);
	free(doc);
}

/* subjectParam / consentRequiredFor: read, normalised, cross-checked; and
 * gconf_consent_required by the caller's member class. */
#define PS_SVC "<service client=\"GOV/70000005/passport-service\" code=\"p\" type=\"rest\" adapter=\"a\" "

static const struct gc_service *personal_svc(const char *attrs, struct gconf **g)
{
	char svc[512], *err = NULL;
	struct doc_case c = { NULL, NULL, NULL, NULL, svc, 1, NULL };
	char *doc;
	struct xrd_id id = svc_id("SERVICE:central-server/GOV/70000005/passport-service/p");

	snprintf(svc, sizeof(svc), PS_SVC "%s/>", attrs);
	doc = make_doc(&c);
	if (gconf_load_mem(doc, strlen(doc), "t.xml", xsd, g, &err) != 0)
		fail_msg("%s: %s", attrs, err);
	free(doc);
	return gconf_service(*g, &id);
}

static void test_personal_attributes(void **state)
{
	static const struct doc_case bad[] = {
		{ NULL, NULL, NULL, NULL, PS_SVC "consentRequiredFor=\"COM\"/>", 1,
		  "t.xml:17: <service client='GOV/70000005/passport-service' code='p'>: consentRequiredFor "
		  "needs subjectParam" },
		{ NULL, NULL, NULL, NULL, PS_SVC "consentRequiredFor=\"COM\"/>", 0, "needs subjectParam" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"pin\" consentRequiredFor=\"COM MUN\"/>", 1,
		  "consentRequiredFor: member class 'MUN' is not declared" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"pin\" consentRequiredFor=\"COM COM\"/>", 1,
		  "consentRequiredFor: member class 'COM' listed twice" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"1pin\"/>", 0,
		  "subjectParam '1pin' is not a parameter name" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"p n\"/>", 0,
		  "subjectParam 'p n' is not a parameter name" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"1pin\"/>", 1, "attribute 'subjectParam'" },
		{ NULL, NULL, NULL, NULL, PS_SVC "subjectParam=\"pin\" consentRequiredFor=\"\"/>", 1,
		  "attribute 'consentRequiredFor'" },
	};
	struct xrd_id bank = id_path("central-server/COM/60000001/bank-is");
	struct xrd_id bank_m = id_path("central-server/COM/60000001");
	struct xrd_id clerk = id_path("central-server/GOV/70000050/household-register");
	const struct gc_service *s;
	struct gconf *g = NULL;

	(void)state;
	src_path(xsd, sizeof(xsd), "config/globalconf.xsd");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		run_doc_case(&bad[i], i);

	s = personal_svc("subjectParam=\"pin\" consentRequiredFor=\"COM\"", &g);
	assert_non_null(s);
	assert_string_equal(s->subject_param, "pin");
	assert_string_equal(s->consent_classes, "COM");
	assert_int_equal(gconf_consent_required(s, &bank), 1);
	assert_int_equal(gconf_consent_required(s, &bank_m), 1);
	assert_int_equal(gconf_consent_required(s, &clerk), 0);
	assert_int_equal(gconf_consent_required(NULL, &bank), 0);
	assert_int_equal(gconf_consent_required(s, NULL), 0);
	gconf_unref(&g);

	/* white space of any kind between classes is one space; order kept */
	s = personal_svc("subjectParam=\"pin\" consentRequiredFor=\"  GOV \t COM \"", &g);
	assert_string_equal(s->consent_classes, "GOV COM");
	assert_int_equal(gconf_consent_required(s, &clerk), 1);
	assert_int_equal(gconf_consent_required(s, &bank), 1);
	gconf_unref(&g);

	/* a class that is a prefix of a listed one is not listed */
	s = personal_svc("subjectParam=\"pin\" consentRequiredFor=\"GOV\"", &g);
	{
		struct xrd_id go = bank;

		snprintf(go.member_class, sizeof(go.member_class), "GO");
		assert_int_equal(gconf_consent_required(s, &go), 0);
	}
	gconf_unref(&g);

	/* recorded, no consent needed */
	s = personal_svc("subjectParam=\"pin\"", &g);
	assert_string_equal(s->subject_param, "pin");
	assert_string_equal(s->consent_classes, "");
	assert_int_equal(gconf_consent_required(s, &bank), 0);
	gconf_unref(&g);

	/* neither */
	s = personal_svc("", &g);
	assert_string_equal(s->subject_param, "");
	assert_int_equal(gconf_consent_required(s, &bank), 0);
	gconf_unref(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_example_counts, load_example, unload),
		cmocka_unit_test_setup_teardown(test_example_members, load_example, unload),
		cmocka_unit_test_setup_teardown(test_example_gateways, load_example, unload),
		cmocka_unit_test_setup_teardown(test_example_gateway_by_cert, load_example, unload),
		cmocka_unit_test_setup_teardown(test_example_services, load_example, unload),
		cmocka_unit_test_setup_teardown(test_refcount, load_example, unload),
		cmocka_unit_test(test_base_doc_loads),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_service_versions),
		cmocka_unit_test(test_personal_attributes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
