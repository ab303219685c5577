/* Unit tests for proto/rest: request-target, X-Road-* headers, forwarding
 * filter, request hash (against openssl-computed values), error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "proto/rest.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- targets ------------------------------------------------------------ */

struct target_ok {
	const char *target;
	const char *service; /* xrd_id_format of the result */
	const char *path, *query;
};

static const struct target_ok targets_ok[] = {
	{ "/r1/central-server/GOV/70000005/passport-service/passportDataByPSN",
	  "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN", "", "" },
	{ "/r1/central-server/GOV/70000005/passport-service/passportDataByPSN/21203199000123?lang=ru&x=%20",
	  "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN",
	  "/21203199000123", "lang=ru&x=%20" },
	{ "/r1/central-server/GOV/70000005/passport-service/family-members/",
	  "SERVICE:central-server/GOV/70000005/passport-service/family-members", "/", "" },
	{ "/r1/central-server/GOV/70000005/passport-service/x?",
	  "SERVICE:central-server/GOV/70000005/passport-service/x", "", "" },
	/* each part percent-decoded on its own; the rest stays encoded */
	{ "/r1/central%2Dserver/G%4fV/700%30/sub/svc/a%2Fb",
	  "SERVICE:central-server/GOV/7000/sub/svc", "/a%2Fb", "" },
	{ "/r1/I/C/M/S/svc?q=/r1/x", "SERVICE:I/C/M/S/svc", "", "q=/r1/x" },
	/* every allowed character */
	{ "/r1/AZaz09'()+,-.=%3F/C/M/S/svc", "SERVICE:AZaz09'()+,-.=?/C/M/S/svc", "", "" },
	/* three dots, or dots inside a segment, are no dot segment */
	{ "/r1/I/C/M/S/svc/.../a..b/.x?p=..", "SERVICE:I/C/M/S/svc", "/.../a..b/.x", "p=.." },
	/* metaservices parse like any service */
	{ "/r1/central-server/GOV/70000005/passport-service/listMethods",
	  "SERVICE:central-server/GOV/70000005/passport-service/listMethods", "", "" },
	{ "/r1/central-server/GOV/70000005/passport-service/getOpenAPI?serviceCode=x",
	  "SERVICE:central-server/GOV/70000005/passport-service/getOpenAPI", "", "serviceCode=x" },
};

static void test_target_ok(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(targets_ok); i++) {
		const struct target_ok *c = &targets_ok[i];
		struct rest_req r;
		struct fault f;
		char t[XRD_ID_TEXT_MAX];

		fault_clear(&f);
		if (rest_parse_target(c->target, &r, &f) != 0)
			fail_msg("%s: %s %s", c->target, f.code, f.message);
		assert_int_equal(r.service.type, XRD_SERVICE);
		assert_string_equal(xrd_id_format(&r.service, t, sizeof(t)), c->service);
		assert_string_equal(r.service.service_version, "");
		assert_string_equal(r.path, c->path);
		assert_string_equal(r.query, c->query);
	}
}

struct target_bad {
	const char *target;
	const char *code, *msg;
};

