/* The e-kyzmat adapter (GOV/70000050/e-kyzmat): the AIL OKMOTU's personnel
 * register: employees, their positions and career moves, length of service,
 * open vacancies.
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound. Queries are
 * index lookups on a small local file, so they run on the calling thread.
 * The database is created from schema.sql + seed.sql when it has no tables.
 * A database that cannot be opened does not stop the gateway: calls answer
 * "unavailable" and retry the open; any SQLite error during a call closes
 * the connection so the next call starts clean. Answer keys and the
 * length-of-service rule: README.md. */
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

#define EK_PATH_MAX 1024
#define EK_SQL_MAX (4u << 20)      /* schema.sql / seed.sql */
#define EK_CODE_MAX 32             /* department code */
#define EK_PARAM_MAX 96            /* bytes of a parameter we look at */
#define EK_PERIODS_MAX 128         /* employment periods of one person */
#define EK_BUSY_MS_DEFAULT 1000
#define EK_BUSY_MS_MAX 60000
#define EK_UNAVAILABLE "the e-kyzmat database is unavailable; try again later"

enum ek_stmt {
	ST_EMPLOYEE, ST_MOVES, ST_PRIOR, ST_EMPLOYER, ST_DEPARTMENT, ST_DEPT_CODES, ST_VACANCIES,
	ST_COUNT
};

static const char *const ek_sql[ST_COUNT] = {
	[ST_EMPLOYEE] =
		"SELECT last_name, first_name, patronymic, birth_date, sex FROM employees WHERE pin = ?1",
	/* Columns: see enum ek_move_col. */
	[ST_MOVES] =
		"SELECT m.kind, k.ky, k.ru, m.date, m.position, p.ky, p.ru, p.department, d.ky, d.ru,"
		" m.order_number, m.order_date, m.reason"
		" FROM moves m JOIN move_kinds k ON k.code = m.kind"
		" JOIN positions p ON p.code = m.position JOIN departments d ON d.code = p.department"
		" WHERE m.pin = ?1 ORDER BY m.date, m.id",
	[ST_PRIOR] =
		"SELECT employer, position, start_date, end_date FROM prior_service WHERE pin = ?1"
		" ORDER BY start_date, id",
	[ST_EMPLOYER] = "SELECT value FROM meta WHERE key = 'employer'",
	[ST_DEPARTMENT] = "SELECT ky, ru FROM departments WHERE code = ?1",
	[ST_DEPT_CODES] =
		"SELECT group_concat(code, ', ') FROM (SELECT code FROM departments ORDER BY sort)",
	[ST_VACANCIES] =
		"SELECT v.id, v.position, p.ky, p.ru, p.department, d.ky, d.ru, v.posts,"
		" v.announced_on, v.salary_tyiyn, v.requirements"
		" FROM vacancies v JOIN positions p ON p.code = v.position"
		" JOIN departments d ON d.code = p.department"
		" WHERE v.status = 'open' AND (?1 IS NULL OR p.department = ?1)"
		" ORDER BY d.sort, v.announced_on, v.id",
};

enum ek_move_col {
	MV_KIND, MV_KIND_KY, MV_KIND_RU, MV_DATE, MV_POSITION, MV_POSITION_KY, MV_POSITION_RU,
	MV_DEPARTMENT, MV_DEPARTMENT_KY, MV_DEPARTMENT_RU, MV_ORDER_NUMBER, MV_ORDER_DATE, MV_REASON
};

