/* The social passport adapter (GOV/70000050/social-passport): which of the
 * municipality's residents belong to a benefit category (disability, lonely
 * pensioner, "Үй-бүлөгө көмөк", ...), from when to when, on what basis.
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound. Queries are
 * index lookups on a small local file, so they run on the calling thread.
 * The database is created from schema.sql + seed.sql when it has no tables.
 * A database that cannot be opened does not stop the gateway: calls answer
 * "unavailable" and retry the open; any SQLite error during a call closes
 * the connection so the next call starts clean. Answer keys: README.md. */
#include "adapters/adapter.h"
#include "adapters/common/pin.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define SP_PATH_MAX 1024
#define SP_SQL_MAX (4u << 20)      /* schema.sql / seed.sql */
#define SP_CODE_MAX 32             /* category code */
#define SP_PARAM_MAX 96            /* bytes of a parameter we look at */
#define SP_BUSY_MS_DEFAULT 1000
#define SP_BUSY_MS_MAX 60000
#define SP_UNAVAILABLE "the social passport database is unavailable; try again later"

enum sp_stmt { ST_RESIDENT, ST_CATEGORY, ST_CODES, ST_HISTORY, ST_PERIODS, ST_MEMBERS, ST_COUNT };

static const char *const sp_sql[ST_COUNT] = {
	[ST_RESIDENT] =
		"SELECT last_name, first_name, patronymic, household_id FROM residents"
		" WHERE pin = ?1 ORDER BY id LIMIT 2",
	[ST_CATEGORY] = "SELECT ky, ru FROM categories WHERE code = ?1",
	[ST_CODES] = "SELECT group_concat(code, ', ') FROM (SELECT code FROM categories ORDER BY sort)",
	/* Every period of a person, a category's history together. */
	[ST_HISTORY] =
		"SELECT m.category, c.ky, c.ru, m.disability_group, m.cause, d.ky, d.ru,"
		" m.start_date, m.end_date,"
		" m.start_date <= ?2 AND (m.end_date IS NULL OR m.end_date >= ?2),"
		" m.basis_document, m.basis_number, m.basis_date, m.basis_issued_by"
		" FROM memberships m JOIN categories c ON c.code = m.category"
		" LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.pin = ?1 ORDER BY c.sort, m.start_date, m.id",
	[ST_PERIODS] =
		"SELECT m.start_date, m.end_date, m.disability_group, m.cause, d.ky, d.ru,"
		" m.basis_document, m.basis_number, m.basis_date, m.basis_issued_by"
		" FROM memberships m LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.pin = ?1 AND m.category = ?2 ORDER BY m.start_date, m.id",
	/* Residents in a category on a date: one row per PIN (the period that
	 * started last, when periods overlap); names of the first resident with
	 * the PIN and how many residents hold it (duplicate PINs). */
	[ST_MEMBERS] =
		"SELECT m.pin, r.last_name, r.first_name, r.patronymic, r.household_id,"
		" (SELECT count(*) FROM residents x WHERE x.pin = m.pin) holders,"
		" m.disability_group, m.cause, d.ky, d.ru, m.start_date, m.end_date"
		" FROM (SELECT *, row_number() OVER (PARTITION BY pin ORDER BY start_date DESC, id DESC) k"
		"       FROM memberships WHERE category = ?1 AND start_date <= ?2"
		"       AND (end_date IS NULL OR end_date >= ?2)) m"
		" JOIN residents r ON r.id = (SELECT min(id) FROM residents x WHERE x.pin = m.pin)"
		" LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.k = 1"
		" ORDER BY holders > 1, r.household_id IS NULL, r.household_id, r.last_name, m.pin",
};

