/* Local configuration: every value of a full file, defaults, each kind of
 * error with its file:line and key, size suffixes, path resolution,
 * adapter sections, host:port splitting, the reload check. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

/* The source tree: CMake passes it both as a define and in the environment. */
static const char *src_dir(void)
{
	const char *e = getenv("AILGATE_SOURCE_DIR");

	return e && *e ? e : AILGATE_SOURCE_DIR;
}

static void data_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/tests/data/config/%s", src_dir(), name);
}

/* A scratch directory with one config file "t.ini" in it. */
struct scratch {
	char dir[64];
	char ini[128];
};

static int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/ailgate-test-config-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->ini, sizeof(s->ini), "%s/t.ini", s->dir);
	*state = s;
	return 0;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;

	unlink(s->ini);
	rmdir(s->dir);
	free(s);
	return 0;
}

static void write_ini(const struct scratch *s, const char *text)
{
	FILE *f = fopen(s->ini, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text as t.ini; returns the config (or NULL, with *err). */
static struct config *load_text(const struct scratch *s, const char *text, char **err)
{
	struct config *cfg = NULL;

	write_ini(s, text);
	*err = NULL;
	if (config_load(s->ini, &cfg, err) != 0) {
		assert_null(cfg);
		assert_non_null(*err);
		return NULL;
	}
	assert_null(*err);
	return cfg;
}

static char *real_dir(const char *path)
{
	char *r = realpath(path, NULL);

	assert_non_null(r);
	return r;
}

static void test_good_file(void **state)
{
	char path[PATH_MAX], expect[PATH_MAX + 64], *dir, *err = NULL;
	struct config *cfg = NULL;

	(void)state;
	data_path(path, sizeof(path), "good.ini");
	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_null(err);
	dir = real_dir(path);
	*strrchr(dir, '/') = '\0';

	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->gateway_code, "municipality");
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	snprintf(expect, sizeof(expect), "%s/var/data", dir);
	assert_string_equal(cfg->data_dir, expect);
	snprintf(expect, sizeof(expect), "%s/../../../config/globalconf.example.xml", dir);
	assert_string_equal(cfg->globalconf, expect);
	assert_string_equal(cfg->globalconf_xsd, "/opt/ailgate/globalconf.xsd");
	snprintf(expect, sizeof(expect), "%s/../../../wsdl", dir);
	assert_string_equal(cfg->wsdl_dir, expect);

	assert_string_equal(cfg->client_listen, "127.0.0.1:8080");
	assert_string_equal(cfg->client_tls_listen, "[::1]:8443");
	snprintf(expect, sizeof(expect), "%s/certs/is-tls.pem", dir);
	assert_string_equal(cfg->client_tls_cert, expect);
	snprintf(expect, sizeof(expect), "%s/certs/is-tls.key", dir);
	assert_string_equal(cfg->client_tls_key, expect);
	snprintf(expect, sizeof(expect), "%s/certs/is-ca.pem", dir);
	assert_string_equal(cfg->client_tls_client_ca, expect);
	assert_int_equal(cfg->n_is_certs, 2);
	assert_string_equal(cfg->is_certs[0].client, "central-server/GOV/70000050/household-register");
	snprintf(expect, sizeof(expect), "%s/certs/household-register.pem", dir);
	assert_string_equal(cfg->is_certs[0].cert_file, expect);
	assert_string_equal(cfg->is_certs[1].client, "central-server/GOV/70000050/certificates");
	assert_string_equal(cfg->is_certs[1].cert_file, "/etc/ailgate/certificates.pem");

	assert_string_equal(cfg->server_listen, "0.0.0.0:5500");
	snprintf(expect, sizeof(expect), "%s/certs/auth.pem", dir);
	assert_string_equal(cfg->server_tls_cert, expect);
	snprintf(expect, sizeof(expect), "%s/certs/auth.key", dir);
	assert_string_equal(cfg->server_tls_key, expect);
	snprintf(expect, sizeof(expect), "%s/certs/gateway-ca.pem", dir);
	assert_string_equal(cfg->server_tls_ca, expect);

	assert_int_equal(cfg->max_body, 20 * 1024 * 1024);
	assert_int_equal(cfg->max_head, 32 * 1024);
	assert_int_equal(cfg->max_headers, 64);
	assert_int_equal(cfg->max_conns, 500);
	assert_int_equal(cfg->header_timeout_ms, 5000);
	assert_int_equal(cfg->body_timeout_ms, 20000);
	assert_int_equal(cfg->idle_timeout_ms, 30000);
	assert_int_equal(cfg->write_timeout_ms, 15000);
	assert_int_equal(cfg->connect_timeout_ms, 2000);
	assert_int_equal(cfg->timeout_ms, 25000);
	assert_int_equal(cfg->max_response, 1024UL * 1024 * 1024);

	assert_int_equal(cfg->n_adapter_kv, 3);
	assert_string_equal(config_adapter_get(cfg, "household", "db"), "household.sqlite");
	assert_string_equal(config_adapter_get(cfg, "household", "page_size"), "50");
	assert_string_equal(config_adapter_get(cfg, "population", "url"),
			    "http://127.0.0.1:9100/population");
	assert_null(config_adapter_get(cfg, "household", "url"));
	assert_null(config_adapter_get(cfg, "cadastre", "db"));
	free(dir);
	config_free(&cfg);
	assert_null(cfg);
}

static void test_defaults(void **state)
{
	char path[PATH_MAX], *dir, *err = NULL;
	struct config *cfg = NULL;

	(void)state;
	data_path(path, sizeof(path), "minimal.ini");
	assert_int_equal(config_load(path, &cfg, &err), 0);
	dir = real_dir(path);
	*strrchr(dir, '/') = '\0';
	assert_string_equal(cfg->gateway_code, "state");
	assert_int_equal(cfg->workers, 1);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_string_equal(cfg->data_dir, dir);   /* "." = the file's directory */
	assert_string_equal(cfg->globalconf_xsd, AILGATE_SOURCE_DIR "/config/globalconf.xsd");
	assert_string_equal(cfg->wsdl_dir, AILGATE_SOURCE_DIR "/wsdl");
	assert_string_equal(cfg->client_listen, "localhost:8081");
	assert_string_equal(cfg->client_tls_listen, "");
	assert_string_equal(cfg->client_tls_cert, "");
	assert_string_equal(cfg->server_tls_cert, "");
	assert_int_equal(cfg->n_is_certs, 0);
	assert_int_equal(cfg->max_body, 10 * 1024 * 1024);
	assert_int_equal(cfg->max_head, 64 * 1024);
	assert_int_equal(cfg->max_headers, 100);
	assert_int_equal(cfg->max_conns, 1024);
	assert_int_equal(cfg->header_timeout_ms, 10000);
	assert_int_equal(cfg->body_timeout_ms, 30000);
	assert_int_equal(cfg->idle_timeout_ms, 60000);
	assert_int_equal(cfg->write_timeout_ms, 30000);
	assert_int_equal(cfg->connect_timeout_ms, 5000);
	assert_int_equal(cfg->timeout_ms, 30000);
	assert_int_equal(cfg->max_response, 10 * 1024 * 1024);
	assert_int_equal(cfg->n_adapter_kv, 0);
	free(dir);
	config_free(&cfg);
}

/* The sample bad files under tests/data/config. */
static void test_bad_files(void **state)
{
	static const struct { const char *file, *msg; } cases[] = {
		{ "bad-unknown-key.ini", "bad-unknown-key.ini:4: [gateway] wokers: unknown key (did you mean 'workers'?)" },
		{ "bad-bounds.ini", "bad-bounds.ini:12: [limits] max_body: value 512 is below the minimum 1024" },
		{ "bad-missing.ini", "bad-missing.ini: [gateway] globalconf: required key is missing" },
		{ "bad-is-cert.ini", "bad-is-cert.ini:7: [client] is_cert: bad client id 'GOV/70000050/certificates': expected INST/CLASS/CODE/SUB" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[PATH_MAX], *err = NULL;
		struct config *cfg = NULL;

		data_path(path, sizeof(path), cases[i].file);
		assert_int_equal(config_load(path, &cfg, &err), -1);
		assert_null(cfg);
		assert_non_null(err);
		if (!strstr(err, cases[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].file, err, cases[i].msg);
		free(err);
	}
	/* a directory given as the file: said so (was "read error") */
	{
		char path[PATH_MAX], *err = NULL, *slash;
		struct config *cfg = NULL;

		data_path(path, sizeof(path), "bad-missing.ini");
		slash = strrchr(path, '/');
		*slash = '\0';
		assert_int_equal(config_load(path, &cfg, &err), -1);
		assert_non_null(err);
		if (!strstr(err, "is a directory, not a file"))
			fail_msg("got \"%s\"", err);
		free(err);
	}
	/* bad-missing.ini lacks two keys: both are named */
	{
		char path[PATH_MAX], *err = NULL;
		struct config *cfg = NULL;

		data_path(path, sizeof(path), "bad-missing.ini");
		assert_int_equal(config_load(path, &cfg, &err), -1);
		assert_non_null(strstr(err, "[server] listen: required key is missing"));
		free(err);
	}
}

/* 3 + 2 + 2 lines: anything appended starts on line 8. */
#define GW "[gateway]\ncode = municipality\nglobalconf = gc.xml\n"
#define CL "[client]\nlisten = 127.0.0.1:8080\n"
#define SV "[server]\nlisten = 127.0.0.1:5500\n"
#define BASE GW CL SV

static void test_errors(void **state)
{
	static const struct { const char *text, *msg; } cases[] = {
		/* unknown key, with and without a suggestion */
		{ BASE "[limits]\nmax_bdy = 1M\n", "t.ini:9: [limits] max_bdy: unknown key (did you mean 'max_body'?)" },
		{ BASE "[limits]\nfrobnicate = 1\n", "t.ini:9: [limits] frobnicate: unknown key" },
		{ BASE "[limit]\nmax_body = 1M\n", "t.ini:9: [limit] max_body: unknown section (did you mean [limits]?)" },
		{ BASE "[tls]\nfoo = 1\n", "t.ini:9: [tls] foo: unknown section" },
		{ "code = x\n" BASE, "t.ini:1: code: key outside any [section]" },
		/* bad integers and bounds */
		{ GW "workers = two\n" CL SV, "t.ini:4: [gateway] workers: 'two' is not an integer" },
		{ GW "workers = 4x\n" CL SV, "t.ini:4: [gateway] workers: '4x' is not an integer" },
		{ GW "workers = 65\n" CL SV, "t.ini:4: [gateway] workers: value 65 is above the maximum 64" },
		{ GW "workers = 0\n" CL SV, "t.ini:4: [gateway] workers: value 0 is below the minimum 1" },
		{ GW "workers = 99999999999999999999\n" CL SV, "t.ini:4: [gateway] workers: '99999999999999999999' is not an integer" },
		{ BASE "[limits]\nmax_headers = -5\n", "t.ini:9: [limits] max_headers: value -5 is below the minimum 8" },
		{ BASE "[limits]\nmax_body = 2G\n", "t.ini:9: [limits] max_body: value 2147483648 is above the maximum 1073741824" },
		{ BASE "[limits]\nmax_body = 10X\n", "t.ini:9: [limits] max_body: '10X' is not a size (bytes, or with K, M, G)" },
		{ BASE "[limits]\nmax_body = 10MB\n", "t.ini:9: [limits] max_body: '10MB' is not a size" },
		{ BASE "[limits]\nmax_body = -1\n", "t.ini:9: [limits] max_body: '-1' is not a size" },
		{ BASE "[limits]\nmax_body = 99999999999999G\n", "t.ini:9: [limits] max_body: '99999999999999G' is not a size" },
		/* host:port */
		{ GW "[client]\nlisten = 127.0.0.1\n" SV, "t.ini:5: [client] listen: '127.0.0.1' is not host:port" },
		{ GW "[client]\nlisten = 127.0.0.1:70000\n" SV, "t.ini:5: [client] listen: '127.0.0.1:70000' is not host:port" },
		{ GW "[client]\nlisten = ::1:80\n" SV, "t.ini:5: [client] listen: '::1:80' is not host:port" },
		{ GW "[client]\nlisten = [::1:80\n" SV, "t.ini:5: [client] listen: '[::1:80' is not host:port" },
		{ GW CL "tls_listen = :8443\n" SV, "t.ini:6: [client] tls_listen: ':8443' is not host:port" },
		/* missing and empty required keys */
		{ GW CL, "t.ini: [server] listen: required key is missing" },
		{ "[gateway]\nglobalconf = gc.xml\n" CL SV, "t.ini: [gateway] code: required key is missing" },
		{ "[gateway]\ncode =\nglobalconf = gc.xml\n" CL SV, "t.ini:2: [gateway] code: must not be empty" },
		/* is_cert */
		{ GW CL "is_cert = central-server/GOV/70000050/certificates\n" SV,
		  "t.ini:6: [client] is_cert: expected \"INST/CLASS/CODE/SUB /path/cert.pem\"" },
		{ GW CL "is_cert = central-server/GOV/70000050/certificates a.pem b.pem\n" SV,
		  "t.ini:6: [client] is_cert: expected \"INST/CLASS/CODE/SUB /path/cert.pem\"" },
		{ GW CL "is_cert = central-server/GOV/7000_0050/certificates a.pem\n" SV,
		  "t.ini:6: [client] is_cert: bad client id 'central-server/GOV/7000_0050/certificates'" },
		/* metadata_only names a subsystem; a member's id said garbage (stack bytes) */
		{ BASE "[msglog]\nmetadata_only = central-server/COM/60000001\n",
		  "t.ini:9: [msglog] metadata_only: expected INST/CLASS/CODE/SUB (a subsystem): this names a "
		  "member, not one of its subsystems" },
		/* enum */
		{ GW "log_level = verbose\n" CL SV,
		  "t.ini:4: [gateway] log_level: 'verbose' is not one of error, warn, info, debug" },
		/* file structure */
		{ BASE "[limits]\nmax_body = 1M\nmax_body = 2M\n",
		  "t.ini:10: [limits] max_body: given twice (first on line 9)" },
		{ BASE "this line has no equals sign\n", "t.ini:8: syntax error: expected [section] or key = value" },
		{ BASE "[limits]\nmax_body = 1M\n  max_head = 2K\n",
		  "t.ini:10: [limits] max_body: indented line would continue the previous value" },
		{ GW CL "tls_listen = 127.0.0.1:8443\n" SV, "t.ini: [client] tls_listen: needs tls_cert and tls_key" },
		{ BASE "tls_cert = a.pem\n", "t.ini: [server] tls_cert: tls_cert and tls_key go together" },
		/* retention that could not work: silently off, or failing every run */
		{ BASE "[msglog]\nretention_days = 30\n", "t.ini: [msglog] retention_days: needs archive_dir" },
		{ BASE "[msglog]\nretention_days = 30\narchive_dir = /nonexistent/archive\n",
		  "t.ini: [msglog] archive_dir: /nonexistent/archive: No such file or directory (records older" },
		/* one port for two listeners: the kernel split connections between them */
		{ GW CL "[server]\nlisten = 127.0.0.1:8080\n",
		  "t.ini: [server] listen: 127.0.0.1:8080 is also [client] listen: each listener needs a port" },
		{ GW CL "[server]\nlisten = 0.0.0.0:8080\n", "[server] listen: 0.0.0.0:8080 is also [client] listen" },
		{ GW CL "[server]\nlisten = localhost:8080\n", "[server] listen: localhost:8080 is also [client] listen" },
		{ GW CL "tls_listen = 127.0.0.1:5500\ntls_cert = a.pem\ntls_key = b.pem\n" SV,
		  "[server] listen: 127.0.0.1:5500 is also [client] tls_listen" },
		{ BASE "[adapter.bad name]\nx = 1\n", "t.ini:9: [adapter.bad name] x: adapter name must be" },
		{ BASE "[adapter.household]\ndb = a\ndb = b\n", "t.ini:10: [adapter.household] db: given twice" },
	};
	struct scratch *s = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		struct config *cfg = load_text(s, cases[i].text, &err);

		if (cfg)
			fail_msg("case %zu loaded, want \"%s\"", i, cases[i].msg);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].msg);
		/* every message names the file as given */
		assert_non_null(strstr(err, s->ini));
		free(err);
	}
}

