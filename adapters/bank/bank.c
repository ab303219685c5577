/* The bank registry adapter (bank-registry): the account a resident's
 * social benefits are paid into, and whether an account belongs to a PIN.
 *
 * A bank answers about its own customers only, and only what a payment
 * needs: the account number is masked in every answer (BIC and the last
 * four digits), and account-check says "belongs" or not without telling
 * whose an account is or whether it exists at all.
 *
 * Backed by SQLite like the other registries (adapters/common/sqlreg): one
 * connection per worker thread, statements prepared once and reused,
 * parameters always bound; the database is created from schema.sql +
 * seed.sql when it has no tables; a database that cannot be opened makes
 * calls answer ADAPTER_UNAVAILABLE and is retried per call. Answer shapes:
 * README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANK_PARAM_MAX 64           /* longest parameter looked at (bytes) */
#define BANK_ACCOUNT_LEN 16         /* BIC (6) + 10 digits */

enum bank_stmt { ST_META, ST_BENEFIT, ST_ACCOUNT, ST_COUNT };

static const char *const bank_sql[ST_COUNT] = {
	[ST_META] =
		"SELECT (SELECT value FROM meta WHERE key = 'bank_name'),"
		" (SELECT value FROM meta WHERE key = 'bic')",
	/* The active benefit account; else the one closed last, so the caller
	 * learns the person had one and when it ended. */
	[ST_BENEFIT] =
		"SELECT number, currency, opened_on, status, closed_on FROM accounts"
		" WHERE holder_pin = ?1 AND purpose = 'benefit'"
		" ORDER BY status = 'active' DESC, closed_on DESC, opened_on DESC, number LIMIT 1",
	[ST_ACCOUNT] = "SELECT holder_pin, status FROM accounts WHERE number = ?1",
};

static const struct sqlreg_desc bank_db = {
	.name = "bank",
	.db_file = "bank.db",
	.label = "bank accounts register",
	.kind = "a bank accounts register",
	.ours = "accounts",
	.sql = bank_sql,
	.n_sql = ST_COUNT,
	.query_only = 1,                 /* the adapter only reads */
	.reopen_on_any_error = 1,
	.unavailable = "the bank's accounts register is unavailable; try again later",
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- answers ------------------------------------------------------------ */

/* number (16 digits) masked for answers into out[17]: the BIC and the last
 * four digits stay, so a clerk can tell accounts apart without the number
 * travelling through every log and certificate. */
static void bank_mask(const char *number, char *out)
{
	snprintf(out, BANK_ACCOUNT_LEN + 1, "%.6s******%.4s", number, number + 12);
}

/* An account number as typed: 16 digits, spaces and dashes between groups
 * allowed ("1290 0100 0045 1278"). Digits only into out[17]. 0, or -1 with
 * a reason for the clerk in why. */
static int bank_account_number(const char *in, char *out, char *why, size_t wlen)
{
	size_t n = 0;

	if (in[0] == '\0') {
		snprintf(why, wlen, "account number is missing");
		return -1;
	}
	for (size_t i = 0; in[i] != '\0'; i++) {
		if (in[i] == ' ' || in[i] == '-')
			continue;
		if (in[i] < '0' || in[i] > '9') {
			snprintf(why, wlen, "account number may contain only digits, spaces and '-'");
			return -1;
		}
		if (n < BANK_ACCOUNT_LEN)
			out[n] = in[i];
		n++;
	}
	if (n != BANK_ACCOUNT_LEN) {
		snprintf(why, wlen, "account number must be %d digits; got %zu", BANK_ACCOUNT_LEN, n);
		return -1;
	}
	out[n] = '\0';
	return 0;
}

/* The PIN parameter, checked, into pin[cap]. 0, or -1 with res set. */
static int bank_pin(const struct adapter_call *call, char *pin, size_t cap,
		    struct adapter_result *res)
{
	char why[160];

	params_trimmed(call->params, "pin", pin, cap);
	if (pin_check(pin, why, sizeof(why)) == 0)
		return 0;
	adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
	return -1;
}

/* Adds "bank_name" and "bic" from meta to o. 0, or -1 with res set. */
static int bank_meta(struct sqlreg_ctx *c, json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_META);
	int rc;

	rc = sqlreg_step(c->reg, st, res);
	if (rc < 0)
		return -1;
	if (rc == 0 || json_object_set_new(o, "bank_name", sqlreg_col(st, 0)) != 0 ||
	    json_object_set_new(o, "bic", sqlreg_col(st, 1)) != 0) {
		sqlite3_reset(st);
		adapter_result_oom(res);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

static void bank_benefit_account(struct sqlreg_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	static const char *const keys[] = { "currency", "opened_on", "status", "closed_on" };
	char pin[BANK_PARAM_MAX + 2], masked[BANK_ACCOUNT_LEN + 1];
	sqlite3_stmt *st;
	json_t *o = NULL;
	int rc;

	if (bank_pin(call, pin, sizeof(pin), res) != 0)
		return;
	st = SQLREG_BIND(c->reg, ST_BENEFIT, pin);
	rc = sqlreg_step(c->reg, st, res);
	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no account for benefit payments "
					     "is held by PIN %s at this bank", pin);
		}
		return;
	}
	bank_mask((const char *)sqlite3_column_text(st, 0), masked);
	o = json_pack("{s:s,s:s}", "pin", pin, "account", masked);
	if (o == NULL || sqlreg_cols(o, st, keys, 1, 4) != 0) {
		sqlite3_reset(st);
		json_decref(o);
		adapter_result_oom(res);
		return;
	}
	sqlite3_reset(st);
	/* the bank after the account: one place says who holds it */
	if (bank_meta(c, o, res) != 0) {
		json_decref(o);
		return;
	}
	res->data = o;
}

