/* The veterinary registry adapter (vet-registry): the livestock of a
 * household or of an owner, species by species, with the date each record
 * was last updated and its age in days.
 *
 * The livestock certificate must never be issued on missing or stale data
 * (domain.md), and it is the certificates service that decides what "stale"
 * is (its configured maximum age). So this adapter reports dates honestly
 * and never fills a gap: a household the veterinary service never entered
 * is ADAPTER_NOT_IN_REGISTER (no data), a household entered long ago is a
 * normal answer whose last_updated is far in the past and data_age_days
 * large, and a date it cannot trust (malformed, in the future) is null.
 *
 * Backed by SQLite like the other registries: one connection per worker
 * thread, statements prepared once and reused, parameters always bound; the
 * database is created from schema.sql + seed.sql when it has no tables; a
 * database that cannot be opened makes calls answer ADAPTER_UNAVAILABLE and
 * is retried per call. Answer shapes: README.md beside this file. */
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

#define VET_PATH_MAX 1024
#define VET_SQL_MAX (4u << 20)      /* schema.sql / seed.sql */
#define VET_PARAM_MAX 64            /* longest parameter looked at (bytes) */
#define VET_KEY_MAX 32              /* household id */
#define VET_BUSY_MS_DEFAULT 1000
#define VET_BUSY_MS_MAX 60000
#define VET_HOLDINGS_MAX 16         /* holdings of one owner in one answer */

enum vet_stmt { ST_HOLDING, ST_BY_OWNER, ST_RECORDS, ST_TAGS, ST_COUNT };

static const char *const vet_sql[ST_COUNT] = {
	[ST_HOLDING] =
		"SELECT household_id, owner_pin, owner_name, owner_citizenship, owner_document_type,"
		" owner_document_number, registered_on, updated_on FROM holdings"
		" WHERE household_id = ?1",
	[ST_BY_OWNER] = "SELECT household_id FROM holdings WHERE owner_pin = ?1 ORDER BY household_id",
	[ST_RECORDS] =
		"SELECT r.id, r.species, s.ky, s.ru, r.head_count, r.last_updated"
		" FROM records r JOIN species s ON s.code = r.species"
		" WHERE r.household_id = ?1 ORDER BY s.sort, r.id",
	[ST_TAGS] = "SELECT tag_id FROM tags WHERE record_id = ?1 ORDER BY tag_id",
};

/* Per worker thread. */
struct vet_ctx {
	struct adapter_host host;      /* copied; its strings stay borrowed */
	char db_path[VET_PATH_MAX];
	char sql_dir[VET_PATH_MAX];
	int busy_ms;
	char as_of[11];                /* config "as_of" (YYYY-MM-DD), "" for the clock */
	sqlite3 *db;                   /* NULL while closed */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;                 /* an SQLite error in this call: close after it */
	int down;                      /* the last open failed (logged once per outage) */
	const char *reqid;             /* of the call in progress, for logs */
};

#define vet_log(c, lvl, ...)                                                       \
	do {                                                                       \
		if ((c)->host.log != NULL)                                         \
			(c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); \
	} while (0)

static const char vet_unavailable[] =
	"the veterinary registry database is unavailable; try again later";

/* ---- the database ------------------------------------------------------ */

static void vet_close(struct vet_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
	c->db_failed = 0;
}

/* Reads dir/name into a NUL-terminated buffer (caller frees), at most
 * VET_SQL_MAX bytes. NULL with why set. */
