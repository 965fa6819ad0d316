/* cmd_mcast.c - MCAST (X'D4', PROTOCOL.md §3): a client joins a multicast
 * group on the proxy's network, receives its datagrams and may send to it.
 *
 * Sockets:
 *   group socket  one per (group, port, source) that any session receives:
 *                 bound to GROUP:PORT, joined (any-source, or source-specific
 *                 with option SOURCE) on --mcast-iface, and shared: two
 *                 sessions on one group and port share one kernel membership
 *                 and both get every datagram. The last member leaving closes
 *                 it, which drops the membership. IP_MULTICAST_ALL is off, so
 *                 a socket hears only the groups it joined itself (another
 *                 group on the same port does not leak in).
 *   rfd           per session, UDP delivery: the relay endpoint, bound on the
 *                 address of the listener the client came in on, as for UDP
 *                 ASSOCIATE. The client's port is learnt from its first
 *                 datagram from the control connection's host; a client that
 *                 only receives announces itself with an empty datagram to the
 *                 group (empty datagrams are never sent on: see from_client).
 *   sfd           per session with DIRECTION send: where its datagrams to the
 *                 group leave from, with its TTL (capped by --mcast-max-ttl).
 *   the control connection: its end ends the membership; with TCP_DELIVERY it
 *                 carries LEN(2) | UDP header | DATA frames both ways.
 *
 * Nothing waits: a datagram that cannot be passed on now (socket buffer or
 * the bounded TCP output queue full) is dropped and counted; the counts go
 * to the debug log when the session ends. Fan-out only queues or sends
 * datagrams; a session that fails is ended from its own events, never while
 * its group is being walked.
 *
 * The client's side (rfd, the control connection, the reply, delivery to
 * the client) is dgsess.c's, shared with UDP ASSOCIATE; the groups are
 * this file's. */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/cmd/dgsess.h"
#include "server/egress.h"
#include "server/policy/mcastpol.h"

#define MC_BATCH 32                  /* datagrams read per event and socket */
#define MC_SLOT 65536                /* largest UDP payload, rounded up */
#define MC_HDR_MAX 22                /* RSV FRAG ATYP IPv6 PORT */
#define MC_PAYLOAD_MAX 65507
#define MC_TCP_OUT_MAX (256 * 1024)  /* frames waiting for a slow client */
#define MC_TCP_READ_BUDGET (64 * 1024)

#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

enum { D_STRANGER, D_MALFORMED, D_FRAG, D_OVERSIZE, D_NOTGROUP, D_NOSEND, D_UNKNOWN,
       D_FULL, D_SENDERR, D_NCOUNT };
static const char *const drop_names[D_NCOUNT] = {
	"stranger", "malformed", "frag", "oversize", "not-the-group", "send-not-allowed",
	"client-unknown", "full", "send-error",
};
_Static_assert(D_NCOUNT <= DGSESS_DROPS_MAX, "dgsess counts the drops");

struct mc_group;

/* One MCAST session's state (ss->cst). */
struct mc_member {
	struct dgsess d;                /* first: the client's side, ss->cst */
	struct mc_group *g;             /* NULL: send only */
	struct mc_member *gprev, *gnext;
	struct stp_addr group;          /* GROUP:PORT as requested */
	struct sockaddr_storage group_sa;
	socklen_t group_salen;
	unsigned dir;                   /* STP_MC_* */
	int sfd;
	struct stp_addr client;         /* the control connection's host */
};

/* A shared membership. */
struct mc_group {
	struct mc_group *next;
	struct mc_table *t;
	int fd;
	struct stp_addr group;          /* with the port */
	bool ssm;
	struct stp_addr source;
	struct mc_member *members;
	uint64_t dgrams;
};

/* One per server loop while any MCAST session lives (s->mcast). The
 * buffer leaves MC_HDR_MAX bytes in front for the header. */
