/* Tests for net/outbound: a canned HTTP server on a thread (blocking sockets,
 * one thread per connection) and `openssl s_server` processes for TLS, all
 * on 127.0.0.1. Certificates are made at test time in a mkdtemp directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "net/outbound.h"

extern char **environ;

/* ---------------------------------------------------------------- server */

#define SRV_MAX_CONNS 128
#define SRV_REQ_MAX (64 * 1024)

struct srv {
	int lfd;
	int port;
	pthread_t acceptor;
	atomic_int accepted;
	pthread_mutex_t mu;
	int nconns;
	int fds[SRV_MAX_CONNS];
	pthread_t thr[SRV_MAX_CONNS];
};

struct conn {
	struct srv *s;
	int fd;
};

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Reads one request (head and Content-Length body) into buf (NUL-terminated). */
static int read_req(int fd, char *buf, size_t cap, size_t *len)
{
	size_t n = 0, head, cl = 0;
	char *end, *p;
	ssize_t r;

	buf[0] = '\0';
	while (!(end = strstr(buf, "\r\n\r\n"))) {
		if (n >= cap - 1 || (r = recv(fd, buf + n, cap - 1 - n, 0)) <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
	}
	head = (size_t)(end + 4 - buf);
	p = strcasestr(buf, "\r\ncontent-length:");
	if (p && p < end)
		cl = strtoul(p + 17, NULL, 10);
	if (head + cl > cap - 1)
		return -1;
	while (n < head + cl) {
		if ((r = recv(fd, buf + n, head + cl - n, 0)) <= 0)
			return -1;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Waits (bounded) until the client goes away. */
static void wait_close(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c[256];

	while (poll(&p, 1, 5000) > 0 && recv(fd, c, sizeof(c), 0) > 0)
		;
}

static int serve_big(int fd)
{
	static char chunk[16384];

	memset(chunk, 'x', sizeof(chunk));
	if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n") < 0)
		return -1;
	for (int i = 0; i < 64; i++)
		if (send_all(fd, chunk, sizeof(chunk)) < 0)
			return -1;
	return 0;
}

static int serve_many_headers(int fd)
{
	char line[64];

	if (send_str(fd, "HTTP/1.1 200 OK\r\n") < 0)
		return -1;
	for (int i = 0; i < 300; i++) {
		snprintf(line, sizeof(line), "X-H%d: %d\r\n", i, i);
		if (send_str(fd, line) < 0)
			return -1;
	}
	return send_str(fd, "Content-Length: 0\r\n\r\n");
}

static int serve_echo(int fd, const char *req, size_t len)
{
	char head[128];

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
	if (send_str(fd, head) < 0)
		return -1;
	return send_all(fd, req, len);
}

static const struct {
	const char *path;
	const char *resp;
} canned[] = {
	{ "/ok", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test: a\r\n"
		 "X-Test:   b  \r\nContent-Length: 5\r\n\r\nhello" },
	{ "/redirect", "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 5\r\n\r\nmoved" },
	{ "/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "3\r\nhel\r\n8\r\nlo world\r\n0\r\nX-Trailer: t\r\n\r\n" },
	{ "/continue", "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
		       "HTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok" },
	{ "/fold", "HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\nContent-Length: 0\r\n\r\n" },
	{ "/garbage", "NOT HTTP AT ALL\r\n\r\n" },
};

/* Answers one request; returns -1 when the connection should end. */
static int serve_one(int fd, const char *req, size_t len)
{
	char method[16] = "", path[128] = "";
	int head;

	if (sscanf(req, "%15s %127s", method, path) != 2)
		return -1;
	head = strcmp(method, "HEAD") == 0;
	for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
		if (strcmp(path, canned[i].path) == 0) {
			const char *r = canned[i].resp;
			size_t n = strlen(r);

			if (head)   /* HEAD: the head only */
				n = (size_t)(strstr(r, "\r\n\r\n") + 4 - r);
			return send_all(fd, r, n);
		}
	if (strcmp(path, "/echo") == 0)
		return serve_echo(fd, req, len);
	if (strcmp(path, "/big") == 0)
		return serve_big(fd);
	if (strcmp(path, "/manyhdrs") == 0)
		return serve_many_headers(fd);
	if (strcmp(path, "/slow") == 0)
		wait_close(fd);
	return -1;      /* /close, /slow, unknown: end without an answer */
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	char *buf = malloc(SRV_REQ_MAX);
	size_t len;

	while (buf && read_req(c->fd, buf, SRV_REQ_MAX, &len) == 0 &&
	       serve_one(c->fd, buf, len) == 0)
		;
	shutdown(c->fd, SHUT_RDWR);     /* closed by srv_stop, after the join */
	free(buf);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct srv *s = arg;
	int fd;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0) {
		struct conn *c = malloc(sizeof(*c));

		atomic_fetch_add(&s->accepted, 1);
		pthread_mutex_lock(&s->mu);
		if (!c || s->nconns == SRV_MAX_CONNS) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			free(c);
			continue;
		}
		c->s = s;
		c->fd = fd;
		s->fds[s->nconns] = fd;
		if (pthread_create(&s->thr[s->nconns], NULL, conn_main, c) == 0)
			s->nconns++;
		else {
			close(fd);
			free(c);
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static struct srv *srv_start(void)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = listen_any(&s->port);
	assert_true(s->lfd >= 0);
	assert_int_equal(pthread_create(&s->acceptor, NULL, accept_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	shutdown(s->lfd, SHUT_RDWR);    /* wakes accept() */
	pthread_join(s->acceptor, NULL);
	for (int i = 0; i < s->nconns; i++) {
		shutdown(s->fds[i], SHUT_RDWR);
		pthread_join(s->thr[i], NULL);
		close(s->fds[i]);
	}
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* A port nobody listens on (bound, then closed). */
static int dead_port(void)
{
	int port = 0, fd = listen_any(&port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

/* ---------------------------------------------------------------- results */

struct res {
	int calls;
	enum out_err err;
	long status;
	char errmsg[600];
	char *body;
	size_t body_len;
	char hdrs[4096];        /* "name: value\n" per header */
	size_t nhdrs;
};

static void on_done(const struct out_resp *r, void *arg)
{
	struct res *x = arg;
	size_t off = 0;

	x->calls++;
	x->err = r->err;
	x->status = r->status;
	snprintf(x->errmsg, sizeof(x->errmsg), "%s", r->errmsg);
	free(x->body);
	x->body = malloc(r->body_len + 1);
	assert_non_null(x->body);
	memcpy(x->body, r->body, r->body_len + 1);  /* includes the promised NUL */
	x->body_len = r->body_len;
	x->nhdrs = r->nhdrs;
	x->hdrs[0] = '\0';
	for (size_t i = 0; i < r->nhdrs && off < sizeof(x->hdrs); i++)
		off += (size_t)snprintf(x->hdrs + off, sizeof(x->hdrs) - off, "%s: %s\n",
					r->hdrs[i].name, r->hdrs[i].value);
}

static void res_clear(struct res *x)
{
	free(x->body);
	memset(x, 0, sizeof(*x));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs the loop until *count reaches target or ms pass. */
static void run_until(struct event_base *b, const int *count, int target, long ms)
{
	struct event *tick = event_new(b, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };
	long end = now_ms() + ms;

	assert_non_null(tick);
	event_add(tick, &tv);
	while ((!count || *count < target) && now_ms() < end)
		event_base_loop(b, EVLOOP_ONCE);
	event_free(tick);
}

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct srv *srv;
	struct event_base *base;
	struct outbound *out;
	char url[256];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *err = NULL;

	assert_non_null(f);
	f->srv = srv_start();
	f->base = event_base_new();
	assert_non_null(f->base);
	f->out = outbound_new(f->base, &err);
	assert_non_null(f->out);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	outbound_free(f->out);
	event_base_free(f->base);
	srv_stop(f->srv);
	free(f);
	return 0;
}

static const char *url(struct fx *f, const char *path)
{
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d%s", f->srv->port, path);
	return f->url;
}

/* Sends req and runs the loop until done (asserting it is not called early). */
static void do_req(struct fx *f, struct out_req *req, struct res *x)
{
	if (!req->timeout_ms)
		req->timeout_ms = 5000;
	if (!req->connect_timeout_ms)
		req->connect_timeout_ms = 2000;
	assert_non_null(outbound_send(f->out, req, on_done, x));
	assert_int_equal(x->calls, 0);          /* never from inside send */
	assert_int_equal(outbound_active(f->out), 1);
	run_until(f->base, &x->calls, 1, 8000);
	assert_int_equal(x->calls, 1);
	assert_int_equal(outbound_active(f->out), 0);
}

/* ---------------------------------------------------------------- plain tests */

static const struct {
	const char *method, *path;
	size_t max;
	long timeout_ms;
	enum out_err err;
	long status;
	const char *body;       /* NULL: not checked */
	size_t body_len;
	const char *has_hdrs;   /* substring of the header dump, or NULL */
	const char *not_hdrs;
} plain_cases[] = {
	{ "GET", "/ok", 1024, 0, OUT_OK, 200, "hello", 5, "X-Test: a\nX-Test: b\n", NULL },
	{ "HEAD", "/ok", 1024, 0, OUT_OK, 200, "", 0, "Content-Length: 5\n", NULL },
	{ "GET", "/redirect", 1024, 0, OUT_OK, 302, "moved", 5, "Location: /ok\n", NULL },
	{ "GET", "/chunked", 1024, 0, OUT_OK, 200, "hello world", 11,
	  "Transfer-Encoding: chunked\n", "X-Trailer" },
	{ "GET", "/continue", 1024, 0, OUT_OK, 200, "ok", 2, "X-Final: 1\n", "X-Interim" },
	{ "GET", "/fold", 1024, 0, OUT_OK, 200, "", 0, "X-Fold: a b\n", NULL },
	{ "GET", "/big", 65536, 0, OUT_ERR_TOO_LARGE, 0, NULL, 0, NULL, NULL },
	{ "GET", "/big", 2 << 20, 0, OUT_OK, 200, NULL, 1 << 20, NULL, NULL },
	{ "GET", "/big", 1 << 20, 0, OUT_OK, 200, NULL, 1 << 20, NULL, NULL },
	{ "GET", "/big", (1 << 20) - 1, 0, OUT_ERR_TOO_LARGE, 0, NULL, 0, NULL, NULL },
	{ "GET", "/manyhdrs", 1024, 0, OUT_ERR_TOO_LARGE, 0, NULL, 0, NULL, NULL },
	{ "GET", "/close", 1024, 0, OUT_ERR_IO, 0, NULL, 0, NULL, NULL },
	{ "GET", "/garbage", 1024, 0, OUT_ERR_IO, 0, NULL, 0, NULL, NULL },
	{ "GET", "/slow", 1024, 300, OUT_ERR_TIMEOUT, 0, NULL, 0, NULL, NULL },
};

static void test_plain_cases(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		struct res x = { 0 };
		struct out_req req = { .method = plain_cases[i].method,
				       .url = url(f, plain_cases[i].path),
				       .max_response = plain_cases[i].max,
				       .timeout_ms = plain_cases[i].timeout_ms };

		print_message("case %zu: %s %s\n", i, req.method, plain_cases[i].path);
		do_req(f, &req, &x);
		assert_int_equal(x.err, plain_cases[i].err);
		assert_int_equal(x.status, plain_cases[i].status);
		if (x.err == OUT_OK) {
			assert_string_equal(x.errmsg, "");
			assert_int_equal(x.body_len, plain_cases[i].body_len);
			assert_int_equal(x.body[x.body_len], '\0');
		} else {
			assert_true(strlen(x.errmsg) > 0);
		}
		if (plain_cases[i].body)
			assert_memory_equal(x.body, plain_cases[i].body, x.body_len);
		if (plain_cases[i].has_hdrs)
			assert_non_null(strstr(x.hdrs, plain_cases[i].has_hdrs));
		if (plain_cases[i].not_hdrs)
			assert_null(strstr(x.hdrs, plain_cases[i].not_hdrs));
		res_clear(&x);
	}
}

static void test_errmsg_texts(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 };
	struct out_req req = { .url = url(f, "/big"), .max_response = 1000 };

	do_req(f, &req, &x);
	assert_int_equal(x.err, OUT_ERR_TOO_LARGE);
	assert_non_null(strstr(x.errmsg, "1000 bytes"));
	res_clear(&x);
	req.url = url(f, "/slow");
	req.timeout_ms = 200;
	do_req(f, &req, &x);
	assert_int_equal(x.err, OUT_ERR_TIMEOUT);
	assert_non_null(strstr(x.errmsg, "timed out"));
	assert_true(x.status == 0 && x.body_len == 0 && x.nhdrs == 0);
	res_clear(&x);
}

static void test_connect_refused(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 };
	char u[64];
	struct out_req req = { .url = u, .max_response = 100 };

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", dead_port());
	do_req(f, &req, &x);
	assert_int_equal(x.err, OUT_ERR_CONNECT);
	assert_true(strlen(x.errmsg) > 0);
	res_clear(&x);
}

static void test_post_echo(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 };
	char body[3000];
	const struct http_hdr hdrs[] = { { "X-Req", "one" }, { "X-Empty", "" } };
	struct out_req req = { .method = "POST", .url = url(f, "/echo"), .hdrs = hdrs,
			       .nhdrs = 2, .body = body, .body_len = sizeof(body),
			       .max_response = 8192 };

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	do_req(f, &req, &x);
	body[0] = 'Z';  /* the request was copied: changing it now changes nothing */
	assert_int_equal(x.err, OUT_OK);
	assert_non_null(strstr(x.body, "POST /echo HTTP/1.1\r\n"));
	assert_non_null(strstr(x.body, "\r\nContent-Length: 3000\r\n"));
	assert_non_null(strstr(x.body, "\r\nX-Req: one\r\n"));
	assert_non_null(strstr(x.body, "\r\nX-Empty:"));
	assert_non_null(strstr(x.body, "\r\nAccept: */*\r\n"));
	assert_null(strcasestr(x.body, "Expect:"));
	assert_null(strcasestr(x.body, "Content-Type"));
	assert_null(strcasestr(x.body, "User-Agent"));
	assert_true(x.body_len > sizeof(body));
	assert_int_equal(x.body[x.body_len - sizeof(body)], 'a');
	assert_int_equal(x.body[x.body_len - 1], 'a' + (sizeof(body) - 1) % 26);
	res_clear(&x);
}

static const struct {
	const char *method;
	const char *body;
	const struct http_hdr hdr;
	const char *want;       /* in the echoed request */
	const char *absent;
} method_cases[] = {
	{ "PUT", "x=1", { "Content-Type", "text/xml" }, "PUT /echo HTTP/1.1\r\n", "x-www-form" },
	{ "DELETE", NULL, { "Accept", "text/xml" }, "DELETE /echo HTTP/1.1\r\n", "*/*" },
	{ "PATCH", "{}", { "Accept", "application/json" }, "\r\n\r\n{}", "*/*" },
	{ "GET", NULL, { "X-A", "b" }, "GET /echo HTTP/1.1\r\n", "Content-Length" },
	{ "POST", NULL, { "X-A", "b" }, "\r\nContent-Length: 0\r\n", "Content-Type" },
	{ "OPTIONS", NULL, { "X-A", "b" }, "OPTIONS /echo HTTP/1.1\r\n", NULL },
};

static void test_methods(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(method_cases) / sizeof(method_cases[0]); i++) {
		struct res x = { 0 };
		const char *b = method_cases[i].body;
		struct out_req req = { .method = method_cases[i].method, .url = url(f, "/echo"),
				       .hdrs = &method_cases[i].hdr, .nhdrs = 1, .body = b,
				       .body_len = b ? strlen(b) : 0, .max_response = 8192 };

		print_message("case %zu: %s\n", i, req.method);
		do_req(f, &req, &x);
		assert_int_equal(x.err, OUT_OK);
		assert_non_null(strstr(x.body, method_cases[i].want));
		if (method_cases[i].absent)
			assert_null(strstr(x.body, method_cases[i].absent));
		res_clear(&x);
	}
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	const struct http_hdr inj = { "X-A", "b\r\nX-Evil: 1" }, badname = { "X A", "b" };
	const unsigned char pin[SHA256_LEN] = { 0 };
	const struct out_tls tls = { .pin_sha256 = pin };
	struct out_req bad[] = {
		{ .url = NULL },
		{ .url = "ftp://127.0.0.1/" },
		{ .url = "file:///etc/passwd" },
		{ .url = "http://127.0.0.1/\r\nX: y" },
		{ .method = "G ET", .url = "http://127.0.0.1/" },
		{ .method = "", .url = "http://127.0.0.1/" },
		{ .url = "http://127.0.0.1/", .hdrs = &inj, .nhdrs = 1 },
		{ .url = "http://127.0.0.1/", .hdrs = &badname, .nhdrs = 1 },
		{ .url = "http://127.0.0.1/", .nhdrs = 1 },
		{ .method = "HEAD", .url = "http://127.0.0.1/", .body = "x", .body_len = 1 },
		{ .url = "http://127.0.0.1/", .body_len = 1 },
		{ .url = "http://127.0.0.1/", .tls = &tls },
		{ .url = "http://127.0.0.1/", .timeout_ms = -1 },
	};
	struct res x = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu\n", i);
		assert_null(outbound_send(f->out, &bad[i], on_done, &x));
	}
	assert_null(outbound_send(f->out, &bad[1], NULL, &x));
	assert_int_equal(outbound_active(f->out), 0);
	run_until(f->base, NULL, 0, 50);
	assert_int_equal(x.calls, 0);
}

/* 5 sequential requests over one kept-alive connection, with a bogus proxy in
 * the environment that must be ignored. */
static void test_keepalive(void **state)
{
	struct fx *f = *state;
	char proxy[64];

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port());
	setenv("http_proxy", proxy, 1);
	setenv("HTTPS_PROXY", proxy, 1);
	for (int i = 0; i < 5; i++) {
		struct res x = { 0 };
		struct out_req req = { .url = url(f, "/ok"), .max_response = 100 };

		do_req(f, &req, &x);
		assert_int_equal(x.err, OUT_OK);
		assert_string_equal(x.body, "hello");
		res_clear(&x);
	}
	unsetenv("http_proxy");
	unsetenv("HTTPS_PROXY");
	assert_int_equal(atomic_load(&f->srv->accepted), 1);
}

#define NCONC 50

static int conc_total;

static void on_done_count(const struct out_resp *r, void *arg)
{
	struct res *x = arg;

	conc_total++;
	on_done(r, x);
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	struct res *x = calloc(NCONC, sizeof(*x));
	struct out_req req = { .url = url(f, "/ok"), .max_response = 100, .timeout_ms = 8000,
			       .connect_timeout_ms = 5000 };

	assert_non_null(x);
	conc_total = 0;
	for (int i = 0; i < NCONC; i++)
		assert_non_null(outbound_send(f->out, &req, on_done_count, &x[i]));
	assert_int_equal(conc_total, 0);
	assert_int_equal(outbound_active(f->out), NCONC);
	run_until(f->base, &conc_total, NCONC, 10000);
	run_until(f->base, NULL, 0, 50);        /* nothing more may arrive */
	assert_int_equal(conc_total, NCONC);
	assert_int_equal(outbound_active(f->out), 0);
	for (int i = 0; i < NCONC; i++) {
		assert_int_equal(x[i].calls, 1);
		assert_int_equal(x[i].err, OUT_OK);
		assert_string_equal(x[i].body, "hello");
		res_clear(&x[i]);
	}
	free(x);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 }, y = { 0 };
	struct out_req req = { .url = url(f, "/slow"), .max_response = 100, .timeout_ms = 5000 };
	struct out_handle *a, *b;

	a = outbound_send(f->out, &req, on_done, &x);
	b = outbound_send(f->out, &req, on_done, &y);
	assert_non_null(a);
	assert_non_null(b);
	outbound_cancel(b);             /* before the loop ever ran */
	run_until(f->base, NULL, 0, 150);       /* a is connected and waiting */
	assert_int_equal(outbound_active(f->out), 1);
	outbound_cancel(a);
	assert_int_equal(outbound_active(f->out), 0);
	run_until(f->base, NULL, 0, 200);
	assert_int_equal(x.calls + y.calls, 0);
	/* the outbound is still usable */
	req.url = url(f, "/ok");
	do_req(f, &req, &x);
	assert_int_equal(x.err, OUT_OK);
	res_clear(&x);
}

/* A done callback that starts the next request and cancels itself (no-op). */
struct chain {
	struct fx *f;
	struct out_handle *self;
	int left;
	int calls;
	int ok;
};

static void on_chain(const struct out_resp *r, void *arg)
{
	struct chain *c = arg;
	struct out_req req = { .url = url(c->f, "/ok"), .max_response = 100, .timeout_ms = 5000 };

	c->calls++;
	c->ok += r->err == OUT_OK && r->body_len == 5;
	outbound_cancel(c->self);
	c->self = NULL;
	if (--c->left > 0)
		c->self = outbound_send(c->f->out, &req, on_chain, c);
}

static void test_chain_from_done(void **state)
{
	struct fx *f = *state;
	struct chain c = { .f = f, .left = 3 };
	struct out_req req = { .url = url(f, "/ok"), .max_response = 100, .timeout_ms = 5000 };

	c.self = outbound_send(f->out, &req, on_chain, &c);
	assert_non_null(c.self);
	run_until(f->base, &c.calls, 3, 5000);
	assert_int_equal(c.calls, 3);
	assert_int_equal(c.ok, 3);
	assert_int_equal(outbound_active(f->out), 0);
}

/* Freed with requests in flight: no callback, no leak (ASan checks). */
static void test_free_in_flight(void **state)
{
	struct fx *f = *state;
	struct res x[4] = { { 0 } };
	struct out_req req = { .url = url(f, "/slow"), .max_response = 100, .timeout_ms = 5000 };

	for (int i = 0; i < 3; i++)
		assert_non_null(outbound_send(f->out, &req, on_done, &x[i]));
	req.url = url(f, "/ok");
	assert_non_null(outbound_send(f->out, &req, on_done, &x[3]));
	run_until(f->base, &x[3].calls, 1, 5000);  /* one idle kept-alive connection too */
	assert_int_equal(x[3].calls, 1);
	assert_int_equal(outbound_active(f->out), 3);
	outbound_free(f->out);
	f->out = NULL;
	run_until(f->base, NULL, 0, 50);
	assert_int_equal(x[0].calls + x[1].calls + x[2].calls, 0);
	res_clear(&x[3]);
}

/* A done callback frees the whole outbound while others are in flight. */
static void on_done_free(const struct out_resp *r, void *arg)
{
	struct fx *f = arg;

	assert_int_equal(r->err, OUT_OK);
	outbound_free(f->out);
	f->out = NULL;
}

static void test_free_from_done(void **state)
{
	struct fx *f = *state;
	struct res x[2] = { { 0 } };
	struct out_req req = { .url = url(f, "/slow"), .max_response = 100, .timeout_ms = 5000 };
	struct outbound *o = f->out;

	for (int i = 0; i < 2; i++)
		assert_non_null(outbound_send(o, &req, on_done, &x[i]));
	req.url = url(f, "/ok");
	assert_non_null(outbound_send(o, &req, on_done_free, f));
	run_until(f->base, NULL, 0, 300);
	assert_null(f->out);
	assert_int_equal(x[0].calls + x[1].calls, 0);
}

/* ---------------------------------------------------------------- TLS */

static char tmpdir[64];
static unsigned char srv_pin[SHA256_LEN];

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cmd(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static const char *tpath(char *out, const char *name)
{
	snprintf(out, 256, "%s/%s", tmpdir, name);
	return out;
}

#define KEYOPT "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

/* Leaf certificate name, issuing CA, extensions file. */
static int make_leaf(const char *name, const char *ca, const char *ext)
{
	return run_cmd("cd %s && openssl req " KEYOPT " -keyout %s.key -out %s.csr -subj /CN=%s "
		       ">/dev/null 2>&1 && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
		       "-CAcreateserial -days 2 -extfile %s -out %s.pem >/dev/null 2>&1",
		       tmpdir, name, name, name, name, ca, ca, ext, name);
}

static int cert_sha256(const char *file, unsigned char *out)
{
	FILE *fp = fopen(file, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = x ? i2d_X509(x, &der) : -1;
	int rc = n > 0 ? sha256(der, (size_t)n, out) : -1;

	OPENSSL_free(der);
	X509_free(x);
	if (fp)
		fclose(fp);
	return rc;
}

static int make_pki(void)
{
	char p[256];

	strcpy(tmpdir, "/tmp/test_outbound.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (run_cmd("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n"
		    "extendedKeyUsage=serverAuth\\n' > srv.ext && "
		    "printf 'subjectAltName=DNS:other.example\\n' > name.ext && "
		    "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext", tmpdir) != 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (run_cmd("cd %s && openssl req -x509 " KEYOPT " -keyout %s.key -out %s.pem "
			    "-subj /CN=%s -days 2 >/dev/null 2>&1", tmpdir, i ? "ca2" : "ca",
			    i ? "ca2" : "ca", i ? "Other-CA" : "Test-CA") != 0)
			return -1;
	if (make_leaf("srv", "ca", "srv.ext") || make_leaf("srv2", "ca2", "srv.ext") ||
	    make_leaf("name", "ca", "name.ext") || make_leaf("cli", "ca", "cli.ext"))
		return -1;
	return cert_sha256(tpath(p, "srv.pem"), srv_pin);
}

struct sserver {
	pid_t pid;
	int port;
};

/* Reads the "ACCEPT host:port" line s_server prints once it listens. */
static int wait_accept_line(const char *log, int *port)
{
	for (int i = 0; i < 500; i++) {
		char line[256];
		FILE *fp = fopen(log, "r");

		while (fp && fgets(line, sizeof(line), fp))
			if (strncmp(line, "ACCEPT ", 7) == 0 && strrchr(line, ':')) {
				*port = atoi(strrchr(line, ':') + 1);
				fclose(fp);
				return *port > 0 ? 0 : -1;
			}
		if (fp)
			fclose(fp);
		usleep(10000);
	}
	return -1;
}

/* openssl s_server -www with cert <name>, optionally requiring a client
 * certificate issued by ca.pem, optionally TLS 1.2 only. */
static void sserver_start(struct sserver *s, const char *name, int need_client, int tls12)
{
	char cert[256], key[256], ca[256], log[256];
	posix_spawn_file_actions_t fa;
	char *argv[20];
	int n = 0;

	snprintf(cert, sizeof(cert), "%s/%s.pem", tmpdir, name);
	snprintf(key, sizeof(key), "%s/%s.key", tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.%d.log", tmpdir, name, need_client);
	tpath(ca, "ca.pem");
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-www";
	argv[n++] = "-accept";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "-cert";
	argv[n++] = cert;
	argv[n++] = "-key";
	argv[n++] = key;
	if (need_client) {
		argv[n++] = "-Verify";
		argv[n++] = "1";
		argv[n++] = "-CAfile";
		argv[n++] = ca;
	}
	if (tls12)
		argv[n++] = "-tls1_2";
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	assert_int_equal(posix_spawnp(&s->pid, "openssl", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(wait_accept_line(log, &s->port), 0);
}

static void sserver_stop(struct sserver *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

struct tls_case {
	const char *server;     /* certificate the server presents */
	int need_client;
	int send_client;
	int pin;                /* 0 none, 1 right, 2 wrong */
	int verify_host;
	const char *host;
	enum out_err err;       /* -1: any error */
};

static const struct tls_case tls_cases[] = {
	{ "srv", 0, 0, 1, 1, "127.0.0.1", OUT_OK },
	{ "srv", 0, 0, 0, 1, "127.0.0.1", OUT_OK },
	{ "srv", 0, 0, 2, 1, "127.0.0.1", OUT_ERR_PEER_CERT },
	{ "srv2", 0, 0, 0, 1, "127.0.0.1", OUT_ERR_TLS },       /* untrusted CA */
	{ "srv2", 0, 0, 1, 0, "127.0.0.1", OUT_ERR_TLS },       /* a pin trusts nothing */
	{ "name", 0, 0, 0, 1, "127.0.0.1", OUT_ERR_TLS },       /* name mismatch */
	{ "name", 0, 0, 0, 0, "127.0.0.1", OUT_OK },
	{ "srv", 1, 1, 1, 1, "127.0.0.1", OUT_OK },             /* client cert required */
	{ "srv", 1, 0, 1, 1, "127.0.0.1", (enum out_err)-1 },   /* ... and missing */
};

static void tls_fill(const struct tls_case *c, struct out_tls *t, char *paths, unsigned char *pin)
{
	memset(t, 0, sizeof(*t));
	t->ca_file = tpath(paths, "ca.pem");
	if (c->send_client) {
		t->cert_file = tpath(paths + 256, "cli.pem");
		t->key_file = tpath(paths + 512, "cli.key");
	}
	memcpy(pin, srv_pin, SHA256_LEN);
	pin[0] ^= (unsigned char)(c->pin == 2);
	if (c->pin == 1 && strcmp(c->server, "srv2") == 0) /* the right pin of srv2 */
		assert_int_equal(cert_sha256(tpath(paths + 768, "srv2.pem"), pin), 0);
	t->pin_sha256 = c->pin ? pin : NULL;
	t->verify_host = c->verify_host;
}

static void test_tls_cases(void **state)
{
	for (size_t i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
		const struct tls_case *c = &tls_cases[i];
		struct event_base *base = event_base_new();
		struct outbound *out = outbound_new(base, NULL);
		struct sserver s;
		struct res x = { 0 };
		char u[128], paths[1024];
		unsigned char pin[SHA256_LEN];
		struct out_tls t;
		struct out_req req = { .url = u, .tls = &t, .max_response = 1 << 16,
				       .timeout_ms = 5000, .connect_timeout_ms = 2000 };

		print_message("case %zu: %s\n", i, c->server);
		assert_non_null(out);
		sserver_start(&s, c->server, c->need_client, 0);
		snprintf(u, sizeof(u), "https://%s:%d/", c->host, s.port);
		tls_fill(c, &t, paths, pin);
		assert_non_null(outbound_send(out, &req, on_done, &x));
		assert_int_equal(x.calls, 0);
		run_until(base, &x.calls, 1, 8000);
		assert_int_equal(x.calls, 1);
		if (c->err == (enum out_err)-1)
			assert_int_not_equal(x.err, OUT_OK);
		else
			assert_int_equal(x.err, c->err);
		if (x.err == OUT_OK) {
			assert_int_equal(x.status, 200);
			assert_non_null(strstr(x.body, "Cipher"));
		}
		res_clear(&x);
		outbound_free(out);
		event_base_free(base);
		sserver_stop(&s);
	}
}

/* s_server -www closes after each answer, so every request is a new
 * connection and the later ones resume the TLS session: the handshake's verify
 * callback does not run then, and the pin must still be enforced. */
static void test_tls_pin_resumed(void **state)
{
	struct event_base *base = event_base_new();
	struct outbound *out = outbound_new(base, NULL);
	struct sserver s;
	char u[128], ca[256], want[2 * SHA256_LEN + 1];
	unsigned char wrong[SHA256_LEN];
	struct out_tls t = { .ca_file = tpath(ca, "ca.pem"), .pin_sha256 = srv_pin,
			     .verify_host = 1 };
	struct out_req req = { .url = u, .tls = &t, .max_response = 1 << 16, .timeout_ms = 5000 };
	static const struct {
		int wrong;
		enum out_err err;
		const char *body;
	} steps[] = {
		{ 0, OUT_OK, "New, " }, { 0, OUT_OK, "Reused, " },
		{ 1, OUT_ERR_PEER_CERT, NULL },
		{ 0, OUT_OK, "Cipher" },    /* resumed or not: OpenSSL may drop the aborted session */
	};

	assert_non_null(out);
	sserver_start(&s, "srv", 0, 0);
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/", s.port);
	memcpy(wrong, srv_pin, SHA256_LEN);
	wrong[31] ^= 0x55;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct res x = { 0 };

		t.pin_sha256 = steps[i].wrong ? wrong : srv_pin;
		assert_non_null(outbound_send(out, &req, on_done, &x));
		run_until(base, &x.calls, 1, 5000);
		assert_int_equal(x.calls, 1);
		print_message("step %zu: err %d %s\n", i, x.err, x.errmsg);
		assert_int_equal(x.err, steps[i].err);
		if (steps[i].body)
			assert_non_null(strstr(x.body, steps[i].body));
		if (x.err == OUT_ERR_PEER_CERT) {
			/* names the certificate presented and the one expected */
			assert_non_null(strstr(x.errmsg, "CN=srv"));
			hex_encode(srv_pin, SHA256_LEN, want);
			assert_non_null(strstr(x.errmsg, want));
			hex_encode(wrong, SHA256_LEN, want);
			assert_non_null(strstr(x.errmsg, want));
		}
		res_clear(&x);
	}
	outbound_free(out);
	event_base_free(base);
	sserver_stop(&s);
}

/* First contact with a wrong pin is refused inside the handshake. To tell
 * that from the later per-request check: TLS 1.2 and a server that demands a
 * client certificate we do not send. The client checks the server's
 * certificate before the server can refuse us, so only a handshake-time pin
 * check yields OUT_ERR_PEER_CERT; without it the server's refusal would make
 * it OUT_ERR_TLS and the per-request check would never run. */
static void test_tls_pin_handshake(void **state)
{
	struct event_base *base = event_base_new();
	struct outbound *out = outbound_new(base, NULL);
	struct sserver s;
	char u[128], ca[256], want[2 * SHA256_LEN + 1];
	unsigned char wrong[SHA256_LEN] = { 1, 2, 3 };
	struct out_tls t = { .ca_file = tpath(ca, "ca.pem"), .pin_sha256 = wrong };
	struct out_req req = { .url = u, .tls = &t, .max_response = 1 << 16, .timeout_ms = 5000 };
	struct res x = { 0 };

	sserver_start(&s, "srv", 1, 1);
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/", s.port);
	for (int i = 0; i < 2; i++) {
		t.pin_sha256 = i ? srv_pin : wrong;
		assert_non_null(outbound_send(out, &req, on_done, &x));
		run_until(base, &x.calls, 1, 5000);
		assert_int_equal(x.calls, 1);
		print_message("pin %s: err %d %s\n", i ? "right" : "wrong", x.err, x.errmsg);
		if (i == 0) {
			assert_int_equal(x.err, OUT_ERR_PEER_CERT);
			hex_encode(srv_pin, SHA256_LEN, want);
			assert_non_null(strstr(x.errmsg, want));
		} else {        /* the right pin gets as far as the server's refusal */
			assert_true(x.err == OUT_ERR_TLS || x.err == OUT_ERR_IO);
		}
		res_clear(&x);
	}
	outbound_free(out);
	event_base_free(base);
	sserver_stop(&s);
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	if (outbound_global_init() != 0 || outbound_global_init() != 0)
		return -1;
	return make_pki();
}

static int group_teardown(void **state)
{
	if (tmpdir[0])
		run_cmd("rm -rf '%s'", tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_cases, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_errmsg_texts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_post_echo, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_methods, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_chain_from_done, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_from_done, fx_setup, fx_teardown),
		cmocka_unit_test(test_tls_cases),
		cmocka_unit_test(test_tls_pin_resumed),
		cmocka_unit_test(test_tls_pin_handshake),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
