/* msglog_stamp: batch time stamps, the stamper thread, archiving.
 *
 * A batch is every committed record not yet stamped; its root is the chain
 * hash of its last record, which binds every record before it, so one
 * RFC 3161 token per batch fixes them all in time (README.md, "Batch time
 * stamps"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "store/logverify.h"
#include "store/msglog_int.h"

/* ---------------------------------------------------------- stamping */

/* s: the batch just stored, NULL when there was nothing to stamp. */
static void health_stamped(struct msglog *log, int64_t last_id, int64_t t0, const struct msglog_stamp *s)
{
	int64_t now = msglog_mono_ms(), id = 0, time_ms = 0;
	unsigned char hash[MSGLOG_HASH_LEN];

	pthread_mutex_lock(&log->hmu);
	log->n_stamps += s != NULL;
	if (last_id > log->stamped_last)
		log->stamped_last = last_id;
	if (s) {
		log->anchor_id = s->last_id;
		memcpy(log->anchor_hash, s->root, MSGLOG_HASH_LEN);
		log->anchor_time_ms = s->time_ms;
		if (log->cfg.anchor_note && log->cfg.anchor_interval_ms &&
		    (!log->anchor_noted_ms || now - log->anchor_noted_ms >= (int64_t)log->cfg.anchor_interval_ms)) {
			log->anchor_noted_ms = now;
			id = s->last_id;
			memcpy(hash, s->root, MSGLOG_HASH_LEN);
			time_ms = s->time_ms;
		}
	}
	log->ts_err[0] = 0;
	/* What the writer committed after our snapshot has waited since t0 at most. */
	log->unstamped_since = log->committed_last > log->stamped_last ? t0 : 0;
	pthread_mutex_unlock(&log->hmu);
	if (id)
		log->cfg.anchor_note(log->cfg.anchor_note_arg, id, hash, time_ms);
}

static void health_ts_failed(struct msglog *log, const char *why)
{
	pthread_mutex_lock(&log->hmu);
	log->n_stamp_fail++;
	snprintf(log->ts_err, sizeof(log->ts_err), "%s", why ? why : "unknown");
	pthread_mutex_unlock(&log->hmu);
}

static int store_stamp(struct msglog *log, void *conn, const struct msglog_stamp *s, char **err)
{
	if (log->ops->begin(conn, err) < 0)
		return -1;
	if (log->ops->insert_stamp(conn, s, err) < 0 || log->ops->commit(conn, err) < 0) {
		log->ops->rollback(conn);
		return -1;
	}
	return 0;
}

int msglog_stamp_pending(struct msglog *log, void *conn, char **err)
{
	struct msglog_chain_state st;
	struct msglog_stamp s = { 0 };
	unsigned char *der = NULL;
	int64_t t0 = msglog_mono_ms(), newest;
	int rc = -1;

	if (!log->tsa)
		return 0;
	pthread_mutex_lock(&log->stamp_mu);
	if (log->ops->state(conn, &st, err) < 0)
		goto out;
	if (st.last_id <= st.last_stamped_id) {
		health_stamped(log, st.last_id, t0, NULL);
		rc = 0;
		goto out;
	}
	pthread_mutex_lock(&log->hmu);
	newest = log->newest_time_ms;
	pthread_mutex_unlock(&log->hmu);
	if (tsa_stamp(log->tsa, st.last_hash, MSGLOG_HASH_LEN, &der, &s.token_len, &s.time_ms,
		      err) < 0)
		goto out;
	/* What log verify would refuse is not stored: the records wait (and the
	 * gateway fails closed after ts_max_unstamped_ms) with the reason. */
	if (s.time_ms + MSGLOG_CLOCK_SKEW_MS < newest) {
		msglog_set_err(err, "the TSA's time is %lld s behind this gateway's newest record: this "
			       "gateway's clock is ahead (a token more than %d s behind its records does not "
			       "verify); set the clock right (NTP) - records wait for a stamp meanwhile",
			       (long long)((newest - s.time_ms) / 1000), MSGLOG_CLOCK_SKEW_MS / 1000);
		goto out;
	}
	s.first_id = st.last_stamped_id + 1;
	s.last_id = st.last_id;
	memcpy(s.root, st.last_hash, MSGLOG_HASH_LEN);
	s.token = der;
	if (store_stamp(log, conn, &s, err) < 0)
		goto out;
	health_stamped(log, st.last_id, t0, &s);
	rc = 0;
out:
	if (rc < 0)
		health_ts_failed(log, err ? *err : NULL);
	pthread_mutex_unlock(&log->stamp_mu);
	free(der);
	return rc;
}

