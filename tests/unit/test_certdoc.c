/* Unit tests for the certificate document machinery: adapters/certificates/
 * certdoc (model, XML, numbers, digest), docreg (register, revocation,
 * verdicts), pdf (PDF + QR) and verify_page (HTML, JSON, forms).
 *
 * Real components only: a development PKI from certs/mkpki.sh, a real RFC
 * 3161 responder (tests/integration/tsa_server.py, `openssl ts -reply`) on
 * 127.0.0.1:28611, the xmlsec1 command line, pdftotext, pdftoppm and zbarimg
 * (poppler-utils, zbar-tools), SQLite files in a mkdtemp directory.
 *
 *   CERTDOC_REGEN=1 ./test_certdoc     rewrites tests/data/certdoc/household.xml
 *                                      (the golden unsigned document)
 *   CERTDOC_PDF_BENCH=N ./test_certdoc N more PDFs in test_pdf, for profiling
 * The times it prints (issuance, signing alone, verification, PDF) are for
 * the benchmark; they are not asserted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>

#include "adapters/certificates/certdoc.h"
#include "adapters/certificates/docreg.h"
#include "adapters/certificates/pdf.h"
#include "adapters/certificates/verify_page.h"
#include "lib/buf.h"
#include "store/tsa.h"
#include "trust/docsign.h"
#include "trust/keys.h"
#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define TSA_PORT 28611
#define VERIFY_BASE "http://127.0.0.1:28600/verify"
#define NAME "Төлөгөнов Үсөн Аңдашевич"
#define ISSUED 1795326536   /* 2026-11-22T05:48:56Z */
#define DAY 86400

struct fx {
	char dir[64];
	char pki[128];
	char root[192];
	char db[192];
	X509_STORE *trust;
	struct tsa_client *tsa;
	struct tsa_trust *tsa_trust;
	struct signing_key *mun, *bank;
	struct docreg *reg;
	json_t *family;
	pid_t tsa_pid;
};

static struct fx FX;

/* ---- fixture --------------------------------------------------------------------------- */

