/* docreg: the register of issued certificates and the verification verdict.
 *
 * Statements are prepared per call: a register call is rare next to the
 * signature it accompanies, and per-call statements keep a shared handle
 * simple (the mutex only orders whole calls). */
#include "adapters/certificates/docreg.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store/tsa.h"

struct docreg {
	sqlite3 *db;
	char *path;
	pthread_mutex_t lock;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS cert_counters ("
	"  issuer TEXT NOT NULL, year INTEGER NOT NULL, last INTEGER NOT NULL,"
	"  PRIMARY KEY (issuer, year)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS cert_documents ("
	"  number TEXT PRIMARY KEY, issuer TEXT NOT NULL, kind TEXT NOT NULL,"
	"  subject_id TEXT NOT NULL, subject_name TEXT NOT NULL, purpose TEXT NOT NULL,"
	"  issued_at INTEGER NOT NULL, valid_until INTEGER NOT NULL,"
	"  digest TEXT NOT NULL UNIQUE, xml BLOB NOT NULL, sources TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'revoked')),"
	"  revoked_at INTEGER, revoked_by TEXT, revoke_reason TEXT);"
	"CREATE INDEX IF NOT EXISTS cert_documents_subject ON cert_documents (subject_id);";

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return DOCREG_ERROR;
	free(*err);
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return DOCREG_ERROR;
}

/* The register's own failure, named with its file and SQLite's words. */
static int db_fail(struct docreg *r, char **err, const char *what)
{
	int code = sqlite3_extended_errcode(r->db);

	if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
		return fail(err, "certificate register %s is busy (%s); try again", r->path, what);
	return fail(err, "certificate register %s: %s failed: %s", r->path, what,
		    sqlite3_errmsg(r->db));
}

/* ---- open / close ------------------------------------------------------------------ */

/* 1 if the file already holds tables and none of them is ours. */
static int foreign_db(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ours = 0, any = 0;

	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		any = 1;
		if (n && strcmp(n, "cert_documents") == 0)
			ours = 1;
	}
	sqlite3_finalize(st);
	return any && !ours;
}

static int setup(struct docreg *r, unsigned busy_ms, char **err)
{
	char *e = NULL;

	if (sqlite3_busy_timeout(r->db, (int)(busy_ms ? busy_ms : DOCREG_DEFAULT_BUSY_MS)) != SQLITE_OK ||
	    sqlite3_exec(r->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
				"PRAGMA foreign_keys = ON", NULL, NULL, &e) != SQLITE_OK) {
		fail(err, "certificate register %s: cannot set WAL mode: %s", r->path,
		     e ? e : sqlite3_errmsg(r->db));
		sqlite3_free(e);
		return -1;
	}
	if (foreign_db(r->db))
		return fail(err, "%s is another application's database (no cert_documents table); "
				 "give the certificate register a file of its own", r->path);
	/* Two workers starting together create the tables once. */
	if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(r, err, "creating the tables");
	if (sqlite3_exec(r->db, schema, NULL, NULL, &e) != SQLITE_OK) {
		fail(err, "certificate register %s: cannot create the tables: %s", r->path,
		     e ? e : "?");
		sqlite3_free(e);
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(r, err, "creating the tables");
	return 0;
}

int docreg_open(const char *path, unsigned busy_ms, struct docreg **out, char **err)
{
	struct docreg *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (err)
		*err = NULL;
	if (!r || !path || !(r->path = strdup(path))) {
		free(r);
		return fail(err, "out of memory opening the certificate register");
	}
	pthread_mutex_init(&r->lock, NULL);
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		fail(err, "cannot open the certificate register %s: %s (does its directory exist "
			  "and is it writable?)", path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
		docreg_close(&r);
		return DOCREG_ERROR;
	}
	if (setup(r, busy_ms, err) != 0) {
		docreg_close(&r);
		return DOCREG_ERROR;
	}
	*out = r;
	return DOCREG_OK;
}

void docreg_close(struct docreg **rp)
{
	struct docreg *r = rp ? *rp : NULL;

	if (!r)
		return;
	sqlite3_close(r->db);
	pthread_mutex_destroy(&r->lock);
	free(r->path);
	free(r);
	*rp = NULL;
}

/* ---- numbers --------------------------------------------------------------------------- */

static int next_seq(struct docreg *r, const char *code, int year, long *seq, char **err)
{
	static const char sql[] =
		"INSERT INTO cert_counters (issuer, year, last) VALUES (?1, ?2, 1) "
		"ON CONFLICT (issuer, year) DO UPDATE SET last = last + 1 RETURNING last";
	sqlite3_stmt *st = NULL;
	int rc = DOCREG_ERROR;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, "allocating a number");
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, year);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*seq = (long)sqlite3_column_int64(st, 0);
		/* Run to the end: the statement's transaction commits there. */
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = DOCREG_OK;
	}
	if (rc != DOCREG_OK)
		db_fail(r, err, "allocating a number");
	sqlite3_finalize(st);
	return rc;
}

