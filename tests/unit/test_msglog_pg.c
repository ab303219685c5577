/* The message log on PostgreSQL (store/msglog_pg.c), against a real server
 * started for the test (tests/integration/pg_server.sh: its own cluster,
 * Unix socket only) and a real RFC 3161 TSA: the chain, time stamps and the
 * offline verifier over the database; a changed row named; the replay window
 * reloaded from it; one writer per log; archiving into SQLite files that
 * verify with the database as one chain; what a crash of the database
 * server keeps (every record whose append returned). Skipped (exit 77) when
 * no PostgreSQL server is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <libpq-fe.h>

#include "store/logverify.h"
#include "store/msglog.h"

#define CLIENT "central-server/GOV/70000050/household-register"
#define SERVICE "central-server/GOV/70000005/population/getPerson/v1"

#include "msglog_test.h"

static struct {
	char dir[256], pgdir[64], dsn[300];
	char tsa_cert[400], trust[400], url[64];
	pid_t tsa;
	int n;
} E;

static int pg_sh(const char *what)
{
	return sh("'%s/tests/integration/pg_server.sh' %s '%s' >/dev/null", srcdir(), what, E.pgdir);
}

/* Every test gets empty tables: the schema dropped, made again at open. */
static int pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(E.dsn);
	PGresult *r;
	int rc;

	if (PQstatus(c) != CONNECTION_OK) {
		print_message("connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, sql);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0)
		print_message("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static long pg_count(const char *sql)
{
	PGconn *c = PQconnectdb(E.dsn);
	PGresult *r = PQexec(c, sql);
	long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	PQfinish(c);
	return n;
}

static int setup(void **state)
{
	(void)state;
	return pg_exec("SET client_min_messages = warning; DROP TABLE IF EXISTS msglog_records, msglog_timestamps, msglog_base");
}

static int group_setup(void **state)
{
	char pf[320], tsa_dir[400], down[320], pki[320];
	int port = 0;
	FILE *f;

	(void)state;
	snprintf(E.dir, sizeof(E.dir), "/tmp/test_msglog_pg.XXXXXX");
	snprintf(E.pgdir, sizeof(E.pgdir), "/tmp/test_pgsrv.XXXXXX");
	if (!mkdtemp(E.dir) || !mkdtemp(E.pgdir) || rmdir(E.pgdir) < 0)
		return -1;
	switch (pg_sh("start")) {
	case 0:
		break;
	case 77:
		print_message("no PostgreSQL server installed: skipped\n");
		exit(77);
	default:
		return -1;
	}
	snprintf(pf, sizeof(pf), "%s/dsn", E.pgdir);
	if (!(f = fopen(pf, "r")) || !fgets(E.dsn, sizeof(E.dsn), f))
		return -1;
	fclose(f);
	E.dsn[strcspn(E.dsn, "\n")] = '\0';
	snprintf(pki, sizeof(pki), "%s/pki", E.dir);
	snprintf(down, sizeof(down), "%s/tsa-down", E.dir);
	snprintf(pf, sizeof(pf), "%s/tsa-port", E.dir);
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", pki);
	snprintf(E.tsa_cert, sizeof(E.tsa_cert), "%s/tsa/tsa.pem", pki);
	snprintf(E.trust, sizeof(E.trust), "%s/ca/trust.pem", pki);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/70000050 --clients '' >/dev/null 2>&1",
	       srcdir(), pki) != 0)
		return -1;
	if (evthread_use_pthreads() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if ((E.tsa = start_tsa(tsa_dir, pf, down, &port)) < 0)
		return -1;
	snprintf(E.url, sizeof(E.url), "http://127.0.0.1:%d/", port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	stop_tsa(E.tsa);
	pg_sh("stop");
	curl_global_cleanup();
	libevent_global_shutdown();
	if (*E.dir)
		sh("rm -rf '%s'", E.dir);
	return 0;
}

static void cfg_init(struct msglog_config *c)
{
	msglog_config_defaults(c);
	c->path = E.dsn;   /* the postgresql:// URI picks the backend */
	ml_tsa_cfg(c, E.url, E.tsa_cert, E.trust);
}

static int verify(const char *const *paths, size_t n, struct logverify_result *res)
{
	struct logverify_opts o = { .tsa_ca_pem = E.trust, .tsa_cert_pem = E.tsa_cert, .require_stamped = 1 };

	return logverify_run(paths, n, &o, NULL, res);
}

/* The chain, stamps and the verifier over the database; a changed row is
 * named, and so is a deleted one. */
static void test_pg_chain_verified(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	const char *p[1] = { E.dsn };

	(void)state;
	cfg_init(&c);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 6, 0, 5), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 4, 0, 5), 10);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_records"), 10);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_timestamps"), 2);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_records WHERE body IS NULL"), 2);   /* 5, 10: digest mode */
	assert_int_equal(pg_count("SELECT COUNT(*) FROM pg_attribute WHERE attrelid = 'msglog_records'::regclass"
				  " AND attcompression = 'l'"), 3);   /* the blobs in LZ4 */
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(res.records, 10);
	assert_int_equal(res.batches, 2);

	assert_int_equal(pg_exec("UPDATE msglog_records SET body = overlay(body placing 'X'::bytea from 3 for 1)"
				 " WHERE id = 4"), 0);
	assert_int_equal(verify(p, 1, &res), 1);
	assert_int_equal(res.bad_id, 4);
	assert_int_equal(pg_exec("UPDATE msglog_records SET body = '<Envelope><Body>record 4</Body></Envelope>'::bytea"
				 " WHERE id = 4"), 0);
	assert_int_equal(verify(p, 1, &res), 0);   /* put back as it was */
	/* a body_len that is not the stored body's length (the stored one was
	 * taken and the log verified) */
	assert_int_equal(pg_exec("UPDATE msglog_records SET body_len = body_len + 1 WHERE id = 4"), 0);
	assert_int_equal(verify(p, 1, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_FIELD);
	assert_int_equal(res.bad_id, 4);
	assert_non_null(strstr(res.detail, "body_len"));
	assert_int_equal(pg_exec("UPDATE msglog_records SET body_len = body_len - 1 WHERE id = 4"), 0);
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(pg_exec("DELETE FROM msglog_records WHERE id = 7"), 0);
	assert_int_equal(verify(p, 1, &res), 1);
	assert_int_equal(res.bad_id, 7);
}

