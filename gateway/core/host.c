/* The host table handed to adapters: see core/host.h. */
#include "core/host.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/gw.h"
#include "core/log.h"
#include "lib/crypto.h"
#include "lib/names.h"
#include "proto/rest.h"

/* ---- log and config ---------------------------------------------------- */

static void host_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void host_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
{
	struct adapter_host_ctx *h = ctx;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line((enum log_level)lvl, "event=adapter adapter=%s reqid=%s msg=\"%s\"", h->name,
		 reqid ? reqid : "-", msg);
}

static const char *host_config(void *ctx, const char *key)
{
	struct adapter_host_ctx *h = ctx;

	if (h->asked)
		names_add(h->asked, key);
	return config_adapter_get(h->cfg, h->name, key);
}

/* ---- calls through the exchange --------------------------------------- */

/* The call goes to this gateway's own client listener, exactly as an
 * information system's would: the pipeline identifies the client subsystem,
 * checks access, signs, logs and routes it. */
struct outcall {
	adapter_outcall_fn done;
	void *arg;
	char id[UUID_STR_LEN];
};

static void outcall_done(const struct out_resp *o, void *arg)
{
	struct outcall *c = arg;
	struct adapter_outcall_result r = { 0 };

	r.message_id = c->id;
	if (o->err == OUT_OK) {
		r.ok = 1;
		r.status = o->status;
		r.error_code = http_hdr_get(o->hdrs, o->nhdrs, "X-Road-Error");
		r.content_type = http_hdr_get(o->hdrs, o->nhdrs, "Content-Type");
		r.body = o->body;
		r.body_len = o->body_len;
		r.errmsg = "";
	} else {
		r.errmsg = o->errmsg && o->errmsg[0] ? o->errmsg : "the gateway did not answer";
	}
	c->done(&r, c->arg);
	free(c);
}

/* Appends "/" and the percent-encoded part (RFC 3986 unreserved kept). */
static int url_part(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";

	if (buf_puts(b, "/") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (buf_append(b, &s[i], 1) < 0)
				return -1;
		} else {
			char e[3] = { '%', hexd[ch >> 4], hexd[ch & 15] };
			if (buf_append(b, e, 3) < 0)
				return -1;
		}
	}
	return 0;
}

/* "INST/CLASS/CODE/SUB/serviceCode[/version]" -> the /r1/ target (the
 * version is not part of a REST address). -1 if it has not 5 or 6 parts. */
static int service_target(const char *service, const char *path, const char *query, struct buf *b)
{
	const char *p = service;
	int parts = 0;

	if (buf_puts(b, "/r1") < 0)
		return -1;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0)
			return -1;
		if (++parts <= 5 && url_part(b, p, n) < 0)
			return -1;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
	}
	if (parts < 5 || parts > 6)
		return -1;
	if (path && path[0] && (path[0] != '/' || buf_puts(b, path) < 0))
		return -1;
	if (query && query[0] && (buf_puts(b, "?") < 0 || buf_puts(b, query) < 0))
		return -1;
	return 0;
}

static int host_call(void *ctx, const struct adapter_outcall *c, adapter_outcall_fn done, void *arg)
{
	struct adapter_host_ctx *h = ctx;
	struct gw *g = h->gw;
	struct buf url = BUF_INIT;
	struct http_hdr hd[6];
	size_t nh = 0;
	struct out_req o = { 0 };
	struct outcall *oc;
	const char *colon = strrchr(g->cfg->client_listen, ':');
	char hostpart[256];

	if (!c || !c->client || !c->service || !c->method || !done || !h->w || !h->w->out || !colon)
		return -1;
	oc = calloc(1, sizeof(*oc));
	if (!oc)
		return -1;
	oc->done = done;
	oc->arg = arg;
	uuid4(oc->id);
	snprintf(hostpart, sizeof(hostpart), "%.*s", (int)(colon - g->cfg->client_listen),
		 g->cfg->client_listen);
	if (strcmp(hostpart, "0.0.0.0") == 0 || hostpart[0] == '\0')
		snprintf(hostpart, sizeof(hostpart), "127.0.0.1");
	if (buf_printf(&url, "http://%s:%d", hostpart, g->client_port) < 0 ||
	    service_target(c->service, c->path, c->query, &url) < 0)
		goto fail;
	hd[nh++] = (struct http_hdr){ "X-Road-Client", c->client };
	hd[nh++] = (struct http_hdr){ "X-Road-Id", oc->id };
	if (c->user_id && c->user_id[0])
		hd[nh++] = (struct http_hdr){ "X-Road-UserId", c->user_id };
	if (c->issue && c->issue[0])
		hd[nh++] = (struct http_hdr){ "X-Road-Issue", c->issue };
	if (c->body_len)
		hd[nh++] = (struct http_hdr){ "Content-Type",
					      c->content_type ? c->content_type : "application/json" };
	hd[nh++] = (struct http_hdr){ "Accept", "application/json" };
	o.method = c->method;
	o.url = url.data;
	o.hdrs = hd;
	o.nhdrs = nh;
	o.body = c->body;
	o.body_len = c->body_len;
	o.connect_timeout_ms = g->cfg->connect_timeout_ms;
	/* Our own pipeline answers within its outbound timeout plus slack. */
	o.timeout_ms = c->timeout_ms ? (long)c->timeout_ms :
				       (long)g->cfg->timeout_ms + (long)g->cfg->connect_timeout_ms + 4000;
	o.max_response = g->cfg->max_response;
	if (!outbound_send(h->w->out, &o, outcall_done, oc))
		goto fail;
	buf_free(&url);
	return 0;
fail:
	buf_free(&url);
	free(oc);
	return -1;
}

