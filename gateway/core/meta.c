/* Metaservices and the gateway's own endpoints.
 *
 *  client side:  GET /listClients (XML, JSON on Accept: application/json)
 *                GET /health
 *                GET /wsdl?xRoadInstance=&memberClass=&memberCode=&subsystemCode=
 *                    &serviceCode=[&version=]   (the WSDL of a service, fetched
 *                    through the exchange from the provider's gateway, its
 *                    endpoint address set to this gateway, as X-Road does)
 *  provider side (called through the exchange like any service):
 *     SOAP  listMethods, allowedMethods, getWsdl (multipart/related, WSDL attached)
 *     REST  listMethods, allowedMethods, getOpenAPI?serviceCode=X,
 *           getWsdl?serviceCode=X[&version=V] (what GET /wsdl uses between gateways)
 *  Internal addresses (provider URLs, adapter names) never leave the provider. */
#include "core/exch.h"
#include "core/sx.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/acl.h"
#include "core/log.h"
#include "proto/mime.h"

#define HIDDEN_ADDRESS "http://INTERNAL-ADDRESS-HIDDEN/"

int meta_is_soap(const char *c)
{
	return !strcmp(c, "listMethods") || !strcmp(c, "allowedMethods") || !strcmp(c, "getWsdl");
}

int meta_is_rest(const char *c)
{
	return !strcmp(c, "listMethods") || !strcmp(c, "allowedMethods") ||
	       !strcmp(c, "getOpenAPI") || !strcmp(c, "getWsdl");
}

/* "," unless the JSON list in b has just been opened. */
static const char *sep(const struct buf *b)
{
	return b->len && b->data[b->len - 1] != '[' ? "," : "";
}

static void reply(struct exch *ex, long status, const char *ctype, const void *body, size_t len)
{
	struct http_hdr h[1] = { { "Content-Type", ctype } };

	exch_finish(ex, status, h, 1, body, len, NULL);
}

/* ---- provider side ------------------------------------------------------ */

static void provider_reply(struct exch *ex, long status, const char *ctype, const void *body,
			   size_t len, int rest)
{
	struct hlist h = { .n = 0 };
	struct exch_resp r = { 0 };

	if (hlist_add(&h, "Content-Type", ctype) < 0 || (rest && provider_rest_headers(ex, &h) < 0)) {
		struct fault f = { 0 };
		hlist_clear(&h);
		fault_set(&f, F_SPROXY, "InternalError", "out of memory");
		provider_fault(ex, &f);
		return;
	}
	r.status = status;
	r.hdrs = h.h;
	r.nhdrs = h.n;
	r.body = body;
	r.body_len = len;
	ex->provider_done(ex, &r);
	hlist_clear(&h);
}

/* Services of the subsystem that ex->service names, optionally only those the
 * client may call, of one protocol. */
static int each_service(struct exch *ex, int only_allowed, enum gc_svc_type type,
			int (*cb)(const struct gc_service *s, struct buf *out), struct buf *out)
{
	struct xrd_id owner;

	xrd_id_service_owner(&ex->service, &owner);
	for (size_t i = 0; i < gconf_n_services(ex->gc); i++) {
		const struct gc_service *s = gconf_service_at(ex->gc, i);
		struct xrd_id so;
		xrd_id_service_owner(&s->id, &so);
		if (!(s->type & type) || !xrd_id_same_subsystem(&so, &owner))
			continue;
		if (only_allowed && !acl_allows(ex->gc, s, &ex->client))
			continue;
		if (cb(s, out) < 0)
			return -1;
	}
	return 0;
}

static int xml_id_children(const struct xrd_id *id, struct buf *b)
{
	int rc = buf_printf(b, "<id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass>"
			    "<id:memberCode>%s</id:memberCode>", id->instance, id->member_class,
			    id->member_code);
	if (rc == 0 && id->subsystem[0])
		rc = buf_printf(b, "<id:subsystemCode>%s</id:subsystemCode>", id->subsystem);
	if (rc == 0 && id->type == XRD_SERVICE) {
		rc = buf_printf(b, "<id:serviceCode>%s</id:serviceCode>", id->service_code);
		if (rc == 0 && id->service_version[0])
			rc = buf_printf(b, "<id:serviceVersion>%s</id:serviceVersion>", id->service_version);
	}
	return rc;
}

