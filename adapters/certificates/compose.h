/* compose: what each kind of certificate needs from which registry, and the
 * rules that turn the registries' answers into a certificate's content or
 * into a refusal a citizen understands.
 *
 * No I/O here: certificates.c runs the queries through the exchange and
 * hands the answers back. The flow for one request:
 *
 *   compose_plan(rq, ans, q, &n)    the queries that can be asked now (all of
 *                                   them independent: run them in parallel)
 *   ... run them, compose_answer_set(&ans[q.role], ...) for each ...
 *   compose_plan again              a second stage when a query needs an
 *                                   earlier answer (a household id for the
 *                                   utility debt); 0 queries: all asked
 *   compose_build(rq, ans, ...)     the content, or a refusal
 *
 * The rule that matters most (domain.md): never a certificate on missing or
 * stale data. Every answer a kind needs must be there, must be a success,
 * and must have the keys the content is made of; anything else is a refusal
 * with the reason (and, for stale veterinary data, the date of the last
 * update). A registry that cannot answer gives "try again later". */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_COMPOSE_H
#define AILGATE_ADAPTERS_CERTIFICATES_COMPOSE_H

#include "adapters/adapter.h"
#include "adapters/common/params.h"

#include <jansson.h>
#include <stddef.h>

enum compose_kind {
	CK_HOUSEHOLD = 0,        /* household composition */
	CK_RESIDENCE,            /* place of residence */
	CK_LIVESTOCK,            /* livestock holding */
	CK_PROPERTY,             /* land / property holding */
	CK_SOCIAL_CATEGORY,      /* social-category status */
	CK_NO_DEBT,              /* absence of utility debt */
	CK_EMPLOYMENT,           /* employment and length of service */
	CK_COUNT
};

/* The registries a certificate is composed from. */
enum compose_registry {
	CR_POPULATION = 0,       /* passport-service */
	CR_HOUSEHOLD,            /* sanaripaymak-service */
	CR_CADASTRE,             /* dkrpni-service */
	CR_VETERINARY,           /* vet-registry */
	CR_SOCIAL_PASSPORT,      /* social-passport */
	CR_E_KYZMAT,             /* e-kyzmat */
	CR_BILLING,              /* billing */
	CR_COUNT
};

/* What an answer is used for; one query per role and request. */
enum compose_role {
	CQ_IDENTITY = 0,         /* population: passportDataByPSN/{pin} */
	CQ_HOUSEHOLD,            /* household: family-members/{pin}, household-by-document/{c}/{d} */
	CQ_ADDRESS,              /* household: address-fact/{pin} */
	CQ_LIVESTOCK,            /* veterinary: livestock-by-owner/{pin}, livestock/{household} */
	CQ_PROPERTY,             /* cadastre: person-properties[-by-document] */
	CQ_CATEGORY,             /* social passport: category-status/{pin}/{category} */
	CQ_DEBT,                 /* billing: debt/{household} */
	CQ_EMPLOYEE,             /* e-kyzmat: employee/{pin} */
	CQ_SERVICE_LENGTH,       /* e-kyzmat: length-of-service/{pin} */
	CQ_COUNT
};

#define COMPOSE_KIND_MAX 32         /* longest kind code looked at */
#define COMPOSE_DOC_MAX 32          /* document numbers: 1-32 of A-Z 0-9 - */
#define COMPOSE_CATEGORY_MAX 32
#define COMPOSE_PATH_MAX 160
#define COMPOSE_MSG_MAX 480

struct compose_kind_info {
	const char *code;        /* "household-composition" (the `kind` parameter; the
				    kind codes of certdoc.h) */
	const char *title_ky;    /* the document's title */
	const char *title_ru;
	const char *title_en;
	const char *edocs_title; /* Russian, for the outgoing register: "Справка о составе семьи" */
	int by_document;         /* may be asked for a person without a PIN */
	int needs_category;      /* the `category` parameter is required */
	int takes_eni;           /* the `eni` parameter narrows it to one property */
};

/* The kind's description (static), or NULL for k out of range. */
const struct compose_kind_info *compose_kind_info(enum compose_kind k);

/* The kind named s (case-insensitive; '_' may stand for '-'; the short forms
 * "household", "residence", "livestock", "property", "debt", "employment"
 * ... are accepted too). 0, or -1. */
int compose_kind_parse(const char *s, enum compose_kind *out) __attribute__((warn_unused_result));

/* "household-composition, place-of-residence, ..." for messages (static). */
const char *compose_kind_list(void);

