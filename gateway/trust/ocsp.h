/* ocsp: certificate status by OCSP (RFC 6960) for signing and authentication
 * certificates.
 *
 * Two halves:
 *  - checking a response (ocsp_check_response, ocsp_check_header): a DER
 *    OCSPResponse, fetched by us or carried with a message, is verified for
 *    one certificate. Already verified responses are remembered in a small
 *    process-wide cache (SHA-256 of the DER -> the verdict), so checking the
 *    same carried response thousands of times a second costs a hash and a
 *    lookup; the time checks are applied on every call, hit or not.
 *  - keeping responses fresh (struct ocsp_cache): certificates are
 *    registered with ocsp_cache_watch; one background thread fetches a
 *    response for each (HTTP POST application/ocsp-request, libcurl easy),
 *    verifies it, keeps it, and fetches again well before it goes stale.
 *    Callers on an event loop only read what the thread stored
 *    (ocsp_cache_get / ocsp_cache_status): no call here blocks on the
 *    network except inside that thread (and ocsp_cache_refresh_now, which
 *    waits for it and is meant for tests and tools).
 *
 * Carrying: ocsp_encode_header / ocsp_parse_header put several responses in
 * one HTTP header value (base64 of each DER, comma-separated), so that the
 * receiver need not ask the responder again. Policy (README-sign.md, "OCSP"):
 * GOOD is accepted; REVOKED and UNKNOWN are refused; no fresh response is
 * refused.
 *
 * Needs curl_global_init before ocsp_cache_new. All functions are
 * thread-safe unless noted. */
#ifndef AILGATE_TRUST_OCSP_H
#define AILGATE_TRUST_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "lib/buf.h"

/* Largest DER OCSPResponse accepted (from a responder, a header or storage).
 * Ours are ~1 KiB (EC) to ~2 KiB (RSA) with the responder certificate. */
#define OCSP_MAX_RESPONSE (16 * 1024)
/* At most this many responses in one header value, and this many bytes. */
#define OCSP_HEADER_MAX_RESPONSES 8
#define OCSP_HEADER_MAX_LEN (48 * 1024)
/* Responder URLs kept per certificate (configured first, then AIA). */
#define OCSP_MAX_URLS 4
#define OCSP_URL_MAX 512
#define OCSP_DEFAULT_FRESHNESS_S 3600
#define OCSP_DEFAULT_SKEW_S 300
/* Room for any message written to a why buffer here. */
#define OCSP_WHY_MAX 512

enum ocsp_cert_state {
	OCSP_CERT_GOOD = 0,
	OCSP_CERT_REVOKED,
	OCSP_CERT_UNKNOWN        /* the responder does not know the certificate */
};

/* What a valid response says about one certificate. Times are UTC seconds. */
struct ocsp_status {
	enum ocsp_cert_state state;
	time_t this_update;
	time_t next_update;      /* 0: the response has none */
	time_t produced_at;
	time_t revoked_at;       /* REVOKED only, else 0 */
	int reason;              /* REVOKED: CRL reason code (ocsp_reason_name), or
				    -1 when the responder gave none */
};

struct ocsp_check_opts {
	long freshness_s;        /* max age of thisUpdate; 0: OCSP_DEFAULT_FRESHNESS_S */
	long skew_s;             /* clock difference allowed on thisUpdate (future)
				    and nextUpdate (past); 0: OCSP_DEFAULT_SKEW_S */
	time_t now;              /* 0: the clock. Only the freshness checks use it:
				    certificate validity is checked on the clock */
	int no_cache;            /* 1: neither use nor fill the verified-response
				    cache (measurements, tests) */
};

/* Verifies a DER OCSPResponse (at most OCSP_MAX_RESPONSE bytes) for cert,
 * issued by issuer:
 *  - responseStatus successful, a basic response;
 *  - signed by issuer itself, or by a delegated responder certificate issued
 *    by issuer with the OCSPSigning extended key usage (the responder
 *    certificate is taken from the response), whose chain verifies to trust;
 *  - a SingleResponse whose CertID (any hash algorithm) names cert + issuer;
 *  - thisUpdate not after now + skew, now - thisUpdate <= freshness,
 *    nextUpdate (when present) not before now - skew.
 * No nonce is required (responses are shared and carried).
 * trust holds the approved CAs (as for sig_verify; borrowed, never changed);
 * NULL: issuer itself is the only anchor (enough when the caller has already
 * verified issuer). o may be NULL (defaults). The issuer must be the one that
 * issued cert (checked by name and key identifier).
 * Returns 0 when the response is valid - whatever the status, which is in
 * *st - or -1 when it is not usable, with why (whylen bytes, at least
 * OCSP_WHY_MAX recommended) saying what failed, for a person. */
int ocsp_check_response(const unsigned char *der, size_t len, X509 *cert, X509 *issuer,
			X509_STORE *trust, const struct ocsp_check_opts *o, struct ocsp_status *st,
			char *why, size_t whylen) __attribute__((warn_unused_result));

