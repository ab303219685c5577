/* logverify_export: writes selected records and their batch time stamps as
 * plain files that a third party checks with openssl, xmlsec1, sha256sum
 * and a short python3 script (README.txt in the export says how). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "store/logverify.h"
#include "store/msglog_int.h"
#include "store/tsa.h"

/* EXPORT_CHECK_PY: export_check.py, the checker a third party runs, written as
 * check.py (CMakeLists.txt makes the header from the script). */
#include "store/export_check_py.h"

struct xstamp {
	int64_t id, first_id, last_id, time_ms;
	unsigned char root[MSGLOG_HASH_LEN];
	int64_t gen_ms;                  /* the token's genTime, once checked */
	int used;
};

/* How far a token's genTime may be before the records it stamps, or after
 * now, as log verify allows (logverify.c, DEFAULT_SKEW_MS). */
#define EXPORT_SKEW_MS 300000

/* Record ids as ranges, "1-4, 7", for README.txt. */
struct idlist {
	struct buf text;
	int64_t first, last;
	long n;
};

struct xctx {
	const struct msglog_backend_ops *ops;
	void *conn;
	const char *out;
	struct logverify_export_sel *sel;
	struct xstamp *st;
	size_t nst, cap;
	struct buf cmds;                 /* per-item commands for README.txt */
	long n;
	int64_t min_id, max_id;          /* of the records exported */
	struct idlist stamped, unstamped; /* their ids, for README.txt */
	struct tsa_trust *tsa;           /* from sel->tsa_ca_pem, or NULL */
	X509_STORE *sign_trust;          /* from sel->sign_trust_pem, or NULL */
	STACK_OF(X509) *sign_chain;      /* from sel->sign_chain_pem, or NULL */
	char **err;
};

static int mkdir_p(const char *path)
{
	char tmp[4096], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_file(struct xctx *x, const char *rel, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", x->out, rel) >= (int)sizeof(path)) {
		msglog_set_err(x->err, "export: path too long");
		return -1;
	}
	if (!(f = fopen(path, "wb"))) {
		msglog_set_err(x->err, "export: %s: %s", path, strerror(errno));
		return -1;
	}
	rc = (len && fwrite(data, 1, len, f) != len) ? -1 : 0;
	if (fclose(f) != 0)
		rc = -1;
	if (rc < 0)
		msglog_set_err(x->err, "export: writing %s failed", path);
	return rc;
}

static int copy_file(struct xctx *x, const char *src, const char *rel)
{
	struct buf b;
	char chunk[8192];
	size_t n;
	FILE *f = fopen(src, "rb");
	int rc = -1;

	buf_init(&b, 16 << 20);
	if (!f) {
		msglog_set_err(x->err, "export: %s: %s", src, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0)
			goto out;
	}
	rc = write_file(x, rel, b.data, b.len);
out:
	if (rc < 0 && !*x->err)
		msglog_set_err(x->err, "export: %s too large", src);
	fclose(f);
	buf_free(&b);
	return rc;
}

static int write_json(struct xctx *x, const char *rel, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	int rc;

	if (!s) {
		json_decref(j);
		msglog_set_err(x->err, "export: out of memory");
		return -1;
	}
	rc = write_file(x, rel, s, strlen(s));
	free(s);
	json_decref(j);
	return rc;
}

static json_t *hexj(const unsigned char *p, size_t n)
{
	char *h = malloc(2 * n + 1);
	json_t *j;

	if (!h)
		return NULL;
	hex_encode(p, n, h);
	j = json_string(h);
	free(h);
	return j;
}

static int idlist_flush(struct idlist *l)
{
	if (!l->n)
		return 0;
	if (l->first == l->last)
		return buf_printf(&l->text, "%s%lld", l->text.len ? ", " : "", (long long)l->first);
	return buf_printf(&l->text, "%s%lld-%lld", l->text.len ? ", " : "", (long long)l->first, (long long)l->last);
}

/* ids come in increasing order */
static int idlist_add(struct idlist *l, int64_t id)
{
	int rc = 0;

	if (l->n && id == l->last + 1) {
		l->last = id;
	} else {
		rc = idlist_flush(l);
		l->first = l->last = id;
	}
	l->n++;
	return rc;
}

/* t_ms as "YYYY-MM-DD HH:MM:SS" in UTC (sep 'T': ISO 8601 without the zone),
 * whole seconds: what xmlsec1 --verification-time takes. */
static void utc_text(int64_t t_ms, char *out, size_t len, char sep)
{
	time_t t = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, len, "1970-01-01 00:00:00");
	out[10] = sep;
}

/* -------------------------------------------------------------- batches */

