/* The e-kyzmat adapter (GOV/70000050/e-kyzmat): the AIL OKMOTU's personnel
 * register: employees, their positions and career moves, length of service,
 * open vacancies.
 *
 * Answers from a local SQLite database: one connection per worker thread,
 * statements prepared once and reused, parameters always bound. Queries are
 * index lookups on a small local file, so they run on the calling thread.
 * The database is created from schema.sql + seed.sql when it has no tables.
 * A database that cannot be opened does not stop the gateway: calls answer
 * "unavailable" and retry the open; any SQLite error during a call closes
 * the connection so the next call starts clean. Answer keys and the
 * length-of-service rule: README.md. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "adapters/common/sqlreg.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_CODE_MAX 32             /* department code */
#define EK_PARAM_MAX 96            /* bytes of a parameter we look at */
#define EK_PERIODS_MAX 128         /* employment periods of one person */
#define EK_UNAVAILABLE "the e-kyzmat database is unavailable; try again later"

enum ek_stmt {
	ST_EMPLOYEE, ST_MOVES, ST_PRIOR, ST_EMPLOYER, ST_DEPARTMENT, ST_DEPT_CODES, ST_VACANCIES,
	ST_COUNT
};

static const char *const ek_sql[ST_COUNT] = {
	[ST_EMPLOYEE] =
		"SELECT last_name, first_name, patronymic, birth_date, sex FROM employees WHERE pin = ?1",
	/* Columns: see enum ek_move_col. */
	[ST_MOVES] =
		"SELECT m.kind, k.ky, k.ru, m.date, m.position, p.ky, p.ru, p.department, d.ky, d.ru,"
		" m.order_number, m.order_date, m.reason"
		" FROM moves m JOIN move_kinds k ON k.code = m.kind"
		" JOIN positions p ON p.code = m.position JOIN departments d ON d.code = p.department"
		" WHERE m.pin = ?1 ORDER BY m.date, m.id",
	[ST_PRIOR] =
		"SELECT employer, position, start_date, end_date FROM prior_service WHERE pin = ?1"
		" ORDER BY start_date, id",
	[ST_EMPLOYER] = "SELECT value FROM meta WHERE key = 'employer'",
	[ST_DEPARTMENT] = "SELECT ky, ru FROM departments WHERE code = ?1",
	[ST_DEPT_CODES] =
		"SELECT group_concat(code, ', ') FROM (SELECT code FROM departments ORDER BY sort)",
	[ST_VACANCIES] =
		"SELECT v.id, v.position, p.ky, p.ru, p.department, d.ky, d.ru, v.posts,"
		" v.announced_on, v.salary_tyiyn, v.requirements"
		" FROM vacancies v JOIN positions p ON p.code = v.position"
		" JOIN departments d ON d.code = p.department"
		" WHERE v.status = 'open' AND (?1 IS NULL OR p.department = ?1)"
		" ORDER BY d.sort, v.announced_on, v.id",
};

enum ek_move_col {
	MV_KIND, MV_KIND_KY, MV_KIND_RU, MV_DATE, MV_POSITION, MV_POSITION_KY, MV_POSITION_RU,
	MV_DEPARTMENT, MV_DEPARTMENT_KY, MV_DEPARTMENT_RU, MV_ORDER_NUMBER, MV_ORDER_DATE, MV_REASON
};

