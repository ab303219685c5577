/* msglog: the tamper-evident message log.
 *
 * Every signed request and response lands here before the answer goes back.
 * Records form a SHA-256 hash chain (each record's hash covers the previous
 * hash and a canonical encoding of every field, README.md "Canonical
 * encoding"); a background stamper gets an RFC 3161 token for the chain tip
 * every ts_interval_ms, which fixes every record before it in time.
 *
 * Threads: msglog_append may be called from any thread (event-loop threads
 * in the daemon). One writer thread commits whatever has queued in one
 * transaction (group commit) and then hands each completion to the caller's
 * event_base, where its callback runs. The stamper thread talks to the TSA
 * and runs retention. Nothing here blocks an event loop except
 * msglog_seen()'s fallback to the database for windows older than the
 * in-memory replay window (see there).
 *
 * libevent must have been made thread-safe (evthread_use_pthreads()) before
 * the event_bases handed to msglog_append were created; libcurl must have
 * been initialised (outbound_global_init() or curl_global_init()) before
 * msglog_open when time-stamping is configured.
 *
 * Storage sits behind struct msglog_backend_ops: SQLite (msglog_sqlite_ops)
 * is the embedded default; a PostgreSQL backend implements the same table. */
#ifndef AILGATE_STORE_MSGLOG_H
#define AILGATE_STORE_MSGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct event_base;
struct msglog;

#define MSGLOG_HASH_LEN 32

enum msglog_dir { MSGLOG_REQUEST = 1, MSGLOG_RESPONSE = 2 };
enum msglog_side { MSGLOG_CLIENT = 1, MSGLOG_SERVER = 2 };

/* FULL stores the body; DIGEST (the subsystem's metadata-only logging mode)
 * stores only its SHA-256 and length. Both go into the chain the same way. */
enum msglog_body_mode { MSGLOG_BODY_FULL = 1, MSGLOG_BODY_DIGEST = 2 };

/* One record to log. msglog_append copies everything; the caller keeps
 * ownership of what it passed. NULL strings are logged as "". */
struct msglog_rec {
	int64_t time_ms;                 /* UTC milliseconds; 0: now */
	enum msglog_dir dir;
	enum msglog_side side;
	const char *reqid;               /* the gateway's request id */
	const char *message_id;          /* xrd:id / X-Road-Id */
	const char *client_id;           /* "INST/CLASS/CODE[/SUB]" */
	const char *service_id;          /* "INST/CLASS/CODE/SUB/CODE[/VER]" */
	enum msglog_body_mode body_mode;
	const void *body;                /* may be NULL when body_len is 0, or in
					    DIGEST mode when body_sha256 is given */
	size_t body_len;
	const unsigned char *body_sha256; /* optional: SHA-256 of body (32 bytes),
					     used instead of hashing it again; required
					     in DIGEST mode without body */
	const void *sigdoc;              /* the signature document (XML), may be empty */
	size_t sigdoc_len;
	const void *ocsp;                /* OCSP responses as carried, may be empty */
	size_t ocsp_len;
	const char *request_hash;        /* base64 request hash, "" when none */
	int lazy;                        /* 1: no answer waits for it yet (a request,
					    whose answer waits for its response):
					    it does not wake the writer, but goes
					    with the next record that does, or
					    within MSGLOG_LAZY_MS */
};

/* How long a lazy record - or one appended from an event loop, which waits
 * for the end of the loop's turn - may wait for a record that wakes the writer. Under
 * load the response follows the request within a few ms and both share one
 * commit (one commit costs ~270 us of CPU beyond its records: fewer
 * commits, the same durability before every answer); when none follows
 * (a failed exchange), its answer waits at most this long. */
#define MSGLOG_LAZY_MS 2

/* A stored record as read back. Pointers are valid only during the callback
 * (or until the owner frees it); body is NULL when not stored. */
