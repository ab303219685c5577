/* The veterinary registry adapter (adapters/veterinary), run against a
 * real SQLite database created from schema.sql + seed.sql in a temp dir,
 * through a fake host table like the core's. The seed's update dates are
 * relative to the day the database is created ("N days ago"), so the tests
 * name the ages N exactly and compute the dates the same way SQLite does.
 * The answers are also rendered the way the core renders SOAP and validated
 * against wsdl/vet-registry.wsdl. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "adapters/adapter.h"

extern const struct adapter_ops veterinary_adapter;

#define AT_ADAPTER veterinary_adapter
#define AT_NAME "veterinary"
#define AT_DB_FILE "veterinary.db"
#define AT_CLIENT "central-server/GOV/70000050/certificates"
#include "adapter_test.h"

/* Counts in seed.sql. */
#define SEED_HOLDINGS 24
#define SEED_RECORDS 67
#define SEED_TAGS 441

/* ---- dates -------------------------------------------------------------- */

/* The local date n days ago (n may be negative), as the seed wrote it. */
static const char *ago(int n, char *out)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char mod[32];

	snprintf(mod, sizeof(mod), "%+d days", -n);
	assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT date('now', 'localtime', ?1)", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, mod, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, 16, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return out;
}

static void assert_age(json_t *o, int days)
{
	char want[16];

	assert_string_equal(jstr(o, "last_updated"), ago(days, want));
	assert_int_equal(jint(o, "data_age_days"), days);
}

/* ---- the answers ------------------------------------------------------ */

static void test_ops_table(void **state)
{
	const struct adapter_service *s = veterinary_adapter.services;

	assert_string_equal(veterinary_adapter.name, "veterinary");
	assert_int_equal(veterinary_adapter.n_services, 2);
	assert_string_equal(s[0].code, "livestock");
	assert_string_equal(s[0].method, "GET");
	assert_string_equal(s[0].path_params[0], "household_id");
	assert_null(s[0].path_params[1]);
	assert_string_equal(s[1].code, "livestock-by-owner");
	assert_string_equal(s[1].path_params[0], "pin");
	assert_null(s[1].path_params[1]);
}

static void test_init_creates_db(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(db_count(f->db, "holdings"), SEED_HOLDINGS);
	assert_int_equal(db_count(f->db, "records"), SEED_RECORDS);
	assert_int_equal(db_count(f->db, "tags"), SEED_TAGS);
	assert_int_equal(f->fh.n_errors, 0);
}

static void check_record(json_t *r, const char *species, const char *ky, long long heads,
			 size_t tags, int age)
{
	assert_int_equal(json_object_size(r), 7);
	assert_string_equal(jstr(r, "species"), species);
	assert_string_equal(jstr(r, "species_ky"), ky);
	assert_int_equal(jint(r, "head_count"), heads);
	assert_true(json_is_array(json_object_get(r, "tag_ids")));
	assert_int_equal(json_array_size(json_object_get(r, "tag_ids")), tags);
	assert_age(r, age);
}

/* Fresh data: per species, with tags; the holding as old as its oldest record. */
static void test_fresh(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "livestock", "household_id", "lbd-0001");
	json_t *owner, *recs, *tags;
	char today[16];

	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(json_object_size(o.data), 8);
	assert_string_equal(jstr(o.data, "as_of"), ago(0, today));
	assert_string_equal(jstr(o.data, "household_id"), "LBD-0001");
	owner = json_object_get(o.data, "owner");
	assert_string_equal(jstr(owner, "pin"), "21205197500417");
	assert_string_equal(jstr(owner, "name"), "Осмонов Бакыт Жумабекович");
	assert_string_equal(jstr(owner, "citizenship"), "KGZ");
	assert_jnull(owner, "document");
	assert_string_equal(jstr(o.data, "registered_on"), "2015-04-10");
	assert_age(o.data, 40);
	assert_int_equal(jint(o.data, "total_head_count"), 31);
	recs = json_object_get(o.data, "records");
	assert_int_equal(json_array_size(recs), 4);
	check_record(json_array_get(recs, 0), "cattle", "бодо мал", 3, 3, 12);
	assert_string_equal(jstr(json_array_get(recs, 0), "species_ru"), "крупный рогатый скот");
	tags = json_object_get(json_array_get(recs, 0), "tag_ids");
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "KG7106001001");
	assert_string_equal(json_string_value(json_array_get(tags, 2)), "KG7106001003");
	check_record(json_array_get(recs, 1), "sheep", "кой", 12, 10, 12);   /* 2 lambs untagged */
	check_record(json_array_get(recs, 2), "horses", "жылкы", 1, 1, 40);
	check_record(json_array_get(recs, 3), "poultry", "үй канаттуулары", 15, 0, 40);
	json_decref(o.data);
}

