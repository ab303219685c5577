/* sign: SignedMessage documents - start-up, signing, the member rule, binding.
 *
 * Signing never runs a canonicaliser: every signed byte sequence is written
 * here directly in exclusive-c14n form, and the document carries those very
 * bytes (README-sign.md, "How signing works"). Verification is in
 * sign_verify.c, trust stores and their chain cache in sign_trust.c. */
#include "trust/sign.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>
#include <xmlsec/crypto.h>

#include "lib/crypto.h"
#include "trust/sign_int.h"

/* ---- start-up ---------------------------------------------------------------- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_done;
/* Fetched by sig_global_init: an implicit fetch per digest (EVP_sha256())
 * costs a lock and a hash look-up in OpenSSL 3 every time. */
static EVP_MD *md_sha256;

const EVP_MD *sig_md_sha256(void)
{
	return md_sha256 ? md_sha256 : EVP_sha256();
}

int sig_sha256(const void *data, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, sig_md_sha256(), NULL) == 1 ? 0 : -1;
}

#if LIBXML_VERSION >= 21200
typedef const xmlError *sig_xml_err;
#else
typedef xmlErrorPtr sig_xml_err;
#endif

static void silent_structured(void *ctx, sig_xml_err e)
{
}

static void silent_generic(void *ctx, const char *msg, ...)
{
}

/* xmlsec reports every failure through this; the verifier turns the outcome
 * into a fault itself, so nothing needs printing. */
static void silent_xmlsec(const char *file, int line, const char *func, const char *obj,
			  const char *subj, int reason, const char *msg)
{
}

static int init_xmlsec(char **err)
{
	if (xmlSecInit() < 0) {
		*err = strdup("xmlsec initialisation failed");
		return -1;
	}
	if (xmlSecCheckVersion() != 1) {
		*err = strdup("xmlsec library version is not compatible with the one built against");
		goto fail;
	}
	if (xmlSecCryptoAppInit(NULL) < 0) {
		*err = strdup("xmlsec crypto (OpenSSL) app initialisation failed");
		goto fail;
	}
	if (xmlSecCryptoInit() < 0) {
		*err = strdup("xmlsec crypto (OpenSSL) initialisation failed");
		xmlSecCryptoAppShutdown();
		goto fail;
	}
	return 0;
fail:
	xmlSecShutdown();
	return -1;
}

int sig_global_init(char **err)
{
	int rc = 0;

	if (err)
		*err = NULL;
	pthread_mutex_lock(&init_lock);
	if (!init_done) {
		char *e = NULL;
		xmlInitParser();
		/* Defaults for threads created later; libxml2 keeps these per thread. */
		xmlThrDefSetStructuredErrorFunc(NULL, silent_structured);
		xmlThrDefSetGenericErrorFunc(NULL, silent_generic);
		xmlSecErrorsSetCallback(silent_xmlsec);
		rc = init_xmlsec(&e);
		if (rc == 0) {
			md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
			__atomic_store_n(&init_done, 1, __ATOMIC_RELEASE);
		} else if (err) {
			*err = e;
		} else {
			free(e);
		}
	}
	pthread_mutex_unlock(&init_lock);
	if (rc == 0) {
		xmlSetStructuredErrorFunc(NULL, silent_structured);
		xmlSetGenericErrorFunc(NULL, silent_generic);
	}
	return rc;
}

int sig_ready(void)
{
	/* Read on every verification: no lock, just an atomic load. */
	return __atomic_load_n(&init_done, __ATOMIC_ACQUIRE);
}