static int soap_service_xml(const struct gc_service *s, struct buf *b)
{
	if (buf_puts(b, "<xrd:service xmlns:xrd=\"" NS_XRD "\" xmlns:id=\"" NS_XRDID
		     "\" id:objectType=\"SERVICE\">") < 0 || xml_id_children(&s->id, b) < 0)
		return -1;
	return buf_puts(b, "</xrd:service>");
}

static int rest_service_json(const struct gc_service *s, struct buf *b)
{
	return buf_printf(b, "%s{\"object_type\":\"SERVICE\",\"xroad_instance\":\"%s\",\"member_class\":\"%s\","
			  "\"member_code\":\"%s\",\"subsystem_code\":\"%s\",\"service_code\":\"%s\","
			  "\"service_type\":\"REST\"}", sep(b), s->id.instance,
			  s->id.member_class, s->id.member_code, s->id.subsystem, s->id.service_code);
}

/* Reads a description file from wsdl_dir. name must be a plain file name. */
static char *read_description(struct exch *ex, const char *name, size_t *len)
{
	char path[2 * CFG_PATH_MAX];
	FILE *f;
	char *data = NULL;
	long n;

	if (!name[0] || strchr(name, '/') || name[0] == '.')
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", ex->w->gw->cfg->wsdl_dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < 16 * 1024 * 1024 &&
	    fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n + 1)) &&
	    fread(data, 1, (size_t)n, f) == (size_t)n) {
		data[n] = '\0';
		*len = (size_t)n;
	} else {
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

/* Sets every <soap:address location> of a WSDL to address. Returns a new
 * serialisation (caller frees with xmlFree) or NULL if it is not XML. */
static xmlChar *wsdl_set_address(const char *wsdl, size_t len, const char *address, int *outlen)
{
	xmlDocPtr doc = xmlReadMemory(wsdl, (int)len, "wsdl.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING |
				      XML_PARSE_NOERROR);
	xmlXPathContextPtr xp = NULL;
	xmlXPathObjectPtr r = NULL;
	xmlChar *out = NULL;

	if (!doc || doc->intSubset)
		goto out;
	xp = xmlXPathNewContext(doc);
	r = xp ? xmlXPathEvalExpression((const xmlChar *)"//*[local-name()='address']/@location", xp) : NULL;
	if (r && r->nodesetval)
		for (int i = 0; i < r->nodesetval->nodeNr; i++) {
			xmlNodePtr a = r->nodesetval->nodeTab[i];
			xmlSetProp(a->parent, (const xmlChar *)"location", (const xmlChar *)address);
		}
	xmlDocDumpMemoryEnc(doc, &out, outlen, "UTF-8");
out:
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xp);
	xmlFreeDoc(doc);
	return out;
}

/* The WSDL, or the OpenAPI document, of a service ("" if it has none). */
static const char *desc_file(const struct gc_service *s, int wsdl)
{
	size_t n = strlen(s->description);
	int is_wsdl = n > 5 && !strcmp(s->description + n - 5, ".wsdl");

	if (wsdl)
		return is_wsdl ? s->description : "";
	return s->openapi[0] ? s->openapi : is_wsdl ? "" : s->description;
}

static const struct gc_service *find_described(struct exch *ex, const char *code, const char *version,
					       int wsdl, struct fault *f)
{
	struct xrd_id id = ex->service;
	const struct gc_service *s;

	if (!code || !code[0] || !xrd_part_valid(code)) {
		fault_set(f, F_CLIENT, "BadRequest", "serviceCode is missing or malformed");
		return NULL;
	}
	snprintf(id.service_code, sizeof(id.service_code), "%s", code);
	snprintf(id.service_version, sizeof(id.service_version), "%s", version ? version : "");
	s = gconf_service(ex->gc, &id);
	if (!s && id.service_version[0]) {
		/* the service is there, but not in that version: say which it is */
		const struct gc_service *other;

		id.service_version[0] = '\0';
		if ((other = gconf_service(ex->gc, &id)) != NULL) {
			fault_set(f, F_SPROXY, "UnknownService", "service '%s' in %s/%s/%s has no version "
				  "'%s'; it is published %s%s%s", code, id.member_class, id.member_code,
				  id.subsystem, version, other->id.service_version[0] ? "as version '" :
				  "without a version (leave version out)", other->id.service_version,
				  other->id.service_version[0] ? "'" : "");
			return NULL;
		}
	}
	if (!s) {
		fault_set(f, F_SPROXY, "UnknownService", "no service '%s' in %s/%s/%s", code,
			  id.member_class, id.member_code, id.subsystem);
		return NULL;
	}
	if (!desc_file(s, wsdl)[0]) {
		fault_set(f, F_SPROXY, "UnknownService", "service '%s' has no %s description", code,
			  wsdl ? "WSDL" : "OpenAPI");
		return NULL;
	}
	return s;
}

