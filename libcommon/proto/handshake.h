/* handshake.h - the client side of SOCKS5/SOCKS4 through a chain of hops,
 * as a pure state machine (no I/O, no DNS): it says what to send, eats what
 * comes back, and ends done or with an error carrying SPEC §2.3's exit code
 * and one-line message. client.c drives it over a blocking socket; an event
 * loop can drive it the same way.
 *
 * Hop i is asked to CONNECT to dest[i]: the next hop's address, and for the
 * last hop the target (with cmd). Names in dest[i] must already be literals
 * where hop i does not resolve (socks4, socks5): the driver resolves them.
 * An HTTP hop (http, https) is asked with CONNECT (proto/httpconn.h); it
 * carries nothing else, so any other cmd with an HTTP hop last fails at
 * once with exit 7. */
#ifndef STP_HANDSHAKE_H
#define STP_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "proto/err.h"
#include "proto/httpconn.h"
#include "proto/socks.h"
#include "proto/url.h"

#define STP_MAX_HOPS 8

/* HS_HTTP: an HTTP hop's CONNECT sent, its answer being read (httpconn.h).
 * HS_GSS: the hop chose GSS-API (RFC 1961); the machine holds no GSS-API
 * state and does no GSS-API calls: the driver runs the exchange itself
 * (client/gssauth.h) and then calls stp_hs_gss_done or stp_hs_gss_failed. */
enum hs_state { HS_METHOD, HS_AUTH, HS_GSS, HS_REPLY, HS_REPLY4, HS_HTTP, HS_DONE, HS_FAILED };

struct stp_hs {
	const struct stp_proxy *hops;
	int nhops, hop;
	const struct stp_addr *dest;
	uint8_t cmd;
	const struct stp_opts *opts;  /* options of the last hop's STP request */
	struct stp_opts reply_opts;   /* options of the last hop's reply */
	enum hs_state st;
	bool answered;            /* this hop has answered at least once */
	uint8_t out[1400];        /* bytes to send now: a CONNECT with a
				   * Basic header for 255-byte name, user and
				   * password is the longest */
	size_t outlen;
	uint8_t rep;              /* the last reply code (SOCKS5 scale) */
	struct stp_addr bnd;      /* BND of the last hop's reply */
	struct stp_http_resp http; /* an HTTP hop's answer (HS_HTTP) */
};

/* Starts at hop 0. Returns 0 (out holds the first message), or -1. opts
 * (NULL: none) go with the last hop's request when cmd is an STP command. */
int stp_hs_init(struct stp_hs *h, const struct stp_proxy *hops, int nhops,
		const struct stp_addr *dest, uint8_t cmd, struct stp_err *e);
int stp_hs_init_opts(struct stp_hs *h, const struct stp_proxy *hops, int nhops,
		     const struct stp_addr *dest, uint8_t cmd, const struct stp_opts *opts,
		     struct stp_err *e);
/* Eats input. Returns bytes consumed (0: need more), or -1 with e filled.
 * After a call, send out[0..outlen) if outlen > 0; stop when st is HS_DONE;
 * bytes after the final reply are not consumed (they are stream data). */
ssize_t stp_hs_feed(struct stp_hs *h, const uint8_t *in, size_t n, struct stp_err *e);
/* In HS_GSS: the GSS-API exchange succeeded; queues the request (out, in
 * plain: the driver wraps it when a protection level holds). Returns 0,
 * or -1 with e. */
int stp_hs_gss_done(struct stp_hs *h, struct stp_err *e);

/* The connection closed (or the time ran out, timed_out) in the current
 * state: fills e with the right code and message; returns -1. */
int stp_hs_fail_eof(struct stp_hs *h, bool timed_out, long timeout_ms, struct stp_err *e);
/* Judges a later reply of the last hop (BIND's second reply, a NOTICE):
 * 0 for success, or -1 with e filled as for the first reply. */
int stp_hs_judge_reply(const struct stp_hs *h, const struct stp5_msg *m, struct stp_err *e);

#endif
