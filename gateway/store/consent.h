/* Consents of persons for banks (issue 5; personal data law No.58: a bank
 * gets a person's data only with the person's consent).
 *
 * Three parts:
 *   store    a bank asks (PIN, purpose, end date) -> a pending consent and a
 *            6-digit one-time code sent to the person; the person confirms the
 *            code -> active; the person lists and withdraws their consents;
 *            consent_check says whether a bank may have a person's data now,
 *            and if not, why, in words the bank can pass on
 *   otp      the channel that delivers the code (console, file; an SMS
 *            gateway later): an ops table
 *   gate     the one call the provider pipeline makes for a service whose
 *            global configuration names a subjectParam: consent check (when
 *            consentRequiredFor names the caller's class) and the access-log
 *            record (accesslog.h), answered or refused
 *
 * Life of a consent (status as reported; only the first four are stored):
 *   pending   asked, code sent, not confirmed; the code holds code_ttl
 *             seconds (default 300) and 5 attempts
 *   active    confirmed; allows the bank's queries through end_date inclusive
 *   withdrawn by the person (pending or active); never allows again
 *   void      never confirmed: the code expired, 5 wrong codes, or it could not
 *             be delivered
 *   expired   was active, end_date has passed (computed, not stored)
 * A consent is given to a member (the bank, "CLASS/CODE"): every subsystem of
 * the bank may use it; the asking subsystem is recorded.
 *
 * The code is never stored: only SHA-256(salt || code) with a random 16-byte
 * salt, cleared when the consent leaves "pending". Five wrong codes void the
 * request; at most CONSENT_PENDING_MAX unconfirmed requests per bank and
 * person are open at once, so a bank cannot flood a person with codes.
 *
 * Storage: <data_dir>/consent.db, SQLite, WAL, synchronous=FULL (a
 * withdrawal that a power cut forgot would let the bank in again). The
 * consent adapter (adapters/consent: the services of the bank and the
 * portal) and the gateway's enforcement open the same file by that path, so
 * consents are enforced on the gateway that hosts the consent service
 * (several gateways sharing consents need a shared store: a PostgreSQL
 * version of these calls). Every call is a few indexed statements on a
 * local file, made on the caller's thread (the adapters' rule); handles are
 * per thread. "Today" is the gateway's local date.
 *
 * Errors: functions return enum consent_rc and write a sentence for a person
 * into why (what is wrong, and what they can do). */
#ifndef AILGATE_STORE_CONSENT_H
#define AILGATE_STORE_CONSENT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "store/accesslog.h"

#define CONSENT_FILE "consent.db"         /* under the gateway's data_dir */
#define CONSENT_PURPOSE_CHARS 200         /* purpose: 1..200 characters */
#define CONSENT_PURPOSE_BYTES (4 * CONSENT_PURPOSE_CHARS + 1)
#define CONSENT_DAYS_MAX 366              /* end date at most this many days after today */
#define CONSENT_CODE_TTL_DEFAULT 300      /* seconds a code holds */
#define CONSENT_CODE_TTL_MAX 3600
#define CONSENT_ATTEMPTS_MAX 5            /* wrong codes before the request is void */
#define CONSENT_PENDING_MAX 3             /* open requests per bank and person */
#define CONSENT_LIST_MAX 200              /* consents in one list */
#define CONSENT_SUBJECT_MAX 32            /* bytes of a subject (a PIN is 14) */
#define CONSENT_MEMBER_MAX 256            /* "CLASS/CODE" */
#define CONSENT_SUBSYSTEM_MAX 128
#define CONSENT_WHY_MAX 512               /* a refusal reason, with the NUL */
#define CONSENT_BUSY_MS 500               /* wait for another writer at most this long */

enum consent_status {
	CONSENT_PENDING = 0,
	CONSENT_ACTIVE,
	CONSENT_WITHDRAWN,
	CONSENT_EXPIRED,
	CONSENT_VOID,
};

/* "pending", "active", "withdrawn", "expired", "void". */
const char *consent_status_name(enum consent_status s);

enum consent_rc {
	CONSENT_OK = 0,
	CONSENT_ERR_INPUT,       /* a value is wrong (why says which and how) */
	CONSENT_ERR_NOT_FOUND,   /* no such consent of this person */
	CONSENT_ERR_STATE,       /* not possible now (already withdrawn, void, too many open requests) */
	CONSENT_ERR_CODE,        /* wrong code; why says how many attempts are left */
	CONSENT_ERR_DELIVERY,    /* the code could not be sent: the request is void */
	CONSENT_ERR_DB,          /* the store cannot be used now (why: for the operator) */
};

/* One consent as reported (copied out). */
struct consent_info {
	long long id;
	char member[CONSENT_MEMBER_MAX];         /* the bank: "CLASS/CODE" */
	char subsystem[CONSENT_SUBSYSTEM_MAX];   /* that asked, "" if not given */
	char subject[CONSENT_SUBJECT_MAX + 1];   /* the person's PIN */
	char purpose[CONSENT_PURPOSE_BYTES];
	char end_date[11];                       /* YYYY-MM-DD, last day it holds */
	enum consent_status status;              /* as of the call's `now` */
	char void_reason[64];                    /* for CONSENT_VOID, else "" */
	time_t requested_at;
	time_t code_expires_at;
	time_t confirmed_at;                     /* 0 if never */
	time_t withdrawn_at;                     /* 0 if not */
	int attempts_left;                       /* for a pending consent */
};