/* SOAP getWsdl: X-Road answers with the WSDL as a MIME attachment. */
static void meta_get_wsdl_soap(struct exch *ex)
{
	const char *code = NULL, *version = NULL;
	struct fault f = { 0 };
	struct buf inner = BUF_INIT, env = BUF_INIT, mp = BUF_INIT;
	const struct gc_service *s;
	char *wsdl = NULL;
	xmlChar *hidden = NULL;
	size_t wlen = 0;
	int hlen = 0;
	char boundary[UUID_STR_LEN + 8], ctype[160];

	for (xmlNodePtr n = ex->soap.body_elem ? ex->soap.body_elem->children : NULL; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE || !n->children || !n->children->content)
			continue;
		if (!strcmp((const char *)n->name, "serviceCode"))
			code = (const char *)n->children->content;
		else if (!strcmp((const char *)n->name, "serviceVersion"))
			version = (const char *)n->children->content;
	}
	if (!(s = find_described(ex, code, version, 1, &f)))
		goto fail;
	if (!(wsdl = read_description(ex, desc_file(s, 1), &wlen)) ||
	    !(hidden = wsdl_set_address(wsdl, wlen, HIDDEN_ADDRESS, &hlen))) {
		fault_set(&f, F_SPROXY, "InternalError", "the WSDL of '%s' cannot be read", code);
		goto fail;
	}
	uuid4(boundary);
	if (buf_printf(&inner, "<xrd:serviceCode xmlns:xrd=\"" NS_XRD "\">%s</xrd:serviceCode>", code) < 0 ||
	    (version && buf_printf(&inner, "<xrd:serviceVersion xmlns:xrd=\"" NS_XRD "\">%s</xrd:serviceVersion>",
				   version) < 0) ||
	    soap_build_response(&ex->soap, ex->hash, inner.data, inner.len, &env) < 0 ||
	    buf_printf(&mp, "--%s\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <soap-part>\r\n\r\n",
		       boundary) < 0 || buf_append(&mp, env.data, env.len) < 0 ||
	    buf_printf(&mp, "\r\n--%s\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <wsdl>\r\n\r\n",
		       boundary) < 0 || buf_append(&mp, hidden, (size_t)hlen) < 0 ||
	    buf_printf(&mp, "\r\n--%s--\r\n", boundary) < 0) {
		fault_set(&f, F_SPROXY, "InternalError", "out of memory");
		goto fail;
	}
	snprintf(ctype, sizeof(ctype), "multipart/related; type=\"text/xml\"; start=\"<soap-part>\"; boundary=\"%s\"",
		 boundary);
	provider_reply(ex, 200, ctype, mp.data, mp.len, 0);
	goto out;
fail:
	provider_fault(ex, &f);
out:
	free(wsdl);
	xmlFree(hidden);
	buf_free(&inner);
	buf_free(&env);
	buf_free(&mp);
}

void meta_soap(struct exch *ex)
{
	struct buf inner = BUF_INIT, out = BUF_INIT;
	const char *code = ex->service.service_code;
	struct fault f = { 0 };

	if (!strcmp(code, "getWsdl")) {
		meta_get_wsdl_soap(ex);
		return;
	}
	if (each_service(ex, !strcmp(code, "allowedMethods"), GC_SVC_SOAP, soap_service_xml, &inner) < 0 ||
	    soap_build_response(&ex->soap, ex->hash, inner.data ? inner.data : "", inner.len, &out) < 0) {
		fault_set(&f, F_SPROXY, "InternalError", "cannot build the %s answer", code);
		provider_fault(ex, &f);
	} else {
		provider_reply(ex, 200, "text/xml; charset=utf-8", out.data, out.len, 0);
	}
	buf_free(&inner);
	buf_free(&out);
}

