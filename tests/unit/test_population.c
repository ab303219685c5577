/* Unit tests of the population registry adapter (adapters/population).
 *
 * Each test builds the demo database from schema.sql + seed.sql in its own
 * mkdtemp directory through a fake host table, calls the services the way
 * the core does (params as a JSON object of strings) and checks exact
 * values of the seed (see adapters/population/README.md). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/adapter.h"
#include "adapter_test.h"

extern const struct adapter_ops population_adapter;

/* ---- fake host ------------------------------------------------------------ */

/* The config values live in buffers a test fills before the adapter's init
 * ("" for a key not set); the shared fake host reads them from there. */
struct pop_host {
	char dir[64];             /* mkdtemp */
	char db[256];             /* config "db", "" for the default */
	char sql_dir[256];        /* config "sql_dir" */
	char busy[16];            /* config "busy_timeout_ms", "" for none */
	struct fake_host fh;      /* log sink (fh.n_errors) and config table */
	struct adapter_host host;
	void *ctx;                /* the adapter's */
};

static struct pop_host *host_new(void)
{
	struct pop_host *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(temp_dir(f->dir, sizeof(f->dir), "population"), 0);
	snprintf(f->sql_dir, sizeof(f->sql_dir), "%s/adapters/population", AILGATE_SOURCE_DIR);
	fake_set(&f->fh, "db", f->db);
	fake_set(&f->fh, "sql_dir", f->sql_dir);
	fake_set(&f->fh, "busy_timeout_ms", f->busy);
	f->host = (struct adapter_host){ .ctx = &f->fh, .log = fake_log, .config = fake_config,
					 .data_dir = f->dir };
	return f;
}

static void pop_start(struct pop_host *f)
{
	char *err = NULL;

	assert_int_equal(population_adapter.init(&f->host, &f->ctx, &err), 0);
	assert_null(err);
	assert_non_null(f->ctx);
}