/* The verified-response cache behind ocsp_check_response: 512 entries, each
 * holding references to the certificate, issuer and trust store it was
 * verified with (so a freed store's address can never be mistaken for a new
 * one). Clearing drops them all (global configuration reload, tests, exit). */
void ocsp_verified_cache_clear(void);
void ocsp_verified_cache_stats(uint64_t *hits, uint64_t *misses);

/* "keyCompromise", "cACompromise", ... or "unspecified" for -1/unknown codes. */
const char *ocsp_reason_name(int reason);
const char *ocsp_cert_state_name(enum ocsp_cert_state s);   /* "good", ... */

/* The OCSP responder URLs in cert's Authority Information Access extension
 * (http:// and https:// only), at most max, each strdup'ed into urls[] (the
 * caller frees each). Returns how many. */
size_t ocsp_aia_urls(X509 *cert, char **urls, size_t max);

/* ---- carrying responses in an HTTP header ---------------------------------- */

/* Appends "B64,B64,..." (standard base64 of each DER, no spaces) to out.
 * 0, or -1 when n is 0 or over OCSP_HEADER_MAX_RESPONSES, a response is empty
 * or over OCSP_MAX_RESPONSE, or out's cap is reached. */
int ocsp_encode_header(const unsigned char *const *ders, const size_t *lens, size_t n,
		       struct buf *out) __attribute__((warn_unused_result));

/* Parsed header: n responses, each owned (ocsp_header_free). */
struct ocsp_header {
	size_t n;
	unsigned char *der[OCSP_HEADER_MAX_RESPONSES];
	size_t len[OCSP_HEADER_MAX_RESPONSES];
};

/* Parses a header value written by ocsp_encode_header; optional spaces or
 * tabs around the commas are allowed. Refuses (-1, why) a value over
 * OCSP_HEADER_MAX_LEN, more than OCSP_HEADER_MAX_RESPONSES items, an empty
 * item, bad base64, or a decoded item over OCSP_MAX_RESPONSE. The DER is not
 * checked here. On failure h is left empty. */
int ocsp_parse_header(const char *value, size_t len, struct ocsp_header *h, char *why,
		      size_t whylen) __attribute__((warn_unused_result));
void ocsp_header_free(struct ocsp_header *h);

/* Receiving side in one call: parses the header and checks each response
 * for cert until one is valid (0, *st) - so one header may carry the
 * responses for several certificates. -1 with why: the header is malformed,
 * or no response in it is valid for cert (why then names the reason the
 * first of them failed). */
int ocsp_check_header(const char *value, size_t len, X509 *cert, X509 *issuer,
		      X509_STORE *trust, const struct ocsp_check_opts *o, struct ocsp_status *st,
		      char *why, size_t whylen) __attribute__((warn_unused_result));

/* ---- the cache and its refresher thread ------------------------------------ */

struct ocsp_cache;

struct ocsp_cache_config {
	long freshness_s;        /* a response is served while now - thisUpdate
				    <= this and nextUpdate is not passed;
				    0: OCSP_DEFAULT_FRESHNESS_S */
	long refresh_ahead_s;    /* fetch again this long before a response goes
				    stale (min(thisUpdate + freshness,
				    nextUpdate)), but never before half its
				    lifetime has passed; 0: freshness / 2 */
	long fetch_interval_s;   /* fetch again at most this long after a response
				    came, whatever the above allows (how soon a
				    revocation is learnt); 0: only the above */
	long skew_s;             /* as in ocsp_check_opts; 0: OCSP_DEFAULT_SKEW_S */
	unsigned timeout_ms;     /* one HTTP request; 0: 5000 */
	unsigned retry_min_ms;   /* after a failed fetch, retry after this, */
	unsigned retry_max_ms;   /* doubling up to this; 0: 1000 / 60000 */
	size_t max_watched;      /* 0: 1024 */
	X509_STORE *trust;       /* approved CAs; up-ref'd (the cache keeps its own
				    reference); NULL: each issuer is its own anchor */
	/* Tests: the wall clock (seconds) used for freshness and scheduling;
	 * NULL: time(). */
	time_t (*clock)(void *arg);
	void *clock_arg;
};

enum ocsp_cache_state {
	OCSP_CACHE_GOOD = 0,
	OCSP_CACHE_REVOKED,
	OCSP_CACHE_UNKNOWN,       /* a fresh response says "unknown" */
	OCSP_CACHE_NONE_FRESH,    /* no fresh response (not fetched yet, the
				     responder is unreachable, or the response
				     went stale) */
	OCSP_CACHE_NOT_WATCHED
};

/* Starts the refresher thread. NULL with *err (caller frees) when the
 * configuration is out of bounds or a resource is missing. */