static const struct sqlreg_desc ek_db = {
	.name = "e-kyzmat",
	.db_file = "e-kyzmat.db",
	.label = "e-kyzmat",
	.kind = "an e-kyzmat database",
	.ours = "employees",
	.sql = ek_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA foreign_keys=ON",
	.reopen_on_any_error = 1,
	.unavailable = EK_UNAVAILABLE,
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- dates ------------------------------------------------------------ */

/* The day n months after day z, kept on the same day of the month, or on
 * the month's last day when it has no such day (31 Jan + 1 month = 28/29 Feb). */
static long ek_add_months(long z, int n)
{
	int y, m, d, t, last;

	params_civil_from_days(z, &y, &m, &d);
	t = y * 12 + (m - 1) + n;
	y = t / 12;
	m = t % 12 + 1;
	last = params_days_in_month(y, m);
	return params_days_from_civil(y, m, d < last ? d : last);
}

/* ---- parameters ------------------------------------------------------- */

/* The "on" date into on[11] and *day: today when absent or empty. Past and
 * present only: service not served yet cannot be certified. 0, or -1 with
 * res set. */
static int ek_on(const struct adapter_call *call, char *on, long *day, struct adapter_result *res)
{
	struct params_day d;
	char why[256];

	if (params_date_upto_today(call->params, "on", "length of service is counted up to "
				   "a past or present date only", &d, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	memcpy(on, d.iso, sizeof(d.iso));
	*day = d.days;
	return 0;
}

static int ek_pin(const struct adapter_call *call, char *pin, size_t cap,
		  struct adapter_result *res)
{
	char why[160];

	params_trimmed(call->params, "pin", pin, cap);
	if (pin_check(pin, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	return 0;
}

/* ---- queries ---------------------------------------------------------- */

static int ek_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* The employee with this PIN as a new object {pin, last_name, first_name,
 * patronymic, birth_date, sex} (caller owns). 0, or -1 with res set. */
static int ek_employee_row(struct sqlreg_ctx *c, const char *pin, json_t **out,
			   struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_EMPLOYEE, pin);
	int rc = sqlreg_step(c->reg, st, res);

	if (rc <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND,
					     "PIN %s has no record in e-kyzmat: the person is not and has "
					     "not been an employee of the municipality", pin);
		return -1;
	}
	*out = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "pin", pin, "last_name", sqlreg_col(st, 0),
			 "first_name", sqlreg_col(st, 1), "patronymic", sqlreg_col(st, 2),
			 "birth_date", sqlreg_col(st, 3), "sex", sqlreg_col(st, 4));
	sqlite3_reset(st);
	if (*out == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

/* ---- employee --------------------------------------------------------- */

static json_t *ek_move(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "kind", sqlreg_col(st, MV_KIND), "kind_ky", sqlreg_col(st, MV_KIND_KY),
			 "kind_ru", sqlreg_col(st, MV_KIND_RU), "date", sqlreg_col(st, MV_DATE),
			 "position", sqlreg_col(st, MV_POSITION),
			 "position_ky", sqlreg_col(st, MV_POSITION_KY),
			 "position_ru", sqlreg_col(st, MV_POSITION_RU),
			 "department", sqlreg_col(st, MV_DEPARTMENT),
			 "department_ky", sqlreg_col(st, MV_DEPARTMENT_KY),
			 "department_ru", sqlreg_col(st, MV_DEPARTMENT_RU),
			 "order_number", sqlreg_col(st, MV_ORDER_NUMBER),
			 "order_date", sqlreg_col(st, MV_ORDER_DATE),
			 "reason", sqlreg_col(st, MV_REASON));
}

static json_t *ek_current(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "position", sqlreg_col(st, MV_POSITION),
			 "position_ky", sqlreg_col(st, MV_POSITION_KY),
			 "position_ru", sqlreg_col(st, MV_POSITION_RU),
			 "department", sqlreg_col(st, MV_DEPARTMENT),
			 "department_ky", sqlreg_col(st, MV_DEPARTMENT_KY),
			 "department_ru", sqlreg_col(st, MV_DEPARTMENT_RU),
			 "since", sqlreg_col(st, MV_DATE));
}

/* Where the employee stands today, from the moves up to today: the position
 * of the last hire, transfer or promotion, unless a dismissal came after it
 * (its date is the last working day: employed until that day ends). */
struct ek_state {
	json_t *current;             /* owned; NULL: not employed */
	char hired_on[11];           /* "" when not employed */
	int bad;                     /* out of memory */
};

static void ek_state_apply(struct ek_state *s, sqlite3_stmt *st, const char *today)
{
	const char *kind = (const char *)sqlite3_column_text(st, MV_KIND);
	const char *date = (const char *)sqlite3_column_text(st, MV_DATE);

	if (kind == NULL || date == NULL || strcmp(date, today) > 0)
		return;
	if (strcmp(kind, "dismissal") == 0) {
		if (strcmp(date, today) < 0) {
			json_decref(s->current);
			s->current = NULL;
			s->hired_on[0] = '\0';
		}
		return;
	}
	if (strcmp(kind, "hire") == 0 && s->current == NULL)
		snprintf(s->hired_on, sizeof(s->hired_on), "%s", date);
	json_decref(s->current);
	s->current = ek_current(st);
	s->bad |= s->current == NULL;
}

/* Adds employed, hired_on, current_position and moves to o. 0, or -1 with
 * res set. */
static int ek_moves(struct sqlreg_ctx *c, const char *pin, json_t *o, struct adapter_result *res)
{
	struct ek_state s = { NULL, "", 0 };
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_MOVES, pin);
	json_t *arr = json_array();
	struct params_day today;
	int rc, bad = arr == NULL;

	params_today(NULL, &today);
	while (!bad && (rc = sqlreg_step(c->reg, st, res)) == 1) {
		ek_state_apply(&s, st, today.iso);
		bad |= s.bad || json_array_append_new(arr, ek_move(st)) != 0;
	}
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		json_decref(s.current);
		return -1;
	}
	bad |= ek_set(o, "employed", json_boolean(s.current != NULL));
	bad |= ek_set(o, "hired_on", s.hired_on[0] ? json_string(s.hired_on) : json_null());
	bad |= ek_set(o, "current_position", s.current ? s.current : json_null());
	bad |= ek_set(o, "moves", arr);
	if (bad) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

/* Adds prior_service (the work-book periods) to o. 0, or -1 with res set. */
static int ek_prior(struct sqlreg_ctx *c, const char *pin, json_t *o, struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_PRIOR, pin);
	json_t *arr = json_array();
	int rc, bad = arr == NULL;

	while (!bad && (rc = sqlreg_step(c->reg, st, res)) == 1)
		bad |= json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o}",
							    "employer", sqlreg_col(st, 0),
							    "position", sqlreg_col(st, 1),
							    "start_date", sqlreg_col(st, 2),
							    "end_date", sqlreg_col(st, 3))) != 0;
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	if (ek_set(o, "prior_service", arr) != 0 || bad) {
		adapter_result_oom(res);
		return -1;
	}
	return 0;
}

