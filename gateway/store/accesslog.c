/* The access log in SQLite, and the opener the personal-data stores share.
 * See accesslog.h for the contract. */
#include "store/accesslog.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCESSLOG_APP_ID 0x41474c41   /* "AGLA" */

static const char accesslog_schema[] =
	"CREATE TABLE access_log ("
	" id INTEGER PRIMARY KEY,"
	" subject TEXT NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" client TEXT NOT NULL,"
	" service TEXT NOT NULL,"
	" message_id TEXT NOT NULL,"
	" purpose TEXT NOT NULL,"
	" consent_id INTEGER,"
	" outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'refused')),"
	" reason TEXT NOT NULL);"
	"CREATE INDEX access_log_subject ON access_log (subject, time_ms);";

enum al_stmt { AL_INSERT, AL_REPORT, AL_COUNT };

static const char *const al_sql[AL_COUNT] = {
	[AL_INSERT] =
		"INSERT INTO access_log (subject, time_ms, client, service, message_id, purpose,"
		" consent_id, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[AL_REPORT] =
		"SELECT id, time_ms, client, service, message_id, purpose, consent_id, outcome, reason"
		" FROM access_log WHERE subject = ?1 AND time_ms >= ?2 AND time_ms < ?3"
		" ORDER BY time_ms DESC, id DESC LIMIT ?4",
};

/* A record taken by accesslog_add, waiting for accesslog_flush: its texts
 * cut to their columns' caps and packed behind it. */
struct al_row {
	struct al_row *next;
	long long time_ms, consent_id;
	enum accesslog_outcome outcome;
	const char *text[6];         /* subject, client, service, message id, purpose, reason */
	char data[];
};

/* The writers of one process (each worker's handle) take turns here, for
 * the few hundred microseconds a write takes, rather than in SQLite's lock,
 * whose busy handler sleeps 1, 2, 5, 10 ... 100 ms on an event loop while
 * another connection holds it. Other processes (sqlite3 at the console; no
 * other gateway shares a data_dir) still meet SQLite's busy wait, bounded
 * by ACCESSLOG_BUSY_MS. */
static pthread_mutex_t al_write_lock = PTHREAD_MUTEX_INITIALIZER;

struct accesslog {
	char *path;
	sqlite3 *db;                 /* NULL while closed */
	sqlite3_stmt *st[AL_COUNT];
	struct al_row *head, **tail; /* accesslog_add's rows, oldest first */
	size_t n_pending;
};

static void al_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void al_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The turn, waited for as long as SQLite's own busy wait at most: 0, or -1
 * with why. */
static int al_lock(struct accesslog *log, char *why, size_t len)
{
	struct timespec until;
	int rc;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(ACCESSLOG_BUSY_MS % 1000) * 1000000L;
	until.tv_sec += ACCESSLOG_BUSY_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	if ((rc = pthread_mutex_timedlock(&al_write_lock, &until)) == 0)
		return 0;
	al_why(why, len, "access log %s: another worker's write has held it for %d ms (%s)", log->path,
	       ACCESSLOG_BUSY_MS, strerror(rc));
	return -1;
}

/* ---- the shared opener ---------------------------------------------------- */

int accesslog_db_broken(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN;
}

/* Switching a new file to WAL needs it to itself; a second opener at that
 * moment gets SQLITE_BUSY without its busy handler being called: retry. */
static int db_wal(sqlite3 *db, int busy_ms)
{
	int waited = 0, rc;

	while (((rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) & 0xff) ==
	       SQLITE_BUSY && waited < busy_ms) {
		sqlite3_sleep(10);
		waited += 10;
	}
	return rc;
}

static int db_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		*out = sqlite3_column_int(q, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(q);
	return rc;
}

