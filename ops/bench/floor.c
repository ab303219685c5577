/* floor: what the mandated libraries alone reach on the benchmark's path.
 *
 * A benchmark tool, not part of the gateway. Two processes make a relay pair
 * with no gateway logic at all: "front" is a libevent evhttp server on plain
 * HTTP that forwards each POST body over mutual TLS with the libcurl multi
 * interface driven by the same event loop (the gateway's client side);
 * "back" is an evhttp server behind OpenSSL bufferevents that requires a
 * client certificate and answers every request with the bytes of one file
 * (the gateway's server side, minus everything the gateway does). No XML,
 * no signatures, no message log, no access log. ops/bench/run.sh runs it
 * next to the nginx pair: its throughput bounds what any gateway built on
 * libevent + libcurl + OpenSSL can reach on this machine.
 *
 *   floor back  LISTEN-PORT CERT KEY CA REPLY-FILE
 *   floor front LISTEN-PORT UPSTREAM-URL CERT KEY CA
 *
 * Both listen on 127.0.0.1 and stop on SIGINT/SIGTERM. */
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct event_base *base;

static void die(const char *what)
{
	fprintf(stderr, "floor: %s\n", what);
	exit(1);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

/* evhttp leaves Nagle on (its head and body are two writes, and the second
 * waits for the peer's delayed ACK); the gateway and nginx set TCP_NODELAY.
 * Set on the listening socket, every accepted one inherits it. */
static struct evhttp *listen_on(const char *port)
{
	struct evhttp *h = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	int one = 1;

	if (!h || !(bs = evhttp_bind_socket_with_handle(h, "127.0.0.1", (unsigned short)atoi(port))) ||
	    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("cannot listen");
	evhttp_set_max_body_size(h, 10 * 1024 * 1024);
	return h;
}

/* ---- back: mutual TLS in, one file's bytes out ------------------------------ */

static struct evbuffer *reply;
static SSL_CTX *ctx;

static struct bufferevent *tls_bev(struct event_base *b, void *arg)
{
	SSL *ssl = SSL_new(ctx);

	(void)arg;
	return ssl ? bufferevent_openssl_socket_new(b, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE) : NULL;
}

static void back_handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/xml; charset=utf-8");
	evbuffer_add_buffer_reference(out, reply);
	evhttp_send_reply(req, 200, "OK", NULL);
	/* Head and body in one piece: one TLS record, one write (as the
	 * gateway's httpd sends an answer), not one of each. */
	if (bev)
		evbuffer_pullup(bufferevent_get_output(bev), -1);
}

static int back(char **a)
{
	struct evhttp *h;
	FILE *f = fopen(a[4], "rb");
	char chunk[65536];
	size_t n;

	if (!f || !(reply = evbuffer_new()))
		die("cannot read the reply file");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		evbuffer_add(reply, chunk, n);
	fclose(f);
	if (!(ctx = SSL_CTX_new(TLS_server_method())) ||
	    SSL_CTX_use_certificate_chain_file(ctx, a[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, a[2], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, a[3], NULL) != 1)
		die("bad TLS files");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Session resumption with client certificates needs a context id, or a
	 * reconnecting client gets an internal-error alert. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"benchfloor", 10);
	h = listen_on(a[0]);
	evhttp_set_bevcb(h, tls_bev, NULL);
	evhttp_set_gencb(h, back_handle, NULL);
	event_base_dispatch(base);
	evhttp_free(h);
	evbuffer_free(reply);
	SSL_CTX_free(ctx);
	return 0;
}

/* ---- front: plain HTTP in, libcurl multi out -------------------------------- */

static CURLM *multi;
static struct event *timer;
static const char *upstream, *cert, *key, *ca;
static struct curl_slist *hdrs;

struct call {
	CURL *easy;
	struct evhttp_request *req;
	struct evbuffer *body;      /* the answer as it comes */
	unsigned char *sent;        /* the request body, kept until the answer */
	struct call *next;          /* in the free list */
};

static struct call *pool;

static void check_done(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(multi, &left))) {
		struct call *c;
		long code = 502;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(multi, c->easy);
		evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type",
				  "text/xml; charset=utf-8");
		evhttp_send_reply(c->req, (int)code, m->data.result == CURLE_OK ? "Upstream" : "Bad Gateway",
				  m->data.result == CURLE_OK ? c->body : NULL);
		evbuffer_drain(c->body, evbuffer_get_length(c->body));
		free(c->sent);
		c->sent = NULL;
		c->req = NULL;
		c->next = pool;
		pool = c;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	int running;

	(void)fd;
	(void)what;
	(void)arg;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int set_timer(CURLM *m, long ms, void *arg)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)m;
	(void)arg;
	if (ms < 0)
		evtimer_del(timer);
	else
		evtimer_add(timer, &tv);
	return 0;
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
	int running, flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	(void)arg;
	curl_multi_socket_action(multi, fd, flags, &running);
	check_done();
}

