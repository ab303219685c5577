/* Tests for trust/ocsp: response checking, the verified-response cache,
 * header carrying, and the refresher against OpenSSL's own responder
 * (`openssl ocsp -index ... -port ...`, started through
 * tests/integration/ocsp_responder.py) on ports 28500-28599. The PKI is made
 * at test time by certs/mkpki.sh in a mkdtemp directory; the bad responses
 * are made by `openssl ocsp` in responder mode from a saved request
 * (-reqin), signed by the wrong parties. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "trust/ocsp.h"
#include "trust/sign.h"

#define PORT_SIGN 28500    /* sign CA responder, lives for the whole run */
#define PORT_AUTH 28501    /* auth CA responder */
#define PORT_SIGN2 28502   /* sign CA responder that a test kills */
#define PORT_HOLE 28503    /* accepts connections, never answers */
#define PORT_DEAD 28599    /* nothing listens */

static struct {
	char dir[256];
	char pki[320];
	pid_t sign, auth, sign2;
	X509 *sign_ca, *auth_ca, *m1, *m2, *m3, *aia, *unknown;
	X509_STORE *trust;
	char url_sign[64], url_auth[64], url_sign2[64], url_hole[64], url_dead[64];
} E;

static time_t clock_offset;

static time_t test_clock(void *arg)
{
	return time(NULL) + clock_offset;
}

static void path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", E.pki, rel);
}

