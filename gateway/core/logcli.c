#include "core/logcli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/num.h"
#include "store/logverify.h"
#include "store/msglog.h"
#include "trust/sign.h"

static const char usage_log[] =
	"usage: ailgate log verify [--tsa-ca PEM] [--tsa-cert PEM] [--sign-trust PEM]\n"
	"                          [--require-stamped] [--anchor ID:HASH] FILE...\n"
	"       ailgate log export --db FILE (--message-id ID | --from T --to T) --out DIR\n"
	"                          [--tsa-ca PEM] [--sign-trust PEM] [--sign-chain PEM]\n"
	"       (each option once)\n"
	"\n"
	"verify  checks message-log files offline (archives msglog-FIRST-LAST.db in the\n"
	"        order of their records, whatever order they are named in; the live log last):\n"
	"        the hash chain, every batch's RFC 3161 token against the TSA CA, and with\n"
	"        --sign-trust each record's member signature and that it signed the record's\n"
	"        client, service, message id and kind; names the first bad record.\n"
	"        Exit 0 all good, 1 a problem found (a damaged meta table too), 2 a file\n"
	"        cannot be read or is no message log.\n"
	"export  writes the records of a message or a time range (T: whole seconds since\n"
	"        the epoch, both ends included) as files a third party checks with the\n"
	"        export's check.py, xmlsec1 and openssl; DIR/README.txt lists the commands\n"
	"        and the records no time stamp covers yet (a warning names their number).\n"
	"        The PEM files are copied in (certificates only). The log around the records\n"
	"        is checked first: a damaged log is refused. Exit 0 records exported, 1 none\n"
	"        or a failure (nothing is left in DIR), 2 bad usage.\n"
	"--tsa-cert PEM  the TSA's own certificate, when its tokens do not carry it.\n"
	"--anchor ID:HASH  a record id and its hash kept off this machine (the gateway's\n"
	"        event=msglog_anchor log lines, /health's msglog_anchor, the last line of an\n"
	"        earlier verify): a log that ends before that record was cut (FAIL (cut)),\n"
	"        one that holds it with another hash was rewritten (FAIL (anchor)).\n"
	"\n"
	"FILE may also be a log in PostgreSQL: its postgresql:// URI.\n";

/* An option's value, once: a second one is a usage error (before, the last
 * one won without a word - an export of another log than the one meant). */
static int take_once(const char *cmd, const char *opt, const char **slot, const char *v)
{
	if (*slot) {
		fprintf(stderr, "ailgate log %s: %s given twice ('%.200s', then '%.200s'); give it once\n\n%s", cmd,
			opt, *slot, v, usage_log);
		return -1;
	}
	*slot = v;
	return 0;
}

/* Options of log verify that take a value. */
static int needs_value(const char *a)
{
	return !strcmp(a, "--tsa-ca") || !strcmp(a, "--tsa-cert") || !strcmp(a, "--sign-trust") ||
	       !strcmp(a, "--anchor");
}

/* A signature that verifies binds the identifiers it names, not the log's
 * columns beside it: those must say the same (an auditor changed a
 * record's message id, service, direction - and its hash - and "signatures
 * verified" stood). 0, or -1 with *why. */
static int signed_as_logged(const struct msglog_row *r, const struct sig_result *res, char **why)
{
	char cl[XRD_ID_TEXT_MAX], sv[XRD_ID_TEXT_MAX];
	const char *what = NULL, *signed_v = NULL, *logged = NULL;

	xrd_id_format_path(&res->client_id, cl, sizeof(cl));
	xrd_id_format_path(&res->service_id, sv, sizeof(sv));
	if ((res->kind == SIG_REQUEST) != (r->dir == MSGLOG_REQUEST))
		what = "kind", signed_v = res->kind == SIG_REQUEST ? "request" : "response",
		logged = r->dir == MSGLOG_REQUEST ? "request" : "response";
	else if (strcmp(cl, r->client_id ? r->client_id : "") != 0)
		what = "client", signed_v = cl, logged = r->client_id;
	else if (strcmp(sv, r->service_id ? r->service_id : "") != 0)
		what = "service", signed_v = sv, logged = r->service_id;
	else if (strcmp(res->message_id, r->message_id ? r->message_id : "") != 0)
		what = "message id", signed_v = res->message_id, logged = r->message_id;
	else if (r->dir == MSGLOG_RESPONSE && strcmp(res->request_hash, r->request_hash ? r->request_hash : "") != 0)
		what = "request hash", signed_v = res->request_hash, logged = r->request_hash;
	if (!what)
		return 0;
	if (asprintf(why, "the signed %s is '%.300s', the record says '%.300s'", what, signed_v,
		     logged ? logged : "") < 0)
		*why = NULL;
	return -1;
}

