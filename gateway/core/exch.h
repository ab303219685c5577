/* One exchange (request/response) as it passes through the gateway.
 *
 * The same struct serves both roles:
 *  - client side: a request from an information system (SOAP or REST) is
 *    checked, then handed to the provider's gateway over mutual TLS, or to the
 *    provider pipeline in-process when this gateway hosts the service (same
 *    checks, no network hop); the answer is checked and relayed.
 *  - server side: a request from a peer gateway is checked (TLS peer is the
 *    gateway global configuration names for the client), access rights
 *    applied, then the service called (adapter or provider URL).
 * Every exchange ends in exactly one exch_finish(). */
#ifndef AILGATE_CORE_EXCH_H
#define AILGATE_CORE_EXCH_H

#include <time.h>

#include "adapters/adapter.h"
#include "core/gw.h"
#include "lib/buf.h"
#include "lib/crypto.h"
#include "proto/fault.h"
#include "proto/rest.h"
#include "proto/soap.h"
#include "store/consent.h"

enum exch_side { EXCH_CLIENT_SIDE, EXCH_SERVER_SIDE };
enum exch_proto { EXCH_SOAP, EXCH_REST, EXCH_OTHER };

/* At most: a provider's answer may have OUT_HDR_MAX_COUNT (200) headers,
 * and the gateways add a few of their own on the way. */
#define HLIST_MAX 256

/* Owned header list (names/values copied), grown as needed; zeroed is
 * empty, hlist_clear() frees it. */
struct hlist {
	struct http_hdr *h;
	size_t n, cap;
};
int hlist_add(struct hlist *l, const char *name, const char *value);
void hlist_clear(struct hlist *l);

/* A response as produced by a provider (in-process or remote). */
/* What travels in front of a message's body between gateways (core/sx.h,
 * SX_HDR_SIGNED): the signature document and the OCSP responses, pointing
 * into the received body. present is 0 when the message came without. */
struct sx_carried {
	const char *sig;
	size_t sig_len;
	const char *ocsp;
	size_t ocsp_len;
	int present;
};

struct exch_resp {
	long status;
	const struct http_hdr *hdrs;
	size_t nhdrs;
	const unsigned char *body;
	size_t body_len;
	X509 *peer_cert;                /* answers from a peer gateway: its TLS certificate */
	struct sx_carried carried;      /* answers from a peer gateway: its signature */
};

struct exch;
typedef void (*exch_provider_done_fn)(struct exch *ex, const struct exch_resp *resp);


struct exch {
	struct worker *w;
	struct gconf *gc;               /* reference held for the whole exchange */
	struct http_req *req;           /* NULL once answered or aborted */
	enum exch_side side;
	enum exch_proto proto;
	char reqid[UUID_STR_LEN];       /* this gateway's id: log lines and fault detail */
	struct timespec t0;
	/* Where the time went, for the log line (ms; < 0: the phase did not
	 * happen): waiting for and doing the batch signature; waiting for the
	 * next hop (peer gateway or provider system); the answer held until its
	 * log records were durable. t_remote, t_held: when those began. */
	double sign_ms, remote_ms, logwait_ms;
	struct timespec t_remote, t_held;

	const unsigned char *body;      /* request body (borrowed from req); server side: */
	size_t body_len;                /*   after what travels in front of it (carried) */
	struct sx_carried carried;      /* server side: the signature that came with the request */
	struct buf wire;                /* client side: the signed request as sent (core/sx.h) */
	char method[16];
	struct soap_msg soap;           /* EXCH_SOAP */
	struct rest_req *rest;          /* EXCH_REST (heap: it is large) */
	struct hlist fwd;               /* REST: headers forwarded to the provider */
	char *target;                   /* REST: request-target forwarded (REST_TARGET_MAX bytes; NULL for SOAP) */
	char hash[B64_SHA512_LEN];      /* request hash */
	struct xrd_id client;
	struct xrd_id service;
	const struct gc_service *svc;   /* NULL for metaservices */
	const char *meta;               /* metaservice name, or NULL */
	char peer[128];                 /* provider gateway (client side) / caller gateway (server side) */
	char from[64];                  /* the connection's remote address, "IP:port" (the request line's from=) */
	int local;                      /* client side: the provider is this gateway */

	struct out_handle *out;         /* outbound call in flight */
	/* Client side: aborted while its call to the provider's gateway was in
	 * flight - the call is left to finish (so the pooled connection to that
	 * gateway stays open) on the worker's abandoned list. */
	struct exch *ab_prev, *ab_next;
	struct timespec t_abandoned;
	exch_provider_done_fn provider_done;
	int aborted;                    /* the caller went away */
	char fault_code[FAULT_CODE_MAX];/* fault this exchange ended with, for the log line */
	int adapter_pending;            /* an adapter has not called back yet (or the call waits
					   for its access-log record: provider.c, parked) */
	struct exch *parked_next;       /* provider.c: the worker's calls waiting for that record */
	json_t *parked_params;          /* their parameters (owned), NULL when not parked */
	char consented[CONSENT_SUBJECT_MAX + 1]; /* the person whose consent allowed this call
					   (consent_query.consented), "" if none */
	/* If set, called with the checked answer instead of relaying it as is. */
	void (*relay_hook)(struct exch *ex, long status, const struct hlist *h, const unsigned char *body,
			   size_t len);
	char http_host[256];            /* Host header (for addresses in WSDL/OpenAPI) */

