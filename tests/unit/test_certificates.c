/* The certificates service (adapters/certificates): composition rules
 * (compose.h) and the adapter's issuing flow, against the REAL registry
 * adapters with their demo seed data in a temp dir.
 *
 * The test host plays the core: its call() finds the registry adapter that
 * serves the subsystem named in the outcall (household, population, ...),
 * runs it in-process with the path segments named by the service's
 * path_params, renders the result the way the core answers REST (status and
 * JSON body) and queues the answer; th_drain() delivers queued answers (and
 * run_blocking jobs) later, one by one, as the worker's event loop would.
 * So nothing answers from inside call(), and the test can see how many
 * queries were started before the first answer came back (parallelism).
 * Faults are injected per subsystem: a registry "down" (503
 * registry_unavailable), one that never answers (no HTTP answer), or a call
 * that cannot be started. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "adapters/adapter.h"
#include "adapters/certificates/certdoc.h"
#include "adapters/certificates/compose.h"
#include "lib/crypto.h"
#include "trust/sign.h"

#include "adapter_test.h"

extern const struct adapter_ops certificates_adapter;

/* ---- the test host ---------------------------------------------------------- */

#define TH_CALLS_MAX 64
#define TH_CONFIG_MAX 24

struct th_reg {
	const char *subsystem;        /* "passport-service" */
	const char *adapter;          /* "population" */
	const struct adapter_ops *ops;
	void *ctx;
};

static struct th_reg th_regs[] = {
	{ "passport-service", "population", NULL, NULL },
	{ "sanaripaymak-service", "household", NULL, NULL },
	{ "dkrpni-service", "cadastre", NULL, NULL },
	{ "vet-registry", "veterinary", NULL, NULL },
	{ "social-passport", "social-passport", NULL, NULL },
	{ "e-kyzmat", "e-kyzmat", NULL, NULL },
	{ "billing", "billing", NULL, NULL },
	{ "edocs", "edocs", NULL, NULL },
};
#define TH_NREGS (sizeof(th_regs) / sizeof(th_regs[0]))

struct th_item {
	struct th_item *next;
	/* an answer */
	adapter_outcall_fn done;
	void *arg;
	int ok;
	long status;
	char *body;
	size_t len;
	char xerr[64];
	char id[48];
	char errmsg[128];
	/* or a job */
	void (*work)(void *arg);
	void (*jdone)(void *arg);
};

struct th {
	struct adapter_host host;      /* the certificates adapter's */
	struct adapter_host reg_host;  /* the registries' */
	char dir[64];
	char pki[128], root[192], key[192], cert[192], tsa_cert[192], tsa_url[64], db[128];
	pid_t tsa_pid;
	void *cert_ctx;                /* the certificates adapter's */
	const char *keys[TH_CONFIG_MAX], *vals[TH_CONFIG_MAX];
	size_t n;
	struct th_item *head, *tail;
	int started, answered, started_at_first_answer;
	char calls[TH_CALLS_MAX][256];   /* "CLIENT SERVICE PATH", in order started */
	char users[TH_CALLS_MAX][64];    /* X-Road-UserId of each */
	const char *down;              /* subsystem answering 503 registry_unavailable */
	const char *silent;            /* subsystem whose calls get no HTTP answer */
	const char *unstartable;       /* subsystem whose calls cannot be started */
	int msg_seq;
	int n_errors;
	char last_log[1024];
	char last_body[8192];          /* the last registry answer, for debugging */
};

static struct th *the_th;          /* the group's host (registries are slow to seed) */

static void th_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void th_log(void *ctx, enum adapter_log_level lvl, const char *reqid, const char *fmt, ...)
{
	struct th *t = ctx;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->last_log, sizeof(t->last_log), fmt, ap);
	va_end(ap);
	if (lvl == ADAPTER_LOG_ERROR)
		t->n_errors++;
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "[log %d %s] %s\n", (int)lvl, reqid ? reqid : "-", t->last_log);
}

static const char *th_config(void *ctx, const char *key)
{
	struct th *t = ctx;

	for (size_t i = t->n; i-- > 0;)
		if (strcmp(t->keys[i], key) == 0)
			return t->vals[i];
	return NULL;
}

