/* sign: member signatures between gateways (XML-DSig + XAdES-BES).
 *
 * Every request and response that crosses between gateways travels with a
 * small "signed message" document: the exchange identifiers, the SHA-256 of
 * the exact HTTP body bytes, and an enveloped XML signature by the sending
 * member's signing key with XAdES SignedProperties (signing time, signing
 * certificate). The large message itself is never canonicalised: only its
 * digest is signed. Format, rules and the threat model are in
 * gateway/trust/README-sign.md; every document verifies offline with
 *   xmlsec1 --verify --trusted-pem ROOT.pem --id-attr:Id SignedProperties FILE
 *
 * Thread-safe after sig_global_init(): no state beyond libxml2/xmlsec's own,
 * keys and trust stores are read-only and may be shared by all workers. */
#ifndef AILGATE_TRUST_SIGN_H
#define AILGATE_TRUST_SIGN_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "lib/buf.h"
#include "proto/fault.h"
#include "proto/xrd_id.h"
#include "trust/keys.h"

#define SIG_NS "urn:ailgate:signed-message:1"
/* Cap on a signed-message document we parse. Ours are 3-6 KiB. */
#define SIG_XML_MAX (64 * 1024)
/* Message ids, request hashes and content types: bytes incl. NUL. */
#define SIG_FIELD_MAX 256
/* 1 if s is 1..max-1 bytes of printable ASCII (what a signed field such as
 * the Content-Type may hold). */
int sig_ascii_ok(const char *s, size_t max);
/* Most messages one batch signature covers (sig_sign_batch). */
#define SIG_BATCH_MAX 256
/* Default allowed difference between the SigningTime and our clock. */
#define SIG_DEFAULT_SKEW_S 300

enum sig_kind { SIG_KIND_NONE = 0, SIG_REQUEST, SIG_RESPONSE };

/* What a signature binds besides the body. Strings are borrowed. */
struct sig_meta {
	enum sig_kind kind;
	const char *client;        /* "MEMBER:..." or "SUBSYSTEM:..." (xrd_id text form) */
	const char *service;       /* "SERVICE:..." */
	const char *message_id;    /* 1..255 bytes of UTF-8, no control characters */
	struct timespec time;      /* message (and signing) time, UTC */
	const char *request_hash;  /* responses: base64 hash of the request it answers;
				    * requests: NULL */
	const char *content_type;  /* the body's Content-Type: 1..255 printable ASCII */
};

/* What a verified signature says. */
struct sig_result {
	enum sig_kind kind;
	char client[XRD_ID_TEXT_MAX];
	char service[XRD_ID_TEXT_MAX];
	struct xrd_id client_id, service_id;  /* the same, parsed */
	char message_id[SIG_FIELD_MAX];
	struct timespec time;
	char request_hash[SIG_FIELD_MAX];     /* "" for requests */
	char content_type[SIG_FIELD_MAX];
	X509 *signer;                          /* owned (a reference): sig_result_free */
	char member_class[XRD_PART_MAX];       /* from signer, certificate-to-member rule */
	char member_code[XRD_PART_MAX];
};

struct sig_verify_opts {
	const char *prefix;   /* fault prefix: F_SPROXY when verifying a request,
			       * F_CPROXY for a response; NULL = F_SPROXY */
	long max_skew_s;      /* |SigningTime - now| allowed; 0 = SIG_DEFAULT_SKEW_S */
	time_t now;           /* 0 = the clock; tests set it */
	int xmlsec;           /* 1: check references and signature value with xmlsec
			       * instead of the built-in fixed-shape verifier (same
			       * verdicts, about twice the CPU; README-sign.md) */
};

/* Once per process, before any other call (idempotent, thread-safe):
 * libxml2, xmlsec and its OpenSSL back end. 0, or -1 with *err (caller frees). */
int sig_global_init(char **err) __attribute__((warn_unused_result));
/* For tests and clean exits: undoes sig_global_init (not libxml2's own init).
 * No sig_* call may run concurrently or afterwards (except a new init). */
void sig_global_shutdown(void);

/* Signs: appends the SignedMessage document (UTF-8, no XML declaration) to
 * out, which the caller owns (and whose cap must allow ~8 KiB). Returns 0, or
 * -1 with *err (caller frees) when m holds something that cannot be signed
 * (bad identifier, control characters, missing request hash on a response)
 * or the key fails. */
int sig_sign(const struct signing_key *k, const struct sig_meta *m, const void *body,
	     size_t body_len, struct buf *out, char **err) __attribute__((warn_unused_result));
/* The same with the body's SHA-256 computed by the caller (a spooled body). */
int sig_sign_digest(const struct signing_key *k, const struct sig_meta *m,
		    const unsigned char body_sha256[32], struct buf *out, char **err)
	__attribute__((warn_unused_result));
