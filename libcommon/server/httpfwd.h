/* httpfwd.h - one forwarded absolute-form request on stp-serve's mixed
 * port (SPEC §3.6): the rewritten head and the body go to the origin, the
 * origin's answer comes back with its head rewritten (hop-by-hop fields
 * out, Via in, Connection as this proxy decides) and its body streamed,
 * both framed by proto/httpmsg.h. When both messages are whole and the
 * client keeps the connection, the session reads its next request (which
 * may go to another origin); else the connection closes after the answer.
 * The origin connection is kept for the client's next request when both
 * sides allow it (httpidle.h). */
#ifndef STP_HTTPFWD_H
#define STP_HTTPFWD_H

#include <stdbool.h>

struct session;

/* The target of the forwarded request in ss->in (its rewritten head, then
 * what the client sent after it) is connected on ss->tfd (through ss->tssl
 * when an upstream's TLS): forwards it. May end ss. */
void httpfwd_start(struct session *ss);
/* A client event in S_HTTP_FWD. May end ss. */
void httpfwd_on_client(struct session *ss, unsigned events);
/* ss->timer fired in S_HTTP_FWD (the idle limit). May end ss. */
void httpfwd_on_timer(struct session *ss);
/* Releases the forwarding state (not the fds, which the session closes).
 * No I/O. */
void httpfwd_free(struct session *ss);

#endif
