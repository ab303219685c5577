/* gconf_fetch: brings the global configuration from its source - a file or
 * an http(s) URL - on an interval, on a thread of its own (never on a
 * worker's event loop: reading and downloading block).
 *
 * The fetcher only moves bytes: every refresh it reads the source and, if
 * the bytes differ from the last ones it handed over (SHA-256), hands them
 * to hooks->apply, which checks and swaps (gw.c). A failed read goes to
 * hooks->failed, and the next good read is handed over even if unchanged,
 * so a recovered source clears the failure. gcf_kick() fetches at once and
 * hands the bytes over whatever they are (SIGHUP).
 *
 * The file helpers are also used by `ailgate globalconf` and at start-up. */
#ifndef AILGATE_CORE_GCONF_FETCH_H
#define AILGATE_CORE_GCONF_FETCH_H

#include <stdatomic.h>
#include <stddef.h>

/* Largest global configuration read or downloaded (the loader's own cap). */
#define GCF_MAX_BYTES (8 * 1024 * 1024)

/* 1 if source is an http:// or https:// URL (case-insensitive scheme). */
int gcf_is_url(const char *source);

/* Reads a file (max bytes at most) into *data (NUL-terminated, caller
 * frees), *len its length. 0, or -1 with *err (caller frees) naming the file
 * and the problem. */
int gcf_read_file(const char *path, size_t max, char **data, size_t *len, char **err)
	__attribute__((warn_unused_result));

/* Reads source: a file, or a URL downloaded with libcurl (http/https only,
 * up to 3 redirects, HTTP 200 only, at most max bytes, the whole transfer
 * within timeout_ms). cancel, if not NULL, aborts a download once it reads
 * non-zero. Same results as gcf_read_file. Blocks: not for an event loop. */
int gcf_get(const char *source, size_t max, unsigned timeout_ms, const atomic_int *cancel,
	    char **data, size_t *len, char **err) __attribute__((warn_unused_result));

/* Replaces path atomically: writes path.tmp.PID, fsyncs, renames over path.
 * 0, or -1 with *err (the tmp file is removed). */
int gcf_write_atomic(const char *path, const void *data, size_t len, char **err)
	__attribute__((warn_unused_result));

struct gcf_hooks {
	/* Bytes to check and, if good, put in force. Called on the fetcher's
	 * thread; data is valid only during the call. Returns 0 if accepted. */
	int (*apply)(void *ctx, const char *data, size_t len);
	/* The source could not be read; why says what failed. Fetcher thread. */
	void (*failed)(void *ctx, const char *why);
	void *ctx;
};

struct gcf_opts {
	const char *source;          /* file path or URL (copied) */
	unsigned refresh_s;          /* seconds between reads; 0 = only on gcf_kick */
	unsigned timeout_ms;         /* per download */
	size_t max_bytes;            /* 0 = GCF_MAX_BYTES */
	const unsigned char *initial_sha256; /* of the bytes already in force, or NULL */
};

struct gcf;

/* Starts the thread; its first read is at once. Signals: the thread
 * inherits the caller's mask (gw_run blocks SIGHUP/SIGTERM before). Returns
 * the fetcher (stop with gcf_stop), or NULL with *err. */
struct gcf *gcf_start(const struct gcf_opts *o, const struct gcf_hooks *hooks, char **err);
/* Read the source now and hand the bytes over even if unchanged. Returns at
 * once; thread-safe. NULL-safe. */
void gcf_kick(struct gcf *f);
/* Stops the thread (aborting a download in progress), joins it, frees, and
 * sets *f to NULL. NULL-safe. */
void gcf_stop(struct gcf **f);

#endif
