/* msglog_sqlite: the SQLite backend of the message log (msglog_sqlite_ops).
 *
 * WAL with synchronous=FULL: a COMMIT has reached the disk (the WAL is
 * fsynced) when it returns, which is what "durable before the answer"
 * needs, and readers never block the writer. Archive files use a rollback
 * journal instead so that an archive is one self-contained file.
 *
 * OCSP data is stored once: every record of a signer carries the same
 * responses until they are refreshed (hours), so a record keeps only their
 * SHA-256 (ocsp_sha256, field 13 of its canonical encoding) and ocsp_data
 * holds the bytes; its own ocsp column is then empty. Rows written before
 * (ocsp_sha256 NULL) keep their data inline; reads give the same bytes
 * either way.
 *
 * The Batch element of a batch-form signature document is stored once too:
 * every message of a batch ends with the same ~4 KB element, so a record
 * keeps its document without it (sigdoc), the offset where it was cut
 * (sig_batch_at) and the key of its sig_batches row (sig_batch), which is
 * the id of the first record that used it. Reads put the document back
 * together; the chain covers the whole document as before. README.md,
 * "Batch elements are stored once".
 *
 * Indexes: the only one besides the primary key is records_time, in time
 * order and covering what the replay window and export by message id
 * read, so a group of records adds to its rightmost pages only. An index
 * keyed by message id (records_replay, before) put every record on a
 * random page of its own: a third to two fifths of the writer's WAL bytes,
 * and a read of that page once the index had outgrown the cache. The
 * replay window is in memory (msglog_replay.c); the database is asked only
 * for what memory lost. README.md, "Indexes".
 *
 * Packed records (MSGLOG_OPEN_PACK, msglog_pack.h): a record's body and
 * stored document are one zstd frame against the packing_dicts row its
 * packed column names (NULL: stored as they are). README.md, "Packed
 * records". */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "store/msglog.h"
#include "store/msglog_pack.h"
#include "store/walbuf.h"

#define SQL_BUSY_MS 10000
#define OCSP_KNOWN 4                     /* a gateway's signers and TLS certificate */
/* The writer checkpoints only past this many WAL pages (SQLite's default
 * is 1000). Below it the stamper's connection does, when it commits a stamp
 * (every ts_interval_ms under load), so copying the WAL into the database
 * file (a read and a write of every page, and an fsync) is off the thread
 * that answers wait for. Without a stamper, or while the TSA is down, the
 * writer still does it, with a WAL of at most ~40 MB. */
#define WRITER_CHECKPOINT_PAGES 10000
/* Batch elements a connection remembers: a few open batches for each
 * signer and event loop whose messages a gateway logs (its own requests
 * and responses, its peers'). */
#define SIGB_KNOWN 16
/* A record refers to a sig_batches row only when its id is less than
 * SIGB_SPAN past the row's first record, so that retention finds every
 * remaining reference to a row among the SIGB_SPAN records after its cut
 * (sq_cut) instead of reading the whole table. The messages of a batch are
 * logged within moments of each other; an element met again later gets a
 * row of its own. */
#define SIGB_SPAN 4096

/* OCSP data this connection knows to be in ocsp_data (committed, or in the
 * open transaction: a rollback forgets them all). */
struct ocsp_known {
	unsigned char sha[MSGLOG_HASH_LEN];
	unsigned char *data;
	size_t len;
};

/* A Batch element this connection stored in sig_batches (committed, or in
 * the open transaction: a rollback forgets them all). */
struct sigb_known {
	int64_t first_id;                /* its key: the first record that used it */
	uint64_t tx;                     /* the transaction that last saw its row */
	unsigned char *data;
	size_t len;
};

struct sqconn {
	sqlite3 *db;
	sqlite3_stmt *ins;               /* the hot path, prepared once */
	sqlite3_stmt *ins_ocsp;
	sqlite3_stmt *ins_sigb, *has_sigb;
	sqlite3_stmt *st_begin, *st_commit;
	int ocsp_ref;                    /* records has ocsp_sha256 */
	int sigb_ref;                    /* records has sig_batch, sig_batch_at */
	int pack_ref;                    /* records has packed */
	struct pack_w *pw;               /* writing packed records (MSGLOG_OPEN_PACK) */
	struct pack_r *pr;               /* reading them (made on the first) */
	sqlite3_stmt *ins_dict, *get_dict;
	struct buf pdoc;                 /* insert: a record's frame */
	struct buf udoc;                 /* read: what it holds */
	int iter_body;                   /* the iteration reads bodies */
	char field_why[120];             /* read: the row's stored_field */
	struct ocsp_known known[OCSP_KNOWN];
	unsigned known_next;
	struct sigb_known sigb[SIGB_KNOWN];
	unsigned sigb_next;
	uint64_t tx;                     /* transactions begun on this connection */
	struct buf cut;                  /* insert: a document without its Batch */
	struct buf whole;                /* read: a document put back together */
	int wal_seen;                    /* housekeeping: the WAL file its first run found */
	dev_t wal_dev;
	ino_t wal_ino;
};

/* In time order, with what a replay query and the replay window's reload
 * read (covering them) and the message id that export looks for. */
#define TIME_INDEX_COLS "time_ms, dir, side, client_id, message_id"

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);"
	"CREATE TABLE IF NOT EXISTS records ("
	" id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
	" dir INTEGER NOT NULL, side INTEGER NOT NULL,"
	" reqid TEXT NOT NULL, message_id TEXT NOT NULL,"
	" client_id TEXT NOT NULL, service_id TEXT NOT NULL,"
	" body_mode INTEGER NOT NULL, body BLOB, body_len INTEGER NOT NULL,"
	" body_sha256 BLOB NOT NULL, sigdoc BLOB NOT NULL, ocsp BLOB NOT NULL,"
	" request_hash TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL,"
	" ocsp_sha256 BLOB, sig_batch INTEGER, sig_batch_at INTEGER, packed INTEGER);"
	"CREATE TABLE IF NOT EXISTS ocsp_data (sha256 BLOB PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS packing_dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sig_batches (first_id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS records_time ON records(" TIME_INDEX_COLS ");"
	"CREATE TABLE IF NOT EXISTS timestamps ("
	" id INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,"
	" root BLOB NOT NULL, token BLOB NOT NULL, time_ms INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS timestamps_first ON timestamps(first_id);"
	"INSERT OR IGNORE INTO meta VALUES ('format', 1);"
	"INSERT OR IGNORE INTO meta VALUES ('base_id', 0);"
	"INSERT OR IGNORE INTO meta VALUES ('base_hash', zeroblob(32));";

static const char COLS[] =
	"id, time_ms, dir, side, reqid, message_id, client_id, service_id, body_mode, %s,"
	" body_len, body_sha256, sigdoc, %s, request_hash, prev_hash, hash, %s, %s";

static void sq_err(char **err, sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sq_err(char **err, sqlite3 *db, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!err)
		return;
	free(*err);
	if (asprintf(err, "%s: %s", msg, db ? sqlite3_errmsg(db) : "out of memory") < 0)
		*err = NULL;
}

static int exec(struct sqconn *c, const char *sql, char **err)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: %.40s", sql);
		return -1;
	}
	return 0;
}

