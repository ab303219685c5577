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

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "adapters/adapter.h"
#include "core/exch.h"   /* render_json_to_xml: the core's SOAP rendering */

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

extern const struct adapter_ops veterinary_adapter;

/* Counts in seed.sql. */
#define SEED_HOLDINGS 24
#define SEED_RECORDS 67
#define SEED_TAGS 441

/* ---- fake host ------------------------------------------------------- */

struct fake_host {
	const char *keys[4];
	const char *vals[4];
	size_t n;
	int n_errors;
	char last_error[1024];
};

static void fake_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fake_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
{
	struct fake_host *h = ctx;
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (lvl == ADAPTER_LOG_ERROR) {
		h->n_errors++;
		memcpy(h->last_error, line, sizeof(line));
	}
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "[log %d %s] %s\n", (int)lvl, reqid ? reqid : "-", line);
}

static const char *fake_config(void *ctx, const char *key)
{
	struct fake_host *h = ctx;

	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->keys[i], key) == 0)
			return h->vals[i];
	return NULL;
}

static void fake_set(struct fake_host *h, const char *key, const char *val)
{
	assert_true(h->n < 4);
	h->keys[h->n] = key;
	h->vals[h->n] = val;
	h->n++;
}

/* ---- fixture --------------------------------------------------------- */

