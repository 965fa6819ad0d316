/* gssauth.h - the client's side of GSS-API authentication for SOCKS5
 * (RFC 1961 §3 and §4) with the user's Kerberos credentials cache
 * (KRB5CCNAME): context establishment with mutual authentication in token
 * messages, bounded in rounds, then the protection-level subnegotiation.
 * The handshake machine (proto/handshake.c) stops in HS_GSS when a hop
 * chose X'01'; client.c calls this, then stp_hs_gss_done. The only I/O
 * besides the connection is the ticket fetch from the KDC inside
 * gss_init_sec_context. */
#ifndef STP_GSSAUTH_H
#define STP_GSSAUTH_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"
#include "proto/err.h"
#include "proto/url.h"

/* Context-establishment rounds we go through before giving up: Kerberos
 * needs one or two; SPNEGO a few more. */
#define STP_GSS_ROUNDS 8

/* Runs the exchange with hop (the proxy's host as written names it) on
 * conn, whose fd may be non-blocking: each wait is a poll up to deadline.
 * buf[0..*have) (cap bytes) holds what was read after the method choice;
 * bytes after the last message are left there. On success conn->gss_level
 * and conn->gss_principal are set, and conn->gss holds the context when
 * the level is not none (conn's I/O then wraps and unwraps). Returns 0, or
 * -1 with e (exit 4: no or expired ticket, unknown service, refused;
 * exit 5: malformed messages; timeouts as the handshake's). */
int stp_gss_client_run(struct stp_conn *conn, const struct stp_gss_cfg *cfg,
		       const struct stp_proxy *hop, uint8_t *buf, size_t *have, size_t cap,
		       uint64_t deadline, long timeout_ms, const struct stp_log *lg,
		       struct stp_err *e);

#endif
