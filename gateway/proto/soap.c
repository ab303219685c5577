/* SOAP 1.1 with X-Road 4.0 headers: hardened parsing, header checks, and the
 * one-pass check of an answer against its request.
 *
 * A request is parsed into a tree (the gateway reads its body, builds the
 * response from its headers): one libxml2 parse, then one walk over the
 * Envelope's children, one over the Header's and one over each identifier's.
 * An answer is relayed as it is, so it is checked without a tree, by SAX
 * callbacks over the same parser (soap_check_answer). The header rules are
 * written once, as functions of names and values, and both walks call them.
 * Building responses and the tree comparison live in soap_build.c. */
#include "proto/soap.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/SAX2.h>
#include <libxml/parserInternals.h> /* xmlCreateMemoryParserCtxt */
#include <libxml/xmlerror.h>

#include "lib/xmlscan.h"
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

const char *soap_label_of(const char *ns, const char *name, char *out, size_t outlen)
{
	const char *p;

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
		snprintf(out, outlen, "%s%s", p, name);
	else
		snprintf(out, outlen, "{%s}%s", ns, name);
	return out;
}

/* "xrd:client" style label for messages, whatever prefix the sender used. */
const char *soap_label(const xmlNode *n, char *out, size_t outlen)
{
	return soap_label_of(soap_ns_of(n), (const char *)n->name, out, outlen);
}

static int is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text of one leaf element as it arrives, in pieces (text and CDATA,
 * comments skipped), whether from a tree or from SAX callbacks: the one
 * definition of soap_leaf_text() for both. */
struct leaf {
	char *out;
	size_t cap;
	size_t o;
	int rc;         /* 0, LEAF_NOT_TEXT or LEAF_TOO_LONG */
	int truncate;
};

static void leaf_begin(struct leaf *l, char *out, size_t cap, int truncate)
{
	l->out = out;
	l->cap = cap;
	l->o = 0;
	l->rc = 0;
	l->truncate = truncate;
}

/* Past the cap the text is cut and the rest ignored; so is text after an
 * element child (leaf_child). */
static void leaf_add(struct leaf *l, const char *s, size_t len)
{
	if (l->rc)
		return;
	if (l->o + len >= l->cap) {
		l->rc = LEAF_TOO_LONG;
		len = l->cap - 1 - l->o;
	}
	memcpy(l->out + l->o, s, len);
	l->o += len;
}

static void leaf_child(struct leaf *l)
{
	if (!l->rc)
		l->rc = LEAF_NOT_TEXT;
}

/* 0 with the text trimmed and terminated (cut if truncate), else the
 * LEAF_* code (out then holds what came before, unterminated). */
static int leaf_end(struct leaf *l)
{
	size_t o = l->o, start = 0;

	if (l->rc == LEAF_NOT_TEXT || (l->rc && !l->truncate))
		return l->rc;
	while (o > 0 && is_xml_space(l->out[o - 1]))
		o--;
	while (start < o && is_xml_space(l->out[start]))
		start++;
	memmove(l->out, l->out + start, o - start);
	l->out[o - start] = '\0';
	return 0;
}

/* The text of a leaf element, without surrounding whitespace. Returns 0,
 * LEAF_NOT_TEXT if n has element children, LEAF_TOO_LONG if it does not fit
 * (unless truncate, which cuts it instead). */
int soap_leaf_text(const xmlNode *n, char *out, size_t cap, int truncate)
{
	struct leaf l;

	leaf_begin(&l, out, cap, truncate);
	for (const xmlNode *c = n->children; c && !l.rc; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			leaf_child(&l);
		else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			leaf_add(&l, (const char *)c->content, strlen((const char *)c->content));
	}
	return leaf_end(&l);
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
	void *user;     /* soap_check_answer's state */
};

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

/* A parser context over bytes with the options and error handlers above,
 * reporting into st (zeroed here). The caller adds its SAX callbacks, runs
 * xmlParseDocument and frees the context. NULL with f set. */
static xmlParserCtxtPtr parser_new(const void *bytes, size_t len, const char *prefix,
				   struct parse_state *st, struct fault *f)
{
	xmlParserCtxtPtr ctxt;
	char why[160];

	memset(st, 0, sizeof(*st));
	if (len == 0) {
		fault_set(f, prefix, "InvalidSoap", "empty message");
		return NULL;
	}
	if (len > INT_MAX) {
		fault_set(f, prefix, "InvalidSoap", "message too large");
		return NULL;
	}
	if (xmlscan_check(bytes, len, why, sizeof(why)) < 0) {
		/* the XML's shape, as libxml2 would refuse it (its depth limit) */
		fault_set(f, prefix, "InvalidXml", "message refused unparsed: %s", why);
		return NULL;
	}
	{
		/* libxml2 stops reading at a NUL and says nothing of what follows,
		 * but the bytes signed, logged and sent on would carry it */
		const char *nul = memchr(bytes, '\0', len);

		if (nul) {
			fault_set(f, prefix, "InvalidXml", "message refused unparsed: a NUL byte at offset %zu "
				  "(XML has no such character; %zu bytes sent)", (size_t)(nul - (const char *)bytes),
				  len);
			return NULL;
		}
	}
	ctxt = xmlCreateMemoryParserCtxt(bytes, (int)len);
	if (!ctxt) {
		fault_set(f, own_prefix(prefix), "InternalError", "out of memory parsing SOAP");
		return NULL;
	}
	(void)xmlCtxtUseOptions(ctxt, SOAP_PARSE_OPTS);
	ctxt->_private = st;
	ctxt->sax->serror = on_parse_error;
	ctxt->sax->internalSubset = on_internal_subset;
	return ctxt;
}

