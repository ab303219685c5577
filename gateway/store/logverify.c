/* logverify: offline verification of message log files (see logverify.h).
 * Export: logverify_export.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "store/logverify.h"
#include "store/msglog_int.h"
#include "store/tsa.h"

#define DEFAULT_SKEW_MS MSGLOG_CLOCK_SKEW_MS

struct vstamp {
	int64_t id, first_id, last_id, time_ms;
	unsigned char root[MSGLOG_HASH_LEN];
};

struct vstate {
	const struct logverify_opts *o;
	struct logverify_result *res;
	FILE *report;
	struct tsa_trust *trust;
	const struct msglog_backend_ops *ops;
	void *conn;
	const char *target;              /* a file, or a postgresql:// URI */
	const char *path;                /* target as shown (no password) */
	char shown[1024];
	int64_t now, skew;
	/* the chain across files */
	int64_t expect_id;
	unsigned char prev[MSGLOG_HASH_LEN], prevprev[MSGLOG_HASH_LEN];
	int have_prevprev;
	/* this file's batches */
	struct vstamp *st;
	size_t nst, si, cap;
	int64_t batch_max_time;
	int64_t last_seen;               /* last record id of this file */
	int all_stamped;                 /* this file may hold no unstamped record: 2 an
					    archive, 1 not the last file given, else 0 */
	size_t nfiles;
	/* A batch is checked once the record after it has passed its own
	 * checks: a forged last record is then named, not its batch. */
	const struct vstamp *pend;
	unsigned char pend_hash[MSGLOG_HASH_LEN];
	int anchor_seen;                 /* opts->anchor_id met with its hash */
};

static const char *const NAMES[] = {
	"ok", "missing", "inserted", "link", "field", "body", "hash", "signature",
	"stamp", "stamp-gap", "unstamped", "file-link", "io", "cut", "anchor", "meta",
};

const char *logverify_problem_name(enum logverify_problem p)
{
	return (unsigned)p < sizeof(NAMES) / sizeof(NAMES[0]) ? NAMES[p] : "?";
}

/* Records the first problem; returns 1 so that iterations stop. */
static int fail(struct vstate *v, enum logverify_problem p, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct vstate *v, enum logverify_problem p, int64_t id, const char *fmt, ...)
{
	va_list ap;

	if (v->res->problem != LOGVERIFY_OK)
		return 1;
	v->res->problem = p;
	v->res->bad_id = id;
	va_start(ap, fmt);
	vsnprintf(v->res->detail, sizeof(v->res->detail), fmt, ap);
	va_end(ap);
	return 1;
}

static void hex32(const unsigned char *h, char out[2 * MSGLOG_HASH_LEN + 1])
{
	hex_encode(h, MSGLOG_HASH_LEN, out);
}

/* ------------------------------------------------------------- batches */

static int load_stamp(const struct msglog_stamp *s, void *arg)
{
	struct vstate *v = arg;

	if (v->nst == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct vstamp *n = realloc(v->st, cap * sizeof(*n));

		if (!n)
			return -1;
		v->st = n;
		v->cap = cap;
	}
	v->st[v->nst].id = s->id;
	v->st[v->nst].first_id = s->first_id;
	v->st[v->nst].last_id = s->last_id;
	v->st[v->nst].time_ms = s->time_ms;
	memcpy(v->st[v->nst].root, s->root, MSGLOG_HASH_LEN);
	v->nst++;
	return 0;
}

struct tokfetch {
	int64_t id;
	unsigned char *der;
	size_t len;
};

static int fetch_token(const struct msglog_stamp *s, void *arg)
{
	struct tokfetch *t = arg;

	if (s->id != t->id || t->der)
		return 0;
	if (s->token_len == 0 || s->token_len > TSA_MAX_RESPONSE)
		return 0;   /* left NULL: reported as missing or oversized */
	if (!(t->der = malloc(s->token_len)))
		return -1;
	memcpy(t->der, s->token, s->token_len);
	t->len = s->token_len;
	return 0;
}

