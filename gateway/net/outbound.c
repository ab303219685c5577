/* outbound: HTTP(S) client on libcurl's multi interface (see outbound.h).
 *
 * Event wiring (the hiperfifo pattern): libcurl says which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION); we
 * turn both into libevent events and report readiness back with
 * curl_multi_socket_action(). Finished transfers are collected with
 * curl_multi_info_read() only from those event callbacks, so done() can never
 * run inside outbound_send().
 *
 * Reuse: the multi handle owns the connection cache, a share handle owns the
 * TLS session cache, and easy handles are recycled through a small free list.
 * HTTP/1.1 only: the gateways speak nothing else, and it keeps "one transfer
 * per connection" true, which the pin bookkeeping below relies on.
 *
 * Pinning (leaf certificate, SHA-256 of its DER) is checked twice:
 * - during the handshake, by an OpenSSL verify callback installed through
 *   CURLOPT_SSL_CTX_FUNCTION, so a wrong server never sees our request nor,
 *   with TLS 1.3, our client certificate;
 * - before every request, by CURLOPT_PREREQFUNCTION on the connection's peer
 *   certificate, because a reused keep-alive connection or a resumed TLS
 *   session skips the handshake verification entirely. Both may run for one
 *   request; the second costs one SHA-256.
 * The verify callback reaches the pin through SSL_CTX ex_data. curl makes one
 * SSL_CTX per connection and that connection may outlive the request in the
 * cache, so the SSL_CTX owns a copy of the pin (freed with it) and only a weak
 * back pointer to the request, cleared by whichever of the two goes first. */
#include "net/outbound.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/crypto.h"

#define OUT_SPARE_MAX 16              /* idle easy handles kept for reuse */
#define OUT_MAX_HOST_CONNS 64L
#define OUT_MAX_CACHED_CONNS 512L
#define OUT_HDR_MAX_BYTES (64 * 1024) /* response header names and values */
#define OUT_HDR_MAX_COUNT 200
/* One request header line. What we send is what a caller sent us, already
 * capped by the listener ([limits] max_head, at most 1 MiB), so a lower cap
 * here only turned a long but valid header (a SOAPAction, a token) into a
 * failed call the gateway took the blame for; libcurl 7.88 caps the whole
 * request head at 1 MiB too (DYN_HTTP_REQUEST). */
#define OUT_REQ_HDR_MAX (1024 * 1024)
#define OUT_METHOD_MAX 32
#define OUT_MSG_MAX 512

#define SETOPT(e, opt, val) (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)

enum out_abort {
	OUT_ABORT_NONE = 0,
	OUT_ABORT_BODY,   /* body over max_response */
	OUT_ABORT_HDRS,   /* headers over OUT_HDR_MAX_* */
	OUT_ABORT_NOMEM,
};

/* One watched socket; curl hands it back to us via curl_multi_assign. */
struct out_sock {
	struct outbound *o;
	struct event *ev;
	struct out_sock *prev, *next;
};

/* Owned by the SSL_CTX of one connection (ex_data, freed with the SSL_CTX). */
struct out_pin {
	unsigned char sha256[SHA256_LEN];
	struct out_handle *h;   /* weak: the request that made the connection */
};

struct out_handle {
	struct outbound *o;
	struct out_handle *prev, *next;
	CURL *easy;
	int added;                  /* in the multi handle */
	int finishing;              /* done() is running: cancel is a no-op */
	int discard;                /* outbound_discard(): the body is read and dropped */
	outbound_done_fn done;
	void *arg;
	struct curl_slist *hdrs;
	char *body;                 /* request body, referenced by POSTFIELDS */
	int has_pin;
	unsigned char pin[SHA256_LEN];
	struct out_pin *pin_ctx;    /* weak: pin data of the connection being set up */
	int pin_failed;
	X509 *peer;                 /* the certificate the pin check passed (a reference) */
	enum out_abort abort_why;
	int in_head;                /* between a status line and its blank line */
	struct buf rbody;
	struct buf rhdrs;           /* "name\0value\0" pairs of the current response */
	size_t nrhdrs;
	char msg[OUT_MSG_MAX];      /* our own reason (pin, caps), wins over errbuf */
	char errbuf[CURL_ERROR_SIZE];
};

