/* msglog: queue, group-committing writer thread, completions delivered to
 * the caller's event loop, health and the replay window's front.
 * Stamping and archiving: msglog_stamp.c; SQLite: msglog_sqlite.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/crypto.h"
#include "lib/osutil.h"
#include "store/msglog_int.h"

static const char CANON_TAG[] = "ailgate-msglog-1";

/* One queued record: a single allocation holding the row and copies of
 * every string and blob it points to. */
struct pending {
	struct pending *next;
	struct msglog_row row;
	unsigned char sig_sha256[MSGLOG_HASH_LEN], ocsp_sha256[MSGLOG_HASH_LEN];
	msglog_done_fn cb;
	void *arg;
	struct event_base *base;
	size_t size;
	int lazy;
	enum msglog_status status;
	char errmsg[160];
};

/* Completions owed to one event_base, delivered by one event on it. */
struct notifier {
	struct notifier *next;
	struct event_base *base;
	struct event *ev;
	struct event *flush;             /* end of the base's turn: wake the writer */
	struct msglog *log;
	pthread_mutex_t mu;
	struct pending *head, *tail;
};

/* ------------------------------------------------------------- helpers */

void msglog_set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	free(*err);
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

int64_t msglog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t msglog_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t msglog_mono_ms(void)
{
	return msglog_mono_us() / 1000;
}

int msglog_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a))
		return -1;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cond, &a);
	pthread_condattr_destroy(&a);
	return rc ? -1 : 0;
}

void msglog_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_ms)
{
	struct timespec ts = { deadline_ms / 1000, (deadline_ms % 1000) * 1000000 };

	pthread_cond_timedwait(cond, mu, &ts);
}

void msglog_config_defaults(struct msglog_config *c)
{
	memset(c, 0, sizeof(*c));
	c->batch_max = 256;
	c->queue_max = 100000;
	c->queue_max_bytes = (size_t)256 << 20;
	c->max_body = (size_t)64 << 20;
	c->max_sigdoc = (size_t)4 << 20;
	c->max_ocsp = (size_t)1 << 20;
	c->max_id_len = 1024;
	c->ts_interval_ms = 1000;
	c->ts_timeout_ms = 10000;
	c->ts_retry_max_ms = 60000;
	c->ts_max_unstamped_ms = 14400000;
	c->archive_interval_ms = 3600000;
	c->archive_chunk = 20000;
	c->replay_window_ms = 600000;
	c->replay_max_entries = 1000000;
}

/* ------------------------------------------------------- chain encoding */

static int put_field(struct buf *b, const void *p, size_t n)
{
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };

	if (n > UINT32_MAX || buf_append(b, len, 4) < 0)
		return -1;
	return n ? buf_append(b, p, n) : 0;
}

static int put_u64(struct buf *b, uint64_t v)
{
	unsigned char be[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		be[i] = (unsigned char)v;
	return put_field(b, be, 8);
}

static int put_str(struct buf *b, const char *s)
{
	return put_field(b, s ? s : "", s ? strlen(s) : 0);
}

/* The canonical encoding with the signature document's and the OCSP data's
 * digests given: the writer has them from msglog_append (computed on the
 * caller's thread), so it hashes a few hundred bytes per record, not ~8 KB. */
static int canon_digests(const struct msglog_row *r, const unsigned char sd[MSGLOG_HASH_LEN],
			 const unsigned char od[MSGLOG_HASH_LEN], struct buf *out)
{
	unsigned char dir = (unsigned char)r->dir, side = (unsigned char)r->side;
	unsigned char mode = (unsigned char)r->body_mode;

	if (put_str(out, CANON_TAG) < 0 || put_u64(out, (uint64_t)r->id) < 0 ||
	    put_u64(out, (uint64_t)r->time_ms) < 0 || put_field(out, &dir, 1) < 0 ||
	    put_field(out, &side, 1) < 0 || put_str(out, r->reqid) < 0 ||
	    put_str(out, r->message_id) < 0 || put_str(out, r->client_id) < 0 ||
	    put_str(out, r->service_id) < 0 || put_field(out, &mode, 1) < 0 ||
	    put_u64(out, (uint64_t)r->body_len) < 0 ||
	    put_field(out, r->body_sha256, MSGLOG_HASH_LEN) < 0 ||
	    put_field(out, sd, MSGLOG_HASH_LEN) < 0 || put_field(out, od, MSGLOG_HASH_LEN) < 0 ||
	    put_str(out, r->request_hash) < 0)
		return -1;
	return 0;
}

static int blob_digests(const struct msglog_row *r, unsigned char sd[MSGLOG_HASH_LEN],
			unsigned char od[MSGLOG_HASH_LEN])
{
	/* A sender's OCSP responses repeat from message to message. */
	if (sha256(r->sigdoc ? (const void *)r->sigdoc : "", r->sigdoc_len, sd) < 0 ||
	    sha256_repeat(r->ocsp ? (const void *)r->ocsp : "", r->ocsp_len, od) < 0)
		return -1;
	return 0;
}

int msglog_canon(const struct msglog_row *r, struct buf *out)
{
	unsigned char sd[MSGLOG_HASH_LEN], od[MSGLOG_HASH_LEN];

	if (blob_digests(r, sd, od) < 0)
		return -1;
	return canon_digests(r, sd, od, out);
}

/* SHA-256(prev_hash || canon) in one call over one buffer. */
static int row_hash_digests(const struct msglog_row *r, const unsigned char sd[MSGLOG_HASH_LEN],
			    const unsigned char od[MSGLOG_HASH_LEN], unsigned char out[MSGLOG_HASH_LEN])
{
	struct buf b = BUF_INIT;
	int rc = -1;

	if (buf_append(&b, r->prev_hash, MSGLOG_HASH_LEN) == 0 && canon_digests(r, sd, od, &b) == 0)
		rc = sha256(b.data, b.len, out);
	buf_free(&b);
	return rc;
}

int msglog_row_hash(const struct msglog_row *r, unsigned char out[MSGLOG_HASH_LEN])
{
	unsigned char sd[MSGLOG_HASH_LEN], od[MSGLOG_HASH_LEN];

	if (blob_digests(r, sd, od) < 0)
		return -1;
	return row_hash_digests(r, sd, od, out);
}

/* -------------------------------------------------------- taking records */

static int check_rec(const struct msglog *log, const struct msglog_rec *r, char **err)
{
	const char *ids[] = { r->reqid, r->message_id, r->client_id, r->service_id, r->request_hash };
	size_t i;

	if ((r->dir != MSGLOG_REQUEST && r->dir != MSGLOG_RESPONSE) ||
	    (r->side != MSGLOG_CLIENT && r->side != MSGLOG_SERVER) ||
	    (r->body_mode != MSGLOG_BODY_FULL && r->body_mode != MSGLOG_BODY_DIGEST) || r->time_ms < 0) {
		msglog_set_err(err, "message log: bad direction, side, body mode or time");
		return -1;
	}
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (ids[i] && strlen(ids[i]) > log->cfg.max_id_len) {
			msglog_set_err(err, "message log: identifier longer than %zu", log->cfg.max_id_len);
			return -1;
		}
	}
	if (r->body_len > log->cfg.max_body || r->sigdoc_len > log->cfg.max_sigdoc ||
	    r->ocsp_len > log->cfg.max_ocsp) {
		msglog_set_err(err, "message log: body, signature or OCSP data over its cap");
		return -1;
	}
	if ((r->sigdoc_len && !r->sigdoc) || (r->ocsp_len && !r->ocsp) ||
	    (r->body_len && !r->body && (r->body_mode == MSGLOG_BODY_FULL || !r->body_sha256))) {
		msglog_set_err(err, "message log: a length without its data");
		return -1;
	}
	return 0;
}

