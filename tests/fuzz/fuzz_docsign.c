/* Fuzz target for trust/docsign verification: every input is a signed
 * document (an e-signed certificate as anyone may upload it to the public
 * verification page), verified with docsign_verify against a fixed trust
 * store and TSA trust at a fixed time; docsign_stamp_data reads it too.
 *
 * Checked, besides "no crash, no leak, no sanitizer report":
 *  - the checks always run (docsign_verify returns 0: the trust is there);
 *  - a verdict other than VALID says why and names no signer; VALID fills
 *    the signer and has no reason; a stamped VALID has a time stamp time;
 *  - verifying the same bytes twice gives the same verdict and reason
 *    (nothing is remembered between calls);
 *  - a VALID document without a time stamp is INVALID when one is required.
 *
 * Fixture (tests/data/fuzz/, see its README.md): root.pem (the only anchor),
 * tsa.pem (the TSA certificate), now.txt. The seeds were signed by member
 * GOV/70000050 of that certs/mkpki.sh PKI and stamped by its TSA (openssl ts
 * -reply) at about that time, so they verify for good (stamped ones are
 * checked as of their genTime) and mutations reach every stage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tsa.h"
#include "trust/docsign.h"
#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509_STORE *trust;
static struct tsa_trust *tsa;
static time_t fuzz_now;
static int verbose;   /* FUZZ_VERBOSE=1: print each verdict (checking seeds) */

static const char *data_path(const char *name, char *out, size_t outlen)
{
	const char *src = getenv("AILGATE_SOURCE_DIR");

	snprintf(out, outlen, "%s/tests/data/fuzz/%s", src && *src ? src : AILGATE_SOURCE_DIR,
		 name);
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char root[1024], tsa_pem[1024], path[1024], *err = NULL;
	long long now = 0;
	FILE *fp;

	(void)argc;
	(void)argv;
	if (sig_global_init(&err) != 0)
		abort();
	data_path("root.pem", root, sizeof(root));
	data_path("tsa.pem", tsa_pem, sizeof(tsa_pem));
	trust = sig_trust_from_pem(root, &err);
	if (trust)
		tsa = tsa_trust_new(root, tsa_pem, &err);
	fp = fopen(data_path("now.txt", path, sizeof(path)), "r");
	if (!trust || !tsa || !fp || fscanf(fp, "%lld", &now) != 1) {
		fprintf(stderr, "fuzz_docsign: cannot read tests/data/fuzz (set AILGATE_SOURCE_DIR "
			"to the source tree): %s\n", err ? err : "");
		abort();
	}
	fclose(fp);
	fuzz_now = (time_t)now;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	return 0;
}

static void check_result(const struct docsign_result *r)
{
	if (r->status == DOCSIGN_VALID) {
		if (r->reason[0] || !r->member_class[0] || !r->member_code[0] ||
		    !r->signer_name[0] || (r->stamped && r->stamp_time_ms <= 0) ||
		    (!r->stamped && r->stamp_time_ms != 0))
			abort();
		return;
	}
	if (r->status != DOCSIGN_TAMPERED && r->status != DOCSIGN_INVALID)
		abort();
	if (!r->reason[0] || r->member_code[0] || r->signer_name[0] ||
	    !memchr(r->reason, '\0', sizeof(r->reason)))
		abort();
}

static int same_verdict(const struct docsign_result *a, const struct docsign_result *b)
{
	return a->status == b->status && strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->member_code, b->member_code) == 0 && a->stamped == b->stamped &&
	       a->stamp_time_ms == b->stamp_time_ms &&
	       memcmp(a->cert_sha256, b->cert_sha256, sizeof(a->cert_sha256)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docsign_verify_opts o = { fuzz_now, 0, 0 }, req = { fuzz_now, 1, 0 };
	struct docsign_result r, r2;
	struct buf sd = BUF_INIT;
	const char *xml = (const char *)data;
	char *err = NULL;

	memset(&r, 0, sizeof(r));
	memset(&r2, 0, sizeof(r2));
	if (docsign_verify(xml, size, trust, tsa, &o, &r) != 0) {
		fprintf(stderr, "fuzz_docsign: checks did not run: %s\n", r.reason);
		abort();
	}
	if (verbose)
		fprintf(stderr, "fuzz_docsign: %zu bytes: %s%s %s\n", size,
			docsign_status_name(r.status), r.stamped ? " (stamped)" : "", r.reason);
	check_result(&r);
	if (r.status == DOCSIGN_VALID) {
		/* The expensive second runs only where they can tell something. */
		if (docsign_verify(xml, size, trust, tsa, &o, &r2) != 0 || !same_verdict(&r, &r2))
			abort();
		if (!r.stamped && (docsign_verify(xml, size, trust, tsa, &req, &r2) != 0 ||
				   r2.status != DOCSIGN_INVALID))
			abort();
	}
	buf_init(&sd, DOCSIGN_XML_MAX);
	if (docsign_stamp_data(xml, size, &sd, &err) != 0) {
		if (!err || !*err)
			abort();
		free(err);
	} else if (r.status == DOCSIGN_VALID && sd.len == 0) {
		abort();
	}
	buf_free(&sd);
	return 0;
}
