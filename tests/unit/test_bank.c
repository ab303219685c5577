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

extern const struct adapter_ops bank_adapter;

/* Counts in seed.sql. */
#define SEED_ACCOUNTS 39

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_bank.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/bank.db", f->dir);
	if (copy && copy_file(template_db, f->db) != 0)
		return -1;
	host_init(f);
	if (bank_adapter.init(&f->host, &f->ctx, &err) != 0) {
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

	bank_adapter.free(f->ctx);
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
	bank_adapter.free(((struct fixture *)f)->ctx);
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
	bank_adapter.handle(ctx, &call, on_done, &o);
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

static xmlSchemaPtr wsdl_schema(void)
{
	xmlDocPtr wsdl, xsd;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema;

	wsdl = xmlReadFile(AILGATE_SOURCE_DIR "/wsdl/bank-registry.wsdl", NULL, XML_PARSE_NONET);
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
	xmlSchemaPtr schema = wsdl_schema();
	char wrapper[64];
	json_t *bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = cases[i].account ?
			CALL(f, cases[i].service, "pin", cases[i].pin, "account", cases[i].account) :
			CALL(f, cases[i].service, "pin", cases[i].pin);

		snprintf(wrapper, sizeof(wrapper), "%sResponse", cases[i].service);
		if (soap_valid(schema, wrapper, o.data, &o, 1) != 0)
			fail_msg("%s(%s) does not match the WSDL", cases[i].service, cases[i].pin);
		json_decref(o.data);
	}
	/* the check can fail: an unmasked number */
	bad = json_pack("{s:s,s:s,s:b,s:n}", "pin", "21205197500417", "account", "1290010000377401",
			"belongs", 0, "status");
	assert_int_not_equal(soap_valid(schema, "account-checkResponse", bad, NULL, 0), 0);
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
	assert_int_equal(bank_adapter.init(&f->host, &ctx, &err), 0);
	assert_null(err);
	return ctx;
}

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
	struct fixture *f = *state;
	static const char *const bad[] = { "abc", "-1", "60001", "1e3" };
	void *ctx = NULL;
	char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host_init(f);
		fake_set(&f->fh, "busy_timeout_ms", bad[i]);
		assert_int_equal(bank_adapter.init(&f->host, &ctx, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, "[adapter.bank] busy_timeout_ms"));
		free(err);
		err = NULL;
	}
	host_init(f);
	fake_set(&f->fh, "busy_timeout_ms", "0");
	assert_int_equal(bank_adapter.init(&f->host, &ctx, &err), 0);
	bank_adapter.free(ctx);
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
