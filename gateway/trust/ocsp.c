/* ocsp: checking OCSP responses, the verified-response cache, carrying them
 * in a header. The refresher lives in ocsp_cache.c.
 *
 * A check parses the DER, finds the SingleResponse for cert + issuer (cheap,
 * and it lets a header carrying several responses skip the others without a
 * signature check), then verifies the signature with OCSP_basic_verify: the
 * signer's chain must verify to the trust store with the OCSP-helper purpose,
 * and the signer must be the issuer itself or a certificate issued by it with
 * OCSPSigning (OpenSSL's ocsp_check_issuer). The verdict of a verified
 * response is remembered by SHA-256 of its DER; the time checks are repeated
 * on every call, so a cached verdict never outlives the response's freshness. */
#include "trust/ocsp.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/crypto.h"

/* Why a check failed, so ocsp_check_header can prefer the reason of the
 * response that was about the certificate over "not about it". */
enum chk { CHK_OK = 0, CHK_OTHER_CERT, CHK_BAD };

/* Formats why (never NULL-terminated short: vsnprintf) and appends the newest
 * OpenSSL error with its detail (e.g. "Verify error:unable to get local
 * issuer certificate"), then clears OpenSSL's error queue. */
static void why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	const char *data = NULL, *r;
	char ossl[200] = "";
	int flags = 0, n;
	unsigned long e = ERR_peek_last_error_data(&data, &flags);
	va_list ap;

	if (e) {
		r = ERR_reason_error_string(e);
		if (!(flags & ERR_TXT_STRING) || !data)
			data = "";
		snprintf(ossl, sizeof(ossl), "%s%s%s", r ? r : "OpenSSL error", *data ? ": " : "",
			 data);
	}
	ERR_clear_error();
	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	if (*ossl && n >= 0 && (size_t)n < whylen)
		snprintf(why + n, whylen - (size_t)n, " [%s]", ossl);
}

static void subject_of(X509 *c, char *out, size_t n)
{
	if (!c || !X509_NAME_oneline(X509_get_subject_name(c), out, (int)n))
		snprintf(out, n, "(no subject)");
}

static void fmt_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "%lld", (long long)t);
}

static int asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	*out = timegm(&tm);
	return 0;
}

const char *ocsp_reason_name(int reason)
{
	const char *s;

	if (reason < 0)
		return "unspecified";
	s = OCSP_crl_reason_str(reason);
	return s && *s != '(' ? s : "unspecified";
}

const char *ocsp_cert_state_name(enum ocsp_cert_state s)
{
	switch (s) {
	case OCSP_CERT_GOOD: return "good";
	case OCSP_CERT_REVOKED: return "revoked";
	case OCSP_CERT_UNKNOWN: return "unknown";
	}
	return "?";
}

/* ------------------------------------------------------------ parsing */

static OCSP_BASICRESP *parse_basic(const unsigned char *der, size_t len, char *why, size_t whylen)
{
	const unsigned char *p = der;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *r;
	int status;

	r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (!r || p != der + len) {
		why_set(why, whylen, "OCSP response is not a DER OCSPResponse (%zu bytes: truncated, "
			"garbage or trailing data)", len);
		goto out;
	}
	status = OCSP_response_status(r);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		why_set(why, whylen, "the OCSP responder answered %s (%d) instead of a status: it "
			"cannot answer for this certificate", OCSP_response_status_str(status), status);
		goto out;
	}
	if (!(bs = OCSP_response_get1_basic(r)))
		why_set(why, whylen, "OCSP response holds no basic response (only id-pkix-ocsp-basic "
			"is supported)");
out:
	OCSP_RESPONSE_free(r);
	return bs;
}

/* CertIDs hashed with anything weaker than SHA-1 are not looked at. */
static int allowed_certid_md(int nid)
{
	return nid == NID_sha1 || nid == NID_sha224 || nid == NID_sha256 || nid == NID_sha384 ||
	       nid == NID_sha512;
}

