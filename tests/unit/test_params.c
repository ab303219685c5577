/* adapters/common/params: parameters (trimmed, capped, refused), identifier
 * and code-list forms, citizenships, and dates (shape, impossible days,
 * day numbers both ways, "today" with an as_of override, the two date
 * parameter rules and their messages). Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/common/params.h"

/* ---- parameters ------------------------------------------------------------ */

static void test_trimmed(void **state)
{
	json_t *p = json_pack("{s:s,s:s,s:s,s:i,s:n,s:s}", "pin", " \t21205197500417\r\n", "empty", "",
			      "long", "  abcdefghij  ", "num", 42, "nul", "inner", " a b ");
	char out[8];

	(void)state;
	params_trimmed(p, "pin", out, sizeof(out));
	assert_string_equal(out, "2120519");               /* cut to cap - 1 */
	params_trimmed(p, "long", out, sizeof(out));
	assert_string_equal(out, "abcdefg");
	params_trimmed(p, "inner", out, sizeof(out));
	assert_string_equal(out, "a b");                   /* inside: kept */
	for (size_t i = 0; i < 4; i++) {
		static const char *const none[] = { "empty", "num", "nul", "absent" };

		strcpy(out, "x");
		params_trimmed(p, none[i], out, sizeof(out));
		assert_string_equal(out, "");
	}
	params_trimmed(NULL, "pin", out, sizeof(out));
	assert_string_equal(out, "");
	assert_string_equal(params_str(p, "empty"), "");
	assert_null(params_str(p, "num"));
	assert_null(params_str(NULL, "num"));
	json_decref(p);
}

static void test_get(void **state)
{
	static const struct {
		const char *key;
		int rc;
		const char *out;
	} cases[] = {
		{ "ok", 0, "ID" },
		{ "spaces", 0, "" },              /* only white space: absent */
		{ "fits", 0, "1234567" },         /* 7 bytes in out[8] */
		{ "long", -1, "?" },              /* refused, not cut */
		{ "num", -1, "?" },
		{ "nul", 0, "" },
		{ "absent", 0, "" },
	};
	json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:i,s:n}", "ok", "\n  ID \n", "spaces", " \t ",
			      "fits", " 1234567 ", "long", "12345678", "num", 1, "nul");
	char out[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(params_get(p, cases[i].key, out, sizeof(out)), cases[i].rc);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(params_get(NULL, "ok", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	json_decref(p);
}

static void test_keys_and_codes(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *out;
	} keys[] = {
		{ "lbd-0001", 1, "LBD-0001" }, { "N1234567", 1, "N1234567" }, { "", 0, "" },
		{ "LBD 0001", 0, NULL }, { "LBD-0001'--", 0, NULL }, { "ЛБД-1", 0, NULL },
		{ "12345678901234567890123456789012", 1, "12345678901234567890123456789012" },
		{ "123456789012345678901234567890123", 0, NULL },
	}, codes[] = {
		{ "Disability", 1, "disability" }, { "lonely-pensioner", 1, "lonely_pensioner" },
		{ "uy_bulogo_komok", 1, "uy_bulogo_komok" }, { "", 0, NULL }, { "land1", 0, NULL },
		{ "a b", 0, NULL }, { "'; DROP TABLE x", 0, NULL },
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", keys[i].in);
		assert_int_equal(params_key_ok(buf, 32), keys[i].ok);
		if (keys[i].out)
			assert_string_equal(buf, keys[i].out);
	}
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", codes[i].in);
		assert_int_equal(params_code_ok(buf, 32), codes[i].ok);
		if (codes[i].out)
			assert_string_equal(buf, codes[i].out);
	}
}

static void test_citizenship(void **state)
{
	static const struct {
		const char *in, *out;   /* out NULL: refused */
	} cases[] = {
		{ "KAZ", "KAZ" }, { "kaz", "KAZ" }, { "kz", "KAZ" }, { "KG", "KGZ" }, { "us", "USA" },
		{ "XYZ", "XYZ" },       /* any alpha-3 shape: the register decides */
		{ "XX", NULL }, { "K1Z", NULL }, { "", NULL }, { "KAZA", NULL }, { "КАЗ", NULL },
	};
	char out[4];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = params_citizenship(cases[i].in, out);

		if (cases[i].out == NULL) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out, cases[i].out);
	}
}