/* A restart continues the chain and reloads the replay window from the
 * database (no snapshot file configured). */
static void test_pg_reopen_replay(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	const char *p[1] = { E.dsn };
	char *err = NULL;

	(void)state;
	cfg_init(&c);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, 0, 5), 4);
	msglog_close(log);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", msglog_now_ms() - 60000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", msglog_now_ms() - 60000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-3", msglog_now_ms() - 60000, &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-2", &err), 1);   /* a replay */
	assert_int_equal(ml_append_n(log, 5, 2, 0, 5), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(res.records, 6);
}

/* A damaged base hash or last record hash: the chain cannot go on from it,
 * so the open is refused with the reason (as SQLite's), rather than the
 * writer chaining new records to zeros. */
static void test_pg_damaged_chain_state(void **state)
{
	static const char *const damage[][2] = {
		{ "UPDATE msglog_base SET base_hash = '\\x0102'::bytea", "base_hash is not a 32-byte hash" },
		{ "UPDATE msglog_records SET hash = '\\x'::bytea WHERE id = 3",
		  "the hash of the last record (id 3) is not a 32-byte hash" },
	};
	static const char *const undo[] = { "UPDATE msglog_base SET base_hash = decode(repeat('00', 32), 'hex')",
					    "UPDATE msglog_records SET hash = (SELECT h FROM saved) WHERE id = 3" };
	struct msglog_config c;
	struct msglog *log;
	char *err = NULL;

	(void)state;
	cfg_init(&c);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, 0, 0), 3);
	msglog_close(log);
	assert_int_equal(pg_exec("CREATE TABLE saved AS SELECT hash AS h FROM msglog_records WHERE id = 3"), 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(pg_exec(damage[i][0]), 0);
		assert_null(log = msglog_open(&c, &err));
		assert_non_null(err);
		print_message("    refused: %s\n", err);
		assert_non_null(strstr(err, damage[i][1]));
		free(err);
		err = NULL;
		if (i == 0) {   /* verify: a problem found (exit 1), not "cannot read" */
			struct logverify_result res;
			const char *p[1] = { E.dsn };

			assert_int_equal(verify(p, 1, &res), 1);
			assert_int_equal(res.problem, LOGVERIFY_META);
			assert_non_null(strstr(res.detail, damage[i][1]));
		}
		assert_int_equal(pg_exec(undo[i]), 0);
		assert_non_null(log = ml_open(&c));   /* whole again */
		msglog_close(log);
	}
	assert_int_equal(pg_exec("DROP TABLE saved"), 0);
}

