/* outbound: HTTP(S) client for gateway-to-gateway and provider calls,
 * libcurl's multi interface driven by the caller's libevent loop.
 *
 * Nothing blocks the loop: sockets and timers are handed to libevent through
 * CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION. Connections are kept alive
 * and reused (one multi handle per loop, its connection cache shared by all
 * transfers). Redirects are never followed. */
#ifndef AILGATE_NET_OUTBOUND_H
#define AILGATE_NET_OUTBOUND_H

#include <event2/event.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "lib/http_hdr.h"

struct outbound;
struct out_handle;

/* TLS settings of one request (all strings copied). */
struct out_tls {
	const char *cert_file;           /* client certificate (PEM), or NULL */
	const char *key_file;            /* its key (PEM), or NULL */
	const char *ca_file;             /* trust anchors for the server certificate */
	const unsigned char *pin_sha256; /* if not NULL: 32 bytes, the SHA-256 of the
					    server's leaf certificate (DER); any other
					    certificate fails with OUT_ERR_PEER_CERT */
	int verify_host;                 /* check the host name against the cert */
};

struct out_req {
	const char *method;              /* "GET", "POST", ... */
	const char *url;
	const struct http_hdr *hdrs;     /* sent as given */
	size_t nhdrs;
	const void *body;                /* may be NULL */
	size_t body_len;
	const struct out_tls *tls;       /* NULL for plain http */
	long connect_timeout_ms;         /* 0: libcurl's default (300 s) */
	long timeout_ms;                 /* whole transfer; 0: none (always set one) */
	size_t max_response;             /* bytes; a larger body fails with OUT_ERR_TOO_LARGE
					    (0 allows only an empty body) */
};

enum out_err {
	OUT_OK = 0,
	OUT_ERR_CONNECT,     /* refused, unreachable, DNS */
	OUT_ERR_TIMEOUT,
	OUT_ERR_TLS,         /* handshake failed, server cert not trusted */
	OUT_ERR_PEER_CERT,   /* trusted but not the pinned certificate */
	OUT_ERR_TOO_LARGE,
	OUT_ERR_IO,          /* anything else (reset, malformed response) */
};

struct out_resp {
	enum out_err err;
	const char *errmsg;              /* for a person; "" when OK */
	long status;                     /* HTTP status when err == OUT_OK */
	const struct http_hdr *hdrs;     /* response headers in order (final response only) */
	size_t nhdrs;
	const unsigned char *body;       /* NUL-terminated */
	size_t body_len;
	double total_ms;
	X509 *peer_cert;                 /* the pinned peer's TLS certificate (requests with a
					  * pin), valid during the call; NULL otherwise */
};

/* Called exactly once per request, from the loop (never from inside
 * outbound_send). resp and everything it points to is valid only during the
 * call. */
typedef void (*outbound_done_fn)(const struct out_resp *resp, void *arg);

/* Initialises libcurl for the process (curl_global_init) and checks that it
 * uses OpenSSL, which pinning needs. Call once from main() before any thread
 * starts; later calls return the first result. 0 on success, -1 otherwise. */
int outbound_global_init(void) __attribute__((warn_unused_result));

/* One per event loop (thread); everything of it runs on that loop's thread.
 * Needs outbound_global_init(). Returns NULL with *err set (caller frees) on
 * failure. */
struct outbound *outbound_new(struct event_base *base, char **err);
/* Cancels everything in flight (their callbacks are not called) and closes
 * the cached connections. May be called from a done callback of o: the rest
 * of the teardown then happens once that callback returns, and o must not be
 * used any more (outbound_send on it returns NULL meanwhile). */
void outbound_free(struct outbound *o);

/* Starts a request; everything in req is copied. Returns a handle, or NULL if
 * the request could not even be started (then done is not called): bad
 * method, URL not http(s)://, header name not a token or value with CR/LF,
 * a header line ("Name: value") over 1 MiB, body with HEAD, a pin with a
 * plain http URL, negative timeouts, or out of memory. The handle belongs to o and is freed after done returns. */
struct out_handle *outbound_send(struct outbound *o, const struct out_req *req,
				 outbound_done_fn done, void *arg);
/* Stops a request in flight; done will not be called. h must not be used
 * after this, nor after its done callback has returned (inside its own done
 * callback cancel is a no-op). */
void outbound_cancel(struct out_handle *h);
/* 1 once h's connection is up and its request is going out (cancelling it
 * then closes the connection); 0 while it waits for a connection. */
int outbound_sent(struct out_handle *h);
/* The answer's body is no longer wanted: what came is freed, the rest is read
 * and dropped (done still comes, with an empty body). */
void outbound_discard(struct out_handle *h);

/* Requests in flight. */
unsigned outbound_active(const struct outbound *o);

#endif
