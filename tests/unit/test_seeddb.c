/* adapters/common/sqlseed: seed databases. That the one the build made for
 * every adapter gives exactly what its schema.sql + seed.sql give through
 * the adapter's own first start (a dump of both compared); and, with a tiny
 * registry of its own, what a first start does with one: copies it, leaves
 * an existing register alone, ignores one built from other SQL or one
 * without its digest, does not copy beside a WAL left behind, lets one of
 * two workers copy it, runs what reads the clock or draws a number at the
 * first start (the resume point), and a build that fails leaves nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>

#include <openssl/evp.h>

#include "adapters/common/sqlreg.h"
#include "adapters/common/sqlseed.h"
#include "adapter_test.h"

#ifndef AILGATE_SEEDDB_DIR
#error "AILGATE_SEEDDB_DIR: adapters/CMakeLists.txt defines it"
#endif

/* ---- a dump of a database: its schema and every row, as a digest --------------- */

struct dump {
	unsigned char md[32];
	long long rows;
	int objects;
};

static void dump_text(EVP_MD_CTX *c, const void *p, size_t n)
{
	uint64_t len = n;

	/* the length first: values that run together stay apart */
	assert_int_equal(EVP_DigestUpdate(c, &len, sizeof(len)), 1);
	assert_int_equal(EVP_DigestUpdate(c, p, n), 1);
}

static void dump_table(sqlite3 *h, EVP_MD_CTX *c, const char *table, struct dump *d)
{
	char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	/* A full scan visits rows in rowid (or primary key) order: the same
	 * rows inserted the same way come out in the same order. */
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			unsigned char type = (unsigned char)sqlite3_column_type(st, i);
			const void *v = sqlite3_column_blob(st, i);

			dump_text(c, &type, 1);
			dump_text(c, v, (size_t)sqlite3_column_bytes(st, i));
		}
		d->rows++;
	}
	sqlite3_finalize(st);
	sqlite3_free(sql);
}

/* Every object of sqlite_master (tables, indexes, triggers, views) with its
 * SQL, the rows of every table, and the header values a schema may set. */
