/* The cadastre adapter (adapters/cadastre), run against a real SQLite
 * database created from schema.sql + seed.sql in a temp dir, through a fake
 * host table like the core's. Values are those of seed.sql (gen_seed.py);
 * the answers are also rendered the way the core renders SOAP and validated
 * against wsdl/dkrpni-service.wsdl. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "adapters/adapter.h"

extern const struct adapter_ops cadastre_adapter;

#define AT_ADAPTER cadastre_adapter
#define AT_NAME "cadastre"
#define AT_DB_FILE "cadastre.db"
#define AT_CLIENT "central-server/GOV/70000050/certificates"
#include "adapter_test.h"

/* Counts in seed.sql. */
#define SEED_PROPERTIES 35
#define SEED_RIGHTS 49
#define SEED_ENCUMBRANCES 4

/* ---- the answers ------------------------------------------------------ */

static void test_ops_table(void **state)
{
	static const char *const codes[] = { "GetPropertyInfo", "person-properties",
					     "person-properties-by-document", "household-property" };
	static const char *const first_param[] = { "eni", "pin", "citizenship", "household_id" };

	assert_string_equal(cadastre_adapter.name, "cadastre");
	assert_int_equal(cadastre_adapter.n_services, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct adapter_service *s = &cadastre_adapter.services[i];

		assert_string_equal(s->code, codes[i]);
		assert_string_equal(s->method, "GET");
		assert_string_equal(s->path_params[0], first_param[i]);
		assert_non_null(s->summary);
	}
	assert_string_equal(cadastre_adapter.services[2].path_params[1], "document");
	assert_null(cadastre_adapter.services[2].path_params[2]);
	assert_null(cadastre_adapter.services[0].path_params[1]);
}

static void test_init_creates_db(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(db_count(f->db, "properties"), SEED_PROPERTIES);
	assert_int_equal(db_count(f->db, "rights"), SEED_RIGHTS);
	assert_int_equal(db_count(f->db, "encumbrances"), SEED_ENCUMBRANCES);
	assert_int_equal(f->fh.n_errors, 0);
}

static void check_right(json_t *r, const char *type, const char *pin, const char *name,
			const char *share, long long num, long long den, const char *reg)
{
	assert_string_equal(jstr(r, "holder_type"), type);
	if (pin)
		assert_string_equal(jstr(r, "pin"), pin);
	else
		assert_jnull(r, "pin");
	assert_string_equal(jstr(r, "name"), name);
	assert_string_equal(jstr(r, "right_type"), "ownership");
	assert_string_equal(jstr(r, "share"), share);
	assert_int_equal(jint(r, "share_numerator"), num);
	assert_int_equal(jint(r, "share_denominator"), den);
	assert_string_equal(jstr(r, "registered_on"), reg);
}

static void check_lbd1_house(json_t *d, size_t n_rights)
{
	json_t *a = json_object_get(d, "address"), *rights = json_object_get(d, "rights");

	assert_int_equal(json_object_size(d), 17);
	assert_string_equal(jstr(d, "eni"), "7100600330016");
	assert_string_equal(jstr(d, "eni_dashed"), "7-10-06-0033-0016");
	assert_string_equal(jstr(d, "eni_kind"), "parcel");
	assert_string_equal(jstr(d, "type"), "house");
	assert_string_equal(jstr(d, "type_ky"), "турак үй");
	assert_string_equal(jstr(d, "type_ru"), "жилой дом");
	assert_string_equal(jstr(d, "purpose"), "housing");
	assert_string_equal(jstr(d, "purpose_ky"), "жашоо үчүн");
	assert_string_equal(jstr(d, "purpose_ru"), "для проживания");
	assert_int_equal(json_object_size(a), 7);
	assert_string_equal(jstr(a, "region"), "Чүй облусу");
	assert_string_equal(jstr(a, "district"), "Аламүдүн району");
	assert_string_equal(jstr(a, "ayil_okmotu"), "Лебединовка айыл өкмөтү");
	assert_string_equal(jstr(a, "village"), "Лебединовка");
	assert_string_equal(jstr(a, "street"), "Ленин көчөсү");
	assert_string_equal(jstr(a, "house"), "12");
	assert_jnull(a, "flat");
	assert_string_equal(jstr(d, "land_area_m2"), "1200.00");
	assert_string_equal(jstr(d, "building_area_m2"), "96.50");
	assert_string_equal(jstr(d, "registered_on"), "2004-05-17");
	assert_string_equal(jstr(d, "household_id"), "LBD-0001");
	assert_int_equal(json_array_size(rights), n_rights);
	check_right(json_array_get(rights, 0), "person", "21205197500417", "Осмонов Бакыт Жумабекович",
		    "1/2", 1, 2, "2004-05-17");
	assert_true(json_is_false(json_object_get(d, "encumbered")));
	assert_int_equal(json_array_size(json_object_get(d, "encumbrances")), 0);
}

