/* egress.c - the source address and interface of outgoing sockets. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
#include "proto/addr.h"
#include "server/egress.h"
#include "server/server_priv.h"

/* IP_BIND_ADDRESS_NO_PORT is Linux 4.2; older headers lack the name */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int egress_iface(struct session *ss, int fd)
{
	const struct stp_server_cfg *c = &ss->srv->cfg;

	if (c->egress_iface[0] &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->egress_iface,
		       (socklen_t)strlen(c->egress_iface)) < 0)
		return -1;
	return 0;
}

bool egress_source(struct session *ss, int fam, struct sockaddr_storage *out)
{
	const struct stp_server_cfg *c = &ss->srv->cfg;

	/* the deciding rule's address first, then the option's */
	if (!session_rule_egress(ss, fam, out)) {
		const struct sockaddr_storage *g = &c->egress[fam == AF_INET ? 0 : 1];
		if (g->ss_family != fam)
			return false;
		*out = *g;
	}
	stp_sa_set_port(out, 0);
	return true;
}

int egress_prepare(struct session *ss, int fd, int fam, bool stream)
{
	struct sockaddr_storage src;
	int on = 1;

	if (egress_iface(ss, fd) < 0)
		return -1;
	if (!egress_source(ss, fam, &src))
		return 0;
	/* best effort: without it bind takes a port now, which still works */
	if (stream)
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&src, fam == AF_INET ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6)) < 0)
		return -1;
	return 1;
}

int egress_connect_start(struct session *ss, const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (egress_prepare(ss, fd, sa->sa_family, true) < 0)
		goto fail;
	stp_set_nodelay(fd);
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	return stp_close_keep_errno(fd);
}
