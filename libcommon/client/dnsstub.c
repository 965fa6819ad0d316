/* dnsstub.c - the local DNS stub of stp-resolve --listen (dnsstub.h).
 *
 * One loop: a UDP socket and a TCP listener on the same port, TCP clients,
 * and the DNS channel to the proxy. Each query gets a slot in `pend` and a
 * wire ID of our own (clients' IDs collide); the answer finds its slot by
 * that ID and goes back with the client's ID. Bounds: STUB_INFLIGHT slots
 * (a query beyond them is answered SERVFAIL), CHAN_OUT_MAX bytes queued to
 * the proxy (likewise), STUB_TCP_MAX clients, and per TCP client one input
 * message and TCP_OUT_MAX bytes of answers (it is not read while full). */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/dns.h"
#include "client/dnsclient.h"
#include "client/dnsstub.h"
#include "client/gssstream.h"
#include "client/gsswire.h"
#include "core/evloop.h"
#include "core/sock.h"

#define STUB_INFLIGHT 256
#define STUB_TCP_MAX 64
#define TCP_OUT_MAX (4 * (2 + STP_DNS_MAX))
#define CHAN_OUT_MAX (256 * 1024)
#define PEND_HEAD (STP_DNS_HDR + 260)
#define SWEEP_MS 1000

struct tcpc {
	struct stub *st;
	int fd;
	uint8_t in[2 + STP_DNS_MAX];
	size_t inlen;
	uint8_t *out;            /* TCP_OUT_MAX bytes */
	size_t outoff, outlen;
	int pending;             /* queries of this client in flight */
	bool eof;
	bool dead;               /* to be closed (its answer queue overflowed) */
	bool busy;               /* inside on_tcp(): closed only at its end */
	struct tcpc *prev, *next;
};

struct pend {
	bool used;
	uint16_t wid, cid;       /* our ID on the channel, the client's */
	struct tcpc *tc;         /* TCP client, or NULL for UDP (or gone: tcp) */
	bool tcp;
	struct sockaddr_storage from;
	socklen_t fromlen;
	unsigned limit;          /* UDP: the largest answer the client takes */
	uint64_t at;
	uint8_t head[PEND_HEAD]; /* header and question, for SERVFAIL */
	size_t headlen;
};

struct stub {
	struct stp_loop *loop;
	const struct stp_client *c;
	const struct stp_log *lg;
	struct stp_err *fatal;   /* set when the loop must end with an error */
	int ufd, lfd;
	struct stp_dnschan ch;   /* ch.conn.fd < 0: no channel now */
	bool read_wants_write;   /* TLS: the channel's read waits for writability, */
	bool write_wants_read;   /* its write for readability */
	struct stp_gss_wire *gw; /* the channel is GSS-API protected (RFC 1961
				  * section 5): queries go out wrapped; NULL: not */
	uint8_t *cout;           /* CHAN_OUT_MAX bytes */
	size_t coutoff, coutlen;
	struct pend pend[STUB_INFLIGHT];
	int npend;
	uint16_t nextid;
	struct tcpc *tcps;
	int ntcp;
	struct stp_timer sweep;
	struct stp_accept_pause lpause;  /* at the fd limit, lfd rests a while */
	uint8_t msg[STP_DNS_MAX];  /* scratch for one message */
};

static void tcp_close(struct tcpc *tc);
static void tcp_update(struct tcpc *tc);
static void forward(struct stub *st, uint8_t *q, size_t len, struct tcpc *tc,
		    const struct sockaddr_storage *from, socklen_t fromlen);
static void on_chan(struct stp_loop *l, int fd, unsigned ev, void *arg);

/* Sends msg to the client of p (ID restored). UDP answers that do not fit
 * go truncated; a TCP client whose queue is full is dropped. */
