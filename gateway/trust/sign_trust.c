/* sign_trust: trust stores for member signatures and their chain cache.
 *
 * Verifying a chain costs two or three public-key operations (each as dear
 * as the message signature itself), yet a gateway sees the same few signing
 * certificates over and over. A store made by sig_trust_new() carries, in its
 * ex_data, a small direct-mapped cache: SHA-256 of the KeyInfo certificate
 * texts -> the parsed leaf and the period in which every certificate of its
 * verified chain is valid. A hit skips parsing and chain building; a hit
 * outside that period is a miss, so expiry is never cached away. The cache
 * belongs to the store and dies with it, which is why a store must not
 * change once in use (a new global configuration makes a new store). */
#include "trust/sign_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/crypto.h"

#define TC_SLOTS 256
/* Our dev chains are leaf -> sign CA -> root; leave room for one more level. */
#define TC_MAX_DEPTH 5

struct tc_entry {
	unsigned char key[SHA256_LEN];
	struct sig_signer *s;   /* NULL: empty slot; valid_from/to bound its use */
};

/* Verified batch elements: a batch's messages arrive close together, so a
 * few recent ones are enough. */
#define TB_SLOTS 8

struct tb_entry {
	char *el;               /* NULL: empty slot */
	size_t len;
	struct sig_signer *s;
};

struct tcache {
	pthread_mutex_t lock;
	struct tc_entry e[TC_SLOTS];
	struct tb_entry b[TB_SLOTS];
	unsigned b_next;
};

static pthread_once_t tc_once = PTHREAD_ONCE_INIT;
static int tc_idx = -1;

static void signer_free(struct sig_signer *s)
{
	if (s) {
		X509_free(s->leaf);
		free(s);
	}
}

static void tc_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tcache *tc = ptr;

	if (!tc)
		return;
	for (size_t i = 0; i < TC_SLOTS; i++)
		signer_free(tc->e[i].s);
	for (size_t i = 0; i < TB_SLOTS; i++) {
		free(tc->b[i].el);
		signer_free(tc->b[i].s);
	}
	pthread_mutex_destroy(&tc->lock);
	free(tc);
}

static void tc_index_once(void)
{
	tc_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, tc_free);
}

static struct tcache *tc_of(X509_STORE *st)
{
	return tc_idx >= 0 ? X509_STORE_get_ex_data(st, tc_idx) : NULL;
}

/* ---- stores ---------------------------------------------------------------- */

X509_STORE *sig_trust_new(char **err)
{
	X509_STORE *st = X509_STORE_new();
	struct tcache *tc = calloc(1, sizeof(*tc));

	if (err)
		*err = NULL;
	pthread_once(&tc_once, tc_index_once);
	if (!st || !tc || tc_idx < 0 || pthread_mutex_init(&tc->lock, NULL) != 0)
		goto fail;
	if (X509_STORE_set_ex_data(st, tc_idx, tc) != 1) {
		pthread_mutex_destroy(&tc->lock);
		goto fail;
	}
	return st;
fail:
	free(tc);
	X509_STORE_free(st);
	if (err)
		*err = strdup("cannot create a trust store (out of memory)");
	return NULL;
}

