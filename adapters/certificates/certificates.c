/* The certificates adapter (subsystem GOV/70000050/certificates): e-signed
 * certificates instead of paper.
 *
 *   issue            POST  the portal or a kiosk, for the citizen named by
 *                          X-Road-UserId: composed from the registries,
 *                          signed, time-stamped, registered (issue.c)
 *   document/{number} GET  the issued XML or a PDF of it (the subject, or a clerk)
 *   verify           GET   number + digest (what the QR code carries): the verdict
 *   verify-document  POST  an uploaded document: signature, time stamp, register
 *   revoke           POST  a clerk's system: number + reason
 *   verify-page      GET   the public verification page for n (number) and d
 *                          (digest): HTML inside JSON {"content_type", "status",
 *                          "html"}; the gateway serves it at GET /verify
 *   verify-page-upload POST the same page for an XML posted with its upload form
 *                          (multipart/form-data or x-www-form-urlencoded body)
 *
 * The document machinery is certdoc/docsign/docreg/pdf/verify_page; this
 * file is the services around it, the configuration and the access rules
 * (README.md beside it). Whatever blocks (the register, signing, the TSA,
 * PDFs) runs on run_blocking's background thread. */
#include "adapters/certificates/cert_int.h"
#include "adapters/certificates/certdoc.h"
#include "adapters/certificates/docreg.h"
#include "adapters/certificates/pdf.h"
#include "adapters/certificates/verify_page.h"
#include "adapters/common/params.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "store/tsa.h"
#include "trust/docsign.h"
#include "trust/keys.h"
#include "trust/sign.h"

#define CERT_BODY_MAX (64u << 10)         /* a JSON request body */
#define CERT_REASON_MAX 1024

enum cert_service { SV_ISSUE, SV_DOCUMENT, SV_VERIFY, SV_VERIFY_DOCUMENT, SV_REVOKE, SV_VERIFY_PAGE,
		    SV_VERIFY_UPLOAD, SV_COUNT };

static const char *const p_number[] = { "number", NULL };

static const struct adapter_service cert_services[SV_COUNT] = {
	[SV_ISSUE] = { "issue", "POST", NULL, "Issue an e-signed certificate about the citizen (X-Road-UserId)" },
	[SV_DOCUMENT] = { "document", "GET", p_number, "An issued certificate: the signed XML, or a PDF (form=pdf)" },
	[SV_VERIFY] = { "verify", "GET", NULL, "Verify a certificate by number and digest" },
	[SV_VERIFY_DOCUMENT] = { "verify-document", "POST", NULL,
				 "Verify an uploaded certificate: signature, time stamp, register" },
	[SV_REVOKE] = { "revoke", "POST", NULL, "Revoke an issued certificate (a clerk's system)" },
	[SV_VERIFY_PAGE] = { "verify-page", "GET", NULL, "The public verification page (HTML in JSON)" },
	[SV_VERIFY_UPLOAD] = { "verify-page-upload", "POST", NULL,
			       "The verification page for a document posted with its upload form" },
};

/* ---- helpers shared with issue.c -------------------------------------------------- */

void cert_param(const struct adapter_call *call, const json_t *obj, const char *name, char *out,
		size_t cap)
{
	params_trimmed(obj ? obj : call->params, name, out, cap);
}

int cert_request_object(const struct adapter_call *call, json_t **obj, struct adapter_result *res)
{
	json_error_t e;

	*obj = NULL;
	if (!call->body || call->body_len == 0) {
		*obj = call->params ? json_incref(call->params) : json_object();
		if (!*obj)
			adapter_result_error(res, ADAPTER_FAILED, "out of memory");
		return *obj ? 0 : -1;
	}
	if (call->body_len > CERT_BODY_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the request body is larger than %u bytes",
				     CERT_BODY_MAX);
		return -1;
	}
	if (call->params && json_object_size(call->params) > 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "send the fields either in the JSON body or "
				     "in the query string, not both");
		return -1;
	}
	*obj = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (!json_is_object(*obj)) {
		char why[160];

		params_json_not_object(*obj, &e, why, sizeof(why));
		json_decref(*obj);
		*obj = NULL;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body must be a JSON object with the "
				     "fields as strings (%s)", why);
		return -1;
	}
	return 0;
}

/* The user id's prefix u[0..len) is a country code (alpha-2 or alpha-3,
 * optionally followed by '-', ':' or '/') of the country alpha3; empty only
 * for Kyrgyzstan (a bare PIN). A bare document number is refused: passport
 * numbers of different countries look alike, and "N1234567" must not stand
 * for every citizenship that has one. */
static int prefix_is(const char *u, size_t len, const char *alpha3)
{
	char p[4], cc[4];

	if (len == 0)
		return strcmp(alpha3, "KGZ") == 0;
	if (strchr("-:/", u[len - 1]))
		len--;
	if (len < 2 || len > 3)
		return 0;
	memcpy(p, u, len);
	p[len] = '\0';
	return params_citizenship(p, cc) == 0 && strcmp(cc, alpha3) == 0;
}

int cert_user_is_subject(const char *u, const struct compose_subject *s)
{
	const char *id = s->pin[0] ? s->pin : s->document;
	size_t n = u ? strnlen(u, CERT_USER_MAX + 1) : 0, il = strlen(id);

	if (n == 0 || n > CERT_USER_MAX || il == 0 || n < il || strcasecmp(u + n - il, id) != 0)
		return 0;
	return prefix_is(u, n - il, s->pin[0] ? "KGZ" : s->citizenship);
}

