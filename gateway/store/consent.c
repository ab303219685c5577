/* Consents in SQLite, the one-time code channels, and the pipeline's gate.
 * See consent.h for the contract and the life of a consent. */
#include "store/consent.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/crypto.h"

#define CONSENT_APP_ID 0x4147434e   /* "AGCN" */
#define SALT_LEN 16
#define CODE_LEN 6
#define PATH_MAX_LEN 4096

static const char consent_schema[] =
	"CREATE TABLE consents ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"   /* ids are never reused */
	" member TEXT NOT NULL,"
	" subsystem TEXT NOT NULL,"
	" subject TEXT NOT NULL,"
	" purpose TEXT NOT NULL,"
	" end_date TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'withdrawn', 'void')),"
	" void_reason TEXT NOT NULL DEFAULT '',"
	" code_salt BLOB,"                          /* NULL once no longer pending */
	" code_hash BLOB,"
	" code_expires_at INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" requested_at INTEGER NOT NULL,"
	" confirmed_at INTEGER,"
	" withdrawn_at INTEGER,"
	" voided_at INTEGER);"
	"CREATE INDEX consents_member_subject ON consents (member, subject, id);"
	"CREATE INDEX consents_subject ON consents (subject, id);";

#define COLS "id, member, subsystem, subject, purpose, end_date, status, void_reason," \
	" code_expires_at, attempts, requested_at, confirmed_at, withdrawn_at, code_salt, code_hash"
enum { C_ID, C_MEMBER, C_SUBSYSTEM, C_SUBJECT, C_PURPOSE, C_END, C_STATUS, C_VOID_REASON,
       C_CODE_EXPIRES, C_ATTEMPTS, C_REQUESTED, C_CONFIRMED, C_WITHDRAWN, C_SALT, C_HASH };

enum cs_stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_OPEN_COUNT, ST_INSERT, ST_GET, ST_VOID, ST_ATTEMPT, ST_ACTIVATE, ST_WITHDRAW,
	ST_LIST, ST_ACTIVE_FOR, ST_NEWEST_FOR,
	ST_COUNT
};

static const char *const cs_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_OPEN_COUNT] = "SELECT count(*) FROM consents WHERE member = ?1 AND subject = ?2"
			  " AND status = 'pending' AND code_expires_at >= ?3",
	[ST_INSERT] = "INSERT INTO consents (member, subsystem, subject, purpose, end_date, status,"
		      " code_salt, code_hash, code_expires_at, requested_at)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9)",
	[ST_GET] = "SELECT " COLS " FROM consents WHERE id = ?1",
	[ST_VOID] = "UPDATE consents SET status = 'void', void_reason = ?2, voided_at = ?3,"
		    " code_salt = NULL, code_hash = NULL WHERE id = ?1 AND status = 'pending'",
	[ST_ATTEMPT] = "UPDATE consents SET attempts = attempts + 1 WHERE id = ?1",
	[ST_ACTIVATE] = "UPDATE consents SET status = 'active', confirmed_at = ?2,"
			" code_salt = NULL, code_hash = NULL WHERE id = ?1 AND status = 'pending'",
	[ST_WITHDRAW] = "UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2,"
			" code_salt = NULL, code_hash = NULL"
			" WHERE id = ?1 AND status IN ('pending', 'active')",
	[ST_LIST] = "SELECT " COLS " FROM consents WHERE subject = ?1 ORDER BY id DESC LIMIT ?2",
	[ST_ACTIVE_FOR] = "SELECT " COLS " FROM consents WHERE member = ?1 AND subject = ?2"
			  " AND status = 'active' AND end_date >= ?3 ORDER BY id DESC LIMIT 1",
	[ST_NEWEST_FOR] = "SELECT " COLS " FROM consents WHERE member = ?1 AND subject = ?2"
			  " ORDER BY id DESC LIMIT 1",
};

struct consent_store {
	char *path;
	sqlite3 *db;                 /* NULL while closed */
	sqlite3_stmt *st[ST_COUNT];
	int broken;                  /* close at the end of this call */
	int code_ttl;
};

static void why_set(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

const char *consent_status_name(enum consent_status s)
{
	switch (s) {
	case CONSENT_PENDING: return "pending";
	case CONSENT_ACTIVE: return "active";
	case CONSENT_WITHDRAWN: return "withdrawn";
	case CONSENT_EXPIRED: return "expired";
	case CONSENT_VOID: return "void";
	}
	return "void";
}

/* ---- days and times (local) ------------------------------------------------ */

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static long days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
	long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void day_iso(long z, char out[11])
{
	int y, m, d;

	civil_from_days(z, &y, &m, &d);
	/* the ranges tell the compiler it fits */
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
}

/* The local day of t. */
static long local_day(time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Strict YYYY-MM-DD, a real day, years 1900..9999. 0 with *z, or -1. */
static int date_parse(const char *s, long *z)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, leap;

	if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
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
	*z = days_from_civil(y, m, d);
	return 0;
}

void consent_format_date(time_t t, char out[11])
{
	day_iso(local_day(t), out);
}

void consent_format_time(time_t t, char out[32])
{
	struct tm tm;
	char z[8];
	size_t n;

	if (localtime_r(&t, &tm) == NULL || (n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)) == 0 ||
	    strftime(z, sizeof(z), "%z", &tm) != 5) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	/* +0600 -> +06:00 (RFC 3339) */
	snprintf(out + n, 32 - n, "%.3s:%.2s", z, z + 3);
}

