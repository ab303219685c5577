/* The bank registry adapter (adapters/bank), run against a real SQLite
 * database created from schema.sql + seed.sql in a temp dir, through a fake
 * host table like the core's. Values are those of seed.sql (gen_seed.py);
 * the answers are also rendered the way the core renders SOAP and validated
 * against wsdl/bank-registry.wsdl. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "adapters/adapter.h"

extern const struct adapter_ops bank_adapter;

#define AT_ADAPTER bank_adapter
#define AT_NAME "bank"
#define AT_DB_FILE "bank.db"
#define AT_CLIENT "central-server/GOV/70000050/certificates"
#include "adapter_test.h"

/* Counts in seed.sql. */
#define SEED_ACCOUNTS 39

/* ---- the answers ------------------------------------------------------ */

static void test_ops_table(void **state)
{
	const struct adapter_service *s = bank_adapter.services;

	assert_string_equal(bank_adapter.name, "bank");
	assert_int_equal(bank_adapter.n_services, 2);
	assert_string_equal(s[0].code, "benefit-account");
	assert_string_equal(s[0].method, "GET");
	assert_string_equal(s[0].path_params[0], "pin");
	assert_null(s[0].path_params[1]);
	assert_string_equal(s[1].code, "account-check");
	assert_string_equal(s[1].path_params[0], "pin");
	assert_string_equal(s[1].path_params[1], "account");
	assert_null(s[1].path_params[2]);
}

static void test_init_creates_db(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(db_count(f->db, "accounts"), SEED_ACCOUNTS);
	assert_int_equal(f->fh.n_errors, 0);
}

static void check_benefit(json_t *d, const char *pin, const char *account, const char *opened,
			  const char *status, const char *closed)
{
	assert_int_equal(json_object_size(d), 8);
	assert_string_equal(jstr(d, "pin"), pin);
	assert_string_equal(jstr(d, "account"), account);
	assert_string_equal(jstr(d, "currency"), "KGS");
	assert_string_equal(jstr(d, "opened_on"), opened);
	assert_string_equal(jstr(d, "status"), status);
	if (closed)
		assert_string_equal(jstr(d, "closed_on"), closed);
	else
		assert_jnull(d, "closed_on");
	assert_string_equal(jstr(d, "bank_name"), "Демо коммерциялык банкы ААК");
	assert_string_equal(jstr(d, "bic"), "129001");
}

/* The number never travels whole: only the BIC and the last four digits. */
static void assert_masked(json_t *d, const char *full)
{
	char *text = json_dumps(d, 0);

	assert_non_null(text);
	assert_null(strstr(text, full));
	assert_null(strstr(text, full + 6));
	free(text);
}

static void test_benefit_account(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "benefit-account", "pin", "10107195000110");

	assert_int_equal(o.status, ADAPTER_OK);
	check_benefit(o.data, "10107195000110", "129001******1278", "2015-08-01", "active", NULL);
	assert_masked(o.data, "1290010000451278");
	json_decref(o.data);
	/* the low-income family benefit of a Kyrgyz wife in LBD-0002; SOAP form */
	o = call_ctx(f->ctx, "benefit-account", "POST", "pin", "\n 12506198400321 \n", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	check_benefit(o.data, "12506198400321", "129001******0964", "2019-02-11", "active", NULL);
	json_decref(o.data);
}

/* No active benefit account: the one closed last, so the caller sees it ended. */
static void test_benefit_account_closed(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "benefit-account", "pin", "10309197901235");

	assert_int_equal(o.status, ADAPTER_OK);
	check_benefit(o.data, "10309197901235", "129001******2045", "2017-03-01", "closed",
		      "2021-09-30");
	json_decref(o.data);
}

static void test_benefit_account_none(void **state)
{
	struct fixture *f = *state;
	static const char *const pins[] = {
		"21205197500417",   /* a customer, current account only */
		"21001199000999",   /* nobody */
		"21503199200011",   /* the 1990s duplicate PIN: no accounts here */
	};
	char want[160];

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		struct outcome o = CALL(f, "benefit-account", "pin", pins[i]);

		assert_int_equal(o.status, ADAPTER_NOT_FOUND);
		snprintf(want, sizeof(want), "no account for benefit payments is held by PIN %s at "
			 "this bank", pins[i]);
		assert_string_equal(o.message, want);
	}
}

