/* The electronic documents adapter ("Infodocs", subsystem edocs).
 *
 * Registers of incoming and outgoing correspondence with execution control,
 * in a local SQLite database: one connection per worker thread, statements
 * prepared once and reused, parameters always bound. Unlike the read-only
 * registries this one writes: registration numbers are handed out inside
 * BEGIN IMMEDIATE, so workers (separate connections, maybe separate
 * processes) serialise on the database file and never share a number; a
 * client-supplied request_id makes a repeated registration answer the first
 * one instead of taking a second number. The register is append-only
 * (triggers in schema.sql); only the execution mark changes later.
 * Keys of the answers are documented in README.md; keep them stable. */
#include "adapters/adapter.h"
#include "adapters/common/params.h"
#include "adapters/common/sqlreg.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ED_BODY_MAX (128u << 10)    /* a REST body: 64 KB signature + the text fields */
#define ED_SIG_MAX (64u << 10)      /* base64 text of a signature, as given */
#define ED_REQID_MAX 64
#define ED_LIST_MAX 1000            /* rows in one list answer */
#define ED_REFS_MAX 100             /* documents listed as referring to one */
#define ED_RANGE_DAYS_MAX 366
#define ED_REGNO_LEN 48

enum ed_stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_BY_REQUEST, ST_RELATED, ST_NEXT_SEQ, ST_INSERT, ST_EXECUTE,
	ST_DOCUMENT, ST_REFS, ST_LIST, ST_CONTROL,
	ST_COUNT
};

static const char *const ed_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_BY_REQUEST] =
		"SELECT registration_number, registered_at, signature_sha256, request_digest"
		" FROM documents WHERE client = ?1 AND request_id = ?2",
	[ST_RELATED] = "SELECT direction, due_date, executed_on FROM documents"
		       " WHERE registration_number = ?1",
	[ST_NEXT_SEQ] =
		"INSERT INTO reg_counters (direction, year, last_seq) VALUES (?1, ?2, 1)"
		" ON CONFLICT (direction, year) DO UPDATE SET last_seq = last_seq + 1"
		" RETURNING last_seq",
	[ST_INSERT] =
		"INSERT INTO documents (registration_number, direction, year, seq, doc_type, title,"
		" correspondent, author, signed_by, signature, signature_sha256, signature_size,"
		" content_digest, related_to, registered_at, registered_on, due_date, client,"
		" user_id, request_id, request_digest)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		" ?17, ?18, ?19, ?20, ?21)",
	[ST_EXECUTE] = "UPDATE documents SET executed_on = ?2, executed_by = ?3"
		       " WHERE registration_number = ?1 AND executed_on IS NULL",
	[ST_DOCUMENT] =
		"SELECT d.registration_number, d.direction, d.doc_type, t.ru, t.ky, d.title,"
		" d.correspondent, d.author, d.signed_by, d.registered_at, d.registered_on,"
		" d.content_digest, d.signature_sha256, d.signature_size, d.signature, d.related_to,"
		" d.due_date, d.executed_on, d.executed_by"
		" FROM documents d JOIN doc_types t ON t.code = d.doc_type"
		" WHERE d.registration_number = ?1",
	[ST_REFS] = "SELECT registration_number FROM documents WHERE related_to = ?1"
		    " ORDER BY id LIMIT ?2",
	[ST_LIST] =
		"SELECT registration_number, direction, doc_type, title, correspondent, registered_on,"
		" due_date, executed_on FROM documents"
		" WHERE registered_on BETWEEN ?1 AND ?2 AND (?3 IS NULL OR direction = ?3)"
		" ORDER BY id LIMIT ?4",
	[ST_CONTROL] =
		"SELECT registration_number, direction, doc_type, title, correspondent, registered_on,"
		" due_date FROM documents WHERE due_date IS NOT NULL AND registered_on <= ?1"
		" AND (executed_on IS NULL OR executed_on > ?1) ORDER BY due_date, id LIMIT ?2",
};

/* Registration numbers are handed out inside BEGIN IMMEDIATE on the file:
 * synchronous stays FULL, because a number handed to a client must survive
 * a power cut, or it would be handed out again. A failed query keeps the
 * connection unless the file looks broken (a busy register is normal). */
static const struct sqlreg_desc ed_db = {
	.name = "edocs",
	.db_file = "edocs.db",
	.label = "document register",
	.kind = "a document register",
	.ours = "documents",
	.sql = ed_sql,
	.n_sql = ST_COUNT,
	.pragmas = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
	.unavailable = "the document register database is unavailable; try again later",
	.busy = "the document register is busy; try again later (repeating a registration "
		"with the same request_id is safe)",
};

/* Per worker thread. */
/* Per-worker state: the register alone (struct sqlreg_ctx, adapters/common/sqlreg.h). */

/* ---- statements ------------------------------------------------------- */

/* Runs a statement that returns no rows. 0, or -1 with res set. */
static int ed_run(struct sqlreg_ctx *c, sqlite3_stmt *st, struct adapter_result *res)
{
	return sqlreg_step(c->reg, st, res) < 0 ? -1 : 0;
}

static const char *ed_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int ed_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* ---- small helpers: text, dates, numbers ------------------------------ */

