/* gconf_sign: the operator's enveloped XML-DSig signature on the global
 * configuration, made and checked with xmlsec (see gconf_sign.h).
 *
 * Verification order: hardened parse (no DTD, no network, size cap) ->
 * strict walk of the one signature (where it stands, what it references,
 * which algorithms) -> the KeyInfo certificate must be the anchor -> xmlsec
 * checks the reference digest and the signature value with the anchor's
 * key (never a key read from the document). Only then is the document
 * worth loading. */
#include "trust/gconf_sign.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>

#include "lib/crypto.h"
#include "lib/xmlscan.h"
#include "trust/keys.h"
#include "trust/sign.h"
#include "trust/tls.h"

#define DS_NS "http://www.w3.org/2000/09/xmldsig#"
#define ALG_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define ALG_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define ALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
/* Longest certificate we accept in KeyInfo (base64 text, DER). */
#define CERT_B64_MAX (16 * 1024)
#define CERT_DER_MAX (12 * 1024)

struct gcsig_anchor {
	X509 *cert;
	EVP_PKEY *pkey;               /* borrowed from cert */
	int alg;                      /* enum key_alg */
	unsigned char sha256[32];     /* of the DER */
};

/* ---- small helpers ------------------------------------------------------------ */

static enum gcsig_rc fail(char **err, enum gcsig_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum gcsig_rc fail(char **err, enum gcsig_rc rc, const char *fmt, ...)
{
	va_list ap;

	if (!err || *err)
		return rc;   /* keep the first reason */
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return rc;
}

static int init(char **err)
{
	char *e = NULL;

	if (sig_global_init(&e) == 0)
		return 0;
	fail(err, GCSIG_ERROR, "cannot initialise xmlsec: %s", e ? e : "unknown error");
	free(e);
	return -1;
}

static int is_ds(const xmlNode *n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, DS_NS) == 0 &&
	       (!local || strcmp((const char *)n->name, local) == 0);
}

static const xmlNode *next_el(const xmlNode *n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

/* The Algorithm attribute equals want. */
static int alg_is(const xmlNode *n, const char *want)
{
	xmlChar *a = xmlGetNoNsProp(n, (const xmlChar *)"Algorithm");
	int ok = a && strcmp((const char *)a, want) == 0;

	xmlFree(a);
	return ok;
}

static const char *subject_cn(X509 *c, char *out, size_t outlen)
{
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, out, (int)outlen) < 0)
		snprintf(out, outlen, "(no CN)");
	return out;
}

/* Hardened parse: no DOCTYPE (so no entities), no network, size cap. */
static enum gcsig_rc parse_doc(const char *xml, size_t len, xmlDocPtr *out, char **err)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	enum gcsig_rc rc = GCSIG_MALFORMED;
	char why[160];

	*out = NULL;
	if (!xml || len == 0)
		return fail(err, rc, "empty document");
	if (len > GCSIG_XML_MAX)
		return fail(err, rc, "document larger than %d bytes", GCSIG_XML_MAX);
	if (memmem(xml, len, "<!DOCTYPE", 9))
		return fail(err, rc, "DOCTYPE is not allowed (no DTDs, no entities)");
	if (xmlscan_check(xml, len, why, sizeof(why)) < 0)
		return fail(err, rc, "refused unparsed: %s", why);
	if (!(ctxt = xmlNewParserCtxt()))
		return fail(err, GCSIG_ERROR, "out of memory");
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "globalconf", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES);
	if (!doc) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "parse failed");
		msg[strcspn(msg, "\n")] = '\0';
		fail(err, rc, "not well-formed XML (line %d): %s", e ? e->line : 0, msg);
	} else if (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc)) {
		fail(err, rc, "DOCTYPE is not allowed, or no root element");
		xmlFreeDoc(doc);
	} else {
		*out = doc;
		rc = GCSIG_OK;
	}
	xmlFreeParserCtxt(ctxt);
	return rc;
}

/* Every ds:Signature element anywhere in the document: how many, and the
 * first one. Walks the tree without recursion. */
