/* Global configuration: load (hardened XML parse, XSD validation, cross
 * checks), then answer lookups on the request path.
 *
 * Loading reads the document in dependency order (classes, members, groups,
 * gateways, services) so that every reference can be checked against what
 * was read before it, with the line of the element that holds it. The
 * checks do not rely on the schema having run: gconf_load may be given no
 * XSD, and a document that passes the schema still needs every reference to
 * resolve.
 *
 * After loading, the document is dropped and the result never changes, so
 * workers share it without locks; the reference count is atomic. Lookups
 * that run per request (member, service, gateway of a client, gateway by
 * certificate) use sorted index arrays and binary search. */
#include "core/globalconf.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "lib/osutil.h"
#include "lib/buf.h"
#include "lib/crypto.h"
#include "lib/xmlscan.h"
#include "trust/sign.h"

#define GC_NS "urn:ailgate:globalconf:1"
#define GC_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define GC_FILE_MAX (8 * 1024 * 1024)   /* far above any real exchange */
#define GC_LIST_MAX 20000               /* entries of one kind, and children of one element */
#define GC_ERRORS_MAX 10                /* problems reported at once */

/* A hosted subsystem -> its gateway, sorted by subsystem. */
struct gc_hosted {
	const struct xrd_id *id;    /* in gateways[gw].clients */
	size_t gw;
	long line;                  /* of the <client> element, for load errors only */
};

struct gc_class {
	char code[XRD_PART_MAX];
	char description[256];
};

struct gconf {
	atomic_uint refs;
	char instance[XRD_PART_MAX];
	time_t generated, expires;
	struct gc_class *classes;
	size_t n_classes;
	struct gc_member *members;
	size_t n_members;
	struct gc_group *groups;
	size_t n_groups;
	struct gc_gateway *gateways;
	size_t n_gateways;
	struct gc_service *services;
	size_t n_services;
	/* indexes for the request path */
	size_t *member_idx;         /* by (class, code) */
	size_t *service_idx;        /* by (class, code, sub, service code, version, position) */
	size_t *cert_idx;           /* by auth_cert_sha256 */
	struct gc_hosted *hosted;   /* by (class, code, sub) */
	size_t n_hosted;
	struct gc_ca *cas;
	size_t n_cas;
	struct gc_tsa *tsas;
	size_t n_tsas;
	X509_STORE *trust;          /* approved CAs, for signatures */
};

struct gc_build {
	struct gconf *g;
	const char *name;           /* file name for messages */
	xmlNodePtr root;
	xmlNodePtr *nodes;          /* scratch: element of each entry of the list being read */
	struct buf err;
	int n_err;
};

/* ---- messages ---------------------------------------------------------- */

static void gc_errf(struct gc_build *b, const char *file, long line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void gc_errf(struct gc_build *b, const char *file, long line, const char *fmt, ...)
{
	va_list ap;
	int rc = 0;

	if (b->n_err++ >= GC_ERRORS_MAX)
		return;
	if (b->err.len)
		rc |= buf_puts(&b->err, "\n");
	rc |= line > 0 ? buf_printf(&b->err, "%s:%ld: ", file, line) : buf_printf(&b->err, "%s: ", file);
	va_start(ap, fmt);
	rc |= buf_vprintf(&b->err, fmt, ap);
	va_end(ap);
	(void)rc;   /* the cap only shortens the text; the load fails either way */
}

/* "<service client='GOV/1/x' code='y'>" naming the element an error is about. */
static void describe(xmlNodePtr n, char *out, size_t outlen)
{
	static const char *const keys[] = { "class", "client", "code" };
	size_t off;

	off = (size_t)snprintf(out, outlen, "<%s", n ? (const char *)n->name : "?");
	for (size_t i = 0; n && i < 3 && off < outlen; i++) {
		xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)keys[i]);

		if (v)
			off += (size_t)snprintf(out + off, outlen - off, " %s='%.100s'", keys[i], (char *)v);
		xmlFree(v);
	}
	if (off < outlen)
		snprintf(out + off, outlen - off, ">");
}

static void gc_err(struct gc_build *b, xmlNodePtr at, xmlNodePtr what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "FILE:LINE: <element attrs>: message"; the line is that of `at`, the
 * element described is `what` (e.g. the <allow> line, the <service>). */
static void gc_err(struct gc_build *b, xmlNodePtr at, xmlNodePtr what, const char *fmt, ...)
{
	char desc[400], msg[600];
	va_list ap;

	describe(what, desc, sizeof(desc));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gc_errf(b, b->name, at ? xmlGetLineNo(at) : 0, "%s: %s", desc, msg);
}

/* ---- small readers ------------------------------------------------------ */

static int is_el(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, GC_NS) == 0 &&
	       (!name || strcmp((const char *)n->name, name) == 0);
}

static size_t count_children(xmlNodePtr parent, const char *name)
{
	size_t n = 0;

	for (xmlNodePtr c = parent->children; c; c = c->next)
		n += is_el(c, name);
	return n;
}

/* Copies s without leading and trailing blanks (xs:token values). */
static int copy_trimmed(const char *s, char *out, size_t outlen)
{
	size_t len;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
		       s[len - 1] == '\r'))
		len--;
	if (len >= outlen)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Attribute name of n into out. Absent: "" (or an error if required). */
static int get_attr(struct gc_build *b, xmlNodePtr n, const char *name, int required, char *out,
		    size_t outlen)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	int rc = 0;

	out[0] = '\0';
	if (!v) {
		if (required) {
			gc_err(b, n, n, "attribute %s is missing", name);
			rc = -1;
		}
	} else if (copy_trimmed((const char *)v, out, outlen) != 0) {
		gc_err(b, n, n, "attribute %s is longer than %zu bytes", name, outlen - 1);
		rc = -1;
	}
	xmlFree(v);
	return rc;
}

static int get_text(struct gc_build *b, xmlNodePtr n, xmlNodePtr what, char *out, size_t outlen)
{
	xmlChar *v = xmlNodeGetContent(n);
	int rc = 0;

	if (copy_trimmed(v ? (const char *)v : "", out, outlen) != 0) {
		gc_err(b, n, what, "<%s> is longer than %zu bytes", (const char *)n->name, outlen - 1);
		rc = -1;
	}
	xmlFree(v);
	return rc;
}

