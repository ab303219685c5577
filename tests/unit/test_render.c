/* render.c: adapter JSON -> SOAP XML (the one fixed rule the WSDLs follow),
 * and REST query strings -> adapter parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/exch.h"

static void xml_case(const char *json, const char *want)
{
	json_error_t e;
	json_t *v = json_loads(json, JSON_ALLOW_NUL, &e);
	struct buf b = BUF_INIT;

	assert_non_null(v);
	assert_int_equal(render_json_to_xml(v, NULL, &b), 0);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
	json_decref(v);
}

static void test_json_to_xml(void **state)
{
	static const struct { const char *json, *xml; } cases[] = {
		{ "{}", "" },
		{ "{\"a\":\"x\"}", "<a>x</a>" },
		{ "{\"a\":1,\"b\":true,\"c\":false}", "<a>1</a><b>true</b><c>false</c>" },
		{ "{\"a\":{\"b\":\"c\"}}", "<a><b>c</b></a>" },
		{ "{\"m\":[{\"n\":\"1\"},{\"n\":\"2\"}]}", "<m><n>1</n></m><m><n>2</n></m>" },
		{ "{\"t\":[\"a\",\"b\"]}", "<t>a</t><t>b</t>" },
		{ "{\"x\":null}",
		  "<x xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/>" },
		{ "{\"s\":\"<&>\\\"'\"}", "<s>&lt;&amp;&gt;&quot;&apos;</s>" },
		{ "{\"name\":\"Өмүрбек Ңң\"}", "<name>Өмүрбек Ңң</name>" },
		/* what XML 1.0 cannot carry becomes U+FFFD (a registry field with
		 * a stray control byte made the signed answer not well-formed) */
		{ "{\"c\":\"a\\u000bb\\u0001\\t\\n\"}", "<c>a\xef\xbf\xbd" "b\xef\xbf\xbd\t\n</c>" },
		{ "{\"u\":\"x\\uffffy\\ufffe\\ufffd\"}", "<u>x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd</u>" },
		/* a NUL in a registry field (sqlreg keeps it, REST answers carry
		 * \u0000): replaced, and what follows it kept - it used to end
		 * the SOAP text there */
		{ "{\"z\":\"a\\u0000b\\u0000\"}", "<z>a\xef\xbf\xbd" "b\xef\xbf\xbd</z>" },
		{ "{\"r\":1.5}", "<r>1.5</r>" },
		/* integers as "%lld" writes them */
		{ "{\"i\":0,\"j\":-7,\"k\":9223372036854775807,\"l\":-9223372036854775808}",
		  "<i>0</i><j>-7</j><k>9223372036854775807</k><l>-9223372036854775808</l>" },
		{ "{\"a\":[{\"b\":null},{\"b\":[1,2]}],\"e\":{}}",
		  "<a><b xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/></a>"
		  "<a><b>1</b><b>2</b></a><e></e>" },
		/* a name longer than the tag buffer */
		{ "{\"n_________1_________2_________3_________4_________5_________6_________7_________8"
		  "_________9_________0_________1_________2_________3_________4_________5\":\"v\"}",
		  "<n_________1_________2_________3_________4_________5_________6_________7_________8"
		  "_________9_________0_________1_________2_________3_________4_________5>v</n_________1"
		  "_________2_________3_________4_________5_________6_________7_________8_________9_____"
		  "____0_________1_________2_________3_________4_________5>" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		xml_case(cases[i].json, cases[i].xml);
}

/* buf_xml_escape on bytes jansson would not hand over: whatever comes in,
 * what goes out is well-formed XML text. */
static void test_xml_escape_bytes(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "bad \xff", "bad \xef\xbf\xbd" },
		{ "cut \xc3", "cut \xef\xbf\xbd" },
		{ "overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd" },
		{ "surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "esc\x1b<", "esc\xef\xbf\xbd&lt;" },
		{ "del \x7f stays", "del \x7f stays" },   /* U+007F is an XML character */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		assert_int_equal(buf_xml_escape(&b, cases[i].in), 0);
		assert_string_equal(b.data, cases[i].out);
		buf_free(&b);
	}
}

static void test_json_to_xml_refuses_bad_names(void **state)
{
	static const char *const bad[] = { "{\"1a\":\"x\"}", "{\"a b\":\"x\"}", "{\"\":\"x\"}", "{\"a<\":1}",
					   "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}" };
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v = json_loads(bad[i], 0, NULL);
		struct buf b = BUF_INIT;
		assert_int_equal(render_json_to_xml(v, NULL, &b), -1);
		buf_free(&b);
		json_decref(v);
	}
}