/* Two writers would fork the chain: the second is refused at open. */
static void test_pg_one_writer(void **state)
{
	struct msglog_config c;
	struct msglog *a, *b;
	char *err = NULL;

	(void)state;
	cfg_init(&c);
	assert_non_null(a = ml_open(&c));
	b = msglog_open(&c, &err);
	assert_null(b);
	assert_non_null(err);
	assert_non_null(strstr(err, "another gateway process is writing this PostgreSQL log"));
	free(err);
	msglog_close(a);
	assert_non_null(b = ml_open(&c));   /* the lock went with the first writer */
	msglog_close(b);
}

/* Retention from the database into SQLite archive files: files, then the
 * database, verify as one chain. */
static void test_pg_archive(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	char arch[300], f1[340], f2[340], *path = NULL, *err = NULL;
	int64_t now = msglog_now_ms(), old = now - 3 * 86400000LL;
	const char *p[3];

	(void)state;
	snprintf(arch, sizeof(arch), "%s/arch%d", E.dir, ++E.n);
	mkdir(arch, 0700);
	cfg_init(&c);
	c.archive_chunk = 4;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, old, 5), 4);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 5, 3, old, 5), 7);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 8, 2, 0, 5), 9);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), 7);
	assert_non_null(strstr(path, "msglog-5-7.db"));
	assert_int_equal(pg_count("SELECT MIN(id) FROM msglog_records"), 8);
	assert_int_equal(pg_count("SELECT base_id FROM msglog_base"), 7);
	assert_int_equal(ml_append_n(log, 10, 2, 0, 5), 11);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	snprintf(f1, sizeof(f1), "%s/msglog-1-4.db", arch);
	snprintf(f2, sizeof(f2), "%s/msglog-5-7.db", arch);
	p[0] = f1;
	p[1] = f2;
	p[2] = E.dsn;
	assert_int_equal(verify(p, 3, &res), 0);
	assert_int_equal(res.records, 11);
	p[1] = E.dsn;   /* a file left out */
	assert_int_equal(verify(p, 2, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_FILE_LINK);
	free(path);
}

/* A group that the database refuses (here a constraint an operator added):
 * the appends fail with the database's reason, the transaction is rolled
 * back whole (the pipeline's error read at the commit), and once the
 * database takes rows again the log writes on the same connection and the
 * chain goes on without a gap. */
