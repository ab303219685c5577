/* keys: a member's signing key behind a small ops table.
 *
 * The signer (trust/sign.c) never touches a private key: it hands a digest to
 * key->ops->sign_digest(). Today the only backend reads PEM files; a PKCS#11
 * token (the production setting, see certs/README.md) plugs in as another
 * key_ops without changing the signer.
 *
 * A loaded key is read-only and may be shared by every worker thread:
 * sign_digest() must be thread-safe. */
#ifndef AILGATE_TRUST_KEYS_H
#define AILGATE_TRUST_KEYS_H

#include <stddef.h>

#include <openssl/x509.h>

/* Largest signature value any supported key produces (RSA 4096: 512 bytes). */
#define KEYS_SIG_MAX 512
/* Most intermediate certificates a key carries in its KeyInfo. */
#define KEYS_CHAIN_MAX 4

enum key_alg {
	KEY_ALG_NONE = 0,
	KEY_ALG_ECDSA_P256,  /* http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256 */
	KEY_ALG_RSA,         /* http://www.w3.org/2001/04/xmldsig-more#rsa-sha256, 2048..4096 bits */
};

struct key_ops {
	/* Signs a precomputed digest (md_nid is NID_sha256 today) and writes the
	 * signature in the form XML-DSig puts in SignatureValue: raw r||s (each
	 * padded to the curve size, 64 bytes for P-256) for ECDSA, PKCS#1 v1.5 for
	 * RSA. That is also what a PKCS#11 token returns (CKM_ECDSA,
	 * CKM_RSA_PKCS over a DigestInfo), so a token backend needs no
	 * conversion. *siglen holds sig's size on entry and the length written on
	 * return. 0 on success, -1 on failure. Thread-safe. */
	int (*sign_digest)(void *ctx, int md_nid, const unsigned char *dgst, size_t dlen,
			   unsigned char *sig, size_t *siglen);
	void (*free)(void *ctx);
};

struct signing_key {
	const struct key_ops *ops;
	void *ctx;                      /* the backend's; freed by ops->free */
	X509 *cert;                     /* the member's signing certificate (owned) */
	STACK_OF(X509) *chain;          /* intermediates for KeyInfo, leaf excluded,
					 * self-signed roots dropped (owned; may be empty) */
	int alg;                        /* enum key_alg, follows the key */

	/* Derived once by keys_finish() so that signing does no certificate work:
	 * base64 of the DER of cert and of each chain certificate, SHA-256 of the
	 * cert's DER, and base64 of the DER of its XAdES IssuerSerialV2
	 * (RFC 5035 IssuerSerial: issuer as a directoryName, serial number). */
	char *cert_b64;
	char *chain_b64[KEYS_CHAIN_MAX];
	size_t chain_len;
	unsigned char cert_sha256[32];
	char *issuer_serial_b64;
};

/* Loads a private key (PEM, unencrypted; never prompts), its certificate
 * (PEM: the first certificate of cert_file) and the intermediates KeyInfo
 * will carry: those of chain_file (PEM) or, when chain_file is NULL, the rest
 * of cert_file (a "fullchain" file). Self-signed roots and the leaf itself
 * are left out of the chain, so "sign CA + root" files work as they are.
 * Checks that the key matches the certificate, that it is ECDSA P-256 or RSA
 * 2048..4096, and that the certificate allows digitalSignature or
 * nonRepudiation. Returns 0 with *out set (caller frees with keys_free), or
 * -1 with *err (caller frees with free()). */
int keys_load_pem(const char *key_file, const char *cert_file, const char *chain_file,
		  struct signing_key **out, char **err) __attribute__((warn_unused_result));

/* For other backends: wraps ops/ctx (taken over, freed with the key even on
 * failure), cert (reference taken over) and chain (taken over, may be NULL),
 * checks the algorithm and fills the derived fields. Returns 0 with *out set,
 * or -1 with *err. */
int keys_finish(const struct key_ops *ops, void *ctx, X509 *cert, STACK_OF(X509) *chain,
		struct signing_key **out, char **err) __attribute__((warn_unused_result));

/* Frees everything the key holds and sets *k to NULL. NULL-safe. */
void keys_free(struct signing_key **k);

/* The key algorithm of a public key: KEY_ALG_ECDSA_P256, KEY_ALG_RSA (2048..4096
 * bits) or KEY_ALG_NONE for anything else. Shared with the verifier. */
int keys_pkey_alg(EVP_PKEY *pk);

/* DER of the XAdES IssuerSerialV2 value of cert (RFC 5035 IssuerSerial:
 * SEQUENCE { GeneralNames { [4] issuer Name }, serialNumber INTEGER }).
 * Returns the length written into out (cap bytes), or -1. Used by the signer
 * (through keys_finish) and by the verifier, so both compute it one way. */
int keys_issuer_serial_der(X509 *cert, unsigned char *out, size_t cap)
	__attribute__((warn_unused_result));

#endif
