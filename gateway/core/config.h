/* Local configuration: one INI file per gateway, read through a declarative
 * table (key, type, default, bounds, help). Every error names the
 * file, line and key. `ailgate config keys` prints the table.
 *
 * Sections and keys (see config/ailgate.ini for the annotated example):
 *   [gateway]  code, workers, log_level, data_dir, globalconf, globalconf_xsd, wsdl_dir
 *   [client]   listen, tls_listen, tls_cert, tls_key, tls_client_ca, is_cert (repeatable:
 *              "INST/CLASS/CODE/SUB /path/cert.pem": a client system's certificate)
 *   [server]   listen, tls_cert, tls_key, tls_ca
 *   [limits]   max_body, max_head, max_headers, max_conns, header_timeout_ms,
 *              body_timeout_ms, idle_timeout_ms, write_timeout_ms
 *   [outbound] connect_timeout_ms, timeout_ms, max_response
 *   [globalconf] anchor, source, refresh_s, download_timeout_ms (the signed global
 *              configuration and its updates; gw.c, core/gconf_fetch.h)
 *   [adapter.NAME]  free-form keys handed to adapter NAME
 */
#ifndef AILGATE_CORE_CONFIG_H
#define AILGATE_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_PATH_MAX 1024

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct cfg_is_cert {
	char client[512];            /* "INST/CLASS/CODE/SUB" */
	char cert_file[CFG_PATH_MAX];
};

/* [signing] member_key: a hosted member's signing key. */
struct cfg_member_key {
	char member[256];            /* "CLASS/CODE" */
	char key_file[CFG_PATH_MAX];
	char cert_file[CFG_PATH_MAX];/* its certificate, then intermediates (a full chain) */
};

/* [msglog] metadata_only: a subsystem whose bodies are not logged. */
struct cfg_subsystem {
	char id[512];                /* "INST/CLASS/CODE/SUB" */
};

struct cfg_adapter_kv {
	char adapter[64];
	char key[64];
	char value[CFG_PATH_MAX];
};

struct config {
	char path[CFG_PATH_MAX];     /* the file it was read from */

	/* [gateway] */
	char gateway_code[128];      /* this gateway's code in global configuration (required) */
	int workers;                 /* 1..64, default 1 */
	enum log_level log_level;    /* error|warn|info|debug, default info */
	char data_dir[CFG_PATH_MAX]; /* default "." */
	char globalconf[CFG_PATH_MAX];     /* path (required) */
	char globalconf_xsd[CFG_PATH_MAX]; /* default: <source dir>/config/globalconf.xsd or /usr/share/ailgate/globalconf.xsd */
	char wsdl_dir[CFG_PATH_MAX];       /* default: <source dir>/wsdl */

	/* [client] */
	char client_listen[256];     /* "127.0.0.1:8080" (required) */
	char client_tls_listen[256]; /* "" = none */
	char client_tls_cert[CFG_PATH_MAX];
	char client_tls_key[CFG_PATH_MAX];
	char client_tls_client_ca[CFG_PATH_MAX];
	struct cfg_is_cert *is_certs;
	size_t n_is_certs;

	/* [server] */
	char server_listen[256];     /* "127.0.0.1:5500" (required) */
	char server_tls_cert[CFG_PATH_MAX];  /* this gateway's authentication certificate */
	char server_tls_key[CFG_PATH_MAX];
	char server_tls_ca[CFG_PATH_MAX];    /* CA(s) that issue gateway auth certificates */

	/* [limits] */
	size_t max_body;             /* default 10 MiB, 1 KiB..1 GiB */
	size_t max_head;             /* default 64 KiB, 1 KiB..1 MiB */
	unsigned max_headers;        /* default 100, 8..1000 */
	unsigned max_conns;          /* default 1024, 1..100000 */
	unsigned header_timeout_ms;  /* default 10000 */
	unsigned body_timeout_ms;    /* default 30000 */
	unsigned idle_timeout_ms;    /* default 60000 */
	unsigned write_timeout_ms;   /* default 30000 */

	/* [outbound] */
	unsigned connect_timeout_ms; /* default 5000 */
	unsigned timeout_ms;         /* default 30000 */
	size_t max_response;         /* default 10 MiB */

	/* [signing] */
	struct cfg_member_key *member_keys;
	size_t n_member_keys;
	unsigned sign_batch_max;     /* [signing] batch_max, default 256 */

	/* [msglog] */
	int msglog_enabled;          /* default on */
	char msglog_path[CFG_PATH_MAX];   /* default <data_dir>/msglog.db */
	unsigned ts_interval_ms;     /* batch time stamps, default 1000 */
	int ts_sync;                 /* stamp each commit before answering, default off */
	int msglog_compress;         /* SQLite log: bodies and documents compressed, default on */
	unsigned msglog_slow_commit_ms; /* /health warns above this commit time, default 500 */
	unsigned ts_max_unstamped_ms;/* refuse exchanges when records wait longer, default 600000 */
	unsigned anchor_interval_ms; /* event=msglog_anchor at most this often, default 60000; 0 = off */
	char archive_dir[CFG_PATH_MAX];
	unsigned retention_days;     /* 0 = keep everything in the live log */
	unsigned archive_file_records; /* records per archive file, default 20000 */
	unsigned replay_window_s;    /* default 600 */
	struct cfg_subsystem *metadata_only;
	size_t n_metadata_only;

	/* [ocsp] */
	unsigned ocsp_freshness_s;   /* default 3600 */
	unsigned ocsp_timeout_ms;    /* default 5000 */
	unsigned ocsp_fetch_interval_s;   /* default 1200 */

	/* [globalconf] */
	char gc_anchor[CFG_PATH_MAX];      /* the operator's certificate (PEM); "" = signature not checked */
	char gc_source[CFG_PATH_MAX];      /* file path or http(s) URL; "" = [gateway] globalconf */
	unsigned gc_refresh_s;             /* seconds between reads of the source, default 60; 0 = SIGHUP only */
	unsigned gc_download_timeout_ms;   /* one download, default 10000 */

	/* [adapter.*] */
	struct cfg_adapter_kv *adapter_kv;
	size_t n_adapter_kv;
};

/* Reads path into a new config (caller frees with config_free). Returns 0, or
 * -1 with *err (caller frees) like "ailgate.ini:12: [limits] max_body: value
 * 5 is below the minimum 1024" (up to 10 such lines, separated by '\n').
 * Relative paths in the file are resolved against the file's directory.
 * A value may be up to 2047 bytes even though Debian's inih reads at most
 * 198 per line (long lines are passed around it). */
int config_load(const char *path, struct config **out, char **err) __attribute__((warn_unused_result));
void config_free(struct config **cfg);

/* The value of key in [adapter.NAME], or NULL. */
const char *config_adapter_get(const struct config *cfg, const char *adapter, const char *key);

/* The gateway reads its local configuration at start only (SIGHUP re-reads
 * the global configuration): 0 if cur (the file read again) is the same as
 * old (the one in force), else -1 with *err (caller frees) listing the keys
 * that changed ("[limits] max_body, [adapter.*]: changed since the gateway
 * started; ... restart it to apply"). */
int config_reload_check(const struct config *old, const struct config *cur, char **err)
	__attribute__((warn_unused_result));

/* Prints every known key with type, default, bounds and help (for --help). */
void config_print_keys(FILE *out);

/* "host:port" -> parts. Returns 0 or -1. host is at most hostlen bytes. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

const char *log_level_name(enum log_level l);

#endif