	/* The message log (core/sx.h): the answer waits for every record. */
	int log_pending;                /* records queued, not yet durable */
	char log_error[256];            /* why a record could not be logged */
	int verified;                   /* server side: the request's signature checked */
	int sign_pending;               /* waiting in the worker's signing batch (core/sx.h) */
	const struct gc_gateway *peer_gw; /* client side: the provider's gateway (in ex->gc) */
	int held;                       /* an answer waits in held_* */
	long held_status;
	struct hlist held_hdrs;
	unsigned char *held_body;
	size_t held_len;
	char held_fault[FAULT_CODE_MAX];
};

/* A new exchange for req (takes a global configuration reference, sets the
 * abort callback). NULL on allocation failure. */
struct exch *exch_alloc(struct worker *w, struct http_req *req, enum exch_side side);

/* Entry points, one per listener (httpd handlers and reject callbacks). */
void exch_client_handler(struct http_req *req, void *arg);
void exch_server_handler(struct http_req *req, void *arg);
void exch_reject(struct http_req *req, int status, const char *why, void *arg);

/* 0 while the exchange's global configuration is valid; otherwise -1 with
 * f = prefix + OutdatedGlobalConf (X-Road refuses every exchange then). */
int exch_gconf_fresh(struct exch *ex, const char *prefix, struct fault *f) __attribute__((warn_unused_result));
/* Client side, after the caller is identified: route to the provider
 * (in-process or its gateway) and relay the checked answer. */
void exch_client_dispatch(struct exch *ex);
/* REST: fills ex->fwd from the request (hop-by-hop dropped, X-Road-Id set)
 * and computes ex->hash over what is forwarded. */
int exch_rest_forward_headers(struct exch *ex) __attribute__((warn_unused_result));
int exch_rest_hash(struct exch *ex, const struct http_hdr *h, size_t n) __attribute__((warn_unused_result));

/* The SOAP envelope of a body: the root part of multipart/related (SOAP with
 * attachments, MTOM), else the whole body. Points into body. 0, or -1 with f
 * set to prefix + MimeParsingFailed. */
int exch_soap_part(const char *ctype, const void *body, size_t len, const char *prefix,
		   const void **part, size_t *part_len, struct fault *f) __attribute__((warn_unused_result));

/* Renders a fault as the answer body (SOAP Fault, or REST JSON/XML error with
 * X-Road-Error) plus Content-Type into b and h, logs it and records its code
 * for the request's log line. 0, or -1 out of memory. */
int exch_fault_render(struct exch *ex, const struct fault *f, int rest, int want_xml, struct buf *b,
		      struct hlist *h) __attribute__((warn_unused_result));
/* Ends an exchange with a fault (in the protocol of the exchange). */
void exch_fault(struct exch *ex, const struct fault *f);
/* Called when the last log record of ex is durable: sends the held answer
 * (or LoggingFailed if a record failed), or ends an aborted exchange. */
void exch_release(struct exch *ex);
/* Ends the worker's aborted exchanges whose gateway call was left to finish
 * (cancelling the calls): a stopping worker, before its outbound client goes. */
void exch_cancel_abandoned(struct worker *w);
/* Ends an exchange with a response; frees ex. While log records are pending
 * the answer is copied and held until exch_release. */
void exch_finish(struct exch *ex, long status, const struct http_hdr *hdrs, size_t n,
		 const void *body, size_t len, const char *fault_code);

/* Server side (provider.c): checks access and calls the service; the result
 * goes to ex->provider_done (remote: answer the peer; local: back to the
 * client side). */
void provider_dispatch(struct exch *ex);
/* Adds the X-Road-* answer headers of REST (protocol.md): X-Road-Client,
 * -Service, -Id, -Request-Id, -Request-Hash. 0, or -1 if h is full. */
int provider_rest_headers(struct exch *ex, struct hlist *h) __attribute__((warn_unused_result));
/* Converts a fault into a provider response and hands it to provider_done. */
void provider_fault(struct exch *ex, const struct fault *f);
/* A stopping worker: the calls waiting for their access-log record are
 * released (their services never called, their records dropped); one whose
 * message-log record is still pending is left to the process's exit. */
void provider_parked_free(struct worker *w);

/* Metaservices (meta.c). */
int meta_is_soap(const char *service_code);
int meta_is_rest(const char *service_code);
void meta_soap(struct exch *ex);            /* listMethods, allowedMethods, getWsdl */
void meta_rest(struct exch *ex);            /* listMethods, allowedMethods, getOpenAPI */
void meta_list_clients(struct exch *ex);    /* GET /listClients (client side) */
void meta_health(struct exch *ex);          /* GET /health */
void meta_wsdl_get(struct exch *ex);        /* GET /wsdl?... (client side) */
void meta_verify_page(struct exch *ex);     /* GET|POST /verify: certificate verification page */

/* render.c: adapter JSON <-> protocol forms. */
int render_json_to_xml(const json_t *v, const char *name, struct buf *out) __attribute__((warn_unused_result));
/* Percent-decodes one parameter (len bytes at p; '+' as space if
 * plus_is_space) into out, cap bytes, as UTF-8 jansson takes; -1 with why
 * naming `what` and the reason (too long, a bad escape, not UTF-8). */
int render_param_decode(const char *p, size_t len, int plus_is_space, char *out, size_t cap, const char *what,
			char *why, size_t whylen);
/* Adds query parameters (a=b&c=d, percent-decoded) to params. -1 with why
 * set on bad encoding, an over-long value, or a key params already holds. */
int render_query_params(const char *query, json_t *params, char *why, size_t whylen)
	__attribute__((warn_unused_result));

#endif
