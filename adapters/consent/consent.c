/* The consent adapter: a bank asks a person for consent, the person confirms
 * the one-time code, lists and withdraws consents and reads who saw their
 * data (issue 5; subsystem GOV/70000050/consent in the demo).
 *
 * Services (README.md has the answers' keys):
 *   consent-request        POST  the bank (the caller's member gets the consent): pin,
 *                                purpose, end_date -> pending, code sent to the person
 *   consent-confirm        POST  the portal for the person: consent_id, code
 *   consents/{pin}         GET   the portal for the person: every consent, with status
 *   consent-withdraw       POST  the portal for the person: consent_id, pin
 *   data-access-report/{pin} GET the portal for the person: who queried their data
 *                                (from, to: dates, default the last 365 days)
 * The person-facing services answer only the person themself: X-Road-UserId
 * (the portal's authenticated citizen, "KG" + PIN or the PIN) must be the
 * PIN the call is about. Who may call which service is global
 * configuration's access rights (banks: consent-request; the portal: the
 * rest).
 *
 * Unlike the other adapters this one uses a gateway module, store/consent.h
 * (and store/accesslog.h): the gateway's enforcement and this adapter must
 * read and write the same files, <data_dir>/consent.db and
 * <data_dir>/accesslog.db, through the same code. The stores are local
 * SQLite files used on the calling thread, as the registries are. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/pin.h"
#include "store/accesslog.h"
#include "store/consent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CN_BODY_MAX 8192           /* a REST body: three short fields */
#define CN_PATH_MAX 4096
#define CN_REPORT_DAYS_DEFAULT 365

struct cn_ctx {
	struct adapter_host host;   /* copied; its strings stay borrowed */
	struct consent_store *cs;
	struct accesslog *al;
	struct otp_channel *otp;
	const char *reqid;          /* of the call in progress */
};

static void cn_log(struct cn_ctx *c, enum adapter_log_level lvl, const char *what, const char *why)
{
	if (c->host.log)
		c->host.log(c->host.ctx, lvl, c->reqid, "consent: %s: %s", what, why);
}

/* A store outcome other than OK as the caller's answer. */
static void cn_fail(struct cn_ctx *c, enum consent_rc rc, const char *why, struct adapter_result *res)
{
	switch (rc) {
	case CONSENT_ERR_NOT_FOUND:
		adapter_result_error(res, ADAPTER_NOT_FOUND, "%s", why);
		break;
	case CONSENT_ERR_DELIVERY:
		cn_log(c, ADAPTER_LOG_ERROR, "code delivery", why);
		adapter_result_error(res, ADAPTER_UNAVAILABLE, "%s", why);
		break;
	case CONSENT_ERR_DB:
		cn_log(c, ADAPTER_LOG_ERROR, "store", why);
		adapter_result_error(res, ADAPTER_UNAVAILABLE, "the consent register is unavailable; try "
				     "again later");
		break;
	default:   /* input, wrong code, not possible in this state: the caller reads why */
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		break;
	}
}

/* ---- input -------------------------------------------------------------- */

/* The fields: the JSON body (REST POST) or the parameters (SOAP body
 * elements, REST query). Caller frees *in. 0, or -1 with res. */
static int cn_input(const struct adapter_call *call, json_t **in, struct adapter_result *res)
{
	json_error_t err;

	*in = NULL;
	if (call->body == NULL || call->body_len == 0) {
		*in = call->params ? json_incref(call->params) : json_object();
		if (*in == NULL)
			adapter_result_oom(res);
		return *in ? 0 : -1;
	}
	if (call->body_len > CN_BODY_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the request body is larger than %d bytes",
				     CN_BODY_MAX);
		return -1;
	}
	if (call->params != NULL && json_object_size(call->params) > 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "send the fields in the JSON body only, "
				     "not in the query string");
		return -1;
	}
	*in = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (*in == NULL || !json_is_object(*in)) {
		char why[160];

		params_json_not_object(*in, &err, why, sizeof(why));
		json_decref(*in);
		*in = NULL;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body must be a JSON object (%s)", why);
		return -1;
	}
	return 0;
}

/* A text field without surrounding white space into out[cap]: 0; -1 with
 * res when it is missing, not a string or longer than cap - 1 bytes. */
static int cn_text(json_t *in, const char *name, char *out, size_t cap, const char *what,
		   struct adapter_result *res)
{
	if (params_get(in, name, out, cap) != 0 || out[0] == '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s: %s", name, what);
		return -1;
	}
	return 0;
}

