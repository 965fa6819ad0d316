/* udp.c - UDP of the wrapped program (wrap.h): one UDP ASSOCIATE per
 * socket, held by the agent.
 *
 * The program's datagrams keep their bytes: the agent gives each
 * destination of a socket a loopback port of its own, which stands for
 * it. sendto(D) becomes sendto(the port of D); a datagram from that port
 * is D's answer, and recvfrom()/recvmsg() say it came from D. A connect()ed
 * socket is really connected to the port of its target, so send(),
 * write(), recv() and read() need nothing from here, and poll/epoll see
 * the program's own socket. The association lives on a TCP connection to
 * the agent, closed with the socket.
 *
 * A destination the agent says goes direct (a --config route, NO_PROXY)
 * is sent to from the program's socket itself, at the address the agent
 * answered (the same one, or what a placeholder's name resolved to); its
 * answers come straight to the socket, from that address, and recvfrom()
 * says they came from what the program named. One socket may talk to
 * both kinds. (A socket that names one direct address both by a name and
 * literally gets its answers as from the one it named first.) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/v4mapped.h"
#include "proto/wrapdirect.h"
#include "wrap/wrap.h"

#define EXPORT __attribute__((visibility("default")))

#define UDP_FDS 4096    /* sockets beyond this table go out unwrapped */
#define UDP_DESTS 64    /* destinations per socket */

struct dest {
	struct sockaddr_in6 to;   /* what the program names (either family) */
	socklen_t tolen;
	uint16_t lport;           /* the agent's loopback port for it (0: direct) */
	struct sockaddr_in6 real; /* a direct one's address, in to's family */
	socklen_t reallen;
};

struct usock {
	ino_t ino;                /* the socket this entry is for: fds are reused */
	int ctl;                  /* the association's TCP connection to the agent */
	int af;
	int connected;            /* index in d of connect()'s target, or -1 */
	int n;
	struct dest d[UDP_DESTS];
};

static struct usock *socks[UDP_FDS];
/* held while a destination is added (one round trip to the agent) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static ino_t inode(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* The entry of fd if it is still the same socket, else NULL (and a stale
 * one is dropped). Called with mu held. */
static struct usock *find(int fd)
{
	struct usock *u;

	if (fd < 0 || fd >= UDP_FDS || !(u = socks[fd]))
		return NULL;
	if (u->ino == inode(fd))
		return u;
	wrap_real.close(u->ctl);
	free(u);
	socks[fd] = NULL;
	return NULL;
}

static bool same(const struct sockaddr *a, socklen_t alen, const struct sockaddr_in6 *b,
		 socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* The agent's port for a destination to, as the socket (family af) can
 * reach it: ::1 for an IPv6 target (the socket may be IPv6-only), else
 * 127.0.0.1, v4-mapped on an IPv6 socket. The agent binds the same. */
static socklen_t local(int af, const struct sockaddr_in6 *to, uint16_t port,
		       struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (to->sin6_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&to->sin6_addr)) {
			s->sin6_addr = in6addr_loopback;
		} else {
			s->sin6_addr.s6_addr[10] = s->sin6_addr.s6_addr[11] = 0xff;
			s->sin6_addr.s6_addr[12] = 127;
			s->sin6_addr.s6_addr[15] = 1;
		}
		return sizeof(*s);
	}
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*s);
}

/* A direct destination's address (reply address type ratyp, raddr, port)
 * as a socket of family af sends to it, into d. Returns 0, or -1 with errno. */
static int direct_addr(struct dest *d, int af, uint8_t ratyp, const uint8_t *raddr, uint16_t port)
{
	memset(&d->real, 0, sizeof(d->real));
	if (af == AF_INET6) {
		d->real.sin6_family = AF_INET6;
		d->real.sin6_port = htons(port);
		if (ratyp == 4)
			memcpy(&d->real.sin6_addr, raddr, 16);
		else
			stp_v4_mapped(&d->real, raddr, htons(port));
		d->reallen = sizeof(struct sockaddr_in6);
		return 0;
	}
	if (ratyp != 1)
		return errno = EAFNOSUPPORT, -1;
	struct sockaddr_in *s = (struct sockaddr_in *)&d->real;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	memcpy(&s->sin_addr, raddr, 4);
	d->reallen = sizeof(*s);
	return 0;
}

/* The index of sa's destination on fd, asking the agent for it when new.
 * Returns -1 with errno (and *rep the agent's refusal, else 0). */
