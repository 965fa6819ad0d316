/* upstream.h - stp-serve --upstream URL...: CONNECT (SOCKS5 and SOCKS4),
 * and Tor's RESOLVE and RESOLVE_PTR, carried out through a chain of
 * further proxies instead of by the server itself.
 *
 * Two steps, kept apart on purpose:
 *   1. reaching the first hop: its name resolved with the server's c-ares
 *      resolver, its addresses dialled one after the other (upstream_start);
 *   2. over a connected fd: TLS where a hop's scheme asks for it (client
 *      side, verified against the system's CAs or --upstream-cacert, host
 *      name checked), then each hop's SOCKS handshake with handshake.c's
 *      machine, the last hop asked for ss->cmd to ss->dst as the client gave
 *      it (a name stays a name for socks5h/socks5hs/socks4a hops; for
 *      socks5/socks4 hops it is resolved here, with c-ares, as the scheme
 *      says), then the reply to the client and the relay (CONNECT) or the
 *      answer and close (RESOLVE, RESOLVE_PTR) (upstream_start_on_fd).
 *      With an HTTP proxy last, RESOLVE and RESOLVE_PTR become a CONNECT to
 *      this server's DNS server and a DNS-over-TCP exchange (upresolve.h).
 * Everything runs on the server's loop, non-blocking, bounded by the
 * connect timeout (once to reach the first hop, once more for the
 * handshakes). A refusal by a hop comes back to the client with the same
 * reply code; a hop that cannot be reached, a TLS or protocol failure with
 * X'01' (X'06' when the time ran out), and one log line naming the hop. */
#ifndef STP_UPSTREAM_H
#define STP_UPSTREAM_H

#include <stdbool.h>

struct session;
struct stp_server;
struct stp_proxy;

/* True when the server has --upstream proxies: CONNECT, RESOLVE and
 * RESOLVE_PTR then go to upstream_start(). */
bool upstream_enabled(const struct stp_server *s);

/* Takes over a session whose request is parsed and allowed by the rules
 * (ss->cmd: CONNECT, SOCKS4 CONNECT, RESOLVE or RESOLVE_PTR; ss->dst), and
 * goes through the configured chain. Ends in a reply to the client (ss may
 * be gone when this returns). */
void upstream_start(struct session *ss);
/* The same for a command whose reply is followed by a byte stream the
 * relay passes on unchanged (BIND, BIND_MULTI, ATTACH, UDP_TCP, DNS:
 * upcarry.h): the last hop is asked for ss->cmd with the client's STP
 * options opts (copied; NULL: none), and its reply's options go back to
 * the client. */
struct stp_opts;
void upstream_start_opts(struct session *ss, const struct stp_opts *opts);
/* The same, but when the last hop does not support ss->cmd (X'07', or a
 * close before its reply, as ssh -D does) unsupported(ss) takes the
 * session instead of the refusal going back (upudp.c: UDP_TCP through a
 * plain SOCKS5 upstream becomes its UDP ASSOCIATE). */
void upstream_start_opts_or(struct session *ss, const struct stp_opts *opts,
			    void (*unsupported)(struct session *ss));

/* UDP ASSOCIATE through the chain for a datagram relay here (upudp.c):
 * the last hop is asked for UDP ASSOCIATE with DST 0.0.0.0:0; only a
 * one-hop chain (the relay must be reachable from here; a longer chain is
 * refused with X'07' and a log line). On success ready(ss, fd, relay)
 * takes the session (ss->cst and ss->ops are free again, nothing sent to
 * the client yet): fd is the control connection to the hop (connected,
 * non-blocking, not watched, any TLS on it dropped: only its end matters
 * now), owned by ready from then on; relay is the hop's BND. Failures go
 * back to the client as for upstream_start(). */
struct stp_addr;
typedef void upstream_udp_fn(struct session *ss, int fd, const struct stp_addr *relay);
void upstream_start_udp(struct session *ss, upstream_udp_fn *ready);

/* The hook for a connection that is already there (for --upstream-mux: an
 * fd connected to an in-process SOCKS5 endpoint): runs step 2 above over
 * fd, whose far end is hops[0] (its TLS, if hops[0].tls, not yet begun).
 *   fd:    connected (a finished connect), non-blocking, not watched by the
 *          loop; owned by this code from the call on, also on failure
 *          (closed then), and by the session's relay after success.
 *   hops:  hops[0..nhops), 1 <= nhops <= STP_MAX_HOPS; copied (the caller
 *          may wipe its copy at once). At most one of them with TLS: the
 *          relay reads through one TLS layer only (ss->tssl), and TLS
 *          inside TLS could stall it.
 * The session must be as for upstream_start(); ends in a reply to the
 * client (ss may be gone when this returns). For an in-process endpoint
 * fill hops[0] with upstream_inproc_hop(); the configured chain can follow
 * it as hops[1..] (upstream_config_hops()). */
void upstream_start_on_fd(struct session *ss, int fd, const struct stp_proxy *hops,
			  int nhops);

/* Fills p as an in-process SOCKS5 endpoint: socks5h (names go as names),
 * no TLS, no credentials (method X'00'); label names it in log lines. */
void upstream_inproc_hop(struct stp_proxy *p, const char *label);

/* Parses the server's --upstream URLs into out[0..max). Returns how many,
 * or -1 when one does not parse (checked at start: not expected). */
int upstream_config_hops(const struct stp_server *s, struct stp_proxy *out, int max);

#endif