static int get_part(struct gc_build *b, xmlNodePtr n, const char *name, int required, char *out)
{
	if (get_attr(b, n, name, required, out, XRD_PART_MAX) != 0)
		return -1;
	if ((required || out[0]) && !xrd_part_valid(out)) {
		gc_err(b, n, n, "%s '%s' is not a valid identifier part (A-Z a-z 0-9 ' ( ) + , - . = ?)",
		       name, out);
		return -1;
	}
	return 0;
}

/* "2025-01-15T06:00:00Z", "...T06:00:00.5+06:00" -> time_t. The zone is
 * required so that every gateway reads the same instant. */
static int parse_datetime(const char *s, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	long off = 0;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' && !p[1]) {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
		   sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && oh <= 14 && om <= 59) {
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
	} else {
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm) - off;
	return 0;
}

/* ---- lookups (also used while loading) ---------------------------------- */

static int cmp_member_parts(const struct xrd_id *a, const char *cls, const char *code)
{
	int c = strcmp(a->member_class, cls);

	return c ? c : strcmp(a->member_code, code);
}

static int cmp_subsystem(const struct xrd_id *a, const struct xrd_id *b)
{
	int c = cmp_member_parts(a, b->member_class, b->member_code);

	return c ? c : strcmp(a->subsystem, b->subsystem);
}

static int cmp_member_at(const struct gconf *g, size_t i, const char *cls, const char *code)
{
	int c = strcmp(g->members[i].member_class, cls);

	return c ? c : strcmp(g->members[i].code, code);
}

static int id_in_instance(const struct gconf *g, const struct xrd_id *id)
{
	return g && id && strcmp(id->instance, g->instance) == 0;
}

