/* The adapter interface: how a registry plugs into the gateway.
 *
 * An adapter answers the services of one system (household register,
 * cadastre, ...). It sees the gateway only through this header: the core
 * hands it a host table (log, its config section) and calls it through an
 * ops table. Requests and answers are protocol-neutral JSON (jansson): the
 * core turns SOAP body elements, REST path segments and query parameters
 * into `params`, and renders `data` back as XML (SOAP) or JSON (REST). So
 * one adapter serves the same contract over both protocols.
 *
 * Adding a registry: a folder adapters/NAME/ with NAME.c defining
 * `const struct adapter_ops NAME_adapter`, and one line in adapters/registry.c. */
#ifndef AILGATE_ADAPTERS_ADAPTER_H
#define AILGATE_ADAPTERS_ADAPTER_H

#include <jansson.h>
#include <stddef.h>

enum adapter_log_level { ADAPTER_LOG_ERROR = 0, ADAPTER_LOG_WARN, ADAPTER_LOG_INFO, ADAPTER_LOG_DEBUG };

/* A call an adapter makes to another service through the exchange, as a
 * client subsystem of the gateway hosting it (so it is identified, checked,
 * signed and logged like any other exchange). REST r1; strings borrowed for
 * the duration of the call() only. */
struct adapter_outcall {
	const char *client;        /* "INST/CLASS/CODE/SUB": a subsystem hosted by this gateway */
	const char *service;       /* "INST/CLASS/CODE/SUB/serviceCode[/version]" */
	const char *method;        /* "GET", "POST", ... */
	const char *path;          /* after the service code, already percent-encoded,
				      starting with '/' (e.g. "/21204198700011"), or "" */
	const char *query;         /* without '?', or NULL */
	const char *user_id;       /* X-Road-UserId, or NULL */
	const char *issue;         /* X-Road-Issue, or NULL */
	const char *content_type;  /* with a body */
	const void *body;          /* or NULL */
	size_t body_len;
	unsigned timeout_ms;       /* 0: the gateway's outbound timeout */
};

/* The answer to an outcall. Valid only during the callback. */
struct adapter_outcall_result {
	int ok;                    /* 1: an HTTP answer came (any status) */
	long status;               /* HTTP status (0 when !ok) */
	const char *message_id;    /* X-Road-Id the exchange used (never NULL) */
	const char *error_code;    /* X-Road-Error of the answer, or NULL */
	const char *content_type;  /* or NULL */
	const unsigned char *body; /* the answer body (JSON for the registries) */
	size_t body_len;
	const char *errmsg;        /* when !ok: why, for a person; "" otherwise */
};
typedef void (*adapter_outcall_fn)(const struct adapter_outcall_result *r, void *arg);

/* What the core offers an adapter. All strings returned are borrowed. */
struct adapter_host {
	void *ctx;
	/* One log line, tagged with the adapter and the request id (may be NULL). */
	void (*log)(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));
	/* A key of this adapter's [adapter.NAME] config section, or NULL. */
	const char *(*config)(void *ctx, const char *key);
	/* Directory for the adapter's data files (the gateway's data_dir). */
	const char *data_dir;
	/* Calls a service through the exchange (see struct adapter_outcall).
	 * Asynchronous: done is called exactly once, later, on the calling
	 * worker's thread (never from inside call()). Returns 0, or -1 when the
	 * call could not be started (done will not be called). May be NULL for
	 * hosts that offer no outcalls (unit tests). */
	int (*call)(void *ctx, const struct adapter_outcall *c, adapter_outcall_fn done, void *arg);
	/* Runs work(arg) on a background thread (for blocking work: a TSA
	 * request, a large PDF), then done(arg) on the calling worker's thread.
	 * Returns 0, or -1 when it could not be queued (neither runs). May be
	 * NULL (unit tests may run work and done inline). */
	int (*run_blocking)(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg);
	/* 1 when init is called only to check the configuration (`ailgate
	 * config check`, `serve --check`, and at startup before any worker):
	 * read the [adapter.NAME] section and the key or certificate files it
	 * names, and fail on anything wrong in them; open, create and start
	 * nothing (no database, no thread). The context is freed at once and
	 * never handles a call; call and run_blocking are NULL. */
	int check_only;
};

/* Outcomes a caller must be able to tell apart (domain.md: "not in register"
 * is not "does not exist" is not "registry unavailable"). */
enum adapter_status {
	ADAPTER_OK = 0,
	ADAPTER_INVALID_INPUT,    /* the parameters are wrong (bad PIN, missing field) */
	ADAPTER_NOT_FOUND,        /* no such record */
	ADAPTER_NOT_IN_REGISTER,  /* exists elsewhere but not entered here yet */
	ADAPTER_UNAVAILABLE,      /* the registry cannot answer now */
	ADAPTER_FAILED,           /* internal failure */
};

struct adapter_call {
	const char *service_code;  /* e.g. "family-members" */
	const char *method;        /* REST method; "POST" for SOAP */
	const char *message_id;    /* the exchange's message id (for logs) */
	const char *client;        /* "INST/CLASS/CODE/SUB" of the caller */
	const char *user_id;       /* "" if none */
	json_t *params;            /* borrowed: object of name -> string */
	const char *body;          /* raw request body for REST POST/PUT, or NULL */
	size_t body_len;
};

struct adapter_result {
	enum adapter_status status;
	json_t *data;              /* set by the adapter on ADAPTER_OK (ownership
				      passes to the core); may be NULL otherwise */
	char message[512];         /* why, for a person, when status != OK */
};

/* Reports the result; res is valid only during the call. */
typedef void (*adapter_done_fn)(struct adapter_result *res, void *arg);

struct adapter_service {
	const char *code;          /* service code */
	const char *method;        /* REST method it answers: "GET" or "POST" */
	/* Names given to the path segments after the service code, in order,
	 * NULL-terminated (e.g. {"pin", NULL} for family-members/{pin}). */
	const char *const *path_params;
	const char *summary;       /* one line for listMethods/OpenAPI */
};

struct adapter_ops {
	const char *name;
	const struct adapter_service *services;
	size_t n_services;
	/* Called once per worker thread; *ctx is that worker's state.
	 * Returns 0, or -1 with *err (caller frees). A configuration error
	 * fails init (and so `config check` and the gateway's start: see
	 * adapter_host.check_only); a database that cannot be opened does not:
	 * calls answer "unavailable" until it can. */
	int (*init)(const struct adapter_host *host, void **ctx, char **err);
	/* Must call done exactly once, now or later on the same thread. */
	void (*handle)(void *ctx, const struct adapter_call *call, adapter_done_fn done, void *arg);
	void (*free)(void *ctx);
};

/* adapters/registry.c: every adapter compiled in. */
const struct adapter_ops *adapter_find(const char *name);
size_t adapter_count(void);
const struct adapter_ops *adapter_at(size_t i);
const struct adapter_service *adapter_service(const struct adapter_ops *a, const char *code);
const char *adapter_status_name(enum adapter_status s);  /* "not_found", ... */

/* Helper for adapters: sets res to an error with a printf-style message,
 * dropping (json_decref) any answer already in res->data. */
void adapter_result_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for an answer that could not be built (out of memory):
 * ADAPTER_FAILED, "could not build the answer". */
void adapter_result_oom(struct adapter_result *res);

#endif