int cert_is_clerk(const struct cert_ctx *c, const char *client)
{
	for (size_t i = 0; client && i < c->n_clerks; i++)
		if (strcmp(c->clerks[i], client) == 0)
			return 1;
	return 0;
}

/* Characters that are not seen but change what a reader sees, or hide
 * text: Unicode's format characters (general category Cf - soft hyphen,
 * zero-width ones, direction marks and overrides, invisible operators,
 * tags, the BOM ...), the Mongolian vowel separator and variation
 * selectors. U+202E showed a signed purpose reversed on the verification
 * page; tag characters can carry text nobody sees. */
static int invisible_cp(unsigned long c)
{
	static const unsigned long r[][2] = {
		{ 0xAD, 0xAD }, { 0x600, 0x605 }, { 0x61C, 0x61C }, { 0x6DD, 0x6DD }, { 0x70F, 0x70F },
		{ 0x890, 0x891 }, { 0x8E2, 0x8E2 }, { 0x180B, 0x180F }, { 0x200B, 0x200F },
		{ 0x202A, 0x202E }, { 0x2060, 0x206F }, { 0xFE00, 0xFE0F }, { 0xFEFF, 0xFEFF },
		{ 0xFFF9, 0xFFFB }, { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD }, { 0x13430, 0x1343F },
		{ 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A }, { 0xE0000, 0xE0FFF },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (c >= r[i][0] && c <= r[i][1])
			return 1;
	return 0;
}

/* s is valid UTF-8 here (certdoc_text_ok ran first). */
static int invisible_format(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t n;

	for (; *p; p += n ? n : 1)
		if ((n = utf8_xml_char(p, &c)) != 0 && invisible_cp(c))
			return 1;
	return 0;
}

int cert_text_ok(const char *s)
{
	/* the document's rule, and one line: no U+2028 / U+2029 either, and
	 * nothing invisible that changes what a reader sees */
	return certdoc_text_ok(s) && !strstr(s, "\xe2\x80\xa8") && !strstr(s, "\xe2\x80\xa9") &&
	       !invisible_format(s);
}

void cert_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void cert_utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

int cert_blocking(struct cert_ctx *c, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	if (!c->host.run_blocking) {
		work(arg);
		done(arg);
		return 0;
	}
	return c->host.run_blocking(c->host.ctx, work, done, arg);
}

/* ---- shared state -------------------------------------------------------------------- */

void cert_shared_ref(struct cert_shared *s)
{
	pthread_mutex_lock(&s->lock);
	s->refs++;
	pthread_mutex_unlock(&s->lock);
}

void cert_shared_unref(struct cert_shared *s)
{
	int last;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	keys_free(&s->key);
	for (size_t i = 0; i < s->n_idle; i++)
		tsa_client_free(s->idle[i]);
	docreg_close(&s->reg);
	if (s->trust)
		X509_STORE_free(s->trust);
	tsa_trust_free(s->tsa_trust);
	free(s->tsa_url);
	free(s->tsa_cert);
	free(s->tsa_ca);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct tsa_client *cert_tsa_take(struct cert_shared *s, char **err)
{
	struct tsa_config cfg = { s->tsa_url, s->tsa_cert, s->tsa_ca, s->tsa_timeout_ms };
	struct tsa_client *t = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->n_idle > 0)
		t = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->lock);
	return t ? t : tsa_client_new(&cfg, err);
}

