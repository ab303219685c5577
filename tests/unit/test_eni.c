/* The real-estate identifier rule (adapters/common/eni.c): the forms it
 * accepts, the canonical digits and dashed form it gives, the reasons it
 * refuses, and that normalisation never makes two codes collide. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "adapters/common/eni.h"

static const struct {
	const char *in;
	const char *digits, *dashed, *kind;
} good[] = {
	/* the two forms domain.md names */
	{ "1-02-02-0007-0001-01-061", "102020007000101061", "1-02-02-0007-0001-01-061", "unit" },
	{ "7100600330016", "7100600330016", "7-10-06-0033-0016", "parcel" },
	/* each form of each kind, both ways round */
	{ "102020007000101061", "102020007000101061", "1-02-02-0007-0001-01-061", "unit" },
	{ "7-10-06-0033-0016", "7100600330016", "7-10-06-0033-0016", "parcel" },
	{ "1-02-02-0007-0001-01", "102020007000101", "1-02-02-0007-0001-01", "building" },
	{ "102020007000101", "102020007000101", "1-02-02-0007-0001-01", "building" },
	{ "7100600510234", "7100600510234", "7-10-06-0051-0234", "parcel" },
	{ "0000000000000", "0000000000000", "0-00-00-0000-0000", "parcel" },
};

static void test_valid(void **state)
{
	char why[160];
	struct eni e;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (eni_parse(good[i].in, &e, why, sizeof(why)) != 0)
			fail_msg("case %zu (%s): %s", i, good[i].in, why);
		assert_string_equal(why, "");
		assert_string_equal(e.digits, good[i].digits);
		assert_string_equal(e.dashed, good[i].dashed);
		assert_string_equal(e.kind, good[i].kind);
		assert_int_equal(e.groups, strcmp(good[i].kind, "parcel") == 0 ? 5 :
					   strcmp(good[i].kind, "building") == 0 ? 6 : 7);
	}
}

/* Round trip: both forms of a code give the same canonical digits. */
static void test_forms_agree(void **state)
{
	struct eni a, b;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(eni_parse(good[i].in, &a, NULL, 0), 0);
		assert_int_equal(eni_parse(a.dashed, &b, NULL, 0), 0);
		assert_string_equal(a.digits, b.digits);
		assert_int_equal(eni_parse(a.digits, &b, NULL, 0), 0);
		assert_string_equal(a.dashed, b.dashed);
	}
}

static void test_invalid(void **state)
{
	static const struct {
		const char *in;
		const char *why;   /* the whole reason */
	} cases[] = {
		{ NULL, "ENI (cadastral code) is missing" },
		{ "", "ENI (cadastral code) is missing" },
		{ "710060033001", "ENI must be 13, 15 or 18 digits, or dashed like 1-02-02-0007-0001-01-061; got 12 digits" },
		{ "71006003300160", "ENI must be 13, 15 or 18 digits, or dashed like 1-02-02-0007-0001-01-061; got 14 digits" },
		{ "1020200070001010610", "ENI must be 13, 15 or 18 digits, or dashed like 1-02-02-0007-0001-01-061; got 19 digits" },
		{ "7100600330016 ", "ENI may contain only digits and '-'; character 14 is not" },
		{ "7 10 06 0033 0016", "ENI may contain only digits and '-'; character 2 is not" },
		{ "71006OO330016", "ENI may contain only digits and '-'; character 6 is not" },
		{ "ЕНИ-7100600330016", "ENI may contain only digits and '-'; character 1 is not" },
		{ "1-02-02-0007-0001-01-06Б", "ENI may contain only digits and '-'; character 24 is not" },
		{ "1/02/02/0007/0001", "ENI may contain only digits and '-'; character 2 is not" },
		{ "7100600330016' OR '1'='1", "ENI may contain only digits and '-'; character 14 is not" },
		/* group widths are fixed: no padding, no re-splitting */
		{ "1-2-2-7-1", "ENI group 2 (district) must be 2 digits; got '2'" },
		{ "1-02-02-007-0001", "ENI group 4 (quarter) must be 4 digits; got '007'" },
		{ "1-0202-0007-0001-01-061", "ENI group 2 (district) must be 2 digits; got '0202'" },
		{ "10-2-02-0007-0001", "ENI group 1 (region) must be 1 digit; got '10'" },
		{ "1-02-02-0007-0001-010-61", "ENI group 6 (building) must be 2 digits; got '010'" },
		{ "1-02-02-0007-0001-01-61", "ENI group 7 (unit) must be 3 digits; got '61'" },
		/* an eighth group cannot fit in 24 characters */
		{ "1-02-02-0007-0001-01-061-1", "ENI must be at most 24 characters; got 26" },
		{ "1-02-02-0007", "ENI must have 5, 6 or 7 dash-separated groups, like 1-02-02-0007-0001-01-061; got 4" },
		{ "-1-02-02-0007-0001", "ENI group 1 (region) must be 1 digit; got nothing" },
		{ "1--02-02-0007-0001", "ENI group 2 (district) must be 2 digits; got nothing" },
		{ "1-02-02-0007-0001-", "ENI must not end with '-'" },
		{ "-", "ENI group 1 (region) must be 1 digit; got nothing" },
		{ "1-02-02-0007-0001-01-0610000", "ENI must be at most 24 characters; got 28" },
	};
	char why[160];
	struct eni e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0x55, sizeof(e));
		assert_int_equal(eni_parse(cases[i].in, &e, why, sizeof(why)), -1);
		if (strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu (%s): got '%s', want '%s'", i,
				 cases[i].in ? cases[i].in : "NULL", why, cases[i].why);
		/* nothing half-parsed is left for a careless caller */
		assert_string_equal(e.digits, "");
		assert_null(e.kind);
	}
}

