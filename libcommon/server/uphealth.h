/* uphealth.h - stp-serve's upstream chains, their health, and the choice
 * of a chain for each session (--upstream-chain, --upstream-strategy).
 *
 * The chains: the hops of --upstream (repeated: one chain) if any, then
 * each --upstream-chain URL[,URL...]. They are copied here (and replaced
 * on SIGHUP: uphealth_configure), so the server's configuration memory can
 * come and go with its generations.
 *
 * Health. With --upstream-chain, each chain's first hop is checked every
 * UPH_CHECK_MS on the loop: a TCP connect and, for a SOCKS5 hop without
 * TLS, the method greeting answered (at most UPH_TIMEOUT_MS for both). A failed
 * check marks the chain down at once, a passed one up again; so is a
 * session that cannot reach a chain's first hop (it marks the chain down
 * before the next check). So a chain that dies is skipped by new sessions
 * within UPH_CHECK_MS + UPH_TIMEOUT_MS (2 s; SPEC asks 3 s), and taken
 * back within UPH_CHECK_MS of answering again. --upstream alone is not
 * probed (nothing to fail over to): its health shown is what its sessions
 * met. Each worker checks for itself.
 *
 * Choice among the chains up (when none is, among all: better a try than
 * a certain refusal): failover (the first in order), round-robin, or
 * hash-user (the authenticated user's name, else the client's address,
 * hashed: one user keeps one chain while the set of chains up stays). */
#ifndef STP_UPHEALTH_H
#define STP_UPHEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "proto/err.h"
#include "server/server.h"

#define UPH_MAX (STP_MAX_CHAINS + 1)
#define UPH_CHECK_MS 1000
#define UPH_TIMEOUT_MS 1000

struct stp_server;
struct session;
struct stp_proxy;

/* Makes s's chains from cfg (at start, in the process that runs the loop)
 * and starts the checks. Returns 0, or -1 with e. */
int uphealth_start(struct stp_server *s, const struct stp_server_cfg *cfg, struct stp_err *e);
/* SIGHUP: the chains of cfg replace the old ones (a chain whose URLs did
 * not change keeps its health and counters). Returns 0, or -1 (out of
 * memory: the old ones stay). */
int uphealth_configure(struct stp_server *s, const struct stp_server_cfg *cfg);
/* Stops the checks and frees everything (credentials wiped). */
void uphealth_free(struct stp_server *s);

/* How many chains there are (0: targets are reached directly). */
int uphealth_count(const struct stp_server *s);
/* Picks a chain for ss and parses its hops into out[0..max): returns how
 * many, and the chain's index in *chain; -1 when there is no chain or its
 * URLs do not parse. */
int uphealth_pick(struct stp_server *s, const struct session *ss, struct stp_proxy *out,
		  int max, int *chain);
/* A session through chain k got through (rtt: its handshake's ms) or
 * could not reach the chain (why: the message logged). */
void uphealth_session_ok(struct stp_server *s, int k);
void uphealth_session_failed(struct stp_server *s, int k, const char *why);

/* True when there are chains and the last hop of every one is SOCKS5
 * (upcarry.h: the commands only such a hop carries). */
bool uphealth_last_socks5(const struct stp_server *s);

/* For /metrics and /api/status: chain k's label (URLs without
 * credentials), and whether it is up (unknown counts as up). */
const char *uphealth_label(const struct stp_server *s, int k);
bool uphealth_up(const struct stp_server *s, int k);
/* The chains as the page's JSON array (new reference; NULL if short of
 * memory). */
json_t *upstream_status_json(struct stp_server *s);

#endif