/* The SingleResponse whose CertID (in its own hash algorithm) names cert as
 * issued by issuer, or NULL. */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer)
{
	int i, n = OCSP_resp_count(bs);

	for (i = 0; i < n; i++) {
		OCSP_SINGLERESP *s = OCSP_resp_get0(bs, i);
		const OCSP_CERTID *cid = s ? OCSP_SINGLERESP_get0_id(s) : NULL;
		ASN1_OBJECT *oid = NULL;
		OCSP_CERTID *mine;
		const EVP_MD *md;
		int eq;

		if (!cid || !OCSP_id_get0_info(NULL, &oid, NULL, NULL, (OCSP_CERTID *)cid) ||
		    !allowed_certid_md(OBJ_obj2nid(oid)) || !(md = EVP_get_digestbyobj(oid)))
			continue;
		if (!(mine = OCSP_cert_to_id(md, cert, issuer)))
			continue;
		eq = OCSP_id_cmp(mine, cid) == 0;
		OCSP_CERTID_free(mine);
		if (eq)
			return s;
	}
	ERR_clear_error();
	return NULL;
}

/* Signature and responder authorisation (see the top of the file). With no
 * trust store the issuer alone is the anchor. On success nb and na hold the
 * signer certificate's validity period. */
static int verify_sig(OCSP_BASICRESP *bs, X509 *issuer, X509_STORE *trust, time_t *nb,
		      time_t *na, char *why, size_t whylen)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *own = NULL;
	X509 *signer = NULL;
	int ok = 0;

	if (!untrusted || !sk_X509_push(untrusted, issuer)) {
		why_set(why, whylen, "out of memory checking an OCSP response");
		goto out;
	}
	if (!trust) {
		if (!(own = X509_STORE_new()) || !X509_STORE_add_cert(own, issuer) ||
		    !X509_STORE_set_flags(own, X509_V_FLAG_PARTIAL_CHAIN)) {
			why_set(why, whylen, "out of memory checking an OCSP response");
			goto out;
		}
		trust = own;
	}
	if (OCSP_basic_verify(bs, untrusted, trust, 0) != 1) {
		why_set(why, whylen, "OCSP response signature not accepted: it must be signed by "
			"the certificate's CA or by a responder certificate that CA issued for "
			"OCSP signing, chaining to an approved CA");
		goto out;
	}
	if (OCSP_resp_get0_signer(bs, &signer, untrusted) != 1 ||
	    asn1_time(X509_get0_notBefore(signer), nb) < 0 ||
	    asn1_time(X509_get0_notAfter(signer), na) < 0) {
		why_set(why, whylen, "OCSP responder certificate has unreadable validity dates");
		goto out;
	}
	ok = 1;
out:
	sk_X509_free(untrusted);   /* borrowed issuer */
	X509_STORE_free(own);
	return ok;
}

static int read_status(OCSP_BASICRESP *bs, OCSP_SINGLERESP *s, struct ocsp_status *st,
		       char *why, size_t whylen)
{
	ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
	int reason = -1, v = OCSP_single_get0_status(s, &reason, &rev, &tu, &nu);

	memset(st, 0, sizeof(*st));
	st->reason = -1;
	if (asn1_time(tu, &st->this_update) < 0 || (nu && asn1_time(nu, &st->next_update) < 0) ||
	    asn1_time(OCSP_resp_get0_produced_at(bs), &st->produced_at) < 0) {
		why_set(why, whylen, "OCSP response has unreadable thisUpdate/nextUpdate/producedAt");
		return -1;
	}
	switch (v) {
	case V_OCSP_CERTSTATUS_GOOD:
		st->state = OCSP_CERT_GOOD;
		return 0;
	case V_OCSP_CERTSTATUS_REVOKED:
		st->state = OCSP_CERT_REVOKED;
		st->reason = reason >= 0 ? reason : -1;
		if (asn1_time(rev, &st->revoked_at) < 0) {
			why_set(why, whylen, "OCSP response says revoked without a readable time");
			return -1;
		}
		return 0;
	case V_OCSP_CERTSTATUS_UNKNOWN:
		st->state = OCSP_CERT_UNKNOWN;
		return 0;
	}
	why_set(why, whylen, "OCSP response has an invalid certificate status %d", v);
	return -1;
}

