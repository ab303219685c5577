/* sign_verify: verifying SignedMessage documents.
 *
 * Order matters (README-sign.md, "Signature wrapping"): first the values are
 * taken from fixed places of the one shape we sign, then the whole document
 * must be byte for byte what the signer writes from those values
 * (check_exact), and only then does any cryptography run. Everything the
 * caller is told comes from those places, and the enveloped reference
 * (URI="") covers the whole document except the one Signature found there,
 * so nothing read here lies outside what the signature covers.
 *
 * Two ways to take the values, one verdict: the built-in verifier scans the
 * bytes along the writer's output (scan: no parser, no DOM, one
 * allocation); the xmlsec verifier (sig_verify_opts.xmlsec) needs a DOM, so
 * it parses with libxml2 (no DTD, no network) and walks the tree checking
 * every element, prefix, attribute, namespace declaration and text node
 * (walk). The tests and the fuzz target hold the two to the same verdicts.
 *
 * The cryptography: for any document check_exact accepts, the
 * exclusive-c14n form of each signed part equals what the signer's own
 * functions write from the values, so the built-in verifier checks digests
 * and signature value over the bytes check_exact rebuilt (half the CPU time
 * of xmlsec's generic transform machinery); the xmlsec verifier hands the
 * same checks to xmlsec. Either way the key is the one of the certificate
 * we validated ourselves: nothing is looked up from the document. */
#include "trust/sign_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
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
#include "lib/num.h"
#include "trust/xwalk.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WHY_MAX 200
/* Base64 of a SHA-256 digest: 44 characters. */
#define B64_SHA256_LEN 44
#define ID_MAX 100
/* Longest SignatureValue text. */
#define SIGVALUE_B64_MAX (4 * KEYS_SIG_MAX / 3 + 4)

/* What the scanner (or, for the xmlsec verifier, the shape walk) found.
 * Strings point into text[] (scanner) or into the DOM (walk). */
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
	size_t batch_at;          /* scanner: where <sm:Batch> starts in the document */
	/* Set by check_exact while it rebuilds the document (so no later step
	 * writes any part again): SHA-256 of the message fields (the leaf, and in
	 * the single form what the first Reference covers), of what the first
	 * Reference covers, of SignedProperties and of SignedInfo. */
	unsigned char msg_dg[SHA256_LEN], ref_dg[SHA256_LEN], props_dg[SHA256_LEN], si_dg[SHA256_LEN];
	xmlNodePtr sig;           /* the walk's Signature element (xmlsec verifier) */
	struct xwalk w;           /* the walk's reasons go to why */
	char why[WHY_MAX];
	/* The scanner's values, each NUL-terminated and un-escaped, at most at
	 * the offset it has in the document: as long as the document + 1. */
	char text[];
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

/* ---- the shape walk (xmlsec verifier; trust/xwalk.h) ---------------------------- */

/* <sm:Kind> ... <sm:ContentType>, in order; RequestHash only where present. */
static int walk_message(struct sv *v, struct xw_cur *c)
{
	static const char *const alg[] = { "Algorithm" };
	const char *algv[1];

	if (!XW_TAKE(&v->w, c, SIG_NS, "Kind", XW_TEXT, 16, &v->p.kind) ||
	    !XW_TAKE(&v->w, c, SIG_NS, "Client", XW_TEXT, XRD_ID_TEXT_MAX - 1, &v->p.client) ||
	    !XW_TAKE(&v->w, c, SIG_NS, "Service", XW_TEXT, XRD_ID_TEXT_MAX - 1, &v->p.service) ||
	    !XW_TAKE(&v->w, c, SIG_NS, "MessageId", XW_TEXT, SIG_FIELD_MAX - 1, &v->p.message_id) ||
	    !XW_TAKE(&v->w, c, SIG_NS, "Time", XW_TEXT, SIG_TIME_LEN, &v->p.time))
		return -1;
	if (c->next && c->next->type == XML_ELEMENT_NODE && xw_ns_is(c->next, SIG_NS) &&
	    strcmp((const char *)c->next->name, "RequestHash") == 0 &&
	    !XW_TAKE(&v->w, c, SIG_NS, "RequestHash", XW_TEXT, SIG_FIELD_MAX - 1, &v->p.request_hash))
		return -1;
	if (!xw_take(&v->w, c, SIG_NS, "BodyDigest", XW_TEXT, B64_SHA256_LEN, &v->p.body_digest, alg, algv, 1) ||
	    !XW_TAKE(&v->w, c, SIG_NS, "ContentType", XW_TEXT, SIG_FIELD_MAX - 1, &v->p.content_type))
		return -1;
	if (strcmp(algv[0], SIG_ALG_SHA256) != 0)
		return bad(v, "BodyDigest algorithm must be SHA-256");
	return 0;
}

static int walk_transforms(struct sv *v, struct xw_cur *c, int enveloped)
{
	xmlNodePtr t = XW_TAKE(&v->w, c, SIG_NS_DS, "Transforms", XW_ELEMS, 0, NULL);
	struct xw_cur tc;

	if (!t)
		return -1;
	tc = xw_into(t);
	if ((enveloped && xw_take_alg(&v->w, &tc, SIG_NS_DS, "Transform", SIG_ALG_ENVELOPED, NULL)) ||
	    xw_take_alg(&v->w, &tc, SIG_NS_DS, "Transform", SIG_ALG_EXC_C14N, NULL) ||
	    xw_end_of(&v->w, &tc, "Transforms"))
		return -1;
	return 0;
}

