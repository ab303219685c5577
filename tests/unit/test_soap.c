/* Unit tests for proto/soap: parsing (valid, every header rule, hostile XML),
 * building and checking responses, faults, requests and hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "proto/soap.h"

/* ---- helpers ------------------------------------------------------------ */

static const char *source_dir(void)
{
	const char *d = getenv("AILGATE_SOURCE_DIR");
#ifdef AILGATE_SOURCE_DIR
	if (!d)
		d = AILGATE_SOURCE_DIR;
#endif
	return d ? d : ".";
}

/* Reads tests/data/soap/NAME; caller frees. */
static char *load(const char *name, size_t *len)
{
	char path[1024];
	FILE *fp;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/soap/%s", source_dir(), name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
	data[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return data;
}

/* s with the first occurrence of from replaced by to; caller frees. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	size_t a, b, c;
	char *r;

	assert_non_null(p); /* the table entry must match the sample */
	a = (size_t)(p - s);
	b = strlen(to);
	c = strlen(p + strlen(from));
	r = malloc(a + b + c + 1);
	assert_non_null(r);
	memcpy(r, s, a);
	memcpy(r + a, to, b);
	memcpy(r + a + b, p + strlen(from), c + 1);
	return r;
}

#define CLIENT_EL                                                                              \
	"<xrd:client id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>central-server</id:xRoadInstance>" \
	"<id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode>"              \
	"<id:subsystemCode>household-register</id:subsystemCode></xrd:client>"
#define SERVICE_EL                                                                             \
	"<xrd:service id:objectType=\"SERVICE\"><id:xRoadInstance>central-server</id:xRoadInstance>" \
	"<id:memberClass>GOV</id:memberClass><id:memberCode>70000005</id:memberCode>"              \
	"<id:subsystemCode>passport-service</id:subsystemCode><id:serviceCode>passportDataByPSN"   \
	"</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>"
#define ID_EL "<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>"
#define USER_EL "<xrd:userId>KG21203199000123</xrd:userId>"
#define ISSUE_EL "<xrd:issue>case-12</xrd:issue>"
#define PROTO_EL "<xrd:protocolVersion>4.0</xrd:protocolVersion>"
#define REPR_EL                                                                                \
	"<repr:representedParty><repr:partyClass>COM</repr:partyClass><repr:partyCode>60000001" \
	"</repr:partyCode></repr:representedParty>"

#define SAMPLE_HASH \
	"RI+sE8NGPuUTMHAqCDXH2waQQc2tOlvFd5m51I8h1Ml7ULCNRovS+iQukZEIbdGjUaMUkVMUN4a9Mc3ND4mzjw=="

