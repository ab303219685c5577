/* X-Road identifiers: validation, parsing and formatting of the text forms.
 *
 * Everything works on fixed-size fields, so no function here allocates. */
#include "proto/xrd_id.h"

#include <stdio.h>
#include <string.h>

#include "lib/buf.h"

/* The part alphabet as a table: one lookup per byte on the hot path (every
 * request carries two identifiers). */
static const unsigned char part_chars[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1,
	['='] = 1, ['?'] = 1,
};

/* Checks n bytes at s; 1 if they form a valid part. */
static int part_valid_n(const char *s, size_t n)
{
	if (n == 0 || n >= XRD_PART_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!part_chars[(unsigned char)s[i]])
			return 0;
	return 1;
}

int xrd_part_valid(const char *s)
{
	return s != NULL && part_valid_n(s, strnlen(s, XRD_PART_MAX));
}

int xrd_message_id_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? (*p >= 0x20 && *p != 0x7f) : utf8_xml_len(p);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

const char *xrd_type_name(enum xrd_type t)
{
	switch (t) {
	case XRD_MEMBER: return "MEMBER";
	case XRD_SUBSYSTEM: return "SUBSYSTEM";
	case XRD_SERVICE: return "SERVICE";
	case XRD_NONE: break;
	}
	return "NONE";
}

enum xrd_type xrd_type_from_name(const char *s)
{
	if (!s)
		return XRD_NONE;
	if (strcmp(s, "MEMBER") == 0)
		return XRD_MEMBER;
	if (strcmp(s, "SUBSYSTEM") == 0)
		return XRD_SUBSYSTEM;
	if (strcmp(s, "SERVICE") == 0)
		return XRD_SERVICE;
	return XRD_NONE;
}

/* Field i of an id, in text order. */
static char *id_field(struct xrd_id *id, int i)
{
	char *f[6] = { id->instance, id->member_class, id->member_code,
		       id->subsystem, id->service_code, id->service_version };
	return f[i];
}

static const char *const field_names[6] = {
	"instance", "member class", "member code", "subsystem code", "service code",
	"service version",
};

/* Splits s on '/' into the fields of out, expecting min..max parts.
 * The message names the first part that is wrong. */
static int split_parts(const char *s, int min, int max, struct xrd_id *out, char *err,
		       size_t errlen)
{
	int n = 0;

	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (n == max) {
			snprintf(err, errlen, "too many parts (at most %d)", max);
			return -1;
		}
		if (!part_valid_n(s, len)) {
			snprintf(err, errlen, "%s %s", field_names[n],
				 len == 0 ? "is empty"
				 : len >= XRD_PART_MAX ? "is too long"
				 : "holds a character outside A-Z a-z 0-9 ' ( ) + , - . = ?");
			return -1;
		}
		memcpy(id_field(out, n), s, len);
		id_field(out, n)[len] = '\0';
		n++;
		if (!slash)
			break;
		s = slash + 1;
	}
	if (n < min) {
		snprintf(err, errlen, "%s is missing", field_names[n]);
		return -1;
	}
	return 0;
}

static int err_out(struct xrd_id *out, char *err, size_t errlen, const char *msg)
{
	memset(out, 0, sizeof(*out));
	if (msg)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

int xrd_id_parse(const char *text, struct xrd_id *out, char *err, size_t errlen)
{
	const char *colon;
	char tname[16];
	size_t tlen;
	int min, max;

	memset(out, 0, sizeof(*out));
	if (!text || strnlen(text, XRD_ID_TEXT_MAX) >= XRD_ID_TEXT_MAX)
		return err_out(out, err, errlen, "identifier missing or too long");
	colon = strchr(text, ':');
	tlen = colon ? (size_t)(colon - text) : 0;
	if (!colon || tlen >= sizeof(tname))
		return err_out(out, err, errlen,
			       "expected TYPE:INSTANCE/CLASS/CODE... (TYPE MEMBER, SUBSYSTEM or SERVICE)");
	memcpy(tname, text, tlen);
	tname[tlen] = '\0';
	out->type = xrd_type_from_name(tname);
	switch (out->type) {
	case XRD_MEMBER: min = max = 3; break;
	case XRD_SUBSYSTEM: min = max = 4; break;
	case XRD_SERVICE: min = 5; max = 6; break;
	default:
		return err_out(out, err, errlen,
			       "unknown identifier type (expected MEMBER, SUBSYSTEM or SERVICE)");
	}
	if (split_parts(colon + 1, min, max, out, err, errlen) < 0)
		return err_out(out, err, errlen, NULL);
	return 0;
}

int xrd_id_parse_path(const char *text, struct xrd_id *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!text || strnlen(text, XRD_ID_TEXT_MAX) >= XRD_ID_TEXT_MAX)
		return err_out(out, err, errlen, "identifier missing or too long");
	if (split_parts(text, 3, 4, out, err, errlen) < 0)
		return err_out(out, err, errlen, NULL);
	out->type = out->subsystem[0] ? XRD_SUBSYSTEM : XRD_MEMBER;
	return 0;
}

