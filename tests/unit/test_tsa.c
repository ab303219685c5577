/* Tests for store/tsa: the RFC 3161 client against a real TSA
 * (tests/integration/tsa_server.py, which runs `openssl ts -reply`) on
 * 127.0.0.1, and offline verification of the tokens it returns. The PKI
 * is made at test time by certs/mkpki.sh in a mkdtemp directory. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>

#include "store/tsa.h"

static struct {
	char dir[256];
	char pki[320];
	char down[320];
	char url[64];
	pid_t srv;
} E;

static int group_setup(void **state)
{
	char pf[320], tsa_dir[400];
	int port = 0;

	snprintf(E.dir, sizeof(E.dir), "/tmp/test_tsa.XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	snprintf(E.pki, sizeof(E.pki), "%s/pki", E.dir);
	snprintf(E.down, sizeof(E.down), "%s/tsa-down", E.dir);
	snprintf(pf, sizeof(pf), "%s/tsa-port", E.dir);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/1 --clients '' >/dev/null 2>&1",
	       srcdir(), E.pki) != 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", E.pki);
	if ((E.srv = start_tsa(tsa_dir, pf, E.down, &port)) < 0)
		return -1;
	snprintf(E.url, sizeof(E.url), "http://127.0.0.1:%d/", port);
	return 0;
}

static int group_teardown(void **state)
{
	stop_tsa(E.srv);
	curl_global_cleanup();
	if (*E.dir)
		sh("rm -rf '%s'", E.dir);
	return 0;
}

static void path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", E.pki, rel);
}

static struct tsa_client *client(const char *url, const char *signer_rel)
{
	char cert[512], ca[512];
	struct tsa_config c = { url, cert, ca, 5000 };
	struct tsa_client *cl;
	char *err = NULL;

	path(cert, sizeof(cert), signer_rel);
	path(ca, sizeof(ca), "ca/trust.pem");
	cl = tsa_client_new(&c, &err);
	if (!cl)
		print_message("tsa_client_new: %s\n", err ? err : "?");
	free(err);
	return cl;
}

static int write_bytes(const char *p, const void *d, size_t n)
{
	FILE *f = fopen(p, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(d, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* ------------------------------------------------------------------ tests */

