#include "osutil.h"   /* also built into seeddb, without the gateway include path */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fd_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int file_read_max(const char *path, size_t max, char **data, size_t *len, char *why, size_t why_len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	int rc = -1;

	*data = NULL;
	*len = 0;
	if (!f) {
		snprintf(why, why_len, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(why, why_len, "is a directory, not a file");
	} else if (!(text = malloc(max + 1))) {
		snprintf(why, why_len, "out of memory");
	} else {
		n = fread(text, 1, max + 1, f);
		if (ferror(f))
			snprintf(why, why_len, "cannot read: %s", strerror(errno));
		else if (n > max)
			snprintf(why, why_len, "larger than %zu bytes, the most that is read", max);
		else
			rc = 0;
	}
	fclose(f);
	if (rc < 0) {
		free(text);
		return -1;
	}
	text[n] = '\0';
	*data = text;
	*len = n;
	return 0;
}
