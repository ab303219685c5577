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

#endif
