/* transparent.c - transparent listeners, and the TCP half: a redirected
 * connection's original target, the loop check, the session
 * (transparent.h). The UDP flows are transparent_udp.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
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

/* One transparent socket of family fam on sa (TCP listening, or UDP),
 * with what the kind needs: IPV6_V6ONLY, SO_REUSEADDR, SO_REUSEPORT when
 * several workers share the address, IP_TRANSPARENT (required for UDP:
 * tproxy only; TCP's redirect works without) and, for UDP, the option
 * that names each datagram's original target. Returns the fd, or -1 with
 * errno and *step naming what failed. */
static int transp_socket(const struct sockaddr *sa, socklen_t len, bool udp, bool reuseport,
			 const char **step)
{
	int one = 1, fd;
	int fam = sa->sa_family;

	*step = "socket";
	fd = socket(fam, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	*step = NULL;
	/* one listener per family (an IPv6 one takes no IPv4 flows), so that
	 * each family's original-destination option applies */
	if ((fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
		goto fail;
	if (set_transparent(fd, fam) < 0 && udp) {
		/* redirect (TCP) works without; tproxy delivers nothing then */
		*step = "IP_TRANSPARENT";
		goto fail;
	}
	if (udp && (fam == AF_INET6
		    ? setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one))
		    : setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one))) < 0)
		goto fail;
	if (bind(fd, sa, len) < 0 || (!udp && listen(fd, 4096) < 0))
		goto fail;
	return fd;
fail:
	return stp_close_keep_errno(fd);
}

/* The message of a transp_socket failure (errno, *step) into e. */
static int socket_err(struct stp_err *e, const char *opt, const char *spec, const char *step)
{
	int rc = errno;

	if (step && strcmp(step, "IP_TRANSPARENT") == 0)
		return stp_err_set(e, STP_EXIT_FAIL, "%s %s: IP_TRANSPARENT: %s (tproxy needs "
				   "CAP_NET_ADMIN)", opt, spec, strerror(rc));
	if (step)
		return stp_err_set(e, STP_EXIT_FAIL, "%s %s: %s: %s", opt, spec, step, strerror(rc));
	return stp_err_set(e, STP_EXIT_FAIL, "%s %s: %s", opt, spec, strerror(rc));
}

int transp_listen(const char *spec, bool udp, int nworkers, struct listener *l,
		  struct stp_err *e)
{
	const char *opt = udp ? "--transparent-udp" : "--transparent";
	struct addrinfo hints = { .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	const char *step;
	char host[256], portstr[8];
	uint16_t port;
	int fd, rc;

	if (stp_hostport_split(spec, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "%s", opt);
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s %s: %s", opt, spec, gai_strerror(rc));
	fd = transp_socket(ai->ai_addr, ai->ai_addrlen, udp, nworkers > 1, &step);
	freeaddrinfo(ai);
	if (fd < 0)
		return socket_err(e, opt, spec, step);
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
	if (nworkers <= 1)
		return 0;
	/* --workers: one socket per worker on the bound address (port 0 is
	 * chosen by now), as for the proxy listeners (server.c): the kernel
	 * spreads connections, and UDP flows by their addresses' hash, over
	 * the workers; the supervisor holds them all, so that a worker
	 * started again finds its own and the group never changes */
	if (!(l->wfd = malloc((size_t)nworkers * sizeof(int)))) {
		close(fd);
		l->fd = -1;
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	}
	l->wfd[0] = fd;
	for (int k = 1; k < nworkers; k++)
		l->wfd[k] = -1;
	for (int k = 1; k < nworkers; k++) {
		if ((l->wfd[k] = transp_socket((const struct sockaddr *)&l->addr, l->len, udp, true,
					       &step)) >= 0)
			continue;
		socket_err(e, opt, spec, step);
		for (int j = 0; j < k; j++)  /* wfd[0] is fd */
			close(l->wfd[j]);
		free(l->wfd);
		l->wfd = NULL;
		l->fd = -1;
		return -1;
	}
	return 0;
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

void transp_accept(struct stp_server *s, int lidx, int cfd, const struct sockaddr_storage *peer)
{
	const struct listener *l = &s->ls[lidx];
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
	session_open_transparent(s, cfd, peer, &a, false, lidx);
}