/* Text built by parts into a fixed buffer, cut at its end as snprintf would
 * (several identifiers are formatted for every message: no printf). */
struct idtext {
	char *out;
	size_t cap, n;
};

static void put(struct idtext *t, const char *s)
{
	size_t l = strlen(s);

	if (t->n + 1 < t->cap) {
		size_t room = t->cap - t->n - 1;
		memcpy(t->out + t->n, s, l < room ? l : room);
	}
	t->n += l;
}

/* lead, then the parts, with "/part" for each non-empty trailing part the
 * type has. */
static const char *format_common(const struct xrd_id *id, const char *lead, char *out,
				 size_t outlen)
{
	struct idtext t = { out, outlen, 0 };

	if (!outlen)
		return out;
	put(&t, lead);
	put(&t, id->instance);
	put(&t, "/");
	put(&t, id->member_class);
	put(&t, "/");
	put(&t, id->member_code);
	if (id->type != XRD_MEMBER && id->subsystem[0]) {
		put(&t, "/");
		put(&t, id->subsystem);
	}
	if (id->type == XRD_SERVICE) {
		put(&t, "/");
		put(&t, id->service_code);
		if (id->service_version[0]) {
			put(&t, "/");
			put(&t, id->service_version);
		}
	}
	out[t.n < outlen ? t.n : outlen - 1] = '\0';
	return out;
}

const char *xrd_id_format(const struct xrd_id *id, char *out, size_t outlen)
{
	char lead[16];
	const char *type = xrd_type_name(id->type);
	size_t l = strlen(type);

	if (l > sizeof(lead) - 2)
		l = sizeof(lead) - 2;
	memcpy(lead, type, l);
	lead[l] = ':';
	lead[l + 1] = '\0';
	return format_common(id, lead, out, outlen);
}

const char *xrd_id_format_path(const struct xrd_id *id, char *out, size_t outlen)
{
	return format_common(id, "", out, outlen);
}

int xrd_id_same_member(const struct xrd_id *a, const struct xrd_id *b)
{
	return strcmp(a->instance, b->instance) == 0 &&
	       strcmp(a->member_class, b->member_class) == 0 &&
	       strcmp(a->member_code, b->member_code) == 0;
}

int xrd_id_same_subsystem(const struct xrd_id *a, const struct xrd_id *b)
{
	return xrd_id_same_member(a, b) && strcmp(a->subsystem, b->subsystem) == 0;
}

int xrd_id_same_service(const struct xrd_id *a, const struct xrd_id *b)
{
	return a->type == XRD_SERVICE && b->type == XRD_SERVICE && xrd_id_same_subsystem(a, b) &&
	       strcmp(a->service_code, b->service_code) == 0;
}

int xrd_id_equal(const struct xrd_id *a, const struct xrd_id *b)
{
	return a->type == b->type && xrd_id_same_subsystem(a, b) &&
	       strcmp(a->service_code, b->service_code) == 0 &&
	       strcmp(a->service_version, b->service_version) == 0;
}

void xrd_id_service_owner(const struct xrd_id *service, struct xrd_id *owner)
{
	struct xrd_id o;

	/* Through a copy so service == owner works. */
	memset(&o, 0, sizeof(o));
	o.type = XRD_SUBSYSTEM;
	memcpy(o.instance, service->instance, sizeof(o.instance));
	memcpy(o.member_class, service->member_class, sizeof(o.member_class));
	memcpy(o.member_code, service->member_code, sizeof(o.member_code));
	memcpy(o.subsystem, service->subsystem, sizeof(o.subsystem));
	*owner = o;
}
