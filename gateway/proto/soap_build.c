/* SOAP: building responses, faults and requests, and checking a response
 * against its request. Parsing is in soap.c. */
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

/* ---- responses ---------------------------------------------------------- */

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

/* Points every reference to from in the subtree n at to. */
static void remap_ns(xmlNodePtr n, xmlNsPtr from, xmlNsPtr to)
{
	if (n->type != XML_ELEMENT_NODE)
		return;
	if (n->ns == from)
		n->ns = to;
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (a->ns == from)
			a->ns = to;
	for (xmlNodePtr c = n->children; c; c = c->next)
		remap_ns(c, from, to);
}

/* xmlDocCopyNode declares on a copy every namespace it used from outside
 * itself. Those the Envelope already declares (same prefix, same URI) are
 * dropped again, so the echoed headers look like the request's. */
static void drop_redundant_ns(xmlNodePtr copy, xmlNodePtr parent)
{
	xmlNsPtr *pp = &copy->nsDef;

	while (*pp) {
		xmlNsPtr d = *pp;
		xmlNsPtr e = d->prefix ? xmlSearchNs(copy->doc, parent, d->prefix) : NULL;
		if (e && e != d && xmlStrEqual(e->href, d->href)) {
			remap_ns(copy, d, e);
			*pp = d->next;
			d->next = NULL;
			xmlFreeNs(d);
		} else {
			pp = &d->next;
		}
	}
}

/* Declares on env the prefixed namespaces in scope at the request's Header
 * (not a default namespace: that would capture unprefixed inner_xml). */
static int declare_request_ns(const struct soap_msg *req, xmlNodePtr env)
{
	xmlNsPtr *list = req->header ? xmlGetNsList(req->doc, req->header) : NULL;

	for (size_t i = 0; list && list[i]; i++) {
		const xmlChar *p = list[i]->prefix;
		if (!p || xmlStrEqual(p, BAD_CAST "SOAP-ENV") || xmlStrEqual(p, BAD_CAST "xml"))
			continue;
		if (!xmlNewNs(env, list[i]->href, p)) {
			xmlFree(list);
			return -1;
		}
	}
	xmlFree(list);
	return 0;
}

/* Copies every request header except requestHash, in order. */
static int copy_headers(const struct soap_msg *req, xmlDocPtr doc, xmlNodePtr hdr)
{
	if (!req->header)
		return 0;
	for (xmlNodePtr c = soap_first_el(req->header->children); c; c = soap_next_el(c)) {
		xmlNodePtr copy;
		if (soap_is_el(c, NS_XRD, "requestHash"))
			continue;
		copy = xmlDocCopyNode(c, doc, 1);
		if (!copy || !xmlAddChild(hdr, copy)) {
			xmlFreeNode(copy);
			return -1;
		}
		drop_redundant_ns(copy, hdr);
	}
	return 0;
}

/* <P:SERVICECODEResponse> in the namespace of the request's wrapper, holding
 * the parsed inner_xml. */
static int add_wrapper(const struct soap_msg *req, xmlDocPtr doc, xmlNodePtr body,
		       const char *inner, size_t inner_len)
{
	char name[XRD_PART_MAX + 16];
	const xmlNs *rns = req->body_elem ? req->body_elem->ns : NULL;
	xmlNodePtr w, list = NULL;

	snprintf(name, sizeof(name), "%sResponse", req->service.service_code);
	w = xmlNewDocNode(doc, NULL, BAD_CAST name, NULL);
	if (!w || !xmlAddChild(body, w)) {
		xmlFreeNode(w);
		return -1;
	}
	if (rns && rns->href && rns->href[0]) {
		xmlNsPtr ns = xmlNewNs(w, rns->href, rns->prefix ? rns->prefix : BAD_CAST "m");
		if (!ns)
			return -1;
		xmlSetNs(w, ns);
	}
	if (!inner || inner_len == 0)
		return 0;
	if (inner_len > INT_MAX ||
	    xmlParseInNodeContext(w, inner, (int)inner_len,
				  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
				  &list) != XML_ERR_OK) {
		xmlFreeNodeList(list);
		return -1;
	}
	if (list && !xmlAddChildList(w, list)) {
		xmlFreeNodeList(list);
		return -1;
	}
	return 0;
}

#define INNER_MARK "ailgate-inner-fragment"

