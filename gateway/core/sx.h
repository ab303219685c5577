/* sx: the signed exchange between gateways (architecture.md steps 4, 6, 8-11).
 *
 * Every request and response that crosses from one gateway to another is
 * signed by the sending member's signing key (trust/sign.h: a SignedMessage
 * document over the SHA-256 of the exact bytes and the identifiers), carries
 * the OCSP response of the signing certificate, and is verified by the
 * receiver; every message is written to the message log (store/msglog.h)
 * before the answer goes back. Between gateways the signature document and
 * the OCSP responses travel in front of the body (SX_HDR_SIGNED below).
 * What is signed and logged:
 *   SOAP  the HTTP body as sent (envelope, or the whole multipart body);
 *   REST  rest_canonical_message(): request line or status, the X-Road
 *         headers and Content-Type, then the body (content type
 *         SX_REST_CTYPE in the signature).
 * An exchange whose service is hosted by the same gateway is not signed
 * (nothing crosses), but both messages are logged.
 *
 * The answer to the caller waits for every log record of the exchange to be
 * durable (exch_finish holds it: ex->log_pending); if a record cannot be
 * written the caller gets LoggingFailed instead. */
#ifndef AILGATE_CORE_SX_H
#define AILGATE_CORE_SX_H

#include "core/exch.h"
#include "trust/ocsp.h"
#include "trust/sign.h"

struct event_base;

/* Between gateways the signature document (as signed, not encoded) and the
 * OCSP responses (ocsp_encode_header's text) travel in front of the body:
 * the header SX_HDR_SIGNED = "<signature bytes> <OCSP bytes>" in decimal
 * says how long each is, and Content-Type stays that of the message that
 * follows them. (Headers of several KB cost more to build and parse on both
 * sides - libcurl writes custom headers a byte at a time - than the body.) */
#define SX_HDR_SIGNED "X-Ailgate-Signed"
/* An answer whose status allows no body (204, 304) cannot carry them: it
 * crosses as 200 with its own status in this header (signed, as the status
 * is part of what a REST signature covers), and leaves the client's
 * gateway with it again (sx_status). */
#define SX_HDR_STATUS "X-Ailgate-Status"
/* The most that travels in front of a body: the peer port's body cap and the
 * caller's answer cap allow this much on top of [limits] max_body and
 * [outbound] max_response, so a message at the cap still crosses. */
#define SX_CARRIED_MAX ((size_t)SIG_XML_MAX + (size_t)OCSP_HEADER_MAX_LEN)
#define SX_REST_CTYPE "application/vnd.ailgate.rest-message"

/* The status of a signed answer received as `status` with headers h (the
 * status SX_HDR_STATUS restores); -1 with f set when that header is there
 * but not 204 or 304 under a 200. */
long sx_status(long status, const struct http_hdr *h, size_t n, const char *prefix, struct fault *f);

/* Takes what travels in front of a received body (the SX_HDR_SIGNED header's
 * value hdr, NULL if absent): c->present 0 and the body untouched without
 * the header; else c points into the body and *body, *len are moved past
 * it. -1 with f (prefix + MalformedSignature) when the header is not two
 * decimals that fit the body and the limits. */
int sx_split(const char *hdr, const unsigned char **body, size_t *len, struct sx_carried *c, const char *prefix,
	     struct fault *f) __attribute__((warn_unused_result));

/* Loads the member keys, opens the message log (TSA from global
 * configuration) and starts OCSP refreshing. 0, or -1 with *err. */
int sx_init(struct gw *g, char **err) __attribute__((warn_unused_result));
/* After a new global configuration is in force: the approved CAs and
 * their OCSP responders may have changed. */
void sx_gconf_changed(struct gw *g, struct gconf *c);
/* Before a worker's event_base is freed: ends what waits in its signing batch
 * and drops log completions owed to it. */
void sx_detach(struct worker *w);
/* Closes the log and frees the keys: after the workers have stopped. */
void sx_free(struct gw *g);

/* 0 if new exchanges may start; -1 with f = prefix + LoggingFailed.* when the
 * message log is unhealthy (TSA unreachable too long, database failing). */
int sx_ready(struct exch *ex, const char *prefix, struct fault *f) __attribute__((warn_unused_result));
/* 0 unless a message id repeats within the replay window (prefix +
 * DuplicateMessageId). */
int sx_claim(struct exch *ex, const char *prefix, struct fault *f) __attribute__((warn_unused_result));

/* Signing is batched per worker (trust/README-sign.md, "Batches"): the
 * requests and answers a worker has ready to send are signed together when
 * its event loop has nothing else ready (at most 2 ms after the first), with
 * one key operation per member key ([signing] batch_max). Then each is logged
 * and handed on. */
typedef void (*sx_request_signed_fn)(struct exch *ex, const struct fault *f);
typedef void (*sx_response_signed_fn)(struct exch *ex, const struct exch_resp *r, const struct fault *f);

/* Client side, remote service: queues the request (headers to send in
 * ex->fwd) for signing. done(ex, NULL) once it is signed and logged, with
 * SX_HDR_SIGNED added to ex->fwd and the body to send in ex->wire; done(ex,
 * f) if that failed. -1 with f, and nothing queued, when it cannot even be
 * queued. */
int sx_sign_request(struct exch *ex, sx_request_signed_fn done, struct fault *f)
	__attribute__((warn_unused_result));
/* Server side: verifies the request's signature, binding and certificate
 * status, and logs it. 0, or -1 with f (Server.ServerProxy.*). */
int sx_verify_request(struct exch *ex, struct fault *f) __attribute__((warn_unused_result));
/* Server side: queues the provider's answer r (copied) for signing with the
 * service owner's key; done gets the copy back, with SX_HDR_SIGNED added and
 * the signature in front of the body when f is NULL (its own headers and
 * body alone otherwise). -1 with f when it cannot be queued. */
int sx_sign_response(struct exch *ex, const struct exch_resp *r, sx_response_signed_fn done, struct fault *f)
	__attribute__((warn_unused_result));
/* The caller of a client-side exchange went away while its request waited
 * for the batch: it is dropped (nothing was sent or logged). A server-side
 * answer stays queued: the request is logged, so its answer will be too. */
void sx_cancel(struct exch *ex);
/* Client side: verifies the answer of the provider's gateway and logs it.
 * An answer without a signature is accepted only as an error of the
 * exchange itself (X-Road-Error / SOAP fault from a gateway that could not
 * sign); 0, or -1 with f (Server.ClientProxy.*). */
int sx_verify_response(struct exch *ex, const struct exch_resp *r, int is_fault, struct fault *f)
	__attribute__((warn_unused_result));
/* Local exchanges: logs the request (dir 1) or the answer (dir 2) unsigned. */
int sx_log_local(struct exch *ex, int dir, const struct exch_resp *r, struct fault *f)
	__attribute__((warn_unused_result));

/* Health checks for GET /health (meta.c): fills up to max, returns how many. */
struct sx_check {
	char name[32];
	int ok;
	int warning;      /* -1: a check that fails the gateway when !ok; 0 or 1: a
			     warning that never does (ok stays 1) */
	char detail[700];
};
size_t sx_health(struct gw *g, struct sx_check *out, size_t max);

#endif
