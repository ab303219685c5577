/* The electronic documents adapter ("Infodocs", subsystem edocs).
 *
 * Registers of incoming and outgoing correspondence with execution control,
 * in a local SQLite database: one connection per worker thread, statements
 * prepared once and reused, parameters always bound. Unlike the read-only
 * registries this one writes: registration numbers are handed out inside
 * BEGIN IMMEDIATE, so workers (separate connections, maybe separate
 * processes) serialise on the database file and never share a number; a
 * client-supplied request_id makes a repeated registration answer the first
 * one instead of taking a second number. The register is append-only
 * (triggers in schema.sql); only the execution mark changes later.
 * Keys of the answers are documented in README.md; keep them stable. */
#include "adapters/adapter.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define ED_PATH_MAX 1024
#define ED_SQL_MAX (4u << 20)       /* schema.sql / seed.sql */
#define ED_BUSY_MS_DEFAULT 1000
#define ED_BUSY_MS_MAX 60000
#define ED_BODY_MAX (128u << 10)    /* a REST body: 64 KB signature + the text fields */
#define ED_SIG_MAX (64u << 10)      /* base64 text of a signature, as given */
#define ED_REQID_MAX 64
#define ED_LIST_MAX 1000            /* rows in one list answer */
#define ED_REFS_MAX 100             /* documents listed as referring to one */
#define ED_RANGE_DAYS_MAX 366
#define ED_REGNO_LEN 48

enum ed_stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_BY_REQUEST, ST_RELATED, ST_NEXT_SEQ, ST_INSERT, ST_EXECUTE,
	ST_DOCUMENT, ST_REFS, ST_LIST, ST_CONTROL,
	ST_COUNT
};

static const char *const ed_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_BY_REQUEST] =
		"SELECT registration_number, registered_at, signature_sha256, request_digest"
		" FROM documents WHERE client = ?1 AND request_id = ?2",
	[ST_RELATED] = "SELECT direction, due_date, executed_on FROM documents"
		       " WHERE registration_number = ?1",
	[ST_NEXT_SEQ] =
		"INSERT INTO reg_counters (direction, year, last_seq) VALUES (?1, ?2, 1)"
		" ON CONFLICT (direction, year) DO UPDATE SET last_seq = last_seq + 1"
		" RETURNING last_seq",
	[ST_INSERT] =
		"INSERT INTO documents (registration_number, direction, year, seq, doc_type, title,"
		" correspondent, author, signed_by, signature, signature_sha256, signature_size,"
		" content_digest, related_to, registered_at, registered_on, due_date, client,"
		" user_id, request_id, request_digest)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		" ?17, ?18, ?19, ?20, ?21)",
	[ST_EXECUTE] = "UPDATE documents SET executed_on = ?2, executed_by = ?3"
		       " WHERE registration_number = ?1 AND executed_on IS NULL",
	[ST_DOCUMENT] =
		"SELECT d.registration_number, d.direction, d.doc_type, t.ru, t.ky, d.title,"
		" d.correspondent, d.author, d.signed_by, d.registered_at, d.registered_on,"
		" d.content_digest, d.signature_sha256, d.signature_size, d.signature, d.related_to,"
		" d.due_date, d.executed_on, d.executed_by"
		" FROM documents d JOIN doc_types t ON t.code = d.doc_type"
		" WHERE d.registration_number = ?1",
	[ST_REFS] = "SELECT registration_number FROM documents WHERE related_to = ?1"
		    " ORDER BY id LIMIT ?2",
	[ST_LIST] =
		"SELECT registration_number, direction, doc_type, title, correspondent, registered_on,"
		" due_date, executed_on FROM documents"
		" WHERE registered_on BETWEEN ?1 AND ?2 AND (?3 IS NULL OR direction = ?3)"
		" ORDER BY id LIMIT ?4",
	[ST_CONTROL] =
		"SELECT registration_number, direction, doc_type, title, correspondent, registered_on,"
		" due_date FROM documents WHERE due_date IS NOT NULL AND registered_on <= ?1"
		" AND (executed_on IS NULL OR executed_on > ?1) ORDER BY due_date, id LIMIT ?2",
};