/* Copies s into the allocation at *p, returns the copy. */
static const char *copy_str(char **p, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *d = *p;

	memcpy(d, s ? s : "", n);
	d[n] = 0;
	*p += n + 1;
	return d;
}

static const unsigned char *copy_blob(char **p, const void *s, size_t n)
{
	unsigned char *d = (unsigned char *)*p;

	if (n)
		memcpy(d, s, n);
	*p += n;
	return d;
}

static size_t slen(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}

/* The record as a pending item, digests computed here (on the caller's
 * thread, so bodies are hashed in parallel across loops). */
static struct pending *make_pending(const struct msglog_rec *r, char **err)
{
	int full = r->body_mode == MSGLOG_BODY_FULL;
	size_t size = sizeof(struct pending) + slen(r->reqid) + slen(r->message_id) +
		      slen(r->client_id) + slen(r->service_id) + slen(r->request_hash) +
		      (full ? r->body_len : 0) + r->sigdoc_len + r->ocsp_len + 1;
	struct pending *p = malloc(size);
	char *w;

	if (!p) {
		msglog_set_err(err, "message log: out of memory");
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->size = size;
	w = (char *)(p + 1);
	p->row.time_ms = r->time_ms ? r->time_ms : msglog_now_ms();
	p->row.dir = r->dir;
	p->row.side = r->side;
	p->row.body_mode = r->body_mode;
	p->row.reqid = copy_str(&w, r->reqid);
	p->row.message_id = copy_str(&w, r->message_id);
	p->row.client_id = copy_str(&w, r->client_id);
	p->row.service_id = copy_str(&w, r->service_id);
	p->row.request_hash = copy_str(&w, r->request_hash);
	p->row.body_len = r->body_len;
	if (full)
		p->row.body = copy_blob(&w, r->body, r->body_len);
	p->row.sigdoc = copy_blob(&w, r->sigdoc, r->sigdoc_len);
	p->row.sigdoc_len = r->sigdoc_len;
	p->row.ocsp = copy_blob(&w, r->ocsp, r->ocsp_len);
	p->row.ocsp_len = r->ocsp_len;
	if (!r->body_sha256) {
		if (sha256(r->body ? r->body : "", r->body_len, p->row.body_sha256) < 0) {
			free(p);
			msglog_set_err(err, "message log: SHA-256 failed");
			return NULL;
		}
	} else {
		memcpy(p->row.body_sha256, r->body_sha256, MSGLOG_HASH_LEN);
	}
	if (blob_digests(&p->row, p->sig_sha256, p->ocsp_sha256) < 0) {
		free(p);
		msglog_set_err(err, "message log: SHA-256 failed");
		return NULL;
	}
	return p;
}

/* ----------------------------------------------------------- notifiers */

/* Runs p's callback and frees p. */
static void complete(struct pending *p)
{
	int logged = p->status == MSGLOG_OK || p->status == MSGLOG_ERR_STAMP;
	struct msglog_result res = { p->status, logged ? p->row.id : 0, { 0 }, p->errmsg };

	if (logged)
		memcpy(res.hash, p->row.hash, MSGLOG_HASH_LEN);
	p->cb(&res, p->arg);
	free(p);
}

static void notifier_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	struct pending *p, *next;

	pthread_mutex_lock(&n->mu);
	p = n->head;
	n->head = n->tail = NULL;
	pthread_mutex_unlock(&n->mu);
	for (; p; p = next) {
		next = p->next;
		complete(p);
	}
}