/* Inside BEGIN IMMEDIATE: ours, new (create it), or someone else's. */
static int db_adopt(const struct accesslog_db_spec *s, sqlite3 *db, char *why, size_t len)
{
	char set[64];
	int app = 0, objects = 0;

	if (db_int(db, "PRAGMA application_id", &app) != SQLITE_OK ||
	    db_int(db, "SELECT count(*) FROM sqlite_master", &objects) != SQLITE_OK) {
		al_why(why, len, "cannot read %s: %s", s->path, sqlite3_errmsg(db));
		return -1;
	}
	if (app == s->application_id)
		return 0;
	if (objects > 0 || app != 0) {
		al_why(why, len, "%s is not %s (it holds another application's data); move it away "
		       "or fix data_dir", s->path, s->kind);
		return -1;
	}
	snprintf(set, sizeof(set), "PRAGMA application_id=%d", s->application_id);
	if (sqlite3_exec(db, s->schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, set, NULL, NULL, NULL) != SQLITE_OK) {
		al_why(why, len, "cannot create %s in %s: %s", s->kind, s->path, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int db_create_if_new(const struct accesslog_db_spec *s, sqlite3 *db, char *why, size_t len)
{
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		al_why(why, len, "cannot lock %s: %s", s->path, sqlite3_errmsg(db));
		return -1;
	}
	if (db_adopt(s, db, why, len) != 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		al_why(why, len, "cannot commit %s: %s", s->path, sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int accesslog_db_open(const struct accesslog_db_spec *s, sqlite3 **out, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	/* One connection per thread, never shared: no mutex. */
	rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		al_why(why, len, "cannot open %s: %s", s->path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, s->busy_ms);
	if (db_wal(db, s->busy_ms) != SQLITE_OK ||
	    (s->pragmas && sqlite3_exec(db, s->pragmas, NULL, NULL, NULL) != SQLITE_OK)) {
		al_why(why, len, "cannot use %s: %s", s->path, sqlite3_errmsg(db));
		goto fail;
	}
	if (db_create_if_new(s, db, why, len) != 0)
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}

void accesslog_copy_utf8(char *out, size_t cap, const char *s)
{
	size_t n;

	if (cap == 0)
		return;
	if (s == NULL)
		s = "";
	n = strnlen(s, cap);
	if (n >= cap) {
		n = cap - 1;
		/* back off to the start of the sequence that would be cut */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

/* ---- the access log ------------------------------------------------------- */

static void al_close_db(struct accesslog *log)
{
	for (int i = 0; i < AL_COUNT; i++) {
		sqlite3_finalize(log->st[i]);
		log->st[i] = NULL;
	}
	sqlite3_close(log->db);
	log->db = NULL;
}

/* Opens the file if it is closed. 0, or -1 with why. */
static int al_ready(struct accesslog *log, char *why, size_t len)
{
	const struct accesslog_db_spec spec = {
		.path = log->path,
		.kind = "an ailgate access log",
		.application_id = ACCESSLOG_APP_ID,
		.schema = accesslog_schema,
		.pragmas = "PRAGMA synchronous=NORMAL",
		.busy_ms = ACCESSLOG_BUSY_MS,
	};

	if (log->db != NULL)
		return 0;
	if (accesslog_db_open(&spec, &log->db, why, len) != 0)
		return -1;
	for (int i = 0; i < AL_COUNT; i++) {
		if (sqlite3_prepare_v3(log->db, al_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &log->st[i],
				       NULL) != SQLITE_OK) {
			al_why(why, len, "%s is not an ailgate access log: %s", log->path,
			       sqlite3_errmsg(log->db));
			al_close_db(log);
			return -1;
		}
	}
	return 0;
}

int accesslog_open(const char *path, struct accesslog **out, char **err)
{
	struct accesslog *log;
	char why[1024];

	*out = NULL;
	if (err)
		*err = NULL;
	if (path == NULL || path[0] == '\0') {
		if (err)
			*err = strdup("access log: no file name given");
		return -1;
	}
	log = calloc(1, sizeof(*log));
	if (log)
		log->tail = &log->head;
	if (log == NULL || (log->path = strdup(path)) == NULL) {
		free(log);
		if (err)
			*err = strdup("access log: out of memory");
		return -1;
	}
	if (al_ready(log, why, sizeof(why)) != 0 && err)
		*err = strdup(why);   /* not fatal: every call retries */
	*out = log;
	return 0;
}

static void al_drop_pending(struct accesslog *log)
{
	while (log->head) {
		struct al_row *r = log->head;
		log->head = r->next;
		free(r);
	}
	log->tail = &log->head;
	log->n_pending = 0;
}

void accesslog_close(struct accesslog **log)
{
	if (log == NULL || *log == NULL)
		return;
	{
		size_t n = (*log)->n_pending;
		char why[512];

		if (n && accesslog_flush(*log, why, sizeof(why)) != 0)
			fprintf(stderr, "%s (%zu records waiting at close are lost)\n", why, n);
	}
	al_drop_pending(*log);
	al_close_db(*log);
	free((*log)->path);
	free(*log);
	*log = NULL;
}

/* A statement failed: the reason into why; a broken file is closed so the
 * next call opens it afresh. */
static int al_fail(struct accesslog *log, sqlite3_stmt *st, const char *what, char *why, size_t len)
{
	int rc = sqlite3_errcode(log->db);

	al_why(why, len, "access log %s: cannot %s: %s", log->path, what, sqlite3_errmsg(log->db));
	sqlite3_reset(st);
	if (accesslog_db_broken(rc))
		al_close_db(log);
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The texts of a record as stored: cut to their caps (UTF-8 safe). */
struct al_texts {
	char subject[ACCESSLOG_SUBJECT_MAX + 1];
	char client[ACCESSLOG_ID_MAX], service[ACCESSLOG_ID_MAX];
	char message_id[ACCESSLOG_MSGID_MAX];
	char purpose[ACCESSLOG_PURPOSE_MAX];
	char reason[ACCESSLOG_REASON_MAX];
};

static int al_check(const struct accesslog_record *r, char *why, size_t len)
{
	if (r->subject == NULL || r->subject[0] == '\0' || strlen(r->subject) > ACCESSLOG_SUBJECT_MAX ||
	    r->client == NULL || r->client[0] == '\0' || r->service == NULL || r->service[0] == '\0') {
		al_why(why, len, "access log: a record needs a subject of 1-%d bytes, a client and a "
		       "service", ACCESSLOG_SUBJECT_MAX);
		return -1;
	}
	return 0;
}

/* r as a row to insert (time now if not given), texts copied. NULL: out of memory. */
static struct al_row *al_row_new(const struct accesslog_record *r)
{
	struct al_texts *t = malloc(sizeof(*t));
	const char *src[6];
	size_t n[6], total = 0;
	struct al_row *row = NULL;
	char *p;

	if (t == NULL)
		return NULL;
	accesslog_copy_utf8(t->subject, sizeof(t->subject), r->subject);
	accesslog_copy_utf8(t->client, sizeof(t->client), r->client);
	accesslog_copy_utf8(t->service, sizeof(t->service), r->service);
	accesslog_copy_utf8(t->message_id, sizeof(t->message_id), r->message_id);
	accesslog_copy_utf8(t->purpose, sizeof(t->purpose), r->purpose);
	accesslog_copy_utf8(t->reason, sizeof(t->reason), r->outcome == ACCESSLOG_REFUSED ? r->reason : "");
	src[0] = t->subject, src[1] = t->client, src[2] = t->service;
	src[3] = t->message_id, src[4] = t->purpose, src[5] = t->reason;
	for (int i = 0; i < 6; i++)
		total += (n[i] = strlen(src[i]) + 1);
	if ((row = malloc(sizeof(*row) + total)) != NULL) {
		row->next = NULL;
		row->time_ms = r->time_ms ? r->time_ms : now_ms();
		row->consent_id = r->consent_id > 0 ? r->consent_id : 0;
		row->outcome = r->outcome == ACCESSLOG_REFUSED ? ACCESSLOG_REFUSED : ACCESSLOG_ANSWERED;
		for (int i = 0, off = 0; i < 6; off += (int)n[i], i++) {
			p = row->data + off;
			memcpy(p, src[i], n[i]);
			row->text[i] = p;
		}
	}
	free(t);
	return row;
}

static int al_insert(struct accesslog *log, const struct al_row *row)
{
	sqlite3_stmt *st = log->st[AL_INSERT];
	int rc;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	rc = sqlite3_bind_int64(st, 2, row->time_ms);
	for (int i = 0; i < 5; i++)   /* subject, client, service, message id, purpose: ?1 ?3 ?4 ?5 ?6 */
		rc |= sqlite3_bind_text(st, i == 0 ? 1 : i + 2, row->text[i], -1, SQLITE_STATIC);
	rc |= row->consent_id > 0 ? sqlite3_bind_int64(st, 7, row->consent_id) : sqlite3_bind_null(st, 7);
	rc |= sqlite3_bind_text(st, 8, row->outcome == ACCESSLOG_REFUSED ? "refused" : "answered", -1,
				SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 9, row->text[5], -1, SQLITE_STATIC);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

int accesslog_record(struct accesslog *log, const struct accesslog_record *r, char *why, size_t len)
{
	struct al_row *row;
	int rc;

	if (al_check(r, why, len) != 0 || al_ready(log, why, len) != 0)
		return -1;
	if ((row = al_row_new(r)) == NULL) {
		al_why(why, len, "access log: out of memory");
		return -1;
	}
	if (al_lock(log, why, len) != 0) {
		free(row);
		return -1;
	}
	rc = al_insert(log, row) == 0 ? 0 : al_fail(log, log->st[AL_INSERT], "record an access", why, len);
	pthread_mutex_unlock(&al_write_lock);
	free(row);
	return rc;
}

int accesslog_add(struct accesslog *log, const struct accesslog_record *r, char *why, size_t len)
{
	struct al_row *row;

	if (al_check(r, why, len) != 0)
		return -1;
	if (log->n_pending >= ACCESSLOG_PENDING_MAX) {
		al_why(why, len, "access log %s: %d records already wait for their write (the gateway "
		       "writes them in batches); this query is not answered", log->path, ACCESSLOG_PENDING_MAX);
		return -1;
	}
	if ((row = al_row_new(r)) == NULL) {
		al_why(why, len, "access log: out of memory");
		return -1;
	}
	*log->tail = row;
	log->tail = &row->next;
	log->n_pending++;
	return 0;
}

void accesslog_discard(struct accesslog *log)
{
	if (log)
		al_drop_pending(log);
}

size_t accesslog_pending(const struct accesslog *log)
{
	return log ? log->n_pending : 0;
}

int accesslog_flush(struct accesslog *log, char *why, size_t len)
{
	const char *what = "begin a transaction";
	int rc = -1;

	if (log->n_pending == 0)
		return 0;
	if (al_ready(log, why, len) != 0 || al_lock(log, why, len) != 0)
		goto out;
	if (sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	what = "record an access";
	for (const struct al_row *row = log->head; row; row = row->next)
		if (al_insert(log, row) != 0)
			goto fail;
	what = "commit";
	if (sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	rc = 0;
	goto unlock;
fail:
	al_fail(log, log->st[AL_INSERT], what, why, len);
	if (log->db && !sqlite3_get_autocommit(log->db))
		sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
unlock:
	pthread_mutex_unlock(&al_write_lock);
out:
	al_drop_pending(log);
	return rc;
}

static void col_copy(char *out, size_t cap, sqlite3_stmt *st, int i)
{
	accesslog_copy_utf8(out, cap, (const char *)sqlite3_column_text(st, i));
}

static void al_entry(sqlite3_stmt *st, struct accesslog_entry *e)
{
	const char *outcome = (const char *)sqlite3_column_text(st, 7);

	e->id = sqlite3_column_int64(st, 0);
	e->time_ms = sqlite3_column_int64(st, 1);
	col_copy(e->client, sizeof(e->client), st, 2);
	col_copy(e->service, sizeof(e->service), st, 3);
	col_copy(e->message_id, sizeof(e->message_id), st, 4);
	col_copy(e->purpose, sizeof(e->purpose), st, 5);
	e->consent_id = sqlite3_column_int64(st, 6);   /* NULL reads as 0 */
	e->outcome = outcome && strcmp(outcome, "refused") == 0 ? ACCESSLOG_REFUSED : ACCESSLOG_ANSWERED;
	col_copy(e->reason, sizeof(e->reason), st, 8);
}

int accesslog_report(struct accesslog *log, const char *subject, long long from_ms, long long to_ms,
		     size_t limit, accesslog_row_fn fn, void *arg, int *more, char *why, size_t len)
{
	struct accesslog_entry *e;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if (more)
		*more = 0;
	if (limit == 0 || limit > ACCESSLOG_REPORT_MAX)
		limit = ACCESSLOG_REPORT_MAX;
	if (subject == NULL) {
		al_why(why, len, "access log: a report needs a subject");
		return -1;
	}
	if (al_ready(log, why, len) != 0)
		return -1;
	e = malloc(sizeof(*e));   /* ~3 KB: not on the loop's stack */
	if (e == NULL) {
		al_why(why, len, "access log: out of memory");
		return -1;
	}
	st = log->st[AL_REPORT];
	sqlite3_reset(st);
	if (sqlite3_bind_text(st, 1, subject, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, from_ms) != SQLITE_OK || sqlite3_bind_int64(st, 3, to_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1) != SQLITE_OK) {
		free(e);
		return al_fail(log, st, "read the report", why, len);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ == limit) {   /* the extra row only says there is more */
			if (more)
				*more = 1;
			break;
		}
		al_entry(st, e);
		if (fn(e, arg) != 0)
			break;
	}
	free(e);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return al_fail(log, st, "read the report", why, len);
	sqlite3_reset(st);
	return 0;
}
