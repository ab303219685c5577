/* The provider side of an exchange (architecture.md steps 5-9).
 *
 * A request from a peer gateway is accepted only if the TLS peer is a
 * gateway of global configuration and that gateway hosts the calling client.
 * Then, for requests from peers and for in-process calls alike: the service
 * must exist and be provided here, the client must be allowed (deny by
 * default), and the service is called: an in-process adapter, or the
 * provider system's URL. The answer gets the request hash and goes to
 * ex->provider_done. */
#include "core/exch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acl.h"
#include "core/log.h"
#include "lib/osutil.h"
#include "store/consent.h"
#include "core/sx.h"
#include "trust/tls.h"

int provider_rest_headers(struct exch *ex, struct hlist *h)
{
	char id[XRD_ID_TEXT_MAX];

	if (hlist_add(h, "X-Road-Client", xrd_id_format_path(&ex->client, id, sizeof(id))) < 0 ||
	    hlist_add(h, "X-Road-Service", xrd_id_format_path(&ex->service, id, sizeof(id))) < 0 ||
	    hlist_add(h, "X-Road-Id", ex->rest->id) < 0 ||
	    hlist_add(h, "X-Road-Request-Id", ex->reqid) < 0 ||
	    hlist_add(h, "X-Road-Request-Hash", ex->hash) < 0)
		return -1;
	return 0;
}

static void provider_complete(struct exch *ex, long status, struct hlist *h, const void *body,
			      size_t len)
{
	struct exch_resp r = { status, h->h, h->n, body, len, NULL, { 0 } };

	ex->provider_done(ex, &r);
}

void provider_fault(struct exch *ex, const struct fault *f)
{
	struct buf b = BUF_INIT;
	struct hlist h = { .n = 0 };

	if (exch_fault_render(ex, f, ex->proto == EXCH_REST, 0, &b, &h) < 0) {
		hlist_clear(&h);
		buf_free(&b);
		exch_fault(ex, f);
		return;
	}
	provider_complete(ex, f->http_status, &h, b.data, b.len);
	hlist_clear(&h);
	buf_free(&b);
}

/* ---- adapters ----------------------------------------------------------- */

struct soap_params {
	json_t *params;
	char dup[64];   /* a parameter that appeared twice, "" if none */
};

/* A body element names a parameter once; a repeat stops the walk and is
 * refused rather than letting the last one win. */
static int soap_param_cb(const char *name, const char *value, void *arg)
{
	struct soap_params *sp = arg;

	if (json_object_get(sp->params, name)) {
		snprintf(sp->dup, sizeof(sp->dup), "%s", name);
		return 1;
	}
	return json_object_set_new(sp->params, name, json_string(value)) < 0;
}

/* REST: path segments after the service code are named by the adapter's
 * service description; the query adds the rest. Every parameter has exactly
 * one value: an empty or extra segment, or a repeated name, is refused. */
static int rest_params(struct exch *ex, const struct adapter_service *as, json_t *params, char *why,
		       size_t whylen)
{
	const char *p = ex->rest->path;
	size_t i = 0;

	while (*p == '/') {
		const char *seg = p + 1, *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		char val[1024], what[300];

		if (len == 0 && !end)
			break;   /* one trailing '/' */
		if (len == 0 || !as->path_params || !as->path_params[i]) {
			snprintf(why, whylen, len == 0 ? "an empty path segment" : "more path segments than the service takes");
			return -1;
		}
		snprintf(what, sizeof(what), "path parameter '%s'", as->path_params[i]);
		if (render_param_decode(seg, len, 0, val, sizeof(val), what, why, whylen) < 0)
			return -1;
		if (json_object_set_new(params, as->path_params[i], json_string(val)) < 0) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		i++;
		p = seg + len;
	}
	return render_query_params(ex->rest->query, params, why, whylen);
}

/* "family-members/{pin}" for messages. */
static const char *expected_path(const struct adapter_service *as, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "%s", as->code);

	for (size_t i = 0; as->path_params && as->path_params[i] && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "/{%s}", as->path_params[i]);
	return out;
}

static const char *status_code_name(enum adapter_status s)
{
	return adapter_status_name(s);
}

