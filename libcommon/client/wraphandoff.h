/* wraphandoff.h - the agent's second door (stp-connect --wrap, SPEC §3.1):
 * a SOCK_SEQPACKET Unix socket in the abstract namespace, where the preload
 * library (libcommon/wrap/) sends the wrapped program's own TCP socket with
 * its CONNECT. When the route is direct or the chain carries a plain
 * stream (client.h stp_client_plain_stream), the agent connects that very
 * socket, runs the handshake on it and answers: the program then talks to
 * the proxy on its own socket, with its own options, and the agent is off
 * the data path (no second loopback connection, no relay, no copy). Other
 * chains (TLS, GSS-API, a MUX master) get STP_WRAP_REP_RELAY, and the
 * library takes the loopback TCP door, where the agent relays.
 *
 * One message each way: the token (STP_WRAP_TOKEN_LEN hex characters) and
 * a SOCKS5 CONNECT request, with the socket (SCM_RIGHTS); a SOCKS5 reply
 * with BND 0.0.0.0:0. The name is "stp-wrap.UID.PORT": the agent's
 * effective UID, which the library checks (SO_PEERCRED) before it sends
 * the token, and its TCP door's port. */
#ifndef STP_WRAPHANDOFF_H
#define STP_WRAPHANDOFF_H

#include <stdint.h>
#include "proto/socks.h"

/* Listens on the door for the TCP door's port; its name into name (cap
 * bytes, without the abstract namespace's leading NUL). Returns the fd
 * (blocking: its threads wait in accept; close-on-exec), or -1 with
 * errno: then there is no second door (another process holds the name),
 * and the library uses the first. */
int stp_wrap_door_listen(uint16_t port, char *name, size_t cap);

/* Reads the one request of a connection to the door before deadline.
 * Returns 1 with the program's socket in *sock (the caller's) and the
 * request in m; 0 when there is none to answer (no message, a wrong
 * token, no socket with it): nothing is left open. */
int stp_wrap_door_read(int cfd, const char *token, uint64_t deadline, int *sock,
		       struct stp5_msg *m);

/* Answers with reply code rep. Returns 0 or -1. */
int stp_wrap_door_reply(int cfd, uint8_t rep);

#endif