/* Per worker thread. */
struct ed_ctx {
	struct adapter_host host;
	char db_path[ED_PATH_MAX];
	char sql_dir[ED_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                 /* NULL while the database cannot be opened */
	sqlite3_stmt *st[ST_COUNT];
	int reopen;                  /* a query hit a broken file: reopen next call */
};

/* "Today" and the registration clock, local time of the gateway. */
struct ed_day {
	char iso[11];                /* YYYY-MM-DD */
	long days;                   /* days since 1970-01-01 */
};

#define ed_log(c, lvl, reqid, ...)                                               \
	do {                                                                     \
		if ((c)->host.log != NULL)                                       \
			(c)->host.log((c)->host.ctx, (lvl), (reqid), __VA_ARGS__); \
	} while (0)

#define ED_UNAVAILABLE "the document register database is unavailable; try again later"

/* ---- opening and creating the database ------------------------------- */

static void ed_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ed_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void ed_close(struct ed_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
	c->reopen = 0;
}

/* Reads dir/name into a new NUL-terminated buffer (caller frees *out). */
static int ed_read_sql(const char *dir, const char *name, char **out, char *why, size_t len)
{
	char path[ED_PATH_MAX + 64];
	char *buf = NULL;
	size_t n;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		ed_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(ED_SQL_MAX + 1);
	if (buf == NULL) {
		ed_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, ED_SQL_MAX + 1, f);
	if (ferror(f) || n > ED_SQL_MAX) {
		ed_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int ed_exec_file(sqlite3 *db, const char *dir, const char *name, char *why, size_t len)
{
	char *sql = NULL, *msg = NULL;
	int rc;

	if (ed_read_sql(dir, name, &sql, why, len) != 0)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		ed_why(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads schema and seed into a database that has no tables. Several workers
 * may start at once on a new file: the immediate transaction serialises
 * them, and only the first one finds it empty. */
static int ed_create(struct ed_ctx *c, sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, empty;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		ed_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ed_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (ed_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      ed_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ed_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (empty)
		ed_log(c, ADAPTER_LOG_INFO, NULL, "created %s from %s/{schema,seed}.sql",
		       c->db_path, c->sql_dir);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int ed_prepare(struct ed_ctx *c, sqlite3 *db, char *why, size_t len)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(db, ed_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			ed_why(why, len, "%s is not a document register: %s", c->db_path,
			       sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

static int ed_open(struct ed_ctx *c, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(c->db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		ed_why(why, len, "cannot open %s: %s", c->db_path,
		       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, c->busy_ms);
	/* WAL: readers never wait for the one writer. synchronous stays FULL:
	 * a number handed to a client must survive a power cut, or it would be
	 * handed out again. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		ed_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (ed_create(c, db, why, len) != 0 || ed_prepare(c, db, why, len) != 0)
		goto fail;
	c->db = db;
	return 0;
fail:
	c->db = db;
	ed_close(c);
	return -1;
}

/* ---- statements ------------------------------------------------------- */

/* Resets st and binds texts vals[0..n-1] (NULL binds SQL NULL). */
static sqlite3_stmt *ed_bind(struct ed_ctx *c, enum ed_stmt s, int n, const char *const *vals)
{
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < n; i++) {
		int rc = vals[i] ? sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_TRANSIENT) :
				   sqlite3_bind_null(st, i + 1);

		if (rc != SQLITE_OK)
			return NULL;
	}
	return st;
}

/* A query failed: the caller is told "unavailable", the log gets why. */
static void ed_db_error(struct ed_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	int rc = sqlite3_errcode(c->db) & 0xff;

	ed_log(c, ADAPTER_LOG_ERROR, call->message_id, "edocs db %s: %s", c->db_path,
	       sqlite3_errmsg(c->db));
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
		c->reopen = 1;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		adapter_result_error(res, ADAPTER_UNAVAILABLE,
				     "the document register is busy; try again later (repeating a "
				     "registration with the same request_id is safe)");
	else
		adapter_result_error(res, ADAPTER_UNAVAILABLE, ED_UNAVAILABLE);
}

/* Steps st once: 1 row, 0 done, -1 error (res set, st reset). */
static int ed_step(struct ed_ctx *c, const struct adapter_call *call, sqlite3_stmt *st,
		   struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	ed_db_error(c, call, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* Runs a statement that returns no rows. 0, or -1 with res set. */
static int ed_run(struct ed_ctx *c, const struct adapter_call *call, sqlite3_stmt *st,
		  struct adapter_result *res)
{
	int rc = ed_step(c, call, st, res);

	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

/* SQL NULL -> JSON null; text -> string (NULL if not valid UTF-8). */
static json_t *ed_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static const char *ed_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int ed_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

static void ed_oom(struct adapter_result *res)
{
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* ---- small helpers: text, dates, numbers ------------------------------ */

static int ed_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The bounds of s without surrounding white space (SOAP bodies are indented). */
static const char *ed_strip(const char *s, size_t *len)
{
	size_t n;

	while (ed_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && ed_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* A GET parameter, trimmed, into out[cap]; "" if absent. -1 if it is not a
 * string or is too long for out (the caller refuses it). */
static int ed_param(const struct adapter_call *call, const char *name, char *out, size_t cap)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;
	const char *s;
	size_t n;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	/* Refused values leave "?" so that callers can tell them from absent. */
	snprintf(out, cap, "?");
	if (!json_is_string(v))
		return -1;
	s = ed_strip(json_string_value(v), &n);
	if (n >= cap)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Copies s into out[cap] for a message, which the core puts in JSON: control
 * characters become '?', and so does every non-ASCII byte unless utf8 says
 * s is valid UTF-8 (jansson keys are), in which case a cut never splits a
 * character. */
static void ed_echo(const char *s, int utf8, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (s[i] != '\0') {
		unsigned char ch = (unsigned char)s[i];
		size_t n = ch < 0x80 || !utf8 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;

		if (o + n >= cap || strnlen(s + i, n) < n)
			break;
		if (ch < 0x20 || ch == 0x7F || (ch >= 0x80 && !utf8)) {
			out[o++] = '?';
		} else {
			memcpy(out + o, s + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): date arithmetic without timegm and time zones. */
static long ed_days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* A strict YYYY-MM-DD (1900..9999, a real day) into days; 0 or -1. */
static int ed_date(const char *s, long *days)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, leap;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	*days = ed_days_from_civil(y, m, d);
	return 0;
}

static void ed_today(struct ed_day *day)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(day->iso, sizeof(day->iso), "%Y-%m-%d", &tm);
	day->days = ed_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Execution control of a document as of day `on`: status and days late. */
static json_t *ed_execution(sqlite3_stmt *st, int due_col, int exec_col, int by_col, long on)
{
	const char *due = ed_text(st, due_col), *ex = ed_text(st, exec_col);
	long due_d = 0, ex_d = 0, late = 0;
	const char *status;

	if (due == NULL || ed_date(due, &due_d) != 0) {
		status = "not_controlled";
	} else if (ex != NULL && ed_date(ex, &ex_d) == 0 && ex_d <= on) {
		status = "executed";
		late = ex_d > due_d ? ex_d - due_d : 0;
	} else if (on > due_d) {
		status = "overdue";
		late = on - due_d;
	} else {
		status = "in_progress";
	}
	return json_pack("{s:s,s:o,s:o,s:o,s:I}", "status", status, "due_date", ed_col(st, due_col),
			 "executed_on", ed_col(st, exec_col), "executed_by", ed_col(st, by_col),
			 "days_overdue", (json_int_t)late);
}

/* ---- registration numbers -------------------------------------------- */

static const struct {
	const char *prefix;
	const char *direction;
	int ascii;                  /* compared without case */
} ed_prefixes[] = {
	{ "ВХ", "in", 0 }, { "ИСХ", "out", 0 }, { "IN", "in", 1 }, { "OUT", "out", 1 },
};

static const char *ed_prefix_of(const char *direction)
{
	return strcmp(direction, "in") == 0 ? "ВХ" : "ИСХ";
}

/* "ВХ-2026-000045", "ИСХ-2026-000123", or the ASCII forms IN-/OUT- (any
 * case; leading zeros optional) into the canonical number in out[cap].
 * 0, or -1 if s is not a registration number. */
static int ed_regno(const char *s, char *out, size_t cap)
{
	const char *p = NULL, *dir = NULL;
	long year = 0, seq = 0;
	int nd = 0;

	for (size_t i = 0; i < sizeof(ed_prefixes) / sizeof(ed_prefixes[0]) && p == NULL; i++) {
		size_t n = strlen(ed_prefixes[i].prefix);

		if ((ed_prefixes[i].ascii ? strncasecmp(s, ed_prefixes[i].prefix, n) :
					    strncmp(s, ed_prefixes[i].prefix, n)) == 0 && s[n] == '-') {
			p = s + n + 1;
			dir = ed_prefixes[i].direction;
		}
	}
	if (p == NULL)
		return -1;
	for (int i = 0; i < 4; i++, p++) {
		if (*p < '0' || *p > '9')
			return -1;
		year = year * 10 + (*p - '0');
	}
	if (*p++ != '-' || year < 1900)
		return -1;
	for (; *p >= '0' && *p <= '9' && nd < 9; p++, nd++)
		seq = seq * 10 + (*p - '0');
	if (*p != '\0' || nd == 0 || seq == 0)
		return -1;
	snprintf(out, cap, "%s-%04ld-%06ld", ed_prefix_of(dir), year, seq);
	return 0;
}

#define ED_REGNO_HINT "a registration number looks like ВХ-2026-000045 (incoming) or " \
	"ИСХ-2026-000123 (outgoing); IN-2026-000045 and OUT-2026-000123 are accepted too"

/* ---- signature and digests ------------------------------------------- */

static int ed_b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes standard base64 (RFC 4648 alphabet, '=' padding; line breaks and
 * spaces between characters allowed, as MIME and SOAP tools wrap it) into
 * out, which holds at least strlen(s) / 4 * 3 bytes. Length, or -1. */
static long ed_b64_decode(const char *s, unsigned char *out)
{
	unsigned long acc = 0;
	long n = 0;
	int k = 0, pad = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		int v = ed_b64val(ch);

		if (ed_space((char)ch))
			continue;
		if (ch == '=' && k >= 2) {
			pad++;
			v = 0;
		} else if (v < 0 || pad > 0) {
			return -1;
		}
		acc = (acc << 6) | (unsigned long)v;
		if (++k == 4) {
			out[n++] = (unsigned char)(acc >> 16);
			if (pad < 2)
				out[n++] = (unsigned char)(acc >> 8);
			if (pad < 1)
				out[n++] = (unsigned char)acc;
			acc = 0;
			k = 0;
			if (pad > 0)
				break;
		}
	}
	if (k != 0)
		return -1;
	if (*s != '\0')            /* after the padding: white space only */
		for (s++; *s != '\0'; s++)
			if (!ed_space(*s))
				return -1;
	return n;
}

static int ed_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

struct ed_sig {
	char sha256[65];
	long size;
};

/* Checks the base64 signature and digests its decoded bytes. 0, or -1 with res. */
static int ed_signature(const char *b64, struct ed_sig *sig, struct adapter_result *res)
{
	unsigned char *raw = malloc(strlen(b64) / 4 * 3 + 3);
	int rc = -1;

	if (raw == NULL) {
		ed_oom(res);
		return -1;
	}
	sig->size = ed_b64_decode(b64, raw);
	if (sig->size <= 0)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "signature must be the signature in standard base64 "
				     "(A-Z a-z 0-9 + / with = padding)");
	else if (ed_sha256_hex(raw, (size_t)sig->size, sig->sha256) != 0)
		adapter_result_error(res, ADAPTER_FAILED, "cannot compute the signature digest");
	else
		rc = 0;
	free(raw);
	return rc;
}

/* ---- the input of register-document ---------------------------------- */

enum ed_kind { K_REQID, K_DIRECTION, K_DOCTYPE, K_TEXT, K_SIGNATURE, K_DIGEST, K_REGNO, K_DATE };

static const struct ed_field {
	const char *name;
	enum ed_kind kind;
	int required;
	size_t max;                 /* characters (K_TEXT) or bytes */
} ed_fields[] = {
	{ "request_id", K_REQID, 0, ED_REQID_MAX },
	{ "direction", K_DIRECTION, 1, 3 },
	{ "doc_type", K_DOCTYPE, 1, 16 },
	{ "title", K_TEXT, 1, 500 },
	{ "correspondent", K_TEXT, 1, 300 },
	{ "author", K_TEXT, 1, 200 },
	{ "signed_by", K_TEXT, 1, 200 },
	{ "signature", K_SIGNATURE, 1, ED_SIG_MAX },
	{ "content_digest", K_DIGEST, 1, 64 },
	{ "related_to", K_REGNO, 0, ED_REGNO_LEN },
	{ "due_date", K_DATE, 0, 10 },
};
#define ED_N_FIELDS (sizeof(ed_fields) / sizeof(ed_fields[0]))
#define ED_FIELD_LIST "request_id, direction, doc_type, title, correspondent, author, " \
	"signed_by, signature, content_digest, related_to, due_date"

/* The codes of doc_types in schema.sql/seed.sql (README.md lists them). */
static const char *const ed_doc_types[] = {
	"letter", "application", "complaint", "request", "order",
	"decision", "certificate", "report", "reply", "other",
};
#define ED_DOC_TYPE_LIST "letter, application, complaint, request, order, decision, " \
	"certificate, report, reply, other"

/* The validated request; strings point into the normalised object. */
struct ed_input {
	const char *v[ED_N_FIELDS];  /* NULL: absent (optional fields) */
};

enum { F_REQID, F_DIRECTION, F_DOCTYPE, F_TITLE, F_CORRESPONDENT, F_AUTHOR, F_SIGNED_BY,
       F_SIGNATURE, F_DIGEST, F_RELATED, F_DUE };

/* Printable UTF-8 text of 1..max characters (no control characters). */
static int ed_text_ok(const char *s, size_t n, size_t max)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7F)
			return 0;
		chars += (ch & 0xC0) != 0x80;
	}
	return chars >= 1 && chars <= max;
}

static int ed_reqid_ok(const char *s, size_t n)
{
	if (n == 0 || n > ED_REQID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return 0;
	}
	return 1;
}

static int ed_doc_type_ok(const char *s)
{
	for (size_t i = 0; i < sizeof(ed_doc_types) / sizeof(ed_doc_types[0]); i++)
		if (strcmp(s, ed_doc_types[i]) == 0)
			return 1;
	return 0;
}

/* Validates one present, trimmed value v[0..n-1] (NUL-terminated copy in
 * buf) of field f; may rewrite buf into its normal form. 0, or -1 with res. */
static int ed_check_field(const struct ed_field *f, char *buf, size_t n, const struct ed_day *today,
			  struct adapter_result *res)
{
	char tmp[ED_REGNO_LEN];
	long d;

	switch (f->kind) {
	case K_REQID:
		if (ed_reqid_ok(buf, n))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "request_id must be 1-%d of A-Z a-z 0-9 "
				     "- _ . : (a UUID fits)", ED_REQID_MAX);
		return -1;
	case K_DIRECTION:
		if (strcmp(buf, "in") == 0 || strcmp(buf, "out") == 0)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "direction must be in (incoming) or out (outgoing)");
		return -1;
	case K_DOCTYPE:
		if (ed_doc_type_ok(buf))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "doc_type must be one of " ED_DOC_TYPE_LIST);
		return -1;
	case K_TEXT:
		if (ed_text_ok(buf, n, f->max))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be 1-%zu characters of text "
				     "without control characters (line breaks, tabs)", f->name, f->max);
		return -1;
	case K_SIGNATURE:
		if (n <= f->max)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "signature is larger than 64 KB (%zu "
				     "bytes of base64 at most); got %zu", f->max, n);
		return -1;
	case K_DIGEST:
		for (size_t i = 0; i < n; i++) {
			char ch = buf[i];

			if (ch >= 'A' && ch <= 'F')
				buf[i] = (char)(ch - 'A' + 'a');
			else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
				n = 0;
		}
		if (n == 64)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "content_digest must be the SHA-256 "
				     "of the document as 64 hexadecimal digits");
		return -1;
	case K_REGNO:
		if (n < ED_REGNO_LEN && ed_regno(buf, tmp, sizeof(tmp)) == 0) {
			memcpy(buf, tmp, strlen(tmp) + 1);
			return 0;
		}
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "related_to: " ED_REGNO_HINT);
		return -1;
	case K_DATE:
		if (ed_date(buf, &d) != 0) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT,
					     "due_date must be a date YYYY-MM-DD, e.g. 2026-03-20");
			return -1;
		}
		if (d < today->days) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT,
					     "due_date %s is in the past (today is %s)", buf, today->iso);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* Refuses keys that are not fields, so a misspelt optional field is not
 * silently dropped, and values that are not strings (or null). 0, or -1
 * with res. */
static int ed_check_keys(json_t *raw, struct adapter_result *res)
{
	const char *key;
	json_t *val;
	char echo[48];

	json_object_foreach(raw, key, val) {
		size_t i;

		for (i = 0; i < ED_N_FIELDS; i++)
			if (strcmp(key, ed_fields[i].name) == 0)
				break;
		if (i == ED_N_FIELDS) {
			ed_echo(key, 1, echo, sizeof(echo));
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "unknown field '%s'; a document "
					     "has " ED_FIELD_LIST, echo);
			return -1;
		}
		if (!json_is_string(val) && !json_is_null(val)) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a string", key);
			return -1;
		}
	}
	return 0;
}

/* One field of raw into norm. 0, or -1 with res. */
static int ed_take_field(const struct ed_field *f, json_t *raw, json_t *norm,
			 const struct ed_day *today, struct adapter_result *res)
{
	json_t *v = json_object_get(raw, f->name);
	const char *s;
	char *buf;
	size_t n;
	int rc;

	n = 0;
	s = v != NULL && json_is_string(v) ? ed_strip(json_string_value(v), &n) : "";
	if (n == 0) {
		if (f->required)
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s is missing", f->name);
		return f->required ? -1 : 0;
	}
	if (n > f->max * 4 && f->kind != K_SIGNATURE)   /* 4 bytes per character at most */
		n = f->max * 4 + 1;                     /* still refused, without copying it all */
	/* Room for the normal form, which may be longer (IN-2026-45). */
	buf = malloc(n + ED_REGNO_LEN + 1);
	if (buf != NULL) {
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	if (buf == NULL) {
		ed_oom(res);
		return -1;
	}
	rc = ed_check_field(f, buf, strlen(buf), today, res);
	if (rc == 0 && ed_set(norm, f->name, json_string(buf)) != 0) {
		ed_oom(res);
		rc = -1;
	}
	free(buf);
	return rc;
}

/* Validates the request object (JSON body or SOAP parameters, same rules)
 * into a new normalised object *norm (caller frees) that in points into.
 * 0, or -1 with res set. */
static int ed_input_build(json_t *raw, const struct ed_day *today, json_t **norm,
			  struct ed_input *in, struct adapter_result *res)
{
	json_t *o = json_object();

	*norm = NULL;
	if (o == NULL) {
		ed_oom(res);
		return -1;
	}
	if (ed_check_keys(raw, res) != 0)
		goto fail;
	for (size_t i = 0; i < ED_N_FIELDS; i++)
		if (ed_take_field(&ed_fields[i], raw, o, today, res) != 0)
			goto fail;
	for (size_t i = 0; i < ED_N_FIELDS; i++)
		in->v[i] = json_string_value(json_object_get(o, ed_fields[i].name));
	*norm = o;
	return 0;
fail:
	json_decref(o);
	return -1;
}

/* The request as an object: the JSON body (REST), or the parameters (SOAP
 * body elements, flat strings). Caller frees *raw. 0, or -1 with res. */
static int ed_raw_input(const struct adapter_call *call, json_t **raw, struct adapter_result *res)
{
	json_error_t err;
	char echo[96];

	*raw = NULL;
	if (call->body == NULL || call->body_len == 0) {
		*raw = call->params ? json_incref(call->params) : json_object();
		if (*raw == NULL)
			ed_oom(res);
		return *raw ? 0 : -1;
	}
	if (call->body_len > ED_BODY_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the request body is larger than %u "
				     "bytes", ED_BODY_MAX);
		return -1;
	}
	if (call->params != NULL && json_object_size(call->params) > 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "send the fields in the JSON body only, "
				     "not in the query string");
		return -1;
	}
	*raw = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (*raw == NULL) {
		ed_echo(err.text, 0, echo, sizeof(echo));
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body is not valid JSON: %s "
				     "(line %d, column %d)", echo, err.line, err.column);
		return -1;
	}
	if (!json_is_object(*raw)) {
		json_decref(*raw);
		*raw = NULL;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body must be a JSON object with "
				     "the fields " ED_FIELD_LIST);
		return -1;
	}
	return 0;
}

