/* pdf: the certificate's PDF (libharu) with the verification QR code
 * (libqrencode).
 *
 * A small line layouter on top of libharu: a cursor y on the current page,
 * paragraphs wrapped at spaces (or inside a word that alone is wider than
 * the line), a new page when the next line would cross the bottom margin.
 * libharu reports errors through a callback; the first is kept and turned
 * into the message. */
#include "adapters/certificates/pdf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hpdf.h>
#include <hpdf_doc.h>       /* HPDF_Doc_FindFontDef: the loaded font's glyphs */
#include <hpdf_fontdef.h>
#include <qrencode.h>

#include "proto/xrd_id.h"

#define PAGE_W 595.276f
#define PAGE_H 841.89f
#define MARGIN 56.0f
#define TEXT_W (PAGE_W - 2 * MARGIN)
#define BOTTOM (MARGIN + 14.0f)   /* room for the page number */
#define QR_BOX 130.0f             /* the QR code with its quiet zone */
#define FOOTER_H (QR_BOX + 10.0f)
#define TEXT_LINE_BYTES 2048             /* bytes of one laid-out line */

struct pw {
	HPDF_Doc pdf;
	HPDF_Font font;
	HPDF_FontDef fontdef;      /* the font's glyphs: what it can draw */
	const char *missing;       /* drawn for a character it cannot: U+FFFD, or "?" */
	HPDF_Page pages[PDF_MAX_PAGES];
	int npages;
	float y;                   /* top of the next line on the current page */
	int overflow;              /* content needed more than PDF_MAX_PAGES */
	HPDF_STATUS hpdf_err, hpdf_detail;
};

static void on_error(HPDF_STATUS e, HPDF_STATUS detail, void *user)
{
	struct pw *w = user;

	if (!w->hpdf_err) {
		w->hpdf_err = e;
		w->hpdf_detail = detail;
	}
}

static int failed(const struct pw *w)
{
	return w->hpdf_err != 0 || w->overflow;
}

static HPDF_Page page(struct pw *w)
{
	return w->pages[w->npages - 1];
}

static int new_page(struct pw *w)
{
	HPDF_Page p;

	if (w->npages == PDF_MAX_PAGES) {
		w->overflow = 1;
		return -1;
	}
	if (!(p = HPDF_AddPage(w->pdf)))
		return -1;
	HPDF_Page_SetSize(p, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	w->pages[w->npages++] = p;
	w->y = PAGE_H - MARGIN;
	return 0;
}

/* Room for h points below y, or a new page. */
static int ensure(struct pw *w, float h)
{
	if (w->y - h >= BOTTOM)
		return 0;
	return new_page(w);
}

/* Bytes of the UTF-8 character at s. */
static size_t u8len(const char *s)
{
	unsigned char c = (unsigned char)*s;

	return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
}

static int has_glyph(const struct pw *w, unsigned long cp)
{
	return cp < 0x80 || (cp <= 0xffff && w->fontdef &&
			     HPDF_TTFontDef_GetGlyphid(w->fontdef, (HPDF_UINT16)cp) != 0);
}

/* s[0..len) as it is drawn, into out[cap] (NUL-terminated; what does not fit
 * is left off): a character the font has no glyph for (emoji, a script DejaVu
 * Sans lacks) becomes w->missing, so the reader sees that something is
 * there - it used to vanish. The XML keeps the text as it is. */
static size_t shown(const struct pw *w, const char *s, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned long cp;
		size_t n = utf8_xml_char((const unsigned char *)s + i, &cp);
		int drawn = n && n <= len - i && has_glyph(w, cp);

		if (!n || n > len - i)
			n = 1;   /* not a character (the text is checked: not met) */
		const char *put = drawn ? s + i : w->missing;
		size_t plen = put == s + i ? n : strlen(w->missing);

		if (o + plen >= cap)
			break;
		memcpy(out + o, put, plen);
		o += plen;
		i += n;
	}
	out[o] = '\0';
	return o;
}

static float text_width(struct pw *w, const char *s, size_t len, float size)
{
	char line[TEXT_LINE_BYTES];
	size_t n = shown(w, s, len, line, sizeof(line));
	HPDF_TextWidth tw = HPDF_Font_TextWidth(w->font, (const HPDF_BYTE *)line, (HPDF_UINT)n);

	return (float)tw.width * size / 1000.0f;
}

