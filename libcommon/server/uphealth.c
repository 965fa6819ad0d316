/* uphealth.c - upstream chains: health checks and the choice of a chain
 * (uphealth.h). */
#include <ares.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/json.h"
#include "core/sock.h"
#include "proto/addr.h"
#include "proto/url.h"
#include "server/server_priv.h"
#include "server/statsapi.h"
#include "server/uphealth.h"

_Static_assert(UPH_MAX == STATS_NCHAINS, "a counter for every chain");

enum uph_state { UPH_UNKNOWN, UPH_UP, UPH_DOWN };

struct uph_chain {
	struct uph *h;
	int idx;
	char *spec;                 /* "URL,URL..." (credentials: wiped at free) */
	char label[512];            /* scheme://host:port,... without credentials */
	bool probe;                 /* checked actively (--upstream-chain) */
	enum uph_state state;
	char last_error[200];
	uint64_t last_ok_ms, last_error_ms;  /* wall clock; 0: never */
	long rtt_ms;                /* of the last passed check; -1: none */
	/* the check in flight */
	struct stp_proxy first;     /* the first hop (wiped at free) */
	struct stp_timer timer;     /* next check, or the check's deadline */
	bool timer_on, busy;
	struct stp_lookup *lookup;
	int fd;
	uint64_t t0;                /* loop ms at the check's start */
	uint8_t out[4], in[2];
	size_t outlen, outoff, inlen;
};

struct uph {
	struct stp_server *s;
	int n;
	struct uph_chain c[UPH_MAX];
	unsigned rr;                /* round-robin's turn */
};

static struct uph *H(const struct stp_server *s)
{
	return s->uph;
}

/* --- a chain's state ------------------------------------------------------- */

static void mark(struct uph_chain *c, bool ok, const char *why)
{
	struct stp_server *s = c->h->s;
	enum uph_state was = c->state;

	if (ok) {
		c->state = UPH_UP;
		c->last_ok_ms = stats_wall_ms();
	} else {
		c->state = UPH_DOWN;
		c->last_error_ms = stats_wall_ms();
		snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	}
	if (was != c->state && (was != UPH_UNKNOWN || !ok))
		stp_log(&s->cfg.log, ok ? STP_LOG_INFO : STP_LOG_WARN, "upstream chain %d (%s): %s%s%s",
			c->idx + 1, c->label, ok ? "up" : "down", ok ? "" : ": ", ok ? "" : why);
}

/* --- the check ------------------------------------------------------------- */

static void check_start(struct uph_chain *c);

/* Ends the check in flight (if any) and plans the next one. */
static void check_end(struct uph_chain *c, bool ok, const char *why)
{
	struct stp_loop *l = c->h->s->loop;

	if (c->lookup) {
		stp_lookup_cancel(c->lookup);
		c->lookup = NULL;
	}
	if (c->fd >= 0) {
		stp_loop_unwatch(l, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->busy) {
		c->busy = false;
		if (ok)
			c->rtt_ms = (long)(stp_loop_now(l) - c->t0);
		mark(c, ok, why);
	}
	stp_timer_start(l, &c->timer, UPH_CHECK_MS);
	c->timer_on = true;
}

static void on_check_fd(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct uph_chain *c = arg;
	char msg[200];

	(void)ev;
	if (c->outoff == 0 && c->outlen > 0) {
		int err = stp_connect_result(fd);
		if (err) {
			snprintf(msg, sizeof(msg), "connect: %s", strerror(err));
			check_end(c, false, msg);
			return;
		}
		if (c->first.proto != STP_PROTO_SOCKS5 || c->first.tls) {
			/* TCP alone for other hops (a TLS handshake per check
			 * would cost the proxy more than the check is worth) */
			check_end(c, true, NULL);
			return;
		}
	}
	if (c->outoff < c->outlen) {
		ssize_t n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
			check_end(c, false, msg);
			return;
		}
		c->outoff += (size_t)n;
		if (c->outoff < c->outlen)
			return;
		stp_loop_set(l, fd, STP_EV_READ);
		return;
	}
	ssize_t n = recv(fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		snprintf(msg, sizeof(msg), "greeting: %s", n < 0 ? strerror(errno) :
			 "closed without an answer");
		check_end(c, false, msg);
		return;
	}
	c->inlen += (size_t)n;
	if (c->inlen < sizeof(c->in))
		return;  /* the second byte is on its way */
	if (c->in[0] != 5 || c->in[1] == 0xff) {
		snprintf(msg, sizeof(msg), "greeting: %s", c->in[0] != 5 ? "not a SOCKS5 answer"
									 : "no acceptable method");
		check_end(c, false, msg);
		return;
	}
	check_end(c, true, NULL);
}

