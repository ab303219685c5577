/* Helpers shared by the message-log tests (test_msglog, test_msglog_fail,
 * test_msglog_pg), header-only. Include after <cmocka.h>, "proc_test.h" and
 * "store/msglog.h".
 *
 *   ml_tsa_cfg    a TSA for c (url, its certificate, its CA chain), stamped
 *                 only when a test asks (msglog_stamp_now)
 *   ml_open       msglog_open, printing why it failed
 *   ml_stamp_all  asks for a stamp and waits (up to 5 s) until nothing is
 *                 unstamped; 0, or -1 */
#ifndef AILGATE_TESTS_UNIT_MSGLOG_TEST_H
#define AILGATE_TESTS_UNIT_MSGLOG_TEST_H

static inline void ml_tsa_cfg(struct msglog_config *c, const char *url, const char *cert, const char *trust)
{
	c->tsa_url = url;
	c->tsa_cert_pem = cert;
	c->tsa_ca_pem = trust;
	c->ts_interval_ms = 100000;   /* tests stamp with msglog_stamp_now */
	c->ts_timeout_ms = 5000;
}

static inline struct msglog *ml_open(const struct msglog_config *c)
{
	char *err = NULL;
	struct msglog *log = msglog_open(c, &err);

	if (!log)
		print_message("msglog_open: %s\n", err ? err : "?");
	free(err);
	return log;
}

static inline int ml_stamp_all(struct msglog *log)
{
	msglog_stamp_now(log);
	for (int i = 0; i < 500; i++) {
		if (msglog_unstamped(log) == 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

#endif