static void forget_ocsp(struct sqconn *c)
{
	unsigned i;

	for (i = 0; i < OCSP_KNOWN; i++) {
		free(c->known[i].data);
		memset(&c->known[i], 0, sizeof(c->known[i]));
	}
}

static void forget_sigb(struct sqconn *c)
{
	unsigned i;

	for (i = 0; i < SIGB_KNOWN; i++) {
		free(c->sigb[i].data);
		memset(&c->sigb[i], 0, sizeof(c->sigb[i]));
	}
}

static void sq_close(void *conn)
{
	struct sqconn *c = conn;

	if (!c)
		return;
	forget_ocsp(c);
	forget_sigb(c);
	buf_free(&c->cut);
	buf_free(&c->whole);
	buf_free(&c->pdoc);
	buf_free(&c->udoc);
	pack_w_free(c->pw);
	pack_r_free(c->pr);
	sqlite3_finalize(c->ins_dict);
	sqlite3_finalize(c->get_dict);
	sqlite3_finalize(c->ins_sigb);
	sqlite3_finalize(c->has_sigb);
	sqlite3_finalize(c->st_begin);
	sqlite3_finalize(c->st_commit);
	sqlite3_finalize(c->ins_ocsp);
	sqlite3_finalize(c->ins);
	sqlite3_close_v2(c->db);
	free(c);
}