static const char *th_reg_config(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

static void th_set(struct th *t, const char *key, const char *val)
{
	assert_true(t->n < TH_CONFIG_MAX);
	t->keys[t->n] = key;
	t->vals[t->n] = val;
	t->n++;
}

static void th_push(struct th *t, struct th_item *it)
{
	if (t->tail)
		t->tail->next = it;
	else
		t->head = it;
	t->tail = it;
}

static struct th_reg *th_find(const char *subsystem)
{
	for (size_t i = 0; i < TH_NREGS; i++)
		if (strcmp(th_regs[i].subsystem, subsystem) == 0)
			return &th_regs[i];
	return NULL;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* The REST path segments after the service code, named by path_params. */
static int th_path_params(const struct adapter_service *as, const char *path, json_t *params)
{
	size_t i = 0;

	while (path && *path == '/') {
		const char *seg = path + 1, *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		char val[512];

		if (!as->path_params || !as->path_params[i])
			return -1;
		pct_decode(seg, len, val, sizeof(val));
		json_object_set_new(params, as->path_params[i++], json_string(val));
		path = seg + len;
	}
	return 0;
}

static void th_query_params(const char *q, json_t *params)
{
	while (q && *q) {
		const char *amp = strchr(q, '&'), *eq = strchr(q, '=');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		char k[128], v[512];

		if (eq && (size_t)(eq - q) < len) {
			pct_decode(q, (size_t)(eq - q), k, sizeof(k));
			pct_decode(eq + 1, len - (size_t)(eq - q) - 1, v, sizeof(v));
			json_object_set_new(params, k, json_string(v));
		}
		q += len + (amp ? 1 : 0);
	}
}

static int th_rest_status(enum adapter_status s)
{
	switch (s) {
	case ADAPTER_OK: return 200;
	case ADAPTER_INVALID_INPUT: return 400;
	case ADAPTER_NOT_FOUND:
	case ADAPTER_NOT_IN_REGISTER: return 404;
	case ADAPTER_UNAVAILABLE: return 503;
	case ADAPTER_FAILED: return 500;
	}
	return 500;
}

struct th_res {
	struct th_item *it;
};

/* The registry's answer, rendered as the core's REST side renders it. */
static void th_on_registry(struct adapter_result *res, void *arg)
{
	struct th_item *it = arg;
	json_t *err = NULL;

	it->ok = 1;
	it->status = th_rest_status(res->status);
	if (res->status == ADAPTER_OK && res->data) {
		it->body = json_dumps(res->data, JSON_COMPACT);
	} else {
		err = json_pack("{s:s,s:s,s:s}", "error", adapter_status_name(res->status), "message",
				res->message, "request_id", it->id);
		it->body = json_dumps(err, JSON_COMPACT);
		json_decref(err);
	}
	it->len = it->body ? strlen(it->body) : 0;
	json_decref(res->data);
	res->data = NULL;
}

/* "INST/CLASS/CODE/SUB/code[/v]" -> SUB and code. */
static int th_split_service(const char *service, char *sub, size_t subcap, char *code, size_t codecap)
{
	const char *p[6];
	int n = 0;

	p[n++] = service;
	for (const char *s = service; *s && n < 6; s++)
		if (*s == '/')
			p[n++] = s + 1;
	if (n < 5)
		return -1;
	snprintf(sub, subcap, "%.*s", (int)(p[4] - p[3] - 1), p[3]);
	snprintf(code, codecap, "%.*s", n > 5 ? (int)(p[5] - p[4] - 1) : (int)strlen(p[4]), p[4]);
	return 0;
}

static int th_call(void *ctx, const struct adapter_outcall *c, adapter_outcall_fn done, void *arg)
{
	struct th *t = ctx;
	struct th_item *it;
	struct th_reg *reg;
	const struct adapter_service *as;
	struct adapter_call call = { 0 };
	json_t *params;
	char sub[64], code[64];

	assert_non_null(c->client);
	assert_non_null(c->service);
	if (th_split_service(c->service, sub, sizeof(sub), code, sizeof(code)) != 0)
		return -1;
	if (t->unstartable && strcmp(t->unstartable, sub) == 0)
		return -1;
	if (t->started < TH_CALLS_MAX) {
		snprintf(t->calls[t->started], sizeof(t->calls[0]), "%s %s %s%s", c->client, c->service,
			 c->path ? c->path : "", c->query && c->query[0] ? "?" : "");
		snprintf(t->users[t->started], sizeof(t->users[0]), "%s", c->user_id ? c->user_id : "");
	}
	t->started++;
	it = calloc(1, sizeof(*it));
	assert_non_null(it);
	it->done = done;
	it->arg = arg;
	snprintf(it->id, sizeof(it->id), "th-msg-%d", ++t->msg_seq);
	if (t->silent && strcmp(t->silent, sub) == 0) {
		snprintf(it->errmsg, sizeof(it->errmsg), "the provider's gateway did not answer within 30 s");
		th_push(t, it);
		return 0;
	}
	if (t->down && strcmp(t->down, sub) == 0) {
		it->ok = 1;
		it->status = 503;
		it->body = strdup("{\"error\":\"registry_unavailable\",\"message\":\"the registry database "
				  "is unavailable; try again later\",\"request_id\":\"x\"}");
		it->len = strlen(it->body);
		th_push(t, it);
		return 0;
	}
	reg = th_find(sub);
	as = reg ? adapter_service(reg->ops, code) : NULL;
	params = json_object();
	if (!as || th_path_params(as, c->path, params) != 0) {
		it->ok = 1;
		it->status = 400;
		snprintf(it->xerr, sizeof(it->xerr), "Client.BadRequest");
		it->body = strdup("{\"type\":\"Client.BadRequest\",\"message\":\"no such service or path\"}");
		it->len = strlen(it->body);
	} else {
		th_query_params(c->query, params);
		call.service_code = code;
		call.method = c->method;
		call.message_id = it->id;
		call.client = c->client;
		call.user_id = c->user_id ? c->user_id : "";
		call.params = params;
		call.body = c->body;
		call.body_len = c->body_len;
		reg->ops->handle(reg->ctx, &call, th_on_registry, it);
	}
	json_decref(params);
	if (it->body)
		snprintf(t->last_body, sizeof(t->last_body), "%s", it->body);
	th_push(t, it);
	return 0;
}

static int th_run_blocking(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct th *t = ctx;
	struct th_item *it = calloc(1, sizeof(*it));

	assert_non_null(it);
	it->work = work;
	it->jdone = done;
	it->arg = arg;
	th_push(t, it);
	return 0;
}

/* Delivers everything queued (and what that queues), in order. */
static void th_drain(struct th *t)
{
	struct th_item *it;

	while ((it = t->head) != NULL) {
		t->head = it->next;
		if (!t->head)
			t->tail = NULL;
		if (it->work) {
			it->work(it->arg);
			it->jdone(it->arg);
		} else {
			struct adapter_outcall_result r = { 0 };
			if (t->answered++ == 0)
				t->started_at_first_answer = t->started;
			r.ok = it->ok;
			r.status = it->status;
			r.message_id = it->id;
			r.error_code = it->xerr[0] ? it->xerr : NULL;
			r.content_type = "application/json";
			r.body = (const unsigned char *)it->body;
			r.body_len = it->len;
			r.errmsg = it->ok ? "" : it->errmsg;
			it->done(&r, it->arg);
		}
		free(it->body);
		free(it);
	}
}

/* Forgets the calls of the previous request and the injected faults. */
static void th_reset(struct th *t)
{
	th_drain(t);
	t->started = t->answered = t->started_at_first_answer = 0;
	t->down = t->silent = t->unstartable = NULL;
	memset(t->calls, 0, sizeof(t->calls));
	memset(t->users, 0, sizeof(t->users));
}

static const char *src_dir(void)
{
	const char *e = getenv("AILGATE_SOURCE_DIR");

	return e && *e ? e : AILGATE_SOURCE_DIR;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A real RFC 3161 responder (tsa_server.py, `openssl ts -reply`) on a port
 * the kernel chooses; its pid, or -1. */
static pid_t start_tsa(struct th *t)
{
	char script[512], tsa_dir[256], pf[192];
	pid_t pid;
	int port = 0;

	snprintf(script, sizeof(script), "%s/tests/integration/tsa_server.py", src_dir());
	snprintf(tsa_dir, sizeof(tsa_dir), "%s/tsa", t->pki);
	snprintf(pf, sizeof(pf), "%s/tsa-port", t->dir);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* dies with the test */
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("python3", "python3", script, "--tsa-dir", tsa_dir, "--port", "0", "--port-file", pf,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && pid > 0; i++) {   /* up to 10 s */
		FILE *f = fopen(pf, "r");
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;
			fclose(f);
			if (ok) {
				snprintf(t->tsa_url, sizeof(t->tsa_url), "http://127.0.0.1:%d/", port);
				return pid;
			}
		}
		usleep(50000);
	}
	return -1;
}

/* The certificates adapter's configuration on the test host. */
static void th_cert_config(struct th *t)
{
	t->n = 0;
	th_set(t, "sign_key", t->key);
	th_set(t, "sign_cert", t->cert);
	th_set(t, "tsa_url", t->tsa_url);
	th_set(t, "tsa_cert", t->tsa_cert);
	th_set(t, "tsa_ca", t->root);
	th_set(t, "trust", t->root);
	th_set(t, "verify_url", "http://127.0.0.1:28880/verify");
}

static int th_group_setup(void **state)
{
	struct th *t = calloc(1, sizeof(*t));
	char *err = NULL;

	(void)state;
	if (!t || temp_dir(t->dir, sizeof(t->dir), "certificates") != 0)
		return -1;
	t->host = (struct adapter_host){ .ctx = t, .log = th_log, .config = th_config, .data_dir = t->dir,
					 .call = th_call, .run_blocking = th_run_blocking };
	t->reg_host = (struct adapter_host){ .ctx = t, .log = th_log, .config = th_reg_config,
					     .data_dir = t->dir };
	for (size_t i = 0; i < TH_NREGS; i++) {
		th_regs[i].ops = adapter_find(th_regs[i].adapter);
		if (!th_regs[i].ops || th_regs[i].ops->init(&t->reg_host, &th_regs[i].ctx, &err) != 0) {
			fprintf(stderr, "%s: %s\n", th_regs[i].adapter, err ? err : "not compiled in");
			free(err);
			return -1;
		}
	}
	if (t->n_errors) {
		fprintf(stderr, "registries: %s\n", t->last_log);
		return -1;
	}
	snprintf(t->pki, sizeof(t->pki), "%s/pki", t->dir);
	snprintf(t->root, sizeof(t->root), "%s/ca/trust.pem", t->pki);
	snprintf(t->key, sizeof(t->key), "%s/members/GOV_70000050/sign.key", t->pki);
	snprintf(t->cert, sizeof(t->cert), "%s/members/GOV_70000050/sign-fullchain.pem", t->pki);
	snprintf(t->tsa_cert, sizeof(t->tsa_cert), "%s/tsa/tsa.pem", t->pki);
	snprintf(t->db, sizeof(t->db), "%s/certificates.db", t->dir);
	if (sh("'%s/certs/mkpki.sh' '%s' --gateways a --members 'GOV/70000050 GOV/70000005' --clients '' >/dev/null 2>&1",
	       src_dir(), t->pki) != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (t->tsa_pid = start_tsa(t)) < 0) {
		fprintf(stderr, "PKI or TSA could not be made\n");
		return -1;
	}
	th_cert_config(t);
	if (certificates_adapter.init(&t->host, &t->cert_ctx, &err) != 0) {
		fprintf(stderr, "certificates: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	the_th = t;
	return 0;
}

static int th_group_teardown(void **state)
{
	struct th *t = the_th;

	(void)state;
	th_drain(t);
	if (t->cert_ctx)
		certificates_adapter.free(t->cert_ctx);
	for (size_t i = 0; i < TH_NREGS; i++)
		if (th_regs[i].ctx)
			th_regs[i].ops->free(th_regs[i].ctx);
	if (t->tsa_pid > 0) {
		kill(t->tsa_pid, SIGTERM);
		waitpid(t->tsa_pid, NULL, 0);
	}
	curl_global_cleanup();
	sig_global_shutdown();
	rm_rf(t->dir);
	free(t);
	the_th = NULL;
	return 0;
}

/* ---- composing through the test host ------------------------------------------ */

struct cq_run {
	struct compose_request rq;
	struct compose_answer ans[CQ_COUNT];
	struct compose_query q[CQ_COUNT];
	int pending;
	int stages;
	int stage_sizes[4];
};

struct cq_slot {
	struct cq_run *run;
	struct compose_query *q;
};

static void cq_answer(const struct adapter_outcall_result *r, void *arg)
{
	struct cq_slot *s = arg;

	compose_answer_set(&s->run->ans[s->q->role], s->q, r->ok, r->status, r->error_code, r->body,
			   r->body_len, r->message_id, r->errmsg);
	s->run->pending--;
	free(s);
}

/* Runs the plan/ask/answer loop to the end through the test host. */
static void cq_ask_all(struct th *t, struct cq_run *run)
{
	size_t n;

	while ((n = compose_plan(&run->rq, run->ans, run->q, CQ_COUNT)) > 0) {
		int before = t->started;
		assert_true(run->stages < 4);
		run->stage_sizes[run->stages++] = (int)n;
		for (size_t i = 0; i < n; i++) {
			struct cq_slot *s = calloc(1, sizeof(*s));
			char svc[160];
			struct adapter_outcall oc = { 0 };

			assert_non_null(s);
			s->run = run;
			s->q = &run->q[i];
			snprintf(svc, sizeof(svc), "%s/%s", compose_registry_default(run->q[i].registry),
				 run->q[i].service_code);
			oc.client = "central-server/GOV/70000050/certificates";
			oc.service = svc;
			oc.method = "GET";
			oc.path = run->q[i].path;
			run->pending++;
			if (th_call(t, &oc, cq_answer, s) != 0) {
				compose_answer_set(&run->ans[run->q[i].role], &run->q[i], 0, 0, NULL, NULL, 0,
						   "", "could not be started");
				run->pending--;
				free(s);
			}
		}
		if (!t->unstartable)
			assert_int_equal(t->started - before, (int)n);
		th_drain(t);
		assert_int_equal(run->pending, 0);
	}
}

static void cq_init(struct cq_run *run, enum compose_kind kind, const char *pin)
{
	memset(run, 0, sizeof(*run));
	run->rq.kind = kind;
	snprintf(run->rq.subject.pin, sizeof(run->rq.subject.pin), "%s", pin ? pin : "");
	params_today(NULL, &run->rq.today);
	run->rq.vet_max_age_days = 365;
}

static void cq_init_doc(struct cq_run *run, enum compose_kind kind, const char *cit, const char *doc)
{
	cq_init(run, kind, NULL);
	snprintf(run->rq.subject.citizenship, sizeof(run->rq.subject.citizenship), "%s", cit);
	snprintf(run->rq.subject.document, sizeof(run->rq.subject.document), "%s", doc);
}

/* Composes; returns the content (caller frees) or NULL with *why. */
static json_t *cq_build(struct th *t, struct cq_run *run, struct compose_refusal *why)
{
	json_t *content = NULL;
	int rc;

	cq_ask_all(t, run);
	rc = compose_build(&run->rq, run->ans, &content, why);
	compose_answers_free(run->ans, CQ_COUNT);
	if (getenv("TEST_VERBOSE")) {
		char *s = content ? json_dumps(content, JSON_INDENT(1)) : NULL;
		fprintf(stderr, "%s\n", s ? s : why->message);
		free(s);
	}
	assert_true(rc == 0 ? content != NULL : content == NULL);
	return content;
}

static json_t *cq_ok(struct th *t, struct cq_run *run)
{
	struct compose_refusal why;
	json_t *c = cq_build(t, run, &why);

	if (!c)
		fail_msg("refused: %s", why.message);
	return c;
}

static void cq_refused(struct th *t, struct cq_run *run, enum adapter_status st, const char *part)
{
	struct compose_refusal why;
	json_t *c = cq_build(t, run, &why);

	if (c) {
		json_decref(c);
		fail_msg("issued, expected a refusal with '%s'", part);
	}
	if (why.status != st || !strstr(why.message, part))
		fail_msg("refusal %s '%s', expected %s with '%s'", adapter_status_name(why.status), why.message,
			 adapter_status_name(st), part);
}

/* The value of the row labelled label in any section, or NULL. */
static const char *row_value(json_t *content, const char *label)
{
	size_t i, j;
	json_t *s, *r;

	json_array_foreach(json_object_get(content, "sections"), i, s)
		json_array_foreach(json_object_get(s, "rows"), j, r)
			if (strcmp(json_string_value(json_object_get(r, "label")), label) == 0)
				return json_string_value(json_object_get(r, "value"));
	return NULL;
}

static json_t *facts(json_t *content)
{
	return json_object_get(content, "facts");
}

/* ---- compose: kinds and plans ---------------------------------------------------- */

static void test_kind_parse(void **state)
{
	enum compose_kind k;

	(void)state;
	assert_int_equal(compose_kind_parse("household-composition", &k), 0);
	assert_int_equal(k, CK_HOUSEHOLD);
	assert_int_equal(compose_kind_parse("Household-Composition", &k), 0);
	assert_int_equal(k, CK_HOUSEHOLD);
	assert_int_equal(compose_kind_parse("no_utility_debt", &k), 0);
	assert_int_equal(k, CK_NO_DEBT);
	assert_int_equal(compose_kind_parse("length_of_service", &k), 0);
	assert_int_equal(k, CK_EMPLOYMENT);
	assert_int_equal(compose_kind_parse("pension", &k), -1);
	assert_int_equal(compose_kind_parse("", &k), -1);
	assert_int_equal(compose_kind_parse(NULL, &k), -1);
	for (int i = 0; i < CK_COUNT; i++) {
		const struct compose_kind_info *ki = compose_kind_info((enum compose_kind)i);
		assert_non_null(ki);
		assert_int_equal(compose_kind_parse(ki->code, &k), 0);
		assert_int_equal(k, i);
		assert_non_null(strstr(compose_kind_list(), ki->code));
	}
	assert_null(compose_kind_info(CK_COUNT));
}

/* Which queries each kind asks first: all independent ones together. */
static void test_plans(void **state)
{
	static const struct {
		enum compose_kind kind;
		int by_doc;
		const char *want;   /* service codes of the first stage */
	} cases[] = {
		{ CK_HOUSEHOLD, 0, "passportDataByPSN family-members" },
		{ CK_RESIDENCE, 0, "passportDataByPSN address-fact" },
		{ CK_LIVESTOCK, 0, "passportDataByPSN livestock-by-owner" },
		{ CK_PROPERTY, 0, "passportDataByPSN person-properties" },
		{ CK_SOCIAL_CATEGORY, 0, "passportDataByPSN category-status" },
		{ CK_NO_DEBT, 0, "passportDataByPSN family-members" },
		{ CK_EMPLOYMENT, 0, "passportDataByPSN employee length-of-service" },
		{ CK_HOUSEHOLD, 1, "household-by-document" },
		{ CK_LIVESTOCK, 1, "household-by-document" },
		{ CK_PROPERTY, 1, "household-by-document person-properties-by-document" },
		{ CK_SOCIAL_CATEGORY, 1, "" },
		{ CK_EMPLOYMENT, 1, "" },
	};
	struct compose_query q[CQ_COUNT];
	struct compose_answer ans[CQ_COUNT];
	struct compose_request rq;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char got[256] = "";
		size_t n;
		memset(&rq, 0, sizeof(rq));
		memset(ans, 0, sizeof(ans));
		rq.kind = cases[i].kind;
		if (cases[i].by_doc) {
			strcpy(rq.subject.citizenship, "KAZ");
			strcpy(rq.subject.document, "N1234567");
		} else {
			strcpy(rq.subject.pin, "21205197500417");
		}
		strcpy(rq.category, "disability");
		n = compose_plan(&rq, ans, q, CQ_COUNT);
		for (size_t j = 0; j < n; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "",
				 q[j].service_code);
		assert_string_equal(got, cases[i].want);
	}
	/* the debt waits for the household id; a bad id from an answer is never asked */
	memset(&rq, 0, sizeof(rq));
	memset(ans, 0, sizeof(ans));
	rq.kind = CK_NO_DEBT;
	strcpy(rq.subject.pin, "21205197500417");
	assert_int_equal(compose_plan(&rq, ans, q, CQ_COUNT), 2);
	ans[CQ_IDENTITY].outcome = CA_OK;
	ans[CQ_HOUSEHOLD].outcome = CA_OK;
	ans[CQ_HOUSEHOLD].data = json_pack("{s:s}", "household_id", "LBD-0001/../x");
	assert_int_equal(compose_plan(&rq, ans, q, CQ_COUNT), 0);
	json_object_set_new(ans[CQ_HOUSEHOLD].data, "household_id", json_string("LBD-0001"));
	assert_int_equal(compose_plan(&rq, ans, q, CQ_COUNT), 1);
	assert_string_equal(q[0].service_code, "debt");
	assert_string_equal(q[0].path, "/LBD-0001");
	compose_answers_free(ans, CQ_COUNT);
}

/* How an outcall result is read. */
static void test_answer_set(void **state)
{
	static const struct {
		int ok;
		long status;
		const char *xerr, *body;
		enum compose_outcome want;
		const char *msg;
	} cases[] = {
		{ 1, 200, NULL, "{\"a\":1}", CA_OK, "" },
		{ 1, 200, NULL, "[1]", CA_FAILED, "not a JSON object" },
		{ 1, 200, NULL, "{\"a\":1,\"a\":2}", CA_FAILED, "not a JSON object" },
		{ 1, 200, NULL, "", CA_FAILED, "not a JSON object" },
		{ 1, 404, NULL, "{\"error\":\"not_found\",\"message\":\"no person\"}", CA_NOT_FOUND, "no person" },
		{ 1, 404, NULL, "{\"error\":\"not_in_register\",\"message\":\"m\"}", CA_NOT_IN_REGISTER, "m" },
		{ 1, 400, NULL, "{\"error\":\"invalid_input\",\"message\":\"bad\"}", CA_INVALID, "bad" },
		{ 1, 503, NULL, "{\"error\":\"registry_unavailable\",\"message\":\"down\"}", CA_UNAVAILABLE, "down" },
		{ 1, 500, NULL, "{\"error\":\"failed\",\"message\":\"duplicate\"}", CA_FAILED, "duplicate" },
		{ 1, 500, "Server.ServerProxy.NetworkError", "{\"type\":\"Server.ServerProxy.NetworkError\","
		  "\"message\":\"peer down\"}", CA_UNAVAILABLE, "NetworkError: peer down" },
		{ 1, 400, "Client.AccessDenied", "{\"type\":\"Client.AccessDenied\",\"message\":\"no\"}",
		  CA_FAILED, "AccessDenied" },
		{ 1, 500, NULL, "{\"type\":\"Server.ServerProxy.AccessDenied\",\"message\":\"no\"}", CA_FAILED,
		  "AccessDenied" },
		{ 1, 502, NULL, "<html>bad gateway</html>", CA_UNAVAILABLE, "HTTP 502" },
		{ 1, 418, NULL, "", CA_FAILED, "HTTP 418" },
		{ 0, 0, NULL, NULL, CA_UNAVAILABLE, "timed out" },
	};
	struct compose_query q = { .role = CQ_IDENTITY, .registry = CR_POPULATION, .service_code = "x" };
	struct compose_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = cases[i].body;
		compose_answer_set(&a, &q, cases[i].ok, cases[i].status, cases[i].xerr, (const unsigned char *)b,
				   b ? strlen(b) : 0, "id-1", "timed out");
		if (a.outcome != cases[i].want || !strstr(a.message, cases[i].msg))
			fail_msg("case %zu: outcome %d '%s'", i, (int)a.outcome, a.message);
		assert_string_equal(a.message_id, "id-1");
		assert_true((a.data != NULL) == (a.outcome == CA_OK));
		compose_answers_free(&a, 1);
	}
	/* a long message is cut on a character boundary, control characters go */
	{
		char body[1200], *p = body;
		p += sprintf(p, "{\"error\":\"not_found\",\"message\":\"a\\n");
		for (int i = 0; i < 300; i++)
			p += sprintf(p, "ө");
		sprintf(p, "\"}");
		compose_answer_set(&a, &q, 1, 404, NULL, (const unsigned char *)body, strlen(body), "i", "");
		assert_int_equal(strncmp(a.message, "a ", 2), 0);
		assert_true(strlen(a.message) < sizeof(a.message));
		assert_int_equal((strlen(a.message) - 2) % 2, 0);   /* whole two-byte letters */
	}
}

/* ---- compose: each kind on the demo data --------------------------------------- */

static void test_household_composition(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c, *members;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_HOUSEHOLD, "21205197500417");
	c = cq_ok(t, &run);
	assert_int_equal(run.stages, 1);
	assert_int_equal(run.stage_sizes[0], 2);
	assert_string_equal(jstr(json_object_get(c, "subject"), "name"), "Осмонов Бакыт Жумабекович");
	assert_string_equal(jstr(facts(c), "household_id"), "LBD-0001");
	assert_int_equal(jint(facts(c), "member_count"), 5);
	members = json_object_get(facts(c), "members");
	assert_int_equal(json_array_size(members), 5);
	assert_string_equal(jstr(json_array_get(members, 4), "name"), "Осмонова Күлүйпа Асановна");
	assert_string_equal(row_value(c, "Кадастровый код дома"), "7100600330016");
	assert_non_null(strstr(row_value(c, "1. Осмонов Бакыт Жумабекович"), "ПИН 21205197500417"));
	assert_int_equal(json_array_size(json_object_get(c, "sources")), 2);
	assert_string_equal(jstr(json_array_get(json_object_get(c, "sources"), 0), "service"),
			    "passportDataByPSN");
	json_decref(c);

	/* LBD-0003: a house without a cadastral code, a child whose birth record is not digitised */
	cq_init(&run, CK_HOUSEHOLD, "23001198800158");
	c = cq_ok(t, &run);
	assert_false(jtrue(facts(c), "house_registered"));
	assert_non_null(strstr(row_value(c, "Кадастровый код дома"), "не зарегистрирован"));
	assert_non_null(strstr(row_value(c, "4. Төрөкулов Эмир"), "запись неполная: нет ПИН, даты рождения"));
	assert_non_null(strstr(row_value(c, "4. Төрөкулов Эмир"), "не оцифровано"));
	assert_false(jtrue(json_array_get(json_object_get(facts(c), "members"), 3), "record_complete"));
	json_decref(c);
}

static void test_foreign_owner_by_document(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c, *props;

	(void)state;
	th_reset(t);
	cq_init_doc(&run, CK_HOUSEHOLD, "KAZ", "N1234567");
	c = cq_ok(t, &run);
	assert_string_equal(jstr(json_object_get(c, "subject"), "name"), "Сейткалиев Ержан Болатович");
	assert_jnull(json_object_get(c, "subject"), "pin");
	assert_string_equal(jstr(json_object_get(c, "subject"), "document"), "N1234567");
	assert_string_equal(jstr(facts(c), "household_id"), "LBD-0002");
	assert_non_null(strstr(row_value(c, "1. Сейткалиев Ержан Болатович"), "документ KAZ N1234567"));
	json_decref(c);

	cq_init_doc(&run, CK_PROPERTY, "KAZ", "N1234567");
	c = cq_ok(t, &run);
	assert_int_equal(run.stage_sizes[0], 2);
	props = json_object_get(facts(c), "properties");
	assert_int_equal(json_array_size(props), 1);
	assert_string_equal(jstr(json_array_get(props, 0), "eni"), "7100600330102");
	assert_string_equal(jstr(json_array_get(json_object_get(json_array_get(props, 0), "rights"), 0), "share"),
			    "1/2");
	json_decref(c);

	/* livestock by document: the household first, then its holding (two stages) */
	cq_init_doc(&run, CK_LIVESTOCK, "KAZ", "N1234567");
	c = cq_ok(t, &run);
	assert_int_equal(run.stages, 2);
	assert_string_equal(jstr(json_array_get(json_object_get(facts(c), "holdings"), 0), "household_id"),
			    "LBD-0002");
	json_decref(c);

	cq_init_doc(&run, CK_RESIDENCE, "KAZ", "N1234567");
	c = cq_ok(t, &run);
	assert_non_null(strstr(jstr(facts(c), "address_line"), "Лебединовка"));
	json_decref(c);

	/* an unknown document, and kinds that need a PIN */
	cq_init_doc(&run, CK_HOUSEHOLD, "KAZ", "N7654321");
	cq_refused(t, &run, ADAPTER_NOT_FOUND, "not in the municipality's household register");
	cq_init_doc(&run, CK_EMPLOYMENT, "KAZ", "N1234567");
	cq_refused(t, &run, ADAPTER_INVALID_INPUT, "needs a PIN");
}

static void test_residence(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_RESIDENCE, "10309197901235");
	c = cq_ok(t, &run);
	assert_string_equal(jstr(json_object_get(c, "subject"), "name"), "Осмонова Айгүл Токтосуновна");
	assert_string_equal(row_value(c, "Адрес"),
			    "Чүй облусу, Аламүдүн району, Лебединовка айыл өкмөтү, Лебединовка, Ленин көчөсү 12");
	assert_non_null(row_value(c, "Зарегистрирован(а) по этому адресу с"));
	json_decref(c);
}

