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
struct exch;
struct adapter_ops;
struct consent_gate;
struct gcf;
struct gcsig_anchor;

struct is_cert {
	struct xrd_id client;           /* SUBSYSTEM */
	unsigned char sha256[32];
};

/* Event priorities of a worker's loop: everything runs at WORKER_PRIO_NORMAL
 * (libevent's default with WORKER_PRIOS queues) except work that is better
 * done once for all that arrived meanwhile, which waits at WORKER_PRIO_IDLE
 * until the loop has nothing else ready (the batch signature, core/sx.c). */
enum { WORKER_PRIO_NORMAL = 1, WORKER_PRIO_IDLE = 2, WORKER_PRIOS = 3 };

/* Work done once for all that was queued meanwhile (the batch signature,
 * core/sx.c; the access-log records of calls about a person,
 * core/provider.c): its callback runs when the worker's loop has nothing
 * else ready (idle, at WORKER_PRIO_IDLE), at the latest wait_us after the
 * first item was queued (due, normal priority: a loop that is never idle
 * under load still gets there), or at once when max items wait. */
struct worker_turn {
	struct event *idle, *due;
};
/* 0, or -1 out of memory (t is then empty; worker_turn_free is still fine). */
int worker_turn_init(struct worker_turn *t, struct event_base *base, void (*cb)(int, short, void *), void *arg)
	__attribute__((warn_unused_result));
/* After the n-th item (n >= 1) was queued: arms the turn. 0, or -1. */
int worker_turn_queued(struct worker_turn *t, size_t n, size_t max, unsigned wait_us)
	__attribute__((warn_unused_result));
/* The callback's first call: neither event stays armed. */
void worker_turn_taken(struct worker_turn *t);
void worker_turn_free(struct worker_turn *t);

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
	struct consent_gate *consent;   /* consents + access log of data_dir (store/consent.h) */
	struct provider_parked *parked; /* calls waiting for this turn's access-log write (provider.c) */
	pthread_t thread;
	unsigned long served;           /* requests answered (this worker) */
	struct sx_batch *sign_batch;    /* messages waiting for this turn's signature (core/sx.c) */
	struct exch *abandoned;         /* aborted exchanges whose gateway call is finishing (exchange.c) */
	unsigned n_abandoned;
	struct event *ab_sweep;         /* cancels those past their grace (exchange.c) */
	struct event *crowd_tick;       /* says what max_conns did, once a second at most */
	int closing;                    /* worker_free has begun: aborts cancel their calls */
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
	struct host_pool *pool;         /* blocking work for adapters (core/host.h) */
	struct sx_state *sx;            /* keys, message log, OCSP (core/sx.h) */
	/* Global configuration updates (gw.c, core/gconf_fetch.h). gc_error,
	 * gc_error_since, gc_loaded and gc_sha256 are under gc_lock. */
	time_t gc_error_since;          /* when updates started failing; 0 = not failing */
	unsigned char gc_sha256[32];    /* SHA-256 of the bytes in force */
	struct gcsig_anchor *gc_anchor; /* the operator's certificate; NULL = not checked */
	struct gcf *gc_fetch;           /* the fetcher thread (gw_run), or NULL */
	pthread_mutex_t reload_lock;    /* one update at a time: SIGHUP, fetcher */
	unsigned flags;                 /* gw_new's: GW_CHECK, GW_CHECK_LIVE */
};

/* gw_new's flags. GW_CHECK (serve --check): everything is loaded and
 * checked, but no port is listened on (each is only bound for a moment,
 * never listening: GW_CHECK_LIVE skips even that) and nothing in data_dir is
 * written - the message log is opened read-only, its threads not started,
 * the OCSP responses and the TSA certificate not kept. GW_CHECK_LIVE: a
 * gateway of this data_dir is running (it holds the ports and the log). */
#define GW_CHECK 1u
#define GW_CHECK_LIVE 2u

/* Builds the process from a loaded config (takes ownership of cfg): loads
 * global configuration, TLS contexts, client certificates, binds listeners
 * and initialises adapters for every worker (flags: GW_CHECK above).
 * Returns NULL with *err. */
struct gw *gw_new(struct config *cfg, unsigned flags, char **err);
/* Runs the workers until SIGINT/SIGTERM; SIGHUP reloads global configuration.
 * If ready_fd >= 0, writes "ready\n" to it once listening. Returns exit code. */
int gw_run(struct gw *g);
void gw_free(struct gw *g);

/* The adapter called name and its context on worker w: *ops set (NULL if no
 * adapter has that name) and the context returned (NULL if it is not used
 * on this gateway or failed to start). */
void *worker_adapter(struct worker *w, const char *name, const struct adapter_ops **ops);
/* Why adapter name, which this gateway runs, failed to start; NULL if it
 * runs or is not used here. */
const char *worker_adapter_error(const struct worker *w, const char *name);

/* The current global configuration with a reference the caller must drop
 * with gconf_unref(). Never NULL after gw_new succeeded. */
struct gconf *gw_gconf(struct gw *g);
/* Reads the global configuration's source now (file, or a blocking
 * download: not for an event loop) and applies it as gw_apply_gconf does;
 * keeps the one in force on failure. Returns 0 or -1 (reason in
 * g->gc_error, /health and the log). */
int gw_reload_gconf(struct gw *g);
/* The one path for a new configuration after start-up (SIGHUP and the
 * fetcher): signature against [globalconf] anchor (when set) -> schema and
 * references -> this gateway still in it -> not expired -> generatedAt not
 * before the one in force -> atomic swap (requests in flight keep the old
 * one); when the source is not the local file, the bytes are then written
 * atomically to [gateway] globalconf. xml is borrowed; name is for
 * messages. Thread-safe (one update at a time). Returns 0, or -1 with the
 * reason recorded for /health and logged. */
int gw_apply_gconf(struct gw *g, const char *xml, size_t len, const char *name);
/* [globalconf] source, or [gateway] globalconf when that is not set. */
const char *gw_gconf_source(const struct gw *g);

/* A consistent copy of the update status, for /health. */
struct gw_gconf_status {
	char error[512];                /* last update failure, "" if none */
	time_t error_since;             /* when updates started failing, 0 if not */
	time_t loaded;                  /* when the one in force was put in force */
	int anchored;                   /* signatures are checked */
};
void gw_gconf_status(struct gw *g, struct gw_gconf_status *st);

#endif
