/* xmlscan: the shapes that make libxml2's parse quadratic are refused, what
 * real messages look like is not, and what hides attributes from a naive
 * scan (a '>' or a '<' in a quoted value) does not hide them from this one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmlscan.h"

/* pre, then n times item with its "%d" (at most one) = 0..n-1, then post. */
static char *repeat(const char *pre, const char *item, int n, const char *post)
{
	struct buf b = BUF_INIT;
	const char *d = strstr(item, "%d");

	assert_int_equal(buf_puts(&b, pre), 0);
	for (int i = 0; i < n; i++) {
		if (d)
			assert_int_equal(buf_append(&b, item, (size_t)(d - item)) || buf_printf(&b, "%d", i) ||
					 buf_puts(&b, d + 2), 0);
		else
			assert_int_equal(buf_puts(&b, item), 0);
	}
	assert_int_equal(buf_puts(&b, post), 0);
	return buf_steal(&b, NULL);
}

static int scan(const char *xml, char *why)
{
	why[0] = '\0';
	return xmlscan_check(xml, strlen(xml), why, 200);
}

static void expect(const char *xml, int want, const char *why_part)
{
	char why[200];
	int rc = scan(xml, why);

	if (rc != want)
		fail_msg("xmlscan_check gave %d (%s), expected %d, for %.120s", rc, why, want, xml);
	if (why_part && !strstr(why, why_part))
		fail_msg("why '%s' lacks '%s'", why, why_part);
}

static void expect_owned(char *xml, int want, const char *why_part)
{
	expect(xml, want, why_part);
	free(xml);
}

static void test_real_messages(void **state)
{
	(void)state;
	expect("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	       "xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\">"
	       "<SOAP-ENV:Header><xrd:client id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>central-server"
	       "</id:xRoadInstance></xrd:client></SOAP-ENV:Header><SOAP-ENV:Body><m:q xmlns:m='urn:x'>"
	       "<v a=\"1&amp;2\" b='x>y'>a=b=c=d</v><!-- c=1 --><![CDATA[ <x a=1> ]]></m:q>"
	       "</SOAP-ENV:Body></SOAP-ENV:Envelope>", 0, NULL);
	expect("", 0, NULL);
	expect("not xml at all = = =", 0, NULL);
}

static void test_attribute_limit(void **state)
{
	(void)state;
	expect_owned(repeat("<a", " a%d=\"1\"", XMLSCAN_MAX_ATTRS, "/>"), 0, NULL);
	expect_owned(repeat("<a", " a%d=\"1\"", XMLSCAN_MAX_ATTRS + 1, "/>"), -1, "more than 256 attributes");
	/* namespace declarations are attributes to libxml2's check too */
	expect_owned(repeat("<a b='1'", " xmlns:p%d='u'", XMLSCAN_MAX_ATTRS, ">"), -1, "attributes");
	/* spaces around '=', single quotes, no space between pairs */
	expect_owned(repeat("<a", " a%d = '1'", XMLSCAN_MAX_ATTRS + 1, ">"), -1, NULL);
	expect_owned(repeat("<a ", "a%d=\"1\"", XMLSCAN_MAX_ATTRS + 1, ">"), -1, NULL);
	/* many elements each with many attributes: the cost is per element */
	expect_owned(repeat("<r>", "<a b0='1' b1='1' b2='1' b3='1' b4='1' b5='1' b6='1' b7='%d'/>", 5000, "</r>"), 0,
		     NULL);
	/* the line of the element is named */
	expect_owned(repeat("<r>\n\n<a", " a%d='1'", 300, "/></r>"), -1, "line 3:");
}