const struct gc_member *gconf_member(const struct gconf *g, const struct xrd_id *id)
{
	size_t lo = 0, hi;

	if (!id_in_instance(g, id))
		return NULL;
	hi = g->n_members;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_member_at(g, g->member_idx[mid], id->member_class, id->member_code);

		if (c == 0)
			return &g->members[g->member_idx[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int member_has_subsystem(const struct gc_member *m, const char *sub)
{
	for (size_t i = 0; i < m->n_subsystems; i++)
		if (strcmp(m->subsystems[i], sub) == 0)
			return 1;
	return 0;
}

int gconf_client_exists(const struct gconf *g, const struct xrd_id *id)
{
	const struct gc_member *m = gconf_member(g, id);

	if (!m)
		return 0;
	if (id->type == XRD_MEMBER)
		return 1;
	return id->type == XRD_SUBSYSTEM && member_has_subsystem(m, id->subsystem);
}

/* ---- reading the document ------------------------------------------------ */

/* text, "CLASS/CODE[/SUB]", as an id in this instance that exists. at is
 * the element it came from, owner the one it belongs to, what names the
 * reference in messages ("allow", "client"). */
static int check_ref(struct gc_build *b, xmlNodePtr at, xmlNodePtr owner, const char *what,
		     const char *text, int subsystem_only, struct xrd_id *out)
{
	char full[5 * XRD_PART_MAX + 8], perr[160];

	snprintf(full, sizeof(full), "%s/%.*s", b->g->instance, 4 * XRD_PART_MAX, text);
	if (xrd_id_parse_path(full, out, perr, sizeof(perr)) != 0 ||
	    (subsystem_only && out->type != XRD_SUBSYSTEM)) {
		gc_err(b, at, owner, "%s '%.200s' is not %s", what, text,
		       subsystem_only ? "CLASS/CODE/SUBSYSTEM" : "CLASS/CODE or CLASS/CODE/SUBSYSTEM");
		return -1;
	}
	if (!gconf_client_exists(b->g, out)) {
		gc_err(b, at, owner, "%s '%s' names no %s", what, text,
		       out->type == XRD_MEMBER ? "member" : "subsystem");
		return -1;
	}
	return 0;
}

static int read_ref(struct gc_build *b, xmlNodePtr el, xmlNodePtr owner, const char *what,
		    int subsystem_only, struct xrd_id *out)
{
	char text[4 * XRD_PART_MAX];

	if (get_text(b, el, owner, text, sizeof(text)) != 0)
		return -1;
	return check_ref(b, el, owner, what, text, subsystem_only, out);
}

/* Reads every <child> of parent as a reference into a new array. */
static int read_refs(struct gc_build *b, xmlNodePtr parent, const char *child, const char *what,
		     int subsystem_only, struct xrd_id **out, size_t *n)
{
	size_t count = count_children(parent, child);
	int rc = 0;

	if (count > GC_LIST_MAX) {
		gc_err(b, parent, parent, "more than %d <%s> elements", GC_LIST_MAX, child);
		return -1;
	}
	if (count && !(*out = calloc(count, sizeof(**out)))) {
		gc_err(b, parent, parent, "out of memory");
		return -1;
	}
	for (xmlNodePtr c = parent->children; c; c = c->next)
		if (is_el(c, child) && read_ref(b, c, parent, what, subsystem_only, &(*out)[(*n)++]) != 0)
			rc = -1;
	return rc;
}

static int read_header(struct gc_build *b)
{
	struct gconf *g = b->g;
	char text[64];
	int seen_inst = 0, rc = 0;

	for (xmlNodePtr n = b->root->children; n; n = n->next) {
		if (is_el(n, "instance")) {
			if (seen_inst++ || get_text(b, n, n, g->instance, sizeof(g->instance)) != 0 ||
			    !xrd_part_valid(g->instance)) {
				gc_err(b, n, n, "instance '%s' is repeated or not a valid identifier part",
				       g->instance);
				rc = -1;
			}
		} else if (is_el(n, "generatedAt") || is_el(n, "expiresAt")) {
			time_t *t = n->name[0] == 'g' ? &g->generated : &g->expires;

			if (get_text(b, n, n, text, sizeof(text)) != 0 || parse_datetime(text, t) != 0) {
				gc_err(b, n, n, "'%s' is not a date-time with zone (2025-01-15T06:00:00Z)", text);
				rc = -1;
			}
		}
	}
	if (!seen_inst) {
		gc_err(b, b->root, b->root, "<instance> is missing");
		rc = -1;
	}
	if (g->generated && g->expires && g->expires <= g->generated) {
		gc_err(b, b->root, b->root, "expiresAt is not after generatedAt");
		rc = -1;
	}
	return rc;
}

static int class_declared(const struct gconf *g, const char *code)
{
	for (size_t i = 0; i < g->n_classes; i++)
		if (strcmp(g->classes[i].code, code) == 0)
			return 1;
	return 0;
}

static int read_class(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_class *c = &g->classes[g->n_classes];

	if (get_part(b, n, "code", 1, c->code) != 0 ||
	    get_text(b, n, n, c->description, sizeof(c->description)) != 0)
		return -1;
	if (class_declared(g, c->code)) {
		gc_err(b, n, n, "member class declared twice");
		return -1;
	}
	g->n_classes++;
	return 0;
}

static int read_member(struct gc_build *b, xmlNodePtr n)
{
	struct gc_member *m = &b->g->members[b->g->n_members];
	size_t count = count_children(n, "subsystem");
	char sub[XRD_PART_MAX];

	b->nodes[b->g->n_members++] = n;
	if (get_part(b, n, "class", 1, m->member_class) != 0 || get_part(b, n, "code", 1, m->code) ||
	    get_attr(b, n, "name", 1, m->name, sizeof(m->name)) != 0)
		return -1;
	if (!class_declared(b->g, m->member_class)) {
		gc_err(b, n, n, "member class '%s' is not declared", m->member_class);
		return -1;
	}
	if (count > GC_LIST_MAX || (count && !(m->subsystems = calloc(count, sizeof(char *))))) {
		gc_err(b, n, n, "too many subsystems or out of memory");
		return -1;
	}
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (!is_el(c, "subsystem"))
			continue;
		if (get_part(b, c, "code", 1, sub) != 0)
			return -1;
		if (member_has_subsystem(m, sub)) {
			gc_err(b, c, n, "subsystem '%s' listed twice", sub);
			return -1;
		}
		if (!(m->subsystems[m->n_subsystems] = strdup(sub))) {
			gc_err(b, c, n, "out of memory");
			return -1;
		}
		m->n_subsystems++;
	}
	return 0;
}

static int member_order(const void *a, const void *b, void *arg)
{
	const struct gconf *g = arg;
	const struct gc_member *mb = &g->members[*(const size_t *)b];

	return cmp_member_at(g, *(const size_t *)a, mb->member_class, mb->code);
}

/* Sorts the member index and refuses a member listed twice. */
static int index_members(struct gc_build *b)
{
	struct gconf *g = b->g;
	int rc = 0;

	for (size_t i = 0; i < g->n_members; i++)
		g->member_idx[i] = i;
	qsort_r(g->member_idx, g->n_members, sizeof(size_t), member_order, g);
	for (size_t i = 1; i < g->n_members; i++) {
		size_t a = g->member_idx[i - 1], c = g->member_idx[i];

		if (member_order(&a, &c, g) == 0) {
			xmlNodePtr later = b->nodes[a > c ? a : c];

			gc_err(b, later, later, "member listed twice (also on line %ld)",
			       xmlGetLineNo(b->nodes[a < c ? a : c]));
			rc = -1;
		}
	}
	return rc;
}

static const struct gc_group *find_group(const struct gconf *g, const char *code, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (strcmp(g->groups[i].code, code) == 0)
			return &g->groups[i];
	return NULL;
}

static int read_group(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_group *gr = &g->groups[g->n_groups];

	char acts[8] = "";

	if (get_part(b, n, "code", 1, gr->code) != 0 ||
	    get_attr(b, n, "description", 0, gr->description, sizeof(gr->description)) != 0 ||
	    get_attr(b, n, "actsForUser", 0, acts, sizeof(acts)) != 0)
		return -1;
	gr->acts_for_user = !strcmp(acts, "true") || !strcmp(acts, "1");
	if (acts[0] && !gr->acts_for_user && strcmp(acts, "false") != 0 && strcmp(acts, "0") != 0) {
		gc_err(b, n, n, "actsForUser must be true or false, not '%s'", acts);
		return -1;
	}
	if (find_group(g, gr->code, g->n_groups)) {
		gc_err(b, n, n, "group code used twice");
		return -1;
	}
	g->n_groups++;
	return read_refs(b, n, "client", "client", 0, &gr->members, &gr->n_members);
}

static int read_gateway(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_gateway *gw = &g->gateways[g->n_gateways];
	char hash[80], host[256];
	int port;

	b->nodes[g->n_gateways++] = n;
	if (get_part(b, n, "code", 1, gw->code) != 0 ||
	    get_attr(b, n, "address", 1, gw->address, sizeof(gw->address)) != 0 ||
	    get_attr(b, n, "authCertHash", 1, hash, sizeof(hash)) != 0)
		return -1;
	if (config_split_hostport(gw->address, host, sizeof(host), &port) != 0 || port == 0) {
		gc_err(b, n, n, "address '%s' is not host:port", gw->address);
		return -1;
	}
	if (strlen(hash) != 64 || hex_decode(hash, gw->auth_cert_sha256, 32) != 0) {
		gc_err(b, n, n, "authCertHash is not 64 hex digits (SHA-256 of the DER certificate)");
		return -1;
	}
	for (size_t i = 0; i + 1 < g->n_gateways; i++) {
		if (strcmp(g->gateways[i].code, gw->code) == 0) {
			gc_err(b, n, n, "gateway code used twice");
			return -1;
		}
		if (memcmp(g->gateways[i].auth_cert_sha256, gw->auth_cert_sha256, 32) == 0) {
			gc_err(b, n, n, "authCertHash already used by gateway '%s'", g->gateways[i].code);
			return -1;
		}
	}
	return read_refs(b, n, "client", "client", 1, &gw->clients, &gw->n_clients);
}

static int hosted_order(const void *a, const void *b)
{
	const struct gc_hosted *x = a, *y = b;
	int c = cmp_subsystem(x->id, y->id);

	return c ? c : (x->gw > y->gw) - (x->gw < y->gw);
}

static int cert_order(const void *a, const void *b, void *arg)
{
	const struct gconf *g = arg;

	return memcmp(g->gateways[*(const size_t *)a].auth_cert_sha256,
		      g->gateways[*(const size_t *)b].auth_cert_sha256, 32);
}

/* Builds subsystem -> gateway and certificate -> gateway; a subsystem
 * served by two gateways would make routing ambiguous, so it is refused. */
static int index_gateways(struct gc_build *b)
{
	struct gconf *g = b->g;
	size_t total = 0, k = 0;
	int rc = 0;

	for (size_t i = 0; i < g->n_gateways; i++)
		total += g->gateways[i].n_clients;
	if (total && !(g->hosted = calloc(total, sizeof(*g->hosted))))
		return gc_err(b, b->root, b->root, "out of memory"), -1;
	for (size_t i = 0; i < g->n_gateways; i++) {
		xmlNodePtr c = b->nodes[i]->children;

		for (size_t j = 0; j < g->gateways[i].n_clients; j++, c = c->next) {
			while (!is_el(c, "client"))
				c = c->next;
			g->hosted[k++] = (struct gc_hosted){ &g->gateways[i].clients[j], i,
							     xmlGetLineNo(c) };
		}
	}
	g->n_hosted = total;
	if (total)   /* qsort wants a non-NULL base even for zero items */
		qsort(g->hosted, total, sizeof(*g->hosted), hosted_order);
	for (size_t i = 1; i < total; i++) {
		const struct gc_hosted *x = &g->hosted[i - 1], *y = &g->hosted[i];

		if (cmp_subsystem(x->id, y->id) == 0) {
			gc_errf(b, b->name, y->line, "<gateway code='%s'>: client '%s/%s/%s' is already "
				"served by gateway '%s'", g->gateways[y->gw].code, y->id->member_class,
				y->id->member_code, y->id->subsystem, g->gateways[x->gw].code);
			rc = -1;
		}
	}
	for (size_t i = 0; i < g->n_gateways; i++)
		g->cert_idx[i] = i;
	qsort_r(g->cert_idx, g->n_gateways, sizeof(size_t), cert_order, g);
	return rc;
}

/* adapter="" XOR url="", and the url must be http(s). */
static int read_binding(struct gc_build *b, xmlNodePtr n, struct gc_service *s)
{
	if (get_attr(b, n, "adapter", 0, s->adapter, sizeof(s->adapter)) != 0 ||
	    get_attr(b, n, "url", 0, s->url, sizeof(s->url)) != 0)
		return -1;
	if (!s->adapter[0] == !s->url[0]) {
		gc_err(b, n, n, "give exactly one of adapter and url");
		return -1;
	}
	s->binding = s->adapter[0] ? GC_BIND_ADAPTER : GC_BIND_URL;
	if (s->url[0] && strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0) {
		gc_err(b, n, n, "url '%s' is not http:// or https://", s->url);
		return -1;
	}
	return 0;
}

/* A description is joined to wsdl_dir, so it must be a plain file name. */
static int read_file_attr(struct gc_build *b, xmlNodePtr n, const char *attr, char *d, size_t len)
{
	if (get_attr(b, n, attr, 0, d, len) != 0)
		return -1;
	if (d[0] && (d[0] == '.' || strchr(d, '/') || strchr(d, '\\'))) {
		gc_err(b, n, n, "%s '%s' must be a file name under wsdl/, not a path", attr, d);
		return -1;
	}
	return 0;
}

static int read_description(struct gc_build *b, xmlNodePtr n, struct gc_service *s)
{
	return read_file_attr(b, n, "description", s->description, sizeof(s->description)) ||
	       read_file_attr(b, n, "openapi", s->openapi, sizeof(s->openapi));
}

static int read_allow_groups(struct gc_build *b, xmlNodePtr n, struct gc_service *s)
{
	size_t count = count_children(n, "allowGroup");
	char code[sizeof(((struct gc_group *)0)->code)];

	if (count > GC_LIST_MAX || (count && !(s->allow_groups = calloc(count, sizeof(char *))))) {
		gc_err(b, n, n, "too many <allowGroup> or out of memory");
		return -1;
	}
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (!is_el(c, "allowGroup"))
			continue;
		if (get_text(b, c, n, code, sizeof(code)) != 0)
			return -1;
		if (!find_group(b->g, code, b->g->n_groups)) {
			gc_err(b, c, n, "allowGroup '%s' names no group", code);
			return -1;
		}
		if (!(s->allow_groups[s->n_allow_groups] = strdup(code))) {
			gc_err(b, c, n, "out of memory");
			return -1;
		}
		s->n_allow_groups++;
	}
	return 0;
}

/* subjectParam: a request parameter name (letters, digits, '_', '-',
 * starting with a letter), as adapters name their parameters. */
static int param_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* 1 if the single-space separated list has the word w. */
static int word_listed(const char *list, const char *w, size_t wlen)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, " ");

		if (len == wlen && strncmp(p, w, wlen) == 0)
			return 1;
		p += len;
		p += *p == ' ';
	}
	return 0;
}

