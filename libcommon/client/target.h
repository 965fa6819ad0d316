/* target.h - a client program's target from its operands, as ssh, nc and
 * curl users write it: HOST PORT, or one HOST:PORT; HOST a name, an IPv4
 * literal or an IPv6 literal, bare or in brackets ([::1], [::1]:22); PORT a
 * number or a service name of the services database (ssh, https). */
#ifndef STP_TARGET_H
#define STP_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

/* A port 1..65535 from a number or a service name (proto "tcp" or
 * "udp"). Returns 0, or -1. */
int stp_port_lookup(const char *s, const char *proto, uint16_t *port);

/* The target of nargs (1 or 2) operands into host (cap bytes, brackets
 * removed) and port. Returns 0, or -1 with a usage error naming the bad
 * part ("bad port 'x'", "missing PORT after HOST 'x'"). */
int stp_target_parse(int nargs, char *const *args, const char *proto, char *host, size_t cap,
		     uint16_t *port, struct stp_err *e);

#endif
