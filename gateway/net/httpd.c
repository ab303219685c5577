/* httpd: HTTP/1.1 server on libevent bufferevents; see httpd.h.
 *
 * One struct httpd_conn per connection, with the request embedded in it and
 * reused across keep-alive requests (so steady-state requests allocate only
 * what libevent allocates for its buffers). A connection walks through:
 *
 *   HEAD -> [BODY] -> HANDLER -> WRITING -> IDLE -> HEAD ...
 *                                        \-> LINGER -> closed
 *
 * One timer per connection carries the deadline of the current phase (whole
 * head, whole body, keep-alive idle, lingering close); writes use the
 * bufferevent's own write timeout. Every error path ends in conn_close(),
 * which calls the abort callback if a request is with the handler. Memory is
 * released only when the last libevent callback that uses the connection
 * returns (a small reference count), so the handler may even call
 * httpd_free() from inside itself.
 *
 * While a request is with the handler the connection keeps reading, but only
 * up to max_head bytes (read watermark): that bounds what a pipelining client
 * can push, yet lets us see the client going away, so the abort callback can
 * cancel work nobody waits for. A client that half-closes (shutdown(SHUT_WR))
 * after sending its request is therefore treated as gone, as nginx does. */
#include "net/httpd.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "net/httpd_parse.h"

#define DEF_MAX_HEAD (64u * 1024)
#define DEF_MAX_HEADERS 100u
#define DEF_MAX_BODY (10u * 1024 * 1024)
#define DEF_HEADER_MS 10000u
#define DEF_BODY_MS 30000u
#define DEF_IDLE_MS 60000u
#define DEF_WRITE_MS 30000u
#define DEF_MAX_CONNS 1024u

#define LINGER_MS 2000u              /* read-and-discard after a closing answer */
#define LINGER_MAX (1024u * 1024)    /* bytes discarded before giving up */
#define CHUNK_LINE_MAX 1024u         /* chunk-size line with extensions */
#define ACCEPT_PAUSE_MS 100u         /* after accept() fails (EMFILE) */
#define LISTEN_BACKLOG 1024
#define KEEP_ARENA 16384u            /* request storage kept between requests */
#define SLOW_HEAD_S 2                /* a head unfinished this long may be closed for room */
#define SLOW_BODY_S 4                /* a body arriving this long ... */
#define SLOW_BODY_BPS 1024           /* ... at less than this many bytes a second, too */

enum conn_state {
	ST_HEAD,      /* reading request line and headers */
	ST_BODY,      /* reading the body */
	ST_HANDLER,   /* request (or refusal) is with the application */
	ST_WRITING,   /* answer queued, waiting for it to drain */
	ST_IDLE,      /* keep-alive, between requests */
	ST_LINGER,    /* answer sent, write side shut, discarding input */
};

enum body_mode { BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_CRLF, CH_TRAILER };

struct http_req {
	struct httpd_conn *conn;
	struct buf arena;            /* "method\0target\0name\0value\0..." */
	size_t target_off;
	int have_line;
	int minor;
	int is_head;
	size_t (*off)[2];            /* name/value offsets into arena */
	size_t noff, off_cap;
	struct http_hdr *hdrs;       /* built from off[] once the arena is final */
	size_t nhdrs, hdrs_cap;
	struct evbuffer *body;
	size_t body_len;             /* bytes collected so far */
	const unsigned char *body_data;  /* "" until the body is complete */
	size_t body_data_len;
	void (*abort_fn)(void *);
	void *abort_arg;
};

struct httpd_conn {
	struct httpd *h;
	struct httpd_conn *prev, *next;
	struct bufferevent *bev;
	struct event *timer;
	enum conn_state st;
	int refs;                    /* 1 while open + 1 per active callback */
	unsigned closed : 1;
	unsigned keepalive : 1;
	unsigned close_after : 1;    /* close once the answer has drained */
	unsigned rejecting : 1;
	unsigned peer_eof : 1;
	unsigned handshaken : 1;     /* TLS: the handshake is done (a verified peer) */
	time_t head_since;           /* when this head began (accept, or its first byte) */
	time_t body_since;           /* when its body began (ST_BODY) */
	size_t scan_off;             /* input bytes already searched for EOL */
	size_t head_used;
	enum body_mode body_mode;
	enum chunk_state chunk_st;
	uint64_t body_left;
	size_t framing_used;         /* chunk lines and trailers */
	size_t lingered;
	struct http_req req;
	char peer[INET6_ADDRSTRLEN + 8];
};

struct httpd {
	struct event_base *base;
	struct httpd_limits lim;
	SSL_CTX *tls;
	httpd_handler_fn handler;
	httpd_reject_fn reject;
	void *arg;
	struct timeval tv[5];
	const struct timeval *tv_head, *tv_body, *tv_idle, *tv_write, *tv_linger;
	struct evconnlistener **ls;
	size_t nls;
	int port;
	int stopping;
	int freeing;
	struct event *resume;
	struct httpd_conn *conns;    /* newest first */
	unsigned nconns;
	struct httpd_crowding crowd;
	time_t date_sec;
	char date[40];
};

static void conn_process(struct httpd_conn *c);

/* Seconds, as the loop last saw the clock. */
static time_t httpd_now(struct httpd *h)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(h->base, &tv) < 0)
		gettimeofday(&tv, NULL);
	return tv.tv_sec;
}

/* ---- reason phrases and Date ---------------------------------------- */

