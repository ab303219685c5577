/* Tests for store/logverify_export: `ailgate log export` as a third party
 * (a court expert) receives it - checked with the export's own check.py,
 * xmlsec1 and openssl and nothing else, by running every command its
 * README.txt gives - and the forgeries an auditor made of such a package
 * (tests/integration/export_tamper.py), each of which must fail a check.
 *
 * The log is written through the msglog API with real SignedMessage
 * documents (sig_sign, the member key of a development PKI made by
 * certs/mkpki.sh) and stamped by a real TSA (tests/integration/tsa_server.py
 * running `openssl ts -reply` on 127.0.0.1). AILGATE_KEEP_TMP=1 keeps the
 * test's directory (/tmp/test_logexport.*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "lib/buf.h"
#include "store/logverify.h"
#include "store/msglog.h"
#include "trust/keys.h"
#include "trust/sign.h"

#define CLIENT "central-server/GOV/70000050/household-register"
#define SERVICE "central-server/GOV/70000005/population/getPerson/v1"

#include "msglog_test.h"

static struct ml_env E;
static struct {
	char sign_ca[400], tamper[400];
	char ocsp[8192];                 /* carried OCSP data: the member's and the gateway's */
} X;

/* ---------------------------------------------------------- environment */

static void newdir(char *out, size_t n)
{
	ml_env_newdir(&E, out, n);
}

/* X.ocsp: what travels with a message (trust/ocsp.h's carried form, base64
 * of each DER response, comma-separated): a GOOD response for the member's
 * signing certificate by the sign CA's responder, and one for gateway a's
 * TLS certificate by the auth CA's, made offline by openssl ocsp. */
static int make_ocsp(void)
{
	static const char *const what[2][3] = { { "sign", "members/GOV_70000050/sign.pem", "m" },
						 { "auth", "gw/a/auth.pem", "a" } };
	FILE *f;
	size_t n;

	for (int i = 0; i < 2; i++) {
		if (sh("cd '%s' && openssl ocsp -issuer ca/%s/cert.pem -cert %s -reqout %s.req -no_nonce >/dev/null 2>&1 && "
		       "openssl ocsp -index ca/%s/index.txt -rsigner ocsp/%s/ocsp.pem -rkey ocsp/%s/ocsp.key -CA "
		       "ca/%s/cert.pem -reqin %s.req -respout %s.resp -ndays 1 >/dev/null 2>&1 && base64 -w0 %s.resp "
		       "%s ocsp.txt", E.pki, what[i][0], what[i][1], what[i][2], what[i][0], what[i][0], what[i][0],
		       what[i][0], what[i][2], what[i][2], what[i][2], i ? ">>" : ">") != 0)
			return -1;
		if (!i && sh("printf , >> '%s/ocsp.txt'", E.pki) != 0)
			return -1;
	}
	snprintf(X.ocsp, sizeof(X.ocsp), "%s/ocsp.txt", E.pki);
	if (!(f = fopen(X.ocsp, "r")))
		return -1;
	n = fread(X.ocsp, 1, sizeof(X.ocsp) - 1, f);
	fclose(f);
	X.ocsp[n] = 0;
	return n > 100 && n < sizeof(X.ocsp) - 1 ? 0 : -1;
}

static int group_setup(void **state)
{
	char *err = NULL;

	if (ml_env_start(&E, "test_logexport") != 0)
		return -1;
	snprintf(X.sign_ca, sizeof(X.sign_ca), "%s/ca/sign/cert.pem", E.pki);
	snprintf(X.tamper, sizeof(X.tamper), "%s/tests/integration/export_tamper.py", srcdir());
	if (evthread_use_pthreads() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    sig_global_init(&err) != 0) {
		free(err);
		return -1;
	}
	return make_ocsp();
}

static int group_teardown(void **state)
{
	ml_env_stop(&E);
	curl_global_cleanup();
	libevent_global_shutdown();
	sig_global_shutdown();
	return 0;
}

/* ------------------------------------------------------------- the log */

/* The member's signing key: GOV/70000050's, or cert (with the sign CA after
 * it) for the same key. */
static struct signing_key *member_key(const char *cert)
{
	char key[400], chain[400], *err = NULL;
	struct signing_key *k = NULL;

	snprintf(key, sizeof(key), "%s/members/GOV_70000050/sign.key", E.pki);
	snprintf(chain, sizeof(chain), "%s/members/GOV_70000050/sign-fullchain.pem", E.pki);
	if (keys_load_pem(key, cert ? cert : chain, cert ? X.sign_ca : NULL, &k, &err) != 0)
		print_message("keys_load_pem: %s\n", err ? err : "?");
	free(err);
	return k;
}