static void test_hidden_attributes(void **state)
{
	(void)state;
	/* a '>' inside a quoted value does not end the tag */
	expect_owned(repeat("<a x=\">\"", " a%d='1'", XMLSCAN_MAX_ATTRS + 1, "/>"), -1, NULL);
	/* a '<' inside a value: libxml2 stops the value there and may read
	 * what follows as markup, so the scan does too */
	expect_owned(repeat("<a x=\"<b", " a%d='1'", XMLSCAN_MAX_ATTRS + 1, "/>\"/>"), -1, NULL);
	/* an unterminated value runs to the end, nothing after it is markup */
	expect_owned(repeat("<a x=\"", " a%d='1'", XMLSCAN_MAX_ATTRS + 1, ""), 0, NULL);
	/* comments, CDATA, processing instructions and DOCTYPE hold no attributes */
	expect_owned(repeat("<r><!--", " a%d='1'", 1000, "--></r>"), 0, NULL);
	expect_owned(repeat("<r><![CDATA[<a", " a%d='1'", 1000, "]]></r>"), 0, NULL);
	expect_owned(repeat("<?pi", " a%d='1'", 1000, "?><r/>"), 0, NULL);
	expect_owned(repeat("<!DOCTYPE r [<!ATTLIST r", " a%d CDATA '1'>", 1000, "]><r/>"), 0, NULL);
	/* ... but a tag after them does */
	expect_owned(repeat("<!-- x --><r", " a%d='1'", XMLSCAN_MAX_ATTRS + 1, "/>"), -1, NULL);
}

static void test_namespaces_in_scope(void **state)
{
	char *a = repeat("", " xmlns:p%d='u'", 200, ""), *b = repeat("", " xmlns:q%d='u'", 200, "");
	char *doc = NULL;
	struct buf x = BUF_INIT;

	(void)state;
	/* 200 + 200 nested: 400 in scope */
	assert_int_equal(buf_printf(&x, "<a%s><b%s><c/></b></a>", a, b), 0);
	doc = buf_steal(&x, NULL);
	expect(doc, -1, "namespace declarations are in scope");
	free(doc);
	/* 200 then 200 as siblings: never more than 200 at once */
	x = (struct buf)BUF_INIT;
	assert_int_equal(buf_printf(&x, "<r><a%s><c/></a><b%s/><d%s></d></r>", a, b, a), 0);
	doc = buf_steal(&x, NULL);
	expect(doc, 0, NULL);
	free(doc);
	/* one declaration on each of 300 nested elements */
	expect_owned(repeat("", "<e%d xmlns:p='u'>", 300, ""), -1, "in scope");
	free(a);
	free(b);
}

/* What the scan cannot read, it refuses: markup that is not ASCII bytes
 * (UTF-16/32, EBCDIC, UTF-7) would hide every tag from it while libxml2
 * decodes them (an 80,000-attribute element in IBM037 took 11 s). */
/* The encoding an XML declaration names (exchange.c: a charset named only
 * by Content-Type is refused with what to do). */
static void test_declared_encoding(void **state)
{
	char enc[16];

	(void)state;
	assert_int_equal(xmlscan_declared_encoding("<?xml version=\"1.0\" encoding='windows-1251'?><r/>", 49,
						   enc, sizeof(enc)), 1);
	assert_string_equal(enc, "windows-1251");
	assert_int_equal(xmlscan_declared_encoding("\xef\xbb\xbf<?xml version=\"1.0\" encoding = \"UTF-8\"?><r/>",
						   47, enc, sizeof(enc)), 1);
	assert_string_equal(enc, "UTF-8");
	assert_int_equal(xmlscan_declared_encoding("<?xml version=\"1.0\"?><r/>", 25, enc, sizeof(enc)), 0);
	assert_string_equal(enc, "");
	assert_int_equal(xmlscan_declared_encoding("<r encoding=\"x\"/>", 17, enc, sizeof(enc)), 0);
	assert_int_equal(xmlscan_declared_encoding("<?xml encoding=\"x", 17, enc, sizeof(enc)), 0);
}

static void test_encodings(void **state)
{
	static const struct { const char *doc; size_t len; int want; } cases[] = {
		{ "\xff\xfe<\0r\0/\0>\0", 10, -1 },                      /* UTF-16LE with BOM */
		{ "\xfe\xff\0<\0r\0/\0>", 10, -1 },                      /* UTF-16BE with BOM */
		{ "<\0r\0/\0>\0", 8, -1 },                                  /* UTF-16LE, no BOM */
		{ "\x4c\x6f\xa7\x94\x93", 5, -1 },                        /* EBCDIC "<?xml" */
		{ "<?xml version=\"1.0\" encoding=\"UTF-7\"?><r/>", 0, -1 },
		{ "<?xml version=\"1.0\" encoding='IBM037'?><r/>", 0, -1 },
		{ "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>", 0, -1 },
		{ "<?xml version=\"1.0\" encoding=\"utf-8\"?><r/>", 0, 0 },
		{ "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>", 0, 0 },
		{ "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>", 0, 0 },
		{ "<?xml version=\"1.0\" encoding = 'windows-1251'?><r/>", 0, 0 },
		{ "<?xml version=\"1.0\"?><r/>", 0, 0 },
		{ "<r/>", 0, 0 },
	};
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].doc);
		int rc = xmlscan_check(cases[i].doc, n, why, sizeof(why));
		if (rc != cases[i].want)
			fail_msg("case %zu: %d (%s), expected %d", i, rc, why, cases[i].want);
		if (rc < 0 && !strstr(why, "UTF-8"))
			fail_msg("case %zu: why '%s' does not say what to send", i, why);
	}
}