static int rest_status_of(enum adapter_status s)
{
	switch (s) {
	case ADAPTER_OK: return 200;
	case ADAPTER_INVALID_INPUT: return 400;
	case ADAPTER_NOT_FOUND: return 404;
	case ADAPTER_NOT_IN_REGISTER: return 404;
	case ADAPTER_UNAVAILABLE: return 503;
	case ADAPTER_FAILED: return 500;
	}
	return 500;
}

static void adapter_answer_rest(struct exch *ex, struct adapter_result *res)
{
	struct hlist h = { .n = 0 };
	char *body = NULL;
	json_t *err = NULL;

	if (res->status == ADAPTER_OK && res->data) {
		body = json_dumps(res->data, JSON_COMPACT | JSON_ENSURE_ASCII * 0);
	} else {
		err = json_pack("{s:s,s:s,s:s}", "error", status_code_name(res->status),
				"message", res->message, "request_id", ex->reqid);
		body = err ? json_dumps(err, JSON_COMPACT) : NULL;
	}
	json_decref(err);
	if (!body || hlist_add(&h, "Content-Type", "application/json; charset=utf-8") < 0 ||
	    provider_rest_headers(ex, &h) < 0) {
		struct fault f = { 0 };
		free(body);
		hlist_clear(&h);
		fault_set(&f, F_SPROXY, "InternalError", "cannot render the answer");
		provider_fault(ex, &f);
		return;
	}
	provider_complete(ex, rest_status_of(res->status), &h, body, strlen(body));
	free(body);
	hlist_clear(&h);
}

/* What the answer's wrapper holds: the adapter's data by the fixed rule,
 * or a business error, which belongs in a normal response body. */
static int adapter_soap_body(const struct adapter_result *res, struct buf *out)
{
	if (res->status == ADAPTER_OK)
		return res->data ? render_json_to_xml(res->data, NULL, out) : 0;
	if (buf_puts(out, "<error><code>") < 0 || buf_puts(out, status_code_name(res->status)) < 0 ||
	    buf_puts(out, "</code><message>") < 0 || buf_xml_escape(out, res->message) < 0)
		return -1;
	return buf_puts(out, "</message></error>");
}

static void adapter_answer_soap(struct exch *ex, struct adapter_result *res)
{
	struct buf out = BUF_INIT;
	struct hlist h = { .n = 0 };
	struct fault f = { 0 };

	if (res->status == ADAPTER_UNAVAILABLE || res->status == ADAPTER_FAILED) {
		fault_set(&f, F_SPROXY, "ServiceFailed", "%s: %s", status_code_name(res->status),
			  res->message);
		provider_fault(ex, &f);
		return;
	}
	/* The envelope is written around the body the renderer writes into the
	 * same buffer: the renderer escapes, nothing is parsed or copied again. */
	if (soap_response_begin(&ex->soap, ex->hash, &out) < 0 || adapter_soap_body(res, &out) < 0 ||
	    soap_response_end(&ex->soap, &out) < 0 ||
	    hlist_add(&h, "Content-Type", "text/xml; charset=utf-8") < 0) {
		fault_set(&f, F_SPROXY, "InternalError", "cannot render the answer");
		provider_fault(ex, &f);
	} else {
		provider_complete(ex, 200, &h, out.data, out.len);
	}
	hlist_clear(&h);
	buf_free(&out);
}

static void provider_on_adapter(struct adapter_result *res, void *arg)
{
	struct exch *ex = arg;

	ex->adapter_pending = 0;
	if (ex->aborted) {
		json_decref(res->data);
		res->data = NULL;
		exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
		return;
	}
	if (ex->consented[0] && res->data)
		consent_minimise(res->data, ex->consented);   /* the consent covers that person only */
	if (ex->proto == EXCH_REST)
		adapter_answer_rest(ex, res);
	else
		adapter_answer_soap(ex, res);
	json_decref(res->data);
	res->data = NULL;
}

/* Personal data (store/consent.h): the consent check and the access-log
 * record for a service whose global configuration names a subjectParam.
 * 0 to go on (*parked set when the call's record waits for this turn's
 * write: the call must wait for it too), -1 with f set (refused, or the
 * store failed). */