void cert_tsa_put(struct cert_shared *s, struct tsa_client *t)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_idle < CERT_TSA_IDLE) {
		s->idle[s->n_idle++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	tsa_client_free(t);
}

/* The register, opened now if it could not be before (a disk that comes
 * back). On a background thread. NULL with *err. */
static struct docreg *shared_reg(struct cert_shared *s, char **err)
{
	struct docreg *r;

	pthread_mutex_lock(&s->lock);
	if (!s->reg && docreg_open(s->reg_path, 0, &s->reg, err) != 0)
		s->reg = NULL;
	r = s->reg;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- configuration ------------------------------------------------------------------- */

static int cfg_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfg_fail(char **err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*err = strdup(msg);
	return -1;
}

static const char *cfg(const struct cert_ctx *c, const char *key, const char *dflt)
{
	const char *v = c->host.config ? c->host.config(c->host.ctx, key) : NULL;

	return v && v[0] ? v : dflt;
}

static int cfg_long(const struct cert_ctx *c, const char *key, long dflt, long lo, long hi, long *out,
		    char **err)
{
	const char *v = cfg(c, key, NULL);
	char *end;

	*out = dflt;
	if (!v)
		return 0;
	*out = strtol(v, &end, 10);
	if (*end || end == v || *out < lo || *out > hi)
		return cfg_fail(err, "[adapter.certificates] %s must be a number from %ld to %ld; got '%.40s'",
				key, lo, hi, v);
	return 0;
}

/* "INST/CLASS/CODE/SUB" with 4 non-empty parts, copied into out[CERT_ID_MAX]. */
static int cfg_subsystem(const struct cert_ctx *c, const char *key, const char *dflt, char *out, char **err)
{
	const char *v = cfg(c, key, dflt);
	int parts = 1;

	for (const char *p = v; *p; p++)
		if (*p == '/')
			parts += p[1] && p[1] != '/' && p != v ? 1 : 100;
	if (parts != 4 || strlen(v) >= CERT_ID_MAX || strchr(v, ' '))
		return cfg_fail(err, "[adapter.certificates] %s must be a subsystem INSTANCE/CLASS/CODE/"
				"SUBSYSTEM, e.g. %s; got '%.80s'", key, dflt, v);
	snprintf(out, CERT_ID_MAX, "%s", v);
	return 0;
}

static int cfg_clerks(struct cert_ctx *c, char **err)
{
	char list[CERT_CLERKS_MAX * CERT_ID_MAX], *save = NULL, *tok;

	snprintf(list, sizeof(list), "%s", cfg(c, "clerks", "central-server/GOV/70000050/household-register"));
	for (tok = strtok_r(list, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		if (c->n_clerks == CERT_CLERKS_MAX)
			return cfg_fail(err, "[adapter.certificates] clerks names more than %d subsystems",
					CERT_CLERKS_MAX);
		snprintf(c->clerks[c->n_clerks++], CERT_ID_MAX, "%s", tok);
	}
	return 0;
}

/* The issuer is the member of the client subsystem. */
static void cfg_issuer(struct cert_ctx *c)
{
	char *parts[4] = { c->issuer_instance, c->issuer_class, c->issuer_code, NULL };
	const char *p = c->client;

	for (int i = 0; i < 3; i++) {
		size_t n = strcspn(p, "/");
		snprintf(parts[i], 64, "%.*s", (int)n, p);
		p += n + (p[n] == '/');
	}
}

static int cfg_basic(struct cert_ctx *c, char **err)
{
	const char *as_of = cfg(c, "as_of", NULL), *verify = cfg(c, "verify_url", "http://127.0.0.1:8080/verify");
	long timeout, days;
	char probe[600];

	if (cfg_subsystem(c, "client", "central-server/GOV/70000050/certificates", c->client, err) ||
	    cfg_subsystem(c, "edocs", "central-server/GOV/70000050/edocs", c->edocs, err) ||
	    cfg_long(c, "vet_max_age_days", 365, 1, 36500, &c->vet_max_age_days, err) ||
	    cfg_long(c, "valid_days", 30, 1, 3660, &c->valid_days, err) ||
	    cfg_long(c, "timeout_ms", 0, 0, 600000, &timeout, err) || cfg_clerks(c, err))
		return -1;
	for (int r = 0; r < CR_COUNT; r++)
		if (cfg_subsystem(c, compose_registry_key((enum compose_registry)r),
				  compose_registry_default((enum compose_registry)r), c->registry[r], err))
			return -1;
	c->timeout_ms = (unsigned)timeout;
	cfg_issuer(c);
	snprintf(c->issuer_name, sizeof(c->issuer_name), "%s", cfg(c, "issuer_name", "Лебединовка айыл өкмөтү"));
	if (strlen(verify) >= sizeof(c->verify_base) ||
	    certdoc_verify_url(verify, "X-2026-000001", "0", probe, sizeof(probe)) != 0)
		return cfg_fail(err, "[adapter.certificates] verify_url must be the address of the "
				"verification page, e.g. http://127.0.0.1:8080/verify; got '%.80s'", verify);
	snprintf(c->verify_base, sizeof(c->verify_base), "%s", verify);
	if (as_of && params_date_parse(as_of, &days) != 0)
		return cfg_fail(err, "[adapter.certificates] as_of must be a date YYYY-MM-DD; got '%.20s'", as_of);
	snprintf(c->as_of, sizeof(c->as_of), "%s", as_of ? as_of : "");
	return 0;
}

/* The documents are signed as the member of the client subsystem (their
 * Issuer, which verification compares with the signer): a key of another
 * member would make every certificate issued here "tampered". */
static int cfg_key_member(const struct cert_ctx *c, const struct signing_key *k, char **err)
{
	char cls[64], code[64];

	if (sig_cert_member(k->cert, cls, sizeof(cls), code, sizeof(code)) != 0)
		return cfg_fail(err, "[adapter.certificates] sign_cert is not a member's signing "
				"certificate (its subject names no CLASS/CODE)");
	if (strcmp(cls, c->issuer_class) != 0 || strcmp(code, c->issuer_code) != 0)
		return cfg_fail(err, "[adapter.certificates] sign_cert belongs to member %s/%s, but the "
				"certificates are issued by %s/%s (the member of client %s): use that "
				"member's signing key", cls, code, c->issuer_class, c->issuer_code, c->client);
	return 0;
}

/* The signing key, the TSA, the trust for uploaded documents, the register. */
static int cfg_shared(struct cert_ctx *c, struct cert_shared *s, char **err)
{
	const char *key = cfg(c, "sign_key", NULL), *cert = cfg(c, "sign_cert", NULL);
	const char *tsa = cfg(c, "tsa_url", NULL), *trust = cfg(c, "trust", NULL);
	long tsa_ms, busy, req;
	char *e = NULL;

	if ((key != NULL) != (cert != NULL))
		return cfg_fail(err, "[adapter.certificates] sign_key and sign_cert go together (the "
				"member's signing key and its certificate chain)");
	if (key && keys_load_pem(key, cert, cfg(c, "sign_chain", NULL), &s->key, &e) != 0) {
		cfg_fail(err, "[adapter.certificates] sign_key/sign_cert: %s", e ? e : "cannot be loaded");
		free(e);
		return -1;
	}
	if (s->key && cfg_key_member(c, s->key, err) != 0)
		return -1;
	if (cfg_long(c, "tsa_timeout_ms", 10000, 100, 120000, &tsa_ms, err) ||
	    cfg_long(c, "busy_timeout_ms", 5000, 0, 60000, &busy, err) ||
	    cfg_long(c, "require_timestamp", tsa ? 1 : 0, 0, 1, &req, err))
		return -1;
	s->tsa_timeout_ms = (unsigned)tsa_ms;
	s->require_timestamp = (int)req;
	if (tsa && !cfg(c, "tsa_cert", NULL))
		return cfg_fail(err, "[adapter.certificates] tsa_url needs tsa_cert (the approved TSA's "
				"certificate)");
	if (tsa && (!(s->tsa_url = strdup(tsa)) || !(s->tsa_cert = strdup(cfg(c, "tsa_cert", ""))) ||
		    (cfg(c, "tsa_ca", NULL) && !(s->tsa_ca = strdup(cfg(c, "tsa_ca", ""))))))
		return cfg_fail(err, "out of memory");
	if (trust && (!(s->trust = sig_trust_new(&e)) || sig_trust_add_pem(s->trust, trust, &e) != 0)) {
		cfg_fail(err, "[adapter.certificates] trust: %s", e ? e : "cannot be loaded");
		free(e);
		return -1;
	}
	if (s->tsa_cert && !(s->tsa_trust = tsa_trust_new(s->tsa_ca ? s->tsa_ca : s->tsa_cert, s->tsa_cert, &e))) {
		cfg_fail(err, "[adapter.certificates] tsa_cert/tsa_ca: %s", e ? e : "cannot be loaded");
		free(e);
		return -1;
	}
	if ((size_t)snprintf(s->reg_path, sizeof(s->reg_path), "%s", cfg(c, "db", "")) >= sizeof(s->reg_path) ||
	    (!s->reg_path[0] && (size_t)snprintf(s->reg_path, sizeof(s->reg_path), "%s/certificates.db",
						 c->host.data_dir ? c->host.data_dir : ".") >= sizeof(s->reg_path)))
		return cfg_fail(err, "[adapter.certificates] db: path too long");
	if (c->host.check_only)
		return 0;   /* only the configuration is being checked: open nothing */
	if (docreg_open(s->reg_path, (unsigned)busy, &s->reg, &e) != 0) {
		/* not fatal: calls answer "unavailable" and try again */
		c->host.log(c->host.ctx, ADAPTER_LOG_ERROR, NULL, "certificates: %s", e ? e : "register not open");
		free(e);
		s->reg = NULL;
	}
	return 0;
}

static void cert_free(void *vctx)
{
	struct cert_ctx *c = vctx;

	if (!c)
		return;
	cert_shared_unref(c->sh);
	free(c);
}

static int cert_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct cert_ctx *c = calloc(1, sizeof(*c));
	char *e = NULL;

	*vctx = NULL;
	*err = NULL;
	if (!c || !(c->sh = calloc(1, sizeof(*c->sh)))) {
		free(c);
		return cfg_fail(err, "out of memory");
	}
	pthread_mutex_init(&c->sh->lock, NULL);
	c->sh->refs = 1;
	c->host = *host;
	if (sig_global_init(&e) != 0) {
		cfg_fail(err, "certificates: %s", e ? e : "XML signature library");
		free(e);
		cert_free(c);
		return -1;
	}
	if (cfg_basic(c, err) != 0 || cfg_shared(c, c->sh, err) != 0) {
		cert_free(c);
		return -1;
	}
	if (!c->sh->key)
		host->log(host->ctx, ADAPTER_LOG_WARN, NULL, "certificates: no signing key configured "
			  "([adapter.certificates] sign_key, sign_cert): issue refuses until there is one");
	*vctx = c;
	return 0;
}

/* ---- jobs: the services around issued documents ------------------------------------------ */

struct job {
	struct cert_ctx *c;
	struct cert_shared *sh;
	enum cert_service svc;
	adapter_done_fn done;
	void *arg;
	char reqid[80];
	char client[CERT_ID_MAX];
	char user_id[CERT_USER_MAX + 1];
	int clerk;                             /* the caller is a clerk's system */
	char number[CERTDOC_NUMBER_MAX + 8];
	char digest[CERTDOC_DIGEST_HEX + 8];
	char form[8];                          /* document: "xml" or "pdf" */
	char reason[CERT_REASON_MAX + 8];
	char verify_base[256];
	char page_action[256];                 /* the path of verify_base: where the forms go */
	struct buf upload;                     /* verify-document: the XML */
	struct adapter_result res;             /* what the work found */
};

static void job_free(struct job *j)
{
	cert_shared_unref(j->sh);
	buf_free(&j->upload);
	json_decref(j->res.data);
	free(j);
}

static void job_done(void *arg)
{
	struct job *j = arg;

	j->done(&j->res, j->arg);
	j->res.data = NULL;    /* the core's now */
	job_free(j);
}

static void job_error(struct job *j, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void job_error(struct job *j, enum adapter_status st, const char *fmt, ...)
{
	va_list ap;

	json_decref(j->res.data);
	j->res.data = NULL;
	j->res.status = st;
	va_start(ap, fmt);
	vsnprintf(j->res.message, sizeof(j->res.message), fmt, ap);
	va_end(ap);
}

static void job_ok(struct job *j, json_t *data)
{
	if (!data) {
		job_error(j, ADAPTER_FAILED, "could not build the answer");
		return;
	}
	j->res.status = ADAPTER_OK;
	j->res.data = data;
}

/* The register for a job, or the "unavailable" answer. */
static struct docreg *job_reg(struct job *j)
{
	char *err = NULL;
	struct docreg *r = shared_reg(j->sh, &err);

	if (!r) {
		free(err);
		job_error(j, ADAPTER_UNAVAILABLE, "the register of issued certificates is unavailable; try "
			  "again later");
	}
	return r;
}

/* A register failure: the reason for the log is dropped here (the register
 * names the file), the caller gets "unavailable". */
static void job_reg_failed(struct job *j, int rc, char *err)
{
	if (rc == DOCREG_NOT_FOUND)
		job_error(j, ADAPTER_NOT_FOUND, "no certificate %s has been issued here", j->number);
	else if (rc == DOCREG_CONFLICT)
		job_error(j, ADAPTER_INVALID_INPUT, "%s", err ? err : "conflict");
	else
		job_error(j, ADAPTER_UNAVAILABLE, "the register of issued certificates cannot answer now; "
			  "try again later");
	free(err);
}

static json_t *time_or_null(time_t t)
{
	char s[32];

	if (t == 0)
		return json_null();
	certdoc_time_xml(t, s, sizeof(s));
	return json_string(s);
}

/* ---- document ----------------------------------------------------------------------------- */

static int owner_may_read(const struct job *j, const struct docreg_entry *e)
{
	struct compose_subject s = { 0 };
	const char *colon = strchr(e->subject_id, ':');

	if (j->clerk)
		return 1;
	if (!colon) {
		cert_copy(s.pin, sizeof(s.pin), e->subject_id);
	} else {
		snprintf(s.citizenship, sizeof(s.citizenship), "%.*s", (int)(colon - e->subject_id), e->subject_id);
		snprintf(s.document, sizeof(s.document), "%s", colon + 1);
	}
	return cert_user_is_subject(j->user_id, &s);
}

static void document_work(void *arg)
{
	struct job *j = arg;
	struct docreg *r = job_reg(j);
	struct docreg_entry e;
	struct buf xml, pdf;
	struct certdoc *d = NULL;
	struct pdf_opts po = { NULL, j->verify_base, NULL };
	char *err = NULL, *b64 = NULL, fname[96], revoked[CERTDOC_TEXT_MAX + 64], when[32];
	const struct buf *out;
	int rc;

	if (!r)
		return;
	if ((rc = docreg_lookup(r, j->number, &e, &err)) != DOCREG_OK)
		return job_reg_failed(j, rc, err);
	if (!owner_may_read(j, &e))
		return job_error(j, ADAPTER_INVALID_INPUT, "you can only fetch your own certificates: "
				 "certificate %s is not about the user signed in (X-Road-UserId)",
				 j->number);
	buf_init(&xml, DOCSIGN_XML_MAX);
	buf_init(&pdf, PDF_MAX_BYTES);
	if ((rc = docreg_get_xml(r, j->number, &xml, &err)) != DOCREG_OK) {
		buf_free(&xml);
		return job_reg_failed(j, rc, err);
	}
	out = &xml;
	if (e.revoked) {
		certdoc_time_human(e.revoked_at, when, sizeof(when));
		snprintf(revoked, sizeof(revoked), "%s, %s", when, e.revoke_reason);
		po.revoked = revoked;
	}
	if (strcmp(j->form, "pdf") == 0) {
		if (certdoc_parse(xml.data, xml.len, &d, &err) != 0 ||
		    pdf_certificate(d, e.digest, &po, &pdf, &err) != 0) {
			job_error(j, ADAPTER_FAILED, "the PDF of certificate %s could not be made; the XML is the "
				  "legally valid form (form=xml)", j->number);
			free(err);
			goto out;
		}
		out = &pdf;
	}
	b64 = malloc(4 * ((out->len + 2) / 3) + 1);
	snprintf(fname, sizeof(fname), "%s.%s", j->number, j->form);
	if (b64) {
		b64_encode((const unsigned char *)out->data, out->len, b64);
		/* what the register says of it now: the document itself cannot change */
		job_ok(j, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:o,s:o,s:s}", "number", j->number,
				    "form", j->form,
				    "content_type", out == &pdf ? "application/pdf" : "application/xml",
				    "filename", fname, "size", (json_int_t)out->len, "digest", e.digest,
				    "status", e.revoked ? "revoked" : time(NULL) > e.valid_until ? "expired" : "valid",
				    "valid_until", time_or_null(e.valid_until),
				    "revoked_at", time_or_null(e.revoked_at),
				    "revoke_reason", e.revoked ? json_string(e.revoke_reason) : json_null(),
				    "content_base64", b64));
	} else {
		job_error(j, ADAPTER_FAILED, "out of memory");
	}
out:
	free(b64);
	certdoc_free(&d);
	buf_free(&xml);
	buf_free(&pdf);
}

/* ---- verify, verify-document ----------------------------------------------------------------- */

/* What the register holds is shown only when the digest matched (valid,
 * revoked, expired): numbers are sequential and anyone can guess one, but
 * only a holder of the document knows its digest. */
static json_t *verdict_json(const struct docreg_check *k)
{
	const struct docreg_entry *e = &k->entry;
	int found = k->found && (k->verdict == DOCREG_VALID || k->verdict == DOCREG_REVOKED ||
				 k->verdict == DOCREG_EXPIRED);
	json_t *sig = json_null();

	if (k->xml_checked) {
		char st[32];
		certdoc_time_xml(k->sig.signing_time.tv_sec, st, sizeof(st));
		sig = json_pack("{s:s,s:s,s:s,s:s,s:o}", "status", docsign_status_name(k->sig.status),
				"reason", k->sig.reason, "signer", k->sig.signer_name, "signing_time",
				k->sig.status == DOCSIGN_VALID ? st : "",
				"time_stamp", k->sig.stamped ? time_or_null((time_t)(k->sig.stamp_time_ms / 1000)) :
							       json_null());
	}
	return json_pack("{s:s,s:b,s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "verdict", docreg_verdict_name(k->verdict), "valid", k->verdict == DOCREG_VALID,
			 "reason", k->reason, "number", found ? json_string(e->number) : json_null(),
			 "digest", k->digest,
			 "kind", found ? json_string(e->kind) : json_null(),
			 "subject_id", found ? json_string(e->subject_id) : json_null(),
			 "subject_name", found ? json_string(e->subject_name) : json_null(),
			 "issued_at", found ? time_or_null(e->issued_at) : json_null(),
			 "valid_until", found ? time_or_null(e->valid_until) : json_null(),
			 "revoked_at", found && e->revoked ? time_or_null(e->revoked_at) : json_null(),
			 "revoke_reason", found && e->revoked ? json_string(e->revoke_reason) : json_null(),
			 "issuer_code", found ? json_string(e->issuer_code) : json_null(),
			 "signature", sig);
}

static void verify_work(void *arg)
{
	struct job *j = arg;
	struct docreg *r = job_reg(j);
	struct docreg_check k;
	char *err = NULL;

	if (!r)
		return;
	if (docreg_check_number(r, j->number, j->digest, 0, &k, &err) != DOCREG_OK) {
		job_error(j, ADAPTER_INVALID_INPUT, "%s", err ? err : "the number or the digest is malformed");
		free(err);
		return;
	}
	job_ok(j, verdict_json(&k));
}

static void verify_document_work(void *arg)
{
	struct job *j = arg;
	struct docreg *r = job_reg(j);
	struct docreg_check_opts o = { j->sh->trust, j->sh->tsa_trust, j->sh->require_timestamp, 0 };
	struct docreg_check k;
	char *err = NULL;

	if (!r)
		return;
	if (!j->sh->trust)
		return job_error(j, ADAPTER_FAILED, "uploaded documents cannot be verified here: no trust "
				 "store is configured ([adapter.certificates] trust)");
	if (docreg_check_xml(r, j->upload.data, j->upload.len, &o, &k, &err) != DOCREG_OK) {
		job_error(j, ADAPTER_UNAVAILABLE, "the document could not be checked now; try again later");
		free(err);
		return;
	}
	job_ok(j, verdict_json(&k));
}

/* ---- revoke ------------------------------------------------------------------------------ */

static void revoke_work(void *arg)
{
	struct job *j = arg;
	struct docreg *r = job_reg(j);
	struct docreg_entry e;
	char who[DOCREG_CLERK_MAX], *err = NULL;
	int rc;

	if (!r)
		return;
	{
		char full[CERT_ID_MAX + CERT_USER_MAX + 2];
		snprintf(full, sizeof(full), "%s%s%s", j->client, j->user_id[0] ? " " : "", j->user_id);
		cert_utf8_cut(full, DOCREG_CLERK_MAX - 1);
		cert_copy(who, sizeof(who), full);
	}
	if ((rc = docreg_revoke(r, j->number, j->reason, who, 0, &err)) != DOCREG_OK)
		return job_reg_failed(j, rc, err);
	if ((rc = docreg_lookup(r, j->number, &e, &err)) != DOCREG_OK)
		return job_reg_failed(j, rc, err);
	job_ok(j, json_pack("{s:s,s:b,s:o,s:s,s:s}", "number", e.number, "revoked", 1, "revoked_at",
			    time_or_null(e.revoked_at), "revoked_by", e.revoked_by, "reason", e.revoke_reason));
}

/* ---- verify-page ------------------------------------------------------------------------- */

/* The page's answer: {"content_type", "status", "html"}. */
static void page_answer(struct job *j, const struct docreg_check *k, const char *error)
{
	struct verify_page p = { j->page_action, k, error, j->number, j->digest };
	struct buf html;
	char *s;
	size_t len;

	buf_init(&html, 1u << 20);
	if (verify_page_html(&p, &html) != 0) {
		buf_free(&html);
		return job_error(j, ADAPTER_FAILED, "the verification page could not be made");
	}
	s = buf_steal(&html, &len);
	job_ok(j, json_pack("{s:s,s:i,s:s%}", "content_type", "text/html; charset=utf-8", "status", 200,
			    "html", s ? s : "", s ? len : 0));
	free(s);
}

/* GET: n and d (the QR code's address), or neither (the empty form). */
static void page_work(void *arg)
{
	struct job *j = arg;
	struct docreg *r;
	struct docreg_check k;
	char *err = NULL;

	if (!j->number[0] && !j->digest[0])
		return page_answer(j, NULL, NULL);
	if (!(r = job_reg(j)))
		return;
	if (docreg_check_number(r, j->number, j->digest, 0, &k, &err) != DOCREG_OK) {
		page_answer(j, NULL, err ? err : "the number or the digest is malformed");
		free(err);
		return;
	}
	page_answer(j, &k, NULL);
}

/* POST: the document from the upload form. */
static void page_upload_work(void *arg)
{
	struct job *j = arg;
	struct docreg_check_opts o = { j->sh->trust, j->sh->tsa_trust, j->sh->require_timestamp, 0 };
	struct docreg *r;
	struct docreg_check k;
	char *err = NULL;

	if (j->reason[0])   /* the form could not be read: say why on the page */
		return page_answer(j, NULL, j->reason);
	if (!(r = job_reg(j)))
		return;
	if (!j->sh->trust)
		return page_answer(j, NULL, "uploaded documents cannot be verified here (no trust store)");
	if (docreg_check_xml(r, j->upload.data, j->upload.len, &o, &k, &err) != DOCREG_OK) {
		page_answer(j, NULL, "the document could not be checked now; try again later");
		free(err);
		return;
	}
	page_answer(j, &k, NULL);
}

/* The form's body: multipart/form-data (its first line is the boundary) or
 * application/x-www-form-urlencoded. The adapter is not told the request's
 * Content-Type, so it is recognised from the body. A form that cannot be
 * read is shown on the page (reason), not refused. */
static void want_posted(struct job *j, const struct adapter_call *call)
{
	char ct[160];
	size_t n = 0;

	buf_init(&j->upload, DOCSIGN_XML_MAX);
	if (call->body && call->body_len > 4 && call->body[0] == '-' && call->body[1] == '-') {
		while (n + 2 < call->body_len && n < 100 && call->body[n + 2] != '\r' && call->body[n + 2] != '\n')
			n++;
		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%.*s", (int)n, call->body + 2);
	} else {
		snprintf(ct, sizeof(ct), "application/x-www-form-urlencoded");
	}
	if (!call->body || verify_page_posted_xml(ct, call->body, call->body_len, &j->upload, j->reason,
						  sizeof(j->reason)) != 0) {
		if (!j->reason[0])
			snprintf(j->reason, sizeof(j->reason), "no document was sent: choose the XML file of "
				 "the certificate, or paste it");
	}
}

/* "/verify" from "http://127.0.0.1:8080/verify". */
static void page_action(const char *base, char *out, size_t cap)
{
	const char *p = strstr(base, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	snprintf(out, cap, "%s", p ? p : "/verify");
}

/* ---- handle --------------------------------------------------------------------------------- */

static int want_number(struct job *j, const json_t *obj, const char *name, struct adapter_result *res)
{
	char code[24];
	int year;
	long seq;

	params_trimmed(obj, name, j->number, sizeof(j->number));
	if (certdoc_number_parse(j->number, code, &year, &seq) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a certificate number like "
				     "70000050-2026-000123%s", name, j->number[0] ? "" : " (it is missing)");
		return -1;
	}
	return 0;
}

static int want_digest(struct job *j, const json_t *obj, const char *name, struct adapter_result *res)
{
	params_trimmed(obj, name, j->digest, sizeof(j->digest));
	if (!certdoc_digest_ok(j->digest)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be the document's digest: 64 hex "
				     "digits (SHA-256 of the document, as the QR code carries it)", name);
		return -1;
	}
	return 0;
}

