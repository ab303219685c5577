/* Access rights: deny by default; subsystem, member and group entries;
 * the version plays no part; other instances and classes never match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/acl.h"
#include "core/globalconf.h"

static const char doc[] =
	"<globalConf xmlns=\"urn:ailgate:globalconf:1\">"
	"<instance>central-server</instance>"
	"<memberClass code=\"GOV\">State</memberClass>"
	"<memberClass code=\"COM\">Companies</memberClass>"
	"<member class=\"GOV\" code=\"70000005\" name=\"Population registry\"><subsystem code=\"passport-service\"/></member>"
	"<member class=\"GOV\" code=\"70000050\" name=\"Ail okmotu\">"
	"<subsystem code=\"household-register\"/><subsystem code=\"certificates\"/><subsystem code=\"billing\"/></member>"
	"<member class=\"GOV\" code=\"70000073\" name=\"Portal\"><subsystem code=\"portal\"/><subsystem code=\"kiosk\"/></member>"
	"<member class=\"COM\" code=\"60000001\" name=\"Bank\"><subsystem code=\"bank-is\"/><subsystem code=\"bank-registry\"/></member>"
	"<member class=\"COM\" code=\"60000002\" name=\"Other bank\"><subsystem code=\"other-bank\"/></member>"
	/* same code and subsystem as the municipality, other class */
	"<member class=\"COM\" code=\"70000050\" name=\"Namesake company\"><subsystem code=\"certificates\"/></member>"
	"<group code=\"banks\"><client>COM/60000001/bank-is</client></group>"
	"<group code=\"municipalities\"><client>GOV/70000050</client></group>"
	"<group code=\"citizen-facing\" actsForUser=\"true\"><client>GOV/70000073/kiosk</client></group>"
	"<group code=\"plain\" actsForUser=\"false\"><client>GOV/70000073/portal</client></group>"
	"<service client=\"GOV/70000005/passport-service\" code=\"personByPin\" version=\"v1\" type=\"soap\" adapter=\"p\">"
	"<allow>GOV/70000050/certificates</allow></service>"
	"<service client=\"GOV/70000005/passport-service\" code=\"personByPin\" version=\"v2\" type=\"soap\" adapter=\"p\">"
	"<allow>GOV/70000073/portal</allow></service>"
	"<service client=\"GOV/70000050/household-register\" code=\"family-members\" type=\"rest\" adapter=\"h\">"
	"<allow>GOV/70000073</allow><allowGroup>banks</allowGroup></service>"
	"<service client=\"GOV/70000050/household-register\" code=\"livestock\" type=\"rest\" adapter=\"h\">"
	"<allowGroup>municipalities</allowGroup></service>"
	"<service client=\"GOV/70000050/household-register\" code=\"closed\" type=\"rest\" adapter=\"h\"/>"
	"</globalConf>";