static xmlNodePtr first_element(xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static int setup(void **state)
{
	soap_global_init();
	return 0;
}

/* ---- a valid request ---------------------------------------------------- */

static void test_parse_sample(void **state)
{
	size_t len;
	char *x = load("request.xml", &len);
	struct soap_msg m;
	struct fault f;
	char t[XRD_ID_TEXT_MAX];

	fault_clear(&f);
	assert_int_equal(soap_parse(x, len, SOAP_REQUEST, F_CLIENT, &m, &f), 0);
	assert_false(fault_is_set(&f));
	assert_string_equal(xrd_id_format(&m.client, t, sizeof(t)),
			    "SUBSYSTEM:central-server/GOV/70000050/household-register");
	assert_string_equal(xrd_id_format(&m.service, t, sizeof(t)),
			    "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN/v1");
	assert_string_equal(m.id, "4894e35d-bf0f-44a6-867a-8e51f1daa7e0");
	assert_string_equal(m.user_id, "KG21203199000123");
	assert_string_equal(m.issue, "case-12");
	assert_string_equal(m.protocol_version, "4.0");
	assert_int_equal(m.has_represented_party, 1);
	assert_string_equal(m.party_class, "COM");
	assert_string_equal(m.party_code, "60000001");
	assert_string_equal(m.request_hash, "");
	assert_int_equal(m.is_fault, 0);
	assert_non_null(m.header);
	assert_non_null(m.body_elem);
	assert_string_equal((const char *)m.body_elem->name, "passportDataByPSN");
	soap_msg_free(&m);
	assert_null(m.doc);
	free(x);
}

/* Minimal forms that must be accepted. */
struct ok_case {
	const char *name;
	const char *from, *to;
	const char *from2, *to2; /* optional second replacement */
};

static const struct ok_case ok_cases[] = {
	{ "no userId/issue", USER_EL, "", ISSUE_EL, "" },
	{ "no representedParty", REPR_EL, "", NULL, NULL },
	{ "party without class", "<repr:partyClass>COM</repr:partyClass>", "", NULL, NULL },
	{ "MEMBER client", "<xrd:client id:objectType=\"SUBSYSTEM\">",
	  "<xrd:client id:objectType=\"MEMBER\">",
	  "<id:subsystemCode>household-register</id:subsystemCode>", "" },
	{ "service without version", "<id:serviceVersion>v1</id:serviceVersion>", "", NULL, NULL },
	{ "foreign header tolerated", ID_EL, ID_EL "<x:token xmlns:x=\"urn:x\">abc</x:token>", NULL, NULL },
	{ "whitespace around values", "<xrd:id>4894e35d", "<xrd:id>\n   4894e35d", NULL, NULL },
	{ "identifier children in another order",
	  "<id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode>",
	  "<id:memberCode>70000050</id:memberCode><id:memberClass>GOV</id:memberClass>", NULL, NULL },
	{ "other prefixes", "xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\"",
	  "xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:x=\"http://x-road.eu/xsd/xroad.xsd\"", NULL, NULL },
	{ "CDATA value", "<xrd:issue>case-12</xrd:issue>", "<xrd:issue><![CDATA[case-12]]></xrd:issue>", NULL, NULL },
	{ "XML declaration", "<SOAP-ENV:Envelope ",
	  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope ", NULL, NULL },
};

static void test_parse_ok_variants(void **state)
{
	size_t len;
	char *x = load("request.xml", &len);

	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		char *v = replace(x, c->from, c->to);
		struct soap_msg m;
		struct fault f;
		int rc;

		fault_clear(&f);
		if (c->from2) {
			char *w = replace(v, c->from2, c->to2);
			free(v);
			v = w;
		}
		rc = soap_parse(v, strlen(v), SOAP_REQUEST, F_CLIENT, &m, &f);
		if (rc != 0)
			print_error("case \"%s\": %s %s\n", c->name, f.code, f.message);
		assert_int_equal(rc, 0);
		assert_string_equal(m.id, "4894e35d-bf0f-44a6-867a-8e51f1daa7e0");
		if (strstr(c->name, "MEMBER")) {
			assert_int_equal(m.client.type, XRD_MEMBER);
			assert_string_equal(m.client.subsystem, "");
		}
		if (strstr(c->name, "party without"))
			assert_string_equal(m.party_class, "");
		if (strstr(c->name, "CDATA"))
			assert_string_equal(m.issue, "case-12");
		if (strstr(c->name, "no repr"))
			assert_int_equal(m.has_represented_party, 0);
		if (strstr(c->name, "no userId")) {
			assert_string_equal(m.user_id, "");
			assert_string_equal(m.issue, "");
		}
		soap_msg_free(&m);
		free(v);
	}
	free(x);
}

/* ---- every header rule: one row per broken variant of the sample -------- */

struct bad_case {
	const char *name;
	const char *from, *to;     /* replace in the sample */
	const char *code;          /* expected fault code */
	const char *msg;           /* substring of the fault message */
};

static const struct bad_case bad_cases[] = {
	/* missing required fields */
	{ "missing client", CLIENT_EL, "", "Client.MissingHeaderField", "xrd:client" },
	{ "missing service", SERVICE_EL, "", "Client.MissingHeaderField", "xrd:service" },
	{ "missing id", ID_EL, "", "Client.MissingHeaderField", "xrd:id" },
	{ "empty id", ID_EL, "<xrd:id> </xrd:id>", "Client.MissingHeaderField", "xrd:id" },
	{ "missing protocolVersion", PROTO_EL, "", "Client.MissingHeaderField",
	  "xrd:protocolVersion" },
	{ "missing partyCode", "<repr:partyCode>60000001</repr:partyCode>", "",
	  "Client.MissingHeaderField", "partyCode" },
	/* duplicates */
	{ "duplicate client", ID_EL, CLIENT_EL ID_EL, "Client.DuplicateHeaderField", "xrd:client" },
	{ "duplicate service", ID_EL, SERVICE_EL ID_EL, "Client.DuplicateHeaderField",
	  "xrd:service" },
	{ "duplicate id", ID_EL, ID_EL ID_EL, "Client.DuplicateHeaderField", "xrd:id" },
	{ "duplicate userId", USER_EL, USER_EL USER_EL, "Client.DuplicateHeaderField",
	  "xrd:userId" },
	{ "duplicate issue", ISSUE_EL, ISSUE_EL ISSUE_EL, "Client.DuplicateHeaderField",
	  "xrd:issue" },
	{ "duplicate protocolVersion", PROTO_EL, PROTO_EL PROTO_EL, "Client.DuplicateHeaderField",
	  "xrd:protocolVersion" },
	{ "duplicate representedParty", REPR_EL, REPR_EL REPR_EL, "Client.DuplicateHeaderField",
	  "repr:representedParty" },
	{ "duplicate partyCode", "<repr:partyCode>60000001</repr:partyCode>",
	  "<repr:partyCode>1</repr:partyCode><repr:partyCode>2</repr:partyCode>",
	  "Client.DuplicateHeaderField", "partyCode" },
	/* protocol version */
	{ "protocolVersion 3.1", PROTO_EL, "<xrd:protocolVersion>3.1</xrd:protocolVersion>",
	  "Client.InvalidProtocolVersion", "3.1" },
	{ "protocolVersion 4.00", PROTO_EL, "<xrd:protocolVersion>4.00</xrd:protocolVersion>",
	  "Client.InvalidProtocolVersion", "4.00" },
	/* objectType and identifier shape */
	{ "client objectType SERVICE", "<xrd:client id:objectType=\"SUBSYSTEM\">",
	  "<xrd:client id:objectType=\"SERVICE\">", "Client.InvalidClientIdentifier",
	  "MEMBER or SUBSYSTEM" },
	{ "client objectType missing", "<xrd:client id:objectType=\"SUBSYSTEM\">", "<xrd:client>",
	  "Client.InvalidClientIdentifier", "objectType" },
	{ "client objectType unqualified", "<xrd:client id:objectType=\"SUBSYSTEM\">",
	  "<xrd:client objectType=\"SUBSYSTEM\">", "Client.InvalidClientIdentifier", "objectType" },
	{ "client objectType lowercase", "<xrd:client id:objectType=\"SUBSYSTEM\">",
	  "<xrd:client id:objectType=\"subsystem\">", "Client.InvalidClientIdentifier",
	  "subsystem" },
	{ "MEMBER client with subsystemCode", "<xrd:client id:objectType=\"SUBSYSTEM\">",
	  "<xrd:client id:objectType=\"MEMBER\">", "Client.InvalidClientIdentifier",
	  "must not have id:subsystemCode" },
	{ "SUBSYSTEM client without subsystemCode",
	  "<id:subsystemCode>household-register</id:subsystemCode>", "",
	  "Client.InvalidClientIdentifier", "lacks id:subsystemCode" },
	{ "client with serviceCode", "<id:subsystemCode>household-register</id:subsystemCode>",
	  "<id:subsystemCode>household-register</id:subsystemCode><id:serviceCode>x</id:serviceCode>",
	  "Client.InvalidClientIdentifier", "must not have id:serviceCode" },
	{ "client lacks instance", "<id:xRoadInstance>central-server</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000050",
	  "<id:memberClass>GOV</id:memberClass><id:memberCode>70000050",
	  "Client.InvalidClientIdentifier", "lacks id:xRoadInstance" },
	{ "client memberCode twice", "<id:memberCode>70000050</id:memberCode>",
	  "<id:memberCode>70000050</id:memberCode><id:memberCode>1</id:memberCode>",
	  "Client.InvalidClientIdentifier", "twice" },
	{ "client bad character", "<id:memberCode>70000050</id:memberCode>",
	  "<id:memberCode>7000 0050</id:memberCode>", "Client.InvalidClientIdentifier",
	  "id:memberCode" },
	{ "client empty part", "<id:memberClass>GOV</id:memberClass>",
	  "<id:memberClass></id:memberClass>", "Client.InvalidClientIdentifier", "id:memberClass" },
	{ "client unknown child", "<id:memberClass>GOV</id:memberClass>",
	  "<id:memberClass>GOV</id:memberClass><id:colour>red</id:colour>",
	  "Client.InvalidClientIdentifier", "id:colour" },
	{ "client child not text", "<id:memberClass>GOV</id:memberClass>",
	  "<id:memberClass><b>GOV</b></id:memberClass>", "Client.InvalidClientIdentifier",
	  "text only" },
	{ "service objectType SUBSYSTEM", "<xrd:service id:objectType=\"SERVICE\">",
	  "<xrd:service id:objectType=\"SUBSYSTEM\">", "Client.InvalidServiceIdentifier",
	  "expected SERVICE" },
	{ "service without serviceCode", "<id:serviceCode>passportDataByPSN</id:serviceCode>", "",
	  "Client.InvalidServiceIdentifier", "lacks id:serviceCode" },
	{ "service without subsystem", "<id:subsystemCode>passport-service</id:subsystemCode>", "",
	  "Client.InvalidServiceIdentifier", "lacks id:subsystemCode" },
	{ "service bad character", "<id:serviceVersion>v1</id:serviceVersion>",
	  "<id:serviceVersion>v/1</id:serviceVersion>", "Client.InvalidServiceIdentifier",
	  "id:serviceVersion" },
	/* other header rules */
	{ "unknown xrd header", ID_EL, ID_EL "<xrd:colour>red</xrd:colour>", "Client.InvalidSoap",
	  "xrd:colour" },
	{ "id not text", ID_EL, "<xrd:id><a>1</a></xrd:id>", "Client.InvalidSoap", "text only" },
	{ "userId too long", USER_EL,
	  "<xrd:userId>KG000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000</xrd:userId>",
	  "Client.InvalidSoap", "longer than 255" },
	{ "bad party class", "<repr:partyClass>COM</repr:partyClass>",
	  "<repr:partyClass>C M</repr:partyClass>", "Client.InvalidSoap", "partyClass" },
	/* body */
	{ "mismatched end tag", "<ns1:passportDataByPSN xmlns",
	  "<ns1:otherService xmlns", NULL, NULL }, /* ill-formed: end tag differs -> InvalidXml */
	{ "empty body",
	  "<ns1:passportDataByPSN xmlns:ns1=\"http://tunduk.kg/passport\"><ns1:pin>21203199000123</ns1:pin></ns1:passportDataByPSN>",
	  "", "Client.MissingBody", "Body is empty" },
	{ "wrong wrapper",
	  "<ns1:passportDataByPSN xmlns:ns1=\"http://tunduk.kg/passport\"><ns1:pin>21203199000123</ns1:pin></ns1:passportDataByPSN>",
	  "<ns1:familyMembers xmlns:ns1=\"http://tunduk.kg/passport\"/>", "Client.InvalidSoap",
	  "does not match service code" },
	{ "fault in request",
	  "<ns1:passportDataByPSN xmlns:ns1=\"http://tunduk.kg/passport\"><ns1:pin>21203199000123</ns1:pin></ns1:passportDataByPSN>",
	  "<SOAP-ENV:Fault><faultcode>x</faultcode></SOAP-ENV:Fault>", "Client.InvalidSoap",
	  "Fault" },
	/* envelope */
	{ "SOAP 1.2", "xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"",
	  "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\"", "Client.InvalidSoap",
	  "SOAP 1.1 Envelope" },
	{ "two bodies", "</SOAP-ENV:Body>", "</SOAP-ENV:Body><SOAP-ENV:Body/>", "Client.InvalidSoap",
	  "Envelope" },
	{ "header after body", " <SOAP-ENV:Header>", "<SOAP-ENV:Body/><SOAP-ENV:Header>",
	  "Client.InvalidSoap", "Envelope" },
	/* XML */
	{ "not well-formed", "</xrd:issue>", "</xrd:isue>", "Client.InvalidXml", "line 7" },
	{ "undefined prefix", "<xrd:issue>case-12</xrd:issue>", "<zz:issue>case-12</zz:issue>",
	  "Client.InvalidXml", "zz" },
	{ "internal DTD", "<SOAP-ENV:Envelope ",
	  "<!DOCTYPE SOAP-ENV:Envelope [<!ELEMENT a ANY>]><SOAP-ENV:Envelope ",
	  "Client.InvalidSoap", "DTD is not allowed in a SOAP message" },
};

static void test_parse_bad(void **state)
{
	size_t len;
	char *x = load("request.xml", &len);

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *v = replace(x, c->from, c->to);
		const char *code = c->code ? c->code : "Client.InvalidXml";
		struct soap_msg m;
		struct fault f;
		int rc;

		fault_clear(&f);
		rc = soap_parse(v, strlen(v), SOAP_REQUEST, F_CLIENT, &m, &f);
		if (rc != -1 || strcmp(f.code, code) != 0 || (c->msg && !strstr(f.message, c->msg)))
			print_error("case \"%s\": rc %d, got %s \"%s\"\n", c->name, rc, f.code,
				    f.message);
		assert_int_equal(rc, -1);
		assert_string_equal(f.code, code);
		if (c->msg)
			assert_non_null(strstr(f.message, c->msg));
		assert_int_equal(f.http_status, 400);
		assert_null(m.doc); /* freed and zeroed on failure */
		free(v);
	}
	free(x);
}

