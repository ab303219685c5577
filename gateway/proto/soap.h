/* SOAP 1.1 with the X-Road message protocol 4.0 headers: parse, check, build.
 *
 * No I/O. Parsing is hardened: no network, no DTD (a DOCTYPE is refused, so
 * no external or internal entities, no "billion laughs"), libxml2's default
 * depth limit, and the caller caps the input size.
 *
 * Namespaces: env http://schemas.xmlsoap.org/soap/envelope/,
 * xrd http://x-road.eu/xsd/xroad.xsd, id http://x-road.eu/xsd/identifiers,
 * repr http://x-road.eu/xsd/representation.xsd */
#ifndef AILGATE_PROTO_SOAP_H
#define AILGATE_PROTO_SOAP_H

#include <libxml/tree.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "proto/fault.h"
#include "proto/xrd_id.h"

#define NS_SOAPENV "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_XRD "http://x-road.eu/xsd/xroad.xsd"
#define NS_XRDID "http://x-road.eu/xsd/identifiers"
#define NS_REPR "http://x-road.eu/xsd/representation.xsd"
#define XRD_PROTOCOL_VERSION "4.0"
#define XRD_HASH_SHA512 "http://www.w3.org/2001/04/xmlenc#sha512"

#define SOAP_FIELD_MAX 256

enum soap_kind { SOAP_REQUEST, SOAP_RESPONSE };

struct soap_msg {
	xmlDocPtr doc;          /* owned; freed by soap_msg_free() */
	xmlNodePtr header;      /* borrowed from doc; NULL if no Header */
	xmlNodePtr body;        /* the Body element */
	xmlNodePtr body_elem;   /* first element child of Body (the wrapper), or NULL */

	struct xrd_id client;   /* xrd:client (MEMBER or SUBSYSTEM) */
	struct xrd_id service;  /* xrd:service (SERVICE); type XRD_NONE if absent */
	char id[SOAP_FIELD_MAX];
	char user_id[SOAP_FIELD_MAX];          /* "" if absent */
	char issue[SOAP_FIELD_MAX];            /* "" if absent */
	char protocol_version[SOAP_FIELD_MAX];
	int has_represented_party;
	char party_class[XRD_PART_MAX];        /* "" if absent */
	char party_code[XRD_PART_MAX];
	char request_hash[SOAP_FIELD_MAX];     /* "" if absent */
	char request_hash_alg[SOAP_FIELD_MAX];

	int is_fault;                          /* Body holds a SOAP Fault */
	char fault_code[FAULT_CODE_MAX];       /* as received, prefix stripped */
	char fault_string[FAULT_MSG_MAX];
	char fault_detail[SOAP_FIELD_MAX];     /* detail/faultDetail text (the uuid) */
};

/* Parses bytes as a SOAP envelope and reads the X-Road headers.
 *
 * For SOAP_REQUEST: client, service, id, protocolVersion are required,
 * protocolVersion must be exactly "4.0", objectType must fit (client MEMBER or
 * SUBSYSTEM, service SERVICE), each header at most once, and the body wrapper
 * must be named after the service code. For SOAP_RESPONSE the same headers are
 * read but a Fault body is accepted without them (is_fault set).
 *
 * Failures fill f with prefix + reason:
 *   InvalidXml              not well-formed ("malformed XML at line N: <libxml2's text>"),
 *                           including libxml2's depth limit (256 levels)
 *   InvalidSoap             a DOCTYPE ("DTD is not allowed in a SOAP message": refused
 *                           at "<!DOCTYPE", before any entity is declared); root not a
 *                           SOAP 1.1 Envelope; Envelope children other than [Header] Body;
 *                           an unknown element in the xrd or repr namespace (elements in
 *                           other namespaces are tolerated and echoed in responses); a
 *                           header value with element children or longer than 255 bytes;
 *                           a request whose body wrapper is not named after the service
 *                           code (we chose InvalidSoap over InconsistentHeaders: the
 *                           message itself is malformed); a Fault in a request
 *   MissingHeaderField      client, service, id (non-empty), protocolVersion;
 *                           representedParty without partyCode
 *   DuplicateHeaderField    any X-Road header (or party child) twice
 *   InvalidProtocolVersion  protocolVersion other than exactly "4.0"
 *   InvalidClientIdentifier / InvalidServiceIdentifier
 *                           objectType missing or not fitting, children missing,
 *                           duplicated, unknown or not allowed for the type (a SERVICE
 *                           needs a subsystemCode), a part outside the alphabet
 *   MissingBody             Body has no element
 * Header values are read without surrounding whitespace. xrd:requestHash is
 * read in either kind. A Fault response is passed on as it is: header
 * problems in it are ignored (fields left empty).
 * prefix is F_CLIENT when the bytes came from a client system, F_CPROXY when
 * a client-side gateway parses a response; the gateway's own failures (out
 * of memory) use F_CPROXY instead of F_CLIENT.
 * Returns 0, or -1 with f set (out is then freed and zeroed). */
