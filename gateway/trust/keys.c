/* keys: signing keys behind key_ops; the PEM file backend.
 *
 * The PEM backend keeps the EVP_PKEY and a small pool of initialised
 * EVP_PKEY_CTX: creating and initialising a context costs as much as an
 * ECDSA signature under OpenSSL 3 (provider look-ups), so workers borrow
 * one under a mutex held only for the pointer swap, and sign outside it. */
#include "trust/keys.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"

#define PEM_POOL_MAX 16
#define P256_LEN 32
/* IssuerSerialV2 (issuer name + serial) of any sane certificate; the same
 * cap as the verifier's (SIG_IS_DER_MAX in sign_int.h), so a key we load can
 * always be verified. */
#define ISSUER_SERIAL_MAX 1024

struct pem_ctx {
	EVP_PKEY *pkey;
	int alg;
	pthread_mutex_t lock;
	EVP_PKEY_CTX *pool[PEM_POOL_MAX];
	size_t npool;
};

/* ---- errors ------------------------------------------------------------- */

static char *ssl_errf(const char *what, const char *file)
{
	char buf[256] = "";
	char *out = NULL;
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (asprintf(&out, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
		     buf[0] ? buf : "failed") < 0)
		return NULL;
	return out;
}

static void set_err(char **err, char *msg)
{
	if (err)
		*err = msg;
	else
		free(msg);
}

/* ---- algorithm ------------------------------------------------------------ */

int keys_pkey_alg(EVP_PKEY *pk)
{
	char group[64];
	size_t glen = 0;

	if (!pk)
		return KEY_ALG_NONE;
	if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);
		return bits >= 2048 && bits <= 4096 ? KEY_ALG_RSA : KEY_ALG_NONE;
	}
	if (EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen) == 1 &&
	    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
		return KEY_ALG_ECDSA_P256;
	return KEY_ALG_NONE;
}

/* ---- PEM backend ------------------------------------------------------------ */

static EVP_PKEY_CTX *pem_ctx_new(struct pem_ctx *c)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, c->pkey, NULL);

	if (!pc)
		return NULL;
	if (EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1 ||
	    (c->alg == KEY_ALG_RSA && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1)) {
		EVP_PKEY_CTX_free(pc);
		return NULL;
	}
	return pc;
}

static EVP_PKEY_CTX *pem_borrow(struct pem_ctx *c)
{
	EVP_PKEY_CTX *pc = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->npool)
		pc = c->pool[--c->npool];
	pthread_mutex_unlock(&c->lock);
	return pc ? pc : pem_ctx_new(c);
}

static void pem_return(struct pem_ctx *c, EVP_PKEY_CTX *pc)
{
	pthread_mutex_lock(&c->lock);
	if (c->npool < PEM_POOL_MAX) {
		c->pool[c->npool++] = pc;
		pc = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	EVP_PKEY_CTX_free(pc);
}

/* OpenSSL gives ECDSA signatures as DER SEQUENCE { r, s }; XML-DSig wants
 * r||s, each left-padded to the field size. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char *out,
			    size_t *outlen)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r = NULL, *sv = NULL;
	int rc = -1;

	if (!s)
		return -1;
	ECDSA_SIG_get0(s, &r, &sv);
	if (*outlen >= 2 * P256_LEN && p == der + len &&
	    BN_bn2binpad(r, out, P256_LEN) == P256_LEN &&
	    BN_bn2binpad(sv, out + P256_LEN, P256_LEN) == P256_LEN) {
		*outlen = 2 * P256_LEN;
		rc = 0;
	}
	ECDSA_SIG_free(s);
	return rc;
}

static int pem_sign_digest(void *ctx, int md_nid, const unsigned char *dgst, size_t dlen,
			   unsigned char *sig, size_t *siglen)
{
	struct pem_ctx *c = ctx;
	unsigned char der[KEYS_SIG_MAX + 16];
	size_t dlen_out = sizeof(der);
	EVP_PKEY_CTX *pc;

	if (md_nid != NID_sha256 || dlen != SHA256_LEN)
		return -1;
	if (!(pc = pem_borrow(c)))
		return -1;
	if (EVP_PKEY_sign(pc, der, &dlen_out, dgst, dlen) != 1) {
		/* A context that failed may hold odd state: drop it. */
		EVP_PKEY_CTX_free(pc);
		ERR_clear_error();
		return -1;
	}
	pem_return(c, pc);
	if (c->alg == KEY_ALG_ECDSA_P256)
		return ecdsa_der_to_raw(der, dlen_out, sig, siglen);
	if (dlen_out > *siglen)
		return -1;
	memcpy(sig, der, dlen_out);
	*siglen = dlen_out;
	return 0;
}