static int ed_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The bounds of s without surrounding white space (SOAP bodies are indented). */
static const char *ed_strip(const char *s, size_t *len)
{
	size_t n;

	while (ed_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && ed_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Copies s into out[cap] for a message, which the core puts in JSON: control
 * characters become '?', and so does every non-ASCII byte unless utf8 says
 * s is valid UTF-8 (jansson keys are), in which case a cut never splits a
 * character. */
static void ed_echo(const char *s, int utf8, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (s[i] != '\0') {
		unsigned char ch = (unsigned char)s[i];
		size_t n = ch < 0x80 || !utf8 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;

		if (o + n >= cap || strnlen(s + i, n) < n)
			break;
		if (ch < 0x20 || ch == 0x7F || (ch >= 0x80 && !utf8)) {
			out[o++] = '?';
		} else {
			memcpy(out + o, s + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
}

/* Execution control of a document as of day `on`: status and days late. */
static json_t *ed_execution(sqlite3_stmt *st, int due_col, int exec_col, int by_col, long on)
{
	const char *due = ed_text(st, due_col), *ex = ed_text(st, exec_col);
	long due_d = 0, ex_d = 0, late = 0;
	const char *status;

	if (due == NULL || params_date_parse(due, &due_d) != 0) {
		status = "not_controlled";
	} else if (ex != NULL && params_date_parse(ex, &ex_d) == 0 && ex_d <= on) {
		status = "executed";
		late = ex_d > due_d ? ex_d - due_d : 0;
	} else if (on > due_d) {
		status = "overdue";
		late = on - due_d;
	} else {
		status = "in_progress";
	}
	return json_pack("{s:s,s:o,s:o,s:o,s:I}", "status", status,
			 "due_date", sqlreg_col(st, due_col), "executed_on", sqlreg_col(st, exec_col),
			 "executed_by", sqlreg_col(st, by_col),
			 "days_overdue", (json_int_t)late);
}

/* ---- registration numbers -------------------------------------------- */

static const struct {
	const char *prefix;
	const char *direction;
	int ascii;                  /* compared without case */
} ed_prefixes[] = {
	{ "ВХ", "in", 0 }, { "ИСХ", "out", 0 }, { "IN", "in", 1 }, { "OUT", "out", 1 },
};

static const char *ed_prefix_of(const char *direction)
{
	return strcmp(direction, "in") == 0 ? "ВХ" : "ИСХ";
}

/* "ВХ-2026-000045", "ИСХ-2026-000123", or the ASCII forms IN-/OUT- (any
 * case; leading zeros optional) into the canonical number in out[cap].
 * 0, or -1 if s is not a registration number. */
static int ed_regno(const char *s, char *out, size_t cap)
{
	const char *p = NULL, *dir = NULL;
	long year = 0, seq = 0;
	int nd = 0;

	for (size_t i = 0; i < sizeof(ed_prefixes) / sizeof(ed_prefixes[0]) && p == NULL; i++) {
		size_t n = strlen(ed_prefixes[i].prefix);

		if ((ed_prefixes[i].ascii ? strncasecmp(s, ed_prefixes[i].prefix, n) :
					    strncmp(s, ed_prefixes[i].prefix, n)) == 0 && s[n] == '-') {
			p = s + n + 1;
			dir = ed_prefixes[i].direction;
		}
	}
	if (p == NULL)
		return -1;
	for (int i = 0; i < 4; i++, p++) {
		if (*p < '0' || *p > '9')
			return -1;
		year = year * 10 + (*p - '0');
	}
	if (*p++ != '-' || year < 1900)
		return -1;
	for (; *p >= '0' && *p <= '9' && nd < 9; p++, nd++)
		seq = seq * 10 + (*p - '0');
	if (*p != '\0' || nd == 0 || seq == 0)
		return -1;
	snprintf(out, cap, "%s-%04ld-%06ld", ed_prefix_of(dir), year, seq);
	return 0;
}

#define ED_REGNO_HINT "a registration number looks like ВХ-2026-000045 (incoming) or " \
	"ИСХ-2026-000123 (outgoing); IN-2026-000045 and OUT-2026-000123 are accepted too"

/* ---- signature and digests ------------------------------------------- */

static int ed_b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes standard base64 (RFC 4648 alphabet, '=' padding; line breaks and
 * spaces between characters allowed, as MIME and SOAP tools wrap it) into
 * out, which holds at least strlen(s) / 4 * 3 bytes. Length, or -1. */
static long ed_b64_decode(const char *s, unsigned char *out)
{
	unsigned long acc = 0;
	long n = 0;
	int k = 0, pad = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		int v = ed_b64val(ch);

		if (ed_space((char)ch))
			continue;
		if (ch == '=' && k >= 2) {
			pad++;
			v = 0;
		} else if (v < 0 || pad > 0) {
			return -1;
		}
		acc = (acc << 6) | (unsigned long)v;
		if (++k == 4) {
			out[n++] = (unsigned char)(acc >> 16);
			if (pad < 2)
				out[n++] = (unsigned char)(acc >> 8);
			if (pad < 1)
				out[n++] = (unsigned char)acc;
			acc = 0;
			k = 0;
			if (pad > 0)
				break;
		}
	}
	if (k != 0)
		return -1;
	if (*s != '\0')            /* after the padding: white space only */
		for (s++; *s != '\0'; s++)
			if (!ed_space(*s))
				return -1;
	return n;
}

static int ed_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

struct ed_sig {
	char sha256[65];
	long size;
};

/* Checks the base64 signature and digests its decoded bytes. 0, or -1 with res. */
static int ed_signature(const char *b64, struct ed_sig *sig, struct adapter_result *res)
{
	unsigned char *raw = malloc(strlen(b64) / 4 * 3 + 3);
	int rc = -1;

	if (raw == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	sig->size = ed_b64_decode(b64, raw);
	if (sig->size <= 0)
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "signature must be the signature in standard base64 "
				     "(A-Z a-z 0-9 + / with = padding)");
	else if (ed_sha256_hex(raw, (size_t)sig->size, sig->sha256) != 0)
		adapter_result_error(res, ADAPTER_FAILED, "cannot compute the signature digest");
	else
		rc = 0;
	free(raw);
	return rc;
}

/* ---- the input of register-document ---------------------------------- */

enum ed_kind { K_REQID, K_DIRECTION, K_DOCTYPE, K_TEXT, K_SIGNATURE, K_DIGEST, K_REGNO, K_DATE };

static const struct ed_field {
	const char *name;
	enum ed_kind kind;
	int required;
	size_t max;                 /* characters (K_TEXT) or bytes */
} ed_fields[] = {
	{ "request_id", K_REQID, 0, ED_REQID_MAX },
	{ "direction", K_DIRECTION, 1, 3 },
	{ "doc_type", K_DOCTYPE, 1, 16 },
	{ "title", K_TEXT, 1, 500 },
	{ "correspondent", K_TEXT, 1, 300 },
	{ "author", K_TEXT, 1, 200 },
	{ "signed_by", K_TEXT, 1, 200 },
	{ "signature", K_SIGNATURE, 1, ED_SIG_MAX },
	{ "content_digest", K_DIGEST, 1, 64 },
	{ "related_to", K_REGNO, 0, ED_REGNO_LEN },
	{ "due_date", K_DATE, 0, 10 },
};
#define ED_N_FIELDS (sizeof(ed_fields) / sizeof(ed_fields[0]))
#define ED_FIELD_LIST "request_id, direction, doc_type, title, correspondent, author, " \
	"signed_by, signature, content_digest, related_to, due_date"

/* The codes of doc_types in schema.sql/seed.sql (README.md lists them). */
static const char *const ed_doc_types[] = {
	"letter", "application", "complaint", "request", "order",
	"decision", "certificate", "report", "reply", "other",
};
#define ED_DOC_TYPE_LIST "letter, application, complaint, request, order, decision, " \
	"certificate, report, reply, other"

/* The validated request; strings point into the normalised object. */
struct ed_input {
	const char *v[ED_N_FIELDS];  /* NULL: absent (optional fields) */
};

enum { F_REQID, F_DIRECTION, F_DOCTYPE, F_TITLE, F_CORRESPONDENT, F_AUTHOR, F_SIGNED_BY,
       F_SIGNATURE, F_DIGEST, F_RELATED, F_DUE };

/* Printable UTF-8 text of 1..max characters (no control characters). */
static int ed_text_ok(const char *s, size_t n, size_t max)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7F)
			return 0;
		chars += (ch & 0xC0) != 0x80;
	}
	return chars >= 1 && chars <= max;
}

static int ed_reqid_ok(const char *s, size_t n)
{
	if (n == 0 || n > ED_REQID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return 0;
	}
	return 1;
}

static int ed_doc_type_ok(const char *s)
{
	for (size_t i = 0; i < sizeof(ed_doc_types) / sizeof(ed_doc_types[0]); i++)
		if (strcmp(s, ed_doc_types[i]) == 0)
			return 1;
	return 0;
}

/* Validates one present, trimmed value v[0..n-1] (NUL-terminated copy in
 * buf) of field f; may rewrite buf into its normal form. 0, or -1 with res. */
static int ed_check_field(const struct ed_field *f, char *buf, size_t n,
			  const struct params_day *today, struct adapter_result *res)
{
	char tmp[ED_REGNO_LEN];
	long d;

	switch (f->kind) {
	case K_REQID:
		if (ed_reqid_ok(buf, n))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "request_id must be 1-%d of A-Z a-z 0-9 "
				     "- _ . : (a UUID fits)", ED_REQID_MAX);
		return -1;
	case K_DIRECTION:
		if (strcmp(buf, "in") == 0 || strcmp(buf, "out") == 0)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT,
				     "direction must be in (incoming) or out (outgoing)");
		return -1;
	case K_DOCTYPE:
		if (ed_doc_type_ok(buf))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "doc_type must be one of " ED_DOC_TYPE_LIST);
		return -1;
	case K_TEXT:
		if (ed_text_ok(buf, n, f->max))
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be 1-%zu characters of text "
				     "without control characters (line breaks, tabs)", f->name, f->max);
		return -1;
	case K_SIGNATURE:
		if (n <= f->max)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "signature is larger than 64 KB (%zu "
				     "bytes of base64 at most); got %zu", f->max, n);
		return -1;
	case K_DIGEST:
		for (size_t i = 0; i < n; i++) {
			char ch = buf[i];

			if (ch >= 'A' && ch <= 'F')
				buf[i] = (char)(ch - 'A' + 'a');
			else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
				n = 0;
		}
		if (n == 64)
			return 0;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "content_digest must be the SHA-256 "
				     "of the document as 64 hexadecimal digits");
		return -1;
	case K_REGNO:
		if (n < ED_REGNO_LEN && ed_regno(buf, tmp, sizeof(tmp)) == 0) {
			memcpy(buf, tmp, strlen(tmp) + 1);
			return 0;
		}
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "related_to: " ED_REGNO_HINT);
		return -1;
	case K_DATE:
		if (params_date_parse(buf, &d) != 0) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT,
					     "due_date must be a date YYYY-MM-DD, e.g. 2026-03-20");
			return -1;
		}
		if (d < today->days) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT,
					     "due_date %s is in the past (today is %s)", buf, today->iso);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* Refuses keys that are not fields, so a misspelt optional field is not
 * silently dropped, and values that are not strings (or null). 0, or -1
 * with res. */