#define DTD_REFUSED "DTD is not allowed in a SOAP message"

static int malformed(const struct parse_state *st, const char *prefix, struct fault *f)
{
	if (st->have_error)
		return fault_set(f, prefix, "InvalidXml", "malformed XML at line %d: %s", st->line,
				 st->msg);
	return fault_set(f, prefix, "InvalidXml", "malformed XML");
}

static xmlDocPtr read_xml(const void *bytes, size_t len, const char *prefix, struct fault *f)
{
	struct parse_state st;
	xmlParserCtxtPtr ctxt = parser_new(bytes, len, prefix, &st, f);
	xmlDocPtr doc;

	if (!ctxt)
		return NULL;
	(void)xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (st.dtd_seen || (doc && doc->intSubset)) {
		fault_set(f, prefix, "InvalidSoap", DTD_REFUSED);
	} else if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		malformed(&st, prefix, f);
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

#define ID_REASON(service) ((service) ? "InvalidServiceIdentifier" : "InvalidClientIdentifier")
#define ID_LABEL(service) ((service) ? "xrd:service" : "xrd:client")

/* The type xrd:client / xrd:service (service) declares by its id:objectType
 * value otype (NULL: no such attribute), or -1 with f set. */
static int id_type_of(const char *otype, int service, const char *prefix, struct fault *f)
{
	enum xrd_type t = xrd_type_from_name(otype);

	if (!otype)
		return fault_set(f, prefix, ID_REASON(service), "%s has no id:objectType attribute",
				 ID_LABEL(service));
	if (service ? t != XRD_SERVICE : (t != XRD_MEMBER && t != XRD_SUBSYSTEM))
		return fault_set(f, prefix, ID_REASON(service),
				 "%s has id:objectType \"%.40s\", expected %s", ID_LABEL(service),
				 otype, service ? "SERVICE" : "MEMBER or SUBSYSTEM");
	return (int)t;
}

/* Index of the identifier child {ns}name, marked in *seen, or -1 with f set
 * (unexpected or repeated). */
static int id_child_of(const char *ns, const char *name, unsigned *seen, int service,
		       const char *prefix, struct fault *f)
{
	char label[160];
	int i = -1;

	for (int j = 0; j < 6 && i < 0 && strcmp(ns, NS_XRDID) == 0; j++)
		if (strcmp(name, id_child_names[j]) == 0)
			i = j;
	if (i < 0)
		return fault_set(f, prefix, ID_REASON(service), "unexpected element %s in %s",
				 soap_label_of(ns, name, label, sizeof(label)), ID_LABEL(service));
	if (*seen & (1u << i))
		return fault_set(f, prefix, ID_REASON(service), "id:%s appears twice in %s",
				 id_child_names[i], ID_LABEL(service));
	*seen |= 1u << i;
	return i;
}

/* rc and value: identifier child i read as a leaf. */
static int id_value_ok(int rc, const char *value, int i, int service, const char *prefix,
		       struct fault *f)
{
	if (rc == LEAF_NOT_TEXT)
		return fault_set(f, prefix, ID_REASON(service), "id:%s in %s must hold text only",
				 id_child_names[i], ID_LABEL(service));
	if (rc == LEAF_TOO_LONG || !xrd_part_valid(value))
		return fault_set(f, prefix, ID_REASON(service),
				 "id:%s in %s is empty, too long or holds a character outside "
				 "A-Z a-z 0-9 ' ( ) + , - . = ?",
				 id_child_names[i], ID_LABEL(service));
	return 0;
}

/* The children seen fit type t: every one it needs, none it must not have. */
static int id_complete(enum xrd_type t, unsigned seen, int service, const char *prefix,
		       struct fault *f)
{
	unsigned missing = id_required[t] & ~seen;

	for (int i = 0; i < 6; i++) {
		if (missing & (1u << i))
			return fault_set(f, prefix, ID_REASON(service), "%s of type %s lacks id:%s",
					 ID_LABEL(service), xrd_type_name(t), id_child_names[i]);
		if ((seen & ~id_allowed[t]) & (1u << i))
			return fault_set(f, prefix, ID_REASON(service),
					 "%s of type %s must not have id:%s", ID_LABEL(service),
					 xrd_type_name(t), id_child_names[i]);
	}
	return 0;
}

/* Reads an identifier header; service selects xrd:service rules. */
static int read_identifier(xmlNodePtr node, int service, struct xrd_id *out, const char *prefix,
			   struct fault *f)
{
	int t = id_type_of(soap_attr(node, NS_XRDID, "objectType"), service, prefix, f);
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	if (t < 0)
		return -1;
	for (xmlNodePtr c = soap_first_el(node->children); c; c = soap_next_el(c)) {
		int i = id_child_of(soap_ns_of(c), (const char *)c->name, &seen, service, prefix, f);
		if (i < 0 || id_value_ok(soap_leaf_text(c, id_field(out, i), XRD_PART_MAX, 0),
					 id_field(out, i), i, service, prefix, f) < 0)
			return -1;
	}
	if (id_complete((enum xrd_type)t, seen, service, prefix, f) < 0)
		return -1;
	out->type = (enum xrd_type)t;
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

int soap_is_xroad_ns(const char *ns)
{
	return strcmp(ns, NS_XRD) == 0 || strcmp(ns, NS_REPR) == 0;
}

/* A header element {ns}name: HF_N for a foreign (tolerated) one, else its
 * HF_*, marked in *seen; -1 with f set for an unknown element in the xrd or
 * repr namespace or a repeated one. */
static int header_open(const char *ns, const char *name, unsigned *seen, const char *prefix,
		       struct fault *f)
{
	char label[160];
	int k;

	if (!soap_is_xroad_ns(ns))
		return HF_N;
	for (k = 0; k < HF_N; k++)
		if (strcmp(ns, hfields[k].ns) == 0 && strcmp(name, hfields[k].name) == 0)
			break;
	if (k == HF_N)
		return fault_set(f, prefix, "InvalidSoap", "unknown X-Road header %s",
				 soap_label_of(ns, name, label, sizeof(label)));
	if (*seen & (1u << k))
		return fault_set(f, prefix, "DuplicateHeaderField", "%s appears more than once",
				 hfields[k].label);
	*seen |= 1u << k;
	return k;
}

/* rc: leaf header k read with cap bytes. */
static int leaf_ok(int rc, int k, size_t cap, const char *prefix, struct fault *f)
{
	if (rc == LEAF_NOT_TEXT)
		return fault_set(f, prefix, "InvalidSoap", "%s must hold text only", hfields[k].label);
	if (rc == LEAF_TOO_LONG)
		return fault_set(f, prefix, "InvalidSoap", "%s is longer than %d bytes",
				 hfields[k].label, (int)cap - 1);
	return 0;
}

/* A child {ns}name of repr:representedParty: 0 partyClass, 1 partyCode
 * (marked in have[]), or -1 with f set. */
static int party_child_of(const char *ns, const char *name, int have[2], const char *prefix,
			  struct fault *f)
{
	char label[160];
	int i = -1;

	if (strcmp(ns, NS_REPR) == 0 && strcmp(name, "partyClass") == 0)
		i = 0;
	else if (strcmp(ns, NS_REPR) == 0 && strcmp(name, "partyCode") == 0)
		i = 1;
	if (i < 0)
		return fault_set(f, prefix, "InvalidSoap",
				 "unexpected element %s in repr:representedParty",
				 soap_label_of(ns, name, label, sizeof(label)));
	if (have[i])
		return fault_set(f, prefix, "DuplicateHeaderField",
				 "repr:%s appears twice in repr:representedParty", name);
	have[i] = 1;
	return i;
}

static int party_value_ok(int rc, const char *value, const char *name, const char *prefix,
			  struct fault *f)
{
	if (rc != 0 || !xrd_part_valid(value))
		return fault_set(f, prefix, "InvalidSoap",
				 "repr:%s is empty, too long or holds a character outside "
				 "A-Z a-z 0-9 ' ( ) + , - . = ?",
				 name);
	return 0;
}

static int party_complete(const int have[2], const char *prefix, struct fault *f)
{
	if (!have[1])
		return fault_set(f, prefix, "MissingHeaderField",
				 "repr:representedParty lacks repr:partyCode");
	return 0;
}

static int read_party(xmlNodePtr n, struct soap_msg *m, const char *prefix, struct fault *f)
{
	int have[2] = { 0, 0 };

	for (xmlNodePtr c = soap_first_el(n->children); c; c = soap_next_el(c)) {
		int i = party_child_of(soap_ns_of(c), (const char *)c->name, have, prefix, f);
		char *dst = i == 0 ? m->party_class : m->party_code;
		if (i < 0 || party_value_ok(soap_leaf_text(c, dst, XRD_PART_MAX, 0), dst,
					    (const char *)c->name, prefix, f) < 0)
			return -1;
	}
	if (party_complete(have, prefix, f) < 0)
		return -1;
	m->has_represented_party = 1;
	return 0;
}

/* Reads one known header k into m. */
static int read_header(xmlNodePtr n, int k, struct soap_msg *m, const char *prefix,
		       struct fault *f)
{
	const char *alg;
	char *dst;

	switch (k) {
	case HF_CLIENT: return read_identifier(n, 0, &m->client, prefix, f);
	case HF_SERVICE: return read_identifier(n, 1, &m->service, prefix, f);
	case HF_REPR: return read_party(n, m, prefix, f);
	case HF_ID: dst = m->id; break;
	case HF_USERID: dst = m->user_id; break;
	case HF_ISSUE: dst = m->issue; break;
	case HF_PROTO: dst = m->protocol_version; break;
	default:
		alg = soap_attr(n, NULL, "algorithmId");
		snprintf(m->request_hash_alg, sizeof(m->request_hash_alg), "%s", alg ? alg : "");
		dst = m->request_hash;
		break;
	}
	/* Every leaf field of struct soap_msg holds SOAP_FIELD_MAX bytes. */
	return leaf_ok(soap_leaf_text(n, dst, SOAP_FIELD_MAX, 0), k, SOAP_FIELD_MAX, prefix, f);
}

/* One walk over the Header: known xrd/repr headers are read (each at most
 * once), unknown ones in those namespaces refused, foreign ones tolerated
 * (they are still echoed in responses). *seen gets a bit per HF_*. */
static int read_headers(struct soap_msg *m, unsigned *seen, const char *prefix, struct fault *f)
{
	*seen = 0;
	if (!m->header)
		return 0;
	for (xmlNodePtr n = soap_first_el(m->header->children); n; n = soap_next_el(n)) {
		int k = header_open(soap_ns_of(n), (const char *)n->name, seen, prefix, f);
		if (k < 0 || (k != HF_N && read_header(n, k, m, prefix, f) < 0))
			return -1;
	}
	return 0;
}

/* Requests and (non-fault) responses need the same headers. */
static int check_required(unsigned seen, const char *id, const char *protocol_version,
			  const char *prefix, struct fault *f)
{
	static const int req[] = { HF_CLIENT, HF_SERVICE, HF_ID, HF_PROTO };

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!(seen & (1u << req[i])))
			return fault_set(f, prefix, "MissingHeaderField", "%s header is missing",
					 hfields[req[i]].label);
	if (!id[0])
		return fault_set(f, prefix, "MissingHeaderField", "xrd:id header is empty");
	if (!xrd_message_id_ok(id))
		return fault_set(f, prefix, "InvalidSoap",
				 "xrd:id holds a control character (a tab or line break included): "
				 "a message id is one line of text");
	if (strcmp(protocol_version, XRD_PROTOCOL_VERSION) != 0)
		return fault_set(f, prefix, "InvalidProtocolVersion",
				 "xrd:protocolVersion is \"%.40s\", only \"" XRD_PROTOCOL_VERSION
				 "\" is supported",
				 protocol_version);
	return 0;
}

int soap_check_hash(const char *hash, const char *alg, const char *expected_b64, struct fault *f)
{
	if (!hash[0])
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "response has no xrd:requestHash");
	if (alg[0] && strcmp(alg, XRD_HASH_SHA512) != 0)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "xrd:requestHash uses algorithm \"%.100s\", expected " XRD_HASH_SHA512,
				 alg);
	if (strcmp(hash, expected_b64) != 0)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "xrd:requestHash does not match the request that was sent");
	return 0;
}

