/* The client side of an exchange: requests from information systems.
 *
 * Order of checks (architecture.md steps 1-4 and 10-11): parse and validate
 * the message, identify the calling system (it must be a client of this
 * gateway; with HTTPS its certificate must be the one configured for it),
 * find the service and the gateway that provides it, then either call the
 * provider pipeline in-process (this gateway hosts the service) or send the
 * request to the provider's gateway over mutual TLS. The answer is checked
 * (requestHash, repeated headers) before it is relayed. */
#include "core/exch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/sx.h"
#include "lib/osutil.h"
#include "lib/xmlscan.h"
#include "proto/mime.h"
#include "trust/tls.h"

int hlist_add(struct hlist *l, const char *name, const char *value)
{
	char *n, *v;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct http_hdr *h;

		if (cap > HLIST_MAX)
			cap = HLIST_MAX;
		if (l->n >= cap || !(h = realloc(l->h, cap * sizeof(*h))))
			return -1;
		l->h = h;
		l->cap = cap;
	}
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	l->h[l->n].name = n;
	l->h[l->n].value = v;
	l->n++;
	return 0;
}

void hlist_clear(struct hlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->h[i].name);
		free((char *)l->h[i].value);
	}
	free(l->h);
	l->h = NULL;
	l->n = l->cap = 0;
}

/* Off the worker's abandoned list; nothing if it is not on it. */
static void abandoned_unlink(struct exch *ex)
{
	struct worker *w = ex->w;

	if (!ex->ab_prev && w->abandoned != ex)
		return;
	if (ex->ab_prev)
		ex->ab_prev->ab_next = ex->ab_next;
	else if (w->abandoned == ex)
		w->abandoned = ex->ab_next;
	if (ex->ab_next)
		ex->ab_next->ab_prev = ex->ab_prev;
	ex->ab_prev = ex->ab_next = NULL;
	w->n_abandoned--;
}

/* At most this many per worker, each for at most EXCH_ABANDON_GRACE_MS: an
 * answer that comes soon keeps its connection; a provider's gateway that is
 * slow (callers giving up is the sign) gets the close as before, so it sheds
 * the work, and our connections to it stay free for live callers (half of
 * the outbound client's 64 per host at most). The request's copy is freed at
 * once and the answer's body read and dropped. */
#define EXCH_ABANDONED_MAX 32
#define EXCH_ABANDON_GRACE_MS 3000
static const struct timeval abandon_tick = { 0, EXCH_ABANDON_GRACE_MS * 1000 / 4 };

/* Ends an abandoned exchange whose call is still in flight: the call is
 * cancelled (its connection closes). */
static void abandoned_cancel(struct exch *ex)
{
	abandoned_unlink(ex);
	outbound_cancel(ex->out);
	ex->out = NULL;
	exch_release(ex);
}

static void abandoned_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct exch *ex, *next;

	(void)fd;
	(void)what;
	for (ex = w->abandoned; ex; ex = next) {
		next = ex->ab_next;
		if (ms_since(&ex->t_abandoned) < EXCH_ABANDON_GRACE_MS)
			continue;
		ex->remote_ms = ms_since(&ex->t_remote);   /* how long the peer kept us waiting */
		abandoned_cancel(ex);
	}
	if (w->abandoned)
		evtimer_add(w->ab_sweep, &abandon_tick);
}

/* Onto the worker's abandoned list; -1 (not taken) without a sweep timer. */
static int abandon(struct exch *ex)
{
	struct worker *w = ex->w;

	if (!w->ab_sweep && !(w->ab_sweep = evtimer_new(w->base, abandoned_sweep, w)))
		return -1;
	if (!evtimer_pending(w->ab_sweep, NULL) && evtimer_add(w->ab_sweep, &abandon_tick) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ex->t_abandoned);
	ex->ab_next = w->abandoned;
	if (ex->ab_next)
		ex->ab_next->ab_prev = ex;
	w->abandoned = ex;
	w->n_abandoned++;
	buf_free(&ex->wire);        /* the outbound call has its own copy */
	outbound_discard(ex->out);
	return 0;
}

/* A call to a provider's gateway that its caller left is not cut off at once
 * when it is on a connection: cutting a transfer short closes its connection
 * - under load, when clients give up, that turned every abort into a new
 * mutual-TLS handshake between the gateways (~9 ms alone, ~100 ms when 32
 * came at once). The exchange waits on the worker's abandoned list for the
 * answer (which no one receives) for up to EXCH_ABANDON_GRACE_MS; a call still
 * waiting for a connection, one past the cap or the grace, and every call of
 * a stopping worker are cancelled. */
static void exch_on_abort(void *arg)
{
	struct exch *ex = arg;
	/* Only the gateway call (client_on_outbound): an in-process exchange's
	 * call to a provider system goes on to sign and log what it answers. */
	int keep = ex->out && ex->side == EXCH_CLIENT_SIDE && !ex->local && !ex->w->closing &&
		   ex->w->n_abandoned < EXCH_ABANDONED_MAX && outbound_sent(ex->out);

	ex->req = NULL;
	ex->aborted = 1;
	if (keep && abandon(ex) < 0)
		keep = 0;
	if (ex->out && !keep) {
		outbound_cancel(ex->out);
		ex->out = NULL;
	}
	log_info("event=aborted reqid=%s why=\"caller closed the connection before the answer\"%s",
		 ex->reqid, keep ? " call=left_to_finish" : "");
	sx_cancel(ex);
	if (!ex->adapter_pending && !ex->log_pending && !ex->sign_pending && !ex->out)
		exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
}

