/* The gateway process: configuration, global configuration, TLS contexts,
 * and the worker threads (one libevent loop each) that serve requests.
 *
 * Each worker owns an event loop, its listeners (SO_REUSEPORT, so the kernel
 * spreads connections), an outbound client and its own adapter contexts: no
 * locks on the request path except the global-configuration swap. */
#ifndef AILGATE_CORE_GW_H
#define AILGATE_CORE_GW_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <time.h>

#include "core/config.h"
#include "core/globalconf.h"
#include "net/httpd.h"
#include "net/outbound.h"
#include "proto/xrd_id.h"

struct gw;

struct is_cert {
	struct xrd_id client;           /* SUBSYSTEM */
	unsigned char sha256[32];
};

struct worker {
	struct gw *gw;
	int index;
	struct event_base *base;
	struct httpd *client_http;      /* information systems, plain HTTP */
	struct httpd *client_https;     /* information systems, HTTPS (optional) */
	struct httpd *server;           /* peer gateways, mutual TLS */
	struct outbound *out;
	void **adapter_ctx;             /* per adapter_at(i); NULL if it failed */
	char **adapter_err;             /* why it failed, or NULL */
	void *adapter_slots;            /* host tables handed to the adapters (gw.c) */
	pthread_t thread;
	unsigned long served;           /* requests answered (this worker) */
};

struct gw {
	struct config *cfg;
	pthread_mutex_t gc_lock;
	struct gconf *gc;               /* current global configuration */
	char gc_error[512];             /* last reload failure, "" if none */
	time_t gc_loaded;
	SSL_CTX *client_tls;            /* NULL if no HTTPS client listener */
	SSL_CTX *server_tls;
	struct out_tls peer_tls;        /* our auth cert for calls to peer gateways */
	struct is_cert *is_certs;
	size_t n_is_certs;
	struct worker *workers;
	int n_workers;
	int client_port, server_port;   /* actual ports (after binding port 0) */
	struct timespec started;
	volatile int stopping;
};

/* Builds the process from a loaded config (takes ownership of cfg): loads
 * global configuration, TLS contexts, client certificates, binds listeners
 * and initialises adapters for every worker. Returns NULL with *err. */
struct gw *gw_new(struct config *cfg, char **err);
/* Runs the workers until SIGINT/SIGTERM; SIGHUP reloads global configuration.
 * If ready_fd >= 0, writes "ready\n" to it once listening. Returns exit code. */
int gw_run(struct gw *g);
void gw_free(struct gw *g);

/* The current global configuration with a reference the caller must drop
 * with gconf_unref(). Never NULL after gw_new succeeded. */
struct gconf *gw_gconf(struct gw *g);
/* Reloads the global configuration file; keeps the old one on failure.
 * Returns 0 or -1 (reason in g->gc_error and the log). */
int gw_reload_gconf(struct gw *g);

#endif
