/* cmd_udp.c - UDP ASSOCIATE (X'03'), UDP_BIND (X'D3') and UDP_TCP (X'D7'):
 * a UDP relay per association, run on the server's loop (PROTOCOL.md §1,
 * §3).
 *
 * Sockets of one association:
 *   cfd      the control connection (the session's); its end ends all. In
 *            TCP delivery mode it also carries LEN(2) | UDP header | DATA
 *            frames both ways.
 *   rfd      the relay endpoint the client sends to, bound on the address
 *            of the listener the client came in on (UDP delivery only).
 *   ofd[2]   where datagrams to targets leave from (IPv4, IPv6): made on
 *            demand for UDP ASSOCIATE; for UDP_BIND the external socket,
 *            bound at once, that takes datagrams from any peer.
 *
 * Nothing here ever waits: a datagram that cannot be sent now (socket
 * buffer full, TCP output buffer full, too many names pending) is dropped
 * and counted; the counts go to the debug log when the association ends.
 * Each readiness event reads at most UDP_BATCH datagrams (recvmmsg), so a
 * flood on one association cannot starve the others. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/frameq.h"
#include "server/server_priv.h"

#define UDP_BATCH 32
#define UDP_SLOT 65536               /* largest UDP payload, rounded up */
#define UDP_HDR_MAX 262              /* RSV FRAG ATYP LEN NAME(255) PORT */
#define UDP_PAYLOAD_MAX 65507        /* IPv4's limit; kept for IPv6 too */
#define UDP_PEERS 256                /* targets remembered per association */
#define UDP_NAMES 16                 /* names cached or pending */
#define UDP_NAMES_PENDING 8          /* lookups in flight */
#define UDP_NAME_QUEUE 4             /* datagrams held per pending name */
#define UDP_QUEUE_BYTES 65536        /* bytes held for all pending names */
#define UDP_NAME_TTL_MS 60000
#define UDP_NAME_FAIL_TTL_MS 5000
#define UDP_TCP_OUT_MAX (256 * 1024) /* frames waiting for the client */
#define UDP_TCP_READ_BUDGET (64 * 1024)

/* Why datagrams were dropped; names for the log line. */
enum { D_STRANGER, D_MALFORMED, D_FRAG, D_OVERSIZE, D_UNKNOWN, D_FULL, D_RESOLVE,
       D_FAMILY, D_SENDERR, D_DENIED, D_NCOUNT };
static const char *const drop_names[D_NCOUNT] = {
	"stranger", "malformed", "frag", "oversize", "unknown-sender", "full",
	"resolve", "family", "send-error", "denied",
};

/* A numeric endpoint, IPv4-mapped IPv6 folded to IPv4, for comparisons. */
struct ep {
	uint8_t fam;       /* 4 or 6; 0 = none */
	uint8_t a[16];
	uint16_t port;
};

struct peer {
	struct ep ep;
	int next;          /* bucket chain, -1 = end */
	bool used;
};

struct qdgram {
	struct qdgram *next;
	uint16_t port;
	size_t len;
	uint8_t data[];
};

struct udp_assoc;
struct name_ent {
	struct udp_assoc *ua;
	enum { N_FREE, N_PENDING, N_OK, N_FAILED } st;
	char name[256];
	struct sockaddr_storage sa;     /* N_OK: the address (port 0) */
	uint64_t expires;
	uint64_t used;                  /* for eviction */
	struct stp_lookup *q;
	struct qdgram *head, *tail;
	int nq;
};

struct udp_assoc {
	struct session *ss;
	bool tcp;                       /* datagrams on the control connection */
	bool bind;                      /* UDP_BIND: any peer may send */
	int rfd;
	int ofd[2];
	struct ep client;               /* who may use rfd; port 0 = not fixed yet */
	struct sockaddr_storage client_sa;
	socklen_t client_salen;         /* 0 until known */
	uint64_t last;                  /* loop time of the last datagram */
	uint64_t drops[D_NCOUNT];
	uint64_t dgrams_up, dgrams_down;
	/* targets the client has sent to: hash chains over a fixed pool,
	 * the oldest entry reused when full */
	struct peer peers[UDP_PEERS];
	int buckets[UDP_PEERS];
	int npeers, peer_ring;
	struct name_ent names[UDP_NAMES];
	int npending;
	size_t queued_bytes;
	/* TCP delivery */
	struct stp_framein in;           /* frames from the client */
	struct stp_frameq oq;            /* TCP delivery: frames for the client */
};