static void deliver(struct stub *st, struct pend *p, uint8_t *msg, size_t len)
{
	uint8_t tb[PEND_HEAD];

	if (len < STP_DNS_HDR)
		return;
	msg[0] = (uint8_t)(p->cid >> 8);
	msg[1] = (uint8_t)p->cid;
	if (!p->tcp) {
		size_t n = stp_dns_truncate(tb, sizeof(tb), msg, len, p->limit);
		const uint8_t *out = n == len ? msg : tb;
		if (n == 0)
			return;
		/* a full socket buffer loses the datagram, as UDP may */
		if (sendto(st->ufd, out, n, MSG_DONTWAIT, (struct sockaddr *)&p->from,
			   p->fromlen) < 0)
			stp_log(st->lg, STP_LOG_DEBUG, "UDP answer: %s", strerror(errno));
		return;
	}
	struct tcpc *tc = p->tc;
	if (!tc)
		return;  /* the client left */
	if (tc->outoff && tc->outoff == tc->outlen)
		tc->outoff = tc->outlen = 0;
	if (TCP_OUT_MAX - tc->outlen < len + 2 && tc->outoff) {
		memmove(tc->out, tc->out + tc->outoff, tc->outlen - tc->outoff);
		tc->outlen -= tc->outoff;
		tc->outoff = 0;
	}
	if (TCP_OUT_MAX - tc->outlen < len + 2) {
		if (!tc->dead)
			stp_log(st->lg, STP_LOG_WARN, "a TCP client does not read its answers: dropped");
		tc->dead = true;
		return;
	}
	tc->out[tc->outlen++] = (uint8_t)(len >> 8);
	tc->out[tc->outlen++] = (uint8_t)len;
	memcpy(tc->out + tc->outlen, msg, len);
	tc->outlen += len;
}

/* Ends slot p: answers it with msg (NULL: SERVFAIL, or nothing for UDP
 * when drop_udp), frees it, and lets its TCP client go on. */
static void pend_end(struct stub *st, struct pend *p, uint8_t *msg, size_t len, bool drop_udp)
{
	uint8_t b[PEND_HEAD];
	struct tcpc *tc = p->tc;

	if (msg)
		deliver(st, p, msg, len);
	else if (p->tcp || !drop_udp) {
		size_t n = stp_dns_error_reply(b, sizeof(b), p->head, p->headlen, STP_DNS_SERVFAIL);
		if (n)
			deliver(st, p, b, n);
	}
	p->used = false;
	st->npend--;
	if (tc && p->tcp) {
		tc->pending--;
		p->tc = NULL;
		tcp_update(tc);
	}
}

/* I/O on the wire of the channel, through its TLS layer if any, with
 * read(2)'s and send(2)'s answers: bytes, 0 at the end (reading), -1 with
 * errno (EAGAIN: not now; EPROTO: TLS itself). What the TLS layer waits
 * for is noted. */
