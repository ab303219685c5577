/* Tests for net/httpd (server) and net/httpd_parse (its pure parser).
 *
 * The parser is tested through tables. The server runs in the test's own
 * event_base on 127.0.0.1, port 0; a client thread talks to it over plain
 * blocking sockets (OpenSSL for TLS, with a CA, server and client
 * certificate made in memory at start-up). cmocka's asserts must not run in
 * the client thread, so the client records its first failed CHECK and the
 * main thread fails the test with it after joining. Every socket has a
 * receive timeout and every run a deadline, so nothing can hang. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "net/httpd.h"
#include "net/httpd_parse.h"

/* ===================================================================== */
/* Parser tables                                                          */
/* ===================================================================== */

static void test_parse_request_line(void **state)
{
	static const struct {
		const char *line;
		int status;
		const char *method, *target;
		int minor;
	} t[] = {
		{ "GET / HTTP/1.1", 0, "GET", "/", 1 },
		{ "POST /r1/a/b?c=d HTTP/1.0", 0, "POST", "/r1/a/b?c=d", 0 },
		{ "GET * HTTP/1.9", 0, "GET", "*", 1 },
		{ "M-SEARCH http://x/y HTTP/1.1", 0, "M-SEARCH", "http://x/y", 1 },
		{ "GET / HTTP/2.0", 505, NULL, NULL, 0 },
		{ "GET / HTTP/0.9", 505, NULL, NULL, 0 },
		{ "GET /  HTTP/1.1", 400, NULL, NULL, 0 },
		{ "GET  / HTTP/1.1", 400, NULL, NULL, 0 },
		{ " GET / HTTP/1.1", 400, NULL, NULL, 0 },
		{ "GET / http/1.1", 400, NULL, NULL, 0 },
		{ "GET / HTTP/1.10", 400, NULL, NULL, 0 },
		{ "GET / HTTP/1.1 ", 400, NULL, NULL, 0 },
		{ "GET / HTTP/1", 400, NULL, NULL, 0 },
		{ "GET /", 400, NULL, NULL, 0 },
		{ "GET", 400, NULL, NULL, 0 },
		{ "", 400, NULL, NULL, 0 },
		{ "G(T / HTTP/1.1", 400, NULL, NULL, 0 },
		{ "GET /a\x7f HTTP/1.1", 400, NULL, NULL, 0 },
		{ "GET /\xc3\xa9 HTTP/1.1", 400, NULL, NULL, 0 },
		{ "GET /a\tb HTTP/1.1", 400, NULL, NULL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct httpd_reqline rl;
		const char *why = NULL;
		int st = httpd_parse_request_line(t[i].line, strlen(t[i].line), &rl, &why);

		if (st != t[i].status)
			fail_msg("request line %zu \"%s\": got %d want %d", i, t[i].line, st,
				 t[i].status);
		if (st) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(rl.method_len, strlen(t[i].method));
		assert_memory_equal(t[i].line, t[i].method, rl.method_len);
		assert_int_equal(rl.target_len, strlen(t[i].target));
		assert_memory_equal(t[i].line + rl.target_off, t[i].target, rl.target_len);
		assert_int_equal(rl.minor, t[i].minor);
	}
}

static void test_parse_header_line(void **state)
{
	static const struct {
		const char *line;
		size_t len;     /* 0: strlen */
		int status;
		const char *name, *value;
	} t[] = {
		{ "Host: example.org", 0, 0, "Host", "example.org" },
		{ "X-A:  a  b  ", 0, 0, "X-A", "a  b" },
		{ "X:", 0, 0, "X", "" },
		{ "X:\t\tv\t", 0, 0, "X", "v" },
		{ "X: caf\xc3\xa9", 0, 0, "X", "caf\xc3\xa9" },
		{ "!#$%&'*+-.^_`|~09aZ: ok", 0, 0, "!#$%&'*+-.^_`|~09aZ", "ok" },
		{ " X: v", 0, 400, NULL, NULL },           /* obs-fold */
		{ "\tcontinued", 0, 400, NULL, NULL },
		{ "X : v", 0, 400, NULL, NULL },           /* blank before colon */
		{ "X v", 0, 400, NULL, NULL },             /* no colon */
		{ "NoColon", 0, 400, NULL, NULL },
		{ ": v", 0, 400, NULL, NULL },
		{ "X: a\rb", 0, 400, NULL, NULL },         /* bare CR */
		{ "X: a\r", 0, 400, NULL, NULL },
		{ "X: a\0b", 6, 400, NULL, NULL },         /* NUL */
		{ "X\x01: v", 0, 400, NULL, NULL },
		{ "X: a\x7f", 0, 400, NULL, NULL },
		{ "X: a\x1b", 0, 400, NULL, NULL },
		{ "Na@me: v", 0, 400, NULL, NULL },
		{ "N\xc3\xa9: v", 0, 400, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct httpd_field f;
		const char *why = NULL;
		size_t len = t[i].len ? t[i].len : strlen(t[i].line);
		int st = httpd_parse_header_line(t[i].line, len, &f, &why);

		if (st != t[i].status)
			fail_msg("header line %zu: got %d want %d", i, st, t[i].status);
		if (st) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(f.name_len, strlen(t[i].name));
		assert_memory_equal(t[i].line, t[i].name, f.name_len);
		assert_int_equal(f.value_len, strlen(t[i].value));
		assert_memory_equal(t[i].line + f.value_off, t[i].value, f.value_len);
	}
}

static void test_parse_chunk_size(void **state)
{
	static const struct {
		const char *line;
		int status;
		uint64_t size;
	} t[] = {
		{ "0", 0, 0 },
		{ "1a", 0, 26 },
		{ "FF ; ext=1", 0, 255 },
		{ "10;a;b=\"c d\"", 0, 16 },
		{ "0000000000000000000000001", 0, 1 },
		{ "ffffffffffffffff", 0, UINT64_MAX },
		{ "10000000000000000", 400, 0 },
		{ "", 400, 0 },
		{ ";x", 400, 0 },
		{ "x", 400, 0 },
		{ "1 2", 400, 0 },
		{ "-1", 400, 0 },
		{ "0x10", 400, 0 },
		{ "1;\r", 400, 0 },
		{ "1;a\x01", 400, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = NULL;
		uint64_t v = 12345;
		int st = httpd_parse_chunk_size(t[i].line, strlen(t[i].line), &v, &why);

		if (st != t[i].status)
			fail_msg("chunk line %zu \"%s\": got %d want %d", i, t[i].line, st,
				 t[i].status);
		if (!st)
			assert_true(v == t[i].size);
		else
			assert_non_null(why);
	}
}

static void test_parse_small_helpers(void **state)
{
	static const struct { const char *v; int ok; uint64_t n; } cl[] = {
		{ "0", 1, 0 }, { "123", 1, 123 }, { "18446744073709551615", 1, UINT64_MAX },
		{ "18446744073709551616", 0, 0 }, { "", 0, 0 }, { "+1", 0, 0 }, { "-1", 0, 0 },
		{ "1 ", 0, 0 }, { "1,1", 0, 0 }, { "0x1", 0, 0 },
	};
	static const struct { const char *v, *tok; int has; } lists[] = {
		{ "close", "close", 1 }, { "Keep-Alive, Upgrade", "keep-alive", 1 },
		{ " , CLOSE ,", "close", 1 }, { "closed", "close", 0 }, { "", "close", 0 },
		{ "a,b,,c", "c", 1 }, { "x-close", "close", 0 },
	};
	size_t i;
	uint64_t n;

	for (i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
		int rc = httpd_parse_content_length(cl[i].v, &n);
		if ((rc == 0) != cl[i].ok)
			fail_msg("content-length \"%s\": rc %d", cl[i].v, rc);
		if (!rc)
			assert_true(n == cl[i].n);
	}
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (httpd_parse_list_has(lists[i].v, lists[i].tok) != lists[i].has)
			fail_msg("list \"%s\" has \"%s\"", lists[i].v, lists[i].tok);
	assert_true(httpd_parse_is_token("X-Road-Id", 9));
	assert_false(httpd_parse_is_token("", 0));
	assert_false(httpd_parse_is_token("a b", 3));
	assert_true(httpd_parse_value_ok("text/plain; q=1\tx"));
	assert_false(httpd_parse_value_ok("a\r\nSet-Cookie: x"));
	assert_false(httpd_parse_value_ok("a\nb"));
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(799), "Unknown");
}

#define H(n, v) { n, v }
static void test_parse_head_fields(void **state)
{
	static const struct http_hdr host[] = { H("Host", "a") };
	static const struct http_hdr cl5[] = { H("Host", "a"), H("content-length", "5") };
	static const struct http_hdr cl_same[] = { H("Host", "a"), H("Content-Length", "5"),
						   H("Content-Length", "5") };
	static const struct http_hdr cl_diff[] = { H("Host", "a"), H("Content-Length", "5"),
						   H("Content-Length", "6") };
	static const struct http_hdr cl_bad[] = { H("Host", "a"), H("Content-Length", "5x") };
	static const struct http_hdr cl_list[] = { H("Host", "a"), H("Content-Length", "5, 5") };
	static const struct http_hdr te[] = { H("Host", "a"), H("Transfer-Encoding", "Chunked") };
	static const struct http_hdr te_cl[] = { H("Host", "a"), H("Transfer-Encoding", "chunked"),
						 H("Content-Length", "3") };
	static const struct http_hdr te_gzip[] = { H("Host", "a"),
						   H("Transfer-Encoding", "gzip, chunked") };
	static const struct http_hdr te_twice[] = { H("Host", "a"), H("Transfer-Encoding", "chunked"),
						    H("Transfer-Encoding", "chunked") };
	static const struct http_hdr te_empty[] = { H("Host", "a"), H("Transfer-Encoding", "") };
	static const struct http_hdr two_hosts[] = { H("Host", "a"), H("host", "b") };
	static const struct http_hdr close[] = { H("Host", "a"), H("Connection", "foo, Close") };
	static const struct http_hdr ka[] = { H("Connection", "keep-alive") };
	static const struct http_hdr expect[] = { H("Host", "a"), H("Expect", "100-Continue") };
	static const struct http_hdr expect_other[] = { H("Host", "a"), H("Expect", "fly-to-the-moon") };
	static const struct http_hdr expect_empty[] = { H("Host", "a"), H("Expect", " ") };
	static const struct {
		const struct http_hdr *h;
		size_t n;
		int minor, status, chunked, has_len;
		uint64_t len;
		int keep, expect;
	} t[] = {
		{ host, 1, 1, 0, 0, 0, 0, 1, 0 },
		{ NULL, 0, 1, 400, 0, 0, 0, 0, 0 },          /* 1.1 without Host */
		{ NULL, 0, 0, 0, 0, 0, 0, 0, 0 },            /* 1.0: fine, no keep-alive */
		{ ka, 1, 0, 0, 0, 0, 0, 1, 0 },
		{ cl5, 2, 1, 0, 0, 1, 5, 1, 0 },
		{ cl_same, 3, 1, 0, 0, 1, 5, 1, 0 },
		{ cl_diff, 3, 1, 400, 0, 0, 0, 0, 0 },
		{ cl_bad, 2, 1, 400, 0, 0, 0, 0, 0 },
		{ cl_list, 2, 1, 400, 0, 0, 0, 0, 0 },
		{ te, 2, 1, 0, 1, 0, 0, 1, 0 },
		{ te, 2, 0, 400, 0, 0, 0, 0, 0 },            /* TE in HTTP/1.0 */
		{ te_cl, 3, 1, 400, 0, 0, 0, 0, 0 },
		{ te_gzip, 2, 1, 501, 0, 0, 0, 0, 0 },
		{ te_twice, 3, 1, 400, 0, 0, 0, 0, 0 },
		{ te_empty, 2, 1, 400, 0, 0, 0, 0, 0 },
		{ two_hosts, 2, 1, 400, 0, 0, 0, 0, 0 },
		{ close, 2, 1, 0, 0, 0, 0, 0, 0 },
		{ expect, 2, 1, 0, 0, 0, 0, 1, 1 },
		{ expect, 2, 0, 0, 0, 0, 0, 0, 0 },          /* Expect ignored on 1.0 */
		{ expect_other, 2, 1, 417, 0, 0, 0, 0, 0 },  /* an expectation that cannot be met */
		{ expect_other, 2, 0, 0, 0, 0, 0, 0, 0 },
		{ expect_empty, 2, 1, 0, 0, 0, 0, 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct httpd_framing f;
		const char *why = NULL;
		int st = httpd_parse_head_fields(t[i].h, t[i].n, t[i].minor, &f, &why);

		if (st != t[i].status)
			fail_msg("head fields %zu: got %d (%s) want %d", i, st, why ? why : "",
				 t[i].status);
		if (st) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(f.chunked, t[i].chunked);
		assert_int_equal(f.has_length, t[i].has_len);
		assert_true(f.length == t[i].len);
		if (f.keep_alive != t[i].keep)
			fail_msg("head fields %zu: keep_alive %d", i, f.keep_alive);
		assert_int_equal(f.expect_continue, t[i].expect);
	}
}

/* ===================================================================== */
/* Test PKI, made in memory                                               */
/* ===================================================================== */

struct pki {
	EVP_PKEY *ca_key, *srv_key, *cli_key;
	X509 *ca, *srv, *cli;
	SSL_CTX *srv_request;   /* SSL_VERIFY_PEER only */
	SSL_CTX *srv_require;   /* ... | FAIL_IF_NO_PEER_CERT */
	SSL_CTX *cli_cert, *cli_nocert;
};
static struct pki pki;

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;
	int ca = issuer == NULL;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ailgate test",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer)) ||
	    !add_ext(x, ca ? x : issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") ||
	    (ca && !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
	    (!ca && !add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1")) ||
	    !X509_sign(x, ca ? key : ikey, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static SSL_CTX *make_srv_ctx(int mode)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_use_certificate(ctx, pki.srv) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pki.srv_key) != 1 ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), pki.ca) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;
}

static SSL_CTX *make_cli_ctx(int with_cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), pki.ca) != 1 ||
	    (with_cert && (SSL_CTX_use_certificate(ctx, pki.cli) != 1 ||
			   SSL_CTX_use_PrivateKey(ctx, pki.cli_key) != 1))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* The server ends closing answers without waiting for our
	 * close_notify; a plain EOF then reads as end of stream. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

static int pki_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);    /* the daemon does the same */
	pki.ca_key = EVP_EC_gen("P-256");
	pki.srv_key = EVP_EC_gen("P-256");
	pki.cli_key = EVP_EC_gen("P-256");
	if (!pki.ca_key || !pki.srv_key || !pki.cli_key)
		return -1;
	pki.ca = make_cert(pki.ca_key, "test CA", NULL, NULL, 1);
	if (!pki.ca)
		return -1;
	pki.srv = make_cert(pki.srv_key, "localhost", pki.ca, pki.ca_key, 2);
	pki.cli = make_cert(pki.cli_key, "test-client-17", pki.ca, pki.ca_key, 3);
	if (!pki.srv || !pki.cli)
		return -1;
	pki.srv_request = make_srv_ctx(SSL_VERIFY_PEER);
	pki.srv_require = make_srv_ctx(SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	pki.cli_cert = make_cli_ctx(1);
	pki.cli_nocert = make_cli_ctx(0);
	return pki.srv_request && pki.srv_require && pki.cli_cert && pki.cli_nocert ? 0 : -1;
}

static int pki_teardown(void **state)
{
	SSL_CTX_free(pki.srv_request);
	SSL_CTX_free(pki.srv_require);
	SSL_CTX_free(pki.cli_cert);
	SSL_CTX_free(pki.cli_nocert);
	X509_free(pki.ca);
	X509_free(pki.srv);
	X509_free(pki.cli);
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.srv_key);
	EVP_PKEY_free(pki.cli_key);
	return 0;
}

