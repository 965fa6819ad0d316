/* wrapudp.h - the agent's side of a wrapped program's UDP socket
 * (stp-connect --wrap; the library's side is libcommon/wrap/udp.c).
 *
 * One association through the chain per socket of the program. Each
 * destination the program sends to gets a loopback UDP port of the agent
 * that stands for it: what arrives there goes to that destination through
 * the association, and what the destination answers leaves from there.
 * So the program's datagrams keep their bytes, and a connect()ed socket
 * needs no library call to send or receive. */
#ifndef STP_WRAPUDP_H
#define STP_WRAPUDP_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"
#include "core/msg.h"

/* Reads the library's next request on ctl (a further destination): 1 with
 * host, port and the family the program named it in (AF_INET6 for an
 * IPv6 address: its socket may be IPv6-only, so the port that stands for
 * it is on ::1), 2 when next answered it itself (refused, or routed
 * direct: nothing to add), 0 at its end, -1 when it is not one (or
 * unreadable). */
typedef int stp_wrap_next(void *arg, int ctl, char *host, size_t cap, uint16_t *port, int *af);

/* Opens the association through c for host:port (the first destination),
 * answers the library on ctl (the port that stands for it, or the
 * failure's reply code rep_fail(code)), and relays until the library
 * closes ctl or the association fails. af: as stp_wrap_next says. Returns 0, or an exit-style code. */
int stp_wrap_udp_serve(int ctl, const struct stp_client *c, const char *host, uint16_t port,
		       int af, stp_wrap_next *next, void *arg, uint8_t (*rep_fail)(int code),
		       const struct stp_log *lg);

#endif
