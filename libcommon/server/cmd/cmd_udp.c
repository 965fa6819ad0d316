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
 * flood on one association cannot starve the others, and what the batch
 * sends on goes out together at its end (dgtx.h: sendmmsg, UDP GSO).
 *
 * The client's side (cfd, rfd, the reply, delivery to the client) is
 * dgsess.c's, shared with MCAST; the targets are this file's. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/cmd/dgsess.h"
#include "server/egress.h"
#include "server/nat.h"
#include "server/upudp.h"

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
_Static_assert(D_NCOUNT <= DGSESS_DROPS_MAX, "dgsess counts the drops");
_Static_assert(UDP_BATCH <= DGTX_MAX, "a batch's sends fit the send queue");

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
	struct dgsess d;                /* first: the client's side, ss->cst */
	bool bind;                      /* UDP_BIND: any peer may send */
	int ofd[2];
	int nsock;                      /* rfd and ofd opened (for the fd budget) */
	struct ep client;               /* who may use d.rfd; port 0 = not fixed yet */
	/* targets the client has sent to: hash chains over a fixed pool,
	 * the oldest entry reused when full */
	struct peer peers[UDP_PEERS];
	int buckets[UDP_PEERS];
	int npeers, peer_ring;
	struct name_ent names[UDP_NAMES];
	int npending;
	size_t queued_bytes;
	struct upudp *hop;              /* through a SOCKS5 upstream's relay
					 * (upudp.h); NULL: to targets from here */
};

/* One per server loop while any association lives: the receive batch.
 * Slots leave UDP_HDR_MAX bytes in front so a header can be put before
 * a datagram from a target without a copy. */
struct udp_scratch {
	struct dgsess_shared sh;        /* first: s->udp lives while it has users */
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	struct dgtx tx;                 /* the batch's sends, pointing into buf */
	uint8_t buf[UDP_BATCH][UDP_HDR_MAX + UDP_SLOT];
};

static void assoc_release(struct dgsess *d);
static void from_client(void *arg, const uint8_t *b, size_t n);