struct msglog_row {
	int64_t id;
	int64_t time_ms;
	int dir, side, body_mode;
	const char *reqid, *message_id, *client_id, *service_id, *request_hash;
	const unsigned char *body;       /* NULL in DIGEST mode */
	size_t body_len;                 /* the message's length, stored or not */
	unsigned char body_sha256[MSGLOG_HASH_LEN];
	const unsigned char *sigdoc;
	size_t sigdoc_len;
	const unsigned char *ocsp;
	size_t ocsp_len;
	unsigned char prev_hash[MSGLOG_HASH_LEN];
	unsigned char hash[MSGLOG_HASH_LEN];
	/* Read side: what the backend found wrong with the stored form, or NULL.
	 * The row then holds the stored bytes (they fail its digests); the
	 * verifier says this first. */
	const char *stored_damage;
	/* Read side: a stored value that contradicts what is stored beside it
	 * (a body_len that is not the stored body's length; the row then says
	 * the stored body's length), said for a person, or NULL. The verifier
	 * names the record a field problem. Valid as long as the row. */
	const char *stored_field;
};

/* One batch time stamp: an RFC 3161 TimeStampResp (DER) over root, which is
 * the chain hash of record last_id (it binds every record before it). */
struct msglog_stamp {
	int64_t id;
	int64_t first_id, last_id;
	int64_t time_ms;                 /* the token's genTime */
	unsigned char root[MSGLOG_HASH_LEN];
	const unsigned char *token;      /* NULL when not asked for */
	size_t token_len;
};

/* ------------------------------------------------------------ chain rules */

/* Appends the canonical encoding of r (README.md) to out: every field as a
 * 4-byte big-endian length and its bytes. Uses r's digests, not the blobs,
 * except that sigdoc and ocsp are hashed here. 0, or -1 (out of memory). */
int msglog_canon(const struct msglog_row *r, struct buf *out) __attribute__((warn_unused_result));
/* out = SHA-256(r->prev_hash || canon(r)). 0 or -1. */
int msglog_row_hash(const struct msglog_row *r, unsigned char out[MSGLOG_HASH_LEN])
	__attribute__((warn_unused_result));

/* ------------------------------------------------------------- backends */

#define MSGLOG_OPEN_CREATE 1u   /* create the store (and schema) if missing */
#define MSGLOG_OPEN_READONLY 2u
#define MSGLOG_OPEN_ARCHIVE 4u  /* a new archive file: no WAL, marked as archive */
#define MSGLOG_OPEN_WRITER 8u   /* the log's writer connection: may leave housekeeping
				   (SQLite: WAL checkpoints) to the log's other
				   connections while they keep up */
#define MSGLOG_OPEN_PACK 16u    /* store bodies and documents compressed (SQLite:
				   msglog_pack.h; other backends ignore it) */

/* Which records an iteration visits; zero fields do not restrict. Records
 * come in id order. */
struct msglog_filter {
	int64_t from_id, to_id;          /* inclusive */
	int64_t from_ms, to_ms;          /* time_ms in [from_ms, to_ms) */
	const char *message_id;
	int with_body;                   /* 0: the body is not read (NULL, body_len kept) */
};

/* Where the chain stands in one store. base_* is the record before the
 * first one held (0 and zeros for a fresh log; after archiving, the last
 * archived record). last_id is base_id and last_hash base_hash when empty. */
/* How far a batch's time-stamp token may be behind its newest record (and
 * ahead of the verifier's clock): log verify's default tolerance, which the
 * stamper applies too - a gateway clock ahead of the TSA by more would
 * write stamps no verifier accepts. */
#define MSGLOG_CLOCK_SKEW_MS 300000

struct msglog_chain_state {
	int64_t base_id;
	unsigned char base_hash[MSGLOG_HASH_LEN];
	int64_t first_id;                /* 0 when empty */
	int64_t last_id;
	unsigned char last_hash[MSGLOG_HASH_LEN];
	int64_t last_stamped_id;         /* base_id when nothing held is stamped */
	int archive;                     /* an archive file (msglog_archive made it): every
					    record it holds is stamped */
};

/* Callbacks for iterations: return 0 to go on, anything else stops the
 * iteration, which then returns that value. */
typedef int (*msglog_row_fn)(const struct msglog_row *r, void *arg);
typedef int (*msglog_stamp_fn)(const struct msglog_stamp *s, void *arg);

/* Everything storage-specific. A connection (void *conn) is used by one
 * thread at a time; the log opens one per thread that needs it. Fallible
 * operations return 0, or -1 with *err set (caller frees). */