static void test_account_check(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *pin, *account, *masked;
		int belongs;
		const char *status;
	} cases[] = {
		{ "21205197500417", "1290010000377401", "129001******7401", 1, "active" },
		{ "21205197500417", "1290 0100 0037 7401", "129001******7401", 1, "active" },
		{ "21205197500417", " 129001-0000377401 ", "129001******7401", 1, "active" },
		{ "10309197901235", "1290010000312045", "129001******2045", 1, "closed" },
		/* someone else's account, and no account at all, answer alike */
		{ "10309197901235", "1290010000377401", "129001******7401", 0, NULL },
		{ "10309197901235", "1290019999999999", "129001******9999", 0, NULL },
		{ "21001199000999", "1290010000451278", "129001******1278", 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, "account-check", "pin", cases[i].pin, "account",
					cases[i].account);

		assert_int_equal(o.status, ADAPTER_OK);
		assert_int_equal(json_object_size(o.data), 4);
		assert_string_equal(jstr(o.data, "pin"), cases[i].pin);
		assert_string_equal(jstr(o.data, "account"), cases[i].masked);
		if (json_is_true(json_object_get(o.data, "belongs")) != cases[i].belongs)
			fail_msg("case %zu: belongs is not %d", i, cases[i].belongs);
		if (cases[i].status)
			assert_string_equal(jstr(o.data, "status"), cases[i].status);
		else
			assert_jnull(o.data, "status");
		json_decref(o.data);
	}
}

static void test_invalid_input(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *svc, *pin, *account, *msg;
	} cases[] = {
		{ "benefit-account", "2120519750041", NULL, "PIN must be 14 digits; got 13" },
		{ "benefit-account", "", NULL, "PIN is missing" },
		{ "benefit-account", "10101209900001", NULL, "PIN birth date 01.01.2099 is in the future" },
		{ "account-check", "21205197500417", "129001000037740", "account number must be 16 digits; got 15" },
		{ "account-check", "21205197500417", "12900100003774011", "account number must be 16 digits; got 17" },
		{ "account-check", "21205197500417", "KG1290010000377401", "account number may contain only digits, spaces and '-'" },
		{ "account-check", "21205197500417", "", "account number is missing" },
		{ "account-check", "21205197500417", "  ", "account number is missing" },
		{ "account-check", "2120519750041", "1290010000377401", "PIN must be 14 digits; got 13" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = cases[i].account ?
			CALL(f, cases[i].svc, "pin", cases[i].pin, "account", cases[i].account) :
			CALL(f, cases[i].svc, "pin", cases[i].pin);

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		if (strcmp(o.message, cases[i].msg) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, o.message, cases[i].msg);
	}
	/* the account parameter missing altogether */
	{
		struct outcome o = CALL(f, "account-check", "pin", "21205197500417");

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		assert_string_equal(o.message, "account number is missing");
	}
}

static void test_sql_injection(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *pin, *account;
	} cases[] = {
		{ "21205197500417' OR '1'='1", "1290010000377401" },
		{ "21205197500417", "1290010000377401' OR '1'='1" },
		{ "21205197500417", "1; DROP TABLE accounts; --" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, "account-check", "pin", cases[i].pin, "account",
					cases[i].account);

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	}
	{
		struct outcome o = CALL(f, "benefit-account", "pin", "1' OR 1=1 --");

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	}
	assert_int_equal(db_count(f->db, "accounts"), SEED_ACCOUNTS);
}