/* The query as parameters (render_query_params: one value each, UTF-8).
 * NULL with f set (Client.BadRequest saying what is wrong) if it cannot be
 * read; the caller json_decref()s the result. */
static json_t *query_params(const char *query, const char *what, struct fault *f)
{
	json_t *p = json_object();
	char why[256];

	if (!p) {
		fault_set(f, F_SPROXY, "InternalError", "out of memory");
		return NULL;
	}
	if (query && render_query_params(query, p, why, sizeof(why)) < 0) {
		json_decref(p);
		fault_set(f, F_CLIENT, "BadRequest", "%s: %s", what, why);
		return NULL;
	}
	return p;
}

/* The value of key in p copied to out: 0, or 1 if absent or empty, -1 if
 * longer than len - 1 bytes (an identifier part never is). */
static int query_get(const json_t *p, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(p, key));

	out[0] = '\0';
	if (!v || !v[0])
		return 1;
	if (strlen(v) >= len)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static void meta_rest_description(struct exch *ex, int wsdl)
{
	char code[XRD_PART_MAX] = "", version[XRD_PART_MAX] = "";
	struct fault f = { 0 };
	const struct gc_service *s;
	char *data = NULL;
	size_t len = 0;
	json_t *q = query_params(ex->rest->query, wsdl ? "getWsdl" : "getOpenAPI", &f);

	if (q) {
		/* too long: find_described() refuses a code that is not an identifier part */
		query_get(q, "serviceCode", code, sizeof(code));
		if (query_get(q, "version", version, sizeof(version)) < 0)
			fault_set(&f, F_CLIENT, "BadRequest", "version is longer than %d bytes", XRD_PART_MAX - 1);
		json_decref(q);
	}
	if (f.code[0]) {
		provider_fault(ex, &f);
		return;
	}
	if (!(s = find_described(ex, code, version, wsdl, &f))) {
		provider_fault(ex, &f);
		return;
	}
	if (!(data = read_description(ex, desc_file(s, wsdl), &len))) {
		fault_set(&f, F_SPROXY, "InternalError", "the description of '%s' cannot be read", code);
		provider_fault(ex, &f);
		return;
	}
	if (wsdl) {
		int hl = 0;
		xmlChar *h = wsdl_set_address(data, len, HIDDEN_ADDRESS, &hl);
		if (!h) {
			fault_set(&f, F_SPROXY, "InternalError", "the WSDL of '%s' is not XML", code);
			provider_fault(ex, &f);
		} else {
			provider_reply(ex, 200, "text/xml; charset=utf-8", h, (size_t)hl, 1);
		}
		xmlFree(h);
	} else {
		provider_reply(ex, 200, strstr(desc_file(s, 0), ".json") ? "application/json" : "application/yaml",
			       data, len, 1);
	}
	free(data);
}

void meta_rest(struct exch *ex)
{
	const char *code = ex->service.service_code;
	struct buf b = BUF_INIT;
	struct fault f = { 0 };

	if (!strcmp(code, "getOpenAPI") || !strcmp(code, "getWsdl")) {
		meta_rest_description(ex, !strcmp(code, "getWsdl"));
		return;
	}
	if (buf_puts(&b, "{\"service\":[") < 0 ||
	    each_service(ex, !strcmp(code, "allowedMethods"), GC_SVC_REST, rest_service_json, &b) < 0 ||
	    buf_puts(&b, "]}") < 0) {
		fault_set(&f, F_SPROXY, "InternalError", "cannot build the %s answer", code);
		provider_fault(ex, &f);
	} else {
		provider_reply(ex, 200, "application/json", b.data, b.len, 1);
	}
	buf_free(&b);
}

/* ---- client side --------------------------------------------------------- */

static int client_entry_xml(const struct xrd_id *id, const char *name, struct buf *b)
{
	if (buf_printf(b, "<xrd:member><xrd:id id:objectType=\"%s\">", xrd_type_name(id->type)) < 0 ||
	    xml_id_children(id, b) < 0 || buf_puts(b, "</xrd:id><xrd:name>") < 0 ||
	    buf_xml_escape(b, name) < 0)
		return -1;
	return buf_puts(b, "</xrd:name></xrd:member>");
}

