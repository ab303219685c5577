/* pdf: the certificate for people - an A4 PDF (libharu) with a QR code
 * (libqrencode) that carries the verification address.
 *
 * The PDF is a rendering of the certificate model (certdoc.h): title,
 * number, subject, purpose, dates, content sections, issuer, the registry
 * exchanges it was built from, and a footer saying that the legally valid
 * form is the e-signed XML, with the QR code of
 *   VERIFY_BASE?n=NUMBER&d=DIGEST
 * drawn as filled squares, the address and the digest in text. One page for
 * the usual certificate, more when the content needs them (at most
 * PDF_MAX_PAGES).
 *
 * Text is set in a TrueType font with Cyrillic and the Kyrgyz letters
 * ө ү ң (DejaVu Sans from fonts-dejavu-core, embedded, UTF-8); libharu 2.3
 * embeds the whole font (compressed), so a PDF is ~100 KiB. The font file is read on each
 * call (a few ms): CPU and file I/O, no network - call it on a worker thread,
 * not on an event loop. Thread-safe: no shared state. */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_PDF_H
#define AILGATE_ADAPTERS_CERTIFICATES_PDF_H

#include "adapters/certificates/certdoc.h"
#include "lib/buf.h"

#define PDF_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define PDF_MAX_PAGES 24   /* a household of CERTDOC_SECTION_FIELDS_MAX members fits */
/* Largest PDF written (the embedded font is most of it). */
#define PDF_MAX_BYTES (4 * 1024 * 1024)

struct pdf_opts {
	const char *font_path;     /* NULL: PDF_DEFAULT_FONT */
	const char *verify_base;   /* the verification page, e.g. "http://127.0.0.1:8080/verify"
				    * (certdoc_verify_url rules) */
	const char *revoked;       /* NULL, or why and when the register says it was revoked:
				    * printed in red above the heading, and "ОТОЗВАНА" on every page */
};

/* Renders d, whose issued XML has the digest given (CERTDOC_DIGEST_HEX form),
 * and appends the PDF to out (the caller's; cap must allow PDF_MAX_BYTES).
 * 0, or -1 with *err (caller frees): font file missing or unreadable (the
 * message names the file and the package), bad verification base, content
 * longer than PDF_MAX_PAGES pages, or a libharu/libqrencode failure. out is
 * unchanged on failure. */
int pdf_certificate(const struct certdoc *d, const char *digest, const struct pdf_opts *o,
		    struct buf *out, char **err) __attribute__((warn_unused_result));

#endif
