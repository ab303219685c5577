#include "core/gw.h"

#include <errno.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/adapter.h"
#include "core/exch.h"
#include "core/log.h"
#include "trust/tls.h"

struct adapter_host_ctx {
	struct gw *gw;
	const char *name;
	int worker;
};

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

struct gconf *gw_gconf(struct gw *g)
{
	struct gconf *c;

	pthread_mutex_lock(&g->gc_lock);
	c = gconf_ref(g->gc);
	pthread_mutex_unlock(&g->gc_lock);
	return c;
}

/* The new configuration must still name this gateway. */
static int gconf_fits(struct gw *g, struct gconf *c, char **err)
{
	if (!gconf_gateway(c, g->cfg->gateway_code))
		return errf(err, "gateway '%s' (config [gateway] code) is not in global configuration %s",
			    g->cfg->gateway_code, g->cfg->globalconf);
	return 0;
}

/* A reload never replaces the configuration in force by one already expired. */
static int gconf_not_expired(struct gconf *c, char **err)
{
	time_t exp = gconf_expires(c);

	if (exp && exp <= time(NULL))
		return errf(err, "the new global configuration expired %ld s ago (expiresAt)",
			    (long)(time(NULL) - exp));
	return 0;
}

int gw_reload_gconf(struct gw *g)
{
	struct gconf *c = NULL, *old;
	char *err = NULL;

	if (gconf_load(g->cfg->globalconf, g->cfg->globalconf_xsd, &c, &err) < 0 ||
	    gconf_fits(g, c, &err) < 0 || gconf_not_expired(c, &err) < 0) {
		snprintf(g->gc_error, sizeof(g->gc_error), "%s", err ? err : "unknown error");
		log_error("event=globalconf_reload ok=0 why=\"%s\" keeping=previous", g->gc_error);
		free(err);
		gconf_unref(&c);
		return -1;
	}
	pthread_mutex_lock(&g->gc_lock);
	old = g->gc;
	g->gc = c;
	g->gc_loaded = time(NULL);
	g->gc_error[0] = '\0';
	pthread_mutex_unlock(&g->gc_lock);
	gconf_unref(&old);   /* requests in flight keep their own reference */
	log_info("event=globalconf_reload ok=1 file=%s", g->cfg->globalconf);
	return 0;
}

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

	return config_adapter_get(h->gw->cfg, h->name, key);
}

/* Adapters bound to services this gateway provides. */
static int adapter_used(struct gw *g, const char *name)
{
	const struct gc_gateway *self = gconf_gateway(g->gc, g->cfg->gateway_code);

	for (size_t i = 0; self && i < gconf_n_services(g->gc); i++) {
		const struct gc_service *s = gconf_service_at(g->gc, i);
		struct xrd_id owner;
		xrd_id_service_owner(&s->id, &owner);
		if (s->binding == GC_BIND_ADAPTER && !strcmp(s->adapter, name) &&
		    gconf_gateway_hosts(self, &owner))
			return 1;
	}
	return 0;
}

/* Per worker, per adapter: the host table the adapter keeps for its life. */
struct adapter_slot {
	struct adapter_host host;
	struct adapter_host_ctx hctx;
};

static int worker_adapters(struct gw *g, struct worker *w)
{
	size_t n = adapter_count();
	struct adapter_slot *slots;

	w->adapter_ctx = calloc(n ? n : 1, sizeof(void *));
	w->adapter_err = calloc(n ? n : 1, sizeof(char *));
	w->adapter_slots = slots = calloc(n ? n : 1, sizeof(*slots));
	if (!w->adapter_ctx || !w->adapter_err || !slots)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct adapter_ops *a = adapter_at(i);
		char *err = NULL;

		if (!adapter_used(g, a->name))
			continue;
		slots[i].hctx.gw = g;
		slots[i].hctx.name = a->name;
		slots[i].hctx.worker = w->index;
		slots[i].host.ctx = &slots[i].hctx;
		slots[i].host.log = host_log;
		slots[i].host.config = host_config;
		slots[i].host.data_dir = g->cfg->data_dir;
		if (a->init(&slots[i].host, &w->adapter_ctx[i], &err) < 0) {
			w->adapter_ctx[i] = NULL;
			w->adapter_err[i] = err ? err : strdup("initialisation failed");
			log_error("event=adapter_init adapter=%s ok=0 why=\"%s\"", a->name, w->adapter_err[i]);
		}
	}
	return 0;
}

