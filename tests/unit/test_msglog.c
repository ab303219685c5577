/* Tests for store/msglog and store/logverify: group commit, callbacks on
 * the caller's loop after the record is durable, batch time stamps from a
 * real TSA (tests/integration/tsa_server.py running `openssl ts -reply`
 * on 127.0.0.1), TSA outage and recovery, metadata-only mode, archiving
 * across the chain, replay window (and its snapshot at a clean close: used
 * once, refused when torn, tampered, of another log state or window, with
 * the database reload's answers either way), offline verification naming the first
 * bad record for each kind of tampering (the SQLite file edited directly),
 * export by message id after a schema change (the export itself:
 * test_logexport.c), and the shared OCSP data and Batch elements (real
 * batch documents from sig_sign_batch) stored once, read back byte for byte, kept through
 * archiving and retention as long as a record uses them.
 *
 * MSGLOG_BENCH=N also runs a benchmark: N records with group commit and
 * with one commit per record, records/s printed.
 *
 * MSGLOG_RECBENCH=N runs only the writer benchmark (no other test): N
 * records of the signed exchange's sizes (body ~1.5 KB, the same two ~2.5 KB
 * OCSP blobs in every record) with its batch-form signature documents (made
 * with sig_sign_batch: ~5 KB, 12 messages a batch, two batches open at a
 * time) in groups of 25 (MSGLOG_RECBENCH_GROUP),
 * with checkpoints on another connection as the stamper makes them,
 * printing the writer thread's CPU per record (its schedstat) and bytes
 * written (its /proc io), the whole process's, and the files' size. With
 * MSGLOG_RECBENCH_DB=FILE it appends to that log (kept), with
 * MSGLOG_RECBENCH_KEEP=1 it keeps its own.
 *
 * MSGLOG_CONCBENCH=N runs only the concurrent writer benchmark: the same
 * records from event loops at a given rate, completions on the loops, a
 * checkpoint a second as the stamper does (conc_bench has the knobs); it
 * prints the writer's and the process's CPU per record, records per commit
 * and the latency from append to callback.
 *
 * MSGLOG_REPLAYBENCH=N runs only the replay window's open benchmark: N
 * requests in the window, the open that reloads them from the database
 * against the open from the snapshot (replay_bench).
 * MSGLOG_ARCHIVEBENCH=N runs only the archiving benchmark (archive_bench):
 * how long appends wait while N old records are archived. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "store/logverify.h"
#include "core/logcli.h"
#include "store/msglog.h"
#include "trust/keys.h"
#include "trust/sign.h"

#define CLIENT "central-server/GOV/70000050/household-register"
#define SERVICE "central-server/GOV/70000005/population/getPerson/v1"

#include "msglog_test.h"

static struct ml_env E;
static char tamper_src[400];             /* a closed, stamped log of 10 records */

/* ---------------------------------------------------------- environment */

/* A fresh directory under the group's mkdtemp directory. */
static void newdir(char *out, size_t n)
{
	ml_env_newdir(&E, out, n);
}

static void cfg_init(struct msglog_config *c, const char *db, int with_tsa)
{
	msglog_config_defaults(c);
	c->path = db;
	if (with_tsa)
		ml_tsa_cfg(c, E.url, E.tsa_cert, E.trust);
}

static int verify(const char *const *paths, size_t n, int require_stamped,
		  struct logverify_result *res)
{
	struct logverify_opts o = { .tsa_ca_pem = E.trust, .tsa_cert_pem = E.tsa_cert,
				    .require_stamped = require_stamped };

	return logverify_run(paths, n, &o, NULL, res);
}

static int verify1(const char *db, struct logverify_result *res)
{
	return verify(&db, 1, 0, res);
}

/* Builds the log that the tampering cases copy: 10 records in two batches
 * (1..5 and 6..10). */
static int make_tamper_src(void)
{
	char d[320];
	struct msglog_config c;
	struct msglog *log;
	int rc = -1;

	newdir(d, sizeof(d));
	snprintf(tamper_src, sizeof(tamper_src), "%s/src.db", d);
	cfg_init(&c, tamper_src, 1);
	if (!(log = ml_open(&c)))
		return -1;
	if (ml_append_n(log, 1, 5, 0, 0) == 5 && ml_stamp_all(log) == 0 && ml_append_n(log, 6, 5, 0, 0) == 10 &&
	    ml_stamp_all(log) == 0)
		rc = 0;
	msglog_close(log);
	return rc;
}

static int group_setup(void **state)
{
	if (ml_env_start(&E, "test_msglog") != 0 || evthread_use_pthreads() < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	return make_tamper_src();
}

static int group_teardown(void **state)
{
	ml_env_stop(&E);
	curl_global_cleanup();
	libevent_global_shutdown();
	sig_global_shutdown();
	return 0;
}

/* --------------------------------------------------------- chain rules */

static void test_canon_layout(void **state)
{
	struct msglog_row r = { 0 };
	struct buf b = BUF_INIT;
	const unsigned char *p;
	size_t off = 0, nf = 0;

	r.id = 0x0102030405060708LL;
	r.time_ms = 1700000000000LL;
	r.dir = MSGLOG_REQUEST;
	r.side = MSGLOG_CLIENT;
	r.reqid = "r";
	r.message_id = "m";
	r.client_id = "c";
	r.service_id = "s";
	r.body_mode = MSGLOG_BODY_DIGEST;
	r.body_len = 5;
	r.request_hash = "";
	assert_int_equal(msglog_canon(&r, &b), 0);
	p = (const unsigned char *)b.data;
	/* Every field: 4-byte big-endian length, then its bytes. */
	while (off + 4 <= b.len) {
		size_t n = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];

		off += 4 + n;
		nf++;
	}
	assert_int_equal(off, b.len);
	assert_int_equal(nf, 15);
	assert_memory_equal(p, "\0\0\0\x10" "ailgate-msglog-1", 20);
	assert_memory_equal(p + 20, "\0\0\0\x08\x01\x02\x03\x04\x05\x06\x07\x08", 12);
	/* tag 20 + id 12 + time 12 + dir 5 + side 5 + 4 strings 5 each + mode 5 +
	 * len 12 + three digests 36 each + empty request hash 4 */
	assert_int_equal(b.len, 20 + 12 + 12 + 5 + 5 + 20 + 5 + 12 + 108 + 4);
	buf_free(&b);
}

static void mut_id(struct msglog_row *r) { r->id++; }
static void mut_time(struct msglog_row *r) { r->time_ms++; }
static void mut_dir(struct msglog_row *r) { r->dir = MSGLOG_RESPONSE; }
static void mut_side(struct msglog_row *r) { r->side = MSGLOG_SERVER; }
static void mut_reqid(struct msglog_row *r) { r->reqid = "r2"; }
static void mut_msgid(struct msglog_row *r) { r->message_id = "m2"; }
static void mut_client(struct msglog_row *r) { r->client_id = "c2"; }
static void mut_service(struct msglog_row *r) { r->service_id = "s2"; }
static void mut_mode(struct msglog_row *r) { r->body_mode = MSGLOG_BODY_FULL; }
static void mut_len(struct msglog_row *r) { r->body_len++; }
static void mut_digest(struct msglog_row *r) { r->body_sha256[31] ^= 1; }
static void mut_sig(struct msglog_row *r) { r->sigdoc = (const unsigned char *)"x"; r->sigdoc_len = 1; }
static void mut_ocsp(struct msglog_row *r) { r->ocsp = (const unsigned char *)"x"; r->ocsp_len = 1; }
static void mut_rhash(struct msglog_row *r) { r->request_hash = "h"; }
static void mut_prev(struct msglog_row *r) { r->prev_hash[0] ^= 1; }
/* Field boundaries are in the encoding: moving a byte between fields changes it. */
static void mut_shift(struct msglog_row *r) { r->reqid = "rm"; r->message_id = ""; }

/* Every field is bound by the hash. */
static void test_hash_binds_every_field(void **state)
{
	static void (*const muts[])(struct msglog_row *) = {
		mut_id, mut_time, mut_dir, mut_side, mut_reqid, mut_msgid, mut_client, mut_service,
		mut_mode, mut_len, mut_digest, mut_sig, mut_ocsp, mut_rhash, mut_prev, mut_shift,
	};
	struct msglog_row base = { .id = 7, .time_ms = 1, .dir = 1, .side = 1, .reqid = "r",
				   .message_id = "m", .client_id = "c", .service_id = "s",
				   .body_mode = MSGLOG_BODY_DIGEST, .request_hash = "" };
	unsigned char h0[32], h1[32];
	size_t i;

	assert_int_equal(msglog_row_hash(&base, h0), 0);
	for (i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
		struct msglog_row r = base;

		muts[i](&r);
		assert_int_equal(msglog_row_hash(&r, h1), 0);
		if (memcmp(h0, h1, 32) == 0)
			fail_msg("mutation %zu does not change the hash", i);
	}
}

/* ---------------------------------------------- append, callbacks, commit */

struct loopctx {
	struct event_base *base;
	pthread_t loop_thread;
	const char *db;
	int64_t ids[100];
	int n, want, wrong_thread, not_durable;
};

static void on_done_loop(const struct msglog_result *res, void *arg)
{
	struct loopctx *c = arg;
	char sql[128];

	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->wrong_thread++;
	/* Durable before the callback: a separate connection sees it now. */
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM records WHERE id = %lld", (long long)res->id);
	if (res->status != MSGLOG_OK || ml_count_rows(c->db, sql) != 1)
		c->not_durable++;
	c->ids[c->n++] = res->id;
	if (c->n == c->want)
		event_base_loopbreak(c->base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* A log in a new directory and a loop to take its callbacks, with a
 * guard timer (armed by the caller) that ends a hung test. */
static struct msglog *loop_open(struct loopctx *ctx, char *db, size_t dbn, unsigned batch_max,
				struct event **guard)
{
	char d[320];
	struct msglog_config c;
	struct msglog *log;

	newdir(d, sizeof(d));
	snprintf(db, dbn, "%s/log.db", d);
	cfg_init(&c, db, 0);
	if (batch_max)
		c.batch_max = batch_max;
	assert_non_null(log = ml_open(&c));
	ctx->base = event_base_new();
	ctx->loop_thread = pthread_self();
	ctx->db = db;
	*guard = evtimer_new(ctx->base, on_guard, ctx->base);
	return log;
}

static void loop_close(struct loopctx *ctx, struct msglog *log, struct event *guard)
{
	assert_int_equal(ctx->wrong_thread, 0);
	assert_int_equal(ctx->not_durable, 0);
	msglog_detach_base(log, ctx->base);
	msglog_close(log);
	event_free(guard);
	event_base_free(ctx->base);
}

/* Records appended from a loop are committed at the end of the loop's turn
 * (or by their due when the turn runs long). A turn that ends after the
 * writer already took its records - the due came first - finds the queue
 * empty: the writer must go on waiting, not stop (it did once, and the
 * next record's callback never came). */
static void test_loop_turn_after_due(void **state)
{
	char db[400];
	struct loopctx ctx = { 0 };
	struct timeval tv = { 10, 0 };
	struct event *guard;
	struct msglog *log = loop_open(&ctx, db, sizeof(db), 0, &guard);
	int round;

	for (round = 1; round <= 3; round++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, round);
		assert_int_equal(msglog_append(log, &r, on_done_loop, &ctx, ctx.base, &err), 0);
		/* The turn runs long: the writer commits by the due meanwhile. */
		sleep_ms(4 * MSGLOG_LAZY_MS + 20);
		ctx.want = round;
		evtimer_add(guard, &tv);   /* ends a hung test */
		event_base_dispatch(ctx.base);
		assert_int_equal(ctx.n, round);
	}
	loop_close(&ctx, log, guard);
}

static void test_append_callbacks_on_loop(void **state)
{
	char db[400];
	struct loopctx ctx = { 0 };
	struct timeval tv = { 10, 0 };
	struct event *guard;
	struct msglog *log = loop_open(&ctx, db, sizeof(db), 16, &guard);
	int i;

	ctx.want = 100;
	evtimer_add(guard, &tv);   /* keeps the loop alive; ends a hung test */
	for (i = 0; i < 100; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, i + 1);
		assert_int_equal(msglog_append(log, &r, on_done_loop, &ctx, ctx.base, &err), 0);
	}
	event_base_dispatch(ctx.base);
	assert_int_equal(ctx.n, 100);
	for (i = 0; i < 100; i++)
		assert_int_equal(ctx.ids[i], i + 1);   /* in append order */
	loop_close(&ctx, log, guard);
}

struct mtctx {
	struct msglog *log;
	int tid;
	pthread_mutex_t mu;
	atomic_int done;
	unsigned char seen[1001];
	int bad;
};

struct mtarg {
	struct mtctx *c;
	int tid;
};

static void on_done_mt(const struct msglog_result *res, void *arg)
{
	struct mtctx *c = arg;

	pthread_mutex_lock(&c->mu);
	if (res->status != MSGLOG_OK || res->id < 1 || res->id > 1000 || c->seen[res->id]++)
		c->bad++;
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->done, 1);
}

static void *mt_appender(void *arg)
{
	struct mtarg *a = arg;
	int i;

	for (i = 0; i < 250; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, a->tid * 1000 + i);
		if (msglog_append(a->c->log, &r, on_done_mt, a->c, NULL, &err) < 0) {
			free(err);
			pthread_mutex_lock(&a->c->mu);
			a->c->bad++;
			pthread_mutex_unlock(&a->c->mu);
			atomic_fetch_add(&a->c->done, 1);
		}
	}
	return NULL;
}

/* 4 threads append at once: every record logged once, in far fewer
 * transactions than records, and the chain verifies. */
static void test_group_commit_threads(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct mtctx ctx = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct mtarg args[4];
	pthread_t th[4];
	struct msglog_stats st;
	struct logverify_result res;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(ctx.log = ml_open(&c));
	for (i = 0; i < 4; i++) {
		args[i] = (struct mtarg){ &ctx, i };
		assert_int_equal(pthread_create(&th[i], NULL, mt_appender, &args[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 1000 && atomic_load(&ctx.done) < 1000; i++)
		sleep_ms(10);
	assert_int_equal(atomic_load(&ctx.done), 1000);
	assert_int_equal(ctx.bad, 0);
	msglog_get_stats(ctx.log, &st);
	assert_int_equal(st.records, 1000);
	print_message("group commit: 1000 records in %llu transactions\n",
		      (unsigned long long)st.commits);
	assert_true(st.commits < 500);
	msglog_close(ctx.log);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 1000);
}

static void on_done_count(const struct msglog_result *res, void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* A lazy record (a request) does not start a commit: it goes with the
 * next record that does, in one commit, or alone once it waited
 * MSGLOG_LAZY_MS; either way its callback comes with the record durable. */
static void test_lazy_records(void **state)
{
	char d[320], db[400], *err = NULL;
	struct msglog_config c;
	struct msglog_stats st0, st1;
	struct msglog *log;
	struct msglog_rec r;
	struct ml_recbuf b;
	struct timespec t0, t1;
	struct logverify_result res;
	atomic_int done = 0;
	const struct timespec half_ms = { 0, 500000 };
	double waited;
	int i, conclusive;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	/* A lazy record waits (no commit half a millisecond later), and goes in
	 * one commit with the eager one that follows. Timing: the due is whole
	 * milliseconds of the monotonic clock, MSGLOG_LAZY_MS - 1 to
	 * MSGLOG_LAZY_MS after the append; an attempt that took longer than the
	 * shortest due says nothing and is repeated. */
	for (i = 0, conclusive = 0; i < 10 && !conclusive; i++) {
		int base = atomic_load(&done);

		msglog_get_stats(log, &st0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ml_make_rec(&r, &b, 2 * i + 1);
		r.lazy = 1;
		assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
		nanosleep(&half_ms, NULL);
		msglog_get_stats(log, &st1);
		ml_make_rec(&r, &b, 2 * i + 2);
		assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
		/* conclusive only if the eager one came before the lazy one's due */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		while (atomic_load(&done) < base + 2)
			sleep_ms(1);
		waited = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (waited >= (MSGLOG_LAZY_MS - 1) * 0.9)
			continue;
		conclusive = 1;
		assert_int_equal(st1.commits, st0.commits);
		msglog_get_stats(log, &st1);
		assert_int_equal(st1.commits - st0.commits, 1);
		assert_int_equal(st1.records - st0.records, 2);
	}
	if (!conclusive)
		print_message("every attempt was slower than MSGLOG_LAZY_MS: not checked\n");
	/* A lazy one alone: committed by its due, not held longer. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	msglog_get_stats(log, &st1);
	ml_make_rec(&r, &b, 99);
	r.lazy = 1;
	i = atomic_load(&done);
	assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
	while (atomic_load(&done) < i + 1)
		sleep_ms(1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("a lazy record alone: committed after %.1f ms\n", waited);
	assert_true(waited < 2000);   /* due after MSGLOG_LAZY_MS; generous for a loaded machine */
	msglog_get_stats(log, &st0);
	assert_int_equal(st0.records - st1.records, 1);
	msglog_close(log);
	assert_int_equal(verify1(db, &res), 0);
	assert_null(err);
}

static double bench_once(const char *db, unsigned batch_max, int n)
{
	struct msglog_config c;
	struct msglog *log;
	struct timespec t0, t1;
	atomic_int done = 0;
	int i;

	cfg_init(&c, db, 0);
	c.batch_max = batch_max;
	c.queue_max = (unsigned)n + 1;
	if (!(log = ml_open(&c)))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, i);
		if (msglog_append(log, &r, on_done_count, &done, NULL, &err) < 0) {
			free(err);
			atomic_fetch_add(&done, 1);
		}
	}
	while (atomic_load(&done) < n)
		sleep_ms(1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	msglog_close(log);
	return n / ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void test_bench(void **state)
{
	const char *env = getenv("MSGLOG_BENCH");
	char d[320], db1[400], db2[400];
	int n = env ? atoi(env) : 0;
	double g, one;

	if (n <= 0)
		skip();
	newdir(d, sizeof(d));
	snprintf(db1, sizeof(db1), "%s/group.db", d);
	snprintf(db2, sizeof(db2), "%s/single.db", d);
	g = bench_once(db1, 256, n);
	one = bench_once(db2, 1, n);
	print_message("msglog bench: %d records: group commit %.0f records/s, one commit per "
		      "record %.0f records/s (x%.1f)\n", n, g, one, one > 0 ? g / one : 0);
	assert_true(g > 0 && one > 0);
}

static void noop_done(const struct msglog_result *res, void *arg)
{
	(*(int *)arg)++;
}

/* Records that are refused are not queued and get no callback. */
static void test_append_refused(void **state)
{
	static const char big[64];
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	int calls = 0;
	size_t i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	c.max_body = 16;
	c.max_id_len = 8;
	assert_non_null(log = ml_open(&c));
	for (i = 0; i < 7; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, 1);
		r.body_len = 10;
		r.client_id = "C";
		r.message_id = "M";
		switch (i) {
		case 0: r.dir = 0; break;
		case 1: r.side = 3; break;
		case 2: r.body_mode = 9; break;
		case 3: r.body = big; r.body_len = sizeof(big); break;   /* over max_body */
		case 4: r.client_id = "far-too-long-for-eight"; break;
		case 5: r.body = NULL; break;                             /* length, no data */
		case 6: r.body = NULL; r.body_mode = MSGLOG_BODY_DIGEST; break; /* no digest either */
		}
		assert_int_equal(msglog_append(log, &r, noop_done, &calls, NULL, &err), -1);
		assert_non_null(err);
		free(err);
	}
	msglog_close(log);
	assert_int_equal(calls, 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 0);
}

/* Closing and reopening continues the chain. */
static void test_reopen_continues(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, 0, 0), 3);
	msglog_close(log);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 4, 3, 0, 0), 6);
	msglog_close(log);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 6);
}