static X509 *load_cert(const char *rel)
{
	char p[512];
	FILE *f;
	X509 *x;

	path(p, sizeof(p), rel);
	if (!(f = fopen(p, "r")))
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static unsigned char *load_der(const char *rel, size_t *len)
{
	unsigned char *d = malloc(OCSP_MAX_RESPONSE * 2);
	char p[512];
	FILE *f;

	path(p, sizeof(p), rel);
	*len = 0;
	if (!d || !(f = fopen(p, "rb"))) {
		free(d);
		return NULL;
	}
	*len = fread(d, 1, OCSP_MAX_RESPONSE * 2, f);
	fclose(f);
	return d;
}

static void cert_sha(X509 *x, unsigned char *out)
{
	unsigned int n = 0;

	assert_int_equal(X509_digest(x, EVP_sha256(), out, &n), 1);
}

/* Starts ocsp_responder.py serve for ca on port; returns its pid once the
 * responder answers (the helper writes the ready file then). */
static pid_t start_responder(const char *ca, int port)
{
	char script[512], rf[400], ps[16];
	struct stat sb;
	pid_t pid;
	int i;

	snprintf(script, sizeof(script), "%s/tests/integration/ocsp_responder.py", srcdir());
	snprintf(rf, sizeof(rf), "%s/ready-%d", E.dir, port);
	snprintf(ps, sizeof(ps), "%d", port);
	unlink(rf);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* dies with the test */
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("python3", "python3", script, "serve", E.pki, "--ca", ca, "--port", ps,
		       "--ready-file", rf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 300 && pid > 0; i++) {   /* up to 15 s */
		if (stat(rf, &sb) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	return -1;
}

static void stop_pid(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

/* Extra certificates: one with an AIA OCSP URL, one the CA index does not
 * know, a self-signed "rogue" responder. Then the saved responses. */
static int make_extras(void)
{
	if (sh("cd '%s' && (mkdir -p x && "
	       "printf '[v3_aia]\\nbasicConstraints=critical,CA:false\\n"
	       "keyUsage=critical,digitalSignature\\n"
	       "authorityInfoAccess=OCSP;URI:http://127.0.0.1:%d/\\n' >x/aia.ext && "
	       "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out x/aia.key && "
	       "openssl req -new -config ca/sign/ca.cnf -key x/aia.key -subj '/CN=aia test' "
	       "-out x/aia.csr && "
	       "openssl ca -batch -config ca/sign/ca.cnf -extfile x/aia.ext -extensions v3_aia "
	       "-days 30 -notext -in x/aia.csr -out x/aia.pem && "
	       "openssl x509 -req -in x/aia.csr -CA ca/sign/cert.pem -CAkey ca/sign/key.pem "
	       "-set_serial 0x0123456789 -days 30 -extfile x/aia.ext -extensions v3_aia "
	       "-out x/unknown.pem && "
	       "openssl req -x509 -config ca/sign/ca.cnf -newkey ec -pkeyopt "
	       "ec_paramgen_curve:P-256 -nodes -subj '/CN=rogue responder' "
	       "-addext extendedKeyUsage=OCSPSigning -keyout x/rogue.key -out x/rogue.pem "
	       "-days 30) >/dev/null 2>&1",
	       E.pki, PORT_SIGN) != 0)
		return -1;
	return 0;
}

/* Responses: from the live responders, and signed offline by others. */
static int make_responses(void)
{
	const char *req = "openssl ocsp -issuer ca/sign/cert.pem -no_nonce";
	const char *resp = "openssl ocsp -index ca/sign/index.txt -CA ca/sign/cert.pem -nmin 60";

	return sh("cd '%s' && ("
		  "%s -cert members/GOV_2/sign.pem -reqout x/req2.der && "
		  "%s -sha256 -cert members/GOV_2/sign.pem -reqout x/req2s.der && "
		  "%s -cert members/GOV_2/sign.pem -url %s -noverify -respout x/good2.der && "
		  "%s -cert members/GOV_3/sign.pem -url %s -noverify -respout x/good3.der && "
		  "%s -cert members/GOV_2/sign.pem -url %s -noverify -respout x/authresp2.der && "
		  "%s -cert x/unknown.pem -url %s -noverify -respout x/unknown.der && "
		  "%s -reqin x/req2s.der -rsigner ocsp/sign/ocsp.pem -rkey ocsp/sign/ocsp.key "
		  "-respout x/sha256_2.der && "
		  "%s -reqin x/req2.der -rsigner ca/sign/cert.pem -rkey ca/sign/key.pem "
		  "-respout x/ca2.der && "
		  "%s -reqin x/req2.der -rsigner ca/sign/cert.pem -rkey ca/sign/key.pem "
		  "-resp_no_certs -respout x/ca2_nocerts.der && "
		  "%s -reqin x/req2.der -rsigner ocsp/sign/ocsp.pem -rkey ocsp/sign/ocsp.key "
		  "-resp_no_certs -respout x/deleg_nocerts.der && "
		  "%s -reqin x/req2.der -rsigner x/rogue.pem -rkey x/rogue.key "
		  "-respout x/rogue2.der && "
		  "%s -reqin x/req2.der -rsigner members/GOV_3/sign.pem "
		  "-rkey members/GOV_3/sign.key -respout x/noeku2.der && "
		  "%s -reqin x/req2.der -rsigner ocsp/sign/ocsp.pem -rkey ocsp/sign/ocsp.key "
		  "-nmin 1 -respout x/short2.der"
		  ") >/dev/null 2>&1",
		  E.pki, req, req, req, E.url_sign, req, E.url_sign, req, E.url_auth, req,
		  E.url_sign, resp, resp, resp, resp, resp, resp, resp);
}

static int group_setup(void **state)
{
	snprintf(E.dir, sizeof(E.dir), "/tmp/test_ocsp.XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	snprintf(E.pki, sizeof(E.pki), "%s/pki", E.dir);
	snprintf(E.url_sign, sizeof(E.url_sign), "http://127.0.0.1:%d/", PORT_SIGN);
	snprintf(E.url_auth, sizeof(E.url_auth), "http://127.0.0.1:%d/", PORT_AUTH);
	snprintf(E.url_sign2, sizeof(E.url_sign2), "http://127.0.0.1:%d/", PORT_SIGN2);
	snprintf(E.url_hole, sizeof(E.url_hole), "http://127.0.0.1:%d/", PORT_HOLE);
	snprintf(E.url_dead, sizeof(E.url_dead), "http://127.0.0.1:%d/", PORT_DEAD);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members 'GOV/1 GOV/2 GOV/3' "
	       "--clients '' >/dev/null 2>&1", srcdir(), E.pki) != 0 || make_extras() < 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if ((E.sign = start_responder("sign", PORT_SIGN)) < 0 ||
	    (E.auth = start_responder("auth", PORT_AUTH)) < 0 ||
	    (E.sign2 = start_responder("sign", PORT_SIGN2)) < 0) {
		fprintf(stderr, "test_ocsp: cannot start openssl ocsp on ports %d-%d (taken?)\n",
			PORT_SIGN, PORT_SIGN2);
		return -1;
	}
	if (make_responses() != 0)
		return -1;
	E.sign_ca = load_cert("ca/sign/cert.pem");
	E.auth_ca = load_cert("ca/auth/cert.pem");
	E.m1 = load_cert("members/GOV_1/sign.pem");
	E.m2 = load_cert("members/GOV_2/sign.pem");
	E.m3 = load_cert("members/GOV_3/sign.pem");
	E.aia = load_cert("x/aia.pem");
	E.unknown = load_cert("x/unknown.pem");
	{
		char p[512], *err = NULL;

		path(p, sizeof(p), "ca/trust.pem");
		E.trust = sig_trust_from_pem(p, &err);
		free(err);
	}
	return E.sign_ca && E.auth_ca && E.m1 && E.m2 && E.m3 && E.aia && E.unknown && E.trust
		       ? 0 : -1;
}

static int group_teardown(void **state)
{
	stop_pid(&E.sign);
	stop_pid(&E.auth);
	stop_pid(&E.sign2);
	ocsp_verified_cache_clear();
	X509_free(E.sign_ca);
	X509_free(E.auth_ca);
	X509_free(E.m1);
	X509_free(E.m2);
	X509_free(E.m3);
	X509_free(E.aia);
	X509_free(E.unknown);
	X509_STORE_free(E.trust);
	curl_global_cleanup();
	if (*E.dir && !getenv("OCSP_TEST_KEEP"))
		sh("rm -rf '%s'", E.dir);
	return 0;
}

/* Checks rel for cert; returns the result and prints why on failure. */
static int check_file(const char *rel, X509 *cert, X509 *issuer, X509_STORE *trust,
		      const struct ocsp_check_opts *o, struct ocsp_status *st, char *why)
{
	size_t len;
	unsigned char *d = load_der(rel, &len);
	int rc;

	assert_non_null(d);
	rc = ocsp_check_response(d, len, cert, issuer, trust, o, st, why, OCSP_WHY_MAX);
	free(d);
	if (rc < 0)
		print_message("    %s: %s\n", rel, why);
	return rc;
}

/* ------------------------------------------------------------ checking */

static void test_good_response(void **state)
{
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];
	time_t now = time(NULL);

	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, NULL, &st, why), 0);
	assert_int_equal(st.state, OCSP_CERT_GOOD);
	assert_true(st.this_update <= now + 5 && st.this_update > now - 600);
	assert_int_equal(st.next_update - st.this_update, 3600);   /* -nmin 60 */
	assert_true(st.produced_at >= st.this_update - 5);
	assert_int_equal(st.revoked_at, 0);
	/* Without a trust store the issuer is the anchor. */
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, NULL, NULL, &st, why), 0);
	/* Signed by the CA itself, with or without certificates in the
	 * response, and a SHA-256 CertID. */
	assert_int_equal(check_file("x/ca2.der", E.m2, E.sign_ca, E.trust, NULL, &st, why), 0);
	assert_int_equal(check_file("x/ca2_nocerts.der", E.m2, E.sign_ca, E.trust, NULL, &st, why),
			 0);
	assert_int_equal(check_file("x/sha256_2.der", E.m2, E.sign_ca, E.trust, NULL, &st, why),
			 0);
	assert_int_equal(st.state, OCSP_CERT_GOOD);
	/* A certificate the responder does not know: a valid response saying so. */
	assert_int_equal(check_file("x/unknown.der", E.unknown, E.sign_ca, E.trust, NULL, &st, why),
			 0);
	assert_int_equal(st.state, OCSP_CERT_UNKNOWN);
	assert_string_equal(ocsp_cert_state_name(st.state), "unknown");
}