/* ---- dates ---------------------------------------------------------------------- */

static void test_date_parse(void **state)
{
	static const struct {
		const char *s;
		int rc;
		long days;
	} cases[] = {
		{ "1970-01-01", 0, 0 }, { "1970-01-02", 0, 1 }, { "1969-12-31", 0, -1 },
		{ "2000-02-29", 0, 11016 }, { "2024-03-01", 0, 19783 }, { "1900-01-01", 0, -25567 },
		{ "9999-12-31", 0, 2932896 },
		{ "2023-02-29", PARAMS_DATE_NO_DAY, 0 },    /* not a leap year */
		{ "1900-02-29", PARAMS_DATE_NO_DAY, 0 },    /* nor is 1900 */
		{ "2024-04-31", PARAMS_DATE_NO_DAY, 0 }, { "2024-13-01", PARAMS_DATE_NO_DAY, 0 },
		{ "2024-00-10", PARAMS_DATE_NO_DAY, 0 }, { "2024-01-00", PARAMS_DATE_NO_DAY, 0 },
		{ "1899-12-31", PARAMS_DATE_NO_DAY, 0 },
		{ "2024-3-1", PARAMS_DATE_SHAPE, 0 }, { "2024/03/01", PARAMS_DATE_SHAPE, 0 },
		{ "2024-03-01x", PARAMS_DATE_SHAPE, 0 }, { "", PARAMS_DATE_SHAPE, 0 },
		{ NULL, PARAMS_DATE_SHAPE, 0 }, { "2024-0a-01", PARAMS_DATE_SHAPE, 0 },
		{ "+024-03-01", PARAMS_DATE_SHAPE, 0 },
	};
	char back[11];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long d = 12345;

		if (params_date_parse(cases[i].s, &d) != cases[i].rc)
			fail_msg("case %zu (%s)", i, cases[i].s ? cases[i].s : "NULL");
		if (cases[i].rc != 0) {
			assert_int_equal(d, 12345);   /* untouched */
			continue;
		}
		assert_int_equal(d, cases[i].days);
		params_date_format(d, back);
		assert_string_equal(back, cases[i].s);
	}
}

/* Day numbers and dates agree both ways over four centuries. */
static void test_civil_round_trip(void **state)
{
	long start = params_days_from_civil(1900, 1, 1);
	int y, m, d, py = 1899, pm = 12, pd = 31;

	(void)state;
	for (long z = start; z < start + 146097; z++) {
		params_civil_from_days(z, &y, &m, &d);
		assert_int_equal(params_days_from_civil(y, m, d), z);
		/* each day follows the one before */
		if (d == 1)
			assert_true((m == 1 && y == py + 1 && pm == 12 && pd == 31) ||
				    (m == pm + 1 && y == py && pd == params_days_in_month(py, pm)));
		else
			assert_true(y == py && m == pm && d == pd + 1);
		py = y;
		pm = m;
		pd = d;
	}
	assert_int_equal(params_days_in_month(2024, 2), 29);
	assert_int_equal(params_days_in_month(2100, 2), 28);
	assert_int_equal(params_days_in_month(2000, 2), 29);
	assert_int_equal(params_days_in_month(2023, 11), 30);
}

static void test_today(void **state)
{
	struct params_day day, clock_day;
	time_t now = time(NULL);
	struct tm tm;
	char want[11];

	(void)state;
	localtime_r(&now, &tm);
	strftime(want, sizeof(want), "%Y-%m-%d", &tm);
	params_today(NULL, &clock_day);
	if (strcmp(clock_day.iso, want) != 0) {      /* midnight passed between the two */
		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(want, sizeof(want), "%Y-%m-%d", &tm);
	}
	assert_string_equal(clock_day.iso, want);
	assert_int_equal(clock_day.days, params_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1,
								 tm.tm_mday));
	params_today("", &day);
	assert_string_equal(day.iso, clock_day.iso);
	params_today("2024-03-01", &day);
	assert_string_equal(day.iso, "2024-03-01");
	assert_int_equal(day.days, 19783);
	params_today("2024-02-30", &day);            /* not a day: the clock */
	assert_string_equal(day.iso, clock_day.iso);
}