static const struct { int code; const char *text; } reasons[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 204, "No Content" }, { 206, "Partial Content" }, { 301, "Moved Permanently" },
	{ 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
	{ 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
	{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
	{ 411, "Length Required" }, { 412, "Precondition Failed" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" }, { 421, "Misdirected Request" },
	{ 422, "Unprocessable Content" }, { 426, "Upgrade Required" },
	{ 428, "Precondition Required" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
	{ 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
};

const char *http_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return reasons[i].text;
	return "Unknown";
}

/* IMF-fixdate, formatted at most once a second (strftime would follow the
 * locale for day and month names). */
static const char *httpd_date(struct httpd *h)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mons[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = httpd_now(h);
	struct tm tm;

	if (now == h->date_sec && h->date[0])
		return h->date;
	if (!gmtime_r(&now, &tm))
		return h->date[0] ? h->date : "Thu, 01 Jan 1970 00:00:00 GMT";
	snprintf(h->date, sizeof(h->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday % 7], tm.tm_mday, mons[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	h->date_sec = now;
	return h->date;
}

/* ---- request storage -------------------------------------------------- */

static void req_reset(struct http_req *r)
{
	if (r->arena.cap > KEEP_ARENA)
		buf_free(&r->arena);
	buf_reset(&r->arena);
	r->target_off = 0;
	r->have_line = 0;
	r->minor = 1;
	r->is_head = 0;
	r->noff = 0;
	r->nhdrs = 0;
	evbuffer_drain(r->body, evbuffer_get_length(r->body));
	r->body_len = 0;
	r->body_data = (const unsigned char *)"";
	r->body_data_len = 0;
	r->abort_fn = NULL;
	r->abort_arg = NULL;
}

static void req_release(struct http_req *r)
{
	buf_free(&r->arena);
	free(r->off);
	free(r->hdrs);
	if (r->body)
		evbuffer_free(r->body);
}

/* An absolute-form target ("http://host:port/path?q", RFC 9112 3.2.2:
 * servers must accept it) as the origin form the rest of the gateway routes
 * on: the path and query, "/" when there is no path. The authority is
 * dropped - nothing here routes by host. */
static void origin_form(const char **t, size_t *len, int *need_slash)
{
	size_t skip = *len > 7 && strncasecmp(*t, "http://", 7) == 0 ? 7 :
		      *len > 8 && strncasecmp(*t, "https://", 8) == 0 ? 8 : 0;
	size_t i;

	*need_slash = 0;
	if (!skip)
		return;
	for (i = skip; i < *len && (*t)[i] != '/' && (*t)[i] != '?'; i++)
		;
	*t += i;
	*len -= i;
	*need_slash = *len == 0 || (*t)[0] == '?';
}

static int req_set_line(struct http_req *r, const char *line, size_t len, const char **why)
{
	struct httpd_reqline rl;
	int st = httpd_parse_request_line(line, len, &rl, why), slash;
	const char *t;
	size_t tlen;

	if (st)
		return st;
	t = line + rl.target_off;
	tlen = rl.target_len;
	origin_form(&t, &tlen, &slash);
	if (buf_append(&r->arena, line, rl.method_len) < 0 || buf_append(&r->arena, "", 1) < 0 ||
	    (slash && buf_append(&r->arena, "/", 1) < 0) || buf_append(&r->arena, t, tlen) < 0 ||
	    buf_append(&r->arena, "", 1) < 0)
		goto nomem;
	r->target_off = rl.method_len + 1;
	r->minor = rl.minor;
	r->is_head = rl.method_len == 4 && memcmp(line, "HEAD", 4) == 0;
	r->have_line = 1;
	return 0;
nomem:
	*why = "out of memory";
	return 503;
}

static int req_add_field(struct http_req *r, unsigned max, const char *line, size_t len,
			 const char **why)
{
	struct httpd_field f;
	size_t name_off;
	int st;

	if (r->noff >= max) {
		*why = "too many header fields";
		return 431;
	}
	if ((st = httpd_parse_header_line(line, len, &f, why)) != 0)
		return st;
	if (r->noff == r->off_cap) {
		size_t ncap = r->off_cap ? r->off_cap * 2 : 16;
		void *p = realloc(r->off, ncap * sizeof(*r->off));
		if (!p)
			goto nomem;
		r->off = p;
		r->off_cap = ncap;
	}
	name_off = r->arena.len;
	if (buf_append(&r->arena, line, f.name_len) < 0 || buf_append(&r->arena, "", 1) < 0 ||
	    buf_append(&r->arena, line + f.value_off, f.value_len) < 0 ||
	    buf_append(&r->arena, "", 1) < 0)
		goto nomem;
	r->off[r->noff][0] = name_off;
	r->off[r->noff][1] = name_off + f.name_len + 1;
	r->noff++;
	return 0;
nomem:
	*why = "out of memory";
	return 503;
}

/* Turns the offsets into pointers; valid until the arena changes again. */
static int req_build_hdrs(struct http_req *r)
{
	size_t i;

	if (r->noff > r->hdrs_cap) {
		void *p = realloc(r->hdrs, r->off_cap * sizeof(*r->hdrs));
		if (!p)
			return -1;
		r->hdrs = p;
		r->hdrs_cap = r->off_cap;
	}
	for (i = 0; i < r->noff; i++) {
		r->hdrs[i].name = r->arena.data + r->off[i][0];
		r->hdrs[i].value = r->arena.data + r->off[i][1];
	}
	r->nhdrs = r->noff;
	return 0;
}

/* The body is collected in an evbuffer (chains move over from the input
 * without copying) and made contiguous and NUL-terminated once, here. */
static int req_finish_body(struct http_req *r)
{
	if (!r->body_len)
		return 0;
	if (evbuffer_add(r->body, "", 1) < 0)
		return -1;
	r->body_data = evbuffer_pullup(r->body, -1);
	if (!r->body_data) {
		r->body_data = (const unsigned char *)"";
		return -1;
	}
	r->body_data_len = r->body_len;
	return 0;
}

/* ---- connection lifetime ---------------------------------------------- */

static void conn_destroy(struct httpd_conn *c)
{
	req_release(&c->req);
	free(c);
}

static void conn_ref(struct httpd_conn *c)
{
	c->refs++;
}

static void conn_unref(struct httpd_conn *c)
{
	if (--c->refs == 0)
		conn_destroy(c);
}

/* The one teardown: closes the socket now, tells the application if it holds
 * the request, frees the memory once no callback uses it any more. reason is
 * for tracing only. */
static void conn_close(struct httpd_conn *c, const char *reason)
{
	struct httpd *h = c->h;

	if (c->closed)
		return;
	c->closed = 1;
	conn_ref(c);
#ifdef HTTPD_TRACE
	fprintf(stderr, "httpd: close %s: %s\n", c->peer, reason);
#else
	(void)reason;
#endif
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->st == ST_HANDLER && c->req.abort_fn) {
		void (*fn)(void *) = c->req.abort_fn;
		c->req.abort_fn = NULL;
		fn(c->req.abort_arg);
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_free(c->timer);
	c->timer = NULL;
	conn_unref(c);    /* the open reference */
	conn_unref(c);    /* ours */
}

static struct evbuffer *conn_in(struct httpd_conn *c)
{
	return bufferevent_get_input(c->bev);
}

static void conn_drain(struct httpd_conn *c, size_t n)
{
	evbuffer_drain(conn_in(c), n);
	c->scan_off = 0;
}

/* Finds the next whole line in the input without consuming it. Returns 1
 * with *line (contiguous, not NUL-terminated), *len (without the line end)
 * and *total (with it); 0 if no whole line is buffered yet; -1 if the line
 * would be longer than cap bytes. Remembers how far it searched, so a client
 * trickling one byte at a time costs linear, not quadratic, work. */
static int conn_peek_line(struct httpd_conn *c, size_t cap, const char **line, size_t *len,
			  size_t *total)
{
	struct evbuffer *in = conn_in(c);
	size_t avail = evbuffer_get_length(in), eol_len = 0;
	struct evbuffer_ptr start, p;

	if (evbuffer_ptr_set(in, &start, c->scan_off, EVBUFFER_PTR_SET) < 0)
		evbuffer_ptr_set(in, &start, 0, EVBUFFER_PTR_SET);
	p = evbuffer_search_eol(in, &start, &eol_len, EVBUFFER_EOL_CRLF);
	if (p.pos < 0) {
		if (avail > cap)
			return -1;
		/* Keep the last byte: it may be the CR of a CRLF. */
		c->scan_off = avail ? avail - 1 : 0;
		return 0;
	}
	*len = (size_t)p.pos;
	*total = *len + eol_len;
	if (*total > cap)
		return -1;
	*line = (const char *)evbuffer_pullup(in, (ev_ssize_t)*total);
	return *line ? 1 : -1;
}

/* ---- writing answers -------------------------------------------------- */

static int hdr_reserved(const char *name)
{
	return !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Date") ||
	       !strcasecmp(name, "Connection") || !strcasecmp(name, "Transfer-Encoding");
}

static int conn_write_head(struct httpd_conn *c, int status, const struct http_hdr *hdrs,
			   size_t nhdrs, size_t body_len, int nobody)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t i;

	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
				http_reason(status), httpd_date(c->h)) < 0)
		return -1;
	if (!nobody && evbuffer_add_printf(out, "Content-Length: %zu\r\n", body_len) < 0)
		return -1;
	if (evbuffer_add_printf(out, "Connection: %s\r\n",
				c->close_after ? "close" : "keep-alive") < 0)
		return -1;
	for (i = 0; i < nhdrs; i++) {
		const char *n = hdrs[i].name, *v = hdrs[i].value;
		/* Never let the application split the response or override
		 * our framing. */
		if (!n || !v || !httpd_parse_is_token(n, strlen(n)) || !httpd_parse_value_ok(v) ||
		    hdr_reserved(n))
			continue;
		/* No printf: signed exchanges carry headers of several KB. */
		if (evbuffer_add(out, n, strlen(n)) < 0 || evbuffer_add(out, ": ", 2) < 0 ||
		    evbuffer_add(out, v, strlen(v)) < 0 || evbuffer_add(out, "\r\n", 2) < 0)
			return -1;
	}
	return evbuffer_add(out, "\r\n", 2);
}

static void conn_set_read_cap(struct httpd_conn *c, size_t high)
{
	bufferevent_setwatermark(c->bev, EV_READ, 0, high);
}

void http_req_respond(struct http_req *r, int status, const struct http_hdr *hdrs, size_t nhdrs,
		      const void *body, size_t body_len)
{
	struct httpd_conn *c = r->conn;
	int nobody;

	if (c->closed || c->st != ST_HANDLER)
		return;    /* answered twice, or from inside the abort callback */
	conn_ref(c);
	if (status < 200 || status > 599)
		status = 500;    /* 1xx would need a second answer; we have none */
	nobody = status == 204 || status == 304;
	if (c->rejecting || !c->keepalive || c->peer_eof || c->h->stopping)
		c->close_after = 1;
	r->abort_fn = NULL;
	c->st = ST_WRITING;
	/* Head and body in one piece of the output buffer: over TLS each piece
	 * becomes an SSL_write, so a TLS record and a send of its own. */
	if (!nobody && !r->is_head && body_len) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		size_t want = 160 + body_len;

		for (size_t i = 0; i < nhdrs; i++)
			if (hdrs[i].name && hdrs[i].value)
				want += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 4;
		if (evbuffer_get_length(out) == 0)
			(void)evbuffer_expand(out, want);
	}
	if (conn_write_head(c, status, hdrs, nhdrs, body_len, nobody) < 0 ||
	    (!nobody && !r->is_head && body_len &&
	     evbuffer_add(bufferevent_get_output(c->bev), body, body_len) < 0))
		conn_close(c, "out of memory writing answer");
	conn_unref(c);
}

/* The server's own answer when the reject callback is missing or broken. */
static void conn_respond_plain(struct httpd_conn *c, int status, const char *why)
{
	static const struct http_hdr ct = { "Content-Type", "text/plain; charset=utf-8" };
	char body[256];
	int n;

	n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_reason(status),
		     why ? why : "");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(body))
		n = sizeof(body) - 1;
	http_req_respond(&c->req, status, &ct, 1, body, (size_t)n);
}

