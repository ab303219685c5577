/* Consents (store/consent.h) and the consent adapter (adapters/consent), on
 * real SQLite files in a temp dir, codes delivered through the file channel
 * and read back from it as a person would read an SMS.
 *   store    every transition (pending -> active -> withdrawn / expired,
 *            pending -> void by expired code, by 5 wrong codes, by failed
 *            delivery), wrong codes counted, someone else's consent, what a
 *            refused bank is told, the open-request cap, input rules, the code
 *            never stored, injection-shaped input stored verbatim
 *   otp      console and file channels, bad specs
 *   gate     the pipeline's call: recorded, refused, allowed, no person named
 *   adapter  the five services over REST (JSON body) and SOAP (parameters), the
 *            person-only rule (X-Road-UserId), the report listing the bank's
 *            queries newest first, config errors, SOAP answers against
 *            wsdl/consent.wsdl */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/consent.h"
#include "adapter_test.h"

extern const struct adapter_ops consent_adapter;

#define PIN "21205197500417"
#define PIN2 "10309197901235"
#define BANK "COM/60000001"
#define BANK2 "COM/60000002"
#define BANK_IS "central-server/COM/60000001/bank-is"
#define PORTAL "central-server/GOV/70000073/portal"
#define FAMILY "central-server/GOV/70000050/sanaripaymak-service/family-members"
#define NS "http://tunduk.kg/consent"

struct t {
	char dir[64];
	char otp_path[128];
	char otp_spec[140];
	struct consent_store *cs;
	struct otp_channel *otp;
	time_t now;
};

static int setup_store(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	char path[128], *err = NULL;

	if (t == NULL || temp_dir(t->dir, sizeof(t->dir), "consent") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/" CONSENT_FILE, t->dir);
	snprintf(t->otp_path, sizeof(t->otp_path), "%s/otp.jsonl", t->dir);
	snprintf(t->otp_spec, sizeof(t->otp_spec), "file:%s", t->otp_path);
	if (consent_store_open(path, &t->cs, &err) != 0 || err != NULL ||
	    consent_otp_new(t->otp_spec, &t->otp, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	t->now = time(NULL);
	*state = t;
	return 0;
}

static int teardown_store(void **state)
{
	struct t *t = *state;

	consent_store_close(&t->cs);
	consent_otp_free(&t->otp);
	rm_rf(t->dir);
	free(t);
	return 0;
}

/* The local date of now + days, YYYY-MM-DD. */
static const char *date_plus(time_t now, int days)
{
	static char out[4][11];
	static int k;
	struct tm tm;

	k = (k + 1) % 4;
	assert_non_null(localtime_r(&now, &tm));
	tm.tm_hour = 12;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	mktime(&tm);
	assert_int_equal(strftime(out[k], 11, "%Y-%m-%d", &tm), 10);
	return out[k];
}

/* The last code the file channel delivered for consent id, with its line. */
static const char *otp_code(struct t *t, long long id, json_t **line_out)
{
	static char code[8];
	char want[24], buf[512];
	FILE *fp = fopen(t->otp_path, "r");

	code[0] = '\0';
	snprintf(want, sizeof(want), "%lld", id);
	assert_non_null(fp);
	while (fgets(buf, sizeof(buf), fp)) {
		json_t *o = json_loads(buf, 0, NULL);

		assert_non_null(o);
		if (strcmp(json_string_value(json_object_get(o, "consent_id")), want) == 0) {
			snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(o, "code")));
			if (line_out) {
				json_decref(*line_out);
				*line_out = json_incref(o);
			}
		}
		json_decref(o);
	}
	fclose(fp);
	if (code[0] == '\0')
		fail_msg("no code delivered for consent %lld", id);
	return code;
}

/* A request that must succeed; returns the consent id. */
static long long ask(struct t *t, const char *member, const char *subject, const char *purpose,
		     const char *end, time_t now)
{
	struct consent_ask a = { member, "bank-is", subject, purpose, end, NULL };
	struct consent_info ci;
	char why[CONSENT_WHY_MAX] = "";
	enum consent_rc rc = consent_request(t->cs, &a, t->otp, now, &ci, why, sizeof(why));

	if (rc != CONSENT_OK)
		fail_msg("request: %d %s", rc, why);
	assert_int_equal(ci.status, CONSENT_PENDING);
	return ci.id;
}

static enum consent_rc confirm(struct t *t, long long id, const char *subject, const char *code,
			       time_t now, struct consent_info *ci, char *why)
{
	return consent_confirm(t->cs, id, subject, code, now, ci, why, CONSENT_WHY_MAX);
}

static struct consent_decision *check(struct t *t, const char *member, const char *subject, time_t now)
{
	static struct consent_decision d;
	char why[CONSENT_WHY_MAX] = "";

	if (consent_check(t->cs, member, "Demo bank", subject, now, &d, why, sizeof(why)) != CONSENT_OK)
		fail_msg("check: %s", why);
	return &d;
}

/* A confirmed consent of PIN for BANK through end. */
static long long active_consent(struct t *t, const char *end)
{
	long long id = ask(t, BANK, PIN, "mortgage application 17", end, t->now);
	char why[CONSENT_WHY_MAX];

	assert_int_equal(confirm(t, id, PIN, otp_code(t, id, NULL), t->now + 10, NULL, why), CONSENT_OK);
	return id;
}

/* A code that is not code (same length, another value). */
static const char *wrong(const char *code)
{
	static char w[8];

	snprintf(w, sizeof(w), "%s", code);
	w[0] = w[0] == '9' ? '0' : (char)(w[0] + 1);
	return w;
}

/* ---- store ------------------------------------------------------------------ */

static void test_request_confirm_check(void **state)
{
	struct t *t = *state;
	const char *end = date_plus(t->now, 30);
	struct consent_ask a = { BANK, "bank-is", PIN, "mortgage application 17", end, "Demo bank" };
	struct consent_info ci;
	struct consent_decision *d;
	char why[CONSENT_WHY_MAX] = "", dbpath[128];
	json_t *line = NULL;
	const char *code;

	assert_int_equal(consent_request(t->cs, &a, t->otp, t->now, &ci, why, sizeof(why)), CONSENT_OK);
	assert_true(ci.id > 0);
	assert_int_equal(ci.status, CONSENT_PENDING);
	assert_string_equal(ci.member, BANK);
	assert_string_equal(ci.subsystem, "bank-is");
	assert_string_equal(ci.subject, PIN);
	assert_string_equal(ci.purpose, "mortgage application 17");
	assert_string_equal(ci.end_date, end);
	assert_int_equal(ci.requested_at, t->now);
	assert_int_equal(ci.code_expires_at, t->now + CONSENT_CODE_TTL_DEFAULT);
	assert_int_equal(ci.attempts_left, CONSENT_ATTEMPTS_MAX);
	assert_int_equal(ci.confirmed_at, 0);
	/* the person got the code, with the bank's name */
	code = otp_code(t, ci.id, &line);
	assert_int_equal(strlen(code), 6);
	assert_string_equal(json_string_value(json_object_get(line, "pin")), PIN);
	assert_string_equal(json_string_value(json_object_get(line, "bank")), "Demo bank");
	json_decref(line);
	/* pending: the bank is told to wait for the person */
	d = check(t, BANK, PIN, t->now + 1);
	assert_int_equal(d->allowed, 0);
	assert_int_equal(d->id, ci.id);
	assert_non_null(strstr(d->why, "is not confirmed yet"));
	/* the code is not in the store: a salted hash, cleared once confirmed */
	snprintf(dbpath, sizeof(dbpath), "%s/" CONSENT_FILE, t->dir);
	assert_int_equal(db_int(dbpath, "SELECT length(code_hash) FROM consents"), 32);
	assert_int_equal(db_int(dbpath, "SELECT length(code_salt) FROM consents"), 16);
	{
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM consents WHERE code_hash = '%s' OR "
			 "CAST(code_hash AS TEXT) LIKE '%%%s%%'", code, code);
		assert_int_equal(db_int(dbpath, sql), 0);
	}
	assert_int_equal(confirm(t, ci.id, PIN, code, t->now + 60, &ci, why), CONSENT_OK);
	assert_int_equal(ci.status, CONSENT_ACTIVE);
	assert_int_equal(ci.confirmed_at, t->now + 60);
	assert_int_equal(db_int(dbpath, "SELECT count(*) FROM consents WHERE code_hash IS NULL AND "
				"code_salt IS NULL"), 1);
	d = check(t, BANK, PIN, t->now + 120);
	assert_int_equal(d->allowed, 1);
	assert_int_equal(d->id, ci.id);
	assert_string_equal(d->purpose, "mortgage application 17");
	/* another bank, another person: not covered */
	d = check(t, BANK2, PIN, t->now + 120);
	assert_int_equal(d->allowed, 0);
	assert_int_equal(d->id, 0);
	assert_string_equal(d->why, "no consent of this person for Demo bank: the bank asks for one "
			    "(consent-request) and the person confirms it with the code they receive");
	assert_int_equal(check(t, BANK, PIN2, t->now)->allowed, 0);
	/* confirming again */
	assert_int_equal(confirm(t, ci.id, PIN, code, t->now + 130, NULL, why), CONSENT_ERR_STATE);
	assert_non_null(strstr(why, "is already confirmed"));
}

