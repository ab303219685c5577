/* A registry's SQL files and its seed database. See sqlseed.h. */
#include "adapters/common/sqlseed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gateway/lib/osutil.h"

#define SEED_PATH_MAX 4096
#define SEED_SUFFIX_MAX 32   /* what the paths here add to a path: ".sha256.tmp", "-journal", ... */
#define SEED_COPY_BUF (64u << 10)

static void seed_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seed_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---- the SQL files ---------------------------------------------------------- */

/* Reads sql_dir/name into a new NUL-terminated buffer (caller frees *out). */
static int seed_read_file(const char *sql_dir, const char *name, char **out, char *why, size_t len)
{
	char path[SEED_PATH_MAX];
	char *buf = NULL;
	size_t n;
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sql_dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		seed_why(why, len, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(SQLSEED_SQL_MAX + 1);
	if (buf == NULL) {
		seed_why(why, len, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, SQLSEED_SQL_MAX + 1, f);
	if (ferror(f) || n > SQLSEED_SQL_MAX) {
		seed_why(why, len, "cannot read %s: %s", path, ferror(f) ? "read error" : "too large");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int sqlseed_read(const char *sql_dir, struct sqlseed_sql *out, char *why, size_t len)
{
	out->schema = out->seed = NULL;
	if (seed_read_file(sql_dir, "schema.sql", &out->schema, why, len) != 0 ||
	    seed_read_file(sql_dir, "seed.sql", &out->seed, why, len) != 0)
		return -1;
	return 0;
}

void sqlseed_sql_free(struct sqlseed_sql *s)
{
	free(s->schema);
	free(s->seed);
	s->schema = s->seed = NULL;
}

static int seed_exec(sqlite3 *db, const char *sql_dir, const char *name, const char *sql, char *why,
		     size_t len)
{
	char *msg = NULL;
	int rc;

	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		seed_why(why, len, "%s/%s: %s", sql_dir, name, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : -1;
}

int sqlseed_load(sqlite3 *db, const char *sql_dir, const struct sqlseed_sql *s, char *why, size_t len)
{
	if (seed_exec(db, sql_dir, "schema.sql", s->schema, why, len) != 0 ||
	    seed_exec(db, sql_dir, "seed.sql", s->seed, why, len) != 0)
		return -1;
	return 0;
}

int sqlseed_digest(const struct sqlseed_sql *s, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	/* The NUL keeps "schema + seed" from being read as another split of the
	 * same bytes; neither file can hold one (it would end the SQL there). */
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, s->schema, strlen(s->schema)) == 1 &&
		 EVP_DigestUpdate(c, "", 1) == 1 &&
		 EVP_DigestUpdate(c, s->seed, strlen(s->seed)) == 1 &&
		 EVP_DigestFinal_ex(c, md, &n) == 1 && n == sizeof(md);

	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	for (size_t i = 0; i < sizeof(md); i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[SQLSEED_HEX_LEN] = '\0';
	return 0;
}

/* ---- build time: what depends on the day or on chance --------------------------- */

/* A seed database may hold only what every first start would load the same
 * way. A statement that reads the clock (date('now'), CURRENT_TIMESTAMP, a
 * DEFAULT or trigger that does) or draws a random number gives something
 * else on the day of the first start, so the seed database stops before the
 * first such statement and the first start runs the rest of seed.sql: the
 * resume point. Both are seen while the build loads the SQL: every date
 * and time function asks the connection's VFS for the time (the probe VFS
 * below notes it), and random() and randomblob() are replaced on the
 * build's connection by ones that note the draw. */
struct seed_probe {
	sqlite3_vfs vfs;              /* first: SQLite hands it back to the methods */
	sqlite3_vfs *base;            /* the default VFS, which does the work */
	char name[64];
	int clock;                    /* the statement read the clock */
	int chance;                   /* ... drew a random number */
	int state;                    /* ... read the connection's counters */
};

#define PROBE(v) ((struct seed_probe *)(v))
#define BASE(v) (PROBE(v)->base)

static int probe_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
	return BASE(v)->xOpen(BASE(v), name, f, flags, out);
}

static int probe_delete(sqlite3_vfs *v, const char *name, int sync)
{
	return BASE(v)->xDelete(BASE(v), name, sync);
}

static int probe_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	return BASE(v)->xAccess(BASE(v), name, flags, out);
}

static int probe_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
	return BASE(v)->xFullPathname(BASE(v), name, n, out);
}

static void *probe_dlopen(sqlite3_vfs *v, const char *name)
{
	return BASE(v)->xDlOpen(BASE(v), name);
}

static void probe_dlerror(sqlite3_vfs *v, int n, char *out)
{
	BASE(v)->xDlError(BASE(v), n, out);
}

static void (*probe_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	return BASE(v)->xDlSym(BASE(v), h, sym);
}

static void probe_dlclose(sqlite3_vfs *v, void *h)
{
	BASE(v)->xDlClose(BASE(v), h);
}

static int probe_randomness(sqlite3_vfs *v, int n, char *out)
{
	return BASE(v)->xRandomness(BASE(v), n, out);
}

static int probe_sleep(sqlite3_vfs *v, int us)
{
	return BASE(v)->xSleep(BASE(v), us);
}

static int probe_time(sqlite3_vfs *v, double *t)
{
	PROBE(v)->clock = 1;
	return BASE(v)->xCurrentTime(BASE(v), t);
}

static int probe_error(sqlite3_vfs *v, int n, char *out)
{
	return BASE(v)->xGetLastError(BASE(v), n, out);
}

static int probe_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
	PROBE(v)->clock = 1;
	return BASE(v)->xCurrentTimeInt64(BASE(v), t);
}

/* Registers p as a VFS of its own name over the default one. 0 or -1. */
static int probe_register(struct seed_probe *p)
{
	memset(p, 0, sizeof(*p));
	p->base = sqlite3_vfs_find(NULL);
	if (p->base == NULL || p->base->iVersion < 2 || p->base->xCurrentTimeInt64 == NULL)
		return -1;
	snprintf(p->name, sizeof(p->name), "ailgate-seed-probe-%p", (void *)p);
	p->vfs = (sqlite3_vfs){
		.iVersion = 2, .szOsFile = p->base->szOsFile, .mxPathname = p->base->mxPathname,
		.zName = p->name, .xOpen = probe_open, .xDelete = probe_delete,
		.xAccess = probe_access, .xFullPathname = probe_fullpath, .xDlOpen = probe_dlopen,
		.xDlError = probe_dlerror, .xDlSym = probe_dlsym, .xDlClose = probe_dlclose,
		.xRandomness = probe_randomness, .xSleep = probe_sleep, .xCurrentTime = probe_time,
		.xGetLastError = probe_error, .xCurrentTimeInt64 = probe_time64,
	};
	return sqlite3_vfs_register(&p->vfs, 0) == SQLITE_OK ? 0 : -1;
}

static void probe_random(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	sqlite3_int64 r;

	PROBE(sqlite3_user_data(cx))->chance = 1;
	sqlite3_randomness(sizeof(r), &r);
	sqlite3_result_int64(cx, r);
}

static void probe_randomblob(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	sqlite3_int64 n = argc == 1 ? sqlite3_value_int64(argv[0]) : 1;
	unsigned char *b;

	PROBE(sqlite3_user_data(cx))->chance = 1;
	n = n < 1 ? 1 : n > 1000000 ? 1000000 : n;
	b = sqlite3_malloc64((sqlite3_uint64)n);
	if (b == NULL) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	sqlite3_randomness((int)n, b);
	sqlite3_result_blob64(cx, b, (sqlite3_uint64)n, sqlite3_free);
}

/* last_insert_rowid(), changes(), total_changes(): the same values, noted:
 * a first start runs the rest of seed.sql on a new connection, where they
 * start again from nothing. */
static void probe_last_rowid(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	PROBE(sqlite3_user_data(cx))->state = 1;
	sqlite3_result_int64(cx, sqlite3_last_insert_rowid(sqlite3_context_db_handle(cx)));
}

static void probe_changes(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	PROBE(sqlite3_user_data(cx))->state = 1;
	sqlite3_result_int64(cx, sqlite3_changes64(sqlite3_context_db_handle(cx)));
}

static void probe_total_changes(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	PROBE(sqlite3_user_data(cx))->state = 1;
	sqlite3_result_int64(cx, sqlite3_total_changes64(sqlite3_context_db_handle(cx)));
}

static int probe_functions(sqlite3 *db, struct seed_probe *p)
{
	static const struct {
		const char *name;
		int argc;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
	} f[] = {
		{ "random", 0, probe_random },
		{ "randomblob", 1, probe_randomblob },
		{ "last_insert_rowid", 0, probe_last_rowid },
		{ "changes", 0, probe_changes },
		{ "total_changes", 0, probe_total_changes },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (sqlite3_create_function_v2(db, f[i].name, f[i].argc, SQLITE_UTF8, p, f[i].fn, NULL,
					       NULL, NULL) != SQLITE_OK)
			return -1;
	return 0;
}

/* Runs sql on db statement by statement (as sqlite3_exec does), with p
 * watching: *resume gets the offset of the first statement that read the
 * clock or drew a number (if none has yet), *late is set when a statement
 * from there on reads the connection's counters. 0, or -1 with why set
 * ("SQL_DIR/NAME: SQLite's message", as a first start says it). */
static int seed_scan(sqlite3 *db, struct seed_probe *p, const char *sql_dir, const char *name,
		     const char *sql, long *resume, int *late, char *why, size_t len)
{
	const char *at = sql, *next = NULL;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK;

	while (*at != '\0') {
		p->clock = p->chance = p->state = 0;
		rc = sqlite3_prepare_v2(db, at, -1, &st, &next);
		if (rc != SQLITE_OK)
			break;
		if (st == NULL && next == at)
			break;   /* nothing but blanks and comments left */
		while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (st != NULL && rc != SQLITE_DONE)
			break;
		sqlite3_finalize(st);
		st = NULL;
		rc = SQLITE_OK;
		if (*resume < 0 && (p->clock || p->chance))
			*resume = (long)(at - sql);
		if (*resume >= 0 && p->state)
			*late = 1;
		at = next;
	}
	if (rc != SQLITE_OK)
		seed_why(why, len, "%s/%s: %s", sql_dir, name, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}

static int seed_do(sqlite3 *db, const char *sql, const char *path, char *why, size_t len)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	seed_why(why, len, "%s: %s: %s", path, sql, sqlite3_errmsg(db));
	return -1;
}

/* Loads s into the new file path the way sqlreg loads a new register (WAL,
 * one IMMEDIATE transaction) and keeps the statements before the resume
 * point. *resume is its offset in s->seed (the length of seed.sql when
 * there is none), or -1 when nothing can be kept: the schema itself
 * depends on the day or on chance, or the rest reads the connection's
 * counters. The whole SQL is loaded once whatever is kept, so SQL that a
 * first start could not load fails the build; foreign keys are enforced
 * whatever the adapter's pragmas, so a dangling reference does too.
 * Closing checkpoints the WAL into the file. */
static int seed_create(const char *path, const char *sql_dir, struct sqlseed_sql *s, long *resume,
		       char *why, size_t len)
{
	struct seed_probe p;
	long schema_at = -1, seed_at = -1, n = (long)strlen(s->seed);
	int late = 0, rc = -1;
	sqlite3 *db = NULL;
	char cut;

	if (probe_register(&p) != 0) {
		seed_why(why, len, "cannot register the probe VFS");
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, p.name) != SQLITE_OK) {
		seed_why(why, len, "cannot create %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (probe_functions(db, &p) != 0) {
		seed_why(why, len, "%s: cannot define functions: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (seed_do(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; BEGIN IMMEDIATE", path, why,
		    len) != 0 ||
	    seed_scan(db, &p, sql_dir, "schema.sql", s->schema, &schema_at, &late, why, len) != 0 ||
	    seed_scan(db, &p, sql_dir, "seed.sql", s->seed, &seed_at, &late, why, len) != 0)
		goto out;
	*resume = schema_at >= 0 || late ? -1 : seed_at >= 0 ? seed_at : n;
	if (*resume == n) {
		rc = seed_do(db, "COMMIT", path, why, len);
		goto out;
	}
	if (seed_do(db, "ROLLBACK", path, why, len) != 0)
		goto out;
	rc = 0;
	if (*resume < 0)
		goto out;   /* an empty file: first starts load the SQL */
	/* Again, up to the resume point, marked in place (s is ours). */
	cut = s->seed[*resume];
	s->seed[*resume] = '\0';
	if (seed_do(db, "BEGIN IMMEDIATE", path, why, len) != 0 ||
	    sqlseed_load(db, sql_dir, s, why, len) != 0 || seed_do(db, "COMMIT", path, why, len) != 0)
		rc = -1;
	s->seed[*resume] = cut;
out:
	if (db != NULL && sqlite3_close(db) != SQLITE_OK && rc == 0) {
		seed_why(why, len, "cannot close %s: %s", path, sqlite3_errmsg(db));
		rc = -1;
	}
	sqlite3_vfs_unregister(&p.vfs);
	return rc;
}

/* Writes text to path through path.tmp and a rename. */
static int seed_write_text(const char *path, const char *text, char *why, size_t len)
{
	char tmp[SEED_PATH_MAX + SEED_SUFFIX_MAX];
	FILE *f;
	int bad;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		seed_why(why, len, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	bad = fputs(text, f) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		seed_why(why, len, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Removes path and the files SQLite keeps beside it. */
static void seed_unlink_db(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[SEED_PATH_MAX + 2 * SEED_SUFFIX_MAX];   /* a temp name's, too */

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

static int seed_exists(const char *path, const char *suffix)
{
	char p[SEED_PATH_MAX + 2 * SEED_SUFFIX_MAX];   /* a temp name's, too */
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	/* lstat: a dangling symlink at db is a file someone put there. Anything
	 * but "no such file" counts as there, and is left to the usual open. */
	return lstat(p, &st) == 0 || errno != ENOENT;
}

int sqlseed_build(const char *sql_dir, const char *out, char *why, size_t len)
{
	struct sqlseed_sql s;
	char tmp[SEED_PATH_MAX], side[SEED_PATH_MAX], line[SQLSEED_HEX_LEN + 32];
	long resume = -1;
	int rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= sizeof(tmp) ||
	    (size_t)snprintf(side, sizeof(side), "%s.sha256", out) >= sizeof(side)) {
		seed_why(why, len, "path too long: %.64s...", out);
		return -1;
	}
	if (sqlseed_read(sql_dir, &s, why, len) != 0)
		goto out;
	if (sqlseed_digest(&s, line) != 0) {
		seed_why(why, len, "cannot compute SHA-256");
		goto out;
	}
	if (unlink(side) != 0 && errno != ENOENT) {
		seed_why(why, len, "cannot remove %s: %s", side, strerror(errno));
		goto out;
	}
	seed_unlink_db(tmp);
	if (seed_create(tmp, sql_dir, &s, &resume, why, len) != 0)
		goto out;
	/* What a first start copies is this one file: no WAL may be left. */
	if (seed_exists(tmp, "-wal")) {
		seed_why(why, len, "%s: the WAL was not checkpointed on close", tmp);
		goto out;
	}
	if (rename(tmp, out) != 0) {
		seed_why(why, len, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
		goto out;
	}
	if (resume < 0)
		strcat(line, " -\n");
	else
		snprintf(line + SQLSEED_HEX_LEN, sizeof(line) - SQLSEED_HEX_LEN, " %ld\n", resume);
	rc = seed_write_text(side, line, why, len);
out:
	if (rc != 0)
		seed_unlink_db(tmp);
	sqlseed_sql_free(&s);
	return rc;
}

/* ---- first start --------------------------------------------------------------- */

/* seed_db.sha256, "HEX RESUME\n": the digest of the SQL the seed database
 * was built from, and where in seed.sql a first start goes on ("-": the
 * seed database is not to be used). 0 with hex and *resume (-1 for "-"),
 * or -1 (no such file, or not in that form). */
static int seed_side_read(const char *seed_db, char *hex, long *resume)
{
	char side[SEED_PATH_MAX + SEED_SUFFIX_MAX], buf[SQLSEED_HEX_LEN + 32], *end;
	size_t n;
	FILE *f;

	snprintf(side, sizeof(side), "%s.sha256", seed_db);
	f = fopen(side, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n < SQLSEED_HEX_LEN + 3 || buf[SQLSEED_HEX_LEN] != ' ' || buf[n - 1] != '\n')
		return -1;
	memcpy(hex, buf, SQLSEED_HEX_LEN);
	hex[SQLSEED_HEX_LEN] = '\0';
	if (strcmp(buf + SQLSEED_HEX_LEN, " -\n") == 0) {
		*resume = -1;
		return 0;
	}
	errno = 0;
	*resume = strtol(buf + SQLSEED_HEX_LEN + 1, &end, 10);
	return errno == 0 && *resume >= 0 && end != buf + SQLSEED_HEX_LEN + 1 && *end == '\n' ? 0 : -1;
}

/* Whether the seed database was built from s: 1 yes (*resume set), 0 no
 * (why says so when it is stale; "" when there is nothing worth a line: no
 * digest file, or one that says the seed database is not to be used). */
static int seed_usable(const char *seed_db, const char *sql_dir, const struct sqlseed_sql *s,
		       long *resume, char *why, size_t len)
{
	char have[SQLSEED_HEX_LEN + 1], want[SQLSEED_HEX_LEN + 1];

	if (seed_side_read(seed_db, have, resume) != 0 || *resume < 0 || sqlseed_digest(s, want) != 0)
		return 0;
	if (strcmp(have, want) != 0 || *resume > (long)strlen(s->seed)) {
		seed_why(why, len, "%s was built from other SQL than %s/{schema,seed}.sql (rebuild to "
			 "refresh it)", seed_db, sql_dir);
		return 0;
	}
	return 1;
}

/* Copies from into the open file out (named to, for why). */
static int seed_copy_data(const char *from, int out, const char *to, char *why, size_t len)
{
	char *buf = malloc(SEED_COPY_BUF);
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int rc = -1;
	ssize_t n;

	if (buf == NULL || in < 0) {
		seed_why(why, len, "cannot copy %s to %s: %s", from, to,
			 buf ? strerror(errno) : "out of memory");
		goto out;
	}
	for (;;) {
		n = read(in, buf, SEED_COPY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || fd_write_all(out, buf, (size_t)n) != 0)
			break;
	}
	if (n != 0) {
		seed_why(why, len, "cannot copy %s to %s: %s", from, to, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}

/* Runs the rest of seed.sql (from the resume point) on the copy at path,
 * after the adapter's pragmas, as the SQL route would have run it. Not
 * synced here (synchronous=OFF): the caller syncs the file once, before it
 * gets its name. */
static int seed_finish(const char *path, const char *pragmas, const char *sql_dir, const char *rest,
		       char *why, size_t len)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK && pragmas != NULL)
		rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		seed_why(why, len, "cannot use %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	/* Trusted files shipped with the gateway, never request data. */
	rc = sqlite3_exec(db, rest, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		seed_why(why, len, "%s/seed.sql: %s", sql_dir, msg ? msg : sqlite3_errstr(rc));
	else if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		seed_why(why, len, "cannot commit %s: %s", path, sqlite3_errmsg(db));
	sqlite3_free(msg);
	if (sqlite3_close(db) != SQLITE_OK && rc == SQLITE_OK) {
		seed_why(why, len, "cannot close %s", path);
		rc = SQLITE_ERROR;
	}
	if (rc == SQLITE_OK && seed_exists(path, "-wal")) {
		seed_why(why, len, "%s: the WAL was not checkpointed on close", path);
		rc = SQLITE_ERROR;
	}
	return rc == SQLITE_OK ? 0 : -1;
}

/* Syncs path's data (through fd if it is open, else a new descriptor). */
static int seed_sync(int fd, const char *path, char *why, size_t len)
{
	int own = fd < 0 ? open(path, O_RDONLY | O_CLOEXEC) : fd;
	int rc = own >= 0 && fdatasync(own) == 0 ? 0 : -1;

	if (rc != 0)
		seed_why(why, len, "cannot sync %s: %s", path, strerror(errno));
	if (fd < 0 && own >= 0)
		close(own);
	return rc;
}

/* Makes the new name of path durable. */
static void seed_sync_dir(const char *path)
{
	char dir[SEED_PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Fills the new file tmp (open as fd; closed here) from the seed database
 * and the rest of seed.sql, and syncs it: synced before it gets its name,
 * so a crash never leaves db half-written. 1; 0 (not for this SQL: why as
 * seed_usable); -1 (why). */
static int seed_fill(const char *seed_db, const char *sql_dir, const char *pragmas, int fd,
		     const char *tmp, char *why, size_t len)
{
	struct sqlseed_sql s;
	long resume = -1;
	int rc = 0;

	/* (SQL that cannot be read: the usual open reports it) */
	if (sqlseed_read(sql_dir, &s, why, len) != 0)
		why[0] = '\0';
	else
		rc = seed_usable(seed_db, sql_dir, &s, &resume, why, len);
	if (rc > 0 && seed_copy_data(seed_db, fd, tmp, why, len) != 0)
		rc = -1;
	if (rc > 0 && s.seed[resume] == '\0' && seed_sync(fd, tmp, why, len) != 0)
		rc = -1;
	if (close(fd) != 0 && rc > 0) {
		seed_why(why, len, "cannot copy %s to %s: %s", seed_db, tmp, strerror(errno));
		rc = -1;
	}
	/* Only now that our descriptor is closed: closing one drops every lock
	 * the process holds on the file, SQLite's too. */
	if (rc > 0 && s.seed[resume] != '\0' &&
	    (seed_finish(tmp, pragmas, sql_dir, s.seed + resume, why, len) != 0 ||
	     seed_sync(-1, tmp, why, len) != 0))
		rc = -1;
	sqlseed_sql_free(&s);
	return rc;
}

int sqlseed_copy(const char *seed_db, const char *sql_dir, const char *pragmas, const char *db,
		 char *why, size_t len)
{
	char tmp[SEED_PATH_MAX + SEED_SUFFIX_MAX];
	int fd, rc;

	why[0] = '\0';
	if (seed_exists(db, "") || seed_exists(db, "-wal") || seed_exists(db, "-journal") ||
	    seed_db == NULL || seed_db[0] == '\0' || access(seed_db, R_OK) != 0)
		return 0;
	/* The thread id makes the name ours alone among live threads; one left
	 * by a crashed process under the same id is stale. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.seed-%ld-%ld", db, (long)getpid(), (long)gettid()) >=
	    sizeof(tmp))
		return 0;
	seed_unlink_db(tmp);
	/* First, as the cheap test of a directory that is missing or not ours
	 * to write: SQLite could not create db there either, and the usual
	 * open says why. The mode is the one SQLite gives a new database. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	rc = seed_fill(seed_db, sql_dir, pragmas, fd, tmp, why, len);
	/* link, not rename: if another worker or process created db meanwhile
	 * (and may be writing to it), it stays as it is. */
	if (rc > 0 && link(tmp, db) != 0) {
		int e = errno;

		rc = e == EEXIST ? 0 : -1;
		if (rc < 0)
			seed_why(why, len, "cannot create %s from %s: %s", db, seed_db, strerror(e));
	}
	seed_unlink_db(tmp);
	if (rc > 0)
		seed_sync_dir(db);
	return rc;
}
