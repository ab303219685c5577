/* The utility billing adapter (municipal enterprises: drinking water, waste
 * collection, irrigation water; subsystem billing).
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound, the
 * connection put in query_only mode after setup (this adapter never
 * writes). Money is integer tyiyn (1 som = 100 tyiyn) end to end, with a
 * decimal string beside each amount for people. A balance is split into
 * debt and credit, never a negative debt: an overpayment at one enterprise
 * does not pay another's bill, so the totals add debts and credits
 * separately. Keys of the answers are documented in README.md; keep them
 * stable. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BL_KEY_MAX 32               /* household id, account number */
#define BL_RANGE_DAYS_MAX 366

/* The account columns every account answer uses (bl_account_json). */
#define BL_ACCOUNT_COLS                                                                     \
	"SELECT a.account_number, t.service, s.ru, s.ky, e.code, e.name, e.tax_number,"     \
	" a.holder_pin, a.holder_name, t.code, t.name, t.unit, t.price_tyiyn, a.opened_on," \
	" a.closed_on, a.household_id"                                                      \
	" FROM accounts a JOIN tariffs t ON t.code = a.tariff"                              \
	" JOIN services s ON s.code = t.service JOIN enterprises e ON e.code = a.enterprise"

enum bl_stmt {
	ST_RESIDENT, ST_HOUSEHOLD, ST_ACCOUNTS, ST_ACCOUNT, ST_DEBT, ST_META,
	ST_BEFORE, ST_ACCRUALS, ST_PAYMENTS, ST_COUNT
};

static const char *const bl_sql[ST_COUNT] = {
	[ST_RESIDENT] = "SELECT household_id FROM residents WHERE pin = ?1 ORDER BY rowid LIMIT 2",
	[ST_HOUSEHOLD] = "SELECT id, village, street, house FROM households WHERE id = ?1",
	/* water, waste, irrigation (the order of services), then by number */
	[ST_ACCOUNTS] = BL_ACCOUNT_COLS " WHERE a.household_id = ?1 ORDER BY s.rowid, a.account_number",
	[ST_ACCOUNT] = BL_ACCOUNT_COLS " WHERE a.account_number = ?1",
	[ST_DEBT] =
		"SELECT a.account_number, t.service, e.name, a.closed_on,"
		" (SELECT coalesce(sum(amount_tyiyn), 0) FROM accruals c"
		"   WHERE c.account_number = a.account_number AND c.accrued_on <= ?2)"
		" - (SELECT coalesce(sum(amount_tyiyn), 0) FROM payments p"
		"   WHERE p.account_number = a.account_number AND p.paid_on <= ?2),"
		" (SELECT max(paid_on) FROM payments p"
		"   WHERE p.account_number = a.account_number AND p.paid_on <= ?2),"
		" (SELECT max(period) FROM accruals c"
		"   WHERE c.account_number = a.account_number AND c.accrued_on <= ?2)"
		" FROM accounts a JOIN tariffs t ON t.code = a.tariff"
		" JOIN services s ON s.code = t.service JOIN enterprises e ON e.code = a.enterprise"
		" WHERE a.household_id = ?1 AND a.opened_on <= ?2 ORDER BY s.rowid, a.account_number",
	[ST_META] = "SELECT value FROM meta WHERE key = 'accruals_through'",
	/* balance before ?2: what the account owed (or had in hand) at the start of that day */
	[ST_BEFORE] =
		"SELECT (SELECT coalesce(sum(amount_tyiyn), 0) FROM accruals"
		"   WHERE account_number = ?1 AND accrued_on < ?2)"
		" - (SELECT coalesce(sum(amount_tyiyn), 0) FROM payments"
		"   WHERE account_number = ?1 AND paid_on < ?2)",
	[ST_ACCRUALS] = "SELECT period, accrued_on, quantity, amount_tyiyn, note FROM accruals"
			" WHERE account_number = ?1 AND accrued_on BETWEEN ?2 AND ?3"
			" ORDER BY accrued_on, id",
	[ST_PAYMENTS] = "SELECT paid_on, amount_tyiyn, channel, receipt FROM payments"
			" WHERE account_number = ?1 AND paid_on BETWEEN ?2 AND ?3"
			" ORDER BY paid_on, id",
};