/* ---- registering ------------------------------------------------------ */

/* What one registration writes, besides the input. */
struct ed_reg {
	char number[ED_REGNO_LEN];
	char at[40];                 /* 2026-03-18T10:42:05+06:00 */
	char on[11];
	int year;
	long long seq;
	struct ed_sig sig;
	char digest[65];             /* of the normalised request */
	const char *client, *user_id;
};

/* The registration moment, read after BEGIN IMMEDIATE so that number order
 * and time order agree. */
static void ed_clock(struct ed_reg *r)
{
	time_t now = time(NULL);
	struct tm tm;
	long off;

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	strftime(r->on, sizeof(r->on), "%Y-%m-%d", &tm);
	snprintf(r->at, sizeof(r->at), "%sT%02d:%02d:%02d%c%02ld:%02ld", r->on, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
	r->year = tm.tm_year + 1900;
}

static json_t *ed_reg_answer(const char *number, const char *at, const char *sha)
{
	return json_pack("{s:s,s:s,s:s}", "registration_number", number, "registered_at", at,
			 "signature_sha256", sha);
}

/* A request_id seen before from this client: the same request gets the
 * first answer again, a different one is refused. 1 answered (res set),
 * 0 new, -1 error. */
static int ed_replay(struct ed_ctx *c, const struct adapter_call *call, const struct ed_input *in,
		     const struct ed_reg *r, struct adapter_result *res)
{
	const char *const v[] = { r->client, in->v[F_REQID] };
	sqlite3_stmt *st;
	int rc;

	if (in->v[F_REQID] == NULL)
		return 0;
	st = ed_bind(c, ST_BY_REQUEST, 2, v);
	if ((rc = ed_step(c, call, st, res)) <= 0)
		return rc;
	if (ed_text(st, 3) != NULL && strcmp(ed_text(st, 3), r->digest) == 0) {
		res->data = ed_reg_answer(ed_text(st, 0), ed_text(st, 1), ed_text(st, 2));
		if (res->data == NULL)
			ed_oom(res);
		else
			ed_log(c, ADAPTER_LOG_INFO, call->message_id, "request_id %s repeated: answered "
			       "%s again", in->v[F_REQID], ed_text(st, 0));
	} else {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "request_id %s was already used for "
				     "%s with different content; use a new request_id for a new "
				     "document", in->v[F_REQID], ed_text(st, 0));
	}
	sqlite3_reset(st);
	return 1;
}

