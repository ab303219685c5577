/* PIN validation: see pin.h for the rule and why there is no checksum. */
#include "adapters/common/pin.h"

#include <stdio.h>
#include <string.h>

/* Longer input is refused without being read further. */
#define PIN_SCAN_MAX 64

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int digits_value(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Characters, not bytes: a clerk who typed Cyrillic letters should be told
 * how many characters they typed. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

static int check_shape(const char *pin, char *why, size_t len)
{
	size_t n;

	if (pin == NULL || pin[0] == '\0') {
		snprintf(why, len, "PIN is missing");
		return -1;
	}
	n = strnlen(pin, PIN_SCAN_MAX);
	if (n == PIN_SCAN_MAX) {
		snprintf(why, len, "PIN must be %d digits; got more than %d characters", PIN_LEN,
			 PIN_SCAN_MAX - 1);
		return -1;
	}
	/* What is wrong first: "got 14" for 14 full-width digits said nothing. */
	for (size_t i = 0; i < n; i++) {
		if (pin[i] < '0' || pin[i] > '9') {
			snprintf(why, len, "PIN must contain digits 0-9 only; character %zu is not one",
				 utf8_chars(pin, i) + 1);
			return -1;
		}
	}
	if (n != PIN_LEN) {
		snprintf(why, len, "PIN must be %d digits; got %zu", PIN_LEN, n);
		return -1;
	}
	if (pin[0] != '1' && pin[0] != '2') {
		snprintf(why, len, "PIN must start with 1 (female) or 2 (male); got %c", pin[0]);
		return -1;
	}
	return 0;
}

static int check_date(const char *pin, time_t now, char *why, size_t len)
{
	int d = digits_value(pin + 1, 2), m = digits_value(pin + 3, 2), y = digits_value(pin + 5, 4);
	struct tm today;

	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
		snprintf(why, len, "PIN digits 2-9 must be the birth date DDMMYYYY; %.8s is not a date",
			 pin + 1);
		return -1;
	}
	if (y < 1900) {
		snprintf(why, len, "PIN birth year %04d is before 1900", y);
		return -1;
	}
	/* The gateway runs where the people live, so "today" is local time. */
	if (localtime_r(&now, &today) == NULL)
		return 0;
	if (y * 10000 + m * 100 + d >
	    (today.tm_year + 1900) * 10000 + (today.tm_mon + 1) * 100 + today.tm_mday) {
		snprintf(why, len, "PIN birth date %02d.%02d.%04d is in the future", d, m, y);
		return -1;
	}
	return 0;
}

int pin_check_at(const char *pin, time_t now, char *why, size_t len)
{
	char scratch[8];

	/* A caller that does not want the reason may pass why = NULL. */
	if (why == NULL || len == 0) {
		why = scratch;
		len = sizeof(scratch);
	}
	if (check_shape(pin, why, len) != 0 || check_date(pin, now, why, len) != 0)
		return -1;
	why[0] = '\0';
	return 0;
}

int pin_check(const char *pin, char *why, size_t len)
{
	return pin_check_at(pin, time(NULL), why, len);
}
