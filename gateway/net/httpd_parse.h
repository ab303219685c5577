/* httpd_parse: the pure, I/O-free part of the HTTP/1.1 server (private to
 * net/httpd.c, exported only so unit tests and the fuzz target can reach it).
 *
 * Every function looks at one line (without its line end) or at a finished
 * header list, never allocates, and answers 0 when the input is acceptable or
 * the HTTP status the server must refuse it with (400, 431, 501, 505); *why
 * then names the problem in a short constant string. The split into lines is
 * done by the caller (LF, with one optional CR before it), so a CR left inside
 * a line is a bare CR and is refused here. */
#ifndef AILGATE_NET_HTTPD_PARSE_H
#define AILGATE_NET_HTTPD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/http_hdr.h"

/* Offsets into the request line passed to httpd_parse_request_line. */
struct httpd_reqline {
	size_t method_len;     /* method starts at offset 0 */
	size_t target_off;
	size_t target_len;
	int minor;             /* HTTP/1.<minor>: 0 or 1 (1.2..1.9 count as 1) */
};

/* Offsets into one header line passed to httpd_parse_header_line. */
struct httpd_field {
	size_t name_len;       /* name starts at offset 0 */
	size_t value_off;      /* value with surrounding blanks trimmed */
	size_t value_len;
};

/* What the header fields of a complete head say about the message. */
struct httpd_framing {
	int chunked;           /* Transfer-Encoding: chunked */
	int has_length;        /* a Content-Length was given */
	uint64_t length;
	int keep_alive;        /* by the HTTP/1.0 or 1.1 rules */
	int expect_continue;   /* Expect: 100-continue on HTTP/1.1 */
};

/* "METHOD SP target SP HTTP/1.x". 400 if malformed, 505 for another major
 * version. */
int httpd_parse_request_line(const char *line, size_t len, struct httpd_reqline *out,
			     const char **why) __attribute__((warn_unused_result));

/* "name: value". 400 for obs-fold (leading blank), a missing colon, a name
 * that is not a token (blank before the colon included), or a value holding
 * NUL, CR or another control character other than HTAB. */
int httpd_parse_header_line(const char *line, size_t len, struct httpd_field *out,
			    const char **why) __attribute__((warn_unused_result));

/* Chunk-size line: hex digits, optional blanks, optional ";extensions"
 * (ignored, but control characters refused). 400 if malformed or over 2^64. */
int httpd_parse_chunk_size(const char *line, size_t len, uint64_t *size,
			   const char **why) __attribute__((warn_unused_result));

/* Content-Length value: one decimal number, nothing else. 0 or -1. */
int httpd_parse_content_length(const char *v, uint64_t *out) __attribute__((warn_unused_result));

/* Does the comma-separated list v hold tok (ASCII case-insensitive, blanks
 * around elements ignored)? */
int httpd_parse_list_has(const char *v, const char *tok);

/* Checks the header fields of a complete request head (minor as from the
 * request line) and fills *f. 400: missing or repeated Host on HTTP/1.1,
 * bad or conflicting Content-Length, Content-Length together with
 * Transfer-Encoding, Transfer-Encoding on HTTP/1.0, "chunked" not exactly
 * once; 501: a transfer coding other than chunked. */
int httpd_parse_head_fields(const struct http_hdr *h, size_t n, int minor,
			    struct httpd_framing *f, const char **why)
	__attribute__((warn_unused_result));

/* 1 if s[0..len) is a non-empty RFC 9110 token. */
int httpd_parse_is_token(const char *s, size_t len);
/* 1 if s (NUL-terminated) may be sent as a field value: no CR, LF or other
 * control character except HTAB. */
int httpd_parse_value_ok(const char *s);

#endif
