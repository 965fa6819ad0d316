/* statshttp.h - the --stats endpoint's request parser: one GET request
 * (request line and headers, in one bounded buffer) to a route, the
 * ?limit= of /api/sessions and the Basic credentials. Pure: no I/O, no
 * allocation; the fuzzer fuzz-stats-http calls it directly. */
#ifndef STP_STATSHTTP_H
#define STP_STATSHTTP_H

#include <stddef.h>

enum stats_route {
	STATS_R_NONE,       /* no route: the status is an error */
	STATS_R_METRICS,    /* GET /metrics: Prometheus text */
	STATS_R_PAGE,       /* GET /: the status page */
	STATS_R_STATUS,     /* GET /api/status */
	STATS_R_SESSIONS,   /* GET /api/sessions[?limit=N] */
	STATS_R_SERIES,     /* GET /api/series */
};

#define STATS_LIMIT_MAX 10000       /* most sessions /api/sessions lists */
#define STATS_LIMIT_DEFAULT 100
#define STATS_AUTH_MAX 700          /* the base64 of a Basic credential */

struct stats_req {
	enum stats_route route;
	long limit;                     /* /api/sessions: sessions to list */
	char auth[STATS_AUTH_MAX + 1];  /* Authorization: Basic's token; "": none */
};

/* The status line for the len request bytes at req, read into a buffer of
 * cap bytes: "200 OK" with rq filled for a GET of a known path (HTTP/1.0
 * or 1.1), "400 Bad Request" for a bad ?limit=, "404 Not Found" for any
 * other request, "431 Request Header Fields Too Large" when cap bytes end
 * no header; NULL while more bytes are needed. */
const char *stats_http_parse(const char *req, size_t len, size_t cap, struct stats_req *rq);

#endif