static int set_sock(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct event *ev = sockp;
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);

	(void)e;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		curl_multi_assign(multi, s, NULL);
		return 0;
	}
	if (!ev) {
		ev = event_new(base, s, kind, on_sock, NULL);
		curl_multi_assign(multi, s, ev);
	} else if (event_get_events(ev) == kind) {
		return 0;               /* no epoll_ctl for what is already watched */
	} else {
		event_del(ev);
		event_assign(ev, base, s, kind, on_sock, NULL);
	}
	event_add(ev, NULL);
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;

	return evbuffer_add(c->body, p, size * n) == 0 ? size * n : 0;
}

static struct call *call_new(void)
{
	struct call *c = pool;

	if (c) {
		pool = c->next;
		return c;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->easy = curl_easy_init()) || !(c->body = evbuffer_new()))
		die("out of memory");
	curl_easy_setopt(c->easy, CURLOPT_URL, upstream);
	curl_easy_setopt(c->easy, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(c->easy, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c->easy, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 30000L);
	return c;
}

static void front_handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct call *c = call_new();

	(void)arg;
	if (!(c->sent = malloc(len ? len : 1)))
		die("out of memory");
	evbuffer_remove(in, c->sent, len);
	c->req = req;
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->sent);
	if (curl_multi_add_handle(multi, c->easy) != CURLM_OK)
		die("curl_multi_add_handle");
}

static int front(char **a)
{
	struct evhttp *h;

	upstream = a[1];
	cert = a[2];
	key = a[3];
	ca = a[4];
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(multi = curl_multi_init()) ||
	    !(timer = evtimer_new(base, on_timer, NULL)))
		die("cannot set up libcurl");
	hdrs = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, set_sock);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, set_timer);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);
	h = listen_on(a[0]);
	evhttp_set_gencb(h, front_handle, NULL);
	event_base_dispatch(base);
	evhttp_free(h);
	while (pool) {
		struct call *c = pool;
		pool = c->next;
		curl_easy_cleanup(c->easy);
		evbuffer_free(c->body);
		free(c);
	}
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdrs);
	event_free(timer);
	return 0;
}

int main(int argc, char **argv)
{
	struct event *sig[2];
	struct event_config *cfg;
	int rc;

	if (argc != 7 || (strcmp(argv[1], "back") != 0 && strcmp(argv[1], "front") != 0)) {
		fprintf(stderr, "usage: floor back PORT CERT KEY CA REPLY-FILE\n"
				"       floor front PORT UPSTREAM-URL CERT KEY CA\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* epoll changes gathered per loop turn (without: 6 epoll_ctl calls a request on the front, 4 on the back) */
	if (!(cfg = event_config_new()) ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) < 0 ||
	    !(base = event_base_new_with_config(cfg)))
		die("event_base_new");
	event_config_free(cfg);
	sig[0] = evsignal_new(base, SIGINT, on_signal, NULL);
	sig[1] = evsignal_new(base, SIGTERM, on_signal, NULL);
	if (!sig[0] || !sig[1] || event_add(sig[0], NULL) < 0 || event_add(sig[1], NULL) < 0)
		die("cannot watch signals");
	rc = argv[1][0] == 'b' ? back(argv + 2) : front(argv + 2);
	event_free(sig[0]);
	event_free(sig[1]);
	event_base_free(base);
	return rc;
}