static const struct target_bad targets_bad[] = {
	{ "/", "Client.BadRequest", "expected /r1/{instance}/{class}/{member}/{subsystem}/{serviceCode}" },
	{ "/r2/a/b/c/d/e", "Client.BadRequest", "expected /r1/" },
	{ "r1/a/b/c/d/e", "Client.BadRequest", "expected /r1/" },
	{ "/r1", "Client.BadRequest", "expected /r1/" },
	{ "/r1/", "Client.BadRequest", "instance is missing" },
	{ "/r1/central-server", "Client.BadRequest", "member class is missing" },
	{ "/r1/central-server/GOV", "Client.BadRequest", "member code is missing" },
	{ "/r1/central-server/GOV/70000005", "Client.BadRequest", "subsystem code is missing" },
	{ "/r1/central-server/GOV/70000005/passport-service", "Client.BadRequest",
	  "service code is missing: expected /r1/{instance}/{class}/{member}/{subsystem}/{serviceCode}" },
	{ "/r1/central-server/GOV/70000005/passport-service/", "Client.BadRequest",
	  "service code is missing" },
	{ "/r1/central-server/GOV/70000005/passport-service?x=1", "Client.BadRequest",
	  "service code is missing" },
	{ "/r1/central-server//70000005/s/svc", "Client.BadRequest", "member class is empty" },
	{ "/r1/a/b/c/d/e%", "Client.BadRequest", "service code has a bad percent-escape" },
	{ "/r1/a/b/c/d/e%4", "Client.BadRequest", "percent-escape" },
	{ "/r1/a/b/c/d/e%zz", "Client.BadRequest", "percent-escape" },
	{ "/r1/a/b%00/c/d/e", "Client.BadRequest", "member class has a bad percent-escape" },
	{ "/r1/a/b/c/d%2Fx/e", "Client.InvalidServiceIdentifier", "subsystem code" },
	{ "/r1/a/b/c%20d/s/e", "Client.InvalidServiceIdentifier", "member code" },
	{ "/r1/a/b/c/s/e*", "Client.InvalidServiceIdentifier", "service code" },
	{ "/r1/a/b/c/s/%C3%A9", "Client.InvalidServiceIdentifier", "service code" },
	{ "/r1/a/b/c/s/e\"x", "Client.InvalidServiceIdentifier", "service code" },
	{ "/r1/a/b/c/s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "Client.BadRequest", "too long" },
	/* dot segments: resolved on the way, they made signed and sent paths differ */
	{ "/r1/a/b/c/s/e/LBD-0009/../LBD-0001", "Client.BadRequest", "a '..' segment" },
	{ "/r1/a/b/c/s/e/./LBD-0001", "Client.BadRequest", "a '.' segment" },
	{ "/r1/a/b/c/s/e/%2E%2e/x", "Client.BadRequest", "a '%2E%2e' segment" },
	{ "/r1/a/b/c/s/e/.%2e", "Client.BadRequest", "a '.%2e' segment" },
	{ "/r1/a/b/../s/e/x", "Client.BadRequest", "a '..' segment" },
};

static void test_target_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(targets_bad); i++) {
		const struct target_bad *c = &targets_bad[i];
		struct rest_req r;
		struct fault f;

		fault_clear(&f);
		if (rest_parse_target(c->target, &r, &f) != -1)
			fail_msg("%s was accepted", c->target);
		if (strcmp(f.code, c->code) != 0 || !strstr(f.message, c->msg))
			fail_msg("%s: got %s \"%s\"", c->target, f.code, f.message);
		assert_int_equal(f.http_status, 400);
		assert_int_equal(r.service.type, XRD_NONE);
	}
}

static void test_target_too_long(void **state)
{
	static char t[REST_TARGET_MAX + 10];
	struct rest_req r;
	struct fault f;

	memset(t, 'a', sizeof(t) - 1);
	memcpy(t, "/r1/a/b/c/d/e/", 14);
	t[sizeof(t) - 1] = '\0';
	assert_int_equal(rest_parse_target(t, &r, &f), -1);
	assert_non_null(strstr(f.message, "longer than"));
	/* just under the cap is fine and the path is kept whole */
	t[REST_TARGET_MAX - 1] = '\0';
	assert_int_equal(rest_parse_target(t, &r, &f), 0);
	assert_int_equal(strlen(r.path), REST_TARGET_MAX - 1 - 13);
}

/* ---- percent-decoding --------------------------------------------------- */

struct pct_case {
	const char *in;
	long want;        /* -1 = refused */
	const char *out;
};

static const struct pct_case pct_cases[] = {
	{ "abc", 3, "abc" }, { "%41%62c", 3, "Abc" }, { "%2f%2F", 2, "//" }, { "a+b", 3, "a+b" },
	{ "", 0, "" },       { "%", -1, NULL },       { "%4", -1, NULL },    { "%g1", -1, NULL },
	{ "%00", -1, NULL }, { "a%", -1, NULL },      { "%C3%A9", 2, "\xc3\xa9" },
};

static void test_pct_decode(void **state)
{
	char out[16];

	for (size_t i = 0; i < ARRAY_LEN(pct_cases); i++) {
		const struct pct_case *c = &pct_cases[i];
		long n = rest_pct_decode(c->in, strlen(c->in), out, sizeof(out));
		assert_int_equal(n, c->want);
		if (n >= 0)
			assert_string_equal(out, c->out);
	}
	/* cap counts the NUL */
	assert_int_equal(rest_pct_decode("abcd", 4, out, 4), -1);
	assert_int_equal(rest_pct_decode("abc", 3, out, 4), 3);
	/* len bounds the input, not a NUL */
	assert_int_equal(rest_pct_decode("ab%41", 3, out, sizeof(out)), -1);
	assert_int_equal(rest_pct_decode("abcdef", 2, out, sizeof(out)), 2);
	assert_string_equal(out, "ab");
}