/* Per worker thread. */
struct ek_ctx {
	struct adapter_host host;
	char db_path[EK_PATH_MAX];
	char sql_dir[EK_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                 /* NULL while the database cannot be opened */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;               /* a query failed in this call: close after it */
	int down;                    /* the last open failed (logged once per outage) */
	const char *reqid;           /* of the call in progress */
};

#define ek_log(c, lvl, ...)                                                          \
	do {                                                                         \
		if ((c)->host.log != NULL)                                           \
			(c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); \
	} while (0)

/* ---- opening and creating the database ------------------------------- */

static void ek_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ek_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void ek_close(struct ek_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* Reads dir/name into a new NUL-terminated buffer (caller frees *out). */
static int ek_read_sql(const char *dir, const char *name, char **out, char *why, size_t len)
{
	char path[EK_PATH_MAX + 64];
	char *buf = NULL;
	size_t n;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		ek_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(EK_SQL_MAX + 1);
	if (buf == NULL) {
		ek_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, EK_SQL_MAX + 1, f);
	if (ferror(f) || n > EK_SQL_MAX) {
		ek_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
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

static int ek_exec_file(sqlite3 *db, const char *dir, const char *name, char *why, size_t len)
{
	char *sql = NULL, *msg = NULL;
	int rc;

	if (ek_read_sql(dir, name, &sql, why, len) != 0)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		ek_why(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads schema and seed into a database that has no tables. Several workers
 * may start at once on a new file: the immediate transaction serialises
 * them, and only the first one finds it empty. */
static int ek_create(struct ek_ctx *c, sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, empty;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		ek_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ek_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (ek_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      ek_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ek_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (empty)
		ek_log(c, ADAPTER_LOG_INFO, "created %s from %s/{schema,seed}.sql", c->db_path, c->sql_dir);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int ek_prepare(struct ek_ctx *c, char *why, size_t len)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(c->db, ek_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			ek_why(why, len, "%s is not an e-kyzmat database: %s", c->db_path,
			       sqlite3_errmsg(c->db));
			return -1;
		}
	}
	return 0;
}

static int ek_open(struct ek_ctx *c, char *why, size_t len)
{
	int rc;

	rc = sqlite3_open_v2(c->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		ek_why(why, len, "cannot open %s: %s", c->db_path,
		       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, c->busy_ms);
	/* WAL: readers (every worker) never wait for the one writer. */
	if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		ek_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (ek_create(c, c->db, why, len) != 0 || ek_prepare(c, why, len) != 0)
		goto fail;
	return 0;
fail:
	ek_close(c);
	return -1;
}

/* Opens the database if it is not open. 0, or -1 with res "unavailable". */
static int ek_ready(struct ek_ctx *c, struct adapter_result *res)
{
	char why[EK_PATH_MAX + 256];

	if (c->db != NULL)
		return 0;
	if (ek_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			ek_log(c, ADAPTER_LOG_INFO, "e-kyzmat %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	ek_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "e-kyzmat unavailable: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, EK_UNAVAILABLE);
	return -1;
}
/* ---- dates ------------------------------------------------------------ */

/* Day numbers (days since 1970-01-01, proleptic Gregorian) make "the next
 * day" n + 1 across months and leap years; H. Hinnant's civil algorithms. */
static int ek_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ek_mdays(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && ek_leap(y) ? 29 : days[m - 1];
}

static int ek_days(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void ek_civil(int z, int *y, int *m, int *d)
{
	int era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

/* Day number into out[11] as YYYY-MM-DD (years 1900..9999 by construction). */
static void ek_fmt(int z, char *out)
{
	int y, m, d;

	ek_civil(z, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
}

/* The day n months after day z, kept on the same day of the month, or on
 * the month's last day when it has no such day (31 Jan + 1 month = 28/29 Feb). */
static int ek_add_months(int z, int n)
{
	int y, m, d, t;

	ek_civil(z, &y, &m, &d);
	t = y * 12 + (m - 1) + n;
	y = t / 12;
	m = t % 12 + 1;
	return ek_days(y, m, d < ek_mdays(y, m) ? d : ek_mdays(y, m));
}

/* Strict YYYY-MM-DD, year 1900..9999, a real calendar day: 0 and *days,
 * -1 if the shape is wrong, -2 if it is shaped right but no such day. */
static int ek_parse_date(const char *s, int *days)
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
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > ek_mdays(y, m))
		return -2;
	*days = ek_days(y, m, d);
	return 0;
}

/* Today's date (local time, as pin_check uses) into out[11]. */
static void ek_today(char *out)
{
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		memcpy(out, "1970-01-01", 11);
}

/* ---- parameters ------------------------------------------------------- */

static const char *ek_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int ek_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The named parameter without surrounding whitespace (SOAP bodies are
 * indented) into out[cap], truncated; the validators then see the over-long
 * value. A missing parameter gives "". */
static void ek_trimmed(const struct adapter_call *call, const char *name, char *out, size_t cap)
{
	const char *s = ek_param(call, name);
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (ek_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && ek_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* The "on" date into on[11] and *day: today when absent or empty. Past and
 * present only: service not served yet cannot be certified. 0, or -1 with
 * res set. */
static int ek_on(const struct adapter_call *call, char *on, int *day, struct adapter_result *res)
{
	char in[EK_PARAM_MAX], today[11];
	int t = 0, rc;

	ek_today(today);
	(void)ek_parse_date(today, &t);   /* always a date: ek_today falls back to 1970-01-01 */
	ek_trimmed(call, "on", in, sizeof(in));
	if (in[0] == '\0') {
		memcpy(on, today, 11);
		*day = t;
		return 0;
	}
	rc = ek_parse_date(in, day);
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
	if (*day > t) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "on: %s is after today (%s); length of service is counted up to "
				     "a past or present date only", in, today);
		return -1;
	}
	memcpy(on, in, 11);
	return 0;
}

static int ek_pin(const struct adapter_call *call, char *pin, size_t cap, struct adapter_result *res)
{
	char why[160];

	ek_trimmed(call, "pin", pin, cap);
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	return 0;
}

/* ---- queries ---------------------------------------------------------- */

/* Sets res to an error, dropping any answer built so far. */
static void ek_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ek_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
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
static void ek_db_error(struct ek_ctx *c, struct adapter_result *res)
{
	ek_log(c, ADAPTER_LOG_ERROR, "e-kyzmat db %s: %s", c->db_path,
	       c->db ? sqlite3_errmsg(c->db) : "not open");
	c->db_failed = 1;
	ek_error(res, ADAPTER_UNAVAILABLE, EK_UNAVAILABLE);
}

static void ek_oom(struct adapter_result *res)
{
	ek_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* Resets statement s and binds a as ?1 (NULL binds SQL NULL). */
static sqlite3_stmt *ek_bind(struct ek_ctx *c, enum ek_stmt s, const char *a)
{
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (a != NULL && sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		return NULL;
	return st;
}

/* Steps st once: 1 row, 0 done (st reset), -1 error (res set, st reset). */
static int ek_step(struct ek_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		ek_db_error(c, res);   /* before the reset, which may change the message */
	if (st != NULL)
		sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* SQL NULL -> JSON null; text -> string (NULL if not valid UTF-8). */
static json_t *ek_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static int ek_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* The employee with this PIN as a new object {pin, last_name, first_name,
 * patronymic, birth_date, sex} (caller owns). 0, or -1 with res set. */
static int ek_employee_row(struct ek_ctx *c, const char *pin, json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = ek_bind(c, ST_EMPLOYEE, pin);
	int rc = ek_step(c, st, res);

	if (rc <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND,
					     "PIN %s has no record in e-kyzmat: the person is not and has "
					     "not been an employee of the municipality", pin);
		return -1;
	}
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "pin", pin, "last_name", ek_col(st, 0),
			 "first_name", ek_col(st, 1), "patronymic", ek_col(st, 2),
			 "birth_date", ek_col(st, 3), "sex", ek_col(st, 4));
	sqlite3_reset(st);
	if (*out == NULL) {
		ek_oom(res);
		return -1;
	}
	return 0;
}

/* ---- employee --------------------------------------------------------- */

static json_t *ek_move(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "kind", ek_col(st, MV_KIND), "kind_ky", ek_col(st, MV_KIND_KY),
			 "kind_ru", ek_col(st, MV_KIND_RU), "date", ek_col(st, MV_DATE),
			 "position", ek_col(st, MV_POSITION), "position_ky", ek_col(st, MV_POSITION_KY),
			 "position_ru", ek_col(st, MV_POSITION_RU), "department", ek_col(st, MV_DEPARTMENT),
			 "department_ky", ek_col(st, MV_DEPARTMENT_KY),
			 "department_ru", ek_col(st, MV_DEPARTMENT_RU),
			 "order_number", ek_col(st, MV_ORDER_NUMBER), "order_date", ek_col(st, MV_ORDER_DATE),
			 "reason", ek_col(st, MV_REASON));
}

static json_t *ek_current(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "position", ek_col(st, MV_POSITION), "position_ky", ek_col(st, MV_POSITION_KY),
			 "position_ru", ek_col(st, MV_POSITION_RU), "department", ek_col(st, MV_DEPARTMENT),
			 "department_ky", ek_col(st, MV_DEPARTMENT_KY),
			 "department_ru", ek_col(st, MV_DEPARTMENT_RU), "since", ek_col(st, MV_DATE));
}

/* Where the employee stands today, from the moves up to today: the position
 * of the last hire, transfer or promotion, unless a dismissal came after it
 * (its date is the last working day: employed until that day ends). */
struct ek_state {
	json_t *current;             /* owned; NULL: not employed */
	char hired_on[11];           /* "" when not employed */
	int bad;                     /* out of memory */
};

static void ek_state_apply(struct ek_state *s, sqlite3_stmt *st, const char *today)
{
	const char *kind = (const char *)sqlite3_column_text(st, MV_KIND);
	const char *date = (const char *)sqlite3_column_text(st, MV_DATE);

	if (kind == NULL || date == NULL || strcmp(date, today) > 0)
		return;
	if (strcmp(kind, "dismissal") == 0) {
		if (strcmp(date, today) < 0) {
			json_decref(s->current);
			s->current = NULL;
			s->hired_on[0] = '\0';
		}
		return;
	}
	if (strcmp(kind, "hire") == 0 && s->current == NULL)
		snprintf(s->hired_on, sizeof(s->hired_on), "%s", date);
	json_decref(s->current);
	s->current = ek_current(st);
	s->bad |= s->current == NULL;
}

/* Adds employed, hired_on, current_position and moves to o. 0, or -1 with
 * res set. */
static int ek_moves(struct ek_ctx *c, const char *pin, json_t *o, struct adapter_result *res)
{
	struct ek_state s = { NULL, "", 0 };
	sqlite3_stmt *st = ek_bind(c, ST_MOVES, pin);
	json_t *arr = json_array();
	char today[11];
	int rc, bad = arr == NULL;

	ek_today(today);
	while (!bad && (rc = ek_step(c, st, res)) == 1) {
		ek_state_apply(&s, st, today);
		bad |= s.bad || json_array_append_new(arr, ek_move(st)) != 0;
	}
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		json_decref(s.current);
		return -1;
	}
	bad |= ek_set(o, "employed", json_boolean(s.current != NULL));
	bad |= ek_set(o, "hired_on", s.hired_on[0] ? json_string(s.hired_on) : json_null());
	bad |= ek_set(o, "current_position", s.current ? s.current : json_null());
	bad |= ek_set(o, "moves", arr);
	if (bad) {
		ek_oom(res);
		return -1;
	}
	return 0;
}

/* Adds prior_service (the work-book periods) to o. 0, or -1 with res set. */
static int ek_prior(struct ek_ctx *c, const char *pin, json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = ek_bind(c, ST_PRIOR, pin);
	json_t *arr = json_array();
	int rc, bad = arr == NULL;

	while (!bad && (rc = ek_step(c, st, res)) == 1)
		bad |= json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o}",
							    "employer", ek_col(st, 0),
							    "position", ek_col(st, 1),
							    "start_date", ek_col(st, 2),
							    "end_date", ek_col(st, 3))) != 0;
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	if (ek_set(o, "prior_service", arr) != 0 || bad) {
		ek_oom(res);
		return -1;
	}
	return 0;
}

static void ek_employee(struct ek_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char pin[EK_PARAM_MAX];

	if (ek_pin(call, pin, sizeof(pin), res) != 0 || ek_employee_row(c, pin, &res->data, res) != 0)
		return;
	if (ek_moves(c, pin, res->data, res) != 0)
		return;
	(void)ek_prior(c, pin, res->data, res);   /* res tells */
}

/* ---- length-of-service ------------------------------------------------ */

/* An employment period: days, both ends inclusive; end INT_MAX: open. */
struct ek_period {
	int start, end;
	int own;                     /* 1: here (from the moves), 0: work book */
	int book;                    /* work book: row number in prior_service order */
};

struct ek_periods {
	struct ek_period p[EK_PERIODS_MAX];
	size_t n;
	json_t *employers;           /* owned: work-book employers, by book row */
};

static int ek_add_period(struct ek_periods *ps, int start, int end, int own, int book)
{
	if (ps->n == EK_PERIODS_MAX)
		return -1;
	ps->p[ps->n++] = (struct ek_period){ start, end, own, book };
	return 0;
}

/* The periods here, from the moves: a hire opens one, a dismissal closes it
 * on its date. 0, or -1 with res set (a record that does not add up is
 * refused rather than guessed at). */
static int ek_own_periods(struct ek_ctx *c, const char *pin, struct ek_periods *ps,
			  struct adapter_result *res)
{
	sqlite3_stmt *st = ek_bind(c, ST_MOVES, pin);
	int rc, day, open = INT_MIN;
	const char *why = NULL;

	while (why == NULL && (rc = ek_step(c, st, res)) == 1) {
		const char *kind = (const char *)sqlite3_column_text(st, MV_KIND);

		if (ek_parse_date((const char *)sqlite3_column_text(st, MV_DATE), &day) != 0)
			why = "a move has a malformed date";
		else if (kind != NULL && strcmp(kind, "hire") == 0 && open != INT_MIN)
			why = "a hire while already employed";
		else if (kind != NULL && strcmp(kind, "hire") == 0)
			open = day;
		else if (kind != NULL && strcmp(kind, "dismissal") == 0 && open == INT_MIN)
			why = "a dismissal without a hire";
		else if (kind != NULL && strcmp(kind, "dismissal") == 0 &&
			 ek_add_period(ps, open, day, 1, 0) == 0)
			open = INT_MIN;
		else if (kind != NULL && strcmp(kind, "dismissal") == 0)
			why = "too many employment periods";
	}
	if (why != NULL)
		sqlite3_reset(st);
	else if (rc < 0)
		return -1;
	else if (open != INT_MIN && ek_add_period(ps, open, INT_MAX, 1, 0) != 0)
		why = "too many employment periods";
	if (why == NULL)
		return 0;
	ek_error(res, ADAPTER_FAILED, "the career record of PIN %s does not add up (%s); the "
		 "personnel office has to correct it", pin, why);
	return -1;
}

/* The work-book periods, their employers into ps->employers. 0, or -1 with
 * res set. */
static int ek_book_periods(struct ek_ctx *c, const char *pin, struct ek_periods *ps,
			   struct adapter_result *res)
{
	sqlite3_stmt *st = ek_bind(c, ST_PRIOR, pin);
	int rc, s, e, row = 0, oom = 0;
	const char *why = NULL;

	while (why == NULL && !oom && (rc = ek_step(c, st, res)) == 1) {
		if (ek_parse_date((const char *)sqlite3_column_text(st, 2), &s) != 0 ||
		    ek_parse_date((const char *)sqlite3_column_text(st, 3), &e) != 0 || e < s)
			why = "a work-book period has a malformed date";
		else if (ek_add_period(ps, s, e, 0, row++) != 0)
			why = "too many employment periods";
		else
			oom = json_array_append_new(ps->employers, ek_col(st, 0)) != 0;
	}
	if (why != NULL || oom)
		sqlite3_reset(st);
	else if (rc < 0)
		return -1;
	if (why == NULL && !oom)
		return 0;
	if (oom)
		ek_oom(res);
	else
		ek_error(res, ADAPTER_FAILED, "the career record of PIN %s does not add up (%s); the "
			 "personnel office has to correct it", pin, why);
	return -1;
}

static int ek_period_cmp(const void *a, const void *b)
{
	const struct ek_period *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->own != y->own)
		return x->own - y->own;   /* work book first, as it came first */
	return x->book - y->book;
}

/* Whole years, months and remaining days of the run [a, b] (both counted):
 * the most whole months m with a + m months <= b + 1 day, then the days
 * from there to b + 1 day. */
static void ek_ymd(int a, int b, int *years, int *months, int *days)
{
	int e = b + 1, ay, am, ad, ey, em, ed, n;

	ek_civil(a, &ay, &am, &ad);
	ek_civil(e, &ey, &em, &ed);
	n = (ey - ay) * 12 + (em - am);
	if (ek_add_months(a, n) > e)
		n--;
	*years = n / 12;
	*months = n % 12;
	*days = e - ek_add_months(a, n);
}

/* Totals of the runs: each run's years, months and days summed, then every
 * 30 days carried into a month and every 12 months into a year. */
struct ek_total {
	long years, months, days, total_days;
};

static json_t *ek_run(int a, int b, struct ek_total *t)
{
	char from[11], to[11];
	int y, m, d;

	ek_ymd(a, b, &y, &m, &d);
	t->years += y;
	t->months += m;
	t->days += d;
	t->total_days += (long)b - a + 1;
	ek_fmt(a, from);
	ek_fmt(b, to);
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:I}", "start_date", from, "end_date", to,
			 "years", y, "months", m, "days", d, "total_days", (json_int_t)b - a + 1);
}

/* The periods as recorded (sorted), for the answer; employer: the name for
 * the periods here. */
static json_t *ek_periods_json(const struct ek_periods *ps, json_t *employer)
{
	json_t *arr = json_array();
	char from[11], to[11];
	int bad = arr == NULL;

	for (size_t i = 0; !bad && i < ps->n; i++) {
		const struct ek_period *p = &ps->p[i];

		ek_fmt(p->start, from);
		if (p->end != INT_MAX)
			ek_fmt(p->end, to);
		bad |= json_array_append_new(arr, json_pack(
			"{s:s,s:O,s:s,s:o}", "source", p->own ? "e-kyzmat" : "work_book",
			"employer", p->own ? employer : json_array_get(ps->employers, (size_t)p->book),
			"start_date", from,
			"end_date", p->end != INT_MAX ? json_string(to) : json_null())) != 0;
	}
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* Merges the sorted periods, cut at day on, into runs; sets the totals and
 * "runs" in o. 0 or -1 (out of memory). */
static int ek_runs(const struct ek_periods *ps, int on, json_t *o)
{
	struct ek_total t = { 0, 0, 0, 0 };
	json_t *runs = json_array();
	int have = 0, a = 0, b = 0, bad = runs == NULL;

	for (size_t i = 0; i <= ps->n && !bad; i++) {
		int s = i < ps->n ? ps->p[i].start : INT_MAX;
		int e = i < ps->n ? (ps->p[i].end < on ? ps->p[i].end : on) : INT_MAX;

		if (i < ps->n && s > on)
			continue;               /* starts after the day asked for */
		if (have && i < ps->n && s <= b + 1) {
			b = e > b ? e : b;      /* overlaps or touches: one run */
			continue;
		}
		if (have)
			bad |= json_array_append_new(runs, ek_run(a, b, &t)) != 0;
		have = i < ps->n;
		a = s;
		b = e;
	}
	t.months += t.days / 30;
	t.days %= 30;
	t.years += t.months / 12;
	t.months %= 12;
	bad |= ek_set(o, "years", json_integer(t.years));
	bad |= ek_set(o, "months", json_integer(t.months));
	bad |= ek_set(o, "days", json_integer(t.days));
	bad |= ek_set(o, "total_days", json_integer(t.total_days));
	bad |= ek_set(o, "runs", runs);
	return bad ? -1 : 0;
}

/* The employer's name for the periods here (JSON null if not recorded). */
static json_t *ek_employer(struct ek_ctx *c, struct adapter_result *res)
{
	sqlite3_stmt *st = ek_bind(c, ST_EMPLOYER, NULL);
	int rc = ek_step(c, st, res);
	json_t *v;

	if (rc < 0)
		return NULL;
	if (rc == 0)
		return json_null();
	v = ek_col(st, 0);
	sqlite3_reset(st);
	if (v == NULL)
		ek_oom(res);
	return v;
}

static void ek_length_of_service(struct ek_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	struct ek_periods ps;          /* 2 KiB */
	char pin[EK_PARAM_MAX], on[11];
	json_t *o = NULL, *employer = NULL, *periods;
	int day, bad = 0;

	if (ek_pin(call, pin, sizeof(pin), res) != 0 || ek_on(call, on, &day, res) != 0 ||
	    ek_employee_row(c, pin, &o, res) != 0)
		return;
	res->data = o;
	json_object_del(o, "birth_date");
	json_object_del(o, "sex");
	ps.n = 0;
	ps.employers = json_array();
	if (ps.employers == NULL) {
		ek_oom(res);
		return;
	}
	if (ek_own_periods(c, pin, &ps, res) != 0 || ek_book_periods(c, pin, &ps, res) != 0 ||
	    (employer = ek_employer(c, res)) == NULL)
		goto out;
	qsort(ps.p, ps.n, sizeof(ps.p[0]), ek_period_cmp);
	periods = ek_periods_json(&ps, employer);
	json_decref(employer);
	bad |= ek_set(o, "on", json_string(on));
	bad |= ek_runs(&ps, day, o);
	bad |= ek_set(o, "periods", periods);   /* takes periods, even when it fails */
	if (bad)
		ek_oom(res);
out:
	json_decref(ps.employers);
}

/* ---- vacancies -------------------------------------------------------- */

/* Folds a code to its stored form (lower case, '-' as '_'). 1 if it has
 * that form then, 0 if not. */
static int ek_code_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EK_CODE_MAX)
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

/* The optional "department": its code into code[EK_CODE_MAX + 1] ("" for
 * all). 0, or -1 with res set (an unknown code lists the valid ones). */
static int ek_department(struct ek_ctx *c, const struct adapter_call *call, char *code,
			 struct adapter_result *res)
{
	char in[EK_PARAM_MAX], codes[512] = "?";
	sqlite3_stmt *st;
	int rc, ok;