int docreg_next_number(struct docreg *r, const char *issuer_code, int year, char *out,
		       size_t outlen, char **err)
{
	long seq = 0;
	int rc;

	if (err)
		*err = NULL;
	if (certdoc_number_format(issuer_code, year, 1, out, outlen) != 0)
		return fail(err, "cannot number a certificate of issuer '%s' for year %d: the code "
				 "must be 1..20 letters or digits, the year 2000..9999",
			    issuer_code ? issuer_code : "(none)", year);
	pthread_mutex_lock(&r->lock);
	rc = next_seq(r, issuer_code, year, &seq, err);
	pthread_mutex_unlock(&r->lock);
	if (rc != DOCREG_OK)
		return rc;
	if (certdoc_number_format(issuer_code, year, seq, out, outlen) != 0)
		return fail(err, "issuer %s has used up the certificate numbers of %d", issuer_code,
			    year);
	return DOCREG_OK;
}

/* 1 if number was allocated here (its sequence is not past the counter). */
static int allocated(struct docreg *r, const char *number)
{
	char code[32];
	int year;
	long seq;
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (certdoc_number_parse(number, code, &year, &seq) != 0 ||
	    sqlite3_prepare_v2(r->db, "SELECT last FROM cert_counters WHERE issuer = ?1 AND year = ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, year);
	ok = sqlite3_step(st) == SQLITE_ROW && seq <= sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return ok;
}

/* ---- store ----------------------------------------------------------------------------- */

static void subject_id(const struct certdoc *d, char *out, size_t outlen)
{
	if (d->subject_pin)
		snprintf(out, outlen, "%s", d->subject_pin);
	else
		snprintf(out, outlen, "%s:%s", d->subject_citizenship, d->subject_doc);
}

/* The source exchanges as a JSON array text (caller frees). */
static char *sources_json(const struct certdoc *d)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; a && i < d->nsources; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "service", d->sources[i].service,
						   "messageId", d->sources[i].message_id));
	s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

static int insert_doc(struct docreg *r, const struct certdoc *d, const char *xml, size_t len,
		      const char *digest, const char *sources, char **err)
{
	static const char sql[] =
		"INSERT INTO cert_documents (number, issuer, kind, subject_id, subject_name, purpose,"
		" issued_at, valid_until, digest, xml, sources) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
	char subj[DOCREG_SUBJECT_MAX];
	sqlite3_stmt *st = NULL;
	int rc;

	subject_id(d, subj, sizeof(subj));
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, "registering a certificate");
	sqlite3_bind_text(st, 1, d->number, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->issuer_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, subj, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, d->subject_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, d->purpose, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->issued_at);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)d->valid_until);
	sqlite3_bind_text(st, 9, digest, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, xml, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, sources, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = DOCREG_OK;
	else if ((sqlite3_extended_errcode(r->db) & 0xff) == SQLITE_CONSTRAINT) {
		fail(err, "certificate %s (or one with the same digest) is already registered",
		     d->number);
		rc = DOCREG_CONFLICT;
	} else
		rc = db_fail(r, err, "registering a certificate");
	sqlite3_finalize(st);
	return rc;
}

int docreg_store(struct docreg *r, const struct certdoc *d, const char *xml, size_t len,
		 char **err)
{
	char digest[CERTDOC_DIGEST_HEX];
	char *sources;
	int rc;

	if (err)
		*err = NULL;
	if (!d || !d->number || !xml || len == 0 || len > DOCSIGN_XML_MAX)
		return fail(err, "nothing to register (no document, or larger than %d bytes)",
			    DOCSIGN_XML_MAX);
	certdoc_digest(xml, len, digest);
	if (!(sources = sources_json(d)))
		return fail(err, "out of memory");
	pthread_mutex_lock(&r->lock);
	if (!allocated(r, d->number)) {
		fail(err, "certificate number %s was not allocated by this register "
			  "(docreg_next_number)", d->number);
		rc = DOCREG_CONFLICT;
	} else {
		rc = insert_doc(r, d, xml, len, digest, sources, err);
	}
	pthread_mutex_unlock(&r->lock);
	free(sources);
	return rc;
}

