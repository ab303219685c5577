/* xmlscan: see xmlscan.h. */
#include "lib/xmlscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Deeper than this libxml2 refuses the document itself (256 levels without
 * XML_PARSE_HUGE): the scan stops counting there. */
#define SCAN_DEPTH 1024

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

/* Past the first `what` at or after p, or end. */
static const unsigned char *past(const unsigned char *p, const unsigned char *end, const char *what)
{
	size_t n = strlen(what);

	while (p < end) {
		const unsigned char *q = memchr(p, what[0], (size_t)(end - p));
		if (!q || (size_t)(end - q) < n)
			return end;
		if (memcmp(q, what, n) == 0)
			return q + n;
		p = q + 1;
	}
	return end;
}

static int starts(const unsigned char *p, const unsigned char *end, const char *what)
{
	size_t n = strlen(what);

	return (size_t)(end - p) >= n && memcmp(p, what, n) == 0;
}

static int is_ns_decl(const unsigned char *name, size_t len)
{
	return (len == 5 || (len > 5 && name[5] == ':')) && memcmp(name, "xmlns", 5) == 0;
}

/* why = "line N: " what, N being the line of at. */
static int refuse(const unsigned char *start, const unsigned char *at, char *why, size_t whylen,
		  const char *what)
{
	size_t line = 1;

	for (const unsigned char *p = start; p < at; p++)
		line += *p == '\n';
	snprintf(why, whylen, "line %zu: %s", line, what);
	return -1;
}

#define STR(x) #x
#define XSTR(x) STR(x)

int xmlscan_check(const void *data, size_t len, char *why, size_t whylen)
{
	const unsigned char *start = data, *p = start, *end = start + len;
	uint16_t ns_of[SCAN_DEPTH];
	size_t depth = 0;
	unsigned in_scope = 0;

	while (p < end) {
		const unsigned char *tag;
		unsigned attrs = 0, ns = 0;
		int empty = 0;

		if (!(p = memchr(p, '<', (size_t)(end - p))))
			break;
		tag = p++;
		if (starts(p, end, "!--")) {
			p = past(p + 3, end, "-->");
			continue;
		}
		if (starts(p, end, "![CDATA[")) {
			p = past(p + 8, end, "]]>");
			continue;
		}
		if (p < end && *p == '!') {   /* DOCTYPE and the like: to its '>', past any [...] */
			const unsigned char *gt = memchr(p, '>', (size_t)(end - p)),
					    *br = memchr(p, '[', (size_t)(end - p));
			p = br && (!gt || br < gt) ? past(past(br, end, "]"), end, ">") : gt ? gt + 1 : end;
			continue;
		}
		if (p < end && *p == '?') {
			p = past(p + 1, end, "?>");
			continue;
		}
		if (p < end && *p == '/') {
			if (depth > 0)
				in_scope -= ns_of[--depth];
			while (p < end && *p != '>' && *p != '<')
				p++;
			continue;
		}
		/* A start tag: its name, then name = "value" pairs to '>' or '/>'. */
		while (p < end && !is_space(*p) && *p != '>' && *p != '/' && *p != '<')
			p++;
		for (;;) {
			const unsigned char *name;

			p = skip_space(p, end);
			if (p >= end || *p == '<')
				break;   /* cut short, or a '<' libxml2 also stops at */
			if (*p == '>') {
				p++;
				break;
			}
			if (*p == '/') {
				p++;
				if (p < end && *p == '>') {
					empty = 1;
					p++;
					break;
				}
				continue;
			}
			name = p;
			while (p < end && !is_space(*p) && *p != '=' && *p != '>' && *p != '<' && *p != '/')
				p++;
			if (p == name)
				p++;   /* a stray byte: step over it */
			p = skip_space(p, end);
			if (p >= end || *p != '=')
				continue;
			if (++attrs > XMLSCAN_MAX_ATTRS)
				return refuse(start, tag, why, whylen, "an element has more than "
					      XSTR(XMLSCAN_MAX_ATTRS) " attributes (namespace declarations "
					      "included), a limit of this gateway");
			if (is_ns_decl(name, (size_t)(p - name)))
				ns++;
			p = skip_space(p + 1, end);
			if (p < end && (*p == '"' || *p == '\'')) {
				unsigned char q = *p++;
				while (p < end && *p != q && *p != '<')
					p++;
				if (p < end && *p == q)
					p++;
			}
		}
		if (in_scope + ns > XMLSCAN_MAX_NS)
			return refuse(start, tag, why, whylen, "more than " XSTR(XMLSCAN_MAX_NS)
				      " namespace declarations are in scope, a limit of this gateway");
		if (!empty) {
			if (depth == SCAN_DEPTH)
				break;
			ns_of[depth++] = (uint16_t)ns;
			in_scope += ns;
		}
	}
	return 0;
}
