/* session.c - one client session: greeting, authentication, request,
 * resolving, connecting, then the relay. All non-blocking, on the loop. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/proxyproto.h"
#include "server/httpfwd.h"
#include "server/httpidle.h"
#include "server/httpsrv.h"
#include "server/server_priv.h"
#include "server/sessprot.h"
#include "server/upcarry.h"
#include "core/logesc.h"
#include "core/sock.h"
#include "core/tls.h"

void server_session_gone(struct stp_server *s);

static void on_client(struct stp_loop *l, int fd, unsigned ev, void *arg);
static void on_timer(struct stp_loop *l, struct stp_timer *t, void *arg);
static void process_input(struct session *ss);
static void tls_step(struct session *ss);

/* Counts ss in: one of the server's live sessions from now on. */
static void session_link(struct session *ss)
{
	struct stp_server *s = ss->srv;

	ss->id = ++s->session_seq;  /* the status page's session id */
	ss->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = ss;
	s->sessions = ss;
	s->nsessions++;
	s->nfds += ss->fds;
}

/* --keepalive on one of ss's sockets. Not TCP (--inetd on a socketpair)
 * means no keepalive, which is no reason to end the session. */
static void session_keepalive(struct session *ss, int fd)
{
	if (fd >= 0 && stp_set_keepalive(fd, ss->srv->cfg.keepalive_s) < 0)
		stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "keepalive on fd %d: %s", fd,
			strerror(errno));
}

/* A session for the client on fd (listener lidx; -1: none), in state
 * st, not yet watched; NULL (fd closed) when out of memory. */
static struct session *session_new(struct stp_server *s, int fd,
				   const struct sockaddr_storage *peer, int lidx, int st)
{
	struct session *ss = calloc(1, sizeof(*ss));

	if (!ss || !(ss->in = malloc(SESS_IN_SMALL))) {
		free(ss);
		close(fd);
		return NULL;
	}
	ss->incap = SESS_IN_SMALL;
	ss->srv = s;
	ss->listener = lidx;
	ss->fds = SESS_FDS;
	ss->cfd = fd;
	ss->tfd = -1;
	ss->peer = *peer;
	ss->start = stp_loop_now(s->loop);
	ss->result = "closed during handshake";
	ss->state = st;
	stp_timer_init(&ss->timer, on_timer, ss);
	return ss;
}

void session_accept(struct stp_server *s, int fd, const struct sockaddr_storage *peer, int lidx)
{
	struct session *ss = session_new(s, fd, peer, lidx, S_GREETING);
	bool tls = lidx >= 0 && s->ls[lidx].tls;

	if (!ss)
		return;
	if (stp_loop_watch(s->loop, fd, STP_EV_READ, on_client, ss) < 0)
		goto fail;
	/* an accepted socket inherits TCP_NODELAY from its listener (set in
	 * server.c); only --inetd's socket comes from elsewhere */
	if (s->cfg.inetd)
		stp_set_nodelay(fd);
	if (tls) {
		ss->ssl = SSL_new(s->tls_ctx);
		if (!ss->ssl || SSL_set_fd(ss->ssl, fd) != 1)
			goto fail;
		ss->state = S_TLS;
	}
	if (server_proxy_listed(s, (const struct sockaddr *)peer)) {
		/* the client is whom the header names: limits and policy are
		 * decided once it has been read (proxy_done) */
		ss->state = S_PROXY;
	} else if (!session_policy_attach(ss)) {
		/* --max-sessions-per-client: closed before the greeting */
		goto fail;
	}
	session_keepalive(ss, fd);
	/* the TLS handshake is part of the handshake: one limit for both */
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.handshake_timeout_ms);
	session_link(ss);
	/* every client speaks first (SOCKS, HTTP, a PROXY header, a TLS
	 * ClientHello), and by the time it is accepted its first bytes are
	 * mostly there: read them now rather than after the next epoll_wait
	 * (an empty socket costs one read that says EAGAIN). Not for --inetd:
	 * its session must outlive this call (stp_server_run counts it). */
	if (!s->cfg.inetd)
		on_client(s->loop, fd, STP_EV_READ, ss);  /* may end ss */
	return;
fail:
	/* not a session yet: nothing to log, no count to give back */
	SSL_free(ss->ssl);
	stp_loop_unwatch(s->loop, fd);
	free(ss->in);
	free(ss);
	close(fd);
}