/* Requests only read: the connection is query_only after setup. WAL:
 * readers (every worker) never wait for the enterprises' loader. */
static const struct sqlreg_desc bl_db = {
	.name = "billing",
	.db_file = "billing.db",
	.label = "utility billing",
	.kind = "a utility billing database",
	.ours = "accruals",
	.sql = bl_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA foreign_keys=ON",
	.query_only = 1,
	.unavailable = "the utility billing database is unavailable; try again later",
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- small helpers: answers, parameters, dates, money ---------------- */

static int bl_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* A date parameter into out[11]: required, or today when absent; never
 * after today (nothing is known about tomorrow). 0, or -1 with res. */
static int bl_date_param(const struct adapter_call *call, const char *name, int required,
			 const struct params_day *today, char *out, long *days,
			 struct adapter_result *res)
{
	int flags = PARAMS_DATE_NOT_FUTURE | (required ? PARAMS_DATE_REQUIRED : 0);
	struct params_day d;
	char why[128];

	if (params_date_arg(call->params, name, flags, today, &d, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	memcpy(out, d.iso, sizeof(d.iso));
	*days = d.days;
	return 0;
}

/* Tyiyn as a decimal som string: 22500 -> "225.00", -5 -> "-0.05". */
static json_t *bl_som(long long tyiyn)
{
	unsigned long long a = tyiyn < 0 ? 0ULL - (unsigned long long)tyiyn : (unsigned long long)tyiyn;
	char buf[32];

	snprintf(buf, sizeof(buf), "%s%llu.%02llu", tyiyn < 0 ? "-" : "", a / 100, a % 100);
	return json_string(buf);
}

/* Adds "<prefix>_tyiyn" and "<prefix>_som" to o. */
static int bl_money(json_t *o, const char *prefix, long long tyiyn)
{
	char key[48];

	snprintf(key, sizeof(key), "%s_tyiyn", prefix);
	if (bl_set(o, key, json_integer((json_int_t)tyiyn)) != 0)
		return -1;
	snprintf(key, sizeof(key), "%s_som", prefix);
	return bl_set(o, key, bl_som(tyiyn));
}

/* A balance (positive: owed to the enterprise) as debt and credit. */
static int bl_balance_into(json_t *o, long long balance)
{
	return bl_money(o, "debt", balance > 0 ? balance : 0) |
	       bl_money(o, "credit", balance < 0 ? -balance : 0);
}

static json_t *bl_balance(long long balance)
{
	json_t *o = json_object();

	if (o != NULL && bl_balance_into(o, balance) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* "open", or "closed" once closed_on (column i) is on or before day. */
static const char *bl_status(sqlite3_stmt *st, int i, long day)
{
	const char *closed = (const char *)sqlite3_column_text(st, i);
	long d;

	return closed != NULL && params_date_parse(closed, &d) == 0 && d <= day ? "closed" : "open";
}

/* ---- accounts ---------------------------------------------------------- */

/* One row of BL_ACCOUNT_COLS as JSON (caller owns), or NULL. */
static json_t *bl_account_json(sqlite3_stmt *st, long today)
{
	json_t *tariff = json_pack("{s:o,s:o,s:o,s:I}", "code", sqlreg_col(st, 9),
				   "name", sqlreg_col(st, 10), "unit", sqlreg_col(st, 11),
				   "price_tyiyn", (json_int_t)sqlite3_column_int64(st, 12));

	if (tariff == NULL || bl_set(tariff, "price_som", bl_som(sqlite3_column_int64(st, 12))) != 0) {
		json_decref(tariff);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o},s:{s:o,s:o},s:o,s:s,s:o,s:o}",
			 "account_number", sqlreg_col(st, 0), "service", sqlreg_col(st, 1),
			 "service_ru", sqlreg_col(st, 2), "service_ky", sqlreg_col(st, 3),
			 "enterprise", "code", sqlreg_col(st, 4), "name", sqlreg_col(st, 5),
			 "tax_number", sqlreg_col(st, 6),
			 "holder", "pin", sqlreg_col(st, 7), "name", sqlreg_col(st, 8),
			 "tariff", tariff, "status", bl_status(st, 14, today),
			 "opened_on", sqlreg_col(st, 13), "closed_on", sqlreg_col(st, 14));
}

/* The household row: {"household_id", "address"} (caller owns). 0, or -1
 * with res set (not found: "no household"). */
static int bl_household(struct sqlreg_ctx *c, const char *id, json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_HOUSEHOLD, 1, (const char *const[]){ id });
	int rc = sqlreg_step(c->reg, st, res);

	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no household %s among the utility "
					     "subscribers' addresses", id);
		}
		return -1;
	}
	*out = json_pack("{s:o,s:{s:o,s:o,s:o}}", "household_id", sqlreg_col(st, 0), "address",
			 "village", sqlreg_col(st, 1), "street", sqlreg_col(st, 2),
			 "house", sqlreg_col(st, 3));
	sqlite3_reset(st);
	if (*out == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

/* Adds "account_count" and "accounts" of household id to o. 0, or -1 with res. */
static int bl_accounts_into(struct sqlreg_ctx *c, const char *id, json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_ACCOUNTS, 1, (const char *const[]){ id });
	json_t *arr = json_array();
	struct params_day today;
	int rc, bad;

	params_today(NULL, &today);
	if (arr == NULL)
		goto oom;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1)
		if (json_array_append_new(arr, bl_account_json(st, today.days)) != 0)
			goto oom;
	if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	sqlite3_reset(st);
	/* set_new takes arr even when it fails */
	bad = bl_set(o, "account_count", json_integer((json_int_t)json_array_size(arr)));
	bad |= bl_set(o, "accounts", arr);
	if (bad) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