struct mc_table {
	struct dgsess_shared sh;        /* first: s->mcast lives while it has users */
	struct stp_server *srv;
	struct mc_group *groups;
	uint8_t buf[MC_HDR_MAX + MC_SLOT];
};

static void mc_release(struct dgsess *d);
static void from_client(void *arg, const uint8_t *b, size_t n);

static const struct dgsess_kind mcast_kind = {
	.name = "mcast",
	.release = mc_release,
	.size = sizeof(struct mc_member),
	.shared_size = sizeof(struct mc_table),
	.drop_names = drop_names,
	.ndrops = D_NCOUNT,
	.drop = {
		[DG_MALFORMED] = D_MALFORMED, [DG_FRAG] = D_FRAG, [DG_OVERSIZE] = D_OVERSIZE,
		[DG_UNKNOWN] = D_UNKNOWN, [DG_FULL] = D_FULL, [DG_SENDERR] = D_SENDERR,
	},
	.out_max = MC_TCP_OUT_MAX,
	.read_budget = MC_TCP_READ_BUDGET,
	.from_client = from_client,
};

/* A request's choices, checked (request_fault). */
struct mc_req {
	unsigned dir;                   /* STP_MC_* */
	const struct stp_addr *source;  /* source-specific; NULL: any source */
	int ttl;
	int ifindex;                    /* --mcast-iface; 0: the system's choice */
};

static bool same_host(const struct stp_addr *x, const struct stp_addr *y)
{
	if (x->atyp != y->atyp)
		return false;
	if (x->atyp == STP_ATYP_IPV4)
		return memcmp(x->u.v4, y->u.v4, 4) == 0;
	if (x->atyp == STP_ATYP_IPV6)
		return memcmp(x->u.v6, y->u.v6, 16) == 0;
	return false;
}

/* The interface index of --mcast-iface, 0 for the system's choice, or -1
 * with errno when it does not exist (any more). */
static int iface_index(const struct stp_server *s)
{
	unsigned idx;

	if (!s->cfg.mcast_iface)
		return 0;
	idx = if_nametoindex(s->cfg.mcast_iface);
	if (idx == 0 || idx > 0x7fffffff)
		return -1;
	return (int)idx;
}

/* One datagram from fd into buf (MC_SLOT bytes) and from. Returns its
 * length (more than MC_SLOT: it was cut), or -1 when none is left or on an
 * error, which the next event retries. */
static ssize_t recv_one(int fd, uint8_t *buf, struct sockaddr_storage *from, socklen_t *fl)
{
	for (;;) {
		*fl = sizeof(*from);
		ssize_t n = recvfrom(fd, buf, MC_SLOT, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)from, fl);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* --- towards the client ---------------------------------------------------- */

/* Delivers one group datagram (hl bytes of header, then len of data) to
 * one member. Never ends the session: failures are counted, and a TCP
 * member gets write interest to send what was queued. */
static void deliver(struct mc_member *mb, const uint8_t *dgram, size_t hl, size_t len)
{
	struct session *ss = mb->d.ss;

	if (dgsess_to_client(&mb->d, dgram, hl, len) && mb->d.tcp)
		stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ | STP_EV_WRITE);
}

/* The group socket: datagrams of the group, to every member that receives. */
static void on_group(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct mc_group *g = arg;
	struct mc_table *t = g->t;
	uint8_t *data = t->buf + MC_HDR_MAX;

	(void)l;
	(void)ev;
	for (int i = 0; i < MC_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t fl;
		struct stp_addr src;
		ssize_t n = recv_one(fd, data, &from, &fl);
		if (n < 0)
			return;
		if (stp_addr_from_sa(&src, (struct sockaddr *)&from) < 0)
			continue;
		if ((size_t)n > MC_SLOT) {
			for (struct mc_member *mb = g->members; mb; mb = mb->gnext)
				mb->d.drops[D_OVERSIZE]++;
			continue;
		}
		/* the kernel filters by source already; this is belt and braces */
		if (g->ssm && !same_host(&src, &g->source))
			continue;
		size_t hl = dgsess_hdr_put(data, MC_HDR_MAX, &src);
		if (!hl)
			continue;
		g->dgrams++;
		for (struct mc_member *mb = g->members; mb; mb = mb->gnext)
			deliver(mb, data - hl, hl, (size_t)n);
	}
}

