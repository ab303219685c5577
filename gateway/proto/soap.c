/* SOAP 1.1 with X-Road 4.0 headers: hardened parsing and header checks.
 *
 * One libxml2 parse per message, then one walk over the Envelope's children,
 * one over the Header's and one over each identifier's: every field is read
 * where it is met. Building and checking responses lives in soap_build.c. */
#include "proto/soap.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/SAX2.h>
#include <libxml/parserInternals.h> /* xmlCreateMemoryParserCtxt */
#include <libxml/xmlerror.h>

#include "proto/soap_int.h"

/* NONET: never fetch anything. No NOENT, DTDLOAD or HUGE: entities stay
 * unexpanded, no external subset is read and libxml2 keeps its depth and
 * size limits. NOERROR/NOWARNING: nothing reaches stderr even when
 * soap_global_init() was not called. A DOCTYPE is refused outright below. */
#define SOAP_PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#if LIBXML_VERSION >= 21200
typedef const xmlError *soap_xml_err;
#else
typedef xmlErrorPtr soap_xml_err;
#endif

/* ---- start-up --------------------------------------------------------- */

static void silent_structured(void *ctx, soap_xml_err e)
{
}

static void silent_generic(void *ctx, const char *msg, ...)
{
}

static pthread_once_t soap_once = PTHREAD_ONCE_INIT;

static void soap_init_once(void)
{
	xmlInitParser();
	/* Defaults for threads created later; libxml2 keeps these per thread. */
	xmlThrDefSetStructuredErrorFunc(NULL, silent_structured);
	xmlThrDefSetGenericErrorFunc(NULL, silent_generic);
}

void soap_global_init(void)
{
	pthread_once(&soap_once, soap_init_once);
	/* And for the calling thread, which may already have its state. */
	xmlSetStructuredErrorFunc(NULL, silent_structured);
	xmlSetGenericErrorFunc(NULL, silent_generic);
}

/* ---- small tree helpers (shared with soap_build.c via soap_int.h) ------ */

int soap_is_el(const xmlNode *n, const char *ns, const char *local)
{
	if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local) != 0)
		return 0;
	if (!ns)
		return n->ns == NULL || n->ns->href == NULL || n->ns->href[0] == '\0';
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

const char *soap_ns_of(const xmlNode *n)
{
	return n->ns && n->ns->href ? (const char *)n->ns->href : "";
}

xmlNodePtr soap_first_el(xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

xmlNodePtr soap_next_el(xmlNodePtr n)
{
	return n ? soap_first_el(n->next) : NULL;
}

/* "xrd:client" style label for messages, whatever prefix the sender used. */
const char *soap_label(const xmlNode *n, char *out, size_t outlen)
{
	const char *ns = soap_ns_of(n), *p;

	if (strcmp(ns, NS_XRD) == 0)
		p = "xrd:";
	else if (strcmp(ns, NS_XRDID) == 0)
		p = "id:";
	else if (strcmp(ns, NS_REPR) == 0)
		p = "repr:";
	else if (strcmp(ns, NS_SOAPENV) == 0)
		p = "SOAP-ENV:";
	else
		p = "";
	if (*p || !*ns)
		snprintf(out, outlen, "%s%s", p, (const char *)n->name);
	else
		snprintf(out, outlen, "{%s}%s", ns, (const char *)n->name);
	return out;
}

static int is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text of a leaf element, without surrounding whitespace. Returns 0,
 * LEAF_NOT_TEXT if n has element children, LEAF_TOO_LONG if it does not fit
 * (unless truncate, which cuts it instead). */
int soap_leaf_text(const xmlNode *n, char *out, size_t cap, int truncate)
{
	size_t o = 0, start = 0;
	int rc = 0;

	for (const xmlNode *c = n->children; c; c = c->next) {
		size_t len;
		if (c->type == XML_ELEMENT_NODE)
			return LEAF_NOT_TEXT;
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		len = strlen((const char *)c->content);
		if (o + len >= cap) {
			rc = LEAF_TOO_LONG;
			len = cap - 1 - o;
		}
		memcpy(out + o, c->content, len);
		o += len;
		if (rc)
			break;
	}
	if (rc && !truncate)
		return rc;
	while (o > 0 && is_xml_space(out[o - 1]))
		o--;
	while (start < o && is_xml_space(out[start]))
		start++;
	memmove(out, out + start, o - start);
	out[o - start] = '\0';
	return 0;
}

/* The value of attribute ns:name (ns NULL: no namespace), or NULL. Attribute
 * values are a single text node here since no DTD (so no entity) exists. */
const char *soap_attr(const xmlNode *n, const char *ns, const char *name)
{
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		const char *ans = a->ns && a->ns->href ? (const char *)a->ns->href : NULL;
		if (strcmp((const char *)a->name, name) != 0)
			continue;
		if ((ns == NULL) != (ans == NULL) || (ns && strcmp(ns, ans) != 0))
			continue;
		if (a->children && a->children->type == XML_TEXT_NODE && a->children->content)
			return (const char *)a->children->content;
		return "";
	}
	return NULL;
}

