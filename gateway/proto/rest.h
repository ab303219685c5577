/* X-Road message protocol for REST (r1): URL form, X-Road-* headers, request
 * hash, error bodies. No I/O.
 *
 * URL: {METHOD} /r1/{instance}/{class}/{member}/{subsystem}/{serviceCode}[/path][?query]
 * (each part percent-decoded separately and validated as an identifier part;
 * the path and query after the service code are kept as received). */
#ifndef AILGATE_PROTO_REST_H
#define AILGATE_PROTO_REST_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "lib/http_hdr.h"
#include "proto/fault.h"
#include "proto/xrd_id.h"

#define REST_TARGET_MAX 8192
#define REST_FIELD_MAX 256

struct rest_req {
	struct xrd_id service;          /* SERVICE, version "" */
	char path[REST_TARGET_MAX];     /* after the service code, "" or "/..." (still encoded) */
	char query[REST_TARGET_MAX];    /* after '?', "" if none (still encoded) */
	struct xrd_id client;           /* X-Road-Client */
	char id[REST_FIELD_MAX];        /* X-Road-Id, "" if absent */
	char user_id[REST_FIELD_MAX];   /* X-Road-UserId */
	char issue[REST_FIELD_MAX];     /* X-Road-Issue */
	int has_represented_party;
	char party_class[XRD_PART_MAX]; /* X-Road-Represented-Party: [CLASS/]CODE */
	char party_code[XRD_PART_MAX];
};

/* Parses the request-target. A target that does not start with "/r1/" or
 * whose identifier parts are missing/invalid fails with Client.BadRequest
 * (or Client.InvalidServiceIdentifier) naming the part. */
int rest_parse_target(const char *target, struct rest_req *out, struct fault *f)
	__attribute__((warn_unused_result));

/* Reads X-Road-Client (required: Client.MissingHeaderField if absent,
 * Client.InvalidClientIdentifier if malformed), X-Road-Id, X-Road-UserId,
 * X-Road-Issue, X-Road-Represented-Party. A repeated X-Road-* header fails
 * with Client.DuplicateHeaderField. */
int rest_parse_headers(const struct http_hdr *h, size_t n, struct rest_req *out, struct fault *f)
	__attribute__((warn_unused_result));

/* 0 for hop-by-hop headers (Connection, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade, and any named in Connection) and for Host,
 * User-Agent, Server, Content-Length; 1 for headers that pass through. */
int rest_header_forwarded(const char *name, const char *connection_value);

/* X-Road-Request-Hash = base64(SHA-512(SHA-512(H) || SHA-512(body))), or
 * base64(SHA-512(SHA-512(H))) when body_len == 0, where H is the canonical
 * header serialisation:
 *     METHOD SP request-target LF
 *     then, for each of x-road-client, x-road-id, x-road-userid, x-road-issue,
 *     x-road-represented-party, content-type that is present (first value):
 *     lowercase-name ":" SP value LF
 * out: B64_SHA512_LEN bytes. */
int rest_request_hash(const char *method, const char *target, const struct http_hdr *h,
		      size_t n, const void *body, size_t body_len, char *out)
	__attribute__((warn_unused_result));

/* Error body from the exchange itself:
 * {"type":"<code>","message":"...","detail":"<uuid>"}, or the same as
 * <error><type/><message/><detail/></error> when want_xml. Sets *content_type. */
int rest_build_error(const struct fault *f, const char *detail_uuid, int want_xml,
		     struct buf *out, const char **content_type) __attribute__((warn_unused_result));

/* Percent-decodes in into out (cap bytes). Refuses "%00", malformed escapes.
 * Returns decoded length or -1. */
long rest_pct_decode(const char *in, size_t len, char *out, size_t cap);

#endif
