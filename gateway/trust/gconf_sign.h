/* gconf_sign: the operator's signature on the global configuration.
 *
 * Format: an enveloped XML-DSig signature. ds:Signature is the last element
 * child of the document's root; SignedInfo holds exclusive c14n, RSA-SHA256
 * or ECDSA-SHA256 (by the key's type) and exactly one Reference, URI="",
 * with the enveloped-signature and exclusive-c14n transforms and SHA-256;
 * KeyInfo/X509Data carries the operator's certificate. Made and checked
 * with xmlsec, so a signed file verifies offline with
 *   xmlsec1 --verify --trusted-pem ROOT.pem globalconf.xml
 *
 * A gateway does not trust a CA here: it holds the operator's certificate
 * itself (the anchor, [globalconf] anchor) and accepts a signature only
 * when the certificate in KeyInfo is byte for byte the anchor and the
 * signature verifies with the anchor's key. Anything but exactly one
 * ds:Signature, as the root's last element, with that one reference, is
 * refused before any cryptography (the signature-wrapping defence).
 * The anchor's validity period is not checked: like X-Road's configuration
 * anchor it is trusted until the local configuration names another one.
 * Comments are outside what URI="" signs; the loader gives them no meaning.
 *
 * Thread-safe: the functions call sig_global_init() (idempotent) and keep no
 * state; an anchor is read-only once loaded and may be shared by threads. */
#ifndef AILGATE_TRUST_GCONF_SIGN_H
#define AILGATE_TRUST_GCONF_SIGN_H

#include <stddef.h>

#include "lib/buf.h"

/* Largest document signed or verified (the loader's own cap). */
#define GCSIG_XML_MAX (8 * 1024 * 1024)

enum gcsig_rc {
	GCSIG_OK = 0,
	GCSIG_UNSIGNED = -1,      /* no ds:Signature at all */
	GCSIG_MALFORMED = -2,     /* not XML, DOCTYPE, too large, more than one signature,
				   * signature elsewhere than the root's last element,
				   * a reference other than URI="", other transforms or
				   * algorithms, KeyInfo without exactly one certificate */
	GCSIG_NOT_ANCHOR = -3,    /* well-formed signature by a certificate that is not
				   * the anchor */
	GCSIG_BAD_SIGNATURE = -4, /* digest or signature value does not verify: the file
				   * changed after signing */
	GCSIG_ERROR = -5,         /* out of memory, xmlsec initialisation */
};

struct gcsig_anchor;

/* Loads the operator's certificate (the first one of a PEM file). Its key
 * must be ECDSA P-256 or RSA 2048..4096. Returns 0 with *out (free with
 * gcsig_anchor_free), or -1 with *err (caller frees). */
int gcsig_anchor_load(const char *pem_file, struct gcsig_anchor **out, char **err)
	__attribute__((warn_unused_result));
/* Frees and sets *a to NULL. NULL-safe. */
void gcsig_anchor_free(struct gcsig_anchor **a);
/* SHA-256 of the anchor's DER (32 bytes, owned by the anchor). */
const unsigned char *gcsig_anchor_sha256(const struct gcsig_anchor *a);

/* Signs xml (len bytes) with the private key in key_file (PEM, unencrypted)
 * and the certificate in cert_file (PEM, first certificate; it must match
 * the key). Nothing else in the document is changed. A document that
 * already carries a ds:Signature as a root child is refused unless replace
 * is set, in which case that signature is dropped first. Appends the signed
 * document (UTF-8 with an XML declaration) to out (caller owns; cap must
 * allow the document plus ~4 KiB). Returns 0, or -1 with *err (caller
 * frees) naming what failed. Checks no schema: callers validate first. */
int gcsig_sign(const char *xml, size_t len, const char *key_file, const char *cert_file,
	       int replace, struct buf *out, char **err) __attribute__((warn_unused_result));

/* Verifies the operator's signature on xml against anchor. Returns GCSIG_OK,
 * or another enum gcsig_rc with *err (caller frees; err may be NULL) saying
 * what is wrong and, for GCSIG_NOT_ANCHOR, which certificate signed. */
enum gcsig_rc gcsig_verify(const char *xml, size_t len, const struct gcsig_anchor *anchor,
			   char **err) __attribute__((warn_unused_result));

/* Short name of a result ("ok", "unsigned", "malformed", "not-anchor",
 * "bad-signature", "error"), for logs and tests. */
const char *gcsig_rc_name(enum gcsig_rc rc);

#endif
