/* udpclient.c - one UDP association through a proxy chain, client side. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "core/sock.h"
#include "client/gssstream.h"
#include "client/gssudp.h"
#include "client/hslog.h"
#include "client/udpclient.h"
#include "proto/scope.h"
#include "proto/v4mapped.h"

#define TCP_IN_CAP (2 + 65535 + 4096)

/* The last hop's address: the peer of the control connection for a single
 * hop, else its name resolved here. Keeps out's port. Returns 0 or -1. */
static int proxy_host(const struct stp_client *c, const struct stp_udp_assoc *a,
		      struct stp_addr *out, struct stp_err *e)
{
	uint16_t port = out->port;

	if (c->nhops == 1) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(a->conn.fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    stp_addr_from_sa(out, (struct sockaddr *)&ss) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: getpeername: %s", a->proxy,
					   strerror(errno));
		out->port = port;
		return 0;
	}
	struct addrinfo hints = { .ai_family = c->family, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai;
	int rc = getaddrinfo(c->hops[c->nhops - 1].host, NULL, &hints, &ai);
	if (rc != 0)
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s names 0.0.0.0 as its UDP relay, "
				   "and its own name does not resolve here: %s", a->proxy,
				   gai_strerror(rc));
	rc = stp_addr_from_sa(out, ai->ai_addr);
	freeaddrinfo(ai);
	out->port = port;
	return rc < 0 ? stp_err_set(e, STP_EXIT_FAIL, "proxy %s: no usable address", a->proxy) : 0;
}

/* A relay address (what: "UDP relay", "UDP_BIND address") that the client
 * cannot reach (unspecified, or behind the proxy's NAT: stp-serve without
 * --advertise) becomes the proxy's own address with the same port, and -v
 * says so. Through a chain only the unspecified address is replaced: the
 * last hop's own address is not what the client connected to. Returns 0
 * or -1 with e. */
static int relay_fix(const struct stp_client *c, const struct stp_udp_assoc *a,
		     const char *what, struct stp_addr *relay, struct stp_err *e)
{
	struct stp_addr peer = *relay;
	char was[STP_ADDRSTRLEN], now[STP_ADDRSTRLEN];
	const char *why;

	if (c->nhops == 1 && proxy_host(c, a, &peer, e) < 0)
		return -1;
	why = stp_relay_unroutable(relay, c->nhops == 1 ? &peer : NULL);
	if (!why)
		return 0;
	if (c->nhops != 1 && proxy_host(c, a, &peer, e) < 0)
		return -1;
	stp_addr_str(relay, was, sizeof(was));
	stp_addr_str(&peer, now, sizeof(now));
	stp_log(c->log, STP_LOG_STEPS, "proxy %s names %s as its %s (%s, not reachable from "
		"here): using %s, the proxy's own address", a->proxy, was, what, why, now);
	*relay = peer;
	return 0;
}

/* The UDP socket, made before the request so that its port can be named
 * in it: dual-stack IPv6 where the system has it (the relay's family is
 * not known yet), else IPv4. Returns 0 or -1 with e; *port is its port. */
static int make_udp(struct stp_udp_assoc *a, uint16_t *port, struct stp_err *e)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int off = 0;

	memset(&ss, 0, sizeof(ss));
	a->ufd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->ufd >= 0 && setsockopt(a->ufd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0) {
		ss.ss_family = AF_INET6;
		sl = sizeof(struct sockaddr_in6);
	} else {
		if (a->ufd >= 0)
			close(a->ufd);
		a->ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ss.ss_family = AF_INET;
		sl = sizeof(struct sockaddr_in);
	}
	if (a->ufd < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "UDP socket: %s", strerror(errno));
	if (bind(a->ufd, (struct sockaddr *)&ss, sl) < 0 ||
	    getsockname(a->ufd, (struct sockaddr *)&ss, &sl) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "UDP socket: bind: %s", strerror(errno));
	*port = stp_sa_port((struct sockaddr *)&ss);
	int sz = 1 << 20;
	/* a burst from stdin should not be dropped by a small default buffer */
	(void)setsockopt(a->ufd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(a->ufd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return 0;
}

/* Connects the UDP socket to the relay, so that only the relay is heard. */
static int connect_udp(struct stp_udp_assoc *a, struct stp_err *e)
{
	struct sockaddr_storage rs, own;
	socklen_t rl = stp_addr_to_sa(&a->relay, &rs), ol = sizeof(own);
	char rn[STP_ADDRSTRLEN];

	stp_addr_str(&a->relay, rn, sizeof(rn));
	if (!rl)
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: its UDP relay is not an address",
				   a->proxy);
	if (getsockname(a->ufd, (struct sockaddr *)&own, &ol) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "UDP socket: %s", strerror(errno));
	if (own.ss_family == AF_INET6 && rs.ss_family == AF_INET) {
		struct sockaddr_in v4 = *(struct sockaddr_in *)&rs;
		memset(&rs, 0, sizeof(rs));
		stp_v4_mapped((struct sockaddr_in6 *)&rs, &v4.sin_addr, v4.sin_port);
		rl = sizeof(struct sockaddr_in6);
	}
	if (connect(a->ufd, (struct sockaddr *)&rs, rl) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "UDP relay %s of proxy %s: %s", rn, a->proxy,
				   strerror(errno));
	return 0;
}

