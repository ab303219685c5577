/* ocsp_cache: watched certificates, their newest verified OCSP responses and
 * the one thread that fetches them.
 *
 * Everything is under one mutex, held only for bookkeeping: the thread takes
 * a due certificate's copy (a "job": references and URL strings), unlocks,
 * does the HTTP POST and the verification, locks again and stores the result
 * if the certificate is still watched and the trust store has not changed
 * meanwhile. Readers (ocsp_cache_get/status/health) only copy what is stored.
 *
 * Scheduling: a response goes stale at min(thisUpdate + freshness,
 * nextUpdate); it is fetched again refresh_ahead_s before that, but not
 * before half of that lifetime has passed (a responder with a short
 * nextUpdate is not hammered) - or fetch_interval_s after it came, when that
 * is sooner (how soon a revocation is learnt). A failed fetch is retried after retry_min_ms,
 * doubling up to retry_max_ms, and the response kept so far is still served
 * while it is fresh. The thread sleeps on a condition variable until the
 * earliest due time, a new certificate, refresh_now or stop. */
#include "trust/ocsp.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/crypto.h"

#define MAX_WAIT_MS 60000   /* re-evaluate at least this often (clock jumps) */

struct watch {
	uint64_t id;                      /* unique, never reused */
	unsigned char sha[SHA256_LEN];    /* of the certificate's DER */
	X509 *cert, *issuer;              /* references */
	char *urls[OCSP_MAX_URLS];
	size_t nurls;
	char subject[160];
	uint64_t gen;                     /* reload generation it was last watched in */
	unsigned char *der;               /* newest verified response, or NULL */
	size_t len;
	struct ocsp_status st;
	uint64_t resp_seq;                /* bumped with every new response */
	int64_t due_ms;                   /* next fetch, wall clock (cache clock) */
	uint64_t want, served;            /* refresh_now asked / taken */
	unsigned backoff_ms;
	time_t last_attempt;
	unsigned fetches;
	char last_error[OCSP_WHY_MAX];
};

struct ocsp_cache {
	struct ocsp_cache_config cfg;     /* defaults applied; cfg.trust is ours */
	pthread_mutex_t lock;
	pthread_cond_t wake;              /* to the thread: work or stop */
	pthread_cond_t done;              /* from the thread: idle after a request */
	pthread_t thread;
	int started;
	int stop;                         /* read by the transfer callback: atomics */
	struct watch **w;
	size_t n;
	uint64_t next_id, gen, trust_gen, req_seq, done_seq;
	CURL *curl;                       /* the thread's only */
};

/* What the thread works on, unlocked. */
struct job {
	uint64_t id, trust_gen;
	X509 *cert, *issuer;
	X509_STORE *trust;
	char *urls[OCSP_MAX_URLS];
	size_t nurls;
	int ok;
	unsigned char *der;
	size_t len;
	struct ocsp_status st;
	time_t at;
	char err[OCSP_WHY_MAX];
};

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	ERR_clear_error();
	if (!err)
		return;
	free(*err);
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

static time_t now_s(const struct ocsp_cache *c)
{
	return c->cfg.clock ? c->cfg.clock(c->cfg.clock_arg) : time(NULL);
}

static int64_t now_ms(const struct ocsp_cache *c)
{
	struct timespec ts;

	if (c->cfg.clock)
		return (int64_t)c->cfg.clock(c->cfg.clock_arg) * 1000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mono_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void fmt_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "%lld", (long long)t);
}

/* ------------------------------------------------------------ entries */

static void watch_free(struct watch *e)
{
	if (!e)
		return;
	X509_free(e->cert);
	X509_free(e->issuer);
	for (size_t i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	free(e->der);
	free(e);
}

static struct watch *find(struct ocsp_cache *c, const unsigned char *sha, size_t *idx)
{
	for (size_t i = 0; i < c->n; i++) {
		if (memcmp(c->w[i]->sha, sha, SHA256_LEN) == 0) {
			if (idx)
				*idx = i;
			return c->w[i];
		}
	}
	return NULL;
}

static struct watch *find_id(struct ocsp_cache *c, uint64_t id)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->w[i]->id == id)
			return c->w[i];
	}
	return NULL;
}

