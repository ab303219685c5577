/* The signed exchange: see core/sx.h. */
#include "core/sx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


#include "core/log.h"
#include "lib/num.h"
#include "lib/osutil.h"
#include <event2/event.h>
#include "store/msglog.h"
#include "trust/keys.h"
#include "trust/ocsp.h"
#include "trust/sign.h"
#include "trust/tls.h"

struct sx_key {
	char member[256];               /* "CLASS/CODE" */
	struct signing_key *key;
};

struct sx_state {
	struct sx_key *keys;
	size_t n_keys;
	struct msglog *log;             /* NULL when [msglog] enabled = off */
	char tsa_name[256];
	char tsa_cert_file[CFG_PATH_MAX + 32];
	struct ocsp_cache *ocsp;        /* our certificates' status, kept fresh */
	X509 *auth_cert;                /* this gateway's TLS certificate */
	unsigned char auth_sha256[32];
};

/* ---- start and stop --------------------------------------------------- */

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*err = strdup(msg);
	return -1;
}

static int load_keys(struct gw *g, struct sx_state *s, char **err)
{
	const struct config *c = g->cfg;

	s->keys = calloc(c->n_member_keys + 1, sizeof(*s->keys));
	if (!s->keys)
		return errf(err, "out of memory");
	for (size_t i = 0; i < c->n_member_keys; i++) {
		char *e = NULL;
		struct sx_key *k = &s->keys[s->n_keys];
		char cls[XRD_PART_MAX], code[XRD_PART_MAX];

		if (keys_load_pem(c->member_keys[i].key_file, c->member_keys[i].cert_file, NULL, &k->key, &e) < 0) {
			int rc = errf(err, "%s: [signing] member_key %s: %s", c->path, c->member_keys[i].member,
				      e ? e : "cannot load");
			free(e);
			return rc;
		}
		snprintf(k->member, sizeof(k->member), "%s", c->member_keys[i].member);
		s->n_keys++;
		/* The certificate must name the member it is configured for. */
		if (sig_cert_member(k->key->cert, cls, sizeof(cls), code, sizeof(code)) < 0)
			return errf(err, "%s: [signing] member_key %s: the certificate names no member "
				    "(subject serialNumber must be CLASS/CODE and CN the code)",
				    c->path, k->member);
		char m[sizeof(cls) + sizeof(code) + 1];
		snprintf(m, sizeof(m), "%s/%s", cls, code);
		if (strcmp(m, k->member) != 0)
			return errf(err, "%s: [signing] member_key %s: the certificate belongs to member %s",
				    c->path, k->member, m);
	}
	return 0;
}

/* The TSA of global configuration, its certificate written where the
 * message log's TSA client reads it. */
static int tsa_from_gconf(struct gw *g, struct sx_state *s, struct msglog_config *mc, char **err)
{
	const struct gc_tsa *t = gconf_n_tsas(g->gc) ? gconf_tsa_at(g->gc, 0) : NULL;
	FILE *f;

	if (!t) {
		log_warn("event=msglog why=\"global configuration approves no time-stamping authority: "
			 "records are logged and chained but not time-stamped\"");
		return 0;
	}
	snprintf(s->tsa_name, sizeof(s->tsa_name), "%s", t->name);
	snprintf(s->tsa_cert_file, sizeof(s->tsa_cert_file), "%s/approved-tsa.pem", g->cfg->data_dir);
	if (g->flags & GW_CHECK)
		return 0;   /* global configuration checked the certificate; the log is not opened to stamp */
	f = fopen(s->tsa_cert_file, "w");
	if (!f || fputs(t->cert_pem, f) < 0) {
		if (f)
			fclose(f);
		return errf(err, "cannot write %s", s->tsa_cert_file);
	}
	if (fclose(f) != 0)
		return errf(err, "cannot write %s", s->tsa_cert_file);
	mc->tsa_url = t->url;
	mc->tsa_cert_pem = s->tsa_cert_file;
	return 0;
}

/* serve --check: the log read, not opened for writing (msglog_check). */
static int check_log(const struct msglog_config *mc, const char *path, char **err)
{
	struct msglog_chain_state st;
	char shown[CFG_PATH_MAX + 32];
	int exists;

	if (msglog_check(mc, &st, &exists, err) < 0)
		return -1;
	msglog_target_display(path, shown, sizeof(shown));
	if (!exists)
		log_info("event=check msglog=%s records=0 why=\"none yet: the gateway creates it\"", shown);
	else
		log_info("event=check msglog=%s records=%lld first=%lld last=%lld last_stamped=%lld", shown,
			 st.first_id ? (long long)(st.last_id - st.first_id + 1) : 0LL, (long long)st.first_id,
			 (long long)st.last_id, (long long)st.last_stamped_id);
	return 0;
}

/* The newest stamped record, from the stamping thread: operators keep these
 * lines off the machine (syslog, journald forwarding), and any one of them
 * lets `ailgate log verify --anchor` tell a log whose end was cut. */
static void anchor_note(void *arg, int64_t id, const unsigned char hash[MSGLOG_HASH_LEN], int64_t time_ms)
{
	char hx[2 * MSGLOG_HASH_LEN + 1];

	(void)arg;
	(void)time_ms;
	hex_encode(hash, MSGLOG_HASH_LEN, hx);
	log_info("event=msglog_anchor anchor=%lld:%s", (long long)id, hx);
}

/* Retention, from the stamper's thread: each archive file written, and each
 * run that could not archive (retried every archive_interval_ms; /health
 * warns meanwhile). */
static void archive_note(void *arg, int failed, const char *what)
{
	char q[700];

	(void)arg;
	if (failed)
		log_error("event=msglog_archive ok=0 why=%s hint=\"records older than [msglog] retention_days stay "
			  "in the live log until this is fixed\"", log_quote(what, q, sizeof(q)));
	else
		log_info("event=msglog_archive ok=1 file=%s", log_quote(what, q, sizeof(q)));
}

static int open_log(struct gw *g, struct sx_state *s, char **err)
{
	const struct config *c = g->cfg;
	struct msglog_config mc;
	struct msglog_replay_info ri;
	char path[CFG_PATH_MAX + 32], snap[CFG_PATH_MAX + 40], shown[CFG_PATH_MAX + 32];

	if (!c->msglog_enabled) {
		log_warn("event=msglog enabled=0 why=\"[msglog] enabled = off: exchanges are not logged "
			 "(development only)\"");
		return 0;
	}
	/* A misspelt subsystem would have its bodies logged in full, silently. */
	for (size_t i = 0; i < c->n_metadata_only; i++) {
		struct xrd_id id;
		char e[128];

		if (xrd_id_parse_path(c->metadata_only[i].id, &id, e, sizeof(e)) != 0 ||
		    !gconf_client_exists(g->gc, &id))
			return errf(err, "%s: [msglog] metadata_only %s: global configuration has no such "
				    "subsystem (a misspelt id would have its exchanges logged with their bodies)",
				    c->path, c->metadata_only[i].id);
	}
	msglog_config_defaults(&mc);
	if (c->msglog_path[0])
		snprintf(path, sizeof(path), "%s", c->msglog_path);
	else
		snprintf(path, sizeof(path), "%s/msglog.db", c->data_dir);
	mc.path = path;
	/* The replay window written at a clean stop, read at the next start
	 * instead of reloading it from the log (gateway/store/README.md). */
	if (msglog_target_is_pg(path))
		snprintf(snap, sizeof(snap), "%s/msglog.replay", c->data_dir);
	else
		snprintf(snap, sizeof(snap), "%s.replay", path);
	mc.replay_snapshot = snap;
	mc.ts_interval_ms = c->ts_interval_ms;
	mc.ts_sync = c->ts_sync;
	mc.pack = c->msglog_compress;
	mc.ts_max_unstamped_ms = c->ts_max_unstamped_ms;
	mc.ts_timeout_ms = c->ts_interval_ms > 10000 ? 10000 : (c->ts_interval_ms < 2000 ? 2000 : c->ts_interval_ms);
	mc.ts_retry_max_ms = 5000;
	mc.replay_window_ms = c->replay_window_s * 1000u;
	mc.max_body = c->max_body > c->max_response ? c->max_body : c->max_response;
	mc.max_body += 64 * 1024;   /* REST: the canonical head comes on top */
	mc.anchor_note = anchor_note;
	mc.anchor_interval_ms = c->anchor_interval_ms;
	if (c->archive_dir[0] && c->retention_days) {
		mc.archive_dir = c->archive_dir;
		mc.retention_days = c->retention_days;
		mc.archive_chunk = c->archive_file_records;
		mc.archive_note = archive_note;
	}
	if (tsa_from_gconf(g, s, &mc, err) < 0)
		return -1;
	if (g->flags & GW_CHECK)
		return check_log(&mc, path, err);
	s->log = msglog_open(&mc, err);
	if (!s->log)
		return -1;
	msglog_replay_info(s->log, &ri);
	if (ri.why[0])
		log_info("event=msglog replay_snapshot=%s used=0 why=\"%s\"", snap, ri.why);
	log_info("event=msglog enabled=1 path=%s tsa=%s ts_interval_ms=%u ts_sync=%d compress=%d replay_entries=%zu "
		 "replay_from=%s replay_load_ms=%.1f", msglog_target_display(path, shown, sizeof(shown)),
		 mc.tsa_url ? mc.tsa_url : "-",
		 mc.ts_interval_ms, mc.ts_sync, mc.pack, ri.entries, msglog_replay_from_name(ri.from), ri.load_ms);
	return 0;
}

