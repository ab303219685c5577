/* Tests for packed records in the SQLite message log (store/msglog_pack.h,
 * msglog_sqlite.c): the first records stored as they are and made the
 * dictionary, the rest as zstd frames against it; reads give back every
 * logged byte; the files shrink; `log verify` passes and names the first
 * record a damaged frame, body column, packed reference or dictionary
 * touches; a dictionary stored in a transaction that rolled back is not
 * used; archive files are packed and verify with the live log as one chain;
 * a log without packing and a log that switches it on read alike. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc_test.h"

#include <event2/thread.h>

#include "lib/crypto.h"
#include "store/logverify.h"
#include "store/msglog.h"
#include "store/msglog_pack.h"

#define CLIENT "central-server/GOV/70000050/household-register"
#define SERVICE "central-server/GOV/70000005/population/getPerson/v1"

#include "msglog_test.h"

#define NREC 60

static char DIR_[] = "/tmp/test_msglog_pack.XXXXXX";
static int ntmp;

static void newdir(char *out, size_t n)
{
	snprintf(out, n, "%s/t%d", DIR_, ++ntmp);
	mkdir(out, 0700);
}

/* Record i: an X-Road envelope of a household (1-3 KB, values vary, the
 * shape repeats as in real traffic), a document with a random digest,
 * every 7th record metadata only. */
struct prec {
	char msgid[64], reqid[64], body[4096], sig[1024], ocsp[64];
	struct msglog_rec r;
};

static void make_prec(struct prec *p, int i)
{
	static const char *names[] = { "Asanov", "Bekova", "Toktogulov", "Sadyrbaeva", "Omurbekov", "Jumabaeva" };
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	size_t o;
	int k, members = 2 + i % 6;

	memset(p, 0, sizeof(*p));
	snprintf(p->msgid, sizeof(p->msgid), "%016llx-%d", (unsigned long long)ml_rand(&s), (i + 1) / 2);
	snprintf(p->reqid, sizeof(p->reqid), "req-%d", i);
	o = (size_t)snprintf(p->body, sizeof(p->body),
			     "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" "
			     "xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\"><SOAP-ENV:Header><xrd:id>%s</xrd:id>"
			     "<xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body>"
			     "<hh:household xmlns:hh=\"urn:ailgate:household:1\"><hh:number>%d</hh:number>",
			     p->msgid, (int)(ml_rand(&s) % 100000));
	for (k = 0; k < members; k++)
		o += (size_t)snprintf(p->body + o, sizeof(p->body) - o,
				      "<hh:member><hh:pin>2%013llu</hh:pin><hh:surname>%s</hh:surname>"
				      "<hh:birthDate>19%02d-%02d-%02d</hh:birthDate><hh:relation>%s</hh:relation>"
				      "</hh:member>", (unsigned long long)(ml_rand(&s) % 10000000000000ull),
				      names[ml_rand(&s) % 6], (int)(ml_rand(&s) % 100), 1 + (int)(ml_rand(&s) % 12),
				      1 + (int)(ml_rand(&s) % 28), k ? "child" : "head");
	snprintf(p->body + o, sizeof(p->body) - o, "</hh:household></SOAP-ENV:Body></SOAP-ENV:Envelope>");
	snprintf(p->sig, sizeof(p->sig),
		 "<sm:SignedMessage xmlns:sm=\"urn:ailgate:signed-message:1\" Id=\"sm-%d\"><sm:BodyDigest>"
		 "%016llx%016llx%016llx</sm:BodyDigest></sm:SignedMessage>", i, (unsigned long long)ml_rand(&s),
		 (unsigned long long)ml_rand(&s), (unsigned long long)ml_rand(&s));
	snprintf(p->ocsp, sizeof(p->ocsp), "ocsp-%d", i % 2);
	p->r.time_ms = 1700000000000 + i;
	p->r.dir = i % 2 ? MSGLOG_REQUEST : MSGLOG_RESPONSE;
	p->r.side = MSGLOG_SERVER;
	p->r.reqid = p->reqid;
	p->r.message_id = p->msgid;
	p->r.client_id = CLIENT;
	p->r.service_id = SERVICE;
	p->r.body_mode = i % 7 ? MSGLOG_BODY_FULL : MSGLOG_BODY_DIGEST;
	p->r.body = p->body;
	p->r.body_len = strlen(p->body);
	p->r.sigdoc = p->sig;
	p->r.sigdoc_len = strlen(p->sig);
	p->r.ocsp = p->ocsp;
	p->r.ocsp_len = strlen(p->ocsp);
	p->r.request_hash = i % 2 ? "" : "aGFzaA==";
}

