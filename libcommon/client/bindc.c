/* bindc.c - BIND, BIND_MULTI and ATTACH for clients. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/addr.h"
#include "client/bindc.h"
#include "client/hslog.h"
#include "proto/scope.h"

/* Where peers must connect: a first reply that names an address out of
 * the peers' reach (0.0.0.0, the classic server bug; a private address
 * from a proxy reached on a public one, stp-serve behind NAT without
 * --advertise) is replaced by the proxy's own address, and -v says so.
 * Through a chain only 0.0.0.0 is (the last hop's address is not known). */
static void bind_fix(const struct stp_client *c, struct stp_conn *ctl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stp_addr peer;
	char was[STP_ADDRSTRLEN], now[STP_ADDRSTRLEN], hn[STP_HOSTPORT_MAX];
	const char *why;
	bool known = getpeername(ctl->fd, (struct sockaddr *)&ss, &len) == 0 &&
		     stp_addr_from_sa(&peer, (struct sockaddr *)&ss) == 0;

	why = stp_relay_unroutable(&ctl->bnd, known && c->nhops == 1 ? &peer : NULL);
	if (!why || !known)
		return;
	peer.port = ctl->bnd.port;
	stp_addr_str(&ctl->bnd, was, sizeof(was));
	stp_addr_str(&peer, now, sizeof(now));
	stp_log(c->log, STP_LOG_STEPS, "proxy %s names %s as where peers connect (%s, not "
		"reachable from here): using %s, the proxy's own address",
		stp_proxy_hostport(&c->hops[c->nhops - 1], hn, sizeof(hn)), was, why, now);
	ctl->bnd = peer;
}

int stp_bind_open(const struct stp_client *c, bool multi, const char *peer, uint16_t port,
		  struct stp_conn *ctl, struct stp_err *e)
{
	char hn[STP_HOSTPORT_MAX];
	int rc;

	rc = stp_client_open_opts(c, multi ? STP_CMD_BIND_MULTI : STP_CMD_BIND,
				  peer && *peer ? peer : "0.0.0.0", port, NULL, ctl, e);
	if (rc < 0) {
		/* with any peer, port is the one asked for on the proxy (-p):
		 * say so before the reply's own words */
		if (!(peer && *peer) && port && (e->code == STP_EXIT_REPLY + STP_REP_FAIL ||
						 e->code == STP_EXIT_REPLY + STP_REP_NOT_ALLOWED))
			return stp_err_prefix(e, "port %u is not available on the proxy", port);
		if (multi && e->code == STP_EXIT_UNSUPPORTED)
			stp_err_set(e, STP_EXIT_UNSUPPORTED,
				    "proxy %s does not support BIND_MULTI (STP feature "
				    "'bind-multi'), which -k needs; without -k plain BIND may work",
				    stp_proxy_hostport(&c->hops[c->nhops - 1], hn, sizeof(hn)));
		return -1;
	}
	bind_fix(c, ctl);
	return 0;
}

int stp_bind_next(struct stp_conn *ctl, struct stp_addr *peer,
		  uint8_t ticket[STP_TICKET_LEN], struct stp_addr *at, struct stp_err *e)
{
	struct stp5_msg m;
	int rc = stp_conn_next_reply(ctl, -1, &m, e);

	if (rc != 0)
		return rc;
	if (stp_hs_judge_reply(&ctl->hs, &m, e) < 0)
		return -1;
	*peer = m.addr;
	if (ctl->hs.cmd == STP_CMD_BIND_MULTI) {
		if (!STP_OPT_HAS(&m.opts, STP_OPT_TICKET))
			return stp_err_set(e, STP_EXIT_PROTO, "proxy sent a notice without a ticket");
		memcpy(ticket, m.opts.ticket, STP_TICKET_LEN);
		if (at) {
			memset(at, 0, sizeof(*at));
			if (STP_OPT_HAS(&m.opts, STP_OPT_ATTACH_AT))
				*at = m.opts.attach_at;
		}
		OPENSSL_cleanse(&m.opts, sizeof(m.opts));
	}
	return 0;
}

/* The chain c with its last hop moved to at (a notice's ATTACH_AT: the
 * instance behind a load balancer that holds the peer), into *moved;
 * -v says so. Earlier hops and the last hop's scheme, credentials and
 * TLS settings stay. */
static void attach_hop(const struct stp_client *c, const struct stp_addr *at,
		       struct stp_client *moved)
{
	struct stp_proxy *last;
	char was[STP_HOSTPORT_MAX], now[STP_HOSTPORT_MAX];

	*moved = *c;
	last = &moved->hops[moved->nhops - 1];
	stp_proxy_hostport(last, was, sizeof(was));
	stp_addr_host(at, last->host, sizeof(last->host));
	last->port = at->port;
	stp_log(c->log, STP_LOG_STEPS, "the notice names %s (ATTACH_AT) as where to attach: "
		"attaching there, not at %s", stp_proxy_hostport(last, now, sizeof(now)), was);
}

int stp_attach(const struct stp_client *c, const uint8_t ticket[STP_TICKET_LEN],
	       const struct stp_addr *at, struct stp_conn *out, struct stp_err *e)
{
	struct stp_opts o;
	struct stp_client *moved = NULL;
	int rc;

	if (at && at->atyp && c->nhops > 0) {
		if (!(moved = malloc(sizeof(*moved))))
			return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		attach_hop(c, at, moved);
		c = moved;
	}
	memset(&o, 0, sizeof(o));
	o.present = 1u << STP_OPT_TICKET;
	memcpy(o.ticket, ticket, STP_TICKET_LEN);
	rc = stp_client_open_opts(c, STP_CMD_ATTACH, "0.0.0.0", 0, &o, out, e);
	OPENSSL_cleanse(&o, sizeof(o));
	if (moved) {
		OPENSSL_cleanse(moved, sizeof(*moved));  /* the hops' passwords */
		free(moved);
	}
	return rc;
}