#define OUT_PINNED_MAX 8

struct outbound {
	struct event_base *base;
	CURLM *multi;
	CURLSH *share;
	struct event *timer;
	struct out_handle *active;
	unsigned nactive;
	struct out_sock *socks;
	CURL *spare[OUT_SPARE_MAX];
	unsigned nspare;
	int dispatching;            /* inside one of our event callbacks */
	int dying;                  /* outbound_free ran meanwhile: finish on the way out */
	/* Peer certificates that matched a pin, each with a reference of its own
	 * so that its address cannot be reused by another while it is here: a
	 * kept-alive connection presents the same object for every request, and
	 * its DER need not be encoded and hashed again. */
	struct { X509 *cert; unsigned char pin[SHA256_LEN]; } pinned[OUT_PINNED_MAX];
	unsigned pinned_next;
};

/* Process-wide, written once under pthread_once before any outbound exists. */
static pthread_once_t out_once = PTHREAD_ONCE_INIT;
static int out_init_rc = -1;
static int out_pin_idx = -1;    /* SSL_CTX ex_data slot for struct out_pin */

/* ---- global init ---- */

static void out_pin_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			    void *argp)
{
	struct out_pin *p = ptr;

	if (!p)
		return;
	if (p->h && p->h->pin_ctx == p)
		p->h->pin_ctx = NULL;
	free(p);
}

static void out_global_init_once(void)
{
	const curl_version_info_data *v;
	CURLsslset set;

	/* The pin check is an OpenSSL callback handed curl's SSL_CTX: curl must
	 * use OpenSSL (selected here should libcurl be a MultiSSL build; TOO_LATE
	 * means someone initialised curl already, the version check decides) and
	 * the same major version we are linked with. */
	set = curl_global_sslset(CURLSSLBACKEND_OPENSSL, NULL, NULL);
	if (set != CURLSSLSET_OK && set != CURLSSLSET_TOO_LATE)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return;
	v = curl_version_info(CURLVERSION_NOW);
	if (!v || !(v->features & CURL_VERSION_SSL) || !v->ssl_version ||
	    strncmp(v->ssl_version, "OpenSSL/", 8) != 0 ||
	    strtoul(v->ssl_version + 8, NULL, 10) != OPENSSL_version_major())
		return;
	out_pin_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, out_pin_ex_free);
	if (out_pin_idx < 0)
		return;
	out_init_rc = 0;
}

int outbound_global_init(void)
{
	if (pthread_once(&out_once, out_global_init_once) != 0)
		return -1;
	return out_init_rc;
}

/* ---- pinning ---- */

/* 1 if cert's DER hashes to pin; otherwise 0 and msg says what was presented. */
static int out_pin_check(X509 *cert, const unsigned char *pin, char *msg, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char got[2 * SHA256_LEN + 1] = "?", want[2 * SHA256_LEN + 1], subj[256] = "(none)";

	if (cert && X509_digest(cert, crypto_md(256), md, &n) == 1 && n == SHA256_LEN) {
		if (CRYPTO_memcmp(md, pin, SHA256_LEN) == 0)
			return 1;
		hex_encode(md, SHA256_LEN, got);
	}
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	hex_encode(pin, SHA256_LEN, want);
	if (msg)
		snprintf(msg, cap,
			 "server certificate is not the pinned one: presented \"%s\" "
			 "(sha256 %s), expected sha256 %s", subj, got, want);
	return 0;
}

/* Runs inside the TLS handshake of a connection whose SSL_CTX carries a pin. */
static int out_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl;
	struct out_pin *p;
	struct out_handle *h;

	if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;      /* chain errors stay curl's (OUT_ERR_TLS) */
	ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	p = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), out_pin_idx) : NULL;
	h = p ? p->h : NULL;
	if (p && out_pin_check(X509_STORE_CTX_get_current_cert(xs), p->sha256,
			       h ? h->msg : NULL, sizeof(h->msg)))
		return 1;
	if (h)
		h->pin_failed = 1;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

