/* transparent_udp.c - --transparent-udp: UDP flows redirected by tproxy
 * (transparent.h).
 *
 * A flow is (client address, original target). Its first datagram makes
 * a session on one end of a socketpair that runs UDP_TCP to the target as
 * a client would ask (rules, limits, --upstream, logs, stats: session.c);
 * the flow writes each datagram on the other end framed as UDP_TCP does
 * (LEN | UDP header | DATA), and reads back the reply and then the
 * answers' frames. Answers leave from a socket bound to the target's
 * address and port (IP_TRANSPARENT) and connected to the client, so the
 * client sees them come from where it sent; the kernel's tproxy lookup
 * then also hands the client's later datagrams of the flow to that socket
 * (a connected socket matches before the listener), which reads them too.
 *
 * A flow ends when it has been idle (--idle-timeout, default 60 s) or its
 * session ends. A flow refused before any reply (the rules, the upstream)
 * stays as a dead entry for DEAD_MS that drops its datagrams: a client
 * retrying must not make a session and a log line per datagram. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sock.h"
#include "proto/addr.h"
#include "server/frameq.h"
#include "server/server_priv.h"
#include "server/transparent.h"

#ifndef IP_ORIGDSTADDR
#define IP_ORIGDSTADDR 20
#endif
#ifndef IPV6_ORIGDSTADDR
#define IPV6_ORIGDSTADDR 74
#endif

#define MAX_FLOWS 1024          /* more flows at once: new ones are dropped */
#define IDLE_MS 60000           /* a flow's idle limit without --idle-timeout */
#define DEAD_MS 10000           /* a refused flow's datagrams dropped this long */
#define SWEEP_MS 1000           /* how often idle flows are looked for */
#define QUEUE_MAX (256 * 1024)  /* frames waiting for the session; then dropped */
#define READ_BATCH 64           /* datagrams per read event */

enum fstate { F_WAIT, F_OPEN, F_DEAD };

struct flow {
	struct flow *prev, *next;
	struct tudp *t;
	enum fstate state;
	struct sockaddr_storage client, target;
	struct stp_addr taddr;       /* target, as the frames' header names it */
	int rfd;                     /* bound to target, connected to client; -1: none */
	int pfd;                     /* our end of the session's socketpair; -1: none */
	uint8_t reply[STP_REPLY_MAX + 8];  /* the session's reply, as it comes */
	size_t rlen;
	struct stp_frameq out;       /* frames to the session */
	struct stp_framein in;       /* frames from it */
	uint64_t last;               /* loop time of the last datagram either way */
	uint64_t dead_until;
};

struct tudp {
	struct stp_server *s;
	struct flow *flows;
	int nflows;
	struct stp_timer sweep;
	bool full_warned;
};

static void flow_free(struct flow *f)
{
	struct tudp *t = f->t;
	struct stp_loop *l = t->s->loop;

	if (f->rfd >= 0) {
		stp_loop_unwatch(l, f->rfd);
		close(f->rfd);
	}
	if (f->pfd >= 0) {
		stp_loop_unwatch(l, f->pfd);
		close(f->pfd);  /* the session reads EOF and ends, logged */
	}
	stp_frameq_free(&f->out);
	stp_framein_free(&f->in);
	if (f->prev)
		f->prev->next = f->next;
	else
		t->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	t->nflows--;
	free(f);
}

/* The flow is over for now: its sockets go, its entry drops datagrams
 * until DEAD_MS from now. */
static void flow_kill(struct flow *f)
{
	struct stp_loop *l = f->t->s->loop;

	if (f->rfd >= 0) {
		stp_loop_unwatch(l, f->rfd);
		close(f->rfd);
		f->rfd = -1;
	}
	if (f->pfd >= 0) {
		stp_loop_unwatch(l, f->pfd);
		close(f->pfd);
		f->pfd = -1;
	}
	f->state = F_DEAD;
	f->dead_until = stp_loop_now(l) + DEAD_MS;
}

static void sweep(struct stp_loop *l, struct stp_timer *tm, void *arg)
{
	struct tudp *t = arg;
	uint64_t now = stp_loop_now(l);
	long idle = t->s->cfg.idle_timeout_ms > 0 ? t->s->cfg.idle_timeout_ms : IDLE_MS;

	for (struct flow *f = t->flows, *next; f; f = next) {
		next = f->next;
		if (f->state == F_DEAD ? now >= f->dead_until : now - f->last >= (uint64_t)idle)
			flow_free(f);
	}
	if (t->flows)
		stp_timer_start(l, tm, SWEEP_MS);
}

static struct tudp *tudp_get(struct stp_server *s)
{
	struct tudp *t = s->tudp;

	if (t)
		return t;
	if (!(t = calloc(1, sizeof(*t))))
		return NULL;
	t->s = s;
	stp_timer_init(&t->sweep, sweep, t);
	s->tudp = t;
	return t;
}

