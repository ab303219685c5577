/* The social passport adapter (GOV/70000050/social-passport): which of the
 * municipality's residents belong to a benefit category (disability, lonely
 * pensioner, "Үй-бүлөгө көмөк", ...), from when to when, on what basis.
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound. Queries are
 * index lookups on a small local file, so they run on the calling thread.
 * The database is created from schema.sql + seed.sql when it has no tables.
 * A database that cannot be opened does not stop the gateway: calls answer
 * "unavailable" and retry the open; any SQLite error during a call closes
 * the connection so the next call starts clean. Answer keys: README.md. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_CODE_MAX 32             /* category code */
#define SP_PARAM_MAX 96            /* bytes of a parameter we look at */
#define SP_UNAVAILABLE "the social passport database is unavailable; try again later"

enum sp_stmt { ST_RESIDENT, ST_CATEGORY, ST_CODES, ST_HISTORY, ST_PERIODS, ST_MEMBERS, ST_COUNT };

static const char *const sp_sql[ST_COUNT] = {
	[ST_RESIDENT] =
		"SELECT last_name, first_name, patronymic, household_id FROM residents"
		" WHERE pin = ?1 ORDER BY id LIMIT 2",
	[ST_CATEGORY] = "SELECT ky, ru FROM categories WHERE code = ?1",
	[ST_CODES] = "SELECT group_concat(code, ', ') FROM (SELECT code FROM categories ORDER BY sort)",
	/* Every period of a person, a category's history together. */
	[ST_HISTORY] =
		"SELECT m.category, c.ky, c.ru, m.disability_group, m.cause, d.ky, d.ru,"
		" m.start_date, m.end_date,"
		" m.start_date <= ?2 AND (m.end_date IS NULL OR m.end_date >= ?2),"
		" m.basis_document, m.basis_number, m.basis_date, m.basis_issued_by"
		" FROM memberships m JOIN categories c ON c.code = m.category"
		" LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.pin = ?1 ORDER BY c.sort, m.start_date, m.id",
	[ST_PERIODS] =
		"SELECT m.start_date, m.end_date, m.disability_group, m.cause, d.ky, d.ru,"
		" m.basis_document, m.basis_number, m.basis_date, m.basis_issued_by"
		" FROM memberships m LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.pin = ?1 AND m.category = ?2 ORDER BY m.start_date, m.id",
	/* Residents in a category on a date: one row per PIN (the period that
	 * started last, when periods overlap); names of the first resident with
	 * the PIN and how many residents hold it (duplicate PINs). */
	[ST_MEMBERS] =
		"SELECT m.pin, r.last_name, r.first_name, r.patronymic, r.household_id,"
		" (SELECT count(*) FROM residents x WHERE x.pin = m.pin) holders,"
		" m.disability_group, m.cause, d.ky, d.ru, m.start_date, m.end_date"
		" FROM (SELECT *, row_number() OVER (PARTITION BY pin ORDER BY start_date DESC, id DESC) k"
		"       FROM memberships WHERE category = ?1 AND start_date <= ?2"
		"       AND (end_date IS NULL OR end_date >= ?2)) m"
		" JOIN residents r ON r.id = (SELECT min(id) FROM residents x WHERE x.pin = m.pin)"
		" LEFT JOIN disability_causes d ON d.code = m.cause"
		" WHERE m.k = 1"
		" ORDER BY holders > 1, r.household_id IS NULL, r.household_id, r.last_name, m.pin",
};

static const struct sqlreg_desc sp_db = {
	.name = "social-passport",
	.db_file = "social-passport.db",
	.label = "social passport",
	.kind = "a social passport",
	.ours = "memberships",
	.sql = sp_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA foreign_keys=ON",
	.reopen_on_any_error = 1,
	.unavailable = SP_UNAVAILABLE,
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- parameters ------------------------------------------------------- */

/* The "on" date into on[11]: today when absent or empty. Past and present
 * only: the register records what was decided, not what will be. 0, or -1
 * with res set. */
static int sp_on(const struct adapter_call *call, char *on, struct adapter_result *res)
{
	struct params_day d;
	char why[256];

	if (params_date_upto_today(call->params, "on", "the social passport answers for "
				   "past and present dates only", &d, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	memcpy(on, d.iso, sizeof(d.iso));
	return 0;
}

static int sp_pin(const struct adapter_call *call, char *pin, size_t cap,
		  struct adapter_result *res)
{
	char why[160];

	params_trimmed(call->params, "pin", pin, cap);
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	return 0;
}

/* ---- queries ---------------------------------------------------------- */

static int sp_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* The basis document of a period, from columns i..i+3. */
static json_t *sp_basis(sqlite3_stmt *st, int i)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "document", sqlreg_col(st, i),
			 "number", sqlreg_col(st, i + 1),
			 "date", sqlreg_col(st, i + 2), "issued_by", sqlreg_col(st, i + 3));
}

/* The valid category codes, for a message: into out[cap] ("?" if the
 * database cannot say). */
static void sp_codes(struct sqlreg_ctx *c, char *out, size_t cap, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_CODES);

	snprintf(out, cap, "?");
	if (sqlreg_step(c->reg, st, res) == 1) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
}

