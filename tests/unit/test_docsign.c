/* Unit tests for trust/docsign: enveloped XAdES-BES/-T signatures over whole
 * documents.
 *
 * A development PKI is made at start with certs/mkpki.sh in a mkdtemp
 * directory, plus extra leaves from its sign CA (RSA, expired, naming no
 * member) and an unapproved look-alike CA with a leaf for the same member.
 * Time stamps come from a real RFC 3161 responder (tests/integration/
 * tsa_server.py running `openssl ts -reply`) on 127.0.0.1:28610. Every
 * document is also checked with the real xmlsec1 command line, and the
 * extracted token with `openssl ts -verify`, the way README.md tells a
 * person to do it offline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "store/tsa.h"
#include "trust/docsign.h"
#include "trust/keys.h"
#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define TSA_PORT 28610

/* A document of the kind docsign signs: default namespace, indentation,
 * Cyrillic text, an entity, attributes with quotes. */
static const char DOC[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Certificate xmlns=\"urn:ailgate:certificate:1\" version=\"1\">\n"
	"  <Number>70000050-2026-000001</Number>\n"
	"  <Subject><Name>Төлөгөнов Үсөн Аңдашевич</Name></Subject>\n"
	"  <Note a=\"x &amp; &quot;y&quot;\">5 &lt; 6 &amp; 7 &gt; 6</Note>\n"
	"</Certificate>\n";

struct fx {
	char dir[64];
	char pki[128];
	char root[192];
	X509_STORE *trust, *trust_other;
	struct tsa_client *tsa;
	struct tsa_trust *tsa_trust;
	struct signing_key *mun, *rsa, *expired, *nomember, *foreign;
	pid_t tsa_pid;
};

static struct fx FX;

/* ---- fixture ------------------------------------------------------------------------ */

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

/* The main PKI, then extra leaves from its sign CA and a look-alike CA. */
static const char pki_script[] =
	"set -e\n"
	"D=\"$1\"; SRC=\"$2\"\n"
	"ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$D/$1.key\"; }\n"
	"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out \"$D/rsa.key\" 2>/dev/null &\n"
	"\"$SRC/certs/mkpki.sh\" \"$D/pki\" --gateways a --clients '' "
	"  --members 'GOV/70000050 COM/60000001' >/dev/null 2>&1\n"
	"ec expired; ec nomember; ec other; ec other-ca\n"
	"wait\n"
	"CA=\"$D/pki/ca/sign/ca.cnf\"\n"
	"leaf() {\n"
	"  n=$1; s=$2; shift 2\n"
	"  openssl req -new -config \"$CA\" -key \"$D/$n.key\" -subj \"$s\" -out \"$D/$n.csr\"\n"
	"  openssl ca -batch -config \"$CA\" -extensions v3_sign -notext -in \"$D/$n.csr\" "
	"    -out \"$D/$n.pem\" \"$@\" >/dev/null 2>&1\n"
	"}\n"
	"leaf rsa '/C=KG/O=Lebedinovka ayil okmotu/serialNumber=GOV\\/70000050/CN=70000050' -days 30\n"
	"leaf expired '/C=KG/O=Old/serialNumber=GOV\\/70000050/CN=70000050' "
	"  -startdate 20200101000000Z -enddate 20210101000000Z\n"
	"leaf nomember '/C=KG/O=Nobody/CN=nobody' -days 30\n"
	"openssl req -x509 -new -config \"$CA\" -key \"$D/other-ca.key\" -days 30 "
	"  -subj '/C=KG/O=ailgate development/CN=ailgate dev root' -out \"$D/other-ca.pem\" "
	"  -addext 'basicConstraints=critical,CA:true' -addext 'keyUsage=critical,keyCertSign'\n"
	"openssl req -new -config \"$CA\" -key \"$D/other.key\" -out \"$D/other.csr\" "
	"  -subj '/C=KG/O=Lebedinovka ayil okmotu/serialNumber=GOV\\/70000050/CN=70000050'\n"
	"printf 'basicConstraints=critical,CA:false\\nkeyUsage=critical,digitalSignature,"
	"nonRepudiation\\n' > \"$D/other.ext\"\n"
	"openssl x509 -req -in \"$D/other.csr\" -CA \"$D/other-ca.pem\" -CAkey \"$D/other-ca.key\" "
	"  -CAcreateserial -days 30 -extfile \"$D/other.ext\" -out \"$D/other.pem\" 2>/dev/null\n";

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static struct signing_key *load(const char *key, const char *cert, const char *chain)
{
	char k[256], c[256], ch[256];
	struct signing_key *sk = NULL;
	char *err = NULL;

	snprintf(k, sizeof(k), "%s/%s", FX.dir, key);
	snprintf(c, sizeof(c), "%s/%s", FX.dir, cert);
	snprintf(ch, sizeof(ch), "%s/%s", FX.dir, chain ? chain : "");
	if (keys_load_pem(k, c, chain ? ch : NULL, &sk, &err) != 0) {
		fprintf(stderr, "cannot load %s: %s\n", key, err ? err : "?");
		free(err);
		return NULL;
	}
	return sk;
}

/* tsa_server.py on TSA_PORT; waits until it answers. */
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

		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* dies with the test */
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		snprintf(port, sizeof(port), "%d", TSA_PORT);
		execlp("python3", "python3", script, "--tsa-dir", tsa_dir, "--port", port,
		       "--port-file", pf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && pid > 0; i++) {   /* up to 10 s */
		if (access(pf, R_OK) == 0)
			return pid;
		usleep(50000);
	}
	return -1;
}

