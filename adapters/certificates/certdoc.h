/* certdoc: the e-signed certificate document - its model, its XML, its
 * number and digest.
 *
 * A certificate ("household composition", "place of residence", ...) is one
 * XML document in the namespace urn:ailgate:certificate:1 (format and rules:
 * adapters/certificates/README.md): number, kind, issuer, subject, purpose,
 * issue time, validity, content, and the X-Road message ids of the registry
 * exchanges it was composed from; signed by docsign (trust/docsign.h) with the
 * issuer's key and time-stamped. Its content is a small generic model -
 * sections holding fields (name, label, value) and rows of fields - so the
 * composing adapter (certificates.c) fills it from registry JSON without a
 * schema per kind.
 *
 * Building:
 *   struct certdoc *d; certdoc_new(&head, &d, &err);
 *   certdoc_add_section(d, "household", "Хозяйство", &err);
 *   certdoc_add_field(d, "household_id", "Номер хозяйства", "LBD-0001", &err);
 *   certdoc_add_row(d, &err); certdoc_add_field(d, ...);          (a table row)
 *   certdoc_add_json_rows(d, members_array, labels, n, &err);     (from registry JSON)
 *   certdoc_add_source(d, "central-server/GOV/70000050/sanaripaymak-service/family-members",
 *                      message_id, &err);
 *   certdoc_sign_stamp(d, key, tsa, &xml, digest, &err);           (blocking: TSA)
 * Reading back: certdoc_parse() fills the same model from a (signed) document.
 *
 * The model is plain data: read its fields directly; change it only through
 * these functions. A struct certdoc is not shared between threads while it
 * is being built. Nothing here blocks except certdoc_sign_stamp (documented). */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_CERTDOC_H
#define AILGATE_ADAPTERS_CERTIFICATES_CERTDOC_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"
#include "trust/keys.h"

struct tsa_client;   /* store/tsa.h */

#define CERTDOC_NS "urn:ailgate:certificate:1"
#define CERTDOC_VERSION "1"
/* "70000050-2026-000123": member code, year, sequence (6+ digits). */
#define CERTDOC_NUMBER_MAX 48
/* The document digest: lowercase hex SHA-256 of the exact bytes of the issued
 * (signed and stamped) document - what `sha256sum doc.xml` prints. */
#define CERTDOC_DIGEST_HEX 65
/* Caps on the model (an input we refuse rather than truncate). */
#define CERTDOC_TEXT_MAX 1024      /* bytes of any one text value */
#define CERTDOC_NAME_MAX 64        /* bytes of a field or section name */
#define CERTDOC_SECTIONS_MAX 32
#define CERTDOC_FIELDS_MAX 64      /* per row */
#define CERTDOC_ROWS_MAX 500       /* per section */
#define CERTDOC_SECTION_FIELDS_MAX 500   /* the fields of a section (a household's members) */
#define CERTDOC_SOURCES_MAX 64
/* Largest unsigned document certdoc_render writes (docsign adds ~10 KiB). */
#define CERTDOC_XML_MAX (512 * 1024)
/* Dates shown to people and the year in the number are Kyrgyzstan time
 * (UTC+6 all year); the XML holds UTC. */
#define CERTDOC_TZ_OFFSET_S (6 * 3600)

/* The kinds of issue 5 (domain.md), with the title printed when the head
 * gives none. */
struct certdoc_kind {
	const char *code;    /* "household-composition", ... */
	const char *title;   /* "Справка о составе семьи", ... */
};
extern const struct certdoc_kind certdoc_kinds[];
extern const size_t certdoc_kinds_count;
/* The kind with this code, or NULL. */
const struct certdoc_kind *certdoc_kind_find(const char *code);

struct certdoc_field {
	char *name;     /* machine key: 1..64 of [A-Za-z0-9_.-] */
	char *label;    /* for people (UTF-8) */
	char *value;    /* UTF-8, may be "" */
};

struct certdoc_row {
	struct certdoc_field *fields;
	size_t n;
};

