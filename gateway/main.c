/* ailgate: one binary, subcommands.
 *
 *   ailgate serve --config FILE        run a gateway
 *   ailgate config check FILE          validate a local configuration
 *   ailgate config keys                list every configuration key
 *   ailgate globalconf check|sign|verify   validate, sign (operator), verify a global configuration
 *   ailgate log verify|export          message-log tools (offline)
 *   ailgate version
 */
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/gconf_fetch.h"
#include "core/globalconf.h"
#include "core/gw.h"
#include "core/host.h"
#include "core/log.h"
#include "core/logcli.h"
#include "lib/buf.h"
#include "lib/crypto.h"
#include "net/outbound.h"
#include "proto/soap.h"
#include "trust/gconf_sign.h"

static const char usage_top[] =
	"usage: ailgate <command> [options]\n"
	"\n"
	"An X-Road compatible exchange gateway (SOAP 4.0 and REST r1).\n"
	"\n"
	"commands:\n"
	"  serve --config FILE       run a gateway with the local configuration FILE\n"
	"  config check FILE         check a local configuration file and exit\n"
	"  config keys               list every local configuration key, its default and bounds\n"
	"  globalconf check FILE     check a global configuration file (XSD and references)\n"
	"  globalconf sign|verify    sign one with the operator's key; verify one against the anchor\n"
	"  log verify|export ...     check message-log files offline; export records for third parties\n"
	"  version                   print the version\n"
	"\n"
	"Run 'ailgate <command> --help' for the options of a command.\n";

static const char usage_serve[] =
	"usage: ailgate serve --config FILE\n"
	"\n"
	"Runs the gateway: the client-facing listener for information systems\n"
	"(SOAP on POST /, REST under /r1/, GET /listClients, GET /wsdl, GET /health)\n"
	"and the mutual-TLS listener for peer gateways.\n"
	"Signals: SIGHUP reloads global configuration; SIGINT/SIGTERM stop.\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   local configuration (INI); see 'ailgate config keys'\n"
	"  --check             load and check everything, exit 0 if it would start; listens on\n"
	"                      nothing and writes nothing (the message log is only read), so\n"
	"                      it is safe beside the running gateway\n";

static const char usage_config[] =
	"usage: ailgate config check FILE\n"
	"       ailgate config keys\n";

static int want_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help"))
			return 1;
	return 0;
}

/* <data_dir>/ailgate.lock (path[cap]), opened with oflags, locked if no
 * other process holds it. The descriptor (the lock held while it stays open,
 * *holder 0), or with *holder the holder's pid (-1: unknown) and the lock
 * not taken; -1 with errno when it cannot be opened. */
static int data_dir_lock(const struct config *cfg, int oflags, char *path, size_t cap, long *holder)
{
	char pid[32];
	ssize_t n;
	int fd;

	*holder = 0;
	snprintf(path, cap, "%s/ailgate.lock", cfg->data_dir);
	if ((fd = open(path, oflags | O_CLOEXEC, 0644)) < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		*holder = strtol(pid, NULL, 10);
		if (*holder <= 0)
			*holder = -1;
	}
	return fd;
}

/* One gateway per data_dir: a second `serve` of the same configuration
 * would share the ports (SO_REUSEPORT) and write the same message log, each
 * with its own replay window. <data_dir>/ailgate.lock, locked for the
 * process's life, holds the pid. The descriptor (kept open), or -1 said. */
static int serve_lock(const struct config *cfg)
{
	char path[4096], pid[32];
	long holder;
	int fd, n;

	if ((fd = data_dir_lock(cfg, O_RDWR | O_CREAT, path, sizeof(path), &holder)) < 0) {
		fprintf(stderr, "ailgate: data_dir %s: cannot open %s: %s\n", cfg->data_dir, path, strerror(errno));
		return -1;
	}
	if (holder) {
		snprintf(pid, sizeof(pid), "%ld", holder);
		fprintf(stderr, "ailgate: another 'ailgate serve' (pid %s) already runs on data_dir %s: stop it "
				"first - two would share the ports and one message log\n", holder > 0 ? pid : "?",
			cfg->data_dir);
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "ailgate: warning: cannot write the pid into %s\n", path);
	return fd;
}

/* serve --check: the pid of the gateway running on cfg's data_dir (-1:
 * running, pid unknown), 0 when none. Tests the lock and lets it go at
 * once; writes nothing, creates nothing. */
static long serve_running(const struct config *cfg)
{
	char path[4096];
	long holder;
	int fd = data_dir_lock(cfg, O_RDONLY, path, sizeof(path), &holder);

	if (fd >= 0)
		close(fd);   /* lets our lock go, if we took it */
	return fd >= 0 ? holder : 0;
}

