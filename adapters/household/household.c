/* The household register adapter ("Sanarip Aimak", sanaripaymak-service).
 *
 * Answers from a local SQLite database (adapters/common/sqlreg: one
 * connection per worker thread, created from schema.sql + seed.sql when new,
 * statements prepared once, "unavailable" while the file cannot be used),
 * parameters always bound. Queries are index lookups on a small local file,
 * so they run on the calling thread. Keys of the answers are documented in
 * README.md; keep them stable. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HH_KEY_MAX 32             /* household id, document number */

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

static const struct sqlreg_desc hh_db = {
	.name = "household",
	.db_file = "household.db",
	.label = "household register",
	.kind = "a household register",
	.ours = "households",
	.sql = hh_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA foreign_keys=ON",
	.unavailable = "the household register database is unavailable; try again later",
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

static sqlite3_stmt *hh_bind(struct sqlreg_ctx *c, enum hh_stmt s, const char *a, const char *b)
{
	return b ? SQLREG_BIND(c->reg, s, a, b) : SQLREG_BIND(c->reg, s, a);
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
		bad |= hh_set(m, hh_member_keys[i], sqlreg_col(st, (int)i));
	if (sqlite3_column_type(st, 11) == SQLITE_NULL)
		bad |= hh_set(m, "document", json_null());
	else
		bad |= hh_set(m, "document", json_pack("{s:o,s:o}", "type", sqlreg_col(st, 10),
						       "number", sqlreg_col(st, 11)));
	bad |= hh_set(m, "birth_record_digitised", json_boolean(sqlite3_column_int(st, 12)));
	bad |= hh_set(m, "registered_on", sqlreg_col(st, 13));
	bad |= hh_set(m, "missing_fields", hh_missing(st));
	if (bad) {
		json_decref(m);
		return NULL;
	}
	return m;
}

/* Adds "members" (the head first, then in order of entry) and
 * "member_count" to out. 0, or -1 with res set. */
static int hh_members(struct sqlreg_ctx *c, const char *id, json_t *out, struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_MEMBERS, id, NULL);
	json_t *arr = json_array();
	int rc;

	if (arr == NULL || hh_set(out, "members", arr) != 0)
		goto oom;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1)
		if (json_array_append_new(arr, hh_member(st)) != 0)
			goto oom;
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return hh_set(out, "member_count", json_integer((json_int_t)json_array_size(arr))) == 0 ? 0 : -1;
oom:
	sqlite3_reset(st);
	adapter_result_oom(res);
	return -1;
}

/* The household row as JSON, without members. 0, or -1 with res set. */
static int hh_household_row(struct sqlreg_ctx *c, const char *id, json_t **out,
			    struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_HOUSEHOLD, id, NULL);
	int rc = sqlreg_step(c->reg, st, res);
	json_t *o = NULL;

	if (rc < 0)
		return -1;
	if (rc == 0) {
		sqlite3_reset(st);
		adapter_result_error(res, ADAPTER_NOT_FOUND, "no household with id %s", id);
		return -1;
	}
	o = json_pack("{s:o,s:{s:o,s:o,s:o,s:o,s:o,s:o},s:o,s:b,s:o}",
		      "household_id", sqlreg_col(st, 0),
		      "address", "region", sqlreg_col(st, 1), "district", sqlreg_col(st, 2),
		      "ayil_okmotu", sqlreg_col(st, 3), "village", sqlreg_col(st, 4),
		      "street", sqlreg_col(st, 5), "house", sqlreg_col(st, 6),
		      "cadastral_code", sqlreg_col(st, 7),
		      "house_registered", sqlite3_column_type(st, 7) != SQLITE_NULL,
		      "registered_on", sqlreg_col(st, 8));
	sqlite3_reset(st);
	if (o == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	*out = o;
	return 0;
}

/* A household with its members: res->data on success. */
static void hh_household_answer(struct sqlreg_ctx *c, const char *id, struct adapter_result *res)
{
	json_t *o = NULL;

	if (hh_household_row(c, id, &o, res) != 0)
		return;
	if (hh_members(c, id, o, res) != 0) {
		json_decref(o);
		return;
	}
	res->data = o;
}


/* A valid PIN that is in no household: "not in register" if the
 * municipality's population list has it, else "not found". Always -1. */