/* ---- handing requests over -------------------------------------------- */

static void conn_enter_handler(struct httpd_conn *c)
{
	evtimer_del(c->timer);
	c->st = ST_HANDLER;
	conn_set_read_cap(c, c->h->lim.max_head);
}

/* The server refuses: the reject callback answers, then the connection
 * closes. Always returns -1 so read paths can `return conn_reject(...)`. */
static int conn_reject(struct httpd_conn *c, int status, const char *why)
{
	struct httpd *h = c->h;

	if (req_build_hdrs(&c->req) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	c->rejecting = 1;
	c->close_after = 1;
	conn_enter_handler(c);
	if (h->reject)
		h->reject(&c->req, status, why, h->arg);
	/* h may be gone now (httpd_free from the callback closes c too). */
	if (!c->closed && c->st == ST_HANDLER)
		conn_respond_plain(c, status, why);
	return -1;
}

static int conn_dispatch(struct httpd_conn *c)
{
	struct httpd *h = c->h;

	if (req_finish_body(&c->req) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	conn_enter_handler(c);
	h->handler(&c->req, h->arg);
	return 1;
}

/* ---- reading requests ------------------------------------------------- */

static int conn_head_done(struct httpd_conn *c)
{
	struct http_req *r = &c->req;
	struct httpd_framing f;
	const char *why = NULL;
	int st;

	if (req_build_hdrs(r) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	if ((st = httpd_parse_head_fields(r->hdrs, r->nhdrs, r->minor, &f, &why)) != 0)
		return conn_reject(c, st, why);
	c->keepalive = f.keep_alive;
	if (f.chunked) {
		c->body_mode = BODY_CHUNKED;
		c->chunk_st = CH_SIZE;
		c->framing_used = 0;
	} else if (f.length > c->h->lim.max_body) {
		/* Before a single body byte is read, Expect or not. */
		return conn_reject(c, 413, "request body too large");
	} else if (f.length) {
		c->body_mode = BODY_LENGTH;
		c->body_left = f.length;
	} else {
		return conn_dispatch(c);
	}
	/* A client that already started sending does not need the go-ahead. */
	if (f.expect_continue && evbuffer_get_length(conn_in(c)) == 0 &&
	    evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	c->st = ST_BODY;
	c->body_since = httpd_now(c->h);
	evtimer_add(c->timer, c->h->tv_body);
	return 1;
}

/* 0: need more input, 1: state changed, -1: refused or closed. */
static int conn_read_head(struct httpd_conn *c)
{
	struct http_req *r = &c->req;
	const char *line, *why = NULL;
	size_t len, total;
	int rc, st;

	for (;;) {
		rc = conn_peek_line(c, c->h->lim.max_head - c->head_used, &line, &len, &total);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return conn_reject(c, 431, "request head too large");
		if (!r->have_line)
			st = len ? req_set_line(r, line, len, &why) : 0; /* RFC 9112 2.2 */
		else if (len == 0) {
			conn_drain(c, total);
			return conn_head_done(c);
		} else
			st = req_add_field(r, c->h->lim.max_headers, line, len, &why);
		if (st)
			return conn_reject(c, st, why);
		conn_drain(c, total);
		c->head_used += total;
	}
}

/* Moves up to max body bytes from the input; returns how many. */
static size_t conn_take_body(struct httpd_conn *c, uint64_t max)
{
	struct evbuffer *in = conn_in(c);
	size_t n = evbuffer_get_length(in);
	int got;

	if (n > max)
		n = (size_t)max;
	if (n > (1u << 30))
		n = 1u << 30;
	if (!n)
		return 0;
	got = evbuffer_remove_buffer(in, c->req.body, n);
	if (got <= 0)
		return 0;    /* out of memory: the body timer ends it */
	c->req.body_len += (size_t)got;
	c->scan_off = 0;
	return (size_t)got;
}

/* Peeks at one framing line of a chunked body (size line, CRLF after the
 * data, trailer). Returns 1 with the line, 0 for need more, -1 refused.
 * Framing bytes are capped as a whole (a fixed allowance plus the body so
 * far), so tiny chunks with long extensions cannot stream for ever. */
static int conn_chunk_peek(struct httpd_conn *c, size_t cap, const char **line, size_t *len,
			   size_t *total)
{
	size_t budget = c->h->lim.max_head + c->req.body_len;
	int trailer = c->chunk_st == CH_TRAILER;
	int rc;

	if (c->framing_used >= budget)
		return conn_reject(c, trailer ? 431 : 400, "chunked framing too large");
	if (cap > budget - c->framing_used)
		cap = budget - c->framing_used;
	rc = conn_peek_line(c, cap, line, len, total);
	if (rc < 0)
		return conn_reject(c, trailer ? 431 : 400,
				   trailer ? "trailers too large" : "malformed chunked framing");
	return rc;
}

static void conn_chunk_consume(struct httpd_conn *c, size_t total)
{
	conn_drain(c, total);
	c->framing_used += total;
}

static int conn_read_chunked(struct httpd_conn *c)
{
	const char *line, *why = NULL;
	size_t len, total;
	uint64_t size;
	struct httpd_field f;
	int rc;

	for (;;) {
		switch (c->chunk_st) {
		case CH_SIZE:
			if ((rc = conn_chunk_peek(c, CHUNK_LINE_MAX, &line, &len, &total)) <= 0)
				return rc;
			if (httpd_parse_chunk_size(line, len, &size, &why) != 0)
				return conn_reject(c, 400, why);
			conn_chunk_consume(c, total);
			/* Refused as soon as the running total would pass the cap. */
			if (size > c->h->lim.max_body - c->req.body_len)
				return conn_reject(c, 413, "request body too large");
			c->body_left = size;
			c->chunk_st = size ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			c->body_left -= conn_take_body(c, c->body_left);
			if (c->body_left)
				return 0;
			c->chunk_st = CH_CRLF;
			break;
		case CH_CRLF:
			if ((rc = conn_chunk_peek(c, 2, &line, &len, &total)) <= 0)
				return rc;
			if (len)
				return conn_reject(c, 400, "missing CRLF after chunk data");
			conn_chunk_consume(c, total);
			c->chunk_st = CH_SIZE;
			break;
		case CH_TRAILER:
			if ((rc = conn_chunk_peek(c, c->h->lim.max_head, &line, &len, &total)) <= 0)
				return rc;
			/* Trailers are checked like headers, then discarded. */
			if (len && httpd_parse_header_line(line, len, &f, &why) != 0)
				return conn_reject(c, 400, why);
			conn_chunk_consume(c, total);
			if (len == 0)
				return conn_dispatch(c);
			break;
		}
	}
}

static int conn_read_body(struct httpd_conn *c)
{
	if (c->body_mode == BODY_CHUNKED)
		return conn_read_chunked(c);
	c->body_left -= conn_take_body(c, c->body_left);
	if (c->body_left)
		return 0;
	return conn_dispatch(c);
}

static void conn_begin_request(struct httpd_conn *c)
{
	req_reset(&c->req);
	c->head_used = 0;
	c->scan_off = 0;
	c->keepalive = 0;
	c->st = ST_HEAD;
	c->head_since = httpd_now(c->h);
	evtimer_add(c->timer, c->h->tv_head);
}

/* Runs the parser over whatever is buffered, as far as it goes. */
static void conn_process(struct httpd_conn *c)
{
	int rc;

	for (;;) {
		if (c->closed)
			return;
		switch (c->st) {
		case ST_IDLE:
			if (!evbuffer_get_length(conn_in(c)))
				return;
			conn_begin_request(c);
			continue;
		case ST_HEAD:
			rc = conn_read_head(c);
			break;
		case ST_BODY:
			rc = conn_read_body(c);
			break;
		default:
			return;
		}
		if (rc <= 0)
			return;
	}
}

/* ---- after the answer -------------------------------------------------- */

/* Shut our write side and read (discarding) for a little while before
 * closing: closing with unread input makes the kernel send RST, and the
 * client could lose the answer we just sent (a 413 while it is still
 * sending the body, typically). */
static void conn_linger(struct httpd_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	c->st = ST_LINGER;
	c->lingered = 0;
	if (c->h->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		if (ssl)
			(void)SSL_shutdown(ssl);    /* close_notify; best effort */
		/* bufferevent_openssl reads ERR_peek_error() to tell a dirty
		 * shutdown from a failure: leave it no stale entries. */
		ERR_clear_error();
	}
	if (fd >= 0)
		(void)shutdown(fd, SHUT_WR);
	conn_drain(c, evbuffer_get_length(conn_in(c)));
	conn_set_read_cap(c, 0);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->timer, c->h->tv_linger);
}

static void conn_answer_sent(struct httpd_conn *c)
{
	if (c->peer_eof) {
		conn_close(c, "peer closed");
		return;
	}
	if (c->close_after || c->h->stopping) {
		conn_linger(c);
		return;
	}
	req_reset(&c->req);
	c->st = ST_IDLE;
	evtimer_add(c->timer, c->h->tv_idle);
	conn_set_read_cap(c, 0);
	/* Pipelined requests may be buffered already: no read event will
	 * come for them. */
	conn_process(c);
}

/* ---- libevent callbacks ------------------------------------------------ */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;

	conn_ref(c);
	if (c->st == ST_LINGER) {
		size_t n = evbuffer_get_length(conn_in(c));
		c->lingered += n;
		conn_drain(c, n);
		if (c->lingered > LINGER_MAX)
			conn_close(c, "linger limit");
	} else {
		conn_process(c);
	}
	conn_unref(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;

	if (c->st != ST_WRITING || evbuffer_get_length(bufferevent_get_output(bev)))
		return;
	conn_ref(c);
	conn_answer_sent(c);
	conn_unref(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->handshaken = 1;
		return;    /* TLS handshake done; the head timer keeps running */
	}
	conn_ref(c);
	if ((what & BEV_EVENT_EOF) && c->st == ST_WRITING)
		c->peer_eof = 1;    /* finish the answer, then close */
	else if (what & BEV_EVENT_EOF)
		conn_close(c, "peer closed");
	else if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, "write timeout");
	else
		conn_close(c, "connection error");
	conn_unref(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;

	conn_ref(c);
	switch (c->st) {
	case ST_HEAD:
		/* Silence is not a request: nothing to refuse. */
		if (c->head_used || evbuffer_get_length(conn_in(c)))
			conn_reject(c, 408, "request head timed out");
		else
			conn_close(c, "no request");
		break;
	case ST_BODY:
		conn_reject(c, 408, "request body timed out");
		break;
	default:
		conn_close(c, c->st == ST_IDLE ? "idle" : "linger done");
		break;
	}
	conn_unref(c);
}

/* ---- accepting --------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(out, n, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, n, "[%s]:%u", ip, port);
	} else {
		snprintf(out, n, "?");
	}
}

static struct bufferevent *conn_new_bev(struct httpd *h, evutil_socket_t fd)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev;
	SSL *ssl;

	if (!h->tls)
		return bufferevent_socket_new(h->base, fd, opts);
	if (!(ssl = SSL_new(h->tls))) {
		ERR_clear_error();
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(h->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	/* On failure libevent 2.1 may or may not have freed ssl already; a
	 * leak on out-of-memory beats a double free. */
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Takes fd; returns NULL (fd closed) on allocation failure. */
static struct httpd_conn *conn_new(struct httpd *h, evutil_socket_t fd, const struct sockaddr *sa)
{
	struct httpd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		goto fail;
	c->h = h;
	c->refs = 1;
	c->req.conn = c;
	buf_init(&c->req.arena, BUF_NOCAP);    /* bounded by max_head */
	format_peer(sa, c->peer, sizeof(c->peer));
	if (!(c->req.body = evbuffer_new()) ||
	    !(c->timer = evtimer_new(h->base, conn_timer_cb, c)) ||
	    !(c->bev = conn_new_bev(h, fd)))
		goto fail;
	req_reset(&c->req);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, h->tv_write);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		bufferevent_free(c->bev);    /* closes fd */
		c->bev = NULL;
		fd = -1;
		goto fail;
	}
	/* The head timer runs from accept, so it covers the TLS handshake. */
	c->st = ST_HEAD;
	c->head_since = httpd_now(h);
	evtimer_add(c->timer, h->tv_head);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	return c;
fail:
	if (c) {
		if (c->timer)
			event_free(c->timer);
		req_release(&c->req);
		free(c);
	}
	if (fd >= 0)
		evutil_closesocket(fd);
	return NULL;
}

/* Bytes waiting in the connection's socket that the loop has not read yet. */
static int conn_input_waiting(struct httpd_conn *c)
{
	int n = 0;

	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &n) == 0 && n > 0;
}