/* Per worker thread. */
struct sp_ctx {
	struct adapter_host host;
	char db_path[SP_PATH_MAX];
	char sql_dir[SP_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                 /* NULL while the database cannot be opened */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;               /* a query failed in this call: close after it */
	int down;                    /* the last open failed (logged once per outage) */
	const char *reqid;           /* of the call in progress */
};

#define sp_log(c, lvl, ...)                                                          \
	do {                                                                         \
		if ((c)->host.log != NULL)                                           \
			(c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); \
	} while (0)

/* ---- opening and creating the database ------------------------------- */

static void sp_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sp_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void sp_close(struct sp_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* Reads dir/name into a new NUL-terminated buffer (caller frees *out). */
static int sp_read_sql(const char *dir, const char *name, char **out, char *why, size_t len)
{
	char path[SP_PATH_MAX + 64];
	char *buf = NULL;
	size_t n;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		sp_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(SP_SQL_MAX + 1);
	if (buf == NULL) {
		sp_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, SP_SQL_MAX + 1, f);
	if (ferror(f) || n > SP_SQL_MAX) {
		sp_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
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

static int sp_exec_file(sqlite3 *db, const char *dir, const char *name, char *why, size_t len)
{
	char *sql = NULL, *msg = NULL;
	int rc;

	if (sp_read_sql(dir, name, &sql, why, len) != 0)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		sp_why(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads schema and seed into a database that has no tables. Several workers
 * may start at once on a new file: the immediate transaction serialises
 * them, and only the first one finds it empty. */
static int sp_create(struct sp_ctx *c, sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, empty;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sp_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sp_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (sp_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      sp_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sp_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (empty)
		sp_log(c, ADAPTER_LOG_INFO, "created %s from %s/{schema,seed}.sql", c->db_path, c->sql_dir);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int sp_prepare(struct sp_ctx *c, char *why, size_t len)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(c->db, sp_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			sp_why(why, len, "%s is not a social passport: %s", c->db_path,
			       sqlite3_errmsg(c->db));
			return -1;
		}
	}
	return 0;
}

static int sp_open(struct sp_ctx *c, char *why, size_t len)
{
	int rc;

	rc = sqlite3_open_v2(c->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		sp_why(why, len, "cannot open %s: %s", c->db_path,
		       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, c->busy_ms);
	/* WAL: readers (every worker) never wait for the one writer. */
	if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		sp_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (sp_create(c, c->db, why, len) != 0 || sp_prepare(c, why, len) != 0)
		goto fail;
	return 0;
fail:
	sp_close(c);
	return -1;
}

/* Opens the database if it is not open. 0, or -1 with res "unavailable". */
static int sp_ready(struct sp_ctx *c, struct adapter_result *res)
{
	char why[SP_PATH_MAX + 256];

	if (c->db != NULL)
		return 0;
	if (sp_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			sp_log(c, ADAPTER_LOG_INFO, "social passport %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	sp_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "social passport unavailable: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, SP_UNAVAILABLE);
	return -1;
}

/* ---- dates ------------------------------------------------------------ */

static int sp_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int sp_mdays(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && sp_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so that "the next day" is n + 1 across months and
 * leap years. */
static int sp_days(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Strict YYYY-MM-DD, year 1900..9999, a real calendar day: 0 and *days,
 * -1 if the shape is wrong, -2 if it is shaped right but no such day. */
static int sp_parse_date(const char *s, int *days)
{
	int y, m, d;

	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > sp_mdays(y, m))
		return -2;
	*days = sp_days(y, m, d);
	return 0;
}

/* Today's date (local time, as pin_check uses) into out[11]. */
static void sp_today(char *out)
{
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		memcpy(out, "1970-01-01", 11);
}

/* ---- parameters ------------------------------------------------------- */

static const char *sp_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int sp_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The named parameter without surrounding whitespace (SOAP bodies are
 * indented) into out[cap], truncated; the validators then see the over-long
 * value. A missing parameter gives "". */
static void sp_trimmed(const struct adapter_call *call, const char *name, char *out, size_t cap)
{
	const char *s = sp_param(call, name);
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (sp_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && sp_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* The "on" date into on[11]: today when absent or empty. Past and present
 * only: the register records what was decided, not what will be. 0, or -1
 * with res set. */
static int sp_on(const struct adapter_call *call, char *on, struct adapter_result *res)
{
	char in[SP_PARAM_MAX], today[11];
	int d, t, rc;

	sp_today(today);
	sp_trimmed(call, "on", in, sizeof(in));
	if (in[0] == '\0') {
		memcpy(on, today, 11);
		return 0;
	}
	rc = sp_parse_date(in, &d);
	if (rc == -1) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "on must be a date YYYY-MM-DD, e.g. 2024-03-01");
		return -1;
	}
	if (rc == -2) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "on: %s is not a calendar date between 1900-01-01 and today", in);
		return -1;
	}
	if (sp_parse_date(today, &t) == 0 && d > t) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "on: %s is after today (%s); the social passport answers for past "
				     "and present dates only", in, today);
		return -1;
	}
	memcpy(on, in, 11);
	return 0;
}

static int sp_pin(const struct adapter_call *call, char *pin, size_t cap, struct adapter_result *res)
{
	char why[160];

	sp_trimmed(call, "pin", pin, cap);
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	return 0;
}

/* ---- queries ---------------------------------------------------------- */

/* Sets res to an error, dropping any answer built so far. */
static void sp_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sp_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
{
	va_list ap;

	json_decref(res->data);
	res->data = NULL;
	res->status = st;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

/* Logs the SQLite error; the caller is told "unavailable", and the
 * connection is closed after the call. */
static void sp_db_error(struct sp_ctx *c, struct adapter_result *res)
{
	sp_log(c, ADAPTER_LOG_ERROR, "social passport db %s: %s", c->db_path,
	       c->db ? sqlite3_errmsg(c->db) : "not open");
	c->db_failed = 1;
	sp_error(res, ADAPTER_UNAVAILABLE, SP_UNAVAILABLE);
}

static void sp_oom(struct adapter_result *res)
{
	sp_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* Resets statement s and binds a (and b, if not NULL). */
static sqlite3_stmt *sp_bind(struct sp_ctx *c, enum sp_stmt s, const char *a, const char *b)
{
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if ((a != NULL && sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT) != SQLITE_OK) ||
	    (b != NULL && sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT) != SQLITE_OK))
		return NULL;
	return st;
}

/* Steps st once: 1 row, 0 done (st reset), -1 error (res set, st reset). */
static int sp_step(struct sp_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		sp_db_error(c, res);   /* before the reset, which may change the message */
	if (st != NULL)
		sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* SQL NULL -> JSON null; text -> string (NULL if not valid UTF-8). */
static json_t *sp_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static int sp_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* The basis document of a period, from columns i..i+3. */
static json_t *sp_basis(sqlite3_stmt *st, int i)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "document", sp_col(st, i), "number", sp_col(st, i + 1),
			 "date", sp_col(st, i + 2), "issued_by", sp_col(st, i + 3));
}

/* The valid category codes, for a message: into out[cap] ("?" if the
 * database cannot say). */
static void sp_codes(struct sp_ctx *c, char *out, size_t cap, struct adapter_result *res)
{
	sqlite3_stmt *st = sp_bind(c, ST_CODES, NULL, NULL);

	snprintf(out, cap, "?");
	if (sp_step(c, st, res) == 1) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
}

/* Folds a category code to its stored form (lower case, '-' as '_').
 * 1 if it has that form then, 0 if not. */
static int sp_code_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SP_CODE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
		else if (s[i] == '-')
			s[i] = '_';
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* The "category" parameter: its code into code[SP_CODE_MAX + 1] and its
 * names into a new object {category, category_ky, category_ru} (caller
 * owns). 0, or -1 with res set (an unknown code lists the valid ones). */
static int sp_category(struct sp_ctx *c, const struct adapter_call *call, char *code,
		       json_t **out, struct adapter_result *res)
{
	char in[SP_PARAM_MAX], codes[512];
	sqlite3_stmt *st;
	size_t n;
	int rc;

	sp_trimmed(call, "category", in, sizeof(in));
	if (sp_code_ok(in)) {
		st = sp_bind(c, ST_CATEGORY, in, NULL);
		if ((rc = sp_step(c, st, res)) < 0)
			return -1;
		if (rc == 1) {
			*out = json_pack("{s:s,s:o,s:o}", "category", in, "category_ky", sp_col(st, 0),
					 "category_ru", sp_col(st, 1));
			sqlite3_reset(st);
			if (*out == NULL) {
				sp_oom(res);
				return -1;
			}
			n = strnlen(in, SP_CODE_MAX);   /* sp_code_ok: at most that */
			memcpy(code, in, n);
			code[n] = '\0';
			return 0;
		}
	}
	sp_codes(c, codes, sizeof(codes), res);
	if (res->status == ADAPTER_OK && sp_code_ok(in))
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "unknown social category '%s'; valid codes: %s", in, codes);
	else if (res->status == ADAPTER_OK)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "category must be one of the codes: %s", codes);
	return -1;
}

/* The one resident with this PIN as a new object {pin, last_name,
 * first_name, patronymic, household_id} (caller owns). 0, or -1 with res:
 * not a resident (not found), a PIN two residents hold (failed), or the
 * database. */
static int sp_resident(struct sp_ctx *c, const char *pin, json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = sp_bind(c, ST_RESIDENT, pin, NULL);
	int rc = sp_step(c, st, res);

	if (rc <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND,
					     "PIN %s is not among the municipality's residents (neither in "
					     "the household register nor on its population list)", pin);
		return -1;
	}
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o}", "pin", pin, "last_name", sp_col(st, 0),
			 "first_name", sp_col(st, 1), "patronymic", sp_col(st, 2),
			 "household_id", sp_col(st, 3));
	rc = sp_step(c, st, res);
	if (rc == 1)
		sqlite3_reset(st);
	if (rc == 0 && *out != NULL)
		return 0;
	json_decref(*out);
	*out = NULL;
	/* Old duplicate PINs exist; a category entered for the PIN cannot be
	 * told to belong to one of the two people. */
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED,
				     "PIN %s is recorded for more than one resident (a duplicate PIN "
				     "from the 1990s); the municipality has to resolve it", pin);
	else if (rc == 0)
		sp_oom(res);
	return -1;
}