/* The registry in a citizen's sentence: "the population registry". */
const char *compose_registry_name(enum compose_registry r);

/* The key of the [adapter.certificates] configuration naming the registry's
 * subsystem ("population" ...) and its default ("central-server/GOV/70000005/
 * passport-service"). */
const char *compose_registry_key(enum compose_registry r);
const char *compose_registry_default(enum compose_registry r);

/* Who a certificate is about: a PIN, or a foreign citizen's document. */
struct compose_subject {
	char pin[16];                          /* 14 digits, or "" */
	char citizenship[4];                   /* ISO 3166-1 alpha-3, with document */
	char document[COMPOSE_DOC_MAX + 1];    /* upper case, or "" */
};

struct compose_request {
	enum compose_kind kind;
	struct compose_subject subject;
	char eni[24];                          /* canonical digits, or "" (property only) */
	char category[COMPOSE_CATEGORY_MAX + 1];  /* social category code, or "" */
	struct params_day today;               /* the day the certificate is issued */
	long vet_max_age_days;                 /* livestock data older than this is refused */
};

/* One query to run: GET SERVICE/PATH through the exchange, where SERVICE is
 * the registry's subsystem (configured) + "/" + service_code. */
struct compose_query {
	enum compose_role role;
	enum compose_registry registry;
	const char *service_code;              /* static: "family-members" */
	char path[COMPOSE_PATH_MAX];           /* "/21205197500417", percent-encoded */
};

/* How a query came back. */
enum compose_outcome {
	CA_NOT_ASKED = 0,        /* no query was made (yet) */
	CA_OK,                   /* 200 with a JSON object */
	CA_NOT_FOUND,            /* the registry's not_found */
	CA_NOT_IN_REGISTER,      /* the registry's not_in_register */
	CA_INVALID,              /* the registry refused the parameters (invalid_input) */
	CA_FAILED,               /* the registry's failed (e.g. a duplicate PIN), or an answer
				    we cannot read, or the exchange refused us (access rights) */
	CA_UNAVAILABLE,          /* registry_unavailable, no answer, a network error */
};

struct compose_answer {
	enum compose_outcome outcome;
	enum compose_registry registry;
	const char *service_code;              /* static, as asked */
	json_t *data;                          /* CA_OK: the answer object (owned) */
	char message[COMPOSE_MSG_MAX];         /* the registry's or the exchange's words */
	char message_id[80];                   /* the exchange's X-Road-Id */
	long http_status;
};

/* The queries to run now into q[cap] (cap >= CQ_COUNT is always enough):
 * those the kind needs, not asked yet (ans[role].outcome == CA_NOT_ASKED),
 * whose inputs are known. Marks nothing: the caller sets each answer. The
 * number of queries; 0 when nothing more can be asked. */
size_t compose_plan(const struct compose_request *rq, const struct compose_answer *ans,
		    struct compose_query *q, size_t cap);

/* Records how a query came back into a (which must be CA_NOT_ASKED or
 * freshly zeroed): ok and the HTTP status, the X-Road-Error header (NULL if
 * none), the body, the message id, errmsg when !ok. A 200 must be a JSON
 * object; a 4xx/5xx is read as the registry's {"error", "message"} or the
 * exchange's {"type", "message"}. Never fails: what cannot be read is
 * CA_FAILED with a reason. body is copied/parsed, not kept. */
void compose_answer_set(struct compose_answer *a, const struct compose_query *q, int ok, long status,
			const char *xroad_error, const unsigned char *body, size_t body_len,
			const char *message_id, const char *errmsg);

/* Frees the answers' data (n of them) and zeroes them. */
void compose_answers_free(struct compose_answer *ans, size_t n);

/* A refusal: the status the service answers with, and the sentence. */
struct compose_refusal {
	enum adapter_status status;
	char message[512];
};

/* The certificate's content from the answers: 0 with *content (caller owns):
 *   {"kind", "title_ky", "title_ru", "title_en",
 *    "subject": {"pin"|null, "citizenship", "document"|null, "name", "birth_date"|null},
 *    "facts": {...kind-specific, machine-readable...},
 *    "sections": [{"name", "title", "rows": [{"name", "label", "value"}, ...]}, ...],
 *    "sources": [{"registry", "service", "message_id"}, ...]}
 * or -1 with *why (nothing allocated). The answers are only read. */
int compose_build(const struct compose_request *rq, const struct compose_answer *ans,
		  json_t **content, struct compose_refusal *why) __attribute__((warn_unused_result));

#endif
