/* issue: the issuing flow of the certificates service.
 *
 *   check the request (kind, subject, purpose; userId must be the subject)
 *   -> the registry queries the kind needs, all started before any answer
 *      comes back (compose_plan), through the exchange as our client
 *      subsystem, with the citizen as X-Road-UserId and the purpose as
 *      X-Road-Issue (so the registries' access logs say who asked and why)
 *   -> a second stage when a query needs an earlier answer (compose_plan)
 *   -> compose_build: the content, or a refusal (nothing is issued)
 *   -> on a background thread (run_blocking): a number from the register of
 *      issued certificates, the document (certdoc), signed and time-stamped
 *      (the TSA round trip blocks), stored in the register
 *   -> registered as an outgoing document in edocs; if that fails the
 *      certificate is revoked in the register ("not registered in the
 *      electronic documents register") and the citizen is told to try again
 *      later: every certificate handed out is in edocs
 *   -> the answer: number, digest, verification address, the signed XML,
 *      where to fetch the PDF (document/{number}?form=pdf, made on demand).
 * One struct issue per request, freed in issue_finish, the one exit. */
#include "adapters/certificates/cert_int.h"
#include "adapters/certificates/certdoc.h"
#include "adapters/certificates/docreg.h"
#include "adapters/common/eni.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "trust/docsign.h"

#define EDOCS_SIG_MAX (64u << 10)   /* edocs takes at most 64 KiB of base64 signature */

struct issue {
	struct cert_ctx *c;
	adapter_done_fn done;
	void *arg;
	char reqid[80];
	char user_id[CERT_USER_MAX + 1];
	char xissue[CERT_PURPOSE_MAX + 64];   /* X-Road-Issue of the queries (cut to 240) */
	char purpose[CERT_PURPOSE_MAX + 1];
	struct compose_request rq;
	struct compose_answer ans[CQ_COUNT];
	struct compose_query q[CQ_COUNT];
	int pending;                        /* queries of this stage not answered */
	json_t *content;
	/* the document (made by the background job) */
	struct cert_shared *sh;
	char verify_base[256];
	char issuer[3][64], issuer_name[256];
	char registry[CR_COUNT][CERT_ID_MAX];
	struct certdoc *doc;
	char number[CERTDOC_NUMBER_MAX];
	time_t issued_at, valid_until;
	struct buf xml;
	char digest[CERTDOC_DIGEST_HEX];
	char verify_url[512];
	enum adapter_status job_status;     /* ADAPTER_OK, or why the job failed */
	char *err;                          /* the job's reason, for the log */
	char edocs_number[64];
};

struct slot {
	struct issue *is;
	size_t i;                           /* index into is->q */
};

static void issue_next(struct issue *is);

/* ---- the one exit ---------------------------------------------------------- */

static void issue_free(struct issue *is)
{
	compose_answers_free(is->ans, CQ_COUNT);
	json_decref(is->content);
	certdoc_free(&is->doc);
	if (is->sh)
		cert_shared_unref(is->sh);
	buf_free(&is->xml);
	free(is->err);
	free(is);
}

/* Answers (res: data owned by the core after done) and frees everything. */
static void issue_finish(struct issue *is, struct adapter_result *res)
{
	if (res->status != ADAPTER_OK)
		is->c->host.log(is->c->host.ctx, ADAPTER_LOG_INFO, is->reqid,
				"certificate %s for %s%s refused (%s): %s",
				compose_kind_info(is->rq.kind) ? compose_kind_info(is->rq.kind)->code : "?",
				is->rq.subject.pin[0] ? "PIN " : "document ", is->rq.subject.pin[0] ?
				is->rq.subject.pin : is->rq.subject.document, adapter_status_name(res->status),
				res->message);
	is->done(res, is->arg);
	issue_free(is);
}

