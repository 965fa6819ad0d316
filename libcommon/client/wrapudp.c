/* wrapudp.c - a wrapped program's UDP socket, agent side (wrapudp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/udpclient.h"
#include "client/wrapudp.h"
#include "core/sock.h"
#include "proto/addr.h"

#define DESTS 64              /* as many as the library keeps per socket */
#define REPLY_TIMEOUT_MS 10000

struct dest {
	struct stp_addr to;
	int fd;                          /* the loopback port that stands for to */
	struct sockaddr_storage prog;    /* the program's socket, once it sent */
	socklen_t proglen;
};

struct wudp {
	struct stp_udp_assoc a;
	const struct stp_client *c;
	const struct stp_log *lg;
	int ctl;
	int n;
	struct dest d[DESTS];
	uint8_t *buf;
};

/* The reply: success with the loopback address of af and port, or rep
 * with no address. */
static int answer(int ctl, uint8_t rep, int af, uint16_t port)
{
	uint8_t b[22] = { 5, rep, 0, 1 };
	size_t n = 4;

	if (rep == 0 && af == AF_INET6) {
		b[3] = 4;
		b[19] = 1;
		n += 16;
	} else {
		if (rep == 0) {
			b[4] = 127;
			b[7] = 1;
		}
		n += 4;
	}
	b[n++] = (uint8_t)(port >> 8);
	b[n++] = (uint8_t)port;
	return stp_write_all(ctl, b, n, stp_clock_ms() + REPLY_TIMEOUT_MS);
}

/* Adds host:port with a loopback port of its own (of family af) and
 * answers with it. Returns 0, or -1 when the reply could not be written. */
static int add(struct wudp *w, const char *host, uint16_t port, int af)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stp_err e = { 0, "" };
	struct dest *d = &w->d[w->n];
	int fd;

	if (w->n == DESTS)
		return answer(w->ctl, 1, af, 0);
	if (stp_udp_dest(w->c, host, port, &d->to, &e) < 0) {
		stp_log(w->lg, STP_LOG_DEBUG, "wrap: udp %s", e.msg);
		return answer(w->ctl, 4, af, 0);
	}
	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		stp_log(w->lg, STP_LOG_WARN, "wrap: udp socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return answer(w->ctl, 1, af, 0);
	}
	d->fd = fd;
	d->proglen = 0;
	w->n++;
	return answer(w->ctl, 0, af, stp_sa_port((struct sockaddr *)&ss));
}

/* The program's datagrams for d, into the association. Returns -1 when
 * the association failed. */
static int from_program(struct wudp *w, struct dest *d)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t k = recvfrom(d->fd, w->buf, 65536, 0, (struct sockaddr *)&from, &fl);
		struct stp_err e = { 0, "" };
		if (k < 0)
			return errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED ? 0 : -1;
		/* answers go back to the socket that sent last */
		d->prog = from;
		d->proglen = fl;
		if (stp_udp_send(&w->a, &d->to, w->buf, (size_t)k, &e) < 0) {
			stp_log(w->lg, STP_LOG_DEBUG, "wrap: udp %s", e.msg);
			return -1;
		}
	}
	return 0;
}

static bool same_addr(const struct stp_addr *a, const struct stp_addr *b)
{
	size_t n = a->atyp == 1 ? 4 : a->atyp == 4 ? 16 : 0;

	return a->atyp == b->atyp && a->port == b->port && n && memcmp(&a->u, &b->u, n) == 0;
}

/* The destination an answer from `from` belongs to: its address, or a name
 * the proxy resolved with that port. */
static struct dest *dest_for(struct wudp *w, const struct stp_addr *from)
{
	for (int i = 0; i < w->n; i++)
		if (same_addr(&w->d[i].to, from))
			return &w->d[i];
	for (int i = 0; i < w->n; i++)
		if (w->d[i].to.atyp == 3 && w->d[i].to.port == from->port)
			return &w->d[i];
	return NULL;
}

/* Answers from the association, to the program. Returns -1 when the
 * association ended. */
static int to_program(struct wudp *w)
{
	for (int i = 0; i < 64; i++) {
		struct stp_addr from;
		struct stp_err e = { 0, "" };
		size_t len;
		int r = stp_udp_recv(&w->a, &from, w->buf, 65536, &len, &e);
		if (r <= 0) {
			if (r < 0)
				stp_log(w->lg, STP_LOG_DEBUG, "wrap: udp %s", e.msg);
			return r;
		}
		struct dest *d = dest_for(w, &from);
		/* UDP may drop: a full socket buffer or an unknown source loses one */
		if (d && d->proglen)
			(void)sendto(d->fd, w->buf, len, 0, (struct sockaddr *)&d->prog, d->proglen);
	}
	return 0;
}

static void relay(struct wudp *w, stp_wrap_next *next, void *arg)
{
	for (;;) {
		struct pollfd p[3 + DESTS];
		int na = stp_udp_pollfds(&w->a, p), np = na;
		p[np++] = (struct pollfd){ .fd = w->ctl, .events = POLLIN };
		for (int i = 0; i < w->n; i++)
			p[np++] = (struct pollfd){ .fd = w->d[i].fd, .events = POLLIN };
		int r = poll(p, (nfds_t)np, stp_udp_pending(&w->a) ? 0 : -1);
		if (r < 0 && errno != EINTR)
			return;
		if (to_program(w) < 0)
			return;
		if (p[na].revents) {
			char host[256];
			uint16_t port;
			int af;
			int k = next(arg, w->ctl, host, sizeof(host), &port, &af);
			if (k <= 0 || (k == 1 && add(w, host, port, af) < 0))
				return;
		}
		for (int i = 0; i < w->n; i++)
			if (p[na + 1 + i].revents && from_program(w, &w->d[i]) < 0)
				return;
	}
}

int stp_wrap_udp_serve(int ctl, const struct stp_client *c, const char *host, uint16_t port,
		       int af, stp_wrap_next *next, void *arg, uint8_t (*rep_fail)(int code),
		       const struct stp_log *lg)
{
	struct wudp *w = calloc(1, sizeof(*w));
	struct stp_err e = { 0, "" };
	int rc = 0;

	if (!w || !(w->buf = malloc(65536))) {
		free(w);
		answer(ctl, 1, af, 0);
		return 1;
	}
	w->c = c;
	w->lg = lg;
	w->ctl = ctl;
	if (stp_udp_open(c, false, false, &w->a, &e) < 0) {
		stp_log(lg, STP_LOG_DEBUG, "wrap: udp %s", e.msg);
		answer(ctl, rep_fail(e.code), af, 0);
		rc = e.code ? e.code : 1;
	} else {
		stp_log(lg, STP_LOG_DEBUG, "wrap: udp association for %s:%u", host, port);
		if (add(w, host, port, af) == 0 && w->n == 1)
			relay(w, next, arg);
		stp_udp_close(&w->a);
	}
	for (int i = 0; i < w->n; i++)
		close(w->d[i].fd);
	free(w->buf);
	free(w);
	return rc;
}