/* ---- social-categories ------------------------------------------------ */

/* One row of ST_HISTORY as JSON (caller owns), or NULL. */
static json_t *sp_period(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o}",
			 "category", sp_col(st, 0), "category_ky", sp_col(st, 1),
			 "category_ru", sp_col(st, 2), "disability_group", sp_col(st, 3),
			 "cause", sp_col(st, 4), "cause_ky", sp_col(st, 5), "cause_ru", sp_col(st, 6),
			 "start_date", sp_col(st, 7), "end_date", sp_col(st, 8),
			 "active", sqlite3_column_int(st, 9), "basis", sp_basis(st, 10));
}

static void sp_social_categories(struct sp_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	char pin[SP_PARAM_MAX], on[11];
	json_t *arr = NULL, *o = NULL;
	sqlite3_stmt *st;
	json_int_t active = 0;
	int rc;

	if (sp_pin(call, pin, sizeof(pin), res) != 0 || sp_on(call, on, res) != 0 ||
	    sp_resident(c, pin, &o, res) != 0)
		return;
	res->data = o;
	arr = json_array();
	if (sp_set(o, "on", json_string(on)) != 0 || arr == NULL)
		goto oom;
	st = sp_bind(c, ST_HISTORY, pin, on);
	while ((rc = sp_step(c, st, res)) == 1) {
		active += sqlite3_column_int(st, 9) != 0;
		if (json_array_append_new(arr, sp_period(st)) != 0) {
			sqlite3_reset(st);
			goto oom;
		}
	}
	if (rc < 0)
		goto out;
	if (sp_set(o, "active_count", json_integer(active)) != 0)
		goto oom;
	rc = sp_set(o, "categories", arr);   /* takes arr, even when it fails */
	arr = NULL;
	if (rc != 0)
		goto oom;
	return;
oom:
	sp_oom(res);
out:
	json_decref(arr);
}