/* ------------------------------------------------------------- stamping */

static void test_batches_stamped(void **state)
{
	struct logverify_result res;
	const char *p = tamper_src;

	assert_int_equal(ml_count_rows(p, "SELECT COUNT(*) FROM timestamps"), 2);
	assert_int_equal(ml_count_rows(p, "SELECT COUNT(*) FROM timestamps WHERE first_id = 1 AND "
				       "last_id = 5"), 1);
	assert_int_equal(ml_count_rows(p, "SELECT COUNT(*) FROM timestamps WHERE first_id = 6 AND "
				       "last_id = 10"), 1);
	/* The root of a batch is the hash of its last record. */
	assert_int_equal(ml_count_rows(p, "SELECT COUNT(*) FROM timestamps t JOIN records r ON "
				       "r.id = t.last_id AND r.hash = t.root"), 2);
	assert_int_equal(verify(&p, 1, 1, &res), 0);
	assert_int_equal(res.records, 10);
	assert_int_equal(res.batches, 2);
	assert_int_equal(res.unstamped, 0);
}

/* The anchor: the stamper tells the newest stamped record (at most every
 * anchor_interval_ms), msglog_anchor has it (also at the next start), the
 * verifier's report ends with it; with it kept elsewhere, log verify tells a
 * log whose newest batches were cut together with their stamps - which
 * verifies without it - and one rewritten up to it. */
struct anchor_notes {
	int n;
	int64_t id[8];
	unsigned char hash[8][MSGLOG_HASH_LEN];
};

static void note_anchor(void *arg, int64_t id, const unsigned char hash[MSGLOG_HASH_LEN], int64_t time_ms)
{
	struct anchor_notes *nt = arg;

	assert_true(time_ms > 0);
	if (nt->n < 8) {
		nt->id[nt->n] = id;
		memcpy(nt->hash[nt->n], hash, MSGLOG_HASH_LEN);
		nt->n++;
	}
}

static int verify_anchored(const char *db, int64_t id, const unsigned char *hash, struct logverify_result *res)
{
	struct logverify_opts o = { .tsa_ca_pem = E.trust, .tsa_cert_pem = E.tsa_cert, .anchor_id = id };

	memcpy(o.anchor_hash, hash, MSGLOG_HASH_LEN);
	return logverify_run(&db, 1, &o, NULL, res);
}

static void test_anchor(void **state)
{
	char d[320], db[400], cut[420], hx[2 * MSGLOG_HASH_LEN + 1], text[200];
	unsigned char h[MSGLOG_HASH_LEN], wrong[MSGLOG_HASH_LEN];
	struct anchor_notes nt = { 0 };
	struct msglog_config c;
	struct logverify_result res;
	struct msglog *log;
	int64_t id = 0, t = 0;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/a.db", d);
	cfg_init(&c, db, 1);
	c.anchor_note = note_anchor;
	c.anchor_note_arg = &nt;
	c.anchor_interval_ms = 1;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_anchor(log, &id, h, &t), -1);   /* nothing stamped yet */
	assert_int_equal(ml_append_n(log, 1, 5, 0, 0), 5);
	assert_int_equal(ml_stamp_all(log), 0);
	usleep(2000);
	assert_int_equal(ml_append_n(log, 6, 5, 0, 0), 10);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(msglog_anchor(log, &id, h, &t), 0);
	assert_int_equal(id, 10);
	assert_true(t > 0);
	msglog_close(log);
	assert_int_equal(nt.n, 2);
	assert_int_equal(nt.id[0], 5);
	assert_int_equal(nt.id[1], 10);
	assert_memory_equal(nt.hash[1], h, MSGLOG_HASH_LEN);
	/* the hash is record 10's, and the verifier reports it as the head */
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM timestamps WHERE last_id = 10"), 1);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.head_id, 10);
	assert_memory_equal(res.head_hash, h, MSGLOG_HASH_LEN);
	/* at the next start (its last record stamped): known at once */
	assert_non_null(log = ml_open(&c));
	id = 0;
	assert_int_equal(msglog_anchor(log, &id, h, &t), 0);
	assert_int_equal(id, 10);
	assert_memory_equal(nt.hash[1], h, MSGLOG_HASH_LEN);
	msglog_close(log);

	/* the newest batch cut with its stamp: verifies alone, not with the anchor */
	snprintf(cut, sizeof(cut), "%s/cut.db", d);
	assert_int_equal(sh("cp '%s' '%s'", db, cut), 0);
	assert_int_equal(ml_exec_sql(cut, "DELETE FROM records WHERE id > 5; DELETE FROM timestamps WHERE "
				     "first_id = 6"), 0);
	assert_int_equal(verify1(cut, &res), 0);
	assert_int_equal(res.head_id, 5);
	assert_int_equal(verify_anchored(cut, 10, nt.hash[1], &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_CUT);
	assert_int_equal(res.bad_id, 6);
	assert_non_null(strstr(res.detail, "ends at record 5"));
	/* an older anchor it still holds: fine */
	assert_int_equal(verify_anchored(cut, 5, nt.hash[0], &res), 0);
	assert_int_equal(verify_anchored(db, 5, nt.hash[0], &res), 0);
	assert_int_equal(verify_anchored(db, 10, nt.hash[1], &res), 0);
	/* the record is there with another hash: rewritten */
	memcpy(wrong, nt.hash[1], MSGLOG_HASH_LEN);
	wrong[0] ^= 1;
	assert_int_equal(verify_anchored(db, 10, wrong, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_ANCHOR);
	assert_int_equal(res.bad_id, 10);
	assert_string_equal(logverify_problem_name(LOGVERIFY_CUT), "cut");
	assert_string_equal(logverify_problem_name(LOGVERIFY_ANCHOR), "anchor");

	/* "ID:HASH" as the log line and /health give it */
	hex_encode(nt.hash[1], MSGLOG_HASH_LEN, hx);
	snprintf(text, sizeof(text), "10:%s", hx);
	assert_int_equal(logverify_anchor_parse(text, &id, h), 0);
	assert_int_equal(id, 10);
	assert_memory_equal(h, nt.hash[1], MSGLOG_HASH_LEN);
	{
		/* prefix + the hash (from offset skip) + suffix */
		static const struct { const char *pre; int skip; const char *post; } bad[] = {
			{ "", 64, "" }, { "10", 64, "" }, { "10:", 64, "" }, { ":", 0, "" }, { "0:", 0, "" },
			{ "-1:", 0, "" }, { "x:", 0, "" }, { "10:", 0, "0" }, { "10 :", 0, "" }, { "10:zz", 2, "" },
			{ "10:", 1, "" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char b[200];
			snprintf(b, sizeof(b), "%s%s%s", bad[i].pre, hx + bad[i].skip, bad[i].post);
			if (logverify_anchor_parse(b, &id, h) != -1)
				fail_msg("accepted '%s'", b);
		}
	}
}

static void test_ts_sync(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 1);
	c.ts_sync = 1;
	assert_non_null(log = ml_open(&c));
	for (i = 1; i <= 3; i++) {
		assert_int_equal(ml_append_n(log, i, 1, 0, 0), i);
		/* Stamped before the append returned (its callback fired). */
		assert_int_equal(msglog_unstamped(log), 0);
	}
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM timestamps"), 3);
	assert_int_equal(verify(&(const char *){ db }, 1, 1, &res), 0);
	assert_int_equal(res.batches, 3);
}

/* TSA down: appends go on, health fails after ts_max_unstamped_ms with a
 * reason; TSA back: healthy again by itself, backlog stamped. */
/* This gateway's clock ahead of the TSA's by more than log verify allows:
 * the stamper does not store a token no verifier would accept (it used to,
 * and the log failed verification from that batch on with /health all
 * green); the records wait, with the reason in msglog_stamp_error. */
static void test_clock_ahead_of_tsa(void **state)
{
	char d[320], db[400], why[400] = "";
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	int64_t ahead = msglog_now_ms() + 15 * 60 * 1000;
	int i;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 1);
	c.ts_interval_ms = 50;
	c.ts_retry_max_ms = 100;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_stamp_error(log, why, sizeof(why)), 0);
	assert_int_equal(ml_append_n(log, 1, 3, ahead, 0), 3);   /* as a clock 15 min ahead writes them */
	msglog_stamp_now(log);
	for (i = 0; i < 300 && !msglog_stamp_error(log, why, sizeof(why)); i++)
		sleep_ms(10);
	assert_int_equal(msglog_stamp_error(log, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "clock is ahead"));
	assert_non_null(strstr(why, "899 s behind") ? "" : strstr(why, "900 s behind"));
	assert_int_equal(msglog_unstamped(log), 3);
	msglog_close(log);
	/* nothing stamped: the log verifies, its records unstamped */
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.batches, 0);
	assert_int_equal(res.unstamped, 3);
}

static void test_tsa_outage_and_recovery(void **state)
{
	char d[320], db[400], why[400];
	struct msglog_config c;
	struct msglog *log;
	struct msglog_stats st;
	struct logverify_result res;
	FILE *f;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 1);
	c.ts_interval_ms = 50;
	c.ts_retry_max_ms = 100;
	c.ts_max_unstamped_ms = 400;
	assert_non_null(f = fopen(E.down, "w"));
	fclose(f);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, 0, 0), 3);
	assert_int_equal(msglog_is_healthy(log, why, sizeof(why)), 1);
	for (i = 0; i < 300 && msglog_is_healthy(log, why, sizeof(why)); i++)
		sleep_ms(10);
	assert_int_equal(msglog_is_healthy(log, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "without a time stamp"));
	assert_non_null(strstr(why, "503"));
	assert_int_equal(msglog_stamp_error(log, why, sizeof(why)), 1);   /* said before too */
	assert_non_null(strstr(why, "503"));
	assert_int_equal(msglog_unstamped(log), 3);
	msglog_get_stats(log, &st);
	assert_true(st.stamp_failures >= 2);   /* it kept retrying */
	assert_int_equal(ml_append_n(log, 4, 2, 0, 0), 5);   /* logging itself goes on */

	unlink(E.down);
	/* healthy again once the old records are stamped; the backlog as a
	 * whole follows within a retry or two */
	for (i = 0; i < 500 && (!msglog_is_healthy(log, why, sizeof(why)) || msglog_unstamped(log) > 0); i++)
		sleep_ms(10);
	assert_int_equal(msglog_is_healthy(log, why, sizeof(why)), 1);
	assert_int_equal(msglog_unstamped(log), 0);
	assert_int_equal(msglog_stamp_error(log, why, sizeof(why)), 0);
	msglog_close(log);
	assert_int_equal(verify(&(const char *){ db }, 1, 1, &res), 0);
	assert_int_equal(res.records, 5);
}

/* ts_sync with the TSA down: the record is logged but the caller hears of
 * the stamping failure; the next append stamps the backlog too. */
static void test_ts_sync_outage(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct msglog_rec r;
	struct ml_recbuf b;
	int64_t id = 0;
	char *err = NULL;
	FILE *f;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 1);
	c.ts_sync = 1;
	assert_non_null(log = ml_open(&c));
	assert_non_null(f = fopen(E.down, "w"));
	fclose(f);
	ml_make_rec(&r, &b, 1);
	assert_int_equal(msglog_append_sync(log, &r, &id, NULL, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "503"));
	assert_int_equal(id, 1);
	free(err);
	err = NULL;
	unlink(E.down);
	ml_make_rec(&r, &b, 2);
	assert_int_equal(msglog_append_sync(log, &r, &id, NULL, &err), 0);
	assert_int_equal(msglog_unstamped(log), 0);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM timestamps WHERE first_id = 1 AND "
				       "last_id = 2"), 1);
}

/* --------------------------------------------------------- metadata only */

static void test_metadata_only(void **state)
{
	char d[320], db[400], sql[256], hex[65];
	unsigned char dg[32];
	struct msglog_config c;
	struct msglog *log;
	struct msglog_rec r;
	struct ml_recbuf b;
	struct logverify_result res;
	int64_t id;
	char *err = NULL;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	ml_make_rec(&r, &b, 1);
	r.body_mode = MSGLOG_BODY_DIGEST;   /* body given: hashed, not kept */
	assert_int_equal(msglog_append_sync(log, &r, &id, NULL, &err), 0);
	assert_int_equal(sha256(b.body, strlen(b.body), dg), 0);
	ml_make_rec(&r, &b, 2);
	r.body = NULL;                      /* only the digest is given */
	r.body_len = 1234;
	r.body_sha256 = dg;
	r.body_mode = MSGLOG_BODY_DIGEST;
	assert_int_equal(msglog_append_sync(log, &r, &id, NULL, &err), 0);
	msglog_close(log);
	hex_encode(dg, 32, hex);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE body IS NULL"), 2);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM records WHERE lower(hex(body_sha256)) = '%s'",
		 hex);
	assert_int_equal(ml_count_rows(db, sql), 2);
	assert_int_equal(ml_count_rows(db, "SELECT body_len FROM records WHERE id = 2"), 1234);
	assert_int_equal(verify1(db, &res), 0);
	/* Putting a body back in, or dropping a full one, is tampering too. */
	assert_int_equal(ml_exec_sql(db, "UPDATE records SET body = x'00' WHERE id = 2"), 0);
	assert_int_equal(verify1(db, &res), 1);
	assert_int_equal(res.bad_id, 2);
}

/* ------------------------------------------------------------ tampering */

/* Flips the low bit of the byte from_end bytes before the end of col in the
 * row of table whose rowid (its INTEGER PRIMARY KEY) is id. */
static int flip_blob(const char *db, const char *table, const char *col, int64_t id, int from_end)
{
	char sql[256];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	unsigned char *copy = NULL;
	int n = 0, rc = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid = %lld", col, table, (long long)id);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto out;
	n = sqlite3_column_bytes(st, 0);
	if (n < from_end + 1 || !(copy = malloc((size_t)n)))
		goto out;
	memcpy(copy, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	st = NULL;
	copy[n - 1 - from_end] ^= 0x01;
	snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ? WHERE rowid = %lld", table, col, (long long)id);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, copy, n, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(copy);
	return rc;
}

static int t_body(const char *db) { return flip_blob(db, "records", "body", 5, 3); }
static int t_token(const char *db) { return flip_blob(db, "timestamps", "token", 2, 40); }

static int t_delete(const char *db) { return ml_exec_sql(db, "DELETE FROM records WHERE id = 5"); }
static int t_delete_last(const char *db) { return ml_exec_sql(db, "DELETE FROM records WHERE id = 10"); }

/* Moves records id >= from up by one, leaving a hole at from. */
static int shift_up(const char *db, int64_t from)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "UPDATE records SET id = id + 100000 WHERE id >= %lld;"
		 "UPDATE records SET id = id - 99999 WHERE id >= 100000", (long long)from);
	return ml_exec_sql(db, sql);
}

/* The strong forger: a well-formed record at 5 linking to 4, hash right. */
static int insert_forged(const struct msglog_row *r4, void *arg)
{
	void *conn = arg;
	struct msglog_row f = *r4;
	char *err = NULL;
	int rc;

	f.id = 5;
	f.message_id = "forged";
	memcpy(f.prev_hash, r4->hash, 32);
	if (msglog_row_hash(&f, f.hash) < 0)
		return -1;
	rc = msglog_sqlite_ops.insert(conn, &f, &err);
	free(err);
	return rc;
}

static int t_insert(const char *db)
{
	struct msglog_filter f = { .from_id = 4, .to_id = 4, .with_body = 1 };
	void *conn = NULL;
	char *err = NULL;
	int rc;

	if (shift_up(db, 5) < 0 || msglog_sqlite_ops.open(db, 0, &conn, &err) < 0)
		return -1;
	rc = msglog_sqlite_ops.iterate(conn, &f, insert_forged, conn, &err);
	msglog_sqlite_ops.close(conn);
	free(err);
	return rc;
}

static int t_insert_copy(const char *db)
{
	return shift_up(db, 5) < 0 ? -1 :
	       ml_exec_sql(db, "INSERT INTO records SELECT 5, time_ms, dir, side, reqid, message_id, "
			"client_id, service_id, body_mode, body, body_len, body_sha256, sigdoc, ocsp, "
			"request_hash, prev_hash, hash, ocsp_sha256, sig_batch, sig_batch_at, packed FROM records "
			"WHERE id = 4");
}

static int t_reorder(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET id = -1 WHERE id = 6; UPDATE records SET id = 6 "
			"WHERE id = 7; UPDATE records SET id = 7 WHERE id = -1");
}

static int t_token_replaced(const char *db)
{
	return ml_exec_sql(db, "UPDATE timestamps SET token = (SELECT token FROM timestamps WHERE "
			"id = 2) WHERE id = 1");
}