static const char *src_dir(void)
{
	const char *e = getenv("AILGATE_SOURCE_DIR");

	return e && *e ? e : AILGATE_SOURCE_DIR;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* A whole file, NUL-terminated (caller frees); NULL if unreadable. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (s = malloc((size_t)n + 1)) && fread(s, 1, (size_t)n, f) == (size_t)n) {
		s[n] = '\0';
		if (len)
			*len = (size_t)n;
	} else {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

/* The output of a shell command (caller frees). */
static char *sh_out(const char *cmd)
{
	char path[128], full[2048];

	snprintf(path, sizeof(path), "%s/out.txt", FX.dir);
	snprintf(full, sizeof(full), "%s > '%s' 2>/dev/null", cmd, path);
	if (system(full) == -1)
		return NULL;
	return read_file(path, NULL);
}

static struct signing_key *load(const char *member)
{
	char k[256], c[256];
	struct signing_key *sk = NULL;
	char *err = NULL;

	snprintf(k, sizeof(k), "%s/members/%s/sign.key", FX.pki, member);
	snprintf(c, sizeof(c), "%s/members/%s/sign-fullchain.pem", FX.pki, member);
	if (keys_load_pem(k, c, NULL, &sk, &err) != 0) {
		fprintf(stderr, "cannot load %s: %s\n", member, err ? err : "?");
		free(err);
	}
	return sk;
}

static pid_t start_tsa(void)
{
	char script[512], tsa_dir[256], pf[256];
	pid_t pid;

	snprintf(script, sizeof(script), "%s/tests/integration/tsa_server.py", src_dir());
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", FX.pki);
	snprintf(pf, sizeof(pf), "%s/tsa-port", FX.dir);
	pid = fork();
	if (pid == 0) {
		char port[16];

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		snprintf(port, sizeof(port), "%d", TSA_PORT);
		execlp("python3", "python3", script, "--tsa-dir", tsa_dir, "--port", port,
		       "--port-file", pf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && pid > 0; i++) {
		if (access(pf, R_OK) == 0)
			return pid;
		usleep(50000);
	}
	return -1;
}

static int group_setup(void **state)
{
	char tsa_pem[256], url[64], path[256];
	struct tsa_config tc = { url, tsa_pem, FX.root, 10000 };
	char *err = NULL;

	memset(&FX, 0, sizeof(FX));
	strcpy(FX.dir, "/tmp/test_certdoc.XXXXXX");
	if (!mkdtemp(FX.dir) || sig_global_init(&err) != 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	snprintf(FX.pki, sizeof(FX.pki), "%s/pki", FX.dir);
	snprintf(FX.root, sizeof(FX.root), "%s/ca/trust.pem", FX.pki);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --clients '' "
	       "--members 'GOV/70000050 COM/60000001' >/dev/null 2>&1", src_dir(), FX.pki) != 0)
		return -1;
	FX.trust = sig_trust_from_pem(FX.root, &err);
	FX.mun = load("GOV_70000050");
	FX.bank = load("COM_60000001");
	snprintf(tsa_pem, sizeof(tsa_pem), "%s/tsa/tsa.pem", FX.pki);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", TSA_PORT);
	if (!FX.trust || !FX.mun || !FX.bank || (FX.tsa_pid = start_tsa()) < 0 ||
	    !(FX.tsa = tsa_client_new(&tc, &err)) ||
	    !(FX.tsa_trust = tsa_trust_new(FX.root, tsa_pem, &err))) {
		fprintf(stderr, "setup failed: %s\n", err ? err : "PKI, keys or TSA");
		return -1;
	}
	snprintf(FX.db, sizeof(FX.db), "%s/certificates.db", FX.dir);
	if (docreg_open(FX.db, 0, &FX.reg, &err) != 0) {
		fprintf(stderr, "docreg_open: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/tests/data/certdoc/family-members.json", src_dir());
	FX.family = json_load_file(path, 0, NULL);
	return FX.family ? 0 : -1;
}

static int group_teardown(void **state)
{
	if (FX.tsa_pid > 0) {
		kill(FX.tsa_pid, SIGTERM);
		waitpid(FX.tsa_pid, NULL, 0);
	}
	docreg_close(&FX.reg);
	json_decref(FX.family);
	tsa_client_free(FX.tsa);
	tsa_trust_free(FX.tsa_trust);
	keys_free(&FX.mun);
	keys_free(&FX.bank);
	X509_STORE_free(FX.trust);
	if (strncmp(FX.dir, "/tmp/test_certdoc.", 18) == 0 && !getenv("CERTDOC_KEEP"))
		sh("rm -rf '%s'", FX.dir);
	curl_global_cleanup();
	sig_global_shutdown();
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static const struct certdoc_label member_labels[] = {
	{ "last_name", "Фамилия" },
	{ "first_name", "Имя" },
	{ "patronymic", "Отчество" },
	{ "birth_date", "Дата рождения" },
	{ "relation_ru", "Отношение к главе" },
	{ "pin", "ПИН" },
	{ "birth_record_digitised", "Запись о рождении оцифрована" },
	{ "age", "Возраст" },
};

/* The household-composition certificate of the fixture, numbered number. */
static struct certdoc *sample(const char *issuer_cls, const char *issuer_code, const char *number,
			      time_t issued, time_t until)
{
	struct certdoc_head h = {
		.number = number, .kind = "household-composition",
		.issuer_instance = "central-server", .issuer_class = issuer_cls,
		.issuer_code = issuer_code, .issuer_name = "Лебединовка айыл өкмөтү",
		.subject_pin = "21205197500417", .subject_name = NAME,
		.purpose = "Для предоставления в банк «Demo Bank» <ипотека> & \"кредит\"",
		.issued_at = issued, .valid_until = until,
	};
	struct certdoc *d = NULL;
	char *err = NULL;
	int rc = certdoc_new(&h, &d, &err);

	if (rc == 0)
		rc = certdoc_add_section(d, "household", "Хозяйство", &err) ||
		     certdoc_add_field(d, "household_id", "Номер хозяйства",
				       json_string_value(json_object_get(FX.family, "household_id")),
				       &err) ||
		     certdoc_add_json(d, FX.family, (const struct certdoc_label[]){
					      { "address", "Адрес" },
					      { "house_registered", "Дом зарегистрирован" } }, 2, &err) ||
		     certdoc_add_section(d, "members", "Состав семьи", &err) ||
		     certdoc_add_json_rows(d, json_object_get(FX.family, "members"), member_labels,
					   sizeof(member_labels) / sizeof(member_labels[0]), &err) ||
		     certdoc_add_source(d, "central-server/GOV/70000050/sanaripaymak-service/"
				        "family-members", "3f0c2a9e-1b7d-4c55-9a1e-6f2d8b0c4e11", &err) ||
		     certdoc_add_source(d, "central-server/GOV/70000005/passport-service/"
				        "passportDataByPSN/v1", "a7e41b02-5c3f-4d8e-b0a9-2c6e1f4d7b38",
					&err);
	if (rc != 0) {
		fprintf(stderr, "sample: %s\n", err ? err : "?");
		free(err);
		certdoc_free(&d);
	}
	return d;
}

/* Issues a sample of the municipality: number from the register, signed and
 * stamped; xml gets the document. */
static struct certdoc *issue(time_t issued, time_t until, struct buf *xml,
			     char digest[CERTDOC_DIGEST_HEX])
{
	char number[CERTDOC_NUMBER_MAX], *err = NULL;
	struct certdoc *d;

	assert_int_equal(docreg_next_number(FX.reg, "70000050", certdoc_year(issued), number,
					    sizeof(number), &err), DOCREG_OK);
	d = sample("GOV", "70000050", number, issued, until);
	assert_non_null(d);
	buf_init(xml, DOCSIGN_XML_MAX);
	if (certdoc_sign_stamp(d, FX.mun, FX.tsa, xml, digest, &err) != 0)
		fail_msg("certdoc_sign_stamp: %s", err);
	assert_int_equal(docreg_store(FX.reg, d, xml->data, xml->len, &err), DOCREG_OK);
	return d;
}

static struct docreg_check_opts check_opts(time_t now)
{
	struct docreg_check_opts o = { FX.trust, FX.tsa_trust, 1, now };
	return o;
}

static enum docreg_verdict check_xml(const char *xml, size_t len, time_t now,
				     struct docreg_check *c)
{
	struct docreg_check_opts o = check_opts(now);
	char *err = NULL;

	if (docreg_check_xml(FX.reg, xml, len, &o, c, &err) != DOCREG_OK)
		fail_msg("docreg_check_xml: %s", err);
	assert_true(strlen(c->reason) > 10);
	return c->verdict;
}

static enum docreg_verdict check_num(const char *number, const char *digest, time_t now,
				     struct docreg_check *c)
{
	char *err = NULL;

	if (docreg_check_number(FX.reg, number, digest, now, c, &err) != DOCREG_OK)
		fail_msg("docreg_check_number: %s", err);
	return c->verdict;
}

/* ---- certdoc ---------------------------------------------------------------------------- */

static void test_numbers(void **state)
{
	char n[CERTDOC_NUMBER_MAX], code[32];
	int year;
	long seq;
	static const char *const bad[] = {
		"70000050-2026-00123", "70000050-26-000123", "70000050-2026-0000123",
		"-2026-000123", "7000-0050-2026-000123", "70000050-2026-000000", "70000050-2026-",
		"70000050_2026_000123", "70000050-1999-000123", "70000050-2026-1234567890",
		"70000050-2026-000123 ", "",
	};

	assert_int_equal(certdoc_number_format("70000050", 2026, 123, n, sizeof(n)), 0);
	assert_string_equal(n, "70000050-2026-000123");
	assert_int_equal(certdoc_number_parse(n, code, &year, &seq), 0);
	assert_string_equal(code, "70000050");
	assert_int_equal(year, 2026);
	assert_int_equal(seq, 123);
	assert_int_equal(certdoc_number_format("70000050", 2026, 1234567, n, sizeof(n)), 0);
	assert_string_equal(n, "70000050-2026-1234567");
	assert_int_equal(certdoc_number_parse(n, code, &year, &seq), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (certdoc_number_parse(bad[i], code, &year, &seq) == 0)
			fail_msg("'%s' parsed as a number", bad[i]);
	assert_int_equal(certdoc_number_format("7000/0050", 2026, 1, n, sizeof(n)), -1);
	assert_int_equal(certdoc_number_format("70000050", 2026, 0, n, sizeof(n)), -1);
	assert_int_equal(certdoc_number_format("70000050", 2026, 1, n, 10), -1);
	/* The year is Kyrgyzstan's: 31 Dec 2026 19:00 UTC is already 2027 there. */
	assert_int_equal(certdoc_year(1798743600), 2027);
	assert_int_equal(certdoc_year(1798743600 - 3600 * 6), 2026);
}

static void test_digest_url_times(void **state)
{
	char dg[CERTDOC_DIGEST_HEX], url[512], t[32], up[80];
	time_t back;

	certdoc_digest("abc", 3, dg);
	assert_string_equal(dg, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	strcpy(up, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
	assert_int_equal(certdoc_digest_ok(up), 1);
	assert_string_equal(up, dg);
	strcpy(up, "ba7816bf");
	assert_int_equal(certdoc_digest_ok(up), 0);
	assert_int_equal(certdoc_verify_url(VERIFY_BASE, "70000050-2026-000001", dg, url,
					    sizeof(url)), 0);
	assert_string_equal(url, VERIFY_BASE "?n=70000050-2026-000001&d=" "ba7816bf8f01cfea414140de5"
				 "dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(certdoc_verify_url("http://x/verify?a=1", "n", dg, url, sizeof(url)), -1);
	assert_int_equal(certdoc_verify_url("javascript:alert(1)", "n", dg, url, sizeof(url)), -1);
	assert_int_equal(certdoc_verify_url("http://x/\"><script>", "n", dg, url, sizeof(url)), -1);
	certdoc_time_xml(ISSUED, t, sizeof(t));
	assert_string_equal(t, "2026-11-22T05:48:56Z");
	assert_int_equal(certdoc_time_parse(t, &back), 0);
	assert_int_equal(back, ISSUED);
	assert_int_equal(certdoc_time_parse("2026-11-31T05:48:56Z", &back), -1);
	assert_int_equal(certdoc_time_parse("2026-11-22T05:48:56+06:00", &back), -1);
	certdoc_time_human(ISSUED, t, sizeof(t));
	assert_string_equal(t, "22.11.2026 11:48");
}

static void test_model_rules(void **state)
{
	struct certdoc_head ok = {
		.number = "70000050-2026-000001", .kind = "livestock-holding",
		.issuer_instance = "central-server", .issuer_class = "GOV", .issuer_code = "70000050",
		.issuer_name = "Лебединовка айыл өкмөтү", .subject_doc = "N1234567",
		.subject_citizenship = "KAZ", .subject_name = "Серикбаев Нурлан", .purpose = "банк",
		.issued_at = ISSUED, .valid_until = ISSUED + DAY,
	};
	static const struct {
		const char *field, *value, *why;
	} bad[] = {
		{ "kind", "paper", "kind" },
		{ "number", "60000001-2026-000001", "does not belong" },
		{ "number", "70000050-2026-1", "CODE-YEAR" },
		{ "pin", "21205197500417", "not both" },
		{ "doc", "n 123", "document number" },
		{ "cit", "KZ", "citizenship" },
		{ "name", "Имя\nвторая строка", "control" },
		{ "name", "", "empty" },
		{ "purpose", "\xd0", "UTF-8" },
		{ "code", "7000/0050", "identifier" },
	};
	struct certdoc *d = NULL;
	char *err = NULL;

	assert_int_equal(certdoc_new(&ok, &d, &err), 0);
	assert_string_equal(d->title, "Справка о наличии скота");
	assert_null(d->subject_pin);
	/* Content rules. */
	assert_int_equal(certdoc_add_field(d, "x", "X", "1", &err), -1);
	assert_non_null(strstr(err, "section first"));
	free(err);
	err = NULL;
	assert_int_equal(certdoc_add_section(d, "bad name", "T", &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(certdoc_add_section(d, "s", "Скот", &err), 0);
	assert_int_equal(certdoc_add_field(d, "cows", NULL, NULL, &err), 0);
	assert_string_equal(d->sections[0].fields[0].label, "cows");
	assert_string_equal(d->sections[0].fields[0].value, "");
	assert_int_equal(certdoc_add_source(d, "GOV/70000031", "id", &err), -1);
	assert_non_null(strstr(err, "INST/CLASS/CODE/SUB/SERVICE"));
	free(err);
	err = NULL;
	/* No source: not rendered. */
	{
		struct buf b;

		buf_init(&b, CERTDOC_XML_MAX);
		assert_int_equal(certdoc_render(d, &b, &err), -1);
		assert_non_null(strstr(err, "registry exchange"));
		assert_int_equal(b.len, 0);
		free(err);
		err = NULL;
		buf_free(&b);
	}
	for (int i = 0; i < CERTDOC_ROWS_MAX; i++)
		assert_int_equal(certdoc_add_row(d, &err), 0);
	assert_int_equal(certdoc_add_row(d, &err), -1);
	free(err);
	err = NULL;
	certdoc_free(&d);
	assert_null(d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct certdoc_head h = ok;

		if (!strcmp(bad[i].field, "kind")) h.kind = bad[i].value;
		if (!strcmp(bad[i].field, "number")) h.number = bad[i].value;
		if (!strcmp(bad[i].field, "pin")) h.subject_pin = bad[i].value;
		if (!strcmp(bad[i].field, "doc")) h.subject_doc = bad[i].value;
		if (!strcmp(bad[i].field, "cit")) h.subject_citizenship = bad[i].value;
		if (!strcmp(bad[i].field, "name")) h.subject_name = bad[i].value;
		if (!strcmp(bad[i].field, "purpose")) h.purpose = bad[i].value;
		if (!strcmp(bad[i].field, "code")) h.issuer_code = bad[i].value;
		assert_int_equal(certdoc_new(&h, &d, &err), -1);
		assert_null(d);
		if (!err || !strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err ? err : "", bad[i].why);
		free(err);
		err = NULL;
	}
	/* Validity must follow the issue time; a PIN must pass the PIN rule. */
	ok.valid_until = ok.issued_at;
	assert_int_equal(certdoc_new(&ok, &d, &err), -1);
	free(err);
	err = NULL;
	ok.valid_until = ISSUED + DAY;
	ok.subject_doc = ok.subject_citizenship = NULL;
	ok.subject_pin = "31205197500417";   /* sex digit 3 */
	assert_int_equal(certdoc_new(&ok, &d, &err), -1);
	assert_non_null(strstr(err, "PIN"));
	free(err);
}

/* The unsigned document of the fixture is exactly the golden file. */
static void test_render_golden(void **state)
{
	char path[512], *err = NULL, *golden;
	struct certdoc *d = sample("GOV", "70000050", "70000050-2026-000123", ISSUED,
				   ISSUED + 30 * DAY);
	struct buf b;

	assert_non_null(d);
	buf_init(&b, CERTDOC_XML_MAX);
	assert_int_equal(certdoc_render(d, &b, &err), 0);
	snprintf(path, sizeof(path), "%s/tests/data/certdoc/household.xml", src_dir());
	if (getenv("CERTDOC_REGEN"))
		assert_int_equal(write_file(path, b.data, b.len), 0);
	golden = read_file(path, NULL);
	assert_non_null(golden);
	assert_string_equal(b.data, golden);
	/* Escaping: the purpose's < & " are written as entities, and read back. */
	assert_non_null(strstr(b.data, "&lt;ипотека&gt; &amp; &quot;кредит&quot;"));
	/* JSON: null skipped, booleans in words, integers as digits. */
	assert_non_null(strstr(b.data, "label=\"Дом зарегистрирован\">да<"));
	assert_non_null(strstr(b.data, "label=\"Запись о рождении оцифрована\">нет<"));
	assert_non_null(strstr(b.data, "label=\"Возраст\">7<"));
	assert_int_equal(d->sections[1].nrows, 3);
	assert_int_equal(d->sections[1].rows[2].n, 6);   /* no pin, no patronymic */
	free(golden);
	buf_free(&b);
	certdoc_free(&d);
}

static void test_parse_roundtrip(void **state)
{
	struct certdoc *d = sample("GOV", "70000050", "70000050-2026-000123", ISSUED,
				   ISSUED + 30 * DAY), *p = NULL;
	struct buf a, b;
	char *err = NULL, *bad;

	buf_init(&a, CERTDOC_XML_MAX);
	buf_init(&b, CERTDOC_XML_MAX);
	assert_int_equal(certdoc_render(d, &a, &err), 0);
	if (certdoc_parse(a.data, a.len, &p, &err) != 0)
		fail_msg("certdoc_parse: %s", err);
	assert_string_equal(p->subject_name, NAME);
	assert_string_equal(p->subject_pin, "21205197500417");
	assert_null(p->subject_doc);
	assert_int_equal(p->issued_at, ISSUED);
	assert_int_equal(p->nsources, 2);
	assert_int_equal(certdoc_render(p, &b, &err), 0);
	assert_string_equal(a.data, b.data);
	certdoc_free(&p);
	/* What the reader refuses. */
	{
		static const struct {
			const char *from, *to, *why;
		} cases[] = {
			{ "version=\"1\"", "version=\"2\"", "version" },
			{ "<Purpose>", "<Purpose><b/>", "text only" },
			{ "<Sources>", "<Extra/><Sources>", "<Sources> expected" },
			{ "  <Sources>", "  <Sources>x", "unexpected content" },
			{ "<Kind>household-composition", "<Kind>paper", "kind" },
			{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<!DOCTYPE C []>", "DTD" },
			{ "<IssuedAt>2026-11-22T05:48:56Z", "<IssuedAt>22.11.2026", "IssuedAt" },
			{ "</Certificate>", "</Certificat>", "well-formed" },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *at = strstr(a.data, cases[i].from);

			assert_non_null(at);
			bad = malloc(a.len + strlen(cases[i].to) + 1);
			memcpy(bad, a.data, (size_t)(at - a.data));
			strcpy(bad + (at - a.data), cases[i].to);
			strcat(bad, at + strlen(cases[i].from));
			assert_int_equal(certdoc_parse(bad, strlen(bad), &p, &err), -1);
			assert_null(p);
			if (!err || !strstr(err, cases[i].why))
				fail_msg("case %zu: '%s' does not say '%s'", i, err ? err : "",
					 cases[i].why);
			free(err);
			err = NULL;
			free(bad);
		}
	}
	buf_free(&a);
	buf_free(&b);
	certdoc_free(&d);
}

/* ---- issue, verify, register ------------------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The whole path of one certificate: number, sign + stamp, offline checks
 * with the real tools, register, verdict by number and by upload. */
static void test_issue_and_verify(void **state)
{
	char digest[CERTDOC_DIGEST_HEX], path[256], cmd[512], *out, *err = NULL;
	time_t now = time(NULL);
	struct docreg_check c;
	struct docsign_result r;
	struct timespec t0;
	struct buf xml;
	struct certdoc *d;
	double t_sign;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	d = issue(now, now + 30 * DAY, &xml, digest);
	t_sign = ms_since(&t0);
	assert_int_equal(strlen(digest), 64);
	/* The digest is what sha256sum prints for the file. */
	snprintf(path, sizeof(path), "%s/cert.xml", FX.dir);
	assert_int_equal(write_file(path, xml.data, xml.len), 0);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -c1-64", path);
	out = sh_out(cmd);
	assert_non_null(out);
	assert_memory_equal(out, digest, 64);
	free(out);
	/* xmlsec1 and docsign agree it is valid, stamped, by the municipality. */
	assert_int_equal(sh("xmlsec1 --verify --trusted-pem '%s' --id-attr:Id SignedProperties '%s' "
			    ">/dev/null 2>&1", FX.root, path), 0);
	assert_int_equal(docsign_verify(xml.data, xml.len, FX.trust, FX.tsa_trust, NULL, &r), 0);
	assert_int_equal(r.status, DOCSIGN_VALID);
	assert_int_equal(r.stamped, 1);
	assert_string_equal(r.member_code, "70000050");
	/* The register's verdicts. */
	assert_int_equal(check_num(d->number, digest, 0, &c), DOCREG_VALID);
	assert_int_equal(c.found, 1);
	assert_string_equal(c.entry.subject_name, NAME);
	assert_string_equal(c.entry.subject_id, "21205197500417");
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_VALID);
	assert_int_equal(c.xml_checked, 1);
	assert_int_equal(c.sig.stamped, 1);
	/* A byte of the name changed: the signature breaks. */
	{
		char *bad = malloc(xml.len + 1), *p;

		memcpy(bad, xml.data, xml.len + 1);
		p = strstr(bad, "Үсөн");
		assert_non_null(p);
		p[3] ^= 1;   /* ө -> another letter */
		assert_int_equal(check_xml(bad, xml.len, 0, &c), DOCREG_TAMPERED);
		assert_non_null(strstr(c.reason, "content was changed"));
		assert_int_equal(c.found, 0);
		snprintf(path, sizeof(path), "%s/bad.xml", FX.dir);
		assert_int_equal(write_file(path, bad, xml.len), 0);
		assert_int_not_equal(sh("xmlsec1 --verify --trusted-pem '%s' --id-attr:Id "
					"SignedProperties '%s' >/dev/null 2>&1", FX.root, path), 0);
		free(bad);
	}
	/* Another digest for the number, another number, a typo'd form. */
	{
		char other[CERTDOC_DIGEST_HEX];

		memcpy(other, digest, sizeof(other));
		other[0] = other[0] == 'a' ? 'b' : 'a';
		assert_int_equal(check_num(d->number, other, 0, &c), DOCREG_TAMPERED);
		assert_int_equal(check_num("70000050-2026-999999", digest, 0, &c),
				 DOCREG_NOT_ISSUED_HERE);
		assert_int_equal(docreg_check_number(FX.reg, "70000050/2026/1", digest, 0, &c, &err),
				 DOCREG_ERROR);
		assert_non_null(strstr(err, "70000050-2026-000123"));
		free(err);
		err = NULL;
		assert_int_equal(docreg_check_number(FX.reg, d->number, "xyz", 0, &c, &err),
				 DOCREG_ERROR);
		assert_non_null(strstr(err, "64 hexadecimal"));
		free(err);
		err = NULL;
	}
	/* Expired, by the clock of the check. */
	assert_int_equal(check_num(d->number, digest, now + 31 * DAY, &c), DOCREG_EXPIRED);
	assert_non_null(strstr(c.reason, "valid until"));
	/* Revoked, once. */
	assert_int_equal(docreg_revoke(FX.reg, d->number, "выдана по ошибке", "clerk-07", now + 60,
				       &err), DOCREG_OK);
	assert_int_equal(check_num(d->number, digest, 0, &c), DOCREG_REVOKED);
	assert_non_null(strstr(c.reason, "выдана по ошибке"));
	assert_int_equal(c.entry.revoked_at, now + 60);
	assert_string_equal(c.entry.revoked_by, "clerk-07");
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_REVOKED);
	assert_int_equal(docreg_revoke(FX.reg, d->number, "again", "clerk-08", 0, &err),
			 DOCREG_CONFLICT);
	assert_non_null(strstr(err, "already revoked"));
	assert_non_null(strstr(err, "clerk-07"));
	free(err);
	err = NULL;
	/* The register gives back the exact bytes. */
	{
		struct buf back;

		buf_init(&back, DOCSIGN_XML_MAX);
		assert_int_equal(docreg_get_xml(FX.reg, d->number, &back, &err), DOCREG_OK);
		assert_int_equal(back.len, xml.len);
		assert_memory_equal(back.data, xml.data, xml.len);
		buf_free(&back);
	}
	/* Times for the benchmark (printed, not asserted): the whole issuance here,
	 * its parts without the TSA round trip, verification; the PDF in test_pdf. */
	print_message("certdoc: number + sign + time stamp + register: %.1f ms\n", t_sign);
	{
		char dg[CERTDOC_DIGEST_HEX];
		struct buf tmp;
		double t_alone, t_verify;
		struct timespec c0, c1;

		buf_init(&tmp, DOCSIGN_XML_MAX);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < 20; i++) {
			buf_reset(&tmp);
			assert_int_equal(certdoc_sign_stamp(d, FX.mun, NULL, &tmp, dg, &err), 0);
		}
		t_alone = ms_since(&t0) / 20;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		for (int i = 0; i < 20; i++)
			assert_int_equal(docsign_verify(xml.data, xml.len, FX.trust, FX.tsa_trust, NULL,
							&r), 0);
		t_verify = ms_since(&t0) / 20;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
		print_message("certdoc: render + sign (no TSA) %.2f ms; verify signature + time "
			      "stamp %.2f ms (%.2f ms CPU)\n", t_alone, t_verify,
			      ((double)(c1.tv_sec - c0.tv_sec) * 1e3 +
			       (double)(c1.tv_nsec - c0.tv_nsec) / 1e6) / 20);
		buf_free(&tmp);
	}
	certdoc_free(&d);
	buf_free(&xml);
}

/* Documents signed well but not ours, or not by their issuer. */
static void test_foreign_documents(void **state)
{
	struct certdoc *d = sample("COM", "60000001", "60000001-2026-000001", time(NULL),
				   time(NULL) + DAY);
	char digest[CERTDOC_DIGEST_HEX], *err = NULL;
	struct docreg_check c;
	struct buf xml;

	/* Issued (validly) by another member: not issued here. */
	buf_init(&xml, DOCSIGN_XML_MAX);
	assert_int_equal(certdoc_sign_stamp(d, FX.bank, FX.tsa, &xml, digest, &err), 0);
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_NOT_ISSUED_HERE);
	assert_int_equal(c.sig.status, DOCSIGN_VALID);
	certdoc_free(&d);
	buf_free(&xml);
	/* Claims the municipality as issuer, signed by the bank. */
	d = sample("GOV", "70000050", "70000050-2026-000777", time(NULL), time(NULL) + DAY);
	buf_init(&xml, DOCSIGN_XML_MAX);
	assert_int_equal(certdoc_sign_stamp(d, FX.bank, FX.tsa, &xml, digest, &err), 0);
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_TAMPERED);
	assert_non_null(strstr(c.reason, "signed by COM/60000001"));
	buf_free(&xml);
	/* Not time-stamped while the register requires it. */
	buf_init(&xml, DOCSIGN_XML_MAX);
	assert_int_equal(certdoc_sign_stamp(d, FX.mun, NULL, &xml, digest, &err), 0);
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_TAMPERED);
	assert_non_null(strstr(c.reason, "time stamp"));
	/* Not a certificate at all, and no signature: said so, not "tampered". */
	assert_int_equal(check_xml("<a/>", 4, 0, &c), DOCREG_NOT_A_CERTIFICATE);
	buf_free(&xml);
	certdoc_free(&d);
}

struct alloc_arg {
	long seqs[200];
	int rc;
};

static void *alloc_numbers(void *p)
{
	struct alloc_arg *a = p;
	struct docreg *r = NULL;
	char n[CERTDOC_NUMBER_MAX], code[32], *err = NULL;
	int year;

	a->rc = docreg_open(FX.db, 20000, &r, &err);
	for (int i = 0; i < 200 && a->rc == 0; i++) {
		a->rc = docreg_next_number(r, "99999999", 2031, n, sizeof(n), &err);
		if (a->rc == 0)
			a->rc = certdoc_number_parse(n, code, &year, &a->seqs[i]);
	}
	if (err)
		fprintf(stderr, "alloc: %s\n", err);
	free(err);
	docreg_close(&r);
	return NULL;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Two connections in two threads: 400 numbers, all different, 1..400. */
static void test_numbers_concurrent(void **state)
{
	struct alloc_arg a = { { 0 }, -1 }, b = { { 0 }, -1 };
	pthread_t ta, tb;
	long all[400];

	assert_int_equal(pthread_create(&ta, NULL, alloc_numbers, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, alloc_numbers, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	memcpy(all, a.seqs, sizeof(a.seqs));
	memcpy(all + 200, b.seqs, sizeof(b.seqs));
	qsort(all, 400, sizeof(long), cmp_long);
	for (long i = 0; i < 400; i++)
		assert_int_equal(all[i], i + 1);
}

static void test_register_rules(void **state)
{
	struct certdoc *d = sample("GOV", "70000050", "70000050-2030-000001", ISSUED,
				   ISSUED + DAY);
	char n[CERTDOC_NUMBER_MAX], path[256], *err = NULL;
	struct docreg *r = NULL;
	struct docreg_entry e;
	sqlite3 *db;

	/* A number this register never allocated. */
	assert_int_equal(docreg_store(FX.reg, d, "<x/>", 4, &err), DOCREG_CONFLICT);
	assert_non_null(strstr(err, "not allocated"));
	free(err);
	err = NULL;
	certdoc_free(&d);
	/* Twice the same number. */
	assert_int_equal(docreg_next_number(FX.reg, "70000050", 2030, n, sizeof(n), &err), 0);
	assert_string_equal(n, "70000050-2030-000001");
	d = sample("GOV", "70000050", n, ISSUED, ISSUED + DAY);
	assert_int_equal(docreg_store(FX.reg, d, "<x>1</x>", 8, &err), DOCREG_OK);
	assert_int_equal(docreg_store(FX.reg, d, "<x>2</x>", 8, &err), DOCREG_CONFLICT);
	assert_non_null(strstr(err, "already registered"));
	free(err);
	err = NULL;
	assert_int_equal(docreg_lookup(FX.reg, n, &e, &err), DOCREG_OK);
	assert_int_equal(e.revoked, 0);
	assert_int_equal(e.valid_until, ISSUED + DAY);
	assert_int_equal(docreg_lookup(FX.reg, "70000050-2030-000002", &e, &err), DOCREG_NOT_FOUND);
	free(err);
	err = NULL;
	/* Revocation needs a number that exists, a reason and a clerk. */
	assert_int_equal(docreg_revoke(FX.reg, "70000050-2030-000002", "r", "c", 0, &err),
			 DOCREG_NOT_FOUND);
	free(err);
	err = NULL;
	assert_int_equal(docreg_revoke(FX.reg, n, "", "c", 0, &err), DOCREG_ERROR);
	assert_non_null(strstr(err, "reason"));
	free(err);
	err = NULL;
	assert_int_equal(docreg_revoke(FX.reg, n, "r", NULL, 0, &err), DOCREG_ERROR);
	assert_non_null(strstr(err, "clerk"));
	free(err);
	err = NULL;
	certdoc_free(&d);
	/* Another application's database is refused; a missing directory named. */
	snprintf(path, sizeof(path), "%s/other.db", FX.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE people (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(docreg_open(path, 0, &r, &err), DOCREG_ERROR);
	assert_non_null(strstr(err, "another application"));
	free(err);
	err = NULL;
	assert_int_equal(docreg_open("/nonexistent/dir/c.db", 0, &r, &err), DOCREG_ERROR);
	assert_non_null(strstr(err, "/nonexistent/dir/c.db"));
	free(err);
	assert_null(r);
}

/* ---- PDF --------------------------------------------------------------------------------- */

static void test_pdf(void **state)
{
	char digest[CERTDOC_DIGEST_HEX], path[256], cmd[1024], url[512], *text, *qr, *err = NULL;
	struct pdf_opts o = { NULL, VERIFY_BASE, NULL };
	struct timespec t0, t1, c0, c1;
	struct buf xml, pdf;
	struct certdoc *d;
	double t_all;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	d = issue(time(NULL), time(NULL) + 30 * DAY, &xml, digest);
	buf_init(&pdf, PDF_MAX_BYTES);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	if (pdf_certificate(d, digest, &o, &pdf, &err) != 0)
		fail_msg("pdf_certificate: %s", err);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	t_all = ms_since(&t0);
	print_message("certdoc: sign + time stamp + register + PDF of one certificate: %.1f ms, "
		      "of which the PDF %.1f ms (%.1f ms CPU, %zu bytes)\n", t_all, ms_since(&t1),
		      ((double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6),
		      pdf.len);
	assert_memory_equal(pdf.data, "%PDF-", 5);
	/* CERTDOC_PDF_BENCH=N: N more PDFs, for profiling. */
	for (long i = 0, n = getenv("CERTDOC_PDF_BENCH") ? atol(getenv("CERTDOC_PDF_BENCH")) : 0;
	     i < n; i++) {
		struct buf again;

		buf_init(&again, PDF_MAX_BYTES);
		assert_int_equal(pdf_certificate(d, digest, &o, &again, &err), 0);
		buf_free(&again);
	}
	snprintf(path, sizeof(path), "%s/cert.pdf", FX.dir);
	assert_int_equal(write_file(path, pdf.data, pdf.len), 0);
	/* The text layer holds the name with ө ү ң, the number and the digest. */
	snprintf(cmd, sizeof(cmd), "pdftotext -enc UTF-8 '%s' -", path);
	text = sh_out(cmd);
	assert_non_null(text);
	if (!strstr(text, NAME))
		fail_msg("pdftotext output lacks '%s':\n%s", NAME, text);
	assert_non_null(strstr(text, d->number));
	assert_non_null(strstr(text, digest));
	assert_non_null(strstr(text, "Лебединовка айыл өкмөтү"));
	assert_non_null(strstr(text, "The legally valid form is the e-signed XML"));
	assert_non_null(strstr(text, "стр. 1 из 1"));
	free(text);
	/* The QR code, rendered, decodes to exactly the verification address. */
	assert_int_equal(certdoc_verify_url(VERIFY_BASE, d->number, digest, url, sizeof(url)), 0);
	snprintf(cmd, sizeof(cmd), "pdftoppm -r 150 -png -f 1 -l 1 '%s' '%s/page' && "
		 "zbarimg -q --raw '%s/page-1.png'", path, FX.dir, FX.dir);
	qr = sh_out(cmd);
	assert_non_null(qr);
	if (strcmp(qr, url) != 0 && !(strlen(qr) == strlen(url) + 1 && qr[strlen(url)] == '\n' &&
				       !strncmp(qr, url, strlen(url))))
		fail_msg("zbarimg read '%s', want '%s'", qr, url);
	free(qr);
	certdoc_free(&d);
	buf_free(&xml);
	buf_free(&pdf);
}

static void test_pdf_limits(void **state)
{
	struct certdoc *d = sample("GOV", "70000050", "70000050-2026-000123", ISSUED,
				   ISSUED + DAY);
	struct pdf_opts o = { "/nonexistent/DejaVuSans.ttf", VERIFY_BASE, NULL };
	char digest[CERTDOC_DIGEST_HEX], path[256], cmd[512], *text, *err = NULL;
	struct buf pdf;

	certdoc_digest("x", 1, digest);
	buf_init(&pdf, PDF_MAX_BYTES);
	assert_int_equal(pdf_certificate(d, digest, &o, &pdf, &err), -1);
	assert_non_null(strstr(err, "fonts-dejavu-core"));
	free(err);
	err = NULL;
	o.font_path = NULL;
	o.verify_base = "ftp://x";
	assert_int_equal(pdf_certificate(d, digest, &o, &pdf, &err), -1);
	free(err);
	err = NULL;
	o.verify_base = VERIFY_BASE;
	/* 60 long rows: more pages, numbered "стр. i из n". */
	for (int i = 0; i < 60; i++) {
		assert_int_equal(certdoc_add_row(d, &err), 0);
		assert_int_equal(certdoc_add_field(d, "note", "Примечание", "Төлөгөнов Үсөн Аңдашевич "
						   "— длинная строка, которую надо перенести на "
						   "следующую строку внутри страницы", &err), 0);
	}
	/* characters the font has no glyph for are drawn as U+FFFD, not dropped */
	assert_int_equal(certdoc_add_row(d, &err), 0);
	assert_int_equal(certdoc_add_field(d, "note", "Примечание", "улыбка \xF0\x9F\x99\x82 и \xE6\xBC\xA2 конец",
					   &err), 0);
	assert_int_equal(pdf_certificate(d, digest, &o, &pdf, &err), 0);
	snprintf(path, sizeof(path), "%s/long.pdf", FX.dir);
	assert_int_equal(write_file(path, pdf.data, pdf.len), 0);
	snprintf(cmd, sizeof(cmd), "pdftotext -enc UTF-8 '%s' -", path);
	text = sh_out(cmd);
	assert_non_null(text);
	assert_non_null(strstr(text, "стр. 2 из "));
	assert_null(strstr(text, "из 1"));
	if (!strstr(text, "улыбка \xEF\xBF\xBD и \xEF\xBF\xBD конец"))
		fail_msg("missing glyphs not shown as U+FFFD: %s", strstr(text, "улыбка") ? strstr(text, "улыбка") : "(no line)");
	free(text);
	buf_reset(&pdf);
	/* 400 more (of three lines each): over PDF_MAX_PAGES, refused, not cut. */
	for (int i = 0; i < 400; i++) {
		assert_int_equal(certdoc_add_row(d, &err), 0);
		assert_int_equal(certdoc_add_field(d, "n", "N", "Төлөгөнов Үсөн Аңдашевич — длинная строка, "
						   "которую надо перенести на следующую строку внутри "
						   "страницы, и ещё раз на третью строку, чтобы страниц "
						   "стало больше, чем их может быть в справке", &err), 0);
	}
	assert_int_equal(pdf_certificate(d, digest, &o, &pdf, &err), -1);
	assert_non_null(strstr(err, "pages"));
	assert_int_equal(pdf.len, 0);
	free(err);
	buf_free(&pdf);
	certdoc_free(&d);
}

/* ---- verification page -------------------------------------------------------------------- */

static void test_verify_page(void **state)
{
	char digest[CERTDOC_DIGEST_HEX], *err = NULL;
	struct docreg_check c;
	struct buf xml, html, json;
	struct certdoc *d = issue(time(NULL), time(NULL) + DAY, &xml, digest);
	struct verify_page p = { "/verify", &c, NULL, d->number, "<\"digest\">" };

	buf_init(&html, 256 * 1024);
	buf_init(&json, 64 * 1024);
	assert_int_equal(check_num(d->number, digest, 0, &c), DOCREG_VALID);
	assert_int_equal(verify_page_html(&p, &html), 0);
	assert_memory_equal(html.data, "<!DOCTYPE html>", 15);
	assert_non_null(strstr(html.data, "<meta charset=\"utf-8\">"));
	assert_non_null(strstr(html.data, "class=\"v valid\""));
	assert_non_null(strstr(html.data, NAME));
	/* Everything typed or stored is escaped; there is no script at all. */
	assert_non_null(strstr(html.data, "&lt;&quot;digest&quot;&gt;"));
	assert_non_null(strstr(html.data, "&lt;ипотека&gt; &amp; &quot;кредит&quot;"));
	assert_null(strstr(html.data, "<ипотека>"));
	assert_null(strstr(html.data, "<script"));
	assert_non_null(strstr(html.data, "method=\"get\" action=\"/verify\""));
	assert_non_null(strstr(html.data, "enctype=\"multipart/form-data\""));
	assert_non_null(strstr(html.data, "name=\"xml_text\""));
	assert_int_equal(verify_page_json(&c, NULL, &json), 0);
	{
		json_t *j = json_loads(json.data, 0, NULL);

		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "verdict")), "valid");
		assert_string_equal(json_string_value(json_object_get(json_object_get(j, "document"),
								     "subject_name")), NAME);
		json_decref(j);
	}
	/* Tampered: nothing the register holds is shown. */
	{
		char other[CERTDOC_DIGEST_HEX];

		memcpy(other, digest, sizeof(other));
		other[63] = other[63] == '0' ? '1' : '0';
		assert_int_equal(check_num(d->number, other, 0, &c), DOCREG_TAMPERED);
	}
	buf_reset(&html);
	buf_reset(&json);
	assert_int_equal(verify_page_html(&p, &html), 0);
	assert_non_null(strstr(html.data, "class=\"v tampered\""));
	assert_null(strstr(html.data, NAME));
	assert_int_equal(verify_page_json(&c, NULL, &json), 0);
	assert_null(strstr(json.data, NAME));
	assert_non_null(strstr(json.data, "\"verdict\": \"tampered\""));
	/* An upload: the signature's signer shown too. */
	assert_int_equal(check_xml(xml.data, xml.len, 0, &c), DOCREG_VALID);
	buf_reset(&html);
	assert_int_equal(verify_page_html(&p, &html), 0);
	assert_non_null(strstr(html.data, "Lebedinovka ayil okmotu (GOV/70000050)"));
	/* An input error. */
	p.check = NULL;
	p.error = "the number must look like <this>";
	buf_reset(&html);
	buf_reset(&json);
	assert_int_equal(verify_page_html(&p, &html), 0);
	assert_non_null(strstr(html.data, "class=\"v error\""));
	assert_non_null(strstr(html.data, "like &lt;this&gt;"));
	assert_int_equal(verify_page_json(NULL, p.error, &json), 0);
	assert_non_null(strstr(json.data, "\"error\""));
	/* The cap is respected. */
	{
		struct buf small;

		buf_init(&small, 100);
		assert_int_equal(verify_page_html(&p, &small), -1);
		assert_int_equal(small.len, 0);
		buf_free(&small);
	}
	free(err);
	buf_free(&html);
	buf_free(&json);
	buf_free(&xml);
	certdoc_free(&d);
}

static void test_forms(void **state)
{
	char n[CERTDOC_NUMBER_MAX], dg[CERTDOC_DIGEST_HEX + 1], why[200];
	static const char mp[] =
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"xml\"; filename=\"cert.xml\"\r\n"
		"Content-Type: text/xml\r\n\r\n"
		"<a>файл\r\n</a>\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"xml_text\"\r\n\r\n"
		"\r\n"
		"--XyZ--\r\n";
	static const char mp_text[] =
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"xml\"; filename=\"\"\r\n"
		"Content-Type: application/octet-stream\r\n\r\n"
		"\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"xml_text\"\r\n\r\n"
		"<b>текст</b>\r\n"
		"--XyZ--\r\n";
	static const char mp_blank[] =
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"xml_text\"\r\n\r\n"
		" \r\n\r\n"
		"--XyZ--\r\n";
	struct buf x;

	assert_int_equal(verify_page_query("x=1&n=70000050-2026-000001&d=AB%63d+e", n, sizeof(n), dg,
					   sizeof(dg)), 0);
	assert_string_equal(n, "70000050-2026-000001");
	assert_string_equal(dg, "ABcd e");
	assert_int_equal(verify_page_query("", n, sizeof(n), dg, sizeof(dg)), 0);
	assert_string_equal(n, "");
	assert_int_equal(verify_page_query("n=0123456789012345678901234567890123456789012345678901",
					   n, sizeof(n), dg, sizeof(dg)), -1);
	buf_init(&x, 1 << 20);
	assert_int_equal(verify_page_posted_xml("multipart/form-data; boundary=XyZ", mp,
						sizeof(mp) - 1, &x, why, sizeof(why)), 0);
	assert_string_equal(x.data, "<a>файл\r\n</a>");
	buf_reset(&x);
	assert_int_equal(verify_page_posted_xml("multipart/form-data; boundary=\"XyZ\"", mp_text,
						sizeof(mp_text) - 1, &x, why, sizeof(why)), 0);
	assert_string_equal(x.data, "<b>текст</b>\n");   /* pasted text: as issued, one final LF */
	buf_reset(&x);
	assert_int_equal(verify_page_posted_xml("application/x-www-form-urlencoded",
						"a=1&xml_text=%3Cc%3E+%D1%82%3C%2Fc%3E", 37, &x, why,
						sizeof(why)), 0);
	assert_string_equal(x.data, "<c> т</c>\n");
	buf_reset(&x);
	/* a browser's paste: BOM, blanks, CRLF line ends, no final line end ->
	 * the bytes of the issued file (LF, one final LF); a lone CR too */
	assert_int_equal(verify_page_posted_xml("application/x-www-form-urlencoded",
						"xml_text=%EF%BB%BF+%0D%0A%3Ca%3E%0D%0A+x%0D%0Ay%0D%0D%0A%3C%2Fa%3E",
						66, &x, why, sizeof(why)), 0);
	assert_string_equal(x.data, "<a>\n x\ny\n\n</a>\n");
	buf_reset(&x);
	assert_int_equal(verify_page_posted_xml("application/x-www-form-urlencoded",
						"xml_text=%3Ca%2F%3E%0D%0A%0D%0A++", 33, &x, why, sizeof(why)), 0);
	assert_string_equal(x.data, "<a/>\n");
	buf_reset(&x);
	/* blanks only: nothing was pasted */
	assert_int_equal(verify_page_posted_xml("application/x-www-form-urlencoded",
						"xml_text=+%0D%0A", 16, &x, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "paste"));
	assert_int_equal(x.len, 0);
	assert_int_equal(verify_page_posted_xml("multipart/form-data; boundary=XyZ", mp_blank,
						sizeof(mp_blank) - 1, &x, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "paste"));
	assert_int_equal(x.len, 0);
	assert_int_equal(verify_page_posted_xml("application/x-www-form-urlencoded", "a=1", 3, &x,
						why, sizeof(why)), -1);
	assert_non_null(strstr(why, "paste"));
	assert_int_equal(verify_page_posted_xml("multipart/form-data; boundary=XyZ", "--XyZ\r\nbroken",
						13, &x, why, sizeof(why)), -1);
	assert_int_equal(verify_page_posted_xml("text/plain", "x", 1, &x, why, sizeof(why)), -1);
	assert_int_equal(x.len, 0);
	buf_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_digest_url_times),
		cmocka_unit_test(test_model_rules),
		cmocka_unit_test(test_render_golden),
		cmocka_unit_test(test_parse_roundtrip),
		cmocka_unit_test(test_issue_and_verify),
		cmocka_unit_test(test_foreign_documents),
		cmocka_unit_test(test_numbers_concurrent),
		cmocka_unit_test(test_register_rules),
		cmocka_unit_test(test_pdf),
		cmocka_unit_test(test_pdf_limits),
		cmocka_unit_test(test_verify_page),
		cmocka_unit_test(test_forms),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