static int dest_of(int fd, const struct sockaddr *sa, socklen_t len, uint8_t atyp,
		   const void *addr, uint16_t port, struct usock **up)
{
	struct usock *u = find(fd);
	uint16_t lport;
	uint8_t ratyp, raddr[16];
	int rep;
	bool fresh = false;

	for (int i = 0; u && i < u->n; i++)
		if (same(sa, len, &u->d[i].to, u->d[i].tolen))
			return *up = u, i;
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -1;
		u->ino = inode(fd);
		u->af = sa->sa_family;
		u->connected = -1;
		u->ctl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (u->ctl < 0) {
			free(u);
			return -1;
		}
		fresh = true;
	} else if (u->n == UDP_DESTS) {
		return errno = ENOBUFS, -1;
	}
	rep = wrap_udp_request(u->ctl, fresh, atyp, addr, port, &lport, &ratyp, raddr);
	struct dest *d = &u->d[u->n];
	int err = rep < 0 ? errno : wrap_errno(rep);
	if (rep == STP_WRAP_REP_DIRECT)
		rep = direct_addr(d, sa->sa_family, ratyp, raddr, lport) < 0 ? -1 : 0, err = errno;
	if (rep != 0) {
		if (fresh) {
			wrap_real.close(u->ctl);
			free(u);
		}
		return errno = err, -1;
	}
	if (fresh)
		socks[fd] = u;
	memset(&d->to, 0, sizeof(d->to));
	memcpy(&d->to, sa, len < sizeof(d->to) ? len : sizeof(d->to));
	d->tolen = len < sizeof(d->to) ? len : sizeof(d->to);
	d->lport = d->reallen ? 0 : lport;
	*up = u;
	return u->n++;
}

/* Where a datagram to sa goes: the agent's port for it when fd is a UDP
 * socket and sa a proxied target (returns 1, or -1 with errno), else 0
 * (send as given). */
static int redirect(int fd, const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *to,
		    socklen_t *tolen)
{
	uint8_t atyp;
	const void *addr;
	uint16_t port;
	struct usock *u;
	int i;

	if (fd < 0 || fd >= UDP_FDS || !wrap_target(fd, SOCK_DGRAM, sa, len, &atyp, &addr, &port))
		return 0;
	pthread_mutex_lock(&mu);
	i = dest_of(fd, sa, len, atyp, addr, port, &u);
	if (i >= 0 && u->d[i].reallen) {
		memcpy(to, &u->d[i].real, u->d[i].reallen);
		*tolen = u->d[i].reallen;
	} else if (i >= 0) {
		*tolen = local(u->af, &u->d[i].to, u->d[i].lport, to);
	}
	pthread_mutex_unlock(&mu);
	return i < 0 ? -1 : 1;
}

