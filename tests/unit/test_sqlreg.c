/* adapters/common/sqlreg: a registry in a local SQLite file, tested with a
 * tiny registry of its own ("things": schema.sql + seed.sql written into a
 * temp dir), through the same fake host the adapter tests use: creating,
 * reopening, refusing a foreign file, an outage and its end, the reopen
 * policies, the caller's messages, and two workers creating one file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "adapters/common/sqlreg.h"
#include "adapter_test.h"

#define SEED_THINGS 20000   /* big enough that two creators would overlap */

static const char schema_sql[] =
	"CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT);\n"
	"CREATE TABLE notes (id INTEGER PRIMARY KEY, thing INTEGER REFERENCES things(id));\n";
static const char seed_sql[] =
	"INSERT INTO things (name, kind) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
	" SELECT x + 1 FROM c WHERE x < 20000) SELECT 'thing ' || x, NULL FROM c;\n"
	"UPDATE things SET kind = 'first' WHERE id = 1;\n";

enum { ST_BY_ID, ST_NOTE, ST_ADD, ST_FK, ST_COUNT };

static const char *const thing_sql[ST_COUNT] = {
	[ST_BY_ID] = "SELECT name, kind FROM things WHERE id = ?1",
	[ST_NOTE] = "SELECT count(*) FROM notes",
	[ST_ADD] = "INSERT INTO things (name) VALUES (?1)",
	[ST_FK] = "PRAGMA foreign_keys",
};

#define UNAVAILABLE "the thing register is unavailable; try again later"
#define QUERY_FAILED "the thing register failed a query; try again later"
#define BUSY "the thing register is busy; try again later"

/* Keeps the connection when a query fails on a good file. */
static const struct sqlreg_desc keep_desc = {
	.name = "things",
	.db_file = "things.db",
	.label = "thing register",
	.kind = "a thing register",
	.ours = "things",
	.sql = thing_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA foreign_keys=ON",
	.unavailable = UNAVAILABLE,
	.busy = BUSY,
};

/* Read-only, closed after any failed query, its own message for those. */
static const struct sqlreg_desc strict_desc = {
	.name = "things",
	.db_file = "things.db",
	.label = "thing register",
	.kind = "a thing register",
	.ours = "things",
	.sql = thing_sql,
	.n_sql = ST_COUNT,
	.query_only = 1,
	.reopen_on_any_error = 1,
	.unavailable = UNAVAILABLE,
	.query_failed = QUERY_FAILED,
};

/* ---- fixture: a temp dir with the SQL files in sql/ ------------------------- */

struct sfix {
	struct fixture fx;            /* dir, db (dir/things.db), fake host */
	char sql_dir[128];
};

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void write_sql(const char *dir, const char *schema, const char *seed)
{
	char path[256];

	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/schema.sql", dir);
	write_text(path, schema);
	snprintf(path, sizeof(path), "%s/seed.sql", dir);
	write_text(path, seed);
}

static int setup(void **state)
{
	struct sfix *s = calloc(1, sizeof(*s));

	if (s == NULL || temp_dir(s->fx.dir, sizeof(s->fx.dir), "sqlreg") != 0)
		return -1;
	snprintf(s->fx.db, sizeof(s->fx.db), "%s/things.db", s->fx.dir);
	snprintf(s->sql_dir, sizeof(s->sql_dir), "%s/sql", s->fx.dir);
	write_sql(s->sql_dir, schema_sql, seed_sql);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sfix *s = *state;

	rm_rf(s->fx.dir);
	free(s);
	return 0;
}

/* A fresh fake host with sql_dir set (and db, if not NULL); a new sqlreg. */
static struct sqlreg *reg_new(struct sfix *s, const struct sqlreg_desc *d, const char *db)
{
	struct sqlreg *r = NULL;
	char *err = NULL;