/* Checks related_to; *closes is set if registering this document ends the
 * execution control of the related one: it is under control, not executed
 * yet, and this document goes the other way (a reply). 0, or -1 with res. */
static int ed_related(struct ed_ctx *c, const struct adapter_call *call, const struct ed_input *in,
		      int *closes, struct adapter_result *res)
{
	const char *const v[] = { in->v[F_RELATED] };
	sqlite3_stmt *st;
	int rc;

	*closes = 0;
	if (in->v[F_RELATED] == NULL)
		return 0;
	st = ed_bind(c, ST_RELATED, 1, v);
	if ((rc = ed_step(c, call, st, res)) < 0)
		return -1;
	if (rc == 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "related_to %s is not in the register",
				     in->v[F_RELATED]);
		return -1;
	}
	*closes = strcmp(ed_text(st, 0), in->v[F_DIRECTION]) != 0 &&
		  sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_type(st, 2) == SQLITE_NULL;
	sqlite3_reset(st);
	return 0;
}

/* Takes the next number of the register and year into r->number. */
static int ed_next_number(struct ed_ctx *c, const struct adapter_call *call, const char *direction,
			  struct ed_reg *r, struct adapter_result *res)
{
	sqlite3_stmt *st = c->st[ST_NEXT_SEQ];

