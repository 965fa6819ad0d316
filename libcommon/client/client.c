/* client.c - blocking driver of the handshake machine. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/hint.h"
#include "client/client.h"
#include "client/diagnose.h"
#include "client/gssauth.h"
#include "client/gssstream.h"
#include "client/hslog.h"
#include "core/evloop.h"
#include "core/sock.h"
#include "core/unixsock.h"
#include "proto/v4mapped.h"

/* Milliseconds of a monotonic clock, finer than stp_clock_ms, for -v. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Starts connecting the socket given (a TCP socket of any family, not
 * yet connected; see stp_client_open_on) to a: an IPv4 address as
 * v4-mapped for an IPv6 socket (not IPV6_V6ONLY). Returns given, or -1
 * with errno (EAFNOSUPPORT: the socket cannot reach a's family). */
static int connect_given(int given, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_in6 m;
	int af = 0;
	socklen_t al = sizeof(af);

	if (getsockopt(given, SOL_SOCKET, SO_DOMAIN, &af, &al) < 0)
		return -1;
	if (af == AF_INET6 && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		int only = 0;
		socklen_t ol = sizeof(only);
		if (getsockopt(given, IPPROTO_IPV6, IPV6_V6ONLY, &only, &ol) < 0)
			return -1;
		if (only)
			return errno = EAFNOSUPPORT, -1;
		stp_v4_mapped(&m, &s4->sin_addr, s4->sin_port);
		sa = (const struct sockaddr *)&m;
		len = sizeof(m);
	} else if (af != sa->sa_family) {
		return errno = EAFNOSUPPORT, -1;
	}
	if (stp_set_nonblock(given, true) < 0)
		return -1;
	if (connect(given, sa, len) < 0 && errno != EINPROGRESS)
		return -1;
	return given;
}

/* Connects to host:port (a name is resolved here), trying every address
 * until the deadline, with TCP keepalive after keepalive_s idle seconds
 * (0: none); lg (NULL: none) hears of each try. given >= 0: that socket
 * is connected (it stays open on failure), else a new one. Returns the fd
 * (blocking), or -1 with e: code 3 for a proxy (is_proxy), else the
 * reply-style code of a direct connection; -3 with e when given is of a
 * family none of the addresses has (nothing was tried). */