static int provider_personal(struct exch *ex, const char *client_id, const char *message_id,
			     json_t *params, int *parked, struct fault *f)
{
	const struct gc_member *m;
	char why[CONSENT_WHY_MAX], qwhy[2 * CONSENT_WHY_MAX + 3], sid[XRD_ID_TEXT_MAX];
	char member[2 * XRD_PART_MAX + 2];
	struct consent_query q = { 0 };

	*parked = 0;
	if (!ex->svc->subject_param[0])
		return 0;
	m = gconf_member(ex->gc, &ex->client);
	snprintf(member, sizeof(member), "%s/%s", ex->client.member_class, ex->client.member_code);
	q.subject_param = ex->svc->subject_param;
	q.consent_required = gconf_consent_required(ex->svc, &ex->client);
	q.client = client_id;
	q.client_member = member;
	q.client_name = m ? m->name : NULL;
	q.service = xrd_id_format_path(&ex->service, sid, sizeof(sid));
	q.params = params;
	q.issue = ex->proto == EXCH_SOAP ? ex->soap.issue : ex->rest->issue;
	if (acl_acts_for_user(ex->gc, &ex->client))
		q.for_user = ex->proto == EXCH_SOAP ? ex->soap.user_id : ex->rest->user_id;
	q.message_id = message_id;
	q.consented = ex->consented;
	q.deferred = parked;
	switch (consent_gate_check(ex->w->consent, &q, why, sizeof(why))) {
	case 1:
		return 0;
	case 0:
		fault_set(f, F_SPROXY, "AccessDenied", "%s", why);
		return -1;
	default:
		log_error("event=consent reqid=%s ok=0 why=%s", ex->reqid, log_quote(why, qwhy, sizeof(qwhy)));
		return fault_set(f, F_SPROXY, "DatabaseError", "the consent register or the access log cannot "
				 "be used now; try again later");
	}
}

/* Hands the call to its adapter (params taken). */
static void adapter_go(struct exch *ex, json_t *params)
{
	const struct adapter_ops *a = NULL;
	void *ctx = worker_adapter(ex->w, ex->svc->adapter, &a);
	struct adapter_call call = { 0 };
	char client[XRD_ID_TEXT_MAX];

	if (ex->proto == EXCH_SOAP) {
		call.method = "POST";
		call.message_id = ex->soap.id;
		call.user_id = ex->soap.user_id;
	} else {
		call.method = ex->method;
		call.message_id = ex->rest->id;
		call.user_id = ex->rest->user_id;
		call.body = (const char *)ex->body;
		call.body_len = ex->body_len;
	}
	call.service_code = ex->service.service_code;
	call.client = xrd_id_format_path(&ex->client, client, sizeof(client));
	call.params = params;
	ex->adapter_pending = 1;
	a->handle(ctx, &call, provider_on_adapter, ex);
	json_decref(params);
}

/* ---- calls about a person: one access-log write a turn --------------------
 *
 * A call's access-log record is written before the call reaches its service
 * (a query that cannot be recorded is not answered). One transaction per
 * record cost ~15 % of the signed exchange's throughput, so the calls of one
 * event-loop turn wait together (parked, adapter_pending set: an abort waits
 * for them) and one transaction writes their records; then each goes on, or
 * each gets the DatabaseError it got before when the write fails. */
#ifndef PROVIDER_PARK_WAIT_US   /* the longest a record waits for a busy loop */
#define PROVIDER_PARK_WAIT_US 1000
#endif
#define PROVIDER_PARK_MAX 256     /* written at once when this many wait */
#if PROVIDER_PARK_MAX >= ACCESSLOG_PENDING_MAX
#error "a full batch of parked calls must fit in the access log's pending records"
#endif

struct provider_parked {
	struct worker_turn turn;
	struct exch *head, **tail;
	size_t n;
};