/* ------------------------------------------------------ stamper thread */

static long archive_files(struct msglog *log, int64_t before_ms, const char *dir, unsigned max_files,
			  char **path_out, char **err);

static void run_retention(struct msglog *log)
{
	int64_t now = msglog_now_ms();
	char *e = NULL, *path = NULL;
	long n;

	if (!log->archive_dir || !log->cfg.retention_days || now < log->next_archive_ms)
		return;
	/* One file a turn, so that time stamps and checkpoints go on between
	 * files when much is due (a first run, a long stop); the next turn
	 * takes the next file. A failure is retried next interval; traffic
	 * does not depend on it. */
	n = archive_files(log, now - (int64_t)log->cfg.retention_days * 86400000, log->archive_dir, 1,
			  &path, &e);
	log->next_archive_ms = n > 0 ? now : now + log->cfg.archive_interval_ms;
	pthread_mutex_lock(&log->hmu);
	if (n < 0) {
		log->n_archive_fail++;
		snprintf(log->archive_err, sizeof(log->archive_err), "%s", e ? e : "archive failed");
	} else {
		log->archive_err[0] = '\0';
	}
	pthread_mutex_unlock(&log->hmu);
	/* a failure used to be counted and nothing said: the live log grew
	 * while the operator believed retention worked */
	if (log->cfg.archive_note && (n < 0 || (n > 0 && path)))
		log->cfg.archive_note(log->cfg.archive_note_arg, n < 0, n < 0 ? (e ? e : "archive failed") : path);
	free(path);
	free(e);
}

/* Between stamps: the backend's housekeeping every MSGLOG_HOUSEKEEP_MS, when
 * the writer committed since the last one (*done_upto: the last record id it
 * covered; -1 after a stamping turn, which may have written too), so that an
 * idle log is checkpointed once a stamp interval, not ten times a second. A failure costs nothing but its purpose (the writer checkpoints by
 * itself past WRITER_CHECKPOINT_PAGES), so it is not reported; a store whose files
 * were removed under it (MSGLOG_STORE_LOST) makes the log unhealthy. */
static void housekeep(struct msglog *log, int64_t *done_upto)
{
	char *e = NULL;
	int64_t last;
	int rc;

	pthread_mutex_lock(&log->hmu);
	last = log->committed_last;
	pthread_mutex_unlock(&log->hmu);
	if (!log->ops->housekeep || last == *done_upto)
		return;
	rc = log->ops->housekeep(log->sconn, &e);
	if (rc == 0) {
		*done_upto = last;
	} else if (rc == MSGLOG_STORE_LOST) {
		pthread_mutex_lock(&log->hmu);
		if (!log->store_lost) {
			log->store_lost = 1;
			snprintf(log->store_err, sizeof(log->store_err), "%s", e ? e : "message log files removed");
		}
		pthread_mutex_unlock(&log->hmu);
	}
	free(e);
}

static void *stamper_main(void *arg)
{
	struct msglog *log = arg;
	int64_t backoff = 0, next = msglog_mono_ms() + log->cfg.ts_interval_ms;
	int64_t hk = msglog_mono_ms() + MSGLOG_HOUSEKEEP_MS, hk_upto = -1;

	pthread_mutex_lock(&log->smu);
	while (!log->sstop) {
		int64_t wake = log->ops->housekeep && hk < next ? hk : next;

		while (!log->sstop && !log->kick && msglog_mono_ms() < wake)
			msglog_cond_wait_until(&log->scond, &log->smu, wake);
		if (log->sstop)
			break;
		if (!log->kick && msglog_mono_ms() < next) {
			pthread_mutex_unlock(&log->smu);
			housekeep(log, &hk_upto);
			hk = msglog_mono_ms() + MSGLOG_HOUSEKEEP_MS;
			pthread_mutex_lock(&log->smu);
			continue;
		}
		log->kick = 0;
		pthread_mutex_unlock(&log->smu);
		if (log->tsa) {
			char *e = NULL;

			if (msglog_stamp_pending(log, log->sconn, &e) == 0) {
				backoff = 0;
			} else {
				backoff = backoff ? backoff * 2 : log->cfg.ts_interval_ms;
				if (backoff > log->cfg.ts_retry_max_ms)
					backoff = log->cfg.ts_retry_max_ms;
			}
			free(e);
		}
		next = msglog_mono_ms() + (backoff ? backoff : log->cfg.ts_interval_ms);
		run_retention(log);
		hk_upto = -1;   /* stamps and archiving wrote too */
		pthread_mutex_lock(&log->smu);
	}
	pthread_mutex_unlock(&log->smu);
	return NULL;
}

