/* The population registry adapter: persons by PIN with their passport and
 * registered address (passport-service), civil status acts (zags-service),
 * and the bank's "does this PIN hold this passport" check.
 *
 * Backed by SQLite: one connection per worker thread, statements prepared
 * once and reused, parameters always bound. The database is created from
 * schema.sql + seed.sql when the file is new. A database that cannot be
 * opened does not stop the gateway: init logs it, and each call retries the
 * open and answers ADAPTER_UNAVAILABLE until it works (a registry on a
 * remounted disk comes back without a restart). Any SQLite error closes the
 * connection for the same reason. Result shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/pin.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."  /* CMake defines it; "." works from the source root */
#endif

#define POP_SQL_MAX (4u << 20)     /* schema/seed files larger than this are refused */
#define POP_PARAM_MAX 64           /* longest parameter we look at (bytes) */
#define POP_BUSY_MS_DEFAULT 1000   /* we block a loop thread: keep the wait short */

enum pop_stmt { ST_PERSON, ST_PASSPORT, ST_DOC, ST_ACTS, ST_COUNT };

static const char *const pop_sql[ST_COUNT] = {
	[ST_PERSON] =
		"SELECT id, pin, surname, name, patronymic, birth_date, birth_place, sex,"
		" citizenship, death_date, addr_region, addr_district, addr_ayil_okmotu,"
		" addr_village, addr_street, addr_house, addr_flat, addr_registered_on"
		" FROM person WHERE pin = ?1 ORDER BY id LIMIT 16",  /* holders of one PIN listed */
	/* The current document first; else the most recent one. */
	[ST_PASSPORT] =
		"SELECT series, number, issue_date, valid_until, authority, status"
		" FROM passport WHERE person_id = ?1"
		" ORDER BY status = 'valid' DESC, issue_date DESC, id DESC LIMIT 1",
	[ST_DOC] =
		"SELECT p.pin, p.death_date, d.status FROM passport d"
		" JOIN person p ON p.id = d.person_id WHERE d.series = ?1 AND d.number = ?2",
	[ST_ACTS] =
		"SELECT kind, act_number, act_date, registry_office, complete, mother_pin,"
		" mother_name, father_pin, father_name, spouse_pin, spouse_name, surname_after,"
		" divorce_act_number, divorce_date, death_date, death_place"
		" FROM civil_act WHERE person_id = ?1 ORDER BY act_date IS NULL, act_date, id",
};

/* Columns of ST_PERSON, in order. */
enum { P_ID, P_PIN, P_SURNAME, P_NAME, P_PATRONYMIC, P_BIRTH_DATE, P_BIRTH_PLACE, P_SEX,
       P_CITIZENSHIP, P_DEATH_DATE, P_ADDR_FIRST };

/* Per worker thread. */
struct pop_ctx {
	struct adapter_host host;      /* copied; its strings stay borrowed */
	char db_path[PATH_MAX];
	char sql_dir[PATH_MAX];
	int busy_ms;
	sqlite3 *db;                   /* NULL while closed */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;                 /* an SQLite error happened in this call */
	int down;                      /* the last open failed (logged once, not per call) */
	const char *reqid;             /* of the call in progress, for logs */
};

static const char *const pin_path[] = { "pin", NULL };

static const struct adapter_service pop_services[] = {
	{ "passportDataByPSN", "GET", pin_path,
	  "Person by PIN: name, birth date, sex, citizenship, passport, registered address" },
	{ "bankPinService", "GET", pin_path,
	  "Bank check: does this PIN hold the passport with this series and number" },
	{ "zagsDataByPin", "GET", pin_path,
	  "Civil status acts of a person by PIN: birth, marriages, death" },
};

#define pop_log(c, lvl, ...) \
	do { if ((c)->host.log) (c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); } while (0)

/* ---- database ---------------------------------------------------------- */

static void pop_close(struct pop_ctx *c)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* Reads dir/name into a NUL-terminated buffer (caller frees), at most
 * POP_SQL_MAX bytes. Returns NULL with why set. */