/* consentRequiredFor="COM GOV": declared classes, each once, kept single-space
 * separated in s->consent_classes. */
static int read_consent_classes(struct gc_build *b, xmlNodePtr n, struct gc_service *s)
{
	char raw[sizeof(s->consent_classes)];
	size_t used = 0;

	if (get_attr(b, n, "consentRequiredFor", 0, raw, sizeof(raw)) != 0)
		return -1;
	for (const char *p = raw; *p;) {
		size_t len;
		char cls[XRD_PART_MAX];

		p += strspn(p, " \t\r\n");
		len = strcspn(p, " \t\r\n");
		if (len == 0)
			break;
		snprintf(cls, sizeof(cls), "%.*s", (int)(len < sizeof(cls) ? len : sizeof(cls) - 1), p);
		if (len >= sizeof(cls) || !class_declared(b->g, cls)) {
			gc_err(b, n, n, "consentRequiredFor: member class '%.*s' is not declared",
			       (int)(len > 64 ? 64 : len), p);
			return -1;
		}
		if (word_listed(s->consent_classes, cls, len)) {
			gc_err(b, n, n, "consentRequiredFor: member class '%s' listed twice", cls);
			return -1;
		}
		used += (size_t)snprintf(s->consent_classes + used, sizeof(s->consent_classes) - used,
					 "%s%s", used ? " " : "", cls);
		p += len;
	}
	return 0;
}

/* subjectParam and consentRequiredFor (issue 5: personal data). */
static int read_personal(struct gc_build *b, xmlNodePtr n, struct gc_service *s)
{
	if (get_attr(b, n, "subjectParam", 0, s->subject_param, sizeof(s->subject_param)) != 0 ||
	    read_consent_classes(b, n, s) != 0)
		return -1;
	if (s->subject_param[0] && !param_name_ok(s->subject_param)) {
		gc_err(b, n, n, "subjectParam '%s' is not a parameter name (a letter, then letters, "
		       "digits, '_' or '-')", s->subject_param);
		return -1;
	}
	if (s->consent_classes[0] && !s->subject_param[0]) {
		gc_err(b, n, n, "consentRequiredFor needs subjectParam: the parameter that names the "
		       "person whose consent is checked (e.g. subjectParam=\"pin\")");
		return -1;
	}
	return 0;
}

