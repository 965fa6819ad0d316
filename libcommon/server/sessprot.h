/* sessprot.h - RFC 1961 §5 on a stp-serve session: once the protection
 * level granted is integrity (1) or confidentiality (2), every byte between
 * the server and the client is carried in encapsulated messages
 * (X'01' X'03' LEN(2) gss_wrap(chunk)): the SOCKS request and its
 * reply(ies), then the relay both ways (protrelay.c). session_recv and
 * session_write go through here for such a session, so the handshake code
 * and the commands that only read and write through them (UDP_TCP's
 * frames, the DNS channel, MUX) are protected without knowing it; they ask
 * for the write event while sessprot_out_pending. Commands whose bytes would
 * bypass the channel are refused on a protected session (sessprot_carries). The
 * datagrams of UDP ASSOCIATE, UDP_BIND and MCAST between the client and the
 * relay endpoint are sealed one by one (sessprot_dgram_*, via dgsess.c).
 *
 * The wire side of the client connection is read and written with
 * session_raw_recv / session_raw_write (TLS below, if any). All of it is
 * CPU work and non-blocking I/O on the loop; gss_wrap/unwrap do not block. */
#ifndef STP_SESSPROT_H
#define STP_SESSPROT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gssapi/gssapi.h>

struct session;
struct sessprot;

/* A protected channel over ctx (not owned: sessgss.c deletes it) at level
 * 1 or 2, with the reply bytes not yet written (already on the wire form:
 * the protection-level message) out[0..n). NULL when out of memory. */
struct sessprot *sessprot_new(gss_ctx_id_t ctx, int level, const uint8_t *out, size_t n);
void sessprot_free(struct sessprot *p);

/* The session's channel (sessgss.c), NULL: the session is not protected. */
struct sessprot *sessgss_prot(const struct session *ss);

/* The plaintext of the next message, unwrapped, at *p: its length (> 0),
 * 0 at the client's EOF between messages, or -1 with errno (EAGAIN:
 * nothing now; EPROTO: a message that is malformed, tampered with, or cut
 * by the EOF, or no memory for it: ss->result says which). Reads from the client only when no
 * whole message is buffered. Take what was used with sessprot_take. */
ssize_t sessprot_plain(struct session *ss, const uint8_t **p);
void sessprot_take(struct session *ss, size_t n);
/* Why the channel failed ("GSS-API message refused: ...", "GSS-API:
 * cannot wrap a message: ...", "out of memory"), NULL when it has not (or
 * the session is not protected): for commands whose engine reports its
 * own reason for the EPROTO it saw. */
const char *sessprot_why(const struct session *ss);
/* sessprot_plain, copied into buf[0..n): as read(2). */
ssize_t sessprot_recv(struct session *ss, void *buf, size_t n);
/* Wire bytes b[0..n) already read from the client (after its
 * protection-level message) go first; n is at most 65539. Returns 0, or
 * -1 when out of memory (ss->result says so). */
int sessprot_push(struct session *ss, const uint8_t *b, size_t n);
/* True when plaintext, or a whole message, waits in the channel (no fd
 * event will say so). */
bool sessprot_ready(const struct session *ss);

/* Wraps up to sessprot_chunk() bytes of buf[0..n) into one message and
 * starts writing it. Returns the plaintext bytes taken (> 0), or -1 with
 * errno (EAGAIN: the last message is still being written; EPROTO:
 * gss_wrap failed or no memory, sessprot_why says which; others: the
 * client is gone). */
ssize_t sessprot_write(struct session *ss, const void *buf, size_t n);
/* Writes what is left of the wrapped message: 0 all written, 1 some left
 * (EAGAIN: wait for the write event), -1 the client is gone. */
int sessprot_flush(struct session *ss);
bool sessprot_out_pending(const struct session *ss);
/* The most plaintext one message carries. */
size_t sessprot_chunk(const struct session *ss);

/* §5 for the datagrams (UDP ASSOCIATE, UDP_BIND, MCAST) between the client and the relay
 * endpoint: each datagram is one message, X'01' X'03' LEN(2) TOKEN, TOKEN
 * gss_wrap of the RFC 1928 UDP header and data. sessprot_dgram_open
 * unwraps the datagram b[0..n) in place: the plaintext's length, or -1
 * with *why (not exactly one message, does not unwrap, a replay).
 * sessprot_dgram_seal wraps b[0..n) into the session's datagram buffer:
 * the message (valid until the next call) with *outn, or NULL with *why. */
ssize_t sessprot_dgram_open(struct session *ss, uint8_t *b, size_t n, const char **why);
const uint8_t *sessprot_dgram_seal(struct session *ss, const uint8_t *b, size_t n, size_t *outn,
				   const char **why);

/* On a protected session, commands whose bytes would not all pass through
 * the channel (none today: a command added later and not listed) are
 * refused: X'07', one log line, false. True: go on. */
bool sessprot_carries(struct session *ss);

/* session.c: the client connection's wire (TLS below, if any). */
ssize_t session_raw_recv(struct session *ss, void *buf, size_t n);
ssize_t session_raw_write(struct session *ss, const void *buf, size_t n);

/* protrelay.c: the success reply, then client (protected) <-> ss->tfd. */
void protrelay_start(struct session *ss, const uint8_t *reply, size_t n);

#endif
