/* Unit tests for proto/xrd_id: text and path forms, every character, caps,
 * comparisons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/xrd_id.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct id_ok {
	const char *text;
	enum xrd_type type;
	const char *inst, *cls, *code, *sub, *svc, *ver;
};

static const struct id_ok ids_ok[] = {
	{ "MEMBER:central-server/GOV/70000005", XRD_MEMBER, "central-server", "GOV", "70000005", "", "", "" },
	{ "SUBSYSTEM:central-server/GOV/70000050/household-register", XRD_SUBSYSTEM,
	  "central-server", "GOV", "70000050", "household-register", "", "" },
	{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN", XRD_SERVICE,
	  "central-server", "GOV", "70000005", "passport-service", "passportDataByPSN", "" },
	{ "SERVICE:central-server/GOV/70000005/passport-service/passportDataByPSN/v1", XRD_SERVICE,
	  "central-server", "GOV", "70000005", "passport-service", "passportDataByPSN", "v1" },
	{ "MEMBER:AZaz09'()+,-.=?/C/M", XRD_MEMBER, "AZaz09'()+,-.=?", "C", "M", "", "", "" },
};

static void test_parse_ok(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(ids_ok); i++) {
		const struct id_ok *c = &ids_ok[i];
		struct xrd_id id, again;
		char err[128], t[XRD_ID_TEXT_MAX];

		if (xrd_id_parse(c->text, &id, err, sizeof(err)) != 0)
			fail_msg("%s: %s", c->text, err);
		assert_int_equal(id.type, c->type);
		assert_string_equal(id.instance, c->inst);
		assert_string_equal(id.member_class, c->cls);
		assert_string_equal(id.member_code, c->code);
		assert_string_equal(id.subsystem, c->sub);
		assert_string_equal(id.service_code, c->svc);
		assert_string_equal(id.service_version, c->ver);
		/* format is the inverse of parse */
		assert_string_equal(xrd_id_format(&id, t, sizeof(t)), c->text);
		assert_int_equal(xrd_id_parse(t, &again, err, sizeof(err)), 0);
		assert_true(xrd_id_equal(&id, &again));
	}
}

struct id_bad {
	const char *text;
	const char *msg; /* substring of err */
};

static const struct id_bad ids_bad[] = {
	{ "", "expected TYPE:" },
	{ "central-server/GOV/1", "expected TYPE:" },
	{ "GROUP:central-server/GOV/1", "unknown identifier type" },
	{ "member:central-server/GOV/1", "unknown identifier type" },
	{ ":a/b/c", "unknown identifier type" },
	{ "MEMBER:central-server/GOV", "member code is missing" },
	{ "MEMBER:central-server/GOV/1/sub", "too many parts" },
	{ "SUBSYSTEM:central-server/GOV/1", "subsystem code is missing" },
	{ "SUBSYSTEM:a/b/c/d/e", "too many parts" },
	{ "SERVICE:a/b/c/d", "service code is missing" },
	{ "SERVICE:a/b/c/d/e/f/g", "too many parts" },
	{ "MEMBER:a//c", "member class is empty" },
	{ "MEMBER:a/b/", "member code is empty" },
	{ "MEMBER:/b/c", "instance is empty" },
	{ "SERVICE:a/b/c/d/e/", "service version is empty" },
	{ "MEMBER:a/b c/d", "member class holds a character" },
	{ "MEMBER:a/b/c\n", "member code holds a character" },
	{ "MEMBER:a:b/c/d", "instance holds a character" },
};