/* document_base64 (white space inside allowed: SOAP bodies are indented)
 * decoded into j->upload; b64 is taken (freed). 0, or -1 with res. */
static int upload_b64(struct job *j, char *b64, struct adapter_result *res)
{
	size_t n = 0;
	unsigned char *dec;
	long got;
	int rc;

	for (size_t i = 0; b64[i]; i++)
		if (b64[i] != ' ' && b64[i] != '\n' && b64[i] != '\r' && b64[i] != '\t')
			b64[n++] = b64[i];
	b64[n] = '\0';
	dec = n / 4 * 3 <= DOCSIGN_XML_MAX ? malloc(n / 4 * 3 + 1) : NULL;
	got = dec ? b64_decode(b64, n, dec, n / 4 * 3 + 1) : -1;
	rc = got > 0 && buf_append(&j->upload, dec, (size_t)got) == 0 ? 0 : -1;
	free(dec);
	free(b64);
	if (rc != 0)
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "document_base64 is not base64 of a document "
				     "of at most %d bytes", DOCSIGN_XML_MAX);
	return rc;
}

/* verify-document: the XML as the REST body, or base64 in document_base64
 * (a JSON body, or a parameter). 0, or -1 with res. */
static int want_upload(struct job *j, const struct adapter_call *call, struct adapter_result *res)
{
	const char *b = call->body, *v = NULL;
	size_t n = call->body_len;
	json_t *o = NULL;
	char *b64;

	buf_init(&j->upload, DOCSIGN_XML_MAX);
	if (n >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3))
		b += 3, n -= 3;   /* a byte order mark (Windows editors): the XML after it */
	while (n > 0 && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
		b++, n--;
	if (n > 0 && *b == '<') {
		if (n <= DOCSIGN_XML_MAX && buf_append(&j->upload, b, n) == 0)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the document is larger than %d bytes",
				     DOCSIGN_XML_MAX);
		return -1;
	}
	if (n > 0 && *b == '{')
		v = json_string_value(json_object_get(o = json_loadb(b, n, JSON_REJECT_DUPLICATES, NULL),
						      "document_base64"));
	else if (n == 0)
		v = params_str(call->params, "document_base64");
	b64 = v ? strdup(v) : NULL;
	json_decref(o);
	if (!b64) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "send the certificate document: its XML as "
				     "the body (Content-Type: application/xml), or base64 in document_base64");
		return -1;
	}
	return upload_b64(j, b64, res);
}

