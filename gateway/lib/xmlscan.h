/* xmlscan: refuses, before libxml2 sees them, the XML shapes whose parse
 * costs libxml2 2.9 time quadratic in their size: an element with very many
 * attributes (each is checked against every earlier one) and very many
 * namespace declarations in scope (each prefixed name walks all of them),
 * very many different names (libxml2's name dictionary stops growing), and
 * what the scan cannot read (markup that is not ASCII bytes: UTF-16, EBCDIC,
 * UTF-7 - an element of 80,000 attributes in IBM037 took 11 s). A
 * 900-KB request of one element with 80,000 attributes held a gateway's event
 * loop for 10 s; 1 MB of nested declarations and undeclared prefixes, 3.5 s.
 * Real messages carry a handful of each.
 *
 * The scan is one pass over the bytes and errs on the side of counting too
 * much: a '<' ends a tag or a quoted value for it (libxml2 stops there too),
 * anything that looks like name= counts as an attribute. */
#ifndef AILGATE_LIB_XMLSCAN_H
#define AILGATE_LIB_XMLSCAN_H

#include <stddef.h>

#define XMLSCAN_MAX_ATTRS 256   /* attributes of one element, namespace declarations included */
#define XMLSCAN_MAX_NS 256      /* namespace declarations in scope at once */
#define XMLSCAN_MAX_NAMES 10000  /* different element and attribute names (documents over 256 KB) */

/* 0 when data[0..len) has no such shape; -1 with why ("line N: ...") when it
 * has. */
int xmlscan_check(const void *data, size_t len, char *why, size_t whylen);

/* 1 with enc (NUL-terminated, cut to enclen) when data starts (after a UTF-8
 * byte order mark) with an XML declaration that names an encoding; else 0. */
int xmlscan_declared_encoding(const void *data, size_t len, char *enc, size_t enclen);

#endif
