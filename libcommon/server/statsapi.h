/* statsapi.h - the JSON behind the status page: /api/status,
 * /api/sessions and /api/series (shapes in stp-serve(1), STATUS PAGE).
 * Each renderer returns a malloc'd, NUL-terminated document (the caller
 * frees it), or NULL when memory is short. They read the server's live
 * sessions and counters and change nothing. */
#ifndef STP_STATSAPI_H
#define STP_STATSAPI_H

#include <stddef.h>
#include <stdint.h>
#include "server/stats.h"
#include "server/statsring.h"

struct stp_server;

/* What the endpoint shows, of one worker or summed over all. */
struct stats_view {
	struct stp_stats st;
	uint64_t open, max_sessions, refused, lookups;
};

/* The counters of every worker summed (stats.c; with one worker, s's). */
void stats_view_all(struct stp_server *s, struct stats_view *sum);
/* Worker k's counters as last published (k < s->nworkers; with one
 * worker, s's own). */
void stats_view_worker(struct stp_server *s, int k, struct stats_view *v);
/* The totals the samples ring takes differences of: bytes of ended
 * sessions of all workers plus those of this process's live ones, sessions
 * ended, and failures (error replies, refused logins, --max-sessions). */
void stats_totals_of(struct stp_server *s, struct stats_totals *t);

/* What listener i (index in the server's table) takes: "proxy" (SOCKS
 * and HTTP clients, TLS or not), "transparent" or "transparent-udp"
 * (flows the kernel redirected); a label of /metrics and /api/status. */
const char *stats_listener_kind(const struct stp_server *s, int i);

/* The labels of /metrics: command slot c (0: none) and result r. */
const char *stats_cmd_slot_label(int c);
const char *stats_result_label(int r);

char *stats_api_status(struct stp_server *s, const struct stats_ring *r, uint64_t started_ms);
char *stats_api_sessions(struct stp_server *s, long limit);
char *stats_api_series(const struct stats_ring *r);

/* Wall-clock ms since the epoch (CLOCK_REALTIME), for the page's clock. */
uint64_t stats_wall_ms(void);

#endif
