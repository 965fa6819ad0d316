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
 * its group is being walked. */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/policy/mcastpol.h"
#include "server/frameq.h"
#include "server/server_priv.h"

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

struct mc_group;

/* One MCAST session's state (ss->cst). */
struct mc_member {
	struct session *ss;
	struct mc_group *g;             /* NULL: send only */
	struct mc_member *gprev, *gnext;
	struct stp_addr group;          /* GROUP:PORT as requested */
	struct sockaddr_storage group_sa;
	socklen_t group_salen;
	unsigned dir;                   /* STP_MC_* */
	bool tcp;
	int rfd, sfd;
	struct stp_addr client;         /* the control connection's host */
	struct sockaddr_storage client_sa;
	socklen_t client_salen;         /* 0 until the client's first datagram */
	uint64_t last;
	uint64_t drops[D_NCOUNT];
	uint64_t dgrams_up, dgrams_down;
	struct stp_framein in;          /* TCP delivery: frames from the client */
	struct stp_frameq oq;           /* TCP delivery: frames for the client */
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
	long users;
	struct stp_server *srv;
	struct mc_group *groups;
	uint8_t buf[MC_HDR_MAX + MC_SLOT];
};

static void mc_free(struct session *ss);
static void mc_on_client(struct session *ss, unsigned ev);
static void mc_on_timer(struct session *ss);

