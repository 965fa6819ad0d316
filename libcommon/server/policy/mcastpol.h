/* mcastpol.h - stp-serve's multicast policy (MCAST, PROTOCOL.md §3):
 * what a group is, and the --mcast-allow list
 *   CIDR[:PORTS][/recv|send|both]
 * e.g. 239.1.0.0/16, 239.1.2.3:5000-5010/recv, [ff15::/16]:9000/both
 * (an IPv6 CIDR with PORTS goes in brackets; PORTS is N or N-M; the mode
 * defaults to both). Without entries every group may be received and sent
 * to; with entries a request is allowed only in the directions that the
 * entries matching its group and port grant together. Pure: no I/O. */
#ifndef STP_MCASTPOL_H
#define STP_MCASTPOL_H

#include <stdbool.h>
#include <stdint.h>
#include "proto/err.h"
#include "proto/socks.h"

/* DIRECTION bits (PROTOCOL.md §3.2). */
enum { STP_MC_RECV = 1, STP_MC_SEND = 2 };

struct stp_mcast_rule {
	uint8_t fam;           /* 4 or 6 */
	uint8_t a[16];
	unsigned plen;         /* prefix length */
	uint16_t plo, phi;     /* port range, inclusive (0-65535: any) */
	unsigned dir;          /* STP_MC_* bits granted */
};

/* Parses one --mcast-allow entry. Returns 0, or -1 with e (code 2, naming
 * where, e.g. "--mcast-allow: '239.1.2.3/40': bad prefix length"). */
int stp_mcast_rule_parse(const char *s, struct stp_mcast_rule *r, const char *where,
			 struct stp_err *e);

/* The directions the entries grant to group (with its port): the union
 * over every matching entry; STP_MC_RECV | STP_MC_SEND when n == 0. */
unsigned stp_mcast_granted(const struct stp_mcast_rule *r, int n, const struct stp_addr *group);

#endif
