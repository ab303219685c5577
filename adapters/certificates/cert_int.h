/* The certificates adapter's internals, shared by certificates.c (the ops
 * table, configuration, the services around issued documents) and issue.c
 * (the issuing flow). Not for other modules.
 *
 * Threads: handle() and every callback run on the worker's event loop;
 * whatever blocks - the register (SQLite, busy waits), signing, the TSA
 * round trip, PDF rendering - runs in run_blocking's work functions on a
 * background thread. Those touch only their own job and the shared state
 * (struct cert_shared), which is reference counted so that a job still
 * running at shutdown never uses freed memory. */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_CERT_INT_H
#define AILGATE_ADAPTERS_CERTIFICATES_CERT_INT_H

#include "adapters/adapter.h"
#include "adapters/certificates/compose.h"

#include <pthread.h>
#include <stddef.h>

#include <openssl/x509.h>

struct signing_key;
struct tsa_client;
struct tsa_trust;
struct docreg;

#define CERT_ID_MAX 256             /* "INST/CLASS/CODE/SUB[/service]" */
#define CERT_PURPOSE_MAX 1024       /* bytes of the purpose (certdoc's text cap) */
#define CERT_USER_MAX 64            /* X-Road-UserId looked at */
#define CERT_CLERKS_MAX 8
#define CERT_TSA_IDLE 4

/* What the background jobs of one worker use. */
struct cert_shared {
	pthread_mutex_t lock;               /* refs and the idle TSA clients */
	int refs;
	struct signing_key *key;            /* NULL: not configured (issue refuses) */
	char *tsa_url, *tsa_cert, *tsa_ca;  /* NULL tsa_url: documents are not time-stamped */
	unsigned tsa_timeout_ms;
	struct tsa_client *idle[CERT_TSA_IDLE];   /* one client per job at a time */
	size_t n_idle;
	struct docreg *reg;                 /* NULL: could not be opened (calls: unavailable) */
	char reg_path[1024];
	X509_STORE *trust;                  /* CAs of member signing keys (verify-document) */
	struct tsa_trust *tsa_trust;        /* the TSA, for uploaded documents */
	int require_timestamp;
};

/* Per worker thread. */
struct cert_ctx {
	struct adapter_host host;           /* copied; its ctx and strings outlive us */
	char client[CERT_ID_MAX];           /* the subsystem we query as */
	char issuer_instance[64], issuer_class[64], issuer_code[64];
	char issuer_name[256];
	char registry[CR_COUNT][CERT_ID_MAX];   /* each registry's subsystem */
	char edocs[CERT_ID_MAX];            /* the electronic documents subsystem */
	char verify_base[256];              /* "http://127.0.0.1:8080/verify" */
	char clerks[CERT_CLERKS_MAX][CERT_ID_MAX];
	size_t n_clerks;
	long vet_max_age_days;
	long valid_days;
	unsigned timeout_ms;                /* outcalls; 0: the gateway's */
	char as_of[11];                     /* "today" override (tests), "" for the clock */
	struct cert_shared *sh;
};

/* ---- certificates.c ------------------------------------------------------- */

/* A request parameter: trimmed, from the JSON body (obj) when there is one,
 * else from the call's parameters, into out[cap]; "" if absent. */
void cert_param(const struct adapter_call *call, const json_t *obj, const char *name, char *out,
		size_t cap);

/* The request's fields: the JSON body of a REST POST, or the parameters
 * (query, path, SOAP elements). *obj is a new reference. 0, or -1 with res. */
int cert_request_object(const struct adapter_call *call, json_t **obj, struct adapter_result *res);

/* Whether user_id names the subject: the PIN (optionally with a "KG" /
 * "KGZ" country prefix), or the citizenship (alpha-2 or alpha-3) followed by
 * the document number, optionally separated by '-', ':' or '/'. */
int cert_user_is_subject(const char *user_id, const struct compose_subject *s);

/* Whether client ("INST/CLASS/CODE/SUB") is one of the configured clerks. */
int cert_is_clerk(const struct cert_ctx *c, const char *client);

/* Shared state: a new reference / drop one (frees at the last). */
void cert_shared_ref(struct cert_shared *s);
void cert_shared_unref(struct cert_shared *s);

/* A TSA client for one job (NULL with *err when it cannot be made); give
 * it back with cert_tsa_put. Thread-safe. Only when s->tsa_url is set. */
struct tsa_client *cert_tsa_take(struct cert_shared *s, char **err);
void cert_tsa_put(struct cert_shared *s, struct tsa_client *t);

/* Runs work(arg) off the loop and then done(arg) on it; inline when the host
 * offers no run_blocking (unit tests may). 0, or -1 (neither runs). */
int cert_blocking(struct cert_ctx *c, void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* Text for a person on one line: certdoc_text_ok (valid UTF-8, no control
 * characters, no noncharacters) and no U+2028/U+2029. */
int cert_text_ok(const char *s);

/* Copies src into dst[cap], cut at cap - 1 bytes (callers check lengths
 * first where a cut would matter). */
void cert_copy(char *dst, size_t cap, const char *src);

/* Cuts s (NUL-terminated, in place) to at most max bytes on a character
 * boundary. */
void cert_utf8_cut(char *s, size_t max);

/* ---- issue.c ---------------------------------------------------------------- */

/* The issue service: calls done once, now or later. */
void cert_issue(struct cert_ctx *c, const struct adapter_call *call, adapter_done_fn done, void *arg);

#endif
