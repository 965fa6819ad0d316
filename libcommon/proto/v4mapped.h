/* v4mapped.h - an IPv4 address as an IPv6 socket reaches it (::ffff:a.b.c.d,
 * RFC 4291 2.5.5.2): for a socket of the program's or the user's family
 * that must reach an IPv4 peer. */
#ifndef STP_V4MAPPED_H
#define STP_V4MAPPED_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* out becomes a4 (4 bytes, network order) port (network order) as such. */
static inline void stp_v4_mapped(struct sockaddr_in6 *out, const void *a4, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = port;
	out->sin6_addr.s6_addr[10] = out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], a4, 4);
}

#endif
