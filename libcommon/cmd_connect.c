/* cmd_connect.c - CONNECT (SOCKS5 X'01', SOCKS4 CD 1): resolve a name with
 * c-ares, dial each address in turn, reply with BND = the local address of
 * the outgoing connection, then relay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "server_priv.h"
#include "sock.h"

static void try_connect(struct session *ss);

/* The target answered: reply with the local address we used, and relay. */
static void connected(struct session *ss)
{
	struct sockaddr_storage bnd;
	socklen_t bl = sizeof(bnd);
	struct stp_addr ba;
	uint8_t b[300];
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

static void connect_failed(struct session *ss, int err)
{
	if (ss->tfd >= 0) {
		stp_loop_unwatch(ss->srv->loop, ss->tfd);
		close(ss->tfd);
		ss->tfd = -1;
	}
	ss->last_errno = err;
	try_connect(ss);
}

static void on_target(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct session *ss = arg;
	int err;

	(void)l;
	(void)ev;
	err = stp_connect_result(fd);
	if (err)
		connect_failed(ss, err);
	else
		connected(ss);
}

/* Tries the next address; after the last, replies with the last error. */
static void try_connect(struct session *ss)
{
	struct stp_server *s = ss->srv;

	while (ss->next_addr < ss->naddrs) {
		struct sockaddr_storage *sa = &ss->addrs[ss->next_addr++];
		socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							   : sizeof(struct sockaddr_in);
		ss->tfd = stp_connect_start((struct sockaddr *)sa, len);
		if (ss->tfd < 0) {
			ss->last_errno = errno;
			if (errno == EMFILE || errno == ENFILE)
				break;
			continue;
		}
		if (stp_loop_watch(s->loop, ss->tfd, STP_EV_WRITE, on_target, ss) < 0) {
			ss->last_errno = errno;
			close(ss->tfd);
			ss->tfd = -1;
			continue;
		}
		ss->state = S_CONNECTING;
		return;
	}
	session_reply_error(ss, ss->last_errno ? stp_rep_from_errno(ss->last_errno) : STP_REP_HOST_UNREACH);
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
	try_connect(ss);
}

/* CONNECT (SOCKS5 or 4): an address is dialled, a name resolved first. */
void cmd_connect(struct session *ss)
{
	struct stp_server *s = ss->srv;

	stp_loop_set(s->loop, ss->cfd, 0);  /* early data waits in the socket */
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.connect_timeout_ms);
	if (ss->dst.atyp == STP_ATYP_NAME) {
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