struct bad_case {
	const char *file;
	int cert;          /* 2: GOV/2, 3: GOV/3 */
	int auth_issuer;   /* pass the auth CA as the issuer */
	int mutate;        /* 0 none, 1 truncate, 2 garbage, 3 flip producedAt, 4 empty, 5 huge */
	const char *want;  /* substring of why */
};

static const struct bad_case BAD[] = {
	{ "x/rogue2.der", 2, 0, 0, "signature not accepted" },
	{ "x/noeku2.der", 2, 0, 0, "signature not accepted" },
	{ "x/authresp2.der", 2, 0, 0, "OCSP" },   /* auth CA's responder about a sign cert */
	{ "x/deleg_nocerts.der", 2, 0, 0, "signature not accepted" },
	{ "x/good3.der", 2, 0, 0, "is not about" },
	{ "x/good2.der", 3, 0, 0, "is not about" },
	{ "x/good2.der", 2, 1, 0, "did not issue" },
	{ "x/good2.der", 2, 0, 1, "not a DER OCSPResponse" },
	{ "x/good2.der", 2, 0, 2, "not a DER OCSPResponse" },
	{ "x/good2.der", 2, 0, 3, "signature not accepted" },
	{ "x/good2.der", 2, 0, 4, "empty" },
	{ "x/good2.der", 2, 0, 5, "cap" },
};

/* Changes the last digit of producedAt (the first GeneralizedTime). */
static void flip_produced_at(unsigned char *d, size_t len)
{
	for (size_t i = 0; i + 17 < len; i++) {
		if (d[i] == 0x18 && d[i + 1] == 0x0f) {
			d[i + 2 + 13] = (unsigned char)('0' + (d[i + 2 + 13] - '0' + 1) % 10);
			return;
		}
	}
	fail_msg("no GeneralizedTime in the response");
}

static void run_bad(const struct bad_case *b, X509_STORE *trust)
{
	struct ocsp_status st;
	char why[OCSP_WHY_MAX] = "";
	size_t len;
	unsigned char *d = load_der(b->file, &len);
	X509 *cert = b->cert == 3 ? E.m3 : E.m2;

	assert_non_null(d);
	switch (b->mutate) {
	case 1: len -= 7; break;
	case 2: for (size_t i = 0; i < len; i++) d[i] = (unsigned char)(i * 131 + 7); break;
	case 3: flip_produced_at(d, len); break;
	case 4: len = 0; break;
	case 5: len = OCSP_MAX_RESPONSE + 1; break;
	}
	assert_int_equal(ocsp_check_response(d, len, cert, b->auth_issuer ? E.auth_ca : E.sign_ca,
					     trust, NULL, &st, why, sizeof(why)), -1);
	print_message("    %s (mutation %d): %s\n", b->file, b->mutate, why);
	if (!strstr(why, b->want))
		fail_msg("why for %s lacks '%s': %s", b->file, b->want, why);
	free(d);
}

static void test_unusable_responses(void **state)
{
	X509_STORE *rogue_only;
	char p[512], *err = NULL;

	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++)
		run_bad(&BAD[i], E.trust);
	/* A good response, but a trust store that does not hold our root. */
	path(p, sizeof(p), "x/rogue.pem");
	rogue_only = sig_trust_from_pem(p, &err);
	assert_non_null(rogue_only);
	{
		struct bad_case b = { "x/good2.der", 2, 0, 0, "signature not accepted" };

		run_bad(&b, rogue_only);
	}
	X509_STORE_free(rogue_only);
	free(err);
}

