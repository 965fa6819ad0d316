/* users.h - the users file (user:HASH lines) and password checks that never
 * block the event loop: the slow hash runs on worker threads (up to 4, as
 * cores allow), taking turns between client addresses; results
 * come back as loop events; a verified (user, password) is remembered as an
 * HMAC under a per-process key, so a returning client costs one HMAC. */
#ifndef STP_USERS_H
#define STP_USERS_H

#include <stdbool.h>
#include <sys/socket.h>
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

/* Starts the workers. Returns 0 or -1 with e filled (then free u). */
int stp_users_start(struct stp_users *u, struct stp_loop *l, struct stp_err *e);
void stp_users_free(struct stp_users *u);

typedef void stp_auth_cb(void *arg, bool ok);
/* Checks user/pass of a client at peer. Returns 0 with *jp set: cb runs
 * once later unless cancelled; 1: cb already ran (a known answer); -1:
 * peer's share of the queue, or the queue, is full: refused unchecked, cb
 * not run. */
int stp_users_check(struct stp_users *u, const char *user, const char *pass,
		    const struct sockaddr *peer, stp_auth_cb *cb, void *arg,
		    struct stp_auth_job **jp);
/* Forgets j: dropped if still queued, else its answer is ignored. */
void stp_auth_cancel(struct stp_users *u, struct stp_auth_job *j);

#endif
