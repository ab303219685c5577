/* Local configuration: an INI file read through one declarative table.
 *
 * inih does the tokenising; everything else (types, defaults, bounds, paths,
 * required keys, messages) is driven from cfg_keys[] below, so the parser,
 * `config_print_keys` and the reload check can never disagree.
 *
 * Debian's inih (r55) is built without line numbers in the handler and with a
 * 200-byte line buffer, so we feed it through our own reader: the reader
 * counts lines (the handler runs right after the reader returned the line it
 * belongs to) and passes long values around inih instead of letting it split
 * a line into two bogus ones. inih's knobs are process globals; we leave
 * them alone. */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/socket.h>

#include "lib/osutil.h"
#include "lib/buf.h"
#include "proto/xrd_id.h"
#include "store/msglog.h"

#ifdef AILGATE_SOURCE_DIR
#define CFG_SHARE_DIR AILGATE_SOURCE_DIR
#define CFG_XSD_DEFAULT AILGATE_SOURCE_DIR "/config/globalconf.xsd"
#else
#define CFG_SHARE_DIR "/usr/share/ailgate"
#define CFG_XSD_DEFAULT CFG_SHARE_DIR "/globalconf.xsd"
#endif

#define CFG_FILE_MAX (1024 * 1024)   /* a config file is small; refuse anything bigger */
#define CFG_ERRORS_MAX 10            /* report at most this many problems at once */
#define CFG_REPEAT_MAX 4096          /* is_cert lines, adapter keys */
#define CFG_NAME_MAX 64              /* section and key names we keep for messages */
#define LONG_MARK "\x01"             /* stands for p->long_value in a shortened line */

_Static_assert(sizeof(enum log_level) == sizeof(int), "log_level is stored as an int");

enum cfg_type { CFG_STRING, CFG_PATH, CFG_INT, CFG_UINT, CFG_SIZE, CFG_BOOL, CFG_ENUM,
		CFG_HOSTPORT, CFG_REPEAT, CFG_SOURCE, CFG_STORE };

#define CFG_REQUIRED 1u   /* must appear in the file */

struct cfg_parse;

struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	size_t offset;                /* into struct config */
	size_t size;                  /* of that field */
	const char *def;              /* default, parsed like file text; NULL = none */
	long long min, max;           /* numeric bounds */
	unsigned flags;
	const char *const *names;     /* CFG_ENUM: value i is names[i] */
	/* CFG_REPEAT: adds one value; 0 or -1 with msg */
	int (*add)(struct cfg_parse *p, const char *value, char *msg, size_t msglen);
	const char *help;
};

struct cfg_parse {
	struct config *cfg;
	const char *name;             /* the file as given, for messages */
	char dir[CFG_PATH_MAX];       /* absolute directory of the file */
	const char *pos, *end;        /* reader position in the file text */
	int line;                     /* line last handed to inih */
	int indented;                 /* that line started with a blank */
	int *set_line;                /* per cfg_keys[] entry: line it was set on */
	char prev_section[CFG_NAME_MAX], prev_key[CFG_NAME_MAX];
	char bad_section[CFG_NAME_MAX];   /* unknown section already reported */
	int long_pending;             /* the current line's value is in long_value */
	char long_value[2 * CFG_PATH_MAX];
	struct buf err;
	int n_err;
};

static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

static int add_is_cert(struct cfg_parse *p, const char *value, char *msg, size_t msglen);
static int add_member_key(struct cfg_parse *p, const char *value, char *msg, size_t msglen);
static int add_metadata_only(struct cfg_parse *p, const char *value, char *msg, size_t msglen);

#define FLD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)
#define MS_MAX 3600000LL   /* no timeout beyond an hour */

