/* Request parameters and dates: the small rules every adapter applies the
 * same way, so that they accept and refuse the same things.
 *
 * Parameters arrive as an object of name -> string (adapter.h). SOAP bodies
 * are usually indented, so values are taken without surrounding XML white
 * space (space, tab, CR, LF). Every value is copied into a caller's buffer
 * of a fixed size: nothing longer than that is ever looked at.
 *
 * Dates are strict YYYY-MM-DD of the proleptic Gregorian calendar, years
 * 1900..9999, and must be real days (no 31 April, no 29 February 2023).
 * Arithmetic is on day numbers (days since 1970-01-01, H. Hinnant's civil
 * algorithms), so "the next day" is n + 1 across months and leap years and
 * no time zone is involved. "Today" is the gateway's local date, as
 * pin_check uses (the gateway runs in the registry's time zone). */
#ifndef AILGATE_ADAPTERS_COMMON_PARAMS_H
#define AILGATE_ADAPTERS_COMMON_PARAMS_H

#include <jansson.h>
#include <stddef.h>

/* ---- parameters ----------------------------------------------------------- */

struct adapter_result;

/* Parameters nobody read: a misspelt "onn=2010-01-01" must not be answered
 * for today as if it were absent. Between params_track_begin() and
 * params_unread(), on one thread, params_str and params_get (and what is
 * built on them) note each name asked for; params_unread then refuses
 * (ADAPTER_INVALID_INPUT, into res: "unknown parameter 'onn'; SERVICE reads
 * on, pin") a call that carried a parameter its service never asked for,
 * whatever the service answered, and returns -1; 0 when there was none.
 * A service that refused the call as invalid input keeps its own reason. */
void params_track_begin(void);
int params_unread(const json_t *params, const char *service, struct adapter_result *res);

/* params[name] if it is a JSON string, else NULL (params NULL, name absent,
 * null, or another type). Borrowed from params. */
const char *params_str(const json_t *params, const char *name);

/* Why jansson refused a body, for a person: its own text, except where it
 * names one of its flags ("\\u0000 is not allowed without JSON_ALLOW_NUL"). */
const char *params_json_why(const json_error_t *e);

/* Why a body parsed to v (or not: v NULL, e says why) is not a JSON object,
 * for a person, into out[cap]: "it is an array", or the parser's reason with
 * its position. */
void params_json_not_object(const json_t *v, const json_error_t *e, char *out, size_t cap);

/* Lenient: the named parameter without surrounding white space into
 * out[cap] (cap >= 1), cut to cap - 1 bytes: a validator then sees the
 * over-long value and refuses it. "" if it is not a string. */
void params_trimmed(const json_t *params, const char *name, char *out, size_t cap);

/* Strict: 0 with the trimmed value in out[cap] ("" if absent or JSON null);
 * -1 if it is not a string or does not fit out[cap] (cap >= 2), out then "?"
 * so that a caller can tell a refused value from a missing one. */
int params_get(const json_t *params, const char *name, char *out, size_t cap)
	__attribute__((warn_unused_result));

/* Identifiers such as household ids, document and account numbers: 1..max
 * ASCII letters, digits and '-', folded to upper case in place. 1 if s is
 * one, 0 if not. */
int params_key_ok(char *s, size_t max);

/* Code-list values (a category, a department): 1..max ASCII letters and '_',
 * folded to the stored form in place (lower case, '-' read as '_'). 1 if s
 * is one, 0 if not. */
int params_code_ok(char *s, size_t max);

/* A citizenship as ISO 3166-1 alpha-3, upper-cased into out[4]. Registers
 * store alpha-3; clerks often type alpha-2 for the neighbours and the common
 * countries, so those are mapped (KZ -> KAZ). 0, or -1 if in is neither. */
int params_citizenship(const char *in, char out[4]);

/* ---- dates ---------------------------------------------------------------- */

#define PARAMS_DATE_SHAPE (-1)    /* not YYYY-MM-DD */
#define PARAMS_DATE_NO_DAY (-2)   /* shaped right, but no such day (or before 1900) */

/* A day: the text and its number. */
struct params_day {
	char iso[11];                 /* YYYY-MM-DD */
	long days;                    /* since 1970-01-01 */
};

/* Days in month m (1..12) of year y. */
int params_days_in_month(int y, int m);

/* The day number of y-m-d (m 1..12, d 1..31; not checked). */
long params_days_from_civil(int y, int m, int d);

/* The date of day number z. */
void params_civil_from_days(long z, int *y, int *m, int *d);

/* Day number z as YYYY-MM-DD into out[11]. */
void params_date_format(long z, char out[11]);

/* s (may be NULL; at most 11 bytes are read) as a date: 0 with *days set,
 * or PARAMS_DATE_SHAPE / PARAMS_DATE_NO_DAY (*days untouched). */
int params_date_parse(const char *s, long *days) __attribute__((warn_unused_result));

/* Flags of params_date_arg. */
#define PARAMS_DATE_REQUIRED 1    /* absent is refused, not today */
#define PARAMS_DATE_NOT_FUTURE 2  /* after today is refused */

/* A date parameter of a query over dates (a range, a day): at most 10 bytes
 * after trimming; when absent, today unless PARAMS_DATE_REQUIRED. 0 with
 * *out; -1 with a sentence for the caller in why[len]:
 *   "NAME must be a date YYYY-MM-DD, e.g. 2026-03-01"   (any malformed value)
 *   "NAME is missing (a date YYYY-MM-DD)"
 *   "NAME VALUE is after today (TODAY)"                  (PARAMS_DATE_NOT_FUTURE) */
int params_date_arg(const json_t *params, const char *name, int flags,
		    const struct params_day *today, struct params_day *out, char *why, size_t len)
	__attribute__((warn_unused_result));

/* The date an answer is given as of (a status "on" a day): today when
 * absent, a past or present day otherwise; read up to 95 bytes. 0 with
 * *out; -1 with a sentence for the caller in why[len] that tells a bad shape
 * from an impossible day from the future:
 *   "NAME must be a date YYYY-MM-DD, e.g. 2024-03-01"
 *   "NAME: VALUE is not a calendar date between 1900-01-01 and today"
 *   "NAME: VALUE is after today (TODAY); PAST_ONLY"   (why the future is refused) */
int params_date_upto_today(const json_t *params, const char *name, const char *past_only,
			   struct params_day *out, char *why, size_t len)
	__attribute__((warn_unused_result));

/* Today, or the day as_of names when it is a date (a fixed "today" for
 * tests and for replaying a past day; NULL or "" for the clock). If the
 * clock cannot be read, 1970-01-01. */
void params_today(const char *as_of, struct params_day *out);

#endif
