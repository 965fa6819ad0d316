/* cmd_connect.c - CONNECT (SOCKS5 X'01', SOCKS4 CD 1): resolve a name with
 * c-ares, dial its addresses by Happy Eyeballs, reply with BND = the local
 * address of the connection that won, then relay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/server_priv.h"
#include "core/sock.h"
#include "server/egress.h"
#include "server/upmux.h"
#include "server/upstream.h"

/* The target answered: reply with the local address we used, and relay. */
static void connected(struct session *ss)
{
	struct sockaddr_storage bnd;
	socklen_t bl = sizeof(bnd);
	struct stp_addr ba;
	uint8_t b[STP_REPLY_MAX];
	size_t n;

	if (getsockname(ss->tfd, (struct sockaddr *)&bnd, &bl) < 0 ||
	    stp_addr_from_sa(&ba, (struct sockaddr *)&bnd) < 0) {
		memset(&ba, 0, sizeof(ba));
		ba.atyp = STP_ATYP_IPV4;
	}
	if (ss->ver == 4)
		n = stp4_reply_put(b, sizeof(b), STP4_GRANTED, &ba);
	else
		n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &ba, NULL);
	session_start_relay(ss, b, n);
}

/* Happy Eyeballs (RFC 8305): the addresses are ordered IPv6 first, the
 * families interleaved; one attempt starts, the next when it fails or
 * HE_DELAY_MS has passed without an answer, and so on; the first attempt to
 * connect wins and the others are closed. The attempts in flight live in
 * struct he, hung on the session as ss->cst with ss->ops = &he_ops so that
 * session_free() (a client that hangs up, the connect timeout) closes them
 * too; the session's state stays S_CONNECTING, so the session never hands
 * he_ops client events or its timer. */
#define HE_DELAY_MS 250  /* RFC 8305 §5: Connection Attempt Delay */

struct he {
	struct session *ss;
	int fd[SESS_MAX_ADDRS];   /* attempt to ss->addrs[i], or -1 */
	int inflight;
	struct stp_timer timer;   /* the delay before the next attempt */
};

static void he_free_ops(struct session *ss);
static const struct cmd_ops he_ops = { .free = he_free_ops };

/* Closes every attempt and frees the state; ss->tfd is left alone. */
static void he_free_ops(struct session *ss)
{
	struct he *he = ss->cst;

	if (!he)
		return;
	stp_timer_stop(ss->srv->loop, &he->timer);
	for (int i = 0; i < SESS_MAX_ADDRS; i++) {
		if (he->fd[i] < 0)
			continue;
		stp_loop_unwatch(ss->srv->loop, he->fd[i]);
		close(he->fd[i]);
	}
	free(he);
	ss->cst = NULL;
	ss->ops = NULL;
}

/* Orders ss->addrs IPv6 first, alternating families (RFC 8305 §4). */
static void interleave(struct session *ss)
{
	struct sockaddr_storage v6[SESS_MAX_ADDRS], v4[SESS_MAX_ADDRS];
	int n6 = 0, n4 = 0, k = 0;

	for (int i = 0; i < ss->naddrs; i++) {
		if (ss->addrs[i].ss_family == AF_INET6)
			v6[n6++] = ss->addrs[i];
		else
			v4[n4++] = ss->addrs[i];
	}
	for (int i = 0; i < n6 || i < n4; i++) {
		if (i < n6)
			ss->addrs[k++] = v6[i];
		if (i < n4)
			ss->addrs[k++] = v4[i];
	}
}

static void he_next(struct he *he);

/* Whether the non-blocking connect(2) on fd has completed already: a
 * target on this host answers the SYN while connect() still holds the
 * socket, so it is established before the call returns, though the call
 * says EINPROGRESS. A second connect(2) tells at the cost of one system
 * call, where waiting for EPOLLOUT costs an epoll_wait round, an event and
 * an EPOLL_CTL_MOD. Returns 0 (connected), EALREADY (in progress), or the
 * connect's error (ECONNREFUSED, ...). */
static int connect_at_once(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r;

	do
		r = connect(fd, sa, len);
	while (r < 0 && errno == EINTR);
	if (r == 0 || errno == EISCONN)
		return 0;
	return errno == EINPROGRESS ? EALREADY : errno;
}

/* All attempts failed: the reply says why (the last error seen). */
static void he_failed(struct session *ss)
{
	he_free_ops(ss);
	session_reply_error(ss, ss->last_errno ? stp_rep_from_errno(ss->last_errno)
			    : STP_REP_HOST_UNREACH);
}

/* The connected target's events between its win and the relay: none is
 * expected (both follow in one call); the write interest is dropped. */
static void on_won(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	(void)ev;
	(void)arg;
	stp_loop_set(l, fd, 0);
}

static void on_attempt(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct he *he = arg;
	struct session *ss = he->ss;
	int i, err;

	if (ss->state != S_CONNECTING) {
		he_free_ops(ss);  /* the reply is out already (the timeout) */
		return;
	}
	for (i = 0; i < SESS_MAX_ADDRS && he->fd[i] != fd; i++)
		;
	if (i == SESS_MAX_ADDRS)
		return;
	/* a connect that failed raises EPOLLERR; writable without it is
	 * connected (TCP reports no EPOLLOUT before): no getsockopt needed */
	err = ev & STP_EV_ERROR ? stp_connect_result(fd) : 0;
	if (err == 0) {
		/* the winner: the others are closed with the state. Its epoll
		 * registration stays for the relay to take over in place (one
		 * EPOLL_CTL_MOD instead of a DEL and an ADD); until then no
		 * event of it may reach the freed attempt state */
		stp_loop_watch(l, fd, STP_EV_WRITE, on_won, ss);
		he->fd[i] = -1;
		he_free_ops(ss);
		ss->tfd = fd;
		connected(ss);
		return;
	}
	stp_loop_unwatch(l, fd);
	close(fd);
	he->fd[i] = -1;
	he->inflight--;
	ss->last_errno = err;
	he_next(he);  /* a failure starts the next attempt at once */
}