static void parked_turn(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct provider_parked *p = w->parked;
	struct exch *list = p->head;
	char why[CONSENT_WHY_MAX], qwhy[2 * CONSENT_WHY_MAX + 3];
	size_t n = p->n;
	int rc;

	(void)fd;
	(void)what;
	worker_turn_taken(&p->turn);
	p->head = NULL;
	p->tail = &p->head;
	p->n = 0;
	rc = consent_gate_flush(w->consent, why, sizeof(why));
	if (rc < 0)
		log_error("event=consent ok=0 calls=%zu why=%s", n, log_quote(why, qwhy, sizeof(qwhy)));
	while (list) {
		struct exch *ex = list;
		json_t *params = ex->parked_params;
		struct fault f = { 0 };

		list = ex->parked_next;
		ex->parked_next = NULL;
		ex->parked_params = NULL;
		ex->adapter_pending = 0;
		if (ex->aborted) {
			json_decref(params);
			exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
		} else if (rc < 0) {
			json_decref(params);
			fault_set(&f, F_SPROXY, "DatabaseError", "the consent register or the access log cannot "
				  "be used now; try again later");
			provider_fault(ex, &f);
		} else {
			adapter_go(ex, params);
		}
	}
}

/* Parks ex (params taken) until this turn's access-log write. */
static void provider_park(struct exch *ex, json_t *params)
{
	struct worker *w = ex->w;
	struct provider_parked *p = w->parked;

	if (!p && (p = calloc(1, sizeof(*p))) != NULL) {
		if (worker_turn_init(&p->turn, w->base, parked_turn, w) < 0) {
			free(p);
			p = NULL;
		} else {
			p->tail = &p->head;
			w->parked = p;
		}
	}
	ex->parked_params = params;
	ex->adapter_pending = 1;
	if (p) {
		*p->tail = ex;
		p->tail = &ex->parked_next;
		p->n++;
		/* A full batch is written now: a burst that keeps the loop busy
		 * would otherwise grow it past what the access log holds
		 * (ACCESSLOG_PENDING_MAX) before the turn comes. */
		if (p->n < PROVIDER_PARK_MAX &&
		    worker_turn_queued(&p->turn, p->n, PROVIDER_PARK_MAX, PROVIDER_PARK_WAIT_US) == 0)
			return;
		parked_turn(-1, 0, w);
		return;
	}
	/* out of memory for the list: this call alone, now */
	{
		struct provider_parked one = { .head = ex, .tail = &ex->parked_next, .n = 1 };
		w->parked = &one;
		parked_turn(-1, 0, w);
		w->parked = NULL;
	}
}

void provider_parked_free(struct worker *w)
{
	struct provider_parked *p = w->parked;

	if (!p)
		return;
	/* their services were never called: no "answered" records for them */
	if (p->head)
		consent_gate_discard(w->consent);
	while (p->head) {
		struct exch *ex = p->head;
		p->head = ex->parked_next;
		ex->parked_next = NULL;
		ex->adapter_pending = 0;
		exch_release(ex);   /* its caller is gone (the listeners are closed) */
	}
	worker_turn_free(&p->turn);
	free(p);
	w->parked = NULL;
}

