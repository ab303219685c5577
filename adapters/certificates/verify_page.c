/* verify_page: the verification page, its JSON form, and reading the forms. */
#include "adapters/certificates/verify_page.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "proto/mime.h"

/* ---- HTML ---------------------------------------------------------------------------- */

static const char css[] =
	"body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:46em;margin:1.5em auto;"
	"padding:0 1em;color:#1d1d1d;line-height:1.45}"
	"h1{font-size:1.45em;margin-bottom:.1em}.en{color:#666;font-size:.9em}"
	".v{padding:.8em 1.1em;border:2px solid;border-radius:6px;margin:1.2em 0}"
	".v h2{margin:.1em 0 .4em;font-size:1.25em}"
	".valid{background:#e9f6ec;border-color:#2e7d32}"
	".revoked,.tampered{background:#fdecea;border-color:#c62828}"
	".expired,.not_issued_here,.not_a_certificate,.error{background:#fff4e5;border-color:#ef6c00}"
	"table{border-collapse:collapse}td{padding:.2em .7em .2em 0;vertical-align:top}"
	"td:first-child{color:#555;white-space:nowrap}"
	"label{display:block;margin:.7em 0 .2em}"
	"input[type=text],textarea{width:100%;box-sizing:border-box;font-family:monospace;"
	"font-size:.95em;padding:.35em}textarea{height:7em}"
	"button{margin-top:.8em;padding:.45em 1.4em;font-size:1em}"
	"form{border-top:1px solid #ddd;padding-top:.6em}code{font-size:.9em}";

/* Headline per verdict: Russian, then English. */
static const char *headline(enum docreg_verdict v)
{
	switch (v) {
	case DOCREG_VALID: return "Справка действительна";
	case DOCREG_REVOKED: return "Справка отозвана";
	case DOCREG_EXPIRED: return "Срок действия справки истёк";
	case DOCREG_NOT_ISSUED_HERE: return "Такая справка здесь не выдавалась";
	case DOCREG_TAMPERED: return "Документ изменён или поддельный";
	case DOCREG_NOT_A_CERTIFICATE: return "Это не подписанная электронная справка";
	}
	return "?";
}

static const char *headline_en(enum docreg_verdict v)
{
	switch (v) {
	case DOCREG_VALID: return "Valid";
	case DOCREG_REVOKED: return "Revoked";
	case DOCREG_EXPIRED: return "Expired";
	case DOCREG_NOT_ISSUED_HERE: return "Not issued here";
	case DOCREG_TAMPERED: return "Tampered with";
	case DOCREG_NOT_A_CERTIFICATE: return "Not a signed certificate";
	}
	return "?";
}

/* 1 when the digest matched the register: its data may be shown. */
static int matched(const struct docreg_check *c)
{
	return c->found && (c->verdict == DOCREG_VALID || c->verdict == DOCREG_REVOKED ||
			    c->verdict == DOCREG_EXPIRED);
}

static int esc(struct buf *b, const char *s)
{
	return buf_xml_escape(b, s ? s : "");
}

static int row(struct buf *b, const char *label, const char *value)
{
	int rc = buf_printf(b, "<tr><td>%s</td><td>", label);

	rc |= esc(b, value);
	rc |= buf_puts(b, "</td></tr>");
	return rc ? -1 : 0;
}

static int entry_rows(struct buf *b, const struct docreg_entry *e)
{
	const struct certdoc_kind *k = certdoc_kind_find(e->kind);
	char t[32], u[32];
	int rc;

	certdoc_time_human(e->issued_at, t, sizeof(t));
	certdoc_date_human(e->valid_until, u, sizeof(u));
	rc = row(b, "Номер / number", e->number);
	rc |= row(b, "Вид / kind", k ? k->title : e->kind);
	rc |= row(b, "Кому / subject", e->subject_name);
	rc |= row(b, "Цель / purpose", e->purpose);
	rc |= row(b, "Выдана / issued", t);
	rc |= row(b, "Действительна до / valid until", u);
	rc |= row(b, "Выдал (код) / issuer code", e->issuer_code);
	rc |= row(b, "SHA-256", e->digest);
	if (e->revoked) {
		certdoc_time_human(e->revoked_at, t, sizeof(t));
		rc |= row(b, "Отозвана / revoked", t);
		rc |= row(b, "Причина / reason", e->revoke_reason);
	}
	return rc ? -1 : 0;
}