/* libxml2 reports a "<!" or "<?" that starts no comment, CDATA, DOCTYPE or
 * processing instruction and reads on from there as markup: so does the
 * scan (it took what followed for one construct and skipped it). */
static void test_broken_constructs(void **state)
{
	(void)state;
	expect_owned(repeat("<r><!x <a", " a%d=''", XMLSCAN_MAX_ATTRS + 1, "/></r>"), -1, "attributes");
	expect_owned(repeat("<r><? <a", " a%d=''", XMLSCAN_MAX_ATTRS + 1, "/> ?></r>"), -1, "attributes");
	expect_owned(repeat("<r><![x <a", " a%d=''", XMLSCAN_MAX_ATTRS + 1, "/></r>"), -1, "attributes");
	expect_owned(repeat("<r><!- <a", " a%d=''", XMLSCAN_MAX_ATTRS + 1, "/></r>"), -1, "attributes");
	/* deeper than the scan keeps count of: refused, not waved through */
	expect_owned(repeat("<r>", "<a ", 1100, "<b/></r>"), -1, "depth");
	expect_owned(repeat("<r>", "<a>", 300, "</r>"), 0, NULL);   /* libxml2's own limit is 256 */
}

/* 300 KB of spaces, then doc (freed here): a document the names are counted in. */
static void expect_padded(char *doc, int want, const char *why_part)
{
	struct buf b = BUF_INIT;

	assert_int_equal(buf_printf(&b, "%*s", 300 * 1024, "") || buf_puts(&b, doc), 0);
	free(doc);
	expect(b.data, want, why_part);
	buf_free(&b);
}

/* libxml2 2.9's name dictionary stops growing: a million different names
 * took it 21 s. Documents over 256 KB may use 10,000 different names. */
static void test_distinct_names(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	/* 20,000 different element names: not counted in 208 KB, refused in 508 KB */
	expect_owned(repeat("<r>", "<e%d/>", 20000, "</r>"), 0, NULL);
	expect_padded(repeat("<r>", "<e%d/>", 20000, "</r>"), -1, "different names");
	/* ... as attribute names spread over elements, as processing-instruction targets */
	expect_padded(repeat("<r>", "<e a%d='1'/>", 12000, "</r>"), -1, "names");
	expect_padded(repeat("<r>", "<?p%d?>", 12000, "</r>"), -1, "names");
	/* the same 50 names 20,000 times over: fine */
	assert_int_equal(buf_puts(&b, "<r>"), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_printf(&b, "<e%d a='1'/>", i % 50), 0);
	assert_int_equal(buf_puts(&b, "</r>"), 0);
	expect_padded(buf_steal(&b, NULL), 0, NULL);
}

/* Every prefix of a document: no read past the end (ASan), a verdict. */
static void test_every_prefix(void **state)
{
	const char *doc = "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY e 'x'>]><r xmlns='u' a=\"1\" b='>'>"
			  "<!-- c --><![CDATA[d]]><s/><t x='<'/></r>";
	char why[200];

	(void)state;
	for (size_t n = 0; n <= strlen(doc); n++) {
		char *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, doc, n);
		assert_int_equal(xmlscan_check(cut, n, why, sizeof(why)), 0);
		free(cut);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_messages),
		cmocka_unit_test(test_attribute_limit),
		cmocka_unit_test(test_hidden_attributes),
		cmocka_unit_test(test_namespaces_in_scope),
		cmocka_unit_test(test_declared_encoding),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_broken_constructs),
		cmocka_unit_test(test_distinct_names),
		cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
