#include "lib/num.h"

long dec_strict(const char *s, size_t len, long max)
{
	long n = 0;

	if (len == 0 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || n > max / 10)
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n <= max ? n : -1;
}
