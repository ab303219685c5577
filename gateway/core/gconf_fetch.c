/* gconf_fetch: the global-configuration fetcher thread and its file and
 * download helpers (see gconf_fetch.h).
 *
 * One thread, one condition variable: it sleeps refresh_s seconds (on the
 * monotonic clock) or until kicked or stopped, reads the source with a
 * blocking call (file read or libcurl easy transfer, both bounded), and
 * hands changed bytes to the owner. Stopping sets a flag the download's
 * progress callback reads, so a slow server cannot hold up shutdown. */
#include "core/gconf_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "lib/osutil.h"
#include "net/outbound.h"

struct gcf {
	char *source;
	unsigned refresh_s, timeout_ms;
	size_t max;
	struct gcf_hooks hooks;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop, kick;               /* under lock */
	atomic_int cancel;            /* read by the download's progress callback */
	unsigned char last[32];       /* SHA-256 of the bytes last handed over */
	int have_last;                /* fetcher thread only, after start */
};

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

int gcf_is_url(const char *s)
{
	return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

/* ---- files -------------------------------------------------------------------- */

int gcf_read_file(const char *path, size_t max, char **data, size_t *len, char **err)
{
	char why[256];

	if (file_read_max(path, max, data, len, why, sizeof(why)) < 0)
		return errf(err, "%s: %s", path, why);
	return 0;
}

/* The directory entry of the rename reaches the disk too. */
static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(copy);
}

int gcf_write_atomic(const char *path, const void *data, size_t len, char **err)
{
	char *tmp = NULL;
	int fd = -1, e;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return errf(err, "%s: out of memory", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_write_all(fd, data, len) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		e = errno;
		goto fail;
	}
	sync_dir(path);
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	errf(err, "cannot write %s (via %s): %s", path, tmp, strerror(e));
	free(tmp);
	return -1;
}

/* ---- downloads ---------------------------------------------------------------- */

struct dl {
	struct buf body;
	const atomic_int *cancel;
	int too_large;
};

static size_t dl_write(char *p, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;

	if (buf_append(&d->body, p, size * n) < 0) {
		d->too_large = 1;
		return 0;   /* aborts the transfer */
	}
	return size * n;
}

static int dl_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct dl *d = arg;

	return d->cancel && atomic_load(d->cancel) ? 1 : 0;
}

static void dl_setup(CURL *c, const char *url, struct dl *d, size_t max, unsigned timeout_ms,
		     char *errbuf)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ailgate/" AILGATE_VERSION " globalconf");
}

static int download(const char *url, size_t max, unsigned timeout_ms, const atomic_int *cancel,
		    char **data, size_t *len, char **err)
{
	struct dl d = { .cancel = cancel };
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;
	long status = 0;

	if (outbound_global_init() < 0 || !(c = curl_easy_init()))
		return errf(err, "%s: cannot initialise libcurl", url);
	buf_init(&d.body, max);
	dl_setup(c, url, &d, max, timeout_ms, errbuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc == CURLE_OK && status == 200 && d.body.len > 0) {
		*len = d.body.len;
		*data = buf_steal(&d.body, NULL);
		return *data ? 0 : errf(err, "%s: out of memory", url);
	}
	buf_free(&d.body);
	if (d.too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return errf(err, "download %s: larger than %zu bytes", url, max);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return errf(err, "download %s: cancelled (stopping)", url);
	if (rc != CURLE_OK)
		return errf(err, "download %s failed: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return errf(err, "download %s: HTTP status %ld%s", url, status,
		    status == 200 ? " with an empty body" : " (expected 200)");
}

int gcf_get(const char *source, size_t max, unsigned timeout_ms, const atomic_int *cancel,
	    char **data, size_t *len, char **err)
{
	*data = NULL;
	*len = 0;
	if (err)
		*err = NULL;
	if (gcf_is_url(source))
		return download(source, max ? max : GCF_MAX_BYTES, timeout_ms, cancel, data, len, err);
	return gcf_read_file(source, max ? max : GCF_MAX_BYTES, data, len, err);
}

/* ---- the thread --------------------------------------------------------------------- */

/* One read of the source; changed (or forced) bytes go to apply. */
static void fetch_once(struct gcf *f, int forced)
{
	char *data = NULL, *err = NULL;
	size_t len = 0;
	unsigned char md[32];

	if (gcf_get(f->source, f->max, f->timeout_ms, &f->cancel, &data, &len, &err) < 0) {
		if (!atomic_load(&f->cancel))
			f->hooks.failed(f->hooks.ctx, err ? err : "cannot read the source");
		f->have_last = 0;   /* the next good read is handed over, and clears this */
		free(err);
		return;
	}
	if (sha256(data, len, md) < 0) {
		f->hooks.failed(f->hooks.ctx, "cannot hash the downloaded bytes");
	} else if (forced || !f->have_last || memcmp(md, f->last, 32) != 0) {
		memcpy(f->last, md, 32);
		f->have_last = 1;
		f->hooks.apply(f->hooks.ctx, data, len);
	}
	free(data);
}

/* Waits until the next refresh, a kick or stop. Called and returns with
 * f->lock held. */
static void wait_next(struct gcf *f)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += f->refresh_s;
	while (!f->stop && !f->kick) {
		int rc = f->refresh_s ? pthread_cond_timedwait(&f->cond, &f->lock, &until)
				      : pthread_cond_wait(&f->cond, &f->lock);
		if (rc == ETIMEDOUT)
			break;
	}
}

static void *fetch_main(void *arg)
{
	struct gcf *f = arg;
	int forced;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		forced = f->kick;
		f->kick = 0;
		pthread_mutex_unlock(&f->lock);
		fetch_once(f, forced);
		pthread_mutex_lock(&f->lock);
		if (!f->stop && !f->kick)
			wait_next(f);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void gcf_free(struct gcf *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->source);
	free(f);
}

struct gcf *gcf_start(const struct gcf_opts *o, const struct gcf_hooks *hooks, char **err)
{
	struct gcf *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;

	if (!f || !(f->source = strdup(o->source))) {
		free(f);
		errf(err, "out of memory");
		return NULL;
	}
	f->refresh_s = o->refresh_s;
	f->timeout_ms = o->timeout_ms;
	f->max = o->max_bytes ? o->max_bytes : GCF_MAX_BYTES;
	f->hooks = *hooks;
	if (o->initial_sha256) {
		memcpy(f->last, o->initial_sha256, 32);
		f->have_last = 1;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&f->thread, NULL, fetch_main, f) != 0) {
		gcf_free(f);
		errf(err, "cannot start the global configuration fetcher thread");
		return NULL;
	}
	pthread_setname_np(f->thread, "ag-gconf");
	return f;
}

void gcf_kick(struct gcf *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->kick = 1;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void gcf_stop(struct gcf **fp)
{
	struct gcf *f = fp ? *fp : NULL;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	atomic_store(&f->cancel, 1);
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	gcf_free(f);
	*fp = NULL;
}