	sqlite3_reset(st);
	if (sqlite3_bind_text(st, 1, direction, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, r->year) != SQLITE_OK || ed_step(c, call, st, res) != 1) {
		if (res->status == ADAPTER_OK)
			ed_db_error(c, call, res);
		return -1;
	}
	r->seq = (long long)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	snprintf(r->number, sizeof(r->number), "%s-%04d-%06lld", ed_prefix_of(direction), r->year,
		 r->seq);
	return 0;
}

static int ed_insert(struct ed_ctx *c, const struct adapter_call *call, const struct ed_input *in,
		     const struct ed_reg *r, struct adapter_result *res)
{
	/* NULL at ?3, ?4, ?12: the integers are bound after the texts. */
	const char *const v[] = {
		r->number, in->v[F_DIRECTION], NULL, NULL, in->v[F_DOCTYPE], in->v[F_TITLE],
		in->v[F_CORRESPONDENT], in->v[F_AUTHOR], in->v[F_SIGNED_BY], in->v[F_SIGNATURE],
		r->sig.sha256, NULL, in->v[F_DIGEST], in->v[F_RELATED], r->at, r->on, in->v[F_DUE],
		r->client, r->user_id, in->v[F_REQID], in->v[F_REQID] ? r->digest : NULL,
	};
	sqlite3_stmt *st = ed_bind(c, ST_INSERT, (int)(sizeof(v) / sizeof(v[0])), v);

	if (st != NULL && (sqlite3_bind_int(st, 3, r->year) != SQLITE_OK ||
			   sqlite3_bind_int64(st, 4, r->seq) != SQLITE_OK ||
			   sqlite3_bind_int64(st, 12, r->sig.size) != SQLITE_OK))
		st = NULL;
	return ed_run(c, call, st, res);
}