static int sig_rows(struct buf *b, const struct docsign_result *s)
{
	char member[2 * XRD_PART_MAX + DOCSIGN_NAME_MAX + 8], t[32];
	int rc;

	if (s->status != DOCSIGN_VALID)
		return 0;
	snprintf(member, sizeof(member), "%s (%s/%s)", s->signer_name, s->member_class,
		 s->member_code);
	certdoc_time_human(s->signing_time.tv_sec, t, sizeof(t));
	rc = row(b, "Подпись / signed by", member);
	rc |= row(b, "Время подписи / signing time", t);
	if (s->stamped) {
		certdoc_time_human((time_t)(s->stamp_time_ms / 1000), t, sizeof(t));
		rc |= row(b, "Отметка времени / time stamp", t);
	}
	return rc ? -1 : 0;
}

static int put_verdict(struct buf *b, const struct docreg_check *c)
{
	const char *name = docreg_verdict_name(c->verdict);
	int rc = buf_printf(b, "<div class=\"v %s\"><h2>%s <span class=\"en\">/ %s</span></h2><p>",
			    name, headline(c->verdict), headline_en(c->verdict));

	rc |= esc(b, c->reason);
	rc |= buf_puts(b, "</p>");
	if (matched(c) || (c->xml_checked && c->sig.status == DOCSIGN_VALID)) {
		rc |= buf_puts(b, "<table>");
		if (matched(c))
			rc |= entry_rows(b, &c->entry);
		if (c->xml_checked)
			rc |= sig_rows(b, &c->sig);
		rc |= buf_puts(b, "</table>");
	}
	rc |= buf_puts(b, "</div>\n");
	return rc ? -1 : 0;
}

static int put_forms(struct buf *b, const struct verify_page *p)
{
	int rc = buf_puts(b, "<h2>Проверить по номеру и отпечатку <span class=\"en\">/ by number "
			     "and digest</span></h2>\n<form method=\"get\" action=\"");

	rc |= esc(b, p->action);
	rc |= buf_puts(b, "\"><label for=\"n\">Номер справки / certificate number</label>"
			  "<input type=\"text\" id=\"n\" name=\"n\" maxlength=\"47\" "
			  "placeholder=\"70000050-2026-000123\" value=\"");
	rc |= esc(b, p->number);
	rc |= buf_puts(b, "\"><label for=\"d\">Цифровой отпечаток SHA-256 (64 знака) / digest"
			  "</label><input type=\"text\" id=\"d\" name=\"d\" maxlength=\"64\" value=\"");
	rc |= esc(b, p->digest);
	rc |= buf_puts(b, "\"><button type=\"submit\">Проверить / verify</button></form>\n"
			  "<h2>Проверить файл XML <span class=\"en\">/ upload the XML</span></h2>\n"
			  "<form method=\"post\" enctype=\"multipart/form-data\" action=\"");
	rc |= esc(b, p->action);
	rc |= buf_puts(b, "\"><label for=\"x\">Файл / file</label>"
			  "<input type=\"file\" id=\"x\" name=\"xml\" "
			  "accept=\".xml,application/xml,text/xml\">"
			  "<label for=\"t\">или вставьте текст документа / or paste it</label>"
			  "<textarea id=\"t\" name=\"xml_text\"></textarea>"
			  "<button type=\"submit\">Проверить / verify</button></form>\n");
	return rc ? -1 : 0;
}

int verify_page_html(const struct verify_page *p, struct buf *out)
{
	size_t old = out->len;
	int rc = buf_printf(out, "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			    "<title>Проверка справки / certificate verification</title>"
			    "<style>%s</style></head>\n<body>\n<h1>Проверка электронной справки</h1>"
			    "<div class=\"en\">Verification of an e-signed certificate</div>\n", css);

	if (p->error) {
		rc |= buf_puts(out, "<div class=\"v error\"><h2>Проверка не выполнена <span "
				    "class=\"en\">/ not checked</span></h2><p>");
		rc |= esc(out, p->error);
		rc |= buf_puts(out, "</p></div>\n");
	} else if (p->check) {
		rc |= put_verdict(out, p->check);
	}
	rc |= put_forms(out, p);
	rc |= buf_puts(out, "<p class=\"en\">Юридическую силу имеет электронный документ (XML) с "
			    "электронной подписью. The legally valid form is the e-signed XML: it "
			    "can also be checked offline with <code>xmlsec1 --verify</code> and "
			    "<code>openssl ts -verify</code>.</p>\n</body></html>\n");
	if (rc) {
		out->len = old;
		if (out->data)
			out->data[old] = '\0';
		return -1;
	}
	return 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static json_t *entry_json(const struct docreg_entry *e)
{
	char t[32], u[32], r[32];
	json_t *o;

	certdoc_time_xml(e->issued_at, t, sizeof(t));
	certdoc_time_xml(e->valid_until, u, sizeof(u));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "number", e->number,
		      "kind", e->kind, "issuer_code", e->issuer_code, "subject_name",
		      e->subject_name, "purpose", e->purpose, "issued_at", t, "valid_until", u,
		      "digest", e->digest);
	if (o && e->revoked) {
		certdoc_time_xml(e->revoked_at, r, sizeof(r));
		json_object_set_new(o, "revoked_at", json_string(r));
		json_object_set_new(o, "revoke_reason", json_string(e->revoke_reason));
	}
	return o;
}