	host_init(&s->fx);
	fake_set(&s->fx.fh, "sql_dir", s->sql_dir);
	if (db != NULL)
		fake_set(&s->fx.fh, "db", db);
	assert_int_equal(sqlreg_new(d, &s->fx.host, &r, &err), 0);
	assert_null(err);
	assert_non_null(r);
	return r;
}

/* Looks thing id up: 1 found (name into out), 0 not, -1 res unavailable. */
static int thing_name(struct sqlreg *r, const char *id, char *out, size_t cap,
		      struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(r, ST_BY_ID, id);
	int rc = sqlreg_step(r, st, res);

	if (rc == 1) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	return rc;
}

/* ---- configuration ---------------------------------------------------------- */

static void test_config(void **state)
{
	static const struct {
		const char *key, *val, *err;   /* err NULL: accepted */
	} cases[] = {
		{ "busy_timeout_ms", "abc",
		  "[adapter.things] busy_timeout_ms: 'abc' is not a number of milliseconds 0..60000" },
		{ "busy_timeout_ms", "-1", "busy_timeout_ms: '-1'" },
		{ "busy_timeout_ms", "60001", "busy_timeout_ms: '60001'" },
		{ "busy_timeout_ms", "12x", "busy_timeout_ms: '12x'" },
		{ "busy_timeout_ms", "99999999999999999999", "busy_timeout_ms" },
		{ "busy_timeout_ms", "0", NULL },
		{ "busy_timeout_ms", "60000", NULL },
		{ "busy_timeout_ms", "", NULL },            /* empty: the default */
		{ "db", "/tmp/x.db", NULL },
	};
	struct sfix *s = *state;
	char longpath[1100];
	struct sqlreg *r = NULL;
	char *err = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		host_init(&s->fx);
		fake_set(&s->fx.fh, cases[i].key, cases[i].val);
		if (cases[i].err == NULL) {
			assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &err), 0);
			assert_null(err);
			sqlreg_free(&r);
			assert_null(r);
			continue;
		}
		assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &err), -1);
		assert_null(r);
		if (err == NULL || strstr(err, cases[i].err) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err ? err : "(null)", cases[i].err);
		free(err);
		err = NULL;
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	for (int k = 0; k < 2; k++) {
		host_init(&s->fx);
		fake_set(&s->fx.fh, k ? "sql_dir" : "db", longpath);
		assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &err), -1);
		assert_string_equal(err, "[adapter.things] db, sql_dir: path too long (max 1023 bytes)");
		free(err);
		err = NULL;
	}
	/* no config function at all, no data_dir: ./things.db; nothing opened */
	s->fx.host.config = NULL;
	s->fx.host.data_dir = NULL;
	assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &err), 0);
	assert_null(sqlreg_db(r));
	sqlreg_free(&r);
	sqlreg_free(&r);   /* NULL is fine */
}

/* ---- creating and reopening --------------------------------------------------- */

static void test_create(void **state)
{
	struct sfix *s = *state;
	struct sqlreg *r = reg_new(s, &keep_desc, NULL);   /* default: data_dir/things.db */
	struct adapter_result res;
	sqlite3_stmt *st;
	char name[64];
	json_t *o;

	memset(&res, 0, sizeof(res));
	assert_null(sqlreg_db(r));
	sqlreg_start(r);
	assert_non_null(sqlreg_db(r));
	assert_int_equal(s->fx.fh.n_errors, 0);
	assert_non_null(strstr(s->fx.fh.last_log, "thing register: created "));
	assert_non_null(strstr(s->fx.fh.last_log, "/things.db from "));
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
	/* the statements work, values bound (an injection-shaped id is a value) */
	sqlreg_call_begin(r, "req-1");
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_int_equal(thing_name(r, "20000", name, sizeof(name), &res), 1);
	assert_string_equal(name, "thing 20000");
	assert_int_equal(thing_name(r, "1 OR 1=1", name, sizeof(name), &res), 0);
	/* rows to JSON: text, and SQL NULL as null */
	st = SQLREG_BIND(r, ST_BY_ID, "2");
	assert_int_equal(sqlreg_step(r, st, &res), 1);
	o = json_object();
	assert_int_equal(sqlreg_cols(o, st, (const char *const[]){ "name", "kind" }, 0, 2), 0);
	assert_string_equal(jstr(o, "name"), "thing 2");
	assert_jnull(o, "kind");
	sqlite3_reset(st);
	json_decref(o);
	/* pragmas of the descriptor are applied */
	st = sqlreg_stmt(r, ST_FK);
	assert_int_equal(sqlreg_step(r, st, &res), 1);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_reset(st);
	assert_null(sqlreg_stmt(r, ST_COUNT));   /* out of range */
	sqlreg_call_end(r, "things", &res);
	assert_int_equal(res.status, ADAPTER_OK);
	sqlreg_free(&r);
}

