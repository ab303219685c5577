/* Storage failures under the message log (store/msglog*.c): a write or an
 * fsync of the WAL that fails (SQLITE_IOERR_WRITE, a short write with
 * SQLITE_FULL as on a full disk, SQLITE_IOERR_FSYNC), failing checkpoints,
 * a stamp that cannot be stored, the database locked by another process
 * past the busy timeout, and a crash right after a failed fsync.
 *
 * A fault-injecting VFS is registered as SQLite's default before the first
 * log is opened, so the writer's walbuf VFS (whose parent is the default at
 * its registration) and every other connection of the log go through it.
 *
 * What each case checks: every record of a failed group gets MSGLOG_ERR_DB
 * in its callback, none of them is in the database, the ids and the hash
 * chain go on from the last committed record once the fault clears (the
 * verifier accepts the file), /health (msglog_is_healthy) reports the
 * failure, and - test_health_recovers_without_traffic - the log reports
 * itself healthy again once the storage works, without needing an append
 * first (the gateway's sx_ready refuses every new exchange while it is
 * unhealthy, so no append would ever come).
 *
 * The lock case holds the lock past the 10-s busy timeout: this file takes
 * ~11 s more than it would without it. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "store/logverify.h"
#include "store/msglog.h"

#define CLIENT "central-server/GOV/70000050/household-register"
#define SERVICE "central-server/GOV/70000005/population/getPerson/v1"

#include "msglog_test.h"

/* ------------------------------------------------------- the fault VFS */

enum { F_WAL_WRITE = 1, F_WAL_SYNC = 2, F_DB_WRITE = 4, F_DB_SYNC = 8 };
enum { K_OTHER, K_DB, K_WAL };

static atomic_int fault_mask;
static atomic_int fault_rc;
static atomic_int fault_hits;
static atomic_int slow_sync_ms;   /* every WAL sync takes this much longer (a slow disk) */

static int fault_now(void)
{
	atomic_fetch_add(&fault_hits, 1);
	return 1;
}

static sqlite3_vfs *fparent;

struct ffile {
	sqlite3_file base;
	sqlite3_file *real;
	int kind;
};

#define FF_SIZE ((sizeof(struct ffile) + 7) & ~(size_t)7)

static sqlite3_file *R(sqlite3_file *f)
{
	return ((struct ffile *)f)->real;
}

static int kind_of(sqlite3_file *f)
{
	return ((struct ffile *)f)->kind;
}

static int ff_close(sqlite3_file *f)
{
	return R(f)->pMethods->xClose(R(f));
}

static int ff_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return R(f)->pMethods->xRead(R(f), p, n, off);
}

static int ff_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	int m = atomic_load(&fault_mask), rc = atomic_load(&fault_rc);

	if (((kind_of(f) == K_WAL && (m & F_WAL_WRITE)) || (kind_of(f) == K_DB && (m & F_DB_WRITE))) &&
	    fault_now()) {
		/* A full disk: part of the write lands, the rest does not. */
		if (rc == SQLITE_FULL && n > 1)
			(void)R(f)->pMethods->xWrite(R(f), p, n / 2, off);
		return rc;
	}
	return R(f)->pMethods->xWrite(R(f), p, n, off);
}

static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return R(f)->pMethods->xTruncate(R(f), size);
}

static int ff_sync(sqlite3_file *f, int flags)
{
	int m = atomic_load(&fault_mask);

	if (((kind_of(f) == K_WAL && (m & F_WAL_SYNC)) || (kind_of(f) == K_DB && (m & F_DB_SYNC))) &&
	    fault_now()) {
		return atomic_load(&fault_rc);   /* the data is written, not synced */
	}
	if (kind_of(f) == K_WAL && atomic_load(&slow_sync_ms) > 0) {
		int ms = atomic_load(&slow_sync_ms);
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return R(f)->pMethods->xSync(R(f), flags);
}

static int ff_size(sqlite3_file *f, sqlite3_int64 *out)
{
	return R(f)->pMethods->xFileSize(R(f), out);
}

static int ff_lock(sqlite3_file *f, int l)
{
	return R(f)->pMethods->xLock(R(f), l);
}

static int ff_unlock(sqlite3_file *f, int l)
{
	return R(f)->pMethods->xUnlock(R(f), l);
}

static int ff_reserved(sqlite3_file *f, int *out)
{
	return R(f)->pMethods->xCheckReservedLock(R(f), out);
}

static int ff_fcntl(sqlite3_file *f, int op, void *arg)
{
	return R(f)->pMethods->xFileControl(R(f), op, arg);
}

static int ff_sector(sqlite3_file *f)
{
	return R(f)->pMethods->xSectorSize(R(f));
}

static int ff_devchar(sqlite3_file *f)
{
	return R(f)->pMethods->xDeviceCharacteristics(R(f));
}

static int ff_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return R(f)->pMethods->xShmMap(R(f), pg, sz, ext, pp);
}