/* --- from the client ---------------------------------------------------------- */

/* One datagram from the client (mb), from the relay endpoint or a frame
 * on the control connection: RSV | FRAG | DST | DATA. DST must be the
 * group and port of the request. An empty datagram only announces the
 * client's UDP port (UDP delivery) and is not sent on. */
static void from_client(void *arg, const uint8_t *b, size_t n)
{
	struct mc_member *mb = arg;
	struct stp_udp_hdr h;
	ssize_t k = dgsess_hdr_get(&mb->d, b, n, &h);
	size_t len;

	if (k < 0 || (size_t)k == n)
		return;
	if (!(mb->dir & STP_MC_SEND)) {
		mb->d.drops[D_NOSEND]++;
		return;
	}
	if (!same_host(&h.addr, &mb->group) || h.addr.port != mb->group.port) {
		mb->d.drops[D_NOTGROUP]++;
		return;
	}
	len = n - (size_t)k;
	if (len > MC_PAYLOAD_MAX) {
		mb->d.drops[D_OVERSIZE]++;
		return;
	}
	if (!dgsess_sendto(&mb->d, mb->sfd, b + k, len, (struct sockaddr *)&mb->group_sa,
			   mb->group_salen))
		return;
	mb->d.ss->bytes_up += len;
	mb->d.dgrams_up++;
}

/* A datagram at the relay endpoint (n bytes in buf, sender from): only
 * the client's host may send, and its first datagram fixes its port; on
 * a GSS-API protected session only one that unseals does. */
static void relay_dgram(struct mc_member *mb, const struct sockaddr_storage *from,
			socklen_t fl, uint8_t *buf, size_t n)
{
	struct stp_addr src;
	char who[STP_ADDRSTRLEN];
	ssize_t k;

	if (stp_addr_from_sa(&src, (const struct sockaddr *)from) < 0 ||
	    !same_host(&src, &mb->client) ||
	    (mb->d.client_salen &&
	     stp_sa_port((struct sockaddr *)&mb->d.client_sa) != src.port)) {
		mb->d.drops[D_STRANGER]++;
		return;
	}
	if (n > MC_SLOT) {
		mb->d.drops[D_OVERSIZE]++;
		return;
	}
	k = dgsess_unseal(&mb->d, buf, n);
	if (k < 0)
		return;
	if (!mb->d.client_salen) {
		mb->d.client_sa = *from;
		mb->d.client_salen = fl;
		stp_log(&mb->d.ss->srv->cfg.log, STP_LOG_DEBUG, "mcast: client %s known at the relay",
			stp_sa_str((const struct sockaddr *)from, who, sizeof(who)));
	}
	from_client(mb, buf, (size_t)k);
}

/* The relay endpoint: datagrams from the client. */
static void on_relay(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct mc_member *mb = arg;
	struct mc_table *t = mb->d.ss->srv->mcast;

	(void)l;
	(void)ev;
	for (int i = 0; i < MC_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t fl;
		ssize_t n = recv_one(fd, t->buf, &from, &fl);
		if (n < 0)
			return;
		relay_dgram(mb, &from, fl, t->buf, (size_t)n);
	}
}

/* --- memberships --------------------------------------------------------------- */

