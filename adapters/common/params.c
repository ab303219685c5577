/* Request parameters and dates: see params.h. */
#include "adapters/common/params.h"

#include "adapters/adapter.h"
#include "lib/names.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* XML white space: what an indented SOAP body puts around a value. */
static int params_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The names asked for since params_track_begin (copied: a name may live in
 * a caller's buffer). */
static _Thread_local struct {
	int on;
	struct names asked;
} tracked;

static void params_note(const char *name)
{
	if (tracked.on)
		names_add(&tracked.asked, name);
}

void params_track_begin(void)
{
	tracked.on = 1;
	tracked.asked.n = 0;
}

int params_unread(const json_t *params, const char *service, struct adapter_result *res)
{
	const char *key, *unread = NULL;
	json_t *v;
	char list[256];

	tracked.on = 0;
	json_object_foreach((json_t *)params, key, v) {
		(void)v;
		if (!names_has(&tracked.asked, key)) {
			unread = key;
			break;
		}
	}
	if (!unread || res->status == ADAPTER_INVALID_INPUT)
		return unread ? -1 : 0;
	names_join(&tracked.asked, list, sizeof(list));
	adapter_result_error(res, ADAPTER_INVALID_INPUT, "unknown parameter '%.64s'; %s reads %s",
			     unread, service ? service : "this service", list);
	return -1;
}

const char *params_str(const json_t *params, const char *name)
{
	const json_t *v = params ? json_object_get(params, name) : NULL;

	params_note(name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void params_trimmed(const json_t *params, const char *name, char *out, size_t cap)
{
	const char *s = params_str(params, name);
	size_t n;

	out[0] = '\0';
	if (s == NULL)
		return;
	while (params_space(*s))
		s++;
	n = strnlen(s, cap - 1);
	while (n > 0 && params_space(s[n - 1]))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

int params_get(const json_t *params, const char *name, char *out, size_t cap)
{
	const json_t *v = params ? json_object_get(params, name) : NULL;
	const char *s;
	size_t n;

	params_note(name);
	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		goto refused;
	s = json_string_value(v);
	n = json_string_length(v);
	while (n > 0 && params_space(*s)) {
		s++;
		n--;
	}
	while (n > 0 && params_space(s[n - 1]))
		n--;
	if (n >= cap)
		goto refused;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
refused:
	snprintf(out, cap, "?");
	return -1;
}

int params_key_ok(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

int params_code_ok(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
		else if (s[i] == '-')
			s[i] = '_';
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return 0;
	}
	return 1;
}

static const char *const params_alpha2[][2] = {
	{ "KG", "KGZ" }, { "KZ", "KAZ" }, { "UZ", "UZB" }, { "TJ", "TJK" }, { "TM", "TKM" },
	{ "RU", "RUS" }, { "CN", "CHN" }, { "TR", "TUR" }, { "AF", "AFG" }, { "UA", "UKR" },
	{ "BY", "BLR" }, { "KR", "KOR" }, { "DE", "DEU" }, { "US", "USA" },
};

int params_citizenship(const char *in, char out[4])
{
	size_t n = strnlen(in, 4);

	if (n != 2 && n != 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch < 'A' || ch > 'Z')
			return -1;
		out[i] = ch;
	}
	out[n] = '\0';
	if (n == 3)
		return 0;
	for (size_t i = 0; i < sizeof(params_alpha2) / sizeof(params_alpha2[0]); i++) {
		if (strcmp(out, params_alpha2[i][0]) == 0) {
			memcpy(out, params_alpha2[i][1], 4);
			return 0;
		}
	}
	return -1;
}

/* ---- dates ---------------------------------------------------------------- */

int params_days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

long params_days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void params_civil_from_days(long z, int *y, int *m, int *d)
{
	long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

void params_date_format(long z, char out[11])
{
	int y, m, d;

	params_civil_from_days(z, &y, &m, &d);
	/* the modulos keep the width fixed for any z; dates we parsed fit anyway */
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
}

int params_date_parse(const char *s, long *days)
{
	int y, m, d;

	if (s == NULL || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
		return PARAMS_DATE_SHAPE;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return PARAMS_DATE_SHAPE;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > params_days_in_month(y, m))
		return PARAMS_DATE_NO_DAY;
	*days = params_days_from_civil(y, m, d);
	return 0;
}

void params_today(const char *as_of, struct params_day *out)
{
	time_t now = time(NULL);
	struct tm tm;

	if (as_of != NULL && params_date_parse(as_of, &out->days) == 0) {
		memcpy(out->iso, as_of, 10);
		out->iso[10] = '\0';
		return;
	}
	if (localtime_r(&now, &tm) == NULL || strftime(out->iso, sizeof(out->iso), "%Y-%m-%d", &tm) != 10 ||
	    params_date_parse(out->iso, &out->days) != 0) {
		memcpy(out->iso, "1970-01-01", 11);
		out->days = 0;
	}
}

int params_date_arg(const json_t *params, const char *name, int flags,
		    const struct params_day *today, struct params_day *out, char *why, size_t len)
{
	/* the caller's cap: a longer value is refused as not a date */
	if (params_get(params, name, out->iso, sizeof(out->iso)) != 0 ||
	    (out->iso[0] != '\0' && params_date_parse(out->iso, &out->days) != 0)) {
		snprintf(why, len, "%s must be a date YYYY-MM-DD, e.g. 2026-03-01", name);
		return -1;
	}
	if (out->iso[0] == '\0' && (flags & PARAMS_DATE_REQUIRED)) {
		snprintf(why, len, "%s is missing (a date YYYY-MM-DD)", name);
		return -1;
	}
	if (out->iso[0] == '\0')
		*out = *today;
	if ((flags & PARAMS_DATE_NOT_FUTURE) && out->days > today->days) {
		snprintf(why, len, "%s %s is after today (%s)", name, out->iso, today->iso);
		return -1;
	}
	return 0;
}

int params_date_upto_today(const json_t *params, const char *name, const char *past_only,
			   struct params_day *out, char *why, size_t len)
{
	struct params_day today;
	char in[96];
	int rc;

	params_today(NULL, &today);
	params_trimmed(params, name, in, sizeof(in));
	if (in[0] == '\0') {
		*out = today;
		return 0;
	}
	rc = params_date_parse(in, &out->days);
	if (rc == PARAMS_DATE_SHAPE)
		snprintf(why, len, "%s must be a date YYYY-MM-DD, e.g. 2024-03-01", name);
	else if (rc == PARAMS_DATE_NO_DAY)
		snprintf(why, len, "%s: %s is not a calendar date between 1900-01-01 and today", name, in);
	else if (out->days > today.days)
		snprintf(why, len, "%s: %s is after today (%s); %s", name, in, today.iso, past_only);
	else
		memcpy(out->iso, in, sizeof(out->iso));   /* parsed: exactly 10 bytes */
	return rc == 0 && out->days <= today.days ? 0 : -1;
}

const char *params_json_why(const json_error_t *e)
{
	if (strstr(e->text, "JSON_ALLOW_NUL"))
		return "a string holds the character U+0000 (\\u0000), which no field may contain";
	return e->text;
}

void params_json_not_object(const json_t *v, const json_error_t *e, char *out, size_t cap)
{
	static const char *const kinds[] = { "an object", "an array", "a string", "a number", "a number",
					     "true", "false", "null" };

	if (v)
		snprintf(out, cap, "it is %s", (size_t)json_typeof(v) < sizeof(kinds) / sizeof(kinds[0]) ?
			 kinds[json_typeof(v)] : "another value");
	else
		snprintf(out, cap, "line %d, column %d: %.80s", e->line, e->column, params_json_why(e));
}