static void test_foreign_owner(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "livestock", "household_id", "LBD-0002");
	json_t *owner, *doc, *recs;

	assert_int_equal(o.status, ADAPTER_OK);
	owner = json_object_get(o.data, "owner");
	assert_jnull(owner, "pin");
	assert_string_equal(jstr(owner, "name"), "Сейткалиев Ержан Болатович");
	assert_string_equal(jstr(owner, "citizenship"), "KAZ");
	doc = json_object_get(owner, "document");
	assert_string_equal(jstr(doc, "type"), "passport");
	assert_string_equal(jstr(doc, "number"), "N1234567");
	assert_age(o.data, 30);
	assert_int_equal(jint(o.data, "total_head_count"), 12);
	recs = json_object_get(o.data, "records");
	check_record(json_array_get(recs, 0), "sheep", "кой", 8, 8, 30);
	check_record(json_array_get(recs, 1), "goats", "эчки", 4, 4, 30);
	json_decref(o.data);
}

/* Stale data is a normal answer with its real, old date: the certificates
 * service refuses on it, the registry does not hide it. */
static void test_stale(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "livestock", "household_id", "LBD-0003");
	json_t *recs;

	assert_int_equal(o.status, ADAPTER_OK);
	assert_age(o.data, 500);
	assert_int_equal(jint(o.data, "total_head_count"), 7);
	recs = json_object_get(o.data, "records");
	check_record(json_array_get(recs, 0), "cattle", "бодо мал", 2, 2, 500);
	check_record(json_array_get(recs, 1), "goats", "эчки", 5, 3, 430);
	json_decref(o.data);
}

/* No data at all is not "no animals": not in the register. */
static void test_absent_vs_no_animals(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "livestock", "household_id", "LBD-0004");

	assert_int_equal(o.status, ADAPTER_NOT_IN_REGISTER);
	assert_string_equal(o.message, "household LBD-0004 is not in the veterinary registry: no "
				       "record of its livestock has been entered");
	o = CALL(f, "livestock", "household_id", "LBD-9999");
	assert_int_equal(o.status, ADAPTER_NOT_IN_REGISTER);

	o = CALL(f, "livestock", "household_id", "LBD-0005");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "total_head_count"), 0);
	assert_int_equal(json_array_size(json_object_get(o.data, "records")), 0);
	assert_age(o.data, 75);      /* the day the holding was last confirmed */
	json_decref(o.data);
}