static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return R(f)->pMethods->xShmLock(R(f), off, n, flags);
}

static void ff_shm_barrier(sqlite3_file *f)
{
	R(f)->pMethods->xShmBarrier(R(f));
}

static int ff_shm_unmap(sqlite3_file *f, int del)
{
	return R(f)->pMethods->xShmUnmap(R(f), del);
}

static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	*pp = NULL;
	return R(f)->pMethods->iVersion >= 3 ? R(f)->pMethods->xFetch(R(f), off, amt, pp) : SQLITE_OK;
}

static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return R(f)->pMethods->iVersion >= 3 ? R(f)->pMethods->xUnfetch(R(f), off, p) : SQLITE_OK;
}

static const sqlite3_io_methods ff_io = {
	3, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock, ff_reserved,
	ff_fcntl, ff_sector, ff_devchar, ff_shm_map, ff_shm_lock, ff_shm_barrier, ff_shm_unmap, ff_fetch,
	ff_unfetch,
};

static int ff_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags, int *out)
{
	struct ffile *f = (struct ffile *)file;
	int rc;

	(void)v;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)((char *)f + FF_SIZE);
	f->kind = (flags & SQLITE_OPEN_WAL) ? K_WAL : (flags & SQLITE_OPEN_MAIN_DB) ? K_DB : K_OTHER;
	rc = fparent->xOpen(fparent, name, f->real, flags, out);
	if (rc != SQLITE_OK) {
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc;
	}
	f->base.pMethods = &ff_io;
	return SQLITE_OK;
}