static void test_query_params(void **state)
{
	json_t *p = json_object();
	(void)state;

	char why[128];

	assert_int_equal(render_query_params("a=1&b=x%20y&c=d+e&flag&e=%D0%B0", p, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(p, "a")), "1");
	assert_string_equal(json_string_value(json_object_get(p, "b")), "x y");
	assert_string_equal(json_string_value(json_object_get(p, "c")), "d e");
	assert_string_equal(json_string_value(json_object_get(p, "flag")), "");
	assert_string_equal(json_string_value(json_object_get(p, "e")), "а");
	assert_int_equal(render_query_params("", p, why, sizeof(why)), 0);
	assert_int_equal(render_query_params("z=%zz", p, why, sizeof(why)), -1);
	assert_int_equal(render_query_params("z=%00", p, why, sizeof(why)), -1);
	/* one value per name: a repeat, or a name already set (a path parameter), is refused */
	assert_int_equal(render_query_params("a=2", p, why, sizeof(why)), -1);
	assert_string_equal(why, "parameter 'a' is given more than once");
	assert_int_equal(render_query_params("q=1&q=2", p, why, sizeof(why)), -1);
	json_decref(p);
}

/* Bytes that are not UTF-8 once percent-decoded are the caller's mistake,
 * named as such (json_string() would refuse them, and the message said "out
 * of memory"); a name or value longer than its buffer is named as too long,
 * not as a bad escape. */
static void test_query_params_bad_bytes(void **state)
{
	static const struct {
		const char *query, *why;
	} bad[] = {
		{ "household_id=%FF", "parameter 'household_id' is not valid UTF-8 after percent-decoding" },
		{ "a=%C0%AE", "parameter 'a' is not valid UTF-8 after percent-decoding" },   /* overlong '.' */
		{ "a=%80", "parameter 'a' is not valid UTF-8 after percent-decoding" },
		{ "a=%ED%A0%80", "parameter 'a' is not valid UTF-8 after percent-decoding" }, /* surrogate */
		{ "a=%F4%90%80%80", "parameter 'a' is not valid UTF-8 after percent-decoding" }, /* > U+10FFFF */
		{ "a=%E2%82", "parameter 'a' is not valid UTF-8 after percent-decoding" },    /* cut short */
		{ "%FF=1", "a query parameter name is not valid UTF-8 after percent-decoding" },
		{ "ok=1&x=%FF", "parameter 'x' is not valid UTF-8 after percent-decoding" },
		{ "a=%zz", "malformed percent-encoding in parameter 'a'" },
	};
	char why[256], q[800];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *p = json_object();
		why[0] = '\0';
		assert_int_equal(render_query_params(bad[i].query, p, why, sizeof(why)), -1);
		assert_string_equal(why, bad[i].why);
		json_decref(p);
	}
	/* UTF-8 of every length, and U+FFFE, U+FFFF (UTF-8 all the same) pass */
	{
		json_t *p = json_object();
		assert_int_equal(render_query_params("a=%C3%A9%E2%82%AC%F0%9F%98%80&b=%EF%BF%BE%EF%BF%BF", p, why,
						     sizeof(why)), 0);
		assert_string_equal(json_string_value(json_object_get(p, "a")), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
		json_decref(p);
	}
	/* a 256-byte name: too long for the name's 255 bytes, escapes are fine */
	memset(q, 'k', 256);
	memcpy(q + 256, "=1", 3);
	{
		json_t *p = json_object();
		assert_int_equal(render_query_params(q, p, why, sizeof(why)), -1);
		assert_string_equal(why, "a query parameter name is longer than 255 bytes after percent-decoding");
		json_decref(p);
	}
	/* 256 escapes decode to 256 bytes: too long too, not "malformed" */
	for (int i = 0; i < 256; i++)
		memcpy(q + 3 * i, "%41", 3);
	memcpy(q + 3 * 256, "=1", 3);
	{
		json_t *p = json_object();
		assert_int_equal(render_query_params(q, p, why, sizeof(why)), -1);
		assert_string_equal(why, "a query parameter name is longer than 255 bytes after percent-decoding");
		json_decref(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_to_xml),
		cmocka_unit_test(test_json_to_xml_refuses_bad_names),
		cmocka_unit_test(test_xml_escape_bytes),
		cmocka_unit_test(test_query_params),
		cmocka_unit_test(test_query_params_bad_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
