/* The access log ("who saw my data"), on a real SQLite file in a temp dir:
 * records and the report (newest first, the range, the cap, only the
 * person's rows), optional fields, cutting over-long texts on a UTF-8
 * boundary, injection-shaped input stored verbatim and harmless, refusal of
 * a foreign file, an unavailable directory that comes back, and two handles
 * writing the same file from two threads. The pipeline's way under load:
 * records taken with accesslog_add and written together by accesslog_flush
 * (the same rows as one by one; none when the write fails, and the failure
 * said; the cap; written at close). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/accesslog.h"
#include "adapter_test.h"

#define PIN "21205197500417"
#define OTHER "10309197901235"
#define BANK "central-server/COM/60000001/bank-is"
#define CLERK "central-server/GOV/70000050/household-register"
#define FAMILY "central-server/GOV/70000050/sanaripaymak-service/family-members"
#define ADDRESS "central-server/GOV/70000050/sanaripaymak-service/address-fact"

struct t {
	char dir[64];
	char path[128];
	struct accesslog *log;
};

static int setup_log(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	char *err = NULL;

	if (t == NULL || temp_dir(t->dir, sizeof(t->dir), "accesslog") != 0)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/" ACCESSLOG_FILE, t->dir);
	if (accesslog_open(t->path, &t->log, &err) != 0 || err != NULL) {
		fprintf(stderr, "open: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_log(void **state)
{
	struct t *t = *state;

	accesslog_close(&t->log);
	rm_rf(t->dir);
	free(t);
	return 0;
}

/* Appends one record; the test fails if it does not. */
static void rec(struct accesslog *log, const char *subject, long long ms, const char *client,
		const char *service, const char *purpose, long long consent, enum accesslog_outcome out,
		const char *reason)
{
	struct accesslog_record r = { subject, ms, client, service, "msg-1", purpose, consent, out, reason };
	char why[512] = "";

	if (accesslog_record(log, &r, why, sizeof(why)) != 0)
		fail_msg("record: %s", why);
}

/* The report, collected. */
#define MAX_ROWS 64
struct rows {
	size_t n;
	struct accesslog_entry e[MAX_ROWS];
	size_t stop_after;           /* 0: never */
};

static int collect(const struct accesslog_entry *e, void *arg)
{
	struct rows *r = arg;

	assert_true(r->n < MAX_ROWS);
	r->e[r->n++] = *e;
	return r->stop_after && r->n == r->stop_after;
}

static struct rows *report(struct accesslog *log, const char *subject, long long from, long long to,
			   size_t limit, int *more)
{
	static struct rows r;
	char why[512] = "";

	memset(&r, 0, sizeof(r));
	if (accesslog_report(log, subject, from, to, limit, collect, &r, more, why, sizeof(why)) != 0)
		fail_msg("report: %s", why);
	return &r;
}

static void test_record_and_report(void **state)
{
	struct t *t = *state;
	struct rows *r;
	int more = -1;

	rec(t->log, PIN, 1000, BANK, FAMILY, "mortgage application 17", 42, ACCESSLOG_ANSWERED, NULL);
	rec(t->log, PIN, 3000, BANK, ADDRESS, NULL, 0, ACCESSLOG_REFUSED, "consent 42 withdrawn on 2026-03-18");
	rec(t->log, OTHER, 2000, CLERK, FAMILY, "certificate", 0, ACCESSLOG_ANSWERED, "ignored when answered");
	rec(t->log, PIN, 2000, CLERK, FAMILY, "certificate", 0, ACCESSLOG_ANSWERED, NULL);

	r = report(t->log, PIN, 0, 10000, 0, &more);
	assert_int_equal(r->n, 3);
	assert_int_equal(more, 0);
	/* newest first */
	assert_int_equal(r->e[0].time_ms, 3000);
	assert_int_equal(r->e[1].time_ms, 2000);
	assert_int_equal(r->e[2].time_ms, 1000);
	/* every field as recorded */
	assert_string_equal(r->e[0].client, BANK);
	assert_string_equal(r->e[0].service, ADDRESS);
	assert_string_equal(r->e[0].message_id, "msg-1");
	assert_string_equal(r->e[0].purpose, "");
	assert_int_equal(r->e[0].consent_id, 0);
	assert_int_equal(r->e[0].outcome, ACCESSLOG_REFUSED);
	assert_string_equal(r->e[0].reason, "consent 42 withdrawn on 2026-03-18");
	assert_string_equal(r->e[1].client, CLERK);
	assert_int_equal(r->e[1].outcome, ACCESSLOG_ANSWERED);
	assert_string_equal(r->e[1].reason, "");
	assert_string_equal(r->e[2].purpose, "mortgage application 17");
	assert_int_equal(r->e[2].consent_id, 42);
	/* the other person's row only in their report; a reason is kept only for a refusal */
	r = report(t->log, OTHER, 0, 10000, 0, NULL);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->e[0].reason, "");
	assert_int_equal(report(t->log, "nobody", 0, 10000, 0, NULL)->n, 0);
	/* nothing of the data: the table has no column for it */
	assert_int_equal(db_int(t->path, "SELECT count(*) FROM pragma_table_info('access_log')"), 10);
}

