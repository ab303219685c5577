/* verify_page: the public verification page (HTML) and its JSON twin.
 *
 * The page is one self-contained UTF-8 document: inline CSS, no JavaScript,
 * no external resource. It shows the verdict of docreg_check_number /
 * docreg_check_xml and two plain forms: number + digest (GET, so the QR
 * code's address VERIFY_BASE?n=...&d=... opens it directly) and an upload of
 * the XML (POST multipart/form-data: a file field "xml" and a textarea
 * "xml_text"). Everything shown is HTML-escaped.
 *
 * What the register holds about a document (subject name, purpose, dates)
 * is shown only when the digest matched - VALID, REVOKED, EXPIRED - never on
 * TAMPERED or NOT_ISSUED_HERE: numbers are sequential, so anyone can guess
 * one, but only a holder of the document knows its digest.
 *
 * No I/O, no shared state: any thread. The helpers that read a request
 * (query string, posted form) only parse the caller's bytes. */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_VERIFY_PAGE_H
#define AILGATE_ADAPTERS_CERTIFICATES_VERIFY_PAGE_H

#include <stddef.h>

#include "adapters/certificates/docreg.h"
#include "lib/buf.h"

/* What a page shows. Every pointer may be NULL (except action). */
struct verify_page {
	const char *action;                  /* where the forms go, e.g. "/verify" */
	const struct docreg_check *check;    /* the verdict to show */
	const char *error;                   /* an input problem to show instead */
	const char *number, *digest;         /* refill the form with what was typed */
};

/* Appends the page to out. 0, or -1 if out's cap is reached. */
int verify_page_html(const struct verify_page *p, struct buf *out)
	__attribute__((warn_unused_result));

/* The same as JSON: {"verdict": "valid"|..., "reason": ..., "number": ...,
 * "document": {...} (digest matched only), "signature": {...} (uploads)} or
 * {"error": ...}. 0, or -1 if out's cap is reached. */
int verify_page_json(const struct docreg_check *c, const char *error, struct buf *out)
	__attribute__((warn_unused_result));

/* Reads n= and d= from a query string ("n=...&d=...", percent-decoded,
 * '+' as space; other parameters ignored). Missing ones become "". 0, or -1
 * if a value does not fit (number: numlen, digest: diglen bytes). */
int verify_page_query(const char *query, char *number, size_t numlen, char *digest,
		      size_t diglen) __attribute__((warn_unused_result));

/* The XML posted with the upload form: the file field "xml" or, when it is
 * empty, the textarea "xml_text", from a multipart/form-data or
 * application/x-www-form-urlencoded body. Appends it to out (the caller's;
 * its cap bounds the size). 0, or -1 with a sentence for the page in why. */
int verify_page_posted_xml(const char *content_type, const char *body, size_t len,
			   struct buf *out, char *why, size_t whylen)
	__attribute__((warn_unused_result));

#endif
