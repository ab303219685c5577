#include "core/gw.h"

#include <errno.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "adapters/adapter.h"
#include "core/exch.h"
#include "lib/osutil.h"
#include "core/gconf_fetch.h"
#include "core/host.h"
#include "core/sx.h"
#include "store/consent.h"
#include "store/msglog.h"
#include "core/log.h"
#include "lib/crypto.h"
#include "trust/gconf_sign.h"
#include "trust/tls.h"


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

/* ---- global configuration: checks, swap, updates ----------------------------
 * One path for every new configuration after start-up (SIGHUP and the
 * fetcher, core/gconf_fetch.h): signature against the anchor -> schema and
 * references -> this gateway still in it -> not expired -> not older than
 * the one in force -> swap. reload_lock keeps two updates from interleaving;
 * gc_lock guards only the pointer swap and the status fields. */

const char *gw_gconf_source(const struct gw *g)
{
	return g->cfg->gc_source[0] ? g->cfg->gc_source : g->cfg->globalconf;
}

/* The new configuration must still name this gateway. */
static int gconf_fits(struct gw *g, struct gconf *c, const char *name, char **err)
{
	if (!gconf_gateway(c, g->cfg->gateway_code))
		return errf(err, "gateway '%s' (config [gateway] code) is not in global configuration %s",
			    g->cfg->gateway_code, name);
	return 0;
}

/* A reload never replaces the configuration in force by one already expired. */
/* Not expired, and not dated ahead of this clock. */
static int gconf_in_date(struct gconf *c, char **err)
{
	time_t now = time(NULL), exp = gconf_expires(c);
	long ahead = gconf_from_future(c, now);

	if (exp && exp <= now)
		return errf(err, "the new global configuration expired %ld s ago (expiresAt)", (long)(now - exp));
	if (ahead)
		return errf(err, "the new global configuration was generated %ld s in the future (generatedAt; "
			    "this gateway's clock allows %d s): in force, it would make every correctly dated "
			    "one look older", ahead, GCONF_FUTURE_SKEW_S);
	return 0;
}

static void iso_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outlen, "(none)");
}

/* Never back in time: generatedAt at least that of the one in force. */
static int gconf_not_older(struct gw *g, struct gconf *c, char **err)
{
	struct gconf *cur = gw_gconf(g);
	time_t in_force = gconf_generated(cur), gen = gconf_generated(c);
	char a[32], b[32];

	gconf_unref(&cur);
	if (!in_force || gen >= in_force)
		return 0;
	iso_time(gen, a, sizeof(a));
	iso_time(in_force, b, sizeof(b));
	return errf(err, "the new global configuration was generated at %s, before the one in force "
		    "(%s): refusing to go back in time", a, b);
}

/* The operator's signature when an anchor is configured, then schema and
 * references. */
static int gconf_check(struct gw *g, const char *xml, size_t len, const char *name,
		       struct gconf **out, char **err)
{
	char *why = NULL;
	enum gcsig_rc rc;

	*out = NULL;
	if (g->gc_anchor && (rc = gcsig_verify(xml, len, g->gc_anchor, &why)) != GCSIG_OK) {
		errf(err, "%s: signature refused (%s): %s", name, gcsig_rc_name(rc),
		     why ? why : "unknown reason");
		free(why);
		return -1;
	}
	return gconf_load_mem(xml, len, name, g->cfg->globalconf_xsd, out, err);
}

/* Records a failed update for /health and the log; the one in force stays. */
static void gconf_failed(struct gw *g, const char *event, const char *why)
{
	char msg[sizeof(g->gc_error)];

	snprintf(msg, sizeof(msg), "%s", why ? why : "unknown error");
	for (char *p = msg; *p; p++)   /* one log line, one health string */
		if (*p == '\n' || *p == '"')
			*p = *p == '\n' ? ';' : '\'';
	pthread_mutex_lock(&g->gc_lock);
	memcpy(g->gc_error, msg, sizeof(msg));
	if (!g->gc_error_since)
		g->gc_error_since = time(NULL);
	pthread_mutex_unlock(&g->gc_lock);
	log_error("event=%s ok=0 source=%s why=\"%s\" keeping=previous", event, gw_gconf_source(g), msg);
}

