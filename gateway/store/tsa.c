/* tsa: RFC 3161 client (OpenSSL TS API + libcurl easy) and verification. */
#include "store/tsa.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "lib/buf.h"

struct tsa_trust {
	STACK_OF(X509) *anchors;         /* trusted */
	X509 *signer;                    /* pinned TSA certificate, or NULL */
};

struct tsa_client {
	char *url;
	unsigned timeout_ms;
	struct tsa_trust *trust;
	CURL *curl;                      /* kept for connection reuse */
};

/* Sets *err (caller frees) to the formatted text plus the newest OpenSSL
 * error, if any, so the reason names the failing check. */
static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
	char msg[256], ossl[160] = "";
	unsigned long e = ERR_peek_last_error();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	ERR_clear_error();
	if (!err)
		return;
	free(*err);
	if (asprintf(err, "%s%s%s", msg, *ossl ? ": " : "", ossl) < 0)
		*err = NULL;
}

/* ------------------------------------------------------------ trust */

static STACK_OF(X509) *load_certs(const char *path, char **err)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *in = BIO_new_file(path, "r");
	X509 *x;

	if (!sk || !in) {
		set_err(err, "cannot read %s", path);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			set_err(err, "out of memory");
			goto fail;
		}
	}
	ERR_clear_error();   /* the end of the file reads as an error */
	if (sk_X509_num(sk) == 0) {
		set_err(err, "%s holds no PEM certificate", path);
		goto fail;
	}
	BIO_free(in);
	return sk;
fail:
	BIO_free(in);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

struct tsa_trust *tsa_trust_new(const char *ca_pem, const char *signer_pem, char **err)
{
	struct tsa_trust *t = calloc(1, sizeof(*t));
	STACK_OF(X509) *sk = NULL;

	if (!t) {
		set_err(err, "out of memory");
		return NULL;
	}
	if (!ca_pem && !signer_pem) {
		set_err(err, "no TSA trust anchor given");
		goto fail;
	}
	if (signer_pem) {
		if (!(sk = load_certs(signer_pem, err)))
			goto fail;
		t->signer = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
	}
	if (ca_pem) {
		if (!(t->anchors = load_certs(ca_pem, err)))
			goto fail;
	} else {
		/* The pinned certificate alone is the anchor (partial chain). */
		if (!(t->anchors = sk_X509_new_null()) || !X509_up_ref(t->signer) ||
		    !sk_X509_push(t->anchors, t->signer)) {
			set_err(err, "out of memory");
			goto fail;
		}
	}
	return t;
fail:
	tsa_trust_free(t);
	return NULL;
}

void tsa_trust_free(struct tsa_trust *t)
{
	if (!t)
		return;
	sk_X509_pop_free(t->anchors, X509_free);
	X509_free(t->signer);
	free(t);
}

/* A fresh store per verification: cheap (references only), thread-safe, and
 * lets each token be checked as of its own genTime. */
static X509_STORE *make_store(const struct tsa_trust *t, time_t at)
{
	X509_STORE *st = X509_STORE_new();
	X509_VERIFY_PARAM *vp;
	int i;

	if (!st)
		return NULL;
	for (i = 0; i < sk_X509_num(t->anchors); i++) {
		if (!X509_STORE_add_cert(st, sk_X509_value(t->anchors, i)))
			goto fail;
	}
	/* Every certificate in the store is one we were told to trust (an
	 * issuer chain, or the approved TSA certificate itself): any of them
	 * may end the chain. */
	vp = X509_STORE_get0_param(st);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	if (at > 0)
		X509_VERIFY_PARAM_set_time(vp, at);
	return st;
fail:
	X509_STORE_free(st);
	return NULL;
}

/* ------------------------------------------------------------ parsing */

