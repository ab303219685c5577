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
#include "adapters/common/pin.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define BL_PATH_MAX 1024
#define BL_SQL_MAX (4u << 20)       /* schema.sql / seed.sql */
#define BL_BUSY_MS_DEFAULT 1000
#define BL_BUSY_MS_MAX 60000
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

/* Per worker thread. */
struct bl_ctx {
	struct adapter_host host;
	char db_path[BL_PATH_MAX];
	char sql_dir[BL_PATH_MAX];
	int busy_ms;
	sqlite3 *db;                 /* NULL while the database cannot be opened */
	sqlite3_stmt *st[ST_COUNT];
	int reopen;                  /* a query hit a broken file: reopen next call */
};

struct bl_day {
	char iso[11];                /* YYYY-MM-DD */
	long days;                   /* days since 1970-01-01 */
};

#define bl_log(c, lvl, reqid, ...)                                               \
	do {                                                                     \
		if ((c)->host.log != NULL)                                       \
			(c)->host.log((c)->host.ctx, (lvl), (reqid), __VA_ARGS__); \
	} while (0)

#define BL_UNAVAILABLE "the utility billing database is unavailable; try again later"

/* ---- opening and creating the database ------------------------------- */

static void bl_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bl_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void bl_close(struct bl_ctx *c)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
	c->reopen = 0;
}

