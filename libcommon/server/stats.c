/* stats.c - stp-serve's counters, and the --stats endpoint: GET /metrics
 * in Prometheus text format 0.0.4, and the status page (/, /api/status,
 * /api/sessions, /api/series: statsapi.c, statspage.html) over HTTP/1.0 on
 * the event loop.
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

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/server_priv.h"
#include "core/sock.h"
#include "server/stats.h"
#include "server/statsapi.h"
#include "server/statsboard.h"
#include "server/uphealth.h"
#include "server/statshttp.h"
#include "server/statsring.h"
#include "server/policy/users.h"

#define STATS_MAX_CONNS 16
#define STATS_REQ_MAX 2048          /* request line and headers */
#define STATS_TIMEOUT_MS 5000       /* the whole exchange */
#define STATS_BODY_MAX (256 * 1024) /* the rendered answer, headers included */
#define STATS_PUBLISH_MS 250        /* --workers: a worker's gauges this fresh */
#define BOARD_EVERY 4               /* ... and its board every 4th time: 1 s */
#define STATS_BODY_BIG (4 * 1024 * 1024) /* /api/sessions with a big ?limit= */

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

const char *stats_cmd_slot_label(int c)
{
	return cmd_slot_label(c);
}

const char *stats_result_label(int r)
{
	return result_names[r];
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
static void note_refusal(struct stp_stats_srv *st, const struct session *ss,
			 enum stats_result r);
static void count_user(struct stp_server *s, const struct session *ss, uint64_t up,
		       uint64_t down);

void stats_session_end(struct stp_server *s, const struct session *ss)
{
	struct stp_stats *st = &s->stats;

	uint64_t up = ss->relay ? stp_relay_bytes(ss->relay, STP_RELAY_AB) : ss->bytes_up;
	uint64_t down = ss->relay ? stp_relay_bytes(ss->relay, STP_RELAY_BA) : ss->bytes_down;

	st->sessions[cmd_index(ss)][stats_result_of(ss)]++;
	stats_http_count(&st->http, ss);
	st->bytes_up += up;
	st->bytes_down += down;
	if (ss->listener >= 0 && ss->listener < STATS_NLISTEN)
		st->listener_sessions[ss->listener]++;
	if (s->cfg.stats_per_user)
		count_user(s, ss, up, down);
	if (ss->replied_at) {
		uint64_t ms = ss->replied_at >= ss->start ? ss->replied_at - ss->start : 0;
		for (int i = 0; i < STATS_NBUCKETS; i++)
			if (ms <= bucket_ms[i])
				st->hs_bucket[i]++;  /* cumulative, as Prometheus wants */
		st->hs_count++;
		st->hs_sum_ms += ms;
	}
	if (s->stats_srv || s->shared)
		note_refusal(s->stats_srv, ss, stats_result_of(ss));
	if (s->shared)
		stats_publish(s);
}

/* --- workers: one slot each, summed by the endpoint ------------------------- */

#define SLOT_WORDS (sizeof(struct stats_view) / sizeof(uint64_t))
_Static_assert(sizeof(struct stats_view) % sizeof(uint64_t) == 0,
	       "struct stats_view is made of uint64_t");

/* --stats-per-user: each worker's table of users (a fixed number of
 * entries; once it is full, further users count as "_other"). An entry
 * is claimed by its worker alone: name written first, then used stored
 * with release, so that a reader in another process that loads used with
 * acquire sees the whole name. Entries are never freed. */
#define USERS_MAX 256
struct user_ent {
	uint64_t used;
	char name[64];
	uint64_t sessions, up, down;
};
#define USER_TABLE_SIZE (USERS_MAX * sizeof(struct user_ent))

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

/* The mapping: n slots, then n user tables (pages never written, as
 * without --stats-per-user, take no memory), then n status boards. */
static size_t shared_size(int n)
{
	return (size_t)n * (sizeof(struct stats_slot) + USER_TABLE_SIZE +
			    sizeof(struct stats_board));
}

struct stats_board *stats_shared_board(struct stp_server *s, int k)
{
	if (!s->shared || k < 0 || k >= s->nworkers)
		return NULL;
	return (struct stats_board *)((char *)s->shared +
				      (size_t)s->nworkers * (sizeof(struct stats_slot) +
							     USER_TABLE_SIZE) +
				      (size_t)k * sizeof(struct stats_board));
}

struct stats_slot *stats_shared_new(int n, struct stp_err *e)
{
	void *p = mmap(NULL, shared_size(n), PROT_READ | PROT_WRITE,
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
		munmap(v, shared_size(n));
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
	struct stp_server *s = arg;

	stats_publish(s);
	/* the status board only when there is a page to show it */
	if (s->cfg.stats_listen && ++s->publish_ticks % BOARD_EVERY == 0)
		board_publish(s);
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
	board_reset(s);  /* a predecessor may have died mid-write */
	stp_timer_init(&s->publish_timer, on_publish, s);
	on_publish(s->loop, &s->publish_timer, s);
}

/* The endpoint's numbers: s's own, or with --workers the sum of all slots
 * (s's own published first, so that they are current). */
void stats_view_all(struct stp_server *s, struct stats_view *sum)
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

void stats_view_worker(struct stp_server *s, int k, struct stats_view *v)
{
	uint64_t w;

	if (!s->shared) {
		view_of(s, v);
		return;
	}
	if (k == s->worker)
		stats_publish(s);
	for (size_t i = 0; i < SLOT_WORDS; i++) {
		w = __atomic_load_n(&s->shared[k].w[i], __ATOMIC_RELAXED);
		memcpy((char *)v + i * sizeof(w), &w, sizeof(w));
	}
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

static struct user_ent *user_table(struct stp_server *s, int k);

/* A user name as a Prometheus label value into out (cap bytes): '\\' and
 * '"' escaped, and every byte that is not printable ASCII made '?', so
 * that no name can break the text format. */
static void label_value(char *out, size_t cap, const char *name)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)name; *p && o + 3 < cap; p++) {
		if (*p == '\\' || *p == '"')
			out[o++] = '\\';
		out[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
	}
	out[o] = '\0';
}

/* --stats-per-user: the users of every worker's table, summed by name. */
static void render_users(struct sbuf *sb, struct stp_server *s)
{
	struct user_ent *sum = calloc(USERS_MAX, sizeof(*sum));
	int n = 0;
	char lv[2 * sizeof(sum->name) + 1];

	if (!sum) {
		sb->bad = true;
		return;
	}
	for (int k = 0; k < s->nworkers; k++) {
		const struct user_ent *t = user_table(s, k);
		for (int i = 0; t && i < USERS_MAX; i++) {
			if (!__atomic_load_n(&t[i].used, __ATOMIC_ACQUIRE))
				break;  /* claimed in order: the rest is free */
			int j = 0;
			while (j < n && strncmp(sum[j].name, t[i].name, sizeof(sum->name)) != 0)
				j++;
			if (j == n) {
				if (n == USERS_MAX)
					j = USERS_MAX - 1;  /* a full sum: the last takes the rest */
				else
					memcpy(sum[n++].name, t[i].name, sizeof(sum->name));
			}
			sum[j].sessions += __atomic_load_n(&t[i].sessions, __ATOMIC_RELAXED);
			sum[j].up += __atomic_load_n(&t[i].up, __ATOMIC_RELAXED);
			sum[j].down += __atomic_load_n(&t[i].down, __ATOMIC_RELAXED);
		}
	}
	metric_head(sb, "stp_user_sessions_total", "counter",
		    "Sessions ended, by authenticated user (--stats-per-user).");
	for (int j = 0; j < n; j++) {
		label_value(lv, sizeof(lv), sum[j].name);
		sb_printf(sb, "stp_user_sessions_total{user=\"%s\"} %llu\n", lv,
			  (unsigned long long)sum[j].sessions);
	}
	metric_head(sb, "stp_user_bytes_total", "counter",
		    "Bytes relayed by ended sessions, by authenticated user (--stats-per-user).");
	for (int j = 0; j < n; j++) {
		label_value(lv, sizeof(lv), sum[j].name);
		sb_printf(sb, "stp_user_bytes_total{user=\"%s\",direction=\"up\"} %llu\n", lv,
			  (unsigned long long)sum[j].up);
		sb_printf(sb, "stp_user_bytes_total{user=\"%s\",direction=\"down\"} %llu\n", lv,
			  (unsigned long long)sum[j].down);
	}
	free(sum);
}

const char *stats_listener_kind(const struct stp_server *s, int i)
{
	switch (s->ls[i].kind) {
	case LK_TTCP: return "transparent";
	case LK_TUDP: return "transparent-udp";
	default: return "proxy";
	}
}

/* Sessions ended by listener: which door the clients (or the redirected
 * flows) came in by. */
static void render_listeners(struct sbuf *sb, struct stp_server *s, const struct stp_stats *st)
{
	char a[STP_ADDRSTRLEN];

	metric_head(sb, "stp_listener_sessions_total", "counter",
		    "Sessions ended, by the listener they came in by (kind proxy, transparent or transparent-udp).");
	for (int i = 0; i < s->nls && i < STATS_NLISTEN; i++)
		sb_printf(sb, "stp_listener_sessions_total{listener=\"%s\",kind=\"%s\"} %llu\n",
			  stp_sa_str((const struct sockaddr *)&s->ls[i].addr, a, sizeof(a)),
			  stats_listener_kind(s, i), (unsigned long long)st->listener_sessions[i]);
}

/* The metrics of s (of all workers), as Prometheus text, appended to sb. */
static void render(struct sbuf *sb, struct stp_server *s)
{
	struct stats_view v;
	const struct stp_stats *st = &v.st;

	stats_view_all(s, &v);
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
	render_listeners(sb, s, st);
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
	if (uphealth_count(s) > 0) {
		metric_head(sb, "stp_upstream_up", "gauge",
			    "1 while upstream chain N (1-based, in order of --upstream, --upstream-chain) is up, as worker 0 sees it.");
		for (int k = 0; k < uphealth_count(s); k++)
			sb_printf(sb, "stp_upstream_up{chain=\"%d\"} %d\n", k + 1, uphealth_up(s, k));
		metric_head(sb, "stp_upstream_sessions_total", "counter",
			    "Sessions sent through upstream chain N: ok (got through), failed (could not reach it).");
		for (int k = 0; k < uphealth_count(s); k++) {
			sb_printf(sb, "stp_upstream_sessions_total{chain=\"%d\",result=\"ok\"} %llu\n",
				  k + 1, (unsigned long long)st->chain_sessions[k]);
			sb_printf(sb, "stp_upstream_sessions_total{chain=\"%d\",result=\"failed\"} %llu\n",
				  k + 1, (unsigned long long)st->chain_failures[k]);
		}
	}
	metric_head(sb, "stp_mux_streams_total", "counter",
		    "MUX streams: opened (each also counts as a session of its command), or refused.");
	sb_printf(sb, "stp_mux_streams_total{result=\"opened\"} %llu\n",
		  (unsigned long long)st->mux_streams);
	sb_printf(sb, "stp_mux_streams_total{result=\"refused\"} %llu\n",
		  (unsigned long long)st->mux_refused);
	metric_head(sb, "stp_http_requests_total", "counter",
		    "HTTP requests on the mixed port, by kind and by the class of the status answered.");
	for (int k = 0; k < STATS_HTTP_KINDS; k++)
		for (int c = 0; c < STATS_HTTP_CLASSES; c++)
			if (st->http.req[k][c])
				sb_printf(sb, "stp_http_requests_total{kind=\"%s\",status=\"%s\"} %llu\n",
					  stats_http_kind(k), stats_http_class(c),
					  (unsigned long long)st->http.req[k][c]);
	if (s->cfg.stats_per_user)
		render_users(sb, s);
}

/* --- the endpoint ---------------------------------------------------------- */

struct sconn {
	struct stp_stats_srv *st;
	struct sconn *prev, *next;
	int fd;
	bool lingering;           /* answer written, write side shut */
	struct sockaddr_storage peer;
	char req[STATS_REQ_MAX];
	size_t reqlen;
	struct stats_req rq;      /* the parsed request */
	struct stp_auth_job *job; /* --stats-users: the password being checked */
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
	struct stp_users *users;  /* --stats-users, NULL: no authentication */
	bool users_started;
	struct stats_ring *ring;  /* the page's samples and refusals */
	struct stp_timer sample_timer;
	bool sampling;
	uint64_t started_ms;      /* wall clock at start, for the uptime */
	struct user_ent *utab;    /* --stats-per-user with one worker */
};

/* Worker k's table of users: in the shared mapping after the slots, or
 * (one worker) the endpoint's own; NULL when there is none. */
static struct user_ent *user_table(struct stp_server *s, int k)
{
	if (s->shared)
		return (struct user_ent *)((char *)s->shared +
					   (size_t)s->nworkers * sizeof(struct stats_slot) +
					   (size_t)k * USER_TABLE_SIZE);
	return s->stats_srv ? s->stats_srv->utab : NULL;
}

/* --stats-per-user: adds an ended session of an authenticated user to its
 * entry, claiming one for a new name (the last entry takes every user
 * once the others are taken). Only this worker writes its table. */
static void count_user(struct stp_server *s, const struct session *ss, uint64_t up,
		       uint64_t down)
{
	struct user_ent *t = user_table(s, s->worker), *u = NULL;
	char name[sizeof(t->name)];

	if (!t || !(ss->authenticated || ss->cert_auth) || !ss->user[0])
		return;
	size_t n = strnlen(ss->user, sizeof(name) - 1);  /* a longer name is cut */
	memcpy(name, ss->user, n);
	name[n] = '\0';
	for (int i = 0; i < USERS_MAX && !u; i++) {
		if (!t[i].used) {
			u = &t[i];
			if (i == USERS_MAX - 1)
				snprintf(name, sizeof(name), "_other");
			memcpy(u->name, name, sizeof(name));
			__atomic_store_n(&u->used, 1, __ATOMIC_RELEASE);
		} else if (strncmp(t[i].name, name, sizeof(name)) == 0 || i == USERS_MAX - 1) {
			u = &t[i];
		}
	}
	__atomic_store_n(&u->sessions, u->sessions + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&u->up, u->up + up, __ATOMIC_RELAXED);
	__atomic_store_n(&u->down, u->down + down, __ATOMIC_RELAXED);
}

static void conn_free(struct sconn *c)
{
	struct stp_stats_srv *st = c->st;

	if (c->job)
		stp_auth_cancel(st->users, c->job);
	stp_timer_stop(st->s->loop, &c->timer);
	stp_loop_unwatch(st->s->loop, c->fd);
	close(c->fd);
	free(c->out);
	OPENSSL_cleanse(c->rq.auth, sizeof(c->rq.auth));
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
	struct stats_req rq;

	return stats_http_parse(req, len, cap, &rq);
}

/* Refusals the page lists: error replies, and logins refused. */
static void note_refusal(struct stp_stats_srv *st, const struct session *ss,
			 enum stats_result r)
{
	char client[STP_ADDRSTRLEN], target[STP_ADDRSTRLEN + 300];
	bool login = ss->result && (strcmp(ss->result, "authentication failed") == 0 ||
				    strcmp(ss->result, "blocked") == 0);

	struct stats_ring one;  /* --workers: the entry, made as the ring makes it */
	struct stats_ring *ring = ss->srv->shared ? &one : st ? st->ring : NULL;

	if (!ring || (!login && (r == STATS_OK || r == STATS_NONE)))
		return;
	if (ring == &one)
		one.rhead = one.rn = 0;
	stats_ring_refusal(ring, stats_wall_ms(),
			   stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)),
			   ss->user, ss->cmd ? stp_cmd_label(ss->ver, ss->cmd) : "none",
			   ss->cmd ? stp_addr_str(&ss->dst, target, sizeof(target)) : "",
			   ss->result ? ss->result : result_names[r]);
	/* with workers each one's refusals go to its board, worker 0's too */
	if (ring == &one)
		board_refusal(ss->srv, stats_ring_refusal_at(&one, 0));
}

