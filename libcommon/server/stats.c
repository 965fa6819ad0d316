/* stats.c - stp-serve's counters, and the --stats endpoint: GET /metrics
 * in Prometheus text format 0.0.4 over HTTP/1.0 on the event loop.
 *
 * The endpoint is deliberately tiny: one request per connection, read into
 * a fixed buffer (a request that does not fit is answered 431), the answer
 * rendered at once into one malloc'd buffer and written without blocking,
 * then the write side is shut and the connection waits for the client's
 * close (so that unread request bytes cannot turn the close into a reset
 * that discards the answer). One timer bounds the whole exchange: a slow
 * client is cut off. At most STATS_MAX_CONNS connections at once: at the
 * cap the oldest makes room, preferably one that has not sent its whole
 * request yet. A scraper's exchange takes milliseconds, so connections that
 * sit idle, or never read their answer, cannot lock it out. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/server_priv.h"
#include "core/sock.h"
#include "server/stats.h"

#define STATS_MAX_CONNS 16
#define STATS_REQ_MAX 2048          /* request line and headers */
#define STATS_TIMEOUT_MS 5000       /* the whole exchange */
#define STATS_BODY_MAX (256 * 1024) /* the rendered answer, headers included */
#define STATS_PUBLISH_MS 250        /* --workers: a worker's gauges this fresh */

/* --- the counters ---------------------------------------------------------- */


static const char *const result_names[STATS_NRESULTS] = {
	[STATS_OK] = "ok",
	[STATS_NONE] = "none",
	[STATS_DENIED] = "denied",
	[STATS_UNREACHABLE] = "unreachable",
	[STATS_REFUSED] = "refused",
	[STATS_TIMEOUT] = "timeout",
	[STATS_UNSUPPORTED] = "unsupported",
	[STATS_FAILED] = "failed",
};

/* Upper bounds of the handshake latency buckets, in ms. */
static const unsigned bucket_ms[STATS_NBUCKETS] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

/* 0 for no request, 1 + the command's index, or the last slot for an
 * unknown command. */
static int cmd_index(const struct session *ss)
{
	if (ss->cmd == 0)
		return 0;
	int i = stp_cmd_index(ss->ver, ss->cmd);
	return i < 0 ? STATS_NCMDS - 1 : 1 + i;
}

/* The label of slot c of cmd_index(). */
static const char *cmd_slot_label(int c)
{
	return c == 0 ? "none" : stp_cmd_label_at(c - 1);
}

enum stats_result stats_result_of(const struct session *ss)
{
	if (ss->cmd == 0 || !ss->replied_at)
		return STATS_NONE;
	switch (ss->rep) {
	case STP_REP_OK: return STATS_OK;
	case STP_REP_NOT_ALLOWED: return STATS_DENIED;
	case STP_REP_NET_UNREACH:
	case STP_REP_HOST_UNREACH: return STATS_UNREACHABLE;
	case STP_REP_REFUSED: return STATS_REFUSED;
	case STP_REP_TTL: return STATS_TIMEOUT;
	case STP_REP_CMD_UNSUPPORTED:
	case STP_REP_ATYP_UNSUPPORTED: return STATS_UNSUPPORTED;
	}
	return STATS_FAILED;
}

static void stats_publish(struct stp_server *s);

void stats_session_end(struct stp_server *s, const struct session *ss)
{
	struct stp_stats *st = &s->stats;

	st->sessions[cmd_index(ss)][stats_result_of(ss)]++;
	if (ss->relay) {
		st->bytes_up += stp_relay_bytes(ss->relay, STP_RELAY_AB);
		st->bytes_down += stp_relay_bytes(ss->relay, STP_RELAY_BA);
	} else {
		st->bytes_up += ss->bytes_up;
		st->bytes_down += ss->bytes_down;
	}
	if (ss->replied_at) {
		uint64_t ms = ss->replied_at >= ss->start ? ss->replied_at - ss->start : 0;
		for (int i = 0; i < STATS_NBUCKETS; i++)
			if (ms <= bucket_ms[i])
				st->hs_bucket[i]++;  /* cumulative, as Prometheus wants */
		st->hs_count++;
		st->hs_sum_ms += ms;
	}
	if (s->shared)
		stats_publish(s);
}

/* --- workers: one slot each, summed by the endpoint ------------------------- */