static void test_livestock(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c, *h;
	char msg[64];

	(void)state;
	th_reset(t);
	cq_init(&run, CK_LIVESTOCK, "21205197500417");
	c = cq_ok(t, &run);
	h = json_array_get(json_object_get(facts(c), "holdings"), 0);
	assert_int_equal(jint(h, "total_head_count"), 31);
	assert_int_equal(jint(h, "data_age_days"), 40);
	assert_string_equal(row_value(c, "крупный рогатый скот"), "3 головы (с бирками: 3)");
	json_decref(c);

	/* stale: LBD-0003's data are 500 days old; the refusal says when they were updated */
	cq_init(&run, CK_LIVESTOCK, "23001198800158");
	{
		char day[11];
		params_date_format(run.rq.today.days - 500, day);
		snprintf(msg, sizeof(msg), "were last updated on %s, 500 days ago", day);
	}
	cq_refused(t, &run, ADAPTER_NOT_IN_REGISTER, msg);
	/* ... and within a larger configured age it is issued */
	cq_init(&run, CK_LIVESTOCK, "23001198800158");
	run.rq.vet_max_age_days = 500;
	c = cq_ok(t, &run);
	json_decref(c);

	/* no data: the owner of LBD-0004 has no holding (his PIN is a duplicate one, so ask
	 * by a member who owns none) */
	cq_init(&run, CK_LIVESTOCK, "10309197901235");
	cq_refused(t, &run, ADAPTER_NOT_IN_REGISTER, "The veterinary registry has no data on your livestock");
}