/* Puts c in force; requests in flight keep their own reference to the old. */
static void gconf_swap(struct gw *g, struct gconf *c, const char *xml, size_t len)
{
	struct gconf *old;
	unsigned char md[32];

	if (sha256(xml, len, md) < 0)
		memset(md, 0, sizeof(md));
	pthread_mutex_lock(&g->gc_lock);
	old = g->gc;
	g->gc = c;
	g->gc_loaded = time(NULL);
	g->gc_error[0] = '\0';
	g->gc_error_since = 0;
	memcpy(g->gc_sha256, md, sizeof(md));
	pthread_mutex_unlock(&g->gc_lock);
	gconf_unref(&old);
	sx_gconf_changed(g, c);
}

/* When the source is elsewhere (a URL), the good bytes become the local
 * copy, so a restart starts from the last good configuration. */
static void gconf_keep_copy(struct gw *g, const char *xml, size_t len)
{
	char *err = NULL;

	if (strcmp(gw_gconf_source(g), g->cfg->globalconf) == 0)
		return;
	if (gcf_write_atomic(g->cfg->globalconf, xml, len, &err) < 0) {
		log_warn("event=globalconf_save ok=0 why=\"%s\" (the configuration is in force; a "
			 "restart would start from the older local copy)", err ? err : "?");
		free(err);
	}
}

int gw_apply_gconf(struct gw *g, const char *xml, size_t len, const char *name)
{
	struct gconf *c = NULL;
	char *err = NULL, gen[32], exp[32];
	int rc = -1;

	pthread_mutex_lock(&g->reload_lock);
	if (gconf_check(g, xml, len, name, &c, &err) < 0 || gconf_fits(g, c, name, &err) < 0 ||
	    gconf_in_date(c, &err) < 0 || gconf_not_older(g, c, &err) < 0) {
		gconf_failed(g, "globalconf_reload", err);
		gconf_unref(&c);
		goto out;
	}
	iso_time(gconf_generated(c), gen, sizeof(gen));
	iso_time(gconf_expires(c), exp, sizeof(exp));
	gconf_keep_copy(g, xml, len);   /* first: once it is in force, a restart has it too */
	gconf_swap(g, c, xml, len);
	log_info("event=globalconf_reload ok=1 file=%s generated=%s expires=%s signed=%s", name, gen, exp,
		 g->gc_anchor ? "anchor" : "not-checked");
	rc = 0;
out:
	pthread_mutex_unlock(&g->reload_lock);
	free(err);
	return rc;
}

int gw_reload_gconf(struct gw *g)
{
	const char *src = gw_gconf_source(g);
	char *data = NULL, *err = NULL;
	size_t len = 0;
	int rc;

	if (gcf_get(src, GCF_MAX_BYTES, g->cfg->gc_download_timeout_ms, NULL, &data, &len, &err) < 0) {
		gconf_failed(g, "globalconf_fetch", err);
		free(err);
		return -1;
	}
	rc = gw_apply_gconf(g, data, len, src);
	free(data);
	return rc;
}

void gw_gconf_status(struct gw *g, struct gw_gconf_status *st)
{
	pthread_mutex_lock(&g->gc_lock);
	memcpy(st->error, g->gc_error, sizeof(st->error));
	st->error_since = g->gc_error_since;
	st->loaded = g->gc_loaded;
	pthread_mutex_unlock(&g->gc_lock);
	st->anchored = g->gc_anchor != NULL;
}

/* Fetcher hooks (its own thread). */
static int fetch_apply(void *ctx, const char *data, size_t len)
{
	struct gw *g = ctx;

	return gw_apply_gconf(g, data, len, gw_gconf_source(g));
}

static void fetch_failed(void *ctx, const char *why)
{
	gconf_failed(ctx, "globalconf_fetch", why);
}

static void gconf_fetch_start(struct gw *g)
{
	struct gcf_opts o = {
		.source = gw_gconf_source(g), .refresh_s = g->cfg->gc_refresh_s,
		.timeout_ms = g->cfg->gc_download_timeout_ms, .initial_sha256 = g->gc_sha256,
	};
	struct gcf_hooks hooks = { .apply = fetch_apply, .failed = fetch_failed, .ctx = g };
	char *err = NULL;

	g->gc_fetch = gcf_start(&o, &hooks, &err);
	if (!g->gc_fetch) {
		log_error("event=startup warning=\"%s; global configuration updates only on SIGHUP\"",
			  err ? err : "cannot start the fetcher");
		free(err);
	}
}