/* What the endpoint shows, of one worker or summed over all. */
struct stats_view {
	struct stp_stats st;
	uint64_t open, max_sessions, refused, lookups;
};

#define SLOT_WORDS (sizeof(struct stats_view) / sizeof(uint64_t))
_Static_assert(sizeof(struct stats_view) % sizeof(uint64_t) == 0,
	       "struct stats_view is made of uint64_t");

/* A worker's view as 64-bit words. The slot has a single writer (its
 * worker) and readers in another process: every word is stored and loaded
 * whole (relaxed atomics: a plain aligned mov on x86-64 and aarch64, never
 * torn). The words of one slot are not a consistent snapshot, which a
 * scrape of counters does not need. */
struct stats_slot {
	uint64_t w[SLOT_WORDS];
};

static void view_of(const struct stp_server *s, struct stats_view *v)
{
	v->st = s->stats;
	v->open = (uint64_t)s->nsessions;
	v->max_sessions = (uint64_t)s->max_sessions;
	v->refused = s->refused;
	v->lookups = s->res ? stp_resolver_lookups(s->res) : 0;
}

struct stats_slot *stats_shared_new(int n, struct stp_err *e)
{
	void *p = mmap(NULL, (size_t)n * sizeof(struct stats_slot), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		stp_err_set(e, STP_EXIT_FAIL, "--workers: shared counters: %s", strerror(errno));
		return NULL;
	}
	return p;  /* zero-filled */
}

void stats_shared_free(struct stats_slot *v, int n)
{
	if (v)
		munmap(v, (size_t)n * sizeof(struct stats_slot));
}

/* Copies this worker's counters into its shared slot. */
static void stats_publish(struct stp_server *s)
{
	struct stats_view v;
	struct stats_slot *sl = &s->shared[s->worker];
	uint64_t w;

	view_of(s, &v);
	for (size_t i = 0; i < SLOT_WORDS; i++) {
		memcpy(&w, (const char *)&v + i * sizeof(w), sizeof(w));
		__atomic_store_n(&sl->w[i], w, __ATOMIC_RELAXED);
	}
}

static void on_publish(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	stats_publish(arg);
	stp_timer_start(l, t, STATS_PUBLISH_MS);
}

void stats_worker_start(struct stp_server *s)
{
	struct stats_view v;
	const struct stats_slot *sl = &s->shared[s->worker];
	uint64_t w;

	for (size_t i = 0; i < SLOT_WORDS; i++) {
		w = __atomic_load_n(&sl->w[i], __ATOMIC_RELAXED);
		memcpy((char *)&v + i * sizeof(w), &w, sizeof(w));
	}
	s->stats = v.st;  /* counters go on; the gauges are this worker's */
	s->refused = (unsigned long)v.refused;
	stp_timer_init(&s->publish_timer, on_publish, s);
	on_publish(s->loop, &s->publish_timer, s);
}

/* The endpoint's numbers: s's own, or with --workers the sum of all slots
 * (s's own published first, so that they are current). */
static void view_all(struct stp_server *s, struct stats_view *sum)
{
	uint64_t acc[SLOT_WORDS] = { 0 };

	if (!s->shared) {
		view_of(s, sum);
		return;
	}
	stats_publish(s);
	for (int k = 0; k < s->nworkers; k++)
		for (size_t i = 0; i < SLOT_WORDS; i++)
			acc[i] += __atomic_load_n(&s->shared[k].w[i], __ATOMIC_RELAXED);
	memcpy(sum, acc, sizeof(*sum));
}

/* --- rendering ------------------------------------------------------------- */

struct sbuf {
	char *b;
	size_t len, cap;
	bool bad;  /* out of memory or over STATS_BODY_MAX */
};

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->bad)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(sb->b + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->bad = true;
			return;
		}
		if ((size_t)n < sb->cap - sb->len) {
			sb->len += (size_t)n;
			return;
		}
		size_t cap = sb->cap * 2;
		char *nb = cap <= STATS_BODY_MAX ? realloc(sb->b, cap) : NULL;
		if (!nb) {
			sb->bad = true;
			return;
		}
		sb->b = nb;
		sb->cap = cap;
	}
}