static void issue_fail(struct issue *is, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void issue_fail(struct issue *is, enum adapter_status st, const char *fmt, ...)
{
	struct adapter_result res = { 0 };
	va_list ap;

	res.status = st;
	va_start(ap, fmt);
	vsnprintf(res.message, sizeof(res.message), fmt, ap);
	va_end(ap);
	issue_finish(is, &res);
}

/* ---- the request ------------------------------------------------------------- */

static const char *const issue_keys[] = { "kind", "pin", "citizenship", "document", "purpose", "eni",
					  "category" };

/* Unknown fields are refused: a misspelt optional one would be dropped. */
static int check_keys(const json_t *obj, struct adapter_result *res)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		size_t i;
		for (i = 0; i < sizeof(issue_keys) / sizeof(issue_keys[0]); i++)
			if (strcmp(key, issue_keys[i]) == 0)
				break;
		if (i == sizeof(issue_keys) / sizeof(issue_keys[0])) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "unknown field '%.40s'; issue takes "
					     "kind, pin (or citizenship and document), purpose, and eni or "
					     "category where the kind needs one", key);
			return -1;
		}
		if (!json_is_string(v) && !json_is_null(v)) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a string", key);
			return -1;
		}
	}
	return 0;
}

static int parse_subject(const struct adapter_call *call, const json_t *obj, struct compose_subject *s,
			 struct adapter_result *res)
{
	char pin[64], cit[8], doc[64], why[160];

	cert_param(call, obj, "pin", pin, sizeof(pin));
	cert_param(call, obj, "citizenship", cit, sizeof(cit));
	cert_param(call, obj, "document", doc, sizeof(doc));
	memset(s, 0, sizeof(*s));
	if (pin[0] && (cit[0] || doc[0])) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "give either pin, or citizenship and "
				     "document (for a foreign citizen without a PIN), not both");
		return -1;
	}
	if (pin[0]) {
		if (pin_check(pin, why, sizeof(why)) != 0) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
			return -1;
		}
		cert_copy(s->pin, sizeof(s->pin), pin);
		return 0;
	}
	if (!cit[0] || !doc[0]) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the person is missing: give pin, or "
				     "citizenship and document for a foreign citizen without a PIN");
		return -1;
	}
	if (params_citizenship(cit, s->citizenship) != 0 || strcmp(s->citizenship, "KGZ") == 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "citizenship must be an ISO 3166 country "
				     "code other than Kyrgyzstan (KAZ, KZ, UZB ...); a Kyrgyz citizen is "
				     "asked for by PIN");
		return -1;
	}
	if (!params_key_ok(doc, COMPOSE_DOC_MAX)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "document must be 1-%d letters, digits or "
				     "'-', e.g. N1234567", COMPOSE_DOC_MAX);
		return -1;
	}
	cert_copy(s->document, sizeof(s->document), doc);
	return 0;
}

/* kind, eni, category. */
static int parse_kind(const struct adapter_call *call, const json_t *obj, struct compose_request *rq,
		      struct adapter_result *res)
{
	const struct compose_kind_info *k;
	char kind[COMPOSE_KIND_MAX + 8], eni_in[64], cat[COMPOSE_CATEGORY_MAX + 8], why[160];
	struct eni e;

	cert_param(call, obj, "kind", kind, sizeof(kind));
	if (compose_kind_parse(kind, &rq->kind) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s%.40s%s; kind must be one of: %s",
				     kind[0] ? "unknown kind '" : "kind is missing", kind, kind[0] ? "'" : "",
				     compose_kind_list());
		return -1;
	}
	k = compose_kind_info(rq->kind);
	cert_param(call, obj, "eni", eni_in, sizeof(eni_in));
	cert_param(call, obj, "category", cat, sizeof(cat));
	if (eni_in[0] && !k->takes_eni) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "eni applies to %s certificates only",
				     compose_kind_info(CK_PROPERTY)->code);
		return -1;
	}
	if (eni_in[0]) {
		if (eni_parse(eni_in, &e, why, sizeof(why)) != 0) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
			return -1;
		}
		snprintf(rq->eni, sizeof(rq->eni), "%s", e.digits);
	}
	if (k->needs_category && (!cat[0] || !params_code_ok(cat, COMPOSE_CATEGORY_MAX))) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s certificates need category: the social "
				     "category's code, e.g. disability or uy_bulogo_komok", k->code);
		return -1;
	}
	if (!k->needs_category && cat[0]) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "category applies to %s certificates only",
				     compose_kind_info(CK_SOCIAL_CATEGORY)->code);
		return -1;
	}
	cert_copy(rq->category, sizeof(rq->category), cat);
	return 0;
}