/* Start-up: bytes of the first configuration. Not refused for expiry (the
 * gateway then answers OutdatedGlobalConf and /health 503 until a good one
 * arrives), but the signature, schema and this gateway's entry must hold. */
static int gconf_first(struct gw *g, const char *xml, size_t len, const char *name, char **err)
{
	struct gconf *c = NULL;

	if (gconf_check(g, xml, len, name, &c, err) < 0 || gconf_fits(g, c, name, err) < 0) {
		gconf_unref(&c);
		return -1;
	}
	g->gc = c;
	g->gc_loaded = time(NULL);
	if (sha256(xml, len, g->gc_sha256) < 0)
		memset(g->gc_sha256, 0, sizeof(g->gc_sha256));
	return 0;
}

/* The local copy first; if it is missing or refused and the source is
 * elsewhere, the source (a download blocks start-up at most
 * download_timeout_ms; no event loop runs yet). */
static int gconf_initial(struct gw *g, char **err)
{
	const char *local = g->cfg->globalconf, *src = gw_gconf_source(g);
	char *data = NULL, *e1 = NULL, *e2 = NULL;
	size_t len = 0;
	int rc = -1;

	if (gcf_read_file(local, GCF_MAX_BYTES, &data, &len, &e1) == 0 &&
	    gconf_first(g, data, len, local, &e1) == 0) {
		rc = 0;
	} else if (strcmp(src, local) != 0) {
		free(data);
		data = NULL;
		if (gcf_get(src, GCF_MAX_BYTES, g->cfg->gc_download_timeout_ms, NULL, &data, &len, &e2) == 0 &&
		    gconf_first(g, data, len, src, &e2) == 0) {
			gconf_keep_copy(g, data, len);
			rc = 0;
		}
	}
	if (rc < 0)
		errf(err, "global configuration: %s%s%s", e1 ? e1 : "refused", e2 ? "; from the source: " : "",
		     e2 ? e2 : "");
	else if (e1)
		log_warn("event=startup warning=\"local global configuration refused (%s); started from %s\"",
			 e1, src);
	free(e1);
	free(e2);
	free(data);
	return rc;
}

static int gconf_anchor(struct gw *g, char **err)
{
	if (!g->cfg->gc_anchor[0]) {
		log_warn("event=startup warning=\"no [globalconf] anchor: the global configuration's "
			 "signature is not checked\"");
		return 0;
	}
	return gcsig_anchor_load(g->cfg->gc_anchor, &g->gc_anchor, err);
}

void *worker_adapter(struct worker *w, const char *name, const struct adapter_ops **ops)
{
	*ops = NULL;
	for (size_t i = 0; i < adapter_count(); i++)
		if (strcmp(adapter_at(i)->name, name) == 0) {
			*ops = adapter_at(i);
			return w->adapter_ctx ? w->adapter_ctx[i] : NULL;
		}
	return NULL;
}

const char *worker_adapter_error(const struct worker *w, const char *name)
{
	for (size_t i = 0; i < adapter_count(); i++)
		if (strcmp(adapter_at(i)->name, name) == 0)
			return w->adapter_err ? w->adapter_err[i] : NULL;
	return NULL;
}

/* Adapters bound to services this gateway provides. */
static int adapter_used(struct gw *g, const char *name)
{
	struct gconf *gc = gw_gconf(g);   /* a reference: SIGHUP's check runs beside updates */
	const struct gc_gateway *self = gc ? gconf_gateway(gc, g->cfg->gateway_code) : NULL;
	int used = 0;

	for (size_t i = 0; self && !used && i < gconf_n_services(gc); i++) {
		const struct gc_service *s = gconf_service_at(gc, i);
		struct xrd_id owner;
		xrd_id_service_owner(&s->id, &owner);
		used = s->binding == GC_BIND_ADAPTER && !strcmp(s->adapter, name) &&
		       gconf_gateway_hosts(self, &owner);
	}
	gconf_unref(&gc);
	return used;
}