static void test_by_owner(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "livestock-by-owner", "pin", "21205197500417");
	json_t *h;
	char today[16];

	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(json_object_size(o.data), 4);
	assert_string_equal(jstr(o.data, "pin"), "21205197500417");
	assert_string_equal(jstr(o.data, "as_of"), ago(0, today));
	assert_int_equal(jint(o.data, "holding_count"), 1);
	h = json_array_get(json_object_get(o.data, "holdings"), 0);
	assert_int_equal(json_object_size(h), 7);   /* no as_of inside */
	assert_string_equal(jstr(h, "household_id"), "LBD-0001");
	assert_age(h, 40);
	assert_int_equal(json_array_size(json_object_get(h, "records")), 4);
	json_decref(o.data);

	/* a member who owns no holding; a PIN nobody has */
	o = CALL(f, "livestock-by-owner", "pin", "10309197901235");
	assert_int_equal(o.status, ADAPTER_NOT_IN_REGISTER);
	assert_string_equal(o.message, "no livestock holding has been entered for PIN 10309197901235 "
				       "in the veterinary registry");
	o = CALL(f, "livestock-by-owner", "pin", "21001199000999");
	assert_int_equal(o.status, ADAPTER_NOT_IN_REGISTER);
	/* the 1990s duplicate PIN: the registry knows one of the two men, by name */
	o = CALL(f, "livestock-by-owner", "pin", " 21503199200011\n");
	assert_int_equal(o.status, ADAPTER_OK);
	h = json_array_get(json_object_get(o.data, "holdings"), 0);
	assert_string_equal(jstr(h, "household_id"), "LBD-0005");
	assert_string_equal(jstr(json_object_get(h, "owner"), "name"), "Нурматов Кубат Асылбекович");
	json_decref(o.data);
}

/* Ages counted to a configured day; a record updated after that day has an
 * unknown age (null), and so has its holding: never guessed. */
static void test_as_of(void **state)
{
	struct fixture *f = *state;
	char day[16];
	void *ctx = NULL;
	char *err = NULL;
	struct outcome o;
	json_t *recs;

	host_init(f);
	fake_set(&f->fh, "as_of", ago(10, day));
	assert_int_equal(veterinary_adapter.init(&f->host, &ctx, &err), 0);
	o = call_ctx(ctx, "livestock", "GET", "household_id", "LBD-0003", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "as_of"), day);
	assert_int_equal(jint(o.data, "data_age_days"), 490);
	json_decref(o.data);
	veterinary_adapter.free(ctx);

	host_init(f);
	fake_set(&f->fh, "as_of", ago(20, day));
	assert_int_equal(veterinary_adapter.init(&f->host, &ctx, &err), 0);
	o = call_ctx(ctx, "livestock", "GET", "household_id", "LBD-0001", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	recs = json_object_get(o.data, "records");
	assert_jnull(json_array_get(recs, 0), "last_updated");    /* 12 days ago: after as_of */
	assert_jnull(json_array_get(recs, 0), "data_age_days");
	assert_int_equal(jint(json_array_get(recs, 2), "data_age_days"), 20);
	assert_jnull(o.data, "last_updated");
	assert_jnull(o.data, "data_age_days");
	assert_int_equal(jint(o.data, "total_head_count"), 31);
	json_decref(o.data);
	veterinary_adapter.free(ctx);
}

/* A stored date that is not a date: null, not a guess. */
static void test_bad_stored_date(void **state)
{
	struct fixture *f = *state;
	struct outcome o;
	json_t *recs;

	db_exec(f->db, "UPDATE records SET last_updated = '2024-02-30' WHERE household_id = 'LBD-0002'"
		       " AND species = 'goats'");
	o = CALL(f, "livestock", "household_id", "LBD-0002");
	assert_int_equal(o.status, ADAPTER_OK);
	recs = json_object_get(o.data, "records");
	assert_int_equal(jint(json_array_get(recs, 0), "data_age_days"), 30);
	assert_jnull(json_array_get(recs, 1), "last_updated");
	assert_jnull(json_array_get(recs, 1), "data_age_days");
	assert_jnull(o.data, "last_updated");
	assert_jnull(o.data, "data_age_days");
	json_decref(o.data);
}

static void test_invalid_input(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *svc, *key, *val, *msg;
	} cases[] = {
		{ "livestock", "household_id", "", "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "livestock", "household_id", "LBD/0001", "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "livestock", "household_id", "LBD-000000000000000000000000000001",
		  "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "livestock", "id", "LBD-0001", "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "livestock-by-owner", "pin", "2120519750041", "PIN must be 14 digits; got 13" },
		{ "livestock-by-owner", "pin", "23102200100562",
		  "PIN digits 2-9 must be the birth date DDMMYYYY; 31022001 is not a date" },
		{ "livestock-by-owner", "pin", "", "PIN is missing" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, cases[i].svc, cases[i].key, cases[i].val);

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		if (strcmp(o.message, cases[i].msg) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, o.message, cases[i].msg);
	}
}

