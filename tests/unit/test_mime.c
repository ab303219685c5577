/* Unit tests for proto/mime: Content-Type parameters and finding the SOAP
 * part of multipart/related bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "proto/mime.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Content-Type ------------------------------------------------------- */

struct type_case {
	const char *in;
	int ok;
	const char *type, *boundary, *start, *root_type;
};

static const struct type_case type_cases[] = {
	{ "multipart/related; type=\"text/xml\"; boundary=\"----=_Part_1_2.3\"; start=\"<rootpart@soapui.org>\"",
	  1, "multipart/related", "----=_Part_1_2.3", "<rootpart@soapui.org>", "text/xml" },
	{ "Multipart/Related;boundary=abc;START=<x@y>", 1, "multipart/related", "abc", "<x@y>", "" },
	{ "multipart/related ; boundary = abc ;", 1, "multipart/related", "abc", "", "" },
	{ "text/xml; charset=UTF-8", 1, "text/xml", "", "", "" },
	{ "multipart/related; boundary=\"a\\\"b\"", 1, "multipart/related", "a\"b", "", "" },
	{ "multipart/related; foo=bar; boundary=x", 1, "multipart/related", "x", "", "" },
	{ "", 0, NULL, NULL, NULL, NULL },
	{ "textxml", 0, NULL, NULL, NULL, NULL },
	{ "multipart/related; boundary", 0, NULL, NULL, NULL, NULL },
	{ "multipart/related; boundary=", 0, NULL, NULL, NULL, NULL },
	{ "multipart/related; boundary=\"abc", 0, NULL, NULL, NULL, NULL },
	{ "multipart/related; boundary=a b", 0, NULL, NULL, NULL, NULL },
	{ "multipart/related; =x", 0, NULL, NULL, NULL, NULL },
	/* 71-character boundary: longer than RFC 2046 allows */
	{ "multipart/related; boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  0, NULL, NULL, NULL, NULL },
};

static void test_parse_type(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(type_cases); i++) {
		const struct type_case *c = &type_cases[i];
		struct mime_type t;
		int rc = mime_parse_type(c->in, &t);

		if ((rc == 0) != c->ok)
			fail_msg("\"%s\": rc %d", c->in, rc);
		if (!c->ok)
			continue;
		assert_string_equal(t.type, c->type);
		assert_string_equal(t.boundary, c->boundary);
		assert_string_equal(t.start, c->start);
		assert_string_equal(t.root_type, c->root_type);
	}
}

static void test_is_multipart(void **state)
{
	assert_true(mime_is_multipart("multipart/related; boundary=x"));
	assert_true(mime_is_multipart("  Multipart/Related"));
	assert_false(mime_is_multipart("multipart/relatedx"));
	assert_false(mime_is_multipart("text/xml"));
	assert_false(mime_is_multipart(NULL));
}

/* ---- bodies ------------------------------------------------------------- */

#define SOAP "<SOAP-ENV:Envelope/>"
#define CT "multipart/related; type=\"text/xml\"; boundary=\"MIMEBoundary\""

struct body_case {
	const char *name;
	const char *ct;
	const char *body;
	const char *want;        /* expected SOAP part content; NULL = fails */
	const char *msg;         /* substring of the fault message */
	const char *content_id;  /* expected, when want */
};

