/* upudp.h - UDP ASSOCIATE through a plain SOCKS5 upstream (RFC 1928 §7):
 * Dante, ssh -D (which refuses), microsocks, or an stp-serve (see upudp.c).
 *
 * The client's side of the association stays cmd_udp.c's (its relay
 * endpoint, or UDP_TCP frames on its control connection); the targets'
 * side is the upstream hop's UDP relay, reached from one socket here, with
 * each datagram's RFC 1928 header naming the real target (names stay
 * names: nothing is looked up here). The association ends when either
 * control connection ends. */
#ifndef STP_UPUDP_H
#define STP_UPUDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/evloop.h"

struct session;
struct stp_opts;
struct stp_addr;
struct dgsess;
struct upudp;

/* UDP ASSOCIATE, with --upstream and a SOCKS5 last hop: the hop is asked
 * for its UDP ASSOCIATE; on success cmd_udp_via() runs the association.
 * Failures go back to the client (X'07' for a hop without UDP, or a chain
 * longer than one hop, with a log line). The session may be gone when
 * this returns. */
void upudp_start(struct session *ss);
/* UDP_TCP: passed to the last hop as it came (an stp-serve has it);
 * when the hop lacks it, its UDP ASSOCIATE instead, as upudp_start. */
void upudp_start_tcp(struct session *ss, const struct stp_opts *opts);

/* cmd_udp.c: runs UDP ASSOCIATE or UDP_TCP (ss->cmd) for the client with
 * the hop's relay as the targets' side: cfd is the control connection to
 * the hop (owned from here on, also on failure), relay its BND. Replies to
 * the client; the session may be gone when this returns. */
void cmd_udp_via(struct session *ss, int cfd, const struct stp_addr *relay);

/* For cmd_udp_via: the hop's side of one association, made from cfd
 * (owned from here on, also on failure) and relay: the control connection
 * watched for its end, which ends the session; a UDP socket from the
 * session's egress, connected to relay (an unspecified relay address is
 * the hop's own), watched for reading with cb(arg). Returns it, or NULL
 * with *rep the reply code for the client (logged). */
struct upudp *upudp_new(struct session *ss, int cfd, const struct stp_addr *relay,
			stp_fd_cb *cb, void *arg, uint8_t *rep);
/* Closes both sockets; nothing for NULL. */
void upudp_free(struct upudp *u);

/* Why upudp_send did not send a datagram. */
enum { UPUDP_SENT, UPUDP_DENIED, UPUDP_MALFORMED };
/* One datagram from the client, b (n bytes: RSV | FRAG | DST | DATA, hl
 * of them the header, dst the parsed DST): judged by the rules (its DST
 * as the client gave it), then sent on unchanged to the hop's relay
 * through d (in its batch while one is open; d counts send failures).
 * Returns UPUDP_SENT or the reason it was not. */
int upudp_send(struct upudp *u, struct dgsess *d, const uint8_t *b, size_t n, size_t hl,
	       const struct stp_addr *dst);

#endif
