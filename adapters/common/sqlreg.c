/* A registry in a local SQLite file: opening, creating, refusing a foreign
 * file, statements, and "unavailable". See sqlreg.h for the contract. */
#include "adapters/common/sqlreg.h"
#include "adapters/common/params.h"
#include "adapters/common/sqlseed.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."   /* CMake defines it; "." works from the source root */
#endif

#define SQLREG_WHY_MAX (3 * SQLREG_PATH_MAX + 256)

struct sqlreg {
	const struct sqlreg_desc *d;
	struct adapter_host host;     /* copied; its strings stay borrowed */
	char db_path[SQLREG_PATH_MAX];
	char sql_dir[SQLREG_PATH_MAX];
	char seed_db[SQLREG_PATH_MAX + 64];   /* "" when there is none to look for */
	int busy_ms;
	sqlite3 *db;                  /* NULL while closed */
	sqlite3_stmt **st;            /* d->n_sql of them, NULL while closed */
	int reopen;                   /* close at the end of this call */
	int down;                     /* the last open failed: the outage is logged */
	int seed_said;                /* why the seed database was not used is logged */
	const char *reqid;            /* of the call in progress, for logs */
	int snap;                     /* the call's read transaction is open (snapshot_begin) */
	sqlite3_stmt *begin, *rollback;   /* the snapshot's BEGIN and ROLLBACK, prepared once */
};