/* Whether records has the column (layouts of older binaries lack some). */
static int has_column(struct sqconn *c, const char *name)
{
	sqlite3_stmt *st = NULL;
	int found = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM pragma_table_info('records') WHERE name = ?",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static int64_t count_of(struct sqconn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A log of an earlier layout, opened for writing, gets this one: the OCSP
 * and Batch reference columns and packed (its rows keep their inline data; the
 * sig_batches table came with SCHEMA), no records_replay, and records_time
 * with its covering columns (built once, by reading every row: a large log
 * takes a while the first time). In one transaction. README.md says what
 * an older binary does with the result. */
static int migrate(struct sqconn *c, char **err)
{
	int old_ocsp = !has_column(c, "ocsp_sha256"), old_sigb = !has_column(c, "sig_batch");
	int old_pack = !has_column(c, "packed");
	int64_t replay = count_of(c, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
				     " AND name = 'records_replay'");
	int64_t tcols = count_of(c, "SELECT COUNT(*) FROM pragma_index_info('records_time')");

	if (!old_ocsp && !old_sigb && !old_pack && replay == 0 && tcols == 5)
		return 0;
	if (exec(c, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if ((old_ocsp && exec(c, "ALTER TABLE records ADD COLUMN ocsp_sha256 BLOB", err) < 0) ||
	    (old_sigb && (exec(c, "ALTER TABLE records ADD COLUMN sig_batch INTEGER", err) < 0 ||
			  exec(c, "ALTER TABLE records ADD COLUMN sig_batch_at INTEGER", err) < 0)) ||
	    (old_pack && exec(c, "ALTER TABLE records ADD COLUMN packed INTEGER", err) < 0) ||
	    exec(c, "DROP INDEX IF EXISTS records_replay", err) < 0 ||
	    (tcols != 5 && (exec(c, "DROP INDEX IF EXISTS records_time", err) < 0 ||
			    exec(c, "CREATE INDEX records_time ON records(" TIME_INDEX_COLS ")", err) < 0)) ||
	    exec(c, "COMMIT", err) < 0) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* A log in WAL mode needs its -shm file to be read; where the reader may
 * not create it (an auditor's read-only copy, a directory it cannot write)
 * SQLite says "attempt to write a readonly database". Such a file is read
 * as immutable: no locks, no -shm - right for a copy or an archive, and
 * the only way at all for a reader without write access. */
static int sq_readable_or_immutable(struct sqconn *c, const char *path, int oflags, char **err)
{
	struct buf uri = BUF_INIT;
	int rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);

	if ((rc & 0xff) != SQLITE_READONLY && (rc & 0xff) != SQLITE_CANTOPEN)
		return 0;
	sqlite3_close(c->db);
	c->db = NULL;
	if (buf_append(&uri, "file:", 5) < 0)
		goto oom;
	for (const char *p = path; *p; p++) {
		char e[4];
		snprintf(e, sizeof(e), "%%%02X", (unsigned char)*p);
		if (strchr("?#%", *p) ? buf_append(&uri, e, 3) < 0 : buf_append(&uri, p, 1) < 0)
			goto oom;
	}
	if (buf_append(&uri, "?immutable=1", 13) < 0)
		goto oom;
	if (sqlite3_open_v2(uri.data, &c->db, oflags | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "cannot read %s (also tried as immutable, read-only)", path);
		buf_free(&uri);
		return -1;
	}
	buf_free(&uri);
	return 0;
oom:
	buf_free(&uri);
	sq_err(err, NULL, "out of memory");
	return -1;
}

/* A file that is no SQLite database, or (read-only) that holds none of the
 * log's tables, is said to be no message log - not as the first query's
 * failure ("sqlite: SELECT value FROM meta ...: file is not a database"). */
static int sq_is_log(struct sqconn *c, const char *path, int readonly, char **err)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	int code = SQLITE_OK;

	if (sqlite3_prepare_v2(c->db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
			       " AND name IN ('records', 'meta', 'timestamps')", -1, &st, NULL) != SQLITE_OK)
		code = sqlite3_errcode(c->db);
	else if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		code = sqlite3_errcode(c->db);
	if (n < 0 && (code & 0xff) != SQLITE_NOTADB) {
		sq_err(err, c->db, "cannot read %s", path);
	} else if ((n < 0 || (n == 0 && readonly)) && err) {
		free(*err);
		if (asprintf(err, "%s is not an ailgate message log (%s)", path, n < 0 ? "file is not a database" :
			     "it has none of the log's tables: records, meta, timestamps") < 0)
			*err = NULL;
	}
	sqlite3_finalize(st);
	return n < 0 || (n == 0 && readonly) ? -1 : 0;
}

static int sq_open(const char *path, unsigned flags, void **conn, char **err)
{
	struct sqconn *c = calloc(1, sizeof(*c));
	int oflags = (flags & MSGLOG_OPEN_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;

	*conn = NULL;
	if (!c) {
		sq_err(err, NULL, "sqlite");
		return -1;
	}
	buf_init(&c->cut, BUF_NOCAP);
	buf_init(&c->whole, BUF_NOCAP);
	buf_init(&c->pdoc, BUF_NOCAP);
	buf_init(&c->udoc, BUF_NOCAP);
	if ((flags & MSGLOG_OPEN_PACK) && !(flags & MSGLOG_OPEN_READONLY) && !(c->pw = pack_w_new())) {
		sq_err(err, NULL, "sqlite: packing");
		goto fail;
	}
	if (flags & (MSGLOG_OPEN_CREATE | MSGLOG_OPEN_ARCHIVE))
		oflags |= SQLITE_OPEN_CREATE;
	/* A connection is used by one thread at a time (the writer's, the
	 * stamper's under stamp_mu, a reader's): no lock around every call. */
	oflags |= SQLITE_OPEN_NOMUTEX;
	/* The writer's commits go to the WAL in one write each (walbuf.h). */
	if (sqlite3_open_v2(path, &c->db, oflags,
			    (flags & MSGLOG_OPEN_WRITER) && walbuf_register() == 0 ? WALBUF_VFS : NULL) != SQLITE_OK) {
		sq_err(err, c->db, "cannot open %s", path);
		goto fail;
	}
	sqlite3_busy_timeout(c->db, SQL_BUSY_MS);
	if ((flags & MSGLOG_OPEN_READONLY) && sq_readable_or_immutable(c, path, oflags, err) < 0)
		goto fail;
	if (sq_is_log(c, path, (flags & MSGLOG_OPEN_READONLY) != 0, err) < 0)
		goto fail;
	if (!(flags & MSGLOG_OPEN_READONLY)) {
		if (exec(c, (flags & MSGLOG_OPEN_ARCHIVE) ? "PRAGMA journal_mode=DELETE"
							   : "PRAGMA journal_mode=WAL", err) < 0 ||
		    exec(c, "PRAGMA synchronous=FULL", err) < 0 || exec(c, SCHEMA, err) < 0)
			goto fail;
		if ((flags & MSGLOG_OPEN_ARCHIVE) &&
		    exec(c, "INSERT OR REPLACE INTO meta VALUES ('kind', 'archive')", err) < 0)
			goto fail;
		if ((flags & MSGLOG_OPEN_WRITER) && !(flags & MSGLOG_OPEN_ARCHIVE))
			sqlite3_wal_autocheckpoint(c->db, WRITER_CHECKPOINT_PAGES);
		if (migrate(c, err) < 0)
			goto fail;
	}
	c->ocsp_ref = has_column(c, "ocsp_sha256");
	c->sigb_ref = has_column(c, "sig_batch");
	c->pack_ref = has_column(c, "packed");
	*conn = c;
	return 0;
fail:
	if (err && *err && !strstr(*err, path)) {   /* say which file (a data_dir holds several) */
		char *e = NULL;
		if (asprintf(&e, "%s: %s", path, *err) >= 0) {
			free(*err);
			*err = e;
		}
	}
	sq_close(c);
	return -1;
}

/* A statement of the hot path, prepared on first use and kept (sqlite3_exec
 * would parse it again every time: a fifth of what BEGIN cost the writer). */
static int exec_kept(struct sqconn *c, sqlite3_stmt **st, const char *sql, char **err)
{
	int rc;

	if (!*st && sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: %.40s", sql);
		return -1;
	}
	rc = sqlite3_step(*st);
	sqlite3_reset(*st);
	if (rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: %.40s", sql);
		return -1;
	}
	return 0;
}

static int sq_begin(void *conn, char **err)
{
	struct sqconn *c = conn;

	c->tx++;
	return exec_kept(c, &c->st_begin, "BEGIN IMMEDIATE", err);
}

static int sq_commit(void *conn, char **err)
{
	struct sqconn *c = conn;

	return exec_kept(c, &c->st_commit, "COMMIT", err);
}

static void sq_rollback(void *conn)
{
	struct sqconn *c = conn;

	forget_ocsp(c);
	forget_sigb(c);
	if (c->pw)
		pack_w_forget_tx(c->pw, c->tx);
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	/* A zero-length blob, not NULL: the NOT NULL columns want it. */
	return sqlite3_bind_blob64(st, i, p ? p : "", n, SQLITE_STATIC);
}

/* Steps st once if binding went well (rc SQLITE_OK), then resets it and
 * clears its bindings for the next use; SQLite's result (SQLITE_DONE for
 * a write that worked). */
static int step_reset(sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* The SHA-256 under which r's OCSP data is in ocsp_data, storing it there
 * when this connection has not seen it yet. NULL with *err on failure. */
static const unsigned char *ocsp_stored(struct sqconn *c, const struct msglog_row *r, char **err)
{
	struct ocsp_known *k;
	unsigned i;
	int rc;

	for (i = 0; i < OCSP_KNOWN; i++) {
		k = &c->known[i];
		if (k->data && k->len == r->ocsp_len && memcmp(k->data, r->ocsp, r->ocsp_len) == 0)
			return k->sha;
	}
	if (!c->ins_ocsp && sqlite3_prepare_v2(c->db,
			"INSERT OR IGNORE INTO ocsp_data (sha256, data) VALUES (?, ?)", -1,
			&c->ins_ocsp, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare OCSP insert");
		return NULL;
	}
	k = &c->known[c->known_next++ % OCSP_KNOWN];
	free(k->data);
	memset(k, 0, sizeof(*k));
	if (sha256(r->ocsp, r->ocsp_len, k->sha) < 0 || !(k->data = malloc(r->ocsp_len))) {
		sq_err(err, NULL, "sqlite: OCSP data");
		return NULL;
	}
	memcpy(k->data, r->ocsp, r->ocsp_len);
	k->len = r->ocsp_len;
	rc = sqlite3_bind_blob64(c->ins_ocsp, 1, k->sha, MSGLOG_HASH_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(c->ins_ocsp, 2, k->data, k->len, SQLITE_STATIC);
	if (step_reset(c->ins_ocsp, rc) != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: insert OCSP data");
		free(k->data);
		memset(k, 0, sizeof(*k));
		return NULL;
	}
	return k->sha;
}

/* ------------------------------------------------ Batch elements once */

#define LIT(s) (s), (sizeof(s) - 1)
static const char SM_START[] = "<sm:SignedMessage ";
static const char SM_END[] = "</sm:SignedMessage>";
static const char PROOF_END[] = "</sm:BatchProof>";
static const char BATCH_TAG[] = "<sm:Batch";         /* also the start of <sm:BatchProof */
static const char BATCH_END[] = "</sm:Batch>";

static int at_lit(const unsigned char *p, size_t n, size_t at, const char *lit, size_t len)
{
	return at <= n && n - at >= len && memcmp(p + at, lit, len) == 0;
}

/* The next "<sm:Batch" in p[from, to) that does not start <sm:BatchProof,
 * or to. From tag to tag (memchr): under half of memmem's instructions. */
static size_t next_batch_tag(const unsigned char *p, size_t from, size_t to)
{
	const unsigned char *q;

	for (; from < to && (q = memchr(p + from, '<', to - from)) != NULL; from = (size_t)(q - p) + 1)
		if (at_lit(p, to, (size_t)(q - p), LIT(BATCH_TAG)) &&
		    !at_lit(p, to, (size_t)(q - p), LIT("<sm:BatchProof")))
			return (size_t)(q - p);
	return to;
}

/* Where a batch-form document (trust/README-sign.md, "Batches") holds its
 * Batch element: right after </sm:BatchProof>, up to the final
 * </sm:SignedMessage>, ending with </sm:Batch>, and the first Batch start
 * tag of the document. 1 with *at and *len, or 0: the document stays
 * inline as it is. A cut always reads back byte for byte; these rules
 * only keep anything odd out of sig_batches. The element's inside is
 * checked by sigb_plain, when it is new. */
static int sigb_find(const unsigned char *doc, size_t n, size_t *at, size_t *len)
{
	size_t end, b;

	if (!doc || n < sizeof(SM_START) + sizeof(SM_END) || !at_lit(doc, n, 0, LIT(SM_START)))
		return 0;
	end = n - (sizeof(SM_END) - 1);
	if (!at_lit(doc, n, end, LIT(SM_END)) || end < sizeof(BATCH_END) - 1 ||
	    !at_lit(doc, n, end - (sizeof(BATCH_END) - 1), LIT(BATCH_END)))
		return 0;
	b = next_batch_tag(doc, 0, end);
	if (b == end || b < sizeof(PROOF_END) - 1 ||
	    !at_lit(doc, n, b - (sizeof(PROOF_END) - 1), LIT(PROOF_END)) ||
	    !at_lit(doc, n, b, LIT("<sm:Batch ")))
		return 0;
	*at = b;
	*len = end - b;
	return 1;
}

/* Nothing like a second Batch (or a BatchProof) start or end tag inside
 * the element e (n bytes, from sigb_find). */
static int sigb_plain(const unsigned char *e, size_t n)
{
	const unsigned char *q;
	size_t i, end = n - (sizeof(BATCH_END) - 1);

	for (i = 1; i < end && (q = memchr(e + i, '<', end - i)) != NULL; i = (size_t)(q - e) + 1)
		if (at_lit(e, end, (size_t)(q - e), LIT(BATCH_TAG)) ||
		    at_lit(e, end, (size_t)(q - e), LIT("</sm:Batch")))
			return 0;
	return 1;
}

static int step_id(sqlite3 *db, sqlite3_stmt **st, const char *sql, int64_t id, const void *blob,
		   size_t n)
{
	int rc;

	if (!*st && sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	rc = sqlite3_bind_int64(*st, 1, id);
	if (rc == SQLITE_OK && blob)
		rc = sqlite3_bind_blob64(*st, 2, blob, n, SQLITE_STATIC);
	return step_reset(*st, rc);
}

/* A remembered element for record id, its row checked to exist in this
 * transaction (retention on another connection may have deleted it since
 * an earlier one). NULL when none; -1 in *rc on a database error. */
static struct sigb_known *sigb_known(struct sqconn *c, int64_t id, const unsigned char *e, size_t n,
				     int *rc)
{
	struct sigb_known *k;
	unsigned i;

	*rc = 0;
	for (i = 0; i < SIGB_KNOWN; i++) {
		k = &c->sigb[i];
		if (!k->data || k->len != n || id < k->first_id || id - k->first_id >= SIGB_SPAN ||
		    memcmp(k->data, e, n) != 0)
			continue;
		if (k->tx == c->tx)
			return k;
		switch (step_id(c->db, &c->has_sigb, "SELECT 1 FROM sig_batches WHERE first_id = ?",
				k->first_id, NULL, 0)) {
		case SQLITE_ROW:
			k->tx = c->tx;
			return k;
		case SQLITE_DONE:
			free(k->data);
			memset(k, 0, sizeof(*k));
			return NULL;
		default:
			*rc = -1;
			return NULL;
		}
	}
	return NULL;
}

/* The sig_batches row holding the element e (n bytes) of record id's
 * document: a remembered one, or a new row keyed by id. 1 with *first_id,
 * 0 when the document is to stay inline, -1 with *err. */
static int sigb_stored(struct sqconn *c, int64_t id, const unsigned char *e, size_t n,
		       int64_t *first_id, char **err)
{
	int rc;
	struct sigb_known *k = sigb_known(c, id, e, n, &rc);

	if (rc < 0) {
		sq_err(err, c->db, "sqlite: look up Batch element");
		return -1;
	}
	if (k) {
		*first_id = k->first_id;
		return 1;
	}
	if (!sigb_plain(e, n))
		return 0;
	rc = step_id(c->db, &c->ins_sigb, "INSERT OR IGNORE INTO sig_batches (first_id, data)"
		     " VALUES (?, ?)", id, e, n);
	if (rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: insert Batch element");
		return -1;
	}
	if (sqlite3_changes(c->db) != 1)
		return 0;   /* a row of that id is left over (a log edited by hand) */
	k = &c->sigb[c->sigb_next++ % SIGB_KNOWN];
	free(k->data);
	memset(k, 0, sizeof(*k));
	if ((k->data = malloc(n)) != NULL) {   /* else only not remembered */
		memcpy(k->data, e, n);
		k->len = n;
		k->first_id = id;
		k->tx = c->tx;
	}
	*first_id = id;
	return 1;
}

/* r's document as stored: without its Batch element when that is in
 * sig_batches (*first_id, *at set; the bytes in c->cut), else whole
 * (*first_id 0). Only inside a transaction: the row found must not be
 * deleted before the record that refers to it is committed. 0 or -1. */
static int sigb_cut(struct sqconn *c, const struct msglog_row *r, int64_t *first_id, size_t *at,
		    char **err)
{
	size_t len;
	int rc;

	*first_id = 0;
	if (!c->sigb_ref || sqlite3_get_autocommit(c->db) || !sigb_find(r->sigdoc, r->sigdoc_len, at, &len))
		return 0;
	if ((rc = sigb_stored(c, r->id, r->sigdoc + *at, len, first_id, err)) <= 0)
		return rc;
	buf_reset(&c->cut);
	if (buf_append(&c->cut, r->sigdoc, *at) < 0 ||
	    buf_append(&c->cut, r->sigdoc + *at + len, r->sigdoc_len - *at - len) < 0) {
		sq_err(err, NULL, "sqlite: signature document");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------ packed records */

/* Stores the completed sample as a dictionary (in the caller's
 * transaction, if any) and packs with it from the next record on. */
static int store_dict(struct sqconn *c, char **err)
{
	const struct buf *d = pack_w_sample(c->pw);

	if (!c->ins_dict && sqlite3_prepare_v2(c->db, "INSERT INTO packing_dicts (data) VALUES (?)", -1,
					       &c->ins_dict, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare dictionary insert");
		return -1;
	}
	if (step_reset(c->ins_dict, bind_blob(c->ins_dict, 1, d->data, d->len)) != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: insert packing dictionary");
		return -1;
	}
	if (pack_w_use(c->pw, sqlite3_last_insert_rowid(c->db), c->tx) < 0) {
		sq_err(err, NULL, "sqlite: packing dictionary");
		return -1;
	}
	return 0;
}

/* What a record stores of its body and document: the bytes themselves
 * while the writer samples its dictionary (*dict 0), else one frame of
 * both in the document's column (c->pdoc; *dict its dictionary) and, for a
 * record with a body, an empty body (NULL stays the mark of metadata only). */
static int pack_record(struct sqconn *c, const unsigned char **body, size_t *body_len,
		       const unsigned char **doc, size_t *doc_len, int64_t *dict, char **err)
{
	int rc;

	/* What the reader would not unpack is stored as it is. */
	if ((*body && *body_len > PACK_MAX_BODY) || *doc_len > PACK_MAX_SIGDOC) {
		*dict = 0;
		return 0;
	}
	*dict = pack_w_dict(c->pw);
	if (!*dict) {
		if ((rc = pack_w_take(c->pw, *body, *body_len, *doc, *doc_len)) < 0) {
			sq_err(err, NULL, "sqlite: packing sample");
			return -1;
		}
		return rc == 1 ? store_dict(c, err) : 0;
	}
	if (pack_w_frame(c->pw, *body, *body ? *body_len : 0, *doc, *doc_len, &c->pdoc) < 0) {
		sq_err(err, NULL, "sqlite: compressing record");
		return -1;
	}
	pack_w_account(c->pw, (*body ? *body_len : 0) + *doc_len, c->pdoc.len);
	if (*body) {
		*body = (const unsigned char *)"";
		*body_len = 0;
	}
	*doc = (const unsigned char *)c->pdoc.data;
	*doc_len = c->pdoc.len;
	return 0;
}

static int sq_insert(void *conn, const struct msglog_row *r, char **err)
{
	struct sqconn *c = conn;
	const unsigned char *osha = NULL, *body, *doc;
	int64_t sigb = 0, dict = 0;
	size_t sigb_at = 0, body_len, doc_len;
	sqlite3_stmt *st;
	int rc = 0;

	if (!c->ins && sqlite3_prepare_v2(c->db,
			"INSERT INTO records (id, time_ms, dir, side, reqid, message_id, client_id,"
			" service_id, body_mode, body, body_len, body_sha256, sigdoc, ocsp,"
			" request_hash, prev_hash, hash, ocsp_sha256, sig_batch, sig_batch_at, packed)"
			" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &c->ins, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare insert");
		return -1;
	}
	if (r->ocsp_len && !(osha = ocsp_stored(c, r, err)))
		return -1;
	if (sigb_cut(c, r, &sigb, &sigb_at, err) < 0)
		return -1;
	body = r->body;
	body_len = r->body_len;
	doc = sigb ? (const unsigned char *)c->cut.data : r->sigdoc;
	doc_len = sigb ? c->cut.len : r->sigdoc_len;
	if (c->pw && c->pack_ref && pack_record(c, &body, &body_len, &doc, &doc_len, &dict, err) < 0)
		return -1;
	st = c->ins;
	rc |= sqlite3_bind_int64(st, 1, r->id);
	rc |= sqlite3_bind_int64(st, 2, r->time_ms);
	rc |= sqlite3_bind_int(st, 3, r->dir);
	rc |= sqlite3_bind_int(st, 4, r->side);
	rc |= sqlite3_bind_text(st, 5, r->reqid, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 6, r->message_id, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 7, r->client_id, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 8, r->service_id, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(st, 9, r->body_mode);
	if (body)
		rc |= bind_blob(st, 10, body, body_len);
	else
		rc |= sqlite3_bind_null(st, 10);
	rc |= sqlite3_bind_int64(st, 11, (sqlite3_int64)r->body_len);
	rc |= bind_blob(st, 12, r->body_sha256, MSGLOG_HASH_LEN);
	rc |= bind_blob(st, 13, doc, doc_len);
	if (sigb) {
		rc |= sqlite3_bind_int64(st, 19, sigb);
		rc |= sqlite3_bind_int64(st, 20, (sqlite3_int64)sigb_at);
	} else {
		rc |= sqlite3_bind_null(st, 19);
		rc |= sqlite3_bind_null(st, 20);
	}
	if (dict)
		rc |= sqlite3_bind_int64(st, 21, dict);
	else
		rc |= sqlite3_bind_null(st, 21);
	if (osha) {
		rc |= bind_blob(st, 14, NULL, 0);
		rc |= bind_blob(st, 18, osha, MSGLOG_HASH_LEN);
	} else {
		rc |= bind_blob(st, 14, r->ocsp, r->ocsp_len);
		rc |= sqlite3_bind_null(st, 18);
	}
	rc |= sqlite3_bind_text(st, 15, r->request_hash, -1, SQLITE_STATIC);
	rc |= bind_blob(st, 16, r->prev_hash, MSGLOG_HASH_LEN);
	rc |= bind_blob(st, 17, r->hash, MSGLOG_HASH_LEN);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	else
		rc = -1;
	if (rc < 0)
		sq_err(err, c->db, "sqlite: insert record %lld", (long long)r->id);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Runs a one-row query of one integer (or NULL, giving dflt). */
static int query_int(struct sqconn *c, const char *sql, int64_t arg, int64_t dflt, int64_t *out,
		     char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: %s", sql);
		return -1;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(st, 0);
	else
		*out = dflt;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: %s", sql);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Copies a 32-byte blob column; anything else reads as zeros and fails. */
static int col_hash(sqlite3_stmt *st, int i, unsigned char out[MSGLOG_HASH_LEN])
{
	const void *p = sqlite3_column_blob(st, i);

	if (!p || sqlite3_column_bytes(st, i) != MSGLOG_HASH_LEN) {
		memset(out, 0, MSGLOG_HASH_LEN);
		return -1;
	}
	memcpy(out, p, MSGLOG_HASH_LEN);
	return 0;
}

static int damaged(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int damaged(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		free(*err);
		va_start(ap, fmt);
		if (vasprintf(err, fmt, ap) < 0)
			*err = NULL;
		va_end(ap);
	}
	return MSGLOG_STORE_DAMAGED;
}

static int read_hash(struct sqconn *c, const char *sql, int64_t arg,
		     unsigned char out[MSGLOG_HASH_LEN], char **err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: %s", sql);
		return -1;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && col_hash(st, 0, out) == 0)
		rc = 0;
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {   /* no SQLite error to say */
		(void)damaged(err, "the hash of record %lld is not a 32-byte hash", (long long)arg);
		rc = -1;
	} else {
		sq_err(err, c->db, "sqlite: %s", sql);
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

static int has_table(struct sqconn *c, const char *name, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &st,
			       NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: reading the schema");
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_err(err, c->db, "sqlite: reading the schema");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The meta row key: 0 with the value's column read into *st (the caller
 * finalizes it), MSGLOG_STORE_DAMAGED when the row is missing, -1. */
static int meta_row(struct sqconn *c, const char *key, sqlite3_stmt **st, char **err)
{
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = ?", -1, st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: reading meta %s", key);
		return -1;
	}
	sqlite3_bind_text(*st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(*st)) == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return damaged(err, "its meta table has no %s row", key);
	sq_err(err, c->db, "sqlite: reading meta %s", key);
	return -1;
}

/* The file's base from its meta rows (SCHEMA writes both into every log and
 * archive): a row missing or malformed is damage, said as such. */
static int read_base(struct sqconn *c, struct msglog_chain_state *s, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = meta_row(c, "base_id", &st, err)) == 0) {
		int type = sqlite3_column_type(st, 0);   /* before a conversion changes it */
		const char *t = (const char *)sqlite3_column_text(st, 0);
		char *end = NULL;
		long long v = 0;

		if (type == SQLITE_INTEGER)
			v = sqlite3_column_int64(st, 0);
		else if (type == SQLITE_TEXT && t && *t) {
			errno = 0;
			v = strtoll(t, &end, 10);
			if (errno || *end)
				v = -1;
		} else {
			v = -1;
		}
		if (v < 0)
			rc = damaged(err, "its meta base_id is not a record id (%.40s)", t ? t : "NULL");
		s->base_id = v;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 0 && (rc = meta_row(c, "base_hash", &st, err)) == 0) {
		const void *h = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		if (!h || n != MSGLOG_HASH_LEN)
			rc = damaged(err, "its meta base_hash is %d bytes, not a 32-byte hash", n);
		else
			memcpy(s->base_hash, h, MSGLOG_HASH_LEN);
	}
	sqlite3_finalize(st);
	return rc;
}

/* MSGLOG_STORE_DAMAGED when the file's own bookkeeping is missing or
 * malformed - a table of the log, the base's meta rows - with what
 * (first_id and last_id filled when records could be read). */
static int sq_state(void *conn, struct msglog_chain_state *s, char **err)
{
	static const char *const tables[] = { "records", "meta", "timestamps" };
	struct sqconn *c = conn;
	int64_t kind = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if ((rc = has_table(c, tables[i], err)) < 0)
			return -1;
		if (rc == 0)
			return damaged(err, "its %s table is missing", tables[i]);
		if (i == 0 && (query_int(c, "SELECT MIN(id) FROM records", 0, 0, &s->first_id, err) < 0 ||
			       query_int(c, "SELECT MAX(id) FROM records", 0, 0, &s->last_id, err) < 0))
			return -1;
	}
	if ((rc = read_base(c, s, err)) != 0)
		return rc;
	if (query_int(c, "SELECT MAX(last_id) FROM timestamps", 0, s->base_id, &s->last_stamped_id, err) < 0 ||
	    query_int(c, "SELECT COUNT(*) FROM meta WHERE key='kind' AND value='archive'", 0, 0, &kind, err) < 0)
		return -1;
	s->archive = kind > 0;
	if (s->last_id == 0) {
		s->last_id = s->base_id;
		memcpy(s->last_hash, s->base_hash, MSGLOG_HASH_LEN);
		return 0;
	}
	return read_hash(c, "SELECT hash FROM records WHERE id=?", s->last_id, s->last_hash, err);
}

static int sq_insert_stamp(void *conn, const struct msglog_stamp *s, char **err)
{
	struct sqconn *c = conn;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db, "INSERT INTO timestamps (first_id, last_id, root, token, time_ms)"
			       " VALUES (?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, s->first_id);
	sqlite3_bind_int64(st, 2, s->last_id);
	bind_blob(st, 3, s->root, MSGLOG_HASH_LEN);
	bind_blob(st, 4, s->token, s->token_len);
	sqlite3_bind_int64(st, 5, s->time_ms);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		sq_err(err, c->db, "sqlite: insert time stamp");
	sqlite3_finalize(st);
	return rc;
}

static const unsigned char *col_blob(sqlite3_stmt *st, int i, size_t *len)
{
	*len = (size_t)sqlite3_column_bytes(st, i);
	return sqlite3_column_blob(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

/* r's document set to the stored bytes followed by a NUL and note (no
 * signature document holds a NUL, so it never matches the record's
 * digest), in b. -1 when out of memory. */
static int doc_with_note(struct buf *b, struct msglog_row *r, const char *note, size_t note_len)
{
	buf_reset(b);
	if (buf_append(b, r->sigdoc ? (const void *)r->sigdoc : "", r->sigdoc ? r->sigdoc_len : 0) < 0 ||
	    buf_append(b, note, note_len) < 0)
		return -1;
	r->sigdoc = (const unsigned char *)b->data;
	r->sigdoc_len = b->len;
	return 0;
}

/* The row's signature document with its Batch element put back where it
 * was cut (columns 17-19: sig_batch_at, the sig_batches data, sig_batch;
 * all NULL for a document stored whole). Anything else - a reference
 * without its row, an offset out of range, one of the two columns without
 * the other, on a whole document too - reads as the stored bytes followed
 * by a NUL and a note: no signature document holds a NUL, so it never
 * matches the record's digest and the verifier names the record (README.md,
 * the verifier's table). -1 when out of memory. */
static int read_sigdoc(struct sqconn *c, sqlite3_stmt *st, struct msglog_row *r)
{
	static const char damaged[] = "\0[sig_batch reference does not resolve]";
	int has_at = sqlite3_column_type(st, 17) != SQLITE_NULL, has_ref = sqlite3_column_type(st, 19) != SQLITE_NULL;
	const unsigned char *e = NULL;
	size_t n = 0;
	int64_t at = 0;

	if (!has_at && !has_ref)
		return 0;
	buf_reset(&c->whole);
	if (has_at && has_ref && r->sigdoc) {
		at = sqlite3_column_int64(st, 17);
		e = col_blob(st, 18, &n);
	}
	if (!e || at < 0 || (uint64_t)at > r->sigdoc_len)
		return doc_with_note(&c->whole, r, damaged, sizeof(damaged) - 1);
	if (buf_append(&c->whole, r->sigdoc, (size_t)at) < 0 || buf_append(&c->whole, e, n) < 0 ||
	    buf_append(&c->whole, r->sigdoc + at, r->sigdoc_len - (size_t)at) < 0)
		return -1;
	r->sigdoc = (const unsigned char *)c->whole.data;
	r->sigdoc_len = c->whole.len;
	return 0;
}

/* The body and document of a packed row (column 20 its dictionary) as
 * they were logged: the frame in the document's column holds the body
 * (body_len bytes, when the row has one: an empty body column) and then
 * the document. A frame or dictionary that does not give them back, or a
 * body column that is not empty, leaves the stored bytes, the document
 * with a note after a NUL (as read_sigdoc does): they cannot match the
 * record's digests, so the verifier names the record. -1 when the reading
 * itself failed (out of memory, the database's error): that is no verdict
 * on the record, and the iteration stops with it. */
static int unpack_row(struct sqconn *c, sqlite3_stmt *st, struct msglog_row *r)
{
	static const char damaged[] = "\0[packed record: its frame or packing_dicts row is damaged]";
	int64_t id = sqlite3_column_int64(st, 20);
	uint64_t want = r->body ? (uint64_t)sqlite3_column_int64(st, 10) : 0;
	int rc = 0;

	if (!c->pr && !(c->pr = pack_r_new()))
		return -1;
	if (!pack_r_has(c->pr, id)) {
		const void *d = NULL;
		size_t n = 0;
		/* A log without the table (dropped: SQLITE_ERROR) has no
		 * dictionary to give; any other failure is the reading's. */
		if (c->get_dict || sqlite3_prepare_v2(c->db, "SELECT data FROM packing_dicts WHERE id = ?", -1,
						      &c->get_dict, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(c->get_dict, 1, id);
			if ((rc = sqlite3_step(c->get_dict)) == SQLITE_ROW)
				d = col_blob(c->get_dict, 0, &n);
			else if (rc != SQLITE_DONE)
				rc = -1;
			rc = rc < 0 ? -1 : pack_r_add(c->pr, id, d, n);
			sqlite3_reset(c->get_dict);
		} else {
			rc = sqlite3_errcode(c->db) == SQLITE_ERROR ? PACK_BAD : -1;
		}
	}
	/* What a frame may give is bounded by what the row says it holds. */
	if (rc == 0 && r->body && (r->body_len != 0 || r->body_mode == MSGLOG_BODY_DIGEST))
		rc = PACK_BAD;   /* bytes beside the frame, or a body where none was logged */
	if (rc == 0 && want > PACK_MAX_BODY)
		rc = PACK_BAD;
	if (rc == 0)
		rc = pack_r_frame(c->pr, id, r->sigdoc, r->sigdoc_len, (size_t)want + PACK_MAX_SIGDOC, &c->udoc);
	if (rc == 0 && c->udoc.len < want)
		rc = PACK_BAD;
	if (rc == 0) {
		if (r->body) {
			r->body = c->iter_body ? (const unsigned char *)c->udoc.data : NULL;
			r->body_len = (size_t)want;
		}
		r->sigdoc = (const unsigned char *)c->udoc.data + want;
		r->sigdoc_len = c->udoc.len - (size_t)want;
		return 0;
	}
	if (rc != PACK_BAD)
		return -1;
	if (!c->iter_body && r->body) {
		r->body = NULL;
		r->body_len = (size_t)sqlite3_column_int64(st, 10);
	}
	if (doc_with_note(&c->udoc, r, damaged, sizeof(damaged) - 1) < 0)
		return -1;
	r->stored_damage = "its packed frame or the packing_dicts row it names does not give the logged "
			   "bytes back";
	return 0;
}

/* Fills r from the current row (column order of COLS). Damaged columns
 * (a hash of the wrong size) are read as zeros: the verifier then names the
 * record, which is what it is for. 0, or -1 when out of memory. */
static int read_row(struct sqconn *c, sqlite3_stmt *st, struct msglog_row *r)
{
	size_t n;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->time_ms = sqlite3_column_int64(st, 1);
	r->dir = sqlite3_column_int(st, 2);
	r->side = sqlite3_column_int(st, 3);
	r->reqid = col_text(st, 4);
	r->message_id = col_text(st, 5);
	r->client_id = col_text(st, 6);
	r->service_id = col_text(st, 7);
	r->body_mode = sqlite3_column_int(st, 8);
	r->body = col_blob(st, 9, &n);
	if (sqlite3_column_type(st, 9) == SQLITE_NULL)
		r->body = NULL;
	else if (!r->body)
		r->body = (const unsigned char *)"";   /* stored, empty */
	r->body_len = (size_t)sqlite3_column_int64(st, 10);
	if (r->body && n != r->body_len) {
		/* A packed row's body column is empty (its frame holds the body):
		 * unpack_row checks its body_len. Anything else says two lengths. */
		if (sqlite3_column_type(st, 20) == SQLITE_NULL) {
			snprintf(c->field_why, sizeof(c->field_why), "body_len %lld is not the stored body's "
				 "length (%zu bytes)", (long long)sqlite3_column_int64(st, 10), n);
			r->stored_field = c->field_why;
		}
		r->body_len = n;   /* what is there is what gets checked */
	}
	(void)col_hash(st, 11, r->body_sha256);
	r->sigdoc = col_blob(st, 12, &r->sigdoc_len);
	r->ocsp = col_blob(st, 13, &r->ocsp_len);
	r->request_hash = col_text(st, 14);
	(void)col_hash(st, 15, r->prev_hash);
	(void)col_hash(st, 16, r->hash);
	if (sqlite3_column_type(st, 20) != SQLITE_NULL && unpack_row(c, st, r) < 0)
		return -1;
	return read_sigdoc(c, st, r);
}

/* Only the filter's own terms, so that SQLite can use records_time: a
 * term like "(?3 = 0 OR time_ms >= ?3)" made every iteration (the replay
 * window at open, export by time) read the whole table. Time and message
 * id select ids through the index (a range of it, or a scan of it, ~90
 * bytes a record against a 4 KB page per row), which then come in id
 * order without a sort. */
static int build_iter_sql(const struct sqconn *c, const struct msglog_filter *f, char *sql,
			  size_t cap)
{
	char cols[460];
	int n;

	/* A row whose ocsp_data entry is missing reads its (empty) inline
	 * column, and the verifier names it: the digest no longer matches. The
	 * same for a missing sig_batches row (read_sigdoc). */
	/* Without bodies, a packed row's body column still says whether its
	 * frame starts with one (empty) or not (NULL); it holds no bytes. */
	snprintf(cols, sizeof(cols), COLS,
		 f->with_body ? "body" : c->pack_ref ? "CASE WHEN packed IS NULL THEN NULL ELSE body END" : "NULL",
		 c->ocsp_ref ? "COALESCE(o.data, ocsp)" : "ocsp",
		 c->sigb_ref ? "sig_batch_at, s.data, sig_batch" : "NULL, NULL, NULL",
		 c->pack_ref ? "packed" : "NULL");
	n = snprintf(sql, cap, "SELECT %s FROM records%s%s WHERE 1%s%s%s%s%s%s%s ORDER BY id", cols,
		     c->ocsp_ref ? " LEFT JOIN ocsp_data o ON o.sha256 = ocsp_sha256" : "",
		     c->sigb_ref ? " LEFT JOIN sig_batches s ON s.first_id = sig_batch" : "",
		     f->from_id ? " AND id >= ?1" : "", f->to_id ? " AND id <= ?2" : "",
		     f->from_ms || f->to_ms || f->message_id ? " AND id IN (SELECT id FROM records WHERE 1" : "",
		     f->from_ms ? " AND time_ms >= ?3" : "", f->to_ms ? " AND time_ms < ?4" : "",
		     f->message_id ? " AND message_id = ?5" : "",
		     f->from_ms || f->to_ms || f->message_id ? ")" : "");
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int sq_iterate(void *conn, const struct msglog_filter *f, msglog_row_fn fn, void *arg,
		      char **err)
{
	struct sqconn *c = conn;
	struct msglog_row r;
	sqlite3_stmt *st = NULL;
	char sql[1024];
	int rc;

	/* A log opened read-only before a gateway migrated it reads the new
	 * rows right too. */
	if (!c->ocsp_ref)
		c->ocsp_ref = has_column(c, "ocsp_sha256");
	if (!c->sigb_ref)
		c->sigb_ref = has_column(c, "sig_batch");
	if (!c->pack_ref)
		c->pack_ref = has_column(c, "packed");
	c->iter_body = f->with_body;
	if (build_iter_sql(c, f, sql, sizeof(sql)) < 0 ||
	    sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare iteration");
		return -1;
	}
	sqlite3_bind_int64(st, 1, f->from_id);
	sqlite3_bind_int64(st, 2, f->to_id);
	sqlite3_bind_int64(st, 3, f->from_ms);
	sqlite3_bind_int64(st, 4, f->to_ms);
	if (f->message_id)
		sqlite3_bind_text(st, 5, f->message_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;

		if (read_row(c, st, &r) < 0) {
			sq_err(err, NULL, "sqlite: iteration");
			sqlite3_finalize(st);
			return -1;
		}
		if ((stop = fn(&r, arg)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	if (rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: iteration");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int sq_iterate_stamps(void *conn, int64_t from_first, int64_t to_first, int with_token,
			     msglog_stamp_fn fn, void *arg, char **err)
{
	struct sqconn *c = conn;
	struct msglog_stamp s;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, with_token
			? "SELECT id, first_id, last_id, root, token, time_ms FROM timestamps"
			  " WHERE (?1 = 0 OR first_id >= ?1) AND (?2 = 0 OR first_id <= ?2)"
			  " ORDER BY first_id, id"
			: "SELECT id, first_id, last_id, root, NULL, time_ms FROM timestamps"
			  " WHERE (?1 = 0 OR first_id >= ?1) AND (?2 = 0 OR first_id <= ?2)"
			  " ORDER BY first_id, id", -1, &st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare stamp iteration");
		return -1;
	}
	sqlite3_bind_int64(st, 1, from_first);
	sqlite3_bind_int64(st, 2, to_first);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;

		memset(&s, 0, sizeof(s));
		s.id = sqlite3_column_int64(st, 0);
		s.first_id = sqlite3_column_int64(st, 1);
		s.last_id = sqlite3_column_int64(st, 2);
		(void)col_hash(st, 3, s.root);
		s.token = col_blob(st, 4, &s.token_len);
		s.time_ms = sqlite3_column_int64(st, 5);
		if ((stop = fn(&s, arg)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	if (rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: stamp iteration");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int sq_first_id_since(void *conn, int64_t t, int64_t *id, char **err)
{
	return query_int(conn, "SELECT MIN(id) FROM records WHERE time_ms >= ?", t, 0, id, err);
}

static int exec_id_hash(struct sqconn *c, const char *sql, int64_t id, const unsigned char *h,
			char **err)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (h)
		bind_blob(st, 2, h, MSGLOG_HASH_LEN);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
out:
	if (rc < 0)
		sq_err(err, c->db, "sqlite: %.40s", sql);
	sqlite3_finalize(st);
	return rc;
}

static int sq_set_base(void *conn, int64_t base_id, const unsigned char h[MSGLOG_HASH_LEN],
		       char **err)
{
	struct sqconn *c = conn;

	if (exec_id_hash(c, "INSERT OR REPLACE INTO meta VALUES ('base_id', ?1),"
			    " ('base_hash', ?2)", base_id, h, err) < 0)
		return -1;
	return 0;
}

/* Batch elements go with the last records that refer to them: a row whose
 * first record is cut is referred to, if at all, by records less than
 * SIGB_SPAN after it (sigb_known), so only the records in (last_id,
 * last_id + SIGB_SPAN) are read for their references. */
static int sq_cut(void *conn, int64_t last_id, const unsigned char h[MSGLOG_HASH_LEN], char **err)
{
	struct sqconn *c = conn;
	char sql[300];

	snprintf(sql, sizeof(sql), "DELETE FROM sig_batches WHERE first_id <= ?1 AND first_id NOT IN"
		 " (SELECT sig_batch FROM records WHERE id > ?1 AND id < ?1 + %d"
		 " AND sig_batch IS NOT NULL)", SIGB_SPAN);
	if (exec_id_hash(c, "DELETE FROM records WHERE id <= ?", last_id, NULL, err) < 0 ||
	    exec_id_hash(c, "DELETE FROM timestamps WHERE last_id <= ?", last_id, NULL, err) < 0 ||
	    (c->sigb_ref && exec_id_hash(c, sql, last_id, NULL, err) < 0))
		return -1;
	return sq_set_base(c, last_id, h, err);
}

/* A range of records_time, read from the index alone. */
static int sq_seen(void *conn, int side, const char *client_id, const char *message_id,
		   int64_t since_ms, int64_t until_ms, int *found, char **err)
{
	struct sqconn *c = conn;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM records WHERE time_ms >= ?1 AND time_ms < ?2"
			       " AND dir = ?3 AND side = ?4 AND client_id = ?5 AND message_id = ?6"
			       " LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare replay query");
		return -1;
	}
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int64(st, 2, until_ms);   /* a bound the index can use */
	sqlite3_bind_int(st, 3, MSGLOG_REQUEST);
	sqlite3_bind_int(st, 4, side);
	sqlite3_bind_text(st, 5, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, message_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: replay query");
		return -1;
	}
	return 0;
}

/* Oldest first, from records_time alone (no row is read). */
static int sq_requests_since(void *conn, int64_t since_ms, msglog_row_fn fn, void *arg, char **err)
{
	struct sqconn *c = conn;
	struct msglog_row r;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT time_ms, side, client_id, message_id FROM records"
			       " WHERE time_ms >= ? AND dir = ? ORDER BY time_ms", -1, &st,
			       NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: prepare replay load");
		return -1;
	}
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int(st, 2, MSGLOG_REQUEST);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;

		memset(&r, 0, sizeof(r));
		r.time_ms = sqlite3_column_int64(st, 0);
		r.dir = MSGLOG_REQUEST;
		r.side = sqlite3_column_int(st, 1);
		r.client_id = col_text(st, 2);
		r.message_id = col_text(st, 3);
		if ((stop = fn(&r, arg)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sq_err(err, c->db, "sqlite: replay load");
		return -1;
	}
	return 0;
}

/* A passive checkpoint: copies what the WAL holds beyond the last one into
 * the database, without waiting for anyone (readers keep their snapshots,
 * the writer keeps writing). */
static int sq_housekeep(void *conn, char **err)
{
	struct sqconn *c = conn;
	const char *db = sqlite3_db_filename(c->db, "main");
	char wal[PATH_MAX];
	struct stat st;

	if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK) {
		sq_err(err, c->db, "sqlite: checkpoint");
		return -1;
	}
	/* The WAL is where every commit goes first. Removed or replaced under
	 * the open log (someone "cleaning up" *-wal files), the writer would go
	 * on committing into a file no one else can read, and a crash would
	 * lose all of it: the checkpoint above has just copied what was
	 * committed into the database (this connection still has the old file
	 * open), and from now on the log refuses. A restart starts a new WAL. */
	if (!db || !*db || (size_t)snprintf(wal, sizeof(wal), "%s-wal", db) >= sizeof(wal))
		return 0;
	if (stat(wal, &st) == 0) {
		if (!c->wal_seen) {
			c->wal_seen = 1;
			c->wal_dev = st.st_dev;
			c->wal_ino = st.st_ino;
			return 0;
		}
		if (st.st_dev == c->wal_dev && st.st_ino == c->wal_ino)
			return 0;
	} else if (errno != ENOENT || !c->wal_seen) {
		return 0;
	}
	if (err && asprintf(err, "the message log's WAL file %s was removed or replaced while the gateway "
			    "runs: what was committed is now in the database, but new records could not be "
			    "kept safely; restart the gateway", wal) < 0)
		*err = NULL;
	return MSGLOG_STORE_LOST;
}

/* A meta row written and deleted in one transaction: nothing changes, but
 * the page is written (a WAL frame and, with synchronous=FULL, an fsync),
 * through the same connection and VFS as the writer's commits. (An UPDATE
 * to the same value would write nothing: SQLite leaves a cell whose bytes
 * do not change alone.) */
static int sq_probe(void *conn, char **err)
{
	struct sqconn *c = conn;

	if (sq_begin(c, err) < 0 ||
	    exec(c, "INSERT OR REPLACE INTO meta VALUES ('probe', 1); DELETE FROM meta WHERE key = 'probe'",
		 err) < 0 ||
	    sq_commit(c, err) < 0) {
		sq_rollback(c);
		return -1;
	}
	return 0;
}

const struct msglog_backend_ops msglog_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.insert = sq_insert,
	.state = sq_state,
	.insert_stamp = sq_insert_stamp,
	.iterate = sq_iterate,
	.iterate_stamps = sq_iterate_stamps,
	.first_id_since = sq_first_id_since,
	.cut = sq_cut,
	.set_base = sq_set_base,
	.seen = sq_seen,
	.requests_since = sq_requests_since,
	.housekeep = sq_housekeep,
	.probe = sq_probe,
};