static void remove_at(struct ocsp_cache *c, size_t i)
{
	watch_free(c->w[i]);
	c->w[i] = c->w[--c->n];
}

/* The moment the entry's response stops being served (0: none). */
static time_t stale_at(const struct ocsp_cache *c, const struct watch *e)
{
	time_t s;

	if (!e->der)
		return 0;
	s = e->st.this_update + c->cfg.freshness_s;
	if (e->st.next_update && e->st.next_update < s)
		s = e->st.next_update;
	return s;
}

static enum ocsp_cache_state entry_state(const struct ocsp_cache *c, const struct watch *e,
					 time_t now)
{
	if (!e->der || now >= stale_at(c, e))
		return OCSP_CACHE_NONE_FRESH;
	switch (e->st.state) {
	case OCSP_CERT_GOOD: return OCSP_CACHE_GOOD;
	case OCSP_CERT_REVOKED: return OCSP_CACHE_REVOKED;
	case OCSP_CERT_UNKNOWN: return OCSP_CACHE_UNKNOWN;
	}
	return OCSP_CACHE_NONE_FRESH;
}

/* Why e has no fresh response, for a person. */
static void none_fresh_why(const struct ocsp_cache *c, const struct watch *e, time_t now,
			   char *why, size_t whylen)
{
	char t[32], last[OCSP_WHY_MAX + 32] = "";

	if (!why || !whylen)
		return;
	if (*e->last_error)
		snprintf(last, sizeof(last), "; last error: %s", e->last_error);
	if (!e->der) {
		snprintf(why, whylen, "no OCSP response for %s yet%s", e->subject,
			 *last ? last : " (the first fetch is under way)");
	} else if (e->st.next_update && now >= e->st.next_update) {
		fmt_time(e->st.next_update, t, sizeof(t));
		snprintf(why, whylen, "no fresh OCSP response for %s: the newest passed its "
			 "nextUpdate %s%s", e->subject, t, last);
	} else {
		fmt_time(e->st.this_update, t, sizeof(t));
		snprintf(why, whylen, "no fresh OCSP response for %s: the newest (thisUpdate %s) is "
			 "%lld s old, over the %ld s freshness limit%s", e->subject, t,
			 (long long)(now - e->st.this_update), c->cfg.freshness_s, last);
	}
}

/* Next fetch after a new response (see the top of the file). */
static int64_t schedule(const struct ocsp_cache *c, const struct watch *e, time_t now)
{
	time_t stale = stale_at(c, e), at, half;

	at = stale - c->cfg.refresh_ahead_s;
	half = e->st.this_update + (stale - e->st.this_update) / 2;
	if (at < half)
		at = half;
	if (c->cfg.fetch_interval_s && now + c->cfg.fetch_interval_s < at)
		at = now + c->cfg.fetch_interval_s;
	if (at <= now)   /* an old response: approach staleness in steps */
		at = now + (stale > now + 4 ? (stale - now) / 4 : 1);
	return (int64_t)at * 1000;
}

/* ------------------------------------------------------------ the thread */

static void job_clear(struct job *j)
{
	X509_free(j->cert);
	X509_free(j->issuer);
	X509_STORE_free(j->trust);
	for (size_t i = 0; i < j->nurls; i++)
		free(j->urls[i]);
	free(j->der);
	memset(j, 0, sizeof(*j));
}

static int due(const struct watch *e, int64_t now)
{
	return e->want != e->served || e->due_ms <= now;
}

/* Under the lock: copies the most overdue entry into j. 1 when there is one. */
static int take_due(struct ocsp_cache *c, struct job *j)
{
	int64_t now = now_ms(c);
	struct watch *e = NULL;
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (due(c->w[i], now) && (!e || c->w[i]->due_ms < e->due_ms))
			e = c->w[i];
	}
	if (!e)
		return 0;
	memset(j, 0, sizeof(*j));
	e->served = e->want;
	j->id = e->id;
	j->trust_gen = c->trust_gen;
	j->at = now_s(c);
	if (X509_up_ref(e->cert))
		j->cert = e->cert;
	if (X509_up_ref(e->issuer))
		j->issuer = e->issuer;
	if (c->cfg.trust && X509_STORE_up_ref(c->cfg.trust))
		j->trust = c->cfg.trust;
	if (!j->cert || !j->issuer || (c->cfg.trust && !j->trust)) {
		snprintf(j->err, sizeof(j->err), "out of memory");
		return 1;
	}
	for (i = 0; i < e->nurls; i++) {
		if ((j->urls[j->nurls] = strdup(e->urls[i])) != NULL)
			j->nurls++;
	}
	return 1;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	return buf_append(arg, p, sz * n) < 0 ? 0 : sz * n;   /* over the cap: fail */
}

