#include "lib/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL 3 looks up the provider's implementation on every use of
 * EVP_sha256() and friends; on the request path that lookup costs more than
 * hashing a small message. Fetch each algorithm once per process. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha512;

static void md_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

const EVP_MD *crypto_md(int bits)
{
	pthread_once(&md_once, md_fetch);
	if (bits == 256)
		return md_sha256 ? md_sha256 : EVP_sha256();
	return md_sha512 ? md_sha512 : EVP_sha512();
}

static int digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, md, NULL) == 1 ? 0 : -1;
}

int sha512(const void *data, size_t len, unsigned char *out)
{
	return digest(crypto_md(512), data, len, out);
}

int sha256(const void *data, size_t len, unsigned char *out)
{
	return digest(crypto_md(256), data, len, out);
}

/* A few inputs per thread: a gateway hashes the responses a peer carried
 * and, in turn, the ones it sends itself. */
#define REPEAT_MAX 8192
#define REPEAT_SLOTS 4
struct repeat_slot {
	size_t len;
	unsigned char out[32];
	unsigned char in[REPEAT_MAX];
};
static _Thread_local struct repeat_slot repeat[REPEAT_SLOTS] = {
	{ SIZE_MAX, { 0 }, { 0 } }, { SIZE_MAX, { 0 }, { 0 } }, { SIZE_MAX, { 0 }, { 0 } }, { SIZE_MAX, { 0 }, { 0 } },
};
static _Thread_local unsigned repeat_next;

int sha256_repeat(const void *data, size_t len, unsigned char *out)
{
	struct repeat_slot *e;

	for (unsigned i = 0; i < REPEAT_SLOTS; i++) {
		e = &repeat[i];
		if (e->len == len && memcmp(data, e->in, len) == 0) {
			memcpy(out, e->out, 32);
			return 0;
		}
	}
	if (sha256(data, len, out) < 0)
		return -1;
	if (len <= REPEAT_MAX) {
		e = &repeat[repeat_next++ % REPEAT_SLOTS];
		memcpy(e->in, data, len);
		memcpy(e->out, out, 32);
		e->len = len;
	}
	return 0;
}

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64tab[v >> 18 & 63];
		out[o++] = b64tab[v >> 12 & 63];
		out[o++] = b64tab[v >> 6 & 63];
		out[o++] = b64tab[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		out[o++] = b64tab[v >> 18 & 63];
		out[o++] = b64tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64tab[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* The reverse alphabet, built at compile time: -1 for a byte outside it. */
static const signed char b64rev[256] = {
	['A'] = 0, ['B'] = 1, ['C'] = 2, ['D'] = 3, ['E'] = 4, ['F'] = 5, ['G'] = 6, ['H'] = 7,
	['I'] = 8, ['J'] = 9, ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
	['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
	['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
	['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
	['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
	['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
	['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62, ['/'] = 63,
};

/* Strict: padding required, no whitespace, and the spare bits before '='
 * must be zero - every text decodes from exactly one byte string, so no byte
 * of a signed document can change without its digest changing. Bytes outside
 * the alphabet are 0 in the table like 'A', hence the second test. Table-driven
 * and a quantum at a time: it runs on every carried signature and OCSP header
 * (several KB per message). */
static inline int b64ok(unsigned char c)
{
	return b64rev[c] != 0 || c == 'A';
}

long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t pad = 0, full, i, o = 0;

	if (len == 0)
		return 0;
	if (len % 4)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	if (len / 4 * 3 - pad > cap)
		return -1;
	full = pad ? len - 4 : len;
	for (i = 0; i < full; i += 4) {
		unsigned char a = s[i], b = s[i + 1], c = s[i + 2], d = s[i + 3];
		if (!(b64ok(a) & b64ok(b) & b64ok(c) & b64ok(d)))
			return -1;
		unsigned w = (unsigned)b64rev[a] << 18 | (unsigned)b64rev[b] << 12 |
			     (unsigned)b64rev[c] << 6 | (unsigned)b64rev[d];
		out[o++] = (unsigned char)(w >> 16);
		out[o++] = (unsigned char)(w >> 8);
		out[o++] = (unsigned char)w;
	}
	if (pad) {
		unsigned char a = s[i], b = s[i + 1], c = s[i + 2];
		if (!b64ok(a) || !b64ok(b) || (pad == 1 && !b64ok(c)))
			return -1;
		unsigned w = (unsigned)b64rev[a] << 18 | (unsigned)b64rev[b] << 12 |
			     (pad == 1 ? (unsigned)b64rev[c] << 6 : 0);
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1; /* spare bits set */
		out[o++] = (unsigned char)(w >> 16);
		if (pad == 1)
			out[o++] = (unsigned char)(w >> 8);
	}
	return (long)o;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, unsigned char *out, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]), lo;
		if (hi < 0)
			return -1;
		lo = hexval(in[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return in[2 * len] == '\0' ? 0 : -1;
}

/* RAND_bytes costs about a microsecond a call in OpenSSL 3 (DRBG lock and
 * provider dispatch), more than formatting the id; every exchange makes
 * several ids. So each thread draws 512 bytes at a time. The gateway never
 * forks after start, so no two processes share a pool. */
#define UUID_POOL 512
static _Thread_local unsigned char uuid_pool[UUID_POOL];
static _Thread_local size_t uuid_used = UUID_POOL;

static void uuid_random(unsigned char r[16])
{
	if (uuid_used + 16 > UUID_POOL) {
		if (RAND_bytes(uuid_pool, sizeof(uuid_pool)) != 1) {
			/* RAND_bytes only fails if the CSPRNG cannot be seeded;
			 * fall back to the time-seeded libc generator rather
			 * than abort. */
			for (size_t i = 0; i < 16; i++)
				r[i] = (unsigned char)random();
			return;
		}
		uuid_used = 0;
	}
	memcpy(r, uuid_pool + uuid_used, 16);
	OPENSSL_cleanse(uuid_pool + uuid_used, 16);   /* each byte is handed out once */
	uuid_used += 16;
}

void uuid4(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t o = 0;

	uuid_random(r);
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 15];
	}
	out[o] = '\0';
}