static void test_wrong_code_then_right(void **state)
{
	struct t *t = *state;
	long long id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	const char *code = otp_code(t, id, NULL);
	struct consent_info ci;
	char why[CONSENT_WHY_MAX], good[8];

	snprintf(good, sizeof(good), "%s", code);
	assert_int_equal(confirm(t, id, PIN, wrong(good), t->now + 1, &ci, why), CONSENT_ERR_CODE);
	assert_string_equal(why, "wrong code for consent 1; 4 attempts left");
	/* not 6 digits: refused without counting */
	assert_int_equal(confirm(t, id, PIN, "12345", t->now + 1, NULL, why), CONSENT_ERR_INPUT);
	assert_int_equal(confirm(t, id, PIN, "12345a", t->now + 1, NULL, why), CONSENT_ERR_INPUT);
	assert_int_equal(confirm(t, id, PIN, NULL, t->now + 1, NULL, why), CONSENT_ERR_INPUT);
	assert_int_equal(confirm(t, id, PIN, wrong(good), t->now + 2, NULL, why), CONSENT_ERR_CODE);
	assert_string_equal(why, "wrong code for consent 1; 3 attempts left");
	assert_int_equal(confirm(t, id, PIN, good, t->now + 3, &ci, why), CONSENT_OK);
	assert_int_equal(ci.status, CONSENT_ACTIVE);
}

static void test_five_wrong_codes_void(void **state)
{
	struct t *t = *state;
	long long id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	struct consent_decision *d;
	char why[CONSENT_WHY_MAX], good[8];

	snprintf(good, sizeof(good), "%s", otp_code(t, id, NULL));
	for (int i = 0; i < CONSENT_ATTEMPTS_MAX - 1; i++)
		assert_int_equal(confirm(t, id, PIN, wrong(good), t->now + 1, NULL, why), CONSENT_ERR_CODE);
	assert_string_equal(why, "wrong code for consent 1; 1 attempt left");
	assert_int_equal(confirm(t, id, PIN, wrong(good), t->now + 1, NULL, why), CONSENT_ERR_STATE);
	assert_non_null(strstr(why, "5 wrong codes: the request is void"));
	/* the right code is too late now */
	assert_int_equal(confirm(t, id, PIN, good, t->now + 2, NULL, why), CONSENT_ERR_STATE);
	assert_string_equal(why, "consent 1 is void (too many wrong codes); the bank has to ask again");
	d = check(t, BANK, PIN, t->now + 3);
	assert_int_equal(d->allowed, 0);
	assert_string_equal(d->why, "consent 1 was never confirmed (too many wrong codes): the bank has to "
			    "ask again");
}

static void test_code_expires(void **state)
{
	struct t *t = *state;
	long long id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	const char *code = otp_code(t, id, NULL);
	time_t late = t->now + CONSENT_CODE_TTL_DEFAULT + 1;
	char why[CONSENT_WHY_MAX], dbpath[128];

	/* the last second still counts */
	assert_int_equal(consent_store_set_code_ttl(t->cs, 29), -1);
	assert_int_equal(consent_store_set_code_ttl(t->cs, CONSENT_CODE_TTL_MAX + 1), -1);
	assert_int_equal(confirm(t, id, PIN, code, late, NULL, why), CONSENT_ERR_STATE);
	assert_string_equal(why, "consent 1 is void (the code expired unconfirmed); the bank has to ask again");
	snprintf(dbpath, sizeof(dbpath), "%s/" CONSENT_FILE, t->dir);
	assert_int_equal(db_int(dbpath, "SELECT status = 'void' AND code_hash IS NULL FROM consents"), 1);
	assert_non_null(strstr(check(t, BANK, PIN, late)->why, "never confirmed (the code expired"));
	/* a shorter code life applies to new requests */
	assert_int_equal(consent_store_set_code_ttl(t->cs, 60), 0);
	id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	code = otp_code(t, id, NULL);
	assert_int_equal(confirm(t, id, PIN, code, t->now + 60, NULL, why), CONSENT_OK);
	id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	assert_int_equal(confirm(t, id, PIN, otp_code(t, id, NULL), t->now + 61, NULL, why), CONSENT_ERR_STATE);
}

static void test_end_date_passes(void **state)
{
	struct t *t = *state;
	const char *end = date_plus(t->now, 2);
	long long id = active_consent(t, end);
	struct consent_decision *d;
	char want[128];

	assert_int_equal(check(t, BANK, PIN, t->now + 86400)->allowed, 1);
	/* the end date itself is the last day */
	d = check(t, BANK, PIN, t->now + 2 * 86400);
	assert_int_equal(d->allowed, 1);
	d = check(t, BANK, PIN, t->now + 3 * 86400 + 3600);
	assert_int_equal(d->allowed, 0);
	assert_int_equal(d->id, id);
	snprintf(want, sizeof(want), "consent %lld ended on %s", id, end);
	assert_string_equal(d->why, want);
}