/* Dials sa for the check. */
static void check_dial(struct uph_chain *c, const struct sockaddr *sa, socklen_t len)
{
	char msg[200];
	int fd = stp_connect_start(sa, len);

	if (fd < 0) {
		snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
		check_end(c, false, msg);
		return;
	}
	if (stp_loop_watch(c->h->s->loop, fd, STP_EV_WRITE, on_check_fd, c) < 0) {
		snprintf(msg, sizeof(msg), "watch: %s", strerror(errno));
		close(fd);
		check_end(c, false, msg);
		return;
	}
	c->fd = fd;
	/* SOCKS5: the method greeting, offering what a session would */
	c->out[0] = 5;
	if (c->first.has_user) {
		c->out[1] = 2;
		c->out[2] = 0;
		c->out[3] = 2;
		c->outlen = 4;
	} else {
		c->out[1] = 1;
		c->out[2] = 0;
		c->outlen = 3;
	}
	c->outoff = c->inlen = 0;
}

static void on_check_lookup(void *arg, int status, const struct ares_addrinfo *ai)
{
	struct uph_chain *c = arg;
	char msg[400];

	c->lookup = NULL;
	for (const struct ares_addrinfo_node *n = status == ARES_SUCCESS && ai ? ai->nodes : NULL;
	     n; n = n->ai_next) {
		struct sockaddr_storage sa;
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		memset(&sa, 0, sizeof(sa));
		memcpy(&sa, n->ai_addr, n->ai_addrlen);
		if (sa.ss_family == AF_INET)
			((struct sockaddr_in *)&sa)->sin_port = htons(c->first.port);
		else
			((struct sockaddr_in6 *)&sa)->sin6_port = htons(c->first.port);
		check_dial(c, (struct sockaddr *)&sa, n->ai_addrlen);
		return;
	}
	snprintf(msg, sizeof(msg), "cannot resolve %s: %s", c->first.host,
		 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
	check_end(c, false, msg);
}

static void check_start(struct uph_chain *c)
{
	struct stp_server *s = c->h->s;
	struct stp_addr a;
	struct sockaddr_storage sa;

	c->busy = true;
	c->t0 = stp_loop_now(s->loop);
	stp_timer_start(s->loop, &c->timer, UPH_TIMEOUT_MS);  /* the deadline */
	c->timer_on = true;
	if (stp_addr_from_host(&a, c->first.host, c->first.port) == 0 &&
	    a.atyp != STP_ATYP_NAME && stp_addr_to_sa(&a, &sa)) {
		check_dial(c, (struct sockaddr *)&sa, sa.ss_family == AF_INET6 ?
			   sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		return;
	}
	struct stp_lookup *q = stp_lookup_start(s->res, c->first.host, AF_UNSPEC,
						on_check_lookup, c);
	if (q)
		c->lookup = q;  /* else the callback ran already */
}

static void on_check_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct uph_chain *c = arg;
	char msg[200];

	(void)l;
	(void)t;
	c->timer_on = false;
	if (c->busy) {
		snprintf(msg, sizeof(msg), "no answer within %d ms", UPH_TIMEOUT_MS);
		check_end(c, false, msg);
		return;
	}
	check_start(c);
}

/* --- the chains ------------------------------------------------------------ */

/* Stops c's check and frees what it holds. */
static void chain_clear(struct uph_chain *c)
{
	struct stp_loop *l = c->h->s->loop;

	if (c->lookup)
		stp_lookup_cancel(c->lookup);
	if (c->fd >= 0) {
		stp_loop_unwatch(l, c->fd);
		close(c->fd);
	}
	if (c->timer_on)
		stp_timer_stop(l, &c->timer);
	stp_proxy_wipe(&c->first);
	if (c->spec) {
		OPENSSL_cleanse(c->spec, strlen(c->spec));
		free(c->spec);
	}
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Parses chain spec into out[0..max). Returns the hops, or -1. */
static int parse_chain(const char *spec, struct stp_proxy *out, int max)
{
	char *buf = strdup(spec), *save = NULL;
	struct stp_err e;
	int n = 0;

	if (!buf)
		return -1;
	for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (n == max || stp_url_parse(u, &out[n], &e) < 0) {
			for (int j = 0; j <= n && j < max; j++)
				stp_proxy_wipe(&out[j]);
			n = -1;
			break;
		}
		n++;
	}
	OPENSSL_cleanse(buf, strlen(spec));
	free(buf);
	return n;
}

/* Fills c (cleared) for spec; probe: checked actively. Returns 0 or -1. */
static int chain_init(struct uph *h, struct uph_chain *c, int idx, const char *spec, bool probe)
{
	struct stp_proxy hops[STP_MAX_UPSTREAM];
	char hp[STP_HOSTPORT_MAX];
	size_t off = 0;
	int n;

	c->h = h;
	c->idx = idx;
	c->fd = -1;
	c->rtt_ms = -1;
	c->probe = probe;
	if (!(c->spec = strdup(spec)))
		return -1;
	n = parse_chain(spec, hops, STP_MAX_UPSTREAM);
	if (n < 1)
		return -1;
	c->first = hops[0];
	for (int i = 0; i < n; i++) {
		int w = snprintf(c->label + off, sizeof(c->label) - off, "%s%s://%s", i ? "," : "",
				 hops[i].scheme, stp_proxy_hostport(&hops[i], hp, sizeof(hp)));
		if (w > 0 && (size_t)w < sizeof(c->label) - off)
			off += (size_t)w;
		if (i > 0)
			stp_proxy_wipe(&hops[i]);
	}
	stp_timer_init(&c->timer, on_check_timer, c);
	if (probe && h->s->loop) {
		/* the first check at once: a chain dead at start is known soon */
		stp_timer_start(h->s->loop, &c->timer, 0);
		c->timer_on = true;
	}
	return 0;
}

/* The specs of cfg's chains: --upstream's hops joined, then the
 * --upstream-chain ones. Returns how many; *joined is malloc'd (or NULL). */
static int specs_of(const struct stp_server_cfg *cfg, const char **v, char **joined)
{
	int n = 0;
	size_t len = 0;

	*joined = NULL;
	if (cfg->nupstream > 0) {
		for (int i = 0; i < cfg->nupstream; i++)
			len += strlen(cfg->upstream[i]) + 1;
		if (!(*joined = malloc(len)))
			return -1;
		(*joined)[0] = '\0';
		for (int i = 0; i < cfg->nupstream; i++) {
			if (i)
				strcat(*joined, ",");
			strcat(*joined, cfg->upstream[i]);
		}
		v[n++] = *joined;
	}
	for (int i = 0; i < cfg->nchains && n < UPH_MAX; i++)
		v[n++] = cfg->upstream_chain[i];
	return n;
}

static void joined_free(char *j)
{
	if (j) {
		OPENSSL_cleanse(j, strlen(j));
		free(j);
	}
}

int uphealth_configure(struct stp_server *s, const struct stp_server_cfg *cfg)
{
	struct uph *h = H(s), *nh;
	const char *v[UPH_MAX];
	char *joined;
	int n = specs_of(cfg, v, &joined);

	if (n < 0 || !(nh = calloc(1, sizeof(*nh)))) {
		joined_free(joined);
		return -1;
	}
	nh->s = s;
	for (int i = 0; i < UPH_MAX; i++)
		nh->c[i].fd = -1;
	for (int i = 0; i < n; i++) {
		struct uph_chain *old = NULL;
		for (int j = 0; h && j < h->n && !old; j++)
			if (h->c[j].spec && strcmp(h->c[j].spec, v[i]) == 0 &&
			    h->c[j].probe == (cfg->nchains > 0))
				old = &h->c[j];
		if (chain_init(nh, &nh->c[i], i, v[i], cfg->nchains > 0) < 0) {
			for (int j = 0; j <= i; j++)
				chain_clear(&nh->c[j]);
			free(nh);
			joined_free(joined);
			return -1;
		}
		nh->n = i + 1;
		if (old) {
			/* the same chain: its health goes on */
			nh->c[i].state = old->state;
			nh->c[i].last_ok_ms = old->last_ok_ms;
			nh->c[i].last_error_ms = old->last_error_ms;
			nh->c[i].rtt_ms = old->rtt_ms;
			memcpy(nh->c[i].last_error, old->last_error, sizeof(old->last_error));
		}
	}
	joined_free(joined);
	if (h) {
		nh->rr = h->rr;
		for (int j = 0; j < h->n; j++)
			chain_clear(&h->c[j]);
		free(h);
	}
	s->uph = nh;
	return 0;
}

int uphealth_start(struct stp_server *s, const struct stp_server_cfg *cfg, struct stp_err *e)
{
	if (cfg->nupstream == 0 && cfg->nchains == 0)
		return 0;
	if (uphealth_configure(s, cfg) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "upstream chains: out of memory");
	return 0;
}

void uphealth_free(struct stp_server *s)
{
	struct uph *h = H(s);

	if (!h)
		return;
	for (int j = 0; j < h->n; j++)
		chain_clear(&h->c[j]);
	free(h);
	s->uph = NULL;
}

int uphealth_count(const struct stp_server *s)
{
	return H(s) ? H(s)->n : 0;
}

/* FNV-1a of the bytes at p. */
static uint32_t fnv(const void *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
	return h;
}

int uphealth_pick(struct stp_server *s, const struct session *ss, struct stp_proxy *out,
		  int max, int *chain)
{
	struct uph *h = H(s);
	int up[UPH_MAX], nup = 0, k;

	if (!h || h->n == 0)
		return -1;
	for (int i = 0; i < h->n; i++)
		if (h->c[i].state != UPH_DOWN)
			up[nup++] = i;
	if (nup == 0)  /* none up: all of them, in order */
		for (int i = 0; i < h->n; i++)
			up[nup++] = i;
	switch (s->cfg.upstream_strategy) {
	case STP_UPSTRAT_ROUND_ROBIN:
		k = up[h->rr++ % (unsigned)nup];
		break;
	case STP_UPSTRAT_HASH_USER: {
		uint32_t x = 2166136261u;
		if ((ss->authenticated || ss->cert_auth) && ss->user[0]) {
			x = fnv(ss->user, strlen(ss->user), x);
		} else {
			const struct sockaddr *sa = (const struct sockaddr *)&ss->peer;
			if (sa->sa_family == AF_INET)
				x = fnv(&((const struct sockaddr_in *)sa)->sin_addr, 4, x);
			else if (sa->sa_family == AF_INET6)
				x = fnv(&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, x);
		}
		k = up[x % (unsigned)nup];
		break;
	}
	default:
		k = up[0];
	}
	*chain = k;
	return parse_chain(h->c[k].spec, out, max);
}

void uphealth_session_ok(struct stp_server *s, int k)
{
	struct uph *h = H(s);

	if (!h || k < 0 || k >= h->n)
		return;
	s->stats.chain_sessions[k]++;
	/* a probed chain is marked by its checks (a session's success says
	 * nothing of the next first hop dial); the passive one by sessions */
	if (!h->c[k].probe || h->c[k].state == UPH_UNKNOWN)
		mark(&h->c[k], true, NULL);
}

void uphealth_session_failed(struct stp_server *s, int k, const char *why)
{
	struct uph *h = H(s);

	if (!h || k < 0 || k >= h->n)
		return;
	s->stats.chain_failures[k]++;
	mark(&h->c[k], false, why);
}

bool uphealth_last_socks5(const struct stp_server *s)
{
	struct uph *h = H(s);
	struct stp_proxy hops[STP_MAX_UPSTREAM];

	if (!h || h->n == 0)
		return false;
	for (int k = 0; k < h->n; k++) {
		int n = parse_chain(h->c[k].spec, hops, STP_MAX_UPSTREAM);
		bool ok = n > 0 && hops[n - 1].proto == STP_PROTO_SOCKS5;
		for (int i = 0; i < n; i++)
			stp_proxy_wipe(&hops[i]);
		if (!ok)
			return false;
	}
	return true;
}

const char *uphealth_label(const struct stp_server *s, int k)
{
	return H(s) && k >= 0 && k < H(s)->n ? H(s)->c[k].label : "";
}

bool uphealth_up(const struct stp_server *s, int k)
{
	return H(s) && k >= 0 && k < H(s)->n && H(s)->c[k].state != UPH_DOWN;
}

json_t *upstream_status_json(struct stp_server *s)
{
	struct uph *h = H(s);
	json_t *a = json_array();
	struct stats_view v;

	if (!a)
		return NULL;
	if (!h || h->n == 0)
		return a;
	stats_view_all(s, &v);
	for (int i = 0; i < h->n; i++) {
		const struct uph_chain *c = &h->c[i];
		json_t *o = json_object();
		if (!o)
			continue;
		json_object_set_new(o, "chain", json_integer(i + 1));
		json_object_set_new(o, "hops", stp_json_string(c->label));
		json_object_set_new(o, "state", json_string(c->state == UPH_UP ? "up" :
							     c->state == UPH_DOWN ? "down" : "unknown"));
		json_object_set_new(o, "up", json_boolean(c->state != UPH_DOWN));
		json_object_set_new(o, "checked", json_boolean(c->probe));
		json_object_set_new(o, "last_error", c->last_error[0] ?
				    stp_json_string(c->last_error) : json_null());
		json_object_set_new(o, "last_error_ms", c->last_error_ms ?
				    json_integer((json_int_t)c->last_error_ms) : json_null());
		json_object_set_new(o, "last_ok_ms", c->last_ok_ms ?
				    json_integer((json_int_t)c->last_ok_ms) : json_null());
		json_object_set_new(o, "rtt_ms", c->rtt_ms >= 0 ? json_integer(c->rtt_ms)
								 : json_null());
		json_object_set_new(o, "sessions", json_integer((json_int_t)v.st.chain_sessions[i]));
		json_object_set_new(o, "failures", json_integer((json_int_t)v.st.chain_failures[i]));
		json_array_append_new(a, o);
	}
	return a;
}
