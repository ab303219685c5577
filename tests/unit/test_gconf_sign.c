/* Unit tests for trust/gconf_sign (the operator's signature on the global
 * configuration) and the file side of core/gconf_fetch.
 *
 * A small PKI is made at start with openssl in a mkdtemp directory: a root,
 * the operator (ECDSA P-256) and an RSA operator issued by it, and another
 * leaf of the same root that is not the anchor. Signed documents are also
 * checked with the xmlsec1 command line; every single-byte change of a
 * signed document (from the root element on) must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/gconf_fetch.h"
#include "core/globalconf.h"
#include "lib/buf.h"
#include "trust/gconf_sign.h"
#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct fx {
	char dir[64];
	char xsd[512];
	struct gcsig_anchor *op, *op_rsa, *other;
};

static struct fx FX;

/* A global configuration with no comments (a comment is outside what
 * URI="" signs, so every byte of this one is covered). */
static const char doc_text[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<globalConf xmlns=\"urn:ailgate:globalconf:1\">\n"
	"  <instance>central-server</instance>\n"
	"  <generatedAt>2026-01-01T00:00:00Z</generatedAt>\n"
	"  <expiresAt>2036-01-01T00:00:00Z</expiresAt>\n"
	"  <memberClass code=\"GOV\">State</memberClass>\n"
	"  <member class=\"GOV\" code=\"70000005\" name=\"Registry\"><subsystem code=\"passport-service\"/></member>\n"
	"  <member class=\"GOV\" code=\"70000050\" name=\"Ail okmotu\"><subsystem code=\"household-register\"/></member>\n"
	"  <gateway code=\"state\" address=\"127.0.0.1:5501\" authCertHash=\""
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">"
	"<client>GOV/70000005/passport-service</client></gateway>\n"
	"  <service client=\"GOV/70000005/passport-service\" code=\"passportDataByPSN\" version=\"v1\" "
	"type=\"soap\" adapter=\"population\"><allow>GOV/70000050/household-register</allow></service>\n"
	"</globalConf>\n";

/* ---- fixture ---------------------------------------------------------------- */

static const char pki_script[] =
	"set -e\n"
	"D=\"$1\"\n"
	"ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$D/$1.key\"; }\n"
	"ec root; ec op; ec other\n"
	"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out \"$D/oprsa.key\" 2>/dev/null\n"
	"openssl req -x509 -new -key \"$D/root.key\" -days 30 -subj '/O=test/CN=test root' "
	"  -addext 'basicConstraints=critical,CA:true' -addext 'keyUsage=critical,keyCertSign' "
	"  -out \"$D/root.pem\" 2>/dev/null\n"
	"printf 'basicConstraints=critical,CA:false\\nkeyUsage=critical,digitalSignature,"
	"nonRepudiation\\n' > \"$D/leaf.ext\"\n"
	"leaf() {\n"
	"  openssl req -new -key \"$D/$1.key\" -subj \"/O=test/CN=$2\" -out \"$D/$1.csr\" 2>/dev/null\n"
	"  openssl x509 -req -in \"$D/$1.csr\" -CA \"$D/root.pem\" -CAkey \"$D/root.key\" "
	"    -CAcreateserial -days 30 -extfile \"$D/leaf.ext\" -out \"$D/$1.pem\" 2>/dev/null\n"
	"}\n"
	"leaf op 'test operator'; leaf oprsa 'test operator RSA'; leaf other 'someone else'\n";

static const char *src_dir(void)
{
	const char *e = getenv("AILGATE_SOURCE_DIR");

	return e && *e ? e : AILGATE_SOURCE_DIR;
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", FX.dir, name);
}

static int run_sh(const char *script, const char *arg)
{
	char path[128], cmd[512];
	FILE *fp;
	int st;

	path_of(path, sizeof(path), "setup.sh");
	if (!(fp = fopen(path, "w")))
		return -1;
	fputs(script, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s'", path, arg);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static struct gcsig_anchor *anchor(const char *pem)
{
	char p[128], *err = NULL;
	struct gcsig_anchor *a = NULL;

	path_of(p, sizeof(p), pem);
	if (gcsig_anchor_load(p, &a, &err) != 0) {
		fprintf(stderr, "anchor %s: %s\n", pem, err ? err : "?");
		free(err);
	}
	return a;
}

static int group_setup(void **state)
{
	char *err = NULL;

	memset(&FX, 0, sizeof(FX));
	strcpy(FX.dir, "/tmp/test_gconf_sign.XXXXXX");
	if (!mkdtemp(FX.dir) || sig_global_init(&err) != 0)
		return -1;
	if (run_sh(pki_script, FX.dir) != 0) {
		fprintf(stderr, "PKI setup failed in %s\n", FX.dir);
		return -1;
	}
	snprintf(FX.xsd, sizeof(FX.xsd), "%s/config/globalconf.xsd", src_dir());
	FX.op = anchor("op.pem");
	FX.op_rsa = anchor("oprsa.pem");
	FX.other = anchor("other.pem");
	return FX.op && FX.op_rsa && FX.other ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	gcsig_anchor_free(&FX.op);
	gcsig_anchor_free(&FX.op_rsa);
	gcsig_anchor_free(&FX.other);
	if (strncmp(FX.dir, "/tmp/test_gconf_sign.", 21) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", FX.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", FX.dir);
	}
	sig_global_shutdown();
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

/* Signs text with key/cert (file names in the fixture directory). */
static int sign_with(const char *text, size_t len, const char *key, const char *cert, int replace,
		     struct buf *out, char **err)
{
	char k[128], c[128];

	path_of(k, sizeof(k), key);
	path_of(c, sizeof(c), cert);
	buf_init(out, GCSIG_XML_MAX + 65536);
	return gcsig_sign(text, len, k, c, replace, out, err);
}

/* The test document signed by the operator (caller frees). */
static char *signed_doc(const char *key, const char *cert, size_t *len)
{
	struct buf b;
	char *err = NULL;

	if (sign_with(doc_text, strlen(doc_text), key, cert, 0, &b, &err) != 0)
		fail_msg("signing failed: %s", err ? err : "?");
	return buf_steal(&b, len);
}

static enum gcsig_rc verify(const char *xml, const struct gcsig_anchor *a, char **why)
{
	return gcsig_verify(xml, strlen(xml), a, why);
}

static void expect(const char *xml, const struct gcsig_anchor *a, enum gcsig_rc want, const char *msg)
{
	char *why = NULL;
	enum gcsig_rc rc = verify(xml, a, &why);

	if (rc != want || (want != GCSIG_OK && (!why || (msg && !strstr(why, msg)))))
		fail_msg("verify: got %s (%s), want %s with '%s'", gcsig_rc_name(rc), why ? why : "no message",
			 gcsig_rc_name(want), msg ? msg : "");
	free(why);
}

/* s with the first `from` replaced by `to` (caller frees). */
static char *replace_once(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	char *out = NULL;

	if (!p)
		fail_msg("'%s' not in the document", from);
	if (asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) < 0)
		fail_msg("asprintf");
	return out;
}

/* The ds:Signature element of a signed document, as text (caller frees). */
static char *signature_of(const char *s)
{
	const char *a = strstr(s, "<ds:Signature"), *b = strstr(s, "</ds:Signature>");

	if (!a || !b)
		fail_msg("no signature in the document");
	return strndup(a, (size_t)(b - a) + strlen("</ds:Signature>"));
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* xmlsec1 --verify with trust in the fixture's root; 0 if it says OK. */
static int xmlsec1_verify(const char *xml)
{
	char file[128], root[128], cmd[512];
	FILE *fp;
	int st;

	path_of(file, sizeof(file), "cli.xml");
	path_of(root, sizeof(root), "root.pem");
	if (!(fp = fopen(file, "w")))
		return -1;
	fputs(xml, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "xmlsec1 --verify --trusted-pem '%s' '%s' >/dev/null 2>&1", root, file);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- sign, then verify -------------------------------------------------------------- */

static void test_sign_verify(void **state)
{
	static const struct { const char *key, *cert, *alg; } keys[] = {
		{ "op.key", "op.pem", "ecdsa-sha256" },
		{ "oprsa.key", "oprsa.pem", "rsa-sha256" },
	};

	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		size_t len = 0;
		char *s = signed_doc(keys[i].key, keys[i].cert, &len), *err = NULL;
		struct gconf *g = NULL;

		expect(s, i ? FX.op_rsa : FX.op, GCSIG_OK, NULL);
		assert_non_null(strstr(s, keys[i].alg));
		assert_int_equal(count(s, "<ds:Signature xmlns"), 1);
		assert_int_equal(count(s, "<ds:X509Certificate>"), 1);
		/* the only change: the signature, as the root's last element */
		assert_non_null(strstr(s, "</ds:Signature>\n</globalConf>"));
		assert_non_null(strstr(s, "<instance>central-server</instance>"));
		/* still a valid global configuration (schema: the reserved xs:any) */
		if (gconf_load_mem(s, len, "signed", FX.xsd, &g, &err) != 0)
			fail_msg("signed document does not load: %s", err);
		assert_int_equal(gconf_generated(g), 1767225600);
		gconf_unref(&g);
		free(s);
	}
}

static void test_xmlsec1_cli(void **state)
{
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len), *t;

	assert_int_equal(xmlsec1_verify(s), 0);
	t = replace_once(s, "household-register", "household-registes");
	assert_int_not_equal(xmlsec1_verify(t), 0);   /* the command line can say no */
	free(t);
	free(s);
	s = signed_doc("oprsa.key", "oprsa.pem", &len);
	assert_int_equal(xmlsec1_verify(s), 0);
	free(s);
}

/* Every single-byte change from the root element on is refused. */
static void test_every_byte(void **state)
{
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len);
	size_t start = (size_t)(strstr(s, "<globalConf") - s);
	int refused = 0;

	for (size_t i = start; i < len; i++) {
		char *why = NULL;
		s[i] ^= 0x01;
		if (gcsig_verify(s, len, FX.op, &why) == GCSIG_OK)
			fail_msg("byte %zu ('%c') changed and the signature still verifies", i, s[i] ^ 0x01);
		s[i] ^= 0x01;
		free(why);
		refused++;
	}
	assert_true(refused > 1000);
	expect(s, FX.op, GCSIG_OK, NULL);   /* and the original still does */
	free(s);
}

static void test_tampered(void **state)
{
	static const struct { const char *from, *to; enum gcsig_rc rc; const char *msg; } cases[] = {
		{ "<allow>GOV/70000050/household-register</allow>",
		  "<allow>GOV/70000050/household-register</allow><allow>GOV/70000050</allow>",
		  GCSIG_BAD_SIGNATURE, "changed after it was signed" },
		{ "2036-01-01T00:00:00Z", "2046-01-01T00:00:00Z", GCSIG_BAD_SIGNATURE, "changed" },
		{ "  <memberClass", "   <memberClass", GCSIG_BAD_SIGNATURE, "changed" },
		{ "<ds:DigestValue>", "<ds:DigestValue>A", GCSIG_BAD_SIGNATURE, "changed" },
	};
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len);

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *t = replace_once(s, cases[i].from, cases[i].to);
		expect(t, FX.op, cases[i].rc, cases[i].msg);
		free(t);
	}
	free(s);
}

