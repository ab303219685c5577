/* httpd: a small HTTP/1.1 server on libevent bufferevents, plain or TLS.
 *
 * Why not evhttp: the gateway must answer every refusal (body over the cap,
 * header too large, slow client) with its own fault body and request id, and
 * must bound the time a request may take to arrive as a whole; evhttp 2.1
 * offers neither hook. This server does only what the gateway needs:
 * Content-Length and chunked bodies, keep-alive, Expect: 100-continue, one
 * request at a time per connection (pipelined requests wait), TLS with
 * optional client certificates via bufferevent_openssl.
 *
 * Limits: the request line plus headers, the header count and the body are
 * capped; a body over the cap is refused as soon as Content-Length (or the
 * running chunk total) shows it, without buffering past the cap. Timeouts:
 * the whole head must arrive within header_timeout_ms, the whole body within
 * body_timeout_ms (so a client trickling bytes is cut off too), an idle
 * keep-alive connection is closed after idle_timeout_ms.
 *
 * A request is handed to the handler once complete. The handler answers with
 * http_req_respond(), now or later (asynchronously). If the connection dies
 * first, the abort callback (if set) runs and the request is freed after it
 * returns.
 *
 * Notes for callers:
 * - An asynchronous handler must set an abort callback: once the connection
 *   is gone the request is freed, and using it afterwards (even calling
 *   http_req_respond) is a use-after-free. A client that half-closes
 *   (shutdown(SHUT_WR)) while its request is with the handler counts as gone.
 * - Writes can raise SIGPIPE (libevent and OpenSSL write with write()): the
 *   process must ignore SIGPIPE.
 * - A refused request's answer is followed by a lingering close (write side
 *   shut, input discarded for up to 2 s), so the client gets to read it. */
#ifndef AILGATE_NET_HTTPD_H
#define AILGATE_NET_HTTPD_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>

#include "lib/http_hdr.h"

struct httpd;
struct http_req;

struct httpd_limits {
	size_t max_head;              /* request line + headers, bytes */
	unsigned max_headers;         /* header fields */
	size_t max_body;              /* bytes */
	unsigned header_timeout_ms;
	unsigned body_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned write_timeout_ms;
	unsigned max_conns;           /* at the limit one connection is closed for a new one:
					 with not one byte of request yet (on TLS, not through
					 its handshake), else one whose head has been arriving
					 for 2 s, else one kept alive between requests; with
					 none, the new one is closed at once */
};

/* What the limit did: connections closed to make room, and new ones turned
 * away because every connection had a request under way. */
struct httpd_crowding {
	unsigned long reused;
	unsigned long refused;
};

/* A complete request. The handler must eventually call http_req_respond()
 * exactly once (unless the abort callback ran). */
typedef void (*httpd_handler_fn)(struct http_req *req, void *arg);

/* The server itself refuses the request: status 400 (malformed), 408 (timeout),
 * 413 (body over the cap), 431 (head too large), 501 (unsupported
 * Transfer-Encoding), 505 (HTTP version). What was parsed so far (method,
 * target, headers) may be read. The callback must call http_req_respond()
 * before it returns; the connection is closed after the answer is written.
 * For a connection that dies with no request in flight nothing is called. */
typedef void (*httpd_reject_fn)(struct http_req *req, int status, const char *why, void *arg);

/* tls: NULL for plain HTTP; otherwise a server SSL_CTX (the caller keeps it
 * alive until httpd_free; configure client-certificate requests on it).
 * Returns NULL on allocation failure. */
struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *lim, SSL_CTX *tls,
			httpd_handler_fn handler, httpd_reject_fn reject, void *arg);

/* Listens on host:port (IPv4 or IPv6 literal, or "localhost"). reuseport
 * sets SO_REUSEPORT so several workers can share the port. Returns 0, or -1
 * with *err (caller frees) saying why. Port 0 picks a free port; see
 * httpd_port(). May be called more than once. */
int httpd_listen(struct httpd *h, const char *host, int port, int reuseport, char **err)
	__attribute__((warn_unused_result));
/* Whether host:port could be listened on: binds a socket without
 * SO_REUSEPORT (so a port another process listens on, with it or not, fails)
 * and closes it, never listening - nothing can connect to it meanwhile.
 * serve --check. 0, or -1 with *err as httpd_listen's. */
int httpd_probe(const char *host, int port, char **err) __attribute__((warn_unused_result));
int httpd_port(const struct httpd *h);        /* port of the first listener */
unsigned httpd_conn_count(const struct httpd *h);
/* Counts since the last call (zeroed by it). */
struct httpd_crowding httpd_take_crowding(struct httpd *h);
/* Stops accepting; open connections finish their current request. */
void httpd_stop_accepting(struct httpd *h);
/* Closes everything. In-flight requests get their abort callback. May be
 * called from a handler or callback. libevent finishes releasing the
 * connections' buffers on the next pass of the loop: before event_base_free(),
 * run event_base_loop(base, EVLOOP_NONBLOCK) once, or they leak. */
void httpd_free(struct httpd *h);

/* Request accessors. Strings are owned by the request and valid until respond/abort.
 * In the reject callback, method and target are "" if the request line was not
 * parsed yet, the headers are those parsed so far, and the body is empty. */
const char *http_req_method(const struct http_req *r);
const char *http_req_target(const struct http_req *r);   /* as received, e.g. "/r1/a/b?c" */
const char *http_req_header(const struct http_req *r, const char *name); /* first, case-insensitive */
unsigned http_req_header_count(const struct http_req *r, const char *name);
/* All headers in arrival order; *n set to the count. */
const struct http_hdr *http_req_headers(const struct http_req *r, size_t *n);
const unsigned char *http_req_body(const struct http_req *r, size_t *len); /* NUL-terminated */
int http_req_is_tls(const struct http_req *r);
/* The verified TLS client certificate, or NULL. Borrowed. */
X509 *http_req_peer_cert(const struct http_req *r);
const char *http_req_peer_addr(const struct http_req *r); /* "127.0.0.1:54321" */

/* Called if the connection closes before the answer was given. */
void http_req_on_abort(struct http_req *r, void (*fn)(void *arg), void *arg);

/* Sends the answer and releases the request (r is invalid afterwards).
 * Content-Length, Date and Connection are added by the server; hdrs must not
 * hold them. body/hdrs are copied. Headers with such reserved names, or with
 * a name that is not a token or a value holding CR, LF or other control
 * characters, are dropped. A status outside 200..599 is sent as 500; 204 and
 * 304 go out without body or Content-Length; HEAD answers carry the
 * Content-Length of body but not the body. */
void http_req_respond(struct http_req *r, int status, const struct http_hdr *hdrs, size_t nhdrs,
		      const void *body, size_t body_len);

/* Reason phrase for a status code ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