/* ---- category-status -------------------------------------------------- */

/* Continuous membership: periods that overlap or touch (one ends the day
 * before, or the day, the next starts) form one run. The periods come in
 * order of start, so a run is done when a period starts after its end + 1. */
struct sp_run {
	int start, end;              /* days; end INT_MAX: open */
	char since[11], until[11];   /* until "": open */
};

struct sp_walk {
	int on;                      /* the day asked for */
	int have;                    /* run holds a run being built */
	struct sp_run run;
	int found;                   /* hit holds the run that holds on */
	struct sp_run hit;
};

static void sp_run_end(struct sp_run *run, sqlite3_stmt *st, int e)
{
	run->end = e;
	run->until[0] = '\0';
	if (e != INT_MAX)
		snprintf(run->until, sizeof(run->until), "%s", (const char *)sqlite3_column_text(st, 1));
}

/* Keeps the run being built if it holds the day asked for. */
static void sp_run_check(struct sp_walk *w)
{
	if (w->have && w->run.start <= w->on && w->on <= w->run.end) {
		w->hit = w->run;
		w->found = 1;
	}
}

/* Adds the period (s, e) of row st: it extends the run, or starts a new one. */
static void sp_run_add(struct sp_walk *w, sqlite3_stmt *st, int s, int e)
{
	if (!w->have || (w->run.end != INT_MAX && s > w->run.end + 1)) {
		sp_run_check(w);
		w->have = 1;
		w->run.start = s;
		snprintf(w->run.since, sizeof(w->run.since), "%s", (const char *)sqlite3_column_text(st, 0));
		sp_run_end(&w->run, st, e);
	} else if (e == INT_MAX || (w->run.end != INT_MAX && e > w->run.end)) {
		sp_run_end(&w->run, st, e);
	}
}