/* The prefix follows the caller: a client-side gateway reading a response. */
static void test_parse_prefix(void **state)
{
	struct soap_msg m;
	struct fault f;
	const char *junk = "<a>";

	assert_int_equal(soap_parse(junk, strlen(junk), SOAP_RESPONSE, F_CPROXY, &m, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.InvalidXml");
	assert_int_equal(f.http_status, 500);
	assert_int_equal(soap_parse("", 0, SOAP_REQUEST, F_CLIENT, &m, &f), -1);
	assert_string_equal(f.code, "Client.InvalidSoap");
}

/* ---- hostile XML -------------------------------------------------------- */

static int loader_calls;

static xmlParserInputPtr counting_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	loader_calls++;
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void expect_dtd_refused(const char *file)
{
	size_t len;
	char *x = load(file, &len);
	struct soap_msg m;
	struct fault f;
	double t0 = now();

	assert_int_equal(soap_parse(x, len, SOAP_REQUEST, F_CLIENT, &m, &f), -1);
	assert_true(now() - t0 < 1.0);
	assert_string_equal(f.code, "Client.InvalidSoap");
	assert_string_equal(f.message, "DTD is not allowed in a SOAP message");
	assert_null(strstr(f.message, "root:")); /* nothing of /etc/passwd */
	free(x);
}

static void test_hostile_dtds(void **state)
{
	xmlExternalEntityLoader old = xmlGetExternalEntityLoader();

	/* Any attempt to open an external resource would go through the loader. */
	loader_calls = 0;
	xmlSetExternalEntityLoader(counting_loader);
	expect_dtd_refused("billion_laughs.xml");
	expect_dtd_refused("xxe.xml");
	expect_dtd_refused("xxe_external_subset.xml");
	xmlSetExternalEntityLoader(old);
	assert_int_equal(loader_calls, 0);
}

static void test_deep_nesting(void **state)
{
	enum { DEPTH = 10000 };
	const char *head = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" NS_SOAPENV "\"><SOAP-ENV:Body>";
	struct buf b = BUF_INIT;
	struct soap_msg m;
	struct fault f;
	double t0;

	assert_int_equal(buf_puts(&b, head), 0);
	for (int i = 0; i < DEPTH; i++)
		assert_int_equal(buf_puts(&b, "<a>"), 0);
	for (int i = 0; i < DEPTH; i++)
		assert_int_equal(buf_puts(&b, "</a>"), 0);
	assert_int_equal(buf_puts(&b, "</SOAP-ENV:Body></SOAP-ENV:Envelope>"), 0);
	t0 = now();
	assert_int_equal(soap_parse(b.data, b.len, SOAP_REQUEST, F_CLIENT, &m, &f), -1);
	assert_true(now() - t0 < 1.0);
	assert_string_equal(f.code, "Client.InvalidXml");
	assert_non_null(strstr(f.message, "depth"));
	buf_free(&b);
}

/* ---- responses ---------------------------------------------------------- */



#define INNER "<name>Aibek</name><born>1990-03-12</born><note>a &amp; b</note>"

static void parse_sample(struct soap_msg *m, char **bytes, size_t *len)
{
	struct fault f;

	*bytes = load("request.xml", len);
	assert_int_equal(soap_parse(*bytes, *len, SOAP_REQUEST, F_CLIENT, m, &f), 0);
}

/* Nothing reaches stderr, even with libxml2's default (printing) handlers
 * put back: soap_parse() and the inner_xml parse carry their own. */
static void test_silent(void **state)
{
	static const char *const bad[] = { "<a>", "<a></b>", "<zz:a/>", "<a>&x;</a>",
					   "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "\xff\xfe<" };
	FILE *tmp = tmpfile();
	int saved = dup(2);
	struct soap_msg m, req;
	struct buf out = BUF_INIT;
	struct fault f;
	char *x;
	size_t len;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	parse_sample(&req, &x, &len);
	xmlSetGenericErrorFunc(NULL, NULL);
	xmlSetStructuredErrorFunc(NULL, NULL);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(soap_parse(bad[i], strlen(bad[i]), SOAP_REQUEST, F_CLIENT, &m, &f), -1);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, "<a></b>", 7, &out), -1);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, "&x;", 3, &out), -1);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	soap_global_init();
	assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
	assert_int_equal(ftell(tmp), 0);
	fclose(tmp);
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