static int load_xstamp(const struct msglog_stamp *s, void *arg)
{
	struct xctx *x = arg;

	if (x->nst == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct xstamp *n = realloc(x->st, cap * sizeof(*n));

		if (!n)
			return -1;
		x->st = n;
		x->cap = cap;
	}
	x->st[x->nst] = (struct xstamp){ .id = s->id, .first_id = s->first_id, .last_id = s->last_id,
					 .time_ms = s->time_ms };
	memcpy(x->st[x->nst].root, s->root, MSGLOG_HASH_LEN);
	x->nst++;
	return 0;
}

static struct xstamp *batch_of(struct xctx *x, int64_t id)
{
	size_t lo = 0, hi = x->nst;

	while (lo < hi) {   /* batches are sorted and disjoint */
		size_t mid = (lo + hi) / 2;

		if (x->st[mid].last_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nst && x->st[lo].first_id <= id ? &x->st[lo] : NULL;
}

struct chainctx {
	json_t *arr;
	unsigned char last[MSGLOG_HASH_LEN];
};

static int chain_row(const struct msglog_row *r, void *arg)
{
	struct chainctx *c = arg;
	struct buf canon = BUF_INIT;
	json_t *e;

	if (msglog_canon(r, &canon) < 0)
		return -1;
	e = json_pack("{sI s o s o s o}", "id", (json_int_t)r->id, "prev_hash",
		      hexj(r->prev_hash, MSGLOG_HASH_LEN), "canon",
		      hexj((unsigned char *)canon.data, canon.len), "hash", hexj(r->hash, MSGLOG_HASH_LEN));
	buf_free(&canon);
	if (!e || json_array_append_new(c->arr, e) < 0)
		return -1;
	memcpy(c->last, r->hash, MSGLOG_HASH_LEN);
	return 0;
}

struct tokout {
	struct xctx *x;
	const struct xstamp *s;
	const char *dir;
	int done;
};

static int token_out(const struct msglog_stamp *s, void *arg)
{
	struct tokout *t = arg;
	char rel[256];

	if (s->id != t->s->id)
		return 0;
	snprintf(rel, sizeof(rel), "%s/token.tsr", t->dir);
	if (write_file(t->x, rel, s->token, s->token_len) < 0)
		return -1;
	snprintf(rel, sizeof(rel), "%s/root.bin", t->dir);
	if (write_file(t->x, rel, s->root, MSGLOG_HASH_LEN) < 0)
		return -1;
	t->done = 1;
	return 0;
}

static int export_batch(struct xctx *x, const struct xstamp *s)
{
	struct msglog_filter f = { .from_id = s->first_id, .to_id = s->last_id };
	struct chainctx c = { json_array(), { 0 } };
	char dir[128], rel[192], when[32];
	struct tokout t = { x, s, dir, 0 };

	snprintf(dir, sizeof(dir), "batches/%lld-%lld", (long long)s->first_id, (long long)s->last_id);
	snprintf(rel, sizeof(rel), "%s/%s", x->out, dir);
	if (!c.arr || mkdir_p(rel) < 0 ||
	    x->ops->iterate_stamps(x->conn, s->first_id, s->first_id, 1, token_out, &t, x->err) != 0 ||
	    !t.done || x->ops->iterate(x->conn, &f, chain_row, &c, x->err) != 0) {
		json_decref(c.arr);
		if (!*x->err)
			msglog_set_err(x->err, "export: batch %lld unreadable", (long long)s->id);
		return -1;
	}
	snprintf(rel, sizeof(rel), "%s/chain.json", dir);
	if (write_json(x, rel, json_pack("{sI sI sI sI so}", "batch", (json_int_t)s->id, "first_id",
					 (json_int_t)s->first_id, "last_id", (json_int_t)s->last_id,
					 "time_ms", (json_int_t)s->time_ms, "chain", c.arr)) < 0)
		return -1;
	/* As of the token's genTime (check_span checked it), as log verify does:
	 * today the TSA's certificate may have expired. */
	utc_text(s->gen_ms, when, sizeof(when), 'T');
	return buf_printf(&x->cmds, "\n%s, the time stamp of records %lld..%lld (genTime %sZ):\n"
			  "openssl ts -verify -attime %lld -data %s/root.bin -in %s/token.tsr -CAfile tsa-ca.pem\n",
			  dir, (long long)s->first_id, (long long)s->last_id, when, (long long)(s->gen_ms / 1000),
			  dir, dir) < 0 ? -1 : 0;
}

/* -------------------------------------------------------- the log around */

/* What a third party's checks would find wrong with the log around the
 * records, the export finds first and refuses (a package that fails its own
 * checks proves nothing): the records from the first exported one's batch
 * to the last one's (or to the last exported record when no batch covers
 * it yet) must all be there, each sound and linked to the one before; each
 * batch among them must end at its stored root, with a token that verifies
 * (against --tsa-ca, or at least against the certificate it carries) at a
 * plausible time; and no record may lack a batch while later ones have one.
 * The same checks as log verify, over that span only. */
struct span {
	struct xctx *x;
	int64_t expect;                  /* the next record id */
	unsigned char prev[MSGLOG_HASH_LEN];
	int have_prev;
	int64_t batch_max_time;          /* the newest record of the current batch */
};

static int damaged(struct xctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int damaged(struct xctx *x, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	msglog_set_err(x->err, "%s - the log is damaged or was changed; nothing exported ('ailgate log "
		       "verify' names the first bad record)", why);
	return -1;
}

/* Batch s ends at a record whose hash is h (checked): its root, token and time. */
static int span_batch(struct span *sp, struct xstamp *s, const unsigned char *h)
{
	struct xctx *x = sp->x;
	struct { unsigned char *der; size_t len; } t = { NULL, 0 };
	char *e = NULL;
	int64_t gen = 0, now = msglog_now_ms();
	int rc = -1;

	if (memcmp(s->root, h, MSGLOG_HASH_LEN) != 0)
		return damaged(x, "batch %lld (records %lld..%lld): its stored root is not the hash of record %lld",
			       (long long)s->id, (long long)s->first_id, (long long)s->last_id, (long long)s->last_id);
	if (logverify_token(x->ops, x->conn, s->id, s->first_id, &t.der, &t.len, &e) < 0)
		damaged(x, "batch %lld (records %lld..%lld): its time stamp token is missing or unreadable%s%s",
			(long long)s->id, (long long)s->first_id, (long long)s->last_id, e ? ": " : "", e ? e : "");
	else if ((x->tsa ? tsa_verify(x->tsa, t.der, t.len, h, MSGLOG_HASH_LEN, &gen, &e)
			 : tsa_verify_carried(t.der, t.len, h, MSGLOG_HASH_LEN, &gen, &e)) < 0)
		damaged(x, "batch %lld (records %lld..%lld): its time stamp token does not verify%s: %s",
			(long long)s->id, (long long)s->first_id, (long long)s->last_id,
			x->tsa ? " against --tsa-ca" : "", e ? e : "?");
	else if (gen + EXPORT_SKEW_MS < sp->batch_max_time || gen > now + EXPORT_SKEW_MS ||
		 llabs(gen - s->time_ms) > 1000)
		damaged(x, "batch %lld (records %lld..%lld): its token's time %lld is not plausible (records up "
			"to %lld, stored %lld)", (long long)s->id, (long long)s->first_id, (long long)s->last_id,
			(long long)gen, (long long)sp->batch_max_time, (long long)s->time_ms);
	else {
		s->gen_ms = gen;
		rc = 0;
	}
	free(t.der);
	free(e);
	return rc;
}

static int span_row(const struct msglog_row *r, void *arg)
{
	struct span *sp = arg;
	struct xctx *x = sp->x;
	struct xstamp *s = batch_of(x, r->id);
	char why[256];

	if (r->id != sp->expect)
		return damaged(x, "record %lld is missing (the next one there is %lld)", (long long)sp->expect,
			       (long long)r->id);
	if (logverify_row_problem(r, why, sizeof(why)) != LOGVERIFY_OK)
		return damaged(x, "%s", why);
	if (sp->have_prev && memcmp(r->prev_hash, sp->prev, MSGLOG_HASH_LEN) != 0)
		return damaged(x, "record %lld does not link to record %lld", (long long)r->id,
			       (long long)(r->id - 1));
	if (!s && x->nst && x->st[x->nst - 1].first_id > r->id)
		return damaged(x, "record %lld is not covered by a time stamp, but later records are",
			       (long long)r->id);
	if (s && (r->id == s->first_id || r->time_ms > sp->batch_max_time))
		sp->batch_max_time = r->time_ms;
	if (s && r->id == s->last_id && span_batch(sp, s, r->hash) < 0)
		return -1;
	memcpy(sp->prev, r->hash, MSGLOG_HASH_LEN);
	sp->have_prev = 1;
	sp->expect = r->id + 1;
	return 0;
}

static int check_span(struct xctx *x)
{
	struct xstamp *a = batch_of(x, x->min_id), *b = batch_of(x, x->max_id);
	struct span sp = { .x = x };
	struct msglog_filter f = { .from_id = a ? a->first_id : x->min_id,
				   .to_id = b ? b->last_id : x->max_id, .with_body = 1 };
	size_t i;

	for (i = 0; i < x->nst; i++) {
		if (x->st[i].last_id < x->st[i].first_id || (i && x->st[i].first_id <= x->st[i - 1].last_id))
			return damaged(x, "batch %lld (records %lld..%lld) overlaps another or is empty",
				       (long long)x->st[i].id, (long long)x->st[i].first_id,
				       (long long)x->st[i].last_id);
	}
	sp.expect = f.from_id;
	if (x->ops->iterate(x->conn, &f, span_row, &sp, x->err) != 0)
		return -1;
	if (sp.expect != f.to_id + 1)
		return damaged(x, "record %lld is missing (%s)", (long long)sp.expect,
			       b ? "its batch stamps records up to it" : "an exported record comes after it");
	return 0;
}

/* ----------------------------------------------------------------- OCSP */

/* A record's OCSP data is what travelled with its message: the carried form
 * of trust/ocsp.h, base64 of each DER OCSPResponse separated by commas
 * (canon field 13 is the SHA-256 of those bytes). Each response is written
 * as records/<id>/ocsp-<i>.der, DER that openssl ocsp -respin reads; when
 * the data is not exactly that form (spaces around a comma, or not
 * responses at all), the logged bytes go to ocsp.txt as well, so that
 * check.py still ties them to canon. At most this many responses. */
#define OCSP_FILES_MAX 16

struct ocsp_items {
	size_t n;
	unsigned char *der[OCSP_FILES_MAX];
	size_t len[OCSP_FILES_MAX];
	int exact;                       /* the data is their base64, comma-separated */
};

static void ocsp_items_free(struct ocsp_items *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->der[i]);
	it->n = 0;
}

/* One DER OCSPResponse, and nothing after it. */
static int is_ocsp_response(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	int ok = r && p == der + len;

	OCSP_RESPONSE_free(r);
	ERR_clear_error();
	return ok;
}

/* 0 with it filled, or -1 (it empty) when the data is not carried responses. */
static int ocsp_split(const unsigned char *data, size_t len, struct ocsp_items *it)
{
	const char *p = (const char *)data, *end = p + len;

	memset(it, 0, sizeof(*it));
	it->exact = 1;
	while (p <= end) {
		const char *c = memchr(p, ',', (size_t)(end - p)), *e = c ? c : end, *a = p, *b = e;
		long n;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		it->exact &= a == p && b == e;
		if (it->n == OCSP_FILES_MAX || a == b || !(it->der[it->n] = malloc((size_t)(b - a))))
			goto bad;
		n = b64_decode(a, (size_t)(b - a), it->der[it->n], (size_t)(b - a));
		it->len[it->n] = n > 0 ? (size_t)n : 0;
		it->n++;
		if (n <= 0 || !is_ocsp_response(it->der[it->n - 1], (size_t)n))
			goto bad;
		p = e + 1;
	}
	return 0;
bad:
	ocsp_items_free(it);
	return -1;
}

/* Whether a response verifies as openssl ocsp -respin -CAfile sign-trust.pem
 * -verify_other sign-chain.pem -attime at checks it. */
static int ocsp_verifies(struct xctx *x, const unsigned char *der, size_t len, int64_t at)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *r;
	OCSP_BASICRESP *b;
	int ok;

	if (!x->sign_trust)
		return 0;
	r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	b = r ? OCSP_response_get1_basic(r) : NULL;
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(x->sign_trust), (time_t)at);
	ok = b && OCSP_basic_verify(b, x->sign_chain, x->sign_trust, 0) > 0;
	OCSP_BASICRESP_free(b);
	OCSP_RESPONSE_free(r);
	ERR_clear_error();
	return ok;
}

