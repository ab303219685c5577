/* A registry kept in a local SQLite file: the plumbing every such adapter
 * shares, so that each adapter is only its queries and its answers.
 *
 * One `struct sqlreg` per worker thread (the adapter's ctx holds it). It
 * reads the adapter's config keys db / sql_dir / busy_timeout_ms, opens the
 * file in WAL mode, creates it when it is new (a copy of the seed database
 * the build made from sql_dir/schema.sql + seed.sql, sqlseed.h) or empty
 * (from those files), refuses a file that is some other application's database,
 * prepares the adapter's statements once (SQLITE_PREPARE_PERSISTENT), and
 * turns every failure into ADAPTER_UNAVAILABLE for the caller and a log line
 * with the reason for the operator.
 *
 * Availability: a database that cannot be opened never stops the gateway.
 * Only configuration errors fail (sqlreg_new); sqlreg_start tries the open
 * at init, and every call that needs the database tries it again while it
 * is closed, so a registry on a disk that comes back works again without a
 * restart. The outage is logged once as an error (then at debug
 * level per call) and its end once. A query that fails answers
 * "unavailable"; the connection is closed after the call (sqlreg_call_end)
 * when the file looks broken (corrupt, not a database, I/O error, cannot
 * open), or after any failure when the descriptor asks for it.
 *
 * Creating: several workers may start at once on a new file. A copy of the
 * seed database gets the file's name by link(), which only one of them
 * wins; the others open the winner's. Without one, the check and the
 * creation run inside BEGIN IMMEDIATE, so exactly one of them finds it
 * empty and loads schema + seed; the others wait (busy_timeout_ms) and find
 * it full. Half a database is never left behind: a failed load rolls back,
 * a failed copy is removed before it has the file's name.
 *
 * Typical use (see adapters/README.md, "Adding an adapter"):
 *   init:   sqlreg_new(&desc, host, &c->reg, err); then sqlreg_start(c->reg);
 *   handle: sqlreg_call_begin(c->reg, call->message_id);
 *           if (sqlreg_ready(c->reg, &res) == 0) ... queries ...;
 *           sqlreg_call_end(c->reg, call->service_code, &res); done(&res, arg);
 *   query:  st = SQLREG_BIND(c->reg, ST_X, a, b);
 *           while ((rc = sqlreg_step(c->reg, st, res)) == 1) ... columns ...;
 *           if (rc < 0) return -1;   (res is set: unavailable)
 *   free:   sqlreg_free(&c->reg);
 */
#ifndef AILGATE_ADAPTERS_COMMON_SQLREG_H
#define AILGATE_ADAPTERS_COMMON_SQLREG_H

#include "adapters/adapter.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

#define SQLREG_PATH_MAX 1024         /* db and sql_dir, bytes with the NUL */
#define SQLREG_BUSY_MS_DEFAULT 1000  /* a call blocks its worker's loop: keep the wait short */
#define SQLREG_BUSY_MS_MAX 60000

/* What one registry is. Static data of the adapter; it must outlive every
 * sqlreg made from it. */
struct sqlreg_desc {
	const char *name;         /* the adapter's name: config section [adapter.NAME] (in
				     init errors) and the default sql_dir,
				     <source dir>/adapters/NAME */
	const char *db_file;      /* default database file under data_dir: "household.db" */
	const char *label;        /* the registry in log lines: "household register" */
	const char *kind;         /* what a foreign file is not: "a household register" */
	const char *ours;         /* a table only this registry's schema has: a file
				     with tables but without this one is refused */
	const char *const *sql;   /* statements prepared at each open, in order */
	size_t n_sql;
	const char *pragmas;      /* run after journal_mode=WAL at each open, or NULL
				     ("PRAGMA foreign_keys=ON", "PRAGMA synchronous=FULL") */
	int query_only;           /* after creating, the connection cannot write */
	int reopen_on_any_error;  /* close after any failed query, not only when the
				     file looks broken */
	const char *unavailable;  /* the caller's message when the database cannot be
				     opened (and, unless set below, when a query fails) */
	const char *query_failed; /* the caller's message when a query fails, or NULL */
	const char *busy;         /* ... when it fails on another writer's lock, or NULL */
};

struct sqlreg;

/* Reads the configuration through host->config (host is copied; its ctx and
 * data_dir must outlive the sqlreg): db (default data_dir/db_file), sql_dir,
 * busy_timeout_ms (0..60000, default 1000). Opens nothing. 0 with *out (free
 * with sqlreg_free), or -1 with *err, a sentence naming [adapter.NAME] and
 * the key (caller frees; NULL if out of memory even for that). */
int sqlreg_new(const struct sqlreg_desc *desc, const struct adapter_host *host,
	       struct sqlreg **out, char **err) __attribute__((warn_unused_result));

/* Closes the connection and frees *r; sets *r to NULL. NULL is fine. */
void sqlreg_free(struct sqlreg **r);