static void test_times(void **state)
{
	struct ocsp_status st;
	struct ocsp_check_opts o = { 0 };
	char why[OCSP_WHY_MAX];
	time_t tu;

	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, NULL, &st, why), 0);
	tu = st.this_update;
	o.now = tu + 3600;   /* exactly at the limit: fresh */
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), 0);
	o.now = tu + 3601;
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), -1);
	assert_non_null(strstr(why, "over the 3600 s freshness limit"));
	o.freshness_s = 60;   /* a configured limit */
	o.now = tu + 61;
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), -1);
	assert_non_null(strstr(why, "over the 60 s freshness limit"));
	o.freshness_s = 7200;   /* nextUpdate (this + 3600) passed, beyond the skew */
	o.now = tu + 3600 + 301;
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), -1);
	assert_non_null(strstr(why, "nextUpdate"));
	o.now = tu + 3600 + 299;   /* within the skew */
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), 0);
	o.now = tu - 301;        /* thisUpdate in the future */
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), -1);
	assert_non_null(strstr(why, "in the future"));
	o.now = tu - 299;
	assert_int_equal(check_file("x/good2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), 0);
	/* -nmin 1: nextUpdate one minute after thisUpdate. */
	assert_int_equal(check_file("x/short2.der", E.m2, E.sign_ca, E.trust, NULL, &st, why), 0);
	o.freshness_s = 0;
	o.now = st.this_update + 60 + 301;
	assert_int_equal(check_file("x/short2.der", E.m2, E.sign_ca, E.trust, &o, &st, why), -1);
}

static double secs_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* CPU time: steadier than wall time on a shared machine. */
static double cpu_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void test_verified_cache(void **state)
{
	struct ocsp_check_opts o = { 0 }, nc = { .no_cache = 1 };
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];
	uint64_t h0, m0, h1, m1;
	size_t len;
	unsigned char *d = load_der("x/good2.der", &len);
	X509_STORE *other = X509_STORE_new();
	struct timespec t0;
	int i, n_full = 300, n_hit = 20000;
	double full, hit;
	time_t tu;

	assert_non_null(d);
	ocsp_verified_cache_clear();
	ocsp_verified_cache_stats(&h0, &m0);
	assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, E.trust, &o, &st, why,
					     sizeof(why)), 0);
	assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, E.trust, &o, &st, why,
					     sizeof(why)), 0);
	assert_int_equal(st.state, OCSP_CERT_GOOD);
	tu = st.this_update;
	ocsp_verified_cache_stats(&h1, &m1);
	assert_int_equal(m1 - m0, 1);
	assert_int_equal(h1 - h0, 1);
	/* The same bytes for another certificate, or under another trust store:
	 * not a hit, and refused. */
	assert_int_equal(ocsp_check_response(d, len, E.m3, E.sign_ca, E.trust, &o, &st, why,
					     sizeof(why)), -1);
	assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, other, &o, &st, why,
					     sizeof(why)), -1);
	ocsp_verified_cache_stats(&h0, &m0);
	assert_int_equal(h0, h1);
	/* A hit still applies the time checks. */
	o.now = tu + 3000;
	o.freshness_s = 1800;
	assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, E.trust, &o, &st, why,
					     sizeof(why)), -1);
	assert_non_null(strstr(why, "freshness limit"));
	ocsp_verified_cache_stats(&h1, NULL);
	assert_int_equal(h1, h0 + 1);

	o.now = 0;
	o.freshness_s = 0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < n_full; i++)
		assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, E.trust, &nc, &st, why,
						     sizeof(why)), 0);
	full = cpu_since(&t0) / n_full;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < n_hit; i++)
		assert_int_equal(ocsp_check_response(d, len, E.m2, E.sign_ca, E.trust, &o, &st, why,
						     sizeof(why)), 0);
	hit = cpu_since(&t0) / n_hit;
	print_message("    verify CPU cost (this build; ASan makes it slower): full %.1f us, "
		      "cache hit %.2f us (%zu-byte response), x%.0f\n", full * 1e6, hit * 1e6, len,
		      full / hit);
	X509_STORE_free(other);
	free(d);
}

struct hammer {
	const unsigned char *d;
	size_t len;
	X509 *cert;
	int fails;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];

	for (int i = 0; i < 3000; i++) {
		if (i % 500 == 0)
			ocsp_verified_cache_clear();   /* drops entries others may be hitting */
		if (ocsp_check_response(h->d, h->len, h->cert, E.sign_ca, E.trust, NULL, &st, why,
					sizeof(why)) != 0 || st.state != OCSP_CERT_GOOD)
			h->fails++;
	}
	return NULL;
}

/* Four threads check two responses at once while the cache is cleared
 * under them: every check succeeds, and ASan sees no use after free. */
static void test_verified_cache_threads(void **state)
{
	size_t l2, l3;
	unsigned char *d2 = load_der("x/good2.der", &l2), *d3 = load_der("x/good3.der", &l3);
	struct hammer h[4] = { { d2, l2, E.m2, 0 }, { d3, l3, E.m3, 0 }, { d2, l2, E.m2, 0 },
			       { d3, l3, E.m3, 0 } };
	pthread_t t[4];
	int i;

	assert_true(d2 && d3);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(h[i].fails, 0);
	}
	free(d2);
	free(d3);
}

/* ------------------------------------------------------------ header */