static int cmd_serve(int argc, char **argv)
{
	const char *path = NULL;
	int check = 0;
	struct config *cfg = NULL;
	struct gw *g;
	char *err = NULL, code[sizeof(cfg->gateway_code)] = "";
	int rc, lock = -1;
	long running = 0;

	if (want_help(argc, argv)) {
		fputs(usage_serve, stdout);
		return 0;
	}
	for (int i = 0; i < argc; i++) {
		if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c")) && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--check"))
			check = 1;
		else {
			fprintf(stderr, "ailgate serve: unknown option '%s'\n\n%s", argv[i], usage_serve);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "ailgate serve: --config FILE is required\n\n%s", usage_serve);
		return 2;
	}
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "ailgate: %s\n", err ? err : "cannot read configuration");
		free(err);
		return 1;
	}
	if (check)
		running = serve_running(cfg);
	else if ((lock = serve_lock(cfg)) < 0) {
		log_error("event=startup ok=0 why=\"data_dir %s is in use or cannot be used\"", cfg->data_dir);
		config_free(&cfg);
		return 1;
	}
	if (outbound_global_init() < 0) {
		fprintf(stderr, "ailgate: cannot initialise libcurl\n");
		config_free(&cfg);
		return 1;
	}
	snprintf(code, sizeof(code), "%s", cfg->gateway_code);
	g = gw_new(cfg, check ? GW_CHECK | (running ? GW_CHECK_LIVE : 0) : 0, &err);
	if (!g) {
		log_error("event=%s ok=0 why=\"%s\"", check ? "check" : "startup", err ? err : "unknown");
		fprintf(stderr, "ailgate: %s\n", err ? err : "cannot start");
		free(err);
		return 1;
	}
	if (check && running) {
		char pid[32] = "pid unknown";

		if (running > 0)
			snprintf(pid, sizeof(pid), "pid %ld", running);
		printf("ailgate serve --check: %s: gateway '%s' would start; it runs now (%s): its ports "
		       "were not tried and its message log was only read\n", path, code, pid);
	}
	else if (check)
		printf("ailgate serve --check: %s: gateway '%s' would start (its ports are free)\n", path, code);
	rc = check ? 0 : gw_run(g);
	gw_free(g);
	if (lock >= 0)
		close(lock);
	return rc;
}

static int cmd_config(int argc, char **argv)
{
	struct config *cfg = NULL;
	char *err = NULL;

	if (argc == 1 && !strcmp(argv[0], "keys")) {
		config_print_keys(stdout);
		return 0;
	}
	if (want_help(argc, argv) || argc != 2 || strcmp(argv[0], "check") != 0) {
		fputs(usage_config, want_help(argc, argv) ? stdout : stderr);
		return want_help(argc, argv) ? 0 : 2;
	}
	if (config_load(argv[1], &cfg, &err) < 0 || host_check_adapters(cfg, NULL, NULL, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid");
		free(err);
		config_free(&cfg);
		return 1;
	}
	printf("%s: OK (gateway %s, client %s, server %s)\n", argv[1], cfg->gateway_code, cfg->client_listen,
	       cfg->server_listen);
	config_free(&cfg);
	return 0;
}

static const char usage_gconf[] =
	"usage: ailgate globalconf check [--xsd XSD] FILE\n"
	"       ailgate globalconf sign --key KEY --cert CERT [-o OUT] [--replace] [--xsd XSD] IN\n"
	"       ailgate globalconf verify --anchor CERT [--xsd XSD] FILE\n"
	"\n"
	"check   validates FILE against the schema (default: the installed globalconf.xsd)\n"
	"        and checks every reference in it. A signature is not checked.\n"
	"sign    for the exchange operator: adds an enveloped XML-DSig signature made with\n"
	"        the operator's private key KEY and certificate CERT (PEM, unencrypted;\n"
	"        ECDSA P-256 or RSA 2048..4096) as the last element of IN. Nothing else in\n"
	"        the file changes: set generatedAt/expiresAt before signing. IN must pass\n"
	"        'check'. Writes OUT atomically (default: standard output). --replace signs\n"
	"        again a file that is already signed. The result verifies with\n"
	"          xmlsec1 --verify --trusted-pem ROOT.pem OUT\n"
	"verify  what a gateway does: FILE must be signed by exactly the certificate CERT\n"
	"        (the anchor in its [globalconf] anchor), pass 'check' and not have\n"
	"        expired. Prints generatedAt and expiresAt.\n"
	"\n"
	"Exit status: 0 valid; 1 refused (the reason on standard error); 2 usage.\n";

struct gc_args {
	const char *xsd, *key, *cert, *out, *anchor, *file;
	int replace;
};

static const char **gc_opt(struct gc_args *a, const char *o)
{
	if (!strcmp(o, "--xsd"))
		return &a->xsd;
	if (!strcmp(o, "--key"))
		return &a->key;
	if (!strcmp(o, "--cert"))
		return &a->cert;
	if (!strcmp(o, "-o") || !strcmp(o, "--out"))
		return &a->out;
	if (!strcmp(o, "--anchor"))
		return &a->anchor;
	return NULL;
}

/* argv[0] is the subcommand; options may stand anywhere. 0 or -1 (said). */
static int gc_parse(int argc, char **argv, struct gc_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char **dst = gc_opt(a, argv[i]);
		if (dst && i + 1 < argc) {
			*dst = argv[++i];
		} else if (dst) {
			fprintf(stderr, "ailgate globalconf %s: %s needs a value\n", argv[0], argv[i]);
			return -1;
		} else if (!strcmp(argv[i], "--replace")) {
			a->replace = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "ailgate globalconf %s: unknown option '%s'\n", argv[0], argv[i]);
			return -1;
		} else if (a->file) {
			fprintf(stderr, "ailgate globalconf %s: one file only ('%s' and '%s')\n", argv[0],
				a->file, argv[i]);
			return -1;
		} else {
			a->file = argv[i];
		}
	}
	if (!a->file)
		fprintf(stderr, "ailgate globalconf %s: the file is missing\n", argv[0]);
	return a->file ? 0 : -1;
}