/* Several problems are reported at once, each on its own line. */
static void test_several_errors(void **state)
{
	struct scratch *s = *state;
	char *err = NULL;

	assert_null(load_text(s, GW "workers = x\nlog_level = loud\n" CL SV, &err));
	assert_non_null(strstr(err, "t.ini:4: [gateway] workers"));
	assert_non_null(strstr(err, "\n"));
	assert_non_null(strstr(err, "t.ini:5: [gateway] log_level"));
	free(err);
}

/* Debian's inih reads 198 bytes a line; longer values still work. */
static void test_long_line(void **state)
{
	struct scratch *s = *state;
	char text[8192], *err = NULL, want[400];
	struct config *cfg;

	memset(want, 'a', 300);
	want[300] = '\0';
	snprintf(text, sizeof(text), BASE "; %s\n[adapter.x]\nkey   =   %s   ; note\nshort = 1\n"
		 "[client]\nis_cert = i/C/1/s /very/long/%s.pem\n", want, want, want);
	cfg = load_text(s, text, &err);
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(config_adapter_get(cfg, "x", "key"), want);
	assert_string_equal(config_adapter_get(cfg, "x", "short"), "1");
	assert_int_equal(cfg->n_is_certs, 1);
	assert_int_equal(strlen(cfg->is_certs[0].cert_file), strlen("/very/long/.pem") + 300);
	config_free(&cfg);

	/* too long even for that, or a long line that is not key = value */
	{
		static char big[4000];

		memset(big, 'b', sizeof(big) - 1);
		snprintf(text, sizeof(text), BASE "[adapter.x]\nkey = %s\n", big);
		assert_null(load_text(s, text, &err));
		assert_non_null(strstr(err, "t.ini:9: line is too long (values up to 2047 bytes)"));
		free(err);
	}
	snprintf(text, sizeof(text), BASE "[%s]\n", want);
	assert_null(load_text(s, text, &err));
	assert_non_null(strstr(err, "t.ini:8: line is too long"));
	free(err);
	/* the place of a long value still gets its checks and its line */
	snprintf(text, sizeof(text), BASE "[limits]\nmax_body = %s\n", want);
	assert_null(load_text(s, text, &err));
	assert_non_null(strstr(err, "t.ini:9: [limits] max_body: 'aaaa"));
	free(err);
}