/* ===================================================================== */
/* Fixture: server in this thread, client in another                      */
/* ===================================================================== */

#define MAX_CLS 8

struct cl {
	int fd;
	SSL *ssl;
	int tls_ok;
	size_t len;
	char buf[65536];
};

struct resp {
	int status;
	char head[4096];
	char body[8192];
	size_t body_len;
};

struct fx {
	struct event_base *base;
	struct httpd *h;
	int port;
	int sig[2];                 /* client -> loop wake-ups */
	struct event *sig_ev, *deadline_ev, *async_ev;
	pthread_t thr;
	void (*client)(struct fx *);
	void (*on_ready)(struct fx *);
	int done, ready, timed_out;
	struct cl *cls[MAX_CLS];
	char fail[256];             /* first failed CHECK in the client */
	/* what the server side saw; atomics as the client polls them */
	atomic_int handled, rejects, last_reject, aborts, held, freed, conns;
	struct http_req *parked;    /* loop thread only */
	char reject_method[32];     /* loop thread; read after join */
	char reject_target[64];
};

#define CHECK(fx, cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			check_failed((fx), __LINE__, #cond);                   \
			return;                                                \
		}                                                              \
	} while (0)

static void check_failed(struct fx *fx, int line, const char *what)
{
	if (!fx->fail[0])
		snprintf(fx->fail, sizeof(fx->fail), "client check at line %d: %s", line, what);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Polls an atomic set by the loop thread; 1 if it reached want in time. */
static int wait_atomic(atomic_int *v, int want, long ms)
{
	long end = now_ms() + ms;

	while (atomic_load(v) != want) {
		if (now_ms() > end)
			return 0;
		sleep_ms(5);
	}
	return 1;
}

static void client_signal(struct fx *fx, char what)
{
	ssize_t n = write(fx->sig[1], &what, 1);
	(void)n;
}

/* ---- server side: handler and reject callback ---- */

static void respond_text(struct http_req *req, int status, const char *text)
{
	static const struct http_hdr ct = { "Content-Type", "text/plain" };

	http_req_respond(req, status, &ct, 1, text, strlen(text));
}

static void on_abort(void *arg)
{
	struct fx *fx = arg;

	fx->parked = NULL;
	atomic_fetch_add(&fx->aborts, 1);
}

static void async_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fx *fx = arg;
	struct http_req *req = fx->parked;

	fx->parked = NULL;
	if (req)
		respond_text(req, 200, "async done");
}