static void test_property_house(void **state)
{
	struct fixture *f = *state;
	static const char *const forms[] = { "7100600330016", "7-10-06-0033-0016" };
	json_t *r;

	for (size_t i = 0; i < 2; i++) {
		struct outcome o = CALL(f, "GetPropertyInfo", "eni", forms[i]);

		assert_int_equal(o.status, ADAPTER_OK);
		check_lbd1_house(o.data, 2);
		r = json_array_get(json_object_get(o.data, "rights"), 1);
		check_right(r, "person", "10309197901235", "Осмонова Айгүл Токтосуновна", "1/2", 1, 2,
			    "2004-05-17");
		assert_jnull(r, "tax_number");
		assert_string_equal(jstr(r, "citizenship"), "KGZ");
		assert_jnull(r, "document");
		assert_string_equal(jstr(r, "basis"),
				    "Үй чарба китебинен көчүрмө, Лебединовка айыл өкмөтү, 2004-05-10");
		json_decref(o.data);
	}
	/* SOAP: POST, an indented body element */
	{
		struct outcome o = call_ctx(f->ctx, "GetPropertyInfo", "POST", "eni",
					    "\n   7100600330016\n  ", NULL);

		assert_int_equal(o.status, ADAPTER_OK);
		check_lbd1_house(o.data, 2);
		json_decref(o.data);
	}
}

/* The flat of domain.md's dashed example: in Bishkek, mortgaged. */
static void test_property_flat(void **state)
{
	struct fixture *f = *state;
	static const char *const forms[] = { "1-02-02-0007-0001-01-061", "102020007000101061" };

	for (size_t i = 0; i < 2; i++) {
		struct outcome o = CALL(f, "GetPropertyInfo", "eni", forms[i]);
		json_t *a, *e;

		assert_int_equal(o.status, ADAPTER_OK);
		assert_string_equal(jstr(o.data, "eni"), "102020007000101061");
		assert_string_equal(jstr(o.data, "eni_dashed"), "1-02-02-0007-0001-01-061");
		assert_string_equal(jstr(o.data, "eni_kind"), "unit");
		assert_string_equal(jstr(o.data, "type"), "flat");
		assert_string_equal(jstr(o.data, "type_ky"), "батир");
		a = json_object_get(o.data, "address");
		assert_string_equal(jstr(a, "region"), "Бишкек шаары");
		assert_jnull(a, "ayil_okmotu");
		assert_string_equal(jstr(a, "street"), "Ахунбаев көчөсү");
		assert_string_equal(jstr(a, "flat"), "61");
		assert_jnull(o.data, "land_area_m2");
		assert_string_equal(jstr(o.data, "building_area_m2"), "48.30");
		assert_jnull(o.data, "household_id");
		check_right(json_array_get(json_object_get(o.data, "rights"), 0), "person",
			    "22211200100562", "Осмонов Нурлан Бакытович", "1/1", 1, 1, "2023-06-20");
		assert_true(json_is_true(json_object_get(o.data, "encumbered")));
		assert_int_equal(json_array_size(json_object_get(o.data, "encumbrances")), 1);
		e = json_array_get(json_object_get(o.data, "encumbrances"), 0);
		assert_int_equal(json_object_size(e), 6);
		assert_string_equal(jstr(e, "type"), "mortgage");
		assert_string_equal(jstr(e, "holder"), "Демо коммерциялык банкы ААК");
		assert_string_equal(jstr(e, "holder_tax_number"), "02504199610013");
		assert_string_equal(jstr(e, "registered_on"), "2023-06-20");
		assert_string_equal(jstr(e, "valid_until"), "2038-06-20");
		assert_string_equal(jstr(e, "basis"), "Ипотека келишими №ИП-2023/1190");
		json_decref(o.data);
	}
}