/* One per server loop while any association lives: the receive batch.
 * Slots leave UDP_HDR_MAX bytes in front so a header can be put before
 * a datagram from a target without a copy. */
struct udp_scratch {
	long users;
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t buf[UDP_BATCH][UDP_HDR_MAX + UDP_SLOT];
};

static void assoc_free(struct session *ss);
static void assoc_on_client(struct session *ss, unsigned ev);
static void assoc_on_timer(struct session *ss);

static const struct cmd_ops udp_ops = {
	.on_client = assoc_on_client,
	.on_timer = assoc_on_timer,
	.free = assoc_free,
};

/* --- endpoints and the peer set ------------------------------------------ */

static void ep_from_sa(struct ep *p, const struct sockaddr *sa)
{
	struct stp_addr a;

	memset(p, 0, sizeof(*p));
	if (stp_addr_from_sa(&a, sa) < 0)
		return;
	p->port = a.port;
	if (a.atyp == STP_ATYP_IPV4) {
		p->fam = 4;
		memcpy(p->a, a.u.v4, 4);
	} else {
		p->fam = 6;
		memcpy(p->a, a.u.v6, 16);
	}
}

static bool ep_same_host(const struct ep *x, const struct ep *y)
{
	return x->fam == y->fam && memcmp(x->a, y->a, x->fam == 4 ? 4 : 16) == 0;
}

static bool ep_zero_host(const struct ep *p)
{
	static const uint8_t z[16];

	return p->fam == 0 || memcmp(p->a, z, p->fam == 4 ? 4 : 16) == 0;
}

/* A sockaddr for p usable on a socket of family fam (IPv4 mapped into
 * IPv6 for an AF_INET6 socket). Returns its length, 0 if impossible. */
static socklen_t ep_to_sa(const struct ep *p, int fam, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (p->fam != 4)
			return 0;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p->port);
		memcpy(&s4->sin_addr, p->a, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(p->port);
	if (p->fam == 4) {
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], p->a, 4);
	} else {
		memcpy(&s6->sin6_addr, p->a, 16);
	}
	return sizeof(*s6);
}

static unsigned ep_hash(const struct ep *p)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < (p->fam == 4 ? 4 : 16); i++)
		h = (h ^ p->a[i]) * 16777619u;
	h = (h ^ (p->port & 0xff)) * 16777619u;
	h = (h ^ (p->port >> 8)) * 16777619u;
	return h % UDP_PEERS;
}

static bool ep_equal(const struct ep *x, const struct ep *y)
{
	return ep_same_host(x, y) && x->port == y->port;
}

static bool peer_known(const struct udp_assoc *ua, const struct ep *p)
{
	for (int i = ua->buckets[ep_hash(p)]; i >= 0; i = ua->peers[i].next)
		if (ep_equal(&ua->peers[i].ep, p))
			return true;
	return false;
}

static void peer_unlink(struct udp_assoc *ua, int idx)
{
	int *link = &ua->buckets[ep_hash(&ua->peers[idx].ep)];

	while (*link >= 0 && *link != idx)
		link = &ua->peers[*link].next;
	if (*link == idx)
		*link = ua->peers[idx].next;
	ua->peers[idx].used = false;
}

/* Remembers p as a target the client sent to; the oldest goes when full. */
static void peer_add(struct udp_assoc *ua, const struct ep *p)
{
	int idx;

	if (peer_known(ua, p))
		return;
	if (ua->npeers < UDP_PEERS) {
		idx = ua->npeers++;
	} else {
		idx = ua->peer_ring;
		ua->peer_ring = (ua->peer_ring + 1) % UDP_PEERS;
		peer_unlink(ua, idx);
	}
	unsigned h = ep_hash(p);
	ua->peers[idx].ep = *p;
	ua->peers[idx].used = true;
	ua->peers[idx].next = ua->buckets[h];
	ua->buckets[h] = idx;
}