static void echo(struct http_req *req)
{
	struct buf b = BUF_INIT;
	const unsigned char *body;
	const char *xt = http_req_header(req, "x-test");
	size_t len, n;

	body = http_req_body(req, &len);
	(void)http_req_headers(req, &n);
	if (buf_printf(&b, "%s %s hdrs=%zu xt=%s n=%u len=%zu body=%s", http_req_method(req),
		       http_req_target(req), n, xt ? xt : "-", http_req_header_count(req, "X-Test"),
		       len, (const char *)body) < 0)
		respond_text(req, 500, "oom");
	else
		respond_text(req, 200, b.data);
	buf_free(&b);
}

static void whoami(struct http_req *req)
{
	X509 *x = http_req_peer_cert(req);
	char cn[128] = "none", out[200];

	if (x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					   sizeof(cn)) < 0)
		snprintf(cn, sizeof(cn), "?");
	snprintf(out, sizeof(out), "tls=%d cn=%s peer=%.40s", http_req_is_tls(req), cn,
		 http_req_peer_addr(req));
	respond_text(req, 200, out);
}

static void on_request(struct http_req *req, void *arg)
{
	struct fx *fx = arg;
	const char *t = http_req_target(req);

	atomic_fetch_add(&fx->handled, 1);
	if (!strncmp(t, "/echo", 5)) {
		echo(req);
	} else if (!strcmp(t, "/async")) {
		struct timeval tv = { 0, 50000 };
		fx->parked = req;
		evtimer_add(fx->async_ev, &tv);
	} else if (!strcmp(t, "/hold")) {
		fx->parked = req;
		http_req_on_abort(req, on_abort, fx);
		atomic_store(&fx->held, 1);
	} else if (!strcmp(t, "/shutdown")) {
		/* Allowed from inside a handler; req goes with the server. */
		httpd_free(fx->h);
		fx->h = NULL;
		atomic_store(&fx->freed, 1);
	} else if (!strcmp(t, "/whoami")) {
		whoami(req);
	} else if (!strcmp(t, "/inject")) {
		static const struct http_hdr bad[] = {
			{ "X-Bad", "a\r\nSet-Cookie: evil=1" }, { "Content-Length", "999" },
			{ "Bad Name", "x" }, { "X-Good", "yes" },
		};
		http_req_respond(req, 201, bad, 4, "ok", 2);
	} else if (!strcmp(t, "/big")) {
		/* More than loopback socket buffers hold, for a client that
		 * does not read. */
		size_t n = 32u << 20;
		char *big = malloc(n);
		if (big) {
			memset(big, 'b', n);
			http_req_respond(req, 200, NULL, 0, big, n);
			free(big);
		} else {
			respond_text(req, 500, "oom");
		}
	} else if (!strcmp(t, "/nocontent")) {
		http_req_respond(req, 204, NULL, 0, "ignored", 7);
	} else {
		respond_text(req, 404, "no such path");
	}
}

static void on_reject(struct http_req *req, int status, const char *why, void *arg)
{
	struct fx *fx = arg;
	static const struct http_hdr h = { "X-Reject", "yes" };
	char body[256];

	snprintf(fx->reject_method, sizeof(fx->reject_method), "%s", http_req_method(req));
	snprintf(fx->reject_target, sizeof(fx->reject_target), "%s", http_req_target(req));
	atomic_store(&fx->last_reject, status);
	atomic_fetch_add(&fx->rejects, 1);
	snprintf(body, sizeof(body), "rejected %d (%s) method=%s", status, why,
		 http_req_method(req));
	http_req_respond(req, status, &h, 1, body, strlen(body));
}

/* ---- loop plumbing ---- */

static void sig_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fx *fx = arg;
	char c;

	if (read(fd, &c, 1) == 1) {
		if (c == 'D')
			fx->done = 1;
		else
			fx->ready = 1;
	}
	event_base_loopbreak(fx->base);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fx *fx = arg;

	fx->timed_out = 1;
	event_base_loopbreak(fx->base);
}

/* Timeouts are long here so a loaded machine cannot trip them; the
 * timeout tests use fast_limits. */
static const struct httpd_limits test_limits = {
	.max_head = 2048,
	.max_headers = 20,
	.max_body = 4096,
	.header_timeout_ms = 5000,
	.body_timeout_ms = 5000,
	.idle_timeout_ms = 5000,
	.write_timeout_ms = 5000,
	.max_conns = 16,
};

static const struct httpd_limits fast_limits = {
	.max_head = 2048,
	.max_headers = 20,
	.max_body = 4096,
	.header_timeout_ms = 300,
	.body_timeout_ms = 300,
	.idle_timeout_ms = 300,
	.write_timeout_ms = 5000,
	.max_conns = 16,
};