/* Land of the municipality (an organisation), leased to a company. */
static void test_organisation_and_lease(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "GetPropertyInfo", "eni", "7-10-06-0051-2001");
	json_t *r, *e;

	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "type"), "land_plot");
	assert_string_equal(jstr(o.data, "purpose"), "agricultural");
	assert_string_equal(jstr(o.data, "purpose_ky"), "агрардык");
	assert_string_equal(jstr(o.data, "land_area_m2"), "120000.00");
	assert_jnull(o.data, "building_area_m2");
	assert_jnull(json_object_get(o.data, "address"), "street");
	r = json_array_get(json_object_get(o.data, "rights"), 0);
	assert_string_equal(jstr(r, "holder_type"), "organisation");
	assert_jnull(r, "pin");
	assert_string_equal(jstr(r, "tax_number"), "01803200010105");
	assert_string_equal(jstr(r, "name"), "Лебединовка айыл өкмөтү");
	assert_jnull(r, "citizenship");
	e = json_array_get(json_object_get(o.data, "encumbrances"), 0);
	assert_string_equal(jstr(e, "type"), "lease");
	assert_string_equal(jstr(e, "holder"), "Ак-Суу Агро ЖЧК");
	assert_string_equal(jstr(e, "valid_until"), "2031-03-01");
	json_decref(o.data);
}

static void test_person_properties(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "person-properties", "pin", "21205197500417");
	json_t *ps, *plot, *e;

	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(json_object_size(o.data), 4);
	assert_string_equal(jstr(o.data, "pin"), "21205197500417");
	assert_true(json_is_true(json_object_get(o.data, "owns_property")));
	assert_int_equal(jint(o.data, "property_count"), 2);
	ps = json_object_get(o.data, "properties");
	assert_int_equal(json_array_size(ps), 2);
	/* the house, with his right only (his wife's half is hers) */
	check_lbd1_house(json_array_get(ps, 0), 1);
	plot = json_array_get(ps, 1);
	assert_string_equal(jstr(plot, "eni"), "7100600510234");
	assert_string_equal(jstr(plot, "type"), "land_plot");
	assert_string_equal(jstr(plot, "land_area_m2"), "25000.00");
	check_right(json_array_get(json_object_get(plot, "rights"), 0), "person", "21205197500417",
		    "Осмонов Бакыт Жумабекович", "1/1", 1, 1, "1999-11-02");
	e = json_array_get(json_object_get(plot, "encumbrances"), 0);
	assert_string_equal(jstr(e, "type"), "mortgage");
	assert_string_equal(jstr(e, "valid_until"), "2027-04-11");
	json_decref(o.data);
}

/* "Owns no property" is an answer, not an error: for a person with nothing,
 * and for a PIN the cadastre has never seen (it cannot tell them apart). */
static void test_owns_nothing(void **state)
{
	struct fixture *f = *state;
	static const char *const pins[] = { "10512199100267", "21001199000999" };

	for (size_t i = 0; i < 2; i++) {
		struct outcome o = CALL(f, "person-properties", "pin", pins[i]);

		assert_int_equal(o.status, ADAPTER_OK);
		assert_string_equal(jstr(o.data, "pin"), pins[i]);
		assert_true(json_is_false(json_object_get(o.data, "owns_property")));
		assert_int_equal(jint(o.data, "property_count"), 0);
		assert_true(json_is_array(json_object_get(o.data, "properties")));
		assert_int_equal(json_array_size(json_object_get(o.data, "properties")), 0);
		json_decref(o.data);
	}
}

/* LBD-0003's house has no cadastral code: it is not in the cadastre, so
 * the household has no property here and its head lists only his field. */
static void test_unregistered_house(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "household-property", "household_id", "LBD-0003");
	json_t *p;

	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "household_id"), "LBD-0003");
	assert_int_equal(jint(o.data, "property_count"), 0);
	assert_int_equal(json_array_size(json_object_get(o.data, "properties")), 0);
	json_decref(o.data);

	o = CALL(f, "person-properties", "pin", "23001198800158");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "property_count"), 1);
	p = json_array_get(json_object_get(o.data, "properties"), 0);
	assert_string_equal(jstr(p, "eni"), "7100600510871");
	assert_string_equal(jstr(p, "type"), "land_plot");
	assert_string_equal(jstr(p, "purpose_ky"), "агрардык");
	assert_jnull(p, "household_id");
	json_decref(o.data);

	/* a household whose house is registered, lower case id */
	o = CALL(f, "household-property", "household_id", "lbd-0001");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "household_id"), "LBD-0001");
	assert_int_equal(jint(o.data, "property_count"), 1);
	check_lbd1_house(json_array_get(json_object_get(o.data, "properties"), 0), 2);
	json_decref(o.data);
}

