/* Pure request-head parsing for net/httpd.c; see httpd_parse.h.
 *
 * Strict on purpose: the gateway sits in front of other HTTP software, and
 * any leniency a back end does not share (obs-fold, blanks before the colon,
 * Content-Length next to Transfer-Encoding, lists in Content-Length) is a
 * request-smuggling vector, so all of it is refused with 400. */
#include "net/httpd_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Field-value octets: VCHAR, obs-text, SP, HTAB. */
static int is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int httpd_parse_is_token(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

int httpd_parse_value_ok(const char *s)
{
	for (; *s; s++)
		if (!is_value_char((unsigned char)*s))
			return 0;
	return 1;
}

/* "HTTP/d.d" at v (exactly 8 bytes). */
static int parse_version(const char *v, size_t len, int *minor, const char **why)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
	    v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') {
		*why = "malformed HTTP version";
		return 400;
	}
	if (v[5] != '1') {
		*why = "unsupported HTTP version";
		return 505;
	}
	*minor = v[7] == '0' ? 0 : 1;
	return 0;
}

int httpd_parse_request_line(const char *line, size_t len, struct httpd_reqline *out,
			     const char **why)
{
	size_t i = 0, t;

	while (i < len && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ') {
		*why = "malformed method";
		return 400;
	}
	out->method_len = i;
	t = ++i;
	/* The target is any run of visible ASCII; the gateway routes on it and
	 * a blank, control or 8-bit byte here is never legitimate. */
	while (i < len && line[i] > 0x20 && line[i] < 0x7f)
		i++;
	if (i == t || i == len || line[i] != ' ') {
		*why = "malformed request target";
		return 400;
	}
	out->target_off = t;
	out->target_len = i - t;
	i++;
	return parse_version(line + i, len - i, &out->minor, why);
}

int httpd_parse_header_line(const char *line, size_t len, struct httpd_field *out,
			    const char **why)
{
	size_t i = 0, end;

	if (len && is_blank((unsigned char)line[0])) {
		*why = "obsolete line folding";
		return 400;
	}
	while (i < len && is_tchar((unsigned char)line[i]))
		i++;
	if (i == len || line[i] != ':') {
		*why = i == len ? "header line without colon" : "invalid header name";
		return 400;
	}
	if (i == 0) {
		*why = "empty header name";
		return 400;
	}
	out->name_len = i;
	for (end = i + 1; end < len; end++) {
		if (!is_value_char((unsigned char)line[end])) {
			*why = line[end] == '\r' ? "bare CR in header" : "control character in header";
			return 400;
		}
	}
	for (i++; i < len && is_blank((unsigned char)line[i]); i++)
		;
	end = len;
	while (end > i && is_blank((unsigned char)line[end - 1]))
		end--;
	out->value_off = i;
	out->value_len = end - i;
	return 0;
}

int httpd_parse_chunk_size(const char *line, size_t len, uint64_t *size, const char **why)
{
	uint64_t v = 0;
	size_t i = 0;
	int d;

	*why = "malformed chunk size";
	for (; i < len && (d = hex_val((unsigned char)line[i])) >= 0; i++) {
		if (v > (UINT64_MAX >> 4))
			return 400;
		v = (v << 4) | (uint64_t)d;
	}
	if (i == 0)
		return 400;
	while (i < len && is_blank((unsigned char)line[i]))
		i++;
	if (i < len && line[i] != ';')
		return 400;
	for (; i < len; i++)
		if (!is_value_char((unsigned char)line[i]))
			return 400;
	*size = v;
	*why = NULL;
	return 0;
}

