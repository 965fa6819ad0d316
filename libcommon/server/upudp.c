/* upudp.c - UDP through a plain SOCKS5 upstream (upudp.h).
 *
 * Before, with --upstream a UDP ASSOCIATE was refused unless the
 * upstream was an stp-serve reached by UDP_TCP: Dante, microsocks and
 * other RFC 1928 servers have UDP ASSOCIATE only. Now this server is a
 * client of the hop's UDP ASSOCIATE, as RFC 1928 §7 has it:
 *
 *   client --UDP/UDP_TCP--> relay here --UDP, RFC 1928 header--> hop's
 *   relay --> target
 *
 * The client's datagrams already carry the header the hop wants (RSV |
 * FRAG | DST | DATA, DST the real target, a name as a name), so each one
 * goes on unchanged, after the rules here judged its DST; the hop's
 * datagrams carry the header the client wants (DST = the sender), and go
 * back unchanged too. Per datagram: one header parse, a rules check only
 * for a target other than the last one allowed, no copy; the batch I/O
 * (recvmmsg, sendmmsg) is cmd_udp.c's.
 *
 * The datagrams go from here straight to the hop's relay address, which
 * hops before it would not carry: only a one-hop chain (upstream.c refuses
 * longer ones with X'07' and a log line). A hop that has no UDP (ssh -D
 * closes, others answer X'07') gets the client X'07' and a log line, and
 * nothing leaves from here (--upstream-local udp would allow that). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/logesc.h"
#include "core/sock.h"
#include "proto/addr.h"
#include "proto/scope.h"
#include "server/cmd/dgsess.h"
#include "server/egress.h"
#include "server/server_priv.h"
#include "server/upstream.h"
#include "server/upudp.h"

#define HOP_CTL_READS 4        /* reads of the hop's control connection per event */
#define TGT_MAX (1 + 1 + 255 + 2)  /* ATYP LEN NAME PORT: a header's DST */

struct upudp {
	struct session *ss;
	int cfd;                        /* control connection to the hop */
	int rfd;                        /* connected to the hop's relay */
	struct sockaddr_storage relay;
	socklen_t relaylen;
	/* the last DST the rules allowed, as the header's bytes: a flow to
	 * one target is judged once, not per datagram */
	uint8_t last[TGT_MAX];
	size_t lastlen;
};

/* --- the session through upstream.c ------------------------------------------ */

static void ready(struct session *ss, int fd, const struct stp_addr *relay)
{
	cmd_udp_via(ss, fd, relay);
}

void upudp_start(struct session *ss)
{
	upstream_start_udp(ss, ready);
}

void upudp_start_tcp(struct session *ss, const struct stp_opts *opts)
{
	upstream_start_opts_or(ss, opts, upudp_start);
}

/* --- the hop's side ----------------------------------------------------------- */

/* The hop's control connection: nothing is expected on it; its end (or an
 * error) ends the association, as RFC 1928 §7 says. */
static void on_ctl(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct upudp *u = arg;
	uint8_t buf[512];

	(void)l;
	(void)ev;
	for (int i = 0; i < HOP_CTL_READS; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0)
			continue;  /* bytes on a control connection mean nothing: dropped */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		stp_log(&u->ss->srv->cfg.log, STP_LOG_DEBUG,
			"upstream: the UDP association's control connection ended: %s",
			n == 0 ? "closed by the upstream" : strerror(errno));
		u->ss->result = "upstream ended the association";
		session_free(u->ss);  /* frees u too (upudp_free) */
		return;
	}
}

/* Where the hop's relay is: its BND, or, when that cannot be used from
 * here (unspecified, or loopback/private while the hop is elsewhere), the
 * hop's own address with BND's port (SPEC §3.6, as clients do). Returns 0,
 * or -1 (a name: not looked up). */
static int relay_addr(struct upudp *u, const struct stp_addr *relay)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	struct stp_addr hop, use = *relay;

	if (getpeername(u->cfd, (struct sockaddr *)&peer, &pl) < 0 ||
	    stp_addr_from_sa(&hop, (struct sockaddr *)&peer) < 0)
		return -1;
	if (relay->atyp == STP_ATYP_NAME)
		return -1;
	if (stp_relay_unroutable(relay, &hop)) {
		use = hop;
		use.port = relay->port;
	}
	u->relaylen = stp_addr_to_sa(&use, &u->relay);
	return u->relaylen ? 0 : -1;
}