static void call_adapter(struct exch *ex)
{
	const struct adapter_ops *a = NULL;
	const struct adapter_service *as = NULL;
	struct fault f = { 0 };
	char client[XRD_ID_TEXT_MAX];
	void *ctx = worker_adapter(ex->w, ex->svc->adapter, &a);
	const char *message_id;
	json_t *params;
	int parked;

	if (a)
		as = adapter_service(a, ex->service.service_code);
	if (!a || !ctx || !as) {
		fault_set(&f, F_SPROXY, "ServiceFailed", "adapter '%s' cannot serve '%s' now",
			  ex->svc->adapter, ex->service.service_code);
		provider_fault(ex, &f);
		return;
	}
	params = json_object();
	if (!params) {
		fault_set(&f, F_SPROXY, "InternalError", "out of memory");
		provider_fault(ex, &f);
		return;
	}
	if (ex->proto == EXCH_SOAP) {
		struct soap_params sp = { params, "" };
		const char *extra = soap_body_extra(&ex->soap);

		/* An adapter answers one request: a second element would be
		 * dropped without a word (a provider system gets the bytes as
		 * they are and judges for itself). */
		if (extra) {
			fault_set(&f, F_CLIENT, "InvalidSoap", "the SOAP Body holds <%.60s> after the request "
				  "element <%.60s>: this service takes exactly one", extra, as->code);
			goto refuse;
		}
		soap_body_params(&ex->soap, soap_param_cb, &sp);
		if (sp.dup[0]) {
			fault_set(&f, F_CLIENT, "BadRequest", "parameter '%s' appears more than once in the body",
				  sp.dup);
			goto refuse;
		}
		message_id = ex->soap.id;
	} else {
		char why[320], exp[256];
		if (as->method && strcmp(as->method, ex->method) != 0) {
			fault_set(&f, F_CLIENT, "InvalidHttpMethod", "service '%s' answers %s, not %s", as->code,
				  as->method, ex->method);
			f.http_status = 405;
			/* a GET service answers HEAD too */
			snprintf(f.allow, sizeof(f.allow), "%s%s", as->method,
				 strcmp(as->method, "GET") == 0 ? ", HEAD" : "");
			goto refuse;
		}
		if (rest_params(ex, as, params, why, sizeof(why)) < 0) {
			fault_set(&f, F_CLIENT, "BadRequest", "%s; service '%s' takes %s", why, as->code,
				  expected_path(as, exp, sizeof(exp)));
			goto refuse;
		}
		message_id = ex->rest->id;
	}
	if (provider_personal(ex, xrd_id_format_path(&ex->client, client, sizeof(client)), message_id, params,
			      &parked, &f) < 0)
		goto refuse;
	if (parked)
		provider_park(ex, params);
	else
		adapter_go(ex, params);
	return;
refuse:
	json_decref(params);
	provider_fault(ex, &f);
}

/* ---- provider system URL ---------------------------------------------- */

static void url_answer_soap(struct exch *ex, const struct out_resp *o)
{
	struct soap_msg resp = { 0 };
	struct buf out = BUF_INIT;
	struct hlist h = { .n = 0 };
	struct fault f = { 0 };

	if (o->body_len == 0) {
		fault_set(&f, F_SPROXY, "ServiceFailed.MissingBody",
			  "the provider system answered HTTP %ld with no body", o->status);
		provider_fault(ex, &f);
		return;
	}
	if (soap_parse(o->body, o->body_len, SOAP_RESPONSE, F_SPROXY, &resp, &f) < 0) {
		if (o->status >= 400)
			fault_set(&f, F_SPROXY, "ServiceFailed.HttpError",
				  "the provider system answered HTTP %ld without a SOAP message", o->status);
		provider_fault(ex, &f);
		return;
	}
	if (resp.is_fault) {
		/* A fault from the provider system goes back as it is. */
		snprintf(ex->fault_code, sizeof(ex->fault_code), "%s", resp.fault_code);
		if (hlist_add(&h, "Content-Type", "text/xml; charset=utf-8") == 0)
			provider_complete(ex, 500, &h, o->body, o->body_len);
	} else if (soap_set_request_hash(&resp, ex->hash, &out) < 0 ||
		   hlist_add(&h, "Content-Type", "text/xml; charset=utf-8") < 0) {
		fault_set(&f, F_SPROXY, "InternalError", "cannot add the request hash");
		provider_fault(ex, &f);
	} else {
		provider_complete(ex, 200, &h, out.data, out.len);
	}
	soap_msg_free(&resp);
	hlist_clear(&h);
	buf_free(&out);
}

static void url_answer_rest(struct exch *ex, const struct out_resp *o)
{
	struct hlist h = { .n = 0 };

	for (size_t i = 0; i < o->nhdrs; i++) {
		const char *n = o->hdrs[i].name;
		if (!rest_header_forwarded(n, NULL) || strncasecmp(n, "X-Road-", 7) == 0 ||
		    strcasecmp(n, "Date") == 0)
			continue;
		if (hlist_add(&h, n, o->hdrs[i].value) < 0)
			break;
	}
	if (provider_rest_headers(ex, &h) < 0) {
		struct fault f = { 0 };
		hlist_clear(&h);
		fault_set(&f, F_SPROXY, "InternalError", "out of memory");
		provider_fault(ex, &f);
		return;
	}
	/* The provider's own answer, errors included, passes through unchanged. */
	provider_complete(ex, o->status, &h, o->body, o->body_len);
	hlist_clear(&h);
}