static int ed_check_keys(json_t *raw, struct adapter_result *res)
{
	const char *key;
	json_t *val;
	char echo[48];

	json_object_foreach(raw, key, val) {
		size_t i;

		for (i = 0; i < ED_N_FIELDS; i++)
			if (strcmp(key, ed_fields[i].name) == 0)
				break;
		if (i == ED_N_FIELDS) {
			ed_echo(key, 1, echo, sizeof(echo));
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "unknown field '%s'; a document "
					     "has " ED_FIELD_LIST, echo);
			return -1;
		}
		if (!json_is_string(val) && !json_is_null(val)) {
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s must be a string", key);
			return -1;
		}
	}
	return 0;
}

/* One field of raw into norm. 0, or -1 with res. */
static int ed_take_field(const struct ed_field *f, json_t *raw, json_t *norm,
			 const struct params_day *today, struct adapter_result *res)
{
	json_t *v = json_object_get(raw, f->name);
	const char *s;
	char *buf;
	size_t n;
	int rc;

	n = 0;
	s = v != NULL && json_is_string(v) ? ed_strip(json_string_value(v), &n) : "";
	if (n == 0) {
		if (f->required)
			adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s is missing", f->name);
		return f->required ? -1 : 0;
	}
	if (n > f->max * 4 && f->kind != K_SIGNATURE)   /* 4 bytes per character at most */
		n = f->max * 4 + 1;                     /* still refused, without copying it all */
	/* Room for the normal form, which may be longer (IN-2026-45). */
	buf = malloc(n + ED_REGNO_LEN + 1);
	if (buf != NULL) {
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	if (buf == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	rc = ed_check_field(f, buf, strlen(buf), today, res);
	if (rc == 0 && ed_set(norm, f->name, json_string(buf)) != 0) {
		adapter_result_oom(res);
		rc = -1;
	}
	free(buf);
	return rc;
}

/* Validates the request object (JSON body or SOAP parameters, same rules)
 * into a new normalised object *norm (caller frees) that in points into.
 * 0, or -1 with res set. */
static int ed_input_build(json_t *raw, const struct params_day *today, json_t **norm,
			  struct ed_input *in, struct adapter_result *res)
{
	json_t *o = json_object();

	*norm = NULL;
	if (o == NULL) {
		adapter_result_oom(res);
		return -1;
	}
	if (ed_check_keys(raw, res) != 0)
		goto fail;
	for (size_t i = 0; i < ED_N_FIELDS; i++)
		if (ed_take_field(&ed_fields[i], raw, o, today, res) != 0)
			goto fail;
	for (size_t i = 0; i < ED_N_FIELDS; i++)
		in->v[i] = json_string_value(json_object_get(o, ed_fields[i].name));
	*norm = o;
	return 0;
fail:
	json_decref(o);
	return -1;
}

/* The request as an object: the JSON body (REST), or the parameters (SOAP
 * body elements, flat strings). Caller frees *raw. 0, or -1 with res. */
static int ed_raw_input(const struct adapter_call *call, json_t **raw, struct adapter_result *res)
{
	json_error_t err;
	char echo[96];

	*raw = NULL;
	if (call->body == NULL || call->body_len == 0) {
		*raw = call->params ? json_incref(call->params) : json_object();
		if (*raw == NULL)
			adapter_result_oom(res);
		return *raw ? 0 : -1;
	}
	if (call->body_len > ED_BODY_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the request body is larger than %u "
				     "bytes", ED_BODY_MAX);
		return -1;
	}
	if (call->params != NULL && json_object_size(call->params) > 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "send the fields in the JSON body only, "
				     "not in the query string");
		return -1;
	}
	*raw = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (*raw == NULL) {
		ed_echo(params_json_why(&err), 0, echo, sizeof(echo));
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body is not valid JSON: %s "
				     "(line %d, column %d)", echo, err.line, err.column);
		return -1;
	}
	if (!json_is_object(*raw)) {
		json_decref(*raw);
		*raw = NULL;
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "the body must be a JSON object with "
				     "the fields " ED_FIELD_LIST);
		return -1;
	}
	return 0;
}