bool session_open_stream(struct session *parent, int fd, uint32_t id,
			 const uint8_t *req, size_t n, void **slot, uint8_t *rep)
{
	struct stp_server *s = parent->srv;
	struct session *ss = calloc(1, sizeof(*ss));
	size_t cap = n > SESS_IN_SMALL ? SESS_IN_MAX : SESS_IN_SMALL;

	*rep = STP_REP_FAIL;
	if (!ss || n > cap || !(ss->in = malloc(cap)))
		goto fail;
	ss->srv = s;
	ss->listener = parent->listener;
	ss->peer = parent->peer;
	/* authenticated once, for the MUX connection: its policy, and a
	 * session of its client address for --max-sessions-per-client */
	if (!session_policy_share(ss, parent)) {
		*rep = STP_REP_LIMIT;
		goto fail;
	}
	if (stp_loop_watch(s->loop, fd, STP_EV_READ, on_client, ss) < 0) {
		session_policy_detach(ss);
		goto fail;
	}
	memcpy(ss->in, req, n);
	ss->inlen = n;
	ss->incap = cap;
	ss->fds = STREAM_FDS;
	ss->cfd = fd;
	ss->tfd = -1;
	ss->ver = 5;
	memcpy(ss->user, parent->user, sizeof(ss->user));
	ss->authenticated = parent->authenticated;
	ss->cert_auth = parent->cert_auth;
	ss->gss_auth = parent->gss_auth;
	ss->start = stp_loop_now(s->loop);
	ss->result = "closed during handshake";
	ss->state = S_REQUEST;
	stp_timer_init(&ss->timer, on_timer, ss);
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.handshake_timeout_ms);
	session_link(ss);
	ss->mux_parent = parent;
	ss->mux_stream = id;
	*slot = ss;
	process_input(ss);  /* may end ss */
	return true;
fail:
	if (ss)
		free(ss->in);
	free(ss);
	close(fd);
	return false;
}

void session_adopt(struct stp_server *s, int fd, const struct sockaddr_storage *peer, int lidx,
		   const struct sess_creds *who, const uint8_t *req, size_t n)
{
	struct session *ss;

	if (n > SESS_IN_MAX) {
		close(fd);
		return;
	}
	if (!(ss = session_new(s, fd, peer, lidx, S_REQUEST)))
		return;
	if (n > ss->incap) {
		uint8_t *bigger = realloc(ss->in, SESS_IN_MAX);
		if (!bigger)
			goto fail;
		ss->in = bigger;
		ss->incap = SESS_IN_MAX;
	}
	memcpy(ss->in, req, n);
	ss->inlen = n;
	ss->ver = 5;
	memcpy(ss->user, who->user, sizeof(ss->user));
	ss->authenticated = who->authenticated;
	ss->cert_auth = who->cert_auth;
	ss->gss_auth = who->gss_auth;
	if (stp_loop_watch(s->loop, fd, STP_EV_READ, on_client, ss) < 0)
		goto fail;
	if (!session_policy_attach(ss)) {  /* --max-sessions-per-client, logged */
		stp_loop_unwatch(s->loop, fd);
		goto fail;
	}
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.handshake_timeout_ms);
	session_link(ss);
	process_input(ss);  /* may end ss */
	return;
fail:
	OPENSSL_cleanse(ss->in, ss->incap);
	free(ss->in);
	free(ss);
	close(fd);
}

void session_open_transparent(struct stp_server *s, int fd, const struct sockaddr_storage *peer,
			      const struct stp_addr *dst, bool udp, int lidx)
{
	struct session *ss = session_new(s, fd, peer, lidx, S_REQUEST);
	struct sockaddr_storage sa;

	if (!ss)
		return;
	ss->ver = 5;
	ss->transparent = udp ? STP_TRANSP_UDP : STP_TRANSP_TCP;
	/* the request the client would have sent: the one parser reads it */
	ss->inlen = stp5_request_put(ss->in, ss->incap, udp ? STP_CMD_UDP_TCP : STP_CMD_CONNECT,
				     dst, NULL);
	if (!ss->inlen || stp_loop_watch(s->loop, fd, STP_EV_READ, on_client, ss) < 0) {
		free(ss->in);
		free(ss);
		close(fd);
		return;
	}
	if (!session_policy_attach(ss)) {  /* --max-sessions-per-client, logged */
		stp_loop_unwatch(s->loop, fd);
		free(ss->in);
		free(ss);
		close(fd);
		return;
	}
	if (!udp) {
		stp_set_nodelay(fd);
		session_keepalive(ss, fd);
	}
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.handshake_timeout_ms);
	session_link(ss);
	if (udp) {
		/* UDP_TCP's own check lets any target through (its datagrams are
		 * judged one by one, here or at the upstream): a flow has one */
		ss->cmd = STP_CMD_UDP_TCP;
		ss->dst = *dst;
		if (!stp_addr_to_sa(dst, &sa) ||
		    !session_permit_target(ss, (const struct sockaddr *)&sa, NULL, dst->port)) {
			char who[STP_ADDRSTRLEN], to[STP_HOSTPORT_MAX];
			stp_log(&s->cfg.log, STP_LOG_INFO, "rules deny transparent udp from %s to %s",
				stp_sa_host((const struct sockaddr *)peer, who, sizeof(who)),
				stp_addr_str(dst, to, sizeof(to)));
			ss->result = "denied by rules";
			session_free(ss);
			return;
		}
	}
	process_input(ss);  /* may end ss */
}