static int write_ocsp(struct xctx *x, const struct msglog_row *r, const char *dir)
{
	struct ocsp_items it;
	char rel[160];
	int rc = 0, carried;

	if (!r->ocsp_len)
		return 0;
	carried = ocsp_split(r->ocsp, r->ocsp_len, &it) == 0;
	if (!carried || !it.exact) {
		snprintf(rel, sizeof(rel), "%s/ocsp.txt", dir);
		rc = write_file(x, rel, r->ocsp, r->ocsp_len);
	}
	for (size_t i = 0; rc == 0 && i < it.n; i++) {
		snprintf(rel, sizeof(rel), "%s/ocsp-%zu.der", dir, i);
		rc = write_file(x, rel, it.der[i], it.len[i]);
		/* As of the record's time: the responder's certificate expires too. */
		if (rc == 0 && ocsp_verifies(x, it.der[i], it.len[i], r->time_ms / 1000))
			rc = buf_printf(&x->cmds, "openssl ocsp -respin %s -resp_text -CAfile sign-trust.pem%s "
					"-attime %lld   # its responder's signature, as of the record's time\n", rel,
					x->sel->sign_chain_pem ? " -verify_other sign-chain.pem" : "",
					(long long)(r->time_ms / 1000));
		else if (rc == 0)
			rc = buf_printf(&x->cmds, "openssl ocsp -respin %s -resp_text -noverify   # its content: "
					"its responder's CA is not in %s\n", rel, !x->sign_trust ? "this export (no "
					"sign-trust.pem)" : x->sign_chain ? "sign-trust.pem and sign-chain.pem (another "
					"CA's, e.g. for the gateway's TLS certificate)" : "sign-trust.pem");
	}
	ocsp_items_free(&it);
	return rc < 0 ? -1 : 0;
}

