/* upmux.h - stp-serve --upstream-mux: upstream connections as streams of
 * one MUX session to the first --upstream proxy (see upmux.c). */
#ifndef STP_UPMUX_H
#define STP_UPMUX_H

struct session;
struct stp_server;

/* As upstream_start(), through the MUX session (opened on first use). */
void upmux_start(struct session *ss);
/* Closes the MUX session and its streams (at the server's end). */
void upmux_free(struct stp_server *s);

#endif
