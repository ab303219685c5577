/* logverify: offline verification and export of the message log.
 *
 * Works on the files alone (a live SQLite log, archives made by
 * msglog_archive, or a sequence of them), with no running gateway: it
 * recomputes the hash chain, checks every batch's RFC 3161 token against
 * the TSA's CA with OpenSSL's TS verification, and hands each signature
 * document to a hook (the gateway's signature verifier). It stops at, and
 * names, the first bad record. */
#ifndef AILGATE_STORE_LOGVERIFY_H
#define AILGATE_STORE_LOGVERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "store/msglog.h"

/* Checks one record's signature document (r->sigdoc, may be empty) against
 * its body (r->body, NULL when only the digest was logged). Returns 0 if
 * good, else -1 with *why (caller frees) saying what is wrong. */
typedef int (*logverify_sig_fn)(const struct msglog_row *r, void *arg, char **why);

struct logverify_opts {
	const char *tsa_ca_pem;          /* anchors for the tokens; NULL: tokens are
					    not checked (said in the report) */
	const char *tsa_cert_pem;        /* if set, tokens must be signed by it */
	logverify_sig_fn sig_verify;     /* NULL: signatures are not checked */
	void *sig_arg;
	int require_stamped;             /* records after the last batch fail */
	int64_t skew_ms;                 /* clock tolerance for token times
					    (0: 300000) */
	/* An anchor kept elsewhere: a record id and its hash as the gateway
	 * gave them earlier (event=msglog_anchor log lines, /health's
	 * msglog_anchor, an earlier verify's report). The files must hold that
	 * record with that hash: a log that ends before it was cut
	 * (LOGVERIFY_CUT), one whose record differs was rewritten
	 * (LOGVERIFY_ANCHOR). 0: none. */
	int64_t anchor_id;
	unsigned char anchor_hash[MSGLOG_HASH_LEN];
};

enum logverify_problem {
	LOGVERIFY_OK = 0,
	LOGVERIFY_MISSING,       /* bad_id: the first missing record id */
	LOGVERIFY_INSERTED,      /* bad_id: a record that does not belong (its
				    successor links to its predecessor) */
	LOGVERIFY_LINK,          /* bad_id's prev_hash is not its predecessor's hash
				    (reordered, replaced or altered chain) */
	LOGVERIFY_FIELD,         /* bad_id has an impossible field value */
	LOGVERIFY_BODY,          /* bad_id's stored body does not match its digest */
	LOGVERIFY_HASH,          /* bad_id's hash does not match its contents */
	LOGVERIFY_SIGNATURE,     /* the signature hook refused bad_id */
	LOGVERIFY_STAMP,         /* a batch token or root is bad; bad_id: the
				    batch's first record, bad_batch: its stamp id */
	LOGVERIFY_STAMP_GAP,     /* batches leave a gap or overlap; bad_id: the
				    first record not properly covered */
	LOGVERIFY_UNSTAMPED,     /* require_stamped: bad_id is the first unstamped */
	LOGVERIFY_FILE_LINK,     /* a file does not continue the previous one;
				    bad_id: its first record */
	LOGVERIFY_IO,            /* a file could not be read (bad_id 0) */
	LOGVERIFY_CUT,           /* anchor_id is past the files' end: bad_id is the
				    first record removed from the end */
	LOGVERIFY_ANCHOR,        /* bad_id = anchor_id holds another hash, or is
				    not in the files (archived: give that file too) */
	LOGVERIFY_META,          /* a file's own bookkeeping is missing or malformed:
				    one of the log's tables, its base (meta base_id,
				    base_hash); bad_id: its first record (0: none) */
};

struct logverify_result {
	enum logverify_problem problem;
	int64_t bad_id;                  /* the first bad record; 0 when all good */
	int64_t bad_batch;               /* stamp id, for LOGVERIFY_STAMP */
	char detail[300];                /* for a person */
	int64_t records;                 /* records checked */
	int64_t batches;                 /* batch tokens checked */
	int64_t unstamped;               /* records after the last batch */
	/* The newest stamped record checked and its hash (0: none): the anchor
	 * to keep for the next check (the report prints it). */
	int64_t head_id;
	unsigned char head_hash[MSGLOG_HASH_LEN];
};