int sig_trust_add_pem(X509_STORE *st, const char *pem_file, char **err)
{
	FILE *fp = fopen(pem_file, "r");
	X509 *c;
	int n = 0, rc = -1;

	if (err)
		*err = NULL;
	if (!fp) {
		if (err && asprintf(err, "cannot open trust file %s", pem_file) < 0)
			*err = NULL;
		return -1;
	}
	while ((c = PEM_read_X509(fp, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_cert(st, c);
		X509_free(c);
		if (ok != 1) {
			unsigned long e = ERR_peek_last_error();
			/* The same CA listed twice is harmless. */
			if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
				if (err && asprintf(err, "cannot add a certificate of %s to the trust "
						    "store", pem_file) < 0)
					*err = NULL;
				goto out;
			}
		}
		n++;
	}
	if (n == 0) {
		if (err && asprintf(err, "no certificate in trust file %s", pem_file) < 0)
			*err = NULL;
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	fclose(fp);
	return rc;
}

X509_STORE *sig_trust_from_pem(const char *pem_file, char **err)
{
	X509_STORE *st = sig_trust_new(err);

	if (st && sig_trust_add_pem(st, pem_file, err) != 0) {
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

/* ---- cache ------------------------------------------------------------------- */

static int cache_key(const char *const *certs, size_t n, unsigned char *key)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = c && EVP_DigestInit_ex(c, sig_md_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++) {
		/* Length-prefixed, so moving bytes between certificates changes the key. */
		unsigned char lenb[4];
		size_t l = strlen(certs[i]);
		lenb[0] = (unsigned char)(l >> 24);
		lenb[1] = (unsigned char)(l >> 16);
		lenb[2] = (unsigned char)(l >> 8);
		lenb[3] = (unsigned char)l;
		ok = EVP_DigestUpdate(c, lenb, 4) == 1 && EVP_DigestUpdate(c, certs[i], l) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(c, key, &len) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static size_t slot_of(const unsigned char *key)
{
	return ((size_t)key[0] << 8 | key[1]) % TC_SLOTS;
}

/* On a hit, copies the entry into out (with a new reference to the leaf). */
static int cache_get(struct tcache *tc, const unsigned char *key, time_t now,
		     struct sig_signer *out)
{
	struct tc_entry *e = &tc->e[slot_of(key)];
	int hit = 0;

	pthread_mutex_lock(&tc->lock);
	if (e->s && memcmp(e->key, key, SHA256_LEN) == 0 && now >= e->s->valid_from &&
	    now <= e->s->valid_to && X509_up_ref(e->s->leaf) == 1) {
		*out = *e->s;
		hit = 1;
	}
	pthread_mutex_unlock(&tc->lock);
	return hit;
}

/* A heap copy of s with a leaf reference of its own, for a cache; NULL if
 * out of memory. */
static struct sig_signer *signer_dup(const struct sig_signer *s)
{
	struct sig_signer *copy = malloc(sizeof(*copy));

	if (!copy || X509_up_ref(s->leaf) != 1) {
		free(copy);
		return NULL;
	}
	*copy = *s;
	return copy;
}

static void cache_put(struct tcache *tc, const unsigned char *key, const struct sig_signer *s)
{
	struct tc_entry *e = &tc->e[slot_of(key)];
	struct sig_signer *copy = signer_dup(s), *old;

	if (!copy)
		return;
	pthread_mutex_lock(&tc->lock);
	old = e->s;
	memcpy(e->key, key, SHA256_LEN);
	e->s = copy;
	pthread_mutex_unlock(&tc->lock);
	signer_free(old);
}

int sig_trust_batch_get(X509_STORE *st, const char *el, size_t len, time_t now, struct sig_signer *out)
{
	struct tcache *tc = st ? tc_of(st) : NULL;
	int hit = 0;

	if (!tc)
		return 0;
	pthread_mutex_lock(&tc->lock);
	for (size_t i = 0; i < TB_SLOTS && !hit; i++) {
		const struct tb_entry *b = &tc->b[i];
		if (b->el && b->len == len && now >= b->s->valid_from && now <= b->s->valid_to &&
		    memcmp(b->el, el, len) == 0 && X509_up_ref(b->s->leaf) == 1) {
			*out = *b->s;
			hit = 1;
		}
	}
	pthread_mutex_unlock(&tc->lock);
	return hit;
}

void sig_trust_batch_put(X509_STORE *st, const char *el, size_t len, const struct sig_signer *s)
{
	struct tcache *tc = st ? tc_of(st) : NULL;
	struct sig_signer *copy = NULL, *old_s;
	char *bytes = NULL, *old_el;
	struct tb_entry *b;

	if (!tc || !(bytes = malloc(len ? len : 1)) || !(copy = signer_dup(s))) {
		free(bytes);
		return;
	}
	memcpy(bytes, el, len);
	pthread_mutex_lock(&tc->lock);
	b = &tc->b[tc->b_next];
	tc->b_next = (tc->b_next + 1) % TB_SLOTS;
	old_el = b->el;
	old_s = b->s;
	b->el = bytes;
	b->len = len;
	b->s = copy;
	pthread_mutex_unlock(&tc->lock);
	free(old_el);
	signer_free(old_s);
}

/* ---- chain validation ----------------------------------------------------------- */

/* The certificate was all of the bytes and re-encodes to them: no trailing
 * data and no BER leniency, so one certificate has one KeyInfo text. */
static int der_canonical(X509 *c, const unsigned char *der, size_t len, const unsigned char *end)
{
	unsigned char *re = NULL;
	int rlen;
	int ok;

	if (end != der + len)
		return 0;
	rlen = i2d_X509(c, &re);
	ok = rlen > 0 && (size_t)rlen == len && memcmp(re, der, len) == 0;
	OPENSSL_free(re);
	return ok;
}

static X509 *cert_from_b64(const char *b64)
{
	size_t len = strlen(b64);
	unsigned char *der;
	const unsigned char *p;
	long n;
	X509 *c = NULL;

	if (len == 0 || len > SIG_CERT_B64_MAX || !(der = malloc(len / 4 * 3 + 1)))
		return NULL;
	n = sig_b64_decode(b64, len, der, len / 4 * 3 + 1);
	p = der;
	if (n > 0 && (c = d2i_X509(NULL, &p, n)) && !der_canonical(c, der, (size_t)n, p)) {
		X509_free(c);
		c = NULL;
	}
	free(der);
	ERR_clear_error();
	return c;
}

static int asn1_time_t(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(a, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* The period in which every certificate of the verified chain is valid. */
static int chain_window(X509_STORE_CTX *ctx, time_t *nb, time_t *na)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);

	*nb = 0;
	*na = (time_t)LLONG_MAX;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		time_t b, a;
		if (asn1_time_t(X509_get0_notBefore(c), &b) != 0 ||
		    asn1_time_t(X509_get0_notAfter(c), &a) != 0)
			return -1;
		if (b > *nb)
			*nb = b;
		if (a < *na)
			*na = a;
	}
	return 0;
}

static void chain_why(X509_STORE_CTX *ctx, char *why, size_t whylen)
{
	int e = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
	const char *which = depth <= 0 ? "signing certificate" : "an issuer certificate";

	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		snprintf(why, whylen, "%s has expired", which);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		snprintf(why, whylen, "%s is not yet valid", which);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE: /* a look-alike of an approved CA */
		snprintf(why, whylen, "certificate is not issued by a CA approved in global "
				      "configuration");
		break;
	default:
		snprintf(why, whylen, "certificate chain does not verify: %s",
			 X509_verify_cert_error_string(e));
	}
}

static enum sig_trust_rc leaf_usable(X509 *leaf, char *why, size_t whylen)
{
	if (X509_check_ca(leaf) != 0) {
		snprintf(why, whylen, "a CA certificate cannot sign messages");
		return SIG_TRUST_REFUSED;
	}
	if (!(X509_get_key_usage(leaf) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		snprintf(why, whylen, "certificate key usage allows neither digitalSignature "
				      "nor nonRepudiation");
		return SIG_TRUST_REFUSED;
	}
	if (keys_pkey_alg(X509_get0_pubkey(leaf)) == KEY_ALG_NONE) {
		snprintf(why, whylen, "certificate key is neither ECDSA P-256 nor RSA 2048..4096");
		return SIG_TRUST_REFUSED;
	}
	return SIG_TRUST_OK;
}

static enum sig_trust_rc verify_chain(X509_STORE *st, X509 *leaf, STACK_OF(X509) *untrusted,
				      time_t now, time_t *nb, time_t *na, char *why,
				      size_t whylen)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum sig_trust_rc rc = SIG_TRUST_ERROR;

	if (!ctx || X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
		snprintf(why, whylen, "out of memory verifying the certificate");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	X509_STORE_CTX_set_depth(ctx, TC_MAX_DEPTH);
	if (X509_verify_cert(ctx) != 1) {
		chain_why(ctx, why, whylen);
		rc = SIG_TRUST_REFUSED;
	} else if (chain_window(ctx, nb, na) != 0) {
		snprintf(why, whylen, "certificate validity dates cannot be read");
		rc = SIG_TRUST_REFUSED;
	} else {
		rc = SIG_TRUST_OK;
	}
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* What verification needs from the leaf besides the key. */
static enum sig_trust_rc signer_fill(struct sig_signer *s, char *why, size_t whylen)
{
	unsigned char *der = NULL, is[SIG_IS_DER_MAX];
	int len = i2d_X509(s->leaf, &der), islen;

	if (len <= 0 || sig_sha256(der, (size_t)len, s->cert_sha256) != 0) {
		OPENSSL_free(der);
		snprintf(why, whylen, "cannot encode the signing certificate");
		return SIG_TRUST_ERROR;
	}
	OPENSSL_free(der);
	if ((islen = keys_issuer_serial_der(s->leaf, is, sizeof(is))) <= 0) {
		snprintf(why, whylen, "signing certificate issuer name is too long");
		return SIG_TRUST_REFUSED;
	}
	b64_encode(is, (size_t)islen, s->issuer_serial_b64);
	s->alg = keys_pkey_alg(X509_get0_pubkey(s->leaf));
	if (sig_cert_member(s->leaf, s->member_class, sizeof(s->member_class), s->member_code,
			    sizeof(s->member_code)) != 0)
		s->member_class[0] = s->member_code[0] = '\0';
	return SIG_TRUST_OK;
}

enum sig_trust_rc sig_trust_check(X509_STORE *st, const char *const *certs_b64, size_t n,
				  time_t now, struct sig_signer *out, char *why, size_t whylen)
{
	struct tcache *tc = tc_of(st);
	unsigned char key[SHA256_LEN];
	STACK_OF(X509) *untrusted = NULL;
	enum sig_trust_rc rc = SIG_TRUST_ERROR;
	time_t nb = 0, na = 0;

	memset(out, 0, sizeof(*out));
	snprintf(why, whylen, "out of memory");
	if (n == 0 || n > 1 + KEYS_CHAIN_MAX) {
		snprintf(why, whylen, "KeyInfo must hold 1 to %d certificates", 1 + KEYS_CHAIN_MAX);
		return SIG_TRUST_BAD_CERT;
	}
	if (cache_key(certs_b64, n, key) != 0)
		return SIG_TRUST_ERROR;
	if (tc && cache_get(tc, key, now, out))
		return SIG_TRUST_OK;
	if (!(untrusted = sk_X509_new_null()))
		goto out;
	rc = SIG_TRUST_BAD_CERT;
	snprintf(why, whylen, "a KeyInfo certificate is not a base64 DER X.509 certificate");
	if (!(out->leaf = cert_from_b64(certs_b64[0])))
		goto out;
	for (size_t i = 1; i < n; i++) {
		X509 *c = cert_from_b64(certs_b64[i]);
		if (!c || !sk_X509_push(untrusted, c)) {
			X509_free(c);
			goto out;
		}
	}
	if ((rc = leaf_usable(out->leaf, why, whylen)) != SIG_TRUST_OK ||
	    (rc = verify_chain(st, out->leaf, untrusted, now, &nb, &na, why, whylen)) != SIG_TRUST_OK ||
	    (rc = signer_fill(out, why, whylen)) != SIG_TRUST_OK)
		goto out;
	out->valid_from = nb;
	out->valid_to = na;
	if (tc)
		cache_put(tc, key, out);
	why[0] = '\0';
out:
	sk_X509_pop_free(untrusted, X509_free);
	if (rc != SIG_TRUST_OK) {
		X509_free(out->leaf);
		out->leaf = NULL;
	}
	return rc;
}
