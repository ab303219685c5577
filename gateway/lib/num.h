/* num: strict decimals in protocol fields (no sign, spaces or leading zeros:
 * one value, one spelling). */
#ifndef AILGATE_LIB_NUM_H
#define AILGATE_LIB_NUM_H

#include <stddef.h>

/* The decimal that s[0..len) spells, 0..max; -1 when those bytes are not
 * exactly one such decimal. */
long dec_strict(const char *s, size_t len, long max);

#endif