/* A closed log of records 1..n at path, packed or not. */
static int write_log(const char *path, int pack, int from, int n)
{
	struct msglog_config c;
	struct msglog *log;
	int i, rc = 0;

	msglog_config_defaults(&c);
	c.path = path;
	c.pack = pack;
	if (!(log = ml_open(&c)))
		return -1;
	for (i = from; i < from + n && rc == 0; i++) {
		struct prec *p = malloc(sizeof(*p));
		char *err = NULL;
		int64_t id;

		make_prec(p, i);
		if (msglog_append_sync(log, &p->r, &id, NULL, &err) < 0) {
			print_message("append %d: %s\n", i, err ? err : "?");
			rc = -1;
		}
		free(err);
		free(p);
	}
	msglog_close(log);
	return rc;
}

static int verify_one(const char *db, struct logverify_result *res, char *report, size_t cap)
{
	struct logverify_opts o = { 0 };
	FILE *rf = fmemopen(report, cap - 1, "w");
	int rc;

	memset(report, 0, cap);
	rc = logverify_run(&db, 1, &o, rf, res);
	fclose(rf);
	return rc;
}

/* Every row of a log, as iterate gives it. */
struct rows {
	int n;
	struct {
		int64_t id;
		int has_body;
		char *body, *sig, *ocsp;
		size_t body_len, sig_len, ocsp_len;
		unsigned char hash[MSGLOG_HASH_LEN];
	} r[NREC + 8];
};

static int keep_row(const struct msglog_row *r, void *arg)
{
	struct rows *k = arg;

	if (k->n >= NREC + 8)
		return -1;
	k->r[k->n].id = r->id;
	k->r[k->n].has_body = r->body != NULL;
	k->r[k->n].body = r->body ? strndup((const char *)r->body, r->body_len) : NULL;
	k->r[k->n].body_len = r->body_len;
	k->r[k->n].sig = strndup((const char *)r->sigdoc, r->sigdoc_len);
	k->r[k->n].sig_len = r->sigdoc_len;
	k->r[k->n].ocsp = strndup((const char *)r->ocsp, r->ocsp_len);
	k->r[k->n].ocsp_len = r->ocsp_len;
	memcpy(k->r[k->n].hash, r->hash, MSGLOG_HASH_LEN);
	k->n++;
	return 0;
}

static void read_rows(const char *db, struct rows *k, int with_body)
{
	struct msglog_filter f = { .with_body = with_body };
	void *conn = NULL;
	char *err = NULL;

	memset(k, 0, sizeof(*k));
	assert_int_equal(msglog_sqlite_ops.open(db, MSGLOG_OPEN_READONLY, &conn, &err), 0);
	assert_int_equal(msglog_sqlite_ops.iterate(conn, &f, keep_row, k, &err), 0);
	msglog_sqlite_ops.close(conn);
}

static void free_rows(struct rows *k)
{
	for (int i = 0; i < k->n; i++) {
		free(k->r[i].body);
		free(k->r[i].sig);
		free(k->r[i].ocsp);
	}
}

static long long fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* A path for a new log in a directory of its own. */
static void fresh_db(char *db, size_t cap)
{
	char d[300];

	newdir(d, sizeof(d));
	snprintf(db, cap, "%s/log.db", d);
}

