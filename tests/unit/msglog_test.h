/* Helpers shared by the message-log tests (test_msglog, test_msglog_fail,
 * test_msglog_pg, test_msglog_pack), header-only. Include after <cmocka.h>, "proc_test.h" and
 * "store/msglog.h".
 *
 *   ml_tsa_cfg    a TSA for c (url, its certificate, its CA chain), stamped
 *                 only when a test asks (msglog_stamp_now)
 *   ml_open       msglog_open, printing why it failed
 *   ml_count_rows the single integer a query gives on an SQLite file opened
 *                 read-only, or -1
 *   ml_exec_sql   runs SQL on an SQLite file (the tests' tampering); 0, or
 *                 -1 with the statement and SQLite's message printed
 *   ml_rand       xorshift64: repeatable pseudo-random numbers from *seed
 *   ml_stamp_all  asks for a stamp and waits (up to 5 s) until nothing is
 *                 unstamped; 0, or -1
 *   ml_make_rec   record i of a test exchange (CLIENT calls SERVICE, server
 *                 side): odd i requests, even the responses of message
 *                 (i + 1) / 2, small bodies, signature and OCSP texts of i
 *   ml_append_n   records from..from+n-1 appended one at a time, each waited
 *                 for, at time_ms (0: now); with digest_every k > 0 every
 *                 k-th record in the metadata-only mode (no body stored);
 *                 the last id, or -1
 *   ml_env_start  the group's environment: a mkdtemp directory /tmp/NAME.XXXXXX,
 *                 a development PKI in it (certs/mkpki.sh: gateway a, member
 *                 GOV/70000050) and a TSA (tests/integration/tsa_server.py,
 *                 down while the file e->down exists); 0, or -1
 *   ml_env_stop   stops the TSA and removes the directory (kept with
 *                 AILGATE_KEEP_TMP set)
 *   ml_env_newdir a fresh directory under it */
#ifndef AILGATE_TESTS_UNIT_MSGLOG_TEST_H
#define AILGATE_TESTS_UNIT_MSGLOG_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

struct ml_env {
	char dir[256];
	char pki[320];
	char down[320];                  /* the TSA answers 503 while this file exists */
	char url[64];                    /* the TSA's */
	char tsa_cert[400], trust[400];  /* its certificate; the PKI's trust anchors */
	pid_t srv;
	int ntmp;
};

static inline int ml_env_start(struct ml_env *e, const char *name)
{
	char pf[320], tsa_dir[400];
	int port = 0;

	snprintf(e->dir, sizeof(e->dir), "/tmp/%s.XXXXXX", name);
	if (!mkdtemp(e->dir)) {
		e->dir[0] = '\0';
		return -1;
	}
	snprintf(e->pki, sizeof(e->pki), "%s/pki", e->dir);
	snprintf(e->down, sizeof(e->down), "%s/tsa-down", e->dir);
	snprintf(pf, sizeof(pf), "%s/tsa-port", e->dir);
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", e->pki);
	snprintf(e->tsa_cert, sizeof(e->tsa_cert), "%s/tsa/tsa.pem", e->pki);
	snprintf(e->trust, sizeof(e->trust), "%s/ca/trust.pem", e->pki);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/70000050 --clients '' "
	       ">/dev/null 2>&1", srcdir(), e->pki) != 0)
		return -1;
	if ((e->srv = start_tsa(tsa_dir, pf, e->down, &port)) < 0)
		return -1;
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d/", port);
	return 0;
}

static inline void ml_env_stop(struct ml_env *e)
{
	stop_tsa(e->srv);
	if (e->dir[0] && !getenv("AILGATE_KEEP_TMP"))
		sh("rm -rf '%s'", e->dir);
}

static inline void ml_env_newdir(struct ml_env *e, char *out, size_t n)
{
	snprintf(out, n, "%s/t%d", e->dir, ++e->ntmp);
	mkdir(out, 0700);
}

static inline void ml_tsa_cfg(struct msglog_config *c, const char *url, const char *cert, const char *trust)
{
	c->tsa_url = url;
	c->tsa_cert_pem = cert;
	c->tsa_ca_pem = trust;
	c->ts_interval_ms = 100000;   /* tests stamp with msglog_stamp_now */
	c->ts_timeout_ms = 5000;
}

static inline int64_t ml_count_rows(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static inline int ml_exec_sql(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	int rc;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return -1;
	}
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	if (rc < 0)
		print_message("sql: %s: %s\n", sql, sqlite3_errmsg(h));
	sqlite3_close(h);
	return rc;
}

static inline uint64_t ml_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline struct msglog *ml_open(const struct msglog_config *c)
{
	char *err = NULL;
	struct msglog *log = msglog_open(c, &err);

	if (!log)
		print_message("msglog_open: %s\n", err ? err : "?");
	free(err);
	return log;
}

static inline int ml_stamp_all(struct msglog *log)
{
	msglog_stamp_now(log);
	for (int i = 0; i < 500; i++) {
		if (msglog_unstamped(log) == 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

struct ml_recbuf {
	char msgid[64], reqid[64], body[128], sig[128], ocsp[32];
};

static inline void ml_make_rec(struct msglog_rec *r, struct ml_recbuf *b, int i)
{
	memset(r, 0, sizeof(*r));
	snprintf(b->msgid, sizeof(b->msgid), "msg-%d", (i + 1) / 2);
	snprintf(b->reqid, sizeof(b->reqid), "req-%d", i);
	snprintf(b->body, sizeof(b->body), "<Envelope><Body>record %d</Body></Envelope>", i);
	snprintf(b->sig, sizeof(b->sig), "<Signature>%d</Signature>", i);
	snprintf(b->ocsp, sizeof(b->ocsp), "ocsp-%d", i);
	r->dir = i % 2 ? MSGLOG_REQUEST : MSGLOG_RESPONSE;
	r->side = MSGLOG_SERVER;
	r->reqid = b->reqid;
	r->message_id = b->msgid;
	r->client_id = CLIENT;
	r->service_id = SERVICE;
	r->body_mode = MSGLOG_BODY_FULL;
	r->body = b->body;
	r->body_len = strlen(b->body);
	r->sigdoc = b->sig;
	r->sigdoc_len = strlen(b->sig);
	r->ocsp = b->ocsp;
	r->ocsp_len = strlen(b->ocsp);
	r->request_hash = i % 2 ? "" : "aGFzaA==";
}

static inline int64_t ml_append_n(struct msglog *log, int from, int n, int64_t time_ms, int digest_every)
{
	int64_t id = 0;

	for (int i = from; i < from + n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, i);
		r.time_ms = time_ms;
		if (digest_every > 0 && i % digest_every == 0)
			r.body_mode = MSGLOG_BODY_DIGEST;
		if (msglog_append_sync(log, &r, &id, NULL, &err) < 0) {
			print_message("append: %s\n", err ? err : "?");
			free(err);
			return -1;
		}
	}
	return id;
}

#endif