/* ---- the one-time code channel -------------------------------------------- */

/* Delivers a code to the person. send must not block the event loop for
 * long: a channel that talks to a network (an SMS gateway) queues the message
 * and returns. 0, or -1 with *err (caller frees; may stay NULL). */
struct otp_channel {
	const char *kind;            /* "console", "file": where codes go, for answers */
	void *ctx;
	int (*send)(void *ctx, const char *pin, const char *consent_id, const char *code,
		    const char *bank_name, char **err);
	void (*free)(void *ctx);
};

/* A channel from its configuration ([adapter.consent] otp_channel):
 *   "console" (also NULL or ""): one line on the gateway's stderr, what a demo
 *       user watches: "OTP for consent 42 to person 21205197500417: 123456
 *       (bank COM/60000001)"
 *   "file:/path": appends one JSON line per code to /path (created 0600):
 *       {"time": "...", "consent_id": "42", "pin": "...", "code": "123456",
 *        "bank": "..."} - what tests read
 * 0 with *out (free with consent_otp_free), or -1 with *err (caller frees). */
int consent_otp_new(const char *spec, struct otp_channel **out, char **err)
	__attribute__((warn_unused_result));
void consent_otp_free(struct otp_channel **ch);   /* NULL is fine; sets *ch NULL */

/* ---- the store -------------------------------------------------------------- */

struct consent_store;

/* Opens path (creating it if new); path is copied. A file that cannot be
 * opened now is not an error: every call retries, and *err (caller frees)
 * says why it failed this time. -1 only for bad arguments / out of memory.
 * One handle per thread. */
int consent_store_open(const char *path, struct consent_store **out, char **err)
	__attribute__((warn_unused_result));
void consent_store_close(struct consent_store **s);   /* NULL is fine; sets *s NULL */

/* How long new codes hold, 30..CONSENT_CODE_TTL_MAX seconds. 0, or -1 if out of range. */
int consent_store_set_code_ttl(struct consent_store *s, int seconds);

/* What a bank asks for (strings borrowed for the call). */
struct consent_ask {
	const char *member;          /* "CLASS/CODE" of the bank (the caller's member) */
	const char *subsystem;       /* the asking subsystem, or NULL */
	const char *subject;         /* the person's PIN (the caller checks its form) */
	const char *purpose;         /* 1..200 characters, no control characters */
	const char *end_date;        /* YYYY-MM-DD: after today, at most 366 days on */
	const char *bank_name;       /* in the code message; NULL: member */
};

/* Records a pending consent and sends its code through ch. CONSENT_OK with
 * *out; INPUT (why names the field); STATE (too many open requests);
 * DELIVERY (the request is kept as void: "the code could not be delivered");
 * DB. */
enum consent_rc consent_request(struct consent_store *s, const struct consent_ask *a,
				const struct otp_channel *ch, time_t now, struct consent_info *out,
				char *why, size_t whylen) __attribute__((warn_unused_result));

/* The person confirms consent id with code. subject is the confirming person
 * (the portal's authenticated user): a consent of someone else is NOT_FOUND,
 * as one that does not exist. OK (active, *out); INPUT (code not 6 digits,
 * nothing counted); CODE (wrong, attempts left in why); STATE (not pending:
 * already active, withdrawn, expired, void - the fifth wrong code voids it
 * and answers STATE); NOT_FOUND; DB. out may be NULL. */
enum consent_rc consent_confirm(struct consent_store *s, long long id, const char *subject,
				const char *code, time_t now, struct consent_info *out, char *why,
				size_t whylen) __attribute__((warn_unused_result));

/* The person (subject must be the consent's) withdraws a pending or active
 * consent. OK (*out: withdrawn); STATE (already withdrawn, expired or void);
 * NOT_FOUND; DB. out may be NULL. */
