/* `ailgate log verify|export` on the command line: exit codes and the first
 * bad record named, on a log written through the msglog API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/logcli.h"
#include "store/msglog.h"

static char dir[64], db[128];

static int setup(void **state)
{
	struct msglog_config c;
	struct msglog *log;
	char *err = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ailgate-logcli-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/msglog.db", dir);
	msglog_config_defaults(&c);
	c.path = db;
	log = msglog_open(&c, &err);
	assert_non_null(log);
	for (int i = 0; i < 5; i++) {
		char body[64], id[32];
		struct msglog_rec r = { 0 };
		int64_t rid;
		snprintf(body, sizeof(body), "<body>%d</body>", i);
		snprintf(id, sizeof(id), "msg-%d", i);
		r.dir = i % 2 ? MSGLOG_RESPONSE : MSGLOG_REQUEST;
		r.side = MSGLOG_SERVER;
		r.reqid = "req";
		r.message_id = id;
		r.client_id = "central-server/GOV/70000050/household-register";
		r.service_id = "central-server/GOV/70000005/passport-service/passportDataByPSN/v1";
		r.body_mode = MSGLOG_BODY_FULL;
		r.body = body;
		r.body_len = strlen(body);
		assert_int_equal(msglog_append_sync(log, &r, &rid, NULL, &err), 0);
	}
	msglog_close(log);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int run(int argc, const char **argv)
{
	int rc;
	FILE *saved = stdout;

	/* the verifier's report goes to stdout: keep the test output quiet */
	stdout = fopen("/dev/null", "w");
	rc = logcli_main(argc, (char **)argv);
	fclose(stdout);
	stdout = saved;
	return rc;
}

static void test_verify_good_then_tampered(void **state)
{
	const char *ok[] = { "verify", db };
	sqlite3 *h;

	(void)state;
	assert_int_equal(run(2, ok), 0);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE records SET body = x'3c626f64793e393c2f626f64793e' WHERE id = 3",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(run(2, ok), 1);
}

static void test_usage_and_io_errors(void **state)
{
	const char *none[] = { "verify" };
	const char *bad[] = { "frobnicate" };
	const char *missing[] = { "verify", "/nonexistent/msglog.db" };
	const char *opt[] = { "verify", "--bogus", db };
	const char *exp[] = { "export", "--db", db };

	(void)state;
	assert_int_equal(run(1, none), 2);
	assert_int_equal(run(1, bad), 2);
	assert_int_equal(run(2, missing), 2);
	assert_int_equal(run(3, opt), 2);
	assert_int_equal(run(3, exp), 2);
}

static void test_export_writes_readme(void **state)
{
	char out[160], readme[200];
	const char *exp[] = { "export", "--db", db, "--message-id", "msg-1", "--out", out };

	(void)state;
	snprintf(out, sizeof(out), "%s/export", dir);
	snprintf(readme, sizeof(readme), "%s/README.txt", out);
	assert_int_equal(run(7, exp), 0);
	assert_int_equal(access(readme, R_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_and_io_errors),
		cmocka_unit_test(test_export_writes_readme),
		cmocka_unit_test(test_verify_good_then_tampered),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