/* The signature hook: a record's signature document against its body, and
 * the identifiers it signed against the record's. */
static int sig_hook(const struct msglog_row *r, void *arg, char **why)
{
	struct sig_verify_opts o = { .max_skew_s = 0 };
	struct sig_result res;
	struct fault f = { 0 };
	int rc;

	if (!r->sigdoc_len)
		return asprintf(why, "record has no signature") < 0 ? (*why = NULL, -1) : -1;
	/* A logged signature is checked as of its own time, not today's. */
	o.now = (time_t)(r->time_ms / 1000);
	memset(&res, 0, sizeof(res));
	if (r->body)
		rc = sig_verify((const char *)r->sigdoc, r->sigdoc_len, r->body, r->body_len, arg, &o, &res, &f);
	else
		rc = sig_verify_digest((const char *)r->sigdoc, r->sigdoc_len, r->body_sha256, arg, &o, &res,
				       &f);
	if (rc == 0)
		rc = signed_as_logged(r, &res, why);
	else if (asprintf(why, "%s: %s", f.code, f.message) < 0)
		*why = NULL;
	sig_result_free(&res);
	return rc < 0 ? -1 : 0;
}

/* The files in the order of their records: by the record each continues
 * after (its base, read from the file; a shell glob sorts msglog-1763-...
 * before msglog-851-..., and the chain check would call that a gap). An
 * archive named for other records than it holds is said; a file whose base
 * cannot be read keeps its place (its verification says why). */
struct vpath {
	const char *p;
	long long base;
	size_t i;
};

static int vpath_cmp(const void *a, const void *b)
{
	const struct vpath *x = a, *y = b;

	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static long long file_base(const char *target)
{
	const struct msglog_backend_ops *ops = msglog_backend_for(target);
	struct msglog_chain_state st;
	void *conn = NULL;
	char *e = NULL;
	long long base = -1;

	if (ops->open(target, MSGLOG_OPEN_READONLY, &conn, &e) == 0 && ops->state(conn, &st, &e) == 0)
		base = (long long)st.base_id;
	if (conn)
		ops->close(conn);
	free(e);
	return base;
}

static void files_in_order(const char **paths, size_t n)
{
	struct vpath v[256];
	long long a, b;
	char shown[1024];

	for (size_t i = 0; i < n && i < 256; i++) {
		const char *name = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];
		long long base = file_base(paths[i]);

		v[i].p = paths[i];
		v[i].i = i;
		v[i].base = base >= 0 ? base : (i ? v[i - 1].base : -1);
		if (base >= 0 && strncmp(paths[i], "postgres", 8) != 0 && msglog_archive_name(name, &a, &b) &&
		    a != base + 1)
			printf("note: %s is named for records %lld..%lld but continues after record %lld (renamed?); "
			       "checked where its records belong\n",
			       msglog_target_display(paths[i], shown, sizeof(shown)), a, b, base);
	}
	qsort(v, n, sizeof(v[0]), vpath_cmp);
	for (size_t i = 0; i < n; i++)
		paths[i] = v[i].p;
}

static int log_verify(int argc, char **argv)
{
	struct logverify_opts o = { 0 };
	struct logverify_result res;
	const char *paths[256];
	size_t n = 0;
	X509_STORE *trust = NULL;
	char *err = NULL;
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_log, stdout);
			X509_STORE_free(trust);
			return 0;
		}
		if (needs_value(a) && i + 1 == argc) {
			fprintf(stderr, "ailgate log verify: %s needs a value\n\n%s", a, usage_log);
			X509_STORE_free(trust);
			return 2;
		}
		if (!strcmp(a, "--tsa-ca") || !strcmp(a, "--tsa-cert")) {
			const char **slot = !strcmp(a, "--tsa-ca") ? &o.tsa_ca_pem : &o.tsa_cert_pem;

			if (take_once("verify", a, slot, argv[++i]) < 0) {
				X509_STORE_free(trust);
				return 2;
			}
		} else if (!strcmp(a, "--require-stamped"))
			o.require_stamped = 1;
		else if (!strcmp(a, "--anchor")) {
			if (o.anchor_id || logverify_anchor_parse(argv[++i], &o.anchor_id, o.anchor_hash) < 0) {
				fprintf(stderr, "ailgate log verify: --anchor takes one ID:HASH, a record id and "
						"the 64 hex digits of its hash, as event=msglog_anchor gives them "
						"(got '%.80s')\n", o.anchor_id ? "a second --anchor" : argv[i]);
				X509_STORE_free(trust);
				return 2;
			}
		}
		else if (!strcmp(a, "--sign-trust")) {
			if (trust) {
				fprintf(stderr, "ailgate log verify: --sign-trust given twice; put every anchor "
						"in one PEM file\n");
				X509_STORE_free(trust);
				return 2;
			}
			if (sig_global_init(&err) < 0 || !(trust = sig_trust_from_pem(argv[++i], &err))) {
				fprintf(stderr, "ailgate log verify: %s\n", err ? err : "cannot load the trust anchors");
				free(err);
				return 2;
			}
		} else if (n == sizeof(paths) / sizeof(paths[0])) {
			fprintf(stderr, "ailgate log verify: more than %zu files\n", n);
			X509_STORE_free(trust);
			return 2;
		} else if (a[0] == '-') {
			fprintf(stderr, "ailgate log verify: unknown option '%s'\n\n%s", a, usage_log);
			X509_STORE_free(trust);
			return 2;
		} else
			paths[n++] = a;
	}
	if (n == 0) {
		fputs(usage_log, stderr);
		X509_STORE_free(trust);
		return 2;
	}
	if (trust) {
		o.sig_verify = sig_hook;
		o.sig_arg = trust;
	}
	files_in_order(paths, n);
	rc = logverify_run(paths, n, &o, stdout, &res);
	X509_STORE_free(trust);
	return rc < 0 ? 2 : rc;
}