static void test_property(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_PROPERTY, "21205197500417");
	c = cq_ok(t, &run);
	assert_true(jtrue(facts(c), "owns_property"));
	assert_true(jint(facts(c), "property_count") >= 2);
	json_decref(c);

	/* narrowed to one ENI, dashed or plain */
	cq_init(&run, CK_PROPERTY, "21205197500417");
	strcpy(run.rq.eni, "7100600510234");
	c = cq_ok(t, &run);
	assert_int_equal(jint(facts(c), "property_count"), 1);
	assert_non_null(strstr(row_value(c, "Обременения"), "ипотека"));
	json_decref(c);
	cq_init(&run, CK_PROPERTY, "21205197500417");
	strcpy(run.rq.eni, "7100600330102");
	cq_refused(t, &run, ADAPTER_NOT_FOUND, "no right of yours on the property with ENI 7100600330102");

	/* owns nothing: a certificate that says so */
	cq_init(&run, CK_PROPERTY, "10512199100267");
	c = cq_ok(t, &run);
	assert_false(jtrue(facts(c), "owns_property"));
	assert_string_equal(row_value(c, "Недвижимое имущество"), "прав на недвижимое имущество не зарегистрировано");
	json_decref(c);
}

static void test_social_category(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_SOCIAL_CATEGORY, "10107195000110");
	strcpy(run.rq.category, "disability");
	c = cq_ok(t, &run);
	assert_true(jtrue(facts(c), "in_category"));
	assert_string_equal(jstr(facts(c), "since"), "2016-04-12");
	assert_string_equal(row_value(c, "Группа инвалидности"), "II");
	json_decref(c);

	cq_init(&run, CK_SOCIAL_CATEGORY, "21205197500417");
	strcpy(run.rq.category, "disability");
	c = cq_ok(t, &run);
	assert_false(jtrue(facts(c), "in_category"));
	assert_non_null(strstr(row_value(c, "Статус"), "не состоит"));
	json_decref(c);

	cq_init(&run, CK_SOCIAL_CATEGORY, "21205197500417");
	strcpy(run.rq.category, "pensioner");
	cq_refused(t, &run, ADAPTER_INVALID_INPUT, "unknown social category 'pensioner'");
}

static void test_no_debt(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;

	(void)state;
	th_reset(t);
	/* LBD-0001 paid October's bills today */
	cq_init(&run, CK_NO_DEBT, "21205197500417");
	c = cq_ok(t, &run);
	assert_int_equal(run.stages, 2);
	assert_int_equal(run.stage_sizes[1], 1);
	assert_false(jtrue(facts(c), "has_debt"));
	assert_string_equal(row_value(c, "Задолженность за коммунальные услуги"), "нет");
	json_decref(c);

	/* LBD-0003 owes for water: refused, with the amount */
	cq_init(&run, CK_NO_DEBT, "23001198800158");
	cq_refused(t, &run, ADAPTER_INVALID_INPUT, "records a debt of 1137.75 som for your household LBD-0003");

	/* LBD-0002 (foreign head, by document): overpaid water is a credit, not a debt */
	cq_init_doc(&run, CK_NO_DEBT, "KAZ", "N1234567");
	c = cq_ok(t, &run);
	assert_string_equal(row_value(c, "Переплата, сом"), "730.00");
	json_decref(c);

	/* LBD-0004: no utility accounts at all; the certificate says so */
	cq_init(&run, CK_NO_DEBT, "11108199400529");
	c = cq_ok(t, &run);
	assert_string_equal(row_value(c, "Лицевые счета"), "нет");
	json_decref(c);
}

static void test_employment(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_EMPLOYMENT, "21205197500417");
	c = cq_ok(t, &run);
	assert_int_equal(run.stage_sizes[0], 3);
	assert_true(jtrue(facts(c), "employed"));
	assert_string_equal(jstr(facts(c), "position"), "head");
	assert_non_null(strstr(row_value(c, "Общий стаж"), " лет "));
	json_decref(c);

	cq_init(&run, CK_EMPLOYMENT, "11402200500893");
	cq_refused(t, &run, ADAPTER_NOT_FOUND, "not and have not been an employee");
}

/* Person not in the register, not anywhere, duplicate PIN, deceased. */
static void test_person_refusals(void **state)
{
	struct th *t = the_th;
	struct cq_run run;

	(void)state;
	th_reset(t);
	cq_init(&run, CK_HOUSEHOLD, "20202198000123");
	cq_refused(t, &run, ADAPTER_NOT_IN_REGISTER, "has not been entered in the household register yet");
	cq_init(&run, CK_RESIDENCE, "20202198000123");
	cq_refused(t, &run, ADAPTER_NOT_IN_REGISTER, "has not been entered in the household register yet");
	cq_init(&run, CK_HOUSEHOLD, "21001199000999");
	cq_refused(t, &run, ADAPTER_NOT_FOUND, "The population registry has no person with PIN 21001199000999");
	cq_init(&run, CK_PROPERTY, "21503199200011");
	cq_refused(t, &run, ADAPTER_FAILED, "duplicate PIN");
	cq_init(&run, CK_HOUSEHOLD, "21003194800215");
	cq_refused(t, &run, ADAPTER_FAILED, "as deceased (2019-11-02)");
}

/* A registry that cannot answer, or never answers, or cannot be asked:
 * "try again later", never a certificate. */
static void test_registry_unavailable(void **state)
{
	struct th *t = the_th;
	struct cq_run run;

	(void)state;
	th_reset(t);
	t->down = "vet-registry";
	cq_init(&run, CK_LIVESTOCK, "21205197500417");
	cq_refused(t, &run, ADAPTER_UNAVAILABLE, "The veterinary registry cannot answer now");
	th_reset(t);
	t->silent = "billing";
	cq_init(&run, CK_NO_DEBT, "21205197500417");
	cq_refused(t, &run, ADAPTER_UNAVAILABLE, "Utility billing cannot answer now (the provider's gateway");
	th_reset(t);
	t->unstartable = "e-kyzmat";
	cq_init(&run, CK_EMPLOYMENT, "21205197500417");
	cq_refused(t, &run, ADAPTER_UNAVAILABLE, "try again later");
	th_reset(t);
	/* the household register down: the debt is never asked, and nothing is issued */
	t->down = "sanaripaymak-service";
	cq_init(&run, CK_NO_DEBT, "21205197500417");
	cq_refused(t, &run, ADAPTER_UNAVAILABLE, "The household register cannot answer now");
	assert_int_equal(t->started, 2);
	th_reset(t);
}

/* An answer with a key missing or of another type is never made into a
 * certificate: each kind, each key it reads, dropped one at a time. */
static void test_partial_answers(void **state)
{
	static const struct {
		enum compose_kind kind;
		const char *pin;
	} kinds[] = {
		{ CK_HOUSEHOLD, "21205197500417" }, { CK_RESIDENCE, "21205197500417" },
		{ CK_LIVESTOCK, "21205197500417" }, { CK_PROPERTY, "21205197500417" },
		{ CK_SOCIAL_CATEGORY, "10107195000110" }, { CK_NO_DEBT, "21205197500417" },
		{ CK_EMPLOYMENT, "21205197500417" },
	};
	struct th *t = the_th;

	(void)state;
	th_reset(t);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct cq_run full;
		struct compose_refusal why;
		json_t *whole = NULL, *c;
		cq_init(&full, kinds[k].kind, kinds[k].pin);
		strcpy(full.rq.category, "disability");
		cq_ask_all(t, &full);
		assert_int_equal(compose_build(&full.rq, full.ans, &whole, &why), 0);
		for (int r = 0; r < CQ_COUNT; r++) {
			const char *key;
			json_t *v;
			if (full.ans[r].outcome != CA_OK)
				continue;
			json_object_foreach(full.ans[r].data, key, v) {
				struct compose_answer cut[CQ_COUNT];
				memcpy(cut, full.ans, sizeof(cut));
				cut[r].data = json_deep_copy(full.ans[r].data);
				/* another type: what the content is made of must be checked */
				json_object_set_new(cut[r].data, key,
						    json_is_integer(v) ? json_string("7") : json_integer(7));
				c = NULL;
				/* either refused, or the key is not one the content is made of */
				if (compose_build(&full.rq, cut, &c, &why) == 0 && !json_equal(c, whole))
					fail_msg("kind %zu: '%s' of %s changed and still issued, differently", k,
						 key, full.ans[r].service_code);
				json_decref(c);
				json_decref(cut[r].data);
			}
		}
		json_decref(whole);
		compose_answers_free(full.ans, CQ_COUNT);
	}
}

/* ---- the adapter: issuing ------------------------------------------------------- */

#define PORTAL "central-server/GOV/70000073/portal"
#define KIOSK "central-server/GOV/70000050/kiosk"
#define CLERK "central-server/GOV/70000050/household-register"
#define US "central-server/GOV/70000050/certificates"

/* One call of the certificates adapter as the core makes it, answered after
 * the queued exchanges and jobs have run. body: a REST JSON body or NULL;
 * the params as name, value pairs up to NULL. */
static struct outcome vcert(struct th *t, void *ctx, const char *svc, const char *method, const char *client,
			    const char *user, const char *body, va_list ap)
{
	struct outcome o = { 0 };
	struct adapter_call call = { 0 };
	json_t *params = json_object();
	const char *k, *v;

	while ((k = va_arg(ap, const char *)) != NULL)
		if ((v = va_arg(ap, const char *)) != NULL)
			json_object_set_new(params, k, json_string(v));
	call.service_code = svc;
	call.method = method;
	call.message_id = "test-request";
	call.client = client;
	call.user_id = user ? user : "";
	call.params = params;
	call.body = body;
	call.body_len = body ? strlen(body) : 0;
	certificates_adapter.handle(ctx, &call, on_done, &o);
	th_drain(t);
	json_decref(params);
	check_outcome(&o);
	if (getenv("TEST_VERBOSE")) {
		char *d = o.data ? json_dumps(o.data, JSON_INDENT(1)) : NULL;
		fprintf(stderr, "%s %s: %s %.2000s\n", svc, adapter_status_name(o.status), o.message, d ? d : "");
		free(d);
	}
	return o;
}