static size_t find_signatures(xmlNodePtr root, xmlNodePtr *first)
{
	size_t n = 0;
	xmlNodePtr cur = root;

	*first = NULL;
	while (cur) {
		if (is_ds(cur, "Signature")) {
			if (!n++)
				*first = cur;
		}
		if (cur->type == XML_ELEMENT_NODE && cur->children) {
			cur = cur->children;
			continue;
		}
		while (cur && cur != root && !cur->next)
			cur = cur->parent;
		if (!cur || cur == root)
			break;
		cur = cur->next;
	}
	return n;
}

/* ---- anchor ------------------------------------------------------------------- */

static X509 *read_cert(const char *file, char **err)
{
	BIO *b = BIO_new_file(file, "r");
	X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	if (!c)
		fail(err, GCSIG_ERROR, "%s: cannot read a PEM certificate (%s)", file,
		     b ? "no certificate in it" : "cannot open the file");
	BIO_free(b);
	ERR_clear_error();
	return c;
}

/* An operator certificate must be for signing: a key we support, and a key
 * usage (if it has one) that allows digitalSignature or nonRepudiation. */
static int cert_usable(X509 *c, const char *file, char **err)
{
	uint32_t ku = X509_get_key_usage(c);

	if (keys_pkey_alg(X509_get0_pubkey(c)) == KEY_ALG_NONE) {
		fail(err, GCSIG_ERROR, "%s: the operator key must be ECDSA P-256 or RSA 2048..4096 bits", file);
		return -1;
	}
	if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		fail(err, GCSIG_ERROR, "%s: certificate key usage allows neither digitalSignature nor "
		     "nonRepudiation", file);
		return -1;
	}
	return 0;
}

int gcsig_anchor_load(const char *pem_file, struct gcsig_anchor **out, char **err)
{
	struct gcsig_anchor *a;

	*out = NULL;
	if (err)
		*err = NULL;
	if (!(a = calloc(1, sizeof(*a)))) {
		fail(err, GCSIG_ERROR, "out of memory");
		return -1;
	}
	if (!(a->cert = read_cert(pem_file, err)) || cert_usable(a->cert, pem_file, err) < 0)
		goto fail;
	if (tls_cert_sha256(a->cert, a->sha256) < 0) {
		fail(err, GCSIG_ERROR, "%s: cannot encode the certificate", pem_file);
		goto fail;
	}
	a->pkey = X509_get0_pubkey(a->cert);
	a->alg = keys_pkey_alg(a->pkey);
	*out = a;
	return 0;
fail:
	gcsig_anchor_free(&a);
	return -1;
}

void gcsig_anchor_free(struct gcsig_anchor **a)
{
	if (!a || !*a)
		return;
	X509_free((*a)->cert);
	free(*a);
	*a = NULL;
}

const unsigned char *gcsig_anchor_sha256(const struct gcsig_anchor *a)
{
	return a->sha256;
}

/* ---- strict structure ----------------------------------------------------------- */

/* Reference: URI="" (present and empty), Transforms = enveloped then
 * exclusive c14n, DigestMethod SHA-256, DigestValue. */
static enum gcsig_rc check_reference(const xmlNode *ref, char **err)
{
	xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
	int uri_ok = uri && !*uri;
	const xmlNode *tr, *t1, *t2, *n;

	xmlFree(uri);
	if (!uri_ok)
		return fail(err, GCSIG_MALFORMED, "the Reference must have URI=\"\" (the whole document)");
	tr = next_el(ref->children);
	if (!is_ds(tr, "Transforms"))
		return fail(err, GCSIG_MALFORMED, "the Reference has no Transforms");
	t1 = next_el(tr->children);
	t2 = t1 ? next_el(t1->next) : NULL;
	if (!is_ds(t1, "Transform") || !alg_is(t1, ALG_ENVELOPED) || !is_ds(t2, "Transform") ||
	    !alg_is(t2, ALG_EXC_C14N) || next_el(t2->next))
		return fail(err, GCSIG_MALFORMED, "the Reference's transforms must be exactly "
			    "enveloped-signature and exclusive c14n");
	n = next_el(tr->next);
	if (!is_ds(n, "DigestMethod") || !alg_is(n, ALG_SHA256))
		return fail(err, GCSIG_MALFORMED, "the Reference's DigestMethod must be SHA-256");
	n = next_el(n->next);
	if (!is_ds(n, "DigestValue") || next_el(n->next))
		return fail(err, GCSIG_MALFORMED, "the Reference must end with its DigestValue");
	return GCSIG_OK;
}