static void ek_employee(struct sqlreg_ctx *c, const struct adapter_call *call,
			struct adapter_result *res)
{
	char pin[EK_PARAM_MAX];

	if (ek_pin(call, pin, sizeof(pin), res) != 0 || ek_employee_row(c, pin, &res->data, res) != 0)
		return;
	if (ek_moves(c, pin, res->data, res) != 0)
		return;
	(void)ek_prior(c, pin, res->data, res);   /* res tells */
}

/* ---- length-of-service ------------------------------------------------ */

/* An employment period: days, both ends inclusive; end LONG_MAX: open. */
struct ek_period {
	long start, end;
	int own;                     /* 1: here (from the moves), 0: work book */
	int book;                    /* work book: row number in prior_service order */
};

struct ek_periods {
	struct ek_period p[EK_PERIODS_MAX];
	size_t n;
	json_t *employers;           /* owned: work-book employers, by book row */
};

static int ek_add_period(struct ek_periods *ps, long start, long end, int own, int book)
{
	if (ps->n == EK_PERIODS_MAX)
		return -1;
	ps->p[ps->n++] = (struct ek_period){ start, end, own, book };
	return 0;
}

/* The periods here, from the moves: a hire opens one, a dismissal closes it
 * on its date. 0, or -1 with res set (a record that does not add up is
 * refused rather than guessed at). */
static int ek_own_periods(struct sqlreg_ctx *c, const char *pin, struct ek_periods *ps,
			  struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_MOVES, pin);
	long day, open = LONG_MIN;
	int rc;
	const char *why = NULL;

	while (why == NULL && (rc = sqlreg_step(c->reg, st, res)) == 1) {
		const char *kind = (const char *)sqlite3_column_text(st, MV_KIND);

		if (params_date_parse((const char *)sqlite3_column_text(st, MV_DATE), &day) != 0)
			why = "a move has a malformed date";
		else if (kind != NULL && strcmp(kind, "hire") == 0 && open != LONG_MIN)
			why = "a hire while already employed";
		else if (kind != NULL && strcmp(kind, "hire") == 0)
			open = day;
		else if (kind != NULL && strcmp(kind, "dismissal") == 0 && open == LONG_MIN)
			why = "a dismissal without a hire";
		else if (kind != NULL && strcmp(kind, "dismissal") == 0 &&
			 ek_add_period(ps, open, day, 1, 0) == 0)
			open = LONG_MIN;
		else if (kind != NULL && strcmp(kind, "dismissal") == 0)
			why = "too many employment periods";
	}
	if (why != NULL)
		sqlite3_reset(st);
	else if (rc < 0)
		return -1;
	else if (open != LONG_MIN && ek_add_period(ps, open, LONG_MAX, 1, 0) != 0)
		why = "too many employment periods";
	if (why == NULL)
		return 0;
	adapter_result_error(res, ADAPTER_FAILED, "the career record of PIN %s does not add up (%s); the "
		 "personnel office has to correct it", pin, why);
	return -1;
}