/* Keeps cert's status fresh, asking the responders of its approved CA. */
static int watch(struct gconf *gc, struct sx_state *s, X509 *cert, const char *what, char **err)
{
	const struct gc_ca *ca = gconf_ca_of(gc, cert);
	char *e = NULL;

	if (!ca)
		return errf(err, "%s: its issuer is not a CA approved by global configuration", what);
	if (ocsp_cache_watch(s->ocsp, cert, sk_X509_value(ca->certs, 0), (const char *const *)ca->ocsp_urls,
			     ca->n_ocsp, &e) < 0) {
		int rc = errf(err, "%s: %s", what, e ? e : "cannot watch its OCSP status");
		free(e);
		return rc;
	}
	return 0;
}

/* The responses for our certificates are kept in <data_dir>/ocsp/ across
 * restarts, so a restarted gateway can sign (and says ready) before its
 * responders have answered again; they are verified and used only while
 * fresh. */
static void ocsp_file(struct gw *g, const unsigned char sha[32], char *out, size_t len)
{
	char hex[65];

	hex_encode(sha, 32, hex);
	snprintf(out, len, "%s/ocsp/%s.der", g->cfg->data_dir, hex);
}

static void ocsp_restore(struct gw *g, struct sx_state *s, const unsigned char sha[32])
{
	char path[CFG_PATH_MAX + 100], why[OCSP_WHY_MAX];
	unsigned char der[OCSP_MAX_RESPONSE];
	size_t n;
	FILE *f;

	ocsp_file(g, sha, path, sizeof(path));
	if (!(f = fopen(path, "rb")))
		return;
	n = fread(der, 1, sizeof(der), f);
	fclose(f);
	if (n == 0 || ocsp_cache_seed(s->ocsp, sha, der, n, why, sizeof(why)) < 0)
		log_info("event=ocsp restore=0 file=%s why=\"%s\"", path, n ? why : "empty");
}

static void ocsp_keep(struct gw *g, struct sx_state *s, const unsigned char sha[32])
{
	char path[CFG_PATH_MAX + 100], tmp[CFG_PATH_MAX + 110], why[OCSP_WHY_MAX];
	unsigned char *der = NULL;
	size_t len = 0;
	FILE *f;

	if (ocsp_cache_get(s->ocsp, sha, &der, &len, NULL, why, sizeof(why)) < 0)
		return;
	snprintf(path, sizeof(path), "%s/ocsp", g->cfg->data_dir);
	mkdir(path, 0700);
	ocsp_file(g, sha, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f || fwrite(der, 1, len, f) != len || fclose(f) != 0 || rename(tmp, path) != 0) {
		if (f)
			unlink(tmp);
		log_warn("event=ocsp keep=0 file=%s", path);
	}
	free(der);
}

/* Our signing certificates and our TLS certificate: their OCSP responses
 * travel with every message we send. */
static int start_ocsp(struct gw *g, struct sx_state *s, char **err)
{
	struct ocsp_cache_config oc = { 0 };

	if (!gconf_trust(g->gc)) {
		log_warn("event=ocsp why=\"global configuration approves no CA: certificate status is not "
			 "checked and no signature can be verified\"");
		return 0;
	}
	oc.freshness_s = g->cfg->ocsp_freshness_s;
	oc.timeout_ms = g->cfg->ocsp_timeout_ms;
	oc.fetch_interval_s = g->cfg->ocsp_fetch_interval_s;
	oc.retry_min_ms = 500;
	oc.retry_max_ms = 10000;
	oc.trust = gconf_trust(g->gc);
	s->ocsp = ocsp_cache_new(&oc, err);
	if (!s->ocsp)
		return -1;
	for (size_t i = 0; i < s->n_keys; i++) {
		char what[300];
		snprintf(what, sizeof(what), "signing certificate of %s", s->keys[i].member);
		if (watch(g->gc, s, s->keys[i].key->cert, what, err) < 0)
			return -1;
		ocsp_restore(g, s, s->keys[i].key->cert_sha256);
	}
	/* The TLS certificate as the server context loaded it (load_tls). */
	if (g->server_tls && (s->auth_cert = SSL_CTX_get0_certificate(g->server_tls)) != NULL) {
		if (!X509_up_ref(s->auth_cert)) {
			s->auth_cert = NULL;
			return errf(err, "out of memory");
		}
		if (tls_cert_sha256(s->auth_cert, s->auth_sha256) < 0)
			return errf(err, "cannot hash this gateway's TLS certificate");
		if (watch(g->gc, s, s->auth_cert, "authentication certificate", err) < 0)
			return -1;
		ocsp_restore(g, s, s->auth_sha256);
	}
	return 0;
}

void sx_gconf_changed(struct gw *g, struct gconf *c)
{
	struct sx_state *s = g->sx;
	uint64_t gen;
	char *err = NULL;

	if (!s || !s->ocsp || !gconf_trust(c))
		return;
	if (ocsp_cache_set_trust(s->ocsp, gconf_trust(c)) < 0)
		log_warn("event=ocsp why=\"a kept OCSP response does not verify under the new approved CAs; "
			 "fetching again\"");
	gen = ocsp_cache_begin(s->ocsp);
	for (size_t i = 0; i < s->n_keys; i++)
		if (watch(c, s, s->keys[i].key->cert, s->keys[i].member, &err) < 0) {
			log_error("event=ocsp why=\"%s\"", err);
			free(err);
			err = NULL;
		}
	if (s->auth_cert && watch(c, s, s->auth_cert, "authentication certificate", &err) < 0) {
		log_error("event=ocsp why=\"%s\"", err);
		free(err);
	}
	ocsp_cache_sweep(s->ocsp, gen);
}

int sx_init(struct gw *g, char **err)
{
	struct sx_state *s = calloc(1, sizeof(*s));

	*err = NULL;
	if (!s)
		return errf(err, "out of memory");
	g->sx = s;
	if (sig_global_init(err) < 0 || load_keys(g, s, err) < 0 || open_log(g, s, err) < 0 ||
	    start_ocsp(g, s, err) < 0)
		return -1;
	return 0;
}

static void batch_free(struct worker *w);

