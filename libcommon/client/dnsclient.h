/* dnsclient.h - names through a proxy, client side: Tor's RESOLVE and
 * RESOLVE_PTR (one connection each), and the STP DNS channel (X'D5'), on
 * the blocking client of client.h. The last hop always gets the name
 * itself, whatever the URL's scheme says about who resolves: asking the
 * proxy is the point. */
#ifndef STP_DNSCLIENT_H
#define STP_DNSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"
#include "proto/dns.h"
#include "proto/err.h"

/* RESOLVE name. Returns 0 with the address in out (ATYP 1 or 4), or -1
 * with e: 10 + REP when the proxy refused (reply 4: the name does not
 * resolve), else the code of SPEC §2.3 (7: no RESOLVE there). */
int stp_resolve_name(const struct stp_client *c, const char *name, struct stp_addr *out,
		     struct stp_err *e);

/* RESOLVE_PTR addr (an IPv4 or IPv6 literal; else -1 with 10 + 8). Returns
 * 0 with the name in name (cap >= 256), or -1 with e as above. */
int stp_resolve_ptr(const struct stp_client *c, const char *addr, char *name, size_t cap,
		    struct stp_err *e);

/* An open DNS channel: framed messages both ways. */
struct stp_dnschan {
	struct stp_conn conn;       /* conn.fd: blocking, owned */
	long timeout_ms;
	char proxy[STP_HOSTPORT_MAX]; /* "HOST:PORT" of the last hop, for messages */
	uint8_t in[2 + STP_DNS_MAX];
	size_t inlen;
};

/* Opens the channel. Returns 0, or -1 with e (7: the proxy has no DNS
 * channel, with a message saying so). */
int stp_dnschan_open(const struct stp_client *c, struct stp_dnschan *ch, struct stp_err *e);

/* Sends query q and waits (the channel's timeout) for the answer with the
 * same ID, skipping others. Returns the answer's length (in ans, cap
 * bytes), or -1 with e (1: the proxy closed the channel or timed out). */
ssize_t stp_dnschan_ask(struct stp_dnschan *ch, const uint8_t *q, size_t qlen,
			uint8_t *ans, size_t cap, struct stp_err *e);

void stp_dnschan_close(struct stp_dnschan *ch);

#endif