static void test_sql_injection(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *svc, *key, *val;
		enum adapter_status st;
	} cases[] = {
		{ "livestock", "household_id", "LBD-0001' OR '1'='1", ADAPTER_INVALID_INPUT },
		{ "livestock", "household_id", "x; DROP TABLE records", ADAPTER_INVALID_INPUT },
		{ "livestock-by-owner", "pin", "1' OR 1=1 --", ADAPTER_INVALID_INPUT },
		/* passes the character check, so it reaches SQL: bound, not parsed */
		{ "livestock", "household_id", "LBD-0001--", ADAPTER_NOT_IN_REGISTER },
		{ "livestock", "household_id", "1-OR-1", ADAPTER_NOT_IN_REGISTER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, cases[i].svc, cases[i].key, cases[i].val);

		assert_int_equal(o.status, cases[i].st);
	}
	assert_int_equal(db_count(f->db, "holdings"), SEED_HOLDINGS);
	assert_int_equal(db_count(f->db, "records"), SEED_RECORDS);
}

static void test_bad_service_and_method(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	o = call_ctx(f->ctx, "cattle", "GET", "household_id", "LBD-0001", NULL);
	assert_int_equal(o.status, ADAPTER_FAILED);
	o = call_ctx(f->ctx, "livestock", "PUT", "household_id", "LBD-0001", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(o.message, "livestock answers GET (REST) or POST (SOAP)");
	o = call_ctx(f->ctx, "livestock", "POST", "household_id", "\n  LBD-0001\n", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
}

/* ---- SOAP rendering against the WSDL ---------------------------------- */

#define NS "http://tunduk.kg/vet"

static void test_soap_matches_wsdl(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *service, *key, *val;
	} cases[] = {
		{ "livestock", "household_id", "LBD-0001" },
		{ "livestock", "household_id", "LBD-0002" },   /* foreign owner */
		{ "livestock", "household_id", "LBD-0003" },   /* stale */
		{ "livestock", "household_id", "LBD-0004" },   /* not in register */
		{ "livestock", "household_id", "LBD-0005" },   /* no animals */
		{ "livestock", "household_id", "LBD 1" },      /* invalid */
		{ "livestock-by-owner", "pin", "21205197500417" },
		{ "livestock-by-owner", "pin", "10309197901235" },
	};
	xmlSchemaPtr schema = wsdl_schema("vet-registry.wsdl", NS);
	char wrapper[64];
	json_t *bad;

	/* every generated household too */
	for (int i = 1; i <= 30; i++) {
		char id[16];
		struct outcome o;

		snprintf(id, sizeof(id), "LBD-%04d", i);
		o = CALL(f, "livestock", "household_id", id);
		assert_true(o.status == ADAPTER_OK || o.status == ADAPTER_NOT_IN_REGISTER);
		if (soap_valid(schema, NS, "livestockResponse", o.data, &o, 1) != 0)
			fail_msg("livestock(%s) does not match the WSDL", id);
		json_decref(o.data);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, cases[i].service, cases[i].key, cases[i].val);

		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(schema, NS, wrapper, o.data, &o, 1) != 0)
			fail_msg("%s(%s) does not match the WSDL", cases[i].service, cases[i].val);
		json_decref(o.data);
	}
	/* the check can fail: a negative age */
	bad = json_pack("{s:s,s:s,s:{s:n,s:s,s:s,s:n},s:s,s:n,s:i,s:i}", "as_of", "2024-03-01",
			"household_id", "LBD-0001", "owner", "pin", "name", "X", "citizenship", "KGZ",
			"document", "registered_on", "2015-04-10", "last_updated", "data_age_days", -1,
			"total_head_count", 0);
	assert_int_not_equal(soap_valid(schema, NS, "livestockResponse", bad, NULL, 0), 0);
	json_decref(bad);
	xmlSchemaFree(schema);
}