static void check_foreign_half(json_t *d, const char *who)
{
	json_t *p = json_array_get(json_object_get(d, "properties"), 0);
	json_t *rights = json_object_get(p, "rights"), *r = json_array_get(rights, 0), *doc;

	assert_true(json_is_true(json_object_get(d, "owns_property")));
	assert_int_equal(jint(d, "property_count"), 1);
	assert_string_equal(jstr(p, "eni"), "7100600330102");
	assert_string_equal(jstr(json_object_get(p, "address"), "house"), "5а");
	assert_int_equal(json_array_size(rights), 1);
	assert_string_equal(jstr(r, "name"), who);
	assert_string_equal(jstr(r, "share"), "1/2");
	doc = json_object_get(r, "document");
	if (strcmp(jstr(r, "holder_type"), "foreign_person") == 0) {
		assert_jnull(r, "pin");
		assert_string_equal(jstr(r, "citizenship"), "KAZ");
		assert_string_equal(jstr(doc, "type"), "passport");
		assert_string_equal(jstr(doc, "number"), "N1234567");
	} else {
		assert_true(json_is_null(doc));
	}
}

/* A foreign owner without a PIN holds his half by document number. */
static void test_foreign_owner(void **state)
{
	struct fixture *f = *state;
	static const char *const forms[][2] = { { "KAZ", "N1234567" }, { "kz", " n1234567 " } };
	struct outcome o;

	for (size_t i = 0; i < 2; i++) {
		o = CALL(f, "person-properties-by-document", "citizenship", forms[i][0], "document",
			 forms[i][1]);
		assert_int_equal(o.status, ADAPTER_OK);
		assert_string_equal(jstr(o.data, "citizenship"), "KAZ");
		assert_string_equal(jstr(o.data, "document"), "N1234567");
		check_foreign_half(o.data, "Сейткалиев Ержан Болатович");
		json_decref(o.data);
	}
	o = CALL(f, "person-properties", "pin", "12506198400321");
	assert_int_equal(o.status, ADAPTER_OK);
	check_foreign_half(o.data, "Сейткалиева Жылдыз Эсенкуловна");
	json_decref(o.data);
	o = CALL(f, "GetPropertyInfo", "eni", "7100600330102");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(json_array_size(json_object_get(o.data, "rights")), 2);
	json_decref(o.data);
	o = CALL(f, "person-properties-by-document", "citizenship", "UZB", "document", "N1234567");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "property_count"), 0);
	json_decref(o.data);
}

static void test_arrest(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "household-property", "household_id", "LBD-0008");
	json_t *p, *e;

	assert_int_equal(o.status, ADAPTER_OK);
	p = json_array_get(json_object_get(o.data, "properties"), 0);
	assert_string_equal(jstr(p, "eni"), "7100600316328");
	assert_true(json_is_true(json_object_get(p, "encumbered")));
	e = json_array_get(json_object_get(p, "encumbrances"), 0);
	assert_string_equal(jstr(e, "type"), "arrest");
	assert_string_equal(jstr(e, "holder"), "Аламүдүн райондук соту");
	assert_jnull(e, "holder_tax_number");
	assert_jnull(e, "valid_until");
	assert_string_equal(jstr(e, "registered_on"), "2023-09-12");
	json_decref(o.data);
}

/* One PIN, two men (the 1990s duplicates): refused, not mixed. */
static void test_duplicate_pin(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "person-properties", "pin", "21503199200011");
	static const char *const houses[][2] = { { "7100600330215", "Маматов Кубат Рысбекович" },
						 { "7100600330377", "Нурматов Кубат Асылбекович" } };

	assert_int_equal(o.status, ADAPTER_FAILED);
	assert_string_equal(o.message, "PIN 21503199200011 is recorded for 2 different right holders "
				       "in the cadastre (a duplicate PIN from the 1990s); the "
				       "cadastre office has to resolve it");
	for (size_t i = 0; i < 2; i++) {
		o = CALL(f, "GetPropertyInfo", "eni", houses[i][0]);
		assert_int_equal(o.status, ADAPTER_OK);
		assert_string_equal(jstr(json_array_get(json_object_get(o.data, "rights"), 0), "name"),
				    houses[i][1]);
		json_decref(o.data);
	}
}