/* Appends record i of the test exchange (ml_make_rec: msg-(i+1)/2, odd i
 * requests) at t_ms with a real SignedMessage over its body and OCSP data
 * ocsp (NULL: X.ocsp, real responses), as the gateway logs it; digest:
 * metadata-only. Its id, or -1. */
static int64_t append_signed(struct msglog *log, struct signing_key *k, int i, int64_t t_ms, int digest,
			     const char *ocsp)
{
	struct msglog_rec r;
	struct ml_recbuf b;
	struct sig_meta m = { 0 };
	struct buf doc;
	char *err = NULL;
	int64_t id = -1;

	ml_make_rec(&r, &b, i);
	r.time_ms = t_ms;
	r.ocsp = ocsp ? ocsp : X.ocsp;
	r.ocsp_len = strlen(r.ocsp);
	if (digest)
		r.body_mode = MSGLOG_BODY_DIGEST;
	m.kind = r.dir == MSGLOG_REQUEST ? SIG_REQUEST : SIG_RESPONSE;
	m.client = "SUBSYSTEM:" CLIENT;
	m.service = "SERVICE:" SERVICE;
	m.message_id = r.message_id;
	m.time.tv_sec = (time_t)(t_ms / 1000);
	m.time.tv_nsec = (long)(t_ms % 1000) * 1000000;
	m.request_hash = r.dir == MSGLOG_RESPONSE ? r.request_hash : NULL;
	m.content_type = "text/xml; charset=utf-8";
	buf_init(&doc, 64 * 1024);
	if (sig_sign(k, &m, r.body, r.body_len, &doc, &err) != 0) {
		print_message("sig_sign: %s\n", err ? err : "?");
		goto out;
	}
	r.sigdoc = doc.data;
	r.sigdoc_len = doc.len;
	if (msglog_append_sync(log, &r, &id, NULL, &err) < 0) {
		print_message("append: %s\n", err ? err : "?");
		id = -1;
	}
out:
	free(err);
	buf_free(&doc);
	return id;
}

/* db: records 1..6 (msg-1 .. msg-3, record 4 metadata-only) signed with k
 * at t0 + i, stamped after 2 and after 6: batches 1-2 and 3-6. */
static void make_log(const char *db, struct signing_key *k, int64_t t0)
{
	struct msglog_config c;
	struct msglog *log;

	msglog_config_defaults(&c);
	c.path = db;
	ml_tsa_cfg(&c, E.url, E.tsa_cert, E.trust);
	assert_non_null(log = ml_open(&c));
	for (int i = 1; i <= 6; i++) {
		assert_int_equal(append_signed(log, k, i, t0 + i, i == 4, NULL), i);
		if (i == 2 || i == 6)
			assert_int_equal(ml_stamp_all(log), 0);
	}
	msglog_close(log);
}

/* A fresh directory d holding make_log's log as d/log.db, signed now with
 * the member's own key. */
static void fresh_log(char *d, size_t dn, char *db, size_t dbn)
{
	struct signing_key *k = member_key(NULL);

	assert_non_null(k);
	newdir(d, dn);
	snprintf(db, dbn, "%s/log.db", d);
	make_log(db, k, msglog_now_ms());
	keys_free(&k);
}

/* ------------------------------------------------------- the third party */

/* Runs every command line of README.txt that starts with one of the tools
 * (or a test of one); the number that failed, -1 without README.txt. */
static int run_readme(const char *out, int *ran)
{
	static const char *const tools[] = { "openssl ", "xmlsec1 ", "python3 ", "sha256sum ", "test ",
					     "TZ=UTC xmlsec1 " };
	char p[512], line[2048];
	FILE *f;
	int fails = 0;

	snprintf(p, sizeof(p), "%s/README.txt", out);
	if (!(f = fopen(p, "r")))
		return -1;
	*ran = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *l = line + strspn(line, " ");
		size_t i;

		for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
			if (strncmp(l, tools[i], strlen(tools[i])) == 0)
				break;
		if (i == sizeof(tools) / sizeof(tools[0]))
			continue;
		line[strcspn(line, "\n#")] = 0;   /* the comment would swallow the redirection */
		(*ran)++;
		if (sh("cd '%s' && %s >/dev/null 2>&1", out, l) != 0) {
			print_message("README command failed: %s\n", l);
			fails++;
		}
	}
	fclose(f);
	return fails;
}