void sx_detach(struct worker *w)
{
	batch_free(w);
	if (w->gw->sx && w->gw->sx->log)
		msglog_detach_base(w->gw->sx->log, w->base);
}

void sx_free(struct gw *g)
{
	struct sx_state *s = g ? g->sx : NULL;

	if (!s)
		return;
	if (s->log) {
		char why[256];

		msglog_close_why(s->log, why, sizeof(why));
		if (why[0])
			log_warn("event=msglog replay_snapshot=0 why=\"%s; the next start reloads the replay "
				 "window from the log\"", why);
	}
	if (s->ocsp && !(g->flags & GW_CHECK)) {   /* a check keeps nothing */
		for (size_t i = 0; i < s->n_keys; i++)
			ocsp_keep(g, s, s->keys[i].key->cert_sha256);
		if (s->auth_cert)
			ocsp_keep(g, s, s->auth_sha256);
	}
	ocsp_cache_free(s->ocsp);
	X509_free(s->auth_cert);
	for (size_t i = 0; i < s->n_keys; i++)
		keys_free(&s->keys[i].key);
	free(s->keys);
	free(s);
	g->sx = NULL;
}

/* ---- helpers ----------------------------------------------------------- */

static const struct signing_key *member_key(struct gw *g, const struct xrd_id *id)
{
	char m[2 * XRD_PART_MAX + 1];

	snprintf(m, sizeof(m), "%s/%s", id->member_class, id->member_code);
	for (size_t i = 0; g->sx && i < g->sx->n_keys; i++)
		if (strcmp(g->sx->keys[i].member, m) == 0)
			return g->sx->keys[i].key;
	return NULL;
}

static int metadata_only(struct gw *g, const struct xrd_id *id)
{
	char t[XRD_ID_TEXT_MAX];
	struct xrd_id sub = *id;

	if (id->type == XRD_SERVICE) {
		sub.type = XRD_SUBSYSTEM;
		sub.service_code[0] = sub.service_version[0] = '\0';
	}
	xrd_id_format_path(&sub, t, sizeof(t));
	for (size_t i = 0; i < g->cfg->n_metadata_only; i++)
		if (strcmp(g->cfg->metadata_only[i].id, t) == 0)
			return 1;
	return 0;
}

static const char *msg_id(const struct exch *ex)
{
	return ex->proto == EXCH_SOAP ? ex->soap.id : ex->rest ? ex->rest->id : "";
}

/* The bytes of the request as signed and logged. SOAP: the body as is
 * (*bytes points into ex). REST: the canonical form, built in tmp. */
static int request_bytes(struct exch *ex, const struct http_hdr *h, size_t n, struct buf *tmp,
			 const void **bytes, size_t *len)
{
	if (ex->proto == EXCH_SOAP) {
		*bytes = ex->body;
		*len = ex->body_len;
		return 0;
	}
	char line[REST_TARGET_MAX + 32];
	snprintf(line, sizeof(line), "%s %s", ex->method, ex->target);
	if (rest_canonical_message(line, h, n, rest_signed_request_headers, rest_n_signed_request_headers,
				   ex->body, ex->body_len, tmp) < 0)
		return -1;
	*bytes = tmp->data;
	*len = tmp->len;
	return 0;
}

static int response_bytes(struct exch *ex, const struct exch_resp *r, struct buf *tmp, const void **bytes,
			  size_t *len)
{
	if (ex->proto == EXCH_SOAP) {
		*bytes = r->body;
		*len = r->body_len;
		return 0;
	}
	char line[32];
	snprintf(line, sizeof(line), "%ld", r->status);
	if (rest_canonical_message(line, r->hdrs, r->nhdrs, rest_signed_response_headers,
				   rest_n_signed_response_headers, r->body, r->body_len, tmp) < 0)
		return -1;
	*bytes = tmp->data;
	*len = tmp->len;
	return 0;
}

static void log_done(const struct msglog_result *res, void *arg)
{
	struct exch *ex = arg;

	if (res->status != MSGLOG_OK && !ex->log_error[0])
		snprintf(ex->log_error, sizeof(ex->log_error), "%s%s",
			 res->status == MSGLOG_ERR_STAMP ? "TimestamperFailed: " : "", res->errmsg);
	ex->log_pending--;
	if (ex->log_pending == 0)
		exch_release(ex);
}

/* Queues one record; the answer waits for it (ex->log_pending). */
static int log_append(struct exch *ex, enum msglog_dir dir, enum msglog_side side, const void *bytes,
		      size_t len, const unsigned char *bytes_sha256, const void *sigdoc, size_t siglen,
		      const char *ocsp, size_t ocsp_len, const char *prefix, struct fault *f)
{
	struct gw *g = ex->w->gw;
	struct msglog_rec rec = { 0 };
	char cl[XRD_ID_TEXT_MAX], sv[XRD_ID_TEXT_MAX];
	char *err = NULL;

	if (!g->sx || !g->sx->log)
		return 0;
	rec.dir = dir;
	rec.side = side;
	rec.reqid = ex->reqid;
	rec.message_id = msg_id(ex);
	rec.client_id = xrd_id_format_path(&ex->client, cl, sizeof(cl));
	rec.service_id = xrd_id_format_path(&ex->service, sv, sizeof(sv));
	rec.body_mode = metadata_only(g, &ex->client) || metadata_only(g, &ex->service) ? MSGLOG_BODY_DIGEST
											: MSGLOG_BODY_FULL;
	rec.body = bytes;
	rec.body_len = len;
	rec.body_sha256 = bytes_sha256;   /* the signature's digest of the same bytes */
	rec.sigdoc = sigdoc;
	rec.sigdoc_len = siglen;
	rec.ocsp = ocsp;
	rec.ocsp_len = ocsp ? ocsp_len : 0;
	rec.request_hash = dir == MSGLOG_RESPONSE ? ex->hash : "";
	/* The answer waits for the response's record: the request's goes in
	 * the same commit (msglog.h, lazy). */
	rec.lazy = dir == MSGLOG_REQUEST;
	if (msglog_append(g->sx->log, &rec, log_done, ex, ex->w->base, &err) < 0) {
		fault_set(f, prefix, "LoggingFailed", "the message log cannot take the %s: %s",
			  dir == MSGLOG_REQUEST ? "request" : "response", err ? err : "?");
		free(err);
		return -1;
	}
	ex->log_pending++;
	return 0;
}

/* ---- OCSP (certificate status carried with the message) --------------- */

/* The current response for one of our certificates; refuses to go on when
 * there is none fresh or it is not GOOD. */
static int own_status(struct sx_state *s, const unsigned char sha[32], const char *what, unsigned char **der,
		      size_t *len, struct ocsp_status *out, const char *prefix, struct fault *f)
{
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];

	if (ocsp_cache_get(s->ocsp, sha, der, len, &st, why, sizeof(why)) < 0)
		return fault_set(f, prefix, "CertValidation",
				 "the status of this gateway's %s is not known: %s (OCSP responder of the "
				 "approved CA)", what, why);
	if (st.state != OCSP_CERT_GOOD) {
		free(*der);
		*der = NULL;
		return fault_set(f, prefix, "CertValidation", "this gateway's %s is %s%s%s", what,
				 ocsp_cert_state_name(st.state), st.state == OCSP_CERT_REVOKED ? ": " : "",
				 st.state == OCSP_CERT_REVOKED ? ocsp_reason_name(st.reason) : "");
	}
	*out = st;
	return 0;
}

/* The carried text of the last few keys on one worker, with the times of
 * the responses it was made from: while the cache still holds responses
 * with those times, the text is the same and is not fetched and encoded
 * again for every message. */
#define CARRIED_MEMO_MAX 4

struct carried_memo {
	const struct signing_key *k;
	struct ocsp_status st[2];
	size_t n;
	struct buf text;
};

