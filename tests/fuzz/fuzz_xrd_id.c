/* Fuzz target for proto/xrd_id (and fault code normalisation, which is the
 * other small text parser): whatever parses must format back to a text that
 * parses to the same identifier; normalisation must be idempotent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/fault.h"
#include "proto/xrd_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void id_roundtrip(const char *s)
{
	struct xrd_id id, again;
	char err[128], t[XRD_ID_TEXT_MAX];

	if (xrd_id_parse(s, &id, err, sizeof(err)) == 0) {
		if (xrd_id_parse(xrd_id_format(&id, t, sizeof(t)), &again, err, sizeof(err)) != 0 ||
		    !xrd_id_equal(&id, &again) || strcmp(t, s) != 0)
			abort();
	}
	if (xrd_id_parse_path(s, &id, err, sizeof(err)) == 0) {
		if (xrd_id_parse_path(xrd_id_format_path(&id, t, sizeof(t)), &again, err,
				      sizeof(err)) != 0 ||
		    !xrd_id_equal(&id, &again))
			abort();
	}
	(void)xrd_part_valid(s);
}

static void normalize_twice(const char *s)
{
	char a[FAULT_CODE_MAX], b[FAULT_CODE_MAX];

	if (fault_code_normalize(s, a, sizeof(a)) != 0)
		return;
	if (fault_code_normalize(a, b, sizeof(b)) != 0 || strcmp(a, b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	id_roundtrip(s);
	normalize_twice(s);
	fault_clean_text(s);
	free(s);
	return 0;
}