static struct dump dump_db(const char *db)
{
	static const char *const ints[] = { "PRAGMA user_version", "PRAGMA application_id",
					     "PRAGMA foreign_key_check" };
	struct dump d = { .rows = 0 };
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	sqlite3_stmt *st = NULL;
	sqlite3 *h = NULL;
	unsigned int n = 0;

	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT type, name, tbl_name, ifnull(sql, '') FROM "
					    "sqlite_master ORDER BY type, name", -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < 4; i++)
			dump_text(c, sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
		if (strcmp((const char *)sqlite3_column_text(st, 0), "table") == 0)
			dump_table(h, c, (const char *)sqlite3_column_text(st, 1), &d);
		d.objects++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		assert_int_equal(sqlite3_prepare_v2(h, ints[i], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			dump_text(c, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		sqlite3_finalize(st);
	}
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(h);
	assert_int_equal(EVP_DigestFinal_ex(c, d.md, &n), 1);
	EVP_MD_CTX_free(c);
	return d;
}

static void assert_same_dump(const char *a, const char *b)
{
	struct dump da = dump_db(a), db = dump_db(b);

	assert_true(da.objects > 0);
	assert_true(da.rows > 0);
	assert_int_equal(da.objects, db.objects);
	assert_int_equal(da.rows, db.rows);
	if (memcmp(da.md, db.md, sizeof(da.md)) != 0)
		fail_msg("%s and %s differ", a, b);
}

/* ---- every adapter: the built seed database against its own first start -------- */

static const char *const sql_adapters[] = {
	"household", "population", "cadastre", "veterinary", "bank",
	"social-passport", "e-kyzmat", "edocs", "billing",
};

/* Runs the adapter's init (and free) in f with db, and sql_dir if not NULL;
 * returns the log line that says how the register was created. */
static void first_start(struct fixture *f, const struct adapter_ops *ops, const char *db,
			const char *sql_dir, char *created, size_t cap)
{
	char *err = NULL;

	host_init(f);
	fake_set(&f->fh, "db", db);
	if (sql_dir != NULL)
		fake_set(&f->fh, "sql_dir", sql_dir);
	if (ops->init(&f->host, &f->ctx, &err) != 0)
		fail_msg("%s init: %s", ops->name, err ? err : "?");
	ops->free(f->ctx);   /* closing checkpoints the WAL into the file */
	f->ctx = NULL;
	if (f->fh.n_errors != 0)
		fail_msg("%s: %s", ops->name, f->fh.last_error);
	snprintf(created, cap, "%s", f->fh.last_log);
}

static void test_adapters_same_as_sql(void **state)
{
	struct fixture f;
	char sql_db[320], seed_db[320], sql_dir[512], seeded[512], line[1024], want[1024];

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(temp_dir(f.dir, sizeof(f.dir), "seeddb"), 0);
	for (size_t i = 0; i < sizeof(sql_adapters) / sizeof(sql_adapters[0]); i++) {
		const struct adapter_ops *ops = adapter_find(sql_adapters[i]);

		assert_non_null(ops);
		snprintf(sql_dir, sizeof(sql_dir), "%s/adapters/%s", AILGATE_SOURCE_DIR, ops->name);
		snprintf(seeded, sizeof(seeded), "%s/%s/seed.db", AILGATE_SEEDDB_DIR, ops->name);
		snprintf(sql_db, sizeof(sql_db), "%s/%s-sql.db", f.dir, ops->name);
		snprintf(seed_db, sizeof(seed_db), "%s/%s-seed.db", f.dir, ops->name);
		/* sql_dir named: no seed database beside it in the source tree */
		first_start(&f, ops, sql_db, sql_dir, line, sizeof(line));
		snprintf(want, sizeof(want), "created %s from %s/{schema,seed}.sql", sql_db, sql_dir);
		if (strstr(line, want) == NULL)
			fail_msg("%s, SQL: %s", ops->name, line);
		/* the default sql_dir: the build tree's seed database */
		first_start(&f, ops, seed_db, NULL, line, sizeof(line));
		snprintf(want, sizeof(want), "created %s from %s (built from ", seed_db, seeded);
		if (strstr(line, want) == NULL)
			fail_msg("%s, seed database: %s", ops->name, line);
		assert_same_dump(sql_db, seed_db);
	}
	rm_rf(f.dir);
}

/* ---- a tiny registry: what a first start does with a seed database ------------- */

static const char schema_sql[] =
	"CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT);\n"
	"CREATE INDEX things_kind ON things (kind);\n";
static const char seed_sql[] =
	"INSERT INTO things (name, kind) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
	" SELECT x + 1 FROM c WHERE x < 5000) SELECT 'thing ' || x, NULL FROM c;\n"
	"UPDATE things SET kind = 'first' WHERE id = 1;\n";

static const char *const thing_sql[] = { "SELECT count(*) FROM things" };

static const struct sqlreg_desc things_desc = {
	.name = "things",
	.db_file = "things.db",
	.label = "thing register",
	.kind = "a thing register",
	.ours = "things",
	.sql = thing_sql,
	.n_sql = 1,
	.unavailable = "the thing register is unavailable",
};

struct sfix {
	struct fixture fx;     /* dir, db (dir/things.db), fake host */
	char sql_dir[128];     /* dir/sql: schema.sql, seed.sql, seed.db */
	char seed[192];        /* sql_dir/seed.db */
};

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void write_sql(const char *dir, const char *seed)
{
	char path[256];

	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/schema.sql", dir);
	write_text(path, schema_sql);
	snprintf(path, sizeof(path), "%s/seed.sql", dir);
	write_text(path, seed);
}

static void build(const char *sql_dir, const char *out)
{
	char why[1024];

	if (sqlseed_build(sql_dir, out, why, sizeof(why)) != 0)
		fail_msg("sqlseed_build: %s", why);
}

static int setup(void **state)
{
	struct sfix *s = calloc(1, sizeof(*s));

	if (s == NULL || temp_dir(s->fx.dir, sizeof(s->fx.dir), "seeddb") != 0)
		return -1;
	snprintf(s->fx.db, sizeof(s->fx.db), "%s/things.db", s->fx.dir);
	snprintf(s->sql_dir, sizeof(s->sql_dir), "%s/sql", s->fx.dir);
	snprintf(s->seed, sizeof(s->seed), "%s/seed.db", s->sql_dir);
	write_sql(s->sql_dir, seed_sql);
	build(s->sql_dir, s->seed);
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

/* Opens the register (sql_dir and db configured) as a first start does,
 * and closes it again; 0 or -1 (unavailable). */
static int open_things(struct sfix *s, const char *sql_dir, const char *db)
{
	struct sqlreg *r = NULL;
	char *err = NULL;
	int rc;

	host_init(&s->fx);
	fake_set(&s->fx.fh, "sql_dir", sql_dir);
	fake_set(&s->fx.fh, "db", db);
	assert_int_equal(sqlreg_new(&things_desc, &s->fx.host, &r, &err), 0);
	rc = sqlreg_ready(r, NULL);
	sqlreg_free(&r);
	return rc;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* No temp file of a copy or a build is left in dir. */
static void assert_no_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (strstr(e->d_name, ".seed-") != NULL || (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0))
			fail_msg("%s/%s left behind", dir, e->d_name);
	}
	closedir(d);
}

static void test_copied(void **state)
{
	struct sfix *s = *state;
	char sql_db[192];

	assert_true(exists(s->seed));
	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	assert_int_equal(s->fx.fh.n_errors, 0);
	assert_non_null(strstr(s->fx.fh.last_log, "thing register: created "));
	assert_non_null(strstr(s->fx.fh.last_log, "/things.db from "));
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/seed.db (built from "));
	assert_int_equal(db_count(s->fx.db, "things"), 5000);
	assert_no_temp(s->fx.dir);

	/* the same as the SQL gives: a register made without the seed database */
	snprintf(sql_db, sizeof(sql_db), "%s/by-sql.db", s->fx.dir);
	unlink(s->seed);
	assert_int_equal(open_things(s, s->sql_dir, sql_db), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/{schema,seed}.sql"));
	assert_same_dump(sql_db, s->fx.db);
}

/* A register that exists is never replaced, whatever is in it. */
static void test_existing_left_alone(void **state)
{
	struct sfix *s = *state;

	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	db_exec(s->fx.db, "UPDATE things SET name = 'changed' WHERE id = 2");
	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	assert_null(strstr(s->fx.fh.last_log, "created"));
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM things WHERE name = 'changed'"), 1);
	assert_int_equal(db_count(s->fx.db, "things"), 5000);
}

/* SQL changed since the build: the SQL is loaded, not the seed database
 * (test_stale_says_why: and the log says why); without its digest file the
 * same, silently. */
static void test_stale_or_no_digest(void **state)
{
	struct sfix *s = *state;
	char side[256], other[192];

	write_sql(s->sql_dir, "INSERT INTO things (name) VALUES ('only');\n");
	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	assert_int_equal(s->fx.fh.n_errors, 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/{schema,seed}.sql"));
	assert_int_equal(db_count(s->fx.db, "things"), 1);

	/* rebuilt, the digest matches again; without the digest file, no match */
	build(s->sql_dir, s->seed);
	snprintf(side, sizeof(side), "%s.sha256", s->seed);
	assert_int_equal(unlink(side), 0);
	snprintf(other, sizeof(other), "%s/other.db", s->fx.dir);
	assert_int_equal(open_things(s, s->sql_dir, other), 0);
	assert_int_equal(s->fx.fh.n_errors, 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/{schema,seed}.sql"));
	assert_int_equal(db_count(other, "things"), 1);
}

/* What sqlseed_copy says, which sqlreg logs once (the fake host keeps only
 * the last line, "created ..."): why a stale seed database is not used;
 * nothing when there is nothing worth a line. */
static void test_stale_says_why(void **state)
{
	struct sfix *s = *state;
	char why[2048];

	write_sql(s->sql_dir, "INSERT INTO things (name) VALUES ('only');\n");
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "/sql/seed.db was built from other SQL than "));
	assert_false(exists(s->fx.db));
	assert_no_temp(s->fx.dir);
	/* no seed database, an existing db: nothing to say */
	assert_int_equal(sqlseed_copy("/nonexistent/seed.db", s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* a directory that is not there: left to the usual open, which says why */
	build(s->sql_dir, s->seed);
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, "/nonexistent/dir/things.db", why,
				      sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 1);
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_no_temp(s->fx.dir);
}

/* A WAL or journal without its database: SQLite would replay it onto a
 * copy, so the SQL route as before. */
static void test_leftover_wal(void **state)
{
	struct sfix *s = *state;
	char wal[300], why[1024];

	snprintf(wal, sizeof(wal), "%s-wal", s->fx.db);
	write_text(wal, "");
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_false(exists(s->fx.db));
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-journal", s->fx.db);
	write_text(wal, "");
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_false(exists(s->fx.db));
	unlink(wal);
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 1);
}

/* A build that fails leaves neither a database nor a digest behind, and
 * removes the digest of the one it was to replace. */
static void test_build_fails_clean(void **state)
{
	struct sfix *s = *state;
	char bad[160], out[192], side[256], why[1024];

	snprintf(bad, sizeof(bad), "%s/bad", s->fx.dir);
	write_sql(bad, "INSERT INTO nowhere VALUES (1);\n");
	snprintf(out, sizeof(out), "%s/seed.db", bad);
	snprintf(side, sizeof(side), "%s.sha256", out);
	write_text(side, "0000\n");
	assert_int_equal(sqlseed_build(bad, out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "/bad/seed.sql: no such table: nowhere"));
	assert_false(exists(out));
	assert_false(exists(side));
	assert_no_temp(bad);
	/* a dangling reference fails the build too: foreign keys are enforced */
	write_sql(bad, "INSERT INTO things (name) VALUES ('x');\n");
	snprintf(why, sizeof(why), "%s/schema.sql", bad);
	write_text(why, "CREATE TABLE k (c TEXT PRIMARY KEY);\n"
			"CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT REFERENCES k(c));\n");
	assert_int_equal(sqlseed_build(bad, out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "FOREIGN KEY"));
	assert_false(exists(out));
}

/* The resume point written beside a seed database: its offset in seed.sql,
 * or -1 for "-". */
static long side_resume(const char *seed)
{
	char path[256], buf[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s.sha256", seed);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_true(n > SQLSEED_HEX_LEN + 2);
	return strcmp(buf + SQLSEED_HEX_LEN, " -\n") == 0 ? -1 : atol(buf + SQLSEED_HEX_LEN + 1);
}

/* What depends on the day of the first start is run at the first start:
 * the seed database stops before the first statement that reads the clock
 * (through a trigger, too) or draws a number; the copy then gets the rest. */
static void test_resume_point(void **state)
{
	struct sfix *s = *state;
	static const char clock_seed[] =
		"INSERT INTO things (name) VALUES ('a');\n"
		"CREATE TRIGGER stamp AFTER INSERT ON things WHEN new.name = 'stamped'"
		" BEGIN UPDATE things SET kind = date('now', 'localtime') WHERE id = new.id; END;\n"
		"INSERT INTO things (name) VALUES ('b');\n"
		"INSERT INTO things (name) VALUES ('stamped');\n"
		"INSERT INTO things (name, kind) VALUES ('c', 'plain');\n"
		"UPDATE things SET kind = date('now', '-1 day') WHERE name = 'a';\n";
	static const char chance_seed[] =
		"INSERT INTO things (name) VALUES ('a');\n"
		"INSERT INTO things (name, kind) VALUES ('b', hex(randomblob(4)));\n"
		"INSERT INTO things (name) VALUES ('c');\n";
	char sql_db[192];

	/* (the resume point is just after the statement before: its newline) */
	write_sql(s->sql_dir, clock_seed);
	build(s->sql_dir, s->seed);
	assert_int_equal(side_resume(s->seed),
			 strstr(clock_seed, "INSERT INTO things (name) VALUES ('stamped')") - clock_seed - 1);
	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/seed.db (built from "));
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM things WHERE kind = date('now', 'localtime')"
				" AND name = 'stamped'"), 1);
	assert_int_equal(db_int(s->fx.db, "SELECT count(*) FROM things WHERE kind = date('now', '-1 day')"),
			 1);
	snprintf(sql_db, sizeof(sql_db), "%s/by-sql.db", s->fx.dir);
	assert_int_equal(unlink(s->seed), 0);   /* no seed database: the SQL route */
	assert_int_equal(open_things(s, s->sql_dir, sql_db), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/{schema,seed}.sql"));
	assert_same_dump(sql_db, s->fx.db);

	/* (a new file: the test's read-only looks left a WAL beside the last) */
	snprintf(sql_db, sizeof(sql_db), "%s/chance.db", s->fx.dir);
	write_sql(s->sql_dir, chance_seed);
	build(s->sql_dir, s->seed);
	assert_int_equal(side_resume(s->seed),
			 strstr(chance_seed, "INSERT INTO things (name, kind)") - chance_seed - 1);
	assert_int_equal(open_things(s, s->sql_dir, sql_db), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/seed.db (built from "));
	assert_int_equal(db_int(sql_db, "SELECT count(*) FROM things WHERE length(kind) = 8"), 1);
	assert_int_equal(db_count(sql_db, "things"), 3);
}

/* Nothing can be built in advance when the schema reads the clock, or when
 * the rest reads what a new connection starts again: "-", the SQL route. */
static void test_resume_nowhere(void **state)
{
	struct sfix *s = *state;
	char path[256], why[1024];

	write_sql(s->sql_dir, "INSERT INTO things (name) VALUES ('a');\n"
			      "INSERT INTO things (name, kind) VALUES ('b', date('now'));\n"
			      "INSERT INTO things (name, kind) VALUES ('c', last_insert_rowid());\n");
	build(s->sql_dir, s->seed);
	assert_int_equal(side_resume(s->seed), -1);
	assert_int_equal(sqlseed_copy(s->seed, s->sql_dir, NULL, s->fx.db, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_false(exists(s->fx.db));

	write_sql(s->sql_dir, "INSERT INTO things (name) VALUES ('a');\n");
	snprintf(path, sizeof(path), "%s/schema.sql", s->sql_dir);
	write_text(path, "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT);\n"
			 "CREATE TABLE made AS SELECT datetime('now') AS at;\n");
	build(s->sql_dir, s->seed);
	assert_int_equal(side_resume(s->seed), -1);
	assert_int_equal(open_things(s, s->sql_dir, s->fx.db), 0);
	assert_non_null(strstr(s->fx.fh.last_log, "/sql/{schema,seed}.sql"));
	assert_int_equal(db_count(s->fx.db, "made"), 1);
	assert_no_temp(s->fx.dir);
}

/* Two workers starting together on a new file: one copies, the other
 * finds the file there; nothing is copied over a register in use. */
struct copier {
	struct sfix *s;
	struct fixture fx;
	pthread_barrier_t *go;
	int rc;
};

static void *copy_thread(void *arg)
{
	struct copier *c = arg;
	struct sqlreg *r = NULL;
	char *err = NULL;

	c->fx.host = (struct adapter_host){ .ctx = &c->fx.fh, .log = fake_log, .config = fake_config,
					    .data_dir = c->s->fx.dir };
	c->fx.fh.keys[0] = "sql_dir";
	c->fx.fh.vals[0] = c->s->sql_dir;
	c->fx.fh.keys[1] = "busy_timeout_ms";
	c->fx.fh.vals[1] = "10000";
	c->fx.fh.n = 2;
	c->rc = sqlreg_new(&things_desc, &c->fx.host, &r, &err);
	pthread_barrier_wait(c->go);
	if (c->rc == 0)
		c->rc = sqlreg_ready(r, NULL);
	sqlreg_free(&r);
	free(err);
	return NULL;
}

static void test_concurrent_copy(void **state)
{
	struct sfix *s = *state;
	struct copier c[2];
	pthread_barrier_t go;
	pthread_t t[2];
	int created = 0;

	for (int round = 0; round < 10; round++) {
		memset(c, 0, sizeof(c));
		unlink(s->fx.db);
		assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
		for (int i = 0; i < 2; i++) {
			c[i].s = s;
			c[i].go = &go;
			assert_int_equal(pthread_create(&t[i], NULL, copy_thread, &c[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		pthread_barrier_destroy(&go);
		created = 0;
		for (int i = 0; i < 2; i++) {
			if (c[i].rc != 0)
				fail_msg("worker %d: %s", i, c[i].fx.fh.last_error);
			assert_int_equal(c[i].fx.fh.n_errors, 0);
			created += strstr(c[i].fx.fh.last_log, "created") != NULL;
		}
		assert_int_equal(created, 1);
		assert_int_equal(db_count(s->fx.db, "things"), 5000);
		assert_no_temp(s->fx.dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adapters_same_as_sql),
		cmocka_unit_test_setup_teardown(test_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_or_no_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_says_why, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_fails_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_point, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_nowhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_copy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
