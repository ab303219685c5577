/* The real-estate cadastre adapter (dkrpni-service): a property by its ENI,
 * the properties and rights of a person, of a foreign owner, of a household.
 *
 * Backed by SQLite like the other registries: one connection per worker
 * thread, statements prepared once and reused, parameters always bound. The
 * database is created from schema.sql + seed.sql when it has no tables. A
 * database that cannot be opened does not stop the gateway: init logs it and
 * each call retries the open, answering ADAPTER_UNAVAILABLE until it works;
 * an SQLite error during a call closes the connection after the call, so
 * the next one starts clean. ENIs go through adapters/common/eni.h, PINs
 * through adapters/common/pin.h. Answer shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/eni.h"
#include "adapters/common/pin.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define CAD_PATH_MAX 1024
#define CAD_SQL_MAX (4u << 20)      /* schema.sql / seed.sql */
#define CAD_PARAM_MAX 64            /* longest parameter looked at (bytes) */
#define CAD_KEY_MAX 32              /* household id, document number */
#define CAD_BUSY_MS_DEFAULT 1000
#define CAD_BUSY_MS_MAX 60000
#define CAD_LIST_MAX 200            /* properties in one answer */

enum cad_stmt {
	ST_PROPERTY, ST_RIGHTS, ST_ENCUMBRANCES, ST_BY_PIN, ST_PIN_HOLDERS, ST_BY_DOC,
	ST_BY_HOUSEHOLD, ST_COUNT
};

static const char *const cad_sql[ST_COUNT] = {
	[ST_PROPERTY] =
		"SELECT p.eni, p.type, t.ky, t.ru, p.purpose, u.ky, u.ru, p.region, p.district,"
		" p.ayil_okmotu, p.village, p.street, p.house, p.flat, p.land_area_m2,"
		" p.building_area_m2, p.registered_on, p.household_id"
		" FROM properties p JOIN property_types t ON t.code = p.type"
		" JOIN purposes u ON u.code = p.purpose WHERE p.eni = ?1",
	/* All rights on a property, or only those of one PIN / one document. */
	[ST_RIGHTS] =
		"SELECT holder_type, holder_pin, holder_tax_number, holder_name, citizenship,"
		" document_type, document_number, right_type, share_numerator, share_denominator,"
		" registered_on, basis FROM rights WHERE eni = ?1"
		" AND (?2 IS NULL OR holder_pin = ?2)"
		" AND (?3 IS NULL OR (citizenship = ?3 AND document_number = ?4)) ORDER BY id",
	[ST_ENCUMBRANCES] =
		"SELECT type, holder, holder_tax_number, registered_on, valid_until, basis"
		" FROM encumbrances WHERE eni = ?1 ORDER BY registered_on, id",
	[ST_BY_PIN] = "SELECT DISTINCT eni FROM rights WHERE holder_pin = ?1 ORDER BY eni",
	[ST_PIN_HOLDERS] = "SELECT count(DISTINCT holder_name) FROM rights WHERE holder_pin = ?1",
	[ST_BY_DOC] =
		"SELECT DISTINCT eni FROM rights WHERE citizenship = ?1 AND document_number = ?2"
		" ORDER BY eni",
	[ST_BY_HOUSEHOLD] = "SELECT eni FROM properties WHERE household_id = ?1 ORDER BY eni",
};