/* 1 if nothing has arrived on c yet (without waiting). */
static int cl_quiet(struct cl *c)
{
	char b;

	return c->len == 0 && recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN;
}

static void fx_init(struct fx *fx, const struct httpd_limits *lim, SSL_CTX *tls, int with_reject)
{
	char *err = NULL;

	memset(fx, 0, sizeof(*fx));
	fx->base = event_base_new();
	assert_non_null(fx->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fx->sig), 0);
	fx->sig_ev = event_new(fx->base, fx->sig[0], EV_READ | EV_PERSIST, sig_cb, fx);
	fx->deadline_ev = evtimer_new(fx->base, deadline_cb, fx);
	fx->async_ev = evtimer_new(fx->base, async_cb, fx);
	assert_non_null(fx->sig_ev);
	assert_non_null(fx->deadline_ev);
	assert_non_null(fx->async_ev);
	event_add(fx->sig_ev, NULL);
	fx->h = httpd_new(fx->base, lim ? lim : &test_limits, tls, on_request,
			  with_reject ? on_reject : NULL, fx);
	assert_non_null(fx->h);
	if (httpd_listen(fx->h, "127.0.0.1", 0, 0, &err) != 0)
		fail_msg("listen: %s", err ? err : "?");
	fx->port = httpd_port(fx->h);
	assert_true(fx->port > 0);
}

static void fx_done(struct fx *fx)
{
	httpd_free(fx->h);
	/* Let libevent finish freeing bufferevents whose deferred callbacks
	 * were still queued (see httpd_free in httpd.h). */
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	event_free(fx->sig_ev);
	event_free(fx->deadline_ev);
	event_free(fx->async_ev);
	event_base_free(fx->base);
	close(fx->sig[0]);
	close(fx->sig[1]);
}

static void *client_main(void *arg)
{
	struct fx *fx = arg;
	int i;

	fx->client(fx);
	for (i = 0; i < MAX_CLS; i++) {
		if (!fx->cls[i])
			continue;
		SSL_free(fx->cls[i]->ssl);
		if (fx->cls[i]->fd >= 0)
			close(fx->cls[i]->fd);
		free(fx->cls[i]);
	}
	client_signal(fx, 'D');
	return NULL;
}

/* Runs the loop until the client thread is done (8 s at most). */
static void fx_run(struct fx *fx, void (*client)(struct fx *))
{
	struct timeval tv = { 8, 0 };

	fx->client = client;
	evtimer_add(fx->deadline_ev, &tv);
	assert_int_equal(pthread_create(&fx->thr, NULL, client_main, fx), 0);
	while (!fx->done && !fx->timed_out) {
		event_base_dispatch(fx->base);
		if (fx->ready && fx->on_ready) {
			fx->ready = 0;
			fx->on_ready(fx);
		}
	}
	pthread_join(fx->thr, NULL);
	evtimer_del(fx->deadline_ev);
	if (fx->timed_out && !fx->fail[0])
		snprintf(fx->fail, sizeof(fx->fail), "test run timed out");
	if (fx->fail[0]) {
		fx_done(fx);    /* fail_msg does not return: no leak reports */
		fail_msg("%s", fx->fail);
	}
}

/* ---- client side: blocking sockets ---- */

static struct cl *cl_open(struct fx *fx)
{
	struct timeval tv = { 3, 0 };
	struct sockaddr_in sa;
	struct cl *c = NULL;
	int i, one = 1;

	for (i = 0; i < MAX_CLS && fx->cls[i]; i++)
		;
	if (i == MAX_CLS || !(c = calloc(1, sizeof(*c))))
		return NULL;
	fx->cls[i] = c;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return NULL;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Small pieces must go out at once: with Nagle each would wait for
	 * the server's delayed ACK and trip the 200 ms test timeouts. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)fx->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return NULL;
	return c;
}

static struct cl *cl_open_tls(struct fx *fx, SSL_CTX *ctx)
{
	struct cl *c = cl_open(fx);

	if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
		return NULL;
	c->tls_ok = SSL_connect(c->ssl) == 1;
	if (!c->tls_ok && getenv("HTTPD_TEST_DEBUG")) {
		fprintf(stderr, "SSL_connect failed: errno %d\n", errno);
		ERR_print_errors_fp(stderr);
	}
	return c;
}

/* Closes one client connection early and frees its slot (the thread end
 * closes the rest). */
