/* Access rights: deny by default.
 *
 * An entry of an allow list (or of a global group) is a SUBSYSTEM, which
 * matches that subsystem only, or a MEMBER, which matches the member itself
 * and every one of its subsystems. Identifiers compare by every part,
 * instance included, so a client of another instance or member class never
 * matches. The service version plays no part: the rights of a service are
 * the union of the allow lists of all its versions, so a caller that
 * looked up "v1", "v2" or no version gets the same answer. */
#include "core/acl.h"

#include <string.h>

static int entry_matches(const struct xrd_id *entry, const struct xrd_id *client)
{
	if (entry->type == XRD_MEMBER)
		return xrd_id_same_member(entry, client);
	return entry->type == XRD_SUBSYSTEM && client->type == XRD_SUBSYSTEM &&
	       xrd_id_same_subsystem(entry, client);
}

static int list_matches(const struct xrd_id *list, size_t n, const struct xrd_id *client)
{
	for (size_t i = 0; i < n; i++)
		if (entry_matches(&list[i], client))
			return 1;
	return 0;
}

static int service_lists_match(const struct gconf *g, const struct gc_service *svc,
			       const struct xrd_id *client)
{
	if (list_matches(svc->allow, svc->n_allow, client))
		return 1;
	for (size_t i = 0; i < svc->n_allow_groups; i++) {
		const struct gc_group *gr = gconf_group(g, svc->allow_groups[i]);

		if (gr && list_matches(gr->members, gr->n_members, client))
			return 1;
	}
	return 0;
}

int acl_acts_for_user(const struct gconf *g, const struct xrd_id *client)
{
	for (size_t i = 0; g && client && i < gconf_n_groups(g); i++) {
		const struct gc_group *gr = gconf_group_at(g, i);

		if (gr->acts_for_user && list_matches(gr->members, gr->n_members, client))
			return 1;
	}
	return 0;
}

int acl_allows(const struct gconf *g, const struct gc_service *svc, const struct xrd_id *client)
{
	size_t n;

	if (!g || !svc || !client)
		return 0;
	if (client->type != XRD_MEMBER && client->type != XRD_SUBSYSTEM)
		return 0;
	/* A MEMBER entry covers subsystems that exist, not any name a caller
	 * makes up under that member. */
	if (!gconf_client_exists(g, client))
		return 0;
	if (service_lists_match(g, svc, client))
		return 1;
	/* Other versions of the same service: only reached on the way to a
	 * denial, so the linear scan stays off the common path. */
	n = gconf_n_services(g);
	for (size_t i = 0; i < n; i++) {
		const struct gc_service *o = gconf_service_at(g, i);

		if (o != svc && xrd_id_same_service(&o->id, &svc->id) &&
		    service_lists_match(g, o, client))
			return 1;
	}
	return 0;
}