static int t_root(const char *db)
{
	return ml_exec_sql(db, "UPDATE timestamps SET root = zeroblob(32) WHERE id = 2");
}

static int t_stamp_time(const char *db)
{
	return ml_exec_sql(db, "UPDATE timestamps SET time_ms = time_ms - 3600000 WHERE id = 1");
}

static int t_stamp_deleted(const char *db)
{
	return ml_exec_sql(db, "DELETE FROM timestamps WHERE id = 1");
}

static int t_field(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET client_id = 'central-server/GOV/1' WHERE id = 3");
}

static int t_sigdoc(const char *db) { return flip_blob(db, "records", "sigdoc", 8, 2); }

static int t_body_dropped(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET body = NULL WHERE id = 4");
}

static int t_time(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET time_ms = time_ms + 1 WHERE id = 9");
}

static int t_base_id(const char *db)
{
	return ml_exec_sql(db, "UPDATE meta SET value = '5' WHERE key = 'base_id'");
}

static int t_base_hash(const char *db)
{
	return ml_exec_sql(db, "UPDATE meta SET value = zeroblob(31) || x'01' WHERE key = 'base_hash'");
}

static int t_delete_first(const char *db) { return ml_exec_sql(db, "DELETE FROM records WHERE id = 1"); }

static int t_meta_hash(const char *db)
{
	return ml_exec_sql(db, "UPDATE meta SET value = x'0102' WHERE key = 'base_hash'");
}

static int t_meta_dropped(const char *db) { return ml_exec_sql(db, "DROP TABLE meta"); }
static int t_stamps_dropped(const char *db) { return ml_exec_sql(db, "DROP TABLE timestamps"); }
static int t_meta_no_base(const char *db) { return ml_exec_sql(db, "DELETE FROM meta WHERE key = 'base_id'"); }
static int t_meta_base_text(const char *db)
{
	return ml_exec_sql(db, "UPDATE meta SET value = 'five' WHERE key = 'base_id'");
}

static int t_body_len(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET body_len = body_len + 1 WHERE id = 6");
}

static int t_body_len_huge(const char *db)
{
	return ml_exec_sql(db, "UPDATE records SET body_len = 4611686018427387904 WHERE id = 7");
}

static void test_tampering_named(void **state)
{
	static const struct {
		const char *name;
		int (*tamper)(const char *db);
		enum logverify_problem problem;
		int64_t bad_id;
		const char *says;        /* in the detail, when set */
	} cases[] = {
		{ "flipped byte in a body", t_body, LOGVERIFY_BODY, 5, NULL },
		{ "deleted record", t_delete, LOGVERIFY_MISSING, 5, NULL },
		{ "deleted last record", t_delete_last, LOGVERIFY_MISSING, 10, NULL },
		{ "inserted well-formed record", t_insert, LOGVERIFY_INSERTED, 5, NULL },
		{ "inserted copy", t_insert_copy, LOGVERIFY_INSERTED, 5, NULL },
		{ "two records reordered", t_reorder, LOGVERIFY_LINK, 6, NULL },
		{ "token of another batch", t_token_replaced, LOGVERIFY_STAMP, 1, NULL },
		{ "altered token", t_token, LOGVERIFY_STAMP, 6, NULL },
		{ "altered batch root", t_root, LOGVERIFY_STAMP, 6, NULL },
		{ "altered stamp time", t_stamp_time, LOGVERIFY_STAMP, 1, NULL },
		{ "deleted stamp", t_stamp_deleted, LOGVERIFY_STAMP_GAP, 1, NULL },
		{ "altered client id", t_field, LOGVERIFY_HASH, 3, NULL },
		{ "altered signature document", t_sigdoc, LOGVERIFY_HASH, 8, NULL },
		{ "dropped body", t_body_dropped, LOGVERIFY_BODY, 4, NULL },
		{ "altered time", t_time, LOGVERIFY_HASH, 9, NULL },
		/* the base is named, not "continues after record 5 ... OK" or "record 1
		 * does not link to record 0" */
		{ "base id altered", t_base_id, LOGVERIFY_FILE_LINK, 1,
		  "the file's base says it continues after record 5, its first record is 1" },
		{ "base hash altered", t_base_hash, LOGVERIFY_FILE_LINK, 1,
		  "record 1 does not link to the file's base (record 0, hash 00000000" },
		{ "deleted first record", t_delete_first, LOGVERIFY_MISSING, 1,
		  "base says it continues after record 0, its first record is 2" },
		/* the stored body's length was taken for body_len: either verified */
		{ "body_len + 1", t_body_len, LOGVERIFY_FIELD, 6,
		  "record 6: body_len 43 is not the stored body's length (42 bytes)" },
		{ "body_len 2^62", t_body_len_huge, LOGVERIFY_FIELD, 7, "body_len 4611686018427387904" },
		/* the file's own bookkeeping: a problem found (exit 1), not "cannot
		 * read" (exit 2) with a truncated query */
		{ "base hash of 2 bytes", t_meta_hash, LOGVERIFY_META, 1,
		  "its meta base_hash is 2 bytes, not a 32-byte hash" },
		{ "meta table dropped", t_meta_dropped, LOGVERIFY_META, 1, "its meta table is missing" },
		{ "timestamps table dropped", t_stamps_dropped, LOGVERIFY_META, 1, "its timestamps table is missing" },
		{ "base_id row deleted", t_meta_no_base, LOGVERIFY_META, 1, "its meta table has no base_id row" },
		{ "base_id not a number", t_meta_base_text, LOGVERIFY_META, 1,
		  "its meta base_id is not a record id (five)" },
	};
	char d[320], db[400];
	size_t i;

	newdir(d, sizeof(d));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct logverify_result res;
		char report[1024] = "";
		FILE *rf = fmemopen(report, sizeof(report) - 1, "w");
		struct logverify_opts o = { .tsa_ca_pem = E.trust };
		const char *p = db;
		int rc;

		snprintf(db, sizeof(db), "%s/case%zu.db", d, i);
		assert_int_equal(sh("cp '%s' '%s'", tamper_src, db), 0);
		assert_int_equal(verify1(db, &res), 0);
		assert_int_equal(cases[i].tamper(db), 0);
		rc = logverify_run(&p, 1, &o, rf, &res);
		fclose(rf);
		if (rc != 1 || res.problem != cases[i].problem || res.bad_id != cases[i].bad_id ||
		    (cases[i].says && !strstr(res.detail, cases[i].says)))
			fail_msg("%s: rc %d, %s at %lld, want %s at %lld: %s", cases[i].name, rc,
				 logverify_problem_name(res.problem), (long long)res.bad_id,
				 logverify_problem_name(cases[i].problem), (long long)cases[i].bad_id,
				 res.detail);
		/* The report names it too. */
		assert_non_null(strstr(report, "FAIL"));
	}
}

static int refuse_3(const struct msglog_row *r, void *arg, char **why)
{
	(*(int *)arg)++;
	if (r->id != 3)
		return 0;
	*why = strdup("signature value does not verify");
	return -1;
}

static void test_signature_hook(void **state)
{
	struct logverify_result res;
	struct logverify_opts o = { .sig_verify = refuse_3 };
	const char *p = tamper_src;
	int calls = 0;

	o.sig_arg = &calls;
	assert_int_equal(logverify_run(&p, 1, &o, NULL, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_SIGNATURE);
	assert_int_equal(res.bad_id, 3);
	assert_int_equal(calls, 3);
	assert_non_null(strstr(res.detail, "does not verify"));
}

/* -------------------------------------------------------------- archive */

static int dir_count(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
	}
	closedir(d);
	return n;
}

static void test_archive_across_boundary(void **state)
{
	char d[320], db[400], arch[400], *path = NULL, *err = NULL;
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	const char *both[2], *wrong[2];

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, old, 0), 4);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 5, 2, old, 0), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 3, 0, 0), 9);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 10, 1, old, 0), 10);   /* old but unstamped: stays */

	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), 6);
	assert_non_null(path);
	assert_non_null(strstr(path, "msglog-1-6.db"));
	assert_int_equal(ml_count_rows(db, "SELECT MIN(id) FROM records"), 7);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM timestamps"), 1);
	assert_int_equal(ml_count_rows(path, "SELECT COUNT(*) FROM records"), 6);
	assert_int_equal(ml_count_rows(path, "SELECT COUNT(*) FROM timestamps"), 2);
	/* Nothing more is old enough and stamped. */
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 0);
	assert_int_equal(ml_append_n(log, 11, 2, 0, 0), 12);   /* the chain goes on */
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);

	both[0] = path;
	both[1] = db;
	assert_int_equal(verify(both, 2, 1, &res), 0);
	assert_int_equal(res.records, 12);
	assert_int_equal(res.batches, 4);
	assert_int_equal(verify(&both[0], 1, 1, &res), 0);   /* each alone, too */
	assert_int_equal(verify(&both[1], 1, 1, &res), 0);
	assert_int_equal(res.records, 6);
	wrong[0] = db;
	wrong[1] = path;
	assert_int_equal(verify(wrong, 2, 0, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_FILE_LINK);
	/* The live log's base is what ties it to the archive. */
	assert_int_equal(ml_exec_sql(db, "UPDATE meta SET value = zeroblob(32) WHERE key = 'base_hash'"), 0);
	assert_int_equal(verify(both, 2, 0, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_FILE_LINK);
	assert_int_equal(res.bad_id, 7);
	free(path);
}

/* archive_chunk: one file per at most that many records, in whole batches
 * (a larger batch alone), each cut in its own transaction; the files and
 * the live log verify as one chain. */
static void test_archive_chunks(void **state)
{
	char d[320], db[400], arch[400], *path = NULL, *err = NULL, f1[480], f2[480], f3[480];
	struct msglog_config c;
	struct msglog *log;
	struct msglog_stats st;
	struct logverify_result res;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	const char *all[4];

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	c.archive_chunk = 5;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, old, 0), 4);     /* batch 1-4 */
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 5, 2, old, 0), 6);     /* batch 5-6 */
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 3, old, 0), 9);     /* batch 7-9: 5-9 is 5 records */
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 10, 7, old, 0), 16);   /* batch 10-16: over 5, alone */
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 17, 2, 0, 0), 18);     /* young: stays */
	assert_int_equal(ml_stamp_all(log), 0);

	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), 16);
	assert_non_null(path);
	assert_non_null(strstr(path, "msglog-10-16.db"));   /* the last file written */
	assert_int_equal(dir_count(arch, ".db"), 3);
	msglog_get_stats(log, &st);
	assert_int_equal(st.archive_files, 3);
	snprintf(f1, sizeof(f1), "%s/msglog-1-4.db", arch);
	snprintf(f2, sizeof(f2), "%s/msglog-5-9.db", arch);
	snprintf(f3, sizeof(f3), "%s/msglog-10-16.db", arch);
	assert_int_equal(ml_count_rows(f1, "SELECT COUNT(*) FROM records"), 4);
	assert_int_equal(ml_count_rows(f2, "SELECT COUNT(*) FROM records"), 5);
	assert_int_equal(ml_count_rows(f3, "SELECT COUNT(*) FROM records"), 7);
	assert_int_equal(ml_count_rows(db, "SELECT MIN(id) FROM records"), 17);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 0);
	assert_int_equal(ml_append_n(log, 19, 2, 0, 0), 20);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);

	all[0] = f1;
	all[1] = f2;
	all[2] = f3;
	all[3] = db;
	assert_int_equal(verify(all, 4, 1, &res), 0);
	assert_int_equal(res.records, 20);
	assert_int_equal(res.batches, 6);
	{
		/* ailgate log verify takes archives in the order of their
		 * records, whatever order they come in (a shell glob gives
		 * msglog-10-16.db first) */
		const char *argv[] = { "verify", f3, f1, db, f2 };
		FILE *saved = stdout;

		stdout = fopen("/dev/null", "w");
		assert_int_equal(logcli_main(5, (char **)argv), 0);
		fclose(stdout);
		stdout = saved;
	}
	all[1] = f3;   /* a file left out breaks the chain there */
	all[2] = db;
	assert_int_equal(verify(all, 3, 1, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_FILE_LINK);
	assert_int_equal(res.bad_id, 10);
	free(path);
}

/* Archives hold stamped records only: an archive whose time stamps were
 * deleted from its end read as "records not yet stamped", OK, where the same
 * deletion inside one file is a stamp-gap. Now any file but the last given,
 * and any archive file alone, fails naming its first unstamped record; the
 * live log's newest records are still allowed to wait for their stamp. */
static void test_archive_unstamped_named(void **state)
{
	char d[320], db[400], arch[400], f1[480], f2[480], bad[480], report[1024];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct logverify_opts o = { .tsa_ca_pem = E.trust };
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	const char *all[3];
	FILE *rf;
	char *err = NULL;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	snprintf(f1, sizeof(f1), "%s/msglog-1-4.db", arch);
	snprintf(f2, sizeof(f2), "%s/msglog-5-6.db", arch);
	snprintf(bad, sizeof(bad), "%s/msglog-5-6.db", d);   /* the tampered copy */
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	c.archive_chunk = 4;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, old, 0), 2);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 3, 2, old, 0), 4);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 5, 2, old, 0), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 3, 0, 0), 9);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 6);
	msglog_close(log);
	cfg_init(&c, db, 0);   /* (a close stamps what is pending) */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 10, 1, 0, 0), 10);   /* not yet stamped: allowed in the live log */
	msglog_close(log);
	all[0] = f1;
	all[1] = f2;
	all[2] = db;
	assert_int_equal(verify(all, 3, 0, &res), 0);
	assert_int_equal(res.unstamped, 1);

	/* every stamp of the middle file deleted */
	assert_int_equal(sh("cp '%s' '%s'", f2, bad), 0);
	assert_int_equal(ml_exec_sql(bad, "DELETE FROM timestamps"), 0);
	all[1] = bad;
	rf = fmemopen(report, sizeof(report) - 1, "w");
	assert_int_equal(logverify_run(all, 3, &o, rf, &res), 1);
	fclose(rf);
	assert_int_equal(res.problem, LOGVERIFY_UNSTAMPED);
	assert_int_equal(res.bad_id, 5);
	assert_non_null(strstr(report, "FAIL (unstamped): first bad record 5"));
	assert_non_null(strstr(res.detail, "is an archive file"));
	/* alone too: its meta says it is an archive */
	assert_int_equal(verify(&all[1], 1, 0, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_UNSTAMPED);
	assert_int_equal(res.bad_id, 5);
	/* a file that is not an archive but comes before another one */
	assert_int_equal(ml_exec_sql(bad, "DELETE FROM meta WHERE key = 'kind'"), 0);
	assert_int_equal(verify(all, 3, 0, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_UNSTAMPED);
	assert_int_equal(res.bad_id, 5);
	assert_non_null(strstr(res.detail, "not the last file given"));
	assert_int_equal(verify(&all[1], 1, 0, &res), 0);   /* alone and last: not yet stamped */
	assert_int_equal(res.unstamped, 2);

	/* the newest stamp of the first file deleted: the rest of it is not covered */
	snprintf(bad, sizeof(bad), "%s/msglog-1-4.db", d);
	assert_int_equal(sh("cp '%s' '%s'", f1, bad), 0);
	assert_int_equal(ml_exec_sql(bad, "DELETE FROM timestamps WHERE last_id = 4"), 0);
	all[0] = bad;
	all[1] = f2;
	assert_int_equal(verify(all, 3, 0, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_UNSTAMPED);
	assert_int_equal(res.bad_id, 3);
}

/* The archiver copies only records the verifier's checks of a record alone
 * pass: a body_len that is not the stored body's length was copied with the
 * right length (the evidence of the edit gone with the live record). */
static void test_archive_refuses_field(void **state)
{
	char d[320], db[400], arch[400], *err = NULL;
	struct msglog_config c;
	struct msglog *log;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, old, 0), 4);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_exec_sql(db, "UPDATE records SET body_len = body_len + 1 WHERE id = 2"), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "record 2 is not archived, nothing cut: record 2: body_len"));
	free(err);
	err = NULL;
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 4);
	assert_int_equal(dir_count(arch, ".db"), 0);
	assert_int_equal(ml_exec_sql(db, "UPDATE records SET body_len = body_len - 1 WHERE id = 2"), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 4);
	msglog_close(log);
}

/* A file renamed into place whose records were never cut (a crash between
 * the two): the next run cuts them against that file instead of writing a
 * second, overlapping one; a file of that name that is not these records is
 * refused and nothing is cut. */
static void test_archive_leftover(void **state)
{
	char d[320], db[400], copy[420], arch[400], *path = NULL, *err = NULL, f1[480], f2[480];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	const char *all[3];

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(copy, sizeof(copy), "%s/copy.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	c.archive_chunk = 6;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 6, old, 0), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 3, old, 0), 9);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	/* The crash: a copy of the log archives its first file (and cuts the
	 * copy); the log itself still holds those records. */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	c.path = copy;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 9);
	msglog_close(log);
	snprintf(f1, sizeof(f1), "%s/msglog-1-6.db", arch);
	snprintf(f2, sizeof(f2), "%s/msglog-7-9.db", arch);
	assert_int_equal(unlink(f2), 0);   /* only the first file was written before the "crash" */
	c.path = db;
	c.archive_chunk = 100;   /* this run alone would write msglog-1-9.db */
	assert_non_null(log = ml_open(&c));
	/* A leftover with a record missing inside is not cut against. */
	assert_int_equal(sh("cp '%s' '%s.bak'", f1, f1), 0);
	assert_int_equal(ml_exec_sql(f1, "DELETE FROM records WHERE id = 3"), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "is not the live log's records 1-6"));
	free(err);
	err = NULL;
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 9);   /* nothing cut */
	assert_int_equal(sh("mv '%s.bak' '%s'", f1, f1), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), 9);
	assert_non_null(strstr(path, "msglog-7-9.db"));
	assert_int_equal(dir_count(arch, ".db"), 2);   /* no msglog-1-9.db beside msglog-1-6.db */
	assert_int_equal(ml_count_rows(db, "SELECT MIN(id) FROM records"), 0);
	msglog_close(log);
	all[0] = f1;
	all[1] = f2;
	all[2] = db;
	assert_int_equal(verify(all, 3, 1, &res), 0);
	assert_int_equal(res.records, 9);
	free(path);
	path = NULL;

	/* Another log whose first record is 1 too: that file is not its archive. */
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/other.db", d);
	cfg_init(&c, db, 1);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 101, 6, old, 0), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), -1);
	assert_null(path);
	assert_non_null(err);
	assert_non_null(strstr(err, "is not the live log's records 1-6"));
	free(err);
	err = NULL;
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 6);   /* nothing cut */
	msglog_close(log);
}