struct msglog_backend_ops {
	const char *name;
	int (*open)(const char *target, unsigned flags, void **conn, char **err);
	void (*close)(void *conn);
	int (*begin)(void *conn, char **err);
	int (*commit)(void *conn, char **err);   /* durable when it returns 0 */
	void (*rollback)(void *conn);
	int (*insert)(void *conn, const struct msglog_row *r, char **err);
	int (*state)(void *conn, struct msglog_chain_state *st, char **err);
	int (*insert_stamp)(void *conn, const struct msglog_stamp *s, char **err);
	int (*iterate)(void *conn, const struct msglog_filter *f, msglog_row_fn fn,
		       void *arg, char **err);
	/* Stamps whose first_id is in [from_first, to_first] (0: open), by first_id. */
	int (*iterate_stamps)(void *conn, int64_t from_first, int64_t to_first, int with_token,
			      msglog_stamp_fn fn, void *arg, char **err);
	/* Lowest record id with time_ms >= t, or 0 when none (*id). */
	int (*first_id_since)(void *conn, int64_t t, int64_t *id, char **err);
	/* Deletes records with id <= last_id and stamps with last_id <= last_id
	 * (and data stored once that no remaining record uses) and records
	 * (last_id, base_hash) as the new base, in the caller's transaction. */
	int (*cut)(void *conn, int64_t last_id, const unsigned char base_hash[MSGLOG_HASH_LEN],
		   char **err);
	/* Sets the base of an empty store (archives). */
	int (*set_base)(void *conn, int64_t base_id, const unsigned char base_hash[MSGLOG_HASH_LEN],
			char **err);
	/* *found = 1 if a request record with this side, client and message id
	 * has since_ms <= time_ms < until_ms (served by an index in time order:
	 * the cost grows with the range). */
	int (*seen)(void *conn, int side, const char *client_id, const char *message_id,
		    int64_t since_ms, int64_t until_ms, int *found, char **err);
	/* Calls fn for every request record with time_ms >= since_ms, oldest
	 * first, with only time_ms, dir, side, client_id and message_id set:
	 * what the replay window reloads at open (served by the same index). */
	int (*requests_since)(void *conn, int64_t since_ms, msglog_row_fn fn, void *arg,
			      char **err);
	/* Housekeeping that a connection other than the writer's does every
	 * MSGLOG_HOUSEKEEP_MS while the log is open (SQLite: a passive WAL
	 * checkpoint, so that each one is small); NULL if the backend needs none.
	 * MSGLOG_STORE_LOST (with err) when the store's files were removed or
	 * replaced under the open log (SQLite: the WAL file): the log is
	 * unhealthy from then on, until a restart. */
	int (*housekeep)(void *conn, char **err);
	/* A small durable write (a transaction that changes nothing the log
	 * holds), to learn whether the store takes writes again after a failed
	 * commit; NULL: an empty transaction (begin, commit) instead. */
	int (*probe)(void *conn, char **err);
};

#define MSGLOG_STORE_LOST (-2)
/* state(): the store's own bookkeeping - one of its tables, the base's meta
 * rows - is missing or malformed (damaged or edited, not unreadable), with
 * err saying what; first_id and last_id filled when the records could be
 * read. */
#define MSGLOG_STORE_DAMAGED (-3)

/* While the last write failed, the writer tries the backend's probe this
 * often when no record comes, so that the log reports itself healthy again
 * once the store works (the gateway refuses new exchanges while it is not:
 * no record would come to find out). */
#define MSGLOG_PROBE_MS 1000

/* How often the stamper thread does the backend's housekeeping. A WAL
 * checkpoint ends in an fsync of the database file, and the disk's cache
 * flush makes the writer's commits wait for it: one a second (with the time
 * stamp) wrote ~20 MB at 1,500 exchanges/s and held every answer in flight
 * for 25-60 ms; ten a second write ~2 MB each (ops/bench/RESULTS.md). */
#define MSGLOG_HOUSEKEEP_MS 100

extern const struct msglog_backend_ops msglog_sqlite_ops;
/* The PostgreSQL backend (msglog_pg.c): target is a libpq URI. */
extern const struct msglog_backend_ops msglog_pg_ops;
/* 1 for "postgresql://..." and "postgres://...". */
int msglog_target_is_pg(const char *target);
/* The backend a target names: PostgreSQL for a postgresql:// URI, else SQLite (a file). */
const struct msglog_backend_ops *msglog_backend_for(const char *target);
/* target for logs and messages, a password in it replaced by ***. */
const char *msglog_target_display(const char *target, char *out, size_t cap);