/* Builds the response to the sample and parses it back. */
static void build_and_parse(const struct soap_msg *req, struct buf *out, struct soap_msg *resp)
{
	struct fault f;

	assert_int_equal(soap_build_response(req, SAMPLE_HASH, INNER, strlen(INNER), out), 0);
	fault_clear(&f);
	if (soap_parse(out->data, out->len, SOAP_RESPONSE, F_CPROXY, resp, &f) != 0)
		print_error("%s: %s\n%s\n", f.code, f.message, out->data);
	assert_false(fault_is_set(&f));
}

static void test_response_roundtrip(void **state)
{
	struct soap_msg req, resp;
	struct buf out = BUF_INIT;
	struct fault f;
	char *x;
	size_t len;
	xmlNodePtr c;

	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &resp);
	assert_memory_equal(out.data, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39);
	assert_true(xrd_id_equal(&req.client, &resp.client));
	assert_true(xrd_id_equal(&req.service, &resp.service));
	assert_string_equal(resp.id, req.id);
	assert_string_equal(resp.user_id, "KG21203199000123");
	assert_string_equal(resp.issue, "case-12");
	assert_string_equal(resp.party_code, "60000001");
	assert_string_equal(resp.request_hash, SAMPLE_HASH);
	assert_string_equal(resp.request_hash_alg, XRD_HASH_SHA512);
	/* wrapper: SERVICECODE + Response, in the request wrapper's namespace */
	assert_string_equal((const char *)resp.body_elem->name, "passportDataByPSNResponse");
	assert_string_equal((const char *)resp.body_elem->ns->href, "http://tunduk.kg/passport");
	c = resp.body_elem->children;
	assert_non_null(c);
	assert_string_equal((const char *)c->name, "name");
	assert_null(c->ns); /* unprefixed inner elements are unqualified */
	assert_non_null(strstr(out.data, "<note>a &amp; b</note>"));
	fault_clear(&f);
	assert_int_equal(soap_check_response(&req, &resp, SAMPLE_HASH, &f), 0);
	assert_false(fault_is_set(&f));
	soap_msg_free(&resp);
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

