/* hslog.h - -v and -vv for the client handshake: each step of each hop on
 * the program's log (stderr), like ssh -v and curl -v. -v (STP_LOG_STEPS)
 * shows the TCP connection and its time, TLS (version, cipher, peer
 * certificate), greeting, chosen method, authentication, request and
 * reply; -vv (STP_LOG_BYTES) adds the handshake's bytes in hex, never a
 * password. The handshake machine stays pure: the driver (client.c)
 * reports what went out and what came in. */
#ifndef STP_HSLOG_H
#define STP_HSLOG_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/msg.h"
#include "proto/handshake.h"

enum { STP_LOG_STEPS = STP_LOG_DEBUG, STP_LOG_BYTES = STP_LOG_DEBUG + 1 };

/* "connected to proxy HOST:PORT (ADDR) in 1.2 ms" (what: "proxy", "target"). */
void stp_hslog_tcp(const struct stp_log *lg, const char *what, const char *hostport,
		   const struct sockaddr *sa, double ms);
/* One address of several that failed: "... (ADDR): connection refused". */
void stp_hslog_tcp_fail(const struct stp_log *lg, const char *what, const char *hostport,
			const struct sockaddr *sa, int err);
/* TLS version, cipher, peer certificate's subject and issuer, verification. */
void stp_hslog_tls(const struct stp_log *lg, const char *hostport, SSL *ssl, bool insecure);
/* What the machine queued to send (h->out, h->outlen) in its state now. */
void stp_hslog_sent(const struct stp_log *lg, const struct stp_hs *h);
/* The k bytes at in that the machine consumed in state st at hop hop. */
void stp_hslog_got(const struct stp_log *lg, const struct stp_hs *h, enum hs_state st,
		   int hop, const uint8_t *in, size_t k);

#endif
