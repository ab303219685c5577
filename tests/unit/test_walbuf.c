/* Unit tests for store/walbuf: a WAL-mode database written through the
 * buffering VFS reads back the same through the default VFS after every
 * commit (from another connection, which reads the files directly), with
 * rows from a few bytes to several times the buffer, a reader holding an
 * old snapshot, checkpoints in between and a rolled-back transaction; with
 * synchronous FULL (the message log's setting), NORMAL and OFF (no sync at a
 * commit: the commit's own end puts the buffer in the file); and the cases
 * a review found: a rolled-back transaction's spilled frames, a commit
 * header rewritten with no page after it, a WAL padded to the sector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/walbuf.h"

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *e = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", sql, e ? e : "?");
}

static sqlite3_int64 one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	sqlite3_int64 v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void commits_read_back(const char *sync)
{
	char dir[] = "/tmp/walbuf-XXXXXX", path[64], sql[256];
	sqlite3 *w, *r, *old;
	sqlite3_int64 want_rows = 0, want_bytes = 0;
	/* up to 4.5 x the buffer (64 KiB): flushes in the middle of a commit */
	static const int sizes[] = { 1, 100, 4000, 9000, 65536, 70000, 300000, 17, 131072 };

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(walbuf_register(), 0);
	assert_int_equal(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WALBUF_VFS),
			 SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
		 "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)", sync);
	exec_ok(w, sql);
	assert_int_equal(sqlite3_open(path, &r), SQLITE_OK);
	assert_int_equal(sqlite3_open(path, &old), SQLITE_OK);
	exec_ok(old, "BEGIN; SELECT count(*) FROM t");   /* a reader on the first snapshot */
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			snprintf(sql, sizeof(sql), "BEGIN; INSERT INTO t (b) VALUES (randomblob(%d));"
				 "INSERT INTO t (b) VALUES (zeroblob(%d)); COMMIT", sizes[i], sizes[i] / 2 + 1);
			exec_ok(w, sql);
			want_rows += 2;
			want_bytes += sizes[i] + sizes[i] / 2 + 1;
			assert_int_equal(one_int(r, "SELECT count(*) FROM t"), want_rows);
			assert_int_equal(one_int(r, "SELECT sum(length(b)) FROM t"), want_bytes);
			/* the writer's own view, after a read of what it wrote */
			assert_int_equal(one_int(w, "SELECT sum(length(b)) FROM t"), want_bytes);
		}
		exec_ok(w, "BEGIN; INSERT INTO t (b) VALUES (randomblob(200000)); ROLLBACK");
		assert_int_equal(one_int(r, "SELECT count(*) FROM t"), want_rows);
		if (round < 2)   /* its snapshot holds until it ends (round 1) */
			assert_int_equal(one_int(old, "SELECT count(*) FROM t"), 0);
		if (round == 1) {
			exec_ok(old, "COMMIT");
			assert_int_equal(sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
					 SQLITE_OK);
		} else {
			exec_ok(r, "PRAGMA wal_checkpoint(PASSIVE)");
		}
	}
	assert_string_equal((const char *)sqlite3_errmsg(w), "not an error");
	sqlite3_close(old);
	sqlite3_close(w);
	/* Reopened with the default VFS alone: everything is in the files. */
	exec_ok(r, "PRAGMA integrity_check");
	assert_int_equal(one_int(r, "SELECT count(*) FROM t"), want_rows);
	sqlite3_close(r);
	assert_int_equal(sqlite3_open(path, &r), SQLITE_OK);
	assert_int_equal(one_int(r, "SELECT sum(length(b)) FROM t"), want_bytes);
	sqlite3_close(r);
	snprintf(sql, sizeof(sql), "rm -rf %s", dir);
	assert_int_equal(system(sql), 0);
}

static void test_commits_read_back_full(void **state)
{
	(void)state;
	commits_read_back("FULL");
}

static void test_commits_read_back_normal(void **state)
{
	(void)state;
	commits_read_back("NORMAL");
}

static void test_commits_read_back_off(void **state)
{
	(void)state;
	commits_read_back("OFF");
}

/* dir/t.db opened through walbuf (uri: with ?psow=0 and the like) with
 * journal_mode=WAL, the given synchronous setting and a page cache of 10
 * pages (so bigger transactions spill frames into the WAL before their
 * commit), and table t. */