/* ---- registering ------------------------------------------------------ */

/* What one registration writes, besides the input. */
struct ed_reg {
	char number[ED_REGNO_LEN];
	char at[40];                 /* 2026-03-18T10:42:05+06:00 */
	char on[11];
	int year;
	long long seq;
	struct ed_sig sig;
	char digest[65];             /* of the normalised request */
	const char *client, *user_id;
};

/* The registration moment, read after BEGIN IMMEDIATE so that number order
 * and time order agree. */
static void ed_clock(struct ed_reg *r)
{
	time_t now = time(NULL);
	struct tm tm;
	long off;

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	strftime(r->on, sizeof(r->on), "%Y-%m-%d", &tm);
	snprintf(r->at, sizeof(r->at), "%sT%02d:%02d:%02d%c%02ld:%02ld", r->on, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
	r->year = tm.tm_year + 1900;
}

static json_t *ed_reg_answer(const char *number, const char *at, const char *sha)
{
	return json_pack("{s:s,s:s,s:s}", "registration_number", number, "registered_at", at,
			 "signature_sha256", sha);
}

/* A request_id seen before from this client: the same request gets the
 * first answer again, a different one is refused. 1 answered (res set),
 * 0 new, -1 error. */
static int ed_replay(struct sqlreg_ctx *c, const struct ed_input *in, const struct ed_reg *r,
		     struct adapter_result *res)
{
	const char *const v[] = { r->client, in->v[F_REQID] };
	sqlite3_stmt *st;
	int rc;

	if (in->v[F_REQID] == NULL)
		return 0;
	st = sqlreg_bind(c->reg, ST_BY_REQUEST, 2, v);
	if ((rc = sqlreg_step(c->reg, st, res)) <= 0)
		return rc;
	if (ed_text(st, 3) != NULL && strcmp(ed_text(st, 3), r->digest) == 0) {
		res->data = ed_reg_answer(ed_text(st, 0), ed_text(st, 1), ed_text(st, 2));
		if (res->data == NULL)
			adapter_result_oom(res);
		else
			sqlreg_log(c->reg, ADAPTER_LOG_INFO, "request_id %s repeated: answered "
			       "%s again", in->v[F_REQID], ed_text(st, 0));
	} else {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "request_id %s was already used for "
				     "%s with different content; use a new request_id for a new "
				     "document", in->v[F_REQID], ed_text(st, 0));
	}
	sqlite3_reset(st);
	return 1;
}