/* retention_days: the stamper archives by itself. */
static void test_retention(void **state)
{
	char d[320], db[400], arch[400];
	struct msglog_config c;
	struct msglog *log;
	int64_t old = (int64_t)time(NULL) * 1000 - 2 * 86400000LL;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	c.ts_interval_ms = 50;
	c.archive_dir = arch;
	c.retention_days = 1;
	c.archive_interval_ms = 3600000;   /* the first run is due at once */
	c.archive_chunk = 2;               /* one batch a file, a file a turn */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, old, 0), 3);
	assert_int_equal(ml_stamp_all(log), 0);   /* batches of old records only */
	assert_int_equal(ml_append_n(log, 4, 2, old, 0), 5);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 6, 1, 0, 0), 6);
	for (i = 0; i < 300 && dir_count(arch, ".db") < 2; i++)
		sleep_ms(10);
	msglog_close(log);
	/* Both files in one run: the second came a turn after the first, not
	 * an archive interval (an hour) later. */
	assert_int_equal(dir_count(arch, ".db"), 2);
	assert_true(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE time_ms < " "strftime('%s','now') * 1000 - 86400000") == 0);
}

struct notes {
	pthread_mutex_t mu;
	int failed, written;
	char last[400];
};

static void note_cb(void *arg, int failed, const char *what)
{
	struct notes *n = arg;

	pthread_mutex_lock(&n->mu);
	if (failed)
		n->failed++;
	else
		n->written++;
	snprintf(n->last, sizeof(n->last), "%s", what);
	pthread_mutex_unlock(&n->mu);
}

static int notes_of(struct notes *n, int failed)
{
	int v;

	pthread_mutex_lock(&n->mu);
	v = failed ? n->failed : n->written;
	pthread_mutex_unlock(&n->mu);
	return v;
}

/* A retention run that cannot archive (its directory is missing) was
 * counted and nothing said: now the operator's hook hears of it, /health's
 * check warns with the reason, and both clear when it works again. */
static void test_retention_failure_told(void **state)
{
	char d[320], db[400], arch[400], why[600];
	struct msglog_config c;
	struct msglog *log;
	struct notes n = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	int64_t old = (int64_t)time(NULL) * 1000 - 2 * 86400000LL;
	int i;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);   /* not made yet */
	cfg_init(&c, db, 1);
	c.ts_interval_ms = 50;
	c.archive_dir = arch;
	c.retention_days = 1;
	c.archive_interval_ms = 100;
	c.archive_chunk = 2;
	c.archive_note = note_cb;
	c.archive_note_arg = &n;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), 0);
	assert_int_equal(ml_append_n(log, 1, 3, old, 0), 3);
	assert_int_equal(ml_stamp_all(log), 0);
	for (i = 0; i < 300 && !notes_of(&n, 1); i++)
		sleep_ms(10);
	assert_true(notes_of(&n, 1) > 0);
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "cannot be archived into"));
	assert_non_null(strstr(why, arch));
	/* the directory comes: the next run archives, says so, the warning goes */
	assert_int_equal(mkdir(arch, 0700), 0);
	for (i = 0; i < 300 && !notes_of(&n, 0); i++)
		sleep_ms(10);
	assert_true(notes_of(&n, 0) > 0);
	pthread_mutex_lock(&n.mu);
	assert_non_null(strstr(n.last, arch));
	pthread_mutex_unlock(&n.mu);
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "archive file(s) written since start"));
	msglog_close(log);
	/* without retention there is nothing to report */
	snprintf(db, sizeof(db), "%s/log2.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), -1);
	msglog_close(log);
}

/* Zeroes n bytes of path from the first place where needle is followed by
 * a byte other than next_not (a record's row, not the same bytes in a
 * packing dictionary's sample). 0, or -1 when not found. */
static int zero_after(const char *path, const char *needle, char next_not, size_t n)
{
	FILE *f = fopen(path, "r+b");
	long size, off = -1;
	char *b = NULL;
	size_t l = strlen(needle);
	int rc = -1;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) <= 0 || !(b = malloc((size_t)size)))
		goto out;
	rewind(f);
	if (fread(b, 1, (size_t)size, f) != (size_t)size)
		goto out;
	for (long i = 0; off < 0 && i + (long)l + 1 < size; i++)
		if (memcmp(b + i, needle, l) == 0 && b[i + (long)l] != next_not)
			off = i;
	if (off < 0 || off + (long)n > size)
		goto out;
	memset(b + off, 0, n);
	if (fseek(f, off, SEEK_SET) == 0 && fwrite(b + off, 1, n, f) == n)
		rc = 0;
out:
	if (f)
		fclose(f);
	free(b);
	return rc;
}

static int lo_field(const char *f) { return ml_exec_sql(f, "UPDATE records SET reqid = 'x' WHERE id = 5"); }
static int lo_rot(const char *f) { return zero_after(f, "record 3</Body></Envelope>", '<', 64); }
static int lo_frame(const char *f) { return flip_blob(f, "records", "sigdoc", 11, 6); }
static int lo_stamp(const char *f) { return ml_exec_sql(f, "DELETE FROM timestamps WHERE id = 2"); }
/* Record 5 replaced by a well-formed one (its own hash right, linking to 4):
 * record 6 no longer links to it. */
static int forge_hash(const struct msglog_row *r, void *arg)
{
	struct msglog_row f = *r;

	f.message_id = "forged";
	return msglog_row_hash(&f, arg);
}

static int lo_forged(const char *f)
{
	struct msglog_filter flt = { .from_id = 5, .to_id = 5, .with_body = 1 };
	unsigned char h[32];
	void *conn = NULL;
	char *err = NULL, sql[200], hx[65];
	int rc;

	if (msglog_sqlite_ops.open(f, MSGLOG_OPEN_READONLY, &conn, &err) < 0)
		return -1;
	rc = msglog_sqlite_ops.iterate(conn, &flt, forge_hash, h, &err);
	msglog_sqlite_ops.close(conn);
	free(err);
	if (rc != 0)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(hx + 2 * i, 3, "%02x", h[i]);
	snprintf(sql, sizeof(sql), "UPDATE records SET message_id = 'forged', hash = x'%s' WHERE id = 5", hx);
	return ml_exec_sql(f, sql);
}

/* A leftover file that is not whole - bit rot, an edited field, a packed
 * frame that no longer gives its bytes, a time stamp gone, a record replaced
 * by one whose own hash is right - was cut against as long
 * as its base, count and last hash held, and the live records went with it
 * (the auditor: ok=1, then the file failed verification). Now each record
 * is checked alone and linked from the base on, and the stamps compared:
 * the run fails naming what is wrong, nothing is cut, the file stays (the
 * operator moves it away), retention says so (archive_note, /health) at
 * every run, and the file whole again is cut against. */
static void test_archive_leftover_damaged(void **state)
{
	static const struct {
		const char *name;
		int (*damage)(const char *f);
		const char *says;
	} cases[] = {
		{ "an edited field", lo_field, "record 5: contents do not match its hash" },
		{ "64 bytes zeroed", lo_rot, "record 3: body" },
		{ "a byte of a packed frame", lo_frame, "record 11: its packed frame" },
		{ "a time stamp deleted", lo_stamp, "its time stamps (1) are not the live log's of these records (2)" },
		{ "a record replaced, its hash right", lo_forged, "record 6 does not link to record 5" },
	};
	char d[320], db[400], copy[420], arch[400], f1[480], keep[480], *path = NULL, *err = NULL, why[600];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct notes n = { PTHREAD_MUTEX_INITIALIZER, 0, 0, "" };
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	const char *both[2];
	size_t i;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(copy, sizeof(copy), "%s/copy.db", d);
	snprintf(arch, sizeof(arch), "%s/archive", d);
	snprintf(f1, sizeof(f1), "%s/msglog-1-12.db", arch);
	snprintf(keep, sizeof(keep), "%s/whole.db", d);
	mkdir(arch, 0700);
	cfg_init(&c, db, 1);
	c.pack = 1;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 6, old, 0), 6);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_append_n(log, 7, 6, old, 0), 12);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	/* The interrupted run: the file written (from a copy), never cut. */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	c.path = copy;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, NULL, &err), 12);
	msglog_close(log);
	assert_int_equal(ml_count_rows(f1, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL AND id = 11"), 1);
	assert_int_equal(sh("cp '%s' '%s'", f1, keep), 0);

	c.path = db;
	assert_non_null(log = ml_open(&c));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sh("cp '%s' '%s'", keep, f1), 0);
		assert_int_equal(cases[i].damage(f1), 0);
		both[0] = f1;   /* the damage is real: the file alone fails */
		assert_int_equal(verify(both, 1, 1, &res), 1);
		if (msglog_archive(log, now - 86400000LL, arch, &path, &err) != -1 || !err ||
		    !strstr(err, "is not the live log's records 1-12") || !strstr(err, cases[i].says) ||
		    !strstr(err, "nothing cut"))
			fail_msg("%s: %s", cases[i].name, err ? err : "(no error: cut against it)");
		assert_null(path);
		free(err);
		err = NULL;
		assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 12);   /* nothing cut */
		assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM timestamps"), 2);
		assert_int_equal(dir_count(arch, ".db"), 1);                               /* left where it is */
	}
	msglog_close(log);

	/* Retention meets it: every run fails and says so, /health warns. */
	cfg_init(&c, db, 1);
	c.pack = 1;
	c.ts_interval_ms = 50;
	c.archive_dir = arch;
	c.retention_days = 1;
	c.archive_interval_ms = 100;
	c.archive_note = note_cb;
	c.archive_note_arg = &n;
	assert_int_equal(sh("cp '%s' '%s'", keep, f1), 0);
	assert_int_equal(lo_field(f1), 0);
	assert_non_null(log = ml_open(&c));
	for (i = 0; i < 500 && notes_of(&n, 1) < 2; i++)
		sleep_ms(10);
	assert_true(notes_of(&n, 1) >= 2);
	assert_int_equal(notes_of(&n, 0), 0);
	pthread_mutex_lock(&n.mu);
	assert_non_null(strstr(n.last, "record 5: contents do not match its hash"));
	pthread_mutex_unlock(&n.mu);
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "record 5"));
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 12);
	/* the operator puts the file whole back: the next run cuts against it */
	assert_int_equal(sh("cp '%s' '%s'", keep, f1), 0);
	for (i = 0; i < 500 && !notes_of(&n, 0); i++)
		sleep_ms(10);
	assert_int_equal(notes_of(&n, 0), 1);
	assert_int_equal(msglog_retention_health(log, why, sizeof(why)), 0);
	msglog_close(log);
	assert_int_equal(dir_count(arch, ".db"), 1);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 0);
	both[0] = f1;
	both[1] = db;
	assert_int_equal(verify(both, 2, 1, &res), 0);
	assert_int_equal(res.records, 12);
}

/* --------------------------------------------------------------- replay */

static void test_replay_window(void **state)
{
	char d[320], db[400], *err = NULL;
	struct msglog_config c;
	struct msglog *log;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3600000;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	c.replay_window_ms = 60000;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, 0, 0), 2);      /* msg-1: request and response */
	assert_int_equal(ml_append_n(log, 3, 1, old, 0), 3);    /* msg-2, an hour ago */
	/* From memory. */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", now - 1000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_CLIENT, CLIENT, "msg-1", now - 1000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, "other", "msg-1", now - 1000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-9", now - 1000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", now - 1000, &err), 0);
	/* Older than memory holds: the database (by its index) answers. */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", old - 1000, &err), 1);
	/* Claims are atomic check-and-remember. */
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "new-id", &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "new-id", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-1", &err), 1);
	msglog_close(log);
	/* After a restart the window is loaded from the log. */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", now - 1000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "new-id", now - 1000, &err), 0);
	msglog_close(log);
	assert_null(err);
}

/* Appends records 1..n (request and response of msg-1 .. msg-n/2) at
 * t0 + i and waits for all of them. */
static void fill_timed(struct msglog *log, int n, int64_t t0)
{
	atomic_int done = 0;
	char *err = NULL;
	int i;

	for (i = 1; i <= n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;

		ml_make_rec(&r, &b, i);
		r.time_ms = t0 + i;
		assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
	}
	while (atomic_load(&done) < n)
		sleep_ms(1);
}

/* More requests in the window than replay_max_entries: the evicted ones
 * are still refused from memory (their ghosts); past the ghosts' cap the
 * database answers for the time memory lost, and only for that. */
static void test_replay_overflow(void **state)
{
	char d[320], db[400], *err = NULL;
	int64_t t0 = msglog_now_ms() - 100000;
	struct msglog_config c;
	struct msglog *log;
	int n = 2 * 1200;   /* 1200 requests: 4 entries, 1024 ghosts, 172 lost */

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	c.replay_max_entries = 4;
	assert_non_null(log = ml_open(&c));
	fill_timed(log, n, t0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1200", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1100", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-100", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-nope", t0, &err), 0);
	/* Without the records, what memory still knows is still refused. */
	assert_int_equal(ml_exec_sql(db, "DELETE FROM records"), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-100", t0, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-173", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1100", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1100", t0 + 2 * 1100 + 1, &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-500", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-1199", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-new", &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-new", &err), 1);
	msglog_close(log);
	assert_null(err);
}

/* ------------------------------------------------------ replay snapshot */

static enum msglog_replay_from replay_from(struct msglog *log, size_t *entries)
{
	struct msglog_replay_info ri;

	msglog_replay_info(log, &ri);
	if (entries)
		*entries = ri.entries;
	if (ri.why[0])
		print_message("replay snapshot not used: %s\n", ri.why);
	return ri.from;
}

static const char *replay_why(struct msglog *log)
{
	static struct msglog_replay_info ri;

	msglog_replay_info(log, &ri);
	return ri.why;
}

static int file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The snapshot's count field (offset 88, host order; msglog_replay.c). */
static int64_t snap_count(const char *path)
{
	FILE *f = fopen(path, "rb");
	int64_t n = -1;

	if (f && (fseek(f, 88, SEEK_SET) != 0 || fread(&n, 8, 1, f) != 1))
		n = -1;
	if (f)
		fclose(f);
	return n;
}

static int flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c, rc = -1;

	if (f && fseek(f, off, SEEK_SET) == 0 && (c = fgetc(f)) != EOF && fseek(f, off, SEEK_SET) == 0 &&
	    fputc(c ^ 0x20, f) != EOF)
		rc = 0;
	if (f && fclose(f) != 0)
		rc = -1;
	return rc;
}

/* A log for the snapshot cases: msg-1 (request and response) and msg-3
 * (claimed, then logged) now, msg-2 an hour ago, "new-id" claimed and never
 * logged; closed, so its snapshot is written. */
static void snap_fixture(struct msglog_config *c, char *db, size_t dbn, char *snap, size_t sn)
{
	char d[320], *err = NULL;
	int64_t now = msglog_now_ms();
	struct msglog *log;

	newdir(d, sizeof(d));
	snprintf(db, dbn, "%s/log.db", d);
	snprintf(snap, sn, "%s.replay", db);
	cfg_init(c, db, 0);
	c->replay_window_ms = 60000;
	c->replay_snapshot = snap;
	assert_non_null(log = ml_open(c));
	assert_int_equal(replay_from(log, NULL), MSGLOG_REPLAY_NONE);
	assert_int_equal(ml_append_n(log, 1, 2, 0, 0), 2);
	assert_int_equal(ml_append_n(log, 3, 1, now - 3600000, 0), 3);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "new-id", &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-3", &err), 0);
	assert_int_equal(ml_append_n(log, 5, 1, 0, 0), 4);
	assert_false(file_exists(snap));
	msglog_close(log);
	assert_null(err);
	assert_true(file_exists(snap));
	assert_int_equal(snap_count(snap), 2);   /* msg-1 and msg-3, not the claim, not msg-2 */
}

/* What the fixture's log must answer after a restart, whichever way the
 * window was loaded. */
static void snap_answers(struct msglog *log)
{
	int64_t now = msglog_now_ms();
	char *err = NULL;

	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", now - 30000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-3", now - 30000, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_CLIENT, CLIENT, "msg-1", now - 30000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, "other", "msg-1", now - 30000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", now + 60000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "new-id", now - 30000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", now - 30000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", now - 7200000, &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-1", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "new-id", &err), 0);
	assert_null(err);
}

/* A clean close writes the window; the next open takes it instead of the
 * database, with the database reload's answers, and removes the file. */