static void test_pg_refused_group(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	const char *p[1] = { E.dsn };
	struct msglog_rec r = { 0 };
	struct logverify_opts o = { 0 };
	char *err = NULL;
	int64_t id = 0;
	int healthy;

	(void)state;
	cfg_init(&c);
	c.tsa_url = NULL;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, 0, 5), 3);
	assert_int_equal(pg_exec("ALTER TABLE msglog_records ADD CONSTRAINT no_x CHECK (message_id <> 'msg-x')"), 0);
	r.dir = MSGLOG_REQUEST;
	r.side = MSGLOG_SERVER;
	r.reqid = "req-x";
	r.message_id = "msg-x";
	r.client_id = CLIENT;
	r.service_id = SERVICE;
	r.body_mode = MSGLOG_BODY_FULL;
	r.body = "x";
	r.body_len = 1;
	if (msglog_append_sync(log, &r, &id, NULL, &err) != -1 || !err || !strstr(err, "no_x")) {
		msglog_close(log);
		fail_msg("the refused append: %s", err ? err : "(accepted)");
	}
	free(err);
	err = NULL;
	assert_int_equal(msglog_is_healthy(log, NULL, 0), 0);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_records"), 3);
	assert_int_equal(pg_exec("ALTER TABLE msglog_records DROP CONSTRAINT no_x"), 0);
	id = ml_append_n(log, 4, 2, 0, 5);
	healthy = msglog_is_healthy(log, NULL, 0);
	msglog_close(log);
	assert_int_equal(id, 5);   /* the chain goes on from 3 */
	assert_int_equal(healthy, 1);   /* again, after a commit */
	assert_int_equal(logverify_run(p, 1, &o, NULL, &res), 0);
	assert_int_equal(res.records, 5);
}

/* The server restarts under an open log: the next operations reconnect
 * (the writer takes its lock again) instead of failing until the gateway
 * restarts. */
static void test_pg_reconnect(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct logverify_opts o = { 0 };
	const char *p[1] = { E.dsn };
	char *err = NULL;
	int64_t id = 0;
	int i, ok = 0;

	(void)state;
	cfg_init(&c);
	c.tsa_url = NULL;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, 0, 5), 2);
	assert_int_equal(pg_sh("crash"), 0);
	assert_int_equal(pg_sh("restart"), 0);
	/* The first group may meet the dead connection (and fail); the next
	 * ones reconnect. Within 5 s (the writer's probe runs every second). */
	for (i = 0; i < 50 && !ok; i++) {
		ok = ml_append_n(log, 3 + 2 * i, 2, 0, 5) > 0;
		if (!ok)
			sleep_ms(100);
	}
	if (!ok || msglog_is_healthy(log, NULL, 0) != 1 ||
	    msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", msglog_now_ms() - 600000, &err) < 0) {
		msglog_close(log);
		fail_msg("no recovery after the server restarted: ok %d, %s", ok, err ? err : "");
	}
	id = pg_count("SELECT MAX(id) FROM msglog_records");
	msglog_close(log);
	assert_true(id >= 4);
	assert_int_equal(logverify_run(p, 1, &o, NULL, &res), 0);
	assert_int_equal(res.records, id);
}

/* One schema per gateway in one database: each has its own writer's lock. */
static void test_pg_two_schemas(void **state)
{
	char a[400], b[400];
	struct msglog_config ca, cb;
	struct msglog *la, *lb;
	struct logverify_result res;
	struct logverify_opts o = { 0 };
	const char *p[1];

	(void)state;
	assert_int_equal(pg_exec("DROP SCHEMA IF EXISTS gw_a CASCADE; DROP SCHEMA IF EXISTS gw_b CASCADE;"
				 " CREATE SCHEMA gw_a; CREATE SCHEMA gw_b"), 0);
	snprintf(a, sizeof(a), "%s&options=-csearch_path%%3Dgw_a", E.dsn);
	snprintf(b, sizeof(b), "%s&options=-csearch_path%%3Dgw_b", E.dsn);
	cfg_init(&ca);
	ca.path = a;
	ca.tsa_url = NULL;
	cb = ca;
	cb.path = b;
	assert_non_null(la = ml_open(&ca));
	lb = ml_open(&cb);
	if (!lb) {
		msglog_close(la);
		fail_msg("the second schema's log was refused");
	}
	assert_int_equal(ml_append_n(la, 1, 3, 0, 5), 3);
	assert_int_equal(ml_append_n(lb, 1, 5, 0, 5), 5);
	msglog_close(la);
	msglog_close(lb);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM gw_a.msglog_records"), 3);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM gw_b.msglog_records"), 5);
	p[0] = b;
	assert_int_equal(logverify_run(p, 1, &o, NULL, &res), 0);
	assert_int_equal(res.records, 5);
}

