/* bindc.h - the client side of BIND and of BIND_MULTI + ATTACH, on top of
 * client.c: ask the proxy to listen, wait for peers, fetch each one. */
#ifndef STP_BINDC_H
#define STP_BINDC_H

#include <stdbool.h>
#include "client/client.h"

/* Asks the last hop to listen (BIND, or BIND_MULTI when multi) for peer
 * (NULL/"" = any) and port; with any peer, port is the port asked for on
 * the proxy (0: any), and a refusal says "port N is not available on the
 * proxy: ...". ctl gets the control connection; ctl->bnd is
 * where peers must connect (a 0.0.0.0 answer is replaced by the proxy's
 * own address, the classic server bug). Returns 0 or -1 with e. */
int stp_bind_open(const struct stp_client *c, bool multi, const char *peer, uint16_t port,
		  struct stp_conn *ctl, struct stp_err *e);

/* Waits (forever) for the next peer on ctl: BIND's second reply, or a
 * BIND_MULTI notice with its ticket and, in *at (may be NULL), its
 * ATTACH_AT (atyp 0: none). Returns 0 with peer (and ticket) filled, 1
 * when the proxy closed the control connection, or -1 with e (a refusal,
 * e.g. reply 6: nobody connected in time). */
int stp_bind_next(struct stp_conn *ctl, struct stp_addr *peer,
		  uint8_t ticket[STP_TICKET_LEN], struct stp_addr *at, struct stp_err *e);

/* Fetches the connection of a notice: a new connection through the chain,
 * ATTACH with the ticket; to at instead of the last hop's address when
 * the notice named one (at NULL or atyp 0: not). Returns 0 with out
 * connected, or -1 with e. */
int stp_attach(const struct stp_client *c, const uint8_t ticket[STP_TICKET_LEN],
	       const struct stp_addr *at, struct stp_conn *out, struct stp_err *e);

#endif