/* check.py's exit status in dir. */
static int check_py(const char *dir)
{
	return sh("cd '%s' && python3 check.py >/dev/null 2>&1", dir);
}

/* A fresh copy of the export out as out-NAME, changed by the shell command
 * what (run in it); its path in copy. */
static void tampered(const char *out, const char *name, char *copy, size_t n, const char *what)
{
	snprintf(copy, n, "%s-%s", out, name);
	assert_int_equal(sh("rm -rf '%s' && cp -r '%s' '%s' && cd '%s' && %s", copy, out, copy, copy, what), 0);
}

/* msg-2 (records 3 and 4; 4 metadata-only, in batch 3-6): every command of
 * the README succeeds and check.py says OK; a changed byte of a body, a
 * signature document or a stamped root fails. By time: every record. */
static void test_export_third_party(void **state)
{
	char d[320], db[400], out[400], out2[400], copy[460], *err = NULL;
	struct logverify_export_sel sel = { 0 };
	int ran = 0;

	fresh_log(d, sizeof(d), db, sizeof(db));
	snprintf(out, sizeof(out), "%s/export", d);
	snprintf(out2, sizeof(out2), "%s/export-range", d);

	sel.message_id = "msg-2";
	sel.tsa_ca_pem = E.trust;
	sel.sign_trust_pem = E.trust;
	sel.sign_chain_pem = X.sign_ca;
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	assert_null(err);
	assert_int_equal(sh("test -f '%s/records/3/body.bin' && test ! -e '%s/records/4/body.bin' && "
			    "test -f '%s/records/4/signature.xml' && test -f '%s/batches/3-6/token.tsr'"
			    " && test -f '%s/batches/3-6/root.bin' && test -f '%s/tsa-ca.pem'",
			    out, out, out, out, out, out), 0);
	/* Every command the README gives succeeds. */
	assert_int_equal(run_readme(out, &ran), 0);
	assert_true(ran >= 5);   /* python3, 2x xmlsec1, the body of 3, openssl ts */
	assert_int_equal(check_py(out), 0);
	/* ... and fails on a changed byte. */
	tampered(out, "body", copy, sizeof(copy), "sed -i 's/record 3/record 9/' records/3/body.bin");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "sig", copy, sizeof(copy), "sed -i 's/msg-2/msg-9/' records/4/signature.xml");
	assert_int_not_equal(sh("cd '%s' && xmlsec1 --verify --trusted-pem sign-trust.pem --untrusted-pem "
				"sign-chain.pem --id-attr:Id SignedProperties records/4/signature.xml "
				">/dev/null 2>&1", copy), 0);
	assert_int_equal(check_py(copy), 1);
	tampered(out, "root", copy, sizeof(copy), "printf x >> batches/3-6/root.bin");
	assert_int_not_equal(sh("cd '%s' && openssl ts -verify -data batches/3-6/root.bin -in "
				"batches/3-6/token.tsr -CAfile tsa-ca.pem >/dev/null 2>&1", copy), 0);
	assert_int_equal(check_py(copy), 1);

	/* By time: everything; into a non-empty directory: refused. */
	sel.message_id = NULL;
	sel.from_ms = 1;
	sel.to_ms = (int64_t)time(NULL) * 1000 + 60000;
	assert_int_equal(logverify_export(db, &sel, out2, &err), 6);
	assert_int_equal(run_readme(out2, &ran), 0);
	assert_int_equal(check_py(out2), 0);
	assert_int_equal(logverify_export(db, &sel, out2, &err), -1);
	assert_non_null(err);
	free(err);
}

/* The auditor's forgeries of an export (finding 1), each of which used to
 * pass check.py: a body with text appended and meta.json rewritten to match
 * (canon fields 10 and 11, body_len, body_sha256, hash) - sha256sum, xmlsec1
 * and openssl ts still pass, so the README's body command (against the
 * signed BodyDigest) and check.py (the hash is not in the stamped chain)
 * must catch it; a readable field of meta.json that canon does not hold; a
 * deleted body.bin; the batches/ folder deleted. Without its batch and with
 * meta.json saying so, a record is UNSTAMPED (exit 2), never OK. */