/* ---- lookup ---------------------------------------------------------------------------- */

static void col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static void row_entry(sqlite3_stmt *st, struct docreg_entry *e)
{
	memset(e, 0, sizeof(*e));
	col_text(st, 0, e->number, sizeof(e->number));
	col_text(st, 1, e->issuer_code, sizeof(e->issuer_code));
	col_text(st, 2, e->kind, sizeof(e->kind));
	col_text(st, 3, e->subject_id, sizeof(e->subject_id));
	col_text(st, 4, e->subject_name, sizeof(e->subject_name));
	col_text(st, 5, e->purpose, sizeof(e->purpose));
	e->issued_at = (time_t)sqlite3_column_int64(st, 6);
	e->valid_until = (time_t)sqlite3_column_int64(st, 7);
	col_text(st, 8, e->digest, sizeof(e->digest));
	e->revoked = sqlite3_column_text(st, 9) && !strcmp((const char *)sqlite3_column_text(st, 9),
							    "revoked");
	e->revoked_at = (time_t)sqlite3_column_int64(st, 10);
	col_text(st, 11, e->revoked_by, sizeof(e->revoked_by));
	col_text(st, 12, e->revoke_reason, sizeof(e->revoke_reason));
}

static int lookup_locked(struct docreg *r, const char *number, struct docreg_entry *out,
			 char **err)
{
	static const char sql[] =
		"SELECT number, issuer, kind, subject_id, subject_name, purpose, issued_at,"
		" valid_until, digest, status, revoked_at, revoked_by, revoke_reason "
		"FROM cert_documents WHERE number = ?1";
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, "looking up a certificate");
	sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_entry(st, out);
		rc = DOCREG_OK;
	} else if (rc == SQLITE_DONE) {
		fail(err, "no certificate with number %s is registered here", number);
		rc = DOCREG_NOT_FOUND;
	} else {
		rc = db_fail(r, err, "looking up a certificate");
	}
	sqlite3_finalize(st);
	return rc;
}

