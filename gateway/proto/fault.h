/* Faults: the exchange's technical errors.
 *
 * Codes use X-Road's dotted CamelCase form, prefixed by where the failure
 * happened: "Client.", "Server.ClientProxy.", "Server.ServerProxy.". We emit
 * that form only; fault_code_normalize() accepts X-Road 7.8's lower snake case
 * ("server.serverproxy.access_denied") too, for codes we parse from peers. */
#ifndef AILGATE_PROTO_FAULT_H
#define AILGATE_PROTO_FAULT_H

#include <stddef.h>

#define FAULT_CODE_MAX 128
#define FAULT_MSG_MAX 512

/* Prefixes */
#define F_CLIENT "Client."
#define F_CPROXY "Server.ClientProxy."
#define F_SPROXY "Server.ServerProxy."

struct fault {
	int http_status;              /* 400 for Client.*, 500 otherwise, unless set */
	char code[FAULT_CODE_MAX];    /* e.g. "Client.MissingHeaderField"; "" = no fault */
	char message[FAULT_MSG_MAX];  /* for a person: what is wrong and what to do */
	char allow[16];               /* a 405's Allow header (RFC 9110 15.5.6): the method the
					 service answers; "" otherwise */
};

/* Sets code = prefix + reason and a printf-style message. http_status is 400
 * when prefix is F_CLIENT, 500 otherwise. Returns -1 so callers can
 * "return fault_set(...)". */
int fault_set(struct fault *f, const char *prefix, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sets a full code as received (e.g. from a peer gateway). */
void fault_set_code(struct fault *f, const char *code, const char *message);
static inline int fault_is_set(const struct fault *f) { return f->code[0] != '\0'; }
void fault_clear(struct fault *f);

/* Converts a code in either form to the dotted CamelCase form:
 * "server.serverproxy.access_denied" -> "Server.ServerProxy.AccessDenied".
 * Each dotted part is matched, ignoring case and '_', against the parts
 * X-Road uses (so "service_failed.io_error" gives "ServiceFailed.IOError");
 * other parts go from snake_case to CamelCase. Returns 0, or -1 if in is
 * empty, too long, has an empty part or a byte other than [A-Za-z0-9_.]. */
int fault_code_normalize(const char *in, char *out, size_t outlen);

/* Makes s safe to put in any error body, in place: every byte that is not
 * part of valid UTF-8, and every control character except tab, CR and LF,
 * becomes '?'. fault_set() and fault_set_code() apply it already. */
void fault_clean_text(char *s);

#endif