/* The socket to the hop's relay: from the session's egress, connected (so
 * that only the relay's datagrams come in), watched with cb(arg). Returns
 * 0, or -1 with errno. */
static int relay_socket(struct upudp *u, stp_fd_cb *cb, void *arg)
{
	int fam = u->relay.ss_family;
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (egress_prepare(u->ss, fd, fam, false) < 0 ||
	    connect(fd, (struct sockaddr *)&u->relay, u->relaylen) < 0 ||
	    stp_loop_watch(u->ss->srv->loop, fd, STP_EV_READ, cb, arg) < 0)
		return stp_close_keep_errno(fd);
	u->rfd = fd;
	return 0;
}

struct upudp *upudp_new(struct session *ss, int cfd, const struct stp_addr *relay,
			stp_fd_cb *cb, void *arg, uint8_t *rep)
{
	struct stp_server *s = ss->srv;
	struct upudp *u;
	char rs[STP_HOSTPORT_MAX], ers[STP_LOGESC_SIZE(sizeof(rs))];

	*rep = STP_REP_FAIL;
	/* the hop's control connection and relay socket, beyond the session's two */
	if (!session_fds_take(ss, 2, "an upstream UDP association")) {
		close(cfd);
		*rep = STP_REP_LIMIT;
		if (ss->cmd == STP_CMD_UDP)
			*rep = STP_REP_FAIL;  /* RFC 1928 has no code for it */
		return NULL;
	}
	if (!(u = calloc(1, sizeof(*u)))) {
		close(cfd);
		return NULL;
	}
	u->ss = ss;
	u->cfd = cfd;
	u->rfd = -1;
	if (stp_loop_watch(s->loop, cfd, STP_EV_READ, on_ctl, u) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "upstream: UDP: watch: %s", strerror(errno));
		close(cfd);
		u->cfd = -1;
		upudp_free(u);
		return NULL;
	}
	if (relay_addr(u, relay) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "upstream: UDP: the upstream's relay address %s "
			"cannot be used", stp_logesc(ers, sizeof(ers),
						     stp_addr_str(relay, rs, sizeof(rs)), false));
		upudp_free(u);
		return NULL;
	}
	if (relay_socket(u, cb, arg) < 0) {
		*rep = stp_rep_from_errno(errno);
		stp_log(&s->cfg.log, STP_LOG_WARN, "upstream: UDP: socket to the upstream's relay "
			"%s: %s", stp_sa_str((struct sockaddr *)&u->relay, rs, sizeof(rs)),
			strerror(errno));
		upudp_free(u);
		return NULL;
	}
	return u;
}

void upudp_free(struct upudp *u)
{
	struct stp_loop *l;

	if (!u)
		return;
	l = u->ss->srv->loop;
	if (u->cfd >= 0) {
		stp_loop_unwatch(l, u->cfd);
		close(u->cfd);
	}
	if (u->rfd >= 0) {
		stp_loop_unwatch(l, u->rfd);
		close(u->rfd);
	}
	free(u);
}

int upudp_send(struct upudp *u, struct dgsess *d, const uint8_t *b, size_t n, size_t hl,
	       const struct stp_addr *dst)
{
	/* DST's bytes: after RSV(2) and FRAG */
	const uint8_t *tgt = b + 3;
	size_t tlen = hl - 3;

	if (hl < 3 || tlen > sizeof(u->last))
		return UPUDP_MALFORMED;
	if (tlen != u->lastlen || memcmp(tgt, u->last, tlen) != 0) {
		struct sockaddr_storage sa;
		bool name = dst->atyp == STP_ATYP_NAME;
		if (!name && !stp_addr_to_sa(dst, &sa))
			return UPUDP_MALFORMED;
		/* a name is judged as a name: the hop resolves it */
		if (!session_permit_target(u->ss, name ? NULL : (struct sockaddr *)&sa,
					   name ? dst->u.name : NULL, dst->port))
			return UPUDP_DENIED;
		memcpy(u->last, tgt, tlen);
		u->lastlen = tlen;
	}
	dgsess_send(d, u->rfd, b, n, (struct sockaddr *)&u->relay, u->relaylen, DGS_UP, n - hl);
	return UPUDP_SENT;
}