static struct outcome cert_call(struct th *t, const char *svc, const char *method, const char *client,
				const char *user, const char *body, ...)
{
	struct outcome o;
	va_list ap;

	va_start(ap, body);
	o = vcert(t, t->cert_ctx, svc, method, client, user, body, ap);
	va_end(ap);
	return o;
}

static struct outcome issue(struct th *t, const char *user, const char *body)
{
	return cert_call(t, "issue", "POST", PORTAL, user, body, NULL);
}

/* db_int of head + arg + tail (arg is ours: a number or a digest). */
static long long count_where(const char *db, const char *head, const char *arg, const char *tail)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "%s%s%s", head, arg, tail);
	return db_int(db, sql);
}

static char *edocs_db(struct th *t, char *out, size_t cap)
{
	snprintf(out, cap, "%s/edocs.db", t->dir);
	return out;
}

/* xmlsec1 --verify of a document, as adapters/certificates/README.md says. */
static int xmlsec1_ok(struct th *t, const char *xml)
{
	char path[192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/doc.xml", t->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(xml, f);
	fclose(f);
	return sh("xmlsec1 --verify --trusted-pem '%s' --id-attr:Id SignedProperties '%s' >/dev/null 2>&1",
		  t->root, path) == 0;
}

/* What every issued certificate must be: numbered, signed (xmlsec1 agrees),
 * time-stamped, its digest that of the bytes handed out, in the register
 * (verify says valid) and in edocs as an outgoing document. */
static void check_issued(struct th *t, const struct outcome *o, const char *name)
{
	const char *xml, *num, *dig;
	char want[CERTDOC_DIGEST_HEX], url[400], db[128], code[24];
	struct outcome v;
	int year;
	long seq;

	if (o->status != ADAPTER_OK)
		fail_msg("not issued: %s: %s", adapter_status_name(o->status), o->message);
	xml = jstr(o->data, "document_xml");
	num = jstr(o->data, "number");
	dig = jstr(o->data, "digest");
	assert_int_equal(certdoc_number_parse(num, code, &year, &seq), 0);
	assert_string_equal(code, "70000050");
	certdoc_digest(xml, strlen(xml), want);
	assert_string_equal(dig, want);
	snprintf(url, sizeof(url), "http://127.0.0.1:28880/verify?n=%s&d=%s", num, dig);
	assert_string_equal(jstr(o->data, "verify_url"), url);
	assert_string_equal(jstr(json_object_get(o->data, "subject"), "name"), name);
	assert_non_null(strstr(xml, name));
	assert_non_null(strstr(xml, "EncapsulatedTimeStamp"));
	assert_true(xmlsec1_ok(t, xml));
	assert_int_equal(strncmp(jstr(o->data, "edocs_registration_number"), "ИСХ-", strlen("ИСХ-")), 0);
	assert_int_equal(count_where(edocs_db(t, db, sizeof(db)), "SELECT count(*) FROM documents WHERE request_id = '",
				     num, "' AND direction = 'out' AND doc_type = 'certificate' AND client = '" US "'"), 1);
	assert_int_equal(count_where(db, "SELECT count(*) FROM documents WHERE content_digest = '", dig, "'"), 1);
	v = cert_call(t, "verify", "GET", "central-server/COM/60000001/bank-is", "", NULL, "number", num,
		      "digest", dig, NULL);
	assert_int_equal(v.status, ADAPTER_OK);
	assert_string_equal(jstr(v.data, "verdict"), "valid");
	json_decref(v.data);
}

static long long issued_count(struct th *t)
{
	return db_int(t->db, "SELECT count(*) FROM cert_documents");
}

static long long edocs_count(struct th *t)
{
	char db[128];

	return db_int(edocs_db(t, db, sizeof(db)), "SELECT count(*) FROM documents");
}

/* Every kind, issued through the adapter, with the registries' queries of
 * the first stage all started before the first answer came back. */
static void test_issue_every_kind(void **state)
{
	static const struct {
		const char *user, *body, *name;
		int parallel;    /* queries of the first stage */
		int stages;      /* registry queries in all (edocs not counted) */
	} cases[] = {
		{ "21205197500417", "{\"kind\":\"household-composition\",\"pin\":\"21205197500417\","
		  "\"purpose\":\"для банка\"}", "Осмонов Бакыт Жумабекович", 2, 2 },
		{ "KG10309197901235", "{\"kind\":\"place-of-residence\",\"pin\":\"10309197901235\","
		  "\"purpose\":\"для школы\"}", "Осмонова Айгүл Токтосуновна", 2, 2 },
		{ "21205197500417", "{\"kind\":\"livestock\",\"pin\":\"21205197500417\",\"purpose\":\"для кредита\"}",
		  "Осмонов Бакыт Жумабекович", 2, 2 },
		{ "21205197500417", "{\"kind\":\"property-holding\",\"pin\":\"21205197500417\","
		  "\"eni\":\"7-10-06-0051-0234\",\"purpose\":\"для нотариуса\"}", "Осмонов Бакыт Жумабекович", 2, 2 },
		{ "10107195000110", "{\"kind\":\"social-category\",\"pin\":\"10107195000110\","
		  "\"category\":\"disability\",\"purpose\":\"для соцфонда\"}", "Осмонова Күлүйпа Асановна", 2, 2 },
		{ "21205197500417", "{\"kind\":\"no-utility-debt\",\"pin\":\"21205197500417\","
		  "\"purpose\":\"для нотариуса\"}", "Осмонов Бакыт Жумабекович", 2, 3 },
		{ "21205197500417", "{\"kind\":\"employment-record\",\"pin\":\"21205197500417\","
		  "\"purpose\":\"для визы\"}", "Осмонов Бакыт Жумабекович", 3, 3 },
	};
	struct th *t = the_th;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o;
		th_reset(t);
		o = issue(t, cases[i].user, cases[i].body);
		if (t->started_at_first_answer != cases[i].parallel)
			fail_msg("case %zu: %d queries started before the first answer, want %d", i,
				 t->started_at_first_answer, cases[i].parallel);
		/* the registries, then edocs; all as our client subsystem, for the citizen */
		assert_int_equal(t->started, cases[i].stages + 1);
		for (int c = 0; c < t->started; c++) {
			assert_int_equal(strncmp(t->calls[c], US " ", strlen(US) + 1), 0);
			assert_string_equal(t->users[c], cases[i].user);
		}
		assert_non_null(strstr(t->calls[t->started - 1], "/edocs/register-document"));
		check_issued(t, &o, cases[i].name);
		assert_int_equal(json_array_size(json_object_get(o.data, "sources")), cases[i].stages);
		json_decref(o.data);
	}
}

/* Adds n made-up sons to the household of PIN 21205197500417 in the
 * household register the adapter reads (n = 0: removes them). */
static void big_household(struct th *t, int n)
{
	char path[256], *e = NULL;
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/household.db", t->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM persons WHERE last_name = 'Тестов'", NULL, NULL, &e),
			 SQLITE_OK);
	for (int i = 0; i < n; i++) {
		char sql[512];

		snprintf(sql, sizeof(sql), "INSERT INTO persons (household_id, last_name, first_name, patronymic, "
			 "birth_date, sex, relation) SELECT household_id, 'Тестов', 'Сын%d', 'Тестович', "
			 "'2001-01-01', 'male', 'son' FROM persons WHERE pin = '21205197500417'", i + 1);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, &e), SQLITE_OK);
	}
	sqlite3_free(e);
	sqlite3_close(db);
}

/* A household of more than 64 members was a 500 (a section held at most 64
 * fields); up to CERTDOC_SECTION_FIELDS_MAX are listed, more are refused
 * with the reason. */
static void test_household_many_members(void **state)
{
	struct th *t = the_th;
	struct cq_run run;
	json_t *c;
	long long base;
	char label[96];

	(void)state;
	th_reset(t);
	big_household(t, 0);
	cq_init(&run, CK_HOUSEHOLD, "21205197500417");
	c = cq_ok(t, &run);
	base = (long long)json_integer_value(json_object_get(facts(c), "member_count"));
	json_decref(c);
	big_household(t, 70);
	cq_init(&run, CK_HOUSEHOLD, "21205197500417");
	c = cq_ok(t, &run);
	assert_int_equal(json_integer_value(json_object_get(facts(c), "member_count")), base + 70);
	snprintf(label, sizeof(label), "%lld. Тестов Сын70 Тестович", base + 70);
	assert_non_null(row_value(c, label));
	json_decref(c);
	/* issued, signed, and its PDF made (several pages) */
	th_reset(t);
	{
		struct outcome o = issue(t, "21205197500417", "{\"kind\":\"household-composition\","
					 "\"pin\":\"21205197500417\",\"purpose\":\"для банка\"}"), r;

		check_issued(t, &o, "Осмонов Бакыт Жумабекович");
		assert_non_null(strstr(jstr(o.data, "document_xml"), "Тестов Сын70 Тестович"));
		r = cert_call(t, "document", "GET", CLERK, "", NULL, "number", jstr(o.data, "number"), "form", "pdf",
			      NULL);
		assert_int_equal(r.status, ADAPTER_OK);
		assert_string_equal(jstr(r.data, "content_type"), "application/pdf");
		json_decref(r.data);
		json_decref(o.data);
	}
	big_household(t, CERTDOC_SECTION_FIELDS_MAX);
	cq_init(&run, CK_HOUSEHOLD, "21205197500417");
	cq_refused(t, &run, ADAPTER_FAILED, "more than the 500 an electronic certificate can hold");
	big_household(t, 0);
}

/* The KAZ citizen N1234567 asks, as user, for kind: refused as invalid input
 * saying part, before any registry is asked. */
static void refused_unasked(struct th *t, const char *user, const char *kind, const char *part)
{
	char body[200];
	struct outcome o;

	snprintf(body, sizeof(body), "{\"kind\":\"%s\",\"citizenship\":\"KAZ\",\"document\":\"N1234567\","
		 "\"purpose\":\"x\"}", kind);
	th_reset(t);
	o = issue(t, user, body);
	assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(o.message, part));
	assert_int_equal(t->started, 0);
}

/* The foreign owner without a PIN, by citizenship and document number. */
static void test_issue_foreign_owner(void **state)
{
	struct th *t = the_th;
	struct outcome o;

	(void)state;
	th_reset(t);
	o = issue(t, "KZN1234567", "{\"kind\":\"household-composition\",\"citizenship\":\"KZ\","
		  "\"document\":\"n1234567\",\"purpose\":\"для банка\"}");
	check_issued(t, &o, "Сейткалиев Ержан Болатович");
	assert_jnull(json_object_get(o.data, "subject"), "pin");
	assert_string_equal(jstr(json_object_get(o.data, "subject"), "document"), "N1234567");
	assert_non_null(strstr(jstr(o.data, "document_xml"), "N1234567"));
	json_decref(o.data);
	th_reset(t);
	o = issue(t, "KAZ:N1234567", "{\"kind\":\"property-holding\",\"citizenship\":\"KAZ\","
		  "\"document\":\"N1234567\",\"purpose\":\"для нотариуса\"}");
	check_issued(t, &o, "Сейткалиев Ержан Болатович");
	json_decref(o.data);
	/* the document number alone does not say whose passport: refused */
	refused_unasked(t, "N1234567", "household-composition", "about yourself");
	/* a kind the registries keep by PIN only */
	refused_unasked(t, "KZN1234567", "employment-record", "needs a PIN");
}