/* Identifiers are bytes, as in SQLite: non-ASCII and invalid UTF-8 ones
 * are logged, read back the same whatever the client encoding, and verify. */
static void test_pg_identifier_bytes(void **state)
{
	static const char *ids[] = { "m\xc3\xa4-1", "bad\xff", "\xd0\xba\xd1\x8b\xd1\x80" };
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct logverify_opts o = { 0 };
	const char *p[1] = { E.dsn };
	char *err = NULL;
	int64_t id = 0;
	size_t i;
	int rc;

	(void)state;
	cfg_init(&c);
	c.tsa_url = NULL;
	assert_non_null(log = ml_open(&c));
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct msglog_rec r = { 0 };

		r.dir = MSGLOG_REQUEST;
		r.side = MSGLOG_SERVER;
		r.reqid = ids[i];
		r.message_id = ids[i];
		r.client_id = CLIENT;
		r.service_id = SERVICE;
		r.body_mode = MSGLOG_BODY_FULL;
		r.body = "b";
		r.body_len = 1;
		if (msglog_append_sync(log, &r, &id, NULL, &err) < 0) {
			msglog_close(log);
			fail_msg("append of id %zu: %s", i, err ? err : "?");
		}
	}
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "bad\xff", msglog_now_ms() - 60000, &err), 1);
	msglog_close(log);
	assert_non_null(log = ml_open(&c));   /* the window reloaded from the database */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "m\xc3\xa4-1", msglog_now_ms() - 60000, &err), 1);
	msglog_close(log);
	assert_int_equal(logverify_run(p, 1, &o, NULL, &res), 0);
	assert_int_equal(res.records, 3);
	setenv("PGCLIENTENCODING", "LATIN1", 1);
	rc = logverify_run(p, 1, &o, NULL, &res);
	unsetenv("PGCLIENTENCODING");
	assert_int_equal(rc, 0);
}