struct certdoc_section {
	char *name;                     /* machine key, as a field name */
	char *title;                    /* for people */
	struct certdoc_field *fields;   /* shown first */
	size_t nfields;
	struct certdoc_row *rows;       /* then the rows (a table) */
	size_t nrows;
};

struct certdoc_source {
	char *service;      /* X-Road path form INST/CLASS/CODE/SUB/SERVICE[/VERSION] */
	char *message_id;   /* the exchange's X-Road message id */
};

struct certdoc {
	char *number;
	char *kind, *title;
	char *issuer_instance, *issuer_class, *issuer_code, *issuer_name;
	char *subject_pin;                  /* NULL when identified by a document */
	char *subject_doc, *subject_citizenship;   /* NULL when by PIN */
	char *subject_name;                 /* Cyrillic as registered */
	char *purpose;
	time_t issued_at, valid_until;      /* UTC seconds */
	struct certdoc_section *sections;
	size_t nsections;
	struct certdoc_source *sources;
	size_t nsources;
	/* builder state: where certdoc_add_field puts the next field */
	int in_row;
};

/* What certdoc_new needs. Strings are copied. */
struct certdoc_head {
	const char *number;                 /* from docreg_next_number() */
	const char *kind;                   /* a code of certdoc_kinds */
	const char *title;                  /* NULL: the kind's title */
	const char *issuer_instance, *issuer_class, *issuer_code;   /* the issuing member */
	const char *issuer_name;
	const char *subject_pin;            /* a well-formed PIN (pin_check), or NULL and: */
	const char *subject_doc;            /* identity document number (1..32 of A-Z 0-9 -) */
	const char *subject_citizenship;    /* ISO 3166-1 alpha-3, e.g. KAZ */
	const char *subject_name;
	const char *purpose;                /* what the citizen needs it for (1..1024 bytes) */
	time_t issued_at;                   /* 0: now */
	time_t valid_until;                 /* after issued_at */
};

/* A new document with its head checked: the number's form and that its
 * member code is the issuer's, the kind, identifiers, the subject (a PIN, or
 * document number and citizenship, never both), texts (valid UTF-8, no
 * control characters, within the caps), the validity. 0 with *out (free with
 * certdoc_free), or -1 with *err (caller frees) naming the field. */
int certdoc_new(const struct certdoc_head *h, struct certdoc **out, char **err)
	__attribute__((warn_unused_result));
/* Frees everything and sets *d to NULL. NULL-safe. */
void certdoc_free(struct certdoc **d);

/* Content. A section becomes the current one; fields go to the current
 * section, or to the current row once certdoc_add_row has been called (until
 * the next section). label NULL: the name. value NULL: "". Each returns 0, or
 * -1 with *err (caller frees) when a value is not acceptable text or a cap is
 * reached; the document is unchanged then. */
int certdoc_add_section(struct certdoc *d, const char *name, const char *title, char **err)
	__attribute__((warn_unused_result));
int certdoc_add_row(struct certdoc *d, char **err) __attribute__((warn_unused_result));
int certdoc_add_field(struct certdoc *d, const char *name, const char *label, const char *value,
		      char **err) __attribute__((warn_unused_result));

/* From registry JSON: which keys to show, in this order, with their labels. */
struct certdoc_label {
	const char *key;
	const char *label;
};
/* Adds one field per labels[i] whose key obj (a JSON object) holds with a
 * string, integer or real value (true/false become "да"/"нет"; null, absent
 * and arrays/objects are skipped), to the current section or row. */
int certdoc_add_json(struct certdoc *d, const json_t *obj, const struct certdoc_label *labels,
		     size_t n, char **err) __attribute__((warn_unused_result));
/* One row per object of arr (a JSON array; other elements are an error),
 * each filled as certdoc_add_json does. */
int certdoc_add_json_rows(struct certdoc *d, const json_t *arr,
			  const struct certdoc_label *labels, size_t n, char **err)
	__attribute__((warn_unused_result));

