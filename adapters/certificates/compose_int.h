/* compose internals shared by compose.c (plan, answers, refusals, helpers)
 * and compose_kinds.c (the content of each kind). Not for other modules. */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_COMPOSE_INT_H
#define AILGATE_ADAPTERS_CERTIFICATES_COMPOSE_INT_H

#include "adapters/certificates/compose.h"

#include <jansson.h>
#include <stddef.h>

#define CB_NAME_MAX 320

/* The person a certificate is about, as the registries name them. */
struct cb_person {
	char last[96], first[96], patronymic[96];   /* "" when unknown / none */
	char name[CB_NAME_MAX];                     /* "Осмонов Бакыт Жумабекович" */
	char birth_date[11];                        /* "" when unknown */
	char citizenship[4];
	int known;                                  /* the fields above are set */
};

/* One build in progress: the answers read, the content being written. */
struct cb {
	const struct compose_request *rq;
	const struct compose_answer *ans;
	struct compose_refusal *why;
	json_t *facts;          /* owned by the content */
	json_t *sections;       /* owned by the content */
	struct cb_person who;
};

/* The kind builders (compose_kinds.c): 0, or -1 with b->why set. */
int cb_household(struct cb *b);
int cb_residence(struct cb *b);
int cb_livestock(struct cb *b);
int cb_property(struct cb *b);
int cb_social_category(struct cb *b);
int cb_no_debt(struct cb *b);
int cb_employment(struct cb *b);

/* ---- helpers (compose.c) ---------------------------------------------- */

/* Sets the refusal; returns -1 so that `return cb_refuse(...)` reads well. */
int cb_refuse(struct cb *b, enum adapter_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "out of memory" as a refusal (FAILED); -1. */
int cb_oom(struct cb *b);

/* The answer of role r is a success, else the refusal for it (what the
 * registry said, in a citizen's words). 0 or -1. */
int cb_need(struct cb *b, enum compose_role r);

/* Reading an answer: the value of key in o as the type asked. Anything else
 * is an answer the certificate cannot be made from (a partial answer):
 * -1 with the refusal naming the registry of role r and the key. The
 * _or_null forms accept JSON null too (*out NULL / -1 for ints). */
int cb_str(struct cb *b, enum compose_role r, const json_t *o, const char *key, const char **out);
int cb_str_or_null(struct cb *b, enum compose_role r, const json_t *o, const char *key,
		   const char **out);
int cb_int(struct cb *b, enum compose_role r, const json_t *o, const char *key, long long *out);
int cb_bool(struct cb *b, enum compose_role r, const json_t *o, const char *key, int *out);
int cb_obj(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out);
int cb_obj_or_null(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out);
int cb_arr(struct cb *b, enum compose_role r, const json_t *o, const char *key, json_t **out);

/* The identity of a PIN subject from the population registry into b->who:
 * exactly one person, alive. 0 or -1. */
int cb_identity(struct cb *b);

/* The subject from a household register member object (by document). */
int cb_person_from_member(struct cb *b, enum compose_role r, const json_t *m);

/* The registry of role r names the subject last/first: it must be the
 * person the population registry names (b->who), else a refusal. */
int cb_same_person(struct cb *b, enum compose_role r, const char *last, const char *first);

/* A new section {"name", "title", "rows": []} appended to the content
 * (name: a machine key, 1..64 of A-Z a-z 0-9 _ . -); its rows array
 * (borrowed) or NULL (out of memory: refusal set). */
json_t *cb_section(struct cb *b, const char *name, const char *title);

/* Appends {"name", "label", "value"} with a printf value (name as a
 * section's). 0, or -1 (refusal set). */
int cb_row(struct cb *b, json_t *rows, const char *name, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* facts[key] = v (stolen). 0, or -1 (refusal set). */
int cb_fact(struct cb *b, const char *key, json_t *v);

/* A copy of v, or json null for NULL (new reference). */
json_t *cb_copy(const json_t *v);

/* An address object of the registries ({"region", "district",
 * "ayil_okmotu", "village", "street", "house"[, "flat"]}) as one line into
 * out[cap]: the present parts, comma-separated, "house" after the street. */
void cb_address_line(const json_t *addr, char *out, size_t cap);

/* Household ids, account and document numbers from an answer: 1..32 of
 * A-Z a-z 0-9 '-', so they may go into a path unencoded. */
int cb_key_ok(const char *s);

#endif