/* ---- blocking work on a background pool ------------------------------- */

struct job {
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
	struct event_base *base;
	struct job *next;
};

struct host_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	int stopping;
	unsigned n;
	pthread_t *threads;
};

static void job_back(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	j->done(j->arg);
	free(j);
}

static void *pool_main(void *arg)
{
	struct host_pool *p = arg;

	for (;;) {
		struct job *j;
		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		j = p->head;
		if (!j) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->work(j->arg);
		/* Back to the worker's loop (event_base_once is thread-safe with
		 * evthread_use_pthreads). Once stopping, the loop is gone. */
		if (p->stopping || event_base_once(j->base, -1, EV_TIMEOUT, job_back, j, NULL) < 0)
			free(j);
	}
}

struct host_pool *host_pool_new(unsigned threads, char **err)
{
	struct host_pool *p = calloc(1, sizeof(*p));

	if (!p || !(p->threads = calloc(threads ? threads : 1, sizeof(pthread_t)))) {
		free(p);
		*err = strdup("out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < (threads ? threads : 1); i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
			host_pool_free(p);
			*err = strdup("cannot start the background pool");
			return NULL;
		}
		pthread_setname_np(p->threads[i], "ag-pool");
		p->n++;
	}
	return p;
}

void host_pool_free(struct host_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head) {
		struct job *j = p->head;
		p->head = j->next;
		free(j);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}

static int host_run_blocking(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct adapter_host_ctx *h = ctx;
	struct host_pool *p = h->gw->pool;
	struct job *j;

	if (!p || !work || !done || !h->w || !h->w->base)
		return -1;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	*j = (struct job){ .work = work, .done = done, .arg = arg, .base = h->w->base };
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		return -1;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void host_init(struct adapter_host *h, struct adapter_host_ctx *hc, struct gw *g, struct worker *w,
	       const char *name)
{
	hc->gw = g;
	hc->w = w;
	hc->cfg = g->cfg;
	hc->name = name;
	hc->asked = NULL;
	h->ctx = hc;
	h->log = host_log;
	h->config = host_config;
	h->data_dir = g->cfg->data_dir;
	h->call = host_call;
	h->run_blocking = host_run_blocking;
}

/* ---- checking the configuration ---------------------------------------- */

/* A key of [adapter.NAME] the adapter never asked for while checking: a
 * misspelling ("valid_dayz") fell back to the default without a word. */
static int host_unread_key(const struct config *cfg, const char *name, const struct names *asked,
			   char **err)
{
	for (size_t i = 0; i < cfg->n_adapter_kv; i++) {
		const struct cfg_adapter_kv *kv = &cfg->adapter_kv[i];
		char list[512];

		if (strcmp(kv->adapter, name) != 0 || names_has(asked, kv->key))
			continue;
		names_join(asked, list, sizeof(list));
		if (asprintf(err, "[adapter.%s] %s: not a key the adapter reads with this configuration (a "
			     "misspelling?); it reads %s", name, kv->key, list) < 0)
			*err = NULL;
		return -1;
	}
	return 0;
}

static int host_check_one(const struct config *cfg, const struct adapter_ops *a, char **err)
{
	struct names asked = { 0 };
	struct adapter_host_ctx hc = { NULL, NULL, cfg, a->name, &asked };
	struct adapter_host h = {
		.ctx = &hc, .log = host_log, .config = host_config, .data_dir = cfg->data_dir,
		.check_only = 1,
	};
	void *ctx = NULL;
	char *e = NULL;

	if (a->init(&h, &ctx, &e) < 0) {
		if (asprintf(err, "adapter %s: %s", a->name, e ? e : "its configuration is not valid") < 0)
			*err = NULL;
		free(e);
		return -1;
	}
	a->free(ctx);
	return host_unread_key(cfg, a->name, &asked, err);
}

static int has_section(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_adapter_kv; i++)
		if (strcmp(cfg->adapter_kv[i].adapter, name) == 0)
			return 1;
	return 0;
}

int host_check_adapters(const struct config *cfg, int (*used)(const char *name, void *arg), void *arg,
			char **err)
{
	*err = NULL;
	for (size_t i = 0; i < cfg->n_adapter_kv; i++)
		if (!adapter_find(cfg->adapter_kv[i].adapter)) {
			char names[512] = "";
			size_t n = 0;

			for (size_t k = 0; k < adapter_count() && n < sizeof(names); k++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", k ? ", " : "",
						      adapter_at(k)->name);
			if (asprintf(err, "[adapter.%s]: no adapter of that name is built in (there are: %s)",
				     cfg->adapter_kv[i].adapter, names) < 0)
				*err = NULL;
			return -1;
		}
	for (size_t k = 0; k < adapter_count(); k++) {
		const struct adapter_ops *a = adapter_at(k);
		int want = used ? used(a->name, arg) : has_section(cfg, a->name);

		if (want && host_check_one(cfg, a, err) != 0)
			return -1;
	}
	return 0;
}