/* ------------------------------------------------------------- the log */

/* Zero numeric fields take the defaults given in brackets; the others
 * (group_wait_ms, ts_sync, retention_days) mean what 0 says. */
struct msglog_config {
	const char *path;                /* SQLite file (or the backend's target) */
	const struct msglog_backend_ops *backend; /* NULL: SQLite */
	unsigned batch_max;              /* records per group commit (256) */
	unsigned group_wait_ms;          /* wait this long for more records once one
					    is queued (0: commit whatever is there) */
	unsigned queue_max;              /* records waiting; more are refused (100000) */
	size_t queue_max_bytes;          /* bytes waiting (256 MiB) */
	size_t max_body;                 /* caps per record field (64 MiB) */
	size_t max_sigdoc;               /* (4 MiB) */
	size_t max_ocsp;                 /* (1 MiB) */
	size_t max_id_len;               /* reqid/message/client/service/hash (1024) */
	/* Time-stamping: without tsa_url nothing is stamped (development only). */
	const char *tsa_url;
	const char *tsa_cert_pem;        /* the approved TSA certificate (required) */
	const char *tsa_ca_pem;          /* its issuer chain, optional */
	unsigned ts_interval_ms;         /* batch period (1000) */
	unsigned ts_timeout_ms;          /* one TSA request (10000) */
	unsigned ts_retry_max_ms;        /* backoff cap after failures (60000) */
	unsigned ts_max_unstamped_ms;    /* unhealthy when a record waits longer
					    for a stamp (14400000, X-Road's default) */
	int ts_sync;                     /* stamp each group before its callbacks */
	int pack;                        /* SQLite: bodies and signature documents
					    stored zstd-compressed against a dictionary
					    of the log's own records (msglog_pack.h);
					    archive files too. 0: as they are */
	/* Retention: with archive_dir and retention_days, the stamper archives
	 * records older than retention_days every archive_interval_ms. */
	const char *archive_dir;
	unsigned retention_days;
	/* Told (on the stamper's thread) of each archive file written and each
	 * retention run that failed, for the operator's log; NULL: nobody. */
	void (*archive_note)(void *arg, int failed, const char *what);
	void *archive_note_arg;
	/* Told (on the stamping thread) of the newest stamped record - its id
	 * and hash, which the operator keeps off this machine, so that a log
	 * cut after it is told by `ailgate log verify --anchor` - after a stamp,
	 * at most every anchor_interval_ms (0: never); NULL: nobody. */
	void (*anchor_note)(void *arg, int64_t id, const unsigned char hash[MSGLOG_HASH_LEN], int64_t time_ms);
	void *anchor_note_arg;
	unsigned anchor_interval_ms;
	unsigned archive_interval_ms;    /* (3600000) */
	unsigned archive_chunk;          /* records per archive file, rounded to whole
					    batches (20000): each file's records leave
					    the live log in their own transaction, so the
					    writer waits for one file's delete at most
					    (~25 us a record), not for the whole run's */
	/* Replay window kept in memory (msglog_seen). */
	unsigned replay_window_ms;       /* (600000) */
	unsigned replay_max_entries;     /* (1000000); past it the oldest are kept as
					    64-bit hashes, up to 4x as many, and only
					    past those the database answers for them */
	/* A file the replay window is written to at a clean close and read
	 * back (then removed) at the next open instead of reloading the window
	 * from the database, when it still matches the log's last record and
	 * the window (README.md "Replay window"). NULL: none, always reload. */
	const char *replay_snapshot;
};

/* Fills c with the defaults above (path and tsa_* NULL). */
void msglog_config_defaults(struct msglog_config *c);

enum msglog_status {
	MSGLOG_OK = 0,
	MSGLOG_ERR_DB,          /* the record is not logged */
	MSGLOG_ERR_STAMP,       /* logged, but ts_sync could not stamp it */
};

struct msglog_result {
	enum msglog_status status;
	int64_t id;                      /* 0 unless logged */
	unsigned char hash[MSGLOG_HASH_LEN];
	const char *errmsg;              /* "" when OK */
};