/* The anchors and intermediates the OCSP responses are checked against, as
 * openssl ocsp will with sign-trust.pem and sign-chain.pem. */
static int load_sign_trust(struct xctx *x)
{
	FILE *f;
	X509 *c;

	if (!x->sel->sign_trust_pem)
		return 0;
	if (!(x->sign_trust = X509_STORE_new()) ||
	    X509_STORE_load_file(x->sign_trust, x->sel->sign_trust_pem) != 1) {
		msglog_set_err(x->err, "export: --sign-trust %s: cannot load it", x->sel->sign_trust_pem);
		return -1;
	}
	if (!x->sel->sign_chain_pem)
		return 0;
	if (!(x->sign_chain = sk_X509_new_null()) || !(f = fopen(x->sel->sign_chain_pem, "r"))) {
		msglog_set_err(x->err, "export: --sign-chain %s: cannot load it", x->sel->sign_chain_pem);
		return -1;
	}
	while ((c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(x->sign_chain, c)) {
			X509_free(c);
			break;
		}
	}
	ERR_clear_error();
	fclose(f);
	return 0;
}

/* -------------------------------------------------------------- records */

static json_t *meta_json(const struct msglog_row *r, const struct xstamp *s)
{
	struct buf canon = BUF_INIT;
	json_t *j;

	if (msglog_canon(r, &canon) < 0)
		return NULL;
	j = json_pack("{sI sI ss ss ss ss ss ss ss ss sI so so so so so}",
		      "id", (json_int_t)r->id, "time_ms", (json_int_t)r->time_ms,
		      "direction", r->dir == MSGLOG_REQUEST ? "request" : "response",
		      "side", r->side == MSGLOG_CLIENT ? "client" : "server",
		      "reqid", r->reqid, "message_id", r->message_id, "client_id", r->client_id,
		      "service_id", r->service_id, "request_hash", r->request_hash,
		      "body_mode", r->body_mode == MSGLOG_BODY_FULL ? "full" : "digest",
		      "body_len", (json_int_t)r->body_len,
		      "body_sha256", hexj(r->body_sha256, MSGLOG_HASH_LEN),
		      "prev_hash", hexj(r->prev_hash, MSGLOG_HASH_LEN),
		      "hash", hexj(r->hash, MSGLOG_HASH_LEN),
		      "canon", hexj((unsigned char *)canon.data, canon.len),
		      "batch", s ? json_sprintf("batches/%lld-%lld", (long long)s->first_id,
						(long long)s->last_id) : json_null());
	buf_free(&canon);
	return j;
}

