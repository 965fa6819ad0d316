/* preload.c - connect() and getpeername() of the wrapped program (wrap.h).
 * Loopback, unspecified and link-local targets, and sockets other than TCP
 * and UDP over IPv4/IPv6, go to the real libc untouched; UDP is udp.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/placeholder.h"
#include "proto/wrapdirect.h"
#include "wrap/wrap.h"

#define EXPORT __attribute__((visibility("default")))

/* The target each proxied socket asked for, so that getpeername() shows it
 * rather than the agent or the proxy (fds beyond the table show them),
 * and the peer the socket really had then: an fd closed and used again
 * for another connection has another. */
#define PEERS 4096
static struct {
	struct sockaddr_in6 sa;   /* large enough for either family */
	socklen_t len;
	struct sockaddr_in6 via;
	socklen_t vialen;
} peers[PEERS];

/* Whether the IPv4 address a (network order) is one to reach directly. */
static bool direct4(const void *a)
{
	uint32_t v = ntohl(*(const uint32_t *)a);
	return (v >> 24) == 127 || v == 0 || (v >> 16) == 0xA9FE;   /* loopback, any, link-local */
}

bool wrap_target(int fd, int want, const struct sockaddr *sa, socklen_t len, uint8_t *atyp,
		 const void **addr, uint16_t *port)
{
	int type = 0;
	socklen_t tl = sizeof(type);

	if (!sa || !wrap_on())
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		if (direct4(&s->sin_addr))
			return false;
		*atyp = 1;
		*addr = &s->sin_addr;
		*port = ntohs(s->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			if (direct4(&s->sin6_addr.s6_addr[12]))
				return false;
			*atyp = 1;
			*addr = &s->sin6_addr.s6_addr[12];
		} else {
			if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ||
			    IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr) ||
			    IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
				return false;
			*atyp = 4;
			*addr = &s->sin6_addr;
		}
		*port = ntohs(s->sin6_port);
	} else {
		return false;
	}
	/* raw sockets keep their own way */
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == want;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint8_t atyp;
	const void *addr;
	uint16_t port;

	if (!wrap_target(fd, SOCK_STREAM, sa, len, &atyp, &addr, &port)) {
		int r;
		if (!wrap_real.connect)
			return errno = ENOSYS, -1;
		if (fd >= 0 && fd < PEERS)
			peers[fd].len = 0;   /* its own peer from now on */
		if (wrap_udp_connect(fd, sa, len, &r))
			return r;
		return wrap_real.connect(fd, sa, len);
	}
	/* the library itself where the chain is one plain proxy; else the
	 * Unix door: the agent connects this very socket through the chain,
	 * and stays off its data path; else the agent relays */
	char name[256];
	uint32_t ph = stp_ph_number(atyp == 1 ? AF_INET : AF_INET6, addr);
	const char *kn = ph ? wrap_kept_name(ph, name, sizeof(name)) : NULL;
	struct sockaddr_storage p;
	socklen_t pl = sizeof(p);
	/* connect() again on a connected socket (the way some programs ask
	 * how a non-blocking one went) is answered as a direct socket's is,
	 * not with a second handshake in its stream */
	if (wrap_real.getpeername(fd, (struct sockaddr *)&p, &pl) == 0)
		return errno = EISCONN, -1;
	int rep = ph && !kn ? STP_WRAP_REP_RELAY :
		  wrap_fast_connect(fd, sa->sa_family, atyp, addr, kn, port);
	if (rep == STP_WRAP_REP_RELAY)
		rep = wrap_handoff(fd, atyp, addr, port);
	if (rep == STP_WRAP_REP_RELAY)
		rep = wrap_request(fd, sa->sa_family, 0x01, atyp, addr, NULL, port, NULL, NULL,
				   0);
	if (rep < 0)
		return errno == EPROTO ? (errno = ECONNREFUSED, -1) : -1;
	if (rep > 0)
		return errno = wrap_errno(rep), -1;
	if (fd >= 0 && fd < PEERS) {
		memcpy(&peers[fd].sa, sa, len < sizeof(peers[fd].sa) ? len : sizeof(peers[fd].sa));
		peers[fd].len = len < sizeof(peers[fd].sa) ? len : sizeof(peers[fd].sa);
		peers[fd].vialen = sizeof(peers[fd].via);
		if (wrap_real.getpeername(fd, (struct sockaddr *)&peers[fd].via,
					  &peers[fd].vialen) < 0)
			peers[fd].len = 0;
	}
	return 0;
}

EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_storage real;
	socklen_t rl = sizeof(real);

	wrap_on();
	if (!wrap_real.getpeername)
		return errno = ENOSYS, -1;
	if (wrap_udp_peer(fd, sa, len))
		return 0;
	if (fd < 0 || fd >= PEERS || !peers[fd].len || !sa || !len ||
	    wrap_real.getpeername(fd, (struct sockaddr *)&real, &rl) < 0 ||
	    rl != peers[fd].vialen || memcmp(&real, &peers[fd].via, rl) != 0)
		return wrap_real.getpeername(fd, sa, len);
	memcpy(sa, &peers[fd].sa, *len < peers[fd].len ? *len : peers[fd].len);
	*len = peers[fd].len;
	return 0;
}