static void test_header(void **state)
{
	struct buf b;
	struct ocsp_header h;
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];
	size_t l2, l3, lr;
	unsigned char *d2 = load_der("x/good2.der", &l2), *d3 = load_der("x/good3.der", &l3);
	unsigned char *dr = load_der("x/rogue2.der", &lr);
	const unsigned char *ders[OCSP_HEADER_MAX_RESPONSES + 1];
	size_t lens[OCSP_HEADER_MAX_RESPONSES + 1];

	assert_true(d2 && d3 && dr);
	buf_init(&b, OCSP_HEADER_MAX_LEN);
	ders[0] = d2, ders[1] = d3, lens[0] = l2, lens[1] = l3;
	assert_int_equal(ocsp_encode_header(ders, lens, 2, &b), 0);
	assert_non_null(strchr(b.data, ','));
	assert_int_equal(ocsp_parse_header(b.data, b.len, &h, why, sizeof(why)), 0);
	assert_int_equal(h.n, 2);
	assert_true(h.len[0] == l2 && memcmp(h.der[0], d2, l2) == 0);
	assert_true(h.len[1] == l3 && memcmp(h.der[1], d3, l3) == 0);
	ocsp_header_free(&h);
	/* Each certificate finds its own response in the same header. */
	assert_int_equal(ocsp_check_header(b.data, b.len, E.m2, E.sign_ca, E.trust, NULL, &st, why,
					   sizeof(why)), 0);
	assert_int_equal(ocsp_check_header(b.data, b.len, E.m3, E.sign_ca, E.trust, NULL, &st, why,
					   sizeof(why)), 0);
	assert_int_equal(ocsp_check_header(b.data, b.len, E.m1, E.sign_ca, E.trust, NULL, &st, why,
					   sizeof(why)), -1);
	assert_non_null(strstr(why, "is not about"));
	/* A bad response about the certificate is the reason given, not the
	 * other certificate's response. */
	buf_reset(&b);
	ders[0] = d3, ders[1] = dr, lens[0] = l3, lens[1] = lr;
	assert_int_equal(ocsp_encode_header(ders, lens, 2, &b), 0);
	assert_int_equal(ocsp_check_header(b.data, b.len, E.m2, E.sign_ca, E.trust, NULL, &st, why,
					   sizeof(why)), -1);
	print_message("    header with another's and a rogue response: %s\n", why);
	assert_non_null(strstr(why, "signature not accepted"));
	/* Spaces around commas are allowed. */
	{
		char v[8192];
		char *c;

		buf_reset(&b);
		ders[0] = d2, ders[1] = d3, lens[0] = l2, lens[1] = l3;
		assert_int_equal(ocsp_encode_header(ders, lens, 2, &b), 0);
		c = strchr(b.data, ',');
		snprintf(v, sizeof(v), " %.*s ,\t%s ", (int)(c - b.data), b.data, c + 1);
		assert_int_equal(ocsp_parse_header(v, strlen(v), &h, why, sizeof(why)), 0);
		assert_int_equal(h.n, 2);
		ocsp_header_free(&h);
	}
	/* Malformed values. */
	{
		static const char *const bad[] = { "", ",", "QUJD,,QUJD", "QUJD,", "QU JD", "QUJ",
						   "QUJD!" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(ocsp_parse_header(bad[i], strlen(bad[i]), &h, why,
							   sizeof(why)), -1);
			assert_int_equal(h.n, 0);
		}
		char many[128] = "";
		for (int i = 0; i <= OCSP_HEADER_MAX_RESPONSES; i++)
			strcat(many, i ? ",QUJD" : "QUJD");
		assert_int_equal(ocsp_parse_header(many, strlen(many), &h, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "more than"));
		char *big = malloc(OCSP_HEADER_MAX_LEN + 2);
		memset(big, 'A', OCSP_HEADER_MAX_LEN + 1);
		big[OCSP_HEADER_MAX_LEN + 1] = 0;
		assert_int_equal(ocsp_parse_header(big, OCSP_HEADER_MAX_LEN + 1, &h, why,
						   sizeof(why)), -1);
		big[4 * ((OCSP_MAX_RESPONSE + 2) / 3) + 4] = 0;   /* one item over the cap */
		assert_int_equal(ocsp_parse_header(big, strlen(big), &h, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "cap"));
		free(big);
	}
	/* Encoder caps. */
	for (int i = 0; i <= OCSP_HEADER_MAX_RESPONSES; i++)
		ders[i] = d2, lens[i] = l2;
	buf_reset(&b);
	assert_int_equal(ocsp_encode_header(ders, lens, OCSP_HEADER_MAX_RESPONSES + 1, &b), -1);
	assert_int_equal(ocsp_encode_header(ders, lens, 0, &b), -1);
	lens[0] = OCSP_MAX_RESPONSE + 1;
	assert_int_equal(ocsp_encode_header(ders, lens, 1, &b), -1);
	buf_free(&b);
	free(d2);
	free(d3);
	free(dr);
}

static void test_aia_urls(void **state)
{
	char *u[OCSP_MAX_URLS];

	assert_int_equal(ocsp_aia_urls(E.m2, u, OCSP_MAX_URLS), 0);
	assert_int_equal(ocsp_aia_urls(E.aia, u, OCSP_MAX_URLS), 1);
	assert_string_equal(u[0], E.url_sign);
	free(u[0]);
}

/* ------------------------------------------------------------ the cache */

static struct ocsp_cache *new_cache(struct ocsp_cache_config *k)
{
	struct ocsp_cache *c;
	char *err = NULL;

	if (!k->trust)
		k->trust = E.trust;
	c = ocsp_cache_new(k, &err);
	if (!c)
		fail_msg("ocsp_cache_new: %s", err ? err : "?");
	return c;
}

