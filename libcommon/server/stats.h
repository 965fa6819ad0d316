/* stats.h - stp-serve's counters and the --stats endpoint: a read-only
 * HTTP server on the event loop that answers GET /metrics with the
 * counters in Prometheus text format 0.0.4, anything else with 404.
 *
 * The counters live in struct stp_server (s->stats). Ending sessions are
 * counted in one place (stats_session_end, from session_free), so the cost
 * per session is a few additions. Policy code increments auth_failures and
 * rule_denials where it refuses. */
#ifndef STP_STATS_H
#define STP_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/cmd.h"
#include "proto/err.h"
#include "server/statsreq.h"

/* What a session's request came to, as a metrics label. */
enum stats_result {
	STATS_OK,           /* success reply sent */
	STATS_NONE,         /* ended before its request was answered */
	STATS_DENIED,       /* reply 2 (rules, or SOCKS4 without credentials) */
	STATS_UNREACHABLE,  /* reply 3 or 4 */
	STATS_REFUSED,      /* reply 5 */
	STATS_TIMEOUT,      /* reply 6 */
	STATS_UNSUPPORTED,  /* reply 7 or 8 */
	STATS_FAILED,       /* reply 1 or an STP error reply */
	STATS_NRESULTS
};

/* Commands as a small index: 0 no request, then the known ones
 * (proto/cmd.h), last "unknown". */
#define STATS_NCMDS (STP_NCMDS + 2)
/* Handshake latency buckets (upper bounds in ms; +Inf is the count). */
#define STATS_NBUCKETS 13
/* Listeners counted apart (STP_MAX_LISTEN, checked in statsboard.c). */
#define STATS_NLISTEN 16
/* Upstream chains counted apart (UPH_MAX, checked in uphealth.c). */
#define STATS_NCHAINS 9

struct stp_stats {
	uint64_t sessions[STATS_NCMDS][STATS_NRESULTS];  /* ended, by command, result */
	uint64_t bytes_up, bytes_down;       /* client -> target, target -> client */
	uint64_t hs_bucket[STATS_NBUCKETS];  /* handshakes of at most bucket[i] ms */
	uint64_t hs_count, hs_sum_ms;
	uint64_t auth_failures;              /* credentials refused */
	uint64_t rule_denials;               /* requests the rules denied */
	uint64_t udp_up, udp_down;           /* datagrams relayed by ended UDP associations */
	uint64_t udp_dropped;                /* ... and dropped (any reason) */
	uint64_t mux_streams;                /* MUX streams opened */
	uint64_t mux_refused;                /* ... and refused with RST */
	uint64_t listener_sessions[STATS_NLISTEN];  /* ended, by listener index */
	uint64_t chain_sessions[STATS_NCHAINS];     /* through upstream chain k: got through */
	uint64_t chain_failures[STATS_NCHAINS];     /* ... could not reach it */
	struct stats_http http;              /* HTTP requests (statsreq.h) */
};

struct session;
struct stp_server;

/* Counts an ending session (command, result, bytes, handshake latency). */
void stats_session_end(struct stp_server *s, const struct session *ss);
/* The metrics label of how ss ended. */
enum stats_result stats_result_of(const struct session *ss);

/* The status line the --stats endpoint answers to the len request bytes
 * at req, read into a buffer of cap bytes: "200 OK" for GET /metrics
 * (HTTP/1.0 or 1.1), "404 Not Found" for any other request, "431 Request
 * Header Fields Too Large" when cap bytes end no header; NULL while more
 * bytes are needed. Pure: no I/O. */
const char *stp_stats_http_status(const char *req, size_t len, size_t cap);

/* --workers: each worker's counters (and its open sessions, limit,
 * refusals and lookups) in one slot of a shared anonymous mapping made
 * before fork. Each slot has one writer, its worker; the endpoint (worker
 * 0's) adds them up. Returns NULL with e filled. */
struct stats_slot;
struct stats_slot *stats_shared_new(int n, struct stp_err *e);
void stats_shared_free(struct stats_slot *v, int n);
/* In worker s->worker, once its loop runs: continues from the counters
 * its slot holds (a restarted worker's predecessor's), and publishes them
 * every 250 ms and at each session's end. */
void stats_worker_start(struct stp_server *s);
/* --workers: worker k's status board (statsboard.h), after the slots and
 * tables in the shared mapping; NULL with one worker. */
struct stats_board;
struct stats_board *stats_shared_board(struct stp_server *s, int k);

struct stp_stats_srv;
/* Listens on spec ("ADDR:PORT", numeric, port 0 = any) and, when s has a
 * loop, serves the endpoint on it (else stp_stats_start does, later, in
 * the worker that serves it). Returns NULL with e filled (code 2 for a bad
 * address). The listener is watched until stp_stats_stop/free. */
struct stp_stats_srv *stp_stats_new(struct stp_server *s, const char *spec, struct stp_err *e);
/* Starts serving on st's server's loop. Returns 0, or -1 with e. */
int stp_stats_start(struct stp_stats_srv *st, struct stp_err *e);
/* The bound address, for the "listening ... stats" line. */
const struct sockaddr *stp_stats_addr(const struct stp_stats_srv *st);
/* Stops accepting (the drain); answers in progress go on. */
void stp_stats_stop(struct stp_stats_srv *st);
/* Closes the listener and every connection. NULL is a no-op. */
void stp_stats_free(struct stp_stats_srv *st);

#endif