/* ---- who signed --------------------------------------------------------------------- */

static void test_not_the_anchor(void **state)
{
	size_t len;
	char *s = signed_doc("other.key", "other.pem", &len);

	/* a certificate of the same root is not enough: the anchor is one certificate */
	expect(s, FX.op, GCSIG_NOT_ANCHOR, "'someone else'");
	expect(s, FX.other, GCSIG_OK, NULL);
	free(s);
	s = signed_doc("op.key", "op.pem", &len);
	expect(s, FX.other, GCSIG_NOT_ANCHOR, "not the configured anchor");
	expect(s, FX.op_rsa, GCSIG_NOT_ANCHOR, "not the configured anchor");
	free(s);
}

/* Signed with another key but carrying the anchor's certificate. */
static void test_wrong_key_anchor_cert(void **state)
{
	size_t len;
	char *good = signed_doc("op.key", "op.pem", &len), *bad = signed_doc("other.key", "other.pem", &len);
	const char *gc = strstr(good, "<ds:X509Certificate>"), *bc = strstr(bad, "<ds:X509Certificate>");
	char *gcert = strndup(gc, (size_t)(strstr(gc, "</ds:X509Certificate>") - gc));
	char *bcert = strndup(bc, (size_t)(strstr(bc, "</ds:X509Certificate>") - bc));
	char *t = replace_once(bad, bcert, gcert);

	expect(t, FX.op, GCSIG_BAD_SIGNATURE, "does not verify");
	free(t);
	free(gcert);
	free(bcert);
	free(good);
	free(bad);
}