static void cl_free(struct fx *fx, struct cl *c)
{
	int i;

	for (i = 0; i < MAX_CLS; i++)
		if (fx->cls[i] == c)
			fx->cls[i] = NULL;
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static int cl_send_n(struct cl *c, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, s, (int)n)
				   : send(c->fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cl_send(struct cl *c, const char *s)
{
	return cl_send_n(c, s, strlen(s));
}

/* Reads more: >0 bytes, 0 end of stream (or reset), -1 error, -2 timeout. */
static int cl_fill(struct cl *c)
{
	size_t room = sizeof(c->buf) - 1 - c->len;
	ssize_t n;

	if (!room)
		return -1;
	if (c->ssl) {
		n = SSL_read(c->ssl, c->buf + c->len, (int)room);
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, (int)n);
			if (e == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
				return -2;
			return e == SSL_ERROR_SYSCALL && errno == ECONNRESET ? 0 : -1;
		}
	} else {
		n = recv(c->fd, c->buf + c->len, room, 0);
		if (n < 0)
			return errno == ECONNRESET ? 0 : (errno == EAGAIN ? -2 : -1);
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return (int)n;
}

/* Reads one response (Content-Length framing; none for HEAD/1xx/204). */
static int cl_response(struct cl *c, struct resp *r, int head_req)
{
	const char *end, *clh;
	size_t hlen, need = 0;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (cl_fill(c) <= 0)
			return -1;
	hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, hlen);
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	clh = strstr(r->head, "\r\nContent-Length: ");
	if (clh && !head_req && r->status >= 200)
		need = strtoul(clh + 18, NULL, 10);
	if (need >= sizeof(r->body))
		return -1;
	while (c->len < hlen + need)
		if (cl_fill(c) <= 0)
			return -1;
	memcpy(r->body, c->buf + hlen, need);
	r->body_len = need;
	memmove(c->buf, c->buf + hlen + need, c->len - hlen - need);
	c->len -= hlen + need;
	c->buf[c->len] = '\0';
	return 0;
}

/* 1 if the server closed with nothing more to read. */
static int cl_closed(struct cl *c)
{
	return c->len == 0 && cl_fill(c) == 0;
}

/* The reject body ends in "method=<what the callback saw>". */
static int ends_with(const char *body, const char *method)
{
	char want[64];
	size_t n, m;

	snprintf(want, sizeof(want), "method=%s", method);
	n = strlen(body);
	m = strlen(want);
	return n >= m && !strcmp(body + n - m, want);
}

static int has_header(const struct resp *r, const char *line)
{
	char pat[256];

	snprintf(pat, sizeof(pat), "\r\n%s\r\n", line);
	return strstr(r->head, pat) != NULL;
}

/* ===================================================================== */
/* Server scenarios                                                       */
/* ===================================================================== */

static void cl_get_post(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Test:  v1 \r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200);
	CHECK(fx, !strcmp(r.body, "GET /echo?x=1 hdrs=2 xt=v1 n=1 len=0 body="));
	CHECK(fx, has_header(&r, "Connection: keep-alive"));
	CHECK(fx, has_header(&r, "Content-Type: text/plain"));
	CHECK(fx, strstr(r.head, "\r\nDate: ") != NULL);
	CHECK(fx, strstr(r.head, " GMT\r\n") != NULL);
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"));
	CHECK(fx, !cl_send_n(c, "hello\0world", 11));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200);
	/* The body is NUL-terminated for the handler: %s stops at the NUL. */
	CHECK(fx, !strcmp(r.body, "POST /echo hdrs=2 xt=- n=0 len=11 body=hello"));
	CHECK(fx, !cl_send(c, "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 1));
	CHECK(fx, r.status == 200 && has_header(&r, "Content-Length: 38"));
	CHECK(fx, !cl_send(c, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 204 && !strstr(r.head, "Content-Length"));
	CHECK(fx, !cl_send(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 404 && !strcmp(r.body, "no such path"));
	/* Nothing left over: a HEAD answer carries no body bytes. */
	CHECK(fx, c->len == 0);
	/* Absolute-form targets are routed by their path (RFC 9112 3.2.2). */
	CHECK(fx, !cl_send(c, "GET http://t:8080/echo?x=2 HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strncmp(r.body, "GET /echo?x=2 ", 14));
	CHECK(fx, !cl_send(c, "GET HTTPS://t HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 404);
	CHECK(fx, !cl_send(c, "GET http://t?y=1 HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 404 && !strcmp(r.body, "no such path"));
}

static void test_get_post(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_get_post);
	assert_int_equal(atomic_load(&fx.handled), 8);
	assert_int_equal(atomic_load(&fx.rejects), 0);
	fx_done(&fx);
}

static void cl_http10(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.0\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && has_header(&r, "Connection: close"));
	CHECK(fx, cl_closed(c));
	c = cl_open(fx);
	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && has_header(&r, "Connection: keep-alive"));
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && has_header(&r, "Connection: close"));
	CHECK(fx, cl_closed(c));
}

static void test_http10_and_close(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_http10);
	assert_int_equal(atomic_load(&fx.handled), 3);
	fx_done(&fx);
}

static void cl_keepalive(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;
	char req[128], want[128];
	int i;

	CHECK(fx, c);
	for (i = 0; i < 3; i++) {
		snprintf(req, sizeof(req), "GET /echo/%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
		snprintf(want, sizeof(want), "GET /echo/%d hdrs=1 xt=- n=0 len=0 body=", i);
		CHECK(fx, !cl_send(c, req));
		CHECK(fx, !cl_response(c, &r, 0));
		CHECK(fx, r.status == 200 && !strcmp(r.body, want));
	}
}

static void test_keepalive_three(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_keepalive);
	assert_int_equal(atomic_load(&fx.handled), 3);
	fx_done(&fx);
}

static void cl_pipelined(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "POST /echo/a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
			      "GET /echo/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strcmp(r.body, "POST /echo/a hdrs=2 xt=- n=0 len=3 body=abc"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strcmp(r.body, "GET /echo/b hdrs=2 xt=- n=0 len=0 body="));
	CHECK(fx, has_header(&r, "Connection: close"));
	CHECK(fx, cl_closed(c));
}

static void test_pipelined(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_pipelined);
	assert_int_equal(atomic_load(&fx.handled), 2);
	fx_done(&fx);
}

static void cl_chunked(struct fx *fx)
{
	/* Sent in awkward pieces so every parser state waits for more. */
	static const char *parts[] = {
		"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext",
		"=1\r\nhel", "lo\r", "\n6\r\n world\r\n", "0\r\nX-Trailer: t", "\r\n", "\r\n",
	};
	struct cl *c = cl_open(fx);
	struct resp r;
	size_t i;

	long t0 = now_ms();
	CHECK(fx, c);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		CHECK(fx, !cl_send(c, parts[i]));
		sleep_ms(5);
	}
	CHECK(fx, !cl_response(c, &r, 0));
	if (r.status != 200)
		fprintf(stderr, "chunked after %ld ms: %s%s\n", now_ms() - t0, r.head, r.body);
	CHECK(fx, r.status == 200);
	CHECK(fx, !strcmp(r.body, "POST /echo hdrs=2 xt=- n=0 len=11 body=hello world"));
	/* Bad framing after the data is refused. */
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
			      "\r\n3\r\nabcX\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 400 && has_header(&r, "X-Reject: yes"));
	CHECK(fx, cl_closed(c));
}

static void test_chunked(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_chunked);
	assert_int_equal(atomic_load(&fx.handled), 1);
	assert_int_equal(atomic_load(&fx.rejects), 1);
	fx_done(&fx);
}

static void cl_expect(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
			      "Content-Length: 4\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 100 && !strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n"));
	CHECK(fx, !cl_send(c, "data"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strcmp(r.body, "PUT /echo hdrs=3 xt=- n=0 len=4 body=data"));
	/* Over the cap: refused at once, no 100, no body needed. */
	CHECK(fx, !cl_send(c, "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
			      "Content-Length: 5000\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 413 && has_header(&r, "X-Reject: yes"));
	CHECK(fx, has_header(&r, "Connection: close"));
	CHECK(fx, cl_closed(c));
}

static void test_expect_continue(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_expect);
	assert_int_equal(atomic_load(&fx.handled), 1);
	assert_int_equal(atomic_load(&fx.last_reject), 413);
	fx_done(&fx);
}

static void cl_body_over_cap(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;
	char chunk[2100];

	CHECK(fx, c);
	/* Headers only: the 413 must come without a single body byte. */
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4097\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 413 && strstr(r.body, "rejected 413"));
	CHECK(fx, cl_closed(c));
	/* Chunked: the second 2 KiB chunk would pass 4096 in total. */
	c = cl_open(fx);
	CHECK(fx, c);
	memset(chunk, 'x', 2048);
	memcpy(chunk + 2048, "\r\n", 3);
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
			      "\r\n800\r\n"));
	CHECK(fx, !cl_send(c, chunk));
	CHECK(fx, !cl_send(c, "800\r\n"));
	CHECK(fx, !cl_send(c, chunk));
	CHECK(fx, !cl_send(c, "1\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 413);
	CHECK(fx, cl_closed(c));
	/* One huge chunk size: refused from the size line alone. */
	c = cl_open(fx);
	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
			      "\r\nffffffffffffffff\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 413);
	CHECK(fx, cl_closed(c));
}

static void test_body_over_cap(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_body_over_cap);
	assert_int_equal(atomic_load(&fx.handled), 0);
	assert_int_equal(atomic_load(&fx.rejects), 3);
	assert_string_equal(fx.reject_method, "POST");
	assert_string_equal(fx.reject_target, "/echo");
	fx_done(&fx);
}

/* Raw requests the server must refuse, each on its own connection. */
static const struct {
	const char *req;
	int status;
	const char *method;   /* what the reject callback saw */
} refusals[] = {
	{ "GARBAGE\r\n\r\n", 400, "" },
	{ "GET /  HTTP/1.1\r\nHost: t\r\n\r\n", 400, "" },
	{ "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "" },
	{ "GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400, "GET" },
	{ "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400, "GET" },
	{ "GET / HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n", 400, "GET" },
	{ "GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400, "GET" },
	{ "GET / HTTP/1.1\r\n\r\n", 400, "GET" },
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	  400, "POST" },
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
	  "POST" },
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\n", 400, "POST" },
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "POST" },
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "POST" },
	{ "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nA: 2\r\nA: 3\r\nA: 4\r\nA: 5\r\nA: 6\r\nA: 7\r\n"
	  "A: 8\r\nA: 9\r\nA: 10\r\nA: 11\r\nA: 12\r\nA: 13\r\nA: 14\r\nA: 15\r\nA: 16\r\n"
	  "A: 17\r\nA: 18\r\nA: 19\r\nA: 20\r\n\r\n", 431, "GET" },
};

