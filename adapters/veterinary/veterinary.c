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
 * Backed by SQLite like the other registries (adapters/common/sqlreg): one
 * connection per worker thread, statements prepared once and reused,
 * parameters always bound; the database is created from schema.sql +
 * seed.sql when it has no tables; a database that cannot be opened makes
 * calls answer ADAPTER_UNAVAILABLE and is retried per call. Answer shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VET_PARAM_MAX 64            /* longest parameter looked at (bytes) */
#define VET_KEY_MAX 32              /* household id */
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

static const struct sqlreg_desc vet_db = {
	.name = "veterinary",
	.db_file = "veterinary.db",
	.label = "veterinary registry",
	.kind = "a veterinary registry",
	.ours = "holdings",
	.sql = vet_sql,
	.n_sql = ST_COUNT,
	.query_only = 1,                 /* the adapter only reads */
	.reopen_on_any_error = 1,
	.unavailable = "the veterinary registry database is unavailable; try again later",
};

/* Per worker thread. */
struct vet_ctx {
	struct sqlreg *reg;
	char as_of[11];                /* config "as_of" (YYYY-MM-DD), "" for the clock */
};

/* ---- dates -------------------------------------------------------------- */

/* A stored update date and its age in days as of today, into o (keys
 * "last_updated", "data_age_days"). A date that is not a date, or lies after
 * today, is a data error: both are null rather than guessed, so nothing is
 * certified on it. *days gets the parsed date (LONG_MIN if none). 0 or -1. */
static int vet_dated(struct vet_ctx *c, json_t *o, const char *date, long today, long *days)
{
	int is_date = params_date_parse(date, days) == 0;

	if (!is_date || *days > today) {
		sqlreg_log(c->reg, ADAPTER_LOG_WARN,
			   "veterinary: update date '%.16s' is %s; reported as null",
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
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_TAGS);
	json_t *arr = json_array();
	int rc;

	if (arr == NULL || st == NULL || sqlite3_bind_int64(st, 1, rid) != SQLITE_OK)
		goto oom;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1)
		if (json_array_append_new(arr, sqlreg_col(st, 0)) != 0)
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
	adapter_result_oom(res);
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
	if (o == NULL || sqlreg_cols(o, st, keys, 1, 3) != 0 ||
	    json_object_set_new(o, "head_count", json_integer(sqlite3_column_int64(st, 4))) != 0)
		goto oom;
	tags = vet_tags(c, sqlite3_column_int64(st, 0), res);
	if (tags == NULL)
		goto fail;
	if (json_object_set_new(o, "tag_ids", tags) != 0 || vet_dated(c, o, date, today, days) != 0)
		goto oom;
	return o;
oom:
	adapter_result_oom(res);
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
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_RECORDS, hid);
	json_t *arr = json_array(), *r;
	long d, min = LONG_MAX;
	int rc;

	oldest[0] = '\0';
	*unknown = 0;
	*heads = 0;
	if (arr == NULL || json_object_set_new(o, "records", arr) != 0) {
		adapter_result_oom(res);
		return -1;
	}
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		*heads += sqlite3_column_int64(st, 4);
		r = vet_record(c, st, today, &d, res);
		if (r == NULL || json_array_append_new(arr, r) != 0) {
			sqlite3_reset(st);
			if (r != NULL)
				adapter_result_oom(res);
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
		json_pack("{s:o,s:o}", "type", sqlreg_col(st, 4), "number", sqlreg_col(st, 5));

	return json_pack("{s:o,s:{s:o,s:o,s:o,s:o},s:o}", "household_id", sqlreg_col(st, 0),
			 "owner", "pin", sqlreg_col(st, 1), "name", sqlreg_col(st, 2),
			 "citizenship", sqlreg_col(st, 3), "document", doc,
			 "registered_on", sqlreg_col(st, 6));
}

/* The holding of household hid with its records into *out. 1 found, 0 not
 * in the registry, -1 with res set. */