static int list_first(const struct consent_info *c, void *arg)
{
	*(struct consent_info *)arg = *c;
	return 1;
}

static void test_withdraw(void **state)
{
	struct t *t = *state;
	long long id = active_consent(t, date_plus(t->now, 30));
	struct consent_info ci;
	struct consent_decision *d;
	char why[CONSENT_WHY_MAX], want[128], today[11];

	/* only by the person */
	assert_int_equal(consent_withdraw(t->cs, id, PIN2, t->now + 100, &ci, why, sizeof(why)),
			 CONSENT_ERR_NOT_FOUND);
	assert_string_equal(why, "no consent 1 of this person");
	assert_int_equal(consent_withdraw(t->cs, 999, PIN, t->now + 100, &ci, why, sizeof(why)),
			 CONSENT_ERR_NOT_FOUND);
	assert_int_equal(check(t, BANK, PIN, t->now + 100)->allowed, 1);
	assert_int_equal(consent_withdraw(t->cs, id, PIN, t->now + 100, &ci, why, sizeof(why)), CONSENT_OK);
	assert_int_equal(ci.status, CONSENT_WITHDRAWN);
	assert_int_equal(ci.withdrawn_at, t->now + 100);
	d = check(t, BANK, PIN, t->now + 200);
	assert_int_equal(d->allowed, 0);
	consent_format_date(t->now + 100, today);
	snprintf(want, sizeof(want), "consent %lld withdrawn on %s", id, today);
	assert_string_equal(d->why, want);
	assert_int_equal(consent_withdraw(t->cs, id, PIN, t->now + 300, NULL, why, sizeof(why)),
			 CONSENT_ERR_STATE);
	assert_non_null(strstr(why, "was withdrawn on"));
	/* a pending request may be withdrawn too, and its code then fails */
	id = ask(t, BANK, PIN, "card", date_plus(t->now, 30), t->now + 400);
	assert_int_equal(consent_withdraw(t->cs, id, PIN, t->now + 401, NULL, why, sizeof(why)), CONSENT_OK);
	assert_int_equal(confirm(t, id, PIN, otp_code(t, id, NULL), t->now + 402, NULL, why),
			 CONSENT_ERR_STATE);
	/* a new consent after a withdrawal allows again */
	id = active_consent(t, date_plus(t->now, 5));
	assert_int_equal(check(t, BANK, PIN, t->now + 500)->allowed, 1);
	/* an expired one cannot be withdrawn */
	assert_int_equal(consent_withdraw(t->cs, id, PIN, t->now + 7 * 86400, NULL, why, sizeof(why)),
			 CONSENT_ERR_STATE);
	assert_non_null(strstr(why, "ended on"));
	assert_int_equal(consent_list(t->cs, PIN, t->now + 7 * 86400, list_first, &ci, NULL, why,
				      sizeof(why)), CONSENT_OK);
	assert_int_equal(ci.status, CONSENT_EXPIRED);
}

static void test_someone_elses_consent(void **state)
{
	struct t *t = *state;
	long long id = ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	const char *code = otp_code(t, id, NULL);
	struct consent_info ci;
	char why[CONSENT_WHY_MAX];

	/* the right code does not help another person, and costs no attempt */
	assert_int_equal(confirm(t, id, PIN2, code, t->now + 1, NULL, why), CONSENT_ERR_NOT_FOUND);
	assert_string_equal(why, "no consent 1 of this person");
	assert_int_equal(confirm(t, id, NULL, code, t->now + 1, NULL, why), CONSENT_ERR_NOT_FOUND);
	assert_int_equal(confirm(t, 77, PIN, code, t->now + 1, NULL, why), CONSENT_ERR_NOT_FOUND);
	assert_int_equal(consent_list(t->cs, PIN, t->now + 2, list_first, &ci, NULL, why, sizeof(why)),
			 CONSENT_OK);
	assert_int_equal(ci.attempts_left, CONSENT_ATTEMPTS_MAX);
	assert_int_equal(check(t, BANK, PIN2, t->now + 2)->allowed, 0);
}

struct list {
	int n;
	struct consent_info c[8];
};

static int list_all(const struct consent_info *c, void *arg)
{
	struct list *l = arg;

	if (l->n < 8)
		l->c[l->n] = *c;
	l->n++;
	return 0;
}

static void test_list_statuses(void **state)
{
	struct t *t = *state;
	struct list l = { 0 };
	char why[CONSENT_WHY_MAX];
	long long a, b, c, d;
	int more = -1;

	a = active_consent(t, date_plus(t->now, 30));                        /* active */
	b = ask(t, BANK2, PIN, "card", date_plus(t->now, 30), t->now);       /* pending */
	c = ask(t, BANK2, PIN, "card", date_plus(t->now, 30), t->now - 600); /* code expired: void */
	d = active_consent(t, date_plus(t->now, 40));
	assert_int_equal(consent_withdraw(t->cs, d, PIN, t->now + 5, NULL, why, sizeof(why)), CONSENT_OK);
	ask(t, BANK, PIN2, "other person", date_plus(t->now, 30), t->now);
	assert_int_equal(consent_list(t->cs, PIN, t->now + 20, list_all, &l, &more, why, sizeof(why)),
			 CONSENT_OK);
	assert_int_equal(more, 0);
	assert_int_equal(l.n, 4);
	/* newest first */
	assert_int_equal(l.c[0].id, d);
	assert_int_equal(l.c[0].status, CONSENT_WITHDRAWN);
	assert_int_equal(l.c[1].id, c);
	assert_int_equal(l.c[1].status, CONSENT_VOID);
	assert_string_equal(l.c[1].void_reason, "the code expired unconfirmed");
	assert_int_equal(l.c[2].id, b);
	assert_int_equal(l.c[2].status, CONSENT_PENDING);
	assert_int_equal(l.c[3].id, a);
	assert_int_equal(l.c[3].status, CONSENT_ACTIVE);
	assert_string_equal(consent_status_name(CONSENT_EXPIRED), "expired");
	assert_string_equal(consent_status_name(CONSENT_VOID), "void");
	/* the newest consent of a bank decides the refusal, an active one the permission */
	assert_int_equal(check(t, BANK, PIN, t->now + 20)->id, a);
	assert_int_equal(check(t, BANK, PIN, t->now + 20)->allowed, 1);
	l.n = 0;
	assert_int_equal(consent_list(t->cs, "nobody", t->now, list_all, &l, NULL, why, sizeof(why)),
			 CONSENT_OK);
	assert_int_equal(l.n, 0);
}