/* SignedInfo: exclusive c14n, RSA or ECDSA with SHA-256, one Reference. */
static enum gcsig_rc check_signed_info(const xmlNode *si, const char **sig_alg, char **err)
{
	const xmlNode *c = next_el(si->children), *m, *ref;

	if (!is_ds(c, "CanonicalizationMethod") || !alg_is(c, ALG_EXC_C14N))
		return fail(err, GCSIG_MALFORMED, "SignedInfo's CanonicalizationMethod must be exclusive c14n");
	m = next_el(c->next);
	if (!is_ds(m, "SignatureMethod"))
		return fail(err, GCSIG_MALFORMED, "SignedInfo has no SignatureMethod");
	if (alg_is(m, ALG_RSA_SHA256))
		*sig_alg = ALG_RSA_SHA256;
	else if (alg_is(m, ALG_ECDSA_SHA256))
		*sig_alg = ALG_ECDSA_SHA256;
	else
		return fail(err, GCSIG_MALFORMED, "SignatureMethod must be rsa-sha256 or ecdsa-sha256");
	ref = next_el(m->next);
	if (!is_ds(ref, "Reference"))
		return fail(err, GCSIG_MALFORMED, "SignedInfo has no Reference");
	if (next_el(ref->next))
		return fail(err, GCSIG_MALFORMED, "SignedInfo must hold exactly one Reference");
	return check_reference(ref, err);
}

/* KeyInfo/X509Data/X509Certificate, exactly one of each. */
static enum gcsig_rc find_cert(const xmlNode *ki, const xmlNode **cert, char **err)
{
	const xmlNode *xd = next_el(ki->children), *c;

	if (!is_ds(xd, "X509Data") || next_el(xd->next))
		return fail(err, GCSIG_MALFORMED, "KeyInfo must hold exactly one X509Data");
	c = next_el(xd->children);
	if (!is_ds(c, "X509Certificate") || next_el(c->next))
		return fail(err, GCSIG_MALFORMED, "X509Data must hold exactly one X509Certificate "
			    "(the operator's)");
	*cert = c;
	return GCSIG_OK;
}

/* Signature = SignedInfo, SignatureValue, KeyInfo; nothing else (no Object). */
static enum gcsig_rc check_signature(const xmlNode *sig, const char **sig_alg, const xmlNode **cert,
				     char **err)
{
	const xmlNode *si = next_el(sig->children), *sv, *ki;
	enum gcsig_rc rc;

	if (!is_ds(si, "SignedInfo"))
		return fail(err, GCSIG_MALFORMED, "the Signature has no SignedInfo");
	if ((rc = check_signed_info(si, sig_alg, err)) != GCSIG_OK)
		return rc;
	sv = next_el(si->next);
	if (!is_ds(sv, "SignatureValue"))
		return fail(err, GCSIG_MALFORMED, "the Signature has no SignatureValue");
	ki = next_el(sv->next);
	if (!is_ds(ki, "KeyInfo") || next_el(ki->next))
		return fail(err, GCSIG_MALFORMED, "the Signature must end with a KeyInfo holding the "
			    "operator's certificate (and have no Object)");
	return find_cert(ki, cert, err);
}

/* Exactly one ds:Signature in the whole document, the root's last element. */
static enum gcsig_rc locate(xmlDocPtr doc, xmlNodePtr *sig, char **err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	size_t n = find_signatures(root, sig);

	if (n == 0)
		return fail(err, GCSIG_UNSIGNED, "not signed: no ds:Signature (sign it with "
			    "'ailgate globalconf sign')");
	if (n > 1)
		return fail(err, GCSIG_MALFORMED, "%zu ds:Signature elements; exactly one is allowed", n);
	if ((*sig)->parent != root || next_el((*sig)->next))
		return fail(err, GCSIG_MALFORMED, "the ds:Signature (line %ld) must be the last child "
			    "element of <%s>", xmlGetLineNo(*sig), (const char *)root->name);
	return GCSIG_OK;
}