/* Reads dir/name into a new NUL-terminated buffer (caller frees *out). */
static int bl_read_sql(const char *dir, const char *name, char **out, char *why, size_t len)
{
	char path[BL_PATH_MAX + 64];
	char *buf = NULL;
	size_t n;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		bl_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(BL_SQL_MAX + 1);
	if (buf == NULL) {
		bl_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, BL_SQL_MAX + 1, f);
	if (ferror(f) || n > BL_SQL_MAX) {
		bl_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int bl_exec_file(sqlite3 *db, const char *dir, const char *name, char *why, size_t len)
{
	char *sql = NULL, *msg = NULL;
	int rc;

	if (bl_read_sql(dir, name, &sql, why, len) != 0)
		return -1;
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		bl_why(why, len, "%s/%s: %s", dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads schema and seed into a database that has no tables. Several workers
 * may start at once on a new file: the immediate transaction serialises
 * them, and only the first one finds it empty. */
static int bl_create(struct bl_ctx *c, sqlite3 *db, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, empty;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		bl_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		bl_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	empty = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (empty && (bl_exec_file(db, c->sql_dir, "schema.sql", why, len) != 0 ||
		      bl_exec_file(db, c->sql_dir, "seed.sql", why, len) != 0))
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		bl_why(why, len, "%s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (empty)
		bl_log(c, ADAPTER_LOG_INFO, NULL, "created %s from %s/{schema,seed}.sql",
		       c->db_path, c->sql_dir);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int bl_prepare(struct bl_ctx *c, sqlite3 *db, char *why, size_t len)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(db, bl_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			bl_why(why, len, "%s is not a utility billing database: %s", c->db_path,
			       sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

static int bl_open(struct bl_ctx *c, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(c->db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		bl_why(why, len, "cannot open %s: %s", c->db_path,
		       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, c->busy_ms);
	/* WAL: readers (every worker) never wait for the enterprises' loader. */
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK) {
		bl_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	if (bl_create(c, db, why, len) != 0 || bl_prepare(c, db, why, len) != 0)
		goto fail;
	/* Requests only read: make any write through this connection fail. */
	if (sqlite3_exec(db, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK) {
		bl_why(why, len, "cannot use %s: %s", c->db_path, sqlite3_errmsg(db));
		goto fail;
	}
	c->db = db;
	return 0;
fail:
	c->db = db;
	bl_close(c);
	return -1;
}

/* ---- statements ------------------------------------------------------- */

/* Resets st and binds texts vals[0..n-1]. */
static sqlite3_stmt *bl_bind(struct bl_ctx *c, enum bl_stmt s, int n, const char *const *vals)
{
	sqlite3_stmt *st = c->st[s];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < n; i++)
		if (sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_TRANSIENT) != SQLITE_OK)
			return NULL;
	return st;
}

/* A query failed: the caller is told "unavailable", the log gets why. */
static void bl_db_error(struct bl_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	int rc = sqlite3_errcode(c->db) & 0xff;

	bl_log(c, ADAPTER_LOG_ERROR, call->message_id, "billing db %s: %s", c->db_path,
	       sqlite3_errmsg(c->db));
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
		c->reopen = 1;
	adapter_result_error(res, ADAPTER_UNAVAILABLE, BL_UNAVAILABLE);
}

/* Steps st once: 1 row, 0 done, -1 error (res set, st reset). */
static int bl_step(struct bl_ctx *c, const struct adapter_call *call, sqlite3_stmt *st,
		   struct adapter_result *res)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	bl_db_error(c, call, res);
	if (st != NULL)
		sqlite3_reset(st);
	return -1;
}

/* SQL NULL -> JSON null; text -> string (NULL if not valid UTF-8). */
static json_t *bl_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_stringn((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static int bl_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

static void bl_oom(struct adapter_result *res)
{
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}

/* ---- small helpers: parameters, dates, money -------------------------- */

static int bl_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* A parameter without surrounding white space (SOAP bodies are indented)
 * into out[cap]; "" if absent. -1 if not a string or too long for out. */
static int bl_param(const struct adapter_call *call, const char *name, char *out, size_t cap)
{
	json_t *v = call->params ? json_object_get(call->params, name) : NULL;
	const char *s;
	size_t n;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	while (bl_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && bl_space(s[n - 1]))
		n--;
	if (n >= cap)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Household ids and account numbers: ASCII letters, digits and '-',
 * folded to upper case in place. 1 if valid, 0 if not. */
static int bl_key_ok(char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BL_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (days_from_civil). */
static long bl_days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* A strict YYYY-MM-DD (1900..9999, a real day) into days; 0 or -1. */
static int bl_date(const char *s, long *days)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, leap;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	*days = bl_days_from_civil(y, m, d);
	return 0;
}

/* Today in the gateway's local time: a payment posted today counts today. */
static void bl_today(struct bl_day *day)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(day->iso, sizeof(day->iso), "%Y-%m-%d", &tm);
	day->days = bl_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* A date parameter into out[11]: required, or today when absent; never
 * after today (nothing is known about tomorrow). 0, or -1 with res. */
static int bl_date_param(const struct adapter_call *call, const char *name, int required,
			 const struct bl_day *today, char *out, long *days, struct adapter_result *res)
{
	if (bl_param(call, name, out, 11) != 0 || (out[0] != '\0' && bl_date(out, days) != 0)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a date YYYY-MM-DD, "
				     "e.g. 2026-03-01", name);
		return -1;
	}
	if (out[0] == '\0' && required) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s is missing (a date YYYY-MM-DD)", name);
		return -1;
	}
	if (out[0] == '\0') {
		memcpy(out, today->iso, 11);
		*days = today->days;
	}
	if (*days > today->days) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s %s is after today (%s)", name, out,
				     today->iso);
		return -1;
	}
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

	return closed != NULL && bl_date(closed, &d) == 0 && d <= day ? "closed" : "open";
}

/* ---- accounts ---------------------------------------------------------- */

/* One row of BL_ACCOUNT_COLS as JSON (caller owns), or NULL. */
static json_t *bl_account_json(sqlite3_stmt *st, long today)
{
	json_t *tariff = json_pack("{s:o,s:o,s:o,s:I}", "code", bl_col(st, 9), "name", bl_col(st, 10),
				   "unit", bl_col(st, 11), "price_tyiyn",
				   (json_int_t)sqlite3_column_int64(st, 12));

	if (tariff == NULL || bl_set(tariff, "price_som", bl_som(sqlite3_column_int64(st, 12))) != 0) {
		json_decref(tariff);
		return NULL;
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o},s:{s:o,s:o},s:o,s:s,s:o,s:o}",
			 "account_number", bl_col(st, 0), "service", bl_col(st, 1),
			 "service_ru", bl_col(st, 2), "service_ky", bl_col(st, 3),
			 "enterprise", "code", bl_col(st, 4), "name", bl_col(st, 5),
			 "tax_number", bl_col(st, 6),
			 "holder", "pin", bl_col(st, 7), "name", bl_col(st, 8),
			 "tariff", tariff, "status", bl_status(st, 14, today),
			 "opened_on", bl_col(st, 13), "closed_on", bl_col(st, 14));
}

/* The household row: {"household_id", "address"} (caller owns). 0, or -1
 * with res set (not found: "no household"). */
static int bl_household(struct bl_ctx *c, const struct adapter_call *call, const char *id,
			json_t **out, struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_HOUSEHOLD, 1, (const char *const[]){ id });
	int rc = bl_step(c, call, st, res);

	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no household %s among the utility "
					     "subscribers' addresses", id);
		}
		return -1;
	}
	*out = json_pack("{s:o,s:{s:o,s:o,s:o}}", "household_id", bl_col(st, 0), "address",
			 "village", bl_col(st, 1), "street", bl_col(st, 2), "house", bl_col(st, 3));
	sqlite3_reset(st);
	if (*out == NULL) {
		bl_oom(res);
		return -1;
	}
	return 0;
}