static void test_range_limit_and_order(void **state)
{
	struct t *t = *state;
	struct rows *r;
	int more = -1;

	/* same time: the later record first */
	for (int i = 0; i < 10; i++)
		rec(t->log, PIN, 1000 + (i / 2) * 1000, BANK, FAMILY, NULL, i + 1, ACCESSLOG_ANSWERED, NULL);
	r = report(t->log, PIN, 2000, 4000, 0, &more);   /* from inclusive, to exclusive */
	assert_int_equal(r->n, 4);
	assert_int_equal(r->e[0].consent_id, 6);
	assert_int_equal(r->e[1].consent_id, 5);
	assert_int_equal(r->e[2].consent_id, 4);
	assert_int_equal(r->e[3].consent_id, 3);
	assert_int_equal(more, 0);
	r = report(t->log, PIN, 0, 100000, 3, &more);
	assert_int_equal(r->n, 3);
	assert_int_equal(more, 1);
	assert_int_equal(r->e[0].consent_id, 10);
	r = report(t->log, PIN, 0, 100000, 10, &more);
	assert_int_equal(r->n, 10);
	assert_int_equal(more, 0);
	/* a limit above the maximum is the maximum */
	r = report(t->log, PIN, 0, 100000, ACCESSLOG_REPORT_MAX + 5, &more);
	assert_int_equal(r->n, 10);
	/* the callback may stop early */
	{
		static struct rows s;
		char why[256];

		memset(&s, 0, sizeof(s));
		s.stop_after = 2;
		assert_int_equal(accesslog_report(t->log, PIN, 0, 100000, 0, collect, &s, NULL, why,
						  sizeof(why)), 0);
		assert_int_equal(s.n, 2);
	}
}

static void test_time_defaults_to_now(void **state)
{
	struct t *t = *state;
	long long before = (long long)time(NULL) * 1000;
	struct rows *r;

	rec(t->log, PIN, 0, BANK, FAMILY, NULL, 0, ACCESSLOG_ANSWERED, NULL);
	r = report(t->log, PIN, 0, INT64_MAX, 0, NULL);
	assert_int_equal(r->n, 1);
	assert_true(r->e[0].time_ms >= before && r->e[0].time_ms < before + 60000);
}

static void test_refused_input(void **state)
{
	struct t *t = *state;
	char why[512], longsub[64];
	const struct accesslog_record bad[] = {
		{ NULL, 1, BANK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL },
		{ "", 1, BANK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL },
		{ longsub, 1, BANK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL },
		{ PIN, 1, NULL, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL },
		{ PIN, 1, BANK, "", NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL },
	};

	memset(longsub, '1', ACCESSLOG_SUBJECT_MAX + 1);
	longsub[ACCESSLOG_SUBJECT_MAX + 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(accesslog_record(t->log, &bad[i], why, sizeof(why)), -1);
		assert_non_null(strstr(why, "needs a subject"));
	}
	assert_int_equal(db_count(t->path, "access_log"), 0);
	assert_int_equal(accesslog_report(t->log, NULL, 0, 1, 0, collect, NULL, NULL, why, sizeof(why)), -1);
}

