/* docsign: enveloped XAdES signatures over whole XML documents (XAdES-BES,
 * and XAdES-T with an RFC 3161 signature time stamp).
 *
 * sign.h signs small fixed-shape SignedMessage documents that carry a body
 * digest; docsign signs a whole document instead - an e-signed certificate
 * (adapters/certificates/) - so that anyone can check it offline:
 *   xmlsec1 --verify --trusted-pem ROOT.pem --id-attr:Id SignedProperties doc.xml
 * and its time stamp with `openssl ts -verify` (adapters/certificates/README.md
 * shows both). The Signature is appended as the last child of the root:
 *   Reference URI="" (enveloped-signature + exc-c14n) over the document,
 *   Reference to xades:SignedProperties (SigningTime, SigningCertificateV2),
 *   KeyInfo with the signing certificate and its chain,
 *   and, after docsign_add_timestamp, xades:UnsignedProperties/
 *   UnsignedSignatureProperties/SignatureTimeStamp/EncapsulatedTimeStamp: an
 *   RFC 3161 token over the exclusive-c14n form of ds:SignatureValue.
 * The signature value comes from key->ops->sign_digest: the private key is
 * never touched here.
 *
 * Signing is split so the caller can run the blocking tsa_stamp() on a
 * worker thread:
 *   docsign_sign(key, xml, len, NULL, &signed, &to_stamp, &err);
 *   tsa_stamp(tsa, to_stamp.data, to_stamp.len, &resp, &rlen, &gen, &err);  (blocks)
 *   docsign_add_timestamp(signed.data, signed.len, resp, rlen, &final, &err);
 *
 * Thread-safe after sig_global_init() (trust/sign.h): no state of its own;
 * keys, trust stores and TSA trust are read-only and may be shared. Every call
 * is CPU-only (no I/O), so it may run on a worker thread; documents of tens of
 * KiB take well under a millisecond plus the key operation. */
#ifndef AILGATE_TRUST_DOCSIGN_H
#define AILGATE_TRUST_DOCSIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "lib/buf.h"
#include "proto/xrd_id.h"
#include "trust/keys.h"

struct tsa_trust;   /* store/tsa.h */

/* Largest document signed or verified (the signature adds ~4 KiB, the time
 * stamp ~5 KiB; a certificate document is 3-20 KiB). */
#define DOCSIGN_XML_MAX (1024 * 1024)
/* Largest EncapsulatedTimeStamp token (DER) accepted. */
#define DOCSIGN_TOKEN_MAX (16 * 1024)
#define DOCSIGN_REASON_MAX 320
#define DOCSIGN_NAME_MAX 256
/* Default allowance for clocks: a SigningTime may be this much later than the
 * time stamp (or, unstamped, than the verifier's clock). */
#define DOCSIGN_DEFAULT_SKEW_S 300

/* Signs a document: xml (UTF-8, XML 1.0, at most DOCSIGN_XML_MAX bytes; no
 * DTD, comments, processing instructions, CDATA, xml:id, nor any element in
 * the XML-DSig or XAdES namespaces; the root must have an end tag) is copied
 * to out with the Signature inserted right before the root's end tag - every
 * other byte stays as it was. signing_time NULL (or {0,0}): the clock.
 * to_stamp receives the bytes a signature time stamp covers (the
 * exclusive-c14n form of ds:SignatureValue); pass it to tsa_stamp(). Both
 * buffers are the caller's and are appended to (their caps must allow the
 * sizes above); on failure both are left as they were and *err (caller frees)
 * says what is wrong with the document or that the key failed. */
int docsign_sign(const struct signing_key *k, const char *xml, size_t len,
		 const struct timespec *signing_time, struct buf *out, struct buf *to_stamp,
		 char **err) __attribute__((warn_unused_result));