/* ---- headers ------------------------------------------------------------ */

static void test_headers_full(void **state)
{
	const struct http_hdr h[] = {
		{ "Host", "gw" },
		{ "x-road-client", "central-server/GOV/70000050/household-register" },
		{ "X-Road-Id", "4894e35d-bf0f-44a6-867a-8e51f1daa7e0" },
		{ "X-ROAD-USERID", "KG21203199000123" },
		{ "X-Road-Issue", "case-12" },
		{ "X-Road-Represented-Party", "COM/60000001" },
		{ "X-Road-Something-Else", "ignored" },
	};
	struct rest_req r;
	struct fault f;
	char t[XRD_ID_TEXT_MAX];

	fault_clear(&f);
	assert_int_equal(rest_parse_headers(h, ARRAY_LEN(h), &r, &f), 0);
	assert_string_equal(xrd_id_format(&r.client, t, sizeof(t)),
			    "SUBSYSTEM:central-server/GOV/70000050/household-register");
	assert_string_equal(r.id, "4894e35d-bf0f-44a6-867a-8e51f1daa7e0");
	assert_string_equal(r.user_id, "KG21203199000123");
	assert_string_equal(r.issue, "case-12");
	assert_int_equal(r.has_represented_party, 1);
	assert_string_equal(r.party_class, "COM");
	assert_string_equal(r.party_code, "60000001");
}

static void test_headers_minimal(void **state)
{
	const struct http_hdr h[] = { { "X-Road-Client", "central-server/GOV/70000050" },
				      { "X-Road-Represented-Party", "60000001" } };
	struct rest_req r;
	struct fault f;

	memset(&r, 0x55, sizeof(r)); /* stale values must be cleared */
	assert_int_equal(rest_parse_headers(h, ARRAY_LEN(h), &r, &f), 0);
	assert_int_equal(r.client.type, XRD_MEMBER);
	assert_string_equal(r.client.member_code, "70000050");
	assert_string_equal(r.id, "");
	assert_string_equal(r.user_id, "");
	assert_string_equal(r.issue, "");
	assert_int_equal(r.has_represented_party, 1);
	assert_string_equal(r.party_class, "");
	assert_string_equal(r.party_code, "60000001");
}

struct hdr_bad {
	const char *name;
	struct http_hdr h[3];
	size_t n;
	const char *code, *msg;
};

#define CL { "X-Road-Client", "central-server/GOV/70000050/household-register" }

static const struct hdr_bad hdr_bad[] = {
	{ "no client", { { "X-Road-Id", "1" } }, 1, "Client.MissingHeaderField", "X-Road-Client" },
	{ "no headers", { { NULL, NULL } }, 0, "Client.MissingHeaderField", "X-Road-Client" },
	{ "duplicate client", { CL, { "x-road-client", "a/b/c" } }, 2,
	  "Client.DuplicateHeaderField", "X-Road-Client" },
	{ "duplicate id", { CL, { "X-Road-Id", "1" }, { "X-Road-Id", "1" } }, 3,
	  "Client.DuplicateHeaderField", "X-Road-Id" },
	{ "duplicate party", { { "X-Road-Represented-Party", "1" }, CL, { "X-Road-Represented-Party", "1" } },
	  3, "Client.DuplicateHeaderField", "X-Road-Represented-Party" },
	{ "client with 2 parts", { { "X-Road-Client", "central-server/GOV" } }, 1,
	  "Client.InvalidClientIdentifier", "member code is missing" },
	{ "client with 5 parts", { { "X-Road-Client", "a/b/c/d/e" } }, 1,
	  "Client.InvalidClientIdentifier", "too many parts" },
	{ "client with type prefix", { { "X-Road-Client", "SUBSYSTEM:a/b/c/d" } }, 1,
	  "Client.InvalidClientIdentifier", "instance" },
	{ "client bad char", { { "X-Road-Client", "a/b c/d" } }, 1,
	  "Client.InvalidClientIdentifier", "member class" },
	{ "party too many parts", { CL, { "X-Road-Represented-Party", "COM/1/2" } }, 2,
	  "Client.BadRequest", "X-Road-Represented-Party" },
	{ "party empty class", { CL, { "X-Road-Represented-Party", "/1" } }, 2, "Client.BadRequest",
	  "X-Road-Represented-Party" },
	{ "party empty", { CL, { "X-Road-Represented-Party", "" } }, 2, "Client.BadRequest",
	  "X-Road-Represented-Party" },
	{ "party bad char", { CL, { "X-Road-Represented-Party", "COM/6 1" } }, 2, "Client.BadRequest",
	  "X-Road-Represented-Party" },
};