static json_t *sig_json(const struct docsign_result *s)
{
	char t[32], st[32];
	json_t *o;

	certdoc_time_xml(s->signing_time.tv_sec, t, sizeof(t));
	o = json_pack("{s:s, s:s}", "status", docsign_status_name(s->status), "reason", s->reason);
	if (o && s->status == DOCSIGN_VALID) {
		json_object_set_new(o, "member_class", json_string(s->member_class));
		json_object_set_new(o, "member_code", json_string(s->member_code));
		json_object_set_new(o, "signer_name", json_string(s->signer_name));
		json_object_set_new(o, "signing_time", json_string(t));
		if (s->stamped) {
			certdoc_time_xml((time_t)(s->stamp_time_ms / 1000), st, sizeof(st));
			json_object_set_new(o, "time_stamp", json_string(st));
		}
	}
	return o;
}

static json_t *check_json(const struct docreg_check *c)
{
	json_t *o = json_pack("{s:s, s:s}", "verdict", docreg_verdict_name(c->verdict), "reason",
			      c->reason);

	if (!o)
		return NULL;
	if (c->found || c->xml_checked)
		json_object_set_new(o, "digest", json_string(c->digest));
	if (matched(c))
		json_object_set_new(o, "document", entry_json(&c->entry));
	if (c->xml_checked)
		json_object_set_new(o, "signature", sig_json(&c->sig));
	return o;
}

int verify_page_json(const struct docreg_check *c, const char *error, struct buf *out)
{
	json_t *o = error || !c ? json_pack("{s:s}", "error", error ? error : "nothing to verify")
				: check_json(c);
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int rc = s && buf_puts(out, s) == 0 && buf_puts(out, "\n") == 0 ? 0 : -1;

	free(s);
	json_decref(o);
	return rc;
}

/* ---- reading the forms ----------------------------------------------------------------- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..len) ('+' is a space) and appends it to out. A '%'
 * not followed by two hex digits stays as it is. 0, or -1 at the cap. */
static int url_decode(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (buf_append(out, &c, 1) != 0)
			return -1;
	}
	return 0;
}

/* The value of name in an urlencoded string, decoded into out; 1 if found,
 * 0 if not, -1 at out's cap. */
static int form_value(const char *q, size_t len, const char *name, struct buf *out)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		const char *amp = memchr(q + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - q) : len;

		if (end - i > nl && !memcmp(q + i, name, nl) && q[i + nl] == '=')
			return url_decode(q + i + nl + 1, end - i - nl - 1, out) ? -1 : 1;
		i = end + 1;
	}
	return 0;
}

static int query_field(const char *q, const char *name, char *out, size_t outlen)
{
	struct buf b;
	int rc;

	buf_init(&b, outlen - 1);
	rc = form_value(q, strlen(q), name, &b);
	snprintf(out, outlen, "%s", rc == 1 && b.data ? b.data : "");
	buf_free(&b);
	return rc < 0 ? -1 : 0;
}

int verify_page_query(const char *query, char *number, size_t numlen, char *digest,
		      size_t diglen)
{
	const char *q = query ? query : "";

	if (numlen < 2 || diglen < 2)
		return -1;
	if (query_field(q, "n", number, numlen) != 0 || query_field(q, "d", digest, diglen) != 0)
		return -1;
	return 0;
}

/* The name="..." of a part's Content-Disposition: form-data header. */
static int part_name(const char *h, size_t hlen, char *name, size_t namelen)
{
	const char *p = h, *end = h + hlen;

	name[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (ll > 20 && !strncasecmp(p, "content-disposition:", 20)) {
			const char *n = memmem(p, ll, "name=\"", 6), *q;

			/* "filename=" also contains name=": skip a match preceded by 'e'. */
			while (n && n > p && n[-1] == 'e')
				n = memmem(n + 6, ll - (size_t)(n + 6 - p), "name=\"", 6);
			if (n && (q = memchr(n + 6, '"', ll - (size_t)(n + 6 - p))) &&
			    (size_t)(q - n - 6) < namelen) {
				memcpy(name, n + 6, (size_t)(q - n - 6));
				name[q - n - 6] = '\0';
				return 0;
			}
		}
		p += ll + 1;
	}
	return -1;
}

