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

/* Parses the request-target into out->service, path and query (other
 * fields untouched). A target that does not start with "/r1/", is
 * REST_TARGET_MAX bytes or longer, or whose identifier parts are missing,
 * empty or badly escaped fails with Client.BadRequest naming the part and
 * the expected form; a decoded part outside the identifier alphabet with
 * Client.InvalidServiceIdentifier. Metaservices (".../listMethods") parse
 * like any service. */
int rest_parse_target(const char *target, struct rest_req *out, struct fault *f)
	__attribute__((warn_unused_result));

/* Reads X-Road-Client (required: Client.MissingHeaderField if absent,
 * Client.InvalidClientIdentifier if malformed), X-Road-Id, X-Road-UserId,
 * X-Road-Issue, X-Road-Represented-Party. Names match case-insensitively;
 * other X-Road-* headers are ignored. A repeated one of these five fails with
 * Client.DuplicateHeaderField; a value longer than REST_FIELD_MAX-1 or a
 * malformed Represented-Party with Client.BadRequest. Clears the header
 * fields of out first (not the target fields). */
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

/* The form a REST message is signed and logged in between gateways (the
 * signature's BodyDigest covers these bytes; README "Signed exchange"):
 *     first-line LF
 *     for each name of names present in h (first value, in the order of names):
 *         lowercase-name ":" SP value LF
 *     LF
 *     body
 * first-line is "METHOD SP request-target" for a request and the decimal
 * status for a response. Appends to out; 0 or -1 (out of memory/cap). */
int rest_canonical_message(const char *first_line, const struct http_hdr *h, size_t n,
			   const char *const *names, size_t nnames, const void *body, size_t len,
			   struct buf *out) __attribute__((warn_unused_result));
/* The header sets: requests (those of the request hash) and responses. */
extern const char *const rest_signed_request_headers[];
extern const size_t rest_n_signed_request_headers;
extern const char *const rest_signed_response_headers[];
extern const size_t rest_n_signed_response_headers;

/* Error body from the exchange itself:
 * {"type":"<code>","message":"...","detail":"<uuid>"}, or the same as
 * <error><type/><message/><detail/></error> when want_xml (with an XML
 * declaration). Text is made valid UTF-8 and escaped. Sets *content_type to
 * "application/json" or "application/xml" (static strings). Appends to out;
 * unchanged on failure. */
int rest_build_error(const struct fault *f, const char *detail_uuid, int want_xml,
		     struct buf *out, const char **content_type) __attribute__((warn_unused_result));

/* Percent-decodes len bytes of in into out (cap bytes including a
 * terminating NUL, which is written). '+' is kept (path semantics). Refuses
 * "%00", a NUL byte, malformed escapes and output that does not fit.
 * Returns decoded length or -1. */
long rest_pct_decode(const char *in, size_t len, char *out, size_t cap);

#endif