/* The table. Order is the order of `config keys` and of the example file. */
static const struct cfg_key cfg_keys[] = {
	{ "gateway", "code", CFG_STRING, FLD(gateway_code), NULL, 0, 0, CFG_REQUIRED, NULL, NULL,
	  "this gateway's code in the global configuration (<gateway code=...>)" },
	{ "gateway", "workers", CFG_INT, FLD(workers), "1", 1, 64, 0, NULL, NULL,
	  "worker threads, each with its own event loop" },
	{ "gateway", "log_level", CFG_ENUM, FLD(log_level), "info", 0, 0, 0,
	  log_level_names, NULL, "error, warn, info or debug" },
	{ "gateway", "data_dir", CFG_PATH, FLD(data_dir), ".", 0, 0, 0, NULL, NULL,
	  "directory for the message log, the OCSP cache and adapter data" },
	{ "gateway", "globalconf", CFG_PATH, FLD(globalconf), NULL, 0, 0, CFG_REQUIRED,
	  NULL, NULL, "the global configuration (XML)" },
	{ "gateway", "globalconf_xsd", CFG_PATH, FLD(globalconf_xsd), CFG_XSD_DEFAULT, 0, 0,
	  0, NULL, NULL, "schema the global configuration is validated against" },
	{ "gateway", "wsdl_dir", CFG_PATH, FLD(wsdl_dir), CFG_SHARE_DIR "/wsdl", 0, 0, 0,
	  NULL, NULL, "directory of the service descriptions (WSDL, OpenAPI)" },

	{ "client", "listen", CFG_HOSTPORT, FLD(client_listen), NULL, 0, 0, CFG_REQUIRED, NULL, NULL,
	  "plain HTTP listener for local information systems (host:port)" },
	{ "client", "tls_listen", CFG_HOSTPORT, FLD(client_tls_listen), "", 0, 0, 0, NULL, NULL,
	  "HTTPS listener for information systems; empty = none" },
	{ "client", "tls_cert", CFG_PATH, FLD(client_tls_cert), "", 0, 0, 0, NULL, NULL,
	  "certificate (PEM) of the HTTPS listener" },
	{ "client", "tls_key", CFG_PATH, FLD(client_tls_key), "", 0, 0, 0, NULL, NULL,
	  "private key (PEM) of the HTTPS listener" },
	{ "client", "tls_client_ca", CFG_PATH, FLD(client_tls_client_ca), "", 0, 0, 0, NULL, NULL,
	  "CA bundle for information system certificates; empty = no client certificates" },
	{ "client", "is_cert", CFG_REPEAT, 0, 0, NULL, 0, 0, 0, NULL, add_is_cert,
	  "repeatable: \"INST/CLASS/CODE/SUB /path/cert.pem\" binds a client id to the "
	  "certificate its information system must present" },

	{ "server", "listen", CFG_HOSTPORT, FLD(server_listen), NULL, 0, 0, CFG_REQUIRED, NULL, NULL,
	  "gateway-to-gateway listener (mutual TLS), host:port" },
	{ "server", "tls_cert", CFG_PATH, FLD(server_tls_cert), "", 0, 0, 0, NULL, NULL,
	  "this gateway's authentication certificate (PEM); its SHA-256 is authCertHash" },
	{ "server", "tls_key", CFG_PATH, FLD(server_tls_key), "", 0, 0, 0, NULL, NULL,
	  "private key of the authentication certificate" },
	{ "server", "tls_ca", CFG_PATH, FLD(server_tls_ca), "", 0, 0, 0, NULL, NULL,
	  "CA(s) that issue gateway authentication certificates" },

	{ "limits", "max_body", CFG_SIZE, FLD(max_body), "10M", KB, GB, 0, NULL, NULL,
	  "largest request or response body accepted" },
	{ "limits", "max_head", CFG_SIZE, FLD(max_head), "64K", KB, MB, 0, NULL, NULL,
	  "largest request line plus headers" },
	{ "limits", "max_headers", CFG_UINT, FLD(max_headers), "100", 8, 1000, 0, NULL, NULL,
	  "most header fields in one message" },
	{ "limits", "max_conns", CFG_UINT, FLD(max_conns), "1024", 1, 100000, 0, NULL, NULL,
	  "most open connections per listener; at the limit one is closed for a new one (the longest with no "
	  "byte of a request yet, or TLS not through its handshake; then a head still arriving after 2 s; "
	  "then the longest kept alive between requests), and only when every one has a request under way "
	  "is the newcomer refused" },
	{ "limits", "header_timeout_ms", CFG_UINT, FLD(header_timeout_ms), "10000", 100, MS_MAX,
	  0, NULL, NULL, "time allowed to receive the request head" },
	{ "limits", "body_timeout_ms", CFG_UINT, FLD(body_timeout_ms), "30000", 100, MS_MAX,
	  0, NULL, NULL, "time allowed between body reads" },
	{ "limits", "idle_timeout_ms", CFG_UINT, FLD(idle_timeout_ms), "60000", 100, MS_MAX,
	  0, NULL, NULL, "keep-alive connection idle time" },
	{ "limits", "write_timeout_ms", CFG_UINT, FLD(write_timeout_ms), "30000", 100, MS_MAX,
	  0, NULL, NULL, "time allowed for a blocked write" },

	{ "signing", "member_key", CFG_REPEAT, 0, 0, NULL, 0, 0, 0, NULL, add_member_key,
	  "repeatable: \"CLASS/CODE /path/sign.key /path/sign-fullchain.pem\": the signing key "
	  "and certificate (then its intermediates) of a member this gateway hosts" },
	{ "signing", "batch_max", CFG_UINT, FLD(sign_batch_max), "256", 1, 256, 0, NULL, NULL,
	  "messages signed together with one key operation (a hash tree, as X-Road's batch "
	  "signatures): what one event-loop turn of a worker has ready to send; 1 = one "
	  "signature per message" },

	{ "msglog", "enabled", CFG_BOOL, FLD(msglog_enabled), "on", 0, 0, 0, NULL, NULL,
	  "keep the message log (signed requests and responses, hash-chained, time-stamped)" },
	{ "msglog", "path", CFG_STORE, FLD(msglog_path), "", 0, 0, 0, NULL, NULL,
	  "SQLite file of the log, or a PostgreSQL URI (postgresql://user@host/db; one writing gateway "
	  "per database or schema); empty = <data_dir>/msglog.db" },
	{ "msglog", "ts_interval_ms", CFG_UINT, FLD(ts_interval_ms), "1000", 50, MS_MAX, 0, NULL, NULL,
	  "how often the records logged since the last time stamp get one RFC 3161 token" },
	{ "msglog", "ts_sync", CFG_BOOL, FLD(ts_sync), "off", 0, 0, 0, NULL, NULL,
	  "time-stamp every commit before answering (slower; no batch)" },
	{ "msglog", "compress", CFG_BOOL, FLD(msglog_compress), "on", 0, 0, 0, NULL, NULL,
	  "SQLite log and its archive files: store bodies and signature documents zstd-compressed "
	  "against a dictionary made of the log's own first records (~3x smaller on disk; reads and "
	  "ailgate log verify/export give the logged bytes either way)" },
	{ "msglog", "slow_commit_ms", CFG_UINT, FLD(msglog_slow_commit_ms), "500", 0, 600000, 0, NULL, NULL,
	  "/health warns (check msglog_commits) while a commit of the log (SQLite: its WAL written and "
	  "synced) took longer than this in the last minute: every answer waits for one; 0 = never warn" },
	{ "msglog", "ts_max_unstamped_ms", CFG_UINT, FLD(ts_max_unstamped_ms), "600000", 100,
	  86400000LL, 0, NULL, NULL,
	  "when a record has waited this long for a time stamp (TSA unreachable), new exchanges are "
	  "refused with LoggingFailed.TimestamperFailed until the TSA answers again" },
	{ "msglog", "anchor_interval_ms", CFG_UINT, FLD(anchor_interval_ms), "60000", 0, 86400000LL, 0, NULL,
	  NULL,
	  "at most this often, after a time stamp, the log says its newest stamped record "
	  "(event=msglog_anchor anchor=ID:HASH; also /health msglog_anchor): kept off this machine, "
	  "it lets ailgate log verify --anchor tell a log whose newest records were cut; 0 = never" },
	{ "msglog", "archive_dir", CFG_PATH, FLD(archive_dir), "", 0, 0, 0, NULL, NULL,
	  "where records older than retention_days are archived (files ailgate log verify checks)" },
	{ "msglog", "retention_days", CFG_UINT, FLD(retention_days), "0", 0, 36500, 0, NULL, NULL,
	  "days records stay in the live log before archiving; 0 = never archive" },
	{ "msglog", "archive_file_records", CFG_UINT, FLD(archive_file_records), "20000", 100, 10000000, 0,
	  NULL, NULL,
	  "records per archive file (whole time-stamp batches): each file's records leave the live "
	  "log in one transaction, during which new records wait (~25 us per record)" },
	{ "msglog", "replay_window_s", CFG_UINT, FLD(replay_window_s), "600", 1, 86400, 0, NULL, NULL,
	  "a message id seen from the same client within this window is refused" },
	{ "msglog", "metadata_only", CFG_REPEAT, 0, 0, NULL, 0, 0, 0, NULL, add_metadata_only,
	  "repeatable: \"INST/CLASS/CODE/SUB\": exchanges of this subsystem (as client or provider) "
	  "are logged without bodies (digest and length only)" },

	{ "ocsp", "freshness_s", CFG_UINT, FLD(ocsp_freshness_s), "3600", 10, 604800, 0, NULL, NULL,
	  "an OCSP response older than this is not accepted (ours are refreshed before)" },
	{ "ocsp", "fetch_interval_s", CFG_UINT, FLD(ocsp_fetch_interval_s), "1200", 1, 86400, 0, NULL, NULL,
	  "our own certificates' status is fetched again at least this often (how soon a revocation "
	  "is learnt; X-Road's ocspFetchInterval); sooner when a response nears its freshness limit" },
	{ "ocsp", "timeout_ms", CFG_UINT, FLD(ocsp_timeout_ms), "5000", 100, 600000, 0, NULL, NULL,
	  "one request to an OCSP responder" },

	{ "globalconf", "anchor", CFG_PATH, FLD(gc_anchor), "", 0, 0, 0, NULL, NULL,
	  "the exchange operator's certificate (PEM): a global configuration is accepted only "
	  "when signed by exactly this certificate; empty = the signature is not checked" },
	{ "globalconf", "source", CFG_SOURCE, FLD(gc_source), "", 0, 0, 0, NULL, NULL,
	  "where updates come from: a file or an http(s) URL; empty = [gateway] globalconf. "
	  "[gateway] globalconf stays the local copy: good downloads are written there" },
	{ "globalconf", "refresh_s", CFG_UINT, FLD(gc_refresh_s), "60", 0, 86400, 0, NULL, NULL,
	  "seconds between reads of the source (X-Road: 60); 0 = only at start and on SIGHUP" },
	{ "globalconf", "download_timeout_ms", CFG_UINT, FLD(gc_download_timeout_ms), "10000", 100,
	  600000, 0, NULL, NULL, "time allowed for one download of the source" },

	{ "outbound", "connect_timeout_ms", CFG_UINT, FLD(connect_timeout_ms), "5000", 100, 600000,
	  0, NULL, NULL, "connect (and TLS handshake) timeout towards gateways and providers" },
	{ "outbound", "timeout_ms", CFG_UINT, FLD(timeout_ms), "30000", 100, MS_MAX, 0,
	  NULL, NULL, "whole-request timeout towards gateways and providers" },
	{ "outbound", "max_response", CFG_SIZE, FLD(max_response), "10M", KB, GB, 0, NULL,
	  NULL, "largest response accepted from a gateway or provider" },
};

