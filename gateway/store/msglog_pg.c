/* The message log in PostgreSQL (msglog_pg_ops): the same records, chain,
 * time stamps and base as the SQLite backend, for a gateway whose operator
 * keeps its log in a database server (backups, replication, monitoring in
 * one place). The target is a libpq connection string or URI
 * ("postgresql://user@host/db?..."); the tables live in the connection's
 * schema (search_path: options=-csearch_path=NAME for one schema per
 * gateway).
 *
 * One writer per chain: the writer's connection holds a session advisory
 * lock (keyed on the records table) for as long as it is open, and a second
 * gateway (or a second process of the same one) pointed at the same tables
 * is refused at open with a message saying so. A connection the server
 * dropped is made again before the next operation outside a transaction
 * (live()). Identifiers are stored as bytea: the hashed bytes, whatever the
 * client encoding. Commits are durable when they return
 * (synchronous_commit = on, set on every connection). Everything else -
 * iteration order, filters, the base after archiving, what a damaged row
 * reads as - is what msglog_sqlite.c does; archives are SQLite files
 * whatever the live log is (msglog_stamp.c). Bodies, signature documents
 * and OCSP data are stored in their rows (TOAST compresses the repeated
 * parts), not once per value as in the SQLite backend. */
#include "store/msglog.h"
#include "store/msglog_int.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* libpq's connect_timeout (s) and keepalives unless the URI says otherwise:
 * a reconnection blocks its caller (on a worker's loop for a replay check
 * memory cannot answer), so it must not wait for the system's TCP timeout. */
#define PG_CONNECT_TIMEOUT "3"
#define PG_RETRY_MS 2000

/* The first half of the writer's advisory lock key (the second is the
 * records table's oid): arbitrary, fixed, "ailg". */
#define PG_LOCK_CLASS 0x61696c67

struct pgconn {
	PGconn *db;
	unsigned flags;
	unsigned cursors;   /* names cursors uniquely: an iteration may run inside another's callback */
	/* The writer's transactions go as one pipeline (libpq pipeline mode):
	 * BEGIN, the group's INSERTs (a prepared statement) and COMMIT are sent
	 * together and their results read at the commit, one round trip per
	 * group instead of one per record. */
	int piping;         /* in pipeline mode, between begin and commit/rollback */
	int in_tx;          /* between begin and commit/rollback: never reconnected then */
	int unset;          /* reconnected, but its session could not be set up again (the
			       writer's lock taken by another process): made again next time */
	int64_t retry_at;   /* monotonic ms: no new reconnection before (one failed) */
	char why[200];      /* why the last reconnection failed */
	int regained;       /* the writer's session made again: its first begin fails once,
			       so that the log reads the chain's tip again (another process may
			       have written meanwhile) */
	int sent;           /* queries sent in the pipeline */
};

#define INSERT_SQL                                                                                   \
	"INSERT INTO msglog_records VALUES ($1::bigint, $2::bigint, $3::smallint, $4::smallint,"       \
	" $5, $6, $7, $8, $9::smallint, $10, $11::bigint, $12, $13, $14, $15, $16, $17)"

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS msglog_base ("
	" one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	" base_id bigint NOT NULL, base_hash bytea NOT NULL, format integer NOT NULL);"
	"INSERT INTO msglog_base VALUES (true, 0, '\\x" /* 32 zero bytes */
	"0000000000000000000000000000000000000000000000000000000000000000', 1)"
	" ON CONFLICT DO NOTHING;"
	"CREATE TABLE IF NOT EXISTS msglog_records ("
	" id bigint PRIMARY KEY, time_ms bigint NOT NULL,"
	" dir smallint NOT NULL, side smallint NOT NULL,"
	" reqid bytea NOT NULL, message_id bytea NOT NULL,"
	" client_id bytea NOT NULL, service_id bytea NOT NULL,"
	" body_mode smallint NOT NULL, body bytea, body_len bigint NOT NULL,"
	" body_sha256 bytea NOT NULL, sigdoc bytea NOT NULL, ocsp bytea NOT NULL,"
	" request_hash bytea NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL);"
	"CREATE INDEX IF NOT EXISTS msglog_records_time ON msglog_records"
	" (time_ms, dir, side, client_id, message_id);"
	"CREATE TABLE IF NOT EXISTS msglog_timestamps ("
	" id bigserial PRIMARY KEY, first_id bigint NOT NULL, last_id bigint NOT NULL,"
	" root bytea NOT NULL, token bytea NOT NULL, time_ms bigint NOT NULL);"
	"CREATE INDEX IF NOT EXISTS msglog_timestamps_first ON msglog_timestamps (first_id);";

static const char COLS[] =
	"id, time_ms, dir, side, reqid, message_id, client_id, service_id, body_mode, %s,"
	" body_len, body_sha256, sigdoc, ocsp, request_hash, prev_hash, hash";