static void text_at(struct pw *w, float x, float baseline, float size, const char *s, size_t len)
{
	char line[TEXT_LINE_BYTES];
	HPDF_Page p = page(w);

	shown(w, s, len, line, sizeof(line));
	HPDF_Page_BeginText(p);
	HPDF_Page_SetFontAndSize(p, w->font, size);
	HPDF_Page_TextOut(p, x, baseline, line);
	HPDF_Page_EndText(p);
}

/* How many bytes of s[0..len) fit in width: whole words if possible, else
 * as many characters as fit (at least one). Widths add up (libharu does no
 * kerning), so each piece is measured once. */
static size_t fit(struct pw *w, const char *s, size_t len, float width, float size)
{
	size_t best = 0, i = 0;
	float acc = 0;

	while (i < len) {
		size_t end = i;
		float seg;

		while (end < len && s[end] == ' ')
			end++;
		while (end < len && s[end] != ' ')
			end++;
		seg = text_width(w, s + i, end - i, size);
		if (acc + seg > width)
			break;
		acc += seg;
		best = i = end;
	}
	if (best > 0)
		return best;
	for (i = 0, acc = 0; i < len;) {
		size_t n = u8len(s + i);
		float cw;

		if (n > len - i)
			n = len - i;
		cw = text_width(w, s + i, n, size);
		if (i > 0 && acc + cw > width)
			break;
		acc += cw;
		i += n;
	}
	return i;
}

/* The next line of s[0..len) in width: *pos moves past the blanks before
 * it; its length is returned, 0 at the end. */
static size_t next_line(struct pw *w, const char *s, size_t len, size_t *pos, float width, float size)
{
	while (*pos < len && s[*pos] == ' ')
		(*pos)++;
	return *pos < len ? fit(w, s + *pos, len - *pos, width, size) : 0;
}

/* A wrapped paragraph at x, width wide; lead is the line height. */
static int para(struct pw *w, float x, float width, float size, float lead, const char *s)
{
	size_t len = strlen(s), pos = 0, n;

	while (!failed(w) && (n = next_line(w, s, len, &pos, width, size)) > 0) {
		if (ensure(w, lead) != 0)
			return -1;
		text_at(w, x, w->y - size, size, s + pos, n);
		w->y -= lead;
		pos += n;
	}
	return failed(w) ? -1 : 0;
}

/* How many lines s takes in width (as para and lines_at set it), drawing
 * them from the top y at x when draw is set (no page break: the caller made
 * room). */
static int lines_at(struct pw *w, int draw, float x, float y, float width, float size, float lead,
		    const char *s)
{
	size_t len = strlen(s), pos = 0, k;
	int n = 0;

	while ((k = next_line(w, s, len, &pos, width, size)) > 0) {
		if (draw)
			text_at(w, x, y - size - (float)n * lead, size, s + pos, k);
		pos += k;
		n++;
	}
	return n;
}

/* "label" in a column label_w wide, value beside it; each wraps in its own
 * column and the pair stays on one page (a label wider than its column
 * used to run into the value). A value taller than a page runs on. */
static int kv(struct pw *w, float x, float label_w, float size, const char *label,
	      const char *value)
{
	float lead = size * 1.35f, lw = label_w - 8, vw = TEXT_W - (x - MARGIN) - label_w;
	int nl = lines_at(w, 0, 0, 0, lw, size, lead, label), nv = lines_at(w, 0, 0, 0, vw, size, lead, value);
	int n = nl > nv ? nl : nv;

	if (n < 1)
		n = 1;
	if ((float)n * lead > PAGE_H - MARGIN - BOTTOM) {
		if (ensure(w, (float)nl * lead) != 0)
			return -1;
		lines_at(w, 1, x, w->y, lw, size, lead, label);
		return para(w, x + label_w, vw, size, lead, value);
	}
	if (ensure(w, (float)n * lead) != 0)
		return -1;
	lines_at(w, 1, x, w->y, lw, size, lead, label);
	lines_at(w, 1, x + label_w, w->y, vw, size, lead, value);
	w->y -= (float)n * lead;
	return failed(w) ? -1 : 0;
}