/* No request under way: kept alive between two, or not one byte of one yet
 * (on the TLS port that includes a connection still in its handshake). */
static int conn_unused(struct httpd_conn *c)
{
	return c->st == ST_IDLE || (c->st == ST_HEAD && !c->head_used && !evbuffer_get_length(conn_in(c)));
}

/* At max_conns, as nginx does with kept-alive connections: an unused
 * connection is closed to make room, so clients that open connections and
 * send nothing - or, on the TLS port, cannot finish a handshake at all -
 * cannot lock everyone else out. First the one that has waited longest
 * without a byte of a request (on TLS: without finishing its handshake,
 * which only a peer with an approved certificate can), then one whose head
 * has been arriving for SLOW_HEAD_S or more (a byte now and then keeps no
 * place), then one whose body has been arriving for SLOW_BODY_S or more at
 * under SLOW_BODY_BPS (the same, after a whole head: it used to keep its
 * place, and a few such clients locked everyone out with 503), then the
 * longest kept alive between requests. Never one with
 * bytes waiting unread in its socket. 0 when one was closed. */
static int conn_make_room(struct httpd *h)
{
	struct httpd_conn *c, *last = NULL, *pick = NULL, *slow = NULL, *slow_body = NULL, *idle = NULL;
	time_t now = httpd_now(h);

	for (c = h->conns; c; c = c->next)   /* newest first */
		last = c;
	for (c = last; c; c = c->prev) {     /* so oldest first: the first match is taken */
		if (!conn_unused(c)) {
			/* A head still unfinished after SLOW_HEAD_S: a client that
			 * sends a byte now and then to keep its place (a real one
			 * sends its head at once) - closed before kept-alive ones. */
			if (!slow && c->st == ST_HEAD && now - c->head_since >= SLOW_HEAD_S)
				slow = c;
			/* The same for a body trickling in (the body timeout counts
			 * between reads): under SLOW_BODY_BPS for SLOW_BODY_S. */
			if (!slow_body && c->st == ST_BODY && now - c->body_since >= SLOW_BODY_S &&
			    c->req.body_len < (size_t)(now - c->body_since) * SLOW_BODY_BPS)
				slow_body = c;
			continue;
		}
		/* Bytes in the socket we have not read yet (accepted in the same
		 * burst as the newcomer, or a kept-alive client's next request)
		 * make a connection in use, not silent or idle. */
		if (c->st == ST_HEAD && (!h->tls || !c->handshaken)) {
			if (!conn_input_waiting(c)) {
				pick = c;
				break;
			}
		} else if (!idle && !conn_input_waiting(c)) {
			idle = c;
		}
	}
	if (!(c = pick ? pick : slow ? slow : slow_body ? slow_body : idle))
		return -1;
	conn_close(c, "closed to make room for a new connection");
	h->crowd.reused++;
	return 0;
}