static char *vet_read_sql(const char *dir, const char *name, char *why, size_t wlen)
{
	char path[VET_PATH_MAX + 32];
	char *buf = NULL;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(why, wlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(VET_SQL_MAX + 1);
	if (buf == NULL) {
		snprintf(why, wlen, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, VET_SQL_MAX + 1, f);
	if (ferror(f) || n > VET_SQL_MAX) {
		snprintf(why, wlen, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static int vet_exec_file(struct vet_ctx *c, const char *name, char *why, size_t wlen)
{
	char *sql = vet_read_sql(c->sql_dir, name, why, wlen);
	char *msg = NULL;
	int rc;

	if (sql == NULL)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		snprintf(why, wlen, "%s/%s: %s", c->sql_dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Creates the tables and the demo data if the database has none, inside one
 * IMMEDIATE transaction so that workers starting together do it once. A
 * database with other tables is somebody else's: left alone, refused. */
static int vet_create_if_empty(struct vet_ctx *c, char *why, size_t wlen)
{
	sqlite3_stmt *q = NULL;
	int rc, tables = 0, ours = 0;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, wlen, "cannot lock %s: %s", c->db_path, sqlite3_errmsg(c->db));
		return -1;
	}
	rc = sqlite3_prepare_v2(c->db, "SELECT count(*), count(name = 'holdings' OR NULL)"
				" FROM sqlite_master WHERE type = 'table'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		tables = sqlite3_column_int(q, 0);
		ours = sqlite3_column_int(q, 1);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		snprintf(why, wlen, "cannot read %s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (tables > 0 && !ours) {
		snprintf(why, wlen, "%s has tables but no 'holdings': not a veterinary registry", c->db_path);
		goto fail;
	}
	if (!ours) {
		if (vet_exec_file(c, "schema.sql", why, wlen) != 0 ||
		    vet_exec_file(c, "seed.sql", why, wlen) != 0)
			goto fail;
		vet_log(c, ADAPTER_LOG_INFO, "veterinary: created %s from %s/{schema,seed}.sql",
			c->db_path, c->sql_dir);
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(why, wlen, "cannot commit %s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Opens the connection if it is closed. 0, or -1 with why set (closed). */
static int vet_open(struct vet_ctx *c, char *why, size_t wlen)
{
	int rc;

	if (c->db != NULL)
		return 0;
	rc = sqlite3_open_v2(c->db_path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(why, wlen, "cannot open %s: %s", c->db_path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, c->busy_ms);
	/* WAL: readers (every worker) never wait for a writer. */
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	if (vet_create_if_empty(c, why, wlen) != 0)
		goto fail;
	/* The adapter only reads from here on: the connection cannot write. */
	if (sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	for (size_t i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, vet_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK)
			goto fail_msg;
	return 0;
fail_msg:
	snprintf(why, wlen, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	vet_close(c);
	return -1;
}

/* Opens the database if needed. 0, or -1 with res set to unavailable. */
static int vet_ready(struct vet_ctx *c, struct adapter_result *res)
{
	char why[VET_PATH_MAX + 256];

	if (vet_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			vet_log(c, ADAPTER_LOG_INFO, "veterinary: %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	vet_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "veterinary registry unavailable: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", vet_unavailable);
	return -1;
}

/* A query failed: the caller hears "unavailable", the log gets why. */
static void vet_db_error(struct vet_ctx *c, struct adapter_result *res)
{
	vet_log(c, ADAPTER_LOG_ERROR, "veterinary db %s: %s", c->db_path,
		c->db ? sqlite3_errmsg(c->db) : "no connection");
	c->db_failed = 1;
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", vet_unavailable);
}

/* Resets statement s and binds up to 4 text parameters (NULL binds NULL).
 * The values must outlive the statement's use. */
static sqlite3_stmt *vet_bind(struct vet_ctx *c, enum vet_stmt s, const char *a, const char *b,
			      const char *d, const char *e)
{
	const char *v[4] = { a, b, d, e };
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < 4 && i < sqlite3_bind_parameter_count(st); i++)
		if (v[i] != NULL && sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC) != SQLITE_OK)
			return NULL;
	return st;
}

/* Steps st: 1 row, 0 done, -1 error (res set, st reset). */
static int vet_step(struct vet_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	vet_db_error(c, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* ---- JSON from rows ---------------------------------------------------- */

/* Text column as a JSON string, SQL NULL as null; NULL if not UTF-8. */
static json_t *vet_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Sets keys[i] from columns first..first+n-1. 0 or -1. */
static int vet_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, int first, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++)
		bad |= json_object_set_new(o, keys[i], vet_col(st, first + i));
	return bad ? -1 : 0;
}

static void vet_oom(struct adapter_result *res)
{
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* ---- parameters ------------------------------------------------------- */

static const char *vet_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int vet_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Copies s without surrounding whitespace (SOAP bodies are often indented)
 * into out[cap], truncating: the validators then see the over-long value. */
static void vet_trim(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (vet_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && vet_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Household ids and document numbers: 1-32 ASCII letters, digits and '-',
 * folded to upper case in place. 1 if valid. */
static int vet_key_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VET_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/* ---- dates -------------------------------------------------------------- */

static int vet_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a Gregorian date (H. Hinnant's days_from_civil). */
static long vet_days(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* s as strictly "YYYY-MM-DD", a real date of 1900..9999: 0 with *days set,
 * or -1. */
static int vet_parse_date(const char *s, long *days)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && vet_leap(y)))
		return -1;
	*days = vet_days(y, m, d);
	return 0;
}

/* The day ages are counted to: config as_of, else today's local date
 * (the gateway runs in the registry's time zone). Text into out[16]. */
static long vet_today(const struct vet_ctx *c, char *out)
{
	struct tm tm;
	time_t now = time(NULL);
	long days = 0;

	if (c->as_of[0] != '\0') {
		memcpy(out, c->as_of, sizeof(c->as_of));
		(void)vet_parse_date(out, &days);   /* checked at init */
		return days;
	}
	localtime_r(&now, &tm);
	if (strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
	return vet_days(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* A stored update date and its age in days as of today, into o (keys
 * "last_updated", "data_age_days"). A date that is not a date, or lies after
 * today, is a data error: both are null rather than guessed, so nothing is
 * certified on it. *days gets the parsed date (LONG_MIN if none). 0 or -1. */
static int vet_dated(struct vet_ctx *c, json_t *o, const char *date, long today, long *days)
{
	int is_date = vet_parse_date(date, days) == 0;

	if (!is_date || *days > today) {
		vet_log(c, ADAPTER_LOG_WARN, "veterinary: update date '%.16s' is %s; reported as null",
			date ? date : "(null)", is_date ? "after as_of/today" : "not a date");
		*days = LONG_MIN;
		return json_object_set_new(o, "last_updated", json_null()) |
		       json_object_set_new(o, "data_age_days", json_null()) ? -1 : 0;
	}
	return json_object_set_new(o, "last_updated", json_string(date)) |
	       json_object_set_new(o, "data_age_days", json_integer(today - *days)) ? -1 : 0;
}

/* ---- answers ------------------------------------------------------------ */

/* Tag ids of record rid into a new array (caller owns), or NULL with res set. */
static json_t *vet_tags(struct vet_ctx *c, sqlite3_int64 rid, struct adapter_result *res)
{
	sqlite3_stmt *st = c->st[ST_TAGS];
	json_t *arr = json_array();
	int rc;

	sqlite3_reset(st);
	if (arr == NULL || sqlite3_bind_int64(st, 1, rid) != SQLITE_OK)
		goto oom;
	while ((rc = vet_step(c, st, res)) == 1)
		if (json_array_append_new(arr, vet_col(st, 0)) != 0)
			goto oom;
	if (rc < 0) {
		json_decref(arr);
		return NULL;
	}
	sqlite3_reset(st);
	return arr;
oom:
	sqlite3_reset(st);
	json_decref(arr);
	vet_oom(res);
	return NULL;
}

/* One ST_RECORDS row (caller owns), or NULL with res set. */
static json_t *vet_record(struct vet_ctx *c, sqlite3_stmt *st, long today, long *days,
			  struct adapter_result *res)
{
	static const char *const keys[] = { "species", "species_ky", "species_ru" };
	json_t *o = json_object(), *tags;
	char date[16];

	snprintf(date, sizeof(date), "%s",
		 sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
	if (o == NULL || vet_cols(o, st, keys, 1, 3) != 0 ||
	    json_object_set_new(o, "head_count", json_integer(sqlite3_column_int64(st, 4))) != 0)
		goto oom;
	tags = vet_tags(c, sqlite3_column_int64(st, 0), res);
	if (tags == NULL)
		goto fail;
	if (json_object_set_new(o, "tag_ids", tags) != 0 || vet_dated(c, o, date, today, days) != 0)
		goto oom;
	return o;
oom:
	vet_oom(res);
fail:
	json_decref(o);
	return NULL;
}

/* Adds "records" to o; oldest[16] gets the date of the least recently
 * updated one ("" if none), *unknown whether one's date is unknown, *heads
 * their sum. The number of records, or -1 with res set. */
static int vet_records(struct vet_ctx *c, const char *hid, long today, json_t *o, char *oldest,
		       int *unknown, long long *heads, struct adapter_result *res)
{
	sqlite3_stmt *st = vet_bind(c, ST_RECORDS, hid, NULL, NULL, NULL);
	json_t *arr = json_array(), *r;
	long d, min = LONG_MAX;
	int rc;

	oldest[0] = '\0';
	*unknown = 0;
	*heads = 0;
	if (arr == NULL || json_object_set_new(o, "records", arr) != 0) {
		vet_oom(res);
		return -1;
	}
	while ((rc = vet_step(c, st, res)) == 1) {
		*heads += sqlite3_column_int64(st, 4);
		r = vet_record(c, st, today, &d, res);
		if (r == NULL || json_array_append_new(arr, r) != 0) {
			sqlite3_reset(st);
			if (r != NULL)
				vet_oom(res);
			return -1;
		}
		*unknown |= d == LONG_MIN;
		if (d != LONG_MIN && d < min) {
			min = d;
			snprintf(oldest, 16, "%s", (const char *)sqlite3_column_text(st, 5));
		}
	}
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return (int)json_array_size(arr);
}

/* The fields of one ST_HOLDING row, in answer order (caller owns). */
static json_t *vet_holding_row(sqlite3_stmt *st)
{
	json_t *doc = sqlite3_column_type(st, 5) == SQLITE_NULL ? json_null() :
		json_pack("{s:o,s:o}", "type", vet_col(st, 4), "number", vet_col(st, 5));

	return json_pack("{s:o,s:{s:o,s:o,s:o,s:o},s:o}", "household_id", vet_col(st, 0),
			 "owner", "pin", vet_col(st, 1), "name", vet_col(st, 2),
			 "citizenship", vet_col(st, 3), "document", doc,
			 "registered_on", vet_col(st, 6));
}

/* The holding of household hid with its records into *out. 1 found, 0 not
 * in the registry, -1 with res set. */
static int vet_holding(struct vet_ctx *c, const char *hid, long today, json_t **out,
		       struct adapter_result *res)
{
	sqlite3_stmt *st = vet_bind(c, ST_HOLDING, hid, NULL, NULL, NULL);
	char updated[16], oldest[16];
	long long heads;
	json_t *o;
	int rc = vet_step(c, st, res), n, unknown;
	long d;

	if (rc <= 0) {
		if (rc == 0)
			sqlite3_reset(st);
		return rc;
	}
	snprintf(updated, sizeof(updated), "%s",
		 sqlite3_column_text(st, 7) ? (const char *)sqlite3_column_text(st, 7) : "");
	o = vet_holding_row(st);
	sqlite3_reset(st);
	/* Placeholders keep the key order; set for real below (jansson keeps
	 * a replaced key where it was). */
	if (o == NULL || json_object_set_new(o, "last_updated", json_null()) != 0 ||
	    json_object_set_new(o, "data_age_days", json_null()) != 0 ||
	    json_object_set_new(o, "total_head_count", json_integer(0)) != 0)
		goto oom;
	n = vet_records(c, hid, today, o, oldest, &unknown, &heads, res);
	if (n < 0)
		goto fail;
	/* A holding is as fresh as its least recently updated record; with no
	 * records, as the date it was last confirmed. One unknown date makes
	 * the holding's unknown: the nulls stay. */
	if ((!unknown && vet_dated(c, o, n == 0 ? updated : oldest, today, &d) != 0) ||
	    json_object_set_new(o, "total_head_count", json_integer(heads)) != 0)
		goto oom;
	*out = o;
	return 1;
oom:
	vet_oom(res);
fail:
	json_decref(o);
	return -1;
}

static void vet_livestock(struct vet_ctx *c, const struct adapter_call *call,
			  struct adapter_result *res)
{
	char id[VET_KEY_MAX + 2], today_s[16];
	long today = vet_today(c, today_s);
	json_t *o = NULL, *h = NULL;
	int rc;

	vet_trim(vet_param(call, "household_id"), id, sizeof(id));
	if (!vet_key_ok(id)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     VET_KEY_MAX);
		return;
	}
	rc = vet_holding(c, id, today, &h, res);
	if (rc == 0)
		adapter_result_error(res, ADAPTER_NOT_IN_REGISTER,
				     "household %s is not in the veterinary registry: no record of its "
				     "livestock has been entered", id);
	if (rc <= 0)
		return;
	o = json_pack("{s:s}", "as_of", today_s);
	if (o == NULL || json_object_update(o, h) != 0) {
		json_decref(o);
		vet_oom(res);
	} else {
		res->data = o;
	}
	json_decref(h);
}

/* Household ids of the holdings pin owns into ids (at most VET_HOLDINGS_MAX
 * are listed). Their number, or -1 with res set. */
static int vet_owned(struct vet_ctx *c, const char *pin, char ids[][VET_KEY_MAX + 1],
		     struct adapter_result *res)
{
	sqlite3_stmt *st = vet_bind(c, ST_BY_OWNER, pin, NULL, NULL, NULL);
	int rc, n = 0;

	while ((rc = vet_step(c, st, res)) == 1 && n < VET_HOLDINGS_MAX)
		snprintf(ids[n++], VET_KEY_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return n;
}

static void vet_livestock_by_owner(struct vet_ctx *c, const struct adapter_call *call,
				   struct adapter_result *res)
{
	char pin[VET_PARAM_MAX + 2], why[160], today_s[16];
	char ids[VET_HOLDINGS_MAX][VET_KEY_MAX + 1];
	long today = vet_today(c, today_s);
	json_t *o = NULL, *arr = NULL, *h;
	int n;

	vet_trim(vet_param(call, "pin"), pin, sizeof(pin));
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	n = vet_owned(c, pin, ids, res);
	if (n == 0)
		adapter_result_error(res, ADAPTER_NOT_IN_REGISTER,
				     "no livestock holding has been entered for PIN %s in the "
				     "veterinary registry", pin);
	if (n <= 0)
		return;
	arr = json_array();
	o = json_pack("{s:s,s:s,s:i}", "pin", pin, "as_of", today_s, "holding_count", n);
	if (arr == NULL || o == NULL)
		goto oom;
	for (int i = 0; i < n; i++) {
		if (vet_holding(c, ids[i], today, &h, res) < 0)
			goto fail;
		if (json_array_append_new(arr, h) != 0)
			goto oom;
	}
	if (json_object_set_new(o, "holdings", arr) != 0) {
		arr = NULL;
		goto oom;
	}
	res->data = o;
	return;
oom:
	vet_oom(res);
fail:
	json_decref(arr);
	json_decref(o);
}

/* ---- the ops table ------------------------------------------------------ */

typedef void (*vet_fn)(struct vet_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const vet_hh_params[] = { "household_id", NULL };
static const char *const vet_pin_params[] = { "pin", NULL };

static const struct adapter_service vet_services[] = {
	{ "livestock", "GET", vet_hh_params,
	  "Livestock of a household: species, head count, ear tags, date of last update and its age" },
	{ "livestock-by-owner", "GET", vet_pin_params,
	  "Livestock holdings registered to an owner, by PIN" },
};

static const vet_fn vet_handlers[] = { vet_livestock, vet_livestock_by_owner };

#define VET_N_SERVICES (sizeof(vet_services) / sizeof(vet_services[0]))
_Static_assert(VET_N_SERVICES == sizeof(vet_handlers) / sizeof(vet_handlers[0]),
	       "one handler per service");

static void vet_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct vet_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	for (i = 0; i < VET_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, vet_services[i].code) == 0)
			break;
	if (i == VET_N_SERVICES)
		adapter_result_error(&res, ADAPTER_FAILED,
				     "the veterinary registry adapter has no service '%.64s'",
				     call->service_code ? call->service_code : "");
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     vet_services[i].code);
	else if (vet_ready(c, &res) == 0)
		vet_handlers[i](c, call, &res);
	/* Close only after the statements are done with: the next call opens
	 * the file afresh. */
	if (c->db_failed)
		vet_close(c);
	if (res.status != ADAPTER_OK)
		vet_log(c, ADAPTER_LOG_DEBUG, "%s: %s", call->service_code ? call->service_code : "-",
			adapter_status_name(res.status));
	done(&res, arg);
	c->reqid = NULL;
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int vet_config_str(const struct adapter_host *host, const char *key, const char *def,
			  char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

/* as_of: the date ages are counted to instead of today (tests; replaying
 * the answers of a past day). Must be a real date, not in the future. */
static int vet_config_as_of(struct vet_ctx *c, const struct adapter_host *host, char **err)
{
	const char *v = host->config ? host->config(host->ctx, "as_of") : NULL;
	char today_s[16];
	long d;

	c->as_of[0] = '\0';
	if (v == NULL || v[0] == '\0')
		return 0;
	if (vet_parse_date(v, &d) != 0 || d > vet_today(c, today_s)) {
		if (asprintf(err, "[adapter.veterinary] as_of: '%.32s' is not a date YYYY-MM-DD "
			     "up to today", v) < 0)
			*err = NULL;
		return -1;
	}
	memcpy(c->as_of, v, sizeof(c->as_of));
	return 0;
}

static int vet_config(struct vet_ctx *c, const struct adapter_host *host, char **err)
{
	char def[VET_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/veterinary.db", host->data_dir ? host->data_dir : ".");
	if (vet_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    vet_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/veterinary", c->sql_dir,
			   sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.veterinary] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = VET_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > VET_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.veterinary] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, VET_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return vet_config_as_of(c, host, err);
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int vet_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct vet_ctx *c = calloc(1, sizeof(*c));
	struct adapter_result res;

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (vet_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	(void)vet_ready(c, &res);
	*vctx = c;
	return 0;
}

static void vet_free(void *vctx)
{
	struct vet_ctx *c = vctx;

	if (c == NULL)
		return;
	vet_close(c);
	free(c);
}

const struct adapter_ops veterinary_adapter = {
	.name = "veterinary",
	.services = vet_services,
	.n_services = VET_N_SERVICES,
	.init = vet_init,
	.handle = vet_handle,
	.free = vet_free,
};