/* A registry exchange the content came from (service: X-Road path form). */
int certdoc_add_source(struct certdoc *d, const char *service, const char *message_id,
		       char **err) __attribute__((warn_unused_result));

/* Appends the unsigned document (UTF-8, XML declaration, indented) to out
 * (the caller's; cap must allow CERTDOC_XML_MAX). 0, or -1 with *err. */
int certdoc_render(const struct certdoc *d, struct buf *out, char **err)
	__attribute__((warn_unused_result));

/* Renders, signs with k (trust/docsign.h) and, with tsa not NULL,
 * time-stamps the document; appends the issued document to out and writes
 * its digest. BLOCKS for the TSA round trip (tsa_stamp): call it on a worker
 * thread, never on an event loop; a tsa_client is not shared between threads.
 * 0, or -1 with *err (caller frees) - out is then unchanged. */
int certdoc_sign_stamp(const struct certdoc *d, const struct signing_key *k,
		       struct tsa_client *tsa, struct buf *out, char digest[CERTDOC_DIGEST_HEX],
		       char **err) __attribute__((warn_unused_result));

/* Reads a document back (signed or not; the signature is not checked here:
 * docsign_verify does that): every element of the format, strictly (unknown
 * or missing elements, bad values -> error). 0 with *out (certdoc_free), or
 * -1 with *err (caller frees). */
int certdoc_parse(const char *xml, size_t len, struct certdoc **out, char **err)
	__attribute__((warn_unused_result));

/* 1 if s (NUL-terminated) is text a document may hold: UTF-8, no control
 * characters (C0, DEL, C1), no surrogates or U+FFFE/U+FFFF - the rule the
 * document's own fields are checked by, so a request that passes it is not
 * refused later, after the registries were asked. */
int certdoc_text_ok(const char *s);
/* The document digest (see CERTDOC_DIGEST_HEX) of len bytes. */
void certdoc_digest(const void *xml, size_t len, char out[CERTDOC_DIGEST_HEX]);

/* A copy of a certificate as the issued file has it: UTF-8 without a byte
 * order mark, LF line ends, no leading blanks, one final LF (certdoc_build).
 * Browsers send a textarea's line ends as CRLF, editors add a BOM or drop
 * the final line end; none of this is under the signature, but the
 * register's digest is of the file's exact bytes, so a genuine certificate
 * so copied read as changed. out->data[from..] is put back in that form in
 * place. 0, or -1 (out's cap). */
int certdoc_as_issued(struct buf *out, size_t from);
/* 1 if s is 64 hex digits (lower case or upper; folded to lower in place). */
int certdoc_digest_ok(char *s);

/* Numbers: "CODE-YEAR-SEQ", SEQ zero-padded to 6 digits. format: 0, or -1
 * if code is not 1..20 of [A-Za-z0-9], year outside 2000..9999 or seq outside
 * 1..999999999. parse: 0 with the parts (code_out holds 21 bytes), or -1. */
int certdoc_number_format(const char *code, int year, long seq, char *out, size_t outlen);
int certdoc_number_parse(const char *number, char *code_out, int *year, long *seq);

/* The year of t in Kyrgyzstan time (the number's year). */
int certdoc_year(time_t t);
/* t as "22.11.2026 11:48" (Kyrgyzstan time) / "22.11.2026", for people. */
void certdoc_time_human(time_t t, char *out, size_t outlen);
void certdoc_date_human(time_t t, char *out, size_t outlen);
/* t as "2026-11-22T05:48:56Z" (the XML form); parse: 0 or -1. */
void certdoc_time_xml(time_t t, char *out, size_t outlen);
int certdoc_time_parse(const char *s, time_t *out);

/* The verification address the QR code carries: base + "?n=NUMBER&d=DIGEST"
 * (base e.g. "http://127.0.0.1:8080/verify"; printable ASCII, no '?' or '#').
 * 0, or -1 if it does not fit or base is not acceptable. */
int certdoc_verify_url(const char *base, const char *number, const char *digest, char *out,
		       size_t outlen);

#endif