static int same_status(const struct ocsp_status *a, const struct ocsp_status *b)
{
	return a->state == b->state && a->this_update == b->this_update && a->next_update == b->next_update &&
	       a->produced_at == b->produced_at && a->revoked_at == b->revoked_at && a->reason == b->reason;
}

/* The memo entry for k whose responses are still the cache's (fresh and
 * GOOD), or NULL. */
static const struct carried_memo *memo_find(struct sx_state *s, const struct carried_memo *memo,
					     const struct signing_key *k)
{
	for (size_t i = 0; memo && i < CARRIED_MEMO_MAX; i++) {
		const struct carried_memo *m = &memo[i];
		struct ocsp_status st;

		if (m->k != k || !m->text.data)
			continue;
		if (ocsp_cache_status(s->ocsp, k->cert_sha256, &st, NULL, 0) != OCSP_CACHE_GOOD ||
		    !same_status(&st, &m->st[0]))
			return NULL;
		if (m->n > 1 && (ocsp_cache_status(s->ocsp, s->auth_sha256, &st, NULL, 0) != OCSP_CACHE_GOOD ||
				 !same_status(&st, &m->st[1])))
			return NULL;
		return m;
	}
	return NULL;
}

static void memo_keep(struct carried_memo *memo, const struct signing_key *k, const struct ocsp_status *st,
		      size_t n, const struct buf *text)
{
	struct carried_memo *m = NULL;
	size_t i;

	if (!memo)
		return;
	for (i = 0; i < CARRIED_MEMO_MAX && !m; i++)
		if (memo[i].k == k || !memo[i].k)
			m = &memo[i];
	if (!m) {   /* more keys than entries: the oldest goes */
		buf_free(&memo[0].text);
		memmove(&memo[0], &memo[1], (CARRIED_MEMO_MAX - 1) * sizeof(*memo));
		m = &memo[CARRIED_MEMO_MAX - 1];
		memset(m, 0, sizeof(*m));
	}
	buf_free(&m->text);
	buf_init(&m->text, OCSP_HEADER_MAX_LEN);
	if (buf_append(&m->text, text->data ? text->data : "", text->len) < 0) {
		buf_free(&m->text);
		m->k = NULL;
		return;
	}
	m->k = k;
	m->n = n;
	memcpy(m->st, st, n * sizeof(*st));
}

static void memo_free(struct carried_memo *memo)
{
	for (size_t i = 0; i < CARRIED_MEMO_MAX; i++)
		buf_free(&memo[i].text);
}

/* The OCSP responses that travel with a message: for the signing
 * certificate and for this gateway's TLS certificate, as text into carried
 * (which is also what is logged). memo: the worker's (may be NULL). */
static int ocsp_attach(struct exch *ex, const struct signing_key *k, struct carried_memo *memo, struct buf *carried,
		       const char *prefix, struct fault *f)
{
	struct sx_state *s = ex->w->gw->sx;
	unsigned char *der[2] = { NULL, NULL };
	size_t len[2] = { 0, 0 }, n = 0;
	struct ocsp_status st[2];
	const struct carried_memo *hit;
	int rc = -1;

	if (!s->ocsp)
		return 0;
	buf_init(carried, OCSP_HEADER_MAX_LEN);
	if ((hit = memo_find(s, memo, k))) {
		if (buf_append(carried, hit->text.data, hit->text.len) == 0)
			return 0;
		buf_free(carried);
		return fault_set(f, prefix, "InternalError", "cannot attach the OCSP responses");
	}
	if (own_status(s, k->cert_sha256, "signing certificate", &der[n], &len[n], &st[n], prefix, f) < 0)
		goto out;
	n++;
	if (s->auth_cert) {
		if (own_status(s, s->auth_sha256, "TLS authentication certificate", &der[n], &len[n], &st[n], prefix,
			       f) < 0)
			goto out;
		n++;
	}
	if (ocsp_encode_header((const unsigned char *const *)der, len, n, carried) < 0) {
		fault_set(f, prefix, "InternalError", "cannot attach the OCSP responses");
		goto out;
	}
	memo_keep(memo, k, st, n, carried);
	rc = 0;
out:
	free(der[0]);
	free(der[1]);
	return rc;
}