int gconf_consent_required(const struct gc_service *svc, const struct xrd_id *client)
{
	if (!svc || !client || !svc->consent_classes[0] || !client->member_class[0])
		return 0;
	return word_listed(svc->consent_classes, client->member_class, strlen(client->member_class));
}

static int read_service(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_service *s = &g->services[g->n_services];
	char type[16], owner[4 * XRD_PART_MAX];

	b->nodes[g->n_services++] = n;
	if (get_attr(b, n, "client", 1, owner, sizeof(owner)) != 0 ||
	    check_ref(b, n, n, "client", owner, 1, &s->id) != 0)
		return -1;
	s->id.type = XRD_SERVICE;
	if (get_part(b, n, "code", 1, s->id.service_code) != 0 ||
	    get_part(b, n, "version", 0, s->id.service_version) != 0 ||
	    get_attr(b, n, "type", 1, type, sizeof(type)) != 0 ||
	    get_attr(b, n, "title", 0, s->title, sizeof(s->title)) != 0 ||
	    read_binding(b, n, s) != 0 || read_description(b, n, s) != 0 ||
	    read_personal(b, n, s) != 0)
		return -1;
	if (!strcmp(type, "soap"))
		s->type = GC_SVC_SOAP;
	else if (!strcmp(type, "rest"))
		s->type = GC_SVC_REST;
	else if (!strcmp(type, "both"))
		s->type = GC_SVC_BOTH;
	else {
		gc_err(b, n, n, "type '%s' is not soap, rest or both", type);
		return -1;
	}
	if (read_refs(b, n, "allow", "allow", 0, &s->allow, &s->n_allow) != 0 ||
	    read_allow_groups(b, n, s) != 0)
		return -1;
	return 0;
}

/* Compares the service part (class, code, sub, service code) of two ids. */
static int cmp_service_key(const struct xrd_id *a, const struct xrd_id *b)
{
	int c = cmp_subsystem(a, b);

	return c ? c : strcmp(a->service_code, b->service_code);
}

static int service_order(const void *a, const void *b, void *arg)
{
	const struct gconf *g = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = cmp_service_key(&g->services[i].id, &g->services[j].id);

	if (!c)
		c = strcmp(g->services[i].id.service_version, g->services[j].id.service_version);
	return c ? c : (i > j) - (i < j);
}

static int index_services(struct gc_build *b)
{
	struct gconf *g = b->g;
	int rc = 0;

	for (size_t i = 0; i < g->n_services; i++)
		g->service_idx[i] = i;
	qsort_r(g->service_idx, g->n_services, sizeof(size_t), service_order, g);
	for (size_t i = 1; i < g->n_services; i++) {
		const struct gc_service *x = &g->services[g->service_idx[i - 1]];
		const struct gc_service *y = &g->services[g->service_idx[i]];
		size_t later = g->service_idx[i] > g->service_idx[i - 1] ? g->service_idx[i]
									  : g->service_idx[i - 1];

		if (cmp_service_key(&x->id, &y->id) == 0 &&
		    strcmp(x->id.service_version, y->id.service_version) == 0) {
			gc_err(b, b->nodes[later], b->nodes[later], "service (client, code, version) "
			       "defined twice");
			rc = -1;
		}
	}
	return rc;
}

/* ---- approved CAs and TSAs ------------------------------------------------- */

/* The PEM of an approvedCA/approvedTSA: the <certificate> text, or the file
 * named by the file attribute (relative to the configuration's directory). */
static char *read_cert_pem(struct gc_build *b, xmlNodePtr n, size_t *len)
{
	char file[1024];
	xmlChar *txt = NULL;
	char *out = NULL;

	for (xmlNodePtr c = n->children; c; c = c->next)
		if (is_el(c, "certificate"))
			txt = xmlNodeGetContent(c);
	if (get_attr(b, n, "file", 0, file, sizeof(file)) != 0) {
		xmlFree(txt);
		return NULL;
	}
	if (txt) {
		out = strdup((const char *)txt);
		xmlFree(txt);
		if (out)
			*len = strlen(out);
		return out;
	}
	if (!file[0]) {
		gc_err(b, n, n, "needs a <certificate> (PEM text) or a file attribute");
		return NULL;
	}
	{
		char path[2048];
		const char *slash = strrchr(b->name, '/');
		FILE *f;
		long sz;

		if (file[0] == '/' || !slash)
			snprintf(path, sizeof(path), "%s", file);
		else
			snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - b->name), b->name, file);
		f = fopen(path, "rb");
		if (!f || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || sz > 256 * 1024 ||
		    fseek(f, 0, SEEK_SET) != 0 || !(out = calloc(1, (size_t)sz + 1)) ||
		    fread(out, 1, (size_t)sz, f) != (size_t)sz) {
			gc_err(b, n, n, "cannot read certificate file '%s'", path);
			free(out);
			out = NULL;
		} else {
			*len = (size_t)sz;
		}
		if (f)
			fclose(f);
	}
	return out;
}