/* The trusted builder splices the fragment as text: for a fragment with no
 * empty elements the bytes equal the parsing builder's, and the answer
 * parses and checks like it. */
static void test_response_trusted_same_bytes(void **state)
{
	struct soap_msg req, resp;
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct fault f;
	char *x;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, INNER, strlen(INNER), &a), 0);
	assert_int_equal(soap_build_response_trusted(&req, SAMPLE_HASH, INNER, strlen(INNER), &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_null(strstr(b.data, "ailgate-inner"));
	buf_reset(&b);
	assert_int_equal(soap_build_response_trusted(&req, SAMPLE_HASH, "", 0, &b), 0);
	assert_int_equal(soap_parse(b.data, b.len, SOAP_RESPONSE, F_CPROXY, &resp, &f), 0);
	assert_int_equal(soap_check_response(&req, &resp, SAMPLE_HASH, &f), 0);
	assert_null(resp.body_elem->children);
	soap_msg_free(&resp);
	soap_msg_free(&req);
	buf_free(&a);
	buf_free(&b);
	free(x);
}

/* SOAP_RESPONSE_HEAD: headers read and checked, the wrapper kept without its
 * content; malformed content still fails; a Fault is read whole. */
static void test_response_head_only(void **state)
{
	struct soap_msg req, resp;
	struct buf out = BUF_INIT, bad = BUF_INIT, flt = BUF_INIT;
	struct fault f = { 0 }, pf;
	char *x, *cut;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, INNER, strlen(INNER), &out), 0);
	assert_int_equal(soap_parse(out.data, out.len, SOAP_RESPONSE_HEAD, F_CPROXY, &resp, &pf), 0);
	assert_string_equal((const char *)resp.body_elem->name, "passportDataByPSNResponse");
	assert_null(resp.body_elem->children);
	assert_string_equal(resp.request_hash, SAMPLE_HASH);
	assert_int_equal(soap_check_response(&req, &resp, SAMPLE_HASH, &f), 0);
	soap_msg_free(&resp);
	/* content that is not well-formed is refused although no tree is built for it */
	assert_int_equal(buf_append(&bad, out.data, out.len), 0);
	cut = strstr(bad.data, "</name>");
	assert_non_null(cut);
	memcpy(cut, "</nam!>", 7);
	assert_int_equal(soap_parse(bad.data, bad.len, SOAP_RESPONSE_HEAD, F_CPROXY, &resp, &pf), -1);
	assert_string_equal(pf.code, "Server.ClientProxy.InvalidXml");
	/* a fault is read whole */
	fault_set(&f, F_SPROXY, "AccessDenied", "no");
	assert_int_equal(soap_build_fault(&f, "d-1", &flt), 0);
	assert_int_equal(soap_parse(flt.data, flt.len, SOAP_RESPONSE_HEAD, F_CPROXY, &resp, &pf), 0);
	assert_true(resp.is_fault);
	assert_string_equal(resp.fault_code, "Server.ServerProxy.AccessDenied");
	assert_string_equal(resp.fault_detail, "d-1");
	soap_msg_free(&resp);
	soap_msg_free(&req);
	buf_free(&out);
	buf_free(&bad);
	buf_free(&flt);
	free(x);
}