/* The log verifies, n records. */
static void assert_verifies(const char *db, int64_t n)
{
	struct logverify_result res;
	char report[1024];

	if (verify_one(db, &res, report, sizeof(report)) != 0)
		fail_msg("%s: %s", db, report);
	assert_int_equal(res.records, n);
}

/* Packed and plain logs of the same records read back alike, byte for
 * byte, and the packed one is several times smaller. */
static void test_round_trip_and_size(void **state)
{
	char d[300], plain[400], packed[400], report[1024];
	struct rows *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct logverify_result res;
	int i;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(plain, sizeof(plain), "%s/plain.db", d);
	snprintf(packed, sizeof(packed), "%s/packed.db", d);
	assert_int_equal(write_log(plain, 0, 1, NREC), 0);
	assert_int_equal(write_log(packed, 1, 1, NREC), 0);
	/* Without bodies (what export's chain files and the replay reload
	 * read) and with them. */
	for (int with_body = 0; with_body < 2; with_body++) {
		read_rows(plain, a, with_body);
		read_rows(packed, b, with_body);
		assert_int_equal(a->n, NREC);
		assert_int_equal(b->n, NREC);
		for (i = 0; i < NREC; i++) {
			assert_int_equal(a->r[i].has_body, b->r[i].has_body);
			assert_int_equal(a->r[i].body_len, b->r[i].body_len);
			if (a->r[i].has_body)
				assert_memory_equal(a->r[i].body, b->r[i].body, a->r[i].body_len);
			assert_int_equal(a->r[i].sig_len, b->r[i].sig_len);
			assert_memory_equal(a->r[i].sig, b->r[i].sig, a->r[i].sig_len);
			assert_int_equal(a->r[i].ocsp_len, b->r[i].ocsp_len);
			assert_memory_equal(a->r[i].ocsp, b->r[i].ocsp, a->r[i].ocsp_len);
			assert_memory_equal(a->r[i].hash, b->r[i].hash, MSGLOG_HASH_LEN);   /* the same chain */
		}
		free_rows(a);
		free_rows(b);
	}
	/* The first PACK_SAMPLE_RECORDS as they are (the dictionary), the rest
	 * packed; a packed record's body column is empty, metadata-only ones
	 * keep NULL. */
	assert_int_equal(ml_count_rows(packed, "SELECT COUNT(*) FROM packing_dicts"), 1);
	assert_int_equal(ml_count_rows(packed, "SELECT MIN(id) FROM records WHERE packed IS NOT NULL"), PACK_SAMPLE_RECORDS + 1);
	assert_int_equal(ml_count_rows(packed, "SELECT COUNT(*) FROM records WHERE packed IS NULL"), PACK_SAMPLE_RECORDS);
	assert_int_equal(ml_count_rows(packed, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL AND body_mode = 1"
				   " AND length(body) <> 0"), 0);
	assert_int_equal(ml_count_rows(packed, "SELECT COUNT(*) FROM records WHERE body_mode = 2 AND body IS NOT NULL"), 0);
	/* Stored bytes of the packed records: at least 3x fewer. */
	{
		int64_t raw = ml_count_rows(plain, "SELECT SUM(IFNULL(length(body), 0) + length(sigdoc)) FROM records WHERE id > 8");
		int64_t st = ml_count_rows(packed, "SELECT SUM(IFNULL(length(body), 0) + length(sigdoc)) FROM records WHERE id > 8");
		print_message("packed: %lld -> %lld bytes (x%.1f); files %lld -> %lld\n", (long long)raw,
			      (long long)st, (double)raw / (double)st, fsize(plain), fsize(packed));
		assert_true(st * 3 < raw);
	}
	assert_int_equal(verify_one(packed, &res, report, sizeof(report)), 0);
	assert_int_equal(res.records, NREC);
	free(a);
	free(b);
}