/* The refusals of domain.md, each with its reason, and never a document:
 * nothing new in the register of issued certificates nor in edocs. */
static void test_issue_refusals(void **state)
{
	struct th *t = the_th;
	char stale[128], day[11];
	struct params_day today;
	const struct {
		const char *user, *body;
		enum adapter_status st;
		const char *part;
		const char *down;
	} cases[] = {
		/* userId is not the subject */
		{ "21205197500417", "{\"kind\":\"household\",\"pin\":\"10309197901235\",\"purpose\":\"x\"}",
		  ADAPTER_INVALID_INPUT, "you can only request certificates about yourself", NULL },
		{ "", "{\"kind\":\"household\",\"pin\":\"10309197901235\",\"purpose\":\"x\"}",
		  ADAPTER_INVALID_INPUT, "(X-Road-UserId) is missing", NULL },
		{ "UZ21205197500417", "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}",
		  ADAPTER_INVALID_INPUT, "about yourself", NULL },
		/* no veterinary data */
		{ "10309197901235", "{\"kind\":\"livestock\",\"pin\":\"10309197901235\",\"purpose\":\"x\"}",
		  ADAPTER_NOT_IN_REGISTER, "The veterinary registry has no data on your livestock", NULL },
		/* stale veterinary data, with the date of the last update */
		{ "23001198800158", "{\"kind\":\"livestock\",\"pin\":\"23001198800158\",\"purpose\":\"x\"}",
		  ADAPTER_NOT_IN_REGISTER, stale, NULL },
		/* person not in the register (on the population list only), and nowhere */
		{ "20202198000123", "{\"kind\":\"household\",\"pin\":\"20202198000123\",\"purpose\":\"x\"}",
		  ADAPTER_NOT_IN_REGISTER, "has not been entered in the household register yet", NULL },
		{ "21001199000999", "{\"kind\":\"place-of-residence\",\"pin\":\"21001199000999\",\"purpose\":\"x\"}",
		  ADAPTER_NOT_FOUND, "no person with PIN 21001199000999", NULL },
		{ "21503199200011", "{\"kind\":\"property\",\"pin\":\"21503199200011\",\"purpose\":\"x\"}",
		  ADAPTER_FAILED, "duplicate PIN", NULL },
		{ "23001198800158", "{\"kind\":\"no-utility-debt\",\"pin\":\"23001198800158\",\"purpose\":\"x\"}",
		  ADAPTER_INVALID_INPUT, "records a debt of 1137.75 som", NULL },
		{ "11402200500893", "{\"kind\":\"employment\",\"pin\":\"11402200500893\",\"purpose\":\"x\"}",
		  ADAPTER_NOT_FOUND, "not and have not been an employee", NULL },
		/* a registry unavailable: try again later */
		{ "21205197500417", "{\"kind\":\"livestock\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}",
		  ADAPTER_UNAVAILABLE, "The veterinary registry cannot answer now", "vet-registry" },
		{ "21205197500417", "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}",
		  ADAPTER_UNAVAILABLE, "The population registry cannot answer now", "passport-service" },
		{ "21205197500417", "{\"kind\":\"no-debt\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}",
		  ADAPTER_UNAVAILABLE, "Utility billing cannot answer now", "billing" },
	};

	(void)state;
	params_today(NULL, &today);
	params_date_format(today.days - 500, day);
	snprintf(stale, sizeof(stale), "were last updated on %s, 500 days ago; a livestock certificate "
		 "needs data updated within the last 365 days", day);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long issued = issued_count(t), registered = edocs_count(t);
		struct outcome o;
		th_reset(t);
		t->down = cases[i].down;
		o = issue(t, cases[i].user, cases[i].body);
		if (o.status != cases[i].st || !strstr(o.message, cases[i].part))
			fail_msg("case %zu: %s '%s'", i, adapter_status_name(o.status), o.message);
		assert_int_equal(issued_count(t), issued);
		assert_int_equal(edocs_count(t), registered);
		if (cases[i].st == ADAPTER_INVALID_INPUT && strstr(cases[i].part, "yourself"))
			assert_int_equal(t->started, 0);   /* nobody's data was asked for */
	}
	th_reset(t);
}

/* The request is checked before any registry is asked. */
static void test_issue_invalid_input(void **state)
{
	static const struct {
		const char *body, *part;
	} cases[] = {
		{ "{\"kind\":\"pension\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}", "unknown kind 'pension'" },
		{ "{\"pin\":\"21205197500417\",\"purpose\":\"x\"}", "kind is missing" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\nb\"}", "purpose must say" },
		/* C1 controls, noncharacters, line separators: refused here, not by the
		 * document after the registries were asked (was a 500) */
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u0085b\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u0080b\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\ufffeb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\uffffb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u2028b\"}", "purpose must say" },
		/* invisible, direction-changing: U+202E showed the signed purpose reversed */
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"\\u202eакнаб ялд\"}",
		  "no invisible or direction-changing characters" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u200bb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\ufeffb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u2066b\\u2069\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u00adb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u2062b\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"a\\u180eb\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\\udb40\\udc41\"}", "purpose must say" },
		{ "{\"kind\":\"household\",\"pin\":\"2120519750041\",\"purpose\":\"x\"}", "PIN must be 14 digits" },
		{ "{\"kind\":\"household\",\"purpose\":\"x\"}", "the person is missing" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"document\":\"N1\",\"purpose\":\"x\"}",
		  "not both" },
		{ "{\"kind\":\"household\",\"citizenship\":\"KGZ\",\"document\":\"N1\",\"purpose\":\"x\"}",
		  "other than Kyrgyzstan" },
		{ "{\"kind\":\"household\",\"citizenship\":\"KAZ\",\"document\":\"N 1\",\"purpose\":\"x\"}",
		  "document must be" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\",\"eni\":\"7100600330016\"}",
		  "eni applies to property-holding" },
		{ "{\"kind\":\"property\",\"pin\":\"21205197500417\",\"purpose\":\"x\",\"eni\":\"1-2-2-7-1\"}",
		  "ENI group" },
		{ "{\"kind\":\"social-category\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}", "need category" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\",\"category\":\"orphan\"}",
		  "category applies to social-category" },
		{ "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\",\"purpse\":\"y\"}",
		  "unknown field 'purpse'" },
		{ "{\"kind\":\"household\",\"pin\":21205197500417,\"purpose\":\"x\"}", "pin must be a string" },
		{ "[1]", "must be a JSON object with the fields as strings (it is an array)" },
		{ "\"x\"", "(it is a string)" },
		{ "{\"kind\":\"household\",\"kind\":\"livestock\"}", "must be a JSON object" },
		{ "{\"kind\":\"household\",\"purpose\":\"a\\u0000b\"}", "a string holds the character U+0000" },
	};
	struct th *t = the_th;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o;
		th_reset(t);
		o = issue(t, "21205197500417", cases[i].body);
		if (o.status != ADAPTER_INVALID_INPUT || !strstr(o.message, cases[i].part))
			fail_msg("case %zu: %s '%s'", i, adapter_status_name(o.status), o.message);
		assert_int_equal(t->started, 0);
	}
	/* fields in both the body and the query */
	th_reset(t);
	{
		struct outcome o = cert_call(t, "issue", "POST", PORTAL, "21205197500417",
					     "{\"kind\":\"household\"}", "pin", "21205197500417", NULL);
		assert_int_equal(o.status, ADAPTER_INVALID_INPUT);
		assert_non_null(strstr(o.message, "not both"));
	}
}

/* SOAP (and a REST POST with a query string): the same fields as parameters. */
static void test_issue_as_parameters(void **state)
{
	struct th *t = the_th;
	struct outcome o;

	(void)state;
	th_reset(t);
	o = cert_call(t, "issue", "POST", KIOSK, "KG21205197500417", NULL, "kind", " residence ", "pin",
		      "\n  21205197500417\n", "purpose", "для банка", NULL);
	check_issued(t, &o, "Осмонов Бакыт Жумабекович");
	json_decref(o.data);
	/* the longest purpose, in Cyrillic: the X-Road-Issue header and edocs' title are cut on
	 * a character boundary, and the whole purpose is in the document */
	{
		char purpose[1024] = "", body[1200];
		for (int i = 0; i < 511; i++)
			strcat(purpose, "ө");
		snprintf(body, sizeof(body), "{\"kind\":\"household\",\"pin\":\"21205197500417\","
			 "\"purpose\":\"%s\"}", purpose);
		th_reset(t);
		o = issue(t, "21205197500417", body);
		check_issued(t, &o, "Осмонов Бакыт Жумабекович");
		assert_non_null(strstr(jstr(o.data, "document_xml"), purpose));
		json_decref(o.data);
	}
}

/* edocs cannot register it: the citizen gets no certificate, and the one
 * signed is revoked in the register so it never verifies as valid. */
static void test_issue_edocs_down(void **state)
{
	struct th *t = the_th;
	long long issued = issued_count(t), registered = edocs_count(t);
	struct outcome o;

	(void)state;
	th_reset(t);
	t->down = "edocs";
	o = issue(t, "21205197500417", "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}");
	assert_int_equal(o.status, ADAPTER_UNAVAILABLE);
	assert_non_null(strstr(o.message, "electronic documents register could not register"));
	assert_int_equal(edocs_count(t), registered);
	assert_int_equal(issued_count(t), issued + 1);
	assert_int_equal(db_int(t->db, "SELECT count(*) FROM cert_documents WHERE status = 'revoked' AND "
			 "revoke_reason LIKE '%electronic documents register%'"), 1);
	th_reset(t);
}

/* ---- the adapter: documents, verification, revocation ------------------------------ */

static struct outcome issue_ok(struct th *t)
{
	struct outcome o;

	th_reset(t);
	o = issue(t, "21205197500417", "{\"kind\":\"household\",\"pin\":\"21205197500417\",\"purpose\":\"x\"}");
	assert_int_equal(o.status, ADAPTER_OK);
	return o;
}