/* The full check, without the time checks. */
static enum chk check_full(const unsigned char *der, size_t len, X509 *cert, X509 *issuer,
			   X509_STORE *trust, struct ocsp_status *st, time_t *nb, time_t *na,
			   char *why, size_t whylen)
{
	OCSP_BASICRESP *bs;
	OCSP_SINGLERESP *s;
	char subj[160];
	enum chk rc = CHK_BAD;

	if (X509_check_issued(issuer, cert) != X509_V_OK) {
		subject_of(cert, subj, sizeof(subj));
		why_set(why, whylen, "the issuer given for %s did not issue it (the caller must pass "
			"the certificate's own CA certificate)", subj);
		return CHK_BAD;
	}
	if (!(bs = parse_basic(der, len, why, whylen)))
		return CHK_BAD;
	if (!(s = find_single(bs, cert, issuer))) {
		subject_of(cert, subj, sizeof(subj));
		why_set(why, whylen, "OCSP response is not about %s (no SingleResponse names this "
			"certificate and its issuer)", subj);
		rc = CHK_OTHER_CERT;
		goto out;
	}
	if (!verify_sig(bs, issuer, trust, nb, na, why, whylen))
		goto out;
	if (read_status(bs, s, st, why, whylen) < 0)
		goto out;
	rc = CHK_OK;
out:
	OCSP_BASICRESP_free(bs);
	return rc;
}

static int check_times(const struct ocsp_status *st, const struct ocsp_check_opts *o, X509 *cert,
		       char *why, size_t whylen)
{
	long fresh = o->freshness_s > 0 ? o->freshness_s : OCSP_DEFAULT_FRESHNESS_S;
	long skew = o->skew_s > 0 ? o->skew_s : OCSP_DEFAULT_SKEW_S;
	time_t now = o->now ? o->now : time(NULL);
	char subj[160], t[32];

	if (st->this_update <= now + skew && now - st->this_update <= fresh &&
	    (!st->next_update || st->next_update >= now - skew))
		return 0;   /* the common case, without formatting the subject */
	subject_of(cert, subj, sizeof(subj));
	if (st->this_update > now + skew) {
		fmt_time(st->this_update, t, sizeof(t));
		why_set(why, whylen, "OCSP response for %s has thisUpdate %s, %lld s in the future "
			"(over the %ld s clock skew allowed): check the responder's and this "
			"host's clocks", subj, t, (long long)(st->this_update - now), skew);
		return -1;
	}
	if (now - st->this_update > fresh) {
		fmt_time(st->this_update, t, sizeof(t));
		why_set(why, whylen, "OCSP response for %s is %lld s old (thisUpdate %s), over the "
			"%ld s freshness limit: the sender must fetch a new one from its OCSP "
			"responder", subj, (long long)(now - st->this_update), t, fresh);
		return -1;
	}
	if (st->next_update && st->next_update < now - skew) {
		fmt_time(st->next_update, t, sizeof(t));
		why_set(why, whylen, "OCSP response for %s expired at its nextUpdate %s: the sender "
			"must fetch a new one", subj, t);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ verified cache */

#define VC_SLOTS 512

struct vc_entry {
	unsigned char key[SHA256_LEN];   /* SHA-256 of the DER */
	X509 *cert, *issuer;             /* references; cert NULL: empty slot */
	X509_STORE *trust;               /* reference, or NULL (issuer as anchor) */
	struct ocsp_status st;
	time_t signer_nb, signer_na;     /* the responder certificate's validity */
};

static struct {
	pthread_mutex_t lock;
	uint64_t hits, misses;
	struct vc_entry e[VC_SLOTS];
} VC = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct vc_entry *vc_slot(const unsigned char *key)
{
	return &VC.e[((size_t)key[0] << 8 | key[1]) % VC_SLOTS];
}

static int same_cert(X509 *a, X509 *b)
{
	return a == b || X509_cmp(a, b) == 0;
}

static int vc_lookup(const unsigned char *key, X509 *cert, X509 *issuer, X509_STORE *trust,
		     struct ocsp_status *st)
{
	struct vc_entry *e = vc_slot(key);
	time_t now = time(NULL);
	int hit;

	pthread_mutex_lock(&VC.lock);
	hit = e->cert && memcmp(e->key, key, SHA256_LEN) == 0 && e->trust == trust &&
	      same_cert(e->cert, cert) && same_cert(e->issuer, issuer) &&
	      now >= e->signer_nb && now <= e->signer_na;
	if (hit) {
		*st = e->st;
		VC.hits++;
	} else {
		VC.misses++;
	}
	pthread_mutex_unlock(&VC.lock);
	return hit;
}

static void vc_entry_drop(struct vc_entry *e)
{
	X509_free(e->cert);
	X509_free(e->issuer);
	X509_STORE_free(e->trust);
	memset(e, 0, sizeof(*e));
}

static void vc_store(const unsigned char *key, X509 *cert, X509 *issuer, X509_STORE *trust,
		     const struct ocsp_status *st, time_t nb, time_t na)
{
	struct vc_entry n = { .cert = cert, .issuer = issuer, .trust = trust, .st = *st,
			      .signer_nb = nb, .signer_na = na }, old;

	if (!X509_up_ref(cert))
		return;
	if (!X509_up_ref(issuer)) {
		X509_free(cert);
		return;
	}
	if (trust && !X509_STORE_up_ref(trust)) {
		X509_free(cert);
		X509_free(issuer);
		return;
	}
	memcpy(n.key, key, SHA256_LEN);
	pthread_mutex_lock(&VC.lock);
	old = *vc_slot(key);
	*vc_slot(key) = n;
	pthread_mutex_unlock(&VC.lock);
	vc_entry_drop(&old);   /* outside the lock: may free a whole store */
}

void ocsp_verified_cache_clear(void)
{
	static struct vc_entry old[VC_SLOTS];   /* serialised by clear_lock */
	static pthread_mutex_t clear_lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&clear_lock);
	pthread_mutex_lock(&VC.lock);
	memcpy(old, VC.e, sizeof(old));
	memset(VC.e, 0, sizeof(VC.e));
	pthread_mutex_unlock(&VC.lock);
	for (size_t i = 0; i < VC_SLOTS; i++)
		vc_entry_drop(&old[i]);
	pthread_mutex_unlock(&clear_lock);
}

void ocsp_verified_cache_stats(uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&VC.lock);
	if (hits)
		*hits = VC.hits;
	if (misses)
		*misses = VC.misses;
	pthread_mutex_unlock(&VC.lock);
}

