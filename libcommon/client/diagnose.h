/* diagnose.h - the hints of a failed handshake (stp-probe's, for every
 * client): it turns what went wrong into what the user should do. The
 * driver (client.c) calls these where a handshake fails or stalls. */
#ifndef STP_DIAGNOSE_H
#define STP_DIAGNOSE_H

#include <stddef.h>
#include <stdint.h>
#include "client/client.h"

/* The first hop has not answered the greeting for a while: asks its port
 * what it is on other connections (detect.h), within what is left of
 * deadline (2 s at most). Returns 0 when it learnt nothing or it is a slow
 * SOCKS5 server (go on waiting), or -1 with e ("not SOCKS: ...", code 5). */
int stp_diagnose_silence(const struct stp_client *c, int fd, uint64_t deadline,
			 struct stp_err *e);

/* Hop p answered the greeting with b[0..n), not SOCKS5. Returns -1 with e
 * naming what answered and the hint (code 5). */
int stp_diagnose_answer(const struct stp_proxy *p, const uint8_t *b, size_t n,
			struct stp_err *e);

/* After the handshake h failed with e: a reply only Tor sends (X'F0'-X'F7')
 * becomes a message that says so. */
void stp_diagnose_refusal(const struct stp_hs *h, struct stp_err *e);

/* After TLS to a hop failed with e: an unknown issuer gets the hint of
 * --cacert (given or not, per c). */
void stp_diagnose_tls(const struct stp_client *c, struct stp_err *e);

#endif
