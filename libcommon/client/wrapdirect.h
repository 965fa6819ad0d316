/* wrapdirect.h - the agent's answer for UDP destinations that go out
 * directly (stp-connect --wrap): the library sends those from the
 * program's own socket, so no association carries them. */
#ifndef STP_CLIENT_WRAPDIRECT_H
#define STP_CLIENT_WRAPDIRECT_H

#include <stdbool.h>
#include <stdint.h>
#include "client/clientopts.h"

/* Whether host goes direct: the --config route for it (per_target) or
 * NO_PROXY (else) says so. Returns 1 direct, 0 through the chain, -1 with
 * e when the route cannot be made. */
int stp_wrap_udp_route(const struct stp_clientopts *co, bool per_target, const char *host,
		       struct stp_err *e);

/* Answers the library on ctl that host:port goes direct, with the address
 * to send to: host itself when numeric, else what the local resolver
 * gives (the route said direct, so resolving here is what the user asked
 * for): an IPv4 one when af is AF_INET, an IPv6 one if there is one when
 * af is AF_INET6 (else IPv4). A name that does not resolve gets
 * reply code 4 (host unreachable). Returns 0, or -1 when the reply could
 * not be written. */
int stp_wrap_udp_direct(int ctl, const char *host, uint16_t port, int af,
			const struct stp_log *lg);

#endif