static void watch(struct ocsp_cache *c, X509 *cert, const char *u1, const char *u2)
{
	const char *urls[2] = { u1, u2 };
	char *err = NULL;

	if (ocsp_cache_watch(c, cert, E.sign_ca, urls, u2 ? 2 : (u1 ? 1 : 0), &err) < 0)
		fail_msg("ocsp_cache_watch: %s", err ? err : "?");
}

static void test_cache_good_then_revoked(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	unsigned char sha[32], *der = NULL;
	struct ocsp_status st, st2;
	struct ocsp_health hl[4];
	char why[OCSP_WHY_MAX], script[512], cert[512];
	unsigned fetched;
	size_t len;

	cert_sha(E.m1, sha);
	/* The first URL is dead: the second answers. */
	watch(c, E.m1, E.url_dead, E.url_sign);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, &st, why, sizeof(why)), OCSP_CACHE_GOOD);
	assert_int_equal(ocsp_cache_health(c, hl, 4, 0), 0);
	assert_int_equal(ocsp_cache_health(c, hl, 4, 1), 1);
	fetched = hl[0].fetches;   /* 1, or 2 if the first fetch began before refresh_now */
	assert_true(fetched >= 1);
	assert_string_equal(hl[0].last_error, "");
	/* Carried: the receiver accepts what the sender's cache hands out. */
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, &st, why, sizeof(why)), 0);
	assert_int_equal(ocsp_check_response(der, len, E.m1, E.sign_ca, E.trust, NULL, &st2, why,
					     sizeof(why)), 0);
	assert_int_equal(st2.state, OCSP_CERT_GOOD);
	free(der);

	/* Revoked mid-test in the CA index; the responder re-reads it. */
	snprintf(script, sizeof(script), "%s/tests/integration/ocsp_responder.py", srcdir());
	path(cert, sizeof(cert), "members/GOV_1/sign.pem");
	assert_int_equal(sh("python3 '%s' revoke '%s' '%s' --ca sign --port %d >/dev/null 2>&1",
			    script, E.pki, cert, PORT_SIGN), 0);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, &st, why, sizeof(why)), OCSP_CACHE_REVOKED);
	assert_int_equal(st.state, OCSP_CERT_REVOKED);
	assert_string_equal(ocsp_reason_name(st.reason), "keyCompromise");
	assert_true(st.revoked_at > 0 && st.revoked_at <= time(NULL) + 5);
	/* The response is still handed out (the sender refuses to send with
	 * it); a receiver sees REVOKED and refuses. */
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, &st, why, sizeof(why)), 0);
	assert_int_equal(ocsp_check_response(der, len, E.m1, E.sign_ca, E.trust, NULL, &st2, why,
					     sizeof(why)), 0);
	assert_int_equal(st2.state, OCSP_CERT_REVOKED);
	free(der);
	assert_int_equal(ocsp_cache_health(c, hl, 4, 0), 1);
	assert_int_equal(hl[0].state, OCSP_CACHE_REVOKED);
	assert_true(hl[0].fetches > fetched);
	ocsp_cache_free(c);
}

static void test_cache_unreachable(void **state)
{
	struct ocsp_cache_config k = { .freshness_s = 1800, .timeout_ms = 2000,
				       .clock = test_clock };
	struct ocsp_cache *c;
	unsigned char sha[32], *der = NULL;
	struct ocsp_status st;
	struct ocsp_health hl[2];
	char why[OCSP_WHY_MAX];
	size_t len;

	clock_offset = 0;
	c = new_cache(&k);
	cert_sha(E.m2, sha);
	watch(c, E.m2, E.url_sign2, NULL);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, &st, NULL, 0), OCSP_CACHE_GOOD);
	/* The responder goes away: the kept response is served while fresh. */
	stop_pid(&E.sign2);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, &st, NULL, 0), OCSP_CACHE_GOOD);
	assert_int_equal(ocsp_cache_health(c, hl, 2, 1), 1);
	print_message("    last error: %s\n", hl[0].last_error);
	assert_non_null(strstr(hl[0].last_error, "127.0.0.1:28502"));
	/* Later, nothing fresh is left: refused, with the reason. */
	clock_offset = 2000;
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, &st, why, sizeof(why)), OCSP_CACHE_NONE_FRESH);
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, &st, why, sizeof(why)), -1);
	assert_null(der);
	print_message("    %s\n", why);
	assert_non_null(strstr(why, "no fresh OCSP response"));
	assert_non_null(strstr(why, "freshness limit"));
	assert_non_null(strstr(why, "last error: http://127.0.0.1:28502/"));
	assert_int_equal(ocsp_cache_health(c, hl, 2, 0), 1);
	assert_int_equal(hl[0].state, OCSP_CACHE_NONE_FRESH);
	clock_offset = 7200;   /* past nextUpdate (thisUpdate + 60 min) too */
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, &st, why, sizeof(why)), -1);
	print_message("    %s\n", why);
	assert_non_null(strstr(why, "nextUpdate"));
	ocsp_cache_free(c);
	clock_offset = 0;
}

static void test_cache_wrong_responder(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	unsigned char sha[32];
	struct ocsp_health hl[2];
	char why[OCSP_WHY_MAX];

	cert_sha(E.m3, sha);
	watch(c, E.m3, E.url_auth, NULL);   /* the auth CA's responder, for a sign cert */
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, why, sizeof(why)), OCSP_CACHE_NONE_FRESH);
	print_message("    %s\n", why);
	assert_non_null(strstr(why, "127.0.0.1:28501"));
	assert_int_equal(ocsp_cache_health(c, hl, 2, 0), 1);
	assert_int_equal(hl[0].fetches, 0);
	ocsp_cache_free(c);
}