static int adapter_used_cb(const char *name, void *g)
{
	return adapter_used(g, name);
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

		if (!adapter_used(g, a->name) || (g->flags & GW_CHECK))
			continue;   /* a check has checked them (gw_new) and opens nothing */
		host_init(&slots[i].host, &slots[i].hctx, g, w, a->name);
		if (a->init(&slots[i].host, &w->adapter_ctx[i], &err) < 0) {
			w->adapter_ctx[i] = NULL;
			w->adapter_err[i] = err ? err : strdup("initialisation failed");
			log_error("event=adapter_init adapter=%s ok=0 why=\"%s\"", a->name, w->adapter_err[i]);
		}
	}
	return 0;
}

static struct httpd *listen_on(struct gw *g, struct worker *w, const char *addr, SSL_CTX *tls,
			       httpd_handler_fn fn, size_t extra_body, int *port_out, char **err)
{
	struct httpd_limits lim = {
		.max_head = g->cfg->max_head, .max_headers = g->cfg->max_headers,
		.max_body = g->cfg->max_body + extra_body, .header_timeout_ms = g->cfg->header_timeout_ms,
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

int worker_turn_init(struct worker_turn *t, struct event_base *base, void (*cb)(int, short, void *), void *arg)
{
	if (!(t->idle = evtimer_new(base, cb, arg)) || !(t->due = evtimer_new(base, cb, arg)) ||
	    event_priority_set(t->idle, WORKER_PRIO_IDLE) < 0) {
		worker_turn_free(t);
		return -1;
	}
	return 0;
}

int worker_turn_queued(struct worker_turn *t, size_t n, size_t max, unsigned wait_us)
{
	static const struct timeval now = { 0, 0 };
	const struct timeval wait = { (time_t)(wait_us / 1000000), (suseconds_t)(wait_us % 1000000) };

	if (n == 1 && (evtimer_add(t->idle, &now) < 0 || evtimer_add(t->due, &wait) < 0))
		return -1;
	/* at max only: adding it again with each item past max would push a
	 * pending timer back while a burst keeps coming */
	if (n == max && evtimer_add(t->due, &now) < 0)
		return -1;
	return 0;
}

void worker_turn_taken(struct worker_turn *t)
{
	if (t->idle)
		evtimer_del(t->idle);
	if (t->due)
		evtimer_del(t->due);
}

void worker_turn_free(struct worker_turn *t)
{
	if (t->idle)
		event_free(t->idle);
	if (t->due)
		event_free(t->due);
	t->idle = t->due = NULL;
}

/* One line a second at most while a listener is at max_conns: how many
 * unused connections it closed to make room and how many it turned away
 * (every one had a request under way). */
static void crowd_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct { const char *name; struct httpd *h; } ls[] = {
		{ "client", w->client_http }, { "client_tls", w->client_https }, { "server", w->server },
	};

	(void)fd;
	(void)what;
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) {
		struct httpd_crowding c;
		if (!ls[i].h)
			continue;
		c = httpd_take_crowding(ls[i].h);
		if (c.reused || c.refused)
			log_warn("event=connections_full listener=%s worker=%d max_conns=%u reused=%lu refused=%lu "
				 "hint=\"%s\"", ls[i].name, w->index, w->gw->cfg->max_conns, c.reused, c.refused,
				 c.refused ? "every connection had a request under way: raise [limits] max_conns if "
					     "these are real clients"
					   : "unused connections were closed to make room for new ones");
	}
}

/* serve --check and the start: each listen address could be listened on
 * (bound for a moment without SO_REUSEPORT, never listening). Not while
 * this data_dir's gateway runs (GW_CHECK_LIVE): it holds them, and that is
 * as it should be. */
static int probe_listeners(struct gw *g, char **err)
{
	const char *addrs[] = { g->cfg->client_listen, g->client_tls ? g->cfg->client_tls_listen : NULL,
				g->cfg->server_listen };
	char host[256], *e = NULL;
	int port;

	if (g->flags & GW_CHECK_LIVE)
		return 0;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		if (!addrs[i])
			continue;
		if (config_split_hostport(addrs[i], host, sizeof(host), &port) < 0)
			return errf(err, "bad listen address '%s'", addrs[i]);
		if (httpd_probe(host, port, &e) < 0) {
			errf(err, "%s (is another program listening there?)", e ? e : "cannot listen");
			free(e);
			return -1;
		}
	}
	return 0;
}

