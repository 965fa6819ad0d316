/* cmd_bind.c - BIND (SOCKS5 X'02', SOCKS4 CD 2), RFC 1928: listen on an
 * address the peer can reach, first reply with it, accept one peer (only
 * one whose address matches a non-zero DST.ADDR), second reply with the
 * peer, then relay. Nobody within --bind-timeout: second reply X'06'. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/nat.h"
#include "server/server_priv.h"
#include "core/sock.h"

struct bind_state {
	int lfd;
	struct stp_accept_pause pause;  /* at the fd limit */
	bool restrict_peer;           /* DST.ADDR was an address, not zeros */
	struct sockaddr_storage want;
};

/* The local address that reaches dst (a connected UDP socket tells), or
 * else the one the client came in on: an address the peer can use, never
 * 0.0.0.0. Returns 0 with ss filled (port 0), or -1. */
static int bind_local_addr(const struct session *ss, const struct stp_addr *dst,
			   struct sockaddr_storage *out, socklen_t *len)
{
	struct sockaddr_storage to;
	socklen_t tl;

	if ((tl = stp_addr_to_sa(dst, &to)) != 0 && !stp_addr_is_zero(dst)) {
		int u = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (stp_sa_port((struct sockaddr *)&to) == 0)
			stp_sa_set_port(&to, 9);  /* connect() needs some port */
		*len = sizeof(*out);
		if (u >= 0 && connect(u, (struct sockaddr *)&to, tl) == 0 &&
		    getsockname(u, (struct sockaddr *)out, len) == 0) {
			close(u);
			stp_sa_set_port(out, 0);
			return 0;
		}
		if (u >= 0)
			close(u);
	}
	*len = sizeof(*out);
	if (getsockname(ss->cfd, (struct sockaddr *)out, len) < 0)
		return -1;
	stp_sa_set_port(out, 0);
	return 0;
}

/* The port a BIND asks for (stp-bind -p): DST.PORT when DST.ADDR is
 * unspecified. A client that names its peer (RFC 1928: the address it
 * expects to connect) puts that peer's port there, not a wish; 0: any. */
static uint16_t bind_hint(const struct session *ss)
{
	if (ss->dst.atyp == STP_ATYP_NAME || !stp_addr_is_zero(&ss->dst))
		return 0;
	return ss->dst.port;
}

/* Opens a listener for the session's BIND, on the port it asks for if
 * --bind-ports grants it. Returns the fd, or -1 with the reply code in
 * *rep: X'02' for a port outside --bind-ports; for a port in use X'01'
 * (BIND) or X'C5' (BIND_MULTI, which has STP replies). */
int bind_listen(struct session *ss, int backlog, uint8_t *rep)
{
	const struct stp_server_cfg *c = &ss->srv->cfg;
	uint16_t hint = bind_hint(ss);
	struct sockaddr_storage sa;
	socklen_t len;
	struct stp_err e;
	int fd;

	if (hint && (hint < c->bind_port_min || hint > c->bind_port_max)) {
		if (c->bind_port_min)
			stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "bind: port %u refused: outside "
				"--bind-ports %ld-%ld", hint, c->bind_port_min, c->bind_port_max);
		else
			stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "bind: port %u refused: "
				"--bind-ports none", hint);
		*rep = STP_REP_NOT_ALLOWED;
		return -1;
	}
	if (bind_local_addr(ss, &ss->dst, &sa, &len) < 0) {
		*rep = STP_REP_FAIL;
		return -1;
	}
	stp_sa_set_port(&sa, hint);
	fd = stp_listen_sa((struct sockaddr *)&sa, len, backlog, &e);
	if (fd < 0) {
		int err = errno;
		*rep = stp_rep_from_errno(err);
		if (hint && err == EADDRINUSE)
			*rep = ss->cmd == STP_CMD_BIND_MULTI ? STP_REP_IN_USE : STP_REP_FAIL;
		/* a port the client chose being taken is no trouble of ours */
		stp_log(&ss->srv->cfg.log, hint ? STP_LOG_INFO : STP_LOG_WARN, "bind: %s", e.msg);
	}
	return fd;
}

/* A reply in the client's protocol version with address a. */
static size_t bind_reply(const struct session *ss, uint8_t *b, size_t cap, uint8_t rep,
			 const struct stp_addr *a)
{
	if (ss->ver == 4)
		return stp4_reply_put(b, cap, rep == STP_REP_OK ? STP4_GRANTED : STP4_REJECTED, a);
	return stp5_reply_put(b, cap, ss->cmd, rep, a, NULL);
}

static void bind_free(struct session *ss)
{
	struct bind_state *st = ss->cst;

	if (!st)
		return;
	if (st->lfd >= 0) {
		stp_accept_pause_stop(&st->pause);
		stp_loop_unwatch(ss->srv->loop, st->lfd);
		close(st->lfd);
	}
	free(st);
	ss->cst = NULL;
}

