/* ENI validation and normalisation: see eni.h for the forms and why the
 * plain digits are a safe canonical form. */
#include "adapters/common/eni.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longer input is refused without being read further. */
#define ENI_SCAN_MAX 64
#define ENI_GROUPS_MAX 7
#define ENI_GROUPS_MIN 5

static const int eni_width[ENI_GROUPS_MAX] = { 1, 2, 2, 4, 4, 2, 3 };
static const char *const eni_group_name[ENI_GROUPS_MAX] = {
	"region", "district", "zone", "quarter", "parcel", "building", "unit",
};
/* By number of groups - ENI_GROUPS_MIN. */
static const char *const eni_kind[] = { "parcel", "building", "unit" };

static void eni_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void eni_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* Characters, not bytes: a clerk who typed Cyrillic should hear how many
 * characters they typed. */
static size_t eni_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* Digits up to 18 with n groups: their total length. */
static size_t eni_len_for(int groups)
{
	size_t n = 0;

	for (int i = 0; i < groups; i++)
		n += (size_t)eni_width[i];
	return n;
}

/* 0 if in[0..n) holds only digits and (if dashes) '-'. */
static int eni_charset(const char *in, size_t n, char *why, size_t len)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if ((ch & 0xC0) != 0x80)
			chars++;
		if ((ch >= '0' && ch <= '9') || ch == '-')
			continue;
		eni_why(why, len, "ENI may contain only digits and '-'; character %zu is not", chars);
		return -1;
	}
	return 0;
}

static int eni_plain(const char *in, size_t n, struct eni *out, char *why, size_t len)
{
	for (int g = ENI_GROUPS_MIN; g <= ENI_GROUPS_MAX; g++) {
		if (n == eni_len_for(g)) {
			memcpy(out->digits, in, n);
			out->digits[n] = '\0';
			out->groups = g;
			return 0;
		}
	}
	eni_why(why, len, "ENI must be 13, 15 or 18 digits, or dashed like 1-02-02-0007-0001-01-061; "
		"got %zu digits", n);
	return -1;
}

/* Each group must have exactly its width (see eni.h: why no padding). */
static int eni_dashed(const char *in, size_t n, struct eni *out, char *why, size_t len)
{
	size_t pos = 0, d = 0;
	int g = 0;

	for (;;) {
		size_t w = strcspn(in + pos, "-");

		if (w > n - pos)
			w = n - pos;
		/* Unreachable behind the 24-character cap, kept so that the
		 * width table is never read past its end. */
		if (g == ENI_GROUPS_MAX) {
			eni_why(why, len, "ENI has more than %d dash-separated groups", ENI_GROUPS_MAX);
			return -1;
		}
		if (w != (size_t)eni_width[g]) {
			eni_why(why, len, "ENI group %d (%s) must be %d digit%s; got %s%.*s%s", g + 1,
				eni_group_name[g], eni_width[g], eni_width[g] == 1 ? "" : "s",
				w == 0 ? "nothing" : "'", (int)(w > 8 ? 8 : w), in + pos,
				w == 0 ? "" : w > 8 ? "...'" : "'");
			return -1;
		}
		memcpy(out->digits + d, in + pos, w);
		d += w;
		pos += w;
		g++;
		if (pos == n)
			break;
		pos++;                   /* the dash */
		if (pos == n) {
			eni_why(why, len, "ENI must not end with '-'");
			return -1;
		}
	}
	if (g < ENI_GROUPS_MIN) {
		eni_why(why, len, "ENI must have 5, 6 or 7 dash-separated groups, like "
			"1-02-02-0007-0001-01-061; got %d", g);
		return -1;
	}
	out->digits[d] = '\0';
	out->groups = g;
	return 0;
}

/* The dashed form of out->digits, by the fixed widths. */
static void eni_format(struct eni *out)
{
	size_t s = 0, d = 0;

	for (int g = 0; g < out->groups; g++) {
		if (g > 0)
			out->dashed[d++] = '-';
		memcpy(out->dashed + d, out->digits + s, (size_t)eni_width[g]);
		d += (size_t)eni_width[g];
		s += (size_t)eni_width[g];
	}
	out->dashed[d] = '\0';
}

int eni_parse(const char *in, struct eni *out, char *why, size_t len)
{
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	eni_why(why, len, "%s", "");
	if (in == NULL || in[0] == '\0') {
		eni_why(why, len, "ENI (cadastral code) is missing");
		return -1;
	}
	n = strnlen(in, ENI_SCAN_MAX);
	if (n == ENI_SCAN_MAX) {
		eni_why(why, len, "ENI must be at most %d characters; got more than %d",
			ENI_DASHED_MAX, ENI_SCAN_MAX - 1);
		return -1;
	}
	if (eni_charset(in, n, why, len) != 0)
		return -1;
	if (memchr(in, '-', n) != NULL) {
		if (n > ENI_DASHED_MAX) {
			eni_why(why, len, "ENI must be at most %d characters; got %zu", ENI_DASHED_MAX,
				eni_chars(in, n));
			return -1;
		}
		rc = eni_dashed(in, n, out, why, len);
	} else {
		rc = eni_plain(in, n, out, why, len);
	}
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	eni_format(out);
	out->kind = eni_kind[out->groups - ENI_GROUPS_MIN];
	return 0;
}