/* The work-book periods, their employers into ps->employers. 0, or -1 with
 * res set. */
static int ek_book_periods(struct sqlreg_ctx *c, const char *pin, struct ek_periods *ps,
			   struct adapter_result *res)
{
	sqlite3_stmt *st = SQLREG_BIND(c->reg, ST_PRIOR, pin);
	int rc, row = 0, oom = 0;
	long s, e;
	const char *why = NULL;

	while (why == NULL && !oom && (rc = sqlreg_step(c->reg, st, res)) == 1) {
		if (params_date_parse((const char *)sqlite3_column_text(st, 2), &s) != 0 ||
		    params_date_parse((const char *)sqlite3_column_text(st, 3), &e) != 0 || e < s)
			why = "a work-book period has a malformed date";
		else if (ek_add_period(ps, s, e, 0, row++) != 0)
			why = "too many employment periods";
		else
			oom = json_array_append_new(ps->employers, sqlreg_col(st, 0)) != 0;
	}
	if (why != NULL || oom)
		sqlite3_reset(st);
	else if (rc < 0)
		return -1;
	if (why == NULL && !oom)
		return 0;
	if (oom)
		adapter_result_oom(res);
	else
		adapter_result_error(res, ADAPTER_FAILED, "the career record of PIN %s does not add up (%s); the "
			 "personnel office has to correct it", pin, why);
	return -1;
}

static int ek_period_cmp(const void *a, const void *b)
{
	const struct ek_period *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->own != y->own)
		return x->own - y->own;   /* work book first, as it came first */
	return x->book - y->book;
}

/* Whole years, months and remaining days of the run [a, b] (both counted):
 * the most whole months m with a + m months <= b + 1 day, then the days
 * from there to b + 1 day. */
static void ek_ymd(long a, long b, int *years, int *months, int *days)
{
	long e = b + 1;
	int ay, am, ad, ey, em, ed, n;

	params_civil_from_days(a, &ay, &am, &ad);
	params_civil_from_days(e, &ey, &em, &ed);
	n = (ey - ay) * 12 + (em - am);
	if (ek_add_months(a, n) > e)
		n--;
	*years = n / 12;
	*months = n % 12;
	*days = (int)(e - ek_add_months(a, n));
}

/* Totals of the runs: each run's years, months and days summed, then every
 * 30 days carried into a month and every 12 months into a year. */
struct ek_total {
	long years, months, days, total_days;
};

static json_t *ek_run(long a, long b, struct ek_total *t)
{
	char from[11], to[11];
	int y, m, d;

	ek_ymd(a, b, &y, &m, &d);
	t->years += y;
	t->months += m;
	t->days += d;
	t->total_days += b - a + 1;
	params_date_format(a, from);
	params_date_format(b, to);
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:I}", "start_date", from, "end_date", to,
			 "years", y, "months", m, "days", d, "total_days", (json_int_t)(b - a + 1));
}

/* The periods as recorded (sorted), for the answer; employer: the name for
 * the periods here. */