void session_free(struct session *ss)
{
	struct stp_server *s = ss->srv;

	if (ss->mux_parent)
		cmd_mux_child_gone(ss);
	if (!http_idle(ss) && !ss->handed) {
		/* (a kept-alive HTTP connection between requests has logged
		 * and counted each of them already) */
		session_log_end(ss);
		stats_session_end(s, ss);  /* the counters of --stats: once, here */
	}
	if (s->cfg.inetd)
		s->inetd_ok = stats_result_of(ss) == STATS_OK;
	stp_timer_stop(s->loop, &ss->timer);
	if (ss->ops && ss->ops->free)
		ss->ops->free(ss);
	sessgss_free(ss);  /* before the policy, whose acceptor runs its step */
	httpfwd_free(ss);
	httpidle_free(ss);
	stp_lookup_cancel(ss->lookup);
	session_policy_detach(ss);  /* password checks, limits, configuration */
	if (ss->relay) {
		stp_relay_free(ss->relay);  /* owns cfd and tfd now */
	} else {
		if (ss->cfd >= 0) {
			stp_loop_unwatch(s->loop, ss->cfd);
			close(ss->cfd);
		}
		if (ss->tfd >= 0) {
			stp_loop_unwatch(s->loop, ss->tfd);
			close(ss->tfd);
		}
	}
	if (ss->in) {
		OPENSSL_cleanse(ss->in, ss->incap);  /* may hold a password */
		free(ss->in);
	}
	SSL_free(ss->ssl);  /* after the relay closed its fd: no I/O here */
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	s->nsessions--;
	s->nfds -= ss->fds;
	free(ss->userid);
	free(ss);
	server_session_gone(s);
}

/* Writes what is queued in ss->out. Returns 0 when all is written, 1 when
 * some is left (write interest set), -1 when the client is gone. */
static int flush_out(struct session *ss)
{
	while (ss->outoff < ss->outlen) {
		ssize_t n = session_write(ss, ss->out + ss->outoff, ss->outlen - ss->outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_WRITE);
			return 1;
		}
		if (n <= 0)
			return -1;
		ss->outoff += (size_t)n;
	}
	ss->outoff = ss->outlen = 0;
	if (sessprot_out_pending(ss)) {
		/* the last wrapped message is partly written */
		int r = sessprot_flush(ss);
		if (r > 0)
			stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_WRITE);
		return r;
	}
	return 0;
}

ssize_t session_raw_recv(struct session *ss, void *buf, size_t n)
{
	if (!ss->ssl)
		return read(ss->cfd, buf, n);
	return stp_tls_recv(ss->ssl, buf, n);
}

ssize_t session_raw_write(struct session *ss, const void *buf, size_t n)
{
	if (!ss->ssl)
		return send(ss->cfd, buf, n, MSG_NOSIGNAL);
	return stp_tls_send(ss->ssl, buf, n);
}

/* GSS-API protection (RFC 1961 §5) goes between the session and its wire. */
ssize_t session_recv(struct session *ss, void *buf, size_t n)
{
	if (sessgss_prot(ss))
		return sessprot_recv(ss, buf, n);
	return session_raw_recv(ss, buf, n);
}

ssize_t session_write(struct session *ss, const void *buf, size_t n)
{
	if (sessgss_prot(ss))
		return sessprot_write(ss, buf, n);
	return session_raw_write(ss, buf, n);
}

bool session_pending(const struct session *ss)
{
	return (ss->ssl && SSL_pending(ss->ssl) > 0) || sessprot_ready(ss);
}

/* Queues bytes for the client and writes them. Returns as flush_out(). */
int session_send(struct session *ss, const uint8_t *b, size_t n)
{
	if (n > sizeof(ss->out) - ss->outlen)
		return -1;
	if (ss->cmd && !ss->replied_at) {
		/* the first bytes after the request: its reply (handshake latency) */
		uint64_t now = stp_loop_now(ss->srv->loop);
		ss->replied_at = now ? now : 1;
	}
	memcpy(ss->out + ss->outlen, b, n);
	ss->outlen += n;
	return flush_out(ss);
}

/* Sends a final reply (an error, or the greeting's X'FF') and closes once
 * it is written. */
