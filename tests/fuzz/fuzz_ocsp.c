/* Fuzz target for trust/ocsp: the carried-response header and the DER
 * OCSPResponse checker, both fed by peers.
 *
 * Input: HEADER '\n' DER - the bytes before the first newline are an
 * X-Road-style header value (base64 items, commas; base64 never holds a
 * newline), everything after it is one raw DER OCSPResponse. Either part may
 * be empty; an input without a newline is all header.
 *
 * Checked, besides "no crash, no leak, no sanitizer report":
 *  - a header that parses re-encodes (ocsp_encode_header) to a value that
 *    parses to the same DER items;
 *  - ocsp_check_header agrees with checking the parsed items one by one;
 *  - the verified-response cache changes nothing: the same DER checked with
 *    no_cache, then twice through the cache (miss, then hit), gets the same
 *    verdict and status each time;
 *  - a valid response's status is self-consistent and fresh at the fixed time.
 *
 * The fixture (tests/data/fuzz/, see tests/data/fuzz/README.md) is a
 * certs/mkpki.sh PKI's root, sign CA and member GOV/70000050 certificate;
 * the seeds are `openssl ocsp` responses for that certificate made at the
 * time in now.txt, which the checks use, so seeds verify for good and
 * mutations reach every stage. (Certificate validity itself is checked on
 * the clock: after 2028-11 the member certificate has expired and seeds stop
 * at that check - still a valid run, with less depth.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "trust/ocsp.h"
#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *cert, *issuer;
static X509_STORE *trust;
static time_t fuzz_now;
static int verbose;   /* FUZZ_VERBOSE=1: print each verdict (checking seeds) */

static const char *data_path(const char *name, char *out, size_t outlen)
{
	const char *src = getenv("AILGATE_SOURCE_DIR");

	snprintf(out, outlen, "%s/tests/data/fuzz/%s", src && *src ? src : AILGATE_SOURCE_DIR,
		 name);
	return out;
}

static X509 *load_cert(const char *name)
{
	char path[1024];
	FILE *fp = fopen(data_path(name, path, sizeof(path)), "r");
	X509 *x;

	if (!fp)
		return NULL;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[1024], *err = NULL;
	long long now = 0;
	FILE *fp;

	(void)argc;
	(void)argv;
	if (sig_global_init(&err) != 0)
		abort();
	cert = load_cert("member.pem");
	issuer = load_cert("sign-ca.pem");
	trust = sig_trust_from_pem(data_path("root.pem", path, sizeof(path)), &err);
	fp = fopen(data_path("now.txt", path, sizeof(path)), "r");
	if (!cert || !issuer || !trust || !fp || fscanf(fp, "%lld", &now) != 1) {
		fprintf(stderr, "fuzz_ocsp: cannot read tests/data/fuzz (set AILGATE_SOURCE_DIR "
			"to the source tree): %s\n", err ? err : "");
		abort();
	}
	fclose(fp);
	fuzz_now = (time_t)now;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	return 0;
}

static int same_status(const struct ocsp_status *a, const struct ocsp_status *b)
{
	return a->state == b->state && a->this_update == b->this_update &&
	       a->next_update == b->next_update && a->produced_at == b->produced_at &&
	       a->revoked_at == b->revoked_at && a->reason == b->reason;
}

/* A valid response says something sensible, and is fresh at fuzz_now. */
static void check_status(const struct ocsp_status *st)
{
	if (st->state != OCSP_CERT_GOOD && st->state != OCSP_CERT_REVOKED &&
	    st->state != OCSP_CERT_UNKNOWN)
		abort();
	if (st->this_update > fuzz_now + OCSP_DEFAULT_SKEW_S ||
	    fuzz_now - st->this_update > OCSP_DEFAULT_FRESHNESS_S)
		abort();
	if (st->next_update && st->next_update < fuzz_now - OCSP_DEFAULT_SKEW_S)
		abort();
	if (st->state != OCSP_CERT_REVOKED && st->revoked_at != 0)
		abort();
	if (!ocsp_reason_name(st->reason) || !ocsp_cert_state_name(st->state))
		abort();
}