static void test_headers_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(hdr_bad); i++) {
		const struct hdr_bad *c = &hdr_bad[i];
		struct rest_req r;
		struct fault f;

		fault_clear(&f);
		if (rest_parse_headers(c->h, c->n, &r, &f) != -1)
			fail_msg("case \"%s\" was accepted", c->name);
		if (strcmp(f.code, c->code) != 0 || !strstr(f.message, c->msg))
			fail_msg("case \"%s\": got %s \"%s\"", c->name, f.code, f.message);
		assert_int_equal(f.http_status, 400);
	}
}

static void test_header_too_long(void **state)
{
	char v[REST_FIELD_MAX + 1];
	struct http_hdr h[] = { CL, { "X-Road-UserId", v } };
	struct rest_req r;
	struct fault f;

	memset(v, 'K', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	assert_int_equal(rest_parse_headers(h, 2, &r, &f), -1);
	assert_string_equal(f.code, "Client.BadRequest");
	v[REST_FIELD_MAX - 1] = '\0';
	assert_int_equal(rest_parse_headers(h, 2, &r, &f), 0);
	assert_int_equal(strlen(r.user_id), REST_FIELD_MAX - 1);
}

/* ---- forwarding filter -------------------------------------------------- */

struct fwd_case {
	const char *name, *connection;
	int want;
};

static const struct fwd_case fwd_cases[] = {
	{ "Connection", NULL, 0 },        { "keep-alive", NULL, 0 },
	{ "Proxy-Authorization", NULL, 0 }, { "Proxy-Authenticate", NULL, 0 },
	{ "proxy-connection", NULL, 0 },  { "TE", NULL, 0 },
	{ "Trailer", NULL, 0 },           { "Transfer-Encoding", NULL, 0 },
	{ "Upgrade", NULL, 0 },           { "Host", NULL, 0 },
	{ "user-agent", NULL, 0 },        { "Server", NULL, 0 },
	{ "Content-Length", NULL, 0 },    { "Content-Type", NULL, 1 },
	{ "Accept", NULL, 1 },            { "X-Road-Client", NULL, 1 },
	{ "Authorization", NULL, 1 },     { "Proxy", NULL, 1 },
	/* headers named in Connection are hop-by-hop too */
	{ "X-Trace", "close, X-Trace", 0 }, { "x-trace", "keep-alive,X-TRACE ", 0 },
	{ "X-Trace", " x-trace\t", 0 },    { "X-Trace", "X-Trace-Id", 1 },
	{ "X-Trace-Id", "X-Trace", 1 },   { "Accept", "close", 1 },
	{ "Accept", "", 1 },              { "Accept", ",,", 1 },
};

static void test_forwarded(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(fwd_cases); i++) {
		const struct fwd_case *c = &fwd_cases[i];
		if (rest_header_forwarded(c->name, c->connection) != c->want)
			fail_msg("%s (Connection: %s): expected %d", c->name,
				 c->connection ? c->connection : "-", c->want);
	}
}

/* ---- request hash ------------------------------------------------------- */

static void test_request_hash_no_body(void **state)
{
	/* Headers out of the canonical order, mixed case, plus ones not hashed. */
	const struct http_hdr h[] = {
		{ "User-Agent", "curl/7.88" },
		{ "X-Road-UserId", "KG21203199000123" },
		{ "X-ROAD-CLIENT", "central-server/GOV/70000050/household-register" },
		{ "Accept", "application/json" },
		{ "x-road-id", "4894e35d-bf0f-44a6-867a-8e51f1daa7e0" },
	};
	const char *target =
		"/r1/central-server/GOV/70000005/passport-service/passportDataByPSN/21203199000123?lang=ru";
	char out[B64_SHA512_LEN];

	/* printf 'GET /r1/central-server/GOV/70000005/passport-service/passportDataByPSN/21203199000123?lang=ru\n
	 * x-road-client: central-server/GOV/70000050/household-register\n
	 * x-road-id: 4894e35d-bf0f-44a6-867a-8e51f1daa7e0\nx-road-userid: KG21203199000123\n' \
	 *   | openssl dgst -sha512 -binary | openssl dgst -sha512 -binary | base64 -w0
	 * (one printf argument; split here for width) */
	assert_int_equal(rest_request_hash("GET", target, h, ARRAY_LEN(h), NULL, 0, out), 0);
	assert_string_equal(out, "E/7juDMN5qPKvwfGrXN29/LfHD5c+gbAQ5rcGnvTMHAVrCTzPM2yfH3pYwVvJFpTNrktyTbQl1JiiLj/tlaPFw==");
	assert_int_equal(strlen(out), B64_SHA512_LEN - 1);
}

