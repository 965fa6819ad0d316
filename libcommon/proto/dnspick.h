/* dnspick.h - the one answer RESOLVE and RESOLVE_PTR give, picked out of a
 * DNS response: an address of the A or AAAA records asked for, or the name
 * of a PTR record. For stp-serve asking a DNS server itself over TCP
 * (server/upresolve.c). Pure functions over (buf, len), bounds-checked
 * with dns.c's record walker. */
#ifndef STP_DNSPICK_H
#define STP_DNSPICK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/socks.h"

/* Reads response b (n bytes) to a query of qtype (A, AAAA or PTR).
 * Returns 1 with *out filled (an address with port 0; for PTR a name
 * without the root's dot), 0 when it carries no such record (*rcode: its
 * RCODE, NOERROR for "no data"), or -1 when it is malformed, not a
 * response, or not for id. */
int stp_dns_pick(const uint8_t *b, size_t n, uint16_t id, uint16_t qtype,
		 struct stp_addr *out, int *rcode);

#endif