static void group_leave(struct mc_member *mb)
{
	struct mc_group *g = mb->g;

	if (!g)
		return;
	if (mb->gprev)
		mb->gprev->gnext = mb->gnext;
	else
		g->members = mb->gnext;
	if (mb->gnext)
		mb->gnext->gprev = mb->gprev;
	mb->g = NULL;
	if (g->members)
		return;
	/* the last one: closing the socket drops the kernel's membership */
	struct mc_table *t = g->t;
	for (struct mc_group **pp = &t->groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	char gn[STP_ADDRSTRLEN];
	stp_log(&t->srv->cfg.log, STP_LOG_DEBUG, "mcast: left group %s (%llu datagrams)",
		stp_addr_str(&g->group, gn, sizeof(gn)), (unsigned long long)g->dgrams);
	dgsess_close(&mb->d, &g->fd);
	free(g);
}

/* A new group socket for mb's group (and source): bound, joined, watched.
 * Returns the group, or NULL with errno. */
static struct mc_group *group_open(struct mc_table *t, const struct mc_member *mb,
				   const struct stp_addr *source, int ifindex)
{
	struct mc_group *g = calloc(1, sizeof(*g));
	struct sockaddr_storage bsa = mb->group_sa;
	int fam = mb->group_sa.ss_family, one = 1, zero = 0, err;
	int level = fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;

	if (!g)
		return NULL;
	g->t = t;
	g->group = mb->group;
	g->fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->fd < 0)
		goto fail;
	/* other programs on the proxy's host may listen on the group port */
	if (setsockopt(g->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (fam == AF_INET6 &&
	    setsockopt(g->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (setsockopt(g->fd, level, fam == AF_INET ? IP_MULTICAST_ALL : IPV6_MULTICAST_ALL,
		       &zero, sizeof(zero)) < 0 && errno != ENOPROTOOPT)
		goto fail;
	if (fam == AF_INET6)
		((struct sockaddr_in6 *)&bsa)->sin6_scope_id = (uint32_t)ifindex;
	if (bind(g->fd, (struct sockaddr *)&bsa, mb->group_salen) < 0)
		goto fail;
	if (source) {
		struct group_source_req gsr;
		memset(&gsr, 0, sizeof(gsr));
		gsr.gsr_interface = (uint32_t)ifindex;
		memcpy(&gsr.gsr_group, &mb->group_sa, mb->group_salen);
		if (!stp_addr_to_sa(source, &gsr.gsr_source)) {
			errno = EINVAL;
			goto fail;
		}
		if (setsockopt(g->fd, level, MCAST_JOIN_SOURCE_GROUP, &gsr, sizeof(gsr)) < 0)
			goto fail;
		g->ssm = true;
		g->source = *source;
	} else {
		struct group_req gr;
		memset(&gr, 0, sizeof(gr));
		gr.gr_interface = (uint32_t)ifindex;
		memcpy(&gr.gr_group, &mb->group_sa, mb->group_salen);
		if (setsockopt(g->fd, level, MCAST_JOIN_GROUP, &gr, sizeof(gr)) < 0)
			goto fail;
	}
	if (stp_loop_watch(t->srv->loop, g->fd, STP_EV_READ, on_group, g) < 0)
		goto fail;
	char gn[STP_ADDRSTRLEN], sn[STP_ADDRSTRLEN];
	stp_log(&t->srv->cfg.log, STP_LOG_DEBUG, "mcast: joined group %s%s%s",
		stp_addr_str(&g->group, gn, sizeof(gn)), source ? " source " : "",
		source ? stp_addr_host(source, sn, sizeof(sn)) : "");
	g->next = t->groups;
	t->groups = g;
	return g;
fail:
	err = errno;
	if (g->fd >= 0)
		close(g->fd);
	free(g);
	errno = err;
	return NULL;
}

/* Joins mb to its group: the shared socket if one exists, else a new one.
 * Returns 0, or -1 with errno. */
static int group_join(struct mc_table *t, struct mc_member *mb, const struct stp_addr *source,
		      int ifindex)
{
	struct mc_group *g;

	for (g = t->groups; g; g = g->next)
		if (same_host(&g->group, &mb->group) && g->group.port == mb->group.port &&
		    g->ssm == (source != NULL) && (!source || same_host(&g->source, source)))
			break;
	if (!g && !(g = group_open(t, mb, source, ifindex)))
		return -1;
	mb->g = g;
	mb->gprev = NULL;
	mb->gnext = g->members;
	if (g->members)
		g->members->gprev = mb;
	g->members = mb;
	return 0;
}

/* The socket mb's datagrams to the group leave from, with its TTL. Returns
 * 0, or -1 with errno. */
static int send_socket(struct mc_member *mb, int ttl, int ifindex)
{
	int fam = mb->group_sa.ss_family, one = 1;

	mb->sfd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (mb->sfd < 0)
		return -1;
	/* the source address and interface of --egress, a rule's "egress" */
	if (egress_prepare(mb->d.ss, mb->sfd, fam, false) < 0)
		return -1;
	if (fam == AF_INET) {
		struct ip_mreqn mr;
		memset(&mr, 0, sizeof(mr));
		mr.imr_ifindex = ifindex;
		if (setsockopt(mb->sfd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
		    setsockopt(mb->sfd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one)) < 0 ||
		    (ifindex && setsockopt(mb->sfd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0))
			return -1;
	} else {
		if (setsockopt(mb->sfd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) < 0 ||
		    setsockopt(mb->sfd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof(one)) < 0 ||
		    (ifindex && setsockopt(mb->sfd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
					   sizeof(ifindex)) < 0))
			return -1;
		((struct sockaddr_in6 *)&mb->group_sa)->sin6_scope_id = (uint32_t)ifindex;
	}
	return 0;
}

/* Logs the counts, leaves the group, closes the send socket. */
static void mc_release(struct dgsess *d)
{
	struct mc_member *mb = (struct mc_member *)d;
	struct session *ss = d->ss;
	char client[STP_ADDRSTRLEN], group[STP_ADDRSTRLEN], drops[DGSESS_DROPS_TEXT];

	stp_log(&ss->srv->cfg.log, STP_LOG_DEBUG, "mcast client=%s group=%s datagrams up=%llu down=%llu dropped:%s",
		stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)),
		stp_addr_str(&mb->group, group, sizeof(group)),
		(unsigned long long)mb->d.dgrams_up, (unsigned long long)mb->d.dgrams_down,
		dgsess_drops_str(&mb->d, drops, sizeof(drops)));
	group_leave(mb);
	if (mb->sfd >= 0)
		close(mb->sfd);
}

/* --- the request ----------------------------------------------------------------- */

/* Refuses with rep, logging why at info level. */
static void refuse(struct session *ss, uint8_t rep, const char *why)
{
	char group[STP_ADDRSTRLEN], client[STP_ADDRSTRLEN];

	stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "mcast %s from %s refused: %s",
		stp_addr_str(&ss->dst, group, sizeof(group)),
		stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)), why);
	ss->result = why;
	session_reply_error(ss, rep);
}