static void test_replay_snapshot(void **state)
{
	char db[400], snap[420], *err = NULL;
	struct msglog_config c, nosnap;
	struct msglog *log;
	size_t n_db, n_snap;

	snap_fixture(&c, db, sizeof(db), snap, sizeof(snap));
	/* The reload the snapshot stands in for (no snapshot configured: the
	 * file is left alone, and nothing appended keeps it valid). */
	nosnap = c;
	nosnap.replay_snapshot = NULL;
	assert_non_null(log = ml_open(&nosnap));
	assert_int_equal(replay_from(log, &n_db), MSGLOG_REPLAY_DATABASE);
	snap_answers(log);
	msglog_close(log);
	assert_true(file_exists(snap));
	/* From the snapshot: the same answers; used once. */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(replay_from(log, &n_snap), MSGLOG_REPLAY_SNAPSHOT);
	assert_false(file_exists(snap));
	assert_int_equal(n_snap, 2);
	assert_int_equal(n_db, n_snap);
	snap_answers(log);
	/* Memory answers, not the database. */
	assert_int_equal(ml_exec_sql(db, "DELETE FROM records"), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-3", msglog_now_ms() - 30000, &err), 1);
	msglog_close(log);
	assert_null(err);
}

/* Each way a snapshot can be wrong falls back to the database reload, with
 * the same answers, and the file is removed. */
enum snap_case {
	SNAP_FLIP, SNAP_FLIP_HEAD, SNAP_TRUNCATE, SNAP_MOVED_ON, SNAP_OTHER_LOG, SNAP_WINDOW, SNAP_FIFO,
	SNAP_NONE, SNAP_NCASES
};

static void test_replay_snapshot_refused(void **state)
{
	static const char *const names[] = { "flipped byte", "flipped header byte", "truncated",
					     "log moved on", "another log's", "window changed",
					     "a FIFO in its place", "none (an unclean stop)" };
	static const char *const whys[] = { "checksum", "checksum", "pairs announced",
					    "written at record", "another hash", "window",
					    "not a regular file", "none found" };
	int k;

	for (k = 0; k < SNAP_NCASES; k++) {
		char db[400], snap[420], *err = NULL;
		struct msglog_config c, nosnap;
		struct msglog *log;
		size_t n;

		print_message("case: %s\n", names[k]);
		snap_fixture(&c, db, sizeof(db), snap, sizeof(snap));
		nosnap = c;
		nosnap.replay_snapshot = NULL;
		switch ((enum snap_case)k) {
		case SNAP_FLIP:
			assert_int_equal(flip_byte(snap, 96 + 16 + 3), 0);   /* msg-3's hash */
			break;
		case SNAP_FLIP_HEAD:
			assert_int_equal(flip_byte(snap, 33), 0);            /* the last id */
			break;
		case SNAP_TRUNCATE:
			assert_int_equal(truncate(snap, file_size(snap) - 16), 0);
			break;
		case SNAP_MOVED_ON:
			/* Appended by a run without a snapshot (a crash looks the same). */
			assert_non_null(log = ml_open(&nosnap));
			assert_int_equal(ml_append_n(log, 7, 1, 0, 0), 5);   /* msg-4 */
			msglog_close(log);
			break;
		case SNAP_OTHER_LOG: {
			/* As many records, other times: the same last id, another
			 * chain hash (a restored or replaced database looks so). */
			char db2[400], snap2[420];
			struct msglog_config c2;

			snap_fixture(&c2, db2, sizeof(db2), snap2, sizeof(snap2));
			assert_int_equal(rename(snap2, snap), 0);
			break;
		}
		case SNAP_WINDOW:
			c.replay_window_ms = 120000;
			break;
		case SNAP_FIFO:
			/* Opened without blocking, refused, removed. */
			assert_int_equal(unlink(snap), 0);
			assert_int_equal(mkfifo(snap, 0600), 0);
			break;
		case SNAP_NONE:
			assert_int_equal(unlink(snap), 0);
			break;
		case SNAP_NCASES:
			break;
		}
		assert_int_equal(file_exists(snap), k != SNAP_NONE);
		assert_non_null(log = ml_open(&c));
		assert_int_equal(replay_from(log, &n), MSGLOG_REPLAY_DATABASE);
		assert_non_null(strstr(replay_why(log), whys[k]));
		assert_false(file_exists(snap));
		assert_int_equal(n, k == SNAP_MOVED_ON ? 3 : 2);
		snap_answers(log);
		if (k == SNAP_MOVED_ON)
			assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-4",
						     msglog_now_ms() - 30000, &err), 1);
		msglog_close(log);
		assert_null(err);
	}
}

/* The close writes through a new file of its own: a link left at the
 * temporary name is replaced, not followed; and a close that cannot write
 * the file says why. */
static void test_replay_snapshot_write(void **state)
{
	char db[400], snap[420], tmp[440], victim[440], why[256], buf[16] = { 0 };
	struct msglog_config c;
	struct msglog *log;
	FILE *f;

	snap_fixture(&c, db, sizeof(db), snap, sizeof(snap));
	snprintf(tmp, sizeof(tmp), "%s.tmp", snap);
	snprintf(victim, sizeof(victim), "%s.victim", db);
	assert_non_null(f = fopen(victim, "w"));
	fputs("untouched", f);
	fclose(f);
	assert_non_null(log = ml_open(&c));              /* takes the snapshot */
	assert_int_equal(replay_from(log, NULL), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(symlink(victim, tmp), 0);       /* left there meanwhile */
	msglog_close_why(log, why, sizeof(why));
	assert_string_equal(why, "");
	assert_int_equal(snap_count(snap), 2);
	assert_non_null(f = fopen(victim, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "untouched");
	/* A snapshot path in a directory that is not there. */
	assert_non_null(log = ml_open(&c));
	snprintf(tmp, sizeof(tmp), "%s.gone/replay", db);
	c.replay_snapshot = tmp;
	msglog_close(log);
	assert_non_null(log = ml_open(&c));
	msglog_close_why(log, why, sizeof(why));
	print_message("close: %s\n", why);
	assert_non_null(strstr(why, "replay snapshot"));
	assert_false(file_exists(tmp));
}

/* A claim pushed out to the ghosts by newer ids is still only a claim: not
 * written, forgotten at restart as the database reload forgets it. */
static void test_replay_snapshot_claims_evicted(void **state)
{
	char d[320], db[400], snap[420], *err = NULL, id[32];
	struct msglog_config c;
	struct msglog *log;
	size_t n;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(snap, sizeof(snap), "%s.replay", db);
	cfg_init(&c, db, 0);
	c.replay_max_entries = 4;
	c.replay_snapshot = snap;
	assert_non_null(log = ml_open(&c));
	for (i = 1; i <= 4; i++) {
		snprintf(id, sizeof(id), "claimed-%d", i);
		assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, id, &err), 0);
	}
	assert_int_equal(ml_append_n(log, 1, 8, 0, 0), 8);   /* msg-1 .. msg-4: the claims become ghosts */
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "claimed-1", &err), 1);
	msglog_close(log);
	assert_int_equal(snap_count(snap), 4);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(replay_from(log, &n), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(n, 4);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-4", msglog_now_ms() - 30000, &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "claimed-1", &err), 0);
	msglog_close(log);
	assert_null(err);
}

/* Ghosts keep their "logged" mark when their ring grows (300 entries: room
 * for 2048 ghosts, the ring grows from 1024 with 1100 of them). */
static void test_replay_snapshot_ghosts_grown(void **state)
{
	char d[320], db[400], snap[420], *err = NULL;
	int64_t t0 = msglog_now_ms() - 100000;
	struct msglog_config c;
	struct msglog *log;
	atomic_int done = 0;
	int i, n = 1400;
	size_t loaded;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(snap, sizeof(snap), "%s.replay", db);
	cfg_init(&c, db, 0);
	c.replay_max_entries = 300;
	c.replay_snapshot = snap;
	assert_non_null(log = ml_open(&c));
	for (i = 1; i <= n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;

		ml_make_rec(&r, &b, 2 * i - 1);   /* requests only: msg-i */
		r.time_ms = t0 + i;
		assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
	}
	while (atomic_load(&done) < n)
		sleep_ms(1);
	msglog_close(log);
	assert_int_equal(snap_count(snap), n);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(replay_from(log, &loaded), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(loaded, n);
	assert_int_equal(ml_exec_sql(db, "DELETE FROM records"), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1400", t0, &err), 1);
	msglog_close(log);
	assert_null(err);
}

/* Ids that left the window between close and open are not loaded. */
static void test_replay_snapshot_expired(void **state)
{
	char d[320], db[400], snap[420], *err = NULL;
	int64_t t0 = msglog_now_ms();
	struct msglog_config c;
	struct msglog *log;
	size_t n;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(snap, sizeof(snap), "%s.replay", db);
	cfg_init(&c, db, 0);
	c.replay_window_ms = 4000;
	c.replay_snapshot = snap;
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 1, t0 - 2500, 0), 1);   /* msg-1: in the window until t0 + 1500 */
	assert_int_equal(ml_append_n(log, 3, 1, t0, 0), 2);          /* msg-2 */
	assert_int_equal(ml_append_n(log, 5, 1, t0 - 9000, 0), 3);   /* msg-3: already out */
	msglog_close(log);
	if (msglog_now_ms() >= t0 + 1500)
		skip();   /* too slow a machine to see msg-1 written */
	assert_int_equal(snap_count(snap), 2);
	sleep_ms((int)(t0 + 2000 - msglog_now_ms()));
	assert_non_null(log = ml_open(&c));
	assert_int_equal(replay_from(log, &n), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(n, 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", t0 - 1, &err), 1);
	/* Older than memory now holds: the database answers. */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", t0 - 3000, &err), 1);
	assert_int_equal(ml_exec_sql(db, "DELETE FROM records"), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1", t0 - 3000, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", t0 - 1, &err), 1);
	msglog_close(log);
	assert_null(err);
}

/* More ids than the ghosts' cap (test_replay_overflow's 1200 requests with
 * 4 entries, 1024 ghosts): the snapshot holds the 1028 memory had and the
 * horizon past the 172 it lost. A bigger set loads them all (the ghosts'
 * ring grows on the way) and asks the database below that horizon; loaded
 * into the same small set the newest 1024 stay, and the database answers
 * for the rest. */
static void test_replay_snapshot_overflow(void **state)
{
	char d[320], db[400], snap[420], *err = NULL;
	int64_t t0 = msglog_now_ms() - 100000;
	struct msglog_config c, big;
	struct msglog *log;
	int n = 2 * 1200;
	size_t loaded;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(snap, sizeof(snap), "%s.replay", db);
	cfg_init(&c, db, 0);
	c.replay_max_entries = 4;
	c.replay_snapshot = snap;
	assert_non_null(log = ml_open(&c));
	fill_timed(log, n, t0);
	msglog_close(log);
	assert_int_equal(snap_count(snap), 1028);   /* msg-173 .. msg-1200 */
	big = c;
	big.replay_max_entries = 1000;
	assert_non_null(log = ml_open(&big));
	assert_int_equal(replay_from(log, &loaded), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(loaded, 1028);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-100", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-173", t0, &err), 1);
	msglog_close(log);
	assert_int_equal(snap_count(snap), 1028);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(replay_from(log, &loaded), MSGLOG_REPLAY_SNAPSHOT);
	assert_int_equal(loaded, 1024);              /* msg-177 .. msg-1200 */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-100", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-174", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-nope", t0, &err), 0);
	/* Without the records: memory still knows msg-177 on, only that. */
	assert_int_equal(ml_exec_sql(db, "DELETE FROM records"), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-100", t0, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-176", t0, &err), 0);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-177", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1200", t0, &err), 1);
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-1100", t0 + 2 * 1100 + 1, &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-500", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-new", &err), 0);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-new", &err), 1);
	msglog_close(log);
	assert_null(err);
}

/* The writer leaves WAL checkpoints to the stamper thread, which makes a
 * small one every MSGLOG_HOUSEKEEP_MS: the records reach the database file
 * soon after they are written, without a time stamp (the tests' stamps are
 * 100 s apart) and long before the writer's own threshold (10,000 WAL
 * pages, ~40 MB). */
static void test_checkpoint_by_stamper(void **state)
{
	static char sig[8000];
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct stat st;
	atomic_int done = 0;
	int i;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 1);
	memset(sig, 'x', sizeof(sig));
	assert_non_null(log = ml_open(&c));
	for (i = 1; i <= 800; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, i);
		r.sigdoc = sig;
		r.sigdoc_len = sizeof(sig);
		assert_int_equal(msglog_append(log, &r, on_done_count, &done, NULL, &err), 0);
	}
	while (atomic_load(&done) < 800)
		sleep_ms(1);
	for (i = 0; i < 1000; i++) {            /* ~1,600 pages: up to 10 s */
		assert_int_equal(stat(db, &st), 0);
		if (st.st_size > 6 << 20)
			break;
		sleep_ms(10);
	}
	assert_true(st.st_size > 6 << 20);
	assert_true(msglog_unstamped(log) > 0);  /* no stamp was taken meanwhile */
	msglog_close(log);
}

/* ------------------------------------------------------ OCSP data once */

static const char OCSP_A[] = "MIIB0AoBAKCCAckwggHFBgkrBgEFBQcwAQEEggG2 responder A";
static const char OCSP_B[] = "MIIB0AoBAKCCAckwggHFBgkrBgEFBQcwAQEEggG2 responder B, longer";

/* Appends records from..from+n-1, record i carrying ocsp(i). */
static int64_t append_ocsp(struct msglog *log, int from, int n, const char *(*ocsp)(int))
{
	int64_t id = 0;
	int i;

	for (i = from; i < from + n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char *err = NULL;

		ml_make_rec(&r, &b, i);
		r.ocsp = ocsp(i);
		r.ocsp_len = strlen(r.ocsp);
		if (msglog_append_sync(log, &r, &id, NULL, &err) < 0) {
			print_message("append: %s\n", err ? err : "?");
			free(err);
			return -1;
		}
	}
	return id;
}

/* A A A "" B B A */
static const char *ocsp_mixed(int i) { return i == 4 ? "" : (i == 5 || i == 6) ? OCSP_B : OCSP_A; }
static const char *ocsp_a(int i) { return OCSP_A; }

/* Each record's OCSP data as read back must be what ocsp(id) gave. */
static int check_ocsp_row(const struct msglog_row *r, void *arg)
{
	const char *(*ocsp)(int) = (const char *(*)(int))arg;
	const char *want = ocsp((int)r->id);

	if (r->ocsp_len != strlen(want))
		return 1;
	return r->ocsp_len && memcmp(r->ocsp, want, r->ocsp_len) != 0 ? 1 : 0;
}

/* Every row of the log at db through fn (the backend, read-only): 0, the
 * first nonzero fn returned, or -1 when it cannot be read. */
static int read_rows(const char *db, int with_body, msglog_row_fn fn, void *arg)
{
	struct msglog_filter f = { .with_body = with_body };
	void *conn = NULL;
	char *err = NULL;
	int rc;

	if (msglog_sqlite_ops.open(db, MSGLOG_OPEN_READONLY, &conn, &err) < 0) {
		free(err);
		return -1;
	}
	rc = msglog_sqlite_ops.iterate(conn, &f, fn, arg, &err);
	msglog_sqlite_ops.close(conn);
	free(err);
	return rc;
}

static int read_ocsp(const char *db, const char *(*ocsp)(int))
{
	return read_rows(db, 0, check_ocsp_row, (void *)ocsp);
}

static void test_ocsp_stored_once(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_ocsp(log, 1, 7, ocsp_mixed), 7);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM ocsp_data"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE length(ocsp) > 0"), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE ocsp_sha256 IS NULL"), 1);
	assert_int_equal(read_ocsp(db, ocsp_mixed), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 7);

	/* Shared data changed: the first record carrying it is named. */
	assert_int_equal(ml_exec_sql(db, "UPDATE ocsp_data SET data = x'00' WHERE length(data) = "
			 "(SELECT MAX(length(data)) FROM ocsp_data)"), 0);
	assert_int_equal(verify1(db, &res), 1);
	assert_int_equal(res.bad_id, 5);
	assert_int_equal(res.problem, LOGVERIFY_HASH);
}

/* A log written before OCSP data was shared (no ocsp_sha256, no ocsp_data)
 * verifies as it is, and opened for writing keeps its rows inline and
 * shares from then on. */
static void test_ocsp_old_format(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_ocsp(log, 1, 3, ocsp_a), 3);
	msglog_close(log);
	assert_int_equal(ml_exec_sql(db, "UPDATE records SET ocsp = (SELECT data FROM ocsp_data WHERE "
			 "sha256 = ocsp_sha256) WHERE ocsp_sha256 IS NOT NULL;"
			 "ALTER TABLE records DROP COLUMN ocsp_sha256; DROP TABLE ocsp_data"), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE length(ocsp) > 0"), 3);
	assert_int_equal(read_ocsp(db, ocsp_a), 0);
	assert_int_equal(verify1(db, &res), 0);

	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_ocsp(log, 4, 3, ocsp_a), 6);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE length(ocsp) > 0"), 3);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM ocsp_data"), 1);
	assert_int_equal(read_ocsp(db, ocsp_a), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 6);
}

/* A log of the layout before (records_replay, records_time on time_ms
 * alone): read as it is, and opened for writing it gets the new indexes;
 * the replay window, verification and export by message id then work on
 * it as on a new log. */
static void test_old_layout_migrated(void **state)
{
	char d[320], db[400], out[400], *err = NULL;
	struct logverify_export_sel sel = { .message_id = "msg-2" };
	int64_t now = msglog_now_ms();
	struct logverify_result res;
	struct msglog_config c;
	struct msglog *log;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 6, 0, 0), 6);    /* msg-1 .. msg-3 */
	msglog_close(log);
	assert_int_equal(ml_exec_sql(db, "DROP INDEX records_time;"
				  "CREATE INDEX records_time ON records(time_ms);"
				  "CREATE INDEX records_replay ON records(client_id, message_id, time_ms)"), 0);
	assert_int_equal(verify1(db, &res), 0);
	snprintf(out, sizeof(out), "%s/export-old", d);
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);

	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'records_replay'"), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM pragma_index_info('records_time')"), 5);
	/* The window came back from the migrated index. */
	assert_int_equal(msglog_seen(log, MSGLOG_SERVER, CLIENT, "msg-2", now - 60000, &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-3", &err), 1);
	assert_int_equal(msglog_claim(log, MSGLOG_SERVER, CLIENT, "msg-4", &err), 0);
	assert_int_equal(ml_append_n(log, 7, 2, 0, 0), 8);
	msglog_close(log);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 8);
	snprintf(out, sizeof(out), "%s/export-new", d);
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	sel.message_id = "msg-4";
	snprintf(out, sizeof(out), "%s/export-4", d);
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	assert_null(err);
}

/* ------------------------------------------------- batch-form documents */

/* n requests (message ids "<prefix>-<i>") signed together with
 * sig_sign_batch by the member key of the development PKI in pki: real
 * batch-form documents (README-sign.md, "Batches"), each ending with the
 * same Batch element (n == 1: the single form). docs[i] NUL-terminated,
 * lens[i] its length (caller frees the docs). 0 or -1. */