static sqlite3 *open_small_cache(const char *dir, const char *uri_args, const char *sync)
{
	char path[128], sql[256];
	sqlite3 *db;

	snprintf(path, sizeof(path), "file:%s/t.db%s", dir, uri_args);
	assert_int_equal(walbuf_register(), 0);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
					 WALBUF_VFS), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=10;"
		 "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT, b BLOB)", sync);
	exec_ok(db, sql);
	return db;
}

static void integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

#define INSERT_300 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<300) " \
		   "INSERT INTO t SELECT i, i, randomblob(900) FROM n"

/* A transaction that spills frames and is rolled back: what it left in the
 * buffer must not reach the file later, over frames another connection
 * committed meanwhile at the same offsets. */
static void test_rollback_leaves_nothing(void **state)
{
	char dir[] = "/tmp/walbuf-XXXXXX", path[64];
	sqlite3 *a, *b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	a = open_small_cache(dir, "", "FULL");
	exec_ok(a, "INSERT INTO t VALUES (0, 0, x'00'); PRAGMA wal_checkpoint(PASSIVE)");
	exec_ok(a, "BEGIN; " INSERT_300);
	exec_ok(a, "ROLLBACK");
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(sqlite3_open(path, &b), SQLITE_OK);
	exec_ok(b, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<400) "
		   "INSERT INTO t SELECT 1000+i, i, zeroblob(900) FROM n; COMMIT");
	exec_ok(a, "INSERT INTO t VALUES (5000, 0, x'00')");
	integrity_ok(b);
	assert_int_equal(one_int(b, "SELECT count(*) FROM t"), 402);
	assert_int_equal(one_int(b, "SELECT count(*) FROM t WHERE b = zeroblob(900)"), 400);
	sqlite3_close(b);
	sqlite3_close(a);
	rm_rf(dir);
}

/* synchronous=NORMAL, a transaction that spills frames and then changes a
 * spilled page again: SQLite rewrites the checksums of the frames it wrote,
 * the commit header last, with no page after it. A copy of the files right
 * after the commit (what a crash of the process would leave) holds it all. */
static void test_rewritten_commit_header_written(void **state)
{
	char dir[] = "/tmp/walbuf-XXXXXX", copy[64], cmd[256];
	sqlite3 *a, *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	a = open_small_cache(dir, "", "NORMAL");
	exec_ok(a, "INSERT INTO t VALUES (0, 0, zeroblob(10))");
	exec_ok(a, "BEGIN; " INSERT_300 "; UPDATE t SET v = v + 1 WHERE id < 50; COMMIT");
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s && cp %s/t.db %s/t.db-wal %s/", copy, dir, dir, copy);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/t.db", copy);
	assert_int_equal(sqlite3_open(cmd, &c), SQLITE_OK);
	assert_int_equal(one_int(c, "SELECT count(*) FROM t"), 301);
	integrity_ok(c);
	sqlite3_close(c);
	sqlite3_close(a);
	rm_rf(dir);
}

/* Without POWERSAFE_OVERWRITE (psow=0) SQLite pads a synced commit to the
 * sector boundary and splits a write at the sync: such a WAL is not
 * buffered, and another connection reads every commit. */
static void test_padded_wal_not_buffered(void **state)
{
	char dir[] = "/tmp/walbuf-XXXXXX", path[64], sql[128];
	sqlite3 *w, *r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	w = open_small_cache(dir, "?psow=0", "FULL");
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(sqlite3_open(path, &r), SQLITE_OK);
	for (int i = 1; i <= 60; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, 0, randomblob(%d))", i, 50 + (i * 37) % 3000);
		exec_ok(w, sql);
		assert_int_equal(one_int(r, "SELECT count(*) FROM t"), i);
	}
	integrity_ok(r);
	sqlite3_close(r);
	sqlite3_close(w);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commits_read_back_full),
		cmocka_unit_test(test_commits_read_back_normal),
		cmocka_unit_test(test_commits_read_back_off),
		cmocka_unit_test(test_rollback_leaves_nothing),
		cmocka_unit_test(test_rewritten_commit_header_written),
		cmocka_unit_test(test_padded_wal_not_buffered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
