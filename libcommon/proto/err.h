/* err.h - the caller-owned error every library call fills, and the exit
 * codes of SPEC §2.3, defined once. Library code never prints or exits: it
 * returns -1 (or NULL) and leaves one line of text here; main decides. */
#ifndef STP_ERR_H
#define STP_ERR_H

#include <stdarg.h>

enum stp_exit {
	STP_EXIT_OK = 0,
	STP_EXIT_FAIL = 1,        /* failure after the session was set up */
	STP_EXIT_USAGE = 2,       /* bad option, bad URL, missing argument */
	STP_EXIT_REACH = 3,       /* proxy refused, unreachable, timed out */
	STP_EXIT_AUTH = 4,        /* no acceptable method, credentials rejected */
	STP_EXIT_PROTO = 5,       /* the proxy's answer is malformed or not SOCKS */
	STP_EXIT_TLS = 6,         /* TLS handshake or verification */
	STP_EXIT_UNSUPPORTED = 7, /* reply 7, close before reply, missing feature */
	STP_EXIT_REPLY = 10,      /* 10 + REP: the proxy refused with reply REP */
};

/* One line of diagnostics: room for a host name (255), a reason and a hop. */
#define STP_ERR_MSG_MAX 256

struct stp_err {
	int code;                   /* an enum stp_exit value */
	char msg[STP_ERR_MSG_MAX];  /* one line, no trailing newline, no program name */
};

/* Fills e (if not NULL) and returns -1, so callers can `return stp_err_set(...)`. */
int stp_err_set(struct stp_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with "PREFIX: " (e.g. the hop that failed); returns -1. */
int stp_err_prefix(struct stp_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