/* --- sockets -------------------------------------------------------------- */

static void on_relay(struct stp_loop *l, int fd, unsigned ev, void *arg);
static void on_out(struct stp_loop *l, int fd, unsigned ev, void *arg);

/* A non-blocking UDP socket bound to sa (port as given), watched for
 * reading with cb. Returns the fd, or -1 with errno. */
static int udp_socket(struct udp_assoc *ua, const struct sockaddr *sa, socklen_t len,
		      bool dual, stp_fd_cb *cb)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int off = 0, err;

	if (fd < 0)
		return -1;
	if (dual && sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
		goto fail;
	if (bind(fd, sa, len) < 0)
		goto fail;
	if (stp_loop_watch(ua->ss->srv->loop, fd, STP_EV_READ, cb, ua) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static void close_watched(struct stp_loop *l, int *fd)
{
	if (*fd < 0)
		return;
	stp_loop_unwatch(l, *fd);
	close(*fd);
	*fd = -1;
}

/* The socket datagrams to a target of family fam leave from (made on
 * demand for UDP ASSOCIATE). Returns the fd or -1 (counted). */
static int out_socket(struct udp_assoc *ua, int fam)
{
	int i = fam == AF_INET ? 0 : 1;

	if (ua->bind) {
		/* one external socket: a dual-stack IPv6 one takes IPv4 too */
		if (ua->ofd[i] >= 0)
			return ua->ofd[i];
		return fam == AF_INET ? ua->ofd[1] : -1;
	}
	if (ua->ofd[i] < 0) {
		struct sockaddr_storage any;
		memset(&any, 0, sizeof(any));
		any.ss_family = (sa_family_t)fam;
		ua->ofd[i] = udp_socket(ua, (struct sockaddr *)&any,
					fam == AF_INET ? sizeof(struct sockaddr_in)
						       : sizeof(struct sockaddr_in6), false, on_out);
		if (ua->ofd[i] < 0)
			stp_log(&ua->ss->srv->cfg.log, STP_LOG_DEBUG, "udp socket: %s",
				strerror(errno));
	}
	return ua->ofd[i];
}

/* --- towards targets ------------------------------------------------------- */

/* Sends one payload to target sa (port set). Returns nothing: failures
 * are counted. */
static void send_target(struct udp_assoc *ua, const struct sockaddr_storage *sa,
			const char *name, const uint8_t *data, size_t len)
{
	struct ep p;
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd;

	if (len > UDP_PAYLOAD_MAX) {
		ua->drops[D_OVERSIZE]++;
		return;
	}
	ep_from_sa(&p, (const struct sockaddr *)sa);
	/* the rules judge each new target; one sent to before is known good
	 * (the peer table is the cache of allowed decisions) */
	if (!peer_known(ua, &p) &&
	    !session_permit_target(ua->ss, (const struct sockaddr *)sa, name, p.port)) {
		ua->drops[D_DENIED]++;
		return;
	}
	fd = out_socket(ua, p.fam == 4 ? AF_INET : AF_INET6);
	if (fd < 0) {
		ua->drops[ua->bind ? D_FAMILY : D_SENDERR]++;
		return;
	}
	struct sockaddr_storage fsa;
	socklen_t fl = sizeof(fsa);
	if (getsockname(fd, (struct sockaddr *)&fsa, &fl) < 0) {
		ua->drops[D_SENDERR]++;
		return;
	}
	tolen = ep_to_sa(&p, fsa.ss_family, &to);
	if (!tolen) {
		ua->drops[D_FAMILY]++;
		return;
	}
	for (;;) {
		ssize_t n = sendto(fd, data, len, MSG_NOSIGNAL, (struct sockaddr *)&to, tolen);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		ua->drops[errno == EAGAIN || errno == ENOBUFS ? D_FULL
			  : errno == EMSGSIZE ? D_OVERSIZE : D_SENDERR]++;
		return;
	}
	peer_add(ua, &p);
	ua->ss->bytes_up += len;
	ua->dgrams_up++;
}

static void free_queue(struct udp_assoc *ua, struct name_ent *ne)
{
	while (ne->head) {
		struct qdgram *q = ne->head;
		ne->head = q->next;
		ua->queued_bytes -= q->len;
		free(q);
	}
	ne->tail = NULL;
	ne->nq = 0;
}

static void on_lookup(void *arg, int status, const struct ares_addrinfo *ai)
{
	struct name_ent *ne = arg;
	struct udp_assoc *ua = ne->ua;
	const struct ares_addrinfo_node *pick = NULL;
	uint64_t now = stp_loop_now(ua->ss->srv->loop);

	ne->q = NULL;
	ua->npending--;
	/* IPv4 first: UDP has no Happy Eyeballs, and IPv4 is more often routed */
	for (const struct ares_addrinfo_node *n = ai && status == ARES_SUCCESS ? ai->nodes : NULL;
	     n; n = n->ai_next) {
		if (n->ai_family == AF_INET) {
			pick = n;
			break;
		}
		if (n->ai_family == AF_INET6 && !pick)
			pick = n;
	}
	if (!pick || pick->ai_addrlen > sizeof(ne->sa)) {
		ne->st = N_FAILED;
		ne->expires = now + UDP_NAME_FAIL_TTL_MS;
		ua->drops[D_RESOLVE] += (uint64_t)ne->nq;
		free_queue(ua, ne);
		return;
	}
	memset(&ne->sa, 0, sizeof(ne->sa));
	memcpy(&ne->sa, pick->ai_addr, pick->ai_addrlen);
	ne->st = N_OK;
	ne->expires = now + UDP_NAME_TTL_MS;
	while (ne->head) {
		struct qdgram *q = ne->head;
		struct sockaddr_storage to = ne->sa;
		ne->head = q->next;
		ne->nq--;
		ua->queued_bytes -= q->len;
		if (to.ss_family == AF_INET)
			((struct sockaddr_in *)&to)->sin_port = htons(q->port);
		else
			((struct sockaddr_in6 *)&to)->sin6_port = htons(q->port);
		send_target(ua, &to, ne->name, q->data, q->len);
		free(q);
	}
	ne->tail = NULL;
}

/* Finds or makes the cache entry for name; NULL when the table is full
 * of pending lookups. */
static struct name_ent *name_slot(struct udp_assoc *ua, const char *name, uint64_t now)
{
	struct name_ent *victim = NULL;

	for (int i = 0; i < UDP_NAMES; i++) {
		struct name_ent *ne = &ua->names[i];
		if (ne->st != N_FREE && strcmp(ne->name, name) == 0) {
			if ((ne->st == N_OK || ne->st == N_FAILED) && now >= ne->expires)
				ne->st = N_FREE;  /* stale: look it up again */
			else
				return ne;
		}
	}
	for (int i = 0; i < UDP_NAMES; i++) {
		struct name_ent *ne = &ua->names[i];
		if (ne->st == N_FREE)
			return ne;
		if (ne->st != N_PENDING && (!victim || ne->used < victim->used))
			victim = ne;
	}
	if (victim)
		victim->st = N_FREE;
	return victim;
}

/* A datagram for a name: sent at once when cached, else held (a bounded
 * few) while c-ares looks it up. */
static void send_name(struct udp_assoc *ua, const struct stp_addr *dst,
		      const uint8_t *data, size_t len)
{
	struct stp_server *s = ua->ss->srv;
	uint64_t now = stp_loop_now(s->loop);
	struct name_ent *ne = name_slot(ua, dst->u.name, now);

	if (!ne) {
		ua->drops[D_RESOLVE]++;
		return;
	}
	ne->used = now;
	if (ne->st == N_OK) {
		struct sockaddr_storage to = ne->sa;
		if (to.ss_family == AF_INET)
			((struct sockaddr_in *)&to)->sin_port = htons(dst->port);
		else
			((struct sockaddr_in6 *)&to)->sin6_port = htons(dst->port);
		send_target(ua, &to, dst->u.name, data, len);
		return;
	}
	if (ne->st == N_FAILED || len > UDP_PAYLOAD_MAX) {
		ua->drops[ne->st == N_FAILED ? D_RESOLVE : D_OVERSIZE]++;
		return;
	}
	if (ne->st == N_FREE && ua->npending >= UDP_NAMES_PENDING) {
		ua->drops[D_RESOLVE]++;
		return;
	}
	if (ne->nq >= UDP_NAME_QUEUE || ua->queued_bytes + len > UDP_QUEUE_BYTES) {
		ua->drops[D_RESOLVE]++;
		return;
	}
	struct qdgram *q = malloc(sizeof(*q) + len);
	if (!q) {
		ua->drops[D_RESOLVE]++;
		return;
	}
	q->next = NULL;
	q->port = dst->port;
	q->len = len;
	memcpy(q->data, data, len);
	if (ne->tail)
		ne->tail->next = q;
	else
		ne->head = q;
	ne->tail = q;
	ne->nq++;
	ua->queued_bytes += len;
	if (ne->st == N_PENDING)
		return;
	ne->st = N_PENDING;
	ne->ua = ua;
	memcpy(ne->name, dst->u.name, (size_t)dst->namelen + 1);
	ua->npending++;
	/* the answer may come before this returns (then ne->q stays NULL) */
	struct stp_lookup *lq = stp_lookup_start(s->res, ne->name, AF_UNSPEC, on_lookup, ne);
	if (lq && ne->st == N_PENDING)
		ne->q = lq;
}

/* One datagram from the client: RSV | FRAG | DST | DATA. */
static void from_client(struct udp_assoc *ua, const uint8_t *b, size_t n)
{
	struct stp_udp_hdr h;
	ssize_t k = stp_udp_hdr_get(b, n, &h);

	ua->last = stp_loop_now(ua->ss->srv->loop);
	if (k <= 0 || b[0] != 0 || b[1] != 0) {
		ua->drops[D_MALFORMED]++;
		return;
	}
	if (h.frag != 0) {
		ua->drops[D_FRAG]++;
		return;
	}
	if (h.addr.port == 0) {
		ua->drops[D_MALFORMED]++;
		return;
	}
	if (h.addr.atyp == STP_ATYP_NAME) {
		send_name(ua, &h.addr, b + k, n - (size_t)k);
		return;
	}
	struct sockaddr_storage to;
	if (!stp_addr_to_sa(&h.addr, &to)) {
		ua->drops[D_MALFORMED]++;
		return;
	}
	send_target(ua, &to, NULL, b + k, n - (size_t)k);
}

/* --- towards the client ---------------------------------------------------- */

static int flush_tcp(struct udp_assoc *ua);

/* Delivers data (len bytes, with UDP_HDR_MAX bytes of room before it)
 * from sender sa to the client. */
static void to_client(struct udp_assoc *ua, const struct sockaddr *sa, uint8_t *data,
		      size_t len)
{
	struct stp_addr from;
	uint8_t hdr[UDP_HDR_MAX];
	size_t hl;

	ua->last = stp_loop_now(ua->ss->srv->loop);
	if (stp_addr_from_sa(&from, sa) < 0 ||
	    !(hl = stp_udp_hdr_put(hdr, sizeof(hdr), &from))) {
		ua->drops[D_MALFORMED]++;
		return;
	}
	uint8_t *d = data - hl;
	memcpy(d, hdr, hl);
	if (ua->tcp) {
		if (hl + len > 65535) {
			ua->drops[D_OVERSIZE]++;
			return;
		}
		if (!stp_frameq_push(&ua->oq, d, hl + len)) {
			ua->drops[D_FULL]++;  /* the client reads too slowly */
			return;
		}
		ua->ss->bytes_down += len;
		ua->dgrams_down++;
		return;
	}
	if (!ua->client_salen) {
		/* the client has not been heard from yet: nowhere to send */
		ua->drops[D_UNKNOWN]++;
		return;
	}
	if (hl + len > UDP_PAYLOAD_MAX) {
		ua->drops[D_OVERSIZE]++;
		return;
	}
	for (;;) {
		ssize_t n = sendto(ua->rfd, d, hl + len, MSG_NOSIGNAL,
				   (struct sockaddr *)&ua->client_sa, ua->client_salen);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		ua->drops[errno == EAGAIN || errno == ENOBUFS ? D_FULL
			  : errno == EMSGSIZE ? D_OVERSIZE : D_SENDERR]++;
		return;
	}
	ua->ss->bytes_down += len;
	ua->dgrams_down++;
}

/* --- receiving ------------------------------------------------------------- */

/* Reads up to UDP_BATCH datagrams from fd into the scratch. Returns how
 * many (0: none or an error, which the next event retries). */
static int recv_batch(struct udp_scratch *sc, int fd)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		sc->iov[i].iov_base = sc->buf[i] + UDP_HDR_MAX;
		sc->iov[i].iov_len = UDP_SLOT;
		memset(&sc->msgs[i].msg_hdr, 0, sizeof(sc->msgs[i].msg_hdr));
		sc->msgs[i].msg_hdr.msg_iov = &sc->iov[i];
		sc->msgs[i].msg_hdr.msg_iovlen = 1;
		sc->msgs[i].msg_hdr.msg_name = &sc->from[i];
		sc->msgs[i].msg_hdr.msg_namelen = sizeof(sc->from[i]);
	}
	for (;;) {
		int n = recvmmsg(fd, sc->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? 0 : n;
	}
}

static struct udp_scratch *scratch(struct udp_assoc *ua)
{
	return ua->ss->srv->udp;
}

/* The relay endpoint: datagrams from the client. */
static void on_relay(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct udp_assoc *ua = arg;
	struct udp_scratch *sc = scratch(ua);
	int n;

	(void)l;
	(void)ev;
	n = recv_batch(sc, fd);
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &sc->msgs[i].msg_hdr;
		struct ep src;
		ep_from_sa(&src, (struct sockaddr *)&sc->from[i]);
		if (!ep_same_host(&src, &ua->client) ||
		    (ua->client.port && src.port != ua->client.port)) {
			ua->drops[D_STRANGER]++;
			continue;
		}
		if (!ua->client_salen) {
			/* the first datagram from the client's address fixes its port */
			ua->client.port = src.port;
			ua->client_sa = sc->from[i];
			ua->client_salen = mh->msg_namelen;
		}
		if (mh->msg_flags & MSG_TRUNC) {
			ua->drops[D_OVERSIZE]++;
			continue;
		}
		from_client(ua, sc->buf[i] + UDP_HDR_MAX, sc->msgs[i].msg_len);
	}
}