/* Batch signature (README-sign.md, "Batches"): n messages, one key
 * operation. outs[i] gets message i's SignedMessage: its own fields, its
 * audit path in the hash tree of the batch, and the one signature over the
 * tree's root. n == 1 gives the single form of sig_sign_digest. n is 1 ..
 * SIG_BATCH_MAX (256). On failure every out is left as it was. */
int sig_sign_batch(const struct signing_key *k, const struct sig_meta *const *m,
		   const unsigned char (*body_sha256)[32], size_t n, struct buf *const *outs, char **err)
	__attribute__((warn_unused_result));

/* Verifies a SignedMessage document against the body it came with. Checks the
 * strict structure first (the signature-wrapping defence in README-sign.md),
 * then the body digest, the signer's chain against trust (see sig_trust_*),
 * the member rule, the XAdES signing-certificate reference, the signing time
 * and the signature itself. o may be NULL (prefix F_SPROXY, default skew,
 * the clock, built-in verifier). Fault reasons, after o->prefix:
 *   MissingSignature       xml is NULL or empty
 *   MalformedSignature     not our document: parse errors, DTD, size, any
 *                          structural deviation, unsupported algorithm
 *   InvalidSignatureValue  signature or a reference digest does not verify,
 *                          body digest differs, SigningCertificate does not
 *                          name the KeyInfo certificate, signing time outside
 *                          the window
 *   CertValidation         chain does not verify to a trust anchor (the CA is
 *                          not approved in global configuration), certificate
 *                          expired or not yet valid, wrong key usage
 *   IncorrectCertificate   the certificate names no member (serialNumber/CN rule)
 * On success returns 0 and fills *out (free with sig_result_free); on failure
 * returns -1, sets f and leaves *out empty (sig_result_free is still safe).
 * Does not check that the signer is the right member or that the identifiers
 * are this exchange's: sig_check_binding() does. */
int sig_verify(const char *xml, size_t xml_len, const void *body, size_t body_len,
	       X509_STORE *trust, const struct sig_verify_opts *o, struct sig_result *out,
	       struct fault *f) __attribute__((warn_unused_result));
int sig_verify_digest(const char *xml, size_t xml_len, const unsigned char body_sha256[32],
		      X509_STORE *trust, const struct sig_verify_opts *o, struct sig_result *out,
		      struct fault *f) __attribute__((warn_unused_result));

/* Drops the signer reference and clears r. NULL-safe. */
void sig_result_free(struct sig_result *r);

/* Compares a verified signature with the exchange it came with: the kind, the
 * client, the service, the message id and (responses) the request hash must
 * equal the given ones exactly, and the signer's member (class and code) must
 * be the client's member for a request, the service owner's for a response.
 * request_hash is ignored for requests. Prefix: F_SPROXY for requests, F_CPROXY
 * for responses. Faults: IncorrectCertificate (signer is another member),
 * InvalidSignatureValue (the signature is for another message: names which
 * field). Returns 0 or -1 with f set. */
int sig_check_binding(const struct sig_result *r, enum sig_kind kind, const char *client,
		      const char *service, const char *message_id, const char *request_hash,
		      struct fault *f) __attribute__((warn_unused_result));

/* Certificate-to-member rule (certs/README.md): subject serialNumber is exactly
 * "CLASS/CODE" (both valid identifier parts), and CN equals CODE. Returns 0
 * with cls/code filled, or -1 if the certificate belongs to no member. */
int sig_cert_member(X509 *c, char *cls, size_t clslen, char *code, size_t codelen)
	__attribute__((warn_unused_result));

/* Trust stores. A store holds the CA certificates approved in global
 * configuration (roots and, optionally, intermediates); a chain must end at a
 * self-signed root in the store. Stores made here carry a cache of verified
 * chains (bounded; an entry is only used while every certificate of its chain
 * is within its validity period), so treat a store as immutable once in use:
 * build a new one when the approved CAs change. Stores made with plain
 * X509_STORE_new() also work, without the cache.
 * sig_trust_new: an empty store; NULL with *err.
 * sig_trust_add_pem: adds every certificate of a PEM file; 0 or -1 with *err.
 * sig_trust_from_pem: both at once.
 * Free any of them with X509_STORE_free(). */
X509_STORE *sig_trust_new(char **err);
int sig_trust_add_pem(X509_STORE *st, const char *pem_file, char **err)
	__attribute__((warn_unused_result));
X509_STORE *sig_trust_from_pem(const char *pem_file, char **err);

const char *sig_kind_name(enum sig_kind k);   /* "request", "response", "" */

#endif