static const struct body_case body_cases[] = {
	{ "first part, CRLF", CT,
	  "--MIMEBoundary\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <soap@x>\r\n\r\n" SOAP
	  "\r\n--MIMEBoundary\r\nContent-Type: application/octet-stream\r\n\r\nBINARY\r\n--MIMEBoundary--\r\n",
	  SOAP, NULL, "soap@x" },
	{ "bare LF, preamble and epilogue", CT,
	  "preamble text\n--MIMEBoundary\nContent-Type: text/xml\n\n" SOAP "\n--MIMEBoundary--\nepilogue",
	  SOAP, NULL, "" },
	{ "content keeps inner line ends", CT,
	  "--MIMEBoundary\r\n\r\n<a>\r\n</a>\r\n\r\n--MIMEBoundary--", "<a>\r\n</a>\r\n", NULL, "" },
	{ "start names the second part",
	  "multipart/related; boundary=MIMEBoundary; start=\"<root@x>\"",
	  "--MIMEBoundary\r\nContent-ID: <att@x>\r\nContent-Type: image/png\r\n\r\nPNG\r\n"
	  "--MIMEBoundary\r\nContent-ID: <root@x>\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n\r\n" SOAP
	  "\r\n--MIMEBoundary--",
	  SOAP, NULL, "root@x" },
	{ "folded header and padding after boundary", CT,
	  "--MIMEBoundary  \t\r\nContent-Type: text/xml;\r\n charset=UTF-8\r\ncontent-id:<r>\r\n\r\n" SOAP
	  "\r\n--MIMEBoundary--",
	  SOAP, NULL, "r" },
	{ "binary transfer encoding", CT,
	  "--MIMEBoundary\r\nContent-Transfer-Encoding: binary\r\n\r\n" SOAP "\r\n--MIMEBoundary--",
	  SOAP, NULL, "" },
	/* failures */
	{ "not multipart", "text/xml", SOAP, NULL, "not multipart/related", NULL },
	{ "no boundary parameter", "multipart/related", SOAP, NULL, "not multipart/related", NULL },
	{ "boundary absent", CT, "--Other\r\n\r\n" SOAP "\r\n--Other--", NULL, "boundary not found", NULL },
	{ "unterminated", CT, "--MIMEBoundary\r\n\r\n" SOAP, NULL, "part 1 is not terminated", NULL },
	{ "no blank line", CT, "--MIMEBoundary\r\nContent-Type: text/xml\r\n--MIMEBoundary--", NULL,
	  "no blank line", NULL },
	{ "only close delimiter", CT, "--MIMEBoundary--\r\n", NULL, "no parts", NULL },
	{ "start not found", "multipart/related; boundary=MIMEBoundary; start=\"<nope>\"",
	  "--MIMEBoundary\r\nContent-ID: <a>\r\n\r\nx\r\n--MIMEBoundary--", NULL, "<nope>", NULL },
	{ "wrong root type", CT,
	  "--MIMEBoundary\r\nContent-Type: image/png\r\n\r\nx\r\n--MIMEBoundary--", NULL, "image/png", NULL },
	{ "base64 root", CT,
	  "--MIMEBoundary\r\nContent-Transfer-Encoding: base64\r\n\r\nPGEvPg==\r\n--MIMEBoundary--", NULL,
	  "base64", NULL },
	{ "junk after boundary", CT, "--MIMEBoundaryX\r\n\r\nx\r\n--MIMEBoundary--", NULL,
	  "not followed by a line end", NULL },
	{ "empty body", CT, "", NULL, "boundary not found", NULL },
	/* found by fuzzing: an empty part right after the boundary line */
	{ "empty part", CT, "--MIMEBoundary\n\n--MIMEBoundary--", NULL, "no blank line", NULL },
	{ "empty part CRLF", CT, "--MIMEBoundary\r\n\r\n--MIMEBoundary--", NULL, "no blank line", NULL },
};

static void test_soap_part(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(body_cases); i++) {
		const struct body_case *c = &body_cases[i];
		struct mime_part p;
		struct fault f;
		int rc;

		fault_clear(&f);
		rc = mime_soap_part(c->ct, c->body, strlen(c->body), F_CLIENT, &p, &f);
		if (c->want) {
			if (rc != 0)
				fail_msg("case \"%s\": %s", c->name, f.message);
			assert_int_equal(p.len, strlen(c->want));
			assert_memory_equal(p.data, c->want, p.len);
			assert_string_equal(p.content_id, c->content_id);
			assert_true(p.data >= c->body && p.data + p.len <= c->body + strlen(c->body));
		} else {
			if (rc != -1)
				fail_msg("case \"%s\" accepted", c->name);
			assert_string_equal(f.code, "Client.MimeParsingFailed");
			if (!strstr(f.message, c->msg))
				fail_msg("case \"%s\": message \"%s\"", c->name, f.message);
			assert_null(p.data);
		}
	}
}

