/* xwalk: the strict walk over a parsed XML-DSig document (xwalk.h). */
#include "trust/xwalk.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "lib/xmlscan.h"
#include "trust/sign_int.h"

int xw_bad(struct xwalk *w, const char *fmt, ...)
{
	va_list ap;
	size_t l;

	if (!w->why[0]) {
		l = (size_t)snprintf(w->why, w->whylen, "%s", w->lead ? w->lead : "");
		if (l < w->whylen) {
			va_start(ap, fmt);
			vsnprintf(w->why + l, w->whylen - l, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	xmlParserCtxtPtr c = ctx;

	*(int *)c->_private = 1;
	xmlStopParser(c);
}

xmlDocPtr xw_parse(struct xwalk *w, const char *xml, size_t len, const char *what)
{
	int dtd = 0;
	xmlParserCtxtPtr c;
	xmlDocPtr doc;
	char why[160];

	if (len >= 2 && ((unsigned char)xml[0] == 0xfe || (unsigned char)xml[0] == 0xff)) {
		xw_bad(w, "%s must be UTF-8 (it starts with a UTF-16 byte-order mark)", what);
		return NULL;
	}
	if (xmlscan_check(xml, len, why, sizeof(why)) < 0) {
		xw_bad(w, "%s refused unparsed: %s", what, why);
		return NULL;
	}
	if (len > INT_MAX || !(c = xmlCreateMemoryParserCtxt(xml, (int)len))) {
		xw_bad(w, "out of memory parsing %s", what);
		return NULL;
	}
	(void)xmlCtxtUseOptions(c, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	c->_private = &dtd;
	c->sax->internalSubset = on_internal_subset;
	(void)xmlParseDocument(c);
	doc = c->myDoc;
	c->myDoc = NULL;
	if (dtd || (doc && doc->intSubset))
		xw_bad(w, "a DTD (<!DOCTYPE>) is not allowed in %s", what);
	else if (!doc || !c->wellFormed || !c->nsWellFormed)
		xw_bad(w, "%s is not well-formed XML (damaged or cut short?)", what);
	else if (doc->encoding && strcasecmp((const char *)doc->encoding, "UTF-8") != 0)
		xw_bad(w, "%s must be UTF-8, not %s", what, (const char *)doc->encoding);
	else if (doc->version && strcmp((const char *)doc->version, "1.0") != 0)
		xw_bad(w, "%s must be XML 1.0", what);
	xmlFreeParserCtxt(c);
	if (w->why[0]) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

int xw_ns_is(xmlNodePtr n, const char *ns)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

/* Fixing the prefix keeps the canonical form of an accepted document equal
 * to the bytes the signer writes. */
const char *xw_prefix_of(const char *ns)
{
	return !strcmp(ns, SIG_NS) ? "sm" : !strcmp(ns, SIG_NS_DS) ? "ds" : "xades";
}

const char *xw_attr_value(xmlAttrPtr a)
{
	if (!a->children)
		return "";
	if (a->children->type != XML_TEXT_NODE || a->children->next)
		return NULL;
	return (const char *)a->children->content;
}

static int attrs_exact(struct xwalk *w, xmlNodePtr n, const char *const *names, const char **vals,
		       size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		vals[i] = NULL;
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		for (i = 0; i < count; i++)
			if (strcmp((const char *)a->name, names[i]) == 0)
				break;
		if (a->ns || i == count || vals[i] || !(vals[i] = xw_attr_value(a)))
			return xw_bad(w, "unexpected attribute %s on <%s>", (const char *)a->name,
				      (const char *)n->name);
	}
	for (i = 0; i < count; i++)
		if (!vals[i])
			return xw_bad(w, "attribute %s missing on <%s>", names[i], (const char *)n->name);
	return 0;
}

static int content_ok(struct xwalk *w, xmlNodePtr n, enum xw_content ct, size_t max, const char **text)
{
	xmlNodePtr k = n->children;

	if (ct == XW_ELEMS)
		return 0;
	if (ct == XW_EMPTY)
		return k ? xw_bad(w, "<%s> must be empty", (const char *)n->name) : 0;
	if (!k || k->next || k->type != XML_TEXT_NODE || !k->content || !k->content[0])
		return xw_bad(w, "<%s> must hold exactly one piece of text (no comments, CDATA or elements)",
			      (const char *)n->name);
	if (strlen((const char *)k->content) > max)
		return xw_bad(w, "<%s> is too long", (const char *)n->name);
	*text = (const char *)k->content;
	return 0;
}

xmlNodePtr xw_take(struct xwalk *w, struct xw_cur *c, const char *ns, const char *name, enum xw_content ct,
		   size_t max, const char **text, const char *const *anames, const char **avals, size_t acount)
{
	xmlNodePtr n = c->next;
	xmlNsPtr d;

	if (!n)
		return xw_bad(w, "<%s> missing", name), NULL;
	if (n->type != XML_ELEMENT_NODE || !xw_ns_is(n, ns) || strcmp((const char *)n->name, name))
		return xw_bad(w, "unexpected node where <%s> belongs", name), NULL;
	if (!n->ns->prefix || strcmp((const char *)n->ns->prefix, xw_prefix_of(ns)) != 0)
		return xw_bad(w, "<%s> must be written with the prefix %s:", name, xw_prefix_of(ns)), NULL;
	c->next = n->next;
	/* Only the declaration of its own namespace: any other would be a byte
	 * no digest covers, since exclusive c14n drops what nothing uses. */
	d = n->nsDef;
	if (d && (d->next || d != n->ns))
		return xw_bad(w, "unexpected namespace declaration on <%s>", name), NULL;
	if (attrs_exact(w, n, anames, avals, acount) != 0 || content_ok(w, n, ct, max, text) != 0)
		return NULL;
	return n;
}

int xw_take_alg(struct xwalk *w, struct xw_cur *c, const char *ns, const char *name, const char *alg,
		const char **got)
{
	static const char *const an[] = { "Algorithm" };
	const char *val[1];

	if (!xw_take(w, c, ns, name, XW_EMPTY, 0, NULL, an, val, 1))
		return -1;
	if (alg && strcmp(val[0], alg) != 0)
		return xw_bad(w, "<%s> algorithm %s is not the one allowed here", name, val[0]);
	if (got)
		*got = val[0];
	return 0;
}

int xw_end_of(struct xwalk *w, struct xw_cur *c, const char *parent)
{
	return c->next ? xw_bad(w, "unexpected content at the end of <%s>", parent) : 0;
}

struct xw_cur xw_into(xmlNodePtr n)
{
	struct xw_cur c = { n->children };
	return c;
}