static STACK_OF(X509) *pem_certs(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	while (bio && sk && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	if (sk && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

static int read_ca(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_ca *ca;
	struct gc_ca *grown = realloc(g->cas, (g->n_cas + 1) * sizeof(*g->cas));
	size_t len = 0, nurl = 0;
	char *pem;

	if (!grown) {
		gc_err(b, n, n, "out of memory");
		return -1;
	}
	g->cas = grown;
	ca = &g->cas[g->n_cas];
	memset(ca, 0, sizeof(*ca));
	if (get_attr(b, n, "name", 1, ca->name, sizeof(ca->name)) != 0 || !(pem = read_cert_pem(b, n, &len)))
		return -1;
	ca->certs = pem_certs(pem, len);
	free(pem);
	if (!ca->certs) {
		gc_err(b, n, n, "approvedCA '%s': no PEM certificate could be read", ca->name);
		return -1;
	}
	g->n_cas++;
	for (xmlNodePtr c = n->children; c; c = c->next)
		nurl += is_el(c, "ocsp");
	ca->ocsp_urls = calloc(nurl + 1, sizeof(char *));
	if (!ca->ocsp_urls) {
		gc_err(b, n, n, "out of memory");
		return -1;
	}
	for (xmlNodePtr c = n->children; c; c = c->next) {
		char url[1024];
		if (!is_el(c, "ocsp"))
			continue;
		if (get_attr(b, c, "url", 1, url, sizeof(url)) != 0)
			return -1;
		if (!(ca->ocsp_urls[ca->n_ocsp] = strdup(url))) {
			gc_err(b, c, c, "out of memory");
			return -1;
		}
		ca->n_ocsp++;
	}
	return 0;
}

static int read_tsa(struct gc_build *b, xmlNodePtr n)
{
	struct gconf *g = b->g;
	struct gc_tsa *grown = realloc(g->tsas, (g->n_tsas + 1) * sizeof(*g->tsas));
	struct gc_tsa *t;
	STACK_OF(X509) *sk;
	size_t len = 0;
	char *pem;

	if (!grown) {
		gc_err(b, n, n, "out of memory");
		return -1;
	}
	g->tsas = grown;
	t = &g->tsas[g->n_tsas];
	memset(t, 0, sizeof(*t));
	if (get_attr(b, n, "name", 1, t->name, sizeof(t->name)) != 0 ||
	    get_attr(b, n, "url", 1, t->url, sizeof(t->url)) != 0 || !(pem = read_cert_pem(b, n, &len)))
		return -1;
	sk = pem_certs(pem, len);
	if (!sk || len >= sizeof(t->cert_pem)) {
		gc_err(b, n, n, "approvedTSA '%s': no PEM certificate could be read (or larger than %zu bytes)",
		       t->name, sizeof(t->cert_pem) - 1);
		sk_X509_pop_free(sk, X509_free);
		free(pem);
		return -1;
	}
	sk_X509_pop_free(sk, X509_free);
	memcpy(t->cert_pem, pem, len);
	t->cert_pem[len] = '\0';
	free(pem);
	g->n_tsas++;
	return 0;
}

static int build_trust(struct gc_build *b)
{
	struct gconf *g = b->g;
	char *err = NULL;

	if (!g->n_cas)
		return 0;
	g->trust = sig_trust_new(&err);
	if (!g->trust) {
		gc_errf(b, b->name, 0, "cannot make the trust store: %s", err ? err : "?");
		free(err);
		return -1;
	}
	for (size_t i = 0; i < g->n_cas; i++)
		for (int j = 0; j < sk_X509_num(g->cas[i].certs); j++)
			if (X509_STORE_add_cert(g->trust, sk_X509_value(g->cas[i].certs, j)) != 1)
				ERR_clear_error();  /* the same root listed twice */
	return 0;
}

size_t gconf_n_cas(const struct gconf *g) { return g->n_cas; }
const struct gc_ca *gconf_ca_at(const struct gconf *g, size_t i) { return i < g->n_cas ? &g->cas[i] : NULL; }
size_t gconf_n_tsas(const struct gconf *g) { return g->n_tsas; }
const struct gc_tsa *gconf_tsa_at(const struct gconf *g, size_t i) { return i < g->n_tsas ? &g->tsas[i] : NULL; }
X509_STORE *gconf_trust(const struct gconf *g) { return g->trust; }

const struct gc_ca *gconf_ca_of(const struct gconf *g, X509 *cert)
{
	for (size_t i = 0; cert && i < g->n_cas; i++) {
		X509 *ca = sk_X509_value(g->cas[i].certs, 0);
		EVP_PKEY *pk = ca ? X509_get0_pubkey(ca) : NULL;
		/* Name and key identifier: the callers have verified the chain
		 * already (signature trust store, TLS handshake), so no signature
		 * check is repeated here on every message. */
		const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(cert);
		const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca);

		if (!pk || X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)) != 0)
			continue;
		if (akid && skid ? ASN1_OCTET_STRING_cmp(akid, skid) == 0 : X509_verify(cert, pk) == 1)
			return &g->cas[i];
		ERR_clear_error();
	}
	return NULL;
}

/* ---- load ------------------------------------------------------------------ */

static const char *const top_elements[] = {
	"instance", "generatedAt", "expiresAt", "memberClass", "member", "group", "gateway",
	"service", "approvedCA", "approvedTSA", NULL
};

/* Refuses unknown top-level elements (the schema may not have run) and
 * sizes every list, so each is allocated once. */
static int alloc_lists(struct gc_build *b)
{
	struct gconf *g = b->g;
	size_t nc = count_children(b->root, "memberClass"), nm = count_children(b->root, "member");
	size_t ngr = count_children(b->root, "group"), ngw = count_children(b->root, "gateway");
	size_t ns = count_children(b->root, "service"), most = nm;

	for (xmlNodePtr n = b->root->children; n; n = n->next) {
		size_t i = 0;

		if (n->type != XML_ELEMENT_NODE || (n->ns && n->ns->href &&
						    strcmp((const char *)n->ns->href, GC_NS_DSIG) == 0))
			continue;
		while (top_elements[i] && !is_el(n, top_elements[i]))
			i++;
		if (!top_elements[i])
			gc_err(b, n, n, "unknown element");
	}
	{
		const struct { const char *name; size_t n; } lists[] = {
			{ "memberClass", nc }, { "member", nm }, { "group", ngr }, { "gateway", ngw },
			{ "service", ns },
		};
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			if (lists[i].n > GC_LIST_MAX)
				gc_err(b, b->root, b->root, "%zu <%s> elements: at most %d are read", lists[i].n,
				       lists[i].name, GC_LIST_MAX);
	}
	if (b->n_err)
		return -1;
	most = ngw > most ? ngw : most;
	most = ns > most ? ns : most;
	/* +1: calloc(0) may return NULL, which would read as out of memory */
	g->classes = calloc(nc + 1, sizeof(*g->classes));
	g->members = calloc(nm + 1, sizeof(*g->members));
	g->groups = calloc(ngr + 1, sizeof(*g->groups));
	g->gateways = calloc(ngw + 1, sizeof(*g->gateways));
	g->services = calloc(ns + 1, sizeof(*g->services));
	g->member_idx = calloc(nm + 1, sizeof(size_t));
	g->cert_idx = calloc(ngw + 1, sizeof(size_t));
	g->service_idx = calloc(ns + 1, sizeof(size_t));
	b->nodes = calloc(most + 1, sizeof(*b->nodes));
	if (!g->classes || !g->members || !g->groups || !g->gateways || !g->services ||
	    !g->member_idx || !g->cert_idx || !g->service_idx || !b->nodes) {
		gc_err(b, b->root, b->root, "out of memory");
		return -1;
	}
	return 0;
}

/* Runs fn on every top-level element called name; keeps going after an
 * error so that one load reports several problems. */
static int read_pass(struct gc_build *b, const char *name, int (*fn)(struct gc_build *, xmlNodePtr))
{
	int rc = 0;

	for (xmlNodePtr n = b->root->children; n; n = n->next)
		if (is_el(n, name) && fn(b, n) != 0)
			rc = -1;
	return rc;
}