/* ---- envelope and body -------------------------------------------------- */

#define BAD_PART_FMT "unexpected %s in Envelope (expected one optional Header, then one Body)"

/* Text other than white space directly in Envelope, Header or Body (SOAP
 * 1.1 4: they hold elements): "garbage<Body>" was accepted and passed on.
 * The one-pass answer check (on_answer_text) finds the same. */
#define TEXT_IN_PART_FMT "text directly in %s, which holds elements only (and white space between them)"
static int text_in(xmlNodePtr el, const char *what, const char *prefix, struct fault *f)
{
	for (xmlNodePtr c = el ? el->children : NULL; c; c = c->next) {
		const xmlChar *t = c->content;

		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			continue;
		while (t && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
			t++;
		if (t && *t)
			return fault_set(f, prefix, "InvalidSoap", TEXT_IN_PART_FMT, what);
	}
	return 0;
}

static int find_parts(struct soap_msg *m, const char *prefix, struct fault *f)
{
	xmlNodePtr root = xmlDocGetRootElement(m->doc);
	char name[160];

	if (!soap_is_el(root, NS_SOAPENV, "Envelope"))
		return fault_set(f, prefix, "InvalidSoap",
				 "root element must be a SOAP 1.1 Envelope (" NS_SOAPENV "), not %s",
				 root ? soap_label(root, name, sizeof(name)) : "nothing");
	if (text_in(root, "Envelope", prefix, f) < 0)
		return -1;
	for (xmlNodePtr c = soap_first_el(root->children); c; c = soap_next_el(c)) {
		if (soap_is_el(c, NS_SOAPENV, "Header") && !m->header && !m->body)
			m->header = c;
		else if (soap_is_el(c, NS_SOAPENV, "Body") && !m->body)
			m->body = c;
		else
			return fault_set(f, prefix, "InvalidSoap", BAD_PART_FMT,
					 soap_label(c, name, sizeof(name)));
	}
	if (!m->body)
		return fault_set(f, prefix, "InvalidSoap", "Envelope has no Body");
	if (text_in(m->header, "Header", prefix, f) < 0 || text_in(m->body, "Body", prefix, f) < 0)
		return -1;
	m->body_elem = soap_first_el(m->body->children);
	m->is_fault = soap_is_el(m->body_elem, NS_SOAPENV, "Fault");
	return 0;
}

/* A QName such as "SOAP-ENV:Server.X" as faultcode: keep the local part. */
static void fault_code_local(char *code)
{
	const char *colon = strchr(code, ':');

	if (colon)
		memmove(code, colon + 1, strlen(colon + 1) + 1);
}

/* faultcode, faultstring and detail/faultDetail; cut to fit, never fails. */
static void read_fault_body(struct soap_msg *m)
{
	for (xmlNodePtr c = soap_first_el(m->body_elem->children); c; c = soap_next_el(c)) {
		if (strcmp((const char *)c->name, "faultcode") == 0) {
			(void)soap_leaf_text(c, m->fault_code, sizeof(m->fault_code), 1);
			fault_code_local(m->fault_code);
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
	out->doc = read_xml(bytes, len, prefix, f);
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
	    check_required(seen, out->id, out->protocol_version, prefix, f) < 0 ||
	    check_body(out, kind, prefix, f) < 0)
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

/* ---- checking an answer in one pass -------------------------------------
 *
 * What soap_parse() and then soap_check_response() decide, decided while
 * libxml2 reads the answer: the SAX callbacks below follow the envelope,
 * read the X-Road headers by the rules above and pair each header, element
 * by element, with the request's (still a tree) as they come. Every check
 * keeps its first failure, and the verdict is taken at the end in the order
 * the two tree functions apply them, since a failure found late can rank
 * before one found early (the document must be well-formed to its end;
 * a bad header anywhere ranks before an inconsistent one). Of what libxml2's
 * tree builder adds, the errors it raises for xml:id values are raised here
 * too (the first error names the fault); its stop at a single text node
 * over 10 MB (without XML_PARSE_HUGE), which cut such an answer short, is
 * not: such an answer is read to its end. */

/* The trimmed text of the paired request leaf, compared with the answer's
 * text as it arrives (same result as trimming both, as same_text() in
 * soap_build.c does). */
struct tmatch {
	const char *want;
	size_t len;
	size_t i;         /* matched so far */
	int depth;        /* of the answer element whose text is matched; 0: none */
	int started;      /* past the answer's leading whitespace */
	int ok;
	xmlChar *owned;   /* the request's text when it is not one node */
};

static void tm_begin(struct tmatch *t, const xmlNode *leaf, int depth)
{
	const xmlNode *c = leaf->children;
	const char *s = "";

	xmlFree(t->owned);
	t->owned = NULL;
	if (c && !c->next && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)) {
		s = c->content ? (const char *)c->content : "";
	} else if (c) {
		t->owned = xmlNodeGetContent(leaf);
		s = t->owned ? (const char *)t->owned : "";
	}
	while (is_xml_space(*s))
		s++;
	t->want = s;
	t->len = strlen(s);
	while (t->len && is_xml_space(s[t->len - 1]))
		t->len--;
	t->i = 0;
	t->depth = depth;
	t->started = 0;
	t->ok = 1;
}

static void tm_feed(struct tmatch *t, const char *s, size_t n)
{
	size_t k;

	if (!t->ok)
		return;
	if (!t->started) {
		while (n && is_xml_space(*s))
			s++, n--;
		if (!n)
			return;
		t->started = 1;
	}
	k = n < t->len - t->i ? n : t->len - t->i;
	if (memcmp(s, t->want + t->i, k) != 0) {
		t->ok = 0;
		return;
	}
	t->i += k;
	/* Past the request's text only trailing whitespace may follow. */
	for (s += k, n -= k; n; s++, n--)
		if (!is_xml_space(*s)) {
			t->ok = 0;
			return;
		}
}

/* What the leaf being read is for. */
enum leaf_for { LEAF_NONE, LEAF_HEADER, LEAF_ID_PART, LEAF_PARTY, LEAF_FAULT_CODE };

struct answer {
	struct parse_state ps;
	int depth;                   /* of the open element: Envelope 1, Header/Body 2 */
	/* envelope (find_parts) */
	int root_seen, root_ok, have_header, have_body, in_header, in_body;
	int have_wrapper, is_fault, in_fault;
	int any_body, skip_deep;     /* which elements the tree builder built */
	xmlHashTablePtr xml_ids;     /* xml:id values seen, created on the first */
	struct fault shape;
	int text_in[3];              /* text directly in Envelope, Header, Body (text_in()) */
	/* X-Road headers (read_headers, check_required) */
	struct fault hdr;
	unsigned seen;
	int hk;                      /* HF_* of the header being read, -1 if none */
	int id_type, id_part;
	unsigned id_seen;
	int party[2];
	char id[SOAP_FIELD_MAX], proto[SOAP_FIELD_MAX], hash[SOAP_FIELD_MAX];
	char alg[SOAP_FIELD_MAX], scratch[SOAP_FIELD_MAX];
	struct leaf leaf;
	int leaf_depth;              /* of the element read by leaf; 0: none */
	enum leaf_for leaf_for;
	char fault_code[FAULT_CODE_MAX];
	/* pairing with the request's headers (compare_headers, first_diff) */
	struct fault cmp;
	xmlNodePtr next_req;         /* next request header to pair */
	xmlNodePtr head;             /* the request header being compared */
	xmlNodePtr cur;              /* request element paired with the open one */
	xmlNodePtr last;             /* cur's last paired child, NULL if none yet */
	int cmp_depth;               /* depth of the compared header; 0: none open */
	struct tmatch tm;
};

/* The request header compared next (requestHash is the one a response adds). */
xmlNodePtr soap_next_compared(xmlNodePtr n)
{
	while (n && soap_is_el(n, NS_XRD, "requestHash"))
		n = soap_next_el(n);
	return n;
}

static int sax_is(const char *ns, const char *name, const char *want_ns, const char *want)
{
	return strcmp(name, want) == 0 && strcmp(ns, want_ns) == 0;
}

/* The value of SAX2 attribute [v, end) is s. libxml2 hands a '&' over as
 * "&#38;" for its tree builder to decode, so that is what it means here. */
static int sax_value_is(const xmlChar *v, const xmlChar *end, const char *s)
{
	while (v < end) {
		if (*v == '&' && end - v >= 5 && memcmp(v, "&#38;", 5) == 0) {
			if (*s++ != '&')
				return 0;
			v += 5;
		} else if (*s++ != (char)*v++) {
			return 0;
		}
	}
	return *s == '\0';
}

/* Index of SAX2 attribute {ns}name (ns NULL: unqualified), or -1. */
static int sax_attr_index(int nb, const xmlChar **attrs, const char *ns, const char *name)
{
	for (int i = 0; i < nb; i++) {
		const char *uri = (const char *)attrs[5 * i + 2];
		if (strcmp((const char *)attrs[5 * i], name) != 0)
			continue;
		if ((ns == NULL) != (uri == NULL) || (ns && strcmp(ns, uri) != 0))
			continue;
		return i;
	}
	return -1;
}

/* The value of {ns}name into out (cut to fit, decoded as above), or NULL. */
static const char *sax_attr(int nb, const xmlChar **attrs, const char *ns, const char *name,
			    char *out, size_t outlen)
{
	int i = sax_attr_index(nb, attrs, ns, name);
	const xmlChar *v, *end;
	size_t o = 0;

	if (i < 0)
		return NULL;
	for (v = attrs[5 * i + 3], end = attrs[5 * i + 4]; v < end && o + 1 < outlen; o++) {
		int amp = *v == '&' && end - v >= 5 && memcmp(v, "&#38;", 5) == 0;
		out[o] = amp ? '&' : (char)*v;
		v += amp ? 5 : 1;
	}
	out[o] = '\0';
	return out;
}

/* same_attrs() of soap_build.c, with the answer's attributes from SAX2. */
static int attrs_match(const xmlNode *a, int nb, const xmlChar **attrs)
{
	int na = 0;

	for (const xmlAttr *p = a->properties; p; p = p->next, na++) {
		const char *ns = p->ns && p->ns->href ? (const char *)p->ns->href : NULL;
		int i = sax_attr_index(nb, attrs, ns, (const char *)p->name);
		if (i < 0 ||
		    !sax_value_is(attrs[5 * i + 3], attrs[5 * i + 4],
				  soap_attr(a, ns, (const char *)p->name)))
			return 0;
	}
	return na == nb;
}

static int same_name_as(const xmlNode *a, const char *ns, const char *name)
{
	return strcmp((const char *)a->name, name) == 0 && strcmp(soap_ns_of(a), ns) == 0;
}

static void differ(struct answer *a, const xmlNode *at)
{
	char n1[160], n2[160];

	fault_set(&a->cmp, F_CPROXY, "InconsistentResponse",
		  "response header %s differs from the request at %s",
		  soap_label(a->head, n1, sizeof(n1)), soap_label(at, n2, sizeof(n2)));
	a->cmp_depth = 0;
}

/* The answer element at depth d is paired with request element r. */
static void pair_with(struct answer *a, xmlNodePtr r, int d, int nb, const xmlChar **attrs)
{
	if (!attrs_match(r, nb, attrs)) {
		differ(a, r);
		return;
	}
	a->cur = r;
	a->last = NULL;
	a->tm.depth = 0;
	if (!soap_first_el(r->children))
		tm_begin(&a->tm, r, d);
}

/* A header element of the answer (depth 3), compared as compare_headers()
 * walks them. */
static void pair_header(struct answer *a, const char *ns, const char *name, int nb,
			const xmlChar **attrs)
{
	xmlNodePtr r = a->next_req;
	char n1[160], n2[160];

	if (fault_is_set(&a->cmp) || sax_is(ns, name, NS_XRD, "requestHash"))
		return;
	if (!r || !same_name_as(r, ns, name)) {
		if (soap_is_xroad_ns(ns))
			fault_set(&a->cmp, F_CPROXY, "InconsistentResponse",
				  "response header %s found where the request had %s",
				  soap_label_of(ns, name, n1, sizeof(n1)),
				  r ? soap_label(r, n2, sizeof(n2)) : "no more headers");
		return;
	}
	a->next_req = soap_next_compared(soap_next_el(r));
	a->head = r;
	a->cmp_depth = 3;
	pair_with(a, r, 3, nb, attrs);
}

/* An element inside the compared header: the request's next child. */
static void pair_child(struct answer *a, int d, const char *ns, const char *name, int nb,
		       const xmlChar **attrs)
{
	xmlNodePtr want;

	if (!a->cmp_depth)
		return;
	want = a->last ? soap_next_el(a->last) : soap_first_el(a->cur->children);
	if (!want)
		differ(a, a->cur);
	else if (!same_name_as(want, ns, name))
		differ(a, want);
	else
		pair_with(a, want, d, nb, attrs);
}

/* The answer element at depth d ends: children left over on either side,
 * or leaves with different text, make the request's element the difference. */
static void pair_end(struct answer *a, int d)
{
	xmlNodePtr rest;

	if (!a->cmp_depth)
		return;
	rest = a->last ? soap_next_el(a->last) : soap_first_el(a->cur->children);
	if (rest || (!a->last && !(a->tm.ok && a->tm.i == a->tm.len))) {
		differ(a, a->cur);
		return;
	}
	if (d == a->cmp_depth) {
		a->cmp_depth = 0;
		return;
	}
	a->last = a->cur;
	a->cur = a->cur->parent;
}

static void read_leaf_into(struct answer *a, char *out, size_t cap, int truncate, int d,
			   enum leaf_for what)
{
	leaf_begin(&a->leaf, out, cap, truncate);
	a->leaf_depth = d;
	a->leaf_for = what;
}

/* A header element (depth 3), read as read_header() does. */
static void header_start(struct answer *a, const char *ns, const char *name, int nb,
			 const xmlChar **attrs)
{
	char otype[64];
	int k;

	a->hk = -1;
	if (fault_is_set(&a->hdr))
		return;
	k = header_open(ns, name, &a->seen, F_CPROXY, &a->hdr);
	if (k < 0 || k == HF_N)
		return;
	a->hk = k;
	switch (k) {
	case HF_CLIENT:
	case HF_SERVICE:
		/* 63 bytes tell every value that is not a type name from those. */
		a->id_type = id_type_of(sax_attr(nb, attrs, NS_XRDID, "objectType", otype,
						 sizeof(otype)),
					k == HF_SERVICE, F_CPROXY, &a->hdr);
		a->id_seen = 0;
		if (a->id_type < 0)
			a->hk = -1;
		return;
	case HF_REPR:
		a->party[0] = a->party[1] = 0;
		return;
	case HF_HASH:
		if (!sax_attr(nb, attrs, NULL, "algorithmId", a->alg, sizeof(a->alg)))
			a->alg[0] = '\0';
		read_leaf_into(a, a->hash, sizeof(a->hash), 0, 3, LEAF_HEADER);
		return;
	default:
		read_leaf_into(a, k == HF_ID ? a->id : k == HF_PROTO ? a->proto : a->scratch,
			       SOAP_FIELD_MAX, 0, 3, LEAF_HEADER);
		return;
	}
}

/* A child of an identifier or of representedParty (depth 4). */
static void header_child(struct answer *a, const char *ns, const char *name)
{
	int i;

	if (a->hk == HF_CLIENT || a->hk == HF_SERVICE) {
		i = id_child_of(ns, name, &a->id_seen, a->hk == HF_SERVICE, F_CPROXY, &a->hdr);
		a->id_part = i;
		if (i >= 0)
			read_leaf_into(a, a->scratch, XRD_PART_MAX, 0, 4, LEAF_ID_PART);
	} else if (a->hk == HF_REPR) {
		i = party_child_of(ns, name, a->party, F_CPROXY, &a->hdr);
		if (i >= 0)
			read_leaf_into(a, a->scratch, XRD_PART_MAX, 0, 4, LEAF_PARTY);
	} else {
		return;
	}
	if (i < 0)
		a->hk = -1;
}

/* The element read by a->leaf ends (its local name: name). */
static void leaf_done(struct answer *a, const char *name)
{
	int rc = leaf_end(&a->leaf), bad = 0;

	a->leaf_depth = 0;
	switch (a->leaf_for) {
	case LEAF_HEADER:
		bad = leaf_ok(rc, a->hk, SOAP_FIELD_MAX, F_CPROXY, &a->hdr);
		break;
	case LEAF_ID_PART:
		bad = id_value_ok(rc, a->scratch, a->id_part, a->hk == HF_SERVICE, F_CPROXY, &a->hdr);
		break;
	case LEAF_PARTY:
		bad = party_value_ok(rc, a->scratch, name, F_CPROXY, &a->hdr);
		break;
	case LEAF_FAULT_CODE:
		fault_code_local(a->fault_code);
		break;
	case LEAF_NONE:
		break;
	}
	if (bad)
		a->hk = -1;
}

static void header_end(struct answer *a)
{
	if (a->hk == HF_CLIENT || a->hk == HF_SERVICE)
		(void)id_complete((enum xrd_type)a->id_type, a->id_seen, a->hk == HF_SERVICE,
				  F_CPROXY, &a->hdr);
	else if (a->hk == HF_REPR)
		(void)party_complete(a->party, F_CPROXY, &a->hdr);
	a->hk = -1;
}

/* Envelope (depth 1), Header or Body (depth 2), as find_parts() sees them. */
static void envelope_start(struct answer *a, int d, const char *ns, const char *name)
{
	char label[160];

	if (d == 1) {
		a->root_seen = 1;
		a->root_ok = sax_is(ns, name, NS_SOAPENV, "Envelope");
		if (!a->root_ok)
			fault_set(&a->shape, F_CPROXY, "InvalidSoap",
				  "root element must be a SOAP 1.1 Envelope (" NS_SOAPENV "), not %s",
				  soap_label_of(ns, name, label, sizeof(label)));
	} else if (!a->root_ok) {
		return;
	} else if (sax_is(ns, name, NS_SOAPENV, "Header") && !a->have_header && !a->have_body) {
		a->have_header = a->in_header = 1;
	} else if (sax_is(ns, name, NS_SOAPENV, "Body") && !a->have_body) {
		a->have_body = a->in_body = 1;
	} else if (!fault_is_set(&a->shape)) {
		fault_set(&a->shape, F_CPROXY, "InvalidSoap", BAD_PART_FMT,
			  soap_label_of(ns, name, label, sizeof(label)));
	}
}

static void body_start(struct answer *a, int d, const char *ns, const char *name)
{
	if (d == 3 && !a->have_wrapper) {
		a->have_wrapper = 1;
		a->is_fault = a->in_fault = sax_is(ns, name, NS_SOAPENV, "Fault");
	} else if (d == 4 && a->in_fault && strcmp(name, "faultcode") == 0) {
		read_leaf_into(a, a->fault_code, sizeof(a->fault_code), 1, 4, LEAF_FAULT_CODE);
	}
}

/* The first error, unless there is one already (as on_parse_error keeps). */
static void __attribute__((format(printf, 3, 4)))
first_error(struct parse_state *st, int line, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (st->have_error)
		return;
	st->have_error = 1;
	st->line = line;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	n = strlen(st->msg);
	while (n > 0 && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
		st->msg[--n] = '\0';
}

/* libxml2's tree builder checks xml:id values as it builds an element (its
 * xmlSAX2AttributeNs): a value that is not an NCName, or one seen before, is
 * an error there, and may be the first one, which names the fault. So the
 * same here, for the elements the client side used to build: all but what
 * a Body's child holds, unless it is a Fault. */
static void check_xml_ids(struct answer *a, xmlParserCtxtPtr ctxt, int nb, const xmlChar **attrs)
{
	for (int i = 0; i < nb && !a->ps.have_error; i++) {
		const xmlChar *p = attrs[5 * i + 1];
		xmlChar *v;
		if (!p || strcmp((const char *)p, "xml") != 0 ||
		    strcmp((const char *)attrs[5 * i], "id") != 0)
			continue;
		/* The value as SAX2 hands it over, "&#38;" and all. */
		v = xmlStrndup(attrs[5 * i + 3], (int)(attrs[5 * i + 4] - attrs[5 * i + 3]));
		if (!v)
			continue;
		if (xmlValidateNCName(v, 1) != 0)
			first_error(&a->ps, ctxt->input->line,
				    "xml:id : attribute value %s is not an NCName\n", (const char *)v);
		if (!a->xml_ids)
			a->xml_ids = xmlHashCreate(0);
		if (a->xml_ids && xmlHashAddEntry(a->xml_ids, v, a) != 0)
			first_error(&a->ps, ctxt->input->line, "ID %s already defined\n",
				    (const char *)v);
		xmlFree(v);
	}
}

static void on_answer_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
			    const xmlChar *uri, int nb_ns, const xmlChar **nss, int nb_attr,
			    int nb_def, const xmlChar **attrs)
{
	struct answer *a = ((struct parse_state *)((xmlParserCtxtPtr)ctx)->_private)->user;
	const char *ns = uri ? (const char *)uri : "", *name = (const char *)localname;
	int d = ++a->depth;

	if (a->leaf_depth)
		leaf_child(&a->leaf);
	if (d == 2 && sax_is(ns, name, NS_SOAPENV, "Body"))
		a->any_body = 1;
	else if (d == 3 && a->any_body)
		a->skip_deep = !sax_is(ns, name, NS_SOAPENV, "Fault");
	if (nb_attr && !(a->skip_deep && d >= 4))
		check_xml_ids(a, ctx, nb_attr, attrs);
	if (d <= 2) {
		envelope_start(a, d, ns, name);
	} else if (a->in_header) {
		if (d == 3) {
			header_start(a, ns, name, nb_attr, attrs);
			pair_header(a, ns, name, nb_attr, attrs);
			return;
		}
		if (d == 4 && a->hk >= 0 && !fault_is_set(&a->hdr))
			header_child(a, ns, name);
		pair_child(a, d, ns, name, nb_attr, attrs);
	} else if (a->in_body) {
		body_start(a, d, ns, name);
	}
}

static void on_answer_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
			  const xmlChar *uri)
{
	struct answer *a = ((struct parse_state *)((xmlParserCtxtPtr)ctx)->_private)->user;
	int d = a->depth--;

	if (a->in_header && d >= 3)
		pair_end(a, d);
	if (a->leaf_depth == d)
		leaf_done(a, (const char *)localname);
	if (d == 3 && a->in_header)
		header_end(a);
	else if (d == 3)
		a->in_fault = a->skip_deep = 0;
	else if (d == 2)
		a->in_header = a->in_body = a->any_body = 0;
}

static void on_answer_text(void *ctx, const xmlChar *s, int len)
{
	struct answer *a = ((struct parse_state *)((xmlParserCtxtPtr)ctx)->_private)->user;

	/* Only the text directly inside: libxml2 also reports text outside the
	 * root element here (depth 0) when the document is not well-formed. */
	if (a->leaf_depth && a->leaf_depth == a->depth)
		leaf_add(&a->leaf, (const char *)s, (size_t)len);
	if (a->cmp_depth && a->tm.depth == a->depth)
		tm_feed(&a->tm, (const char *)s, (size_t)len);
	if (a->root_ok && (a->depth == 1 || (a->depth == 2 && (a->in_header || a->in_body)))) {
		int part = a->depth == 1 ? 0 : a->in_header ? 1 : 2;

		for (int i = 0; i < len && !a->text_in[part]; i++)
			a->text_in[part] = s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n';
	}
}

/* In the order soap_parse() and soap_check_response() would fail. */
static int answer_verdict(struct answer *a, xmlParserCtxtPtr ctxt, const char *expected_b64,
			  struct fault *f)
{
	char label[160];

	if (a->ps.dtd_seen)
		return fault_set(f, F_CPROXY, "InvalidSoap", DTD_REFUSED);
	if (!ctxt->wellFormed || !ctxt->nsWellFormed || !a->root_seen)
		return malformed(&a->ps, F_CPROXY, f);
	if (fault_is_set(&a->shape) && !a->root_ok) {
		*f = a->shape;
		return -1;
	}
	if (a->text_in[0])   /* in find_parts' order */
		return fault_set(f, F_CPROXY, "InvalidSoap", TEXT_IN_PART_FMT, "Envelope");
	if (fault_is_set(&a->shape)) {
		*f = a->shape;
		return -1;
	}
	if (!a->have_body)
		return fault_set(f, F_CPROXY, "InvalidSoap", "Envelope has no Body");
	if (a->text_in[1] || a->text_in[2])
		return fault_set(f, F_CPROXY, "InvalidSoap", TEXT_IN_PART_FMT, a->text_in[1] ? "Header" : "Body");
	if (a->is_fault)
		return 0;
	if (fault_is_set(&a->hdr)) {
		*f = a->hdr;
		return -1;
	}
	if (check_required(a->seen, a->id, a->proto, F_CPROXY, f) < 0)
		return -1;
	if (!a->have_wrapper)
		return fault_set(f, F_CPROXY, "MissingBody", "SOAP Body is empty");
	if (fault_is_set(&a->cmp)) {
		*f = a->cmp;
		return -1;
	}
	if (a->next_req)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "response lacks the request header %s",
				 soap_label(a->next_req, label, sizeof(label)));
	return soap_check_hash(a->hash, a->alg, expected_b64, f);
}

