/* compose: the kinds of certificate, the queries each needs, how an answer
 * is read, and the refusals. The content of each kind is compose_kinds.c.
 * See compose.h for the flow. */
#include "adapters/certificates/compose.h"
#include "adapters/certificates/compose_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMPOSE_BODY_MAX (4u << 20)   /* a registry answer larger than this is not read */

/* ---- kinds and registries ---------------------------------------------- */

static const struct compose_kind_info kinds[CK_COUNT] = {
	[CK_HOUSEHOLD] = { "household-composition", "Үй-бүлөнүн курамы жөнүндө маалымкат",
			   "Справка о составе семьи", "Certificate of household composition",
			   "Справка о составе семьи", 1, 0, 0 },
	[CK_RESIDENCE] = { "place-of-residence", "Жашаган жери жөнүндө маалымкат",
			   "Справка с места жительства", "Certificate of place of residence",
			   "Справка с места жительства", 1, 0, 0 },
	[CK_LIVESTOCK] = { "livestock-holding", "Мал-жандыктарынын бар экендиги жөнүндө маалымкат",
			   "Справка о наличии скота", "Certificate of livestock holding",
			   "Справка о наличии скота", 1, 0, 0 },
	[CK_PROPERTY] = { "property-holding", "Кыймылсыз мүлкү жөнүндө маалымкат",
			  "Справка о наличии земельного участка и недвижимого имущества",
			  "Certificate of land and property holding",
			  "Справка о наличии земельного участка и недвижимого имущества", 1, 0, 1 },
	[CK_SOCIAL_CATEGORY] = { "social-category", "Социалдык категориясы жөнүндө маалымкат",
				 "Справка о принадлежности к социальной категории",
				 "Certificate of social-category status",
				 "Справка о принадлежности к социальной категории", 0, 1, 0 },
	[CK_NO_DEBT] = { "no-utility-debt", "Коммуналдык кызматтар үчүн карызы жок экендиги жөнүндө маалымкат",
			 "Справка об отсутствии задолженности за коммунальные услуги",
			 "Certificate of no utility debt",
			 "Справка об отсутствии задолженности за коммунальные услуги", 1, 0, 0 },
	[CK_EMPLOYMENT] = { "employment-record", "Иштеген жери жана эмгек стажы жөнүндө маалымкат",
			    "Справка с места работы и о стаже",
			    "Certificate of employment and length of service",
			    "Справка с места работы и о стаже", 0, 0, 0 },
};

static const struct {
	const char *alias;
	enum compose_kind kind;
} kind_aliases[] = {
	{ "household", CK_HOUSEHOLD },
	{ "residence", CK_RESIDENCE },
	{ "livestock", CK_LIVESTOCK },
	{ "property", CK_PROPERTY },
	{ "land", CK_PROPERTY },
	{ "debt", CK_NO_DEBT },
	{ "no-debt", CK_NO_DEBT },
	{ "employment", CK_EMPLOYMENT },
	{ "length-of-service", CK_EMPLOYMENT },
};

const struct compose_kind_info *compose_kind_info(enum compose_kind k)
{
	return (unsigned)k < CK_COUNT ? &kinds[k] : NULL;
}