#define N_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static const char *const type_names[] = {
	[CFG_STRING] = "string", [CFG_PATH] = "path", [CFG_INT] = "int", [CFG_UINT] = "uint",
	[CFG_SIZE] = "size", [CFG_BOOL] = "bool", [CFG_ENUM] = "enum",
	[CFG_HOSTPORT] = "host:port", [CFG_REPEAT] = "repeatable", [CFG_SOURCE] = "path or URL", [CFG_STORE] = "path or postgresql:// URI",
};

const char *log_level_name(enum log_level l)
{
	if ((int)l < 0 || (size_t)l >= sizeof(log_level_names) / sizeof(log_level_names[0]) - 1)
		return "?";
	return log_level_names[l];
}

/* ---- messages ---------------------------------------------------------- */

static void cfg_error(struct cfg_parse *p, int line, const char *section, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Appends one "file:line: [section] key: message" line. Only the first few
 * are kept; that is enough to fix a file and keeps *err bounded. */
static void cfg_error(struct cfg_parse *p, int line, const char *section, const char *key,
		      const char *fmt, ...)
{
	va_list ap;
	int rc = 0;

	if (p->n_err++ >= CFG_ERRORS_MAX)
		return;
	if (p->err.len)
		rc |= buf_puts(&p->err, "\n");
	rc |= line > 0 ? buf_printf(&p->err, "%s:%d: ", p->name, line)
		       : buf_printf(&p->err, "%s: ", p->name);
	if (section)
		rc |= buf_printf(&p->err, "[%s]%s%s: ", section, key ? " " : "", key ? key : "");
	va_start(ap, fmt);
	rc |= buf_vprintf(&p->err, fmt, ap);
	va_end(ap);
	(void)rc;   /* a message cut short by the cap is still a failure reported */
}

/* Edit distance, for "did you mean". Names are short (< CFG_NAME_MAX). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, CFG_NAME_MAX - 1), lb = strnlen(b, CFG_NAME_MAX - 1);
	size_t row[CFG_NAME_MAX];

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The closest known section (key == NULL) or key of section, if close enough
 * to be a plausible typo; NULL otherwise. */
static const char *closest_name(const char *section, const char *key)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	const char *want = key ? key : section;

	for (size_t i = 0; i < N_KEYS; i++) {
		const char *cand = key ? cfg_keys[i].key : cfg_keys[i].section;
		size_t d;

		if (key && strcmp(cfg_keys[i].section, section) != 0)
			continue;
		d = edit_distance(want, cand);
		if (d < best_d) {
			best_d = d;
			best = cand;
		}
	}
	if (!best || best_d > 2 || best_d * 3 > strlen(want) + 2)
		return NULL;
	return best;
}

