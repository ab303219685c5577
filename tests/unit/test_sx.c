/* Unit tests for core/sx's framing between gateways: sx_split takes the
 * signature document and the OCSP responses from in front of a body by the
 * lengths X-Ailgate-Signed gives, and refuses every header that is not
 * exactly two decimals fitting the body and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/sx.h"
#include "trust/ocsp.h"
#include "trust/sign.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char WIRE[] = "<sm:SignedMessage/>" "b64a,b64b" "<Envelope/>";

/* An answer of 204 or 304 crosses as 200 with its status in
 * X-Ailgate-Status; nothing else is taken from that header. */
static void test_status(void **state)
{
	struct http_hdr h204[] = { { "Content-Type", "text/plain" }, { SX_HDR_STATUS, "204" } };
	struct http_hdr h304[] = { { SX_HDR_STATUS, "304" } };
	struct http_hdr bad[][1] = { { { SX_HDR_STATUS, "200" } }, { { SX_HDR_STATUS, "500" } },
				    { { SX_HDR_STATUS, "2040" } }, { { SX_HDR_STATUS, "" } },
				    { { SX_HDR_STATUS, " 204" } } };
	struct fault f = { 0 };

	(void)state;
	assert_int_equal(sx_status(404, h204, 1, F_CPROXY, &f), 404);   /* no such header */
	assert_int_equal(sx_status(200, h204, 2, F_CPROXY, &f), 204);
	assert_int_equal(sx_status(200, h304, 1, F_CPROXY, &f), 304);
	assert_int_equal(sx_status(500, h204, 2, F_CPROXY, &f), -1);    /* only under a 200 */
	assert_string_equal(f.code, "Server.ClientProxy.InconsistentResponse");
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		memset(&f, 0, sizeof(f));
		assert_int_equal(sx_status(200, bad[i], 1, F_CPROXY, &f), -1);
		assert_non_null(strstr(f.message, "only 204 or 304"));
	}
}

static void test_split(void **state)
{
	const unsigned char *body = (const unsigned char *)WIRE;
	size_t len = strlen(WIRE);
	struct sx_carried c;
	struct fault f = { 0 };

	(void)state;
	assert_int_equal(sx_split("19 9", &body, &len, &c, F_SPROXY, &f), 0);
	assert_true(c.present);
	assert_int_equal(c.sig_len, 19);
	assert_memory_equal(c.sig, "<sm:SignedMessage/>", 19);
	assert_int_equal(c.ocsp_len, 9);
	assert_memory_equal(c.ocsp, "b64a,b64b", 9);
	assert_int_equal(len, strlen("<Envelope/>"));
	assert_string_equal((const char *)body, "<Envelope/>");   /* still NUL-terminated */
}

static void test_no_ocsp_and_whole_body(void **state)
{
	const unsigned char *body = (const unsigned char *)WIRE;
	size_t len = strlen(WIRE);
	struct sx_carried c;
	struct fault f = { 0 };
	char v[32];

	(void)state;
	snprintf(v, sizeof(v), "%zu 0", len);
	assert_int_equal(sx_split(v, &body, &len, &c, F_CPROXY, &f), 0);
	assert_true(c.present);
	assert_int_equal(c.ocsp_len, 0);
	assert_int_equal(len, 0);
}

static void test_absent(void **state)
{
	const unsigned char *body = (const unsigned char *)WIRE;
	size_t len = strlen(WIRE);
	struct sx_carried c;
	struct fault f = { 0 };

	(void)state;
	assert_int_equal(sx_split(NULL, &body, &len, &c, F_SPROXY, &f), 0);
	assert_false(c.present);
	assert_ptr_equal(body, (const unsigned char *)WIRE);
	assert_int_equal(len, strlen(WIRE));
	assert_false(fault_is_set(&f));
}

static void test_refused(void **state)
{
	char past[32], huge_sig[32], huge_ocsp[32];
	const char *bad[] = {
		"", " ", "19", "19 ", " 19 9", "19 9 ", "19  9", "19\t9", "+19 9", "-1 9", "19 -0",
		"019 9", "19 09", "0 9", "x 9", "19 x", "1e1 9", "19,9", "9999999999 0",
		"19 9\r", past, huge_sig, huge_ocsp,
	};

	(void)state;
	snprintf(past, sizeof(past), "%zu 1", strlen(WIRE));
	snprintf(huge_sig, sizeof(huge_sig), "%d 0", SIG_XML_MAX + 1);
	snprintf(huge_ocsp, sizeof(huge_ocsp), "1 %d", OCSP_HEADER_MAX_LEN + 1);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		static char big[SIG_XML_MAX + OCSP_HEADER_MAX_LEN + 16];
		const unsigned char *body = (const unsigned char *)WIRE;
		size_t len = strlen(WIRE);
		struct sx_carried c;
		struct fault f = { 0 };

		/* The limits are checked even where the body would hold that much. */
		if (bad[i] == huge_sig || bad[i] == huge_ocsp) {
			body = (const unsigned char *)big;
			len = sizeof(big);
		}
		if (sx_split(bad[i], &body, &len, &c, F_SPROXY, &f) != -1)
			fail_msg("header '%s' was accepted", bad[i]);
		assert_string_equal(f.code, "Server.ServerProxy.MalformedSignature");
		assert_non_null(strstr(f.message, "X-Ailgate-Signed"));
		assert_false(c.present);
		assert_int_equal(len, bad[i] == huge_sig || bad[i] == huge_ocsp ? sizeof(big) : strlen(WIRE));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_no_ocsp_and_whole_body),
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
