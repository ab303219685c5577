/* docreg: the register of issued certificates (SQLite) and the verdict.
 *
 * One file under the data directory (e.g. DATA_DIR/certificates.db), WAL
 * mode, busy timeout: several workers and processes may use it at once.
 *   - numbers: docreg_next_number() allocates CODE-YEAR-NNNNNN atomically
 *     per issuer and year (one UPSERT ... RETURNING: two writers never get the
 *     same number; a number whose issuance then fails is a gap, never reused);
 *   - documents: number, kind, subject, purpose, issue time, validity,
 *     digest, the signed XML itself, the source message ids, status;
 *   - revocation by a clerk, with a reason, once;
 *   - the verdict for a number + digest (what the QR code carries) or for an
 *     uploaded XML: VALID, REVOKED (when, why), EXPIRED, NOT_ISSUED_HERE,
 *     TAMPERED.
 *
 * Every call does disk I/O and may wait for the busy timeout: call it from a
 * worker thread, never on an event loop. A struct docreg may be shared by
 * threads (calls serialise on its mutex); for parallel writers open one per
 * thread. */
#ifndef AILGATE_ADAPTERS_CERTIFICATES_DOCREG_H
#define AILGATE_ADAPTERS_CERTIFICATES_DOCREG_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "adapters/certificates/certdoc.h"
#include "lib/buf.h"
#include "trust/docsign.h"

struct docreg;
struct tsa_trust;

#define DOCREG_DEFAULT_BUSY_MS 5000
#define DOCREG_SUBJECT_MAX 48     /* "21205197500417" or "KAZ:N1234567" */
#define DOCREG_CLERK_MAX 128

enum docreg_rc {
	DOCREG_OK = 0,
	DOCREG_ERROR = -1,       /* the register failed (disk, busy, corrupt): *err says */
	DOCREG_NOT_FOUND = -2,   /* no document with that number */
	DOCREG_CONFLICT = -3,    /* already registered / already revoked / not allocated */
};

/* Opens (creating file and tables if needed) the register at path.
 * busy_ms 0: DOCREG_DEFAULT_BUSY_MS. Refuses a file that holds other tables
 * but not ours (another application's database). 0 with *out (docreg_close),
 * or -1 with *err (caller frees) naming the file. */
int docreg_open(const char *path, unsigned busy_ms, struct docreg **out, char **err)
	__attribute__((warn_unused_result));
/* Closes and sets *r to NULL. NULL-safe. */
void docreg_close(struct docreg **r);

/* The next number of issuer_code for year into out (CERTDOC_NUMBER_MAX).
 * DOCREG_OK, or DOCREG_ERROR with *err. */
int docreg_next_number(struct docreg *r, const char *issuer_code, int year, char *out,
		       size_t outlen, char **err) __attribute__((warn_unused_result));

/* Registers an issued document: d is its model (certdoc_parse of xml, or the
 * one it was rendered from), xml the exact issued bytes; the digest is
 * computed here. The number must have been allocated by this register.
 * DOCREG_OK; DOCREG_CONFLICT (number already registered or never
 * allocated) or DOCREG_ERROR, with *err. */
int docreg_store(struct docreg *r, const struct certdoc *d, const char *xml, size_t len,
		 char **err) __attribute__((warn_unused_result));

/* One registered document. */
struct docreg_entry {
	char number[CERTDOC_NUMBER_MAX];
	char issuer_code[XRD_PART_MAX];
	char kind[64];
	char subject_id[DOCREG_SUBJECT_MAX];          /* PIN, or CITIZENSHIP:DOCNUMBER */
	char subject_name[CERTDOC_TEXT_MAX + 1];
	char purpose[CERTDOC_TEXT_MAX + 1];
	time_t issued_at, valid_until;
	char digest[CERTDOC_DIGEST_HEX];
	int revoked;
	time_t revoked_at;                            /* 0 unless revoked */
	char revoked_by[DOCREG_CLERK_MAX];
	char revoke_reason[CERTDOC_TEXT_MAX + 1];
};

/* DOCREG_OK with *out, DOCREG_NOT_FOUND, or DOCREG_ERROR with *err. */
int docreg_lookup(struct docreg *r, const char *number, struct docreg_entry *out, char **err)
	__attribute__((warn_unused_result));
/* Appends the issued XML of number to out (caller's buffer). Same results. */
int docreg_get_xml(struct docreg *r, const char *number, struct buf *out, char **err)
	__attribute__((warn_unused_result));

/* Revokes number: reason (1..1024 bytes of text) and clerk (who, 1..127)
 * are recorded with when (0: now). DOCREG_OK; DOCREG_NOT_FOUND; DOCREG_CONFLICT
 * when it is already revoked (the message says when, by whom and why);
 * DOCREG_ERROR. *err set on every failure. */
int docreg_revoke(struct docreg *r, const char *number, const char *reason, const char *clerk,
		  time_t when, char **err) __attribute__((warn_unused_result));

enum docreg_verdict {
	DOCREG_VALID = 0,
	DOCREG_REVOKED,
	DOCREG_EXPIRED,
	DOCREG_NOT_ISSUED_HERE,
	DOCREG_TAMPERED,
	DOCREG_NOT_A_CERTIFICATE,   /* an upload with no XML signature at all (another
				       document, a certificate's text without its signature):
				       nothing in it says it was altered, nor that it holds */
};

/* The verdict, with what the register holds when it found the number. */
struct docreg_check {
	enum docreg_verdict verdict;
	char reason[DOCSIGN_REASON_MAX + 128];   /* a sentence for a person */
	int found;                               /* entry is filled */
	struct docreg_entry entry;
	int xml_checked;                         /* an uploaded document: sig is filled */
	struct docsign_result sig;
	char digest[CERTDOC_DIGEST_HEX];         /* the digest checked */
};

/* What checking an uploaded document needs. */
struct docreg_check_opts {
	X509_STORE *trust;              /* CAs approved for member signing keys */
	const struct tsa_trust *tsa;    /* the TSA; NULL: stamped documents are refused */
	int require_timestamp;          /* 1 when this gateway issues time-stamped documents */
	time_t now;                     /* 0: the clock */
};

/* The verdict for a number and a digest (64 hex, any case). Order: not in the
 * register -> NOT_ISSUED_HERE; another digest -> TAMPERED; revoked -> REVOKED;
 * past valid-until -> EXPIRED; else VALID. DOCREG_OK with *out filled, or
 * DOCREG_ERROR with *err: a malformed number or digest (the message says
 * what they look like) or a failing register. */
int docreg_check_number(struct docreg *r, const char *number, const char *digest, time_t now,
			struct docreg_check *out, char **err) __attribute__((warn_unused_result));

/* The verdict for an uploaded document: its signature (docsign_verify, with
 * o->trust and o->tsa) must be valid, it must be a certificate document
 * signed by its own issuer - otherwise TAMPERED with the reason - and then
 * its number and digest (of these exact bytes) are checked as above.
 * DOCREG_OK with *out, or DOCREG_ERROR with *err. */
int docreg_check_xml(struct docreg *r, const char *xml, size_t len,
		     const struct docreg_check_opts *o, struct docreg_check *out, char **err)
	__attribute__((warn_unused_result));

/* "valid", "revoked", "expired", "not_issued_here", "tampered". */
const char *docreg_verdict_name(enum docreg_verdict v);

#endif
