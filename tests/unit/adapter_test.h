/* Helpers for the adapter unit tests, header-only (every function static
 * inline, so a test pays only for what it uses). Include after <cmocka.h>.
 *
 *   fake host    struct fake_host: the core's host table for an adapter: a
 *                config table (fake_set) and a log sink that counts error
 *                lines and keeps the last one (TEST_VERBOSE=1 prints all)
 *   fixture      struct fixture: a temp dir under /tmp (mkdtemp), the host
 *                pointing data_dir at it, the adapter's ctx; fixture_new /
 *                fixture_free, and template_new to build a seeded database
 *                once per group and copy it into each test's dir; with
 *                AT_ADAPTER, AT_NAME and AT_DB_FILE defined before the
 *                include, the cmocka setups (setup, setup_fresh, teardown,
 *                group_setup, group_teardown), init_with (a second
 *                context with its own db / sql_dir / busy_timeout_ms) and
 *                check_config_errors (what every registry refuses at init)
 *   calling      raw_call_ops / vcall: one adapter call, synchronously, the
 *                result captured in struct outcome (data owned by the test);
 *                with AT_ADAPTER and AT_CLIENT defined before the include,
 *                also call_ctx(ctx, service, method, "k", "v", ..., NULL)
 *                and CALL(f, service, "k", "v", ...) (GET)
 *   answers      jstr / jint / jtrue / assert_jnull; db_count / db_int /
 *                db_exec on the test's own SQLite connection
 *   SOAP         wsdl_schema + soap_valid: an answer rendered the way the
 *                core renders it (render_json_to_xml), validated against
 *                the inline schema of a WSDL under wsdl/ */
#ifndef AILGATE_TESTS_UNIT_ADAPTER_TEST_H
#define AILGATE_TESTS_UNIT_ADAPTER_TEST_H

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* ---- fake host ------------------------------------------------------------ */

#define FAKE_HOST_KEYS 6

struct fake_host {
	const char *keys[FAKE_HOST_KEYS];
	const char *vals[FAKE_HOST_KEYS];   /* borrowed: must outlive the adapter's init */
	size_t n;
	int n_errors;                       /* ADAPTER_LOG_ERROR lines seen */
	char last_log[1024];
	char last_error[1024];
};

/* Adapter contexts may log from several threads in a concurrency test. */
static pthread_mutex_t fake_log_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void fake_log(void *ctx, enum adapter_log_level lvl, const char *reqid,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static inline void fake_log(void *ctx, enum adapter_log_level lvl, const char *reqid,
			    const char *fmt, ...)
{
	struct fake_host *h = ctx;
	va_list ap;

	pthread_mutex_lock(&fake_log_lock);
	va_start(ap, fmt);
	vsnprintf(h->last_log, sizeof(h->last_log), fmt, ap);
	va_end(ap);
	if (lvl == ADAPTER_LOG_ERROR) {
		h->n_errors++;
		memcpy(h->last_error, h->last_log, sizeof(h->last_error));
	}
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "[log %d %s] %s\n", (int)lvl, reqid ? reqid : "-", h->last_log);
	pthread_mutex_unlock(&fake_log_lock);
}

static inline const char *fake_config(void *ctx, const char *key)
{
	struct fake_host *h = ctx;

	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->keys[i], key) == 0)
			return h->vals[i];
	return NULL;
}

/* Adds key = val to the adapter's config section (val is borrowed). */
static inline void fake_set(struct fake_host *h, const char *key, const char *val)
{
	assert_true(h->n < FAKE_HOST_KEYS);
	h->keys[h->n] = key;
	h->vals[h->n] = val;
	h->n++;
}

/* ---- fixture -------------------------------------------------------------- */

struct fixture {
	char dir[64];                 /* the test's temp dir, the host's data_dir */
	char db[256];                 /* dir/<the adapter's default db file> */
	struct fake_host fh;
	struct adapter_host host;
	void *ctx;                    /* the adapter's, NULL when not initialised */
};

