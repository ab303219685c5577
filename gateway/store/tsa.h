/* tsa: RFC 3161 time-stamping client and token verification.
 *
 * tsa_stamp() builds a TimeStampReq (SHA-256 imprint of the data, a random
 * nonce, certReq) with OpenSSL's TS API, POSTs it as
 * application/timestamp-query with libcurl's easy interface, and verifies
 * the TimeStampResp before returning it: status granted, signature by the
 * approved TSA certificate (which must chain to the configured anchors and
 * carry the timeStamping extended key usage), imprint and nonce echoed.
 *
 * It blocks for up to timeout_ms: call it only from a background thread
 * (the message log's stamper), never from an event loop. Needs libcurl
 * initialised (curl_global_init) before the first tsa_client_new. */
#ifndef AILGATE_STORE_TSA_H
#define AILGATE_STORE_TSA_H

#include <stddef.h>
#include <stdint.h>

struct tsa_client;
struct tsa_trust;

/* Largest TimeStampResp accepted from a TSA or from storage. */
#define TSA_MAX_RESPONSE (64 * 1024)

struct tsa_config {
	const char *url;                 /* http:// or https:// */
	const char *tsa_cert_pem;        /* the approved TSA certificate (required) */
	const char *ca_pem;              /* issuer chain / anchors; NULL: the TSA
					    certificate itself is the anchor */
	unsigned timeout_ms;             /* whole request; 0: 10000 */
};

/* Loads the certificates; strings copied. NULL with *err (caller frees). */
struct tsa_client *tsa_client_new(const struct tsa_config *cfg, char **err);
void tsa_client_free(struct tsa_client *c);

/* Stamps data (any bytes; the imprint is their SHA-256). On success returns
 * 0 with *resp (the DER TimeStampResp, caller frees with free()), *resp_len
 * and *gen_time_ms (the token's genTime). -1 with *err (caller frees): no
 * answer, HTTP error, TSA refused, or a response that fails verification. */
int tsa_stamp(struct tsa_client *c, const void *data, size_t len, unsigned char **resp,
	      size_t *resp_len, int64_t *gen_time_ms, char **err) __attribute__((warn_unused_result));

/* Trust for offline verification: anchors from ca_pem (PEM, one or more
 * certificates); when signer_pem is not NULL the token must be signed by
 * exactly that certificate. NULL with *err. */
struct tsa_trust *tsa_trust_new(const char *ca_pem, const char *signer_pem, char **err);
void tsa_trust_free(struct tsa_trust *t);

/* Verifies a stored DER TimeStampResp (at most TSA_MAX_RESPONSE bytes)
 * against data: status granted, signature and chain (checked as of the
 * token's own genTime, so an expired TSA certificate does not void old
 * tokens), timeStamping usage, SHA-256 imprint of data. 0 with
 * *gen_time_ms set, or -1 with *err. */
int tsa_verify(const struct tsa_trust *t, const unsigned char *resp, size_t resp_len,
	       const void *data, size_t len, int64_t *gen_time_ms, char **err)
	__attribute__((warn_unused_result));

/* The same checks with the certificate the token carries as the anchor: its
 * signature, imprint and form hold, whoever signed it (for a token no TSA
 * CA was given for). 0 with *gen_time_ms set, or -1 with *err. */
int tsa_verify_carried(const unsigned char *resp, size_t resp_len, const void *data, size_t len,
		       int64_t *gen_time_ms, char **err) __attribute__((warn_unused_result));

#endif