/* The steps inside the transaction; 0 to commit, 1 answered without a
 * change (replay), -1 error (res set). */
static int ed_register_steps(struct ed_ctx *c, const struct adapter_call *call,
			     const struct ed_input *in, struct ed_reg *r, struct adapter_result *res)
{
	int rc, closes;

	if ((rc = ed_replay(c, call, in, r, res)) != 0)
		return rc;
	if (ed_related(c, call, in, &closes, res) != 0)
		return -1;
	ed_clock(r);
	if (ed_next_number(c, call, in->v[F_DIRECTION], r, res) != 0 || ed_insert(c, call, in, r, res) != 0)
		return -1;
	if (closes) {
		const char *const v[] = { in->v[F_RELATED], r->on, r->number };

		if (ed_run(c, call, ed_bind(c, ST_EXECUTE, 3, v), res) != 0)
			return -1;
	}
	return 0;
}

static void ed_register_tx(struct ed_ctx *c, const struct adapter_call *call,
			   const struct ed_input *in, struct ed_reg *r, struct adapter_result *res)
{
	int rc;

	if (ed_run(c, call, c->st[ST_BEGIN], res) != 0)
		return;
	rc = ed_register_steps(c, call, in, r, res);
	if (rc == 0 && ed_run(c, call, c->st[ST_COMMIT], res) == 0) {
		res->data = ed_reg_answer(r->number, r->at, r->sig.sha256);
		if (res->data == NULL)
			ed_oom(res);   /* registered all the same: a retry with request_id gets it */
		ed_log(c, ADAPTER_LOG_INFO, call->message_id, "registered %s for %s", r->number,
		       r->client);
		return;
	}
	/* Replay, refusal or failure: nothing of this call stays. */
	if (sqlite3_get_autocommit(c->db) == 0) {
		sqlite3_reset(c->st[ST_ROLLBACK]);
		if (sqlite3_step(c->st[ST_ROLLBACK]) != SQLITE_DONE)
			c->reopen = 1;   /* a fresh connection has no transaction open */
		sqlite3_reset(c->st[ST_ROLLBACK]);
	}
}

static void ed_register(struct ed_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	json_t *raw = NULL, *norm = NULL, *copy = NULL;
	struct ed_input in;
	struct ed_reg r;
	struct ed_day today;
	char *canon = NULL;

	memset(&r, 0, sizeof(r));
	ed_today(&today);
	if (ed_raw_input(call, &raw, res) != 0 || ed_input_build(raw, &today, &norm, &in, res) != 0 ||
	    ed_signature(in.v[F_SIGNATURE], &r.sig, res) != 0)
		goto out;
	/* The request's fingerprint for request_id replays: the normalised
	 * fields, sorted, without the request_id itself. */
	copy = json_copy(norm);
	if (copy != NULL)
		json_object_del(copy, "request_id");
	if (copy == NULL || (canon = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT)) == NULL ||
	    ed_sha256_hex(canon, strlen(canon), r.digest) != 0) {
		ed_oom(res);
		goto out;
	}
	r.client = call->client ? call->client : "";
	r.user_id = call->user_id ? call->user_id : "";
	ed_register_tx(c, call, &in, &r, res);
out:
	free(canon);
	json_decref(copy);
	json_decref(norm);
	json_decref(raw);
}

/* ---- reading ---------------------------------------------------------- */

/* Numbers of the documents that name this one in related_to. */
static json_t *ed_refs(struct ed_ctx *c, const struct adapter_call *call, const char *number,
		       struct adapter_result *res)
{
	const char *const v[] = { number };
	sqlite3_stmt *st = ed_bind(c, ST_REFS, 1, v);
	json_t *a = json_array();
	int rc;

	if (st == NULL || sqlite3_bind_int(st, 2, ED_REFS_MAX) != SQLITE_OK) {
		json_decref(a);
		ed_db_error(c, call, res);
		return NULL;
	}
	if (a == NULL) {
		ed_oom(res);
		return NULL;
	}
	while ((rc = ed_step(c, call, st, res)) == 1) {
		if (json_array_append_new(a, ed_col(st, 0)) != 0) {
			sqlite3_reset(st);
			ed_oom(res);
			rc = -1;
			break;
		}
	}
	if (rc < 0) {
		json_decref(a);
		return NULL;
	}
	sqlite3_reset(st);
	return a;
}

static const char *const ed_doc_keys[] = {
	"registration_number", "direction", "doc_type", "doc_type_ru", "doc_type_ky", "title",
	"correspondent", "author", "signed_by", "registered_at", "registered_on",
	"content_digest", "signature_sha256",
};