/* The body is not NUL-terminated: nothing past len is read. */
static void test_exact_length(void **state)
{
	const char *full = "--MIMEBoundary\r\n\r\n" SOAP "\r\n--MIMEBoundary--";
	char body[128];
	struct mime_part p;
	struct fault f;
	size_t n = strlen(full);

	memcpy(body, full, n);
	memset(body + n, 'Z', sizeof(body) - n);
	assert_int_equal(mime_soap_part(CT, body, n, F_CPROXY, &p, &f), 0);
	assert_int_equal(p.len, strlen(SOAP));
	/* cut before the closing delimiter: refused, with the caller's prefix */
	assert_int_equal(mime_soap_part(CT, body, n - 20, F_CPROXY, &p, &f), -1);
	assert_string_equal(f.code, "Server.ClientProxy.MimeParsingFailed");
}

static void test_many_parts_capped(void **state)
{
	struct buf b = BUF_INIT;
	struct mime_part p;
	struct fault f;

	for (int i = 0; i < MIME_MAX_PARTS + 5; i++)
		assert_int_equal(buf_puts(&b, "--MIMEBoundary\r\nContent-ID: <x>\r\n\r\nx\r\n"), 0);
	assert_int_equal(buf_puts(&b, "--MIMEBoundary--"), 0);
	assert_int_equal(mime_soap_part("multipart/related; boundary=MIMEBoundary; start=\"<root>\"",
					b.data, b.len, F_CLIENT, &p, &f), -1);
	assert_non_null(strstr(f.message, "<root>"));
	buf_free(&b);
}

/* Accept weights (listClients chooses JSON or XML by them). */
static void test_accept_q(void **state)
{
	(void)state;
	assert_int_equal(mime_accept_q(NULL, "application/json"), 1000);
	assert_int_equal(mime_accept_q("", "application/json"), 1000);
	assert_int_equal(mime_accept_q("application/json", "application/json"), 1000);
	assert_int_equal(mime_accept_q("application/json", "application/xml"), 0);
	assert_int_equal(mime_accept_q("application/json;q=0, application/xml", "application/json"), 0);
	assert_int_equal(mime_accept_q("application/json;q=0, application/xml", "application/xml"), 1000);
	assert_int_equal(mime_accept_q("text/*;q=0.3, */*;q=0.1, text/xml;q=0.7", "text/xml"), 700);
	assert_int_equal(mime_accept_q("text/*;q=0.3, */*;q=0.1, text/xml;q=0.7", "text/plain"), 300);
	assert_int_equal(mime_accept_q("text/*;q=0.3, */*;q=0.1, text/xml;q=0.7", "application/json"), 100);
	assert_int_equal(mime_accept_q("Application/JSON ; charset=utf-8 ; Q=0.25", "application/json"), 250);
	assert_int_equal(mime_accept_q("application/json;q=2", "application/json"), 0);      /* malformed */
	assert_int_equal(mime_accept_q("application/json;q=1.5", "application/json"), 0);
	assert_int_equal(mime_accept_q("application/json;q=0.12345", "application/json"), 0);
	assert_int_equal(mime_accept_q("application/jsonx", "application/json"), 0);
	assert_int_equal(mime_accept_q(",,application/json;q=0.5,", "application/json"), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_q),
		cmocka_unit_test(test_parse_type),
		cmocka_unit_test(test_is_multipart),
		cmocka_unit_test(test_soap_part),
		cmocka_unit_test(test_exact_length),
		cmocka_unit_test(test_many_parts_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