static void cl_refusals(struct fx *fx)
{
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct cl *c = cl_open(fx);
		char want[32];

		CHECK(fx, c);
		snprintf(want, sizeof(want), "HTTP/1.1 %d ", refusals[i].status);
		CHECK(fx, !cl_send(c, refusals[i].req));
		if (cl_response(c, &r, 0) || strncmp(r.head, want, strlen(want)) ||
		    !has_header(&r, "X-Reject: yes") || !has_header(&r, "Connection: close")) {
			snprintf(fx->fail, sizeof(fx->fail), "refusal %zu: got \"%.60s\"", i,
				 r.head);
			return;
		}
		CHECK(fx, ends_with(r.body, refusals[i].method));
		CHECK(fx, cl_closed(c));
		cl_free(fx, c);
	}
}

static void test_refusals(void **state)
{
	struct fx fx;
	size_t n = sizeof(refusals) / sizeof(refusals[0]);

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_refusals);
	assert_int_equal(atomic_load(&fx.rejects), (int)n);
	assert_int_equal(atomic_load(&fx.handled), 0);
	fx_done(&fx);
}

static void cl_head_limits(struct fx *fx)
{
	struct cl *c;
	struct resp r;
	char big[3200];

	/* One header making the head pass max_head (2048). */
	c = cl_open(fx);
	CHECK(fx, c);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Long: "));
	CHECK(fx, !cl_send(c, big));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 431 && ends_with(r.body, "GET"));
	CHECK(fx, cl_closed(c));
	cl_free(fx, c);
	/* A request line longer than the cap: nothing parsed yet. */
	c = cl_open(fx);
	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /"));
	CHECK(fx, !cl_send(c, big));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 431 && ends_with(r.body, ""));
	CHECK(fx, cl_closed(c));
}

static void test_head_limits(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_head_limits);
	assert_int_equal(atomic_load(&fx.rejects), 2);
	assert_int_equal(atomic_load(&fx.handled), 0);
	fx_done(&fx);
}

static void cl_header_timeout(struct fx *fx)
{
	struct cl *a, *b, *c;
	struct resp r;
	long t0, dt;

	/* A sends half a head; B, meanwhile, is served at once. */
	t0 = now_ms();
	a = cl_open(fx);
	CHECK(fx, a);
	CHECK(fx, !cl_send(a, "GET /echo HTTP/1.1\r\nHost: t\r\n"));
	b = cl_open(fx);
	CHECK(fx, b);
	CHECK(fx, !cl_send(b, "GET /echo/b HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(b, &r, 0));
	CHECK(fx, r.status == 200);
	CHECK(fx, now_ms() - t0 >= 250 || cl_quiet(a));    /* A still waiting */
	CHECK(fx, !cl_response(a, &r, 0));
	dt = now_ms() - t0;
	CHECK(fx, r.status == 408 && has_header(&r, "X-Reject: yes"));
	CHECK(fx, dt >= 250 && dt < 3000);
	CHECK(fx, cl_closed(a));
	/* A client trickling bytes is cut off too: the whole head counts. */
	c = cl_open(fx);
	CHECK(fx, c);
	t0 = now_ms();
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.1\r\n"));
	while (now_ms() - t0 < 600 && !cl_send(c, "X: y\r\n"))
		sleep_ms(40);
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 408);
	CHECK(fx, cl_closed(c));
}

static void test_header_timeout(void **state)
{
	struct fx fx;

	fx_init(&fx, &fast_limits, NULL, 1);
	fx_run(&fx, cl_header_timeout);
	assert_int_equal(atomic_load(&fx.handled), 1);
	assert_int_equal(atomic_load(&fx.rejects), 2);
	assert_int_equal(atomic_load(&fx.last_reject), 408);
	fx_done(&fx);
}

static void cl_silent_and_idle(struct fx *fx)
{
	struct cl *c;
	struct resp r;
	long t0, dt;

	/* Never sends anything: closed after header_timeout, no answer. */
	c = cl_open(fx);
	CHECK(fx, c);
	t0 = now_ms();
	CHECK(fx, cl_closed(c));
	dt = now_ms() - t0;
	CHECK(fx, dt >= 250 && dt < 3000);
	/* Idle keep-alive: closed after idle_timeout, no answer. */
	c = cl_open(fx);
	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && has_header(&r, "Connection: keep-alive"));
	t0 = now_ms();
	CHECK(fx, cl_closed(c));
	dt = now_ms() - t0;
	CHECK(fx, dt >= 200 && dt < 3000);
}

static void test_silent_and_idle(void **state)
{
	struct fx fx;

	fx_init(&fx, &fast_limits, NULL, 1);
	fx_run(&fx, cl_silent_and_idle);
	assert_int_equal(atomic_load(&fx.rejects), 0);
	assert_int_equal(atomic_load(&fx.handled), 1);
	fx_done(&fx);
}

static void cl_body_timeout(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;
	int i;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
	for (i = 0; i < 6; i++) {
		sleep_ms(60);
		(void)cl_send(c, "d");    /* trickling does not extend the deadline */
	}
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 408 && strstr(r.body, "body"));
	CHECK(fx, cl_closed(c));
}

static void test_body_timeout(void **state)
{
	struct fx fx;

	fx_init(&fx, &fast_limits, NULL, 1);
	fx_run(&fx, cl_body_timeout);
	assert_int_equal(atomic_load(&fx.handled), 0);
	assert_int_equal(atomic_load(&fx.last_reject), 408);
	fx_done(&fx);
}