/* One row of ST_DOCUMENT as JSON (caller owns), or NULL. */
static json_t *ed_document_json(sqlite3_stmt *st, long today)
{
	json_t *o = json_object();
	int bad = o == NULL;

	for (size_t i = 0; i < sizeof(ed_doc_keys) / sizeof(ed_doc_keys[0]); i++)
		bad |= ed_set(o, ed_doc_keys[i], ed_col(st, (int)i));
	bad |= ed_set(o, "signature_size", json_integer(sqlite3_column_int64(st, 13)));
	bad |= ed_set(o, "signature", ed_col(st, 14));
	bad |= ed_set(o, "related_to", ed_col(st, 15));
	bad |= ed_set(o, "execution", ed_execution(st, 16, 17, 18, today));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void ed_document(struct ed_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char in[ED_REGNO_LEN], number[ED_REGNO_LEN];
	struct ed_day today;
	sqlite3_stmt *st;
	json_t *o, *refs;
	int rc;

	if (ed_param(call, "number", in, sizeof(in)) != 0 || ed_regno(in, number, sizeof(number)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s" ED_REGNO_HINT,
				     in[0] == '\0' ? "number is missing; " : "");
		return;
	}
	ed_today(&today);
	st = ed_bind(c, ST_DOCUMENT, 1, (const char *const[]){ number });
	if ((rc = ed_step(c, call, st, res)) <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no document %s in the register", number);
		sqlite3_reset(st);
		return;
	}
	o = ed_document_json(st, today.days);
	sqlite3_reset(st);
	if (o == NULL) {
		ed_oom(res);
		return;
	}
	refs = ed_refs(c, call, number, res);
	if (refs == NULL || ed_set(o, "referenced_by", refs) != 0) {
		if (refs != NULL)
			ed_oom(res);
		json_decref(o);
		return;
	}
	res->data = o;
}

/* A date parameter: required or defaulting to today, never after today
 * when not_future. 0, or -1 with res. */
static int ed_date_param(const struct adapter_call *call, const char *name, int required,
			 const struct ed_day *today, char *out, long *days, struct adapter_result *res)
{
	if (ed_param(call, name, out, 11) != 0 || (out[0] != '\0' && ed_date(out, days) != 0)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a date YYYY-MM-DD, "
				     "e.g. 2026-03-01", name);
		return -1;
	}
	if (out[0] == '\0' && required) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s is missing (a date YYYY-MM-DD)", name);
		return -1;
	}
	if (out[0] == '\0') {
		memcpy(out, today->iso, 11);
		*days = today->days;
	}
	return 0;
}

/* Appends the rows of st (limit ED_LIST_MAX + 1 bound) to arr via fn;
 * sets *truncated. 0, or -1 with res. */
typedef json_t *(*ed_row_fn)(sqlite3_stmt *st, long on);
static int ed_rows(struct ed_ctx *c, const struct adapter_call *call, sqlite3_stmt *st, ed_row_fn fn,
		   long on, json_t *arr, int *truncated, struct adapter_result *res)
{
	int rc;

	*truncated = 0;
	while ((rc = ed_step(c, call, st, res)) == 1) {
		if (json_array_size(arr) == ED_LIST_MAX) {
			*truncated = 1;
			break;
		}
		if (json_array_append_new(arr, fn(st, on)) != 0) {
			sqlite3_reset(st);
			ed_oom(res);
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

static json_t *ed_list_row(sqlite3_stmt *st, long today)
{
	json_t *ex = ed_execution(st, 6, 7, 7, today);
	json_t *o = ex ? json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:O}", "registration_number",
				   ed_col(st, 0), "direction", ed_col(st, 1), "doc_type", ed_col(st, 2),
				   "title", ed_col(st, 3), "correspondent", ed_col(st, 4),
				   "registered_on", ed_col(st, 5), "due_date", ed_col(st, 6),
				   "execution_status", json_object_get(ex, "status")) : NULL;

	json_decref(ex);
	return o;
}

/* Runs st (its other parameters bound) with the list limit at ?limit_at
 * into a new array *arr (caller owns). 0, or -1 with res. */
static int ed_list(struct ed_ctx *c, const struct adapter_call *call, sqlite3_stmt *st, int limit_at,
		   ed_row_fn fn, long on, json_t **arr, int *truncated, struct adapter_result *res)
{
	*arr = NULL;
	if (st == NULL || sqlite3_bind_int(st, limit_at, ED_LIST_MAX + 1) != SQLITE_OK) {
		ed_db_error(c, call, res);
		return -1;
	}
	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		ed_oom(res);
		return -1;
	}
	if (ed_rows(c, call, st, fn, on, *arr, truncated, res) != 0) {
		json_decref(*arr);
		*arr = NULL;
		return -1;
	}
	return 0;
}

static void ed_documents(struct ed_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char from[11], to[11], dir[8];
	long from_d, to_d;
	struct ed_day today;
	sqlite3_stmt *st;
	json_t *arr;
	int truncated;

	ed_today(&today);
	if (ed_date_param(call, "from", 1, &today, from, &from_d, res) != 0 ||
	    ed_date_param(call, "to", 1, &today, to, &to_d, res) != 0)
		return;
	if (ed_param(call, "direction", dir, sizeof(dir)) != 0 ||
	    (dir[0] && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "direction must be in or out, or absent "
				     "for both registers");
		return;
	}
	if (to_d < from_d || to_d - from_d + 1 > ED_RANGE_DAYS_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "from %s to %s is not a range of 1-%d "
				     "days (to must not be before from)", from, to, ED_RANGE_DAYS_MAX);
		return;
	}
	st = ed_bind(c, ST_LIST, 3, (const char *const[]){ from, to, dir[0] ? dir : NULL });
	if (ed_list(c, call, st, 4, ed_list_row, today.days, &arr, &truncated, res) != 0)
		return;
	res->data = json_pack("{s:s,s:s,s:o,s:I,s:b,s:o}", "from", from, "to", to, "direction",
			      dir[0] ? json_string(dir) : json_null(), "count",
			      (json_int_t)json_array_size(arr), "truncated", truncated, "documents", arr);
	if (res->data == NULL)
		ed_oom(res);
}

