/* osutil: the few system-call loops and clock sums several modules need. */
#ifndef AILGATE_LIB_OSUTIL_H
#define AILGATE_LIB_OSUTIL_H

#include <stddef.h>
#include <time.h>

/* Writes all n bytes to fd, going on after EINTR and short writes. 0, or
 * -1 with errno set. */
int fd_write_all(int fd, const void *p, size_t n);

/* Reads the whole file at path - at most max bytes - into a malloc'd
 * buffer with a NUL after the last byte (*data; *len bytes). 0, or -1 with
 * why saying it for a person, without the path: "cannot open: No such file
 * or directory", "is a directory", "larger than 1048576 bytes", "cannot
 * read: ...", "out of memory". */
int file_read_max(const char *path, size_t max, char **data, size_t *len, char *why, size_t why_len);

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double ms_since(const struct timespec *t0);

#endif
