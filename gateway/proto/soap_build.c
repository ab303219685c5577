/* SOAP: building responses, faults and requests, and checking a parsed
 * response against its request. Parsing, and the one-pass check of an
 * answer, are in soap.c. */
#include "proto/soap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlsave.h>

#include "proto/soap_int.h"

#define ENV_OPEN                                                                             \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" \
	NS_SOAPENV "\""

/* ---- serialising -------------------------------------------------------- */

static int save_write(void *ctx, const char *data, int len)
{
	return buf_append(ctx, data, (size_t)len) < 0 ? -1 : len;
}

static int save_close(void *ctx)
{
	return 0;
}

/* Writes doc with an XML declaration naming UTF-8 straight into out; on
 * failure out is left as it was. */
static int serialise(xmlDocPtr doc, struct buf *out)
{
	size_t start = out->len;
	xmlSaveCtxtPtr s = xmlSaveToIO(save_write, save_close, out, "UTF-8", XML_SAVE_AS_XML);
	long rc;

	if (!s)
		return -1;
	rc = xmlSaveDoc(s, doc);
	if (xmlSaveClose(s) < 0 || rc < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

/* ---- a provider system's response: its tree, with our requestHash ------- */

/* <xrd:requestHash algorithmId="...">hash</xrd:requestHash> at the end of hdr,
 * or the existing one updated. */
static int put_request_hash(xmlDocPtr doc, xmlNodePtr hdr, const char *hash)
{
	xmlNodePtr n = NULL;
	xmlNsPtr ns;

	for (xmlNodePtr c = soap_first_el(hdr->children); c; c = soap_next_el(c))
		if (soap_is_el(c, NS_XRD, "requestHash"))
			n = c;
	if (!n) {
		n = xmlNewDocNode(doc, NULL, BAD_CAST "requestHash", NULL);
		if (!n || !xmlAddChild(hdr, n)) {
			xmlFreeNode(n);
			return -1;
		}
		ns = xmlSearchNsByHref(doc, hdr, BAD_CAST NS_XRD);
		if (!ns)
			ns = xmlNewNs(n, BAD_CAST NS_XRD, BAD_CAST "xrd");
		if (!ns)
			return -1;
		xmlSetNs(n, ns);
	}
	/* NULL clears the children; AddContent takes plain text, not markup. */
	xmlNodeSetContent(n, NULL);
	xmlNodeAddContent(n, BAD_CAST hash);
	if (!xmlSetProp(n, BAD_CAST "algorithmId", BAD_CAST XRD_HASH_SHA512))
		return -1;
	return 0;
}

int soap_set_request_hash(struct soap_msg *resp, const char *request_hash_b64, struct buf *out)
{
	if (!resp->doc || !resp->body)
		return -1;
	if (!resp->header) {
		xmlNodePtr h = xmlNewDocNode(resp->doc, resp->body->ns, BAD_CAST "Header", NULL);
		if (!h || !xmlAddPrevSibling(resp->body, h)) {
			xmlFreeNode(h);
			return -1;
		}
		resp->header = h;
	}
	if (put_request_hash(resp->doc, resp->header, request_hash_b64) < 0)
		return -1;
	snprintf(resp->request_hash, sizeof(resp->request_hash), "%s", request_hash_b64);
	snprintf(resp->request_hash_alg, sizeof(resp->request_hash_alg), "%s", XRD_HASH_SHA512);
	return serialise(resp->doc, out);
}

/* ---- responses as text -------------------------------------------------
 *
 * The response is written straight from the request's tree: no document is
 * built, copied or serialised for it. Escaping follows libxml2's serialiser,
 * so what a parser reads back is what the request's tree held. */

/* s escaped for text content (attr 0) or a double-quoted attribute value
 * (attr 1). CR as a reference, or a parser would read LF back; in an
 * attribute also TAB and LF, which attribute normalisation would turn into
 * spaces. */
static int put_escaped(struct buf *out, const char *s, int attr)
{
	const char *run = s, *rep;

	for (; *s; s++) {
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '\r': rep = "&#13;"; break;
		case '"': rep = attr ? "&quot;" : NULL; break;
		case '\n': rep = attr ? "&#10;" : NULL; break;
		case '\t': rep = attr ? "&#9;" : NULL; break;
		default: rep = NULL; break;
		}
		if (!rep)
			continue;
		if (buf_append(out, run, (size_t)(s - run)) < 0 || buf_puts(out, rep) < 0)
			return -1;
		run = s + 1;
	}
	return buf_append(out, run, (size_t)(s - run));
}

/* " xmlns:prefix="href"" (prefix NULL: the default namespace). */
static int put_ns_decl(struct buf *out, const xmlChar *prefix, const xmlChar *href)
{
	if (buf_puts(out, prefix ? " xmlns:" : " xmlns") < 0 ||
	    (prefix && buf_puts(out, (const char *)prefix) < 0) || buf_puts(out, "=\"") < 0 ||
	    put_escaped(out, href ? (const char *)href : "", 1) < 0)
		return -1;
	return buf_puts(out, "\"");
}

/* a, b and c one after another. */
static int put3(struct buf *out, const char *a, const char *b, const char *c)
{
	return buf_puts(out, a) < 0 || buf_puts(out, b) < 0 ? -1 : buf_puts(out, c);
}

static int put_qname(struct buf *out, const xmlNs *ns, const xmlChar *name)
{
	if (ns && ns->prefix &&
	    (buf_puts(out, (const char *)ns->prefix) < 0 || buf_puts(out, ":") < 0))
		return -1;
	return buf_puts(out, (const char *)name);
}

static int declares(const xmlNode *n, const char *prefix)
{
	for (const xmlNs *d = n->nsDef; d; d = d->next)
		if (prefix ? d->prefix && strcmp((const char *)d->prefix, prefix) == 0 : !d->prefix)
			return 1;
	return 0;
}

/* The request's namespace context at its Header, as the response needs it. */
struct ns_ctx {
	xmlNsPtr *list;           /* in scope there (xmlGetNsList), or NULL */
	const xmlChar *dflt;      /* the default namespace in scope there, or NULL */
	const xmlChar *soapenv;   /* what SOAP-ENV means there if not NS_SOAPENV, or NULL */
	const xmlChar *xrd;       /* a prefix of NS_XRD the Envelope declares, or NULL */
};

/* The prefixed namespaces of list but SOAP-ENV (the response's own) and
 * xml go on the response's Envelope; not a default namespace, which would
 * capture unprefixed elements of the body. */
static int on_envelope(const xmlNs *d)
{
	return d->prefix && strcmp((const char *)d->prefix, "SOAP-ENV") != 0 &&
	       strcmp((const char *)d->prefix, "xml") != 0;
}

static void ns_ctx_init(struct ns_ctx *nc, const struct soap_msg *req)
{
	memset(nc, 0, sizeof(*nc));
	nc->list = req->header ? xmlGetNsList(req->doc, req->header) : NULL;
	for (size_t i = 0; nc->list && nc->list[i]; i++) {
		const xmlNs *d = nc->list[i];
		if (!d->prefix && d->href && d->href[0])
			nc->dflt = d->href;
		else if (d->prefix && strcmp((const char *)d->prefix, "SOAP-ENV") == 0 &&
			 !xmlStrEqual(d->href, BAD_CAST NS_SOAPENV))
			nc->soapenv = d->href;
		else if (!nc->xrd && on_envelope(d) && xmlStrEqual(d->href, BAD_CAST NS_XRD))
			nc->xrd = d->prefix;
	}
}

static int put_node(struct buf *out, const xmlNode *n, const struct ns_ctx *nc);

/* Element n and its content. nc for a header copied from the request: it
 * also declares the bindings the response's Envelope does not carry, so
 * that every name in it means what it meant in the request. */
static int put_element(struct buf *out, const xmlNode *n, const struct ns_ctx *nc)
{
	if (buf_puts(out, "<") < 0 || put_qname(out, n->ns, n->name) < 0)
		return -1;
	for (const xmlNs *d = n->nsDef; d; d = d->next)
		if (put_ns_decl(out, d->prefix, d->href) < 0)
			return -1;
	if (nc && ((nc->dflt && !declares(n, NULL) && put_ns_decl(out, NULL, nc->dflt) < 0) ||
		   (nc->soapenv && !declares(n, "SOAP-ENV") &&
		    put_ns_decl(out, BAD_CAST "SOAP-ENV", nc->soapenv) < 0)))
		return -1;
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		if (buf_puts(out, " ") < 0 || put_qname(out, a->ns, a->name) < 0 ||
		    buf_puts(out, "=\"") < 0)
			return -1;
		/* Without a DTD a value is one text node (soap_attr). */
		for (const xmlNode *t = a->children; t; t = t->next)
			if (t->content && put_escaped(out, (const char *)t->content, 1) < 0)
				return -1;
		if (buf_puts(out, "\"") < 0)
			return -1;
	}
	if (!n->children)
		return buf_puts(out, "/>");
	if (buf_puts(out, ">") < 0)
		return -1;
	for (const xmlNode *c = n->children; c; c = c->next)
		if (put_node(out, c, NULL) < 0)
			return -1;
	if (buf_puts(out, "</") < 0 || put_qname(out, n->ns, n->name) < 0)
		return -1;
	return buf_puts(out, ">");
}