static void test_size_suffixes(void **state)
{
	static const struct { const char *v; size_t want; } cases[] = {
		{ "1024", 1024 }, { "1k", 1024 }, { "64K", 65536 }, { "3m", 3u << 20 },
		{ "10M", 10u << 20 }, { "1g", 1u << 30 }, { "1G", 1u << 30 }, { "1048576", 1u << 20 },
	};
	struct scratch *s = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512], *err = NULL;
		struct config *cfg;

		snprintf(text, sizeof(text), BASE "[outbound]\nmax_response = %s\n", cases[i].v);
		cfg = load_text(s, text, &err);
		if (!cfg)
			fail_msg("%s: %s", cases[i].v, err);
		assert_int_equal(cfg->max_response, cases[i].want);
		config_free(&cfg);
	}
}

static void test_relative_paths(void **state)
{
	struct scratch *s = *state;
	char *dir = real_dir(s->dir), expect[PATH_MAX + 64], *err = NULL;
	struct config *cfg;

	cfg = load_text(s, "[gateway]\ncode = a\nglobalconf = ../gc/global.xml\ndata_dir = var\n"
			"wsdl_dir = /srv/wsdl\n" CL "is_cert = i/C/1/s certs/s.pem\n" SV, &err);
	assert_non_null(cfg);
	snprintf(expect, sizeof(expect), "%s/../gc/global.xml", dir);
	assert_string_equal(cfg->globalconf, expect);
	snprintf(expect, sizeof(expect), "%s/var", dir);
	assert_string_equal(cfg->data_dir, expect);
	assert_string_equal(cfg->wsdl_dir, "/srv/wsdl");
	snprintf(expect, sizeof(expect), "%s/certs/s.pem", dir);
	assert_string_equal(cfg->is_certs[0].cert_file, expect);
	config_free(&cfg);
	free(dir);
}