/* ---- the certificate and the signature ---------------------------------------------- */

/* The KeyInfo certificate must be the anchor, byte for byte. */
static enum gcsig_rc check_anchor(const xmlNode *cert_el, const struct gcsig_anchor *a, char **err)
{
	xmlChar *text = xmlNodeGetContent(cert_el);
	char *b64 = NULL, cn[128], got_hex[65], want_hex[65];
	unsigned char *der = NULL, md[32];
	const unsigned char *p;
	size_t n = 0, tl = text ? strlen((const char *)text) : 0;
	long dl = -1;
	X509 *c = NULL;
	enum gcsig_rc rc = GCSIG_MALFORMED;

	if (tl == 0 || tl > CERT_B64_MAX || !(b64 = malloc(tl + 1)) || !(der = malloc(CERT_DER_MAX)))
		goto out;
	for (size_t i = 0; i < tl; i++)   /* xmlsec wraps base64 lines */
		if (!strchr(" \t\r\n", text[i]))
			b64[n++] = (char)text[i];
	if ((dl = b64_decode(b64, n, der, CERT_DER_MAX)) <= 0 || sha256(der, (size_t)dl, md) < 0)
		goto out;
	p = der;
	if (!(c = d2i_X509(NULL, &p, dl)) || p != der + dl)
		goto out;
	if (memcmp(md, a->sha256, 32) != 0) {
		hex_encode(md, 32, got_hex);
		hex_encode(a->sha256, 32, want_hex);
		rc = fail(err, GCSIG_NOT_ANCHOR, "signed by certificate '%s' (sha256 %s), which is not the "
			  "configured anchor (sha256 %s, [globalconf] anchor)",
			  subject_cn(c, cn, sizeof(cn)), got_hex, want_hex);
		goto out;
	}
	rc = GCSIG_OK;
out:
	if (rc == GCSIG_MALFORMED)
		fail(err, rc, "the KeyInfo certificate is not base64 DER of one X.509 certificate");
	X509_free(c);
	free(der);
	free(b64);
	xmlFree(text);
	return rc;
}

static xmlSecKeyPtr xmlsec_key(EVP_PKEY *pk)
{
	xmlSecKeyPtr key = xmlSecKeyCreate();
	xmlSecKeyDataPtr data;

	if (!key || EVP_PKEY_up_ref(pk) != 1)
		goto fail;
	if (!(data = xmlSecOpenSSLEvpKeyAdopt(pk))) {
		EVP_PKEY_free(pk);
		goto fail;
	}
	if (xmlSecKeySetValue(key, data) < 0) {
		xmlSecKeyDataDestroy(data);
		goto fail;
	}
	return key;
fail:
	if (key)
		xmlSecKeyDestroy(key);
	return NULL;
}

/* xmlsec checks the digest and the value with the anchor's key, allowed
 * only the algorithms and the one URI kind the strict walk accepted. */
static enum gcsig_rc xmlsec_check(xmlNodePtr sig, const struct gcsig_anchor *a, char **err)
{
	xmlSecDSigCtxPtr d = xmlSecDSigCtxCreate(NULL);
	enum gcsig_rc rc = GCSIG_ERROR;
	int r;