int compose_kind_parse(const char *s, enum compose_kind *out)
{
	char norm[COMPOSE_KIND_MAX + 1];
	size_t n = s ? strnlen(s, COMPOSE_KIND_MAX + 1) : 0;

	if (n == 0 || n > COMPOSE_KIND_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		norm[i] = s[i] == '_' ? '-' : s[i];
	norm[n] = '\0';
	for (size_t i = 0; i < CK_COUNT; i++)
		if (strcasecmp(norm, kinds[i].code) == 0) {
			*out = (enum compose_kind)i;
			return 0;
		}
	for (size_t i = 0; i < sizeof(kind_aliases) / sizeof(kind_aliases[0]); i++)
		if (strcasecmp(norm, kind_aliases[i].alias) == 0) {
			*out = kind_aliases[i].kind;
			return 0;
		}
	return -1;
}

const char *compose_kind_list(void)
{
	return "household-composition, place-of-residence, livestock-holding, property-holding, "
	       "social-category, no-utility-debt, employment-record";
}

static const struct {
	const char *name, *key, *dflt;
} registries[CR_COUNT] = {
	[CR_POPULATION] = { "the population registry", "population",
			    "central-server/GOV/70000005/passport-service" },
	[CR_HOUSEHOLD] = { "the household register", "household",
			   "central-server/GOV/70000050/sanaripaymak-service" },
	[CR_CADASTRE] = { "the cadastre", "cadastre", "central-server/GOV/70000019/dkrpni-service" },
	[CR_VETERINARY] = { "the veterinary registry", "veterinary",
			    "central-server/GOV/70000031/vet-registry" },
	[CR_SOCIAL_PASSPORT] = { "the social passport", "social_passport",
				 "central-server/GOV/70000050/social-passport" },
	[CR_E_KYZMAT] = { "the personnel register e-kyzmat", "e_kyzmat",
			  "central-server/GOV/70000050/e-kyzmat" },
	[CR_BILLING] = { "utility billing", "billing", "central-server/GOV/70000050/billing" },
};

const char *compose_registry_name(enum compose_registry r)
{
	return (unsigned)r < CR_COUNT ? registries[r].name : "a registry";
}

const char *compose_registry_key(enum compose_registry r)
{
	return (unsigned)r < CR_COUNT ? registries[r].key : NULL;
}

const char *compose_registry_default(enum compose_registry r)
{
	return (unsigned)r < CR_COUNT ? registries[r].dflt : NULL;
}

/* ---- plan ---------------------------------------------------------------- */

#define ROLE(r) (1u << (r))

/* The roles each kind needs, for a subject with a PIN and by document (0:
 * the kind cannot be asked by document). Order of evaluation is the role
 * order: the identity first, so "no such person" wins over later details. */
static const unsigned needs_pin[CK_COUNT] = {
	[CK_HOUSEHOLD] = ROLE(CQ_IDENTITY) | ROLE(CQ_HOUSEHOLD),
	[CK_RESIDENCE] = ROLE(CQ_IDENTITY) | ROLE(CQ_ADDRESS),
	[CK_LIVESTOCK] = ROLE(CQ_IDENTITY) | ROLE(CQ_LIVESTOCK),
	[CK_PROPERTY] = ROLE(CQ_IDENTITY) | ROLE(CQ_PROPERTY),
	[CK_SOCIAL_CATEGORY] = ROLE(CQ_IDENTITY) | ROLE(CQ_CATEGORY),
	[CK_NO_DEBT] = ROLE(CQ_IDENTITY) | ROLE(CQ_HOUSEHOLD) | ROLE(CQ_DEBT),
	[CK_EMPLOYMENT] = ROLE(CQ_IDENTITY) | ROLE(CQ_EMPLOYEE) | ROLE(CQ_SERVICE_LENGTH),
};
static const unsigned needs_doc[CK_COUNT] = {
	[CK_HOUSEHOLD] = ROLE(CQ_HOUSEHOLD),
	[CK_RESIDENCE] = ROLE(CQ_HOUSEHOLD),
	[CK_LIVESTOCK] = ROLE(CQ_HOUSEHOLD) | ROLE(CQ_LIVESTOCK),
	[CK_PROPERTY] = ROLE(CQ_HOUSEHOLD) | ROLE(CQ_PROPERTY),
	[CK_NO_DEBT] = ROLE(CQ_HOUSEHOLD) | ROLE(CQ_DEBT),
};

static unsigned needs(const struct compose_request *rq)
{
	if ((unsigned)rq->kind >= CK_COUNT)
		return 0;
	return rq->subject.pin[0] ? needs_pin[rq->kind] : needs_doc[rq->kind];
}

/* The household id of the household answer, when it is a success. */
static const char *household_id(const struct compose_answer *ans)
{
	const char *id;

	if (ans[CQ_HOUSEHOLD].outcome != CA_OK)
		return NULL;
	id = json_string_value(json_object_get(ans[CQ_HOUSEHOLD].data, "household_id"));
	return id && cb_key_ok(id) ? id : NULL;
}

static void q_set(struct compose_query *q, enum compose_role role, enum compose_registry reg,
		  const char *code)
{
	q->role = role;
	q->registry = reg;
	q->service_code = code;
	q->path[0] = '\0';
}

/* The query of role r, or 0 when its input is not known (yet). The values
 * put into paths are checked by the caller (PIN, citizenship, document,
 * category) or by cb_key_ok (ids from answers): none needs encoding. */
static int q_make(const struct compose_request *rq, const struct compose_answer *ans,
		  enum compose_role r, struct compose_query *q)
{
	const struct compose_subject *s = &rq->subject;
	int pin = s->pin[0] != '\0';
	const char *hid;

	switch (r) {
	case CQ_IDENTITY:
		q_set(q, r, CR_POPULATION, "passportDataByPSN");
		snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		return 1;
	case CQ_HOUSEHOLD:
		if (pin) {
			q_set(q, r, CR_HOUSEHOLD, "family-members");
			snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		} else {
			q_set(q, r, CR_HOUSEHOLD, "household-by-document");
			snprintf(q->path, sizeof(q->path), "/%s/%s", s->citizenship, s->document);
		}
		return 1;
	case CQ_ADDRESS:
		q_set(q, r, CR_HOUSEHOLD, "address-fact");
		snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		return 1;
	case CQ_LIVESTOCK:
		if (pin) {
			q_set(q, r, CR_VETERINARY, "livestock-by-owner");
			snprintf(q->path, sizeof(q->path), "/%s", s->pin);
			return 1;
		}
		if ((hid = household_id(ans)) == NULL)
			return 0;
		q_set(q, r, CR_VETERINARY, "livestock");
		snprintf(q->path, sizeof(q->path), "/%s", hid);
		return 1;
	case CQ_PROPERTY:
		if (pin) {
			q_set(q, r, CR_CADASTRE, "person-properties");
			snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		} else {
			q_set(q, r, CR_CADASTRE, "person-properties-by-document");
			snprintf(q->path, sizeof(q->path), "/%s/%s", s->citizenship, s->document);
		}
		return 1;
	case CQ_CATEGORY:
		q_set(q, r, CR_SOCIAL_PASSPORT, "category-status");
		snprintf(q->path, sizeof(q->path), "/%s/%s", s->pin, rq->category);
		return 1;
	case CQ_DEBT:
		if ((hid = household_id(ans)) == NULL)
			return 0;
		q_set(q, r, CR_BILLING, "debt");
		snprintf(q->path, sizeof(q->path), "/%s", hid);
		return 1;
	case CQ_EMPLOYEE:
		q_set(q, r, CR_E_KYZMAT, "employee");
		snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		return 1;
	case CQ_SERVICE_LENGTH:
		q_set(q, r, CR_E_KYZMAT, "length-of-service");
		snprintf(q->path, sizeof(q->path), "/%s", s->pin);
		return 1;
	case CQ_COUNT:
		break;
	}
	return 0;
}

size_t compose_plan(const struct compose_request *rq, const struct compose_answer *ans,
		    struct compose_query *q, size_t cap)
{
	unsigned want = needs(rq);
	size_t n = 0;

	for (int r = 0; r < CQ_COUNT && n < cap; r++)
		if ((want & ROLE(r)) && ans[r].outcome == CA_NOT_ASKED &&
		    q_make(rq, ans, (enum compose_role)r, &q[n]))
			n++;
	return n;
}

/* ---- answers ------------------------------------------------------------- */

/* Copies src into dst[cap] for a sentence: control characters become
 * spaces, and a cut never splits a UTF-8 sequence. */
static void text_copy(char *dst, size_t cap, const char *src)
{
	size_t n = 0, k;

	if (!src)
		src = "";
	for (; src[n] && n + 1 < cap; n++)
		dst[n] = (unsigned char)src[n] < 0x20 ? ' ' : src[n];
	if (src[n] && ((unsigned char)src[n] & 0xC0) == 0x80) {
		/* cut inside a sequence: end before its lead byte */
		for (k = n; k > 0 && ((unsigned char)src[k] & 0xC0) == 0x80; k--)
			;
		n = k;
	}
	dst[n] = '\0';
}

/* "The household register" from "the household register". */
static const char *capital(const char *s, char *out, size_t cap)
{
	snprintf(out, cap, "%s", s);
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
	return out;
}

/* An error the exchange itself raised (X-Road-Error, or a {"type"} body):
 * a refusal of access or an unknown service will not go away by waiting. */
static enum compose_outcome exchange_outcome(const char *type)
{
	if (strncasecmp(type, "Client.", 7) == 0 || strstr(type, "AccessDenied") ||
	    strstr(type, "access_denied") || strstr(type, "UnknownService") ||
	    strstr(type, "UnknownMember") || strstr(type, "ServiceDisabled"))
		return CA_FAILED;
	return CA_UNAVAILABLE;
}

static enum compose_outcome error_outcome(const char *code, long status)
{
	static const struct {
		const char *code;
		enum compose_outcome o;
	} map[] = {
		{ "not_found", CA_NOT_FOUND },
		{ "not_in_register", CA_NOT_IN_REGISTER },
		{ "invalid_input", CA_INVALID },
		{ "registry_unavailable", CA_UNAVAILABLE },
		{ "failed", CA_FAILED },
	};

	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].o;
	return status >= 500 ? CA_UNAVAILABLE : CA_FAILED;
}

