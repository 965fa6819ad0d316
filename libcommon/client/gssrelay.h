/* gssrelay.h - the relay of a stream whose connection to the proxy is
 * GSS-API protected (RFC 1961 §5, conn->gss): each chunk read from the
 * local side goes out as one wrapped message, each message from the proxy
 * is unwrapped before it is written; half-closes pass as in relay.c.
 * Through a TLS hop (socks5s, https) the messages travel inside TLS. A
 * poll loop of its own on non-blocking fds, so that neither direction
 * waits for the other (an echo of a few MB needs both at once). */
#ifndef STP_GSSRELAY_H
#define STP_GSSRELAY_H

#include "client/client.h"
#include "proto/err.h"

/* Relays (rfd, wfd) <-> conn until both directions have ended. Closes
 * conn, and rfd/wfd (wfd's reader learns of the end). Returns 0, or -1
 * with e (code 1: the stream failed). */
int stp_gss_relay_run(int rfd, int wfd, struct stp_conn *conn, struct stp_err *e);

#endif