static int sign_batch_docs(const char *pki, size_t n, const char *prefix, char **docs, size_t *lens)
{
	char key[400], cert[400], ids[32][48], *err = NULL;
	struct sig_meta m[32];
	const struct sig_meta *mp[32];
	unsigned char dg[32][32];
	struct buf out[32], *op[32];
	struct signing_key *k = NULL;
	size_t i;
	int rc = -1;

	if (n < 1 || n > 32 || sig_global_init(&err) != 0)
		goto out;
	snprintf(key, sizeof(key), "%s/members/GOV_70000050/sign.key", pki);
	snprintf(cert, sizeof(cert), "%s/members/GOV_70000050/sign-fullchain.pem", pki);
	if (keys_load_pem(key, cert, NULL, &k, &err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s-%zu", prefix, i);
		m[i] = (struct sig_meta){ SIG_REQUEST, "SUBSYSTEM:" CLIENT,
					  "SERVICE:central-server/GOV/70000005/passport-service/"
					  "passportDataByPSN/v1", ids[i], { 0, 0 }, NULL,
					  "text/xml; charset=utf-8" };
		clock_gettime(CLOCK_REALTIME, &m[i].time);
		mp[i] = &m[i];
		if (sha256(ids[i], strlen(ids[i]), dg[i]) < 0)
			goto out;
		buf_init(&out[i], 64 * 1024);
		op[i] = &out[i];
	}
	if (sig_sign_batch(k, mp, (const unsigned char (*)[32])dg, n, op, &err) != 0) {
		for (i = 0; i < n; i++)
			buf_free(&out[i]);
		goto out;
	}
	for (i = 0; i < n; i++)
		docs[i] = buf_steal(&out[i], &lens[i]);
	rc = 0;
out:
	if (rc < 0)
		print_message("sign_batch_docs: %s\n", err ? err : "?");
	free(err);
	keys_free(&k);
	return rc;
}

/* ------------------------------------------------ Batch elements once */

/* What a log should read back: record id's signature document. */
struct sigdocs {
	const char *doc[64];
	size_t len[64];
};

/* Appends record i (ml_make_rec) carrying doc; its id is remembered in w. */
static int64_t append_doc(struct msglog *log, int i, const char *doc, size_t len, struct sigdocs *w)
{
	struct msglog_rec r;
	struct ml_recbuf b;
	char *err = NULL;
	int64_t id = 0;

	ml_make_rec(&r, &b, i);
	r.sigdoc = doc;
	r.sigdoc_len = len;
	if (msglog_append_sync(log, &r, &id, NULL, &err) < 0 || id <= 0 || id >= 64) {
		print_message("append: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	w->doc[id] = doc;
	w->len[id] = len;
	return id;
}

static int check_sigdoc_row(const struct msglog_row *r, void *arg)
{
	const struct sigdocs *w = arg;

	if (r->id <= 0 || r->id >= 64 || !w->doc[r->id] || r->sigdoc_len != w->len[r->id] ||
	    memcmp(r->sigdoc, w->doc[r->id], r->sigdoc_len) != 0) {
		print_message("record %lld: signature document differs (%zu bytes)\n", (long long)r->id,
			      r->sigdoc_len);
		return 1;
	}
	return 0;
}

/* Every record's signature document read back byte for byte, and nothing
 * else in the file: 0, else the iteration's answer. */
static int read_sigdocs(const char *db, const struct sigdocs *w)
{
	return read_rows(db, 1, check_sigdoc_row, (void *)w);
}

/* Two real batches of 4 (A, B) and single-form documents. */
struct sbfix {
	char *a[4], *b[4], *one[1];
	size_t alen[4], blen[4], onelen[1];
	char *odd[4];                    /* batch-form look-alikes that stay inline */
	size_t oddlen[4];
};

static void sbfix_make(struct sbfix *x)
{
	const char *sm_end = "</sm:SignedMessage>";
	size_t at, el, n;
	char *p;
	int i;

	memset(x, 0, sizeof(*x));
	assert_int_equal(sign_batch_docs(E.pki, 4, "batch-a", x->a, x->alen), 0);
	assert_int_equal(sign_batch_docs(E.pki, 4, "batch-b", x->b, x->blen), 0);
	assert_int_equal(sign_batch_docs(E.pki, 1, "single", x->one, x->onelen), 0);
	assert_null(strstr(x->one[0], "<sm:Batch"));
	p = strstr(x->a[2], "<sm:Batch ");
	assert_non_null(p);
	at = (size_t)(p - x->a[2]);
	el = x->alen[2] - at - strlen(sm_end);
	n = x->alen[2];
	for (i = 0; i < 4; i++)
		assert_non_null(x->odd[i] = malloc(n + el + 2));
	/* a newline after the document */
	memcpy(x->odd[0], x->a[2], n);
	memcpy(x->odd[0] + n, "\n", 1);
	x->oddlen[0] = n + 1;
	/* the Batch element twice */
	memcpy(x->odd[1], x->a[2], at + el);
	memcpy(x->odd[1] + at + el, x->a[2] + at, el + strlen(sm_end));
	x->oddlen[1] = n + el;
	/* no BatchProof before it */
	memcpy(x->odd[2], x->a[2], n);
	memcpy(x->odd[2] + at - strlen("</sm:BatchProof>"), "</sm:BatchPrOOf>", strlen("</sm:BatchProof>"));
	x->oddlen[2] = n;
	/* an end tag inside */
	memcpy(x->odd[3], x->a[2], n);
	memcpy(x->odd[3] + at + el / 2, "</sm:Batch>", strlen("</sm:Batch>"));
	x->oddlen[3] = n;
}

/* A new log under a new directory d (its file db, its configuration c, to
 * open it again), the fixture's documents made and nothing appended yet (w
 * empty). */
static struct msglog *sb_setup(struct sbfix *x, struct sigdocs *w, char *d, size_t dn, char *db, size_t dbn,
			       struct msglog_config *c, int with_tsa)
{
	memset(w, 0, sizeof(*w));
	sbfix_make(x);
	newdir(d, dn);
	snprintf(db, dbn, "%s/log.db", d);
	cfg_init(c, db, with_tsa);
	return ml_open(c);
}

static void sbfix_free(struct sbfix *x)
{
	int i;

	for (i = 0; i < 4; i++) {
		free(x->a[i]);
		free(x->b[i]);
		free(x->odd[i]);
	}
	free(x->one[0]);
}

/* Records sharing a Batch element keep it once, in sig_batches; every
 * document reads back byte for byte; the single form and anything odd stay
 * whole in records; the chain verifies. A changed, missing or misplaced
 * element fails the hash of the first record that uses it. */
static void test_sigbatch_stored_once(void **state)
{
	char d[320], db[400], copy[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct sigdocs w;
	struct sbfix x;
	int i;

	assert_non_null(log = sb_setup(&x, &w, d, sizeof(d), db, sizeof(db), &c, 1));
	/* 1 a0, 2 single, 3 b0, 4 a1, 5 b1, 6 "<Signature>", 7 b2, 8 a2, 9-12 odd, 13 a3, 14 b3 */
	assert_int_equal(append_doc(log, 1, x.a[0], x.alen[0], &w), 1);
	assert_int_equal(append_doc(log, 2, x.one[0], x.onelen[0], &w), 2);
	assert_int_equal(append_doc(log, 3, x.b[0], x.blen[0], &w), 3);
	assert_int_equal(append_doc(log, 4, x.a[1], x.alen[1], &w), 4);
	assert_int_equal(append_doc(log, 5, x.b[1], x.blen[1], &w), 5);
	assert_int_equal(ml_append_n(log, 6, 1, 0, 0), 6);
	w.doc[6] = "<Signature>6</Signature>";
	w.len[6] = strlen(w.doc[6]);
	assert_int_equal(append_doc(log, 7, x.b[2], x.blen[2], &w), 7);
	assert_int_equal(append_doc(log, 8, x.a[2], x.alen[2], &w), 8);
	for (i = 0; i < 4; i++)
		assert_int_equal(append_doc(log, 9 + i, x.odd[i], x.oddlen[i], &w), 9 + i);
	assert_int_equal(append_doc(log, 13, x.a[3], x.alen[3], &w), 13);
	assert_int_equal(append_doc(log, 14, x.b[3], x.blen[3], &w), 14);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);

	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (1, 3)"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch = 1"), 4);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch = 3"), 4);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch IS NULL AND "
				    "id IN (2, 6, 9, 10, 11, 12)"), 6);
	/* Stored: each document without its element (~4 KB), the element once. */
	assert_true(ml_count_rows(db, "SELECT MAX(length(sigdoc)) FROM records WHERE sig_batch IS NOT NULL") <
		    1500);
	assert_true(ml_count_rows(db, "SELECT MIN(length(data)) FROM sig_batches") > 3000);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 14);

	/* A new connection stores a Batch element again (here b3 after a
	 * restart): a row of its own, read back the same. */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_doc(log, 15, x.b[3], x.blen[3], &w), 15);
	assert_int_equal(append_doc(log, 16, x.b[0], x.blen[0], &w), 16);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 3);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch = 15"), 2);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);

	/* The shared element changed, removed, or put back elsewhere: the first
	 * record that uses it is named. */
	snprintf(copy, sizeof(copy), "%s/t1.db", d);
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(flip_blob(copy, "sig_batches", "data", 3, 100), 0);   /* key: first_id */
	assert_int_equal(verify1(copy, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_HASH);
	assert_int_equal(res.bad_id, 3);
	snprintf(copy, sizeof(copy), "%s/t2.db", d);
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "DELETE FROM sig_batches WHERE first_id = 1"), 0);
	assert_int_equal(verify1(copy, &res), 1);
	assert_int_equal(res.problem, LOGVERIFY_HASH);
	assert_int_equal(res.bad_id, 1);
	snprintf(copy, sizeof(copy), "%s/t3.db", d);
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "UPDATE records SET sig_batch_at = sig_batch_at - 1 WHERE id = 5;"
				  "UPDATE records SET sig_batch_at = 100000 WHERE id = 7"), 0);
	assert_int_equal(verify1(copy, &res), 1);
	assert_int_equal(res.bad_id, 5);
	/* A document stored whole (record 2, the single form) given a reference
	 * it never had - out of range, to a missing row, half of one, or a real
	 * one - is named too (a review found the first two reading as intact). */
	{
		static const char *const refs[] = {
			"UPDATE records SET sig_batch = 1, sig_batch_at = length(sigdoc) + 1 WHERE id = 2",
			"UPDATE records SET sig_batch = 999, sig_batch_at = 10 WHERE id = 2",
			"UPDATE records SET sig_batch = 1 WHERE id = 2",
			"UPDATE records SET sig_batch_at = 10 WHERE id = 2",
			"UPDATE records SET sig_batch = 1, sig_batch_at = 10 WHERE id = 2",
		};
		for (i = 0; i < (int)(sizeof(refs) / sizeof(refs[0])); i++) {
			snprintf(copy, sizeof(copy), "%s/r%d.db", d, i);
			assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
			assert_int_equal(ml_exec_sql(copy, refs[i]), 0);
			assert_int_equal(verify1(copy, &res), 1);
			assert_int_equal(res.problem, LOGVERIFY_HASH);
			assert_int_equal(res.bad_id, 2);
		}
	}
	sbfix_free(&x);
}

/* The backend alone: a reference reaches at most SIGB_SPAN (4096) records
 * past its row's first record; a cut keeps every row a remaining record
 * refers to and drops the others; a row another connection's cut deleted
 * is stored again by a connection that still remembers it. */
static int insert_raw(void *conn, int64_t id, const char *doc, size_t len)
{
	struct msglog_row r = { 0 };
	char *err = NULL;
	int rc;

	r.id = id;
	r.time_ms = 1;
	r.dir = MSGLOG_REQUEST;
	r.side = MSGLOG_SERVER;
	r.reqid = r.message_id = r.client_id = r.service_id = r.request_hash = "";
	r.body_mode = MSGLOG_BODY_DIGEST;
	r.sigdoc = (const unsigned char *)doc;
	r.sigdoc_len = len;
	rc = msglog_sqlite_ops.insert(conn, &r, &err);
	if (rc < 0)
		print_message("insert %lld: %s\n", (long long)id, err ? err : "?");
	free(err);
	return rc;
}