static ssize_t chan_raw(struct stub *st, bool wr, void *buf, size_t n)
{
	SSL *ssl = stp_conn_ssl(&st->ch.conn);
	enum stp_tls_io t;
	size_t k;

	if (!ssl)
		return wr ? send(st->ch.conn.fd, buf, n, MSG_NOSIGNAL) : read(st->ch.conn.fd, buf, n);
	t = wr ? stp_tls_write(ssl, buf, n, &k) : stp_tls_read(ssl, buf, n, &k);
	if (wr)
		st->write_wants_read = t == STP_TLS_WANT_READ;
	else
		st->read_wants_write = t == STP_TLS_WANT_WRITE;
	switch (t) {
	case STP_TLS_OK:
		return (ssize_t)k;
	case STP_TLS_EOF:
		if (!wr)
			return 0;
		errno = EPIPE;
		return -1;
	case STP_TLS_WANT_READ:
	case STP_TLS_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

static ssize_t chan_wire(void *arg, const void *buf, size_t n)
{
	return chan_raw(arg, true, (void *)buf, n);
}

/* I/O on the channel as chan_raw, its messages wrapped and unwrapped when
 * the session is protected (EPROTO then also: a message did not unwrap). */
static ssize_t chan_io(struct stub *st, bool wr, void *buf, size_t n)
{
	if (!st->gw)
		return chan_raw(st, wr, buf, n);
	return wr ? stp_gss_wire_send(st->gw, buf, n) : stp_conn_read(&st->ch.conn, buf, n);
}

static void chan_gw_free(struct stub *st)
{
	if (st->gw)
		stp_gss_wire_free(st->gw);
	free(st->gw);
	st->gw = NULL;
}

/* Why chan_io failed (n: what it returned), for chan_down. */
static const char *chan_why(struct stub *st, ssize_t n, char *buf, size_t cap)
{
	if (n == 0)
		return "the proxy closed it";
	if (errno == EPROTO && st->gw)
		return "a GSS-API message did not unwrap (tampered with?), or TLS failed";
	if (errno == EPROTO && stp_conn_ssl(&st->ch.conn)) {
		char eb[200];
		snprintf(buf, cap, "TLS: %s", stp_tls_error(eb, sizeof(eb)));
		return buf;
	}
	return strerror(errno);
}

static void chan_down(struct stub *st, const char *why)
{
	if (st->ch.conn.fd < 0)
		return;
	stp_log(st->lg, STP_LOG_WARN, "DNS channel to proxy %s: %s", st->ch.proxy, why);
	stp_loop_unwatch(st->loop, st->ch.conn.fd);
	stp_dnschan_close(&st->ch);
	chan_gw_free(st);
	st->coutoff = st->coutlen = 0;
	st->ch.inlen = 0;
	st->read_wants_write = st->write_wants_read = false;
	for (int i = 0; i < STUB_INFLIGHT; i++)
		if (st->pend[i].used)
			pend_end(st, &st->pend[i], NULL, 0, false);
}

/* Opens the channel when there is none. Returns 0, or -1 (logged). */
static int chan_up(struct stub *st, struct stp_err *e)
{
	if (st->ch.conn.fd >= 0)
		return 0;
	if (stp_dnschan_open(st->c, &st->ch, e) < 0)
		return -1;
	/* a protected session: one wrapped message per write chunk */
	if (st->ch.conn.gss) {
		st->gw = malloc(sizeof(*st->gw));
		if (!st->gw || stp_gss_wire_init(st->gw, st->ch.conn.gss->ctx,
						 st->ch.conn.gss->level, chan_wire, st) < 0) {
			free(st->gw);
			st->gw = NULL;
			stp_dnschan_close(&st->ch);
			return stp_err_set(e, STP_EXIT_FAIL, "DNS channel: out of memory");
		}
	}
	if (stp_set_nonblock(st->ch.conn.fd, true) < 0 ||
	    stp_loop_watch(st->loop, st->ch.conn.fd, STP_EV_READ, on_chan, st) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "DNS channel: %s", strerror(errno));
		stp_dnschan_close(&st->ch);
		chan_gw_free(st);
		return -1;
	}
	return 0;
}

/* Always readable for answers (and for a TLS write that waits on a read);
 * writable while something waits to go and can, or a TLS read needs it. */
static void chan_mask(struct stub *st)
{
	bool w = (st->coutlen > st->coutoff && !st->write_wants_read) || st->read_wants_write ||
		 (st->gw && stp_gss_wire_held(st->gw) && !st->write_wants_read);

	if (st->ch.conn.fd >= 0)
		stp_loop_set(st->loop, st->ch.conn.fd, STP_EV_READ | (w ? STP_EV_WRITE : 0));
}

static void chan_flush(struct stub *st)
{
	/* a wrapped message cut short goes out first */
	if (st->gw && st->ch.conn.fd >= 0 && stp_gss_wire_flush(st->gw) < 0) {
		char wb[240];
		chan_down(st, chan_why(st, -1, wb, sizeof(wb)));
		return;
	}
	while (st->ch.conn.fd >= 0 && st->coutoff < st->coutlen) {
		ssize_t n = chan_io(st, true, st->cout + st->coutoff, st->coutlen - st->coutoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			char wb[240];
			chan_down(st, n < 0 ? chan_why(st, n, wb, sizeof(wb)) : "closed");
			return;
		}
		st->coutoff += (size_t)n;
	}
	if (st->coutoff == st->coutlen)
		st->coutoff = st->coutlen = 0;
	chan_mask(st);
}

/* Takes one query from a client. tc NULL: from UDP at from/fromlen. */
static void forward(struct stub *st, uint8_t *q, size_t len, struct tcpc *tc,
		    const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct stp_dns_msg m;
	struct stp_err e;
	struct pend *p = NULL;
	int rc = stp_dns_check_query(q, len, &m);

	if (rc < 0)
		return;  /* not a query: nothing to answer */
	for (int i = 0; i < STUB_INFLIGHT && !p; i++)
		if (!st->pend[i].used)
			p = &st->pend[i];
	if (!p) {
		/* every slot taken: SERVFAIL at once */
		uint8_t b[PEND_HEAD];
		struct pend tmp = { .tcp = tc != NULL, .tc = tc, .cid = m.id,
				    .limit = STP_DNS_UDP_MIN, .fromlen = fromlen };
		size_t n = stp_dns_error_reply(b, sizeof(b), q, m.qend <= sizeof(b) ? m.qend
					       : STP_DNS_HDR, STP_DNS_SERVFAIL);
		if (from)
			tmp.from = *from;
		if (n)
			deliver(st, &tmp, b, n);
		return;
	}
	memset(p, 0, offsetof(struct pend, head));
	p->used = true;
	st->npend++;
	p->cid = m.id;
	p->tcp = tc != NULL;
	p->tc = tc;
	if (tc)
		tc->pending++;
	else {
		p->from = *from;
		p->fromlen = fromlen;
		p->limit = stp_dns_udp_size(q, len);
	}
	p->at = stp_loop_now(st->loop);
	p->headlen = m.qend <= sizeof(p->head) ? m.qend : STP_DNS_HDR;
	memcpy(p->head, q, p->headlen);
	if (rc > 0) {
		uint8_t b[PEND_HEAD];
		size_t n = stp_dns_error_reply(b, sizeof(b), p->head, p->headlen, rc);
		pend_end(st, p, n ? b : NULL, n, true);
		return;
	}
	if (chan_up(st, &e) < 0) {
		stp_log(st->lg, STP_LOG_ERR, "%s", e.msg);
		pend_end(st, p, NULL, 0, false);
		return;
	}
	if (CHAN_OUT_MAX - st->coutlen < len + 2) {
		pend_end(st, p, NULL, 0, false);
		return;
	}
	/* an ID no other slot uses */
	for (;;) {
		bool taken = false;
		p->wid = st->nextid++;
		for (int i = 0; i < STUB_INFLIGHT && !taken; i++)
			taken = &st->pend[i] != p && st->pend[i].used && st->pend[i].wid == p->wid;
		if (!taken)
			break;
	}
	st->cout[st->coutlen++] = (uint8_t)(len >> 8);
	st->cout[st->coutlen++] = (uint8_t)len;
	memcpy(st->cout + st->coutlen, q, len);
	st->cout[st->coutlen] = (uint8_t)(p->wid >> 8);
	st->cout[st->coutlen + 1] = (uint8_t)p->wid;
	st->coutlen += len;
	chan_flush(st);
}

/* Reads answers until the channel has no more now: a TLS layer may hold
 * bytes that no readiness of the socket would announce again. */
static void chan_read(struct stub *st)
{
	while (st->ch.conn.fd >= 0) {
		char wb[240];
		ssize_t n = chan_io(st, false, st->ch.in + st->ch.inlen,
				    sizeof(st->ch.in) - st->ch.inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			chan_down(st, chan_why(st, n, wb, sizeof(wb)));
			return;
		}
		st->ch.inlen += (size_t)n;
		for (;;) {
			ssize_t k = stp_dns_unframe(st->ch.in, &st->ch.inlen, st->msg,
						    sizeof(st->msg));
			if (k <= 0)
				break;
			if (k < STP_DNS_HDR)
				continue;
			uint16_t wid = (uint16_t)(st->msg[0] << 8 | st->msg[1]);
			for (int i = 0; i < STUB_INFLIGHT; i++)
				if (st->pend[i].used && st->pend[i].wid == wid) {
					pend_end(st, &st->pend[i], st->msg, (size_t)k, false);
					break;
				}
		}
	}
}

static void on_chan(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stub *st = arg;

	(void)l;
	(void)fd;
	(void)ev;
	/* either readiness may be what a TLS layer waited for, in either
	 * direction: try both */
	chan_flush(st);
	chan_read(st);
	chan_mask(st);
}

static void on_udp(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stub *st = arg;

	(void)l;
	(void)ev;
	/* a bounded batch per wake-up, so TCP clients and the channel get turns */
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, st->msg, sizeof(st->msg), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;  /* EAGAIN, or an ICMP error of an earlier answer */
		forward(st, st->msg, (size_t)n, NULL, &from, fl);
	}
}