/* The header copies keep order and values: the first 7 header elements of the
 * response are the request's, then requestHash. */
static void test_response_header_order(void **state)
{
	static const char *const order[] = { "client", "service", "id", "userId", "issue",
					     "protocolVersion", "representedParty", "requestHash" };
	struct soap_msg req, resp;
	struct buf out = BUF_INIT;
	char *x;
	size_t len, i = 0;

	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &resp);
	for (xmlNodePtr n = resp.header->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		assert_true(i < 8);
		assert_string_equal((const char *)n->name, order[i++]);
	}
	assert_int_equal(i, 8);
	soap_msg_free(&resp);
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

struct check_case {
	const char *name;
	const char *from, *to; /* applied to the built response */
	const char *req_from;  /* removed from the request the response is checked against */
	const char *hash;      /* expected hash passed to the check */
	const char *msg;
};

static const struct check_case check_cases[] = {
	{ "altered issue", ">case-12<", ">case-13<", NULL, SAMPLE_HASH, "xrd:issue" },
	{ "altered member code", ">70000005<", ">70000006<", NULL, SAMPLE_HASH, "id:memberCode" },
	{ "altered objectType",
	  "id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>central-server</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode><id:subsystemCode>household-register</id:subsystemCode>",
	  "id:objectType=\"MEMBER\"><id:xRoadInstance>central-server</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000050</id:memberCode>",
	  NULL, SAMPLE_HASH, "xrd:client" },
	{ "reordered userId/issue",
	  "<xrd:userId>KG21203199000123</xrd:userId><xrd:issue>case-12</xrd:issue>",
	  "<xrd:issue>case-12</xrd:issue><xrd:userId>KG21203199000123</xrd:userId>", NULL,
	  SAMPLE_HASH, "xrd:issue found where the request had xrd:userId" },
	{ "dropped issue", "<xrd:issue>case-12</xrd:issue>", "", NULL, SAMPLE_HASH,
	  "where the request had xrd:issue" },
	{ "dropped last header", REPR_EL, "", NULL, SAMPLE_HASH,
	  "lacks the request header repr:representedParty" },
	{ "extra X-Road header", NULL, NULL, ISSUE_EL, SAMPLE_HASH,
	  "response header xrd:issue found where the request had xrd:protocolVersion" },
	{ "wrong hash", NULL, NULL, NULL, "AAAA", "does not match" },
	{ "hash missing", NULL, NULL, NULL, SAMPLE_HASH, "no xrd:requestHash" },
	{ "wrong algorithm", "xmlenc#sha512", "xmlenc#sha256", NULL, SAMPLE_HASH, "algorithm" },
};

static void test_check_response_fails(void **state)
{
	struct soap_msg req, resp, built;
	struct buf out = BUF_INIT;
	char *x;
	size_t len;

	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &built);
	soap_msg_free(&built);
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		struct soap_msg *against = &req, req2;
		char *v;
		struct fault f;
		int rc;

		if (strcmp(c->name, "hash missing") == 0) {
			char *s = strstr(out.data, "<xrd:requestHash");
			char *e = strstr(out.data, "</xrd:requestHash>");
			assert_true(s && e);
			v = strdup(out.data);
			memmove(v + (s - out.data), v + (e - out.data) + strlen("</xrd:requestHash>"),
				strlen(e) - strlen("</xrd:requestHash>") + 1);
		} else {
			v = c->from ? replace(out.data, c->from, c->to) : strdup(out.data);
		}
		if (c->req_from) {
			char *r = replace(x, c->req_from, "");
			assert_int_equal(soap_parse(r, strlen(r), SOAP_REQUEST, F_CLIENT, &req2, &f), 0);
			free(r);
			against = &req2;
		}
		fault_clear(&f);
		if (soap_parse(v, strlen(v), SOAP_RESPONSE, F_CPROXY, &resp, &f) != 0)
			fail_msg("case \"%s\": %s %s", c->name, f.code, f.message);
		rc = soap_check_response(against, &resp, c->hash, &f);
		if (rc != -1)
			fail_msg("case \"%s\" passed the check", c->name);
		assert_string_equal(f.code, "Server.ClientProxy.InconsistentResponse");
		if (!strstr(f.message, c->msg))
			fail_msg("case \"%s\": message \"%s\"", c->name, f.message);
		if (against == &req2)
			soap_msg_free(&req2);
		soap_msg_free(&resp);
		free(v);
	}
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