/* Adds "account_count" and "accounts" of household id to o. 0, or -1 with res. */
static int bl_accounts_into(struct bl_ctx *c, const struct adapter_call *call, const char *id,
			    json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_ACCOUNTS, 1, (const char *const[]){ id });
	json_t *arr = json_array();
	struct bl_day today;
	int rc, bad;

	bl_today(&today);
	if (arr == NULL)
		goto oom;
	while ((rc = bl_step(c, call, st, res)) == 1)
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
		bl_oom(res);
		return -1;
	}
	return 0;
oom:
	sqlite3_reset(st);
	json_decref(arr);
	bl_oom(res);
	return -1;
}

/* A household id parameter, validated into id[BL_KEY_MAX + 1]. */
static int bl_household_param(const struct adapter_call *call, char *id, struct adapter_result *res)
{
	if (bl_param(call, "household_id", id, BL_KEY_MAX + 1) != 0 || !bl_key_ok(id)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "household_id must be 1-%d letters, "
				     "digits or '-', e.g. LBD-0001", BL_KEY_MAX);
		return -1;
	}
	return 0;
}

static void bl_household_accounts(struct bl_ctx *c, const struct adapter_call *call,
				  struct adapter_result *res)
{
	char id[BL_KEY_MAX + 1];
	json_t *o = NULL;

	if (bl_household_param(call, id, res) != 0 || bl_household(c, call, id, &o, res) != 0)
		return;
	if (bl_accounts_into(c, call, id, o, res) != 0) {
		json_decref(o);
		return;
	}
	res->data = o;
}

/* The one household of the resident with this PIN into hid[BL_KEY_MAX + 1].
 * 0, or -1 with res: not found, not in register (on the population list,
 * household not entered yet), or a duplicate PIN. */
static int bl_resident(struct bl_ctx *c, const struct adapter_call *call, const char *pin, char *hid,
		       struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_RESIDENT, 1, (const char *const[]){ pin });
	int rc = bl_step(c, call, st, res), null_household;

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
	rc = bl_step(c, call, st, res);
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