/* ------------------------------------------------------------ checking */

static enum chk check_response(const unsigned char *der, size_t len, X509 *cert, X509 *issuer,
			       X509_STORE *trust, const struct ocsp_check_opts *o,
			       struct ocsp_status *st, char *why, size_t whylen)
{
	static const struct ocsp_check_opts dflt;
	unsigned char key[SHA256_LEN];
	time_t nb = 0, na = 0;
	enum chk rc;

	o = o ? o : &dflt;
	memset(st, 0, sizeof(*st));
	st->reason = -1;
	ERR_clear_error();
	if (!cert || !issuer) {
		why_set(why, whylen, "no certificate or issuer given to check an OCSP response for");
		return CHK_BAD;
	}
	if (!der || len == 0 || len > OCSP_MAX_RESPONSE) {
		why_set(why, whylen, "OCSP response of %zu bytes (empty, or over the %d-byte cap)",
			len, OCSP_MAX_RESPONSE);
		return CHK_BAD;
	}
	if (sha256(der, len, key) < 0) {
		why_set(why, whylen, "SHA-256 of an OCSP response failed");
		return CHK_BAD;
	}
	if (o->no_cache || !vc_lookup(key, cert, issuer, trust, st)) {
		rc = check_full(der, len, cert, issuer, trust, st, &nb, &na, why, whylen);
		if (rc != CHK_OK)
			return rc;
		if (!o->no_cache)
			vc_store(key, cert, issuer, trust, st, nb, na);
	}
	return check_times(st, o, cert, why, whylen) < 0 ? CHK_BAD : CHK_OK;
}

