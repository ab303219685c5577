/* sign_int.h: what sign.c, sign_verify.c and sign_trust.c share. Not for
 * other modules: use trust/sign.h. */
#ifndef AILGATE_TRUST_SIGN_INT_H
#define AILGATE_TRUST_SIGN_INT_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "trust/sign.h"

#define SIG_NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define SIG_NS_XADES "http://uri.etsi.org/01903/v1.3.2#"
#define SIG_ALG_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define SIG_ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define SIG_ALG_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define SIG_ALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define SIG_ALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SIG_TYPE_PROPS "http://uri.etsi.org/01903#SignedProperties"

/* Length of "2026-11-22T05:00:00.123Z". */
#define SIG_TIME_LEN 24
/* Longest base64 certificate we accept in KeyInfo. */
#define SIG_CERT_B64_MAX (12 * 1024)

/* SHA-256 with a digest fetched once (thread-safe); 0 or -1. */
int sig_sha256(const void *data, size_t len, unsigned char *out);
const EVP_MD *sig_md_sha256(void);

/* 1 once sig_global_init() succeeded (and no shutdown since). */
int sig_ready(void);

/* 1 if s is 1..max-1 bytes of UTF-8 made of XML characters >= U+0020
 * (no control characters). */
int sig_text_ok(const char *s, size_t max);
/* 1 if s is 1..max-1 bytes of the base64 alphabet, length a multiple of 4. */
int sig_b64_ok(const char *s, size_t max);

/* b64_decode that also refuses non-zero spare bits before the padding (so
 * each text has one meaning). Length decoded, or -1. */
long sig_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap);

/* P-256 ECDSA s (32 bytes, big-endian): 1 if s <= n/2. normalize turns a
 * high s into n - s in place (the same signature); 0 or -1. */
int sig_ecdsa_low_s(const unsigned char *s);
int sig_ecdsa_normalize(unsigned char *s);

/* The one time format of the document; 0 or -1. out holds SIG_TIME_LEN + 1. */
int sig_time_format(const struct timespec *t, char *out, size_t outlen);
int sig_time_parse(const char *s, struct timespec *out);

/* The values the signed parts of a SignedMessage are made of. The signer
 * fills it from sig_meta and its key; the verifier from the parsed document
 * (after the strict walk), and then rebuilds the very bytes that were
 * digested with the same functions (README-sign.md, "Verification"). */
struct sig_parts {
	const char *root_id, *sig_id, *props_id;
	const char *kind, *client, *service, *message_id, *time;
	const char *request_hash;               /* NULL: none (requests) */
	const char *body_digest, *content_type;
	const char *sig_alg;                    /* SignatureMethod URI */
	const char *msg_digest, *props_digest;  /* the two Reference DigestValues */
	const char *signing_time, *cert_digest, *issuer_serial;
	/* Batch signatures (README-sign.md, "Batches"): the first Reference
	 * points at the Batch element (URI="#<batch_id>") instead of the whole
	 * document; NULL for a single signature. */
	const char *batch_id, *root;            /* root: base64 hash-tree root */
	const char *batch_count;                /* leaves in the tree, decimal */
};

/* Hash tree of a batch: RFC 9162 (section 2.1) shape over leaves that are
 * the SHA-256 a single signature's enveloped reference would have; an
 * interior node is SHA-256(0x01 || left || right). At most SIG_BATCH_MAX
 * leaves, so a path has at most SIG_BATCH_DEPTH nodes. */
#define SIG_BATCH_DEPTH 8
/* Root of n leaves; path[i] (npath[i] nodes, leaf upwards) is leaf i's audit
 * path. 0 or -1. */
int sig_tree_build(const unsigned char (*leaves)[32], size_t n, unsigned char root[32],
		   unsigned char (*path)[SIG_BATCH_DEPTH][32], size_t *npath);
/* Folds leaf (index of count) with its audit path into root; 0, or -1 when
 * the path does not fit the index and count. */
int sig_tree_fold(const unsigned char leaf[32], size_t index, size_t count,
		  const unsigned char (*path)[32], size_t npath, unsigned char root[32]);
/* Appends the Batch start tag and Root (canonical form: the reference covers
 * these + "</sm:Batch>"). 0 or -1. */
int sig_put_batch_part(struct buf *b, const struct sig_parts *p);
/* The rest of a Signature element after SignedInfo: SignatureValue, KeyInfo
 * (certs, leaf first), Object with QualifyingProperties around props (the
 * SignedProperties bytes), closing tag. 0 or -1. */