static void out_pin_detach(struct out_handle *h)
{
	if (h->pin_ctx)
		h->pin_ctx->h = NULL;
	h->pin_ctx = NULL;
}

/* CURLOPT_SSL_CTX_FUNCTION: a new connection is about to start its handshake. */
static CURLcode out_ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	struct out_handle *h = arg;
	SSL_CTX *ctx = sslctx;
	struct out_pin *p = calloc(1, sizeof(*p));
	struct out_pin *old = SSL_CTX_get_ex_data(ctx, out_pin_idx);

	if (!p)
		return CURLE_OUT_OF_MEMORY;
	if (!SSL_CTX_set_ex_data(ctx, out_pin_idx, p)) {
		free(p);
		return CURLE_OUT_OF_MEMORY;
	}
	if (old) {      /* not expected: curl makes one SSL_CTX per connection */
		if (old->h)
			old->h->pin_ctx = NULL;
		free(old);
	}
	memcpy(p->sha256, h->pin, SHA256_LEN);
	out_pin_detach(h);
	p->h = h;
	h->pin_ctx = p;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, out_verify_cb);
	/* A renegotiation would verify against this connection's first pin, long
	 * after the request that set it; our peers never need one. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	return CURLE_OK;
}

/* 1 if this very certificate object matched pin before (o->pinned). */
static int out_pinned_before(const struct outbound *o, const X509 *cert, const unsigned char *pin)
{
	for (unsigned i = 0; cert && i < OUT_PINNED_MAX; i++)
		if (o->pinned[i].cert == cert && memcmp(o->pinned[i].pin, pin, SHA256_LEN) == 0)
			return 1;
	return 0;
}

static void out_pinned_keep(struct outbound *o, X509 *cert, const unsigned char *pin)
{
	unsigned i = o->pinned_next;

	if (out_pinned_before(o, cert, pin) || X509_up_ref(cert) != 1)
		return;
	X509_free(o->pinned[i].cert);
	o->pinned[i].cert = cert;
	memcpy(o->pinned[i].pin, pin, SHA256_LEN);
	o->pinned_next = (i + 1) % OUT_PINNED_MAX;
}

/* CURLOPT_PREREQFUNCTION: the connection (new or reused) is ready and the
 * request is about to be sent. */
static int out_prereq_cb(void *arg, char *ip, char *lip, int port, int lport)
{
	struct out_handle *h = arg;
	struct curl_tlssessioninfo *ti = NULL;
	X509 *cert = NULL;
	int ok;

	if (curl_easy_getinfo(h->easy, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
	    ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals)
		cert = SSL_get1_peer_certificate(ti->internals);
	ok = out_pinned_before(h->o, cert, h->pin) || out_pin_check(cert, h->pin, h->msg, sizeof(h->msg));
	if (ok) {
		out_pinned_keep(h->o, cert, h->pin);
		/* Kept for the caller: its certificate status is checked too. */
		X509_free(h->peer);
		h->peer = cert;
		return CURL_PREREQFUNC_OK;
	}
	X509_free(cert);
	h->pin_failed = 1;
	return CURL_PREREQFUNC_ABORT;
}

/* ---- response collection ---- */

/* Records why a callback stops the transfer; returns -1 for the caller to
 * pass on (the callback then returns a short count and curl aborts). */
static int out_abort(struct out_handle *h, enum out_abort why)
{
	h->abort_why = why;
	if (why == OUT_ABORT_BODY)
		snprintf(h->msg, sizeof(h->msg), "response body exceeds the limit of %zu bytes",
			 h->rbody.limit);
	else if (why == OUT_ABORT_HDRS)
		snprintf(h->msg, sizeof(h->msg),
			 "response headers exceed the limit of %d fields or %d bytes",
			 OUT_HDR_MAX_COUNT, OUT_HDR_MAX_BYTES);
	else
		snprintf(h->msg, sizeof(h->msg), "out of memory reading the response");
	return -1;
}

/* Appends to one of the response buffers; a refusal is the cap (why) unless
 * the data would have fitted, which means out of memory. */
static int out_grow(struct out_handle *h, struct buf *b, const void *p, size_t n,
		    enum out_abort why)
{
	if (buf_append(b, p, n) == 0)
		return 0;
	if (n <= b->limit && b->len <= b->limit - n)
		why = OUT_ABORT_NOMEM;
	return out_abort(h, why);
}

static size_t out_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct out_handle *h = arg;
	size_t len = size * n;

	if (h->discard)
		return len;
	return out_grow(h, &h->rbody, p, len, OUT_ABORT_BODY) < 0 ? 0 : len;
}