static void test_cache_aia_unknown(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	unsigned char sa[32], su[32];
	struct ocsp_status st;

	cert_sha(E.aia, sa);
	cert_sha(E.unknown, su);
	watch(c, E.aia, NULL, NULL);       /* the URL comes from the certificate */
	watch(c, E.unknown, NULL, NULL);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sa, &st, NULL, 0), OCSP_CACHE_GOOD);
	assert_int_equal(ocsp_cache_status(c, su, &st, NULL, 0), OCSP_CACHE_UNKNOWN);
	assert_int_equal(st.state, OCSP_CERT_UNKNOWN);
	ocsp_cache_free(c);
}

/* Freshness 4 s: the thread fetches again by itself about every 2 s. */
static void test_cache_background_refresh(void **state)
{
	struct ocsp_cache_config k = { .freshness_s = 4, .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	struct ocsp_health h;
	unsigned char sha[32];
	time_t first = 0;
	int i;

	cert_sha(E.m2, sha);
	watch(c, E.m2, E.url_sign, NULL);
	for (i = 0; i < 150; i++) {   /* up to 15 s */
		assert_int_equal(ocsp_cache_health(c, &h, 1, 1), 1);
		if (h.fetches == 1 && !first)
			first = h.this_update;
		if (h.fetches >= 3)
			break;
		usleep(100000);
	}
	print_message("    %u fetches in %.1f s\n", h.fetches, i / 10.0);
	assert_true(h.fetches >= 3);
	assert_true(h.this_update > first);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, NULL, 0), OCSP_CACHE_GOOD);
	ocsp_cache_free(c);
}

/* fetch_interval_s: with an hour's freshness the next fetch would be half
 * an hour away; the interval brings it to every second. Without it: one
 * fetch in the same time. */
static void test_cache_fetch_interval(void **state)
{
	for (int with = 1; with >= 0; with--) {
		struct ocsp_cache_config k = { .freshness_s = 3600, .fetch_interval_s = with ? 1 : 0,
					       .timeout_ms = 3000 };
		struct ocsp_cache *c = new_cache(&k);
		struct ocsp_health h;
		int i;

		watch(c, E.m2, E.url_sign, NULL);
		for (i = 0; i < (with ? 80 : 30); i++) {   /* up to 8 s; 3 s to see no second one */
			assert_int_equal(ocsp_cache_health(c, &h, 1, 1), 1);
			if (h.fetches >= 3)
				break;
			usleep(100000);
		}
		print_message("    fetch_interval_s %d: %u fetches in %.1f s\n", with, h.fetches, i / 10.0);
		if (with)
			assert_true(h.fetches >= 3);
		else
			assert_int_equal(h.fetches, 1);
		ocsp_cache_free(c);
	}
}

/* A responder that accepts and never answers: freeing the cache must not
 * wait for the 60 s transfer timeout. */
static void test_cache_free_during_fetch(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 60000 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_HOLE) };
	struct ocsp_cache *c;
	struct timespec t0;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	double took;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(s >= 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 8), 0);
	c = new_cache(&k);
	watch(c, E.m2, E.url_hole, NULL);
	usleep(300000);   /* the thread is inside the transfer now */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ocsp_cache_free(c);
	took = secs_since(&t0);
	print_message("    freed during a hanging fetch in %.2f s\n", took);
	assert_true(took < 3.0);
	/* And an idle cache with nothing to do stops at once. */
	c = new_cache(&k);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ocsp_cache_free(c);
	assert_true(secs_since(&t0) < 0.5);
	close(s);
}

static void test_cache_set_trust(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	unsigned char sha[32];
	X509_STORE *rogue_only;
	char p[512], why[OCSP_WHY_MAX], *err = NULL;

	cert_sha(E.m2, sha);
	watch(c, E.m2, E.url_sign, NULL);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, NULL, 0), OCSP_CACHE_GOOD);
	/* New approved CAs that no longer include ours: the kept response is
	 * dropped at once, and new ones do not verify either. */
	path(p, sizeof(p), "x/rogue.pem");
	assert_non_null(rogue_only = sig_trust_from_pem(p, &err));
	assert_int_equal(ocsp_cache_set_trust(c, rogue_only), -1);
	X509_STORE_free(rogue_only);   /* the cache keeps its own reference */
	assert_int_equal(ocsp_cache_status(c, sha, NULL, why, sizeof(why)), OCSP_CACHE_NONE_FRESH);
	print_message("    %s\n", why);
	/* "the kept response no longer verifies ..." or, once the thread has
	 * fetched again, the new response's failure: either way the reason. */
	assert_non_null(strstr(why, "signature not accepted"));
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, NULL, 0), OCSP_CACHE_NONE_FRESH);
	/* Back to the real ones. */
	assert_int_equal(ocsp_cache_set_trust(c, E.trust), 0);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, NULL, 0), OCSP_CACHE_GOOD);
	assert_int_equal(ocsp_cache_set_trust(c, E.trust), 0);   /* kept: still valid */
	assert_int_equal(ocsp_cache_status(c, sha, NULL, NULL, 0), OCSP_CACHE_GOOD);
	free(err);
	ocsp_cache_free(c);
}

