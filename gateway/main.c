/* ailgate: one binary, subcommands.
 *
 *   ailgate serve --config FILE        run a gateway
 *   ailgate config check FILE          validate a local configuration
 *   ailgate config keys                list every configuration key
 *   ailgate globalconf check FILE      validate a global configuration
 *   ailgate log verify|export          message-log tools (offline)
 *   ailgate version
 */
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/globalconf.h"
#include "core/gw.h"
#include "core/log.h"
#include "core/logcli.h"
#include "net/outbound.h"
#include "proto/soap.h"

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
	"  --check             load everything, bind nothing, and exit 0 if it would start\n";

static const char usage_config[] =
	"usage: ailgate config check FILE\n"
	"       ailgate config keys\n";

static const char usage_gconf[] =
	"usage: ailgate globalconf check FILE [--xsd XSD]\n"
	"\n"
	"Validates FILE against the schema (default: the installed globalconf.xsd)\n"
	"and checks every reference in it.\n";

static int want_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help"))
			return 1;
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	const char *path = NULL;
	int check = 0;
	struct config *cfg = NULL;
	struct gw *g;
	char *err = NULL;
	int rc;

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
	if (outbound_global_init() < 0) {
		fprintf(stderr, "ailgate: cannot initialise libcurl\n");
		config_free(&cfg);
		return 1;
	}
	g = gw_new(cfg, &err);
	if (!g) {
		log_error("event=startup ok=0 why=\"%s\"", err ? err : "unknown");
		fprintf(stderr, "ailgate: %s\n", err ? err : "cannot start");
		free(err);
		return 1;
	}
	rc = check ? 0 : gw_run(g);
	gw_free(g);
	return rc;
}

static int cmd_config(int argc, char **argv)
{
	struct config *cfg = NULL;
	char *err = NULL;

	if (argc >= 1 && !strcmp(argv[0], "keys")) {
		config_print_keys(stdout);
		return 0;
	}
	if (want_help(argc, argv) || argc != 2 || strcmp(argv[0], "check") != 0) {
		fputs(usage_config, want_help(argc, argv) ? stdout : stderr);
		return want_help(argc, argv) ? 0 : 2;
	}
	if (config_load(argv[1], &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid");
		free(err);
		return 1;
	}
	printf("%s: OK (gateway %s, client %s, server %s)\n", argv[1], cfg->gateway_code, cfg->client_listen,
	       cfg->server_listen);
	config_free(&cfg);
	return 0;
}

static int cmd_gconf(int argc, char **argv)
{
	const char *xsd = AILGATE_SOURCE_DIR "/config/globalconf.xsd";
	struct gconf *g = NULL;
	char *err = NULL;

	if (want_help(argc, argv) || argc < 2 || strcmp(argv[0], "check") != 0) {
		fputs(usage_gconf, want_help(argc, argv) ? stdout : stderr);
		return want_help(argc, argv) ? 0 : 2;
	}
	if (argc == 4 && !strcmp(argv[2], "--xsd"))
		xsd = argv[3];
	else if (argc != 2) {
		fputs(usage_gconf, stderr);
		return 2;
	}
	soap_global_init();
	if (gconf_load(argv[1], xsd, &g, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid");
		free(err);
		return 1;
	}
	printf("%s: OK (instance %s, %zu members, %zu gateways, %zu services)\n", argv[1], gconf_instance(g),
	       gconf_n_members(g), gconf_n_gateways(g), gconf_n_services(g));
	gconf_unref(&g);
	return 0;
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