static struct httpd *listen_on(struct gw *g, struct worker *w, const char *addr, SSL_CTX *tls,
			       httpd_handler_fn fn, int *port_out, char **err)
{
	struct httpd_limits lim = {
		.max_head = g->cfg->max_head, .max_headers = g->cfg->max_headers,
		.max_body = g->cfg->max_body, .header_timeout_ms = g->cfg->header_timeout_ms,
		.body_timeout_ms = g->cfg->body_timeout_ms, .idle_timeout_ms = g->cfg->idle_timeout_ms,
		.write_timeout_ms = g->cfg->write_timeout_ms, .max_conns = g->cfg->max_conns,
	};
	char host[256];
	int port;
	struct httpd *h;

	if (config_split_hostport(addr, host, sizeof(host), &port) < 0) {
		errf(err, "bad listen address '%s'", addr);
		return NULL;
	}
	h = httpd_new(w->base, &lim, tls, fn, exch_reject, w);
	if (!h) {
		errf(err, "out of memory");
		return NULL;
	}
	if (httpd_listen(h, host, port, 1, err) < 0) {
		httpd_free(h);
		return NULL;
	}
	if (port_out)
		*port_out = httpd_port(h);
	return h;
}

static int worker_init(struct gw *g, struct worker *w, int index, char **err)
{
	w->gw = g;
	w->index = index;
	w->base = event_base_new();
	if (!w->base)
		return errf(err, "cannot create an event loop");
	w->out = outbound_new(w->base, err);
	if (!w->out)
		return -1;
	w->client_http = listen_on(g, w, g->cfg->client_listen, NULL, exch_client_handler, &g->client_port, err);
	if (!w->client_http)
		return -1;
	if (g->client_tls) {
		w->client_https = listen_on(g, w, g->cfg->client_tls_listen, g->client_tls, exch_client_handler,
					    NULL, err);
		if (!w->client_https)
			return -1;
	}
	w->server = listen_on(g, w, g->cfg->server_listen, g->server_tls, exch_server_handler, &g->server_port,
			      err);
	if (!w->server)
		return -1;
	if (worker_adapters(g, w) < 0)
		return errf(err, "out of memory");
	return 0;
}

static int load_is_certs(struct gw *g, char **err)
{
	const struct config *c = g->cfg;

	g->is_certs = calloc(c->n_is_certs ? c->n_is_certs : 1, sizeof(*g->is_certs));
	if (!g->is_certs)
		return errf(err, "out of memory");
	for (size_t i = 0; i < c->n_is_certs; i++) {
		char why[256];
		if (xrd_id_parse_path(c->is_certs[i].client, &g->is_certs[i].client, why, sizeof(why)) < 0)
			return errf(err, "%s: [client] is_cert '%s': %s", c->path, c->is_certs[i].client, why);
		if (tls_cert_file_sha256(c->is_certs[i].cert_file, g->is_certs[i].sha256, err) < 0)
			return -1;
		g->n_is_certs++;
	}
	return 0;
}

static int load_tls(struct gw *g, char **err)
{
	const struct config *c = g->cfg;
	const struct gc_gateway *self = gconf_gateway(g->gc, c->gateway_code);
	unsigned char own[32];

	g->server_tls = tls_server_ctx(c->server_tls_cert, c->server_tls_key, c->server_tls_ca,
				       TLS_PEER_REQUIRED, err);
	if (!g->server_tls)
		return -1;
	if (c->client_tls_listen[0]) {
		g->client_tls = tls_server_ctx(c->client_tls_cert, c->client_tls_key,
					       c->client_tls_client_ca[0] ? c->client_tls_client_ca : NULL,
					       c->client_tls_client_ca[0] ? TLS_PEER_OPTIONAL : TLS_PEER_NONE, err);
		if (!g->client_tls)
			return -1;
	}
	if (tls_cert_file_sha256(c->server_tls_cert, own, err) < 0)
		return -1;
	if (self && memcmp(own, self->auth_cert_sha256, 32) != 0) {
		char hex[65];
		hex_encode(own, 32, hex);
		/* Not fatal: the operator may be rolling certificates; peers will refuse us. */
		log_warn("event=startup warning=\"this gateway's TLS certificate (sha256 %s) is not the one "
			 "global configuration lists for gateway '%s'; peers will refuse its requests\"",
			 hex, c->gateway_code);
	}
	g->peer_tls.cert_file = c->server_tls_cert;
	g->peer_tls.key_file = c->server_tls_key;
	g->peer_tls.ca_file = c->server_tls_ca;
	g->peer_tls.verify_host = 0;   /* the peer is pinned by certificate hash instead */
	return 0;
}