static json_t *ed_control_row(sqlite3_stmt *st, long on)
{
	long due = 0;
	const char *d = ed_text(st, 6);
	int overdue = d != NULL && ed_date(d, &due) == 0 && on > due;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:I}", "registration_number", ed_col(st, 0),
			 "direction", ed_col(st, 1), "doc_type", ed_col(st, 2), "title", ed_col(st, 3),
			 "correspondent", ed_col(st, 4), "registered_on", ed_col(st, 5),
			 "due_date", ed_col(st, 6), "status", overdue ? "overdue" : "in_progress",
			 "days_overdue", (json_int_t)(overdue ? on - due : 0));
}

/* The documents under execution control that are not executed as of `on`
 * (default today): what a clerk has to chase. */
static void ed_execution_status(struct ed_ctx *c, const struct adapter_call *call,
				struct adapter_result *res)
{
	char on[11];
	long on_d;
	struct ed_day today;
	sqlite3_stmt *st;
	json_t *arr, *row;
	json_int_t overdue = 0;
	int truncated;
	size_t i;

	ed_today(&today);
	if (ed_date_param(call, "on", 0, &today, on, &on_d, res) != 0)
		return;
	if (on_d > today.days) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "on %s is after today (%s)", on, today.iso);
		return;
	}
	st = ed_bind(c, ST_CONTROL, 1, (const char *const[]){ on });
	if (ed_list(c, call, st, 2, ed_control_row, on_d, &arr, &truncated, res) != 0)
		return;
	json_array_foreach(arr, i, row)
		overdue += strcmp(json_string_value(json_object_get(row, "status")), "overdue") == 0;
	res->data = json_pack("{s:s,s:I,s:I,s:b,s:o}", "on", on, "overdue_count", overdue,
			      "in_progress_count", (json_int_t)json_array_size(arr) - overdue,
			      "truncated", truncated, "documents", arr);
	if (res->data == NULL)
		ed_oom(res);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*ed_fn)(struct ed_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const ed_no_params[] = { NULL };
static const char *const ed_number_params[] = { "number", NULL };

static const struct adapter_service ed_services[] = {
	{ "register-document", "POST", ed_no_params,
	  "Register an incoming or outgoing signed document; answers its registration number" },
	{ "document", "GET", ed_number_params,
	  "A registered document by registration number, with signature digest and execution status" },
	{ "documents", "GET", ed_no_params,
	  "Documents registered between two dates (at most 366 days), optionally one register" },
	{ "execution-status", "GET", ed_no_params,
	  "Documents under execution control not executed as of a date: in progress and overdue" },
};

static const ed_fn ed_handlers[] = { ed_register, ed_document, ed_documents, ed_execution_status };

_Static_assert(sizeof(ed_services) / sizeof(ed_services[0]) ==
	       sizeof(ed_handlers) / sizeof(ed_handlers[0]), "one handler per service");

#define ED_N_SERVICES (sizeof(ed_services) / sizeof(ed_services[0]))

/* GET services answer GET (REST) or POST (SOAP); register-document POST only. */
static int ed_method_ok(const struct adapter_service *s, const char *method)
{
	if (method == NULL || strcmp(method, "POST") == 0)
		return 1;
	return strcmp(s->method, "GET") == 0 && strcmp(method, "GET") == 0;
}

static void ed_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct ed_ctx *c = vctx;
	struct adapter_result res;
	char why[512];
	size_t i;

	memset(&res, 0, sizeof(res));
	for (i = 0; i < ED_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, ed_services[i].code) == 0)
			break;
	if (i == ED_N_SERVICES) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the document register has no such service");
	} else if (!ed_method_ok(&ed_services[i], call->method)) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers %s", ed_services[i].code,
				     strcmp(ed_services[i].method, "GET") == 0 ?
				     "GET (REST) or POST (SOAP)" : "POST");
	} else if (c->db == NULL && ed_open(c, why, sizeof(why)) != 0) {
		ed_log(c, ADAPTER_LOG_ERROR, call->message_id, "document register unavailable: %s", why);
		adapter_result_error(&res, ADAPTER_UNAVAILABLE, ED_UNAVAILABLE);
	} else {
		ed_handlers[i](c, call, &res);
	}
	/* Close only after the statements are done with, so the next call
	 * opens the file afresh. */
	if (c->reopen)
		ed_close(c);
	if (res.status != ADAPTER_OK)
		ed_log(c, ADAPTER_LOG_DEBUG, call->message_id, "%s: %s", call->service_code ?
		       call->service_code : "?", adapter_status_name(res.status));
	done(&res, arg);
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int ed_config_str(const struct adapter_host *host, const char *key, const char *def,
			 char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int ed_config(struct ed_ctx *c, const struct adapter_host *host, char **err)
{
	char def[ED_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/edocs.db", host->data_dir ? host->data_dir : ".");
	if (ed_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    ed_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/edocs", c->sql_dir,
			  sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.edocs] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = ED_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > ED_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.edocs] busy_timeout_ms: '%.32s' is not a number of "
				     "milliseconds 0..%d", v, ED_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int ed_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct ed_ctx *c = calloc(1, sizeof(*c));
	char why[512];

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (ed_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	if (ed_open(c, why, sizeof(why)) != 0)
		ed_log(c, ADAPTER_LOG_ERROR, NULL, "document register unavailable: %s", why);
	*vctx = c;
	return 0;
}

static void ed_free(void *vctx)
{
	struct ed_ctx *c = vctx;

	if (c == NULL)
		return;
	ed_close(c);
	free(c);
}

const struct adapter_ops edocs_adapter = {
	.name = "edocs",
	.services = ed_services,
	.n_services = ED_N_SERVICES,
	.init = ed_init,
	.handle = ed_handle,
	.free = ed_free,
};