/* The start of an association or membership: a reset, its buffers, and
 * (unless tcp) its UDP socket, whose port is *uport. Returns 0 or -1 with
 * e; the caller closes a either way. */
static int assoc_begin(const struct stp_client *c, struct stp_udp_assoc *a, bool tcp,
		       uint16_t *uport, struct stp_err *e)
{
	memset(a, 0, sizeof(*a));
	a->ufd = -1;
	a->conn.fd = -1;
	a->tcp = tcp;
	a->timeout_ms = c->timeout_ms;
	a->log = c->log;
	stp_proxy_hostport(&c->hops[c->nhops - 1], a->proxy, sizeof(a->proxy));
	*uport = 0;
	a->buf = malloc(STP_UDP_BUF);
	if (!a->buf || (tcp && !(a->in = malloc(TCP_IN_CAP))))
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	return tcp ? 0 : make_udp(a, uport, e);
}

/* A protected session (RFC 1961 section 5) with UDP delivery: each
 * datagram is wrapped (gssudp.h); TCP delivery's frames need nothing here,
 * the stream wraps them. Returns 0 or -1 with e. */
static int assoc_gss(struct stp_udp_assoc *a, struct stp_err *e)
{
	if (!a->conn.gss || a->tcp)
		return 0;
	a->gss_max = stp_gss_udp_plain_max(a->conn.gss->ctx, a->conn.gss->level);
	if (a->gss_max == 0)
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: GSS-API cannot say how much a "
				   "protected datagram carries", a->proxy);
	if (a->gss_max > STP_UDP_BUF)
		a->gss_max = STP_UDP_BUF;
	if (!(a->gbuf = malloc(STP_GSS_UDP_MAX)))
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	stp_log(a->log, STP_LOG_STEPS, "UDP datagrams to and from the relay of proxy %s: "
		"GSS-API protection %s (RFC 1961 section 5)", a->proxy,
		stp_gss_level_name(a->conn.gss->level));
	return 0;
}

/* Once the proxy has answered: from here on the control connection (plain
 * or TLS) is read without waiting, and a frame's write waits with its own
 * deadline, so that one loop drives it with the UDP socket. Returns 0 with
 * a->relay the reply's address, or -1 with e. */