static void test_bad_service_and_method(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	o = call_ctx(f->ctx, "transfer", "POST", "pin", "21205197500417", NULL);
	assert_int_equal(o.status, ADAPTER_FAILED);
	assert_string_equal(o.message, "the bank adapter has no service 'transfer'");
	o = call_ctx(f->ctx, "benefit-account", "DELETE", "pin", "10107195000110", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(o.message, "benefit-account answers GET (REST) or POST (SOAP)");
}

/* ---- SOAP rendering against the WSDL ---------------------------------- */

#define NS "http://tunduk.kg/bank"

static void test_soap_matches_wsdl(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *service, *pin, *account;
	} cases[] = {
		{ "benefit-account", "10107195000110", NULL },
		{ "benefit-account", "10309197901235", NULL },   /* closed */
		{ "benefit-account", "21205197500417", NULL },   /* not found */
		{ "benefit-account", "123", NULL },              /* invalid */
		{ "account-check", "21205197500417", "1290010000377401" },
		{ "account-check", "10309197901235", "1290010000377401" },
		{ "account-check", "10309197901235", "12" },
	};
	xmlSchemaPtr schema = wsdl_schema("bank-registry.wsdl", NS);
	char wrapper[64];
	json_t *bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = cases[i].account ?
			CALL(f, cases[i].service, "pin", cases[i].pin, "account", cases[i].account) :
			CALL(f, cases[i].service, "pin", cases[i].pin);

		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(schema, NS, wrapper, o.data, &o, 1) != 0)
			fail_msg("%s(%s) does not match the WSDL", cases[i].service, cases[i].pin);
		json_decref(o.data);
	}
	/* the check can fail: an unmasked number */
	bad = json_pack("{s:s,s:s,s:b,s:n}", "pin", "21205197500417", "account", "1290010000377401",
			"belongs", 0, "status");
	assert_int_not_equal(soap_valid(schema, NS, "account-checkResponse", bad, NULL, 0), 0);
	json_decref(bad);
	xmlSchemaFree(schema);
}

/* ---- unavailable and configuration ------------------------------------ */

static void expect_unavailable(void *ctx)
{
	struct outcome o = call_ctx(ctx, "benefit-account", "GET", "pin", "10107195000110", NULL);

	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(o.message, "the bank's accounts register is unavailable; try again later");
	o = call_ctx(ctx, "account-check", "GET", "pin", "21205197500417", "account",
		     "1290010000377401", NULL);
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
}

static void test_unavailable(void **state)
{
	struct fixture *f = *state;
	char db[160], nodir[160];
	void *ctx;
	struct outcome o;

	snprintf(db, sizeof(db), "%s/no/such/dir/bank.db", f->dir);
	ctx = init_with(f, db, NULL);
	assert_non_null(strstr(f->fh.last_error, "cannot open"));
	expect_unavailable(ctx);
	bank_adapter.free(ctx);
	snprintf(db, sizeof(db), "%s/other.db", f->dir);
	db_exec(db, "CREATE TABLE other (x)");
	ctx = init_with(f, db, NULL);
	assert_non_null(strstr(f->fh.last_error, "not a bank accounts register"));
	expect_unavailable(ctx);
	bank_adapter.free(ctx);
	assert_int_equal(db_count(db, "other"), 0);
	snprintf(db, sizeof(db), "%s/late.db", f->dir);
	snprintf(nodir, sizeof(nodir), "%s/nosql", f->dir);
	ctx = init_with(f, db, nodir);
	assert_non_null(strstr(f->fh.last_error, "schema.sql"));
	expect_unavailable(ctx);
	bank_adapter.free(ctx);
	ctx = init_with(f, db, NULL);
	o = call_ctx(ctx, "benefit-account", "GET", "pin", "10107195000110", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	bank_adapter.free(ctx);
}

static void test_unavailable_at_runtime(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	db_exec(f->db, "ALTER TABLE meta RENAME TO meta_gone");
	o = CALL(f, "benefit-account", "pin", "10107195000110");
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_non_null(strstr(f->fh.last_error, "meta"));
	db_exec(f->db, "ALTER TABLE meta_gone RENAME TO meta");
	o = CALL(f, "benefit-account", "pin", "10107195000110");
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
}

static void test_config_errors(void **state)
{
	static const char *const bad[] = { "abc", "-1", "60001", "1e3" };

	check_config_errors(*state, bad, sizeof(bad) / sizeof(bad[0]),
			    "[adapter.bank] busy_timeout_ms", NULL, "0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test_setup_teardown(test_init_creates_db, setup_fresh, teardown),
		cmocka_unit_test_setup_teardown(test_benefit_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_benefit_account_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_benefit_account_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sql_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_service_and_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soap_matches_wsdl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_at_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};

	/* pin_check compares with the local date; make "local" fixed. */
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