static void metric_head(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The metrics of s (of all workers), as Prometheus text, appended to sb. */
static void render(struct sbuf *sb, struct stp_server *s)
{
	struct stats_view v;
	const struct stp_stats *st = &v.st;

	view_all(s, &v);
	metric_head(sb, "stp_sessions_open", "gauge", "Sessions open now.");
	sb_printf(sb, "stp_sessions_open %llu\n", (unsigned long long)v.open);
	metric_head(sb, "stp_max_sessions", "gauge", "The session limit (--max-sessions, or the fd limit's).");
	sb_printf(sb, "stp_max_sessions %llu\n", (unsigned long long)v.max_sessions);
	metric_head(sb, "stp_sessions_total", "counter",
		    "Sessions ended, by command and by what the request came to.");
	for (int c = 0; c < STATS_NCMDS; c++)
		for (int r = 0; r < STATS_NRESULTS; r++)
			if (st->sessions[c][r])
				sb_printf(sb, "stp_sessions_total{command=\"%s\",result=\"%s\"} %llu\n",
					  cmd_slot_label(c),
					  result_names[r], (unsigned long long)st->sessions[c][r]);
	metric_head(sb, "stp_bytes_total", "counter",
		    "Bytes relayed by ended sessions: up is client to target, down the other way.");
	sb_printf(sb, "stp_bytes_total{direction=\"up\"} %llu\n",
		  (unsigned long long)st->bytes_up);
	sb_printf(sb, "stp_bytes_total{direction=\"down\"} %llu\n",
		  (unsigned long long)st->bytes_down);
	metric_head(sb, "stp_handshake_seconds", "histogram",
		    "Time from accepting a session to the reply to its request.");
	for (int i = 0; i < STATS_NBUCKETS; i++)
		sb_printf(sb, "stp_handshake_seconds_bucket{le=\"%g\"} %llu\n",
			  bucket_ms[i] / 1000.0, (unsigned long long)st->hs_bucket[i]);
	sb_printf(sb, "stp_handshake_seconds_bucket{le=\"+Inf\"} %llu\n",
		  (unsigned long long)st->hs_count);
	sb_printf(sb, "stp_handshake_seconds_sum %.3f\n", (double)st->hs_sum_ms / 1000.0);
	sb_printf(sb, "stp_handshake_seconds_count %llu\n", (unsigned long long)st->hs_count);
	metric_head(sb, "stp_auth_failures_total", "counter", "Credentials refused.");
	sb_printf(sb, "stp_auth_failures_total %llu\n", (unsigned long long)st->auth_failures);
	metric_head(sb, "stp_rule_denials_total", "counter", "Requests the rules denied.");
	sb_printf(sb, "stp_rule_denials_total %llu\n", (unsigned long long)st->rule_denials);
	metric_head(sb, "stp_refused_total", "counter",
		    "Clients closed at once because --max-sessions were open.");
	sb_printf(sb, "stp_refused_total %llu\n", (unsigned long long)v.refused);
	metric_head(sb, "stp_resolver_lookups_total", "counter",
		    "Name, address and DNS lookups started.");
	sb_printf(sb, "stp_resolver_lookups_total %llu\n", (unsigned long long)v.lookups);
	metric_head(sb, "stp_udp_datagrams_total", "counter",
		    "Datagrams of ended UDP associations: relayed up (from the client), down, or dropped.");
	sb_printf(sb, "stp_udp_datagrams_total{direction=\"up\"} %llu\n",
		  (unsigned long long)st->udp_up);
	sb_printf(sb, "stp_udp_datagrams_total{direction=\"down\"} %llu\n",
		  (unsigned long long)st->udp_down);
	sb_printf(sb, "stp_udp_datagrams_total{direction=\"dropped\"} %llu\n",
		  (unsigned long long)st->udp_dropped);
	metric_head(sb, "stp_mux_streams_total", "counter",
		    "MUX streams: opened (each also counts as a session of its command), or refused.");
	sb_printf(sb, "stp_mux_streams_total{result=\"opened\"} %llu\n",
		  (unsigned long long)st->mux_streams);
	sb_printf(sb, "stp_mux_streams_total{result=\"refused\"} %llu\n",
		  (unsigned long long)st->mux_refused);
}

/* --- the endpoint ---------------------------------------------------------- */

struct sconn {
	struct stp_stats_srv *st;
	struct sconn *prev, *next;
	int fd;
	bool lingering;           /* answer written, write side shut */
	char req[STATS_REQ_MAX];
	size_t reqlen;
	char *out;                /* the whole answer, NULL until rendered */
	size_t outlen, outoff;
	struct stp_timer timer;
};

struct stp_stats_srv {
	struct stp_server *s;
	int lfd;
	struct stp_accept_pause pause;  /* accept paused at the fd limit */
	struct sockaddr_storage addr;
	socklen_t alen;
	struct sconn *conns;
	int nconns;
	bool watched;             /* lfd is on s->loop */
};

static void conn_free(struct sconn *c)
{
	struct stp_stats_srv *st = c->st;

	stp_timer_stop(st->s->loop, &c->timer);
	stp_loop_unwatch(st->s->loop, c->fd);
	close(c->fd);
	free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	st->nconns--;
	free(c);
}

static void conn_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	(void)l;
	(void)t;
	conn_free(arg);  /* too slow: cut off */
}

