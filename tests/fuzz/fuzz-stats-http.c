/* fuzz-stats-http.c - libFuzzer target for the --stats endpoint's request
 * parser (stats.h): the input is the bytes read so far. The answer is one
 * of three statuses, or "more" only while the buffer has room; 200 only
 * for a GET /metrics request line. */
#include <stdint.h>
#include <string.h>
#include "fuzz.h"
#include "server/stats.h"

#define CAP 2048  /* stats.c reads a request into this much */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req = (const char *)data;
	size_t len = size < CAP ? size : CAP;
	const char *st = stp_stats_http_status(req, len, CAP);

	if (!st) {
		FUZZ_ASSERT(len < CAP && !memmem(req, len, "\n\n", 2) &&
			    !memmem(req, len, "\r\n\r\n", 4));
		return 0;
	}
	FUZZ_ASSERT(!strcmp(st, "200 OK") || !strcmp(st, "404 Not Found") ||
		    !strcmp(st, "431 Request Header Fields Too Large"));
	if (st[0] == '2')
		FUZZ_ASSERT(len >= 22 && !memcmp(req, "GET /metrics HTTP/1.", 20) &&
			    (req[21] == '\n' || (req[21] == '\r' && req[22] == '\n')));
	if (st[0] == '4' && st[1] == '3')
		FUZZ_ASSERT(len == CAP);
	return 0;
}
