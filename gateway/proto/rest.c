/* X-Road REST (r1): request-target, X-Road-* headers, request hash, error
 * bodies. No allocation on the request path except the digest context. */
#include "proto/rest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define R1_FORM "expected /r1/{instance}/{class}/{member}/{subsystem}/{serviceCode}"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long rest_pct_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\0')
			return -1;
		if (c == '%') {
			int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(in[i + 2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (cap == 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* ---- request-target ----------------------------------------------------- */

static const char *const target_parts[5] = { "instance", "member class", "member code",
					     "subsystem code", "service code" };

static char *service_field(struct xrd_id *id, int i)
{
	char *fld[5] = { id->instance, id->member_class, id->member_code, id->subsystem,
			 id->service_code };
	return fld[i];
}

/* Reads the 5 identifier segments from p (just after "/r1/", ending at
 * end); *rest is set to what follows the service code. */
static int read_segments(const char *p, const char *end, struct xrd_id *svc, const char **rest,
			 struct fault *f)
{
	for (int i = 0; i < 5; i++) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash ? slash : end;
		char *dst = service_field(svc, i);

		if (p == end && !slash)
			return fault_set(f, F_CLIENT, "BadRequest", "%s is missing: " R1_FORM,
					 target_parts[i]);
		if (seg_end == p)
			return fault_set(f, F_CLIENT, "BadRequest", "%s is empty: " R1_FORM,
					 target_parts[i]);
		if (rest_pct_decode(p, (size_t)(seg_end - p), dst, XRD_PART_MAX) < 0)
			return fault_set(f, F_CLIENT, "BadRequest",
					 "%s has a bad percent-escape or is too long", target_parts[i]);
		if (!xrd_part_valid(dst))
			return fault_set(f, F_CLIENT, "InvalidServiceIdentifier",
					 "%s \"%s\" holds a character outside A-Z a-z 0-9 ' ( ) + , - . = ?",
					 target_parts[i], dst);
		if (i < 4 && !slash)
			return fault_set(f, F_CLIENT, "BadRequest", "%s is missing: " R1_FORM,
					 target_parts[i + 1]);
		p = i < 4 ? slash + 1 : seg_end;
	}
	*rest = p;
	return 0;
}

/* 1 if the segment s[0..n) is "." or ".." (either dot also as %2e): a dot
 * segment, which an HTTP client or proxy may resolve away (RFC 3986 5.2.4) -
 * libcurl did, after the request had been signed with it, so the provider's
 * gateway saw another path than the one signed and refused the call as a
 * forged signature. */
static int dot_segment(const char *s, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] == '.')
			i++;
		else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E'))
			i += 3;
		else
			return 0;
		dots++;
	}
	return dots == 1 || dots == 2;
}

int rest_parse_target(const char *target, struct rest_req *out, struct fault *f)
{
	const char *q, *end, *rest = NULL;
	size_t tlen;

	memset(&out->service, 0, sizeof(out->service));
	out->path[0] = out->query[0] = '\0';
	tlen = target ? strnlen(target, REST_TARGET_MAX) : 0;
	if (tlen >= REST_TARGET_MAX)
		return fault_set(f, F_CLIENT, "BadRequest", "request target longer than %d bytes",
				 REST_TARGET_MAX - 1);
	if (!target || strncmp(target, "/r1/", 4) != 0)
		return fault_set(f, F_CLIENT, "BadRequest", R1_FORM);
	q = memchr(target, '?', tlen);
	end = q ? q : target + tlen;
	for (const char *s = target + 1; s < end;) {
		const char *e = memchr(s, '/', (size_t)(end - s));
		size_t n = e ? (size_t)(e - s) : (size_t)(end - s);

		if (dot_segment(s, n))
			return fault_set(f, F_CLIENT, "BadRequest", "the path has a '%.*s' segment; send the "
					 "path without dot segments (they would be resolved differently on the "
					 "way)", (int)n, s);
		s += n + 1;
	}
	if (read_segments(target + 4, end, &out->service, &rest, f) < 0) {
		memset(&out->service, 0, sizeof(out->service));
		return -1;
	}
	out->service.type = XRD_SERVICE;
	memcpy(out->path, rest, (size_t)(end - rest));
	out->path[end - rest] = '\0';
	if (q)
		memcpy(out->query, q + 1, tlen - (size_t)(q + 1 - target) + 1);
	return 0;
}

/* ---- X-Road-* headers --------------------------------------------------- */

enum rh { RH_CLIENT, RH_ID, RH_USERID, RH_ISSUE, RH_PARTY, RH_N };

static const char *const rh_names[RH_N] = { "X-Road-Client", "X-Road-Id", "X-Road-UserId",
					   "X-Road-Issue", "X-Road-Represented-Party" };