enum consent_rc consent_withdraw(struct consent_store *s, long long id, const char *subject, time_t now,
				 struct consent_info *out, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* Called once per consent; return 0 to go on, non-zero to stop. */
typedef int (*consent_row_fn)(const struct consent_info *c, void *arg);

/* Every consent of subject, newest first, with its status as of now; at most
 * CONSENT_LIST_MAX (*more = 1 when there are more; more may be NULL). OK or DB. */
enum consent_rc consent_list(struct consent_store *s, const char *subject, time_t now, consent_row_fn fn,
			     void *arg, int *more, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* What consent_check decided. */
struct consent_decision {
	int allowed;                 /* 1: an active consent covers today */
	long long id;                /* the consent used, or the one the refusal is about; 0 none */
	char purpose[CONSENT_PURPOSE_BYTES];   /* of that consent, "" if none */
	char why[CONSENT_WHY_MAX];   /* when refused, for the bank:
					"no consent of this person for BANK",
					"consent N withdrawn on DATE",
					"consent N ended on DATE",
					"consent N is not confirmed yet",
					"consent N was never confirmed (REASON)" */
};

/* May bank member ("CLASS/CODE"; bank_label names it in messages, NULL:
 * member) have subject's data now? The newest active consent in date wins;
 * without one, the reason is that of the newest consent. OK with *d, or DB
 * (why for the operator). */
enum consent_rc consent_check(struct consent_store *s, const char *member, const char *bank_label,
			      const char *subject, time_t now, struct consent_decision *d, char *why,
			      size_t whylen) __attribute__((warn_unused_result));

/* t as local time "2026-03-18T10:42:05+06:00" into out[32]; its local date
 * into out[11] with consent_format_date. */
void consent_format_time(time_t t, char out[32]);
void consent_format_date(time_t t, char out[11]);

/* ---- the gate: the provider pipeline's call ---------------------------------- */

/* Per worker thread: the consent store and the access log of one data_dir,
 * the same files the consent adapter uses. */
struct consent_gate;

/* A gate on <data_dir>/consent.db and <data_dir>/accesslog.db (data_dir is
 * copied). The files are opened (created if new) by the first check of a
 * service with a subjectParam, so a gateway that hosts none never creates
 * them; a file that cannot be opened makes checks answer -1 with the reason,
 * and each check tries again. 0 with *out, or -1 with *err (caller frees)
 * for a missing or too long data_dir, or out of memory. */
int consent_gate_open(const char *data_dir, struct consent_gate **out, char **err)
	__attribute__((warn_unused_result));
void consent_gate_close(struct consent_gate **g);   /* NULL is fine; sets *g NULL */

/* One call of a service, as the pipeline knows it (strings borrowed). */
struct consent_query {
	const char *subject_param;   /* svc->subject_param: "" or NULL = not about a person */
	int consent_required;        /* gconf_consent_required(svc, &client) */
	const char *client;          /* "INST/CLASS/CODE/SUB" (xrd_id_format_path) */
	const char *client_member;   /* "CLASS/CODE" of the client */
	const char *client_name;     /* the member's name in global configuration, or NULL */
	const char *service;         /* "INST/CLASS/CODE/SUB/code[/version]" */
	const json_t *params;        /* the request's parameters (name -> string) */
	const char *issue;           /* X-Road-Issue, or NULL/"" */
	const char *message_id;      /* the exchange's id */
	time_t now;                  /* 0: the clock */
	const char *for_user;        /* the client acts for a signed-in person (acl_acts_for_user):
					their X-Road-UserId ("" if none sent), and the call is
					answered only about that person; NULL: not such a client */
	char *consented;             /* out, CONSENT_SUBJECT_MAX + 1 bytes, or NULL: the
					person when the call is answered under their
					consent (consent_minimise the answer), else "" */
	int *deferred;               /* out, or NULL: set to 1 when the call's "answered" record
					was taken to be written by consent_gate_flush (the caller
					must flush before the service is called), else 0 */
};

/* The pipeline's check, after access rights and before the service is
 * called. The person is params[subject_param] (white space trimmed; 1..32
 * letters, digits or '-'):
 *   - no subject_param: 1 at once, nothing recorded;
 *   - consent not required: 1, recorded as answered (with no person named in
 *     the request: 1, nothing recorded - the service itself refuses it);
 *   - consent required: consent_check; 1 (recorded answered, with the
 *     consent id, and the consent's purpose when there is no issue) or 0
 *     (recorded refused; why[whylen] has the reason for the fault, e.g.
 *     "consent 42 withdrawn on 2026-03-18"); with no person named: 0,
 *     nothing recorded.
 *   -1: a store cannot be used (why for the operator); nothing was allowed.
 *     A failed access-log write is -1 too: a query that cannot be recorded
 *     is not answered.
 * Fault to send for 0: Server.ServerProxy.AccessDenied with why; for -1: a
 * database error (Server.ServerProxy.DatabaseError). */
int consent_gate_check(struct consent_gate *g, const struct consent_query *q, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* Writes the records consent_gate_check deferred (consent_query.deferred),
 * in one transaction: 0, or -1 with why (the operator's reason) when they
 * could not be written - none of those calls may then be answered (a
 * DatabaseError for each, as for -1 from the check). */
int consent_gate_flush(struct consent_gate *g, char *why, size_t whylen) __attribute__((warn_unused_result));
/* Drops the deferred records unwritten: their calls were never passed to
 * their services (a stopping worker). */
void consent_gate_discard(struct consent_gate *g);

/* A consent covers one person. An answer given under the consent of
 * subject (consent_query.consented) that also describes other people - a
 * household's members, say - keeps of every other person only what is not
 * personal: each JSON object with a "pin" other than subject's (a string or
 * null: a person without one) and a "first_name" or "last_name" has pin,
 * patronymic, birth_date, sex, document and registered_on set to null and
 * its names cut to their first letter and a dot ("Асель" -> "А."), the
 * relation and the rest left. The object of subject itself, and answers
 * without such objects, are unchanged. */
void consent_minimise(json_t *answer, const char *subject);

#endif