	ek_trimmed(call, "department", in, sizeof(in));
	code[0] = '\0';
	if (in[0] == '\0')
		return 0;
	if ((ok = ek_code_ok(in)) != 0) {
		st = ek_bind(c, ST_DEPARTMENT, in);
		if ((rc = ek_step(c, st, res)) < 0)
			return -1;
		if (rc == 1) {
			sqlite3_reset(st);
			memcpy(code, in, strnlen(in, EK_CODE_MAX) + 1);   /* ek_code_ok: fits */
			return 0;
		}
	}
	st = ek_bind(c, ST_DEPT_CODES, NULL);
	if ((rc = ek_step(c, st, res)) < 0)
		return -1;
	if (rc == 1) {
		snprintf(codes, sizeof(codes), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	if (ok)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "unknown department '%s'; valid codes: %s", in, codes);
	else
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "department must be one of the codes: %s", codes);
	return -1;
}

static json_t *ek_vacancy(sqlite3_stmt *st)
{
	sqlite3_int64 t = sqlite3_column_int64(st, 9);
	char som[32];

	snprintf(som, sizeof(som), "%lld.%02lld", (long long)(t / 100), (long long)(t % 100));
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:s,s:o}",
			 "id", ek_col(st, 0), "position", ek_col(st, 1), "position_ky", ek_col(st, 2),
			 "position_ru", ek_col(st, 3), "department", ek_col(st, 4),
			 "department_ky", ek_col(st, 5), "department_ru", ek_col(st, 6),
			 "posts", (json_int_t)sqlite3_column_int64(st, 7), "announced_on", ek_col(st, 8),
			 "salary_tyiyn", (json_int_t)t, "salary_som", som,
			 "requirements", ek_col(st, 10));
}