/* The label column of a section: as wide as its widest label, within
 * [min_w, half the text width]. */
static float label_column(struct pw *w, const struct certdoc_field *f, size_t n, float size, float min_w)
{
	float col = min_w;

	for (size_t i = 0; i < n; i++) {
		float lw = text_width(w, f[i].label, strlen(f[i].label), size) + 14;

		if (lw > col)
			col = lw;
	}
	return col < TEXT_W / 2 ? col : TEXT_W / 2;
}

static void gap(struct pw *w, float h)
{
	w->y -= h;
}

/* ---- the parts --------------------------------------------------------------------- */

static int put_head(struct pw *w, const struct certdoc *d)
{
	char line[256], issued[32], until[32], subj[160];

	certdoc_time_human(d->issued_at, issued, sizeof(issued));
	certdoc_date_human(d->valid_until, until, sizeof(until));
	if (para(w, MARGIN, TEXT_W, 10, 13, d->issuer_name) != 0)
		return -1;
	gap(w, 14);
	if (para(w, MARGIN, TEXT_W, 15, 19, d->title) != 0)
		return -1;
	snprintf(line, sizeof(line), "№ %s от %s", d->number, issued);
	if (para(w, MARGIN, TEXT_W, 11, 15, line) != 0)
		return -1;
	gap(w, 10);
	if (d->subject_pin)
		snprintf(subj, sizeof(subj), "%s", d->subject_pin);
	else
		snprintf(subj, sizeof(subj), "%s (гражданство %s)", d->subject_doc,
			 d->subject_citizenship);
	if (kv(w, MARGIN, 130, 10, "Выдана:", d->subject_name) != 0 ||
	    kv(w, MARGIN, 130, 10, d->subject_pin ? "ПИН:" : "Документ:", subj) != 0 ||
	    kv(w, MARGIN, 130, 10, "Цель:", d->purpose) != 0 ||
	    kv(w, MARGIN, 130, 10, "Дата выдачи:", issued) != 0 ||
	    kv(w, MARGIN, 130, 10, "Действительна до:", until) != 0)
		return -1;
	snprintf(line, sizeof(line), "%.200s (%s/%s)", d->issuer_name, d->issuer_class,
		 d->issuer_code);
	return kv(w, MARGIN, 130, 10, "Выдал:", line);
}

/* A row as "label: value; label: value". */
static int put_row(struct pw *w, size_t idx, const struct certdoc_row *r)
{
	struct buf b;
	char num[24];
	int rc = 0;

	buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < r->n && rc == 0; i++)
		rc = buf_printf(&b, "%s%s: %s", i ? "; " : "", r->fields[i].label, r->fields[i].value);
	snprintf(num, sizeof(num), "%zu.", idx + 1);
	if (rc == 0 && ensure(w, 13) == 0) {
		text_at(w, MARGIN + 8, w->y - 9.5f, 9.5f, num, strlen(num));
		rc = para(w, MARGIN + 28, TEXT_W - 28, 9.5f, 13, b.data ? b.data : "");
	} else {
		rc = -1;
	}
	buf_free(&b);
	return rc;
}

static int put_content(struct pw *w, const struct certdoc *d)
{
	for (size_t s = 0; s < d->nsections; s++) {
		const struct certdoc_section *sec = &d->sections[s];

		gap(w, 10);
		if (ensure(w, 40) != 0 || para(w, MARGIN, TEXT_W, 11.5f, 16, sec->title) != 0)
			return -1;
		float col = label_column(w, sec->fields, sec->nfields, 10, 170);

		for (size_t i = 0; i < sec->nfields; i++)
			if (kv(w, MARGIN + 8, col, 10, sec->fields[i].label, sec->fields[i].value) != 0)
				return -1;
		for (size_t r = 0; r < sec->nrows; r++)
			if (put_row(w, r, &sec->rows[r]) != 0)
				return -1;
	}
	return 0;
}