/* An outgoing (or, for UDP_BIND, external) socket: datagrams from targets. */
static void on_out(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct udp_assoc *ua = arg;
	struct udp_scratch *sc = scratch(ua);
	int n;

	(void)l;
	(void)ev;
	n = recv_batch(sc, fd);
	for (int i = 0; i < n; i++) {
		struct ep src;
		ep_from_sa(&src, (struct sockaddr *)&sc->from[i]);
		if (!ua->bind && !peer_known(ua, &src)) {
			ua->drops[D_UNKNOWN]++;
			continue;
		}
		if (sc->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			ua->drops[D_OVERSIZE]++;
			continue;
		}
		to_client(ua, (struct sockaddr *)&sc->from[i], sc->buf[i] + UDP_HDR_MAX,
			  sc->msgs[i].msg_len);
	}
	if (ua->tcp && ua->oq.len && flush_tcp(ua) < 0) {
		ua->ss->result = "client gone";
		session_free(ua->ss);
	}
}

/* --- the control connection ---------------------------------------------------- */

/* Writes queued frames. Returns 0, or -1 when the client is gone. Leaves
 * the interest mask right: read always, write while frames wait. */
static int flush_tcp(struct udp_assoc *ua)
{
	return stp_frameq_flush(&ua->oq, ua->ss);
}

