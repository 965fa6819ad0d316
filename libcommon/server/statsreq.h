/* statsreq.h - HTTP requests on the mixed port in the --stats counters:
 * by kind (a CONNECT tunnel, a forwarded absolute-form request, or a head
 * that never became a request) and by the class of the status answered
 * (none, 1xx .. 5xx). Each request counts once, when it ends (with a
 * kept-alive connection, each of its requests). Words of struct stp_stats,
 * so that --workers sums them like the others. */
#ifndef STP_STATSREQ_H
#define STP_STATSREQ_H

#include <stdint.h>

#define STATS_HTTP_KINDS 3    /* connect, forward, invalid */
#define STATS_HTTP_CLASSES 6  /* none, 1xx, 2xx, 3xx, 4xx, 5xx */

struct session;
struct json_t;

/* The counters' place in struct stp_stats (stats.h). */
struct stats_http {
	uint64_t req[STATS_HTTP_KINDS][STATS_HTTP_CLASSES];
};

/* Counts ss's request, if it is an HTTP one. */
void stats_http_count(struct stats_http *h, const struct session *ss);
/* The labels: "connect", "forward", "invalid"; "none", "1xx", ... */
const char *stats_http_kind(int k);
const char *stats_http_class(int c);
/* {"requests":N,"connect":N,"forward":N,"invalid":N,"status":{"2xx":N,...}}
 * for /api/status; NULL when memory is short. */
struct json_t *stats_http_json(const struct stats_http *h);

#endif