static void cl_max_conns(struct fx *fx)
{
	static const char get[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	struct cl *a, *b, *c, *d;
	struct resp r;

	/* Both slots kept alive between requests: a newcomer is served, and
	 * the connection idle the longest (a) is closed for it. */
	a = cl_open(fx);
	b = cl_open(fx);
	CHECK(fx, a && b);
	CHECK(fx, !cl_send(a, get) && !cl_response(a, &r, 0) && r.status == 200);
	CHECK(fx, !cl_send(b, get) && !cl_response(b, &r, 0) && r.status == 200);
	c = cl_open(fx);
	CHECK(fx, c && !cl_send(c, get) && !cl_response(c, &r, 0) && r.status == 200);
	CHECK(fx, cl_closed(a));
	cl_free(fx, a);
	/* Both in the middle of a request: nothing can be closed, the
	 * newcomer gets 503 and the close. */
	CHECK(fx, !cl_send(b, "GET /echo HTTP/1.1\r\n") && !cl_send(c, "GET /echo HTTP/1.1\r\n"));
	sleep_ms(100);
	d = cl_open(fx);
	CHECK(fx, d && !cl_response(d, &r, 0));
	CHECK(fx, r.status == 503 && !strcmp(r.body, "too many connections\n"));
	CHECK(fx, cl_closed(d));
	cl_free(fx, d);
	/* ... but a head still unfinished 2 s on keeps no place: the newcomer
	 * is served, the oldest slow head (b) closed for it. */
	sleep_ms(2100);
	d = cl_open(fx);
	CHECK(fx, d && !cl_send(d, get) && !cl_response(d, &r, 0) && r.status == 200);
	CHECK(fx, cl_closed(b));
	cl_free(fx, b);
	cl_free(fx, d);
	/* ... and c's request is still served. */
	CHECK(fx, !cl_send(c, "Host: t\r\n\r\n") && !cl_response(c, &r, 0) && r.status == 200);
	cl_free(fx, c);
}

static void test_max_conns(void **state)
{
	struct httpd_limits lim = test_limits;
	struct fx fx;

	lim.max_conns = 2;
	lim.idle_timeout_ms = 3000;
	fx_init(&fx, &lim, NULL, 1);
	fx_run(&fx, cl_max_conns);
	assert_int_equal(atomic_load(&fx.handled), 5);   /* a, b, c, d, then c again */
	assert_true(httpd_conn_count(fx.h) <= 2);
	fx_done(&fx);
}

static void cl_max_conns_slow_body(struct fx *fx)
{
	static const char get[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char post[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\n\r\n0123456789";
	struct cl *a, *b, *d;
	struct resp r;

	/* Both slots in the middle of a body: at first nothing can be closed */
	a = cl_open(fx);
	CHECK(fx, a && !cl_send(a, post));
	sleep_ms(50);
	b = cl_open(fx);
	CHECK(fx, b && !cl_send(b, post));
	sleep_ms(100);
	d = cl_open(fx);
	CHECK(fx, d && !cl_response(d, &r, 0) && r.status == 503);
	cl_free(fx, d);
	/* ... but a body trickling in (10 bytes in 4 s and more) keeps no
	 * place: it locked everyone out before; the oldest (a) is closed */
	for (int i = 0; i < 9; i++) {
		sleep_ms(500);
		CHECK(fx, !cl_send(a, "x") && !cl_send(b, "x"));
	}
	d = cl_open(fx);
	CHECK(fx, d && !cl_send(d, get) && !cl_response(d, &r, 0) && r.status == 200);
	CHECK(fx, cl_closed(a));
	cl_free(fx, a);
	cl_free(fx, b);
	cl_free(fx, d);
}

static void test_max_conns_slow_body(void **state)
{
	struct httpd_limits lim = test_limits;
	struct fx fx;

	lim.max_conns = 2;
	lim.body_timeout_ms = 10000;   /* a byte every 0.5 s keeps it (between reads) */
	fx_init(&fx, &lim, NULL, 1);
	fx_run(&fx, cl_max_conns_slow_body);
	assert_int_equal(atomic_load(&fx.handled), 1);   /* d */
	fx_done(&fx);
}

/* The loop thread stops here (on 'R') until the client has set a scene in
 * the kernel - connections and bytes it has not seen - so that one pass of
 * the loop then accepts them all before reading any. */
static void pause_loop(struct fx *fx)
{
	atomic_store(&fx->held, 1);
	(void)wait_atomic(&fx->held, 0, 3000);
}

static int cl_pause_loop(struct fx *fx)
{
	client_signal(fx, 'R');
	return wait_atomic(&fx->held, 1, 2000);
}

static void cl_max_conns_input_waiting(struct fx *fx)
{
	static const char get[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	struct cl *a, *b, *c;
	struct resp r;

	/* a and b connect and send whole requests, c connects after them and
	 * sends nothing, all while the loop is away: accepting c finds both
	 * slots taken by connections that have sent nothing *yet read*. They
	 * are requests arriving, not silent: c gets 503, a and b are served.
	 * (Before, a was closed for c, unanswered.) */
	CHECK(fx, cl_pause_loop(fx));
	a = cl_open(fx);
	b = cl_open(fx);
	CHECK(fx, a && b && !cl_send(a, get) && !cl_send(b, get));
	c = cl_open(fx);
	CHECK(fx, c);
	sleep_ms(50);
	atomic_store(&fx->held, 0);
	CHECK(fx, !cl_response(c, &r, 0) && r.status == 503);
	CHECK(fx, cl_closed(c));
	cl_free(fx, c);
	CHECK(fx, !cl_response(a, &r, 0) && r.status == 200);
	CHECK(fx, !cl_response(b, &r, 0) && r.status == 200);
	/* Both kept alive, and their next requests arrive just after a
	 * newcomer (so the loop, back, sees the newcomer first): neither is
	 * idle any more - the newcomer gets 503, both are served. */
	CHECK(fx, cl_pause_loop(fx));
	c = cl_open(fx);
	CHECK(fx, c);
	sleep_ms(10);
	CHECK(fx, !cl_send(a, get) && !cl_send(b, get));
	sleep_ms(50);
	atomic_store(&fx->held, 0);
	CHECK(fx, !cl_response(c, &r, 0) && r.status == 503);
	cl_free(fx, c);
	CHECK(fx, !cl_response(a, &r, 0) && r.status == 200);
	CHECK(fx, !cl_response(b, &r, 0) && r.status == 200);
}

static void test_max_conns_input_waiting(void **state)
{
	struct httpd_limits lim = test_limits;
	struct fx fx;

	lim.max_conns = 2;
	fx_init(&fx, &lim, NULL, 1);
	fx.on_ready = pause_loop;
	fx_run(&fx, cl_max_conns_input_waiting);
	assert_int_equal(atomic_load(&fx.handled), 4);
	fx_done(&fx);
}

static void cl_write_timeout(struct fx *fx)
{
	struct cl *c = cl_open(fx);

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->handled, 1, 2000));
	/* Not reading: the server must give up after write_timeout_ms. */
	sleep_ms(900);
	client_signal(fx, 'R');
	CHECK(fx, wait_atomic(&fx->freed, 1, 2000));
	CHECK(fx, atomic_load(&fx->conns) == 0);
}

static void count_conns(struct fx *fx)
{
	atomic_store(&fx->conns, (int)httpd_conn_count(fx->h));
	atomic_store(&fx->freed, 1);
}

static void test_write_timeout(void **state)
{
	struct httpd_limits lim = fast_limits;
	struct fx fx;

	lim.write_timeout_ms = 300;
	fx_init(&fx, &lim, NULL, 1);
	fx.on_ready = count_conns;
	fx_run(&fx, cl_write_timeout);
	assert_int_equal(httpd_conn_count(fx.h), 0);
	fx_done(&fx);
}

static void cl_async(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strcmp(r.body, "async done"));
	CHECK(fx, has_header(&r, "Connection: keep-alive"));
	CHECK(fx, !cl_send(c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strcmp(r.body, "GET /echo hdrs=1 xt=- n=0 len=0 body="));
}

static void test_async_respond(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_async);
	assert_int_equal(atomic_load(&fx.handled), 2);
	assert_null(fx.parked);
	fx_done(&fx);
}

static void cl_abort(struct fx *fx)
{
	struct cl *c = cl_open(fx);

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->held, 1, 2000));
	cl_free(fx, c);
	CHECK(fx, wait_atomic(&fx->aborts, 1, 2000));
}

static void test_abort_on_client_close(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_abort);
	assert_int_equal(atomic_load(&fx.aborts), 1);
	assert_null(fx.parked);
	assert_int_equal(httpd_conn_count(fx.h), 0);
	fx_done(&fx);
	/* still one abort: freeing the server must not repeat it */
	assert_int_equal(atomic_load(&fx.aborts), 1);
}

static void cl_free_in_flight(struct fx *fx)
{
	struct cl *c = cl_open(fx);

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->held, 1, 2000));
	client_signal(fx, 'R');
	CHECK(fx, wait_atomic(&fx->freed, 1, 2000));
	CHECK(fx, cl_closed(c));
}

static void free_server(struct fx *fx)
{
	httpd_free(fx->h);
	fx->h = NULL;
	atomic_store(&fx->freed, 1);
}

static void test_free_in_flight(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx.on_ready = free_server;
	fx_run(&fx, cl_free_in_flight);
	assert_null(fx.h);
	assert_int_equal(atomic_load(&fx.aborts), 1);
	fx_done(&fx);
}

