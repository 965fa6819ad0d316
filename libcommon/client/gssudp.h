/* gssudp.h - RFC 1961 §5 for the datagrams of a UDP association set up on
 * a GSS-API protected session (levels integrity and confidentiality):
 * each datagram between the client and the proxy's UDP relay is one
 * encapsulated message
 *   X'01' | X'03' | LEN(2) | token,   token = gss_wrap(UDP header | DATA)
 * with conf_req false at integrity and true at confidentiality, the RFC
 * 1928 §7 header (RSV, FRAG, DST.ADDR, DST.PORT) inside the token: RFC
 * 1928 §7 puts the method's encapsulation around the whole request
 * header and data, and RFC 1961 §5 says every later UDP message is
 * gss_wrap'ed that way. UDP-over-TCP frames need none of this: they travel
 * inside the protected TCP stream (client.c).
 *
 * Unlike a TCP stream, datagrams may be lost or reordered: a token out of
 * sequence or after a gap is taken; a duplicate (a replay) is refused. The
 * context is the session's (conn->gss): the same sequence numbers as its
 * TCP messages. CPU only, no I/O. */
#ifndef STP_GSSUDP_H
#define STP_GSSUDP_H

#include <gssapi/gssapi.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest UDP payload (IPv4): a protected datagram is at most this. */
#define STP_GSS_UDP_MAX 65507

/* The most plaintext (UDP header + data) one protected datagram can carry
 * at level (gss_wrap_size_limit for a token that fits STP_GSS_UDP_MAX);
 * 0 if the context cannot say. */
size_t stp_gss_udp_plain_max(gss_ctx_id_t ctx, int level);

/* Seals plain[0..n) (UDP header + data) into out[0..cap) as one datagram.
 * Returns its length, or -1 with *why (a static reason). */
ssize_t stp_gss_udp_seal(gss_ctx_id_t ctx, int level, const uint8_t *plain, size_t n,
			 uint8_t *out, size_t cap, const char **why);

/* The token of the protected datagram d[0..n): exactly one encapsulated
 * message that fills the datagram. Pure (no GSS-API call). Returns the
 * token's length (> 0) with *tok pointing into d, or -1 with *why. */
ssize_t stp_gss_udp_token(const uint8_t *d, size_t n, const uint8_t **tok, const char **why);

/* Opens the protected datagram d[0..n): its plaintext (UDP header + data)
 * into out[0..cap). Returns the plaintext's length, or -1 with *why: not
 * one message, a bad MIC or a failed decryption (tampered with, or not
 * ours), not encrypted at level confidentiality, a replay, no room. */
ssize_t stp_gss_udp_open(gss_ctx_id_t ctx, int level, const uint8_t *d, size_t n, uint8_t *out,
			 size_t cap, const char **why);

#endif