static void answer_error(struct compose_answer *a, long status, const char *xroad_error, json_t *body)
{
	const char *type = xroad_error, *msg = json_string_value(json_object_get(body, "message"));
	const char *code = json_string_value(json_object_get(body, "error"));

	if (!type)
		type = json_string_value(json_object_get(body, "type"));
	if (type && !code) {
		a->outcome = exchange_outcome(type);
		snprintf(a->message, sizeof(a->message), "the exchange answered %.80s", type);
		if (msg) {
			size_t n = strlen(a->message);
			snprintf(a->message + n, sizeof(a->message) - n, ": ");
			text_copy(a->message + n + 2, sizeof(a->message) - n - 2, msg);
		}
		return;
	}
	a->outcome = error_outcome(code, status);
	if (msg)
		text_copy(a->message, sizeof(a->message), msg);
	else
		snprintf(a->message, sizeof(a->message), "it answered HTTP %ld without a reason", status);
}

void compose_answer_set(struct compose_answer *a, const struct compose_query *q, int ok, long status,
			const char *xroad_error, const unsigned char *body, size_t body_len,
			const char *message_id, const char *errmsg)
{
	json_t *j = NULL;

	memset(a, 0, sizeof(*a));
	a->registry = q->registry;
	a->service_code = q->service_code;
	a->http_status = ok ? status : 0;
	snprintf(a->message_id, sizeof(a->message_id), "%s", message_id ? message_id : "");
	if (!ok) {
		a->outcome = CA_UNAVAILABLE;
		text_copy(a->message, sizeof(a->message), errmsg && errmsg[0] ? errmsg : "no answer");
		return;
	}
	if (body && body_len > 0 && body_len <= COMPOSE_BODY_MAX)
		j = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, NULL);
	if (status == 200 && !xroad_error) {
		if (json_is_object(j)) {
			a->outcome = CA_OK;
			a->data = j;
			return;
		}
		a->outcome = CA_FAILED;
		snprintf(a->message, sizeof(a->message), "its answer is not a JSON object");
	} else {
		answer_error(a, status, xroad_error, j);
	}
	json_decref(j);
}