static void free_pending_list(struct pending *p)
{
	struct pending *next;

	for (; p; p = next) {
		next = p->next;
		free(p);
	}
}

static void notifier_free(struct notifier *n)
{
	event_free(n->ev);
	event_free(n->flush);
	free_pending_list(n->head);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* At the end of a turn of the loop that appended (its lowest priority):
 * what the turn appended goes to the writer as one group. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msglog *log = ((struct notifier *)arg)->log;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&log->mu);
	log->qkick = 1;
	pthread_cond_signal(&log->qcond);
	pthread_mutex_unlock(&log->mu);
}

/* base's notifier, made on first use; called on base's own thread. NULL
 * out of memory. */
static struct notifier *notifier_ensure(struct msglog *log, struct event_base *base)
{
	struct notifier *n;

	pthread_mutex_lock(&log->nmu);
	for (n = log->notifiers; n && n->base != base; n = n->next)
		;
	if (!n && (n = calloc(1, sizeof(*n)))) {
		n->ev = event_new(base, -1, 0, notifier_cb, n);
		n->flush = event_new(base, -1, 0, flush_cb, n);
		if (!n->ev || !n->flush ||
		    event_priority_set(n->flush, event_base_get_npriorities(base) - 1) < 0) {
			if (n->ev)
				event_free(n->ev);
			if (n->flush)
				event_free(n->flush);
			free(n);
			n = NULL;
		} else {
			n->base = base;
			n->log = log;
			pthread_mutex_init(&n->mu, NULL);
			n->next = log->notifiers;
			log->notifiers = n;
		}
	}
	pthread_mutex_unlock(&log->nmu);
	return n;
}

void msglog_detach_base(struct msglog *log, struct event_base *base)
{
	struct notifier **pp, *n;

	pthread_mutex_lock(&log->nmu);
	for (pp = &log->notifiers; *pp && (*pp)->base != base; pp = &(*pp)->next)
		;
	n = *pp;
	if (n)
		*pp = n->next;
	pthread_mutex_unlock(&log->nmu);
	if (n)
		notifier_free(n);
}

/* Hands each finished item to its loop (or calls it here when no loop). */
static void deliver(struct msglog *log, struct pending *p)
{
	struct pending *next;

	for (; p; p = next) {
		struct notifier *n;

		next = p->next;
		p->next = NULL;
		if (!p->base) {
			complete(p);
			continue;
		}
		pthread_mutex_lock(&log->nmu);
		for (n = log->notifiers; n && n->base != p->base; n = n->next)
			;
		if (n) {
			int was_empty;

			pthread_mutex_lock(&n->mu);
			was_empty = n->head == NULL;
			if (n->tail)
				n->tail->next = p;
			else
				n->head = p;
			n->tail = p;
			pthread_mutex_unlock(&n->mu);
			if (was_empty)
				event_active(n->ev, EV_READ, 0);
		} else {
			free(p);   /* its loop detached: nobody to tell */
		}
		pthread_mutex_unlock(&log->nmu);
	}
}

/* -------------------------------------------------------------- writer */

/* With probe_at (monotonic ms, 0: none), an empty queue is waited for
 * until then only: NULL with *probe set when it came. */
static struct pending *take_batch(struct msglog *log, int64_t probe_at, int *probe)
{
	struct pending *head, *last;
	unsigned n;

	*probe = 0;
	pthread_mutex_lock(&log->mu);
	/* Lazy records alone wait for an eager one, the end of their loop's
	 * turn (qkick), a full group or their due. NULL only when stopping, or
	 * for a probe. */
	while (!log->stopping) {
		if (!log->qhead) {
			log->qkick = 0;   /* the turn's records went with the last group */
			if (!probe_at) {
				pthread_cond_wait(&log->qcond, &log->mu);
			} else if (msglog_mono_ms() >= probe_at) {
				*probe = 1;
				break;
			} else {
				msglog_cond_wait_until(&log->qcond, &log->mu, probe_at);
			}
		} else if (log->qeager || log->qkick || log->qlen >= log->cfg.batch_max ||
			   msglog_mono_ms() >= log->qdue) {
			break;
		} else {
			msglog_cond_wait_until(&log->qcond, &log->mu, log->qdue);
		}
	}
	if (log->qhead && log->cfg.group_wait_ms && !log->stopping) {
		int64_t deadline = msglog_mono_ms() + log->cfg.group_wait_ms;

		while (log->qlen < log->cfg.batch_max && !log->stopping && msglog_mono_ms() < deadline)
			msglog_cond_wait_until(&log->qcond, &log->mu, deadline);
	}
	head = last = log->qhead;
	for (n = 1; last && n < log->cfg.batch_max && last->next; n++)
		last = last->next;
	if (head) {
		log->qhead = last->next;
		if (!log->qhead)
			log->qtail = NULL;
		last->next = NULL;
		log->qlen -= n;
		log->qkick = 0;
		for (last = head; last; last = last->next) {
			log->qbytes -= last->size;
			log->qeager -= !last->lazy;
		}
	}
	pthread_mutex_unlock(&log->mu);
	return head;
}

static void set_status(struct pending *p, enum msglog_status st, const char *msg)
{
	for (; p; p = p->next) {
		p->status = st;
		snprintf(p->errmsg, sizeof(p->errmsg), "%s", msg);
	}
}