static void test_export_forgeries_fail(void **state)
{
	char d[320], db[400], out[400], copy[460], cmd[600], *err = NULL;
	struct logverify_export_sel sel = { .message_id = "msg-2" };
	int ran = 0;

	fresh_log(d, sizeof(d), db, sizeof(db));
	snprintf(out, sizeof(out), "%s/export", d);
	sel.tsa_ca_pem = E.trust;
	sel.sign_trust_pem = E.trust;
	sel.sign_chain_pem = X.sign_ca;
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	assert_int_equal(check_py(out), 0);

	snprintf(cmd, sizeof(cmd), "python3 '%s' . forge-body 3", X.tamper);
	tampered(out, "forged", copy, sizeof(copy), cmd);
	assert_int_equal(check_py(copy), 1);
	assert_int_equal(run_readme(copy, &ran), 2);   /* check.py and the body's command, only they */
	assert_int_equal(sh("cd '%s' && xmlsec1 --verify --trusted-pem sign-trust.pem --untrusted-pem "
			    "sign-chain.pem --id-attr:Id SignedProperties records/3/signature.xml >/dev/null 2>&1 && "
			    "openssl ts -verify -data batches/3-6/root.bin -in batches/3-6/token.tsr -CAfile tsa-ca.pem "
			    ">/dev/null 2>&1 && python3 check.py | grep -q '^BAD *records/3: .*BodyDigest> differs.*"
			    "not the one batches/3-6/chain.json holds'", copy), 0);
	snprintf(cmd, sizeof(cmd), "python3 '%s' . set-meta 3 client_id '\"central-server/COM/1/x\"'", X.tamper);
	tampered(out, "client", copy, sizeof(copy), cmd);
	assert_int_equal(check_py(copy), 1);
	snprintf(cmd, sizeof(cmd), "python3 '%s' . set-meta 4 time_ms 1000", X.tamper);
	tampered(out, "time", copy, sizeof(copy), cmd);
	assert_int_equal(check_py(copy), 1);
	tampered(out, "nobody", copy, sizeof(copy), "rm records/3/body.bin");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "nobatches", copy, sizeof(copy), "rm -r batches");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "nosig", copy, sizeof(copy), "rm records/4/signature.xml");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "ocsp", copy, sizeof(copy), "printf garbage > records/3/ocsp-0.der");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "ocsp1", copy, sizeof(copy), "rm records/3/ocsp-1.der");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "norecords", copy, sizeof(copy), "rm -r records");
	assert_int_equal(check_py(copy), 1);
	snprintf(cmd, sizeof(cmd), "python3 '%s' . unstamp && rm -r batches", X.tamper);
	tampered(out, "unstamped", copy, sizeof(copy), cmd);
	assert_int_equal(check_py(copy), 2);
	assert_int_equal(sh("cd '%s' && python3 check.py | grep -c '^UNSTAMPED' | grep -qx 2", copy), 0);
}

/* export's error for sel into a fresh directory under d (which must stay
 * unmade): -1 expected; the message, caller frees. */
static char *export_refused(const char *db, struct logverify_export_sel *sel, const char *d, const char *name)
{
	char out[460], *err = NULL;

	snprintf(out, sizeof(out), "%s/%s", d, name);
	assert_int_equal(logverify_export(db, sel, out, &err), -1);
	assert_non_null(err);
	assert_int_not_equal(access(out, F_OK), 0);   /* nothing left behind */
	print_message("refused: %s\n", err);
	return err;
}

/* Finding 6: a record deleted inside the exported span, and a token whose
 * signature is broken, exported with rc 0 (check.py later said BAD, or
 * nothing did), while a changed byte was refused. Now every one is refused
 * with the reason, by message id and by time, with or without --tsa-ca. */