void session_fail(struct session *ss, const uint8_t *b, size_t n, const char *why)
{
	ss->result = why;
	ss->state = S_CLOSING;
	if (ss->tfd >= 0) {
		stp_loop_unwatch(ss->srv->loop, ss->tfd);
		close(ss->tfd);
		ss->tfd = -1;
	}
	if (n == 0 || session_send(ss, b, n) != 1) {
		session_free(ss);
		return;
	}
	/* the reply waits for the socket: the handshake timer still bounds it */
}

/* Sends the request's error reply in the client's protocol version. */
void session_reply_error(struct session *ss, uint8_t rep)
{
	uint8_t b[STP_REPLY_MAX];
	size_t n;

	if (ss->http) {
		http_reply_error(ss, rep);
		return;
	}
	ss->rep = rep;
	if (ss->transparent == STP_TRANSP_TCP) {
		/* the kernel has completed the client's handshake: a reset is
		 * the one refusal it can still get, and it gets it at once */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		if (setsockopt(ss->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
			stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "SO_LINGER: %s", strerror(errno));
		session_fail(ss, NULL, 0, stp_rep_str(rep));
		return;
	}
	if (ss->ver == 4)
		n = stp4_reply_put(b, sizeof(b), STP4_REJECTED, NULL);
	else
		n = stp5_reply_put(b, sizeof(b), ss->cmd, rep, NULL, NULL);
	session_fail(ss, b, n, stp_rep_str(rep));
}

static void on_relay_done(struct stp_relay *r, void *arg, int err)
{
	struct session *ss = arg;

	(void)r;
	if (err)
		ss->result = strerror(err);
	session_free(ss);
}

/* The idle limit, checked only when the session's timer fires: one timer
 * per session, re-armed lazily from the time of the last activity, no
 * work per byte. */
bool session_idle_check(struct session *ss, uint64_t last)
{
	long idle = ss->srv->cfg.idle_timeout_ms;
	uint64_t now = stp_loop_now(ss->srv->loop), due = last + (uint64_t)idle;

	if (idle <= 0) {
		stp_timer_stop(ss->srv->loop, &ss->timer);
		return false;
	}
	if (now >= due) {
		ss->result = "idle timeout";
		session_free(ss);
		return true;
	}
	stp_timer_start(ss->srv->loop, &ss->timer, due - now);
	return false;
}

/* Sends the success reply, then relays client <-> ss->tfd (connected). */
void session_start_relay(struct session *ss, const uint8_t *reply, size_t n)
{
	struct stp_server *s = ss->srv;
	struct stp_err e;
	struct stp_relay_cfg rc;
	uint8_t hb[64];

	ss->rep = STP_REP_OK;
	if (sessgss_prot(ss)) {
		/* GSS-API protection: its own relay (protrelay.c) */
		session_keepalive(ss, ss->tfd);
		protrelay_start(ss, reply, n);
		return;
	}
	if (ss->http && ss->http_fwd) {
		/* a forwarded request: framed both ways, not relayed (httpfwd.c) */
		session_keepalive(ss, ss->tfd);
		httpfwd_start(ss);
		return;
	}
	if (ss->http) {
		/* HTTP's answer instead of the SOCKS reply (httpsrv.c) */
		n = http_relay_reply(ss, hb, sizeof(hb));
		reply = hb;
	}
	if (ss->transparent == STP_TRANSP_TCP)
		n = 0;  /* a redirected client expects the target's bytes only */
	session_keepalive(ss, ss->tfd);  /* the target's side (or the upstream's) */
	if (session_send(ss, reply, n) != 0) {
		/* a fresh socket takes a reply; if not, the client is gone */
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	/* both fds stay registered: the relay takes them over in place */
	rc = (struct stp_relay_cfg){
		.a_rfd = ss->cfd, .a_wfd = ss->cfd, .b_rfd = ss->tfd, .b_wfd = ss->tfd,
		.splice = true,
		.own_sockets = true,
		.a_ssl = ss->ssl,
		.b_ssl = ss->tssl,  /* an --upstream proxy's TLS (upstream.c) */
		/* bytes the client sent after its request (optimistic data) go first */
		.ab_prefill = ss->in, .ab_prefill_len = ss->inlen,
	};
	session_relay_limits(ss, &rc);  /* --bandwidth, --user-bandwidth */
	ss->state = S_RELAY;
	ss->result = "ok";
	ss->relay = stp_relay_new(s->loop, &rc, on_relay_done, ss, &e);
	OPENSSL_cleanse(ss->in, ss->incap);
	free(ss->in);
	ss->in = NULL;
	ss->inlen = ss->incap = 0;
	if (!ss->relay) {
		ss->cfd = ss->tfd = -1;  /* closed by the relay */
		ss->result = "relay setup failed";
		session_free(ss);
		return;
	}
	session_idle_check(ss, stp_relay_last_active(ss->relay));
}

static void after_auth(void *arg, bool ok)
{
	struct session *ss = arg;
	uint8_t b[2];
	size_t n = stp_userpass_status_put(b, sizeof(b), ok ? 0 : 1);

	ss->auth = NULL;
	ss->authenticated = ok;
	if (!ok) {
		ss->srv->stats.auth_failures++;
		char u[STP_LOGESC_SIZE(sizeof(ss->user))], host[STP_ADDRSTRLEN];
		stp_logesc(u, sizeof(u), ss->user, false);
		if (ss->login_blocked) {
			/* the password was not even checked: say why it was refused */
			stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "login of user '%s' refused: %s is "
				"blocked after too many failed logins", u,
				stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)));
			session_fail(ss, b, n, "blocked");
			return;
		}
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "authentication failed for user '%s'", u);
		session_fail(ss, b, n, "authentication failed");
		return;
	}
	ss->state = S_REQUEST;
	if (session_send(ss, b, n) < 0) {
		session_free(ss);
		return;
	}
	stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	process_input(ss);
}