static void test_open_request_cap(void **state)
{
	struct t *t = *state;
	struct consent_ask a = { BANK, NULL, PIN, "loan", date_plus(t->now, 10), NULL };
	struct consent_info ci;
	char why[CONSENT_WHY_MAX];

	for (int i = 0; i < CONSENT_PENDING_MAX; i++)
		ask(t, BANK, PIN, "loan", date_plus(t->now, 10), t->now);
	assert_int_equal(consent_request(t->cs, &a, t->otp, t->now + 1, &ci, why, sizeof(why)),
			 CONSENT_ERR_STATE);
	assert_non_null(strstr(why, "3 requests of COM/60000001 to this person are waiting"));
	/* other banks and other persons are not held up */
	ask(t, BANK2, PIN, "loan", date_plus(t->now, 10), t->now + 1);
	ask(t, BANK, PIN2, "loan", date_plus(t->now, 10), t->now + 1);
	/* once the codes expire, the bank may ask again */
	assert_int_equal(consent_request(t->cs, &a, t->otp, t->now + CONSENT_CODE_TTL_DEFAULT + 1, &ci, why,
					 sizeof(why)), CONSENT_OK);
	assert_string_equal(ci.subsystem, "");
}

static void test_request_input(void **state)
{
	struct t *t = *state;
	char p200[CONSENT_PURPOSE_BYTES], p201[CONSENT_PURPOSE_BYTES + 2], why[CONSENT_WHY_MAX];
	const char *tomorrow = date_plus(t->now, 1), *last = date_plus(t->now, CONSENT_DAYS_MAX);
	const char *too_far = date_plus(t->now, CONSENT_DAYS_MAX + 1), *today = date_plus(t->now, 0);
	struct consent_info ci;
	static const char *const bad_purposes[] = { "", "   ", "line\nbreak", "tab\there", "\x7f",
						    "\xc3\x28", "\xed\xa0\x80", "\xc0\xaf" };
	struct {
		struct consent_ask a;
		const char *want;
	} cases[] = {
		{ { "COM", NULL, PIN, "x", tomorrow, NULL }, "CLASS/CODE" },
		{ { "COM/1/2", NULL, PIN, "x", tomorrow, NULL }, "CLASS/CODE" },
		{ { "COM /1", NULL, PIN, "x", tomorrow, NULL }, "CLASS/CODE" },
		{ { NULL, NULL, PIN, "x", tomorrow, NULL }, "CLASS/CODE" },
		{ { BANK, NULL, "", "x", tomorrow, NULL }, "pin must name the person" },
		{ { BANK, NULL, "2120 5197500417", "x", tomorrow, NULL }, "pin must name the person" },
		{ { BANK, NULL, "123456789012345678901234567890123", "x", tomorrow, NULL }, "pin must" },
		{ { BANK, NULL, PIN, NULL, tomorrow, NULL }, "purpose must say" },
		{ { BANK, NULL, PIN, p201, tomorrow, NULL }, "purpose must say" },
		{ { BANK, NULL, PIN, "x", today, NULL }, "must be after today" },
		{ { BANK, NULL, PIN, "x", too_far, NULL }, "at most 366 days on" },
		{ { BANK, NULL, PIN, "x", "2030-02-30", NULL }, "end_date must be a date YYYY-MM-DD" },
		{ { BANK, NULL, PIN, "x", "30.01.2030", NULL }, "end_date must be a date" },
		{ { BANK, NULL, PIN, "x", NULL, NULL }, "end_date must be a date" },
		{ { BANK, NULL, PIN, "x", "1899-12-31", NULL }, "end_date must be a date" },
	};

	p200[0] = '\0';
	for (int i = 0; i < CONSENT_PURPOSE_CHARS; i++)
		strcat(p200, "ж");
	snprintf(p201, sizeof(p201), "%sa", p200);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (consent_request(t->cs, &cases[i].a, t->otp, t->now, &ci, why, sizeof(why)) !=
		    CONSENT_ERR_INPUT || !strstr(why, cases[i].want))
			fail_msg("case %zu: %s", i, why);
	}
	for (size_t i = 0; i < sizeof(bad_purposes) / sizeof(bad_purposes[0]); i++) {
		struct consent_ask a = { BANK, NULL, PIN, bad_purposes[i], tomorrow, NULL };

		if (consent_request(t->cs, &a, t->otp, t->now, &ci, why, sizeof(why)) != CONSENT_ERR_INPUT)
			fail_msg("purpose %zu accepted", i);
	}
	{
		char dbpath[128];

		snprintf(dbpath, sizeof(dbpath), "%s/" CONSENT_FILE, t->dir);
		assert_int_equal(db_count(dbpath, "consents"), 0);
	}
	/* the edges that are fine: 200 letters, tomorrow, 366 days on */
	assert_true(ask(t, BANK, PIN, p200, tomorrow, t->now) > 0);
	assert_true(ask(t, BANK, PIN, "x", last, t->now) > 0);
}

static void test_injection_verbatim(void **state)
{
	struct t *t = *state;
	const char *purpose = "'); DROP TABLE consents; -- \" OR 1=1";
	long long id = ask(t, "COM/x'--", PIN, purpose, date_plus(t->now, 3), t->now);
	struct consent_info ci;
	char why[CONSENT_WHY_MAX], dbpath[128];

	assert_int_equal(confirm(t, id, PIN, otp_code(t, id, NULL), t->now + 1, NULL, why), CONSENT_OK);
	assert_int_equal(consent_list(t->cs, PIN, t->now + 2, list_first, &ci, NULL, why, sizeof(why)),
			 CONSENT_OK);
	assert_string_equal(ci.purpose, purpose);
	assert_string_equal(ci.member, "COM/x'--");
	assert_int_equal(check(t, "COM/x'--", PIN, t->now + 2)->allowed, 1);
	assert_int_equal(check(t, "COM/x' OR '1'='1", PIN, t->now + 2)->allowed, 0);
	assert_int_equal(check(t, BANK, "' OR ''='", t->now + 2)->allowed, 0);
	snprintf(dbpath, sizeof(dbpath), "%s/" CONSENT_FILE, t->dir);
	assert_int_equal(db_count(dbpath, "consents"), 1);
}

static int fail_send(void *ctx, const char *pin, const char *consent_id, const char *code,
		     const char *bank_name, char **err)
{
	(void)ctx;
	(void)pin;
	(void)consent_id;
	(void)code;
	(void)bank_name;
	*err = strdup("the SMS gateway said no");
	return -1;
}

static void test_delivery_fails(void **state)
{
	struct t *t = *state;
	struct otp_channel bad = { "sms", NULL, fail_send, NULL };
	struct consent_ask a = { BANK, NULL, PIN, "loan", date_plus(t->now, 3), NULL };
	struct otp_channel *nodir = NULL;
	struct consent_info ci;
	char why[CONSENT_WHY_MAX], *err = NULL;

	assert_int_equal(consent_request(t->cs, &a, &bad, t->now, &ci, why, sizeof(why)), CONSENT_ERR_DELIVERY);
	assert_non_null(strstr(why, "could not be sent to the person (the SMS gateway said no)"));
	assert_int_equal(consent_list(t->cs, PIN, t->now, list_first, &ci, NULL, why, sizeof(why)), CONSENT_OK);
	assert_int_equal(ci.status, CONSENT_VOID);
	assert_string_equal(ci.void_reason, "the code could not be delivered");
	/* a file channel whose directory is missing */
	assert_int_equal(consent_otp_new("file:/nonexistent-dir/otp.jsonl", &nodir, &err), 0);
	assert_int_equal(consent_request(t->cs, &a, nodir, t->now, &ci, why, sizeof(why)), CONSENT_ERR_DELIVERY);
	assert_non_null(strstr(why, "cannot append to /nonexistent-dir/otp.jsonl"));
	consent_otp_free(&nodir);
	assert_null(nodir);
	assert_int_equal(consent_request(t->cs, &a, NULL, t->now, &ci, why, sizeof(why)), CONSENT_ERR_DELIVERY);
	/* voided requests do not count against the open-request cap */
	ask(t, BANK, PIN, "loan", date_plus(t->now, 3), t->now);
}