int soap_check_answer(const struct soap_msg *req, const void *bytes, size_t len,
		      const char *expected_hash_b64, struct soap_answer *out, struct fault *f)
{
	struct answer a;
	xmlParserCtxtPtr ctxt;
	xmlSAXHandlerPtr sax;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	ctxt = parser_new(bytes, len, F_CPROXY, &a.ps, f);
	if (!ctxt)
		return -1;
	a.ps.user = &a;
	a.hk = -1;
	a.next_req = req->header ? soap_next_compared(soap_first_el(req->header->children)) : NULL;
	/* No tree: nothing but these callbacks sees the document. */
	sax = ctxt->sax;
	sax->startDocument = NULL;
	sax->endDocument = NULL;
	sax->startElementNs = on_answer_start;
	sax->endElementNs = on_answer_end;
	sax->characters = on_answer_text;
	sax->ignorableWhitespace = on_answer_text;
	sax->cdataBlock = on_answer_text;
	sax->comment = NULL;
	sax->processingInstruction = NULL;
	sax->reference = NULL;
	(void)xmlParseDocument(ctxt);
	rc = answer_verdict(&a, ctxt, expected_hash_b64, f);
	xmlFreeParserCtxt(ctxt);
	xmlFree(a.tm.owned);
	xmlHashFree(a.xml_ids, NULL);
	if (rc == 0 && a.is_fault) {
		out->is_fault = 1;
		fault_clean_text(a.fault_code);
		memcpy(out->fault_code, a.fault_code, sizeof(out->fault_code));
	}
	return rc;
}