static void test_export_refuses_broken_log(void **state)
{
	char d[320], db[400], copy[420], *err = NULL;
	struct logverify_export_sel by_msg = { .message_id = "msg-2", .tsa_ca_pem = E.trust };
	struct logverify_export_sel by_time = { .from_ms = 1, .to_ms = (int64_t)time(NULL) * 1000 + 60000 };
	struct logverify_export_sel first = { .message_id = "msg-1", .tsa_ca_pem = E.trust };

	fresh_log(d, sizeof(d), db, sizeof(db));
	snprintf(copy, sizeof(copy), "%s/copy.db", d);

	/* record 5 (msg-3's request) deleted: msg-2 shares its batch 3-6 */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "DELETE FROM records WHERE id = 5"), 0);
	err = export_refused(copy, &by_msg, d, "x1");
	assert_non_null(strstr(err, "record 5 is missing"));
	assert_non_null(strstr(err, "nothing exported"));
	free(err);
	err = export_refused(copy, &by_time, d, "x2");
	assert_non_null(strstr(err, "record 5 is missing"));
	free(err);
	/* the last record of the batch: known from the batch */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "DELETE FROM records WHERE id = 6"), 0);
	err = export_refused(copy, &by_msg, d, "x3");
	assert_non_null(strstr(err, "record 6 is missing"));
	free(err);

	/* the last byte of batch 3-6's token (its signature) changed: refused with
	 * and without --tsa-ca; the other batch's records still export */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "UPDATE timestamps SET token = substr(token, 1, length(token) - 1) || "
				     "CASE WHEN substr(token, -1) = X'01' THEN X'02' ELSE X'01' END "
				     "WHERE first_id = 3"), 0);
	err = export_refused(copy, &by_msg, d, "x4");
	assert_non_null(strstr(err, "batch 2 (records 3..6): its time stamp token does not verify against --tsa-ca"));
	free(err);
	by_msg.tsa_ca_pem = NULL;
	err = export_refused(copy, &by_msg, d, "x5");
	assert_non_null(strstr(err, "batch 2 (records 3..6): its time stamp token does not verify: "));
	free(err);
	err = export_refused(copy, &by_time, d, "x6");
	free(err);
	{
		char out[460];

		snprintf(out, sizeof(out), "%s/first", d);
		assert_int_equal(logverify_export(copy, &first, out, &err), 2);
		assert_null(err);
		assert_int_equal(check_py(out), 0);
	}
	/* a stamp deleted: its records are not covered, later ones are */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "DELETE FROM timestamps WHERE first_id = 1"), 0);
	first.tsa_ca_pem = NULL;
	err = export_refused(copy, &first, d, "x7");
	assert_non_null(strstr(err, "record 1 is not covered by a time stamp, but later records are"));
	free(err);
	/* a stored root changed */
	assert_int_equal(sh("cp '%s' '%s'", db, copy), 0);
	assert_int_equal(ml_exec_sql(copy, "UPDATE timestamps SET root = zeroblob(32) WHERE first_id = 3"), 0);
	err = export_refused(copy, &by_msg, d, "x8");
	assert_non_null(strstr(err, "its stored root is not the hash of record 6"));
	free(err);
}

/* Finding 2: the README's commands failed "years later", once the member's
 * or the TSA's certificate had expired, while log verify checks as of the
 * record's time and the token's genTime. Here both have expired by the
 * time of the export: the member's certificate and the TSA's are valid
 * for 3 seconds from now, the records signed and stamped in them. Every
 * README command passes; the same commands without the times fail. */