void exch_cancel_abandoned(struct worker *w)
{
	while (w->abandoned)
		abandoned_cancel(w->abandoned);
	if (w->ab_sweep) {
		event_free(w->ab_sweep);
		w->ab_sweep = NULL;
	}
}

struct exch *exch_alloc(struct worker *w, struct http_req *req, enum exch_side side)
{
	struct exch *ex = calloc(1, sizeof(*ex));
	size_t len;

	if (!ex)
		return NULL;
	ex->w = w;
	ex->req = req;
	ex->side = side;
	ex->proto = EXCH_OTHER;
	clock_gettime(CLOCK_MONOTONIC, &ex->t0);
	ex->sign_ms = ex->remote_ms = ex->logwait_ms = -1;
	uuid4(ex->reqid);
	ex->gc = gw_gconf(w->gw);
	ex->body = http_req_body(req, &len);
	ex->body_len = len;
	snprintf(ex->method, sizeof(ex->method), "%s", http_req_method(req));
	{
		/* which system sent it: the request line names it even for a
		 * request refused before anyone is identified */
		const char *from = http_req_peer_addr(req);
		snprintf(ex->from, sizeof(ex->from), "%s", from && *from ? from : "-");
	}
	const char *host = http_req_header(req, "Host");
	snprintf(ex->http_host, sizeof(ex->http_host), "%s", host ? host : "localhost");
	http_req_on_abort(req, exch_on_abort, ex);
	return ex;
}

static void exch_free(struct exch *ex)
{
	abandoned_unlink(ex);   /* never expected to be on it: the list holds exchanges with a call */
	json_decref(ex->parked_params);   /* NULL unless a worker stopped with the call parked */
	hlist_clear(&ex->held_hdrs);
	free(ex->held_body);
	soap_msg_free(&ex->soap);
	free(ex->rest);
	free(ex->target);
	hlist_clear(&ex->fwd);
	buf_free(&ex->wire);
	gconf_unref(&ex->gc);
	free(ex);
}

static const char *proto_name(enum exch_proto p)
{
	return p == EXCH_SOAP ? "soap" : p == EXCH_REST ? "rest" : "http";
}

/* "12.34", or "-" for a phase that did not happen (ms < 0). */
static const char *ms_text(double ms, char out[24])
{
	if (ms < 0)
		return "-";
	snprintf(out, 24, "%.2f", ms);
	return out;
}

void exch_finish(struct exch *ex, long status, const struct http_hdr *hdrs, size_t n,
		 const void *body, size_t len, const char *fault_code)
{
	char cl[XRD_ID_TEXT_MAX] = "-", sv[XRD_ID_TEXT_MAX] = "-", t_sign[24], t_remote[24], t_log[24];
	/* log_quote() needs room for every byte escaped, and the quotes */
	char q_cl[2 * XRD_ID_TEXT_MAX + 3], q_sv[2 * XRD_ID_TEXT_MAX + 3],
		q_msgid[2 * (SOAP_FIELD_MAX > REST_FIELD_MAX ? SOAP_FIELD_MAX : REST_FIELD_MAX) + 3],
		q_method[2 * sizeof(ex->method) + 3], q_peer[2 * sizeof(ex->peer) + 3], q_fault[2 * FAULT_CODE_MAX + 3];
	const char *msgid = ex->proto == EXCH_SOAP ? ex->soap.id :
			    ex->rest ? ex->rest->id : "";

	if (ex->log_pending > 0) {
		/* The answer waits until its log records are durable. */
		if (ex->held)
			return;
		ex->held = 1;
		clock_gettime(CLOCK_MONOTONIC, &ex->t_held);
		ex->held_status = status;
		for (size_t i = 0; i < n; i++)
			if (hlist_add(&ex->held_hdrs, hdrs[i].name, hdrs[i].value) < 0 && !ex->log_error[0])
				snprintf(ex->log_error, sizeof(ex->log_error), "out of memory");
		if (len && !(ex->held_body = malloc(len)) && !ex->log_error[0])
			snprintf(ex->log_error, sizeof(ex->log_error), "out of memory");
		if (ex->held_body)
			memcpy(ex->held_body, body, len);
		ex->held_len = ex->held_body ? len : 0;
		snprintf(ex->held_fault, sizeof(ex->held_fault), "%s",
			 fault_code ? fault_code : ex->fault_code);
		return;
	}
	if (!fault_code && ex->fault_code[0])
		fault_code = ex->fault_code;
	if (ex->client.type != XRD_NONE)
		xrd_id_format(&ex->client, cl, sizeof(cl));
	if (ex->service.type != XRD_NONE)
		xrd_id_format(&ex->service, sv, sizeof(sv));
	/* The message id is the caller's text (a SOAP xrd:id, an X-Road-Id):
	 * "x status=200 reqid=..." must stay one value, not forge fields, so it
	 * is quoted when it needs to be (a UUID stays bare). Identifiers may
	 * hold '=', the fault code can come from a peer, method and peer are
	 * quoted for the same reason; reqid, side and proto are ours. */
	log_info("event=request reqid=%s side=%s proto=%s method=%s client=%s service=%s "
		 "msgid=%s peer=%s status=%ld fault=%s bytes_in=%zu bytes_out=%zu dur_ms=%.2f "
		 "sign_ms=%s remote_ms=%s logwait_ms=%s from=%s%s",
		 ex->reqid, ex->side == EXCH_CLIENT_SIDE ? "client" : "server",
		 proto_name(ex->proto), log_quote(ex->method, q_method, sizeof(q_method)),
		 log_quote(cl, q_cl, sizeof(q_cl)), log_quote(sv, q_sv, sizeof(q_sv)),
		 log_quote(msgid[0] ? msgid : "-", q_msgid, sizeof(q_msgid)),
		 log_quote(ex->peer[0] ? ex->peer : (ex->local ? "local" : "-"), q_peer, sizeof(q_peer)),
		 status, log_quote(fault_code ? fault_code : "-", q_fault, sizeof(q_fault)), ex->body_len,
		 len, ms_since(&ex->t0), ms_text(ex->sign_ms, t_sign), ms_text(ex->remote_ms, t_remote),
		 ms_text(ex->logwait_ms, t_log), ex->from[0] ? ex->from : "-", ex->aborted ? " aborted=1" : "");
	if (ex->req) {
		http_req_respond(ex->req, (int)status, hdrs, n, body, len);
		ex->req = NULL;
		ex->w->served++;
	}
	exch_free(ex);
}

