/* certdoc: the certificate document - model, XML, number, digest.
 *
 * Writing is plain text with escaping (the signature canonicalises what we
 * write, so the layout is free: indented for people who open the file).
 * Reading back walks the parsed tree element by element in the one order of
 * the format and refuses anything else, the way the signature walk does. */
#include "adapters/certificates/certdoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "adapters/common/pin.h"
#include "lib/crypto.h"
#include "lib/xmlscan.h"
#include "proto/xrd_id.h"
#include "store/tsa.h"
#include "trust/docsign.h"

#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define MSGID_MAX 255
#define DOCNUM_MAX 32
#define TIME_XML_LEN 20   /* 2026-11-22T05:48:56Z */

const struct certdoc_kind certdoc_kinds[] = {
	{ "household-composition", "Справка о составе семьи" },
	{ "place-of-residence", "Справка с места жительства" },
	{ "livestock-holding", "Справка о наличии скота" },
	{ "property-holding", "Справка о наличии земельного участка и недвижимого имущества" },
	{ "social-category", "Справка о принадлежности к социальной категории" },
	{ "no-utility-debt", "Справка об отсутствии задолженности за коммунальные услуги" },
	{ "employment-record", "Справка с места работы и о стаже" },
};
const size_t certdoc_kinds_count = sizeof(certdoc_kinds) / sizeof(certdoc_kinds[0]);

const struct certdoc_kind *certdoc_kind_find(const char *code)
{
	for (size_t i = 0; code && i < certdoc_kinds_count; i++)
		if (strcmp(certdoc_kinds[i].code, code) == 0)
			return &certdoc_kinds[i];
	return NULL;
}

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets *err (caller frees) unless already set; returns -1. */
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err || *err)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

/* ---- text rules ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s if it is a character we accept in a
 * value (no C0/C1 controls, DEL, surrogates or non-characters), else 0. */
static size_t char_len(const unsigned char *s)
{
	unsigned c = s[0], cp;
	size_t n, i;

	if (c >= 0x20 && c < 0x7f)
		return 1;
	if (c < 0x80)
		return 0;
	n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (!n)
		return 0;
	cp = c & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff ||
	    cp > 0x10ffff)
		return 0;
	return n;
}

/* 1 if s is at most max bytes of acceptable UTF-8 (empty allowed when
 * may_be_empty). */
static int text_ok(const char *s, size_t max, int may_be_empty)
{
	size_t len, i, n;

	if (!s)
		return 0;
	len = strlen(s);
	if (len > max || (!may_be_empty && len == 0))
		return 0;
	for (i = 0; i < len; i += n)
		if (!(n = char_len((const unsigned char *)s + i)))
			return 0;
	return 1;
}

int certdoc_text_ok(const char *s)
{
	return s && text_ok(s, strlen(s), 1);
}

/* Field and section names: 1..64 of [A-Za-z0-9_.-]. */
static int name_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len > 0 && len <= CERTDOC_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

/* Identity document numbers: 1..32 of [A-Z0-9-]. */
static int docnum_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len > 0 && len <= DOCNUM_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == len;
}

static int citizenship_ok(const char *s)
{
	return s && strlen(s) == 3 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3;
}

/* A copy of s after checking it; what names the value in the error. */
static char *dup_text(const char *s, size_t max, int may_be_empty, const char *what, char **err)
{
	char *c;

	if (!text_ok(s, max, may_be_empty)) {
		fail(err, "%s is %s", what, !s ? "missing" : !*s && !may_be_empty ? "empty" :
			  strlen(s) > max ? "too long" :
			  "not valid UTF-8 text (control characters are not allowed)");
		return NULL;
	}
	if (!(c = strdup(s)))
		fail(err, "out of memory");
	return c;
}

/* ---- numbers, times, digest, address --------------------------------------------- */