void sqlreg_log(struct sqlreg *r, enum adapter_log_level lvl, const char *fmt, ...)
{
	char line[SQLREG_WHY_MAX + 256];
	va_list ap;

	if (r->host.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->host.log(r->host.ctx, lvl, r->reqid, "%s", line);
}

/* Fills why[len] for the log; long paths may be cut, which is fine there. */
static void sqlreg_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sqlreg_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---- configuration ------------------------------------------------------ */

static const char *sqlreg_cfg(const struct adapter_host *h, const char *key)
{
	const char *v = h->config ? h->config(h->ctx, key) : NULL;

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A config value, or def when unset, into out[cap]; -1 if it does not fit. */
static int sqlreg_cfg_str(const struct adapter_host *h, const char *key, const char *def,
			  char *out, size_t cap)
{
	const char *v = sqlreg_cfg(h, key);

	return snprintf(out, cap, "%s", v ? v : def) < (int)cap ? 0 : -1;
}

static int sqlreg_config(struct sqlreg *r, char **err)
{
	const struct adapter_host *h = &r->host;
	char def[SQLREG_PATH_MAX + 64];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/%s", h->data_dir ? h->data_dir : ".", r->d->db_file);
	if (sqlreg_cfg_str(h, "db", def, r->db_path, sizeof(r->db_path)) != 0)
		goto toolong;
	snprintf(def, sizeof(def), "%s/adapters/%s", AILGATE_SOURCE_DIR, r->d->name);
	if (sqlreg_cfg_str(h, "sql_dir", def, r->sql_dir, sizeof(r->sql_dir)) != 0)
		goto toolong;
	/* The seed database lies beside the SQL it was built from, except for
	 * the source tree's SQL, whose seed databases the build keeps in the
	 * build tree (adapters/CMakeLists.txt defines where). */
	if (sqlreg_cfg(h, "sql_dir") != NULL)
		snprintf(r->seed_db, sizeof(r->seed_db), "%s/seed.db", r->sql_dir);
#ifdef AILGATE_SEEDDB_DIR
	else
		snprintf(r->seed_db, sizeof(r->seed_db), "%s/%s/seed.db", AILGATE_SEEDDB_DIR, r->d->name);
#endif
	r->busy_ms = SQLREG_BUSY_MS_DEFAULT;
	v = sqlreg_cfg(h, "busy_timeout_ms");
	if (v == NULL)
		return 0;
	errno = 0;
	ms = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || ms < 0 || ms > SQLREG_BUSY_MS_MAX) {
		if (asprintf(err, "[adapter.%s] busy_timeout_ms: '%.32s' is not a number of "
			     "milliseconds 0..%d", r->d->name, v, SQLREG_BUSY_MS_MAX) < 0)
			*err = NULL;
		return -1;
	}
	r->busy_ms = (int)ms;
	return 0;
toolong:
	if (asprintf(err, "[adapter.%s] db, sql_dir: path too long (max %d bytes)", r->d->name,
		     SQLREG_PATH_MAX - 1) < 0)
		*err = NULL;
	return -1;
}

int sqlreg_new(const struct sqlreg_desc *desc, const struct adapter_host *host,
	       struct sqlreg **out, char **err)
{
	struct sqlreg *r = calloc(1, sizeof(*r));

	*out = NULL;
	*err = NULL;
	if (r != NULL)
		r->st = calloc(desc->n_sql ? desc->n_sql : 1, sizeof(*r->st));
	if (r == NULL || r->st == NULL) {
		if (r != NULL)
			free(r->st);
		free(r);
		*err = strdup("out of memory");
		return -1;
	}
	r->d = desc;
	r->host = *host;
	if (sqlreg_config(r, err) != 0) {
		free(r->st);
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

/* ---- opening and creating ----------------------------------------------- */

static void sqlreg_close(struct sqlreg *r)
{
	for (size_t i = 0; i < r->d->n_sql; i++) {
		sqlite3_finalize(r->st[i]);
		r->st[i] = NULL;
	}
	sqlite3_finalize(r->begin);
	sqlite3_finalize(r->rollback);
	r->begin = r->rollback = NULL;
	sqlite3_close(r->db);
	r->db = NULL;
	r->reopen = 0;
}

void sqlreg_free(struct sqlreg **r)
{
	if (*r == NULL)
		return;
	sqlreg_close(*r);
	free((*r)->st);
	free(*r);
	*r = NULL;
}

/* The schema and the seed, executed on the open connection. */
static int sqlreg_load(struct sqlreg *r, char *why, size_t len)
{
	struct sqlseed_sql s;
	int rc = -1;

	if (sqlseed_read(r->sql_dir, &s, why, len) == 0 && sqlseed_load(r->db, r->sql_dir, &s, why, len) == 0)
		rc = 0;

	sqlseed_sql_free(&s);
	return rc;
}

/* How many objects the file has, and whether our table is one of them. */
static int sqlreg_survey(struct sqlreg *r, int *objects, int *ours, char *why, size_t len)
{
	sqlite3_stmt *q = NULL;
	int rc;

	rc = sqlite3_prepare_v2(r->db, "SELECT count(*), count(type = 'table' AND name = ?1 OR NULL)"
				" FROM sqlite_master", -1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q, 1, r->d->ours, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		*objects = sqlite3_column_int(q, 0);
		*ours = sqlite3_column_int(q, 1);
	}
	if (rc != SQLITE_ROW)
		sqlreg_why(why, len, "cannot read %s: %s", r->db_path, sqlite3_errmsg(r->db));
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Creates the tables and the demo data if the file has none, inside one
 * IMMEDIATE transaction so that workers starting together do it once. A
 * file with other objects but not our table is somebody else's: it is left
 * alone and refused, never seeded over. copied: sqlreg_seed made the file. */
static int sqlreg_create_if_empty(struct sqlreg *r, int copied, char *why, size_t len)
{
	int objects = 0, ours = 0;

	if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sqlreg_why(why, len, "cannot lock %s: %s", r->db_path, sqlite3_errmsg(r->db));
		return -1;
	}
	if (sqlreg_survey(r, &objects, &ours, why, len) != 0)
		goto fail;
	if (objects > 0 && !ours) {
		sqlreg_why(why, len, "%s has tables but no '%s': it is not %s", r->db_path, r->d->ours,
			   r->d->kind);
		goto fail;
	}
	if (!ours && sqlreg_load(r, why, len) != 0)
		goto fail;
	if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlreg_why(why, len, "cannot commit %s: %s", r->db_path, sqlite3_errmsg(r->db));
		goto fail;
	}
	if (!ours)
		sqlreg_log(r, ADAPTER_LOG_INFO, "%s: created %s from %s/{schema,seed}.sql", r->d->label,
			   r->db_path, r->sql_dir);
	else if (copied)
		sqlreg_log(r, ADAPTER_LOG_INFO, "%s: created %s from %s (built from %s/{schema,seed}.sql)",
			   r->d->label, r->db_path, r->seed_db, r->sql_dir);
	return 0;
fail:
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int sqlreg_prepare(struct sqlreg *r, char *why, size_t len)
{
	for (size_t i = 0; i < r->d->n_sql; i++) {
		if (sqlite3_prepare_v3(r->db, r->d->sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i],
				       NULL) != SQLITE_OK) {
			sqlreg_why(why, len, "%s is not %s: %s", r->db_path, r->d->kind,
				   sqlite3_errmsg(r->db));
			return -1;
		}
	}
	/* A read-only registry's snapshot (snapshot_begin) runs these twice a
	 * call: parsed once here rather than by sqlite3_exec each time. */
	if (r->d->query_only &&
	    (sqlite3_prepare_v3(r->db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &r->begin, NULL) != SQLITE_OK ||
	     sqlite3_prepare_v3(r->db, "ROLLBACK", -1, SQLITE_PREPARE_PERSISTENT, &r->rollback, NULL) != SQLITE_OK)) {
		sqlreg_why(why, len, "%s: cannot prepare its read transaction: %s", r->db_path, sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/* Runs a prepared statement that returns no rows; SQLite's result code. */
static int step_once(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int sqlreg_pragma(struct sqlreg *r, const char *sql, char *why, size_t len)
{
	if (sql == NULL || sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlreg_why(why, len, "cannot use %s: %s", r->db_path, sqlite3_errmsg(r->db));
	return -1;
}

/* WAL: readers (every worker) never wait for a writer. Switching a new file
 * to WAL needs the file to itself, and SQLite answers a second connection
 * that tries the same at that moment with SQLITE_BUSY at once, without
 * calling its busy handler: wait and retry, up to busy_timeout_ms, as for
 * any other lock. */
static int sqlreg_wal(struct sqlreg *r, char *why, size_t len)
{
	int waited = 0, rc;

	while (((rc = sqlite3_exec(r->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) & 0xff) ==
	       SQLITE_BUSY && waited < r->busy_ms) {
		sqlite3_sleep(10);
		waited += 10;
	}
	if (rc == SQLITE_OK)
		return 0;
	sqlreg_why(why, len, "cannot use %s: %s", r->db_path, sqlite3_errmsg(r->db));
	return -1;
}

/* A new register copied from the seed database, which is what executing
 * the SQL would give, in a fraction of the time: 1 copied, 0 not (the SQL
 * is loaded as before; a stale seed database or a failed copy is logged). */
static int sqlreg_seed(struct sqlreg *r)
{
	char why[SQLREG_WHY_MAX];
	int rc = sqlseed_copy(r->seed_db, r->sql_dir, r->d->pragmas, r->db_path, why, sizeof(why));

	/* Once: while the SQL cannot be loaded either, every call tries again. */
	if (rc != 1 && why[0] != '\0' && !r->seed_said) {
		sqlreg_log(r, rc < 0 ? ADAPTER_LOG_WARN : ADAPTER_LOG_INFO, "%s: %s; loading the SQL instead",
			   r->d->label, why);
		r->seed_said = 1;
	}
	return rc == 1;
}

/* Opens, creates if empty, prepares. 0, or -1 with why set (closed again). */
static int sqlreg_open(struct sqlreg *r, char *why, size_t len)
{
	int copied = sqlreg_seed(r), rc;

	/* One connection per worker thread, never shared: no mutex needed. */
	rc = sqlite3_open_v2(r->db_path, &r->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sqlreg_why(why, len, "cannot open %s: %s", r->db_path,
			   r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(r->db, r->busy_ms);
	if (sqlreg_wal(r, why, len) != 0 ||
	    sqlreg_pragma(r, r->d->pragmas, why, len) != 0 ||
	    sqlreg_create_if_empty(r, copied, why, len) != 0 ||
	    sqlreg_pragma(r, r->d->query_only ? "PRAGMA query_only=ON" : NULL, why, len) != 0 ||
	    sqlreg_prepare(r, why, len) != 0)
		goto fail;
	return 0;
fail:
	sqlreg_close(r);
	return -1;
}

/* A registry that only reads answers a call from one snapshot of its file:
 * the call's queries run in one read transaction (BEGIN at its first
 * sqlreg_ready, COMMIT at sqlreg_call_end). An answer built from several
 * queries (a person, the addresses, the documents) then never mixes two
 * states of a file another process updates meanwhile, and SQLite takes the
 * file's shared lock and its WAL read mark once a call instead of once a
 * statement. Outside a call (no reqid) statements stay in autocommit. */
static void snapshot_begin(struct sqlreg *r)
{
	if (r->reqid == NULL || !r->d->query_only || r->db == NULL || !sqlite3_get_autocommit(r->db))
		return;
	if (r->begin && step_once(r->begin) == SQLITE_OK)
		r->snap = 1;
	else
		sqlreg_log(r, ADAPTER_LOG_DEBUG, "%s: no read transaction for the call: %s", r->d->label,
			   sqlite3_errmsg(r->db));   /* the statements run one by one, as before */
}

/* Ends the read transaction snapshot_begin opened, and only that one (an
 * adapter's own transaction is the adapter's to end). It read only, so
 * ROLLBACK ends it as well as COMMIT would; if even that fails, the
 * connection is closed rather than keep a snapshot into the next call. */
static void snapshot_end(struct sqlreg *r)
{
	if (!r->snap)
		return;
	r->snap = 0;
	if (r->db == NULL || sqlite3_get_autocommit(r->db))
		return;
	for (size_t i = 0; i < r->d->n_sql; i++)
		sqlite3_reset(r->st[i]);
	if (!r->rollback || step_once(r->rollback) != SQLITE_OK)
		sqlreg_reopen(r);
}

int sqlreg_ready(struct sqlreg *r, struct adapter_result *res)
{
	char why[SQLREG_WHY_MAX];

	if (r->db != NULL) {
		snapshot_begin(r);
		return 0;
	}
	if (sqlreg_open(r, why, sizeof(why)) == 0) {
		if (r->down)
			sqlreg_log(r, ADAPTER_LOG_INFO, "%s: %s is available again", r->d->label,
				   r->db_path);
		r->down = 0;
		snapshot_begin(r);
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	sqlreg_log(r, r->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "%s unavailable: %s",
		   r->d->label, why);
	r->down = 1;
	if (res != NULL) {
		adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", r->d->unavailable);
	}
	return -1;
}

void sqlreg_start(struct sqlreg *r)
{
	if (r->host.check_only)
		return;   /* only the configuration is being checked: open nothing */
	if (sqlreg_ready(r, NULL) != 0)
		return;   /* logged; every call tries again */
}

/* ---- calls and statements ----------------------------------------------- */

void sqlreg_call_begin(struct sqlreg *r, const char *reqid)
{
	r->reqid = reqid;
}

void sqlreg_call_end(struct sqlreg *r, const char *service, const struct adapter_result *res)
{
	snapshot_end(r);
	/* Close only after the statements are done with: the next call opens
	 * the file afresh. */
	if (r->reopen)
		sqlreg_close(r);
	if (res->status != ADAPTER_OK)
		sqlreg_log(r, ADAPTER_LOG_DEBUG, "%s: %s", service ? service : "-",
			   adapter_status_name(res->status));
	r->reqid = NULL;
}

sqlite3_stmt *sqlreg_stmt(struct sqlreg *r, size_t i)
{
	sqlite3_stmt *st = r->db != NULL && i < r->d->n_sql ? r->st[i] : NULL;

	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return st;
}

sqlite3_stmt *sqlreg_bind(struct sqlreg *r, size_t i, size_t n, const char *const *vals)
{
	sqlite3_stmt *st = sqlreg_stmt(r, i);

	for (size_t k = 0; st != NULL && k < n; k++) {
		int rc = vals[k] ? sqlite3_bind_text(st, (int)k + 1, vals[k], -1, SQLITE_TRANSIENT) :
				   sqlite3_bind_null(st, (int)k + 1);

		if (rc != SQLITE_OK)
			return NULL;
	}
	return st;
}

void sqlreg_reopen(struct sqlreg *r)
{
	r->reopen = 1;
}

sqlite3 *sqlreg_db(struct sqlreg *r)
{
	return r->db;
}

void sqlreg_fail(struct sqlreg *r, struct adapter_result *res)
{
	int rc = r->db ? sqlite3_errcode(r->db) & 0xff : SQLITE_CANTOPEN;
	const char *msg = r->d->query_failed ? r->d->query_failed : r->d->unavailable;

	sqlreg_log(r, ADAPTER_LOG_ERROR, "%s db %s: %s", r->d->label, r->db_path,
		   r->db ? sqlite3_errmsg(r->db) : "not open");
	/* A broken file is reopened; a query that failed on a good file (a lock,
	 * a table gone) leaves the connection and its other statements be. */
	if (r->d->reopen_on_any_error || rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ||
	    rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
		r->reopen = 1;
	if (r->d->busy != NULL && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED))
		msg = r->d->busy;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", msg);
}

int sqlreg_step(struct sqlreg *r, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		sqlreg_fail(r, res);   /* before the reset, which may change the message */
	if (st != NULL)
		sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- rows to JSON --------------------------------------------------------- */

json_t *sqlreg_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

int sqlreg_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, int first, int n)
{
	int bad = 0;

	for (int k = 0; k < n; k++)
		bad |= json_object_set_new(o, keys[k], sqlreg_col(st, first + k));
	return bad ? -1 : 0;
}

int sqlreg_ctx_init(const struct sqlreg_desc *desc, const struct adapter_host *host, void **vctx,
		    char **err)
{
	struct sqlreg_ctx *c = calloc(1, sizeof(*c));

	*err = NULL;
	*vctx = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	if (sqlreg_new(desc, host, &c->reg, err) != 0) {
		sqlreg_free(&c->reg);
		free(c);
		return -1;
	}
	sqlreg_start(c->reg);
	*vctx = c;
	return 0;
}

void sqlreg_ctx_free(void *vctx)
{
	struct sqlreg_ctx *c = vctx;

	if (c == NULL)
		return;
	sqlreg_free(&c->reg);
	free(c);
}

void sqlreg_dispatch(const struct sqlreg_dispatch *d, struct sqlreg_ctx *c, const struct adapter_call *call,
		     adapter_done_fn done, void *arg)
{
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	sqlreg_call_begin(c->reg, call->message_id);
	for (i = 0; i < d->n; i++)
		if (call->service_code != NULL && strcmp(call->service_code, d->services[i].code) == 0)
			break;
	if (i == d->n && d->unknown_names_code)
		adapter_result_error(&res, d->unknown_status, "%s '%.64s'", d->unknown,
				     call->service_code ? call->service_code : "");
	else if (i == d->n)
		adapter_result_error(&res, d->unknown_status, "%s", d->unknown);
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     d->services[i].code);
	else if (sqlreg_ready(c->reg, &res) == 0) {
		params_track_begin();
		d->handlers[i](c, call, &res);
		params_unread(call->params, d->services[i].code, &res);
	}
	sqlreg_call_end(c->reg, call->service_code, &res);
	done(&res, arg);
}
