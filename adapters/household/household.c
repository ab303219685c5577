/* The household register adapter ("Sanarip Aimak", sanaripaymak-service).
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound. Queries are
 * index lookups on a small local file, so they run on the calling thread.
 * The database is created from schema.sql + seed.sql when it has no tables.
 * Keys of the answers are documented in README.md; keep them stable. */
#include "adapters/adapter.h"
#include "adapters/common/pin.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define HH_PATH_MAX 1024
#define HH_SQL_MAX (4u << 20)     /* schema.sql / seed.sql */
#define HH_KEY_MAX 32             /* household id, document number */
#define HH_BUSY_MS_DEFAULT 1000
#define HH_BUSY_MS_MAX 60000

enum hh_stmt { ST_PERSON_BY_PIN, ST_PENDING_BY_PIN, ST_HOUSEHOLD, ST_MEMBERS, ST_BY_DOCUMENT, ST_COUNT };

static const char *const hh_sql[ST_COUNT] = {
	[ST_PERSON_BY_PIN] =
		"SELECT household_id, last_name, first_name, patronymic, registered_on"
		" FROM persons WHERE pin = ?1 ORDER BY id LIMIT 2",
	[ST_PENDING_BY_PIN] = "SELECT listed_on, source FROM pending_persons WHERE pin = ?1",
	[ST_HOUSEHOLD] =
		"SELECT id, region, district, ayil_okmotu, village, street, house, cadastral_code,"
		" registered_on FROM households WHERE id = ?1",
	[ST_MEMBERS] =
		"SELECT p.pin, p.last_name, p.first_name, p.patronymic, p.birth_date, p.sex,"
		" p.relation, r.ky, r.ru, p.citizenship, p.document_type, p.document_number,"
		" p.birth_record_digitised, p.registered_on"
		" FROM persons p JOIN relations r ON r.code = p.relation"
		" WHERE p.household_id = ?1 ORDER BY p.relation <> 'head', p.id",
	[ST_BY_DOCUMENT] =
		"SELECT household_id FROM persons WHERE citizenship = ?1 AND document_number = ?2"
		" ORDER BY id LIMIT 2",
};

