/* xmlscan: see xmlscan.h. */
#include "lib/xmlscan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deeper than this libxml2 refuses the document itself (256 levels without
 * XML_PARSE_HUGE): the scan refuses what it cannot follow. */
#define SCAN_DEPTH 1024
/* Names are counted in documents larger than this: smaller ones cannot hold
 * enough of them to matter (libxml2 2.9's name dictionary stops growing at
 * 16,384 buckets, so a million distinct names cost it 21 s; 50,000, ~50 ms). */
#define NAMES_FROM (256u * 1024)
#define NAMES_SLOTS 32768u   /* > 3 x XMLSCAN_MAX_NAMES: short probes */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte that may start an XML name (any byte of a multi-byte character
 * counts: the scan needs only to tell a PI target from markup). */
static int name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
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

/* The encoding the scan can read: the markup must be ASCII bytes. A
 * UTF-16/32 or EBCDIC document (BOM, NUL bytes or EBCDIC "<?xm" at the
 * start) or a declared encoding that is not ASCII-compatible (UTF-7, EBCDIC
 * code pages, UTF-16) would hide every tag from it while libxml2 decodes
 * them. NULL when readable, else why. */
int xmlscan_declared_encoding(const void *data, size_t len, char *enc, size_t enclen)
{
	const unsigned char *p = data, *decl_end, *e, *q;

	enc[0] = '\0';
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		p += 3, len -= 3;
	if (!starts(p, p + len, "<?xml") || !(decl_end = past(p, p + len, "?>")) || decl_end == p + len)
		return 0;
	if (!(e = memmem(p, (size_t)(decl_end - p), "encoding", 8)))
		return 0;
	for (e += 8; e < decl_end && (is_space(*e) || *e == '='); e++)
		;
	if (e >= decl_end || (*e != '"' && *e != '\''))
		return 0;   /* malformed: libxml2 refuses the declaration */
	q = memchr(e + 1, *e, (size_t)(decl_end - e - 1));
	if (!q)
		return 0;
	snprintf(enc, enclen, "%.*s", (int)(q - e - 1), (const char *)e + 1);
	return 1;
}

static const char *unreadable_encoding(const unsigned char *p, size_t len, char *enc, size_t enclen)
{
	static const char *const names[] = { "UTF-8", "UTF8", "US-ASCII", "ASCII", "LATIN1", "KOI8-R", "KOI8-U" };
	static const char *const families[] = { "ISO-8859-", "ISO8859-", "WINDOWS-125", "CP125" };

	if (len >= 2 && ((p[0] == 0xfe && p[1] == 0xff) || (p[0] == 0xff && p[1] == 0xfe)))
		return "it starts with a UTF-16 byte-order mark; messages must be UTF-8";
	for (size_t i = 0; i < len && i < 4; i++)
		if (p[i] == 0)
			return "it starts with NUL bytes (UTF-16 or UTF-32?); messages must be UTF-8";
	if (len >= 4 && p[0] == 0x4c && p[1] == 0x6f && p[2] == 0xa7 && p[3] == 0x94)
		return "it is EBCDIC; messages must be UTF-8";
	if (!xmlscan_declared_encoding(p, len, enc, enclen))
		return NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(enc, names[i]) == 0)
			return NULL;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strncasecmp(enc, families[i], strlen(families[i])) == 0)
			return NULL;
	return "its declared encoding is not one whose markup is ASCII; messages must be UTF-8";
}

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

/* Distinct element and attribute names, by 64-bit hash (a collision
 * counts two names as one: it can only undercount by a few). */
struct names {
	uint64_t slot[NAMES_SLOTS];
	unsigned n;
};

/* 0, or -1 when this name makes more than XMLSCAN_MAX_NAMES. */
static int name_seen(struct names *t, const unsigned char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	if (!t || !len)
		return 0;
	for (i = 0; i < len; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	h |= 1;
	for (i = (size_t)h & (NAMES_SLOTS - 1); t->slot[i]; i = (i + 1) & (NAMES_SLOTS - 1))
		if (t->slot[i] == h)
			return 0;
	t->slot[i] = h;
	return ++t->n > XMLSCAN_MAX_NAMES ? -1 : 0;
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
	char enc[48] = "";
	const char *bad_enc = unreadable_encoding(start, len, enc, sizeof(enc));
	struct names *names = NULL;
	const unsigned char *tag = start;
	const char *bad = NULL;   /* what is refused, at tag */

	if (bad_enc) {
		snprintf(why, whylen, "%s%s%s%s", bad_enc, enc[0] ? " (declared: " : "", enc, enc[0] ? ")" : "");
		return -1;
	}
	if (len > NAMES_FROM && !(names = calloc(1, sizeof(*names)))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	while (p < end) {
		unsigned attrs = 0, ns = 0;
		int empty = 0;

		if (!(p = memchr(p, '<', (size_t)(end - p))))
			break;
		tag = p++;
		/* What libxml2 skips whole: a comment, a CDATA section, a DOCTYPE,
		 * a processing instruction with a target. Anything else after
		 * "<!" or "<?" it reports and reads on from there, as markup - so
		 * does the scan. */
		if (starts(p, end, "!--")) {
			p = past(p + 3, end, "-->");
			continue;
		}
		if (starts(p, end, "![CDATA[")) {
			p = past(p + 8, end, "]]>");
			continue;
		}
		if (starts(p, end, "!DOCTYPE")) {   /* to its '>', past any [...] */
			const unsigned char *gt = memchr(p, '>', (size_t)(end - p)),
					    *br = memchr(p, '[', (size_t)(end - p));
			p = br && (!gt || br < gt) ? past(past(br, end, "]"), end, ">") : gt ? gt + 1 : end;
			continue;
		}
		if (p < end && (*p == '!' || *p == '?')) {
			if (*p == '?' && p + 1 < end && name_start(p[1])) {
				const unsigned char *target = ++p;   /* its target is a name too */
				while (p < end && !is_space(*p) && *p != '?')
					p++;
				if (name_seen(names, target, (size_t)(p - target)) < 0)
					goto too_many;
				p = past(p, end, "?>");
				continue;
			}
			p++;
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
		if (name_seen(names, tag + 1, (size_t)(p - tag - 1)) < 0)
			goto too_many;
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
			if (++attrs > XMLSCAN_MAX_ATTRS) {
				bad = "an element has more than " XSTR(XMLSCAN_MAX_ATTRS) " attributes "
				      "(namespace declarations included), a limit of this gateway";
				goto out;
			}
			if (name_seen(names, name, (size_t)(p - name)) < 0)
				goto too_many;
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
		if (in_scope + ns > XMLSCAN_MAX_NS) {
			bad = "more than " XSTR(XMLSCAN_MAX_NS) " namespace declarations are in scope, a limit "
			      "of this gateway";
			goto out;
		}
		if (!empty) {
			if (depth == SCAN_DEPTH) {   /* libxml2 itself stops at 256 */
				bad = "nesting depth of elements over " XSTR(SCAN_DEPTH) ", a limit of this gateway";
				goto out;
			}
			ns_of[depth++] = (uint16_t)ns;
			in_scope += ns;
		}
	}
	goto out;
too_many:
	bad = "more than " XSTR(XMLSCAN_MAX_NAMES) " different names (of elements, attributes, processing "
	      "instructions), a limit of this gateway";
out:
	free(names);
	return bad ? refuse(start, tag, why, whylen, bad) : 0;
}
