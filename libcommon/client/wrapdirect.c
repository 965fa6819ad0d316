/* wrapdirect.c - UDP destinations of a wrapped program that go direct
 * (wrapdirect.h). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/wrapdirect.h"
#include "core/evloop.h"
#include "core/msg.h"
#include "core/sock.h"
#include "proto/noproxy.h"
#include "proto/wrapdirect.h"

#define REPLY_TIMEOUT_MS 10000

int stp_wrap_udp_route(const struct stp_clientopts *co, bool per_target, const char *host,
		       struct stp_err *e)
{
	if (!per_target) {
		const char *np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
		return np && stp_noproxy_match(np, host) ? 1 : 0;
	}
	/* the route is judged on a copy: finishing fills its hops */
	struct stp_clientopts *c = malloc(sizeof(*c));
	int r;

	if (!c)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	*c = *co;
	r = stp_clientopts_finish(c, host, e);
	stp_clientopts_wipe(c);
	free(c);
	return r < 0 ? -1 : r == 1;
}

/* The address host names, numeric or by the local resolver. af is the
 * family the program named it in: AF_INET takes IPv4 only (its socket can
 * send nowhere else); AF_INET6 takes an IPv6 address when there is one,
 * as a direct IPv6 socket's own lookup would, whatever order the resolver
 * sorts them in (gai.conf may put IPv4 first), else IPv4, which the
 * library sends to v4-mapped. One lookup of either family: a name the
 * hosts file knows asks no DNS. Returns 0 with *atyp (1, 4) and a (4 or
 * 16 bytes), or -1. */
static int address(const char *host, int af, uint8_t *atyp, uint8_t *a)
{
	struct addrinfo hints = { .ai_family = af == AF_INET ? AF_INET : AF_UNSPEC,
				  .ai_socktype = SOCK_DGRAM }, *res = NULL;
	const struct addrinfo *v4 = NULL, *v6 = NULL;

	if (inet_pton(AF_INET, host, a) == 1)
		return *atyp = 1, 0;
	if (inet_pton(AF_INET6, host, a) == 1)
		return *atyp = 4, 0;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return -1;
	for (const struct addrinfo *i = res; i; i = i->ai_next) {
		if (i->ai_family == AF_INET && !v4)
			v4 = i;
		else if (i->ai_family == AF_INET6 && !v6 && af == AF_INET6)
			v6 = i;
	}
	if (v6) {
		memcpy(a, &((const struct sockaddr_in6 *)v6->ai_addr)->sin6_addr, 16);
		*atyp = 4;
	} else if (v4) {
		memcpy(a, &((const struct sockaddr_in *)v4->ai_addr)->sin_addr, 4);
		*atyp = 1;
	}
	freeaddrinfo(res);
	return v4 || v6 ? 0 : -1;
}

int stp_wrap_udp_direct(int ctl, const char *host, uint16_t port, int af,
			const struct stp_log *lg)
{
	uint8_t b[22] = { 5, STP_WRAP_REP_DIRECT, 0, 1 }, atyp;
	size_t n = 4;

	if (address(host, af, &atyp, b + 4) < 0) {
		stp_log(lg, STP_LOG_DEBUG, "wrap: udp to %s: routed direct, and it does not "
			"resolve here", host);
		static const uint8_t unreach[10] = { 5, 4, 0, 1 };
		return stp_write_all(ctl, unreach, sizeof(unreach),
				     stp_clock_ms() + REPLY_TIMEOUT_MS);
	}
	b[3] = atyp;
	n += atyp == 1 ? 4 : 16;
	b[n++] = (uint8_t)(port >> 8);
	b[n++] = (uint8_t)port;
	stp_log(lg, STP_LOG_DEBUG, "wrap: udp to %s:%u goes direct", host, port);
	return stp_write_all(ctl, b, n, stp_clock_ms() + REPLY_TIMEOUT_MS);
}
