/* The real-estate cadastre adapter (dkrpni-service): a property by its ENI,
 * the properties and rights of a person, of a foreign owner, of a household.
 *
 * Backed by SQLite like the other registries (adapters/common/sqlreg): one
 * connection per worker thread, statements prepared once and reused,
 * parameters always bound; the database is created from schema.sql +
 * seed.sql when it has no tables. A database that cannot be opened does not
 * stop the gateway: each call retries the open, answering
 * ADAPTER_UNAVAILABLE until it works; an SQLite error during a call closes
 * the connection after the call, so the next one starts clean. ENIs go
 * through adapters/common/eni.h, PINs through adapters/common/pin.h. Answer
 * shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/eni.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAD_PARAM_MAX 64            /* longest parameter looked at (bytes) */
#define CAD_KEY_MAX 32              /* household id, document number */
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

static const struct sqlreg_desc cad_db = {
	.name = "cadastre",
	.db_file = "cadastre.db",
	.label = "cadastre",
	.kind = "a cadastre",
	.ours = "properties",
	.sql = cad_sql,
	.n_sql = ST_COUNT,
	.query_only = 1,                 /* the adapter only reads */
	.reopen_on_any_error = 1,
	.unavailable = "the cadastre database is unavailable; try again later",
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- JSON from rows ---------------------------------------------------- */

/* One row of ST_RIGHTS (caller owns), or NULL. */
static json_t *cad_right(sqlite3_stmt *st)
{
	static const char *const keys[] = { "holder_type", "pin", "tax_number", "name", "citizenship" };
	long long num = sqlite3_column_int64(st, 8), den = sqlite3_column_int64(st, 9);
	json_t *o = json_object();
	char share[48];
	int bad = o == NULL || sqlreg_cols(o, st, keys, 0, 5) != 0;

	if (!bad && sqlite3_column_type(st, 6) == SQLITE_NULL)
		bad |= json_object_set_new(o, "document", json_null());
	else if (!bad)
		bad |= json_object_set_new(o, "document", json_pack("{s:o,s:o}",
								    "type", sqlreg_col(st, 5),
								    "number", sqlreg_col(st, 6)));
	snprintf(share, sizeof(share), "%lld/%lld", num, den);
	if (!bad)
		bad |= json_object_set_new(o, "right_type", sqlreg_col(st, 7)) |
		       json_object_set_new(o, "share", json_string(share)) |
		       json_object_set_new(o, "share_numerator", json_integer(num)) |
		       json_object_set_new(o, "share_denominator", json_integer(den)) |
		       json_object_set_new(o, "registered_on", sqlreg_col(st, 10)) |
		       json_object_set_new(o, "basis", sqlreg_col(st, 11));
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

	if (o == NULL || sqlreg_cols(o, st, keys, 0, 6) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Appends one object per row of st (made by fn) to a new array set as
 * out[key]. The number of rows, or -1 with res set. */
static int cad_rows(struct sqlreg_ctx *c, sqlite3_stmt *st, json_t *(*fn)(sqlite3_stmt *),
		    json_t *out, const char *key, struct adapter_result *res)
{
	json_t *arr = json_array();
	int rc;

	if (arr == NULL || json_object_set_new(out, key, arr) != 0)
		goto oom;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1)
		if (json_array_append_new(arr, fn(st)) != 0)
			goto oom;
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return (int)json_array_size(arr);
oom:
	if (st != NULL)
		sqlite3_reset(st);
	adapter_result_oom(res);
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
	      sqlreg_cols(o, st, type_keys, 1, 6) != 0 || sqlreg_cols(addr, st, addr_keys, 7, 7) != 0;
	if (!bad) {
		bad = json_object_set(o, "address", addr) != 0 ||
		      sqlreg_cols(o, st, tail_keys, 14, 4) != 0;
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
static int cad_property(struct sqlreg_ctx *c, const char *eni, const struct cad_filter *f,
			json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_PROPERTY, eni);
	json_t *o;
	int rc = sqlreg_step(c->reg, st, res), n;

	if (rc <= 0) {
		if (rc == 0)
			sqlite3_reset(st);
		return rc;
	}
	o = cad_property_row(st);
	sqlite3_reset(st);
	if (o == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	/* "encumbered" goes before the list (set again below: jansson keeps a
	 * replaced key in its place), so a reader sees the answer first. */
	if (cad_rows(c, SQLREG_BIND(c->reg, ST_RIGHTS, eni, f->pin, f->citizenship, f->document),
		     cad_right, o, "rights", res) < 0)
		goto fail;
	if (json_object_set_new(o, "encumbered", json_false()) != 0) {
		adapter_result_oom(res);
		goto fail;
	}
	n = cad_rows(c, SQLREG_BIND(c->reg, ST_ENCUMBRANCES, eni), cad_encumbrance, o,
		     "encumbrances", res);
	if (n < 0)
		goto fail;
	if (json_object_set_new(o, "encumbered", json_boolean(n > 0)) != 0) {
		adapter_result_oom(res);
		goto fail;
	}
	*out = o;
	return 1;
fail:
	json_decref(o);
	return -1;
}

/* ---- answers ---------------------------------------------------------- */

struct cad_list {
	char eni[CAD_LIST_MAX][ENI_DIGITS_MAX + 1];
	size_t n;
};

/* Reads the ENIs st lists into l. 0, or -1 with res set. */
static int cad_collect(struct sqlreg_ctx *c, sqlite3_stmt *st, struct cad_list *l,
		       struct adapter_result *res)
{
	int rc;

	l->n = 0;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
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
static int cad_list_answer(struct sqlreg_ctx *c, const struct cad_list *l, const struct cad_filter *f,
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
	adapter_result_oom(res);
fail:
	json_decref(arr);
	return -1;
}

static void cad_get_property_info(struct sqlreg_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	static const struct cad_filter all = { NULL, NULL, NULL };
	char in[CAD_PARAM_MAX + 2], why[160];
	struct eni e;
	json_t *o = NULL;
	int rc;

	params_trimmed(call->params, "eni", in, sizeof(in));
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
static int cad_one_holder(struct sqlreg_ctx *c, const char *pin, struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_PIN_HOLDERS, pin);
	int rc = sqlreg_step(c->reg, st, res), holders;

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

static void cad_person_properties(struct sqlreg_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	char pin[CAD_PARAM_MAX + 2], why[160];
	struct cad_filter f = { pin, NULL, NULL };
	struct cad_list *l = NULL;
	json_t *o = NULL;

	params_trimmed(call->params, "pin", pin, sizeof(pin));
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	if (cad_one_holder(c, pin, res) != 0)
		return;
	l = malloc(sizeof(*l));
	o = json_pack("{s:s}", "pin", pin);
	if (l == NULL || o == NULL) {
		adapter_result_oom(res);
		goto out;
	}
	if (cad_collect(c, SQLREG_BIND(c->reg, ST_BY_PIN, pin), l, res) != 0 ||
	    cad_list_answer(c, l, &f, 1, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

static void cad_person_properties_by_document(struct sqlreg_ctx *c, const struct adapter_call *call,
					      struct adapter_result *res)
{
	char cit_in[8], cit[4], doc[CAD_KEY_MAX + 2];
	struct cad_filter f = { NULL, cit, doc };
	struct cad_list *l = NULL;
	json_t *o = NULL;

	params_trimmed(call->params, "citizenship", cit_in, sizeof(cit_in));
	params_trimmed(call->params, "document", doc, sizeof(doc));
	if (params_citizenship(cit_in, cit) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ");
		return;
	}
	if (!params_key_ok(doc, CAD_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "document number must be 1-%d letters, digits or '-', e.g. N1234567",
				     CAD_KEY_MAX);
		return;
	}
	l = malloc(sizeof(*l));
	o = json_pack("{s:s,s:s}", "citizenship", cit, "document", doc);
	if (l == NULL || o == NULL) {
		adapter_result_oom(res);
		goto out;
	}
	if (cad_collect(c, SQLREG_BIND(c->reg, ST_BY_DOC, cit, doc), l, res) != 0 ||
	    cad_list_answer(c, l, &f, 1, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

static void cad_household_property(struct sqlreg_ctx *c, const struct adapter_call *call,
				   struct adapter_result *res)
{
	static const struct cad_filter all = { NULL, NULL, NULL };
	char id[CAD_KEY_MAX + 2];
	struct cad_list *l = NULL;
	json_t *o = NULL;

	params_trimmed(call->params, "household_id", id, sizeof(id));
	if (!params_key_ok(id, CAD_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     CAD_KEY_MAX);
		return;
	}
	l = malloc(sizeof(*l));
	o = json_pack("{s:s}", "household_id", id);
	if (l == NULL || o == NULL) {
		adapter_result_oom(res);
		goto out;
	}
	if (cad_collect(c, SQLREG_BIND(c->reg, ST_BY_HOUSEHOLD, id), l, res) != 0 ||
	    cad_list_answer(c, l, &all, 0, o, res) != 0)
		goto out;
	res->data = o;
	o = NULL;
out:
	json_decref(o);
	free(l);
}

/* ---- the ops table ---------------------------------------------------- */


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

static const sqlreg_handler_fn cad_handlers[] = {
	cad_get_property_info, cad_person_properties, cad_person_properties_by_document,
	cad_household_property,
};

#define CAD_N_SERVICES (sizeof(cad_services) / sizeof(cad_services[0]))
_Static_assert(CAD_N_SERVICES == sizeof(cad_handlers) / sizeof(cad_handlers[0]),
	       "one handler per service");

static const struct sqlreg_dispatch cad_dispatch = {
	cad_services, cad_handlers, CAD_N_SERVICES, ADAPTER_FAILED,
	"the cadastre adapter has no service", 1,
};

static void cad_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&cad_dispatch, vctx, call, done, arg);
}

static int cad_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&cad_db, host, vctx, err);
}

const struct adapter_ops cadastre_adapter = {
	.name = "cadastre",
	.services = cad_services,
	.n_services = CAD_N_SERVICES,
	.init = cad_init,
	.handle = cad_handle,
	.free = sqlreg_ctx_free,
};