static void health_db(struct msglog *log, const char *err, int64_t last_id, int64_t newest_ms)
{
	pthread_mutex_lock(&log->hmu);
	if (err) {
		log->db_failed = 1;
		log->db_ever_failed = 1;
		snprintf(log->db_err, sizeof(log->db_err), "%s", err);
	} else {
		int64_t sec = msglog_mono_ms() / 1000;
		uint64_t us = log->last_commit_us > 0 ? (uint64_t)log->last_commit_us : 0;
		uint64_t added = (uint64_t)(last_id - log->committed_last);
		struct msglog_recent *r = &log->recent[sec % MSGLOG_RECENT_S];

		if (r->sec != sec)
			memset(r, 0, sizeof(*r));
		r->sec = sec;
		r->commits++;
		r->records += added;
		r->us_sum += us;
		if (us > r->us_max)
			r->us_max = us;
		log->db_failed = 0;
		log->n_records += added;
		log->n_commits++;
		log->committed_last = last_id;
		if (newest_ms > log->newest_time_ms)
			log->newest_time_ms = newest_ms;
		if (log->tsa && !log->unstamped_since && last_id > log->stamped_last)
			log->unstamped_since = msglog_mono_ms();
	}
	pthread_mutex_unlock(&log->hmu);
}

/* After a failed transaction: the database says where the chain stands. */
static void resync_tip(struct msglog *log)
{
	struct msglog_chain_state st;
	char *e = NULL;

	if (log->ops->state(log->wconn, &st, &e) == 0) {
		log->next_id = st.last_id + 1;
		memcpy(log->tip, st.last_hash, MSGLOG_HASH_LEN);
	}
	free(e);
}

static int insert_group(struct msglog *log, struct pending *batch, char **err)
{
	int64_t id = log->next_id, t0;
	unsigned char tip[MSGLOG_HASH_LEN];
	struct pending *p;

	memcpy(tip, log->tip, sizeof(tip));
	if (log->ops->begin(log->wconn, err) < 0) {
		resync_tip(log);   /* a store made again may have been written meanwhile */
		return -1;
	}
	for (p = batch; p; p = p->next) {
		p->row.id = id++;
		memcpy(p->row.prev_hash, tip, MSGLOG_HASH_LEN);
		if (row_hash_digests(&p->row, p->sig_sha256, p->ocsp_sha256, p->row.hash) < 0) {
			msglog_set_err(err, "message log: hashing failed");
			goto fail;
		}
		memcpy(tip, p->row.hash, MSGLOG_HASH_LEN);
		if (log->ops->insert(log->wconn, &p->row, err) < 0)
			goto fail;
	}
	t0 = msglog_mono_us();   /* what /health reports (msglog_commit_health) */
	if (log->ops->commit(log->wconn, err) < 0)
		goto fail;
	log->last_commit_us = msglog_mono_us() - t0;
	log->next_id = id;
	memcpy(log->tip, tip, sizeof(tip));
	return 0;
fail:
	log->ops->rollback(log->wconn);
	resync_tip(log);
	return -1;
}

/* 0 when the group is committed (stamped or not), -1 when it is not. */
static int commit_group(struct msglog *log, struct pending *batch)
{
	char *err = NULL;

	if (insert_group(log, batch, &err) < 0) {
		set_status(batch, MSGLOG_ERR_DB, err ? err : "message log: database error");
		health_db(log, err ? err : "database error", 0, 0);
		free(err);
		return -1;
	}
	{
		int64_t newest = 0;

		for (const struct pending *p = batch; p; p = p->next)
			if (p->row.time_ms > newest)
				newest = p->row.time_ms;
		health_db(log, NULL, log->next_id - 1, newest);
	}
	if (log->cfg.ts_sync && log->tsa && msglog_stamp_pending(log, log->wconn, &err) < 0) {
		set_status(batch, MSGLOG_ERR_STAMP, err ? err : "time-stamping failed");
		free(err);
	}
	return 0;
}

/* After a failed commit, with no record to commit: does the store take a
 * write again? 0 (the log is healthy again) or -1 (still failing). */
static int probe_store(struct msglog *log)
{
	char *err = NULL;
	int rc;

	/* Where the chain stands, read again first: a shared store may have
	 * been written by another process while this one could not. */
	resync_tip(log);
	if (log->ops->probe) {
		rc = log->ops->probe(log->wconn, &err);
	} else if ((rc = log->ops->begin(log->wconn, &err)) == 0 &&
		   (rc = log->ops->commit(log->wconn, &err)) < 0) {
		log->ops->rollback(log->wconn);
	}
	if (rc < 0) {
		health_db(log, err ? err : "database error", 0, 0);
	} else {
		pthread_mutex_lock(&log->hmu);
		log->db_failed = 0;
		pthread_mutex_unlock(&log->hmu);
	}
	free(err);
	return rc < 0 ? -1 : 0;
}

static void *writer_main(void *arg)
{
	struct msglog *log = arg;
	struct pending *batch;
	int64_t probe_at = 0;   /* the last write failed: probe then if idle */
	int probe;

	for (;;) {
		batch = take_batch(log, probe_at, &probe);
		if (probe) {
			probe_at = probe_store(log) == 0 ? 0 : msglog_mono_ms() + MSGLOG_PROBE_MS;
			continue;
		}
		if (!batch)
			break;
		probe_at = commit_group(log, batch) == 0 ? 0 : msglog_mono_ms() + MSGLOG_PROBE_MS;
		deliver(log, batch);
	}
	return NULL;
}

/* ------------------------------------------------------- open and close */

/* The backend cfg names, or the one its path implies. */
static const struct msglog_backend_ops *backend_of(const struct msglog_config *cfg)
{
	return cfg->backend ? cfg->backend : msglog_backend_for(cfg->path);
}