static void test_adapter_sections(void **state)
{
	struct scratch *s = *state;
	char *err = NULL;
	struct config *cfg;

	cfg = load_text(s, BASE "[adapter.household]\ndb = hh.sqlite\nnote = a ; comment\n"
			"[adapter.cadastre]\ndb = cad.sqlite\nempty =\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->n_adapter_kv, 4);
	assert_string_equal(config_adapter_get(cfg, "household", "db"), "hh.sqlite");
	assert_string_equal(config_adapter_get(cfg, "household", "note"), "a");
	assert_string_equal(config_adapter_get(cfg, "cadastre", "db"), "cad.sqlite");
	assert_string_equal(config_adapter_get(cfg, "cadastre", "empty"), "");
	assert_null(config_adapter_get(cfg, "cadastre", "note"));
	assert_null(config_adapter_get(cfg, "adapter.cadastre", "db"));
	assert_null(config_adapter_get(NULL, "cadastre", "db"));
	config_free(&cfg);
}

static void test_split_hostport(void **state)
{
	static const struct { const char *in; int ok; const char *host; int port; } cases[] = {
		{ "127.0.0.1:8080", 1, "127.0.0.1", 8080 }, { "[::1]:8080", 1, "::1", 8080 },
		{ "localhost:80", 1, "localhost", 80 }, { "gw-1.example.kg:0", 1, "gw-1.example.kg", 0 },
		{ "h:65535", 1, "h", 65535 }, { "[fe80::1]:443", 1, "fe80::1", 443 },
		{ "h:65536", 0, NULL, 0 }, { "h:", 0, NULL, 0 }, { ":80", 0, NULL, 0 },
		{ "h", 0, NULL, 0 }, { "h:8o", 0, NULL, 0 }, { "h:-1", 0, NULL, 0 },
		{ "::1:80", 0, NULL, 0 }, { "[::1]80", 0, NULL, 0 }, { "[]:80", 0, NULL, 0 },
		{ "a b:80", 0, NULL, 0 }, { "h:000080", 0, NULL, 0 }, { "", 0, NULL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[64] = "unchanged";
		int port = -1, rc = config_split_hostport(cases[i].in, host, sizeof(host), &port);

		if ((rc == 0) != cases[i].ok)
			fail_msg("'%s': rc %d", cases[i].in, rc);
		if (cases[i].ok) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		}
	}
	{
		char small[4];
		int port;

		assert_int_equal(config_split_hostport("localhost:80", small, sizeof(small), &port), -1);
	}
}

static void test_print_keys(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	config_print_keys(f);
	fclose(f);
	assert_non_null(strstr(text, "[limits] max_body  (size, 1K..1G, default \"10M\")"));
	assert_non_null(strstr(text, "[gateway] code  (string, required)"));
	assert_null(strstr(text, "reloadable"));   /* nothing local is reloaded: SIGHUP re-reads globalconf */
	assert_non_null(strstr(text, "[client] is_cert  (repeatable"));
	assert_non_null(strstr(text, "[adapter.NAME]"));
	free(text);
}

/* config/ailgate.ini is the annotated example: it must load, and name
 * every key of the table in its section (set, or commented out). */
static void test_example_file(void **state)
{
	char path[PATH_MAX], *err = NULL, *keys = NULL, *text = NULL, *line, *save = NULL;
	size_t klen = 0, tlen = 0;
	struct config *cfg = NULL;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/config/ailgate.ini", src_dir());
	if (config_load(path, &cfg, &err) != 0)
		fail_msg("%s", err);
	config_free(&cfg);
	f = open_memstream(&keys, &klen);
	config_print_keys(f);
	fclose(f);
	f = fopen(path, "r");
	assert_non_null(f);
	text = calloc(1, 65536);
	tlen = fread(text, 1, 65535, f);
	fclose(f);
	assert_true(tlen > 0);
	for (line = strtok_r(keys, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char section[64], key[64], head[80], set[80], off[80];
		const char *sec, *next;

		if (sscanf(line, "[%63[^]]] %63s", section, key) != 2 || strchr(section, '.'))
			continue;
		snprintf(head, sizeof(head), "\n[%s]\n", section);
		snprintf(set, sizeof(set), "\n%s =", key);
		snprintf(off, sizeof(off), "\n;%s =", key);
		sec = strstr(text, head);
		if (!sec)
			fail_msg("config/ailgate.ini has no [%s]", section);
		next = strstr(sec + 1, "\n[");
		{
			const char *a = strstr(sec, set), *b = strstr(sec, off);

			if (!((a && (!next || a < next)) || (b && (!next || b < next))))
				fail_msg("config/ailgate.ini: [%s] %s is not shown", section, key);
		}
	}
	free(text);
	free(keys);
}

static void test_reload_check(void **state)
{
	struct scratch *s = *state;
	struct config *a, *b;
	char *err = NULL;

	a = load_text(s, BASE "[limits]\nmax_body = 1M\n", &err);
	b = load_text(s, BASE "[limits]\nmax_body = 1024K\n", &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(config_reload_check(a, b, &err), 0);   /* the same values */
	assert_null(err);
	config_free(&b);
	/* every key that differs is named: the file is read at start only */
	b = load_text(s, GW "log_level = debug\n" CL SV "[limits]\nmax_body = 2M\n", &err);
	assert_non_null(b);
	assert_int_equal(config_reload_check(a, b, &err), -1);
	assert_non_null(err && strstr(err, "[gateway] log_level, [limits] max_body: changed since the gateway "
				       "started"));
	assert_non_null(strstr(err, "restart it to apply"));
	free(err);
	config_free(&b);

	b = load_text(s, GW "[client]\nlisten = 127.0.0.1:9090\n" SV "[adapter.x]\nk = v\n", &err);
	assert_non_null(b);
	assert_int_equal(config_reload_check(a, b, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "[client] listen"));
	assert_non_null(strstr(err, "[adapter.*]"));
	free(err);
	config_free(&a);
	config_free(&b);
}

static void test_misc(void **state)
{
	struct config *cfg = NULL;
	char *err = NULL;

	(void)state;
	assert_string_equal(log_level_name(LOG_ERROR), "error");
	assert_string_equal(log_level_name(LOG_DEBUG), "debug");
	assert_string_equal(log_level_name((enum log_level)42), "?");
	assert_int_equal(config_load("/nonexistent/ailgate.ini", &cfg, &err), -1);
	assert_null(cfg);
	assert_non_null(strstr(err, "/nonexistent/ailgate.ini: cannot open"));
	free(err);
	config_free(&cfg);   /* NULL is fine */
	config_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test_setup_teardown(test_errors, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_several_errors, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_long_line, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_size_suffixes, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_adapter_sections, scratch_setup, scratch_teardown),
		cmocka_unit_test(test_split_hostport),
		cmocka_unit_test(test_print_keys),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test_setup_teardown(test_reload_check, scratch_setup, scratch_teardown),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
