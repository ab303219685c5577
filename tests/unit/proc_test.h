/* Helpers for unit tests that run processes, header-only (every function
 * static inline, so a test pays only for what it uses). Include after
 * <cmocka.h>.
 *
 *   srcdir     the source tree (AILGATE_SOURCE_DIR from ctest's environment,
 *              or the one compiled in)
 *   sh         a printf-formatted shell command; its exit status, -1 if it
 *              did not exit
 *   sleep_ms   a sleep that does not care about signals
 *   start_tsa  tests/integration/tsa_server.py on a free port (written to
 *              port_file), down while down_file exists; dies with the test
 *              (PR_SET_PDEATHSIG); its pid, or -1 when it did not come up
 *              in 10 s (then stopped)
 *   stop_tsa   stops it (SIGTERM) and reaps it; a pid <= 0 is none */
#ifndef AILGATE_TESTS_UNIT_PROC_TEST_H
#define AILGATE_TESTS_UNIT_PROC_TEST_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AILGATE_SOURCE_DIR
#define AILGATE_SOURCE_DIR "."
#endif

static inline const char *srcdir(void)
{
	const char *s = getenv("AILGATE_SOURCE_DIR");

	return s && *s ? s : AILGATE_SOURCE_DIR;
}

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0)
		;
}

static inline void stop_tsa(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static inline pid_t start_tsa(const char *tsa_dir, const char *port_file, const char *down_file, int *port)
{
	char script[512];
	pid_t pid;
	int i;

	snprintf(script, sizeof(script), "%s/tests/integration/tsa_server.py", srcdir());
	unlink(port_file);
	pid = fork();
	if (pid == 0) {
		/* Dies with the test, even when the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("python3", "python3", script, "--tsa-dir", tsa_dir, "--port-file", port_file,
		       "--down-file", down_file, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && pid > 0; i++) {
		FILE *f = fopen(port_file, "r");

		if (f) {
			int ok = fscanf(f, "%d", port) == 1;

			fclose(f);
			if (ok)
				return pid;
		}
		sleep_ms(50);
	}
	stop_tsa(pid);   /* it never said its port: not left running */
	return -1;
}

#endif