static int client_entry_json(const struct xrd_id *id, const char *name, struct buf *b)
{
	if (buf_printf(b, "%s{\"id\":{\"object_type\":\"%s\",\"xroad_instance\":\"%s\",\"member_class\":\"%s\","
		       "\"member_code\":\"%s\"", sep(b), xrd_type_name(id->type),
		       id->instance, id->member_class, id->member_code) < 0)
		return -1;
	if (id->subsystem[0] && buf_printf(b, ",\"subsystem_code\":\"%s\"", id->subsystem) < 0)
		return -1;
	if (buf_puts(b, "},\"name\":\"") < 0 || buf_json_escape(b, name) < 0)
		return -1;
	return buf_puts(b, "\"}");
}

void meta_list_clients(struct exch *ex)
{
	/* XML (X-Road's form) unless the caller weighs JSON higher (q-values:
	 * "application/json;q=0, application/xml" is XML) */
	const char *acc = http_req_header(ex->req, "Accept");
	int qx = mime_accept_q(acc, "application/xml"), qt = mime_accept_q(acc, "text/xml");
	int json = mime_accept_q(acc, "application/json") > (qx > qt ? qx : qt);
	int (*entry)(const struct xrd_id *, const char *, struct buf *) =
		json ? client_entry_json : client_entry_xml;
	struct buf b = BUF_INIT;
	int rc;

	rc = buf_puts(&b, json ? "{\"member\":[" :
		      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xrd:clientList xmlns:xrd=\"" NS_XRD
		      "\" xmlns:id=\"" NS_XRDID "\">");
	for (size_t i = 0; rc == 0 && i < gconf_n_members(ex->gc); i++) {
		const struct gc_member *m = gconf_member_at(ex->gc, i);
		struct xrd_id id = { .type = XRD_MEMBER };
		snprintf(id.instance, sizeof(id.instance), "%s", gconf_instance(ex->gc));
		snprintf(id.member_class, sizeof(id.member_class), "%s", m->member_class);
		snprintf(id.member_code, sizeof(id.member_code), "%s", m->code);
		rc = entry(&id, m->name, &b);
		for (size_t j = 0; rc == 0 && j < m->n_subsystems; j++) {
			id.type = XRD_SUBSYSTEM;
			snprintf(id.subsystem, sizeof(id.subsystem), "%s", m->subsystems[j]);
			rc = entry(&id, m->name, &b);
		}
	}
	if (rc == 0)
		rc = buf_puts(&b, json ? "]}" : "</xrd:clientList>\n");
	if (rc < 0) {
		struct fault f = { 0 };
		fault_set(&f, F_CPROXY, "InternalError", "cannot build the client list");
		buf_free(&b);
		exch_fault(ex, &f);
		return;
	}
	reply(ex, 200, json ? "application/json" : "text/xml; charset=utf-8", b.data, b.len);
	buf_free(&b);
}

/* ---- health ---------------------------------------------------------------- */

static int health_check(struct buf *b, const char *name, int ok, const char *detail)
{
	if (buf_printf(b, "%s{\"name\":\"%s\",\"ok\":%s,\"detail\":\"", sep(b), name,
		       ok ? "true" : "false") < 0 || buf_json_escape(b, detail) < 0)
		return -1;
	return buf_puts(b, "\"}");
}

/* A check that does not fail the gateway but says something is wrong. */
static int health_warning(struct buf *b, const char *name, int warn, const char *detail)
{
	if (buf_printf(b, "%s{\"name\":\"%s\",\"ok\":true,\"warning\":%s,\"detail\":\"", sep(b), name,
		       warn ? "true" : "false") < 0 || buf_json_escape(b, detail) < 0)
		return -1;
	return buf_puts(b, "\"}");
}

static void health_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outlen, "(none)");
}

/* "globalconf": the configuration in force (fails once it has expired);
 * "globalconf_update": its updates (a warning while they fail: the gateway
 * keeps serving on the one in force). */
