/* logsess.h - the one line per session end, text or JSON, formatted from
 * plain values so that it can be tested and fuzzed without a session.
 * Every string may hold untrusted bytes: text escapes them (core/logesc.h),
 * JSON writes bytes that are not UTF-8 as \xHH (core/json.h). */
#ifndef STP_LOGSESS_H
#define STP_LOGSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any line of a session: user, userid and target are at most 255
 * bytes each, and each byte takes at most 6 characters. */
#define STP_SESS_LINE_MAX 8192

struct stp_sess_rec {
	int64_t ts_ms;        /* when: wall clock, ms since the epoch */
	const char *client;   /* "ADDR:PORT" */
	const char *user;     /* authenticated (or tried) user; NULL or "": none */
	const char *userid;   /* a SOCKS4 USERID, never a user; NULL or "": none */
	const char *cmd;      /* "connect", ..., "-" */
	const char *target;   /* "HOST:PORT"; NULL: none */
	uint64_t up, down;    /* bytes client -> target, target -> client */
	double duration;      /* seconds, written to the millisecond */
	const char *result;   /* "ok", or what went wrong */
	int socks;            /* 4 or 5 (0: not known, or HTTP) */
	const char *http;     /* an HTTP proxy request's method; NULL: SOCKS */
	int status;           /* ... and the status sent (0: none, or the origin's) */
	const char *transparent;  /* a redirected flow: "tcp" or "udp"; NULL: none */
};

/* Writes r's line into buf (cap bytes, NUL-terminated, no newline): with
 * json a JSON object, "ts" first, else "session client=... result=\"...\""
 * (the writer puts the time and the program's name before it). Returns
 * its length, or -1 when it does not fit or memory is short. */
int stp_sess_format(const struct stp_sess_rec *r, bool json, char *buf, size_t cap);

/* ms (since the epoch) as RFC 3339 UTC with milliseconds,
 * "2026-12-02T17:44:03.123Z", into buf (at least STP_SESS_TS_SIZE bytes).
 * Returns buf. */
#define STP_SESS_TS_SIZE 32
char *stp_sess_ts(int64_t ms, char *buf, size_t cap);

#endif
