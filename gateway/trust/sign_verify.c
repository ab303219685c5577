/* sign_verify: verifying SignedMessage documents.
 *
 * Order matters (README-sign.md, "Signature wrapping"): the document is
 * parsed with no DTD and no network, then its shape is checked against the
 * one shape we sign - every element, prefix, attribute, namespace
 * declaration and text node - and only then does any cryptography run.
 * Everything the caller is told comes from nodes this walk found at fixed
 * places, and the enveloped reference (URI="") covers the whole document
 * except the one Signature the walk found, so nothing read here lies outside
 * what the signature covers.
 *
 * The cryptography: for any document the walk accepts, the exclusive-c14n
 * form of each signed part equals what the signer's own functions write from
 * the walked values, so the built-in verifier rebuilds those bytes and checks
 * digests and signature value directly (half the CPU time of xmlsec's
 * generic transform machinery). sig_verify_opts.xmlsec hands the same checks
 * to xmlsec instead; the tests and the fuzz target hold the two to the same
 * verdicts. Either way the key is the one of the certificate we validated
 * ourselves: nothing is looked up from the document. */
#include "trust/sign_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/transforms.h>
#include <xmlsec/keys.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>

#include "lib/crypto.h"

#define WHY_MAX 200
/* Base64 of a SHA-256 digest: 44 characters. */
#define B64_SHA256_LEN 44
#define ID_MAX 100

enum content { C_EMPTY, C_TEXT, C_ELEMS };

/* What the shape walk found. Strings point into the document. */
struct sv {
	struct sig_parts p;       /* the values the signed bytes are made of */
	const char *props_uri, *target, *sigvalue, *ref_uri;
	const char *certs[1 + KEYS_CHAIN_MAX];
	size_t ncerts;
	xmlAttrPtr id_attr[4];    /* root, Signature, SignedProperties, Batch Id attributes */
	/* Batch form (p.batch_id set): the audit path, as written. */
	const char *index;
	const char *nodes[SIG_BATCH_DEPTH];
	size_t nnodes;
	/* Set by check_exact while it rebuilds the document (so no later step
	 * writes any part again): SHA-256 of the message fields (the leaf, and in
	 * the single form what the first Reference covers), of what the first
	 * Reference covers, of SignedProperties and of SignedInfo. */
	unsigned char msg_dg[SHA256_LEN], ref_dg[SHA256_LEN], props_dg[SHA256_LEN], si_dg[SHA256_LEN];
	xmlNodePtr sig;
	char why[WHY_MAX];
};

struct cur {
	xmlNodePtr next;
};