static void test_export_commands_after_expiry(void **state)
{
	char d[320], db[400], out[400], tsa2[400], pf[420], down[420], url[64], cert[420], start[32], end[32];
	char *err = NULL;
	struct logverify_export_sel sel = { .message_id = "msg-2", .tsa_ca_pem = E.trust };
	struct signing_key *k;
	struct msglog_config c;
	struct msglog *log;
	time_t t_start = time(NULL), t_end = t_start + 3;
	int64_t t0 = (int64_t)t_start * 1000 + 100, gen = 0;
	struct tm tm;
	pid_t srv;
	int port = 0, ran = 0;

	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(out, sizeof(out), "%s/export", d);
	snprintf(cert, sizeof(cert), "%s/member-short.pem", d);
	snprintf(tsa2, sizeof(tsa2), "%s/tsa", d);
	snprintf(pf, sizeof(pf), "%s/tsa-port", d);
	snprintf(down, sizeof(down), "%s/tsa-down", d);
	gmtime_r(&t_start, &tm);
	strftime(start, sizeof(start), "%Y%m%d%H%M%SZ", &tm);
	gmtime_r(&t_end, &tm);
	strftime(end, sizeof(end), "%Y%m%d%H%M%SZ", &tm);
	sel.sign_trust_pem = E.trust;
	sel.sign_chain_pem = X.sign_ca;
	/* the member's key, certified for 3 seconds */
	assert_int_equal(sh("cd '%s' && openssl req -new -config '%s/ca/sign/ca.cnf' -key '%s/members/GOV_70000050/sign.key'"
			    " -subj '/C=KG/O=test/serialNumber=GOV\\/70000050/CN=70000050' -out m.csr && openssl ca -batch "
			    "-config '%s/ca/sign/ca.cnf' -extensions v3_sign -startdate %s -enddate %s -notext -in m.csr "
			    "-out '%s' >/dev/null 2>&1", d, E.pki, E.pki, E.pki, start, end, cert), 0);
	/* a TSA whose certificate ends then too */
	assert_int_equal(sh("cp -r '%s/tsa' '%s' && sed -i 's|^dir = .*|dir = %s|' '%s/tsa.cnf' && cd '%s' && "
			    "openssl req -new -config '%s/ca/root/ca.cnf' -key tsa.key -subj '/CN=short-lived TSA' "
			    "-out tsa.csr && openssl ca -batch -config '%s/ca/root/ca.cnf' -extensions v3_tsa "
			    "-startdate %s -enddate %s -notext -in tsa.csr -out tsa.pem >/dev/null 2>&1",
			    E.pki, tsa2, tsa2, tsa2, tsa2, E.pki, E.pki, start, end), 0);
	assert_true((srv = start_tsa(tsa2, pf, down, &port)) > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(pf, sizeof(pf), "%s/tsa.pem", tsa2);
	assert_non_null(k = member_key(cert));
	msglog_config_defaults(&c);
	c.path = db;
	ml_tsa_cfg(&c, url, pf, E.trust);
	assert_non_null(log = ml_open(&c));
	for (int i = 1; i <= 4; i++)
		assert_int_equal(append_signed(log, k, i, t0 + i, 0, NULL), i);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	keys_free(&k);
	stop_tsa(srv);
	gen = ml_count_rows(db, "SELECT time_ms FROM timestamps");
	if (gen / 1000 >= (int64_t)t_end)
		skip();   /* too slow a machine: stamped after the TSA's certificate ended */
	while (time(NULL) <= t_end)
		sleep_ms(200);

	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	assert_null(err);
	{
		char when[32];
		time_t t = (time_t)(t0 / 1000);

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		assert_int_equal(sh("grep -q -- '^TZ=UTC xmlsec1 --verify --verification-time \"%s\" .* records/3/signature.xml$' "
				    "'%s/README.txt'", when, out), 0);
	}
	assert_int_equal(sh("grep -q -- '^openssl ts -verify -attime %lld -data batches/1-4/root.bin' '%s/README.txt'",
			    (long long)(gen / 1000), out), 0);
	assert_int_equal(run_readme(out, &ran), 0);
	assert_true(ran >= 6);   /* python3, 2x xmlsec1, 2 bodies, openssl ts */
	/* what the README gave before: as of today */
	assert_int_not_equal(sh("cd '%s' && xmlsec1 --verify --trusted-pem sign-trust.pem --untrusted-pem sign-chain.pem "
				"--id-attr:Id SignedProperties records/3/signature.xml >/dev/null 2>&1", out), 0);
	assert_int_not_equal(sh("cd '%s' && openssl ts -verify -data batches/1-4/root.bin -in batches/1-4/token.tsr "
				"-CAfile tsa-ca.pem >/dev/null 2>&1", out), 0);
	/* the time is UTC whatever the reader's zone: in UTC+6 it still passes */
	assert_int_equal(sh("cd '%s' && export TZ=Asia/Bishkek && eval \"$(grep '^TZ=UTC xmlsec1 .*records/3/' README.txt)\" "
			    ">/dev/null 2>&1", out), 0);
}

/* Finding 3: ocsp.der was the carried base64 text, not DER (openssl ocsp
 * -respin said "wrong tag"), check.py ignored canon field 13, and README.txt
 * gave no OCSP command. Now each response is ocsp-<i>.der, real DER: the
 * README's openssl ocsp commands pass (the member's response verified
 * against sign-trust.pem and sign-chain.pem as of the record's time, the
 * gateway's, of another CA, shown), and check.py ties the files to canon:
 * garbage, a swap or a missing file fail. Data not exactly in the carried
 * form is kept as logged in ocsp.txt too: spaces around the comma (still
 * split into DER files), text that is no response (ocsp.txt only). */
static void test_export_ocsp_der(void **state)
{
	char d[320], db[400], out[400], copy[460], spaced[8200], *err = NULL, *comma;
	struct signing_key *k = member_key(NULL);
	struct logverify_export_sel sel = { .message_id = "msg-2", .tsa_ca_pem = E.trust, .sign_trust_pem = E.trust,
					    .sign_chain_pem = X.sign_ca };
	struct msglog_config c;
	struct msglog *log;
	int64_t t0 = msglog_now_ms();
	int ran = 0;

	assert_non_null(k);
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(out, sizeof(out), "%s/export", d);
	assert_non_null(comma = strchr(X.ocsp, ','));
	snprintf(spaced, sizeof(spaced), "%.*s , %s", (int)(comma - X.ocsp), X.ocsp, comma + 1);
	msglog_config_defaults(&c);
	c.path = db;
	ml_tsa_cfg(&c, E.url, E.tsa_cert, E.trust);
	assert_non_null(log = ml_open(&c));
	assert_int_equal(append_signed(log, k, 1, t0 + 1, 0, NULL), 1);
	assert_int_equal(append_signed(log, k, 2, t0 + 2, 0, spaced), 2);
	assert_int_equal(append_signed(log, k, 3, t0 + 3, 0, "ocsp-3"), 3);
	assert_int_equal(append_signed(log, k, 4, t0 + 4, 0, ""), 4);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	keys_free(&k);
	sel.message_id = NULL;
	sel.from_ms = 1;
	sel.to_ms = t0 + 60000;
	assert_int_equal(logverify_export(db, &sel, out, &err), 4);
	assert_null(err);
	assert_int_equal(sh("cd '%s/records' && ls 1 | grep -c ocsp | grep -qx 2 && test -f 1/ocsp-0.der && test -f 1/ocsp-1.der"
			    " && test -f 2/ocsp.txt && test -f 2/ocsp-1.der && ls 3 | grep ocsp | grep -qx ocsp.txt && "
			    "! ls 4 | grep -q ocsp && openssl ocsp -respin 1/ocsp-0.der -resp_text -noverify 2>/dev/null | "
			    "grep -q 'Cert Status: good'", out), 0);
	assert_int_equal(sh("grep -q '^openssl ocsp -respin records/1/ocsp-0.der -resp_text -CAfile sign-trust.pem "
			    "-verify_other sign-chain.pem -attime %lld ' '%s/README.txt' && grep -q '^openssl ocsp -respin "
			    "records/1/ocsp-1.der -resp_text -noverify ' '%s/README.txt'", (long long)((t0 + 1) / 1000), out,
			    out), 0);
	assert_int_equal(run_readme(out, &ran), 0);
	assert_true(ran >= 1 + 4 + 4 + 1 + 4);   /* check.py, xmlsec1, bodies, openssl ts, 4 responses */
	assert_int_equal(check_py(out), 0);

	tampered(out, "garbage", copy, sizeof(copy), "printf garbage > records/1/ocsp-0.der");
	assert_int_equal(check_py(copy), 1);
	assert_int_not_equal(sh("cd '%s' && $(grep '^openssl ocsp -respin records/1/ocsp-0.der' README.txt | "
				"sed 's/  #.*//') >/dev/null 2>&1", copy), 0);
	tampered(out, "swap", copy, sizeof(copy), "cd records/1 && mv ocsp-0.der x && mv ocsp-1.der ocsp-0.der && "
		 "mv x ocsp-1.der");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "gone", copy, sizeof(copy), "rm records/1/ocsp-1.der");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "txt", copy, sizeof(copy), "printf ocsp-9 > records/3/ocsp.txt");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "txtder", copy, sizeof(copy), "cp records/1/ocsp-0.der records/2/ocsp-1.der");
	assert_int_equal(check_py(copy), 1);
	tampered(out, "extra", copy, sizeof(copy), "cp records/1/ocsp-0.der records/4/ocsp-0.der");
	assert_int_equal(check_py(copy), 1);
}