static void bank_account_check(struct sqlreg_ctx *c, const struct adapter_call *call,
			       struct adapter_result *res)
{
	char pin[BANK_PARAM_MAX + 2], in[BANK_PARAM_MAX + 2], number[BANK_ACCOUNT_LEN + 1];
	char masked[BANK_ACCOUNT_LEN + 1], why[160];
	const char *holder;
	sqlite3_stmt *st;
	int rc, belongs;
	json_t *status;

	if (bank_pin(call, pin, sizeof(pin), res) != 0)
		return;
	params_trimmed(call->params, "account", in, sizeof(in));
	if (bank_account_number(in, number, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	st = SQLREG_BIND(c->reg, ST_ACCOUNT, number);
	rc = sqlreg_step(c->reg, st, res);
	if (rc < 0)
		return;
	/* Someone else's account and no account at all answer alike. */
	holder = rc == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	belongs = holder != NULL && strcmp(holder, pin) == 0;
	status = belongs ? sqlreg_col(st, 1) : json_null();
	sqlite3_reset(st);
	bank_mask(number, masked);
	res->data = json_pack("{s:s,s:s,s:b,s:o}", "pin", pin, "account", masked,
			      "belongs", belongs, "status", status);
	if (res->data == NULL)
		adapter_result_oom(res);
}

/* ---- the ops table ------------------------------------------------------ */


static const char *const bank_pin_params[] = { "pin", NULL };
static const char *const bank_check_params[] = { "pin", "account", NULL };

static const struct adapter_service bank_services[] = {
	{ "benefit-account", "GET", bank_pin_params,
	  "The account a person's benefits are paid into (masked), by PIN" },
	{ "account-check", "GET", bank_check_params,
	  "Does this account belong to this PIN" },
};

static const sqlreg_handler_fn bank_handlers[] = { bank_benefit_account, bank_account_check };

#define BANK_N_SERVICES (sizeof(bank_services) / sizeof(bank_services[0]))
_Static_assert(BANK_N_SERVICES == sizeof(bank_handlers) / sizeof(bank_handlers[0]),
	       "one handler per service");

static const struct sqlreg_dispatch bank_dispatch = {
	bank_services, bank_handlers, BANK_N_SERVICES, ADAPTER_FAILED,
	"the bank adapter has no service", 1,
};

static void bank_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&bank_dispatch, vctx, call, done, arg);
}

static int bank_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&bank_db, host, vctx, err);
}

const struct adapter_ops bank_adapter = {
	.name = "bank",
	.services = bank_services,
	.n_services = BANK_N_SERVICES,
	.init = bank_init,
	.handle = bank_handle,
	.free = sqlreg_ctx_free,
};