/* Empties the fake host (no config, no log lines) and wires the host table. */
static inline void host_init(struct fixture *f)
{
	memset(&f->fh, 0, sizeof(f->fh));
	f->host.ctx = &f->fh;
	f->host.log = fake_log;
	f->host.config = fake_config;
	f->host.data_dir = f->dir;
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything under it. */
static inline void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A new directory /tmp/test_NAME.XXXXXX into dir[cap]. 0 or -1. */
static inline int temp_dir(char *dir, size_t cap, const char *name)
{
	if ((size_t)snprintf(dir, cap, "/tmp/test_%s.XXXXXX", name) >= cap)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static inline int copy_file(const char *from, const char *to)
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

/* A fixture for ops in a new temp dir (named after name); db is
 * dir/db_file, copied from template (a seeded database) first if that is
 * not NULL; then the adapter's init with an empty config. 0 with *out (free
 * with fixture_free), or -1 (a cmocka setup fails with it). */
static inline int fixture_new(const struct adapter_ops *ops, const char *name, const char *db_file,
			      const char *template, struct fixture **out)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL;

	*out = NULL;
	if (f == NULL || temp_dir(f->dir, sizeof(f->dir), name) != 0)
		goto fail;
	snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, db_file);
	if (template != NULL && copy_file(template, f->db) != 0)
		goto fail;
	host_init(f);
	if (ops->init(&f->host, &f->ctx, &err) != 0) {
		fprintf(stderr, "%s init: %s\n", ops->name, err ? err : "?");
		free(err);
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (f != NULL && f->dir[0] == '/')
		rm_rf(f->dir);
	free(f);
	return -1;
}

/* Frees the adapter's ctx (if any), removes the temp dir, frees f. */
static inline void fixture_free(const struct adapter_ops *ops, struct fixture *f)
{
	if (f == NULL)
		return;
	if (f->ctx != NULL)
		ops->free(f->ctx);
	rm_rf(f->dir);
	free(f);
}

/* The seeded database made once by the adapter itself, for a group of tests
 * to copy (creating it is most of a test's time): a fixture whose adapter
 * is freed again, which checkpoints the WAL into the file. Its db is the
 * template; fixture_free it in the group teardown. 0 or -1; an error logged
 * while creating fails it. */
static inline int template_new(const struct adapter_ops *ops, const char *name, const char *db_file,
			       struct fixture **out)
{
	char tpl[64];

	snprintf(tpl, sizeof(tpl), "%s_tpl", name);
	if (fixture_new(ops, tpl, db_file, NULL, out) != 0)
		return -1;
	ops->free((*out)->ctx);
	(*out)->ctx = NULL;
	if ((*out)->fh.n_errors != 0) {
		fprintf(stderr, "%s: %s\n", ops->name, (*out)->fh.last_error);
		fixture_free(ops, *out);
		*out = NULL;
		return -1;
	}
	return 0;
}

#if defined(AT_ADAPTER) && defined(AT_NAME) && defined(AT_DB_FILE)
/* cmocka setups for AT_ADAPTER: each test gets a fixture in its own temp
 * dir (test_AT_NAME.XXXXXX) whose database AT_DB_FILE is a copy of the
 * group's template when group_setup made one, else created by the adapter
 * (setup_fresh: always created). */
static struct fixture *at_template;

static inline int at_setup(void **state, int fresh)
{
	struct fixture *f = NULL;
	int rc = fixture_new(&AT_ADAPTER, AT_NAME, AT_DB_FILE,
			     at_template && !fresh ? at_template->db : NULL, &f);

	*state = f;
	return rc;
}

static inline int setup(void **state)
{
	return at_setup(state, 0);
}

static inline int setup_fresh(void **state)
{
	return at_setup(state, 1);
}

static inline int teardown(void **state)
{
	fixture_free(&AT_ADAPTER, *state);
	return 0;
}

static inline int group_setup(void **state)
{
	(void)state;
	return template_new(&AT_ADAPTER, AT_NAME, AT_DB_FILE, &at_template);
}

static inline int group_teardown(void **state)
{
	(void)state;
	fixture_free(&AT_ADAPTER, at_template);
	at_template = NULL;
	return 0;
}

/* A second context of AT_ADAPTER on f's fake host, emptied first, with db
 * (and sql_dir, busy_timeout_ms when not NULL) configured. init must
 * succeed; the caller frees the ctx with AT_ADAPTER.free. */
static inline void *init_with_busy(struct fixture *f, const char *db, const char *sql_dir,
				   const char *busy)
{
	void *ctx = NULL;
	char *err = NULL;

	host_init(f);
	if (db)
		fake_set(&f->fh, "db", db);
	if (sql_dir)
		fake_set(&f->fh, "sql_dir", sql_dir);
	if (busy)
		fake_set(&f->fh, "busy_timeout_ms", busy);
	assert_int_equal(AT_ADAPTER.init(&f->host, &ctx, &err), 0);
	assert_null(err);
	return ctx;
}

static inline void *init_with(struct fixture *f, const char *db, const char *sql_dir)
{
	return init_with_busy(f, db, sql_dir, NULL);
}

/* The configuration errors a registry adapter refuses at init, one by one
 * on f's emptied fake host: each busy_timeout_ms value of bad[n] (the error
 * names it with want); with path_key, a path of 1199 bytes under that key
 * ("path too long"); then, with ok_busy, that value is accepted. */
static inline void check_config_errors(struct fixture *f, const char *const *bad, size_t n,
				       const char *want, const char *path_key, const char *ok_busy)
{
	char longpath[1200];
	void *ctx = NULL;
	char *err = NULL;

	for (size_t i = 0; i < n; i++) {
		host_init(f);
		fake_set(&f->fh, "busy_timeout_ms", bad[i]);
		assert_int_equal(AT_ADAPTER.init(&f->host, &ctx, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, want));
		free(err);
		err = NULL;
	}
	if (path_key != NULL) {
		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[0] = '/';
		longpath[sizeof(longpath) - 1] = '\0';
		host_init(f);
		fake_set(&f->fh, path_key, longpath);
		assert_int_equal(AT_ADAPTER.init(&f->host, &ctx, &err), -1);
		assert_non_null(strstr(err, "path too long"));
		free(err);
		err = NULL;
	}
	if (ok_busy != NULL) {
		host_init(f);
		fake_set(&f->fh, "busy_timeout_ms", ok_busy);
		assert_int_equal(AT_ADAPTER.init(&f->host, &ctx, &err), 0);
		AT_ADAPTER.free(ctx);
	}
}
#endif

/* ---- calling an adapter ----------------------------------------------------- */

struct outcome {
	int calls;                    /* how often done was called: must be 1 */
	enum adapter_status status;
	json_t *data;                 /* the answer, owned by the test */
	char message[512];
};

static inline void on_done(struct adapter_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = res->status;
	o->data = res->data;          /* ownership passes to us, as to the core */
	res->data = NULL;
	snprintf(o->message, sizeof(o->message), "%s", res->message);
}

/* One call as the core makes it; params and body are borrowed. No cmocka
 * asserts, so threads may use it. */
static inline struct outcome raw_call_ops(const struct adapter_ops *ops, void *ctx, const char *service,
				      const char *method, const char *client, const char *user_id,
				      const char *body, json_t *params)
{
	struct outcome o = { 0 };
	struct adapter_call call = { 0 };

	call.service_code = service;
	call.method = method;
	call.message_id = "test-msg";
	call.client = client;
	call.user_id = user_id;
	call.params = params;
	call.body = body;
	call.body_len = body ? strlen(body) : 0;
	ops->handle(ctx, &call, on_done, &o);
	return o;
}

/* done was called once; data is there exactly when the status is OK. */
static inline void check_outcome(const struct outcome *o)
{
	assert_int_equal(o->calls, 1);
	if (o->status == ADAPTER_OK)
		assert_non_null(o->data);
	else
		assert_null(o->data);
}

/* A call with the params given as name, value pairs up to a NULL name; a
 * NULL value leaves that parameter out. Checked with check_outcome; the
 * caller json_decref()s o.data. */
static inline struct outcome vcall(const struct adapter_ops *ops, void *ctx, const char *service,
				   const char *method, const char *client, const char *user_id,
				   const char *body, va_list ap)
{
	json_t *params = json_object();
	const char *k, *v;
	struct outcome o;

	assert_non_null(params);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (v != NULL)
			json_object_set_new(params, k, json_string(v));
	}
	o = raw_call_ops(ops, ctx, service, method, client, user_id, body, params);
	json_decref(params);
	check_outcome(&o);
	return o;
}