static int health_gconf(struct exch *ex, struct buf *checks, int *ok, int *warnings)
{
	struct gw *g = ex->w->gw;
	struct gw_gconf_status st;
	char detail[1400], gen[32], exp_s[32], since[32], loaded[32];
	time_t now = time(NULL), exp = gconf_expires(ex->gc);
	int gc_ok = !exp || exp > now, rc;

	gw_gconf_status(g, &st);
	health_time(gconf_generated(ex->gc), gen, sizeof(gen));
	health_time(exp, exp_s, sizeof(exp_s));
	health_time(st.loaded, loaded, sizeof(loaded));
	if (gc_ok)
		snprintf(detail, sizeof(detail), "instance %s, %zu members, %zu services, generatedAt %s, "
			 "expiresAt %s, %s%s%s", gconf_instance(ex->gc), gconf_n_members(ex->gc),
			 gconf_n_services(ex->gc), gen, exp_s, st.anchored ? "signed by the anchor" :
			 "signature not checked (no [globalconf] anchor)",
			 st.error[0] ? "; last reload failed: " : "", st.error);
	else
		snprintf(detail, sizeof(detail), "global configuration expired %ld s ago (generatedAt %s, "
			 "expiresAt %s)%s%s", (long)(now - exp), gen, exp_s,
			 st.error[0] ? "; last reload failed: " : "", st.error);
	*ok &= gc_ok;
	rc = health_check(checks, "globalconf", gc_ok, detail);
	if (st.error[0]) {
		health_time(st.error_since, since, sizeof(since));
		snprintf(detail, sizeof(detail), "updates from %s failing since %s (%ld s): %s; in force: "
			 "the configuration generated at %s, expiring at %s, in force since %s",
			 gw_gconf_source(g), since, (long)(now - st.error_since), st.error, gen, exp_s, loaded);
		(*warnings)++;
	} else {
		snprintf(detail, sizeof(detail), "source %s, read every %u s; in force: the configuration "
			 "generated at %s, since %s", gw_gconf_source(g), g->cfg->gc_refresh_s, gen, loaded);
	}
	return rc | health_warning(checks, "globalconf_update", st.error[0] != 0, detail);
}

void meta_health(struct exch *ex)
{
	struct gw *g = ex->w->gw;
	struct buf b = BUF_INIT, checks = BUF_INIT;
	char detail[600];
	int ok = 1, warnings = 0, rc;

	rc = buf_puts(&checks, "[");
	rc |= health_gconf(ex, &checks, &ok, &warnings);
	int self_ok = gconf_gateway(ex->gc, g->cfg->gateway_code) != NULL;
	snprintf(detail, sizeof(detail), "gateway '%s' %s global configuration", g->cfg->gateway_code,
		 self_ok ? "is in" : "is missing from");
	ok &= self_ok;
	rc |= health_check(&checks, "gateway", self_ok, detail);
	for (size_t i = 0; i < adapter_count(); i++) {
		const char *err = ex->w->adapter_err[i];
		char name[96];
		if (!err && !ex->w->adapter_ctx[i])
			continue;   /* not used by this gateway */
		snprintf(name, sizeof(name), "adapter.%s", adapter_at(i)->name);
		rc |= health_check(&checks, name, err == NULL, err ? err : "ready");
		ok &= err == NULL;
	}
	{
		struct sx_check sc[6];
		size_t nsc = sx_health(g, sc, 6);
		for (size_t i = 0; i < nsc; i++) {
			if (sc[i].warning >= 0) {
				rc |= health_warning(&checks, sc[i].name, sc[i].warning, sc[i].detail);
				warnings += sc[i].warning;
				continue;
			}
			rc |= health_check(&checks, sc[i].name, sc[i].ok, sc[i].detail);
			ok &= sc[i].ok;
		}
	}
	snprintf(detail, sizeof(detail), "%d worker(s), client port %d, server port %d", g->n_workers,
		 g->client_port, g->server_port);
	rc |= health_check(&checks, "listeners", 1, detail);
	rc |= buf_printf(&b, "{\"status\":\"%s\",\"gateway\":\"%s\",\"version\":\"%s\",\"warnings\":%d,"
			 "\"checks\":%s]}\n", ok ? "ok" : "fail", g->cfg->gateway_code, AILGATE_VERSION,
			 warnings, checks.data ? checks.data : "[");
	if (rc)
		reply(ex, 500, "application/json", "{\"status\":\"fail\"}\n", 18);
	else
		reply(ex, ok ? 200 : 503, "application/json", b.data, b.len);
	buf_free(&b);
	buf_free(&checks);
}