const char *session_principal(const struct session *ss, char *buf, size_t cap)
{
	char host[STP_ADDRSTRLEN];

	if (ss->authenticated)
		snprintf(buf, cap, "%s", ss->user);
	else
		snprintf(buf, cap, "@%s", stp_sa_host((const struct sockaddr *)&ss->peer,
						      host, sizeof(host)));
	return buf;
}

/* One entry per command this server carries out; the rest get reply 7. */
static void dispatch(struct session *ss, const struct stp5_msg *m)
{
	if (!session_permit(ss))  /* the rules: X'02' when denied */
		return;
	if (!sessprot_carries(ss))  /* GSS-API protection: X'07' for what it cannot carry */
		return;
	if (upcarry_take(ss, m))  /* --upstream: through the chain, or refused */
		return;
	switch (ss->cmd) {
	case STP_CMD_CONNECT:
		cmd_connect(ss);
		return;
	case STP_CMD_BIND:
		cmd_bind(ss);
		return;
	case STP_CMD_BIND_MULTI:
		cmd_bind_multi(ss, m);
		return;
	case STP_CMD_ATTACH:
		cmd_attach(ss, m);
		return;
	case STP_CMD_UDP:
	case STP_CMD_UDP_BIND:
	case STP_CMD_UDP_TCP:
		cmd_udp(ss, m);
		return;
	case STP_CMD_MCAST:
		cmd_mcast(ss, m);
		return;
	case STP_CMD_RESOLVE:
		cmd_resolve(ss);
		return;
	case STP_CMD_RESOLVE_PTR:
		cmd_resolve_ptr(ss);
		return;
	case STP_CMD_DNS:
		cmd_dns(ss);
		return;
	case STP_CMD_CONFIG:
		cmd_config(ss);
		return;
	case STP_CMD_MUX:
		if (!ss->mux_parent) {
			cmd_mux(ss);
			return;
		}
		break;
	case STP_CMD_FEATURES:
		if (!ss->features_done) {
			cmd_features(ss);
			return;
		}
		break;
	}
	session_reply_error(ss, STP_REP_CMD_UNSUPPORTED);
}

static void consume(struct session *ss, size_t n)
{
	memmove(ss->in, ss->in + n, ss->inlen - n);
	ss->inlen -= n;
}

void session_consume(struct session *ss, size_t n)
{
	consume(ss, n);
}

static bool offered(const struct stp5_greeting *g, uint8_t m)
{
	for (int i = 0; i < g->nmethods; i++)
		if (g->methods[i] == m)
			return true;
	return false;
}

/* The method for a client that offers g. Username/password before
 * GSS-API when both are configured and offered: curl offers X'01'
 * whenever it is built with GSS-API, ticket or not, but X'02' only when it
 * was given credentials, which it then means to use. */
static uint8_t choose_method(const struct session *ss, const struct stp5_greeting *g)
{
	/* a verified client certificate is authentication enough */
	if (!session_needs_auth(ss) || ss->cert_auth)
		return offered(g, STP_METHOD_NONE) ? STP_METHOD_NONE : STP_METHOD_NOACCEPT;
	if (session_offers_password(ss) && offered(g, STP_METHOD_USERPASS))
		return STP_METHOD_USERPASS;
	if (session_gssauth(ss) && offered(g, STP_METHOD_GSSAPI))
		return STP_METHOD_GSSAPI;
	return STP_METHOD_NOACCEPT;
}

/* One SOCKS4/4a request. Returns 1: input is needed, or the session has
 * moved on (and may be gone). */