static int group_setup(void **state)
{
	char cmd[512], tsa_pem[256], url[64];
	struct tsa_config tc = { url, tsa_pem, FX.root, 10000 };
	char *err = NULL;
	FILE *f;

	memset(&FX, 0, sizeof(FX));
	strcpy(FX.dir, "/tmp/test_docsign.XXXXXX");
	if (!mkdtemp(FX.dir) || sig_global_init(&err) != 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/setup.sh", FX.dir);
	if (!(f = fopen(cmd, "w")))
		return -1;
	fputs(pki_script, f);
	fclose(f);
	if (sh("bash '%s/setup.sh' '%s' '%s'", FX.dir, FX.dir, src_dir()) != 0) {
		fprintf(stderr, "PKI setup failed in %s\n", FX.dir);
		return -1;
	}
	snprintf(FX.pki, sizeof(FX.pki), "%s/pki", FX.dir);
	snprintf(FX.root, sizeof(FX.root), "%s/ca/trust.pem", FX.pki);
	snprintf(cmd, sizeof(cmd), "%s/other-ca.pem", FX.dir);
	FX.trust = sig_trust_from_pem(FX.root, &err);
	FX.trust_other = sig_trust_from_pem(cmd, &err);
	FX.mun = load("pki/members/GOV_70000050/sign.key",
		      "pki/members/GOV_70000050/sign-fullchain.pem", NULL);
	FX.rsa = load("rsa.key", "rsa.pem", "pki/ca/sign/cert.pem");
	FX.expired = load("expired.key", "expired.pem", "pki/ca/sign/cert.pem");
	FX.nomember = load("nomember.key", "nomember.pem", "pki/ca/sign/cert.pem");
	FX.foreign = load("other.key", "other.pem", NULL);
	if (!FX.trust || !FX.trust_other || !FX.mun || !FX.rsa || !FX.expired || !FX.nomember ||
	    !FX.foreign)
		return -1;
	snprintf(tsa_pem, sizeof(tsa_pem), "%s/tsa/tsa.pem", FX.pki);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", TSA_PORT);
	if ((FX.tsa_pid = start_tsa()) < 0 || !(FX.tsa = tsa_client_new(&tc, &err)) ||
	    !(FX.tsa_trust = tsa_trust_new(FX.root, tsa_pem, &err))) {
		fprintf(stderr, "TSA setup failed: %s\n", err ? err : "server did not start");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	if (FX.tsa_pid > 0) {
		kill(FX.tsa_pid, SIGTERM);
		waitpid(FX.tsa_pid, NULL, 0);
	}
	tsa_client_free(FX.tsa);
	tsa_trust_free(FX.tsa_trust);
	keys_free(&FX.mun);
	keys_free(&FX.rsa);
	keys_free(&FX.expired);
	keys_free(&FX.nomember);
	keys_free(&FX.foreign);
	X509_STORE_free(FX.trust);
	X509_STORE_free(FX.trust_other);
	if (strncmp(FX.dir, "/tmp/test_docsign.", 18) == 0 && !getenv("DOCSIGN_KEEP"))
		sh("rm -rf '%s'", FX.dir);
	curl_global_cleanup();
	sig_global_shutdown();
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Signs doc with k (not stamped); returns the document (caller frees) and, if
 * data is not NULL, the bytes to stamp. */
static char *sign_doc(const struct signing_key *k, const char *doc, struct buf *data)
{
	struct buf out, d;
	char *err = NULL;

	buf_init(&out, DOCSIGN_XML_MAX + 64 * 1024);
	buf_init(&d, 8192);
	if (docsign_sign(k, doc, strlen(doc), NULL, &out, &d, &err) != 0) {
		fprintf(stderr, "docsign_sign: %s\n", err ? err : "?");
		free(err);
		buf_free(&out);
		buf_free(&d);
		return NULL;
	}
	if (data)
		*data = d;
	else
		buf_free(&d);
	return buf_steal(&out, NULL);
}

/* Signs and time-stamps (the real TSA). Caller frees. */
static char *sign_stamp(const struct signing_key *k, const char *doc)
{
	struct buf data, out;
	unsigned char *resp = NULL;
	size_t rlen = 0;
	int64_t gen;
	char *err = NULL, *sig = sign_doc(k, doc, &data);

	if (!sig)
		return NULL;
	buf_init(&out, DOCSIGN_XML_MAX + 64 * 1024);
	if (tsa_stamp(FX.tsa, data.data, data.len, &resp, &rlen, &gen, &err) != 0 ||
	    docsign_add_timestamp(sig, strlen(sig), resp, rlen, &out, &err) != 0) {
		fprintf(stderr, "stamp: %s\n", err ? err : "?");
		free(err);
		buf_free(&out);
	}
	free(resp);
	free(sig);
	buf_free(&data);
	return out.data ? buf_steal(&out, NULL) : NULL;
}

static enum docsign_status verify_opts(X509_STORE *st, const char *doc,
				       const struct docsign_verify_opts *o,
				       struct docsign_result *r)
{
	assert_int_equal(docsign_verify(doc, strlen(doc), st, FX.tsa_trust, o, r), 0);
	if (r->status == DOCSIGN_VALID)
		assert_string_equal(r->reason, "");
	else
		assert_true(strlen(r->reason) > 10);
	return r->status;
}

static enum docsign_status verify(const char *doc, struct docsign_result *r)
{
	return verify_opts(FX.trust, doc, NULL, r);
}

/* The exit status of xmlsec1 --verify on doc, as README.md tells people to run it. */
static int xmlsec1_verify(const char *doc, const char *root)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/doc.xml", FX.dir);
	if (write_file(path, doc, strlen(doc)) != 0)
		return -1;
	return sh("xmlsec1 --verify --trusted-pem '%s' --id-attr:Id SignedProperties '%s' "
		  ">/dev/null 2>&1", root, path);
}

/* A copy of s with the first occurrence of from replaced by to (caller frees). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	char *out;

	assert_non_null(p);
	out = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, s, (size_t)(p - s));
	strcpy(out + (p - s), to);
	strcat(out, p + strlen(from));
	return out;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_sign_stamp_verify(void **state)
{
	struct docsign_result r;
	time_t now = time(NULL);
	char *doc = sign_stamp(FX.mun, DOC);

	assert_non_null(doc);
	/* Only the Signature was added, right before the root's end tag. */
	assert_memory_equal(doc, DOC, strlen(DOC) - strlen("</Certificate>\n"));
	assert_string_equal(doc + strlen(doc) - strlen("</ds:Signature></Certificate>\n"),
			    "</ds:Signature></Certificate>\n");
	assert_non_null(strstr(doc, "<xades:EncapsulatedTimeStamp>"));
	assert_int_equal(verify(doc, &r), DOCSIGN_VALID);
	assert_string_equal(r.member_class, "GOV");
	assert_string_equal(r.member_code, "70000050");
	assert_string_equal(r.signer_name, "Lebedinovka ayil okmotu");
	assert_int_equal(r.stamped, 1);
	assert_true(r.stamp_time_ms / 1000 >= now - 60 && r.stamp_time_ms / 1000 <= now + 60);
	assert_true(r.signing_time.tv_sec >= now - 60 && r.signing_time.tv_sec <= now + 60);
	assert_string_equal(docsign_status_name(r.status), "valid");
	assert_int_equal(xmlsec1_verify(doc, FX.root), 0);
	free(doc);
}

static void test_unstamped(void **state)
{
	struct docsign_result r;
	struct docsign_verify_opts o = { 0, 1, 0 };
	char *doc = sign_doc(FX.mun, DOC, NULL);

	assert_non_null(doc);
	assert_int_equal(verify(doc, &r), DOCSIGN_VALID);
	assert_int_equal(r.stamped, 0);
	assert_int_equal(r.stamp_time_ms, 0);
	assert_int_equal(verify_opts(FX.trust, doc, &o, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "time stamp"));
	assert_int_equal(xmlsec1_verify(doc, FX.root), 0);
	free(doc);
}

static void test_rsa(void **state)
{
	struct docsign_result r;
	char *doc = sign_stamp(FX.rsa, DOC);

	assert_non_null(doc);
	assert_non_null(strstr(doc, "xmldsig-more#rsa-sha256"));
	assert_int_equal(verify(doc, &r), DOCSIGN_VALID);
	assert_int_equal(xmlsec1_verify(doc, FX.root), 0);
	free(doc);
}

/* The offline recipe of README.md: token and SignatureValue from the file
 * with xmllint, the c14n form with printf, then openssl ts -verify. */
static void test_openssl_ts_verify(void **state)
{
	char path[128];
	char *doc = sign_stamp(FX.mun, DOC);
	static const char recipe[] =
		"cd '%s' && "
		"xmllint --xpath 'string(//*[local-name()=\"EncapsulatedTimeStamp\"])' doc.xml "
		"| base64 -d > token.der && "
		"V=$(xmllint --xpath 'string(//*[local-name()=\"SignatureValue\"])' doc.xml) && "
		"printf '<ds:SignatureValue xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">%%s"
		"</ds:SignatureValue>' \"$V\" > sigvalue.c14n && "
		"%s"
		"openssl ts -verify -token_in -in token.der -data sigvalue.c14n "
		"-CAfile '%s' 2>&1 | grep -q '^Verification: OK'";

	assert_non_null(doc);
	snprintf(path, sizeof(path), "%s/doc.xml", FX.dir);
	assert_int_equal(write_file(path, doc, strlen(doc)), 0);
	assert_int_equal(sh(recipe, FX.dir, "", FX.root), 0);
	/* The same check on other data fails: it is not a rubber stamp. */
	assert_int_not_equal(sh(recipe, FX.dir, "printf x >> sigvalue.c14n && ", FX.root), 0);
	free(doc);
}

/* One changed byte in the content, the signed properties or the value. */
static void test_tampered(void **state)
{
	struct docsign_result r;
	char *doc = sign_stamp(FX.mun, DOC), *bad, *p;

	assert_non_null(doc);
	bad = replace(doc, "Үсөн", "Үсон");
	assert_int_equal(verify(bad, &r), DOCSIGN_TAMPERED);
	assert_non_null(strstr(r.reason, "content was changed"));
	assert_int_equal(docsign_status_name(r.status)[0], 't');
	assert_int_not_equal(xmlsec1_verify(bad, FX.root), 0);
	free(bad);

	/* SigningTime: another valid time. */
	p = strstr(doc, "<xades:SigningTime>");
	assert_non_null(p);
	bad = strdup(doc);
	p = bad + (p - doc) + strlen("<xades:SigningTime>") + 3;   /* a year digit */
	*p = *p == '5' ? '4' : '5';
	assert_int_equal(verify(bad, &r), DOCSIGN_TAMPERED);
	assert_non_null(strstr(r.reason, "signed properties"));
	free(bad);

	/* The signature value: its first character. */
	p = strstr(doc, "<ds:SignatureValue>");
	bad = strdup(doc);
	p = bad + (p - doc) + strlen("<ds:SignatureValue>");
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(verify(bad, &r), DOCSIGN_TAMPERED);
	free(bad);
	free(doc);
}

/* No single-byte change anywhere makes a stamped document verify as VALID
 * (every 3rd byte: the whole run is then a few seconds under ASan). */
static void test_every_byte(void **state)
{
	struct docsign_result r;
	char *doc = sign_stamp(FX.mun, DOC);
	size_t len, stride = getenv("DOCSIGN_STRIDE") ? strtoul(getenv("DOCSIGN_STRIDE"), NULL, 10) : 3;
	int bad = 0;

	assert_non_null(doc);
	len = strlen(doc);
	for (size_t i = 0; i < len; i += stride ? stride : 1) {
		char keep = doc[i];

		doc[i] ^= 1;
		assert_int_equal(docsign_verify(doc, len, FX.trust, FX.tsa_trust, NULL, &r), 0);
		if (r.status == DOCSIGN_VALID && getenv("DOCSIGN_KEEP")) {
			char path[128];

			snprintf(path, sizeof(path), "%s/flip-%zu.xml", FX.dir, i);
			write_file(path, doc, len);
		}
		if (r.status == DOCSIGN_VALID) {
			print_error("byte %zu changed from '%c' to '%c' still verifies: ...%.40s...\n",
				    i, keep, doc[i], doc + (i > 20 ? i - 20 : 0));
			bad++;
		}
		doc[i] = keep;
	}
	assert_int_equal(bad, 0);
	assert_int_equal(verify(doc, &r), DOCSIGN_VALID);
	free(doc);
}

static void test_untrusted_signers(void **state)
{
	struct docsign_result r;
	char *doc;

	/* A look-alike CA with the real root's name. */
	doc = sign_stamp(FX.foreign, DOC);
	assert_non_null(doc);
	assert_int_equal(verify(doc, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "signing certificate is not accepted"));
	assert_int_not_equal(xmlsec1_verify(doc, FX.root), 0);
	free(doc);
	/* A real document checked against another trust store. */
	doc = sign_stamp(FX.mun, DOC);
	assert_int_equal(verify_opts(FX.trust_other, doc, NULL, &r), DOCSIGN_INVALID);
	free(doc);
	/* Expired signing certificate (stamped now: still expired then). */
	doc = sign_stamp(FX.expired, DOC);
	assert_int_equal(verify(doc, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "expired"));
	free(doc);
	/* A certificate that names no member. */
	doc = sign_doc(FX.nomember, DOC, NULL);
	assert_int_equal(verify(doc, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "names no member"));
	free(doc);
}

/* XAdES-T: years later, after the signing certificate expired, a stamped
 * document still verifies (certificate checked as of the stamp); an
 * unstamped one does not. */
static void test_long_term(void **state)
{
	struct docsign_result r;
	struct docsign_verify_opts later = { time(NULL) + 3L * 365 * 86400, 0, 0 };
	char *stamped = sign_stamp(FX.mun, DOC), *plain = sign_doc(FX.mun, DOC, NULL);

	assert_int_equal(verify_opts(FX.trust, stamped, &later, &r), DOCSIGN_VALID);
	assert_int_equal(verify_opts(FX.trust, plain, &later, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "expired"));
	free(stamped);
	free(plain);
}

static void test_stamp_mismatch(void **state)
{
	struct buf d1, d2, out;
	unsigned char *resp = NULL;
	size_t rlen = 0;
	int64_t gen;
	struct docsign_result r;
	char *err = NULL, *a = sign_doc(FX.mun, DOC, &d1), *b = sign_doc(FX.mun, DOC, &d2);
	char *sa, *tok_a, *end, *moved;

	/* A stamp for document a refused on document b. */
	buf_init(&out, DOCSIGN_XML_MAX);
	assert_int_equal(tsa_stamp(FX.tsa, d1.data, d1.len, &resp, &rlen, &gen, &err), 0);
	assert_int_equal(docsign_add_timestamp(b, strlen(b), resp, rlen, &out, &err), -1);
	assert_non_null(strstr(err, "made for other data"));
	assert_int_equal(out.len, 0);
	free(err);
	err = NULL;
	/* Garbage is not a response. */
	assert_int_equal(docsign_add_timestamp(a, strlen(a), (const unsigned char *)"xx", 2, &out,
					       &err), -1);
	free(err);
	err = NULL;
	/* Stamping twice is refused. */
	assert_int_equal(docsign_add_timestamp(a, strlen(a), resp, rlen, &out, &err), 0);
	sa = buf_steal(&out, NULL);
	buf_init(&out, DOCSIGN_XML_MAX);
	assert_int_equal(docsign_add_timestamp(sa, strlen(sa), resp, rlen, &out, &err), -1);
	assert_non_null(strstr(err, "already"));
	free(err);
	err = NULL;
	/* docsign_stamp_data recomputes what was stamped. */
	assert_int_equal(docsign_stamp_data(a, strlen(a), &out, &err), 0);
	assert_int_equal(out.len, d1.len);
	assert_memory_equal(out.data, d1.data, d1.len);
	buf_reset(&out);
	/* a's token moved into b (same ids, so the shape holds): TAMPERED. */
	tok_a = strstr(sa, "<xades:UnsignedProperties>");
	end = strstr(sa, "</xades:UnsignedProperties>") + strlen("</xades:UnsignedProperties>");
	{
		char *ins = strstr(b, "</xades:SignedProperties>") + strlen("</xades:SignedProperties>");
		char tsid[64], *fixed;
		const char *sid = strstr(b, "<ds:Signature ") + strlen("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"sig-");
		const char *sida = strstr(sa, "Id=\"ts-") + 4;

		moved = malloc(strlen(b) + (size_t)(end - tok_a) + 1);
		memcpy(moved, b, (size_t)(ins - b));
		memcpy(moved + (ins - b), tok_a, (size_t)(end - tok_a));
		strcpy(moved + (ins - b) + (end - tok_a), ins);
		/* give the moved stamp b's ts- Id */
		snprintf(tsid, sizeof(tsid), "ts-%.36s", sid);
		{
			char olda[64];
			snprintf(olda, sizeof(olda), "%.39s", sida);
			fixed = replace(moved, olda, tsid);
		}
		free(moved);
		moved = fixed;
	}
	assert_int_equal(verify(moved, &r), DOCSIGN_TAMPERED);
	assert_non_null(strstr(r.reason, "time stamp was made for another signature value"));
	free(moved);
	free(sa);
	free(resp);
	free(a);
	free(b);
	buf_free(&d1);
	buf_free(&d2);
	buf_free(&out);
}

static void test_signing_time_after_stamp(void **state)
{
	struct timespec later;
	struct buf out, data, st;
	unsigned char *resp = NULL;
	size_t rlen = 0;
	int64_t gen;
	struct docsign_result r;
	char *err = NULL;

	clock_gettime(CLOCK_REALTIME, &later);
	later.tv_sec += 3600;
	buf_init(&out, DOCSIGN_XML_MAX);
	buf_init(&data, 8192);
	buf_init(&st, DOCSIGN_XML_MAX);
	assert_int_equal(docsign_sign(FX.mun, DOC, strlen(DOC), &later, &out, &data, &err), 0);
	assert_int_equal(tsa_stamp(FX.tsa, data.data, data.len, &resp, &rlen, &gen, &err), 0);
	assert_int_equal(docsign_add_timestamp(out.data, out.len, resp, rlen, &st, &err), 0);
	assert_int_equal(verify(st.data, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "later than the time stamp"));
	/* unstamped: later than now */
	assert_int_equal(verify(out.data, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "later than the current time"));
	free(resp);
	buf_free(&out);
	buf_free(&data);
	buf_free(&st);
}

/* What the signer refuses, with a reason. */
static void test_sign_refuses(void **state)
{
	static const struct {
		const char *doc, *why;
	} cases[] = {
		{ "", "empty" },
		{ "<a>x</a", "well-formed" },
		{ "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "DTD" },
		{ "<a><!-- c -->x</a>", "comments" },
		{ "<a>x</a><!-- after -->", "top level" },
		{ "<?pi x?><a>x</a>", "top level" },
		{ "<a><![CDATA[x]]></a>", "CDATA" },
		{ "<a/>", "end tag" },
		{ "<a><b xml:id=\"q\"/></a>", "xml:id" },
		{ "<a><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></a>",
		  "outside the signature" },
		{ "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>x</a>", "UTF-8" },
	};
	struct buf out, data;
	char *err = NULL;

	buf_init(&out, DOCSIGN_XML_MAX);
	buf_init(&data, 8192);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(docsign_sign(FX.mun, cases[i].doc, strlen(cases[i].doc), NULL, &out,
					      &data, &err), -1);
		assert_non_null(err);
		if (!strstr(err, cases[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].why);
		assert_int_equal(out.len, 0);
		assert_int_equal(data.len, 0);
		free(err);
		err = NULL;
	}
	/* Whitespace after the root and an end tag with spaces are fine. */
	assert_int_equal(docsign_sign(FX.mun, "<a>x</a  >\n\n", 12, NULL, &out, &data, &err), 0);
	{
		struct docsign_result r;
		assert_int_equal(verify(out.data, &r), DOCSIGN_VALID);
	}
	buf_free(&out);
	buf_free(&data);
}

/* Shapes the verifier refuses that xmlsec1 alone might accept. */
static void test_verify_shape(void **state)
{
	struct docsign_result r;
	char *doc = sign_stamp(FX.mun, DOC), *bad, *sig, *moved;

	/* Not signed at all. */
	assert_int_equal(verify(DOC, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "not signed"));
	/* A comment in the content: c14n drops it, so xmlsec1 still says OK. */
	bad = replace(doc, "Төлөгөнов", "Төлөгөнов<!-- x -->");
	assert_int_equal(xmlsec1_verify(bad, FX.root), 0);
	assert_int_equal(verify(bad, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "comments"));
	free(bad);
	/* Whitespace after the Signature: it must be the last child. */
	bad = replace(doc, "</ds:Signature></Certificate>", "</ds:Signature> </Certificate>");
	assert_int_equal(verify(bad, &r), DOCSIGN_INVALID);
	free(bad);
	/* The Signature moved to the front. */
	sig = strstr(doc, "<ds:Signature");
	moved = calloc(1, strlen(doc) + 1);
	{
		const char *after_root = strstr(doc, "version=\"1\">") + strlen("version=\"1\">");
		size_t siglen = strlen(sig) - strlen("</Certificate>\n");

		memcpy(moved, doc, (size_t)(after_root - doc));
		memcpy(moved + (after_root - doc), sig, siglen);
		memcpy(moved + (after_root - doc) + siglen, after_root, (size_t)(sig - after_root));
		strcat(moved, "</Certificate>\n");
	}
	assert_int_equal(verify(moved, &r), DOCSIGN_INVALID);
	free(moved);
	/* A DTD in front. */
	bad = replace(doc, "<Certificate", "<!DOCTYPE Certificate><Certificate");
	assert_int_equal(verify(bad, &r), DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "DTD"));
	free(bad);
	/* An extra attribute in the Signature. */
	bad = replace(doc, "<ds:SignatureValue>", "<ds:SignatureValue Id=\"v\">");
	assert_int_equal(verify(bad, &r), DOCSIGN_INVALID);
	free(bad);
	/* Sizes. */
	assert_int_equal(docsign_verify(doc, 0, FX.trust, FX.tsa_trust, NULL, &r), 0);
	assert_int_equal(r.status, DOCSIGN_INVALID);
	assert_int_equal(docsign_verify(doc, DOCSIGN_XML_MAX + 1, FX.trust, FX.tsa_trust, NULL, &r), 0);
	assert_int_equal(r.status, DOCSIGN_INVALID);
	/* No TSA trust: a stamped document cannot be accepted. */
	assert_int_equal(docsign_verify(doc, strlen(doc), FX.trust, NULL, NULL, &r), 0);
	assert_int_equal(r.status, DOCSIGN_INVALID);
	assert_non_null(strstr(r.reason, "no TSA trust"));
	/* Not set up. */
	assert_int_equal(docsign_verify(doc, strlen(doc), NULL, FX.tsa_trust, NULL, &r), -1);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_stamp_verify),
		cmocka_unit_test(test_unstamped),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_openssl_ts_verify),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_untrusted_signers),
		cmocka_unit_test(test_long_term),
		cmocka_unit_test(test_stamp_mismatch),
		cmocka_unit_test(test_signing_time_after_stamp),
		cmocka_unit_test(test_sign_refuses),
		cmocka_unit_test(test_verify_shape),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
