/* The access log: "who saw my data" (issue 5, personal data law No.58).
 *
 * One row per query about a person: which person (the subject, a PIN), when,
 * who asked (client subsystem), which service, the exchange's message id,
 * why (the X-Road-Issue the client sent, else the purpose of the consent it
 * was answered under), and the outcome: answered (the query was passed to
 * the service, whatever the service then said) or refused (with the reason
 * the client was given). It records who asked, never the data: no request
 * or response body, no other parameter than the person's PIN.
 *
 * The pipeline records a row for every call of a service whose global
 * configuration names a subjectParam (consent.h, consent_gate_check); the
 * person fetches their rows through the consent adapter's
 * data-access-report/{pin} (adapters/consent).
 *
 * Storage: an SQLite file (<data_dir>/accesslog.db), WAL, synchronous=NORMAL:
 * accesslog_record is one prepared INSERT in its own transaction, which in
 * WAL mode appends to the WAL without an fsync (a power cut may lose the last
 * records; a crash of the process does not). Under load the pipeline takes
 * the records of one event-loop turn with accesslog_add and writes them in
 * one transaction (accesslog_flush) before any of those calls reaches its
 * service: a record per transaction cost ~15 % of the signed exchange's
 * throughput (ops/bench/RESULTS.md). Several connections (one per worker thread and the adapter's) share
 * the file; a writer waits at most busy_ms for another writer's lock. The
 * API names no SQLite type, so a PostgreSQL version can implement the same
 * calls. */
#ifndef AILGATE_STORE_ACCESSLOG_H
#define AILGATE_STORE_ACCESSLOG_H

#include <sqlite3.h>
#include <stddef.h>

#define ACCESSLOG_FILE "accesslog.db"   /* under the gateway's data_dir */
#define ACCESSLOG_SUBJECT_MAX 32        /* bytes of a subject (a PIN is 14) */
#define ACCESSLOG_ID_MAX 512            /* client and service ids */
#define ACCESSLOG_MSGID_MAX 256         /* message id */
#define ACCESSLOG_PURPOSE_MAX 1024      /* purpose / issue; longer is cut (UTF-8 safe) */
#define ACCESSLOG_REASON_MAX 512        /* refusal reason; longer is cut */
#define ACCESSLOG_REPORT_MAX 1000       /* rows of one report */
#define ACCESSLOG_BUSY_MS 500           /* callers run on an event loop: short waits */
#define ACCESSLOG_PENDING_MAX 1024      /* records accesslog_add holds for one flush */

enum accesslog_outcome { ACCESSLOG_ANSWERED = 0, ACCESSLOG_REFUSED = 1 };

/* One query about a person, as recorded (strings borrowed for the call). */
struct accesslog_record {
	const char *subject;         /* the person's PIN: 1..32 bytes, required */
	long long time_ms;           /* Unix time in ms; 0: now */
	const char *client;          /* "INST/CLASS/CODE/SUB" of the caller, required */
	const char *service;         /* "INST/CLASS/CODE/SUB/code[/version]", required */
	const char *message_id;      /* the exchange's id, or NULL */
	const char *purpose;         /* what the person is shown (consent.c gate_purpose), or NULL */
	long long consent_id;        /* the consent it was answered (or refused) under, 0 none */
	enum accesslog_outcome outcome;
	const char *reason;          /* why it was refused, or NULL */
};

/* One row of a report (copied out; valid during the callback only). */
struct accesslog_entry {
	long long id;
	long long time_ms;
	char client[ACCESSLOG_ID_MAX];
	char service[ACCESSLOG_ID_MAX];
	char message_id[ACCESSLOG_MSGID_MAX];
	char purpose[ACCESSLOG_PURPOSE_MAX];
	long long consent_id;        /* 0 if none */
	enum accesslog_outcome outcome;
	char reason[ACCESSLOG_REASON_MAX];
};

struct accesslog;