void sig_global_shutdown(void)
{
	pthread_mutex_lock(&init_lock);
	if (init_done) {
		xmlSecCryptoShutdown();
		xmlSecCryptoAppShutdown();
		xmlSecShutdown();
		EVP_MD_free(md_sha256);
		md_sha256 = NULL;
		__atomic_store_n(&init_done, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
}

const char *sig_kind_name(enum sig_kind k)
{
	return k == SIG_REQUEST ? "request" : k == SIG_RESPONSE ? "response" : "";
}

/* ---- text rules shared by signer and verifier ------------------------------------ */

/* Length of the UTF-8 sequence at s if it encodes an XML Char >= U+0020
 * (so no control characters at all), else 0. */
static size_t xml_char_len(const unsigned char *s)
{
	unsigned c = s[0], cp;
	size_t n, i;

	if (c >= 0x20 && c < 0x7f)
		return 1;
	if (c < 0x80)
		return 0; /* C0 controls and DEL */
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
		return 0; /* overlong */
	if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff ||
	    cp > 0x10ffff)
		return 0; /* C1 controls, surrogates, non-characters XML refuses */
	return n;
}

int sig_text_ok(const char *s, size_t max)
{
	size_t len, i, n;

	if (!s || (len = strlen(s)) == 0 || len >= max)
		return 0;
	for (i = 0; i < len; i += n)
		if (!(n = xml_char_len((const unsigned char *)s + i)))
			return 0;
	return 1;
}

int sig_ascii_ok(const char *s, size_t max)
{
	size_t len;

	if (!s || (len = strlen(s)) == 0 || len >= max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

int sig_b64_ok(const char *s, size_t max)
{
	size_t len;

	if (!s || (len = strlen(s)) == 0 || len >= max || len % 4)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == len;
}

/* Strict base64 (lib/crypto.c b64_decode: padding, no whitespace, zero spare
 * bits), and an empty text is not a value here. */
long sig_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	return len == 0 ? -1 : b64_decode(s, len, out, cap);
}

/* ECDSA (r, s) and (r, n - s) are both valid: we sign and accept only the
 * low form (s <= n/2), so the SignatureValue cannot be re-spelled either. */
static const unsigned char p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const unsigned char p256_half_n[32] = {
	0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
};

int sig_ecdsa_low_s(const unsigned char *s)
{
	return memcmp(s, p256_half_n, 32) <= 0;
}

int sig_ecdsa_normalize(unsigned char *s)
{
	BIGNUM *n, *v;
	int rc = -1;

	if (sig_ecdsa_low_s(s))
		return 0;
	n = BN_bin2bn(p256_n, 32, NULL);
	v = BN_bin2bn(s, 32, NULL);
	if (n && v && BN_sub(v, n, v) == 1 && BN_bn2binpad(v, s, 32) == 32)
		rc = 0;
	BN_free(n);
	BN_free(v);
	return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's civil calendar algorithms): no struct tm, no locale, no printf
 * or scanf on the path every signed message takes twice. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* "2026-11-22T05:00:00.123Z": milliseconds, always UTC, years 1970-9999. */
int sig_time_format(const struct timespec *t, char *out, size_t outlen)
{
	int64_t days, y;
	unsigned m, d, sod;

	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000L || t->tv_sec < 0 || outlen < SIG_TIME_LEN + 1)
		return -1;
	days = (int64_t)(t->tv_sec / 86400);
	sod = (unsigned)(t->tv_sec % 86400);
	civil_from_days(days, &y, &m, &d);
	if (y > 9999)
		return -1;
	memcpy(out, "0000-00-00T00:00:00.000Z", SIG_TIME_LEN + 1);
	put_digits(out, (unsigned)y, 4);
	put_digits(out + 5, m, 2);
	put_digits(out + 8, d, 2);
	put_digits(out + 11, sod / 3600, 2);
	put_digits(out + 14, sod / 60 % 60, 2);
	put_digits(out + 17, sod % 60, 2);
	put_digits(out + 20, (unsigned)(t->tv_nsec / 1000000L), 3);
	return 0;
}

/* n decimal digits at p, or -1. */
static long get_digits(const char *p, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Accepts exactly what sig_time_format writes: that form, every field in
 * range, a day that exists in its month. */
int sig_time_parse(const char *s, struct timespec *out)
{
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	long y, mo, d, h, mi, sec, ms;

	if (strlen(s) != SIG_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return -1;
	y = get_digits(s, 4);
	mo = get_digits(s + 5, 2);
	d = get_digits(s + 8, 2);
	h = get_digits(s + 11, 2);
	mi = get_digits(s + 14, 2);
	sec = get_digits(s + 17, 2);
	ms = get_digits(s + 20, 3);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 59 || ms < 0)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	out->tv_sec = (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec);
	out->tv_nsec = ms * 1000000L;
	return 0;
}

/* ---- signing ---------------------------------------------------------------------- */

/* Text in exclusive-c14n form: only & < > are escaped (c14n writes quotes as
 * they are, so &quot; here would break the digest). No \r can reach this:
 * sig_text_ok refuses control characters. */
static int c14n_text(struct buf *b, const char *s)
{
	const char *p = s;

	for (; *p; p++) {
		const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		if (!rep)
			continue;
		if (buf_append(b, s, (size_t)(p - s)) != 0 || buf_puts(b, rep) != 0)
			return -1;
		s = p + 1;
	}
	return buf_append(b, s, (size_t)(p - s));
}

static int check_meta(const struct sig_meta *m, char **err)
{
	struct xrd_id id;
	char e[128];
	const char *bad = NULL;

	if (m->kind != SIG_REQUEST && m->kind != SIG_RESPONSE)
		bad = "kind must be request or response";
	else if (!m->client || xrd_id_parse(m->client, &id, e, sizeof(e)) != 0 ||
		 (id.type != XRD_MEMBER && id.type != XRD_SUBSYSTEM))
		bad = "client is not a MEMBER or SUBSYSTEM identifier";
	else if (!m->service || xrd_id_parse(m->service, &id, e, sizeof(e)) != 0 ||
		 id.type != XRD_SERVICE)
		bad = "service is not a SERVICE identifier";
	else if (!sig_text_ok(m->message_id, SIG_FIELD_MAX))
		bad = "message id is empty, too long, or holds control characters";
	else if (!sig_ascii_ok(m->content_type, SIG_FIELD_MAX))
		bad = "content type is empty, too long or not printable ASCII";
	else if (m->kind == SIG_RESPONSE && !sig_b64_ok(m->request_hash, SIG_FIELD_MAX))
		bad = "a response needs the request hash (base64)";
	else if (m->kind == SIG_REQUEST && m->request_hash)
		bad = "a request has no request hash";
	if (!bad)
		return 0;
	if (err && asprintf(err, "cannot sign: %s", bad) < 0)
		*err = NULL;
	return -1;
}

/* Appends each string of a NULL-terminated list. Going through vsnprintf
 * instead (buf_printf) cost a quarter of a signature: the certificates are
 * long. */
static int cat(struct buf *b, ...) __attribute__((sentinel));

static int cat(struct buf *b, ...)
{
	va_list ap;
	const char *s;
	int rc = 0;

	va_start(ap, b);
	while (rc == 0 && (s = va_arg(ap, const char *)))
		rc = buf_append(b, s, strlen(s));
	va_end(ap);
	return rc;
}

/* Root start tag and every child before the Signature: the enveloped
 * reference's canonical form is exactly these bytes + "</sm:SignedMessage>". */
int sig_put_message_part(struct buf *b, const struct sig_parts *p)
{
	int rc = cat(b, "<sm:SignedMessage xmlns:sm=\"" SIG_NS "\" Id=\"", p->root_id,
		     "\"><sm:Kind>", p->kind, "</sm:Kind><sm:Client>", NULL);

	rc |= c14n_text(b, p->client);
	rc |= cat(b, "</sm:Client><sm:Service>", NULL);
	rc |= c14n_text(b, p->service);
	rc |= cat(b, "</sm:Service><sm:MessageId>", NULL);
	rc |= c14n_text(b, p->message_id);
	rc |= cat(b, "</sm:MessageId><sm:Time>", p->time, "</sm:Time>", NULL);
	if (p->request_hash)
		rc |= cat(b, "<sm:RequestHash>", p->request_hash, "</sm:RequestHash>", NULL);
	rc |= cat(b, "<sm:BodyDigest Algorithm=\"" SIG_ALG_SHA256 "\">", p->body_digest,
		  "</sm:BodyDigest><sm:ContentType>", NULL);
	rc |= c14n_text(b, p->content_type);
	rc |= cat(b, "</sm:ContentType>", NULL);
	return rc ? -1 : 0;
}

/* SignedProperties, canonical and verbatim: each element declares the
 * namespaces exclusive c14n renders on it when this subtree is canonicalised
 * alone, so the document can carry the very bytes that are digested. */
int sig_put_signed_props(struct buf *b, const struct sig_parts *p)
{
	return cat(b,
		   "<xades:SignedProperties xmlns:xades=\"" SIG_NS_XADES "\" Id=\"", p->props_id,
		   "\"><xades:SignedSignatureProperties><xades:SigningTime>", p->signing_time,
		   "</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
		   "<ds:DigestMethod xmlns:ds=\"" SIG_NS_DS "\" Algorithm=\"" SIG_ALG_SHA256 "\">"
		   "</ds:DigestMethod><ds:DigestValue xmlns:ds=\"" SIG_NS_DS "\">", p->cert_digest,
		   "</ds:DigestValue></xades:CertDigest><xades:IssuerSerialV2>", p->issuer_serial,
		   "</xades:IssuerSerialV2></xades:Cert></xades:SigningCertificateV2>"
		   "</xades:SignedSignatureProperties></xades:SignedProperties>", NULL);
}

int sig_put_signed_info(struct buf *b, const struct sig_parts *p)
{
	return cat(b,
		   "<ds:SignedInfo xmlns:ds=\"" SIG_NS_DS "\">"
		   "<ds:CanonicalizationMethod Algorithm=\"" SIG_ALG_EXC_C14N "\">"
		   "</ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"", p->sig_alg,
		   "\"></ds:SignatureMethod><ds:Reference URI=\"", p->batch_id ? "#" : "",
		   p->batch_id ? p->batch_id : "", "\"><ds:Transforms>"
		   "<ds:Transform Algorithm=\"" SIG_ALG_ENVELOPED "\"></ds:Transform>"
		   "<ds:Transform Algorithm=\"" SIG_ALG_EXC_C14N "\"></ds:Transform></ds:Transforms>"
		   "<ds:DigestMethod Algorithm=\"" SIG_ALG_SHA256 "\"></ds:DigestMethod>"
		   "<ds:DigestValue>", p->msg_digest, "</ds:DigestValue></ds:Reference>"
		   "<ds:Reference Type=\"" SIG_TYPE_PROPS "\" URI=\"#", p->props_id,
		   "\"><ds:Transforms><ds:Transform Algorithm=\"" SIG_ALG_EXC_C14N "\">"
		   "</ds:Transform></ds:Transforms>"
		   "<ds:DigestMethod Algorithm=\"" SIG_ALG_SHA256 "\"></ds:DigestMethod>"
		   "<ds:DigestValue>", p->props_digest, "</ds:DigestValue></ds:Reference>"
		   "</ds:SignedInfo>", NULL);
}

/* SHA-256 of b->data[start..] + tail. */
static int digest_tail(const struct buf *b, size_t start, const char *tail, unsigned char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = c && EVP_DigestInit_ex(c, sig_md_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, b->data + start, b->len - start) == 1 &&
		 EVP_DigestUpdate(c, tail, strlen(tail)) == 1 && EVP_DigestFinal_ex(c, out, &n) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

int sig_digest_message_part(const struct buf *b, size_t start, unsigned char *out)
{
	return digest_tail(b, start, "</sm:SignedMessage>", out);
}

int sig_put_batch_part(struct buf *b, const struct sig_parts *p)
{
	return cat(b, "<sm:Batch xmlns:sm=\"" SIG_NS "\" Id=\"", p->batch_id,
		   "\"><sm:Root Algorithm=\"" SIG_ALG_SHA256 "\" Count=\"", p->batch_count, "\">", p->root,
		   "</sm:Root>", NULL);
}

int sig_digest_batch_part(const struct buf *b, size_t start, unsigned char *out)
{
	return digest_tail(b, start, "</sm:Batch>", out);
}

/* ---- the hash tree of a batch --------------------------------------------------------- */

static int tree_node(const unsigned char l[32], const unsigned char r[32], unsigned char out[32])
{
	unsigned char in[65];

	in[0] = 0x01;
	memcpy(in + 1, l, 32);
	memcpy(in + 33, r, 32);
	return sig_sha256(in, sizeof(in), out);
}

/* Largest power of two below n (n >= 2). */
static size_t split_of(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[lo:hi]) of RFC 9162; every leaf below gets the other side's hash
 * appended to its path, deepest first. */
static int tree_range(const unsigned char (*leaves)[32], size_t lo, size_t hi, unsigned char out[32],
		      unsigned char (*path)[SIG_BATCH_DEPTH][32], size_t *npath)
{
	unsigned char l[32], r[32];
	size_t k, i;

	if (hi - lo == 1) {
		memcpy(out, leaves[lo], 32);
		return 0;
	}
	k = split_of(hi - lo);
	if (tree_range(leaves, lo, lo + k, l, path, npath) != 0 ||
	    tree_range(leaves, lo + k, hi, r, path, npath) != 0)
		return -1;
	for (i = lo; i < hi; i++) {
		if (npath[i] == SIG_BATCH_DEPTH)
			return -1;
		memcpy(path[i][npath[i]++], i < lo + k ? r : l, 32);
	}
	return tree_node(l, r, out);
}

int sig_tree_build(const unsigned char (*leaves)[32], size_t n, unsigned char root[32],
		   unsigned char (*path)[SIG_BATCH_DEPTH][32], size_t *npath)
{
	if (n == 0 || n > SIG_BATCH_MAX)
		return -1;
	memset(npath, 0, n * sizeof(*npath));
	return tree_range(leaves, 0, n, root, path, npath);
}

/* RFC 9162 section 2.1.3.2, verifying an inclusion proof. */
int sig_tree_fold(const unsigned char leaf[32], size_t index, size_t count,
		  const unsigned char (*path)[32], size_t npath, unsigned char root[32])
{
	size_t fn = index, sn = count - 1;
	unsigned char r[32];

	if (count == 0 || index >= count)
		return -1;
	memcpy(r, leaf, 32);
	for (size_t i = 0; i < npath; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			if (tree_node(path[i], r, r) != 0)
				return -1;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (tree_node(r, path[i], r) != 0) {
			return -1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return -1;
	memcpy(root, r, 32);
	return 0;
}

int sig_put_signature_tail(struct buf *b, const struct sig_parts *p, const char *sig_b64,
			   const char *const *certs, size_t ncerts, const struct buf *props)
{
	int rc = cat(b, "<ds:SignatureValue>", sig_b64, "</ds:SignatureValue><ds:KeyInfo><ds:X509Data>", NULL);

	for (size_t i = 0; i < ncerts; i++)
		rc |= cat(b, "<ds:X509Certificate>", certs[i], "</ds:X509Certificate>", NULL);
	rc |= cat(b, "</ds:X509Data></ds:KeyInfo><ds:Object><xades:QualifyingProperties xmlns:xades=\""
		  SIG_NS_XADES "\" Target=\"#", p->sig_id, "\">", NULL);
	rc |= buf_append(b, props->data, props->len);
	rc |= cat(b, "</xades:QualifyingProperties></ds:Object></ds:Signature>", NULL);
	return rc ? -1 : 0;
}

int sig_put_proof(struct buf *b, const char *index, const char *const *nodes, size_t nnodes)
{
	int rc = cat(b, "<sm:BatchProof Index=\"", index, "\">", NULL);

	for (size_t i = 0; i < nnodes; i++)
		rc |= cat(b, "<sm:Node>", nodes[i], "</sm:Node>", NULL);
	rc |= cat(b, "</sm:BatchProof>", NULL);
	return rc ? -1 : 0;
}

int sig_put_signature(struct buf *b, const struct signing_key *k, struct sig_parts *p, char *sig_b64,
		      const char **why)
{
	unsigned char dg[SHA256_LEN], sig[KEYS_SIG_MAX];
	char props_b64[B64_SHA512_LEN];
	const char *certs[1 + KEYS_CHAIN_MAX] = { k->cert_b64 };
	struct buf props;
	size_t si_start, siglen = sizeof(sig), ncerts = 1;
	int rc = -1;

	*why = NULL;
	buf_init(&props, 16 * 1024);
	if (sig_put_signed_props(&props, p) != 0 || sig_sha256(props.data, props.len, dg) != 0)
		goto out;
	b64_encode(dg, sizeof(dg), props_b64);
	p->props_digest = props_b64;
	if (cat(b, "<ds:Signature xmlns:ds=\"" SIG_NS_DS "\" Id=\"", p->sig_id, "\">", NULL) != 0)
		goto out;
	si_start = b->len;
	if (sig_put_signed_info(b, p) != 0 || sig_sha256(b->data + si_start, b->len - si_start, dg) != 0)
		goto out;
	if (k->ops->sign_digest(k->ctx, NID_sha256, dg, sizeof(dg), sig, &siglen) != 0 ||
	    (k->alg == KEY_ALG_ECDSA_P256 && (siglen != 64 || sig_ecdsa_normalize(sig + 32) != 0))) {
		*why = "the signing key failed";
		goto out;
	}
	b64_encode(sig, siglen, sig_b64);
	for (size_t i = 0; i < k->chain_len && ncerts < 1 + KEYS_CHAIN_MAX; i++)
		certs[ncerts++] = k->chain_b64[i];
	rc = sig_put_signature_tail(b, p, sig_b64, certs, ncerts, &props);
out:
	p->props_digest = NULL;   /* pointed into this frame */
	buf_free(&props);
	return rc;
}

/* The three Ids of a signature, sharing one UUID: root ("sm" for a message,
 * "sb" for a batch), Signature, SignedProperties. */
static void sig_ids(char ids[3][UUID_STR_LEN + 8], const char *root)
{
	char uuid[UUID_STR_LEN];

	uuid4(uuid);
	snprintf(ids[0], sizeof(ids[0]), "%s-%s", root, uuid);
	snprintf(ids[1], sizeof(ids[1]), "sig-%s", uuid);
	snprintf(ids[2], sizeof(ids[2]), "xades-%s", uuid);
}

int sig_sign_digest(const struct signing_key *k, const struct sig_meta *m,
		    const unsigned char body_sha256[32], struct buf *out, char **err)
{
	char ids[3][UUID_STR_LEN + 8], when[SIG_TIME_LEN + 1];
	char body_b64[B64_SHA512_LEN], msg_b64[B64_SHA512_LEN], cert_b64[B64_SHA512_LEN];
	unsigned char dg[SHA256_LEN];
	char sig_b64[SIG_VALUE_B64_MAX];
	struct sig_parts p;
	size_t start = out->len;
	const char *why = "out of memory or output cap reached", *kwhy;
	int rc = -1;

	if (err)
		*err = NULL;
	if (!k || !k->ops || check_meta(m, err) != 0)
		return -1;
	if (sig_time_format(&m->time, when, sizeof(when)) != 0) {
		why = "time out of range";
		goto out;
	}
	sig_ids(ids, "sm");
	b64_encode(body_sha256, SHA256_LEN, body_b64);
	b64_encode(k->cert_sha256, SHA256_LEN, cert_b64);
	p = (struct sig_parts){
		.root_id = ids[0], .sig_id = ids[1], .props_id = ids[2],
		.kind = sig_kind_name(m->kind), .client = m->client, .service = m->service,
		.message_id = m->message_id, .time = when,
		.request_hash = m->kind == SIG_RESPONSE ? m->request_hash : NULL,
		.body_digest = body_b64, .content_type = m->content_type,
		.sig_alg = k->alg == KEY_ALG_RSA ? SIG_ALG_RSA_SHA256 : SIG_ALG_ECDSA_SHA256,
		.msg_digest = msg_b64, .signing_time = when, .cert_digest = cert_b64,
		.issuer_serial = k->issuer_serial_b64,
	};
	if (sig_put_message_part(out, &p) != 0 || sig_digest_message_part(out, start, dg) != 0)
		goto out;
	b64_encode(dg, sizeof(dg), msg_b64);
	if (sig_put_signature(out, k, &p, sig_b64, &kwhy) != 0 ||
	    buf_puts(out, "</sm:SignedMessage>") != 0) {
		why = kwhy ? kwhy : why;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		/* Leave out as it was: no half document. */
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		if (err && !*err && asprintf(err, "cannot sign: %s", why) < 0)
			*err = NULL;
	}
	return rc;
}

/* Batch: each message's fields as in the single form (its leaf is the digest
 * that form's enveloped reference would have), then its audit path, then the
 * one Batch element (root + signature) every document of the batch shares.
 * All messages take the latest of their times, so Time = SigningTime holds
 * in every document as in the single form. */
int sig_sign_batch(const struct signing_key *k, const struct sig_meta *const *m,
		   const unsigned char (*body_sha256)[32], size_t n, struct buf *const *outs, char **err)
{
	char uuid[UUID_STR_LEN], ids[3][UUID_STR_LEN + 8], when[SIG_TIME_LEN + 1];
	char root_b64[B64_SHA512_LEN], msg_b64[B64_SHA512_LEN], cert_b64[B64_SHA512_LEN], count[24];
	unsigned char (*leaves)[32] = NULL, (*path)[SIG_BATCH_DEPTH][32] = NULL, root[32], dg[SHA256_LEN];
	size_t *npath = NULL, *starts = NULL, i;
	struct buf common = BUF_INIT;
	char sig_b64[SIG_VALUE_B64_MAX];
	struct timespec t = { 0, 0 };
	struct sig_parts bp;
	const char *why = "out of memory or output cap reached", *kwhy;
	int rc = -1;

	if (n == 1)
		return sig_sign_digest(k, m[0], body_sha256[0], outs[0], err);
	if (err)
		*err = NULL;
	if (!k || !k->ops || n == 0 || n > SIG_BATCH_MAX) {
		if (err && asprintf(err, "cannot sign: a batch holds 1 to %d messages", SIG_BATCH_MAX) < 0)
			*err = NULL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (check_meta(m[i], err) != 0)
			return -1;
		if (m[i]->time.tv_sec > t.tv_sec || (m[i]->time.tv_sec == t.tv_sec && m[i]->time.tv_nsec > t.tv_nsec))
			t = m[i]->time;
	}
	leaves = malloc(n * sizeof(*leaves));
	path = malloc(n * sizeof(*path));
	npath = calloc(n, sizeof(*npath));
	starts = malloc(n * sizeof(*starts));
	if (!leaves || !path || !npath || !starts)
		goto out;
	for (i = 0; i < n; i++)
		starts[i] = outs[i]->len;
	if (sig_time_format(&t, when, sizeof(when)) != 0) {
		why = "time out of range";
		goto out;
	}
	for (i = 0; i < n; i++) {
		char mid[UUID_STR_LEN + 8], body_b64[B64_SHA512_LEN];
		struct sig_parts p = {
			.root_id = mid, .kind = sig_kind_name(m[i]->kind), .client = m[i]->client,
			.service = m[i]->service, .message_id = m[i]->message_id, .time = when,
			.request_hash = m[i]->kind == SIG_RESPONSE ? m[i]->request_hash : NULL,
			.body_digest = body_b64, .content_type = m[i]->content_type,
		};
		uuid4(uuid);
		snprintf(mid, sizeof(mid), "sm-%s", uuid);
		b64_encode(body_sha256[i], SHA256_LEN, body_b64);
		if (sig_put_message_part(outs[i], &p) != 0 || sig_digest_message_part(outs[i], starts[i], leaves[i]) != 0)
			goto out;
	}
	if (sig_tree_build((const unsigned char (*)[32])leaves, n, root, path, npath) != 0) {
		why = "hash tree failed";
		goto out;
	}
	sig_ids(ids, "sb");
	b64_encode(root, sizeof(root), root_b64);
	snprintf(count, sizeof(count), "%zu", n);
	b64_encode(k->cert_sha256, SHA256_LEN, cert_b64);
	bp = (struct sig_parts){
		.sig_id = ids[1], .props_id = ids[2], .batch_id = ids[0], .root = root_b64, .batch_count = count,
		.sig_alg = k->alg == KEY_ALG_RSA ? SIG_ALG_RSA_SHA256 : SIG_ALG_ECDSA_SHA256,
		.msg_digest = msg_b64, .signing_time = when, .cert_digest = cert_b64,
		.issuer_serial = k->issuer_serial_b64,
	};
	buf_init(&common, 64 * 1024);
	if (sig_put_batch_part(&common, &bp) != 0 || sig_digest_batch_part(&common, 0, dg) != 0)
		goto out;
	b64_encode(dg, sizeof(dg), msg_b64);
	if (sig_put_signature(&common, k, &bp, sig_b64, &kwhy) != 0 ||
	    buf_puts(&common, "</sm:Batch></sm:SignedMessage>") != 0) {
		why = kwhy ? kwhy : why;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char num[24], node[SIG_BATCH_DEPTH][B64_SHA512_LEN];
		const char *nodes[SIG_BATCH_DEPTH];
		snprintf(num, sizeof(num), "%zu", i);
		for (size_t j = 0; j < npath[i]; j++) {
			b64_encode(path[i][j], 32, node[j]);
			nodes[j] = node[j];
		}
		if (sig_put_proof(outs[i], num, nodes, npath[i]) != 0 ||
		    buf_append(outs[i], common.data, common.len) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		for (i = 0; starts && i < n; i++) {
			outs[i]->len = starts[i];
			if (outs[i]->data)
				outs[i]->data[starts[i]] = '\0';
		}
		if (err && !*err && asprintf(err, "cannot sign: %s", why) < 0)
			*err = NULL;
	}
	buf_free(&common);
	free(leaves);
	free(path);
	free(npath);
	free(starts);
	return rc;
}

int sig_sign(const struct signing_key *k, const struct sig_meta *m, const void *body,
	     size_t body_len, struct buf *out, char **err)
{
	unsigned char dg[SHA256_LEN];

	if (sig_sha256(body ? body : "", body ? body_len : 0, dg) != 0) {
		if (err)
			*err = strdup("cannot sign: SHA-256 failed");
		return -1;
	}
	return sig_sign_digest(k, m, dg, out, err);
}

/* ---- certificate-to-member rule ------------------------------------------------------ */

/* The only entry of nid in name, as UTF-8 into out; -1 if none, several, or too long. */
static int name_entry(X509_NAME *name, int nid, char *out, size_t outlen)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1), n;
	unsigned char *u = NULL;

	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return -1;
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0 || (size_t)n >= outlen || memchr(u, '\0', (size_t)n)) {
		OPENSSL_free(u);
		return -1;
	}
	memcpy(out, u, (size_t)n);
	out[n] = '\0';
	OPENSSL_free(u);
	return 0;
}

int sig_cert_member(X509 *c, char *cls, size_t clslen, char *code, size_t codelen)
{
	X509_NAME *name = c ? X509_get_subject_name(c) : NULL;
	char sn[2 * XRD_PART_MAX], cn[XRD_PART_MAX], *slash;

	if (!name || name_entry(name, NID_serialNumber, sn, sizeof(sn)) != 0 ||
	    name_entry(name, NID_commonName, cn, sizeof(cn)) != 0)
		return -1;
	slash = strchr(sn, '/');
	if (!slash || strchr(slash + 1, '/'))
		return -1;
	*slash = '\0';
	if (!xrd_part_valid(sn) || !xrd_part_valid(slash + 1) || strcmp(slash + 1, cn) != 0 ||
	    strlen(sn) >= clslen || strlen(cn) >= codelen)
		return -1;
	strcpy(cls, sn);
	strcpy(code, cn);
	return 0;
}

/* ---- binding ------------------------------------------------------------------------- */

int sig_check_binding(const struct sig_result *r, enum sig_kind kind, const char *client,
		      const char *service, const char *message_id, const char *request_hash,
		      struct fault *f)
{
	const char *pfx = kind == SIG_RESPONSE ? F_CPROXY : F_SPROXY;
	const struct xrd_id *owner = kind == SIG_RESPONSE ? &r->service_id : &r->client_id;
	const char *field = NULL;

	if (r->kind != kind)
		field = "kind (request or response)";
	else if (!client || strcmp(r->client, client) != 0)
		field = "client";
	else if (!service || strcmp(r->service, service) != 0)
		field = "service";
	else if (!message_id || strcmp(r->message_id, message_id) != 0)
		field = "message id";
	else if (kind == SIG_RESPONSE && (!request_hash || strcmp(r->request_hash, request_hash)))
		field = "request hash";
	if (field)
		return fault_set(f, pfx, "InvalidSignatureValue",
				 "signature was made for another message: its %s differs", field);
	if (strcmp(owner->member_class, r->member_class) != 0 ||
	    strcmp(owner->member_code, r->member_code) != 0)
		return fault_set(f, pfx, "IncorrectCertificate",
				 "message is signed by member %s/%s, not by the %s's member %s/%s",
				 r->member_class, r->member_code,
				 kind == SIG_RESPONSE ? "service owner" : "client",
				 owner->member_class, owner->member_code);
	return 0;
}

void sig_result_free(struct sig_result *r)
{
	if (!r)
		return;
	X509_free(r->signer);
	memset(r, 0, sizeof(*r));
}
