/* Fuzz target for the HTTP request-head parser (net/httpd_parse.c).
 *
 * The input is split into lines the way the server splits them (LF, with one
 * CR before it dropped): the first line goes to the request-line parser, the
 * following ones to the header parser until an empty line, then the header
 * set to the framing check, and every remaining line to the chunk-size
 * parser. Results are cross-checked where the contract promises something. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpd_parse.h"

#define MAX_FIELDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Next line of [*p, end): sets *len without the line end, advances *p. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *nl;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl) {
		*len = (size_t)(end - s);
		*p = end;
		return s;
	}
	*len = (size_t)(nl - s);
	if (*len && s[*len - 1] == '\r')
		(*len)--;
	*p = nl + 1;
	return s;
}

static void check_head(const struct http_hdr *hdrs, size_t n, int minor)
{
	struct httpd_framing f;
	const char *why = NULL;
	int st = httpd_parse_head_fields(hdrs, n, minor, &f, &why);

	if (st != 0 && (!why || (st != 400 && st != 417 && st != 501)))
		abort();
	if (st == 0 && f.chunked && f.has_length)
		abort();    /* the smuggling defence must hold */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *p, *end, *line, *why;
	struct http_hdr hdrs[MAX_FIELDS];
	struct httpd_reqline rl;
	struct httpd_field f;
	size_t len, n = 0;
	uint64_t v;
	int minor = 1;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy;
	end = copy + size;
	if ((line = next_line(&p, end, &len)) != NULL &&
	    httpd_parse_request_line(line, len, &rl, &why) == 0) {
		if (rl.target_off + rl.target_len > len || rl.method_len == 0)
			abort();
		minor = rl.minor;
	}
	while ((line = next_line(&p, end, &len)) != NULL && len) {
		if (httpd_parse_header_line(line, len, &f, &why) != 0 || n == MAX_FIELDS)
			continue;
		if (f.value_off + f.value_len > len)
			abort();
		/* Terminate name and value in place, as the server's arena does. */
		((char *)line)[f.name_len] = '\0';
		((char *)line)[f.value_off + f.value_len] = '\0';
		hdrs[n].name = line;
		hdrs[n].value = line + f.value_off;
		n++;
	}
	check_head(hdrs, n, minor);
	while ((line = next_line(&p, end, &len)) != NULL) {
		why = NULL;
		if (httpd_parse_chunk_size(line, len, &v, &why) != 0 && !why)
			abort();
	}
	free(copy);
	return 0;
}
