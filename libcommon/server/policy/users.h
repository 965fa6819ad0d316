/* users.h - the users file (user:HASH lines) and password checks that never
 * block the event loop: the slow hash runs on one worker thread, results
 * come back as loop events; a verified (user, password) is remembered as an
 * HMAC under a per-process key, so a returning client costs one HMAC. */
#ifndef STP_USERS_H
#define STP_USERS_H

#include <stdbool.h>
#include "proto/err.h"
#include "core/evloop.h"

struct stp_users;
struct stp_auth_job;

/* Loads path. A line that is not "user:HASH" with a hash of ours (plain
 * text, say) refuses the whole file: "FILE:LINE: ...". Returns NULL with
 * e filled. */
struct stp_users *stp_users_load(const char *path, struct stp_err *e);
/* True if user has a line in the file. */
bool stp_users_has(const struct stp_users *u, const char *user);

/* Starts the worker. Returns 0 or -1 with e filled. */
int stp_users_start(struct stp_users *u, struct stp_loop *l, struct stp_err *e);
void stp_users_free(struct stp_users *u);

typedef void stp_auth_cb(void *arg, bool ok);
/* Checks user/pass; cb runs exactly once unless cancelled, possibly before
 * this returns (known answer): then NULL is returned, else a handle. */
struct stp_auth_job *stp_users_check(struct stp_users *u, const char *user,
				     const char *pass, stp_auth_cb *cb, void *arg);
void stp_auth_cancel(struct stp_users *u, struct stp_auth_job *j);

#endif