/* The inputs of service svc into j: 0, or -1 with res. */
static int job_parse(struct job *j, const struct adapter_call *call, struct adapter_result *res)
{
	json_t *obj = NULL;
	int rc = -1;

	if (j->svc == SV_VERIFY_DOCUMENT)
		return want_upload(j, call, res);
	if (j->svc == SV_VERIFY_UPLOAD) {
		want_posted(j, call);
		return 0;
	}
	if (cert_request_object(call, &obj, res) != 0)
		return -1;
	switch (j->svc) {
	case SV_DOCUMENT:
		params_trimmed(obj, "form", j->form, sizeof(j->form));
		if (!j->form[0])
			snprintf(j->form, sizeof(j->form), "xml");
		if (strcmp(j->form, "xml") != 0 && strcmp(j->form, "pdf") != 0) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "form must be xml or pdf");
			break;
		}
		rc = want_number(j, obj, "number", res);
		break;
	case SV_VERIFY:
		rc = want_number(j, obj, "number", res) || want_digest(j, obj, "digest", res) ? -1 : 0;
		break;
	case SV_VERIFY_PAGE:
		/* an empty page (the form) without n and d; the page says what is wrong */
		params_trimmed(obj, "n", j->number, sizeof(j->number));
		params_trimmed(obj, "d", j->digest, sizeof(j->digest));
		rc = 0;
		break;
	case SV_REVOKE:
		if (!j->clerk) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "only a municipality clerk's system may "
					     "revoke certificates; %s is not one", j->client);
			break;
		}
		/* the register keeps who revoked: the clerk is client + userId */
		if (strspn(j->user_id, " \t") == strlen(j->user_id)) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "say which clerk revokes the "
					     "certificate: send X-Road-UserId (the clerk's user id in %s)",
					     j->client);
			break;
		}
		params_trimmed(obj, "reason", j->reason, sizeof(j->reason));
		if (!j->reason[0] || strlen(j->reason) > CERT_REASON_MAX || !cert_text_ok(j->reason)) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "reason must say why the certificate is "
					     "revoked (1-%d bytes of text on one line, no invisible or "
					     "direction-changing characters)", CERT_REASON_MAX);
			break;
		}
		rc = want_number(j, obj, "number", res);
		break;
	default:
		adapter_result_error(res, ADAPTER_FAILED, "no such service");
		break;
	}
	json_decref(obj);
	return rc;
}