static const struct dgsess_kind udp_kind = {
	.name = "udp",
	.release = assoc_release,
	.size = sizeof(struct udp_assoc),
	.shared_size = sizeof(struct udp_scratch),
	.drop_names = drop_names,
	.ndrops = D_NCOUNT,
	.drop = {
		[DG_MALFORMED] = D_MALFORMED, [DG_FRAG] = D_FRAG, [DG_OVERSIZE] = D_OVERSIZE,
		[DG_UNKNOWN] = D_UNKNOWN, [DG_FULL] = D_FULL, [DG_SENDERR] = D_SENDERR,
	},
	.out_max = UDP_TCP_OUT_MAX,
	.read_budget = UDP_TCP_READ_BUDGET,
	.from_client = from_client,
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

static void on_out(struct stp_loop *l, int fd, unsigned ev, void *arg);

/* The session's two descriptors cover the control connection and one
 * socket (the relay endpoint, or with TCP delivery the first socket to
 * targets); each further one is taken from the fd budget, and goes back
 * with the session. Returns true, or false with errno EMFILE. */
static bool sock_budget(struct udp_assoc *ua)
{
	if (ua->nsock >= 1 && !session_fds_take(ua->d.ss, 1, "a UDP socket")) {
		errno = EMFILE;
		return false;
	}
	ua->nsock++;
	return true;
}

/* A socket sock_budget() counted was not made after all. */
static void sock_unbudget(struct udp_assoc *ua)
{
	if (--ua->nsock >= 1)
		session_fds_give(ua->d.ss, 1);
}

/* What a socket of udp_socket is for. */
enum { US_OUT, US_EXT };

/* A non-blocking UDP socket, watched for reading with cb, within the fd
 * budget: US_OUT (to targets) bound to the session's egress (egress.h),
 * else to sa; US_EXT (UDP_BIND's, open to peers) bound to sa with a port
 * of --udp-ports (nat.h). Returns the fd, or -1 with errno (EMFILE: the
 * budget is spent; EADDRINUSE: --udp-ports is exhausted). */
static int udp_socket(struct udp_assoc *ua, struct sockaddr_storage *sa, socklen_t len,
		      bool dual, int kind, stp_fd_cb *cb)
{
	int bound = 0;
	int fd, off = 0, err;

	if (!sock_budget(ua))
		return -1;
	fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		sock_unbudget(ua);
		errno = err;
		return -1;
	}
	if (dual && sa->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
		goto fail;
	if (kind == US_OUT && (bound = egress_prepare(ua->d.ss, fd, sa->ss_family, false)) < 0)
		goto fail;
	/* UDP_BIND's socket: its address is ext_socket's choice, its interface --egress-interface */
	if (kind == US_EXT && egress_iface(ua->d.ss, fd) < 0)
		goto fail;
	if (!bound && (kind == US_EXT ? nat_udp_bind(ua->d.ss, fd, sa, len)
				     : bind(fd, (struct sockaddr *)sa, len)) < 0)
		goto fail;
	if (stp_loop_watch(ua->d.ss->srv->loop, fd, STP_EV_READ, cb, ua) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	sock_unbudget(ua);
	errno = err;
	return -1;
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
		ua->ofd[i] = udp_socket(ua, &any,
					fam == AF_INET ? sizeof(struct sockaddr_in)
						       : sizeof(struct sockaddr_in6), false, US_OUT,
					on_out);
		if (ua->ofd[i] < 0)
			stp_log(&ua->d.ss->srv->cfg.log, STP_LOG_DEBUG, "udp socket: %s",
				strerror(errno));
	}
	return ua->ofd[i];
}

/* --- towards targets ------------------------------------------------------- */

/* Sends one payload to target sa (port set): with the batch's sends when
 * the target is known, else at once, so that the rules judge a new target
 * once and it is known (peer_add) for the next datagram; now: at once in
 * any case (data does not outlive the call). Returns nothing: failures are
 * counted. */
static void send_target(struct udp_assoc *ua, const struct sockaddr_storage *sa,
			const char *name, const uint8_t *data, size_t len, bool now)
{
	struct ep p;
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd;

	if (len > UDP_PAYLOAD_MAX) {
		ua->d.drops[D_OVERSIZE]++;
		return;
	}
	ep_from_sa(&p, (const struct sockaddr *)sa);
	/* the rules judge each new target; one sent to before is known good
	 * (the peer table is the cache of allowed decisions) */
	bool known = peer_known(ua, &p);
	if (!known &&
	    !session_permit_target(ua->d.ss, (const struct sockaddr *)sa, name, p.port)) {
		ua->d.drops[D_DENIED]++;
		return;
	}
	fd = out_socket(ua, p.fam == 4 ? AF_INET : AF_INET6);
	if (fd < 0) {
		ua->d.drops[ua->bind ? D_FAMILY : D_SENDERR]++;
		return;
	}
	/* ofd[0] is always an IPv4 socket, ofd[1] an IPv6 one (UDP_BIND's
	 * dual-stack socket takes IPv4 too) */
	tolen = ep_to_sa(&p, fd == ua->ofd[0] ? AF_INET : AF_INET6, &to);
	if (!tolen) {
		ua->d.drops[D_FAMILY]++;
		return;
	}
	if (!dgsess_send(&ua->d, fd, data, len, (struct sockaddr *)&to, tolen,
			 DGS_UP | (known && !now ? 0 : DGS_NOW), len))
		return;
	if (!known)
		peer_add(ua, &p);
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
	uint64_t now = stp_loop_now(ua->d.ss->srv->loop);

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
		ua->d.drops[D_RESOLVE] += (uint64_t)ne->nq;
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
		stp_sa_set_port(&to, q->port);
		send_target(ua, &to, ne->name, q->data, q->len, true);
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
	struct stp_server *s = ua->d.ss->srv;
	uint64_t now = stp_loop_now(s->loop);
	struct name_ent *ne = name_slot(ua, dst->u.name, now);

	if (!ne) {
		ua->d.drops[D_RESOLVE]++;
		return;
	}
	ne->used = now;
	if (ne->st == N_OK) {
		struct sockaddr_storage to = ne->sa;
		stp_sa_set_port(&to, dst->port);
		send_target(ua, &to, dst->u.name, data, len, false);
		return;
	}
	if (ne->st == N_FAILED || len > UDP_PAYLOAD_MAX) {
		ua->d.drops[ne->st == N_FAILED ? D_RESOLVE : D_OVERSIZE]++;
		return;
	}
	if (ne->st == N_FREE && ua->npending >= UDP_NAMES_PENDING) {
		ua->d.drops[D_RESOLVE]++;
		return;
	}
	if (ne->nq >= UDP_NAME_QUEUE || ua->queued_bytes + len > UDP_QUEUE_BYTES) {
		ua->d.drops[D_RESOLVE]++;
		return;
	}
	struct qdgram *q = malloc(sizeof(*q) + len);
	if (!q) {
		ua->d.drops[D_RESOLVE]++;
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

/* One datagram from the client (ua), from the relay endpoint or a frame
 * on the control connection: RSV | FRAG | DST | DATA. */
static void from_client(void *arg, const uint8_t *b, size_t n)
{
	struct udp_assoc *ua = arg;
	struct stp_udp_hdr h;
	ssize_t k = dgsess_hdr_get(&ua->d, b, n, &h);

	if (k < 0)
		return;
	if (h.addr.port == 0) {
		ua->d.drops[D_MALFORMED]++;
		return;
	}
	if (ua->hop) {
		/* the upstream's relay reaches the target, names and all */
		int r = upudp_send(ua->hop, &ua->d, b, n, (size_t)k, &h.addr);
		if (r != UPUDP_SENT)
			ua->d.drops[r == UPUDP_DENIED ? D_DENIED : D_MALFORMED]++;
		return;
	}
	if (h.addr.atyp == STP_ATYP_NAME) {
		send_name(ua, &h.addr, b + k, n - (size_t)k);
		return;
	}
	struct sockaddr_storage to;
	if (!stp_addr_to_sa(&h.addr, &to)) {
		ua->d.drops[D_MALFORMED]++;
		return;
	}
	send_target(ua, &to, NULL, b + k, n - (size_t)k, false);
}

/* --- towards the client ---------------------------------------------------- */

/* Delivers data (len bytes, with UDP_HDR_MAX bytes of room before it)
 * from sender sa to the client. */
static void to_client(struct udp_assoc *ua, const struct sockaddr *sa, uint8_t *data,
		      size_t len)
{
	struct stp_addr from;
	size_t hl;

	if (stp_addr_from_sa(&from, sa) < 0 ||
	    !(hl = dgsess_hdr_put(data, UDP_HDR_MAX, &from))) {
		ua->d.drops[D_MALFORMED]++;
		return;
	}
	dgsess_to_client(&ua->d, data - hl, hl, len);
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

/* What to do with datagram i of the batch in sc. */
typedef void dgram_fn(struct udp_assoc *ua, struct udp_scratch *sc, int i);

/* One batch from fd, each datagram to fn. */
static void read_batch(struct udp_assoc *ua, int fd, dgram_fn *fn)
{
	struct udp_scratch *sc = ua->d.ss->srv->udp;
	int n = recv_batch(sc, fd);

	dgsess_batch_begin(&ua->d, &sc->tx);
	for (int i = 0; i < n; i++)
		fn(ua, sc, i);
	dgsess_batch_end(&ua->d);
}

/* A datagram at the relay endpoint: only the client's host may send, and
 * its first datagram fixes its port when DST did not; on a GSS-API
 * protected session only one that unseals does (a forged one from another
 * port of the host must not take the association's replies). */
static void relay_dgram(struct udp_assoc *ua, struct udp_scratch *sc, int i)
{
	struct msghdr *mh = &sc->msgs[i].msg_hdr;
	uint8_t *b = sc->buf[i] + UDP_HDR_MAX;
	ssize_t n;
	struct ep src;

	ep_from_sa(&src, (struct sockaddr *)&sc->from[i]);
	if (!ep_same_host(&src, &ua->client) ||
	    (ua->client.port && src.port != ua->client.port)) {
		ua->d.drops[D_STRANGER]++;
		return;
	}
	if (mh->msg_flags & MSG_TRUNC) {
		ua->d.drops[D_OVERSIZE]++;
		return;
	}
	n = dgsess_unseal(&ua->d, b, sc->msgs[i].msg_len);
	if (n < 0)
		return;
	if (!ua->d.client_salen) {
		ua->client.port = src.port;
		ua->d.client_sa = sc->from[i];
		ua->d.client_salen = mh->msg_namelen;
	}
	from_client(ua, b, (size_t)n);
}

/* A datagram from a target: only one the client sent to may answer, but
 * anyone may send to UDP_BIND's external socket. */
static void target_dgram(struct udp_assoc *ua, struct udp_scratch *sc, int i)
{
	struct ep src;

	ep_from_sa(&src, (struct sockaddr *)&sc->from[i]);
	if (!ua->bind && !peer_known(ua, &src)) {
		ua->d.drops[D_UNKNOWN]++;
		return;
	}
	if (sc->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
		ua->d.drops[D_OVERSIZE]++;
		return;
	}
	to_client(ua, (struct sockaddr *)&sc->from[i], sc->buf[i] + UDP_HDR_MAX,
		  sc->msgs[i].msg_len);
}

/* A datagram from the upstream's relay (upudp.h): its header names the
 * sender as the client wants it; passed on unchanged once it parses. */
static void hop_dgram(struct udp_assoc *ua, struct udp_scratch *sc, int i)
{
	uint8_t *b = sc->buf[i] + UDP_HDR_MAX;
	size_t n = sc->msgs[i].msg_len;
	struct stp_udp_hdr h;
	ssize_t hl;

	if (sc->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
		ua->d.drops[D_OVERSIZE]++;
		return;
	}
	hl = stp_udp_hdr_get(b, n, &h);
	if (hl <= 0 || b[0] != 0 || b[1] != 0 || h.frag != 0) {
		ua->d.drops[hl > 0 && h.frag ? D_FRAG : D_MALFORMED]++;
		return;
	}
	dgsess_to_client(&ua->d, b, (size_t)hl, n - (size_t)hl);
}

/* The relay endpoint: datagrams from the client. */
static void on_relay(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	(void)l;
	(void)ev;
	read_batch(arg, fd, relay_dgram);
}

/* An outgoing (or, for UDP_BIND, external) socket: datagrams from targets.
 * TCP delivery writes the batch's frames in one go. */
static void on_out(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct udp_assoc *ua = arg;

	(void)l;
	(void)ev;
	read_batch(ua, fd, target_dgram);
	if (ua->d.tcp && ua->d.oq.len)
		dgsess_flush(&ua->d);
}

/* The socket to the upstream's relay: datagrams from targets, through it. */
static void on_hop(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct udp_assoc *ua = arg;

	(void)l;
	(void)ev;
	read_batch(ua, fd, hop_dgram);
	if (ua->d.tcp && ua->d.oq.len)
		dgsess_flush(&ua->d);
}

/* --- the end ------------------------------------------------------------------ */

/* Adds the association's counts to --stats and logs them at debug level. */
static void log_counts(struct udp_assoc *ua)
{
	struct session *ss = ua->d.ss;
	struct stp_server *s = ss->srv;
	char client[STP_ADDRSTRLEN], drops[DGSESS_DROPS_TEXT];

	s->stats.udp_up += ua->d.dgrams_up;
	s->stats.udp_down += ua->d.dgrams_down;
	for (int i = 0; i < D_NCOUNT; i++)
		s->stats.udp_dropped += ua->d.drops[i];
	stp_log(&s->cfg.log, STP_LOG_DEBUG, "udp association client=%s datagrams up=%llu down=%llu dropped:%s",
		stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)),
		(unsigned long long)ua->d.dgrams_up, (unsigned long long)ua->d.dgrams_down,
		dgsess_drops_str(&ua->d, drops, sizeof(drops)));
}

/* What the association holds besides the dgsess. */
static void assoc_release(struct dgsess *d)
{
	struct udp_assoc *ua = (struct udp_assoc *)d;

	log_counts(ua);
	for (int i = 0; i < UDP_NAMES; i++) {
		struct name_ent *ne = &ua->names[i];
		if (ne->st == N_PENDING)
			stp_lookup_cancel(ne->q);
		free_queue(ua, ne);
	}
	dgsess_close(&ua->d, &ua->ofd[0]);
	dgsess_close(&ua->d, &ua->ofd[1]);
	upudp_free(ua->hop);
	ua->hop = NULL;
}

/* --- the request ------------------------------------------------------------- */

/* UDP_BIND's external socket: the session's egress address of the family
 * the client came in on, else that family's wildcard (IPv6 dual-stack),
 * any port, open to every peer. Fills ext: the egress address, else the
 * listener's, and the socket's port. Returns 0, or -1 with errno. */
static int ext_socket(struct udp_assoc *ua, const struct sockaddr_storage *local,
		      struct stp_addr *ext)
{
	struct sockaddr_storage any, got;
	socklen_t gl = sizeof(got);
	int i = local->ss_family == AF_INET ? 0 : 1;
	/* with an egress address, peers send to it and the datagrams leave
	 * from it; else the wildcard, and the listener's address for peers */
	bool eg = egress_source(ua->d.ss, local->ss_family, &any);

	if (!eg) {
		memset(&any, 0, sizeof(any));
		any.ss_family = local->ss_family;
	}
	ua->ofd[i] = udp_socket(ua, &any,
				i ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
				!eg, US_EXT, on_out);
	if (ua->ofd[i] < 0 || getsockname(ua->ofd[i], (struct sockaddr *)&got, &gl) < 0 ||
	    stp_addr_from_sa(ext, (const struct sockaddr *)(eg ? &any : local)) < 0)
		return -1;
	ext->port = stp_sa_port((struct sockaddr *)&got);
	nat_advertise(&ua->d.ss->srv->cfg, ext);  /* behind NAT: where peers really send */
	return 0;
}

/* --udp-ports has no free port (logged by nat_udp_bind): UDP_BIND, an STP
 * command, says "address in use" (X'C5'); UDP ASSOCIATE has only general
 * failure (X'01') for it. */
static uint8_t port_refusal(const struct udp_assoc *ua)
{
	return ua->bind ? STP_REP_IN_USE : STP_REP_FAIL;
}

/* Binds the relay endpoint (UDP delivery) and, for UDP_BIND, the external
 * socket. Fills bnd (the relay endpoint) and ext. Returns 0 or a reply code. */
static uint8_t setup_sockets(struct udp_assoc *ua, struct stp_addr *bnd, struct stp_addr *ext)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);

	memset(bnd, 0, sizeof(*bnd));
	bnd->atyp = STP_ATYP_IPV4;
	/* UDP_TCP needs no address of ours (a transparent UDP flow's control
	 * connection is a socketpair's end) */
	if (getsockname(ua->d.ss->cfd, (struct sockaddr *)&local, &ll) < 0 ||
	    ((!ua->d.tcp || ua->bind) && local.ss_family != AF_INET &&
	     local.ss_family != AF_INET6))
		return STP_REP_FAIL;
	if (!ua->d.tcp) {
		if (dgsess_relay_open(&ua->d, on_relay, bnd) < 0)
			return errno == EADDRINUSE ? port_refusal(ua) : stp_rep_from_errno(errno);
		ua->nsock = 1;
	}
	if (ua->bind && ext_socket(ua, &local, ext) < 0)
		/* the fd budget's refusal, as for a MUX stream */
		return errno == EMFILE ? STP_REP_LIMIT : errno == EADDRINUSE ? port_refusal(ua)
			: stp_rep_from_errno(errno);
	return STP_REP_OK;
}

