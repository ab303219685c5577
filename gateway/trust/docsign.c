/* docsign: enveloped XAdES-BES/-T signatures over whole XML documents.
 *
 * Signing writes the signed parts in exclusive-c14n form directly, with the
 * writers sign.c uses for SignedMessage documents (SignedInfo and
 * SignedProperties have the same shape here), so only the document itself
 * is canonicalised (libxml2). The Signature goes in right before the root's
 * end tag, adjacent to nothing, so the document minus the Signature - what
 * the enveloped transform leaves - is exactly the input.
 *
 * Verification follows sign_verify.c's order: parse without DTD or network,
 * check the whole document and the one Signature against the rules and the
 * shape we sign, validate the certificate ourselves, and only then let xmlsec
 * check references and value with that certificate's key (it never reads
 * KeyInfo). The time stamp covers the exclusive-c14n form of
 * ds:SignatureValue, which for the walked shape (no attributes, base64 text)
 * is SV_OPEN + value + SV_CLOSE. */
#include "trust/docsign.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/transforms.h>
#include <xmlsec/keys.h>
#include <xmlsec/list.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>

#include "lib/crypto.h"
#include "store/tsa.h"
#include "trust/sign.h"
#include "trust/sign_int.h"
#include "trust/xwalk.h"

#define B64_SHA256_LEN 44
#define ID_MAX 100
/* Nesting of the document's own elements (libxml2 stops at 256 anyway). */
#define DEPTH_MAX 64
#define SV_OPEN "<ds:SignatureValue xmlns:ds=\"" SIG_NS_DS "\">"
#define SV_CLOSE "</ds:SignatureValue>"
#define PROPS_END "</xades:SignedProperties>"
#define QP_END "</xades:QualifyingProperties>"
/* The signature without the document: KeyInfo dominates. */
#define SIG_BUF_MAX (96 * 1024)

struct why {
	char s[DOCSIGN_REASON_MAX];
};

static int bad(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first thing found wrong; returns -1. */
static int bad(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->s[0]) {
		va_start(ap, fmt);
		vsnprintf(w->s, sizeof(w->s), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void set_err(char **err, const char *prefix, const char *why)
{
	if (!err)
		return;
	free(*err);
	if (asprintf(err, "%s: %s", prefix, why) < 0)
		*err = NULL;
}

/* ---- parsing and the rules for the document's own content ------------------------ */

static xmlDocPtr parse(const char *xml, size_t len, struct why *w)
{
	struct xwalk x = { w->s, sizeof(w->s), "" };

	return xw_parse(&x, xml, len, "the document");
}

static int attrs_plain(struct why *w, xmlNodePtr n)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		if (a->ns && a->ns->href && !strcmp((const char *)a->ns->href,
						    (const char *)XML_XML_NAMESPACE) &&
		    !strcmp((const char *)a->name, "id"))
			return bad(w, "xml:id attributes are not allowed in a signed document");
		if (a->children && (a->children->type != XML_TEXT_NODE || a->children->next))
			return bad(w, "attribute %s on <%s> is not plain text",
				   (const char *)a->name, (const char *)n->name);
	}
	return 0;
}

/* The document's own content (everything but the Signature `skip`): elements
 * and text only - no comment, PI, CDATA (which c14n would drop or rewrite, so
 * a reader could be shown what no signature covers), no xml:id (no ID may
 * exist besides the one we register), and no XML-DSig or XAdES element (no
 * decoy signature or properties for a careless reader to pick up). */
static int content_ok(struct why *w, xmlNodePtr n, xmlNodePtr skip, int depth)
{
	for (; n; n = n->next) {
		if (n == skip || n->type == XML_TEXT_NODE)
			continue;
		if (n->type == XML_COMMENT_NODE)
			return bad(w, "comments are not allowed in a signed document");
		if (n->type == XML_PI_NODE)
			return bad(w, "processing instructions are not allowed in a signed document");
		if (n->type == XML_CDATA_SECTION_NODE)
			return bad(w, "CDATA sections are not allowed in a signed document");
		if (n->type != XML_ELEMENT_NODE)
			return bad(w, "unexpected node in the document (entity reference?)");
		if (depth > DEPTH_MAX)
			return bad(w, "elements nested deeper than %d levels", DEPTH_MAX);
		if (xw_ns_is(n, SIG_NS_DS) || xw_ns_is(n, SIG_NS_XADES))
			return bad(w, "<%s> of the XML-DSig or XAdES namespace outside the signature",
				   (const char *)n->name);
		if (attrs_plain(w, n) != 0 || content_ok(w, n->children, skip, depth + 1) != 0)
			return -1;
	}
	return 0;
}

/* The document node holds the root alone (no comment or PI around it) and
 * no ID attribute was registered while parsing. */
static int doc_ok(struct why *w, xmlDocPtr doc, xmlNodePtr skip)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	if (!root || doc->children != root || root->next || root->prev)
		return bad(w, "nothing but the root element may stand at the top level "
			      "(no comments or processing instructions)");
	if (content_ok(w, root, skip, 0) != 0)
		return -1;
	if (doc->ids)
		return bad(w, "unexpected ID attributes in the document");
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of the root's end tag: the last markup of the document (doc_ok
 * refused anything after the root but whitespace). */
static int root_end_tag(struct why *w, const char *xml, size_t len, xmlNodePtr root,
			size_t *pos)
{
	char qname[2 * XRD_PART_MAX + 2];
	size_t j = len, k, nl;

	if (snprintf(qname, sizeof(qname), "%s%s%s",
		     root->ns && root->ns->prefix ? (const char *)root->ns->prefix : "",
		     root->ns && root->ns->prefix ? ":" : "", (const char *)root->name) >=
	    (int)sizeof(qname))
		return bad(w, "the root element's name is too long");
	while (j > 0 && is_space(xml[j - 1]))
		j--;
	if (j == 0 || xml[j - 1] != '>')
		return bad(w, "the document does not end with the root element's end tag");
	for (k = j - 1; k > 0 && xml[k] != '<'; k--)
		;
	nl = strlen(qname);
	if (xml[k] != '<' || j - k < nl + 3 || xml[k + 1] != '/' || memcmp(xml + k + 2, qname, nl))
		return bad(w, "the root element must end with an end tag (</%s>), not be empty",
			   qname);
	for (size_t i = k + 2 + nl; i < j - 1; i++)
		if (!is_space(xml[i]))
			return bad(w, "the document does not end with the root element's end tag");
	*pos = k;
	return 0;
}