static int parse_purpose(const struct adapter_call *call, const json_t *obj, char *out, size_t cap,
			 struct adapter_result *res)
{
	cert_param(call, obj, "purpose", out, cap);
	if (!out[0] || strlen(out) >= cap - 1 || !cert_text_ok(out)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "purpose must say what the certificate is "
				     "for (1-%zu bytes of text on one line, no invisible or direction-changing "
				     "characters), e.g. \"для банка\"", cap - 2);
		return -1;
	}
	return 0;
}

/* The whole request into is; 0, or -1 with res. */
static int issue_parse(struct issue *is, const struct adapter_call *call, struct adapter_result *res)
{
	const struct compose_kind_info *k;
	json_t *obj = NULL;
	int rc = -1;

	if (cert_request_object(call, &obj, res) != 0)
		return -1;
	if (check_keys(obj, res) || parse_kind(call, obj, &is->rq, res) ||
	    parse_subject(call, obj, &is->rq.subject, res) ||
	    parse_purpose(call, obj, is->purpose, sizeof(is->purpose), res))
		goto out;
	k = compose_kind_info(is->rq.kind);
	if (!is->rq.subject.pin[0] && !k->by_document) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the %s certificate needs a PIN: %s keeps "
				     "people by PIN only", k->code, is->rq.kind == CK_EMPLOYMENT ?
				     "the personnel register" : "the social passport");
		goto out;
	}
	if (!cert_user_is_subject(call->user_id, &is->rq.subject)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "you can only request certificates about "
				     "yourself: the request is about %s %s, but the user signed in (X-Road-UserId) "
				     "is %s", is->rq.subject.pin[0] ? "PIN" : "document",
				     is->rq.subject.pin[0] ? is->rq.subject.pin : is->rq.subject.document,
				     call->user_id && call->user_id[0] ? "someone else" : "missing");
		goto out;
	}
	rc = 0;
out:
	json_decref(obj);
	return rc;
}

/* ---- the queries ------------------------------------------------------------- */

static void on_answer(const struct adapter_outcall_result *r, void *arg)
{
	struct slot *s = arg;
	struct issue *is = s->is;

	compose_answer_set(&is->ans[is->q[s->i].role], &is->q[s->i], r->ok, r->status, r->error_code,
			   r->body, r->body_len, r->message_id, r->errmsg);
	free(s);
	if (--is->pending == 0)
		issue_next(is);
}

/* Starts query i; 0, or -1 when it could not be started (answer set). */
static int ask(struct issue *is, size_t i)
{
	struct cert_ctx *c = is->c;
	struct adapter_outcall oc = { 0 };
	char service[CERT_ID_MAX + 64];
	struct slot *s = calloc(1, sizeof(*s));

	snprintf(service, sizeof(service), "%s/%s", c->registry[is->q[i].registry], is->q[i].service_code);
	oc.client = c->client;
	oc.service = service;
	oc.method = "GET";
	oc.path = is->q[i].path;
	oc.user_id = is->user_id[0] ? is->user_id : NULL;
	oc.issue = is->xissue;
	oc.timeout_ms = c->timeout_ms;
	if (s) {
		s->is = is;
		s->i = i;
		if (c->host.call(c->host.ctx, &oc, on_answer, s) == 0)
			return 0;
	}
	free(s);
	compose_answer_set(&is->ans[is->q[i].role], &is->q[i], 0, 0, NULL, NULL, 0, "",
			   "the query could not be started on this gateway");
	return -1;
}