/* ---- reading the bytes ------------------------------------------------ */

struct parse_state {
	int dtd_seen;
	int have_error;
	int line;
	char msg[200];
	/* SOAP_RESPONSE_HEAD: the content of the Body's first element is
	 * tokenised (so well-formedness is still checked) but no tree is built. */
	int head_only;
	int depth;       /* open elements */
	int in_body;     /* the SOAP Body is open */
	int skip_level;  /* content below this depth is not built (0: none) */
};

static int skipping(const struct parse_state *st)
{
	return st->skip_level && st->depth >= st->skip_level;
}

static void head_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
		       int nb_ns, const xmlChar **ns, int nb_attr, int nb_def, const xmlChar **attrs)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	if (skipping(st)) {
		st->depth++;
		return;
	}
	st->depth++;
	xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_ns, ns, nb_attr, nb_def, attrs);
	if (st->depth == 2 && uri && xmlStrEqual(uri, BAD_CAST NS_SOAPENV) &&
	    xmlStrEqual(localname, BAD_CAST "Body"))
		st->in_body = 1;
	else if (st->depth == 3 && st->in_body &&
		 !(uri && xmlStrEqual(uri, BAD_CAST NS_SOAPENV) && xmlStrEqual(localname, BAD_CAST "Fault")))
		st->skip_level = 3;   /* keep the wrapper, not what it holds */
}

static void head_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	if (st->skip_level && st->depth > st->skip_level) {
		st->depth--;
		return;
	}
	xmlSAX2EndElementNs(ctx, localname, prefix, uri);
	st->depth--;
	if (st->depth < st->skip_level)
		st->skip_level = 0;
	if (st->depth < 2)
		st->in_body = 0;
}

static void head_chars(void *ctx, const xmlChar *ch, int len)
{
	xmlParserCtxtPtr ctxt = ctx;

	if (!skipping(ctxt->_private))
		xmlSAX2Characters(ctx, ch, len);
}

static void head_comment(void *ctx, const xmlChar *value)
{
	xmlParserCtxtPtr ctxt = ctx;

	if (!skipping(ctxt->_private))
		xmlSAX2Comment(ctx, value);
}

static void head_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	xmlParserCtxtPtr ctxt = ctx;

	if (!skipping(ctxt->_private))
		xmlSAX2ProcessingInstruction(ctx, target, data);
}

/* Keeps the first error: later ones are usually consequences of it. */
static void on_parse_error(void *ctx, soap_xml_err e)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt ? ctxt->_private : NULL;
	size_t n;

	if (!st || st->have_error || !e || e->level < XML_ERR_ERROR)
		return;
	st->have_error = 1;
	st->line = e->line;
	snprintf(st->msg, sizeof(st->msg), "%s", e->message ? e->message : "unknown error");
	n = strlen(st->msg);
	while (n > 0 && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
		st->msg[--n] = '\0';
}

/* Called at "<!DOCTYPE", before any of the internal subset is read: stopping
 * here means no entity is ever declared, let alone expanded or fetched. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
			       const xmlChar *sys_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;

	st->dtd_seen = 1;
	xmlStopParser(ctxt);
}

/* Prefix for the gateway's own failures: the client's bytes are read by the
 * client-side gateway, so an out-of-memory there is not the client's fault. */
static const char *own_prefix(const char *prefix)
{
	return strcmp(prefix, F_CLIENT) == 0 ? F_CPROXY : prefix;
}