static void on_delay(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct he *he = arg;

	(void)l;
	(void)t;
	if (he->ss->state != S_CONNECTING) {
		he_free_ops(he->ss);
		return;
	}
	he_next(he);
}

/* Starts the attempt to the next address that takes one, and the delay
 * after which the one after it starts. With none left and none in flight,
 * replies with the failure (and he is gone). */
static void he_next(struct he *he)
{
	struct session *ss = he->ss;
	struct stp_loop *l = ss->srv->loop;

	stp_timer_stop(l, &he->timer);
	while (ss->next_addr < ss->naddrs) {
		int i = ss->next_addr++;
		struct sockaddr_storage *sa = &ss->addrs[i];
		socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							   : sizeof(struct sockaddr_in);
		if (!session_permit_addr(ss, (struct sockaddr *)sa)) {
			ss->last_errno = EACCES;  /* the rules: reply X'02' if none is left */
			continue;
		}
		int fd = egress_connect_start(ss, (struct sockaddr *)sa, len), err;
		if (fd < 0) {
			ss->last_errno = errno;
			if (errno == EMFILE || errno == ENFILE)
				break;
			continue;
		}
		err = connect_at_once(fd, (struct sockaddr *)sa, len);
		if (err == 0) {
			/* connected already (loopback): reply in this pass; the
			 * relay registers the socket with the interest it needs
			 * (no EPOLLOUT wait, no MOD afterwards). Attempts still
			 * in flight lose; he is gone with them. */
			he_free_ops(ss);
			ss->tfd = fd;
			connected(ss);  /* may end ss */
			return;
		}
		if (err != EALREADY) {
			close(fd);  /* refused at once: the next address, now */
			ss->last_errno = err;
			continue;
		}
		if (stp_loop_watch(l, fd, STP_EV_WRITE, on_attempt, he) < 0) {
			ss->last_errno = errno;
			close(fd);
			continue;
		}
		he->fd[i] = fd;
		he->inflight++;
		/* a literal address has one attempt, and its limit starts now
		 * (a name's started with the lookup and covers both); one
		 * connected at once never re-arms the session's timer */
		if (ss->dst.atyp != STP_ATYP_NAME)
			stp_timer_start(l, &ss->timer, (uint64_t)ss->srv->cfg.connect_timeout_ms);
		if (ss->next_addr < ss->naddrs)
			stp_timer_start(l, &he->timer, HE_DELAY_MS);
		return;
	}
	if (he->inflight == 0)
		he_failed(ss);
}

/* Dials ss->addrs[0..naddrs) as above. */
static void try_connect(struct session *ss)
{
	struct he *he = calloc(1, sizeof(*he));

	if (!he) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	he->ss = ss;
	for (int i = 0; i < SESS_MAX_ADDRS; i++)
		he->fd[i] = -1;
	stp_timer_init(&he->timer, on_delay, he);
	ss->cst = he;
	ss->ops = &he_ops;
	ss->state = S_CONNECTING;
	ss->next_addr = 0;
	he_next(he);
}

static void on_lookup(void *arg, int status, const struct ares_addrinfo *ai)
{
	struct session *ss = arg;

	ss->lookup = NULL;
	if (status != ARES_SUCCESS || !ai) {
		ss->result = ares_strerror(status);
		session_reply_error(ss, STP_REP_HOST_UNREACH);
		return;
	}
	ss->naddrs = 0;
	for (const struct ares_addrinfo_node *n = ai->nodes; n && ss->naddrs < SESS_MAX_ADDRS;
	     n = n->ai_next) {
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		struct sockaddr_storage *sa = &ss->addrs[ss->naddrs++];
		memset(sa, 0, sizeof(*sa));
		memcpy(sa, n->ai_addr, n->ai_addrlen);
		if (sa->ss_family == AF_INET)
			((struct sockaddr_in *)sa)->sin_port = htons(ss->dst.port);
		else
			((struct sockaddr_in6 *)sa)->sin6_port = htons(ss->dst.port);
	}
	ss->last_errno = 0;
	if (ss->naddrs == 0) {
		session_reply_error(ss, STP_REP_HOST_UNREACH);
		return;
	}
	interleave(ss);
	try_connect(ss);
}

/* CONNECT (SOCKS5 or 4): an address is dialled, a name resolved first;
 * with --upstream, the upstream chain does both (upstream.c). */
void cmd_connect(struct session *ss)
{
	struct stp_server *s = ss->srv;

	if (upstream_enabled(s)) {
		upmux_route(ss);
		return;
	}
	/* early data waits in the socket: on_client drops the read interest
	 * if any comes before the reply */
	if (ss->dst.atyp == STP_ATYP_NAME) {
		stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.connect_timeout_ms);
		ss->state = S_RESOLVING;
		/* the answer may come at once (and end the session): only a
		 * pending lookup is remembered */
		struct stp_lookup *q = stp_lookup_start(s->res, ss->dst.u.name, AF_UNSPEC,
							on_lookup, ss);
		if (q)
			ss->lookup = q;
		return;
	}
	socklen_t len = stp_addr_to_sa(&ss->dst, &ss->addrs[0]);
	if (!len) {
		session_reply_error(ss, STP_REP_ATYP_UNSUPPORTED);
		return;
	}
	ss->naddrs = 1;
	ss->next_addr = 0;
	try_connect(ss);
}