/* Records the first thing found wrong; returns -1. */
static int bad(struct sv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct sv *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->why[0]) {
		va_start(ap, fmt);
		vsnprintf(v->why, sizeof(v->why), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- parsing ------------------------------------------------------------------- */

struct parse_state {
	int dtd;
};

static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
			       const xmlChar *sys)
{
	xmlParserCtxtPtr c = ctx;

	((struct parse_state *)c->_private)->dtd = 1;
	xmlStopParser(c);
}

/* NONET: never fetch anything. No NOENT/DTDLOAD/HUGE: no entity is expanded,
 * no external subset read, libxml2 keeps its limits. A DOCTYPE stops the
 * parser at once. */
static xmlDocPtr parse(const char *xml, size_t len, struct sv *v)
{
	struct parse_state st = { 0 };
	xmlParserCtxtPtr c = xmlCreateMemoryParserCtxt(xml, (int)len);
	xmlDocPtr doc = NULL;

	if (!c) {
		bad(v, "out of memory parsing the signature document");
		return NULL;
	}
	(void)xmlCtxtUseOptions(c, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	c->_private = &st;
	c->sax->internalSubset = on_internal_subset;
	(void)xmlParseDocument(c);
	doc = c->myDoc;
	c->myDoc = NULL;
	if (st.dtd || (doc && doc->intSubset))
		bad(v, "a DTD is not allowed in a signature document");
	else if (!doc || !c->wellFormed || !c->nsWellFormed)
		bad(v, "signature document is not well-formed XML");
	else if (doc->encoding && strcasecmp((const char *)doc->encoding, "UTF-8") != 0)
		bad(v, "signature document must be UTF-8");
	else if (doc->version && strcmp((const char *)doc->version, "1.0") != 0)
		bad(v, "signature document must be XML 1.0"); /* what c14n 1.0 is defined on */
	xmlFreeParserCtxt(c);
	if (v->why[0]) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* ---- the shape walk ------------------------------------------------------------ */

static int ns_is(xmlNodePtr n, const char *ns)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

/* The prefix each of our namespaces is written with. Fixing it keeps the
 * canonical form of an accepted document equal to the bytes we rebuild. */
static const char *prefix_of(const char *ns)
{
	return !strcmp(ns, SIG_NS) ? "sm" : !strcmp(ns, SIG_NS_DS) ? "ds" : "xades";
}

/* An element may declare one namespace: the one of its own name (which the
 * caller has checked is the right one). Anything else would be a byte no
 * digest covers, since exclusive c14n drops declarations nothing uses. */
static int nsdefs_ok(struct sv *v, xmlNodePtr n)
{
	xmlNsPtr d = n->nsDef;

	if (d && (d->next || d != n->ns))
		return bad(v, "unexpected namespace declaration on <%s>", (const char *)n->name);
	return 0;
}

/* The value of an attribute as one text node ("" if empty); NULL otherwise. */
static const char *attr_value(xmlAttrPtr a)
{
	if (!a->children)
		return "";
	if (a->children->type != XML_TEXT_NODE || a->children->next)
		return NULL;
	return (const char *)a->children->content;
}

/* n has exactly the unqualified attributes names[0..count-1], each once. */
static int attrs_exact(struct sv *v, xmlNodePtr n, const char *const *names,
		       const char **vals, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		vals[i] = NULL;
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		for (i = 0; i < count; i++)
			if (strcmp((const char *)a->name, names[i]) == 0)
				break;
		if (a->ns || i == count || vals[i] || !(vals[i] = attr_value(a)))
			return bad(v, "unexpected attribute %s on <%s>", (const char *)a->name,
				   (const char *)n->name);
	}
	for (i = 0; i < count; i++)
		if (!vals[i])
			return bad(v, "attribute %s missing on <%s>", names[i], (const char *)n->name);
	return 0;
}

static int content_ok(struct sv *v, xmlNodePtr n, enum content ct, size_t max, const char **text)
{
	xmlNodePtr k = n->children;

	if (ct == C_ELEMS)
		return 0;
	if (ct == C_EMPTY) {
		if (k)
			return bad(v, "<%s> must be empty", (const char *)n->name);
		return 0;
	}
	if (!k || k->next || k->type != XML_TEXT_NODE || !k->content || !k->content[0])
		return bad(v, "<%s> must hold exactly one piece of text (no comments, CDATA or "
			      "elements)", (const char *)n->name);
	if (strlen((const char *)k->content) > max)
		return bad(v, "<%s> is too long", (const char *)n->name);
	*text = (const char *)k->content;
	return 0;
}

/* Takes the next child, which must be element ns:name with exactly the given
 * attributes and content. Any other node there (text, comment, PI, another
 * element) is an error. */
static xmlNodePtr take(struct sv *v, struct cur *c, const char *ns, const char *name,
		       enum content ct, size_t max, const char **text,
		       const char *const *anames, const char **avals, size_t acount)
{
	xmlNodePtr n = c->next;

	if (!n)
		return bad(v, "<%s> missing", name), NULL;
	if (n->type != XML_ELEMENT_NODE || !ns_is(n, ns) || strcmp((const char *)n->name, name))
		return bad(v, "unexpected node where <%s> belongs", name), NULL;
	if (!n->ns->prefix || strcmp((const char *)n->ns->prefix, prefix_of(ns)) != 0)
		return bad(v, "<%s> must be written with the prefix %s:", name, prefix_of(ns)), NULL;
	c->next = n->next;
	if (nsdefs_ok(v, n) != 0 || attrs_exact(v, n, anames, avals, acount) != 0 ||
	    content_ok(v, n, ct, max, text) != 0)
		return NULL;
	return n;
}

static int end_of(struct sv *v, struct cur *c, const char *parent)
{
	if (c->next)
		return bad(v, "unexpected content at the end of <%s>", parent);
	return 0;
}

static struct cur into(xmlNodePtr n)
{
	struct cur c = { n->children };
	return c;
}

/* An empty element whose only attribute is Algorithm="alg" (alg NULL: any, returned). */
static int take_alg(struct sv *v, struct cur *c, const char *ns, const char *name,
		    const char *alg, const char **got)
{
	static const char *const an[] = { "Algorithm" };
	const char *val[1];

	if (!take(v, c, ns, name, C_EMPTY, 0, NULL, an, val, 1))
		return -1;
	if (alg && strcmp(val[0], alg) != 0)
		return bad(v, "<%s> algorithm %s is not the one allowed here", name, val[0]);
	if (got)
		*got = val[0];
	return 0;
}

#define TAKE_PLAIN(v, c, ns, name, ct, max, text) take(v, c, ns, name, ct, max, text, NULL, NULL, 0)

/* <sm:Kind> ... <sm:ContentType>, in order; RequestHash only where present. */
static int walk_message(struct sv *v, struct cur *c)
{
	static const char *const alg[] = { "Algorithm" };
	const char *algv[1];

	if (!TAKE_PLAIN(v, c, SIG_NS, "Kind", C_TEXT, 16, &v->p.kind) ||
	    !TAKE_PLAIN(v, c, SIG_NS, "Client", C_TEXT, XRD_ID_TEXT_MAX - 1, &v->p.client) ||
	    !TAKE_PLAIN(v, c, SIG_NS, "Service", C_TEXT, XRD_ID_TEXT_MAX - 1, &v->p.service) ||
	    !TAKE_PLAIN(v, c, SIG_NS, "MessageId", C_TEXT, SIG_FIELD_MAX - 1, &v->p.message_id) ||
	    !TAKE_PLAIN(v, c, SIG_NS, "Time", C_TEXT, SIG_TIME_LEN, &v->p.time))
		return -1;
	if (c->next && c->next->type == XML_ELEMENT_NODE && ns_is(c->next, SIG_NS) &&
	    strcmp((const char *)c->next->name, "RequestHash") == 0 &&
	    !TAKE_PLAIN(v, c, SIG_NS, "RequestHash", C_TEXT, SIG_FIELD_MAX - 1, &v->p.request_hash))
		return -1;
	if (!take(v, c, SIG_NS, "BodyDigest", C_TEXT, B64_SHA256_LEN, &v->p.body_digest, alg, algv, 1) ||
	    !TAKE_PLAIN(v, c, SIG_NS, "ContentType", C_TEXT, SIG_FIELD_MAX - 1, &v->p.content_type))
		return -1;
	if (strcmp(algv[0], SIG_ALG_SHA256) != 0)
		return bad(v, "BodyDigest algorithm must be SHA-256");
	return 0;
}

static int walk_transforms(struct sv *v, struct cur *c, int enveloped)
{
	xmlNodePtr t = TAKE_PLAIN(v, c, SIG_NS_DS, "Transforms", C_ELEMS, 0, NULL);
	struct cur tc;

	if (!t)
		return -1;
	tc = into(t);
	if ((enveloped && take_alg(v, &tc, SIG_NS_DS, "Transform", SIG_ALG_ENVELOPED, NULL)) ||
	    take_alg(v, &tc, SIG_NS_DS, "Transform", SIG_ALG_EXC_C14N, NULL) ||
	    end_of(v, &tc, "Transforms"))
		return -1;
	return 0;
}

/* Reference URI="" (enveloped + exc-c14n), then Reference Type=SignedProperties
 * URI="#..." (exc-c14n); nothing else. */
static int walk_references(struct sv *v, struct cur *c)
{
	static const char *const r1[] = { "URI" }, *const r2[] = { "Type", "URI" };
	const char *v1[1], *v2[2];
	xmlNodePtr n;
	struct cur rc;

	if (!(n = take(v, c, SIG_NS_DS, "Reference", C_ELEMS, 0, NULL, r1, v1, 1)))
		return -1;
	/* Single form: the whole document; batch form: the Batch element (check_ids). */
	if (!v->p.batch_id && v1[0][0] != '\0')
		return bad(v, "the first Reference must have URI=\"\"");
	v->ref_uri = v1[0];
	rc = into(n);
	if (walk_transforms(v, &rc, 1) ||
	    take_alg(v, &rc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !TAKE_PLAIN(v, &rc, SIG_NS_DS, "DigestValue", C_TEXT, B64_SHA256_LEN, &v->p.msg_digest) ||
	    end_of(v, &rc, "Reference"))
		return -1;
	if (!(n = take(v, c, SIG_NS_DS, "Reference", C_ELEMS, 0, NULL, r2, v2, 2)))
		return -1;
	if (strcmp(v2[0], SIG_TYPE_PROPS) != 0)
		return bad(v, "the second Reference must be of type SignedProperties");
	v->props_uri = v2[1];
	rc = into(n);
	if (walk_transforms(v, &rc, 0) ||
	    take_alg(v, &rc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !TAKE_PLAIN(v, &rc, SIG_NS_DS, "DigestValue", C_TEXT, B64_SHA256_LEN, &v->p.props_digest) ||
	    end_of(v, &rc, "Reference"))
		return -1;
	return 0;
}

static int walk_signed_info(struct sv *v, struct cur *c)
{
	xmlNodePtr si = TAKE_PLAIN(v, c, SIG_NS_DS, "SignedInfo", C_ELEMS, 0, NULL);
	struct cur sc;

	if (!si)
		return -1;
	sc = into(si);
	if (take_alg(v, &sc, SIG_NS_DS, "CanonicalizationMethod", SIG_ALG_EXC_C14N, NULL) ||
	    take_alg(v, &sc, SIG_NS_DS, "SignatureMethod", NULL, &v->p.sig_alg) ||
	    walk_references(v, &sc) || end_of(v, &sc, "SignedInfo"))
		return -1;
	if (strcmp(v->p.sig_alg, SIG_ALG_ECDSA_SHA256) && strcmp(v->p.sig_alg, SIG_ALG_RSA_SHA256))
		return bad(v, "signature method must be ecdsa-sha256 or rsa-sha256");
	return 0;
}

static int walk_key_info(struct sv *v, struct cur *c)
{
	xmlNodePtr ki = TAKE_PLAIN(v, c, SIG_NS_DS, "KeyInfo", C_ELEMS, 0, NULL), xd;
	struct cur kc, xc;

	if (!ki)
		return -1;
	kc = into(ki);
	if (!(xd = TAKE_PLAIN(v, &kc, SIG_NS_DS, "X509Data", C_ELEMS, 0, NULL)) ||
	    end_of(v, &kc, "KeyInfo"))
		return -1;
	xc = into(xd);
	while (xc.next) {
		if (v->ncerts == 1 + KEYS_CHAIN_MAX)
			return bad(v, "too many certificates in X509Data (at most %d)",
				   1 + KEYS_CHAIN_MAX);
		if (!TAKE_PLAIN(v, &xc, SIG_NS_DS, "X509Certificate", C_TEXT, SIG_CERT_B64_MAX,
				&v->certs[v->ncerts]))
			return -1;
		v->ncerts++;
	}
	if (v->ncerts == 0)
		return bad(v, "X509Data holds no certificate");
	return 0;
}

/* SignedSignatureProperties: SigningTime, SigningCertificateV2/Cert/(CertDigest, IssuerSerialV2). */
static int walk_signed_sig_props(struct sv *v, struct cur *c)
{
	xmlNodePtr ssp, scv2, cert, cd;
	struct cur sc, vc, cc, dc;

	if (!(ssp = TAKE_PLAIN(v, c, SIG_NS_XADES, "SignedSignatureProperties", C_ELEMS, 0, NULL)))
		return -1;
	sc = into(ssp);
	if (!TAKE_PLAIN(v, &sc, SIG_NS_XADES, "SigningTime", C_TEXT, SIG_TIME_LEN, &v->p.signing_time) ||
	    !(scv2 = TAKE_PLAIN(v, &sc, SIG_NS_XADES, "SigningCertificateV2", C_ELEMS, 0, NULL)) ||
	    end_of(v, &sc, "SignedSignatureProperties"))
		return -1;
	vc = into(scv2);
	if (!(cert = TAKE_PLAIN(v, &vc, SIG_NS_XADES, "Cert", C_ELEMS, 0, NULL)) ||
	    end_of(v, &vc, "SigningCertificateV2"))
		return -1;
	cc = into(cert);
	if (!(cd = TAKE_PLAIN(v, &cc, SIG_NS_XADES, "CertDigest", C_ELEMS, 0, NULL)) ||
	    !TAKE_PLAIN(v, &cc, SIG_NS_XADES, "IssuerSerialV2", C_TEXT, 4096, &v->p.issuer_serial) ||
	    end_of(v, &cc, "Cert"))
		return -1;
	dc = into(cd);
	if (take_alg(v, &dc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !TAKE_PLAIN(v, &dc, SIG_NS_DS, "DigestValue", C_TEXT, B64_SHA256_LEN, &v->p.cert_digest) ||
	    end_of(v, &dc, "CertDigest"))
		return -1;
	return 0;
}

/* Object/QualifyingProperties(Target)/SignedProperties(Id): nothing else. */
static int walk_object(struct sv *v, struct cur *c)
{
	static const char *const tn[] = { "Target" }, *const idn[] = { "Id" };
	const char *tv[1], *idv[1];
	xmlNodePtr obj, qp, sp;
	struct cur oc, qc, pc;

	if (!(obj = TAKE_PLAIN(v, c, SIG_NS_DS, "Object", C_ELEMS, 0, NULL)))
		return -1;
	oc = into(obj);
	if (!(qp = take(v, &oc, SIG_NS_XADES, "QualifyingProperties", C_ELEMS, 0, NULL, tn, tv, 1)) ||
	    end_of(v, &oc, "Object"))
		return -1;
	v->target = tv[0];
	qc = into(qp);
	if (!(sp = take(v, &qc, SIG_NS_XADES, "SignedProperties", C_ELEMS, 0, NULL, idn, idv, 1)) ||
	    end_of(v, &qc, "QualifyingProperties"))
		return -1;
	v->p.props_id = idv[0];
	v->id_attr[2] = sp->properties;
	pc = into(sp);
	if (walk_signed_sig_props(v, &pc) || end_of(v, &pc, "SignedProperties"))
		return -1;
	return 0;
}

static int walk_signature(struct sv *v, struct cur *c)
{
	static const char *const idn[] = { "Id" };
	const char *idv[1];
	struct cur sc;

	if (!(v->sig = take(v, c, SIG_NS_DS, "Signature", C_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.sig_id = idv[0];
	v->id_attr[1] = v->sig->properties;
	sc = into(v->sig);
	if (walk_signed_info(v, &sc) ||
	    !TAKE_PLAIN(v, &sc, SIG_NS_DS, "SignatureValue", C_TEXT, 4 * KEYS_SIG_MAX / 3 + 4,
			&v->sigvalue) ||
	    walk_key_info(v, &sc) || walk_object(v, &sc) || end_of(v, &sc, "Signature"))
		return -1;
	return 0;
}

/* Batch form: BatchProof(Index)/Node*, then Batch(Id)/(Root(Count), Signature).
 * The Count is signed: with it the Index and path have one spelling. */
static int walk_batch(struct sv *v, struct cur *c)
{
	static const char *const pn[] = { "Index" }, *const idn[] = { "Id" };
	static const char *const an[] = { "Algorithm", "Count" };
	const char *pv[1], *idv[1], *av[2];
	xmlNodePtr n;
	struct cur pc, bc;

	if (!(n = take(v, c, SIG_NS, "BatchProof", C_ELEMS, 0, NULL, pn, pv, 1)))
		return -1;
	v->index = pv[0];
	pc = into(n);
	while (pc.next) {
		if (v->nnodes == SIG_BATCH_DEPTH)
			return bad(v, "BatchProof is longer than %d nodes", SIG_BATCH_DEPTH);
		if (!TAKE_PLAIN(v, &pc, SIG_NS, "Node", C_TEXT, B64_SHA256_LEN, &v->nodes[v->nnodes]))
			return -1;
		v->nnodes++;
	}
	if (!(n = take(v, c, SIG_NS, "Batch", C_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.batch_id = idv[0];
	v->id_attr[3] = n->properties;
	bc = into(n);
	if (!take(v, &bc, SIG_NS, "Root", C_TEXT, B64_SHA256_LEN, &v->p.root, an, av, 2) ||
	    walk_signature(v, &bc) || end_of(v, &bc, "Batch"))
		return -1;
	if (strcmp(av[0], SIG_ALG_SHA256) != 0)
		return bad(v, "Root algorithm must be SHA-256");
	v->p.batch_count = av[1];
	return 0;
}

/* An Id we accept: an NCName of letters, digits, '.', '-', '_'. */
static int id_ok(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= ID_MAX && !strchr("0123456789.-", s[0]) &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* The three Ids are well-formed and distinct, the references point where
 * they must, and no attribute is an ID in libxml2's eyes (no DTD, no xml:id). */
static int check_ids(struct sv *v, xmlDocPtr doc)
{
	const char *ids[4] = { v->p.root_id, v->p.sig_id, v->p.props_id, v->p.batch_id };
	int n = v->p.batch_id ? 4 : 3;

	for (int i = 0; i < n; i++) {
		if (!id_ok(ids[i]))
			return bad(v, "Id attribute value is not an allowed identifier");
		for (int j = 0; j < i; j++)
			if (!strcmp(ids[i], ids[j]))
				return bad(v, "Id attribute values are not unique");
	}
	if (v->p.batch_id && (v->ref_uri[0] != '#' || strcmp(v->ref_uri + 1, v->p.batch_id) != 0))
		return bad(v, "the first Reference does not point to this document's Batch");
	if (v->props_uri[0] != '#' || strcmp(v->props_uri + 1, v->p.props_id) != 0)
		return bad(v, "the SignedProperties Reference does not point to this signature's "
			      "SignedProperties");
	if (v->target[0] != '#' || strcmp(v->target + 1, v->p.sig_id) != 0)
		return bad(v, "QualifyingProperties Target does not point to this signature");
	if (doc->ids)
		return bad(v, "unexpected ID attributes in the document");
	return 0;
}

/* The whole document: exactly one root element (no comments or PIs around
 * it), sm:SignedMessage with only Id, then the message fields and the one
 * Signature as last child. */
static int walk(struct sv *v, xmlDocPtr doc)
{
	static const char *const idn[] = { "Id" };
	const char *idv[1];
	xmlNodePtr root = xmlDocGetRootElement(doc);
	struct cur dc = { doc->children }, rc;

	if (!root || doc->children != root || root->next || root->prev)
		return bad(v, "the document must consist of the SignedMessage element alone");
	if (!(root = take(v, &dc, SIG_NS, "SignedMessage", C_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.root_id = idv[0];
	v->id_attr[0] = root->properties;
	rc = into(root);
	if (walk_message(v, &rc))
		return -1;
	if (rc.next && rc.next->type == XML_ELEMENT_NODE && ns_is(rc.next, SIG_NS) &&
	    strcmp((const char *)rc.next->name, "BatchProof") == 0) {
		if (walk_batch(v, &rc))
			return -1;
	} else if (walk_signature(v, &rc)) {
		return -1;
	}
	if (end_of(v, &rc, "SignedMessage"))
		return -1;
	return check_ids(v, doc);
}

/* ---- checks after the walk ----------------------------------------------------- */

/* base64 text that must decode to exactly want bytes into out. */
static int b64_exact(const char *s, unsigned char *out, size_t want)
{
	unsigned char tmp[KEYS_SIG_MAX + 8];
	long n = sig_b64_decode(s, strlen(s), tmp, sizeof(tmp));

	if (n < 0 || (size_t)n != want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

/* A decimal 0..max without sign, spaces or leading zeros; -1 otherwise. */
static long dec_value(const char *s, long max)
{
	long n = 0;

	if (!s[0] || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > max / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n <= max ? n : -1;
}

static int check_batch_fields(struct sv *v)
{
	unsigned char dg[SHA256_LEN];
	long idx = dec_value(v->index, SIG_BATCH_MAX), cnt = dec_value(v->p.batch_count, SIG_BATCH_MAX);

	if (idx < 0 || cnt < 2 || idx >= cnt)
		return bad(v, "BatchProof Index and Root Count must be decimal, 0 <= Index < Count, 2 <= Count <= %d",
			   SIG_BATCH_MAX);
	if (b64_exact(v->p.root, dg, sizeof(dg)) != 0)
		return bad(v, "Root is not the base64 of a SHA-256 digest");
	for (size_t i = 0; i < v->nnodes; i++)
		if (b64_exact(v->nodes[i], dg, sizeof(dg)) != 0)
			return bad(v, "a BatchProof Node is not the base64 of a SHA-256 digest");
	return 0;
}

/* Batch form: this document's fields (their digest from check_exact), folded
 * with its audit path, must give the Root the signature covers. */
static int check_batch_proof(struct sv *v)
{
	unsigned char path[SIG_BATCH_DEPTH][32], root[SHA256_LEN], want[SHA256_LEN];
	int rc = -1;

	for (size_t i = 0; i < v->nnodes; i++)
		if (b64_exact(v->nodes[i], path[i], 32) != 0)
			goto out;
	if (b64_exact(v->p.root, want, sizeof(want)) != 0)
		goto out;
	if (sig_tree_fold(v->msg_dg, (size_t)dec_value(v->index, SIG_BATCH_MAX), (size_t)dec_value(v->p.batch_count, SIG_BATCH_MAX),
			  (const unsigned char (*)[32])path, v->nnodes, root) != 0 ||
	    CRYPTO_memcmp(root, want, sizeof(root)) != 0) {
		bad(v, "the message fields and their BatchProof do not lead to the signed Root");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && !v->why[0])
		bad(v, "the BatchProof cannot be checked");
	return rc;
}

/* Values that must parse: kind, identifiers, times, base64 fields. Fills the
 * result's copies as it goes. */
static int check_fields(struct sv *v, struct sig_result *r)
{
	unsigned char dg[SHA256_LEN], sigbuf[KEYS_SIG_MAX];
	char e[128];
	long n;

	r->kind = !strcmp(v->p.kind, "request") ? SIG_REQUEST :
		  !strcmp(v->p.kind, "response") ? SIG_RESPONSE : SIG_KIND_NONE;
	if (r->kind == SIG_KIND_NONE)
		return bad(v, "Kind must be request or response");
	if ((r->kind == SIG_RESPONSE) != (v->p.request_hash != NULL))
		return bad(v, "RequestHash must be present in a response and only there");
	if (xrd_id_parse(v->p.client, &r->client_id, e, sizeof(e)) != 0 ||
	    (r->client_id.type != XRD_MEMBER && r->client_id.type != XRD_SUBSYSTEM))
		return bad(v, "Client is not a MEMBER or SUBSYSTEM identifier");
	if (xrd_id_parse(v->p.service, &r->service_id, e, sizeof(e)) != 0 ||
	    r->service_id.type != XRD_SERVICE)
		return bad(v, "Service is not a SERVICE identifier");
	if (!sig_text_ok(v->p.message_id, SIG_FIELD_MAX) || !sig_ascii_ok(v->p.content_type, SIG_FIELD_MAX) ||
	    (v->p.request_hash && !sig_b64_ok(v->p.request_hash, SIG_FIELD_MAX)))
		return bad(v, "MessageId, ContentType or RequestHash holds characters not allowed");
	if (b64_exact(v->p.msg_digest, dg, sizeof(dg)) || b64_exact(v->p.props_digest, dg, sizeof(dg)) ||
	    b64_exact(v->p.cert_digest, dg, sizeof(dg)) || b64_exact(v->p.body_digest, dg, sizeof(dg)))
		return bad(v, "a digest value is not the base64 of a SHA-256 digest");
	if ((n = sig_b64_decode(v->sigvalue, strlen(v->sigvalue), sigbuf, sizeof(sigbuf))) < 64)
		return bad(v, "SignatureValue is not base64 or too short");
	if (v->p.batch_id && check_batch_fields(v) != 0)
		return -1;
	if (sig_time_parse(v->p.time, &r->time) != 0)
		return bad(v, "Time is not of the form 2026-11-22T05:00:00.123Z");
	if (strcmp(v->p.time, v->p.signing_time) != 0)
		return bad(v, "SigningTime differs from Time");
	snprintf(r->client, sizeof(r->client), "%s", v->p.client);
	snprintf(r->service, sizeof(r->service), "%s", v->p.service);
	snprintf(r->message_id, sizeof(r->message_id), "%s", v->p.message_id);
	snprintf(r->request_hash, sizeof(r->request_hash), "%s", v->p.request_hash ? v->p.request_hash : "");
	snprintf(r->content_type, sizeof(r->content_type), "%s", v->p.content_type);
	return 0;
}

/* XAdES SigningCertificateV2 must name the certificate KeyInfo gave us:
 * otherwise a signer could swap in another of its certificates. */
static int check_signing_cert(struct sv *v, const struct sig_signer *s)
{
	unsigned char got[SHA256_LEN];

	if (b64_exact(v->p.cert_digest, got, sizeof(got)) != 0 ||
	    CRYPTO_memcmp(got, s->cert_sha256, sizeof(got)) != 0)
		return bad(v, "SigningCertificateV2 digest does not match the KeyInfo certificate");
	if (strcmp(s->issuer_serial_b64, v->p.issuer_serial) != 0)
		return bad(v, "IssuerSerialV2 does not match the KeyInfo certificate");
	return 0;
}

/* ---- cryptography ----------------------------------------------------------------- */

/* XML-DSig ECDSA values are r||s; OpenSSL verifies DER. Only the low-s form
 * our signer writes is accepted, so a signature value has one spelling. */
static int ecdsa_raw_to_der(const unsigned char *raw, size_t len, unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *sv = BN_bin2bn(raw + 32, 32, NULL);
	int n = -1;

	if (len != 64 || !es || !r || !sv || !sig_ecdsa_low_s(raw + 32) ||
	    ECDSA_SIG_set0(es, r, sv) != 1) {
		BN_free(r);
		BN_free(sv);
	} else {
		n = i2d_ECDSA_SIG(es, der);
	}
	ECDSA_SIG_free(es);
	return n;
}

/* Verifies the signature value over the SHA-256 digest dg with pk. */
static int verify_value(EVP_PKEY *pk, int alg, const unsigned char *dg, const unsigned char *sig,
			size_t siglen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	unsigned char *der = NULL;
	int derlen, ok = 0;

	if (!c || EVP_PKEY_verify_init(c) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1)
		goto out;
	if (alg == KEY_ALG_ECDSA_P256) {
		if ((derlen = ecdsa_raw_to_der(sig, siglen, &der)) > 0)
			ok = EVP_PKEY_verify(c, der, (size_t)derlen, dg, SHA256_LEN) == 1;
	} else if (siglen == (size_t)EVP_PKEY_get_size(pk) &&
		   EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1) {
		ok = EVP_PKEY_verify(c, sig, siglen, dg, SHA256_LEN) == 1;
	}
out:
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* Verified batch signatures, per thread: every message of a batch carries
 * the same signature, so its key operation runs once per batch, not once per
 * message. The key binds the SignedInfo digest (so the Root and SigningTime),
 * the signature value and the certificate; everything else is checked for
 * every message as before. Only successes are kept. */
#define VCACHE_N 32
static _Thread_local unsigned char vcache[VCACHE_N][SHA256_LEN];
static _Thread_local unsigned vcache_used, vcache_next;

static int vcache_key(const unsigned char dg[SHA256_LEN], const unsigned char *sig, size_t siglen,
		      const struct sig_signer *s, unsigned char key[SHA256_LEN])
{
	unsigned char in[SHA256_LEN * 2 + KEYS_SIG_MAX];

	if (siglen > KEYS_SIG_MAX)
		return -1;
	memcpy(in, dg, SHA256_LEN);
	memcpy(in + SHA256_LEN, s->cert_sha256, SHA256_LEN);
	memcpy(in + 2 * SHA256_LEN, sig, siglen);
	return sig_sha256(in, 2 * SHA256_LEN + siglen, key);
}

static int vcache_has(const unsigned char key[SHA256_LEN])
{
	for (unsigned i = 0; i < vcache_used; i++)
		if (memcmp(vcache[i], key, SHA256_LEN) == 0)
			return 1;
	return 0;
}

static void vcache_put(const unsigned char key[SHA256_LEN])
{
	memcpy(vcache[vcache_next], key, SHA256_LEN);
	vcache_next = (vcache_next + 1) % VCACHE_N;
	if (vcache_used < VCACHE_N)
		vcache_used++;
}

/* The built-in verifier. After the walk, the exclusive-c14n form of each
 * signed part of an accepted document is exactly what the signer's own
 * functions write from the walked values (README-sign.md proves it; the
 * tests hold it against xmlsec), so check the two reference digests and the
 * signature value over the digests check_exact took of those bytes. */
static int builtin_verify(struct sv *v, const struct sig_signer *s)
{
	unsigned char want[SHA256_LEN], sig[KEYS_SIG_MAX], key[SHA256_LEN];
	long siglen;
	int rc = -1;

	if (b64_exact(v->p.msg_digest, want, sizeof(want)) != 0)
		goto out;
	if (CRYPTO_memcmp(v->ref_dg, want, sizeof(want)) != 0) {
		bad(v, v->p.batch_id ? "the Batch element does not match its signed digest" :
				       "the message fields do not match their signed digest");
		goto out;
	}
	if (b64_exact(v->p.props_digest, want, sizeof(want)) != 0)
		goto out;
	if (CRYPTO_memcmp(v->props_dg, want, sizeof(want)) != 0) {
		bad(v, "SignedProperties do not match their signed digest");
		goto out;
	}
	siglen = sig_b64_decode(v->sigvalue, strlen(v->sigvalue), sig, sizeof(sig));
	if (siglen <= 0)
		goto out;
	if (v->p.batch_id && vcache_key(v->si_dg, sig, (size_t)siglen, s, key) == 0 && vcache_has(key)) {
		rc = 0;
		goto out;
	}
	rc = verify_value(X509_get0_pubkey(s->leaf), s->alg, v->si_dg, sig, (size_t)siglen);
	if (rc == 0 && v->p.batch_id)
		vcache_put(key);
out:
	if (rc != 0)
		bad(v, "signature does not verify");
	return rc;
}

/* The xmlsec verifier (sig_verify_opts.xmlsec): the same verdicts, slower.
 * xmlsec checks both references and the signature value with the key we
 * validated; it never reads KeyInfo (the key is set) and may use only the
 * algorithms we allow. IDs are registered for it: none can exist before (no
 * DTD, no xml:id: the walk refused them). */
static int xmlsec_verify(struct sv *v, xmlDocPtr doc, const struct sig_signer *s)
{
	const char *ids[4] = { v->p.root_id, v->p.sig_id, v->p.props_id, v->p.batch_id };
	xmlSecDSigCtxPtr d = NULL;
	xmlSecKeyDataPtr data = NULL;
	EVP_PKEY *pk = X509_get0_pubkey(s->leaf);
	int ok = 0;

	for (int i = 0; i < (v->p.batch_id ? 4 : 3); i++)
		if (!xmlAddID(NULL, doc, (const xmlChar *)ids[i], v->id_attr[i]))
			goto out;
	if (!(d = xmlSecDSigCtxCreate(NULL)))
		goto out;
	d->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
	if (xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformSha256Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, s->alg == KEY_ALG_RSA ?
				xmlSecTransformRsaSha256Id : xmlSecTransformEcdsaSha256Id) < 0)
		goto out;
	if (!(d->signKey = xmlSecKeyCreate()) || EVP_PKEY_up_ref(pk) != 1)
		goto out;
	if (!(data = xmlSecOpenSSLEvpKeyAdopt(pk))) {
		EVP_PKEY_free(pk);
		goto out;
	}
	if (xmlSecKeySetValue(d->signKey, data) < 0) {
		xmlSecKeyDataDestroy(data);
		goto out;
	}
	ok = xmlSecDSigCtxVerify(d, v->sig) == 0 && d->status == xmlSecDSigStatusSucceeded;
out:
	if (d)
		xmlSecDSigCtxDestroy(d);
	if (!ok)
		bad(v, "signature does not verify");
	return ok ? 0 : -1;
}

/* ---- verify ------------------------------------------------------------------------ */

struct vctx {
	const char *pfx;
	time_t now;
	long skew;
	int xmlsec;
	struct fault *f;
};

/* Certificate, then the cheap checks, then the signature. */
static int verify_signer(struct vctx *x, struct sv *v, xmlDocPtr doc, X509_STORE *trust,
			 struct sig_result *r)
{
	struct sig_signer s;
	char why[WHY_MAX];
	enum sig_trust_rc trc;
	int rc = -1;

	trc = sig_trust_check(trust, v->certs, v->ncerts, x->now, &s, why, sizeof(why));
	if (trc == SIG_TRUST_BAD_CERT)
		return fault_set(x->f, x->pfx, "MalformedSignature", "%s", why);
	if (trc == SIG_TRUST_REFUSED)
		return fault_set(x->f, x->pfx, "CertValidation", "%s", why);
	if (trc != SIG_TRUST_OK)
		return fault_set(x->f, x->pfx, "InternalError", "%s", why);
	if (!s.member_class[0])
		fault_set(x->f, x->pfx, "IncorrectCertificate", "signing certificate names no "
			  "member (subject serialNumber must be CLASS/CODE and CN the CODE)");
	else if (check_signing_cert(v, &s) != 0)
		fault_set(x->f, x->pfx, "InvalidSignatureValue", "%s", v->why);
	else if (strcmp(v->p.sig_alg, s.alg == KEY_ALG_RSA ? SIG_ALG_RSA_SHA256 :
							     SIG_ALG_ECDSA_SHA256) != 0)
		fault_set(x->f, x->pfx, "InvalidSignatureValue",
			  "signature method does not fit the certificate's key");
	else if (llabs((long long)r->time.tv_sec - (long long)x->now) > x->skew)
		fault_set(x->f, x->pfx, "InvalidSignatureValue", "signing time %s is more than %ld s "
			  "away from this gateway's clock", v->p.signing_time, x->skew);
	else if ((x->xmlsec ? xmlsec_verify(v, doc, &s) : builtin_verify(v, &s)) != 0)
		fault_set(x->f, x->pfx, "InvalidSignatureValue", "%s", v->why);
	else
		rc = 0;
	if (rc != 0) {
		X509_free(s.leaf);
		return rc;
	}
	r->signer = s.leaf;
	memcpy(r->member_class, s.member_class, sizeof(r->member_class));
	memcpy(r->member_code, s.member_code, sizeof(r->member_code));
	return 0;
}

/* The document must be byte for byte what the signer writes from the values
 * the walk found. Spellings the parser erases - single quotes, character
 * references, spaces inside tags, a repeated declaration, an XML
 * declaration - change no value, but would give one signed message many
 * logged forms. On the way it takes the digests of the signed parts
 * (struct sv), which the cryptographic checks then use. */
static int check_exact(struct sv *v, const char *xml, size_t len)
{
	struct buf b, props;
	size_t at;
	int ok;

	buf_init(&b, SIG_XML_MAX + 1);
	buf_init(&props, SIG_XML_MAX);
	ok = sig_put_message_part(&b, &v->p) == 0 && sig_digest_message_part(&b, 0, v->msg_dg) == 0;
	memcpy(v->ref_dg, v->msg_dg, SHA256_LEN);
	if (ok && v->p.batch_id) {
		ok = sig_put_proof(&b, v->index, v->nodes, v->nnodes) == 0;
		at = b.len;
		ok = ok && sig_put_batch_part(&b, &v->p) == 0 && sig_digest_batch_part(&b, at, v->ref_dg) == 0;
	}
	ok = ok && buf_puts(&b, "<ds:Signature xmlns:ds=\"" SIG_NS_DS "\" Id=\"") == 0 &&
	     buf_puts(&b, v->p.sig_id) == 0 && buf_puts(&b, "\">") == 0;
	at = b.len;
	ok = ok && sig_put_signed_info(&b, &v->p) == 0 && sig_sha256(b.data + at, b.len - at, v->si_dg) == 0 &&
	     sig_put_signed_props(&props, &v->p) == 0 && sig_sha256(props.data, props.len, v->props_dg) == 0 &&
	     sig_put_signature_tail(&b, &v->p, v->sigvalue, v->certs, v->ncerts, &props) == 0 &&
	     buf_puts(&b, v->p.batch_id ? "</sm:Batch></sm:SignedMessage>" : "</sm:SignedMessage>") == 0 &&
	     b.len == len && memcmp(b.data, xml, len) == 0;
	if (!ok)
		bad(v, "the document is not written the one way a signer writes it (no XML declaration, "
		       "double quotes, no character references, no spaces inside tags, no repeated "
		       "declarations)");
	buf_free(&b);
	buf_free(&props);
	return ok ? 0 : -1;
}

static int verify_parsed(struct vctx *x, struct sv *v, xmlDocPtr doc, const char *xml, size_t xml_len,
			 const unsigned char *body_sha256, X509_STORE *trust, struct sig_result *r)
{
	unsigned char bd[SHA256_LEN];

	if (check_fields(v, r) != 0 || check_exact(v, xml, xml_len) != 0)
		return fault_set(x->f, x->pfx, "MalformedSignature", "%s", v->why);
	if (b64_exact(v->p.body_digest, bd, sizeof(bd)) != 0 ||
	    CRYPTO_memcmp(bd, body_sha256, sizeof(bd)) != 0)
		return fault_set(x->f, x->pfx, "InvalidSignatureValue",
				 "body digest differs: the body is not the one that was signed");
	if (v->p.batch_id && check_batch_proof(v) != 0)
		return fault_set(x->f, x->pfx, "InvalidSignatureValue", "%s", v->why);
	return verify_signer(x, v, doc, trust, r);
}

int sig_verify_digest(const char *xml, size_t xml_len, const unsigned char body_sha256[32],
		      X509_STORE *trust, const struct sig_verify_opts *o, struct sig_result *out,
		      struct fault *f)
{
	struct vctx x = { o && o->prefix ? o->prefix : F_SPROXY, 0, SIG_DEFAULT_SKEW_S,
			  o ? o->xmlsec : 0, f };
	struct sv *v = NULL;
	xmlDocPtr doc = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	x.now = o && o->now ? o->now : time(NULL);
	if (o && o->max_skew_s > 0)
		x.skew = o->max_skew_s;
	if (!xml || xml_len == 0)
		return fault_set(f, x.pfx, "MissingSignature", "the message carries no signature");
	if (!sig_ready() || !trust || !body_sha256)
		return fault_set(f, x.pfx, "InternalError", "signature verification is not set up");
	if (xml_len > SIG_XML_MAX)
		return fault_set(f, x.pfx, "MalformedSignature",
				 "signature document is larger than %d bytes", SIG_XML_MAX);
	if (!(v = calloc(1, sizeof(*v))))
		return fault_set(f, x.pfx, "InternalError", "out of memory");
	if (!(doc = parse(xml, xml_len, v)) || walk(v, doc) != 0)
		fault_set(f, x.pfx, "MalformedSignature", "%s", v->why);
	else
		rc = verify_parsed(&x, v, doc, xml, xml_len, body_sha256, trust, out);
	xmlFreeDoc(doc);
	free(v);
	if (rc != 0)
		sig_result_free(out);
	return rc;
}

int sig_verify(const char *xml, size_t xml_len, const void *body, size_t body_len,
	       X509_STORE *trust, const struct sig_verify_opts *o, struct sig_result *out,
	       struct fault *f)
{
	unsigned char dg[SHA256_LEN];

	memset(out, 0, sizeof(*out));
	if (sig_sha256(body ? body : "", body ? body_len : 0, dg) != 0)
		return fault_set(f, o && o->prefix ? o->prefix : F_SPROXY, "InternalError",
				 "SHA-256 failed");
	return sig_verify_digest(xml, xml_len, dg, trust, o, out, f);
}