static void tcp_close(struct tcpc *tc)
{
	struct stub *st = tc->st;

	for (int i = 0; i < STUB_INFLIGHT; i++)
		if (st->pend[i].used && st->pend[i].tc == tc)
			st->pend[i].tc = NULL;
	stp_loop_unwatch(st->loop, tc->fd);
	close(tc->fd);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		st->tcps = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	st->ntcp--;
	free(tc->out);
	free(tc);
}

/* Writes what is queued, closes a client that is done (or dead), sets
 * the mask. Inside on_tcp() for tc it does nothing: on_tcp() calls it last. */
static void tcp_update(struct tcpc *tc)
{
	if (tc->busy)
		return;
	/* queries read earlier that now have room; forward() may answer (or
	 * doom) tc at once, so tc stays until this is done */
	tc->busy = true;
	while (!tc->dead && tc->pending < 32) {
		ssize_t k = stp_dns_unframe(tc->in, &tc->inlen, tc->st->msg, sizeof(tc->st->msg));
		if (k <= 0)
			break;
		forward(tc->st, tc->st->msg, (size_t)k, tc, NULL, 0);
	}
	tc->busy = false;
	if (tc->dead) {
		tcp_close(tc);
		return;
	}
	while (tc->outoff < tc->outlen) {
		ssize_t n = send(tc->fd, tc->out + tc->outoff, tc->outlen - tc->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			tcp_close(tc);
			return;
		}
		tc->outoff += (size_t)n;
	}
	if (tc->outoff == tc->outlen)
		tc->outoff = tc->outlen = 0;
	if (tc->eof && tc->pending == 0 && tc->outlen == 0) {
		tcp_close(tc);
		return;
	}
	bool room = !tc->eof && tc->pending < 32 && tc->outlen < TCP_OUT_MAX / 2 &&
		    tc->inlen < sizeof(tc->in);
	stp_loop_set(tc->st->loop, tc->fd, (room ? STP_EV_READ : 0) |
		     (tc->outlen ? STP_EV_WRITE : 0));
}

