/* Small hashing, encoding and id helpers on top of OpenSSL. No state. */
#ifndef AILGATE_LIB_CRYPTO_H
#define AILGATE_LIB_CRYPTO_H

#include <stddef.h>

#define SHA512_LEN 64
#define SHA256_LEN 32
/* base64 of a 64-byte digest is 88 characters; +1 for NUL. */
#define B64_SHA512_LEN 89
#define UUID_STR_LEN 37

struct evp_md_st;
/* SHA-256 (bits 256) or SHA-512 (512), fetched once per process. Borrowed. */
const struct evp_md_st *crypto_md(int bits);

/* out must hold SHA512_LEN bytes. Returns 0, or -1 if OpenSSL fails. */
int sha512(const void *data, size_t len, unsigned char *out) __attribute__((warn_unused_result));
int sha256(const void *data, size_t len, unsigned char *out) __attribute__((warn_unused_result));
/* sha256 for data that repeats byte for byte from call to call (the OCSP
 * responses carried with every message of a sender): each thread keeps its
 * last four inputs of up to 8 KB with their digests and compares before
 * hashing. */
int sha256_repeat(const void *data, size_t len, unsigned char *out) __attribute__((warn_unused_result));

/* Standard base64 (with padding, no newlines) of len bytes into out, which must
 * hold 4*((len+2)/3)+1 bytes. Returns the length written (without NUL). */
size_t b64_encode(const unsigned char *in, size_t len, char *out);
/* Decodes standard base64 (padding required, whitespace and non-zero spare bits
 * refused, so each text has one meaning). Returns the
 * decoded length, or -1 on bad input or when out (cap bytes) is too small. */
long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Lowercase hex of len bytes; out holds 2*len+1. */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* Parses exactly 2*len hex digits (any case); 0 on success, -1 otherwise. */
int hex_decode(const char *in, unsigned char *out, size_t len);

/* A random (version 4) UUID in canonical lowercase form; out holds UUID_STR_LEN. */
void uuid4(char *out);

#endif