static int copy_cfg(struct msglog *log, const struct msglog_config *cfg, char **err)
{
	struct msglog_config d;

	msglog_config_defaults(&d);
	log->cfg = *cfg;
#define DFLT(f) if (!log->cfg.f) log->cfg.f = d.f
	DFLT(batch_max); DFLT(queue_max); DFLT(queue_max_bytes); DFLT(max_body);
	DFLT(max_sigdoc); DFLT(max_ocsp); DFLT(max_id_len); DFLT(ts_interval_ms);
	DFLT(ts_timeout_ms); DFLT(ts_retry_max_ms); DFLT(ts_max_unstamped_ms);
	DFLT(archive_interval_ms); DFLT(archive_chunk); DFLT(replay_window_ms); DFLT(replay_max_entries);
#undef DFLT
	log->ops = backend_of(cfg);
	if (!cfg->path) {
		msglog_set_err(err, "message log: no database path");
		return -1;
	}
	log->path = strdup(cfg->path);
	log->tsa_url = cfg->tsa_url ? strdup(cfg->tsa_url) : NULL;
	log->tsa_cert_pem = cfg->tsa_cert_pem ? strdup(cfg->tsa_cert_pem) : NULL;
	log->tsa_ca_pem = cfg->tsa_ca_pem ? strdup(cfg->tsa_ca_pem) : NULL;
	log->archive_dir = cfg->archive_dir ? strdup(cfg->archive_dir) : NULL;
	log->replay_snapshot = cfg->replay_snapshot ? strdup(cfg->replay_snapshot) : NULL;
	if (!log->path || (cfg->tsa_url && !log->tsa_url) || (cfg->tsa_cert_pem && !log->tsa_cert_pem) ||
	    (cfg->tsa_ca_pem && !log->tsa_ca_pem) || (cfg->archive_dir && !log->archive_dir) ||
	    (cfg->replay_snapshot && !log->replay_snapshot)) {
		msglog_set_err(err, "message log: out of memory");
		return -1;
	}
	log->cfg.path = log->path;
	log->cfg.tsa_url = log->tsa_url;
	log->cfg.tsa_cert_pem = log->tsa_cert_pem;
	log->cfg.tsa_ca_pem = log->tsa_ca_pem;
	log->cfg.archive_dir = log->archive_dir;
	log->cfg.replay_snapshot = log->replay_snapshot;
	return 0;
}

static int load_replay(const struct msglog_row *r, void *arg)
{
	struct msglog *log = arg;

	(void)replay_note(log->replay, r->side, r->client_id, r->message_id, r->time_ms);
	return 0;
}

/* The replay window: from the snapshot of the last clean close when it
 * still describes this log as it stands (last record and window), else
 * reloaded from the database, which costs ~1.5 us a request of the window
 * (over a second after ten busy minutes). */
static int load_window(struct msglog *log, const struct msglog_chain_state *st, char **err)
{
	int64_t now = msglog_now_ms(), since = now - log->cfg.replay_window_ms;
	struct timespec t0;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!(log->replay = replay_new(log->cfg.replay_window_ms, log->cfg.replay_max_entries))) {
		msglog_set_err(err, "message log: out of memory");
		return -1;
	}
	replay_set_horizon(log->replay, since);
	if (log->replay_snapshot &&
	    replay_load(log->replay, log->replay_snapshot, st->last_id, st->last_hash, now,
			log->replay_why, sizeof(log->replay_why)) > 0) {
		log->replay_from = MSGLOG_REPLAY_SNAPSHOT;
	} else if (!st->first_id) {
		log->replay_from = MSGLOG_REPLAY_NONE;
	} else {
		log->replay_from = MSGLOG_REPLAY_DATABASE;
		if (log->replay_snapshot && !log->replay_why[0])
			snprintf(log->replay_why, sizeof(log->replay_why),
				 "none found: the last stop was not a clean one, or could not write it");
		rc = log->ops->requests_since(log->wconn, since, load_replay, log, err);
	}
	log->replay_loaded = replay_count(log->replay);
	log->replay_load_ms = ms_since(&t0);
	return rc < 0 ? -1 : 0;
}

/* Chain tip, health counters and the replay window. */
static int load_state(struct msglog *log, char **err)
{
	struct msglog_chain_state st;

	if (log->ops->state(log->wconn, &st, err) < 0)
		return -1;
	log->next_id = st.last_id + 1;
	memcpy(log->tip, st.last_hash, MSGLOG_HASH_LEN);
	log->committed_last = st.last_id;
	log->stamped_last = st.last_stamped_id;
	if (st.last_id && st.last_id == st.last_stamped_id) {
		log->anchor_id = st.last_id;
		memcpy(log->anchor_hash, st.last_hash, MSGLOG_HASH_LEN);
	}
	/* A backlog found at start waits from now: the restart is the grace. */
	if (log->tsa && st.last_id > st.last_stamped_id)
		log->unstamped_since = msglog_mono_ms();
	return load_window(log, &st, err);
}

static int init_sync(struct msglog *log)
{
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->nmu, NULL);
	pthread_mutex_init(&log->hmu, NULL);
	pthread_mutex_init(&log->stamp_mu, NULL);
	pthread_mutex_init(&log->smu, NULL);
	pthread_mutex_init(&log->rmu, NULL);
	pthread_mutex_init(&log->amu, NULL);
	if (msglog_cond_init(&log->qcond) < 0)
		return -1;
	if (msglog_cond_init(&log->scond) < 0) {
		pthread_cond_destroy(&log->qcond);
		return -1;
	}
	return 0;
}

static void destroy_sync(struct msglog *log)
{
	pthread_cond_destroy(&log->qcond);
	pthread_cond_destroy(&log->scond);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->nmu);
	pthread_mutex_destroy(&log->hmu);
	pthread_mutex_destroy(&log->stamp_mu);
	pthread_mutex_destroy(&log->smu);
	pthread_mutex_destroy(&log->rmu);
	pthread_mutex_destroy(&log->amu);
}