static void on_tcp(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct tcpc *tc = arg;

	(void)l;
	if ((ev & STP_EV_READ) && !tc->eof && tc->inlen < sizeof(tc->in)) {
		ssize_t n = read(fd, tc->in + tc->inlen, sizeof(tc->in) - tc->inlen);
		if (n == 0)
			tc->eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			tcp_close(tc);
			return;
		} else if (n > 0)
			tc->inlen += (size_t)n;
	}
	tcp_update(tc);
}

static void on_accept(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stub *st = arg;

	(void)ev;
	for (int k = 0; k < 16; k++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		bool warn = false;
		if (cfd < 0) {
			/* else the still-queued client wakes the loop at once, for ever */
			if (stp_accept_pause(&st->lpause, errno, &warn) && warn)
				stp_log(st->lg, STP_LOG_WARN, "accept: %s; pausing for %d ms",
					strerror(errno), STP_ACCEPT_PAUSE_MS);
			return;
		}
		stp_accept_pause_ok(&st->lpause);
		struct tcpc *tc = st->ntcp < STUB_TCP_MAX ? calloc(1, sizeof(*tc)) : NULL;
		if (tc && !(tc->out = malloc(TCP_OUT_MAX))) {
			free(tc);
			tc = NULL;
		}
		if (!tc || stp_loop_watch(l, cfd, STP_EV_READ, on_tcp, tc) < 0) {
			if (tc)
				free(tc->out);
			free(tc);
			close(cfd);
			continue;
		}
		tc->st = st;
		tc->fd = cfd;
		tc->next = st->tcps;
		if (st->tcps)
			st->tcps->prev = tc;
		st->tcps = tc;
		st->ntcp++;
	}
}

/* Slots older than the timeout: SERVFAIL for TCP, nothing for UDP (its
 * client has retried or given up). */
static void on_sweep(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stub *st = arg;
	uint64_t now = stp_loop_now(l);
	uint64_t limit = (uint64_t)(st->c->timeout_ms > 5000 ? st->c->timeout_ms : 5000);

	for (int i = 0; i < STUB_INFLIGHT; i++)
		if (st->pend[i].used && now - st->pend[i].at > limit)
			pend_end(st, &st->pend[i], NULL, 0, true);
	stp_timer_start(l, t, SWEEP_MS);
}