/* Aborts a transfer when the cache is being freed. */
static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
	struct ocsp_cache *c = arg;

	return __atomic_load_n(&c->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

static struct curl_slist *post_headers(void)
{
	static const char *const hs[] = { "Content-Type: application/ocsp-request",
					  "Accept: application/ocsp-response", "Expect:" };
	struct curl_slist *h = NULL, *h2;

	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (!(h2 = curl_slist_append(h, hs[i]))) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = h2;
	}
	return h;
}

/* POSTs the request to url; the body lands in out (capped). */
static int http_post(struct ocsp_cache *c, const char *url, const unsigned char *q, size_t qlen,
		     struct buf *out, char *why, size_t whylen)
{
	struct curl_slist *h = post_headers();
	CURL *cu = c->curl;
	long status = 0;
	CURLcode rc;

	if (!h) {
		snprintf(why, whylen, "%s: out of memory", url);
		return -1;
	}
	curl_easy_reset(cu);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_PROXY, "");   /* never via an environment proxy */
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.timeout_ms);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, (const char *)q);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)qlen);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(cu, CURLOPT_XFERINFODATA, c);
	rc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (rc == CURLE_WRITE_ERROR) {
		snprintf(why, whylen, "%s: answer over the %d-byte cap", url, OCSP_MAX_RESPONSE);
		return -1;
	}
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s: %s", url, curl_easy_strerror(rc));
		return -1;
	}
	if (status != 200) {
		snprintf(why, whylen, "%s answered HTTP %ld", url, status);
		return -1;
	}
	return 0;
}

/* DER OCSPRequest for the job's certificate: SHA-1 CertID (what every
 * responder supports), no nonce (responses are shared and carried). */
static int make_request(const struct job *j, unsigned char **q, size_t *qlen)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, j->cert, j->issuer);
	int n = -1;

	if (req && id && OCSP_request_add0_id(req, id)) {
		id = NULL;   /* req owns it */
		n = i2d_OCSP_REQUEST(req, q);
	}
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	if (n <= 0)
		return -1;
	*qlen = (size_t)n;
	return 0;
}

/* One URL: fetch and verify. 0 with j->der/st, or -1 with why. */
static int fetch_one(struct ocsp_cache *c, struct job *j, const char *url, const unsigned char *q,
		     size_t qlen, char *why, size_t whylen)
{
	struct ocsp_check_opts o = { c->cfg.freshness_s, c->cfg.skew_s, j->at, 1 };
	char v[OCSP_WHY_MAX];
	struct buf body;
	int rc = -1;

	buf_init(&body, OCSP_MAX_RESPONSE);
	if (http_post(c, url, q, qlen, &body, why, whylen) < 0)
		goto out;
	if (ocsp_check_response((unsigned char *)body.data, body.len, j->cert, j->issuer, j->trust,
				&o, &j->st, v, sizeof(v)) < 0) {
		snprintf(why, whylen, "%.200s: %.300s", url, v);
		goto out;
	}
	j->der = (unsigned char *)buf_steal(&body, &j->len);
	rc = j->der ? 0 : -1;
out:
	buf_free(&body);
	return rc;
}

static void run_job(struct ocsp_cache *c, struct job *j)
{
	unsigned char *q = NULL;
	char one[OCSP_WHY_MAX];
	size_t qlen = 0, used = 0, i;

	if (*j->err)
		return;
	if (make_request(j, &q, &qlen) < 0) {
		snprintf(j->err, sizeof(j->err), "cannot build the OCSP request");
		ERR_clear_error();
		return;
	}
	for (i = 0; i < j->nurls && !__atomic_load_n(&c->stop, __ATOMIC_RELAXED); i++) {
		if (fetch_one(c, j, j->urls[i], q, qlen, one, sizeof(one)) == 0) {
			j->ok = 1;
			break;
		}
		/* Every responder's reason, as far as they fit. */
		used += (size_t)snprintf(j->err + used, sizeof(j->err) - used, "%s%s",
					 used ? "; " : "", one);
		if (used >= sizeof(j->err))
			used = sizeof(j->err) - 1;
	}
	if (!j->ok && !*j->err)
		snprintf(j->err, sizeof(j->err), "no OCSP responder URL");
	OPENSSL_free(q);
}

