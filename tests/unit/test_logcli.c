/* `ailgate log verify|export` on the command line: exit codes and the first
 * bad record named, on a log written through the msglog API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/logcli.h"
#include "store/msglog.h"

static char dir[64], db[128];

static int setup(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	char *err = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ailgate-logcli-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/msglog.db", dir);
	msglog_config_defaults(&c);
	c.path = db;
	log = msglog_open(&c, &err);
	assert_non_null(log);
	for (int i = 0; i < 5; i++) {
		char body[64], id[32];
		struct msglog_rec r = { 0 };
		int64_t rid;
		snprintf(body, sizeof(body), "<body>%d</body>", i);
		snprintf(id, sizeof(id), "msg-%d", i);
		r.dir = i % 2 ? MSGLOG_RESPONSE : MSGLOG_REQUEST;
		r.side = MSGLOG_SERVER;
		r.reqid = "req";
		r.message_id = id;
		r.client_id = "central-server/GOV/70000050/household-register";
		r.service_id = "central-server/GOV/70000005/passport-service/passportDataByPSN/v1";
		r.body_mode = MSGLOG_BODY_FULL;
		r.body = body;
		r.body_len = strlen(body);
		assert_int_equal(msglog_append_sync(log, &r, &rid, NULL, &err), 0);
	}
	msglog_close(log);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int run(int argc, const char **argv)
{
	int rc;
	FILE *saved = stdout;

	/* the verifier's report goes to stdout: keep the test output quiet */
	stdout = fopen("/dev/null", "w");
	rc = logcli_main(argc, (char **)argv);
	fclose(stdout);
	stdout = saved;
	return rc;
}

static void test_verify_good_then_tampered(void **state)
{
	const char *ok[] = { "verify", db };
	sqlite3 *h;

	(void)state;
	assert_int_equal(run(2, ok), 0);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE records SET body = x'3c626f64793e393c2f626f64793e' WHERE id = 3",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(run(2, ok), 1);
}

static void test_usage_and_io_errors(void **state)
{
	const char *none[] = { "verify" };
	const char *bad[] = { "frobnicate" };
	const char *missing[] = { "verify", "/nonexistent/msglog.db" };
	const char *opt[] = { "verify", "--bogus", db };
	const char *exp[] = { "export", "--db", db };

	(void)state;
	assert_int_equal(run(1, none), 2);
	assert_int_equal(run(1, bad), 2);
	{
		/* an unreadable file: named, with the reason, no "record 0" */
		char path[200], line[400] = "";
		FILE *saved = stdout, *f;

		snprintf(path, sizeof(path), "%s/out.txt", dir);
		stdout = fopen(path, "w");
		assert_int_equal(logcli_main(2, (char **)missing), 2);
		fclose(stdout);
		stdout = saved;
		f = fopen(path, "r");
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_non_null(strstr(line, "FAIL (io): cannot read: /nonexistent/msglog.db: "));
	}
	assert_int_equal(run(3, opt), 2);
	assert_int_equal(run(3, exp), 2);
}

/* verify's first line and exit code for file */
static int verify_line(const char *file, char *line, size_t cap)
{
	const char *argv[] = { "verify", file };
	char path[200];
	FILE *saved = stdout, *f;
	int rc;

	snprintf(path, sizeof(path), "%s/out.txt", dir);
	stdout = fopen(path, "w");
	rc = logcli_main(2, (char **)argv);
	fclose(stdout);
	stdout = saved;
	line[0] = '\0';
	f = fopen(path, "r");
	if (!f || !fgets(line, (int)cap, f))
		line[0] = '\0';
	if (f)
		fclose(f);
	return rc;
}

/* A file that is no log is said to be none (it said "sqlite: SELECT value
 * FROM meta WHERE key='base_i: file is not a database"); a log whose meta
 * was edited or a table dropped is a problem found, exit 1, saying what (it
 * was "cannot read", exit 2, with the query cut short). */