/* Details of the period that holds on and started last (disability group,
 * cause, basis) into o. 0 or -1. */
static int sp_status_detail(json_t *o, sqlite3_stmt *st)
{
	int bad = 0;

	bad |= sp_set(o, "disability_group", sp_col(st, 2));
	bad |= sp_set(o, "cause", sp_col(st, 3));
	bad |= sp_set(o, "cause_ky", sp_col(st, 4));
	bad |= sp_set(o, "cause_ru", sp_col(st, 5));
	bad |= sp_set(o, "basis", sp_basis(st, 6));
	return bad;
}

/* Walks the person's periods in the category: sets o's since/until and
 * details. 0, or -1 with res set. */
static int sp_status_walk(struct sp_ctx *c, const char *pin, const char *code, int on, json_t *o,
			  struct adapter_result *res)
{
	struct sp_walk w = { .on = on };
	int rc, s, e, bad = 0;
	sqlite3_stmt *st = sp_bind(c, ST_PERIODS, pin, code);

	while ((rc = sp_step(c, st, res)) == 1) {
		const char *end = (const char *)sqlite3_column_text(st, 1);

		if (sp_parse_date((const char *)sqlite3_column_text(st, 0), &s) != 0 ||
		    (end != NULL && sp_parse_date(end, &e) != 0)) {
			sqlite3_reset(st);
			sp_error(res, ADAPTER_FAILED, "a period of PIN %s in %s has a malformed date; "
				 "the municipality has to correct it", pin, code);
			return -1;
		}
		if (end == NULL)
			e = INT_MAX;
		sp_run_add(&w, st, s, e);
		if (s <= on && on <= e)
			bad |= sp_status_detail(o, st);
	}
	if (rc < 0)
		return -1;
	sp_run_check(&w);
	bad |= sp_set(o, "in_category", json_boolean(w.found));
	bad |= sp_set(o, "since", w.found ? json_string(w.hit.since) : json_null());
	bad |= sp_set(o, "until", w.found && w.hit.until[0] ? json_string(w.hit.until) : json_null());
	if (bad) {
		sp_oom(res);
		return -1;
	}
	return 0;
}

/* Keys in the order of the answer, filled in afterwards: jansson keeps
 * insertion order, and the SOAP rendering follows it. */
static int sp_status_skeleton(json_t *o, json_t *cat, const char *on)
{
	static const char *const later[] = { "in_category", "since", "until", "disability_group",
					     "cause", "cause_ky", "cause_ru", "basis" };
	int bad = json_object_update(o, cat) != 0;

	bad |= sp_set(o, "on", json_string(on));
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		bad |= sp_set(o, later[i], json_null());
	return bad;
}

static void sp_category_status(struct sp_ctx *c, const struct adapter_call *call,
			       struct adapter_result *res)
{
	char pin[SP_PARAM_MAX], on[11], code[SP_CODE_MAX + 1];
	json_t *cat = NULL, *o = NULL;
	int day;

	if (sp_pin(call, pin, sizeof(pin), res) != 0 || sp_on(call, on, res) != 0 ||
	    sp_category(c, call, code, &cat, res) != 0)
		return;
	if (sp_resident(c, pin, &o, res) != 0)
		goto out;
	res->data = o;
	if (sp_status_skeleton(o, cat, on) != 0 || sp_parse_date(on, &day) != 0) {
		sp_oom(res);
		goto out;
	}
	(void)sp_status_walk(c, pin, code, day, o, res);   /* res tells */
out:
	json_decref(cat);
}

/* ---- category-members ------------------------------------------------- */

/* One row of ST_MEMBERS as JSON (caller owns), or NULL. A PIN two residents
 * hold is listed without names: the period cannot be told to be whose. */
static json_t *sp_member(sqlite3_stmt *st)
{
	int dup = sqlite3_column_int(st, 5) > 1;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "pin", sp_col(st, 0),
			 "last_name", dup ? json_null() : sp_col(st, 1),
			 "first_name", dup ? json_null() : sp_col(st, 2),
			 "patronymic", dup ? json_null() : sp_col(st, 3),
			 "household_id", dup ? json_null() : sp_col(st, 4),
			 "duplicate_pin", dup,
			 "disability_group", sp_col(st, 6), "cause", sp_col(st, 7),
			 "cause_ky", sp_col(st, 8), "cause_ru", sp_col(st, 9),
			 "start_date", sp_col(st, 10), "end_date", sp_col(st, 11));
}

