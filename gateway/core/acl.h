/* Access rights: deny by default. A client may call a service if the
 * service's allow list names the client subsystem (or its member), or a
 * global group that contains it. The service version is ignored: the allow
 * lists of every version of the service count. The client must exist in g
 * (a MEMBER entry covers the member's declared subsystems only). */
#ifndef AILGATE_CORE_ACL_H
#define AILGATE_CORE_ACL_H

#include "core/globalconf.h"

/* 1 if allowed, 0 if not. */
int acl_allows(const struct gconf *g, const struct gc_service *svc, const struct xrd_id *client);

/* 1 if client acts for a signed-in person (a member of a global group with
 * actsForUser="true": a portal, a kiosk), so that a service about a person
 * (subjectParam) answers it about the person its X-Road-UserId names only. */
int acl_acts_for_user(const struct gconf *g, const struct xrd_id *client);

#endif
