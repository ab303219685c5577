/* Private to soap.c and soap_build.c: small libxml2 tree helpers and what
 * the two response checks share. Not part of the module's interface;
 * nothing else includes this. */
#ifndef AILGATE_PROTO_SOAP_INT_H
#define AILGATE_PROTO_SOAP_INT_H

#include <libxml/tree.h>
#include <stddef.h>

#include "proto/fault.h"

#define LEAF_NOT_TEXT (-1)
#define LEAF_TOO_LONG (-2)

/* 1 if n is an element named local in namespace ns (ns NULL: no namespace). */
int soap_is_el(const xmlNode *n, const char *ns, const char *local);
/* Namespace URI of n, "" if none. */
const char *soap_ns_of(const xmlNode *n);
/* First element at or after n among its siblings / the next element sibling. */
xmlNodePtr soap_first_el(xmlNodePtr n);
xmlNodePtr soap_next_el(xmlNodePtr n);
/* "xrd:client"-style name of n for messages (known namespaces get their
 * usual prefix whatever the sender used). Returns out. */
const char *soap_label(const xmlNode *n, char *out, size_t outlen);
/* The same for the element {ns}name (ns "" for none). */
const char *soap_label_of(const char *ns, const char *name, char *out, size_t outlen);
/* Trimmed text of a leaf element into out (cap bytes with NUL): 0,
 * LEAF_NOT_TEXT (element children) or LEAF_TOO_LONG (unless truncate). */
int soap_leaf_text(const xmlNode *n, char *out, size_t cap, int truncate);
/* Value of attribute {ns}name (ns NULL: unqualified), or NULL; borrowed. */
const char *soap_attr(const xmlNode *n, const char *ns, const char *name);

/* Shared by the two response checks (the tree one in soap_build.c, the
 * one-pass one in soap.c). 1 if ns is an X-Road namespace (xrd or repr). */
int soap_is_xroad_ns(const char *ns);
/* n, or the first element sibling after it, that is not xrd:requestHash. */
xmlNodePtr soap_next_compared(xmlNodePtr n);
/* The requestHash rules: present, algorithm sha512 if named, equal to
 * expected_b64. 0, or -1 with f set (InconsistentResponse). */
int soap_check_hash(const char *hash, const char *alg, const char *expected_b64,
		    struct fault *f);

#endif