int ocsp_check_response(const unsigned char *der, size_t len, X509 *cert, X509 *issuer,
			X509_STORE *trust, const struct ocsp_check_opts *o, struct ocsp_status *st,
			char *why, size_t whylen)
{
	return check_response(der, len, cert, issuer, trust, o, st, why, whylen) == CHK_OK ? 0 : -1;
}

/* ------------------------------------------------------------ AIA */

static int url_ok(const char *u, size_t n)
{
	size_t i;

	if (n == 0 || n >= OCSP_URL_MAX ||
	    (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f)
			return 0;
	}
	return 1;
}

size_t ocsp_aia_urls(X509 *cert, char **urls, size_t max)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	size_t got = 0;
	int i;

	for (i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && got < max; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		const ASN1_IA5STRING *s;

		if (OBJ_obj2nid(ad->method) != NID_ad_OCSP || ad->location->type != GEN_URI)
			continue;
		s = ad->location->d.uniformResourceIdentifier;
		if (!url_ok((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s)))
			continue;
		if ((urls[got] = strndup((const char *)ASN1_STRING_get0_data(s),
					 (size_t)ASN1_STRING_length(s))) != NULL)
			got++;
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	ERR_clear_error();
	return got;
}

/* ------------------------------------------------------------ header */

int ocsp_encode_header(const unsigned char *const *ders, const size_t *lens, size_t n,
		       struct buf *out)
{
	char *b64 = malloc(4 * ((OCSP_MAX_RESPONSE + 2) / 3) + 1);
	size_t i, m;
	int rc = -1;

	if (!b64 || n == 0 || n > OCSP_HEADER_MAX_RESPONSES)
		goto out;
	for (i = 0; i < n; i++) {
		if (!ders[i] || lens[i] == 0 || lens[i] > OCSP_MAX_RESPONSE)
			goto out;
		m = b64_encode(ders[i], lens[i], b64);
		if ((i && buf_append(out, ",", 1) < 0) || buf_append(out, b64, m) < 0)
			goto out;
	}
	rc = 0;
out:
	free(b64);
	return rc;
}

void ocsp_header_free(struct ocsp_header *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->der[i]);
	memset(h, 0, sizeof(*h));
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Decodes one base64 item [p, p+n) into h. */
static int parse_item(const char *p, size_t n, struct ocsp_header *h, char *why, size_t whylen)
{
	size_t idx = h->n + 1;
	long got;

	if (n == 0) {
		why_set(why, whylen, "OCSP header: item %zu is empty", idx);
		return -1;
	}
	if (h->n == OCSP_HEADER_MAX_RESPONSES) {
		why_set(why, whylen, "OCSP header: more than %d responses", OCSP_HEADER_MAX_RESPONSES);
		return -1;
	}
	if (n > 4 * ((OCSP_MAX_RESPONSE + 2) / 3)) {
		why_set(why, whylen, "OCSP header: item %zu is over the %d-byte cap", idx,
			OCSP_MAX_RESPONSE);
		return -1;
	}
	if (!(h->der[h->n] = malloc(n / 4 * 3 + 1))) {
		why_set(why, whylen, "OCSP header: out of memory");
		return -1;
	}
	got = b64_decode(p, n, h->der[h->n], n / 4 * 3 + 1);
	if (got <= 0 || (size_t)got > OCSP_MAX_RESPONSE) {
		free(h->der[h->n]);
		h->der[h->n] = NULL;
		why_set(why, whylen, "OCSP header: item %zu is not standard base64 (or is over the "
			"%d-byte cap)", idx, OCSP_MAX_RESPONSE);
		return -1;
	}
	h->len[h->n++] = (size_t)got;
	return 0;
}

