/* The bank registry adapter (bank-registry): the account a resident's
 * social benefits are paid into, and whether an account belongs to a PIN.
 *
 * A bank answers about its own customers only, and only what a payment
 * needs: the account number is masked in every answer (BIC and the last
 * four digits), and account-check says "belongs" or not without telling
 * whose an account is or whether it exists at all.
 *
 * Backed by SQLite like the other registries: one connection per worker
 * thread, statements prepared once and reused, parameters always bound; the
 * database is created from schema.sql + seed.sql when it has no tables; a
 * database that cannot be opened makes calls answer ADAPTER_UNAVAILABLE and
 * is retried per call. Answer shapes: README.md beside this file. */
#include "adapters/adapter.h"
#include "adapters/common/pin.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define BANK_PATH_MAX 1024
#define BANK_SQL_MAX (4u << 20)     /* schema.sql / seed.sql */
#define BANK_PARAM_MAX 64           /* longest parameter looked at (bytes) */
#define BANK_ACCOUNT_LEN 16         /* BIC (6) + 10 digits */
#define BANK_BUSY_MS_DEFAULT 1000
#define BANK_BUSY_MS_MAX 60000

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

/* Per worker thread. */
struct bank_ctx {
	struct adapter_host host;      /* copied; its strings stay borrowed */
	char db_path[BANK_PATH_MAX];
	char sql_dir[BANK_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                   /* NULL while closed */
	sqlite3_stmt *st[ST_COUNT];
	int db_failed;                 /* an SQLite error in this call: close after it */
	int down;                      /* the last open failed (logged once per outage) */
	const char *reqid;             /* of the call in progress, for logs */
};

#define bank_log(c, lvl, ...)                                                      \
	do {                                                                       \
		if ((c)->host.log != NULL)                                         \
			(c)->host.log((c)->host.ctx, (lvl), (c)->reqid, __VA_ARGS__); \
	} while (0)

static const char bank_unavailable[] =
	"the bank's accounts register is unavailable; try again later";

/* ---- the database ------------------------------------------------------ */

static void bank_close(struct bank_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
	c->db_failed = 0;
}

/* Reads dir/name into a NUL-terminated buffer (caller frees), at most
 * BANK_SQL_MAX bytes. NULL with why set. */
static char *bank_read_sql(const char *dir, const char *name, char *why, size_t wlen)
{
	char path[BANK_PATH_MAX + 32];
	char *buf = NULL;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(why, wlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(BANK_SQL_MAX + 1);
	if (buf == NULL) {
		snprintf(why, wlen, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, BANK_SQL_MAX + 1, f);
	if (ferror(f) || n > BANK_SQL_MAX) {
		snprintf(why, wlen, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

static int bank_exec_file(struct bank_ctx *c, const char *name, char *why, size_t wlen)
{
	char *sql = bank_read_sql(c->sql_dir, name, why, wlen);
	char *msg = NULL;
	int rc;

	if (sql == NULL)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		snprintf(why, wlen, "%s/%s: %s", c->sql_dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Creates the tables and the demo data if the database has none, inside one
 * IMMEDIATE transaction so that workers starting together do it once. A
 * database with other tables is somebody else's: left alone, refused. */
static int bank_create_if_empty(struct bank_ctx *c, char *why, size_t wlen)
{
	sqlite3_stmt *q = NULL;
	int rc, tables = 0, ours = 0;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, wlen, "cannot lock %s: %s", c->db_path, sqlite3_errmsg(c->db));
		return -1;
	}
	rc = sqlite3_prepare_v2(c->db, "SELECT count(*), count(name = 'accounts' OR NULL)"
				" FROM sqlite_master WHERE type = 'table'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		tables = sqlite3_column_int(q, 0);
		ours = sqlite3_column_int(q, 1);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		snprintf(why, wlen, "cannot read %s: %s", c->db_path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (tables > 0 && !ours) {
		snprintf(why, wlen, "%s has tables but no 'accounts': not a bank accounts register", c->db_path);
		goto fail;
	}
	if (!ours) {
		if (bank_exec_file(c, "schema.sql", why, wlen) != 0 ||
		    bank_exec_file(c, "seed.sql", why, wlen) != 0)
			goto fail;
		bank_log(c, ADAPTER_LOG_INFO, "bank: created %s from %s/{schema,seed}.sql",
			c->db_path, c->sql_dir);
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(why, wlen, "cannot commit %s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Opens the connection if it is closed. 0, or -1 with why set (closed). */
static int bank_open(struct bank_ctx *c, char *why, size_t wlen)
{
	int rc;

	if (c->db != NULL)
		return 0;
	rc = sqlite3_open_v2(c->db_path, &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(why, wlen, "cannot open %s: %s", c->db_path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, c->busy_ms);
	/* WAL: readers (every worker) never wait for a writer. */
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	if (bank_create_if_empty(c, why, wlen) != 0)
		goto fail;
	/* The adapter only reads from here on: the connection cannot write. */
	if (sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_msg;
	for (size_t i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, bank_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK)
			goto fail_msg;
	return 0;
fail_msg:
	snprintf(why, wlen, "%s: %s", c->db_path, sqlite3_errmsg(c->db));
fail:
	bank_close(c);
	return -1;
}

/* Opens the database if needed. 0, or -1 with res set to unavailable. */
static int bank_ready(struct bank_ctx *c, struct adapter_result *res)
{
	char why[BANK_PATH_MAX + 256];

	if (bank_open(c, why, sizeof(why)) == 0) {
		if (c->down)
			bank_log(c, ADAPTER_LOG_INFO, "bank: %s is available again", c->db_path);
		c->down = 0;
		return 0;
	}
	/* Every call retries; the log says it once per outage, not per call. */
	bank_log(c, c->down ? ADAPTER_LOG_DEBUG : ADAPTER_LOG_ERROR, "bank accounts register unavailable: %s", why);
	c->down = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", bank_unavailable);
	return -1;
}

/* A query failed: the caller hears "unavailable", the log gets why. */
static void bank_db_error(struct bank_ctx *c, struct adapter_result *res)
{
	bank_log(c, ADAPTER_LOG_ERROR, "bank db %s: %s", c->db_path,
		c->db ? sqlite3_errmsg(c->db) : "no connection");
	c->db_failed = 1;
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", bank_unavailable);
}

/* Resets statement s and binds up to 4 text parameters (NULL binds NULL).
 * The values must outlive the statement's use. */
static sqlite3_stmt *bank_bind(struct bank_ctx *c, enum bank_stmt s, const char *a, const char *b,
			      const char *d, const char *e)
{
	const char *v[4] = { a, b, d, e };
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < 4 && i < sqlite3_bind_parameter_count(st); i++)
		if (v[i] != NULL && sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC) != SQLITE_OK)
			return NULL;
	return st;
}

/* Steps st: 1 row, 0 done, -1 error (res set, st reset). */
static int bank_step(struct bank_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	bank_db_error(c, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* ---- JSON from rows ---------------------------------------------------- */

/* Text column as a JSON string, SQL NULL as null; NULL if not UTF-8. */
static json_t *bank_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Sets keys[i] from columns first..first+n-1. 0 or -1. */
static int bank_cols(json_t *o, sqlite3_stmt *st, const char *const *keys, int first, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++)
		bad |= json_object_set_new(o, keys[i], bank_col(st, first + i));
	return bad ? -1 : 0;
}

static void bank_oom(struct adapter_result *res)
{
	json_decref(res->data);
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* ---- parameters ------------------------------------------------------- */

static const char *bank_param(const struct adapter_call *call, const char *name)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int bank_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Copies s without surrounding whitespace (SOAP bodies are often indented)
 * into out[cap], truncating: the validators then see the over-long value. */
static void bank_trim(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s == NULL) {
		out[0] = '\0';
		return;
	}
	while (bank_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && bank_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

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

	bank_trim(bank_param(call, "pin"), pin, cap);
	if (pin_check(pin, why, sizeof(why)) == 0)
		return 0;
	adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
	return -1;
}

/* Adds "bank_name" and "bic" from meta to o. 0, or -1 with res set. */
static int bank_meta(struct bank_ctx *c, json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = c->st[ST_META];
	int rc;

	sqlite3_reset(st);
	rc = bank_step(c, st, res);
	if (rc < 0)
		return -1;
	if (rc == 0 || json_object_set_new(o, "bank_name", bank_col(st, 0)) != 0 ||
	    json_object_set_new(o, "bic", bank_col(st, 1)) != 0) {
		sqlite3_reset(st);
		bank_oom(res);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

static void bank_benefit_account(struct bank_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	static const char *const keys[] = { "currency", "opened_on", "status", "closed_on" };
	char pin[BANK_PARAM_MAX + 2], masked[BANK_ACCOUNT_LEN + 1];
	sqlite3_stmt *st;
	json_t *o = NULL;
	int rc;

	if (bank_pin(call, pin, sizeof(pin), res) != 0)
		return;
	st = bank_bind(c, ST_BENEFIT, pin, NULL, NULL, NULL);
	rc = bank_step(c, st, res);
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
	if (o == NULL || bank_cols(o, st, keys, 1, 4) != 0) {
		sqlite3_reset(st);
		json_decref(o);
		bank_oom(res);
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

static void bank_account_check(struct bank_ctx *c, const struct adapter_call *call,
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
	bank_trim(bank_param(call, "account"), in, sizeof(in));
	if (bank_account_number(in, number, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	st = bank_bind(c, ST_ACCOUNT, number, NULL, NULL, NULL);
	rc = bank_step(c, st, res);
	if (rc < 0)
		return;
	/* Someone else's account and no account at all answer alike. */
	holder = rc == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	belongs = holder != NULL && strcmp(holder, pin) == 0;
	status = belongs ? bank_col(st, 1) : json_null();
	sqlite3_reset(st);
	bank_mask(number, masked);
	res->data = json_pack("{s:s,s:s,s:b,s:o}", "pin", pin, "account", masked,
			      "belongs", belongs, "status", status);
	if (res->data == NULL)
		bank_oom(res);
}

/* ---- the ops table ------------------------------------------------------ */

typedef void (*bank_fn)(struct bank_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const bank_pin_params[] = { "pin", NULL };
static const char *const bank_check_params[] = { "pin", "account", NULL };

static const struct adapter_service bank_services[] = {
	{ "benefit-account", "GET", bank_pin_params,
	  "The account a person's benefits are paid into (masked), by PIN" },
	{ "account-check", "GET", bank_check_params,
	  "Does this account belong to this PIN" },
};

static const bank_fn bank_handlers[] = { bank_benefit_account, bank_account_check };

#define BANK_N_SERVICES (sizeof(bank_services) / sizeof(bank_services[0]))
_Static_assert(BANK_N_SERVICES == sizeof(bank_handlers) / sizeof(bank_handlers[0]),
	       "one handler per service");

static void bank_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct bank_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	for (i = 0; i < BANK_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, bank_services[i].code) == 0)
			break;
	if (i == BANK_N_SERVICES)
		adapter_result_error(&res, ADAPTER_FAILED, "the bank adapter has no service '%.64s'",
				     call->service_code ? call->service_code : "");
	else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		 strcmp(call->method, "POST") != 0)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     bank_services[i].code);
	else if (bank_ready(c, &res) == 0)
		bank_handlers[i](c, call, &res);
	/* Close only after the statements are done with: the next call opens
	 * the file afresh. */
	if (c->db_failed)
		bank_close(c);
	if (res.status != ADAPTER_OK)
		bank_log(c, ADAPTER_LOG_DEBUG, "%s: %s", call->service_code ? call->service_code : "-",
			 adapter_status_name(res.status));
	done(&res, arg);
	c->reqid = NULL;
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int bank_config_str(const struct adapter_host *host, const char *key, const char *def,
			  char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int bank_config(struct bank_ctx *c, const struct adapter_host *host, char **err)
{
	char def[BANK_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/bank.db", host->data_dir ? host->data_dir : ".");
	if (bank_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    bank_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/bank", c->sql_dir,
			   sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.bank] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = BANK_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > BANK_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.bank] busy_timeout_ms: '%.32s' is not a "
				     "number of milliseconds 0..%d", v, BANK_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int bank_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct bank_ctx *c = calloc(1, sizeof(*c));
	struct adapter_result res;

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (bank_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	(void)bank_ready(c, &res);
	*vctx = c;
	return 0;
}

static void bank_free(void *vctx)
{
	struct bank_ctx *c = vctx;

	if (c == NULL)
		return;
	bank_close(c);
	free(c);
}

const struct adapter_ops bank_adapter = {
	.name = "bank",
	.services = bank_services,
	.n_services = BANK_N_SERVICES,
	.init = bank_init,
	.handle = bank_handle,
	.free = bank_free,
};