static void test_date_arg(void **state)
{
	static const struct params_day today = { "2026-03-18", 20530 };
	static const struct {
		const char *val;
		int flags;
		const char *iso;   /* NULL: refused with why */
		const char *why;
	} cases[] = {
		{ "2026-03-01", 0, "2026-03-01", NULL },
		{ " 2026-03-18\n", PARAMS_DATE_NOT_FUTURE, "2026-03-18", NULL },
		{ NULL, 0, "2026-03-18", NULL },
		{ NULL, PARAMS_DATE_REQUIRED, NULL, "from is missing (a date YYYY-MM-DD)" },
		{ "", PARAMS_DATE_REQUIRED, NULL, "from is missing (a date YYYY-MM-DD)" },
		{ "2026-3-1", 0, NULL, "from must be a date YYYY-MM-DD, e.g. 2026-03-01" },
		{ "2026-02-30", 0, NULL, "from must be a date YYYY-MM-DD, e.g. 2026-03-01" },
		{ "2026-03-018", 0, NULL, "from must be a date YYYY-MM-DD, e.g. 2026-03-01" },
		{ "2026-03-19", 0, "2026-03-19", NULL },
		{ "2026-03-19", PARAMS_DATE_NOT_FUTURE, NULL,
		  "from 2026-03-19 is after today (2026-03-18)" },
	};
	struct params_day out;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = cases[i].val ? json_pack("{s:s}", "from", cases[i].val) : json_object();
		int rc = params_date_arg(p, "from", cases[i].flags, &today, &out, why, sizeof(why));

		json_decref(p);
		if (cases[i].iso == NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(why, cases[i].why);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out.iso, cases[i].iso);
		assert_int_equal(out.days, 20530 + (strcmp(cases[i].iso, "2026-03-18") > 0) -
				 (strcmp(cases[i].iso, "2026-03-01") == 0) * 17);
	}
}

static void test_date_upto_today(void **state)
{
	static const struct {
		const char *val;
		const char *iso;   /* NULL: refused */
		const char *why;   /* the start of the sentence */
	} cases[] = {
		{ "2024-02-29", "2024-02-29", NULL },
		{ "  1900-01-01\n", "1900-01-01", NULL },
		{ "2024-02-30", NULL, "on: 2024-02-30 is not a calendar date between 1900-01-01 and today" },
		{ "1899-12-31", NULL, "on: 1899-12-31 is not a calendar date between 1900-01-01 and today" },
		{ "1.3.2024", NULL, "on must be a date YYYY-MM-DD, e.g. 2024-03-01" },
		{ "2024-03-01T00:00", NULL, "on must be a date YYYY-MM-DD, e.g. 2024-03-01" },
		{ "9999-12-31", NULL, "on: 9999-12-31 is after today (" },
	};
	struct params_day out, now;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = json_pack("{s:s}", "on", cases[i].val);
		int rc = params_date_upto_today(p, "on", "only the past counts", &out, why, sizeof(why));

		json_decref(p);
		if (cases[i].iso == NULL) {
			assert_int_equal(rc, -1);
			if (strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
				fail_msg("case %zu: '%s' does not start with '%s'", i, why, cases[i].why);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out.iso, cases[i].iso);
	}
	assert_non_null(strstr(why, "); only the past counts"));
	/* absent: today */
	params_today(NULL, &now);
	assert_int_equal(params_date_upto_today(NULL, "on", "x", &out, why, sizeof(why)), 0);
	assert_string_equal(out.iso, now.iso);
	assert_int_equal(out.days, now.days);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trimmed),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_keys_and_codes),
		cmocka_unit_test(test_citizenship),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_civil_round_trip),
		cmocka_unit_test(test_today),
		cmocka_unit_test(test_date_arg),
		cmocka_unit_test(test_date_upto_today),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