static void test_long_and_small_buffers(void **state)
{
	char big[300], why[160];
	struct eni e;

	memset(big, '7', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(eni_parse(big, &e, why, sizeof(why)), -1);
	assert_string_equal(why, "ENI must be at most 24 characters; got more than 63");
	/* 64 digits exactly, no terminator read beyond */
	big[64] = '\0';
	assert_int_equal(eni_parse(big, &e, NULL, 0), -1);
	/* a small reason buffer is cut, never overrun */
	memset(why, 'x', sizeof(why));
	assert_int_equal(eni_parse("1", &e, why, 4), -1);
	assert_string_equal(why, "ENI");
	assert_int_equal(why[4], 'x');
	/* the reason buffer is cleared on success */
	assert_int_equal(eni_parse("7100600330016", &e, why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

/* Different codes never normalise to the same digits: all the valid codes
 * made from a few group values, pairwise. */
static void test_no_collisions(void **state)
{
	static const char *const values[7][2] = {
		{ "1", "7" }, { "02", "10" }, { "02", "06" }, { "0007", "0033" },
		{ "0001", "0016" }, { "01", "10" }, { "061", "610" },
	};
	char codes[3 * 128][ENI_DASHED_MAX + 1];
	char digits[3 * 128][ENI_DIGITS_MAX + 1];
	size_t n = 0;
	struct eni e;

	for (int groups = 5; groups <= 7; groups++) {
		for (unsigned mask = 0; mask < (1u << groups); mask++) {
			size_t len = 0;

			for (int g = 0; g < groups; g++)
				len += (size_t)snprintf(codes[n] + len, sizeof(codes[n]) - len, "%s%s",
							g ? "-" : "", values[g][(mask >> g) & 1]);
			assert_int_equal(eni_parse(codes[n], &e, NULL, 0), 0);
			assert_string_equal(e.dashed, codes[n]);
			memcpy(digits[n], e.digits, sizeof(digits[n]));
			n++;
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(codes[i], codes[j]) != 0 && strcmp(digits[i], digits[j]) == 0)
				fail_msg("%s and %s both normalise to %s", codes[i], codes[j], digits[i]);
	/* the collision stripping would make, refused rather than made */
	assert_int_equal(eni_parse("1-02-02-0007-0001-010-61", &e, NULL, 0), -1);
	assert_int_equal(eni_parse("1-02-02-0007-0001-01-061", &e, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_forms_agree),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_long_and_small_buffers),
		cmocka_unit_test(test_no_collisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