/* A frame from the client: LEN(2) | UDP header | DATA, without LEN. */
static void frame_in(void *arg, const uint8_t *f, size_t n)
{
	from_client(arg, f, n);
}

static void assoc_on_client(struct session *ss, unsigned ev)
{
	struct udp_assoc *ua = ss->cst;

	if (ev & STP_EV_READ) {
		if (stp_control_read(ss, ua->tcp ? &ua->in : NULL, UDP_TCP_READ_BUDGET,
				     frame_in, ua) < 0) {
			session_free(ss);
			return;
		}
	}
	if (ua->tcp) {
		if (flush_tcp(ua) < 0) {
			ss->result = "client gone";
			session_free(ss);
		}
	} else if (ss->outlen == 0) {
		stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	}
}

static void arm_idle(struct udp_assoc *ua)
{
	session_idle_check(ua->ss, ua->last);
}

static void assoc_on_timer(struct session *ss)
{
	struct udp_assoc *ua = ss->cst;

	session_idle_check(ss, ua->last);
}

static void assoc_free(struct session *ss)
{
	struct udp_assoc *ua = ss->cst;
	struct stp_server *s = ss->srv;
	char client[STP_ADDRSTRLEN], drops[300];
	size_t dl = 0;

	if (!ua)
		return;
	drops[0] = '\0';
	for (int i = 0; i < D_NCOUNT; i++) {
		int n = snprintf(drops + dl, sizeof(drops) - dl, " %s=%llu", drop_names[i],
				 (unsigned long long)ua->drops[i]);
		if (n < 0 || (size_t)n >= sizeof(drops) - dl)
			break;
		dl += (size_t)n;
	}
	s->stats.udp_up += ua->dgrams_up;  /* --stats */
	s->stats.udp_down += ua->dgrams_down;
	for (int i = 0; i < D_NCOUNT; i++)
		s->stats.udp_dropped += ua->drops[i];
	stp_log(&s->cfg.log, STP_LOG_DEBUG, "udp association client=%s datagrams up=%llu down=%llu dropped:%s",
		stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)),
		(unsigned long long)ua->dgrams_up, (unsigned long long)ua->dgrams_down, drops);
	for (int i = 0; i < UDP_NAMES; i++) {
		struct name_ent *ne = &ua->names[i];
		if (ne->st == N_PENDING)
			stp_lookup_cancel(ne->q);
		free_queue(ua, ne);
	}
	close_watched(s->loop, &ua->rfd);
	close_watched(s->loop, &ua->ofd[0]);
	close_watched(s->loop, &ua->ofd[1]);
	stp_framein_free(&ua->in);
	stp_frameq_free(&ua->oq);
	free(ua);
	ss->cst = NULL;
	struct udp_scratch *sc = s->udp;
	if (sc && --sc->users == 0) {
		free(sc);
		s->udp = NULL;
	}
}

