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

/* The value of unqualified attribute name of n ("" if none). */
static const char *soap_attr_value(xmlNodePtr n, const char *name)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (!a->ns && strcmp((const char *)a->name, name) == 0)
			return a->children && a->children->content ? (const char *)a->children->content : "";
	return "";
}

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

/* Both builders write the same bytes (the trusted one only skips the check
 * of the fragment), and the answer parses and checks. */
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

/* ---- the one-pass check of an answer -------------------------------------- */

/* soap_check_answer gives what the tree check gives: soap_parse as a
 * response, then (not a fault) soap_check_response. what names the case. */
static int same_verdict(const struct soap_msg *req, const char *bytes, size_t len, const char *hash,
			const char *what)
{
	struct soap_msg resp;
	struct soap_answer ans;
	struct fault ft, fa;
	int rt, ra, same;

	fault_clear(&ft);
	fault_clear(&fa);
	rt = soap_parse(bytes, len, SOAP_RESPONSE, F_CPROXY, &resp, &ft);
	if (rt == 0 && !resp.is_fault)
		rt = soap_check_response(req, &resp, hash, &ft);
	ra = soap_check_answer(req, bytes, len, hash, &ans, &fa);
	same = rt == ra && strcmp(ft.code, fa.code) == 0 && strcmp(ft.message, fa.message) == 0 &&
	       ft.http_status == fa.http_status &&
	       (rt != 0 || (resp.is_fault == ans.is_fault &&
			    (!ans.is_fault || strcmp(resp.fault_code, ans.fault_code) == 0)));
	if (!same)
		print_error("case \"%s\": tree %d %s \"%s\" fault %d \"%s\"; one pass %d %s \"%s\" "
			    "fault %d \"%s\"\n%.*s\n",
			    what, rt, ft.code, ft.message, rt == 0 && resp.is_fault,
			    rt == 0 ? resp.fault_code : "", ra, fa.code, fa.message, ans.is_fault,
			    ans.fault_code, (int)(len > 3000 ? 3000 : len), bytes);
	soap_msg_free(&resp);
	return same;
}