void compose_answers_free(struct compose_answer *ans, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(ans[i].data);
		memset(&ans[i], 0, sizeof(ans[i]));
	}
}

/* ---- refusals ------------------------------------------------------------ */

int cb_refuse(struct cb *b, enum adapter_status st, const char *fmt, ...)
{
	va_list ap;

	b->why->status = st;
	va_start(ap, fmt);
	vsnprintf(b->why->message, sizeof(b->why->message), fmt, ap);
	va_end(ap);
	return -1;
}

int cb_oom(struct cb *b)
{
	return cb_refuse(b, ADAPTER_FAILED, "the certificate could not be composed (out of memory); "
			 "no certificate was issued, try again later");
}

/* Who the subject is, for sentences: "PIN 2120..." or "KAZ passport N12..". */
static const char *who_text(const struct compose_request *rq, char *out, size_t cap)
{
	if (rq->subject.pin[0])
		snprintf(out, cap, "PIN %s", rq->subject.pin);
	else
		snprintf(out, cap, "the %s document %s", rq->subject.citizenship, rq->subject.document);
	return out;
}

/* Not found / not in register, role by role: what it means for a citizen. */
static int refuse_missing(struct cb *b, enum compose_role r, const struct compose_answer *a)
{
	char who[64];
	const char *reg = compose_registry_name(a->registry);

	who_text(b->rq, who, sizeof(who));
	switch (r) {
	case CQ_IDENTITY:
		return cb_refuse(b, ADAPTER_NOT_FOUND, "The population registry has no person with %s; "
				 "check the number. No certificate was issued.", who);
	case CQ_HOUSEHOLD:
	case CQ_ADDRESS:
		if (a->outcome == CA_NOT_IN_REGISTER)
			return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "Your household has not been entered "
					 "in the household register yet (%s), so this certificate cannot be "
					 "issued; ask the ayil okmotu to enter it.", a->message);
		return cb_refuse(b, ADAPTER_NOT_FOUND, "You (%s) are not in the municipality's household "
				 "register, so this certificate cannot be issued; ask the ayil okmotu "
				 "to enter your household.", who);
	case CQ_LIVESTOCK:
		return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "The veterinary registry has no data on your "
				 "livestock: no holding has been entered for you (%s). A livestock "
				 "certificate is never issued on missing data; ask the veterinary service "
				 "to register your animals, then request it again.", who);
	case CQ_CATEGORY:
		return cb_refuse(b, ADAPTER_NOT_FOUND, "You (%s) are not among the municipality's "
				 "residents in the social passport, so no social-category certificate can "
				 "be issued.", who);
	case CQ_DEBT:
		return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "Utility billing has no record of your "
				 "household (%s), so the absence of utility debt cannot be certified; ask "
				 "the municipal enterprises.", a->message);
	case CQ_EMPLOYEE:
	case CQ_SERVICE_LENGTH:
		return cb_refuse(b, ADAPTER_NOT_FOUND, "The personnel register e-kyzmat has no record of "
				 "you (%s): you are not and have not been an employee of the "
				 "municipality, so no employment certificate can be issued.", who);
	default:
		return cb_refuse(b, a->outcome == CA_NOT_IN_REGISTER ? ADAPTER_NOT_IN_REGISTER :
				 ADAPTER_NOT_FOUND, "%s has no record of you (%s): %s. No certificate "
				 "was issued.", reg, who, a->message);
	}
}