int msglog_stamper_start(struct msglog *log, char **err)
{
	if (!log->tsa && !(log->archive_dir && log->cfg.retention_days) && !log->ops->housekeep)
		return 0;
	if (log->ops->open(log->path, 0, &log->sconn, err) < 0)
		return -1;
	if (pthread_create(&log->stamper, NULL, stamper_main, log)) {
		msglog_set_err(err, "message log: cannot start the stamper thread");
		return -1;
	}
	pthread_setname_np(log->stamper, "ag-stamper");
	log->have_stamper = 1;
	return 0;
}

void msglog_stamper_stop(struct msglog *log)
{
	if (!log->have_stamper)
		return;
	pthread_mutex_lock(&log->smu);
	log->sstop = 1;
	pthread_cond_signal(&log->scond);
	pthread_mutex_unlock(&log->smu);
	pthread_join(log->stamper, NULL);
	log->have_stamper = 0;
}

/* ------------------------------------------------------------ archiving */

struct cutfind {
	int64_t young;      /* first record too young to archive; 0: none */
	int64_t last;       /* end of the last whole batch before it */
	int64_t expect;     /* batches must follow each other */
	int64_t limit;      /* no batch past this id, unless it is the first */
};

static int find_cut(const struct msglog_stamp *s, void *arg)
{
	struct cutfind *c = arg;

	if (s->first_id != c->expect || (c->young && s->last_id >= c->young) ||
	    (c->last && s->last_id > c->limit))
		return 1;
	c->last = s->last_id;
	c->expect = s->last_id + 1;
	return 0;
}

struct copyctx {
	const struct msglog_backend_ops *ops;
	void *dst;
	int64_t upto;
	long n;
	unsigned char last_hash[MSGLOG_HASH_LEN];
	char **err;
};

static int copy_row(const struct msglog_row *r, void *arg)
{
	struct copyctx *c = arg;
	char why[256];

	/* Only a record that is whole - what the verifier checks of a record
	 * alone: its own hash, its body's digest, its fields - goes into an
	 * archive (and then out of the live log): one read back wrong -
	 * damaged on disk, a packed frame that no longer gives its bytes, a
	 * body_len that is not its body's - stops the run with its id and
	 * nothing is cut, instead of being copied away for good. */
	if (logverify_row_problem(r, why, sizeof(why)) != LOGVERIFY_OK) {
		msglog_set_err(c->err, "message log: record %lld is not archived, nothing cut: %s (ailgate log "
			       "verify names what is wrong)", (long long)r->id, why);
		return -1;
	}
	if (c->ops->insert(c->dst, r, c->err) < 0)
		return -1;
	memcpy(c->last_hash, r->hash, MSGLOG_HASH_LEN);
	c->n++;
	return 0;
}

