/* Fuzz target for trust/sign verification: every input is a SignedMessage
 * document, verified against a fixed body with the built-in verifier and
 * with the xmlsec one. Both must reach the same verdict and fault code (a
 * difference would mean our rebuilt canonical bytes and xmlsec's c14n
 * disagree), and a success must be self-consistent.
 *
 * The seed corpus was signed by a development PKI whose root and signing
 * time are in tests/data/sign/ (made with SIGN_FUZZ_CORPUS, see
 * gateway/trust/README-sign.md); verification runs at that fixed time, so the
 * seeds verify for good and mutations reach every stage. The replay
 * (replay_main.c) checks that they do: a signed seed (request, response,
 * rsa, batch-N) that no longer verifies with both verifiers aborts the run,
 * since every mutation of it would then stop at the same early refusal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/sign.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

#define FUZZ_BODY "fuzz body"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by replay_main.c to the corpus file being run; absent under libFuzzer. */
extern const char *fuzz_replay_input __attribute__((weak));

static X509_STORE *trust;
static time_t fuzz_now;

static const char *data_path(const char *name, char *out, size_t outlen)
{
	const char *src = getenv("AILGATE_SOURCE_DIR");

	snprintf(out, outlen, "%s/tests/data/sign/%s", src && *src ? src : AILGATE_SOURCE_DIR,
		 name);
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[1024], *err = NULL;
	long long now = 0;
	FILE *fp;

	if (sig_global_init(&err) != 0)
		abort();
	trust = sig_trust_from_pem(data_path("fuzz-trust.pem", path, sizeof(path)), &err);
	fp = fopen(data_path("fuzz-now.txt", path, sizeof(path)), "r");
	if (!trust || !fp || fscanf(fp, "%lld", &now) != 1) {
		fprintf(stderr, "fuzz_sigverify: cannot read tests/data/sign: %s\n", err ? err : "");
		abort();
	}
	fclose(fp);
	fuzz_now = (time_t)now;
	return 0;
}

static void check_result(const struct sig_result *r, const struct sig_result *rx)
{
	struct fault f;

	if (!r->signer || !rx->signer || r->kind != rx->kind || strcmp(r->client, rx->client) ||
	    strcmp(r->service, rx->service) || strcmp(r->message_id, rx->message_id) ||
	    strcmp(r->request_hash, rx->request_hash) || strcmp(r->member_code, rx->member_code))
		abort();
	/* A document always binds to its own identifiers, save for the member. */
	if (sig_check_binding(r, r->kind, r->client, r->service, r->message_id, r->request_hash,
			      &f) != 0 && !strstr(f.code, "IncorrectCertificate"))
		abort();
}

/* The seeds that are whole signed messages (the others are shapes meant to
 * be refused). */
static int signed_seed(const char *name)
{
	return strcmp(name, "request.xml") == 0 || strcmp(name, "response.xml") == 0 ||
	       strcmp(name, "rsa.xml") == 0 || strncmp(name, "batch-", 6) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sig_verify_opts o = { F_SPROXY, 0, fuzz_now, 0 }, ox = { F_SPROXY, 0, fuzz_now, 1 };
	struct sig_result r, rx;
	struct fault f, fx;
	int a, b;

	fault_clear(&f);
	fault_clear(&fx);
	a = sig_verify((const char *)data, size, FUZZ_BODY, strlen(FUZZ_BODY), trust, &o, &r, &f);
	b = sig_verify((const char *)data, size, FUZZ_BODY, strlen(FUZZ_BODY), trust, &ox, &rx, &fx);
	if (a != b || strcmp(f.code, fx.code) != 0) {
		fprintf(stderr, "verifiers disagree: built-in %d %s (%s), xmlsec %d %s (%s)\n", a,
			f.code, f.message, b, fx.code, fx.message);
		abort();
	}
	if (a == 0)
		check_result(&r, &rx);
	else if (r.signer || rx.signer || !f.code[0])
		abort();
	if (a != 0 && &fuzz_replay_input && fuzz_replay_input && signed_seed(fuzz_replay_input)) {
		fprintf(stderr, "fuzz_sigverify: seed %s no longer verifies: %s (%s)\n", fuzz_replay_input,
			f.code, f.message);
		abort();
	}
	sig_result_free(&r);
	sig_result_free(&rx);
	return 0;
}
