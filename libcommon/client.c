/* client.c - blocking driver of the handshake machine. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "evloop.h"
#include "sock.h"

/* ms left until deadline, at least 0. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = stp_clock_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Connects to host:port (a name is resolved here), trying every address
 * until the deadline. Returns the fd (blocking), or -1 with e: code 3 for a
 * proxy (is_proxy), else the reply-style code of a direct connection. */
static int dial(const char *host, uint16_t port, int family, uint64_t deadline,
		long timeout_ms, bool is_proxy, struct stp_err *e)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *ai, *a;
	char portstr[8], what[300];
	int rc, err = 0, fd = -1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(what, sizeof(what), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
		hints.ai_flags &= ~AI_ADDRCONFIG;  /* loopback-only machines */
		rc = getaddrinfo(host, portstr, &hints, &ai);
	}
	if (rc != 0)
		return stp_err_set(e, is_proxy ? STP_EXIT_REACH : STP_EXIT_REPLY + STP_REP_HOST_UNREACH,
				   "cannot resolve %s%s: %s", is_proxy ? "proxy " : "", host,
				   gai_strerror(rc));
	for (a = ai; a; a = a->ai_next) {
		fd = stp_connect_start(a->ai_addr, a->ai_addrlen);
		if (fd < 0) {
			err = errno;
			continue;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		rc = poll(&pfd, 1, left_ms(deadline));
		if (rc == 1 && (err = stp_connect_result(fd)) == 0)
			break;
		if (rc == 0)
			err = ETIMEDOUT;
		else if (rc < 0)
			err = errno;
		close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			return stp_err_set(e, is_proxy ? STP_EXIT_REACH : STP_EXIT_REPLY + STP_REP_TTL,
					   "cannot reach %s%s: timed out after %ld s",
					   is_proxy ? "proxy " : "", what, timeout_ms / 1000);
		return stp_err_set(e, is_proxy ? STP_EXIT_REACH : stp_rep_exit(stp_rep_from_errno(err)),
				   "cannot reach %s%s: %s", is_proxy ? "proxy " : "", what,
				   strerror(err));
	}
	stp_set_nonblock(fd, false);
	return fd;
}

/* Fills d with what hop i must be asked for: a literal where hop i does
 * not resolve names itself. Returns 0 or -1 with e. */
static int dest_for(const struct stp_client *c, int i, const char *host, uint16_t port,
		    struct stp_addr *d, struct stp_err *e)
{
	const struct stp_proxy *p = &c->hops[i];
	struct addrinfo hints = { .ai_family = c->family, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int rc;

	if (stp_addr_from_host(d, host, port) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "host name too long: '%.40s...'", host);
	if (d->atyp != STP_ATYP_NAME || p->remote_dns)
		return 0;
	/* socks4:// and socks5:// mean the client resolves (curl's meaning) */
	if (p->proto == STP_PROTO_SOCKS4)
		hints.ai_family = AF_INET;
	rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc != 0)
		return stp_err_set(e, STP_EXIT_REPLY + STP_REP_HOST_UNREACH,
				   "cannot resolve %s: %s", host, gai_strerror(rc));
	rc = stp_addr_from_sa(d, ai->ai_addr);
	freeaddrinfo(ai);
	d->port = port;
	return rc < 0 ? stp_err_set(e, STP_EXIT_REPLY + STP_REP_HOST_UNREACH,
				    "cannot resolve %s: no usable address", host) : 0;
}

int stp_client_direct(const struct stp_client *c, const char *host, uint16_t port,
		      struct stp_conn *out, struct stp_err *e)
{
	uint64_t deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;

	memset(out, 0, sizeof(*out));
	out->fd = dial(host, port, c->family, deadline, c->timeout_ms, false, e);
	return out->fd < 0 ? -1 : 0;
}

int stp_client_open(const struct stp_client *c, uint8_t cmd, const char *host,
		    uint16_t port, struct stp_conn *out, struct stp_err *e)
{
	return stp_client_open_opts(c, cmd, host, port, NULL, out, e);
}

