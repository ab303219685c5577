/* Fuzz target for proto/rest. Input: the request-target on the first line,
 * then "Name: value" header lines, an empty line, then the body. Every
 * parser runs on it; error bodies built from the resulting fault must be
 * valid JSON, and a parsed X-Road-Client must survive format + reparse. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rest.h"

#define MAX_HDRS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits the copy in place into target, headers and body. */
static size_t split(char *s, size_t size, char **target, struct http_hdr *h, char **body,
		    size_t *body_len)
{
	size_t n = 0;
	char *p = s, *end = s + size;
	char *nl = memchr(p, '\n', size);

	*target = p;
	*body = end;
	*body_len = 0;
	if (!nl)
		return 0;
	*nl = '\0';
	p = nl + 1;
	while (p < end && n < MAX_HDRS) {
		char *colon;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p) {
			*body = nl ? nl + 1 : end;
			break;
		}
		*nl = '\0';
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			h[n].name = p;
			h[n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
			n++;
		}
		p = nl + 1;
	}
	*body_len = (size_t)(end - *body);
	return n;
}

static void check_error_body(const struct fault *f)
{
	struct buf out = BUF_INIT;
	const char *ct;
	json_t *j;

	if (rest_build_error(f, "uuid", 0, &out, &ct) == 0) {
		j = json_loadb(out.data, out.len, 0, NULL);
		if (!j)
			abort();
		json_decref(j);
	}
	buf_reset(&out);
	if (rest_build_error(f, "uuid", 1, &out, &ct) != 0)
		abort();
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_hdr h[MAX_HDRS];
	char *s, *target, *body, dec[256], hash[B64_SHA512_LEN];
	size_t n, body_len;
	struct rest_req *r;
	struct fault f;

	if (size > 64 * 1024)
		return 0;
	s = malloc(size + 1);
	r = malloc(sizeof(*r));
	if (!s || !r)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	n = split(s, size, &target, h, &body, &body_len);
	fault_clear(&f);
	if (rest_parse_target(target, r, &f) == 0 &&
	    (r->service.type != XRD_SERVICE || (r->path[0] && r->path[0] != '/')))
		abort();
	check_error_body(&f);
	fault_clear(&f);
	if (rest_parse_headers(h, n, r, &f) == 0) {
		struct xrd_id again;
		char t[XRD_ID_TEXT_MAX], err[128];
		if (xrd_id_parse_path(xrd_id_format_path(&r->client, t, sizeof(t)), &again, err,
				      sizeof(err)) != 0 ||
		    !xrd_id_equal(&again, &r->client))
			abort();
	}
	check_error_body(&f);
	for (size_t i = 0; i < n; i++)
		(void)rest_header_forwarded(h[i].name, http_hdr_get(h, n, "Connection"));
	if (rest_request_hash("GET", target, h, n, body, body_len, hash) != 0 ||
	    strlen(hash) != B64_SHA512_LEN - 1)
		abort();
	(void)rest_pct_decode(target, strlen(target), dec, sizeof(dec));
out:
	free(s);
	free(r);
	return 0;
}