static int put_sources(struct pw *w, const struct certdoc *d)
{
	char line[XRD_ID_TEXT_MAX + 300];

	gap(w, 10);
	if (para(w, MARGIN, TEXT_W, 7.5f, 10, "Сведения получены из реестров через систему "
		 "межведомственного обмена (идентификаторы сообщений):") != 0)
		return -1;
	for (size_t i = 0; i < d->nsources; i++) {
		snprintf(line, sizeof(line), "%s — %s", d->sources[i].service,
			 d->sources[i].message_id);
		if (para(w, MARGIN + 8, TEXT_W - 8, 7, 9.5f, line) != 0)
			return -1;
	}
	return 0;
}

/* The QR code's dark modules as filled squares, one rectangle per run. */
static int draw_qr(struct pw *w, const char *url, float x, float top)
{
	QRcode *q = QRcode_encodeString(url, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	HPDF_Page p = page(w);
	float m;

	if (!q)
		return -1;
	/* The quiet zone (4 modules each side) is the white around it. */
	m = QR_BOX / (float)(q->width + 8);
	top -= 4 * m;
	HPDF_Page_SetRGBFill(p, 0, 0, 0);
	for (int r = 0; r < q->width; r++) {
		for (int c = 0; c < q->width;) {
			int run = 0;

			while (c + run < q->width && (q->data[r * q->width + c + run] & 1))
				run++;
			if (run)
				HPDF_Page_Rectangle(p, x + (float)c * m, top - (float)(r + 1) * m,
						    (float)run * m, m);
			c += run ? run : 1;
		}
	}
	HPDF_Page_Fill(p);
	QRcode_free(q);
	return 0;
}

static int put_footer(struct pw *w, const struct certdoc *d, const char *digest,
		      const char *url)
{
	float tx = MARGIN + QR_BOX + 14, tw = TEXT_W - QR_BOX - 14, top;
	char line[700];

	gap(w, 14);
	if (ensure(w, FOOTER_H) != 0)
		return -1;
	top = w->y;
	if (draw_qr(w, url, MARGIN, top) != 0)
		return -1;
	snprintf(line, sizeof(line), "Юридическую силу имеет электронный документ (XML), "
		 "подписанный электронной подписью %.300s с отметкой времени; эта страница — его "
		 "изображение для чтения.", d->issuer_name);
	if (para(w, tx, tw, 8.5f, 11, line) != 0 ||
	    para(w, tx, tw, 8, 10.5f, "The legally valid form is the e-signed XML document; "
		 "this page is a rendering of it. Verify at:") != 0)
		return -1;
	gap(w, 3);
	if (para(w, tx, tw, 8, 10.5f, url) != 0)
		return -1;
	gap(w, 3);
	snprintf(line, sizeof(line), "Номер / number: %s", d->number);
	if (para(w, tx, tw, 8, 10.5f, line) != 0)
		return -1;
	snprintf(line, sizeof(line), "SHA-256 (XML): %s", digest);
	if (para(w, tx, tw, 8, 10.5f, line) != 0)
		return -1;
	if (w->y > top - FOOTER_H)
		w->y = top - FOOTER_H;
	return 0;
}

static void red(struct pw *w, int on)
{
	HPDF_Page_SetRGBFill(page(w), on ? 0.78f : 0, on ? 0.16f : 0, on ? 0.16f : 0);
}

/* A revoked certificate's rendering says so first, in red. */
static int put_revoked(struct pw *w, const char *revoked)
{
	char line[700];
	int rc;

	snprintf(line, sizeof(line), "СПРАВКА ОТОЗВАНА / REVOKED: %s", revoked);
	red(w, 1);
	rc = para(w, MARGIN, TEXT_W, 12, 16, line);
	red(w, 0);
	gap(w, 10);
	return rc;
}

static void page_numbers(struct pw *w, int revoked)
{
	char s[64];

	for (int i = 0; i < w->npages; i++) {
		HPDF_Page p = w->pages[i];

		snprintf(s, sizeof(s), "%sстр. %d из %d", revoked ? "ОТОЗВАНА · " : "", i + 1, w->npages);
		HPDF_Page_BeginText(p);
		HPDF_Page_SetFontAndSize(p, w->font, 8);
		HPDF_Page_TextOut(p, PAGE_W - MARGIN - HPDF_Page_TextWidth(p, s), MARGIN - 20, s);
		HPDF_Page_EndText(p);
	}
}

/* ---- the document ----------------------------------------------------------------------- */

static int setup(struct pw *w, const char *font_path, const char *number, char **err)
{
	const char *name;

	if (!(w->pdf = HPDF_New(on_error, w)))
		return -1;
	HPDF_SetCompressionMode(w->pdf, HPDF_COMP_ALL);
	HPDF_UseUTFEncodings(w->pdf);
	HPDF_SetCurrentEncoder(w->pdf, "UTF-8");
	HPDF_SetInfoAttr(w->pdf, HPDF_INFO_CREATOR, "ailgate");
	HPDF_SetInfoAttr(w->pdf, HPDF_INFO_TITLE, number);
	if (!(name = HPDF_LoadTTFontFromFile(w->pdf, font_path, HPDF_TRUE)) ||
	    !(w->font = HPDF_GetFont(w->pdf, name, "UTF-8")) || !(w->fontdef = HPDF_Doc_FindFontDef(w->pdf, name))) {
		if (err && asprintf(err, "cannot load the font %s (libharu error 0x%04lX): is it a "
				    "TrueType font?", font_path, (unsigned long)w->hpdf_err) < 0)
			*err = NULL;
		return -1;
	}
	w->missing = has_glyph(w, 0xfffd) ? "\xef\xbf\xbd" : "?";
	return new_page(w);
}

static int save(struct pw *w, struct buf *out)
{
	HPDF_UINT32 size;
	size_t old = out->len;

	if (HPDF_SaveToStream(w->pdf) != HPDF_OK)
		return -1;
	size = HPDF_GetStreamSize(w->pdf);
	if (size == 0 || size > PDF_MAX_BYTES)
		return -1;
	while (size > 0) {
		HPDF_BYTE chunk[16384];
		HPDF_UINT32 n = sizeof(chunk);
		HPDF_STATUS st = HPDF_ReadFromStream(w->pdf, chunk, &n);

		if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || n == 0 || buf_append(out, chunk, n)) {
			out->len = old;
			return -1;
		}
		size -= n < size ? n : size;
	}
	return 0;
}