static int build(struct gc_build *b)
{
	if (!is_el(b->root, "globalConf")) {
		gc_err(b, b->root, b->root, "the root element must be <globalConf xmlns=\"%s\">", GC_NS);
		return -1;
	}
	if (alloc_lists(b) != 0 || read_header(b) != 0 ||
	    read_pass(b, "memberClass", read_class) != 0 ||
	    read_pass(b, "member", read_member) != 0 || index_members(b) != 0 ||
	    read_pass(b, "group", read_group) != 0 ||
	    read_pass(b, "gateway", read_gateway) != 0 || index_gateways(b) != 0 ||
	    read_pass(b, "service", read_service) != 0 || index_services(b) != 0 ||
	    read_pass(b, "approvedCA", read_ca) != 0 || read_pass(b, "approvedTSA", read_tsa) != 0 ||
	    build_trust(b) != 0)
		return -1;
	return 0;
}

static void libxml_error(void *ctx, xmlErrorPtr e)
{
	struct gc_build *b = ctx;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "error");
	msg[strcspn(msg, "\n")] = '\0';
	gc_errf(b, e && e->file ? e->file : b->name, e ? e->line : 0, "%s", msg);
}

static int validate(struct gc_build *b, xmlDocPtr doc, const char *xsd_path)
{
	xmlSchemaParserCtxtPtr pc = NULL;
	xmlSchemaPtr schema = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	int rc = -1;

	/* libxml2 would only print a warning for a missing schema file */
	if (access(xsd_path, R_OK) != 0) {
		gc_errf(b, xsd_path, 0, "cannot read the schema: %s", strerror(errno));
		goto out;
	}
	if (!(pc = xmlSchemaNewParserCtxt(xsd_path)))
		goto out;
	xmlSchemaSetParserStructuredErrors(pc, libxml_error, b);
	schema = xmlSchemaParse(pc);
	if (!schema) {
		gc_errf(b, xsd_path, 0, "cannot load the schema");
		goto out;
	}
	vc = xmlSchemaNewValidCtxt(schema);
	if (!vc)
		goto out;
	xmlSchemaSetValidStructuredErrors(vc, libxml_error, b);
	if (xmlSchemaValidateDoc(vc, doc) != 0) {
		if (b->n_err == 0)
			gc_errf(b, b->name, 0, "does not match the schema %s", xsd_path);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && b->n_err == 0)
		gc_errf(b, xsd_path, 0, "schema validation failed (out of memory?)");
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	return rc;
}

/* Parses with no network and no DTD: a DOCTYPE is refused before libxml2
 * sees it, so no entity of any kind is ever expanded. */