/* What a parsed request can hold: no DTD, so no entity or its reference;
 * the parser let no "]]>" into a CDATA section, "--" into a comment or
 * "?>" into a processing instruction. */
static int put_node(struct buf *out, const xmlNode *n, const struct ns_ctx *nc)
{
	const char *c = n->content ? (const char *)n->content : "";

	switch (n->type) {
	case XML_ELEMENT_NODE:
		return put_element(out, n, nc);
	case XML_TEXT_NODE:
		return put_escaped(out, c, 0);
	case XML_CDATA_SECTION_NODE:
		return put3(out, "<![CDATA[", c, "]]>");
	case XML_COMMENT_NODE:
		return put3(out, "<!--", c, "-->");
	case XML_PI_NODE:
		if (put3(out, "<?", (const char *)n->name, n->content ? " " : "") < 0)
			return -1;
		return put3(out, c, "?>", "");
	default:
		return 0;
	}
}

/* <P:requestHash algorithmId="...">hash</P:requestHash>: P a prefix the
 * Envelope binds to NS_XRD, else xrd declared on the element. */
static int put_request_hash_text(struct buf *out, const struct ns_ctx *nc, const char *hash)
{
	const char *p = nc->xrd ? (const char *)nc->xrd : "xrd";

	if (put3(out, "<", p, ":requestHash") < 0 ||
	    (!nc->xrd && put_ns_decl(out, BAD_CAST "xrd", BAD_CAST NS_XRD) < 0) ||
	    buf_puts(out, " algorithmId=\"" XRD_HASH_SHA512 "\">") < 0 || put_escaped(out, hash, 0) < 0)
		return -1;
	return put3(out, "</", p, ":requestHash>");
}

