#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->limit || b->len > b->limit - extra)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

char *buf_space(struct buf *b, size_t n)
{
	return buf_reserve(b, n) < 0 ? NULL : b->data + b->len;
}

void buf_added(struct buf *b, size_t k)
{
	b->len += k;
	b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

size_t utf8_xml_len(const unsigned char *s)
{
	unsigned long cp;

	return utf8_xml_char(s, &cp);
}

size_t utf8_xml_char(const unsigned char *s, unsigned long *cp_out)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	*cp_out = c;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)   /* the NUL ends it here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || cp == 0xfffe || cp == 0xffff)) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return n;
}

int utf8_json_ok(const char *str)
{
	const unsigned char *p = (const unsigned char *)str;

	while (*p) {
		size_t n = utf8_xml_len(p);
		if (!n && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			n = 3;
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

/* What buf_xml_escape does with an ASCII byte: 0 copy, 1 replace (a control
 * byte XML cannot carry), else the index + 2 of its entity. */
static const unsigned char xml_ascii[128] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['&'] = 2, ['<'] = 3, ['>'] = 4, ['"'] = 5, ['\''] = 6,
};
static const char *const xml_ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
#define U_FFFD "\xef\xbf\xbd"

int buf_xml_escape(struct buf *b, const char *s)
{
	return buf_xml_escape_n(b, s, strlen(s));
}

/* Multi-byte checks read past s only while the bytes continue a sequence:
 * the NUL at end stops them. */
int buf_xml_escape_n(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *run = s, *end = s + len;

	while (s < end) {
		const char *rep;
		size_t n = 1;   /* bytes rep stands for */

		if (*s < 0x80) {
			unsigned k = xml_ascii[*s];
			if (k == 0) {
				s++;
				continue;
			}
			rep = k == 1 ? U_FFFD : xml_ent[k - 2];
		} else if (*s >= 0xc2 && *s <= 0xdf && (s[1] & 0xc0) == 0x80) {
			s += 2;   /* two bytes (Cyrillic, most of the registries' text): always a character */
			continue;
		} else if ((n = utf8_xml_len(s)) != 0) {
			s += n;
			continue;
		} else {
			/* U+FFFD for a byte that starts no character; U+FFFE and
			 * U+FFFF are whole characters, replaced as one */
			rep = U_FFFD;
			n = s[0] == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf) ? 3 : 1;
		}
		if (buf_append(b, run, (size_t)(s - run)) < 0 || buf_puts(b, rep) < 0)
			return -1;
		run = s += n;
	}
	return buf_append(b, run, (size_t)(s - run));
}

int buf_json_escape(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		if (buf_append(b, run, (size_t)(s - run)) < 0)
			return -1;
		switch (c) {
		case '"': strcpy(esc, "\\\""); break;
		case '\\': strcpy(esc, "\\\\"); break;
		case '\n': strcpy(esc, "\\n"); break;
		case '\r': strcpy(esc, "\\r"); break;
		case '\t': strcpy(esc, "\\t"); break;
		default: snprintf(esc, sizeof(esc), "\\u%04x", c); break;
		}
		if (buf_puts(b, esc) < 0)
			return -1;
		run = s + 1;
	}
	return buf_append(b, run, (size_t)(s - run));
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