/* ---- signing ------------------------------------------------------------------------ */

/* Appends each string of a NULL-terminated list. */
static int cat(struct buf *b, ...) __attribute__((sentinel));

static int cat(struct buf *b, ...)
{
	va_list ap;
	const char *s;
	int rc = 0;

	va_start(ap, b);
	while (rc == 0 && (s = va_arg(ap, const char *)))
		rc = buf_append(b, s, strlen(s));
	va_end(ap);
	return rc;
}

/* SHA-256 of the exclusive-c14n form of the whole document (what the
 * enveloped reference covers, the Signature not being there yet), base64. */
static int doc_digest(xmlDocPtr doc, char *b64, struct why *w)
{
	xmlChar *c14n = NULL;
	unsigned char dg[SHA256_LEN];
	int n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c14n);
	int rc = -1;

	if (n < 0)
		bad(w, "the document cannot be canonicalised");
	else if (sig_sha256(c14n, (size_t)n, dg) != 0)
		bad(w, "SHA-256 failed");
	else {
		b64_encode(dg, sizeof(dg), b64);
		rc = 0;
	}
	xmlFree(c14n);
	return rc;
}

/* Writes the Signature element into b and the signature value's base64 into
 * sv_b64 (trust/sign.c writes it for both kinds of signature). */
static int build_signature(const struct signing_key *k, struct sig_parts *p, struct buf *b,
			   char *sv_b64, struct why *w)
{
	const char *kwhy;

	if (sig_put_signature(b, k, p, sv_b64, &kwhy) == 0)
		return 0;
	if (kwhy)
		return bad(w, "the signing key failed (token or key file unusable?)");
	return bad(w, "out of memory or size cap reached while signing");
}

/* Restores a caller's buffer to its old length after a failure. */
static void buf_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

static int sign_parsed(const struct signing_key *k, const char *xml, size_t len, xmlDocPtr doc,
		       const struct timespec *t, struct buf *out, struct buf *to_stamp,
		       struct why *w)
{
	char uuid[UUID_STR_LEN], sig_id[UUID_STR_LEN + 8], props_id[UUID_STR_LEN + 8];
	char when[SIG_TIME_LEN + 1], msg_b64[B64_SHA512_LEN], cert_b64[B64_SHA512_LEN];
	char sv_b64[SIG_VALUE_B64_MAX];
	struct timespec now;
	struct sig_parts p;
	struct buf sig;
	size_t pos = 0;
	int rc = -1;

	if (!t || (t->tv_sec == 0 && t->tv_nsec == 0)) {
		clock_gettime(CLOCK_REALTIME, &now);
		t = &now;
	}
	if (doc_ok(w, doc, NULL) != 0 ||
	    root_end_tag(w, xml, len, xmlDocGetRootElement(doc), &pos) != 0 ||
	    doc_digest(doc, msg_b64, w) != 0)
		return -1;
	if (sig_time_format(t, when, sizeof(when)) != 0)
		return bad(w, "signing time out of range");
	uuid4(uuid);
	snprintf(sig_id, sizeof(sig_id), "sig-%s", uuid);
	snprintf(props_id, sizeof(props_id), "xades-%s", uuid);
	b64_encode(k->cert_sha256, SHA256_LEN, cert_b64);
	p = (struct sig_parts){
		.sig_id = sig_id, .props_id = props_id, .msg_digest = msg_b64,
		.sig_alg = k->alg == KEY_ALG_RSA ? SIG_ALG_RSA_SHA256 : SIG_ALG_ECDSA_SHA256,
		.signing_time = when, .cert_digest = cert_b64, .issuer_serial = k->issuer_serial_b64,
	};
	buf_init(&sig, SIG_BUF_MAX);
	if (build_signature(k, &p, &sig, sv_b64, w) != 0)
		goto out;
	if (buf_append(out, xml, pos) != 0 || buf_append(out, sig.data, sig.len) != 0 ||
	    buf_append(out, xml + pos, len - pos) != 0 ||
	    cat(to_stamp, SV_OPEN, sv_b64, SV_CLOSE, NULL) != 0) {
		bad(w, "output buffer cap reached (document too large?)");
		goto out;
	}
	rc = 0;
out:
	buf_free(&sig);
	return rc;
}

int docsign_sign(const struct signing_key *k, const char *xml, size_t len,
		 const struct timespec *signing_time, struct buf *out, struct buf *to_stamp,
		 char **err)
{
	size_t out_len = out->len, st_len = to_stamp->len;
	struct why w = { "" };
	xmlDocPtr doc = NULL;
	int rc = -1;

	if (err)
		*err = NULL;
	if (!k || !k->ops || !k->ops->sign_digest)
		bad(&w, "no signing key");
	else if (!sig_ready())
		bad(&w, "signature module not initialised (sig_global_init)");
	else if (!xml || len == 0)
		bad(&w, "the document is empty");
	else if (len > DOCSIGN_XML_MAX)
		bad(&w, "the document is larger than %d bytes", DOCSIGN_XML_MAX);
	else if ((doc = parse(xml, len, &w)) != NULL)
		rc = sign_parsed(k, xml, len, doc, signing_time, out, to_stamp, &w);
	xmlFreeDoc(doc);
	if (rc != 0) {
		buf_truncate(out, out_len);
		buf_truncate(to_stamp, st_len);
		set_err(err, "cannot sign the document", w.s[0] ? w.s : "unknown error");
	}
	return rc;
}

/* ---- the Signature's shape ---------------------------------------------------------- */

/* What the walk found; strings point into the parsed document. */
struct sv {
	struct why w;
	struct xwalk xw;          /* xw_of(): the walk's steps report into w */
	xmlNodePtr sig;
	xmlAttrPtr props_id_attr;
	const char *sig_id, *props_id, *ts_id, *props_uri, *target;
	const char *sig_alg, *msg_digest, *props_digest, *sigvalue;
	const char *signing_time, *cert_digest, *issuer_serial, *token;
	const char *certs[1 + KEYS_CHAIN_MAX];
	size_t ncerts;
};

/* The walk's steps (trust/xwalk.h) record their reason in v->w. */
static struct xwalk *xw_of(struct sv *v)
{
	v->xw = (struct xwalk){ v->w.s, sizeof(v->w.s), "signature: " };
	return &v->xw;
}