/* ---- unavailable and configuration ------------------------------------ */

static void expect_unavailable(void *ctx)
{
	struct outcome o = call_ctx(ctx, "livestock", "GET", "household_id", "LBD-0001", NULL);

	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(o.message, "the veterinary registry database is unavailable; try again later");
	o = call_ctx(ctx, "livestock-by-owner", "GET", "pin", "21205197500417", NULL);
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
}

static void test_unavailable(void **state)
{
	struct fixture *f = *state;
	char db[160], nodir[160];
	void *ctx;
	struct outcome o;

	snprintf(db, sizeof(db), "%s/no/such/dir/veterinary.db", f->dir);
	ctx = init_with(f, db, NULL);
	assert_non_null(strstr(f->fh.last_error, "cannot open"));
	expect_unavailable(ctx);
	veterinary_adapter.free(ctx);
	/* someone else's database */
	snprintf(db, sizeof(db), "%s/other.db", f->dir);
	db_exec(db, "CREATE TABLE other (x)");
	ctx = init_with(f, db, NULL);
	assert_non_null(strstr(f->fh.last_error, "not a veterinary registry"));
	expect_unavailable(ctx);
	veterinary_adapter.free(ctx);
	assert_int_equal(db_count(db, "other"), 0);
	/* no SQL files, then found */
	snprintf(db, sizeof(db), "%s/late.db", f->dir);
	snprintf(nodir, sizeof(nodir), "%s/nosql", f->dir);
	ctx = init_with(f, db, nodir);
	assert_non_null(strstr(f->fh.last_error, "schema.sql"));
	expect_unavailable(ctx);
	veterinary_adapter.free(ctx);
	ctx = init_with(f, db, NULL);
	o = call_ctx(ctx, "livestock", "GET", "household_id", "LBD-0001", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	veterinary_adapter.free(ctx);
}

static void test_unavailable_at_runtime(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	db_exec(f->db, "ALTER TABLE tags RENAME TO tags_gone");
	o = CALL(f, "livestock", "household_id", "LBD-0001");
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_non_null(strstr(f->fh.last_error, "tags"));
	db_exec(f->db, "ALTER TABLE tags_gone RENAME TO tags");
	o = CALL(f, "livestock", "household_id", "LBD-0001");
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *key, *val, *msg;
	} bad[] = {
		{ "busy_timeout_ms", "abc", "[adapter.veterinary] busy_timeout_ms" },
		{ "busy_timeout_ms", "60001", "[adapter.veterinary] busy_timeout_ms" },
		{ "as_of", "2024-02-30", "[adapter.veterinary] as_of: '2024-02-30' is not a date" },
		{ "as_of", "01.03.2024", "[adapter.veterinary] as_of" },
		{ "as_of", "2024-3-1", "[adapter.veterinary] as_of" },
		{ "as_of", "2999-01-01", "[adapter.veterinary] as_of: '2999-01-01' is not a date YYYY-MM-DD up to today" },
	};
	void *ctx = NULL;
	char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host_init(f);
		fake_set(&f->fh, bad[i].key, bad[i].val);
		assert_int_equal(veterinary_adapter.init(&f->host, &ctx, &err), -1);
		assert_non_null(err);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
		free(err);
		err = NULL;
	}
	host_init(f);
	fake_set(&f->fh, "as_of", "2024-02-29");
	assert_int_equal(veterinary_adapter.init(&f->host, &ctx, &err), 0);
	veterinary_adapter.free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test_setup_teardown(test_init_creates_db, setup_fresh, teardown),
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_vs_no_animals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_as_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_stored_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sql_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_service_and_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soap_matches_wsdl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_at_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};

	/* The adapter's "today" and SQLite's 'localtime' agree whatever the
	 * zone; a fixed one keeps runs comparable. */
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