static int assoc_ready(struct stp_udp_assoc *a, struct stp_err *e)
{
	if (assoc_gss(a, e) < 0)
		return -1;
	if (stp_set_nonblock(a->conn.fd, true) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: %s", a->proxy, strerror(errno));
	a->relay = a->conn.bnd;
	return 0;
}

/* The datagram path: with TCP delivery the frames that came with the
 * reply are kept; else the UDP socket is connected to the relay (the
 * proxy's own address where it named 0.0.0.0). Returns 0 or -1 with e. */
static int assoc_path(const struct stp_client *c, struct stp_udp_assoc *a, struct stp_err *e)
{
	if (a->tcp) {
		memcpy(a->in, a->conn.early, a->conn.nearly);
		a->inlen = a->conn.nearly;
		a->conn.nearly = 0;
		return 0;
	}
	if (relay_fix(c, a, "UDP relay", &a->relay, e) < 0)
		return -1;
	return connect_udp(a, e);
}

/* UDP_BIND's second reply: the address any peer may send to. */
static int bind_ext(const struct stp_client *c, struct stp_udp_assoc *a, struct stp_err *e)
{
	struct stp5_msg m;
	int rc = stp_conn_next_reply(&a->conn, c->timeout_ms, &m, e);

	if (rc == 1)
		return stp_err_set(e, STP_EXIT_PROTO, "proxy %s closed the connection before the "
				   "second reply to UDP_BIND", a->proxy);
	if (rc < 0 || stp_hs_judge_reply(&a->conn.hs, &m, e) < 0)
		return -1;
	a->ext = m.addr;
	if (relay_fix(c, a, "UDP_BIND address", &a->ext, e) < 0)
		return -1;
	return 0;
}

int stp_udp_open(const struct stp_client *c, bool bind, bool tcp, struct stp_udp_assoc *a,
		 struct stp_err *e)
{
	uint8_t cmd = bind ? STP_CMD_UDP_BIND : tcp ? STP_CMD_UDP_TCP : STP_CMD_UDP;
	uint16_t uport;

	if (assoc_begin(c, a, tcp, &uport, e) < 0)
		goto fail;
	a->bind = bind;
	if (bind && tcp)
		a->req_opts.present = 1u << STP_OPT_TCP_DELIVERY;
	/* DST: UDP ASSOCIATE names no port (a NAT may change it; the relay
	 * learns it from the first datagram); UDP_BIND names ours, since
	 * peers may send before we do */
	if (stp_client_open_opts(c, cmd, "0.0.0.0", bind ? uport : 0, &a->req_opts, &a->conn,
				 e) < 0) {
		a->conn.fd = -1;
		goto fail;
	}
	if (assoc_ready(a, e) < 0 || (bind && bind_ext(c, a, e) < 0) || assoc_path(c, a, e) < 0)
		goto fail;
	return 0;
fail:
	stp_udp_close(a);
	return -1;
}

int stp_mcast_request(struct stp_opts *req, bool send, bool recv, bool tcp, int ttl,
		      const char *source, struct stp_err *e)
{
	memset(req, 0, sizeof(*req));
	req->present = 1u << STP_OPT_DIRECTION;
	req->direction = (uint8_t)((recv ? 1 : 0) | (send ? 2 : 0));
	/* a TTL means something only for what we send */
	if (send && ttl >= 0) {
		req->present |= 1u << STP_OPT_TTL;
		req->ttl = (uint8_t)ttl;
	}
	if (source) {
		if (stp_addr_from_host(&req->source, source, 0) < 0 ||
		    req->source.atyp == STP_ATYP_NAME)
			return stp_err_set(e, STP_EXIT_USAGE, "source '%s' is not an address", source);
		req->present |= 1u << STP_OPT_SOURCE;
	}
	if (tcp)
		req->present |= 1u << STP_OPT_TCP_DELIVERY;
	return 0;
}

int stp_mcast_open(const struct stp_client *c, const struct stp_addr *group,
		   const struct stp_opts *opts, struct stp_udp_assoc *a, struct stp_err *e)
{
	char gh[STP_ADDRSTRLEN];
	uint16_t uport;
	static const uint8_t none[1];

	if (assoc_begin(c, a, STP_OPT_HAS(opts, STP_OPT_TCP_DELIVERY), &uport, e) < 0)
		goto fail;
	a->req_opts = *opts;
	stp_addr_host(group, gh, sizeof(gh));
	if (stp_client_open_opts(c, STP_CMD_MCAST, gh, group->port, &a->req_opts, &a->conn,
				 e) < 0) {
		a->conn.fd = -1;
		if (e->code == STP_EXIT_UNSUPPORTED)
			stp_err_set(e, STP_EXIT_UNSUPPORTED, "proxy %s does not support MCAST "
				    "(STP feature 'mcast')", a->proxy);
		goto fail;
	}
	if (assoc_ready(a, e) < 0 || assoc_path(c, a, e) < 0)
		goto fail;
	/* MCAST names no client address: the relay learns our port from this */
	if (!a->tcp && stp_udp_send(a, group, none, 0, e) != 0)
		goto fail;
	return 0;
fail:
	stp_udp_close(a);
	return -1;
}

void stp_udp_close(struct stp_udp_assoc *a)
{
	if (a->ufd >= 0)
		close(a->ufd);
	stp_conn_close(&a->conn);
	free(a->buf);
	free(a->in);
	free(a->gbuf);
	a->buf = a->in = a->gbuf = NULL;
	a->inlen = 0;
	a->ufd = a->conn.fd = -1;
}

int stp_udp_pollfds(const struct stp_udp_assoc *a, struct pollfd *p)
{
	int n = 0;

	if (a->ufd >= 0)
		p[n++] = (struct pollfd){ .fd = a->ufd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = a->conn.fd,
				  .events = (short)(POLLIN | (a->ctl_want_write ? POLLOUT : 0)) };
	return n;
}

bool stp_udp_pending(const struct stp_udp_assoc *a)
{
	if (a->tcp && a->inlen >= 2 && a->inlen >= 2 + ((size_t)a->in[0] << 8 | a->in[1]))
		return true;
	/* plaintext unwrapped already (a message held more than one frame) */
	if (a->conn.gss && stp_gss_stream_ready(a->conn.gss))
		return true;
	/* bytes a TLS layer has taken off the socket already: poll would not
	 * tell of them (an outer hop's too, which the inner one reads next) */
	for (int i = 0; i < a->conn.nssl; i++)
		if (SSL_pending(a->conn.ssl[i]) > 0 || SSL_has_pending(a->conn.ssl[i]))
			return true;
	return false;
}

int stp_udp_send(struct stp_udp_assoc *a, const struct stp_addr *to, const uint8_t *data,
		 size_t len, struct stp_err *e)
{
	size_t off = a->tcp ? 2 : 0;
	size_t hl = stp_udp_hdr_put(a->buf + off, STP_UDP_BUF - off, to);
	size_t max = a->tcp ? 65535 : a->gbuf ? a->gss_max : 65507;

	if (!hl) {
		stp_err_set(e, STP_EXIT_FAIL, "cannot encode the address");
		return 1;
	}
	if (hl + len > max) {
		stp_err_set(e, STP_EXIT_FAIL, "a datagram of %zu bytes is too big to send "
			    "(at most %zu)", len, max - hl);
		return 1;
	}
	memcpy(a->buf + off + hl, data, len);
	if (a->tcp) {
		a->buf[0] = (uint8_t)((hl + len) >> 8);
		a->buf[1] = (uint8_t)(hl + len);
		if (stp_conn_write_all(&a->conn, a->buf, 2 + hl + len,
				       stp_clock_ms() + (uint64_t)a->timeout_ms) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: sending on the association: %s",
					   a->proxy, errno == ETIMEDOUT ? "the proxy reads no more"
					   : strerror(errno));
		return 0;
	}
	const uint8_t *out = a->buf;
	size_t olen = hl + len;
	if (a->gbuf) {
		const char *why;
		ssize_t k = stp_gss_udp_seal(a->conn.gss->ctx, a->conn.gss->level, a->buf, olen,
					     a->gbuf, STP_GSS_UDP_MAX, &why);
		if (k < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: GSS-API: %s", a->proxy, why);
		out = a->gbuf;
		olen = (size_t)k;
	}
	for (;;) {
		ssize_t n = send(a->ufd, out, olen, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* UDP: a full buffer drops; an ICMP error from an earlier
		 * datagram is the relay's business, its end comes by TCP */
		if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED)
			return 0;
		if (errno == EMSGSIZE) {
			stp_err_set(e, STP_EXIT_FAIL, "a datagram of %zu bytes is too big to send", len);
			return 1;
		}
		return stp_err_set(e, STP_EXIT_FAIL, "UDP relay of proxy %s: %s", a->proxy,
				   strerror(errno));
	}
}

static int gone(struct stp_udp_assoc *a, int err, struct stp_err *e)
{
	char eb[200];

	if (err == EPROTO && a->conn.gss)
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: association failed: a GSS-API "
				   "message on the connection did not unwrap (tampered with?)",
				   a->proxy);
	if (err == EPROTO && stp_conn_ssl(&a->conn))
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: association failed: TLS: %s",
				   a->proxy, stp_tls_error(eb, sizeof(eb)));
	if (err)
		return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: association failed: %s", a->proxy,
				   strerror(err));
	return stp_err_set(e, STP_EXIT_FAIL, "proxy %s closed the association", a->proxy);
}