static size_t out_trim(const char **p, size_t len)
{
	while (len && (**p == ' ' || **p == '\t')) {
		(*p)++;
		len--;
	}
	while (len && ((*p)[len - 1] == ' ' || (*p)[len - 1] == '\t'))
		len--;
	return len;
}

/* An obsolete folded line continues the previous value (joined by a space). */
static int out_header_fold(struct out_handle *h, const char *p, size_t len)
{
	if (h->nrhdrs == 0)
		return 0;
	len = out_trim(&p, len);
	h->rhdrs.len--;         /* drop the value's terminating NUL */
	if (out_grow(h, &h->rhdrs, " ", 1, OUT_ABORT_HDRS) < 0 ||
	    out_grow(h, &h->rhdrs, p, len, OUT_ABORT_HDRS) < 0 ||
	    out_grow(h, &h->rhdrs, "", 1, OUT_ABORT_HDRS) < 0)
		return -1;
	return 0;
}

/* One header line as curl hands it over (with its CRLF). A status line starts
 * a new response: anything kept from a 1xx answer is dropped. Lines after the
 * blank line are chunked trailers and are not reported. */
static int out_header_line(struct out_handle *h, const char *p, size_t len)
{
	const char *colon, *v;
	size_t vlen;

	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		buf_reset(&h->rhdrs);
		h->nrhdrs = 0;
		h->in_head = 1;
		return 0;
	}
	if (len == 0) {
		h->in_head = 0;
		return 0;
	}
	if (!h->in_head)
		return 0;
	if (*p == ' ' || *p == '\t')
		return out_header_fold(h, p, len);
	colon = memchr(p, ':', len);
	if (!colon || colon == p)
		return 0;       /* not a header field; curl accepted the line, we skip it */
	v = colon + 1;
	vlen = out_trim(&v, len - (size_t)(v - p));
	if (h->nrhdrs >= OUT_HDR_MAX_COUNT)
		return out_abort(h, OUT_ABORT_HDRS);
	if (out_grow(h, &h->rhdrs, p, (size_t)(colon - p), OUT_ABORT_HDRS) < 0 ||
	    out_grow(h, &h->rhdrs, "", 1, OUT_ABORT_HDRS) < 0 ||
	    out_grow(h, &h->rhdrs, v, vlen, OUT_ABORT_HDRS) < 0 ||
	    out_grow(h, &h->rhdrs, "", 1, OUT_ABORT_HDRS) < 0)
		return -1;
	h->nrhdrs++;
	return 0;
}

static size_t out_header_cb(char *p, size_t size, size_t n, void *arg)
{
	size_t len = size * n;

	return out_header_line(arg, p, len) < 0 ? 0 : len;
}

/* Builds the header vector pointing into h->rhdrs; caller frees *out. */
static int out_hdr_vector(const struct out_handle *h, struct http_hdr **out)
{
	struct http_hdr *v;
	const char *p = h->rhdrs.data;

	*out = NULL;
	if (h->nrhdrs == 0)
		return 0;
	v = calloc(h->nrhdrs, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < h->nrhdrs; i++) {
		v[i].name = p;
		p += strlen(p) + 1;
		v[i].value = p;
		p += strlen(p) + 1;
	}
	*out = v;
	return 0;
}

/* ---- request setup ---- */

static int out_is_token(const char *s, size_t max)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max || !(((unsigned char)s[n] >= '0' && (unsigned char)s[n] <= '9') ||
				  ((s[n] | 0x20) >= 'a' && (s[n] | 0x20) <= 'z') ||
				  strchr(extra, s[n])))
			return 0;
	return n > 0;
}

