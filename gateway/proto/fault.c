/* Faults: setting them, cleaning their text, normalising received codes. */
#include "proto/fault.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"

void fault_clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = utf8_xml_len(p);
		if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

/* 400 for codes that blame the calling system. */
static int status_for(const char *code)
{
	return strncasecmp(code, F_CLIENT, strlen(F_CLIENT)) == 0 ? 400 : 500;
}

int fault_set(struct fault *f, const char *prefix, const char *reason, const char *fmt, ...)
{
	va_list ap;

	snprintf(f->code, sizeof(f->code), "%s%s", prefix, reason);
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	/* Messages often quote the offending input; keep them printable and
	 * valid UTF-8 so every error body we build stays well-formed. */
	fault_clean_text(f->message);
	f->http_status = status_for(f->code);
	return -1;
}

void fault_set_code(struct fault *f, const char *code, const char *message)
{
	snprintf(f->code, sizeof(f->code), "%s", code ? code : "");
	snprintf(f->message, sizeof(f->message), "%s", message ? message : "");
	fault_clean_text(f->code);
	fault_clean_text(f->message);
	f->http_status = status_for(f->code);
}

void fault_clear(struct fault *f)
{
	f->http_status = 0;
	f->code[0] = '\0';
	f->message[0] = '\0';
}

/* Parts we know, spelled as X-Road spells them. A received part is looked
 * up ignoring case and underscores, so "io_error", "IOERROR" and "IOError"
 * all come out as "IOError" - plain snake-to-Camel conversion could not
 * restore such acronyms. */
static const char *const known_parts[] = {
	"Client", "Server", "ClientProxy", "ServerProxy", "AccessDenied", "UnknownService",
	"ServiceDisabled", "UnknownMember", "InvalidSignatureValue", "MissingSignature",
	"MalformedSignature", "InvalidProtocolVersion", "InvalidClientIdentifier",
	"InvalidServiceIdentifier", "MissingHeaderField", "DuplicateHeaderField",
	"InconsistentHeaders", "InconsistentResponse", "SslAuthenticationFailed",
	"MimeParsingFailed", "OutdatedGlobalConf", "NetworkError", "ServiceFailed", "IOError",
	"MissingBody", "DatabaseError", "InternalError", "LoggingFailed", "TimestamperFailed",
	"InvalidHttpMethod", "InvalidSoap", "InvalidXml", "BadRequest", "InvalidRequest",
	"InvalidBody", "HttpError", "ServiceTimeout",
};

/* Compares the part p (n bytes) to a known spelling, ignoring case and '_'. */
static int part_matches(const char *p, size_t n, const char *known)
{
	size_t i = 0;

	for (; *known; known++) {
		while (i < n && p[i] == '_')
			i++;
		if (i == n || tolower((unsigned char)p[i]) != tolower((unsigned char)*known))
			return 0;
		i++;
	}
	while (i < n && p[i] == '_')
		i++;
	return i == n;
}

/* Writes one dotted part in CamelCase; returns bytes written or -1. */
static int convert_part(const char *p, size_t n, char *out, size_t room)
{
	size_t o = 0;
	int up = 1;

	for (size_t k = 0; k < sizeof(known_parts) / sizeof(known_parts[0]); k++)
		if (part_matches(p, n, known_parts[k])) {
			size_t kl = strlen(known_parts[k]);
			if (kl >= room)
				return -1;
			memcpy(out, known_parts[k], kl);
			return (int)kl;
		}
	/* Unknown: snake_case -> CamelCase; a part already in CamelCase keeps
	 * its inner capitals. */
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '_') {
			up = 1;
			continue;
		}
		if (o + 1 >= room)
			return -1;
		out[o++] = up ? (char)toupper((unsigned char)p[i]) : p[i];
		up = 0;
	}
	return o ? (int)o : -1;
}

int fault_code_normalize(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = in;

	if (!in || !*in || outlen == 0 || strnlen(in, FAULT_CODE_MAX) >= FAULT_CODE_MAX)
		return -1;
	for (const char *c = in; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.')
			return -1;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		int w;

		if (n == 0)
			return -1;
		w = convert_part(p, n, out + o, outlen - o);
		if (w < 0)
			return -1;
		o += (size_t)w;
		if (!dot)
			break;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = '.';
		p = dot + 1;
	}
	out[o] = '\0';
	return 0;
}