/* Finding 4: an export made while nothing (or not everything) was stamped
 * looked stamped - README.txt said "with the RFC 3161 time stamps of their
 * batches", check.py printed OK, only stdout warned. Now README.txt names
 * the records no time stamp covers and says what that means, and check.py
 * reports them UNSTAMPED (exit 2), the stamped ones OK. */
static void test_export_unstamped_said(void **state)
{
	char d[320], db[400], db2[400], out[400], out2[400], *err = NULL;
	struct signing_key *k = member_key(NULL);
	struct logverify_export_sel sel = { .from_ms = 1, .tsa_ca_pem = E.trust, .sign_trust_pem = E.trust,
					    .sign_chain_pem = X.sign_ca };
	struct msglog_config c;
	struct msglog *log;
	int64_t t0 = msglog_now_ms();
	int ran = 0;

	assert_non_null(k);
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(db2, sizeof(db2), "%s/nothing-stamped.db", d);
	snprintf(out, sizeof(out), "%s/export", d);
	snprintf(out2, sizeof(out2), "%s/export-none", d);
	sel.to_ms = t0 + 60000;
	msglog_config_defaults(&c);
	c.path = db;
	ml_tsa_cfg(&c, E.url, E.tsa_cert, E.trust);
	assert_non_null(log = ml_open(&c));
	for (int i = 1; i <= 2; i++)
		assert_int_equal(append_signed(log, k, i, t0 + i, 0, NULL), i);
	assert_int_equal(ml_stamp_all(log), 0);
	msglog_close(log);
	msglog_config_defaults(&c);   /* then without a TSA (a close stamps what it can) */
	c.path = db;
	assert_non_null(log = ml_open(&c));
	for (int i = 3; i <= 4; i++)
		assert_int_equal(append_signed(log, k, i, t0 + i, 0, NULL), i);
	msglog_close(log);
	c.path = db2;                 /* nothing stamped at all */
	assert_non_null(log = ml_open(&c));
	for (int i = 1; i <= 2; i++)
		assert_int_equal(append_signed(log, k, i, t0 + i, 0, NULL), i);
	msglog_close(log);
	keys_free(&k);

	assert_int_equal(logverify_export(db, &sel, out, &err), 4);
	assert_null(err);
	assert_int_equal(sel.unstamped, 2);
	assert_int_equal(sh("cd '%s' && grep -q '^Covered by the RFC 3161 time stamp of their batch (batches/): "
			    "record(s) 1-2\\.$' README.txt && grep -q '^NOT covered by a time stamp: record(s) 3-4\\.$' "
			    "README.txt && grep -q '^records/3, the request of .*, NOT covered by a time stamp:$' README.txt "
			    "&& grep -q '^records/2, the response of .*, covered by the time stamp of batches/1-2:$' README.txt"
			    " && ! grep -q 'time stamps of their batches' README.txt", out), 0);
	assert_int_equal(check_py(out), 2);
	assert_int_equal(sh("cd '%s' && python3 check.py | grep -E '^(OK|UNSTAMPED|BAD) +records/' | awk '{print $1 \" \" $2}' | "
			    "tr -d : | tr '\\n' ';' | grep -qx 'OK records/1;OK records/2;UNSTAMPED records/3;"
			    "UNSTAMPED records/4;'", out), 0);
	assert_int_equal(run_readme(out, &ran), 1);   /* check.py's exit 2; every other command passes */

	assert_int_equal(logverify_export(db2, &sel, out2, &err), 2);
	assert_null(err);
	assert_int_equal(sel.unstamped, 2);
	assert_int_equal(sh("cd '%s' && test ! -e batches && grep -q '^NONE of them is covered by a time stamp "
			    "(record(s) 1-2)\\.$' README.txt && ! grep -q '^Covered by' README.txt && "
			    "! grep -q '^openssl ts' README.txt", out2), 0);
	assert_int_equal(check_py(out2), 2);
	assert_int_equal(sh("cd '%s' && python3 check.py | grep -c '^UNSTAMPED' | grep -qx 2", out2), 0);
}