/* Frees what msglog_open made, threads already stopped. */
static void release(struct msglog *log)
{
	struct notifier *n, *next;

	free_pending_list(log->qhead);
	for (n = log->notifiers; n; n = next) {
		next = n->next;
		notifier_free(n);
	}
	if (log->wconn)
		log->ops->close(log->wconn);
	if (log->sconn)
		log->ops->close(log->sconn);
	if (log->rconn)
		log->ops->close(log->rconn);
	tsa_client_free(log->tsa);
	replay_free(log->replay);
	destroy_sync(log);
	free(log->path);
	free(log->tsa_url);
	free(log->tsa_cert_pem);
	free(log->tsa_ca_pem);
	free(log->archive_dir);
	free(log->replay_snapshot);
	free(log);
}

static int open_tsa(struct msglog *log, char **err)
{
	struct tsa_config tc = { log->tsa_url, log->tsa_cert_pem, log->tsa_ca_pem,
				 log->cfg.ts_timeout_ms };

	if (!log->tsa_url)
		return 0;
	log->tsa = tsa_client_new(&tc, err);
	return log->tsa ? 0 : -1;
}

struct msglog *msglog_open(const struct msglog_config *cfg, char **err)
{
	struct msglog *log = calloc(1, sizeof(*log));

	if (!log || init_sync(log) < 0) {
		free(log);
		msglog_set_err(err, "message log: out of memory");
		return NULL;
	}
	if (copy_cfg(log, cfg, err) < 0 || open_tsa(log, err) < 0 ||
	    log->ops->open(log->path, MSGLOG_OPEN_CREATE | MSGLOG_OPEN_WRITER | (log->cfg.pack ? MSGLOG_OPEN_PACK : 0),
			   &log->wconn, err) < 0 ||
	    load_state(log, err) < 0)
		goto fail;
	if (pthread_create(&log->writer, NULL, writer_main, log)) {
		msglog_set_err(err, "message log: cannot start the writer thread");
		goto fail;
	}
	pthread_setname_np(log->writer, "ag-msglog");
	if (msglog_stamper_start(log, err) < 0) {
		pthread_mutex_lock(&log->mu);
		log->stopping = 1;
		pthread_cond_signal(&log->qcond);
		pthread_mutex_unlock(&log->mu);
		pthread_join(log->writer, NULL);
		goto fail;
	}
	return log;
fail:
	release(log);
	return NULL;
}

int msglog_check(const struct msglog_config *cfg, struct msglog_chain_state *st, int *exists, char **err)
{
	const struct msglog_backend_ops *ops = backend_of(cfg);
	void *c = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	*exists = 1;
	if (!msglog_target_is_pg(cfg->path) && access(cfg->path, F_OK) != 0 && errno == ENOENT) {
		char dir[4096];
		const char *slash = strrchr(cfg->path, '/');

		*exists = 0;
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - cfg->path) + 1 : 1, slash ? cfg->path : ".");
		if (access(dir, W_OK | X_OK) != 0) {
			msglog_set_err(err, "message log %s: cannot be created: %s: %s", cfg->path, dir,
				       strerror(errno));
			return -1;
		}
		return 0;
	}
	if (ops->open(cfg->path, MSGLOG_OPEN_READONLY, &c, err) < 0)
		return -1;
	rc = ops->state(c, st, err);
	ops->close(c);
	if (rc < 0 && msglog_target_is_pg(cfg->path) && *err && strstr(*err, "does not exist")) {
		free(*err);   /* a database the gateway has not made its tables in yet */
		*err = NULL;
		*exists = 0;
		return 0;
	}
	return rc < 0 ? -1 : 0;
}

/* At a clean close, the writer drained: the replay window for the next
 * open. Not after a failed group: memory then holds ids noted at append
 * that never became records, which the database reload would not find.
 * Why it was not written goes to why (the next open reloads). */
static void save_window(struct msglog *log, char *why, size_t why_len)
{
	char *e = NULL;

	if (!log->replay_snapshot || !log->replay)
		return;
	if (log->db_ever_failed) {
		snprintf(why, why_len, "a group failed to commit while the log was open");
		return;
	}
	if (replay_save(log->replay, log->replay_snapshot, log->next_id - 1, log->tip, msglog_now_ms(),
			&e) < 0)
		snprintf(why, why_len, "%s", e ? e : "?");
	free(e);
}

void msglog_close(struct msglog *log)
{
	char why[256];

	msglog_close_why(log, why, sizeof(why));
}

void msglog_close_why(struct msglog *log, char *why, size_t why_len)
{
	*why = 0;
	if (!log)
		return;
	pthread_mutex_lock(&log->mu);
	log->stopping = 1;   /* the writer drains the queue first */
	pthread_cond_signal(&log->qcond);
	pthread_mutex_unlock(&log->mu);
	pthread_join(log->writer, NULL);
	msglog_stamper_stop(log);
	save_window(log, why, why_len);
	/* One last try, so that a clean shutdown leaves little unstamped
	 * (bounded by ts_timeout_ms; the next start stamps what is left). */
	if (log->tsa && log->sconn) {
		char *e = NULL;

		log->anchor_noted_ms = 0;   /* the last anchor is told at a stop, whenever the one before was */
		(void)msglog_stamp_pending(log, log->sconn, &e);
		free(e);
	}
	release(log);
}

/* -------------------------------------------------------------- append */

int msglog_append(struct msglog *log, const struct msglog_rec *rec, msglog_done_fn cb, void *arg,
		  struct event_base *base, char **err)
{
	struct notifier *n = NULL;
	struct pending *p;
	int64_t t;
	int wake;