/* Opens (creating it if new) the access log at path; path is copied. A file
 * that cannot be opened now is not an error: *out is returned closed and
 * every call tries to open it again (the reason is in *err when err is not
 * NULL, caller frees). -1 only for bad arguments or out of memory, with
 * *err. Free with accesslog_close. One per thread: the handle is not
 * thread-safe; several handles (threads, processes) may share the file. */
int accesslog_open(const char *path, struct accesslog **out, char **err)
	__attribute__((warn_unused_result));

/* Closes and frees *log; sets *log to NULL. NULL is fine. */
void accesslog_close(struct accesslog **log);

/* Appends one record. 0, or -1 with a sentence for the operator in
 * why[whylen] (missing subject/client/service, subject longer than 32 bytes,
 * the file unavailable). Over-long optional texts are cut, not refused: a
 * record is never lost because a client sent a long issue. */
int accesslog_record(struct accesslog *log, const struct accesslog_record *r, char *why,
		     size_t whylen) __attribute__((warn_unused_result));

/* Takes one record to be written by the next accesslog_flush (the time is
 * taken now when r->time_ms is 0; the texts are copied). 0, or -1 with why:
 * the checks of accesslog_record, out of memory, or ACCESSLOG_PENDING_MAX
 * records already waiting. Records still waiting at accesslog_close are
 * flushed then. */
int accesslog_add(struct accesslog *log, const struct accesslog_record *r, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* Writes every record accesslog_add took, in one transaction: 0 when all
 * are stored (or none waited), or -1 with why when none is - the records
 * are dropped either way, so a caller that gets -1 must not answer the
 * queries they describe (their callers get an error instead, as with a
 * failed accesslog_record). accesslog_record does not write waiting
 * records. */
int accesslog_flush(struct accesslog *log, char *why, size_t whylen) __attribute__((warn_unused_result));

/* Drops the records accesslog_add holds, unwritten. */
void accesslog_discard(struct accesslog *log);

/* Records accesslog_add holds (0 for NULL). */
size_t accesslog_pending(const struct accesslog *log);

/* Called once per row, newest first. Return 0 to go on, non-zero to stop. */
typedef int (*accesslog_row_fn)(const struct accesslog_entry *e, void *arg);

/* The subject's records with from_ms <= time < to_ms, newest first, at most
 * limit rows (1..ACCESSLOG_REPORT_MAX; 0 means the maximum); *more is set to
 * 1 when there were more rows than that (more may be NULL). 0, or -1 with
 * why. */
int accesslog_report(struct accesslog *log, const char *subject, long long from_ms, long long to_ms,
		     size_t limit, accesslog_row_fn fn, void *arg, int *more, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* ---- shared with consent.c: the small SQLite stores of personal data ---- */

/* What one store file is. */
struct accesslog_db_spec {
	const char *path;
	const char *kind;            /* in messages: "an ailgate access log" */
	int application_id;          /* PRAGMA application_id of our files */
	const char *schema;          /* CREATE statements, run once on a new file */
	const char *pragmas;         /* after journal_mode=WAL, e.g. "PRAGMA synchronous=NORMAL" */
	int busy_ms;
};

/* Opens spec->path in WAL mode, creates the schema inside BEGIN IMMEDIATE
 * when the file is new (so concurrent openers create it once), and refuses a
 * file that has tables but another application_id (someone else's
 * database). 0 with *db (close with sqlite3_close), or -1 with why set and
 * *db NULL. */
int accesslog_db_open(const struct accesslog_db_spec *spec, sqlite3 **db, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* 1 if an SQLite result code says the file itself is broken or gone (the
 * connection should be closed and opened again on the next call). */
int accesslog_db_broken(int rc);

/* Copies at most cap - 1 bytes of s (NULL: "") into out, never cutting a
 * UTF-8 sequence in two. */
void accesslog_copy_utf8(char *out, size_t cap, const char *s);

#endif