int soap_parse(const void *bytes, size_t len, enum soap_kind kind, const char *prefix,
	       struct soap_msg *out, struct fault *f) __attribute__((warn_unused_result));
void soap_msg_free(struct soap_msg *m);

/* base64(SHA-512(bytes)), the requestHash of a SOAP request. out: B64_SHA512_LEN. */
int soap_request_hash(const void *bytes, size_t len, char *out) __attribute__((warn_unused_result));

/* The response to req from an in-process service: an envelope whose Header
 * repeats every element of the request's Header in order, with the same
 * names, attributes and content, followed by
 * <xrd:requestHash algorithmId="...sha512">hash</...>; the Body holds
 * <P:SERVICECODEResponse> in the namespace of the request's wrapper,
 * containing inner_xml (a well-formed fragment, may be empty) as it is.
 * P is the request wrapper's prefix, or "m" if it used a default namespace,
 * so unprefixed elements of inner_xml are always unqualified whatever the
 * request looked like (declare xmlns inside inner_xml to qualify them).
 * The Envelope declares the prefixed namespaces in scope at the request's
 * Header (inner_xml may use them); a copied header also declares what the
 * Envelope cannot: a default namespace, or SOAP-ENV bound otherwise, in
 * scope at the request's Header. A requestHash in the request is not
 * echoed. Output starts with <?xml version="1.0" encoding="UTF-8"?>.
 * The response is written as text straight from the request's tree (no
 * tree is built for it); inner_xml is parsed only to check it.
 * Appends to out. Returns 0 or -1 (inner_xml not well-formed, req not a
 * parsed request, out of memory, cap); out is unchanged on failure. */
int soap_build_response(const struct soap_msg *req, const char *request_hash_b64,
			const char *inner_xml, size_t inner_len, struct buf *out)
	__attribute__((warn_unused_result));

/* The same, for a fragment the gateway rendered itself (render_json_to_xml:
 * escaped text, checked names): inserted without the check. inner_xml MUST
 * be well-formed; the result is not checked. Same bytes as
 * soap_build_response for the same arguments. */
int soap_build_response_trusted(const struct soap_msg *req, const char *request_hash_b64,
				const char *inner_xml, size_t inner_len, struct buf *out)
	__attribute__((warn_unused_result));

/* soap_build_response_trusted in two halves, for a caller that writes the
 * wrapper's content straight into out (render_json_to_xml): begin appends
 * everything up to the wrapper's start tag, end the wrapper's end tag and
 * the rest. What is written between MUST be well-formed content; it is not
 * checked. Each returns 0, or -1 with out as it was before that call. */
int soap_response_begin(const struct soap_msg *req, const char *request_hash_b64, struct buf *out)
	__attribute__((warn_unused_result));
int soap_response_end(const struct soap_msg *req, struct buf *out)
	__attribute__((warn_unused_result));

/* Sets (adds or replaces) xrd:requestHash in a parsed response from a
 * provider system and serialises the whole document to out. */