static void test_not_found(void **state)
{
	struct fixture *f = *state;
	struct outcome o = CALL(f, "GetPropertyInfo", "eni", "7100600339999");

	assert_int_equal(o.status, ADAPTER_NOT_FOUND);
	assert_string_equal(o.message, "no real estate with ENI 7-10-06-0033-9999 (7100600339999) in "
				       "the cadastre");
	o = CALL(f, "GetPropertyInfo", "eni", "1-02-02-0007-0001-01-062");
	assert_int_equal(o.status, ADAPTER_NOT_FOUND);
	/* an unknown household: an empty list, like one with nothing registered */
	o = CALL(f, "household-property", "household_id", "LBD-9999");
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "property_count"), 0);
	json_decref(o.data);
}

static void test_invalid_input(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *svc, *k1, *v1, *k2, *v2;
		const char *msg;
	} cases[] = {
		{ "GetPropertyInfo", "eni", "1-2-2-7-1", NULL, NULL,
		  "ENI group 2 (district) must be 2 digits; got '2'" },
		{ "GetPropertyInfo", "eni", "710060033001", NULL, NULL,
		  "ENI must be 13, 15 or 18 digits, or dashed like 1-02-02-0007-0001-01-061; got 12 digits" },
		{ "GetPropertyInfo", "eni", "", NULL, NULL, "ENI (cadastral code) is missing" },
		{ "GetPropertyInfo", "x", "7100600330016", NULL, NULL, "ENI (cadastral code) is missing" },
		{ "person-properties", "pin", "2120519750041", NULL, NULL, "PIN must be 14 digits; got 13" },
		{ "person-properties", "pin", "31205197500417", NULL, NULL,
		  "PIN must start with 1 (female) or 2 (male); got 3" },
		{ "person-properties", "pin", "  ", NULL, NULL, "PIN is missing" },
		{ "household-property", "household_id", "LBD 0001", NULL, NULL,
		  "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "household-property", "household_id", "", NULL, NULL,
		  "household id must be 1-32 letters, digits or '-', e.g. LBD-0001" },
		{ "person-properties-by-document", "citizenship", "XX", "document", "N1234567",
		  "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ" },
		{ "person-properties-by-document", "citizenship", "KAZ", "document", "N-1/2",
		  "document number must be 1-32 letters, digits or '-', e.g. N1234567" },
		{ "person-properties-by-document", "citizenship", "KAZ", NULL, NULL,
		  "document number must be 1-32 letters, digits or '-', e.g. N1234567" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = cases[i].k2 ?
			CALL(f, cases[i].svc, cases[i].k1, cases[i].v1, cases[i].k2, cases[i].v2) :
			CALL(f, cases[i].svc, cases[i].k1, cases[i].v1);

		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		if (strcmp(o.message, cases[i].msg) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, o.message, cases[i].msg);
	}
	/* a parameter of the wrong JSON type is missing */
	{
		struct adapter_call call = { .service_code = "GetPropertyInfo", .method = "GET" };
		struct outcome r = { 0 };

		call.params = json_pack("{s:i}", "eni", 7100600);
		cadastre_adapter.handle(f->ctx, &call, on_done, &r);
		json_decref(call.params);
		assert_int_equal(r.calls, 1);
		assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	}
}

static void test_sql_injection(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *svc, *key, *val;
		enum adapter_status st;
	} cases[] = {
		{ "GetPropertyInfo", "eni", "7100600330016' OR '1'='1", ADAPTER_INVALID_INPUT },
		{ "GetPropertyInfo", "eni", "1; DROP TABLE rights", ADAPTER_INVALID_INPUT },
		{ "person-properties", "pin", "21205197500417' OR '1'='1", ADAPTER_INVALID_INPUT },
		{ "household-property", "household_id", "x'; DROP TABLE properties; --", ADAPTER_INVALID_INPUT },
		/* passes the character checks, so it reaches SQL: bound, not parsed */
		{ "household-property", "household_id", "LBD-0001--", ADAPTER_OK },
		{ "household-property", "household_id", "1-OR-1", ADAPTER_OK },
		{ "GetPropertyInfo", "eni", "1-11-11-1111-1111", ADAPTER_NOT_FOUND },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, cases[i].svc, cases[i].key, cases[i].val);

		assert_int_equal(o.status, cases[i].st);
		if (o.status == ADAPTER_OK)
			assert_int_equal(jint(o.data, "property_count"), 0);
		json_decref(o.data);
	}
	assert_int_equal(db_count(f->db, "properties"), SEED_PROPERTIES);
	assert_int_equal(db_count(f->db, "rights"), SEED_RIGHTS);
}

