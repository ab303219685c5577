/* TLS contexts and certificate identities for the listeners. */
#ifndef AILGATE_TRUST_TLS_H
#define AILGATE_TRUST_TLS_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

enum tls_peer_mode {
	TLS_PEER_NONE,      /* do not ask for a client certificate */
	TLS_PEER_OPTIONAL,  /* ask; verify it against ca_file if one is sent */
	TLS_PEER_REQUIRED,  /* a verified client certificate is required */
};

/* A server context from PEM files. ca_file may be NULL with TLS_PEER_NONE.
 * TLS 1.2+ only. Returns NULL with *err (caller frees). Caller frees the
 * context with SSL_CTX_free. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file,
			enum tls_peer_mode mode, char **err);

/* SHA-256 of the certificate's DER encoding (32 bytes into out). 0 or -1. */
int tls_cert_sha256(X509 *cert, unsigned char *out) __attribute__((warn_unused_result));
/* The same for the first certificate in a PEM file. */
int tls_cert_file_sha256(const char *pem_file, unsigned char *out, char **err)
	__attribute__((warn_unused_result));

#endif