static const struct cmd_ops mcast_ops = {
	.on_client = mc_on_client,
	.on_timer = mc_on_timer,
	.free = mc_free,
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

static void close_watched(struct stp_loop *l, int *fd)
{
	if (*fd < 0)
		return;
	stp_loop_unwatch(l, *fd);
	close(*fd);
	*fd = -1;
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

/* --- towards the client ---------------------------------------------------- */

/* Delivers one group datagram (hdr, hl bytes, then len bytes of data) to
 * one member. Never ends the session: failures are counted, and a TCP
 * member gets write interest to send what was queued. */
static void deliver(struct mc_member *mb, const uint8_t *d, size_t hl, size_t len)
{
	struct stp_server *s = mb->ss->srv;

	mb->last = stp_loop_now(s->loop);
	if (mb->tcp) {
		if (!stp_frameq_push(&mb->oq, d, hl + len)) {
			mb->drops[D_FULL]++;
			return;
		}
		stp_loop_set(s->loop, mb->ss->cfd, STP_EV_READ | STP_EV_WRITE);
	} else {
		if (!mb->client_salen) {
			mb->drops[D_UNKNOWN]++;  /* not heard from yet: nowhere to send */
			return;
		}
		if (hl + len > MC_PAYLOAD_MAX) {
			mb->drops[D_OVERSIZE]++;
			return;
		}
		for (;;) {
			ssize_t n = sendto(mb->rfd, d, hl + len, MSG_NOSIGNAL,
					   (struct sockaddr *)&mb->client_sa, mb->client_salen);
			if (n >= 0)
				break;
			if (errno == EINTR)
				continue;
			mb->drops[errno == EAGAIN || errno == ENOBUFS ? D_FULL
				  : errno == EMSGSIZE ? D_OVERSIZE : D_SENDERR]++;
			return;
		}
	}
	mb->ss->bytes_down += len;
	mb->dgrams_down++;
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
		socklen_t fl = sizeof(from);
		struct stp_addr src;
		ssize_t n = recvfrom(fd, data, MC_SLOT, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;  /* EAGAIN, or an error the next event retries */
		if (stp_addr_from_sa(&src, (struct sockaddr *)&from) < 0)
			continue;
		if ((size_t)n > MC_SLOT) {
			for (struct mc_member *mb = g->members; mb; mb = mb->gnext)
				mb->drops[D_OVERSIZE]++;
			continue;
		}
		/* the kernel filters by source already; this is belt and braces */
		if (g->ssm && !same_host(&src, &g->source))
			continue;
		uint8_t hdr[MC_HDR_MAX];
		size_t hl = stp_udp_hdr_put(hdr, sizeof(hdr), &src);
		if (!hl)
			continue;
		memcpy(data - hl, hdr, hl);
		g->dgrams++;
		for (struct mc_member *mb = g->members; mb; mb = mb->gnext)
			deliver(mb, data - hl, hl, (size_t)n);
	}
}

/* --- from the client ---------------------------------------------------------- */

/* One datagram from the client: RSV | FRAG | DST | DATA. DST must be the
 * group and port of the request. An empty datagram only announces the
 * client's UDP port (UDP delivery) and is not sent on. */
static void from_client(struct mc_member *mb, const uint8_t *b, size_t n)
{
	struct stp_udp_hdr h;
	ssize_t k = stp_udp_hdr_get(b, n, &h);

	mb->last = stp_loop_now(mb->ss->srv->loop);
	if (k <= 0 || b[0] != 0 || b[1] != 0) {
		mb->drops[D_MALFORMED]++;
		return;
	}
	if (h.frag != 0) {
		mb->drops[D_FRAG]++;
		return;
	}
	if ((size_t)k == n)
		return;
	if (!(mb->dir & STP_MC_SEND)) {
		mb->drops[D_NOSEND]++;
		return;
	}
	if (!same_host(&h.addr, &mb->group) || h.addr.port != mb->group.port) {
		mb->drops[D_NOTGROUP]++;
		return;
	}
	size_t len = n - (size_t)k;
	if (len > MC_PAYLOAD_MAX) {
		mb->drops[D_OVERSIZE]++;
		return;
	}
	for (;;) {
		ssize_t r = sendto(mb->sfd, b + k, len, MSG_NOSIGNAL,
				   (struct sockaddr *)&mb->group_sa, mb->group_salen);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		mb->drops[errno == EAGAIN || errno == ENOBUFS ? D_FULL
			  : errno == EMSGSIZE ? D_OVERSIZE : D_SENDERR]++;
		return;
	}
	mb->ss->bytes_up += len;
	mb->dgrams_up++;
}

/* The relay endpoint: datagrams from the client's host only; the first
 * one fixes its port. */
static void on_relay(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct mc_member *mb = arg;
	struct mc_table *t = mb->ss->srv->mcast;

	(void)l;
	(void)ev;
	for (int i = 0; i < MC_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct stp_addr src;
		ssize_t n = recvfrom(fd, t->buf, MC_SLOT, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		if (stp_addr_from_sa(&src, (struct sockaddr *)&from) < 0 ||
		    !same_host(&src, &mb->client)) {
			mb->drops[D_STRANGER]++;
			continue;
		}
		if (mb->client_salen && stp_sa_port((struct sockaddr *)&mb->client_sa) != src.port) {
			mb->drops[D_STRANGER]++;
			continue;
		}
		if (!mb->client_salen) {
			char who[STP_ADDRSTRLEN];
			mb->client_sa = from;
			mb->client_salen = fl;
			stp_log(&mb->ss->srv->cfg.log, STP_LOG_DEBUG, "mcast: client %s known at the relay",
				stp_sa_str((struct sockaddr *)&from, who, sizeof(who)));
		}
		if ((size_t)n > MC_SLOT) {
			mb->drops[D_OVERSIZE]++;
			continue;
		}
		from_client(mb, t->buf, (size_t)n);
	}
}

/* --- the control connection ------------------------------------------------------ */

/* Writes queued frames. Returns 0, or -1 when the client is gone. Leaves
 * the interest mask right: read always, write while anything waits. */
static int flush_tcp(struct mc_member *mb)
{
	return stp_frameq_flush(&mb->oq, mb->ss);
}

/* A frame from the client: LEN(2) | UDP header | DATA, without LEN. */
static void frame_in(void *arg, const uint8_t *f, size_t n)
{
	from_client(arg, f, n);
}

static void mc_on_client(struct session *ss, unsigned ev)
{
	struct mc_member *mb = ss->cst;

	if (ev & (STP_EV_READ | STP_EV_ERROR)) {
		if (stp_control_read(ss, mb->tcp ? &mb->in : NULL, MC_TCP_READ_BUDGET,
				     frame_in, mb) < 0) {
			ss->result = "ok";
			session_free(ss);
			return;
		}
	}
	if (mb->tcp) {
		if (flush_tcp(mb) < 0) {
			ss->result = "client gone";
			session_free(ss);
		}
	} else if (ss->outlen == 0) {
		stp_loop_set(ss->srv->loop, ss->cfd, STP_EV_READ);
	}
}

static void arm_idle(struct mc_member *mb)
{
	session_idle_check(mb->ss, mb->last);
}

static void mc_on_timer(struct session *ss)
{
	struct mc_member *mb = ss->cst;

	session_idle_check(ss, mb->last);
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
	close_watched(t->srv->loop, &g->fd);
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

/* The relay endpoint on the address the client reached us on. Fills bnd.
 * Returns 0, or -1 with errno. */
static int relay_socket(struct mc_member *mb, struct stp_addr *bnd)
{
	struct session *ss = mb->ss;
	struct sockaddr_storage sa, got;
	socklen_t sl = sizeof(sa), gl = sizeof(got);

	if (getsockname(ss->cfd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	stp_sa_set_port(&sa, 0);
	mb->rfd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (mb->rfd < 0)
		return -1;
	if (bind(mb->rfd, (struct sockaddr *)&sa, sl) < 0 ||
	    getsockname(mb->rfd, (struct sockaddr *)&got, &gl) < 0 ||
	    stp_addr_from_sa(bnd, (struct sockaddr *)&got) < 0 ||
	    stp_loop_watch(ss->srv->loop, mb->rfd, STP_EV_READ, on_relay, mb) < 0) {
		int err = errno;
		close(mb->rfd);
		mb->rfd = -1;
		errno = err;
		return -1;
	}
	return 0;
}

static void mc_free(struct session *ss)
{
	struct mc_member *mb = ss->cst;
	struct stp_server *s = ss->srv;
	char client[STP_ADDRSTRLEN], group[STP_ADDRSTRLEN], drops[300];
	size_t dl = 0;

	if (!mb)
		return;
	drops[0] = '\0';
	for (int i = 0; i < D_NCOUNT; i++) {
		int n = snprintf(drops + dl, sizeof(drops) - dl, " %s=%llu", drop_names[i],
				 (unsigned long long)mb->drops[i]);
		if (n < 0 || (size_t)n >= sizeof(drops) - dl)
			break;
		dl += (size_t)n;
	}
	stp_log(&s->cfg.log, STP_LOG_DEBUG, "mcast client=%s group=%s datagrams up=%llu down=%llu dropped:%s",
		stp_sa_str((const struct sockaddr *)&ss->peer, client, sizeof(client)),
		stp_addr_str(&mb->group, group, sizeof(group)),
		(unsigned long long)mb->dgrams_up, (unsigned long long)mb->dgrams_down, drops);
	group_leave(mb);
	close_watched(s->loop, &mb->rfd);
	if (mb->sfd >= 0)
		close(mb->sfd);
	stp_framein_free(&mb->in);
	stp_frameq_free(&mb->oq);
	free(mb);
	ss->cst = NULL;
	struct mc_table *t = s->mcast;
	if (t && --t->users == 0) {
		free(t);
		s->mcast = NULL;
	}
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

void cmd_mcast(struct session *ss, const struct stp5_msg *m)
{
	struct stp_server *s = ss->srv;
	const struct stp_opts *o = m->has_opts ? &m->opts : NULL;
	const struct stp_addr *source = NULL;
	struct mc_member *mb;
	struct mc_table *t;
	struct stp_addr bnd;
	unsigned dir = STP_MC_RECV;
	int ttl = 1, ifindex;
	uint8_t b[300];
	size_t n;

	if (!stp_mcast_is_group(&ss->dst) || ss->dst.port == 0) {
		refuse(ss, STP_REP_MCAST_DENIED, ss->dst.port == 0 ? "group port 0"
						 : "not a multicast group");
		return;
	}
	if (o && STP_OPT_HAS(o, STP_OPT_DIRECTION))
		dir = o->direction & (STP_MC_RECV | STP_MC_SEND);
	if (dir == 0) {
		refuse(ss, STP_REP_FAIL, "DIRECTION names neither receive nor send");
		return;
	}
	if (o && STP_OPT_HAS(o, STP_OPT_SOURCE)) {
		source = &o->source;
		if (source->atyp != ss->dst.atyp || stp_mcast_is_group(source) ||
		    stp_addr_is_zero(source)) {
			refuse(ss, STP_REP_MCAST_DENIED, "SOURCE is not a unicast address of the "
			       "group's family");
			return;
		}
	}
	if (dir & ~granted(s, &ss->dst)) {
		refuse(ss, STP_REP_MCAST_DENIED, "group not in --mcast-allow for this direction");
		return;
	}
	if (o && STP_OPT_HAS(o, STP_OPT_TTL))
		ttl = o->ttl;
	if (ttl > s->cfg.mcast_max_ttl)
		ttl = (int)s->cfg.mcast_max_ttl;
	ifindex = iface_index(s);
	if (ifindex < 0) {
		refuse(ss, STP_REP_NET_UNREACH, "--mcast-iface names no interface");
		return;
	}
	if (!s->mcast) {
		s->mcast = calloc(1, sizeof(struct mc_table));
		if (!s->mcast) {
			session_reply_error(ss, STP_REP_FAIL);
			return;
		}
		((struct mc_table *)s->mcast)->srv = s;
	}
	t = s->mcast;
	mb = calloc(1, sizeof(*mb));
	if (!mb) {
		if (t->users == 0) {
			free(t);
			s->mcast = NULL;
		}
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	t->users++;
	mb->ss = ss;
	mb->rfd = mb->sfd = -1;
	mb->dir = dir;
	mb->oq.max = MC_TCP_OUT_MAX;
	mb->tcp = o && STP_OPT_HAS(o, STP_OPT_TCP_DELIVERY);
	mb->group = ss->dst;
	mb->last = stp_loop_now(s->loop);
	/* from here on the session owns mb: its free releases everything */
	ss->cst = mb;
	ss->ops = &mcast_ops;
	if (stp_addr_from_sa(&mb->client, (const struct sockaddr *)&ss->peer) < 0 ||
	    !(mb->group_salen = stp_addr_to_sa(&mb->group, &mb->group_sa))) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	memset(&bnd, 0, sizeof(bnd));
	bnd.atyp = STP_ATYP_IPV4;
	if ((!mb->tcp && relay_socket(mb, &bnd) < 0) ||
	    ((dir & STP_MC_SEND) && send_socket(mb, ttl, ifindex) < 0) ||
	    ((dir & STP_MC_RECV) && group_join(t, mb, source, ifindex) < 0)) {
		char why[160];
		snprintf(why, sizeof(why), "join failed: %s", strerror(errno));
		stp_log(&s->cfg.log, STP_LOG_INFO, "mcast: %s", why);
		/* no route or interface for the group: the network is unreachable */
		session_reply_error(ss, errno == ENODEV || errno == EADDRNOTAVAIL ||
				    errno == ENETUNREACH ? STP_REP_NET_UNREACH
							 : stp_rep_from_errno(errno));
		return;
	}
	n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, NULL);
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
	arm_idle(mb);
	/* frames the client sent right after its request */
	if (mb->tcp && ss->inlen) {
		size_t n = ss->inlen;
		ss->inlen = 0;
		if (stp_framein_put(&mb->in, ss->in, n, frame_in, mb) < 0) {
			session_free(ss);
			return;
		}
	}
	if (mb->tcp && flush_tcp(mb) < 0)
		session_free(ss);
}