/* Per worker thread. */
struct cad_ctx {
	struct adapter_host host;      /* copied; its strings stay borrowed */
	char db_path[CAD_PATH_MAX];
	char sql_dir[CAD_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                   /* NULL while closed */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;                 /* an SQLite error in this call: close after it */
	int down;                      /* the last open failed (logged once per outage) */
	const char *reqid;             /* of the call in progress, for logs */
};

#define cad_log(c, lvl, ...)                                                       \
	do {                                                                       \
		if ((c)->host.log != NULL)                                         \
			(c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); \
	} while (0)

static const char cad_unavailable[] = "the cadastre database is unavailable; try again later";

/* ---- the database ------------------------------------------------------ */

static void cad_close(struct cad_ctx *c)
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
 * CAD_SQL_MAX bytes. NULL with why set. */
static char *cad_read_sql(const char *dir, const char *name, char *why, size_t wlen)
{
	char path[CAD_PATH_MAX + 32];
	char *buf = NULL;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(why, wlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CAD_SQL_MAX + 1);
	if (buf == NULL) {
		snprintf(why, wlen, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, CAD_SQL_MAX + 1, f);
	if (ferror(f) || n > CAD_SQL_MAX) {
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

static int cad_exec_file(struct cad_ctx *c, const char *name, char *why, size_t wlen)
{
	char *sql = cad_read_sql(c->sql_dir, name, why, wlen);
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
static int cad_create_if_empty(struct cad_ctx *c, char *why, size_t wlen)
{
	sqlite3_stmt *q = NULL;
	int rc, tables = 0, ours = 0;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, wlen, "cannot lock %s: %s", c->db_path, sqlite3_errmsg(c->db));
		return -1;
	}
	rc = sqlite3_prepare_v2(c->db, "SELECT count(*), count(name = 'properties' OR NULL)"
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
		snprintf(why, wlen, "%s has tables but no 'properties': not a cadastre", c->db_path);
		goto fail;
	}
	if (!ours) {
		if (cad_exec_file(c, "schema.sql", why, wlen) != 0 ||
		    cad_exec_file(c, "seed.sql", why, wlen) != 0)
			goto fail;
		cad_log(c, ADAPTER_LOG_INFO, "cadastre: created %s from %s/{schema,seed}.sql",
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
static int cad_open(struct cad_ctx *c, char *why, size_t wlen)
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
	if (cad_create_if_empty(c, why, wlen) != 0)
		goto fail;
	/* The adapter only reads from here on: the connection cannot write. */
	if (sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	for (size_t i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, cad_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK)
			goto fail_msg;
	return 0;
fail_msg:
	snprintf(why, wlen, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	cad_close(c);
	return -1;
}

/* Opens the database if needed. 0, or -1 with res set to unavailable. */
static int cad_ready(struct cad_ctx *c, struct adapter_result *res)
{
	char why[CAD_PATH_MAX + 256];

	if (cad_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			cad_log(c, ADAPTER_LOG_INFO, "cadastre: %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	cad_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "cadastre unavailable: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", cad_unavailable);
	return -1;
}

/* A query failed: the caller hears "unavailable", the log gets why. */
static void cad_db_error(struct cad_ctx *c, struct adapter_result *res)
{
	cad_log(c, ADAPTER_LOG_ERROR, "cadastre db %s: %s", c->db_path,
		c->db ? sqlite3_errmsg(c->db) : "no connection");
	c->db_failed = 1;
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", cad_unavailable);
}

/* Resets statement s and binds up to 4 text parameters (NULL binds NULL).
 * The values must outlive the statement's use. */
static sqlite3_stmt *cad_bind(struct cad_ctx *c, enum cad_stmt s, const char *a, const char *b,
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
static int cad_step(struct cad_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	cad_db_error(c, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* ---- JSON from rows ---------------------------------------------------- */

/* Text column as a JSON string, SQL NULL as null; NULL if not UTF-8. */
static json_t *cad_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Sets keys[i] from columns first..first+n-1. 0 or -1. */
static int cad_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, int first, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++)
		bad |= json_object_set_new(o, keys[i], cad_col(st, first + i));
	return bad ? -1 : 0;
}

static void cad_oom(struct adapter_result *res)
{
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* One row of ST_RIGHTS (caller owns), or NULL. */
static json_t *cad_right(sqlite3_stmt *st)
{
	static const char *const keys[] = { "holder_type", "pin", "tax_number", "name", "citizenship" };
	long long num = sqlite3_column_int64(st, 8), den = sqlite3_column_int64(st, 9);
	json_t *o = json_object();
	char share[48];
	int bad = o == NULL || cad_cols(o, st, keys, 0, 5) != 0;

	if (!bad && sqlite3_column_type(st, 6) == SQLITE_NULL)
		bad |= json_object_set_new(o, "document", json_null());
	else if (!bad)
		bad |= json_object_set_new(o, "document", json_pack("{s:o,s:o}", "type", cad_col(st, 5),
								    "number", cad_col(st, 6)));
	snprintf(share, sizeof(share), "%lld/%lld", num, den);
	if (!bad)
		bad |= json_object_set_new(o, "right_type", cad_col(st, 7)) |
		       json_object_set_new(o, "share", json_string(share)) |
		       json_object_set_new(o, "share_numerator", json_integer(num)) |
		       json_object_set_new(o, "share_denominator", json_integer(den)) |
		       json_object_set_new(o, "registered_on", cad_col(st, 10)) |
		       json_object_set_new(o, "basis", cad_col(st, 11));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *cad_encumbrance(sqlite3_stmt *st)
{
	static const char *const keys[] = { "type", "holder", "holder_tax_number", "registered_on",
					    "valid_until", "basis" };
	json_t *o = json_object();

	if (o == NULL || cad_cols(o, st, keys, 0, 6) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Appends one object per row of st (made by fn) to a new array set as
 * out[key]. The number of rows, or -1 with res set. */
static int cad_rows(struct cad_ctx *c, sqlite3_stmt *st, json_t *(*fn)(sqlite3_stmt *),
		    json_t *out, const char *key, struct adapter_result *res)
{
	json_t *arr = json_array();
	int rc;

	if (arr == NULL || json_object_set_new(out, key, arr) != 0)
		goto oom;
	while ((rc = cad_step(c, st, res)) == 1)
		if (json_array_append_new(arr, fn(st)) != 0)
			goto oom;
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return (int)json_array_size(arr);
oom:
	if (st != NULL)
		sqlite3_reset(st);
	cad_oom(res);
	return -1;
}

/* Which rights of a property an answer shows: all, or one holder's. */
struct cad_filter {
	const char *pin;
	const char *citizenship, *document;
};

/* The fields of one ST_PROPERTY row, in answer order (caller owns). */
static json_t *cad_property_row(sqlite3_stmt *st)
{
	static const char *const type_keys[] = { "type", "type_ky", "type_ru", "purpose",
						 "purpose_ky", "purpose_ru" };
	static const char *const addr_keys[] = { "region", "district", "ayil_okmotu", "village",
						 "street", "house", "flat" };
	static const char *const tail_keys[] = { "land_area_m2", "building_area_m2",
						 "registered_on", "household_id" };
	json_t *o = json_object(), *addr = json_object();
	struct eni e;
	int bad = o == NULL || addr == NULL;

	/* The stored code is canonical (schema CHECK); parsing it gives the
	 * dashed form and the kind by the one rule. */
	bad = bad || eni_parse((const char *)sqlite3_column_text(st, 0), &e, NULL, 0) != 0;
	bad = bad || json_object_set_new(o, "eni", json_string(e.digits)) != 0 ||
	      json_object_set_new(o, "eni_dashed", json_string(e.dashed)) != 0 ||
	      json_object_set_new(o, "eni_kind", json_string(e.kind)) != 0 ||
	      cad_cols(o, st, type_keys, 1, 6) != 0 || cad_cols(addr, st, addr_keys, 7, 7) != 0;
	if (!bad) {
		bad = json_object_set(o, "address", addr) != 0 || cad_cols(o, st, tail_keys, 14, 4) != 0;
	}
	json_decref(addr);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The property eni (canonical digits) with its rights (filtered by f) and
 * encumbrances into *out. 1 found, 0 no such property, -1 with res set. */
static int cad_property(struct cad_ctx *c, const char *eni, const struct cad_filter *f,
			json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = cad_bind(c, ST_PROPERTY, eni, NULL, NULL, NULL);
	json_t *o;
	int rc = cad_step(c, st, res), n;

	if (rc <= 0) {
		if (rc == 0)
			sqlite3_reset(st);
		return rc;
	}
	o = cad_property_row(st);
	sqlite3_reset(st);
	if (o == NULL) {
		cad_oom(res);
		return -1;
	}
	/* "encumbered" goes before the list (set again below: jansson keeps a
	 * replaced key in its place), so a reader sees the answer first. */
	if (cad_rows(c, cad_bind(c, ST_RIGHTS, eni, f->pin, f->citizenship, f->document),
		     cad_right, o, "rights", res) < 0)
		goto fail;
	if (json_object_set_new(o, "encumbered", json_false()) != 0) {
		cad_oom(res);
		goto fail;
	}
	n = cad_rows(c, cad_bind(c, ST_ENCUMBRANCES, eni, NULL, NULL, NULL), cad_encumbrance, o,
		     "encumbrances", res);
	if (n < 0)
		goto fail;
	if (json_object_set_new(o, "encumbered", json_boolean(n > 0)) != 0) {
		cad_oom(res);
		goto fail;
	}
	*out = o;
	return 1;
fail:
	json_decref(o);
	return -1;
}

/* ---- parameters ------------------------------------------------------- */

static const char *cad_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int cad_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Copies s without surrounding whitespace (SOAP bodies are often indented)
 * into out[cap], truncating: the validators then see the over-long value. */
static void cad_trim(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (cad_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && cad_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Household ids and document numbers: 1-32 ASCII letters, digits and '-',
 * folded to upper case in place. 1 if valid. */
static int cad_key_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CAD_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/* ISO 3166-1: the register stores alpha-3; clerks often type alpha-2 for
 * the neighbours (the same map as the household register's). */
static const char *const cad_alpha2[][2] = {
	{ "KG", "KGZ" }, { "KZ", "KAZ" }, { "UZ", "UZB" }, { "TJ", "TJK" }, { "TM", "TKM" },
	{ "RU", "RUS" }, { "CN", "CHN" }, { "TR", "TUR" }, { "AF", "AFG" }, { "UA", "UKR" },
	{ "BY", "BLR" }, { "KR", "KOR" }, { "DE", "DEU" }, { "US", "USA" },
};

/* Upper-cased alpha-3 code into out[4]; 0, or -1 if it is not one. */
static int cad_citizenship(const char *in, char *out)
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
	for (size_t i = 0; i < sizeof(cad_alpha2) / sizeof(cad_alpha2[0]); i++) {
		if (strcmp(out, cad_alpha2[i][0]) == 0) {
			memcpy(out, cad_alpha2[i][1], 4);
			return 0;
		}
	}
	return -1;
}

/* ---- answers ---------------------------------------------------------- */

struct cad_list {
	char eni[CAD_LIST_MAX][ENI_DIGITS_MAX + 1];
	size_t n;
};

/* Reads the ENIs st lists into l. 0, or -1 with res set. */
static int cad_collect(struct cad_ctx *c, sqlite3_stmt *st, struct cad_list *l,
		       struct adapter_result *res)
{
	int rc;

	l->n = 0;
	while ((rc = cad_step(c, st, res)) == 1) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (l->n == CAD_LIST_MAX) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_FAILED,
					     "more than %d properties to list; ask the cadastre office "
					     "for a written extract", CAD_LIST_MAX);
			return -1;
		}
		snprintf(l->eni[l->n++], sizeof(l->eni[0]), "%s", t ? (const char *)t : "");
	}
	if (rc == 0)
		sqlite3_reset(st);
	return rc;
}

/* Sets out["owns_property"] (if owns), "property_count" and "properties":
 * the listed properties with the rights f selects. 0, or -1 with res set. */
static int cad_list_answer(struct cad_ctx *c, const struct cad_list *l, const struct cad_filter *f,
			   int owns, json_t *out, struct adapter_result *res)
{
	json_t *arr = json_array(), *p = NULL, *r;
	int own = 0;
	size_t i, j;

	if (arr == NULL)
		goto oom;
	for (i = 0; i < l->n; i++) {
		int rc = cad_property(c, l->eni[i], f, &p, res);

		if (rc < 0)
			goto fail;
		if (rc == 0)        /* a right on a property that is not there */
			continue;
		json_array_foreach(json_object_get(p, "rights"), j, r) {
			const char *type = json_string_value(json_object_get(r, "right_type"));

			own |= type != NULL && strcmp(type, "ownership") == 0;
		}
		if (json_array_append_new(arr, p) != 0)
			goto oom;
	}
	if ((owns && json_object_set_new(out, "owns_property", json_boolean(own)) != 0) ||
	    json_object_set_new(out, "property_count", json_integer((json_int_t)json_array_size(arr))) != 0)
		goto oom;
	/* set_new takes arr even when it fails */
	if (json_object_set_new(out, "properties", arr) != 0) {
		arr = NULL;
		goto oom;
	}
	return 0;
oom:
	cad_oom(res);
fail:
	json_decref(arr);
	return -1;
}

static void cad_get_property_info(struct cad_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	static const struct cad_filter all = { NULL, NULL, NULL };
	char in[CAD_PARAM_MAX + 2], why[160];
	struct eni e;
	json_t *o = NULL;
	int rc;

	cad_trim(cad_param(call, "eni"), in, sizeof(in));
	if (eni_parse(in, &e, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	rc = cad_property(c, e.digits, &all, &o, res);
	if (rc == 0)
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no real estate with ENI %s (%s) in the cadastre", e.dashed, e.digits);
	else if (rc == 1)
		res->data = o;
}

/* 0 if pin is one person's here, else -1 with res set: the old duplicate
 * PINs hold rights too, and listing both men's houses under one PIN would
 * put someone else's property on a certificate. */
static int cad_one_holder(struct cad_ctx *c, const char *pin, struct adapter_result *res)
{
	sqlite3_stmt *st = cad_bind(c, ST_PIN_HOLDERS, pin, NULL, NULL, NULL);
	int rc = cad_step(c, st, res), holders;

	if (rc < 0)
		return -1;
	holders = rc == 1 ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (holders <= 1)
		return 0;
	adapter_result_error(res, ADAPTER_FAILED,
			     "PIN %s is recorded for %d different right holders in the cadastre (a "
			     "duplicate PIN from the 1990s); the cadastre office has to resolve it",
			     pin, holders);
	return -1;
}

static void cad_person_properties(struct cad_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	char pin[CAD_PARAM_MAX + 2], why[160];
	struct cad_filter f = { pin, NULL, NULL };
	struct cad_list *l = NULL;
	json_t *o = NULL;

	cad_trim(cad_param(call, "pin"), pin, sizeof(pin));
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	if (cad_one_holder(c, pin, res) != 0)
		return;
	l = malloc(sizeof(*l));
	o = json_pack("{s:s}", "pin", pin);
	if (l == NULL || o == NULL) {
		cad_oom(res);
		goto out;
	}
	if (cad_collect(c, cad_bind(c, ST_BY_PIN, pin, NULL, NULL, NULL), l, res) != 0 ||
	    cad_list_answer(c, l, &f, 1, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

static void cad_person_properties_by_document(struct cad_ctx *c, const struct adapter_call *call,
					      struct adapter_result *res)
{
	char cit_in[8], cit[4], doc[CAD_KEY_MAX + 2];
	struct cad_filter f = { NULL, cit, doc };
	struct cad_list *l = NULL;
	json_t *o = NULL;

	cad_trim(cad_param(call, "citizenship"), cit_in, sizeof(cit_in));
	cad_trim(cad_param(call, "document"), doc, sizeof(doc));
	if (cad_citizenship(cit_in, cit) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ");
		return;
	}
	if (!cad_key_ok(doc)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "document number must be 1-%d letters, digits or '-', e.g. N1234567",
				     CAD_KEY_MAX);
		return;
	}
	l = malloc(sizeof(*l));
	o = json_pack("{s:s,s:s}", "citizenship", cit, "document", doc);
	if (l == NULL || o == NULL) {
		cad_oom(res);
		goto out;
	}
	if (cad_collect(c, cad_bind(c, ST_BY_DOC, cit, doc, NULL, NULL), l, res) != 0 ||
	    cad_list_answer(c, l, &f, 1, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

static void cad_household_property(struct cad_ctx *c, const struct adapter_call *call,
				   struct adapter_result *res)
{
	static const struct cad_filter all = { NULL, NULL, NULL };
	char id[CAD_KEY_MAX + 2];
	struct cad_list *l = NULL;
	json_t *o = NULL;

	cad_trim(cad_param(call, "household_id"), id, sizeof(id));
	if (!cad_key_ok(id)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     CAD_KEY_MAX);
		return;
	}
	l = malloc(sizeof(*l));
	o = json_pack("{s:s}", "household_id", id);
	if (l == NULL || o == NULL) {
		cad_oom(res);
		goto out;
	}
	if (cad_collect(c, cad_bind(c, ST_BY_HOUSEHOLD, id, NULL, NULL, NULL), l, res) != 0 ||
	    cad_list_answer(c, l, &all, 0, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*cad_fn)(struct cad_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const cad_eni_params[] = { "eni", NULL };
static const char *const cad_pin_params[] = { "pin", NULL };
static const char *const cad_doc_params[] = { "citizenship", "document", NULL };
static const char *const cad_hh_params[] = { "household_id", NULL };

static const struct adapter_service cad_services[] = {
	{ "GetPropertyInfo", "GET", cad_eni_params,
	  "A property by its ENI (cadastral code): type, address, areas, purpose, rights, encumbrances" },
	{ "person-properties", "GET", cad_pin_params,
	  "The properties and rights of a person, by PIN (an empty list: owns no property)" },
	{ "person-properties-by-document", "GET", cad_doc_params,
	  "The properties and rights of a foreign owner without a PIN, by citizenship and document" },
	{ "household-property", "GET", cad_hh_params,
	  "The properties registered on a household book entry, by household id" },
};

static const cad_fn cad_handlers[] = {
	cad_get_property_info, cad_person_properties, cad_person_properties_by_document,
	cad_household_property,
};

#define CAD_N_SERVICES (sizeof(cad_services) / sizeof(cad_services[0]))
_Static_assert(CAD_N_SERVICES == sizeof(cad_handlers) / sizeof(cad_handlers[0]),
	       "one handler per service");

static void cad_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct cad_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	for (i = 0; i < CAD_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, cad_services[i].code) == 0)
			break;
	if (i == CAD_N_SERVICES)
		adapter_result_error(&res, ADAPTER_FAILED, "the cadastre adapter has no service '%.64s'",
				     call->service_code ? call->service_code : "");
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     cad_services[i].code);
	else if (cad_ready(c, &res) == 0)
		cad_handlers[i](c, call, &res);
	/* Close only after the statements are done with: the next call opens
	 * the file afresh. */
	if (c->db_failed)
		cad_close(c);
	if (res.status != ADAPTER_OK)
		cad_log(c, ADAPTER_LOG_DEBUG, "%s: %s", call->service_code ? call->service_code : "-",
			adapter_status_name(res.status));
	done(&res, arg);
	c->reqid = NULL;
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int cad_config_str(const struct adapter_host *host, const char *key, const char *def,
			  char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int cad_config(struct cad_ctx *c, const struct adapter_host *host, char **err)
{
	char def[CAD_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/cadastre.db", host->data_dir ? host->data_dir : ".");
	if (cad_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    cad_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/cadastre", c->sql_dir,
			   sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.cadastre] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = CAD_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > CAD_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.cadastre] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, CAD_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int cad_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct cad_ctx *c = calloc(1, sizeof(*c));
	struct adapter_result res;

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (cad_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	(void)cad_ready(c, &res);
	*vctx = c;
	return 0;
}

static void cad_free(void *vctx)
{
	struct cad_ctx *c = vctx;

	if (c == NULL)
		return;
	cad_close(c);
	free(c);
}

const struct adapter_ops cadastre_adapter = {
	.name = "cadastre",
	.services = cad_services,
	.n_services = CAD_N_SERVICES,
	.init = cad_init,
	.handle = cad_handle,
	.free = cad_free,
};