/* Finding 5: made without --tsa-ca, --sign-trust and --sign-chain, README.txt
 * told the reader to use sign-trust.pem, which was not there. Now it says
 * which certificates are not in the export and where they come from; put
 * there as it says, every command passes (the OCSP responses shown, not
 * verified). */
static void test_export_without_anchors(void **state)
{
	char d[320], db[400], out[400], *err = NULL;
	struct logverify_export_sel sel = { .message_id = "msg-2" };
	int ran = 0;

	fresh_log(d, sizeof(d), db, sizeof(db));
	snprintf(out, sizeof(out), "%s/export", d);
	assert_int_equal(logverify_export(db, &sel, out, &err), 2);
	assert_null(err);
	assert_int_equal(sh("cd '%s' && ls *.pem 2>/dev/null | wc -l | grep -qx 0 && grep -q '^tsa-ca.pem is NOT in this "
			    "export' README.txt && grep -q '^sign-trust.pem is NOT in this export' README.txt && ! grep -q "
			    "'sign-trust.pem: \\|sign-chain' README.txt && grep -q '^openssl ocsp .*ocsp-0.der -resp_text "
			    "-noverify ' README.txt", out), 0);
	assert_int_equal(sh("cp '%s' '%s/tsa-ca.pem' && cp '%s' '%s/sign-trust.pem'", E.trust, out, E.trust, out), 0);
	assert_int_equal(run_readme(out, &ran), 0);
	assert_true(ran >= 5 + 2);   /* check.py, 2x xmlsec1, a body, openssl ts, the OCSP responses of 3 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_third_party),
		cmocka_unit_test(test_export_forgeries_fail),
		cmocka_unit_test(test_export_refuses_broken_log),
		cmocka_unit_test(test_export_commands_after_expiry),
		cmocka_unit_test(test_export_ocsp_der),
		cmocka_unit_test(test_export_unstamped_said),
		cmocka_unit_test(test_export_without_anchors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