/* The carried responses must include a fresh GOOD one for cert. */
static int ocsp_check(struct exch *ex, X509 *cert, const char *what, const struct sx_carried *c,
		      const char *prefix, struct fault *f)
{
	struct sx_state *s = ex->w->gw->sx;
	const struct gc_ca *ca;
	struct ocsp_check_opts o = { 0 };
	struct ocsp_status st;
	char why[OCSP_WHY_MAX];

	if (!s->ocsp)
		return 0;
	if (!c->ocsp_len)
		return fault_set(f, prefix, "CertValidation", "no OCSP response came with the message for the %s",
				 what);
	ca = gconf_ca_of(ex->gc, cert);
	if (!ca)
		return fault_set(f, prefix, "CertValidation", "the %s was not issued by an approved CA", what);
	o.freshness_s = ex->w->gw->cfg->ocsp_freshness_s;
	if (ocsp_check_header(c->ocsp, c->ocsp_len, cert, sk_X509_value(ca->certs, 0), gconf_trust(ex->gc), &o,
			      &st, why, sizeof(why)) < 0)
		return fault_set(f, prefix, "CertValidation", "the OCSP response for the %s is not usable: %s",
				 what, why);
	if (st.state == OCSP_CERT_REVOKED) {
		char when[32];
		struct tm tm;
		gmtime_r(&st.revoked_at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return fault_set(f, prefix, "CertValidation", "the %s was revoked at %s (%s)", what, when,
				 ocsp_reason_name(st.reason));
	}
	if (st.state != OCSP_CERT_GOOD)
		return fault_set(f, prefix, "CertValidation", "the OCSP responder does not know the %s", what);
	return 0;
}

/* The signer's status, and the status of the other gateway's TLS
 * certificate (the caller's on the server side, the provider's on the client
 * side): the sending gateway carries both. */
static int ocsp_verify(struct exch *ex, X509 *signer, X509 *peer, const struct sx_carried *c, const char *prefix,
		       struct fault *f)
{
	if (ocsp_check(ex, signer, "signing certificate", c, prefix, f) < 0)
		return -1;
	if (peer)
		return ocsp_check(ex, peer, ex->side == EXCH_SERVER_SIDE ? "TLS certificate of the calling gateway" :
					    "TLS certificate of the provider's gateway", c, prefix, f);
	return 0;
}

/* ---- the pipeline steps ------------------------------------------------ */

int sx_ready(struct exch *ex, const char *prefix, struct fault *f)
{
	struct gw *g = ex->w->gw;
	char why[300];

	if (!g->sx || !g->sx->log || msglog_is_healthy(g->sx->log, why, sizeof(why)))
		return 0;
	if (strstr(why, "stamp"))
		return fault_set(f, prefix, "LoggingFailed.TimestamperFailed",
				 "the message log cannot get time stamps from the TSA '%s': %s; this gateway "
				 "refuses exchanges until the TSA answers again", g->sx->tsa_name, why);
	return fault_set(f, prefix, "LoggingFailed", "the message log cannot write: %s", why);
}

int sx_claim(struct exch *ex, const char *prefix, struct fault *f)
{
	struct gw *g = ex->w->gw;
	char cl[XRD_ID_TEXT_MAX], *err = NULL;
	int rc;

	if (!g->sx || !g->sx->log)
		return 0;
	rc = msglog_claim(g->sx->log, ex->side == EXCH_SERVER_SIDE ? MSGLOG_SERVER : MSGLOG_CLIENT,
			  xrd_id_format_path(&ex->client, cl, sizeof(cl)), msg_id(ex), &err);
	if (rc == 0)
		return 0;
	if (rc > 0)
		return fault_set(f, prefix, "DuplicateMessageId",
				 "message id '%s' was already used by client %s within the last %u s; "
				 "every request needs a new id", msg_id(ex), cl, g->cfg->replay_window_s);
	fault_set(f, prefix, "DatabaseError", "replay check failed: %s", err ? err : "?");
	free(err);
	return -1;
}

long sx_status(long status, const struct http_hdr *h, size_t n, const char *prefix, struct fault *f)
{
	const char *v = http_hdr_get(h, n, SX_HDR_STATUS);

	if (!v)
		return status;
	if (status == 200 && (strcmp(v, "204") == 0 || strcmp(v, "304") == 0))
		return v[0] == '2' ? 204 : 304;
	fault_set(f, prefix, "InconsistentResponse", "%s '%.16s' under HTTP status %ld: only 204 or 304, under 200",
		  SX_HDR_STATUS, v, status);
	return -1;
}

int sx_split(const char *hdr, const unsigned char **body, size_t *len, struct sx_carried *c, const char *prefix,
	     struct fault *f)
{
	const char *sp = hdr ? strchr(hdr, ' ') : NULL;
	long sl, ol;

	memset(c, 0, sizeof(*c));
	if (!hdr)
		return 0;
	/* Beyond 9 digits it is surely past the caps below: no overflow. */
	if (!sp || (sl = dec_strict(hdr, (size_t)(sp - hdr), 999999999L)) < 0 ||
	    (ol = dec_strict(sp + 1, strlen(sp + 1), 999999999L)) < 0)
		return fault_set(f, prefix, "MalformedSignature",
				 "%s must be two decimals, the lengths of the signature document and of the "
				 "OCSP responses in front of the body", SX_HDR_SIGNED);
	if (sl == 0 || sl > SIG_XML_MAX || ol > OCSP_HEADER_MAX_LEN || (size_t)sl + (size_t)ol > *len)
		return fault_set(f, prefix, "MalformedSignature",
				 "%s announces %ld + %ld bytes in front of a body of %zu (signature document "
				 "1..%d bytes, OCSP responses at most %d)", SX_HDR_SIGNED, sl, ol, *len,
				 SIG_XML_MAX, OCSP_HEADER_MAX_LEN);
	c->present = 1;
	c->sig = (const char *)*body;
	c->sig_len = (size_t)sl;
	c->ocsp = c->sig + sl;
	c->ocsp_len = (size_t)ol;
	*body += sl + ol;
	*len -= (size_t)(sl + ol);
	return 0;
}

/* What goes in front of a body: the header value and the bytes. */
static int carried_put(const struct buf *doc, const struct buf *ocsp, const void *body, size_t body_len,
		       struct hlist *h, struct buf *wire)
{
	char v[32];

	snprintf(v, sizeof(v), "%zu %zu", doc->len, ocsp->len);
	buf_init(wire, doc->len + ocsp->len + body_len + 1);
	if (buf_append(wire, doc->data, doc->len) < 0 || buf_append(wire, ocsp->data ? ocsp->data : "", ocsp->len) < 0 ||
	    buf_append(wire, body ? body : (const void *)"", body_len) < 0 || hlist_add(h, SX_HDR_SIGNED, v) < 0)
		return -1;
	return 0;
}

static int sign_message(struct exch *ex, const struct signing_key *k, enum sig_kind kind, const char *ctype,
			const void *bytes, size_t len, struct buf *doc, const char *prefix, struct fault *f)
{
	struct sig_meta m = { 0 };
	char cl[XRD_ID_TEXT_MAX], sv[XRD_ID_TEXT_MAX];
	char *err = NULL;

	m.kind = kind;
	m.client = xrd_id_format(&ex->client, cl, sizeof(cl));
	m.service = xrd_id_format(&ex->service, sv, sizeof(sv));
	m.message_id = msg_id(ex);
	clock_gettime(CLOCK_REALTIME, &m.time);
	m.request_hash = kind == SIG_RESPONSE ? ex->hash : NULL;
	m.content_type = ctype;
	buf_init(doc, 64 * 1024);
	if (sig_sign(k, &m, bytes, len, doc, &err) < 0) {
		fault_set(f, prefix, "CannotCreateSignature", "signing the %s failed: %s",
			  kind == SIG_REQUEST ? "request" : "response", err ? err : "?");
		free(err);
		return -1;
	}
	return 0;
}

static int no_key(struct exch *ex, const struct xrd_id *who, const char *prefix, struct fault *f)
{
	return fault_set(f, prefix, "CannotCreateSignature",
			 "this gateway ('%s') has no signing key for member %s/%s ([signing] member_key)",
			 ex->w->gw->cfg->gateway_code, who->member_class, who->member_code);
}

/* A local exchange (nothing is sent): signs bytes with k and logs them. */
static int sign_log(struct exch *ex, const struct signing_key *k, enum sig_kind kind, const char *ctype,
		    const void *bytes, size_t len, enum msglog_side side, const char *prefix, struct fault *f)
{
	struct buf doc = BUF_INIT;
	int rc = -1;

	if (sign_message(ex, k, kind, ctype ? ctype : "text/xml; charset=utf-8", bytes, len, &doc, prefix, f) == 0)
		rc = log_append(ex, kind == SIG_REQUEST ? MSGLOG_REQUEST : MSGLOG_RESPONSE, side, bytes, len, NULL,
				doc.data, doc.len, NULL, 0, prefix, f);
	buf_free(&doc);
	return rc;
}

/* ---- batch signing ------------------------------------------------------ */

/* One message waiting for the worker's next batch signature. */
struct sx_job {
	struct sx_job *next;
	struct exch *ex;
	const struct signing_key *k;
	struct sig_meta m;
	char client[XRD_ID_TEXT_MAX], service[XRD_ID_TEXT_MAX], ctype[SIG_FIELD_MAX];
	unsigned char digest[32];
	struct timespec queued;         /* for the log line's sign_ms */
	struct buf own;                 /* the bytes to log, when not ex->body */
	const void *bytes;
	size_t len;
	/* Requests: the headers to send are ex->fwd. Responses: the answer, copied. */
	sx_request_signed_fn req_done;
	sx_response_signed_fn resp_done;
	long status;
	struct hlist hdrs;
	size_t n_own_hdrs;              /* the answer's own headers, before the signature's */
	unsigned char *body;
	size_t body_len;
};

/* The batch is signed in the worker's next turn (worker_turn, core/gw.h):
 * under load everything that arrives while the loop is busy shares one key
 * operation, and the receiver verifies that signature once for all of them;
 * the wait is bounded by SX_BATCH_WAIT_US after the first message, or none
 * when the batch is full. */
#ifndef SX_BATCH_WAIT_US   /* -D for experiments (ops/bench) */
#define SX_BATCH_WAIT_US 2000
#endif

struct sx_batch {
	struct worker_turn turn;
	struct sx_job *head, **tail;
	size_t n;
	struct carried_memo memo[CARRIED_MEMO_MAX];
};

static void job_free(struct sx_job *j)
{
	buf_free(&j->own);
	hlist_clear(&j->hdrs);
	free(j->body);
	free(j);
}

static struct hlist *job_hdrs(struct sx_job *j)
{
	return j->req_done ? &j->ex->fwd : &j->hdrs;
}

/* After the batch's signature: the signature and OCSP responses in front of
 * the body, the log record, then the exchange goes on (done). */
static void job_finish(struct sx_job *j, const struct buf *doc, const struct fault *sign_fault)
{
	struct exch *ex = j->ex;
	struct buf carried = BUF_INIT, wire = BUF_INIT;
	struct fault f = { 0 };
	const char *prefix = j->req_done ? F_CPROXY : F_SPROXY;
	/* an answer whose status allows no body crosses as 200 (SX_HDR_STATUS) */
	int bodiless = !j->req_done && (j->status == 204 || j->status == 304);
	int ok = 0;

	if (j->req_done && ex->aborted) {
		/* The caller left while the batch was signing (its request, which
		 * j->bytes points into, is gone): nothing was sent, nothing to log. */
		ex->sign_pending = 0;
		job_free(j);
		exch_release(ex);
		return;
	}
	if (sign_fault) {
		f = *sign_fault;
	} else if (ocsp_attach(ex, j->k, ex->w->sign_batch ? ex->w->sign_batch->memo : NULL, &carried, prefix,
			       &f) == 0) {
		if (carried_put(doc, &carried, j->req_done ? ex->body : j->body, j->req_done ? ex->body_len : j->body_len,
				job_hdrs(j), &wire) < 0 ||
		    (bodiless && hlist_add(&j->hdrs, SX_HDR_STATUS, j->status == 204 ? "204" : "304") < 0))
			fault_set(&f, prefix, "InternalError", "out of memory");
		else
			ok = log_append(ex, j->req_done ? MSGLOG_REQUEST : MSGLOG_RESPONSE,
					j->req_done ? MSGLOG_CLIENT : MSGLOG_SERVER, j->bytes, j->len, j->digest, doc->data,
					doc->len, carried.data, carried.len, prefix, &f) == 0;
	}
	buf_free(&carried);
	ex->sign_pending = 0;
	ex->sign_ms = (ex->sign_ms < 0 ? 0 : ex->sign_ms) + ms_since(&j->queued);   /* a local exchange signs twice */
	if (j->req_done) {
		buf_free(&ex->wire);
		ex->wire = wire;
		j->req_done(ex, ok ? NULL : &f);
	} else {
		struct exch_resp r = { ok && bodiless ? 200 : j->status,
				       j->hdrs.h, ok ? j->hdrs.n : j->n_own_hdrs,
				       ok ? (const unsigned char *)wire.data : j->body, ok ? wire.len : j->body_len,
				       NULL, { 0 } };
		j->resp_done(ex, &r, ok ? NULL : &f);
		buf_free(&wire);
	}
	job_free(j);
}

/* Signs jobs[0..n) (one key) with one key operation and finishes each. */
static void sign_group(struct sx_job **jobs, size_t n)
{
	const struct sig_meta *m[SIG_BATCH_MAX];
	unsigned char (*dg)[32] = malloc(n * sizeof(*dg));
	struct buf *docs = calloc(n, sizeof(*docs)), *outs[SIG_BATCH_MAX];
	char *err = NULL;
	const char *why = NULL;
	size_t i;

	if (!dg || !docs) {
		why = "out of memory";
	} else {
		for (i = 0; i < n; i++) {
			m[i] = &jobs[i]->m;
			memcpy(dg[i], jobs[i]->digest, 32);
			buf_init(&docs[i], 64 * 1024);
			outs[i] = &docs[i];
		}
		if (sig_sign_batch(jobs[0]->k, m, (const unsigned char (*)[32])dg, n, outs, &err) < 0)
			why = err ? err : "?";
	}
	for (i = 0; i < n; i++) {
		struct fault f = { 0 };
		if (why)
			fault_set(&f, jobs[i]->req_done ? F_CPROXY : F_SPROXY, "CannotCreateSignature",
				  "signing the %s failed: %s", jobs[i]->req_done ? "request" : "response", why);
		job_finish(jobs[i], why ? NULL : &docs[i], why ? &f : NULL);
	}
	for (i = 0; docs && i < n; i++)
		buf_free(&docs[i]);
	free(err);
	free(docs);
	free(dg);
}

/* The start of a turn: everything queued in the last one, grouped by key. */
static void batch_flush(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct sx_batch *b = w->sign_batch;
	struct sx_job *list = b->head, *rest, **tail, *group[SIG_BATCH_MAX];
	size_t max = w->gw->cfg->sign_batch_max ? w->gw->cfg->sign_batch_max : 1;

	(void)fd;
	(void)what;
	/* Signing may queue more (a local exchange's answer): those start anew. */
	worker_turn_taken(&b->turn);
	b->head = NULL;
	b->tail = &b->head;
	b->n = 0;
	while (list) {
		size_t n = 0;
		const struct signing_key *k = list->k;
		rest = NULL;
		tail = &rest;
		while (list) {
			struct sx_job *j = list;
			list = j->next;
			j->next = NULL;
			if (j->k == k && n < max && n < SIG_BATCH_MAX) {
				group[n++] = j;
			} else {
				*tail = j;
				tail = &j->next;
			}
		}
		list = rest;
		sign_group(group, n);
	}
}

static struct sx_batch *batch_of(struct worker *w)
{
	struct sx_batch *b = w->sign_batch;

	if (b)
		return b;
	if (!(b = calloc(1, sizeof(*b))) || worker_turn_init(&b->turn, w->base, batch_flush, w) < 0) {
		free(b);
		return NULL;
	}
	b->tail = &b->head;
	return w->sign_batch = b;
}

/* Takes j into the worker's batch; -1 (j not taken) out of memory. */
static int batch_add(struct sx_job *j, struct fault *f, const char *prefix)
{
	struct worker *w = j->ex->w;
	struct sx_batch *b = batch_of(w);
	size_t max = w->gw->cfg->sign_batch_max ? w->gw->cfg->sign_batch_max : 1;

	if (!b || worker_turn_queued(&b->turn, b->n + 1, max, SX_BATCH_WAIT_US) < 0)
		return fault_set(f, prefix, "InternalError", "cannot queue the message for signing");
	*b->tail = j;
	b->tail = &j->next;
	b->n++;
	j->ex->sign_pending = 1;
	return 0;
}

void sx_cancel(struct exch *ex)
{
	struct sx_batch *b = ex->w->sign_batch;
	struct sx_job **pp;

	if (!ex->sign_pending || ex->side != EXCH_CLIENT_SIDE || !b)
		return;
	for (pp = &b->head; *pp; pp = &(*pp)->next) {
		struct sx_job *j = *pp;
		if (j->ex != ex)
			continue;
		*pp = j->next;
		if (b->tail == &j->next)
			b->tail = pp;
		b->n--;
		job_free(j);
		ex->sign_pending = 0;
		return;
	}
}

/* A worker stops: what still waits ends unsigned (its callers are gone). */
static void batch_free(struct worker *w)
{
	struct sx_batch *b = w->sign_batch;

	if (!b)
		return;
	while (b->head) {
		struct sx_job *j = b->head;
		struct exch *ex = j->ex;
		b->head = j->next;
		ex->sign_pending = 0;
		job_free(j);
		exch_release(ex);
	}
	worker_turn_free(&b->turn);
	memo_free(b->memo);
	free(b);
	w->sign_batch = NULL;
}

/* A job for ex's message: identifiers and the digest of bytes now, the key
 * operation with the batch. NULL with f set. */
static struct sx_job *job_new(struct exch *ex, const struct signing_key *k, enum sig_kind kind, const char *ctype,
			      const void *bytes, size_t len, struct buf *tmp, const char *prefix, struct fault *f)
{
	struct sx_job *j = calloc(1, sizeof(*j));

	if (!j) {
		fault_set(f, prefix, "InternalError", "out of memory");
		return NULL;
	}
	j->ex = ex;
	j->k = k;
	j->m.kind = kind;
	j->m.client = xrd_id_format(&ex->client, j->client, sizeof(j->client));
	j->m.service = xrd_id_format(&ex->service, j->service, sizeof(j->service));
	j->m.message_id = msg_id(ex);
	clock_gettime(CLOCK_REALTIME, &j->m.time);
	clock_gettime(CLOCK_MONOTONIC, &j->queued);
	j->m.request_hash = kind == SIG_RESPONSE ? ex->hash : NULL;
	snprintf(j->ctype, sizeof(j->ctype), "%s", ctype ? ctype : "text/xml; charset=utf-8");
	j->m.content_type = j->ctype;
	if (sha256(bytes, len, j->digest) < 0) {
		free(j);
		fault_set(f, prefix, "InternalError", "cannot hash the message");
		return NULL;
	}
	/* REST's canonical form was built in tmp: keep it for the log. */
	if (tmp->data && bytes == tmp->data) {
		j->own = *tmp;
		*tmp = (struct buf)BUF_INIT;
		j->bytes = j->own.data;
	} else {
		j->bytes = bytes;
	}
	j->len = len;
	return j;
}

/* The end of sx_sign_request/response: j into the batch when rc is 0 (and
 * that works), freed otherwise; tmp dropped. 0, or -1 with f. */
static int job_queue(struct sx_job *j, int rc, struct buf *tmp, const char *prefix, struct fault *f)
{
	if (rc == 0 && batch_add(j, f, prefix) < 0)
		rc = -1;
	if (rc < 0 && j)
		job_free(j);
	buf_free(tmp);
	return rc;
}

int sx_sign_request(struct exch *ex, sx_request_signed_fn done, struct fault *f)
{
	const struct signing_key *k = member_key(ex->w->gw, &ex->client);
	struct buf tmp = BUF_INIT;
	struct sx_job *j = NULL;
	const void *bytes;
	size_t len;
	const char *ctype;
	int rc = -1;

	if (!k)
		return no_key(ex, &ex->client, F_CPROXY, f);
	if (request_bytes(ex, ex->fwd.h, ex->fwd.n, &tmp, &bytes, &len) < 0) {
		fault_set(f, F_CPROXY, "InternalError", "out of memory");
		goto out;
	}
	ctype = ex->proto == EXCH_SOAP ? http_hdr_get(ex->fwd.h, ex->fwd.n, "Content-Type") : SX_REST_CTYPE;
	if (!(j = job_new(ex, k, SIG_REQUEST, ctype, bytes, len, &tmp, F_CPROXY, f)))
		goto out;
	j->req_done = done;
	rc = 0;
out:
	return job_queue(j, rc, &tmp, F_CPROXY, f);
}

int sx_sign_response(struct exch *ex, const struct exch_resp *r, sx_response_signed_fn done, struct fault *f)
{
	struct xrd_id owner;
	const struct signing_key *k;
	struct buf tmp = BUF_INIT;
	struct sx_job *j = NULL;
	const void *bytes;
	size_t len;
	const char *ctype;
	int rc = -1;

	xrd_id_service_owner(&ex->service, &owner);
	k = member_key(ex->w->gw, &owner);
	if (!k)
		return no_key(ex, &owner, F_SPROXY, f);
	if (response_bytes(ex, r, &tmp, &bytes, &len) < 0) {
		fault_set(f, F_SPROXY, "InternalError", "out of memory");
		goto out;
	}
	ctype = ex->proto == EXCH_SOAP ? http_hdr_get(r->hdrs, r->nhdrs, "Content-Type") : SX_REST_CTYPE;
	if (!(j = job_new(ex, k, SIG_RESPONSE, ctype, bytes, len, &tmp, F_SPROXY, f)))
		goto out;
	j->resp_done = done;
	j->status = r->status;
	for (size_t i = 0; i < r->nhdrs; i++)
		if (hlist_add(&j->hdrs, r->hdrs[i].name, r->hdrs[i].value) < 0) {
			fault_set(f, F_SPROXY, "InternalError", "too many headers");
			goto out;
		}
	j->n_own_hdrs = j->hdrs.n;
	if (r->body_len && !(j->body = malloc(r->body_len))) {
		fault_set(f, F_SPROXY, "InternalError", "out of memory");
		goto out;
	}
	if (r->body_len)
		memcpy(j->body, r->body, r->body_len);
	j->body_len = r->body_len;
	/* SOAP logs the body as sent: the copy, which outlives r. */
	if (!j->own.data)
		j->bytes = j->body;
	rc = 0;
out:
	return job_queue(j, rc, &tmp, F_SPROXY, f);
}

/* Verifies the carried SignedMessage (in place, in the received body)
 * against the bytes; fills r, and dg with the bytes' SHA-256 for the log. */
static int verify_doc(struct exch *ex, const struct sx_carried *c, const void *bytes, size_t len,
		      const char *prefix, unsigned char dg[32], struct sig_result *r, struct fault *f)
{
	struct sig_verify_opts o = { 0 };
	X509_STORE *trust = gconf_trust(ex->gc);

	if (sha256(bytes, len, dg) < 0)
		return fault_set(f, prefix, "InternalError", "cannot hash the message");
	if (!trust)
		return fault_set(f, prefix, "CertValidation",
				 "global configuration approves no certification authority, so no "
				 "signature can be trusted");
	o.prefix = prefix;
	return sig_verify_digest(c->sig, c->sig_len, dg, trust, &o, r, f);
}

int sx_verify_request(struct exch *ex, struct fault *f)
{
	struct buf tmp = BUF_INIT;
	struct sig_result r = { 0 };
	unsigned char dg[32];
	char cl[XRD_ID_TEXT_MAX], sv[XRD_ID_TEXT_MAX];
	const void *bytes;
	size_t n, len;
	const struct http_hdr *hh = http_req_headers(ex->req, &n);
	const char *ctype;
	int rc = -1;

	if (!ex->carried.present)
		return fault_set(f, F_SPROXY, "MissingSignature",
				 "the request from gateway '%s' carries no member signature (%s)", ex->peer,
				 SX_HDR_SIGNED);
	if (request_bytes(ex, hh, n, &tmp, &bytes, &len) < 0) {
		fault_set(f, F_SPROXY, "InternalError", "out of memory");
		goto out;
	}
	if (verify_doc(ex, &ex->carried, bytes, len, F_SPROXY, dg, &r, f) < 0 ||
	    sig_check_binding(&r, SIG_REQUEST, xrd_id_format(&ex->client, cl, sizeof(cl)),
			      xrd_id_format(&ex->service, sv, sizeof(sv)), msg_id(ex), NULL, f) < 0)
		goto out;
	ctype = ex->proto == EXCH_SOAP ? http_req_header(ex->req, "Content-Type") : SX_REST_CTYPE;
	if (!ctype || strcmp(ctype, r.content_type) != 0) {
		fault_set(f, F_SPROXY, "InvalidSignatureValue",
			  "the signature is for content type '%s', the request has '%s'", r.content_type,
			  ctype ? ctype : "");
		goto out;
	}
	if (ocsp_verify(ex, r.signer, ex->req ? http_req_peer_cert(ex->req) : NULL, &ex->carried, F_SPROXY, f) < 0 ||
	    sx_claim(ex, F_SPROXY, f) < 0)
		goto out;
	rc = log_append(ex, MSGLOG_REQUEST, MSGLOG_SERVER, bytes, len, dg, ex->carried.sig, ex->carried.sig_len,
			ex->carried.ocsp, ex->carried.ocsp_len, F_SPROXY, f);
out:
	sig_result_free(&r);
	buf_free(&tmp);
	return rc;
}

int sx_verify_response(struct exch *ex, const struct exch_resp *r, int is_fault, struct fault *f)
{
	struct buf tmp = BUF_INIT;
	struct sig_result res = { 0 };
	unsigned char dg[32];
	char cl[XRD_ID_TEXT_MAX], sv[XRD_ID_TEXT_MAX];
	const void *bytes;
	size_t len;
	const char *ctype;
	int rc = -1;

	if (response_bytes(ex, r, &tmp, &bytes, &len) < 0) {
		fault_set(f, F_CPROXY, "InternalError", "out of memory");
		goto out;
	}
	if (!r->carried.present) {
		if (!is_fault) {
			fault_set(f, F_CPROXY, "MissingSignature",
				  "the answer of gateway '%s' carries no signature of the service provider",
				  ex->peer);
			goto out;
		}
		/* A gateway's own error it could not sign (it had not verified
		 * the request yet): relayed, but it has no weight to log. */
		log_info("event=unsigned_error reqid=%s peer=%s", ex->reqid, ex->peer);
		rc = 0;
		goto out;
	}
	if (verify_doc(ex, &r->carried, bytes, len, F_CPROXY, dg, &res, f) < 0 ||
	    sig_check_binding(&res, SIG_RESPONSE, xrd_id_format(&ex->client, cl, sizeof(cl)),
			      xrd_id_format(&ex->service, sv, sizeof(sv)), msg_id(ex), ex->hash, f) < 0)
		goto out;
	ctype = ex->proto == EXCH_SOAP ? http_hdr_get(r->hdrs, r->nhdrs, "Content-Type") : SX_REST_CTYPE;
	if (!ctype || strcmp(ctype, res.content_type) != 0) {
		fault_set(f, F_CPROXY, "InvalidSignatureValue",
			  "the signature is for content type '%s', the answer has '%s'", res.content_type,
			  ctype ? ctype : "");
		goto out;
	}
	if (!r->peer_cert && ex->w->gw->sx->ocsp) {
		fault_set(f, F_CPROXY, "CertValidation",
			  "the TLS certificate of gateway '%s' is not known, so its status cannot be checked", ex->peer);
		goto out;
	}
	if (ocsp_verify(ex, res.signer, r->peer_cert, &r->carried, F_CPROXY, f) < 0)
		goto out;
	rc = log_append(ex, MSGLOG_RESPONSE, MSGLOG_CLIENT, bytes, len, dg, r->carried.sig, r->carried.sig_len,
			r->carried.ocsp, r->carried.ocsp_len, F_CPROXY, f);
out:
	sig_result_free(&res);
	buf_free(&tmp);
	return rc;
}

/* Both members are hosted here: each message is signed with its sender's
 * key (nothing to verify: the keys are ours) so the log holds the same
 * evidence as for a remote exchange. */
int sx_log_local(struct exch *ex, int dir, const struct exch_resp *r, struct fault *f)
{
	struct buf tmp = BUF_INIT;
	struct xrd_id owner;
	const struct signing_key *k;
	const void *bytes;
	size_t len;
	const char *ctype;
	int rc = -1;

	if (!ex->w->gw->sx || !ex->w->gw->sx->log)
		return 0;
	xrd_id_service_owner(&ex->service, &owner);
	k = member_key(ex->w->gw, dir == MSGLOG_REQUEST ? &ex->client : &owner);
	if (!k)
		return no_key(ex, dir == MSGLOG_REQUEST ? &ex->client : &owner, F_CPROXY, f);
	if ((dir == MSGLOG_REQUEST ? request_bytes(ex, ex->fwd.h, ex->fwd.n, &tmp, &bytes, &len) :
				     response_bytes(ex, r, &tmp, &bytes, &len)) < 0) {
		fault_set(f, F_CPROXY, "InternalError", "out of memory");
		goto out;
	}
	if (ex->proto == EXCH_SOAP)
		ctype = dir == MSGLOG_REQUEST ? http_req_header(ex->req, "Content-Type") :
						http_hdr_get(r->hdrs, r->nhdrs, "Content-Type");
	else
		ctype = SX_REST_CTYPE;
	rc = sign_log(ex, k, dir == MSGLOG_REQUEST ? SIG_REQUEST : SIG_RESPONSE, ctype, bytes, len, MSGLOG_CLIENT,
		      F_CPROXY, f);
out:
	buf_free(&tmp);
	return rc;
}

size_t sx_health(struct gw *g, struct sx_check *out, size_t max)
{
	struct sx_state *s = g->sx;
	size_t n = 0;

	if (!s || max < 2)
		return 0;
	for (size_t i = 0; i < max; i++)
		out[i].warning = -1;
	snprintf(out[n].name, sizeof(out[n].name), "signing");
	out[n].ok = s->n_keys > 0;
	snprintf(out[n].detail, sizeof(out[n].detail), "%zu member signing key(s) loaded%s", s->n_keys,
		 s->n_keys ? "" : ": exchanges with other gateways cannot be signed");
	n++;
	snprintf(out[n].name, sizeof(out[n].name), "msglog");
	if (!s->log) {
		out[n].ok = 1;
		snprintf(out[n].detail, sizeof(out[n].detail), "disabled ([msglog] enabled = off)");
	} else {
		struct msglog_stats st;
		char why[300];
		msglog_get_stats(s->log, &st);
		out[n].ok = msglog_is_healthy(s->log, why, sizeof(why));
		snprintf(out[n].detail, sizeof(out[n].detail),
			 "%s; %llu records and %llu time stamps since start (TSA %s), %lld waiting for a stamp",
			 out[n].ok ? "writing" : why, (unsigned long long)st.records,
			 (unsigned long long)st.stamps, s->tsa_name[0] ? s->tsa_name : "none",
			 (long long)msglog_unstamped(s->log));
		/* A failing TSA (or this gateway's clock ahead of it): a warning at
		 * once, not only when ts_max_unstamped_ms has run out. */
		if (s->tsa_name[0] && n + 1 < max) {
			char tserr[200];

			n++;
			snprintf(out[n].name, sizeof(out[n].name), "msglog_stamping");
			out[n].ok = 1;
			out[n].warning = msglog_stamp_error(s->log, tserr, sizeof(tserr));
			if (out[n].warning)
				snprintf(out[n].detail, sizeof(out[n].detail), "the last request for a time stamp "
					 "failed: %s", tserr);
			else
				snprintf(out[n].detail, sizeof(out[n].detail), "the last request for a time stamp "
					 "was answered");
		}
		/* What the disk costs every answer: a warning, not a failure. */
		if (n + 1 < max) {
			n++;
			snprintf(out[n].name, sizeof(out[n].name), "msglog_commits");
			out[n].ok = 1;
			out[n].warning = msglog_commit_health(&st, g->cfg->msglog_slow_commit_ms, out[n].detail,
							      sizeof(out[n].detail));
		}
		if (n + 1 < max) {
			int64_t aid, at;
			unsigned char ah[MSGLOG_HASH_LEN];
			char hx[2 * MSGLOG_HASH_LEN + 1];

			n++;
			snprintf(out[n].name, sizeof(out[n].name), "msglog_anchor");
			out[n].ok = 1;
			if (msglog_anchor(s->log, &aid, ah, &at) == 0) {
				hex_encode(ah, MSGLOG_HASH_LEN, hx);
				snprintf(out[n].detail, sizeof(out[n].detail), "newest stamped record %lld:%s - keep it off "
					 "this machine: ailgate log verify --anchor %lld:%s tells a log cut or rewritten "
					 "before it", (long long)aid, hx, (long long)aid, hx);
			} else {
				snprintf(out[n].detail, sizeof(out[n].detail), "no record stamped yet");
			}
		}
		/* Retention that cannot archive: a warning (answers go on; the
		 * live log keeps growing) */
		if (n + 1 < max) {
			int w = msglog_retention_health(s->log, out[n + 1].detail, sizeof(out[n + 1].detail));

			if (w >= 0) {
				n++;
				snprintf(out[n].name, sizeof(out[n].name), "msglog_retention");
				out[n].ok = 1;
				out[n].warning = w;
			}
		}
	}
	n++;
	if (s->ocsp && n < max) {
		struct ocsp_health oh[2];
		size_t bad = ocsp_cache_health(s->ocsp, oh, 2, 0);
		snprintf(out[n].name, sizeof(out[n].name), "ocsp");
		out[n].ok = bad == 0;
		if (bad)
			snprintf(out[n].detail, sizeof(out[n].detail),
				 "%zu of our certificate(s) without a fresh good OCSP response, e.g. %.100s: %s%s%.300s",
				 bad, oh[0].subject, ocsp_cache_state_name(oh[0].state), oh[0].last_error[0] ? ": " : "",
				 oh[0].last_error);
		else
			snprintf(out[n].detail, sizeof(out[n].detail),
				 "every signing and TLS certificate of this gateway has a fresh good OCSP response");
		n++;
	}
	return n;
}
