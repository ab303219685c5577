/* multipart/related: Content-Type parameters and the root (SOAP) part.
 * One forward pass over the body; memmem finds each delimiter. */
#include "proto/mime.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- Content-Type values ------------------------------------------------ */

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* RFC 2045 token characters. */
static int is_tchar(int c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* Reads a token or quoted string at *pp into out (cap bytes). */
static int read_value(const char **pp, char *out, size_t cap)
{
	const char *p = *pp;
	size_t o = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (*p == '\0' || o + 1 >= cap)
				return -1;
			out[o++] = *p;
		}
		p++;
	} else {
		/* '/' is not a tchar, but unquoted start="<a/b>" values are common. */
		for (; is_tchar((unsigned char)*p) || *p == '/' || *p == '<' || *p == '>' || *p == '@';
		     p++) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = *p;
		}
		if (o == 0)
			return -1;
	}
	out[o] = '\0';
	*pp = p;
	return 0;
}

/* Where parameter name (n bytes) is stored, or NULL to read and drop it. */
static char *param_dest(struct mime_type *t, const char *name, size_t n, size_t *cap)
{
	*cap = MIME_PARAM_MAX;
	if (n == 8 && strncasecmp(name, "boundary", 8) == 0) {
		*cap = sizeof(t->boundary);
		return t->boundary;
	}
	if (n == 5 && strncasecmp(name, "start", 5) == 0)
		return t->start;
	if (n == 4 && strncasecmp(name, "type", 4) == 0)
		return t->root_type;
	if (n == 7 && strncasecmp(name, "charset", 7) == 0)
		return t->charset;
	return NULL;
}

static int read_params(const char *p, struct mime_type *out)
{
	char scratch[MIME_PARAM_MAX];

	while (*p == ';') {
		const char *name;
		size_t n, cap;
		char *dst;

		p = skip_ows(p + 1);
		if (!*p)
			break; /* a trailing ';' is tolerated */
		for (name = p; is_tchar((unsigned char)*p); p++)
			;
		n = (size_t)(p - name);
		p = skip_ows(p);
		if (n == 0 || *p != '=')
			return -1;
		p = skip_ows(p + 1);
		dst = param_dest(out, name, n, &cap);
		if (read_value(&p, dst ? dst : scratch, dst ? cap : sizeof(scratch)) < 0)
			return -1;
		p = skip_ows(p);
	}
	return *p == '\0' ? 0 : -1;
}

