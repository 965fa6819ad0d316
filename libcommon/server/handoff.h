/* handoff.h - stp-serve --workers N with BIND_MULTI: an ATTACH that the
 * kernel's SO_REUSEPORT choice brought to a worker other than the one that
 * holds its ticket is handed to that worker.
 *
 * A ticket names its worker in the low six bits of its first byte (the
 * other 122 bits stay random; STP_MAX_WORKERS is 64). Before fork the
 * supervisor makes one SOCK_SEQPACKET socketpair per worker, its inbox:
 * every worker keeps the sending ends of the others' inboxes and the
 * receiving end of its own. An ATTACH for worker k is one message to k's
 * inbox: the client's socket (SCM_RIGHTS), its address (the PROXY header's
 * when there was one), who it authenticated as, the ticket, and the bytes
 * it sent after the request. Worker k runs the request again as its own
 * session (rules, ticket owner, reply, relay). A client wrapped in TLS or
 * GSS-API cannot change process: its worker keeps it and relays it to
 * worker k through a socketpair instead. Sends never block: a full inbox
 * is a refusal (X'01'), logged. */
#ifndef STP_HANDOFF_H
#define STP_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>
#include "proto/err.h"
#include "proto/socks.h"

struct stp_server;
struct session;

/* In the supervisor, before the workers are forked (s->nworkers > 1):
 * the inboxes. Returns 0, or -1 with e. */
int handoff_init(struct stp_server *s, struct stp_err *e);
/* In worker s->worker, once its loop exists: closes the ends that are not
 * its own, watches its inbox. No-op without handoff_init. Returns 0, or -1
 * with e. */
int handoff_start(struct stp_server *s, struct stp_err *e);
/* Closes what handoff_init made (what is left of it in this process). */
void handoff_free(struct stp_server *s);
/* Marks a fresh ticket as this worker's (no-op with one worker). */
void handoff_stamp(const struct stp_server *s, uint8_t ticket[STP_TICKET_LEN]);
/* ATTACH with ticket on ss: when the ticket is another worker's, hands
 * the client over (or relays it there) and returns true; ss is then
 * taken care of (maybe gone). False: the ticket is this worker's. */
bool handoff_attach(struct session *ss, const uint8_t ticket[STP_TICKET_LEN]);

#endif