const char *stp_stats_http_status(const char *req, size_t len, size_t cap)
{
	static const char get[] = "GET /metrics HTTP/1.";
	const char *eol;
	size_t linelen;

	if (!memmem(req, len, "\r\n\r\n", 4) && !memmem(req, len, "\n\n", 2))
		return len < cap ? NULL : "431 Request Header Fields Too Large";
	eol = memchr(req, '\n', len);
	linelen = (size_t)(eol - req);
	if (linelen && req[linelen - 1] == '\r')
		linelen--;
	if (linelen == sizeof(get) && memcmp(req, get, sizeof(get) - 1) == 0 &&
	    (req[sizeof(get) - 1] == '0' || req[sizeof(get) - 1] == '1'))
		return "200 OK";
	return "404 Not Found";
}

/* Makes c's answer with status (from stp_stats_http_status): the metrics
 * for 200, else a short error. Returns 0, or -1 when out of memory. */
static int answer(struct sconn *c, const char *status)
{
	struct sbuf body = { .cap = 4096 }, all = { .cap = 4096 };

	if (!(body.b = malloc(body.cap)) || !(all.b = malloc(all.cap))) {
		free(body.b);
		return -1;
	}
	if (status[0] == '2') {
		render(&body, c->st->s);
	} else {
		sb_printf(&body, "%s\n", status);
	}
	sb_printf(&all, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "Connection: close\r\n\r\n", status,
		  status[0] == '2' ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		  body.len);
	if (!body.bad && !all.bad && all.cap - all.len < body.len + 1) {
		char *nb = realloc(all.b, all.len + body.len + 1);
		if (nb) {
			all.b = nb;
			all.cap = all.len + body.len + 1;
		} else {
			all.bad = true;
		}
	}
	if (body.bad || all.bad) {
		free(body.b);
		free(all.b);
		return -1;
	}
	memcpy(all.b + all.len, body.b, body.len);
	all.len += body.len;
	free(body.b);
	c->out = all.b;
	c->outlen = all.len;
	return 0;
}

/* Writes what is left of the answer; at the end shuts the write side and
 * waits for the client's close. Returns -1 when c is gone. */