int cb_need(struct cb *b, enum compose_role r)
{
	const struct compose_answer *a = &b->ans[r];
	const char *reg = compose_registry_name(a->registry);
	char big[64];

	switch (a->outcome) {
	case CA_OK:
		return 0;
	case CA_NOT_ASKED:
		return cb_refuse(b, ADAPTER_UNAVAILABLE, "Not every registry the certificate needs could "
				 "be asked, so no certificate was issued; try again later.");
	case CA_UNAVAILABLE:
		return cb_refuse(b, ADAPTER_UNAVAILABLE, "%s cannot answer now (%s), so no certificate "
				 "was issued; please try again later.", capital(reg, big, sizeof(big)),
				 a->message);
	case CA_INVALID:
		return cb_refuse(b, ADAPTER_INVALID_INPUT, "%s refused the request: %s",
				 capital(reg, big, sizeof(big)), a->message);
	case CA_FAILED:
		return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued: %s could not give a "
				 "usable answer (%s).", reg, a->message);
	case CA_NOT_FOUND:
	case CA_NOT_IN_REGISTER:
		return refuse_missing(b, r, a);
	}
	return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued (an answer in an unknown state).");
}

/* ---- reading answers ------------------------------------------------------ */

static int bad_key(struct cb *b, enum compose_role r, const char *key, const char *want)
{
	return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued: the answer of %s is incomplete "
			 "('%.40s' is not %s), and a certificate is never made from a partial answer.",
			 compose_registry_name(b->ans[r].registry), key, want);
}

