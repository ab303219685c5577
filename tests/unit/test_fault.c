/* Unit tests for proto/fault: setting faults, status codes, text cleaning,
 * code normalisation (both X-Road spellings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/fault.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void test_set(void **state)
{
	struct fault f;

	fault_clear(&f);
	assert_false(fault_is_set(&f));
	assert_int_equal(fault_set(&f, F_CLIENT, "MissingHeaderField", "%s is missing", "xrd:id"), -1);
	assert_true(fault_is_set(&f));
	assert_string_equal(f.code, "Client.MissingHeaderField");
	assert_string_equal(f.message, "xrd:id is missing");
	assert_int_equal(f.http_status, 400);

	fault_set(&f, F_CPROXY, "NetworkError", "down");
	assert_string_equal(f.code, "Server.ClientProxy.NetworkError");
	assert_int_equal(f.http_status, 500);
	fault_set(&f, F_SPROXY, "ServiceFailed.IOError", "x");
	assert_string_equal(f.code, "Server.ServerProxy.ServiceFailed.IOError");
	assert_int_equal(f.http_status, 500);

	fault_clear(&f);
	assert_false(fault_is_set(&f));
	assert_string_equal(f.message, "");
}

static void test_set_code(void **state)
{
	struct fault f;

	fault_set_code(&f, "Client.InvalidSoap", "bad");
	assert_int_equal(f.http_status, 400);
	fault_set_code(&f, "client.invalid_soap", "bad"); /* as received from a 7.8 peer */
	assert_int_equal(f.http_status, 400);
	assert_string_equal(f.code, "client.invalid_soap");
	fault_set_code(&f, "Server.ServerProxy.AccessDenied", NULL);
	assert_int_equal(f.http_status, 500);
	assert_string_equal(f.message, "");
}

/* Long messages are cut, never overflow, and stay valid UTF-8. */
static void test_truncation(void **state)
{
	char big[FAULT_MSG_MAX * 2];
	struct fault f;

	/* 'é' is two bytes: an odd cut would split one */
	for (size_t i = 0; i + 1 < sizeof(big); i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[sizeof(big) - 1] = '\0';
	fault_set(&f, F_CLIENT, "BadRequest", "%s", big);
	assert_int_equal(strlen(f.message), FAULT_MSG_MAX - 1);
	assert_int_equal((unsigned char)f.message[FAULT_MSG_MAX - 2], '?');
}

struct clean_case {
	const char *in, *out;
};

static const struct clean_case clean_cases[] = {
	{ "plain", "plain" },
	{ "tab\tnl\ncr\r", "tab\tnl\ncr\r" },
	{ "bell\x07 del\x7f", "bell? del?" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "\xe2\x82\xac euro", "\xe2\x82\xac euro" },
	{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	{ "bad \xff byte", "bad ? byte" },
	{ "cut \xc3", "cut ?" },
	{ "overlong \xc0\xaf", "overlong ??" },
	{ "overlong3 \xe0\x80\xaf", "overlong3 ???" },
	{ "surrogate \xed\xa0\x80", "surrogate ???" },
	{ "too big \xf4\x90\x80\x80", "too big ????" },
	{ "lone cont \x80", "lone cont ?" },
	/* U+FFFE, U+FFFF: valid UTF-8 but not XML characters (a fault built
	 * with them was not well-formed: fuzz_soap) */
	{ "nonchar \xef\xbf\xbf \xef\xbf\xbe", "nonchar ??? ???" },
	{ "last BMP \xef\xbf\xbd", "last BMP \xef\xbf\xbd" },
	{ "plane 1 \xf0\x9f\xbf\xbf", "plane 1 \xf0\x9f\xbf\xbf" },
};

static void test_clean_text(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(clean_cases); i++) {
		char s[64];
		snprintf(s, sizeof(s), "%s", clean_cases[i].in);
		fault_clean_text(s);
		assert_string_equal(s, clean_cases[i].out);
	}
}

struct norm_case {
	const char *in, *out; /* out NULL: refused */
};

static const struct norm_case norm_cases[] = {
	{ "Server.ServerProxy.AccessDenied", "Server.ServerProxy.AccessDenied" },
	{ "server.serverproxy.access_denied", "Server.ServerProxy.AccessDenied" },
	{ "SERVER.SERVERPROXY.ACCESS_DENIED", "Server.ServerProxy.AccessDenied" },
	{ "server.clientproxy.ssl_authentication_failed", "Server.ClientProxy.SslAuthenticationFailed" },
	{ "client.invalid_soap", "Client.InvalidSoap" },
	{ "Client.InvalidSoap", "Client.InvalidSoap" },
	{ "client.missing_header_field", "Client.MissingHeaderField" },
	{ "server.serverproxy.service_failed.io_error", "Server.ServerProxy.ServiceFailed.IOError" },
	{ "Server.ServerProxy.ServiceFailed.IOError", "Server.ServerProxy.ServiceFailed.IOError" },
	{ "server.serverproxy.service_failed.missing_body",
	  "Server.ServerProxy.ServiceFailed.MissingBody" },
	{ "server.clientproxy.logging_failed.timestamper_failed",
	  "Server.ClientProxy.LoggingFailed.TimestamperFailed" },
	{ "client.invalid_http_method", "Client.InvalidHttpMethod" },
	{ "server.serverproxy.outdated_global_conf", "Server.ServerProxy.OutdatedGlobalConf" },
	/* unknown parts: snake -> Camel, Camel kept */
	{ "server.serverproxy.some_new_thing", "Server.ServerProxy.SomeNewThing" },
	{ "Server.ServerProxy.SomeNewThing", "Server.ServerProxy.SomeNewThing" },
	{ "client.x", "Client.X" },
	{ "client.__double__underscore_", "Client.DoubleUnderscore" },
	/* refused */
	{ "", NULL },
	{ "client..x", NULL },
	{ ".client", NULL },
	{ "client.", NULL },
	{ "client.invalid soap", NULL },
	{ "client.invalid-soap", NULL },
	{ "client._", NULL },
};

static void test_normalize(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(norm_cases); i++) {
		const struct norm_case *c = &norm_cases[i];
		char out[FAULT_CODE_MAX];
		int rc = fault_code_normalize(c->in, out, sizeof(out));

		if (!c->out) {
			if (rc != -1)
				fail_msg("\"%s\" accepted as \"%s\"", c->in, out);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\" refused", c->in);
		assert_string_equal(out, c->out);
	}
}

static void test_normalize_caps(void **state)
{
	char in[FAULT_CODE_MAX + 8], out[FAULT_CODE_MAX];

	/* too long input */
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(fault_code_normalize(in, out, sizeof(out)), -1);
	assert_int_equal(fault_code_normalize(NULL, out, sizeof(out)), -1);
	/* output buffer too small for the known spelling */
	assert_int_equal(fault_code_normalize("server.serverproxy.access_denied", out, 10), -1);
	assert_int_equal(fault_code_normalize("client.x", out, 9), 0);
	assert_string_equal(out, "Client.X");
	assert_int_equal(fault_code_normalize("client.x", out, 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_code),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_clean_text),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_normalize_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
