/* msg.h - diagnostics: one line each, "PROGRAM: what failed: why", on a
 * caller-owned stream, filtered by verbosity. main owns the struct. */
#ifndef STP_MSG_H
#define STP_MSG_H

#include <stdbool.h>
#include <stdio.h>

enum { STP_LOG_ERR = 0, STP_LOG_WARN = 1, STP_LOG_INFO = 2, STP_LOG_DEBUG = 3 };

struct stp_log {
	FILE *f;           /* usually stderr */
	const char *prog;  /* "stp-serve" */
	int level;         /* highest level printed: -q ERR, default INFO, -v DEBUG */
	bool json;         /* session lines as JSON (--log-format json) */
};

void stp_log(const struct stp_log *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
