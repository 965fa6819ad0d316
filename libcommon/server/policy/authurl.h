/* authurl.h - credentials checked by a backend authentication server
 * (--auth-url, SPEC §3.6): an HTTP POST of
 *   {"user":"..","password":"..","client":"ADDR"}
 * (application/json); a 2xx answer allows, a 4xx answer denies, anything
 * else (no connection, a timeout, a 5xx) denies too and is reported: the
 * check fails closed. Both answers are remembered for a while (positive and
 * negative cache times) under an HMAC of user, password and client address
 * keyed per process, so the cache holds no password.
 *
 * The requests run on one worker thread with libcurl's multi interface
 * (many at once); results come back to the event loop through an eventfd,
 * so the loop never waits for the backend. */
#ifndef STP_AUTHURL_H
#define STP_AUTHURL_H

#include <stdbool.h>
#include "proto/err.h"
#include "core/evloop.h"

struct stp_authurl;
struct stp_authurl_job;

struct stp_authurl_cfg {
	const char *url;
	long cache_ms;        /* how long an allow is remembered (0: not at all) */
	long neg_cache_ms;    /* how long a deny is remembered */
	long timeout_ms;      /* the whole request */
};

/* Starts the worker. Returns NULL with e filled. */
struct stp_authurl *stp_authurl_new(const struct stp_authurl_cfg *cfg, struct stp_loop *l,
				    struct stp_err *e);
/* Stops the worker (requests in flight are abandoned) and frees a. */
void stp_authurl_free(struct stp_authurl *a);

/* why is NULL for an answer of the backend, else what went wrong (then ok
 * is false): "HTTP 503", "Connection refused", "Timeout was reached". */
typedef void stp_authurl_cb(void *arg, bool ok, const char *why);

/* Checks user/pass for client (a numeric address). cb runs exactly once
 * unless cancelled, possibly before this returns (a cached answer, or out
 * of memory: denied): then NULL is returned, else a handle. The password
 * is copied and wiped once sent. */
struct stp_authurl_job *stp_authurl_check(struct stp_authurl *a, const char *user,
					  const char *pass, const char *client,
					  stp_authurl_cb *cb, void *arg);
void stp_authurl_cancel(struct stp_authurl *a, struct stp_authurl_job *j);


#endif