static void (*const job_work[SV_COUNT])(void *arg) = {
	[SV_DOCUMENT] = document_work,
	[SV_VERIFY] = verify_work,
	[SV_VERIFY_DOCUMENT] = verify_document_work,
	[SV_REVOKE] = revoke_work,
	[SV_VERIFY_PAGE] = page_work,
	[SV_VERIFY_UPLOAD] = page_upload_work,
};

static void cert_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct cert_ctx *c = vctx;
	struct adapter_result res = { 0 };
	struct job *j;
	size_t svc;

	for (svc = 0; svc < SV_COUNT; svc++)
		if (strcmp(call->service_code, cert_services[svc].code) == 0)
			break;
	if (svc == SV_COUNT) {
		adapter_result_error(&res, ADAPTER_FAILED, "the certificates service has no service '%.64s'",
				     call->service_code);
		done(&res, arg);
		return;
	}
	if (svc == SV_ISSUE) {
		cert_issue(c, call, done, arg);
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		adapter_result_error(&res, ADAPTER_FAILED, "out of memory");
		done(&res, arg);
		return;
	}
	j->c = c;
	j->svc = (enum cert_service)svc;
	j->done = done;
	j->arg = arg;
	snprintf(j->reqid, sizeof(j->reqid), "%s", call->message_id ? call->message_id : "");
	snprintf(j->client, sizeof(j->client), "%s", call->client ? call->client : "");
	snprintf(j->user_id, sizeof(j->user_id), "%s", call->user_id ? call->user_id : "");
	j->clerk = cert_is_clerk(c, j->client);
	snprintf(j->verify_base, sizeof(j->verify_base), "%s", c->verify_base);
	page_action(c->verify_base, j->page_action, sizeof(j->page_action));
	cert_shared_ref(c->sh);
	j->sh = c->sh;
	if (job_parse(j, call, &res) != 0) {
		done(&res, arg);
		job_free(j);
		return;
	}
	if (cert_blocking(c, job_work[svc], job_done, j) != 0) {
		adapter_result_error(&res, ADAPTER_UNAVAILABLE, "the gateway is too busy now; try again later");
		done(&res, arg);
		job_free(j);
	}
}

const struct adapter_ops certificates_adapter = {
	.name = "certificates",
	.services = cert_services,
	.n_services = SV_COUNT,
	.init = cert_init,
	.handle = cert_handle,
	.free = cert_free,
};
