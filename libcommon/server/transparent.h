/* transparent.h - stp-serve --transparent and --transparent-udp (SPEC
 * §3.6): flows the kernel redirected to stp-serve, from programs that know
 * nothing of proxies.
 *
 * TCP: nftables/iptables `redirect` rewrites the destination, which
 * SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6) gives back;
 * `tproxy` leaves it alone and hands the connection to a listener with
 * IP_TRANSPARENT, whose accepted socket's local address is the target.
 * UDP: `tproxy` only; IP_RECVORIGDSTADDR names each datagram's target, and
 * answers leave from a socket bound to that address (IP_TRANSPARENT), so
 * the client sees them come from the target (transparent_udp.c).
 *
 * Each flow becomes a session that runs CONNECT (UDP_TCP, over a
 * socketpair) to its target as if the client had asked: the rules
 * (command connect / udp), limits, --upstream, logs and stats apply. A
 * flow whose target is the listener itself was not redirected: closed (or
 * dropped) and logged, never proxied to itself. */
#ifndef STP_TRANSPARENT_H
#define STP_TRANSPARENT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "proto/err.h"

struct stp_server;
struct stp_loop;
struct listener;

/* Binds spec ("ADDR:PORT", numeric or a name, at start-up) as a
 * transparent TCP (udp false) or UDP listener, in l (its fd non-blocking,
 * close-on-exec). IP_TRANSPARENT is set where the process may (TCP: only
 * tproxy needs it; UDP: required). With nworkers > 1, one SO_REUSEPORT
 * socket per worker on the bound address, in l->wfd (wfd[0] is l->fd;
 * the caller frees them as the proxy listeners'). Returns 0, or -1 with e
 * (nothing left open). */
int transp_listen(const char *spec, bool udp, int nworkers, struct listener *l,
		  struct stp_err *e);

/* A connection accepted on transparent TCP listener lidx (index in s->ls;
 * cfd non-blocking, owned from here on): its target found, the loop case
 * refused, then a session counted for that listener. */
void transp_accept(struct stp_server *s, int lidx, int cfd, const struct sockaddr_storage *peer);

/* The loop callback of a transparent UDP listener (arg: the server). */
void transp_udp_on_read(struct stp_loop *loop, int fd, unsigned ev, void *arg);
/* Ends every UDP flow (their sessions see the socketpair close). */
void transp_udp_free(struct stp_server *s);

/* True when target (the original destination of a flow that arrived on
 * the listener bound to la) is that listener itself: the flow was not
 * redirected, and proxying it would loop. */
bool transp_is_self(const struct sockaddr *target, const struct sockaddr *la);

#endif