oom:
	sqlite3_reset(st);
	json_decref(arr);
	adapter_result_oom(res);
	return -1;
}

/* A household id parameter, validated into id[BL_KEY_MAX + 1]. */
static int bl_household_param(const struct adapter_call *call, char *id, struct adapter_result *res)
{
	if (params_get(call->params, "household_id", id, BL_KEY_MAX + 1) != 0 ||
	    !params_key_ok(id, BL_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "household_id must be 1-%d letters, "
				     "digits or '-', e.g. LBD-0001", BL_KEY_MAX);
		return -1;
	}
	return 0;
}

static void bl_household_accounts(struct sqlreg_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	char id[BL_KEY_MAX + 1];
	json_t *o = NULL;

	if (bl_household_param(call, id, res) != 0 || bl_household(c, id, &o, res) != 0)
		return;
	if (bl_accounts_into(c, id, o, res) != 0) {
		json_decref(o);
		return;
	}
	res->data = o;
}

/* The one household of the resident with this PIN into hid[BL_KEY_MAX + 1].
 * 0, or -1 with res: not found, not in register (on the population list,
 * household not entered yet), or a duplicate PIN. */
static int bl_resident(struct sqlreg_ctx *c, const char *pin, char *hid, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_RESIDENT, 1, (const char *const[]){ pin });
	int rc = sqlreg_step(c->reg, st, res), null_household;

	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no resident with PIN %s is known "
					     "to utility billing", pin);
		}
		return -1;
	}
	null_household = sqlite3_column_type(st, 0) == SQLITE_NULL;
	snprintf(hid, BL_KEY_MAX + 1, "%s", null_household ? "" : (const char *)sqlite3_column_text(st, 0));
	rc = sqlreg_step(c->reg, st, res);
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	/* Old duplicate PINs exist; picking one household would show someone
	 * else's bills. */
	if (rc == 1)
		adapter_result_error(res, ADAPTER_FAILED, "PIN %s is recorded for more than one person "
				     "(a duplicate PIN from the 1990s); ask by household_id instead", pin);
	else if (null_household)
		adapter_result_error(res, ADAPTER_NOT_IN_REGISTER, "PIN %s is on the municipality's "
				     "population list, but the person's household is not entered in the "
				     "household register yet; utility accounts are kept per household", pin);
	return rc == 1 || null_household ? -1 : 0;
}