/* consent_id: a positive integer, as a JSON number or a string of digits. */
static int cn_consent_id(json_t *in, long long *id, struct adapter_result *res)
{
	json_t *v = json_object_get(in, "consent_id");
	char text[24], *end;

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*id = json_integer_value(v);
		return 0;
	}
	if (!json_is_integer(v) && params_get(in, "consent_id", text, sizeof(text)) == 0 &&
	    text[0] >= '1' && text[0] <= '9') {
		*id = strtoll(text, &end, 10);
		if (*end == '\0' && *id > 0)
			return 0;
	}
	adapter_result_error(res, ADAPTER_INVALID_INPUT, "consent_id must be the number of the "
			     "consent, e.g. 42");
	return -1;
}

/* A well-formed PIN from name, into pin[PIN_LEN + 1]. */
static int cn_pin(json_t *in, const char *name, char *pin, struct adapter_result *res)
{
	char v[96], why[160];

	params_trimmed(in, name, v, sizeof(v));
	if (pin_check(v, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	memcpy(pin, v, PIN_LEN + 1);
	return 0;
}

/* The person-facing services: X-Road-UserId must be this person ("KG" +
 * PIN, or the PIN). */
static int cn_is_person(const struct adapter_call *call, const char *pin, struct adapter_result *res)
{
	const char *u = call->user_id ? call->user_id : "";

	if (strncmp(u, "KG", 2) == 0)
		u += 2;
	if (u[0] == '\0') {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s answers only the person themself: "
				     "the portal must send the signed-in person as X-Road-UserId "
				     "(KG + PIN)", call->service_code);
		return -1;
	}
	if (pin != NULL && strcmp(u, pin) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "X-Road-UserId is not the person with "
				     "PIN %s: a person sees and changes only their own consents and "
				     "records", pin);
		return -1;
	}
	return 0;
}

/* "INST/CLASS/CODE/SUB" -> member "CLASS/CODE" and the subsystem ("" for a
 * member id). 0, or -1 if client is not such an id. */
static int cn_caller(const char *client, char *member, size_t mcap, char *sub, size_t scap)
{
	const char *s1 = client ? strchr(client, '/') : NULL;
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	const char *s3 = s2 ? strchr(s2 + 1, '/') : NULL;
	const char *end = s3 ? s3 : s2 ? s2 + strlen(s2) : NULL;
	size_t mlen;

	if (s2 == NULL || s2 == s1 + 1 || end == s2 + 1 || (s3 && (s3[1] == '\0' || strchr(s3 + 1, '/'))))
		return -1;
	mlen = (size_t)(end - (s1 + 1));
	if (mlen >= mcap || strlen(s3 ? s3 + 1 : "") >= scap)
		return -1;
	memcpy(member, s1 + 1, mlen);
	member[mlen] = '\0';
	snprintf(sub, scap, "%s", s3 ? s3 + 1 : "");
	return 0;
}

/* ---- answers ------------------------------------------------------------ */

static json_t *cn_time(time_t t)
{
	char at[32];

	if (t == 0)
		return json_null();
	consent_format_time(t, at);
	return json_string(at);
}

static json_t *cn_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

/* A consent as answered everywhere (README.md: the key order is the WSDL's). */
static json_t *cn_consent_json(const struct consent_info *ci)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o}",
			 "consent_id", (json_int_t)ci->id, "status", consent_status_name(ci->status),
			 "pin", ci->subject, "bank", ci->member, "subsystem", cn_or_null(ci->subsystem),
			 "purpose", ci->purpose, "end_date", ci->end_date,
			 "requested_at", cn_time(ci->requested_at), "confirmed_at", cn_time(ci->confirmed_at),
			 "withdrawn_at", cn_time(ci->withdrawn_at),
			 "void_reason", cn_or_null(ci->status == CONSENT_VOID ? ci->void_reason : ""));
}

static void cn_answer_consent(const struct consent_info *ci, struct adapter_result *res)
{
	res->data = cn_consent_json(ci);
	if (res->data == NULL)
		adapter_result_oom(res);
}

/* ---- the bank: consent-request -------------------------------------------- */