/* ---- where the signature stands, and what it references ----------------------------------- */

/* s with ins inserted before the first `at` (caller frees). */
static char *insert_before(const char *s, const char *at, const char *ins)
{
	const char *p = strstr(s, at);
	char *out = NULL;

	if (!p)
		fail_msg("'%s' not in the document", at);
	if (asprintf(&out, "%.*s%s%s", (int)(p - s), s, ins, p) < 0)
		fail_msg("asprintf");
	return out;
}

static void test_structure(void **state)
{
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len), *sig = signature_of(s), *unsig, *t, *u;

	unsig = replace_once(s, sig, "");
	expect(unsig, FX.op, GCSIG_UNSIGNED, "not signed");
	/* moved: the root's first child; inside another element */
	t = insert_before(unsig, "  <instance>", sig);
	expect(t, FX.op, GCSIG_MALFORMED, "must be the last child");
	free(t);
	t = insert_before(unsig, "</member>", sig);
	expect(t, FX.op, GCSIG_MALFORMED, "must be the last child");
	free(t);
	/* duplicated: twice at the end, or a second one elsewhere */
	t = insert_before(s, "<ds:Signature", sig);
	assert_int_equal(count(t, "<ds:Signature xmlns"), 2);
	expect(t, FX.op, GCSIG_MALFORMED, "exactly one");
	free(t);
	t = insert_before(s, "</member>", sig);
	expect(t, FX.op, GCSIG_MALFORMED, "exactly one");
	free(t);
	/* wrapped in an element of its own namespace */
	u = replace_once(s, "<ds:Signature", "<ds:Object><ds:Signature");
	t = replace_once(u, "</ds:Signature>", "</ds:Signature></ds:Object>");
	expect(t, FX.op, GCSIG_MALFORMED, "must be the last child");
	free(t);
	free(u);
	/* another root child after it */
	t = replace_once(s, "</ds:Signature>", "</ds:Signature><memberClass code=\"X\">x</memberClass>");
	expect(t, FX.op, GCSIG_MALFORMED, "must be the last child");
	free(t);
	free(unsig);
	free(sig);
	free(s);
}