/* Called once per accepted append, on the thread of the event_base given
 * to msglog_append (the writer thread when base was NULL). res is valid
 * only during the call. */
typedef void (*msglog_done_fn)(const struct msglog_result *res, void *arg);

/* Opens (creating if missing) the log and starts its threads. cfg's strings
 * are copied. NULL with *err set (caller frees) on failure. */
struct msglog *msglog_open(const struct msglog_config *cfg, char **err);

/* serve --check: what the log at cfg->path (cfg->backend, as msglog_open)
 * holds, read through a read-only connection - nothing written, no thread
 * started, so a running gateway's log is safe. *exists 0: no log there yet
 * (SQLite: the file is missing and its directory writable; PostgreSQL: no
 * tables yet), which msglog_open would create. 0, or -1 with *err. */
int msglog_check(const struct msglog_config *cfg, struct msglog_chain_state *st, int *exists, char **err);

/* Commits everything already queued, stops the threads, tries one last
 * stamp (bounded by ts_timeout_ms) and closes. No append may run during or
 * after it. Call after the event loops that appended have stopped (or
 * detached, below): completions not yet delivered are dropped without their
 * callbacks. NULL is a no-op. */
void msglog_close(struct msglog *log);
/* The same; why gets why the replay window's snapshot was not written
 * (empty when it was, or when there is none to write). */
void msglog_close_why(struct msglog *log, char *why, size_t why_len);

/* Queues a copy of rec. Returns 0 (cb will be called once, on base's
 * thread, after the record is durable, unless base is detached or the log
 * closed first), or -1 with *err (caller
 * frees) when nothing was queued and cb will not be called: a field over its
 * cap, a bad dir/side/body_mode, the queue full, or the log closing.
 * With a base (called on its thread), the record is committed at the end
 * of the base's current turn with what else the turn appended (at its
 * lowest priority), or within MSGLOG_LAZY_MS; without, at once. */
int msglog_append(struct msglog *log, const struct msglog_rec *rec, msglog_done_fn cb, void *arg,
		  struct event_base *base, char **err) __attribute__((warn_unused_result));
/* Same, waiting for the commit (tools, tests; never on an event loop).
 * Returns 0 with *id (and hash, if not NULL) set, or -1 with *err. With
 * ts_sync, a stamping failure returns -1 although the record is logged. */
int msglog_append_sync(struct msglog *log, const struct msglog_rec *rec, int64_t *id,
		       unsigned char hash[MSGLOG_HASH_LEN], char **err)
	__attribute__((warn_unused_result));
/* Call on base's thread before freeing an event_base that was given to
 * msglog_append: completions still owed to it are dropped. */
void msglog_detach_base(struct msglog *log, struct event_base *base);

/* 1 when the log can take new exchanges; 0 with a reason for a person in
 * why (if not NULL): a database write failed (until one succeeds: a group's
 * commit, or the writer's probe every MSGLOG_PROBE_MS), or a
 * record has waited more than ts_max_unstamped_ms for a time stamp (until
 * the backlog is stamped). */
int msglog_is_healthy(struct msglog *log, char *why, size_t why_len);

/* Replay window. Returns 1 if a request from client_id with message_id was
 * logged (or queued, or claimed) on this side at or after since_ms, 0 if
 * not, -1 on a database error (*err). Within replay_window_ms the answer
 * comes from memory; an older since_ms asks the database (blocking). */
int msglog_seen(struct msglog *log, enum msglog_side side, const char *client_id,
		const char *message_id, int64_t since_ms, char **err)
	__attribute__((warn_unused_result));
/* Atomic check-and-remember in memory for the pipeline: 1 if already seen
 * within the replay window (nothing changes), else remembers it at now and
 * returns 0. -1 on a database error (only if the window reaches back past
 * what memory holds). */
int msglog_claim(struct msglog *log, enum msglog_side side, const char *client_id,
		 const char *message_id, char **err) __attribute__((warn_unused_result));

/* 1 if name (a file name, no directory) is an archive's,
 * msglog-<first>-<last>.db, with its ids in *first and *last; else 0. */
int msglog_archive_name(const char *name, long long *first, long long *last);