static void test_foreign_and_missing_files(void **state)
{
	struct t *t = *state;
	struct consent_store *cs = NULL;
	struct consent_decision d;
	char path[160], sub[128], why[CONSENT_WHY_MAX], *err = NULL;

	snprintf(path, sizeof(path), "%s/foreign.db", t->dir);
	db_exec(path, "CREATE TABLE consents (id INTEGER)");
	assert_int_equal(consent_store_open(path, &cs, &err), 0);
	assert_non_null(strstr(err, "is not an ailgate consent store"));
	free(err);
	assert_int_equal(consent_check(cs, BANK, NULL, PIN, t->now, &d, why, sizeof(why)), CONSENT_ERR_DB);
	assert_non_null(strstr(why, "is not an ailgate consent store"));
	consent_store_close(&cs);
	/* a directory that appears later */
	snprintf(sub, sizeof(sub), "%s/later", t->dir);
	snprintf(path, sizeof(path), "%s/" CONSENT_FILE, sub);
	assert_int_equal(consent_store_open(path, &cs, &err), 0);
	assert_non_null(err);
	free(err);
	assert_int_equal(consent_check(cs, BANK, NULL, PIN, t->now, &d, why, sizeof(why)), CONSENT_ERR_DB);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(consent_check(cs, BANK, NULL, PIN, t->now, &d, why, sizeof(why)), CONSENT_OK);
	assert_int_equal(d.allowed, 0);
	assert_non_null(strstr(d.why, "no consent of this person for COM/60000001"));
	consent_store_close(&cs);
	consent_store_close(&cs);
	assert_int_equal(consent_store_open("", &cs, &err), -1);
	free(err);
}

/* ---- otp channels --------------------------------------------------------------- */

static void test_otp_channels(void **state)
{
	struct t *t = *state;
	static const char *const bad[] = { "sms", "file:", "file:relative/path", "console2" };
	struct otp_channel *ch = NULL;
	char path[160], line[256], *err = NULL;
	int saved;
	FILE *fp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(consent_otp_new(bad[i], &ch, &err), -1);
		assert_null(ch);
		assert_non_null(strstr(err, "is not 'console' or 'file:/absolute/path'"));
		free(err);
	}
	assert_int_equal(consent_otp_new(NULL, &ch, &err), 0);
	assert_string_equal(ch->kind, "console");
	consent_otp_free(&ch);
	/* the console channel: one line on stderr */
	assert_int_equal(consent_otp_new("console", &ch, &err), 0);
	snprintf(path, sizeof(path), "%s/stderr.txt", t->dir);
	fflush(stderr);
	saved = dup(2);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(dup2(fileno(fp), 2), 2);
	assert_int_equal(ch->send(ch->ctx, PIN, "7", "123456", BANK, &err), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(fp);
	fp = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_string_equal(line, "OTP for consent 7 to person " PIN ": 123456 (bank COM/60000001)\n");
	consent_otp_free(&ch);
	/* the file channel: appends, mode 0600 */
	assert_string_equal(t->otp->kind, "file");
	assert_int_equal(t->otp->send(t->otp->ctx, PIN, "1", "000001", "b\"1", &err), 0);
	assert_int_equal(t->otp->send(t->otp->ctx, PIN, "2", "000002", "b2", &err), 0);
	assert_string_equal(otp_code(t, 1, NULL), "000001");
	assert_string_equal(otp_code(t, 2, NULL), "000002");
	{
		struct stat st;

		assert_int_equal(stat(t->otp_path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
}

/* ---- the gate ------------------------------------------------------------------------ */

static int gate_call(struct consent_gate *g, const char *subject_param, int required, const char *client,
		     const char *pin, const char *issue, time_t now, char *why)
{
	json_t *params = json_object();
	struct consent_query q = {
		.subject_param = subject_param, .consent_required = required, .client = client,
		.client_member = BANK, .client_name = "Demo commercial bank", .service = FAMILY,
		.params = params, .issue = issue, .message_id = "m-1", .now = now,
	};
	int rc;

	if (pin)
		json_object_set_new(params, "pin", json_string(pin));
	why[0] = '\0';
	rc = consent_gate_check(g, &q, why, CONSENT_WHY_MAX);
	json_decref(params);
	return rc;
}

static void test_gate(void **state)
{
	struct t *t = *state;
	struct consent_gate *g = NULL;
	struct accesslog *al = NULL;
	char why[CONSENT_WHY_MAX], path[128], *err = NULL;
	long long id;

	assert_int_equal(consent_gate_open(t->dir, &g, &err), 0);
	assert_null(err);
	snprintf(path, sizeof(path), "%s/" ACCESSLOG_FILE, t->dir);
	/* not about a person: nothing */
	assert_int_equal(gate_call(g, "", 1, BANK_IS, PIN, NULL, t->now, why), 1);
	assert_int_equal(gate_call(g, NULL, 1, BANK_IS, PIN, NULL, t->now, why), 1);
	assert_int_equal(access(path, F_OK), -1);   /* not even opened */
	/* a clerk: recorded, no consent needed */
	assert_int_equal(gate_call(g, "pin", 0, "central-server/GOV/70000050/household-register",
				   " " PIN "\n", "certificate 12", t->now, why), 1);
	assert_int_equal(db_int(path, "SELECT count(*) FROM access_log WHERE subject = '" PIN "' AND "
				"outcome = 'answered' AND purpose = 'certificate 12' AND consent_id IS NULL"), 1);
	/* no person named: the service refuses it; nothing to record */
	assert_int_equal(gate_call(g, "pin", 0, BANK_IS, NULL, NULL, t->now, why), 1);
	assert_int_equal(gate_call(g, "pin", 0, BANK_IS, "21205 197500417", NULL, t->now, why), 1);
	assert_int_equal(db_count(path, "access_log"), 1);
	/* a bank without consent */
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, NULL, t->now, why), 0);
	assert_string_equal(why, "no consent of this person for COM/60000001 (Demo commercial bank): the bank "
			    "asks for one (consent-request) and the person confirms it with the code "
			    "they receive");
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, NULL, NULL, t->now, why), 0);
	assert_string_equal(why, "the request does not name the person whose data it asks for: parameter "
			    "'pin' is missing or not a PIN");
	assert_int_equal(db_int(path, "SELECT count(*) FROM access_log WHERE outcome = 'refused' AND "
				"reason LIKE 'no consent of this person%'"), 1);
	/* with consent (given through this store: the gate opened the same file) */
	id = active_consent(t, date_plus(t->now, 30));
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, NULL, t->now + 20, why), 1);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, "loan file 9", t->now + 21, why), 1);
	assert_int_equal(db_int(path, "SELECT count(*) FROM access_log WHERE outcome = 'answered' AND "
				"consent_id = 1 AND purpose = 'mortgage application 17'"), 1);
	/* the bank's X-Road-Issue is its reference beside what the person consented to, not instead */
	assert_int_equal(db_int(path, "SELECT count(*) FROM access_log WHERE consent_id = 1 AND "
				"purpose = 'mortgage application 17 (the caller''s reference, X-Road-Issue: "
				"loan file 9)'"), 1);
	/* withdrawn: refused again, with the reason */
	assert_int_equal(consent_withdraw(t->cs, id, PIN, t->now + 30, NULL, why, sizeof(why)), CONSENT_OK);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, NULL, t->now + 40, why), 0);
	assert_non_null(strstr(why, "consent 1 withdrawn on "));
	assert_int_equal(db_int(path, "SELECT count(*) FROM access_log WHERE outcome = 'refused' AND "
				"consent_id = 1 AND reason LIKE 'consent 1 withdrawn on %'"), 1);
	/* a store that cannot be used: -1, and nothing is allowed */
	assert_int_equal(accesslog_open(path, &al, &err), 0);
	accesslog_close(&al);
	consent_gate_close(&g);
	assert_null(g);
	{
		char missing[128];

		snprintf(missing, sizeof(missing), "%s/missing", t->dir);
		assert_int_equal(consent_gate_open(missing, &g, &err), 0);
		assert_null(err);
		/* nothing is opened until a service about a person is checked */
		assert_int_equal(gate_call(g, "", 1, BANK_IS, PIN, NULL, t->now, why), 1);
		assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, NULL, t->now, why), -1);
		assert_int_equal(gate_call(g, "pin", 0, BANK_IS, PIN, NULL, t->now, why), -1);
		assert_non_null(strstr(why, "cannot open"));
		consent_gate_close(&g);
	}
	assert_int_equal(consent_gate_open(NULL, &g, &err), -1);
	assert_non_null(err);
	free(err);
	/* and a gateway whose services never name a person creates no files */
	{
		char other[128], file[160];

		snprintf(other, sizeof(other), "%s/quiet", t->dir);
		assert_int_equal(mkdir(other, 0700), 0);
		assert_int_equal(consent_gate_open(other, &g, &err), 0);
		assert_int_equal(gate_call(g, NULL, 0, BANK_IS, PIN, NULL, t->now, why), 1);
		consent_gate_close(&g);
		snprintf(file, sizeof(file), "%s/" CONSENT_FILE, other);
		assert_int_equal(access(file, F_OK), -1);
	}
}