void exch_release(struct exch *ex)
{
	struct fault f = { 0 };

	if (ex->log_pending > 0)
		return;
	if (!ex->held) {
		/* Aborted while records were pending; or not answered yet. */
		if (ex->aborted && !ex->adapter_pending && !ex->out && !ex->sign_pending)
			exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
		return;
	}
	ex->held = 0;
	ex->logwait_ms = ms_since(&ex->t_held);
	if (ex->log_error[0]) {
		int ts = strncmp(ex->log_error, "TimestamperFailed", 17) == 0;
		fault_set(&f, ex->side == EXCH_SERVER_SIDE ? F_SPROXY : F_CPROXY,
			  ts ? "LoggingFailed.TimestamperFailed" : "LoggingFailed",
			  "the exchange could not be written to the message log, so its answer is withheld: %s",
			  ex->log_error);
		exch_fault(ex, &f);
		return;
	}
	exch_finish(ex, ex->held_status, ex->held_hdrs.h, ex->held_hdrs.n, ex->held_body, ex->held_len,
		    ex->held_fault[0] ? ex->held_fault : NULL);
}

static int wants_xml(struct exch *ex)
{
	const char *acc = ex->req ? http_req_header(ex->req, "Accept") : NULL;

	return acc && strstr(acc, "xml") && !strstr(acc, "json");
}

int exch_fault_render(struct exch *ex, const struct fault *f, int rest, int want_xml, struct buf *b,
		      struct hlist *h)
{
	const char *ctype = "text/xml; charset=utf-8";
	char q_code[2 * FAULT_CODE_MAX + 3], q_msg[2 * FAULT_MSG_MAX + 3];

	/* A message quotes what the caller sent (a parameter's name, a header's
	 * value): log_quote() escapes its quotes, which "%s" in quotes did not. */
	log_warn("event=fault reqid=%s code=%s message=%s", ex->reqid, log_quote(f->code, q_code, sizeof(q_code)),
		 log_quote(f->message, q_msg, sizeof(q_msg)));
	snprintf(ex->fault_code, sizeof(ex->fault_code), "%s", f->code);
	if (rest) {
		if (rest_build_error(f, ex->reqid, want_xml, b, &ctype) < 0 ||
		    hlist_add(h, "X-Road-Error", f->code) < 0 ||
		    (f->allow[0] && hlist_add(h, "Allow", f->allow) < 0))
			return -1;
	} else if (soap_build_fault(f, ex->reqid, b) < 0) {
		return -1;
	}
	return hlist_add(h, "Content-Type", ctype);
}

void exch_fault(struct exch *ex, const struct fault *f)
{
	struct buf b = BUF_INIT;
	struct hlist h = { .n = 0 };
	int rest = ex->proto == EXCH_REST ||
		   (ex->proto == EXCH_OTHER && !wants_xml(ex) && strncmp(ex->method, "POST", 4) != 0);

	if (exch_fault_render(ex, f, rest, wants_xml(ex), &b, &h) < 0)
		/* Out of memory: a bare answer still tells the caller something. */
		exch_finish(ex, 500, NULL, 0, "internal error\n", 15, f->code);
	else
		exch_finish(ex, f->http_status, h.h, h.n, b.data, b.len, f->code);
	hlist_clear(&h);
	buf_free(&b);
}