/* Over max_conns with every connection in use: a plain client gets a short
 * 503, a TLS client (no handshake yet, so nothing we could say) just the
 * close. */
static void httpd_refuse_busy(struct httpd *h, evutil_socket_t fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Length: 21\r\n"
				  "Connection: close\r\n\r\n"
				  "too many connections\n";
	char junk[4096];
	int i;

	if (!h->tls) {
		/* Drain what already arrived so close() sends FIN, not RST. */
		for (i = 0; i < 4 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
			;
		(void)send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)shutdown(fd, SHUT_WR);
	}
	evutil_closesocket(fd);
}

static void httpd_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct httpd *h = arg;
	int one = 1;

	if (h->nconns >= h->lim.max_conns && conn_make_room(h) < 0) {
		h->crowd.refused++;
		httpd_refuse_busy(h, fd);
		return;
	}
	/* Answers are written whole; Nagle would only delay them. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)conn_new(h, fd, sa);
}

static void httpd_set_accepting(struct httpd *h, int on)
{
	size_t i;

	for (i = 0; i < h->nls; i++)
		if (on)
			evconnlistener_enable(h->ls[i]);
		else
			evconnlistener_disable(h->ls[i]);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS): pause instead of spinning on a
 * listener that stays readable. */
static void httpd_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct httpd *h = arg;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	/* Out of file descriptors: an unused connection of ours gives one
	 * back, and the next accept() takes it (as at max_conns). */
	if ((errno == EMFILE || errno == ENFILE) && conn_make_room(h) == 0)
		return;
	httpd_set_accepting(h, 0);
	evtimer_add(h->resume, &tv);
}