static int handle_socks4(struct session *ss)
{
	struct stp4_request r;
	ssize_t n = stp4_request_get(ss->in, ss->inlen, &r);

	if (n == 0)
		return 1;
	if (n < 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return 1;
	}
	consume(ss, (size_t)n);
	ss->cmd = r.cmd;
	ss->dst = r.addr;
	/* unauthenticated: it must not become ss->user, which rules trust
	 * (and a client certificate has set) */
	free(ss->userid);
	ss->userid = r.userid[0] ? strdup(r.userid) : NULL;  /* short of memory: not logged */
	if (session_needs_auth(ss)) {
		/* SOCKS4 carries no password: a server that needs one says no */
		session_reply_error(ss, STP_REP_NOT_ALLOWED);
		return 1;
	}
	if (!session_permit(ss))
		return 1;
	if (upcarry_take(ss, NULL))  /* --upstream: BIND is refused, not sent from here */
		return 1;
	if (r.cmd == STP4_CONNECT)
		cmd_connect(ss);
	else if (r.cmd == STP4_BIND)
		cmd_bind(ss);
	else
		session_reply_error(ss, STP_REP_CMD_UNSUPPORTED);
	return 1;
}

/* Handles one message. Returns 0 when the session is alive and may take
 * more of the input; 1 when it needs more input, or has moved on to a
 * state that reads none (and may be gone): the caller must not touch it. */
static int step(struct session *ss)
{
	ssize_t n;
	uint8_t rep = STP_REP_FAIL, b[4];

	switch (ss->state) {
	case S_GREETING: {
		struct stp5_greeting g;
		if (ss->inlen == 0)
			return 1;
		if (ss->in[0] == 4) {
			ss->ver = 4;
			return handle_socks4(ss);
		}
		if (ss->in[0] != 5 && !ss->srv->cfg.no_http && !ss->mux_parent) {
			/* the mixed port: anything but SOCKS is an HTTP request */
			http_begin(ss);
			return 1;
		}
		ss->ver = 5;
		n = stp5_greeting_get(ss->in, ss->inlen, &g);
		if (n == 0)
			return 1;
		if (n < 0) {
			session_fail(ss, NULL, 0, "not SOCKS");
			return 1;
		}
		consume(ss, (size_t)n);
		uint8_t m = choose_method(ss, &g);
		size_t bl = stp5_method_put(b, sizeof(b), m);
		if (m == STP_METHOD_NOACCEPT) {
			session_fail(ss, b, bl, "no acceptable method");
			return 1;
		}
		ss->state = m == STP_METHOD_USERPASS ? S_AUTH : S_REQUEST;
		if (m == STP_METHOD_GSSAPI)
			sessgss_begin(ss);
		if (session_send(ss, b, bl) < 0) {
			session_free(ss);
			return 1;
		}
		return 0;
	}
	case S_AUTH: {
		struct stp_userpass up;
		n = stp_userpass_get(ss->in, ss->inlen, &up);
		if (n == 0)
			return 1;
		if (n < 0) {
			size_t bl = stp_userpass_status_put(b, sizeof(b), 1);
			session_fail(ss, b, bl, "malformed authentication");
			return 1;
		}
		consume(ss, (size_t)n);
		memcpy(ss->user, up.user, (size_t)up.ulen + 1);
		ss->state = S_AUTH_WAIT;
		stp_loop_set(ss->srv->loop, ss->cfd, 0);
		/* after_auth() goes on; if it already ran, ss may be gone */
		session_auth_start(ss, up.user, up.pass, after_auth);
		OPENSSL_cleanse(&up, sizeof(up));
		return 1;
	}
	case S_REQUEST: {
		struct stp5_msg m;
		n = stp5_request_get(ss->in, ss->inlen, &m, &rep);
		if (n == 0) {
			if (ss->inlen == ss->incap) {
				/* an STP option block: room for the largest request */
				uint8_t *bigger = ss->incap < SESS_IN_MAX ?
					realloc(ss->in, SESS_IN_MAX) : NULL;
				if (!bigger) {
					session_reply_error(ss, STP_REP_FAIL);
					return 1;
				}
				ss->in = bigger;
				ss->incap = SESS_IN_MAX;
			}
			return 1;
		}
		if (n < 0) {
			ss->cmd = ss->inlen > 1 ? ss->in[1] : 0;
			session_reply_error(ss, rep);
			return 1;
		}
		consume(ss, (size_t)n);
		ss->cmd = m.code;
		ss->dst = m.addr;
		bool features = m.code == STP_CMD_FEATURES && !ss->features_done;
		dispatch(ss, &m);
		/* FEATURES leaves the session waiting for its next request; any
		 * other command may have ended it already: ss is not read then */
		return features && ss->state == S_REQUEST ? 0 : 1;
	}
	case S_HTTP:
		return http_step(ss);
	case S_GSS:
	case S_GSS_PROT:
		return sessgss_step(ss);
	default:
		return 1;
	}
}

