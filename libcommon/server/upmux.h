/* upmux.h - stp-serve --upstream-mux: upstream connections as streams of
 * one MUX session to the first --upstream proxy (see upmux.c). */
#ifndef STP_UPMUX_H
#define STP_UPMUX_H

struct session;
struct stp_server;

/* Takes a session to the --upstream proxies (as upstream_start() says
 * what it must be): as a stream of the MUX session (opened on first use)
 * under --upstream-mux, else through upstream_start()'s own connection.
 * upmux sits above upstream.c, which knows nothing of MUX. */
void upmux_route(struct session *ss);
/* Closes the MUX session and its streams (at the server's end). */
void upmux_free(struct stp_server *s);

#endif