static int copy_stamp(const struct msglog_stamp *s, void *arg)
{
	struct copyctx *c = arg;

	if (s->last_id > c->upto)
		return 0;
	return msglog_sqlite_ops.insert_stamp(c->dst, s, c->err) < 0 ? -1 : 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes records [st->first_id, upto] and their stamps into tmp (a new
 * SQLite archive). Returns the record count, -1 on error. */
static long write_archive(struct msglog *log, void *src, const struct msglog_chain_state *st,
			  int64_t upto, const char *tmp, unsigned char last_hash[MSGLOG_HASH_LEN],
			  char **err)
{
	const struct msglog_backend_ops *aops = &msglog_sqlite_ops;
	struct msglog_filter f = { .from_id = st->first_id, .to_id = upto, .with_body = 1 };
	struct copyctx c = { aops, NULL, upto, 0, { 0 }, err };
	long rc = -1;

	unlink(tmp);
	if (aops->open(tmp, MSGLOG_OPEN_ARCHIVE | (log->cfg.pack ? MSGLOG_OPEN_PACK : 0), &c.dst, err) < 0)
		return -1;
	if (aops->begin(c.dst, err) < 0)
		goto out;
	if (aops->set_base(c.dst, st->base_id, st->base_hash, err) < 0 ||
	    log->ops->iterate(src, &f, copy_row, &c, err) != 0 ||
	    log->ops->iterate_stamps(src, st->first_id, upto, 1, copy_stamp, &c, err) != 0 ||
	    aops->commit(c.dst, err) < 0) {
		aops->rollback(c.dst);
		goto out;
	}
	memcpy(last_hash, c.last_hash, MSGLOG_HASH_LEN);
	rc = c.n;
out:
	aops->close(c.dst);
	if (rc >= 0 && fsync_path(tmp) < 0) {
		msglog_set_err(err, "message log: fsync %s: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Finds the end of the last whole stamped batch older than before_ms that
 * keeps the file within cfg.archive_chunk records (at least one batch). */
static int archive_cut(struct msglog *log, void *src, const struct msglog_chain_state *st,
		       int64_t before_ms, int64_t *upto, char **err)
{
	struct cutfind c = { 0, 0, st->base_id + 1, st->base_id + (int64_t)log->cfg.archive_chunk };

	*upto = 0;
	if (!st->first_id)
		return 0;
	if (log->ops->first_id_since(src, before_ms, &c.young, err) < 0 ||
	    log->ops->iterate_stamps(src, 0, 0, 0, find_cut, &c, err) < 0)
		return -1;
	*upto = c.last;
	return 0;
}

static int rename_in(const char *tmp, const char *path, const char *dir, char **err)
{
	if (rename(tmp, path) < 0 || fsync_path(dir) < 0) {
		msglog_set_err(err, "message log: archive %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int msglog_archive_name(const char *name, long long *first, long long *last)
{
	int used = 0;

	return sscanf(name, "msglog-%lld-%lld.db%n", first, last, &used) == 2 && used > 0 && name[used] == '\0';
}

/* An archive file in dir that starts at first: one a run renamed into
 * place but could not cut from the live log (a crash, a failed delete).
 * 1 with its last id in *end, 0 when there is none. */
static int leftover_file(const char *dir, int64_t first, int64_t *end)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		long long a, b;

		if (msglog_archive_name(e->d_name, &a, &b) && a == first && b >= a) {
			*end = b;
			found = 1;
		}
	}
	closedir(d);
	return found;
}

static int copy_hash(const struct msglog_row *r, void *arg)
{
	memcpy(arg, r->hash, MSGLOG_HASH_LEN);
	return 0;
}

/* A leftover file's records, read one by one: each must be whole (what the
 * verifier checks of a record alone: logverify_row_problem, packed frames
 * included) and link to the one before, from the file's base on, ids
 * contiguous. The first failure is said in why. */
struct leftcheck {
	int64_t base, expect;
	unsigned char prev[MSGLOG_HASH_LEN];
	char why[256];
};

static int left_row(const struct msglog_row *r, void *arg)
{
	struct leftcheck *k = arg;

	if (r->id != k->expect) {
		snprintf(k->why, sizeof(k->why), "record %lld is %s", (long long)k->expect,
			 r->id > k->expect ? "missing" : "there twice");
		return 1;
	}
	if (logverify_row_problem(r, k->why, sizeof(k->why)) != LOGVERIFY_OK)
		return 1;
	if (memcmp(r->prev_hash, k->prev, MSGLOG_HASH_LEN) != 0) {
		snprintf(k->why, sizeof(k->why), "record %lld does not link to %s %lld", (long long)r->id,
			 r->id == k->base + 1 ? "the file's base, record" : "record", (long long)(r->id - 1));
		return 1;
	}
	memcpy(k->prev, r->hash, MSGLOG_HASH_LEN);
	k->expect++;
	return 0;
}

/* The time stamps of records [first, end], folded into one digest (each
 * stamp's ids, time, root and token's SHA-256, chained), and their count. */
struct stampfold {
	int64_t end, n;
	unsigned char acc[MSGLOG_HASH_LEN];
	int all;            /* fold every stamp, not only those ending by end */
};

static int fold_stamp(const struct msglog_stamp *s, void *arg)
{
	struct stampfold *f = arg;
	unsigned char b[3 * 8 + 3 * MSGLOG_HASH_LEN], *p = b;
	int64_t v[3] = { s->first_id, s->last_id, s->time_ms };

	if (!f->all && s->last_id > f->end)
		return 0;
	memcpy(p, f->acc, MSGLOG_HASH_LEN);
	p += MSGLOG_HASH_LEN;
	for (int i = 0; i < 3; i++)
		for (int j = 7; j >= 0; j--)
			*p++ = (unsigned char)((uint64_t)v[i] >> (8 * j));
	memcpy(p, s->root, MSGLOG_HASH_LEN);
	p += MSGLOG_HASH_LEN;
	if (sha256(s->token ? s->token : (const unsigned char *)"", s->token_len, p) < 0 ||
	    sha256(b, sizeof(b), f->acc) < 0)
		return -1;
	f->n++;
	return 0;
}

/* The leftover file holds records [first, end] of the live log, whole: the
 * same base, every record whole and linked to the one before from that base
 * on (so, ending at the live record <end>'s hash, the live log's records),
 * and the live log's time stamps of those records, or it is not used
 * (README.md, "Archive and retention": nothing is cut, the run fails and
 * says why until the operator moves the file away). 0 with last_hash, or
 * -1. */
static int leftover_matches(struct msglog *log, void *src, const struct msglog_chain_state *st,
			    const char *path, int64_t end, unsigned char last_hash[MSGLOG_HASH_LEN], char **err)
{
	struct msglog_filter f = { .from_id = end, .to_id = end }, all = { .with_body = 1 };
	struct msglog_chain_state ast;
	struct stampfold lf = { end, 0, { 0 }, 0 }, af = { end, 0, { 0 }, 1 };
	struct leftcheck k = { 0, 0, { 0 }, "" };
	unsigned char live[MSGLOG_HASH_LEN] = { 0 };
	char *e = NULL;
	void *a = NULL;
	int rc;

	if (log->ops->iterate(src, &f, copy_hash, live, err) < 0 ||
	    log->ops->iterate_stamps(src, st->first_id, end, 1, fold_stamp, &lf, err) < 0)
		return -1;
	if (msglog_sqlite_ops.open(path, MSGLOG_OPEN_READONLY, &a, &e) < 0 ||
	    msglog_sqlite_ops.state(a, &ast, &e) < 0) {
		snprintf(k.why, sizeof(k.why), "it cannot be read: %s", e ? e : "?");
	} else if (ast.base_id != st->base_id || memcmp(ast.base_hash, st->base_hash, MSGLOG_HASH_LEN) != 0 ||
		   ast.first_id != st->first_id || ast.last_id != end) {
		snprintf(k.why, sizeof(k.why), "its base or first or last record differ");
	} else {
		k.base = ast.base_id;
		k.expect = ast.base_id + 1;
		memcpy(k.prev, ast.base_hash, MSGLOG_HASH_LEN);
		rc = msglog_sqlite_ops.iterate(a, &all, left_row, &k, &e);
		if (rc < 0 && !k.why[0])
			snprintf(k.why, sizeof(k.why), "it cannot be read: %s", e ? e : "?");
		else if (rc == 0 && (k.expect != end + 1 || memcmp(k.prev, live, MSGLOG_HASH_LEN) != 0))
			snprintf(k.why, sizeof(k.why), "its records end at %lld with another hash than the live "
				 "log's record %lld", (long long)(k.expect - 1), (long long)end);
		else if (rc == 0 && (msglog_sqlite_ops.iterate_stamps(a, 0, 0, 1, fold_stamp, &af, &e) < 0))
			snprintf(k.why, sizeof(k.why), "its time stamps cannot be read: %s", e ? e : "?");
		else if (rc == 0 && (af.n != lf.n || memcmp(af.acc, lf.acc, MSGLOG_HASH_LEN) != 0))
			snprintf(k.why, sizeof(k.why), "its time stamps (%lld) are not the live log's of these "
				 "records (%lld)", (long long)af.n, (long long)lf.n);
	}
	msglog_sqlite_ops.close(a);
	free(e);
	if (k.why[0]) {
		msglog_set_err(err, "message log: archive %s, left by an earlier run, is not the live log's records "
			       "%lld-%lld: %s; nothing cut. Move it away (e.g. rename it to *.bad): the next run "
			       "then archives these records again", path, (long long)st->first_id, (long long)end,
			       k.why);
		return -1;
	}
	memcpy(last_hash, live, MSGLOG_HASH_LEN);
	return 0;
}

static long archive_locked(struct msglog *log, int64_t before_ms, const char *dir,
			   char **path_out, char **err)
{
	struct msglog_chain_state st;
	unsigned char last_hash[MSGLOG_HASH_LEN];
	char *path = NULL, *tmp = NULL;
	void *src = NULL;
	int64_t upto;
	long n = -1;

	if (path_out)
		*path_out = NULL;
	if (log->ops->open(log->path, 0, &src, err) < 0)
		return -1;
	if (log->ops->state(src, &st, err) < 0)
		goto out;
	if (st.first_id && leftover_file(dir, st.first_id, &upto)) {
		if (upto > st.last_id) {
			msglog_set_err(err, "message log: archive msglog-%lld-%lld.db in %s goes past the live log's "
				       "last record %lld; move it away", (long long)st.first_id, (long long)upto, dir,
				       (long long)st.last_id);
			goto out;
		}
		/* A file renamed into place whose records were never cut: its cut
		 * now, instead of a second, overlapping file. */
		if (asprintf(&path, "%s/msglog-%lld-%lld.db", dir, (long long)st.first_id, (long long)upto) < 0) {
			msglog_set_err(err, "message log: out of memory");
			goto out;
		}
		if (leftover_matches(log, src, &st, path, upto, last_hash, err) < 0)
			goto out;
		n = (long)(upto - st.first_id + 1);
		goto cut;
	}
	if (archive_cut(log, src, &st, before_ms, &upto, err) < 0)
		goto out;
	if (upto < st.first_id || upto == 0) {
		n = 0;
		goto out;
	}
	if (asprintf(&path, "%s/msglog-%lld-%lld.db", dir, (long long)st.first_id,
		     (long long)upto) < 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
		msglog_set_err(err, "message log: out of memory");
		goto out;
	}
	if ((n = write_archive(log, src, &st, upto, tmp, last_hash, err)) < 0 ||
	    rename_in(tmp, path, dir, err) < 0)
		goto fail;
cut:
	/* Only now that the archive is on disk do the records leave the log. */
	if (log->ops->begin(src, err) < 0)
		goto fail;
	if (log->ops->cut(src, upto, last_hash, err) < 0 || log->ops->commit(src, err) < 0) {
		log->ops->rollback(src);
		goto fail;
	}
	pthread_mutex_lock(&log->hmu);
	log->n_archive_files++;
	pthread_mutex_unlock(&log->hmu);
	if (path_out) {
		*path_out = path;
		path = NULL;
	}
	goto out;
fail:
	if (tmp)
		unlink(tmp);
	n = -1;
out:
	free(path);
	free(tmp);
	log->ops->close(src);
	return n;
}

/* Up to max_files files (0: all there are). The retention run (stamper
 * thread) and an operator's call may overlap: one archiver at a time keeps
 * the cut and the file names consistent. Between two files' cuts the writer
 * gets the database: writing the next file reads the live log without
 * blocking it, and takes longer than a writer's busy wait. */
static long archive_files(struct msglog *log, int64_t before_ms, const char *dir, unsigned max_files,
			  char **path_out, char **err)
{
	long n = 0, total = 0;
	unsigned files = 0;
	char *path = NULL;

	if (path_out)
		*path_out = NULL;
	pthread_mutex_lock(&log->amu);
	while ((!max_files || files < max_files) && (n = archive_locked(log, before_ms, dir, &path, err)) > 0) {
		total += n;
		files++;
		if (path_out) {
			free(*path_out);
			*path_out = path;
		} else {
			free(path);
		}
		path = NULL;
	}
	pthread_mutex_unlock(&log->amu);
	if (n < 0 && path_out) {   /* -1: nothing to say about files */
		free(*path_out);
		*path_out = NULL;
	}
	return n < 0 ? -1 : total;
}

long msglog_archive(struct msglog *log, int64_t before_ms, const char *dir, char **path_out,
		    char **err)
{
	return archive_files(log, before_ms, dir, 0, path_out, err);
}