/* Whether the signature document signs a body digest (a SignedMessage). */
static int signs_body(const struct msglog_row *r)
{
	static const char tag[] = "<sm:BodyDigest ";

	return r->sigdoc_len && memmem(r->sigdoc, r->sigdoc_len, tag, sizeof(tag) - 1) != NULL;
}

static int record_cmds(struct xctx *x, const struct msglog_row *r, const struct xstamp *s, const char *dir)
{
	char when[32];
	int rc = 0;

	utc_text(r->time_ms, when, sizeof(when), 'T');
	rc |= buf_printf(&x->cmds, "\n%s, the %s of %s.%03dZ, ", dir, r->dir == MSGLOG_REQUEST ? "request" : "response",
			 when, (int)((r->time_ms % 1000 + 1000) % 1000));
	if (s)
		rc |= buf_printf(&x->cmds, "covered by the time stamp of batches/%lld-%lld:\n", (long long)s->first_id,
				 (long long)s->last_id);
	else
		rc |= buf_printf(&x->cmds, "NOT covered by a time stamp:\n");
	/* As of the record's time, as log verify does: the member's certificate
	 * may have expired since. xmlsec1 reads the time as local time. */
	utc_text(r->time_ms, when, sizeof(when), ' ');
	if (r->sigdoc_len)
		rc |= buf_printf(&x->cmds, "TZ=UTC xmlsec1 --verify --verification-time \"%s\" --trusted-pem "
				 "sign-trust.pem %s--id-attr:Id SignedProperties --id-attr:Id "
				 "urn:ailgate:signed-message:1:Batch %s/signature.xml\n", when,
				 x->sel->sign_chain_pem ? "--untrusted-pem sign-chain.pem " : "", dir);
	/* The body against what the member signed, not against meta.json. */
	if (r->body && signs_body(r))
		rc |= buf_printf(&x->cmds, "test \"$(openssl dgst -sha256 -binary %s/body.bin | base64)\" = "
				 "\"$(grep -o '<sm:BodyDigest [^>]*>[^<]*' %s/signature.xml | cut -d'>' -f2)\" "
				 "&& echo '%s/body.bin: the signed body'\n", dir, dir, dir);
	return rc < 0 ? -1 : 0;
}