static int conn_flush(struct sconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			stp_loop_set(c->st->s->loop, c->fd, STP_EV_WRITE);
			return 0;
		}
		if (n <= 0) {
			conn_free(c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	stp_loop_set(c->st->s->loop, c->fd, STP_EV_READ);
	return 0;
}

static void conn_event(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct sconn *c = arg;

	(void)l;
	if (c->lingering) {
		char junk[512];
		ssize_t n = read(fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_free(c);
		return;
	}
	if (c->out) {
		if (ev & STP_EV_WRITE)
			conn_flush(c);
		return;
	}
	if (!(ev & STP_EV_READ))
		return;
	ssize_t n = read(fd, c->req + c->reqlen, sizeof(c->req) - c->reqlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);  /* gone before a whole request */
		return;
	}
	c->reqlen += (size_t)n;
	const char *status = stp_stats_http_status(c->req, c->reqlen, sizeof(c->req));
	if (!status)
		return;
	stp_loop_set(c->st->s->loop, fd, 0);
	if (answer(c, status) < 0) {
		conn_free(c);
		return;
	}
	conn_flush(c);
}

/* At the cap: ends the oldest connection still reading its request, or
 * else the oldest of all. */
static void evict_oldest(struct stp_stats_srv *st)
{
	struct sconn *idle = NULL, *any = NULL;

	/* new connections are pushed at the head: the last match is the oldest */
	for (struct sconn *c = st->conns; c; c = c->next) {
		any = c;
		if (!c->out)
			idle = c;
	}
	if (idle || any)
		conn_free(idle ? idle : any);
}

static void on_stats_accept(struct stp_loop *l, int lfd, unsigned ev, void *arg)
{
	struct stp_stats_srv *st = arg;

	(void)ev;
	for (int k = 0; k < STATS_MAX_CONNS; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			bool warn;
			/* the client stays in the backlog: do not spin on it */
			if (stp_accept_pause(&st->pause, errno, &warn) && warn)
				stp_log(&st->s->cfg.log, STP_LOG_WARN, "--stats: accept: %s: pausing",
					strerror(errno));
			return;
		}
		stp_accept_pause_ok(&st->pause);
		if (st->nconns >= STATS_MAX_CONNS)
			evict_oldest(st);
		struct sconn *c = st->nconns < STATS_MAX_CONNS ? malloc(sizeof(*c)) : NULL;
		if (!c) {
			close(fd);  /* out of memory: a scraper retries */
			continue;
		}
		c->st = st;
		c->fd = fd;
		c->lingering = false;
		c->reqlen = 0;
		c->out = NULL;
		c->outlen = c->outoff = 0;
		if (stp_loop_watch(l, fd, STP_EV_READ, conn_event, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		stp_timer_init(&c->timer, conn_timer, c);
		stp_timer_start(l, &c->timer, STATS_TIMEOUT_MS);
		c->prev = NULL;
		c->next = st->conns;
		if (st->conns)
			st->conns->prev = c;
		st->conns = c;
		st->nconns++;
	}
}

struct stp_stats_srv *stp_stats_new(struct stp_server *s, const char *spec, struct stp_err *e)
{
	char host[256], portstr[8];
	uint16_t port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	struct stp_stats_srv *st;
	int rc;

	if (stp_hostport_split(spec, host, sizeof(host), &port, -1, false, e) < 0) {
		stp_err_prefix(e, "--stats");
		return NULL;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		stp_err_set(e, STP_EXIT_USAGE, "--stats %s: %s", spec, gai_strerror(rc));
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		freeaddrinfo(ai);
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		return NULL;
	}
	st->s = s;
	st->lfd = stp_listen_sa(ai->ai_addr, ai->ai_addrlen, 64, e);
	freeaddrinfo(ai);
	if (st->lfd < 0) {
		stp_err_prefix(e, "--stats");
		free(st);
		return NULL;
	}
	st->alen = sizeof(st->addr);
	if (getsockname(st->lfd, (struct sockaddr *)&st->addr, &st->alen) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "--stats %s: %s", spec, strerror(errno));
		close(st->lfd);
		free(st);
		return NULL;
	}
	if (s->loop && stp_stats_start(st, e) < 0) {
		close(st->lfd);
		free(st);
		return NULL;
	}
	return st;
}

int stp_stats_start(struct stp_stats_srv *st, struct stp_err *e)
{
	char as[STP_ADDRSTRLEN];

	stp_accept_pause_init(&st->pause, st->s->loop, st->lfd);
	if (stp_loop_watch(st->s->loop, st->lfd, STP_EV_READ, on_stats_accept, st) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--stats %s: %s",
				   stp_sa_str((const struct sockaddr *)&st->addr, as, sizeof(as)),
				   strerror(errno));
	st->watched = true;
	return 0;
}

const struct sockaddr *stp_stats_addr(const struct stp_stats_srv *st)
{
	return (const struct sockaddr *)&st->addr;
}

void stp_stats_stop(struct stp_stats_srv *st)
{
	if (!st || st->lfd < 0)
		return;
	if (st->watched) {
		stp_accept_pause_stop(&st->pause);
		stp_loop_unwatch(st->s->loop, st->lfd);
		st->watched = false;
	}
	close(st->lfd);
	st->lfd = -1;
}

void stp_stats_free(struct stp_stats_srv *st)
{
	if (!st)
		return;
	stp_stats_stop(st);
	while (st->conns)
		conn_free(st->conns);
	free(st);
}