/* Over-long texts are cut, never cause a lost record; UTF-8 stays whole. */
static void test_long_texts_cut(void **state)
{
	struct t *t = *state;
	char purpose[3000], reason[2000], msgid[600];
	struct rows *r;

	/* 2-byte letters from offset 0: byte 1023 is the second half of one */
	for (size_t i = 0; i < 2000; i += 2)
		memcpy(purpose + i, "ж", 2);
	purpose[2000] = '\0';
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	memset(msgid, 'm', sizeof(msgid) - 1);
	msgid[sizeof(msgid) - 1] = '\0';
	{
		struct accesslog_record rr = { PIN, 5, BANK, FAMILY, msgid, purpose, 0, ACCESSLOG_REFUSED, reason };
		char why[256];

		assert_int_equal(accesslog_record(t->log, &rr, why, sizeof(why)), 0);
	}
	r = report(t->log, PIN, 0, 10, 0, NULL);
	assert_int_equal(r->n, 1);
	assert_int_equal(strlen(r->e[0].purpose), ACCESSLOG_PURPOSE_MAX - 2);   /* 1023 would split a letter */
	assert_memory_equal(r->e[0].purpose, purpose, ACCESSLOG_PURPOSE_MAX - 2);
	assert_int_equal(strlen(r->e[0].reason), ACCESSLOG_REASON_MAX - 1);
	assert_int_equal(strlen(r->e[0].message_id), ACCESSLOG_MSGID_MAX - 1);
	{
		char out[4];

		accesslog_copy_utf8(out, sizeof(out), "aжж");   /* 'a' + 2 bytes fit, not the next */
		assert_string_equal(out, "aж");
		accesslog_copy_utf8(out, sizeof(out), NULL);
		assert_string_equal(out, "");
	}
}

static void test_injection_verbatim(void **state)
{
	struct t *t = *state;
	static const char *const evil[] = {
		"1'; DROP TABLE access_log; --",
		"x' OR '1'='1",
		"\"); DELETE FROM access_log; --",
	};
	struct rows *r;

	for (size_t i = 0; i < 3; i++)
		rec(t->log, PIN, 10 + (long long)i, evil[i], evil[(i + 1) % 3], evil[(i + 2) % 3], 0,
		    ACCESSLOG_REFUSED, evil[i]);
	rec(t->log, "x' OR '1'='1", 20, BANK, FAMILY, NULL, 0, ACCESSLOG_ANSWERED, NULL);
	r = report(t->log, PIN, 0, 100, 0, NULL);
	assert_int_equal(r->n, 3);
	for (size_t i = 0; i < 3; i++) {
		size_t k = 2 - i;   /* newest first */

		assert_string_equal(r->e[i].client, evil[k]);
		assert_string_equal(r->e[i].service, evil[(k + 1) % 3]);
		assert_string_equal(r->e[i].purpose, evil[(k + 2) % 3]);
		assert_string_equal(r->e[i].reason, evil[k]);
	}
	/* the injection-shaped subject is only its own row */
	assert_int_equal(report(t->log, "x' OR '1'='1", 0, 100, 0, NULL)->n, 1);
	assert_int_equal(db_count(t->path, "access_log"), 4);
}

static void test_foreign_file_refused(void **state)
{
	struct t *t = *state;
	struct accesslog *other = NULL;
	char path[160], why[512] = "", *err = NULL;
	struct accesslog_record r = { PIN, 1, BANK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL };

	snprintf(path, sizeof(path), "%s/foreign.db", t->dir);
	db_exec(path, "CREATE TABLE people (pin TEXT); INSERT INTO people VALUES ('" PIN "')");
	assert_int_equal(accesslog_open(path, &other, &err), 0);   /* not fatal ... */
	assert_non_null(err);
	assert_non_null(strstr(err, "is not an ailgate access log"));
	free(err);
	assert_int_equal(accesslog_record(other, &r, why, sizeof(why)), -1);   /* ... but refused */
	assert_non_null(strstr(why, "is not an ailgate access log"));
	accesslog_close(&other);
	assert_null(other);
	assert_int_equal(db_count(path, "people"), 1);   /* left alone */
	/* and a file that is not a database at all */
	snprintf(path, sizeof(path), "%s/text.db", t->dir);
	write_file(path, "this is not a database, just text. ");
	assert_int_equal(accesslog_open(path, &other, &err), 0);
	assert_non_null(err);
	free(err);
	assert_int_equal(accesslog_record(other, &r, why, sizeof(why)), -1);
	accesslog_close(&other);
	accesslog_close(&other);   /* NULL is fine */
	{
		char *e = NULL;

		assert_int_equal(accesslog_open("", &other, &e), -1);
		assert_non_null(e);
		free(e);
	}
}