/* ---- /verify: the public certificate verification page ---------------------- */

static void verify_page_done(struct adapter_result *res, void *arg)
{
	struct exch *ex = arg;
	const char *ctype = NULL, *html = NULL;
	json_int_t status = 500;

	ex->adapter_pending = 0;
	if (ex->aborted) {
		exch_finish(ex, 0, NULL, 0, NULL, 0, NULL);
		return;
	}
	if (res->status == ADAPTER_OK && json_unpack(res->data, "{s:s, s:I, s:s}", "content_type", &ctype,
						     "status", &status, "html", &html) == 0) {
		reply(ex, (long)status, ctype, html, strlen(html));
	} else {
		char msg[700];
		int n = snprintf(msg, sizeof(msg), "the verification page cannot be shown now: %s\n",
				 res->message[0] ? res->message : adapter_status_name(res->status));
		reply(ex, res->status == ADAPTER_INVALID_INPUT ? 400 : 503, "text/plain; charset=utf-8", msg,
		      n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg));
	}
	json_decref(res->data);
	res->data = NULL;
}

/* GET /verify?n=NUMBER&d=DIGEST (what a certificate's QR code carries) and
 * POST /verify (the page's upload form) on the client port: answered by the
 * certificates adapter when this gateway runs it; works without JavaScript. */
void meta_verify_page(struct exch *ex)
{
	const struct adapter_ops *a;
	const char *target = http_req_target(ex->req), *q = strchr(target, '?');
	struct adapter_call call = { 0 };
	void *ctx = worker_adapter(ex->w, "certificates", &a);
	json_t *params;
	char why[160], id[UUID_STR_LEN];

	if (!ctx && worker_adapter_error(ex->w, "certificates")) {
		/* it issues them, but cannot check them now (the operator sees why in /health) */
		static const char down[] = "certificates cannot be verified here at the moment; try again "
					   "later\n";
		reply(ex, 503, "text/plain; charset=utf-8", down, sizeof(down) - 1);
		return;
	}
	if (!ctx) {
		reply(ex, 404, "text/plain; charset=utf-8",
		      "this gateway issues no certificates; verify at the issuer's address\n", 68);
		return;
	}
	if (strcmp(ex->method, "GET") != 0 && strcmp(ex->method, "POST") != 0) {
		/* RFC 9110 15.5.6: a 405 names the methods the resource answers */
		struct http_hdr h[2] = { { "Content-Type", "text/plain; charset=utf-8" }, { "Allow", "GET, POST" } };
		char msg[200];
		int n = snprintf(msg, sizeof(msg), "/verify answers GET (the link of a certificate's QR code) and "
				 "POST (the page's upload form), not %.40s\n", ex->method);

		exch_finish(ex, 405, h, 2, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg), NULL);
		return;
	}
	params = json_object();
	if (!params || (q && render_query_params(q + 1, params, why, sizeof(why)) < 0)) {
		char msg[200];
		long status = params ? 400 : 503;
		int n = snprintf(msg, sizeof(msg), "malformed query string: %s\n", params ? why : "out of memory");
		json_decref(params);
		reply(ex, status, "text/plain; charset=utf-8", msg,
		      n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg));
		return;
	}
	uuid4(id);
	call.service_code = strcmp(ex->method, "GET") == 0 ? "verify-page" : "verify-page-upload";
	call.method = ex->method;
	call.message_id = id;
	call.client = "public";
	call.user_id = "";
	call.params = params;
	call.body = (const char *)ex->body;
	call.body_len = ex->body_len;
	ex->adapter_pending = 1;
	a->handle(ctx, &call, verify_page_done, ex);
	json_decref(params);
}

/* ---- GET /wsdl ------------------------------------------------------------- */