static void test_reference_rules(void **state)
{
	static const struct { const char *from, *to, *msg; } cases[] = {
		{ "<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">", "URI=\"\"" },
		{ "<ds:Reference URI=\"\">", "<ds:Reference>", "URI=\"\"" },
		{ "</ds:Reference>", "</ds:Reference><ds:Reference URI=\"\"/>", "exactly one Reference" },
		{ "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
		  "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>", "transforms" },
		{ "</ds:Transforms>", "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
		  "</ds:Transforms>", "transforms" },
		{ "xmlenc#sha256", "xmldsig#sha1", "SHA-256" },
		{ "xmldsig-more#ecdsa-sha256", "xmldsig-more#ecdsa-sha512", "SignatureMethod" },
		{ "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object/>", "no Object" },
		{ "<ds:X509Data>", "<ds:X509Data><ds:X509SubjectName>CN=x</ds:X509SubjectName>",
		  "exactly one X509Certificate" },
		{ "<ds:X509Certificate>", "<ds:X509Certificate>!!", "base64" },
	};
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len);

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *t = replace_once(s, cases[i].from, cases[i].to);
		expect(t, FX.op, GCSIG_MALFORMED, cases[i].msg);
		free(t);
	}
	free(s);
}

static void test_hostile_documents(void **state)
{
	static const char *const docs[] = {
		"",
		"<globalConf",
		"<?xml version=\"1.0\"?><!DOCTYPE g [<!ENTITY x \"y\">]><globalConf>&x;</globalConf>",
	};

	for (size_t i = 0; i < ARRAY_LEN(docs); i++) {
		char *why = NULL;
		assert_int_equal(gcsig_verify(docs[i], strlen(docs[i]), FX.op, &why), GCSIG_MALFORMED);
		assert_non_null(why);
		free(why);
	}
	expect(doc_text, FX.op, GCSIG_UNSIGNED, "ailgate globalconf sign");
	assert_int_equal(gcsig_verify(doc_text, strlen(doc_text), NULL, NULL), GCSIG_ERROR);
}

