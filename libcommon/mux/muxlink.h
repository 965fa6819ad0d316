/* muxlink.h - the client end of a MUX session (muxconn.h, STP_MUX_CLIENT)
 * over a connection that the blocking client opened with the MUX command
 * (client.c): I/O through the connection's TLS, on an event loop. Shared by
 * stp-connect --mux-master and stp-serve --upstream-mux. */
#ifndef STP_MUXLINK_H
#define STP_MUXLINK_H

#include <stdint.h>

#include "client/client.h"
#include "core/evloop.h"

struct stp_muxlink;

/* The MUX connection ended (muxconn.h's done): err 0 when the proxy closed
 * it, else an errno. The callee may free the link. */
typedef void stp_muxlink_done_cb(void *arg, int err, const char *why);

/* Takes conn over (non-blocking from now, watched on l; conn->early goes
 * to the engine first) and starts the engine, keep-alive every
 * keepalive_ms (0: none). Returns NULL with conn untouched on failure. */
struct stp_muxlink *stp_muxlink_new(struct stp_loop *l, struct stp_conn *conn,
				    uint64_t keepalive_ms, stp_muxlink_done_cb *done, void *arg);
/* A local SOCKS5 client on fd becomes a stream (stp_mux_attach). */
int stp_muxlink_attach(struct stp_muxlink *k, int fd);
/* Closes every stream, the connection, and frees k. NULL is a no-op. */
void stp_muxlink_free(struct stp_muxlink *k);

#endif