static void test_unavailable_then_back(void **state)
{
	struct t *t = *state;
	struct accesslog *log = NULL;
	char sub[160], path[200], why[512] = "", *err = NULL;
	struct accesslog_record r = { PIN, 1, BANK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL };

	snprintf(sub, sizeof(sub), "%s/later", t->dir);
	snprintf(path, sizeof(path), "%s/" ACCESSLOG_FILE, sub);
	assert_int_equal(accesslog_open(path, &log, &err), 0);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot open"));
	free(err);
	assert_int_equal(accesslog_record(log, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, path));
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(accesslog_record(log, &r, why, sizeof(why)), 0);
	assert_int_equal(report(log, PIN, 0, 10, 0, NULL)->n, 1);
	accesslog_close(&log);
}

struct writer {
	const char *path;
	int id, ok;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	struct accesslog *log = NULL;
	char why[512], *err = NULL;

	if (accesslog_open(w->path, &log, &err) != 0)
		return NULL;
	free(err);
	for (int i = 0; i < 200; i++) {
		struct accesslog_record r = { PIN, 100 + i, w->id ? BANK : CLERK, FAMILY, NULL, NULL, 0,
					      ACCESSLOG_ANSWERED, NULL };

		w->ok += accesslog_record(log, &r, why, sizeof(why)) == 0;
	}
	accesslog_close(&log);
	return NULL;
}

