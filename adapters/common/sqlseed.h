/* The SQL files of a registry kept in SQLite (sql_dir/schema.sql +
 * seed.sql) and its seed database: the same files loaded once, at build
 * time, into a ready SQLite file that a first start copies instead of
 * executing hundreds of kilobytes of INSERTs (adapters/README.md, "Seed
 * databases").
 *
 * A seed database is used only for the very SQL it was built from: beside
 * SEED.db lies SEED.db.sha256, the digest of the schema.sql and seed.sql it
 * was made of, and a first start copies it only when the files in sql_dir
 * still have that digest. Anything else (no seed database, other SQL, a
 * file system where the copy fails) loads the SQL as before, so the seed
 * database only ever saves time.
 *
 * What the SQL gives on the day of the first start (date('now'), a random
 * number) cannot be built in advance: the seed database holds the SQL up
 * to the first statement that reads the clock or draws a number, and the
 * first start runs the rest of seed.sql on the copy, before the copy gets
 * its name. The digest file says where that is ("HEX OFFSET", the offset
 * in seed.sql; "HEX -" when nothing can be built in advance: the schema
 * itself reads the clock, or the rest reads last_insert_rowid(),
 * changes() or total_changes(), which a new connection starts again).
 *
 * No logging and no adapter types here: sqlreg.c logs, and the build-time
 * tool (adapters/common/tools/seeddb.c) links this file alone. */
#ifndef AILGATE_ADAPTERS_COMMON_SQLSEED_H
#define AILGATE_ADAPTERS_COMMON_SQLSEED_H

#include <sqlite3.h>
#include <stddef.h>

#define SQLSEED_SQL_MAX (4u << 20)   /* schema.sql / seed.sql larger than this are refused */
#define SQLSEED_HEX_LEN 64           /* SHA-256 in lower-case hex, without the NUL */

/* A registry's two SQL files, each NUL-terminated. */
struct sqlseed_sql {
	char *schema;
	char *seed;
};

/* Reads sql_dir/schema.sql and sql_dir/seed.sql into *out (free with
 * sqlseed_sql_free, also after a failure). 0, or -1 with why[len] set
 * ("cannot read PATH: ..."). */
int sqlseed_read(const char *sql_dir, struct sqlseed_sql *out, char *why, size_t len)
	__attribute__((warn_unused_result));
void sqlseed_sql_free(struct sqlseed_sql *s);

/* Executes the schema, then the seed, on db (inside the caller's
 * transaction: the files hold no BEGIN/COMMIT). sql_dir only names the
 * files in why. 0, or -1 with why set ("SQL_DIR/seed.sql: SQLite's message"). */
int sqlseed_load(sqlite3 *db, const char *sql_dir, const struct sqlseed_sql *s, char *why,
		 size_t len) __attribute__((warn_unused_result));

/* The digest a seed database records: SHA-256 of schema.sql, a NUL byte,
 * seed.sql, into hex[SQLSEED_HEX_LEN + 1]. 0, or -1 (OpenSSL failed). */
int sqlseed_digest(const struct sqlseed_sql *s, char *hex) __attribute__((warn_unused_result));

/* Build time: creates out (a WAL-mode SQLite file holding what sql_dir's
 * schema.sql + seed.sql give up to the resume point, loaded as a first
 * start loads them, with foreign keys enforced) and out.sha256. The whole
 * SQL is loaded once, so SQL that would fail at a first start fails the
 * build. Replaces both atomically (temp names, then rename); out.sha256 is
 * removed first and written last, so a failed build never leaves a digest
 * beside a database it does not describe. 0, or -1 with why set. */
int sqlseed_build(const char *sql_dir, const char *out, char *why, size_t len)
	__attribute__((warn_unused_result));

/* First start: if db does not exist (and no -wal or -journal of it is
 * left, which SQLite would replay onto the copy), copies seed_db to it
 * when seed_db.sha256 matches sql_dir's SQL. The copy goes to a temp name
 * beside db, gets the rest of seed.sql from the resume point (run after
 * pragmas, the adapter's, as the SQL route runs them; may be NULL), is
 * synced, and is then hard-linked to db, which never replaces a file
 * another worker or process created meanwhile.
 *   1   copied: db is the seeded register
 *   0   nothing copied and nothing wrong: db exists, or there is no seed
 *       database (why is ""), or it was built from other SQL (why says
 *       so, worth a log line)
 *  -1   the copy failed (why); nothing is left behind
 * The caller then opens db as usual and loads the SQL if it is still empty. */
int sqlseed_copy(const char *seed_db, const char *sql_dir, const char *pragmas, const char *db,
		 char *why, size_t len) __attribute__((warn_unused_result));

#endif