static bool peer_allowed(const struct bind_state *st, const struct sockaddr_storage *peer)
{
	struct stp_addr a, b;

	if (!st->restrict_peer)
		return true;
	if (stp_addr_from_sa(&a, (const struct sockaddr *)peer) < 0 ||
	    stp_addr_from_sa(&b, (const struct sockaddr *)&st->want) < 0 || a.atyp != b.atyp)
		return false;
	return memcmp(a.atyp == STP_ATYP_IPV4 ? a.u.v4 : a.u.v6,
		      b.atyp == STP_ATYP_IPV4 ? b.u.v4 : b.u.v6,
		      a.atyp == STP_ATYP_IPV4 ? 4 : 16) == 0;
}

void bind_accept_failed(struct session *ss, struct stp_accept_pause *p, int err)
{
	char host[STP_ADDRSTRLEN];
	bool warn;

	if (stp_accept_pause(p, err, &warn) && warn)
		stp_log(&ss->srv->cfg.log, STP_LOG_WARN,
			"%s for %s: accept: %s: pausing the listener (file-descriptor limit)",
			stp_cmd_label(ss->ver, ss->cmd),
			stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)),
			strerror(err));
}

static void on_listener(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct session *ss = arg;
	struct bind_state *st = ss->cst;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	char ps[STP_ADDRSTRLEN];
	struct stp_addr pa;
	uint8_t b[STP_REPLY_MAX];
	size_t n;
	int afd;

	(void)l;
	(void)ev;
	afd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (afd < 0) {
		bind_accept_failed(ss, &st->pause, errno);
		return;
	}
	if (!peer_allowed(st, &peer)) {
		/* not the peer the client expects: refused, the wait goes on */
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "bind: refused peer %s (not DST.ADDR)",
			stp_sa_str((struct sockaddr *)&peer, ps, sizeof(ps)));
		close(afd);
		return;
	}
	stp_set_nodelay(afd);
	bind_free(ss);
	ss->ops = NULL;
	stp_addr_from_sa(&pa, (struct sockaddr *)&peer);
	n = bind_reply(ss, b, sizeof(b), STP_REP_OK, &pa);
	ss->tfd = afd;
	session_start_relay(ss, b, n);
}

static void on_control(struct session *ss, unsigned ev)
{
	ssize_t n;

	if (!(ev & STP_EV_READ))
		return;
	if (ss->inlen == ss->incap) {
		/* the client is sending ahead more than we hold: stop reading,
		 * the kernel buffers the rest until the relay starts */
		stp_loop_set(ss->srv->loop, ss->cfd, 0);
		return;
	}
	n = session_recv(ss, ss->in + ss->inlen, ss->incap - ss->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ss->result = "client closed before a peer connected";
		session_free(ss);
		return;
	}
	ss->inlen += (size_t)n;  /* early data: the relay sends it first */
}

static void on_timeout(struct session *ss)
{
	uint8_t b[STP_REPLY_MAX];
	size_t n;

	bind_free(ss);
	ss->ops = NULL;
	ss->rep = STP_REP_TTL;
	n = bind_reply(ss, b, sizeof(b), STP_REP_TTL, NULL);
	session_fail(ss, b, n, "no peer connected in time");
}

static const struct cmd_ops bind_ops = { on_control, on_timeout, bind_free };

void cmd_bind(struct session *ss)
{
	struct bind_state *st = calloc(1, sizeof(*st));
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	struct stp_addr ba;
	uint8_t b[STP_REPLY_MAX], rep = STP_REP_FAIL;
	size_t n;

	if (!st) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	st->lfd = bind_listen(ss, 1, &rep);
	if (st->lfd < 0 || getsockname(st->lfd, (struct sockaddr *)&bound, &bl) < 0 ||
	    stp_addr_from_sa(&ba, (struct sockaddr *)&bound) < 0) {
		if (st->lfd >= 0)
			close(st->lfd);
		free(st);
		session_reply_error(ss, rep);
		return;
	}
	nat_advertise(&ss->srv->cfg, &ba);  /* behind NAT: where peers really call */
	if (ss->dst.atyp != STP_ATYP_NAME && !stp_addr_is_zero(&ss->dst)) {
		st->restrict_peer = true;
		stp_addr_to_sa(&ss->dst, &st->want);
	}
	stp_accept_pause_init(&st->pause, ss->srv->loop, st->lfd);
	ss->cst = st;
	ss->ops = &bind_ops;
	ss->state = S_CMD;
	if (stp_loop_watch(ss->srv->loop, st->lfd, STP_EV_READ, on_listener, ss) < 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	n = bind_reply(ss, b, sizeof(b), STP_REP_OK, &ba);
	if (session_send(ss, b, n) < 0) {
		session_free(ss);
		return;
	}
	stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	stp_timer_start(ss->srv->loop, &ss->timer, (uint64_t)ss->srv->cfg.bind_timeout_ms);
}
