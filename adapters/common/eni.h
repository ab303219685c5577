/* Real-estate identifiers (ENI, "единый номер идентификации", the cadastral
 * code) of the Kyrgyz property registry.
 *
 * The one place that decides whether a string is an ENI and what it is
 * looked up as, so every adapter (cadastre, household register, certificates)
 * accepts the same forms and finds the same records.
 *
 * Forms accepted (domain.md: "accept both the dashed and the plain digit
 * form"): the code is a sequence of digit groups of FIXED widths
 *     region 1 - district 2 - zone 2 - quarter 4 - parcel 4 [- building 2 [- unit 3]]
 * written either dashed, 1-02-02-0007-0001-01-061 (a flat), or as the plain
 * digits, 7100600330016 (a house: 7-10-06-0033-0016). 5 groups (13 digits)
 * name a land parcel with what stands on it, 6 groups (15 digits) a building
 * on a parcel, 7 groups (18 digits) a unit (flat) in a building.
 *
 * Canonical form (what lookups use, what registries store): the plain
 * digits. Stripping the dashes cannot make two different codes collide
 * because the group widths are fixed: a dashed code is accepted only if every
 * group has exactly its width, so the digits determine the groups and the
 * dashed form is recovered from them (eni.dashed). A dashed code with groups
 * of other widths (1-2-2-7-1, 1-0202-0007-0001) is refused, not padded or
 * re-split: such a string strips to digits that another, correctly written
 * code also strips to, and guessing which was meant could hand out someone
 * else's property. No check digit is published, so none is checked. */
#ifndef AILGATE_ADAPTERS_COMMON_ENI_H
#define AILGATE_ADAPTERS_COMMON_ENI_H

#include <stddef.h>

#define ENI_DIGITS_MAX 18         /* 7 groups: 1+2+2+4+4+2+3 */
#define ENI_DASHED_MAX 24         /* the digits and 6 dashes */

struct eni {
	char digits[ENI_DIGITS_MAX + 1];   /* canonical: 13, 15 or 18 digits */
	char dashed[ENI_DASHED_MAX + 1];   /* the same code with its dashes */
	int groups;                        /* 5, 6 or 7 */
	const char *kind;                  /* "parcel", "building" or "unit" (static) */
};

/* Parses in (dashed or plain, nothing else: no spaces; the caller trims) into
 * *out. 0, or -1 with a sentence a clerk can act on in why[len] ("ENI group 4
 * must be 4 digits; got 3 (007)"), *out then zeroed. in may be NULL (missing);
 * at most 64 bytes of it are read, so any input is safe. why may be NULL. */
int eni_parse(const char *in, struct eni *out, char *why, size_t len) __attribute__((warn_unused_result));

#endif
