/* MIME multipart/related (SOAP with attachments, MTOM): find the SOAP part.
 *
 * X-Road sends attachments as multipart/related with the SOAP envelope as
 * the root part: the one the "start" parameter names by Content-ID, or else
 * the first. Its bytes are what requestHash covers. No I/O, no allocation:
 * results point into the caller's body. */
#ifndef AILGATE_PROTO_MIME_H
#define AILGATE_PROTO_MIME_H

#include <stddef.h>

#include "proto/fault.h"

#define MIME_BOUNDARY_MAX 70  /* RFC 2046 */
#define MIME_PARAM_MAX 256
#define MIME_MAX_PARTS 1000   /* more parts than this is refused */

/* A parsed Content-Type header value. */
struct mime_type {
	char type[MIME_PARAM_MAX];      /* "multipart/related", lowercased */
	char boundary[MIME_BOUNDARY_MAX + 1];
	char start[MIME_PARAM_MAX];     /* start parameter, "" if none */
	char root_type[MIME_PARAM_MAX]; /* the "type" parameter (root part type), "" if none */
	char charset[MIME_PARAM_MAX];   /* "" if none */
};

struct mime_part {
	const char *data;   /* the part's content (borrowed from the body) */
	size_t len;
	char content_type[MIME_PARAM_MAX]; /* as sent, "" if absent */
	char content_id[MIME_PARAM_MAX];   /* without <>, "" if absent */
	int index;          /* 0 for the first part */
};

/* Parses a Content-Type value: media type and the parameters above, names
 * case-insensitive, values as tokens or quoted strings (with \ escapes).
 * Returns 0, or -1 if it is malformed or a value does not fit. */
int mime_parse_type(const char *value, struct mime_type *out) __attribute__((warn_unused_result));

/* 1 if the Content-Type value is multipart/related. */
int mime_is_multipart(const char *content_type);

/* The weight (0..1000, q=1 is 1000) an Accept header value gives the media
 * type "type/subtype" (lower case): that of its most specific matching range
 * (type/subtype over type/ * over * / *, RFC 9110 12.5.1), 0 when none
 * matches; accept NULL or empty accepts everything (1000). A range without
 * q is 1000; a malformed q counts as 0. */
int mime_accept_q(const char *accept, const char *type);

/* Finds the root part of a multipart/related body whose Content-Type value
 * is content_type: the part whose Content-ID equals the start parameter
 * (angle brackets ignored), or the first part when there is no start.
 * Accepts CRLF and bare LF line ends, a preamble and an epilogue. The root
 * part must have Content-Type text/xml or application/xop+xml (or none) and
 * no Content-Transfer-Encoding other than 7bit/8bit/binary.
 * Returns 0, or -1 with f = prefix + "MimeParsingFailed" saying what is
 * wrong (no boundary, unterminated part, start not found, ...). */
int mime_soap_part(const char *content_type, const void *body, size_t len, const char *prefix,
		   struct mime_part *out, struct fault *f) __attribute__((warn_unused_result));

#endif
