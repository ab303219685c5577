/* host: what the core offers adapters (adapters/adapter.h struct
 * adapter_host): log lines, their config section, calls to other services
 * through the exchange, and blocking work on a background thread.
 *
 * One host table per worker and adapter; everything but run_blocking's work
 * function runs on that worker's event loop. */
#ifndef AILGATE_CORE_HOST_H
#define AILGATE_CORE_HOST_H

#include "adapters/adapter.h"

struct gw;
struct worker;

struct config;

struct names;

struct adapter_host_ctx {
	struct gw *gw;                  /* NULL when only checking */
	struct worker *w;
	const struct config *cfg;       /* where [adapter.NAME] is read */
	const char *name;
	struct names *asked;            /* checking: the keys the adapter asked for; else NULL */
};

/* Fills h (and hc, which h->ctx points to) for adapter name on worker w. */
void host_init(struct adapter_host *h, struct adapter_host_ctx *hc, struct gw *g, struct worker *w,
	       const char *name);

/* Checks the [adapter.*] sections of cfg: each must name an adapter compiled
 * in, and each adapter that used(name, arg) says this gateway runs (used
 * NULL: each that has a section) must accept its configuration (its init
 * with host.check_only: files are read, nothing is opened, created or
 * started). 0, or -1 with *err (caller frees) naming the adapter. */
int host_check_adapters(const struct config *cfg, int (*used)(const char *name, void *arg), void *arg,
			char **err) __attribute__((warn_unused_result));

/* The background pool behind run_blocking: started by gw_new (threads
 * threads), stopped by gw_free after the workers' loops have stopped (queued
 * work still runs; its done callbacks are dropped). */
struct host_pool;
struct host_pool *host_pool_new(unsigned threads, char **err);
void host_pool_free(struct host_pool *p);

#endif
