/* names: see names.h. */
#include "lib/names.h"

#include <stdio.h>
#include <string.h>

void names_add(struct names *s, const char *name)
{
	if (!name || names_has(s, name) || s->n >= NAMES_MAX)
		return;
	snprintf(s->v[s->n++], NAMES_LEN, "%s", name);
}

int names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

void names_join(const struct names *s, char *out, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return;
	snprintf(out, cap, "%s", s->n ? "" : "none");
	for (size_t i = 0; i < s->n && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", s->v[i]);
}
