/* client.h - a client connection through a proxy chain, for programs that
 * do one thing at a time (blocking socket, poll-based deadline). Resolves
 * what the client must resolve (getaddrinfo), connects to the first hop,
 * runs the handshake machine, and returns a connected socket. */
#ifndef STP_CLIENT_H
#define STP_CLIENT_H

#include <stdint.h>
#include "err.h"
#include "handshake.h"
#include "url.h"

struct stp_client {
	struct stp_proxy hops[STP_MAX_HOPS];
	int nhops;
	int family;          /* AF_UNSPEC, AF_INET (-4) or AF_INET6 (-6) */
	long timeout_ms;     /* -w, for each of: reaching the proxy, the handshake */
};

struct stp_conn {
	int fd;                  /* connected, blocking */
	struct stp_addr bnd;     /* BND of the final reply */
	uint8_t early[4096];     /* stream bytes that came with the final reply */
	size_t nearly;
};

/* Opens a stream to host:port through the chain with cmd. Returns 0, or -1
 * with e filled (code per SPEC §2.3). */
int stp_client_open(const struct stp_client *c, uint8_t cmd, const char *host,
		    uint16_t port, struct stp_conn *out, struct stp_err *e);

/* Opens a plain TCP connection (NO_PROXY). Returns 0 or -1 with e. */
int stp_client_direct(const struct stp_client *c, const char *host, uint16_t port,
		      struct stp_conn *out, struct stp_err *e);

#endif
