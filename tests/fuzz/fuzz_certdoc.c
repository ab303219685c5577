/* Fuzz target for the certificate document reader and the public
 * verification page's request parsers (adapters/certificates/): what a
 * citizen, a bank or anyone on the internet uploads.
 *
 * Every input is used four ways:
 *  - as a certificate document: certdoc_parse and certdoc_digest. A document
 *    that parses must render (certdoc_render) to XML that parses again and
 *    renders to the very same bytes (the reader and the writer agree), and
 *    its number must split with certdoc_number_parse;
 *  - as a query string for verify_page_query (n=, d=);
 *  - as a posted form body for verify_page_posted_xml, once as
 *    multipart/form-data with boundary FUZZB and once urlencoded;
 *  - split at its first newline into a Content-Type value and a body, for
 *    verify_page_posted_xml again (so boundaries are fuzzed too).
 * Whatever XML a form yields is read with certdoc_parse as well, so the
 * form seeds carrying a document reach the reader.
 *
 * Seeds: tests/data/certdoc/household.xml, the same document signed and
 * time-stamped by a certs/mkpki.sh PKI (tests/data/fuzz/README.md), forms
 * and queries around them, and broken variants. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/certificates/certdoc.h"
#include "adapters/certificates/verify_page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The posted XML kept (the server's cap is its own; this one bounds work). */
#define FUZZ_FORM_CAP (256 * 1024)
#define FUZZ_CT_MAX 256

static void check_number(const char *number)
{
	char code[21], again[CERTDOC_NUMBER_MAX + 16];
	int year;
	long seq;

	if (!number || certdoc_number_parse(number, code, &year, &seq) != 0)
		return;   /* the reader may accept numbers the format does not (checked below) */
	if (certdoc_number_format(code, year, seq, again, sizeof(again)) != 0) {
		fprintf(stderr, "fuzz_certdoc: number \"%s\" parses but does not format\n", number);
		abort();
	}
}

/* Reads xml as a document; when it parses, render -> parse -> render must
 * give the same bytes twice. */
static void fuzz_document(const char *xml, size_t len)
{
	struct certdoc *d = NULL, *d2 = NULL;
	struct buf r1 = BUF_INIT, r2 = BUF_INIT;
	char digest[CERTDOC_DIGEST_HEX], *err = NULL;

	certdoc_digest(xml, len, digest);
	if (strlen(digest) != CERTDOC_DIGEST_HEX - 1 || !certdoc_digest_ok(digest))
		abort();
	if (certdoc_parse(xml, len, &d, &err) != 0) {
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz_certdoc: %zu bytes: %s\n", len, err ? err : "?");
		if (d || !err || !*err)
			abort();   /* a refusal says why and leaves nothing behind */
		free(err);
		return;
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_certdoc: %zu bytes: document %s\n", len, d->number);
	check_number(d->number);
	buf_init(&r1, CERTDOC_XML_MAX);
	buf_init(&r2, CERTDOC_XML_MAX);
	if (certdoc_render(d, &r1, &err) != 0) {
		fprintf(stderr, "fuzz_certdoc: a parsed document does not render: %s\n", err);
		abort();
	}
	if (certdoc_parse(r1.data, r1.len, &d2, &err) != 0) {
		fprintf(stderr, "fuzz_certdoc: a rendered document does not parse: %s\n", err);
		abort();
	}
	if (certdoc_render(d2, &r2, &err) != 0 || r1.len != r2.len ||
	    memcmp(r1.data, r2.data, r1.len) != 0) {
		fprintf(stderr, "fuzz_certdoc: render(parse(render(doc))) differs\n");
		abort();
	}
	buf_free(&r1);
	buf_free(&r2);
	certdoc_free(&d);
	certdoc_free(&d2);
}

static void fuzz_form(const char *content_type, const char *body, size_t len)
{
	struct buf out = BUF_INIT;
	char why[256];

	buf_init(&out, FUZZ_FORM_CAP);
	why[0] = '\0';
	if (verify_page_posted_xml(content_type, body, len, &out, why, sizeof(why)) == 0) {
		if (out.len > FUZZ_FORM_CAP)
			abort();
		fuzz_document(out.data ? out.data : "", out.len);
	} else if (!why[0] || strlen(why) >= sizeof(why)) {
		abort();
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz_certdoc: form (%s): %s\n", content_type, why);
	}
	buf_free(&out);
}

static void fuzz_query(const char *s)
{
	char number[CERTDOC_NUMBER_MAX], digest[CERTDOC_DIGEST_HEX];

	memset(number, 'x', sizeof(number));
	memset(digest, 'x', sizeof(digest));
	if (verify_page_query(s, number, sizeof(number), digest, sizeof(digest)) != 0)
		return;
	if (!memchr(number, '\0', sizeof(number)) || !memchr(digest, '\0', sizeof(digest)))
		abort();   /* both come back as strings that fit */
}

/* The input up to its first NUL, as a C string (caller frees). */
static char *cstring(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nl = memchr(data, '\n', size < FUZZ_CT_MAX ? size : FUZZ_CT_MAX);
	char *s = cstring(data, size);

	fuzz_document(text, size);
	fuzz_query(s);
	free(s);
	fuzz_form("multipart/form-data; boundary=FUZZB", text, size);
	fuzz_form("application/x-www-form-urlencoded", text, size);
	if (nl) {
		size_t ctlen = (size_t)(nl - data);
		char *ct = cstring(data, ctlen);
		size_t n = strlen(ct);   /* shorter than ctlen when a NUL came first */

		if (n && ct[n - 1] == '\r')
			ct[n - 1] = '\0';
		fuzz_form(ct, (const char *)nl + 1, size - ctlen - 1);
		free(ct);
	}
	return 0;
}
