/* statshttp.c - the --stats request parser (statshttp.h). It accepts only
 * what a browser, curl or Prometheus sends: "GET PATH[?QUERY] HTTP/1.x";
 * the only header it reads is Authorization. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "server/statshttp.h"

static const struct {
	const char *path;
	enum stats_route route;
} routes[] = {
	{ "/metrics", STATS_R_METRICS },
	{ "/", STATS_R_PAGE },
	{ "/index.html", STATS_R_PAGE },
	{ "/api/status", STATS_R_STATUS },
	{ "/api/sessions", STATS_R_SESSIONS },
	{ "/api/series", STATS_R_SERIES },
};

/* The route of the n bytes of path at p, STATS_R_NONE if none. */
static enum stats_route route_of(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == n && memcmp(routes[i].path, p, n) == 0)
			return routes[i].route;
	return STATS_R_NONE;
}

/* The n bytes at q as a decimal 1..STATS_LIMIT_MAX, or -1. */
static long limit_of(const char *q, size_t n)
{
	long v = 0;

	if (n == 0 || n > 6)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (q[i] < '0' || q[i] > '9')
			return -1;
		v = v * 10 + (q[i] - '0');
	}
	return v >= 1 && v <= STATS_LIMIT_MAX ? v : -1;
}

/* Reads the query (n bytes at q, "a=b&c=d") into rq: false for a bad
 * limit. Other parameters are ignored (a cache-buster, say). */
static bool query(const char *q, size_t n, struct stats_req *rq)
{
	while (n) {
		const char *amp = memchr(q, '&', n);
		size_t k = amp ? (size_t)(amp - q) : n;

		if (k >= 6 && memcmp(q, "limit=", 6) == 0) {
			rq->limit = limit_of(q + 6, k - 6);
			if (rq->limit < 0)
				return false;
		}
		q += k;
		n -= k;
		if (n) {  /* the '&' */
			q++;
			n--;
		}
	}
	return true;
}

/* Finds "Authorization: Basic TOKEN" among the header lines at h (n
 * bytes) and copies TOKEN to rq->auth (left "" when absent or too long). */
static void auth_header(const char *h, size_t n, struct stats_req *rq)
{
	static const char name[] = "authorization:";

	while (n) {
		const char *eol = memchr(h, '\n', n);
		size_t k = eol ? (size_t)(eol - h) : n, i;

		if (k && h[k - 1] == '\r')
			k--;
		if (k > sizeof(name) - 1 && strncasecmp(h, name, sizeof(name) - 1) == 0) {
			i = sizeof(name) - 1;
			while (i < k && (h[i] == ' ' || h[i] == '\t'))
				i++;
			if (k - i > 6 && strncasecmp(h + i, "basic ", 6) == 0) {
				i += 6;
				while (i < k && h[i] == ' ')
					i++;
				size_t t = k - i;
				while (t && (h[i + t - 1] == ' ' || h[i + t - 1] == '\t'))
					t--;
				if (t <= STATS_AUTH_MAX) {
					memcpy(rq->auth, h + i, t);
					rq->auth[t] = '\0';
				}
			}
			return;  /* one Authorization header counts */
		}
		if (!eol)
			return;
		n -= (size_t)(eol - h) + 1;
		h = eol + 1;
	}
}

const char *stats_http_parse(const char *req, size_t len, size_t cap, struct stats_req *rq)
{
	const char *eol, *sp, *path, *q, *end;
	size_t linelen, plen;

	memset(rq, 0, sizeof(*rq));
	rq->limit = STATS_LIMIT_DEFAULT;
	if (!memmem(req, len, "\r\n\r\n", 4) && !memmem(req, len, "\n\n", 2))
		return len < cap ? NULL : "431 Request Header Fields Too Large";
	eol = memchr(req, '\n', len);
	linelen = (size_t)(eol - req);
	if (linelen && req[linelen - 1] == '\r')
		linelen--;
	/* "GET " PATH " HTTP/1.0" or "HTTP/1.1", nothing else */
	if (linelen < 4 + 1 + 9 || memcmp(req, "GET ", 4) != 0)
		return "404 Not Found";
	end = req + linelen - 9;
	if (memcmp(end, " HTTP/1.", 8) != 0 || (end[8] != '0' && end[8] != '1'))
		return "404 Not Found";
	path = req + 4;
	if ((sp = memchr(path, ' ', (size_t)(end - path))) != NULL)
		return "404 Not Found";  /* a space inside the target */
	q = memchr(path, '?', (size_t)(end - path));
	plen = (size_t)((q ? q : end) - path);
	rq->route = route_of(path, plen);
	if (rq->route == STATS_R_NONE)
		return "404 Not Found";
	if (q && !query(q + 1, (size_t)(end - q - 1), rq)) {
		rq->route = STATS_R_NONE;
		return "400 Bad Request";
	}
	auth_header(eol + 1, len - (size_t)(eol - req) - 1, rq);
	return "200 OK";
}
