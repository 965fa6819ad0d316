/* dnsstub.h - stp-resolve --listen: a local DNS stub on UDP and TCP (the
 * same port) that answers every query through the proxy's DNS channel
 * (PROTOCOL.md §3, X'D5'), on one event loop. Queries from any number of
 * clients share one channel; IDs are rewritten on the way out and restored
 * on the way back. A UDP answer larger than the query allows (512 bytes, or
 * its EDNS size) goes back truncated with TC set, so the client retries
 * over TCP. When the proxy closes the channel, the next query opens a new
 * one (blocking the loop for at most the client timeout). */
#ifndef STP_DNSSTUB_H
#define STP_DNSSTUB_H

#include <stdint.h>
#include <sys/socket.h>
#include "client/client.h"
#include "proto/err.h"
#include "core/msg.h"

/* Called once both sockets are bound, with the bound address. */
typedef void stp_dnsstub_ready_cb(void *arg, const struct sockaddr *sa);

/* Binds host:port (host "" = 127.0.0.1; port 0 = a free port that UDP and
 * TCP both get), opens the DNS channel through c, calls ready, and serves
 * until SIGINT or SIGTERM. Returns 0 then, or -1 with e (2: a bad address,
 * 7: the proxy has no DNS channel, or the code of the failed connection). */
int stp_dnsstub_run(const struct stp_client *c, const char *host, uint16_t port,
		    const struct stp_log *lg, stp_dnsstub_ready_cb *ready, void *arg,
		    struct stp_err *e);

#endif