static void test_document(void **state)
{
	struct th *t = the_th;
	struct outcome o = issue_ok(t), d;
	const char *num = jstr(o.data, "number"), *xml = jstr(o.data, "document_xml");
	unsigned char *bytes;
	const char *b64;
	long n;

	(void)state;
	d = cert_call(t, "document", "GET", PORTAL, "21205197500417", NULL, "number", num, NULL);
	assert_int_equal(d.status, ADAPTER_OK);
	assert_string_equal(jstr(d.data, "content_type"), "application/xml");
	b64 = jstr(d.data, "content_base64");
	bytes = malloc(strlen(b64));
	n = b64_decode(b64, strlen(b64), bytes, strlen(b64));
	assert_int_equal(n, (long)strlen(xml));
	assert_memory_equal(bytes, xml, (size_t)n);
	free(bytes);
	json_decref(d.data);
	/* the PDF */
	d = cert_call(t, "document", "GET", PORTAL, "21205197500417", NULL, "number", num, "form", "pdf", NULL);
	assert_int_equal(d.status, ADAPTER_OK);
	assert_string_equal(jstr(d.data, "content_type"), "application/pdf");
	assert_int_equal(strncmp(jstr(d.data, "content_base64"), "JVBERi", 6), 0);   /* %PDF */
	json_decref(d.data);
	/* someone else's certificate: refused; a clerk may fetch it */
	d = cert_call(t, "document", "GET", PORTAL, "10309197901235", NULL, "number", num, NULL);
	assert_int_equal(d.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(d.message, "your own certificates"));
	d = cert_call(t, "document", "GET", CLERK, "clerk-1", NULL, "number", num, NULL);
	assert_int_equal(d.status, ADAPTER_OK);
	json_decref(d.data);
	/* unknown number, bad form */
	d = cert_call(t, "document", "GET", CLERK, "", NULL, "number", "70000050-2020-999999", NULL);
	assert_int_equal(d.status, ADAPTER_NOT_FOUND);
	d = cert_call(t, "document", "GET", CLERK, "", NULL, "number", num, "form", "doc", NULL);
	assert_int_equal(d.status, ADAPTER_INVALID_INPUT);
	json_decref(o.data);
}

static struct outcome verify(struct th *t, const char *num, const char *digest)
{
	return cert_call(t, "verify", "GET", "central-server/COM/60000001/bank-is", "", NULL, "number", num,
			 "digest", digest, NULL);
}