static void cn_request(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
		       struct adapter_result *res)
{
	char pin[PIN_LEN + 1], purpose[CONSENT_PURPOSE_BYTES + 1], end[16], why[CONSENT_WHY_MAX];
	char member[CONSENT_MEMBER_MAX], sub[CONSENT_SUBSYSTEM_MAX];
	struct consent_info ci;
	struct consent_ask a;
	enum consent_rc rc;

	if (cn_caller(call->client, member, sizeof(member), sub, sizeof(sub)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the caller is not a member's subsystem");
		return;
	}
	if (cn_pin(in, "pin", pin, res) != 0 ||
	    cn_text(in, "purpose", purpose, sizeof(purpose), "say what the data is for (1-200 "
		    "characters)", res) != 0 ||
	    cn_text(in, "end_date", end, sizeof(end), "the last day the consent holds, YYYY-MM-DD",
		    res) != 0)
		return;
	a = (struct consent_ask){ member, sub, pin, purpose, end, call->client };
	if ((rc = consent_request(c->cs, &a, c->otp, time(NULL), &ci, why, sizeof(why))) != CONSENT_OK) {
		cn_fail(c, rc, why, res);
		return;
	}
	res->data = cn_consent_json(&ci);
	if (res->data == NULL ||
	    json_object_set_new(res->data, "code_sent_by", json_string(c->otp->kind)) != 0 ||
	    json_object_set_new(res->data, "code_expires_at", cn_time(ci.code_expires_at)) != 0)
		adapter_result_oom(res);
}

/* ---- the person (through the portal) -------------------------------------- */

static void cn_confirm(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
		       struct adapter_result *res)
{
	const char *person = call->user_id ? call->user_id : "";
	char code[16], why[CONSENT_WHY_MAX];
	struct consent_info ci;
	enum consent_rc rc;
	long long id;

	if (cn_is_person(call, NULL, res) != 0 || cn_consent_id(in, &id, res) != 0 ||
	    cn_text(in, "code", code, sizeof(code), "the 6 digits the person received", res) != 0)
		return;
	person += strncmp(person, "KG", 2) == 0 ? 2 : 0;
	rc = consent_confirm(c->cs, id, person, code, time(NULL), &ci, why, sizeof(why));
	if (rc != CONSENT_OK)
		cn_fail(c, rc, why, res);
	else
		cn_answer_consent(&ci, res);
}

static void cn_withdraw(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
			struct adapter_result *res)
{
	char pin[PIN_LEN + 1], why[CONSENT_WHY_MAX];
	struct consent_info ci;
	enum consent_rc rc;
	long long id;

	if (cn_consent_id(in, &id, res) != 0 || cn_pin(in, "pin", pin, res) != 0 ||
	    cn_is_person(call, pin, res) != 0)
		return;
	rc = consent_withdraw(c->cs, id, pin, time(NULL), &ci, why, sizeof(why));
	if (rc != CONSENT_OK)
		cn_fail(c, rc, why, res);
	else
		cn_answer_consent(&ci, res);
}

static int cn_list_row(const struct consent_info *ci, void *arg)
{
	return json_array_append_new(arg, cn_consent_json(ci)) != 0;
}

/* {"pin", "count", "more", KEY: [...]}, the array filled by the caller. */
static json_t *cn_list_answer(const char *pin, const char *key, json_t **arr)
{
	json_t *o = json_pack("{s:s,s:i,s:b,s:[]}", "pin", pin, "count", 0, "more", 0, key);

	*arr = o ? json_object_get(o, key) : NULL;
	return o;
}

static int cn_list_finish(json_t *o, json_t *arr, int more)
{
	return json_object_set_new(o, "count", json_integer((json_int_t)json_array_size(arr))) |
	       json_object_set_new(o, "more", json_boolean(more));
}

static void cn_consents(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
			struct adapter_result *res)
{
	char pin[PIN_LEN + 1], why[CONSENT_WHY_MAX];
	enum consent_rc rc;
	json_t *arr = NULL;
	int more = 0;

