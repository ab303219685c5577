#include "lib/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
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

static int b64val(char c)
{
	unsigned char u = (unsigned char)c;

	if (u >= 'A' && u <= 'Z')
		return u - 'A';
	if (u >= 'a' && u <= 'z')
		return u - 'a' + 26;
	if (u >= '0' && u <= '9')
		return u - '0' + 52;
	return u == '+' ? 62 : u == '/' ? 63 : -1;
}

long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t i, o = 0;

	if (len % 4)
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
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

void uuid4(char *out)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1) {
		/* RAND_bytes only fails if the CSPRNG cannot be seeded; fall back
		 * to the time-seeded libc generator rather than abort. */
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)random();
	}
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, UUID_STR_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
		 r[11], r[12], r[13], r[14], r[15]);
}