/* Adds the signature time stamp: tsa_resp is the DER TimeStampResp that
 * tsa_stamp() returned for to_stamp (already verified by it). Checks that the
 * document carries exactly one of our signatures without a time stamp and
 * that the token's imprint is SHA-256 of that signature's SignatureValue
 * (a stamp for another document is refused), then appends to out the
 * document with the token inserted as the XAdES-T SignatureTimeStamp. The
 * signed bytes are unchanged, so the document digest changes but the
 * signature stays valid. 0, or -1 with *err (caller frees); out is left as
 * it was on failure. */
int docsign_add_timestamp(const char *signed_xml, size_t len, const unsigned char *tsa_resp,
			  size_t resp_len, struct buf *out, char **err)
	__attribute__((warn_unused_result));

/* Recomputes the bytes to time-stamp of a document signed by docsign_sign
 * (for a stamp added later). Appends to out; 0, or -1 with *err. */
int docsign_stamp_data(const char *signed_xml, size_t len, struct buf *out, char **err)
	__attribute__((warn_unused_result));

enum docsign_status {
	DOCSIGN_VALID = 0,
	DOCSIGN_TAMPERED,   /* a signed byte changed: the document, its signed properties,
			     * the signature value or the time stamp no longer match */
	DOCSIGN_INVALID,    /* not a document we can accept: not well-formed, not our
			     * signature shape, certificate not trusted, expired or naming
			     * no member, time stamp missing (when required) or untrusted */
};

struct docsign_verify_opts {
	time_t now;              /* 0: the clock (tests set it) */
	int require_timestamp;   /* 1: a document without SignatureTimeStamp is INVALID */
	long max_skew_s;         /* 0: DOCSIGN_DEFAULT_SKEW_S */
};

/* What a verification found. Signer fields are set only when VALID. */
struct docsign_result {
	enum docsign_status status;
	char reason[DOCSIGN_REASON_MAX];      /* for a person; "" when VALID */
	char member_class[XRD_PART_MAX];      /* signer's member (certificate rule, sign.h) */
	char member_code[XRD_PART_MAX];
	char signer_name[DOCSIGN_NAME_MAX];   /* the certificate's O (or CN), UTF-8 */
	unsigned char cert_sha256[32];        /* of the signing certificate's DER */
	struct timespec signing_time;         /* xades:SigningTime */
	int stamped;                          /* 1: a time stamp verified */
	int64_t stamp_time_ms;                /* its genTime (ms since the epoch), 0 if none */
};

/* Verifies a signed document, in this order (the first failure decides):
 *  1. size cap, parse (no DTD, no network, UTF-8, XML 1.0), the content rules
 *     of docsign_sign, exactly one ds:Signature and it is the root's last
 *     child, the strict shape of that Signature (fixed algorithms, the two
 *     references, prefixes, ids, no extra node), field syntax -> INVALID;
 *  2. the time stamp, when there is one: token signed by the TSA of tsa
 *     (chain checked as of its genTime) -> INVALID if untrusted;
 *  3. the signing certificate chains to trust (X509_STORE from
 *     sig_trust_new) as of the time stamp's genTime, or of now when the
 *     document has none; it names a member; SigningCertificateV2 names it;
 *     the signature method fits its key -> INVALID;
 *  4. xmlsec checks both references and the signature value with that
 *     certificate's key -> TAMPERED, saying which part changed;
 *  5. the time stamp's imprint is the SignatureValue's -> TAMPERED;
 *     SigningTime no later than the stamp (or now) + skew -> INVALID;
 *     o->require_timestamp and no stamp -> INVALID.
 * tsa may be NULL only if documents with a time stamp need not be accepted
 * (such a document is then INVALID: "no TSA trust configured"). o may be NULL.
 * Returns 0 when the checks ran (r->status holds the verdict), -1 when they
 * could not run (sig_global_init not called, no trust store, out of memory:
 * r->reason says which). */
int docsign_verify(const char *xml, size_t len, X509_STORE *trust, const struct tsa_trust *tsa,
		   const struct docsign_verify_opts *o, struct docsign_result *r)
	__attribute__((warn_unused_result));

/* "valid", "tampered", "invalid". */
const char *docsign_status_name(enum docsign_status s);

#endif