int ocsp_parse_header(const char *value, size_t len, struct ocsp_header *h, char *why,
		      size_t whylen)
{
	size_t i = 0, start, end;

	memset(h, 0, sizeof(*h));
	if (!value || len == 0) {
		why_set(why, whylen, "OCSP header is empty");
		return -1;
	}
	if (len > OCSP_HEADER_MAX_LEN) {
		why_set(why, whylen, "OCSP header of %zu bytes is over the %d-byte cap", len,
			OCSP_HEADER_MAX_LEN);
		return -1;
	}
	for (;;) {
		while (i < len && is_ows(value[i]))
			i++;
		start = i;
		while (i < len && value[i] != ',')
			i++;
		end = i;
		while (end > start && is_ows(value[end - 1]))
			end--;
		if (parse_item(value + start, end - start, h, why, whylen) < 0) {
			ocsp_header_free(h);
			return -1;
		}
		if (i == len)
			return 0;
		i++;   /* the comma */
	}
}

/* The key of a header's verdict for one certificate: SHA-256 of the header
 * value's SHA-256 and the certificate's signature bytes (unique per
 * certificate, and read without encoding anything). One header serves
 * several certificates (the signer's and the sending gateway's), each with
 * its own entry; the header's own hash is taken once (sha256_repeat). */
static int header_key(const char *value, size_t len, X509 *cert, unsigned char out[SHA256_LEN])
{
	const ASN1_BIT_STRING *sig = NULL;
	unsigned char vh[SHA256_LEN];
	EVP_MD_CTX *c;
	int ok;

	X509_get0_signature(&sig, NULL, cert);
	if (!sig || sha256_repeat(value, len, vh) < 0 || !(c = EVP_MD_CTX_new()))
		return -1;
	ok = EVP_DigestInit_ex(c, crypto_md(256), NULL) && EVP_DigestUpdate(c, vh, sizeof(vh)) &&
	     EVP_DigestUpdate(c, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig)) &&
	     EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* The responder-certificate window kept with a DER's cache entry. */
static int vc_window(const unsigned char *key, time_t *nb, time_t *na)
{
	struct vc_entry *e = vc_slot(key);
	int ok;

	pthread_mutex_lock(&VC.lock);
	ok = e->cert && memcmp(e->key, key, SHA256_LEN) == 0;
	if (ok) {
		*nb = e->signer_nb;
		*na = e->signer_na;
	}
	pthread_mutex_unlock(&VC.lock);
	return ok;
}

int ocsp_check_header(const char *value, size_t len, X509 *cert, X509 *issuer,
		      X509_STORE *trust, const struct ocsp_check_opts *o, struct ocsp_status *st,
		      char *why, size_t whylen)
{
	static const struct ocsp_check_opts dflt;
	struct ocsp_header h;
	char one[OCSP_WHY_MAX];
	enum chk best = CHK_OK, rc = CHK_BAD;
	unsigned char hkey[SHA256_LEN], dkey[SHA256_LEN];
	int cached = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->reason = -1;
	/* The same header comes with every message of a sender for a while: its
	 * verdict for this certificate is remembered by the header's hash, so a
	 * hit costs one hash (the time checks are still made on every call). */
	if (cert && issuer && len <= OCSP_HEADER_MAX_LEN && !(o && o->no_cache) &&
	    header_key(value, len, cert, hkey) == 0) {
		cached = 1;
		if (vc_lookup(hkey, cert, issuer, trust, st))
			return check_times(st, o ? o : &dflt, cert, why, whylen) < 0 ? -1 : 0;
	}
	if (ocsp_parse_header(value, len, &h, why, whylen) < 0)
		return -1;
	for (i = 0; i < h.n; i++) {
		rc = check_response(h.der[i], h.len[i], cert, issuer, trust, o, st, one, sizeof(one));
		if (rc == CHK_OK)
			break;
		/* Keep the first reason, unless a later response was about this
		 * certificate and the kept one was not. */
		if (best == CHK_OK || (best == CHK_OTHER_CERT && rc == CHK_BAD)) {
			best = rc;
			if (why && whylen)
				snprintf(why, whylen, "%s", one);
		}
	}
	if (rc == CHK_OK && cached && sha256(h.der[i], h.len[i], dkey) == 0) {
		time_t nb, na;
		if (vc_window(dkey, &nb, &na))
			vc_store(hkey, cert, issuer, trust, st, nb, na);
	}
	ocsp_header_free(&h);
	if (rc == CHK_OK)
		return 0;
	memset(st, 0, sizeof(*st));
	st->reason = -1;
	return -1;
}
