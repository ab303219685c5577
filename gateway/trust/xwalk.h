/* xwalk: the strict walk over a parsed XML-DSig document, shared by the
 * xmlsec path of the message verifier (sign_verify.c) and the verifier of
 * signed certificate documents (docsign.c).
 *
 * Each step takes the next child, which must be exactly the element expected:
 * its namespace written with our prefix (ds:, xades:, sm:), at most the
 * declaration of its own namespace, exactly the attributes named, and the
 * content asked for. Any other node there - text, comment, PI, another
 * element - is refused, and the first thing found wrong is kept as the
 * reason. The parse that comes first is shared as well (xw_parse). */
#ifndef AILGATE_TRUST_XWALK_H
#define AILGATE_TRUST_XWALK_H

#include <stddef.h>

#include <libxml/tree.h>

enum xw_content {
	XW_EMPTY,   /* no child at all */
	XW_TEXT,    /* one non-empty text node, no longer than max */
	XW_ELEMS,   /* children: walked by the caller */
};

/* Where the first reason goes: why[whylen], starting with lead. */
struct xwalk {
	char *why;
	size_t whylen;
	const char *lead;
};

struct xw_cur {
	xmlNodePtr next;
};

/* Parses a signed document: no network, no entity expansion, no DTD (a
 * DOCTYPE stops the parser at once), libxml2's limits kept; UTF-8 and XML 1.0
 * only (what c14n 1.0 is defined on). what names it in the reasons ("the
 * signature document"). NULL with the reason recorded. */
xmlDocPtr xw_parse(struct xwalk *w, const char *xml, size_t len, const char *what);
/* Records the first reason (lead + text); returns -1. */
int xw_bad(struct xwalk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int xw_ns_is(xmlNodePtr n, const char *ns);
/* The prefix each of our namespaces is written with. */
const char *xw_prefix_of(const char *ns);
/* The value of an attribute as one text node ("" if empty); NULL otherwise. */
const char *xw_attr_value(xmlAttrPtr a);

/* Takes the next child of c: element ns:name with exactly the unqualified
 * attributes anames[0..acount) (values into avals) and content ct (for
 * XW_TEXT the text into *text). NULL with the reason recorded. */
xmlNodePtr xw_take(struct xwalk *w, struct xw_cur *c, const char *ns, const char *name, enum xw_content ct,
		   size_t max, const char **text, const char *const *anames, const char **avals, size_t acount);
#define XW_TAKE(w, c, ns, name, ct, max, text) xw_take(w, c, ns, name, ct, max, text, NULL, NULL, 0)
/* An empty element whose only attribute is Algorithm="alg" (alg NULL: any,
 * returned in *got). */
int xw_take_alg(struct xwalk *w, struct xw_cur *c, const char *ns, const char *name, const char *alg,
		const char **got);
/* c must be at its end: nothing after the last child taken. */
int xw_end_of(struct xwalk *w, struct xw_cur *c, const char *parent);
/* A cursor at n's first child. */
struct xw_cur xw_into(xmlNodePtr n);

#endif