/* ---- the adapter --------------------------------------------------------------------- */

struct af {
	struct fixture f;
	char otp_spec[160];
	struct t t;                  /* for otp_code */
};

static int setup_adapter(void **state)
{
	struct af *a = calloc(1, sizeof(*a));
	char *err = NULL;

	if (a == NULL || temp_dir(a->f.dir, sizeof(a->f.dir), "consent_ad") != 0)
		return -1;
	snprintf(a->t.dir, sizeof(a->t.dir), "%s", a->f.dir);
	snprintf(a->t.otp_path, sizeof(a->t.otp_path), "%s/otp.jsonl", a->f.dir);
	snprintf(a->otp_spec, sizeof(a->otp_spec), "file:%s", a->t.otp_path);
	host_init(&a->f);
	fake_set(&a->f.fh, "otp_channel", a->otp_spec);
	if (consent_adapter.init(&a->f.host, &a->f.ctx, &err) != 0) {
		fprintf(stderr, "init: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	*state = a;
	return 0;
}

static int teardown_adapter(void **state)
{
	struct af *a = *state;

	if (a->f.ctx)
		consent_adapter.free(a->f.ctx);
	rm_rf(a->f.dir);
	free(a);
	return 0;
}

static struct outcome acall(struct af *a, const char *svc, const char *method, const char *client,
			    const char *user, const char *body, ...)
{
	struct outcome o;
	va_list ap;

	va_start(ap, body);
	o = vcall(&consent_adapter, a->f.ctx, svc, method, client, user, body, ap);
	va_end(ap);
	return o;
}

/* consent-request as the bank over REST; the consent id. */
static long long rest_request(struct af *a, const char *end)
{
	char body[256];
	struct outcome o;
	long long id;

	snprintf(body, sizeof(body), "{\"pin\": \"%s\", \"purpose\": \"mortgage application 17\", "
		 "\"end_date\": \"%s\"}", PIN, end);
	o = acall(a, "consent-request", "POST", BANK_IS, "", body, NULL);
	if (o.status != ADAPTER_OK)
		fail_msg("consent-request: %s", o.message);
	id = jint(o.data, "consent_id");
	json_decref(o.data);
	return id;
}

static void test_adapter_flow(void **state)
{
	struct af *a = *state;
	const char *end = date_plus(time(NULL), 30);
	struct outcome o;
	char body[256], idtext[24];
	long long id;

	/* the bank asks */
	snprintf(body, sizeof(body), "{\"pin\": \"%s\", \"purpose\": \"mortgage application 17\", "
		 "\"end_date\": \"%s\"}", PIN, end);
	o = acall(a, "consent-request", "POST", BANK_IS, "", body, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	id = jint(o.data, "consent_id");
	assert_string_equal(jstr(o.data, "status"), "pending");
	assert_string_equal(jstr(o.data, "pin"), PIN);
	assert_string_equal(jstr(o.data, "bank"), BANK);
	assert_string_equal(jstr(o.data, "subsystem"), "bank-is");
	assert_string_equal(jstr(o.data, "end_date"), end);
	assert_string_equal(jstr(o.data, "code_sent_by"), "file");
	assert_non_null(strstr(jstr(o.data, "code_expires_at"), "T"));
	assert_jnull(o.data, "confirmed_at");
	assert_jnull(o.data, "void_reason");
	json_decref(o.data);
	snprintf(idtext, sizeof(idtext), "%lld", id);
	/* the portal confirms for the person: over SOAP (parameters), as the person */
	o = acall(a, "consent-confirm", "POST", PORTAL, "", NULL, "consent_id", idtext, "code",
		  otp_code(&a->t, id, NULL), NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "X-Road-UserId"));
	o = acall(a, "consent-confirm", "POST", PORTAL, "KG" PIN2, NULL, "consent_id", idtext, "code",
		  otp_code(&a->t, id, NULL), NULL);
	assert_int_equal(o.status, ADAPTER_NOT_FOUND);
	o = acall(a, "consent-confirm", "POST", PORTAL, "KG" PIN, NULL, "consent_id", idtext, "code",
		  wrong(otp_code(&a->t, id, NULL)), NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "4 attempts left"));
	o = acall(a, "consent-confirm", "POST", PORTAL, "KG" PIN, NULL, "consent_id", idtext, "code",
		  otp_code(&a->t, id, NULL), NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "status"), "active");
	assert_non_null(strstr(jstr(o.data, "confirmed_at"), "T"));
	json_decref(o.data);
	/* the person lists them (REST GET, path parameter) */
	o = acall(a, "consents", "GET", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "count"), 1);
	assert_false(jtrue(o.data, "more"));
	assert_string_equal(jstr(json_array_get(json_object_get(o.data, "consents"), 0), "status"), "active");
	json_decref(o.data);
	o = acall(a, "consents", "GET", PORTAL, "KG" PIN2, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "only their own"));
	/* withdraws (REST JSON, the id as a number) */
	snprintf(body, sizeof(body), "{\"consent_id\": %lld, \"pin\": \"%s\"}", id, PIN);
	o = acall(a, "consent-withdraw", "POST", PORTAL, "KG" PIN2, body, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "consent-withdraw", "POST", PORTAL, "KG" PIN, body, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "status"), "withdrawn");
	json_decref(o.data);
	o = acall(a, "consent-withdraw", "POST", PORTAL, "KG" PIN, body, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "was withdrawn on"));
	snprintf(body, sizeof(body), "{\"consent_id\": 999, \"pin\": \"%s\"}", PIN);
	o = acall(a, "consent-withdraw", "POST", PORTAL, "KG" PIN, body, NULL);
	assert_int_equal(o.status, ADAPTER_NOT_FOUND);
	/* a body that is JSON but no object says what it is (it said "line -1, column -1") */
	o = acall(a, "consent-withdraw", "POST", PORTAL, "KG" PIN, "[1]", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(o.message, "the body must be a JSON object (it is an array)");
}