/* Log lines show the URI without its password, wherever it is. */
static void test_pg_target_display(void **state)
{
	static const char *const cases[][2] = {
		{ "postgresql://gw:s3cret@db.example:5432/log", "postgresql://gw@db.example:5432/log" },
		{ "postgresql://db.example/log?password=ab", "postgresql://db.example/log" },
		{ "postgresql://db.example:5432/db?password=se@cret&sslmode=require", "postgresql://db.example:5432/db" },
		{ "postgres://u@h/d?host=/tmp&password=x&user=y", "postgresql://y@/tmp/d" },
		{ "postgresql://u:p@h?password=q", "postgresql://u@h/" },
		{ "postgresql://u:ab?cd@host/db", "postgresql://u@host/db" },           /* libpq: password "ab?cd" */
		{ "postgresql://h/d?pass%77ord=s3cret", "postgresql://h/d" },           /* a percent-encoded key */
		{ "postgresql://h/d?sslpassword=s3cret&sslmode=require", "postgresql://h/d" },
		{ "postgresql://h/d?password=zz%23frag", "postgresql://h/d" },
		{ "postgresql://h/d?nonsense=s3cret", "postgresql://(not a valid URI)" },
		{ "/var/lib/ailgate/msglog.db", "/var/lib/ailgate/msglog.db" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(msglog_target_display(cases[i][0], out, sizeof(out)), cases[i][1]);
		assert_null(strstr(out, "s3cret"));
	}
}

/* The server ends the session that holds the log's writer lock (an
 * administrator, a network cut), and the test lets it go. */
static void drop_writer_session(void)
{
	assert_int_equal(pg_exec("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
				 " AND objid = 'msglog_records'::regclass::oid"), 0);
	sleep_ms(200);
}

/* The writer's connection of one process is cut and another process takes
 * the log: the first one's writer cannot take the lock back (its appends
 * fail, it stays unhealthy), and its stamper stamps nothing of a chain it no
 * longer writes; the other process writes and stamps, and the log verifies. */
/* The other gateway process: opens the log, writes records 3-4 and stamps
 * them, says so on *ready, and holds the log until *go is closed. */
static pid_t other_process(int *ready, int *go)
{
	int r[2], g[2];
	pid_t pid;

	if (pipe(r) < 0 || pipe(g) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		struct msglog_config c;
		struct msglog *b;
		char st = '1', x;

		close(r[0]);
		close(g[1]);
		cfg_init(&c);
		if ((b = ml_open(&c)) != NULL)
			st = ml_append_n(b, 3, 2, 0, 5) == 4 && ml_stamp_all(b) == 0 ? '0' : '2';
		if (write(r[1], &st, 1) != 1 || read(g[0], &x, 1) < 0)
			st = '3';
		if (b)
			msglog_close(b);
		_exit(st - '0');
	}
	close(r[1]);
	close(g[0]);
	*ready = r[0];
	*go = g[1];
	return pid;
}

static void test_pg_lost_lock(void **state)
{
	struct msglog_config c;
	struct msglog *a;
	struct logverify_result res;
	const char *p[1] = { E.dsn };
	int ready = -1, go = -1, st = 0, ok_a, healthy_a, ok_back;
	char other = 'x';
	long stamps;
	pid_t pid;

	(void)state;
	cfg_init(&c);
	assert_non_null(a = ml_open(&c));
	assert_int_equal(ml_append_n(a, 1, 2, 0, 5), 2);
	assert_int_equal(ml_stamp_all(a), 0);
	/* a's writer session goes (an administrator, a network cut) */
	drop_writer_session();
	pid = other_process(&ready, &go);
	if (pid < 0 || read(ready, &other, 1) != 1) {
		msglog_close(a);
		fail_msg("the other process did not come up");
	}
	/* While the other process holds the log: */
	ok_a = ml_append_n(a, 5, 1, 0, 5) > 0;
	sleep_ms(1200);                      /* the writer's probe (1 s) cannot take the lock */
	ok_a |= ml_append_n(a, 5, 1, 0, 5) > 0;
	healthy_a = msglog_is_healthy(a, NULL, 0);
	assert_int_equal(pg_exec("INSERT INTO msglog_records SELECT 5, time_ms, dir, side, reqid, message_id,"
				 " client_id, service_id, body_mode, body, body_len, body_sha256, sigdoc, ocsp,"
				 " request_hash, hash, hash FROM msglog_records WHERE id = 4"), 0);   /* unstamped work */
	stamps = pg_count("SELECT COUNT(*) FROM msglog_timestamps");
	msglog_stamp_now(a);
	sleep_ms(500);
	ok_a |= pg_count("SELECT COUNT(*) FROM msglog_timestamps") != stamps;   /* a stamped */
	assert_int_equal(pg_exec("DELETE FROM msglog_records WHERE id = 5"), 0);
	close(go);
	close(ready);
	waitpid(pid, &st, 0);
	/* The other process is gone: a takes the log back and goes on after
	 * the other's records (it reads where the chain stands first). */
	ok_back = 0;
	for (int i = 0; i < 40 && !ok_back; i++) {
		ok_back = ml_append_n(a, 7, 2, 0, 5) > 0;
		if (!ok_back)
			sleep_ms(100);
	}
	msglog_close(a);
	assert_int_equal(other, '0');
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_false(ok_a);
	assert_int_equal(healthy_a, 0);
	assert_true(ok_back);
	assert_int_equal(pg_count("SELECT MAX(id) FROM msglog_records"), 6);
	assert_int_equal(verify(p, 1, &res), 0);   /* stamped at a's close */
	assert_int_equal(res.records, 6);
}

/* A stamp that one process began while its writer still held the log, and
 * that commits after another process took the log over: the new writer
 * waits for it (the stamping lock) and then stamps only what follows, so
 * the batches stay contiguous and the log verifies. Before, both processes
 * stamped records 1-2 and the verifier named the overlap. */
static void test_pg_stamp_across_takeover(void **state)
{
	struct msglog_config c;
	struct msglog *a;
	struct logverify_result res;
	const char *p[1] = { E.dsn };
	PGconn *hold;
	PGresult *r;
	int ready = -1, go = -1, st = 0, waiting = 0, rc;
	char other = 'x';
	pid_t pid;

	(void)state;
	cfg_init(&c);
	assert_non_null(a = ml_open(&c));
	assert_int_equal(ml_append_n(a, 1, 2, 0, 5), 2);
	/* While this transaction lasts, inserts of time stamps wait. */
	hold = PQconnectdb(E.dsn);
	assert_int_equal(PQstatus(hold), CONNECTION_OK);
	r = PQexec(hold, "BEGIN; LOCK TABLE msglog_timestamps IN SHARE MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* a's stamper: the token, its transaction, the owner check, the insert (waits) */
	msglog_stamp_now(a);
	for (int i = 0; i < 200 && !waiting; i++) {
		waiting = pg_count("SELECT COUNT(*) FROM pg_locks WHERE NOT granted"
				   " AND relation = 'msglog_timestamps'::regclass") == 1;
		if (!waiting)
			sleep_ms(25);
	}
	/* a's writer session goes; another process takes the log, writes
	 * records 3-4 and stamps what it finds unstamped. */
	drop_writer_session();
	pid = other_process(&ready, &go);
	sleep_ms(600);
	r = PQexec(hold, "COMMIT");   /* a's stamp goes in */
	PQclear(r);
	PQfinish(hold);
	rc = pid < 0 ? -1 : (int)read(ready, &other, 1);
	close(go);
	close(ready);
	if (pid > 0)
		waitpid(pid, &st, 0);
	msglog_close(a);
	assert_true(waiting);
	assert_int_equal(rc, 1);
	assert_int_equal(other, '0');
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_timestamps"), 2);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_timestamps WHERE first_id = 3 AND last_id = 4"), 1);
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(res.records, 4);
}