static int worker_init(struct gw *g, struct worker *w, int index, char **err)
{
	w->gw = g;
	w->index = index;
	w->base = event_base_new();
	if (!w->base || event_base_priority_init(w->base, WORKER_PRIOS) < 0)
		return errf(err, "cannot create an event loop");
	w->out = outbound_new(w->base, err);
	if (!w->out)
		return -1;
	if (g->flags & GW_CHECK) {
		if (probe_listeners(g, err) < 0)
			return -1;
	} else {
		/* The workers share their ports (SO_REUSEPORT), and so would another
		 * process that set it too: a second gateway with its own data_dir
		 * started on a running one's ports, and the kernel split the
		 * traffic between two message logs and replay windows. Each port is
		 * first bound alone, which fails while anyone listens there. */
		if (index == 0 && probe_listeners(g, err) < 0)
			return -1;
		w->client_http = listen_on(g, w, g->cfg->client_listen, NULL, exch_client_handler, 0,
					   &g->client_port, err);
		if (!w->client_http)
			return -1;
		if (g->client_tls) {
			w->client_https = listen_on(g, w, g->cfg->client_tls_listen, g->client_tls,
						    exch_client_handler, 0, NULL, err);
			if (!w->client_https)
				return -1;
		}
		/* A peer's request carries its signature in front of the body. */
		w->server = listen_on(g, w, g->cfg->server_listen, g->server_tls, exch_server_handler,
				      SX_CARRIED_MAX, &g->server_port, err);
		if (!w->server)
			return -1;
	}
	if (worker_adapters(g, w) < 0)
		return errf(err, "out of memory");
	{
		static const struct timeval second = { 1, 0 };
		if (!(w->crowd_tick = event_new(w->base, -1, EV_PERSIST, crowd_tick, w)) ||
		    event_add(w->crowd_tick, &second) < 0)
			return errf(err, "out of memory");
	}
	{
		/* opens nothing yet: the files are opened by the first call that needs them */
		char *cerr = NULL;
		int rc = consent_gate_open(g->cfg->data_dir, &w->consent, &cerr);

		if (rc < 0)
			errf(err, "%s", cerr ? cerr : "consent gate: out of memory");
		free(cerr);
		if (rc < 0)
			return -1;
	}
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
	/* Peer gateways keep a few connections busy: giving back and
	 * reallocating 2 x 17 KB of record buffers around every message costs
	 * more than the memory saved (the client port keeps the release). */
	SSL_CTX_clear_mode(g->server_tls, SSL_MODE_RELEASE_BUFFERS);
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

/* Every thread made from here on (worker loops, pools, log writers, the
 * fetcher) inherits the mask, so SIGHUP/SIGINT/SIGTERM reach only gw_run's
 * sigwait: delivered to a thread that does not block it, SIGHUP's default
 * action would end the process. */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Every listener of every worker may hold max_conns connections, and each
 * exchange holds one more outbound, plus files: the soft descriptor limit
 * (often 1024) is raised to what that needs, within the hard one, so that
 * accept() does not fail (EMFILE) long before max_conns makes room for new
 * connections; said when even the hard limit is short. */
static void fd_limit(const struct config *c, int workers)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)c->max_conns * 4 * (rlim_t)workers + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur < want)
		log_warn("event=fd_limit have=%llu want=%llu hint=\"open files limited to %llu, [limits] max_conns %u "
			 "x 3 listeners x %d workers and their outbound calls need about %llu: raise the limit "
			 "(LimitNOFILE=, ulimit -n) or lower max_conns\"", (unsigned long long)rl.rlim_cur,
			 (unsigned long long)want, (unsigned long long)rl.rlim_cur, c->max_conns, workers,
			 (unsigned long long)want);
}

struct gw *gw_new(struct config *cfg, unsigned flags, char **err)
{
	struct gw *g = calloc(1, sizeof(*g));