/* Reads what the control connection has, through its TLS layer if any,
 * without waiting: bytes, 0 at its end, or -1 with errno (EAGAIN: nothing
 * now; then a TLS layer that must write first is noted for the poll). */
static ssize_t ctl_read(struct stp_udp_assoc *a, void *buf, size_t cap)
{
	SSL *ssl = stp_conn_ssl(&a->conn);
	size_t n;

	a->ctl_want_write = false;
	/* RFC 1961 section 5: the stream's messages unwrapped (client.c) */
	if (a->conn.gss)
		return stp_conn_read(&a->conn, buf, cap);
	if (!ssl)
		return recv(a->conn.fd, buf, cap, MSG_DONTWAIT);
	switch (stp_tls_read(ssl, buf, cap, &n)) {
	case STP_TLS_OK:
		return (ssize_t)n;
	case STP_TLS_EOF:
		return 0;
	case STP_TLS_WANT_WRITE:
		a->ctl_want_write = true;
		/* fall through */
	case STP_TLS_WANT_READ:
		errno = EAGAIN;
		return -1;
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

/* Splits one datagram (header + data) into from / buf. Returns 1, or 0
 * when it is malformed (counted). */
static int take(struct stp_udp_assoc *a, const uint8_t *d, size_t n, struct stp_addr *from,
		uint8_t *buf, size_t cap, size_t *len)
{
	struct stp_udp_hdr h;
	ssize_t k = stp_udp_hdr_get(d, n, &h);

	if (k <= 0 || h.frag != 0 || n - (size_t)k > cap) {
		a->dropped++;
		return 0;
	}
	*from = h.addr;
	*len = n - (size_t)k;
	memcpy(buf, d + k, *len);
	return 1;
}

/* The plaintext of the protected datagram in a->gbuf[0..n) into a->buf.
 * Returns its length, or -2 when the datagram is dropped (counted, and
 * said with -v: a forged or damaged one must not end the association). */
static ssize_t unprotect(struct stp_udp_assoc *a, size_t n)
{
	const char *why;
	ssize_t k = stp_gss_udp_open(a->conn.gss->ctx, a->conn.gss->level, a->gbuf, n, a->buf,
				     STP_UDP_BUF, &why);

	if (k >= 0)
		return k;
	a->dropped++;
	stp_log(a->log, STP_LOG_STEPS, "a datagram of %zu bytes from the UDP relay of proxy %s "
		"dropped: GSS-API: %s", n, a->proxy, why);
	return -2;
}

int stp_udp_recv(struct stp_udp_assoc *a, struct stp_addr *from, uint8_t *buf, size_t cap,
		 size_t *len, struct stp_err *e)
{
	if (a->tcp) {
		for (;;) {
			while (a->inlen >= 2) {
				size_t fl = (size_t)a->in[0] << 8 | a->in[1];
				if (a->inlen < 2 + fl)
					break;
				int got = take(a, a->in + 2, fl, from, buf, cap, len);
				memmove(a->in, a->in + 2 + fl, a->inlen - 2 - fl);
				a->inlen -= 2 + fl;
				if (got)
					return 1;
			}
			ssize_t n = ctl_read(a, a->in + a->inlen, TCP_IN_CAP - a->inlen);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return 0;
			if (n <= 0)
				return gone(a, n < 0 && errno != ECONNRESET ? errno : 0, e);
			a->inlen += (size_t)n;
		}
	}
	for (;;) {
		ssize_t n = recv(a->ufd, a->gbuf ? a->gbuf : a->buf, a->gbuf ? STP_GSS_UDP_MAX
				 : STP_UDP_BUF, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0 && a->gbuf)
			n = unprotect(a, (size_t)n);
		if (n >= 0) {
			if (take(a, a->buf, (size_t)n, from, buf, cap, len))
				return 1;
			continue;
		}
		if (n == -2)
			continue;  /* dropped: the next one */
		if (errno != EAGAIN && errno != ECONNREFUSED)
			return gone(a, errno, e);
		break;
	}
	/* nothing more is due on the control connection: its end is the
	 * association's; anything else on it is ignored */
	for (int i = 0; i < 4; i++) {
		uint8_t junk[512];
		ssize_t n = ctl_read(a, junk, sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return gone(a, n < 0 && errno != ECONNRESET ? errno : 0, e);
	}
	return 0;
}

int stp_udp_dest(const struct stp_client *c, const char *host, uint16_t port,
		 struct stp_addr *out, struct stp_err *e)
{
	struct addrinfo hints = { .ai_family = c->family, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai;

	if (stp_addr_from_host(out, host, port) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "host name too long: '%.40s...'", host);
	if (out->atyp != STP_ATYP_NAME || c->hops[c->nhops - 1].remote_dns)
		return 0;
	int rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc != 0)
		return stp_err_set(e, STP_EXIT_REPLY + STP_REP_HOST_UNREACH, "cannot resolve %s: %s",
				   host, gai_strerror(rc));
	rc = stp_addr_from_sa(out, ai->ai_addr);
	freeaddrinfo(ai);
	out->port = port;
	return rc < 0 ? stp_err_set(e, STP_EXIT_REPLY + STP_REP_HOST_UNREACH,
				    "cannot resolve %s: no usable address", host) : 0;
}