static void test_sigbatch_span_and_cut(void **state)
{
	static const unsigned char zero[32];
	char d[320], db[400], *err = NULL;
	void *w = NULL, *a = NULL;
	struct sbfix x;

	sbfix_make(&x);
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	assert_int_equal(msglog_sqlite_ops.open(db, MSGLOG_OPEN_CREATE | MSGLOG_OPEN_WRITER, &w, &err), 0);
	assert_int_equal(msglog_sqlite_ops.begin(w, &err), 0);
	assert_int_equal(insert_raw(w, 1, x.a[0], x.alen[0]), 0);
	assert_int_equal(insert_raw(w, 2, x.b[0], x.blen[0]), 0);
	assert_int_equal(insert_raw(w, 3, x.a[1], x.alen[1]), 0);
	assert_int_equal(insert_raw(w, 4096, x.a[2], x.alen[2]), 0);    /* 4095 past 1: row 1 */
	assert_int_equal(insert_raw(w, 4097, x.a[3], x.alen[3]), 0);    /* 4096 past: a new row */
	assert_int_equal(insert_raw(w, 4098, x.b[1], x.blen[1]), 0);    /* new too */
	assert_int_equal(msglog_sqlite_ops.commit(w, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 4);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (1, 2, 4097, 4098)"), 4);
	assert_int_equal(ml_count_rows(db, "SELECT sig_batch FROM records WHERE id = 4096"), 1);
	assert_int_equal(ml_count_rows(db, "SELECT sig_batch FROM records WHERE id = 4097"), 4097);
	assert_int_equal(ml_count_rows(db, "SELECT sig_batch FROM records WHERE id = 4098"), 4098);

	/* Cuts on another connection (the archiver's), as retention makes them. */
	assert_int_equal(msglog_sqlite_ops.open(db, 0, &a, &err), 0);
	assert_int_equal(msglog_sqlite_ops.begin(a, &err), 0);
	/* row 1: 3 and 4096 remain; row 2: nothing does */
	assert_int_equal(msglog_sqlite_ops.cut(a, 2, zero, &err), 0);
	assert_int_equal(msglog_sqlite_ops.commit(a, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 3);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (1, 4097, 4098)"), 3);
	assert_int_equal(msglog_sqlite_ops.begin(a, &err), 0);
	assert_int_equal(msglog_sqlite_ops.cut(a, 3, zero, &err), 0);   /* row 1: 4096 remains */
	assert_int_equal(msglog_sqlite_ops.commit(a, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 3);
	assert_int_equal(msglog_sqlite_ops.begin(a, &err), 0);
	assert_int_equal(msglog_sqlite_ops.cut(a, 4096, zero, &err), 0);   /* row 1: nothing */
	assert_int_equal(msglog_sqlite_ops.commit(a, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (4097, 4098)"), 2);

	/* The writer still remembers row 4098 (b); another connection's cut
	 * deletes it: the writer's next record with b stores it again. */
	assert_int_equal(msglog_sqlite_ops.begin(a, &err), 0);
	assert_int_equal(msglog_sqlite_ops.cut(a, 4098, zero, &err), 0);
	assert_int_equal(msglog_sqlite_ops.commit(a, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 0);
	assert_int_equal(msglog_sqlite_ops.begin(w, &err), 0);
	assert_int_equal(insert_raw(w, 4099, x.b[2], x.blen[2]), 0);
	assert_int_equal(insert_raw(w, 4100, x.b[3], x.blen[3]), 0);
	assert_int_equal(msglog_sqlite_ops.commit(w, &err), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 1);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch = 4099"), 2);
	/* Outside a transaction a document stays whole. */
	assert_int_equal(insert_raw(w, 4101, x.b[0], x.blen[0]), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE id = 4101 AND sig_batch IS NULL"), 1);
	msglog_sqlite_ops.close(a);
	msglog_sqlite_ops.close(w);
	sbfix_free(&x);
	assert_null(err);
}

/* Archives carry the Batch elements their records use; the live log keeps
 * an element a remaining record still uses and drops the others. */
static void test_sigbatch_archive_retention(void **state)
{
	char d[320], db[400], arch[400], *path = NULL, *path2 = NULL, *err = NULL;
	int64_t now = (int64_t)time(NULL) * 1000, old = now - 3 * 86400000LL;
	struct sigdocs w, wa;
	struct logverify_result res;
	struct msglog_config c;
	struct msglog *log;
	const char *files[3];
	struct sbfix x;
	int i;

	memset(&wa, 0, sizeof(wa));
	assert_non_null(log = sb_setup(&x, &w, d, sizeof(d), db, sizeof(db), &c, 1));
	snprintf(arch, sizeof(arch), "%s/archive", d);
	mkdir(arch, 0700);
	/* 1 a0, 2 b0, 3 a1 (old, stamped) | 4 b1 (new) 5 a2 | 6 b2 7 a3 */
	for (i = 0; i < 3; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		int64_t id;

		ml_make_rec(&r, &b, i + 1);
		r.time_ms = old;
		r.sigdoc = i == 1 ? x.b[0] : x.a[i / 2];
		r.sigdoc_len = i == 1 ? x.blen[0] : x.alen[i / 2];
		assert_int_equal(msglog_append_sync(log, &r, &id, NULL, &err), 0);
		w.doc[id] = r.sigdoc;
		w.len[id] = r.sigdoc_len;
	}
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(append_doc(log, 4, x.b[1], x.blen[1], &w), 4);
	assert_int_equal(append_doc(log, 5, x.a[2], x.alen[2], &w), 5);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (1, 2)"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 2);

	assert_int_equal(msglog_archive(log, now - 86400000LL, arch, &path, &err), 3);
	/* a (first used by 1) is still used by 5; b (2) by 4. */
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(ml_count_rows(path, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(ml_count_rows(path, "SELECT COUNT(*) FROM records WHERE sig_batch IS NOT NULL"), 3);
	for (i = 1; i <= 3; i++) {
		wa.doc[i] = w.doc[i];
		wa.len[i] = w.len[i];
		w.doc[i] = NULL;
	}
	assert_int_equal(read_sigdocs(path, &wa), 0);
	assert_int_equal(read_sigdocs(db, &w), 0);

	/* The writer goes on using both rows; the next archive takes 4-7 and
	 * the live log lets both go (no record is left). */
	assert_int_equal(append_doc(log, 6, x.b[2], x.blen[2], &w), 6);
	assert_int_equal(append_doc(log, 7, x.a[3], x.alen[3], &w), 7);
	assert_int_equal(ml_stamp_all(log), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(msglog_archive(log, now + 86400000LL, arch, &path2, &err), 4);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 0);
	assert_int_equal(ml_count_rows(path2, "SELECT COUNT(*) FROM sig_batches WHERE first_id IN (4, 5)"), 2);
	assert_int_equal(ml_count_rows(path2, "SELECT COUNT(*) FROM sig_batches"), 2);
	assert_int_equal(read_sigdocs(path2, &w), 0);
	files[0] = path;
	files[1] = path2;
	files[2] = db;
	assert_int_equal(verify(files, 3, 1, &res), 0);
	assert_int_equal(res.records, 7);
	free(path);
	free(path2);
	sbfix_free(&x);
	assert_null(err);
}

/* Packed records (msglog_pack.h) with batch-form documents: the frame
 * holds the document without its Batch element, which sig_batches keeps
 * once; reading unpacks, then puts the element back - byte for byte, and
 * the log verifies. */
static void test_sigbatch_packed(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct sigdocs w;
	struct sbfix x;
	int i;

	assert_non_null(log = sb_setup(&x, &w, d, sizeof(d), db, sizeof(db), &c, 1));
	msglog_close(log);
	c.pack = 1;
	assert_non_null(log = ml_open(&c));
	/* Enough records that the dictionary is made and later ones packed. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(append_doc(log, 1 + 4 * i, x.a[i], x.alen[i], &w), 1 + 4 * i);
		assert_int_equal(append_doc(log, 2 + 4 * i, x.b[i], x.blen[i], &w), 2 + 4 * i);
		assert_int_equal(append_doc(log, 3 + 4 * i, x.odd[i], x.oddlen[i], &w), 3 + 4 * i);
		assert_int_equal(append_doc(log, 4 + 4 * i, x.one[0], x.onelen[0], &w), 4 + 4 * i);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(append_doc(log, 17 + 2 * i, x.a[i], x.alen[i], &w), 17 + 2 * i);
		assert_int_equal(append_doc(log, 18 + 2 * i, x.b[i], x.blen[i], &w), 18 + 2 * i);
	}
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM packing_dicts"), 1);
	assert_true(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL AND "
				  "sig_batch IS NOT NULL") >= 4);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 24);
	sbfix_free(&x);
}

/* A log written before Batch elements were shared (no sig_batch columns,
 * no sig_batches) is read as it is; opened for writing it gets them, its
 * rows stay whole, new ones share. */
static void test_sigbatch_old_layout(void **state)
{
	char d[320], db[400];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct sigdocs w;
	struct sbfix x;

	assert_non_null(log = sb_setup(&x, &w, d, sizeof(d), db, sizeof(db), &c, 0));
	assert_int_equal(append_doc(log, 1, x.a[0], x.alen[0], &w), 1);
	assert_int_equal(append_doc(log, 2, x.a[1], x.alen[1], &w), 2);
	assert_int_equal(append_doc(log, 3, x.one[0], x.onelen[0], &w), 3);
	msglog_close(log);
	/* Back to the old layout: the elements put back with README.md's
	 * statement (for going back to an older binary), then the columns and
	 * the table dropped. */
	assert_int_equal(ml_exec_sql(db, "UPDATE records SET sigdoc = CAST(substr(sigdoc, 1, sig_batch_at) || "
				  "(SELECT data FROM sig_batches WHERE first_id = sig_batch) || "
				  "substr(sigdoc, sig_batch_at + 1) AS BLOB), sig_batch = NULL, sig_batch_at = NULL "
				  "WHERE sig_batch IS NOT NULL; DELETE FROM sig_batches"), 0);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(ml_exec_sql(db, "ALTER TABLE records DROP COLUMN sig_batch;"
				  "ALTER TABLE records DROP COLUMN sig_batch_at; DROP TABLE sig_batches"), 0);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sig_batches'"), 0);

	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_doc(log, 4, x.a[2], x.alen[2], &w), 4);
	assert_int_equal(append_doc(log, 5, x.a[3], x.alen[3], &w), 5);
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch IS NULL"), 3);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE sig_batch = 4"), 2);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM sig_batches"), 1);
	assert_int_equal(read_sigdocs(db, &w), 0);
	assert_int_equal(verify1(db, &res), 0);
	assert_int_equal(res.records, 5);
	sbfix_free(&x);
}

/* ---------------------------------------------- realistic writer bench */


/* n bytes of base64 alphabet: what bodies, signature values and the
 * carried OCSP header look like to SQLite. */
static void rb_fill(char *p, size_t n, uint64_t *seed)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = b64[ml_rand(seed) & 63];
}

/* The identifiers and shape of the i-th benchmark record (a request and its
 * response share a message id), as the signed exchange logs them. */
static void rb_rec(struct msglog_rec *r, uint64_t *seed, int i, char msgid[64], char reqid[64])
{
	memset(r, 0, sizeof(*r));
	snprintf(msgid, 64, "%016llx-%08x", (unsigned long long)ml_rand(seed), (unsigned)(i / 2));
	snprintf(reqid, 64, "%08x%08x", (unsigned)ml_rand(seed), (unsigned)i);
	r->dir = i % 2 ? MSGLOG_RESPONSE : MSGLOG_REQUEST;
	r->side = MSGLOG_SERVER;
	r->reqid = reqid;
	r->message_id = msgid;
	r->client_id = CLIENT;
	r->service_id = SERVICE;
	r->body_mode = MSGLOG_BODY_FULL;
}

/* Batch-form signature documents for the benchmarks, as a gateway under
 * load logs them: one real batch of RB_BATCH messages (rb_sig_setup);
 * record i of stream s carries message i / 2 % RB_BATCH of batch
 * (s, i / 2 / RB_BATCH) - two streams per event loop, requests and
 * responses being signed by two gateways - and each batch's Ids carry a
 * uuid of its own, so every batch's Batch element is new to the log. */
#define RB_BATCH 12
#define RB_UUID_LEN 36
static struct {
	char *doc[RB_BATCH];
	size_t len[RB_BATCH];
	size_t uuid_at[RB_BATCH][8];     /* where the batch's uuid is written */
	int nuuid[RB_BATCH];
} RB;

static int rb_sig_setup(const char *dir)
{
	char pki[400], uuid[RB_UUID_LEN];
	int i, rc;

	snprintf(pki, sizeof(pki), "%s/pki", dir);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/70000050 --clients '' "
	       ">/dev/null 2>&1", srcdir(), pki) != 0)
		return -1;
	rc = sign_batch_docs(pki, RB_BATCH, "6f1c2a4e-93b7-4d0e-a1f5-c8e2d7b3", RB.doc, RB.len);
	sh("rm -rf '%s'", pki);
	for (i = 0; rc == 0 && i < RB_BATCH; i++) {
		const char *p = strstr(RB.doc[i], " Id=\"sb-"), *q;

		if (!p)
			return -1;
		memcpy(uuid, p + 8, RB_UUID_LEN);
		for (q = RB.doc[i]; (q = memmem(q, RB.len[i] - (size_t)(q - RB.doc[i]), uuid,
						RB_UUID_LEN)) != NULL && RB.nuuid[i] < 8; q++)
			RB.uuid_at[i][RB.nuuid[i]++] = (size_t)(q - RB.doc[i]);
	}
	return rc;
}

static void rb_sig_free(void)
{
	int i;

	for (i = 0; i < RB_BATCH; i++)
		free(RB.doc[i]);
	memset(&RB, 0, sizeof(RB));
	sig_global_shutdown();
}

/* Record i's document of stream s into out (room for RB.len[0] + 64);
 * returns its length. */
static size_t rb_sigdoc(unsigned s, int i, char *out)
{
	int k = i / 2 % RB_BATCH, j;
	char uuid[RB_UUID_LEN + 1];

	memcpy(out, RB.doc[k], RB.len[k]);
	snprintf(uuid, sizeof(uuid), "%08x-0000-4000-8000-%012llx", s,
		 (unsigned long long)(i / 2 / RB_BATCH));
	for (j = 0; j < RB.nuuid[k]; j++)
		memcpy(out + RB.uuid_at[k][j], uuid, RB_UUID_LEN);
	return RB.len[k];
}

/* The first number after prefix in /proc/self/task/<the thread named
 * comm>/file, or -1. */
static int64_t rb_thread_stat(const char *comm, const char *file, const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int64_t v = -1;

	while (d && v < 0 && (e = readdir(d)) != NULL) {
		char path[300], line[128] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(line, sizeof(line), f))
			line[strcspn(line, "\n")] = 0;
		fclose(f);
		if (strcmp(line, comm) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/%s", e->d_name, file);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			long long n;

			if (strncmp(line, prefix, strlen(prefix)) == 0 &&
			    sscanf(line + strlen(prefix), "%lld", &n) == 1) {
				v = n;
				break;
			}
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return v;
}

/* Runtime of the thread named comm, in ns (schedstat), or -1. */
static int64_t rb_thread_ns(const char *comm)
{
	return rb_thread_stat(comm, "schedstat", "");
}

static int64_t rb_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "wchar: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static double rb_self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long long rb_fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

struct cb_ckpt {
	const char *db;
	int every_ms;
	atomic_int stop;
};

/* What the stamper's connection does under load: a checkpoint a second
 * (rec_bench, whose records come ~4 times faster, every 250 ms). */
static void *cb_ckpt_main(void *arg)
{
	struct cb_ckpt *k = arg;
	sqlite3 *h = NULL;

	/* A connection knows the file is in WAL mode (and checkpoints
	 * something) only once it has read it. */
	if (sqlite3_open(k->db, &h) != SQLITE_OK ||
	    sqlite3_exec(h, "SELECT COUNT(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return NULL;
	}
	sqlite3_busy_timeout(h, 1000);
	while (!atomic_load(&k->stop)) {
		int i;

		for (i = 0; i < k->every_ms / 10 && !atomic_load(&k->stop); i++)
			sleep_ms(10);
		sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	sqlite3_close(h);
	return NULL;
}

static int envi(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

static int rec_bench(int n)
{
	static char body[2000], sig[16384], ocsp[2][2600];
	char dir[] = "/tmp/msglog_recbench.XXXXXX", db[300], wal[310];
	struct cb_ckpt ck = { db, 250, 0 };
	pthread_t ckth;
	struct msglog_config c;
	struct msglog_stats st;
	struct msglog *log;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int64_t w0, w1, wc0, wc1, ww0, ww1;
	double p0, p1;
	long long walsize;
	atomic_int done = 0;
	int i, group = envi("MSGLOG_RECBENCH_GROUP", 25);

	if (group < 1 || !mkdtemp(dir) || evthread_use_pthreads() < 0 || rb_sig_setup(dir) < 0 ||
	    RB.len[0] + 64 > sizeof(sig))
		return 1;
	snprintf(db, sizeof(db), "%s/msglog.db", dir);
	if (getenv("MSGLOG_RECBENCH_DB"))
		snprintf(db, sizeof(db), "%s", getenv("MSGLOG_RECBENCH_DB"));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	rb_fill(ocsp[0], sizeof(ocsp[0]), &seed);
	rb_fill(ocsp[1], sizeof(ocsp[1]), &seed);
	msglog_config_defaults(&c);
	c.path = db;
	c.batch_max = (unsigned)group;
	c.group_wait_ms = 1000;   /* groups of exactly that many */
	if (!(log = ml_open(&c)))
		return 1;
	pthread_create(&ckth, NULL, cb_ckpt_main, &ck);
	w0 = rb_thread_ns("ag-msglog");
	ww0 = rb_thread_stat("ag-msglog", "io", "wchar: ");
	wc0 = rb_wchar();
	p0 = rb_self_cpu_s();
	for (i = 0; i < n; i++) {
		char msgid[64], reqid[64];
		size_t body_len, sig_len;
		struct msglog_rec r;
		char *err = NULL;

		rb_rec(&r, &seed, (int)i, msgid, reqid);
		body_len = 1000 + (size_t)(ml_rand(&seed) % 1000);
		sig_len = rb_sigdoc((unsigned)i % 2, i, sig);
		rb_fill(body, body_len, &seed);
		r.body = body;
		r.body_len = body_len;
		r.sigdoc = sig;
		r.sigdoc_len = sig_len;
		r.ocsp = ocsp[i % 2];
		r.ocsp_len = sizeof(ocsp[0]);
		r.request_hash = i % 2 ? "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" : "";
		if (msglog_append(log, &r, on_done_count, &done, NULL, &err) < 0) {
			fprintf(stderr, "append: %s\n", err ? err : "?");
			return 1;
		}
		if ((i + 1) % group == 0 || i + 1 == n)
			while (atomic_load(&done) < i + 1)
				sleep_ms(1);
	}
	w1 = rb_thread_ns("ag-msglog");
	ww1 = rb_thread_stat("ag-msglog", "io", "wchar: ");
	wc1 = rb_wchar();
	p1 = rb_self_cpu_s();
	atomic_store(&ck.stop, 1);
	pthread_join(ckth, NULL);
	walsize = rb_fsize(wal);
	msglog_get_stats(log, &st);
	msglog_close(log);
	printf("recbench: %d records, %llu commits: writer %.1f us/record (wrote %.0f B/record), "
	       "process %.1f us/record, wchar %.0f B/record, db %lld B + wal %lld B\n",
	       n, (unsigned long long)st.commits, (w1 - w0) / 1e3 / n, (double)(ww1 - ww0) / n,
	       (p1 - p0) * 1e6 / n, (double)(wc1 - wc0) / n, rb_fsize(db), walsize);
	if (getenv("MSGLOG_RECBENCH_DB"))
		rmdir(dir);
	else if (!getenv("MSGLOG_RECBENCH_KEEP"))
		sh("rm -rf '%s'", dir);
	else
		printf("recbench: kept %s\n", db);
	printf("recbench: signature documents %zu B (batch form, %d a batch, Batch element %zu B)\n",
	       RB.len[0], RB_BATCH, RB.len[0] - (size_t)(strstr(RB.doc[0], "<sm:Batch ") - RB.doc[0]) -
	       strlen("</sm:SignedMessage>"));
	rb_sig_free();
	libevent_global_shutdown();
	return 0;
}

/* ------------------------------------------------------ archive bench */

/* MSGLOG_ARCHIVEBENCH=N: N records of the signed exchange's sizes (bodies
 * 1-2 KB, signature documents 1.2 KB, OCSP stored once), three days old,
 * time-stamped in batches of 2,000; then, on two copies of that log, the
 * archiving of all of it with archive_chunk = N (one file and one delete,
 * as before session 8) and with the default (20,000), while this thread
 * appends a record at a time and waits for each to be durable, as the
 * gateway's answers do. Prints the archiving's wall time and files, and
 * how long those appends waited: what an exchange waits while retention
 * runs. A measurement, not a test. */
struct ab_arch {
	struct msglog *log;
	const char *dir;
	long n;
	int64_t ms;
	atomic_int done;
};

static void *ab_arch_main(void *arg)
{
	struct ab_arch *a = arg;
	struct timespec t0, t1;
	char *err = NULL;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	a->n = msglog_archive(a->log, msglog_now_ms() - 86400000LL, a->dir, NULL, &err);
	if (a->n < 0)
		fprintf(stderr, "archive: %s\n", err ? err : "?");
	free(err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a->ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	atomic_store(&a->done, 1);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int archive_bench_run(const char *db, const char *arch, unsigned chunk, const char *what)
{
	static int64_t lat[1 << 20];
	struct msglog_config c;
	struct ab_arch a = { 0 };
	struct msglog *log;
	pthread_t th;
	size_t k = 0;
	int i = 0;

	cfg_init(&c, db, 1);
	c.archive_chunk = chunk;
	if (!(log = ml_open(&c)))
		return -1;
	a.log = log;
	a.dir = arch;
	pthread_create(&th, NULL, ab_arch_main, &a);
	while (!atomic_load(&a.done) && k < sizeof(lat) / sizeof(lat[0])) {
		struct msglog_rec r;
		struct ml_recbuf b;
		struct timespec t0, t1;
		char *err = NULL;
		int64_t id;

		ml_make_rec(&r, &b, ++i);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (msglog_append_sync(log, &r, &id, NULL, &err) < 0) {
			fprintf(stderr, "append: %s\n", err ? err : "?");
			free(err);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		lat[k++] = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	}
	pthread_join(th, NULL);
	msglog_close(log);
	qsort(lat, k, sizeof(lat[0]), cmp_i64);
	printf("archivebench: %-34s %ld records archived in %lld ms into %d files; %zu appends meanwhile, "
	       "each waited p50 %.2f ms, p99 %.2f ms, max %.1f ms\n", what, a.n, (long long)a.ms,
	       dir_count(arch, ".db"), k, k ? lat[k / 2] / 1e6 : 0, k ? lat[k * 99 / 100] / 1e6 : 0,
	       k ? lat[k - 1] / 1e6 : 0);
	return a.n < 0 ? -1 : 0;
}

static int archive_bench(int n)
{
	static char body[2000], sig[1200], ocsp[2600];
	char db[400], db1[420], db2[420], arch1[420], arch2[420];
	struct msglog_config c;
	struct msglog *log;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int64_t old = msglog_now_ms() - 3 * 86400000LL;
	atomic_int done = 0;
	int i, rc = 1;

	if (group_setup(NULL) < 0)
		return 1;
	snprintf(db, sizeof(db), "%s/live.db", E.dir);
	cfg_init(&c, db, 1);
	if (!(log = ml_open(&c)))
		goto out;
	rb_fill(ocsp, sizeof(ocsp), &seed);
	rb_fill(sig, sizeof(sig), &seed);
	for (i = 0; i < n; i++) {
		char msgid[64], reqid[64];
		struct msglog_rec r;
		char *err = NULL;

		rb_rec(&r, &seed, i, msgid, reqid);
		r.time_ms = old + i / 10;
		r.body_len = 1000 + (size_t)(ml_rand(&seed) % 1000);
		rb_fill(body, r.body_len, &seed);
		r.body = body;
		r.sigdoc = sig;
		r.sigdoc_len = sizeof(sig);
		r.ocsp = ocsp;
		r.ocsp_len = sizeof(ocsp);
		if (msglog_append(log, &r, on_done_count, &done, NULL, &err) < 0) {
			fprintf(stderr, "append: %s\n", err ? err : "?");
			goto out;
		}
		if ((i + 1) % 250 == 0 || i + 1 == n)
			while (atomic_load(&done) < i + 1)
				sleep_ms(1);
		if (((i + 1) % 2000 == 0 || i + 1 == n) && ml_stamp_all(log) < 0) {
			fprintf(stderr, "archivebench: stamping failed at record %d\n", i + 1);
			goto out;
		}
	}
	msglog_close(log);
	snprintf(db1, sizeof(db1), "%s/one.db", E.dir);
	snprintf(db2, sizeof(db2), "%s/chunked.db", E.dir);
	snprintf(arch1, sizeof(arch1), "%s/arch-one", E.dir);
	snprintf(arch2, sizeof(arch2), "%s/arch-chunked", E.dir);
	if (sh("cp '%s' '%s' && cp '%s' '%s' && mkdir '%s' '%s'", db, db1, db, db2, arch1, arch2) != 0)
		goto out;
	printf("archivebench: %d records, %lld MB\n", n, rb_fsize(db) >> 20);
	if (archive_bench_run(db1, arch1, (unsigned)n + 1, "one file (archive_chunk = N):") < 0 ||
	    archive_bench_run(db2, arch2, 0, "files of 20,000 (the default):") < 0)
		goto out;
	rc = 0;
out:
	group_teardown(NULL);
	return rc;
}

/* ---------------------------------------------- concurrent writer bench */

/* MSGLOG_CONCBENCH=N: N records appended from _THREADS (2) event loops at
 * _RATE records/s in all (1400: the signed exchange's bench, two records
 * per exchange; 0: as fast as the writer takes them, _INFLIGHT (64) per
 * loop), completions on the loops, and a thread that checkpoints every
 * second as the stamper does; _WAIT_MS sets group_wait_ms. Prints what
 * rec_bench does plus the writer thread's bytes read and written (its
 * /proc io: a checkpoint of its own shows as reads), records per commit
 * and the latency from append to callback. */
struct cb_loop {
	struct msglog *log;
	struct event_base *base;
	struct event *tick;
	const char *pool;                /* random bytes, slices of it are bodies and OCSP */
	size_t pool_len;
	uint64_t seed;
	int64_t t0_ns, *lat_ns;          /* latency of each completed record */
	double rate;                     /* records/s of this loop; 0: closed loop */
	unsigned stream;                 /* this loop's signers (rb_sigdoc) */
	char sig[16384];
	int target, sent, done, inflight, failed;
};

struct cb_slot {
	struct cb_loop *l;
	int64_t t_ns;
};

static int64_t cb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cb_append(struct cb_loop *l);

static void cb_done(const struct msglog_result *res, void *arg)
{
	struct cb_slot *s = arg;
	struct cb_loop *l = s->l;

	l->lat_ns[l->done++] = cb_mono_ns() - s->t_ns;
	if (res->status != MSGLOG_OK)
		l->failed++;
	free(s);
	if (l->rate == 0 && l->sent < l->target)
		cb_append(l);
	if (l->done == l->target)
		event_base_loopbreak(l->base);
}

static void cb_append(struct cb_loop *l)
{
	char msgid[64], reqid[64];
	struct cb_slot *s = malloc(sizeof(*s));
	size_t body_len = 1000 + (size_t)(ml_rand(&l->seed) % 1000);
	int i = l->sent++;
	size_t sig_len = rb_sigdoc(l->stream * 2 + (unsigned)i % 2, i, l->sig);
	struct msglog_rec r;
	char *err = NULL;

	rb_rec(&r, &l->seed, i, msgid, reqid);
	r.body = l->pool + ml_rand(&l->seed) % (l->pool_len - 2000 - 5500);
	r.body_len = body_len;
	r.sigdoc = l->sig;
	r.sigdoc_len = sig_len;
	r.ocsp = l->pool + (i % 2) * 2600;   /* the same two OCSP blobs */
	r.ocsp_len = 2600;
	r.request_hash = i % 2 ? "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" : "";
	if (!s) {
		l->failed++;
		return;
	}
	s->l = l;
	s->t_ns = cb_mono_ns();
	if (msglog_append(l->log, &r, cb_done, s, l->base, &err) < 0) {
		fprintf(stderr, "append: %s\n", err ? err : "?");
		free(err);
		free(s);
		l->failed++;
		l->lat_ns[l->done++] = 0;
		if (l->done == l->target)
			event_base_loopbreak(l->base);
	}
}

/* Every millisecond: the records due by now (at l->rate). It also keeps
 * the loop running until the last completion has come. */
static void cb_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cb_loop *l = arg;
	int due = (int)((cb_mono_ns() - l->t0_ns) / 1e9 * l->rate) + 1;

	if (l->rate == 0 || due > l->target)
		due = l->target;
	while (l->rate > 0 && l->sent < due)
		cb_append(l);
}

static void *cb_loop_main(void *arg)
{
	struct cb_loop *l = arg;
	struct timeval ms = { 0, 1000 };

	l->t0_ns = cb_mono_ns();
	l->tick = event_new(l->base, -1, EV_PERSIST, cb_tick, l);
	event_add(l->tick, &ms);
	while (l->rate == 0 && l->sent < l->inflight && l->sent < l->target)
		cb_append(l);
	event_base_dispatch(l->base);
	msglog_detach_base(l->log, l->base);
	event_free(l->tick);
	return NULL;
}

static int conc_bench(int n)
{
	int nt = envi("MSGLOG_CONCBENCH_THREADS", 2), rate = envi("MSGLOG_CONCBENCH_RATE", 1400);
	char dir[] = "/tmp/msglog_concbench.XXXXXX", db[300];
	struct cb_loop loops[16];
	struct cb_ckpt ck = { db, 1000, 0 };
	pthread_t th[16], ckth;
	struct msglog_config c;
	struct msglog_stats st;
	struct msglog *log;
	static char pool[1 << 16];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int64_t w0, w1, wc0, wc1, t0, t1, *lat, wr0, wr1, ww0, ww1;
	double p0, p1;
	int i, k, failed = 0;

	if (nt < 1 || nt > 16 || !mkdtemp(dir) || evthread_use_pthreads() < 0 ||
	    !(lat = calloc((size_t)n, sizeof(*lat))) || rb_sig_setup(dir) < 0 ||
	    RB.len[0] + 64 > sizeof(loops[0].sig))
		return 1;
	snprintf(db, sizeof(db), "%s/msglog.db", dir);
	if (getenv("MSGLOG_RECBENCH_DB"))
		snprintf(db, sizeof(db), "%s", getenv("MSGLOG_RECBENCH_DB"));
	rb_fill(pool, sizeof(pool), &seed);
	msglog_config_defaults(&c);
	c.path = db;
	c.group_wait_ms = (unsigned)envi("MSGLOG_CONCBENCH_WAIT_MS", 0);
	if (!(log = ml_open(&c)))
		return 1;
	pthread_create(&ckth, NULL, cb_ckpt_main, &ck);
	w0 = rb_thread_ns("ag-msglog");
	wr0 = rb_thread_stat("ag-msglog", "io", "rchar: ");
	ww0 = rb_thread_stat("ag-msglog", "io", "wchar: ");
	wc0 = rb_wchar();
	p0 = rb_self_cpu_s();
	t0 = cb_mono_ns();
	for (i = 0; i < nt; i++) {
		loops[i] = (struct cb_loop){ .log = log, .base = event_base_new(), .pool = pool,
					     .pool_len = sizeof(pool), .seed = seed + (uint64_t)i * 7919,
					     .rate = (double)rate / nt, .inflight = envi("MSGLOG_CONCBENCH_INFLIGHT", 64),
					     .target = n / nt + (i < n % nt), .lat_ns = lat,
					     .stream = (unsigned)i };
		for (k = 0; k < i; k++)
			loops[i].lat_ns += loops[k].target;
		pthread_create(&th[i], NULL, cb_loop_main, &loops[i]);
	}
	for (i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		event_base_free(loops[i].base);
		failed += loops[i].failed;
	}
	t1 = cb_mono_ns();
	w1 = rb_thread_ns("ag-msglog");
	wr1 = rb_thread_stat("ag-msglog", "io", "rchar: ");
	ww1 = rb_thread_stat("ag-msglog", "io", "wchar: ");
	wc1 = rb_wchar();
	p1 = rb_self_cpu_s();
	atomic_store(&ck.stop, 1);
	pthread_join(ckth, NULL);
	msglog_get_stats(log, &st);
	msglog_close(log);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	printf("concbench: %d records, %d loops, %d/s asked, %.0f/s done, %llu commits (%.1f records "
	       "each): writer %.1f us/record (read %.0f, wrote %.0f B/record), process %.1f us/record, "
	       "wchar %.0f B/record, latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms, %d failed\n",
	       n, nt, rate, n / ((t1 - t0) / 1e9), (unsigned long long)st.commits,
	       st.commits ? (double)n / st.commits : 0, (w1 - w0) / 1e3 / n, (double)(wr1 - wr0) / n,
	       (double)(ww1 - ww0) / n, (p1 - p0) * 1e6 / n,
	       (double)(wc1 - wc0) / n, lat[n / 2] / 1e6, lat[n * 9 / 10] / 1e6,
	       lat[n * 99 / 100] / 1e6, lat[n - 1] / 1e6, failed);
	free(lat);
	if (getenv("MSGLOG_RECBENCH_DB"))
		rmdir(dir);
	else
		sh("rm -rf '%s'", dir);
	rb_sig_free();
	libevent_global_shutdown();
	return failed ? 1 : 0;
}

/* ----------------------------------------------- replay window at open */

/* MSGLOG_REPLAYBENCH=N: N requests (UUID message ids, small bodies) spread
 * over the last 9 minutes of the default 10-minute window, then, in
 * MSGLOG_REPLAYBENCH_ROUNDS (3) rounds of alternating order, the open that
 * reloads the window from the database against the open that reads the
 * snapshot the previous clean close wrote; and that close. Prints the
 * medians: the open's wall time, the replay part of it (msglog_replay_info)
 * per id, the process's CPU time for the open, and the close after it (the
 * snapshot row's close writes the next snapshot; the database row's writes
 * none). A measurement, not a test. */
struct rpb_run {
	double open_ms, load_ms, cpu_ms, close_ms;
	size_t entries;
	enum msglog_replay_from from;
};

/* Fills the log; *close_ms: the close after it, which writes the first
 * snapshot from a set of entries (what a gateway stopped after a busy
 * period writes). */
static double rpb_ms(const struct timespec *a, const struct timespec *b);

static int rpb_fill(const struct msglog_config *c, int n, double *close_ms)
{
	int64_t start = msglog_now_ms() - 540000;
	struct timespec t0, t1;
	struct msglog *log;
	atomic_int done = 0;
	int i;

	if (!(log = ml_open(c)))
		return -1;
	for (i = 0; i < n; i++) {
		struct msglog_rec r;
		struct ml_recbuf b;
		char msgid[UUID_STR_LEN], *err = NULL;

		ml_make_rec(&r, &b, 2 * i + 1);
		uuid4(msgid);
		r.message_id = msgid;
		r.time_ms = start + (int64_t)i * 540000 / n;
		while (i - atomic_load(&done) > 20000)
			sleep_ms(1);
		if (msglog_append(log, &r, on_done_count, &done, NULL, &err) < 0) {
			fprintf(stderr, "append: %s\n", err ? err : "?");
			free(err);
			return -1;
		}
	}
	while (atomic_load(&done) < n)
		sleep_ms(1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	msglog_close(log);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*close_ms = rpb_ms(&t0, &t1);
	return 0;
}

static double rpb_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static int rpb_open_close(const struct msglog_config *c, struct rpb_run *run)
{
	struct msglog_replay_info ri;
	struct timespec t0, t1, t2;
	struct msglog *log;
	double p0, p1;

	p0 = rb_self_cpu_s();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	log = ml_open(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p1 = rb_self_cpu_s();
	if (!log)
		return -1;
	msglog_replay_info(log, &ri);
	msglog_close(log);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	run->open_ms = rpb_ms(&t0, &t1);
	run->close_ms = rpb_ms(&t1, &t2);
	run->cpu_ms = (p1 - p0) * 1e3;
	run->load_ms = ri.load_ms;
	run->entries = ri.entries;
	run->from = ri.from;
	return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of field (a double at offset off) over k runs. */
static double rpb_median(const struct rpb_run *runs, int k, size_t off)
{
	double v[64];
	int i;

	for (i = 0; i < k; i++)
		memcpy(&v[i], (const char *)&runs[i] + off, sizeof(double));
	qsort(v, (size_t)k, sizeof(v[0]), cmp_dbl);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static void rpb_print(const char *what, const struct rpb_run *runs, int k)
{
	double load = rpb_median(runs, k, offsetof(struct rpb_run, load_ms));
	size_t e = runs[0].entries;

	printf("replaybench: %-9s open %8.1f ms (replay %8.1f ms, %.3f us/id), cpu %8.1f ms, "
	       "close %7.1f ms, %zu ids (%s)\n", what,
	       rpb_median(runs, k, offsetof(struct rpb_run, open_ms)), load, e ? load * 1e3 / e : 0,
	       rpb_median(runs, k, offsetof(struct rpb_run, cpu_ms)),
	       rpb_median(runs, k, offsetof(struct rpb_run, close_ms)), e,
	       msglog_replay_from_name(runs[0].from));
}

static int replay_bench(int n)
{
	char dir[] = "/tmp/msglog_replaybench.XXXXXX", db[300], snap[320];
	int k = envi("MSGLOG_REPLAYBENCH_ROUNDS", 3), i, rc = 1;
	struct rpb_run dbr[64], snr[64];
	struct msglog_config c, nosnap;
	long long snap_size = 0;
	double fill_close_ms;

	if (k < 1 || k > 64 || !mkdtemp(dir) || evthread_use_pthreads() < 0)
		return 1;
	snprintf(db, sizeof(db), "%s/msglog.db", dir);
	snprintf(snap, sizeof(snap), "%s.replay", db);
	msglog_config_defaults(&c);
	c.path = db;
	c.replay_snapshot = snap;
	nosnap = c;
	nosnap.replay_snapshot = NULL;   /* leaves the file for the next snapshot open */
	if (rpb_fill(&c, n, &fill_close_ms) < 0)
		goto out;
	for (i = 0; i < k; i++) {
		int first_db = i % 2 == 0;

		if ((first_db && rpb_open_close(&nosnap, &dbr[i]) < 0) ||
		    rpb_open_close(&c, &snr[i]) < 0 || (!first_db && rpb_open_close(&nosnap, &dbr[i]) < 0))
			goto out;
		snap_size = rb_fsize(snap);
		if (dbr[i].from != MSGLOG_REPLAY_DATABASE || snr[i].from != MSGLOG_REPLAY_SNAPSHOT) {
			fprintf(stderr, "replaybench: round %d loaded from %s and %s\n", i,
				msglog_replay_from_name(dbr[i].from), msglog_replay_from_name(snr[i].from));
			goto out;
		}
	}
	printf("replaybench: %d requests in the window, %d rounds (medians), log %lld B, snapshot %lld B; "
	       "the close after filling (entries, writes the snapshot) %.1f ms\n",
	       n, k, rb_fsize(db), snap_size, fill_close_ms);
	rpb_print("database", dbr, k);
	rpb_print("snapshot", snr, k);
	rc = 0;
out:
	sh("rm -rf '%s'", dir);
	libevent_global_shutdown();
	return rc;
}

int main(void)
{
	const char *rb = getenv("MSGLOG_RECBENCH");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_layout),
		cmocka_unit_test(test_hash_binds_every_field),
		cmocka_unit_test(test_append_callbacks_on_loop),
		cmocka_unit_test(test_loop_turn_after_due),
		cmocka_unit_test(test_lazy_records),
		cmocka_unit_test(test_group_commit_threads),
		cmocka_unit_test(test_bench),
		cmocka_unit_test(test_append_refused),
		cmocka_unit_test(test_reopen_continues),
		cmocka_unit_test(test_batches_stamped),
		cmocka_unit_test(test_anchor),
		cmocka_unit_test(test_clock_ahead_of_tsa),
		cmocka_unit_test(test_ts_sync),
		cmocka_unit_test(test_tsa_outage_and_recovery),
		cmocka_unit_test(test_ts_sync_outage),
		cmocka_unit_test(test_metadata_only),
		cmocka_unit_test(test_ocsp_stored_once),
		cmocka_unit_test(test_ocsp_old_format),
		cmocka_unit_test(test_old_layout_migrated),
		cmocka_unit_test(test_sigbatch_stored_once),
		cmocka_unit_test(test_sigbatch_span_and_cut),
		cmocka_unit_test(test_sigbatch_archive_retention),
		cmocka_unit_test(test_sigbatch_old_layout),
		cmocka_unit_test(test_sigbatch_packed),
		cmocka_unit_test(test_checkpoint_by_stamper),
		cmocka_unit_test(test_tampering_named),
		cmocka_unit_test(test_signature_hook),
		cmocka_unit_test(test_archive_across_boundary),
		cmocka_unit_test(test_archive_chunks),
		cmocka_unit_test(test_archive_unstamped_named),
		cmocka_unit_test(test_archive_refuses_field),
		cmocka_unit_test(test_archive_leftover),
		cmocka_unit_test(test_archive_leftover_damaged),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_retention_failure_told),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_overflow),
		cmocka_unit_test(test_replay_snapshot),
		cmocka_unit_test(test_replay_snapshot_refused),
		cmocka_unit_test(test_replay_snapshot_write),
		cmocka_unit_test(test_replay_snapshot_claims_evicted),
		cmocka_unit_test(test_replay_snapshot_ghosts_grown),
		cmocka_unit_test(test_replay_snapshot_expired),
		cmocka_unit_test(test_replay_snapshot_overflow),
	};

	if (rb && atoi(rb) > 0)
		return rec_bench(atoi(rb));
	if (envi("MSGLOG_CONCBENCH", 0) > 0)
		return conc_bench(envi("MSGLOG_CONCBENCH", 0));
	if (envi("MSGLOG_REPLAYBENCH", 0) > 0)
		return replay_bench(envi("MSGLOG_REPLAYBENCH", 0));
	if (envi("MSGLOG_ARCHIVEBENCH", 0) > 0)
		return archive_bench(envi("MSGLOG_ARCHIVEBENCH", 0));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