/* ts_sync: every group stamped before its appends return, on the writer's
 * own connection (the stamp goes into the writer's pipeline). */
static void test_pg_ts_sync(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	const char *p[1] = { E.dsn };
	int64_t id;

	(void)state;
	cfg_init(&c);
	c.ts_sync = 1;
	assert_non_null(log = ml_open(&c));
	id = ml_append_n(log, 1, 3, 0, 5);
	msglog_close(log);
	assert_int_equal(id, 3);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_timestamps"), 3);
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(res.batches, 3);
}

/* kill -9 of the database server: every record whose append returned is
 * there after its recovery, and the log goes on from it. */
static void test_pg_server_crash(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	const char *p[1] = { E.dsn };

	(void)state;
	cfg_init(&c);
	c.tsa_url = NULL;   /* stamps would fail while the server is down */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 20, 0, 5), 20);
	assert_int_equal(pg_sh("crash"), 0);
	msglog_close(log);
	assert_int_equal(pg_sh("restart"), 0);
	assert_int_equal(pg_count("SELECT COUNT(*) FROM msglog_records"), 20);
	cfg_init(&c);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 21, 2, 0, 5), 22);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	assert_int_equal(verify(p, 1, &res), 0);
	assert_int_equal(res.records, 22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_pg_chain_verified, setup),
		cmocka_unit_test_setup(test_pg_reopen_replay, setup),
		cmocka_unit_test_setup(test_pg_one_writer, setup),
		cmocka_unit_test_setup(test_pg_damaged_chain_state, setup),
		cmocka_unit_test_setup(test_pg_archive, setup),
		cmocka_unit_test_setup(test_pg_refused_group, setup),
		cmocka_unit_test_setup(test_pg_server_crash, setup),
		cmocka_unit_test_setup(test_pg_reconnect, setup),
		cmocka_unit_test_setup(test_pg_lost_lock, setup),
		cmocka_unit_test_setup(test_pg_stamp_across_takeover, setup),
		cmocka_unit_test_setup(test_pg_ts_sync, setup),
		cmocka_unit_test_setup(test_pg_two_schemas, setup),
		cmocka_unit_test_setup(test_pg_identifier_bytes, setup),
		cmocka_unit_test(test_pg_target_display),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