struct fixture {
	char dir[64];
	char db[128];
	struct fake_host fh;
	struct adapter_host host;
	void *ctx;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void host_init(struct fixture *f)
{
	memset(&f->fh, 0, sizeof(f->fh));
	f->host.ctx = &f->fh;
	f->host.log = fake_log;
	f->host.config = fake_config;
	f->host.data_dir = f->dir;
}

/* The seeded database, made once by the adapter itself (group_setup) and
 * copied for each test: creating it is most of a test's time. */
static char template_db[128];

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;
	int rc = in && out ? 0 : -1;

	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (in && ferror(in))
		rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* A fixture in a new temp dir; with the template copied in if copy. */
static int fixture_new(void **state, int copy)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_veterinary.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/veterinary.db", f->dir);
	if (copy && copy_file(template_db, f->db) != 0)
		return -1;
	host_init(f);
	if (veterinary_adapter.init(&f->host, &f->ctx, &err) != 0) {
		fprintf(stderr, "init: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return fixture_new(state, 1);
}

/* Without the template: the adapter creates the database itself. */
static int setup_fresh(void **state)
{
	return fixture_new(state, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	veterinary_adapter.free(f->ctx);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int group_setup(void **state)
{
	void *f = NULL;

	if (fixture_new(&f, 0) != 0)
		return -1;
	snprintf(template_db, sizeof(template_db), "%s", ((struct fixture *)f)->db);
	/* closing the only connection checkpoints the WAL into the file */
	veterinary_adapter.free(((struct fixture *)f)->ctx);
	((struct fixture *)f)->ctx = NULL;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	return teardown(state);
}

/* ---- calling the adapter -------------------------------------------- */

struct outcome {
	int calls;
	enum adapter_status status;
	json_t *data;
	char message[512];
};

static void on_done(struct adapter_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = res->status;
	o->data = res->data;
	snprintf(o->message, sizeof(o->message), "%s", res->message);
}

/* Calls service with params given as name, value pairs (NULL-terminated).
 * The caller json_decref()s o.data. */
static struct outcome call_ctx(void *ctx, const char *service, const char *method, ...)
{
	struct outcome o = { 0 };
	struct adapter_call call = { 0 };
	json_t *params = json_object();
	const char *k, *v;
	va_list ap;

	va_start(ap, method);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		json_object_set_new(params, k, json_string(v));
	}
	va_end(ap);
	call.service_code = service;
	call.method = method;
	call.message_id = "test-msg";
	call.client = "central-server/GOV/70000050/certificates";
	call.user_id = "";
	call.params = params;
	veterinary_adapter.handle(ctx, &call, on_done, &o);
	json_decref(params);
	assert_int_equal(o.calls, 1);
	if (o.status == ADAPTER_OK)
		assert_non_null(o.data);
	else
		assert_null(o.data);
	return o;
}

#define CALL(f, svc, ...) call_ctx((f)->ctx, svc, "GET", __VA_ARGS__, NULL)

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void assert_jnull(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);   /* present, and null */
	assert_true(json_is_null(v));
}

static long long db_count(const char *db, const char *table)
{
	char sql[128];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void db_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

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

static xmlSchemaPtr wsdl_schema(void)
{
	xmlDocPtr wsdl, xsd;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema;

	wsdl = xmlReadFile(AILGATE_SOURCE_DIR "/wsdl/vet-registry.wsdl", NULL, XML_PARSE_NONET);
	assert_non_null(wsdl);
	xc = xmlXPathNewContext(wsdl);
	xmlXPathRegisterNs(xc, BAD_CAST "xsd", BAD_CAST "http://www.w3.org/2001/XMLSchema");
	r = xmlXPathEvalExpression(BAD_CAST "//xsd:schema[@targetNamespace='" NS "']", xc);
	assert_true(r && r->nodesetval && r->nodesetval->nodeNr == 1);
	xsd = xmlNewDoc(BAD_CAST "1.0");
	xmlDocSetRootElement(xsd, xmlDocCopyNode(r->nodesetval->nodeTab[0], xsd, 1));
	pc = xmlSchemaNewDocParserCtxt(xsd);
	schema = xmlSchemaParse(pc);
	assert_non_null(schema);
	xmlSchemaFreeParserCtxt(pc);
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(xsd);
	xmlFreeDoc(wsdl);
	return schema;
}

#if LIBXML_VERSION >= 21200
static void schema_error(void *arg, const xmlError *e)
#else
static void schema_error(void *arg, xmlErrorPtr e)
#endif
{
	if (arg)
		fprintf(stderr, "schema: line %d: %s", e->line, e->message);
}

/* Renders data (or the error body the core writes) inside <p:WRAPPER> the
 * way the core does and validates it. 0 if valid. */
static int soap_valid(xmlSchemaPtr schema, const char *wrapper, const json_t *data,
		      const struct outcome *err, int expect_valid)
{
	struct buf b = BUF_INIT;
	xmlSchemaValidCtxtPtr vc;
	xmlDocPtr doc;
	int rc;

	assert_int_equal(buf_printf(&b, "<p:%s xmlns:p=\"" NS "\">", wrapper), 0);
	if (data) {
		assert_int_equal(render_json_to_xml(data, NULL, &b), 0);
	} else {
		assert_int_equal(buf_printf(&b, "<error><code>%s</code><message>",
					    adapter_status_name(err->status)), 0);
		assert_int_equal(buf_xml_escape(&b, err->message), 0);
		assert_int_equal(buf_puts(&b, "</message></error>"), 0);
	}
	assert_int_equal(buf_printf(&b, "</p:%s>", wrapper), 0);
	doc = xmlReadMemory(b.data, (int)b.len, "answer.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	vc = xmlSchemaNewValidCtxt(schema);
	xmlSchemaSetValidStructuredErrors(vc, schema_error, expect_valid ? (void *)1 : NULL);
	rc = xmlSchemaValidateDoc(vc, doc);
	if ((rc != 0 && expect_valid) || getenv("TEST_VERBOSE"))
		fprintf(stderr, "%s: %.*s\n", rc ? "INVALID" : "valid", (int)b.len, b.data);
	xmlSchemaFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	buf_free(&b);
	return rc;
}

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
	xmlSchemaPtr schema = wsdl_schema();
	char wrapper[64];
	json_t *bad;

	/* every generated household too */
	for (int i = 1; i <= 30; i++) {
		char id[16];
		struct outcome o;

		snprintf(id, sizeof(id), "LBD-%04d", i);
		o = CALL(f, "livestock", "household_id", id);
		assert_true(o.status == ADAPTER_OK || o.status == ADAPTER_NOT_IN_REGISTER);
		if (soap_valid(schema, "livestockResponse", o.data, &o, 1) != 0)
			fail_msg("livestock(%s) does not match the WSDL", id);
		json_decref(o.data);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = CALL(f, cases[i].service, cases[i].key, cases[i].val);

		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(schema, wrapper, o.data, &o, 1) != 0)
			fail_msg("%s(%s) does not match the WSDL", cases[i].service, cases[i].val);
		json_decref(o.data);
	}
	/* the check can fail: a negative age */
	bad = json_pack("{s:s,s:s,s:{s:n,s:s,s:s,s:n},s:s,s:n,s:i,s:i}", "as_of", "2024-03-01",
			"household_id", "LBD-0001", "owner", "pin", "name", "X", "citizenship", "KGZ",
			"document", "registered_on", "2015-04-10", "last_updated", "data_age_days", -1,
			"total_head_count", 0);
	assert_int_not_equal(soap_valid(schema, "livestockResponse", bad, NULL, 0), 0);
	json_decref(bad);
	xmlSchemaFree(schema);
}

/* ---- unavailable and configuration ------------------------------------ */

static void *init_with(struct fixture *f, const char *db, const char *sql_dir)
{
	void *ctx = NULL;
	char *err = NULL;

	host_init(f);
	fake_set(&f->fh, "db", db);
	if (sql_dir)
		fake_set(&f->fh, "sql_dir", sql_dir);
	assert_int_equal(veterinary_adapter.init(&f->host, &ctx, &err), 0);
	assert_null(err);
	return ctx;
}

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
