#include "trust/tls.h"

#include "lib/crypto.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *ssl_err(const char *what, const char *file)
{
	char buf[256] = "";
	char *out = NULL;
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (asprintf(&out, "%s %s: %s", what, file ? file : "", buf[0] ? buf : "failed") < 0)
		return NULL;
	return out;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file,
			enum tls_peer_mode mode, char **err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		*err = ssl_err("cannot create TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*err = ssl_err("cannot load certificate", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*err = ssl_err("cannot load private key (or it does not match the certificate)", key_file);
		goto fail;
	}
	if (mode != TLS_PEER_NONE) {
		STACK_OF(X509_NAME) *names;
		if (!ca_file || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			*err = ssl_err("cannot load client CA file", ca_file);
			goto fail;
		}
		names = SSL_load_client_CA_file(ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			(mode == TLS_PEER_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
		SSL_CTX_set_verify_depth(ctx, 4);
	}
	/* Session resumption keeps repeated gateway handshakes cheap. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ailgate", 7);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The hash is kept on the certificate object itself (ex_data), so a peer
 * certificate is hashed once per connection, not once per request; the
 * cache dies with the object, so it can never describe another certificate. */
static pthread_once_t hash_idx_once = PTHREAD_ONCE_INIT;
static int hash_idx = -1;

static void hash_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void hash_idx_init(void)
{
	hash_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, hash_free);
}

int tls_cert_sha256(X509 *cert, unsigned char *out)
{
	unsigned int n = 0;
	unsigned char *cached;

	pthread_once(&hash_idx_once, hash_idx_init);
	cached = hash_idx >= 0 ? X509_get_ex_data(cert, hash_idx) : NULL;
	if (cached) {
		memcpy(out, cached, 32);
		return 0;
	}
	if (X509_digest(cert, crypto_md(256), out, &n) != 1 || n != 32)
		return -1;
	if (hash_idx >= 0 && (cached = malloc(32))) {
		memcpy(cached, out, 32);
		if (X509_set_ex_data(cert, hash_idx, cached) != 1)
			free(cached);
	}
	return 0;
}

int tls_cert_file_sha256(const char *pem_file, unsigned char *out, char **err)
{
	FILE *f = fopen(pem_file, "r");
	X509 *x;
	int rc;

	if (!f) {
		if (asprintf(err, "cannot open certificate %s", pem_file) < 0)
			*err = NULL;
		return -1;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		*err = ssl_err("no PEM certificate in", pem_file);
		return -1;
	}
	rc = tls_cert_sha256(x, out);
	X509_free(x);
	if (rc < 0 && asprintf(err, "cannot hash certificate %s", pem_file) < 0)
		*err = NULL;
	return rc;
}