static void provider_on_url(const struct out_resp *o, void *arg)
{
	struct exch *ex = arg;
	struct fault f = { 0 };

	ex->out = NULL;
	ex->remote_ms = ms_since(&ex->t_remote);
	switch (o->err) {
	case OUT_OK:
		if (o->status < 200 || o->status > 599) {
			/* httpd would send it as 500, and the signature over the
			 * status given would then not match. */
			fault_set(&f, F_SPROXY, "ServiceFailed.IOError",
				  "the provider system answered with HTTP status %ld, which is not a final "
				  "status of HTTP (200-599)", o->status);
			break;
		}
		if (ex->proto == EXCH_SOAP)
			url_answer_soap(ex, o);
		else
			url_answer_rest(ex, o);
		return;
	case OUT_ERR_TIMEOUT:
		fault_set(&f, F_SPROXY, "ServiceFailed.Timeout",
			  "the provider system did not answer within %u ms", ex->w->gw->cfg->timeout_ms);
		break;
	case OUT_ERR_TOO_LARGE:
		fault_set(&f, F_SPROXY, "ServiceFailed.IOError", "the provider system's answer is too large: %s",
			  o->errmsg);
		break;
	default:
		fault_set(&f, F_SPROXY, "ServiceFailed.IOError", "cannot reach the provider system: %s",
			  o->errmsg);
		break;
	}
	provider_fault(ex, &f);
}

static void call_url(struct exch *ex)
{
	struct gw *g = ex->w->gw;
	struct out_req o = { 0 };
	struct hlist h = { .n = 0 };
	struct fault f = { 0 };
	char *url = NULL;
	int rc;

	if (ex->proto == EXCH_SOAP) {
		const char *ct = ex->req ? http_req_header(ex->req, "Content-Type") : NULL;
		const char *sa = ex->req ? http_req_header(ex->req, "SOAPAction") : NULL;
		rc = asprintf(&url, "%s", ex->svc->url);
		if (hlist_add(&h, "Content-Type", ct ? ct : "text/xml; charset=utf-8") < 0 ||
		    (sa && hlist_add(&h, "SOAPAction", sa) < 0))
			rc = -1;
	} else {
		const char *base = ex->svc->url;
		size_t bl = strlen(base);
		rc = asprintf(&url, "%.*s%s%s%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base,
			      ex->rest->path, ex->rest->query[0] ? "?" : "", ex->rest->query);
		for (size_t i = 0; rc >= 0 && i < ex->fwd.n; i++)
			if (hlist_add(&h, ex->fwd.h[i].name, ex->fwd.h[i].value) < 0)
				rc = -1;
	}
	if (rc < 0) {
		free(url);
		hlist_clear(&h);
		fault_set(&f, F_SPROXY, "InternalError", "out of memory");
		provider_fault(ex, &f);
		return;
	}
	o.method = ex->method;
	o.url = url;
	o.hdrs = h.h;
	o.nhdrs = h.n;
	o.body = ex->body;
	o.body_len = ex->body_len;
	o.connect_timeout_ms = g->cfg->connect_timeout_ms;
	o.timeout_ms = g->cfg->timeout_ms;
	o.max_response = g->cfg->max_response;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_remote);
	ex->out = outbound_send(ex->w->out, &o, provider_on_url, ex);
	free(url);
	hlist_clear(&h);
	if (!ex->out) {
		fault_set(&f, F_SPROXY, "ServiceFailed.IOError", "cannot start the call to %s", ex->svc->url);
		provider_fault(ex, &f);
	}
}

/* ---- checks common to local and remote requests ------------------------ */