/* The "category" parameter: its code into code[SP_CODE_MAX + 1] and its
 * names into a new object {category, category_ky, category_ru} (caller
 * owns). 0, or -1 with res set (an unknown code lists the valid ones). */
static int sp_category(struct sqlreg_ctx *c, const struct adapter_call *call, char *code, json_t **out,
		       struct adapter_result *res)
{
	char in[SP_PARAM_MAX], codes[512];
	sqlite3_stmt *st;
	size_t n;
	int rc;

	params_trimmed(call->params, "category", in, sizeof(in));
	if (params_code_ok(in, SP_CODE_MAX)) {
		st = SQLREG_BIND(c->reg, ST_CATEGORY, in);
		if ((rc = sqlreg_step(c->reg, st, res)) < 0)
			return -1;
		if (rc == 1) {
			*out = json_pack("{s:s,s:o,s:o}", "category", in,
					 "category_ky", sqlreg_col(st, 0),
					 "category_ru", sqlreg_col(st, 1));
			sqlite3_reset(st);
			if (*out == NULL) {
				adapter_result_oom(res);
				return -1;
			}
			n = strnlen(in, SP_CODE_MAX);   /* params_code_ok: at most that */
			memcpy(code, in, n);
			code[n] = '\0';
			return 0;
		}
	}
	sp_codes(c, codes, sizeof(codes), res);
	if (res->status == ADAPTER_OK && params_code_ok(in, SP_CODE_MAX))
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "unknown social category '%s'; valid codes: %s", in, codes);
	else if (res->status == ADAPTER_OK)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "category must be one of the codes: %s", codes);
	return -1;
}

/* The one resident with this PIN as a new object {pin, last_name,
 * first_name, patronymic, household_id} (caller owns). 0, or -1 with res:
 * not a resident (not found), a PIN two residents hold (failed), or the
 * database. */
static int sp_resident(struct sqlreg_ctx *c, const char *pin, json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_RESIDENT, pin);
	int rc = sqlreg_step(c->reg, st, res);

	if (rc <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND,
					     "PIN %s is not among the municipality's residents (neither in "
					     "the household register nor on its population list)", pin);
		return -1;
	}
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o}", "pin", pin, "last_name", sqlreg_col(st, 0),
			 "first_name", sqlreg_col(st, 1), "patronymic", sqlreg_col(st, 2),
			 "household_id", sqlreg_col(st, 3));
	rc = sqlreg_step(c->reg, st, res);
	if (rc == 1)
		sqlite3_reset(st);
	if (rc == 0 && *out != NULL)
		return 0;
	json_decref(*out);
	*out = NULL;
	/* Old duplicate PINs exist; a category entered for the PIN cannot be
	 * told to belong to one of the two people. */
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED,
				     "PIN %s is recorded for more than one resident (a duplicate PIN "
				     "from the 1990s); the municipality has to resolve it", pin);
	else if (rc == 0)
		adapter_result_oom(res);
	return -1;
}

/* ---- social-categories ------------------------------------------------ */

/* One row of ST_HISTORY as JSON (caller owns), or NULL. */
static json_t *sp_period(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o}",
			 "category", sqlreg_col(st, 0), "category_ky", sqlreg_col(st, 1),
			 "category_ru", sqlreg_col(st, 2), "disability_group", sqlreg_col(st, 3),
			 "cause", sqlreg_col(st, 4), "cause_ky", sqlreg_col(st, 5),
			 "cause_ru", sqlreg_col(st, 6),
			 "start_date", sqlreg_col(st, 7), "end_date", sqlreg_col(st, 8),
			 "active", sqlite3_column_int(st, 9), "basis", sp_basis(st, 10));
}

static void sp_social_categories(struct sqlreg_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	char pin[SP_PARAM_MAX], on[11];
	json_t *arr = NULL, *o = NULL;
	sqlite3_stmt *st;
	json_int_t active = 0;
	int rc;

	if (sp_pin(call, pin, sizeof(pin), res) != 0 || sp_on(call, on, res) != 0 ||
	    sp_resident(c, pin, &o, res) != 0)
		return;
	res->data = o;
	arr = json_array();
	if (sp_set(o, "on", json_string(on)) != 0 || arr == NULL)
		goto oom;
	st = SQLREG_BIND(c->reg, ST_HISTORY, pin, on);
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		active += sqlite3_column_int(st, 9) != 0;
		if (json_array_append_new(arr, sp_period(st)) != 0) {
			sqlite3_reset(st);
			goto oom;
		}
	}
	if (rc < 0)
		goto out;
	if (sp_set(o, "active_count", json_integer(active)) != 0)
		goto oom;
	rc = sp_set(o, "categories", arr);   /* takes arr, even when it fails */
	arr = NULL;
	if (rc != 0)
		goto oom;
	return;