/* Runs the handshake over the buffered input (pipelined messages too). */
static void process_input(struct session *ss)
{
	while (step(ss) == 0)
		;
}

void session_process_input(struct session *ss)
{
	process_input(ss);
}

/* Reads what the client sent (all that TLS holds, too) and runs the
 * handshake over it. */
static void read_input(struct session *ss)
{
	for (;;) {
		if (ss->inlen == ss->incap && ss->state == S_HTTP) {
			/* an HTTP head may take more room; at its limit: 431 */
			if (!http_grow(ss))
				break;
			continue;
		}
		if (ss->inlen == ss->incap && ss->incap >= SESS_IN_MAX && sessgss_prot(ss))
			break;  /* more plaintext waits in the channel, for the relay */
		if (ss->inlen == ss->incap) {
			/* only an STP request with options, or a GSS-API token,
			 * needs more room */
			size_t max = sessgss_in_max(ss->state);
			if (!max && ss->state == S_REQUEST)
				max = SESS_IN_MAX;
			uint8_t *bigger = ss->incap < max ? realloc(ss->in, max) : NULL;
			if (!bigger) {
				session_fail(ss, NULL, 0, "handshake too long");
				return;
			}
			ss->in = bigger;
			ss->incap = max;
		}
		ssize_t n = session_recv(ss, ss->in + ss->inlen, ss->incap - ss->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			session_free(ss);
			return;
		}
		ss->inlen += (size_t)n;
		/* without TLS, level-triggered epoll brings the rest; a GSS-API
		 * channel may hold more plaintext than was taken */
		if (!session_pending(ss))
			break;
	}
	process_input(ss);
}

/* The header of a --proxy-protocol balancer is read: its client becomes
 * the session's, then the limits and policy of that client apply, then
 * TLS (the balancer relays it after the header) or SOCKS goes on. */
static void proxy_done(struct session *ss, const struct stp_pp_hdr *h)
{
	struct stp_server *s = ss->srv;
	char was[STP_ADDRSTRLEN], now[STP_ADDRSTRLEN];
	struct stp_addr a;

	if (s->cfg.log.level >= STP_LOG_DEBUG)
		stp_sa_str((const struct sockaddr *)&ss->peer, was, sizeof(was));
	/* LOCAL (the balancer's health check), UNKNOWN, UNSPEC and UNIX carry
	 * no client: the connection's own address stays */
	if (h->cmd == STP_PP_PROXY && (h->family == AF_INET || h->family == AF_INET6)) {
		ss->peer = h->src;
		/* a v4-mapped source is an IPv4 client, as in rules and logs */
		if (stp_addr_from_sa(&a, (const struct sockaddr *)&h->src) == 0 &&
		    a.atyp == STP_ATYP_IPV4)
			stp_addr_to_sa(&a, &ss->peer);
	}
	if (s->cfg.log.level >= STP_LOG_DEBUG)
		stp_log(&s->cfg.log, STP_LOG_DEBUG, "PROXY v%d header from %s: client %s",
			h->version, was,
			stp_sa_str((const struct sockaddr *)&ss->peer, now, sizeof(now)));
	ss->inlen = 0;
	if (ss->incap != SESS_IN_SMALL) {
		uint8_t *small = realloc(ss->in, SESS_IN_SMALL);
		if (small) {
			ss->in = small;
			ss->incap = SESS_IN_SMALL;
		}
	}
	if (!session_policy_attach(ss)) {
		ss->result = "max-sessions-per-client";
		session_free(ss);
		return;
	}
	stp_loop_set(s->loop, ss->cfd, STP_EV_READ);
	if (ss->ssl) {
		ss->state = S_TLS;
		tls_step(ss);
		return;
	}
	ss->state = S_GREETING;
	read_input(ss);
}

/* Reads a --proxy-protocol balancer's PROXY header without taking a byte
 * past it: the bytes are peeked, and only those the parser counts as
 * header are read (a TLS ClientHello or a SOCKS greeting may follow in the
 * same segment and must stay for the next step). What is read is kept in
 * ss->in until the header is whole. Bounded by STP_PP_MAX and by the
 * handshake timer started at accept. */