static json_t *ek_periods_json(const struct ek_periods *ps, json_t *employer)
{
	json_t *arr = json_array();
	char from[11], to[11];
	int bad = arr == NULL;

	for (size_t i = 0; !bad && i < ps->n; i++) {
		const struct ek_period *p = &ps->p[i];

		params_date_format(p->start, from);
		if (p->end != LONG_MAX)
			params_date_format(p->end, to);
		bad |= json_array_append_new(arr, json_pack(
			"{s:s,s:O,s:s,s:o}", "source", p->own ? "e-kyzmat" : "work_book",
			"employer", p->own ? employer : json_array_get(ps->employers, (size_t)p->book),
			"start_date", from,
			"end_date", p->end != LONG_MAX ? json_string(to) : json_null())) != 0;
	}
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* Merges the sorted periods, cut at day on, into runs; sets the totals and
 * "runs" in o. 0 or -1 (out of memory). */
static int ek_runs(const struct ek_periods *ps, long on, json_t *o)
{
	struct ek_total t = { 0, 0, 0, 0 };
	json_t *runs = json_array();
	int have = 0, bad = runs == NULL;
	long a = 0, b = 0;

	for (size_t i = 0; i <= ps->n && !bad; i++) {
		long s = i < ps->n ? ps->p[i].start : LONG_MAX;
		long e = i < ps->n ? (ps->p[i].end < on ? ps->p[i].end : on) : LONG_MAX;

		if (i < ps->n && s > on)
			continue;               /* starts after the day asked for */
		if (have && i < ps->n && s <= b + 1) {
			b = e > b ? e : b;      /* overlaps or touches: one run */
			continue;
		}
		if (have)
			bad |= json_array_append_new(runs, ek_run(a, b, &t)) != 0;
		have = i < ps->n;
		a = s;
		b = e;
	}
	t.months += t.days / 30;
	t.days %= 30;
	t.years += t.months / 12;
	t.months %= 12;
	bad |= ek_set(o, "years", json_integer(t.years));
	bad |= ek_set(o, "months", json_integer(t.months));
	bad |= ek_set(o, "days", json_integer(t.days));
	bad |= ek_set(o, "total_days", json_integer(t.total_days));
	bad |= ek_set(o, "runs", runs);
	return bad ? -1 : 0;
}

/* The employer's name for the periods here (JSON null if not recorded). */
static json_t *ek_employer(struct sqlreg_ctx *c, struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_EMPLOYER);
	int rc = sqlreg_step(c->reg, st, res);
	json_t *v;

	if (rc < 0)
		return NULL;
	if (rc == 0)
		return json_null();
	v = sqlreg_col(st, 0);
	sqlite3_reset(st);
	if (v == NULL)
		adapter_result_oom(res);
	return v;
}

static void ek_length_of_service(struct sqlreg_ctx *c, const struct adapter_call *call,
				 struct adapter_result *res)
{
	struct ek_periods ps;          /* 2 KiB */
	char pin[EK_PARAM_MAX], on[11];
	json_t *o = NULL, *employer = NULL, *periods;
	long day;
	int bad = 0;

	if (ek_pin(call, pin, sizeof(pin), res) != 0 || ek_on(call, on, &day, res) != 0 ||
	    ek_employee_row(c, pin, &o, res) != 0)
		return;
	res->data = o;
	json_object_del(o, "birth_date");
	json_object_del(o, "sex");
	ps.n = 0;
	ps.employers = json_array();
	if (ps.employers == NULL) {
		adapter_result_oom(res);
		return;
	}
	if (ek_own_periods(c, pin, &ps, res) != 0 || ek_book_periods(c, pin, &ps, res) != 0 ||
	    (employer = ek_employer(c, res)) == NULL)
		goto out;
	qsort(ps.p, ps.n, sizeof(ps.p[0]), ek_period_cmp);
	periods = ek_periods_json(&ps, employer);
	json_decref(employer);
	bad |= ek_set(o, "on", json_string(on));
	bad |= ek_runs(&ps, day, o);
	bad |= ek_set(o, "periods", periods);   /* takes periods, even when it fails */
	if (bad)
		adapter_result_oom(res);
out:
	json_decref(ps.employers);
}

/* ---- vacancies -------------------------------------------------------- */

/* The optional "department": its code into code[EK_CODE_MAX + 1] ("" for
 * all). 0, or -1 with res set (an unknown code lists the valid ones). */
static int ek_department(struct sqlreg_ctx *c, const struct adapter_call *call, char *code,
			 struct adapter_result *res)
{
	char in[EK_PARAM_MAX], codes[512] = "?";
	sqlite3_stmt *st;
	int rc, ok;