/* --- the request ------------------------------------------------------------- */

/* Binds the relay endpoint (UDP delivery) and, for UDP_BIND, the external
 * socket. Fills bnd (the relay endpoint) and ext. Returns 0 or a reply code. */
static uint8_t setup_sockets(struct udp_assoc *ua, struct stp_addr *bnd, struct stp_addr *ext)
{
	struct session *ss = ua->ss;
	struct sockaddr_storage local, got;
	socklen_t ll = sizeof(local), gl = sizeof(got);

	memset(bnd, 0, sizeof(*bnd));
	bnd->atyp = STP_ATYP_IPV4;
	/* the address the client reached us on: reachable by it, never a wildcard */
	if (getsockname(ss->cfd, (struct sockaddr *)&local, &ll) < 0 ||
	    (local.ss_family != AF_INET && local.ss_family != AF_INET6))
		return STP_REP_FAIL;
	if (!ua->tcp) {
		struct sockaddr_storage sa = local;
		if (sa.ss_family == AF_INET)
			((struct sockaddr_in *)&sa)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&sa)->sin6_port = 0;
		ua->rfd = udp_socket(ua, (struct sockaddr *)&sa, ll, false, on_relay);
		if (ua->rfd < 0 || getsockname(ua->rfd, (struct sockaddr *)&got, &gl) < 0 ||
		    stp_addr_from_sa(bnd, (struct sockaddr *)&got) < 0)
			return stp_rep_from_errno(errno);
	}
	if (ua->bind) {
		struct sockaddr_storage any;
		int i = local.ss_family == AF_INET ? 0 : 1;
		memset(&any, 0, sizeof(any));
		any.ss_family = local.ss_family;
		gl = sizeof(got);
		ua->ofd[i] = udp_socket(ua, (struct sockaddr *)&any,
					i ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
					true, on_out);
		if (ua->ofd[i] < 0 || getsockname(ua->ofd[i], (struct sockaddr *)&got, &gl) < 0 ||
		    stp_addr_from_sa(ext, (struct sockaddr *)&local) < 0)
			return stp_rep_from_errno(errno);
		ext->port = stp_sa_port((struct sockaddr *)&got);
	}
	return STP_REP_OK;
}