static int ff_delete(sqlite3_vfs *v, const char *n, int s) { return fparent->xDelete(fparent, n, s); }
static int ff_access(sqlite3_vfs *v, const char *n, int fl, int *o) { return fparent->xAccess(fparent, n, fl, o); }
static int ff_fullpath(sqlite3_vfs *v, const char *n, int l, char *o) { return fparent->xFullPathname(fparent, n, l, o); }
static void *ff_dlopen(sqlite3_vfs *v, const char *n) { return fparent->xDlOpen(fparent, n); }
static void ff_dlerror(sqlite3_vfs *v, int n, char *m) { fparent->xDlError(fparent, n, m); }
static void (*ff_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { return fparent->xDlSym(fparent, h, s); }
static void ff_dlclose(sqlite3_vfs *v, void *h) { fparent->xDlClose(fparent, h); }
static int ff_random(sqlite3_vfs *v, int n, char *o) { return fparent->xRandomness(fparent, n, o); }
static int ff_sleep(sqlite3_vfs *v, int us) { return fparent->xSleep(fparent, us); }
static int ff_time(sqlite3_vfs *v, double *o) { return fparent->xCurrentTime(fparent, o); }
static int ff_lasterr(sqlite3_vfs *v, int n, char *o) { return fparent->xGetLastError(fparent, n, o); }
static int ff_time64(sqlite3_vfs *v, sqlite3_int64 *o) { return fparent->xCurrentTimeInt64(fparent, o); }

static sqlite3_vfs ff_vfs;

static int fault_vfs_register(void)
{
	fparent = sqlite3_vfs_find(NULL);
	if (!fparent)
		return -1;
	ff_vfs = (sqlite3_vfs){
		.iVersion = 2, .szOsFile = (int)(FF_SIZE + (size_t)fparent->szOsFile),
		.mxPathname = fparent->mxPathname, .zName = "faultvfs", .xOpen = ff_open,
		.xDelete = ff_delete, .xAccess = ff_access, .xFullPathname = ff_fullpath,
		.xDlOpen = ff_dlopen, .xDlError = ff_dlerror, .xDlSym = ff_dlsym, .xDlClose = ff_dlclose,
		.xRandomness = ff_random, .xSleep = ff_sleep, .xCurrentTime = ff_time,
		.xGetLastError = ff_lasterr, .xCurrentTimeInt64 = ff_time64,
	};
	return sqlite3_vfs_register(&ff_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static void fault_set(int mask, int rc)
{
	atomic_store(&fault_rc, rc);
	atomic_store(&fault_hits, 0);
	atomic_store(&fault_mask, mask);
}

static void fault_clear(void)
{
	atomic_store(&fault_mask, 0);
}

/* ---------------------------------------------------------- environment */

static struct {
	char dir[256];
	char pki[320];
	char url[64];
	char tsa_cert[400], trust[400];
	pid_t srv;
	int ntmp;
} E;

static void newdb(char *out, size_t n)
{
	char d[300];

	snprintf(d, sizeof(d), "%s/t%d", E.dir, ++E.ntmp);
	mkdir(d, 0700);
	snprintf(out, n, "%s/msglog.db", d);
}

static void cfg_init(struct msglog_config *c, const char *db, int with_tsa)
{
	msglog_config_defaults(c);
	c->path = db;
	c->group_wait_ms = 30;   /* records appended together form one group */
	if (with_tsa) {
		ml_tsa_cfg(c, E.url, E.tsa_cert, E.trust);
		c->ts_retry_max_ms = 100000;
	}
}

/* n records appended at once (one group), the callbacks' results. */
struct groupres {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int done, ok, db_err, other;
	int64_t ids[16];
	char errmsg[200];
};

static void group_cb(const struct msglog_result *res, void *arg)
{
	struct groupres *g = arg;

	pthread_mutex_lock(&g->mu);
	if (res->status == MSGLOG_OK)
		g->ok++;
	else if (res->status == MSGLOG_ERR_DB)
		g->db_err++;
	else
		g->other++;
	if (g->done < 16)
		g->ids[g->done] = res->id;
	if (res->status != MSGLOG_OK && !g->errmsg[0])
		snprintf(g->errmsg, sizeof(g->errmsg), "%s", res->errmsg);
	g->done++;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

static void append_group(struct msglog *log, int from, int n, struct groupres *g)
{
	struct ml_recbuf b[16];
	int i;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cond, NULL);
	assert_true(n <= 16);
	for (i = 0; i < n; i++) {
		struct msglog_rec r;
		char *err = NULL;

		ml_make_rec(&r, &b[i], from + i);
		if (msglog_append(log, &r, group_cb, g, NULL, &err) < 0)
			fail_msg("append refused: %s", err ? err : "?");
	}
	pthread_mutex_lock(&g->mu);
	while (g->done < n)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* The file verifies as one chain; stamps checked when want_stamped. */
static void assert_verifies(const char *db, int64_t records, int want_stamped)
{
	struct logverify_opts o = { .tsa_ca_pem = want_stamped ? E.trust : NULL,
				    .tsa_cert_pem = want_stamped ? E.tsa_cert : NULL,
				    .require_stamped = want_stamped };
	struct logverify_result res;
	int rc = logverify_run(&db, 1, &o, NULL, &res);

	if (rc != 0)
		fail_msg("verify: %s at %lld: %s", logverify_problem_name(res.problem), (long long)res.bad_id,
			 res.detail);
	assert_int_equal(res.records, records);
}

static int healthy(struct msglog *log, char *why, size_t n)
{
	return msglog_is_healthy(log, why, n);
}

/* ------------------------------------------------------------ the cases */

struct fcase {
	const char *name;
	int mask, rc;
};

static const struct fcase WAL_FAULTS[] = {
	{ "WAL write: SQLITE_IOERR_WRITE", F_WAL_WRITE, SQLITE_IOERR_WRITE },
	{ "WAL write: short, SQLITE_FULL", F_WAL_WRITE, SQLITE_FULL },
	{ "WAL fsync: SQLITE_IOERR_FSYNC", F_WAL_SYNC, SQLITE_IOERR_FSYNC },
};

/* A group whose commit fails: every record's callback says so, nothing of
 * it is in the database, and the next group continues the chain from the
 * last committed record, with the next id. Three times in one log. */
static void test_commit_failure_rolls_back(void **state)
{
	char db[320], why[300];
	struct msglog_config c;
	struct msglog *log;
	struct groupres g;
	size_t k;
	int64_t last = 0;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 3, 0, 0), 3);
	last = 3;
	for (k = 0; k < sizeof(WAL_FAULTS) / sizeof(WAL_FAULTS[0]); k++) {
		print_message("case: %s\n", WAL_FAULTS[k].name);
		fault_set(WAL_FAULTS[k].mask, WAL_FAULTS[k].rc);
		append_group(log, 100 + (int)k * 10, 5, &g);
		fault_clear();
		assert_true(atomic_load(&fault_hits) > 0);
		assert_int_equal(g.ok, 0);
		assert_int_equal(g.db_err, 5);
		assert_true(g.errmsg[0] != 0);
		print_message("  callbacks: %d x MSGLOG_ERR_DB: %s\n", g.db_err, g.errmsg);
		assert_int_equal(healthy(log, why, sizeof(why)), 0);
		print_message("  health: %s\n", why);
		/* Nothing of the failed group is there, seen from another connection. */
		assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), last);
		assert_int_equal(ml_count_rows(db, "SELECT MAX(id) FROM records"), last);
		/* The next group continues with the next id. */
		append_group(log, 200 + (int)k * 10, 4, &g);
		assert_int_equal(g.ok, 4);
		for (i = 0; i < 4; i++)
			assert_true(g.ids[i] > last && g.ids[i] <= last + 4);
		last += 4;
		assert_int_equal(healthy(log, why, sizeof(why)), 1);
		assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), last);
	}
	msglog_close(log);
	assert_verifies(db, last, 0);
	/* And a new open continues it. */
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 300, 2, 0, 0), last + 2);
	msglog_close(log);
	assert_verifies(db, last + 2, 0);
}