static int copy_field(const char *v, char *dst, size_t cap, const char *name, struct fault *f)
{
	if (strnlen(v, cap) >= cap)
		return fault_set(f, F_CLIENT, "BadRequest", "%s is longer than %zu bytes", name,
				 cap - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* "[CLASS/]CODE" */
static int read_party(const char *v, struct rest_req *out, struct fault *f)
{
	const char *slash = strchr(v, '/');
	size_t clen = slash ? (size_t)(slash - v) : 0;
	const char *code = slash ? slash + 1 : v;

	if (clen >= XRD_PART_MAX || strnlen(code, XRD_PART_MAX) >= XRD_PART_MAX)
		goto bad;
	memcpy(out->party_class, v, clen);
	out->party_class[clen] = '\0';
	memcpy(out->party_code, code, strlen(code) + 1);
	if ((slash && !xrd_part_valid(out->party_class)) || !xrd_part_valid(out->party_code))
		goto bad;
	out->has_represented_party = 1;
	return 0;
bad:
	out->party_class[0] = out->party_code[0] = '\0';
	return fault_set(f, F_CLIENT, "BadRequest",
			 "X-Road-Represented-Party must be [CLASS/]CODE with parts of "
			 "A-Z a-z 0-9 ' ( ) + , - . = ?");
}

/* Finds each X-Road-* header of interest in one pass over h. */
static int collect(const struct http_hdr *h, size_t n, const char *vals[RH_N], struct fault *f)
{
	for (size_t i = 0; i < n; i++) {
		if (strncasecmp(h[i].name, "X-Road-", 7) != 0)
			continue;
		for (int k = 0; k < RH_N; k++) {
			if (strcasecmp(h[i].name, rh_names[k]) != 0)
				continue;
			if (vals[k])
				return fault_set(f, F_CLIENT, "DuplicateHeaderField",
						 "%s appears more than once", rh_names[k]);
			vals[k] = h[i].value ? h[i].value : "";
		}
	}
	return 0;
}

int rest_parse_headers(const struct http_hdr *h, size_t n, struct rest_req *out, struct fault *f)
{
	const char *v[RH_N] = { NULL };
	char err[160];

	memset(&out->client, 0, sizeof(out->client));
	out->id[0] = out->user_id[0] = out->issue[0] = '\0';
	out->party_class[0] = out->party_code[0] = '\0';
	out->has_represented_party = 0;
	if (collect(h, n, v, f) < 0)
		return -1;
	if (!v[RH_CLIENT])
		return fault_set(f, F_CLIENT, "MissingHeaderField",
				 "X-Road-Client header is required (INSTANCE/CLASS/MEMBER[/SUBSYSTEM])");
	if (xrd_id_parse_path(v[RH_CLIENT], &out->client, err, sizeof(err)) < 0)
		return fault_set(f, F_CLIENT, "InvalidClientIdentifier", "X-Road-Client: %s", err);
	if ((v[RH_ID] && copy_field(v[RH_ID], out->id, sizeof(out->id), rh_names[RH_ID], f) < 0) ||
	    (v[RH_USERID] && copy_field(v[RH_USERID], out->user_id, sizeof(out->user_id),
					rh_names[RH_USERID], f) < 0) ||
	    (v[RH_ISSUE] && copy_field(v[RH_ISSUE], out->issue, sizeof(out->issue),
				       rh_names[RH_ISSUE], f) < 0) ||
	    (v[RH_PARTY] && read_party(v[RH_PARTY], out, f) < 0))
		return -1;
	if (!xrd_message_id_ok(out->id))
		return fault_set(f, F_CLIENT, "BadRequest",
				 "X-Road-Id must be UTF-8 text without control characters (a tab included)");
	return 0;
}

/* ---- forwarding --------------------------------------------------------- */

/* 1 if name is one of the comma-separated tokens of list (OWS around them). */
static int in_token_list(const char *name, const char *list)
{
	size_t nlen = strlen(name);

	while (list && *list) {
		const char *comma = strchr(list, ',');
		const char *e = comma ? comma : list + strlen(list);
		while (list < e && (*list == ' ' || *list == '\t'))
			list++;
		while (e > list && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - list) == nlen && strncasecmp(list, name, nlen) == 0)
			return 1;
		list = comma ? comma + 1 : NULL;
	}
	return 0;
}

int rest_header_forwarded(const char *name, const char *connection_value)
{
	static const char *const dropped[] = {
		"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "User-Agent", "Server", "Content-Length",
	};

	/* Proxy-*, and the signed exchange's own headers (set by gateways only). */
	if (strncasecmp(name, "Proxy-", 6) == 0 || strncasecmp(name, "X-Ailgate-", 10) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (strcasecmp(name, dropped[i]) == 0)
			return 0;
	return !in_token_list(name, connection_value);
}

/* ---- request hash ------------------------------------------------------- */

static const char *const hashed_headers[] = {
	"x-road-client", "x-road-id", "x-road-userid", "x-road-issue",
	"x-road-represented-party", "content-type",
};

const char *const rest_signed_request_headers[] = {
	"x-road-client", "x-road-id", "x-road-userid", "x-road-issue",
	"x-road-represented-party", "content-type",
};
const size_t rest_n_signed_request_headers =
	sizeof(rest_signed_request_headers) / sizeof(rest_signed_request_headers[0]);
const char *const rest_signed_response_headers[] = {
	"content-type", "x-road-client", "x-road-service", "x-road-id", "x-road-request-id",
	"x-road-request-hash", "x-road-error",
};
const size_t rest_n_signed_response_headers =
	sizeof(rest_signed_response_headers) / sizeof(rest_signed_response_headers[0]);

int rest_canonical_message(const char *first_line, const struct http_hdr *h, size_t n,
			   const char *const *names, size_t nnames, const void *body, size_t len,
			   struct buf *out)
{
	if (buf_puts(out, first_line) < 0 || buf_puts(out, "\n") < 0)
		return -1;
	for (size_t i = 0; i < nnames; i++) {
		const char *v = http_hdr_get(h, n, names[i]);
		if (v && buf_printf(out, "%s: %s\n", names[i], v) < 0)
			return -1;
	}
	if (buf_puts(out, "\n") < 0 || (len && buf_append(out, body, len) < 0))
		return -1;
	return 0;
}

/* SHA-512 of the canonical header serialisation H (see rest.h). */
static int hash_headers(EVP_MD_CTX *c, const char *method, const char *target,
			const struct http_hdr *h, size_t n, unsigned char *out)
{
	if (!EVP_DigestInit_ex(c, EVP_sha512(), NULL) ||
	    !EVP_DigestUpdate(c, method, strlen(method)) || !EVP_DigestUpdate(c, " ", 1) ||
	    !EVP_DigestUpdate(c, target, strlen(target)) || !EVP_DigestUpdate(c, "\n", 1))
		return -1;
	for (size_t i = 0; i < sizeof(hashed_headers) / sizeof(hashed_headers[0]); i++) {
		const char *v = http_hdr_get(h, n, hashed_headers[i]);
		if (!v)
			continue;
		if (!EVP_DigestUpdate(c, hashed_headers[i], strlen(hashed_headers[i])) ||
		    !EVP_DigestUpdate(c, ": ", 2) || !EVP_DigestUpdate(c, v, strlen(v)) ||
		    !EVP_DigestUpdate(c, "\n", 1))
			return -1;
	}
	return EVP_DigestFinal_ex(c, out, NULL) ? 0 : -1;
}

int rest_request_hash(const char *method, const char *target, const struct http_hdr *h,
		      size_t n, const void *body, size_t body_len, char *out)
{
	unsigned char both[2 * SHA512_LEN], d[SHA512_LEN];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = -1;

	if (!c || hash_headers(c, method, target, h, n, both) < 0)
		goto out;
	if (body_len && sha512(body, body_len, both + SHA512_LEN) < 0)
		goto out;
	if (sha512(both, body_len ? sizeof(both) : SHA512_LEN, d) < 0)
		goto out;
	b64_encode(d, sizeof(d), out);
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

/* ---- error bodies ------------------------------------------------------- */

typedef int (*escape_fn)(struct buf *, const char *);

/* Escapes s after making it valid UTF-8 without control bytes: the fault
 * struct may have been filled by hand, and both JSON and XML need that. */
static int put_clean(struct buf *out, const char *s, escape_fn esc)
{
	char tmp[FAULT_MSG_MAX];

	snprintf(tmp, sizeof(tmp), "%s", s ? s : "");
	fault_clean_text(tmp);
	return esc(out, tmp);
}

int rest_build_error(const struct fault *f, const char *detail_uuid, int want_xml,
		     struct buf *out, const char **content_type)
{
	size_t start = out->len;
	escape_fn esc = want_xml ? buf_xml_escape : buf_json_escape;
	static const char *const xml_parts[4] = {
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>", "</type><message>",
		"</message><detail>", "</detail></error>\n",
	};
	static const char *const json_parts[4] = { "{\"type\":\"", "\",\"message\":\"",
						   "\",\"detail\":\"", "\"}" };
	const char *const *parts = want_xml ? xml_parts : json_parts;
	const char *vals[3] = { f->code, f->message, detail_uuid };

	if (buf_puts(out, parts[0]) < 0)
		goto fail;
	for (int i = 0; i < 3; i++)
		if (put_clean(out, vals[i], esc) < 0 || buf_puts(out, parts[i + 1]) < 0)
			goto fail;
	*content_type = want_xml ? "application/xml" : "application/json";
	return 0;
fail:
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return -1;
}