/* ---- input ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (s[0] != 0), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 :
		   s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (n == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
	    (n == 4 && s[0] == 0xF0 && s[1] < 0x90) || (n == 4 && s[0] == 0xF4 && s[1] >= 0x90))
		return 0;   /* overlong, surrogate, above U+10FFFF */
	return n;
}

/* 1..max characters of UTF-8 without control characters, not only spaces. */
static int text_ok(const char *s, size_t max_chars)
{
	size_t chars = 0, n;
	int visible = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p += n) {
		if ((n = utf8_seq(p)) == 0 || *p < 0x20 || *p == 0x7F || ++chars > max_chars)
			return 0;
		visible |= *p != ' ';
	}
	return visible;
}

/* 1..32 ASCII letters, digits or '-': a PIN, or whatever names a person. */
static int subject_ok(const char *s)
{
	size_t n = s ? strnlen(s, CONSENT_SUBJECT_MAX + 1) : 0;

	if (n == 0 || n > CONSENT_SUBJECT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return 0;
	return 1;
}

/* "CLASS/CODE": printable ASCII without spaces, one '/'. */
static int member_ok(const char *s)
{
	size_t n = s ? strnlen(s, CONSENT_MEMBER_MAX) : 0;
	const char *slash = n ? strchr(s, '/') : NULL;

	if (n < 3 || n >= CONSENT_MEMBER_MAX || !slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

static enum consent_rc ask_check(const struct consent_ask *a, time_t now, char *why, size_t len)
{
	long end, today = local_day(now);
	char last[11];

	if (!member_ok(a->member)) {
		why_set(why, len, "the asking member must be CLASS/CODE, e.g. COM/60000001");
		return CONSENT_ERR_INPUT;
	}
	if (a->subsystem && strlen(a->subsystem) >= CONSENT_SUBSYSTEM_MAX) {
		why_set(why, len, "the asking subsystem code is longer than %d bytes",
			CONSENT_SUBSYSTEM_MAX - 1);
		return CONSENT_ERR_INPUT;
	}
	if (!subject_ok(a->subject)) {
		why_set(why, len, "pin must name the person: 1-%d digits or letters", CONSENT_SUBJECT_MAX);
		return CONSENT_ERR_INPUT;
	}
	if (a->purpose == NULL || !text_ok(a->purpose, CONSENT_PURPOSE_CHARS)) {
		why_set(why, len, "purpose must say what the data is for: 1-%d characters of text "
			"without line breaks", CONSENT_PURPOSE_CHARS);
		return CONSENT_ERR_INPUT;
	}
	day_iso(today + CONSENT_DAYS_MAX, last);
	if (date_parse(a->end_date, &end) != 0) {
		why_set(why, len, "end_date must be a date YYYY-MM-DD, the last day the consent holds "
			"(at most %s)", last);
		return CONSENT_ERR_INPUT;
	}
	if (end <= today || end > today + CONSENT_DAYS_MAX) {
		why_set(why, len, "end_date %s must be after today and at most %d days on (%s)",
			a->end_date, CONSENT_DAYS_MAX, last);
		return CONSENT_ERR_INPUT;
	}
	return CONSENT_OK;
}

/* ---- statements ---------------------------------------------------------- */

static void cs_close_db(struct consent_store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
	}
	sqlite3_close(s->db);
	s->db = NULL;
	s->broken = 0;
}

static enum consent_rc cs_ready(struct consent_store *s, char *why, size_t len)
{
	const struct accesslog_db_spec spec = {
		.path = s->path,
		.kind = "an ailgate consent store",
		.application_id = CONSENT_APP_ID,
		.schema = consent_schema,
		.pragmas = "PRAGMA synchronous=FULL",
		.busy_ms = CONSENT_BUSY_MS,
	};

	if (s->db != NULL)
		return CONSENT_OK;
	if (accesslog_db_open(&spec, &s->db, why, len) != 0)
		return CONSENT_ERR_DB;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, cs_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK) {
			why_set(why, len, "%s is not an ailgate consent store: %s", s->path,
				sqlite3_errmsg(s->db));
			cs_close_db(s);
			return CONSENT_ERR_DB;
		}
	}
	return CONSENT_OK;
}

/* Statement i, reset, bindings cleared. */
static sqlite3_stmt *cs_st(struct consent_store *s, enum cs_stmt i)
{
	sqlite3_reset(s->st[i]);
	sqlite3_clear_bindings(s->st[i]);
	return s->st[i];
}