/* Moves records older than before_ms, in whole stamped batches, into new
 * archive files in dir (SQLite files with the same schema, named
 * msglog-<first>-<last>.db, which logverify checks), then deletes them
 * from the live log; the live log's base becomes the last archived record
 * so the chain continues. Unstamped records are never archived. One file
 * holds at most cfg.archive_chunk records (or one batch, if larger); each
 * file is complete on disk before its records are deleted, in a transaction
 * of their own, and the writer gets the database between two of them
 * (while the next file is written). Returns the number of records archived (0:
 * nothing old enough), *path set to the last file written when > 0 (caller
 * frees; may be NULL), or -1 with *err (files written before the error
 * stay, their records cut: the count is lost, not the records). Runs on
 * the caller's thread (blocking). */
long msglog_archive(struct msglog *log, int64_t before_ms, const char *dir, char **path,
		    char **err) __attribute__((warn_unused_result));

/* Counters since msglog_open, for metrics and tests. */
struct msglog_stats {
	uint64_t records;                /* committed */
	uint64_t commits;                /* transactions (group commits) */
	uint64_t stamps;                 /* batch tokens stored */
	uint64_t stamp_failures;         /* TSA requests that failed */
	uint64_t archive_failures;       /* retention runs that failed (retried) */
	uint64_t archive_files;          /* archive files written (and cut) */
	uint64_t queued;                 /* waiting for the writer now */
	/* The last MSGLOG_RECENT_S seconds: group commits, their records, and
	 * how long the backend's commit took - SQLite: COMMIT, the WAL written
	 * and synced (and any checkpoint the writer runs then); PostgreSQL: the
	 * pipelined inserts and COMMIT. Not in it: waiting for the write lock
	 * (BEGIN) and a ts_sync stamp. */
	uint64_t recent_commits, recent_records;
	uint64_t recent_commit_us_avg, recent_commit_us_max;
};
#define MSGLOG_RECENT_S 60
void msglog_get_stats(struct msglog *log, struct msglog_stats *st);

/* Retention for /health: 1 (a warning) with why in out when the last run
 * could not archive (the live log keeps its old records meanwhile), else 0
 * with what it did; -1 when no retention is configured. */
int msglog_retention_health(struct msglog *log, char *out, size_t cap);

/* The commits of the last minute in words for /health ("N commits in the
 * last 60 s, R records each; a commit took A ms on average, the longest
 * B ms") into out; returns 1 when the longest took more than slow_ms (the
 * disk holds every answer back: a warning), else 0 (slow_ms 0: never). */
int msglog_commit_health(const struct msglog_stats *st, unsigned slow_ms, char *out, size_t len);

/* Asks the stamper to stamp now (tests, shutdown). Does not wait. */
void msglog_stamp_now(struct msglog *log);
/* Number of records committed but not yet stamped. */
int64_t msglog_unstamped(struct msglog *log);
/* 1 with the reason in out when the last request for a time stamp failed
 * (TSA unreachable, a refused token, this gateway's clock ahead of the
 * TSA's), else 0. */
int msglog_stamp_error(struct msglog *log, char *out, size_t cap);
/* The newest stamped record known (this run's stamps, or at start a log
 * whose last record is stamped): 0 with its id, hash and the stamp's time
 * (0 when found at start), -1 when none is known yet. */
int msglog_anchor(struct msglog *log, int64_t *id, unsigned char hash[MSGLOG_HASH_LEN], int64_t *time_ms);

/* Where msglog_open got the replay window from. */
enum msglog_replay_from {
	MSGLOG_REPLAY_NONE,              /* the log held no record: nothing to load */
	MSGLOG_REPLAY_SNAPSHOT,          /* cfg.replay_snapshot, written at the last clean close */
	MSGLOG_REPLAY_DATABASE,          /* the requests of the window, from the database */
};
struct msglog_replay_info {
	enum msglog_replay_from from;
	size_t entries;                  /* ids (with ghosts) in memory after loading */
	double load_ms;                  /* time loading took (monotonic clock) */
	char why[160];                   /* why a snapshot that was there was not used; "" */
};
void msglog_replay_info(struct msglog *log, struct msglog_replay_info *ri);
/* "none", "snapshot", "database". */
const char *msglog_replay_from_name(enum msglog_replay_from from);

/* Milliseconds since the epoch (UTC). */
int64_t msglog_now_ms(void);

#endif