	if (cn_pin(in, "pin", pin, res) != 0 || cn_is_person(call, pin, res) != 0)
		return;
	if ((res->data = cn_list_answer(pin, "consents", &arr)) == NULL) {
		adapter_result_oom(res);
		return;
	}
	rc = consent_list(c->cs, pin, time(NULL), cn_list_row, arr, &more, why, sizeof(why));
	if (rc != CONSENT_OK) {
		cn_fail(c, rc, why, res);
	} else if (cn_list_finish(res->data, arr, more) != 0) {
		adapter_result_oom(res);
	}
}

/* ---- who saw my data -------------------------------------------------------- */

static long long cn_day_ms(long day)
{
	struct tm tm;
	int y, m, d;

	params_civil_from_days(day, &y, &m, &d);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_isdst = -1;   /* local midnight, whatever the season */
	return (long long)mktime(&tm) * 1000;
}

static int cn_access_row(const struct accesslog_entry *e, void *arg)
{
	json_t *o = json_pack("{s:o,s:s,s:s,s:s,s:o,s:o,s:s,s:o}",
			      "time", cn_time((time_t)(e->time_ms / 1000)), "client", e->client,
			      "service", e->service, "message_id", e->message_id,
			      "purpose", cn_or_null(e->purpose),
			      "consent_id", e->consent_id ? json_integer((json_int_t)e->consent_id) : json_null(),
			      "outcome", e->outcome == ACCESSLOG_REFUSED ? "refused" : "answered",
			      "reason", cn_or_null(e->reason));

	return json_array_append_new(arg, o) != 0;
}

/* from and to (inclusive), default the last 365 days. 0 or -1 with res. */
static int cn_range(json_t *in, struct params_day *from, struct params_day *to, struct adapter_result *res)
{
	struct params_day today;
	char why[160];

	params_today(NULL, &today);
	if (params_date_arg(in, "to", 0, &today, to, why, sizeof(why)) != 0 ||
	    params_date_arg(in, "from", 0, &today, from, why, sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return -1;
	}
	if (params_str(in, "from") == NULL || params_str(in, "from")[0] == '\0') {
		from->days = to->days - CN_REPORT_DAYS_DEFAULT;
		params_date_format(from->days, from->iso);
	}
	if (from->days > to->days) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "from %s is after to %s", from->iso, to->iso);
		return -1;
	}
	return 0;
}

static void cn_report(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
		      struct adapter_result *res)
{
	char pin[PIN_LEN + 1], why[1024];
	struct params_day from, to;
	json_t *arr = NULL;
	int more = 0;

	if (cn_pin(in, "pin", pin, res) != 0 || cn_is_person(call, pin, res) != 0 ||
	    cn_range(in, &from, &to, res) != 0)
		return;
	res->data = json_pack("{s:s,s:s,s:s,s:i,s:b,s:[]}", "pin", pin, "from", from.iso, "to", to.iso,
			      "count", 0, "more", 0, "accesses");
	if ((arr = json_object_get(res->data, "accesses")) == NULL) {
		adapter_result_oom(res);
		return;
	}
	if (accesslog_report(c->al, pin, cn_day_ms(from.days), cn_day_ms(to.days + 1), 0, cn_access_row,
			     arr, &more, why, sizeof(why)) != 0) {
		cn_fail(c, CONSENT_ERR_DB, why, res);
	} else if (cn_list_finish(res->data, arr, more) != 0) {
		adapter_result_oom(res);
	}
}

/* ---- the ops table -------------------------------------------------------- */

typedef void (*cn_fn)(struct cn_ctx *c, const struct adapter_call *call, json_t *in,
		      struct adapter_result *res);

static const char *const cn_no_params[] = { NULL };
static const char *const cn_pin_params[] = { "pin", NULL };

static const struct adapter_service cn_services[] = {
	{ "consent-request", "POST", cn_no_params,
	  "A bank asks a person's consent (pin, purpose, end_date); the person gets a one-time code" },
	{ "consent-confirm", "POST", cn_no_params,
	  "The person confirms a consent with the code (consent_id, code; X-Road-UserId: the person)" },
	{ "consents", "GET", cn_pin_params, "The person's consents with their status" },
	{ "consent-withdraw", "POST", cn_no_params, "The person withdraws a consent (consent_id, pin)" },
	{ "data-access-report", "GET", cn_pin_params,
	  "Who queried the person's data: client, service, time, purpose, answered or refused" },
};

static const cn_fn cn_handlers[] = { cn_request, cn_confirm, cn_consents, cn_withdraw, cn_report };

_Static_assert(sizeof(cn_services) / sizeof(cn_services[0]) ==
	       sizeof(cn_handlers) / sizeof(cn_handlers[0]), "one handler per service");

#define CN_N_SERVICES (sizeof(cn_services) / sizeof(cn_services[0]))

