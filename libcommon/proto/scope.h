/* scope.h - how far an address reaches (loopback, link, a private network,
 * the world), and whether a relay address a proxy names in a reply (BIND,
 * UDP ASSOCIATE, UDP_BIND, MCAST) can be reached by a client that reached
 * the proxy itself at another address: behind NAT a server names its
 * private address unless told better (stp-serve --advertise). Pure. */
#ifndef STP_SCOPE_H
#define STP_SCOPE_H

#include "proto/socks.h"

enum stp_scope {
	STP_SCOPE_UNSPEC,    /* 0.0.0.0, :: */
	STP_SCOPE_LOOPBACK,  /* 127/8, ::1 */
	STP_SCOPE_LINK,      /* 169.254/16, fe80::/10 */
	STP_SCOPE_PRIVATE,   /* 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 */
	STP_SCOPE_PUBLIC,    /* anything else with an address */
	STP_SCOPE_NAME,      /* ATYP 3: not known here */
};

/* The scope of a (v4-mapped IPv6 judged as IPv4). */
enum stp_scope stp_addr_scope(const struct stp_addr *a);

/* Why relay cannot be used as it is by a client that reached the proxy at
 * proxy (NULL: not known, e.g. through a chain: then only the unspecified
 * address is judged): "unspecified", "a loopback address", "a link-local
 * address", "a private address". NULL when relay is fine. Its caller then
 * uses the proxy's own address with relay's port. */
const char *stp_relay_unroutable(const struct stp_addr *relay, const struct stp_addr *proxy);

#endif