static int gen_time_of(TS_TST_INFO *tst, int64_t *ms)
{
	const ASN1_GENERALIZEDTIME *gt = TS_TST_INFO_get_time(tst);
	struct tm tm;

	if (!gt || !ASN1_TIME_to_tm(gt, &tm))
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

/* Checks what the verify context cannot: the imprint algorithm is SHA-256,
 * and the signer is the pinned certificate. */
static int check_token_extras(const struct tsa_trust *t, TS_RESP *resp, char **err)
{
	TS_TST_INFO *tst = TS_RESP_get_tst_info(resp);
	TS_MSG_IMPRINT *mi = tst ? TS_TST_INFO_get_msg_imprint(tst) : NULL;
	X509_ALGOR *alg = mi ? TS_MSG_IMPRINT_get_algo(mi) : NULL;
	const ASN1_OBJECT *obj = NULL;
	STACK_OF(X509) *signers;
	int ok;

	if (!alg) {
		set_err(err, "time stamp token has no message imprint");
		return -1;
	}
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if (OBJ_obj2nid(obj) != NID_sha256) {
		set_err(err, "time stamp imprint is not SHA-256");
		return -1;
	}
	if (!t->signer)
		return 0;
	signers = PKCS7_get0_signers(TS_RESP_get_token(resp), NULL, 0);
	ok = signers && sk_X509_num(signers) == 1 &&
	     X509_cmp(sk_X509_value(signers, 0), t->signer) == 0;
	sk_X509_free(signers);
	if (!ok) {
		set_err(err, "time stamp token is not signed by the approved TSA certificate");
		return -1;
	}
	return 0;
}

/* The shared check: ctx holds flags, imprint and (for a live request) the
 * nonce; this adds the store and runs OpenSSL's verification. */
static int verify_resp(const struct tsa_trust *t, TS_VERIFY_CTX *ctx, TS_RESP *resp,
		       int64_t *gen_ms, char **err)
{
	TS_TST_INFO *tst = TS_RESP_get_tst_info(resp);
	X509_STORE *st;
	int64_t ms = 0;
	long status;

	/* 0 granted, 1 grantedWithMods; OpenSSL checks again, this names it. */
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));
	if (status != 0 && status != 1) {
		set_err(err, "TSA refused the request (PKIStatus %ld)", status);
		return -1;
	}
	if (!tst || gen_time_of(tst, &ms) < 0) {
		set_err(err, "time stamp response holds no readable token");
		return -1;
	}
	if (!(st = make_store(t, (time_t)(ms / 1000)))) {
		set_err(err, "out of memory");
		return -1;
	}
	TS_VERIFY_CTX_set_store(ctx, st);   /* ctx owns it now */
	TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_VERSION | TS_VFY_SIGNER);
	if (!TS_RESP_verify_response(ctx, resp)) {
		set_err(err, "time stamp verification failed");
		return -1;
	}
	if (check_token_extras(t, resp, err) < 0)
		return -1;
	*gen_ms = ms;
	return 0;
}

static TS_RESP *parse_resp(const unsigned char *der, size_t len, char **err)
{
	const unsigned char *p = der;
	TS_RESP *resp;

	if (len == 0 || len > TSA_MAX_RESPONSE) {
		set_err(err, "time stamp response of %zu bytes", len);
		return NULL;
	}
	resp = d2i_TS_RESP(NULL, &p, (long)len);
	if (!resp || p != der + len) {
		TS_RESP_free(resp);
		set_err(err, "time stamp response is not DER TimeStampResp");
		return NULL;
	}
	return resp;
}

/* resp against SHA-256(data), with t. */
static int verify_data(const struct tsa_trust *t, TS_RESP *resp, const void *data, size_t len,
		       int64_t *gen_time_ms, char **err)
{
	unsigned char *md = OPENSSL_malloc(32);
	TS_VERIFY_CTX *ctx = TS_VERIFY_CTX_new();
	int rc = -1;

	if (!md || !ctx) {
		set_err(err, "out of memory");
		goto out;
	}
	if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL)) {
		set_err(err, "SHA-256 failed");
		goto out;
	}
	TS_VERIFY_CTX_set_flags(ctx, TS_VFY_IMPRINT);
	TS_VERIFY_CTX_set_imprint(ctx, md, 32);   /* ctx owns md */
	md = NULL;
	rc = verify_resp(t, ctx, resp, gen_time_ms, err);
out:
	OPENSSL_free(md);
	TS_VERIFY_CTX_free(ctx);
	return rc;
}

int tsa_verify(const struct tsa_trust *t, const unsigned char *der, size_t der_len,
	       const void *data, size_t len, int64_t *gen_time_ms, char **err)
{
	TS_RESP *resp = parse_resp(der, der_len, err);
	int rc = resp ? verify_data(t, resp, data, len, gen_time_ms, err) : -1;

	TS_RESP_free(resp);
	return rc;
}

int tsa_verify_carried(const unsigned char *der, size_t der_len, const void *data, size_t len,
		       int64_t *gen_time_ms, char **err)
{
	TS_RESP *resp = parse_resp(der, der_len, err);
	PKCS7 *token = resp ? TS_RESP_get_token(resp) : NULL;
	STACK_OF(X509) *signers = token ? PKCS7_get0_signers(token, NULL, 0) : NULL;
	struct tsa_trust t = { 0 };
	int rc = -1;

	if (resp && (!signers || sk_X509_num(signers) != 1)) {
		set_err(err, "time stamp token does not carry its signer's certificate");
		ERR_clear_error();
	} else if (resp) {
		t.anchors = signers;   /* borrowed: the token's own certificate */
		rc = verify_data(&t, resp, data, len, gen_time_ms, err);
	}
	sk_X509_free(signers);
	TS_RESP_free(resp);
	return rc;
}