/* GET services answer GET (REST) or POST (SOAP); the others POST only. */
static int cn_method_ok(const struct adapter_service *s, const char *method)
{
	if (method == NULL || strcmp(method, "POST") == 0)
		return 1;
	return strcmp(s->method, "GET") == 0 && strcmp(method, "GET") == 0;
}

static void cn_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct cn_ctx *c = vctx;
	struct adapter_result res;
	json_t *in = NULL;
	size_t i;

	memset(&res, 0, sizeof(res));
	c->reqid = call->message_id;
	for (i = 0; i < CN_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, cn_services[i].code) == 0)
			break;
	if (i == CN_N_SERVICES)
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the consent register has no such service");
	else if (!cn_method_ok(&cn_services[i], call->method))
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers %s", cn_services[i].code,
				     strcmp(cn_services[i].method, "GET") == 0 ? "GET (REST) or POST (SOAP)"
									     : "POST");
	else if (cn_input(call, &in, &res) == 0)
		cn_handlers[i](c, call, in, &res);
	json_decref(in);
	c->reqid = NULL;
	done(&res, arg);
}

/* otp_channel and code_ttl_seconds of [adapter.consent]. 0 or -1 with *err. */
static int cn_config(struct cn_ctx *c, char **err)
{
	const char *ttl = c->host.config ? c->host.config(c->host.ctx, "code_ttl_seconds") : NULL;
	const char *spec = c->host.config ? c->host.config(c->host.ctx, "otp_channel") : NULL;
	char *e = NULL, *end;
	long v;

	if (consent_otp_new(spec, &c->otp, &e) != 0) {
		if (asprintf(err, "[adapter.consent] %s", e ? e : "otp_channel: out of memory") < 0)
			*err = NULL;
		free(e);
		return -1;
	}
	if (ttl == NULL || ttl[0] == '\0')
		return 0;
	v = strtol(ttl, &end, 10);
	if (*end != '\0' || v < 30 || v > CONSENT_CODE_TTL_MAX ||
	    (c->cs && consent_store_set_code_ttl(c->cs, (int)v) != 0)) {
		if (asprintf(err, "[adapter.consent] code_ttl_seconds: '%.32s' is not a number of seconds "
			     "30..%d", ttl, CONSENT_CODE_TTL_MAX) < 0)
			*err = NULL;
		return -1;
	}
	return 0;
}

static void cn_free(void *vctx)
{
	struct cn_ctx *c = vctx;

	if (c == NULL)
		return;
	consent_store_close(&c->cs);
	accesslog_close(&c->al);
	consent_otp_free(&c->otp);
	free(c);
}

/* The stores under data_dir; a file that cannot be opened now is logged,
 * not fatal (calls retry). 0, or -1 with *err. */
static int cn_open(struct cn_ctx *c, char **err)
{
	const char *dir = c->host.data_dir ? c->host.data_dir : ".";
	char path[CN_PATH_MAX], *e = NULL;

	if (strlen(dir) + sizeof(ACCESSLOG_FILE) + 1 >= sizeof(path)) {
		*err = strdup("[adapter.consent] data_dir: path too long");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/" CONSENT_FILE, dir);
	if (consent_store_open(path, &c->cs, &e) != 0) {
		*err = e;
		return -1;
	}
	if (e != NULL)
		cn_log(c, ADAPTER_LOG_ERROR, "consent register unavailable", e);
	free(e);
	e = NULL;
	snprintf(path, sizeof(path), "%s/" ACCESSLOG_FILE, dir);
	if (accesslog_open(path, &c->al, &e) != 0) {
		*err = e;
		return -1;
	}
	if (e != NULL)
		cn_log(c, ADAPTER_LOG_ERROR, "access log unavailable", e);
	free(e);
	return 0;
}

static int cn_init(const struct adapter_host *host, void **vctx, char **err)
{
	struct cn_ctx *c = calloc(1, sizeof(*c));

	*vctx = NULL;
	*err = NULL;
	if (c == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	c->host = *host;
	if ((!host->check_only && cn_open(c, err) != 0) || cn_config(c, err) != 0) {
		cn_free(c);
		return -1;
	}
	*vctx = c;
	return 0;
}

const struct adapter_ops consent_adapter = {
	.name = "consent",
	.services = cn_services,
	.n_services = CN_N_SERVICES,
	.init = cn_init,
	.handle = cn_handle,
	.free = cn_free,
};