static void test_bad_service_and_method(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	o = call_ctx(f->ctx, "api_GetPropertyInfo", "GET", "eni", "7100600330016", NULL);
	assert_int_equal(o.status, ADAPTER_FAILED);
	assert_string_equal(o.message, "the cadastre adapter has no service 'api_GetPropertyInfo'");
	o = call_ctx(f->ctx, "GetPropertyInfo", "DELETE", "eni", "7100600330016", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(o.message, "GetPropertyInfo answers GET (REST) or POST (SOAP)");
}

/* A second worker on the same file reuses it: nothing is seeded twice. */
static void test_second_worker(void **state)
{
	struct fixture *f = *state;
	void *ctx2 = NULL;
	char *err = NULL;
	struct outcome o;

	assert_int_equal(cadastre_adapter.init(&f->host, &ctx2, &err), 0);
	assert_null(err);
	o = call_ctx(ctx2, "GetPropertyInfo", "GET", "eni", "7100600330016", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	assert_int_equal(db_count(f->db, "properties"), SEED_PROPERTIES);
	cadastre_adapter.free(ctx2);
	cadastre_adapter.free(NULL);
}

/* ---- SOAP rendering against the WSDL ---------------------------------- */

#define NS "http://tunduk.kg/dkrpni"

static void test_soap_matches_wsdl(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *service, *k1, *v1, *k2, *v2;
	} cases[] = {
		{ "GetPropertyInfo", "eni", "7100600330016", NULL, NULL },
		{ "GetPropertyInfo", "eni", "1-02-02-0007-0001-01-061", NULL, NULL },   /* flat, nulls */
		{ "GetPropertyInfo", "eni", "7100600512001", NULL, NULL },              /* organisation */
		{ "GetPropertyInfo", "eni", "7100600330102", NULL, NULL },              /* foreigner */
		{ "GetPropertyInfo", "eni", "7100600339999", NULL, NULL },              /* not found */
		{ "GetPropertyInfo", "eni", "1-2", NULL, NULL },                        /* invalid */
		{ "person-properties", "pin", "21205197500417", NULL, NULL },
		{ "person-properties", "pin", "10512199100267", NULL, NULL },           /* owns nothing */
		{ "person-properties", "pin", "123", NULL, NULL },
		{ "person-properties-by-document", "citizenship", "KAZ", "document", "N1234567" },
		{ "household-property", "household_id", "LBD-0008", NULL, NULL },       /* arrest */
		{ "household-property", "household_id", "LBD-0003", NULL, NULL },       /* none */
	};
	xmlSchemaPtr schema = wsdl_schema("dkrpni-service.wsdl", NS);
	char wrapper[64];
	json_t *bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = cases[i].k2 ?
			CALL(f, cases[i].service, cases[i].k1, cases[i].v1, cases[i].k2, cases[i].v2) :
			CALL(f, cases[i].service, cases[i].k1, cases[i].v1);

		assert_true(o.status == ADAPTER_OK || o.status == ADAPTER_NOT_FOUND ||
			    o.status == ADAPTER_INVALID_INPUT);
		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(schema, NS, wrapper, o.data, &o, 1) != 0)
			fail_msg("%s(%s) does not match the WSDL", cases[i].service, cases[i].v1);
		json_decref(o.data);
	}
	/* the check can fail: keys out of the schema's order */
	bad = json_pack("{s:b,s:s,s:i}", "owns_property", 0, "pin", "21205197500417",
			"property_count", 0);
	assert_int_not_equal(soap_valid(schema, NS, "person-propertiesResponse", bad, NULL, 0), 0);
	json_decref(bad);
	xmlSchemaFree(schema);
}

