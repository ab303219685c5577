/* Fuzz target for proto/mime. Input: a Content-Type value on the first
 * line, the body after it. The SOAP part found must lie inside the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ct_len = nl ? (size_t)(nl - data) : size;
	const uint8_t *body = nl ? nl + 1 : data + size;
	size_t body_len = size - (size_t)(body - data);
	struct mime_part p;
	struct mime_type t;
	struct fault f;
	char *ct;

	if (size > 256 * 1024)
		return 0;
	ct = malloc(ct_len + 1);
	if (!ct)
		return 0;
	memcpy(ct, data, ct_len);
	ct[ct_len] = '\0';
	if (mime_parse_type(ct, &t) == 0 && strlen(t.boundary) > MIME_BOUNDARY_MAX)
		abort();
	(void)mime_is_multipart(ct);
	/* The body goes in as its own exact-size block so overreads are caught. */
	{
		uint8_t *b = malloc(body_len ? body_len : 1);
		if (b) {
			memcpy(b, body, body_len);
			if (mime_soap_part(ct, b, body_len, F_CLIENT, &p, &f) == 0 &&
			    ((const uint8_t *)p.data < b || (const uint8_t *)p.data + p.len > b + body_len))
				abort();
			free(b);
		}
	}
	free(ct);
	return 0;
}