/* "ID:HEX" (HEX the 64 hex digits of a record's hash) into id and hash. 0,
 * or -1 when malformed. */
int logverify_anchor_parse(const char *s, int64_t *id, unsigned char hash[MSGLOG_HASH_LEN]);

/* What is wrong with r on its own - damage its backend found in the stored
 * form, an impossible field, a body that does not match its digest,
 * contents that do not give its hash - said in why; LOGVERIFY_OK when
 * nothing. The verifier's first checks of each record; log export refuses
 * a record that fails them. */
enum logverify_problem logverify_row_problem(const struct msglog_row *r, char *why, size_t len);
/* The time-stamp token (DER, caller frees) of stamp stamp_id, the batch
 * that starts at record first_id, from an open log connection. 0, or -1
 * when it is missing, empty, over TSA_MAX_RESPONSE or unreadable (*err may
 * say why). */
int logverify_token(const struct msglog_backend_ops *ops, void *conn, int64_t stamp_id, int64_t first_id,
		    unsigned char **der, size_t *len, char **err) __attribute__((warn_unused_result));
/* Short name of a problem ("body", "missing", ...). */
const char *logverify_problem_name(enum logverify_problem p);

/* Verifies the files in order (oldest archive first, the live log last;
 * each must continue the chain of the one before). Writes a short report to
 * report (may be NULL) and fills res. Returns 0 when everything checks, 1
 * when a problem was found (res names the first bad record), -1 when a file
 * could not be read (or is no message log at all). */
int logverify_run(const char *const *paths, size_t npaths, const struct logverify_opts *opts,
		  FILE *report, struct logverify_result *res) __attribute__((warn_unused_result));

/* Which records to export: with message_id, every record of that message
 * (request and response, both sides); otherwise time_ms in [from_ms, to_ms)
 * (0: open). */
struct logverify_export_sel {
	int64_t from_ms, to_ms;
	const char *message_id;
	const char *tsa_ca_pem;          /* copied into the export as tsa-ca.pem */
	const char *sign_trust_pem;      /* copied as sign-trust.pem: the anchor for
					    xmlsec1 --trusted-pem (it reads one
					    certificate per file) */
	const char *sign_chain_pem;      /* copied as sign-chain.pem: intermediates
					    for --untrusted-pem, optional; the three
					    are checked first: PEM certificates only
					    (a private key given by mistake must not
					    go to a third party) */
	long unstamped;                  /* out: records exported that no time stamp
					    covers yet (the next batch will) */
};

/* Writes the selected records of the log file db into out_dir (created if
 * missing; must be empty or new):
 *   records/<id>/meta.json       every field, digests and hashes in hex
 *   records/<id>/body.bin        the body, when it was logged
 *   records/<id>/signature.xml   the signature document, when present
 *   records/<id>/ocsp-<i>.der    the OCSP responses carried, DER, when present
 *   records/<id>/ocsp.txt        the OCSP data as logged, when it is not exactly
 *                                the responses' base64 with commas between
 *   batches/<first>-<last>/token.tsr   the RFC 3161 TimeStampResp
 *   batches/<first>-<last>/root.bin    the 32 bytes it stamps
 *   batches/<first>-<last>/chain.json  each record's prev_hash, canonical
 *                                      encoding and hash, linking a record
 *                                      to the root
 *   check.py, README.txt         the checker and the exact commands a third
 *                                party runs (gateway/store/README.md, "Export")
 * The records around the selected ones are checked first as log verify
 * would (each present, sound, linked; each batch's root and token): a log
 * the package would fail is refused.
 * Returns the number of records exported, or -1 with *err (caller frees).
 * With 0 or -1 out_dir is left as it was found (removed if it was made). */
long logverify_export(const char *db, struct logverify_export_sel *sel, const char *out_dir,
		      char **err) __attribute__((warn_unused_result));

#endif