oom:
	adapter_result_oom(res);
out:
	json_decref(arr);
}

/* ---- category-status -------------------------------------------------- */

/* Continuous membership: periods that overlap or touch (one ends the day
 * before, or the day, the next starts) form one run. The periods come in
 * order of start, so a run is done when a period starts after its end + 1. */
struct sp_run {
	long start, end;             /* days; end LONG_MAX: open */
	char since[11], until[11];   /* until "": open */
};

struct sp_walk {
	long on;                     /* the day asked for */
	int have;                    /* run holds a run being built */
	struct sp_run run;
	int found;                   /* hit holds the run that holds on */
	struct sp_run hit;
};

static void sp_run_end(struct sp_run *run, sqlite3_stmt *st, long e)
{
	run->end = e;
	run->until[0] = '\0';
	if (e != LONG_MAX)
		snprintf(run->until, sizeof(run->until), "%s", (const char *)sqlite3_column_text(st, 1));
}

/* Keeps the run being built if it holds the day asked for. */
static void sp_run_check(struct sp_walk *w)
{
	if (w->have && w->run.start <= w->on && w->on <= w->run.end) {
		w->hit = w->run;
		w->found = 1;
	}
}

/* Adds the period (s, e) of row st: it extends the run, or starts a new one. */
static void sp_run_add(struct sp_walk *w, sqlite3_stmt *st, long s, long e)
{
	if (!w->have || (w->run.end != LONG_MAX && s > w->run.end + 1)) {
		sp_run_check(w);
		w->have = 1;
		w->run.start = s;
		snprintf(w->run.since, sizeof(w->run.since), "%s", (const char *)sqlite3_column_text(st, 0));
		sp_run_end(&w->run, st, e);
	} else if (e == LONG_MAX || (w->run.end != LONG_MAX && e > w->run.end)) {
		sp_run_end(&w->run, st, e);
	}
}

/* Details of the period that holds on and started last (disability group,
 * cause, basis) into o. 0 or -1. */
static int sp_status_detail(json_t *o, sqlite3_stmt *st)
{
	int bad = 0;

	bad |= sp_set(o, "disability_group", sqlreg_col(st, 2));
	bad |= sp_set(o, "cause", sqlreg_col(st, 3));
	bad |= sp_set(o, "cause_ky", sqlreg_col(st, 4));
	bad |= sp_set(o, "cause_ru", sqlreg_col(st, 5));
	bad |= sp_set(o, "basis", sp_basis(st, 6));
	return bad;
}

/* Walks the person's periods in the category: sets o's since/until and
 * details. 0, or -1 with res set. */
static int sp_status_walk(struct sqlreg_ctx *c, const char *pin, const char *code, long on, json_t *o,
			  struct adapter_result *res)
{
	struct sp_walk w = { .on = on };
	int rc, bad = 0;
	long s, e;
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_PERIODS, pin, code);

	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		const char *end = (const char *)sqlite3_column_text(st, 1);

		if (params_date_parse((const char *)sqlite3_column_text(st, 0), &s) != 0 ||
		    (end != NULL && params_date_parse(end, &e) != 0)) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_FAILED, "a period of PIN %s in %s has a malformed date; "
				 "the municipality has to correct it", pin, code);
			return -1;
		}
		if (end == NULL)
			e = LONG_MAX;
		sp_run_add(&w, st, s, e);
		if (s <= on && on <= e)
			bad |= sp_status_detail(o, st);
	}
	if (rc < 0)
		return -1;
	sp_run_check(&w);
	bad |= sp_set(o, "in_category", json_boolean(w.found));
	bad |= sp_set(o, "since", w.found ? json_string(w.hit.since) : json_null());
	bad |= sp_set(o, "until", w.found && w.hit.until[0] ? json_string(w.hit.until) : json_null());
	if (bad) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

/* Keys in the order of the answer, filled in afterwards: jansson keeps
 * insertion order, and the SOAP rendering follows it. */
static int sp_status_skeleton(json_t *o, json_t *cat, const char *on)
{
	static const char *const later[] = { "in_category", "since", "until", "disability_group",
					     "cause", "cause_ky", "cause_ru", "basis" };
	int bad = json_object_update(o, cat) != 0;

	bad |= sp_set(o, "on", json_string(on));
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		bad |= sp_set(o, later[i], json_null());
	return bad;
}