/* Refuses what would make a malformed or injected request. */
static int out_req_check(const struct out_req *r)
{
	const char *m = r->method ? r->method : "GET";

	if (!r->url || (strncasecmp(r->url, "http://", 7) != 0 &&
			strncasecmp(r->url, "https://", 8) != 0) || strpbrk(r->url, "\r\n"))
		return -1;
	if (!out_is_token(m, OUT_METHOD_MAX) || (r->body_len && !r->body) ||
	    (r->body_len && strcmp(m, "HEAD") == 0))
		return -1;
	if (r->nhdrs && !r->hdrs)
		return -1;
	for (size_t i = 0; i < r->nhdrs; i++)
		if (!r->hdrs[i].name || !r->hdrs[i].value ||
		    !out_is_token(r->hdrs[i].name, OUT_REQ_HDR_MAX) ||
		    strpbrk(r->hdrs[i].value, "\r\n"))
			return -1;
	/* A pin names a certificate; plain http has none to compare. */
	if (r->tls && r->tls->pin_sha256 && strncasecmp(r->url, "https://", 8) != 0)
		return -1;
	if (r->connect_timeout_ms < 0 || r->timeout_ms < 0)
		return -1;
	return 0;
}

/* curl_slist_append keeps the list when it fails; so does this. */
static int out_slist_add(struct out_handle *h, const char *line)
{
	struct curl_slist *l = curl_slist_append(h->hdrs, line);

	if (!l)
		return -1;
	h->hdrs = l;
	return 0;
}

static int out_add_hdr(struct out_handle *h, const char *name, const char *value)
{
	struct buf line = BUF_INIT;
	int rc = -1;

	buf_init(&line, OUT_REQ_HDR_MAX);
	/* "Name;" is curl's way to send an empty value ("Name:" would remove it).
	 * No printf: a header value may be several KB. */
	if (buf_puts(&line, name) < 0 || buf_puts(&line, *value ? ": " : ";") < 0 ||
	    buf_puts(&line, value) < 0)
		goto out;
	if (out_slist_add(h, line.data) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&line);
	return rc;
}

static int out_setopt_headers(struct out_handle *h, const struct out_req *r)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (out_add_hdr(h, r->hdrs[i].name, r->hdrs[i].value) < 0)
			return -1;
	/* Our peers answer at once; waiting for 100 Continue only adds a round trip. */
	if (!http_hdr_get(r->hdrs, r->nhdrs, "Expect") && out_slist_add(h, "Expect:") < 0)
		return -1;
	/* POSTFIELDS would otherwise claim application/x-www-form-urlencoded. */
	if (h->body && !http_hdr_get(r->hdrs, r->nhdrs, "Content-Type") &&
	    out_slist_add(h, "Content-Type:") < 0)
		return -1;
	return SETOPT(h->easy, CURLOPT_HTTPHEADER, h->hdrs) ? -1 : 0;
}

static int out_setopt_method(struct out_handle *h, const struct out_req *r)
{
	CURL *e = h->easy;
	const char *m = r->method ? r->method : "GET";
	int bad = 0;

	if (strcmp(m, "HEAD") == 0)
		return SETOPT(e, CURLOPT_NOBODY, 1L) ? -1 : 0;
	/* POST, PUT and PATCH define a body: an empty one is sent as
	 * Content-Length: 0 (RFC 9110 8.6), which some servers require (411). */
	if (r->body_len || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		h->body = malloc(r->body_len + 1);
		if (!h->body)
			return -1;
		if (r->body_len)
			memcpy(h->body, r->body, r->body_len);
		bad |= SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		bad |= SETOPT(e, CURLOPT_POSTFIELDS, h->body);
		if (strcmp(m, "POST") != 0)
			bad |= SETOPT(e, CURLOPT_CUSTOMREQUEST, m);
		return bad ? -1 : 0;
	}
	if (strcmp(m, "GET") == 0)
		return SETOPT(e, CURLOPT_HTTPGET, 1L) ? -1 : 0;
	return SETOPT(e, CURLOPT_CUSTOMREQUEST, m) ? -1 : 0;
}