/* UDP ASSOCIATE, UDP_BIND, UDP_TCP: set up, reply, then run as S_CMD. */
void cmd_udp(struct session *ss, const struct stp5_msg *m)
{
	struct stp_server *s = ss->srv;
	struct udp_assoc *ua;
	struct stp_addr bnd, ext;
	uint8_t b[300], rep;
	size_t n;

	if (!s->udp) {
		s->udp = calloc(1, sizeof(struct udp_scratch));
		if (!s->udp) {
			session_reply_error(ss, STP_REP_FAIL);
			return;
		}
	}
	ua = calloc(1, sizeof(*ua));
	if (!ua) {
		if (((struct udp_scratch *)s->udp)->users == 0) {
			free(s->udp);
			s->udp = NULL;
		}
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	((struct udp_scratch *)s->udp)->users++;
	ua->ss = ss;
	ua->rfd = ua->ofd[0] = ua->ofd[1] = -1;
	for (int i = 0; i < UDP_PEERS; i++)
		ua->buckets[i] = -1;
	ua->bind = ss->cmd == STP_CMD_UDP_BIND;
	ua->oq.max = UDP_TCP_OUT_MAX;
	ua->tcp = ss->cmd == STP_CMD_UDP_TCP ||
		  (ua->bind && m->has_opts && STP_OPT_HAS(&m->opts, STP_OPT_TCP_DELIVERY));
	ua->last = stp_loop_now(s->loop);
	/* from here on the session owns ua: its free releases everything */
	ss->cst = ua;
	ss->ops = &udp_ops;
	ep_from_sa(&ua->client, (const struct sockaddr *)&ss->peer);
	ua->client.port = 0;
	if (!ua->tcp && ss->dst.atyp != STP_ATYP_NAME) {
		/* DST: where the client will send from, as far as it knows */
		struct sockaddr_storage dsa;
		struct ep d;
		if (stp_addr_to_sa(&ss->dst, &dsa)) {
			ep_from_sa(&d, (struct sockaddr *)&dsa);
			if (!ep_zero_host(&d)) {
				ua->client = d;
				ua->client.port = 0;
			}
			ua->client.port = d.port;
		}
	}
	rep = setup_sockets(ua, &bnd, &ext);
	if (rep != STP_REP_OK) {
		session_reply_error(ss, rep);
		return;
	}
	if (ua->client.port) {
		/* known in advance: datagrams for it can be sent before it speaks */
		struct sockaddr_storage rsa;
		socklen_t rl = sizeof(rsa);
		if (getsockname(ua->rfd, (struct sockaddr *)&rsa, &rl) == 0)
			ua->client_salen = ep_to_sa(&ua->client, rsa.ss_family, &ua->client_sa);
	}
	if (ua->tcp) {
		memset(&bnd, 0, sizeof(bnd));
		bnd.atyp = STP_ATYP_IPV4;
	}
	n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, NULL);
	if (n && ua->bind) {
		size_t n2 = stp5_reply_put(b + n, sizeof(b) - n, ss->cmd, STP_REP_OK, &ext, NULL);
		n = n2 ? n + n2 : 0;
	}
	if (n == 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ss->rep = STP_REP_OK;
	ss->result = "ok";
	ss->state = S_CMD;
	if (session_send(ss, b, n) < 0) {
		ss->result = "client gone before reply";
		session_free(ss);
		return;
	}
	stp_timer_stop(s->loop, &ss->timer);
	arm_idle(ua);
	/* frames the client sent right after its request */
	if (ua->tcp && ss->inlen) {
		size_t n = ss->inlen;
		ss->inlen = 0;
		if (stp_framein_put(&ua->in, ss->in, n, frame_in, ua) < 0) {
			session_free(ss);
			return;
		}
	}
	if (ua->tcp && flush_tcp(ua) < 0)
		session_free(ss);
}