static void test_check_answer(void **state)
{
	struct soap_msg req;
	struct soap_answer ans;
	struct buf out = BUF_INIT, flt = BUF_INIT;
	struct fault f = { 0 };
	char *x, *bad;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	assert_int_equal(soap_build_response(&req, SAMPLE_HASH, INNER, strlen(INNER), &out), 0);
	assert_int_equal(soap_check_answer(&req, out.data, out.len, SAMPLE_HASH, &ans, &f), 0);
	assert_false(ans.is_fault);
	assert_false(fault_is_set(&f));
	/* another request's hash */
	assert_int_equal(soap_check_answer(&req, out.data, out.len, "AAAA", &ans, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.InconsistentResponse");
	assert_non_null(strstr(f.message, "requestHash does not match"));
	/* content that is not well-formed is refused although nothing is kept of it */
	bad = replace(out.data, "</name>", "</nam!>");
	assert_int_equal(soap_check_answer(&req, bad, strlen(bad), SAMPLE_HASH, &ans, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.InvalidXml");
	free(bad);
	/* a header that differs */
	bad = replace(out.data, ">case-12<", ">case-13<");
	assert_int_equal(soap_check_answer(&req, bad, strlen(bad), SAMPLE_HASH, &ans, &f), -1);
	assert_non_null(strstr(f.message, "differs from the request at xrd:issue"));
	free(bad);
	/* a fault passes, with its code */
	fault_set(&f, F_SPROXY, "AccessDenied", "no");
	assert_int_equal(soap_build_fault(&f, "d-1", &flt), 0);
	assert_int_equal(soap_check_answer(&req, flt.data, flt.len, SAMPLE_HASH, &ans, &f), 0);
	assert_true(ans.is_fault);
	assert_string_equal(ans.fault_code, "Server.ServerProxy.AccessDenied");
	/* a DTD is refused before anything is declared */
	free(x);
	x = load("billion_laughs.xml", &len);
	assert_int_equal(soap_check_answer(&req, x, len, SAMPLE_HASH, &ans, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.InvalidSoap");
	assert_string_equal(f.message, "DTD is not allowed in a SOAP message");
	assert_int_equal(soap_check_answer(&req, "", 0, SAMPLE_HASH, &ans, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.InvalidSoap");
	soap_msg_free(&req);
	buf_free(&out);
	buf_free(&flt);
	free(x);
}

#define FAULT_HEAD "<SOAP-ENV:Body><SOAP-ENV:Fault>"

/* Answers beyond the request's tables: from -> to in the built answer. */
static const struct { const char *name, *from, *to; } answer_cases[] = {
	{ "no Header", "<SOAP-ENV:Header>", "<SOAP-ENV:Headr>" }, /* ill-formed */
	{ "Header dropped", NULL, NULL },                         /* see below */
	{ "empty Body", "<SOAP-ENV:Body>", "<SOAP-ENV:Body/><SOAP-ENV:Bodx>" },
	{ "second Header", "</SOAP-ENV:Header>", "</SOAP-ENV:Header><SOAP-ENV:Header/>" },
	{ "element after Body", "</SOAP-ENV:Body>", "</SOAP-ENV:Body><x/>" },
	{ "root not Envelope", "<SOAP-ENV:Envelope ", "<SOAP-ENV:Envelop " },
	{ "foreign header with attribute", "<xrd:id>", "<t:trace xmlns:t=\"urn:t\" a=\"1\">x</t:trace><xrd:id>" },
	{ "attribute added", "<xrd:id>", "<xrd:id a=\"1\">" },
	{ "xml:lang added", "<xrd:issue>", "<xrd:issue xml:lang=\"ky\">" },
	{ "objectType with &amp;", "id:objectType=\"SUBSYSTEM\"", "id:objectType=\"SUB&amp;SYSTEM\"" },
	{ "objectType long", "id:objectType=\"SUBSYSTEM\"",
	  "id:objectType=\"SUBSYSTEMSUBSYSTEMSUBSYSTEMSUBSYSTEMSUBSYSTEMSUBSYSTEMSUBSYSTEMSUBSYSTEMxx\"" },
	{ "objectType as reference", "id:objectType=\"SUBSYSTEM\"", "id:objectType=\"&#83;UBSYSTEM\"" },
	{ "comment in a leaf", "<xrd:issue>case-12", "<xrd:issue>case<!-- c -->-12" },
	{ "CDATA in a leaf", "<xrd:issue>case-12", "<xrd:issue><![CDATA[case]]>-12" },
	{ "reference in a leaf", "<xrd:issue>case-12", "<xrd:issue>&#99;ase-12" },
	{ "spaces in a leaf", "<xrd:issue>case-12", "<xrd:issue>\n case-12 \t" },
	{ "space inside a leaf", "<xrd:issue>case-12", "<xrd:issue>case -12" },
	{ "element in a leaf", "<xrd:issue>case-12", "<xrd:issue>case<b/>-12" },
	{ "element in a part", "<id:memberClass>GOV", "<id:memberClass>G<b/>OV" },
	{ "text beside parts", "<id:memberClass>GOV</id:memberClass>", "<id:memberClass>GOV</id:memberClass>text" },
	{ "party part missing", "<repr:partyCode>60000001</repr:partyCode>", "" },
	{ "party part foreign", "<repr:partyClass>COM</repr:partyClass>", "<repr:partyClass>COM</repr:partyClass><q/>" },
	{ "hash algorithm empty", "algorithmId=\"" XRD_HASH_SHA512 "\"", "algorithmId=\"\"" },
	{ "hash algorithm long", "algorithmId=\"" XRD_HASH_SHA512 "\"",
	  "algorithmId=\"" XRD_HASH_SHA512 XRD_HASH_SHA512 XRD_HASH_SHA512 XRD_HASH_SHA512 XRD_HASH_SHA512
	  XRD_HASH_SHA512 XRD_HASH_SHA512 "\"" },
	{ "hash qualified algorithm", "algorithmId=", "xrd:algorithmId=" },
	{ "hash with spaces", ">" SAMPLE_HASH "<", "> " SAMPLE_HASH "\n<" },
	{ "hash twice", "</SOAP-ENV:Header>", "<xrd:requestHash>x</xrd:requestHash></SOAP-ENV:Header>" },
	{ "protocolVersion changed", ">4.0<", ">4.1<" },
	{ "id emptied", ">4894e35d-bf0f-44a6-867a-8e51f1daa7e0<", "> <" },
	{ "body is a fault", "<ns1:passportDataByPSNResponse", FAULT_HEAD "<faultcode>a:b.C</faultcode></SOAP-ENV:Fault><x:q xmlns:x=\"urn:x\"/><ns1:passportDataByPSNResponse" },
	{ "fault after the wrapper", "</SOAP-ENV:Body>", "<SOAP-ENV:Fault/></SOAP-ENV:Body>" },
	{ "fault with a broken header", "<SOAP-ENV:Body>",
	  "<xrd:colour/></SOAP-ENV:Header>" FAULT_HEAD "<faultcode>x<b/>y</faultcode><faultcode>p:Q</faultcode>"
	  "</SOAP-ENV:Fault></SOAP-ENV:Body><SOAP-ENV:Bodx>" },
};

/* The one-pass check and the tree check agree on every table entry: the
 * request's own bad cases applied to the answer, check_cases, answer_cases. */
static void test_check_answer_same_verdicts(void **state)
{
	struct soap_msg req, built;
	struct buf out = BUF_INIT;
	char *x;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &built);
	soap_msg_free(&built);
	assert_true(same_verdict(&req, out.data, out.len, SAMPLE_HASH, "as built"));
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *v;
		if (!strstr(out.data, bad_cases[i].from))
			continue;
		v = replace(out.data, bad_cases[i].from, bad_cases[i].to);
		assert_true(same_verdict(&req, v, strlen(v), SAMPLE_HASH, bad_cases[i].name));
		free(v);
	}
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		char *v = check_cases[i].from ? replace(out.data, check_cases[i].from, check_cases[i].to)
					      : strdup(out.data);
		assert_true(same_verdict(&req, v, strlen(v), check_cases[i].hash, check_cases[i].name));
		free(v);
	}
	for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
		char *v, *s, *e;
		if (answer_cases[i].from) {
			v = replace(out.data, answer_cases[i].from, answer_cases[i].to);
			/* the answer's own closing tag of a renamed element */
			if (strstr(answer_cases[i].to, "<SOAP-ENV:Bodx>")) {
				char *w = replace(v, "</SOAP-ENV:Body></SOAP-ENV:Envelope>",
						  "</SOAP-ENV:Bodx></SOAP-ENV:Envelope>");
				free(v);
				v = w;
			}
		} else {
			v = strdup(out.data);
			s = strstr(v, "<SOAP-ENV:Header>");
			e = strstr(v, "</SOAP-ENV:Header>") + strlen("</SOAP-ENV:Header>");
			memmove(s, e, strlen(e) + 1);
		}
		assert_true(same_verdict(&req, v, strlen(v), SAMPLE_HASH, answer_cases[i].name));
		free(v);
	}
	/* the request's own hostile samples */
	{
		static const char *const files[] = { "billion_laughs.xml", "xxe.xml",
						     "xxe_external_subset.xml", "fault.xml" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			size_t n;
			char *d = load(files[i], &n);
			assert_true(same_verdict(&req, d, n, SAMPLE_HASH, files[i]));
			free(d);
		}
	}
	soap_msg_free(&req);
	buf_free(&out);
	free(x);
}

/* The element whose start tag is the first at or after pos in v (no
 * comments or CDATA in it, as in a built answer): [*start, *end), or 0. */
static int element_at(const char *v, size_t n, size_t pos, size_t *start, size_t *end)
{
	int depth = 0;
	size_t i;

	while (pos + 1 < n && !(v[pos] == '<' && v[pos + 1] != '/' && v[pos + 1] != '?' &&
				v[pos + 1] != '!'))
		pos++;
	if (pos + 1 >= n)
		return 0;
	for (i = pos; i < n; i++) {
		const char *gt;
		if (v[i] != '<')
			continue;
		gt = memchr(v + i, '>', n - i);
		if (!gt)
			return 0;
		if (v[i + 1] == '/')
			depth--;
		else if (gt[-1] != '/')
			depth++;
		i = (size_t)(gt - v);
		if (depth == 0) {
			*start = pos;
			*end = i + 1;
			return 1;
		}
	}
	return 0;
}

/* Deterministic random edits of an answer and of a fault - whole elements
 * dropped or repeated, characters of text changed, bytes replaced, cut or
 * repeated - and the one-pass check always agrees with the tree check. */
static void test_check_answer_mutations(void **state)
{
	static const char pool[] = "<>/&;#\"'= :\t\nabxX0-]![CDATA?";
	struct soap_msg req, built;
	struct buf out = BUF_INIT, flt = BUF_INIT;
	struct fault f;
	unsigned long seed = 20260513;
	char *x;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	build_and_parse(&req, &out, &built);
	soap_msg_free(&built);
	fault_set(&f, F_SPROXY, "AccessDenied", "no");
	assert_int_equal(soap_build_fault(&f, "d-1", &flt), 0);
	for (int i = 0; i < 6000; i++) {
		const struct buf *src = i % 5 == 4 ? &flt : &out;
		const char *head_end = strstr(src->data, "</SOAP-ENV:Header>");
		size_t hl = head_end ? (size_t)(head_end - src->data) : src->len;
		char *v = malloc(src->len * 2 + 64), what[64];
		size_t n = src->len, pos, span;
		int edits = 1 + (int)(seed % 3);

		assert_non_null(v);
		memcpy(v, src->data, n);
		for (int e = 0; e < edits; e++) {
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			/* most edits in the Header, where most rules are */
			pos = (seed >> 33) % (seed % 4 && hl < n ? hl : n);
			span = 1 + (seed >> 20) % 12;
			if (pos + span > n)
				span = n - pos;
			switch ((seed >> 40) % 6) {
			case 0:
				v[pos] = pool[(seed >> 45) % (sizeof(pool) - 1)];
				break;
			case 1:
				memmove(v + pos, v + pos + span, n - pos - span);
				n -= span;
				break;
			case 2:
				if (n + span < src->len * 2 + 64) {
					memmove(v + pos + span, v + pos, n - pos);
					n += span;
				}
				break;
			case 3: /* an element dropped */
				if (element_at(v, n, pos, &pos, &span)) {
					memmove(v + pos, v + span, n - span);
					n -= span - pos;
				}
				break;
			case 4: /* an element repeated */
				if (element_at(v, n, pos, &pos, &span) && n + (span - pos) < src->len * 2 + 64) {
					memmove(v + span + (span - pos), v + span, n - span);
					memcpy(v + span, v + pos, span - pos);
					n += span - pos;
				}
				break;
			default: /* a character of text */
				while (pos < n && v[pos] != '>')
					pos++;
				if (pos + 1 < n && v[pos + 1] != '<')
					v[pos + 1] = " x0\t"[(seed >> 45) % 4];
				break;
			}
		}
		snprintf(what, sizeof(what), "mutation %d", i);
		if (!same_verdict(&req, v, n, SAMPLE_HASH, what))
			fail();
		free(v);
	}
	soap_msg_free(&req);
	buf_free(&out);
	buf_free(&flt);
	free(x);
}

/* begin + content + end writes what the whole builder writes. */
static void test_response_halves(void **state)
{
	struct soap_msg req;
	struct buf a = BUF_INIT, b = BUF_INIT;
	char *x;
	size_t len;

	(void)state;
	parse_sample(&req, &x, &len);
	assert_int_equal(soap_build_response_trusted(&req, SAMPLE_HASH, INNER, strlen(INNER), &a), 0);
	assert_int_equal(soap_response_begin(&req, SAMPLE_HASH, &b), 0);
	assert_int_equal(buf_puts(&b, INNER), 0);
	assert_int_equal(soap_response_end(&req, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* the sample's headers as the request wrote them, without the spaces between them */
	assert_non_null(strstr(a.data, "<SOAP-ENV:Header>" CLIENT_EL SERVICE_EL ID_EL USER_EL ISSUE_EL
				       PROTO_EL REPR_EL "<xrd:requestHash algorithmId=\"" XRD_HASH_SHA512
				       "\">" SAMPLE_HASH "</xrd:requestHash></SOAP-ENV:Header>"));
	assert_non_null(strstr(a.data, "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" NS_SOAPENV "\" xmlns:xrd=\""
				       NS_XRD "\" xmlns:id=\"" NS_XRDID "\" xmlns:repr=\"" NS_REPR "\">"));
	assert_non_null(strstr(a.data, "<ns1:passportDataByPSNResponse xmlns:ns1=\"http://tunduk.kg/passport\">"
				       INNER "</ns1:passportDataByPSNResponse></SOAP-ENV:Body>"
				       "</SOAP-ENV:Envelope>\n"));
	/* failures leave out as it was */
	{
		struct buf small;
		buf_init(&small, 300);
		assert_int_equal(buf_puts(&small, "keep"), 0);
		assert_int_equal(soap_response_begin(&req, SAMPLE_HASH, &small), -1);
		assert_string_equal(small.data, "keep");
		buf_free(&small);
	}
	soap_msg_free(&req);
	buf_free(&a);
	buf_free(&b);
	free(x);
}

/* Requests whose headers lean on their context: the copies must mean in
 * the response what they meant in the request (the tree check and the
 * one-pass check both find them equal), whatever the prefixes. */
static const struct { const char *name, *from, *to, *want; } ns_cases[] = {
	{ "default namespace on the Envelope",
	  "<SOAP-ENV:Envelope ", "<SOAP-ENV:Envelope xmlns=\"urn:d\" ",
	  "<xrd:client xmlns=\"urn:d\" id:objectType" },
	{ "foreign header in the default namespace",
	  "<SOAP-ENV:Envelope ", "<SOAP-ENV:Envelope xmlns=\"urn:d\" ",
	  "<trace xmlns=\"urn:d\">t<inner a=\"1\"/></trace>" },
	{ "SOAP-ENV bound otherwise",
	  "xmlns:SOAP-ENV=\"" NS_SOAPENV "\"",
	  "xmlns:s=\"" NS_SOAPENV "\" xmlns:SOAP-ENV=\"urn:other\"",
	  "<SOAP-ENV:trace xmlns:SOAP-ENV=\"urn:other\">" },
	{ "xrd under another prefix, xrd bound otherwise",
	  "xmlns:x=\"" NS_XRD "\"", "xmlns:x=\"" NS_XRD "\" xmlns:xrd=\"urn:notxrd\"",
	  "<x:requestHash algorithmId=" },
	{ "namespaces declared on the Header",
	  "<SOAP-ENV:Header>", "<SOAP-ENV:Header xmlns:h=\"urn:h\"><h:x a=\"1\">v</h:x>",
	  "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" NS_SOAPENV "\" xmlns:h=\"urn:h\" xmlns:xrd=" },
	{ "escapes", ID_EL,
	  ID_EL "<h:t xmlns:h=\"urn:h\" v=\"a&amp;b&quot;c&lt;d&gt;e&#9;f&#10;g&#13;h'\">"
	  "x&amp;y&lt;z&gt;&#13;<![CDATA[<c>&]]><!--note--><?pi data?><?pi2?></h:t>",
	  "v=\"a&amp;b&quot;c&lt;d&gt;e&#9;f&#10;g&#13;h'\">x&amp;y&lt;z&gt;&#13;<![CDATA[<c>&]]>"
	  "<!--note--><?pi data?><?pi2?></h:t>" },
	{ "empty foreign header", ID_EL, ID_EL "<h:t xmlns:h=\"urn:h\"></h:t>", "<h:t xmlns:h=\"urn:h\"/>" },
};

static void test_response_namespaces(void **state)
{
	char *x;
	size_t len;

	(void)state;
	x = load("request.xml", &len);
	for (size_t i = 0; i < sizeof(ns_cases) / sizeof(ns_cases[0]); i++) {
		char *v, *w = NULL;
		struct soap_msg req, resp;
		struct soap_answer ans;
		struct buf out = BUF_INIT;
		struct fault f;

		if (strstr(ns_cases[i].name, "another prefix")) {
			/* every xrd: of the sample becomes x: first */
			char *p;
			v = strdup(x);
			assert_non_null(v);
			while ((p = strstr(v, "xrd:")) || (p = strstr(v, "xmlns:xrd="))) {
				if (p[0] == 'x' && p[1] == 'm')
					p += 6;
				memmove(p + 1, p + 3, strlen(p + 3) + 1);
			}
			w = replace(v, ns_cases[i].from, ns_cases[i].to);
			free(v);
			v = w;
			w = NULL;
		} else {
			v = replace(x, ns_cases[i].from, ns_cases[i].to);
		}
		if (strstr(ns_cases[i].name, "foreign header in"))
			w = replace(v, ID_EL, ID_EL "<trace>t<inner a=\"1\"/></trace>");
		else if (strstr(ns_cases[i].name, "SOAP-ENV bound"))
			w = replace(v, ID_EL, ID_EL "<SOAP-ENV:trace>1</SOAP-ENV:trace>");
		if (w) {
			free(v);
			v = w;
		}
		if (strstr(ns_cases[i].name, "SOAP-ENV bound")) {
			/* the request's envelope under prefix s */
			char *p;
			while ((p = strstr(v, "SOAP-ENV:Envelope")) || (p = strstr(v, "SOAP-ENV:Header")) ||
			       (p = strstr(v, "SOAP-ENV:Body"))) {
				memmove(p + 1, p + 8, strlen(p + 8) + 1);
				p[0] = 's';
			}
		}
		fault_clear(&f);
		if (soap_parse(v, strlen(v), SOAP_REQUEST, F_CLIENT, &req, &f) != 0)
			fail_msg("case \"%s\": request %s %s", ns_cases[i].name, f.code, f.message);
		assert_int_equal(soap_build_response_trusted(&req, SAMPLE_HASH, INNER, strlen(INNER), &out), 0);
		if (!strstr(out.data, ns_cases[i].want))
			fail_msg("case \"%s\": no %s in\n%s", ns_cases[i].name, ns_cases[i].want, out.data);
		if (soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &resp, &f) != 0 ||
		    soap_check_response(&req, &resp, SAMPLE_HASH, &f) != 0)
			fail_msg("case \"%s\": %s %s\n%s", ns_cases[i].name, f.code, f.message, out.data);
		assert_string_equal(resp.request_hash, SAMPLE_HASH);
		if (strstr(ns_cases[i].name, "escapes")) {
			xmlNodePtr t = first_element(resp.header->children);
			while (t && strcmp((const char *)t->name, "t") != 0)
				t = first_element(t->next);
			assert_non_null(t);
			assert_string_equal(soap_attr_value(t, "v"), "a&b\"c<d>e\tf\ng\rh'");
		}
		if (soap_check_answer(&req, out.data, out.len, SAMPLE_HASH, &ans, &f) != 0)
			fail_msg("case \"%s\": one pass %s %s", ns_cases[i].name, f.code, f.message);
		soap_msg_free(&resp);
		soap_msg_free(&req);
		buf_free(&out);
		free(v);
	}
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
		cmocka_unit_test(test_response_halves),
		cmocka_unit_test(test_response_namespaces),
		cmocka_unit_test(test_check_response_fails),
		cmocka_unit_test(test_check_response_tolerates),
		cmocka_unit_test(test_check_answer),
		cmocka_unit_test(test_check_answer_same_verdicts),
		cmocka_unit_test(test_check_answer_mutations),
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