static void sp_category_status(struct sqlreg_ctx *c, const struct adapter_call *call,
			       struct adapter_result *res)
{
	char pin[SP_PARAM_MAX], on[11], code[SP_CODE_MAX + 1];
	json_t *cat = NULL, *o = NULL;
	long day;

	if (sp_pin(call, pin, sizeof(pin), res) != 0 || sp_on(call, on, res) != 0 ||
	    sp_category(c, call, code, &cat, res) != 0)
		return;
	if (sp_resident(c, pin, &o, res) != 0)
		goto out;
	res->data = o;
	if (sp_status_skeleton(o, cat, on) != 0 || params_date_parse(on, &day) != 0) {
		adapter_result_oom(res);
		goto out;
	}
	(void)sp_status_walk(c, pin, code, day, o, res);   /* res tells */
out:
	json_decref(cat);
}

/* ---- category-members ------------------------------------------------- */

/* One row of ST_MEMBERS as JSON (caller owns), or NULL. A PIN two residents
 * hold is listed without names: the period cannot be told to be whose. */
static json_t *sp_member(sqlite3_stmt *st)
{
	int dup = sqlite3_column_int(st, 5) > 1;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "pin", sqlreg_col(st, 0),
			 "last_name", dup ? json_null() : sqlreg_col(st, 1),
			 "first_name", dup ? json_null() : sqlreg_col(st, 2),
			 "patronymic", dup ? json_null() : sqlreg_col(st, 3),
			 "household_id", dup ? json_null() : sqlreg_col(st, 4),
			 "duplicate_pin", dup,
			 "disability_group", sqlreg_col(st, 6), "cause", sqlreg_col(st, 7),
			 "cause_ky", sqlreg_col(st, 8), "cause_ru", sqlreg_col(st, 9),
			 "start_date", sqlreg_col(st, 10), "end_date", sqlreg_col(st, 11));
}

static void sp_category_members(struct sqlreg_ctx *c, const struct adapter_call *call,
				struct adapter_result *res)
{
	char on[11], code[SP_CODE_MAX + 1];
	json_t *o = NULL, *arr = NULL;
	sqlite3_stmt *st;
	int rc;

	if (sp_on(call, on, res) != 0 || sp_category(c, call, code, &o, res) != 0)
		return;
	res->data = o;
	arr = json_array();
	if (arr == NULL || sp_set(o, "on", json_string(on)) != 0)
		goto oom;
	st = SQLREG_BIND(c->reg, ST_MEMBERS, code, on);
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		if (json_array_append_new(arr, sp_member(st)) != 0) {
			sqlite3_reset(st);
			goto oom;
		}
	}
	if (rc < 0)
		goto out;
	if (sp_set(o, "count", json_integer((json_int_t)json_array_size(arr))) != 0)
		goto oom;
	rc = sp_set(o, "members", arr);   /* takes arr, even when it fails */
	arr = NULL;
	if (rc != 0)
		goto oom;
	return;
oom:
	adapter_result_oom(res);
out:
	json_decref(arr);
}

/* ---- the ops table ---------------------------------------------------- */


static const char *const sp_pin_params[] = { "pin", NULL };
static const char *const sp_category_params[] = { "category", NULL };
static const char *const sp_status_params[] = { "pin", "category", NULL };

static const struct adapter_service sp_services[] = {
	{ "social-categories", "GET", sp_pin_params,
	  "A resident's social categories, current and past, by PIN (optional date 'on')" },
	{ "category-members", "GET", sp_category_params,
	  "Residents in a social category on a date (default today)" },
	{ "category-status", "GET", sp_status_params,
	  "Is a resident in a social category on a date: yes/no with since and until" },
};

static const sqlreg_handler_fn sp_handlers[] = {
	sp_social_categories, sp_category_members, sp_category_status,
};

_Static_assert(sizeof(sp_services) / sizeof(sp_services[0]) ==
	       sizeof(sp_handlers) / sizeof(sp_handlers[0]), "one handler per service");

#define SP_N_SERVICES (sizeof(sp_services) / sizeof(sp_services[0]))

static const struct sqlreg_dispatch sp_dispatch = {
	sp_services, sp_handlers, SP_N_SERVICES, ADAPTER_INVALID_INPUT,
	"the social passport has no such service", 0,
};

static void sp_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&sp_dispatch, vctx, call, done, arg);
}

static int sp_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&sp_db, host, vctx, err);
}

const struct adapter_ops social_passport_adapter = {
	.name = "social-passport",
	.services = sp_services,
	.n_services = SP_N_SERVICES,
	.init = sp_init,
	.handle = sp_handle,
	.free = sqlreg_ctx_free,
};