static xmlDocPtr read_xml(const void *bytes, size_t len, const char *prefix, int head_only,
			  struct fault *f)
{
	struct parse_state st;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	memset(&st, 0, sizeof(st));
	if (len == 0) {
		fault_set(f, prefix, "InvalidSoap", "empty message");
		return NULL;
	}
	if (len > INT_MAX) {
		fault_set(f, prefix, "InvalidSoap", "message too large");
		return NULL;
	}
	ctxt = xmlCreateMemoryParserCtxt(bytes, (int)len);
	if (!ctxt) {
		fault_set(f, own_prefix(prefix), "InternalError", "out of memory parsing SOAP");
		return NULL;
	}
	(void)xmlCtxtUseOptions(ctxt, SOAP_PARSE_OPTS);
	ctxt->_private = &st;
	ctxt->sax->serror = on_parse_error;
	ctxt->sax->internalSubset = on_internal_subset;
	if (head_only) {
		st.head_only = 1;
		ctxt->sax->startElementNs = head_start;
		ctxt->sax->endElementNs = head_end;
		ctxt->sax->characters = head_chars;
		ctxt->sax->ignorableWhitespace = head_chars;
		ctxt->sax->cdataBlock = head_chars;
		ctxt->sax->comment = head_comment;
		ctxt->sax->processingInstruction = head_pi;
	}
	(void)xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (st.dtd_seen || (doc && doc->intSubset)) {
		fault_set(f, prefix, "InvalidSoap", "DTD is not allowed in a SOAP message");
	} else if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		if (st.have_error)
			fault_set(f, prefix, "InvalidXml", "malformed XML at line %d: %s", st.line,
				  st.msg);
		else
			fault_set(f, prefix, "InvalidXml", "malformed XML");
	} else {
		xmlFreeParserCtxt(ctxt);
		return doc;
	}
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return NULL;
}

/* ---- identifiers -------------------------------------------------------- */

static const char *const id_child_names[6] = {
	"xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode",
	"serviceVersion",
};

static char *id_field(struct xrd_id *id, int i)
{
	char *fld[6] = { id->instance, id->member_class, id->member_code,
			 id->subsystem, id->service_code, id->service_version };
	return fld[i];
}

/* Which children each type must have (bit i = id_child_names[i]) and may
 * have. Only subsystems own services (protocol.md), so SERVICE needs one. */
static const unsigned id_required[] = { [XRD_MEMBER] = 0x07, [XRD_SUBSYSTEM] = 0x0f,
					[XRD_SERVICE] = 0x1f };
static const unsigned id_allowed[] = { [XRD_MEMBER] = 0x07, [XRD_SUBSYSTEM] = 0x0f,
				       [XRD_SERVICE] = 0x3f };

static int id_child_index(const xmlNode *c)
{
	if (!soap_is_el(c, NS_XRDID, (const char *)c->name))
		return -1;
	for (int i = 0; i < 6; i++)
		if (strcmp((const char *)c->name, id_child_names[i]) == 0)
			return i;
	return -1;
}

/* Reads the children of xrd:client / xrd:service into out; seen gets a bit
 * per child. Messages name the child. */
static int read_id_children(xmlNodePtr node, struct xrd_id *out, unsigned *seen,
			    const char *prefix, const char *reason, const char *label,
			    struct fault *f)
{
	char name[160];

	for (xmlNodePtr c = soap_first_el(node->children); c; c = soap_next_el(c)) {
		int i = id_child_index(c), rc;
		if (i < 0)
			return fault_set(f, prefix, reason, "unexpected element %s in %s",
					 soap_label(c, name, sizeof(name)), label);
		if (*seen & (1u << i))
			return fault_set(f, prefix, reason, "id:%s appears twice in %s",
					 id_child_names[i], label);
		*seen |= 1u << i;
		rc = soap_leaf_text(c, id_field(out, i), XRD_PART_MAX, 0);
		if (rc == LEAF_NOT_TEXT)
			return fault_set(f, prefix, reason, "id:%s in %s must hold text only",
					 id_child_names[i], label);
		if (rc == LEAF_TOO_LONG || !xrd_part_valid(id_field(out, i)))
			return fault_set(f, prefix, reason,
					 "id:%s in %s is empty, too long or holds a character outside "
					 "A-Z a-z 0-9 ' ( ) + , - . = ?",
					 id_child_names[i], label);
	}
	return 0;
}

/* Reads an identifier header; service selects xrd:service rules. */
static int read_identifier(xmlNodePtr node, int service, struct xrd_id *out, const char *prefix,
			   struct fault *f)
{
	const char *reason = service ? "InvalidServiceIdentifier" : "InvalidClientIdentifier";
	const char *label = service ? "xrd:service" : "xrd:client";
	const char *otype = soap_attr(node, NS_XRDID, "objectType");
	enum xrd_type t = xrd_type_from_name(otype);
	unsigned seen = 0, missing;