int mime_parse_type(const char *value, struct mime_type *out)
{
	const char *p, *s;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!value)
		return -1;
	s = skip_ows(value);
	for (p = s; *p && *p != ';'; p++)
		;
	n = (size_t)(p - s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(out->type) || !memchr(s, '/', n))
		return -1;
	for (size_t i = 0; i < n; i++)
		out->type[i] = (char)tolower((unsigned char)s[i]);
	out->type[n] = '\0';
	if (read_params(p, out) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

int mime_is_multipart(const char *content_type)
{
	const char *p = content_type ? skip_ows(content_type) : "";
	size_t n = strlen("multipart/related");

	return strncasecmp(p, "multipart/related", n) == 0 &&
	       (p[n] == '\0' || p[n] == ';' || p[n] == ' ' || p[n] == '\t');
}

/* ---- part headers ------------------------------------------------------- */

/* Copies [s, e) trimmed into out (cap bytes), appending after a space if
 * append (a folded continuation line). Cuts what does not fit. */
static void put_trimmed(char *out, size_t cap, const char *s, const char *e, int append)
{
	size_t o = append ? strlen(out) : 0;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	if (append && o + 1 < cap)
		out[o++] = ' ';
	while (s < e && o + 1 < cap)
		out[o++] = *s++;
	out[o] = '\0';
}

static char *header_dest(struct mime_part *part, char *cte, const char *s, size_t n)
{
	if (n == 12 && strncasecmp(s, "Content-Type", n) == 0)
		return part->content_type;
	if (n == 10 && strncasecmp(s, "Content-ID", n) == 0)
		return part->content_id;
	if (n == 25 && strncasecmp(s, "Content-Transfer-Encoding", n) == 0)
		return cte;
	return NULL;
}

/* Reads Content-Type, Content-ID and Content-Transfer-Encoding (cte,
 * MIME_PARAM_MAX bytes) from the header block [h, end). */
static void read_part_headers(const char *h, const char *end, struct mime_part *part, char *cte)
{
	char *cur = NULL;

	while (h < end) {
		const char *e = memchr(h, '\n', (size_t)(end - h));
		const char *colon;
		if (!e)
			e = end;
		if ((*h == ' ' || *h == '\t') && cur) {
			put_trimmed(cur, MIME_PARAM_MAX, h, e, 1);
		} else {
			colon = memchr(h, ':', (size_t)(e - h));
			cur = colon ? header_dest(part, cte, h, (size_t)(colon - h)) : NULL;
			if (cur)
				put_trimmed(cur, MIME_PARAM_MAX, colon + 1, e, 0);
		}
		h = e + 1;
	}
}

/* Removes surrounding <> in place. */
static void strip_angles(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
}

/* ---- the body ----------------------------------------------------------- */

struct scan {
	const char *b;      /* body */
	size_t len;
	char delim[MIME_BOUNDARY_MAX + 4]; /* "\n--" boundary */
	size_t dlen;        /* of delim */
};

/* Offset of the next "--boundary" at or after from that starts a line, or
 * (size_t)-1. */
static size_t next_delim(const struct scan *s, size_t from)
{
	const char *p;

	if (from == 0 && s->len >= s->dlen - 1 && memcmp(s->b, s->delim + 1, s->dlen - 1) == 0)
		return 0;
	if (from > 0)
		from--; /* the '\n' before it */
	if (from >= s->len)
		return (size_t)-1;
	p = memmem(s->b + from, s->len - from, s->delim, s->dlen);
	return p ? (size_t)(p - s->b) + 1 : (size_t)-1;
}

/* Splits the part [start, end) into headers and content. */
static int split_part(const struct scan *s, size_t start, size_t end, struct mime_part *part,
		      char *cte)
{
	const char *b = s->b;
	size_t i = start;

	if (end - start >= 2 && b[i] == '\r' && b[i + 1] == '\n') {
		i += 2; /* no headers */
	} else if (end - start >= 1 && b[i] == '\n') {
		i += 1;
	} else {
		/* the first "\n\n" or "\n\r\n" ends the headers */
		for (; i + 1 < end; i++) {
			if (b[i] != '\n')
				continue;
			if (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < end && b[i + 2] == '\n'))
				break;
		}
		if (i + 1 >= end)
			return -1;
		read_part_headers(b + start, b + i, part, cte);
		i += b[i + 1] == '\n' ? 2 : 3;
	}
	part->data = b + i;
	part->len = end - i;
	return 0;
}

static int check_root(const struct mime_part *p, const char *cte, const char *prefix,
		      struct fault *f)
{
	struct mime_type t;

	if (p->content_type[0] &&
	    (mime_parse_type(p->content_type, &t) < 0 ||
	     (strcmp(t.type, "text/xml") != 0 && strcmp(t.type, "application/xop+xml") != 0)))
		return fault_set(f, prefix, "MimeParsingFailed",
				 "SOAP part has Content-Type \"%.100s\", expected text/xml or "
				 "application/xop+xml",
				 p->content_type);
	if (cte[0] && strcasecmp(cte, "binary") != 0 && strcasecmp(cte, "8bit") != 0 &&
	    strcasecmp(cte, "7bit") != 0)
		return fault_set(f, prefix, "MimeParsingFailed",
				 "Content-Transfer-Encoding \"%.40s\" is not supported for the SOAP part",
				 cte);
	return 0;
}

/* Reads the part whose delimiter starts at pos; *next gets the following
 * delimiter. Returns 0, 1 at the close delimiter, or -1 with f set. */
static int read_part(const struct scan *s, size_t pos, int idx, struct mime_part *part, char *cte,
		     size_t *next, const char *prefix, struct fault *f)
{
	size_t p = pos + s->dlen - 1, end;

	if (p + 2 <= s->len && s->b[p] == '-' && s->b[p + 1] == '-')
		return 1;
	while (p < s->len && (s->b[p] == ' ' || s->b[p] == '\t'))
		p++;
	if (p < s->len && s->b[p] == '\r')
		p++;
	if (p >= s->len || s->b[p] != '\n')
		return fault_set(f, prefix, "MimeParsingFailed",
				 "boundary of part %d is not followed by a line end", idx + 1);
	*next = next_delim(s, p + 1);
	if (*next == (size_t)-1)
		return fault_set(f, prefix, "MimeParsingFailed", "part %d is not terminated", idx + 1);
	end = *next - 1;
	if (end > p + 1 && s->b[end - 1] == '\r')
		end--;
	memset(part, 0, sizeof(*part));
	cte[0] = '\0';
	part->index = idx;
	if (end < p + 1 || split_part(s, p + 1, end, part, cte) < 0)
		return fault_set(f, prefix, "MimeParsingFailed",
				 "part %d has no blank line after its headers", idx + 1);
	strip_angles(part->content_id);
	return 0;
}