static int hh_not_entered(struct sqlreg_ctx *c, const char *pin, struct adapter_result *res)
{
	sqlite3_stmt *st = hh_bind(c, ST_PENDING_BY_PIN, pin, NULL);
	int rc = sqlreg_step(c->reg, st, res);

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
static int hh_person(struct sqlreg_ctx *c, const char *pin, char *hid, size_t hid_len, json_t **person,
		     struct adapter_result *res)
{
	char why[160];
	sqlite3_stmt *st;
	int rc;

	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	st = hh_bind(c, ST_PERSON_BY_PIN, pin, NULL);
	rc = sqlreg_step(c->reg, st, res);
	if (rc <= 0) {
		if (rc == 0)
			sqlite3_reset(st);
		return rc == 0 ? hh_not_entered(c, pin, res) : -1;
	}
	snprintf(hid, hid_len, "%s", (const char *)sqlite3_column_text(st, 0));
	if (person != NULL) {
		*person = json_pack("{s:s,s:o,s:o,s:o,s:o}", "pin", pin,
				    "last_name", sqlreg_col(st, 1), "first_name", sqlreg_col(st, 2),
				    "patronymic", sqlreg_col(st, 3),
				    "registered_on", sqlreg_col(st, 4));
		if (*person == NULL) {
			sqlite3_reset(st);
			adapter_result_oom(res);
			return -1;
		}
	}
	rc = sqlreg_step(c->reg, st, res);
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

static void hh_address_fact(struct sqlreg_ctx *c, const struct adapter_call *call,
			    struct adapter_result *res)
{
	char pin[96], hid[HH_KEY_MAX + 1];
	json_t *person = NULL, *hh = NULL;

	params_trimmed(call->params, "pin", pin, sizeof(pin));
	if (hh_person(c, pin, hid, sizeof(hid), &person, res) != 0)
		return;
	if (hh_household_row(c, hid, &hh, res) != 0)
		goto out;
	/* The person's own registration date, not the household's. */
	json_object_del(hh, "registered_on");
	if (json_object_update(person, hh) != 0) {
		adapter_result_oom(res);
		goto out;
	}
	res->data = person;
	person = NULL;
out:
	json_decref(hh);
	json_decref(person);
}

static void hh_family_members(struct sqlreg_ctx *c, const struct adapter_call *call,
			      struct adapter_result *res)
{
	char pin[96], hid[HH_KEY_MAX + 1];

	params_trimmed(call->params, "pin", pin, sizeof(pin));
	if (hh_person(c, pin, hid, sizeof(hid), NULL, res) != 0)
		return;
	hh_household_answer(c, hid, res);
	if (res->data != NULL && hh_set(res->data, "pin", json_string(pin)) != 0) {
		adapter_result_oom(res);
	}
}

static void hh_household(struct sqlreg_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	char id[HH_KEY_MAX + 2];

	params_trimmed(call->params, "id", id, sizeof(id));
	if (!params_key_ok(id, HH_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     HH_KEY_MAX);
		return;
	}
	hh_household_answer(c, id, res);
}

static void hh_household_by_document(struct sqlreg_ctx *c, const struct adapter_call *call,
				     struct adapter_result *res)
{
	char cit_in[8], cit[4], doc[HH_KEY_MAX + 2], hid[HH_KEY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	params_trimmed(call->params, "citizenship", cit_in, sizeof(cit_in));
	params_trimmed(call->params, "document", doc, sizeof(doc));
	if (params_citizenship(cit_in, cit) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ");
		return;
	}
	if (!params_key_ok(doc, HH_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "document number must be 1-%d letters, digits or '-', e.g. N1234567",
				     HH_KEY_MAX);
		return;
	}
	st = hh_bind(c, ST_BY_DOCUMENT, cit, doc);
	if ((rc = sqlreg_step(c->reg, st, res)) < 0)
		return;
	if (rc == 0) {
		sqlite3_reset(st);
		adapter_result_error(res, ADAPTER_NOT_FOUND,
				     "no member with %s document %s in the household register", cit, doc);
		return;
	}
	snprintf(hid, sizeof(hid), "%s", (const char *)sqlite3_column_text(st, 0));
	if ((rc = sqlreg_step(c->reg, st, res)) < 0)
		return;
	sqlite3_reset(st);
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED,
				     "%s document %s is recorded for more than one person; the "
				     "municipality has to resolve it", cit, doc);
	else
		hh_household_answer(c, hid, res);
}

/* ---- the ops table ---------------------------------------------------- */


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

static const sqlreg_handler_fn hh_handlers[] = {
	hh_address_fact, hh_family_members, hh_household, hh_household_by_document,
};

_Static_assert(sizeof(hh_services) / sizeof(hh_services[0]) ==
	       sizeof(hh_handlers) / sizeof(hh_handlers[0]), "one handler per service");

#define HH_N_SERVICES (sizeof(hh_services) / sizeof(hh_services[0]))

static const struct sqlreg_dispatch hh_dispatch = {
	hh_services, hh_handlers, HH_N_SERVICES, ADAPTER_INVALID_INPUT,
	"the household register has no such service", 0,
};

static void hh_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&hh_dispatch, vctx, call, done, arg);
}

static int hh_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&hh_db, host, vctx, err);
}

const struct adapter_ops household_adapter = {
	.name = "household",
	.services = hh_services,
	.n_services = HH_N_SERVICES,
	.init = hh_init,
	.handle = hh_handle,
	.free = sqlreg_ctx_free,
};