/* Checks related_to; *closes is set if registering this document ends the
 * execution control of the related one: it is under control, not executed
 * yet, and this document goes the other way (a reply). 0, or -1 with res. */
static int ed_related(struct sqlreg_ctx *c, const struct ed_input *in, int *closes,
		      struct adapter_result *res)
{
	const char *const v[] = { in->v[F_RELATED] };
	sqlite3_stmt *st;
	int rc;

	*closes = 0;
	if (in->v[F_RELATED] == NULL)
		return 0;
	st = sqlreg_bind(c->reg, ST_RELATED, 1, v);
	if ((rc = sqlreg_step(c->reg, st, res)) < 0)
		return -1;
	if (rc == 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "related_to %s is not in the register",
				     in->v[F_RELATED]);
		return -1;
	}
	*closes = strcmp(ed_text(st, 0), in->v[F_DIRECTION]) != 0 &&
		  sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_type(st, 2) == SQLITE_NULL;
	sqlite3_reset(st);
	return 0;
}

/* Takes the next number of the register and year into r->number. */
static int ed_next_number(struct sqlreg_ctx *c, const char *direction, struct ed_reg *r,
			  struct adapter_result *res)
{
	sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_NEXT_SEQ);

	if (st == NULL || sqlite3_bind_text(st, 1, direction, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, r->year) != SQLITE_OK || sqlreg_step(c->reg, st, res) != 1) {
		if (res->status == ADAPTER_OK)
			sqlreg_fail(c->reg, res);
		return -1;
	}
	r->seq = (long long)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	snprintf(r->number, sizeof(r->number), "%s-%04d-%06lld", ed_prefix_of(direction), r->year,
		 r->seq);
	return 0;
}

static int ed_insert(struct sqlreg_ctx *c, const struct ed_input *in, const struct ed_reg *r,
		     struct adapter_result *res)
{
	/* NULL at ?3, ?4, ?12: the integers are bound after the texts. */
	const char *const v[] = {
		r->number, in->v[F_DIRECTION], NULL, NULL, in->v[F_DOCTYPE], in->v[F_TITLE],
		in->v[F_CORRESPONDENT], in->v[F_AUTHOR], in->v[F_SIGNED_BY], in->v[F_SIGNATURE],
		r->sig.sha256, NULL, in->v[F_DIGEST], in->v[F_RELATED], r->at, r->on, in->v[F_DUE],
		r->client, r->user_id, in->v[F_REQID], in->v[F_REQID] ? r->digest : NULL,
	};
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_INSERT, (int)(sizeof(v) / sizeof(v[0])), v);

	if (st != NULL && (sqlite3_bind_int(st, 3, r->year) != SQLITE_OK ||
			   sqlite3_bind_int64(st, 4, r->seq) != SQLITE_OK ||
			   sqlite3_bind_int64(st, 12, r->sig.size) != SQLITE_OK))
		st = NULL;
	return ed_run(c, st, res);
}

/* The steps inside the transaction; 0 to commit, 1 answered without a
 * change (replay), -1 error (res set). */
static int ed_register_steps(struct sqlreg_ctx *c, const struct ed_input *in, struct ed_reg *r,
			     struct adapter_result *res)
{
	int rc, closes;