int mime_soap_part(const char *content_type, const void *body, size_t len, const char *prefix,
		   struct mime_part *out, struct fault *f)
{
	struct mime_type t;
	struct scan s;
	char cte[MIME_PARAM_MAX];
	size_t pos, next = 0;

	memset(out, 0, sizeof(*out));
	if (mime_parse_type(content_type, &t) < 0 || strcmp(t.type, "multipart/related") != 0 ||
	    !t.boundary[0])
		return fault_set(f, prefix, "MimeParsingFailed",
				 "Content-Type is not multipart/related with a boundary");
	strip_angles(t.start);
	s.b = body;
	s.len = len;
	s.dlen = (size_t)snprintf(s.delim, sizeof(s.delim), "\n--%s", t.boundary);
	pos = next_delim(&s, 0);
	if (pos == (size_t)-1)
		return fault_set(f, prefix, "MimeParsingFailed", "boundary not found in the body");
	for (int idx = 0; idx < MIME_MAX_PARTS; idx++, pos = next) {
		int rc = read_part(&s, pos, idx, out, cte, &next, prefix, f);
		if (rc < 0)
			goto fail;
		if (rc > 0)
			break;
		if (t.start[0] ? strcmp(out->content_id, t.start) == 0 : idx == 0) {
			if (check_root(out, cte, prefix, f) < 0)
				goto fail;
			return 0;
		}
	}
	if (t.start[0])
		fault_set(f, prefix, "MimeParsingFailed", "no part has the Content-ID <%s> named by start",
			  t.start);
	else
		fault_set(f, prefix, "MimeParsingFailed", "multipart body has no parts");
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* q=0.5 -> 500 (at most three decimals, 0..1); -1 when malformed. */
static int accept_qvalue(const char *p, size_t n)
{
	int v = 0, digits = 0;

	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return -1;
	v = (p[0] - '0') * 1000;
	if (n == 1)
		return v;
	if (p[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, digits++) {
		if (p[i] < '0' || p[i] > '9' || (p[0] == '1' && p[i] != '0'))
			return -1;
		v += (p[i] - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
	}
	return v;
}

int mime_accept_q(const char *accept, const char *type)
{
	const char *p = accept, *slash = strchr(type, '/');
	size_t tlen = slash ? (size_t)(slash - type) : strlen(type);
	int best = 0, best_rank = -1;

	if (!accept || !*accept)
		return 1000;
	while (*p) {
		size_t n = strcspn(p, ","), rlen;
		const char *r = p, *semi;
		int rank = -1, q = 1000;

		while (n > 0 && (*r == ' ' || *r == '\t'))
			r++, n--;
		semi = memchr(r, ';', n);
		rlen = semi ? (size_t)(semi - r) : n;
		while (rlen > 0 && (r[rlen - 1] == ' ' || r[rlen - 1] == '\t'))
			rlen--;
		if (rlen == 3 && !memcmp(r, "*/*", 3))
			rank = 0;
		else if (rlen == tlen + 2 && !strncasecmp(r, type, tlen) && !memcmp(r + tlen, "/*", 2))
			rank = 1;
		else if (rlen == strlen(type) && !strncasecmp(r, type, rlen))
			rank = 2;
		for (const char *a = semi; rank > best_rank && a && a < r + n;) {
			const char *next = memchr(a + 1, ';', (size_t)(r + n - a - 1)), *end = next ? next : r + n;
			const char *v = a + 1;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (end - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
				size_t vl = (size_t)(end - v - 2);

				while (vl > 0 && (v[2 + vl - 1] == ' ' || v[2 + vl - 1] == '\t'))
					vl--;
				q = accept_qvalue(v + 2, vl);
				if (q < 0)
					q = 0;
			}
			a = next;
		}
		if (rank > best_rank) {
			best_rank = rank;
			best = q;
		}
		p += n + (p[n] == ',');
	}
	return best;
}