/* Under the lock: stores the job's outcome in its entry. */
static void apply_job(struct ocsp_cache *c, struct job *j)
{
	struct watch *e = find_id(c, j->id);
	time_t now = now_s(c);
	unsigned next;

	if (!e)
		return;   /* unwatched meanwhile */
	e->last_attempt = j->at;
	if (j->trust_gen != c->trust_gen) {
		e->due_ms = 0;   /* verified under a replaced store: again, now */
		return;
	}
	if (j->ok) {
		free(e->der);
		e->der = j->der;
		e->len = j->len;
		j->der = NULL;
		e->st = j->st;
		e->resp_seq++;
		e->fetches++;
		e->backoff_ms = 0;
		e->last_error[0] = '\0';
		e->due_ms = schedule(c, e, now);
		return;
	}
	snprintf(e->last_error, sizeof(e->last_error), "%s", j->err);
	next = e->backoff_ms ? e->backoff_ms * 2 : c->cfg.retry_min_ms;
	e->backoff_ms = next > c->cfg.retry_max_ms ? c->cfg.retry_max_ms : next;
	e->due_ms = now_ms(c) + e->backoff_ms;
}

/* Under the lock: sleeps until the earliest due time or a signal. */
static void wait_next(struct ocsp_cache *c)
{
	int64_t now = now_ms(c), wait = MAX_WAIT_MS;
	struct timespec ts;

	for (size_t i = 0; i < c->n; i++) {
		int64_t d = c->w[i]->due_ms - now;

		if (d < wait)
			wait = d < 0 ? 0 : d;
	}
	if (wait <= 0)
		return;
	mono_deadline(&ts, wait);
	pthread_cond_timedwait(&c->wake, &c->lock, &ts);
}

static void *refresher(void *arg)
{
	struct ocsp_cache *c = arg;
	struct job j;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		if (take_due(c, &j)) {
			pthread_mutex_unlock(&c->lock);
			run_job(c, &j);
			pthread_mutex_lock(&c->lock);
			apply_job(c, &j);
			job_clear(&j);
			continue;
		}
		c->done_seq = c->req_seq;
		pthread_cond_broadcast(&c->done);
		wait_next(c);
	}
	c->done_seq = c->req_seq;
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ------------------------------------------------------------ life cycle */

static int apply_defaults(struct ocsp_cache_config *k, char **err)
{
	if (!k->freshness_s)
		k->freshness_s = OCSP_DEFAULT_FRESHNESS_S;
	if (!k->refresh_ahead_s)
		k->refresh_ahead_s = k->freshness_s / 2;
	if (!k->skew_s)
		k->skew_s = OCSP_DEFAULT_SKEW_S;
	if (!k->timeout_ms)
		k->timeout_ms = 5000;
	if (!k->retry_min_ms)
		k->retry_min_ms = 1000;
	if (!k->retry_max_ms)
		k->retry_max_ms = 60000;
	if (!k->max_watched)
		k->max_watched = 1024;
	if (k->freshness_s < 1 || k->freshness_s > 7 * 86400 || k->refresh_ahead_s < 0 ||
	    k->refresh_ahead_s >= k->freshness_s || k->fetch_interval_s < 0 || k->skew_s < 0 || k->skew_s > 3600 ||
	    k->timeout_ms > 120000 || k->retry_min_ms > k->retry_max_ms ||
	    k->retry_max_ms > 3600000 || k->max_watched > 100000) {
		set_err(err, "OCSP cache configuration out of bounds: freshness 1..604800 s, "
			"refresh ahead below freshness, fetch interval >= 0, skew 0..3600 s, timeout up to 120000 ms, "
			"retry min <= max <= 3600000 ms, at most 100000 certificates");
		return -1;
	}
	return 0;
}