/* ---- value parsers ------------------------------------------------------ */

static int parse_ll(const char *s, long long *out)
{
	char *end;

	if (!*s)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

/* "64K", "10M", "1g" or plain bytes; 1024-based. */
static int parse_size(const char *s, long long *out)
{
	char *end;
	long long mult = 1;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = KB; end++; break;
	case 'm': case 'M': mult = MB; end++; break;
	case 'g': case 'G': mult = GB; end++; break;
	default: return -1;
	}
	if (*end || v > (unsigned long long)LLONG_MAX / (unsigned long long)mult)
		return -1;
	*out = (long long)v * mult;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

static int host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static int v6_char_ok(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '.';
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *h = s, *colon;
	size_t hl;
	long v = 0;
	int v6 = 0;

	if (!s || !host || !port || hostlen == 0)
		return -1;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	for (size_t i = 0; i < hl; i++)
		if (v6 ? !v6_char_ok(h[i]) : !host_char_ok(h[i]))
			return -1;
	if (!colon[1] || strlen(colon + 1) > 5)
		return -1;
	for (const char *d = colon + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		v = v * 10 + (*d - '0');
	}
	if (v > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)v;
	return 0;
}

/* Relative paths are relative to the config file's directory, so a gateway
 * can be started from anywhere. Empty stays empty ("not configured"). */
static int resolve_path(const struct cfg_parse *p, const char *v, char *out, size_t outlen)
{
	int n;

	if (!*v || *v == '/')
		n = snprintf(out, outlen, "%s", v);
	else if (strcmp(v, ".") == 0)
		n = snprintf(out, outlen, "%s", p->dir);
	else
		n = snprintf(out, outlen, "%s/%s", p->dir, v);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

static int store_text(const struct cfg_key *k, char *field, const char *v, char *msg, size_t msglen)
{
	if (strlen(v) >= k->size) {
		snprintf(msg, msglen, "value is longer than %zu bytes", k->size - 1);
		return -1;
	}
	memcpy(field, v, strlen(v) + 1);
	return 0;
}

static int check_bounds(const struct cfg_key *k, long long v, char *msg, size_t msglen)
{
	if (v < k->min) {
		snprintf(msg, msglen, "value %lld is below the minimum %lld", v, k->min);
		return -1;
	}
	if (v > k->max) {
		snprintf(msg, msglen, "value %lld is above the maximum %lld", v, k->max);
		return -1;
	}
	return 0;
}

static int parse_number(const struct cfg_key *k, char *field, const char *v, char *msg,
			size_t msglen)
{
	long long n;
	int bad = k->type == CFG_SIZE ? parse_size(v, &n) : parse_ll(v, &n);

	if (bad) {
		snprintf(msg, msglen, k->type == CFG_SIZE ? "'%s' is not a size (bytes, or with K, M, G)"
							  : "'%s' is not an integer", v);
		return -1;
	}
	if (check_bounds(k, n, msg, msglen))
		return -1;
	if (k->type == CFG_INT) {
		int i = (int)n;
		memcpy(field, &i, sizeof(i));
	} else if (k->type == CFG_UINT) {
		unsigned u = (unsigned)n;
		memcpy(field, &u, sizeof(u));
	} else {
		size_t z = (size_t)n;
		memcpy(field, &z, sizeof(z));
	}
	return 0;
}

static int parse_enum(const struct cfg_key *k, char *field, const char *v, char *msg,
		      size_t msglen)
{
	size_t off = 0;

	for (int i = 0; k->names[i]; i++) {
		if (strcmp(v, k->names[i]) == 0) {
			memcpy(field, &i, sizeof(i));
			return 0;
		}
	}
	off = (size_t)snprintf(msg, msglen, "'%s' is not one of", v);
	for (int i = 0; k->names[i] && off < msglen; i++)
		off += (size_t)snprintf(msg + off, msglen - off, "%s %s", i ? "," : "", k->names[i]);
	return -1;
}

/* Parses v as key k into the config. 0, or -1 with msg. */
static int parse_value(struct cfg_parse *p, const struct cfg_key *k, const char *v, char *msg,
		       size_t msglen)
{
	char *field = (char *)p->cfg + k->offset;
	char host[256];
	int port, b;

	if ((k->flags & CFG_REQUIRED) && !*v) {
		snprintf(msg, msglen, "must not be empty");
		return -1;
	}
	switch (k->type) {
	case CFG_STRING:
		return store_text(k, field, v, msg, msglen);
	case CFG_PATH:
		if (resolve_path(p, v, field, k->size) == 0)
			return 0;
		snprintf(msg, msglen, "path is longer than %zu bytes", k->size - 1);
		return -1;
	case CFG_SOURCE:   /* a URL as it is; a path like CFG_PATH */
	case CFG_STORE:    /* a PostgreSQL URI as it is; a path like CFG_PATH */
		if (k->type == CFG_SOURCE ? (strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0) :
					    msglog_target_is_pg(v))
			return store_text(k, field, v, msg, msglen);
		if (resolve_path(p, v, field, k->size) == 0)
			return 0;
		snprintf(msg, msglen, "path is longer than %zu bytes", k->size - 1);
		return -1;
	case CFG_HOSTPORT:
		if (*v && config_split_hostport(v, host, sizeof(host), &port) != 0) {
			snprintf(msg, msglen, "'%s' is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)", v);
			return -1;
		}
		return store_text(k, field, v, msg, msglen);
	case CFG_INT: case CFG_UINT: case CFG_SIZE:
		return parse_number(k, field, v, msg, msglen);
	case CFG_BOOL:
		if (parse_bool(v, &b) == 0) {
			memcpy(field, &b, sizeof(b));
			return 0;
		}
		snprintf(msg, msglen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", v);
		return -1;
	case CFG_ENUM:
		return parse_enum(k, field, v, msg, msglen);
	case CFG_REPEAT:
		return k->add(p, v, msg, msglen);
	}
	snprintf(msg, msglen, "internal: unknown type");
	return -1;
}

/* ---- repeatable and free-form entries ---------------------------------- */

/* "INST/CLASS/CODE/SUB /path/cert.pem" */
/* Room for one more entry of a repeatable key: *arr grows by one (zeroed)
 * and the new entry is returned, or NULL with msg set (over the cap, out of
 * memory). The caller counts it in (*n)++ once it is filled. */
static void *repeat_grow(void **arr, size_t n, size_t size, char *msg, size_t msglen)
{
	char *a;

	if (n >= CFG_REPEAT_MAX) {
		snprintf(msg, msglen, "more than %d entries", CFG_REPEAT_MAX);
		return NULL;
	}
	if (!(a = realloc(*arr, (n + 1) * size))) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	*arr = a;
	memset(a + n * size, 0, size);
	return a + n * size;
}

static int add_is_cert(struct cfg_parse *p, const char *value, char *msg, size_t msglen)
{
	struct config *cfg = p->cfg;
	struct cfg_is_cert *e;
	struct xrd_id id;
	char idtext[sizeof(e->client)], perr[128];
	const char *sp = strpbrk(value, " \t"), *file;
	size_t idlen = sp ? (size_t)(sp - value) : 0;

	file = sp ? sp + strspn(sp, " \t") : "";
	if (!sp || !*file || strpbrk(file, " \t") || idlen >= sizeof(idtext)) {
		snprintf(msg, msglen, "expected \"INST/CLASS/CODE/SUB /path/cert.pem\"");
		return -1;
	}
	memcpy(idtext, value, idlen);
	idtext[idlen] = '\0';
	if (xrd_id_parse_path(idtext, &id, perr, sizeof(perr)) != 0) {
		snprintf(msg, msglen, "bad client id '%s': %s", idtext, perr);
		return -1;
	}
	/* Three parts would parse as a MEMBER with the instance left out; an
	 * information system is a subsystem, so insist on all four. */
	if (id.type != XRD_SUBSYSTEM) {
		snprintf(msg, msglen, "bad client id '%s': expected INST/CLASS/CODE/SUB", idtext);
		return -1;
	}
	if (!(e = repeat_grow((void **)&cfg->is_certs, cfg->n_is_certs, sizeof(*e), msg, msglen)))
		return -1;
	memcpy(e->client, idtext, idlen + 1);
	if (resolve_path(p, file, e->cert_file, sizeof(e->cert_file)) != 0) {
		snprintf(msg, msglen, "path is longer than %zu bytes", sizeof(e->cert_file) - 1);
		return -1;
	}
	cfg->n_is_certs++;
	return 0;
}

static int adapter_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct cfg_adapter_kv *)0)->adapter))
		return 0;
	for (; *s; s++)
		if (!host_char_ok(*s))
			return 0;
	return 1;
}