/* Prefix differences and extra foreign headers do not matter. */
static void test_check_response_tolerates(void **state)
{
	struct soap_msg req, resp, built;
	struct buf out = BUF_INIT;
	struct fault f;
	char *x, *v, *w;
	size_t len;

	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &built);
	soap_msg_free(&built);
	v = replace(out.data, "<xrd:issue>case-12</xrd:issue>",
		    "<q:issue xmlns:q=\"http://x-road.eu/xsd/xroad.xsd\">case-12</q:issue>"
		    "<t:trace xmlns:t=\"urn:t\">1</t:trace>");
	w = replace(v, "<xrd:id>", "<xrd:id>  ");
	assert_int_equal(soap_parse(w, strlen(w), SOAP_RESPONSE, F_CPROXY, &resp, &f), 0);
	fault_clear(&f);
	assert_int_equal(soap_check_response(&req, &resp, SAMPLE_HASH, &f), 0);
	soap_msg_free(&resp);
	soap_msg_free(&req);
	buf_free(&out);
	free(v);
	free(w);
	free(x);
}

static void test_response_inner_variants(void **state)
{
	struct soap_msg req, resp;
	struct buf out = BUF_INIT;
	struct fault f;
	char *x;
	size_t len;

	parse_sample(&req, &x, &len);
	/* empty inner */
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, NULL, 0, &out), 0);
	assert_int_equal(soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &resp, &f), 0);
	assert_null(first_element(resp.body_elem->children));
	soap_msg_free(&resp);
	/* not well-formed: refused, out unchanged */
	buf_reset(&out);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, "<a>", 3, &out), -1);
	assert_int_equal(out.len, 0);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, "<a></b>", 7, &out), -1);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, "&undefined;", 11, &out), -1);
	/* a cap too small fails cleanly */
	{
		struct buf small;
		buf_init(&small, 100);
		assert_int_equal(soap_build_response(&req, SAMPLE_HASH, INNER, strlen(INNER), &small), -1);
		buf_free(&small);
	}
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

/* A provider's response without requestHash gets one (and a second call
 * replaces it rather than adding another). */
static void test_set_request_hash(void **state)
{
	const char *prov =
		"<e:Envelope xmlns:e=\"" NS_SOAPENV "\" xmlns:x=\"" NS_XRD "\" xmlns:i=\"" NS_XRDID "\">"
		"<e:Header><x:client i:objectType=\"MEMBER\"><i:xRoadInstance>central-server</i:xRoadInstance>"
		"<i:memberClass>GOV</i:memberClass><i:memberCode>1</i:memberCode></x:client>"
		"<x:service i:objectType=\"SERVICE\"><i:xRoadInstance>central-server</i:xRoadInstance>"
		"<i:memberClass>GOV</i:memberClass><i:memberCode>2</i:memberCode>"
		"<i:subsystemCode>s</i:subsystemCode><i:serviceCode>q</i:serviceCode></x:service>"
		"<x:id>1</x:id><x:protocolVersion>4.0</x:protocolVersion></e:Header>"
		"<e:Body><qResponse/></e:Body></e:Envelope>";
	struct soap_msg m, again;
	struct buf out = BUF_INIT;
	struct fault f;

	assert_int_equal(soap_parse(prov, strlen(prov), SOAP_RESPONSE, F_SPROXY, &m, &f), 0);
	assert_int_equal(soap_set_request_hash(&m, "OLD=", &out), 0);
	buf_reset(&out);
	assert_int_equal(soap_set_request_hash(&m, SAMPLE_HASH, &out), 0);
	assert_string_equal(m.request_hash, SAMPLE_HASH);
	assert_null(strstr(out.data, "OLD="));
	assert_non_null(strstr(out.data, "<x:requestHash algorithmId=\"" XRD_HASH_SHA512 "\">"));
	assert_int_equal(soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &again, &f), 0);
	assert_string_equal(again.request_hash, SAMPLE_HASH);
	assert_string_equal(again.request_hash_alg, XRD_HASH_SHA512);
	soap_msg_free(&again);
	soap_msg_free(&m);
	buf_free(&out);
}

/* ---- faults ------------------------------------------------------------- */

static void test_fault_roundtrip(void **state)
{
	struct fault f, f2;
	struct buf out = BUF_INIT;
	struct soap_msg m;

	fault_set(&f, F_SPROXY, "AccessDenied", "caller <%s> & \"friends\" \xff", "x");
	assert_int_equal(soap_build_fault(&f, "0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11", &out), 0);
	assert_non_null(strstr(out.data, "<faultcode>Server.ServerProxy.AccessDenied</faultcode>"));
	assert_non_null(strstr(out.data, "<faultactor/>"));
	assert_non_null(strstr(out.data,
			       "<detail><faultDetail xmlns=\"\">0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11"));
	assert_int_equal(soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &m, &f2), 0);
	assert_int_equal(m.is_fault, 1);
	assert_string_equal(m.fault_code, "Server.ServerProxy.AccessDenied");
	assert_string_equal(m.fault_string, "caller <x> & \"friends\" ?");
	assert_string_equal(m.fault_detail, "0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11");
	/* faults pass through the response check */
	assert_int_equal(soap_check_response(&m, &m, "x", &f2), 0);
	soap_msg_free(&m);
	/* a fault in a request is refused */
	assert_int_equal(soap_parse(out.data, out.len, SOAP_REQUEST, F_CLIENT, &m, &f2), -1);
	buf_free(&out);
}

