/* Global configuration: the exchange's shared view of members, subsystems,
 * gateways, services and access rights, as an XML document validated against
 * config/globalconf.xsd and cross-checked (every reference must resolve; an
 * error names the element and line).
 *
 * A loaded configuration is immutable and reference counted, so a reload can
 * swap it while requests still use the old one. */
#ifndef AILGATE_CORE_GLOBALCONF_H
#define AILGATE_CORE_GLOBALCONF_H

#include <stddef.h>
#include <time.h>

#include "proto/xrd_id.h"

struct gconf;
struct x509_st;
struct x509_store_st;
struct stack_st_X509;

struct gc_member {
	char member_class[XRD_PART_MAX];
	char code[XRD_PART_MAX];
	char name[256];
	char **subsystems;           /* codes */
	size_t n_subsystems;
};

struct gc_gateway {
	char code[128];              /* e.g. "municipality" */
	char address[256];           /* "host:port" of its server (gateway-to-gateway) listener */
	unsigned char auth_cert_sha256[32]; /* SHA-256 of its TLS certificate (DER) */
	struct xrd_id *clients;      /* hosted subsystems (SUBSYSTEM ids) */
	size_t n_clients;
};

enum gc_binding { GC_BIND_ADAPTER, GC_BIND_URL };
/* Bit flags: a service may be offered over SOAP, REST or both. */
enum gc_svc_type { GC_SVC_SOAP = 1, GC_SVC_REST = 2, GC_SVC_BOTH = 3 };

struct gc_service {
	struct xrd_id id;            /* SERVICE, with version ("" if none) */
	enum gc_svc_type type;
	enum gc_binding binding;
	char adapter[64];            /* GC_BIND_ADAPTER: adapter name */
	char url[1024];              /* GC_BIND_URL: provider base URL */
	char description[256];       /* WSDL (or, for REST only, OpenAPI) file name under wsdl/, "" if none */
	char openapi[256];           /* OpenAPI file name under wsdl/ for REST access, "" if none */
	char title[256];
	struct xrd_id *allow;        /* client subsystems (or members) allowed */
	size_t n_allow;
	char **allow_groups;         /* global group codes allowed */
	size_t n_allow_groups;
	/* Personal data (issue 5; gateway/store/consent.h). subjectParam: the
	 * request parameter that names the person ("pin"), "" if the service is
	 * not about one person; when set, every call is recorded in the access
	 * log. consentRequiredFor: the member classes whose calls need the
	 * person's valid consent, single-space separated ("COM"), "" if none;
	 * only with subject_param. */
	char subject_param[64];
	char consent_classes[256];
};

/* A certification authority approved by the operator: it may issue gateway
 * authentication and member signing certificates. certs holds the CA
 * certificate first, then its issuers up to the root (as given). */
struct gc_ca {
	char name[256];
	struct stack_st_X509 *certs; /* STACK_OF(X509), owned */
	char **ocsp_urls;            /* responders for certificates it issues */
	size_t n_ocsp;
};

/* An approved RFC 3161 time-stamping authority. */
struct gc_tsa {
	char name[256];
	char url[1024];
	char cert_pem[8192];         /* its certificate (PEM text) */
};

struct gc_group {
	char code[128];
	char description[256];
	int acts_for_user;           /* actsForUser="true": clients acting for a signed-in person */
	struct xrd_id *members;      /* SUBSYSTEM or MEMBER ids */
	size_t n_members;
};

/* Loads and validates. xsd_path may be NULL to skip schema validation (tests
 * only). Returns 0, or -1 with *err (caller frees): "globalconf.xml:42:
 * <service code='x'>: allow 'GOV/1/foo' names no subsystem" (up to 10 such
 * lines, separated by '\n'). The document is parsed with the same hardened
 * options as SOAP (no DTD, no network). */
int gconf_load(const char *path, const char *xsd_path, struct gconf **out, char **err)
	__attribute__((warn_unused_result));