	if (!g) {
		config_free(&cfg);
		errf(err, "out of memory");
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &g->started);
	block_signals();
	g->cfg = cfg;
	g->flags = flags;
	pthread_mutex_init(&g->gc_lock, NULL);
	pthread_mutex_init(&g->reload_lock, NULL);
	log_set_level(cfg->log_level);
	evthread_use_pthreads();
	soap_global_init();
	if (gconf_anchor(g, err) < 0 || gconf_initial(g, err) < 0)
		goto fail;
	if (load_tls(g, err) < 0 || load_is_certs(g, err) < 0)
		goto fail;
	if (sx_init(g, err) < 0)
		goto fail;
	/* A mistake in an adapter's section stops the start, as any other in
	 * the file: a gateway up without its service would tell its callers
	 * only "unavailable" (and the verification page "no certificates"). */
	if (host_check_adapters(cfg, adapter_used_cb, g, err) < 0)
		goto fail;
	g->pool = host_pool_new(2, err);
	if (!g->pool)
		goto fail;
	g->n_workers = cfg->workers > 0 && !(flags & GW_CHECK) ? cfg->workers : 1;   /* a check: one is all */
	if (!(flags & GW_CHECK))
		fd_limit(cfg, g->n_workers);
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

/* SIGHUP: the local file is not applied (only the global configuration
 * is reloaded), but an operator who edited it and sent SIGHUP is told what
 * waits for a restart, or that the file no longer loads - before, nothing
 * was said and "reloadable" keys were silently not reloaded. */
static void local_config_changed(struct gw *g)
{
	struct config *cur = NULL;
	char *err = NULL, q[1024];

	if (config_load(g->cfg->path, &cur, &err) < 0 ||
	    host_check_adapters(cur, adapter_used_cb, g, &err) < 0) {
		/* a restart would fail on it: say so, not "restart to apply" */
		log_warn("event=config_reload ok=0 file=%s why=%s hint=\"a restart with this file would fail\"",
			 g->cfg->path, log_quote(err ? err : "cannot be read", q, sizeof(q)));
	} else if (config_reload_check(g->cfg, cur, &err) < 0) {
		log_warn("event=config_reload ok=0 file=%s why=%s", g->cfg->path,
			 log_quote(err ? err : "changed", q, sizeof(q)));
	}
	free(err);
	config_free(&cur);
}

int gw_run(struct gw *g)
{
	sigset_t set;
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
		char tn[32];   /* the kernel keeps 15 bytes */
		snprintf(tn, sizeof(tn), "ag-worker%d", i);
		tn[15] = '\0';
		pthread_setname_np(g->workers[i].thread, tn);
		started++;
	}
	if (started == g->n_workers)
		gconf_fetch_start(g);
	log_info("event=ready gateway=%s client=%s server=%s workers=%d startup_ms=%.1f",
		 g->cfg->gateway_code, g->cfg->client_listen, g->cfg->server_listen, started,
		 ms_since(&g->started));
	while (started == g->n_workers) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (g->gc_fetch)
				gcf_kick(g->gc_fetch);   /* reads the source now, even if unchanged */
			else
				gw_reload_gconf(g);
			local_config_changed(g);
			continue;
		}
		break;
	}
	log_info("event=stopping signal=%d", sig);
	g->stopping = 1;
	gcf_stop(&g->gc_fetch);   /* no swap while the workers wind down */
	for (int i = 0; i < started; i++)
		event_base_loopexit(g->workers[i].base, NULL);
	for (int i = 0; i < started; i++)
		pthread_join(g->workers[i].thread, NULL);
	log_info("event=stopped gateway=%s", g->cfg->gateway_code);
	return started == g->n_workers ? 0 : 1;
}

static void worker_free(struct worker *w)
{
	w->closing = 1;   /* the callers' aborts below cancel their calls */
	if (w->crowd_tick)
		event_free(w->crowd_tick);
	if (w->client_http)
		httpd_free(w->client_http);
	if (w->client_https)
		httpd_free(w->client_https);
	if (w->server)
		httpd_free(w->server);
	exch_cancel_abandoned(w);
	provider_parked_free(w);
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
	consent_gate_close(&w->consent);
	if (w->base && w->gw && w->gw->sx)
		sx_detach(w);
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
	host_pool_free(g->pool);   /* before the loops its results would go to */
	for (int i = 0; g->workers && i < g->n_workers; i++)
		worker_free(&g->workers[i]);
	free(g->workers);
	sx_free(g);
	SSL_CTX_free(g->server_tls);
	SSL_CTX_free(g->client_tls);
	free(g->is_certs);
	gcf_stop(&g->gc_fetch);
	gconf_unref(&g->gc);
	gcsig_anchor_free(&g->gc_anchor);
	config_free(&g->cfg);
	pthread_mutex_destroy(&g->gc_lock);
	pthread_mutex_destroy(&g->reload_lock);
	free(g);
}