/* A slow disk: the commits' times reach msglog_get_stats and, above
 * slow_ms, msglog_commit_health's warning (the gateway's /health check
 * msglog_commits); the commits of a healthy disk do not warn. */
static void test_slow_commits_reported(void **state)
{
	char db[320], detail[700];
	struct msglog_config c;
	struct msglog_stats st;
	struct msglog *log;
	struct groupres g;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	msglog_get_stats(log, &st);
	assert_int_equal(msglog_commit_health(&st, 1000, detail, sizeof(detail)), 0);
	print_message("before any commit: %s\n", detail);
	assert_non_null(strstr(detail, "no commit"));

	append_group(log, 1, 4, &g);
	assert_int_equal(g.ok, 4);
	msglog_get_stats(log, &st);
	assert_true(st.recent_commits >= 1 && st.recent_commits == st.commits);
	assert_int_equal(st.recent_records, 4);
	assert_true(st.recent_commit_us_avg <= st.recent_commit_us_max);
	assert_int_equal(msglog_commit_health(&st, 1000, detail, sizeof(detail)), 0);
	print_message("healthy disk: %s\n", detail);
	assert_null(strstr(detail, "slow"));

	atomic_store(&slow_sync_ms, 1200);
	append_group(log, 10, 3, &g);
	atomic_store(&slow_sync_ms, 0);
	assert_int_equal(g.ok, 3);
	msglog_get_stats(log, &st);
	assert_int_equal(st.recent_records, 7);
	assert_true(st.recent_commit_us_max >= 1200000);
	assert_int_equal(msglog_commit_health(&st, 1000, detail, sizeof(detail)), 1);
	print_message("slow disk: %s\n", detail);
	assert_non_null(strstr(detail, "slow commits"));
	assert_non_null(strstr(detail, "the longest "));
	/* 0 never warns; a limit above the slowest does not either. */
	assert_int_equal(msglog_commit_health(&st, 0, detail, sizeof(detail)), 0);
	assert_int_equal(msglog_commit_health(&st, 60000, detail, sizeof(detail)), 0);
	msglog_close(log);
	assert_verifies(db, 7, 0);
}

/* The storage fails once and works again. The log must say it is healthy
 * again without an append first: the gateway's sx_ready (core/sx.c) refuses
 * every new exchange while msglog_is_healthy() is 0, before it appends
 * anything, so a log that clears its failure only at the next successful
 * commit stays unhealthy - and the gateway refuses everything - until a
 * restart, once the exchanges that were in flight have ended. */