/* [adapter.NAME] key = value: kept verbatim for the adapter. */
static void add_adapter_kv(struct cfg_parse *p, const char *section, const char *key,
			   const char *value)
{
	struct config *cfg = p->cfg;
	const char *name = section + strlen("adapter.");
	struct cfg_adapter_kv *n, *e;

	if (!adapter_name_ok(name)) {
		cfg_error(p, p->line, section, key, "adapter name must be 1..63 of A-Z a-z 0-9 . - _");
		return;
	}
	if (strlen(key) >= sizeof(e->key) || strlen(value) >= sizeof(e->value)) {
		cfg_error(p, p->line, section, key, "key or value too long");
		return;
	}
	if (config_adapter_get(cfg, name, key)) {
		cfg_error(p, p->line, section, key, "given twice");
		return;
	}
	if (cfg->n_adapter_kv >= CFG_REPEAT_MAX ||
	    !(n = realloc(cfg->adapter_kv, (cfg->n_adapter_kv + 1) * sizeof(*n)))) {
		cfg_error(p, p->line, section, key, "too many adapter keys or out of memory");
		return;
	}
	cfg->adapter_kv = n;
	e = &n[cfg->n_adapter_kv++];
	snprintf(e->adapter, sizeof(e->adapter), "%s", name);
	snprintf(e->key, sizeof(e->key), "%s", key);
	snprintf(e->value, sizeof(e->value), "%s", value);
}

const char *config_adapter_get(const struct config *cfg, const char *adapter, const char *key)
{
	if (!cfg || !adapter || !key)
		return NULL;
	for (size_t i = 0; i < cfg->n_adapter_kv; i++)
		if (strcmp(cfg->adapter_kv[i].adapter, adapter) == 0 &&
		    strcmp(cfg->adapter_kv[i].key, key) == 0)
			return cfg->adapter_kv[i].value;
	return NULL;
}

/* ---- inih glue ---------------------------------------------------------- */

static int section_known(const char *section)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(cfg_keys[i].section, section) == 0)
			return 1;
	return 0;
}

static const struct cfg_key *find_key(const char *section, const char *key, size_t *idx)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].key, key) == 0) {
			*idx = i;
			return &cfg_keys[i];
		}
	}
	return NULL;
}