static int dial(const char *host, uint16_t port, int family, int given, uint64_t deadline,
		long timeout_ms, long keepalive_s, bool is_proxy, const struct stp_log *lg,
		struct stp_err *e)
{
	bool tried = false;
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *ai, *a;
	char portstr[8], what[STP_HOSTPORT_MAX];
	int rc, err = 0, fd = -1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(what, sizeof(what), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	/* a literal first: it needs neither NSS nor AI_ADDRCONFIG's netlink
	 * dump of the interfaces, which cost each -L and --wrap connection
	 * more than its handshake */
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		rc = getaddrinfo(host, portstr, &hints, &ai);
	}
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
		hints.ai_flags &= ~AI_ADDRCONFIG;  /* loopback-only machines */
		rc = getaddrinfo(host, portstr, &hints, &ai);
	}
	if (rc != 0)
		return stp_err_set(e, is_proxy ? STP_EXIT_REACH : STP_EXIT_REPLY + STP_REP_HOST_UNREACH,
				   "cannot resolve %s%s: %s", is_proxy ? "proxy " : "", host,
				   gai_strerror(rc));
	for (a = ai; a; a = a->ai_next) {
		double t0 = now_ms();
		fd = given >= 0 ? connect_given(given, a->ai_addr, a->ai_addrlen) :
				  stp_connect_start(a->ai_addr, a->ai_addrlen);
		if (fd < 0 && errno == EAFNOSUPPORT && given >= 0)
			continue;
		tried = true;
		if (fd < 0) {
			err = errno;
			stp_hslog_tcp_fail(lg, is_proxy ? "proxy" : "target", what, a->ai_addr, err);
			continue;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		rc = poll(&pfd, 1, stp_ms_left(deadline));
		if (rc == 1 && (err = stp_connect_result(fd)) == 0) {
			stp_hslog_tcp(lg, is_proxy ? "proxy" : "target", what, a->ai_addr,
				      now_ms() - t0);
			break;
		}
		if (rc == 0)
			err = ETIMEDOUT;
		else if (rc < 0)
			err = errno;
		stp_hslog_tcp_fail(lg, is_proxy ? "proxy" : "target", what, a->ai_addr, err);
		if (fd != given)
			close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	if (!tried)
		return stp_err_set(e, STP_EXIT_FAIL, "%s: no address of the socket's family",
				   what), -3;
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
	if (stp_set_keepalive(fd, keepalive_s) < 0) {
		err = errno;
		if (fd != given)
			close(fd);
		return stp_err_set(e, STP_EXIT_FAIL, "--keepalive on the connection to %s: %s",
				   what, strerror(err));
	}
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

/* stp_client_direct on the socket given (-1: a new one). */
static int direct(const struct stp_client *c, int given, const char *host, uint16_t port,
		  struct stp_conn *out, struct stp_err *e)
{
	uint64_t deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = dial(host, port, c->family, given, deadline, c->timeout_ms, c->keepalive_s, false,
		  c->log, e);
	out->fd = fd < 0 ? -1 : fd;
	return fd < -1 ? fd : fd < 0 ? -1 : 0;
}

int stp_client_direct(const struct stp_client *c, const char *host, uint16_t port,
		      struct stp_conn *out, struct stp_err *e)
{
	return direct(c, -1, host, port, out, e);
}

int stp_client_direct_on(const struct stp_client *c, int given, const char *host,
			 uint16_t port, struct stp_conn *out, struct stp_err *e)
{
	return direct(c, given, host, port, out, e);
}

int stp_client_open(const struct stp_client *c, uint8_t cmd, const char *host,
		    uint16_t port, struct stp_conn *out, struct stp_err *e)
{
	return stp_client_open_opts(c, cmd, host, port, NULL, out, e);
}

/* Whether hop p is a Unix socket (stp_client_unix). */
static bool is_unix_hop(const struct stp_proxy *p)
{
	return strcmp(p->scheme, "unix") == 0;
}

int stp_client_unix(struct stp_client *c, const struct stp_client *how, const char *path,
		    struct stp_err *e)
{
	struct stp_proxy *p = &c->hops[0];

	memset(c, 0, sizeof(*c));
	c->family = how->family;
	c->timeout_ms = how->timeout_ms;
	c->log = how->log;
	c->nhops = 1;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path) || !*path)
		return stp_err_set(e, STP_EXIT_USAGE, "%.60s: not a usable Unix socket path "
				   "(1 to %zu bytes)", path,
				   sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	p->proto = STP_PROTO_SOCKS5;
	p->remote_dns = true;
	snprintf(p->scheme, sizeof(p->scheme), "unix");
	snprintf(p->host, sizeof(p->host), "%s", path);
	return 0;
}

bool stp_client_plain_stream(const struct stp_client *c)
{
	for (int i = 0; i < c->nhops; i++)
		if (c->hops[i].tls || c->hops[i].gssapi || is_unix_hop(&c->hops[i]))
			return false;
	return true;
}

/* Connects to hop 0 of c: dials it (on the socket given, if >= 0), or its
 * Unix socket. Returns the fd (blocking), -1 with e, -2 with e when
 * nothing listens on the socket, or -3 (dial). */
static int dial_first(const struct stp_client *c, int given, uint64_t deadline,
		      struct stp_err *e)
{
	const struct stp_proxy *p = &c->hops[0];

	if (!is_unix_hop(p))
		return dial(p->host, p->port, c->family, given, deadline, c->timeout_ms,
			    c->keepalive_s, true, c->log, e);
	int fd = stp_unix_connect(p->host, e);
	if (fd >= 0)
		return fd;
	int err = errno;
	if (err == ENOENT || err == ECONNREFUSED) {
		stp_err_set(e, STP_EXIT_REACH, "mux master at %s: not running (%s)", p->host,
			    err == ENOENT ? "no socket there" : "connection refused");
		return -2;
	}
	return stp_err_set(e, e->code, "mux master at %s: %s", p->host, strerror(err));
}

static int open_chain(const struct stp_client *c, int given, uint8_t cmd, const char *host,
		      uint16_t port, const struct stp_opts *opts, struct stp_conn *out,
		      struct stp_err *e);

int stp_client_open_opts(const struct stp_client *c, uint8_t cmd, const char *host,
			 uint16_t port, const struct stp_opts *opts, struct stp_conn *out,
			 struct stp_err *e)
{
	return open_chain(c, -1, cmd, host, port, opts, out, e) < 0 ? -1 : 0;
}

int stp_client_open_unix(const struct stp_client *c, uint8_t cmd, const char *host,
			 uint16_t port, struct stp_conn *out, struct stp_err *e)
{
	return open_chain(c, -1, cmd, host, port, NULL, out, e);
}

int stp_client_open_on(const struct stp_client *c, int given, const char *host,
		       uint16_t port, struct stp_conn *out, struct stp_err *e)
{
	if (!stp_client_plain_stream(c))
		return stp_err_set(e, STP_EXIT_FAIL, "the chain does not carry a plain stream"),
		       -3;
	return open_chain(c, given, STP_CMD_CONNECT, host, port, NULL, out, e);
}

/* Takes n bytes the handshake has used off the socket, where a read with
 * MSG_PEEK only looked at them (they are there). Returns 0 or -1 with e. */
static int drop_peeked(int fd, size_t n, struct stp_err *e)
{
	uint8_t scratch[512];

	while (n > 0) {
		ssize_t k = recv(fd, scratch, n < sizeof(scratch) ? n : sizeof(scratch),
				 MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return stp_err_set(e, STP_EXIT_PROTO, "proxy connection: %s",
					   k == 0 ? "closed" : strerror(errno));
		n -= (size_t)k;
	}
	return 0;
}

/* Hop p answered the greeting with bytes that are not SOCKS5 (buf[0..*have)):
 * reads on, a little, for a whole line or HTTP header, then fails with
 * what answered and the hint (diagnose.h). Returns -1 with e. */
static int not_socks5(struct stp_conn *out, const struct stp_proxy *p, uint8_t *buf,
		      size_t *have, size_t cap, uint64_t deadline, struct stp_err *e)
{
	uint64_t until = stp_clock_ms() + 300;

	if (until > deadline)
		until = deadline;
	while (*have < cap && !stp_answer_complete(buf, *have)) {
		struct pollfd pfd = { .fd = out->fd, .events = POLLIN };
		int rc = stp_conn_ssl(out) && SSL_pending(stp_conn_ssl(out)) ? 1 :
			 poll(&pfd, 1, stp_ms_left(until));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		ssize_t n = stp_conn_read(out, buf + *have, cap - *have);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		*have += (size_t)n;
	}
	return stp_diagnose_answer(p, buf, *have, e);
}

/* Whether the handshake waits for hop 0's first answer on a plain TCP
 * connection: silence there is worth a look at what listens (diagnose.h). */
static bool greeting_unanswered(const struct stp_client *c, const struct stp_hs *hp)
{
	return hp->hop == 0 && hp->st == HS_METHOD && !hp->answered && !c->hops[0].tls &&
	       !is_unix_hop(&c->hops[0]);
}

/* Bytes read with the last GSS-API message belong to the protected
 * stream: they go through conn->gss, and buf[0..*have) gets what they
 * unwrap to. Returns 0 or -1 with e. */
static int gss_refeed(struct stp_conn *conn, uint8_t *buf, size_t *have, struct stp_err *e)
{
	uint8_t raw[4096];
	size_t n = *have, off = 0;

	memcpy(raw, buf, n);
	*have = 0;
	while (off < n) {
		ssize_t k = stp_gss_stream_feed(conn->gss, raw + off, n - off, e);
		if (k < 0)
			return -1;
		off += (size_t)k;
		*have += stp_gss_stream_take(conn->gss, buf + *have, 4096 - *have);
		if (k == 0 && stp_gss_stream_ready(conn->gss))
			return stp_err_set(e, STP_EXIT_PROTO, "proxy sent an oversized answer");
	}
	return 0;
}

/* stp_client_open_opts, also returning -2 from dial_first. */
static int open_chain(const struct stp_client *c, int given, uint8_t cmd, const char *host,
		      uint16_t port, const struct stp_opts *opts, struct stp_conn *out,
		      struct stp_err *e)
{
	struct stp_addr *dest = out->dest;
	struct stp_hs *hp = &out->hs;
	uint64_t deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;
	uint8_t buf[4096];
	size_t have = 0;
	/* on a socket given, the answers are looked at (MSG_PEEK) and taken
	 * off only as far as the handshake uses them: the bytes after the
	 * final reply are the stream's, and their reader is another process */
	bool exact = given >= 0;
	size_t peeked = 0;   /* the last bytes of buf, still on the socket */

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	/* the machine keeps pointers into out (dest) and to the caller's opts */
	for (int i = 0; i < c->nhops; i++) {
		bool last = i == c->nhops - 1;
		if (dest_for(c, i, last ? host : c->hops[i + 1].host,
			     last ? port : c->hops[i + 1].port, &dest[i], e) < 0)
			return -1;
	}
	if (stp_hs_init_opts(hp, c->hops, c->nhops, dest, cmd, opts, e) < 0)
		return -1;
	SSL_CTX *ctx = NULL;
	for (int i = 0; i < c->nhops && !ctx; i++)
		if (c->hops[i].tls && !(ctx = stp_tls_client_ctx(&c->tls, e)))
			return -1;
	double t_dial = now_ms();
	int fd = dial_first(c, given, deadline, e);
	if (fd < 0) {
		SSL_CTX_free(ctx);
		return fd;
	}
	/* a SOCKS5 server answers the greeting within a few round trips */
	long quiet_ms = 1000 + 4 * (long)(now_ms() - t_dial);
	bool asked = false;  /* what listens on hop 0 was looked at */
	out->fd = fd;
	/* non-blocking while the handshake runs: every wait is a poll with
	 * the deadline, TLS included (SSL_connect would block otherwise) */
	stp_set_nonblock(fd, true);
	/* the handshake gets its own -w, after the proxy was reached */
	deadline = stp_clock_ms() + (uint64_t)c->timeout_ms;
	int tls_done = -1;  /* the last hop whose TLS is up */
	while (hp->st != HS_DONE) {
		if (c->hops[hp->hop].tls && tls_done < hp->hop) {
			/* TLS to this hop, inside whatever carries us to it */
			SSL *ssl = stp_tls_connect(ctx, fd, stp_conn_ssl(out),
						   c->hops[hp->hop].host, deadline, e);
			if (!ssl) {
				stp_diagnose_tls(c, e);
				goto fail;
			}
			out->ssl[out->nssl++] = ssl;
			tls_done = hp->hop;
			char hn[STP_HOSTPORT_MAX];
			stp_hslog_tls(c->log, stp_proxy_hostport(&c->hops[hp->hop], hn, sizeof(hn)),
				      ssl, c->tls.insecure);
		}
		if (hp->outlen)
			stp_hslog_sent(c->log, hp);
		if (hp->outlen && stp_conn_write_all(out, hp->out, hp->outlen, deadline) < 0) {
			if (errno == ETIMEDOUT)
				stp_hs_fail_eof(hp, true, c->timeout_ms, e);
			else
				stp_hs_fail_eof(hp, false, c->timeout_ms, e);
			goto fail;
		}
		hp->outlen = 0;
		/* not SOCKS at all (a SOCKS4 server's answer the machine names) */
		if (have && buf[0] != 5 && buf[0] != 4 && buf[0] != 0 && hp->st == HS_METHOD &&
		    !hp->answered) {
			not_socks5(out, &c->hops[hp->hop], buf, &have, sizeof(buf), deadline, e);
			goto fail;
		}
		if (hp->st == HS_GSS) {
			/* the machine stops for GSS-API (gssauth.h), then asks */
			if (stp_gss_client_run(out, &c->gss, &c->hops[hp->hop], buf, &have,
					       sizeof(buf), deadline, c->timeout_ms, c->log, e) < 0 ||
			    stp_hs_gss_done(hp, e) < 0)
				goto fail;
			/* already read past the last message: protected bytes */
			if (have && out->gss && gss_refeed(out, buf, &have, e) < 0)
				goto fail;
			continue;
		}
		/* consume what is buffered first (pipelined answers) */
		enum hs_state st = hp->st;
		int hop = hp->hop;
		ssize_t k = stp_hs_feed(hp, buf, have, e);
		if (k != 0)  /* a refusal too: -v shows the reply's code */
			stp_hslog_got(c->log, hp, st, hop, buf, k > 0 ? (size_t)k : have);
		if (k < 0) {
			stp_diagnose_refusal(hp, e);
			goto fail;
		}
		if (k > 0) {
			if (exact && (size_t)k > have - peeked) {
				size_t d = (size_t)k - (have - peeked);
				if (drop_peeked(fd, d, e) < 0)
					goto fail;
				peeked -= d;
			}
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
		if (peeked) {
			/* all of buf is the start of an answer not yet whole */
			if (drop_peeked(fd, peeked, e) < 0)
				goto fail;
			peeked = 0;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		bool look = !asked && greeting_unanswered(c, hp);
		int wait = stp_ms_left(deadline);
		int rc = stp_conn_pending(out) ? 1 :
			 poll(&pfd, 1, look && wait > quiet_ms ? (int)quiet_ms : wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0 && look && stp_ms_left(deadline) > 0) {
			asked = true;
			if (stp_diagnose_silence(c, fd, deadline, e) < 0)
				goto fail;
			continue;
		}
		if (rc == 0) {
			stp_hs_fail_eof(hp, true, c->timeout_ms, e);
			goto fail;
		}
		ssize_t n = exact ? recv(fd, buf + have, sizeof(buf) - have, MSG_PEEK | MSG_DONTWAIT) :
				    stp_conn_read(out, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPROTO && stp_conn_ssl(out)) {
			/* a TLS alert after the handshake: with TLS 1.3 a missing
			 * or refused client certificate shows up only here */
			char eb[200], hn[STP_HOSTPORT_MAX];
			stp_err_set(e, STP_EXIT_TLS, "TLS to proxy %s: %s",
				    stp_proxy_hostport(&c->hops[hp->hop], hn, sizeof(hn)),
				    stp_tls_error(eb, sizeof(eb)));
			goto fail;
		}
		if (n <= 0) {
			if (!asked && greeting_unanswered(c, hp) &&
			    stp_diagnose_silence(c, fd, deadline, e) < 0)
				goto fail;
			stp_hs_fail_eof(hp, false, c->timeout_ms, e);
			goto fail;
		}
		have += (size_t)n;
		if (exact)
			peeked = (size_t)n;
	}
	stp_set_nonblock(fd, false);
	out->bnd = hp->bnd;
	out->opts = hp->reply_opts;
	memcpy(out->early, buf, have - peeked);
	out->nearly = have - peeked;
	SSL_CTX_free(ctx);  /* the connections keep their references */
	return 0;
fail:
	if (given >= 0)
		out->fd = -1;   /* the caller's */
	stp_conn_close(out);
	SSL_CTX_free(ctx);
	return -1;
}

SSL *stp_conn_ssl(const struct stp_conn *conn)
{
	return conn->nssl ? conn->ssl[conn->nssl - 1] : NULL;
}

/* Reads the bytes on the wire (through TLS, if any). */
static ssize_t raw_read(struct stp_conn *conn, void *buf, size_t n)
{
	SSL *ssl = stp_conn_ssl(conn);

	if (!ssl)
		return read(conn->fd, buf, n);
	return stp_tls_recv(ssl, buf, n);
}

bool stp_conn_pending(const struct stp_conn *conn)
{
	SSL *ssl = stp_conn_ssl(conn);

	return (ssl && SSL_pending(ssl)) || (conn->gss && stp_gss_stream_ready(conn->gss));
}

int stp_conn_need_plain(const struct stp_conn *conn, const char *what, struct stp_err *e)
{
	if (!conn->gss)
		return 0;
	return stp_err_set(e, STP_EXIT_UNSUPPORTED, "the proxy chose GSS-API protection %s, "
			   "which %s does not carry yet (only none)",
			   stp_gss_level_name(conn->gss_level), what);
}

ssize_t stp_conn_read(struct stp_conn *conn, void *buf, size_t n)
{
	uint8_t raw[4096];
	struct stp_err e;

	if (!conn->gss)
		return raw_read(conn, buf, n);
	/* no more from the wire than the message being read wants, so no
	 * bytes of the next one wait here unseen by poll; on a non-blocking
	 * fd EAGAIN goes back to the caller, who polls again */
	while (!stp_gss_stream_ready(conn->gss)) {
		size_t want = stp_gss_stream_want(conn->gss);
		ssize_t k = raw_read(conn, raw, want < sizeof(raw) ? want : sizeof(raw));
		if (k == 0 && stp_gss_stream_inside(conn->gss)) {
			errno = EPROTO;  /* a message cut short is no end */
			return -1;
		}
		if (k <= 0)
			return k;
		if (stp_gss_stream_feed(conn->gss, raw, (size_t)k, &e) < 0) {
			errno = EPROTO;
			return -1;
		}
	}
	return (ssize_t)stp_gss_stream_take(conn->gss, buf, n);
}

/* Writes buf[0..n) on the wire (through TLS, if any). */
static int raw_write_all(struct stp_conn *conn, const void *buf, size_t n, uint64_t deadline_ms)
{
	SSL *ssl = stp_conn_ssl(conn);
	const char *p = buf;

	if (!ssl)
		return stp_write_all(conn->fd, buf, n, deadline_ms);
	while (n) {
		size_t k;
		enum stp_tls_io t = stp_tls_write(ssl, p, n, &k);
		if (t == STP_TLS_OK) {
			p += k;
			n -= k;
			continue;
		}
		if (t == STP_TLS_EOF)
			errno = EPIPE;
		if (t == STP_TLS_EOF || t == STP_TLS_ERROR)
			return -1;
		struct pollfd pfd = { .fd = conn->fd,
				      .events = t == STP_TLS_WANT_READ ? POLLIN : POLLOUT };
		int left = deadline_ms ? stp_ms_left(deadline_ms) : -1;
		if (deadline_ms && left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

int stp_conn_write_all(struct stp_conn *conn, const void *buf, size_t n, uint64_t deadline_ms)
{
	const uint8_t *p = buf;
	struct stp_err e;

	if (!conn->gss)
		return raw_write_all(conn, buf, n, deadline_ms);
	uint8_t *m = malloc(STP_GSS_MSG_MAX);
	if (!m)
		return -1;
	while (n) {
		size_t c = n < STP_GSS_CHUNK ? n : STP_GSS_CHUNK;
		ssize_t k = stp_gss_wrap_msg(conn->gss->ctx, conn->gss->level, p, c, m,
					     STP_GSS_MSG_MAX, &e);
		if (k < 0 || raw_write_all(conn, m, (size_t)k, deadline_ms) < 0) {
			int err = k < 0 ? EPROTO : errno;
			free(m);
			errno = err;
			return -1;
		}
		p += c;
		n -= c;
	}
	free(m);
	return 0;
}

void stp_conn_close(struct stp_conn *conn)
{
	/* innermost first: each one's BIO refers to the one outside it */
	while (conn->nssl > 0)
		SSL_free(conn->ssl[--conn->nssl]);
	stp_gss_stream_free(conn->gss);
	conn->gss = NULL;
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

int stp_conn_next_reply(struct stp_conn *conn, long timeout_ms, struct stp5_msg *m,
			struct stp_err *e)
{
	uint64_t deadline = timeout_ms >= 0 ? stp_clock_ms() + (uint64_t)timeout_ms : 0;
	char hn[STP_HOSTPORT_MAX];

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
		int rc = stp_conn_pending(conn) ? 1 :
			 poll(&pfd, 1, timeout_ms >= 0 ? stp_ms_left(deadline) : -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return stp_err_set(e, STP_EXIT_REPLY + STP_REP_TTL,
					   "proxy %s: no further reply to %s within %ld s", hn,
					   stp_cmd_str(conn->hs.cmd), timeout_ms / 1000);
		ssize_t n = stp_conn_read(conn, conn->early + conn->nearly,
					  sizeof(conn->early) - conn->nearly);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "proxy %s: %s", hn, strerror(errno));
		conn->nearly += (size_t)n;
	}
}