/* The wrapper's tag: <P:SERVICECODEResponse xmlns:P="..."> (open) or
 * </P:SERVICECODEResponse>, in the namespace of the request's wrapper. */
static int put_wrapper(struct buf *out, const struct soap_msg *req, int open)
{
	const xmlNs *rns = req->body_elem ? req->body_elem->ns : NULL;
	const xmlChar *p = NULL;

	if (rns && rns->href && rns->href[0])
		p = rns->prefix ? rns->prefix : BAD_CAST "m";
	if (buf_puts(out, open ? "<" : "</") < 0 ||
	    (p && (buf_puts(out, (const char *)p) < 0 || buf_puts(out, ":") < 0)) ||
	    buf_puts(out, req->service.service_code) < 0 || buf_puts(out, "Response") < 0 ||
	    (open && p && put_ns_decl(out, p, rns->href) < 0))
		return -1;
	return buf_puts(out, ">");
}

static void buf_cut(struct buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
}

int soap_response_begin(const struct soap_msg *req, const char *request_hash_b64, struct buf *out)
{
	size_t start = out->len;
	struct ns_ctx nc;
	int rc = -1;

	if (!req->doc || req->service.type != XRD_SERVICE)
		return -1;
	ns_ctx_init(&nc, req);
	if (req->header && !nc.list)
		goto out;   /* out of memory: the header's namespaces would be lost */
	if (buf_puts(out, ENV_OPEN) < 0)
		goto out;
	for (size_t i = 0; nc.list && nc.list[i]; i++)
		if (on_envelope(nc.list[i]) &&
		    put_ns_decl(out, nc.list[i]->prefix, nc.list[i]->href) < 0)
			goto out;
	if (buf_puts(out, "><SOAP-ENV:Header>") < 0)
		goto out;
	for (xmlNodePtr c = soap_first_el(req->header ? req->header->children : NULL); c;
	     c = soap_next_el(c))
		if (!soap_is_el(c, NS_XRD, "requestHash") && put_element(out, c, &nc) < 0)
			goto out;
	if (put_request_hash_text(out, &nc, request_hash_b64) < 0 ||
	    buf_puts(out, "</SOAP-ENV:Header><SOAP-ENV:Body>") < 0 || put_wrapper(out, req, 1) < 0)
		goto out;
	rc = 0;
out:
	xmlFree(nc.list);
	if (rc < 0)
		buf_cut(out, start);
	return rc;
}