/* The same from memory (name used in messages). */
int gconf_load_mem(const char *xml, size_t len, const char *name, const char *xsd_path,
		   struct gconf **out, char **err) __attribute__((warn_unused_result));

struct gconf *gconf_ref(struct gconf *g);
void gconf_unref(struct gconf **g);   /* frees at zero, sets *g = NULL */

const char *gconf_instance(const struct gconf *g);
time_t gconf_generated(const struct gconf *g);   /* 0 if not given */
time_t gconf_expires(const struct gconf *g);     /* 0 if no expiry */
/* How far generatedAt lies ahead of now beyond GCONF_FUTURE_SKEW_S (clocks
 * differ a little); 0 if not. Such a file is refused: once in force, every
 * correctly dated one would be "older" and refused until that time. */
#define GCONF_FUTURE_SKEW_S 600
long gconf_from_future(const struct gconf *g, time_t now);
/* member classes */
size_t gconf_n_classes(const struct gconf *g);
const char *gconf_class(const struct gconf *g, size_t i);

size_t gconf_n_members(const struct gconf *g);
const struct gc_member *gconf_member_at(const struct gconf *g, size_t i);
/* The member of an id (any type), or NULL. */
const struct gc_member *gconf_member(const struct gconf *g, const struct xrd_id *id);
/* 1 if the SUBSYSTEM (or MEMBER, when id is a MEMBER) exists. */
int gconf_client_exists(const struct gconf *g, const struct xrd_id *id);

size_t gconf_n_gateways(const struct gconf *g);
const struct gc_gateway *gconf_gateway_at(const struct gconf *g, size_t i);
const struct gc_gateway *gconf_gateway(const struct gconf *g, const char *code);
/* The gateway that hosts the subsystem id, or NULL. A SERVICE id means its
 * owner subsystem; a MEMBER id, the first gateway (file order) that hosts
 * any of its subsystems. */
const struct gc_gateway *gconf_gateway_of(const struct gconf *g, const struct xrd_id *client);
/* The gateway whose auth certificate has this SHA-256, or NULL. */
const struct gc_gateway *gconf_gateway_by_cert(const struct gconf *g, const unsigned char *sha256);
/* 1 if gw hosts the client (SUBSYSTEM, or MEMBER id). */
int gconf_gateway_hosts(const struct gc_gateway *gw, const struct xrd_id *client);

size_t gconf_n_services(const struct gconf *g);
const struct gc_service *gconf_service_at(const struct gconf *g, size_t i);
/* The service with this id. If id has a version, it must match; if not, the
 * service with no version or else the first with that code. NULL if none. */
const struct gc_service *gconf_service(const struct gconf *g, const struct xrd_id *id);

/* Approved CAs and TSAs (empty lists when the configuration has none). */
size_t gconf_n_cas(const struct gconf *g);
const struct gc_ca *gconf_ca_at(const struct gconf *g, size_t i);
size_t gconf_n_tsas(const struct gconf *g);
const struct gc_tsa *gconf_tsa_at(const struct gconf *g, size_t i);
/* The trust store of signatures: every approved CA's certificates, built once
 * at load (a sig_trust_new() store, so it caches verified chains). NULL when
 * no CA is approved. Borrowed: valid while the caller holds a reference. */
struct x509_store_st *gconf_trust(const struct gconf *g);
/* The approved CA that issued cert (its first certificate is cert's issuer
 * and verifies cert's signature), or NULL. */
const struct gc_ca *gconf_ca_of(const struct gconf *g, struct x509_st *cert);

/* 1 if a call of svc by client (any id type; its member class counts)
 * needs the person's consent: client's class is one of svc's
 * consentRequiredFor. 0 otherwise, or if either is NULL. */
int gconf_consent_required(const struct gc_service *svc, const struct xrd_id *client);

size_t gconf_n_groups(const struct gconf *g);
const struct gc_group *gconf_group(const struct gconf *g, const char *code);
const struct gc_group *gconf_group_at(const struct gconf *g, size_t i);   /* NULL past the end */

#endif
