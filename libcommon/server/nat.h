/* nat.h - stp-serve behind NAT or DNAT (SPEC §3.6): --advertise puts the
 * public address in every reply that names a relay or listener (BIND,
 * BIND_MULTI, UDP ASSOCIATE, UDP_BIND, MCAST) instead of the local one,
 * and --udp-ports keeps the relay ports in a range a firewall can open.
 * The option parsers are shared with --egress (egress.h). */
#ifndef STP_NAT_H
#define STP_NAT_H

#include <stdbool.h>
#include <sys/socket.h>
#include "proto/err.h"
#include "proto/socks.h"

struct session;
struct stp_server_cfg;

/* One numeric address per family into slot[0] (IPv4) or slot[1] (IPv6),
 * port 0. A second one of the same family, a name, a port or the
 * unspecified address is a usage error naming where. Returns 0 or -1. */
int stp_nat_family_addr(struct sockaddr_storage slot[2], const char *where, const char *val,
			struct stp_err *e);
/* "MIN-MAX" or one "PORT" (1-65535). Returns 0 or -1 with e (usage). */
int stp_nat_ports_parse(const char *where, const char *val, long *min, long *max,
			struct stp_err *e);
/* An interface name (1..cap-1 bytes, no '/' or space) copied into out.
 * Returns 0 or -1 with e (usage). */
int stp_nat_iface_parse(const char *where, const char *val, char *out, size_t cap,
			struct stp_err *e);

/* Replaces a's host with --advertise's address of its family (IPv4 also
 * for a v4-mapped one), keeping the port; a without one stays. */
void nat_advertise(const struct stp_server_cfg *c, struct stp_addr *a);

/* Binds fd (a UDP socket) to sa's address with a port from --udp-ports,
 * tried from a random start so that sessions do not race for the same
 * one; without --udp-ports, to sa as it is. Returns 0, or -1 with errno:
 * EADDRINUSE when every port of the range is taken (logged for ss). */
int nat_udp_bind(struct session *ss, int fd, struct sockaddr_storage *sa, socklen_t len);

#endif
