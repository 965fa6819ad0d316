/* gssrelay.c - a stream relay through GSS-API per-message protection. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/gssrelay.h"
#include "client/gssstream.h"
#include "core/sock.h"
#include "core/tls.h"

/* Both directions' state. up: local -> proxy (wrapped messages waiting
 * in up[uoff..ulen)); down: proxy -> local (plaintext in down[doff..dlen)). */
struct gr {
	int rfd, wfd, sock;
	SSL *ssl;                /* a TLS hop: the messages travel inside it */
	struct stp_gss_stream *s;
	uint8_t *up, *down, *plain;
	size_t uoff, ulen, doff, dlen;
	bool up_eof, up_shut, down_eof, wfd_done;
};

/* Whether fd is a socket (a half-close, not a close, ends its writing). */
static bool is_socket(int fd)
{
	int t;
	socklen_t l = sizeof(t);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) == 0;
}

/* The local reader gets its EOF: a socket is shut for writing, anything
 * else (stdout) closed, back to blocking first as it may be shared. */
static void end_local(struct gr *g)
{
	if (g->wfd_done)
		return;
	g->wfd_done = true;
	if (g->wfd == g->rfd || is_socket(g->wfd)) {
		shutdown(g->wfd, SHUT_WR);
		return;
	}
	stp_set_nonblock(g->wfd, false);
	close(g->wfd);
	g->wfd = -1;
}

/* The wire to the proxy, through its TLS hop if any, with send(2)'s and
 * recv(2)'s answers (-1 EAGAIN: not now). RFC 1961's messages go inside
 * TLS: TLS protects the hop, GSS-API the session with the proxy. */
static ssize_t wire_send(struct gr *g, const void *buf, size_t n)
{
	if (!g->ssl)
		return send(g->sock, buf, n, MSG_NOSIGNAL);
	return stp_tls_send(g->ssl, buf, n);
}

static ssize_t wire_recv(struct gr *g, void *buf, size_t n)
{
	if (!g->ssl)
		return recv(g->sock, buf, n, 0);
	return stp_tls_recv(g->ssl, buf, n);
}

/* The end of local -> proxy: TCP's half-close, or TLS's close_notify (no
 * TCP shutdown there: under a nested hop the socket carries more). */
static void wire_shut(struct gr *g)
{
	if (!g->ssl) {
		shutdown(g->sock, SHUT_WR);
		return;
	}
	ERR_clear_error();
	(void)SSL_shutdown(g->ssl);
	ERR_clear_error();
}

/* Whether a TLS layer holds bytes that no poll would announce. */
static bool wire_held(const struct gr *g)
{
	return g->ssl && (SSL_pending(g->ssl) > 0 || SSL_has_pending(g->ssl));
}