static xmlDocPtr parse_doc(struct gc_build *b, const char *xml, size_t len)
{
	const char *dt = memmem(xml, len, "<!DOCTYPE", 9);
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc = NULL;
	long line = 1;
	char why[160];

	if (dt) {
		for (const char *p = xml; p < dt; p++)
			line += *p == '\n';
		gc_errf(b, b->name, line, "DOCTYPE is not allowed (no DTDs, no entities)");
		return NULL;
	}
	if (len > GC_FILE_MAX) {
		gc_errf(b, b->name, 0, "larger than %d bytes", GC_FILE_MAX);
		return NULL;
	}
	if (xmlscan_check(xml, len, why, sizeof(why)) < 0) {
		gc_errf(b, b->name, 0, "refused unparsed: %s", why);
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		gc_errf(b, b->name, 0, "out of memory");
		return NULL;
	}
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, b->name, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				XML_PARSE_BIG_LINES);
	if (!doc) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "parse failed");
		msg[strcspn(msg, "\n")] = '\0';
		gc_errf(b, b->name, e ? e->line : 0, "not well-formed XML: %s", msg);
	} else if (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc)) {
		gc_errf(b, b->name, 0, "DOCTYPE is not allowed, or no root element");
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

static void gconf_free(struct gconf *g)
{
	if (!g)
		return;
	for (size_t i = 0; g->members && i < g->n_members; i++) {
		for (size_t j = 0; j < g->members[i].n_subsystems; j++)
			free(g->members[i].subsystems[j]);
		free(g->members[i].subsystems);
	}
	for (size_t i = 0; g->groups && i < g->n_groups; i++)
		free(g->groups[i].members);
	for (size_t i = 0; g->gateways && i < g->n_gateways; i++)
		free(g->gateways[i].clients);
	for (size_t i = 0; g->services && i < g->n_services; i++) {
		free(g->services[i].allow);
		for (size_t j = 0; j < g->services[i].n_allow_groups; j++)
			free(g->services[i].allow_groups[j]);
		free(g->services[i].allow_groups);
	}
	for (size_t i = 0; g->cas && i < g->n_cas; i++) {
		sk_X509_pop_free(g->cas[i].certs, X509_free);
		for (size_t j = 0; j < g->cas[i].n_ocsp; j++)
			free(g->cas[i].ocsp_urls[j]);
		free(g->cas[i].ocsp_urls);
	}
	free(g->cas);
	free(g->tsas);
	X509_STORE_free(g->trust);
	free(g->classes);
	free(g->members);
	free(g->groups);
	free(g->gateways);
	free(g->services);
	free(g->member_idx);
	free(g->service_idx);
	free(g->cert_idx);
	free(g->hosted);
	free(g);
}

int gconf_load_mem(const char *xml, size_t len, const char *name, const char *xsd_path,
		   struct gconf **out, char **err)
{
	struct gc_build b;
	xmlDocPtr doc = NULL;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	buf_init(&b.err, 16 * 1024);
	b.name = name ? name : "globalconf";
	*out = NULL;
	if (err)
		*err = NULL;
	xmlInitParser();
	if (!xml || !(doc = parse_doc(&b, xml, len)))
		goto out;
	if (xsd_path && validate(&b, doc, xsd_path) != 0)
		goto out;
	if (!(b.g = calloc(1, sizeof(*b.g)))) {
		gc_errf(&b, b.name, 0, "out of memory");
		goto out;
	}
	atomic_init(&b.g->refs, 1);
	b.root = xmlDocGetRootElement(doc);
	if (build(&b) != 0)
		goto out;
	*out = b.g;
	b.g = NULL;
	rc = 0;
out:
	if (rc != 0 && err)
		*err = b.n_err ? buf_steal(&b.err, NULL) : strdup("global configuration: load failed");
	gconf_free(b.g);
	free(b.nodes);
	xmlFreeDoc(doc);
	buf_free(&b.err);
	return rc;
}

int gconf_load(const char *path, const char *xsd_path, struct gconf **out, char **err)
{
	char *text = NULL, why[256];
	size_t len = 0;
	int rc;

	*out = NULL;
	if (err)
		*err = NULL;
	if (file_read_max(path ? path : "", GC_FILE_MAX, &text, &len, why, sizeof(why)) < 0) {
		if (err && asprintf(err, "%s: %s", path ? path : "(null)", why) < 0)
			*err = NULL;
		return -1;
	}
	rc = gconf_load_mem(text, len, path, xsd_path, out, err);
	free(text);
	return rc;
}

struct gconf *gconf_ref(struct gconf *g)
{
	if (g)
		atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void gconf_unref(struct gconf **g)
{
	if (!g || !*g)
		return;
	/* acq_rel: the last owner must see every other owner's reads finished */
	if (atomic_fetch_sub_explicit(&(*g)->refs, 1, memory_order_acq_rel) == 1)
		gconf_free(*g);
	*g = NULL;
}

/* ---- accessors ----------------------------------------------------------- */

const char *gconf_instance(const struct gconf *g) { return g->instance; }
time_t gconf_generated(const struct gconf *g) { return g->generated; }
time_t gconf_expires(const struct gconf *g) { return g->expires; }

long gconf_from_future(const struct gconf *g, time_t now)
{
	return g->generated > now + GCONF_FUTURE_SKEW_S ? (long)(g->generated - now) : 0;
}
size_t gconf_n_classes(const struct gconf *g) { return g->n_classes; }
size_t gconf_n_members(const struct gconf *g) { return g->n_members; }
size_t gconf_n_gateways(const struct gconf *g) { return g->n_gateways; }
size_t gconf_n_services(const struct gconf *g) { return g->n_services; }
size_t gconf_n_groups(const struct gconf *g) { return g->n_groups; }

const char *gconf_class(const struct gconf *g, size_t i)
{
	return i < g->n_classes ? g->classes[i].code : NULL;
}

const struct gc_member *gconf_member_at(const struct gconf *g, size_t i)
{
	return i < g->n_members ? &g->members[i] : NULL;
}

const struct gc_group *gconf_group_at(const struct gconf *g, size_t i)
{
	return i < g->n_groups ? &g->groups[i] : NULL;
}

const struct gc_gateway *gconf_gateway_at(const struct gconf *g, size_t i)
{
	return i < g->n_gateways ? &g->gateways[i] : NULL;
}

const struct gc_service *gconf_service_at(const struct gconf *g, size_t i)
{
	return i < g->n_services ? &g->services[i] : NULL;
}

const struct gc_group *gconf_group(const struct gconf *g, const char *code)
{
	return g && code ? find_group(g, code, g->n_groups) : NULL;
}

const struct gc_gateway *gconf_gateway(const struct gconf *g, const char *code)
{
	for (size_t i = 0; g && code && i < g->n_gateways; i++)
		if (strcmp(g->gateways[i].code, code) == 0)
			return &g->gateways[i];
	return NULL;
}

/* ---- request-path lookups ------------------------------------------------- */

/* First hosted entry not below id (by member only, or by member and subsystem). */
static size_t hosted_lower(const struct gconf *g, const struct xrd_id *id, int member_only)
{
	size_t lo = 0, hi = g->n_hosted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct xrd_id *h = g->hosted[mid].id;
		int c = cmp_member_parts(h, id->member_class, id->member_code);

		if (!c && !member_only)
			c = strcmp(h->subsystem, id->subsystem);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct gc_gateway *gconf_gateway_of(const struct gconf *g, const struct xrd_id *client)
{
	struct xrd_id owner;
	size_t i, best = SIZE_MAX;

	if (!id_in_instance(g, client))
		return NULL;
	if (client->type == XRD_SERVICE) {
		xrd_id_service_owner(client, &owner);
		client = &owner;
	}
	if (client->type == XRD_SUBSYSTEM) {
		i = hosted_lower(g, client, 0);
		if (i < g->n_hosted && cmp_subsystem(g->hosted[i].id, client) == 0)
			return &g->gateways[g->hosted[i].gw];
		return NULL;
	}
	if (client->type != XRD_MEMBER)
		return NULL;
	/* A member: the first gateway (in file order) serving any of its subsystems. */
	for (i = hosted_lower(g, client, 1); i < g->n_hosted &&
	     cmp_member_parts(g->hosted[i].id, client->member_class, client->member_code) == 0; i++)
		if (g->hosted[i].gw < best)
			best = g->hosted[i].gw;
	return best == SIZE_MAX ? NULL : &g->gateways[best];
}

const struct gc_gateway *gconf_gateway_by_cert(const struct gconf *g, const unsigned char *sha256)
{
	size_t lo = 0, hi;

	if (!g || !sha256)
		return NULL;
	hi = g->n_gateways;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gc_gateway *gw = &g->gateways[g->cert_idx[mid]];
		int c = memcmp(gw->auth_cert_sha256, sha256, 32);

		if (c == 0)
			return gw;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int gconf_gateway_hosts(const struct gc_gateway *gw, const struct xrd_id *client)
{
	if (!gw || !client || (client->type != XRD_SUBSYSTEM && client->type != XRD_MEMBER))
		return 0;
	for (size_t i = 0; i < gw->n_clients; i++) {
		if (client->type == XRD_SUBSYSTEM ? xrd_id_same_subsystem(&gw->clients[i], client)
						  : xrd_id_same_member(&gw->clients[i], client))
			return 1;
	}
	return 0;
}

const struct gc_service *gconf_service(const struct gconf *g, const struct xrd_id *id)
{
	size_t lo = 0, hi, first = SIZE_MAX;

	if (!id_in_instance(g, id) || id->type != XRD_SERVICE)
		return NULL;
	hi = g->n_services;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_service_key(&g->services[g->service_idx[mid]].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The range of this service's versions, sorted by version ("" first). */
	for (size_t i = lo; i < g->n_services; i++) {
		size_t k = g->service_idx[i];
		const struct gc_service *s = &g->services[k];

		if (cmp_service_key(&s->id, id) != 0)
			break;
		if (id->service_version[0]) {
			if (strcmp(s->id.service_version, id->service_version) == 0)
				return s;
			continue;
		}
		if (!s->id.service_version[0])
			return s;
		if (k < first)
			first = k;
	}
	return first == SIZE_MAX ? NULL : &g->services[first];
}