static void on_signal(struct stp_loop *l, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	stp_loop_stop(l);
}

/* Binds UDP and TCP on host:port; with port 0, both on one free port
 * (a few tries: TCP may find UDP's port taken). Returns 0 or -1 with e. */
static int bind_both(struct stub *st, const char *host, uint16_t port,
		     struct sockaddr_storage *bound, struct stp_err *e)
{
	struct sockaddr_storage sa;
	socklen_t len;

	if (stp_sa_from_numeric(&sa, &len, host[0] ? host : "127.0.0.1", port) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "--listen: '%s' is not a numeric address",
				   host);
	for (int tries = 0; tries < 20; tries++) {
		socklen_t bl = sizeof(*bound);
		st->ufd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (st->ufd < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "socket: %s", strerror(errno));
		if (bind(st->ufd, (struct sockaddr *)&sa, len) < 0 ||
		    getsockname(st->ufd, (struct sockaddr *)bound, &bl) < 0) {
			char a[STP_ADDRSTRLEN];
			stp_err_set(e, STP_EXIT_FAIL, "listen %s (UDP): %s",
				    stp_sa_str((struct sockaddr *)&sa, a, sizeof(a)), strerror(errno));
			close(st->ufd);
			st->ufd = -1;
			return -1;
		}
		st->lfd = stp_listen_sa((struct sockaddr *)bound, bl, 64, e);
		if (st->lfd >= 0)
			return 0;
		close(st->ufd);
		st->ufd = -1;
		if (port != 0)
			return -1;
	}
	return -1;
}

int stp_dnsstub_run(const struct stp_client *c, const char *host, uint16_t port,
		    const struct stp_log *lg, stp_dnsstub_ready_cb *ready, void *arg,
		    struct stp_err *e)
{
	struct stub *st = calloc(1, sizeof(*st));
	struct sockaddr_storage bound;
	int rc = -1;

	if (!st || !(st->cout = malloc(CHAN_OUT_MAX))) {
		free(st);
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	}
	st->c = c;
	st->lg = lg;
	st->ufd = st->lfd = -1;
	st->ch.conn.fd = -1;
	st->nextid = (uint16_t)(stp_clock_ms() * 2654435761u);
	stp_timer_init(&st->sweep, on_sweep, st);
	if (!(st->loop = stp_loop_new(1024, e)))
		goto out;
	if (bind_both(st, host, port, &bound, e) < 0)
		goto out;
	/* the channel first: a proxy without one is an error at start */
	if (chan_up(st, e) < 0)
		goto out;
	if (stp_loop_watch(st->loop, st->ufd, STP_EV_READ, on_udp, st) < 0 ||
	    stp_loop_watch(st->loop, st->lfd, STP_EV_READ, on_accept, st) < 0 ||
	    stp_loop_signal(st->loop, SIGINT, on_signal, st) < 0 ||
	    stp_loop_signal(st->loop, SIGTERM, on_signal, st) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	stp_accept_pause_init(&st->lpause, st->loop, st->lfd);
	stp_timer_start(st->loop, &st->sweep, SWEEP_MS);
	ready(arg, (struct sockaddr *)&bound);
	if (stp_loop_run(st->loop) < 0) {
		stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	while (st->tcps)
		tcp_close(st->tcps);
	if (st->loop) {
		stp_timer_stop(st->loop, &st->sweep);
		if (st->ch.conn.fd >= 0)
			stp_loop_unwatch(st->loop, st->ch.conn.fd);
		if (st->ufd >= 0)
			stp_loop_unwatch(st->loop, st->ufd);
		if (st->lfd >= 0) {
			stp_accept_pause_stop(&st->lpause);
			stp_loop_unwatch(st->loop, st->lfd);
		}
	}
	stp_dnschan_close(&st->ch);
	chan_gw_free(st);
	if (st->ufd >= 0)
		close(st->ufd);
	if (st->lfd >= 0)
		close(st->lfd);
	stp_loop_free(st->loop);
	free(st->cout);
	free(st);
	return rc;
}
