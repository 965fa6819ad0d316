/* test-statsring.c - the status page's samples and refusals rings
 * (statsring.c): differences between readings, wrap-around at an hour,
 * a counter that starts again, strings cut to fit, the fixed memory; and
 * the --stats request parser (statshttp.c): routes, ?limit=, the Basic
 * token, requests split at every byte. */
#include <stdlib.h>
#include <string.h>

#include "server/statshttp.h"
#include "server/statsring.h"
#include "tap.h"

static void test_samples(void)
{
	struct stats_ring *r = calloc(1, sizeof(*r));
	struct stats_totals t = { 100, 1000, 5, 1 };

	stats_ring_sample(r, &t, 10000);
	CHECK_INT(r->n, 0, "the first reading only primes");
	t.bytes_up += 50;
	t.bytes_down += 500;
	t.sessions += 3;
	stats_ring_sample(r, &t, 20000);
	CHECK_INT(r->n, 1, "one sample");
	const struct stats_sample *s = stats_ring_at(r, 0);
	CHECK_INT(s->t_ms, 20000, "its time");
	CHECK_INT(s->bytes_up, 50, "bytes up in the step");
	CHECK_INT(s->bytes_down, 500, "bytes down in the step");
	CHECK_INT(s->sessions, 3, "sessions in the step");
	CHECK_INT(s->failures, 0, "no failures");
	t.sessions = 1;  /* a restarted worker: the total went down */
	stats_ring_sample(r, &t, 30000);
	CHECK_INT(stats_ring_at(r, 1)->sessions, 0, "a total that went down counts 0");
	for (int i = 0; i < STATS_RING_LEN + 5; i++) {
		t.sessions += (uint64_t)i;
		stats_ring_sample(r, &t, 40000 + (uint64_t)i * 10000);
	}
	CHECK_INT(r->n, STATS_RING_LEN, "the ring holds an hour, no more");
	CHECK_INT(stats_ring_at(r, STATS_RING_LEN - 1)->sessions, STATS_RING_LEN + 4,
		  "the newest last");
	CHECK_INT(stats_ring_at(r, 0)->sessions, 5, "the oldest first");
	CHECK(stats_ring_at(r, 0)->t_ms < stats_ring_at(r, 1)->t_ms, "in time order");
	DIAG("sizeof(struct stats_ring) = %zu bytes", sizeof(*r));
	CHECK(sizeof(*r) <= 33 * 1024, "the ring's fixed memory stays under 33 KiB");
	free(r);
}

static void test_refusals(void)
{
	struct stats_ring *r = calloc(1, sizeof(*r));
	char longname[600];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	stats_ring_refusal(r, 1, "127.0.0.1:1", "", "connect", longname, "connection refused");
	CHECK_INT(r->rn, 1, "one refusal");
	CHECK_INT(strlen(stats_ring_refusal_at(r, 0)->target),
		  sizeof(stats_ring_refusal_at(r, 0)->target) - 1, "a long target is cut");
	for (int i = 2; i < 40; i++)
		stats_ring_refusal(r, (uint64_t)i, "c", "u", "connect", "t", "why");
	CHECK_INT(r->rn, STATS_REFUSALS, "at most the last 32");
	CHECK_INT(stats_ring_refusal_at(r, 0)->t_ms, 39, "newest first");
	CHECK_INT(stats_ring_refusal_at(r, STATS_REFUSALS - 1)->t_ms, 8, "the oldest kept last");
	stats_ring_refusal(r, 50, NULL, NULL, NULL, NULL, NULL);
	CHECK_STR(stats_ring_refusal_at(r, 0)->user, "", "NULL is empty");
	free(r);
}

/* parse: the status for the whole of req, after checking that every
 * shorter prefix asks for more. */
static const char *parse(const char *req, struct stats_req *rq)
{
	size_t n = strlen(req);

	for (size_t k = 0; k < n; k++) {
		const char *st = stats_http_parse(req, k, 2048, rq);
		if (st && !memmem(req, k, "\n\n", 2) && !memmem(req, k, "\r\n\r\n", 4)) {
			DIAG("prefix %zu answered %s", k, st);
			return "early";
		}
	}
	return stats_http_parse(req, n, 2048, rq);
}

static void test_http(void)
{
	struct stats_req rq;

	CHECK_STR(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &rq), "200 OK", "the page");
	CHECK_INT(rq.route, STATS_R_PAGE, "route /");
	CHECK_STR(parse("GET /metrics HTTP/1.0\n\n", &rq), "200 OK", "metrics, bare LF");
	CHECK_INT(rq.route, STATS_R_METRICS, "route /metrics");
	CHECK_STR(parse("GET /api/sessions?limit=7 HTTP/1.1\r\n\r\n", &rq), "200 OK", "limit");
	CHECK_INT(rq.limit, 7, "limit 7");
	CHECK_STR(parse("GET /api/sessions?x=1&limit=10000&y HTTP/1.1\r\n\r\n", &rq), "200 OK",
		  "limit among other parameters");
	CHECK_INT(rq.limit, 10000, "limit 10000");
	CHECK_STR(parse("GET /api/series HTTP/1.1\r\n\r\n", &rq), "200 OK", "series");
	CHECK_INT(rq.limit, STATS_LIMIT_DEFAULT, "the default limit");
	CHECK_STR(parse("GET /api/sessions?limit=0 HTTP/1.1\r\n\r\n", &rq), "400 Bad Request", "limit 0");
	CHECK_STR(parse("GET /api/sessions?limit=10001 HTTP/1.1\r\n\r\n", &rq), "400 Bad Request",
		  "limit too big");
	CHECK_STR(parse("GET /api/sessions?limit=-1 HTTP/1.1\r\n\r\n", &rq), "400 Bad Request",
		  "limit negative");
	CHECK_STR(parse("GET /api HTTP/1.1\r\n\r\n", &rq), "404 Not Found", "unknown path");
	CHECK_STR(parse("HEAD / HTTP/1.1\r\n\r\n", &rq), "404 Not Found", "HEAD");
	CHECK_STR(parse("GET / HTTP/2.0\r\n\r\n", &rq), "404 Not Found", "HTTP/2");
	CHECK_STR(parse("GET / x HTTP/1.1\r\n\r\n", &rq), "404 Not Found", "a space in the target");
	CHECK_STR(parse("GET /metrics HTTP/1.1\r\nX: 1\r\nauthorization:  Basic  b3BzOnB3 \r\n\r\n",
			&rq), "200 OK", "with credentials");
	CHECK_STR(rq.auth, "b3BzOnB3", "the token, trimmed");
	CHECK_STR(parse("GET /metrics HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n", &rq),
		  "200 OK", "another scheme");
	CHECK_STR(rq.auth, "", "is no Basic token");
	char big[2048];
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\n", 16);
	CHECK_STR(stats_http_parse(big, sizeof(big), sizeof(big), &rq),
		  "431 Request Header Fields Too Large", "a full buffer without an end");
}

int main(void)
{
	test_samples();
	test_refusals();
	test_http();
	return tap_done();
}