static void test_parse_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(ids_bad); i++) {
		struct xrd_id id;
		char err[128] = "";

		if (xrd_id_parse(ids_bad[i].text, &id, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", ids_bad[i].text);
		if (!strstr(err, ids_bad[i].msg))
			fail_msg("\"%s\": message \"%s\"", ids_bad[i].text, err);
		assert_int_equal(id.type, XRD_NONE);
		assert_string_equal(id.instance, "");
	}
}

/* Every byte outside the alphabet is refused, every byte inside accepted. */
static void test_every_character(void **state)
{
	const char *allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+,-.=?";
	int n_ok = 0;

	for (int c = 1; c < 256; c++) {
		char part[4] = { 'a', (char)c, 'b', '\0' };
		char text[32];
		struct xrd_id id;
		char err[128];
		int want = strchr(allowed, c) != NULL;

		assert_int_equal(xrd_part_valid(part), want);
		snprintf(text, sizeof(text), "MEMBER:i/c/%s", part);
		/* '/' splits parts: a 4th part for MEMBER */
		assert_int_equal(xrd_id_parse(text, &id, err, sizeof(err)) == 0, want);
		n_ok += want;
	}
	assert_int_equal(n_ok, 71);
	assert_false(xrd_part_valid(""));
	assert_false(xrd_part_valid(NULL));
}

static void test_length_cap(void **state)
{
	char part[XRD_PART_MAX + 1];
	char text[XRD_PART_MAX + 32];
	struct xrd_id id;
	char err[128];

	memset(part, 'x', sizeof(part));
	part[XRD_PART_MAX - 1] = '\0'; /* 127 bytes: the longest allowed */
	assert_true(xrd_part_valid(part));
	snprintf(text, sizeof(text), "MEMBER:i/c/%s", part);
	assert_int_equal(xrd_id_parse(text, &id, err, sizeof(err)), 0);
	assert_int_equal(strlen(id.member_code), XRD_PART_MAX - 1);
	part[XRD_PART_MAX - 1] = 'x';
	part[XRD_PART_MAX] = '\0'; /* 128 bytes */
	assert_false(xrd_part_valid(part));
	snprintf(text, sizeof(text), "MEMBER:i/c/%s", part);
	assert_int_equal(xrd_id_parse(text, &id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "member code is too long"));
}

static void test_whole_text_cap(void **state)
{
	static char text[XRD_ID_TEXT_MAX + 100];
	struct xrd_id id;
	char err[128];

	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "SERVICE:", 8);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(xrd_id_parse(text, &id, err, sizeof(err)), -1);
	assert_int_equal(xrd_id_parse_path(text, &id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(xrd_id_parse(NULL, &id, err, sizeof(err)), -1);
}

struct path_case {
	const char *text;
	int ok;
	enum xrd_type type;
};

static const struct path_case paths[] = {
	{ "central-server/GOV/70000050/household-register", 1, XRD_SUBSYSTEM },
	{ "central-server/GOV/70000050", 1, XRD_MEMBER },
	{ "central-server/GOV", 0, XRD_NONE },
	{ "central-server/GOV/1/sub/x", 0, XRD_NONE },
	{ "central-server/GOV/1/", 0, XRD_NONE },
	{ "SUBSYSTEM:central-server/GOV/1/s", 0, XRD_NONE },
	{ "", 0, XRD_NONE },
};

static void test_path_form(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		struct xrd_id id;
		char err[128], t[XRD_ID_TEXT_MAX];
		int rc = xrd_id_parse_path(paths[i].text, &id, err, sizeof(err));

		assert_int_equal(rc == 0, paths[i].ok);
		assert_int_equal(id.type, paths[i].type);
		if (rc == 0)
			assert_string_equal(xrd_id_format_path(&id, t, sizeof(t)), paths[i].text);
	}
}

static void test_format_forms(void **state)
{
	struct xrd_id svc;
	char err[128], t[XRD_ID_TEXT_MAX], small[12];

	assert_int_equal(xrd_id_parse("SERVICE:I/C/M/S/svc/v2", &svc, err, sizeof(err)), 0);
	assert_string_equal(xrd_id_format_path(&svc, t, sizeof(t)), "I/C/M/S/svc/v2");
	/* truncation is safe and NUL-terminated */
	assert_ptr_equal(xrd_id_format(&svc, small, sizeof(small)), small);
	assert_string_equal(small, "SERVICE:I/C");
	/* every cut is the full text's prefix, as snprintf would give */
	for (size_t cap = 1; cap <= sizeof("SERVICE:I/C/M/S/svc/v2") + 1; cap++) {
		char cut[32];
		memset(cut, 'x', sizeof(cut));
		xrd_id_format(&svc, cut, cap);
		assert_int_equal(strlen(cut), cap - 1 < 22 ? cap - 1 : 22);
		assert_memory_equal(cut, "SERVICE:I/C/M/S/svc/v2", strlen(cut));
		assert_int_equal(cut[cap], 'x');   /* nothing written past the buffer */
	}
}

static void test_comparisons(void **state)
{
	struct xrd_id s1, s1v, s2, sub, sub2, mem, owner;
	char err[128];

	assert_int_equal(xrd_id_parse("SERVICE:I/C/M/S/svc", &s1, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("SERVICE:I/C/M/S/svc/v9", &s1v, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("SERVICE:I/C/M/S/other", &s2, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("SUBSYSTEM:I/C/M/S", &sub, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("SUBSYSTEM:I/C/M/T", &sub2, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse("MEMBER:I/C/M", &mem, err, sizeof(err)), 0);

	assert_false(xrd_id_equal(&s1, &s1v));
	assert_true(xrd_id_same_service(&s1, &s1v)); /* version ignored */
	assert_false(xrd_id_same_service(&s1, &s2));
	assert_false(xrd_id_same_service(&sub, &sub));  /* not services */
	assert_true(xrd_id_same_subsystem(&s1, &sub));  /* type ignored */
	assert_false(xrd_id_same_subsystem(&sub, &sub2));
	assert_true(xrd_id_same_member(&sub, &sub2));
	assert_true(xrd_id_same_member(&mem, &s1));
	assert_false(xrd_id_equal(&mem, &sub));
	assert_true(xrd_id_equal(&sub, &sub));

	xrd_id_service_owner(&s1v, &owner);
	assert_true(xrd_id_equal(&owner, &sub));
	xrd_id_service_owner(&s1v, &s1v); /* in place */
	assert_true(xrd_id_equal(&s1v, &sub));
}

/* What a message id may hold: one line of UTF-8 text (the signer refuses
 * the rest, so the parsers must, as the client's mistake). */
static void test_message_id(void **state)
{
	static const char *const ok[] = { "", "4894e41a-54a5-4f5a-9b2f-0d5f4c1e7a61", "a b", "x=1 y=\"2\"",
					   "\xd0\xb0\xd0\xb1", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	static const char *const bad[] = { "a\tb", "a\nb", "a\rb", "\x01", "a\x7f", "\xff\xfe", "\xc3",
					    "\xc0\xaf", "\xed\xa0\x80", "\xef\xbf\xbe", "ok\x1b[31m" };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!xrd_message_id_ok(ok[i]))
			fail_msg("refused: %s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xrd_message_id_ok(bad[i]))
			fail_msg("accepted case %zu", i);
}

static void test_type_names(void **state)
{
	assert_string_equal(xrd_type_name(XRD_MEMBER), "MEMBER");
	assert_string_equal(xrd_type_name(XRD_SUBSYSTEM), "SUBSYSTEM");
	assert_string_equal(xrd_type_name(XRD_SERVICE), "SERVICE");
	assert_int_equal(xrd_type_from_name("SERVICE"), XRD_SERVICE);
	assert_int_equal(xrd_type_from_name("SUBSYSTEM"), XRD_SUBSYSTEM);
	assert_int_equal(xrd_type_from_name("MEMBER"), XRD_MEMBER);
	assert_int_equal(xrd_type_from_name("Member"), XRD_NONE);
	assert_int_equal(xrd_type_from_name(NULL), XRD_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_every_character),
		cmocka_unit_test(test_length_cap),
		cmocka_unit_test(test_whole_text_cap),
		cmocka_unit_test(test_path_form),
		cmocka_unit_test(test_format_forms),
		cmocka_unit_test(test_comparisons),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_message_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