void transp_udp_free(struct stp_server *s)
{
	struct tudp *t = s->tudp;

	if (!t)
		return;
	while (t->flows)
		flow_free(t->flows);
	stp_timer_stop(s->loop, &t->sweep);
	free(t);
	s->tudp = NULL;
}

/* Writes the queued frames to the session; write interest while some
 * wait. Returns 0, or -1 when the session is gone. */
static ssize_t to_pair(void *arg, const void *b, size_t n)
{
	return send(((struct flow *)arg)->pfd, b, n, MSG_NOSIGNAL);
}

static int flush(struct flow *f)
{
	if (stp_frameq_drain(&f->out, to_pair, f) < 0)
		return -1;
	return stp_loop_set(f->t->s->loop, f->pfd, STP_EV_READ | (f->out.len ? STP_EV_WRITE : 0));
}

/* One datagram from the client to the flow's target: framed for the
 * session (dropped when its queue is full, as a network would). */
static void to_session(struct flow *f, const uint8_t *data, size_t len)
{
	uint8_t fr[STP_REPLY_MAX + 65536];
	size_t h = stp_udp_hdr_put(fr, sizeof(fr), &f->taddr);

	f->last = stp_loop_now(f->t->s->loop);
	if (f->state == F_DEAD || !h || len > sizeof(fr) - h)
		return;
	memcpy(fr + h, data, len);
	if (stp_frameq_push(&f->out, fr, h + len) && flush(f) < 0)
		flow_kill(f);
}

/* A frame from the session: an answer, sent to the client from the
 * target's address. */
static void on_frame(void *arg, const uint8_t *fr, size_t n)
{
	struct flow *f = arg;
	struct stp_udp_hdr h;
	ssize_t hl = stp_udp_hdr_get(fr, n, &h);

	if (hl <= 0 || h.frag || f->rfd < 0)
		return;
	f->last = stp_loop_now(f->t->s->loop);
	/* a full socket buffer drops it, as the network would */
	if (send(f->rfd, fr + hl, n - (size_t)hl, MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
	    errno != EINTR && errno != ECONNREFUSED)
		stp_log(&f->t->s->cfg.log, STP_LOG_DEBUG, "transparent udp: send to client: %s",
			strerror(errno));
}

/* The session's reply, then its frames. */
static void on_session(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct flow *f = arg;
	uint8_t buf[16384];

	(void)l;
	(void)fd;
	if ((ev & STP_EV_WRITE) && flush(f) < 0) {
		flow_kill(f);
		return;
	}
	if (!(ev & (STP_EV_READ | STP_EV_ERROR)))
		return;
	for (int k = 0; k < 16; k++) {  /* bounded per event: the loop stays fair */
		ssize_t n = recv(f->pfd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* the session ended: after an answer the flow may start
			 * again; refused before one, it is dropped for a while */
			if (f->state == F_OPEN)
				flow_free(f);
			else
				flow_kill(f);
			return;
		}
		size_t off = 0;
		if (f->state == F_WAIT) {
			struct stp5_msg m;
			size_t k2 = (size_t)n < sizeof(f->reply) - f->rlen ? (size_t)n
									 : sizeof(f->reply) - f->rlen;
			memcpy(f->reply + f->rlen, buf, k2);
			ssize_t r = stp5_reply_get(f->reply, f->rlen + k2, STP_CMD_UDP_TCP, &m);
			if (r == 0 && f->rlen + k2 < sizeof(f->reply)) {
				f->rlen += k2;
				continue;
			}
			if (r <= 0 || m.code != STP_REP_OK) {
				flow_kill(f);  /* the session logs why */
				return;
			}
			off = (size_t)r - f->rlen;
			f->rlen = 0;
			f->state = F_OPEN;
		}
		if (stp_framein_put(&f->in, buf + off, (size_t)n - off, on_frame, f) < 0) {
			flow_kill(f);
			return;
		}
	}
}

/* The client's later datagrams of the flow, on its connected socket. */
static void on_reply_sock(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct flow *f = arg;
	uint8_t buf[65536];

	(void)l;
	(void)ev;
	for (int k = 0; k < READ_BATCH && f->rfd == fd; k++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;  /* EAGAIN, or an ICMP error: the next datagram tells */
		to_session(f, buf, (size_t)n);
	}
}

static struct flow *find(struct tudp *t, const struct sockaddr_storage *c,
			 const struct sockaddr_storage *d)
{
	size_t len = c->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	for (struct flow *f = t->flows; f; f = f->next)
		if (memcmp(&f->client, c, len) == 0 && memcmp(&f->target, d, len) == 0)
			return f;
	return NULL;
}

/* The socket answers leave from: bound to the target (not ours: it needs
 * IP_TRANSPARENT), connected to the client. Returns the fd or -1. */
static int reply_socket(const struct sockaddr_storage *target, const struct sockaddr_storage *client)
{
	socklen_t len = target->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in);
	int one = 1, fd = socket(target->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* several clients' flows to one target share its address and port */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (target->ss_family == AF_INET6
	     ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
	     : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) < 0 ||
	    bind(fd, (const struct sockaddr *)target, len) < 0 ||
	    connect(fd, (const struct sockaddr *)client, len) < 0)
		return stp_close_keep_errno(fd);
	return fd;
}