static int setup(void **state)
{
	struct gconf *g = NULL;
	char *err = NULL;

	if (gconf_load_mem(doc, strlen(doc), "acl.xml", NULL, &g, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return -1;
	}
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	struct gconf *g = *state;

	gconf_unref(&g);
	return 0;
}

static const struct gc_service *service(const struct gconf *g, const char *text)
{
	struct xrd_id id;
	char err[128];
	const struct gc_service *s;

	if (xrd_id_parse(text, &id, err, sizeof(err)) != 0)
		fail_msg("bad test id %s: %s", text, err);
	s = gconf_service(g, &id);
	if (!s)
		fail_msg("no service %s", text);
	return s;
}

#define SVC "SERVICE:central-server/"
#define PERSON SVC "GOV/70000005/passport-service/personByPin"
#define FAMILY SVC "GOV/70000050/household-register/family-members"
#define LIVESTOCK SVC "GOV/70000050/household-register/livestock"
#define CLOSED SVC "GOV/70000050/household-register/closed"

static void test_acl_table(void **state)
{
	static const struct { const char *service, *client; int allowed; const char *why; } cases[] = {
		{ PERSON "/v1", "central-server/GOV/70000050/certificates", 1, "subsystem listed" },
		{ PERSON "/v1", "central-server/GOV/70000050/billing", 0, "sibling subsystem not listed" },
		{ PERSON "/v1", "central-server/GOV/70000050", 0, "member when only a subsystem is listed" },
		{ PERSON "/v1", "central-server/GOV/70000073/portal", 1, "version ignored: v2 lists it" },
		{ PERSON "/v2", "central-server/GOV/70000050/certificates", 1, "version ignored: v1 lists it" },
		{ PERSON, "central-server/GOV/70000050/certificates", 1, "no version asked" },
		{ PERSON "/v1", "central-server/COM/70000050/certificates", 0, "same code, other class" },
		{ PERSON "/v1", "other-instance/GOV/70000050/certificates", 0, "other instance" },
		{ FAMILY, "central-server/GOV/70000073/portal", 1, "member covers its subsystems" },
		{ FAMILY, "central-server/GOV/70000073/kiosk", 1, "member covers its subsystems" },
		{ FAMILY, "central-server/GOV/70000073", 1, "the member itself" },
		{ FAMILY, "central-server/GOV/70000073/nosuch", 0, "undeclared subsystem of an allowed member" },
		{ FAMILY, "other-instance/GOV/70000073/portal", 0, "allowed member, other instance" },
		{ FAMILY, "central-server/COM/60000001/bank-is", 1, "group lists the subsystem" },
		{ FAMILY, "central-server/COM/60000001/bank-registry", 0, "group lists a sibling only" },
		{ FAMILY, "central-server/COM/60000001", 0, "group lists a subsystem, not the member" },
		{ FAMILY, "central-server/COM/60000002/other-bank", 0, "not listed anywhere" },
		{ FAMILY, "central-server/GOV/70000050/certificates", 0, "own member is not implied" },
		{ LIVESTOCK, "central-server/GOV/70000050/billing", 1, "group lists the member" },
		{ LIVESTOCK, "central-server/GOV/70000050", 1, "group lists the member itself" },
		{ LIVESTOCK, "central-server/COM/70000050/certificates", 0, "group member, other class" },
		{ CLOSED, "central-server/GOV/70000050/household-register", 0, "empty allow list: owner too" },
		{ CLOSED, "central-server/COM/60000001/bank-is", 0, "empty allow list" },
	};
	struct gconf *g = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct gc_service *s = service(g, cases[i].service);
		struct xrd_id client;
		char err[128];

		if (xrd_id_parse_path(cases[i].client, &client, err, sizeof(err)) != 0)
			fail_msg("bad test id %s", cases[i].client);
		if (acl_allows(g, s, &client) != cases[i].allowed)
			fail_msg("%s by %s: want %d (%s)", cases[i].service, cases[i].client,
				 cases[i].allowed, cases[i].why);
	}
}

static void test_acl_bad_input(void **state)
{
	struct gconf *g = *state;
	const struct gc_service *s = service(g, FAMILY);
	struct xrd_id client, svc_as_client;
	char err[128];

	assert_int_equal(xrd_id_parse_path("central-server/GOV/70000073/portal", &client, err, sizeof(err)), 0);
	assert_int_equal(acl_allows(g, s, &client), 1);
	assert_int_equal(acl_allows(NULL, s, &client), 0);
	assert_int_equal(acl_allows(g, NULL, &client), 0);
	assert_int_equal(acl_allows(g, s, NULL), 0);
	/* a SERVICE id is not a client, even if its owner would be allowed */
	assert_int_equal(xrd_id_parse("SERVICE:central-server/GOV/70000073/portal/x", &svc_as_client,
				      err, sizeof(err)), 0);
	assert_int_equal(acl_allows(g, s, &svc_as_client), 0);
}

/* actsForUser groups: their clients act for a signed-in person. */
static void test_acts_for_user(void **state)
{
	struct gconf *g = *state, *bad = NULL;
	struct xrd_id kiosk, portal, clerk;
	char err[128], *e = NULL;
	const char *bad_doc = strstr(doc, "actsForUser=\"true\"");
	char *copy = strdup(doc);

	assert_int_equal(xrd_id_parse_path("central-server/GOV/70000073/kiosk", &kiosk, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse_path("central-server/GOV/70000073/portal", &portal, err, sizeof(err)), 0);
	assert_int_equal(xrd_id_parse_path("central-server/GOV/70000050/household-register", &clerk, err,
					   sizeof(err)), 0);
	assert_int_equal(acl_acts_for_user(g, &kiosk), 1);
	assert_int_equal(acl_acts_for_user(g, &portal), 0);   /* in a group with actsForUser="false" */
	assert_int_equal(acl_acts_for_user(g, &clerk), 0);
	assert_int_equal(acl_acts_for_user(NULL, &kiosk), 0);
	/* only true or false (1, 0) */
	assert_non_null(bad_doc);
	memcpy(copy + (bad_doc - doc), "actsForUser=\"yes!\"", 18);
	assert_int_not_equal(gconf_load_mem(copy, strlen(copy), "acl.xml", NULL, &bad, &e), 0);
	assert_non_null(e && strstr(e, "actsForUser must be true or false"));
	free(e);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_acl_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acl_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acts_for_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