	if (!d)
		return fail(err, rc, "out of memory (xmlsec context)");
	d->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
	if (xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(d, xmlSecTransformSha256Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(d, a->alg == KEY_ALG_RSA ?
				xmlSecTransformRsaSha256Id : xmlSecTransformEcdsaSha256Id) < 0 ||
	    !(d->signKey = xmlsec_key(a->pkey))) {
		fail(err, rc, "cannot set up the xmlsec verification");
		goto out;
	}
	r = xmlSecDSigCtxVerify(d, sig);
	if (r == 0 && d->status == xmlSecDSigStatusSucceeded)
		rc = GCSIG_OK;
	else
		rc = fail(err, GCSIG_BAD_SIGNATURE, "the signature does not verify with the anchor's key: "
			  "the file was changed after it was signed");
out:
	xmlSecDSigCtxDestroy(d);
	return rc;
}

enum gcsig_rc gcsig_verify(const char *xml, size_t len, const struct gcsig_anchor *anchor, char **err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr sig = NULL;
	const xmlNode *cert = NULL;
	const char *sig_alg = NULL;
	enum gcsig_rc rc;

	if (err)
		*err = NULL;
	if (!anchor)
		return fail(err, GCSIG_ERROR, "no anchor certificate to verify against");
	if (init(err) < 0)
		return GCSIG_ERROR;
	if ((rc = parse_doc(xml, len, &doc, err)) != GCSIG_OK)
		return rc;
	if ((rc = locate(doc, &sig, err)) != GCSIG_OK ||
	    (rc = check_signature(sig, &sig_alg, &cert, err)) != GCSIG_OK ||
	    (rc = check_anchor(cert, anchor, err)) != GCSIG_OK)
		goto out;
	if (strcmp(sig_alg, anchor->alg == KEY_ALG_RSA ? ALG_RSA_SHA256 : ALG_ECDSA_SHA256) != 0) {
		rc = fail(err, GCSIG_BAD_SIGNATURE, "SignatureMethod %s does not fit the anchor's %s key",
			  sig_alg, anchor->alg == KEY_ALG_RSA ? "RSA" : "ECDSA");
		goto out;
	}
	rc = xmlsec_check(sig, anchor, err);
out:
	xmlFreeDoc(doc);
	return rc;
}

const char *gcsig_rc_name(enum gcsig_rc rc)
{
	switch (rc) {
	case GCSIG_OK: return "ok";
	case GCSIG_UNSIGNED: return "unsigned";
	case GCSIG_MALFORMED: return "malformed";
	case GCSIG_NOT_ANCHOR: return "not-anchor";
	case GCSIG_BAD_SIGNATURE: return "bad-signature";
	case GCSIG_ERROR: return "error";
	}
	return "?";
}

/* ---- signing -------------------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;   /* never prompt: an encrypted key is refused */
}

static EVP_PKEY *read_key(const char *file, char **err)
{
	BIO *b = BIO_new_file(file, "r");
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;

	if (!k)
		fail(err, GCSIG_ERROR, "%s: cannot read a private key (%s; PEM, unencrypted)", file,
		     b ? "not a PEM private key, or encrypted" : "cannot open the file");
	BIO_free(b);
	ERR_clear_error();
	return k;
}

/* Drops the ds:Signature children of root (and the line break after each). */
static size_t drop_signatures(xmlNodePtr root)
{
	xmlNodePtr n = root->children, next;
	size_t dropped = 0;

	for (; n; n = next) {
		next = n->next;
		if (!is_ds(n, "Signature"))
			continue;
		if (next && next->type == XML_TEXT_NODE && xmlIsBlankNode(next)) {
			xmlNodePtr t = next;
			next = next->next;
			xmlUnlinkNode(t);
			xmlFreeNode(t);
		}
		xmlUnlinkNode(n);
		xmlFreeNode(n);
		dropped++;
	}
	return dropped;
}

/* The template: Signature as root's last child, one Reference URI="". */
static xmlNodePtr add_template(xmlDocPtr doc, int alg)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig, ref, ki, xd;

	sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId,
					      alg == KEY_ALG_RSA ? xmlSecTransformRsaSha256Id
								 : xmlSecTransformEcdsaSha256Id,
					      NULL, (const xmlChar *)"ds");
	if (!sig)
		return NULL;
	if (!xmlAddChild(root, sig)) {
		xmlFreeNode(sig);
		return NULL;
	}
	xmlAddNextSibling(sig, xmlNewDocText(doc, (const xmlChar *)"\n"));
	ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, (const xmlChar *)"", NULL);
	if (!ref || !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
	    !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) ||
	    !(ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL)) ||
	    !(xd = xmlSecTmplKeyInfoAddX509Data(ki)) || !xmlSecTmplX509DataAddCertificate(xd))
		return NULL;
	return sig;
}