/* Who may use the relay endpoint: the control connection's host (with
 * --udp-any-sender, the host DST names if it is not zeros: RFC 1928 lets
 * a client delegate its association, but then whoever is at that address
 * uses the authenticated client's association). DST's port, if not 0 and
 * DST's host is accepted, fixes the client's port in advance, and
 * datagrams for it can then be sent before it speaks. */
static void expect_client(struct udp_assoc *ua)
{
	struct session *ss = ua->d.ss;
	struct sockaddr_storage dsa, rsa;
	socklen_t rl = sizeof(rsa);
	struct ep want;

	ep_from_sa(&ua->client, (const struct sockaddr *)&ss->peer);
	ua->client.port = 0;
	if (ua->d.tcp || ss->dst.atyp == STP_ATYP_NAME || !stp_addr_to_sa(&ss->dst, &dsa))
		return;
	ep_from_sa(&want, (struct sockaddr *)&dsa);
	if (!ep_zero_host(&want) && !ep_same_host(&want, &ua->client)) {
		if (!ss->srv->cfg.udp_any_sender)
			return;  /* another host's port says nothing of the client's */
		ua->client = want;
	}
	ua->client.port = want.port;
	if (ua->client.port && getsockname(ua->d.rfd, (struct sockaddr *)&rsa, &rl) == 0)
		ua->d.client_salen = ep_to_sa(&ua->client, rsa.ss_family, &ua->d.client_sa);
}