static void bl_accounts(struct sqlreg_ctx *c, const struct adapter_call *call,
			struct adapter_result *res)
{
	char pin[96], why[160], hid[BL_KEY_MAX + 1];
	json_t *o = NULL;

	json_t *answer;

	if (params_get(call->params, "pin", pin, sizeof(pin)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "PIN must be 14 digits");
		return;
	}
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	if (bl_resident(c, pin, hid, res) != 0 || bl_household(c, hid, &o, res) != 0)
		return;
	if (bl_accounts_into(c, hid, o, res) != 0) {
		json_decref(o);
		return;
	}
	/* The PIN asked first, then the household's answer. */
	answer = json_pack("{s:s}", "pin", pin);
	if (answer == NULL || json_object_update(answer, o) != 0) {
		json_decref(answer);
		answer = NULL;
		adapter_result_oom(res);
	}
	json_decref(o);
	res->data = answer;
}

/* ---- debt --------------------------------------------------------------- */

struct bl_totals {
	long long debt, credit;
	char last_paid[11];
};

/* One row of ST_DEBT as JSON (caller owns), adding to t; or NULL. */
static json_t *bl_debt_row(sqlite3_stmt *st, long on, struct bl_totals *t)
{
	long long balance = sqlite3_column_int64(st, 4);
	const char *paid = (const char *)sqlite3_column_text(st, 5);
	json_t *o = json_pack("{s:o,s:o,s:o,s:s}", "account_number", sqlreg_col(st, 0),
			      "service", sqlreg_col(st, 1), "enterprise", sqlreg_col(st, 2),
			      "status", bl_status(st, 3, on));

	if (o == NULL || bl_balance_into(o, balance) != 0 ||
	    bl_set(o, "last_payment_date", sqlreg_col(st, 5)) != 0 ||
	    bl_set(o, "last_accrual_period", sqlreg_col(st, 6)) != 0) {
		json_decref(o);
		return NULL;
	}
	if (balance > 0)
		t->debt += balance;
	else
		t->credit -= balance;
	if (paid != NULL && strlen(paid) == 10 && strcmp(paid, t->last_paid) > 0)
		memcpy(t->last_paid, paid, 11);
	return o;
}

/* The accounts' debts as of `on` into a new array *arr. 0, or -1 with res. */
static int bl_debt_rows(struct sqlreg_ctx *c, const char *id, const char *on, long on_d, json_t **arr,
			struct bl_totals *t, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_DEBT, 2, (const char *const[]){ id, on });
	int rc;

	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		adapter_result_oom(res);
		return -1;
	}
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		if (json_array_append_new(*arr, bl_debt_row(st, on_d, t)) != 0) {
			adapter_result_oom(res);
			rc = -1;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc < 0) {
		json_decref(*arr);
		*arr = NULL;
		return -1;
	}
	return 0;
}

/* The last period accrued in the whole database ("2026-10"), so that a
 * certificate can say how fresh the enterprises' data is. */
static json_t *bl_accruals_through(struct sqlreg_ctx *c, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_META);
	json_t *v;
	int rc;

	if ((rc = sqlreg_step(c->reg, st, res)) < 0)
		return NULL;
	v = rc == 1 ? sqlreg_col(st, 0) : json_null();
	sqlite3_reset(st);
	if (v == NULL)
		adapter_result_oom(res);
	return v;
}