int exch_soap_part(const char *ctype, const void *body, size_t len, const char *prefix,
		   const void **part, size_t *part_len, struct fault *f)
{
	struct mime_part mp;

	if (!ctype || !mime_is_multipart(ctype)) {
		*part = body;
		*part_len = len;
		return 0;
	}
	if (mime_soap_part(ctype, body, len, prefix, &mp, f) < 0)
		return -1;
	*part = mp.data;
	*part_len = mp.len;
	return 0;
}

/* ---- identifying the calling system ---------------------------------- */

static const struct is_cert *find_is_cert(const struct gw *g, const struct xrd_id *client)
{
	for (size_t i = 0; i < g->n_is_certs; i++)
		if (xrd_id_same_subsystem(&g->is_certs[i].client, client))
			return &g->is_certs[i];
	return NULL;
}

/* The client must exist, be hosted here, and (if a certificate is configured
 * for it) have connected over HTTPS with that certificate. */
static int client_identify(struct exch *ex, struct fault *f)
{
	const struct gc_gateway *self = gconf_gateway(ex->gc, ex->w->gw->cfg->gateway_code);
	const struct is_cert *ic;
	char id[XRD_ID_TEXT_MAX];

	xrd_id_format(&ex->client, id, sizeof(id));
	if (strcmp(ex->client.instance, gconf_instance(ex->gc)) != 0)
		return fault_set(f, F_CLIENT, "InvalidClientIdentifier",
				 "client %s names instance '%s'; this exchange is '%s'", id,
				 ex->client.instance, gconf_instance(ex->gc));
	if (!gconf_client_exists(ex->gc, &ex->client))
		return fault_set(f, F_CPROXY, "UnknownMember",
				 "client %s is not registered in global configuration", id);
	if (!self || !gconf_gateway_hosts(self, &ex->client))
		return fault_set(f, F_CPROXY, "UnknownMember",
				 "client %s is not a client of this gateway ('%s'); send the request "
				 "to the gateway that hosts it", id, ex->w->gw->cfg->gateway_code);
	ic = find_is_cert(ex->w->gw, &ex->client);
	if (ic) {
		X509 *peer = ex->req ? http_req_peer_cert(ex->req) : NULL;
		unsigned char h[32];
		if (!peer)
			return fault_set(f, F_CPROXY, "SslAuthenticationFailed",
					 "client %s must connect over HTTPS with its certificate", id);
		if (tls_cert_sha256(peer, h) < 0 || memcmp(h, ic->sha256, 32) != 0)
			return fault_set(f, F_CPROXY, "SslAuthenticationFailed",
					 "the TLS client certificate is not the one registered for %s", id);
	}
	return 0;
}

/* Finds the service (or metaservice) and the gateway providing it. */
static const struct gc_gateway *client_route(struct exch *ex, struct fault *f)
{
	struct xrd_id owner;
	const struct gc_gateway *gw;
	char id[XRD_ID_TEXT_MAX];

	xrd_id_format(&ex->service, id, sizeof(id));
	if (strcmp(ex->service.instance, gconf_instance(ex->gc)) != 0) {
		fault_set(f, F_CLIENT, "InvalidServiceIdentifier",
			  "service %s names instance '%s'; this exchange is '%s'", id,
			  ex->service.instance, gconf_instance(ex->gc));
		return NULL;
	}
	if ((ex->proto == EXCH_SOAP && meta_is_soap(ex->service.service_code)) ||
	    (ex->proto == EXCH_REST && meta_is_rest(ex->service.service_code))) {
		ex->meta = ex->service.service_code;
	} else {
		ex->svc = gconf_service(ex->gc, &ex->service);
		if (!ex->svc) {
			fault_set(f, F_CPROXY, "UnknownService",
				  "service %s is not in global configuration", id);
			return NULL;
		}
	}
	xrd_id_service_owner(&ex->service, &owner);
	gw = gconf_gateway_of(ex->gc, &owner);
	if (!gw) {
		xrd_id_format(&owner, id, sizeof(id));
		fault_set(f, F_CPROXY, "UnknownMember", "no gateway hosts the provider %s", id);
		return NULL;
	}
	snprintf(ex->peer, sizeof(ex->peer), "%s", gw->code);
	return gw;
}

/* ---- the answer from the provider side -------------------------------- */

static int is_hop_or_framing(const char *name)
{
	return !rest_header_forwarded(name, NULL) || strncasecmp(name, "X-Ailgate-", 10) == 0 ||
	       strcasecmp(name, "Date") == 0 ||
	       strcasecmp(name, "Content-Length") == 0;
}