/* One DER response: no_cache, then through the cache twice; all agree. */
static int check_der(const unsigned char *der, size_t len, struct ocsp_status *st)
{
	struct ocsp_check_opts nc = { 0, 0, fuzz_now, 1 }, c = { 0, 0, fuzz_now, 0 };
	struct ocsp_status s1, s2;
	char why[OCSP_WHY_MAX], why1[OCSP_WHY_MAX], why2[OCSP_WHY_MAX];
	int a, b, d;

	memset(st, 0, sizeof(*st));
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	why[0] = why1[0] = why2[0] = '\0';
	a = ocsp_check_response(der, len, cert, issuer, trust, &nc, st, why, sizeof(why));
	b = ocsp_check_response(der, len, cert, issuer, trust, &c, &s1, why1, sizeof(why1));
	d = ocsp_check_response(der, len, cert, issuer, trust, &c, &s2, why2, sizeof(why2));
	if (a != b || a != d) {
		fprintf(stderr, "fuzz_ocsp: cache changes the verdict: %d (%s) / %d (%s) / %d (%s)\n",
			a, why, b, why1, d, why2);
		abort();
	}
	if (verbose)
		fprintf(stderr, "fuzz_ocsp: %zu-byte response: %s\n", len,
			a == 0 ? ocsp_cert_state_name(st->state) : why);
	if (a == 0) {
		check_status(st);
		if (!same_status(st, &s1) || !same_status(st, &s2))
			abort();
	} else if (!why[0] || !why1[0] || !why2[0] || strlen(why) >= sizeof(why)) {
		abort();   /* every refusal says why */
	}
	return a;
}

/* Parse, re-encode, re-parse: the same items. */
static void check_roundtrip(const struct ocsp_header *h)
{
	struct buf enc = BUF_INIT;
	struct ocsp_header h2;
	char why[OCSP_WHY_MAX];

	if (ocsp_encode_header((const unsigned char *const *)h->der, h->len, h->n, &enc) != 0)
		abort();
	if (enc.len <= OCSP_HEADER_MAX_LEN) {
		if (ocsp_parse_header(enc.data, enc.len, &h2, why, sizeof(why)) != 0 ||
		    h2.n != h->n) {
			fprintf(stderr, "fuzz_ocsp: re-encoded header does not parse: %s\n", why);
			abort();
		}
		for (size_t i = 0; i < h->n; i++)
			if (h2.len[i] != h->len[i] || memcmp(h2.der[i], h->der[i], h->len[i]) != 0)
				abort();
		ocsp_header_free(&h2);
	}
	buf_free(&enc);
}

static void fuzz_header(const char *value, size_t len)
{
	struct ocsp_check_opts nc = { 0, 0, fuzz_now, 1 };
	struct ocsp_header h;
	struct ocsp_status st, sti;
	char why[OCSP_WHY_MAX];
	int any = -1, r;

	why[0] = '\0';
	if (ocsp_parse_header(value, len, &h, why, sizeof(why)) != 0) {
		if (h.n != 0 || !why[0])
			abort();
		/* A header that does not parse is refused as a whole. */
		if (ocsp_check_header(value, len, cert, issuer, trust, &nc, &st, why,
				      sizeof(why)) == 0)
			abort();
		return;
	}
	if (h.n == 0 || h.n > OCSP_HEADER_MAX_RESPONSES)
		abort();
	check_roundtrip(&h);
	for (size_t i = 0; i < h.n && any != 0; i++)
		if (h.len[i] == 0 || h.len[i] > OCSP_MAX_RESPONSE)
			abort();
		else if (check_der(h.der[i], h.len[i], &sti) == 0)
			any = 0;
	memset(&st, 0, sizeof(st));
	r = ocsp_check_header(value, len, cert, issuer, trust, &nc, &st, why, sizeof(why));
	if (r != any || (r == 0 && !same_status(&st, &sti))) {
		fprintf(stderr, "fuzz_ocsp: ocsp_check_header %d, items one by one %d (%s)\n", r,
			any, why);
		abort();
	}
	ocsp_header_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : size;
	struct ocsp_status st;

	fuzz_header((const char *)data, hlen);
	if (nl)
		check_der(nl + 1, size - hlen - 1, &st);
	return 0;
}