/* Per worker thread. */
struct hh_ctx {
	struct adapter_host host;
	char db_path[HH_PATH_MAX];
	char sql_dir[HH_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                 /* NULL while the database cannot be opened */
	sqlite3_stmt *st[ST_COUNT];
	int reopen;                  /* a query hit a broken file: reopen next call */
};

#define hh_log(c, lvl, reqid, ...)                                               \
	do {                                                                     \
		if ((c)->host.log != NULL)                                       \
			(c)->host.log((c)->host.ctx, (lvl), (reqid), __VA_ARGS__); \
	} while (0)

/* ---- opening and creating the database ------------------------------- */

/* Fills a reason for the log; long paths may be cut, which is fine there. */
static void hh_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void hh_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void hh_close(struct hh_ctx *c)
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
static int hh_read_sql(const char *dir, const char *name, char **out, char *why, size_t len)
{
	char path[HH_PATH_MAX + 64];
	char *buf = NULL;
	size_t n = 0;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		hh_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(HH_SQL_MAX + 1);
	if (buf == NULL) {
		hh_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, HH_SQL_MAX + 1, f);
	if (ferror(f) || n > HH_SQL_MAX) {
		hh_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
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

static int hh_exec_file(sqlite3 *db, const char *dir, const char *name, char *why, size_t len)
{
	char *sql = NULL, *msg = NULL;
	int rc;

	if (hh_read_sql(dir, name, &sql, why, len) != 0)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		hh_why(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads schema and seed into a database that has no tables. Several workers
 * may start at once on a new file: the immediate transaction serialises
 * them, and only the first one finds it empty. */
static int hh_create(struct hh_ctx *c, sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, empty;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		hh_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		hh_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (hh_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      hh_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		hh_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (empty)
		hh_log(c, ADAPTER_LOG_INFO, NULL, "created %s from %s/{schema,seed}.sql",
		       c->db_path, c->sql_dir);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int hh_prepare(struct hh_ctx *c, sqlite3 *db, char *why, size_t len)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(db, hh_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			hh_why(why, len, "%s is not a household register: %s", c->db_path,
				 sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

static int hh_open(struct hh_ctx *c, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(c->db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		hh_why(why, len, "cannot open %s: %s", c->db_path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, c->busy_ms);
	/* WAL: readers (every worker) never wait for the one writer. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		hh_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (hh_create(c, db, why, len) != 0 || hh_prepare(c, db, why, len) != 0)
		goto fail;
	c->db = db;
	return 0;
fail:
	c->db = db;
	hh_close(c);
	return -1;
}

/* ---- small helpers ---------------------------------------------------- */

static const char *hh_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int hh_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Copies s without surrounding whitespace (SOAP bodies are often indented)
 * into out[cap], truncating; the validators then see the over-long value. */
static void hh_trim(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (hh_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && hh_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Household ids and document numbers: ASCII letters, digits and '-',
 * folded to upper case in place. 1 if valid, 0 if not. */
static int hh_key_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HH_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

static sqlite3_stmt *hh_bind(struct hh_ctx *c, enum hh_stmt s, const char *a, const char *b)
{
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    (b != NULL && sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT) != SQLITE_OK))
		return NULL;
	return st;
}

/* A query failed: the caller is told "unavailable", the log gets why. */
static void hh_db_error(struct hh_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	int rc = sqlite3_errcode(c->db);

	hh_log(c, ADAPTER_LOG_ERROR, call->message_id, "household db %s: %s", c->db_path,
	       sqlite3_errmsg(c->db));
	rc &= 0xff;
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
		c->reopen = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE,
			     "the household register database is unavailable; try again later");
}

/* Steps st once: 1 row, 0 done, -1 error (res set, st reset). */
static int hh_step(struct hh_ctx *c, const struct adapter_call *call, sqlite3_stmt *st,
		   struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	hh_db_error(c, call, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* SQL NULL -> JSON null; text -> string (NULL if not valid UTF-8). */
static json_t *hh_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static int hh_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* ---- answers ---------------------------------------------------------- */

static const char *const hh_member_keys[] = {
	"pin", "last_name", "first_name", "patronymic", "birth_date", "sex",
	"relation", "relation_ky", "relation_ru", "citizenship",
};

/* Which of the fields a certificate needs are missing (an undigitised
 * birth record, a foreigner entered without a document). */
static json_t *hh_missing(sqlite3_stmt *st)
{
	const char *cit = (const char *)sqlite3_column_text(st, 9);
	int foreign = cit != NULL && strcmp(cit, "KGZ") != 0;
	json_t *a = json_array();
	int bad = a == NULL;

	if (sqlite3_column_type(st, 0) == SQLITE_NULL && !foreign)
		bad |= json_array_append_new(a, json_string("pin"));
	if (sqlite3_column_type(st, 11) == SQLITE_NULL && foreign)
		bad |= json_array_append_new(a, json_string("document"));
	if (sqlite3_column_type(st, 4) == SQLITE_NULL)
		bad |= json_array_append_new(a, json_string("birth_date"));
	if (sqlite3_column_type(st, 5) == SQLITE_NULL)
		bad |= json_array_append_new(a, json_string("sex"));
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* One row of ST_MEMBERS as JSON (caller owns), or NULL. */
static json_t *hh_member(sqlite3_stmt *st)
{
	json_t *m = json_object();
	int bad = m == NULL;

	for (size_t i = 0; i < sizeof(hh_member_keys) / sizeof(hh_member_keys[0]); i++)
		bad |= hh_set(m, hh_member_keys[i], hh_col(st, (int)i));
	if (sqlite3_column_type(st, 11) == SQLITE_NULL)
		bad |= hh_set(m, "document", json_null());
	else
		bad |= hh_set(m, "document", json_pack("{s:o,s:o}", "type", hh_col(st, 10),
						       "number", hh_col(st, 11)));
	bad |= hh_set(m, "birth_record_digitised", json_boolean(sqlite3_column_int(st, 12)));
	bad |= hh_set(m, "registered_on", hh_col(st, 13));
	bad |= hh_set(m, "missing_fields", hh_missing(st));
	if (bad) {
		json_decref(m);
		return NULL;
	}
	return m;
}

/* Adds "members" (the head first, then in order of entry) and
 * "member_count" to out. 0, or -1 with res set. */
static int hh_members(struct hh_ctx *c, const struct adapter_call *call, const char *id,
		      json_t *out, struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_MEMBERS, id, NULL);
	json_t *arr = json_array();
	int rc;

	if (arr == NULL || hh_set(out, "members", arr) != 0)
		goto oom;
	while ((rc = hh_step(c, call, st, res)) == 1)
		if (json_array_append_new(arr, hh_member(st)) != 0)
			goto oom;
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return hh_set(out, "member_count", json_integer((json_int_t)json_array_size(arr))) == 0 ? 0 : -1;
oom:
	sqlite3_reset(st);
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
	return -1;
}

/* The household row as JSON, without members. 0, or -1 with res set. */
static int hh_household_row(struct hh_ctx *c, const struct adapter_call *call, const char *id,
			    json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_HOUSEHOLD, id, NULL);
	int rc = hh_step(c, call, st, res);
	json_t *o = NULL;

	if (rc < 0)
		return -1;
	if (rc == 0) {
		sqlite3_reset(st);
		adapter_result_error(res, ADAPTER_NOT_FOUND, "no household with id %s", id);
		return -1;
	}
	o = json_pack("{s:o,s:{s:o,s:o,s:o,s:o,s:o,s:o},s:o,s:b,s:o}",
		      "household_id", hh_col(st, 0),
		      "address", "region", hh_col(st, 1), "district", hh_col(st, 2),
		      "ayil_okmotu", hh_col(st, 3), "village", hh_col(st, 4),
		      "street", hh_col(st, 5), "house", hh_col(st, 6),
		      "cadastral_code", hh_col(st, 7),
		      "house_registered", sqlite3_column_type(st, 7) != SQLITE_NULL,
		      "registered_on", hh_col(st, 8));
	sqlite3_reset(st);
	if (o == NULL) {
		adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
		return -1;
	}
	*out = o;
	return 0;
}

/* A household with its members: res->data on success. */
static void hh_household_answer(struct hh_ctx *c, const struct adapter_call *call, const char *id,
				struct adapter_result *res)
{
	json_t *o = NULL;

	if (hh_household_row(c, call, id, &o, res) != 0)
		return;
	if (hh_members(c, call, id, o, res) != 0) {
		json_decref(o);
		return;
	}
	res->data = o;
}


/* A valid PIN that is in no household: "not in register" if the
 * municipality's population list has it, else "not found". Always -1. */
static int hh_not_entered(struct hh_ctx *c, const struct adapter_call *call, const char *pin,
			  struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_PENDING_BY_PIN, pin, NULL);
	int rc = hh_step(c, call, st, res);

	if (rc == 1)
		adapter_result_error(res, ADAPTER_NOT_IN_REGISTER,
				     "PIN %s is on the municipality's population list (%s of %s) but "
				     "the person's household has not been entered in the register yet",
				     pin, sqlite3_column_text(st, 1), sqlite3_column_text(st, 0));
	else if (rc == 0)
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no person with PIN %s in the household register or the "
				     "municipality's population list", pin);
	if (rc >= 0)
		sqlite3_reset(st);
	return -1;
}

/* The one person with this PIN: copies their household id into hid[hid_len]
 * and, if person is not NULL, their names into a new object (caller owns).
 * 0, or -1 with res set to the outcome a caller must tell apart: invalid PIN,
 * not in register, not found, duplicate PIN, unavailable. */
static int hh_person(struct hh_ctx *c, const struct adapter_call *call, const char *pin,
		     char *hid, size_t hid_len, json_t **person, struct adapter_result *res)
{
	char why[160];
	sqlite3_stmt *st;
	int rc;

	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	st = hh_bind(c, ST_PERSON_BY_PIN, pin, NULL);
	rc = hh_step(c, call, st, res);
	if (rc <= 0) {
		if (rc == 0)
			sqlite3_reset(st);
		return rc == 0 ? hh_not_entered(c, call, pin, res) : -1;
	}
	snprintf(hid, hid_len, "%s", (const char *)sqlite3_column_text(st, 0));
	if (person != NULL) {
		*person = json_pack("{s:s,s:o,s:o,s:o,s:o}", "pin", pin,
				    "last_name", hh_col(st, 1), "first_name", hh_col(st, 2),
				    "patronymic", hh_col(st, 3), "registered_on", hh_col(st, 4));
		if (*person == NULL) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
			return -1;
		}
	}
	rc = hh_step(c, call, st, res);
	if (rc >= 0)
		sqlite3_reset(st);
	if (rc == 0)
		return 0;
	if (person != NULL) {
		json_decref(*person);
		*person = NULL;
	}
	/* Old duplicate PINs exist; picking one of the people would hand out
	 * someone else's data. */
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED,
				     "PIN %s is recorded for more than one person (a duplicate PIN "
				     "from the 1990s); the municipality has to resolve it", pin);
	return -1;
}

static void hh_address_fact(struct hh_ctx *c, const struct adapter_call *call,
			    struct adapter_result *res)
{
	char pin[96], hid[HH_KEY_MAX + 1];
	json_t *person = NULL, *hh = NULL;

	hh_trim(hh_param(call, "pin"), pin, sizeof(pin));
	if (hh_person(c, call, pin, hid, sizeof(hid), &person, res) != 0)
		return;
	if (hh_household_row(c, call, hid, &hh, res) != 0)
		goto out;
	/* The person's own registration date, not the household's. */
	json_object_del(hh, "registered_on");
	if (json_object_update(person, hh) != 0) {
		adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
		goto out;
	}
	res->data = person;
	person = NULL;
out:
	json_decref(hh);
	json_decref(person);
}

static void hh_family_members(struct hh_ctx *c, const struct adapter_call *call,
			      struct adapter_result *res)
{
	char pin[96], hid[HH_KEY_MAX + 1];

	hh_trim(hh_param(call, "pin"), pin, sizeof(pin));
	if (hh_person(c, call, pin, hid, sizeof(hid), NULL, res) != 0)
		return;
	hh_household_answer(c, call, hid, res);
	if (res->data != NULL && hh_set(res->data, "pin", json_string(pin)) != 0) {
		json_decref(res->data);
		adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
	}
}

static void hh_household(struct hh_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	char id[HH_KEY_MAX + 2];

	hh_trim(hh_param(call, "id"), id, sizeof(id));
	if (!hh_key_ok(id)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     HH_KEY_MAX);
		return;
	}
	hh_household_answer(c, call, id, res);
}

/* ISO 3166-1: the register stores alpha-3; clerks often type alpha-2 for
 * the neighbours, so those are mapped. */
static const char *const hh_alpha2[][2] = {
	{ "KG", "KGZ" }, { "KZ", "KAZ" }, { "UZ", "UZB" }, { "TJ", "TJK" }, { "TM", "TKM" },
	{ "RU", "RUS" }, { "CN", "CHN" }, { "TR", "TUR" }, { "AF", "AFG" }, { "UA", "UKR" },
	{ "BY", "BLR" }, { "KR", "KOR" }, { "DE", "DEU" }, { "US", "USA" },
};

/* Upper-cased alpha-3 code into out[4]; 0, or -1 if it is not one. */
static int hh_citizenship(const char *in, char *out)
{
	size_t n = strlen(in);

	if (n != 2 && n != 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch < 'A' || ch > 'Z')
			return -1;
		out[i] = ch;
	}
	out[n] = '\0';
	if (n == 3)
		return 0;
	for (size_t i = 0; i < sizeof(hh_alpha2) / sizeof(hh_alpha2[0]); i++) {
		if (strcmp(out, hh_alpha2[i][0]) == 0) {
			memcpy(out, hh_alpha2[i][1], 4);
			return 0;
		}
	}
	return -1;
}

static void hh_household_by_document(struct hh_ctx *c, const struct adapter_call *call,
				     struct adapter_result *res)
{
	char cit_in[8], cit[4], doc[HH_KEY_MAX + 2], hid[HH_KEY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	hh_trim(hh_param(call, "citizenship"), cit_in, sizeof(cit_in));
	hh_trim(hh_param(call, "document"), doc, sizeof(doc));
	if (hh_citizenship(cit_in, cit) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ");
		return;
	}
	if (!hh_key_ok(doc)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "document number must be 1-%d letters, digits or '-', e.g. N1234567",
				     HH_KEY_MAX);
		return;
	}
	st = hh_bind(c, ST_BY_DOCUMENT, cit, doc);
	if ((rc = hh_step(c, call, st, res)) < 0)
		return;
	if (rc == 0) {
		sqlite3_reset(st);
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no member with %s document %s in the household register", cit, doc);
		return;
	}
	snprintf(hid, sizeof(hid), "%s", (const char *)sqlite3_column_text(st, 0));
	if ((rc = hh_step(c, call, st, res)) < 0)
		return;
	sqlite3_reset(st);
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED,
				     "%s document %s is recorded for more than one person; the "
				     "municipality has to resolve it", cit, doc);
	else
		hh_household_answer(c, call, hid, res);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*hh_fn)(struct hh_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const hh_pin_params[] = { "pin", NULL };
static const char *const hh_id_params[] = { "id", NULL };
static const char *const hh_doc_params[] = { "citizenship", "document", NULL };

static const struct adapter_service hh_services[] = {
	{ "address-fact", "GET", hh_pin_params, "Registered address of a person, by PIN" },
	{ "family-members", "GET", hh_pin_params,
	  "The household a person belongs to, with all its members, by PIN" },
	{ "household", "GET", hh_id_params, "A household by id: address, cadastral code, members" },
	{ "household-by-document", "GET", hh_doc_params,
	  "The household of a person without a PIN, by citizenship and document number" },
};

static const hh_fn hh_handlers[] = {
	hh_address_fact, hh_family_members, hh_household, hh_household_by_document,
};

_Static_assert(sizeof(hh_services) / sizeof(hh_services[0]) ==
	       sizeof(hh_handlers) / sizeof(hh_handlers[0]), "one handler per service");

#define HH_N_SERVICES (sizeof(hh_services) / sizeof(hh_services[0]))

static void hh_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct hh_ctx *c = vctx;
	struct adapter_result res;
	char why[512];
	size_t i;

	memset(&res, 0, sizeof(res));
	for (i = 0; i < HH_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, hh_services[i].code) == 0)
			break;
	if (i == HH_N_SERVICES) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the household register has no such service");
	} else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		   strcmp(call->method, "POST") != 0) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     hh_services[i].code);
	} else if (c->db == NULL && hh_open(c, why, sizeof(why)) != 0) {
		hh_log(c, ADAPTER_LOG_ERROR, call->message_id, "household register unavailable: %s", why);
		adapter_result_error(&res, ADAPTER_UNAVAILABLE,
				     "the household register database is unavailable; try again later");
	} else {
		hh_handlers[i](c, call, &res);
	}
	/* Close only after the statements are done with, so the next call
	 * opens the file afresh. */
	if (c->reopen)
		hh_close(c);
	if (res.status != ADAPTER_OK)
		hh_log(c, ADAPTER_LOG_DEBUG, call->message_id, "%s: %s", call->service_code,
		       adapter_status_name(res.status));
	done(&res, arg);
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int hh_config_str(const struct adapter_host *host, const char *key, const char *def,
			 char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		return snprintf(out, cap, "%s", def) < (int)cap ? 0 : -1;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int hh_config(struct hh_ctx *c, const struct adapter_host *host, char **err)
{
	char def[HH_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/household.db", host->data_dir ? host->data_dir : ".");
	if (hh_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    hh_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/household", c->sql_dir,
			  sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.household] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = HH_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > HH_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.household] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, HH_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int hh_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct hh_ctx *c = calloc(1, sizeof(*c));
	char why[512];

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (hh_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	if (hh_open(c, why, sizeof(why)) != 0)
		hh_log(c, ADAPTER_LOG_ERROR, NULL, "household register unavailable: %s", why);
	*vctx = c;
	return 0;
}

static void hh_free(void *vctx)
{
	struct hh_ctx *c = vctx;

	if (c == NULL)
		return;
	hh_close(c);
	free(c);
}

const struct adapter_ops household_adapter = {
	.name = "household",
	.services = hh_services,
	.n_services = HH_N_SERVICES,
	.init = hh_init,
	.handle = hh_handle,
	.free = hh_free,
};