static void bl_accounts(struct bl_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char pin[96], why[160], hid[BL_KEY_MAX + 1];
	json_t *o = NULL;

	json_t *answer;

	if (bl_param(call, "pin", pin, sizeof(pin)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "PIN must be 14 digits");
		return;
	}
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	if (bl_resident(c, call, pin, hid, res) != 0 || bl_household(c, call, hid, &o, res) != 0)
		return;
	if (bl_accounts_into(c, call, hid, o, res) != 0) {
		json_decref(o);
		return;
	}
	/* The PIN asked first, then the household's answer. */
	answer = json_pack("{s:s}", "pin", pin);
	if (answer == NULL || json_object_update(answer, o) != 0) {
		json_decref(answer);
		answer = NULL;
		bl_oom(res);
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
	json_t *o = json_pack("{s:o,s:o,s:o,s:s}", "account_number", bl_col(st, 0),
			      "service", bl_col(st, 1), "enterprise", bl_col(st, 2),
			      "status", bl_status(st, 3, on));

	if (o == NULL || bl_balance_into(o, balance) != 0 ||
	    bl_set(o, "last_payment_date", bl_col(st, 5)) != 0 ||
	    bl_set(o, "last_accrual_period", bl_col(st, 6)) != 0) {
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
static int bl_debt_rows(struct bl_ctx *c, const struct adapter_call *call, const char *id,
			const char *on, long on_d, json_t **arr, struct bl_totals *t,
			struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_DEBT, 2, (const char *const[]){ id, on });
	int rc;

	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		bl_oom(res);
		return -1;
	}
	while ((rc = bl_step(c, call, st, res)) == 1) {
		if (json_array_append_new(*arr, bl_debt_row(st, on_d, t)) != 0) {
			bl_oom(res);
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
static json_t *bl_accruals_through(struct bl_ctx *c, const struct adapter_call *call,
				   struct adapter_result *res)
{
	sqlite3_stmt *st = c->st[ST_META];
	json_t *v;
	int rc;

	sqlite3_reset(st);
	if ((rc = bl_step(c, call, st, res)) < 0)
		return NULL;
	v = rc == 1 ? bl_col(st, 0) : json_null();
	sqlite3_reset(st);
	if (v == NULL)
		bl_oom(res);
	return v;
}

static void bl_debt(struct bl_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char id[BL_KEY_MAX + 1], on[11];
	struct bl_totals t = { 0, 0, "" };
	struct bl_day today;
	json_t *o = NULL, *arr = NULL, *through = NULL;
	long on_d;


	bl_today(&today);
	if (bl_household_param(call, id, res) != 0 ||
	    bl_date_param(call, "on", 0, &today, on, &on_d, res) != 0 ||
	    bl_household(c, call, id, &o, res) != 0)
		return;
	int bad;

	if ((through = bl_accruals_through(c, call, res)) == NULL ||
	    bl_debt_rows(c, call, id, on, on_d, &arr, &t, res) != 0) {
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
		bl_oom(res);
		return;
	}
	res->data = o;
}

/* ---- statement --------------------------------------------------------- */

/* The rows of ST_ACCRUALS or ST_PAYMENTS for the range into a new array,
 * summing the amounts (column amount_col) into *sum. 0, or -1 with res. */
static int bl_lines(struct bl_ctx *c, const struct adapter_call *call, enum bl_stmt which,
		    const char *const *acct_from_to, const char *unit, json_t **arr, long long *sum,
		    struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, which, 3, acct_from_to);
	int rc;

	*sum = 0;
	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		bl_oom(res);
		return -1;
	}
	while ((rc = bl_step(c, call, st, res)) == 1) {
		long long amount = sqlite3_column_int64(st, which == ST_ACCRUALS ? 3 : 1);
		json_t *line = which == ST_ACCRUALS ?
			json_pack("{s:o,s:o,s:o,s:s,s:I,s:o,s:o}", "period", bl_col(st, 0),
				  "accrued_on", bl_col(st, 1), "quantity", bl_col(st, 2), "unit", unit,
				  "amount_tyiyn", (json_int_t)amount, "amount_som", bl_som(amount),
				  "note", bl_col(st, 4)) :
			json_pack("{s:o,s:I,s:o,s:o,s:o}", "paid_on", bl_col(st, 0), "amount_tyiyn",
				  (json_int_t)amount, "amount_som", bl_som(amount),
				  "channel", bl_col(st, 2), "receipt", bl_col(st, 3));

		*sum += amount;
		if (json_array_append_new(*arr, line) != 0) {
			bl_oom(res);
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
static int bl_opening(struct bl_ctx *c, const struct adapter_call *call, const char *acct,
		      const char *from, long long *balance, struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_BEFORE, 2, (const char *const[]){ acct, from });
	int rc = bl_step(c, call, st, res);

	if (rc < 0)
		return -1;
	*balance = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* The account row as the head of a statement: the account JSON with
 * household_id. 0, or -1 with res (not found). */
static int bl_statement_head(struct bl_ctx *c, const struct adapter_call *call, const char *acct,
			     long today, json_t **o, char *unit, size_t unit_len,
			     struct adapter_result *res)
{
	sqlite3_stmt *st = bl_bind(c, ST_ACCOUNT, 1, (const char *const[]){ acct });
	int rc = bl_step(c, call, st, res);

	if (rc <= 0) {
		if (rc == 0) {
			sqlite3_reset(st);
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no utility account %s", acct);
		}
		return -1;
	}
	*o = bl_account_json(st, today);
	snprintf(unit, unit_len, "%s", sqlite3_column_text(st, 11) ? (const char *)sqlite3_column_text(st, 11) : "");
	if (*o != NULL && bl_set(*o, "household_id", bl_col(st, 15)) != 0) {
		json_decref(*o);
		*o = NULL;
	}
	sqlite3_reset(st);
	if (*o == NULL) {
		bl_oom(res);
		return -1;
	}
	return 0;
}

static int bl_statement_params(const struct adapter_call *call, const struct bl_day *today,
			       char *acct, char *from, char *to, struct adapter_result *res)
{
	long from_d, to_d;

	if (bl_param(call, "account", acct, BL_KEY_MAX + 1) != 0 || !bl_key_ok(acct)) {
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

static void bl_statement(struct bl_ctx *c, const struct adapter_call *call, struct adapter_result *res)
{
	char acct[BL_KEY_MAX + 1], from[11], to[11], unit[32];
	struct bl_day today;
	json_t *o = NULL, *acc = NULL, *pay = NULL;
	long long opening, accrued, paid;

	bl_today(&today);
	if (bl_statement_params(call, &today, acct, from, to, res) != 0 ||
	    bl_statement_head(c, call, acct, today.days, &o, unit, sizeof(unit), res) != 0)
		return;
	int bad;

	if (bl_opening(c, call, acct, from, &opening, res) != 0 ||
	    bl_lines(c, call, ST_ACCRUALS, (const char *const[]){ acct, from, to }, unit, &acc,
		     &accrued, res) != 0 ||
	    bl_lines(c, call, ST_PAYMENTS, (const char *const[]){ acct, from, to }, NULL, &pay,
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
		bl_oom(res);
		return;
	}
	res->data = o;
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*bl_fn)(struct bl_ctx *c, const struct adapter_call *call, struct adapter_result *res);

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

static const bl_fn bl_handlers[] = { bl_accounts, bl_household_accounts, bl_debt, bl_statement };

_Static_assert(sizeof(bl_services) / sizeof(bl_services[0]) ==
	       sizeof(bl_handlers) / sizeof(bl_handlers[0]), "one handler per service");

#define BL_N_SERVICES (sizeof(bl_services) / sizeof(bl_services[0]))

static void bl_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct bl_ctx *c = vctx;
	struct adapter_result res;
	char why[512];
	size_t i;

	memset(&res, 0, sizeof(res));
	for (i = 0; i < BL_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, bl_services[i].code) == 0)
			break;
	if (i == BL_N_SERVICES) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "utility billing has no such service");
	} else if (call->method != NULL && strcmp(call->method, "GET") != 0 &&
		   strcmp(call->method, "POST") != 0) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers GET (REST) or POST (SOAP)",
				     bl_services[i].code);
	} else if (c->db == NULL && bl_open(c, why, sizeof(why)) != 0) {
		bl_log(c, ADAPTER_LOG_ERROR, call->message_id, "utility billing unavailable: %s", why);
		adapter_result_error(&res, ADAPTER_UNAVAILABLE, BL_UNAVAILABLE);
	} else {
		bl_handlers[i](c, call, &res);
	}
	/* Close only after the statements are done with, so the next call
	 * opens the file afresh. */
	if (c->reopen)
		bl_close(c);
	if (res.status != ADAPTER_OK)
		bl_log(c, ADAPTER_LOG_DEBUG, call->message_id, "%s: %s", call->service_code ?
		       call->service_code : "?", adapter_status_name(res.status));
	done(&res, arg);
}

/* A config value, or def when unset; -1 if it does not fit out[cap]. */
static int bl_config_str(const struct adapter_host *host, const char *key, const char *def,
			 char *out, size_t cap)
{
	const char *v = host->config ? host->config(host->ctx, key) : NULL;

	if (v == NULL || v[0] == '\0')
		v = def;
	return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
}

static int bl_config(struct bl_ctx *c, const struct adapter_host *host, char **err)
{
	char def[BL_PATH_MAX];
	const char *v;
	char *end;
	long ms;

	snprintf(def, sizeof(def), "%s/billing.db", host->data_dir ? host->data_dir : ".");
	if (bl_config_str(host, "db", def, c->db_path, sizeof(c->db_path)) != 0 ||
	    bl_config_str(host, "sql_dir", AILGATE_SOURCE_DIR "/adapters/billing", c->sql_dir,
			  sizeof(c->sql_dir)) != 0) {
		*err = strdup("[adapter.billing] db, sql_dir: path too long (max 1023 bytes)");
		return -1;
	}
	c->busy_ms = BL_BUSY_MS_DEFAULT;
	v = host->config ? host->config(host->ctx, "busy_timeout_ms") : NULL;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || ms < 0 || ms > BL_BUSY_MS_MAX) {
			if (asprintf(err, "[adapter.billing] busy_timeout_ms: '%.32s' is not a number of "
				     "milliseconds 0..%d", v, BL_BUSY_MS_MAX) < 0)
				*err = NULL;
			return -1;
		}
		c->busy_ms = (int)ms;
	}
	return 0;
}

/* Config errors fail init; a database that cannot be opened does not: the
 * gateway starts, the adapter answers "unavailable" and retries per call. */
static int bl_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct bl_ctx *c = calloc(1, sizeof(*c));
	char why[512];

	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if (bl_config(c, host, err) != 0) {
		free(c);
		return -1;
	}
	if (bl_open(c, why, sizeof(why)) != 0)
		bl_log(c, ADAPTER_LOG_ERROR, NULL, "utility billing unavailable: %s", why);
	*vctx = c;
	return 0;
}

static void bl_free(void *vctx)
{
	struct bl_ctx *c = vctx;

	if (c == NULL)
		return;
	bl_close(c);
	free(c);
}

const struct adapter_ops billing_adapter = {
	.name = "billing",
	.services = bl_services,
	.n_services = BL_N_SERVICES,
	.init = bl_init,
	.handle = bl_handle,
	.free = bl_free,
};