static void proxy_step(struct session *ss)
{
	uint8_t buf[STP_PP_MAX];
	struct stp_pp_hdr h;
	const char *why;
	size_t have = ss->inlen, take;
	ssize_t n, r;

	memcpy(buf, ss->in, have);
	n = recv(ss->cfd, buf + have, sizeof(buf) - have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		session_free(ss);
		return;
	}
	r = stp_pp_parse(buf, have + (size_t)n, &h, &why);
	if (r < 0) {
		/* one line says why: the session's, naming the balancer */
		char res[128];
		snprintf(res, sizeof(res), "bad PROXY header: %s", why);
		ss->result = res;
		session_free(ss);
		return;
	}
	/* more needed: all of it is header so far (the parser says no as soon
	 * as a byte cannot be); else the rest of the header exactly */
	take = r == 0 ? (size_t)n : (size_t)r - have;
	if (have + take > ss->incap) {
		uint8_t *bigger = realloc(ss->in, STP_PP_MAX);
		if (!bigger) {
			ss->result = "out of memory";
			session_free(ss);
			return;
		}
		ss->in = bigger;
		ss->incap = STP_PP_MAX;
	}
	do
		n = read(ss->cfd, ss->in + have, take);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)take) {
		/* peeked bytes are there to read: anything else is a broken socket */
		ss->result = "PROXY header: read failed";
		session_free(ss);
		return;
	}
	ss->inlen += take;
	if (r > 0)
		proxy_done(ss, &h);
}

/* One step of a TLS listener's handshake; then the SOCKS handshake. */
static void tls_step(struct session *ss)
{
	struct stp_err e;
	unsigned want = STP_EV_READ;
	char subject[256];
	int r = stp_tls_accept_step(ss->ssl, &want, &e);

	if (r < 0) {
		stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "%s", e.msg);
		ss->result = "TLS handshake failed";
		/* OpenSSL has written its alert (e.g. "certificate required"):
		 * let the client read it before the connection goes */
		shutdown(ss->cfd, SHUT_WR);
		ss->state = S_LINGER;
		stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
		return;
	}
	stp_loop_set(ss->srv->loop, ss->cfd, want);
	if (r == 0)
		return;
	if (stp_tls_peer_subject(ss->ssl, subject, sizeof(subject))) {
		/* a verified client certificate names the principal */
		snprintf(ss->user, sizeof(ss->user), "%s", subject);
		ss->authenticated = ss->cert_auth = true;
	}
	ss->state = S_GREETING;
	stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	read_input(ss);
}

static void on_client(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct session *ss = arg;

	(void)l;
	if (ss->state == S_PROXY) {
		proxy_step(ss);
		return;
	}
	if (ss->state == S_TLS) {
		tls_step(ss);
		return;
	}
	if (ss->state == S_HTTP_FWD) {
		httpfwd_on_client(ss, ev);
		return;
	}
	if (ss->state == S_LINGER) {
		char junk[512];
		ssize_t n = read(fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			session_free(ss);
		return;
	}
	if ((ev & STP_EV_WRITE) && (ss->outlen || sessprot_out_pending(ss))) {
		int r = flush_out(ss);
		if (r == 0 && ss->state == S_CLOSING && ss->http) {
			http_linger(ss);  /* an HTTP error answer: closed gracefully */
			return;
		}
		if (r < 0 || (r == 0 && ss->state == S_CLOSING)) {
			session_free(ss);
			return;
		}
		if (r == 0)
			stp_loop_set(ss->srv->loop, fd, STP_EV_READ);
	}
	if (ss->state == S_CMD) {
		ss->ops->on_client(ss, ev);
		return;
	}
	if (!(ev & STP_EV_READ) || ss->state == S_CLOSING)
		return;
	if (ss->state == S_RESOLVING || ss->state == S_CONNECTING) {
		/* bytes (or EOF) sent before the reply wait in the socket for
		 * the relay: read interest ends only now that some came, so
		 * that a session whose client waits costs no epoll_ctl */
		stp_loop_set(ss->srv->loop, fd, 0);
		return;
	}
	if (ss->state != S_GREETING && ss->state != S_AUTH && ss->state != S_REQUEST &&
	    ss->state != S_HTTP && ss->state != S_GSS && ss->state != S_GSS_PROT) {
		/* resolving or connecting: a client that hangs up ends it */
		if (ev & STP_EV_ERROR) {
			ss->result = "client gone before reply";
			session_free(ss);
		}
		return;
	}
	read_input(ss);
}

static void on_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct session *ss = arg;

	(void)l;
	(void)t;
	switch (ss->state) {
	case S_CMD:
		ss->ops->on_timer(ss);
		return;
	case S_RELAY:
		session_idle_check(ss, stp_relay_last_active(ss->relay));
		return;
	case S_RESOLVING:
	case S_CONNECTING:
		stp_lookup_cancel(ss->lookup);
		ss->lookup = NULL;
		ss->result = "target timeout";
		session_reply_error(ss, STP_REP_TTL);
		return;
	case S_HTTP:
		http_timeout(ss);  /* a slow request head: 408 */
		return;
	case S_HTTP_FWD:
		httpfwd_on_timer(ss);
		return;
	case S_LINGER:
		session_free(ss);  /* the answer's result stays in the log */
		return;
	default:
		ss->result = "handshake timeout";
		session_free(ss);
		return;
	}
}