static int init_sync(struct ocsp_cache *c)
{
	pthread_condattr_t a;
	int ok;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	ok = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&c->wake, &a) == 0;
	if (ok && pthread_cond_init(&c->done, &a) != 0) {
		pthread_cond_destroy(&c->wake);
		ok = 0;
	}
	if (ok && pthread_mutex_init(&c->lock, NULL) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_cond_destroy(&c->done);
		ok = 0;
	}
	pthread_condattr_destroy(&a);
	return ok ? 0 : -1;
}

struct ocsp_cache *ocsp_cache_new(const struct ocsp_cache_config *cfg, char **err)
{
	struct ocsp_cache *c = calloc(1, sizeof(*c));

	if (err)
		*err = NULL;
	if (!c) {
		set_err(err, "OCSP cache: out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.trust = NULL;
	if (apply_defaults(&c->cfg, err) < 0) {
		free(c);
		return NULL;
	}
	if (init_sync(c) < 0) {
		set_err(err, "OCSP cache: cannot create its locks");
		free(c);
		return NULL;
	}
	if (!(c->w = calloc(c->cfg.max_watched, sizeof(*c->w))) || !(c->curl = curl_easy_init()) ||
	    (cfg->trust && !X509_STORE_up_ref(cfg->trust))) {
		set_err(err, "OCSP cache: out of memory (or libcurl not initialised)");
		goto fail;
	}
	c->cfg.trust = cfg->trust;
	c->next_id = 1;
	if (pthread_create(&c->thread, NULL, refresher, c) != 0) {
		set_err(err, "OCSP cache: cannot start its refresher thread");
		goto fail;
	}
	pthread_setname_np(c->thread, "ag-ocsp");
	c->started = 1;
	return c;
fail:
	ocsp_cache_free(c);
	return NULL;
}

void ocsp_cache_free(struct ocsp_cache *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	for (size_t i = 0; i < c->n; i++)
		watch_free(c->w[i]);
	free(c->w);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	X509_STORE_free(c->cfg.trust);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ------------------------------------------------------------ watching */

static int cert_sha256(X509 *x, unsigned char *out)
{
	unsigned int n = 0;

	return X509_digest(x, crypto_md(256), out, &n) == 1 && n == SHA256_LEN ? 0 : -1;
}

static int has_url(char *const *urls, size_t n, const char *u)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(urls[i], u) == 0)
			return 1;
	}
	return 0;
}

/* Configured URLs first (each must be valid), then the AIA ones, no
 * duplicates, at most OCSP_MAX_URLS. Returns the count or -1 with *err. */
static long collect_urls(X509 *cert, const char *const *urls, size_t n, char **out,
			 const char *subj, char **err)
{
	char *aia[OCSP_MAX_URLS];
	size_t got = 0, na, i;

	for (i = 0; i < n; i++) {
		const char *u = urls[i];
		size_t l = u ? strlen(u) : 0;

		if (!u || l >= OCSP_URL_MAX || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) ||
		    strpbrk(u, " \t\r\n")) {
			set_err(err, "OCSP responder URL '%.100s' for %s is not an http(s) URL of at "
				"most %d bytes", u ? u : "(null)", subj, OCSP_URL_MAX - 1);
			goto fail;
		}
		if (got < OCSP_MAX_URLS && !has_url(out, got, u) && !(out[got++] = strdup(u)))
			goto oom;
	}
	na = ocsp_aia_urls(cert, aia, OCSP_MAX_URLS);
	for (i = 0; i < na; i++) {
		if (got < OCSP_MAX_URLS && !has_url(out, got, aia[i])) {
			out[got++] = aia[i];
			aia[i] = NULL;
		}
		free(aia[i]);
	}
	if (got == 0) {
		set_err(err, "no OCSP responder for %s: its certificate has no AIA OCSP URL and none "
			"is configured (global configuration: <ocsp url=\"...\"/> of its approved CA)",
			subj);
		return -1;
	}
	return (long)got;
oom:
	set_err(err, "OCSP cache: out of memory");
fail:
	for (i = 0; i < got; i++)
		free(out[i]);
	return -1;
}

