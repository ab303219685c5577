/* Build-time tool: a registry's seed database from its SQL.
 *   seeddb SQL_DIR OUT
 * loads SQL_DIR/schema.sql + seed.sql into OUT (and writes OUT.sha256), the
 * file a first start copies instead of executing the SQL (sqlseed.h). Run by
 * the build (adapters/CMakeLists.txt), one call per adapter. */
#include "adapters/common/sqlseed.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	char why[8192];

	if (argc != 3) {
		fprintf(stderr, "usage: %s SQL_DIR OUT\n", argv[0]);
		return 2;
	}
	if (sqlseed_build(argv[1], argv[2], why, sizeof(why)) != 0) {
		fprintf(stderr, "seeddb: %s\n", why);
		return 1;
	}
	return 0;
}