static void gc_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outlen, "(not set)");
}

/* Reads FILE and loads it (schema, references). 0, or 1 with the reason said. */
static int gc_load(const char *file, const char *xsd, char **data, size_t *len, struct gconf **g)
{
	char *err = NULL;

	*g = NULL;
	if (gcf_read_file(file, GCF_MAX_BYTES, data, len, &err) < 0 ||
	    gconf_load_mem(*data, *len, file, xsd, g, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid");
		free(err);
		return 1;
	}
	return 0;
}

static int gc_check(const struct gc_args *a)
{
	struct gconf *g = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc = gc_load(a->file, a->xsd, &data, &len, &g);

	if (rc == 0)
		printf("%s: OK (instance %s, %zu members, %zu gateways, %zu services)\n", a->file,
		       gconf_instance(g), gconf_n_members(g), gconf_n_gateways(g), gconf_n_services(g));
	gconf_unref(&g);
	free(data);
	return rc;
}

/* The signed bytes must verify with the signing certificate as the anchor
 * and still pass the schema: what every gateway will do with them. */
static int gc_self_check(const struct buf *signed_doc, const struct gc_args *a, struct gconf **g)
{
	struct gcsig_anchor *an = NULL;
	char *err = NULL;
	int rc = 1;

	if (gcsig_anchor_load(a->cert, &an, &err) < 0 ||
	    gcsig_verify(signed_doc->data, signed_doc->len, an, &err) != GCSIG_OK ||
	    gconf_load_mem(signed_doc->data, signed_doc->len, a->file, a->xsd, g, &err) < 0)
		fprintf(stderr, "ailgate globalconf sign: the signed result does not check: %s\n",
			err ? err : "unknown reason");
	else
		rc = 0;
	free(err);
	gcsig_anchor_free(&an);
	return rc;
}

static int gc_write(const struct buf *doc, const char *out)
{
	char *err = NULL;

	if (!out || !strcmp(out, "-"))
		return fwrite(doc->data, 1, doc->len, stdout) == doc->len && fflush(stdout) == 0 ? 0 : 1;
	if (gcf_write_atomic(out, doc->data, doc->len, &err) == 0)
		return 0;
	fprintf(stderr, "ailgate globalconf sign: %s\n", err ? err : "cannot write");
	free(err);
	return 1;
}

static void gc_sign_summary(const struct gc_args *a, struct gconf *g)
{
	char gen[32], exp[32];
	time_t e = gconf_expires(g);
	long ahead;

	gc_time(gconf_generated(g), gen, sizeof(gen));
	gc_time(e, exp, sizeof(exp));
	fprintf(stderr, "signed %s -> %s (generatedAt %s, expiresAt %s)\n", a->file,
		a->out ? a->out : "standard output", gen, exp);
	if (!e)
		fprintf(stderr, "warning: no expiresAt: gateways will use this file until a newer one "
			"arrives\n");
	else if (e <= time(NULL))
		fprintf(stderr, "warning: expiresAt has passed: gateways will refuse this file "
			"(OutdatedGlobalConf); set a later expiresAt and sign again\n");
	if ((ahead = gconf_from_future(g, time(NULL))))
		fprintf(stderr, "warning: generatedAt is %ld s in the future: gateways will refuse this file; "
			"set generatedAt to the time of signing and sign again\n", ahead);
}

static int gc_sign(const struct gc_args *a)
{
	struct gconf *g = NULL;
	struct buf out;
	char *data = NULL, *err = NULL;
	size_t len = 0;
	int rc;

	if (!a->key || !a->cert) {
		fprintf(stderr, "ailgate globalconf sign: --key and --cert are required\n\n%s", usage_gconf);
		return 2;
	}
	if ((rc = gc_load(a->file, a->xsd, &data, &len, &g)) != 0) {
		fprintf(stderr, "ailgate globalconf sign: %s does not pass the checks above; not signed\n",
			a->file);
		goto out;
	}
	gconf_unref(&g);
	buf_init(&out, GCF_MAX_BYTES);
	if (gcsig_sign(data, len, a->key, a->cert, a->replace, &out, &err) < 0) {
		fprintf(stderr, "ailgate globalconf sign: %s: %s\n", a->file, err ? err : "signing failed");
		rc = 1;
	} else if ((rc = gc_self_check(&out, a, &g)) == 0 && (rc = gc_write(&out, a->out)) == 0) {
		gc_sign_summary(a, g);
	}
	buf_free(&out);
	free(err);
out:
	gconf_unref(&g);
	free(data);
	return rc;
}

static int gc_verify(const struct gc_args *a)
{
	struct gcsig_anchor *an = NULL;
	struct gconf *g = NULL;
	char *data = NULL, *err = NULL, gen[32], exp[32], hex[65];
	size_t len = 0;
	enum gcsig_rc sr;
	time_t e;
	long ahead;
	int rc = 1;

	if (!a->anchor) {
		fprintf(stderr, "ailgate globalconf verify: --anchor CERT is required\n\n%s", usage_gconf);
		return 2;
	}
	if (gcsig_anchor_load(a->anchor, &an, &err) < 0 ||
	    gcf_read_file(a->file, GCF_MAX_BYTES, &data, &len, &err) < 0) {
		fprintf(stderr, "ailgate globalconf verify: %s\n", err ? err : "cannot read");
		goto out;
	}
	if ((sr = gcsig_verify(data, len, an, &err)) != GCSIG_OK) {
		fprintf(stderr, "%s: signature refused (%s): %s\n", a->file, gcsig_rc_name(sr), err ? err : "?");
		goto out;
	}
	if (gconf_load_mem(data, len, a->file, a->xsd, &g, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid");
		goto out;
	}
	e = gconf_expires(g);
	gc_time(gconf_generated(g), gen, sizeof(gen));
	gc_time(e, exp, sizeof(exp));
	hex_encode(gcsig_anchor_sha256(an), 32, hex);
	printf("%s: signature OK (the anchor, sha256 %s)\ninstance %s\ngeneratedAt %s\nexpiresAt %s\n",
	       a->file, hex, gconf_instance(g), gen, exp);
	if (e && e <= time(NULL))
		fprintf(stderr, "%s: expired %ld s ago: gateways refuse it (OutdatedGlobalConf)\n", a->file,
			(long)(time(NULL) - e));
	else if ((ahead = gconf_from_future(g, time(NULL))))
		fprintf(stderr, "%s: generated %ld s in the future: gateways refuse it\n", a->file, ahead);
	else
		rc = 0;
out:
	gconf_unref(&g);
	gcsig_anchor_free(&an);
	free(data);
	free(err);
	return rc;
}

static int cmd_gconf(int argc, char **argv)
{
	struct gc_args a = { .xsd = AILGATE_SOURCE_DIR "/config/globalconf.xsd" };

	if (want_help(argc, argv) || argc < 1) {
		fputs(usage_gconf, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	if (strcmp(argv[0], "check") && strcmp(argv[0], "sign") && strcmp(argv[0], "verify")) {
		fprintf(stderr, "ailgate globalconf: unknown command '%s'\n\n%s", argv[0], usage_gconf);
		return 2;
	}
	if (gc_parse(argc, argv, &a) < 0) {
		fprintf(stderr, "\n%s", usage_gconf);
		return 2;
	}
	soap_global_init();
	if (!strcmp(argv[0], "sign"))
		return gc_sign(&a);
	if (!strcmp(argv[0], "verify"))
		return gc_verify(&a);
	return gc_check(&a);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_top, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ailgate %s\n", AILGATE_VERSION);
		return 0;
	}
	/* Before any database is opened: no global lock around every SQLite
	 * allocation for memory statistics nobody reads (each connection is
	 * used by one thread at a time; see msglog_sqlite.c, sqlreg.c). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (!strcmp(argv[1], "serve"))
		rc = cmd_serve(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "config"))
		rc = cmd_config(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "globalconf"))
		rc = cmd_gconf(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "log"))
		rc = logcli_main(argc - 2, argv + 2);
	else {
		fprintf(stderr, "ailgate: unknown command '%s'\n\n%s", argv[1], usage_top);
		rc = 2;
	}
	xmlCleanupParser();
	return rc;
}