static void pem_free(void *ctx)
{
	struct pem_ctx *c = ctx;

	if (!c)
		return;
	while (c->npool)
		EVP_PKEY_CTX_free(c->pool[--c->npool]);
	EVP_PKEY_free(c->pkey);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct key_ops pem_ops = {
	.sign_digest = pem_sign_digest,
	.free = pem_free,
};

/* ---- derived data ---------------------------------------------------------- */

static char *der_b64(const unsigned char *der, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		b64_encode(der, len, out);
	return out;
}

static char *cert_b64(X509 *c)
{
	unsigned char *der = NULL;
	int len = i2d_X509(c, &der);
	char *out;

	if (len <= 0)
		return NULL;
	out = der_b64(der, (size_t)len);
	OPENSSL_free(der);
	return out;
}

/* DER length octets for len; returns how many were written into out (<= 5). */
static size_t der_len(size_t len, unsigned char *out)
{
	size_t n = 0, i;

	if (len < 0x80) {
		out[0] = (unsigned char)len;
		return 1;
	}
	for (size_t v = len; v; v >>= 8)
		n++;
	out[0] = (unsigned char)(0x80 | n);
	for (i = 0; i < n; i++)
		out[1 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
	return n + 1;
}

int keys_issuer_serial_der(X509 *cert, unsigned char *out, size_t cap)
{
	GENERAL_NAMES *gns = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	X509_NAME *name = X509_NAME_dup(X509_get_issuer_name(cert));
	unsigned char *names_der = NULL, *serial_der = NULL, hdr[8];
	int nlen = -1, slen = -1, rc = -1;
	size_t body, h;

	if (!gns || !gn || !name)
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, name);
	name = NULL;
	if (!sk_GENERAL_NAME_push(gns, gn))
		goto out;
	gn = NULL;
	nlen = i2d_GENERAL_NAMES(gns, &names_der);
	slen = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(cert), &serial_der);
	if (nlen <= 0 || slen <= 0)
		goto out;
	body = (size_t)nlen + (size_t)slen;
	hdr[0] = 0x30; /* SEQUENCE */
	h = 1 + der_len(body, hdr + 1);
	if (h + body > cap)
		goto out;
	memcpy(out, hdr, h);
	memcpy(out + h, names_der, (size_t)nlen);
	memcpy(out + h + (size_t)nlen, serial_der, (size_t)slen);
	rc = (int)(h + body);
out:
	OPENSSL_free(names_der);
	OPENSSL_free(serial_der);
	X509_NAME_free(name);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gns);
	return rc;
}

static int fill_derived(struct signing_key *k, char **err)
{
	unsigned char *der = NULL, is[ISSUER_SERIAL_MAX];
	int len = i2d_X509(k->cert, &der), islen;

	if (len <= 0 || sha256(der, (size_t)len, k->cert_sha256) != 0) {
		OPENSSL_free(der);
		set_err(err, strdup("cannot encode the signing certificate"));
		return -1;
	}
	k->cert_b64 = der_b64(der, (size_t)len);
	OPENSSL_free(der);
	islen = keys_issuer_serial_der(k->cert, is, sizeof(is));
	if (islen > 0)
		k->issuer_serial_b64 = der_b64(is, (size_t)islen);
	if (!k->cert_b64 || !k->issuer_serial_b64) {
		set_err(err, strdup("out of memory encoding the signing certificate"));
		return -1;
	}
	k->chain_len = (size_t)sk_X509_num(k->chain);
	if (k->chain_len > KEYS_CHAIN_MAX) {
		set_err(err, strdup("too many intermediate certificates (at most 4)"));
		return -1;
	}
	for (size_t i = 0; i < k->chain_len; i++)
		if (!(k->chain_b64[i] = cert_b64(sk_X509_value(k->chain, (int)i)))) {
			set_err(err, strdup("cannot encode an intermediate certificate"));
			return -1;
		}
	return 0;
}