/* A second worker on the existing file: nothing is created again. */
static void test_reopen_existing(void **state)
{
	struct sfix *s = *state;
	struct sqlreg *r = reg_new(s, &keep_desc, NULL), *r2;
	struct adapter_result res;
	char name[64];

	memset(&res, 0, sizeof(res));
	sqlreg_start(r);
	r2 = reg_new(s, &strict_desc, NULL);
	sqlreg_start(r2);
	assert_non_null(sqlreg_db(r2));
	assert_null(strstr(s->fx.fh.last_log, "created"));
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
	/* asked to reopen: closed at the end of the call, open again at the next */
	sqlreg_reopen(r2);
	sqlreg_call_end(r2, NULL, &res);
	assert_null(sqlreg_db(r2));
	assert_int_equal(sqlreg_ready(r2, &res), 0);
	assert_int_equal(thing_name(r2, "7", name, sizeof(name), &res), 1);
	assert_string_equal(name, "thing 7");
	/* query_only: the strict registry cannot write */
	assert_int_equal(sqlreg_step(r2, SQLREG_BIND(r2, ST_ADD, "x"), &res), -1);
	assert_int_equal(res.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(res.message, QUERY_FAILED);
	assert_non_null(strstr(s->fx.fh.last_error, "readonly"));
	sqlreg_free(&r2);
	sqlreg_free(&r);
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
}

/* A registry that only reads answers each call from one snapshot: a change
 * another process commits between two queries of one call shows in the
 * next call, not halfway through this one. */
static void test_snapshot_per_call(void **state)
{
	struct sfix *s = *state;
	struct sqlreg *r = reg_new(s, &strict_desc, NULL);
	struct adapter_result res;
	sqlite3 *h = NULL;
	char name[64];

	memset(&res, 0, sizeof(res));
	sqlreg_start(r);
	assert_int_equal(sqlite3_open(s->fx.db, &h), SQLITE_OK);
	sqlreg_call_begin(r, "req-1");
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_int_equal(thing_name(r, "7", name, sizeof(name), &res), 1);
	assert_string_equal(name, "thing 7");
	assert_int_equal(sqlite3_exec(h, "UPDATE things SET name = 'renamed' WHERE id = 7", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(thing_name(r, "7", name, sizeof(name), &res), 1);
	assert_string_equal(name, "thing 7");   /* the call's snapshot */
	sqlreg_call_end(r, "things", &res);
	sqlreg_call_begin(r, "req-2");
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_int_equal(thing_name(r, "7", name, sizeof(name), &res), 1);
	assert_string_equal(name, "renamed");
	sqlreg_call_end(r, "things", &res);
	/* No transaction is left open between calls: the other connection
	 * can write (and checkpoint) at once. */
	assert_non_null(sqlreg_db(r));
	assert_true(sqlite3_get_autocommit(sqlreg_db(r)));
	assert_int_equal(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	sqlreg_free(&r);

	/* A registry that writes keeps its own transactions: the end of a call
	 * neither commits nor ends one the adapter left open (its error path
	 * rolls back, or closes the connection, which does). */
	r = reg_new(s, &keep_desc, NULL);
	sqlreg_start(r);
	sqlreg_call_begin(r, "req-3");
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_int_equal(sqlite3_exec(sqlreg_db(r), "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlreg_step(r, SQLREG_BIND(r, ST_ADD, "half-done"), &res), 0);
	sqlreg_call_end(r, "things", &res);
	assert_false(sqlite3_get_autocommit(sqlreg_db(r)));
	assert_int_equal(sqlite3_exec(sqlreg_db(r), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlreg_free(&r);
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
}

/* ---- refusing files that are not ours -------------------------------------------- */

static void expect_refused(struct sfix *s, const char *db, const char *why)
{
	struct sqlreg *r = reg_new(s, &keep_desc, db);
	struct adapter_result res;

	memset(&res, 0, sizeof(res));
	res.data = json_object();   /* dropped, not leaked */
	sqlreg_start(r);
	assert_int_equal(s->fx.fh.n_errors, 1);
	if (strstr(s->fx.fh.last_error, why) == NULL)
		fail_msg("'%s' lacks '%s'", s->fx.fh.last_error, why);
	assert_int_equal(sqlreg_ready(r, &res), -1);
	assert_int_equal(res.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(res.message, UNAVAILABLE);
	assert_null(res.data);
	assert_null(strstr(res.message, s->fx.dir));   /* no server paths to the caller */
	sqlreg_free(&r);
}

static void test_foreign_refused(void **state)
{
	struct sfix *s = *state;
	char db[160];

	snprintf(db, sizeof(db), "%s/other.db", s->fx.dir);
	db_exec(db, "CREATE TABLE other (x); INSERT INTO other VALUES (1)");
	expect_refused(s, db, "has tables but no 'things': it is not a thing register");
	assert_int_equal(db_count(db, "other"), 1);
	assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_master"), 1);
	/* our table, but not our columns: refused when the statements do not fit */
	snprintf(db, sizeof(db), "%s/odd.db", s->fx.dir);
	db_exec(db, "CREATE TABLE things (x)");
	expect_refused(s, db, "is not a thing register: no such column");
	/* not a database at all */
	snprintf(db, sizeof(db), "%s/junk.db", s->fx.dir);
	write_text(db, "this is not an SQLite database, it is a text file, long enough to tell.\n");
	expect_refused(s, db, "cannot use");
}

/* No SQL files, or a seed that fails: nothing half-built is left behind, and
 * the empty file is filled once the files are right. */
static void test_bad_sql_rolled_back(void **state)
{
	struct sfix *s = *state;
	char bad[160];
	struct sqlreg *r;

	snprintf(bad, sizeof(bad), "%s/bad", s->fx.dir);
	write_sql(bad, schema_sql, "INSERT INTO things (name) VALUES ('a');\nINSERT INTO nowhere VALUES (1);\n");
	host_init(&s->fx);
	fake_set(&s->fx.fh, "sql_dir", bad);
	assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &(char *){ NULL }), 0);
	sqlreg_start(r);
	assert_non_null(strstr(s->fx.fh.last_error, "/bad/seed.sql: no such table: nowhere"));
	assert_null(sqlreg_db(r));
	sqlreg_free(&r);
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM sqlite_master"), 0);

	snprintf(bad, sizeof(bad), "%s/none", s->fx.dir);
	host_init(&s->fx);
	fake_set(&s->fx.fh, "sql_dir", bad);
	assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &(char *){ NULL }), 0);
	sqlreg_start(r);
	assert_non_null(strstr(s->fx.fh.last_error, "cannot read"));
	assert_non_null(strstr(s->fx.fh.last_error, "/none/schema.sql"));
	sqlreg_free(&r);
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM sqlite_master"), 0);

	r = reg_new(s, &keep_desc, NULL);
	sqlreg_start(r);
	assert_int_equal(s->fx.fh.n_errors, 0);
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
	sqlreg_free(&r);
}

/* ---- an outage and its end -------------------------------------------------------- */

static void test_missing_dir_then_back(void **state)
{
	struct sfix *s = *state;
	struct adapter_result res;
	char later[128], db[192], name[64];
	struct sqlreg *r;

	snprintf(later, sizeof(later), "%s/later", s->fx.dir);
	snprintf(db, sizeof(db), "%s/things.db", later);
	r = reg_new(s, &keep_desc, db);
	sqlreg_call_begin(r, "req-down");
	for (int i = 0; i < 3; i++) {
		memset(&res, 0, sizeof(res));
		assert_int_equal(sqlreg_ready(r, &res), -1);
		assert_int_equal(res.status, ADAPTER_UNAVAILABLE);
		assert_string_equal(res.message, UNAVAILABLE);
	}
	/* logged once as an error, then at debug level per call */
	assert_int_equal(s->fx.fh.n_errors, 1);
	assert_non_null(strstr(s->fx.fh.last_error, "thing register unavailable: cannot open "));
	sqlreg_call_end(r, "things", &res);
	assert_non_null(strstr(s->fx.fh.last_log, "things: registry_unavailable"));

	assert_int_equal(mkdir(later, 0700), 0);
	memset(&res, 0, sizeof(res));
	sqlreg_call_begin(r, "req-up");
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "is available again"));
	assert_int_equal(thing_name(r, "3", name, sizeof(name), &res), 1);
	assert_string_equal(name, "thing 3");
	sqlreg_call_end(r, "things", &res);
	assert_int_equal(s->fx.fh.n_errors, 1);
	assert_int_equal(db_count(db, "things"), SEED_THINGS);
	sqlreg_free(&r);
}

/* ---- failed queries: the two reopen policies ---------------------------------------- */

static void drop_notes_and_query(struct sfix *s, struct sqlreg *r, struct adapter_result *res)
{
	sqlite3_stmt *st;

	memset(res, 0, sizeof(*res));
	res->data = json_object();   /* a half-built answer: dropped */
	sqlreg_call_begin(r, "req-q");
	assert_int_equal(sqlreg_ready(r, res), 0);
	db_exec(s->fx.db, "ALTER TABLE notes RENAME TO notes_gone");
	st = sqlreg_stmt(r, ST_NOTE);
	assert_int_equal(sqlreg_step(r, st, res), -1);
	assert_null(res->data);
	assert_non_null(strstr(s->fx.fh.last_error, "no such table: notes"));
	sqlreg_call_end(r, "things", res);
}

/* A table gone under a connection that keeps going: the other statements
 * still answer, and the one that failed works again once the table is back. */
static void test_failed_query_keeps_connection(void **state)
{
	struct sfix *s = *state;
	struct sqlreg *r = reg_new(s, &keep_desc, NULL);
	struct adapter_result res;
	char name[64];

	sqlreg_start(r);
	drop_notes_and_query(s, r, &res);
	assert_int_equal(res.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(res.message, UNAVAILABLE);   /* no query_failed: the same */
	assert_non_null(sqlreg_db(r));
	memset(&res, 0, sizeof(res));
	assert_int_equal(thing_name(r, "5", name, sizeof(name), &res), 1);
	db_exec(s->fx.db, "ALTER TABLE notes_gone RENAME TO notes");
	assert_int_equal(sqlreg_step(r, sqlreg_stmt(r, ST_NOTE), &res), 1);
	sqlreg_free(&r);
}

/* The strict policy closes after the call; reopening needs every statement,
 * so the registry is unavailable until the table is back. */
static void test_failed_query_closes(void **state)
{
	struct sfix *s = *state;
	struct sqlreg *r = reg_new(s, &strict_desc, NULL);
	struct adapter_result res;
	char name[64];

	sqlreg_start(r);
	drop_notes_and_query(s, r, &res);
	assert_string_equal(res.message, QUERY_FAILED);
	assert_null(sqlreg_db(r));
	memset(&res, 0, sizeof(res));
	assert_int_equal(sqlreg_ready(r, &res), -1);
	assert_non_null(strstr(s->fx.fh.last_error, "is not a thing register: no such table: notes"));
	db_exec(s->fx.db, "ALTER TABLE notes_gone RENAME TO notes");
	memset(&res, 0, sizeof(res));
	assert_int_equal(sqlreg_ready(r, &res), 0);
	assert_int_equal(thing_name(r, "5", name, sizeof(name), &res), 1);
	/* a failed bind counts as a failed query */
	assert_int_equal(sqlreg_step(r, NULL, &res), -1);
	assert_string_equal(res.message, QUERY_FAILED);
	sqlreg_free(&r);
}

/* Another writer holds the file: the write waits busy_timeout_ms, then the
 * caller hears the busy message and the connection stays. */
static void test_busy(void **state)
{
	struct sfix *s = *state;
	struct adapter_result res;
	struct timespec t0, t1;
	sqlite3 *h = NULL;
	struct sqlreg *r;
	double ms;

	host_init(&s->fx);
	fake_set(&s->fx.fh, "sql_dir", s->sql_dir);
	fake_set(&s->fx.fh, "busy_timeout_ms", "50");
	assert_int_equal(sqlreg_new(&keep_desc, &s->fx.host, &r, &(char *){ NULL }), 0);
	sqlreg_start(r);
	assert_int_equal(sqlite3_open(s->fx.db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	memset(&res, 0, sizeof(res));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sqlreg_step(r, SQLREG_BIND(r, ST_ADD, "late"), &res), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms >= 40 && ms < 2000);
	assert_string_equal(res.message, BUSY);
	sqlreg_call_end(r, NULL, &res);
	assert_non_null(sqlreg_db(r));
	assert_int_equal(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	memset(&res, 0, sizeof(res));
	assert_int_equal(sqlreg_step(r, SQLREG_BIND(r, ST_ADD, "late"), &res), 0);
	sqlreg_free(&r);
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS + 1);
}

/* ---- two workers creating one new file at once ----------------------------------- */

struct creator {
	struct sfix *s;
	struct fixture fx;            /* its own fake host */
	pthread_barrier_t *go;
	int rc;
};

static void *create_thread(void *arg)
{
	struct creator *c = arg;
	struct sqlreg *r = NULL;
	char *err = NULL;

	c->fx.host = (struct adapter_host){ .ctx = &c->fx.fh, .log = fake_log, .config = fake_config,
					    .data_dir = c->s->fx.dir };
	c->fx.fh.keys[0] = "sql_dir";
	c->fx.fh.vals[0] = c->s->sql_dir;
	c->fx.fh.keys[1] = "busy_timeout_ms";
	c->fx.fh.vals[1] = "10000";
	c->fx.fh.n = 2;
	c->rc = sqlreg_new(&keep_desc, &c->fx.host, &r, &err);
	pthread_barrier_wait(c->go);
	if (c->rc == 0)
		c->rc = sqlreg_ready(r, NULL);
	sqlreg_free(&r);
	free(err);
	return NULL;
}

static void test_concurrent_create(void **state)
{
	struct sfix *s = *state;
	struct creator c[2];
	pthread_barrier_t go;
	pthread_t t[2];
	int created = 0;

	memset(c, 0, sizeof(c));
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		c[i].s = s;
		c[i].go = &go;
		assert_int_equal(pthread_create(&t[i], NULL, create_thread, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++) {
		if (c[i].rc != 0)
			fail_msg("creator %d: %s", i, c[i].fx.fh.last_error);
		assert_int_equal(c[i].fx.fh.n_errors, 0);
		created += strstr(c[i].fx.fh.last_log, "created") != NULL;
	}
	/* one of them seeded it, the other found it full */
	assert_int_equal(created, 1);
	assert_int_equal(db_count(s->fx.db, "things"), SEED_THINGS);
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM things WHERE kind = 'first'"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_per_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sql_rolled_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_then_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_query_keeps_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_query_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