int soap_set_request_hash(struct soap_msg *resp, const char *request_hash_b64, struct buf *out)
	__attribute__((warn_unused_result));

/* A SOAP 1.1 Fault: faultcode f->code as plain text (X-Road writes
 * "Server.ServerProxy.AccessDenied" unqualified; soap_parse strips a
 * "prefix:" if a peer qualifies it), faultstring f->message, empty
 * faultactor, detail/faultDetail = detail_uuid (xmlns=""). Text is made
 * valid UTF-8 and escaped. Appends to out; unchanged on failure. */
int soap_build_fault(const struct fault *f, const char *detail_uuid, struct buf *out)
	__attribute__((warn_unused_result));

/* Checks a (non-fault) response against its request: every request header
 * is repeated in the same order with the same values (prefixes may differ),
 * and requestHash equals expected_hash_b64 (algorithmId, if present, must be
 * sha512). Headers are compared by namespace and local name, attributes, and
 * the trimmed text of leaves, recursively. Extra response headers outside
 * the xrd/repr namespaces are allowed (a provider may add its own); extra
 * X-Road ones are not. Fails with Server.ClientProxy.InconsistentResponse
 * naming the first difference. A Fault response is not checked (returns 0). */
int soap_check_response(const struct soap_msg *req, const struct soap_msg *resp,
			const char *expected_hash_b64, struct fault *f)
	__attribute__((warn_unused_result));

/* What soap_check_answer reads from an answer that passes. */
struct soap_answer {
	int is_fault;                     /* the Body holds a SOAP Fault */
	char fault_code[FAULT_CODE_MAX];  /* its faultcode as soap_parse reads it; "" if none */
};

/* The client side's check of the answer to req (the exact bytes the
 * provider's gateway sent; the caller relays them as they are): gives the
 * verdict of soap_parse(bytes, SOAP_RESPONSE, F_CPROXY) followed, for a
 * non-fault answer, by soap_check_response(req, ..., expected_hash_b64) -
 * the same fault codes and messages - in one pass of the same hardened
 * parser, without building a tree. One difference: libxml2's tree builder
 * ends the parse at a text node over 10 MB (without XML_PARSE_HUGE); this
 * pass, which builds none, reads such an answer to its end. A Fault answer
 * passes (is_fault, fault_code). Returns 0, or -1 with f set (out zeroed). */
int soap_check_answer(const struct soap_msg *req, const void *bytes, size_t len,
		      const char *expected_hash_b64, struct soap_answer *out, struct fault *f)
	__attribute__((warn_unused_result));

/* A request envelope, as a client system would send it (used by the gateway
 * for its own calls and by tests). user_id may be NULL. inner_xml goes inside
 * <m:SERVICECODE xmlns:m="ns"> (<SERVICECODE> if ns is NULL) as it is: it
 * must be well-formed, it is not checked. client must be MEMBER/SUBSYSTEM,
 * service SERVICE, id non-empty, else -1. Appends; unchanged on failure. */
int soap_build_request(const struct xrd_id *client, const struct xrd_id *service,
		       const char *id, const char *user_id, const char *ns,
		       const char *inner_xml, struct buf *out) __attribute__((warn_unused_result));

/* The text of every element child of the body wrapper, as name/value pairs
 * (one level deep; used to turn a request body into adapter parameters).
 * name is the local name; an empty element gives ""; children that have
 * element children themselves are skipped (not flattened). Strings are
 * valid only during the call. cb is called for each; return nonzero from
 * cb to stop. */
void soap_body_params(const struct soap_msg *m, int (*cb)(const char *name, const char *value, void *arg),
		      void *arg);
/* The name of an element after the body wrapper (a second request in one
 * Body), or NULL when the wrapper is alone. */
const char *soap_body_extra(const struct soap_msg *m);

/* Call at start-up, before creating threads: initialises libxml2 and
 * silences its error output (libxml2 keeps error handlers per thread; this
 * sets the default for new threads and the calling thread). Idempotent.
 * soap_parse() is silent even without it; other libxml2 users are not. */
void soap_global_init(void);

#endif