static int bind_t(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static int bind_i(sqlite3_stmt *st, int i, long long v)
{
	return sqlite3_bind_int64(st, i, v);
}

/* A statement failed (or could not be bound): why for the operator. */
static enum consent_rc cs_fail(struct consent_store *s, sqlite3_stmt *st, char *why, size_t len)
{
	int rc = sqlite3_errcode(s->db);

	why_set(why, len, "consent store %s: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	if (accesslog_db_broken(rc))
		s->broken = 1;
	return CONSENT_ERR_DB;
}

/* Steps st: 1 row, 0 done (reset), -1 failed (why set). */
static int cs_step(struct consent_store *s, sqlite3_stmt *st, char *why, size_t len)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	cs_fail(s, st, why, len);
	return -1;
}

/* Runs a statement that returns no rows. */
static enum consent_rc cs_exec(struct consent_store *s, sqlite3_stmt *st, char *why, size_t len)
{
	return cs_step(s, st, why, len) < 0 ? CONSENT_ERR_DB : CONSENT_OK;
}

static enum consent_rc cs_begin(struct consent_store *s, char *why, size_t len)
{
	enum consent_rc rc = cs_ready(s, why, len);

	return rc != CONSENT_OK ? rc : cs_exec(s, cs_st(s, ST_BEGIN), why, len);
}

/* Ends the transaction cs_begin opened: a store failure rolls back; every
 * other outcome commits what it wrote (a counted wrong code, a voided
 * request). A broken file is closed for the next call to reopen. */
static enum consent_rc cs_end(struct consent_store *s, enum consent_rc rc, char *why, size_t len)
{
	if (s->db != NULL && !sqlite3_get_autocommit(s->db)) {
		if (rc != CONSENT_ERR_DB && cs_exec(s, cs_st(s, ST_COMMIT), why, len) != CONSENT_OK)
			rc = CONSENT_ERR_DB;
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (s->broken)
		cs_close_db(s);
	return rc;
}

/* ---- rows --------------------------------------------------------------------- */

static void col_copy(char *out, size_t cap, sqlite3_stmt *st, int i)
{
	accesslog_copy_utf8(out, cap, (const char *)sqlite3_column_text(st, i));
}

/* The row as reported, its status as of now. */
static void row_info(sqlite3_stmt *st, time_t now, struct consent_info *c)
{
	const char *status = (const char *)sqlite3_column_text(st, C_STATUS);
	long end = 0;

	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(st, C_ID);
	col_copy(c->member, sizeof(c->member), st, C_MEMBER);
	col_copy(c->subsystem, sizeof(c->subsystem), st, C_SUBSYSTEM);
	col_copy(c->subject, sizeof(c->subject), st, C_SUBJECT);
	col_copy(c->purpose, sizeof(c->purpose), st, C_PURPOSE);
	col_copy(c->end_date, sizeof(c->end_date), st, C_END);
	c->code_expires_at = (time_t)sqlite3_column_int64(st, C_CODE_EXPIRES);
	c->requested_at = (time_t)sqlite3_column_int64(st, C_REQUESTED);
	c->confirmed_at = (time_t)sqlite3_column_int64(st, C_CONFIRMED);
	c->withdrawn_at = (time_t)sqlite3_column_int64(st, C_WITHDRAWN);
	status = status ? status : "void";
	if (strcmp(status, "pending") == 0 && now > c->code_expires_at) {
		c->status = CONSENT_VOID;
		snprintf(c->void_reason, sizeof(c->void_reason), "the code expired unconfirmed");
	} else if (strcmp(status, "pending") == 0) {
		c->status = CONSENT_PENDING;
		c->attempts_left = CONSENT_ATTEMPTS_MAX - sqlite3_column_int(st, C_ATTEMPTS);
	} else if (strcmp(status, "active") == 0) {
		c->status = date_parse(c->end_date, &end) == 0 && end >= local_day(now) ? CONSENT_ACTIVE
											: CONSENT_EXPIRED;
	} else if (strcmp(status, "withdrawn") == 0) {
		c->status = CONSENT_WITHDRAWN;
	} else {
		c->status = CONSENT_VOID;
		col_copy(c->void_reason, sizeof(c->void_reason), st, C_VOID_REASON);
	}
}

/* The consent id as the person's or NOT_FOUND. *st is left on its row. */
static enum consent_rc cs_get(struct consent_store *s, long long id, const char *subject,
			      sqlite3_stmt **out, char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_GET);
	const char *who;
	int rc;

	if (bind_i(st, 1, id) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	if ((rc = cs_step(s, st, why, len)) < 0)
		return CONSENT_ERR_DB;
	who = rc == 1 ? (const char *)sqlite3_column_text(st, C_SUBJECT) : NULL;
	if (who == NULL || subject == NULL || strcmp(who, subject) != 0) {
		sqlite3_reset(st);
		/* someone else's consent reads as no consent: ids are not secrets,
		   but whose they are is */
		why_set(why, len, "no consent %lld of this person", id);
		return CONSENT_ERR_NOT_FOUND;
	}
	*out = st;
	return CONSENT_OK;
}

/* Re-reads consent id into *out (when out is not NULL). */
static enum consent_rc cs_reread(struct consent_store *s, long long id, time_t now,
				 struct consent_info *out, char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_GET);
	int rc;

	if (out == NULL)
		return CONSENT_OK;
	if (bind_i(st, 1, id) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	if ((rc = cs_step(s, st, why, len)) != 1) {
		if (rc == 0)
			why_set(why, len, "consent store %s: consent %lld vanished", s->path, id);
		return CONSENT_ERR_DB;
	}
	row_info(st, now, out);
	sqlite3_reset(st);
	return CONSENT_OK;
}

/* Why a consent that is not pending cannot be confirmed (or withdrawn). */
static void not_pending_why(const struct consent_info *c, char *why, size_t len)
{
	char on[11];

	switch (c->status) {
	case CONSENT_ACTIVE:
		why_set(why, len, "consent %lld is already confirmed (valid through %s)", c->id, c->end_date);
		break;
	case CONSENT_WITHDRAWN:
		consent_format_date(c->withdrawn_at, on);
		why_set(why, len, "consent %lld was withdrawn on %s", c->id, on);
		break;
	case CONSENT_EXPIRED:
		why_set(why, len, "consent %lld ended on %s", c->id, c->end_date);
		break;
	default:
		why_set(why, len, "consent %lld is void (%s); the bank has to ask again", c->id,
			c->void_reason);
		break;
	}
}

/* ---- the store ------------------------------------------------------------ */

int consent_store_open(const char *path, struct consent_store **out, char **err)
{
	struct consent_store *s;
	char why[1024];

	*out = NULL;
	if (err)
		*err = NULL;
	if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX_LEN) {
		if (err)
			*err = strdup("consent store: no file name given, or one too long");
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		if (err)
			*err = strdup("consent store: out of memory");
		return -1;
	}
	s->code_ttl = CONSENT_CODE_TTL_DEFAULT;
	if (cs_ready(s, why, sizeof(why)) != CONSENT_OK && err)
		*err = strdup(why);   /* not fatal: every call retries */
	*out = s;
	return 0;
}

void consent_store_close(struct consent_store **s)
{
	if (s == NULL || *s == NULL)
		return;
	cs_close_db(*s);
	free((*s)->path);
	free(*s);
	*s = NULL;
}

int consent_store_set_code_ttl(struct consent_store *s, int seconds)
{
	if (seconds < 30 || seconds > CONSENT_CODE_TTL_MAX)
		return -1;
	s->code_ttl = seconds;
	return 0;
}

/* A uniformly random 6-digit code and its salted hash. 0 or -1. */
static int new_code(char code[CODE_LEN + 1], unsigned char salt[SALT_LEN], unsigned char hash[SHA256_LEN])
{
	unsigned char buf[SALT_LEN + CODE_LEN];
	uint32_t v;

	do {   /* 4294 * 10^6 <= 2^32: values above would favour small codes */
		if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
			return -1;
	} while (v >= 4294000000u);
	snprintf(code, CODE_LEN + 1, "%06u", (unsigned)(v % 1000000u));
	if (RAND_bytes(salt, SALT_LEN) != 1)
		return -1;
	memcpy(buf, salt, SALT_LEN);
	memcpy(buf + SALT_LEN, code, CODE_LEN);
	return sha256(buf, sizeof(buf), hash);
}

/* Inside the transaction: the open-request cap, then the row. */
static enum consent_rc request_insert(struct consent_store *s, const struct consent_ask *a, time_t now,
				      const unsigned char *salt, const unsigned char *hash, long long *id,
				      char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_OPEN_COUNT);
	int open;

	if ((bind_t(st, 1, a->member) | bind_t(st, 2, a->subject) | bind_i(st, 3, now)) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	if (cs_step(s, st, why, len) != 1)
		return CONSENT_ERR_DB;
	open = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (open >= CONSENT_PENDING_MAX) {
		why_set(why, len, "%d requests of %s to this person are waiting for their codes; ask "
			"again when they are confirmed or expire (%d minutes after asking)", open,
			a->member, s->code_ttl / 60);
		return CONSENT_ERR_STATE;
	}
	st = cs_st(s, ST_INSERT);
	if ((bind_t(st, 1, a->member) | bind_t(st, 2, a->subsystem) | bind_t(st, 3, a->subject) |
	     bind_t(st, 4, a->purpose) | bind_t(st, 5, a->end_date) |
	     sqlite3_bind_blob(st, 6, salt, SALT_LEN, SQLITE_TRANSIENT) |
	     sqlite3_bind_blob(st, 7, hash, SHA256_LEN, SQLITE_TRANSIENT) |
	     bind_i(st, 8, (long long)now + s->code_ttl) | bind_i(st, 9, now)) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	if (cs_exec(s, st, why, len) != CONSENT_OK)
		return CONSENT_ERR_DB;
	*id = sqlite3_last_insert_rowid(s->db);
	return CONSENT_OK;
}

/* The code could not be delivered: the request is kept, void. */
static enum consent_rc request_undeliverable(struct consent_store *s, long long id, time_t now,
					     const char *err, char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_VOID);

	if ((bind_i(st, 1, id) | bind_t(st, 2, "the code could not be delivered") | bind_i(st, 3, now)) ==
	    SQLITE_OK)
		(void)cs_exec(s, st, why, len);   /* if this fails too, the code still expires */
	why_set(why, len, "the confirmation code for consent %lld could not be sent to the person "
		"(%s); the request is void, ask again later", id, err ? err : "no reason given");
	if (s->broken)
		cs_close_db(s);
	return CONSENT_ERR_DELIVERY;
}

enum consent_rc consent_request(struct consent_store *s, const struct consent_ask *a,
				const struct otp_channel *ch, time_t now, struct consent_info *out,
				char *why, size_t len)
{
	unsigned char salt[SALT_LEN], hash[SHA256_LEN];
	char code[CODE_LEN + 1], idtext[24], *err = NULL;
	enum consent_rc rc;
	long long id = 0;

	if ((rc = ask_check(a, now, why, len)) != CONSENT_OK)
		return rc;
	if (new_code(code, salt, hash) != 0) {
		why_set(why, len, "consent store: no random numbers for the code (OpenSSL)");
		return CONSENT_ERR_DB;
	}
	if ((rc = cs_begin(s, why, len)) == CONSENT_OK)
		rc = request_insert(s, a, now, salt, hash, &id, why, len);
	if ((rc = cs_end(s, rc, why, len)) != CONSENT_OK)
		return rc;
	/* Sent after the commit: the write lock is not held while it goes. */
	snprintf(idtext, sizeof(idtext), "%lld", id);
	if (ch == NULL || ch->send(ch->ctx, a->subject, idtext, code, a->bank_name ? a->bank_name : a->member,
				   &err) != 0) {
		rc = request_undeliverable(s, id, now, ch ? err : "no delivery channel", why, len);
		free(err);
		return rc;
	}
	OPENSSL_cleanse(code, sizeof(code));
	if ((rc = cs_reread(s, id, now, out, why, len)) != CONSENT_OK && s->broken)
		cs_close_db(s);
	return rc;
}

static int code_matches(sqlite3_stmt *st, const char *code)
{
	unsigned char buf[SALT_LEN + CODE_LEN], hash[SHA256_LEN];
	const void *salt = sqlite3_column_blob(st, C_SALT);
	const void *want = sqlite3_column_blob(st, C_HASH);

	if (salt == NULL || want == NULL || sqlite3_column_bytes(st, C_SALT) != SALT_LEN ||
	    sqlite3_column_bytes(st, C_HASH) != SHA256_LEN)
		return 0;
	memcpy(buf, salt, SALT_LEN);
	memcpy(buf + SALT_LEN, code, CODE_LEN);
	if (sha256(buf, sizeof(buf), hash) != 0)
		return 0;
	return CRYPTO_memcmp(hash, want, SHA256_LEN) == 0;
}

static int code_shape_ok(const char *code)
{
	if (code == NULL || strnlen(code, CODE_LEN + 1) != CODE_LEN)
		return 0;
	for (int i = 0; i < CODE_LEN; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	return 1;
}

static enum consent_rc cs_void(struct consent_store *s, long long id, const char *reason, time_t now,
			       char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_VOID);

	if ((bind_i(st, 1, id) | bind_t(st, 2, reason) | bind_i(st, 3, now)) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	return cs_exec(s, st, why, len);
}

/* A wrong code: counted; the last allowed one voids the request. */
static enum consent_rc confirm_wrong(struct consent_store *s, const struct consent_info *c, time_t now,
				     char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, ST_ATTEMPT);

	if (bind_i(st, 1, c->id) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	if (cs_exec(s, st, why, len) != CONSENT_OK)
		return CONSENT_ERR_DB;
	if (c->attempts_left > 1) {
		why_set(why, len, "wrong code for consent %lld; %d attempt%s left", c->id,
			c->attempts_left - 1, c->attempts_left - 1 == 1 ? "" : "s");
		return CONSENT_ERR_CODE;
	}
	if (cs_void(s, c->id, "too many wrong codes", now, why, len) != CONSENT_OK)
		return CONSENT_ERR_DB;
	why_set(why, len, "wrong code for consent %lld, %d wrong codes: the request is void; the bank "
		"has to ask again", c->id, CONSENT_ATTEMPTS_MAX);
	return CONSENT_ERR_STATE;
}

static enum consent_rc confirm_tx(struct consent_store *s, long long id, const char *subject,
				  const char *code, time_t now, char *why, size_t len)
{
	struct consent_info c;
	sqlite3_stmt *st = NULL;
	enum consent_rc rc;
	int match;

	if ((rc = cs_get(s, id, subject, &st, why, len)) != CONSENT_OK)
		return rc;
	row_info(st, now, &c);
	match = c.status == CONSENT_PENDING && code_matches(st, code);
	sqlite3_reset(st);
	if (c.status != CONSENT_PENDING) {
		/* a code that ran out is written down as such */
		if (c.status == CONSENT_VOID && cs_void(s, id, c.void_reason, now, why, len) != CONSENT_OK)
			return CONSENT_ERR_DB;
		not_pending_why(&c, why, len);
		return CONSENT_ERR_STATE;
	}
	if (!match)
		return confirm_wrong(s, &c, now, why, len);
	st = cs_st(s, ST_ACTIVATE);
	if ((bind_i(st, 1, id) | bind_i(st, 2, now)) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	return cs_exec(s, st, why, len);
}

enum consent_rc consent_confirm(struct consent_store *s, long long id, const char *subject,
				const char *code, time_t now, struct consent_info *out, char *why,
				size_t len)
{
	enum consent_rc rc;

	if (!code_shape_ok(code)) {
		why_set(why, len, "code must be the 6 digits the person received");
		return CONSENT_ERR_INPUT;
	}
	if ((rc = cs_begin(s, why, len)) == CONSENT_OK)
		rc = confirm_tx(s, id, subject, code, now, why, len);
	if (rc == CONSENT_OK)
		rc = cs_reread(s, id, now, out, why, len);
	return cs_end(s, rc, why, len);
}

static enum consent_rc withdraw_tx(struct consent_store *s, long long id, const char *subject, time_t now,
				   char *why, size_t len)
{
	struct consent_info c;
	sqlite3_stmt *st = NULL;
	enum consent_rc rc;

	if ((rc = cs_get(s, id, subject, &st, why, len)) != CONSENT_OK)
		return rc;
	row_info(st, now, &c);
	sqlite3_reset(st);
	if (c.status != CONSENT_PENDING && c.status != CONSENT_ACTIVE) {
		not_pending_why(&c, why, len);
		return CONSENT_ERR_STATE;
	}
	st = cs_st(s, ST_WITHDRAW);
	if ((bind_i(st, 1, id) | bind_i(st, 2, now)) != SQLITE_OK)
		return cs_fail(s, st, why, len);
	return cs_exec(s, st, why, len);
}

enum consent_rc consent_withdraw(struct consent_store *s, long long id, const char *subject, time_t now,
				 struct consent_info *out, char *why, size_t len)
{
	enum consent_rc rc;

	if ((rc = cs_begin(s, why, len)) == CONSENT_OK)
		rc = withdraw_tx(s, id, subject, now, why, len);
	if (rc == CONSENT_OK)
		rc = cs_reread(s, id, now, out, why, len);
	return cs_end(s, rc, why, len);
}

enum consent_rc consent_list(struct consent_store *s, const char *subject, time_t now, consent_row_fn fn,
			     void *arg, int *more, char *why, size_t len)
{
	struct consent_info c;
	sqlite3_stmt *st;
	enum consent_rc rc;
	int n = 0, step;

	if (more)
		*more = 0;
	if ((rc = cs_ready(s, why, len)) != CONSENT_OK)
		return rc;
	st = cs_st(s, ST_LIST);
	if ((bind_t(st, 1, subject) | bind_i(st, 2, CONSENT_LIST_MAX + 1)) != SQLITE_OK)
		return cs_end(s, cs_fail(s, st, why, len), why, len);
	while ((step = cs_step(s, st, why, len)) == 1) {
		if (n++ == CONSENT_LIST_MAX) {
			if (more)
				*more = 1;
			break;
		}
		row_info(st, now, &c);
		if (fn(&c, arg) != 0)
			break;
	}
	sqlite3_reset(st);
	return cs_end(s, step < 0 ? CONSENT_ERR_DB : CONSENT_OK, why, len);
}

/* The refusal for the newest consent of this bank and person (none: NULL). */
static void refusal(const struct consent_info *c, const char *bank, struct consent_decision *d)
{
	char on[11];

	if (c == NULL) {
		why_set(d->why, sizeof(d->why), "no consent of this person for %s: the bank asks for "
			"one (consent-request) and the person confirms it with the code they receive",
			bank);
		return;
	}
	d->id = c->id;
	accesslog_copy_utf8(d->purpose, sizeof(d->purpose), c->purpose);
	switch (c->status) {
	case CONSENT_WITHDRAWN:
		consent_format_date(c->withdrawn_at, on);
		why_set(d->why, sizeof(d->why), "consent %lld withdrawn on %s", c->id, on);
		break;
	case CONSENT_EXPIRED:
		why_set(d->why, sizeof(d->why), "consent %lld ended on %s", c->id, c->end_date);
		break;
	case CONSENT_PENDING:
		why_set(d->why, sizeof(d->why), "consent %lld is not confirmed yet: the person has to "
			"confirm the code they received", c->id);
		break;
	default:
		why_set(d->why, sizeof(d->why), "consent %lld was never confirmed (%s): the bank has to "
			"ask again", c->id, c->void_reason);
		break;
	}
}

/* Runs ST_ACTIVE_FOR or ST_NEWEST_FOR: 1 with *c, 0 none, -1 failed. */
static int cs_find(struct consent_store *s, enum cs_stmt which, const char *member, const char *subject,
		   time_t now, struct consent_info *c, char *why, size_t len)
{
	sqlite3_stmt *st = cs_st(s, which);
	char today[11];
	int rc;

	day_iso(local_day(now), today);
	if ((bind_t(st, 1, member) | bind_t(st, 2, subject) |
	     (which == ST_ACTIVE_FOR ? bind_t(st, 3, today) : SQLITE_OK)) != SQLITE_OK) {
		cs_fail(s, st, why, len);
		return -1;
	}
	if ((rc = cs_step(s, st, why, len)) == 1) {
		row_info(st, now, c);
		sqlite3_reset(st);
	}
	return rc;
}

enum consent_rc consent_check(struct consent_store *s, const char *member, const char *bank_label,
			      const char *subject, time_t now, struct consent_decision *d, char *why,
			      size_t len)
{
	struct consent_info c;
	enum consent_rc rc;
	int found;

	memset(d, 0, sizeof(*d));
	if ((rc = cs_ready(s, why, len)) != CONSENT_OK)
		return rc;
	found = cs_find(s, ST_ACTIVE_FOR, member, subject, now, &c, why, len);
	if (found == 1 && c.status == CONSENT_ACTIVE) {
		d->allowed = 1;
		d->id = c.id;
		accesslog_copy_utf8(d->purpose, sizeof(d->purpose), c.purpose);
	} else if (found >= 0) {
		found = cs_find(s, ST_NEWEST_FOR, member, subject, now, &c, why, len);
		if (found >= 0)
			refusal(found ? &c : NULL, bank_label ? bank_label : member, d);
	}
	return cs_end(s, found < 0 ? CONSENT_ERR_DB : CONSENT_OK, why, len);
}

/* ---- one-time code channels -------------------------------------------------- */

static int otp_console_send(void *ctx, const char *pin, const char *consent_id, const char *code,
			    const char *bank_name, char **err)
{
	(void)ctx;
	(void)err;
	/* One fprintf: the line is not interleaved with other threads' lines. */
	fprintf(stderr, "OTP for consent %s to person %s: %s (bank %s)\n", consent_id, pin, code, bank_name);
	fflush(stderr);
	return 0;
}

static int otp_file_send(void *ctx, const char *pin, const char *consent_id, const char *code,
			 const char *bank_name, char **err)
{
	const char *path = ctx;
	char at[32], *line;
	json_t *o;
	size_t n;
	int fd, rc = -1;

	consent_format_time(time(NULL), at);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "time", at, "consent_id", consent_id, "pin", pin,
		      "code", code, "bank", bank_name);
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (line == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	n = strlen(line);
	line[n++] = '\n';   /* json_dumps' NUL becomes the newline: one write() per line */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && write(fd, line, n) == (ssize_t)n)
		rc = 0;
	if (rc != 0 && asprintf(err, "cannot append to %s: %s", path, strerror(errno)) < 0)
		*err = NULL;
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(line, n);
	free(line);
	return rc;
}

static void otp_file_free(void *ctx)
{
	free(ctx);
}

int consent_otp_new(const char *spec, struct otp_channel **out, char **err)
{
	struct otp_channel *ch = calloc(1, sizeof(*ch));

	*out = NULL;
	*err = NULL;
	if (ch == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	if (spec == NULL || spec[0] == '\0' || strcmp(spec, "console") == 0) {
		ch->kind = "console";
		ch->send = otp_console_send;
	} else if (strncmp(spec, "file:", 5) == 0 && spec[5] == '/' && strlen(spec + 5) < PATH_MAX_LEN) {
		ch->kind = "file";
		ch->send = otp_file_send;
		ch->free = otp_file_free;
		if ((ch->ctx = strdup(spec + 5)) == NULL) {
			free(ch);
			*err = strdup("out of memory");
			return -1;
		}
	} else {
		free(ch);
		if (asprintf(err, "otp_channel '%.64s' is not 'console' or 'file:/absolute/path'", spec) < 0)
			*err = NULL;
		return -1;
	}
	*out = ch;
	return 0;
}

void consent_otp_free(struct otp_channel **ch)
{
	if (ch == NULL || *ch == NULL)
		return;
	if ((*ch)->free)
		(*ch)->free((*ch)->ctx);
	free(*ch);
	*ch = NULL;
}

/* ---- the gate ------------------------------------------------------------------ */

struct consent_gate {
	char *data_dir;
	struct consent_store *cs;    /* opened on first use: a gateway that hosts no */
	struct accesslog *al;        /* personal-data service never creates the files */
};

int consent_gate_open(const char *data_dir, struct consent_gate **out, char **err)
{
	struct consent_gate *g;

	*out = NULL;
	if (err)
		*err = NULL;
	if (data_dir == NULL || strlen(data_dir) + sizeof(ACCESSLOG_FILE) + 1 >= PATH_MAX_LEN) {
		if (err)
			*err = strdup("consent gate: data_dir is missing or too long");
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->data_dir = strdup(data_dir)) == NULL) {
		free(g);
		if (err)
			*err = strdup("consent gate: out of memory");
		return -1;
	}
	*out = g;
	return 0;
}

void consent_gate_close(struct consent_gate **g)
{
	if (g == NULL || *g == NULL)
		return;
	consent_store_close(&(*g)->cs);
	accesslog_close(&(*g)->al);
	free((*g)->data_dir);
	free(*g);
	*g = NULL;
}

/* The two handles, made on first use. A file that cannot be opened is not
 * an error here: the call that needs it fails and says why. 0 or -1. */
static int gate_stores(struct consent_gate *g, char *why, size_t len)
{
	char path[PATH_MAX_LEN], *err = NULL;

	if (g->cs == NULL) {
		snprintf(path, sizeof(path), "%s/" CONSENT_FILE, g->data_dir);
		if (consent_store_open(path, &g->cs, &err) != 0)
			goto fail;
		free(err);
		err = NULL;
	}
	if (g->al == NULL) {
		snprintf(path, sizeof(path), "%s/" ACCESSLOG_FILE, g->data_dir);
		if (accesslog_open(path, &g->al, &err) != 0)
			goto fail;
		free(err);
	}
	return 0;
fail:
	why_set(why, len, "consent gate: %s", err ? err : "out of memory");
	free(err);
	return -1;
}

/* params[name] without surrounding XML white space into out, if it names a
 * person (subject_ok). 1, or 0 with out "". */
static int gate_subject(const json_t *params, const char *name, char out[CONSENT_SUBJECT_MAX + 1])
{
	const char *v = json_string_value(json_object_get(params, name));
	size_t n;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	v += strspn(v, " \t\r\n");
	n = strnlen(v, CONSENT_SUBJECT_MAX + 64);
	while (n > 0 && strchr(" \t\r\n", v[n - 1]))
		n--;
	if (n == 0 || n > CONSENT_SUBJECT_MAX)
		return 0;
	memcpy(out, v, n);
	out[n] = '\0';
	if (!subject_ok(out)) {
		out[0] = '\0';
		return 0;
	}
	return 1;
}

/* The purpose the person is shown: under a consent, what they agreed to
 * (the caller's X-Road-Issue beside it as its reference; it used to replace
 * it, so "LOAN-17" stood where "Card application 3" was consented); without
 * one, the caller's X-Road-Issue. */
static const char *gate_purpose(const struct consent_query *q, const struct consent_decision *d, char *out,
				size_t cap)
{
	int issue = q->issue && q->issue[0];

	if (d && d->purpose[0] && issue && strcmp(q->issue, d->purpose) != 0) {
		snprintf(out, cap, "%s (the caller's reference, X-Road-Issue: %s)", d->purpose, q->issue);
		return out;
	}
	return d && d->purpose[0] ? d->purpose : issue ? q->issue : NULL;
}

static int gate_record(struct consent_gate *g, const struct consent_query *q, const char *subject,
		       const struct consent_decision *d, char *why, size_t len)
{
	char purpose[ACCESSLOG_PURPOSE_MAX];
	struct accesslog_record r = {
		.subject = subject,
		.time_ms = q->now ? (long long)q->now * 1000 : 0,
		.client = q->client,
		.service = q->service,
		.message_id = q->message_id,
		.purpose = gate_purpose(q, d, purpose, sizeof(purpose)),
		.consent_id = d ? d->id : 0,
		.outcome = d && !d->allowed ? ACCESSLOG_REFUSED : ACCESSLOG_ANSWERED,
		.reason = d && !d->allowed ? d->why : NULL,
	};

	/* an answered query's record may wait for the caller's flush; a refusal
	 * is written before it is told */
	if (q->deferred && r.outcome == ACCESSLOG_ANSWERED) {
		if (accesslog_add(g->al, &r, why, len) != 0)
			return -1;
		*q->deferred = 1;
		return 0;
	}
	return accesslog_record(g->al, &r, why, len);
}

/* A portal or kiosk acts for the person signed in there (X-Road-UserId:
 * "KG" or "KGZ", an optional '-', ':' or '/', then the PIN; the PIN alone);
 * the person asked about must be that one. */
static int gate_user_is_subject(const char *user, const char *subject)
{
	if (!strncasecmp(user, "KGZ", 3))
		user += 3;
	else if (!strncasecmp(user, "KG", 2))
		user += 2;
	if (*user == '-' || *user == ':' || *user == '/')
		user++;
	return *user && strcasecmp(user, subject) == 0;
}

/* Refused, and recorded in the person's report as refused with the reason:
 * such a client asked about someone else (it used to be answered: any
 * citizen's disability status, employment, household and bills). 0, or -1
 * when the access log cannot be written. */
static int gate_not_the_user(struct consent_gate *g, const struct consent_query *q, const char *subject,
			     char *why, size_t len)
{
	struct consent_decision *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		why_set(why, len, "consent gate: out of memory");
		return -1;
	}
	if (q->for_user[0])
		why_set(d->why, sizeof(d->why), "X-Road-UserId '%.40s' is not the person asked about: %s acts "
			"for the person signed in there and is answered about that person only", q->for_user,
			q->client ? q->client : "this client");
	else
		why_set(d->why, sizeof(d->why), "%s acts for a person signed in there: send that person as "
			"X-Road-UserId (KG + PIN); it is answered about that person only",
			q->client ? q->client : "this client");
	rc = gate_record(g, q, subject, d, why, len) == 0 ? 0 : -1;
	if (rc == 0)
		why_set(why, len, "%s", d->why);
	free(d);
	return rc;
}

int consent_gate_flush(struct consent_gate *g, char *why, size_t len)
{
	return g->al ? accesslog_flush(g->al, why, len) : 0;
}

void consent_gate_discard(struct consent_gate *g)
{
	if (g && g->al)
		accesslog_discard(g->al);
}

int consent_gate_check(struct consent_gate *g, const struct consent_query *q, char *why, size_t len)
{
	char subject[CONSENT_SUBJECT_MAX + 1], label[CONSENT_MEMBER_MAX + 300];
	struct consent_decision *d;
	int rc;

	if (q->subject_param == NULL || q->subject_param[0] == '\0')
		return 1;
	if (gate_stores(g, why, len) != 0)
		return -1;
	if (!gate_subject(q->params, q->subject_param, subject)) {
		if (!q->consent_required)
			return 1;   /* the service refuses it; no person to record it for */
		why_set(why, len, "the request does not name the person whose data it asks for: "
			"parameter '%s' is missing or not a PIN", q->subject_param);
		return 0;
	}
	if (q->consented)
		q->consented[0] = '\0';
	if (q->deferred)
		*q->deferred = 0;
	if (q->for_user && !gate_user_is_subject(q->for_user, subject))
		return gate_not_the_user(g, q, subject, why, len);
	if (!q->consent_required)
		return gate_record(g, q, subject, NULL, why, len) == 0 ? 1 : -1;
	if ((d = malloc(sizeof(*d))) == NULL) {
		why_set(why, len, "consent gate: out of memory");
		return -1;
	}
	snprintf(label, sizeof(label), "%s%s%s%s", q->client_member ? q->client_member : "?",
		 q->client_name ? " (" : "", q->client_name ? q->client_name : "", q->client_name ? ")" : "");
	rc = -1;
	if (consent_check(g->cs, q->client_member ? q->client_member : "", label, subject,
			  q->now ? q->now : time(NULL), d, why, len) == CONSENT_OK &&
	    gate_record(g, q, subject, d, why, len) == 0) {
		rc = d->allowed;
		if (!rc)
			why_set(why, len, "%s", d->why);
		else if (q->consented)
			snprintf(q->consented, CONSENT_SUBJECT_MAX + 1, "%s", subject);
	}
	free(d);
	return rc;
}

/* "Асель" -> "А.": the first UTF-8 character and a dot. */
static void initial_only(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	char out[8];
	size_t n;

	if (!v || !*v)
		return;
	n = utf8_seq((const unsigned char *)v);
	if (n == 0)
		v = "?", n = 1;   /* the adapters store valid UTF-8; never half a character */
	memcpy(out, v, n);
	memcpy(out + n, ".", 2);
	json_object_set_new(o, key, json_string(out));
}

void consent_minimise(json_t *answer, const char *subject)
{
	static const char *const personal[] = { "pin", "patronymic", "birth_date", "sex", "document",
						"registered_on" };
	json_t *v, *pin;
	const char *k;
	size_t i;

	if (json_is_array(answer)) {
		json_array_foreach(answer, i, v)
			consent_minimise(v, subject);
		return;
	}
	if (!json_is_object(answer))
		return;
	pin = json_object_get(answer, "pin");
	if (pin && (json_is_null(pin) || (json_is_string(pin) && strcmp(json_string_value(pin), subject) != 0)) &&
	    (json_object_get(answer, "first_name") || json_object_get(answer, "last_name"))) {
		for (i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
			if (json_object_get(answer, personal[i]))
				json_object_set_new(answer, personal[i], json_null());
		initial_only(answer, "first_name");
		initial_only(answer, "last_name");
		return;
	}
	json_object_foreach(answer, k, v)
		consent_minimise(v, subject);
}