static void test_verify_and_revoke(void **state)
{
	struct th *t = the_th;
	struct outcome o = issue_ok(t), v, r;
	const char *num = jstr(o.data, "number"), *dig = jstr(o.data, "digest");
	char other[CERTDOC_DIGEST_HEX];

	(void)state;
	v = verify(t, num, dig);
	assert_string_equal(jstr(v.data, "verdict"), "valid");
	assert_true(jtrue(v.data, "valid"));
	assert_string_equal(jstr(v.data, "subject_name"), "Осмонов Бакыт Жумабекович");
	json_decref(v.data);
	snprintf(other, sizeof(other), "%s", dig);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	v = verify(t, num, other);
	assert_string_equal(jstr(v.data, "verdict"), "tampered");
	assert_jnull(v.data, "subject_name");   /* a guessed number shows nothing of the register */
	assert_jnull(v.data, "number");
	json_decref(v.data);
	v = verify(t, "70000050-2020-999999", dig);
	assert_string_equal(jstr(v.data, "verdict"), "not_issued_here");
	json_decref(v.data);
	v = verify(t, "nonsense", dig);
	assert_int_equal(v.status, ADAPTER_INVALID_INPUT);
	v = verify(t, num, "abc");
	assert_int_equal(v.status, ADAPTER_INVALID_INPUT);

	/* only a clerk's system revokes, with a reason, once */
	r = cert_call(t, "revoke", "POST", PORTAL, "21205197500417", NULL, "number", num, "reason", "x", NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(r.message, "only a municipality clerk's system"));
	r = cert_call(t, "revoke", "POST", CLERK, "clerk-7", NULL, "number", num, NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	/* the clerk's system without the clerk (X-Road-UserId): nobody to name as revoker */
	r = cert_call(t, "revoke", "POST", CLERK, NULL, NULL, "number", num, "reason", "x", NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(r.message, "X-Road-UserId"));
	r = cert_call(t, "revoke", "POST", CLERK, " ", NULL, "number", num, "reason", "x", NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	r = cert_call(t, "revoke", "POST", CLERK, "clerk-7",
		      "{\"number\":\"" "X" "\"}", NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	{
		char body[256];
		snprintf(body, sizeof(body), "{\"number\":\"%s\",\"reason\":\"ошибка в составе семьи\"}", num);
		r = cert_call(t, "revoke", "POST", CLERK, "clerk-7", body, NULL);
	}
	assert_int_equal(r.status, ADAPTER_OK);
	assert_string_equal(jstr(r.data, "reason"), "ошибка в составе семьи");
	assert_non_null(strstr(jstr(r.data, "revoked_by"), "clerk-7"));
	json_decref(r.data);
	v = verify(t, num, dig);
	assert_string_equal(jstr(v.data, "verdict"), "revoked");
	assert_false(jtrue(v.data, "valid"));
	assert_string_equal(jstr(v.data, "revoke_reason"), "ошибка в составе семьи");
	json_decref(v.data);
	r = cert_call(t, "revoke", "POST", CLERK, "clerk-7", NULL, "number", num, "reason", "again", NULL);
	assert_int_equal(r.status, ADAPTER_INVALID_INPUT);
	assert_non_null(strstr(r.message, "already"));
	r = cert_call(t, "revoke", "POST", CLERK, "clerk-7", NULL, "number", "70000050-2020-999999",
		      "reason", "x", NULL);
	assert_int_equal(r.status, ADAPTER_NOT_FOUND);
	json_decref(o.data);
}

/* An uploaded document: the signature, then the register; one changed byte
 * is "tampered". */
static void test_verify_document(void **state)
{
	struct th *t = the_th;
	struct outcome o = issue_ok(t), v;
	const char *xml = jstr(o.data, "document_xml");
	char *bad = strdup(xml), *p, *b64;

	(void)state;
	v = cert_call(t, "verify-document", "POST", "central-server/COM/60000001/bank-is", "", xml, NULL);
	assert_int_equal(v.status, ADAPTER_OK);
	assert_string_equal(jstr(v.data, "verdict"), "valid");
	assert_string_equal(jstr(json_object_get(v.data, "signature"), "status"), "valid");
	json_decref(v.data);
	/* one byte of the subject's name changed */
	p = strstr(bad, "Осмонов Бакыт");
	assert_non_null(p);
	p[1] ^= 1;
	v = cert_call(t, "verify-document", "POST", "central-server/COM/60000001/bank-is", "", bad, NULL);
	assert_int_equal(v.status, ADAPTER_OK);
	assert_string_equal(jstr(v.data, "verdict"), "tampered");
	json_decref(v.data);
	/* a file that is no signed certificate at all - another XML file, or
	 * the document without its signature - is not called a forgery (a
	 * body that is not XML is refused as input: "send the XML") */
	{
		static const char *const names[] = { "another XML file", "no signature" };
		char *unsigned_doc = strdup(xml), *a = strstr(unsigned_doc, "<ds:Signature"), *z;
		const char *files[2];

		assert_non_null(a);
		assert_non_null(z = strstr(a, "</ds:Signature>"));
		z += strlen("</ds:Signature>");
		memmove(a, z, strlen(z) + 1);
		files[0] = "<?xml version=\"1.0\"?><invoice><total>5</total></invoice>";
		files[1] = unsigned_doc;
		for (int i = 0; i < 2; i++) {
			v = cert_call(t, "verify-document", "POST", "central-server/COM/60000001/bank-is", "", files[i],
				      NULL);
			assert_int_equal(v.status, ADAPTER_OK);
			if (strcmp(jstr(v.data, "verdict"), "not_a_certificate") != 0)
				fail_msg("%s: verdict %s (%s)", names[i], jstr(v.data, "verdict"), jstr(v.data, "reason"));
			/* and nothing in the answer vouches for it */
			assert_string_equal(jstr(json_object_get(v.data, "signature"), "status"), "invalid");
			assert_false(json_is_true(json_object_get(v.data, "valid")));
			json_decref(v.data);
		}
		free(unsigned_doc);
	}
	/* SOAP: base64 in a parameter (indented) */
	b64 = malloc(4 * (strlen(xml) / 3 + 2) + 8);
	b64_encode((const unsigned char *)xml, strlen(xml), b64);
	v = cert_call(t, "verify-document", "POST", "central-server/COM/60000001/bank-is", "", NULL,
		      "document_base64", b64, NULL);
	assert_int_equal(v.status, ADAPTER_OK);
	assert_string_equal(jstr(v.data, "verdict"), "valid");
	json_decref(v.data);
	v = cert_call(t, "verify-document", "POST", "central-server/COM/60000001/bank-is", "", NULL, NULL);
	assert_int_equal(v.status, ADAPTER_INVALID_INPUT);
	free(b64);
	free(bad);
	json_decref(o.data);
}

/* The public page: what the QR code opens, and the upload form. */
static void test_verify_page(void **state)
{
	struct th *t = the_th;
	struct outcome o = issue_ok(t), p;
	const char *num = jstr(o.data, "number"), *dig = jstr(o.data, "digest"), *xml = jstr(o.data, "document_xml");
	struct buf body = BUF_INIT;
	const char *html;

	(void)state;
	p = cert_call(t, "verify-page", "GET", CLERK, "", NULL, "n", num, "d", dig, NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_string_equal(jstr(p.data, "content_type"), "text/html; charset=utf-8");
	html = jstr(p.data, "html");
	assert_non_null(strstr(html, num));
	assert_non_null(strstr(html, "Осмонов Бакыт Жумабекович"));
	assert_null(strstr(html, "<script"));
	assert_non_null(strstr(html, "action=\"/verify\""));
	json_decref(p.data);
	/* a guessed number with a wrong digest shows nothing of the register */
	p = cert_call(t, "verify-page", "GET", CLERK, "", NULL, "n", num,
		      "d", "0000000000000000000000000000000000000000000000000000000000000000", NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_null(strstr(jstr(p.data, "html"), "Осмонов"));
	json_decref(p.data);
	/* the empty form, and a malformed digest shown on the page */
	p = cert_call(t, "verify-page", "GET", CLERK, "", NULL, NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_non_null(strstr(jstr(p.data, "html"), "<form"));
	json_decref(p.data);
	p = cert_call(t, "verify-page", "GET", CLERK, "", NULL, "n", num, "d", "<b>x</b>", NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_null(strstr(jstr(p.data, "html"), "<b>x</b>"));
	json_decref(p.data);
	/* the upload form, multipart as a browser sends it */
	assert_int_equal(buf_printf(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"xml\"; filename=\"c.xml\"\r\n"
				    "Content-Type: text/xml\r\n\r\n%s\r\n--XyZ--\r\n", xml), 0);
	p = cert_call(t, "verify-page-upload", "POST", CLERK, "", body.data, NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_non_null(strstr(jstr(p.data, "html"), "Осмонов Бакыт Жумабекович"));
	json_decref(p.data);
	buf_free(&body);
	/* nothing posted: the page says so */
	p = cert_call(t, "verify-page-upload", "POST", CLERK, "", "xml_text=", NULL);
	assert_int_equal(p.status, ADAPTER_OK);
	assert_non_null(strstr(jstr(p.data, "html"), "<form"));
	json_decref(p.data);
	json_decref(o.data);
}

/* Contexts with other configurations. */
static void *ctx_with(struct th *t, const char *k1, const char *v1, const char *k2, const char *v2, char **err)
{
	void *ctx = NULL;
	size_t saved = t->n;

	if (k1)
		th_set(t, k1, v1);
	if (k2)
		th_set(t, k2, v2);
	*err = NULL;
	if (certificates_adapter.init(&t->host, &ctx, err) != 0)
		ctx = NULL;
	t->n = saved;
	return ctx;
}

static void test_config(void **state)
{
	static const struct {
		const char *k, *v, *part;
	} bad[] = {
		{ "vet_max_age_days", "0", "vet_max_age_days must be a number from 1" },
		{ "valid_days", "x", "valid_days must be a number" },
		{ "client", "GOV/70000050/certificates", "client must be a subsystem" },
		{ "population", "central-server/GOV//passport-service", "population must be a subsystem" },
		{ "verify_url", "http://x/verify?n=1", "verify_url must be" },
		{ "as_of", "2026-02-30", "as_of must be a date" },
		{ "sign_key", "/nonexistent/key.pem", "sign_key/sign_cert" },
		{ "trust", "/nonexistent/ca.pem", "trust" },
	};
	struct th *t = the_th;
	struct outcome o;
	void *ctx;
	char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ctx = ctx_with(t, bad[i].k, bad[i].v, NULL, NULL, &err);
		assert_null(ctx);
		if (!err || !strstr(err, bad[i].part))
			fail_msg("case %zu: '%s'", i, err ? err : "(no error)");
		free(err);
	}
	/* another member's signing key: every document would name one issuer and
	 * carry another's signature (verified as tampered); refused at init */
	{
		char okey[256], ocert[256];

		snprintf(okey, sizeof(okey), "%s/members/GOV_70000005/sign.key", t->pki);
		snprintf(ocert, sizeof(ocert), "%s/members/GOV_70000005/sign-fullchain.pem", t->pki);
		ctx = ctx_with(t, "sign_key", okey, "sign_cert", ocert, &err);
		assert_null(ctx);
		if (!err || !strstr(err, "sign_cert belongs to member GOV/70000005, but the certificates are "
				    "issued by GOV/70000050"))
			fail_msg("another member's key: '%s'", err ? err : "(no error)");
		free(err);
	}
	/* a check of the configuration reads it and opens nothing: no register file */
	{
		char db[256];
		struct stat st;

		snprintf(db, sizeof(db), "%s/check-only.db", t->dir);
		t->host.check_only = 1;
		ctx = ctx_with(t, "db", db, NULL, NULL, &err);
		t->host.check_only = 0;
		assert_non_null(ctx);
		certificates_adapter.free(ctx);
		assert_int_equal(stat(db, &st), -1);
		t->host.check_only = 1;
		ctx = ctx_with(t, "db", db, "valid_days", "0", &err);
		t->host.check_only = 0;
		assert_null(ctx);
		assert_non_null(err && strstr(err, "valid_days must be a number from 1 to 3660"));
		free(err);
	}
	/* a larger allowed age issues LBD-0003's 500-day-old livestock data */
	ctx = ctx_with(t, "vet_max_age_days", "500", NULL, NULL, &err);
	assert_non_null(ctx);
	th_reset(t);
	o = (struct outcome){ 0 };
	{
		struct adapter_call call = { .service_code = "issue", .method = "POST", .message_id = "m",
					     .client = PORTAL, .user_id = "23001198800158" };
		const char *body = "{\"kind\":\"livestock\",\"pin\":\"23001198800158\",\"purpose\":\"x\"}";
		json_t *params = json_object();
		call.params = params;
		call.body = body;
		call.body_len = strlen(body);
		certificates_adapter.handle(ctx, &call, on_done, &o);
		th_drain(t);
		json_decref(params);
	}
	check_issued(t, &o, "Төрөкулов Үсөн Мамытович");
	json_decref(o.data);
	certificates_adapter.free(ctx);
	/* no signing key: refused before anyone is asked */
	{
		size_t saved = t->n;
		t->n = 0;
		th_set(t, "verify_url", "http://127.0.0.1:28880/verify");
		err = NULL;
		assert_int_equal(certificates_adapter.init(&t->host, &ctx, &err), 0);
		t->n = saved;
	}
	th_reset(t);
	o = (struct outcome){ 0 };
	{
		struct adapter_call call = { .service_code = "issue", .method = "POST", .message_id = "m",
					     .client = PORTAL, .user_id = "21205197500417" };
		json_t *params = json_pack("{s:s,s:s,s:s}", "kind", "household", "pin", "21205197500417",
					   "purpose", "x");
		call.params = params;
		certificates_adapter.handle(ctx, &call, on_done, &o);
		th_drain(t);
		json_decref(params);
	}
	assert_int_equal(o.status, ADAPTER_FAILED);
	assert_non_null(strstr(o.message, "no signing key"));
	assert_int_equal(t->started, 0);
	certificates_adapter.free(ctx);
}

static void test_ops_table(void **state)
{
	static const char *const want[][2] = {
		{ "issue", "POST" }, { "document", "GET" }, { "verify", "GET" }, { "verify-document", "POST" },
		{ "revoke", "POST" }, { "verify-page", "GET" }, { "verify-page-upload", "POST" },
	};

	(void)state;
	assert_string_equal(certificates_adapter.name, "certificates");
	assert_int_equal(certificates_adapter.n_services, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(certificates_adapter.services[i].code, want[i][0]);
		assert_string_equal(certificates_adapter.services[i].method, want[i][1]);
	}
	assert_string_equal(certificates_adapter.services[1].path_params[0], "number");
	assert_ptr_equal(adapter_find("certificates"), &certificates_adapter);
}

/* ---- SOAP: the rendered answers against wsdl/certificates.wsdl ---------------------- */

#define CERT_NS "http://tunduk.kg/certificates"

/* With CERT_EXAMPLES=DIR, writes the answer rendered as the core renders it
 * to DIR/certificates-NAME.response.xml (how wsdl/examples/ are made). */
static void dump_example(const char *name, const char *wrapper, const json_t *data, const struct outcome *err)
{
	const char *dir = getenv("CERT_EXAMPLES");
	struct buf b = BUF_INIT;
	char path[512];
	FILE *f;

	if (!dir)
		return;
	assert_int_equal(buf_printf(&b, "<p:%s xmlns:p=\"%s\">", wrapper, CERT_NS), 0);
	if (data) {
		assert_int_equal(render_json_to_xml(data, NULL, &b), 0);
	} else {
		assert_int_equal(buf_printf(&b, "<error><code>%s</code><message>", adapter_status_name(err->status)), 0);
		assert_int_equal(buf_xml_escape(&b, err->message), 0);
		assert_int_equal(buf_puts(&b, "</message></error>"), 0);
	}
	assert_int_equal(buf_printf(&b, "</p:%s>", wrapper), 0);
	snprintf(path, sizeof(path), "%s/certificates-%s.response.xml", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite(b.data, 1, b.len, f);
	fclose(f);
	buf_free(&b);
	/* and the REST answer (for the OpenAPI examples) */
	snprintf(path, sizeof(path), "%s/certificates-%s.json", dir, name);
	if (data) {
		assert_int_equal(json_dump_file(data, path, JSON_INDENT(1)), 0);
	} else {
		json_t *e = json_pack("{s:s,s:s,s:s}", "error", adapter_status_name(err->status), "message",
				      err->message, "request_id", "3f1d0b8e-7c2a-4c55-9e61-2b7f0d4a9c10");
		assert_int_equal(json_dump_file(e, path, JSON_INDENT(1)), 0);
		json_decref(e);
	}
}

static void soap_check(xmlSchemaPtr schema, const char *name, const char *wrapper, const struct outcome *o)
{
	assert_int_equal(soap_valid(schema, CERT_NS, wrapper, o->status == ADAPTER_OK ? o->data : NULL, o, 1), 0);
	dump_example(name, wrapper, o->status == ADAPTER_OK ? o->data : NULL, o);
}

static void test_soap_matches_wsdl(void **state)
{
	xmlSchemaPtr schema = wsdl_schema("certificates.wsdl", CERT_NS);
	struct th *t = the_th;
	struct outcome o, r;
	char *num, *dig, *xml, *b64;

	(void)state;
	th_reset(t);
	o = issue(t, "21205197500417", "{\"kind\":\"household-composition\",\"pin\":\"21205197500417\","
		  "\"purpose\":\"для банка\"}");
	assert_int_equal(o.status, ADAPTER_OK);
	soap_check(schema, "issue", "issueResponse", &o);
	num = strdup(jstr(o.data, "number"));
	dig = strdup(jstr(o.data, "digest"));
	xml = strdup(jstr(o.data, "document_xml"));
	json_decref(o.data);
	/* a refusal with its reason (stale veterinary data) */
	th_reset(t);
	r = issue(t, "23001198800158", "{\"kind\":\"livestock\",\"pin\":\"23001198800158\",\"purpose\":\"x\"}");
	soap_check(schema, "issue.stale", "issueResponse", &r);
	r = cert_call(t, "document", "GET", CLERK, "", NULL, "number", num, NULL);
	soap_check(schema, "document", "documentResponse", &r);
	json_decref(r.data);
	r = verify(t, num, dig);
	soap_check(schema, "verify", "verifyResponse", &r);
	json_decref(r.data);
	r = verify(t, "70000050-2020-999999", dig);
	soap_check(schema, "verify.not_issued_here", "verifyResponse", &r);
	json_decref(r.data);
	b64 = malloc(4 * (strlen(xml) / 3 + 2) + 8);
	b64_encode((const unsigned char *)xml, strlen(xml), b64);
	r = cert_call(t, "verify-document", "POST", CLERK, "", NULL, "document_base64", b64, NULL);
	soap_check(schema, "verify-document", "verify-documentResponse", &r);
	json_decref(r.data);
	r = cert_call(t, "revoke", "POST", CLERK, "clerk-7", NULL, "number", num, "reason", "выдана по ошибке", NULL);
	soap_check(schema, "revoke", "revokeResponse", &r);
	json_decref(r.data);
	r = cert_call(t, "document", "GET", CLERK, "", NULL, "number", num, NULL);
	assert_string_equal(jstr(r.data, "status"), "revoked");
	soap_check(schema, "document.revoked", "documentResponse", &r);
	json_decref(r.data);
	r = verify(t, num, dig);
	soap_check(schema, "verify.revoked", "verifyResponse", &r);
	json_decref(r.data);
	free(b64);
	free(xml);
	free(num);
	free(dig);
	xmlSchemaFree(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_parse),
		cmocka_unit_test(test_plans),
		cmocka_unit_test(test_answer_set),
		cmocka_unit_test(test_household_composition),
		cmocka_unit_test(test_household_many_members),
		cmocka_unit_test(test_foreign_owner_by_document),
		cmocka_unit_test(test_residence),
		cmocka_unit_test(test_livestock),
		cmocka_unit_test(test_property),
		cmocka_unit_test(test_social_category),
		cmocka_unit_test(test_no_debt),
		cmocka_unit_test(test_employment),
		cmocka_unit_test(test_person_refusals),
		cmocka_unit_test(test_registry_unavailable),
		cmocka_unit_test(test_partial_answers),
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_issue_every_kind),
		cmocka_unit_test(test_issue_foreign_owner),
		cmocka_unit_test(test_issue_refusals),
		cmocka_unit_test(test_issue_invalid_input),
		cmocka_unit_test(test_issue_as_parameters),
		cmocka_unit_test(test_issue_edocs_down),
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_verify_and_revoke),
		cmocka_unit_test(test_verify_document),
		cmocka_unit_test(test_verify_page),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_soap_matches_wsdl),
	};

	return cmocka_run_group_tests(tests, th_group_setup, th_group_teardown);
}