/* ---- the signer ------------------------------------------------------------------------- */

static void test_sign_refusals(void **state)
{
	size_t len;
	char *s = signed_doc("op.key", "op.pem", &len), *err = NULL, *nested;
	struct buf b;

	assert_int_equal(sign_with(s, len, "op.key", "op.pem", 0, &b, &err), -1);
	assert_non_null(strstr(err, "--replace"));
	free(err);
	err = NULL;
	buf_free(&b);
	/* re-signing replaces: one signature, verifies */
	assert_int_equal(sign_with(s, len, "op.key", "op.pem", 1, &b, &err), 0);
	assert_int_equal(count(b.data, "<ds:Signature xmlns"), 1);
	assert_int_equal(count(b.data, "</ds:Signature>\n</globalConf>"), 1);
	expect(b.data, FX.op, GCSIG_OK, NULL);
	buf_free(&b);
	/* key and certificate must belong together */
	assert_int_equal(sign_with(doc_text, strlen(doc_text), "other.key", "op.pem", 0, &b, &err), -1);
	assert_non_null(strstr(err, "does not belong to the key"));
	free(err);
	err = NULL;
	buf_free(&b);
	assert_int_equal(sign_with(doc_text, strlen(doc_text), "missing.key", "op.pem", 0, &b, &err), -1);
	assert_non_null(strstr(err, "missing.key"));
	free(err);
	err = NULL;
	buf_free(&b);
	/* a signature inside an element is never signed around */
	nested = replace_once(doc_text, "</member>", "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></member>");
	assert_int_equal(sign_with(nested, strlen(nested), "op.key", "op.pem", 1, &b, &err), -1);
	assert_non_null(strstr(err, "inside an element"));
	free(err);
	buf_free(&b);
	free(nested);
	free(s);
}

static void test_anchor_load(void **state)
{
	struct gcsig_anchor *a = NULL;
	char *err = NULL, p[128];

	assert_int_equal(gcsig_anchor_load("/nonexistent/anchor.pem", &a, &err), -1);
	assert_null(a);
	assert_non_null(strstr(err, "/nonexistent/anchor.pem"));
	free(err);
	path_of(p, sizeof(p), "op.key");   /* a key, not a certificate */
	assert_int_equal(gcsig_anchor_load(p, &a, &err), -1);
	assert_non_null(strstr(err, "certificate"));
	free(err);
	assert_non_null(gcsig_anchor_sha256(FX.op));
	assert_memory_not_equal(gcsig_anchor_sha256(FX.op), gcsig_anchor_sha256(FX.other), 32);
}

/* ---- gconf_fetch: files and the thread -------------------------------------------------------- */