static int out_setopt_tls(struct out_handle *h, const struct out_tls *t)
{
	CURL *e = h->easy;
	int bad = 0;

	bad |= SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
	bad |= SETOPT(e, CURLOPT_SSL_VERIFYHOST, t->verify_host ? 2L : 0L);
	if (t->ca_file) {
		/* The given file is the whole trust: no system directory on top. */
		bad |= SETOPT(e, CURLOPT_CAINFO, t->ca_file);
		bad |= SETOPT(e, CURLOPT_CAPATH, (char *)NULL);
	}
	if (t->cert_file) {
		bad |= SETOPT(e, CURLOPT_SSLCERT, t->cert_file);
		bad |= SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (t->key_file) {
		bad |= SETOPT(e, CURLOPT_SSLKEY, t->key_file);
		bad |= SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (t->pin_sha256) {
		h->has_pin = 1;
		memcpy(h->pin, t->pin_sha256, SHA256_LEN);
		bad |= SETOPT(e, CURLOPT_SSL_CTX_FUNCTION, out_ssl_ctx_cb);
		bad |= SETOPT(e, CURLOPT_SSL_CTX_DATA, h);
		bad |= SETOPT(e, CURLOPT_PREREQFUNCTION, out_prereq_cb);
		bad |= SETOPT(e, CURLOPT_PREREQDATA, h);
	}
	return bad ? -1 : 0;
}

static int out_setopt_common(struct out_handle *h, const struct out_req *r)
{
	CURL *e = h->easy;
	int bad = 0;

	bad |= SETOPT(e, CURLOPT_URL, r->url);
	bad |= SETOPT(e, CURLOPT_PATH_AS_IS, 1L);   /* what was signed is what is sent: no dot segments resolved */
	bad |= SETOPT(e, CURLOPT_PRIVATE, h);
	bad |= SETOPT(e, CURLOPT_SHARE, h->o->share);
	bad |= SETOPT(e, CURLOPT_ERRORBUFFER, h->errbuf);
	bad |= SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	bad |= SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
	bad |= SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= SETOPT(e, CURLOPT_PROXY, "");    /* ignore *_proxy in the environment */
	bad |= SETOPT(e, CURLOPT_NOPROXY, "*");
	bad |= SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	bad |= SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	bad |= SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
	bad |= SETOPT(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	bad |= SETOPT(e, CURLOPT_WRITEFUNCTION, out_write_cb);
	bad |= SETOPT(e, CURLOPT_WRITEDATA, h);
	bad |= SETOPT(e, CURLOPT_HEADERFUNCTION, out_header_cb);
	bad |= SETOPT(e, CURLOPT_HEADERDATA, h);
	return bad ? -1 : 0;
}

/* ---- handles ---- */

static CURL *out_easy_get(struct outbound *o)
{
	return o->nspare ? o->spare[--o->nspare] : curl_easy_init();
}

static void out_easy_put(struct outbound *o, CURL *e)
{
	curl_easy_reset(e);
	if (o->nspare < OUT_SPARE_MAX)
		o->spare[o->nspare++] = e;
	else
		curl_easy_cleanup(e);
}

static void out_unlink(struct out_handle *h)
{
	struct outbound *o = h->o;

	if (h->prev)
		h->prev->next = h->next;
	else
		o->active = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	o->nactive--;
}

/* The one teardown of a request, linked or not. */
static void out_handle_free(struct out_handle *h)
{
	if (h->added)   /* may close the connection and so free its out_pin */
		curl_multi_remove_handle(h->o->multi, h->easy);
	h->added = 0;
	out_pin_detach(h);
	if (h->easy)
		out_easy_put(h->o, h->easy);
	curl_slist_free_all(h->hdrs);
	free(h->body);
	X509_free(h->peer);
	buf_free(&h->rbody);
	buf_free(&h->rhdrs);
	free(h);
}

static enum out_err out_map_err(const struct out_handle *h, CURLcode rc)
{
	if (rc == CURLE_OK)
		return OUT_OK;
	if (h->pin_failed)
		return OUT_ERR_PEER_CERT;
	if (h->abort_why == OUT_ABORT_BODY || h->abort_why == OUT_ABORT_HDRS)
		return OUT_ERR_TOO_LARGE;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return OUT_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return OUT_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return OUT_ERR_TLS;
	default:
		return OUT_ERR_IO;
	}
}

/* A transfer ended (curl said CURLMSG_DONE): report it and free it. */
static void out_finish(struct out_handle *h, CURLcode rc)
{
	struct out_resp r;
	struct http_hdr *hv = NULL;
	curl_off_t us = 0;

	memset(&r, 0, sizeof(r));
	curl_multi_remove_handle(h->o->multi, h->easy);
	h->added = 0;
	out_unlink(h);
	r.err = out_map_err(h, rc);
	if (r.err == OUT_OK && out_hdr_vector(h, &hv) < 0) {
		r.err = OUT_ERR_IO;
		snprintf(h->msg, sizeof(h->msg), "out of memory reading the response");
	}
	r.errmsg = r.err == OUT_OK ? "" : h->msg[0] ? h->msg : h->errbuf[0] ? h->errbuf :
		   curl_easy_strerror(rc);
	r.body = (const unsigned char *)"";
	if (r.err == OUT_OK) {
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r.status);
		r.hdrs = hv;
		r.nhdrs = h->nrhdrs;
		if (h->rbody.data)
			r.body = (const unsigned char *)h->rbody.data;
		r.body_len = h->rbody.len;
		r.peer_cert = h->peer;
	}
	if (curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
		r.total_ms = (double)us / 1000.0;
	h->finishing = 1;
	h->done(&r, h->arg);
	free(hv);
	out_handle_free(h);
}

/* ---- event wiring ---- */

static void out_check_done(struct outbound *o)
{
	CURLMsg *m;
	int left;

	while (!o->dying && (m = curl_multi_info_read(o->multi, &left))) {
		char *priv = NULL;
		CURLcode rc = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			out_finish((struct out_handle *)priv, rc);
	}
}

static void out_destroy(struct outbound *o);

/* Lets curl act on fd (or its timers), then reports finished transfers. A
 * done callback may free o: that is completed here, after it returned. */
static void out_dispatch(struct outbound *o, curl_socket_t fd, int action)
{
	int running = 0;

	o->dispatching = 1;
	curl_multi_socket_action(o->multi, fd, action, &running);
	out_check_done(o);
	o->dispatching = 0;
	if (o->dying)
		out_destroy(o);
}

static void out_event_cb(evutil_socket_t fd, short kind, void *arg)
{
	out_dispatch(arg, fd, ((kind & EV_READ) ? CURL_CSELECT_IN : 0) |
			      ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0));
}

static void out_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	out_dispatch(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the timer, never acts from here. */
static int out_timer_set(CURLM *multi, long ms, void *userp)
{
	struct outbound *o = userp;
	struct timeval tv;

	if (ms < 0)
		return evtimer_del(o->timer) == 0 ? 0 : -1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(o->timer, &tv) == 0 ? 0 : -1;
}

static void out_sock_free(struct out_sock *s)
{
	struct outbound *o = s->o;

	if (s->prev)
		s->prev->next = s->next;
	else
		o->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

static struct out_sock *out_sock_new(struct outbound *o, curl_socket_t fd, short kind)
{
	struct out_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->o = o;
	s->ev = event_new(o->base, fd, kind, out_event_cb, o);
	if (!s->ev) {
		free(s);
		return NULL;
	}
	s->next = o->socks;
	if (o->socks)
		o->socks->prev = s;
	o->socks = s;
	curl_multi_assign(o->multi, fd, s);
	return s;
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants, or stop watching. */
static int out_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct outbound *o = userp;
	struct out_sock *s = sockp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			out_sock_free(s);
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	       ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = out_sock_new(o, fd, kind);
		if (!s)
			return -1;  /* the transfer then ends by its timeout */
	} else {
		event_del(s->ev);
		event_assign(s->ev, o->base, fd, kind, out_event_cb, o);
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* ---- public ---- */

static int out_multi_setup(struct outbound *o)
{
	int bad = 0;

	bad |= curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, out_sock_cb) != CURLM_OK;
	bad |= curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o) != CURLM_OK;
	bad |= curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, out_timer_set) != CURLM_OK;
	bad |= curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o) != CURLM_OK;
	bad |= curl_multi_setopt(o->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				 OUT_MAX_HOST_CONNS) != CURLM_OK;
	/* The cache defaults to 4 x the transfers in flight, so after a burst it
	 * shrinks and closes warm TLS connections; a new handshake per request
	 * then costs more than the exchange. Keep enough for every peer. */
	bad |= curl_multi_setopt(o->multi, CURLMOPT_MAXCONNECTS, OUT_MAX_CACHED_CONNS) != CURLM_OK;
	/* Single-threaded per outbound: the share needs no lock callbacks. */
	bad |= curl_share_setopt(o->share, CURLSHOPT_SHARE,
				 CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK;
	return bad ? -1 : 0;
}

struct outbound *outbound_new(struct event_base *base, char **err)
{
	struct outbound *o = NULL;
	const char *why = "out of memory";

	if (out_init_rc != 0) {
		why = "outbound_global_init() was not called or failed "
		      "(libcurl must use OpenSSL)";
		goto out;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		goto out;
	o->base = base;
	o->multi = curl_multi_init();
	o->share = curl_share_init();
	o->timer = evtimer_new(base, out_timer_cb, o);
	if (!o->multi || !o->share || !o->timer)
		goto out;
	if (out_multi_setup(o) < 0) {
		why = "cannot configure libcurl's multi or share handle";
		goto out;
	}
	return o;
out:
	if (err)
		*err = strdup(why);
	outbound_free(o);
	return NULL;
}

static void out_destroy(struct outbound *o)
{
	while (o->nspare)
		curl_easy_cleanup(o->spare[--o->nspare]);
	if (o->multi)   /* closes cached connections; may call out_sock_cb */
		curl_multi_cleanup(o->multi);
	if (o->share)
		curl_share_cleanup(o->share);
	while (o->socks)
		out_sock_free(o->socks);
	if (o->timer)
		event_free(o->timer);
	for (unsigned i = 0; i < OUT_PINNED_MAX; i++)
		X509_free(o->pinned[i].cert);
	free(o);
}

void outbound_free(struct outbound *o)
{
	if (!o)
		return;
	while (o->active) {
		struct out_handle *h = o->active;

		out_unlink(h);
		out_handle_free(h);
	}
	if (o->dispatching)
		o->dying = 1;   /* called from a done callback: out_dispatch finishes */
	else
		out_destroy(o);
}

struct out_handle *outbound_send(struct outbound *o, const struct out_req *req,
				 outbound_done_fn done, void *arg)
{
	struct out_handle *h;

	if (!o || o->dying || !req || !done || out_req_check(req) < 0)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->o = o;
	h->done = done;
	h->arg = arg;
	buf_init(&h->rbody, req->max_response);
	buf_init(&h->rhdrs, OUT_HDR_MAX_BYTES);
	h->easy = out_easy_get(o);
	if (!h->easy || out_setopt_common(h, req) < 0 || out_setopt_method(h, req) < 0 ||
	    out_setopt_headers(h, req) < 0 || (req->tls && out_setopt_tls(h, req->tls) < 0))
		goto fail;
	/* Only arms the timer: the transfer starts from the loop. */
	if (curl_multi_add_handle(o->multi, h->easy) != CURLM_OK)
		goto fail;
	h->added = 1;
	h->next = o->active;
	if (o->active)
		o->active->prev = h;
	o->active = h;
	o->nactive++;
	return h;
fail:
	out_handle_free(h);
	return NULL;
}

void outbound_cancel(struct out_handle *h)
{
	if (!h || h->finishing)
		return;
	out_unlink(h);
	out_handle_free(h);
}

void outbound_discard(struct out_handle *h)
{
	if (!h)
		return;
	h->discard = 1;
	buf_free(&h->rbody);
}

int outbound_sent(struct out_handle *h)
{
	curl_off_t us = 0;

	return h && h->added && curl_easy_getinfo(h->easy, CURLINFO_PRETRANSFER_TIME_T, &us) == CURLE_OK &&
	       us > 0;
}

unsigned outbound_active(const struct outbound *o)
{
	return o ? o->nactive : 0;
}