/* Whether from (fromlen bytes) is a's address and port. */
static bool same_source(const struct sockaddr *from, socklen_t fromlen,
			const struct sockaddr_in6 *a, socklen_t alen)
{
	if (from->sa_family != a->sin6_family || fromlen < alen)
		return false;
	if (from->sa_family == AF_INET) {
		const struct sockaddr_in *f = (const struct sockaddr_in *)from;
		const struct sockaddr_in *b = (const struct sockaddr_in *)a;
		return f->sin_port == b->sin_port && f->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *f = (const struct sockaddr_in6 *)from;
	return f->sin6_port == a->sin6_port &&
	       memcmp(&f->sin6_addr, &a->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

/* Whether a is where the agent's ports are for an IPv6 socket: ::1 or
 * ::ffff:127.0.0.1 (local()). Any other v4-mapped source is a direct
 * destination's (or a stranger's), whatever its port. */
static bool agent6(const struct in6_addr *a)
{
	static const uint8_t lo4[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };

	return IN6_IS_ADDR_LOOPBACK(a) || memcmp(a, lo4, sizeof(lo4)) == 0;
}

/* A datagram's source as the program must see it: the destination an
 * agent port, or a direct destination's address, stands for. */
static void unredirect(int fd, struct sockaddr *from, socklen_t *fromlen)
{
	uint16_t port = 0;
	struct usock *u;

	if (!from || !fromlen || fd < 0 || fd >= UDP_FDS || !socks[fd])
		return;
	if (from->sa_family == AF_INET && *fromlen >= sizeof(struct sockaddr_in) &&
	    ((struct sockaddr_in *)from)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
		port = ntohs(((struct sockaddr_in *)from)->sin_port);
	else if (from->sa_family == AF_INET6 && *fromlen >= sizeof(struct sockaddr_in6) &&
		 agent6(&((struct sockaddr_in6 *)from)->sin6_addr))
		port = ntohs(((struct sockaddr_in6 *)from)->sin6_port);
	pthread_mutex_lock(&mu);
	u = find(fd);
	for (int i = 0; u && i < u->n; i++) {
		struct dest *d = &u->d[i];
		if (d->reallen ? !same_source(from, *fromlen, &d->real, d->reallen)
			       : !port || d->lport != port)
			continue;
		socklen_t n = *fromlen < d->tolen ? *fromlen : d->tolen;
		memcpy(from, &d->to, n);
		*fromlen = d->tolen;
		break;
	}
	pthread_mutex_unlock(&mu);
}

bool wrap_udp_connect(int fd, const struct sockaddr *sa, socklen_t len, int *r)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int k = redirect(fd, sa, len, &to, &tolen);

	if (k == 0)
		return false;
	*r = k < 0 ? -1 : wrap_real.connect(fd, (struct sockaddr *)&to, tolen);
	if (*r == 0) {
		pthread_mutex_lock(&mu);
		struct usock *u = find(fd);
		for (int i = 0; u && i < u->n; i++)
			if (same(sa, len, &u->d[i].to, u->d[i].tolen))
				u->connected = i;
		pthread_mutex_unlock(&mu);
	}
	return true;
}

bool wrap_udp_peer(int fd, struct sockaddr *sa, socklen_t *len)
{
	bool found = false;

	if (!sa || !len || fd < 0 || fd >= UDP_FDS || !socks[fd])
		return false;
	pthread_mutex_lock(&mu);
	struct usock *u = find(fd);
	if (u && u->connected >= 0) {
		struct dest *d = &u->d[u->connected];
		memcpy(sa, &d->to, *len < d->tolen ? *len : d->tolen);
		*len = d->tolen;
		found = true;
	}
	pthread_mutex_unlock(&mu);
	return found;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
		      socklen_t len)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int k;

	wrap_on();
	if (!wrap_real.sendto)
		return errno = ENOSYS, -1;
	k = redirect(fd, sa, len, &to, &tolen);
	if (k < 0)
		return -1;
	if (k > 0)
		return wrap_real.sendto(fd, buf, n, flags, (struct sockaddr *)&to, tolen);
	return wrap_real.sendto(fd, buf, n, flags, sa, len);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int k;

	wrap_on();
	if (!wrap_real.sendmsg)
		return errno = ENOSYS, -1;
	k = redirect(fd, msg->msg_name, msg->msg_namelen, &to, &tolen);
	if (k < 0)
		return -1;
	if (k == 0)
		return wrap_real.sendmsg(fd, msg, flags);
	struct msghdr m = *msg;
	m.msg_name = &to;
	m.msg_namelen = tolen;
	return wrap_real.sendmsg(fd, &m, flags);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags)
{
	unsigned int i;

	wrap_on();
	if (!wrap_real.sendmmsg)
		return errno = ENOSYS, -1;
	/* unredirected batches (the common case) go out as one call */
	for (i = 0; i < vlen; i++) {
		uint8_t atyp;
		const void *addr;
		uint16_t port;
		if (v[i].msg_hdr.msg_name &&
		    wrap_target(fd, SOCK_DGRAM, v[i].msg_hdr.msg_name, v[i].msg_hdr.msg_namelen,
				&atyp, &addr, &port))
			break;
	}
	if (i == vlen)
		return wrap_real.sendmmsg(fd, v, vlen, flags);
	for (i = 0; i < vlen; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0)
			return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
	}
	return (int)vlen;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
			socklen_t *fromlen)
{
	wrap_on();
	if (!wrap_real.recvfrom)
		return errno = ENOSYS, -1;
	ssize_t r = wrap_real.recvfrom(fd, buf, n, flags, from, fromlen);
	if (r >= 0)
		unredirect(fd, from, fromlen);
	return r;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	wrap_on();
	if (!wrap_real.recvmsg)
		return errno = ENOSYS, -1;
	ssize_t r = wrap_real.recvmsg(fd, msg, flags);
	if (r >= 0)
		unredirect(fd, msg->msg_name, &msg->msg_namelen);
	return r;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags,
		    struct timespec *timeout)
{
	wrap_on();
	if (!wrap_real.recvmmsg)
		return errno = ENOSYS, -1;
	int r = wrap_real.recvmmsg(fd, v, vlen, flags, timeout);
	for (int i = 0; i < r; i++)
		unredirect(fd, v[i].msg_hdr.msg_name, &v[i].msg_hdr.msg_namelen);
	return r;
}

/* The association ends with its socket. */
EXPORT int close(int fd)
{
	/* no wrap_on() here: the loader may close files while load() runs,
	 * and there is no entry before it has */
	if (fd >= 0 && fd < UDP_FDS && __atomic_load_n(&socks[fd], __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&mu);
		struct usock *u = socks[fd];
		if (u) {
			wrap_real.close(u->ctl);
			free(u);
			socks[fd] = NULL;
		}
		pthread_mutex_unlock(&mu);
	}
	return wrap_real.close ? wrap_real.close(fd) : (int)syscall(SYS_close, fd);
}
