/* fuzz-stats-http.c - libFuzzer target for the --stats endpoint's request
 * parser (statshttp.h): the input is the bytes read so far. The answer is
 * one of five statuses, or "more" only while the buffer has room; 200 only
 * for a GET of a known path, with a limit in range and a credential token
 * that fits; the old entry point (stats.h) agrees with it. */
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "server/stats.h"
#include "server/statshttp.h"

#define CAP 2048  /* stats.c reads a request into this much */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req = (const char *)data;
	size_t len = size < CAP ? size : CAP;
	struct stats_req rq;
	const char *st = stats_http_parse(req, len, CAP, &rq);
	const char *old = stp_stats_http_status(req, len, CAP);

	FUZZ_ASSERT(st == old || (st && old && !strcmp(st, old)));
	if (!st) {
		FUZZ_ASSERT(len < CAP && !memmem(req, len, "\n\n", 2) &&
			    !memmem(req, len, "\r\n\r\n", 4));
		return 0;
	}
	FUZZ_ASSERT(!strcmp(st, "200 OK") || !strcmp(st, "404 Not Found") ||
		    !strcmp(st, "400 Bad Request") ||
		    !strcmp(st, "431 Request Header Fields Too Large"));
	FUZZ_ASSERT(strlen(rq.auth) <= STATS_AUTH_MAX);
	if (st[0] == '2') {
		FUZZ_ASSERT(len >= 15 && !memcmp(req, "GET /", 5));
		FUZZ_ASSERT(rq.route != STATS_R_NONE);
		FUZZ_ASSERT(rq.limit >= 1 && rq.limit <= STATS_LIMIT_MAX);
		if (rq.route == STATS_R_METRICS)
			FUZZ_ASSERT(!memcmp(req, "GET /metrics", 12) && (req[12] == ' ' || req[12] == '?'));
	} else {
		FUZZ_ASSERT(rq.route == STATS_R_NONE || st[1] == '0');
	}
	if (st[0] == '4' && st[1] == '3')
		FUZZ_ASSERT(len == CAP);
	return 0;
}