static void httpd_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	if (!h->stopping)
		httpd_set_accepting(h, 1);
}

/* ---- public: server ---------------------------------------------------- */

static unsigned pick(unsigned v, unsigned def)
{
	return v ? v : def;
}

/* A common timeout lets libevent keep equal-duration timers in a queue
 * instead of the heap: O(1) per request. */
static const struct timeval *httpd_tv(struct httpd *h, int i, unsigned ms)
{
	const struct timeval *common;

	h->tv[i].tv_sec = ms / 1000;
	h->tv[i].tv_usec = (ms % 1000) * 1000;
	common = event_base_init_common_timeout(h->base, &h->tv[i]);
	return common ? common : &h->tv[i];
}

struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *lim, SSL_CTX *tls,
			httpd_handler_fn handler, httpd_reject_fn reject, void *arg)
{
	struct httpd_limits z = { 0 };
	struct httpd *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (!lim)
		lim = &z;
	h->base = base;
	h->tls = tls;
	h->handler = handler;
	h->reject = reject;
	h->arg = arg;
	h->lim.max_head = lim->max_head ? lim->max_head : DEF_MAX_HEAD;
	h->lim.max_headers = pick(lim->max_headers, DEF_MAX_HEADERS);
	h->lim.max_body = lim->max_body ? lim->max_body : DEF_MAX_BODY;
	h->lim.header_timeout_ms = pick(lim->header_timeout_ms, DEF_HEADER_MS);
	h->lim.body_timeout_ms = pick(lim->body_timeout_ms, DEF_BODY_MS);
	h->lim.idle_timeout_ms = pick(lim->idle_timeout_ms, DEF_IDLE_MS);
	h->lim.write_timeout_ms = pick(lim->write_timeout_ms, DEF_WRITE_MS);
	h->lim.max_conns = pick(lim->max_conns, DEF_MAX_CONNS);
	h->tv_head = httpd_tv(h, 0, h->lim.header_timeout_ms);
	h->tv_body = httpd_tv(h, 1, h->lim.body_timeout_ms);
	h->tv_idle = httpd_tv(h, 2, h->lim.idle_timeout_ms);
	h->tv_write = httpd_tv(h, 3, h->lim.write_timeout_ms);
	h->tv_linger = httpd_tv(h, 4, LINGER_MS);
	if (!(h->resume = evtimer_new(base, httpd_resume_cb, h))) {
		free(h);
		return NULL;
	}
	return h;
}