	if ((rc = ed_replay(c, in, r, res)) != 0)
		return rc;
	if (ed_related(c, in, &closes, res) != 0)
		return -1;
	ed_clock(r);
	if (ed_next_number(c, in->v[F_DIRECTION], r, res) != 0 || ed_insert(c, in, r, res) != 0)
		return -1;
	if (closes) {
		const char *const v[] = { in->v[F_RELATED], r->on, r->number };

		if (ed_run(c, sqlreg_bind(c->reg, ST_EXECUTE, 3, v), res) != 0)
			return -1;
	}
	return 0;
}

static void ed_register_tx(struct sqlreg_ctx *c, const struct ed_input *in, struct ed_reg *r,
			   struct adapter_result *res)
{
	int rc;

	if (ed_run(c, sqlreg_stmt(c->reg, ST_BEGIN), res) != 0)
		return;
	rc = ed_register_steps(c, in, r, res);
	if (rc == 0 && ed_run(c, sqlreg_stmt(c->reg, ST_COMMIT), res) == 0) {
		res->data = ed_reg_answer(r->number, r->at, r->sig.sha256);
		if (res->data == NULL)
			adapter_result_oom(res);   /* registered all the same: a retry with request_id gets it */
		sqlreg_log(c->reg, ADAPTER_LOG_INFO, "registered %s for %s", r->number,
		       r->client);
		return;
	}
	/* Replay, refusal or failure: nothing of this call stays. */
	if (sqlreg_db(c->reg) != NULL && sqlite3_get_autocommit(sqlreg_db(c->reg)) == 0) {
		sqlite3_stmt *st = sqlreg_stmt(c->reg, ST_ROLLBACK);

		if (sqlite3_step(st) != SQLITE_DONE)
			sqlreg_reopen(c->reg);   /* a fresh connection has no transaction open */
		sqlite3_reset(st);
	}
}

static void ed_register(struct sqlreg_ctx *c, const struct adapter_call *call,
			struct adapter_result *res)
{
	json_t *raw = NULL, *norm = NULL, *copy = NULL;
	struct ed_input in;
	struct ed_reg r;
	struct params_day today;
	char *canon = NULL;

	memset(&r, 0, sizeof(r));
	params_today(NULL, &today);
	if (ed_raw_input(call, &raw, res) != 0 || ed_input_build(raw, &today, &norm, &in, res) != 0 ||
	    ed_signature(in.v[F_SIGNATURE], &r.sig, res) != 0)
		goto out;
	/* The request's fingerprint for request_id replays: the normalised
	 * fields, sorted, without the request_id itself. */
	copy = json_copy(norm);
	if (copy != NULL)
		json_object_del(copy, "request_id");
	if (copy == NULL || (canon = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT)) == NULL ||
	    ed_sha256_hex(canon, strlen(canon), r.digest) != 0) {
		adapter_result_oom(res);
		goto out;
	}
	r.client = call->client ? call->client : "";
	r.user_id = call->user_id ? call->user_id : "";
	ed_register_tx(c, &in, &r, res);
out:
	free(canon);
	json_decref(copy);
	json_decref(norm);
	json_decref(raw);
}

/* ---- reading ---------------------------------------------------------- */

/* Numbers of the documents that name this one in related_to. */
static json_t *ed_refs(struct sqlreg_ctx *c, const char *number, struct adapter_result *res)
{
	const char *const v[] = { number };
	sqlite3_stmt *st = sqlreg_bind(c->reg, ST_REFS, 1, v);
	json_t *a = json_array();
	int rc;

	if (st == NULL || sqlite3_bind_int(st, 2, ED_REFS_MAX) != SQLITE_OK) {
		json_decref(a);
		sqlreg_fail(c->reg, res);
		return NULL;
	}
	if (a == NULL) {
		adapter_result_oom(res);
		return NULL;
	}
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		if (json_array_append_new(a, sqlreg_col(st, 0)) != 0) {
			sqlite3_reset(st);
			adapter_result_oom(res);
			rc = -1;
			break;
		}
	}
	if (rc < 0) {
		json_decref(a);
		return NULL;
	}
	sqlite3_reset(st);
	return a;
}

static const char *const ed_doc_keys[] = {
	"registration_number", "direction", "doc_type", "doc_type_ru", "doc_type_ky", "title",
	"correspondent", "author", "signed_by", "registered_at", "registered_on",
	"content_digest", "signature_sha256",
};