static void issue_compose(struct issue *is);

/* Every query the kind can ask now, all started before any answer is
 * handled (answers come later, on this thread); then, when all are in, the
 * next stage or the composition. */
static void issue_next(struct issue *is)
{
	size_t n = compose_plan(&is->rq, is->ans, is->q, CQ_COUNT);
	int failed = 0;

	if (n == 0) {
		issue_compose(is);
		return;
	}
	is->pending = (int)n + 1;           /* + 1: not done before every query is out */
	for (size_t i = 0; i < n; i++)
		if (ask(is, i) != 0)
			failed++;
	is->pending -= failed + 1;
	if (is->pending == 0)               /* none could be started: go on now */
		issue_next(is);
}

/* ---- the document ------------------------------------------------------------- */

static int doc_content(struct issue *is, char **err)
{
	const json_t *secs = json_object_get(is->content, "sections");
	json_t *s, *row;
	size_t i, j;

	json_array_foreach(secs, i, s) {
		if (certdoc_add_section(is->doc, json_string_value(json_object_get(s, "name")),
					json_string_value(json_object_get(s, "title")), err) != 0)
			return -1;
		json_array_foreach(json_object_get(s, "rows"), j, row)
			if (certdoc_add_field(is->doc, json_string_value(json_object_get(row, "name")),
					      json_string_value(json_object_get(row, "label")),
					      json_string_value(json_object_get(row, "value")), err) != 0)
				return -1;
	}
	for (int r = 0; r < CQ_COUNT; r++) {
		char service[CERT_ID_MAX + 64];
		if (is->ans[r].outcome != CA_OK)
			continue;
		snprintf(service, sizeof(service), "%s/%s", is->registry[is->ans[r].registry],
			 is->ans[r].service_code);
		if (certdoc_add_source(is->doc, service, is->ans[r].message_id, err) != 0)
			return -1;
	}
	return 0;
}

static int doc_new(struct issue *is, char **err)
{
	const json_t *subj = json_object_get(is->content, "subject");
	struct certdoc_head h = { 0 };

	h.number = is->number;
	h.kind = compose_kind_info(is->rq.kind)->code;
	h.issuer_instance = is->issuer[0];
	h.issuer_class = is->issuer[1];
	h.issuer_code = is->issuer[2];
	h.issuer_name = is->issuer_name;
	h.subject_pin = is->rq.subject.pin[0] ? is->rq.subject.pin : NULL;
	h.subject_doc = is->rq.subject.pin[0] ? NULL : is->rq.subject.document;
	h.subject_citizenship = is->rq.subject.pin[0] ? NULL : is->rq.subject.citizenship;
	h.subject_name = json_string_value(json_object_get(subj, "name"));
	h.purpose = is->purpose;
	h.issued_at = is->issued_at;
	h.valid_until = is->valid_until;
	return certdoc_new(&h, &is->doc, err) != 0 || doc_content(is, err) != 0 ? -1 : 0;
}

/* The job failed: status for the citizen, reason for the log. */
static void job_fail(struct issue *is, enum adapter_status st, char *err)
{
	is->job_status = st;
	free(is->err);
	is->err = err ? err : strdup("?");
}

/* On a background thread: number, document, signature, time stamp, the
 * register. Touches only the issue and the shared state it references. */
