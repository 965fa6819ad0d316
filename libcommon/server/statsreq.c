/* statsreq.c - HTTP requests in the --stats counters (statsreq.h). */
#include <jansson.h>
#include <string.h>

#include "server/server_priv.h"
#include "server/statsreq.h"

static const char *const kinds[STATS_HTTP_KINDS] = { "connect", "forward", "invalid" };
static const char *const classes[STATS_HTTP_CLASSES] = { "none", "1xx", "2xx", "3xx", "4xx",
							 "5xx" };

const char *stats_http_kind(int k)
{
	return k >= 0 && k < STATS_HTTP_KINDS ? kinds[k] : "?";
}

const char *stats_http_class(int c)
{
	return c >= 0 && c < STATS_HTTP_CLASSES ? classes[c] : "?";
}

void stats_http_count(struct stats_http *h, const struct session *ss)
{
	int k, c;

	if (!ss->http)
		return;
	if (strcmp(ss->http_method, "CONNECT") == 0)
		k = 0;
	else if (strcmp(ss->http_method, "-") == 0)
		k = 2;  /* the head never became a request (400, 408, 431, ...) */
	else
		k = 1;
	c = ss->http_status >= 100 && ss->http_status <= 599 ? ss->http_status / 100 : 0;
	h->req[k][c]++;
}

json_t *stats_http_json(const struct stats_http *h)
{
	json_t *o = json_object(), *st = json_object();
	uint64_t all = 0;

	if (!o || !st) {
		json_decref(o);
		json_decref(st);
		return NULL;
	}
	for (int k = 0; k < STATS_HTTP_KINDS; k++) {
		uint64_t n = 0;
		for (int c = 0; c < STATS_HTTP_CLASSES; c++)
			n += h->req[k][c];
		all += n;
		json_object_set_new(o, kinds[k], json_integer((json_int_t)n));
	}
	for (int c = 0; c < STATS_HTTP_CLASSES; c++) {
		uint64_t n = 0;
		for (int k = 0; k < STATS_HTTP_KINDS; k++)
			n += h->req[k][c];
		json_object_set_new(st, classes[c], json_integer((json_int_t)n));
	}
	json_object_set_new(o, "requests", json_integer((json_int_t)all));
	json_object_set_new(o, "status", st);
	return o;
}