int certdoc_number_format(const char *code, int year, long seq, char *out, size_t outlen)
{
	size_t len = code ? strlen(code) : 0;
	int n;

	if (len == 0 || len > 20 || strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789") != len ||
	    year < 2000 || year > 9999 || seq < 1 || seq > 999999999L)
		return -1;
	n = snprintf(out, outlen, "%s-%04d-%06ld", code, year, seq);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int certdoc_number_parse(const char *number, char *code_out, int *year, long *seq)
{
	const char *d1, *d2;
	size_t clen, slen;
	char back[CERTDOC_NUMBER_MAX];

	if (!number || strlen(number) >= CERTDOC_NUMBER_MAX || !(d1 = strchr(number, '-')) ||
	    !(d2 = strchr(d1 + 1, '-')))
		return -1;
	clen = (size_t)(d1 - number);
	slen = strlen(d2 + 1);
	if (clen == 0 || clen > 20 || d2 - d1 != 5 || slen < 6 || slen > 9 ||
	    strspn(d1 + 1, "0123456789") != 4 || strspn(d2 + 1, "0123456789") != slen)
		return -1;
	memcpy(code_out, number, clen);
	code_out[clen] = '\0';
	*year = atoi(d1 + 1);
	*seq = strtol(d2 + 1, NULL, 10);
	/* One spelling per number: what format writes, nothing else. */
	if (certdoc_number_format(code_out, *year, *seq, back, sizeof(back)) != 0 ||
	    strcmp(back, number) != 0)
		return -1;
	return 0;
}

int certdoc_year(time_t t)
{
	time_t l = t + CERTDOC_TZ_OFFSET_S;
	struct tm tm;

	return gmtime_r(&l, &tm) ? tm.tm_year + 1900 : 0;
}

static void human(time_t t, int with_time, char *out, size_t outlen)
{
	time_t l = t + CERTDOC_TZ_OFFSET_S;
	struct tm tm;

	if (!gmtime_r(&l, &tm))
		snprintf(out, outlen, "?");
	else if (with_time)
		snprintf(out, outlen, "%02d.%02d.%04d %02d:%02d", tm.tm_mday, tm.tm_mon + 1,
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
	else
		snprintf(out, outlen, "%02d.%02d.%04d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
}

void certdoc_time_human(time_t t, char *out, size_t outlen)
{
	human(t, 1, out, outlen);
}

void certdoc_date_human(time_t t, char *out, size_t outlen)
{
	human(t, 0, out, outlen);
}

void certdoc_time_xml(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

int certdoc_time_parse(const char *s, time_t *out)
{
	struct tm tm;
	char back[TIME_XML_LEN + 1];

	memset(&tm, 0, sizeof(tm));
	if (!s || strlen(s) != TIME_XML_LEN ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6 || tm.tm_year < 2000)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	certdoc_time_xml(*out, back, sizeof(back));
	return *out == (time_t)-1 || strcmp(back, s) != 0 ? -1 : 0;
}

void certdoc_digest(const void *xml, size_t len, char out[CERTDOC_DIGEST_HEX])
{
	unsigned char dg[SHA256_LEN];

	if (sha256(xml, len, dg) != 0) {
		out[0] = '\0';
		return;
	}
	hex_encode(dg, sizeof(dg), out);
}

int certdoc_digest_ok(char *s)
{
	if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
		return 0;
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return 1;
}

int certdoc_verify_url(const char *base, const char *number, const char *digest, char *out,
		       size_t outlen)
{
	int n;

	if (!base || strncmp(base, "http", 4) != 0 || strpbrk(base, "?#\"<>'& ") ||
	    !text_ok(base, 512, 0) || !number || !digest)
		return -1;
	for (const char *p = base; *p; p++)
		if ((unsigned char)*p >= 0x7f)
			return -1;
	/* Numbers and digests are [A-Za-z0-9-]: nothing to percent-encode. */
	n = snprintf(out, outlen, "%s?n=%s&d=%s", base, number, digest);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ---- the model -------------------------------------------------------------------- */

static void field_free(struct certdoc_field *f)
{
	free(f->name);
	free(f->label);
	free(f->value);
}

static void section_free(struct certdoc_section *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		field_free(&s->fields[i]);
	for (size_t r = 0; r < s->nrows; r++) {
		for (size_t i = 0; i < s->rows[r].n; i++)
			field_free(&s->rows[r].fields[i]);
		free(s->rows[r].fields);
	}
	free(s->fields);
	free(s->rows);
	free(s->name);
	free(s->title);
}

void certdoc_free(struct certdoc **dp)
{
	struct certdoc *d = dp ? *dp : NULL;

	if (!d)
		return;
	for (size_t i = 0; i < d->nsections; i++)
		section_free(&d->sections[i]);
	for (size_t i = 0; i < d->nsources; i++) {
		free(d->sources[i].service);
		free(d->sources[i].message_id);
	}
	free(d->sections);
	free(d->sources);
	free(d->number);
	free(d->kind);
	free(d->title);
	free(d->issuer_instance);
	free(d->issuer_class);
	free(d->issuer_code);
	free(d->issuer_name);
	free(d->subject_pin);
	free(d->subject_doc);
	free(d->subject_citizenship);
	free(d->subject_name);
	free(d->purpose);
	free(d);
	*dp = NULL;
}

/* Number, kind, issuer: the parts that identify the document. */
static int head_ids(struct certdoc *d, const struct certdoc_head *h, char **err)
{
	char code[32];
	int year;
	long seq;
	const struct certdoc_kind *k = certdoc_kind_find(h->kind);

	if (!k)
		return fail(err, "kind '%s' is not one of the certificate kinds",
			    h->kind ? h->kind : "(none)");
	if (!xrd_part_valid(h->issuer_instance ? h->issuer_instance : "") ||
	    !xrd_part_valid(h->issuer_class ? h->issuer_class : "") ||
	    !xrd_part_valid(h->issuer_code ? h->issuer_code : ""))
		return fail(err, "issuer instance, member class and member code must be valid "
				 "X-Road identifier parts");
	if (certdoc_number_parse(h->number, code, &year, &seq) != 0)
		return fail(err, "number '%s' is not of the form CODE-YEAR-NNNNNN",
			    h->number ? h->number : "(none)");
	if (strcmp(code, h->issuer_code) != 0)
		return fail(err, "number %s does not belong to issuer %s", h->number, h->issuer_code);
	if (!(d->number = strdup(h->number)) || !(d->kind = strdup(k->code)) ||
	    !(d->issuer_instance = strdup(h->issuer_instance)) ||
	    !(d->issuer_class = strdup(h->issuer_class)) ||
	    !(d->issuer_code = strdup(h->issuer_code)))
		return fail(err, "out of memory");
	if (!(d->title = dup_text(h->title ? h->title : k->title, CERTDOC_TEXT_MAX, 0, "title", err)) ||
	    !(d->issuer_name = dup_text(h->issuer_name, CERTDOC_TEXT_MAX, 0, "issuer name", err)))
		return -1;
	return 0;
}

/* Subject: a PIN, or a document number with citizenship - never both.
 * pin_rule 0 (reading a document back): the PIN's shape only, so a document
 * stays readable whatever the rule says today. */
static int head_subject(struct certdoc *d, const struct certdoc_head *h, int pin_rule,
			char **err)
{
	char why[160];

	if (h->subject_pin && (h->subject_doc || h->subject_citizenship))
		return fail(err, "subject is identified either by PIN or by document number and "
				 "citizenship, not both");
	if (h->subject_pin) {
		if (pin_rule && pin_check_at(h->subject_pin, d->issued_at, why, sizeof(why)) != 0)
			return fail(err, "subject PIN: %s", why);
		if (strlen(h->subject_pin) != 14 || strspn(h->subject_pin, "0123456789") != 14)
			return fail(err, "subject PIN is not 14 digits");
		if (!(d->subject_pin = strdup(h->subject_pin)))
			return fail(err, "out of memory");
	} else {
		if (!docnum_ok(h->subject_doc))
			return fail(err, "subject without a PIN needs a document number (1..32 of "
					 "A-Z, 0-9, '-')");
		if (!citizenship_ok(h->subject_citizenship))
			return fail(err, "subject without a PIN needs a citizenship (ISO alpha-3, "
					 "e.g. KAZ)");
		if (!(d->subject_doc = strdup(h->subject_doc)) ||
		    !(d->subject_citizenship = strdup(h->subject_citizenship)))
			return fail(err, "out of memory");
	}
	if (!(d->subject_name = dup_text(h->subject_name, CERTDOC_TEXT_MAX, 0, "subject name", err)))
		return -1;
	return 0;
}

static int new_doc(const struct certdoc_head *h, int pin_rule, struct certdoc **out, char **err)
{
	struct certdoc *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (err)
		*err = NULL;
	if (!d)
		return fail(err, "out of memory");
	d->issued_at = h->issued_at ? h->issued_at : time(NULL);
	d->valid_until = h->valid_until;
	if (head_ids(d, h, err) != 0 || head_subject(d, h, pin_rule, err) != 0 ||
	    !(d->purpose = dup_text(h->purpose, CERTDOC_TEXT_MAX, 0, "purpose", err)))
		goto fail;
	if (d->valid_until <= d->issued_at) {
		fail(err, "valid-until must be after the issue time");
		goto fail;
	}
	*out = d;
	return 0;
fail:
	certdoc_free(&d);
	return -1;
}

int certdoc_new(const struct certdoc_head *h, struct certdoc **out, char **err)
{
	return new_doc(h, 1, out, err);
}

/* Grows an array of elem-size items to hold one more; 0 or -1. */
static int grow(void **arr, size_t n, size_t elem)
{
	void *p = realloc(*arr, (n + 1) * elem);

	if (!p)
		return -1;
	*arr = p;
	memset((char *)p + n * elem, 0, elem);
	return 0;
}

int certdoc_add_section(struct certdoc *d, const char *name, const char *title, char **err)
{
	struct certdoc_section s = { 0 };

	if (err)
		*err = NULL;
	if (d->nsections == CERTDOC_SECTIONS_MAX)
		return fail(err, "more than %d sections", CERTDOC_SECTIONS_MAX);
	if (!name_ok(name))
		return fail(err, "section name '%s' is not 1..64 of A-Z a-z 0-9 _ . -",
			    name ? name : "(none)");
	if (!(s.title = dup_text(title, CERTDOC_TEXT_MAX, 0, "section title", err)))
		return -1;
	if (!(s.name = strdup(name)) ||
	    grow((void **)&d->sections, d->nsections, sizeof(s)) != 0) {
		section_free(&s);
		return fail(err, "out of memory");
	}
	d->sections[d->nsections++] = s;
	d->in_row = 0;
	return 0;
}

int certdoc_add_row(struct certdoc *d, char **err)
{
	struct certdoc_section *s = d->nsections ? &d->sections[d->nsections - 1] : NULL;

	if (err)
		*err = NULL;
	if (!s)
		return fail(err, "a row needs a section first (certdoc_add_section)");
	if (s->nrows == CERTDOC_ROWS_MAX)
		return fail(err, "section %s has more than %d rows", s->name, CERTDOC_ROWS_MAX);
	if (grow((void **)&s->rows, s->nrows, sizeof(struct certdoc_row)) != 0)
		return fail(err, "out of memory");
	s->nrows++;
	d->in_row = 1;
	return 0;
}

int certdoc_add_field(struct certdoc *d, const char *name, const char *label, const char *value,
		      char **err)
{
	struct certdoc_section *s = d->nsections ? &d->sections[d->nsections - 1] : NULL;
	struct certdoc_field f = { 0 }, **arr;
	size_t *n;

	if (err)
		*err = NULL;
	if (!s)
		return fail(err, "a field needs a section first (certdoc_add_section)");
	arr = d->in_row ? &s->rows[s->nrows - 1].fields : &s->fields;
	n = d->in_row ? &s->rows[s->nrows - 1].n : &s->nfields;
	if (*n == (d->in_row ? CERTDOC_FIELDS_MAX : CERTDOC_SECTION_FIELDS_MAX))
		return fail(err, "more than %d fields in %s of section %s",
			    d->in_row ? CERTDOC_FIELDS_MAX : CERTDOC_SECTION_FIELDS_MAX, d->in_row ? "a row" : "the head",
			    s->name);
	if (!name_ok(name))
		return fail(err, "field name '%s' is not 1..64 of A-Z a-z 0-9 _ . -",
			    name ? name : "(none)");
	if (!(f.label = dup_text(label ? label : name, CERTDOC_TEXT_MAX, 0, "field label", err)) ||
	    !(f.value = dup_text(value ? value : "", CERTDOC_TEXT_MAX, 1, "field value", err))) {
		field_free(&f);
		return -1;
	}
	if (!(f.name = strdup(name)) || grow((void **)arr, *n, sizeof(f)) != 0) {
		field_free(&f);
		return fail(err, "out of memory");
	}
	(*arr)[(*n)++] = f;
	return 0;
}

/* A JSON scalar as text for people into out; 0 if shown, 1 if skipped. */
static int json_text(const json_t *v, char *out, size_t outlen)
{
	if (json_is_string(v))
		snprintf(out, outlen, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, outlen, "%.15g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(out, outlen, "%s", json_is_true(v) ? "да" : "нет");
	else
		return 1;
	return 0;
}

int certdoc_add_json(struct certdoc *d, const json_t *obj, const struct certdoc_label *labels,
		     size_t n, char **err)
{
	char text[CERTDOC_TEXT_MAX + 2];

	if (err)
		*err = NULL;
	if (!json_is_object(obj))
		return fail(err, "registry data is not a JSON object");
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_object_get(obj, labels[i].key);

		if (!v || json_text(v, text, sizeof(text)) != 0)
			continue;
		if (json_is_string(v) && strlen(json_string_value(v)) > CERTDOC_TEXT_MAX)
			return fail(err, "registry value %s is longer than %d bytes", labels[i].key,
				    CERTDOC_TEXT_MAX);
		if (certdoc_add_field(d, labels[i].key, labels[i].label, text, err) != 0)
			return -1;
	}
	return 0;
}

int certdoc_add_json_rows(struct certdoc *d, const json_t *arr,
			  const struct certdoc_label *labels, size_t n, char **err)
{
	size_t i;
	const json_t *o;

	if (err)
		*err = NULL;
	if (!json_is_array(arr))
		return fail(err, "registry data is not a JSON array");
	json_array_foreach(arr, i, o) {
		if (!json_is_object(o))
			return fail(err, "element %zu of the registry list is not an object", i);
		if (certdoc_add_row(d, err) != 0 || certdoc_add_json(d, o, labels, n, err) != 0)
			return -1;
	}
	return 0;
}

int certdoc_add_source(struct certdoc *d, const char *service, const char *message_id,
		       char **err)
{
	char text[XRD_ID_TEXT_MAX + 16], e[128];
	struct xrd_id id;
	struct certdoc_source s = { 0 };

	if (err)
		*err = NULL;
	if (d->nsources == CERTDOC_SOURCES_MAX)
		return fail(err, "more than %d source exchanges", CERTDOC_SOURCES_MAX);
	snprintf(text, sizeof(text), "SERVICE:%s", service ? service : "");
	if (xrd_id_parse(text, &id, e, sizeof(e)) != 0)
		return fail(err, "source service '%s' is not INST/CLASS/CODE/SUB/SERVICE[/VERSION]: %s",
			    service ? service : "(none)", e);
	if (!(s.message_id = dup_text(message_id, MSGID_MAX, 0, "source message id", err)))
		return -1;
	if (!(s.service = strdup(service)) ||
	    grow((void **)&d->sources, d->nsources, sizeof(s)) != 0) {
		free(s.service);
		free(s.message_id);
		return fail(err, "out of memory");
	}
	d->sources[d->nsources++] = s;
	return 0;
}

/* ---- writing ---------------------------------------------------------------------- */

static int put_elem(struct buf *b, const char *indent, const char *name, const char *text)
{
	int rc = buf_printf(b, "%s<%s>", indent, name);

	rc |= buf_xml_escape(b, text);
	rc |= buf_printf(b, "</%s>\n", name);
	return rc ? -1 : 0;
}

static int put_field(struct buf *b, const char *indent, const struct certdoc_field *f)
{
	int rc = buf_printf(b, "%s<Field name=\"%s\" label=\"", indent, f->name);

	rc |= buf_xml_escape(b, f->label);
	rc |= buf_puts(b, "\">");
	rc |= buf_xml_escape(b, f->value);
	rc |= buf_puts(b, "</Field>\n");
	return rc ? -1 : 0;
}

static int put_section(struct buf *b, const struct certdoc_section *s)
{
	int rc = buf_printf(b, "    <Section name=\"%s\" title=\"", s->name);

	rc |= buf_xml_escape(b, s->title);
	rc |= buf_puts(b, "\">\n");
	for (size_t i = 0; i < s->nfields; i++)
		rc |= put_field(b, "      ", &s->fields[i]);
	for (size_t r = 0; r < s->nrows; r++) {
		rc |= buf_puts(b, "      <Row>\n");
		for (size_t i = 0; i < s->rows[r].n; i++)
			rc |= put_field(b, "        ", &s->rows[r].fields[i]);
		rc |= buf_puts(b, "      </Row>\n");
	}
	rc |= buf_puts(b, "    </Section>\n");
	return rc ? -1 : 0;
}

static int put_head(struct buf *b, const struct certdoc *d)
{
	char issued[32], until[32];
	int rc;

	certdoc_time_xml(d->issued_at, issued, sizeof(issued));
	certdoc_time_xml(d->valid_until, until, sizeof(until));
	rc = buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<Certificate xmlns=\"" CERTDOC_NS "\" version=\"" CERTDOC_VERSION "\">\n");
	rc |= put_elem(b, "  ", "Number", d->number);
	rc |= put_elem(b, "  ", "Kind", d->kind);
	rc |= put_elem(b, "  ", "Title", d->title);
	rc |= buf_printf(b, "  <Issuer instance=\"%s\" memberClass=\"%s\" memberCode=\"%s\">\n",
			 d->issuer_instance, d->issuer_class, d->issuer_code);
	rc |= put_elem(b, "    ", "Name", d->issuer_name);
	rc |= buf_puts(b, "  </Issuer>\n  <Subject>\n");
	if (d->subject_pin)
		rc |= put_elem(b, "    ", "Pin", d->subject_pin);
	else
		rc |= buf_printf(b, "    <Document citizenship=\"%s\">%s</Document>\n",
				 d->subject_citizenship, d->subject_doc);
	rc |= put_elem(b, "    ", "Name", d->subject_name);
	rc |= buf_puts(b, "  </Subject>\n");
	rc |= put_elem(b, "  ", "Purpose", d->purpose);
	rc |= put_elem(b, "  ", "IssuedAt", issued);
	rc |= put_elem(b, "  ", "ValidUntil", until);
	return rc ? -1 : 0;
}

static int has_content(const struct certdoc *d)
{
	for (size_t i = 0; i < d->nsections; i++)
		if (d->sections[i].nfields || d->sections[i].nrows)
			return 1;
	return 0;
}

int certdoc_render(const struct certdoc *d, struct buf *out, char **err)
{
	size_t old = out->len;
	int rc;

	if (err)
		*err = NULL;
	if (!has_content(d))
		return fail(err, "the certificate has no content (no section holds a field or row)");
	if (d->nsources == 0)
		return fail(err, "the certificate names no registry exchange it was built from");
	rc = put_head(out, d);
	rc |= buf_puts(out, "  <Content>\n");
	for (size_t i = 0; i < d->nsections; i++)
		rc |= put_section(out, &d->sections[i]);
	rc |= buf_puts(out, "  </Content>\n  <Sources>\n");
	for (size_t i = 0; i < d->nsources; i++) {
		rc |= buf_printf(out, "    <Exchange service=\"%s\" messageId=\"", d->sources[i].service);
		rc |= buf_xml_escape(out, d->sources[i].message_id);
		rc |= buf_puts(out, "\"/>\n");
	}
	rc |= buf_puts(out, "  </Sources>\n</Certificate>\n");
	if (rc || out->len - old > CERTDOC_XML_MAX) {
		out->len = old;
		if (out->data)
			out->data[old] = '\0';
		return fail(err, "the certificate document is larger than %d bytes", CERTDOC_XML_MAX);
	}
	return 0;
}

int certdoc_sign_stamp(const struct certdoc *d, const struct signing_key *k,
		       struct tsa_client *tsa, struct buf *out, char digest[CERTDOC_DIGEST_HEX],
		       char **err)
{
	struct buf xml, sig, data;
	unsigned char *resp = NULL;
	size_t resp_len = 0, old = out->len;
	int64_t gen = 0;
	int rc = -1;

	if (err)
		*err = NULL;
	buf_init(&xml, CERTDOC_XML_MAX);
	buf_init(&sig, DOCSIGN_XML_MAX);
	buf_init(&data, 8 * 1024);
	if (certdoc_render(d, &xml, err) != 0 ||
	    docsign_sign(k, xml.data, xml.len, NULL, &sig, &data, err) != 0)
		goto out;
	if (!tsa) {
		if (buf_append(out, sig.data, sig.len) != 0) {
			fail(err, "output buffer cap reached");
			goto out;
		}
	} else if (tsa_stamp(tsa, data.data, data.len, &resp, &resp_len, &gen, err) != 0 ||
		   docsign_add_timestamp(sig.data, sig.len, resp, resp_len, out, err) != 0) {
		goto out;
	}
	certdoc_digest(out->data + old, out->len - old, digest);
	rc = 0;
out:
	if (rc != 0 && err && *err) {
		char *e = *err;
		*err = NULL;
		fail(err, "certificate %s not issued: %s", d->number, e);
		free(e);
	}
	free(resp);
	buf_free(&xml);
	buf_free(&sig);
	buf_free(&data);
	return rc;
}

/* ---- reading ---------------------------------------------------------------------- */

static void stop_at_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	xmlParserCtxtPtr c = ctx;

	*(int *)c->_private = 1;
	xmlStopParser(c);
}

static xmlDocPtr parse_xml(const char *xml, size_t len, char **err)
{
	int dtd = 0;
	xmlParserCtxtPtr c;
	xmlDocPtr doc;
	char why[160];

	if (!xml || len == 0 || len > DOCSIGN_XML_MAX) {
		fail(err, "the document is empty or larger than %d bytes", DOCSIGN_XML_MAX);
		return NULL;
	}
	if (xmlscan_check(xml, len, why, sizeof(why)) < 0) {
		fail(err, "the certificate document is refused unparsed: %s", why);
		return NULL;
	}
	if (!(c = xmlCreateMemoryParserCtxt(xml, (int)len))) {
		fail(err, "out of memory");
		return NULL;
	}
	(void)xmlCtxtUseOptions(c, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	c->_private = &dtd;
	c->sax->internalSubset = stop_at_dtd;
	(void)xmlParseDocument(c);
	doc = c->myDoc;
	c->myDoc = NULL;
	if (dtd || !doc || !c->wellFormed || !c->nsWellFormed) {
		fail(err, dtd ? "a DTD is not allowed in a certificate document" :
			  "the certificate document is not well-formed XML");
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(c);
	return doc;
}

/* A cursor over an element's children that skips whitespace-only text. */
struct rd {
	xmlNodePtr next;
	char **err;
};

static int blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return 0;
	return 1;
}

static void skip_blank(struct rd *r)
{
	while (r->next && r->next->type == XML_TEXT_NODE && blank(r->next->content))
		r->next = r->next->next;
}

static int is_elem(xmlNodePtr n, const char *ns, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, ns) && !strcmp((const char *)n->name, name);
}

/* The next element, which must be CERTDOC_NS:name. */
static xmlNodePtr next_elem(struct rd *r, const char *name)
{
	xmlNodePtr n;

	skip_blank(r);
	n = r->next;
	if (!is_elem(n, CERTDOC_NS, name)) {
		fail(r->err, "certificate document: <%s> expected", name);
		return NULL;
	}
	r->next = n->next;
	return n;
}

/* 1 if the next element is CERTDOC_NS:name (not consumed). */
static int peek(struct rd *r, const char *name)
{
	skip_blank(r);
	return is_elem(r->next, CERTDOC_NS, name);
}

/* An element's text (only text children), copied and checked. */
static char *elem_text(xmlNodePtr n, size_t max, int may_be_empty, char **err)
{
	xmlChar *t;
	char *c;

	for (xmlNodePtr k = n->children; k; k = k->next)
		if (k->type != XML_TEXT_NODE)
			return fail(err, "certificate document: <%s> must hold text only",
				    (const char *)n->name), NULL;
	t = xmlNodeGetContent(n);
	c = dup_text(t ? (const char *)t : "", max, may_be_empty, (const char *)n->name, err);
	xmlFree(t);
	return c;
}

static char *attr_text(xmlNodePtr n, const char *name, size_t max, char **err)
{
	xmlChar *t = xmlGetNoNsProp(n, (const xmlChar *)name);
	char *c = dup_text((const char *)t, max, 0, name, err);

	xmlFree(t);
	return c;
}

static int rd_end(struct rd *r, const char *what)
{
	skip_blank(r);
	return r->next ? fail(r->err, "certificate document: unexpected content in <%s>", what) : 0;
}

static int read_fields(struct certdoc *d, struct rd *r)
{
	while (peek(r, "Field")) {
		xmlNodePtr f = next_elem(r, "Field");
		char *name = attr_text(f, "name", CERTDOC_NAME_MAX, r->err);
		char *label = name ? attr_text(f, "label", CERTDOC_TEXT_MAX, r->err) : NULL;
		char *value = label ? elem_text(f, CERTDOC_TEXT_MAX, 1, r->err) : NULL;
		char *e = NULL;
		int rc = value ? certdoc_add_field(d, name, label, value, &e) : -1;

		if (e)
			fail(r->err, "certificate document: %s", e);
		free(e);
		free(name);
		free(label);
		free(value);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int read_section(struct certdoc *d, xmlNodePtr s, char **err)
{
	char *name = attr_text(s, "name", CERTDOC_NAME_MAX, err);
	char *title = name ? attr_text(s, "title", CERTDOC_TEXT_MAX, err) : NULL;
	struct rd r = { s->children, err };
	char *e = NULL;
	int rc = title ? certdoc_add_section(d, name, title, &e) : -1;

	if (e)
		fail(err, "certificate document: %s", e);
	free(e);
	free(name);
	free(title);
	if (rc != 0 || read_fields(d, &r) != 0)
		return -1;
	while (peek(&r, "Row")) {
		xmlNodePtr row = next_elem(&r, "Row");
		struct rd rr = { row->children, err };

		if (certdoc_add_row(d, &e) != 0) {
			fail(err, "certificate document: %s", e);
			free(e);
			return -1;
		}
		if (read_fields(d, &rr) != 0 || rd_end(&rr, "Row") != 0)
			return -1;
	}
	return rd_end(&r, "Section");
}

static int read_content(struct certdoc *d, xmlNodePtr c, char **err)
{
	struct rd r = { c->children, err };

	while (peek(&r, "Section"))
		if (read_section(d, next_elem(&r, "Section"), err) != 0)
			return -1;
	return rd_end(&r, "Content");
}

static int read_sources(struct certdoc *d, xmlNodePtr s, char **err)
{
	struct rd r = { s->children, err };

	while (peek(&r, "Exchange")) {
		xmlNodePtr x = next_elem(&r, "Exchange");
		char *svc = attr_text(x, "service", XRD_ID_TEXT_MAX, err);
		char *id = svc ? attr_text(x, "messageId", MSGID_MAX, err) : NULL;
		char *e = NULL;
		int rc = id && !x->children ? certdoc_add_source(d, svc, id, &e) : -1;

		if (e)
			fail(err, "certificate document: %s", e);
		else if (id && x->children)
			fail(err, "certificate document: <Exchange> must be empty");
		free(e);
		free(svc);
		free(id);
		if (rc != 0)
			return -1;
	}
	return rd_end(&r, "Sources");
}

/* Issuer and Subject into a head (strings owned by the caller's frees). */
struct rhead {
	char *number, *kind, *title, *inst, *cls, *code, *iname;
	char *pin, *docnum, *cit, *sname, *purpose, *issued, *until;
};

static void rhead_free(struct rhead *h)
{
	char **p = (char **)h;

	for (size_t i = 0; i < sizeof(*h) / sizeof(char *); i++)
		free(p[i]);
}

static int read_subject(struct rhead *h, xmlNodePtr s, char **err)
{
	struct rd r = { s->children, err };
	xmlNodePtr n;

	if (peek(&r, "Pin")) {
		if (!(h->pin = elem_text(next_elem(&r, "Pin"), 14, 0, err)))
			return -1;
	} else if ((n = next_elem(&r, "Document"))) {
		if (!(h->docnum = elem_text(n, DOCNUM_MAX, 0, err)) ||
		    !(h->cit = attr_text(n, "citizenship", 3, err)))
			return -1;
	} else {
		return -1;
	}
	if (!(n = next_elem(&r, "Name")) || !(h->sname = elem_text(n, CERTDOC_TEXT_MAX, 0, err)))
		return -1;
	return rd_end(&r, "Subject");
}

static int read_issuer(struct rhead *h, xmlNodePtr s, char **err)
{
	struct rd r = { s->children, err };
	xmlNodePtr n;

	if (!(h->inst = attr_text(s, "instance", XRD_PART_MAX, err)) ||
	    !(h->cls = attr_text(s, "memberClass", XRD_PART_MAX, err)) ||
	    !(h->code = attr_text(s, "memberCode", XRD_PART_MAX, err)) ||
	    !(n = next_elem(&r, "Name")) || !(h->iname = elem_text(n, CERTDOC_TEXT_MAX, 0, err)))
		return -1;
	return rd_end(&r, "Issuer");
}

static char *read_text(struct rd *r, const char *name, size_t max)
{
	xmlNodePtr n = next_elem(r, name);

	return n ? elem_text(n, max, 0, r->err) : NULL;
}

static int read_head(struct rd *r, struct rhead *h)
{
	xmlNodePtr n;

	if (!(h->number = read_text(r, "Number", CERTDOC_NUMBER_MAX)) ||
	    !(h->kind = read_text(r, "Kind", 64)) || !(h->title = read_text(r, "Title", CERTDOC_TEXT_MAX)))
		return -1;
	if (!(n = next_elem(r, "Issuer")) || read_issuer(h, n, r->err) != 0)
		return -1;
	if (!(n = next_elem(r, "Subject")) || read_subject(h, n, r->err) != 0)
		return -1;
	if (!(h->purpose = read_text(r, "Purpose", CERTDOC_TEXT_MAX)) ||
	    !(h->issued = read_text(r, "IssuedAt", TIME_XML_LEN)) ||
	    !(h->until = read_text(r, "ValidUntil", TIME_XML_LEN)))
		return -1;
	return 0;
}

/* The model from a parsed head, with certdoc_new's checks (PIN: shape only). */
static int head_to_doc(struct rhead *rh, struct certdoc **out, char **err)
{
	struct certdoc_head h = {
		.number = rh->number, .kind = rh->kind, .title = rh->title,
		.issuer_instance = rh->inst, .issuer_class = rh->cls, .issuer_code = rh->code,
		.issuer_name = rh->iname, .subject_pin = rh->pin, .subject_doc = rh->docnum,
		.subject_citizenship = rh->cit, .subject_name = rh->sname, .purpose = rh->purpose,
	};
	char *e = NULL;

	if (certdoc_time_parse(rh->issued, &h.issued_at) != 0 ||
	    certdoc_time_parse(rh->until, &h.valid_until) != 0)
		return fail(err, "certificate document: IssuedAt/ValidUntil are not of the form "
				 "2026-11-22T05:48:56Z");
	if (new_doc(&h, 0, out, &e) != 0) {
		fail(err, "certificate document: %s", e ? e : "out of memory");
		free(e);
		return -1;
	}
	return 0;
}

static int read_root(xmlNodePtr root, struct certdoc **out, char **err)
{
	struct rd r = { root->children, err };
	struct rhead h = { 0 };
	xmlChar *ver = xmlGetNoNsProp(root, (const xmlChar *)"version");
	xmlNodePtr n;
	int ok = ver && !strcmp((const char *)ver, CERTDOC_VERSION);
	int rc = -1;

	xmlFree(ver);
	if (!ok) {
		fail(err, "certificate document: not version " CERTDOC_VERSION " of the format");
		return -1;
	}
	if (read_head(&r, &h) != 0 || head_to_doc(&h, out, err) != 0)
		goto out;
	if (!(n = next_elem(&r, "Content")) || read_content(*out, n, err) != 0 ||
	    !(n = next_elem(&r, "Sources")) || read_sources(*out, n, err) != 0)
		goto out;
	skip_blank(&r);
	if (r.next && is_elem(r.next, NS_DS, "Signature"))
		r.next = r.next->next;
	if (rd_end(&r, "Certificate") != 0)
		goto out;
	/* What the writer refuses, the reader refuses too (found by fuzz_certdoc). */
	if (!has_content(*out)) {
		fail(err, "certificate document: no section holds a field or row");
		goto out;
	}
	if ((*out)->nsources == 0) {
		fail(err, "certificate document: it names no registry exchange it was built from");
		goto out;
	}
	(*out)->in_row = 0;
	rc = 0;
out:
	if (rc != 0)
		certdoc_free(out);
	rhead_free(&h);
	return rc;
}

int certdoc_parse(const char *xml, size_t len, struct certdoc **out, char **err)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	int rc = -1;

	*out = NULL;
	if (err)
		*err = NULL;
	if (!(doc = parse_xml(xml, len, err)))
		return -1;
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, CERTDOC_NS, "Certificate"))
		fail(err, "not a certificate document (root must be <Certificate> in " CERTDOC_NS ")");
	else
		rc = read_root(root, out, err);
	xmlFreeDoc(doc);
	return rc;
}

/* certdoc.h. */
int certdoc_as_issued(struct buf *out, size_t from)
{
	size_t n = out->len - from, i = 0, k = 0;
	char *s;

	if (!out->data || n == 0)
		return 0;
	s = out->data + from;

	if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		i = 3;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	for (; i < n; i++) {
		if (s[i] == '\r') {
			s[k++] = '\n';
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else {
			s[k++] = s[i];
		}
	}
	while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n'))
		k--;
	out->len = from + k;
	out->data[out->len] = '\0';
	return k > 0 ? buf_append(out, "\n", 1) : 0;
}
