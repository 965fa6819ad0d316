/* placeholder.h - the addresses that stand for names under stp-connect
 * --wrap: a wrapped program's lookups are answered with these instead of
 * asking DNS, and a connect() to one is turned back into the name, which
 * the proxy resolves (socks5h). Placeholder number N (1..STP_PH_MAX) is
 *   IPv4 198.18.0.0 + N   (198.18.0.0/15, RFC 2544: benchmarking, never
 *                          routed on the Internet; fake-IP DNS uses it too)
 *   IPv6 100:: + N        (100::/64, RFC 6666: discard-only, never a real
 *                          destination)
 * so both families of one name share the number. Pure: no I/O. */
#ifndef STP_PLACEHOLDER_H
#define STP_PLACEHOLDER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define STP_PH_MAX 16383   /* names one wrapped session can look up */

/* Writes placeholder n into *a (struct in_addr or struct in6_addr by af). */
void stp_ph_make(int af, uint32_t n, void *a);
/* The placeholder number of the address a of family af (AF_INET, AF_INET6;
 * a v4-mapped IPv6 address counts as IPv4), or 0 when it is none. */
uint32_t stp_ph_number(int af, const void *a);
/* The same for a socket address (NULL or too short: 0). */
uint32_t stp_ph_number_sa(const struct sockaddr *sa, socklen_t len);

#endif
