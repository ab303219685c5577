/* buf: a growable byte buffer with a hard size cap.
 *
 * Every buffer that holds input has a cap (style rule 5): appends that would
 * pass it fail with -1 and leave the buffer as it was. The data is always
 * NUL-terminated (not counted in len) so text can be used as a C string.
 * The caller owns the struct; buf_free() releases the storage and resets it. */
#ifndef AILGATE_LIB_BUF_H
#define AILGATE_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_NOCAP ((size_t)-1)

struct buf {
	char *data;     /* NULL until the first append */
	size_t len;
	size_t cap;     /* allocated */
	size_t limit;   /* hard cap on len; BUF_NOCAP for none */
};

#define BUF_INIT { NULL, 0, 0, BUF_NOCAP }

void buf_init(struct buf *b, size_t limit);
/* 0 on success, -1 on allocation failure or when the cap would be passed. */
int buf_append(struct buf *b, const void *data, size_t len) __attribute__((warn_unused_result));
int buf_puts(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), warn_unused_result));
/* Appends s with XML text escaping (& < > " '); what XML 1.0 cannot carry
 * at all - control bytes other than tab, LF and CR, bytes that are not valid
 * UTF-8, U+FFFE and U+FFFF - becomes U+FFFD, so the result is always
 * well-formed text (registry data with a stray control byte included). */
int buf_xml_escape(struct buf *b, const char *s) __attribute__((warn_unused_result));
/* The same for the len bytes at s, which may hold NUL bytes (a JSON string's
 * \u0000, each becoming U+FFFD like any control byte); s[len] must be a NUL,
 * as it is after a C string and a jansson string. */
int buf_xml_escape_n(struct buf *b, const char *s, size_t len) __attribute__((warn_unused_result));
/* Length (1..4) of the UTF-8 sequence at s if it is one XML 1.0 and jansson
 * both accept as a character (no overlong forms, surrogates, code points past
 * U+10FFFF, U+FFFE or U+FFFF; control bytes are the caller's to judge), else
 * 0. s must be NUL-terminated. */
size_t utf8_xml_len(const unsigned char *s);
/* The same, with the character's code point in *cp (when 0 is returned, *cp
 * is the first byte). */
size_t utf8_xml_char(const unsigned char *s, unsigned long *cp);
/* 1 if s is UTF-8 that jansson takes as a string (U+FFFE and U+FFFF
 * included, which XML refuses and JSON does not), else 0. */
int utf8_json_ok(const char *s);
/* Appends s as the inside of a JSON string (quotes not added). */
int buf_json_escape(struct buf *b, const char *s) __attribute__((warn_unused_result));
/* Room for n more bytes within the cap, for a writer that fills it itself
 * (a compressor): where they go, NULL on failure. buf_added(b, k) then
 * counts the k <= n bytes written. */
char *buf_space(struct buf *b, size_t n) __attribute__((warn_unused_result));
void buf_added(struct buf *b, size_t k);
void buf_reset(struct buf *b);            /* len = 0, keeps storage */
/* Hands the storage to the caller (caller frees with free()); buf is reset. */
char *buf_steal(struct buf *b, size_t *len);
void buf_free(struct buf *b);

#endif