	params_trimmed(call->params, "department", in, sizeof(in));
	code[0] = '\0';
	if (in[0] == '\0')
		return 0;
	if ((ok = params_code_ok(in, EK_CODE_MAX)) != 0) {
		st = SQLREG_BIND(c->reg, ST_DEPARTMENT, in);
		if ((rc = sqlreg_step(c->reg, st, res)) < 0)
			return -1;
		if (rc == 1) {
			sqlite3_reset(st);
			memcpy(code, in, strnlen(in, EK_CODE_MAX) + 1);   /* params_code_ok: fits */
			return 0;
		}
	}
	st = sqlreg_stmt(c->reg, ST_DEPT_CODES);
	if ((rc = sqlreg_step(c->reg, st, res)) < 0)
		return -1;
	if (rc == 1) {
		snprintf(codes, sizeof(codes), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	if (ok)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "unknown department '%s'; valid codes: %s", in, codes);
	else
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "department must be one of the codes: %s", codes);
	return -1;
}

static json_t *ek_vacancy(sqlite3_stmt *st)
{
	sqlite3_int64 t = sqlite3_column_int64(st, 9);
	char som[32];

	snprintf(som, sizeof(som), "%lld.%02lld", (long long)(t / 100), (long long)(t % 100));
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:s,s:o}",
			 "id", sqlreg_col(st, 0), "position", sqlreg_col(st, 1),
			 "position_ky", sqlreg_col(st, 2),
			 "position_ru", sqlreg_col(st, 3), "department", sqlreg_col(st, 4),
			 "department_ky", sqlreg_col(st, 5), "department_ru", sqlreg_col(st, 6),
			 "posts", (json_int_t)sqlite3_column_int64(st, 7),
			 "announced_on", sqlreg_col(st, 8),
			 "salary_tyiyn", (json_int_t)t, "salary_som", som,
			 "requirements", sqlreg_col(st, 10));
}

static void ek_vacancies(struct sqlreg_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	char code[EK_CODE_MAX + 1];
	sqlite3_stmt *st;
	json_t *arr;
	int rc, bad;

	if (ek_department(c, call, code, res) != 0)
		return;
	arr = json_array();
	res->data = json_pack("{s:o}", "department", code[0] ? json_string(code) : json_null());
	bad = arr == NULL || res->data == NULL;
	st = SQLREG_BIND(c->reg, ST_VACANCIES, code[0] ? code : NULL);
	while (!bad && (rc = sqlreg_step(c->reg, st, res)) == 1)
		bad |= json_array_append_new(arr, ek_vacancy(st)) != 0;
	if (bad) {
		sqlite3_reset(st);
	} else if (rc < 0) {
		json_decref(arr);
		return;
	}
	if (bad || ek_set(res->data, "count", json_integer((json_int_t)json_array_size(arr))) != 0) {
		json_decref(arr);
		adapter_result_oom(res);
		return;
	}
	if (ek_set(res->data, "vacancies", arr) != 0)
		adapter_result_oom(res);
}

/* ---- the ops table ---------------------------------------------------- */


static const char *const ek_pin_params[] = { "pin", NULL };
static const char *const ek_no_params[] = { NULL };

static const struct adapter_service ek_services[] = {
	{ "employee", "GET", ek_pin_params,
	  "A municipal employee by PIN: current position and career moves" },
	{ "length-of-service", "GET", ek_pin_params,
	  "Length of service by PIN to the day, up to a date (default today)" },
	{ "vacancies", "GET", ek_no_params, "Open vacancies (optional department)" },
};

static const sqlreg_handler_fn ek_handlers[] = { ek_employee, ek_length_of_service, ek_vacancies };

_Static_assert(sizeof(ek_services) / sizeof(ek_services[0]) ==
	       sizeof(ek_handlers) / sizeof(ek_handlers[0]), "one handler per service");

#define EK_N_SERVICES (sizeof(ek_services) / sizeof(ek_services[0]))

static const struct sqlreg_dispatch ek_dispatch = {
	ek_services, ek_handlers, EK_N_SERVICES, ADAPTER_INVALID_INPUT,
	"e-kyzmat has no such service", 0,
};

static void ek_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	sqlreg_dispatch(&ek_dispatch, vctx, call, done, arg);
}

static int ek_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&ek_db, host, vctx, err);
}

const struct adapter_ops e_kyzmat_adapter = {
	.name = "e-kyzmat",
	.services = ek_services,
	.n_services = EK_N_SERVICES,
	.init = ek_init,
	.handle = ek_handle,
	.free = sqlreg_ctx_free,
};