int keys_finish(const struct key_ops *ops, void *ctx, X509 *cert, STACK_OF(X509) *chain,
		struct signing_key **out, char **err)
{
	struct signing_key *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (!k) {
		if (ops && ops->free)
			ops->free(ctx);
		X509_free(cert);
		sk_X509_pop_free(chain, X509_free);
		set_err(err, strdup("out of memory"));
		return -1;
	}
	k->ops = ops;
	k->ctx = ctx;
	k->cert = cert;
	k->chain = chain ? chain : sk_X509_new_null();
	k->alg = keys_pkey_alg(X509_get0_pubkey(cert));
	if (!k->chain) {
		set_err(err, strdup("out of memory"));
		goto fail;
	}
	if (k->alg == KEY_ALG_NONE) {
		set_err(err, strdup("signing key must be ECDSA P-256 or RSA 2048..4096 bits"));
		goto fail;
	}
	if (!(X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		set_err(err, strdup("certificate key usage allows neither digitalSignature nor "
				    "nonRepudiation"));
		goto fail;
	}
	if (fill_derived(k, err) != 0)
		goto fail;
	*out = k;
	return 0;
fail:
	keys_free(&k);
	return -1;
}

void keys_free(struct signing_key **kp)
{
	struct signing_key *k = kp ? *kp : NULL;

	if (!k)
		return;
	if (k->ops && k->ops->free)
		k->ops->free(k->ctx);
	X509_free(k->cert);
	sk_X509_pop_free(k->chain, X509_free);
	free(k->cert_b64);
	for (size_t i = 0; i < KEYS_CHAIN_MAX; i++)
		free(k->chain_b64[i]);
	free(k->issuer_serial_b64);
	free(k);
	*kp = NULL;
}

/* ---- loading PEM files -------------------------------------------------------- */

/* Never prompt on a terminal for a pass phrase: an encrypted key just fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static EVP_PKEY *read_key(const char *file, char **err)
{
	FILE *fp = fopen(file, "r");
	EVP_PKEY *pk;

	if (!fp) {
		if (asprintf(err, "cannot open key file %s", file) < 0)
			*err = NULL;
		return NULL;
	}
	pk = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (!pk)
		*err = ssl_errf("cannot read private key (PEM, unencrypted)", file);
	return pk;
}

/* Reads every certificate of a PEM file (at most 16). */
static STACK_OF(X509) *read_certs(const char *file, char **err)
{
	FILE *fp = fopen(file, "r");
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *c;

	if (!fp || !sk) {
		if (asprintf(err, "cannot open certificate file %s", file) < 0)
			*err = NULL;
		goto fail;
	}
	while ((c = PEM_read_X509(fp, NULL, no_passphrase, NULL))) {
		if (sk_X509_num(sk) >= 16) {
			X509_free(c);
			continue;
		}
		if (!sk_X509_push(sk, c)) {
			X509_free(c);
			*err = strdup("out of memory");
			goto fail;
		}
	}
	ERR_clear_error(); /* the end of the file shows up as an error */
	fclose(fp);
	return sk;
fail:
	if (fp)
		fclose(fp);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

/* KeyInfo carries intermediates only: the leaf goes first on its own and the
 * verifier's trust store holds the roots. */
static void drop_leaf_and_roots(STACK_OF(X509) *chain, X509 *leaf)
{
	for (int i = sk_X509_num(chain) - 1; i >= 0; i--) {
		X509 *c = sk_X509_value(chain, i);
		if (X509_cmp(c, leaf) == 0 || X509_self_signed(c, 0) == 1)
			X509_free(sk_X509_delete(chain, i));
	}
}

static struct pem_ctx *pem_ctx_alloc(EVP_PKEY *pk)
{
	struct pem_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->pkey = pk;
	c->alg = keys_pkey_alg(pk);
	return c;
}

int keys_load_pem(const char *key_file, const char *cert_file, const char *chain_file,
		  struct signing_key **out, char **err)
{
	EVP_PKEY *pk = NULL;
	STACK_OF(X509) *certs = NULL, *chain = NULL;
	X509 *cert = NULL;
	struct pem_ctx *c = NULL;
	char *e = NULL;

	*out = NULL;
	if (!(pk = read_key(key_file, &e)) || !(certs = read_certs(cert_file, &e)))
		goto fail;
	if (sk_X509_num(certs) < 1) {
		if (asprintf(&e, "no certificate in %s", cert_file) < 0)
			e = NULL;
		goto fail;
	}
	cert = sk_X509_shift(certs);
	if (X509_check_private_key(cert, pk) != 1) {
		e = ssl_errf("private key does not match the certificate", cert_file);
		goto fail;
	}
	if (chain_file && !(chain = read_certs(chain_file, &e)))
		goto fail;
	if (!chain) {
		/* A "fullchain" certificate file: the rest of it is the chain. */
		chain = certs;
		certs = NULL;
	}
	drop_leaf_and_roots(chain, cert);
	if (!(c = pem_ctx_alloc(pk))) {
		e = strdup("out of memory");
		goto fail;
	}
	pk = NULL;
	sk_X509_pop_free(certs, X509_free);
	/* keys_finish takes c, cert and chain over, whatever happens. */
	return keys_finish(&pem_ops, c, cert, chain, out, err);
fail:
	EVP_PKEY_free(pk);
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
	set_err(err, e ? e : strdup("cannot load signing key"));
	return -1;
}