struct ocsp_cache *ocsp_cache_new(const struct ocsp_cache_config *cfg, char **err);
/* Stops and joins the thread (within about a second even during a fetch:
 * transfers are aborted), frees everything. NULL-safe. No other call on c
 * may run concurrently or afterwards. */
void ocsp_cache_free(struct ocsp_cache *c);

/* Registers cert (issued by issuer) to be kept fresh; urls (n of them, may be
 * 0) are the configured responders, tried first, then those of cert's AIA.
 * Certificates are identified by the SHA-256 of their DER: watching again
 * the same certificate only updates its issuer/URLs (keeping the response
 * it has) and marks it current (ocsp_cache_begin). cert and issuer are
 * up-ref'd, strings copied. The first fetch starts at once, in the thread.
 * 0, or -1 with *err (caller frees): no URL at all, a URL that is not
 * http(s) or over OCSP_URL_MAX, issuer did not issue cert, the cache is full. */
int ocsp_cache_watch(struct ocsp_cache *c, X509 *cert, X509 *issuer,
		     const char *const *urls, size_t n, char **err)
	__attribute__((warn_unused_result));
/* Forgets one certificate (0) or none (-1: not watched). */
int ocsp_cache_unwatch(struct ocsp_cache *c, const unsigned char cert_sha256[32]);
void ocsp_cache_unwatch_all(struct ocsp_cache *c);

/* Global configuration reload, without losing responses of certificates that
 * stay:   gen = ocsp_cache_begin(c);  ocsp_cache_watch(...) each certificate
 * still wanted;  ocsp_cache_sweep(c, gen)  drops the others (returns how
 * many). Only one reload at a time (the caller serialises them). */
uint64_t ocsp_cache_begin(struct ocsp_cache *c);
size_t ocsp_cache_sweep(struct ocsp_cache *c, uint64_t gen);

/* Replaces the trust store (up-ref'd; the old reference is dropped) and
 * re-verifies every kept response against it before returning - CPU only,
 * about one signature check per watched certificate, no I/O - so no
 * response verified under the old approved CAs is served afterwards; those
 * that fail are dropped (and fetched again). 0, or -1 when a response was
 * dropped (the others are kept). */
int ocsp_cache_set_trust(struct ocsp_cache *c, X509_STORE *trust);

/* The current fresh response of a watched certificate, for carrying: *der
 * (caller frees with free()), *len and, if st is not NULL, its status -
 * whatever it is: the caller refuses to send with a REVOKED or UNKNOWN one.
 * 0, or -1 with why (not watched, or no fresh response: names the last
 * fetch error and the age of the newest response). Never blocks on I/O. */
int ocsp_cache_get(struct ocsp_cache *c, const unsigned char cert_sha256[32], unsigned char **der,
		   size_t *len, struct ocsp_status *st, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* The state of a watched certificate: GOOD/REVOKED/UNKNOWN (with *st when
 * not NULL) from a fresh response, NONE_FRESH (why says why), or
 * NOT_WATCHED. why may be NULL. */
enum ocsp_cache_state ocsp_cache_status(struct ocsp_cache *c, const unsigned char cert_sha256[32],
					struct ocsp_status *st, char *why, size_t whylen);
const char *ocsp_cache_state_name(enum ocsp_cache_state s);   /* "good", "none-fresh", ... */

/* Restarts: hands the cache a response kept from an earlier run (e.g. a file
 * in the data directory) for a watched certificate that has none yet. It is
 * verified like a fetched one and used only while fresh (so a restarted
 * gateway can sign at once), and the thread asks the responder again at once.
 * 0, or -1 with why (not watched, not valid, stale). */
int ocsp_cache_seed(struct ocsp_cache *c, const unsigned char cert_sha256[32], const unsigned char *der,
		    size_t len, char *why, size_t whylen) __attribute__((warn_unused_result));

/* Tests and tools: makes every watched certificate due now and waits until
 * the thread has been through all of them (each fetched, or failed), or
 * timeout_ms passed (-1). Blocks: never call it on an event loop. */
int ocsp_cache_refresh_now(struct ocsp_cache *c, unsigned timeout_ms)
	__attribute__((warn_unused_result));

/* Health: one entry per watched certificate. */
struct ocsp_health {
	unsigned char cert_sha256[32];
	char subject[160];              /* one-line subject, may be cut */
	enum ocsp_cache_state state;
	time_t this_update;             /* of the newest response kept, or 0 */
	time_t last_attempt;            /* 0: never */
	unsigned fetches;               /* successful fetches so far */
	char last_error[OCSP_WHY_MAX];  /* of the latest failed fetch, "" after a success */
};
/* Fills out[0..max) with the watched certificates that have no fresh GOOD
 * response (max may be 0 to only count them); returns how many there are
 * (possibly more than max). all = 1 lists every watched certificate instead. */
size_t ocsp_cache_health(struct ocsp_cache *c, struct ocsp_health *out, size_t max, int all);

#endif