/* Under the lock: an existing entry gets the new issuer and URLs. */
static void update_entry(struct ocsp_cache *c, struct watch *e, X509 *issuer, char **urls,
			 size_t n)
{
	size_t i;

	for (i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	memcpy(e->urls, urls, n * sizeof(*urls));
	e->nurls = n;
	e->gen = c->gen;
	if (X509_cmp(e->issuer, issuer) != 0) {
		free(e->der);   /* verified with another issuer: fetch again */
		e->der = NULL;
		e->due_ms = 0;
	}
	X509_free(e->issuer);
	e->issuer = issuer;
}

static struct watch *new_entry(struct ocsp_cache *c, X509 *cert, X509 *issuer,
			       const unsigned char *sha, char **urls, size_t n, const char *subj)
{
	struct watch *e = calloc(1, sizeof(*e));

	if (!e || !X509_up_ref(cert)) {
		free(e);
		return NULL;
	}
	e->cert = cert;
	e->issuer = issuer;
	memcpy(e->sha, sha, SHA256_LEN);
	memcpy(e->urls, urls, n * sizeof(*urls));
	e->nurls = n;
	snprintf(e->subject, sizeof(e->subject), "%s", subj);
	e->st.reason = -1;
	e->id = c->next_id++;
	e->gen = c->gen;
	e->due_ms = 0;
	return e;
}

int ocsp_cache_watch(struct ocsp_cache *c, X509 *cert, X509 *issuer, const char *const *urls,
		     size_t n, char **err)
{
	unsigned char sha[SHA256_LEN];
	char *u[OCSP_MAX_URLS], subj[160];
	struct watch *e;
	long nu;

	if (err)
		*err = NULL;
	if (!cert || !issuer || !X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj)))
		snprintf(subj, sizeof(subj), "(no certificate)");
	if (!cert || !issuer || X509_check_issued(issuer, cert) != X509_V_OK) {
		set_err(err, "cannot watch %s for OCSP: the issuer given did not issue it", subj);
		return -1;
	}
	if (cert_sha256(cert, sha) < 0) {
		set_err(err, "cannot watch %s for OCSP: SHA-256 of the certificate failed", subj);
		return -1;
	}
	if ((nu = collect_urls(cert, urls, n, u, subj, err)) < 0)
		return -1;
	if (!X509_up_ref(issuer))
		goto oom;
	pthread_mutex_lock(&c->lock);
	if ((e = find(c, sha, NULL)) != NULL) {
		update_entry(c, e, issuer, u, (size_t)nu);
	} else if (c->n == c->cfg.max_watched) {
		pthread_mutex_unlock(&c->lock);
		X509_free(issuer);
		set_err(err, "cannot watch %s for OCSP: already %zu certificates watched (the cap)",
			subj, c->cfg.max_watched);
		goto fail;
	} else if ((e = new_entry(c, cert, issuer, sha, u, (size_t)nu, subj)) != NULL) {
		c->w[c->n++] = e;
	} else {
		pthread_mutex_unlock(&c->lock);
		X509_free(issuer);
		goto oom;
	}
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
oom:
	set_err(err, "OCSP cache: out of memory");
fail:
	for (long i = 0; i < nu; i++)
		free(u[i]);
	return -1;
}