struct gw *gw_new(struct config *cfg, char **err)
{
	struct gw *g = calloc(1, sizeof(*g));

	if (!g) {
		config_free(&cfg);
		errf(err, "out of memory");
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &g->started);
	g->cfg = cfg;
	pthread_mutex_init(&g->gc_lock, NULL);
	log_set_level(cfg->log_level);
	evthread_use_pthreads();
	soap_global_init();
	if (gconf_load(cfg->globalconf, cfg->globalconf_xsd, &g->gc, err) < 0 || gconf_fits(g, g->gc, err) < 0)
		goto fail;
	g->gc_loaded = time(NULL);
	if (load_tls(g, err) < 0 || load_is_certs(g, err) < 0)
		goto fail;
	g->n_workers = cfg->workers > 0 ? cfg->workers : 1;
	g->workers = calloc((size_t)g->n_workers, sizeof(*g->workers));
	if (!g->workers) {
		errf(err, "out of memory");
		goto fail;
	}
	for (int i = 0; i < g->n_workers; i++)
		if (worker_init(g, &g->workers[i], i, err) < 0)
			goto fail;
	return g;
fail:
	gw_free(g);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int gw_run(struct gw *g)
{
	sigset_t set;
	struct timespec now;
	int sig = 0, started = 0;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < g->n_workers; i++) {
		if (pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]) != 0) {
			log_error("event=startup why=\"cannot start worker thread %d\"", i);
			break;
		}
		started++;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	log_info("event=ready gateway=%s client=%s server=%s workers=%d startup_ms=%.1f",
		 g->cfg->gateway_code, g->cfg->client_listen, g->cfg->server_listen, started,
		 (double)(now.tv_sec - g->started.tv_sec) * 1e3 +
			 (double)(now.tv_nsec - g->started.tv_nsec) / 1e6);
	while (started == g->n_workers) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			gw_reload_gconf(g);
			continue;
		}
		break;
	}
	log_info("event=stopping signal=%d", sig);
	g->stopping = 1;
	for (int i = 0; i < started; i++)
		event_base_loopexit(g->workers[i].base, NULL);
	for (int i = 0; i < started; i++)
		pthread_join(g->workers[i].thread, NULL);
	log_info("event=stopped gateway=%s", g->cfg->gateway_code);
	return started == g->n_workers ? 0 : 1;
}

static void worker_free(struct worker *w)
{
	if (w->client_http)
		httpd_free(w->client_http);
	if (w->client_https)
		httpd_free(w->client_https);
	if (w->server)
		httpd_free(w->server);
	if (w->out)
		outbound_free(w->out);
	for (size_t i = 0; w->adapter_ctx && i < adapter_count(); i++)
		if (w->adapter_ctx[i])
			adapter_at(i)->free(w->adapter_ctx[i]);
	for (size_t i = 0; w->adapter_err && i < adapter_count(); i++)
		free(w->adapter_err[i]);
	free(w->adapter_ctx);
	free(w->adapter_err);
	free(w->adapter_slots);
	if (w->base) {
		/* Let deferred bufferevent callbacks run so their memory is released. */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		event_base_free(w->base);
	}
}

void gw_free(struct gw *g)
{
	if (!g)
		return;
	for (int i = 0; g->workers && i < g->n_workers; i++)
		worker_free(&g->workers[i]);
	free(g->workers);
	SSL_CTX_free(g->server_tls);
	SSL_CTX_free(g->client_tls);
	free(g->is_certs);
	gconf_unref(&g->gc);
	config_free(&g->cfg);
	pthread_mutex_destroy(&g->gc_lock);
	free(g);
}
