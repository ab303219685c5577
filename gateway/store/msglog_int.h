/* Internal to gateway/store/msglog*.c: the log's state, shared by the
 * writer (msglog.c), the stamper and archiver (msglog_stamp.c) and the
 * replay window (msglog_replay.c). Not for other modules. */
#ifndef AILGATE_STORE_MSGLOG_INT_H
#define AILGATE_STORE_MSGLOG_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "store/msglog.h"
#include "store/tsa.h"

/* One second of group commits (msglog_get_stats' recent_* figures). */
struct msglog_recent {
	int64_t sec;                     /* the monotonic second it holds (empty: no commits) */
	unsigned commits;
	uint64_t records, us_sum, us_max;
};

struct pending;
struct notifier;
struct replay;

struct msglog {
	struct msglog_config cfg;        /* strings below are our copies */
	char *path, *tsa_url, *tsa_cert_pem, *tsa_ca_pem, *archive_dir;
	const struct msglog_backend_ops *ops;

	/* queue (mu): appenders -> writer */
	pthread_mutex_t mu;
	pthread_cond_t qcond;
	struct pending *qhead, *qtail;
	unsigned qlen;
	unsigned qeager;                 /* queued records that are not lazy */
	int qkick;                       /* a loop's turn ended: commit what waits */
	int64_t qdue;                    /* monotonic ms: commit the queue by then
					    even if all of it is lazy */
	size_t qbytes;
	int stopping;

	/* writer thread only */
	pthread_t writer;
	void *wconn;
	int64_t next_id;
	unsigned char tip[MSGLOG_HASH_LEN];

	/* per-event_base completion queues (nmu) */
	pthread_mutex_t nmu;
	struct notifier *notifiers;

	/* health (hmu) */
	pthread_mutex_t hmu;
	int db_failed;
	char db_err[200];
	int store_lost;                 /* housekeeping found the store's files gone (MSGLOG_STORE_LOST) */
	char store_err[300];
	char ts_err[200];
	char archive_err[512];           /* the last retention run's failure; "" after a success */
	int64_t committed_last;          /* highest committed id */
	int64_t newest_time_ms;          /* the newest time of a record committed since start */
	int64_t stamped_last;            /* highest stamped id */
	/* The anchor: the newest stamped record (id 0: none known yet), its
	 * hash, the stamp's time; and when cfg.anchor_note was last called. */
	int64_t anchor_id, anchor_time_ms, anchor_noted_ms;
	unsigned char anchor_hash[MSGLOG_HASH_LEN];
	int64_t unstamped_since;         /* monotonic ms since a record waits; 0: none */
	uint64_t n_records, n_commits, n_stamps, n_stamp_fail, n_archive_fail, n_archive_files;
	struct msglog_recent recent[MSGLOG_RECENT_S];   /* the last seconds' commits */
	int64_t last_commit_us;          /* writer: how long its last COMMIT took */

	/* stamping: stamp_mu serialises the stamper and ts_sync writer */
	pthread_mutex_t stamp_mu;
	struct tsa_client *tsa;
	pthread_t stamper;
	int have_stamper;
	void *sconn;
	pthread_mutex_t smu;             /* guards kick and the stamper's sleep */
	pthread_cond_t scond;
	int kick;
	int sstop;                       /* the stamper should stop */
	int64_t next_archive_ms;

	pthread_mutex_t amu;             /* one archiver at a time */

	/* replay window; rconn for windows older than memory holds (rmu) */
	struct replay *replay;
	pthread_mutex_t rmu;
	void *rconn;
	char *replay_snapshot;           /* cfg's copy; NULL: none */
	enum msglog_replay_from replay_from;
	size_t replay_loaded;
	double replay_load_ms;
	char replay_why[160];            /* why a snapshot found was not used */
	int db_ever_failed;              /* hmu: a group failed since open: memory
					    may hold ids the database does not */
};

/* msglog.c */
void msglog_set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t msglog_mono_ms(void);
int64_t msglog_mono_us(void);
/* Waits on cond (made with CLOCK_MONOTONIC) until deadline (monotonic ms). */
void msglog_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_ms);
int msglog_cond_init(pthread_cond_t *cond);

/* msglog_stamp.c */
/* Stamps every committed record not yet stamped, on conn (the caller's
 * connection). 0 (also when nothing waits), or -1 with *err. */
int msglog_stamp_pending(struct msglog *log, void *conn, char **err);
int msglog_stamper_start(struct msglog *log, char **err);
void msglog_stamper_stop(struct msglog *log);

/* msglog_replay.c: a hash set of (side, client, message id) -> time, for
 * window_ms, at most max entries (the oldest go first). Thread-safe. Memory
 * is complete only for times at or after its horizon: what expired or was
 * evicted, and what happened before the log was opened, is not there. */
struct replay *replay_new(unsigned window_ms, unsigned max);
void replay_free(struct replay *r);
/* Remembers a request seen at t. 0, or -1 out of memory (then the horizon
 * moves past t so that lookups fall back to the database). */
int replay_note(struct replay *r, int side, const char *client, const char *msgid, int64_t t);
/* 1 if remembered with a time at or after since, else 0; with claim_now > 0
 * a 0 answer also remembers the key at claim_now, under the same lock. */
int replay_find(struct replay *r, int side, const char *client, const char *msgid, int64_t since,
		int64_t claim_now);
/* The time from which memory is complete (past entries expired first). */
int64_t replay_horizon(struct replay *r);
/* Memory is complete from t on (raises the horizon only). */
void replay_set_horizon(struct replay *r, int64_t t);
/* Ids and ghosts held. */
size_t replay_count(struct replay *r);
/* Writes the set's logged ids still in the window at now to path (through
 * path.tmp and rename), tied to the log's last record (last_id, tip).
 * Returns the number of ids written, or -1 with *err. Format: the comment
 * above replay_save in msglog_replay.c, and README.md "Replay window". */
long replay_save(struct replay *r, const char *path, int64_t last_id,
		 const unsigned char tip[MSGLOG_HASH_LEN], int64_t now, char **err);
/* Fills r, new and empty, from the snapshot at path if it was written for
 * this log as it stands (last_id, last_hash) and r's window: 1. 0 when there
 * is no file, -1 when it cannot be used (why says why; r is unchanged). The
 * file is removed either way. */
int replay_load(struct replay *r, const char *path, int64_t last_id,
		const unsigned char last_hash[MSGLOG_HASH_LEN], int64_t now, char *why, size_t why_len);

#endif