static void ek_vacancies(struct ek_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char code[EK_CODE_MAX + 1];
	sqlite3_stmt *st;
	json_t *arr;
	int rc, bad;

	if (ek_department(c, call, code, res) != 0)
		return;
	arr = json_array();
	res->data = json_pack("{s:o}", "department", code[0] ? json_string(code) : json_null());
	bad = arr == NULL || res->data == NULL;
	st = ek_bind(c, ST_VACANCIES, code[0] ? code : NULL);
	while (!bad && (rc = ek_step(c, st, res)) == 1)
		bad |= json_array_append_new(arr, ek_vacancy(st)) != 0;
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		return;
	}
	if (bad || ek_set(res->data, "count", json_integer((json_int_t)json_array_size(arr))) != 0) {
		json_decref(arr);
		ek_oom(res);
		return;
	}
	if (ek_set(res->data, "vacancies", arr) != 0)
		ek_oom(res);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*ek_fn)(struct ek_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const ek_pin_params[] = { "pin", NULL };
static const char *const ek_no_params[] = { NULL };

static const struct adapter_service ek_services[] = {
	{ "employee", "GET", ek_pin_params,
	  "A municipal employee by PIN: current position and career moves" },
	{ "length-of-service", "GET", ek_pin_params,
	  "Length of service by PIN to the day, up to a date (default today)" },
	{ "vacancies", "GET", ek_no_params, "Open vacancies (optional department)" },
};

static const ek_fn ek_handlers[] = { ek_employee, ek_length_of_service, ek_vacancies };

_Static_assert(sizeof(ek_services) / sizeof(ek_services[0]) ==
	       sizeof(ek_handlers) / sizeof(ek_handlers[0]), "one handler per service");

#define EK_N_SERVICES (sizeof(ek_services) / sizeof(ek_services[0]))

static void ek_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct ek_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	c->db_failed = 0;
	for (i = 0; i < EK_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, ek_services[i].code) == 0)
			break;
	if (i == EK_N_SERVICES)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "e-kyzmat has no such service");
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     ek_services[i].code);
	else if (ek_ready(c, &res) == 0)
		ek_handlers[i](c, call, &res);
	/* Close only after the statements are done with, so the next call
	 * opens the file afresh. */
	if (c->db_failed)
		ek_close(c);
	if (res.status != ADAPTER_OK)
		ek_log(c, ADAPTER_LOG_DEBUG, "%s: %s", call->service_code ? call->service_code : "?",
		       adapter_status_name(res.status));
	c->reqid = NULL;
	done(&res, arg);
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int ek_config_str(const struct adapter_host *host, const char *key, const char *def,
			 char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int ek_config(struct ek_ctx *c, const struct adapter_host *host, char **err)
{
	char def[EK_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/e-kyzmat.db", host->data_dir ? host->data_dir : ".");
	if (ek_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    ek_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/e-kyzmat",
			  c->sql_dir, sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.e-kyzmat] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = EK_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > EK_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.e-kyzmat] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, EK_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int ek_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct ek_ctx *c = calloc(1, sizeof(*c));
	char why[EK_PATH_MAX + 256];

	*err = NULL;
	*vctx = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (ek_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	if (ek_open(c, why, sizeof(why)) != 0) {
		ek_log(c, ADAPTER_LOG_ERROR, "e-kyzmat unavailable: %s (will retry on each call)", why);
		c->down = 1;
	}
	*vctx = c;
	return 0;
}

static void ek_free(void *vctx)
{
	struct ek_ctx *c = vctx;

	if (c == NULL)
		return;
	ek_close(c);
	free(c);
}

const struct adapter_ops e_kyzmat_adapter = {
	.name = "e-kyzmat",
	.services = ek_services,
	.n_services = EK_N_SERVICES,
	.init = ek_init,
	.handle = ek_handle,
	.free = ek_free,
};
