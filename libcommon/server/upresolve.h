/* upresolve.h - RESOLVE and RESOLVE_PTR through an --upstream chain whose
 * last hop is an HTTP proxy (SPEC §3.6). An HTTP proxy carries only TCP
 * streams, so upstream.c asks the chain to CONNECT to this server's DNS
 * server (upresolve_server) instead, and over that stream this code asks
 * the question as DNS over TCP (RFC 1035 §4.2.2: LEN(2) | message): A and
 * AAAA for RESOLVE (IPv4 preferred, as cmd_resolve.c answers), PTR for
 * RESOLVE_PTR. The I/O is the caller's (the chain may be inside TLS):
 * upresolve_pump runs as far as the stream allows, on the server's loop;
 * the caller bounds it in time. */
#ifndef STP_UPRESOLVE_H
#define STP_UPRESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/socks.h"

struct stp_server;
struct stp_proxy;
struct upresolve;

/* True when cmd (a SOCKS5 request's) must be asked this way of a chain
 * whose last hop is last. */
bool upresolve_wanted(uint8_t ver, uint8_t cmd, const struct stp_proxy *last);

/* The DNS server to CONNECT to: the first of --resolver, else the first
 * nameserver of resolv.conf (what the server's c-ares asks). Returns 0,
 * or -1. */
int upresolve_server(const struct stp_server *s, struct stp_addr *out);

/* The exchange for cmd (RESOLVE: dst a name; RESOLVE_PTR: an address).
 * Returns NULL when out of memory or dst cannot be asked (then why says
 * so). Free with upresolve_free(). */
struct upresolve *upresolve_new(uint8_t cmd, const struct stp_addr *dst, char *why, size_t cap);
void upresolve_free(struct upresolve *r);

/* The caller's stream: reads (wr false) or writes n bytes. Returns bytes,
 * 0 at EOF, or -1 with errno (EAGAIN: wait for *want, STP_EV_*). */
typedef ssize_t upresolve_io_fn(void *arg, bool wr, void *buf, size_t n, unsigned *want);

/* The outcome: rep STP_REP_OK with bnd (port 0), else the reply code
 * RESOLVE gives for a local failure (X'04') and why. */
struct upresolve_result {
	uint8_t rep;
	struct stp_addr bnd;
	char why[200];
};

/* Writes the queries and reads answers as far as io allows. Returns 1
 * when the exchange is over (*res filled; the stream is no longer
 * needed), 0 when it waits for *want. */
int upresolve_pump(struct upresolve *r, upresolve_io_fn *io, void *arg, unsigned *want,
		   struct upresolve_result *res);

/* What it asks, for log lines: "A+AAAA example.org", "PTR 1.0.0.127.in-addr.arpa". */
const char *upresolve_question(const struct upresolve *r);

#endif