/* Marks the start of an adapter call: log lines until sqlreg_call_end carry
 * reqid (borrowed for the call; may be NULL). */
void sqlreg_call_begin(struct sqlreg *r, const char *reqid);

/* Marks its end: closes the connection if a query asked for it, so that the
 * next call opens the file afresh; logs a non-OK outcome at debug level
 * (service may be NULL). Call it before done(): statements are not touched
 * after it. */
void sqlreg_call_end(struct sqlreg *r, const char *service, const struct adapter_result *res);

/* Opens the database if it is closed (creating it if new). 0 when open; -1
 * when it cannot be, with the reason logged and, if res is not NULL, res set
 * to ADAPTER_UNAVAILABLE with desc->unavailable. init calls it with NULL. */
int sqlreg_ready(struct sqlreg *r, struct adapter_result *res) __attribute__((warn_unused_result));

/* Per-worker state of an adapter that needs nothing beyond its register, and
 * the ops table's init and free for it: init allocates the context, reads
 * the configuration (a bad key fails init) and tries the open once (a
 * database that cannot be opened does not: calls answer "unavailable" and
 * retry). *vctx is NULL on failure; free takes NULL. */
struct sqlreg_ctx {
	struct sqlreg *reg;
};
int sqlreg_ctx_init(const struct sqlreg_desc *desc, const struct adapter_host *host, void **vctx,
		    char **err) __attribute__((warn_unused_result));
void sqlreg_ctx_free(void *vctx);

/* A service of such an adapter: fills res for call (the register is open). */
typedef void (*sqlreg_handler_fn)(struct sqlreg_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res);

/* An adapter whose services all answer GET (REST) or POST (SOAP):
 * handlers[i] serves services[i]. */
struct sqlreg_dispatch {
	const struct adapter_service *services;
	const sqlreg_handler_fn *handlers;
	size_t n;
	enum adapter_status unknown_status;  /* for a service code it does not have */
	const char *unknown;                 /* the sentence for it, e.g. "... has no such service" */
	int unknown_names_code;              /* append " 'CODE'" to that sentence */
};

/* The ops table's handle for such an adapter: finds the service, refuses an
 * unknown code or another method, opens the register, runs the handler and
 * reports through done (once, before returning). */
void sqlreg_dispatch(const struct sqlreg_dispatch *d, struct sqlreg_ctx *c, const struct adapter_call *call,
		     adapter_done_fn done, void *arg);

/* At init: tries the open once, so that a new file is created before the
 * first call and an outage is logged at start-up. Never fails: calls retry. */
void sqlreg_start(struct sqlreg *r);

/* Statement i of desc->sql, reset and with its bindings cleared; NULL while
 * the database is closed or i is out of range (sqlreg_step treats a NULL
 * statement as a failed query). Borrowed: valid until sqlreg_call_end. */
sqlite3_stmt *sqlreg_stmt(struct sqlreg *r, size_t i);

/* The same with the texts vals[0..n-1] bound to ?1..?n (copied; NULL binds
 * SQL NULL). NULL if the statement is missing or a value cannot be bound. */
sqlite3_stmt *sqlreg_bind(struct sqlreg *r, size_t i, size_t n, const char *const *vals);

/* sqlreg_bind with the values as arguments: SQLREG_BIND(r, ST_X, pin, on). */
#define SQLREG_BIND(r, i, ...)                                                           \
	sqlreg_bind((r), (i), sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *), \
		    (const char *const[]){ __VA_ARGS__ })

/* Steps st: 1 a row is there; 0 done (st reset); -1 the query failed: st
 * reset, res set by sqlreg_fail. st may be NULL (a failed bind). */
int sqlreg_step(struct sqlreg *r, sqlite3_stmt *st, struct adapter_result *res);

/* A query failed: logs SQLite's message, decides whether to reopen (see
 * above), and sets res to ADAPTER_UNAVAILABLE, dropping any res->data built
 * so far (json_decref; res->data is NULL after). Call before resetting the
 * statement that failed, whose message it reports. */
void sqlreg_fail(struct sqlreg *r, struct adapter_result *res);

/* Asks for the connection to be closed at the end of the call (an adapter
 * that could not roll back its own transaction). */
void sqlreg_reopen(struct sqlreg *r);

/* The open connection (NULL while closed), for what the helpers above do not
 * cover (transactions, sqlite3_get_autocommit). Borrowed. */
sqlite3 *sqlreg_db(struct sqlreg *r);

/* One log line through the host, with the request id of the call. */
void sqlreg_log(struct sqlreg *r, enum adapter_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- rows to JSON ------------------------------------------------------- */

/* Column i as JSON: text as a string, SQL NULL as null. NULL (failure) if
 * the stored text is not UTF-8. Caller owns the value. */
json_t *sqlreg_col(sqlite3_stmt *st, int i);

/* Sets o[keys[k]] = column first + k for k < n. 0, or -1 if one failed. */
int sqlreg_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, int first, int n)
	__attribute__((warn_unused_result));

#endif