int logverify_token(const struct msglog_backend_ops *ops, void *conn, int64_t stamp_id, int64_t first_id,
		    unsigned char **der, size_t *len, char **err)
{
	struct tokfetch t = { stamp_id, NULL, 0 };

	*der = NULL;
	*len = 0;
	if (ops->iterate_stamps(conn, first_id, first_id, 1, fetch_token, &t, err) != 0 || !t.der) {
		free(t.der);
		return -1;
	}
	*der = t.der;
	*len = t.len;
	return 0;
}

/* Batch s ends at the record whose (verified) hash is h. */
static int check_batch(struct vstate *v, const struct vstamp *s, const unsigned char *h)
{
	struct tokfetch t = { s->id, NULL, 0 };   /* der and len only */
	int64_t gen = 0;
	char *e = NULL;
	int rc = 0;

	v->res->bad_batch = s->id;
	if (memcmp(s->root, h, MSGLOG_HASH_LEN) != 0)
		return fail(v, LOGVERIFY_STAMP, s->first_id, "batch %lld (records %lld..%lld): stored "
			    "root is not the hash of record %lld", (long long)s->id,
			    (long long)s->first_id, (long long)s->last_id, (long long)s->last_id);
	if (v->trust) {
		if (logverify_token(v->ops, v->conn, s->id, s->first_id, &t.der, &t.len, &e) < 0) {
			rc = fail(v, LOGVERIFY_STAMP, s->first_id, "batch %lld: token missing or unreadable",
				  (long long)s->id);
		} else if (tsa_verify(v->trust, t.der, t.len, h, MSGLOG_HASH_LEN, &gen, &e) < 0) {
			rc = fail(v, LOGVERIFY_STAMP, s->first_id, "batch %lld (records %lld..%lld): %s",
				  (long long)s->id, (long long)s->first_id, (long long)s->last_id,
				  e ? e : "token does not verify");
		} else if (gen + v->skew < v->batch_max_time || gen > v->now + v->skew ||
			   llabs(gen - s->time_ms) > 1000) {
			rc = fail(v, LOGVERIFY_STAMP, s->first_id, "batch %lld: token time %lld is not "
				  "plausible (records up to %lld, stored %lld)", (long long)s->id,
				  (long long)gen, (long long)v->batch_max_time, (long long)s->time_ms);
		}
	}
	free(t.der);
	free(e);
	if (rc == 0) {
		v->res->bad_batch = 0;
		v->res->batches++;
		v->res->head_id = s->last_id;
		memcpy(v->res->head_hash, h, MSGLOG_HASH_LEN);
	}
	return rc;
}

/* ------------------------------------------------------------- anchor */