	memset(out, 0, sizeof(*out));
	if (!otype)
		return fault_set(f, prefix, reason, "%s has no id:objectType attribute", label);
	if (service ? t != XRD_SERVICE : (t != XRD_MEMBER && t != XRD_SUBSYSTEM))
		return fault_set(f, prefix, reason, "%s has id:objectType \"%.40s\", expected %s",
				 label, otype, service ? "SERVICE" : "MEMBER or SUBSYSTEM");
	if (read_id_children(node, out, &seen, prefix, reason, label, f) < 0)
		return -1;
	missing = id_required[t] & ~seen;
	for (int i = 0; i < 6; i++) {
		if (missing & (1u << i))
			return fault_set(f, prefix, reason, "%s of type %s lacks id:%s", label,
					 xrd_type_name(t), id_child_names[i]);
		if ((seen & ~id_allowed[t]) & (1u << i))
			return fault_set(f, prefix, reason, "%s of type %s must not have id:%s",
					 label, xrd_type_name(t), id_child_names[i]);
	}
	out->type = t;
	return 0;
}

/* ---- headers ------------------------------------------------------------ */

enum hf { HF_CLIENT, HF_SERVICE, HF_ID, HF_USERID, HF_ISSUE, HF_PROTO, HF_HASH, HF_REPR, HF_N };

static const struct {
	const char *ns;
	const char *name;
	const char *label;
} hfields[HF_N] = {
	[HF_CLIENT] = { NS_XRD, "client", "xrd:client" },
	[HF_SERVICE] = { NS_XRD, "service", "xrd:service" },
	[HF_ID] = { NS_XRD, "id", "xrd:id" },
	[HF_USERID] = { NS_XRD, "userId", "xrd:userId" },
	[HF_ISSUE] = { NS_XRD, "issue", "xrd:issue" },
	[HF_PROTO] = { NS_XRD, "protocolVersion", "xrd:protocolVersion" },
	[HF_HASH] = { NS_XRD, "requestHash", "xrd:requestHash" },
	[HF_REPR] = { NS_REPR, "representedParty", "repr:representedParty" },
};

/* HF_* of a header element, HF_N for a foreign (tolerated) one, -1 for an
 * unknown element in the xrd or repr namespace (refused). */
static int header_kind(const xmlNode *n)
{
	const char *ns = soap_ns_of(n);

	if (strcmp(ns, NS_XRD) != 0 && strcmp(ns, NS_REPR) != 0)
		return HF_N;
	for (int i = 0; i < HF_N; i++)
		if (strcmp(ns, hfields[i].ns) == 0 && strcmp((const char *)n->name, hfields[i].name) == 0)
			return i;
	return -1;
}

static int read_leaf(xmlNodePtr n, int k, char *out, size_t cap, const char *prefix,
		     struct fault *f)
{
	int rc = soap_leaf_text(n, out, cap, 0);

	if (rc == LEAF_NOT_TEXT)
		return fault_set(f, prefix, "InvalidSoap", "%s must hold text only", hfields[k].label);
	if (rc == LEAF_TOO_LONG)
		return fault_set(f, prefix, "InvalidSoap", "%s is longer than %d bytes",
				 hfields[k].label, (int)cap - 1);
	return 0;
}

static int read_party(xmlNodePtr n, struct soap_msg *m, const char *prefix, struct fault *f)
{
	char name[160];
	int have_code = 0, have_class = 0;

	for (xmlNodePtr c = soap_first_el(n->children); c; c = soap_next_el(c)) {
		int is_class = soap_is_el(c, NS_REPR, "partyClass");
		char *dst = is_class ? m->party_class : m->party_code;
		int *have = is_class ? &have_class : &have_code;
		if (!is_class && !soap_is_el(c, NS_REPR, "partyCode"))
			return fault_set(f, prefix, "InvalidSoap",
					 "unexpected element %s in repr:representedParty",
					 soap_label(c, name, sizeof(name)));
		if (*have)
			return fault_set(f, prefix, "DuplicateHeaderField",
					 "repr:%s appears twice in repr:representedParty",
					 (const char *)c->name);
		*have = 1;
		if (soap_leaf_text(c, dst, XRD_PART_MAX, 0) != 0 || !xrd_part_valid(dst))
			return fault_set(f, prefix, "InvalidSoap",
					 "repr:%s is empty, too long or holds a character outside "
					 "A-Z a-z 0-9 ' ( ) + , - . = ?",
					 (const char *)c->name);
	}
	if (!have_code)
		return fault_set(f, prefix, "MissingHeaderField",
				 "repr:representedParty lacks repr:partyCode");
	m->has_represented_party = 1;
	return 0;
}