/* One row of ST_DOCUMENT as JSON (caller owns), or NULL. */
static json_t *ed_document_json(sqlite3_stmt *st, long today)
{
	json_t *o = json_object();
	int bad = o == NULL;

	for (size_t i = 0; i < sizeof(ed_doc_keys) / sizeof(ed_doc_keys[0]); i++)
		bad |= ed_set(o, ed_doc_keys[i], sqlreg_col(st, (int)i));
	bad |= ed_set(o, "signature_size", json_integer(sqlite3_column_int64(st, 13)));
	bad |= ed_set(o, "signature", sqlreg_col(st, 14));
	bad |= ed_set(o, "related_to", sqlreg_col(st, 15));
	bad |= ed_set(o, "execution", ed_execution(st, 16, 17, 18, today));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void ed_document(struct sqlreg_ctx *c, const struct adapter_call *call,
			struct adapter_result *res)
{
	char in[ED_REGNO_LEN], number[ED_REGNO_LEN];
	struct params_day today;
	sqlite3_stmt *st;
	json_t *o, *refs;
	int rc;

	if (params_get(call->params, "number", in, sizeof(in)) != 0 ||
	    ed_regno(in, number, sizeof(number)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s" ED_REGNO_HINT,
				     in[0] == '\0' ? "number is missing; " : "");
		return;
	}
	params_today(NULL, &today);
	st = sqlreg_bind(c->reg, ST_DOCUMENT, 1, (const char *const[]){ number });
	if ((rc = sqlreg_step(c->reg, st, res)) <= 0) {
		if (rc == 0)
			adapter_result_error(res, ADAPTER_NOT_FOUND, "no document %s in the register", number);
		sqlite3_reset(st);
		return;
	}
	o = ed_document_json(st, today.days);
	sqlite3_reset(st);
	if (o == NULL) {
		adapter_result_oom(res);
		return;
	}
	refs = ed_refs(c, number, res);
	if (refs == NULL || ed_set(o, "referenced_by", refs) != 0) {
		if (refs != NULL)
			adapter_result_oom(res);
		json_decref(o);
		return;
	}
	res->data = o;
}

/* Appends the rows of st (limit ED_LIST_MAX + 1 bound) to arr via fn;
 * sets *truncated. 0, or -1 with res. */
typedef json_t *(*ed_row_fn)(sqlite3_stmt *st, long on);
static int ed_rows(struct sqlreg_ctx *c, sqlite3_stmt *st, ed_row_fn fn, long on, json_t *arr,
		   int *truncated, struct adapter_result *res)
{
	int rc;

	*truncated = 0;
	while ((rc = sqlreg_step(c->reg, st, res)) == 1) {
		if (json_array_size(arr) == ED_LIST_MAX) {
			*truncated = 1;
			break;
		}
		if (json_array_append_new(arr, fn(st, on)) != 0) {
			sqlite3_reset(st);
			adapter_result_oom(res);
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

static json_t *ed_list_row(sqlite3_stmt *st, long today)
{
	json_t *ex = ed_execution(st, 6, 7, 7, today);
	json_t *o = ex ? json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:O}", "registration_number",
				   sqlreg_col(st, 0), "direction", sqlreg_col(st, 1),
				   "doc_type", sqlreg_col(st, 2),
				   "title", sqlreg_col(st, 3), "correspondent", sqlreg_col(st, 4),
				   "registered_on", sqlreg_col(st, 5), "due_date", sqlreg_col(st, 6),
				   "execution_status", json_object_get(ex, "status")) : NULL;

	json_decref(ex);
	return o;
}

/* Runs st (its other parameters bound) with the list limit at ?limit_at
 * into a new array *arr (caller owns). 0, or -1 with res. */
static int ed_list(struct sqlreg_ctx *c, sqlite3_stmt *st, int limit_at, ed_row_fn fn, long on,
		   json_t **arr, int *truncated, struct adapter_result *res)
{
	*arr = NULL;
	if (st == NULL || sqlite3_bind_int(st, limit_at, ED_LIST_MAX + 1) != SQLITE_OK) {
		sqlreg_fail(c->reg, res);
		return -1;
	}
	*arr = json_array();
	if (*arr == NULL) {
		sqlite3_reset(st);
		adapter_result_oom(res);
		return -1;
	}
	if (ed_rows(c, st, fn, on, *arr, truncated, res) != 0) {
		json_decref(*arr);
		*arr = NULL;
		return -1;
	}
	return 0;
}

static void ed_documents(struct sqlreg_ctx *c, const struct adapter_call *call,
			 struct adapter_result *res)
{
	struct params_day today, from, to;
	char dir[8], why[128];
	sqlite3_stmt *st;
	json_t *arr;
	int truncated;

	params_today(NULL, &today);
	if (params_date_arg(call->params, "from", PARAMS_DATE_REQUIRED, &today, &from, why,
			    sizeof(why)) != 0 ||
	    params_date_arg(call->params, "to", PARAMS_DATE_REQUIRED, &today, &to, why,
			    sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	if (params_get(call->params, "direction", dir, sizeof(dir)) != 0 ||
	    (dir[0] && strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0)) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "direction must be in or out, or absent "
				     "for both registers");
		return;
	}
	if (to.days < from.days || to.days - from.days + 1 > ED_RANGE_DAYS_MAX) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "from %s to %s is not a range of 1-%d "
				     "days (to must not be before from)", from.iso, to.iso, ED_RANGE_DAYS_MAX);
		return;
	}
	st = SQLREG_BIND(c->reg, ST_LIST, from.iso, to.iso, dir[0] ? dir : NULL);
	if (ed_list(c, st, 4, ed_list_row, today.days, &arr, &truncated, res) != 0)
		return;
	res->data = json_pack("{s:s,s:s,s:o,s:I,s:b,s:o}", "from", from.iso, "to", to.iso, "direction",
			      dir[0] ? json_string(dir) : json_null(), "count",
			      (json_int_t)json_array_size(arr), "truncated", truncated, "documents", arr);
	if (res->data == NULL)
		adapter_result_oom(res);
}