/* The directions the --mcast-allow entries grant to group. */
static unsigned granted(const struct stp_server *s, const struct stp_addr *group)
{
	struct stp_mcast_rule r[STP_MCAST_ALLOW_MAX];
	int n = 0;

	for (int i = 0; i < s->cfg.nmcast_allow && i < STP_MCAST_ALLOW_MAX; i++) {
		struct stp_err e;
		/* checked when the configuration was built; skip what fails now */
		if (stp_mcast_rule_parse(s->cfg.mcast_allow[i], &r[n], "mcast-allow", &e) == 0)
			n++;
	}
	if (s->cfg.nmcast_allow > 0 && n == 0)
		return 0;
	return stp_mcast_granted(r, n, group);
}

/* What in the request (group, options) or the rules refuses it: the
 * reason, with the reply in *rep; NULL when it may go on (rq filled). */
static const char *request_fault(const struct session *ss, const struct stp_opts *o,
				 struct mc_req *rq, uint8_t *rep)
{
	*rep = STP_REP_MCAST_DENIED;
	if (ss->dst.port == 0)
		return "group port 0";
	if (!stp_mcast_is_group(&ss->dst))
		return "not a multicast group";
	rq->dir = STP_MC_RECV;
	if (o && STP_OPT_HAS(o, STP_OPT_DIRECTION))
		rq->dir = o->direction & (STP_MC_RECV | STP_MC_SEND);
	if (rq->dir == 0) {
		*rep = STP_REP_FAIL;
		return "DIRECTION names neither receive nor send";
	}
	rq->source = o && STP_OPT_HAS(o, STP_OPT_SOURCE) ? &o->source : NULL;
	if (rq->source && (rq->source->atyp != ss->dst.atyp || stp_mcast_is_group(rq->source) ||
			   stp_addr_is_zero(rq->source)))
		return "SOURCE is not a unicast address of the group's family";
	if (rq->dir & ~granted(ss->srv, &ss->dst))
		return "group not in --mcast-allow for this direction";
	rq->ttl = o && STP_OPT_HAS(o, STP_OPT_TTL) ? o->ttl : 1;
	if (rq->ttl > ss->srv->cfg.mcast_max_ttl)
		rq->ttl = (int)ss->srv->cfg.mcast_max_ttl;
	rq->ifindex = iface_index(ss->srv);
	if (rq->ifindex < 0) {
		*rep = STP_REP_NET_UNREACH;
		return "--mcast-iface names no interface";
	}
	return NULL;
}