static void bl_debt(struct sqlreg_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char id[BL_KEY_MAX + 1], on[11];
	struct bl_totals t = { 0, 0, "" };
	struct params_day today;
	json_t *o = NULL, *arr = NULL, *through = NULL;
	long on_d;


	params_today(NULL, &today);
	if (bl_household_param(call, id, res) != 0 ||
	    bl_date_param(call, "on", 0, &today, on, &on_d, res) != 0 ||
	    bl_household(c, id, &o, res) != 0)
		return;
	int bad;

	if ((through = bl_accruals_through(c, res)) == NULL ||
	    bl_debt_rows(c, id, on, on_d, &arr, &t, res) != 0) {
		json_decref(through);
		json_decref(o);
		return;
	}
	/* set_new takes the value even when it fails: through and arr are o's now */
	bad = bl_set(o, "on", json_string(on));
	bad |= bl_set(o, "accruals_through", through);
	bad |= bl_set(o, "has_debt", json_boolean(t.debt > 0));
	bad |= bl_money(o, "total_debt", t.debt) | bl_money(o, "total_credit", t.credit);
	bad |= bl_set(o, "last_payment_date", t.last_paid[0] ? json_string(t.last_paid) : json_null());
	bad |= bl_set(o, "account_count", json_integer((json_int_t)json_array_size(arr)));
	bad |= bl_set(o, "accounts", arr);
	if (bad) {
		json_decref(o);
		adapter_result_oom(res);
		return;
	}
	res->data = o;
}

/* ---- statement --------------------------------------------------------- */

/* The rows of ST_ACCRUALS or ST_PAYMENTS for the range into a new array,
 * summing the amounts (column amount_col) into *sum. 0, or -1 with res. */
static int bl_lines(struct sqlreg_ctx *c, enum bl_stmt which, const char *const *acct_from_to,
		    const char *unit, json_t **arr, long long *sum, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, which, 3, acct_from_to);
	int rc;

	*sum = 0;
	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		adapter_result_oom(res);
		return -1;
	}
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		long long amount = sqlite3_column_int64(st, which == ST_ACCRUALS ? 3 : 1);
		json_t *line = which == ST_ACCRUALS ?
			json_pack("{s:o,s:o,s:o,s:s,s:I,s:o,s:o}", "period", sqlreg_col(st, 0),
				  "accrued_on", sqlreg_col(st, 1), "quantity", sqlreg_col(st, 2),
				  "unit", unit,
				  "amount_tyiyn", (json_int_t)amount, "amount_som", bl_som(amount),
				  "note", sqlreg_col(st, 4)) :
			json_pack("{s:o,s:I,s:o,s:o,s:o}", "paid_on", sqlreg_col(st, 0), "amount_tyiyn",
				  (json_int_t)amount, "amount_som", bl_som(amount),
				  "channel", sqlreg_col(st, 2), "receipt", sqlreg_col(st, 3));

		*sum += amount;
		if (json_array_append_new(*arr, line) != 0) {
			adapter_result_oom(res);
			rc = -1;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc < 0) {
		json_decref(*arr);
		*arr = NULL;
		return -1;
	}
	return 0;
}

/* The balance at the start of day `from`. 0, or -1 with res. */
static int bl_opening(struct sqlreg_ctx *c, const char *acct, const char *from, long long *balance,
		      struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_BEFORE, 2, (const char *const[]){ acct, from });
	int rc = sqlreg_step(c->reg, st, res);

	if (rc < 0)
		return -1;
	*balance = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* The account row as the head of a statement: the account JSON with
 * household_id. 0, or -1 with res (not found). */
static int bl_statement_head(struct sqlreg_ctx *c, const char *acct, long today, json_t **o, char *unit,
			     size_t unit_len, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_ACCOUNT, 1, (const char *const[]){ acct });
	int rc = sqlreg_step(c->reg, st, res);

	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no utility account %s", acct);
		}
		return -1;
	}
	*o = bl_account_json(st, today);
	snprintf(unit, unit_len, "%s", sqlite3_column_text(st, 11) ? (const char *)sqlite3_column_text(st, 11) : "");
	if (*o != NULL && bl_set(*o, "household_id", sqlreg_col(st, 15)) != 0) {
		json_decref(*o);
		*o = NULL;
	}
	sqlite3_reset(st);
	if (*o == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

static int bl_statement_params(const struct adapter_call *call, const struct params_day *today,
			       char *acct, char *from, char *to, struct adapter_result *res)
{
	long from_d, to_d;

	if (params_get(call->params, "account", acct, BL_KEY_MAX + 1) != 0 ||
	    !params_key_ok(acct, BL_KEY_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "account must be 1-%d letters, "
				     "digits or '-', e.g. WTR-000001", BL_KEY_MAX);
		return -1;
	}
	if (bl_date_param(call, "from", 1, today, from, &from_d, res) != 0 ||
	    bl_date_param(call, "to", 1, today, to, &to_d, res) != 0)
		return -1;
	if (to_d < from_d || to_d - from_d + 1 > BL_RANGE_DAYS_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "from %s to %s is not a range of 1-%d "
				     "days (to must not be before from)", from, to, BL_RANGE_DAYS_MAX);
		return -1;
	}
	return 0;
}

