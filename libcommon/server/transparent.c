/* transparent.c - transparent listeners, and the TCP half: a redirected
 * connection's original target, the loop check, the session
 * (transparent.h). The UDP flows are transparent_udp.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/server_priv.h"
#include "server/transparent.h"

/* <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> clash
 * with glibc's <netinet/in.h>; these are their values (kernel ABI). */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IP_RECVORIGDSTADDR
#define IP_RECVORIGDSTADDR 20
#endif
#ifndef IPV6_RECVORIGDSTADDR
#define IPV6_RECVORIGDSTADDR 74
#endif

/* Sets IP_TRANSPARENT (IPV6_TRANSPARENT) on fd of family fam. Returns 0,
 * or -1 with errno (EPERM without CAP_NET_ADMIN). */
static int set_transparent(int fd, int fam)
{
	int one = 1;

	if (fam == AF_INET6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
}

int transp_listen(const char *spec, bool udp, struct listener *l, struct stp_err *e)
{
	const char *opt = udp ? "--transparent-udp" : "--transparent";
	struct addrinfo hints = { .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[256], portstr[8];
	uint16_t port;
	int one = 1, fd, rc;

	if (stp_hostport_split(spec, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "%s", opt);
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s %s: %s", opt, spec, gai_strerror(rc));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = errno;
		freeaddrinfo(ai);
		return stp_err_set(e, STP_EXIT_FAIL, "%s %s: socket: %s", opt, spec, strerror(rc));
	}
	/* one listener per family (an IPv6 one takes no IPv4 flows), so that
	 * each family's original-destination option applies */
	if ((ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (set_transparent(fd, ai->ai_family) < 0) {
		/* redirect (TCP) works without; tproxy delivers nothing then */
		if (udp) {
			rc = errno;
			freeaddrinfo(ai);
			close(fd);
			return stp_err_set(e, STP_EXIT_FAIL, "%s %s: IP_TRANSPARENT: %s (tproxy needs "
					   "CAP_NET_ADMIN)", opt, spec, strerror(rc));
		}
	}
	if (udp && (ai->ai_family == AF_INET6
		    ? setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one))
		    : setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one))) < 0)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || (!udp && listen(fd, 4096) < 0))
		goto fail;
	freeaddrinfo(ai);
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->kind = udp ? LK_TUDP : LK_TTCP;
	l->len = sizeof(l->addr);
	if (getsockname(fd, (struct sockaddr *)&l->addr, &l->len) < 0) {
		rc = errno;
		close(fd);
		l->fd = -1;
		return stp_err_set(e, STP_EXIT_FAIL, "%s %s: getsockname: %s", opt, spec,
				   strerror(rc));
	}
	return 0;
fail:
	rc = errno;
	freeaddrinfo(ai);
	close(fd);
	return stp_err_set(e, STP_EXIT_FAIL, "%s %s: %s", opt, spec, strerror(rc));
}

/* True when addr (any port) is one of this host's addresses: binding it
 * without IP_TRANSPARENT works only then. */
static bool is_local(const struct sockaddr *addr)
{
	struct sockaddr_storage a;
	socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	int fd;
	bool ok;

	if (stp_sa_is_loopback(addr))
		return true;
	memcpy(&a, addr, len);
	stp_sa_set_port(&a, 0);
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, len) == 0;
	close(fd);
	return ok;
}

bool transp_is_self(const struct sockaddr *target, const struct sockaddr *la)
{
	struct stp_addr t, l;

	if (stp_sa_port(target) != stp_sa_port(la) ||
	    stp_addr_from_sa(&t, target) < 0 || stp_addr_from_sa(&l, la) < 0)
		return false;
	if (stp_addr_is_zero(&l))
		return is_local(target);  /* a wildcard listener is every local address */
	if (t.atyp != l.atyp)
		return false;
	return memcmp(t.u.v6, l.u.v6, t.atyp == STP_ATYP_IPV4 ? 4 : 16) == 0;
}

/* The target of accepted connection fd, into *out: the NAT's original
 * destination (redirect), else the socket's own local address (tproxy;
 * also what a connection that was never redirected gives). Returns 0, or
 * -1 with errno. */
static int original_dst(int fd, int fam, struct sockaddr_storage *out)
{
	socklen_t len = sizeof(*out);
	int rc;

	memset(out, 0, sizeof(*out));
	if (fam == AF_INET6)
		rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, &len);
	else
		rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, &len);
	/* ENOENT: no NAT entry; ENOPROTOOPT: no conntrack in this kernel */
	if (rc == 0 && out->ss_family == fam)
		return 0;
	len = sizeof(*out);
	return getsockname(fd, (struct sockaddr *)out, &len);
}

void transp_accept(struct stp_server *s, const struct listener *l, int cfd,
		   const struct sockaddr_storage *peer)
{
	struct sockaddr_storage dst;
	struct stp_addr a;
	char who[STP_ADDRSTRLEN], to[STP_ADDRSTRLEN];

	if (original_dst(cfd, l->addr.ss_family, &dst) < 0 ||
	    stp_addr_from_sa(&a, (const struct sockaddr *)&dst) < 0) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "transparent: connection from %s: no target: %s",
			stp_sa_str((const struct sockaddr *)peer, who, sizeof(who)), strerror(errno));
		close(cfd);
		return;
	}
	if (transp_is_self((const struct sockaddr *)&dst, (const struct sockaddr *)&l->addr)) {
		/* proxied, it would come back here, again and again */
		stp_log(&s->cfg.log, STP_LOG_INFO, "transparent: connection from %s to %s was not "
			"redirected (its target is this listener): closed",
			stp_sa_str((const struct sockaddr *)peer, who, sizeof(who)),
			stp_sa_str((const struct sockaddr *)&dst, to, sizeof(to)));
		close(cfd);
		return;
	}
	session_open_transparent(s, cfd, peer, &a, false);
}
