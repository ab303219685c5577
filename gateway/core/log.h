/* Logging: one line per event on stderr, logfmt style (key=value), so the
 * lines are easy to grep and to load into anything.
 *
 *   ts=2026-11-22T04:50:00.123Z level=info event=request reqid=... client=...
 *
 * The level filter is the process's one setting (log_set_level). Lines are
 * written with a single write(2) so lines from worker threads never mix. */
#ifndef AILGATE_CORE_LOG_H
#define AILGATE_CORE_LOG_H

#include "core/config.h"

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* fmt produces the rest of the line after ts/level ("event=... key=value"). */
void log_line(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_line(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_line(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_line(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_line(LOG_DEBUG, __VA_ARGS__)

/* Writes s into out as a logfmt value: bare if it has no space, quote, '='
 * or control character, else double-quoted with escapes. Returns out. */
const char *log_quote(const char *s, char *out, size_t outlen);

#endif