static void test_fetch_files(void **state)
{
	char p[128], *data = NULL, *err = NULL;
	size_t len = 0;
	struct stat st;

	path_of(p, sizeof(p), "copy.xml");
	assert_int_equal(gcf_write_atomic(p, "abc", 3, &err), 0);
	assert_int_equal(gcf_read_file(p, 3, &data, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_string_equal(data, "abc");
	free(data);
	assert_int_equal(gcf_read_file(p, 2, &data, &len, &err), -1);   /* over the cap */
	assert_non_null(strstr(err, "larger"));
	free(err);
	err = NULL;
	assert_int_equal(gcf_get("/nonexistent/gc.xml", 0, 1000, NULL, &data, &len, &err), -1);
	assert_non_null(strstr(err, "/nonexistent/gc.xml"));
	free(err);
	err = NULL;
	snprintf(p + strlen(p), sizeof(p) - strlen(p), ".tmp.%ld", (long)getpid());
	assert_int_equal(stat(p, &st), -1);   /* no tmp file left behind */
	assert_true(gcf_is_url("HTTPS://x/y") && gcf_is_url("http://x") && !gcf_is_url("/http://x") &&
		    !gcf_is_url("ftp://x"));
	/* a URL nobody listens on fails within the timeout */
	assert_int_equal(gcf_get("http://127.0.0.1:1/gc.xml", 0, 2000, NULL, &data, &len, &err), -1);
	assert_non_null(strstr(err, "http://127.0.0.1:1/gc.xml"));
	free(err);
}

struct counter {
	atomic_int applied, failed;
	char last[64];
};

static int count_apply(void *ctx, const char *data, size_t len)
{
	struct counter *c = ctx;

	snprintf(c->last, sizeof(c->last), "%.*s", (int)len, data);
	atomic_fetch_add(&c->applied, 1);
	return 0;
}

static void count_failed(void *ctx, const char *why)
{
	struct counter *c = ctx;

	atomic_fetch_add(&c->failed, 1);
}

static int wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 500 && atomic_load(v) < want; i++)
		usleep(10000);
	return atomic_load(v);
}

/* Changed bytes are handed over once; a kick hands them over again; a
 * failed read is reported and the next good read is handed over. */
static void test_fetch_thread(void **state)
{
	static struct counter c;
	char p[128], *err = NULL;
	struct gcf_hooks hooks = { count_apply, count_failed, &c };
	struct gcf_opts o = { .source = p, .refresh_s = 1, .timeout_ms = 1000 };
	struct gcf *f;

	path_of(p, sizeof(p), "source.xml");
	assert_int_equal(gcf_write_atomic(p, "one", 3, &err), 0);
	f = gcf_start(&o, &hooks, &err);
	assert_non_null(f);
	assert_int_equal(wait_for(&c.applied, 1), 1);   /* first read at once */
	usleep(1300000);
	assert_int_equal(atomic_load(&c.applied), 1);   /* unchanged: not again */
	gcf_kick(f);
	assert_int_equal(wait_for(&c.applied, 2), 2);   /* kicked: again */
	assert_int_equal(gcf_write_atomic(p, "two", 3, &err), 0);
	assert_int_equal(wait_for(&c.applied, 3), 3);   /* changed: on the interval */
	assert_string_equal(c.last, "two");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(wait_for(&c.failed, 1), 1);
	assert_int_equal(gcf_write_atomic(p, "two", 3, &err), 0);
	assert_int_equal(wait_for(&c.applied, 4), 4);   /* same bytes, but after a failure */
	gcf_stop(&f);
	assert_null(f);
	gcf_stop(&f);   /* NULL-safe */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_xmlsec1_cli),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_not_the_anchor),
		cmocka_unit_test(test_wrong_key_anchor_cert),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_reference_rules),
		cmocka_unit_test(test_hostile_documents),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_anchor_load),
		cmocka_unit_test(test_fetch_files),
		cmocka_unit_test(test_fetch_thread),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