static void unknown_name(struct cfg_parse *p, const char *section, const char *key)
{
	const char *hint;

	if (!*section) {
		cfg_error(p, p->line, NULL, NULL, "%s: key outside any [section]", key);
		return;
	}
	if (!section_known(section)) {
		/* One message per unknown section, not one per key in it. */
		if (strcmp(p->bad_section, section) == 0)
			return;
		snprintf(p->bad_section, sizeof(p->bad_section), "%s", section);
		hint = closest_name(section, NULL);
		if (hint)
			cfg_error(p, p->line, section, key, "unknown section (did you mean [%s]?)", hint);
		else
			cfg_error(p, p->line, section, key, "unknown section");
		return;
	}
	hint = closest_name(section, key);
	if (hint)
		cfg_error(p, p->line, section, key, "unknown key (did you mean '%s'?)", hint);
	else
		cfg_error(p, p->line, section, key, "unknown key");
}

/* Called by inih for every name = value; always returns 1 so inih keeps
 * going and we report every problem (syntax errors come back as its return
 * value). */
static int on_value(void *user, const char *section, const char *key, const char *value)
{
	struct cfg_parse *p = user;
	const struct cfg_key *k;
	char msg[512];
	size_t idx;

	/* inih joins an indented line to the previous key; that silently turns
	 * "  max_body = 1M" into part of another value, so refuse it. */
	if (p->indented && strcmp(section, p->prev_section) == 0 && strcmp(key, p->prev_key) == 0) {
		cfg_error(p, p->line, section, key,
			  "indented line would continue the previous value; remove the indent");
		return 1;
	}
	if (p->long_pending && strcmp(value, LONG_MARK) == 0)
		value = p->long_value;
	p->long_pending = 0;
	snprintf(p->prev_section, sizeof(p->prev_section), "%s", section);
	snprintf(p->prev_key, sizeof(p->prev_key), "%s", key);
	if (strncmp(section, "adapter.", 8) == 0) {
		add_adapter_kv(p, section, key, value);
		return 1;
	}
	k = find_key(section, key, &idx);
	if (!k) {
		unknown_name(p, section, key);
		return 1;
	}
	if (k->type != CFG_REPEAT && p->set_line[idx]) {
		cfg_error(p, p->line, section, key, "given twice (first on line %d)", p->set_line[idx]);
		return 1;
	}
	p->set_line[idx] = p->line;
	if (parse_value(p, k, value, msg, sizeof(msg)) != 0)
		cfg_error(p, p->line, section, key, "%s", msg);
	return 1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A "key = value" line too long for inih's buffer: inih gets "key = MARK"
 * and the value (trimmed, inline comment cut, as inih would) waits in
 * p->long_value. Returns 0, or -1 if the line is not of that form. */
static int shorten_line(struct cfg_parse *p, const char *line, size_t len, char *str, int num)
{
	const char *end = line + len, *eq, *k = line, *v, *ve;
	size_t klen;

	while (k < end && is_blank(*k))
		k++;
	eq = k;
	while (eq < end && *eq != '=' && *eq != ':')
		eq++;
	if (eq == end || *k == '[')
		return -1;
	klen = (size_t)(eq - k);
	while (klen && is_blank(k[klen - 1]))
		klen--;
	for (v = eq + 1; v < end && is_blank(*v); v++)
		;
	for (ve = v; ve < end && *ve != '\n' && !(*ve == ';' && is_blank(ve[-1])); ve++)
		;
	while (ve > v && is_blank(ve[-1]))
		ve--;
	if ((size_t)(ve - v) >= sizeof(p->long_value) || klen + 8 > (size_t)num)
		return -1;
	memcpy(p->long_value, v, (size_t)(ve - v));
	p->long_value[ve - v] = '\0';
	snprintf(str, (size_t)num, "%.*s = " LONG_MARK "\n", (int)klen, k);
	p->long_pending = 1;
	return 0;
}

/* fgets-like reader over the file text that counts lines. Lines that do not
 * fit inih's buffer: comments are dropped, key = value lines shortened (see
 * above), anything else is reported. */
static char *read_line(char *str, int num, void *stream)
{
	struct cfg_parse *p = stream;
	const char *nl, *t;
	size_t len;

	if (p->pos >= p->end || num < 16)
		return NULL;
	nl = memchr(p->pos, '\n', (size_t)(p->end - p->pos));
	len = nl ? (size_t)(nl - p->pos) + 1 : (size_t)(p->end - p->pos);
	p->line++;
	p->indented = (*p->pos == ' ' || *p->pos == '\t');
	p->long_pending = 0;
	/* the line, its newline and a NUL must fit inih's buffer */
	if (len + 1 <= (size_t)num) {
		memcpy(str, p->pos, len);
		str[len] = '\0';
	} else {
		for (t = p->pos; t < p->pos + len && is_blank(*t); t++)
			;
		if (*t != ';' && *t != '#' && shorten_line(p, p->pos, len, str, num) != 0)
			cfg_error(p, p->line, NULL, NULL, "line is too long (values up to %zu bytes)",
				  sizeof(p->long_value) - 1);
		if (*t == ';' || *t == '#' || !p->long_pending)
			memcpy(str, "\n", 2);
	}
	p->pos += len;
	return str;
}

/* ---- load --------------------------------------------------------------- */

static int apply_defaults(struct cfg_parse *p)
{
	char msg[256];

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		if (!k->def)
			continue;
		if (parse_value(p, k, k->def, msg, sizeof(msg)) != 0) {
			cfg_error(p, 0, k->section, k->key, "internal: bad default: %s", msg);
			return -1;
		}
	}
	return 0;
}

/* Two listeners on one port: with SO_REUSEPORT the kernel splits the
 * connections between them, so plain HTTP landed on the TLS listener at
 * random. The same port with the same host, or with a wildcard host on
 * either side, is one port (port 0: each gets its own). */
static int wildcard_host(const char *h)
{
	return !h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "*");
}

/* 1 if hosts a and b name a common address ("localhost" and "127.0.0.1"
 * do: names are resolved as the listener will be). */
