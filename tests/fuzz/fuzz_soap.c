/* Fuzz target for proto/soap: parse as request and response; for what
 * parses, build the response and require that it parses back and passes
 * soap_check_response (our own output must always satisfy our own check);
 * set a requestHash on responses; build and reparse a fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/soap.h"

#define FUZZ_MAX_INPUT (1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	soap_global_init();
	return 0;
}

static int count_param(const char *name, const char *value, void *arg)
{
	(*(size_t *)arg) += strlen(name) + strlen(value);
	return 0;
}

static void request_roundtrip(const uint8_t *data, size_t size)
{
	struct soap_msg req, resp;
	struct fault f;
	struct buf out;
	char hash[B64_SHA512_LEN];
	size_t n = 0;

	if (soap_parse(data, size, SOAP_REQUEST, F_CLIENT, &req, &f) != 0)
		return;
	if (req.service.type != XRD_SERVICE || strcmp(req.protocol_version, "4.0") != 0 ||
	    (req.client.type != XRD_MEMBER && req.client.type != XRD_SUBSYSTEM))
		abort();
	soap_body_params(&req, count_param, &n);
	buf_init(&out, 4u << 20);
	if (soap_request_hash(data, size, hash) == 0 &&
	    soap_build_response(&req, hash, "<r>1</r><s/>", 12, &out) == 0) {
		if (soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &resp, &f) != 0)
			abort();
		if (soap_check_response(&req, &resp, hash, &f) != 0)
			abort();
		soap_msg_free(&resp);
	}
	buf_free(&out);
	soap_msg_free(&req);
}

static void response_paths(const uint8_t *data, size_t size)
{
	struct soap_msg resp, again;
	struct fault f;
	struct buf out;

	if (soap_parse(data, size, SOAP_RESPONSE, F_CPROXY, &resp, &f) != 0)
		return;
	buf_init(&out, 4u << 20);
	if (soap_set_request_hash(&resp, "AAAA", &out) == 0) {
		if (soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &again, &f) != 0)
			abort();
		if (!again.is_fault && strcmp(again.request_hash, "AAAA") != 0)
			abort();
		soap_msg_free(&again);
	}
	buf_free(&out);
	soap_msg_free(&resp);
}

static void fault_roundtrip(const uint8_t *data, size_t size)
{
	struct fault f, g;
	struct buf out = BUF_INIT;
	struct soap_msg m;

	fault_set(&f, F_SPROXY, "InternalError", "%.*s", (int)(size > 400 ? 400 : size),
		  (const char *)data);
	if (soap_build_fault(&f, "uuid", &out) == 0) {
		if (soap_parse(out.data, out.len, SOAP_RESPONSE, F_CPROXY, &m, &g) != 0 || !m.is_fault ||
		    strcmp(m.fault_code, f.code) != 0)
			abort();
		soap_msg_free(&m);
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	request_roundtrip(data, size);
	response_paths(data, size);
	fault_roundtrip(data, size);
	return 0;
}