int sig_put_signature_tail(struct buf *b, const struct sig_parts *p, const char *sig_b64,
			   const char *const *certs, size_t ncerts, const struct buf *props);
/* Base64 of a signature value, with its NUL. */
#define SIG_VALUE_B64_MAX (4 * (KEYS_SIG_MAX / 3 + 1) + 1)
/* A whole Signature element for p, signed with k: SignedProperties (from p),
 * SignedInfo over their digest and p->msg_digest, the key operation,
 * SignatureValue (its base64 also into sig_b64, SIG_VALUE_B64_MAX bytes),
 * KeyInfo (k's certificate and chain), Object. 0, or -1 with *why set when
 * the key failed (NULL: out of memory or b's cap). */
int sig_put_signature(struct buf *b, const struct signing_key *k, struct sig_parts *p, char *sig_b64,
		      const char **why);
/* A batch document's BatchProof element. 0 or -1. */
int sig_put_proof(struct buf *b, const char *index, const char *const *nodes, size_t nnodes);
/* SHA-256 of b->data[start..] + "</sm:Batch>". 0 or -1. */
int sig_digest_batch_part(const struct buf *b, size_t start, unsigned char *out);

/* Appends the root start tag and every field before the Signature (the
 * enveloped reference covers these + "</sm:SignedMessage>"). 0 or -1. */
int sig_put_message_part(struct buf *b, const struct sig_parts *p);
/* SHA-256 of b->data[start..] + "</sm:SignedMessage>". 0 or -1. */
int sig_digest_message_part(const struct buf *b, size_t start, unsigned char *out);
/* Appends SignedProperties / SignedInfo, each in exclusive-c14n form. */
int sig_put_signed_props(struct buf *b, const struct sig_parts *p);
int sig_put_signed_info(struct buf *b, const struct sig_parts *p);

enum sig_trust_rc {
	SIG_TRUST_OK = 0,
	SIG_TRUST_BAD_CERT = -1,   /* not base64 / not DER / too many: MalformedSignature */
	SIG_TRUST_REFUSED = -2,    /* chain, validity or key usage: CertValidation */
	SIG_TRUST_ERROR = -3,      /* out of memory and the like */
};

/* IssuerSerialV2 DER we accept (issuer name + serial), and its base64. */
#define SIG_IS_DER_MAX 1024
#define SIG_IS_B64_MAX (4 * (SIG_IS_DER_MAX / 3 + 1) + 1)

/* A validated signer: what verification needs from the certificate, worked
 * out once per certificate and kept in the store's cache. */
struct sig_signer {
	X509 *leaf;                               /* a reference: X509_free */
	int alg;                                  /* enum key_alg */
	unsigned char cert_sha256[32];            /* of the DER */
	char issuer_serial_b64[SIG_IS_B64_MAX];   /* XAdES IssuerSerialV2 */
	char member_class[XRD_PART_MAX];          /* "" if it names no member */
	char member_code[XRD_PART_MAX];
	time_t valid_from, valid_to;              /* every certificate of the chain valid */
};

/* Validates the KeyInfo certificates (base64 texts, leaf first) against st at
 * time now, through the store's cache when it has one. On SIG_TRUST_OK *out
 * holds the signer (caller frees out->leaf); otherwise why says what is wrong
 * and out->leaf is NULL. */
enum sig_trust_rc sig_trust_check(X509_STORE *st, const char *const *certs_b64, size_t n,
				  time_t now, struct sig_signer *out, char *why, size_t whylen);

/* Batch elements (<sm:Batch>...</sm:Batch>) that verified completely with
 * st: signer trusted, signature value right. Every message of a batch
 * carries the same element, byte for byte; the verifier checks the rest of a
 * message and takes the element's verdict from here (README-sign.md,
 * "Batches"). get: 1 and *out (a new leaf reference) when exactly these bytes
 * verified and the chain is valid at now; 0 otherwise. put: remember them. */
int sig_trust_batch_get(X509_STORE *st, const char *el, size_t len, time_t now, struct sig_signer *out);
void sig_trust_batch_put(X509_STORE *st, const char *el, size_t len, const struct sig_signer *s);
/* How many documents this thread verified through a known batch element. */
unsigned long sig_verify_known_batches(void);

#endif