static void cl_free_from_handler(struct fx *fx)
{
	struct cl *a = cl_open(fx), *b = cl_open(fx);

	CHECK(fx, a && b);
	CHECK(fx, !cl_send(a, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->held, 1, 2000));
	CHECK(fx, !cl_send(b, "GET /shutdown HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->freed, 1, 2000));
	CHECK(fx, cl_closed(b));    /* no answer: the server is gone */
	CHECK(fx, cl_closed(a));
	CHECK(fx, atomic_load(&fx->aborts) == 1);
}

static void test_free_from_handler(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_free_from_handler);
	assert_null(fx.h);
	assert_int_equal(atomic_load(&fx.handled), 2);
	fx_done(&fx);
}

static void cl_stop(struct fx *fx)
{
	struct cl *a = cl_open(fx), *b = cl_open(fx);
	struct resp r;

	CHECK(fx, a && b);
	CHECK(fx, !cl_send(a, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(a, &r, 0) && r.status == 200);
	CHECK(fx, !cl_send(b, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, wait_atomic(&fx->handled, 2, 2000));
	client_signal(fx, 'R');
	CHECK(fx, wait_atomic(&fx->freed, 1, 2000));
	CHECK(fx, cl_closed(a));                 /* idle: closed at once */
	CHECK(fx, !cl_response(b, &r, 0));       /* busy: finishes its request */
	CHECK(fx, r.status == 200 && has_header(&r, "Connection: close"));
	CHECK(fx, cl_closed(b));
	CHECK(fx, cl_open(fx) == NULL);          /* no longer listening */
}

static void stop_server(struct fx *fx)
{
	httpd_stop_accepting(fx->h);
	atomic_store(&fx->freed, 1);
}

static void test_stop_accepting(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx.on_ready = stop_server;
	fx_run(&fx, cl_stop);
	assert_int_equal(httpd_port(fx.h), fx.port);
	fx_done(&fx);
}

static void cl_answer_hygiene(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET /inject HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 201 && !strcmp(r.body, "ok"));
	CHECK(fx, has_header(&r, "X-Good: yes") && has_header(&r, "Content-Length: 2"));
	CHECK(fx, !strstr(r.head, "Set-Cookie") && !strstr(r.head, "X-Bad"));
	CHECK(fx, !strstr(r.head, "999") && !strstr(r.head, "Bad Name"));
	/* Leading empty lines before a request are ignored (RFC 9112 2.2). */
	CHECK(fx, !cl_send(c, "\r\nGET /echo HTTP/1.1\nHost: t\n\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200);
}

static void test_answer_hygiene(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 1);
	fx_run(&fx, cl_answer_hygiene);
	assert_int_equal(atomic_load(&fx.handled), 2);
	fx_done(&fx);
}

static void cl_no_reject_cb(struct fx *fx)
{
	struct cl *c = cl_open(fx);
	struct resp r;

	CHECK(fx, c);
	CHECK(fx, !cl_send(c, "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 501 && has_header(&r, "Connection: close"));
	CHECK(fx, !strcmp(r.body, "501 Not Implemented: unsupported transfer coding\n"));
	CHECK(fx, cl_closed(c));
}

static void test_no_reject_callback(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, NULL, 0);
	fx_run(&fx, cl_no_reject_cb);
	assert_int_equal(atomic_load(&fx.handled), 0);
	fx_done(&fx);
}

static void test_listen_errors(void **state)
{
	struct fx fx;
	char *err = NULL;
	int port;

	fx_init(&fx, NULL, NULL, 1);
	port = fx.port;
	assert_int_equal(httpd_listen(fx.h, "999.1.2.3", 0, 0, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "999.1.2.3"));
	free(err);
	err = NULL;
	assert_int_equal(httpd_listen(fx.h, "127.0.0.1", 70000, 0, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(httpd_listen(fx.h, "127.0.0.1", port, 0, &err), -1);  /* in use */
	assert_non_null(err);
	free(err);
	err = NULL;
	/* A second listener is fine and leaves httpd_port() alone. */
	assert_int_equal(httpd_listen(fx.h, "localhost", 0, 1, &err), 0);
	assert_null(err);
	assert_int_equal(httpd_port(fx.h), port);
	fx_done(&fx);
}

/* ---- TLS ---- */

static void cl_tls_with_cert(struct fx *fx)
{
	struct cl *c = cl_open_tls(fx, pki.cli_cert);
	struct resp r;
	int i;

	CHECK(fx, c && c->tls_ok);
	for (i = 0; i < 2; i++) {
		CHECK(fx, !cl_send(c, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
		CHECK(fx, !cl_response(c, &r, 0));
		CHECK(fx, r.status == 200);
		CHECK(fx, !strncmp(r.body, "tls=1 cn=test-client-17 peer=127.0.0.1:", 39));
	}
}

static void test_tls_client_cert(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, pki.srv_request, 1);
	fx_run(&fx, cl_tls_with_cert);
	assert_int_equal(atomic_load(&fx.handled), 2);
	fx_done(&fx);
}

static void cl_tls_without_cert(struct fx *fx)
{
	struct cl *c = cl_open_tls(fx, pki.cli_nocert);
	struct resp r;

	CHECK(fx, c && c->tls_ok);
	CHECK(fx, !cl_send(c, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strncmp(r.body, "tls=1 cn=none ", 14));
	/* A refusal over TLS: answer, close_notify, close. */
	CHECK(fx, !cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 413);
	CHECK(fx, cl_closed(c));
}

static void test_tls_no_client_cert(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, pki.srv_request, 1);
	fx_run(&fx, cl_tls_without_cert);
	assert_int_equal(atomic_load(&fx.handled), 1);
	assert_int_equal(atomic_load(&fx.rejects), 1);
	fx_done(&fx);
}

static void cl_tls_required(struct fx *fx)
{
	struct cl *c = cl_open_tls(fx, pki.cli_nocert);
	struct resp r;

	CHECK(fx, c);
	/* With TLS 1.3 the client learns of the refusal only when reading. */
	if (c->tls_ok)
		(void)cl_send(c, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(fx, !c->tls_ok || cl_response(c, &r, 0) != 0);
	/* A client with a certificate still gets in. */
	c = cl_open_tls(fx, pki.cli_cert);
	CHECK(fx, c && c->tls_ok);
	CHECK(fx, !cl_send(c, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
	CHECK(fx, !cl_response(c, &r, 0));
	CHECK(fx, r.status == 200 && !strncmp(r.body, "tls=1 cn=test-client-17 ", 24));
}

static void test_tls_required_cert(void **state)
{
	struct fx fx;

	fx_init(&fx, NULL, pki.srv_require, 1);
	fx_run(&fx, cl_tls_required);
	assert_int_equal(atomic_load(&fx.handled), 1);
	assert_int_equal(atomic_load(&fx.rejects), 0);
	fx_done(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_request_line),
		cmocka_unit_test(test_parse_header_line),
		cmocka_unit_test(test_parse_chunk_size),
		cmocka_unit_test(test_parse_small_helpers),
		cmocka_unit_test(test_parse_head_fields),
		cmocka_unit_test(test_get_post),
		cmocka_unit_test(test_http10_and_close),
		cmocka_unit_test(test_keepalive_three),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_body_over_cap),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_head_limits),
		cmocka_unit_test(test_header_timeout),
		cmocka_unit_test(test_silent_and_idle),
		cmocka_unit_test(test_body_timeout),
		cmocka_unit_test(test_max_conns),
		cmocka_unit_test(test_max_conns_slow_body),
		cmocka_unit_test(test_max_conns_input_waiting),
		cmocka_unit_test(test_write_timeout),
		cmocka_unit_test(test_async_respond),
		cmocka_unit_test(test_abort_on_client_close),
		cmocka_unit_test(test_free_in_flight),
		cmocka_unit_test(test_free_from_handler),
		cmocka_unit_test(test_stop_accepting),
		cmocka_unit_test(test_answer_hygiene),
		cmocka_unit_test(test_no_reject_callback),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_tls_client_cert),
		cmocka_unit_test(test_tls_no_client_cert),
		cmocka_unit_test(test_tls_required_cert),
	};

	/* HTTPD_TEST=test_name runs one test (handy under a debugger). */
	if (getenv("HTTPD_TEST"))
		cmocka_set_test_filter(getenv("HTTPD_TEST"));
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