static void test_request_hash_body(void **state)
{
	const struct http_hdr h[] = {
		{ "Content-Type", "application/json" },
		{ "X-Road-Represented-Party", "COM/60000001" },
		{ "X-Road-Client", "central-server/GOV/70000050/household-register" },
		{ "X-Road-Issue", "case-12" },
		{ "Content-Type", "text/plain" }, /* only the first value counts */
	};
	const char *body = "{\"pin\":\"21203199000123\"}";
	char out[B64_SHA512_LEN], other[B64_SHA512_LEN];

	/* ( printf 'POST /r1/central-server/GOV/70000005/passport-service/updateAddress\n
	 *   x-road-client: central-server/GOV/70000050/household-register\nx-road-issue: case-12\n
	 *   x-road-represented-party: COM/60000001\ncontent-type: application/json\n' \
	 *     | openssl dgst -sha512 -binary;
	 *   printf '{"pin":"21203199000123"}' | openssl dgst -sha512 -binary ) \
	 *   | openssl dgst -sha512 -binary | base64 -w0 */
	assert_int_equal(rest_request_hash("POST",
					   "/r1/central-server/GOV/70000005/passport-service/updateAddress",
					   h, ARRAY_LEN(h), body, strlen(body), out), 0);
	assert_string_equal(out, "6yFtDPCNkiZ/PSY5eJqzQJwy5e/5pS5MSUpTPp75f/swJZT9BxT9o1ZuqGxVPDTKuDQUoDqElhOhbq86Uufn9Q==");
	/* one changed body byte changes the hash */
	assert_int_equal(rest_request_hash("POST",
					   "/r1/central-server/GOV/70000005/passport-service/updateAddress",
					   h, ARRAY_LEN(h), "{\"pin\":\"21203199000124\"}", strlen(body), other), 0);
	assert_string_not_equal(out, other);
}

/* ---- error bodies ------------------------------------------------------- */

static void test_error_json(void **state)
{
	struct fault f;
	struct buf out = BUF_INIT;
	const char *ct = NULL;
	json_error_t jerr;
	json_t *j;

	fault_set(&f, F_SPROXY, "NetworkError", "cannot reach \"%s\"\n\\ \x01 \xc3", "provider");
	assert_int_equal(rest_build_error(&f, "0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11", 0, &out, &ct), 0);
	assert_string_equal(ct, "application/json");
	j = json_loadb(out.data, out.len, 0, &jerr);
	if (!j)
		fail_msg("not JSON: %s: %s", jerr.text, out.data);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
			    "Server.ServerProxy.NetworkError");
	assert_string_equal(json_string_value(json_object_get(j, "message")),
			    "cannot reach \"provider\"\n\\ ? ?");
	assert_string_equal(json_string_value(json_object_get(j, "detail")),
			    "0f8a1a63-8f7e-4c55-9a0e-2b1f4f2d3c11");
	assert_int_equal(json_object_size(j), 3);
	json_decref(j);
	buf_free(&out);
}

static void test_error_xml(void **state)
{
	struct fault f;
	struct buf out = BUF_INIT;
	const char *ct = NULL;

	fault_set(&f, F_CLIENT, "BadRequest", "a <b> & c");
	assert_int_equal(rest_build_error(&f, NULL, 1, &out, &ct), 0);
	assert_string_equal(ct, "application/xml");
	assert_string_equal(out.data,
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>Client.BadRequest"
			    "</type><message>a &lt;b&gt; &amp; c</message><detail></detail></error>\n");
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_ok),
		cmocka_unit_test(test_target_bad),
		cmocka_unit_test(test_target_too_long),
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_headers_full),
		cmocka_unit_test(test_headers_minimal),
		cmocka_unit_test(test_headers_bad),
		cmocka_unit_test(test_header_too_long),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_request_hash_no_body),
		cmocka_unit_test(test_request_hash_body),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_error_xml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