static int set_err(char **err, const char *host, int port, const char *why)
{
	if (err && asprintf(err, "listen %s:%d: %s", host, port, why) < 0)
		*err = NULL;
	return -1;
}

/* A bound, non-blocking socket for ai, or -1 with errno set. */
static evutil_socket_t listen_socket(const struct addrinfo *ai, int reuseport)
{
	evutil_socket_t fd;
	int one = 1, e;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int local_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

static int httpd_add_listener(struct httpd *h, evutil_socket_t fd)
{
	struct evconnlistener *l;
	void *p = realloc(h->ls, (h->nls + 1) * sizeof(*h->ls));

	if (!p)
		return -1;
	h->ls = p;
	l = evconnlistener_new(h->base, httpd_accept_cb, h, LEV_OPT_CLOSE_ON_FREE |
			       LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG, fd);
	if (!l)
		return -1;
	evconnlistener_set_error_cb(l, httpd_accept_error_cb);
	if (h->nls == 0)
		h->port = local_port(fd);
	h->ls[h->nls++] = l;
	return 0;
}

/* A socket bound to host:port (the first address that binds), or -1 with
 * *err said. */
static evutil_socket_t bind_hostport(const char *host, int port, int reuseport, char **err)
{
	struct addrinfo hints, *res = NULL, *ai;
	evutil_socket_t fd = -1;
	char service[8];
	int gai, e = 0;

	if (err)
		*err = NULL;
	if (!host)
		host = "0.0.0.0";
	if (port < 0 || port > 65535)
		return set_err(err, host, port, "invalid port");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(service, sizeof(service), "%d", port);
	if ((gai = getaddrinfo(host, service, &hints, &res)) != 0)
		return set_err(err, host, port, gai_strerror(gai));
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		if ((fd = listen_socket(ai, reuseport)) < 0)
			e = errno;
	if (fd < 0)
		set_err(err, host, port, strerror(e));
	freeaddrinfo(res);
	return fd;
}

int httpd_listen(struct httpd *h, const char *host, int port, int reuseport, char **err)
{
	evutil_socket_t fd = bind_hostport(host, port, reuseport, err);
	int e;

	if (fd < 0)
		return -1;
	if (httpd_add_listener(h, fd) < 0) {
		e = errno;
		close(fd);
		return set_err(err, host ? host : "0.0.0.0", port, e ? strerror(e) : "out of memory");
	}
	return 0;
}

int httpd_probe(const char *host, int port, char **err)
{
	evutil_socket_t fd = bind_hostport(host, port, 0, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

unsigned httpd_conn_count(const struct httpd *h)
{
	return h->nconns;
}

struct httpd_crowding httpd_take_crowding(struct httpd *h)
{
	struct httpd_crowding c = h->crowd;

	h->crowd = (struct httpd_crowding){ 0, 0 };
	return c;
}

static void httpd_free_listeners(struct httpd *h)
{
	size_t i;

	for (i = 0; i < h->nls; i++)
		evconnlistener_free(h->ls[i]);
	free(h->ls);
	h->ls = NULL;
	h->nls = 0;
}

/* Closes the listening sockets (so other workers sharing the port take the
 * new connections) and the connections that have no request under way. */
void httpd_stop_accepting(struct httpd *h)
{
	struct httpd_conn *c, *next;

	h->stopping = 1;
	httpd_free_listeners(h);
	evtimer_del(h->resume);
	for (c = h->conns; c; c = next) {
		next = c->next;
		if (conn_unused(c))
			conn_close(c, "server stopping");
	}
}

void httpd_free(struct httpd *h)
{
	if (!h || h->freeing)
		return;
	h->freeing = 1;
	h->stopping = 1;
	httpd_free_listeners(h);
	/* conn_close unlinks c, so this terminates even if an abort callback
	 * does something unexpected. */
	while (h->conns)
		conn_close(h->conns, "server shutting down");
	event_free(h->resume);
	free(h);
}

/* ---- public: request accessors ----------------------------------------- */

const char *http_req_method(const struct http_req *r)
{
	return r->have_line ? r->arena.data : "";
}

const char *http_req_target(const struct http_req *r)
{
	return r->have_line ? r->arena.data + r->target_off : "";
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	return http_hdr_get(r->hdrs, r->nhdrs, name);
}

unsigned http_req_header_count(const struct http_req *r, const char *name)
{
	return http_hdr_count(r->hdrs, r->nhdrs, name);
}

const struct http_hdr *http_req_headers(const struct http_req *r, size_t *n)
{
	*n = r->nhdrs;
	return r->hdrs;
}

const unsigned char *http_req_body(const struct http_req *r, size_t *len)
{
	/* A refused request's partial body is not offered. */
	if (len)
		*len = r->body_data_len;
	return r->body_data;
}

int http_req_is_tls(const struct http_req *r)
{
	return r->conn->h->tls != NULL;
}

X509 *http_req_peer_cert(const struct http_req *r)
{
	struct httpd_conn *c = r->conn;
	X509 *cert;
	SSL *ssl;

	if (c->closed || !c->h->tls || !(ssl = bufferevent_openssl_get_ssl(c->bev)))
		return NULL;
	cert = SSL_get0_peer_certificate(ssl);
	/* A presented but unverified certificate (verify callback that lets
	 * errors pass) is no identity. */
	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return cert;
}

const char *http_req_peer_addr(const struct http_req *r)
{
	return r->conn->peer;
}

void http_req_on_abort(struct http_req *r, void (*fn)(void *arg), void *arg)
{
	r->abort_fn = fn;
	r->abort_arg = arg;
}