/* Reads one known header k into m. */
static int read_header(xmlNodePtr n, int k, struct soap_msg *m, const char *prefix,
		       struct fault *f)
{
	const char *alg;

	switch (k) {
	case HF_CLIENT: return read_identifier(n, 0, &m->client, prefix, f);
	case HF_SERVICE: return read_identifier(n, 1, &m->service, prefix, f);
	case HF_ID: return read_leaf(n, k, m->id, sizeof(m->id), prefix, f);
	case HF_USERID: return read_leaf(n, k, m->user_id, sizeof(m->user_id), prefix, f);
	case HF_ISSUE: return read_leaf(n, k, m->issue, sizeof(m->issue), prefix, f);
	case HF_PROTO:
		return read_leaf(n, k, m->protocol_version, sizeof(m->protocol_version), prefix, f);
	case HF_HASH:
		alg = soap_attr(n, NULL, "algorithmId");
		snprintf(m->request_hash_alg, sizeof(m->request_hash_alg), "%s", alg ? alg : "");
		return read_leaf(n, k, m->request_hash, sizeof(m->request_hash), prefix, f);
	default: return read_party(n, m, prefix, f);
	}
}

/* One walk over the Header: known xrd/repr headers are read (each at most
 * once), unknown ones in those namespaces refused, foreign ones tolerated
 * (they are still echoed in responses). *seen gets a bit per HF_*. */
static int read_headers(struct soap_msg *m, unsigned *seen, const char *prefix, struct fault *f)
{
	char name[160];

	*seen = 0;
	if (!m->header)
		return 0;
	for (xmlNodePtr n = soap_first_el(m->header->children); n; n = soap_next_el(n)) {
		int k = header_kind(n);
		if (k == HF_N)
			continue;
		if (k < 0)
			return fault_set(f, prefix, "InvalidSoap", "unknown X-Road header %s",
					 soap_label(n, name, sizeof(name)));
		if (*seen & (1u << k))
			return fault_set(f, prefix, "DuplicateHeaderField", "%s appears more than once",
					 hfields[k].label);
		*seen |= 1u << k;
		if (read_header(n, k, m, prefix, f) < 0)
			return -1;
	}
	return 0;
}

/* Requests and (non-fault) responses need the same headers. */
static int check_required(const struct soap_msg *m, unsigned seen, const char *prefix,
			  struct fault *f)
{
	static const int req[] = { HF_CLIENT, HF_SERVICE, HF_ID, HF_PROTO };

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!(seen & (1u << req[i])))
			return fault_set(f, prefix, "MissingHeaderField", "%s header is missing",
					 hfields[req[i]].label);
	if (!m->id[0])
		return fault_set(f, prefix, "MissingHeaderField", "xrd:id header is empty");
	if (strcmp(m->protocol_version, XRD_PROTOCOL_VERSION) != 0)
		return fault_set(f, prefix, "InvalidProtocolVersion",
				 "xrd:protocolVersion is \"%.40s\", only \"" XRD_PROTOCOL_VERSION
				 "\" is supported",
				 m->protocol_version);
	return 0;
}

/* ---- envelope and body -------------------------------------------------- */

static int find_parts(struct soap_msg *m, const char *prefix, struct fault *f)
{
	xmlNodePtr root = xmlDocGetRootElement(m->doc);
	char name[160];

	if (!soap_is_el(root, NS_SOAPENV, "Envelope"))
		return fault_set(f, prefix, "InvalidSoap",
				 "root element must be a SOAP 1.1 Envelope (" NS_SOAPENV "), not %s",
				 root ? soap_label(root, name, sizeof(name)) : "nothing");
	for (xmlNodePtr c = soap_first_el(root->children); c; c = soap_next_el(c)) {
		if (soap_is_el(c, NS_SOAPENV, "Header") && !m->header && !m->body) {
			m->header = c;
		} else if (soap_is_el(c, NS_SOAPENV, "Body") && !m->body) {
			m->body = c;
		} else {
			return fault_set(f, prefix, "InvalidSoap",
					 "unexpected %s in Envelope (expected one optional Header, "
					 "then one Body)",
					 soap_label(c, name, sizeof(name)));
		}
	}
	if (!m->body)
		return fault_set(f, prefix, "InvalidSoap", "Envelope has no Body");
	m->body_elem = soap_first_el(m->body->children);
	m->is_fault = soap_is_el(m->body_elem, NS_SOAPENV, "Fault");
	return 0;
}

