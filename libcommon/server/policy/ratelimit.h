/* ratelimit.h - what stp-serve counts per client address and meters per
 * session or user: token buckets for bandwidth, and a table of client
 * addresses with their live sessions and recent failed logins. Pure: the
 * caller passes the time (ms on the loop's clock); no I/O, no locks. */
#ifndef STP_RATELIMIT_H
#define STP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A token bucket: rate bytes per second, a burst of an eighth of a second
 * (at least 1 KiB, at most the rate), full at the start. */
struct stp_bucket {
	double rate, burst, tokens;
	uint64_t last;
};

void stp_bucket_init(struct stp_bucket *b, long rate, uint64_t now);
/* Refills for the time since the last call; returns the whole tokens. */
size_t stp_bucket_avail(struct stp_bucket *b, uint64_t now);
void stp_bucket_take(struct stp_bucket *b, size_t n);
/* The smallest amount worth waiting for (fewer would mean tiny reads). */
size_t stp_bucket_chunk(const struct stp_bucket *b);
/* Milliseconds (at least 1) until want tokens are there. */
uint64_t stp_bucket_wait(const struct stp_bucket *b, size_t want);

/* Failed logins: max (stp-serve --login-failures, default LOGIN_FAIL_MAX;
 * 0: never) within LOGIN_FAIL_WINDOW_MS block the address's logins for
 * LOGIN_BLOCK_MS. */
#define STP_LOGIN_FAIL_MAX 5
#define STP_LOGIN_FAIL_WINDOW_MS 60000
#define STP_LOGIN_BLOCK_MS 60000

struct stp_clients;

/* Returns an empty table, or NULL when out of memory. */
struct stp_clients *stp_clients_new(void);
void stp_clients_free(struct stp_clients *c);

/* Counts a new session of sa's address unless it already has limit
 * (0 = no limit). Returns the new count, 0 when at the limit, -1 when out
 * of memory (then not counted). */
long stp_clients_admit(struct stp_clients *c, const struct sockaddr *sa, long limit);
/* The session of an admitted address ended. */
void stp_clients_release(struct stp_clients *c, const struct sockaddr *sa);

/* True while sa's address is blocked from logging in. */
bool stp_clients_blocked(struct stp_clients *c, const struct sockaddr *sa, uint64_t now);
/* A login starts: it counts as a failure in flight until its answer, so
 * that logins sent together cannot all pass before the first failure is
 * counted. What stp_clients_login_start answers: */
enum stp_login {
	STP_LOGIN_GO,        /* counted in flight; end it with one of the three below */
	STP_LOGIN_UNTRACKED, /* not an IP address: nothing counted, nothing to end */
	STP_LOGIN_BLOCKED,   /* the address is blocked */
	STP_LOGIN_BUSY,      /* failures and logins in flight are at the limit */
	STP_LOGIN_NOMEM,     /* cannot be counted (no memory, table full) */
};
enum stp_login stp_clients_login_start(struct stp_clients *c, const struct sockaddr *sa,
				       uint64_t now, int max);
/* Records a failed login (ending one in flight, if any); returns true when
 * it starts a block (the max-th failure in the window; max 0: never). */
bool stp_clients_failed(struct stp_clients *c, const struct sockaddr *sa, uint64_t now, int max);
/* A successful login forgets the failures (and ends one in flight). */
void stp_clients_succeeded(struct stp_clients *c, const struct sockaddr *sa);
/* A login in flight ended with no answer (session closed, backend down). */
void stp_clients_login_dropped(struct stp_clients *c, const struct sockaddr *sa);
/* Drops entries with no session and no failure or block still in force. */
void stp_clients_sweep(struct stp_clients *c, uint64_t now);
size_t stp_clients_count(const struct stp_clients *c);

#endif