int cb_str(struct cb *b, enum compose_role r, const json_t *o, const char *key, const char **out)
{
	*out = json_string_value(json_object_get(o, key));
	return *out ? 0 : bad_key(b, r, key, "a string");
}

int cb_str_or_null(struct cb *b, enum compose_role r, const json_t *o, const char *key,
		   const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = json_string_value(v);
	return *out || json_is_null(v) ? 0 : bad_key(b, r, key, "a string or null");
}

int cb_int(struct cb *b, enum compose_role r, const json_t *o, const char *key, long long *out)
{
	json_t *v = json_object_get(o, key);

	*out = json_is_integer(v) ? json_integer_value(v) : -1;
	return json_is_integer(v) ? 0 : bad_key(b, r, key, "a number");
}

int cb_bool(struct cb *b, enum compose_role r, const json_t *o, const char *key, int *out)
{
	json_t *v = json_object_get(o, key);

	*out = json_is_true(v);
	return json_is_boolean(v) ? 0 : bad_key(b, r, key, "true or false");
}

int cb_obj(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out)
{
	*out = json_object_get(o, key);
	return json_is_object(*out) ? 0 : bad_key(b, r, key, "an object");
}

int cb_obj_or_null(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out)
{
	json_t *v = json_object_get(o, key);

	*out = json_is_object(v) ? v : NULL;
	return *out || json_is_null(v) ? 0 : bad_key(b, r, key, "an object or null");
}

int cb_arr(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out)
{
	*out = json_object_get(o, key);
	return json_is_array(*out) ? 0 : bad_key(b, r, key, "a list");
}