static int same_host(const char *a, const char *b)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ra = NULL, *rb = NULL;
	int same = !strcmp(a, b);

	if (!same && getaddrinfo(a, NULL, &hints, &ra) == 0 && getaddrinfo(b, NULL, &hints, &rb) == 0)
		for (const struct addrinfo *x = ra; x && !same; x = x->ai_next)
			for (const struct addrinfo *y = rb; y && !same; y = y->ai_next)
				same = x->ai_family == y->ai_family && x->ai_addrlen == y->ai_addrlen &&
				       !memcmp(x->ai_addr, y->ai_addr, x->ai_addrlen);
	if (ra)
		freeaddrinfo(ra);
	if (rb)
		freeaddrinfo(rb);
	return same;
}

static int same_listener(const char *a, const char *b)
{
	char ha[256], hb[256];
	int pa, pb;

	if (!a[0] || !b[0] || config_split_hostport(a, ha, sizeof(ha), &pa) != 0 ||
	    config_split_hostport(b, hb, sizeof(hb), &pb) != 0 || pa != pb || pa == 0)
		return 0;
	return wildcard_host(ha) || wildcard_host(hb) || same_host(ha, hb);
}

static void check_listeners(struct cfg_parse *p)
{
	const struct config *c = p->cfg;
	const struct { const char *sec, *key, *v; } l[] = {
		{ "client", "listen", c->client_listen }, { "client", "tls_listen", c->client_tls_listen },
		{ "server", "listen", c->server_listen },
	};

	for (size_t i = 0; i < 3; i++)
		for (size_t k = i + 1; k < 3; k++)
			if (same_listener(l[i].v, l[k].v))
				cfg_error(p, 0, l[k].sec, l[k].key, "%s is also [%s] %s: each listener needs a port "
					  "of its own", l[k].v, l[i].sec, l[i].key);
}

static void check_required(struct cfg_parse *p)
{
	const struct config *c = p->cfg;

	for (size_t i = 0; i < N_KEYS; i++)
		if ((cfg_keys[i].flags & CFG_REQUIRED) && !p->set_line[i])
			cfg_error(p, 0, cfg_keys[i].section, cfg_keys[i].key, "required key is missing");
	if (c->client_tls_listen[0] && (!c->client_tls_cert[0] || !c->client_tls_key[0]))
		cfg_error(p, 0, "client", "tls_listen", "needs tls_cert and tls_key in [client]");
	if (!c->server_tls_cert[0] != !c->server_tls_key[0])
		cfg_error(p, 0, "server", "tls_cert", "tls_cert and tls_key go together");
	check_listeners(p);
	/* retention that cannot work was silently off, or failed every run */
	if (c->retention_days && !c->archive_dir[0])
		cfg_error(p, 0, "msglog", "retention_days", "needs archive_dir: where records older than %u "
			  "days go", c->retention_days);
	else if (c->retention_days && access(c->archive_dir, W_OK | X_OK) != 0)
		cfg_error(p, 0, "msglog", "archive_dir", "%s: %s (records older than retention_days = %u are "
			  "archived there)", c->archive_dir, strerror(errno), c->retention_days);
}

