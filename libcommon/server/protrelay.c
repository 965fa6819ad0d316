/* protrelay.c - the relay of a GSS-API protected session (RFC 1961 §5):
 * client (encapsulated messages, through sessprot.h) <-> target (plain).
 * relay.c cannot carry it: every chunk is unwrapped or wrapped on the way,
 * so no splice. It runs as a command (S_CMD) on the session's loop, with
 * the plain relay's habits: non-blocking, each direction OPEN -> EOF seen
 * -> shut once its bytes are out (a half-close passes on, RFC 1961 has no
 * end message of its own: TCP's FIN is it), bounded buffers (one message
 * each way: the channel's), the session's idle timeout.
 *
 * up   client -> target: early bytes of the request's buffer first, then
 *      the plaintext of each message as it unwraps; a target that does
 *      not take it stops the reading of the client (up_wait).
 * down target -> client: a read of at most one message's plaintext,
 *      wrapped at once; the next read waits until it is written.
 *
 * The target side is a TLS connection when the session goes through a
 * socks5s/https --upstream (ss->tssl, the innermost of its TLS layers):
 * then reads and writes go through OpenSSL, non-blocking, each direction
 * waiting for what OpenSSL asked for (a write may want a read), bytes
 * OpenSSL holds decrypted are drained without an fd event, and the
 * half-close towards the upstream is close_notify (no TCP shutdown: the
 * socket may carry outer TLS layers, as relay.c says). This keeps the
 * protected client side and the TLS upstream side in one relay, rather
 * than splitting the session over two relays and a socketpair. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/evloop.h"
#include "core/tls.h"
#include "core/logesc.h"
#include "proto/addr.h"
#include "server/server_priv.h"
#include "server/sessprot.h"

/* Reads from a side per event while the other keeps up, before the loop
 * serves other sessions (buffered whole messages are drained anyway: no
 * fd event would announce them). */
#define ROUNDS 16

struct prelay {
	size_t preoff;          /* ss->in[preoff..inlen): early bytes for the target */
	bool up_eof, up_wait, up_shut;
	bool down_eof, down_shut;
	unsigned up_want;       /* the target event a blocked write waits for */
	unsigned down_want;     /* the target event a read waits for */
	uint64_t last;          /* loop time of the last byte moved */
	/* what the session held before the relay (upstream.c's state, which
	 * owns the TLS layers of ss->tssl): freed with the relay */
	const struct cmd_ops *under_ops;
	void *under_cst;
};

static void pr_free(struct session *ss)
{
	struct prelay *pr = ss->cst;

	ss->ops = pr ? pr->under_ops : NULL;
	ss->cst = pr ? pr->under_cst : NULL;
	free(pr);
	if (ss->ops && ss->ops->free)
		ss->ops->free(ss);
	ss->ops = NULL;
	ss->cst = NULL;
}

/* A failure of either side: the session ends, its result says why (a
 * refused message has set it already). */
static void fail(struct session *ss, const char *res)
{
	if (res)
		ss->result = res;
	session_free(ss);
}

/* Writes to the target, as send(2): bytes, or -1 with errno (EAGAIN:
 * pr->up_want says which event to wait for). */
static ssize_t t_send(struct session *ss, struct prelay *pr, const void *b, size_t n)
{
	if (!ss->tssl)
		return send(ss->tfd, b, n, MSG_NOSIGNAL);
	/* a retry after EAGAIN passes the same bytes again, as OpenSSL needs */
	return stp_tls_send_want(ss->tssl, b, n, &pr->up_want);
}

/* Reads from the target, as read(2): bytes, 0 at its end (close_notify,
 * or the upstream closed without it), or -1 with errno (EAGAIN:
 * pr->down_want says which event to wait for). */
static ssize_t t_recv(struct session *ss, struct prelay *pr, void *b, size_t n)
{
	if (!ss->tssl)
		return read(ss->tfd, b, n);
	return stp_tls_recv_want(ss->tssl, b, n, &pr->down_want);
}

/* Bytes OpenSSL holds for the target side that no fd event will announce. */
static bool t_pending(const struct session *ss)
{
	return ss->tssl && SSL_has_pending(ss->tssl);
}

/* The client's half-close passed on to the target. */
static void t_shut(struct session *ss)
{
	if (!ss->tssl) {
		shutdown(ss->tfd, SHUT_WR);
		return;
	}
	/* close_notify; the other direction may still read (TLS 1.3
	 * half-close). A failure here shows on the next read. */
	ERR_clear_error();
	(void)SSL_shutdown(ss->tssl);
	ERR_clear_error();
}