static int setup(void **state)
{
	struct pop_host *f = host_new();

	pop_start(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct pop_host *f = *state;

	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- calling -------------------------------------------------------------- */

/* Calls service with params given as "name", "value" pairs, NULL-terminated.
 * Caller json_decref()s a->data. */
static struct outcome call(struct pop_host *f, const char *service, ...)
{
	struct outcome a;
	va_list ap;

	va_start(ap, service);
	a = vcall(&population_adapter, f->ctx, service, "GET", "central-server/COM/60000001/bank", "",
		  NULL, ap);
	va_end(ap);
	return a;
}

static const char *str_at(const json_t *o, const char *path)
{
	const json_t *v = json_object_get(o, path);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* The only person of a passportDataByPSN / zagsDataByPin answer. */
static json_t *only_person(struct outcome *a)
{
	json_t *list = json_object_get(a->data, "person");

	assert_int_equal(a->status, ADAPTER_OK);
	assert_true(json_is_false(json_object_get(a->data, "duplicate_pin")));
	assert_int_equal(json_array_size(list), 1);
	return json_array_get(list, 0);
}

/* ---- passportDataByPSN ------------------------------------------------------ */

static void test_passport_happy(void **state)
{
	struct outcome a = call(*state, "passportDataByPSN", "pin", "21205197500417", NULL);
	json_t *p = only_person(&a), *doc, *addr;

	assert_string_equal(str_at(a.data, "pin"), "21205197500417");
	assert_string_equal(str_at(p, "pin"), "21205197500417");
	assert_string_equal(str_at(p, "surname"), "Осмонов");
	assert_string_equal(str_at(p, "name"), "Бакыт");
	assert_string_equal(str_at(p, "patronymic"), "Жумабекович");
	assert_string_equal(str_at(p, "birth_date"), "1975-05-12");
	assert_string_equal(str_at(p, "sex"), "male");
	assert_string_equal(str_at(p, "citizenship"), "KGZ");
	assert_true(json_is_true(json_object_get(p, "alive")));
	assert_true(json_is_null(json_object_get(p, "death_date")));
	/* the ID card, not the replaced AN passport */
	doc = json_object_get(p, "passport");
	assert_string_equal(str_at(doc, "series"), "ID");
	assert_string_equal(str_at(doc, "number"), "2345671");
	assert_string_equal(str_at(doc, "issue_date"), "2018-04-16");
	assert_string_equal(str_at(doc, "valid_until"), "2028-04-16");
	assert_string_equal(str_at(doc, "authority"), "МКК 211041");
	assert_string_equal(str_at(doc, "status"), "valid");
	/* the same address as the household register's LBD-0001 */
	addr = json_object_get(p, "address");
	assert_string_equal(str_at(addr, "region"), "Чүй облусу");
	assert_string_equal(str_at(addr, "ayil_okmotu"), "Лебединовка айыл өкмөтү");
	assert_string_equal(str_at(addr, "village"), "Лебединовка");
	assert_string_equal(str_at(addr, "street"), "Ленин көчөсү");
	assert_string_equal(str_at(addr, "house"), "12");
	assert_true(json_is_null(json_object_get(addr, "flat")));
	assert_string_equal(str_at(addr, "registered_on"), "2001-06-20");
	json_decref(a.data);
}

/* Key order is the XML element order of the WSDL (the core renders in order). */
/* The adapter picks a person's document itself (no ORDER BY in SQL): for
 * every person, with extra documents that make the choice hard (two valid
 * ones, the same date twice, only replaced or lost ones), it must pick what
 * "valid first, latest issue date, latest id" gives in SQL. */
static void test_passport_choice_matches_sql(void **state)
{
	struct pop_host *f = *state;
	char path[320], pin[32];
	sqlite3 *db;
	sqlite3_stmt *st, *want;
	int people = 0;

	snprintf(path, sizeof(path), "%s/population.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO passport (person_id, series, number, issue_date, valid_until, authority, status)"
		" SELECT id, 'T1', 'n' || id, '2030-01-01', NULL, 'test', 'valid' FROM person WHERE id % 3 = 0;"
		"INSERT INTO passport (person_id, series, number, issue_date, valid_until, authority, status)"
		" SELECT id, 'T2', 'n' || id, '2030-01-01', NULL, 'test', 'valid' FROM person WHERE id % 3 = 0;"
		"INSERT INTO passport (person_id, series, number, issue_date, valid_until, authority, status)"
		" SELECT id, 'T3', 'n' || id, '2031-05-05', NULL, 'test', 'lost' FROM person WHERE id % 3 = 1;"
		"INSERT INTO passport (person_id, series, number, issue_date, valid_until, authority, status)"
		" SELECT id, 'T4', 'n' || id, '1999-01-01', NULL, 'test', 'replaced' FROM person WHERE id % 5 = 2;",
		NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT DISTINCT pin FROM person WHERE pin IN "
					    "(SELECT pin FROM person GROUP BY pin HAVING count(*) = 1)", -1, &st,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT d.series, d.number FROM passport d JOIN person p"
					    " ON p.id = d.person_id WHERE p.pin = ?1 ORDER BY d.status = 'valid'"
					    " DESC, d.issue_date DESC, d.id DESC LIMIT 1", -1, &want, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct outcome a;
		const json_t *doc;

		snprintf(pin, sizeof(pin), "%s", (const char *)sqlite3_column_text(st, 0));
		a = call(f, "passportDataByPSN", "pin", pin, NULL);
		if (a.status != ADAPTER_OK) {   /* PINs the adapter refuses (bad checksums on purpose) */
			json_decref(a.data);
			continue;
		}
		doc = json_object_get(json_array_get(json_object_get(a.data, "person"), 0), "passport");
		sqlite3_bind_text(want, 1, pin, -1, SQLITE_STATIC);
		if (sqlite3_step(want) == SQLITE_ROW) {
			assert_string_equal(str_at(doc, "series"), (const char *)sqlite3_column_text(want, 0));
			assert_string_equal(str_at(doc, "number"), (const char *)sqlite3_column_text(want, 1));
		} else {
			assert_true(json_is_null(doc));
		}
		sqlite3_reset(want);
		json_decref(a.data);
		people++;
	}
	assert_true(people > 50);
	sqlite3_finalize(st);
	sqlite3_finalize(want);
	sqlite3_close(db);
}

static void test_passport_key_order(void **state)
{
	static const char *const top[] = { "pin", "duplicate_pin", "person" };
	static const char *const person[] = { "pin", "surname", "name", "patronymic", "birth_date",
					      "birth_place", "sex", "citizenship", "alive",
					      "death_date", "passport", "address" };
	struct outcome a = call(*state, "passportDataByPSN", "pin", "21205197500417", NULL);
	const char *k;
	json_t *v;
	size_t i = 0;

	json_object_foreach(a.data, k, v)
		assert_string_equal(k, top[i++]);
	assert_int_equal(i, 3);
	i = 0;
	json_object_foreach(json_array_get(json_object_get(a.data, "person"), 0), k, v)
		assert_string_equal(k, person[i++]);
	assert_int_equal(i, 12);
	json_decref(a.data);
}

static void test_passport_cases(void **state)
{
	struct outcome a;
	json_t *p;

	/* Kyrgyz letters survive; trimmed white space around the PIN is fine */
	a = call(*state, "passportDataByPSN", "pin", "\n  10107195000110 ", NULL);
	p = only_person(&a);
	assert_string_equal(str_at(p, "name"), "Күлүйпа");
	assert_string_equal(str_at(p, "sex"), "female");
	json_decref(a.data);
	/* a child: no identity document yet */
	a = call(*state, "passportDataByPSN", "pin", "11903201500432", NULL);
	p = only_person(&a);
	assert_true(json_is_null(json_object_get(p, "passport")));
	assert_string_equal(str_at(p, "surname"), "Төрөкулова");
	json_decref(a.data);
	/* deregistered: no address */
	a = call(*state, "passportDataByPSN", "pin", "22708198600042", NULL);
	p = only_person(&a);
	assert_true(json_is_null(json_object_get(p, "address")));
	json_decref(a.data);
	/* no patronymic ("уулу" names) */
	a = call(*state, "passportDataByPSN", "pin", "20905199300077", NULL);
	p = only_person(&a);
	assert_string_equal(str_at(p, "surname"), "Асан уулу");
	assert_true(json_is_null(json_object_get(p, "patronymic")));
	json_decref(a.data);
	/* a flat in Bishkek */
	a = call(*state, "passportDataByPSN", "pin", "11704199000310", NULL);
	p = only_person(&a);
	assert_string_equal(str_at(json_object_get(p, "address"), "flat"), "42");
	json_decref(a.data);
}

static void test_deceased(void **state)
{
	struct outcome a = call(*state, "passportDataByPSN", "pin", "21003194800215", NULL);
	json_t *p = only_person(&a), *deaths;

	assert_true(json_is_false(json_object_get(p, "alive")));
	assert_string_equal(str_at(p, "death_date"), "2019-11-02");
	assert_string_equal(str_at(json_object_get(p, "passport"), "status"), "void");
	json_decref(a.data);

	a = call(*state, "zagsDataByPin", "pin", "21003194800215", NULL);
	p = only_person(&a);
	deaths = json_object_get(p, "death");
	assert_int_equal(json_array_size(deaths), 1);
	assert_string_equal(str_at(json_array_get(deaths, 0), "act_number"), "417");
	assert_string_equal(str_at(json_array_get(deaths, 0), "death_date"), "2019-11-02");
	assert_string_equal(str_at(json_array_get(deaths, 0), "registry_office"),
			    "Аламүдүн райондук ЖАК бөлүмү");
	json_decref(a.data);

	a = call(*state, "bankPinService", "pin", "21003194800215", "series", "ID", "number",
		 "2345679", NULL);
	assert_int_equal(a.status, ADAPTER_OK);
	assert_true(json_is_false(json_object_get(a.data, "match")));
	assert_string_equal(str_at(a.data, "reason"), "person_deceased");
	json_decref(a.data);
}

static void test_duplicate_pin(void **state)
{
	struct outcome a = call(*state, "passportDataByPSN", "pin", "21503199200011", NULL);
	json_t *list = json_object_get(a.data, "person");

	assert_int_equal(a.status, ADAPTER_OK);
	assert_true(json_is_true(json_object_get(a.data, "duplicate_pin")));
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(str_at(json_array_get(list, 0), "surname"), "Маматов");
	assert_string_equal(str_at(json_array_get(list, 1), "surname"), "Нурматов");
	assert_string_equal(str_at(json_object_get(json_array_get(list, 1), "passport"), "number"),
			    "3100012");
	json_decref(a.data);

	a = call(*state, "zagsDataByPin", "pin", "21503199200011", NULL);
	assert_true(json_is_true(json_object_get(a.data, "duplicate_pin")));
	assert_int_equal(json_array_size(json_object_get(a.data, "person")), 2);
	json_decref(a.data);

	/* the passport decides which of the two the bank is talking to */
	a = call(*state, "bankPinService", "pin", "21503199200011", "series", "ID", "number",
		 "3100012", NULL);
	assert_true(json_is_true(json_object_get(a.data, "match")));
	assert_true(json_is_true(json_object_get(a.data, "duplicate_pin")));
	json_decref(a.data);
}

/* ---- zagsDataByPin ---------------------------------------------------------- */

static void test_zags_happy(void **state)
{
	struct outcome a = call(*state, "zagsDataByPin", "pin", "21205197500417", NULL);
	json_t *p = only_person(&a), *birth, *mar;

	assert_string_equal(str_at(p, "surname"), "Осмонов");
	assert_int_equal(json_array_size(json_object_get(p, "birth")), 1);
	assert_int_equal(json_array_size(json_object_get(p, "marriage")), 1);
	assert_int_equal(json_array_size(json_object_get(p, "death")), 0);
	birth = json_array_get(json_object_get(p, "birth"), 0);
	assert_true(json_is_true(json_object_get(birth, "complete")));
	assert_string_equal(str_at(json_object_get(birth, "father"), "pin"), "21003194800215");
	assert_string_equal(str_at(json_object_get(birth, "father"), "full_name"),
			    "Осмонов Жумабек Асанович");
	assert_string_equal(str_at(json_object_get(birth, "mother"), "pin"), "10107195000110");
	mar = json_array_get(json_object_get(p, "marriage"), 0);
	assert_string_equal(str_at(mar, "spouse_pin"), "10309197901235");
	assert_string_equal(str_at(mar, "spouse_full_name"), "Осмонова Айгүл Токтосуновна");
	assert_string_equal(str_at(mar, "registry_office"), "Аламүдүн райондук ЖАК бөлүмү");
	assert_true(json_is_false(json_object_get(mar, "dissolved")));
	assert_true(json_is_null(json_object_get(mar, "divorce_date")));
	json_decref(a.data);
}

static void test_zags_divorce_and_incomplete(void **state)
{
	struct outcome a = call(*state, "zagsDataByPin", "pin", "20202198000123", NULL);
	json_t *p = only_person(&a), *mar = json_object_get(p, "marriage"), *birth;

	assert_int_equal(json_array_size(mar), 2);
	assert_string_equal(str_at(json_array_get(mar, 0), "act_date"), "2004-09-11");
	assert_true(json_is_true(json_object_get(json_array_get(mar, 0), "dissolved")));
	assert_string_equal(str_at(json_array_get(mar, 0), "divorce_date"), "2011-03-02");
	assert_string_equal(str_at(json_array_get(mar, 1), "spouse_pin"), "12202199500088");
	assert_true(json_is_false(json_object_get(json_array_get(mar, 1), "dissolved")));
	json_decref(a.data);

	/* a birth record entered from paper, not digitised fully */
	a = call(*state, "zagsDataByPin", "pin", "10212202300051", NULL);
	p = only_person(&a);
	birth = json_array_get(json_object_get(p, "birth"), 0);
	assert_non_null(birth);
	assert_true(json_is_false(json_object_get(birth, "complete")));
	assert_true(json_is_null(json_object_get(birth, "act_number")));
	assert_true(json_is_null(json_object_get(birth, "registry_office")));
	json_decref(a.data);
}

/* ---- bankPinService --------------------------------------------------------- */

static void test_bank(void **state)
{
	static const struct {
		const char *pin, *series, *number;
		int match;
		const char *reason;
	} cases[] = {
		{ "21205197500417", "ID", "2345671", 1, "match" },
		{ "21205197500417", " id ", "2345671", 1, "match" },        /* case, spaces */
		{ "21205197500417", "AN", "0912345", 0, "passport_replaced" },
		{ "10309197901235", "ID", "2211550", 0, "passport_lost" },
		{ "10309197901235", "ID", "2345672", 1, "match" },
		{ "21205197500417", "ID", "2345672", 0, "pin_mismatch" },   /* his wife's */
		{ "21205197500417", "ID", "9999999", 0, "passport_not_found" },
		{ "21503199200011", "ID", "3100011", 1, "match" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome a = call(*state, "bankPinService", "pin", cases[i].pin, "series",
				       cases[i].series, "number", cases[i].number, NULL);

		assert_int_equal(a.status, ADAPTER_OK);
		assert_string_equal(str_at(a.data, "pin"), cases[i].pin);
		assert_string_equal(str_at(a.data, "series"), strcmp(cases[i].series, "AN") ? "ID" : "AN");
		assert_int_equal(json_is_true(json_object_get(a.data, "match")), cases[i].match);
		assert_string_equal(str_at(a.data, "reason"), cases[i].reason);
		json_decref(a.data);
	}
}

static void test_bank_invalid(void **state)
{
	static const struct {
		const char *series, *number, *want;
	} cases[] = {
		{ "I D", "2345671", "series" },
		{ "ИД", "2345671", "series" },           /* Cyrillic look-alikes */
		{ "", "2345671", "missing" },
		{ "IDABC", "2345671", "series" },
		{ "ID", "12345", "number" },
		{ "ID", "1234567890", "number" },
		{ "ID", "23456a1", "number" },
		{ "ID", "", "missing" },
		/* over-long values: said so (was "(it is missing)") */
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  "2345671", "series must be 1-4 Latin letters, e.g. ID or AN (the value given is too long" },
		{ "ID", "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
		  "number must be 6-9 digits, e.g. 1234567 (the value given is too long" },
	};
	struct outcome a;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = call(*state, "bankPinService", "pin", "21205197500417", "series", cases[i].series,
			 "number", cases[i].number, NULL);
		assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
		assert_non_null(strstr(a.message, cases[i].want));
	}
	a = call(*state, "bankPinService", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(a.message, "series"));
	/* unknown PIN: not found, whatever the passport */
	a = call(*state, "bankPinService", "pin", "21001199000999", "series", "ID", "number",
		 "2345671", NULL);
	assert_int_equal(a.status, ADAPTER_NOT_FOUND);
}

/* ---- invalid and unknown input ---------------------------------------------- */

static void test_invalid_pins(void **state)
{
	static const struct {
		const char *pin, *want;
	} cases[] = {
		{ "", "missing" },
		{ "   ", "missing" },
		{ "2120519750041", "14 digits" },
		{ "212051975004170", "14 digits" },
		{ "2120519750041a", "digits 0-9 only" },
		{ "31205197500417", "start with 1" },
		{ "21313197500417", "not a date" },
		{ "23002199000011", "not a date" },      /* 30 February */
		{ "21205189900417", "before 1900" },
		{ "21201299900417", "future" },
		{ "ИНН21205197500", "PIN" },
	};
	static const char *const services[] = { "passportDataByPSN", "zagsDataByPin" };

	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct outcome a = call(*state, services[s], "pin", cases[i].pin, NULL);

			assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
			if (!strstr(a.message, cases[i].want))
				fail_msg("pin '%s': message '%s' lacks '%s'", cases[i].pin, a.message,
					 cases[i].want);
		}
}

static void test_missing_and_odd_params(void **state)
{
	struct pop_host *f = *state;
	struct outcome a = call(f, "passportDataByPSN", NULL);
	char longpin[300];
	json_t *params = json_pack("{s:i}", "pin", 42);
	struct adapter_call c = { .service_code = "passportDataByPSN", .method = "POST",
				  .message_id = "m", .client = "x", .user_id = "", .params = params };

	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(a.message, "PIN is missing");
	memset(longpin, '2', sizeof(longpin) - 1);
	longpin[sizeof(longpin) - 1] = '\0';
	a = call(f, "passportDataByPSN", "pin", longpin, NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	/* a non-string parameter */
	memset(&a, 0, sizeof(a));
	population_adapter.handle(f->ctx, &c, on_done, &a);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	json_decref(params);
	/* no params object at all */
	c.params = NULL;
	memset(&a, 0, sizeof(a));
	population_adapter.handle(f->ctx, &c, on_done, &a);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	/* REST methods other than GET */
	c.params = json_pack("{s:s}", "pin", "21205197500417");
	c.method = "DELETE";
	memset(&a, 0, sizeof(a));
	population_adapter.handle(f->ctx, &c, on_done, &a);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(a.message, "GET"));
	json_decref(c.params);
	/* a service this adapter does not have */
	a = call(f, "address-fact", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_FAILED);
}

static void test_unknown_pin(void **state)
{
	static const char *const services[] = { "passportDataByPSN", "zagsDataByPin" };

	for (size_t s = 0; s < 2; s++) {
		struct outcome a = call(*state, services[s], "pin", "21001199000999", NULL);

		assert_int_equal(a.status, ADAPTER_NOT_FOUND);
		assert_non_null(strstr(a.message, "21001199000999"));
	}
}

static int count_rows(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_injection(void **state)
{
	struct pop_host *f = *state;
	char path[256];
	int persons, docs;
	struct outcome a;

	snprintf(path, sizeof(path), "%s/population.db", f->dir);
	persons = count_rows(path, "SELECT count(*) FROM person");
	docs = count_rows(path, "SELECT count(*) FROM passport");
	assert_true(persons > 100);
	a = call(f, "passportDataByPSN", "pin", "1' OR '1'='1", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	a = call(f, "zagsDataByPin", "pin", "21205197500417'; DROP TABLE person;--", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	a = call(f, "bankPinService", "pin", "21205197500417", "series", "ID' OR 1=1--", "number",
		 "2345671", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	a = call(f, "bankPinService", "pin", "21205197500417", "series", "ID", "number",
		 "1;DELETE FROM passport", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);
	/* nothing changed, and the adapter still answers */
	assert_int_equal(count_rows(path, "SELECT count(*) FROM person"), persons);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM passport"), docs);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_OK);
	json_decref(a.data);
}

/* ---- SOAP rendering against the WSDL ------------------------------------------ */

static void test_soap_matches_wsdl(void **state)
{
#define PASSPORT "passport-service.wsdl", "http://tunduk.kg/passport"
#define ZAGS "zags-service.wsdl", "http://tunduk.kg/zags"
	static const struct {
		const char *wsdl, *ns, *service, *pin, *series, *number;
	} cases[] = {
		{ PASSPORT, "passportDataByPSN", "21205197500417", NULL, NULL },
		{ PASSPORT, "passportDataByPSN", "21503199200011", NULL, NULL },   /* duplicate */
		{ PASSPORT, "passportDataByPSN", "21003194800215", NULL, NULL },   /* deceased */
		{ PASSPORT, "passportDataByPSN", "11903201500432", NULL, NULL },   /* no passport */
		{ PASSPORT, "passportDataByPSN", "22708198600042", NULL, NULL },   /* no address */
		{ PASSPORT, "passportDataByPSN", "20905199300077", NULL, NULL },   /* no patronymic */
		{ PASSPORT, "passportDataByPSN", "11704199000310", NULL, NULL },   /* flat */
		{ PASSPORT, "passportDataByPSN", "21001199000999", NULL, NULL },   /* not found */
		{ PASSPORT, "passportDataByPSN", "123", NULL, NULL },              /* invalid */
		{ PASSPORT, "bankPinService", "21205197500417", "ID", "2345671" },
		{ PASSPORT, "bankPinService", "21205197500417", "AN", "0912345" },
		{ PASSPORT, "bankPinService", "21205197500417", "I-D", "1" },
		{ ZAGS, "zagsDataByPin", "21205197500417", NULL, NULL },
		{ ZAGS, "zagsDataByPin", "20202198000123", NULL, NULL },          /* divorce */
		{ ZAGS, "zagsDataByPin", "10212202300051", NULL, NULL },          /* incomplete */
		{ ZAGS, "zagsDataByPin", "21003194800215", NULL, NULL },          /* death */
		{ ZAGS, "zagsDataByPin", "21503199200011", NULL, NULL },
		{ ZAGS, "zagsDataByPin", "21001199000999", NULL, NULL },
	};
#undef PASSPORT
#undef ZAGS

	xmlSchemaPtr schema[2] = { wsdl_schema("passport-service.wsdl", "http://tunduk.kg/passport"),
				   wsdl_schema("zags-service.wsdl", "http://tunduk.kg/zags") };
	char wrapper[64];
	json_t *bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome a = cases[i].series ?
			call(*state, cases[i].service, "pin", cases[i].pin, "series", cases[i].series,
			     "number", cases[i].number, NULL) :
			call(*state, cases[i].service, "pin", cases[i].pin, NULL);
		xmlSchemaPtr sc = schema[cases[i].wsdl[0] == 'z'];

		assert_true(a.status == ADAPTER_OK || a.status == ADAPTER_NOT_FOUND ||
			    a.status == ADAPTER_INVALID_INPUT);
		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(sc, cases[i].ns, wrapper, a.data, &a, 1) != 0)
			fail_msg("%s(%s) does not match %s", cases[i].service, cases[i].pin,
				 cases[i].wsdl);
		json_decref(a.data);
	}
	/* the check can fail: keys out of the schema's order */
	bad = json_pack("{s:b,s:s}", "duplicate_pin", 0, "pin", "21205197500417");
	assert_int_not_equal(soap_valid(schema[0], "http://tunduk.kg/passport",
					"passportDataByPSNResponse", bad, NULL, 0), 0);
	json_decref(bad);
	xmlSchemaFree(schema[0]);
	xmlSchemaFree(schema[1]);
}

/* ---- life cycle and failures ------------------------------------------------ */

static void test_services_table(void **state)
{
	const struct adapter_service *s = population_adapter.services;

	assert_string_equal(population_adapter.name, "population");
	assert_int_equal(population_adapter.n_services, 3);
	assert_string_equal(s[0].code, "passportDataByPSN");
	assert_string_equal(s[1].code, "bankPinService");
	assert_string_equal(s[2].code, "zagsDataByPin");
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(s[i].method, "GET");
		assert_string_equal(s[i].path_params[0], "pin");
		assert_null(s[i].path_params[1]);
	}
}

/* A second worker on the same file neither fails nor seeds it again. */
static void test_two_workers(void **state)
{
	struct pop_host *f = *state;
	struct pop_host *g = host_new();
	char path[256];
	struct outcome a;
	int n;

	snprintf(path, sizeof(path), "%s/population.db", f->dir);
	n = count_rows(path, "SELECT count(*) FROM person");
	snprintf(g->db, sizeof(g->db), "%s", path);
	pop_start(g);
	a = call(g, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_OK);
	json_decref(a.data);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM person"), n);
	population_adapter.free(g->ctx);
	rm_rf(g->dir);
	free(g);
}

/* The database directory does not exist: init succeeds, calls answer
 * "unavailable" (input is still checked first), and once the directory
 * appears the next call opens and seeds the database. */
static void test_unavailable_then_back(void **state)
{
	struct pop_host *f = host_new();
	struct outcome a;
	char later[128];

	snprintf(later, sizeof(later), "%s/later", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/population.db", later);
	pop_start(f);
	assert_true(f->fh.n_errors >= 1);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	assert_non_null(strstr(a.message, "try again"));
	assert_null(strstr(a.message, f->dir));       /* no server paths to the caller */
	a = call(f, "zagsDataByPin", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	a = call(f, "bankPinService", "pin", "21205197500417", "series", "ID", "number", "2345671", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	a = call(f, "passportDataByPSN", "pin", "123", NULL);
	assert_int_equal(a.status, ADAPTER_INVALID_INPUT);

	assert_int_equal(f->fh.n_errors, 1);     /* one log line per outage, not per call */

	assert_int_equal(mkdir(later, 0700), 0);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_OK);
	json_decref(a.data);
	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

static void test_not_a_database(void **state)
{
	struct pop_host *f = host_new();
	struct outcome a;
	FILE *fp;

	snprintf(f->db, sizeof(f->db), "%s/junk.db", f->dir);
	fp = fopen(f->db, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database file at all. ", fp);
	fclose(fp);
	pop_start(f);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

/* db pointing at some other application's database: left alone. */
static void test_foreign_database(void **state)
{
	struct pop_host *f = host_new();
	struct outcome a;
	sqlite3 *db;

	snprintf(f->db, sizeof(f->db), "%s/other.db", f->dir);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE households (id TEXT)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	pop_start(f);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	assert_int_equal(count_rows(f->db, "SELECT count(*) FROM sqlite_master"), 1);
	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

/* A new database with no schema files to build it from. */
static void test_missing_sql_dir(void **state)
{
	struct pop_host *f = host_new();
	struct outcome a;
	char path[256];

	snprintf(f->sql_dir, sizeof(f->sql_dir), "%s/no-such-dir", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/other.db", f->dir);
	pop_start(f);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_UNAVAILABLE);
	/* nothing half-built was left behind */
	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM sqlite_master"), 0);
	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

static void test_config(void **state)
{
	struct pop_host *f = host_new();
	struct adapter_host h = f->host;
	void *ctx = NULL;
	char *err = NULL;
	struct outcome a;

	/* a bad busy_timeout_ms is a configuration error, refused at init */
	snprintf(f->busy, sizeof(f->busy), "soon");
	assert_int_equal(population_adapter.init(&f->host, &ctx, &err), -1);
	assert_null(ctx);
	assert_non_null(err);
	assert_non_null(strstr(err, "busy_timeout_ms"));
	free(err);
	err = NULL;
	/* no config at all: data_dir/population.db from the source tree's SQL */
	h.config = NULL;
	assert_int_equal(population_adapter.init(&h, &f->ctx, &err), 0);
	a = call(f, "passportDataByPSN", "pin", "21205197500417", NULL);
	assert_int_equal(a.status, ADAPTER_OK);
	json_decref(a.data);
	population_adapter.free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passport_happy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passport_key_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passport_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passport_choice_matches_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deceased, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zags_happy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zags_divorce_and_incomplete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bank, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bank_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_odd_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soap_matches_wsdl, setup, teardown),
		cmocka_unit_test(test_services_table),
		cmocka_unit_test_setup_teardown(test_two_workers, setup, teardown),
		cmocka_unit_test(test_unavailable_then_back),
		cmocka_unit_test(test_not_a_database),
		cmocka_unit_test(test_missing_sql_dir),
		cmocka_unit_test(test_foreign_database),
		cmocka_unit_test(test_config),
	};

	int rc;

	xmlInitParser();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
