/* egress.h - the source of what stp-serve sends out (SPEC §3.6): the
 * address a session's rule names ("egress"), else --egress for the
 * target's family, and --egress-interface (SO_BINDTODEVICE), for CONNECT's
 * connections, the datagrams of UDP ASSOCIATE, UDP_BIND and MCAST, and
 * the connections and datagrams to --upstream proxies. */
#ifndef STP_EGRESS_H
#define STP_EGRESS_H

#include <stdbool.h>
#include <sys/socket.h>

struct session;

/* Binds fd (a fresh socket of family fam, stream: TCP) to the session's
 * egress: the interface, then the source address with port 0 (TCP: with
 * IP_BIND_ADDRESS_NO_PORT, so that the port is chosen at connect for the
 * whole 4-tuple and a busy source address does not run out of ports).
 * Returns 1 when fd was bound to an address, 0 when there is none to
 * bind to (the interface may still have been set), -1 with errno. */
int egress_prepare(struct session *ss, int fd, int fam, bool stream);

/* The session's egress address of family fam (port 0) into *out: true,
 * or false when there is none. */
bool egress_source(struct session *ss, int fam, struct sockaddr_storage *out);
/* --egress-interface on fd, when set. Returns 0, or -1 with errno. */
int egress_iface(struct session *ss, int fd);

/* stp_connect_start (sock.h) from the session's egress. Returns the fd
 * with the connect under way (or done), or -1 with errno. */
int egress_connect_start(struct session *ss, const struct sockaddr *sa, socklen_t len);

#endif