static int export_row(const struct msglog_row *r, void *arg)
{
	struct xctx *x = arg;
	struct xstamp *s = batch_of(x, r->id);
	char dir[64], rel[128], why[256];

	/* What a third party would find wrong with it, the exporter says first:
	 * a package with a damaged record proves nothing about it. */
	if (logverify_row_problem(r, why, sizeof(why)) != LOGVERIFY_OK) {
		msglog_set_err(x->err, "%s - the log is damaged or was changed; nothing exported "
			       "('ailgate log verify' names the first bad record)", why);
		return -1;
	}
	snprintf(dir, sizeof(dir), "records/%lld", (long long)r->id);
	snprintf(rel, sizeof(rel), "%s/%s", x->out, dir);
	if (mkdir_p(rel) < 0) {
		msglog_set_err(x->err, "export: mkdir %s: %s", rel, strerror(errno));
		return -1;
	}
	snprintf(rel, sizeof(rel), "%s/meta.json", dir);
	if (write_json(x, rel, meta_json(r, s)) < 0)
		return -1;
	x->sel->unstamped += !s;
	if (idlist_add(s ? &x->stamped : &x->unstamped, r->id) < 0)
		return -1;
	snprintf(rel, sizeof(rel), "%s/body.bin", dir);
	if (r->body && write_file(x, rel, r->body, r->body_len) < 0)
		return -1;
	snprintf(rel, sizeof(rel), "%s/signature.xml", dir);
	if (r->sigdoc_len && write_file(x, rel, r->sigdoc, r->sigdoc_len) < 0)
		return -1;
	if (s)
		s->used = 1;
	if (!x->n || r->id < x->min_id)
		x->min_id = r->id;
	if (!x->n || r->id > x->max_id)
		x->max_id = r->id;
	x->n++;
	return record_cmds(x, r, s, dir) < 0 || write_ocsp(x, r, dir) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------- the whole */

/* What is covered by a time stamp and what is not, said first. */
static int readme_coverage(struct xctx *x, struct buf *b)
{
	struct idlist *st = &x->stamped, *un = &x->unstamped;

	if (buf_printf(b, "%ld record(s) from the message log.\n\n", x->n) < 0)
		return -1;
	if (st->n && buf_printf(b, "Covered by the RFC 3161 time stamp of their batch (batches/): record(s) "
				"%s.\n\n", st->text.data) < 0)
		return -1;
	if (!un->n)
		return 0;
	if (buf_printf(b, st->n ? "NOT covered by a time stamp: record(s) %s.\n" :
			  "NONE of them is covered by a time stamp (record(s) %s).\n", un->text.data) < 0)
		return -1;
	return buf_printf(b,
		"They were logged after the last batch was stamped (meta.json \"batch\": null). Their\n"
		"hashes link to the records before them, but no token stamps them: nothing in this\n"
		"export fixes them in time or shows that they were not changed or added later.\n"
		"check.py reports them UNSTAMPED and exits 2. Export them again after the gateway's\n"
		"next batch stamp to have them covered.\n\n") < 0 ? -1 : 0;
}

/* The certificates the commands need: each either in this export, or said
 * plainly to be missing, with where to get it. */
static int readme_anchors(struct xctx *x, struct buf *b)
{
	const struct logverify_export_sel *sel = x->sel;
	int rc = 0;

	if (sel->tsa_ca_pem)
		rc |= buf_printf(b, "tsa-ca.pem: the TSA's CA certificate(s), the anchor of the time stamps.\n");
	else
		rc |= buf_printf(b, "tsa-ca.pem is NOT in this export (it was made without --tsa-ca): put the TSA's\n"
				 "CA certificate, from the exchange's global configuration, here as tsa-ca.pem\n"
				 "before the openssl ts commands.\n");
	if (sel->sign_trust_pem)
		rc |= buf_printf(b, "sign-trust.pem: the root of the members' signing CA, the anchor of the\n"
				 "signatures (xmlsec1 reads one certificate from it).\n");
	else
		rc |= buf_printf(b, "sign-trust.pem is NOT in this export (it was made without --sign-trust): put\n"
				 "the root certificate of the members' signing CA, from the exchange's global\n"
				 "configuration, here as sign-trust.pem before the xmlsec1 commands.\n");
	if (sel->sign_chain_pem)
		rc |= buf_printf(b, "sign-chain.pem: the intermediate CA certificate between that root and the\n"
				 "members' certificates.\n");
	return buf_printf(b, "\n") < 0 || rc < 0 ? -1 : 0;
}

static int write_readme(struct xctx *x)
{
	struct buf b = BUF_INIT, anchors = BUF_INIT;
	const char *ocsp_check = !x->sign_trust ?
		", without checking its signature\n(no sign-trust.pem was given to check it against)." :
		" and, where its responder's\nCA is in this export's certificates, checks its signature as of the "
		"record's time.";
	int rc;

	rc = idlist_flush(&x->stamped) < 0 || idlist_flush(&x->unstamped) < 0 ? -1 : 0;
	rc |= readme_anchors(x, &anchors);
	rc |= buf_printf(&b, "ailgate message log export\n==========================\n\n");
	rc |= readme_coverage(x, &b);
	rc |= buf_printf(&b,
		"records/<id>/      meta.json (every field; digests and hashes in hex; `canon` is the\n"
		"                   record's canonical encoding), body.bin (when the body was logged),\n"
		"                   signature.xml (the signature document), ocsp-0.der, ocsp-1.der ...\n"
		"                   (the OCSP responses that travelled with the message, DER; ocsp.txt:\n"
		"                   the OCSP data as logged, when it is not exactly their base64 with\n"
		"                   commas between)\n"
		"batches/<a>-<b>/   token.tsr (RFC 3161 TimeStampResp), root.bin (the 32 bytes it\n"
		"                   stamps: the hash of record <b>), chain.json (records a..b)%s\n\n"
		"A record's hash is SHA-256(prev_hash || canon); canon is a sequence of fields, each\n"
		"a 4-byte big-endian length and its bytes: tag \"ailgate-msglog-1\", id, time_ms (8-byte\n"
		"big-endian each), direction, side (1 byte), reqid, message_id, client_id, service_id,\n"
		"body_mode (1 byte), body_len (8 bytes), SHA-256 of body, of signature document, of\n"
		"OCSP data, request_hash. Each hash is the next record's prev_hash, and the hash of a\n"
		"batch's last record is what its token stamps, so the token fixes every record of the\n"
		"batch (and before it) in time.\n\n"
		"Check it (from this directory):\n\n"
		"  python3 check.py\n\n"
		"check.py (Python 3's standard library only) recomputes every hash: each batch's\n"
		"chain.json up to root.bin; each record's hash from its canon, found in the chain of\n"
		"its batch (so the batch's token covers it); every readable field of meta.json\n"
		"against canon; body.bin, signature.xml and the OCSP data against their digests in\n"
		"canon, and the body's digest against the <sm:BodyDigest> the member signed (for a\n"
		"batch signature also the message's path up to the signed Root). It prints OK, BAD\n"
		"(with the reasons) or UNSTAMPED for each batch and record, and exits 0 only when\n"
		"every record is OK (1: something BAD; 2: records UNSTAMPED); a missing file is BAD.\n\n"
		"%s"
		"Then each time stamp, each signature and each body against the signed\n"
		"<sm:BodyDigest> of its signature.xml. Certificates expire (a member's and the TSA's\n"
		"after some years), so each is checked as of the time it was used, as 'ailgate log\n"
		"verify' does: a token as of its genTime (-attime, seconds since 1970 UTC), a\n"
		"signature as of its record's time (--verification-time, which xmlsec1 reads as local\n"
		"time: hence TZ=UTC). The commands give the same answer years later. openssl ocsp\n"
		"shows each OCSP response that travelled with a message (the status of the signing\n"
		"certificate, and of the sending gateway's TLS certificate)%s\n%s",
		x->stamped.n ? "" : "\n                   (none here: no record of this export is stamped)",
		anchors.data ? anchors.data : "", ocsp_check, x->cmds.data ? x->cmds.data : "");
	if (rc == 0)
		rc = write_file(x, "README.txt", b.data, b.len);
	if (rc == 0)
		rc = write_file(x, "check.py", EXPORT_CHECK_PY, sizeof(EXPORT_CHECK_PY));
	buf_free(&b);
	buf_free(&anchors);
	return rc;
}

/* path holds PEM certificates and nothing else: what export copies for a
 * third party must not be a private key given by mistake. */
static int certs_only(const char *opt, const char *path, char **err)
{
	FILE *f = fopen(path, "r");
	char *name = NULL, *hdr = NULL;
	unsigned char *data = NULL;
	long len, n = 0;
	int bad = 0;

	if (!f) {
		msglog_set_err(err, "export: %s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	while (!bad && PEM_read(f, &name, &hdr, &data, &len) == 1) {
		const unsigned char *p = data;
		X509 *c = strcmp(name, "CERTIFICATE") == 0 ? d2i_X509(NULL, &p, len) : NULL;

		if (!c) {
			msglog_set_err(err, "export: %s %s holds a %s, not only certificates: it is copied into "
				       "the export for third parties, so nothing else may be in it", opt, path, name);
			bad = 1;
		}
		X509_free(c);
		OPENSSL_free(name);
		OPENSSL_free(hdr);
		OPENSSL_free(data);
		n++;
	}
	ERR_clear_error();
	fclose(f);
	if (!bad && n == 0)
		msglog_set_err(err, "export: %s %s holds no PEM certificate", opt, path);
	return bad || n == 0 ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	return ftw->level == 0 ? 0 : remove(path);
}

/* A failed export leaves nothing behind (a retry would find DIR not empty):
 * what it wrote goes, and DIR too when the export made it. */
static void export_undo(const char *dir, int made)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (made)
		(void)rmdir(dir);
}

static int empty_or_new(const char *dir, int *made, char **err)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	int n = 0;

	*made = stat(dir, &st) < 0 && errno == ENOENT;
	if (mkdir_p(dir) < 0 || !(d = opendir(dir))) {
		msglog_set_err(err, "export: %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	if (n) {
		*made = 0;
		msglog_set_err(err, "export: %s is not empty", dir);
		return -1;
	}
	return 0;
}

static int export_all(struct xctx *x)
{
	struct msglog_filter f = { .from_ms = x->sel->from_ms, .to_ms = x->sel->to_ms,
				   .message_id = x->sel->message_id, .with_body = 1 };
	size_t i;

	if (x->sel->message_id)
		f.from_ms = f.to_ms = 0;
	if (x->ops->iterate_stamps(x->conn, 0, 0, 0, load_xstamp, x, x->err) != 0 ||
	    x->ops->iterate(x->conn, &f, export_row, x, x->err) != 0)
		return -1;
	if (x->n && check_span(x) < 0)
		return -1;
	for (i = 0; i < x->nst; i++) {
		if (x->st[i].used && export_batch(x, &x->st[i]) < 0)
			return -1;
	}
	if (x->sel->tsa_ca_pem && copy_file(x, x->sel->tsa_ca_pem, "tsa-ca.pem") < 0)
		return -1;
	if (x->sel->sign_trust_pem && copy_file(x, x->sel->sign_trust_pem, "sign-trust.pem") < 0)
		return -1;
	if (x->sel->sign_chain_pem && copy_file(x, x->sel->sign_chain_pem, "sign-chain.pem") < 0)
		return -1;
	return write_readme(x);
}

long logverify_export(const char *db, struct logverify_export_sel *sel, const char *out_dir,
		      char **err)
{
	char *e = NULL;
	struct xctx x = { .ops = msglog_backend_for(db), .out = out_dir, .sel = sel, .err = &e };
	long rc = -1;
	int made = 0, started = 0;

	buf_init(&x.cmds, 64 << 20);
	buf_init(&x.stamped.text, 16 << 20);
	buf_init(&x.unstamped.text, 16 << 20);
	sel->unstamped = 0;
	if ((sel->tsa_ca_pem && certs_only("--tsa-ca", sel->tsa_ca_pem, &e) < 0) ||
	    (sel->sign_trust_pem && certs_only("--sign-trust", sel->sign_trust_pem, &e) < 0) ||
	    (sel->sign_chain_pem && certs_only("--sign-chain", sel->sign_chain_pem, &e) < 0) ||
	    empty_or_new(out_dir, &made, &e) < 0)
		goto out;
	started = 1;
	if ((sel->tsa_ca_pem && !(x.tsa = tsa_trust_new(sel->tsa_ca_pem, NULL, &e))) || load_sign_trust(&x) < 0)
		goto out;
	if (x.ops->open(db, MSGLOG_OPEN_READONLY, &x.conn, &e) < 0)
		goto out;
	if (export_all(&x) < 0) {
		if (!e)
			msglog_set_err(&e, "export: failed");
		goto out;
	}
	rc = x.n;
out:
	if (err)
		*err = e;
	else
		free(e);
	if (x.conn)
		x.ops->close(x.conn);
	if (rc <= 0 && started)
		export_undo(out_dir, made);     /* nothing exported: nothing written */
	tsa_trust_free(x.tsa);
	X509_STORE_free(x.sign_trust);
	sk_X509_pop_free(x.sign_chain, X509_free);
	free(x.st);
	buf_free(&x.cmds);
	buf_free(&x.stamped.text);
	buf_free(&x.unstamped.text);
	return rc;
}