int docreg_lookup(struct docreg *r, const char *number, struct docreg_entry *out, char **err)
{
	int rc;

	if (err)
		*err = NULL;
	if (!number)
		return fail(err, "no certificate number given");
	pthread_mutex_lock(&r->lock);
	rc = lookup_locked(r, number, out, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int docreg_get_xml(struct docreg *r, const char *number, struct buf *out, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (err)
		*err = NULL;
	pthread_mutex_lock(&r->lock);
	if (sqlite3_prepare_v2(r->db, "SELECT xml FROM cert_documents WHERE number = ?1", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = db_fail(r, err, "reading a certificate");
		goto out;
	}
	sqlite3_bind_text(st, 1, number ? number : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0))
			     ? fail(err, "certificate %s does not fit the output buffer", number)
			     : DOCREG_OK;
	} else if (rc == SQLITE_DONE) {
		fail(err, "no certificate with number %s is registered here", number ? number : "");
		rc = DOCREG_NOT_FOUND;
	} else {
		rc = db_fail(r, err, "reading a certificate");
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- revocation ------------------------------------------------------------------------ */

static int text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int revoke_locked(struct docreg *r, const char *number, const char *reason,
			 const char *clerk, time_t when, char **err)
{
	static const char sql[] =
		"UPDATE cert_documents SET status = 'revoked', revoked_at = ?2, revoked_by = ?3,"
		" revoke_reason = ?4 WHERE number = ?1 AND status = 'issued'";
	struct docreg_entry e;
	sqlite3_stmt *st = NULL;
	char at[32];
	int rc;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, "revoking a certificate");
	sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)when);
	sqlite3_bind_text(st, 3, clerk, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(r, err, "revoking a certificate");
	if (sqlite3_changes(r->db) == 1)
		return DOCREG_OK;
	/* Nothing changed: say why. */
	if ((rc = lookup_locked(r, number, &e, err)) != DOCREG_OK)
		return rc;
	certdoc_time_human(e.revoked_at, at, sizeof(at));
	fail(err, "certificate %s is already revoked (on %s by %s: %s); it cannot be revoked twice",
	     number, at, e.revoked_by, e.revoke_reason);
	return DOCREG_CONFLICT;
}

int docreg_revoke(struct docreg *r, const char *number, const char *reason, const char *clerk,
		  time_t when, char **err)
{
	int rc;

	if (err)
		*err = NULL;
	if (!number || !*number)
		return fail(err, "which certificate? no number given");
	if (!text_ok(reason, CERTDOC_TEXT_MAX))
		return fail(err, "a revocation needs a reason (1..%d bytes, no control characters)",
			    CERTDOC_TEXT_MAX);
	if (!text_ok(clerk, DOCREG_CLERK_MAX - 1))
		return fail(err, "a revocation needs the clerk who revokes (1..%d bytes)",
			    DOCREG_CLERK_MAX - 1);
	pthread_mutex_lock(&r->lock);
	rc = revoke_locked(r, number, reason, clerk, when ? when : time(NULL), err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- verdicts -------------------------------------------------------------------------- */

const char *docreg_verdict_name(enum docreg_verdict v)
{
	switch (v) {
	case DOCREG_VALID: return "valid";
	case DOCREG_REVOKED: return "revoked";
	case DOCREG_EXPIRED: return "expired";
	case DOCREG_NOT_ISSUED_HERE: return "not_issued_here";
	case DOCREG_TAMPERED: return "tampered";
	case DOCREG_NOT_A_CERTIFICATE: return "not_a_certificate";
	}
	return "?";
}

static void say(struct docreg_check *c, enum docreg_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct docreg_check *c, enum docreg_verdict v, const char *fmt, ...)
{
	va_list ap;

	c->verdict = v;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

/* The register's part of the verdict, once number and digest are known. */
static void verdict_of(struct docreg_check *c, const char *number, time_t now)
{
	const struct docreg_entry *e = &c->entry;
	char t[32];

	if (!c->found) {
		say(c, DOCREG_NOT_ISSUED_HERE, "No certificate with number %s was issued here.",
		    number);
	} else if (strcmp(e->digest, c->digest) != 0) {
		say(c, DOCREG_TAMPERED, "This is not the document registered under number %s: its "
		    "digest differs, so it was changed after it was issued (or the digest was "
		    "mistyped).", number);
	} else if (e->revoked) {
		certdoc_time_human(e->revoked_at, t, sizeof(t));
		say(c, DOCREG_REVOKED, "Certificate %s was revoked on %s: %s", number, t,
		    e->revoke_reason);
	} else if (now > e->valid_until) {
		certdoc_time_human(e->valid_until, t, sizeof(t));
		say(c, DOCREG_EXPIRED, "Certificate %s expired: it was valid until %s.", number, t);
	} else {
		certdoc_time_human(e->valid_until, t, sizeof(t));
		say(c, DOCREG_VALID, "Certificate %s is valid until %s.", number, t);
	}
}

/* Looks the number up into c (found or not). */
static int find(struct docreg *r, const char *number, struct docreg_check *c, char **err)
{
	char *e = NULL;
	int rc = docreg_lookup(r, number, &c->entry, &e);

	c->found = rc == DOCREG_OK;
	if (rc == DOCREG_OK || rc == DOCREG_NOT_FOUND) {
		free(e);
		return DOCREG_OK;
	}
	if (err)
		*err = e;
	else
		free(e);
	return rc;
}

int docreg_check_number(struct docreg *r, const char *number, const char *digest, time_t now,
			struct docreg_check *out, char **err)
{
	char code[32];
	int year;
	long seq;

	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	if (certdoc_number_parse(number, code, &year, &seq) != 0)
		return fail(err, "the certificate number must look like 70000050-2026-000123 "
				 "(issuer code, year, sequence)");
	snprintf(out->digest, sizeof(out->digest), "%s", digest ? digest : "");
	if (!certdoc_digest_ok(out->digest))
		return fail(err, "the digest must be 64 hexadecimal characters (the SHA-256 of the "
				 "XML document, as printed under the QR code)");
	if (find(r, number, out, err) != DOCREG_OK)
		return DOCREG_ERROR;
	verdict_of(out, number, now ? now : time(NULL));
	return DOCREG_OK;
}

#define DOCREG_DSIG_NS "http://www.w3.org/2000/09/xmldsig#"

/* The uploaded document's own checks: signature, format, signer = issuer.
 * On failure out holds TAMPERED and 1 is returned; 0 lets the register
 * decide; -1 is an error. *d is the parsed document. */
static int check_upload(const char *xml, size_t len, const struct docreg_check_opts *o,
			struct docreg_check *out, struct certdoc **d, char **err)
{
	struct docsign_verify_opts vo = { o->now, o->require_timestamp, 0 };
	char *e = NULL;

	out->xml_checked = 1;
	/* A file with no XML signature in it at all (another document, or a
	 * certificate's text without its signature) is told as such, not as a
	 * forgery; one that carries a signature which does not hold is. */
	if (!memmem(xml, len, DOCREG_DSIG_NS, sizeof(DOCREG_DSIG_NS) - 1)) {
		int cert = certdoc_parse(xml, len, d, &e) == 0;

		out->sig.status = DOCSIGN_INVALID;
		snprintf(out->sig.reason, sizeof(out->sig.reason), "the file carries no electronic signature");
		say(out, DOCREG_NOT_A_CERTIFICATE, "%s", cert ? "The file is a certificate document without its "
			"electronic signature: it proves nothing." : "The file is not a signed certificate document.");
		free(e);
		return 1;
	}
	if (docsign_verify(xml, len, o->trust, o->tsa, &vo, &out->sig) != 0)
		return fail(err, "cannot verify documents: %s", out->sig.reason);
	if (out->sig.status != DOCSIGN_VALID) {
		say(out, DOCREG_TAMPERED, "The document's electronic signature is not valid: %s",
		    out->sig.reason);
		return 1;
	}
	if (certdoc_parse(xml, len, d, &e) != 0) {
		say(out, DOCREG_TAMPERED, "The file is not a certificate document: %s", e);
		free(e);
		return 1;
	}
	if (strcmp((*d)->issuer_class, out->sig.member_class) != 0 ||
	    strcmp((*d)->issuer_code, out->sig.member_code) != 0) {
		say(out, DOCREG_TAMPERED, "The document names issuer %s/%s but is signed by %s/%s.",
		    (*d)->issuer_class, (*d)->issuer_code, out->sig.member_class,
		    out->sig.member_code);
		return 1;
	}
	return 0;
}

/* The signature holds and the number is ours, but the bytes are not the
 * registered file's: a copy that gained a byte order mark, CRLF line ends
 * or lost its final line end (editors, mail) - all outside the signed
 * content - read as "tampered" to a bank. When the file put back in the
 * issued form (certdoc_as_issued) has the registered digest, it is that
 * document, and its digest is taken. */
static void as_issued_digest(const char *xml, size_t len, struct docreg_check *out)
{
	struct buf b;
	char dg[CERTDOC_DIGEST_HEX];

	buf_init(&b, len + 16);
	if (buf_append(&b, xml, len) == 0 && certdoc_as_issued(&b, 0) == 0 && b.len) {
		certdoc_digest(b.data, b.len, dg);
		if (strcmp(dg, out->entry.digest) == 0)
			memcpy(out->digest, dg, sizeof(dg));
	}
	buf_free(&b);
}

int docreg_check_xml(struct docreg *r, const char *xml, size_t len,
		     const struct docreg_check_opts *o, struct docreg_check *out, char **err)
{
	struct certdoc *d = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	if (!o || !o->trust)
		return fail(err, "document verification is not configured (no trust store)");
	/* a byte order mark or blank lines in front of the XML declaration (an
	 * editor's, a mail's): not XML as they stand, "tampered" to a bank; what
	 * follows them is the document (the REST body was trimmed so already) */
	if (len >= 3 && !memcmp(xml, "\xEF\xBB\xBF", 3))
		xml += 3, len -= 3;
	while (len > 0 && (*xml == ' ' || *xml == '\t' || *xml == '\r' || *xml == '\n'))
		xml++, len--;
	rc = check_upload(xml, len, o, out, &d, err);
	if (rc < 0) {
		rc = DOCREG_ERROR;
	} else if (rc == 0) {
		certdoc_digest(xml, len, out->digest);
		rc = find(r, d->number, out, err);
		if (rc == DOCREG_OK && out->found && strcmp(out->entry.digest, out->digest) != 0)
			as_issued_digest(xml, len, out);
		if (rc == DOCREG_OK)
			verdict_of(out, d->number, o->now ? o->now : time(NULL));
	} else {
		rc = DOCREG_OK;
	}
	certdoc_free(&d);
	return rc;
}