static int build_response(const struct soap_msg *req, const char *request_hash_b64,
			  const char *inner_xml, size_t inner_len, int trusted, struct buf *out)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr env, hdr, body;
	xmlNsPtr ns;
	int rc = -1;

	if (!doc || !req->doc || req->service.type != XRD_SERVICE)
		goto out;
	env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
	if (!env)
		goto out;
	xmlDocSetRootElement(doc, env);
	ns = xmlNewNs(env, BAD_CAST NS_SOAPENV, BAD_CAST "SOAP-ENV");
	if (!ns || declare_request_ns(req, env) < 0)
		goto out;
	xmlSetNs(env, ns);
	hdr = xmlNewChild(env, ns, BAD_CAST "Header", NULL);
	body = hdr ? xmlNewChild(env, ns, BAD_CAST "Body", NULL) : NULL;
	if (!body || copy_headers(req, doc, hdr) < 0 ||
	    put_request_hash(doc, hdr, request_hash_b64) < 0 ||
	    add_wrapper(req, doc, body, trusted ? NULL : inner_xml, trusted ? 0 : inner_len) < 0)
		goto out;
	if (trusted && inner_len > 0) {
		/* A comment marks where the fragment goes; it is spliced into the
		 * serialised text instead of being parsed into the tree. */
		xmlNodePtr w = soap_first_el(body->children);
		xmlNodePtr mark = xmlNewDocComment(doc, BAD_CAST INNER_MARK);
		if (!w || !mark || !xmlAddChild(w, mark)) {
			xmlFreeNode(mark);
			goto out;
		}
	}
	if (!trusted || inner_len == 0) {
		rc = serialise(doc, out);
	} else {
		struct buf tmp = BUF_INIT;
		const char *m;
		if (serialise(doc, &tmp) == 0 && (m = strstr(tmp.data, "<!--" INNER_MARK "-->"))) {
			size_t pre = (size_t)(m - tmp.data), mlen = sizeof("<!--" INNER_MARK "-->") - 1;
			rc = buf_append(out, tmp.data, pre) < 0 || buf_append(out, inner_xml, inner_len) < 0 ||
			     buf_append(out, m + mlen, tmp.len - pre - mlen) < 0 ? -1 : 0;
		}
		buf_free(&tmp);
	}
out:
	xmlFreeDoc(doc);
	return rc;
}

int soap_build_response(const struct soap_msg *req, const char *request_hash_b64,
			const char *inner_xml, size_t inner_len, struct buf *out)
{
	return build_response(req, request_hash_b64, inner_xml, inner_len, 0, out);
}

int soap_build_response_trusted(const struct soap_msg *req, const char *request_hash_b64,
				const char *inner_xml, size_t inner_len, struct buf *out)
{
	return build_response(req, request_hash_b64, inner_xml, inner_len, 1, out);
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

/* Next header at or after n that the comparison looks at (requestHash is
 * the one header a response adds). */
static xmlNodePtr next_compared(xmlNodePtr n)
{
	while (n && soap_is_el(n, NS_XRD, "requestHash"))
		n = soap_next_el(n);
	return n;
}

static int is_xroad_ns(const xmlNode *n)
{
	const char *ns = soap_ns_of(n);
	return strcmp(ns, NS_XRD) == 0 || strcmp(ns, NS_REPR) == 0;
}

/* Walks both headers once, in order. Extra foreign headers in the response
 * are allowed (a provider may add its own); extra X-Road ones are not. */
static int compare_headers(const struct soap_msg *req, const struct soap_msg *resp,
			   struct fault *f)
{
	xmlNodePtr r = req->header ? next_compared(soap_first_el(req->header->children)) : NULL;
	xmlNodePtr p = resp->header ? soap_first_el(resp->header->children) : NULL;
	char n1[160], n2[160];

	for (; p; p = soap_next_el(p)) {
		xmlNodePtr d;
		if (soap_is_el(p, NS_XRD, "requestHash"))
			continue;
		if (!r || !same_name(r, p)) {
			if (!is_xroad_ns(p))
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
		r = next_compared(soap_next_el(r));
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
	if (!resp->request_hash[0])
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "response has no xrd:requestHash");
	if (resp->request_hash_alg[0] && strcmp(resp->request_hash_alg, XRD_HASH_SHA512) != 0)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "xrd:requestHash uses algorithm \"%.100s\", expected " XRD_HASH_SHA512,
				 resp->request_hash_alg);
	if (strcmp(resp->request_hash, expected_hash_b64) != 0)
		return fault_set(f, F_CPROXY, "InconsistentResponse",
				 "xrd:requestHash does not match the request that was sent");
	return 0;
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
