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
		cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