static void test_verify_not_a_log_and_meta(void **state)
{
	static const struct {
		const char *sql, *says;
	} meta[] = {
		{ "UPDATE meta SET value = x'0102' WHERE key = 'base_hash'",
		  "FAIL (meta): first bad record 1: " },
		{ "UPDATE meta SET value = x'0102' WHERE key = 'base_hash'",
		  "its meta base_hash is 2 bytes, not a 32-byte hash" },
		{ "DROP TABLE meta", "its meta table is missing" },
		{ "DROP TABLE records", "its records table is missing" },
	};
	char text[160], other[160], copy[160], line[600], cmd[400];
	sqlite3 *h;
	FILE *f;

	(void)state;
	snprintf(text, sizeof(text), "%s/passwd", dir);
	assert_non_null(f = fopen(text, "w"));
	fputs("root:x:0:0:root:/root:/bin/bash\n", f);
	fclose(f);
	assert_int_equal(verify_line(text, line, sizeof(line)), 2);
	assert_non_null(strstr(line, "FAIL (io): cannot read: "));
	assert_non_null(strstr(line, "/passwd is not an ailgate message log (file is not a database)"));
	assert_null(strstr(line, "SELECT"));

	snprintf(other, sizeof(other), "%s/other.db", dir);
	assert_int_equal(sqlite3_open(other, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(verify_line(other, line, sizeof(line)), 2);
	assert_non_null(strstr(line, "/other.db is not an ailgate message log (it has none of the log's tables"));

	snprintf(copy, sizeof(copy), "%s/meta.db", dir);
	for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", db, copy);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(sqlite3_open(copy, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, meta[i].sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
		assert_int_equal(verify_line(copy, line, sizeof(line)), 1);
		if (!strstr(line, meta[i].says))
			fail_msg("%s: %s", meta[i].sql, line);
	}
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* logcli_main with stderr into the file errpath. */
static int run_err(int argc, const char **argv, const char *errpath)
{
	int saved = dup(2), fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc;

	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	rc = run(argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return rc;
}

/* The log has no time stamp: the export says so where a third party reads
 * it (README.txt, check.py's UNSTAMPED), and the command warns on stderr. */
static void test_export_writes_readme(void **state)
{
	char out[160], readme[200], errpath[200];
	const char *exp[] = { "export", "--db", db, "--message-id", "msg-1", "--out", out };

	(void)state;
	snprintf(out, sizeof(out), "%s/export", dir);
	snprintf(readme, sizeof(readme), "%s/README.txt", out);
	snprintf(errpath, sizeof(errpath), "%s/export.err", dir);
	assert_int_equal(run_err(7, exp, errpath), 0);
	assert_int_equal(access(readme, R_OK), 0);
	assert_int_equal(sh("grep -q '^NONE of them is covered by a time stamp (record(s) 2)' %s && grep -q "
			    "'warning: 1 of them no time stamp covers yet (.*README.txt names them' %s", readme, errpath), 0);
	assert_int_equal(sh("cd %s && python3 check.py | grep -q '^UNSTAMPED *records/2'; test $? = 0 && "
			    "python3 check.py >/dev/null; test $? = 2", out), 0);
}

static int sh(const char *fmt, ...)
{
	char cmd[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* What export copies for a third party is certificates only: a private key
 * given by mistake (or an empty file, a directory) is refused before
 * anything is written. */
static void test_export_copies_certificates_only(void **state)
{
	char out[160], key[160], cert[160], empty[160];
	const char *exp[] = { "export", "--db", db, "--message-id", "msg-1", "--out", out, "--sign-trust", key };

	(void)state;
	snprintf(out, sizeof(out), "%s/export-key", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(empty, sizeof(empty), "%s/empty.pem", dir);
	assert_int_equal(sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			    "-subj /CN=t -days 1 -keyout key.pem -out cert.pem 2>/dev/null && : > empty.pem", dir), 0);
	for (int i = 0; i < 3; i++) {
		exp[8] = i == 0 ? key : i == 1 ? empty : dir;
		assert_int_equal(run(9, exp), 1);
		assert_int_not_equal(access(out, F_OK), 0);   /* nothing written */
	}
	exp[7] = "--tsa-ca";     /* the same check for each of the three */
	exp[8] = key;
	assert_int_equal(run(9, exp), 1);
	exp[8] = cert;
	assert_int_equal(run(9, exp), 0);
	assert_int_equal(sh("cmp -s %s/cert.pem %s/export-key/tsa-ca.pem", dir, dir), 0);
}

/* Times are whole seconds, both ends included; anything else is a usage
 * error (before: strtoll made "abc" 0, which meant "no bound", and a huge
 * value overflowed). An export of nothing fails and leaves nothing. */
static void test_export_selection_strict(void **state)
{
	char out[160], now[24];
	const char *bad[][9] = {
		{ "export", "--db", db, "--out", out, "--from", "abc", "--to", "def" },
		{ "export", "--db", db, "--out", out, "--from", "99999999999999999999", "--to", "1" },
		{ "export", "--db", db, "--out", out, "--from", "5", "--to", "4" },
		{ "export", "--db", db, "--out", out, "--from", "1.5", "--to", "4" },
		{ "export", "--db", db, "--out", out, "--from", "1", "--message-id", "msg-1" },
		{ "export", "--db", db, "--out", out, "--from", "1", "--tsa-ca" },
	};
	const char *from_only[] = { "export", "--db", db, "--out", out, "--from", "1" };
	const char *all[] = { "export", "--db", db, "--out", out, "--from", "0", "--to", now };
	const char *none[] = { "export", "--db", db, "--out", out, "--from", "1", "--to", "2" };
	const char *nosuch[] = { "export", "--db", db, "--out", out, "--message-id", "nosuch" };
	const char *help[] = { "export", "--help" };

	(void)state;
	snprintf(out, sizeof(out), "%s/export-sel", dir);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(run(i == 5 ? 8 : 9, bad[i]), 2);
	assert_int_equal(run(7, from_only), 2);
	assert_int_equal(run(2, help), 0);
	assert_int_equal(run(9, none), 1);
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_equal(run(7, nosuch), 1);
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_equal(run(9, all), 0);         /* --to now: this second's records too */
	assert_int_equal(sh("test $(ls %s/export-sel/records | wc -l) = 5", dir), 0);
}

static void test_verify_options(void **state)
{
	char cert[160];
	const char *help[] = { "verify", "--help" };
	const char *novalue[] = { "verify", db, "--tsa-ca" };
	const char *twice[] = { "verify", "--sign-trust", cert, "--sign-trust", cert, db };

	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	assert_int_equal(run(2, help), 0);
	assert_int_equal(run(3, novalue), 2);
	if (access(cert, R_OK) == 0)
		assert_int_equal(run(6, twice), 2);   /* and nothing leaks (ASan build) */
	{
		/* --anchor ID:HASH: the record held with that hash passes; an id past
		 * the end is a cut log (1); malformed or given twice: usage (2) */
		char good[120] = "", past[120], wrong[120];
		const char *a_good[] = { "verify", "--anchor", good, db };
		const char *a_past[] = { "verify", "--anchor", past, db };
		const char *a_wrong[] = { "verify", "--anchor", wrong, db };
		const char *a_bad[] = { "verify", "--anchor", "4:abc", db };
		const char *a_twice[] = { "verify", "--anchor", good, "--anchor", good, db };
		const char *a_none[] = { "verify", db, "--anchor" };
		sqlite3 *h;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(h, "SELECT lower(hex(hash)) FROM records WHERE id = 4", -1, &st,
						    NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		snprintf(good, sizeof(good), "4:%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(h);
		snprintf(past, sizeof(past), "9:%s", good + 2);
		snprintf(wrong, sizeof(wrong), "4:%s", good + 2);
		wrong[2] = wrong[2] == '0' ? '1' : '0';
		assert_int_equal(strlen(good), 66);
		assert_int_equal(run(4, a_good), 0);
		assert_int_equal(run(4, a_past), 1);
		assert_int_equal(run(4, a_wrong), 1);
		assert_int_equal(run(4, a_bad), 2);
		assert_int_equal(run(6, a_twice), 2);
		assert_int_equal(run(3, a_none), 2);
	}
}

/* Files are taken in the order of their records, read from each (the
 * record it continues after), not of their names: an archive and the live
 * log with names that sort the other way round, and given that way, verify
 * (they used to fail: "does not continue the previous file"). Made from
 * the test log: records 1..3 (base 0) and 4..5 (base 3, record 3's hash). */
static void test_verify_orders_files_by_content(void **state)
{
	char a[160], b[160], sql[400];
	const char *args[] = { "verify", a, b };
	sqlite3 *h;

	(void)state;
	snprintf(a, sizeof(a), "%s/evidence-a.db", dir);   /* holds 4..5: the later one */
	snprintf(b, sizeof(b), "%s/evidence-b.db", dir);   /* holds 1..3 */
	assert_int_equal(sh("cp '%s' '%s' && cp '%s' '%s'", db, a, db, b), 0);
	assert_int_equal(sqlite3_open(a, &h), SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES ('base_hash', (SELECT hash FROM records "
		 "WHERE id = 3)); INSERT OR REPLACE INTO meta VALUES ('base_id', 3); DELETE FROM records WHERE "
		 "id <= 3");
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(sqlite3_open(b, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DELETE FROM records WHERE id > 3", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	/* This log has no time stamps, and records no stamp covers are allowed in
	 * the last file only: the earlier file's record 1 is named either way -
	 * given in the wrong order, the files used to fail as file-link (the
	 * later one first: "does not continue the previous file") */
	for (int order = 0; order < 2; order++) {
		char out[200], line[400] = "";
		FILE *saved = stdout, *f;

		args[1] = order ? b : a;
		args[2] = order ? a : b;
		snprintf(out, sizeof(out), "%s/order.txt", dir);
		stdout = fopen(out, "w");
		assert_int_equal(logcli_main(3, (char **)args), 1);
		fclose(stdout);
		stdout = saved;
		assert_non_null(f = fopen(out, "r"));
		while (fgets(line, sizeof(line), f) && strncmp(line, "FAIL", 4) != 0)
			;
		fclose(f);
		assert_non_null(strstr(line, "FAIL (unstamped): first bad record 1"));
	}
	/* the later part alone still says where it starts */
	assert_int_equal(run(2, (const char *[]){ "verify", a }), 0);
}

/* An auditor's read-only copy, in a directory the reader cannot write,
 * verifies and exports (before: "attempt to write a readonly database" -
 * SQLite could not make the WAL's -shm file). As root the check runs as
 * nobody in a child, since root writes anywhere. */
static void test_read_only_copy(void **state)
{
	char ro[160], copy[200], out[200];
	const char *ver[] = { "verify", copy };
	const char *exp[] = { "export", "--db", copy, "--message-id", "msg-1", "--out", out };
	pid_t pid;
	int st;

	(void)state;
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	snprintf(copy, sizeof(copy), "%s/msglog.db", ro);
	snprintf(out, sizeof(out), "/tmp/ailgate-logcli-ro-%d", (int)getpid());
	assert_int_equal(sh("chmod 755 %s && mkdir %s && cp %s %s && chmod 444 %s && chmod 555 %s && rm -rf %s",
			    dir, ro, db, copy, copy, ro, out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(9);
		_exit(run(2, ver) * 10 + run(7, exp));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);   /* verify 0, export 0 */
	assert_int_equal(sh("test -f %s/README.txt && test ! -e %s/ro/msglog.db-shm && rm -rf %s", out, dir, out), 0);
	assert_int_equal(sh("chmod 755 %s", ro), 0);
}

/* A record whose stored body no longer matches its digest (or any damage
 * log verify would name): export refuses with the record named and leaves
 * nothing behind - before, it wrote the damaged body into the package a
 * third party checks and exited 0. Records around it still export. */
static void test_export_refuses_damaged(void **state)
{
	char copy[160], out[160], errpath[200], now[32], line[600] = "";
	const char *one[] = { "export", "--db", copy, "--message-id", "msg-3", "--out", out };
	const char *all[] = { "export", "--db", copy, "--out", out, "--from", "0", "--to", now };
	const char *other[] = { "export", "--db", copy, "--message-id", "msg-1", "--out", out };
	int saved_err = dup(2), fd;
	sqlite3 *h;
	FILE *f;

	(void)state;
	snprintf(copy, sizeof(copy), "%s/damaged.db", dir);
	snprintf(out, sizeof(out), "%s/export-damaged", dir);
	snprintf(errpath, sizeof(errpath), "%s/export-damaged.err", dir);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	assert_int_equal(sh("cp %s %s", db, copy), 0);
	assert_int_equal(sqlite3_open(copy, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE records SET body = CAST('<body>x</body>' AS BLOB) WHERE message_id = "
				      "'msg-3'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	assert_int_equal(run(7, one), 1);
	dup2(saved_err, 2);
	close(saved_err);
	assert_int_not_equal(access(out, F_OK), 0);
	f = fopen(errpath, "r");
	assert_non_null(f);
	assert_true(fread(line, 1, sizeof(line) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(line, "record 4: body does not match its SHA-256"));
	assert_int_equal(run(9, all), 1);
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_equal(run(7, other), 0);
	assert_int_equal(sh("test -f %s/README.txt && rm -rf %s", out, out), 0);
}

/* Finding 5: an option given twice silently took the last value (--db twice:
 * the export of another log than the one meant); now a usage error (2)
 * naming it, before anything is written. */
static void test_repeated_options_refused(void **state)
{
	char out[160], errpath[200];
	const char *twice[][11] = {
		{ "export", "--db", db, "--db", "/nonexistent.db", "--message-id", "msg-1", "--out", out, "--to", "1" },
		{ "export", "--db", db, "--message-id", "msg-1", "--out", out, "--out", out, "--from", "1" },
		{ "export", "--tsa-ca", db, "--db", db, "--message-id", "msg-1", "--out", out, "--tsa-ca", db },
	};
	const char *v_twice[] = { "verify", "--tsa-ca", db, "--tsa-ca", db, db };
	const char *v_cert_twice[] = { "verify", "--tsa-cert", db, "--tsa-cert", db, db };

	(void)state;
	snprintf(out, sizeof(out), "%s/export-twice", dir);
	snprintf(errpath, sizeof(errpath), "%s/twice.err", dir);
	for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		assert_int_equal(run_err(i == 2 ? 11 : 9, twice[i], errpath), 2);
		assert_int_not_equal(access(out, F_OK), 0);
		assert_int_equal(sh("grep -q '^ailgate log export: %s given twice' %s", i == 0 ? "--db" : i == 1 ? "--out" :
				    "--tsa-ca", errpath), 0);
	}
	assert_int_equal(run_err(6, v_twice, errpath), 2);
	assert_int_equal(sh("grep -q '^ailgate log verify: --tsa-ca given twice' %s", errpath), 0);
	assert_int_equal(run_err(6, v_cert_twice, errpath), 2);
}

/* Finding 5: without --sign-trust README.txt still told the reader to use
 * sign-trust.pem, which was not there. Now it says which certificates are
 * in the export and, for those that are not, that they are not and where
 * to get them. */
static void test_export_says_missing_anchors(void **state)
{
	char out[160], cert[160];
	const char *exp[] = { "export", "--db", db, "--message-id", "msg-1", "--out", out, "--tsa-ca", cert };

	(void)state;
	snprintf(out, sizeof(out), "%s/export-anchors", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	assert_int_equal(sh("cd %s && test -f cert.pem || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			    "-nodes -subj /CN=t -days 1 -keyout key.pem -out cert.pem 2>/dev/null", dir), 0);
	assert_int_equal(run(7, exp), 0);
	assert_int_equal(sh("cd %s && grep -q '^tsa-ca.pem is NOT in this export' README.txt && grep -q "
			    "'^sign-trust.pem is NOT in this export' README.txt && ! grep -q 'sign-trust.pem: the' README.txt && "
			    "test ! -e sign-trust.pem && rm -rf %s", out, out), 0);
	assert_int_equal(run(9, exp), 0);
	assert_int_equal(sh("cd %s && grep -q '^tsa-ca.pem: the TSA' README.txt && ! grep -q 'tsa-ca.pem is NOT' README.txt"
			    " && grep -q '^sign-trust.pem is NOT in this export' README.txt && rm -rf %s", out, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_copies_certificates_only),
		cmocka_unit_test(test_export_selection_strict),
		cmocka_unit_test(test_verify_options),
		cmocka_unit_test(test_verify_orders_files_by_content),
		cmocka_unit_test(test_read_only_copy),
		cmocka_unit_test(test_usage_and_io_errors),
		cmocka_unit_test(test_verify_not_a_log_and_meta),
		cmocka_unit_test(test_export_writes_readme),
		cmocka_unit_test(test_export_refuses_damaged),
		cmocka_unit_test(test_verify_good_then_tampered),
		cmocka_unit_test(test_repeated_options_refused),
		cmocka_unit_test(test_export_says_missing_anchors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
