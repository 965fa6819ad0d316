/* detect.h - what listens on a proxy's port that stays silent after a
 * SOCKS5 greeting: asked on connections of its own, so that the user's
 * connection is left as it was. An HTTP server or proxy answers a greeting
 * that ends in a line ("\n" as a last, unknown method, then "\r\n", which a
 * SOCKS5 server reads as the next message, after its answer); a TLS
 * listener waits for a whole record, so it is asked for a TLS handshake. */
#ifndef STP_DETECT_H
#define STP_DETECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/hint.h"

/* Asks the server at sa (host: its name, for TLS's SNI), all of it before
 * deadline (stp_clock_ms time). Returns what answered (STP_ANS_SOCKS5: a slow SOCKS5 server),
 * with its first bytes in ans (cap bytes, *n filled); or -1 when it learnt
 * nothing (silent, closed, unreachable). */
int stp_detect_silent(const struct sockaddr *sa, socklen_t len, const char *host,
		      uint64_t deadline, uint8_t *ans, size_t cap, size_t *n);

#endif