static void test_health_recovers_without_traffic(void **state)
{
	char db[320], why[300];
	struct msglog_config c;
	struct msglog *log;
	struct groupres g;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, 0, 0), 2);
	fault_set(F_WAL_WRITE, SQLITE_FULL);
	append_group(log, 10, 2, &g);
	assert_int_equal(g.db_err, 2);
	assert_int_equal(healthy(log, why, sizeof(why)), 0);
	/* While the disk stays full the log stays unhealthy. */
	sleep_ms(2500);
	assert_int_equal(healthy(log, why, sizeof(why)), 0);
	fault_clear();
	/* The disk has room again; nothing is appended (the gateway refuses). */
	for (i = 0; i < 100 && !healthy(log, why, sizeof(why)); i++)
		sleep_ms(100);
	if (!healthy(log, why, sizeof(why))) {
		msglog_close(log);
		fail_msg("10 s after the storage works again the log still reports: %s", why);
	}
	msglog_close(log);
}

/* The WAL file removed under the open log (an operator "cleaning up"
 * *-wal files): what was committed reaches the database by the next
 * housekeeping's checkpoint, the log turns unhealthy with a reason that
 * names the file and says what to do (the gateway refuses new exchanges),
 * and after a restart everything is there and verifies. */
static void test_wal_removed(void **state)
{
	char db[320], wal[340], why[400];
	struct msglog_config c;
	struct msglog *log;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, 0, 0), 4);
	sleep_ms(300);   /* housekeeping has seen the WAL */
	assert_int_equal(healthy(log, why, sizeof(why)), 1);
	assert_int_equal(unlink(wal), 0);
	assert_int_equal(ml_append_n(log, 10, 4, 0, 0), 8);   /* into the removed file */
	for (i = 0; i < 50 && healthy(log, why, sizeof(why)); i++)
		sleep_ms(100);
	assert_int_equal(healthy(log, why, sizeof(why)), 0);
	print_message("reason: %s\n", why);
	assert_non_null(strstr(why, wal));
	assert_non_null(strstr(why, "restart"));
	msglog_close(log);
	assert_int_equal(ml_count_rows(db, "SELECT count(*) FROM records"), 8);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(healthy(log, why, sizeof(why)), 1);
	assert_int_equal(ml_append_n(log, 20, 2, 0, 0), 10);
	msglog_close(log);
	assert_verifies(db, 10, 0);
}

/* Checkpoints fail (the database file cannot be written or synced): the
 * writer's commits go on in the WAL, answers are not held up, nothing is
 * reported as a commit failure; once the file can be written the WAL is
 * checkpointed and everything is there. */
static void test_checkpoint_failure(void **state)
{
	char db[320], why[300];
	struct msglog_config c;
	struct msglog *log;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, 0, 0), 2);
	fault_set(F_DB_WRITE | F_DB_SYNC, SQLITE_FULL);
	for (i = 0; i < 20; i++) {
		assert_int_equal(ml_append_n(log, 10 + i * 5, 5, 0, 0), 2 + (i + 1) * 5);
		sleep_ms(20);   /* the stamper's housekeeping every 100 ms */
	}
	print_message("checkpoint writes refused: %d\n", atomic_load(&fault_hits));
	assert_true(atomic_load(&fault_hits) > 0);
	assert_int_equal(healthy(log, why, sizeof(why)), 1);
	fault_clear();
	assert_int_equal(ml_append_n(log, 500, 3, 0, 0), 105);
	sleep_ms(300);
	msglog_close(log);
	assert_verifies(db, 105, 0);
}

/* A stamp whose token came but whose row cannot be stored: counted as a
 * stamping failure, the records stay unstamped (health fails only after
 * ts_max_unstamped_ms), appends go on, the next turn stamps them all. */
static void test_stamp_store_failure(void **state)
{
	char db[320], why[300];
	struct msglog_config c;
	struct msglog *log;
	struct msglog_stats st;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 1);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 4, 0, 0), 4);
	fault_set(F_WAL_WRITE, SQLITE_IOERR_WRITE);
	msglog_stamp_now(log);
	for (i = 0; i < 500; i++) {
		msglog_get_stats(log, &st);
		if (st.stamp_failures > 0)
			break;
		sleep_ms(10);
	}
	fault_clear();
	assert_true(st.stamp_failures > 0);
	assert_int_equal(st.stamps, 0);
	assert_int_equal(msglog_unstamped(log), 4);
	assert_int_equal(healthy(log, why, sizeof(why)), 1);
	assert_int_equal(ml_append_n(log, 10, 2, 0, 0), 6);
	msglog_stamp_now(log);
	for (i = 0; i < 500 && msglog_unstamped(log) > 0; i++)
		sleep_ms(10);
	assert_int_equal(msglog_unstamped(log), 0);
	msglog_close(log);
	assert_verifies(db, 6, 1);
}

