/* A header as a borrowed name/value pair, shared by the HTTP server, the
 * outbound client and the REST code, so none of them depends on another. */
#ifndef AILGATE_LIB_HTTP_HDR_H
#define AILGATE_LIB_HTTP_HDR_H

#include <stddef.h>

struct http_hdr {
	const char *name;
	const char *value;
};

/* First value of name (ASCII case-insensitive), or NULL. */
const char *http_hdr_get(const struct http_hdr *h, size_t n, const char *name);
/* How many times name occurs. */
unsigned http_hdr_count(const struct http_hdr *h, size_t n, const char *name);

#endif