/* ---- unavailable and configuration ------------------------------------ */

static void expect_unavailable(void *ctx)
{
	struct outcome o = call_ctx(ctx, "GetPropertyInfo", "GET", "eni", "7100600330016", NULL);

	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(o.message, "the cadastre database is unavailable; try again later");
}

static void test_unavailable_no_dir(void **state)
{
	struct fixture *f = *state;
	char db[160];
	void *ctx;

	snprintf(db, sizeof(db), "%s/no/such/dir/cadastre.db", f->dir);
	ctx = init_with(f, db, NULL);
	assert_int_equal(f->fh.n_errors, 1);
	assert_non_null(strstr(f->fh.last_error, "cannot open"));
	expect_unavailable(ctx);
	expect_unavailable(ctx);
	/* logged once per outage, not per call */
	assert_int_equal(f->fh.n_errors, 1);
	cadastre_adapter.free(ctx);
}

static void test_unavailable_not_a_db(void **state)
{
	struct fixture *f = *state;
	char db[160];
	FILE *fp;
	void *ctx;

	snprintf(db, sizeof(db), "%s/garbage.db", f->dir);
	fp = fopen(db, "w");
	assert_non_null(fp);
	for (int i = 0; i < 64; i++)
		fputs("this is not an SQLite database, it is a text file.\n", fp);
	fclose(fp);
	ctx = init_with(f, db, NULL);
	expect_unavailable(ctx);
	cadastre_adapter.free(ctx);
}

/* Another application's database: not seeded over, answered unavailable. */
static void test_unavailable_foreign_db(void **state)
{
	struct fixture *f = *state;
	char db[160];
	void *ctx;

	snprintf(db, sizeof(db), "%s/other.db", f->dir);
	db_exec(db, "CREATE TABLE other (x)");
	ctx = init_with(f, db, NULL);
	assert_non_null(strstr(f->fh.last_error, "not a cadastre"));
	expect_unavailable(ctx);
	cadastre_adapter.free(ctx);
	assert_int_equal(db_count(db, "other"), 0);
}

/* A table lost under the running adapter: unavailable, and back once the
 * table is back (the connection is reopened after a failed call). */
static void test_unavailable_at_runtime(void **state)
{
	struct fixture *f = *state;
	struct outcome o;

	db_exec(f->db, "ALTER TABLE encumbrances RENAME TO encumbrances_gone");
	o = CALL(f, "GetPropertyInfo", "eni", "7100600330016");
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_non_null(strstr(f->fh.last_error, "encumbrances"));
	o = CALL(f, "person-properties", "pin", "21205197500417");
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	db_exec(f->db, "ALTER TABLE encumbrances_gone RENAME TO encumbrances");
	o = CALL(f, "GetPropertyInfo", "eni", "7100600330016");
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
}

/* No SQL files: unavailable; the empty file left is filled once found. */
static void test_missing_sql_then_recover(void **state)
{
	struct fixture *f = *state;
	char db[160], nodir[160];
	void *ctx;
	struct outcome o;

	snprintf(db, sizeof(db), "%s/late.db", f->dir);
	snprintf(nodir, sizeof(nodir), "%s/nosql", f->dir);
	ctx = init_with(f, db, nodir);
	assert_non_null(strstr(f->fh.last_error, "schema.sql"));
	expect_unavailable(ctx);
	cadastre_adapter.free(ctx);
	ctx = init_with(f, db, NULL);
	o = call_ctx(ctx, "GetPropertyInfo", "GET", "eni", "7100600330016", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	cadastre_adapter.free(ctx);
	assert_int_equal(db_count(db, "properties"), SEED_PROPERTIES);
}

static void test_config_errors(void **state)
{
	static const char *const bad[] = { "abc", "-1", "60001", "12x", "99999999999999999999" };

	check_config_errors(*state, bad, sizeof(bad) / sizeof(bad[0]),
			    "[adapter.cadastre] busy_timeout_ms", "sql_dir", "250");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test_setup_teardown(test_init_creates_db, setup_fresh, teardown),
		cmocka_unit_test_setup_teardown(test_property_house, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property_flat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_organisation_and_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_person_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owns_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregistered_house, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arrest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sql_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_service_and_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soap_matches_wsdl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_no_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_not_a_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_foreign_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_at_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_sql_then_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};

	/* pin_check compares with the local date; make "local" fixed. */
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