/* The page, embedded at build time (statspage.html, tools/embed). */
extern const char stats_page_html[];
extern const size_t stats_page_html_len;

/* The body of c's answer, for a 200: malloc'd into *body (len *n) with
 * its content type. Returns 0, or -1 when memory is short. */
static int route_body(struct sconn *c, char **body, size_t *n, const char **type)
{
	struct stp_server *s = c->st->s;
	char *j = NULL;

	*type = "application/json";
	switch (c->rq.route) {
	case STATS_R_METRICS: {
		struct sbuf sb = { .cap = 4096 };
		if (!(sb.b = malloc(sb.cap)))
			return -1;
		render(&sb, s);
		if (sb.bad) {
			free(sb.b);
			return -1;
		}
		*body = sb.b;
		*n = sb.len;
		*type = "text/plain; version=0.0.4; charset=utf-8";
		return 0;
	}
	case STATS_R_PAGE:
		if (!(*body = malloc(stats_page_html_len)))
			return -1;
		memcpy(*body, stats_page_html, stats_page_html_len);
		*n = stats_page_html_len;
		*type = "text/html; charset=utf-8";
		return 0;
	case STATS_R_STATUS: j = stats_api_status(s, c->st->ring, c->st->started_ms); break;
	case STATS_R_SESSIONS: j = stats_api_sessions(s, c->rq.limit); break;
	case STATS_R_SERIES: j = stats_api_series(c->st->ring); break;
	case STATS_R_NONE: break;
	}
	if (!j)
		return -1;
	*n = strlen(j);
	*body = j;
	return 0;
}