/* Appends records from..from+n-1 at time_ms (0: now) to an open log. */
static int append_n(struct msglog *log, int from, int n, int64_t time_ms)
{
	for (int i = from; i < from + n; i++) {
		struct prec *p = malloc(sizeof(*p));
		char *err = NULL;
		int64_t id;
		int rc;

		make_prec(p, i);
		if (time_ms)
			p->r.time_ms = time_ms;
		rc = msglog_append_sync(log, &p->r, &id, NULL, &err);
		if (rc < 0)
			print_message("append %d: %s\n", i, err ? err : "?");
		free(err);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* A packed log written in two sessions (two dictionaries), its old part
 * archived: the archive file is packed with a dictionary of its own, and
 * archive + live log verify as one chain with their time stamps. */
static void test_two_sessions_and_archive(void **state)
{
	char d[300], db[400], adir[400], pki[400], tsa_dir[500], pf[400], down[400], tsa_cert[500],
		trust[500], url[64], *path = NULL, *err = NULL;
	const char *paths[2];
	struct msglog_config c;
	struct msglog *log;
	struct logverify_result res;
	struct logverify_opts o = { 0 };
	int port = 0, session;
	pid_t srv;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	snprintf(adir, sizeof(adir), "%s/archive", d);
	snprintf(pki, sizeof(pki), "%s/pki", d);
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", pki);
	snprintf(pf, sizeof(pf), "%s/tsa-port", d);
	snprintf(down, sizeof(down), "%s/tsa-down", d);
	snprintf(tsa_cert, sizeof(tsa_cert), "%s/tsa/tsa.pem", pki);
	snprintf(trust, sizeof(trust), "%s/ca/trust.pem", pki);
	mkdir(adir, 0700);
	assert_int_equal(sh("'%s/certs/mkpki.sh' '%s' --gateways a --members GOV/70000050 --clients '' "
			    ">/dev/null 2>&1", srcdir(), pki), 0);
	assert_true((srv = start_tsa(tsa_dir, pf, down, &port)) > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	for (session = 0; session < 2; session++) {
		msglog_config_defaults(&c);
		c.path = db;
		c.pack = 1;
		ml_tsa_cfg(&c, url, tsa_cert, trust);
		assert_non_null(log = ml_open(&c));
		/* Old records (time 1000 ms) in both sessions, then young ones. */
		assert_int_equal(append_n(log, 1 + 20 * session, 20, 1000), 0);
		assert_int_equal(ml_stamp_all(log), 0);
		if (session == 1) {
			assert_int_equal(append_n(log, 41, 5, 0), 0);
			assert_int_equal(ml_stamp_all(log), 0);
			/* A frame that no longer gives its bytes is not copied into
			 * an archive (and then cut): the run stops, naming it. */
			assert_int_equal(ml_exec_sql(db, "CREATE TABLE keep AS SELECT sigdoc FROM records WHERE id = 15;"
						  " UPDATE records SET sigdoc = CAST(substr(sigdoc, 1, 20) ||"
						  " CASE WHEN substr(sigdoc, 21, 1) = X'00' THEN X'01' ELSE X'00' END ||"
						  " substr(sigdoc, 22) AS BLOB) WHERE id = 15"), 0);
			assert_int_equal(msglog_archive(log, 2000, adir, &path, &err), -1);
			assert_non_null(err);
			assert_non_null(strstr(err, "record 15 is not archived, nothing cut: record 15: its packed frame"));
			free(err);
			err = NULL;
			assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records"), 45);
			assert_int_equal(ml_exec_sql(db, "UPDATE records SET sigdoc = (SELECT sigdoc FROM keep) WHERE id = 15;"
						  " DROP TABLE keep"), 0);
			assert_int_equal(msglog_archive(log, 2000, adir, &path, &err), 40);
		}
		msglog_close(log);
	}
	stop_tsa(srv);
	assert_non_null(path);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM packing_dicts"), 2);
	assert_true(ml_count_rows(path, "SELECT COUNT(*) FROM packing_dicts") >= 1);
	assert_int_equal(ml_count_rows(path, "SELECT COUNT(*) FROM records"), 40);
	assert_true(ml_count_rows(path, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL") > 20);
	paths[0] = path;
	paths[1] = db;
	o.tsa_ca_pem = trust;
	o.tsa_cert_pem = tsa_cert;
	o.require_stamped = 1;
	assert_int_equal(logverify_run(paths, 2, &o, NULL, &res), 0);
	assert_int_equal(res.records, 45);
	free(path);
}

/* Each kind of damage to what packing stores names the record it hits. */
static void test_damage_named(void **state)
{
	static const struct {
		const char *name, *sql;
		int64_t bad_id;
		int packed_damage;       /* the reader sees it (not only the digests) */
	} cases[] = {
		{ "a byte of a frame", "UPDATE records SET sigdoc = CAST(substr(sigdoc, 1, 30) || CASE WHEN"
				       " substr(sigdoc, 31, 1) = X'00' THEN X'01' ELSE X'00' END || substr(sigdoc, 32)"
				       " AS BLOB) WHERE id = 15", 15, 1 },
		{ "a body beside the frame of a metadata-only record",
		  "UPDATE records SET body = X'' WHERE id = 14", 14, 1 },
		{ "a dictionary without its tag", "UPDATE packing_dicts SET data = CAST('x' || substr(data, 2) AS BLOB)", 9, 1 },
		/* (A byte no frame refers to changes nothing read: not damage.) */
		{ "the dictionary replaced", "UPDATE packing_dicts SET data = CAST(substr(data, 1, 22)"
					     " || zeroblob(length(data) - 22) AS BLOB)", 9, 1 },
		{ "the dictionary deleted", "DELETE FROM packing_dicts", 9, 1 },
		{ "a body put beside a frame", "UPDATE records SET body = X'41' WHERE id = 12", 12, 1 },
		{ "the body of a packed record dropped", "UPDATE records SET body = NULL WHERE id = 12", 12, 0 },
		{ "a frame read as stored bytes", "UPDATE records SET packed = NULL WHERE id = 20", 20, 0 },
		{ "a reference to no dictionary", "UPDATE records SET packed = 7 WHERE id = 20", 20, 1 },
		{ "a frame of another record", "UPDATE records SET sigdoc = (SELECT sigdoc FROM records WHERE id = 23)"
					       " WHERE id = 22", 22, 0 },
	};
	char d[300], src[400], db[400], report[1024];
	size_t i;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(src, sizeof(src), "%s/src.db", d);
	assert_int_equal(write_log(src, 1, 1, 30), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct logverify_result res;
		int rc;

		snprintf(db, sizeof(db), "%s/case%zu.db", d, i);
		assert_int_equal(sh("cp '%s' '%s'", src, db), 0);
		assert_int_equal(verify_one(db, &res, report, sizeof(report)), 0);
		assert_int_equal(ml_exec_sql(db, cases[i].sql), 0);
		rc = verify_one(db, &res, report, sizeof(report));
		if (rc != 1 || res.bad_id != cases[i].bad_id)
			fail_msg("%s: rc %d, %s at %lld, want record %lld: %s", cases[i].name, rc,
				 logverify_problem_name(res.problem), (long long)res.bad_id,
				 (long long)cases[i].bad_id, res.detail);
		/* Damage to the packed form is called that, not a changed body. */
		if (cases[i].packed_damage && !strstr(res.detail, "packed frame"))
			fail_msg("%s: the report does not say the packed form is damaged: %s", cases[i].name,
				 res.detail);
		assert_non_null(strstr(report, "FAIL"));
	}
}

/* The sample completes (and its dictionary is stored) in a transaction
 * that rolls back: the writer does not go on packing against a row that
 * is gone; the records written again afterwards verify. */
static void test_dictionary_rolled_back(void **state)
{
	char d[300], db[400], report[1024], *err = NULL;
	void *conn = NULL;
	struct logverify_result res;
	unsigned char prev[MSGLOG_HASH_LEN] = { 0 };
	struct prec *p = malloc(sizeof(*p));
	int i, pass;

	(void)state;
	newdir(d, sizeof(d));
	snprintf(db, sizeof(db), "%s/log.db", d);
	assert_int_equal(msglog_sqlite_ops.open(db, MSGLOG_OPEN_CREATE | MSGLOG_OPEN_WRITER | MSGLOG_OPEN_PACK,
						&conn, &err), 0);
	for (pass = 0; pass < 2; pass++) {
		memset(prev, 0, sizeof(prev));
		assert_int_equal(msglog_sqlite_ops.begin(conn, &err), 0);
		for (i = 1; i <= PACK_SAMPLE_RECORDS + 4; i++) {
			struct msglog_row row;
			make_prec(p, i);
			memset(&row, 0, sizeof(row));
			row.id = i;
			row.time_ms = 1000 + i;
			row.dir = p->r.dir;
			row.side = p->r.side;
			row.reqid = p->r.reqid;
			row.message_id = p->r.message_id;
			row.client_id = p->r.client_id;
			row.service_id = p->r.service_id;
			row.body_mode = p->r.body_mode;
			row.body = row.body_mode == MSGLOG_BODY_FULL ? (const unsigned char *)p->r.body : NULL;
			row.body_len = p->r.body_len;
			assert_int_equal(sha256(p->r.body, p->r.body_len, row.body_sha256), 0);
			row.sigdoc = (const unsigned char *)p->r.sigdoc;
			row.sigdoc_len = p->r.sigdoc_len;
			row.ocsp = (const unsigned char *)p->r.ocsp;
			row.ocsp_len = p->r.ocsp_len;
			row.request_hash = p->r.request_hash;
			memcpy(row.prev_hash, prev, MSGLOG_HASH_LEN);
			assert_int_equal(msglog_row_hash(&row, row.hash), 0);
			memcpy(prev, row.hash, MSGLOG_HASH_LEN);
			assert_int_equal(msglog_sqlite_ops.insert(conn, &row, &err), 0);
		}
		if (pass == 0)
			msglog_sqlite_ops.rollback(conn);
		else
			assert_int_equal(msglog_sqlite_ops.commit(conn, &err), 0);
	}
	msglog_sqlite_ops.close(conn);
	free(p);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL AND packed NOT IN"
			       " (SELECT id FROM packing_dicts)"), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL"), 4);
	assert_int_equal(verify_one(db, &res, report, sizeof(report)), 0);
}

/* A log written without packing, then by a gateway with it: the old rows
 * stay as they are, new ones are packed, all read and verify; and back. */
static void test_switch_on_and_off(void **state)
{
	char db[400];

	(void)state;
	fresh_db(db, sizeof(db));
	assert_int_equal(write_log(db, 0, 1, 15), 0);
	assert_int_equal(write_log(db, 1, 16, 20), 0);
	assert_int_equal(write_log(db, 0, 36, 5), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL"), 20 - PACK_SAMPLE_RECORDS);
	assert_int_equal(ml_count_rows(db, "SELECT MAX(id) FROM records WHERE packed IS NOT NULL"), 35);
	assert_verifies(db, 40);
}

/* A log made by an older binary (no packed column, no packing_dicts)
 * opened by a packing writer gets both and goes on. */
static void test_old_layout(void **state)
{
	char db[400];

	(void)state;
	fresh_db(db, sizeof(db));
	assert_int_equal(write_log(db, 0, 1, 12), 0);
	/* What the layout was before packed records. */
	assert_int_equal(ml_exec_sql(db, "DROP TABLE packing_dicts; ALTER TABLE records DROP COLUMN packed"), 0);
	assert_int_equal(write_log(db, 1, 13, 20), 0);
	assert_int_equal(ml_count_rows(db, "SELECT COUNT(*) FROM records WHERE packed IS NOT NULL"), 20 - PACK_SAMPLE_RECORDS);
	assert_verifies(db, 32);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(DIR_) || evthread_use_pthreads() < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sh("rm -rf '%s'", DIR_);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_size),
		cmocka_unit_test(test_damage_named),
		cmocka_unit_test(test_dictionary_rolled_back),
		cmocka_unit_test(test_switch_on_and_off),
		cmocka_unit_test(test_old_layout),
		cmocka_unit_test(test_two_sessions_and_archive),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