static void test_two_writers(void **state)
{
	struct t *t = *state;
	struct writer w[2] = { { t->path, 0, 0 }, { t->path, 1, 0 } };
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].ok, 200);
	assert_int_equal(w[1].ok, 200);
	assert_int_equal(db_count(t->path, "access_log"), 400);
	assert_int_equal(db_int(t->path, "SELECT count(*) FROM access_log WHERE client = '" BANK "'"), 200);
	/* WAL, as documented */
	assert_int_equal(db_int(t->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

static void add(struct accesslog *log, const char *subject, long long ms, const char *msgid,
		const char *purpose)
{
	struct accesslog_record r = { subject, ms, CLERK, FAMILY, msgid, purpose, 0, ACCESSLOG_ANSWERED,
				      "not kept: answered" };
	char why[512] = "";

	if (accesslog_add(log, &r, why, sizeof(why)) != 0)
		fail_msg("add: %s", why);
}

/* Taken, then written in one transaction: nothing is in the file before the
 * flush, every row after it as accesslog_record would have written it. */
static void test_add_then_flush(void **state)
{
	struct t *t = *state;
	char long_purpose[ACCESSLOG_PURPOSE_MAX + 100], why[512] = "";
	struct rows *r;

	memset(long_purpose, 'x', sizeof(long_purpose) - 1);
	long_purpose[sizeof(long_purpose) - 1] = '\0';
	add(t->log, PIN, 1000, "m-1", "certificate 2026/115");
	add(t->log, OTHER, 2000, "m-2", NULL);
	add(t->log, PIN, 3000, "m-3", long_purpose);
	assert_int_equal(accesslog_pending(t->log), 3);
	assert_int_equal(db_count(t->path, "access_log"), 0);
	/* a record written one by one does not take the waiting ones with it */
	rec(t->log, PIN, 500, BANK, ADDRESS, NULL, 0, ACCESSLOG_REFUSED, "no consent");
	assert_int_equal(db_count(t->path, "access_log"), 1);
	assert_int_equal(accesslog_pending(t->log), 3);
	assert_int_equal(accesslog_flush(t->log, why, sizeof(why)), 0);
	assert_int_equal(accesslog_pending(t->log), 0);
	assert_int_equal(db_count(t->path, "access_log"), 4);
	r = report(t->log, PIN, 0, 10000, 0, NULL);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->e[0].message_id, "m-3");
	assert_int_equal(strlen(r->e[0].purpose), ACCESSLOG_PURPOSE_MAX - 1);   /* cut as one by one */
	assert_string_equal(r->e[1].message_id, "m-1");
	assert_string_equal(r->e[1].purpose, "certificate 2026/115");
	assert_string_equal(r->e[1].client, CLERK);
	assert_string_equal(r->e[1].service, FAMILY);
	assert_int_equal(r->e[1].outcome, ACCESSLOG_ANSWERED);
	assert_string_equal(r->e[1].reason, "");
	assert_int_equal(r->e[1].consent_id, 0);
	assert_string_equal(r->e[2].reason, "no consent");
	assert_int_equal(report(t->log, OTHER, 0, 10000, 0, NULL)->n, 1);
	/* nothing waiting: a flush is a no-op */
	assert_int_equal(accesslog_flush(t->log, why, sizeof(why)), 0);
	assert_int_equal(db_count(t->path, "access_log"), 4);
	/* the checks of a record apply when it is taken */
	{
		struct accesslog_record bad = { "", 1, CLERK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL };
		assert_int_equal(accesslog_add(t->log, &bad, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "subject"));
		assert_int_equal(accesslog_pending(t->log), 0);
	}
}

/* Another connection holds the file's write lock past the busy wait: the
 * flush fails saying why, and none of its rows is written then or later
 * (their callers answered an error). */
static void test_flush_fails_writes_none(void **state)
{
	struct t *t = *state;
	sqlite3 *other = NULL;
	char why[512] = "";

	assert_int_equal(db_count(t->path, "access_log"), 0);
	assert_int_equal(sqlite3_open(t->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	add(t->log, PIN, 1000, "m-1", NULL);
	add(t->log, PIN, 2000, "m-2", NULL);
	assert_int_equal(accesslog_flush(t->log, why, sizeof(why)), -1);
	assert_non_null(strstr(why, t->path));
	assert_non_null(strstr(why, "locked"));
	assert_int_equal(accesslog_pending(t->log), 0);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(accesslog_flush(t->log, why, sizeof(why)), 0);
	add(t->log, PIN, 3000, "m-3", NULL);
	assert_int_equal(accesslog_flush(t->log, why, sizeof(why)), 0);
	{
		struct rows *r = report(t->log, PIN, 0, 10000, 0, NULL);
		assert_int_equal(r->n, 1);
		assert_string_equal(r->e[0].message_id, "m-3");
	}
}

/* At most ACCESSLOG_PENDING_MAX wait; the next is refused with the reason;
 * what waits at close is written. */
static void test_cap_and_close(void **state)
{
	struct t *t = *state;
	struct accesslog_record r = { PIN, 1, CLERK, FAMILY, NULL, NULL, 0, ACCESSLOG_ANSWERED, NULL };
	char why[512] = "";

	for (int i = 0; i < ACCESSLOG_PENDING_MAX; i++)
		assert_int_equal(accesslog_add(t->log, &r, why, sizeof(why)), 0);
	assert_int_equal(accesslog_add(t->log, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "already wait for their write"));
	assert_int_equal(accesslog_pending(t->log), ACCESSLOG_PENDING_MAX);
	assert_int_equal(db_count(t->path, "access_log"), 0);
	accesslog_close(&t->log);
	assert_null(t->log);
	assert_int_equal(db_count(t->path, "access_log"), ACCESSLOG_PENDING_MAX);
	assert_int_equal(accesslog_pending(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_and_report, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_range_limit_and_order, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_time_defaults_to_now, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_refused_input, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_long_texts_cut, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_injection_verbatim, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_foreign_file_refused, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_unavailable_then_back, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_two_writers, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_add_then_flush, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_flush_fails_writes_none, setup_log, teardown_log),
		cmocka_unit_test_setup_teardown(test_cap_and_close, setup_log, teardown_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