/* The association's state for ss, handed to the session (dgsess_start).
 * NULL when it could not be made (the reply is on its way). */
static struct udp_assoc *assoc_new(struct session *ss, bool bind_cmd, bool tcp)
{
	struct udp_assoc *ua = dgsess_start(ss, &udp_kind, &ss->srv->udp, tcp);

	if (!ua)
		return NULL;
	ua->bind = bind_cmd;
	ua->ofd[0] = ua->ofd[1] = -1;
	for (int i = 0; i < UDP_PEERS; i++)
		ua->buckets[i] = -1;
	return ua;
}

void cmd_udp_via(struct session *ss, int cfd, const struct stp_addr *relay)
{
	struct udp_assoc *ua = assoc_new(ss, false, ss->cmd == STP_CMD_UDP_TCP);
	struct stp_addr bnd, ext;
	uint8_t rep;

	if (!ua) {
		close(cfd);
		return;
	}
	ua->hop = upudp_new(ss, cfd, relay, on_hop, ua, &rep);
	if (!ua->hop || (rep = setup_sockets(ua, &bnd, &ext)) != STP_REP_OK) {
		session_reply_error(ss, rep);
		return;
	}
	/* upstream.c left the client unwatched while the hop answered: its
	 * end (or its frames) matter again */
	if (stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ) < 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	expect_client(ua);
	dgsess_reply(&ua->d, &bnd, NULL);
}

/* UDP ASSOCIATE, UDP_BIND, UDP_TCP: set up, reply, then run as S_CMD. */
void cmd_udp(struct session *ss, const struct stp5_msg *m)
{
	bool bind_cmd = ss->cmd == STP_CMD_UDP_BIND;
	bool tcp = ss->cmd == STP_CMD_UDP_TCP ||
		   (bind_cmd && m->has_opts && STP_OPT_HAS(&m->opts, STP_OPT_TCP_DELIVERY));
	struct udp_assoc *ua = assoc_new(ss, bind_cmd, tcp);
	struct stp_addr bnd, ext;
	uint8_t rep;

	if (!ua)
		return;
	rep = setup_sockets(ua, &bnd, &ext);
	if (rep != STP_REP_OK) {
		session_reply_error(ss, rep);
		return;
	}
	expect_client(ua);
	dgsess_reply(&ua->d, &bnd, bind_cmd ? &ext : NULL);
}
