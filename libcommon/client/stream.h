/* stream.h - run one relay to its end on a loop of its own: what stream
 * programs do with stdin/stdout (or an accepted socket) and a proxied
 * connection. Also the -L forwarder: accept, and serve each connection in
 * a child process of its own. */
#ifndef STP_STREAM_H
#define STP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"
#include "proto/err.h"
#include "core/msg.h"

/* Relays (rfd, wfd) <-> conn until both directions are closed; conn's
 * early bytes (those that came with the proxy's reply) are written to wfd
 * first. Closes conn (and rfd/wfd). Returns 0, or -1 with e (code 1: the
 * stream failed after set-up). */
int stp_stream_run(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e);

/* Called in the child for each accepted connection: connect onward into
 * conn. Returns 0, or -1 with e. */
typedef int stp_forward_open(void *arg, struct stp_conn *conn, struct stp_err *e);

/* Accepts on lfd forever; each connection is served by a child running
 * open() then stp_stream_run(). Logs failures through lg. Returns only on
 * a fatal accept error: -1 with e. */
int stp_forward_serve(int lfd, stp_forward_open *open, void *arg,
		      const struct stp_log *lg, struct stp_err *e);

#endif