/* Reference URI="" (enveloped + exc-c14n), then Reference Type=SignedProperties
 * URI="#..." (exc-c14n); nothing else. */
static int walk_references(struct sv *v, struct xw_cur *c)
{
	static const char *const r1[] = { "URI" }, *const r2[] = { "Type", "URI" };
	const char *v1[1], *v2[2];
	xmlNodePtr n;
	struct xw_cur rc;

	if (!(n = xw_take(&v->w, c, SIG_NS_DS, "Reference", XW_ELEMS, 0, NULL, r1, v1, 1)))
		return -1;
	/* Single form: the whole document; batch form: the Batch element (check_ids). */
	if (!v->p.batch_id && v1[0][0] != '\0')
		return bad(v, "the first Reference must have URI=\"\"");
	v->ref_uri = v1[0];
	rc = xw_into(n);
	if (walk_transforms(v, &rc, 1) ||
	    xw_take_alg(&v->w, &rc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !XW_TAKE(&v->w, &rc, SIG_NS_DS, "DigestValue", XW_TEXT, B64_SHA256_LEN, &v->p.msg_digest) ||
	    xw_end_of(&v->w, &rc, "Reference"))
		return -1;
	if (!(n = xw_take(&v->w, c, SIG_NS_DS, "Reference", XW_ELEMS, 0, NULL, r2, v2, 2)))
		return -1;
	if (strcmp(v2[0], SIG_TYPE_PROPS) != 0)
		return bad(v, "the second Reference must be of type SignedProperties");
	v->props_uri = v2[1];
	rc = xw_into(n);
	if (walk_transforms(v, &rc, 0) ||
	    xw_take_alg(&v->w, &rc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !XW_TAKE(&v->w, &rc, SIG_NS_DS, "DigestValue", XW_TEXT, B64_SHA256_LEN, &v->p.props_digest) ||
	    xw_end_of(&v->w, &rc, "Reference"))
		return -1;
	return 0;
}

static int walk_signed_info(struct sv *v, struct xw_cur *c)
{
	xmlNodePtr si = XW_TAKE(&v->w, c, SIG_NS_DS, "SignedInfo", XW_ELEMS, 0, NULL);
	struct xw_cur sc;

	if (!si)
		return -1;
	sc = xw_into(si);
	if (xw_take_alg(&v->w, &sc, SIG_NS_DS, "CanonicalizationMethod", SIG_ALG_EXC_C14N, NULL) ||
	    xw_take_alg(&v->w, &sc, SIG_NS_DS, "SignatureMethod", NULL, &v->p.sig_alg) ||
	    walk_references(v, &sc) || xw_end_of(&v->w, &sc, "SignedInfo"))
		return -1;
	if (strcmp(v->p.sig_alg, SIG_ALG_ECDSA_SHA256) && strcmp(v->p.sig_alg, SIG_ALG_RSA_SHA256))
		return bad(v, "signature method must be ecdsa-sha256 or rsa-sha256");
	return 0;
}

static int walk_key_info(struct sv *v, struct xw_cur *c)
{
	xmlNodePtr ki = XW_TAKE(&v->w, c, SIG_NS_DS, "KeyInfo", XW_ELEMS, 0, NULL), xd;
	struct xw_cur kc, xc;

	if (!ki)
		return -1;
	kc = xw_into(ki);
	if (!(xd = XW_TAKE(&v->w, &kc, SIG_NS_DS, "X509Data", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(&v->w, &kc, "KeyInfo"))
		return -1;
	xc = xw_into(xd);
	while (xc.next) {
		if (v->ncerts == 1 + KEYS_CHAIN_MAX)
			return bad(v, "too many certificates in X509Data (at most %d)",
				   1 + KEYS_CHAIN_MAX);
		if (!XW_TAKE(&v->w, &xc, SIG_NS_DS, "X509Certificate", XW_TEXT, SIG_CERT_B64_MAX,
				&v->certs[v->ncerts]))
			return -1;
		v->ncerts++;
	}
	if (v->ncerts == 0)
		return bad(v, "X509Data holds no certificate");
	return 0;
}

/* SignedSignatureProperties: SigningTime, SigningCertificateV2/Cert/(CertDigest, IssuerSerialV2). */
static int walk_signed_sig_props(struct sv *v, struct xw_cur *c)
{
	xmlNodePtr ssp, scv2, cert, cd;
	struct xw_cur sc, vc, cc, dc;

	if (!(ssp = XW_TAKE(&v->w, c, SIG_NS_XADES, "SignedSignatureProperties", XW_ELEMS, 0, NULL)))
		return -1;
	sc = xw_into(ssp);
	if (!XW_TAKE(&v->w, &sc, SIG_NS_XADES, "SigningTime", XW_TEXT, SIG_TIME_LEN, &v->p.signing_time) ||
	    !(scv2 = XW_TAKE(&v->w, &sc, SIG_NS_XADES, "SigningCertificateV2", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(&v->w, &sc, "SignedSignatureProperties"))
		return -1;
	vc = xw_into(scv2);
	if (!(cert = XW_TAKE(&v->w, &vc, SIG_NS_XADES, "Cert", XW_ELEMS, 0, NULL)) ||
	    xw_end_of(&v->w, &vc, "SigningCertificateV2"))
		return -1;
	cc = xw_into(cert);
	if (!(cd = XW_TAKE(&v->w, &cc, SIG_NS_XADES, "CertDigest", XW_ELEMS, 0, NULL)) ||
	    !XW_TAKE(&v->w, &cc, SIG_NS_XADES, "IssuerSerialV2", XW_TEXT, 4096, &v->p.issuer_serial) ||
	    xw_end_of(&v->w, &cc, "Cert"))
		return -1;
	dc = xw_into(cd);
	if (xw_take_alg(&v->w, &dc, SIG_NS_DS, "DigestMethod", SIG_ALG_SHA256, NULL) ||
	    !XW_TAKE(&v->w, &dc, SIG_NS_DS, "DigestValue", XW_TEXT, B64_SHA256_LEN, &v->p.cert_digest) ||
	    xw_end_of(&v->w, &dc, "CertDigest"))
		return -1;
	return 0;
}

/* Object/QualifyingProperties(Target)/SignedProperties(Id): nothing else. */
static int walk_object(struct sv *v, struct xw_cur *c)
{
	static const char *const tn[] = { "Target" }, *const idn[] = { "Id" };
	const char *tv[1], *idv[1];
	xmlNodePtr obj, qp, sp;
	struct xw_cur oc, qc, pc;

	if (!(obj = XW_TAKE(&v->w, c, SIG_NS_DS, "Object", XW_ELEMS, 0, NULL)))
		return -1;
	oc = xw_into(obj);
	if (!(qp = xw_take(&v->w, &oc, SIG_NS_XADES, "QualifyingProperties", XW_ELEMS, 0, NULL, tn, tv, 1)) ||
	    xw_end_of(&v->w, &oc, "Object"))
		return -1;
	v->target = tv[0];
	qc = xw_into(qp);
	if (!(sp = xw_take(&v->w, &qc, SIG_NS_XADES, "SignedProperties", XW_ELEMS, 0, NULL, idn, idv, 1)) ||
	    xw_end_of(&v->w, &qc, "QualifyingProperties"))
		return -1;
	v->p.props_id = idv[0];
	v->id_attr[2] = sp->properties;
	pc = xw_into(sp);
	if (walk_signed_sig_props(v, &pc) || xw_end_of(&v->w, &pc, "SignedProperties"))
		return -1;
	return 0;
}

static int walk_signature(struct sv *v, struct xw_cur *c)
{
	static const char *const idn[] = { "Id" };
	const char *idv[1];
	struct xw_cur sc;

	if (!(v->sig = xw_take(&v->w, c, SIG_NS_DS, "Signature", XW_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.sig_id = idv[0];
	v->id_attr[1] = v->sig->properties;
	sc = xw_into(v->sig);
	if (walk_signed_info(v, &sc) ||
	    !XW_TAKE(&v->w, &sc, SIG_NS_DS, "SignatureValue", XW_TEXT, SIGVALUE_B64_MAX, &v->sigvalue) ||
	    walk_key_info(v, &sc) || walk_object(v, &sc) || xw_end_of(&v->w, &sc, "Signature"))
		return -1;
	return 0;
}

/* Batch form: BatchProof(Index)/Node*, then Batch(Id)/(Root(Count), Signature).
 * The Count is signed: with it the Index and path have one spelling. */
static int walk_batch(struct sv *v, struct xw_cur *c)
{
	static const char *const pn[] = { "Index" }, *const idn[] = { "Id" };
	static const char *const an[] = { "Algorithm", "Count" };
	const char *pv[1], *idv[1], *av[2];
	xmlNodePtr n;
	struct xw_cur pc, bc;

	if (!(n = xw_take(&v->w, c, SIG_NS, "BatchProof", XW_ELEMS, 0, NULL, pn, pv, 1)))
		return -1;
	v->index = pv[0];
	pc = xw_into(n);
	while (pc.next) {
		if (v->nnodes == SIG_BATCH_DEPTH)
			return bad(v, "BatchProof is longer than %d nodes", SIG_BATCH_DEPTH);
		if (!XW_TAKE(&v->w, &pc, SIG_NS, "Node", XW_TEXT, B64_SHA256_LEN, &v->nodes[v->nnodes]))
			return -1;
		v->nnodes++;
	}
	if (!(n = xw_take(&v->w, c, SIG_NS, "Batch", XW_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.batch_id = idv[0];
	v->id_attr[3] = n->properties;
	bc = xw_into(n);
	if (!xw_take(&v->w, &bc, SIG_NS, "Root", XW_TEXT, B64_SHA256_LEN, &v->p.root, an, av, 2) ||
	    walk_signature(v, &bc) || xw_end_of(&v->w, &bc, "Batch"))
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
 * they must, and (doc: the walk's DOM) no attribute is an ID in libxml2's
 * eyes (no DTD, no xml:id; the scanner takes neither). */
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
	if (doc && doc->ids)
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
	struct xw_cur dc = { doc->children }, rc;

	if (!root || doc->children != root || root->next || root->prev)
		return bad(v, "the document must consist of the SignedMessage element alone");
	if (!(root = xw_take(&v->w, &dc, SIG_NS, "SignedMessage", XW_ELEMS, 0, NULL, idn, idv, 1)))
		return -1;
	v->p.root_id = idv[0];
	v->id_attr[0] = root->properties;
	rc = xw_into(root);
	if (walk_message(v, &rc))
		return -1;
	if (rc.next && rc.next->type == XML_ELEMENT_NODE && xw_ns_is(rc.next, SIG_NS) &&
	    strcmp((const char *)rc.next->name, "BatchProof") == 0) {
		if (walk_batch(v, &rc))
			return -1;
	} else if (walk_signature(v, &rc)) {
		return -1;
	}
	if (xw_end_of(&v->w, &rc, "SignedMessage"))
		return -1;
	return check_ids(v, doc);
}

/* ---- the scanner ------------------------------------------------------------------ */

/* The built-in verifier reads the document with this instead of a parser.
 * check_exact later requires the document to be byte for byte what the
 * signer's writers (sign.c) make from the values found here, so all the
 * scanner must do is find those values: it follows the writers' output
 * piece by piece - the fixed bytes between values must be there as written,
 * and each value runs to the next '<' (text) or '"' (attribute). Whatever is
 * not in the writers' output (declaration, DTD, comment, PI, CDATA,
 * whitespace, another prefix or attribute, an element more or less) stops
 * it where the output differs.
 *
 * A value is taken only if the writer, writing it back, produces XML that
 * parses to that very value, and the walk would take it; then both verifiers
 * see the same values and reach the same verdict (test_sign and
 * fuzz_sigverify hold them to it):
 * - text the writer escapes (c14n_text: Client, Service, MessageId,
 *   ContentType): &amp; &lt; &gt; are turned back into & < >; any other
 *   reference and a literal '>' (which it would write as &gt;) are refused;
 * - everything else the writer copies as it is, so no reference at all, and
 *   no "]]>" (not XML in text);
 * - attribute values: no '<', and no tab or line feed (a parser reads them
 *   as spaces, which the writer would write back as spaces);
 * - nowhere a carriage return (a parser reads it as a line feed), a control
 *   character other than tab and line feed, or bytes that are not UTF-8 of
 *   an XML character;
 * - text is never empty and never longer than the walk allows.
 * The pieces below must stay in step with the writers: if they drift, signed
 * documents are refused (every test signs and verifies), never the reverse,
 * since check_exact has the last word. */

enum vkind { V_NONE, V_ATTR, V_TEXT, V_ESC };

/* Literal bytes, then (kind != V_NONE) a value stored at offset slot of
 * struct sv (a const char *). max: longest text, un-escaped (attributes have
 * none here; check_ids bounds the Ids). */
struct piece {
	const char *lit;
	enum vkind kind;
	size_t slot;
	size_t max;
	const char *name;
};

#define SLOT(f) offsetof(struct sv, f)
#define T_SHA256 "<ds:DigestMethod Algorithm=\"" SIG_ALG_SHA256 "\"></ds:DigestMethod>"

/* sig_put_message_part, up to RequestHash. */
static const struct piece msg_head[] = {
	{ "<sm:SignedMessage xmlns:sm=\"" SIG_NS "\" Id=\"", V_ATTR, SLOT(p.root_id), 0,
	  "Id of <sm:SignedMessage>" },
	{ "\"><sm:Kind>", V_TEXT, SLOT(p.kind), 16, "<sm:Kind>" },
	{ "</sm:Kind><sm:Client>", V_ESC, SLOT(p.client), XRD_ID_TEXT_MAX - 1, "<sm:Client>" },
	{ "</sm:Client><sm:Service>", V_ESC, SLOT(p.service), XRD_ID_TEXT_MAX - 1, "<sm:Service>" },
	{ "</sm:Service><sm:MessageId>", V_ESC, SLOT(p.message_id), SIG_FIELD_MAX - 1, "<sm:MessageId>" },
	{ "</sm:MessageId><sm:Time>", V_TEXT, SLOT(p.time), SIG_TIME_LEN, "<sm:Time>" },
	{ "</sm:Time>", V_NONE, 0, 0, NULL },
};

static const struct piece msg_rh[] = {
	{ "<sm:RequestHash>", V_TEXT, SLOT(p.request_hash), SIG_FIELD_MAX - 1, "<sm:RequestHash>" },
	{ "</sm:RequestHash>", V_NONE, 0, 0, NULL },
};

static const struct piece msg_tail[] = {
	{ "<sm:BodyDigest Algorithm=\"" SIG_ALG_SHA256 "\">", V_TEXT, SLOT(p.body_digest),
	  B64_SHA256_LEN, "<sm:BodyDigest>" },
	{ "</sm:BodyDigest><sm:ContentType>", V_ESC, SLOT(p.content_type), SIG_FIELD_MAX - 1,
	  "<sm:ContentType>" },
	{ "</sm:ContentType>", V_NONE, 0, 0, NULL },
};

/* sig_put_proof (its Nodes: scan), then sig_put_batch_part. */
static const struct piece batch_head[] = {
	{ "<sm:BatchProof Index=\"", V_ATTR, SLOT(index), 0, "Index of <sm:BatchProof>" },
	{ "\">", V_NONE, 0, 0, NULL },
};

static const struct piece batch_tail[] = {
	{ "</sm:BatchProof><sm:Batch xmlns:sm=\"" SIG_NS "\" Id=\"", V_ATTR, SLOT(p.batch_id), 0,
	  "Id of <sm:Batch>" },
	{ "\"><sm:Root Algorithm=\"" SIG_ALG_SHA256 "\" Count=\"", V_ATTR, SLOT(p.batch_count), 0,
	  "Count of <sm:Root>" },
	{ "\">", V_TEXT, SLOT(p.root), B64_SHA256_LEN, "<sm:Root>" },
	{ "</sm:Root>", V_NONE, 0, 0, NULL },
};

/* The Signature start tag, sig_put_signed_info, the head of sig_put_signature_tail. */
static const struct piece sig_head[] = {
	{ "<ds:Signature xmlns:ds=\"" SIG_NS_DS "\" Id=\"", V_ATTR, SLOT(p.sig_id), 0,
	  "Id of <ds:Signature>" },
	{ "\"><ds:SignedInfo xmlns:ds=\"" SIG_NS_DS "\"><ds:CanonicalizationMethod Algorithm=\""
	  SIG_ALG_EXC_C14N "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"",
	  V_ATTR, SLOT(p.sig_alg), 0, "Algorithm of <ds:SignatureMethod>" },
	{ "\"></ds:SignatureMethod><ds:Reference URI=\"", V_ATTR, SLOT(ref_uri), 0,
	  "URI of the first <ds:Reference>" },
	{ "\"><ds:Transforms><ds:Transform Algorithm=\"" SIG_ALG_ENVELOPED "\"></ds:Transform>"
	  "<ds:Transform Algorithm=\"" SIG_ALG_EXC_C14N "\"></ds:Transform></ds:Transforms>"
	  T_SHA256 "<ds:DigestValue>", V_TEXT, SLOT(p.msg_digest), B64_SHA256_LEN,
	  "<ds:DigestValue> of the first <ds:Reference>" },
	{ "</ds:DigestValue></ds:Reference><ds:Reference Type=\"" SIG_TYPE_PROPS "\" URI=\"",
	  V_ATTR, SLOT(props_uri), 0, "URI of the second <ds:Reference>" },
	{ "\"><ds:Transforms><ds:Transform Algorithm=\"" SIG_ALG_EXC_C14N "\"></ds:Transform>"
	  "</ds:Transforms>" T_SHA256 "<ds:DigestValue>", V_TEXT, SLOT(p.props_digest),
	  B64_SHA256_LEN, "<ds:DigestValue> of the second <ds:Reference>" },
	{ "</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>", V_TEXT,
	  SLOT(sigvalue), SIGVALUE_B64_MAX, "<ds:SignatureValue>" },
	{ "</ds:SignatureValue><ds:KeyInfo><ds:X509Data>", V_NONE, 0, 0, NULL },
};

/* The rest of sig_put_signature_tail with sig_put_signed_props inside. */
static const struct piece sig_tail[] = {
	{ "</ds:X509Data></ds:KeyInfo><ds:Object><xades:QualifyingProperties xmlns:xades=\""
	  SIG_NS_XADES "\" Target=\"", V_ATTR, SLOT(target), 0,
	  "Target of <xades:QualifyingProperties>" },
	{ "\"><xades:SignedProperties xmlns:xades=\"" SIG_NS_XADES "\" Id=\"", V_ATTR,
	  SLOT(p.props_id), 0, "Id of <xades:SignedProperties>" },
	{ "\"><xades:SignedSignatureProperties><xades:SigningTime>", V_TEXT,
	  SLOT(p.signing_time), SIG_TIME_LEN, "<xades:SigningTime>" },
	{ "</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
	  "<ds:DigestMethod xmlns:ds=\"" SIG_NS_DS "\" Algorithm=\"" SIG_ALG_SHA256 "\">"
	  "</ds:DigestMethod><ds:DigestValue xmlns:ds=\"" SIG_NS_DS "\">", V_TEXT,
	  SLOT(p.cert_digest), B64_SHA256_LEN, "<ds:DigestValue> of <xades:CertDigest>" },
	{ "</ds:DigestValue></xades:CertDigest><xades:IssuerSerialV2>", V_TEXT,
	  SLOT(p.issuer_serial), 4096, "<xades:IssuerSerialV2>" },
	{ "</xades:IssuerSerialV2></xades:Cert></xades:SigningCertificateV2>"
	  "</xades:SignedSignatureProperties></xades:SignedProperties>"
	  "</xades:QualifyingProperties></ds:Object></ds:Signature>", V_NONE, 0, 0, NULL },
};

struct scan {
	const char *in;   /* the document */
	size_t len, at;   /* its length; where the scan is */
	struct sv *v;     /* values go to v->text, at their offset in the document or before */
};

/* The constructs the writer never makes, by how they start; NULL if p starts
 * none of them. For the messages. */
static const char *construct_at(const char *p, size_t left)
{
	static const struct { const char *start, *what; } kinds[] = {
		{ "<!--", "a comment" }, { "<![CDATA[", "a CDATA section" },
		{ "<!DOCTYPE", "a DTD" }, { "<?", "a processing instruction or XML declaration" },
		{ "&", "a character or entity reference" }, { " ", "whitespace" },
		{ "\t", "whitespace" }, { "\r", "whitespace" }, { "\n", "whitespace" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strlen(kinds[i].start) <= left && !memcmp(p, kinds[i].start, strlen(kinds[i].start)))
			return kinds[i].what;
	return NULL;
}

/* The bytes want must come next. On a difference, says where, what is there
 * if it is something the writer never makes, and the tag (of want) the
 * writer has at that place. */
static int expect(struct scan *s, const char *want)
{
	size_t n = strlen(want), left = s->len - s->at, i = 0, tag, end, pos;
	const char *p = s->in + s->at, *what;

	if (n <= left && memcmp(p, want, n) == 0) {
		s->at += n;
		return 0;
	}
	while (i < n && i < left && p[i] == want[i])
		i++;
	for (tag = i; tag > 0 && want[tag] != '<'; tag--)
		;
	for (end = i; end < n && want[end] != '>'; end++)
		;
	end = end < n ? end + 1 : n;
	if (end - tag > 80)
		end = tag + 80;
	/* "<!--" where "<sm:" is written differs at its second byte: name it from the '<'. */
	pos = tag;
	if (!(want[tag] == '<' && (what = construct_at(p + tag, left - tag))))
		pos = i, what = construct_at(p + i, left - i);
	if (what && !strcmp(what, "a DTD"))
		return bad(s->v, "a DTD is not allowed in a signature document");
	if (what)
		return bad(s->v, "%s at byte %zu where the signer writes %.*s", what, s->at + pos,
			   (int)(end - tag), want + tag);
	if (i == left)
		return bad(s->v, "the document ends at byte %zu where the signer writes %.*s", s->at + i,
			   (int)(end - tag), want + tag);
	return bad(s->v, "byte %zu differs from what the signer writes there: %.*s", s->at + i,
		   (int)(end - tag), want + tag);
}

/* 1 if the bytes want come next (nothing taken). */
static int next_is(const struct scan *s, const char *want)
{
	size_t n = strlen(want);

	return n <= s->len - s->at && memcmp(s->in + s->at, want, n) == 0;
}

/* Length of the UTF-8 sequence at p (left bytes) if it is an XML Char of
 * U+0080 or above (XML 1.0 section 2.2; C1 controls are Chars there), else 0. */
static size_t utf8_char_len(const unsigned char *p, size_t left)
{
	unsigned c = p[0], cp;
	size_t n, i;

	if ((c & 0xe0) == 0xc0)
		n = 2, cp = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || cp > 0x10ffff)
		return 0;
	return n;
}

/* The three references the writer makes of & < > in escaped text. */
static size_t unescape(const char *p, size_t left, char *out)
{
	static const struct { const char *ref; char c; } refs[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	};

	for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
		size_t n = strlen(refs[i].ref);
		if (n <= left && memcmp(p, refs[i].ref, n) == 0) {
			*out = refs[i].c;
			return n;
		}
	}
	return 0;
}

/* Bytes a value may hold as they are, in any kind of value: printable
 * ASCII but " & < >. The rest goes through one_char. */
static const unsigned char plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x25] = 1, [0x27 ... 0x3b] = 1, [0x3d] = 1, [0x3f ... 0x7f] = 1,
};

/* One character of a value at in[at] that is not plain: appended (un-escaped)
 * at *o, which moves on; the bytes it took, or 0 (why in v). start: where the
 * value began. */
static size_t one_char(struct scan *s, enum vkind kind, size_t start, size_t at, char **o,
		       const char *name)
{
	const unsigned char *in = (const unsigned char *)s->in;
	unsigned char c = in[at];
	size_t n;

	if (c == '&') {
		if (kind != V_ESC)
			return bad(s->v, "%s holds a character or entity reference (the signer writes "
				   "none there)", name), 0;
		if (!(n = unescape(s->in + at, s->len - at, *o)))
			return bad(s->v, "%s holds a reference other than &amp; &lt; &gt;", name), 0;
		++*o;
		return n;
	}
	if (c == '>' && kind == V_ESC)
		return bad(s->v, "%s holds '>' (the signer writes &gt;)", name), 0;
	if (c == '>' && kind == V_TEXT && at - start >= 2 && in[at - 1] == ']' && in[at - 2] == ']')
		return bad(s->v, "%s holds ']]>'", name), 0;
	if (c == '<' || (kind == V_ATTR && (c == '\t' || c == '\n')))
		return bad(s->v, "%s holds '<', a tab or a line feed", name), 0;
	if (c == '\r' || (c < 0x20 && c != '\t' && c != '\n'))
		return bad(s->v, "%s holds a control character", name), 0;
	if (!(n = c < 0x80 ? 1 : utf8_char_len(in + at, s->len - at)))
		return bad(s->v, "%s holds bytes that are not UTF-8 of an XML character", name), 0;
	memcpy(*o, in + at, n);
	*o += n;
	return n;
}

/* The value at s->at, un-escaped into v->text at the same offset or before
 * (a value never grows), NUL-terminated; the scan stops at its end. */
static const char *value(struct scan *s, enum vkind kind, size_t max, const char *name)
{
	const unsigned char *in = (const unsigned char *)s->in;
	size_t at = s->at, run, n;
	char *o = s->v->text + at, *first = o, stop = kind == V_ATTR ? '"' : '<';

	for (;;) {
		for (run = at; run < s->len && plain[in[run]]; run++)
			;
		memcpy(o, in + at, run - at);
		o += run - at;
		at = run;
		if (at == s->len || in[at] == stop)
			break;
		if (!(n = one_char(s, kind, s->at, at, &o, name)))
			return NULL;
		at += n;
	}
	if (at == s->len)
		return bad(s->v, "the document ends inside %s", name), NULL;
	if (kind != V_ATTR && at + 1 < s->len && in[at + 1] != '/') {
		const char *what = construct_at(s->in + at, s->len - at);
		return bad(s->v, "%s holds %s (the signer writes only text there)", name,
			   what ? what : "an element"), NULL;
	}
	if (kind != V_ATTR && o == first)
		return bad(s->v, "%s must hold text", name), NULL;
	if (kind != V_ATTR && (size_t)(o - first) > max)
		return bad(s->v, "%s is too long", name), NULL;
	*o = '\0';
	s->at = at;
	return first;
}

static int pieces(struct scan *s, const struct piece *pc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *val;

		if (expect(s, pc[i].lit) != 0)
			return -1;
		if (pc[i].kind == V_NONE)
			continue;
		if (!(val = value(s, pc[i].kind, pc[i].max, pc[i].name)))
			return -1;
		*(const char **)((char *)s->v + pc[i].slot) = val;
	}
	return 0;
}

#define PIECES(s, pc) pieces(s, pc, ARRAY_SIZE(pc))

/* Repeated text elements (X509Certificate, Node): open, value, close; at most max. */
static int repeated(struct scan *s, const char *open, const char *close, const char *name,
		    size_t max_len, const char **out, size_t *count, size_t max)
{
	while (next_is(s, open)) {
		if (*count == max)
			return -1;
		s->at += strlen(open);
		if (!(out[*count] = value(s, V_TEXT, max_len, name)) || expect(s, close) != 0)
			return -1;
		(*count)++;
	}
	return 0;
}

/* Fills v from the document the way walk() does from its DOM. v->text has
 * len + 1 bytes. */
static int scan(struct sv *v, const char *xml, size_t len)
{
	struct scan s = { xml, len, 0, v };

	if (PIECES(&s, msg_head) != 0 || (next_is(&s, "<sm:RequestHash") && PIECES(&s, msg_rh) != 0) ||
	    PIECES(&s, msg_tail) != 0)
		return -1;
	if (next_is(&s, "<sm:BatchProof")) {
		if (PIECES(&s, batch_head) != 0)
			return -1;
		if (repeated(&s, "<sm:Node>", "</sm:Node>", "<sm:Node>", B64_SHA256_LEN, v->nodes,
			     &v->nnodes, SIG_BATCH_DEPTH) != 0)
			return bad(v, "BatchProof is longer than %d nodes", SIG_BATCH_DEPTH);
		v->batch_at = s.at + strlen("</sm:BatchProof>");
		if (PIECES(&s, batch_tail) != 0)
			return -1;
	}
	if (PIECES(&s, sig_head) != 0)
		return -1;
	if (repeated(&s, "<ds:X509Certificate>", "</ds:X509Certificate>", "<ds:X509Certificate>",
		     SIG_CERT_B64_MAX, v->certs, &v->ncerts, 1 + KEYS_CHAIN_MAX) != 0)
		return bad(v, "too many certificates in X509Data (at most %d)", 1 + KEYS_CHAIN_MAX);
	if (v->ncerts == 0)
		return bad(v, "X509Data holds no certificate");
	if (PIECES(&s, sig_tail) != 0 ||
	    expect(&s, v->p.batch_id ? "</sm:Batch></sm:SignedMessage>" : "</sm:SignedMessage>") != 0)
		return -1;
	if (s.at != len) {
		const char *what = construct_at(xml + s.at, len - s.at);
		return bad(v, "%s at byte %zu after </sm:SignedMessage>", what ? what : "more bytes", s.at);
	}
	/* What the walk checks besides the shape. */
	if (!v->p.batch_id && v->ref_uri[0] != '\0')
		return bad(v, "the first Reference must have URI=\"\"");
	if (strcmp(v->p.sig_alg, SIG_ALG_ECDSA_SHA256) && strcmp(v->p.sig_alg, SIG_ALG_RSA_SHA256))
		return bad(v, "signature method must be ecdsa-sha256 or rsa-sha256");
	return check_ids(v, NULL);
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

/* Index and Count: a decimal 0..max with one spelling; -1 otherwise. */
static long dec_value(const char *s, long max)
{
	return dec_strict(s, strlen(s), max);
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

/* The signing time within the allowed skew of this gateway's clock: 0, or
 * -1 with the fault. */
static int check_skew(struct vctx *x, const struct sv *v, const struct sig_result *r)
{
	if (llabs((long long)r->time.tv_sec - (long long)x->now) <= x->skew)
		return 0;
	return fault_set(x->f, x->pfx, "InvalidSignatureValue", "signing time %s is more than %ld s "
			 "away from this gateway's clock", v->p.signing_time, x->skew);
}

/* The end of a verification: on success (rc 0) r takes the signer and its
 * leaf reference; otherwise the reference is dropped. Returns rc. */
static int signer_to_result(int rc, struct sig_signer *s, struct sig_result *r)
{
	if (rc != 0) {
		X509_free(s->leaf);
		return rc;
	}
	r->signer = s->leaf;
	memcpy(r->member_class, s->member_class, sizeof(r->member_class));
	memcpy(r->member_code, s->member_code, sizeof(r->member_code));
	return 0;
}

/* Certificate, then the cheap checks, then the signature. */
static int verify_signer(struct vctx *x, struct sv *v, xmlDocPtr doc, X509_STORE *trust,
			 struct sig_result *r, struct sig_signer *keep)
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
	else if (check_skew(x, v, r) != 0)
		;
	else if ((x->xmlsec ? xmlsec_verify(v, doc, &s) : builtin_verify(v, &s)) != 0)
		fault_set(x->f, x->pfx, "InvalidSignatureValue", "%s", v->why);
	else
		rc = 0;
	if (signer_to_result(rc, &s, r) != 0)
		return rc;
	if (keep)
		*keep = s;      /* the leaf reference stays r's */
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

/* A batch document whose Batch element verified before (sig_trust_batch_get):
 * the element is byte for byte one that check_exact and verify_signer
 * accepted, so what remains is this message's own part - written the one
 * way, its fields, its path to the Root - and the signing time against the
 * clock. The same checks in the same order as the full path, so the same
 * faults. */
static int check_exact_message(struct sv *v, const char *xml)
{
	struct buf b;
	int ok;

	buf_init(&b, SIG_XML_MAX + 1);
	ok = sig_put_message_part(&b, &v->p) == 0 && sig_digest_message_part(&b, 0, v->msg_dg) == 0 &&
	     sig_put_proof(&b, v->index, v->nodes, v->nnodes) == 0 && b.len == v->batch_at &&
	     memcmp(b.data, xml, b.len) == 0;
	if (!ok)
		bad(v, "the document is not written the one way a signer writes it (no XML declaration, "
		       "double quotes, no character references, no spaces inside tags, no repeated "
		       "declarations)");
	buf_free(&b);
	return ok ? 0 : -1;
}

static int check_body(struct vctx *x, struct sv *v, const unsigned char *body_sha256)
{
	unsigned char bd[SHA256_LEN];

	if (b64_exact(v->p.body_digest, bd, sizeof(bd)) != 0 ||
	    CRYPTO_memcmp(bd, body_sha256, sizeof(bd)) != 0)
		return fault_set(x->f, x->pfx, "InvalidSignatureValue",
				 "body digest differs: the body is not the one that was signed");
	if (v->p.batch_id && check_batch_proof(v) != 0)
		return fault_set(x->f, x->pfx, "InvalidSignatureValue", "%s", v->why);
	return 0;
}

static _Thread_local unsigned long known_batches;

unsigned long sig_verify_known_batches(void)
{
	return known_batches;
}

static int verify_known_batch(struct vctx *x, struct sv *v, const char *xml, const unsigned char *body_sha256,
			      struct sig_signer *s, struct sig_result *r)
{
	int rc = -1;

	known_batches++;
	if (check_fields(v, r) != 0 || check_exact_message(v, xml) != 0)
		fault_set(x->f, x->pfx, "MalformedSignature", "%s", v->why);
	else if (check_body(x, v, body_sha256) == 0 && check_skew(x, v, r) == 0)
		rc = 0;
	return signer_to_result(rc, s, r);
}

static int verify_parsed(struct vctx *x, struct sv *v, xmlDocPtr doc, const char *xml, size_t xml_len,
			 const unsigned char *body_sha256, X509_STORE *trust, struct sig_result *r)
{
	static const size_t tail = sizeof("</sm:SignedMessage>") - 1;
	/* The scanner's batch documents: <sm:Batch>...</sm:Batch> at batch_at. */
	const char *el = v->p.batch_id && !doc ? xml + v->batch_at : NULL;
	size_t el_len = el ? xml_len - tail - v->batch_at : 0;
	struct sig_signer s;

	if (el && sig_trust_batch_get(trust, el, el_len, x->now, &s))
		return verify_known_batch(x, v, xml, body_sha256, &s, r);
	if (check_fields(v, r) != 0 || check_exact(v, xml, xml_len) != 0)
		return fault_set(x->f, x->pfx, "MalformedSignature", "%s", v->why);
	if (check_body(x, v, body_sha256) != 0 || verify_signer(x, v, doc, trust, r, el ? &s : NULL) != 0)
		return -1;
	if (el)
		sig_trust_batch_put(trust, el, el_len, &s);
	return 0;
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
	/* One allocation: the values and, for the scanner, room for their text. */
	if (!(v = malloc(sizeof(*v) + (x.xmlsec ? 0 : xml_len + 1))))
		return fault_set(f, x.pfx, "InternalError", "out of memory");
	memset(v, 0, sizeof(*v));
	v->w = (struct xwalk){ v->why, sizeof(v->why), "" };
	/* xmlsec needs a DOM: that verifier keeps libxml2 and the walk, so the
	 * tests and the fuzz target compare the scanner with a real parser. */
	if (x.xmlsec ? !(doc = xw_parse(&v->w, xml, xml_len, "the signature document")) || walk(v, doc) != 0 : scan(v, xml, xml_len) != 0)
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