/* A new flow from client to target; its session started. NULL when none
 * can be made (then the datagram is dropped). */
static struct flow *flow_new(struct tudp *t, const struct listener *L,
			     const struct sockaddr_storage *client,
			     const struct sockaddr_storage *target)
{
	struct stp_server *s = t->s;
	char who[STP_ADDRSTRLEN], to[STP_ADDRSTRLEN];
	int sp[2];
	struct flow *f;

	if (t->nflows >= MAX_FLOWS) {
		if (!t->full_warned)
			stp_log(&s->cfg.log, STP_LOG_WARN, "transparent udp: %d flows: new ones "
				"dropped", MAX_FLOWS);
		t->full_warned = true;
		return NULL;
	}
	t->full_warned = false;
	if (!(f = calloc(1, sizeof(*f))))
		return NULL;
	f->t = t;
	f->client = *client;
	f->target = *target;
	f->rfd = f->pfd = -1;
	f->out.max = QUEUE_MAX;
	f->last = stp_loop_now(s->loop);
	f->next = t->flows;
	if (t->flows)
		t->flows->prev = f;
	t->flows = f;
	t->nflows++;
	if (!stp_timer_armed(&t->sweep))
		stp_timer_start(s->loop, &t->sweep, SWEEP_MS);
	stp_sa_str((const struct sockaddr *)client, who, sizeof(who));
	stp_sa_str((const struct sockaddr *)target, to, sizeof(to));
	if (transp_is_self((const struct sockaddr *)target, (const struct sockaddr *)&L->addr)) {
		stp_log(&s->cfg.log, STP_LOG_INFO, "transparent udp: datagrams from %s to %s were "
			"not redirected (their target is this listener): dropped", who, to);
		flow_kill(f);
		return f;
	}
	if (stp_addr_from_sa(&f->taddr, (const struct sockaddr *)target) < 0 ||
	    (f->rfd = reply_socket(target, client)) < 0 ||
	    stp_loop_watch(s->loop, f->rfd, STP_EV_READ, on_reply_sock, f) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "transparent udp: %s to %s: answer socket: %s",
			who, to, strerror(errno));
		flow_kill(f);
		return f;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "transparent udp: socketpair: %s", strerror(errno));
		flow_kill(f);
		return f;
	}
	f->pfd = sp[0];
	if (stp_loop_watch(s->loop, f->pfd, STP_EV_READ, on_session, f) < 0) {
		close(sp[1]);
		flow_kill(f);
		return f;
	}
	/* the session owns sp[1] from here, also when it refuses; it is
	 * counted for the listener the flow came in by */
	session_open_transparent(s, sp[1], client, &f->taddr, true, (int)(L - s->ls));
	return f;
}

/* The listener of fd among the server's. */
static const struct listener *listener_of(const struct stp_server *s, int fd)
{
	for (int i = 0; i < s->nls; i++)
		if (s->ls[i].fd == fd)
			return &s->ls[i];
	return NULL;
}

/* The original destination in msg's control data, into *out: true, or
 * false when there is none (not a tproxy flow). */
static bool orig_dst(struct msghdr *msg, struct sockaddr_storage *out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t dl = c->cmsg_len - CMSG_LEN(0);
		if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) ||
		      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)))
			continue;
		memset(out, 0, sizeof(*out));
		memcpy(out, CMSG_DATA(c), dl < sizeof(*out) ? dl : sizeof(*out));
		return out->ss_family == AF_INET || out->ss_family == AF_INET6;
	}
	return false;
}

void transp_udp_on_read(struct stp_loop *loop, int fd, unsigned ev, void *arg)
{
	struct stp_server *s = arg;
	const struct listener *L = listener_of(s, fd);
	struct tudp *t = tudp_get(s);
	static uint8_t buf[65536];  /* one loop thread: one buffer */

	(void)loop;
	(void)ev;
	if (!L || !t)
		return;
	for (int k = 0; k < READ_BATCH; k++) {
		struct sockaddr_storage client, target;
		union {
			struct cmsghdr c;
			uint8_t b[CMSG_SPACE(sizeof(struct sockaddr_in6)) + 64];
		} ctl;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = {
			.msg_name = &client, .msg_namelen = sizeof(client),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
		};
		memset(&client, 0, sizeof(client));
		ssize_t n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;  /* EAGAIN; a pending ICMP error is nothing to us */
		if (!orig_dst(&msg, &target))
			continue;
		struct flow *f = find(t, &client, &target);
		if (!f && !(f = flow_new(t, L, &client, &target)))
			continue;
		to_session(f, buf, (size_t)n);
	}
}