/* client -> target. Returns 0, or -1 when ss is gone. */
static int up_step(struct session *ss, struct prelay *pr)
{
	for (int i = 0; !pr->up_wait; i++) {
		const uint8_t *src;
		ssize_t len, w;
		bool pre = pr->preoff < ss->inlen;
		if (!pre && (pr->up_eof || (i >= ROUNDS && !session_pending(ss))))
			break;
		if (pre) {
			src = ss->in + pr->preoff;
			len = (ssize_t)(ss->inlen - pr->preoff);
		} else {
			len = sessprot_plain(ss, &src);
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (len < 0) {
				fail(ss, errno == EPROTO ? NULL : strerror(errno));
				return -1;
			}
			if (len == 0) {
				pr->up_eof = true;
				break;
			}
		}
		w = t_send(ss, pr, src, (size_t)len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			pr->up_wait = true;
			break;
		}
		if (w < 0) {
			fail(ss, strerror(errno));
			return -1;
		}
		if (pre)
			pr->preoff += (size_t)w;
		else
			sessprot_take(ss, (size_t)w);
		ss->bytes_up += (uint64_t)w;
		pr->last = stp_loop_now(ss->srv->loop);
		if (w < len)
			pr->up_wait = true;  /* the target's buffer is full */
	}
	if (pr->up_eof && !pr->up_wait && !pr->up_shut && pr->preoff == ss->inlen) {
		t_shut(ss);
		pr->up_shut = true;
	}
	return 0;
}

/* target -> client. Returns 0, or -1 when ss is gone. */
static int down_step(struct session *ss, struct prelay *pr)
{
	uint8_t *buf = stp_loop_scratch(ss->srv->loop);
	size_t cap = sessprot_chunk(ss);

	for (int i = 0;; i++) {
		int r = sessprot_flush(ss);
		if (r < 0) {
			fail(ss, "client gone");
			return -1;
		}
		/* past ROUNDS only what TLS already holds: no event would say */
		if (r > 0 || pr->down_eof || (i >= ROUNDS && !t_pending(ss)))
			break;
		ssize_t n = t_recv(ss, pr, buf, cap < STP_LOOP_SCRATCH ? cap : STP_LOOP_SCRATCH);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			fail(ss, strerror(errno));
			return -1;
		}
		if (n == 0) {
			pr->down_eof = true;
			break;
		}
		ss->bytes_down += (uint64_t)n;
		pr->last = stp_loop_now(ss->srv->loop);
		/* the channel is empty here: it takes all n (<= one chunk) */
		if (sessprot_write(ss, buf, (size_t)n) != n) {
			fail(ss, errno == EPROTO ? NULL : "client gone");
			return -1;
		}
	}
	if (pr->down_eof && !sessprot_out_pending(ss) && !pr->down_shut) {
		if (ss->ssl)
			(void)SSL_shutdown(ss->ssl);  /* close_notify: TLS's half-close */
		else
			shutdown(ss->cfd, SHUT_WR);
		pr->down_shut = true;
	}
	return 0;
}

/* Both steps, then the end or the fds' interest. */
static void pump(struct session *ss)
{
	struct prelay *pr = ss->cst;
	unsigned c = 0, t = 0;

	if (up_step(ss, pr) < 0 || down_step(ss, pr) < 0)
		return;
	if (pr->up_shut && pr->down_shut) {
		ss->result = "ok";
		session_free(ss);
		return;
	}
	if (!pr->up_eof && !pr->up_wait)
		c |= STP_EV_READ;
	if (sessprot_out_pending(ss))
		c |= STP_EV_WRITE;
	if (pr->up_wait)
		t |= pr->up_want;
	if (!pr->down_eof && !sessprot_out_pending(ss))
		t |= pr->down_want;
	stp_loop_set(ss->srv->loop, ss->cfd, c);
	stp_loop_set(ss->srv->loop, ss->tfd, t);
}

/* An error on fd that no read or write reported (a reset while only
 * waiting): the session ends. Returns true then. */
static bool fd_error(struct session *ss, int fd, unsigned ev)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (!(ev & STP_EV_ERROR) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || !err)
		return false;
	fail(ss, strerror(err));
	return true;
}

static void on_client(struct session *ss, unsigned ev)
{
	if (!fd_error(ss, ss->cfd, ev))
		pump(ss);
}

static void on_target(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct session *ss = arg;
	struct prelay *pr = ss->cst;

	(void)l;
	if (fd_error(ss, fd, ev))
		return;
	/* room again (or an error the write will tell); over TLS the write
	 * may have waited for a read instead */
	if (ev & (pr->up_want | STP_EV_ERROR))
		pr->up_wait = false;
	pump(ss);
}

static void on_timer(struct session *ss)
{
	struct prelay *pr = ss->cst;

	session_idle_check(ss, pr->last);
}

static const struct cmd_ops prelay_ops = { on_client, on_timer, pr_free };

void protrelay_start(struct session *ss, const uint8_t *reply, size_t n)
{
	struct prelay *pr;

	pr = calloc(1, sizeof(*pr));
	if (!pr) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	if (session_send(ss, reply, n) < 0) {
		free(pr);
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	pr->last = stp_loop_now(ss->srv->loop);
	pr->up_want = STP_EV_WRITE;
	pr->down_want = STP_EV_READ;
	pr->under_ops = ss->ops;
	pr->under_cst = ss->cst;
	ss->cst = pr;
	ss->ops = &prelay_ops;
	ss->state = S_CMD;
	ss->result = "ok";
	if (stp_loop_watch(ss->srv->loop, ss->tfd, 0, on_target, ss) < 0) {
		ss->result = "relay setup failed";
		session_free(ss);
		return;
	}
	if (session_idle_check(ss, pr->last))
		return;
	pump(ss);  /* early bytes, and messages already read */
}