/* The relay endpoint (UDP delivery; fills bnd), the send socket and the
 * membership the request asks for. Returns 0, or -1 with errno. */
static int open_sockets(struct mc_member *mb, const struct mc_req *rq, struct stp_addr *bnd)
{
	struct mc_table *t = mb->d.ss->srv->mcast;

	memset(bnd, 0, sizeof(*bnd));
	bnd->atyp = STP_ATYP_IPV4;
	if (!mb->d.tcp && dgsess_relay_open(&mb->d, on_relay, bnd) < 0)
		return -1;
	if ((rq->dir & STP_MC_SEND) && send_socket(mb, rq->ttl, rq->ifindex) < 0)
		return -1;
	if ((rq->dir & STP_MC_RECV) && group_join(t, mb, rq->source, rq->ifindex) < 0)
		return -1;
	return 0;
}

/* Replies to a failed open_sockets (errno), logging why at info level. */
static void join_failed(struct session *ss)
{
	int err = errno;

	stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "mcast: join failed: %s", strerror(err));
	/* no route or interface for the group: the network is unreachable */
	/* --udp-ports exhausted (nat.h): an STP command's "address in use" */
	session_reply_error(ss, err == ENODEV || err == EADDRNOTAVAIL || err == ENETUNREACH
				? STP_REP_NET_UNREACH : err == EADDRINUSE ? STP_REP_IN_USE
				: stp_rep_from_errno(err));
}

/* MCAST: check, join, reply, then run as S_CMD. */
void cmd_mcast(struct session *ss, const struct stp5_msg *m)
{
	const struct stp_opts *o = m->has_opts ? &m->opts : NULL;
	struct mc_member *mb;
	struct mc_req rq;
	struct stp_addr bnd;
	uint8_t rep;
	const char *why = request_fault(ss, o, &rq, &rep);

	if (why) {
		refuse(ss, rep, why);
		return;
	}
	mb = dgsess_start(ss, &mcast_kind, &ss->srv->mcast,
			  o && STP_OPT_HAS(o, STP_OPT_TCP_DELIVERY));
	if (!mb)
		return;
	((struct mc_table *)ss->srv->mcast)->srv = ss->srv;
	mb->sfd = -1;
	mb->dir = rq.dir;
	mb->group = ss->dst;
	if (stp_addr_from_sa(&mb->client, (const struct sockaddr *)&ss->peer) < 0 ||
	    !(mb->group_salen = stp_addr_to_sa(&mb->group, &mb->group_sa))) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	if (open_sockets(mb, &rq, &bnd) < 0) {
		join_failed(ss);
		return;
	}
	dgsess_reply(&mb->d, &bnd, NULL);
}