static void issue_work(void *arg)
{
	struct issue *is = arg;
	struct cert_shared *sh = is->sh;
	struct tsa_client *tsa = NULL;
	char *err = NULL;

	if (!sh->reg)
		return job_fail(is, ADAPTER_UNAVAILABLE, strdup("the register of issued certificates is not open"));
	if (docreg_next_number(sh->reg, is->issuer[2], certdoc_year(is->issued_at), is->number,
			       sizeof(is->number), &err) != DOCREG_OK)
		return job_fail(is, ADAPTER_UNAVAILABLE, err);
	if (doc_new(is, &err) != 0)
		return job_fail(is, ADAPTER_FAILED, err);
	if (sh->tsa_url && (tsa = cert_tsa_take(sh, &err)) == NULL)
		return job_fail(is, ADAPTER_UNAVAILABLE, err);
	buf_init(&is->xml, DOCSIGN_XML_MAX);
	if (certdoc_sign_stamp(is->doc, sh->key, tsa, &is->xml, is->digest, &err) != 0) {
		if (tsa)
			cert_tsa_put(sh, tsa);
		return job_fail(is, ADAPTER_UNAVAILABLE, err);
	}
	if (tsa)
		cert_tsa_put(sh, tsa);
	if (certdoc_verify_url(is->verify_base, is->number, is->digest, is->verify_url,
			       sizeof(is->verify_url)) != 0)
		return job_fail(is, ADAPTER_FAILED, strdup("the verification address does not fit "
							   "([adapter.certificates] verify_url)"));
	if (docreg_store(sh->reg, is->doc, is->xml.data, is->xml.len, &err) != DOCREG_OK)
		return job_fail(is, ADAPTER_UNAVAILABLE, err);
	is->job_status = ADAPTER_OK;
}

static void edocs_register(struct issue *is);

/* Back on the worker's loop. */
static void issue_work_done(void *arg)
{
	struct issue *is = arg;

	if (is->job_status == ADAPTER_OK) {
		edocs_register(is);
		return;
	}
	is->c->host.log(is->c->host.ctx, ADAPTER_LOG_ERROR, is->reqid, "certificate %s not issued: %s",
			is->number[0] ? is->number : "(no number)", is->err ? is->err : "?");
	if (is->job_status == ADAPTER_UNAVAILABLE)
		issue_fail(is, ADAPTER_UNAVAILABLE, "The certificate could not be signed, time-stamped and "
			   "registered now, so none was issued; please try again later.");
	else
		issue_fail(is, ADAPTER_FAILED, "The certificate could not be made from the registries' data, "
			   "so none was issued; the operator has the details (request %s).", is->reqid);
}

static void issue_compose(struct issue *is)
{
	struct compose_refusal why;
	struct cert_ctx *c = is->c;

	if (compose_build(&is->rq, is->ans, &is->content, &why) != 0) {
		issue_fail(is, why.status, "%s", why.message);
		return;
	}
	/* what the job needs, copied: it must not read the worker's context */
	is->issued_at = time(NULL);
	is->valid_until = is->issued_at + c->valid_days * 86400;
	snprintf(is->verify_base, sizeof(is->verify_base), "%s", c->verify_base);
	snprintf(is->issuer[0], sizeof(is->issuer[0]), "%s", c->issuer_instance);
	snprintf(is->issuer[1], sizeof(is->issuer[1]), "%s", c->issuer_class);
	snprintf(is->issuer[2], sizeof(is->issuer[2]), "%s", c->issuer_code);
	snprintf(is->issuer_name, sizeof(is->issuer_name), "%s", c->issuer_name);
	memcpy(is->registry, c->registry, sizeof(is->registry));
	if (cert_blocking(c, issue_work, issue_work_done, is) != 0)
		issue_fail(is, ADAPTER_UNAVAILABLE, "The gateway is too busy to sign the certificate now; "
			   "please try again later.");
}

/* ---- edocs and the answer ---------------------------------------------------- */

static json_t *answer_json(struct issue *is)
{
	const struct compose_kind_info *k = compose_kind_info(is->rq.kind);
	char at[32], until[32], pdf_path[160];
	json_t *o;

	certdoc_time_xml(is->issued_at, at, sizeof(at));
	certdoc_time_xml(is->valid_until, until, sizeof(until));
	snprintf(pdf_path, sizeof(pdf_path), "document/%s?form=pdf", is->number);
	o = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:s,s:s%}", "number", is->number,
		      "kind", k->code, "title_ru", k->title_ru, "title_ky", k->title_ky,
		      "subject", json_object_get(is->content, "subject"), "purpose", is->purpose,
		      "issued_at", at, "valid_until", until, "digest", is->digest, "verify_url", is->verify_url,
		      "edocs_registration_number", is->edocs_number,
		      "sources", json_object_get(is->content, "sources"),
		      "sections", json_object_get(is->content, "sections"),
		      "pdf", pdf_path, "document_xml", is->xml.data, is->xml.len);
	return o;
}