static void pg_err(char **err, PGconn *db, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pg_err(char **err, PGconn *db, const char *fmt, ...)
{
	char what[200], *m;
	const char *e = db ? PQerrorMessage(db) : "";
	size_t n;
	va_list ap;

	if (!err || *err)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	n = strlen(e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		n--;
	if (asprintf(&m, "%s%s%.*s", what, n ? ": " : "", (int)n, e) < 0)
		m = NULL;
	*err = m;
}

/* Runs a statement without parameters that returns no rows (or ignores them). */
static int exec_cmd(struct pgconn *c, const char *sql, char **err)
{
	PGresult *res = PQexec(c->db, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;

	if (rc < 0)
		pg_err(err, c->db, "postgresql: %.40s", sql);
	PQclear(res);
	return rc;
}

/* Parameters: int64 values are sent as text, bytea and text in binary
 * (text's binary form is its bytes). */
struct params {
	const char *v[20];
	int len[20], fmt[20];
	char num[20][24];
	int n;
};

static void p_i64(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
	p->v[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

static void p_bin(struct params *p, const void *data, size_t len)
{
	p->v[p->n] = data ? data : "";
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

static void p_null(struct params *p)
{
	p->v[p->n] = NULL;
	p->len[p->n] = 0;
	p->fmt[p->n] = 1;
	p->n++;
}

static void p_text(struct params *p, const char *s)
{
	p_bin(p, s ? s : "", s ? strlen(s) : 0);
}

/* Results in binary (bytea raw, bigint 8 bytes big-endian, smallint 2). */
static PGresult *run(struct pgconn *c, const char *sql, const struct params *p, int want_rows, char **err)
{
	PGresult *res = PQexecParams(c->db, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
				     p ? p->fmt : NULL, 1);
	ExecStatusType st = PQresultStatus(res);

	if (st != (want_rows ? PGRES_TUPLES_OK : PGRES_COMMAND_OK)) {
		pg_err(err, c->db, "postgresql: %.48s", sql);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* A statement without rows: sent into the writer's pipeline (its result
 * read at the commit), run at once otherwise. 0, or -1 with err. */
static int command(struct pgconn *c, const char *sql, const struct params *p, char **err)
{
	PGresult *res;

	if (c->piping) {
		if (!PQsendQueryParams(c->db, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
				       p ? p->fmt : NULL, 1)) {
			pg_err(err, c->db, "postgresql: send %.40s", sql);
			return -1;
		}
		c->sent++;
		return 0;
	}
	if (!(res = run(c, sql, p, 0, err)))
		return -1;
	PQclear(res);
	return 0;
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
	int len = PQgetlength(res, row, col);
	uint64_t v = 0;

	if (PQgetisnull(res, row, col))
		return 0;
	for (int i = 0; i < len && i < 8; i++)
		v = (v << 8) | p[i];
	if (len == 2)
		return (int16_t)v;
	if (len == 4)
		return (int32_t)v;
	return (int64_t)v;
}

static const unsigned char *get_blob(const PGresult *res, int row, int col, size_t *len)
{
	*len = (size_t)PQgetlength(res, row, col);
	return (const unsigned char *)PQgetvalue(res, row, col);
}

/* A 32-byte bytea; anything else reads as zeros (the verifier names it). */
static int get_hash(const PGresult *res, int row, int col, unsigned char out[MSGLOG_HASH_LEN])
{
	size_t n;
	const unsigned char *p = get_blob(res, row, col, &n);

	if (PQgetisnull(res, row, col) || n != MSGLOG_HASH_LEN) {
		memset(out, 0, MSGLOG_HASH_LEN);
		return -1;
	}
	memcpy(out, p, MSGLOG_HASH_LEN);
	return 0;
}

static int query_i64(struct pgconn *c, const char *sql, const struct params *p, int64_t dflt, int64_t *out,
		     char **err);

static void pg_close(void *conn)
{
	struct pgconn *c = conn;

	if (!c)
		return;
	PQfinish(c->db);   /* also releases the writer's advisory lock */
	free(c);
}

/* Every connection of this process names it (application_name): the
 * stamper and the archiver write only while the log's writer lock is held
 * by a session of theirs (owner_check). "ailgate-msglog HOST PID NONCE":
 * the nonce is random per process (made again in a forked child), so that
 * two processes never share the name even with the same host name and pid
 * (containers, each its gateway as pid 1). */
static pthread_mutex_t owner_mu = PTHREAD_MUTEX_INITIALIZER;
static char owner_buf[64];
static pid_t owner_pid;

static const char *owner_tag(char out[64])
{
	pthread_mutex_lock(&owner_mu);
	if (owner_pid != getpid()) {
		char host[25] = "?";
		uint32_t nonce = 0;

		(void)gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
			nonce = (uint32_t)msglog_mono_ms() ^ (uint32_t)getpid() << 16;
		owner_pid = getpid();
		snprintf(owner_buf, sizeof(owner_buf), "ailgate-msglog %s %ld %08x", host, (long)owner_pid,
			 (unsigned)nonce);
	}
	snprintf(out, 64, "%s", owner_buf);
	pthread_mutex_unlock(&owner_mu);
	return out;
}

/* In the stamper's or the archiver's transaction, under the stamping lock
 * (stamp_lock_barrier): the log's writer lock is held by a session of this
 * process. A process whose writer lost the lock (its connection dropped and
 * another gateway process took the log) must not stamp or cut a chain
 * another process writes. */
static int owner_check(struct pgconn *c, char **err)
{
	struct params p = { .n = 0 };
	int64_t n = 0;
	char tag[64];

	p_i64(&p, PG_LOCK_CLASS);
	p_text(&p, owner_tag(tag));
	if (query_i64(c, "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
			 " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid"
			 " AND l.objid = 'msglog_records'::regclass::oid AND l.objsubid = 2"
			 " AND a.application_name = $2::text", &p, 0, &n, err) < 0)
		return -1;
	if (n != 1) {
		pg_err(err, NULL, "message log: this gateway process no longer holds the PostgreSQL log's writer "
			   "lock (another process writes the log); nothing is stamped or archived from here");
		return -1;
	}
	return 0;
}

/* The log's stamping lock (keyed on the time-stamps table): a stamper's or
 * archiver's transaction holds it shared from before its owner check to its
 * end; a writer that takes the log waits for it exclusively, once, before
 * it reads where the chain stands. So a transaction another process began
 * while its writer still held the log ends first - its stamp is in the
 * state the new writer reads, its cut done - and one that begins after the
 * take-over fails its owner check. Without it, a stamp begun just before a
 * take-over committed after the new writer read the state, and both
 * processes stamped the same records (a log that no longer verifies). */
#define PG_STAMP_LOCK_WAIT "30s"
#define PG_STAMP_LOCK_KEY "'msglog_timestamps'::regclass::oid::int"

static int stamp_lock_shared(struct pgconn *c, char **err)
{
	struct params p = { .n = 0 };
	PGresult *res;

	p_i64(&p, PG_LOCK_CLASS);
	if (!(res = run(c, "SELECT pg_advisory_xact_lock_shared($1::int, " PG_STAMP_LOCK_KEY ")::text",
			&p, 1, err)))
		return -1;
	PQclear(res);
	return 0;
}

static int stamp_lock_barrier(struct pgconn *c, char **err)
{
	char sql[320];

	snprintf(sql, sizeof(sql),
		 "BEGIN; SET LOCAL lock_timeout = '" PG_STAMP_LOCK_WAIT "';"
		 " SELECT pg_advisory_xact_lock(%d, " PG_STAMP_LOCK_KEY "); COMMIT",
		 PG_LOCK_CLASS);
	if (exec_cmd(c, sql, NULL) == 0)
		return 0;
	/* The server's reason first (a lock timeout, a lost connection): the
	 * ROLLBACK below replaces the connection's error message. */
	pg_err(err, c->db, "message log: the PostgreSQL log is not taken over: waiting up to " PG_STAMP_LOCK_WAIT
		   " for the stamping lock (a stamping or archiving transaction of another gateway process "
		   "holds it) failed");
	(void)exec_cmd(c, "ROLLBACK", NULL);
	return -1;
}

/* What every connection sets, again after a reconnection: durable commits,
 * its name, read-only for readers; the writer also takes the log's lock (one
 * writer per log: the advisory lock is keyed on the records table, so one
 * schema per gateway in a database works) and prepares its INSERT. */
static int session_setup(struct pgconn *c, char **err)
{
	PGresult *res;
	struct params p = { .n = 0 }, a = { .n = 0 };
	char tag[64];

	p_text(&a, owner_tag(tag));
	if (exec_cmd(c, "SET synchronous_commit = on; SET client_min_messages = warning", err) < 0 ||
	    !(res = run(c, "SELECT set_config('application_name', $1::text, false)", &a, 1, err)))
		return -1;
	PQclear(res);
	if ((c->flags & MSGLOG_OPEN_READONLY) && exec_cmd(c, "SET default_transaction_read_only = on", err) < 0)
		return -1;
	if (!(c->flags & MSGLOG_OPEN_WRITER))
		return 0;
	p_i64(&p, PG_LOCK_CLASS);
	if (!(res = run(c, "SELECT pg_try_advisory_lock($1::int, 'msglog_records'::regclass::oid::int)::int",
			&p, 1, err)))
		return -1;
	if (PQntuples(res) != 1 || get_i64(res, 0, 0) != 1) {
		PQclear(res);
		pg_err(err, NULL, "message log: another gateway process is writing this PostgreSQL log "
			   "(its writer holds the log's lock); one writer per log");
		return -1;
	}
	PQclear(res);
	if (stamp_lock_barrier(c, err) < 0)
		return -1;
	res = PQprepare(c->db, "msglog_insert", INSERT_SQL, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_err(err, c->db, "postgresql: prepare insert");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* The tables, made by the writer's first open (MSGLOG_OPEN_CREATE) only
 * when missing: CREATE INDEX IF NOT EXISTS takes a lock on the table even
 * when the index exists, and the gateway's role may not own them. */
static int make_schema(struct pgconn *c, char **err)
{
	PGresult *res = run(c, "SELECT (to_regclass('msglog_records') IS NOT NULL AND"
			       " to_regclass('msglog_timestamps') IS NOT NULL AND"
			       " to_regclass('msglog_base') IS NOT NULL)::int", NULL, 1, err);
	int64_t have;

	if (!res)
		return -1;
	have = PQntuples(res) == 1 ? get_i64(res, 0, 0) : 0;
	PQclear(res);
	if (!have && exec_cmd(c, SCHEMA, err) < 0)
		return -1;
	/* LZ4 for the blobs where the server has it (PostgreSQL 14+): pglz took
	 * most of the server's CPU per record under load. Best effort, and only
	 * once (ALTER TABLE locks the table): without it the default stays. */
	if (PQserverVersion(c->db) >= 140000) {
		int64_t n = 0;

		if (query_i64(c, "SELECT COUNT(*) FROM pg_attribute WHERE attrelid = 'msglog_records'::regclass"
				 " AND attname IN ('body', 'sigdoc', 'ocsp') AND attcompression = 'l'", NULL, 0, &n,
			      NULL) == 0 && n < 3)
			(void)exec_cmd(c, "ALTER TABLE msglog_records ALTER COLUMN body SET COMPRESSION lz4,"
					  " ALTER COLUMN sigdoc SET COMPRESSION lz4, ALTER COLUMN ocsp SET COMPRESSION lz4",
				       NULL);
	}
	return 0;
}

/* Before each operation: a connection the server dropped (a restart, a
 * failover, a terminated backend) is made again, with its session set up
 * again (the writer's lock too: if another writer took it meanwhile, this
 * one fails and stays failed). 0, or -1 with err. */
static int live(struct pgconn *c, char **err)
{
	int64_t now;
	char *e = NULL;

	if (PQstatus(c->db) == CONNECTION_OK && !c->unset)
		return 0;
	if (c->in_tx) {   /* the transaction is gone with it: the caller rolls back */
		pg_err(err, c->db, "message log: PostgreSQL connection lost in a transaction");
		return -1;
	}
	c->piping = 0;
	c->sent = 0;
	/* Reconnecting blocks (up to connect_timeout, PG_CONNECT_TIMEOUT by
	 * default): not again within PG_RETRY_MS of a failed try, so that a
	 * server that is down costs callers one wait, not one per call. */
	now = msglog_mono_ms();
	if (now < c->retry_at) {
		pg_err(err, NULL, "%s (tried %lld ms ago)", c->why, (long long)(now - (c->retry_at - PG_RETRY_MS)));
		return -1;
	}
	PQreset(c->db);
	if (PQstatus(c->db) != CONNECTION_OK || (c->unset = session_setup(c, &e) < 0) != 0) {
		if (PQstatus(c->db) != CONNECTION_OK)
			pg_err(&e, c->db, "message log: PostgreSQL connection lost, reconnecting failed");
		snprintf(c->why, sizeof(c->why), "%s", e ? e : "message log: PostgreSQL session not set up");
		c->retry_at = now + PG_RETRY_MS;
		c->unset = 1;
		pg_err(err, NULL, "%s", c->why);
		free(e);
		return -1;
	}
	c->retry_at = 0;
	c->regained = (c->flags & MSGLOG_OPEN_WRITER) != 0;
	return 0;
}

static int pg_open(const char *target, unsigned flags, void **conn, char **err)
{
	struct pgconn *c = calloc(1, sizeof(*c));

	*conn = NULL;
	if (!c) {
		pg_err(err, NULL, "message log: out of memory");
		return -1;
	}
	c->flags = flags;
	if (flags & MSGLOG_OPEN_ARCHIVE) {
		pg_err(err, NULL, "message log: archives are SQLite files, not PostgreSQL databases");
		goto fail;
	}
	{
		/* Defaults first: the URI, expanded in its place, overrides them. */
		static const char *const keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
						    "keepalives_interval", "keepalives_count", "dbname", NULL };
		const char *vals[] = { PG_CONNECT_TIMEOUT, "1", "30", "10", "3", target, NULL };

		c->db = PQconnectdbParams(keys, vals, 1);
	}
	if (PQstatus(c->db) != CONNECTION_OK) {
		pg_err(err, c->db, "message log: cannot connect to PostgreSQL");
		goto fail;
	}
	if (exec_cmd(c, "SET client_min_messages = warning", err) < 0 ||
	    ((flags & MSGLOG_OPEN_CREATE) && !(flags & MSGLOG_OPEN_READONLY) && make_schema(c, err) < 0) ||
	    session_setup(c, err) < 0)
		goto fail;
	*conn = c;
	return 0;
fail:
	pg_close(c);
	return -1;
}

/* Ends the pipeline: a sync, then every result read; 0 when each query
 * succeeded, -1 with the first error. Out of pipeline mode after it. */
static int pipe_finish(struct pgconn *c, int committing, char **err)
{
	int rc = 0;

	if (!PQpipelineSync(c->db)) {
		pg_err(err, c->db, "postgresql: pipeline sync");
		rc = -1;
	}
	for (int i = 0; i < c->sent; i++) {
		PGresult *res;

		while ((res = PQgetResult(c->db)) != NULL) {
			ExecStatusType st = PQresultStatus(res);

			if (rc == 0 && st != PGRES_COMMAND_OK) {
				pg_err(err, c->db, "postgresql: %s",
				       st == PGRES_PIPELINE_ABORTED ? "transaction aborted" : "writing records");
				rc = -1;
			} else if (rc == 0 && committing && i == c->sent - 1 &&
				   (!PQcmdStatus(res) || strcmp(PQcmdStatus(res), "COMMIT") != 0)) {
				/* COMMIT of an aborted transaction says ROLLBACK */
				pg_err(err, NULL, "postgresql: the transaction was rolled back (%s)", PQcmdStatus(res));
				rc = -1;
			}
			PQclear(res);
		}
	}
	for (;;) {   /* up to and including the sync's result */
		PGresult *res = PQgetResult(c->db);
		ExecStatusType st;

		if (!res)
			break;
		st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
	if (!PQexitPipelineMode(c->db) && rc == 0) {
		pg_err(err, c->db, "postgresql: leaving pipeline mode");
		rc = -1;
	}
	c->piping = 0;
	c->sent = 0;
	return rc;
}

static void pg_rollback(void *conn);

static int pg_begin(void *conn, char **err)
{
	struct pgconn *c = conn;

	if (live(c, err) < 0)
		return -1;
	if (c->regained) {
		c->regained = 0;
		pg_err(err, NULL, "message log: reconnected to PostgreSQL; the chain is read again before writing");
		return -1;
	}
	if (!(c->flags & MSGLOG_OPEN_WRITER)) {
		if (exec_cmd(c, "BEGIN", err) < 0)
			return -1;
		c->in_tx = 1;
		/* The stamping lock first, then the check, both in the transaction
		 * (stamp_lock_barrier). */
		if (!(c->flags & MSGLOG_OPEN_READONLY) &&
		    (stamp_lock_shared(c, err) < 0 || owner_check(c, err) < 0)) {
			pg_rollback(c);
			return -1;
		}
		return 0;
	}
	if (!PQenterPipelineMode(c->db)) {
		pg_err(err, c->db, "postgresql: pipeline mode");
		return -1;
	}
	c->piping = 1;
	c->sent = 0;
	if (command(c, "BEGIN", NULL, err) < 0) {
		(void)pipe_finish(c, 0, NULL);
		return -1;
	}
	return 0;
}

static int pg_commit(void *conn, char **err)
{
	struct pgconn *c = conn;

	if (!c->piping) {
		PGresult *res = PQexec(c->db, "COMMIT");

		c->in_tx = 0;
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK && PQcmdStatus(res) &&
			 strcmp(PQcmdStatus(res), "COMMIT") == 0;

		if (!ok)   /* an error, or COMMIT of an aborted transaction (ROLLBACK) */
			pg_err(err, c->db, "postgresql: COMMIT (%s)", PQcmdStatus(res) && *PQcmdStatus(res) ? PQcmdStatus(res) : "no status");
		PQclear(res);
		return ok ? 0 : -1;
	}
	if (command(c, "COMMIT", NULL, err) < 0) {
		(void)pipe_finish(c, 0, NULL);
		return -1;
	}
	return pipe_finish(c, 1, err);
}

static void pg_rollback(void *conn)
{
	struct pgconn *c = conn;

	if (c->piping)
		(void)pipe_finish(c, 0, NULL);
	/* After a failed pipeline the transaction may still be open (aborted). */
	(void)exec_cmd(c, "ROLLBACK", NULL);
	c->in_tx = 0;
}

static int pg_insert(void *conn, const struct msglog_row *r, char **err)
{
	struct pgconn *c = conn;
	struct params p = { .n = 0 };
	PGresult *res;

	p_i64(&p, r->id);
	p_i64(&p, r->time_ms);
	p_i64(&p, r->dir);
	p_i64(&p, r->side);
	p_text(&p, r->reqid);
	p_text(&p, r->message_id);
	p_text(&p, r->client_id);
	p_text(&p, r->service_id);
	p_i64(&p, r->body_mode);
	if (r->body)
		p_bin(&p, r->body, r->body_len);
	else
		p_null(&p);
	p_i64(&p, (int64_t)r->body_len);
	p_bin(&p, r->body_sha256, MSGLOG_HASH_LEN);
	p_bin(&p, r->sigdoc, r->sigdoc_len);
	p_bin(&p, r->ocsp, r->ocsp_len);
	p_text(&p, r->request_hash);
	p_bin(&p, r->prev_hash, MSGLOG_HASH_LEN);
	p_bin(&p, r->hash, MSGLOG_HASH_LEN);
	if (c->piping) {   /* its result is read at the commit */
		if (!PQsendQueryPrepared(c->db, "msglog_insert", p.n, p.v, p.len, p.fmt, 1)) {
			pg_err(err, c->db, "postgresql: send insert");
			return -1;
		}
		c->sent++;
		return 0;
	}
	res = run(c, INSERT_SQL, &p, 0, err);
	PQclear(res);
	return res ? 0 : -1;
}

/* One row, one bigint column (NULL: dflt). */
static int query_i64(struct pgconn *c, const char *sql, const struct params *p, int64_t dflt, int64_t *out,
		     char **err)
{
	PGresult *res = run(c, sql, p, 1, err);

	if (!res)
		return -1;
	*out = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? get_i64(res, 0, 0) : dflt;
	PQclear(res);
	return 0;
}

static int pg_state(void *conn, struct msglog_chain_state *s, char **err)
{
	struct pgconn *c = conn;
	PGresult *res;

	int rows;

	memset(s, 0, sizeof(*s));
	if (live(c, err) < 0 || !(res = run(c, "SELECT base_id, base_hash FROM msglog_base", NULL, 1, err)))
		return -1;
	c->regained = 0;   /* the chain is read: what the writer's first begin waits for */
	if ((rows = PQntuples(res)) != 1) {
		PQclear(res);
		pg_err(err, NULL, "postgresql: msglog_base holds %d rows, not 1", rows);
		return MSGLOG_STORE_DAMAGED;
	}
	s->base_id = get_i64(res, 0, 0);
	if (get_hash(res, 0, 1, s->base_hash) < 0) {   /* as SQLite's: a chain cannot go on from it */
		PQclear(res);
		pg_err(err, NULL, "postgresql: msglog_base.base_hash is not a 32-byte hash");
		return MSGLOG_STORE_DAMAGED;
	}
	PQclear(res);
	if (query_i64(c, "SELECT MIN(id) FROM msglog_records", NULL, 0, &s->first_id, err) < 0 ||
	    !(res = run(c, "SELECT id, hash FROM msglog_records ORDER BY id DESC LIMIT 1", NULL, 1, err)))
		return -1;
	if (PQntuples(res) == 1) {
		s->last_id = get_i64(res, 0, 0);
		if (get_hash(res, 0, 1, s->last_hash) < 0) {
			pg_err(err, NULL, "postgresql: the hash of the last record (id %lld) is not a 32-byte hash",
			       (long long)s->last_id);
			PQclear(res);
			return -1;
		}
	} else {
		s->last_id = s->base_id;
		memcpy(s->last_hash, s->base_hash, MSGLOG_HASH_LEN);
	}
	PQclear(res);
	return query_i64(c, "SELECT MAX(last_id) FROM msglog_timestamps", NULL, s->base_id, &s->last_stamped_id, err);
}

static int pg_insert_stamp(void *conn, const struct msglog_stamp *s, char **err)
{
	struct params p = { .n = 0 };

	p_i64(&p, s->first_id);
	p_i64(&p, s->last_id);
	p_bin(&p, s->root, MSGLOG_HASH_LEN);
	p_bin(&p, s->token, s->token_len);
	p_i64(&p, s->time_ms);
	return command(conn, "INSERT INTO msglog_timestamps (first_id, last_id, root, token, time_ms)"
			     " VALUES ($1::bigint, $2::bigint, $3, $4, $5::bigint)", &p, err);
}

/* Rows are read a cursor's batch at a time: an export or an archive of a
 * million records does not hold them all in memory. */
#define PG_FETCH 500

/* why: room for the row's stored_field. */
static void read_row(const PGresult *res, int i, struct msglog_row *r, char *why, size_t why_cap)
{
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	r->id = get_i64(res, i, 0);
	r->time_ms = get_i64(res, i, 1);
	r->dir = (int)get_i64(res, i, 2);
	r->side = (int)get_i64(res, i, 3);
	r->reqid = PQgetvalue(res, i, 4);
	r->message_id = PQgetvalue(res, i, 5);
	r->client_id = PQgetvalue(res, i, 6);
	r->service_id = PQgetvalue(res, i, 7);
	r->body_mode = (int)get_i64(res, i, 8);
	r->body = PQgetisnull(res, i, 9) ? NULL : get_blob(res, i, 9, &n);
	r->body_len = (size_t)get_i64(res, i, 10);
	if (r->body && n != r->body_len) {
		snprintf(why, why_cap, "body_len %lld is not the stored body's length (%zu bytes)",
			 (long long)get_i64(res, i, 10), n);
		r->stored_field = why;
		r->body_len = n;   /* what is there is what gets checked */
	}
	(void)get_hash(res, i, 11, r->body_sha256);
	r->sigdoc = get_blob(res, i, 12, &r->sigdoc_len);
	r->ocsp = get_blob(res, i, 13, &r->ocsp_len);
	r->request_hash = PQgetvalue(res, i, 14);
	(void)get_hash(res, i, 15, r->prev_hash);
	(void)get_hash(res, i, 16, r->hash);
}

/* DECLAREs a cursor for sql in its own transaction unless one is open, and
 * calls row(res, i, arg) for every row; the callback's nonzero return stops
 * and is returned. */
static int cursor_each(struct pgconn *c, const char *sql, const struct params *p,
		       int (*row)(const PGresult *res, int i, void *arg), void *arg, char **err)
{
	char decl[1400], name[32], fetch[64], close[48];
	int own = PQtransactionStatus(c->db) == PQTRANS_IDLE, rc = 0;
	PGresult *res;

	snprintf(name, sizeof(name), "msglog_cur%u", c->cursors++);
	snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", PG_FETCH, name);
	snprintf(close, sizeof(close), "CLOSE %s", name);
	if (snprintf(decl, sizeof(decl), "DECLARE %s BINARY NO SCROLL CURSOR FOR %s", name, sql) >=
	    (int)sizeof(decl)) {
		pg_err(err, NULL, "postgresql: query too long");
		return -1;
	}
	if (own && exec_cmd(c, "BEGIN", err) < 0)
		return -1;
	if (!(res = run(c, decl, p, 0, err))) {
		rc = -1;
		goto out;
	}
	PQclear(res);
	for (;;) {
		int n;

		if (!(res = run(c, fetch, NULL, 1, err))) {
			rc = -1;
			break;
		}
		n = PQntuples(res);
		for (int i = 0; i < n && rc == 0; i++)
			rc = row(res, i, arg);
		PQclear(res);
		if (rc != 0 || n < PG_FETCH)
			break;
	}
	(void)exec_cmd(c, close, NULL);
out:
	if (own)
		(void)exec_cmd(c, rc < 0 ? "ROLLBACK" : "COMMIT", NULL);
	return rc;
}

struct row_cb {
	msglog_row_fn fn;
	void *arg;
	int ids_only;   /* requests_since: time_ms, side, client_id, message_id */
	char why[120];  /* a row's stored_field */
};

static int each_row(const PGresult *res, int i, void *arg)
{
	struct row_cb *cb = arg;
	struct msglog_row r;

	if (cb->ids_only) {
		memset(&r, 0, sizeof(r));
		r.time_ms = get_i64(res, i, 0);
		r.dir = MSGLOG_REQUEST;
		r.side = (int)get_i64(res, i, 1);
		r.client_id = PQgetvalue(res, i, 2);
		r.message_id = PQgetvalue(res, i, 3);
	} else {
		read_row(res, i, &r, cb->why, sizeof(cb->why));
	}
	return cb->fn(&r, cb->arg);
}

static int pg_iterate(void *conn, const struct msglog_filter *f, msglog_row_fn fn, void *arg, char **err)
{
	struct pgconn *c = conn;
	struct params p = { .n = 0 };
	struct row_cb cb = { fn, arg, 0, "" };
	char cols[300], where[400] = "", sql[1024];
	size_t w = 0;

	snprintf(cols, sizeof(cols), COLS, f->with_body ? "body" : "NULL::bytea");
#define TERM(cond, fmt, add)                                                                      \
	if (cond) {                                                                               \
		add;                                                                              \
		w += (size_t)snprintf(where + w, sizeof(where) - w, " AND " fmt, p.n);            \
	}
	TERM(f->from_id, "id >= $%d::bigint", p_i64(&p, f->from_id));
	TERM(f->to_id, "id <= $%d::bigint", p_i64(&p, f->to_id));
	TERM(f->from_ms, "time_ms >= $%d::bigint", p_i64(&p, f->from_ms));
	TERM(f->to_ms, "time_ms < $%d::bigint", p_i64(&p, f->to_ms));
	TERM(f->message_id, "message_id = $%d", p_text(&p, f->message_id));
#undef TERM
	snprintf(sql, sizeof(sql), "SELECT %s FROM msglog_records WHERE true%s ORDER BY id", cols, where);
	if (live(c, err) < 0)
		return -1;
	return cursor_each(c, sql, &p, each_row, &cb, err);
}

struct stamp_cb {
	msglog_stamp_fn fn;
	void *arg;
};

static int each_stamp(const PGresult *res, int i, void *arg)
{
	struct stamp_cb *cb = arg;
	struct msglog_stamp s;

	memset(&s, 0, sizeof(s));
	s.id = get_i64(res, i, 0);
	s.first_id = get_i64(res, i, 1);
	s.last_id = get_i64(res, i, 2);
	(void)get_hash(res, i, 3, s.root);
	s.token = PQgetisnull(res, i, 4) ? NULL : get_blob(res, i, 4, &s.token_len);
	s.time_ms = get_i64(res, i, 5);
	return cb->fn(&s, cb->arg);
}

static int pg_iterate_stamps(void *conn, int64_t from_first, int64_t to_first, int with_token,
			     msglog_stamp_fn fn, void *arg, char **err)
{
	struct params p = { .n = 0 };
	struct stamp_cb cb = { fn, arg };
	char sql[300];

	p_i64(&p, from_first);
	p_i64(&p, to_first);
	snprintf(sql, sizeof(sql), "SELECT id, first_id, last_id, root, %s, time_ms FROM msglog_timestamps"
		 " WHERE ($1::bigint = 0 OR first_id >= $1::bigint) AND ($2::bigint = 0 OR first_id <= $2::bigint)"
		 " ORDER BY first_id, id", with_token ? "token" : "NULL::bytea");
	if (live(conn, err) < 0)
		return -1;
	return cursor_each(conn, sql, &p, each_stamp, &cb, err);
}

static int pg_first_id_since(void *conn, int64_t t, int64_t *id, char **err)
{
	struct params p = { .n = 0 };

	p_i64(&p, t);
	if (live(conn, err) < 0)
		return -1;
	return query_i64(conn, "SELECT MIN(id) FROM msglog_records WHERE time_ms >= $1::bigint", &p, 0, id, err);
}

static int pg_set_base(void *conn, int64_t base_id, const unsigned char h[MSGLOG_HASH_LEN], char **err)
{
	struct params p = { .n = 0 };

	p_i64(&p, base_id);
	p_bin(&p, h, MSGLOG_HASH_LEN);
	return command(conn, "UPDATE msglog_base SET base_id = $1::bigint, base_hash = $2", &p, err);
}

static int pg_cut(void *conn, int64_t last_id, const unsigned char h[MSGLOG_HASH_LEN], char **err)
{
	struct params p = { .n = 0 };

	p_i64(&p, last_id);
	if (command(conn, "DELETE FROM msglog_records WHERE id <= $1::bigint", &p, err) < 0 ||
	    command(conn, "DELETE FROM msglog_timestamps WHERE last_id <= $1::bigint", &p, err) < 0)
		return -1;
	return pg_set_base(conn, last_id, h, err);
}

static int pg_seen(void *conn, int side, const char *client_id, const char *message_id, int64_t since_ms,
		   int64_t until_ms, int *found, char **err)
{
	struct params p = { .n = 0 };
	PGresult *res;

	p_i64(&p, since_ms);
	p_i64(&p, until_ms);
	p_i64(&p, MSGLOG_REQUEST);
	p_i64(&p, side);
	p_text(&p, client_id);
	p_text(&p, message_id);
	if (live(conn, err) < 0)
		return -1;
	if (!(res = run(conn, "SELECT 1 FROM msglog_records WHERE time_ms >= $1::bigint AND time_ms < $2::bigint"
			      " AND dir = $3::smallint AND side = $4::smallint AND client_id = $5"
			      " AND message_id = $6 LIMIT 1", &p, 1, err)))
		return -1;
	*found = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int pg_requests_since(void *conn, int64_t since_ms, msglog_row_fn fn, void *arg, char **err)
{
	struct params p = { .n = 0 };
	struct row_cb cb = { fn, arg, 1, "" };

	p_i64(&p, since_ms);
	p_i64(&p, MSGLOG_REQUEST);
	if (live(conn, err) < 0)
		return -1;
	return cursor_each(conn, "SELECT time_ms, side, client_id, message_id FROM msglog_records"
				 " WHERE time_ms >= $1::bigint AND dir = $2::smallint ORDER BY time_ms",
			   &p, each_row, &cb, err);
}

const struct msglog_backend_ops msglog_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.insert = pg_insert,
	.state = pg_state,
	.insert_stamp = pg_insert_stamp,
	.iterate = pg_iterate,
	.iterate_stamps = pg_iterate_stamps,
	.first_id_since = pg_first_id_since,
	.cut = pg_cut,
	.set_base = pg_set_base,
	.seen = pg_seen,
	.requests_since = pg_requests_since,
	.housekeep = NULL,   /* autovacuum */
	.probe = NULL,
};

int msglog_target_is_pg(const char *target)
{
	return target && (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

/* The URI as libpq reads it (PQconninfoParse), rebuilt from its user,
 * host, port and database only: nothing else of it (a password, an SSL
 * key's password, options) is shown, however it was written. */
const char *msglog_target_display(const char *target, char *out, size_t cap)
{
	PQconninfoOption *opts, *o;
	const char *user = "", *host = "", *port = "", *db = "";
	char *perr = NULL;

	if (!msglog_target_is_pg(target)) {
		snprintf(out, cap, "%s", target ? target : "");
		return out;
	}
	if (!(opts = PQconninfoParse(target, &perr))) {
		PQfreemem(perr);
		snprintf(out, cap, "postgresql://(not a valid URI)");
		return out;
	}
	for (o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(out, cap, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", host, *port ? ":" : "", port, db);
	PQconninfoFree(opts);
	return out;
}

const struct msglog_backend_ops *msglog_backend_for(const char *target)
{
	return msglog_target_is_pg(target) ? &msglog_pg_ops : &msglog_sqlite_ops;
}