	if (!cb || check_rec(log, rec, err) < 0)
		goto refuse;
	if (base && !(n = notifier_ensure(log, base))) {
		msglog_set_err(err, "message log: out of memory");
		goto refuse;
	}
	if (!(p = make_pending(rec, err)))
		return -1;
	p->cb = cb;
	p->arg = arg;
	p->base = base;
	/* From a loop, a record waits for the end of the loop's turn (flush_cb)
	 * as a lazy one waits for its due: what one turn appends is one group. */
	p->lazy = rec->lazy || n;
	t = p->row.time_ms;   /* p belongs to the writer once queued */
	pthread_mutex_lock(&log->mu);
	if (log->stopping || log->qlen >= log->cfg.queue_max ||
	    log->qbytes + p->size > log->cfg.queue_max_bytes) {
		pthread_mutex_unlock(&log->mu);
		msglog_set_err(err, log->stopping ? "message log: closing" : "message log: queue full");
		free(p);
		return -1;
	}
	if (log->qtail)
		log->qtail->next = p;
	else
		log->qhead = p;
	log->qtail = p;
	if (++log->qlen == 1)
		log->qdue = msglog_mono_ms() + MSGLOG_LAZY_MS;
	log->qeager += !p->lazy;
	log->qbytes += p->size;
	/* Wake the writer for the first record (a lazy one: to set its due),
	 * the first eager one, and when a group is full. */
	wake = log->qlen == 1 || (!p->lazy && log->qeager == 1) || log->qlen >= log->cfg.batch_max;
	if (wake)
		pthread_cond_signal(&log->qcond);
	pthread_mutex_unlock(&log->mu);
	if (n && !rec->lazy)
		event_active(n->flush, EV_TIMEOUT, 1);
	if (rec->dir == MSGLOG_REQUEST)
		(void)replay_note(log->replay, rec->side, rec->client_id ? rec->client_id : "",
				  rec->message_id ? rec->message_id : "", t);
	return 0;
refuse:
	if (!cb)
		msglog_set_err(err, "message log: no callback");
	return -1;
}

struct syncwait {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int done;
	struct msglog_result res;
	char errmsg[160];
};

