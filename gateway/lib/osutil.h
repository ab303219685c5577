/* osutil: the few system-call loops and clock sums several modules need. */
#ifndef AILGATE_LIB_OSUTIL_H
#define AILGATE_LIB_OSUTIL_H

#include <stddef.h>
#include <time.h>

/* Writes all n bytes to fd, going on after EINTR and short writes. 0, or
 * -1 with errno set. */
int fd_write_all(int fd, const void *p, size_t n);

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double ms_since(const struct timespec *t0);

#endif