static json_t *ed_control_row(sqlite3_stmt *st, long on)
{
	long due = 0;
	const char *d = ed_text(st, 6);
	int overdue = d != NULL && params_date_parse(d, &due) == 0 && on > due;

	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:I}",
			 "registration_number", sqlreg_col(st, 0), "direction", sqlreg_col(st, 1),
			 "doc_type", sqlreg_col(st, 2), "title", sqlreg_col(st, 3),
			 "correspondent", sqlreg_col(st, 4), "registered_on", sqlreg_col(st, 5),
			 "due_date", sqlreg_col(st, 6), "status", overdue ? "overdue" : "in_progress",
			 "days_overdue", (json_int_t)(overdue ? on - due : 0));
}

/* The documents under execution control that are not executed as of `on`
 * (default today): what a clerk has to chase. */
static void ed_execution_status(struct sqlreg_ctx *c, const struct adapter_call *call,
				struct adapter_result *res)
{
	struct params_day today, on;
	sqlite3_stmt *st;
	json_t *arr, *row;
	json_int_t overdue = 0;
	char why[128];
	int truncated;
	size_t i;

	params_today(NULL, &today);
	if (params_date_arg(call->params, "on", PARAMS_DATE_NOT_FUTURE, &today, &on, why,
			    sizeof(why)) != 0) {
		adapter_result_error(res, ADAPTER_INVALID_INPUT, "%s", why);
		return;
	}
	st = SQLREG_BIND(c->reg, ST_CONTROL, on.iso);
	if (ed_list(c, st, 2, ed_control_row, on.days, &arr, &truncated, res) != 0)
		return;
	json_array_foreach(arr, i, row)
		overdue += strcmp(json_string_value(json_object_get(row, "status")), "overdue") == 0;
	res->data = json_pack("{s:s,s:I,s:I,s:b,s:o}", "on", on.iso, "overdue_count", overdue,
			      "in_progress_count", (json_int_t)json_array_size(arr) - overdue,
			      "truncated", truncated, "documents", arr);
	if (res->data == NULL)
		adapter_result_oom(res);
}

/* ---- the ops table ---------------------------------------------------- */

typedef void (*ed_fn)(struct sqlreg_ctx *c, const struct adapter_call *call, struct adapter_result *res);

static const char *const ed_no_params[] = { NULL };
static const char *const ed_number_params[] = { "number", NULL };

static const struct adapter_service ed_services[] = {
	{ "register-document", "POST", ed_no_params,
	  "Register an incoming or outgoing signed document; answers its registration number" },
	{ "document", "GET", ed_number_params,
	  "A registered document by registration number, with signature digest and execution status" },
	{ "documents", "GET", ed_no_params,
	  "Documents registered between two dates (at most 366 days), optionally one register" },
	{ "execution-status", "GET", ed_no_params,
	  "Documents under execution control not executed as of a date: in progress and overdue" },
};

static const ed_fn ed_handlers[] = { ed_register, ed_document, ed_documents, ed_execution_status };

_Static_assert(sizeof(ed_services) / sizeof(ed_services[0]) ==
	       sizeof(ed_handlers) / sizeof(ed_handlers[0]), "one handler per service");

#define ED_N_SERVICES (sizeof(ed_services) / sizeof(ed_services[0]))

/* GET services answer GET (REST) or POST (SOAP); register-document POST only. */
static int ed_method_ok(const struct adapter_service *s, const char *method)
{
	if (method == NULL || strcmp(method, "POST") == 0)
		return 1;
	return strcmp(s->method, "GET") == 0 && strcmp(method, "GET") == 0;
}

static void ed_handle(void *vctx, const struct adapter_call *call, adapter_done_fn done, void *arg)
{
	struct sqlreg_ctx *c = vctx;
	struct adapter_result res;
	size_t i;

	memset(&res, 0, sizeof(res));
	sqlreg_call_begin(c->reg, call->message_id);
	for (i = 0; i < ED_N_SERVICES; i++)
		if (call->service_code != NULL && strcmp(call->service_code, ed_services[i].code) == 0)
			break;
	if (i == ED_N_SERVICES) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "the document register has no such service");
	} else if (!ed_method_ok(&ed_services[i], call->method)) {
		adapter_result_error(&res, ADAPTER_INVALID_INPUT, "%s answers %s", ed_services[i].code,
				     strcmp(ed_services[i].method, "GET") == 0 ?
				     "GET (REST) or POST (SOAP)" : "POST");
	} else if (sqlreg_ready(c->reg, &res) == 0) {
		/* the read services take parameters (register-document checks its own
		 * fields): one they never read is refused, not answered as absent */
		int track = strcmp(ed_services[i].method, "GET") == 0;

		if (track)
			params_track_begin();
		ed_handlers[i](c, call, &res);
		if (track)
			params_unread(call->params, ed_services[i].code, &res);
	}
	sqlreg_call_end(c->reg, call->service_code, &res);
	done(&res, arg);
}

static int ed_init(const struct adapter_host *host, void **vctx, char **err)
{
	return sqlreg_ctx_init(&ed_db, host, vctx, err);
}

const struct adapter_ops edocs_adapter = {
	.name = "edocs",
	.services = ed_services,
	.n_services = ED_N_SERVICES,
	.init = ed_init,
	.handle = ed_handle,
	.free = sqlreg_ctx_free,
};