static void test_cache_reload_sweep(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 };
	struct ocsp_cache *c = new_cache(&k);
	unsigned char s2[32], s3[32];
	struct ocsp_health h;
	unsigned fetched;
	uint64_t gen;

	cert_sha(E.m2, s2);
	cert_sha(E.m3, s3);
	watch(c, E.m2, E.url_sign, NULL);
	watch(c, E.m3, E.url_sign, NULL);
	watch(c, E.m3, E.url_sign, NULL);   /* idempotent */
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_health(c, NULL, 0, 1), 2);
	assert_int_equal(ocsp_cache_health(c, &h, 1, 1), 2);   /* m2 comes first */
	fetched = h.fetches;
	assert_true(fetched >= 1);
	gen = ocsp_cache_begin(c);
	watch(c, E.m2, E.url_dead, E.url_sign);   /* stays, with new URLs */
	assert_int_equal(ocsp_cache_sweep(c, gen), 1);
	assert_int_equal(ocsp_cache_status(c, s3, NULL, NULL, 0), OCSP_CACHE_NOT_WATCHED);
	/* m2 kept its response: served without a new fetch. */
	assert_int_equal(ocsp_cache_status(c, s2, NULL, NULL, 0), OCSP_CACHE_GOOD);
	assert_int_equal(ocsp_cache_health(c, &h, 1, 1), 1);
	assert_int_equal(h.fetches, fetched);
	assert_int_equal(ocsp_cache_unwatch(c, s3), -1);
	assert_int_equal(ocsp_cache_unwatch(c, s2), 0);
	assert_int_equal(ocsp_cache_health(c, NULL, 0, 1), 0);
	watch(c, E.m3, E.url_sign, NULL);
	ocsp_cache_unwatch_all(c);
	assert_int_equal(ocsp_cache_health(c, NULL, 0, 1), 0);
	ocsp_cache_free(c);
}

static void test_cache_errors(void **state)
{
	struct ocsp_cache_config k = { .timeout_ms = 3000 }, bad = { .freshness_s = -1 };
	struct ocsp_cache *c;
	unsigned char sha[32], *der = (unsigned char *)"x";
	const char *ftp = "ftp://127.0.0.1/";
	char why[OCSP_WHY_MAX], *err = NULL;
	size_t len = 1;

	assert_null(ocsp_cache_new(&bad, &err));
	assert_non_null(err);
	print_message("    %s\n", err);
	free(err);
	err = NULL;
	bad = (struct ocsp_cache_config){ .freshness_s = 100, .refresh_ahead_s = 100 };
	assert_null(ocsp_cache_new(&bad, &err));
	free(err);
	err = NULL;

	k.max_watched = 1;
	c = new_cache(&k);
	assert_int_equal(ocsp_cache_watch(c, E.m2, E.sign_ca, NULL, 0, &err), -1);
	print_message("    %s\n", err);
	assert_non_null(strstr(err, "no OCSP responder"));
	free(err);
	err = NULL;
	assert_int_equal(ocsp_cache_watch(c, E.m2, E.sign_ca, &ftp, 1, &err), -1);
	assert_non_null(strstr(err, "not an http(s) URL"));
	free(err);
	err = NULL;
	assert_int_equal(ocsp_cache_watch(c, E.m2, E.auth_ca, (const char *const *)&E.url_sign, 0,
					  &err), -1);
	assert_non_null(strstr(err, "did not issue"));
	free(err);
	err = NULL;
	watch(c, E.m2, E.url_dead, NULL);
	assert_int_equal(ocsp_cache_watch(c, E.m3, E.sign_ca, NULL, 0, &err), -1);   /* AIA: none */
	free(err);
	err = NULL;
	{
		const char *u = E.url_sign;

		assert_int_equal(ocsp_cache_watch(c, E.m3, E.sign_ca, &u, 1, &err), -1);   /* full */
		assert_non_null(strstr(err, "the cap"));
		free(err);
	}
	cert_sha(E.m3, sha);
	assert_int_equal(ocsp_cache_status(c, sha, NULL, why, sizeof(why)), OCSP_CACHE_NOT_WATCHED);
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, NULL, why, sizeof(why)), -1);
	assert_null(der);
	assert_int_equal(len, 0);
	assert_non_null(strstr(why, "not watched"));
	/* Watched, but the only responder is down: no response yet, and why. */
	cert_sha(E.m2, sha);
	assert_int_equal(ocsp_cache_refresh_now(c, 15000), 0);
	assert_int_equal(ocsp_cache_get(c, sha, &der, &len, NULL, why, sizeof(why)), -1);
	print_message("    %s\n", why);
	assert_non_null(strstr(why, "no OCSP response for"));
	assert_non_null(strstr(why, "28599"));
	ocsp_cache_free(c);
	ocsp_cache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_response),
		cmocka_unit_test(test_unusable_responses),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_verified_cache),
		cmocka_unit_test(test_verified_cache_threads),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_aia_urls),
		cmocka_unit_test(test_cache_good_then_revoked),
		cmocka_unit_test(test_cache_unreachable),
		cmocka_unit_test(test_cache_wrong_responder),
		cmocka_unit_test(test_cache_aia_unknown),
		cmocka_unit_test(test_cache_background_refresh),
		cmocka_unit_test(test_cache_fetch_interval),
		cmocka_unit_test(test_cache_free_during_fetch),
		cmocka_unit_test(test_cache_set_trust),
		cmocka_unit_test(test_cache_reload_sweep),
		cmocka_unit_test(test_cache_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