#if defined(AT_ADAPTER) && defined(AT_CLIENT)
/* call_ctx(ctx, service, method, "name", "value", ..., NULL) on AT_ADAPTER
 * as client AT_CLIENT. */
static inline struct outcome call_ctx(void *ctx, const char *service, const char *method, ...)
{
	struct outcome o;
	va_list ap;

	va_start(ap, method);
	o = vcall(&AT_ADAPTER, ctx, service, method, AT_CLIENT, "", NULL, ap);
	va_end(ap);
	return o;
}

#define CALL(f, svc, ...) call_ctx((f)->ctx, svc, "GET", __VA_ARGS__, NULL)
#endif

/* ---- answers and databases ---------------------------------------------------- */

static inline const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("key '%s' is not a string", key);
	return json_string_value(v);
}

static inline long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("key '%s' is not an integer", key);
	return json_integer_value(v);
}

static inline int jtrue(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		fail_msg("key '%s' is not a boolean", key);
	return json_is_true(v);
}

/* key is present, and null */
static inline void assert_jnull(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || !json_is_null(v))
		fail_msg("key '%s' is not null", key);
}

/* key is the string want, or null when want is NULL */
static inline void assert_jstr_or_null(json_t *o, const char *key, const char *want)
{
	if (want == NULL)
		assert_jnull(o, key);
	else
		assert_string_equal(jstr(o, key), want);
}