/* The signing key: the private key plus the certificate KeyInfo carries. */
static xmlSecKeyPtr signing_key(EVP_PKEY *pk, X509 *cert)
{
	xmlSecKeyPtr key = xmlsec_key(pk);
	xmlSecKeyDataPtr x5;
	X509 *c;

	if (!key)
		return NULL;
	if (!(x5 = xmlSecKeyEnsureData(key, xmlSecOpenSSLKeyDataX509Id)) || !(c = X509_dup(cert)))
		goto fail;
	if (xmlSecOpenSSLKeyDataX509AdoptCert(x5, c) < 0) {
		X509_free(c);
		goto fail;
	}
	return key;
fail:
	xmlSecKeyDestroy(key);
	return NULL;
}

static int sign_doc(xmlDocPtr doc, EVP_PKEY *pk, X509 *cert, char **err)
{
	xmlSecDSigCtxPtr d = NULL;
	xmlNodePtr sig = add_template(doc, keys_pkey_alg(pk));
	int rc = -1;

	if (!sig) {
		fail(err, GCSIG_ERROR, "cannot build the signature template (out of memory?)");
		return -1;
	}
	if (!(d = xmlSecDSigCtxCreate(NULL)) || !(d->signKey = signing_key(pk, cert))) {
		fail(err, GCSIG_ERROR, "cannot set up the xmlsec signing context");
		goto out;
	}
	if (xmlSecDSigCtxSign(d, sig) < 0) {
		fail(err, GCSIG_ERROR, "xmlsec failed to sign");
		goto out;
	}
	rc = 0;
out:
	if (d)
		xmlSecDSigCtxDestroy(d);
	return rc;
}

/* Key and certificate: readable, matching, a supported algorithm. */
static int load_signer(const char *key_file, const char *cert_file, EVP_PKEY **pk, X509 **cert,
		       char **err)
{
	if (!(*pk = read_key(key_file, err)) || !(*cert = read_cert(cert_file, err)) ||
	    cert_usable(*cert, cert_file, err) < 0)
		return -1;
	if (X509_check_private_key(*cert, *pk) != 1) {
		ERR_clear_error();
		fail(err, GCSIG_ERROR, "%s does not belong to the key %s", cert_file, key_file);
		return -1;
	}
	return 0;
}

static int prepare(xmlDocPtr doc, int replace, char **err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), first;
	size_t had = 0;

	for (xmlNodePtr n = root->children; n; n = n->next)
		had += is_ds(n, "Signature");
	if (had && !replace) {
		fail(err, GCSIG_ERROR, "the document is already signed (a ds:Signature under <%s>); "
		     "pass --replace to sign it again", (const char *)root->name);
		return -1;
	}
	drop_signatures(root);
	if (find_signatures(root, &first) != 0) {
		fail(err, GCSIG_ERROR, "the document holds a ds:Signature inside an element (line %ld); "
		     "only the operator's, as the root's last child, is allowed", xmlGetLineNo(first));
		return -1;
	}
	return 0;
}

int gcsig_sign(const char *xml, size_t len, const char *key_file, const char *cert_file, int replace,
	       struct buf *out, char **err)
{
	xmlDocPtr doc = NULL;
	EVP_PKEY *pk = NULL;
	X509 *cert = NULL;
	xmlChar *mem = NULL;
	int n = 0, rc = -1;

	if (err)
		*err = NULL;
	if (init(err) < 0 || load_signer(key_file, cert_file, &pk, &cert, err) < 0 ||
	    parse_doc(xml, len, &doc, err) != GCSIG_OK || prepare(doc, replace, err) < 0 ||
	    sign_doc(doc, pk, cert, err) < 0)
		goto out;
	xmlDocDumpMemoryEnc(doc, &mem, &n, "UTF-8");
	if (!mem || n <= 0 || buf_append(out, mem, (size_t)n) < 0) {
		fail(err, GCSIG_ERROR, "cannot write the signed document (out of memory or over the cap)");
		goto out;
	}
	rc = 0;
out:
	xmlFree(mem);
	xmlFreeDoc(doc);
	X509_free(cert);
	EVP_PKEY_free(pk);
	return rc;
}