/* ------------------------------------------------------------ client */

struct tsa_client *tsa_client_new(const struct tsa_config *cfg, char **err)
{
	struct tsa_client *c = calloc(1, sizeof(*c));

	if (!c) {
		set_err(err, "out of memory");
		return NULL;
	}
	if (!cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8))) {
		set_err(err, "TSA URL must be http:// or https://");
		goto fail;
	}
	if (!cfg->tsa_cert_pem) {
		set_err(err, "the approved TSA certificate is required");
		goto fail;
	}
	if (!(c->trust = tsa_trust_new(cfg->ca_pem, cfg->tsa_cert_pem, err)))
		goto fail;
	c->url = strdup(cfg->url);
	c->curl = curl_easy_init();
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
	if (!c->url || !c->curl) {
		set_err(err, "out of memory");
		goto fail;
	}
	return c;
fail:
	tsa_client_free(c);
	return NULL;
}

void tsa_client_free(struct tsa_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	tsa_trust_free(c->trust);
	free(c->url);
	free(c);
}

/* The request for SHA-256(data), with a fresh 64-bit nonce. */
static TS_REQ *make_req(const void *data, size_t len)
{
	unsigned char md[32], nb[8];
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (!req || !mi || !alg || !EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) ||
	    RAND_bytes(nb, sizeof(nb)) != 1)
		goto out;
	nb[0] &= 0x7f;   /* a positive INTEGER */
	if (!(bn = BN_bin2bn(nb, sizeof(nb), NULL)) || !(nonce = BN_to_ASN1_INTEGER(bn, NULL)))
		goto out;
	ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) &&
	     TS_MSG_IMPRINT_set_algo(mi, alg) && TS_MSG_IMPRINT_set_msg(mi, md, sizeof(md)) &&
	     TS_REQ_set_version(req, 1) && TS_REQ_set_msg_imprint(req, mi) &&
	     TS_REQ_set_nonce(req, nonce) && TS_REQ_set_cert_req(req, 1);
out:
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	if (!ok) {
		TS_REQ_free(req);
		return NULL;
	}
	return req;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, p, sz * n) < 0)
		return 0;   /* over the cap: curl fails the transfer */
	return sz * n;
}

/* POSTs the DER request; the response body lands in out (capped). */
static int http_post(struct tsa_client *c, const unsigned char *q, size_t qlen, struct buf *out,
		     char **err)
{
	struct curl_slist *h = NULL, *h2;
	CURL *cu = c->curl;
	long status = 0;
	CURLcode rc;

	h2 = curl_slist_append(h, "Content-Type: application/timestamp-query");
	if (h2)
		h = h2;
	if (h2 && (h2 = curl_slist_append(h, "Accept: application/timestamp-reply")))
		h = h2;
	if (h2 && (h2 = curl_slist_append(h, "Expect:")))
		h = h2;
	if (!h2) {
		curl_slist_free_all(h);
		set_err(err, "out of memory");
		return -1;
	}
	curl_easy_reset(cu);
	curl_easy_setopt(cu, CURLOPT_URL, c->url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_PROXY, "");   /* never via an environment proxy */
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, (const char *)q);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)qlen);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		set_err(err, "TSA %s: %s", c->url, curl_easy_strerror(rc));
		return -1;
	}
	if (status != 200) {
		set_err(err, "TSA %s answered HTTP %ld", c->url, status);
		return -1;
	}
	return 0;
}

int tsa_stamp(struct tsa_client *c, const void *data, size_t len, unsigned char **resp_out,
	      size_t *resp_len, int64_t *gen_time_ms, char **err)
{
	struct buf body;
	unsigned char *q = NULL;
	TS_REQ *req = NULL;
	TS_VERIFY_CTX *ctx = NULL;
	TS_RESP *resp = NULL;
	int qlen, rc = -1;

	buf_init(&body, TSA_MAX_RESPONSE);
	if (!(req = make_req(data, len)) || (qlen = i2d_TS_REQ(req, &q)) <= 0) {
		set_err(err, "cannot build the time stamp request");
		goto out;
	}
	if (http_post(c, q, (size_t)qlen, &body, err) < 0)
		goto out;
	if (!(resp = parse_resp((unsigned char *)body.data, body.len, err)))
		goto out;
	/* Imprint and nonce from our own request; signature etc. added below. */
	if (!(ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL))) {
		set_err(err, "out of memory");
		goto out;
	}
	if (verify_resp(c->trust, ctx, resp, gen_time_ms, err) < 0)
		goto out;
	*resp_out = (unsigned char *)buf_steal(&body, resp_len);
	rc = 0;
out:
	OPENSSL_free(q);
	TS_REQ_free(req);
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(resp);
	buf_free(&body);
	return rc;
}