static void client_relay(struct exch *ex, const struct exch_resp *r)
{
	struct hlist h = { .n = 0 };

	for (size_t i = 0; i < r->nhdrs; i++) {
		if (is_hop_or_framing(r->hdrs[i].name))
			continue;
		if (ex->proto == EXCH_SOAP && strcasecmp(r->hdrs[i].name, "Content-Type") != 0)
			continue;  /* SOAP: only Content-Type of the response passes */
		if (hlist_add(&h, r->hdrs[i].name, r->hdrs[i].value) < 0)
			break;
	}
	if (!ex->fault_code[0] && http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error"))
		snprintf(ex->fault_code, sizeof(ex->fault_code), "%s",
			 http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error"));
	if (ex->relay_hook)
		ex->relay_hook(ex, r->status, &h, r->body, r->body_len);
	else
		exch_finish(ex, r->status, h.h, h.n, r->body, r->body_len, NULL);
	hlist_clear(&h);
}

/* The answer passed the protocol checks: verify its signature (remote) and
 * log it before it is relayed. */
static int client_accept(struct exch *ex, const struct exch_resp *r, int is_fault, struct fault *f)
{
	if (ex->local)
		return sx_log_local(ex, 2, r, f);
	return sx_verify_response(ex, r, is_fault, f);
}

/* The answer's bytes are relayed as they are, so they are checked in one
 * pass against the request (soap_check_answer) rather than made a tree. */
static void client_check_soap(struct exch *ex, const struct exch_resp *r)
{
	struct soap_answer ans;
	struct fault f = { 0 };
	const void *part;
	size_t plen;

	if (r->body_len == 0) {
		fault_set(&f, F_CPROXY, "InconsistentResponse", "the provider's gateway sent an empty answer");
		exch_fault(ex, &f);
		return;
	}
	if (exch_soap_part(http_hdr_get(r->hdrs, r->nhdrs, "Content-Type"), r->body, r->body_len, F_CPROXY,
			   &part, &plen, &f) < 0 ||
	    soap_check_answer(&ex->soap, part, plen, ex->hash, &ans, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	if (ans.is_fault && !ex->fault_code[0] &&
	    fault_code_normalize(ans.fault_code, ex->fault_code, sizeof(ex->fault_code)) < 0)
		ex->fault_code[0] = '\0';
	if (client_accept(ex, r, ans.is_fault, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	client_relay(ex, r);
}

static void client_check_rest(struct exch *ex, const struct exch_resp *r)
{
	const char *h = http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Request-Hash");
	struct fault f = { 0 };

	/* An error raised by the exchange itself carries no hash: pass it on. */
	if (!http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error")) {
		if (!h) {
			fault_set(&f, F_CPROXY, "InconsistentResponse",
				  "the provider's answer has no X-Road-Request-Hash");
			exch_fault(ex, &f);
			return;
		}
		if (strcmp(h, ex->hash) != 0) {
			fault_set(&f, F_CPROXY, "InconsistentResponse",
				  "X-Road-Request-Hash of the answer does not match the request sent");
			exch_fault(ex, &f);
			return;
		}
	}
	if (client_accept(ex, r, http_hdr_get(r->hdrs, r->nhdrs, "X-Road-Error") != NULL, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	client_relay(ex, r);
}

/* Both the in-process provider and a remote gateway's answer arrive here. */
static void client_on_provider(struct exch *ex, const struct exch_resp *r)
{
	if (ex->aborted) {
		exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
		return;
	}
	if (ex->proto == EXCH_SOAP)
		client_check_soap(ex, r);
	else
		client_check_rest(ex, r);
}

static void client_on_outbound(const struct out_resp *o, void *arg)
{
	struct exch *ex = arg;
	struct fault f = { 0 };
	struct exch_resp r = { 0 };

	ex->out = NULL;
	ex->remote_ms = ms_since(&ex->t_remote);
	if (ex->aborted) {
		/* Left to finish (exch_on_abort): no one takes the answer. */
		abandoned_unlink(ex);
		exch_release(ex);
		return;
	}
	switch (o->err) {
	case OUT_OK:
		if ((r.status = sx_status(o->status, o->hdrs, o->nhdrs, F_CPROXY, &f)) < 0)
			break;
		r.hdrs = o->hdrs;
		r.nhdrs = o->nhdrs;
		r.body = o->body;
		r.body_len = o->body_len;
		r.peer_cert = o->peer_cert;
		if (sx_split(http_hdr_get(o->hdrs, o->nhdrs, SX_HDR_SIGNED), &r.body, &r.body_len, &r.carried, F_CPROXY,
			     &f) < 0)
			break;
		client_on_provider(ex, &r);
		return;
	case OUT_ERR_PEER_CERT:
	case OUT_ERR_TLS:
		fault_set(&f, F_CPROXY, "SslAuthenticationFailed",
			  "TLS with the provider's gateway '%s' failed: %s", ex->peer, o->errmsg);
		break;
	case OUT_ERR_TIMEOUT:
		fault_set(&f, F_CPROXY, "NetworkError",
			  "the provider's gateway '%s' did not answer in time: %s", ex->peer, o->errmsg);
		break;
	default:
		fault_set(&f, F_CPROXY, "NetworkError",
			  "cannot reach the provider's gateway '%s': %s", ex->peer, o->errmsg);
		break;
	}
	exch_fault(ex, &f);
}

/* Signed (core/sx.h): the request goes to the provider's gateway with the
 * headers in ex->fwd. */
static void client_signed(struct exch *ex, const struct fault *sf)
{
	struct gw *g = ex->w->gw;
	const struct gc_gateway *gw = ex->peer_gw;
	struct out_req o = { 0 };
	struct out_tls tls = g->peer_tls;
	char url[REST_TARGET_MAX + 300];
	struct fault f = { 0 };

	if (sf) {
		exch_fault(ex, sf);
		return;
	}
	if (ex->aborted) {
		/* sx_cancel took it out of the batch unless it was already signing. */
		exch_release(ex);
		return;
	}
	tls.pin_sha256 = gw->auth_cert_sha256;
	if (ex->proto == EXCH_SOAP)
		snprintf(url, sizeof(url), "https://%s/", gw->address);
	else
		snprintf(url, sizeof(url), "https://%s%s", gw->address, ex->target);
	o.hdrs = ex->fwd.h;
	o.nhdrs = ex->fwd.n;
	o.method = ex->method;
	o.url = url;
	o.body = ex->wire.data;
	o.body_len = ex->wire.len;
	o.tls = &tls;
	o.connect_timeout_ms = g->cfg->connect_timeout_ms;
	/* The provider's gateway gives its service timeout_ms; wait a little
	 * longer so its ServiceFailed.Timeout reaches the client, not ours. */
	o.timeout_ms = (long)g->cfg->timeout_ms + (long)g->cfg->connect_timeout_ms + 2000;
	o.max_response = g->cfg->max_response + SX_CARRIED_MAX;   /* the answer's signature comes on top */
	clock_gettime(CLOCK_MONOTONIC, &ex->t_remote);
	ex->out = outbound_send(ex->w->out, &o, client_on_outbound, ex);
	if (!ex->out) {
		fault_set(&f, F_CPROXY, "NetworkError", "cannot start the call to gateway '%s'", gw->code);
		exch_fault(ex, &f);
	}
}

/* The request is signed with the next batch of this worker (sx_sign_request),
 * then sent by client_signed. SOAP sends its Content-Type and SOAPAction;
 * REST the forwarded headers already in ex->fwd. */
static void client_send(struct exch *ex, const struct gc_gateway *gw)
{
	struct fault f = { 0 };

	ex->peer_gw = gw;
	if (ex->proto == EXCH_SOAP) {
		const char *ct = http_req_header(ex->req, "Content-Type");
		const char *sa = http_req_header(ex->req, "SOAPAction");
		hlist_clear(&ex->fwd);
		if (hlist_add(&ex->fwd, "Content-Type", ct ? ct : "text/xml; charset=utf-8") < 0 ||
		    (sa && hlist_add(&ex->fwd, "SOAPAction", sa) < 0)) {
			fault_set(&f, F_CPROXY, "InternalError", "out of memory");
			exch_fault(ex, &f);
			return;
		}
	}
	if (sx_sign_request(ex, client_signed, &f) < 0)
		exch_fault(ex, &f);
}

void exch_client_dispatch(struct exch *ex)
{
	struct fault f = { 0 };
	const struct gc_gateway *gw = client_route(ex, &f);

	if (!gw) {
		exch_fault(ex, &f);
		return;
	}
	if (strcmp(gw->code, ex->w->gw->cfg->gateway_code) == 0) {
		/* Hosted here: same checks as a remote provider, no network hop. */
		ex->local = 1;
		ex->peer[0] = '\0';
		ex->provider_done = client_on_provider;
		if (sx_claim(ex, F_CPROXY, &f) < 0 || sx_log_local(ex, 1, NULL, &f) < 0) {
			exch_fault(ex, &f);
			return;
		}
		provider_dispatch(ex);
		return;
	}
	client_send(ex, gw);
}

int exch_gconf_fresh(struct exch *ex, const char *prefix, struct fault *f)
{
	time_t exp = gconf_expires(ex->gc), now = time(NULL);

	if (exp && now >= exp)
		return fault_set(f, prefix, "OutdatedGlobalConf",
				 "global configuration expired %ld s ago; this gateway refuses exchanges "
				 "until it gets a valid one", (long)(now - exp));
	return 0;
}

static void client_forward(struct exch *ex)
{
	struct fault f = { 0 };

	if (exch_gconf_fresh(ex, F_CPROXY, &f) < 0 || sx_ready(ex, F_CPROXY, &f) < 0 ||
	    client_identify(ex, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	exch_client_dispatch(ex);
}

/* ---- SOAP and REST entry ---------------------------------------------- */

/* A SOAP request's Content-Type is part of what its signature covers
 * (trust/sign.h: printable ASCII, under SIG_FIELD_MAX bytes); one that does
 * not fit is the caller's to fix, said before anything is signed or sent
 * (it was cut short, and failed as the provider gateway's
 * InvalidSignatureValue). */
static int soap_ctype_check(const char *ct, struct fault *f)
{
	size_t len = ct ? strlen(ct) : 0;
	struct mime_type t;

	if (len >= SIG_FIELD_MAX)
		return fault_set(f, F_CLIENT, "BadRequest", "the Content-Type header is %zu bytes long; a SOAP "
				 "request's may have at most %d", len, SIG_FIELD_MAX - 1);
	if (len && !sig_ascii_ok(ct, SIG_FIELD_MAX))
		return fault_set(f, F_CLIENT, "BadRequest", "the Content-Type header holds a byte "
				 "that is not printable ASCII");
	/* As X-Road's security server: a body that is not XML is named for
	 * what it is (a JSON request posted here instead of to /r1/... used to
	 * be "InvalidXml: Start tag expected"). No Content-Type, or one that
	 * does not parse, is left to the XML parser to judge. */
	if (len && mime_parse_type(ct, &t) == 0 && strcmp(t.type, "text/xml") != 0 &&
	    strcmp(t.type, "application/xml") != 0 && strcmp(t.type, "multipart/related") != 0)
		return fault_set(f, F_CLIENT, "InvalidContentType",
				 "a SOAP request is text/xml (multipart/related with attachments), not %s%s", t.type,
				 strcmp(t.type, "application/soap+xml") == 0 ?
					 ": that is SOAP 1.2, and X-Road message protocol 4.0 is SOAP 1.1" :
				 strstr(t.type, "json") ? ": REST requests go to /r1/<service>/..." : "");
	return 0;
}

/* A charset other than UTF-8 named only by Content-Type: an XML document
 * without an encoding declaration is read as UTF-8 (by libxml2 here and at
 * the provider's gateway), so a windows-1251 body failed as libxml2's "Input
 * is not proper UTF-8". Said as what to do instead; a body of ASCII only
 * reads the same either way and passes. */
static int soap_charset_check(const char *ct, const unsigned char *body, size_t len, struct fault *f)
{
	struct mime_type t;
	char enc[48];
	size_t i;

	if (!ct || mime_parse_type(ct, &t) != 0 || !t.charset[0] || strcmp(t.type, "multipart/related") == 0 ||
	    !strcasecmp(t.charset, "utf-8") || !strcasecmp(t.charset, "utf8") ||
	    xmlscan_declared_encoding(body, len, enc, sizeof(enc)))
		return 0;
	for (i = 0; i < len && body[i] < 0x80; i++)
		;
	if (i == len)
		return 0;
	return fault_set(f, F_CLIENT, "InvalidContentType", "Content-Type says charset=%.40s, but the "
			 "message's XML declaration names no encoding, so it is read as UTF-8: send it in "
			 "UTF-8 (charset=utf-8), or declare the encoding in the message "
			 "(<?xml version=\"1.0\" encoding=\"%.40s\"?>)", t.charset, t.charset);
}

static void client_soap(struct exch *ex)
{
	struct fault f = { 0 };
	const void *part;
	size_t plen;

	ex->proto = EXCH_SOAP;
	if (strcmp(ex->method, "POST") != 0) {
		fault_set(&f, F_CLIENT, "InvalidHttpMethod",
			  "SOAP requests must use POST, not %s", ex->method);
		exch_fault(ex, &f);
		return;
	}
	if (soap_ctype_check(http_req_header(ex->req, "Content-Type"), &f) < 0 ||
	    soap_charset_check(http_req_header(ex->req, "Content-Type"), ex->body, ex->body_len, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	/* With attachments the SOAP part is parsed and hashed; all parts travel on. */
	if (exch_soap_part(http_req_header(ex->req, "Content-Type"), ex->body, ex->body_len, F_CLIENT, &part,
			   &plen, &f) < 0 ||
	    soap_parse(part, plen, SOAP_REQUEST, F_CLIENT, &ex->soap, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	ex->client = ex->soap.client;
	ex->service = ex->soap.service;
	if (soap_request_hash(part, plen, ex->hash) < 0) {
		fault_set(&f, F_CPROXY, "InternalError", "cannot hash the request");
		exch_fault(ex, &f);
		return;
	}
	client_forward(ex);
}

/* ex->fwd carries what is forwarded, our X-Road-Id and, between
 * gateways, the signature's header (core/sx.c). X-Road passes on every
 * header but the hop-by-hop ones, Host, User-Agent and Server (pr-rest 4.3:
 * user-defined headers "MUST be passed to recipient unmodified"), and so do
 * we, rather than only X-Road-* and Content-Type: providers read Accept,
 * caching and their own headers. More than fit is the caller's to trim. */
#define REST_FWD_MAX 46

/* A caller's header that goes on to the provider: all but hop-by-hop ones
 * and the caller's X-Road-Id (ours replaces it). */
static int rest_passed_on(const char *name, const char *conn)
{
	return rest_header_forwarded(name, conn) && strcasecmp(name, "X-Road-Id") != 0;
}

/* How many of the request's headers exch_rest_forward_headers() forwards. */
static size_t rest_forward_count(struct exch *ex)
{
	size_t n, k = 0;
	const struct http_hdr *h = http_req_headers(ex->req, &n);
	const char *conn = http_req_header(ex->req, "Connection");

	for (size_t i = 0; i < n; i++)
		k += rest_passed_on(h[i].name, conn);
	return k;
}

/* The headers forwarded to the provider and hashed: everything but hop-by-hop. */
int exch_rest_forward_headers(struct exch *ex)
{
	size_t n;
	const struct http_hdr *h = http_req_headers(ex->req, &n);
	const char *conn = http_req_header(ex->req, "Connection");

	for (size_t i = 0; i < n; i++)
		if (rest_passed_on(h[i].name, conn) && hlist_add(&ex->fwd, h[i].name, h[i].value) < 0)
			return -1;
	return hlist_add(&ex->fwd, "X-Road-Id", ex->rest->id);
}

/* Both sides hash what travels between them: the forwarded headers. */
int exch_rest_hash(struct exch *ex, const struct http_hdr *h, size_t n)
{
	return rest_request_hash(ex->method, ex->target, h, n, ex->body, ex->body_len, ex->hash);
}

static void client_rest(struct exch *ex)
{
	struct fault f = { 0 };
	size_t n;
	const struct http_hdr *h;

	ex->proto = EXCH_REST;
	ex->rest = calloc(1, sizeof(*ex->rest));
	ex->target = malloc(REST_TARGET_MAX);
	if (!ex->rest || !ex->target) {
		fault_set(&f, F_CPROXY, "InternalError", "out of memory");
		exch_fault(ex, &f);
		return;
	}
	if (strlen(http_req_target(ex->req)) >= REST_TARGET_MAX) {
		fault_set(&f, F_CLIENT, "BadRequest", "the request target is longer than %zu bytes",
			  (size_t)REST_TARGET_MAX - 1);
		exch_fault(ex, &f);
		return;
	}
	snprintf(ex->target, REST_TARGET_MAX, "%s", http_req_target(ex->req));
	/* HEAD travels as GET: the provider's gateway must answer with a body,
	 * since the answer's signature comes in front of it; it is signed, checked
	 * and logged as a GET, and our listener leaves the body out for the
	 * caller's HEAD. */
	if (strcmp(ex->method, "HEAD") == 0)
		snprintf(ex->method, sizeof(ex->method), "GET");
	h = http_req_headers(ex->req, &n);
	if (rest_parse_target(ex->target, ex->rest, &f) < 0 ||
	    rest_parse_headers(h, n, ex->rest, &f) < 0) {
		exch_fault(ex, &f);
		return;
	}
	if (!ex->rest->id[0])
		uuid4(ex->rest->id);
	ex->client = ex->rest->client;
	ex->service = ex->rest->service;
	if ((n = rest_forward_count(ex)) > REST_FWD_MAX) {
		fault_set(&f, F_CLIENT, "BadRequest", "the request has %zu headers to pass on to the provider; "
			  "the gateway passes on at most %d (hop-by-hop headers, Host, User-Agent, Server and "
			  "X-Road-Id not counted)", n, REST_FWD_MAX);
		exch_fault(ex, &f);
		return;
	}
	if (exch_rest_forward_headers(ex) < 0 || exch_rest_hash(ex, ex->fwd.h, ex->fwd.n) < 0) {
		fault_set(&f, F_CPROXY, "InternalError", "cannot prepare the request");
		exch_fault(ex, &f);
		return;
	}
	client_forward(ex);
}

static int path_is(const char *target, const char *path)
{
	size_t n = strlen(path);

	return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

void exch_client_handler(struct http_req *req, void *arg)
{
	struct worker *w = arg;
	struct exch *ex = exch_alloc(w, req, EXCH_CLIENT_SIDE);
	const char *target = http_req_target(req);

	if (!ex) {
		http_req_respond(req, 503, NULL, 0, "out of memory\n", 14);
		return;
	}
	/* HEAD is GET without the body (httpd leaves it out). */
	int get = strcmp(ex->method, "GET") == 0 || strcmp(ex->method, "HEAD") == 0;

	if (strncmp(target, "/r1/", 4) == 0)
		client_rest(ex);
	else if (path_is(target, "/health") && get)
		meta_health(ex);
	else if (path_is(target, "/listClients") && get)
		meta_list_clients(ex);
	else if (path_is(target, "/wsdl") && strcmp(ex->method, "GET") == 0)
		meta_wsdl_get(ex);
	else if (path_is(target, "/verify"))
		meta_verify_page(ex);
	else
		client_soap(ex);
}

void exch_reject(struct http_req *req, int status, const char *why, void *arg)
{
	struct worker *w = arg;
	struct exch *ex = exch_alloc(w, req, EXCH_CLIENT_SIDE);
	struct fault f = { 0 };
	const char *target = http_req_target(req);

	if (!ex) {
		http_req_respond(req, status, NULL, 0, why, strlen(why));
		return;
	}
	ex->proto = strncmp(target, "/r1/", 4) == 0 ? EXCH_REST : EXCH_SOAP;
	ex->body = NULL;
	ex->body_len = 0;
	switch (status) {
	case 413:
		fault_set(&f, F_CLIENT, "BadRequest", "request body is larger than the limit of %zu bytes (%s)",
			  w->gw->cfg->max_body, why);
		break;
	case 408:
		fault_set(&f, F_CLIENT, "BadRequest", "request did not arrive in time: %s", why);
		break;
	default:
		fault_set(&f, F_CLIENT, "BadRequest", "malformed HTTP request: %s", why);
		break;
	}
	f.http_status = status;
	exch_fault(ex, &f);
}