static int layout(struct pw *w, const struct certdoc *d, const char *digest, const char *url,
		  const char *revoked)
{
	if ((revoked && put_revoked(w, revoked) != 0) || put_head(w, d) != 0 || put_content(w, d) != 0 ||
	    put_sources(w, d) != 0 || put_footer(w, d, digest, url) != 0)
		return -1;
	page_numbers(w, revoked != NULL);
	return failed(w) ? -1 : 0;
}

int pdf_certificate(const struct certdoc *d, const char *digest, const struct pdf_opts *o,
		    struct buf *out, char **err)
{
	const char *font = o && o->font_path ? o->font_path : PDF_DEFAULT_FONT;
	char url[1024];
	struct pw w;
	size_t old = out->len;
	int rc = -1;

	if (err)
		*err = NULL;
	memset(&w, 0, sizeof(w));
	if (!o || certdoc_verify_url(o->verify_base, d->number, digest, url, sizeof(url)) != 0) {
		if (err && asprintf(err, "cannot make the PDF: the verification address '%s' is not "
				    "an http(s) URL without '?' and '#'",
				    o && o->verify_base ? o->verify_base : "(none)") < 0)
			*err = NULL;
		return -1;
	}
	if (access(font, R_OK) != 0) {
		if (err && asprintf(err, "cannot make the PDF: font file %s not found or not "
				    "readable (install fonts-dejavu-core: ops/deps.sh)", font) < 0)
			*err = NULL;
		return -1;
	}
	if (setup(&w, font, d->number, err) != 0)
		goto out;
	if (layout(&w, d, digest, url, o->revoked) != 0 || save(&w, out) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0 && err && !*err) {
		if (w.overflow)
			rc = asprintf(err, "cannot make the PDF: certificate %s needs more than %d "
				      "pages", d->number, PDF_MAX_PAGES);
		else
			rc = asprintf(err, "cannot make the PDF: libharu error 0x%04lX (detail %lu)",
				      (unsigned long)w.hpdf_err, (unsigned long)w.hpdf_detail);
		if (rc < 0)
			*err = NULL;
		rc = -1;
	}
	if (rc != 0) {
		out->len = old;
		if (out->data)
			out->data[old] = '\0';
	}
	if (w.pdf)
		HPDF_Free(w.pdf);
	return rc;
}