static void wsdl_relay(struct exch *ex, long status, const struct hlist *h, const unsigned char *body,
		       size_t len)
{
	char addr[300];
	xmlChar *out;
	int olen = 0;

	if (status != 200 || http_hdr_get(h->h, h->n, "X-Road-Error")) {
		exch_finish(ex, status, h->h, h->n, body, len, http_hdr_get(h->h, h->n, "X-Road-Error"));
		return;
	}
	/* Point the endpoint at this gateway, so a SOAP tool can call it as is. */
	snprintf(addr, sizeof(addr), "http://%s/", ex->http_host);
	out = wsdl_set_address((const char *)body, len, addr, &olen);
	if (!out) {
		struct fault f = { 0 };
		fault_set(&f, F_CPROXY, "InconsistentResponse", "the provider's WSDL is not XML");
		exch_fault(ex, &f);
		return;
	}
	reply(ex, 200, "text/xml; charset=utf-8", out, (size_t)olen);
	xmlFree(out);
}

/* The gateway asks as its owner: the first client it hosts (X-Road uses the
 * security server's owner member for the same purpose). */
static int wsdl_owner(struct exch *ex, struct fault *f)
{
	const struct gc_gateway *self = gconf_gateway(ex->gc, ex->w->gw->cfg->gateway_code);

	if (!self || self->n_clients == 0)
		return fault_set(f, F_CPROXY, "UnknownMember", "this gateway hosts no client to ask with");
	ex->client = self->clients[0];
	return 0;
}

void meta_wsdl_get(struct exch *ex)
{
	const char *q = strchr(http_req_target(ex->req), '?');
	static const char *const keys[] = { "xRoadInstance", "memberClass", "memberCode", "subsystemCode",
					    "serviceCode", "version" };
	json_t *params = NULL;
	char v[5][XRD_PART_MAX], version[XRD_PART_MAX] = "", cid[XRD_ID_TEXT_MAX];
	struct fault f = { 0 };
	int n;

	ex->proto = EXCH_REST;
	ex->rest = calloc(1, sizeof(*ex->rest));
	ex->target = malloc(REST_TARGET_MAX);
	if (!ex->rest || !ex->target) {
		fault_set(&f, F_CPROXY, "InternalError", "out of memory");
		goto fail;
	}
	if (!(params = query_params(q ? q + 1 : NULL, "GET /wsdl", &f)))
		goto fail;
	for (int i = 0; i < 6; i++) {
		char *out = i < 5 ? v[i] : version;
		int rc = query_get(params, keys[i], out, XRD_PART_MAX);
		if (rc > 0 && i < 5) {
			fault_set(&f, F_CLIENT, "BadRequest", "GET /wsdl needs the query parameter %s "
				  "(xRoadInstance, memberClass, memberCode, subsystemCode, serviceCode, version)",
				  keys[i]);
			goto fail;
		}
		/* version too: it goes into the request target as it is */
		if (rc < 0 || (rc == 0 && !xrd_part_valid(out))) {
			fault_set(&f, F_CLIENT, "BadRequest", "GET /wsdl: query parameter %s is not an identifier "
				  "part (at most %d of A-Z a-z 0-9 ' ( ) + , - . = ?)", keys[i], XRD_PART_MAX - 1);
			goto fail;
		}
	}
	json_decref(params);
	params = NULL;
	if (wsdl_owner(ex, &f) < 0)
		goto fail;
	n = snprintf(ex->target, REST_TARGET_MAX, "/r1/%s/%s/%s/%s/getWsdl?serviceCode=%s%s%s", v[0], v[1],
		     v[2], v[3], v[4], version[0] ? "&version=" : "", version);
	if (n < 0 || (size_t)n >= REST_TARGET_MAX || rest_parse_target(ex->target, ex->rest, &f) < 0)
		goto fail;
	ex->rest->client = ex->client;
	ex->service = ex->rest->service;
	uuid4(ex->rest->id);
	if (hlist_add(&ex->fwd, "X-Road-Client", xrd_id_format_path(&ex->client, cid, sizeof(cid))) < 0 ||
	    hlist_add(&ex->fwd, "X-Road-Id", ex->rest->id) < 0 ||
	    exch_rest_hash(ex, ex->fwd.h, ex->fwd.n) < 0) {
		fault_set(&f, F_CPROXY, "InternalError", "out of memory");
		goto fail;
	}
	ex->relay_hook = wsdl_relay;
	exch_client_dispatch(ex);
	return;
fail:
	json_decref(params);
	exch_fault(ex, &f);
}