void provider_dispatch(struct exch *ex)
{
	const struct gc_gateway *self = gconf_gateway(ex->gc, ex->w->gw->cfg->gateway_code);
	struct xrd_id owner;
	struct fault f = { 0 };
	char sid[XRD_ID_TEXT_MAX], cid[XRD_ID_TEXT_MAX];

	xrd_id_format(&ex->service, sid, sizeof(sid));
	xrd_id_format(&ex->client, cid, sizeof(cid));
	xrd_id_service_owner(&ex->service, &owner);
	if (!self || !gconf_gateway_hosts(self, &owner)) {
		fault_set(&f, F_SPROXY, "UnknownService", "service %s is not provided by this gateway", sid);
		provider_fault(ex, &f);
		return;
	}
	if (ex->meta) {
		if (ex->proto == EXCH_SOAP)
			meta_soap(ex);
		else
			meta_rest(ex);
		return;
	}
	if (!ex->svc)
		ex->svc = gconf_service(ex->gc, &ex->service);
	if (!ex->svc) {
		fault_set(&f, F_SPROXY, "UnknownService", "service %s is not known", sid);
		provider_fault(ex, &f);
		return;
	}
	if (!(ex->svc->type & (ex->proto == EXCH_SOAP ? GC_SVC_SOAP : GC_SVC_REST))) {
		fault_set(&f, F_SPROXY, "UnknownService", "service %s is offered over %s only; call it with %s",
			  sid, ex->svc->type == GC_SVC_SOAP ? "SOAP" : "REST",
			  ex->svc->type == GC_SVC_SOAP ? "a SOAP POST" : "/r1/ REST");
		provider_fault(ex, &f);
		return;
	}
	if (!acl_allows(ex->gc, ex->svc, &ex->client)) {
		fault_set(&f, F_SPROXY, "AccessDenied", "request is not allowed: client %s may not call %s",
			  cid, sid);
		provider_fault(ex, &f);
		return;
	}
	if (ex->svc->binding == GC_BIND_ADAPTER)
		call_adapter(ex);
	else
		call_url(ex);
}

/* ---- requests from peer gateways -------------------------------------- */

/* Signed with this worker's next batch (core/sx.h), and logged: back it goes.
 * Our own error we could not sign goes back unsigned (the client side
 * accepts that only for errors); an answer we cannot sign does not. */
static void server_signed(struct exch *ex, const struct exch_resp *r, const struct fault *sf)
{
	const char *err = http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error");

	if (sf) {
		char q[2 * FAULT_MSG_MAX + 3];
		log_error("event=sign_response reqid=%s why=%s", ex->reqid, log_quote(sf->message, q, sizeof(q)));
		if (err || ex->fault_code[0])
			exch_finish(ex, r->status, r->hdrs, r->nhdrs, r->body, r->body_len, err);
		else
			exch_fault(ex, sf);
		return;
	}
	exch_finish(ex, r->status, r->hdrs, r->nhdrs, r->body, r->body_len, err);
}

/* The answer goes back signed by the service owner and logged. */
static void server_on_provider(struct exch *ex, const struct exch_resp *r)
{
	const char *err = http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error");
	struct fault f = { 0 };

	if (ex->aborted || !ex->verified) {
		exch_finish(ex, r->status, r->hdrs, r->nhdrs, r->body, r->body_len, err);
		return;
	}
	if (sx_sign_response(ex, r, server_signed, &f) < 0)
		server_signed(ex, r, &f);
}

/* The TLS peer must be a gateway of global configuration. */
static const struct gc_gateway *server_peer(struct exch *ex, struct fault *f)
{
	X509 *peer = http_req_peer_cert(ex->req);
	unsigned char h[32];
	const struct gc_gateway *gw;

	if (!peer || tls_cert_sha256(peer, h) < 0) {
		fault_set(f, F_SPROXY, "SslAuthenticationFailed", "no verified TLS client certificate");
		return NULL;
	}
	gw = gconf_gateway_by_cert(ex->gc, h);
	if (!gw) {
		char hex[65];
		hex_encode(h, 32, hex);
		fault_set(f, F_SPROXY, "SslAuthenticationFailed",
			  "the TLS certificate (sha256 %s) is not the authentication certificate of any "
			  "gateway in global configuration", hex);
		return NULL;
	}
	snprintf(ex->peer, sizeof(ex->peer), "%s", gw->code);
	return gw;
}