struct field {
	const char *data;
	size_t len;
};

/* The "xml" and "xml_text" parts of a multipart/form-data body. */
static int multipart_fields(const char *boundary, const char *body, size_t len,
			    struct field *file, struct field *text, char *why, size_t whylen)
{
	char delim[MIME_BOUNDARY_MAX + 5];
	size_t dl = (size_t)snprintf(delim, sizeof(delim), "\n--%s", boundary);
	const char *p = body, *end = body + len, *next;
	char name[64];

	/* The first delimiter may start the body (no preceding line end). */
	if (len >= dl - 1 && !memcmp(body, delim + 1, dl - 1)) {
		p = body + dl - 1;
	} else if ((p = memmem(body, len, delim, dl)) != NULL) {
		p += dl;
	} else {
		snprintf(why, whylen, "the upload is not a valid form (no boundary)");
		return -1;
	}
	for (int parts = 0; parts < 16; parts++) {
		const char *hdr_end;

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0;   /* the closing delimiter */
		if (!(hdr_end = memmem(p, (size_t)(end - p), "\n\r\n", 3)) &&
		    !(hdr_end = memmem(p, (size_t)(end - p), "\n\n", 2)))
			break;
		next = memmem(hdr_end, (size_t)(end - hdr_end), delim, dl);
		if (!next)
			break;
		if (part_name(p, (size_t)(hdr_end - p), name, sizeof(name)) == 0) {
			const char *data = hdr_end + (hdr_end[1] == '\r' ? 3 : 2);
			size_t dlen = (size_t)(next - data);

			if (dlen > 0 && next[-1] == '\r')
				dlen--;
			if (!strcmp(name, "xml"))
				*file = (struct field){ data, dlen };
			else if (!strcmp(name, "xml_text"))
				*text = (struct field){ data, dlen };
		}
		p = next + dl;
	}
	snprintf(why, whylen, "the upload is not a valid form (a part is not terminated, or "
		 "too many parts)");
	return -1;
}

static int posted_multipart(const struct mime_type *mt, const char *body, size_t len,
			    struct buf *out, char *why, size_t whylen)
{
	struct field file = { NULL, 0 }, text = { NULL, 0 };
	const struct field *f;
	size_t old = out->len;

	if (!mt->boundary[0]) {
		snprintf(why, whylen, "the upload is not a valid form (no boundary)");
		return -1;
	}
	if (multipart_fields(mt->boundary, body, len, &file, &text, why, whylen) != 0)
		return -1;
	f = file.len ? &file : &text;
	if (!f->len) {
		snprintf(why, whylen, "choose the XML file of the certificate or paste its text");
		return -1;
	}
	if (buf_append(out, f->data, f->len) != 0) {
		snprintf(why, whylen, "the uploaded document is too large");
		return -1;
	}
	if (f == &text && certdoc_as_issued(out, out->len - f->len) != 0) {
		snprintf(why, whylen, "the uploaded document is too large");
		return -1;
	}
	if (f == &text && out->len == old) {
		snprintf(why, whylen, "choose the XML file of the certificate or paste its text");
		return -1;
	}
	return 0;
}

int verify_page_posted_xml(const char *content_type, const char *body, size_t len,
			   struct buf *out, char *why, size_t whylen)
{
	struct mime_type mt;
	size_t old = out->len;
	int rc;

	if (!content_type || mime_parse_type(content_type, &mt) != 0) {
		snprintf(why, whylen, "the upload has no usable Content-Type");
		return -1;
	}
	if (!strcmp(mt.type, "multipart/form-data"))
		return posted_multipart(&mt, body ? body : "", body ? len : 0, out, why, whylen);
	if (strcmp(mt.type, "application/x-www-form-urlencoded") != 0) {
		snprintf(why, whylen, "send the form as multipart/form-data or "
			 "application/x-www-form-urlencoded");
		return -1;
	}
	rc = form_value(body ? body : "", body ? len : 0, "xml_text", out);
	if (rc == 1 && certdoc_as_issued(out, old) != 0)
		rc = -1;
	if (rc == 1 && out->len > old)
		return 0;
	out->len = old;
	if (out->data)
		out->data[old] = '\0';
	snprintf(why, whylen, rc < 0 ? "the uploaded document is too large" :
		 "paste the text of the XML document");
	return -1;
}