static int walk_transforms(struct sv *v, struct xw_cur *c, int enveloped)
{
	xmlNodePtr t = XW_TAKE(xw_of(v), c, SIG_NS_DS, "Transforms", XW_ELEMS, 0, NULL);
	struct xw_cur tc;

	if (!t)
		return -1;
	tc = xw_into(t);
	if ((enveloped && xw_take_alg(xw_of(v), &tc, SIG_NS_DS, "Transform", SIG_ALG_ENVELOPED, NULL)) ||
	    xw_take_alg(xw_of(v), &tc, SIG_NS_DS, "Transform", SIG_ALG_EXC_C14N, NULL) ||
	    xw_end_of(xw_of(v), &tc, "Transforms"))
		return -1;
	return 0;
}

/* Transforms, DigestMethod (SHA-256), DigestValue: the inside of a Reference. */
static int walk_ref_body(struct sv *v, xmlNodePtr ref, int enveloped, const char **digest)
{
	struct xw_cur rc = xw_into(ref);

	if (walk_transforms(v, &rc, enveloped) ||
	    xw_take_alg(xw_of(v), &rc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !XW_TAKE(xw_of(v), &rc, SIG_NS_DS, "DigestValue", XW_TEXT, B64_SHA256_LEN, digest) ||
	    xw_end_of(xw_of(v), &rc, "Reference"))
		return -1;
	return 0;
}

static int walk_signed_info(struct sv *v, struct xw_cur *c)
{
	static const char *const r1[] = { "URI" }, *const r2[] = { "Type", "URI" };
	const char *v1[1], *v2[2];
	xmlNodePtr si = XW_TAKE(xw_of(v), c, SIG_NS_DS, "SignedInfo", XW_ELEMS, 0, NULL), n;
	struct xw_cur sc;

	if (!si)
		return -1;
	sc = xw_into(si);
	if (xw_take_alg(xw_of(v), &sc, SIG_NS_DS, "CanonicalizationMethod", SIG_ALG_EXC_C14N, NULL) ||
	    xw_take_alg(xw_of(v), &sc, SIG_NS_DS, "SignatureMethod", NULL, &v->sig_alg))
		return -1;
	if (strcmp(v->sig_alg, SIG_ALG_ECDSA_SHA256) && strcmp(v->sig_alg, SIG_ALG_RSA_SHA256))
		return bad(&v->w, "signature: method must be ecdsa-sha256 or rsa-sha256");
	if (!(n = xw_take(xw_of(v), &sc, SIG_NS_DS, "Reference", XW_ELEMS, 0, NULL, r1, v1, 1)))
		return -1;
	if (v1[0][0] != '\0')
		return bad(&v->w, "signature: the first Reference must have URI=\"\" (the whole "
				  "document)");
	if (walk_ref_body(v, n, 1, &v->msg_digest) != 0)
		return -1;
	if (!(n = xw_take(xw_of(v), &sc, SIG_NS_DS, "Reference", XW_ELEMS, 0, NULL, r2, v2, 2)))
		return -1;
	if (strcmp(v2[0], SIG_TYPE_PROPS) != 0)
		return bad(&v->w, "signature: the second Reference must be of type SignedProperties");
	v->props_uri = v2[1];
	if (walk_ref_body(v, n, 0, &v->props_digest) != 0 || xw_end_of(xw_of(v), &sc, "SignedInfo"))
		return -1;
	return 0;
}

static int walk_key_info(struct sv *v, struct xw_cur *c)
{
	xmlNodePtr ki = XW_TAKE(xw_of(v), c, SIG_NS_DS, "KeyInfo", XW_ELEMS, 0, NULL), xd;
	struct xw_cur kc, xc;

	if (!ki)
		return -1;
	kc = xw_into(ki);
	if (!(xd = XW_TAKE(xw_of(v), &kc, SIG_NS_DS, "X509Data", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(xw_of(v), &kc, "KeyInfo"))
		return -1;
	xc = xw_into(xd);
	while (xc.next) {
		if (v->ncerts == 1 + KEYS_CHAIN_MAX)
			return bad(&v->w, "signature: more than %d certificates in X509Data",
				   1 + KEYS_CHAIN_MAX);
		if (!XW_TAKE(xw_of(v), &xc, SIG_NS_DS, "X509Certificate", XW_TEXT, SIG_CERT_B64_MAX,
			  &v->certs[v->ncerts]))
			return -1;
		v->ncerts++;
	}
	return v->ncerts ? 0 : bad(&v->w, "signature: X509Data holds no certificate");
}

/* SignedSignatureProperties: SigningTime, SigningCertificateV2/Cert/(CertDigest, IssuerSerialV2). */
static int walk_signed_props(struct sv *v, xmlNodePtr sp)
{
	xmlNodePtr ssp, scv2, cert, cd;
	struct xw_cur pc = xw_into(sp), sc, vc, cc, dc;

	if (!(ssp = XW_TAKE(xw_of(v), &pc, SIG_NS_XADES, "SignedSignatureProperties", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(xw_of(v), &pc, "SignedProperties"))
		return -1;
	sc = xw_into(ssp);
	if (!XW_TAKE(xw_of(v), &sc, SIG_NS_XADES, "SigningTime", XW_TEXT, SIG_TIME_LEN, &v->signing_time) ||
	    !(scv2 = XW_TAKE(xw_of(v), &sc, SIG_NS_XADES, "SigningCertificateV2", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(xw_of(v), &sc, "SignedSignatureProperties"))
		return -1;
	vc = xw_into(scv2);
	if (!(cert = XW_TAKE(xw_of(v), &vc, SIG_NS_XADES, "Cert", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(xw_of(v), &vc, "SigningCertificateV2"))
		return -1;
	cc = xw_into(cert);
	if (!(cd = XW_TAKE(xw_of(v), &cc, SIG_NS_XADES, "CertDigest", XW_ELEMS, 0, NULL)) ||
	    !XW_TAKE(xw_of(v), &cc, SIG_NS_XADES, "IssuerSerialV2", XW_TEXT, 4096, &v->issuer_serial) ||
	    xw_end_of(xw_of(v), &cc, "Cert"))
		return -1;
	dc = xw_into(cd);
	if (xw_take_alg(xw_of(v), &dc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !XW_TAKE(xw_of(v), &dc, SIG_NS_DS, "DigestValue", XW_TEXT, B64_SHA256_LEN, &v->cert_digest) ||
	    xw_end_of(xw_of(v), &dc, "CertDigest"))
		return -1;
	return 0;
}

/* UnsignedProperties/UnsignedSignatureProperties/SignatureTimeStamp(Id)/
 * (CanonicalizationMethod exc-c14n, EncapsulatedTimeStamp). */
static int walk_unsigned_props(struct sv *v, struct xw_cur *qc)
{
	static const char *const idn[] = { "Id" };
	const char *idv[1];
	xmlNodePtr up, usp, ts;
	struct xw_cur uc, sc, tc;

	if (!(up = XW_TAKE(xw_of(v), qc, SIG_NS_XADES, "UnsignedProperties", XW_ELEMS, 0, NULL)))
		return -1;
	uc = xw_into(up);
	if (!(usp = XW_TAKE(xw_of(v), &uc, SIG_NS_XADES, "UnsignedSignatureProperties", XW_ELEMS, 0,
			 NULL)) || xw_end_of(xw_of(v), &uc, "UnsignedProperties"))
		return -1;
	sc = xw_into(usp);
	if (!(ts = xw_take(xw_of(v), &sc, SIG_NS_XADES, "SignatureTimeStamp", XW_ELEMS, 0, NULL, idn, idv,
			1)) || xw_end_of(xw_of(v), &sc, "UnsignedSignatureProperties"))
		return -1;
	v->ts_id = idv[0];
	tc = xw_into(ts);
	if (xw_take_alg(xw_of(v), &tc, SIG_NS_DS, "CanonicalizationMethod", SIG_ALG_EXC_C14N, NULL) ||
	    !XW_TAKE(xw_of(v), &tc, SIG_NS_XADES, "EncapsulatedTimeStamp", XW_TEXT,
		  4 * (DOCSIGN_TOKEN_MAX / 3 + 1), &v->token) ||
	    xw_end_of(xw_of(v), &tc, "SignatureTimeStamp"))
		return -1;
	return 0;
}

/* Object/QualifyingProperties(Target)/SignedProperties(Id)[/UnsignedProperties]. */
static int walk_object(struct sv *v, struct xw_cur *c)
{
	static const char *const tn[] = { "Target" }, *const idn[] = { "Id" };
	const char *tv[1], *idv[1];
	xmlNodePtr obj, qp, sp;
	struct xw_cur oc, qc;

	if (!(obj = XW_TAKE(xw_of(v), c, SIG_NS_DS, "Object", XW_ELEMS, 0, NULL)))
		return -1;
	oc = xw_into(obj);
	if (!(qp = xw_take(xw_of(v), &oc, SIG_NS_XADES, "QualifyingProperties", XW_ELEMS, 0, NULL, tn, tv,
			1)) || xw_end_of(xw_of(v), &oc, "Object"))
		return -1;
	v->target = tv[0];
	qc = xw_into(qp);
	if (!(sp = xw_take(xw_of(v), &qc, SIG_NS_XADES, "SignedProperties", XW_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->props_id = idv[0];
	v->props_id_attr = sp->properties;
	if (walk_signed_props(v, sp) != 0)
		return -1;
	if (qc.next && walk_unsigned_props(v, &qc) != 0)
		return -1;
	return xw_end_of(xw_of(v), &qc, "QualifyingProperties");
}

static int walk_signature(struct sv *v, xmlNodePtr sig)
{
	static const char *const idn[] = { "Id" };
	const char *idv[1];
	struct xw_cur c = { sig }, sc;

	if (!(v->sig = xw_take(xw_of(v), &c, SIG_NS_DS, "Signature", XW_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->sig_id = idv[0];
	sc = xw_into(sig);
	if (walk_signed_info(v, &sc) ||
	    !XW_TAKE(xw_of(v), &sc, SIG_NS_DS, "SignatureValue", XW_TEXT, 4 * KEYS_SIG_MAX / 3 + 4,
		  &v->sigvalue) ||
	    walk_key_info(v, &sc) || walk_object(v, &sc) || xw_end_of(xw_of(v), &sc, "Signature"))
		return -1;
	return 0;
}

/* An Id we accept: an NCName of letters, digits, '.', '-', '_'. */
static int id_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len > 0 && len <= ID_MAX && !strchr("0123456789.-", s[0]) &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static int check_ids(struct sv *v)
{
	if (!id_ok(v->sig_id) || !id_ok(v->props_id) || (v->ts_id && !id_ok(v->ts_id)))
		return bad(&v->w, "signature: an Id attribute value is not an allowed identifier");
	if (!strcmp(v->sig_id, v->props_id) || (v->ts_id && (!strcmp(v->ts_id, v->sig_id) ||
							     !strcmp(v->ts_id, v->props_id))))
		return bad(&v->w, "signature: Id attribute values are not unique");
	if (v->props_uri[0] != '#' || strcmp(v->props_uri + 1, v->props_id) != 0)
		return bad(&v->w, "signature: the SignedProperties Reference does not point to this "
				  "signature's SignedProperties");
	if (v->target[0] != '#' || strcmp(v->target + 1, v->sig_id) != 0)
		return bad(&v->w, "signature: QualifyingProperties Target does not point to this "
				  "signature");
	/* The time stamp's Id is the one attribute nothing signs or points to:
	 * tie it to the Signature's so that it cannot change either. */
	if (v->ts_id && (strncmp(v->sig_id, "sig-", 4) != 0 || strncmp(v->ts_id, "ts-", 3) != 0 ||
			 strcmp(v->ts_id + 3, v->sig_id + 4) != 0))
		return bad(&v->w, "signature: the SignatureTimeStamp Id must be ts- followed by "
				  "what follows sig- in the Signature Id");
	return 0;
}

/* base64 text that must decode to exactly want bytes. */
static int b64_exact(const char *s, unsigned char *out, size_t want)
{
	unsigned char tmp[KEYS_SIG_MAX + 8];
	long n = sig_b64_decode(s, strlen(s), tmp, sizeof(tmp));

	if (n < 0 || (size_t)n != want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

static int check_fields(struct sv *v, struct timespec *signing_time)
{
	unsigned char dg[SHA256_LEN], sigbuf[KEYS_SIG_MAX];

	if (b64_exact(v->msg_digest, dg, sizeof(dg)) || b64_exact(v->props_digest, dg, sizeof(dg)) ||
	    b64_exact(v->cert_digest, dg, sizeof(dg)))
		return bad(&v->w, "signature: a digest value is not the base64 of a SHA-256 digest");
	if (sig_b64_decode(v->sigvalue, strlen(v->sigvalue), sigbuf, sizeof(sigbuf)) < 64)
		return bad(&v->w, "signature: SignatureValue is not base64 or too short");
	if (!sig_b64_ok(v->issuer_serial, 4097))
		return bad(&v->w, "signature: IssuerSerialV2 is not base64");
	if (sig_time_parse(v->signing_time, signing_time) != 0)
		return bad(&v->w, "signature: SigningTime is not of the form 2026-11-22T05:00:00.123Z");
	return check_ids(v);
}

/* The whole document: content rules, one Signature as the root's last child,
 * its shape and field syntax. */
static int walk(struct sv *v, xmlDocPtr doc, struct timespec *signing_time)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), last = root ? root->last : NULL;

	if (!last || last->type != XML_ELEMENT_NODE || !xw_ns_is(last, SIG_NS_DS) ||
	    strcmp((const char *)last->name, "Signature") != 0)
		return bad(&v->w, "the document is not signed: its root element does not end with "
				  "a ds:Signature");
	if (doc_ok(&v->w, doc, last) != 0)
		return -1;
	if (walk_signature(v, last) != 0)
		return -1;
	return check_fields(v, signing_time);
}

/* ---- time stamp ----------------------------------------------------------------------- */

/* The bytes the signature time stamp covers. */
static int stamp_data(const char *sigvalue, struct buf *b)
{
	return cat(b, SV_OPEN, sigvalue, SV_CLOSE, NULL);
}

/* 1 if tst's imprint is SHA-256 of data, 0 if not (or not SHA-256). */
static int imprint_matches(TS_TST_INFO *tst, const void *data, size_t len)
{
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
	X509_ALGOR *alg = mi ? TS_MSG_IMPRINT_get_algo(mi) : NULL;
	ASN1_OCTET_STRING *os = mi ? TS_MSG_IMPRINT_get_msg(mi) : NULL;
	const ASN1_OBJECT *obj = NULL;
	unsigned char dg[SHA256_LEN];

	if (!alg || !os)
		return 0;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	return OBJ_obj2nid(obj) == NID_sha256 && ASN1_STRING_length(os) == SHA256_LEN &&
	       sig_sha256(data, len, dg) == 0 &&
	       CRYPTO_memcmp(ASN1_STRING_get0_data(os), dg, SHA256_LEN) == 0;
}

/* A token checked as tsa_verify checks responses: wrapped in a granted
 * TimeStampResp, so the TSA's trust rules live in one place (store/tsa.c). */
static int token_verify(const struct tsa_trust *t, PKCS7 *p7, const void *data, size_t len,
			int64_t *gen_ms, char *why, size_t whylen)
{
	TS_RESP *resp = TS_RESP_new();
	TS_STATUS_INFO *si = TS_STATUS_INFO_new();
	PKCS7 *dup = PKCS7_dup(p7);
	TS_TST_INFO *tst = dup ? PKCS7_to_TS_TST_INFO(dup) : NULL;
	unsigned char *der = NULL;
	char *err = NULL;
	int n, rc = -1;

	snprintf(why, whylen, "out of memory checking the time stamp");
	if (!resp || !si || !dup || !tst || TS_STATUS_INFO_set_status(si, TS_STATUS_GRANTED) != 1 ||
	    TS_RESP_set_status_info(resp, si) != 1) {
		PKCS7_free(dup);
		TS_TST_INFO_free(tst);
		goto out;
	}
	TS_RESP_set_tst_info(resp, dup, tst);   /* takes both */
	if ((n = i2d_TS_RESP(resp, &der)) <= 0)
		goto out;
	if (tsa_verify(t, der, (size_t)n, data, len, gen_ms, &err) != 0) {
		snprintf(why, whylen, "%s", err ? err : "time stamp verification failed");
		goto out;
	}
	rc = 0;
out:
	free(err);
	OPENSSL_free(der);
	TS_STATUS_INFO_free(si);
	TS_RESP_free(resp);
	ERR_clear_error();
	return rc;
}

/* 1 if c is one of the token's signers (validated by tsa_verify). */
static int is_signer(PKCS7 *p7, X509 *c)
{
	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
	int found = 0;

	for (int i = 0; signers && i < sk_X509_num(signers); i++)
		if (X509_cmp(sk_X509_value(signers, i), c) == 0)
			found = 1;
	sk_X509_free(signers);
	ERR_clear_error();
	return found;
}

/* 1 if the SignerInfo names its certificate's issuer with the very bytes of
 * the certificate (names are matched in a canonical form, so a changed
 * string type would still find the signer). */
static int signer_name_exact(PKCS7_SIGNER_INFO *si, STACK_OF(X509) *certs)
{
	PKCS7_ISSUER_AND_SERIAL *ias = si->issuer_and_serial;
	X509 *c = ias ? X509_find_by_issuer_and_serial(certs, ias->issuer, ias->serial) : NULL;
	unsigned char *a = NULL, *b = NULL;
	int la, lb, ok;

	if (!c)
		return 0;
	la = i2d_X509_NAME(ias->issuer, &a);
	lb = i2d_X509_NAME(X509_get_issuer_name(c), &b);
	ok = la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
	OPENSSL_free(a);
	OPENSSL_free(b);
	return ok;
}

/* SignedData's digestAlgorithms (which nothing uses) must be exactly the
 * signer's digest algorithm. */
static int digest_algs_exact(PKCS7 *p7, PKCS7_SIGNER_INFO *si)
{
	STACK_OF(X509_ALGOR) *md = p7->d.sign->md_algs;

	return md && sk_X509_ALGOR_num(md) == 1 &&
	       X509_ALGOR_cmp(sk_X509_ALGOR_value(md, 0), si->digest_alg) == 0;
}

/* The SignerInfo's signature algorithm (which OpenSSL reads from the key,
 * not from here) must name that key and digest: id-ecPublicKey or
 * ecdsa-with-SHAx without parameters, rsaEncryption or shaxWithRSAEncryption
 * with NULL or none. */
static int sig_alg_exact(PKCS7_SIGNER_INFO *si, STACK_OF(X509) *certs)
{
	PKCS7_ISSUER_AND_SERIAL *ias = si->issuer_and_serial;
	X509 *c = ias ? X509_find_by_issuer_and_serial(certs, ias->issuer, ias->serial) : NULL;
	const ASN1_OBJECT *obj = NULL, *mdobj = NULL;
	EVP_PKEY *pk = c ? X509_get0_pubkey(c) : NULL;
	int ptype = 0, md_nid = 0, pk_nid = 0, key_nid, nid;

	if (!pk || !si->digest_enc_alg || !si->digest_alg)
		return 0;
	X509_ALGOR_get0(&obj, &ptype, NULL, si->digest_enc_alg);
	X509_ALGOR_get0(&mdobj, NULL, NULL, si->digest_alg);
	nid = OBJ_obj2nid(obj);
	key_nid = EVP_PKEY_get_base_id(pk);
	if (OBJ_find_sigid_algs(nid, &md_nid, &pk_nid)) {
		if (md_nid != OBJ_obj2nid(mdobj) || pk_nid != key_nid)
			return 0;
	} else if (nid != key_nid) {
		return 0;
	}
	if (key_nid == EVP_PKEY_EC)
		return ptype == V_ASN1_UNDEF;
	return ptype == V_ASN1_UNDEF || ptype == V_ASN1_NULL;
}

/* The parts of a CMS token no signature covers must not be changeable
 * either (a document has one spelling): DER exactly as re-encoded, no CRLs
 * or unsigned attributes, signers named with their certificates' exact
 * issuer bytes, and every certificate carried besides the signer (the TSA's
 * chain) verifies under a key in the same set - a copy of the root with a
 * changed byte would otherwise just be ignored. */
static int token_strict(PKCS7 *p7, const unsigned char *der, long n)
{
	STACK_OF(X509) *certs;
	STACK_OF(PKCS7_SIGNER_INFO) *sis;
	unsigned char *re = NULL;
	int relen, ok;

	if (!PKCS7_type_is_signed(p7) || !p7->d.sign ||
	    ASN1_INTEGER_get(p7->d.sign->version) != 3)   /* CMS: content is not id-data */
		return -1;
	relen = i2d_PKCS7(p7, &re);
	ok = relen == n && memcmp(re, der, (size_t)n) == 0;
	OPENSSL_free(re);
	if (!ok || (p7->d.sign->crl && sk_X509_CRL_num(p7->d.sign->crl) > 0))
		return -1;
	sis = PKCS7_get_signer_info(p7);
	for (int i = 0; sis && i < sk_PKCS7_SIGNER_INFO_num(sis); i++) {
		PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, i);

		if (ASN1_INTEGER_get(si->version) != 1 ||   /* issuerAndSerialNumber form */
		    (si->unauth_attr && sk_X509_ATTRIBUTE_num(si->unauth_attr) > 0) ||
		    !signer_name_exact(si, p7->d.sign->cert) || !digest_algs_exact(p7, si) ||
		    !sig_alg_exact(si, p7->d.sign->cert))
			return -1;
	}
	certs = p7->d.sign->cert;
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		ok = is_signer(p7, c);
		for (int j = 0; !ok && j < sk_X509_num(certs); j++) {
			EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(certs, j));

			ok = pk && X509_verify(c, pk) == 1;
		}
		ERR_clear_error();
		if (!ok)
			return -1;
	}
	return 0;
}

/* What the time stamp step found. */
struct stamp {
	int present, trusted, matches;
	int64_t gen_ms;
};

/* Decodes the token, checks its imprint against the SignatureValue and its
 * signature against the TSA. A token that does not parse or is untrusted is
 * INVALID at once; one whose imprint differs is reported (TAMPERED) only
 * after the signature itself has been checked. */
static int check_stamp(struct sv *v, const struct tsa_trust *tsa, struct stamp *st)
{
	size_t tlen = strlen(v->token);
	unsigned char *der = malloc(tlen);
	const unsigned char *p = der;
	char why[DOCSIGN_REASON_MAX - 40];
	struct buf data;
	PKCS7 *p7 = NULL;
	TS_TST_INFO *tst = NULL;
	long n;
	int rc = -1;

	st->present = 1;
	buf_init(&data, 8 * 1024);
	if (!der || stamp_data(v->sigvalue, &data) != 0) {
		bad(&v->w, "out of memory checking the time stamp");
		goto out;
	}
	n = sig_b64_decode(v->token, tlen, der, tlen);
	if (n <= 0 || n > DOCSIGN_TOKEN_MAX || !(p7 = d2i_PKCS7(NULL, &p, n)) || p != der + n ||
	    !(tst = PKCS7_to_TS_TST_INFO(p7))) {
		bad(&v->w, "the time stamp is not a base64 DER RFC 3161 token");
		goto out;
	}
	if (token_strict(p7, der, n) != 0) {
		bad(&v->w, "the time stamp token was altered (its certificates or encoding)");
		goto out;
	}
	st->matches = imprint_matches(tst, data.data, data.len);
	if (!st->matches) {
		rc = 0;
		goto out;
	}
	if (!tsa) {
		bad(&v->w, "the document carries a time stamp but no TSA trust is configured to "
			   "check it");
		goto out;
	}
	if (token_verify(tsa, p7, data.data, data.len, &st->gen_ms, why, sizeof(why)) != 0) {
		bad(&v->w, "the time stamp is not trusted: %s", why);
		goto out;
	}
	st->trusted = 1;
	rc = 0;
out:
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
	free(der);
	buf_free(&data);
	return rc;
}

/* ---- signer and cryptography --------------------------------------------------------- */

/* O of the subject (or CN), UTF-8. */
static void signer_name(X509 *c, char *out, size_t outlen)
{
	X509_NAME *name = X509_get_subject_name(c);
	int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
	unsigned char *u = NULL;
	int n;

	out[0] = '\0';
	if (i < 0)
		i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return;
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n > 0 && (size_t)n < outlen && !memchr(u, '\0', (size_t)n)) {
		memcpy(out, u, (size_t)n);
		out[n] = '\0';
	}
	OPENSSL_free(u);
}

/* Chain, member, SigningCertificateV2, algorithm -> INVALID on failure. */
static int check_signer(struct sv *v, X509_STORE *trust, time_t at, struct sig_signer *s)
{
	unsigned char got[SHA256_LEN];
	char why[DOCSIGN_REASON_MAX - 40];
	enum sig_trust_rc trc;

	trc = sig_trust_check(trust, v->certs, v->ncerts, at, s, why, sizeof(why));
	if (trc != SIG_TRUST_OK)
		return bad(&v->w, "the signing certificate is not accepted: %s", why);
	if (!s->member_class[0])
		return bad(&v->w, "the signing certificate names no member of the exchange "
				  "(subject serialNumber CLASS/CODE and CN CODE)");
	if (b64_exact(v->cert_digest, got, sizeof(got)) != 0 ||
	    CRYPTO_memcmp(got, s->cert_sha256, sizeof(got)) != 0 ||
	    strcmp(s->issuer_serial_b64, v->issuer_serial) != 0)
		return bad(&v->w, "SigningCertificateV2 does not name the certificate in KeyInfo");
	if (strcmp(v->sig_alg, s->alg == KEY_ALG_RSA ? SIG_ALG_RSA_SHA256 : SIG_ALG_ECDSA_SHA256))
		return bad(&v->w, "the signature method does not fit the certificate's key");
	return 0;
}

static int dsig_ctx_setup(xmlSecDSigCtxPtr d, const struct sig_signer *s)
{
	EVP_PKEY *pk = X509_get0_pubkey(s->leaf);
	xmlSecKeyDataPtr data;

	d->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
	if (xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformSha256Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, s->alg == KEY_ALG_RSA ?
				xmlSecTransformRsaSha256Id : xmlSecTransformEcdsaSha256Id) < 0)
		return -1;
	if (!(d->signKey = xmlSecKeyCreate()) || EVP_PKEY_up_ref(pk) != 1)
		return -1;
	if (!(data = xmlSecOpenSSLEvpKeyAdopt(pk))) {
		EVP_PKEY_free(pk);
		return -1;
	}
	if (xmlSecKeySetValue(d->signKey, data) < 0) {
		xmlSecKeyDataDestroy(data);
		return -1;
	}
	return 0;
}

/* Which part changed, from the reference contexts xmlsec leaves behind. */
static void tamper_reason(struct sv *v, xmlSecDSigCtxPtr d)
{
	xmlSecSize n = xmlSecPtrListGetSize(&d->signedInfoReferences);

	for (xmlSecSize i = 0; i < n; i++) {
		xmlSecDSigReferenceCtxPtr r = xmlSecPtrListGetItem(&d->signedInfoReferences, i);

		if (!r || r->status == xmlSecDSigStatusSucceeded)
			continue;
		if (r->uri && r->uri[0] == '\0') {
			bad(&v->w, "the document's content was changed after it was signed");
			return;
		}
		bad(&v->w, "the signature's signed properties (signing time or certificate) were "
			   "changed after signing");
		return;
	}
	bad(&v->w, "the signature value does not verify: the signature was altered or made "
		   "with another key");
}

/* xmlsec checks the two references and the value with the validated key;
 * the only ID it may resolve is the one registered here. */
static int xmlsec_verify(struct sv *v, xmlDocPtr doc, const struct sig_signer *s)
{
	xmlSecDSigCtxPtr d = NULL;
	int ok = 0;

	if (!xmlAddID(NULL, doc, (const xmlChar *)v->props_id, v->props_id_attr) ||
	    !(d = xmlSecDSigCtxCreate(NULL)) || dsig_ctx_setup(d, s) != 0) {
		bad(&v->w, "out of memory setting up signature verification");
		goto out;
	}
	ok = xmlSecDSigCtxVerify(d, v->sig) == 0 && d->status == xmlSecDSigStatusSucceeded;
	if (!ok)
		tamper_reason(v, d);
out:
	if (d)
		xmlSecDSigCtxDestroy(d);
	return ok ? 0 : -1;
}

/* ---- verify ---------------------------------------------------------------------------- */

struct vopts {
	time_t now;
	long skew;
	int require_ts;
};

static void result_signer(struct docsign_result *r, const struct sig_signer *s,
			  const struct stamp *st)
{
	memcpy(r->member_class, s->member_class, sizeof(r->member_class));
	memcpy(r->member_code, s->member_code, sizeof(r->member_code));
	memcpy(r->cert_sha256, s->cert_sha256, sizeof(r->cert_sha256));
	signer_name(s->leaf, r->signer_name, sizeof(r->signer_name));
	r->stamped = st->trusted;
	r->stamp_time_ms = st->trusted ? st->gen_ms : 0;
}

/* Steps 2-5 of docsign_verify, on a walked document. */
static enum docsign_status verify_walked(struct sv *v, xmlDocPtr doc, X509_STORE *trust,
					const struct tsa_trust *tsa, const struct vopts *o,
					struct docsign_result *r)
{
	struct sig_signer s = { 0 };
	struct stamp st = { 0 };
	time_t at = o->now, ref;
	enum docsign_status rc = DOCSIGN_INVALID;

	if (v->token && check_stamp(v, tsa, &st) != 0)
		return DOCSIGN_INVALID;
	if (st.trusted)
		at = (time_t)(st.gen_ms / 1000);
	if (check_signer(v, trust, at, &s) != 0)
		goto out;
	if (xmlsec_verify(v, doc, &s) != 0) {
		rc = DOCSIGN_TAMPERED;
		goto out;
	}
	if (st.present && !st.matches) {
		bad(&v->w, "the time stamp was made for another signature value");
		rc = DOCSIGN_TAMPERED;
		goto out;
	}
	ref = st.trusted ? at : o->now;
	if ((long long)r->signing_time.tv_sec > (long long)ref + o->skew) {
		bad(&v->w, "the signing time is later than the %s",
		    st.trusted ? "time stamp" : "current time");
		goto out;
	}
	if (o->require_ts && !st.trusted) {
		bad(&v->w, "the document has no signature time stamp (XAdES-T), which is required");
		goto out;
	}
	result_signer(r, &s, &st);
	rc = DOCSIGN_VALID;
out:
	X509_free(s.leaf);
	return rc;
}

int docsign_verify(const char *xml, size_t len, X509_STORE *trust, const struct tsa_trust *tsa,
		   const struct docsign_verify_opts *o, struct docsign_result *r)
{
	struct vopts vo = { o && o->now ? o->now : time(NULL),
			    o && o->max_skew_s > 0 ? o->max_skew_s : DOCSIGN_DEFAULT_SKEW_S,
			    o ? o->require_timestamp : 0 };
	struct sv *v;
	xmlDocPtr doc = NULL;

	memset(r, 0, sizeof(*r));
	r->status = DOCSIGN_INVALID;
	if (!sig_ready() || !trust) {
		snprintf(r->reason, sizeof(r->reason), "document verification is not set up "
			 "(sig_global_init, trust store)");
		return -1;
	}
	if (!xml || len == 0) {
		snprintf(r->reason, sizeof(r->reason), "the document is empty");
		return 0;
	}
	if (len > DOCSIGN_XML_MAX) {
		snprintf(r->reason, sizeof(r->reason), "the document is larger than %d bytes",
			 DOCSIGN_XML_MAX);
		return 0;
	}
	if (!(v = calloc(1, sizeof(*v)))) {
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		return -1;
	}
	if ((doc = parse(xml, len, &v->w)) != NULL && walk(v, doc, &r->signing_time) == 0)
		r->status = verify_walked(v, doc, trust, tsa, &vo, r);
	if (r->status != DOCSIGN_VALID)
		snprintf(r->reason, sizeof(r->reason), "%s", v->w.s[0] ? v->w.s : "unknown error");
	xmlFreeDoc(doc);
	free(v);
	return 0;
}

const char *docsign_status_name(enum docsign_status s)
{
	return s == DOCSIGN_VALID ? "valid" : s == DOCSIGN_TAMPERED ? "tampered" : "invalid";
}

/* ---- time stamp insertion ------------------------------------------------------------- */

/* Parses and walks a signed document for the stamp helpers: it must be ours
 * and carry no time stamp yet. Fills data with the bytes to stamp and, if
 * ts_id is not NULL, ts_id (ID_MAX + 1 bytes) with the time stamp's Id. */
static int unstamped_doc(const char *xml, size_t len, struct buf *data, char *ts_id,
			 struct why *w)
{
	struct sv *v = calloc(1, sizeof(*v));
	struct timespec t;
	xmlDocPtr doc = NULL;
	int rc = -1;

	if (!v)
		return bad(w, "out of memory");
	if (!xml || len == 0 || len > DOCSIGN_XML_MAX)
		bad(&v->w, "the document is empty or larger than %d bytes", DOCSIGN_XML_MAX);
	else if ((doc = parse(xml, len, &v->w)) && walk(v, doc, &t) == 0) {
		if (v->token)
			bad(&v->w, "the document already carries a time stamp");
		else if (strncmp(v->sig_id, "sig-", 4) != 0 || strlen(v->sig_id) > ID_MAX - 1)
			bad(&v->w, "the Signature Id is not of the form sig-...");
		else if (stamp_data(v->sigvalue, data) != 0)
			bad(&v->w, "out of memory");
		else
			rc = 0;
		if (rc == 0 && ts_id)
			snprintf(ts_id, ID_MAX + 1, "ts-%s", v->sig_id + 4);
	}
	if (rc != 0)
		bad(w, "%s", v->w.s);
	xmlFreeDoc(doc);
	free(v);
	return rc;
}

int docsign_stamp_data(const char *signed_xml, size_t len, struct buf *out, char **err)
{
	size_t old = out->len;
	struct why w = { "" };

	if (err)
		*err = NULL;
	if (!sig_ready()) {
		set_err(err, "cannot read the signature", "sig_global_init not called");
		return -1;
	}
	if (unstamped_doc(signed_xml, len, out, NULL, &w) != 0) {
		buf_truncate(out, old);
		set_err(err, "cannot read the signature", w.s);
		return -1;
	}
	return 0;
}

/* The token of a granted response whose imprint is SHA-256(data), as base64. */
static int token_b64(const unsigned char *resp_der, size_t resp_len, const struct buf *data,
		     struct buf *b64, struct why *w)
{
	const unsigned char *p = resp_der;
	TS_RESP *resp = NULL;
	unsigned char *der = NULL;
	long status;
	int n = 0, rc = -1;

	if (resp_len == 0 || resp_len > TSA_MAX_RESPONSE ||
	    !(resp = d2i_TS_RESP(NULL, &p, (long)resp_len)) || p != resp_der + resp_len) {
		bad(w, "the TSA response is not a DER TimeStampResp");
		goto out;
	}
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));
	if ((status != 0 && status != 1) || !TS_RESP_get_token(resp) || !TS_RESP_get_tst_info(resp)) {
		bad(w, "the TSA response grants no time stamp (PKIStatus %ld)", status);
		goto out;
	}
	if (!imprint_matches(TS_RESP_get_tst_info(resp), data->data, data->len)) {
		bad(w, "the time stamp was made for other data, not this document's signature");
		goto out;
	}
	if ((n = i2d_PKCS7(TS_RESP_get_token(resp), &der)) <= 0 || n > DOCSIGN_TOKEN_MAX) {
		bad(w, "the time stamp token cannot be encoded or is too large");
		goto out;
	}
	if (!(b64->data = malloc(4 * ((size_t)n / 3 + 1) + 1))) {
		bad(w, "out of memory");
		goto out;
	}
	b64->len = b64_encode(der, (size_t)n, b64->data);
	rc = 0;
out:
	OPENSSL_free(der);
	TS_RESP_free(resp);
	ERR_clear_error();
	return rc;
}

/* Where the UnsignedProperties go: right after the one SignedProperties,
 * which must close the QualifyingProperties (our signer's bytes). After a
 * successful walk no '<' can stand in text or attribute values, so the byte
 * search finds markup only. */
static int props_end(const char *xml, size_t len, size_t *pos, struct why *w)
{
	const char *m = memmem(xml, len, PROPS_END QP_END, strlen(PROPS_END QP_END));

	if (!m || memmem(m + 1, len - (size_t)(m + 1 - xml), PROPS_END, strlen(PROPS_END)))
		return bad(w, "the signature was not written by this signer (SignedProperties "
			      "not found where expected)");
	*pos = (size_t)(m - xml) + strlen(PROPS_END);
	return 0;
}

int docsign_add_timestamp(const char *signed_xml, size_t len, const unsigned char *tsa_resp,
			  size_t resp_len, struct buf *out, char **err)
{
	char ts_id[ID_MAX + 1];
	struct buf data, tok = BUF_INIT;
	struct why w = { "" };
	size_t pos = 0, old = out->len;
	int rc = -1;

	if (err)
		*err = NULL;
	buf_init(&data, 8 * 1024);
	if (!sig_ready())
		bad(&w, "sig_global_init not called");
	else if (unstamped_doc(signed_xml, len, &data, ts_id, &w) == 0 &&
		 props_end(signed_xml, len, &pos, &w) == 0 &&
		 token_b64(tsa_resp, resp_len, &data, &tok, &w) == 0) {
		if (buf_append(out, signed_xml, pos) != 0 ||
		    cat(out, "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>"
			     "<xades:SignatureTimeStamp Id=\"", ts_id, "\">"
			     "<ds:CanonicalizationMethod Algorithm=\"" SIG_ALG_EXC_C14N "\">"
			     "</ds:CanonicalizationMethod><xades:EncapsulatedTimeStamp>", tok.data,
			     "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>"
			     "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>",
			     NULL) != 0 ||
		    buf_append(out, signed_xml + pos, len - pos) != 0)
			bad(&w, "output buffer cap reached");
		else
			rc = 0;
	}
	if (rc != 0) {
		buf_truncate(out, old);
		set_err(err, "cannot add the time stamp", w.s[0] ? w.s : "unknown error");
	}
	buf_free(&data);
	free(tok.data);
	return rc;
}
