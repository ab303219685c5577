#include "lib/http_hdr.h"

#include <strings.h>

const char *http_hdr_get(const struct http_hdr *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

unsigned http_hdr_count(const struct http_hdr *h, size_t n, const char *name)
{
	unsigned c = 0;

	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			c++;
	return c;
}