static char *pop_read_sql(const char *dir, const char *name, char *why, size_t wlen)
{
	char path[PATH_MAX + 32];
	struct stat sb;
	char *text = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(why, wlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0 || (size_t)sb.st_size > POP_SQL_MAX) {
		snprintf(why, wlen, "%s is unreadable or larger than %u bytes", path, POP_SQL_MAX);
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		snprintf(why, wlen, "out of memory reading %s", path);
		goto out;
	}
	if (fread(text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(why, wlen, "short read on %s", path);
		free(text);
		text = NULL;
		goto out;
	}
	text[sb.st_size] = '\0';
out:
	fclose(f);
	return text;
}

static int pop_exec_file(struct pop_ctx *c, const char *name, char *why, size_t wlen)
{
	char *sql = pop_read_sql(c->sql_dir, name, why, wlen);
	char *err = NULL;
	int rc;

	if (!sql)
		return -1;
	rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		snprintf(why, wlen, "%s/%s: %s", c->sql_dir, name, err ? err : sqlite3_errstr(rc));
	sqlite3_free(err);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Creates the tables and the demo data if the database has none. Inside one
 * IMMEDIATE transaction so that two workers starting together do it once. */
static int pop_create_if_empty(struct pop_ctx *c, char *why, size_t wlen)
{
	sqlite3_stmt *q = NULL;
	int rc, tables = 0, have = 0;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, wlen, "cannot lock the database: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	rc = sqlite3_prepare_v2(c->db, "SELECT count(*), count(name = 'person' OR NULL)"
				" FROM sqlite_master WHERE type = 'table'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		tables = sqlite3_column_int(q, 0);
		have = sqlite3_column_int(q, 1);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		snprintf(why, wlen, "cannot read the database: %s", sqlite3_errmsg(c->db));
		goto fail;
	}
	/* A db key pointing at some other database must not get our tables. */
	if (tables > 0 && !have) {
		snprintf(why, wlen, "%s has tables but no 'person': not a population registry",
			 c->db_path);
		goto fail;
	}
	if (!have) {
		if (pop_exec_file(c, "schema.sql", why, wlen) < 0 ||
		    pop_exec_file(c, "seed.sql", why, wlen) < 0)
			goto fail;
		pop_log(c, ADAPTER_LOG_INFO, "population: created %s from %s", c->db_path, c->sql_dir);
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(why, wlen, "cannot commit: %s", sqlite3_errmsg(c->db));
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Opens the connection if it is closed. 0, or -1 with why set (closed again). */
static int pop_open(struct pop_ctx *c, char *why, size_t wlen)
{
	int rc;

	if (c->db)
		return 0;
	rc = sqlite3_open_v2(c->db_path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(why, wlen, "cannot open %s: %s", c->db_path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, c->busy_ms);
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, wlen, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (pop_create_if_empty(c, why, wlen) < 0)
		goto fail;
	/* The adapter only reads from here on: make the connection unable to write. */
	if (sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, pop_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK)
			goto fail_msg;
	return 0;
fail_msg:
	snprintf(why, wlen, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	pop_close(c);
	return -1;
}

/* Logs the SQLite error and turns the answer into "unavailable". The
 * connection is closed once the call is over (pop_handle). */
static void pop_db_error(struct pop_ctx *c, struct adapter_result *res, const char *what)
{
	pop_log(c, ADAPTER_LOG_ERROR, "population: %s: %s", what,
		c->db ? sqlite3_errmsg(c->db) : "no connection");
	c->db_failed = 1;
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_UNAVAILABLE,
			     "the population registry cannot answer now (database error); try again later");
}

/* Opens the database if needed. 0, or -1 with res set to unavailable. */
static int pop_ready(struct pop_ctx *c, struct adapter_result *res)
{
	char why[PATH_MAX + 256];

	if (pop_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			pop_log(c, ADAPTER_LOG_INFO, "population: %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	pop_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "population: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE,
			     "the population registry cannot answer now (database unavailable); "
			     "try again later");
	return -1;
}

/* Resets st and binds text parameters 1..n (borrowed for the statement's use). */
static sqlite3_stmt *pop_stmt(struct pop_ctx *c, enum pop_stmt which, int n, const char *const *v)
{
	sqlite3_stmt *st = c->st[which];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < n; i++)
		if (sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC) != SQLITE_OK)
			return NULL;
	return st;
}

/* ---- JSON from rows ------------------------------------------------------ */

/* Text column as a JSON string, SQL NULL as JSON null. NULL (failure) if the
 * stored text is not UTF-8. */
static json_t *col_json(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	if (!s)
		return json_null();
	return json_stringn((const char *)s, (size_t)sqlite3_column_bytes(st, i));
}

static int col_is(sqlite3_stmt *st, int i, const char *want)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s && strcmp((const char *)s, want) == 0;
}

/* Sets keys[i] = column cols[i] for n columns. 0 or -1. */
static int set_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, const int *cols, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		rc |= json_object_set_new(o, keys[i], col_json(st, cols[i]));
	return rc ? -1 : 0;
}

/* The identity part of a person row, shared by both services. */
static json_t *person_identity(sqlite3_stmt *st)
{
	static const char *const keys[] = { "pin", "surname", "name", "patronymic", "birth_date" };
	static const int cols[] = { P_PIN, P_SURNAME, P_NAME, P_PATRONYMIC, P_BIRTH_DATE };
	json_t *o = json_object();

	if (!o || set_cols(o, st, keys, cols, 5) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *address_json(sqlite3_stmt *st)
{
	static const char *const keys[] = { "region", "district", "ayil_okmotu", "village",
					    "street", "house", "flat", "registered_on" };
	static const int cols[] = { P_ADDR_FIRST, P_ADDR_FIRST + 1, P_ADDR_FIRST + 2,
				    P_ADDR_FIRST + 3, P_ADDR_FIRST + 4, P_ADDR_FIRST + 5,
				    P_ADDR_FIRST + 6, P_ADDR_FIRST + 7 };
	json_t *o;

	/* No registration at all: null rather than an object of nulls. */
	if (sqlite3_column_type(st, P_ADDR_FIRST) == SQLITE_NULL &&
	    sqlite3_column_type(st, P_ADDR_FIRST + 3) == SQLITE_NULL)
		return json_null();
	o = json_object();
	if (!o || set_cols(o, st, keys, cols, 8) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The person's current (or latest) document, or JSON null. *dberr set on an
 * SQLite error. */
static json_t *passport_json(struct pop_ctx *c, sqlite3_int64 person_id, int *dberr)
{
	static const char *const keys[] = { "series", "number", "issue_date", "valid_until",
					    "authority", "status" };
	static const int cols[] = { 0, 1, 2, 3, 4, 5 };
	sqlite3_stmt *st = pop_stmt(c, ST_PASSPORT, 0, NULL);
	json_t *o = NULL;
	int rc;

	if (!st || sqlite3_bind_int64(st, 1, person_id) != SQLITE_OK) {
		*dberr = 1;
		return NULL;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		o = json_null();
	} else if (rc == SQLITE_ROW) {
		o = json_object();
		if (o && set_cols(o, st, keys, cols, 6) < 0) {
			json_decref(o);
			o = NULL;
		}
	} else {
		*dberr = 1;
	}
	sqlite3_reset(st);
	return o;
}

/* The passportDataByPSN element of one person row. */
static json_t *person_full(struct pop_ctx *c, sqlite3_stmt *st, int *dberr)
{
	static const char *const keys[] = { "birth_place", "sex", "citizenship" };
	static const int cols[] = { P_BIRTH_PLACE, P_SEX, P_CITIZENSHIP };
	json_t *o = person_identity(st);
	int rc;

	if (!o)
		return NULL;
	rc = set_cols(o, st, keys, cols, 3);
	rc |= json_object_set_new(o, "alive",
				  json_boolean(sqlite3_column_type(st, P_DEATH_DATE) == SQLITE_NULL));
	rc |= json_object_set_new(o, "death_date", col_json(st, P_DEATH_DATE));
	rc |= json_object_set_new(o, "passport",
				  passport_json(c, sqlite3_column_int64(st, P_ID), dberr));
	rc |= json_object_set_new(o, "address", address_json(st));
	if (rc || *dberr) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Columns of ST_ACTS. */
enum { A_KIND, A_NUMBER, A_DATE, A_OFFICE, A_COMPLETE, A_MOTHER_PIN, A_MOTHER_NAME, A_FATHER_PIN,
       A_FATHER_NAME, A_SPOUSE_PIN, A_SPOUSE_NAME, A_SURNAME_AFTER, A_DIVORCE_NUMBER,
       A_DIVORCE_DATE, A_DEATH_DATE, A_DEATH_PLACE };

/* {pin, full_name} of a parent, or null when neither is recorded. */
static json_t *parent_json(sqlite3_stmt *st, int pin_col, int name_col)
{
	if (sqlite3_column_type(st, pin_col) == SQLITE_NULL &&
	    sqlite3_column_type(st, name_col) == SQLITE_NULL)
		return json_null();
	return json_pack("{s:o?,s:o?}", "pin", col_json(st, pin_col), "full_name",
			 col_json(st, name_col));
}

static json_t *act_json(sqlite3_stmt *act, sqlite3_stmt *person)
{
	json_t *o = json_pack("{s:o?,s:o?,s:o?,s:b}", "act_number", col_json(act, A_NUMBER),
			      "act_date", col_json(act, A_DATE), "registry_office",
			      col_json(act, A_OFFICE), "complete", sqlite3_column_int(act, A_COMPLETE));
	int rc = 0;

	if (!o)
		return NULL;
	if (col_is(act, A_KIND, "birth")) {
		rc |= json_object_set_new(o, "birth_place", col_json(person, P_BIRTH_PLACE));
		rc |= json_object_set_new(o, "mother", parent_json(act, A_MOTHER_PIN, A_MOTHER_NAME));
		rc |= json_object_set_new(o, "father", parent_json(act, A_FATHER_PIN, A_FATHER_NAME));
	} else if (col_is(act, A_KIND, "marriage")) {
		static const char *const keys[] = { "spouse_pin", "spouse_full_name", "surname_after" };
		static const int cols[] = { A_SPOUSE_PIN, A_SPOUSE_NAME, A_SURNAME_AFTER };

		rc |= set_cols(o, act, keys, cols, 3);
		rc |= json_object_set_new(o, "dissolved", json_boolean(
				sqlite3_column_type(act, A_DIVORCE_DATE) != SQLITE_NULL));
		rc |= json_object_set_new(o, "divorce_act_number", col_json(act, A_DIVORCE_NUMBER));
		rc |= json_object_set_new(o, "divorce_date", col_json(act, A_DIVORCE_DATE));
	} else {
		rc |= json_object_set_new(o, "death_date", col_json(act, A_DEATH_DATE));
		rc |= json_object_set_new(o, "death_place", col_json(act, A_DEATH_PLACE));
	}
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Appends the person's acts to o's "birth", "marriage" and "death" arrays. */
static int person_acts(struct pop_ctx *c, sqlite3_stmt *person, json_t *o, int *dberr)
{
	sqlite3_stmt *st = pop_stmt(c, ST_ACTS, 0, NULL);
	int rc = -1, step;

	if (!st || sqlite3_bind_int64(st, 1, sqlite3_column_int64(person, P_ID)) != SQLITE_OK) {
		*dberr = 1;
		return -1;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, A_KIND);
		json_t *arr = kind ? json_object_get(o, kind) : NULL;

		if (!arr || json_array_append_new(arr, act_json(st, person)) < 0)
			goto out;
	}
	if (step != SQLITE_DONE) {
		*dberr = 1;
		goto out;
	}
	rc = 0;
out:
	sqlite3_reset(st);
	return rc;
}

/* The zagsDataByPin element of one person row. */
static json_t *person_zags(struct pop_ctx *c, sqlite3_stmt *st, int *dberr)
{
	json_t *o = person_identity(st);

	if (!o || json_object_set_new(o, "birth", json_array()) < 0 ||
	    json_object_set_new(o, "marriage", json_array()) < 0 ||
	    json_object_set_new(o, "death", json_array()) < 0 ||
	    person_acts(c, st, o, dberr) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- services ------------------------------------------------------------ */

/* Copies params[key] without surrounding white space (a pretty-printed SOAP
 * body has it) into out[POP_PARAM_MAX]. Returns out, "" when absent, or NULL
 * when too long or not a string. */
static const char *param_get(const json_t *params, const char *key, char *out)
{
	const json_t *v = json_object_get(params, key);
	const char *s, *e;

	out[0] = '\0';
	if (!v)
		return out;
	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	e = s + json_string_length(v);
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if ((size_t)(e - s) >= POP_PARAM_MAX)
		return NULL;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	return out;
}

/* The PIN parameter, checked. NULL with res set to ADAPTER_INVALID_INPUT. */
static const char *pin_param(const struct adapter_call *call, char *buf, struct adapter_result *res)
{
	char why[256];
	const char *pin = param_get(call->params, "pin", buf);

	if (!pin) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "PIN must be %d digits; the value given is far too long", PIN_LEN);
		return NULL;
	}
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return NULL;
	}
	return pin;
}

typedef json_t *(*person_fn)(struct pop_ctx *c, sqlite3_stmt *st, int *dberr);

/* {pin, duplicate_pin, person: [...]} for every person holding pin, each
 * rendered by fn. ADAPTER_NOT_FOUND when there is none. */
static void persons_by_pin(struct pop_ctx *c, const char *pin, person_fn fn,
			   struct adapter_result *res)
{
	sqlite3_stmt *st = pop_stmt(c, ST_PERSON, 1, &pin);
	json_t *list;
	int step = SQLITE_ERROR, dberr = 0;

	if (!st) {
		pop_db_error(c, res, "person lookup");
		return;
	}
	list = json_array();
	while (list && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(list, fn(c, st, &dberr)) < 0)
			break;
	}
	sqlite3_reset(st);
	if (dberr || (list && step != SQLITE_ROW && step != SQLITE_DONE)) {
		json_decref(list);
		pop_db_error(c, res, "person lookup");
		return;
	}
	if (!list || step != SQLITE_DONE) {
		json_decref(list);
		adapter_result_error(res, ADAPTER_FAILED, "cannot build the answer (out of memory)");
		return;
	}
	if (json_array_size(list) == 0) {
		json_decref(list);
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no person with PIN %s in the population registry", pin);
		return;
	}
	res->data = json_pack("{s:s,s:b,s:o}", "pin", pin, "duplicate_pin",
			      json_array_size(list) > 1, "person", list);
	if (!res->data)
		adapter_result_error(res, ADAPTER_FAILED, "cannot build the answer (out of memory)");
}

static void svc_passport(struct pop_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	char buf[POP_PARAM_MAX];
	const char *pin = pin_param(call, buf, res);

	if (pin && pop_ready(c, res) == 0)
		persons_by_pin(c, pin, person_full, res);
}

static void svc_zags(struct pop_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char buf[POP_PARAM_MAX];
	const char *pin = pin_param(call, buf, res);

	if (pin && pop_ready(c, res) == 0)
		persons_by_pin(c, pin, person_zags, res);
}

/* Passport series: 1-4 Latin letters (ID, AN, AC...), upper-cased in place;
 * number: 6-9 digits. 0 or -1 with res set. */
static int doc_params(const struct adapter_call *call, char *series, char *number,
		      struct adapter_result *res)
{
	const char *s = param_get(call->params, "series", series);
	const char *n = param_get(call->params, "number", number);
	size_t i;

	for (i = 0; s && s[i] && i < 5 && isascii((unsigned char)s[i]) && isalpha((unsigned char)s[i]); i++)
		series[i] = (char)toupper((unsigned char)s[i]);
	if (!s || i == 0 || i > 4 || s[i] != '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "passport series must be 1-4 Latin letters, e.g. ID or AN%s",
				     s && s[0] ? "" : " (it is missing)");
		return -1;
	}
	for (i = 0; n && n[i] >= '0' && n[i] <= '9'; i++)
		;
	if (!n || i < 6 || i > 9 || n[i] != '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "passport number must be 6-9 digits, e.g. 1234567%s",
				     n && n[0] ? "" : " (it is missing)");
		return -1;
	}
	return 0;
}

/* Why a document found for series+number does or does not match pin. */
static const char *doc_reason(sqlite3_stmt *st, const char *pin)
{
	if (!col_is(st, 0, pin))
		return "pin_mismatch";
	if (sqlite3_column_type(st, 1) != SQLITE_NULL)
		return "person_deceased";
	if (col_is(st, 2, "valid"))
		return "match";
	if (col_is(st, 2, "replaced"))
		return "passport_replaced";
	if (col_is(st, 2, "lost"))
		return "passport_lost";
	return "passport_void";
}

/* Number of persons holding pin (0..16), or -1 on an SQLite error. */
static int count_persons(struct pop_ctx *c, const char *pin)
{
	sqlite3_stmt *st = pop_stmt(c, ST_PERSON, 1, &pin);
	int n = 0, step;

	if (!st)
		return -1;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		n++;
	sqlite3_reset(st);
	return step == SQLITE_DONE ? n : -1;
}

/* The bank's check. The PIN must be known (else not found); whether the
 * passport fits is the answer, not an error. */
static void svc_bank(struct pop_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char pbuf[POP_PARAM_MAX], series[POP_PARAM_MAX], number[POP_PARAM_MAX];
	const char *pin = pin_param(call, pbuf, res);
	const char *doc[2] = { series, number };
	const char *reason = "passport_not_found";
	sqlite3_stmt *st;
	int n, step;

	if (!pin || doc_params(call, series, number, res) < 0 || pop_ready(c, res) < 0)
		return;
	n = count_persons(c, pin);
	if (n < 0)
		goto dberr;
	if (n == 0) {
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no person with PIN %s in the population registry", pin);
		return;
	}
	st = pop_stmt(c, ST_DOC, 2, doc);
	if (!st)
		goto dberr;
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		reason = doc_reason(st, pin);
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto dberr;
	res->data = json_pack("{s:s,s:s,s:s,s:b,s:s,s:b}", "pin", pin, "series", series, "number",
			      number, "match", strcmp(reason, "match") == 0, "reason", reason,
			      "duplicate_pin", n > 1);
	if (!res->data)
		adapter_result_error(res, ADAPTER_FAILED, "cannot build the answer (out of memory)");
	return;
dberr:
	pop_db_error(c, res, "passport check");
}

typedef void (*svc_fn)(struct pop_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const struct {
	const char *code;
	svc_fn fn;
} pop_dispatch[] = {
	{ "passportDataByPSN", svc_passport },
	{ "bankPinService", svc_bank },
	{ "zagsDataByPin", svc_zags },
};

static void pop_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct pop_ctx *c = vctx;
	struct adapter_result res = { .status = ADAPTER_OK };
	size_t i;

	c->reqid = call->message_id;
	c->db_failed = 0;
	for (i = 0; i < sizeof(pop_dispatch) / sizeof(pop_dispatch[0]); i++)
		if (call->service_code && strcmp(call->service_code, pop_dispatch[i].code) == 0)
			break;
	if (i == sizeof(pop_dispatch) / sizeof(pop_dispatch[0]))
		adapter_result_error(&res, ADAPTER_FAILED, "the population registry has no service '%s'",
				     call->service_code ? call->service_code : "");
	else if (call->method && strcmp(call->method, "GET") != 0 && strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP), not %s",
				     pop_dispatch[i].code, call->method);
	else if (!json_is_object(call->params))
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the request has no parameters");
	else
		pop_dispatch[i].fn(c, call, &res);
	if (c->db_failed)
		pop_close(c);
	c->reqid = NULL;
	done(&res, arg);
}

/* ---- life cycle ---------------------------------------------------------- */

static const char *cfg(const struct adapter_host *h, const char *key)
{
	const char *v = h->config ? h->config(h->ctx, key) : NULL;

	return v && v[0] ? v : NULL;
}

static int pop_init(const struct adapter_host *host, void **out, char **err)
{
	struct pop_ctx *c = calloc(1, sizeof(*c));
	const char *db = cfg(host, "db"), *dir = cfg(host, "sql_dir"), *busy = cfg(host, "busy_timeout_ms");
	char why[PATH_MAX + 256];
	char *end = NULL;
	int n;

	*out = NULL;
	if (!c) {
		*err = strdup("population: out of memory");
		return -1;
	}
	c->host = *host;
	n = db ? snprintf(c->db_path, sizeof(c->db_path), "%s", db)
	       : snprintf(c->db_path, sizeof(c->db_path), "%s/population.db",
			  host->data_dir ? host->data_dir : ".");
	if (n < 0 || (size_t)n >= sizeof(c->db_path))
		goto toolong;
	n = snprintf(c->sql_dir, sizeof(c->sql_dir), "%s",
		     dir ? dir : AILGATE_SOURCE_DIR "/adapters/population");
	if (n < 0 || (size_t)n >= sizeof(c->sql_dir))
		goto toolong;
	c->busy_ms = POP_BUSY_MS_DEFAULT;
	if (busy) {
		long v = strtol(busy, &end, 10);

		if (*end != '\0' || v < 0 || v > 60000) {
			*err = strdup("population: busy_timeout_ms must be 0..60000");
			goto fail;
		}
		c->busy_ms = (int)v;
	}
	/* A registry that cannot be opened now is reported, not fatal: calls
	 * retry and answer "unavailable" meanwhile. */
	if (pop_open(c, why, sizeof(why)) < 0) {
		pop_log(c, ADAPTER_LOG_ERROR, "population: %s (will retry on each call)", why);
		c->down = 1;
	}
	*out = c;
	return 0;
toolong:
	*err = strdup("population: db or sql_dir path is too long");
fail:
	free(c);
	return -1;
}

static void pop_free(void *vctx)
{
	struct pop_ctx *c = vctx;

	if (!c)
		return;
	pop_close(c);
	free(c);
}

const struct adapter_ops population_adapter = {
	.name = "population",
	.services = pop_services,
	.n_services = sizeof(pop_services) / sizeof(pop_services[0]),
	.init = pop_init,
	.handle = pop_handle,
	.free = pop_free,
};
