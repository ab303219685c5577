/* X-Road identifiers: MEMBER, SUBSYSTEM and SERVICE, in their text forms.
 *
 *   MEMBER:INST/CLASS/CODE
 *   SUBSYSTEM:INST/CLASS/CODE/SUB
 *   SERVICE:INST/CLASS/CODE/SUB/SERVICECODE[/VERSION]
 *
 * and the "path" form used by REST headers and URLs (no type prefix):
 *   INST/CLASS/CODE[/SUB]   (X-Road-Client; MEMBER if 3 parts, SUBSYSTEM if 4)
 *
 * Parts may hold only  A-Z a-z 0-9 ' ( ) + , - . = ?  and are 1..XRD_PART_MAX-1
 * bytes. Fixed-size fields: no allocation, safe to copy by value. */
#ifndef AILGATE_PROTO_XRD_ID_H
#define AILGATE_PROTO_XRD_ID_H

#include <stddef.h>

#define XRD_PART_MAX 128
#define XRD_ID_TEXT_MAX (7 * XRD_PART_MAX + 16)

enum xrd_type { XRD_NONE = 0, XRD_MEMBER, XRD_SUBSYSTEM, XRD_SERVICE };

struct xrd_id {
	enum xrd_type type;
	char instance[XRD_PART_MAX];
	char member_class[XRD_PART_MAX];
	char member_code[XRD_PART_MAX];
	char subsystem[XRD_PART_MAX];       /* "" for a MEMBER */
	char service_code[XRD_PART_MAX];    /* SERVICE only */
	char service_version[XRD_PART_MAX]; /* SERVICE only, "" if none */
};

/* 1 if s is a valid identifier part (non-empty, allowed characters, short enough). */
int xrd_part_valid(const char *s);
/* A message id (xrd:id, X-Road-Id) the exchange can sign, log and echo:
 * UTF-8 text of XML characters with no control character (tab, CR and LF
 * included) and no DEL. Its length is the parser's to check. */
int xrd_message_id_ok(const char *s);

/* Parses "TYPE:INST/CLASS/..." into out. Returns 0, or -1 with a message in
 * err (errlen bytes) that says which part is wrong. */
int xrd_id_parse(const char *text, struct xrd_id *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Parses the path form "INST/CLASS/CODE[/SUB]" (the X-Road-Client header). */
int xrd_id_parse_path(const char *text, struct xrd_id *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Writes "TYPE:..." / "INST/CLASS/CODE[/SUB[/SERVICE[/VERSION]]]" into out
 * (XRD_ID_TEXT_MAX is always enough). Returns out. */
const char *xrd_id_format(const struct xrd_id *id, char *out, size_t outlen);
const char *xrd_id_format_path(const struct xrd_id *id, char *out, size_t outlen);

/* Exact equality of type and every part. */
int xrd_id_equal(const struct xrd_id *a, const struct xrd_id *b);
/* 1 if a and b name the same member (instance, class, code). */
int xrd_id_same_member(const struct xrd_id *a, const struct xrd_id *b);
/* 1 if a and b name the same subsystem (type ignored; member parts and subsystem equal). */
int xrd_id_same_subsystem(const struct xrd_id *a, const struct xrd_id *b);
/* 1 if two SERVICE ids are equal ignoring the version (access rights ignore it). */
int xrd_id_same_service(const struct xrd_id *a, const struct xrd_id *b);

/* The subsystem that owns a SERVICE id (type set to XRD_SUBSYSTEM). */
void xrd_id_service_owner(const struct xrd_id *service, struct xrd_id *owner);

const char *xrd_type_name(enum xrd_type t);       /* "MEMBER", ... */
enum xrd_type xrd_type_from_name(const char *s);  /* XRD_NONE if unknown */

#endif