/* Makes c's answer with status (from stats_http_parse, or 401): the
 * route's body for 200, else a short error. Returns 0, or -1 when out of
 * memory. */
static int answer(struct sconn *c, const char *status)
{
	struct sbuf all = { .cap = 512 };
	char *body = NULL;
	size_t n = 0;
	const char *type = "text/plain";

	if (status[0] == '2') {
		if (route_body(c, &body, &n, &type) < 0)
			return -1;
	} else {
		n = strlen(status) + 1;
		if (!(body = malloc(n + 1)))
			return -1;
		snprintf(body, n + 1, "%s\n", status);
	}
	if (!(all.b = malloc(all.cap))) {
		free(body);
		return -1;
	}
	sb_printf(&all, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		  "%sConnection: close\r\n\r\n", status, type, n,
		  status[0] == '4' && status[1] == '0' && status[2] == '1' ?
		  "WWW-Authenticate: Basic realm=\"stp-serve\", charset=\"UTF-8\"\r\n" : "");
	if (all.bad || n > STATS_BODY_BIG) {
		free(body);
		free(all.b);
		return -1;
	}
	char *nb = realloc(all.b, all.len + n);
	if (!nb) {
		free(body);
		free(all.b);
		return -1;
	}
	memcpy(nb + all.len, body, n);
	free(body);
	c->out = nb;
	c->outlen = all.len + n;
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

/* Answers c with status and starts writing; c may be gone after. */
static void respond(struct sconn *c, const char *status)
{
	OPENSSL_cleanse(c->rq.auth, sizeof(c->rq.auth));
	if (answer(c, status) < 0) {
		conn_free(c);
		return;
	}
	conn_flush(c);
}

/* --stats-users: the password check's answer. */
static void auth_done(void *arg, bool ok)
{
	struct sconn *c = arg;

	c->job = NULL;
	respond(c, ok ? "200 OK" : "401 Unauthorized");
}

/* --stats-users: checks c's Basic credentials off the loop; answers 401
 * at once when there are none. */
static void check_auth(struct sconn *c)
{
	unsigned char dec[STATS_AUTH_MAX];
	size_t tlen = strlen(c->rq.auth);
	int n;

	if (tlen == 0 || tlen % 4 != 0) {
		respond(c, "401 Unauthorized");
		return;
	}
	n = EVP_DecodeBlock(dec, (const unsigned char *)c->rq.auth, (int)tlen);
	if (n < 0) {
		respond(c, "401 Unauthorized");
		return;
	}
	/* EVP_DecodeBlock counts the padding's zero bytes: take them off */
	for (size_t i = tlen; i > 0 && c->rq.auth[i - 1] == '='; i--)
		n--;
	char *colon = memchr(dec, ':', (size_t)n);
	if (!colon || memchr(dec, '\0', (size_t)n)) {
		OPENSSL_cleanse(dec, sizeof(dec));
		respond(c, "401 Unauthorized");
		return;
	}
	*colon = '\0';
	dec[n] = '\0';  /* n < sizeof(dec): 3/4 of the token */
	int rc = stp_users_check(c->st->users, (const char *)dec, colon + 1,
				 (const struct sockaddr *)&c->peer, auth_done, c, &c->job);
	OPENSSL_cleanse(dec, sizeof(dec));
	if (rc < 0)
		respond(c, "503 Service Unavailable");
	/* rc 1: auth_done ran already; rc 0: it will */
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
	if (c->job || !(ev & STP_EV_READ))
		return;
	ssize_t n = read(fd, c->req + c->reqlen, sizeof(c->req) - c->reqlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);  /* gone before a whole request */
		return;
	}
	c->reqlen += (size_t)n;
	const char *status = stats_http_parse(c->req, c->reqlen, sizeof(c->req), &c->rq);
	if (!status)
		return;
	OPENSSL_cleanse(c->req, sizeof(c->req));  /* the credentials are in c->rq now */
	stp_loop_set(c->st->s->loop, fd, 0);
	if (status[0] == '2' && c->st->users)
		check_auth(c);
	else
		respond(c, status);
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
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		c->peer = peer;
		c->lingering = false;
		c->reqlen = 0;
		c->job = NULL;
		memset(&c->rq, 0, sizeof(c->rq));
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

/* Every STATS_RING_STEP_S: one sample of the totals into the ring. */
static void on_sample(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_stats_srv *st = arg;
	struct stats_totals tot;

	stats_totals_of(st->s, &tot);
	stats_ring_sample(st->ring, &tot, stats_wall_ms());
	stp_timer_start(l, t, STATS_RING_STEP_S * 1000);
}

/* Releases what stp_stats_new made, and st. */
static void srv_release(struct stp_stats_srv *st)
{
	if (st->lfd >= 0)
		close(st->lfd);
	stp_users_free(st->users);
	free(st->utab);
	free(st->ring);
	free(st);
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
	/* the page names every user, client and target: like a proxy
	 * listener, it is never open to a network by accident */
	if (!stp_sa_is_loopback(ai->ai_addr) && !s->cfg.stats_users && !s->cfg.open) {
		freeaddrinfo(ai);
		stp_err_set(e, STP_EXIT_USAGE, "--stats %s: not a loopback address: anyone who "
			    "reaches it would see every session (give --stats-users FILE, or "
			    "--open if you mean it)", spec);
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->ring = calloc(1, sizeof(*st->ring)))) {
		freeaddrinfo(ai);
		free(st);
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		return NULL;
	}
	st->s = s;
	st->lfd = stp_listen_sa(ai->ai_addr, ai->ai_addrlen, 64, e);
	freeaddrinfo(ai);
	if (st->lfd < 0) {
		stp_err_prefix(e, "--stats");
		srv_release(st);
		return NULL;
	}
	/* with one worker the table of users is the endpoint's own (with
	 * --workers it is in the shared mapping) */
	if (s->cfg.stats_per_user && s->nworkers == 1 &&
	    !(st->utab = calloc(USERS_MAX, sizeof(*st->utab)))) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		srv_release(st);
		return NULL;
	}
	if (s->cfg.stats_users && !(st->users = stp_users_load(s->cfg.stats_users, e))) {
		stp_err_prefix(e, "--stats-users");
		srv_release(st);
		return NULL;
	}
	st->alen = sizeof(st->addr);
	if (getsockname(st->lfd, (struct sockaddr *)&st->addr, &st->alen) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "--stats %s: %s", spec, strerror(errno));
		srv_release(st);
		return NULL;
	}
	if (s->loop && stp_stats_start(st, e) < 0) {
		stp_stats_free(st);
		return NULL;
	}
	return st;
}

int stp_stats_start(struct stp_stats_srv *st, struct stp_err *e)
{
	char as[STP_ADDRSTRLEN];

	if (st->users && !st->users_started) {
		if (stp_users_start(st->users, st->s->loop, e) < 0)
			return stp_err_prefix(e, "--stats-users");
		st->users_started = true;
	}
	st->started_ms = stats_wall_ms();
	stp_timer_init(&st->sample_timer, on_sample, st);
	on_sample(st->s->loop, &st->sample_timer, st);  /* primes the ring */
	st->sampling = true;
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
	if (st->sampling)
		stp_timer_stop(st->s->loop, &st->sample_timer);
	srv_release(st);
}
