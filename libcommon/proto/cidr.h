/* cidr.h - an address range, "ADDR" or "ADDR/BITS", IPv4 or IPv6, and
 * whether a socket address is in it (a v4-mapped IPv6 address counts as
 * the IPv4 one). Pure: no I/O, no allocation. */
#ifndef STP_CIDR_H
#define STP_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct stp_cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t a[16];
	int bits;
};

/* Parses s (a bare address is a /32 or /128). Returns 0, or -1. */
int stp_cidr_parse(const char *s, struct stp_cidr *c);
/* True when sa (AF_INET, AF_INET6) is inside c. */
bool stp_cidr_has(const struct stp_cidr *c, const struct sockaddr *sa);
/* True when the range sub lies inside c (same family, no v4 mapping). */
bool stp_cidr_covers(const struct stp_cidr *c, const struct stp_cidr *sub);

#endif
