/* Unit tests for lib/crypto: uuid4 (form, version and variant bits, no
 * repeats across many refills of the per-thread pool, threads drawing at
 * once), base64 round trips against known values, sha256_repeat; and
 * lib/num's strict decimals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/num.h"

#define N_IDS 4000   /* ~125 refills of the 512-byte pool */

static int uuid_form_ok(const char *u)
{
	if (strlen(u) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !strchr("0123456789abcdef", u[i]))
			return 0;
	}
	return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static int cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_uuid_form_and_unique(void **state)
{
	static char ids[N_IDS][UUID_STR_LEN];

	(void)state;
	for (int i = 0; i < N_IDS; i++) {
		uuid4(ids[i]);
		if (!uuid_form_ok(ids[i]))
			fail_msg("not a version 4 UUID: '%s'", ids[i]);
	}
	qsort(ids, N_IDS, sizeof(ids[0]), cmp);
	for (int i = 1; i < N_IDS; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("uuid4 repeated '%s'", ids[i]);
}

#define THREADS 4
static char tids[THREADS][N_IDS / THREADS][UUID_STR_LEN];

static void *draw(void *arg)
{
	char (*mine)[UUID_STR_LEN] = arg;

	for (int i = 0; i < N_IDS / THREADS; i++)
		uuid4(mine[i]);
	return NULL;
}

static void test_uuid_threads(void **state)
{
	pthread_t t[THREADS];

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, draw, tids[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	qsort(tids, N_IDS, UUID_STR_LEN, cmp);
	for (int i = 1; i < N_IDS; i++) {
		const char *a = (const char *)tids + (size_t)(i - 1) * UUID_STR_LEN;
		const char *b = a + UUID_STR_LEN;
		assert_true(uuid_form_ok(b));
		if (strcmp(a, b) == 0)
			fail_msg("two threads drew the same id '%s'", b);
	}
}

static void test_b64(void **state)
{
	/* RFC 4648, section 10. */
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char enc[16];
	unsigned char dec[16];

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t n = b64_encode((const unsigned char *)in[i], strlen(in[i]), enc);
		enc[n] = '\0';
		assert_string_equal(enc, out[i]);
		assert_int_equal(b64_decode(out[i], strlen(out[i]), dec, sizeof(dec)), (long)strlen(in[i]));
		assert_memory_equal(dec, in[i], strlen(in[i]));
	}
	assert_true(b64_decode("Zm9v!", 5, dec, sizeof(dec)) < 0);
}

/* sha256_repeat must give sha256's answer whatever came before: the same
 * input, one byte changed, another length, inputs over its 8 KB memory. */
static void test_sha256_repeat(void **state)
{
	static unsigned char in[10000];
	const size_t lens[] = { 0, 1, 2465, 2465, 2465, 8192, 8192, 8193, 8193, 10000, 2465, 2464 };
	unsigned char a[32], b[32];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		if (i == 4 || i == 6 || i == 8)
			in[lens[i] - 1] ^= 1;   /* same length, last byte changed */
		if (i == 11)
			in[0] ^= 1;             /* shorter, first byte changed */
		assert_int_equal(sha256(in, lens[i], a), 0);
		assert_int_equal(sha256_repeat(in, lens[i], b), 0);
		assert_memory_equal(a, b, 32);
		assert_int_equal(sha256_repeat(in, lens[i], b), 0);   /* from memory now */
		assert_memory_equal(a, b, 32);
	}
	/* Two inputs taking turns, then more than it keeps. */
	for (int round = 0; round < 3; round++)
		for (size_t l = 100; l < 700; l += 100) {
			assert_int_equal(sha256(in + l, l, a), 0);
			assert_int_equal(sha256_repeat(in + l, l, b), 0);
			assert_memory_equal(a, b, 32);
		}
}

static void test_dec_strict(void **state)
{
	static const struct { const char *s; long max, want; } t[] = {
		{ "0", 9, 0 }, { "7", 9, 7 }, { "256", 256, 256 }, { "257", 256, -1 }, { "259", 256, -1 },
		{ "999999999", 999999999L, 999999999L }, { "9999999999", 999999999L, -1 },
		{ "", 9, -1 }, { "00", 9, -1 }, { "01", 9, -1 }, { "+1", 9, -1 }, { "-1", 9, -1 },
		{ " 1", 9, -1 }, { "1 ", 9, -1 }, { "1x", 9, -1 }, { "1e1", 99, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (dec_strict(t[i].s, strlen(t[i].s), t[i].max) != t[i].want)
			fail_msg("dec_strict('%s', %ld) != %ld", t[i].s, t[i].max, t[i].want);
	assert_int_equal(dec_strict("123", 2, 99), 12);   /* only the bytes given */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_form_and_unique),
		cmocka_unit_test(test_uuid_threads),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_sha256_repeat),
		cmocka_unit_test(test_dec_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
