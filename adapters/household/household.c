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
		snprintf(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(HH_SQL_MAX + 1);
	if (buf == NULL) {
		snprintf(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, HH_SQL_MAX + 1, f);
	if (ferror(f) || n > HH_SQL_MAX) {
		snprintf(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
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
		snprintf(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
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
		snprintf(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (hh_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      hh_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
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
			snprintf(why, len, "%s is not a household register: %s", c->db_path,
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
		snprintf(why, len, "cannot open %s: %s", c->db_path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, c->busy_ms);
	/* WAL: readers (every worker) never wait for the one writer. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(db));
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
 * folded to upper case in place. 0 if valid. */
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

/* Runs st to its first row. 1 row, 0 none, -1 error (res set). */
static int hh_step(struct hh_ctx *c, const struct adapter_call *call, sqlite3_stmt *st,
		   struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	hh_db_error(c, call, res);
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

/* Members of the household; the head first, then in order of entry. */
static json_t *hh_member(sqlite3_stmt *st)
{
	json_t *m = json_object(), *missing = json_array();
	int foreign = strcmp((const char *)sqlite3_column_text(st, 9), "KGZ") != 0;
	int bad = m == NULL || missing == NULL;

	if (sqlite3_column_type(st, 0) == SQLITE_NULL && !foreign)
		bad |= json_array_append_new(missing, json_string("pin"));
	if (sqlite3_column_type(st, 11) == SQLITE_NULL && foreign)
		bad |= json_array_append_new(missing, json_string("document"));
	if (sqlite3_column_type(st, 4) == SQLITE_NULL)
		bad |= json_array_append_new(missing, json_string("birth_date"));
	if (sqlite3_column_type(st, 5) == SQLITE_NULL)
		bad |= json_array_append_new(missing, json_string("sex"));
	static const char *const keys[] = { "pin", "last_name", "first_name", "patronymic",
					    "birth_date", "sex", "relation", "relation_ky",
					    "relation_ru", "citizenship" };
	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		bad |= hh_set(m, keys[i], hh_col(st, i));
	if (sqlite3_column_type(st, 11) == SQLITE_NULL)
		bad |= hh_set(m, "document", json_null());
	else
		bad |= hh_set(m, "document", json_pack("{s:o,s:o}", "type", hh_col(st, 10),
						       "number", hh_col(st, 11)));
	bad |= hh_set(m, "birth_record_digitised", json_boolean(sqlite3_column_int(st, 12)));
	bad |= hh_set(m, "registered_on", hh_col(st, 13));
	bad |= hh_set(m, "missing_fields", missing);
	missing = NULL;
	if (bad) {
		json_decref(m);
		return NULL;
	}
	return m;
}

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