static void test_fault_qualified_code(void **state)
{
	size_t len;
	char *x = load("fault.xml", &len);
	struct soap_msg m;
	struct fault f;

	assert_int_equal(soap_parse(x, len, SOAP_RESPONSE, F_CPROXY, &m, &f), 0);
	assert_int_equal(m.is_fault, 1);
	assert_string_equal(m.fault_code, "Server.ServerProxy.AccessDenied");
	assert_non_null(strstr(m.fault_string, "Request is not allowed"));
	assert_string_equal(m.fault_detail, "0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11");
	assert_int_equal(m.client.type, XRD_NONE);
	soap_msg_free(&m);
	free(x);
}

/* ---- requests, params, hashes ------------------------------------------- */

static int collect_param(const char *name, const char *value, void *arg)
{
	struct buf *b = arg;
	return buf_printf(b, "%s=%s;", name, value) < 0;
}

static void test_build_request(void **state)
{
	struct xrd_id client, service;
	char err[128];
	struct buf out = BUF_INIT, params = BUF_INIT;
	struct soap_msg m;
	struct fault f;

	assert_int_equal(xrd_id_parse("SUBSYSTEM:central-server/GOV/70000050/household-register",
				      &client, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN",
				      &service, err, sizeof(err)), 0);
	assert_int_equal(soap_build_request(&client, &service, "id-1", "KG1", "http://tunduk.kg/passport",
					    "<pin>1</pin><extra><x>1</x></extra><empty/>", &out), 0);
	fault_clear(&f);
	if (soap_parse(out.data, out.len, SOAP_REQUEST, F_CLIENT, &m, &f) != 0)
		fail_msg("%s %s", f.code, f.message);
	assert_true(xrd_id_equal(&m.client, &client));
	assert_true(xrd_id_equal(&m.service, &service));
	assert_string_equal(m.id, "id-1");
	assert_string_equal(m.user_id, "KG1");
	soap_body_params(&m, collect_param, &params);
	assert_string_equal(params.data, "pin=1;empty=;");
	soap_msg_free(&m);
	/* no namespace, no user */
	buf_reset(&out);
	assert_int_equal(soap_build_request(&client, &service, "id-2", NULL, NULL, NULL, &out), 0);
	assert_int_equal(soap_parse(out.data, out.len, SOAP_REQUEST, F_CLIENT, &m, &f), 0);
	assert_string_equal(m.user_id, "");
	assert_null(m.body_elem->ns);
	soap_msg_free(&m);
	/* wrong types refused */
	assert_int_equal(soap_build_request(&service, &service, "x", NULL, NULL, NULL, &out), -1);
	assert_int_equal(soap_build_request(&client, &client, "x", NULL, NULL, NULL, &out), -1);
	buf_free(&out);
	buf_free(&params);
}

static void test_body_params_sample(void **state)
{
	struct soap_msg m;
	struct buf params = BUF_INIT;
	char *x;
	size_t len;

	parse_sample(&m, &x, &len);
	soap_body_params(&m, collect_param, &params);
	assert_string_equal(params.data, "pin=21203199000123;");
	soap_msg_free(&m);
	buf_free(&params);
	free(x);
}

static void test_request_hash(void **state)
{
	char h[B64_SHA512_LEN];
	size_t len;
	char *x = load("request.xml", &len);

	/* printf '<a>x</a>' | openssl dgst -sha512 -binary | base64 -w0 */
	assert_int_equal(soap_request_hash("<a>x</a>", 8, h), 0);
	assert_string_equal(h, "mZ4nImPjWMewSpnNhIJscj6TS4kqvu8MGfV2q1cRIlebvDt+Jwimg0gsbIIcaXDcSAUuLQHfBBnlagVED4sqGQ==");
	/* openssl dgst -sha512 -binary tests/data/soap/request.xml | base64 -w0 */
	assert_int_equal(soap_request_hash(x, len, h), 0);
	assert_string_equal(h, SAMPLE_HASH);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sample),
		cmocka_unit_test(test_parse_ok_variants),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_prefix),
		cmocka_unit_test(test_hostile_dtds),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_silent),
		cmocka_unit_test(test_response_roundtrip),
		cmocka_unit_test(test_response_header_order),
		cmocka_unit_test(test_response_trusted_same_bytes),
		cmocka_unit_test(test_response_head_only),
		cmocka_unit_test(test_check_response_fails),
		cmocka_unit_test(test_check_response_tolerates),
		cmocka_unit_test(test_response_inner_variants),
		cmocka_unit_test(test_set_request_hash),
		cmocka_unit_test(test_fault_roundtrip),
		cmocka_unit_test(test_fault_qualified_code),
		cmocka_unit_test(test_build_request),
		cmocka_unit_test(test_body_params_sample),
		cmocka_unit_test(test_request_hash),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