/* Reads the whole file (capped) and fills p->dir with its absolute directory. */
static int read_file(struct cfg_parse *p, const char *path, char **text, size_t *len)
{
	char real[PATH_MAX], why[256], *slash;

	if (!realpath(path, real)) {
		cfg_error(p, 0, NULL, NULL, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (file_read_max(real, CFG_FILE_MAX, text, len, why, sizeof(why)) < 0) {
		cfg_error(p, 0, NULL, NULL, "%s", why);
		return -1;
	}
	slash = strrchr(real, '/');
	*slash = '\0';
	if (snprintf(p->dir, sizeof(p->dir), "%s", real[0] ? real : "/") >= (int)sizeof(p->dir)) {
		cfg_error(p, 0, NULL, NULL, "directory path too long");
		goto fail;
	}
	if (memchr(*text, '\0', *len)) {
		cfg_error(p, 0, NULL, NULL, "contains a NUL byte (not a text file)");
		goto fail;
	}
	return 0;
fail:
	free(*text);
	*text = NULL;
	return -1;
}

int config_load(const char *path, struct config **out, char **err)
{
	struct cfg_parse p;
	int set_line[N_KEYS] = { 0 };
	char *text = NULL;
	size_t len = 0;
	int rc = -1, syntax;

	memset(&p, 0, sizeof(p));
	buf_init(&p.err, 16 * 1024);
	p.name = path ? path : "(null)";
	p.set_line = set_line;
	*out = NULL;
	if (err)
		*err = NULL;
	if (!path || !(p.cfg = calloc(1, sizeof(*p.cfg)))) {
		cfg_error(&p, 0, NULL, NULL, "out of memory");
		goto out;
	}
	snprintf(p.cfg->path, sizeof(p.cfg->path), "%s", path);
	if (read_file(&p, path, &text, &len) != 0 || apply_defaults(&p) != 0)
		goto out;
	p.pos = text;
	p.end = text + len;
	syntax = ini_parse_stream(read_line, &p, on_value, &p);
	if (syntax > 0)
		cfg_error(&p, syntax, NULL, NULL, "syntax error: expected [section] or key = value");
	else if (syntax < 0)
		cfg_error(&p, 0, NULL, NULL, "cannot parse (out of memory)");
	if (p.n_err == 0)
		check_required(&p);
	if (p.n_err == 0) {
		*out = p.cfg;
		p.cfg = NULL;
		rc = 0;
	}
out:
	if (rc != 0 && err)
		*err = buf_steal(&p.err, NULL);
	buf_free(&p.err);
	free(text);
	config_free(&p.cfg);
	return rc;
}

/* "CLASS/CODE KEYFILE CERTFILE" */
static int add_member_key(struct cfg_parse *p, const char *value, char *msg, size_t msglen)
{
	struct config *cfg = p->cfg;
	struct cfg_member_key *e;
	char member[256], key[CFG_PATH_MAX], cert[CFG_PATH_MAX], extra[2];
	const char *slash;

	if (sscanf(value, "%255s %1023s %1023s %1s", member, key, cert, extra) != 3 ||
	    !(slash = strchr(member, '/')) || strchr(slash + 1, '/')) {
		snprintf(msg, msglen, "expected \"CLASS/CODE /path/sign.key /path/sign-fullchain.pem\"");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_member_keys; i++)
		if (strcmp(cfg->member_keys[i].member, member) == 0) {
			snprintf(msg, msglen, "member %s already has a key", member);
			return -1;
		}
	if (!(e = repeat_grow((void **)&cfg->member_keys, cfg->n_member_keys, sizeof(*e), msg, msglen)))
		return -1;
	snprintf(e->member, sizeof(e->member), "%s", member);
	if (resolve_path(p, key, e->key_file, sizeof(e->key_file)) != 0 ||
	    resolve_path(p, cert, e->cert_file, sizeof(e->cert_file)) != 0) {
		snprintf(msg, msglen, "path too long");
		return -1;
	}
	cfg->n_member_keys++;
	return 0;
}

static int add_metadata_only(struct cfg_parse *p, const char *value, char *msg, size_t msglen)
{
	struct config *cfg = p->cfg;
	struct cfg_subsystem *n;
	struct xrd_id id;
	char perr[128] = "";

	if (xrd_id_parse_path(value, &id, perr, sizeof(perr)) != 0 || id.type != XRD_SUBSYSTEM) {
		/* a member's id parses: perr says nothing then (it printed stack bytes) */
		snprintf(msg, msglen, "expected INST/CLASS/CODE/SUB (a subsystem): %s",
			 perr[0] ? perr : "this names a member, not one of its subsystems");
		return -1;
	}
	if (!(n = repeat_grow((void **)&cfg->metadata_only, cfg->n_metadata_only, sizeof(*n), msg, msglen)))
		return -1;
	snprintf(n->id, sizeof(n->id), "%s", value);
	cfg->n_metadata_only++;
	return 0;
}

void config_free(struct config **cfg)
{
	if (!cfg || !*cfg)
		return;
	free((*cfg)->member_keys);
	free((*cfg)->metadata_only);
	free((*cfg)->is_certs);
	free((*cfg)->adapter_kv);
	free(*cfg);
	*cfg = NULL;
}

/* ---- reload check and help ---------------------------------------------- */

static int field_equal(const struct cfg_key *k, const struct config *a, const struct config *b)
{
	const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

	switch (k->type) {
	case CFG_STRING: case CFG_PATH: case CFG_HOSTPORT: case CFG_SOURCE: case CFG_STORE:
		return strcmp(fa, fb) == 0;
	case CFG_REPEAT:
		if (strcmp(k->key, "member_key") == 0)
			return a->n_member_keys == b->n_member_keys &&
			       (a->n_member_keys == 0 ||
				memcmp(a->member_keys, b->member_keys,
				       a->n_member_keys * sizeof(*a->member_keys)) == 0);
		if (strcmp(k->key, "metadata_only") == 0)
			return a->n_metadata_only == b->n_metadata_only &&
			       (a->n_metadata_only == 0 ||
				memcmp(a->metadata_only, b->metadata_only,
				       a->n_metadata_only * sizeof(*a->metadata_only)) == 0);
		return a->n_is_certs == b->n_is_certs &&
		       (a->n_is_certs == 0 ||
			memcmp(a->is_certs, b->is_certs, a->n_is_certs * sizeof(*a->is_certs)) == 0);
	default:
		return memcmp(fa, fb, k->size) == 0;
	}
}

static int adapters_equal(const struct config *a, const struct config *b)
{
	if (a->n_adapter_kv != b->n_adapter_kv)
		return 0;
	for (size_t i = 0; i < a->n_adapter_kv; i++) {
		const char *v = config_adapter_get(b, a->adapter_kv[i].adapter, a->adapter_kv[i].key);

		if (!v || strcmp(v, a->adapter_kv[i].value) != 0)
			return 0;
	}
	return 1;
}

int config_reload_check(const struct config *old, const struct config *cur, char **err)
{
	struct buf b;
	int n = 0, rc = 0;

	buf_init(&b, 4096);
	if (err)
		*err = NULL;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		if (field_equal(k, old, cur))
			continue;
		rc |= buf_printf(&b, "%s[%s] %s", n++ ? ", " : "", k->section, k->key);
	}
	if (!adapters_equal(old, cur))
		rc |= buf_printf(&b, "%s[adapter.*]", n++ ? ", " : "");
	if (n)
		rc |= buf_puts(&b, ": changed since the gateway started; it reads its local configuration at "
			       "start only (SIGHUP re-reads the global configuration): restart it to apply");
	(void)rc;   /* the 4 KiB cap only shortens the list */
	if (n && err)
		*err = buf_steal(&b, NULL);
	buf_free(&b);
	return n ? -1 : 0;
}

static void print_bound(FILE *out, const struct cfg_key *k, long long v)
{
	if (k->type == CFG_SIZE && v >= GB && v % GB == 0)
		fprintf(out, "%lldG", v / GB);
	else if (k->type == CFG_SIZE && v >= MB && v % MB == 0)
		fprintf(out, "%lldM", v / MB);
	else if (k->type == CFG_SIZE && v >= KB && v % KB == 0)
		fprintf(out, "%lldK", v / KB);
	else
		fprintf(out, "%lld", v);
}

void config_print_keys(FILE *out)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		fprintf(out, "[%s] %s  (%s", k->section, k->key, type_names[k->type]);
		if (k->type == CFG_INT || k->type == CFG_UINT || k->type == CFG_SIZE) {
			fputs(", ", out);
			print_bound(out, k, k->min);
			fputs("..", out);
			print_bound(out, k, k->max);
		}
		if (k->flags & CFG_REQUIRED)
			fputs(", required", out);
		else if (k->def)
			fprintf(out, ", default \"%s\"", k->def);
		fprintf(out, ")\n    %s\n", k->help);
	}
	fputs("[adapter.NAME] KEY  (string)\n    free-form settings handed to adapter NAME\n", out);
}