int soap_response_end(const struct soap_msg *req, struct buf *out)
{
	size_t start = out->len;

	if (put_wrapper(out, req, 0) < 0 ||
	    buf_puts(out, "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n") < 0) {
		buf_cut(out, start);
		return -1;
	}
	return 0;
}

int soap_build_response_trusted(const struct soap_msg *req, const char *request_hash_b64,
				const char *inner_xml, size_t inner_len, struct buf *out)
{
	size_t start = out->len;

	if (soap_response_begin(req, request_hash_b64, out) < 0)
		return -1;
	if ((inner_len && buf_append(out, inner_xml, inner_len) < 0) ||
	    soap_response_end(req, out) < 0) {
		buf_cut(out, start);
		return -1;
	}
	return 0;
}

/* 0 if inner is well-formed content for the response's wrapper: parsed in
 * a small tree that declares what the response declares around it. */
static int check_inner(const struct soap_msg *req, const char *inner, size_t inner_len)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr env = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
	xmlNodePtr w = NULL, list = NULL;
	const xmlNs *rns = req->body_elem ? req->body_elem->ns : NULL;
	xmlNsPtr *nsl = req->header ? xmlGetNsList(req->doc, req->header) : NULL;
	int rc = -1;

	if (!env || inner_len > INT_MAX)
		goto out;
	xmlDocSetRootElement(doc, env);
	if (!xmlNewNs(env, BAD_CAST NS_SOAPENV, BAD_CAST "SOAP-ENV"))
		goto out;
	for (size_t i = 0; nsl && nsl[i]; i++)
		if (on_envelope(nsl[i]) && !xmlNewNs(env, nsl[i]->href, nsl[i]->prefix))
			goto out;
	w = xmlNewChild(env, NULL, BAD_CAST "w", NULL);
	if (!w)
		goto out;
	if (rns && rns->href && rns->href[0]) {
		xmlNsPtr ns = xmlNewNs(w, rns->href, rns->prefix ? rns->prefix : BAD_CAST "m");
		if (!ns)
			goto out;
		xmlSetNs(w, ns);
	}
	if (xmlParseInNodeContext(w, inner, (int)inner_len,
				  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
				  &list) == XML_ERR_OK)
		rc = 0;
out:
	xmlFreeNodeList(list);
	xmlFree(nsl);
	xmlFreeDoc(doc);
	return rc;
}

int soap_build_response(const struct soap_msg *req, const char *request_hash_b64,
			const char *inner_xml, size_t inner_len, struct buf *out)
{
	if (!inner_xml)
		inner_len = 0;
	if (!req->doc || (inner_len && check_inner(req, inner_xml, inner_len) < 0))
		return -1;
	return soap_build_response_trusted(req, request_hash_b64, inner_xml, inner_len, out);
}

/* ---- faults ------------------------------------------------------------- */

/* Appends s escaped, after making it valid UTF-8 without control bytes
 * (the struct may have been filled by hand). */
static int put_clean(struct buf *out, const char *s, size_t max)
{
	char tmp[FAULT_MSG_MAX];

	snprintf(tmp, sizeof(tmp) < max ? sizeof(tmp) : max, "%s", s ? s : "");
	fault_clean_text(tmp);
	return buf_xml_escape(out, tmp);
}

