/* dnsclient.c - RESOLVE, RESOLVE_PTR and the DNS channel over the blocking
 * client (dnsclient.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "client/dnsclient.h"
#include "core/evloop.h"
#include "core/sock.h"

/* A copy of the chain whose last hop is given names as they are. */
static void remote_names(const struct stp_client *c, struct stp_client *copy)
{
	*copy = *c;
	if (copy->nhops > 0)
		copy->hops[copy->nhops - 1].remote_dns = true;
}

/* Opens cmd to host through the chain; on a refusal, restates e around
 * what (the name or address asked about). Returns 0 or -1. */
static int ask(const struct stp_client *c, uint8_t cmd, const char *what,
	       struct stp_conn *conn, struct stp_err *e)
{
	struct stp_client cc;
	char hn[STP_HOSTPORT_MAX];
	int rc;

	remote_names(c, &cc);
	rc = stp_client_open(&cc, cmd, what, 0, conn, e);
	for (int i = 0; i < cc.nhops; i++)
		stp_proxy_wipe(&cc.hops[i]);
	if (rc == 0)
		return 0;
	if (e->code >= STP_EXIT_REPLY && conn->hs.st == HS_FAILED &&
	    conn->hs.hop == conn->hs.nhops - 1 && conn->hs.rep) {
		uint8_t rep = conn->hs.rep;
		char rcode[STP_REP_CODE_MAX];
		stp_proxy_hostport(&c->hops[c->nhops - 1], hn, sizeof(hn));
		return stp_err_set(e, e->code, "%s: %s (proxy %s, reply %s)", what,
				   rep == STP_REP_HOST_UNREACH ? (cmd == STP_CMD_RESOLVE ?
				   "does not resolve" : "has no name") : stp_rep_str(rep),
				   hn, stp_rep_code(rep, rcode));
	}
	return -1;
}

int stp_resolve_name(const struct stp_client *c, const char *name, struct stp_addr *out,
		     struct stp_err *e)
{
	struct stp_conn conn;
	char hn[STP_HOSTPORT_MAX];

	if (ask(c, STP_CMD_RESOLVE, name, &conn, e) < 0)
		return -1;
	stp_conn_close(&conn);
	if (conn.bnd.atyp != STP_ATYP_IPV4 && conn.bnd.atyp != STP_ATYP_IPV6)
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s answered RESOLVE %s with "
				   "no address", stp_proxy_hostport(&c->hops[c->nhops - 1], hn,
								    sizeof(hn)), name);
	*out = conn.bnd;
	return 0;
}

int stp_resolve_ptr(const struct stp_client *c, const char *addr, char *name, size_t cap,
		    struct stp_err *e)
{
	struct stp_conn conn;
	struct stp_addr a;
	char hn[STP_HOSTPORT_MAX];

	if (stp_addr_from_host(&a, addr, 0) < 0 || a.atyp == STP_ATYP_NAME)
		return stp_err_set(e, STP_EXIT_REPLY + STP_REP_ATYP_UNSUPPORTED,
				   "%s: not an IPv4 or IPv6 address", addr);
	if (ask(c, STP_CMD_RESOLVE_PTR, addr, &conn, e) < 0)
		return -1;
	stp_conn_close(&conn);
	if (conn.bnd.atyp != STP_ATYP_NAME || cap <= conn.bnd.namelen)
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s answered RESOLVE_PTR %s with "
				   "no name", stp_proxy_hostport(&c->hops[c->nhops - 1], hn,
								 sizeof(hn)), addr);
	memcpy(name, conn.bnd.u.name, (size_t)conn.bnd.namelen + 1);
	return 0;
}

int stp_dnschan_open(const struct stp_client *c, struct stp_dnschan *ch, struct stp_err *e)
{
	ch->inlen = 0;
	ch->timeout_ms = c->timeout_ms;
	stp_proxy_hostport(&c->hops[c->nhops - 1], ch->proxy, sizeof(ch->proxy));
	if (ask(c, STP_CMD_DNS, "0.0.0.0", &ch->conn, e) < 0) {
		if (e->code == STP_EXIT_UNSUPPORTED)
			return stp_err_set(e, STP_EXIT_UNSUPPORTED, "proxy %s has no DNS channel "
					   "(STP feature 'dns')", ch->proxy);
		return -1;
	}
	/* answers cannot precede a query, but keep what came anyway */
	if (ch->conn.nearly > sizeof(ch->in)) {
		stp_dnschan_close(ch);
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: data before any query", ch->proxy);
	}
	memcpy(ch->in, ch->conn.early, ch->conn.nearly);
	ch->inlen = ch->conn.nearly;
	ch->conn.nearly = 0;
	return 0;
}

/* Writes LEN(2) | q to the channel (blocking, bounded by the timeout).
 * Returns 0, or -1 with e. */
static int dnschan_send(struct stp_dnschan *ch, const uint8_t *q, size_t qlen, struct stp_err *e)
{
	uint8_t hdr[2] = { (uint8_t)(qlen >> 8), (uint8_t)qlen };
	uint64_t deadline = stp_clock_ms() + (uint64_t)ch->timeout_ms;

	if (qlen > STP_DNS_MAX)
		return stp_err_set(e, STP_EXIT_USAGE, "DNS query too long");
	if (stp_conn_write_all(&ch->conn, hdr, 2, deadline) < 0 ||
	    stp_conn_write_all(&ch->conn, q, qlen, deadline) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "DNS channel to proxy %s: %s", ch->proxy,
				   errno == ETIMEDOUT ? "timed out" : strerror(errno));
	return 0;
}

ssize_t stp_dnschan_ask(struct stp_dnschan *ch, const uint8_t *q, size_t qlen,
			uint8_t *ans, size_t cap, struct stp_err *e)
{
	uint64_t deadline = stp_clock_ms() + (uint64_t)ch->timeout_ms;

	if (qlen < STP_DNS_HDR)
		return stp_err_set(e, STP_EXIT_USAGE, "DNS query too short");
	if (dnschan_send(ch, q, qlen, e) < 0)
		return -1;
	for (;;) {
		ssize_t k = stp_dns_unframe(ch->in, &ch->inlen, ans, cap);
		if (k < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "DNS channel to proxy %s: an answer "
					   "larger than %zu bytes", ch->proxy, cap);
		if (k >= STP_DNS_HDR && ans[0] == q[0] && ans[1] == q[1])
			return k;
		if (k > 0)
			continue;  /* another query's answer, or too short: not ours */
		int left = stp_ms_left(deadline);
		if (left == 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: no DNS answer within %ld s",
					   ch->proxy, ch->timeout_ms / 1000);
		struct pollfd pfd = { .fd = ch->conn.fd, .events = POLLIN };
		int rc = stp_conn_pending(&ch->conn) ? 1 :
			 poll(&pfd, 1, left);
		if (rc < 0 && errno != EINTR)
			return stp_err_set(e, STP_EXIT_FAIL, "poll: %s", strerror(errno));
		if (rc <= 0)
			continue;
		ssize_t n = stp_conn_read(&ch->conn, ch->in + ch->inlen, sizeof(ch->in) - ch->inlen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s closed the DNS channel",
					   ch->proxy);
		if (n < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "DNS channel to proxy %s: %s",
					   ch->proxy, strerror(errno));
		ch->inlen += (size_t)n;
	}
}

void stp_dnschan_close(struct stp_dnschan *ch)
{
	stp_conn_close(&ch->conn);
}