static void bl_statement(struct sqlreg_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	char acct[BL_KEY_MAX + 1], from[11], to[11], unit[32];
	struct params_day today;
	json_t *o = NULL, *acc = NULL, *pay = NULL;
	long long opening, accrued, paid;

	params_today(NULL, &today);
	if (bl_statement_params(call, &today, acct, from, to, res) != 0 ||
	    bl_statement_head(c, acct, today.days, &o, unit, sizeof(unit), res) != 0)
		return;
	int bad;

	if (bl_opening(c, acct, from, &opening, res) != 0 ||
	    bl_lines(c, ST_ACCRUALS, (const char *const[]){ acct, from, to }, unit, &acc,
		     &accrued, res) != 0 ||
	    bl_lines(c, ST_PAYMENTS, (const char *const[]){ acct, from, to }, NULL, &pay,
		     &paid, res) != 0) {
		json_decref(acc);
		json_decref(o);
		return;
	}
	/* set_new takes the value even when it fails: acc and pay are o's now */
	bad = bl_set(o, "from", json_string(from));
	bad |= bl_set(o, "to", json_string(to));
	bad |= bl_set(o, "opening", bl_balance(opening));
	bad |= bl_set(o, "accruals", acc);
	bad |= bl_set(o, "payments", pay);
	bad |= bl_money(o, "accrued", accrued) | bl_money(o, "paid", paid);
	bad |= bl_set(o, "closing", bl_balance(opening + accrued - paid));
	if (bad) {
		json_decref(o);
		adapter_result_oom(res);
		return;
	}
	res->data = o;
}

/* ---- the ops table ---------------------------------------------------- */


static const char *const bl_pin_params[] = { "pin", NULL };
static const char *const bl_household_params[] = { "household_id", NULL };
static const char *const bl_account_params[] = { "account", NULL };

static const struct adapter_service bl_services[] = {
	{ "accounts", "GET", bl_pin_params,
	  "Utility accounts of the household a person (PIN) lives in" },
	{ "household-accounts", "GET", bl_household_params, "Utility accounts of a household" },
	{ "debt", "GET", bl_household_params,
	  "Utility debt of a household per account and in total, as of a date (default today)" },
	{ "statement", "GET", bl_account_params,
	  "Accruals and payments of one account between two dates (at most 366 days)" },
};

static const sqlreg_handler_fn bl_handlers[] = { bl_accounts, bl_household_accounts, bl_debt, bl_statement };

_Static_assert(sizeof(bl_services) / sizeof(bl_services[0]) ==
	       sizeof(bl_handlers) / sizeof(bl_handlers[0]), "one handler per service");

#define BL_N_SERVICES (sizeof(bl_services) / sizeof(bl_services[0]))

static const struct sqlreg_dispatch bl_dispatch = {
	bl_services, bl_handlers, BL_N_SERVICES, ADAPTER_INVALID_INPUT,
	"utility billing has no such service", 0,
};

static void bl_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&bl_dispatch, vctx, call, done, arg);
}

static int bl_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&bl_db, host, vctx, err);
}

const struct adapter_ops billing_adapter = {
	.name = "billing",
	.services = bl_services,
	.n_services = BL_N_SERVICES,
	.init = bl_init,
	.handle = bl_handle,
	.free = sqlreg_ctx_free,
};