/* The process dies right after a commit whose fsync failed (its frames
 * are in the WAL file, the WAL index was not updated). The next open must
 * find a chain that verifies and go on from it; records whose callbacks
 * said MSGLOG_ERR_DB may or may not be there (never half of a group). */
static void test_crash_after_failed_fsync(void **state)
{
	char db[320];
	struct msglog_config c;
	struct msglog *log;
	int64_t n;
	pid_t pid;
	int status = 0;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	pid = fork();
	if (pid == 0) {
		struct groupres g;

		if (!(log = ml_open(&c)) || ml_append_n(log, 1, 3, 0, 0) != 3)
			_exit(2);
		fault_set(F_WAL_SYNC, SQLITE_IOERR_FSYNC);
		append_group(log, 10, 4, &g);
		_exit(g.db_err == 4 ? 0 : 3);   /* no close: a crash */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	n = ml_count_rows(db, "SELECT COUNT(*) FROM records");
	print_message("after the crash: %lld records (3 committed, 4 failed at fsync)\n", (long long)n);
	assert_true(n == 3 || n == 7);
	assert_verifies(db, n, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 50, 2, 0, 0), n + 2);
	msglog_close(log);
	assert_verifies(db, n + 2, 0);
}

/* Another process holds the write lock past the busy timeout (10 s): the
 * group fails with a clear error, and once the lock is gone the log works
 * and reports itself healthy. */
static void test_lock_past_busy_timeout(void **state)
{
	char db[320], why[300];
	struct msglog_config c;
	struct msglog *log;
	struct groupres g;
	sqlite3 *h = NULL;
	int i;

	(void)state;
	newdb(db, sizeof(db));
	cfg_init(&c, db, 0);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(ml_append_n(log, 1, 2, 0, 0), 2);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	append_group(log, 10, 3, &g);
	assert_int_equal(g.db_err, 3);
	print_message("locked: %s\n", g.errmsg);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(h);
	for (i = 0; i < 50 && !healthy(log, why, sizeof(why)); i++)
		sleep_ms(100);
	print_message("5 s after the lock is gone: %s\n", healthy(log, why, sizeof(why)) ? "healthy" : why);
	assert_int_equal(healthy(log, why, sizeof(why)), 1);
	assert_int_equal(ml_append_n(log, 20, 2, 0, 0), 4);
	msglog_close(log);
	assert_verifies(db, 4, 0);
}

/* ---------------------------------------------------------------- main */

static int group_setup(void **state)
{
	char pf[320], tsa_dir[400], down[320];
	int port = 0;

	(void)state;
	if (fault_vfs_register() < 0)
		return -1;
	snprintf(E.dir, sizeof(E.dir), "/tmp/test_msglog_fail.XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	if (evthread_use_pthreads() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	snprintf(E.pki, sizeof(E.pki), "%s/pki", E.dir);
	snprintf(pf, sizeof(pf), "%s/tsa-port", E.dir);
	snprintf(down, sizeof(down), "%s/tsa-down", E.dir);
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", E.pki);
	snprintf(E.tsa_cert, sizeof(E.tsa_cert), "%s/tsa/tsa.pem", E.pki);
	snprintf(E.trust, sizeof(E.trust), "%s/ca/trust.pem", E.pki);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/70000050 --clients '' "
	       ">/dev/null 2>&1", srcdir(), E.pki) != 0 ||
	    (E.srv = start_tsa(tsa_dir, pf, down, &port)) < 0) {
		print_message("no TSA (certs/mkpki.sh or tests/integration/tsa_server.py failed): the "
			      "stamping cases cannot run\n");
		return -1;
	}
	snprintf(E.url, sizeof(E.url), "http://127.0.0.1:%d/", port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	stop_tsa(E.srv);
	curl_global_cleanup();
	if (*E.dir)
		sh("rm -rf '%s'", E.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_failure_rolls_back),
		cmocka_unit_test(test_checkpoint_failure),
		cmocka_unit_test(test_crash_after_failed_fsync),
		cmocka_unit_test(test_stamp_store_failure),
		cmocka_unit_test(test_lock_past_busy_timeout),
		cmocka_unit_test(test_health_recovers_without_traffic),
		cmocka_unit_test(test_slow_commits_reported),
		cmocka_unit_test(test_wal_removed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