static void sync_done(const struct msglog_result *res, void *arg)
{
	struct syncwait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->res = *res;
	snprintf(w->errmsg, sizeof(w->errmsg), "%s", res->errmsg);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

int msglog_append_sync(struct msglog *log, const struct msglog_rec *rec, int64_t *id,
		       unsigned char hash[MSGLOG_HASH_LEN], char **err)
{
	struct syncwait w = { .done = 0 };
	int rc = -1;

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (msglog_append(log, rec, sync_done, &w, NULL, err) < 0)
		goto out;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.mu);
	pthread_mutex_unlock(&w.mu);
	if (id)
		*id = w.res.id;
	if (hash)
		memcpy(hash, w.res.hash, MSGLOG_HASH_LEN);
	if (w.res.status != MSGLOG_OK) {
		msglog_set_err(err, "%s", w.errmsg);
		goto out;
	}
	rc = 0;
out:
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

/* -------------------------------------------------- health and queries */

int msglog_is_healthy(struct msglog *log, char *why, size_t why_len)
{
	int64_t waited;
	int ok = 1;

	pthread_mutex_lock(&log->hmu);
	waited = log->unstamped_since ? msglog_mono_ms() - log->unstamped_since : 0;
	if (log->store_lost) {
		ok = 0;
		if (why)
			snprintf(why, why_len, "%s", log->store_err);
	} else if (log->db_failed) {
		ok = 0;
		if (why)
			snprintf(why, why_len, "message log database write failed: %s", log->db_err);
	} else if (log->tsa && waited > (int64_t)log->cfg.ts_max_unstamped_ms) {
		ok = 0;
		if (why)
			snprintf(why, why_len, "%lld records without a time stamp for %lld ms%s%s",
				 (long long)(log->committed_last - log->stamped_last), (long long)waited,
				 *log->ts_err ? "; last TSA error: " : "", log->ts_err);
	}
	pthread_mutex_unlock(&log->hmu);
	if (ok && why && why_len)
		*why = 0;
	return ok;
}

int msglog_retention_health(struct msglog *log, char *out, size_t cap)
{
	int rc;

	if (!log->archive_dir || !log->cfg.retention_days)
		return -1;
	pthread_mutex_lock(&log->hmu);
	rc = log->archive_err[0] != '\0';
	if (rc)
		snprintf(out, cap, "records older than %u days cannot be archived into %s, so they stay in the live "
			 "log: %s (%llu failed runs since start)", log->cfg.retention_days, log->archive_dir,
			 log->archive_err, (unsigned long long)log->n_archive_fail);
	else
		snprintf(out, cap, "records older than %u days go to %s; %llu archive file(s) written since start",
			 log->cfg.retention_days, log->archive_dir, (unsigned long long)log->n_archive_files);
	pthread_mutex_unlock(&log->hmu);
	return rc;
}

int msglog_stamp_error(struct msglog *log, char *out, size_t cap)
{
	int rc;

	pthread_mutex_lock(&log->hmu);
	rc = log->ts_err[0] != '\0';
	if (cap)
		snprintf(out, cap, "%s", rc ? log->ts_err : "");
	pthread_mutex_unlock(&log->hmu);
	return rc;
}

int msglog_anchor(struct msglog *log, int64_t *id, unsigned char hash[MSGLOG_HASH_LEN], int64_t *time_ms)
{
	int rc = -1;

	pthread_mutex_lock(&log->hmu);
	if (log->anchor_id) {
		*id = log->anchor_id;
		memcpy(hash, log->anchor_hash, MSGLOG_HASH_LEN);
		*time_ms = log->anchor_time_ms;
		rc = 0;
	}
	pthread_mutex_unlock(&log->hmu);
	return rc;
}

int64_t msglog_unstamped(struct msglog *log)
{
	int64_t n;

	pthread_mutex_lock(&log->hmu);
	n = log->committed_last - log->stamped_last;
	pthread_mutex_unlock(&log->hmu);
	return n < 0 ? 0 : n;
}

void msglog_get_stats(struct msglog *log, struct msglog_stats *st)
{
	pthread_mutex_lock(&log->hmu);
	st->records = log->n_records;
	st->commits = log->n_commits;
	st->stamps = log->n_stamps;
	st->stamp_failures = log->n_stamp_fail;
	st->archive_failures = log->n_archive_fail;
	st->archive_files = log->n_archive_files;
	{
		int64_t sec = msglog_mono_ms() / 1000;
		uint64_t us = 0;

		st->recent_commits = st->recent_records = st->recent_commit_us_max = 0;
		for (unsigned i = 0; i < MSGLOG_RECENT_S; i++) {
			if (!log->recent[i].commits || log->recent[i].sec <= sec - MSGLOG_RECENT_S)
				continue;
			st->recent_commits += log->recent[i].commits;
			st->recent_records += log->recent[i].records;
			us += log->recent[i].us_sum;
			if (log->recent[i].us_max > st->recent_commit_us_max)
				st->recent_commit_us_max = log->recent[i].us_max;
		}
		st->recent_commit_us_avg = st->recent_commits ? us / st->recent_commits : 0;
	}
	pthread_mutex_unlock(&log->hmu);
	pthread_mutex_lock(&log->mu);
	st->queued = log->qlen;
	pthread_mutex_unlock(&log->mu);
}

int msglog_commit_health(const struct msglog_stats *st, unsigned slow_ms, char *out, size_t len)
{
	int slow = slow_ms && st->recent_commit_us_max > (uint64_t)slow_ms * 1000;

	if (!st->recent_commits) {
		snprintf(out, len, "no commit in the last %d s", MSGLOG_RECENT_S);
		return 0;
	}
	snprintf(out, len, "%s%llu commit%s in the last %d s, %.1f records each; a commit took %.2f ms on "
		 "average, the longest %.2f ms",
		 slow ? "slow commits - every answer waits for one; check the disk under the log: " : "",
		 (unsigned long long)st->recent_commits, st->recent_commits == 1 ? "" : "s", MSGLOG_RECENT_S,
		 (double)st->recent_records / (double)st->recent_commits, st->recent_commit_us_avg / 1000.0,
		 st->recent_commit_us_max / 1000.0);
	if (slow) {
		size_t n = strlen(out);
		snprintf(out + n, len > n ? len - n : 0, ", more than %u ms ([msglog] slow_commit_ms)", slow_ms);
	}
	return slow;
}

void msglog_replay_info(struct msglog *log, struct msglog_replay_info *ri)
{
	ri->from = log->replay_from;
	ri->entries = log->replay_loaded;
	ri->load_ms = log->replay_load_ms;
	snprintf(ri->why, sizeof(ri->why), "%s", log->replay_why);
}

const char *msglog_replay_from_name(enum msglog_replay_from from)
{
	switch (from) {
	case MSGLOG_REPLAY_SNAPSHOT:
		return "snapshot";
	case MSGLOG_REPLAY_DATABASE:
		return "database";
	case MSGLOG_REPLAY_NONE:
		break;
	}
	return "none";
}

void msglog_stamp_now(struct msglog *log)
{
	pthread_mutex_lock(&log->smu);
	log->kick = 1;
	pthread_cond_signal(&log->scond);
	pthread_mutex_unlock(&log->smu);
}

/* The database's answer for [since, until): what memory does not hold.
 * Blocking; the cost grows with the range. */
static int db_seen(struct msglog *log, int side, const char *client, const char *msgid,
		   int64_t since, int64_t until, char **err)
{
	int found = 0, rc;

	pthread_mutex_lock(&log->rmu);
	rc = log->rconn ? 0 : log->ops->open(log->path, 0, &log->rconn, err);
	if (rc == 0)
		rc = log->ops->seen(log->rconn, side, client, msgid, since, until, &found, err);
	pthread_mutex_unlock(&log->rmu);
	return rc < 0 ? -1 : found;
}

int msglog_seen(struct msglog *log, enum msglog_side side, const char *client_id,
		const char *message_id, int64_t since_ms, char **err)
{
	const char *c = client_id ? client_id : "", *m = message_id ? message_id : "";
	int64_t horizon;

	if (replay_find(log->replay, side, c, m, since_ms, 0))
		return 1;
	/* Read after the lookup: memory was complete from here on when it
	 * answered. */
	horizon = replay_horizon(log->replay);
	if (since_ms >= horizon)
		return 0;
	return db_seen(log, side, c, m, since_ms, horizon, err);
}

int msglog_claim(struct msglog *log, enum msglog_side side, const char *client_id,
		 const char *message_id, char **err)
{
	const char *c = client_id ? client_id : "", *m = message_id ? message_id : "";
	int64_t now = msglog_now_ms(), since = now - log->cfg.replay_window_ms;
	int64_t horizon = replay_horizon(log->replay);
	int rc;

	if (since < horizon) {
		rc = db_seen(log, side, c, m, since, horizon, err);
		if (rc != 0)
			return rc;
	}
	return replay_find(log->replay, side, c, m, since, now);
}