/* The gate records the bank's queries in the same data_dir; the person
 * reads them through data-access-report. */
static void test_adapter_report(void **state)
{
	struct af *a = *state;
	struct consent_gate *g = NULL;
	time_t now = time(NULL);
	char why[CONSENT_WHY_MAX], *err = NULL, idtext[24];
	json_t *rows;
	struct outcome o;
	long long id;

	assert_int_equal(consent_gate_open(a->f.dir, &g, &err), 0);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, NULL, now - 30, why), 0);   /* refused */
	id = rest_request(a, date_plus(now, 10));
	snprintf(idtext, sizeof(idtext), "%lld", id);
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, NULL, "consent_id", idtext, "code",
		  otp_code(&a->t, id, NULL), NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, "loan file 9", now - 20, why), 1);
	assert_int_equal(gate_call(g, "pin", 0, "central-server/GOV/70000050/certificates", PIN, NULL,
				   now - 10, why), 1);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN2, NULL, now - 5, why), 0);   /* someone else */
	consent_gate_close(&g);

	o = acall(a, "data-access-report", "GET", PORTAL, "KG" PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_string_equal(jstr(o.data, "pin"), PIN);
	assert_int_equal(jint(o.data, "count"), 3);
	assert_string_equal(jstr(o.data, "to"), date_plus(now, 0));
	assert_string_equal(jstr(o.data, "from"), date_plus(now, -365));
	rows = json_object_get(o.data, "accesses");
	/* newest first: the certificates subsystem, the bank answered, the bank refused */
	assert_string_equal(jstr(json_array_get(rows, 0), "client"), "central-server/GOV/70000050/certificates");
	assert_jnull(json_array_get(rows, 0), "consent_id");
	assert_string_equal(jstr(json_array_get(rows, 1), "client"), BANK_IS);
	assert_string_equal(jstr(json_array_get(rows, 1), "service"), FAMILY);
	assert_string_equal(jstr(json_array_get(rows, 1), "outcome"), "answered");
	assert_string_equal(jstr(json_array_get(rows, 1), "purpose"),
			    "mortgage application 17 (the caller's reference, X-Road-Issue: loan file 9)");
	assert_int_equal(jint(json_array_get(rows, 1), "consent_id"), id);
	assert_jnull(json_array_get(rows, 1), "reason");
	assert_string_equal(jstr(json_array_get(rows, 2), "outcome"), "refused");
	assert_non_null(strstr(jstr(json_array_get(rows, 2), "reason"), "no consent of this person"));
	assert_string_equal(jstr(json_array_get(rows, 2), "message_id"), "m-1");
	json_decref(o.data);
	/* a range that excludes them, and bad ranges */
	o = acall(a, "data-access-report", "GET", PORTAL, "KG" PIN, NULL, "pin", PIN, "from", "2001-01-01",
		  "to", "2001-12-31", NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "count"), 0);
	json_decref(o.data);
	o = acall(a, "data-access-report", "GET", PORTAL, "KG" PIN, NULL, "pin", PIN, "from", "2002-01-01",
		  "to", "2001-12-31", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "is after to"));
	o = acall(a, "data-access-report", "GET", PORTAL, "KG" PIN, NULL, "pin", PIN, "from", "yesterday", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	/* only the person */
	o = acall(a, "data-access-report", "GET", PORTAL, "KG" PIN2, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "data-access-report", "GET", PORTAL, "", NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
}

static void test_adapter_input(void **state)
{
	struct af *a = *state;
	const char *end = date_plus(time(NULL), 30);
	struct outcome o;

	/* SOAP-style parameters work for the bank too */
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", PIN, "purpose", "card",
		  "end_date", end, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", "123", "purpose", "card",
		  "end_date", end, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "PIN"));
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", PIN, "end_date", end, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "purpose"));
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", PIN, "purpose", "card",
		  "end_date", date_plus(time(NULL), 400), NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "at most 366 days"));
	o = acall(a, "consent-request", "POST", "garbage", "", NULL, "pin", PIN, "purpose", "card",
		  "end_date", end, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	/* bodies */
	o = acall(a, "consent-request", "POST", BANK_IS, "", "{not json", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "JSON object"));
	o = acall(a, "consent-request", "POST", BANK_IS, "", "[1]", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "consent-request", "POST", BANK_IS, "", "{\"pin\": \"1\", \"pin\": \"2\"}", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "consent-request", "POST", BANK_IS, "", "{}", "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "not in the query string"));
	{
		char big[9000];

		memset(big, ' ', sizeof(big) - 1);
		big[0] = '{';
		big[sizeof(big) - 2] = '}';
		big[sizeof(big) - 1] = '\0';
		o = acall(a, "consent-request", "POST", BANK_IS, "", big, NULL);
		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		assert_non_null(strstr(o.message, "larger than"));
	}
	/* consent ids */
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, "{\"consent_id\": -1, \"code\": \"123456\"}", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "consent_id"));
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, NULL, "consent_id", "1x", "code", "123456", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, NULL, "consent_id", "1", NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "code"));
	/* methods and services */
	o = acall(a, "consent-request", "GET", BANK_IS, "", NULL, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, "answers POST"));
	o = acall(a, "consents", "DELETE", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	o = acall(a, "consents", "POST", PORTAL, PIN, NULL, "pin", PIN, NULL);   /* SOAP */
	assert_int_equal(o.status, ADAPTER_OK);
	assert_int_equal(jint(o.data, "count"), 1);
	json_decref(o.data);
	o = acall(a, "nosuch", "GET", PORTAL, PIN, NULL, NULL);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_string_equal(o.message, "the consent register has no such service");
	assert_int_equal(a->f.fh.n_errors, 0);
}