/* The first column of the first row of sql on db (read-only), or -1. */
static inline long long db_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static inline long long db_count(const char *db, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return db_int(db, sql);
}

/* Runs sql on db through a connection of the test's own (waits up to 2 s
 * for a lock); fails the test if it fails. */
static inline void db_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 2000);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(h);
}

/* Writes text 64 times into path: a file long enough for SQLite to read a
 * header from, and not a database. */
static inline void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 64; i++)
		fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Today plus days, YYYY-MM-DD, local time. */
static inline void day_iso(int plus, char out[11])
{
	time_t now = time(NULL);
	struct tm tm;

	assert_non_null(localtime_r(&now, &tm));
	tm.tm_hour = 12;
	tm.tm_mday += plus;
	mktime(&tm);
	assert_int_equal(strftime(out, 11, "%Y-%m-%d", &tm), 10);
}

/* ---- SOAP rendering against a WSDL -------------------------------------------- */

/* The inline schema of wsdl/FILE whose targetNamespace is ns, compiled
 * (caller frees with xmlSchemaFree). */
static inline xmlSchemaPtr wsdl_schema(const char *file, const char *ns)
{
	char path[512], xp[256];
	xmlDocPtr wsdl, xsd;
	xmlXPathContextPtr xc;
	xmlXPathObjectPtr r;
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema;

	snprintf(path, sizeof(path), "%s/wsdl/%s", AILGATE_SOURCE_DIR, file);
	wsdl = xmlReadFile(path, NULL, XML_PARSE_NONET);
	assert_non_null(wsdl);
	xc = xmlXPathNewContext(wsdl);
	xmlXPathRegisterNs(xc, BAD_CAST "xsd", BAD_CAST "http://www.w3.org/2001/XMLSchema");
	snprintf(xp, sizeof(xp), "//xsd:schema[@targetNamespace='%s']", ns);
	r = xmlXPathEvalExpression(BAD_CAST xp, xc);
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
static inline void schema_error(void *arg, const xmlError *e)
#else
static inline void schema_error(void *arg, xmlErrorPtr e)
#endif
{
	if (arg)
		fprintf(stderr, "schema: line %d: %s", e->line, e->message);
}

/* Renders data, or when it is NULL the error body the core writes for err,
 * inside <p:WRAPPER xmlns:p="ns"> the way the core does, and validates it
 * against schema. 0 if valid. With expect_valid, a failure prints why and
 * the XML. */
static inline int soap_valid(xmlSchemaPtr schema, const char *ns, const char *wrapper,
			     const json_t *data, const struct outcome *err, int expect_valid)
{
	struct buf b = BUF_INIT;
	xmlSchemaValidCtxtPtr vc;
	xmlDocPtr doc;
	int rc;

	assert_int_equal(buf_printf(&b, "<p:%s xmlns:p=\"%s\">", wrapper, ns), 0);
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

#endif
