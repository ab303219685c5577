/* The population registry adapter: persons by PIN with their passport and
 * registered address (passport-service), civil status acts (zags-service),
 * and the bank's "does this PIN hold this passport" check.
 *
 * Backed by SQLite through adapters/common/sqlreg: one connection per worker
 * thread, statements prepared once and reused, parameters always bound; the
 * database is created from schema.sql + seed.sql when the file is new. A
 * database that cannot be opened does not stop the gateway: init logs it,
 * and each call retries the open and answers ADAPTER_UNAVAILABLE until it
 * works (a registry on a remounted disk comes back without a restart). Any
 * SQLite error closes the connection for the same reason. Input is checked
 * before the database is touched, so a bad PIN is "invalid" even while the
 * registry is down. Result shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POP_PARAM_MAX 64           /* longest parameter we look at (bytes) */

enum pop_stmt { ST_PERSON, ST_PASSPORT, ST_DOC, ST_ACTS, ST_COUNT };

static const char *const pop_sql[ST_COUNT] = {
	[ST_PERSON] =
		"SELECT id, pin, surname, name, patronymic, birth_date, birth_place, sex,"
		" citizenship, death_date, addr_region, addr_district, addr_ayil_okmotu,"
		" addr_village, addr_street, addr_house, addr_flat, addr_registered_on"
		" FROM person WHERE pin = ?1 ORDER BY id LIMIT 16",  /* holders of one PIN listed */
	/* All of a person's documents (a few): passport_json picks one. An
	 * ORDER BY here made SQLite build a temporary b-tree for every call. */
	[ST_PASSPORT] =
		"SELECT series, number, issue_date, valid_until, authority, status, id"
		" FROM passport WHERE person_id = ?1",
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

static const struct sqlreg_desc pop_db = {
	.name = "population",
	.db_file = "population.db",
	.label = "population registry",
	.kind = "a population registry",
	.ours = "person",
	.sql = pop_sql,
	.n_sql = ST_COUNT,
	.query_only = 1,                 /* the adapter only reads */
	.reopen_on_any_error = 1,
	.unavailable = "the population registry cannot answer now (database unavailable); "
		       "try again later",
	.query_failed = "the population registry cannot answer now (database error); try again later",
};

/* Per worker thread. */
struct pop_ctx {
	struct sqlreg *reg;
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

/* ---- JSON from rows ------------------------------------------------------ */

static int col_is(sqlite3_stmt *st, int i, const char *want)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s && strcmp((const char *)s, want) == 0;
}

/* The identity part of a person row, shared by both services. */
static json_t *person_identity(sqlite3_stmt *st)
{
	static const char *const keys[] = { "pin", "surname", "name", "patronymic", "birth_date" };
	json_t *o = json_object();

	if (!o || sqlreg_cols(o, st, keys, P_PIN, 5) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *address_json(sqlite3_stmt *st)
{
	static const char *const keys[] = { "region", "district", "ayil_okmotu", "village",
					    "street", "house", "flat", "registered_on" };
	json_t *o;

	/* No registration at all: null rather than an object of nulls. */
	if (sqlite3_column_type(st, P_ADDR_FIRST) == SQLITE_NULL &&
	    sqlite3_column_type(st, P_ADDR_FIRST + 3) == SQLITE_NULL)
		return json_null();
	o = json_object();
	if (!o || sqlreg_cols(o, st, keys, P_ADDR_FIRST, 8) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Columns of ST_PASSPORT. */
enum { D_SERIES, D_NUMBER, D_ISSUE_DATE, D_VALID_UNTIL, D_AUTHORITY, D_STATUS, D_ID };

/* Does the current row of st come before the best one so far (valid first,
 * then the latest issue date, a missing one last, then the latest id)? */
static int passport_before(sqlite3_stmt *st, int best_valid, const char *best_date, sqlite3_int64 best_id)
{
	int valid = col_is(st, D_STATUS, "valid");
	const char *date = (const char *)sqlite3_column_text(st, D_ISSUE_DATE);
	int cmp;

	if (valid != best_valid)
		return valid > best_valid;
	cmp = !date ? (best_date ? -1 : 0) : !best_date ? 1 : strcmp(date, best_date);
	if (cmp)
		return cmp > 0;
	return sqlite3_column_int64(st, D_ID) > best_id;
}

/* The person's current (or latest) document, or JSON null. *dberr set on an
 * SQLite error. */
static json_t *passport_json(struct pop_ctx *c, sqlite3_int64 person_id, int *dberr)
{
	static const char *const keys[] = { "series", "number", "issue_date", "valid_until",
					    "authority", "status" };
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_PASSPORT);
	json_t *o = json_null();
	char best_date[64] = "";
	int rc = SQLITE_DONE, best_valid = 0, have_date = 0;
	sqlite3_int64 best_id = 0;

	if (!st || sqlite3_bind_int64(st, 1, person_id) != SQLITE_OK) {
		*dberr = 1;
		json_decref(o);
		return NULL;
	}
	while (o && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *date = (const char *)sqlite3_column_text(st, D_ISSUE_DATE);
		json_t *n;

		if (!json_is_null(o) && !passport_before(st, best_valid, have_date ? best_date : NULL, best_id))
			continue;
		n = json_object();
		if (n && sqlreg_cols(n, st, keys, 0, 6) < 0) {
			json_decref(n);
			n = NULL;
		}
		json_decref(o);
		o = n;
		best_valid = col_is(st, D_STATUS, "valid");
		have_date = date != NULL;
		snprintf(best_date, sizeof(best_date), "%s", date ? date : "");
		best_id = sqlite3_column_int64(st, D_ID);
	}
	if (o && rc != SQLITE_DONE) {
		*dberr = 1;
		json_decref(o);
		o = NULL;
	}
	sqlite3_reset(st);
	return o;
}

/* The passportDataByPSN element of one person row. */
static json_t *person_full(struct pop_ctx *c, sqlite3_stmt *st, int *dberr)
{
	static const char *const keys[] = { "birth_place", "sex", "citizenship" };
	json_t *o = person_identity(st);
	int rc;

	if (!o)
		return NULL;
	rc = sqlreg_cols(o, st, keys, P_BIRTH_PLACE, 3);
	rc |= json_object_set_new(o, "alive",
				  json_boolean(sqlite3_column_type(st, P_DEATH_DATE) == SQLITE_NULL));
	rc |= json_object_set_new(o, "death_date", sqlreg_col(st, P_DEATH_DATE));
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
	return json_pack("{s:o?,s:o?}", "pin", sqlreg_col(st, pin_col), "full_name",
			 sqlreg_col(st, name_col));
}

static json_t *act_json(sqlite3_stmt *act, sqlite3_stmt *person)
{
	json_t *o = json_pack("{s:o?,s:o?,s:o?,s:b}", "act_number", sqlreg_col(act, A_NUMBER),
			      "act_date", sqlreg_col(act, A_DATE),
			      "registry_office", sqlreg_col(act, A_OFFICE),
			      "complete", sqlite3_column_int(act, A_COMPLETE));
	int rc = 0;

	if (!o)
		return NULL;
	if (col_is(act, A_KIND, "birth")) {
		rc |= json_object_set_new(o, "birth_place", sqlreg_col(person, P_BIRTH_PLACE));
		rc |= json_object_set_new(o, "mother", parent_json(act, A_MOTHER_PIN, A_MOTHER_NAME));
		rc |= json_object_set_new(o, "father", parent_json(act, A_FATHER_PIN, A_FATHER_NAME));
	} else if (col_is(act, A_KIND, "marriage")) {
		static const char *const keys[] = { "spouse_pin", "spouse_full_name", "surname_after" };

		rc |= sqlreg_cols(o, act, keys, A_SPOUSE_PIN, 3);
		rc |= json_object_set_new(o, "dissolved", json_boolean(
				sqlite3_column_type(act, A_DIVORCE_DATE) != SQLITE_NULL));
		rc |= json_object_set_new(o, "divorce_act_number", sqlreg_col(act, A_DIVORCE_NUMBER));
		rc |= json_object_set_new(o, "divorce_date", sqlreg_col(act, A_DIVORCE_DATE));
	} else {
		rc |= json_object_set_new(o, "death_date", sqlreg_col(act, A_DEATH_DATE));
		rc |= json_object_set_new(o, "death_place", sqlreg_col(act, A_DEATH_PLACE));
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
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_ACTS);
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

/* The PIN parameter, checked. NULL with res set to ADAPTER_INVALID_INPUT. */
static const char *pin_param(const struct adapter_call *call, char *buf, struct adapter_result *res)
{
	char why[256];
	const char *pin = params_get(call->params, "pin", buf, POP_PARAM_MAX) == 0 ? buf : NULL;

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
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_PERSON, 1, &pin);
	json_t *list;
	int step = SQLITE_ERROR, dberr = 0;

	if (!st) {
		sqlreg_fail(c->reg, res);
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
		sqlreg_fail(c->reg, res);
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

	if (pin && sqlreg_ready(c->reg, res) == 0)
		persons_by_pin(c, pin, person_full, res);
}

static void svc_zags(struct pop_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char buf[POP_PARAM_MAX];
	const char *pin = pin_param(call, buf, res);

	if (pin && sqlreg_ready(c->reg, res) == 0)
		persons_by_pin(c, pin, person_zags, res);
}

/* Passport series: 1-4 Latin letters (ID, AN, AC...), upper-cased in place;
 * number: 6-9 digits. 0 or -1 with res set. */
static int doc_params(const struct adapter_call *call, char *series, char *number,
		      struct adapter_result *res)
{
	/* NULL: refused as too long (or not a string) */
	const char *s = params_get(call->params, "series", series, POP_PARAM_MAX) == 0 ? series : NULL;
	const char *n = params_get(call->params, "number", number, POP_PARAM_MAX) == 0 ? number : NULL;
	size_t i;

	for (i = 0; s && s[i] && i < 5 && isascii((unsigned char)s[i]) && isalpha((unsigned char)s[i]); i++)
		series[i] = (char)toupper((unsigned char)s[i]);
	if (!s || i == 0 || i > 4 || s[i] != '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "passport series must be 1-4 Latin letters, e.g. ID or AN%s",
				     !s ? " (the value given is too long or not text)" : s[0] ? "" : " (it is missing)");
		return -1;
	}
	for (i = 0; n && n[i] >= '0' && n[i] <= '9'; i++)
		;
	if (!n || i < 6 || i > 9 || n[i] != '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "passport number must be 6-9 digits, e.g. 1234567%s",
				     !n ? " (the value given is too long or not text)" : n[0] ? "" : " (it is missing)");
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
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_PERSON, 1, &pin);
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

	if (!pin || doc_params(call, series, number, res) < 0 || sqlreg_ready(c->reg, res) < 0)
		return;
	n = count_persons(c, pin);
	if (n < 0)
		goto dberr;
	if (n == 0) {
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no person with PIN %s in the population registry", pin);
		return;
	}
	st = sqlreg_bind(c->reg, ST_DOC, 2, doc);
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
	sqlreg_fail(c->reg, res);
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

	sqlreg_call_begin(c->reg, call->message_id);
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
	else {
		params_track_begin();
		pop_dispatch[i].fn(c, call, &res);
		params_unread(call->params, pop_dispatch[i].code, &res);
	}
	sqlreg_call_end(c->reg, call->service_code, &res);
	done(&res, arg);
}

/* ---- life cycle ---------------------------------------------------------- */

/* A registry that cannot be opened now is reported, not fatal: calls retry
 * and answer "unavailable" meanwhile. Only configuration errors fail. */
static int pop_init(const struct adapter_host *host, void **out, char **err)
{
	struct pop_ctx *c = calloc(1, sizeof(*c));

	*out = NULL;
	*err = NULL;
	if (!c) {
		*err = strdup("population: out of memory");
		return -1;
	}
	if (sqlreg_new(&pop_db, host, &c->reg, err) != 0) {
		free(c);
		return -1;
	}
	sqlreg_start(c->reg);
	*out = c;
	return 0;
}

static void pop_free(void *vctx)
{
	struct pop_ctx *c = vctx;

	if (!c)
		return;
	sqlreg_free(&c->reg);
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