int stp_client_open_opts(const struct stp_client *c, uint8_t cmd, const char *host,
			 uint16_t port, const struct stp_opts *opts, struct stp_conn *out,
			 struct stp_err *e)
{
	struct stp_addr *dest = out->dest;
	struct stp_hs *hp = &out->hs;
	uint64_t deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;
	uint8_t buf[4096];
	size_t have = 0;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	/* the machine keeps pointers into out (dest) and to the caller's opts */
	for (int i = 0; i < c->nhops; i++) {
		bool last = i == c->nhops - 1;
		if (dest_for(c, i, last ? host : c->hops[i + 1].host,
			     last ? port : c->hops[i + 1].port, &dest[i], e) < 0)
			return -1;
	}
	for (int i = 0; i < c->nhops; i++)
		if (c->hops[i].tls)
			return stp_err_set(e, STP_EXIT_USAGE, "scheme %s: TLS to the proxy is not "
					   "available in this version", c->hops[i].scheme);
	if (stp_hs_init_opts(hp, c->hops, c->nhops, dest, cmd, opts, e) < 0)
		return -1;
	int fd = dial(c->hops[0].host, c->hops[0].port, c->family, deadline,
		      c->timeout_ms, true, e);
	if (fd < 0)
		return -1;
	/* the handshake gets its own -w, after the proxy was reached */
	deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;
	while (hp->st != HS_DONE) {
		if (hp->outlen && stp_write_all(fd, hp->out, hp->outlen, deadline) < 0) {
			if (errno == ETIMEDOUT)
				stp_hs_fail_eof(hp, true, c->timeout_ms, e);
			else
				stp_hs_fail_eof(hp, false, c->timeout_ms, e);
			goto fail;
		}
		hp->outlen = 0;
		/* consume what is buffered first (pipelined answers) */
		ssize_t k = stp_hs_feed(hp, buf, have, e);
		if (k < 0)
			goto fail;
		if (k > 0) {
			memmove(buf, buf + k, have - (size_t)k);
			have -= (size_t)k;
			continue;
		}
		if (hp->outlen)
			continue;
		if (have == sizeof(buf)) {
			stp_err_set(e, STP_EXIT_PROTO, "proxy sent an oversized answer");
			goto fail;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, left_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			stp_hs_fail_eof(hp, true, c->timeout_ms, e);
			goto fail;
		}
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			stp_hs_fail_eof(hp, false, c->timeout_ms, e);
			goto fail;
		}
		have += (size_t)n;
	}
	out->fd = fd;
	out->bnd = hp->bnd;
	out->opts = hp->reply_opts;
	memcpy(out->early, buf, have);
	out->nearly = have;
	return 0;
fail:
	close(fd);
	return -1;
}

int stp_conn_next_reply(struct stp_conn *conn, long timeout_ms, struct stp5_msg *m,
			struct stp_err *e)
{
	uint64_t deadline = timeout_ms >= 0 ? stp_clock_ms() + (uint64_t)timeout_ms : 0;
	char hn[300];

	stp_proxy_hostport(&conn->hs.hops[conn->hs.nhops - 1], hn, sizeof(hn));
	for (;;) {
		ssize_t k;
		if (conn->hs.hops[conn->hs.nhops - 1].proto == STP_PROTO_SOCKS4) {
			/* SOCKS4's second BIND reply, on the SOCKS5 scale */
			uint8_t cd;
			memset(m, 0, sizeof(*m));
			k = stp4_reply_get(conn->early, conn->nearly, &cd, &m->addr);
			m->code = cd == STP4_GRANTED ? STP_REP_OK : STP_REP_NOT_ALLOWED;
		} else {
			k = stp5_reply_get(conn->early, conn->nearly, conn->hs.cmd, m);
		}
		if (k < 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: malformed reply", hn);
		if (k > 0) {
			memmove(conn->early, conn->early + k, conn->nearly - (size_t)k);
			conn->nearly -= (size_t)k;
			return 0;
		}
		if (conn->nearly == sizeof(conn->early))
			return stp_err_set(e, STP_EXIT_PROTO, "proxy %s: oversized reply", hn);
		struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
		int rc = poll(&pfd, 1, timeout_ms >= 0 ? left_ms(deadline) : -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return stp_err_set(e, STP_EXIT_REPLY + STP_REP_TTL,
					   "proxy %s: no further reply to %s within %ld s", hn,
					   stp_cmd_str(conn->hs.cmd), timeout_ms / 1000);
		ssize_t n = read(conn->fd, conn->early + conn->nearly,
				 sizeof(conn->early) - conn->nearly);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: %s", hn, strerror(errno));
		conn->nearly += (size_t)n;
	}
}