static int server_parse(struct exch *ex, struct fault *f)
{
	const char *target = http_req_target(ex->req);
	const void *part;
	size_t plen;

	if (strncmp(target, "/r1/", 4) == 0) {
		size_t n;
		const struct http_hdr *h = http_req_headers(ex->req, &n);
		const char *conn = http_req_header(ex->req, "Connection");

		ex->proto = EXCH_REST;
		ex->rest = calloc(1, sizeof(*ex->rest));
		ex->target = malloc(REST_TARGET_MAX);
		if (!ex->rest || !ex->target)
			return fault_set(f, F_SPROXY, "InternalError", "out of memory");
		if (strlen(target) >= REST_TARGET_MAX)
			return fault_set(f, F_SPROXY, "BadRequest", "the request target is too long");
		snprintf(ex->target, REST_TARGET_MAX, "%s", target);
		if (rest_parse_target(target, ex->rest, f) < 0 || rest_parse_headers(h, n, ex->rest, f) < 0)
			return -1;
		if (!ex->rest->id[0])
			return fault_set(f, F_SPROXY, "MissingHeaderField", "X-Road-Id is required between gateways");
		for (size_t i = 0; i < n; i++) {
			if (!rest_header_forwarded(h[i].name, conn))
				continue;
			/* a client's gateway refuses more (exchange.c, REST_FWD_MAX) */
			if (ex->fwd.n == HLIST_MAX)
				return fault_set(f, F_SPROXY, "BadRequest", "more than %d headers to pass on",
						 HLIST_MAX);
			if (hlist_add(&ex->fwd, h[i].name, h[i].value) < 0)
				return fault_set(f, F_SPROXY, "InternalError", "out of memory");
		}
		if (exch_rest_hash(ex, ex->fwd.h, ex->fwd.n) < 0)
			return fault_set(f, F_SPROXY, "InternalError", "cannot hash the request");
		ex->client = ex->rest->client;
		ex->service = ex->rest->service;
		return 0;
	}
	ex->proto = EXCH_SOAP;
	if (strcmp(ex->method, "POST") != 0)
		return fault_set(f, F_SPROXY, "InvalidHttpMethod", "gateways exchange SOAP with POST");
	if (exch_soap_part(http_req_header(ex->req, "Content-Type"), ex->body, ex->body_len, F_SPROXY, &part,
			   &plen, f) < 0 ||
	    soap_parse(part, plen, SOAP_REQUEST, F_SPROXY, &ex->soap, f) < 0)
		return -1;
	if (soap_request_hash(part, plen, ex->hash) < 0)
		return fault_set(f, F_SPROXY, "InternalError", "cannot hash the request");
	ex->client = ex->soap.client;
	ex->service = ex->soap.service;
	return 0;
}

void exch_server_handler(struct http_req *req, void *arg)
{
	struct worker *w = arg;
	struct exch *ex;
	const struct gc_gateway *peer;
	struct fault f = { 0 };
	char cid[XRD_ID_TEXT_MAX];

	ex = exch_alloc(w, req, EXCH_SERVER_SIDE);
	if (!ex) {
		http_req_respond(req, 503, NULL, 0, "out of memory\n", 14);
		return;
	}
	ex->provider_done = server_on_provider;
	/* Authenticate the peer before reading a byte of what it sent. */
	ex->proto = strncmp(http_req_target(req), "/r1/", 4) == 0 ? EXCH_REST : EXCH_SOAP;
	if (exch_gconf_fresh(ex, F_SPROXY, &f) < 0 || !(peer = server_peer(ex, &f)) ||
	    sx_split(http_req_header(req, SX_HDR_SIGNED), &ex->body, &ex->body_len, &ex->carried, F_SPROXY, &f) < 0 ||
	    server_parse(ex, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	if (!gconf_gateway_hosts(peer, &ex->client)) {
		fault_set(&f, F_SPROXY, "SslAuthenticationFailed",
			  "client %s is not hosted by gateway '%s', which sent the request",
			  xrd_id_format(&ex->client, cid, sizeof(cid)), peer->code);
		exch_fault(ex, &f);
		return;
	}
	if (sx_ready(ex, F_SPROXY, &f) < 0 || sx_verify_request(ex, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	ex->verified = 1;
	if ((ex->proto == EXCH_SOAP && meta_is_soap(ex->service.service_code)) ||
	    (ex->proto == EXCH_REST && meta_is_rest(ex->service.service_code)))
		ex->meta = ex->service.service_code;
	provider_dispatch(ex);
}