int ocsp_cache_unwatch(struct ocsp_cache *c, const unsigned char cert_sha256[32])
{
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	if (find(c, cert_sha256, &i)) {
		remove_at(c, i);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ocsp_cache_unwatch_all(struct ocsp_cache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->n)
		remove_at(c, c->n - 1);
	pthread_mutex_unlock(&c->lock);
}

uint64_t ocsp_cache_begin(struct ocsp_cache *c)
{
	uint64_t g;

	pthread_mutex_lock(&c->lock);
	g = ++c->gen;
	pthread_mutex_unlock(&c->lock);
	return g;
}

size_t ocsp_cache_sweep(struct ocsp_cache *c, uint64_t gen)
{
	size_t i = 0, k = 0;

	pthread_mutex_lock(&c->lock);
	while (i < c->n) {
		if (c->w[i]->gen < gen) {
			remove_at(c, i);   /* the last one moves to i */
			k++;
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return k;
}

/* ------------------------------------------------------------ trust */

struct recheck {
	uint64_t id, resp_seq;
	X509 *cert, *issuer;
	unsigned char *der;
	size_t len;
	int ok;
	char why[OCSP_WHY_MAX - 96];   /* room for the prefix in last_error */
};

/* Under the lock: copies of every kept response. */
static struct recheck *snapshot(struct ocsp_cache *c, size_t *n)
{
	struct recheck *r = calloc(c->n ? c->n : 1, sizeof(*r));
	size_t i, k = 0;

	for (i = 0; r && i < c->n; i++) {
		struct watch *e = c->w[i];

		if (!e->der || !(r[k].der = malloc(e->len)))
			continue;
		memcpy(r[k].der, e->der, e->len);
		r[k].len = e->len;
		r[k].id = e->id;
		r[k].resp_seq = e->resp_seq;
		if (X509_up_ref(e->cert))
			r[k].cert = e->cert;
		if (X509_up_ref(e->issuer))
			r[k].issuer = e->issuer;
		k++;
	}
	*n = k;
	return r;
}

int ocsp_cache_set_trust(struct ocsp_cache *c, X509_STORE *trust)
{
	struct ocsp_check_opts o = { 0 };
	struct ocsp_status st;
	struct recheck *r;
	X509_STORE *old;
	size_t n = 0, i;
	int rc = 0;

	if (trust && !X509_STORE_up_ref(trust))
		return -1;
	pthread_mutex_lock(&c->lock);
	old = c->cfg.trust;
	c->cfg.trust = trust;
	c->trust_gen++;
	r = snapshot(c, &n);
	pthread_mutex_unlock(&c->lock);
	X509_STORE_free(old);
	o.freshness_s = c->cfg.freshness_s;
	o.skew_s = c->cfg.skew_s;
	o.now = now_s(c);
	o.no_cache = 1;
	for (i = 0; r && i < n; i++)
		r[i].ok = r[i].cert && r[i].issuer &&
			  ocsp_check_response(r[i].der, r[i].len, r[i].cert, r[i].issuer, trust, &o,
					      &st, r[i].why, sizeof(r[i].why)) == 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; r && i < n; i++) {
		struct watch *e = find_id(c, r[i].id);

		if (e && e->resp_seq == r[i].resp_seq && !r[i].ok) {
			free(e->der);
			e->der = NULL;
			e->due_ms = 0;
			snprintf(e->last_error, sizeof(e->last_error),
				 "the kept response no longer verifies with the new approved CAs: %s",
				 r[i].why);
			rc = -1;
		}
	}
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; r && i < n; i++) {
		X509_free(r[i].cert);
		X509_free(r[i].issuer);
		free(r[i].der);
	}
	free(r);
	return r ? rc : -1;
}

/* ------------------------------------------------------------ reading */

static void not_watched_why(const unsigned char *sha, char *why, size_t whylen)
{
	char hex[2 * SHA256_LEN + 1];

	if (!why || !whylen)
		return;
	hex_encode(sha, SHA256_LEN, hex);
	snprintf(why, whylen, "certificate %.16s... is not watched for OCSP (is it in the "
		 "global configuration?)", hex);
}

int ocsp_cache_get(struct ocsp_cache *c, const unsigned char cert_sha256[32], unsigned char **der,
		   size_t *len, struct ocsp_status *st, char *why, size_t whylen)
{
	struct watch *e;
	int rc = -1;

	*der = NULL;
	*len = 0;
	pthread_mutex_lock(&c->lock);
	if (!(e = find(c, cert_sha256, NULL))) {
		not_watched_why(cert_sha256, why, whylen);
	} else if (entry_state(c, e, now_s(c)) == OCSP_CACHE_NONE_FRESH) {
		none_fresh_why(c, e, now_s(c), why, whylen);
	} else if (!(*der = malloc(e->len))) {
		if (why && whylen)
			snprintf(why, whylen, "OCSP cache: out of memory");
	} else {
		memcpy(*der, e->der, e->len);
		*len = e->len;
		if (st)
			*st = e->st;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

enum ocsp_cache_state ocsp_cache_status(struct ocsp_cache *c, const unsigned char cert_sha256[32],
					struct ocsp_status *st, char *why, size_t whylen)
{
	enum ocsp_cache_state s = OCSP_CACHE_NOT_WATCHED;
	struct watch *e;

	pthread_mutex_lock(&c->lock);
	if (!(e = find(c, cert_sha256, NULL))) {
		not_watched_why(cert_sha256, why, whylen);
	} else {
		s = entry_state(c, e, now_s(c));
		if (s == OCSP_CACHE_NONE_FRESH)
			none_fresh_why(c, e, now_s(c), why, whylen);
		else if (st)
			*st = e->st;
	}
	pthread_mutex_unlock(&c->lock);
	return s;
}

const char *ocsp_cache_state_name(enum ocsp_cache_state s)
{
	switch (s) {
	case OCSP_CACHE_GOOD: return "good";
	case OCSP_CACHE_REVOKED: return "revoked";
	case OCSP_CACHE_UNKNOWN: return "unknown";
	case OCSP_CACHE_NONE_FRESH: return "none-fresh";
	case OCSP_CACHE_NOT_WATCHED: return "not-watched";
	}
	return "?";
}

int ocsp_cache_refresh_now(struct ocsp_cache *c, unsigned timeout_ms)
{
	struct timespec ts;
	uint64_t seq;
	int rc = 0;

	mono_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&c->lock);
	seq = ++c->req_seq;
	for (size_t i = 0; i < c->n; i++)
		c->w[i]->want = seq;
	pthread_cond_broadcast(&c->wake);
	while (c->done_seq < seq && rc == 0)
		rc = pthread_cond_timedwait(&c->done, &c->lock, &ts);
	rc = c->done_seq >= seq ? 0 : -1;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

size_t ocsp_cache_health(struct ocsp_cache *c, struct ocsp_health *out, size_t max, int all)
{
	size_t k = 0;
	time_t now;

	pthread_mutex_lock(&c->lock);
	now = now_s(c);
	for (size_t i = 0; i < c->n; i++) {
		struct watch *e = c->w[i];
		enum ocsp_cache_state s = entry_state(c, e, now);

		if (!all && s == OCSP_CACHE_GOOD)
			continue;
		if (k < max) {
			struct ocsp_health *h = &out[k];

			memcpy(h->cert_sha256, e->sha, SHA256_LEN);
			snprintf(h->subject, sizeof(h->subject), "%s", e->subject);
			h->state = s;
			h->this_update = e->der ? e->st.this_update : 0;
			h->last_attempt = e->last_attempt;
			h->fetches = e->fetches;
			snprintf(h->last_error, sizeof(h->last_error), "%s", e->last_error);
		}
		k++;
	}
	pthread_mutex_unlock(&c->lock);
	return k;
}

int ocsp_cache_seed(struct ocsp_cache *c, const unsigned char cert_sha256[32], const unsigned char *der,
		    size_t len, char *why, size_t whylen)
{
	struct ocsp_check_opts o = { 0 };
	struct ocsp_status st;
	struct watch *e;
	X509 *cert = NULL, *issuer = NULL;
	X509_STORE *trust = NULL;
	unsigned char *copy;
	int rc;

	pthread_mutex_lock(&c->lock);
	e = find(c, cert_sha256, NULL);
	if (e && X509_up_ref(e->cert) && X509_up_ref(e->issuer)) {
		cert = e->cert;
		issuer = e->issuer;
		if (c->cfg.trust && X509_STORE_up_ref(c->cfg.trust))
			trust = c->cfg.trust;
	}
	pthread_mutex_unlock(&c->lock);
	if (!cert) {
		snprintf(why, whylen, "the certificate is not watched");
		return -1;
	}
	o.freshness_s = c->cfg.freshness_s;
	o.skew_s = c->cfg.skew_s;
	o.now = now_s(c);
	rc = ocsp_check_response(der, len, cert, issuer, trust, &o, &st, why, whylen);
	X509_free(cert);
	X509_free(issuer);
	X509_STORE_free(trust);
	if (rc < 0)
		return -1;
	if (!(copy = malloc(len))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(copy, der, len);
	pthread_mutex_lock(&c->lock);
	e = find(c, cert_sha256, NULL);
	if (e && !e->der) {
		e->der = copy;
		e->len = len;
		e->st = st;
		e->resp_seq++;
		e->due_ms = now_ms(c);   /* served meanwhile, but asked again at once */
		copy = NULL;
	}
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	free(copy);
	return 0;
}