/* On a background thread: the certificate edocs did not take is revoked,
 * so that it never verifies as valid. */
static void void_work(void *arg)
{
	struct issue *is = arg;
	char *err = NULL;

	if (!is->sh->reg || docreg_revoke(is->sh->reg, is->number, "not issued: it could not be registered "
					  "in the electronic documents register", "certificates service", 0,
					  &err) != DOCREG_OK)
		job_fail(is, ADAPTER_FAILED, err);
}

static void void_done(void *arg)
{
	struct issue *is = arg;

	if (is->job_status != ADAPTER_OK)
		is->c->host.log(is->c->host.ctx, ADAPTER_LOG_ERROR, is->reqid, "certificate %s could not be "
				"revoked after edocs refused it: %s", is->number, is->err ? is->err : "?");
	issue_fail(is, ADAPTER_UNAVAILABLE, "The electronic documents register could not register the "
		   "certificate now, so none was issued; please try again later.");
}

static void on_edocs(const struct adapter_outcall_result *r, void *arg)
{
	struct issue *is = arg;
	struct adapter_result res = { 0 };
	json_t *j = NULL;
	const char *num;

	if (r->ok && r->status == 200 && !r->error_code && r->body)
		j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
	num = json_string_value(json_object_get(j, "registration_number"));
	if (!num) {
		is->c->host.log(is->c->host.ctx, ADAPTER_LOG_ERROR, is->reqid,
				"certificate %s: edocs did not register it (%s, HTTP %ld: %.200s); revoking it",
				is->number, r->ok ? "answered" : r->errmsg, r->status,
				r->body && r->body_len ? (const char *)r->body : "");
		json_decref(j);
		if (cert_blocking(is->c, void_work, void_done, is) != 0)
			void_done(is);
		return;
	}
	snprintf(is->edocs_number, sizeof(is->edocs_number), "%s", num);
	json_decref(j);
	res.status = ADAPTER_OK;
	res.data = answer_json(is);
	if (!res.data)
		adapter_result_oom(&res);
	is->c->host.log(is->c->host.ctx, ADAPTER_LOG_INFO, is->reqid, "certificate %s issued (%s, edocs %s)",
			is->number, compose_kind_info(is->rq.kind)->code, is->edocs_number);
	issue_finish(is, &res);
}

/* The signature edocs keeps: the whole signed document when its base64
 * fits edocs' cap, else the ds:Signature element alone (the root's last
 * child: the last "<ds:Signature " of the document). NULL: no memory. */
static char *edocs_signature(const struct issue *is)
{
	const char *from = is->xml.data, *end = is->xml.data + is->xml.len, *p;
	size_t len = is->xml.len;
	char *b64;

	if (4 * ((len + 2) / 3) > EDOCS_SIG_MAX) {
		const char *sig = NULL;
		/* "<ds:Signature " or ">", not "<ds:SignatureValue" */
		for (p = from; (p = memmem(p, (size_t)(end - p), "<ds:Signature", 13)) != NULL; p += 13)
			if (p + 13 < end && (p[13] == ' ' || p[13] == '>'))
				sig = p;
		p = sig ? memmem(sig, (size_t)(end - sig), "</ds:Signature>", 15) : NULL;
		from = sig ? sig : from;
		len = p ? (size_t)(p + 15 - sig) : 0;
	}
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (b64)
		b64_encode((const unsigned char *)from, len, b64);
	return b64;
}