int soap_build_fault(const struct fault *f, const char *detail_uuid, struct buf *out)
{
	size_t start = out->len;

	if (buf_puts(out, ENV_OPEN "><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>") < 0 ||
	    put_clean(out, f->code, FAULT_CODE_MAX) < 0 ||
	    buf_puts(out, "</faultcode><faultstring>") < 0 ||
	    put_clean(out, f->message, FAULT_MSG_MAX) < 0 ||
	    buf_puts(out, "</faultstring><faultactor/><detail><faultDetail xmlns=\"\">") < 0 ||
	    put_clean(out, detail_uuid, FAULT_MSG_MAX) < 0 ||
	    buf_puts(out, "</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body>"
			  "</SOAP-ENV:Envelope>\n") < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

/* ---- checking a response ------------------------------------------------ */

static int same_name(const xmlNode *a, const xmlNode *b)
{
	return strcmp((const char *)a->name, (const char *)b->name) == 0 &&
	       strcmp(soap_ns_of(a), soap_ns_of(b)) == 0;
}

static int same_attrs(const xmlNode *a, const xmlNode *b)
{
	int na = 0, nb = 0;

	for (const xmlAttr *p = a->properties; p; p = p->next, na++) {
		const char *ns = p->ns && p->ns->href ? (const char *)p->ns->href : NULL;
		const char *va = soap_attr(a, ns, (const char *)p->name);
		const char *vb = soap_attr(b, ns, (const char *)p->name);
		if (!vb || strcmp(va, vb) != 0)
			return 0;
	}
	for (const xmlAttr *p = b->properties; p; p = p->next)
		nb++;
	return na == nb;
}

/* Text of leaves compared without surrounding whitespace. */
static int same_text(xmlNodePtr a, xmlNodePtr b)
{
	xmlChar *ta = xmlNodeGetContent(a), *tb = xmlNodeGetContent(b);
	const char *sa = ta ? (const char *)ta : "", *sb = tb ? (const char *)tb : "";
	size_t la, lb;
	int eq;

	while (*sa == ' ' || *sa == '\t' || *sa == '\r' || *sa == '\n')
		sa++;
	while (*sb == ' ' || *sb == '\t' || *sb == '\r' || *sb == '\n')
		sb++;
	la = strlen(sa);
	lb = strlen(sb);
	while (la && (sa[la - 1] == ' ' || sa[la - 1] == '\t' || sa[la - 1] == '\r' || sa[la - 1] == '\n'))
		la--;
	while (lb && (sb[lb - 1] == ' ' || sb[lb - 1] == '\t' || sb[lb - 1] == '\r' || sb[lb - 1] == '\n'))
		lb--;
	eq = la == lb && memcmp(sa, sb, la) == 0;
	xmlFree(ta);
	xmlFree(tb);
	return eq;
}

/* NULL if the element trees a and b are equal (names, attributes, leaf
 * text), else the node of a (or its parent) where they first differ. */
static xmlNodePtr first_diff(xmlNodePtr a, xmlNodePtr b)
{
	xmlNodePtr ca = soap_first_el(a->children), cb = soap_first_el(b->children);

	if (!same_name(a, b) || !same_attrs(a, b))
		return a;
	if (!ca && !cb)
		return same_text(a, b) ? NULL : a;
	for (; ca && cb; ca = soap_next_el(ca), cb = soap_next_el(cb)) {
		xmlNodePtr d = first_diff(ca, cb);
		if (d)
			return d;
	}
	return ca || cb ? a : NULL;
}

/* Walks both headers once, in order. Extra foreign headers in the response
 * are allowed (a provider may add its own); extra X-Road ones are not. */
static int compare_headers(const struct soap_msg *req, const struct soap_msg *resp,
			   struct fault *f)
{
	xmlNodePtr r = req->header ? soap_next_compared(soap_first_el(req->header->children)) : NULL;
	xmlNodePtr p = resp->header ? soap_first_el(resp->header->children) : NULL;
	char n1[160], n2[160];

	for (; p; p = soap_next_el(p)) {
		xmlNodePtr d;
		if (soap_is_el(p, NS_XRD, "requestHash"))
			continue;
		if (!r || !same_name(r, p)) {
			if (!soap_is_xroad_ns(soap_ns_of(p)))
				continue;
			return fault_set(f, F_CPROXY, "InconsistentResponse",
					 "response header %s found where the request had %s",
					 soap_label(p, n1, sizeof(n1)),
					 r ? soap_label(r, n2, sizeof(n2)) : "no more headers");
		}
		d = first_diff(r, p);
		if (d)
			return fault_set(f, F_CPROXY, "InconsistentResponse",
					 "response header %s differs from the request at %s",
					 soap_label(r, n1, sizeof(n1)), soap_label(d, n2, sizeof(n2)));
		r = soap_next_compared(soap_next_el(r));
	}
	if (r)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "response lacks the request header %s", soap_label(r, n1, sizeof(n1)));
	return 0;
}

int soap_check_response(const struct soap_msg *req, const struct soap_msg *resp,
			const char *expected_hash_b64, struct fault *f)
{
	if (resp->is_fault)
		return 0;
	if (compare_headers(req, resp, f) < 0)
		return -1;
	return soap_check_hash(resp->request_hash, resp->request_hash_alg, expected_hash_b64, f);
}

/* ---- requests ----------------------------------------------------------- */

static int put_id(struct buf *out, const char *tag, const struct xrd_id *id)
{
	static const char *const names[6] = { "xRoadInstance", "memberClass", "memberCode",
					      "subsystemCode", "serviceCode", "serviceVersion" };
	const char *vals[6] = { id->instance, id->member_class, id->member_code,
				id->subsystem, id->service_code, id->service_version };
	int n = id->type == XRD_MEMBER ? 3 : id->type == XRD_SUBSYSTEM ? 4 : 6;

	if (buf_printf(out, "<xrd:%s id:objectType=\"%s\">", tag, xrd_type_name(id->type)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (!vals[i][0])
			continue;
		if (buf_printf(out, "<id:%s>", names[i]) < 0 || buf_xml_escape(out, vals[i]) < 0 ||
		    buf_printf(out, "</id:%s>", names[i]) < 0)
			return -1;
	}
	return buf_printf(out, "</xrd:%s>", tag);
}

static int put_leaf(struct buf *out, const char *tag, const char *v)
{
	if (buf_printf(out, "<xrd:%s>", tag) < 0 || buf_xml_escape(out, v) < 0)
		return -1;
	return buf_printf(out, "</xrd:%s>", tag);
}

int soap_build_request(const struct xrd_id *client, const struct xrd_id *service,
		       const char *id, const char *user_id, const char *ns,
		       const char *inner_xml, struct buf *out)
{
	size_t start = out->len;
	const char *sc = service->service_code;

	if ((client->type != XRD_MEMBER && client->type != XRD_SUBSYSTEM) ||
	    service->type != XRD_SERVICE || !id || !id[0] || !xrd_part_valid(sc))
		return -1;
	if (buf_puts(out, ENV_OPEN " xmlns:xrd=\"" NS_XRD "\" xmlns:id=\"" NS_XRDID
			       "\"><SOAP-ENV:Header>") < 0 ||
	    put_id(out, "client", client) < 0 || put_id(out, "service", service) < 0 ||
	    put_leaf(out, "id", id) < 0 || (user_id && put_leaf(out, "userId", user_id) < 0) ||
	    put_leaf(out, "protocolVersion", XRD_PROTOCOL_VERSION) < 0 ||
	    buf_puts(out, "</SOAP-ENV:Header><SOAP-ENV:Body>") < 0)
		goto fail;
	if (ns ? (buf_printf(out, "<m:%s xmlns:m=\"", sc) < 0 || buf_xml_escape(out, ns) < 0 ||
		  buf_puts(out, "\">") < 0)
	       : buf_printf(out, "<%s>", sc) < 0)
		goto fail;
	if ((inner_xml && buf_puts(out, inner_xml) < 0) ||
	    buf_printf(out, ns ? "</m:%s>" : "</%s>", sc) < 0 ||
	    buf_puts(out, "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n") < 0)
		goto fail;
	return 0;
fail:
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return -1;
}

const char *soap_body_extra(const struct soap_msg *m)
{
	xmlNodePtr next = m->body_elem ? soap_next_el(m->body_elem) : NULL;

	return next ? (const char *)next->name : NULL;
}

void soap_body_params(const struct soap_msg *m, int (*cb)(const char *name, const char *value, void *arg),
		      void *arg)
{
	if (!m->body_elem || m->is_fault)
		return;
	for (xmlNodePtr c = soap_first_el(m->body_elem->children); c; c = soap_next_el(c)) {
		xmlChar *v;
		int stop;
		/* Structured parameters are not flattened into one string. */
		if (soap_first_el(c->children))
			continue;
		v = xmlNodeGetContent(c);
		stop = cb((const char *)c->name, v ? (const char *)v : "", arg);
		xmlFree(v);
		if (stop)
			break;
	}
}
