/* Adapter answers in protocol form: JSON stays JSON for REST; for SOAP the
 * same value becomes XML by one fixed rule (documented in adapters/adapter.h
 * users' READMEs and matched by the WSDLs in wsdl/):
 *   object -> its keys become child elements (unqualified)
 *   array under key K -> repeated <K> elements
 *   string/number/boolean -> text ("true"/"false")
 *   null -> <K xsi:nil="true"/> */
#include "core/exch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_QUERY_RAW_MAX 2048   /* one key or value as it comes, escapes and all */

/* Length of s if it is a name we write as an element name, else 0. */
static size_t xml_name_len(const char *s)
{
	const char *p = s;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return 0;
	for (; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return (size_t)(p - s);
}

/* pre, the name and post in one append: every value of every answer comes
 * through here, and a name is short (xml_name_len). */
static int put_tag(struct buf *out, const char *pre, size_t plen, const char *name, size_t nlen,
		   const char *post, size_t slen)
{
	char tmp[160];

	if (plen + nlen + slen > sizeof(tmp))
		return buf_append(out, pre, plen) < 0 || buf_append(out, name, nlen) < 0 ? -1
		       : buf_append(out, post, slen);
	memcpy(tmp, pre, plen);
	memcpy(tmp + plen, name, nlen);
	memcpy(tmp + plen + nlen, post, slen);
	return buf_append(out, tmp, plen + nlen + slen);
}

/* The decimal digits of v, as "%" JSON_INTEGER_FORMAT writes them. */
static int put_integer(struct buf *out, json_int_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	return buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int render_scalar(const json_t *v, struct buf *out)
{
	char num[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return buf_xml_escape_n(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return put_integer(out, json_integer_value(v));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return buf_puts(out, num);
	case JSON_TRUE:
		return buf_append(out, "true", 4);
	case JSON_FALSE:
		return buf_append(out, "false", 5);
	default:
		return -1;
	}
}

#define NIL_ATTRS " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/>"

static int render_children(const json_t *obj, struct buf *out, int depth);

static int render_named(const json_t *v, const char *name, struct buf *out, int depth)
{
	size_t n = xml_name_len(name);

	if (depth > 32 || n == 0)
		return -1;
	if (json_is_array(v)) {
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item)
			if (render_named(item, name, out, depth + 1) < 0)
				return -1;
		return 0;
	}
	if (json_is_null(v))
		return put_tag(out, "<", 1, name, n, NIL_ATTRS, sizeof(NIL_ATTRS) - 1);
	if (put_tag(out, "<", 1, name, n, ">", 1) < 0)
		return -1;
	if (json_is_object(v) ? render_children(v, out, depth + 1) : render_scalar(v, out))
		return -1;
	return put_tag(out, "</", 2, name, n, ">", 1);
}

static int render_children(const json_t *obj, struct buf *out, int depth)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)obj, key, val)
		if (render_named(val, key, out, depth) < 0)
			return -1;
	return 0;
}

int render_json_to_xml(const json_t *v, const char *name, struct buf *out)
{
	if (name)
		return render_named(v, name, out, 0);
	if (json_is_object(v))
		return render_children(v, out, 0);
	return render_named(v, "value", out, 0);
}

int render_param_decode(const char *p, size_t len, int plus_is_space, char *out, size_t cap, const char *what,
			char *why, size_t whylen)
{
	char raw[RENDER_QUERY_RAW_MAX];
	size_t pct = 0;

	for (size_t i = 0; i < len; i++)
		pct += p[i] == '%';
	if (plus_is_space) {
		if (len >= sizeof(raw)) {
			snprintf(why, whylen, "%s is longer than %d bytes", what, RENDER_QUERY_RAW_MAX - 1);
			return -1;
		}
		memcpy(raw, p, len);
		for (size_t i = 0; i < len; i++)
			if (raw[i] == '+')
				raw[i] = ' ';
		p = raw;
	}
	if (rest_pct_decode(p, len, out, cap) < 0) {
		/* What it would decode to, each escape a byte. */
		if ((2 * pct < len ? len - 2 * pct : 0) >= cap)
			snprintf(why, whylen, "%s is longer than %zu bytes after percent-decoding", what, cap - 1);
		else
			snprintf(why, whylen, "malformed percent-encoding in %s", what);
		return -1;
	}
	/* json_string() takes UTF-8 only; say so rather than fail later as if
	 * memory had run out. */
	if (!utf8_json_ok(out)) {
		snprintf(why, whylen, "%s is not valid UTF-8 after percent-decoding", what);
		return -1;
	}
	return 0;
}

int render_query_params(const char *query, json_t *params, char *why, size_t whylen)
{
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char key[256], val[2048], what[300];
		size_t klen = eq ? (size_t)(eq - p) : len;
		size_t vlen = eq ? len - klen - 1 : 0;

		if (klen > 0) {
			/* '+' means space in query strings */
			if (render_param_decode(p, klen, 1, key, sizeof(key), "a query parameter name", why,
						whylen) < 0)
				return -1;
			snprintf(what, sizeof(what), "parameter '%s'", key);
			if (render_param_decode(eq ? eq + 1 : "", vlen, 1, val, sizeof(val), what, why, whylen) < 0)
				return -1;
			/* A parameter has one value: a repeat, or a query key that
			 * names a path parameter, is refused rather than guessed. */
			if (json_object_get(params, key)) {
				snprintf(why, whylen, "parameter '%s' is given more than once", key);
				return -1;
			}
			if (json_object_set_new(params, key, json_string(val)) < 0) {
				snprintf(why, whylen, "out of memory");
				return -1;
			}
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}