static void sp_category_members(struct sp_ctx *c, const struct adapter_call *call,
				struct adapter_result *res)
{
	char on[11], code[SP_CODE_MAX + 1];
	json_t *o = NULL, *arr = NULL;
	sqlite3_stmt *st;
	int rc;

	if (sp_on(call, on, res) != 0 || sp_category(c, call, code, &o, res) != 0)
		return;
	res->data = o;
	arr = json_array();
	if (arr == NULL || sp_set(o, "on", json_string(on)) != 0)
		goto oom;
	st = sp_bind(c, ST_MEMBERS, code, on);
	while ((rc = sp_step(c, st, res)) == 1) {
		if (json_array_append_new(arr, sp_member(st)) != 0) {
			sqlite3_reset(st);
			goto oom;
		}
	}
	if (rc < 0)
		goto out;
	if (sp_set(o, "count", json_integer((json_int_t)json_array_size(arr))) != 0)
		goto oom;
	rc = sp_set(o, "members", arr);   /* takes arr, even when it fails */
	arr = NULL;
	if (rc != 0)
		goto oom;
	return;
oom:
	sp_oom(res);
out:
	json_decref(arr);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*sp_fn)(struct sp_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const sp_pin_params[] = { "pin", NULL };
static const char *const sp_category_params[] = { "category", NULL };
static const char *const sp_status_params[] = { "pin", "category", NULL };

static const struct adapter_service sp_services[] = {
	{ "social-categories", "GET", sp_pin_params,
	  "A resident's social categories, current and past, by PIN (optional date 'on')" },
	{ "category-members", "GET", sp_category_params,
	  "Residents in a social category on a date (default today)" },
	{ "category-status", "GET", sp_status_params,
	  "Is a resident in a social category on a date: yes/no with since and until" },
};

static const sp_fn sp_handlers[] = {
	sp_social_categories, sp_category_members, sp_category_status,
};

_Static_assert(sizeof(sp_services) / sizeof(sp_services[0]) ==
	       sizeof(sp_handlers) / sizeof(sp_handlers[0]), "one handler per service");

#define SP_N_SERVICES (sizeof(sp_services) / sizeof(sp_services[0]))

static void sp_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct sp_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	c->db_failed = 0;
	for (i = 0; i < SP_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, sp_services[i].code) == 0)
			break;
	if (i == SP_N_SERVICES)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the social passport has no such service");
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     sp_services[i].code);
	else if (sp_ready(c, &res) == 0)
		sp_handlers[i](c, call, &res);
	/* Close only after the statements are done with, so the next call
	 * opens the file afresh. */
	if (c->db_failed)
		sp_close(c);
	if (res.status != ADAPTER_OK)
		sp_log(c, ADAPTER_LOG_DEBUG, "%s: %s", call->service_code ? call->service_code : "?",
		       adapter_status_name(res.status));
	c->reqid = NULL;
	done(&res, arg);
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int sp_config_str(const struct adapter_host *host, const char *key, const char *def,
			 char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int sp_config(struct sp_ctx *c, const struct adapter_host *host, char **err)
{
	char def[SP_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/social-passport.db", host->data_dir ? host->data_dir : ".");
	if (sp_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    sp_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/social-passport",
			  c->sql_dir, sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.social-passport] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = SP_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > SP_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.social-passport] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, SP_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int sp_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct sp_ctx *c = calloc(1, sizeof(*c));
	char why[SP_PATH_MAX + 256];

	*err = NULL;
	*vctx = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (sp_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	if (sp_open(c, why, sizeof(why)) != 0) {
		sp_log(c, ADAPTER_LOG_ERROR, "social passport unavailable: %s (will retry on each call)",
		       why);
		c->down = 1;
	}
	*vctx = c;
	return 0;
}

static void sp_free(void *vctx)
{
	struct sp_ctx *c = vctx;

	if (c == NULL)
		return;
	sp_close(c);
	free(c);
}

const struct adapter_ops social_passport_adapter = {
	.name = "social-passport",
	.services = sp_services,
	.n_services = SP_N_SERVICES,
	.init = sp_init,
	.handle = sp_handle,
	.free = sp_free,
};
