/* nat.c - --advertise and --udp-ports (nat.h). */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/opts.h"
#include "proto/addr.h"
#include "server/nat.h"
#include "server/server_priv.h"

int stp_nat_family_addr(struct sockaddr_storage slot[2], const char *where, const char *val,
			struct stp_err *e)
{
	struct sockaddr_storage sa;
	socklen_t len;
	struct stp_addr a;
	int i;

	if (stp_sa_from_numeric(&sa, &len, val, 0) < 0 ||
	    stp_addr_from_sa(&a, (struct sockaddr *)&sa) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected an IPv4 or IPv6 address "
				   "(no name, no port), not '%s'", where, val);
	if (stp_addr_is_zero(&a))
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s' is the unspecified address, not "
				   "one of this host's", where, val);
	/* a v4-mapped literal is an IPv4 address */
	if (stp_addr_to_sa(&a, &sa) == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s' is not usable", where, val);
	i = a.atyp == STP_ATYP_IPV4 ? 0 : 1;
	if (slot[i].ss_family)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: a second %s address ('%s'): one per "
				   "address family", where, i ? "IPv6" : "IPv4", val);
	slot[i] = sa;
	return 0;
}

int stp_nat_ports_parse(const char *where, const char *val, long *min, long *max,
			struct stp_err *e)
{
	const char *dash = strchr(val, '-');
	char lo[8];
	size_t n = dash ? (size_t)(dash - val) : 0;
	long a, b;

	if (dash && n > 0 && n < sizeof(lo)) {
		memcpy(lo, val, n);
		lo[n] = '\0';
	}
	if (dash ? n == 0 || n >= sizeof(lo) || stp_parse_long(lo, 1, 65535, &a, where, e) < 0 ||
		   stp_parse_long(dash + 1, 1, 65535, &b, where, e) < 0
		 : stp_parse_long(val, 1, 65535, &a, where, e) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected MIN-MAX (ports 1-65535), "
				   "not '%s'", where, val);
	if (!dash)
		b = a;
	if (a > b)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %ld is above %ld in '%s'", where, a, b,
				   val);
	*min = a;
	*max = b;
	return 0;
}

int stp_nat_iface_parse(const char *where, const char *val, char *out, size_t cap,
			struct stp_err *e)
{
	size_t n = strlen(val);

	if (n == 0 || n >= cap || strpbrk(val, "/ \t\n:") || strcmp(val, ".") == 0 ||
	    strcmp(val, "..") == 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: expected an interface name (1-%zu "
				   "bytes, no '/', ':' or space), not '%.40s'", where, cap - 1, val);
	memcpy(out, val, n + 1);
	return 0;
}

void nat_advertise(const struct stp_server_cfg *c, struct stp_addr *a)
{
	struct sockaddr_storage sa;
	uint16_t port = a->port;
	int i;

	/* v4-mapped becomes IPv4 on the way through a sockaddr */
	if (a->atyp == STP_ATYP_NAME || stp_addr_to_sa(a, &sa) == 0 ||
	    stp_addr_from_sa(a, (struct sockaddr *)&sa) < 0)
		return;
	a->port = port;
	i = a->atyp == STP_ATYP_IPV4 ? 0 : 1;
	if (!c->advertise[i].ss_family || stp_addr_from_sa(a, (const struct sockaddr *)
							   &c->advertise[i]) < 0)
		return;
	a->port = port;
}

int nat_udp_bind(struct session *ss, int fd, struct sockaddr_storage *sa, socklen_t len)
{
	const struct stp_server_cfg *c = &ss->srv->cfg;
	long min = c->udp_port_min, max = c->udp_port_max, n = max - min + 1;
	uint32_t start;

	if (min <= 0)
		return bind(fd, (struct sockaddr *)sa, len);
	if (RAND_bytes((unsigned char *)&start, sizeof(start)) != 1)
		start = (uint32_t)fd;
	/* at most one bind per port of the range (65535) */
	for (long i = 0; i < n; i++) {
		stp_sa_set_port(sa, (uint16_t)(min + (long)((start + (uint32_t)i) % (uint32_t)n)));
		if (bind(fd, (struct sockaddr *)sa, len) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -1;
	}
	stp_log(&c->log, STP_LOG_WARN, "udp: no free port in --udp-ports %ld-%ld: all %ld in "
		"use; %s refused", min, max, n, ss->cmd == STP_CMD_MCAST ? "MCAST"
		: ss->cmd == STP_CMD_UDP_BIND ? "UDP_BIND" : "UDP ASSOCIATE");
	errno = EADDRINUSE;
	return -1;
}