int cb_key_ok(const char *s)
{
	size_t n = 0;

	for (; s && s[n] && n <= 32; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
			return 0;
	return n >= 1 && n <= 32;
}

/* ---- the person ------------------------------------------------------------ */

static void person_name(struct cb_person *p)
{
	snprintf(p->name, sizeof(p->name), "%s %s%s%s", p->last, p->first, p->patronymic[0] ? " " : "",
		 p->patronymic);
	p->known = 1;
}

int cb_identity(struct cb *b)
{
	const enum compose_role r = CQ_IDENTITY;
	const json_t *d;
	json_t *people, *p;
	const char *last, *first, *patr, *born, *cit, *died;
	int dup, alive;

	if (cb_need(b, r) != 0)
		return -1;
	d = b->ans[r].data;
	if (cb_bool(b, r, d, "duplicate_pin", &dup) || cb_arr(b, r, d, "person", &people))
		return -1;
	if (dup || json_array_size(people) != 1)
		return cb_refuse(b, ADAPTER_FAILED, "Your PIN %s is recorded for more than one person in "
				 "the population registry (a duplicate PIN from the 1990s), so a "
				 "certificate could not say whose data it holds. No certificate was issued; "
				 "the registry office has to resolve it.", b->rq->subject.pin);
	p = json_array_get(people, 0);
	if (cb_str(b, r, p, "surname", &last) || cb_str(b, r, p, "name", &first) ||
	    cb_str_or_null(b, r, p, "patronymic", &patr) || cb_str_or_null(b, r, p, "birth_date", &born) ||
	    cb_str(b, r, p, "citizenship", &cit) || cb_bool(b, r, p, "alive", &alive) ||
	    cb_str_or_null(b, r, p, "death_date", &died))
		return -1;
	if (!alive)
		return cb_refuse(b, ADAPTER_FAILED, "The population registry records the person with PIN "
				 "%s as deceased (%s); no certificate is issued about a deceased person "
				 "through this service. Ask the ayil okmotu.", b->rq->subject.pin,
				 died ? died : "date unknown");
	snprintf(b->who.last, sizeof(b->who.last), "%s", last);
	snprintf(b->who.first, sizeof(b->who.first), "%s", first);
	snprintf(b->who.patronymic, sizeof(b->who.patronymic), "%s", patr ? patr : "");
	snprintf(b->who.birth_date, sizeof(b->who.birth_date), "%s", born ? born : "");
	snprintf(b->who.citizenship, sizeof(b->who.citizenship), "%s", cit);
	person_name(&b->who);
	return 0;
}

int cb_person_from_member(struct cb *b, enum compose_role r, const json_t *m)
{
	const char *last, *first, *patr, *born, *cit;

	if (cb_str(b, r, m, "last_name", &last) || cb_str(b, r, m, "first_name", &first) ||
	    cb_str_or_null(b, r, m, "patronymic", &patr) || cb_str_or_null(b, r, m, "birth_date", &born) ||
	    cb_str(b, r, m, "citizenship", &cit))
		return -1;
	snprintf(b->who.last, sizeof(b->who.last), "%s", last);
	snprintf(b->who.first, sizeof(b->who.first), "%s", first);
	snprintf(b->who.patronymic, sizeof(b->who.patronymic), "%s", patr ? patr : "");
	snprintf(b->who.birth_date, sizeof(b->who.birth_date), "%s", born ? born : "");
	snprintf(b->who.citizenship, sizeof(b->who.citizenship), "%s", cit);
	person_name(&b->who);
	return 0;
}

int cb_same_person(struct cb *b, enum compose_role r, const char *last, const char *first)
{
	if (strcmp(last, b->who.last) == 0 && strcmp(first, b->who.first) == 0)
		return 0;
	return cb_refuse(b, ADAPTER_FAILED, "The population registry and %s disagree about the person "
			 "with PIN %s ('%.60s %.60s' and '%.60s %.60s'), so no certificate was issued; "
			 "ask the ayil okmotu to correct the record.",
			 compose_registry_name(b->ans[r].registry), b->rq->subject.pin, b->who.last,
			 b->who.first, last, first);
}

/* ---- content ---------------------------------------------------------------- */

json_t *cb_section(struct cb *b, const char *name, const char *title)
{
	json_t *rows = json_array(), *s = json_object();

	if (!rows || !s || json_object_set_new(s, "name", json_string(name)) != 0 ||
	    json_object_set_new(s, "title", json_string(title)) != 0 ||
	    json_object_set(s, "rows", rows) != 0 || json_array_append_new(b->sections, s) != 0) {
		json_decref(rows);
		json_decref(s);
		cb_oom(b);
		return NULL;
	}
	json_decref(rows);   /* the section holds it */
	return rows;
}

int cb_row(struct cb *b, json_t *rows, const char *name, const char *label, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	json_t *row;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	row = json_pack("{s:s,s:s,s:s}", "name", name, "label", label, "value", value);
	if (!row || json_array_append_new(rows, row) != 0)
		return cb_oom(b);
	return 0;
}

int cb_fact(struct cb *b, const char *key, json_t *v)
{
	if (!v || json_object_set_new(b->facts, key, v) != 0)
		return cb_oom(b);
	return 0;
}

json_t *cb_copy(const json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

void cb_address_line(const json_t *addr, char *out, size_t cap)
{
	static const char *const parts[] = { "region", "district", "ayil_okmotu", "village", "street" };
	const char *house = json_string_value(json_object_get(addr, "house"));
	const char *flat = json_string_value(json_object_get(addr, "flat"));
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && n < cap; i++) {
		const char *v = json_string_value(json_object_get(addr, parts[i]));
		if (v && v[0])
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", v);
	}
	if (house && house[0] && n < cap)
		n += (size_t)snprintf(out + n, cap - n, " %s", house);
	if (flat && flat[0] && n < cap)
		snprintf(out + n, cap - n, ", кв. %s", flat);
}

/* ---- build ------------------------------------------------------------------ */

static json_t *subject_json(const struct cb *b)
{
	const struct compose_subject *s = &b->rq->subject;

	return json_pack("{s:o,s:s,s:o,s:s,s:o}", "pin", s->pin[0] ? json_string(s->pin) : json_null(),
			 "citizenship", s->pin[0] ? (b->who.citizenship[0] ? b->who.citizenship : "KGZ") :
						    s->citizenship,
			 "document", s->document[0] ? json_string(s->document) : json_null(),
			 "name", b->who.name,
			 "birth_date", b->who.birth_date[0] ? json_string(b->who.birth_date) : json_null());
}

/* Every answer used, in role order: which exchange the content came from. */
static json_t *sources_json(const struct cb *b)
{
	json_t *arr = json_array(), *o;

	for (int r = 0; arr && r < CQ_COUNT; r++) {
		const struct compose_answer *a = &b->ans[r];
		if (a->outcome != CA_OK)
			continue;
		o = json_pack("{s:s,s:s,s:s}", "registry", compose_registry_key(a->registry), "service",
			      a->service_code ? a->service_code : "", "message_id", a->message_id);
		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int (*const builders[CK_COUNT])(struct cb *b) = {
	[CK_HOUSEHOLD] = cb_household,
	[CK_RESIDENCE] = cb_residence,
	[CK_LIVESTOCK] = cb_livestock,
	[CK_PROPERTY] = cb_property,
	[CK_SOCIAL_CATEGORY] = cb_social_category,
	[CK_NO_DEBT] = cb_no_debt,
	[CK_EMPLOYMENT] = cb_employment,
};

int compose_build(const struct compose_request *rq, const struct compose_answer *ans,
		  json_t **content, struct compose_refusal *why)
{
	struct cb b = { .rq = rq, .ans = ans, .why = why };
	const struct compose_kind_info *k = compose_kind_info(rq->kind);
	json_t *c = NULL, *subject = NULL, *sources = NULL;

	*content = NULL;
	memset(why, 0, sizeof(*why));
	if (!k || needs(rq) == 0)
		return cb_refuse(&b, ADAPTER_INVALID_INPUT, "This kind of certificate cannot be issued "
				 "for a person identified by a document; it needs a PIN.");
	b.facts = json_object();
	b.sections = json_array();
	if (!b.facts || !b.sections) {
		cb_oom(&b);
		goto fail;
	}
	if (builders[rq->kind](&b) != 0)
		goto fail;
	subject = subject_json(&b);
	sources = sources_json(&b);
	if (!subject || !sources) {
		cb_oom(&b);
		goto fail;
	}
	c = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "kind", k->code, "title_ky", k->title_ky,
		      "title_ru", k->title_ru, "title_en", k->title_en, "subject", subject, "facts",
		      b.facts, "sections", b.sections, "sources", sources);
	subject = sources = b.facts = b.sections = NULL;   /* stolen, even on failure */
	if (!c) {
		cb_oom(&b);
		return -1;
	}
	*content = c;
	return 0;
fail:
	json_decref(subject);
	json_decref(sources);
	json_decref(b.facts);
	json_decref(b.sections);
	return -1;
}