static int vet_holding(struct vet_ctx *c, const char *hid, long today, json_t **out,
		       struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_HOLDING, hid);
	char updated[16], oldest[16];
	long long heads;
	json_t *o;
	int rc = sqlreg_step(c->reg, st, res), n, unknown;
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
	adapter_result_oom(res);
fail:
	json_decref(o);
	return -1;
}

static void vet_livestock(struct vet_ctx *c, const struct adapter_call *call,
			  struct adapter_result *res)
{
	char id[VET_KEY_MAX + 2];
	struct params_day today;
	json_t *o = NULL, *h = NULL;
	int rc;

	params_today(c->as_of, &today);
	params_trimmed(call->params, "household_id", id, sizeof(id));
	if (!params_key_ok(id, VET_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "household id must be 1-%d letters, digits or '-', e.g. LBD-0001",
				     VET_KEY_MAX);
		return;
	}
	rc = vet_holding(c, id, today.days, &h, res);
	if (rc == 0)
		adapter_result_error(res, ADAPTER_NOT_IN_REGISTER,
				     "household %s is not in the veterinary registry: no record of its "
				     "livestock has been entered", id);
	if (rc <= 0)
		return;
	o = json_pack("{s:s}", "as_of", today.iso);
	if (o == NULL || json_object_update(o, h) != 0) {
		json_decref(o);
		adapter_result_oom(res);
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
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_BY_OWNER, pin);
	int rc, n = 0;

	while ((rc = sqlreg_step(c->reg, st, res)) == 1 && n < VET_HOLDINGS_MAX)
		snprintf(ids[n++], VET_KEY_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return n;
}

static void vet_livestock_by_owner(struct vet_ctx *c, const struct adapter_call *call,
				   struct adapter_result *res)
{
	char pin[VET_PARAM_MAX + 2], why[160];
	char ids[VET_HOLDINGS_MAX][VET_KEY_MAX + 1];
	struct params_day today;
	json_t *o = NULL, *arr = NULL, *h;
	int n;

	params_today(c->as_of, &today);
	params_trimmed(call->params, "pin", pin, sizeof(pin));
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
	o = json_pack("{s:s,s:s,s:i}", "pin", pin, "as_of", today.iso, "holding_count", n);
	if (arr == NULL || o == NULL)
		goto oom;
	for (int i = 0; i < n; i++) {
		if (vet_holding(c, ids[i], today.days, &h, res) < 0)
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
	adapter_result_oom(res);
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
	sqlreg_call_begin(c->reg, call->message_id);
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
	else if (sqlreg_ready(c->reg, &res) == 0) {
		params_track_begin();
		vet_handlers[i](c, call, &res);
		params_unread(call->params, vet_services[i].code, &res);
	}
	sqlreg_call_end(c->reg, call->service_code, &res);
	done(&res, arg);
}

/* as_of: the date ages are counted to instead of today (tests; replaying
 * the answers of a past day). Must be a real date, not in the future. */
static int vet_config_as_of(struct vet_ctx *c, const struct adapter_host *host, char **err)
{
	const char *v = host->config ? host->config(host->ctx, "as_of") : NULL;
	struct params_day now;
	long d;

	c->as_of[0] = '\0';
	if (v == NULL || v[0] == '\0')
		return 0;
	params_today(NULL, &now);
	if (params_date_parse(v, &d) != 0 || d > now.days) {
		if (asprintf(err, "[adapter.veterinary] as_of: '%.32s' is not a date YYYY-MM-DD "
			     "up to today", v) < 0)
			*err = NULL;
		return -1;
	}
	memcpy(c->as_of, v, sizeof(c->as_of));
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int vet_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct vet_ctx *c = calloc(1, sizeof(*c));

	*err = NULL;
	*vctx = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	if (sqlreg_new(&vet_db, host, &c->reg, err) != 0 ||
	    vet_config_as_of(c, host, err) != 0) {
		sqlreg_free(&c->reg);
		free(c);
		return -1;
	}
	sqlreg_start(c->reg);
	*vctx = c;
	return 0;
}

static void vet_free(void *vctx)
{
	struct vet_ctx *c = vctx;

	if (c == NULL)
		return;
	sqlreg_free(&c->reg);
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