/* Whole seconds since the epoch, up to the year 9999; -1 otherwise. */
static int64_t epoch_seconds(const char *v)
{
	long n = dec_strict(v, strlen(v), 253402300799L);

	return n < 0 ? -1 : (int64_t)n;
}

static int log_export(int argc, char **argv)
{
	struct logverify_export_sel sel = { 0 };
	const char *db = NULL, *out = NULL, *from = NULL, *to = NULL;
	int64_t t0 = 0, t1 = 0;
	char *err = NULL;
	long n;

	const struct { const char *name; const char **slot; } opts[] = {
		{ "--db", &db }, { "--out", &out }, { "--message-id", &sel.message_id }, { "--from", &from },
		{ "--to", &to }, { "--tsa-ca", &sel.tsa_ca_pem }, { "--sign-trust", &sel.sign_trust_pem },
		{ "--sign-chain", &sel.sign_chain_pem },
	};

	for (int i = 0; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t k;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_log, stdout);
			return 0;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]) && strcmp(a, opts[k].name); k++)
			;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			fprintf(stderr, "ailgate log export: unknown option '%s'\n\n%s", a, usage_log);
			return 2;
		}
		if (!v) {
			fprintf(stderr, "ailgate log export: %s needs a value\n\n%s", a, usage_log);
			return 2;
		}
		if (take_once("export", a, opts[k].slot, v) < 0)
			return 2;
	}
	if (!db || !out || !(sel.message_id ? !from && !to : from && to)) {
		fprintf(stderr, "ailgate log export: give --db, --out and either --message-id or both --from "
				"and --to\n\n%s", usage_log);
		return 2;
	}
	if (from && ((t0 = epoch_seconds(from)) < 0 || (t1 = epoch_seconds(to)) < 0 || t1 < t0)) {
		fprintf(stderr, "ailgate log export: --from %s --to %s: T is whole seconds since the epoch "
				"(date +%%s), and --to not before --from\n", from, to);
		return 2;
	}
	if (from) {
		sel.from_ms = t0 * 1000;
		sel.to_ms = (t1 + 1) * 1000;    /* the filter's end is exclusive */
		if (sel.from_ms == 0)
			sel.from_ms = 1;        /* 0 would mean no lower bound: the same */
	}
	n = logverify_export(db, &sel, out, &err);
	if (n < 0) {
		fprintf(stderr, "ailgate log export: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	if (n == 0) {
		char what[1200];

		if (sel.message_id)
			snprintf(what, sizeof(what), "has message id %s", sel.message_id);
		else
			snprintf(what, sizeof(what), "is in the time range --from %s --to %s (both seconds included)",
				 from, to);
		fprintf(stderr, "ailgate log export: no record in %s %s; older records may have moved to "
				"the archive files (the gateway's [msglog] archive directory): export from "
				"those with --db ARCHIVE\n", db, what);
		return 1;
	}
	printf("%ld record(s) exported to %s; see %s/README.txt\n", n, out, out);
	if (sel.unstamped)
		fprintf(stderr, "ailgate log export: warning: %ld of them no time stamp covers yet (%s/README.txt "
			"names them, check.py reports them UNSTAMPED): export again after the gateway's next "
			"batch stamp to have them covered\n", sel.unstamped, out);
	return 0;
}

int logcli_main(int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
		fputs(usage_log, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	if (!strcmp(argv[0], "verify"))
		return log_verify(argc - 1, argv + 1);
	if (!strcmp(argv[0], "export"))
		return log_export(argc - 1, argv + 1);
	fprintf(stderr, "ailgate log: unknown command '%s'\n\n%s", argv[0], usage_log);
	return 2;
}