/* One step of local -> proxy. Returns 0, or -1 with e. */
static int step_up(struct gr *g, short rrev, short srev, struct stp_err *e)
{
	if (g->uoff < g->ulen && (srev & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = wire_send(g, g->up + g->uoff, g->ulen - g->uoff);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return stp_err_set(e, STP_EXIT_FAIL, "connection: %s", strerror(errno));
		if (n > 0)
			g->uoff += (size_t)n;
	}
	if (g->uoff == g->ulen && !g->up_eof && (rrev & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(g->rfd, g->plain, STP_GSS_CHUNK);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return stp_err_set(e, STP_EXIT_FAIL, "read: %s", strerror(errno));
		if (n == 0)
			g->up_eof = true;
		if (n > 0) {
			ssize_t k = stp_gss_wrap_msg(g->s->ctx, g->s->level, g->plain, (size_t)n, g->up,
						     STP_GSS_MSG_MAX, e);
			if (k < 0)
				return -1;
			g->uoff = 0;
			g->ulen = (size_t)k;
		}
	}
	if (g->up_eof && g->uoff == g->ulen && !g->up_shut) {
		/* RFC 1961 has no end message: the half-close is TCP's */
		wire_shut(g);
		g->up_shut = true;
	}
	return 0;
}

/* One step of proxy -> local. Returns 0, 1 when the local reader is gone
 * (an end, as for nc), or -1 with e. */
static int step_down(struct gr *g, short srev, short wrev, struct stp_err *e)
{
	if (g->doff < g->dlen && (wrev & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = write(g->wfd, g->down + g->doff, g->dlen - g->doff);
		if (n < 0 && errno == EPIPE)
			return 1;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return stp_err_set(e, STP_EXIT_FAIL, "write: %s", strerror(errno));
		if (n > 0)
			g->doff += (size_t)n;
	}
	if (g->doff == g->dlen && stp_gss_stream_ready(g->s)) {
		g->dlen = stp_gss_stream_take(g->s, g->down, STP_GSS_TOKEN_MAX);
		g->doff = 0;
		return 0;
	}
	if (g->doff == g->dlen && !g->down_eof && (srev & (POLLIN | POLLHUP | POLLERR))) {
		size_t want = stp_gss_stream_want(g->s);
		ssize_t n = wire_recv(g, g->plain, want < STP_GSS_CHUNK ? want : STP_GSS_CHUNK);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return stp_err_set(e, STP_EXIT_FAIL, "connection: %s", strerror(errno));
		if (n == 0 && stp_gss_stream_inside(g->s))
			return stp_err_set(e, STP_EXIT_FAIL, "connection: the proxy closed it "
					   "inside a GSS-API message");
		if (n == 0)
			g->down_eof = true;
		if (n > 0 && stp_gss_stream_feed(g->s, g->plain, (size_t)n, e) < 0)
			return -1;
	}
	if (g->down_eof && g->doff == g->dlen && !stp_gss_stream_ready(g->s))
		end_local(g);
	return 0;
}

/* The loop; returns 0, or -1 with e. */
static int run(struct gr *g, struct stp_err *e)
{
	while (!(g->up_shut && g->wfd_done)) {
		struct pollfd p[3] = {
			{ .fd = !g->up_eof && g->uoff == g->ulen ? g->rfd : -1, .events = POLLIN },
			{ .fd = g->sock, .events = (g->uoff < g->ulen ? POLLOUT : 0) |
				(!g->down_eof && g->doff == g->dlen ? POLLIN : 0) },
			{ .fd = !g->wfd_done && g->doff < g->dlen ? g->wfd : -1, .events = POLLOUT },
		};
		/* plaintext that waits needs no poll */
		bool ready = g->doff == g->dlen && stp_gss_stream_ready(g->s);
		/* nor do bytes a TLS layer read already: poll at once, and
		 * the proxy's side counts as readable */
		bool held = !ready && g->doff == g->dlen && !g->down_eof && wire_held(g);
		if (!ready && poll(p, 3, held ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return stp_err_set(e, STP_EXIT_FAIL, "poll: %s", strerror(errno));
		}
		short srev = ready ? 0 : (short)(p[1].revents | (held ? POLLIN : 0));
		if (step_up(g, ready ? 0 : p[0].revents, srev, e) < 0)
			return -1;
		int rc = step_down(g, srev, ready ? 0 : p[2].revents, e);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;  /* the local reader left: done, as nc is */
	}
	return 0;
}

int stp_gss_relay_run(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e)
{
	struct gr g = { .rfd = rfd, .wfd = wfd, .sock = conn->fd, .ssl = stp_conn_ssl(conn),
			.s = conn->gss };
	int rc = -1;

	g.up = malloc(STP_GSS_MSG_MAX);
	g.down = malloc(STP_GSS_TOKEN_MAX);
	g.plain = malloc(STP_GSS_CHUNK);
	if (!g.up || !g.down || !g.plain) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		goto out;
	}
	stp_set_nonblock(rfd, true);
	stp_set_nonblock(wfd, true);
	stp_set_nonblock(conn->fd, true);
	rc = run(&g, e);
out:
	free(g.up);
	free(g.down);
	free(g.plain);
	end_local(&g);
	if (g.rfd != g.wfd || g.wfd < 0) {
		stp_set_nonblock(rfd, false);
		close(rfd);
	}
	if (g.wfd >= 0)
		close(g.wfd);
	stp_conn_close(conn);
	return rc;
}