/* faultcode, faultstring and detail/faultDetail; cut to fit, never fails. */
static void read_fault_body(struct soap_msg *m)
{
	for (xmlNodePtr c = soap_first_el(m->body_elem->children); c; c = soap_next_el(c)) {
		if (strcmp((const char *)c->name, "faultcode") == 0) {
			const char *colon;
			(void)soap_leaf_text(c, m->fault_code, sizeof(m->fault_code), 1);
			/* A QName such as "SOAP-ENV:Server.X": keep the local part. */
			colon = strchr(m->fault_code, ':');
			if (colon)
				memmove(m->fault_code, colon + 1, strlen(colon + 1) + 1);
		} else if (strcmp((const char *)c->name, "faultstring") == 0) {
			(void)soap_leaf_text(c, m->fault_string, sizeof(m->fault_string), 1);
		} else if (strcmp((const char *)c->name, "detail") == 0) {
			for (xmlNodePtr d = soap_first_el(c->children); d; d = soap_next_el(d))
				if (strcmp((const char *)d->name, "faultDetail") == 0)
					(void)soap_leaf_text(d, m->fault_detail,
							     sizeof(m->fault_detail), 1);
		}
	}
	/* Cutting may have split a UTF-8 sequence. */
	fault_clean_text(m->fault_code);
	fault_clean_text(m->fault_string);
	fault_clean_text(m->fault_detail);
}

/* A fault from a provider is passed on as it is: header problems in it are
 * ignored and the header fields left empty. */
static void read_fault_headers(struct soap_msg *m, const char *prefix)
{
	struct fault ignored;
	unsigned seen;

	if (read_headers(m, &seen, prefix, &ignored) < 0)
		memset(&m->client, 0,
		       offsetof(struct soap_msg, is_fault) - offsetof(struct soap_msg, client));
}

static int check_body(const struct soap_msg *m, enum soap_kind kind, const char *prefix,
		      struct fault *f)
{
	if (!m->body_elem)
		return fault_set(f, prefix, "MissingBody", "SOAP Body is empty");
	if (kind == SOAP_REQUEST &&
	    strcmp((const char *)m->body_elem->name, m->service.service_code) != 0)
		return fault_set(f, prefix, "InvalidSoap",
				 "body element \"%.100s\" does not match service code \"%s\"",
				 (const char *)m->body_elem->name, m->service.service_code);
	return 0;
}

int soap_parse(const void *bytes, size_t len, enum soap_kind kind, const char *prefix,
	       struct soap_msg *out, struct fault *f)
{
	unsigned seen;

	memset(out, 0, sizeof(*out));
	out->doc = read_xml(bytes, len, prefix, kind == SOAP_RESPONSE_HEAD, f);
	if (!out->doc)
		return -1;
	if (find_parts(out, prefix, f) < 0)
		goto fail;
	if (out->is_fault) {
		if (kind == SOAP_REQUEST) {
			fault_set(f, prefix, "InvalidSoap", "a request must not hold a SOAP Fault");
			goto fail;
		}
		read_fault_body(out);
		read_fault_headers(out, prefix);
		return 0;
	}
	if (read_headers(out, &seen, prefix, f) < 0 ||
	    check_required(out, seen, prefix, f) < 0 || check_body(out, kind, prefix, f) < 0)
		goto fail;
	return 0;
fail:
	soap_msg_free(out);
	return -1;
}

void soap_msg_free(struct soap_msg *m)
{
	if (!m)
		return;
	xmlFreeDoc(m->doc);
	memset(m, 0, sizeof(*m));
}

int soap_request_hash(const void *bytes, size_t len, char *out)
{
	unsigned char d[SHA512_LEN];

	if (sha512(bytes, len, d) < 0)
		return -1;
	b64_encode(d, sizeof(d), out);
	return 0;
}
