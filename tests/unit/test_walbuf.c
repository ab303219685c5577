/* Unit tests for store/walbuf: a WAL-mode database written through the
 * buffering VFS reads back the same through the default VFS after every
 * commit (from another connection, which reads the files directly), with
 * rows from a few bytes to several times the buffer, a reader holding an
 * old snapshot, checkpoints in between and a rolled-back transaction; with
 * synchronous FULL (the message log's setting), NORMAL and OFF (no sync at a
 * commit: the commit's own end puts the buffer in the file). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commits_read_back_full),
		cmocka_unit_test(test_commits_read_back_normal),
		cmocka_unit_test(test_commits_read_back_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
