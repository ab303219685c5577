/* names: a small set of short names, kept in the order first added - what a
 * component asked for (the parameters a service read, the keys an adapter
 * read) to compare with what it was given and to name in a message. */
#ifndef AILGATE_LIB_NAMES_H
#define AILGATE_LIB_NAMES_H

#include <stddef.h>

#define NAMES_MAX 64
#define NAMES_LEN 64    /* a longer name is cut (it then matches nothing given) */

struct names {
	size_t n;
	char v[NAMES_MAX][NAMES_LEN];
};

/* Adds name once; past NAMES_MAX names it is dropped. name NULL: nothing. */
void names_add(struct names *s, const char *name);
int names_has(const struct names *s, const char *name);
/* "a, b, c" into out[cap] (cut to fit), "none" for an empty set. */
void names_join(const struct names *s, char *out, size_t cap);

#endif