int httpd_parse_content_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		unsigned d;
		if (*v < '0' || *v > '9')
			return -1;
		d = (unsigned)(*v - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* Next list element of *v: sets *e and *elen (blanks trimmed, may be empty) and
 * advances *v past the comma. Returns 0 at the end of the string. */
static int list_next(const char **v, const char **e, size_t *elen)
{
	const char *s = *v, *end;

	if (!*s)
		return 0;
	while (is_blank((unsigned char)*s))
		s++;
	end = strchr(s, ',');
	*v = end ? end + 1 : s + strlen(s);
	if (!end)
		end = *v;
	while (end > s && is_blank((unsigned char)end[-1]))
		end--;
	*e = s;
	*elen = (size_t)(end - s);
	return 1;
}

static int elem_is(const char *e, size_t len, const char *tok)
{
	return len == strlen(tok) && strncasecmp(e, tok, len) == 0;
}

int httpd_parse_list_has(const char *v, const char *tok)
{
	const char *e;
	size_t len;

	while (list_next(&v, &e, &len))
		if (elem_is(e, len, tok))
			return 1;
	return 0;
}

/* Transfer-Encoding: exactly one "chunked" and nothing else. */
static int check_te(const struct http_hdr *h, size_t n, const char **why)
{
	unsigned chunked = 0, other = 0;
	size_t i, len;
	const char *v, *e;

	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "Transfer-Encoding") != 0)
			continue;
		v = h[i].value;
		while (list_next(&v, &e, &len)) {
			if (elem_is(e, len, "chunked"))
				chunked++;
			else if (len)
				other++;
		}
	}
	if (other) {
		*why = "unsupported transfer coding";
		return 501;
	}
	if (chunked != 1) {
		*why = "malformed Transfer-Encoding";
		return 400;
	}
	return 0;
}

/* All Content-Length fields must be valid and agree. */
static int check_cl(const struct http_hdr *h, size_t n, struct httpd_framing *f,
		    const char **why)
{
	size_t i;
	uint64_t v;

	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "Content-Length") != 0)
			continue;
		if (httpd_parse_content_length(h[i].value, &v) < 0) {
			*why = "invalid Content-Length";
			return 400;
		}
		if (f->has_length && v != f->length) {
			*why = "conflicting Content-Length";
			return 400;
		}
		f->has_length = 1;
		f->length = v;
	}
	return 0;
}

static void scan_tokens(const struct http_hdr *h, size_t n, int minor, struct httpd_framing *f)
{
	int close = 0, keep = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "Connection") == 0) {
			close |= httpd_parse_list_has(h[i].value, "close");
			keep |= httpd_parse_list_has(h[i].value, "keep-alive");
		} else if (minor >= 1 && strcasecmp(h[i].name, "Expect") == 0 &&
			   httpd_parse_list_has(h[i].value, "100-continue")) {
			f->expect_continue = 1;
		}
	}
	f->keep_alive = !close && (minor >= 1 || keep);
}

int httpd_parse_head_fields(const struct http_hdr *h, size_t n, int minor,
			    struct httpd_framing *f, const char **why)
{
	unsigned hosts = http_hdr_count(h, n, "Host");
	int te = http_hdr_count(h, n, "Transfer-Encoding") > 0;
	int st;

	memset(f, 0, sizeof(*f));
	if (hosts > 1 || (hosts == 0 && minor >= 1)) {
		*why = hosts ? "repeated Host" : "missing Host";
		return 400;
	}
	if ((st = check_cl(h, n, f, why)) != 0)
		return st;
	if (te && f->has_length) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if (te && minor == 0) {
		*why = "Transfer-Encoding in HTTP/1.0";
		return 400;
	}
	if (te && (st = check_te(h, n, why)) != 0)
		return st;
	f->chunked = te;
	scan_tokens(h, n, minor, f);
	/* An expectation other than 100-continue cannot be met (RFC 9110
	 * 10.1.1): 417 rather than going on as if it had been. HTTP/1.0 ignores
	 * Expect, as does an empty value. */
	for (size_t i = 0; minor >= 1 && i < n; i++)
		if (strcasecmp(h[i].name, "Expect") == 0 && h[i].value[strspn(h[i].value, " \t")] &&
		    !httpd_parse_list_has(h[i].value, "100-continue")) {
			*why = "Expect asks for something other than 100-continue, the only expectation supported";
			return 417;
		}
	return 0;
}