static void test_adapter_unavailable(void **state)
{
	struct af *a = *state;
	struct outcome o;
	char path[128];

	/* the consent file replaced by something that is not a database */
	consent_adapter.free(a->f.ctx);
	a->f.ctx = NULL;
	snprintf(path, sizeof(path), "%s/" CONSENT_FILE, a->f.dir);
	remove(path);
	write_file(path, "not a database at all; ");
	host_init(&a->f);
	fake_set(&a->f.fh, "otp_channel", a->otp_spec);
	{
		char *err = NULL;

		assert_int_equal(consent_adapter.init(&a->f.host, &a->f.ctx, &err), 0);   /* logged, not fatal */
		assert_int_equal(a->f.fh.n_errors, 1);
	}
	o = acall(a, "consents", "GET", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_string_equal(o.message, "the consent register is unavailable; try again later");
	assert_non_null(strstr(a->f.fh.last_error, path));
	/* back */
	remove(path);
	o = acall(a, "consents", "GET", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(o.status, ADAPTER_OK);
	json_decref(o.data);
}

static void test_adapter_config(void **state)
{
	struct af *a = *state;
	static const char *const bad_ttl[] = { "0", "29", "3601", "5m", "" };
	void *ctx = NULL;
	char *err = NULL;

	host_init(&a->f);
	fake_set(&a->f.fh, "otp_channel", "sms:+996");
	assert_int_equal(consent_adapter.init(&a->f.host, &ctx, &err), -1);
	assert_null(ctx);
	assert_non_null(strstr(err, "[adapter.consent] otp_channel 'sms:+996'"));
	free(err);
	for (size_t i = 0; i < sizeof(bad_ttl) / sizeof(bad_ttl[0]); i++) {
		host_init(&a->f);
		fake_set(&a->f.fh, "code_ttl_seconds", bad_ttl[i]);
		if (bad_ttl[i][0] == '\0') {   /* empty is the default */
			assert_int_equal(consent_adapter.init(&a->f.host, &ctx, &err), 0);
			consent_adapter.free(ctx);
			continue;
		}
		assert_int_equal(consent_adapter.init(&a->f.host, &ctx, &err), -1);
		assert_non_null(strstr(err, "[adapter.consent] code_ttl_seconds"));
		free(err);
	}
	host_init(&a->f);
	fake_set(&a->f.fh, "code_ttl_seconds", "60");
	assert_int_equal(consent_adapter.init(&a->f.host, &ctx, &err), 0);
	consent_adapter.free(ctx);
	consent_adapter.free(NULL);
	assert_int_equal(consent_adapter.n_services, 5);
	assert_string_equal(adapter_service(&consent_adapter, "consents")->path_params[0], "pin");
	assert_ptr_equal(adapter_find("consent"), &consent_adapter);
}

/* Real answers rendered as the core renders them, against the WSDL. */
static void test_soap_matches_wsdl(void **state)
{
	struct af *a = *state;
	xmlSchemaPtr schema = wsdl_schema("consent.wsdl", NS);
	struct consent_gate *g = NULL;
	char idtext[24], why[CONSENT_WHY_MAX], *err = NULL;
	struct outcome o;
	long long id;

	id = rest_request(a, date_plus(time(NULL), 10));
	snprintf(idtext, sizeof(idtext), "%lld", id);
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", PIN2, "purpose", "card",
		  "end_date", date_plus(time(NULL), 10), NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-requestResponse", o.data, &o, 1), 0);
	json_decref(o.data);
	o = acall(a, "consent-request", "POST", BANK_IS, "", NULL, "pin", "1", NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-requestResponse", NULL, &o, 1), 0);
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, NULL, "consent_id", idtext, "code",
		  wrong(otp_code(&a->t, id, NULL)), NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-confirmResponse", NULL, &o, 1), 0);
	o = acall(a, "consent-confirm", "POST", PORTAL, PIN, NULL, "consent_id", idtext, "code",
		  otp_code(&a->t, id, NULL), NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-confirmResponse", o.data, &o, 1), 0);
	json_decref(o.data);
	o = acall(a, "consents", "POST", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(soap_valid(schema, NS, "consentsResponse", o.data, &o, 1), 0);
	json_decref(o.data);
	o = acall(a, "consents", "POST", PORTAL, PIN, NULL, "pin", "1", NULL);
	assert_int_equal(soap_valid(schema, NS, "consentsResponse", NULL, &o, 1), 0);
	o = acall(a, "consent-withdraw", "POST", PORTAL, PIN, NULL, "consent_id", idtext, "pin", PIN, NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-withdrawResponse", o.data, &o, 1), 0);
	json_decref(o.data);
	o = acall(a, "consent-withdraw", "POST", PORTAL, PIN, NULL, "consent_id", "999", "pin", PIN, NULL);
	assert_int_equal(soap_valid(schema, NS, "consent-withdrawResponse", NULL, &o, 1), 0);
	assert_int_equal(consent_gate_open(a->f.dir, &g, &err), 0);
	assert_int_equal(gate_call(g, "pin", 1, BANK_IS, PIN, "loan", time(NULL), why), 0);
	assert_int_equal(gate_call(g, "pin", 0, BANK_IS, PIN, NULL, time(NULL), why), 1);
	consent_gate_close(&g);
	o = acall(a, "data-access-report", "POST", PORTAL, PIN, NULL, "pin", PIN, NULL);
	assert_int_equal(jint(o.data, "count"), 2);
	assert_int_equal(soap_valid(schema, NS, "data-access-reportResponse", o.data, &o, 1), 0);
	json_decref(o.data);
	o = acall(a, "data-access-report", "POST", PORTAL, PIN2, NULL, "pin", PIN, NULL);
	assert_int_equal(soap_valid(schema, NS, "data-access-reportResponse", NULL, &o, 1), 0);
	/* and an answer that is not one fails: the check can fail */
	{
		json_t *bogus = json_pack("{s:s}", "unexpected", "x");

		assert_int_not_equal(soap_valid(schema, NS, "consentsResponse", bogus, &o, 0), 0);
		json_decref(bogus);
	}
	xmlSchemaFree(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_confirm_check, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_wrong_code_then_right, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_five_wrong_codes_void, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_code_expires, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_end_date_passes, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_withdraw, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_someone_elses_consent, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_list_statuses, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_open_request_cap, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_request_input, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_injection_verbatim, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_delivery_fails, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_foreign_and_missing_files, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_otp_channels, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_gate, setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_adapter_flow, setup_adapter, teardown_adapter),
		cmocka_unit_test_setup_teardown(test_adapter_report, setup_adapter, teardown_adapter),
		cmocka_unit_test_setup_teardown(test_adapter_input, setup_adapter, teardown_adapter),
		cmocka_unit_test_setup_teardown(test_adapter_unavailable, setup_adapter, teardown_adapter),
		cmocka_unit_test_setup_teardown(test_adapter_config, setup_adapter, teardown_adapter),
		cmocka_unit_test_setup_teardown(test_soap_matches_wsdl, setup_adapter, teardown_adapter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