static void edocs_register(struct issue *is)
{
	const struct compose_kind_info *k = compose_kind_info(is->rq.kind);
	const json_t *subj = json_object_get(is->content, "subject");
	struct adapter_outcall oc = { 0 };
	char service[CERT_ID_MAX + 32], title[600], corr[400], purpose[304], name[204];
	char *body = NULL, *sig = edocs_signature(is);
	json_t *o = NULL;

	/* edocs takes titles of 500 characters and correspondents of 300: cut
	 * the free texts in bytes, on a character boundary */
	cert_copy(purpose, sizeof(purpose), is->purpose);
	cert_utf8_cut(purpose, 300);
	cert_copy(name, sizeof(name), json_string_value(json_object_get(subj, "name")));
	cert_utf8_cut(name, 200);
	snprintf(service, sizeof(service), "%s/register-document", is->c->edocs);
	snprintf(title, sizeof(title), "%s № %s (%s)", k->edocs_title, is->number, purpose);
	snprintf(corr, sizeof(corr), "%s (%s %s)", name, is->rq.subject.pin[0] ? "ПИН" : is->rq.subject.citizenship,
		 is->rq.subject.pin[0] ? is->rq.subject.pin : is->rq.subject.document);
	if (sig)
		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "request_id", is->number, "direction", "out",
			      "doc_type", "certificate", "title", title, "correspondent", corr, "author",
			      "Сервис электронных справок (certificates)", "signed_by", is->c->issuer_name,
			      "signature", sig, "content_digest", is->digest);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(sig);
	oc.client = is->c->client;
	oc.service = service;
	oc.method = "POST";
	oc.path = "";
	oc.user_id = is->user_id[0] ? is->user_id : NULL;
	oc.issue = is->xissue;
	oc.content_type = "application/json";
	oc.body = body;
	oc.body_len = body ? strlen(body) : 0;
	oc.timeout_ms = is->c->timeout_ms;
	if (!body || is->c->host.call(is->c->host.ctx, &oc, on_edocs, is) != 0) {
		struct adapter_outcall_result r = { .ok = 0, .message_id = "", .errmsg = "the registration could "
						    "not be started on this gateway" };
		free(body);
		on_edocs(&r, is);
		return;
	}
	free(body);
}

/* ---- entry ------------------------------------------------------------------------- */

void cert_issue(struct cert_ctx *c, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct issue *is = calloc(1, sizeof(*is));
	struct adapter_result res = { 0 };

	if (!is) {
		adapter_result_error(&res, ADAPTER_FAILED, "out of memory");
		done(&res, arg);
		return;
	}
	is->c = c;
	is->done = done;
	is->arg = arg;
	snprintf(is->reqid, sizeof(is->reqid), "%s", call->message_id ? call->message_id : "");
	snprintf(is->user_id, sizeof(is->user_id), "%s", call->user_id ? call->user_id : "");
	if (issue_parse(is, call, &res) != 0) {
		issue_finish(is, &res);
		return;
	}
	if (!c->host.call) {
		issue_fail(is, ADAPTER_FAILED, "this gateway cannot query the registries (no exchange calls "
			   "for adapters); no certificate can be issued");
		return;
	}
	if (!c->sh->key) {
		issue_fail(is, ADAPTER_FAILED, "the certificates service has no signing key configured, so no "
			   "certificate can be issued; the operator has to set [adapter.certificates] "
			   "sign_key and sign_cert");
		return;
	}
	cert_shared_ref(c->sh);
	is->sh = c->sh;
	params_today(c->as_of[0] ? c->as_of : NULL, &is->rq.today);
	is->rq.vet_max_age_days = c->vet_max_age_days;
	snprintf(is->xissue, sizeof(is->xissue), "certificate %s: %s", compose_kind_info(is->rq.kind)->code,
		 is->purpose);
	cert_utf8_cut(is->xissue, 240);   /* X-Road-Issue holds 255 bytes */
	issue_next(is);
}