int logverify_anchor_parse(const char *s, int64_t *id, unsigned char hash[MSGLOG_HASH_LEN])
{
	const char *colon = s ? strchr(s, ':') : NULL;
	long long n = 0;

	if (!colon || colon == s || colon - s > 18 || strlen(colon + 1) != 2 * MSGLOG_HASH_LEN)
		return -1;
	for (const char *p = s; p < colon; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (n <= 0 || hex_decode(colon + 1, hash, MSGLOG_HASH_LEN) != 0)
		return -1;
	*id = n;
	return 0;
}

/* The anchor's record (checked, hash h): the same, or the log was rewritten. */
static int anchor_met(struct vstate *v, int64_t id, const unsigned char *h)
{
	char a[2 * MSGLOG_HASH_LEN + 1], b[2 * MSGLOG_HASH_LEN + 1];

	if (!v->o->anchor_id || id != v->o->anchor_id)
		return 0;
	if (memcmp(h, v->o->anchor_hash, MSGLOG_HASH_LEN) == 0) {
		v->anchor_seen = 1;
		return 0;
	}
	hex32(v->o->anchor_hash, a);
	hex32(h, b);
	return fail(v, LOGVERIFY_ANCHOR, id, "record %lld has hash %s, the anchor kept elsewhere says %s: "
		    "the log was rewritten up to this record (and restamped)", (long long)id, b, a);
}

/* Stamp bookkeeping for record r (already checked). */
static int stamp_step(struct vstate *v, const struct msglog_row *r)
{
	struct vstamp *cur;

	if (v->si >= v->nst) {
		v->res->unstamped++;
		/* Only the live log has records not yet stamped: archiving
		 * takes stamped batches only. An archive's stamps deleted from
		 * its end would otherwise read as "not yet stamped". */
		if (v->all_stamped)
			return fail(v, LOGVERIFY_UNSTAMPED, r->id, "record %lld has no time stamp, but %s is %s: "
				    "an archive holds stamped records only (its time stamps from this record "
				    "on were removed)", (long long)r->id, v->path,
				    v->all_stamped > 1 ? "an archive file" : "not the last file given");
		if (v->o->require_stamped)
			return fail(v, LOGVERIFY_UNSTAMPED, r->id, "record %lld has no time stamp",
				    (long long)r->id);
		return 0;
	}
	cur = &v->st[v->si];
	if (r->id < cur->first_id || cur->last_id < cur->first_id)
		return fail(v, LOGVERIFY_STAMP_GAP, r->id, "record %lld is not covered by a batch, "
			    "but later records are (next batch starts at %lld)", (long long)r->id,
			    (long long)cur->first_id);
	if (r->id == cur->first_id || r->time_ms > v->batch_max_time)
		v->batch_max_time = r->time_ms;
	if (r->id != cur->last_id)
		return 0;
	v->pend = cur;
	memcpy(v->pend_hash, r->hash, MSGLOG_HASH_LEN);
	v->si++;
	if (v->si < v->nst && v->st[v->si].first_id != cur->last_id + 1)
		return fail(v, LOGVERIFY_STAMP_GAP, cur->last_id + 1, "batch %lld starts at %lld, "
			    "not right after batch %lld (ends %lld)", (long long)v->st[v->si].id,
			    (long long)v->st[v->si].first_id, (long long)cur->id, (long long)cur->last_id);
	return 0;
}

/* ------------------------------------------------------------- records */

enum logverify_problem logverify_row_problem(const struct msglog_row *r, char *why, size_t len)
{
	unsigned char d[MSGLOG_HASH_LEN];
	long long id = (long long)r->id;

	if (r->stored_damage)
		return snprintf(why, len, "record %lld: %s", id, r->stored_damage), LOGVERIFY_HASH;
	if (r->stored_field)
		return snprintf(why, len, "record %lld: %s", id, r->stored_field), LOGVERIFY_FIELD;
	if ((r->dir != MSGLOG_REQUEST && r->dir != MSGLOG_RESPONSE) ||
	    (r->side != MSGLOG_CLIENT && r->side != MSGLOG_SERVER) ||
	    (r->body_mode != MSGLOG_BODY_FULL && r->body_mode != MSGLOG_BODY_DIGEST))
		return snprintf(why, len, "record %lld: impossible direction, side or body mode", id), LOGVERIFY_FIELD;
	if (r->body_mode == MSGLOG_BODY_FULL && !r->body)
		return snprintf(why, len, "record %lld: body logged in full is missing", id), LOGVERIFY_BODY;
	if (r->body_mode == MSGLOG_BODY_DIGEST && r->body)
		return snprintf(why, len, "record %lld: a body is stored in metadata-only mode", id), LOGVERIFY_FIELD;
	if (r->body && (sha256(r->body, r->body_len, d) < 0 || memcmp(d, r->body_sha256, MSGLOG_HASH_LEN) != 0))
		return snprintf(why, len, "record %lld: body does not match its SHA-256", id), LOGVERIFY_BODY;
	if (msglog_row_hash(r, d) < 0)
		return snprintf(why, len, "out of memory"), LOGVERIFY_IO;
	if (memcmp(d, r->hash, MSGLOG_HASH_LEN) != 0)
		return snprintf(why, len, "record %lld: contents do not match its hash", id), LOGVERIFY_HASH;
	return LOGVERIFY_OK;
}

static int hash_as(const struct msglog_row *r, int64_t id, unsigned char out[MSGLOG_HASH_LEN])
{
	struct msglog_row c = *r;

	c.id = id;
	return msglog_row_hash(&c, out);
}

/* r's contents do not give its stored hash: say what most likely happened,
 * which the neighbours tell (README.md, "What the verifier names"). */
static int bad_hash(struct vstate *v, const struct msglog_row *r)
{
	unsigned char h[MSGLOG_HASH_LEN];
	long long id = (long long)r->id;

	if (memcmp(r->hash, v->prev, MSGLOG_HASH_LEN) == 0)
		return fail(v, LOGVERIFY_INSERTED, r->id, "record %lld was inserted: a copy of "
			    "record %lld", id, id - 1);
	if (hash_as(r, r->id - 1, h) == 0 && memcmp(h, r->hash, MSGLOG_HASH_LEN) == 0)
		return fail(v, LOGVERIFY_INSERTED, r->id - 1, "record %lld was inserted: record "
			    "%lld is the former record %lld, moved up", id - 1, id, id - 1);
	if (hash_as(r, r->id + 1, h) == 0 && memcmp(h, r->hash, MSGLOG_HASH_LEN) == 0)
		return fail(v, LOGVERIFY_LINK, r->id, "record %lld holds the contents of record "
			    "%lld: records reordered, or one deleted and the rest renumbered", id,
			    id + 1);
	return fail(v, LOGVERIFY_HASH, r->id, "record %lld: contents do not match its hash", id);
}

static int check_link(struct vstate *v, const struct msglog_row *r)
{
	char a[2 * MSGLOG_HASH_LEN + 1];

	if (memcmp(r->prev_hash, v->prev, MSGLOG_HASH_LEN) == 0)
		return 0;
	/* Linking past its predecessor means the predecessor was put in. */
	if (v->have_prevprev && memcmp(r->prev_hash, v->prevprev, MSGLOG_HASH_LEN) == 0)
		return fail(v, LOGVERIFY_INSERTED, r->id - 1, "record %lld was inserted: record %lld "
			    "links to record %lld", (long long)(r->id - 1), (long long)r->id,
			    (long long)(r->id - 2));
	hex32(v->prev, a);
	if (!v->last_seen)   /* a file's first record: what it must link to is the file's base */
		return fail(v, LOGVERIFY_FILE_LINK, r->id, "%s: record %lld does not link to the file's base "
			    "(record %lld, hash %s): the base or the record was altered", v->path,
			    (long long)r->id, (long long)(r->id - 1), a);
	return fail(v, LOGVERIFY_LINK, r->id, "record %lld does not link to record %lld (expected "
		    "prev_hash %s): reordered, replaced or altered", (long long)r->id,
		    (long long)(r->id - 1), a);
}

/* Order matters for naming the right record: position, then the record's
 * own consistency, then its link to the one before. */
static int check_row(const struct msglog_row *r, void *arg)
{
	struct vstate *v = arg;
	enum logverify_problem p;
	char *why = NULL, why_row[256];

	if (r->id < v->expect_id)   /* ids come in order: only a file's first record */
		return fail(v, LOGVERIFY_FILE_LINK, r->id, "%s: the file's base says it continues after record "
			    "%lld, its first record is %lld", v->path, (long long)(v->expect_id - 1),
			    (long long)r->id);
	if (r->id > v->expect_id && !v->last_seen)
		return fail(v, LOGVERIFY_MISSING, v->expect_id, "record %lld is missing: %s's base says it "
			    "continues after record %lld, its first record is %lld", (long long)v->expect_id,
			    v->path, (long long)(v->expect_id - 1), (long long)r->id);
	if (r->id > v->expect_id)
		return fail(v, LOGVERIFY_MISSING, v->expect_id, "record %lld is missing (next is %lld)",
			    (long long)v->expect_id, (long long)r->id);
	p = logverify_row_problem(r, why_row, sizeof(why_row));
	if (p == LOGVERIFY_HASH && !r->stored_damage)
		return bad_hash(v, r);   /* which of its neighbours it is, most likely */
	if (p != LOGVERIFY_OK)
		return fail(v, p, p == LOGVERIFY_IO ? 0 : r->id, "%s", why_row);
	if (check_link(v, r))
		return 1;
	if (v->pend && check_batch(v, v->pend, v->pend_hash))
		return 1;
	v->pend = NULL;
	if (v->o->sig_verify && v->o->sig_verify(r, v->o->sig_arg, &why) != 0) {
		fail(v, LOGVERIFY_SIGNATURE, r->id, "record %lld: signature: %s", (long long)r->id,
		     why ? why : "does not verify");
		free(why);
		return 1;
	}
	v->res->records++;
	memcpy(v->prevprev, v->prev, MSGLOG_HASH_LEN);
	v->have_prevprev = 1;
	memcpy(v->prev, r->hash, MSGLOG_HASH_LEN);
	v->expect_id = r->id + 1;
	v->last_seen = r->id;
	if (anchor_met(v, r->id, r->hash))
		return 1;
	return stamp_step(v, r);
}

/* --------------------------------------------------------------- files */

/* Start of a file: its base must be where the previous file ended. */
static int check_base(struct vstate *v, size_t idx, const struct msglog_chain_state *st)
{
	char a[2 * MSGLOG_HASH_LEN + 1];

	hex32(st->base_hash, a);
	if (idx == 0) {
		v->expect_id = st->base_id + 1;
		memcpy(v->prev, st->base_hash, MSGLOG_HASH_LEN);
		if (v->report && st->base_id)
			fprintf(v->report, "%s: continues after record %lld (hash %s), archived\n",
				v->path, (long long)st->base_id, a);
		if (v->o->anchor_id && v->o->anchor_id < st->base_id)
			return fail(v, LOGVERIFY_ANCHOR, v->o->anchor_id, "the anchor's record %lld is not "
				    "in these files (the first continues after record %lld): give the archive "
				    "file that holds it too", (long long)v->o->anchor_id, (long long)st->base_id);
		return st->base_id ? anchor_met(v, st->base_id, st->base_hash) : 0;
	}
	if (st->base_id != v->expect_id - 1 || memcmp(st->base_hash, v->prev, MSGLOG_HASH_LEN))
		return fail(v, LOGVERIFY_FILE_LINK, st->base_id + 1, "%s does not continue the "
			    "previous file: its base is record %lld (hash %s), the previous file "
			    "ends at %lld", v->path, (long long)st->base_id, a,
			    (long long)(v->expect_id - 1));
	return 0;
}

static int end_of_file(struct vstate *v)
{
	if (v->pend && check_batch(v, v->pend, v->pend_hash))
		return 1;
	v->pend = NULL;
	if (v->si < v->nst)   /* a batch names records that are gone */
		return fail(v, LOGVERIFY_MISSING, v->last_seen ? v->last_seen + 1 : v->expect_id,
			    "record %lld is missing: batch %lld stamps records up to %lld",
			    (long long)(v->last_seen ? v->last_seen + 1 : v->expect_id),
			    (long long)v->st[v->si].id, (long long)v->st[v->si].last_id);
	return 0;
}

static int verify_file(struct vstate *v, size_t idx)
{
	struct msglog_chain_state st;
	char *e = NULL;
	int rc;

	v->nst = v->si = 0;
	v->last_seen = 0;
	v->pend = NULL;
	v->ops = msglog_backend_for(v->target);
	if (v->ops->open(v->target, MSGLOG_OPEN_READONLY, &v->conn, &e) < 0 ||
	    ((rc = v->ops->state(v->conn, &st, &e)) < 0 && rc != MSGLOG_STORE_DAMAGED)) {
		/* (the reason may start with the file's name already) */
		if (e && !strncmp(e, v->path, strlen(v->path)))
			fail(v, LOGVERIFY_IO, 0, "%s", e);
		else
			fail(v, LOGVERIFY_IO, 0, "%s: %s", v->path, e ? e : "cannot open");
		rc = -1;
		goto out;
	}
	if (rc == MSGLOG_STORE_DAMAGED) {   /* read, but not whole: a problem found, not an I/O error */
		fail(v, LOGVERIFY_META, idx ? v->expect_id : st.first_id, "%s: %s", v->path, e ? e : "damaged");
		rc = 1;
		goto out;
	}
	v->all_stamped = st.archive ? 2 : idx + 1 < v->nfiles;
	/* Batches first: records committed meanwhile only add unstamped ones. */
	rc = check_base(v, idx, &st);
	if (!rc && v->ops->iterate_stamps(v->conn, 0, 0, 0, load_stamp, v, &e) != 0) {
		fail(v, LOGVERIFY_IO, 0, "%s: %s", v->path, e ? e : "cannot read batches");
		rc = -1;
		goto out;
	}
	if (!rc) {
		struct msglog_filter f = { .with_body = 1 };

		rc = v->ops->iterate(v->conn, &f, check_row, v, &e);
		if (rc < 0)
			fail(v, LOGVERIFY_IO, 0, "%s: %s", v->path, e ? e : "cannot read records");
	}
	if (!rc)
		rc = end_of_file(v);
out:
	if (v->conn)
		v->ops->close(v->conn);
	v->conn = NULL;
	free(e);
	return rc;
}

static void report_end(struct vstate *v)
{
	struct logverify_result *r = v->res;

	if (!v->report)
		return;
	if (r->problem == LOGVERIFY_OK) {
		fprintf(v->report, "OK: %lld records, hash chain intact; %lld batches%s; %lld "
			"records not yet stamped%s\n", (long long)r->records, (long long)r->batches,
			v->trust ? ", every time-stamp token verified" : " (tokens NOT verified: no TSA CA given)",
			(long long)r->unstamped,
			v->o->sig_verify ? "; signatures verified" : "; signatures not checked");
		if (v->o->anchor_id)
			fprintf(v->report, "anchor: record %lld is in the log with the hash kept elsewhere\n",
				(long long)v->o->anchor_id);
		if (r->head_id) {
			char hx[2 * MSGLOG_HASH_LEN + 1];

			hex32(r->head_hash, hx);
			fprintf(v->report, "newest stamped record: %lld:%s (keep it off this machine; "
				"--anchor %lld:%s tells a later check whether the log was cut before it)\n",
				(long long)r->head_id, hx, (long long)r->head_id, hx);
		}
		return;
	}
	if (r->problem == LOGVERIFY_IO && r->bad_id == 0)   /* nothing of it read: no record to name */
		fprintf(v->report, "FAIL (io): cannot read: %s\n", r->detail);
	else if (r->bad_id == 0)
		fprintf(v->report, "FAIL (%s): %s\n", logverify_problem_name(r->problem), r->detail);
	else
		fprintf(v->report, "FAIL (%s): first bad record %lld: %s\n", logverify_problem_name(r->problem),
			(long long)r->bad_id, r->detail);
}

int logverify_run(const char *const *paths, size_t npaths, const struct logverify_opts *opts,
		  FILE *report, struct logverify_result *res)
{
	struct logverify_opts none = { 0 };
	struct vstate v = { 0 };
	char *e = NULL;
	size_t i;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	v.o = opts ? opts : &none;
	v.res = res;
	v.report = report;
	v.now = msglog_now_ms();
	v.skew = v.o->skew_ms ? v.o->skew_ms : DEFAULT_SKEW_MS;
	v.nfiles = npaths;
	if ((v.o->tsa_ca_pem || v.o->tsa_cert_pem) &&
	    !(v.trust = tsa_trust_new(v.o->tsa_ca_pem, v.o->tsa_cert_pem, &e))) {
		fail(&v, LOGVERIFY_IO, 0, "TSA trust: %s", e ? e : "cannot load");
		rc = -1;
	}
	for (i = 0; rc == 0 && i < npaths; i++) {
		v.target = paths[i];
		v.path = msglog_target_display(paths[i], v.shown, sizeof(v.shown));
		rc = verify_file(&v, i);
	}
	if (rc == 0 && npaths && v.o->anchor_id && !v.anchor_seen)
		fail(&v, LOGVERIFY_CUT, v.expect_id, "the log ends at record %lld, but the anchor kept "
		     "elsewhere names record %lld: records %lld to %lld at least were removed from its end",
		     (long long)(v.expect_id - 1), (long long)v.o->anchor_id, (long long)v.expect_id,
		     (long long)v.o->anchor_id);
	report_end(&v);
	tsa_trust_free(v.trust);
	free(v.st);
	free(e);
	if (res->problem == LOGVERIFY_IO)
		return -1;
	return res->problem == LOGVERIFY_OK ? 0 : 1;
}