static void test_stamp_and_verify(void **state)
{
	struct tsa_client *c = client(E.url, "tsa/tsa.pem");
	static const char data[] = "the chain tip, 32 bytes or any size";
	unsigned char *der = NULL;
	size_t len = 0;
	int64_t gen = 0, gen2 = 0, now = (int64_t)time(NULL) * 1000;
	struct tsa_trust *t;
	char *err = NULL, ca[512], tsa[512];

	assert_non_null(c);
	assert_int_equal(tsa_stamp(c, data, sizeof(data), &der, &len, &gen, &err), 0);
	assert_null(err);
	assert_true(len > 100 && len < TSA_MAX_RESPONSE);
	assert_true(gen > now - 60000 && gen < now + 60000);

	path(ca, sizeof(ca), "ca/trust.pem");
	path(tsa, sizeof(tsa), "tsa/tsa.pem");
	t = tsa_trust_new(ca, tsa, &err);
	assert_non_null(t);
	assert_int_equal(tsa_verify(t, der, len, data, sizeof(data), &gen2, &err), 0);
	assert_int_equal(gen2, gen);

	/* Other data: the imprint does not match. */
	assert_int_equal(tsa_verify(t, der, len, "other", 5, &gen2, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	/* Any changed byte in the signed part breaks it. */
	der[len - 20] ^= 1;
	assert_int_equal(tsa_verify(t, der, len, data, sizeof(data), &gen2, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	/* Sizes outside the cap are refused before parsing. */
	assert_int_equal(tsa_verify(t, der, 0, data, sizeof(data), &gen2, &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(tsa_verify(t, der, TSA_MAX_RESPONSE + 1, data, sizeof(data), &gen2, &err), -1);
	free(err);
	tsa_trust_free(t);
	free(der);
	tsa_client_free(c);
}

/* What we store is what `openssl ts -verify` accepts, and the reverse. */
static void test_openssl_cli_agrees(void **state)
{
	struct tsa_client *c = client(E.url, "tsa/tsa.pem");
	unsigned char root[32], *der = NULL;
	char dp[400], tp[400];
	size_t len;
	int64_t gen;
	char *err = NULL;

	memset(root, 0xa5, sizeof(root));
	assert_non_null(c);
	assert_int_equal(tsa_stamp(c, root, sizeof(root), &der, &len, &gen, &err), 0);
	snprintf(dp, sizeof(dp), "%s/root.bin", E.dir);
	snprintf(tp, sizeof(tp), "%s/token.tsr", E.dir);
	assert_int_equal(write_bytes(dp, root, sizeof(root)), 0);
	assert_int_equal(write_bytes(tp, der, len), 0);
	assert_int_equal(sh("openssl ts -verify -data '%s' -in '%s' -CAfile '%s/ca/trust.pem' "
			    ">/dev/null 2>&1", dp, tp, E.pki), 0);
	root[0] ^= 1;
	assert_int_equal(write_bytes(dp, root, sizeof(root)), 0);
	assert_int_not_equal(sh("openssl ts -verify -data '%s' -in '%s' -CAfile '%s/ca/trust.pem' "
				">/dev/null 2>&1", dp, tp, E.pki), 0);
	free(der);
	tsa_client_free(c);
}

/* A token from the TSA is refused when another certificate is approved. */
static void test_wrong_approved_cert(void **state)
{
	struct tsa_client *c = client(E.url, "operator/operator.pem");
	unsigned char *der = NULL;
	size_t len;
	int64_t gen;
	char *err = NULL;

	assert_non_null(c);
	assert_int_equal(tsa_stamp(c, "x", 1, &der, &len, &gen, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "approved TSA certificate"));
	assert_null(der);
	free(err);
	tsa_client_free(c);
}

/* Anchors that did not issue the TSA certificate: the chain fails. */
static void test_wrong_ca(void **state)
{
	struct tsa_client *c = client(E.url, "tsa/tsa.pem");
	unsigned char *der = NULL;
	struct tsa_trust *t;
	char ca[512], *err = NULL;
	size_t len;
	int64_t gen;

	assert_int_equal(tsa_stamp(c, "x", 1, &der, &len, &gen, &err), 0);
	path(ca, sizeof(ca), "gw/a/auth.pem");   /* a leaf of another CA */
	t = tsa_trust_new(ca, NULL, &err);
	assert_non_null(t);
	assert_int_equal(tsa_verify(t, der, len, "x", 1, &gen, &err), -1);
	assert_non_null(err);
	free(err);
	tsa_trust_free(t);
	free(der);
	tsa_client_free(c);
}

static void test_outage_and_back(void **state)
{
	struct tsa_client *c = client(E.url, "tsa/tsa.pem");
	unsigned char *der = NULL;
	size_t len;
	int64_t gen;
	char *err = NULL;

	assert_int_equal(write_bytes(E.down, "", 0), 0);
	assert_int_equal(tsa_stamp(c, "x", 1, &der, &len, &gen, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "HTTP 503"));
	free(err);
	err = NULL;
	unlink(E.down);
	assert_int_equal(tsa_stamp(c, "x", 1, &der, &len, &gen, &err), 0);
	free(der);
	tsa_client_free(c);
}

static void test_connection_refused(void **state)
{
	struct tsa_client *c = client("http://127.0.0.1:1/", "tsa/tsa.pem");
	unsigned char *der = NULL;
	size_t len;
	int64_t gen;
	char *err = NULL;

	assert_non_null(c);
	assert_int_equal(tsa_stamp(c, "x", 1, &der, &len, &gen, &err), -1);
	assert_non_null(err);
	free(err);
	tsa_client_free(c);
}

static void test_bad_config(void **state)
{
	static const struct {
		const char *url;
		const char *cert;
	} cases[] = {
		{ "ftp://127.0.0.1/", "tsa/tsa.pem" },
		{ NULL, "tsa/tsa.pem" },
		{ "http://127.0.0.1/", "does/not/exist.pem" },
		{ "http://127.0.0.1/", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cert[512];
		struct tsa_config cfg = { cases[i].url, cases[i].cert ? cert : NULL, NULL, 0 };
		char *err = NULL;

		if (cases[i].cert)
			path(cert, sizeof(cert), cases[i].cert);
		assert_null(tsa_client_new(&cfg, &err));
		assert_non_null(err);
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_and_verify),
		cmocka_unit_test(test_openssl_cli_agrees),
		cmocka_unit_test(test_wrong_approved_cert),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_outage_and_back),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
