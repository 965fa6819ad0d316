/* gssprot.h - RFC 1961's use of an established GSS-API context, for both
 * ends (stp-serve and the clients): the protection-level message of §4 and
 * the encapsulated messages of §5. CPU only: no I/O, no blocking; each
 * function writes whole messages (proto/gssmsg.h's framing) into a
 * caller's buffer, or reads one message's token. The context is the
 * caller's (it made it with gss_init_sec_context or
 * gss_accept_sec_context, and deletes it).
 *
 * Levels (enum stp_gss_level): 0 none (no per-message protection: the
 * bytes after the subnegotiation travel as they are), 1 integrity
 * (gss_wrap with conf_req false: a MIC per message), 2 confidentiality
 * (conf_req true: encrypted). */
#ifndef STP_GSSPROT_H
#define STP_GSSPROT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gssapi/gssapi.h>

/* §4: the protection-level message (mtyp 2) carrying level into
 * out[0..cap): the octet gss_wrap'ed with conf_req false, as the RFC says,
 * or, with clear, the bare octet (NEC's reference implementation, curl
 * --socks5-gssapi-nec). Returns the message's length, or -1 (gss_wrap
 * failed, or no room) with *why a static reason. */
ssize_t stp_gssprot_level_msg(gss_ctx_id_t ctx, int level, bool clear, uint8_t *out,
			      size_t cap, const char **why);

/* §4: the level in a protection-level token (the token of an mtyp-2
 * message): gss_unwrap'ed, or, when allow_clear and it does not unwrap, a
 * single clear octet (*clear set then). Returns the level (0..3), or -1
 * with *why (does not unwrap, not one octet, not a level). */
int stp_gssprot_level_read(gss_ctx_id_t ctx, const uint8_t *token, size_t n, bool allow_clear,
			   bool *clear, const char **why);

/* §5: plain[0..n) as one encapsulated message (mtyp 3) into out[0..cap),
 * wrapped for level (1 or 2). n must be at most what
 * stp_gssprot_plain_max allows. Returns the message's length, or -1 with
 * *why. */
ssize_t stp_gssprot_wrap(gss_ctx_id_t ctx, int level, const uint8_t *plain, size_t n,
			 uint8_t *out, size_t cap, const char **why);

/* §5: the plaintext of an encapsulated message's token into out[0..cap).
 * At level 2 the message must have been encrypted (a peer that drops to
 * integrity alone is refused). Returns its length (>= 0), or -1 with *why
 * (a bad MIC, a failed decryption, a replayed or reordered message, no
 * room). */
ssize_t stp_gssprot_unwrap(gss_ctx_id_t ctx, int level, const uint8_t *token, size_t n,
			   uint8_t *out, size_t cap, const char **why);

/* §5 for a UDP datagram: as stp_gssprot_unwrap, but a message that comes
 * after a gap or out of order (GSS_S_GAP_TOKEN, GSS_S_UNSEQ_TOKEN: a lost
 * or overtaken datagram) is taken; a duplicate or a too old one is not
 * (a replay). */
ssize_t stp_gssprot_unwrap_dgram(gss_ctx_id_t ctx, int level, const uint8_t *token, size_t n,
				 uint8_t *out, size_t cap, const char **why);

/* The most plaintext one encapsulated message can carry at level so that
 * its token fits the 2-byte length (gss_wrap_size_limit); 0 if the
 * context cannot say. */
size_t stp_gssprot_plain_max(gss_ctx_id_t ctx, int level);

/* §5 on a stream, for both ends (stp-serve's sessprot.c and the clients'
 * client/gssstream.c): wire bytes in, the plaintext of each encapsulated
 * message out. Buffers on need: an idle reader holds none. The wire
 * buffer is allocated at the first byte, start bytes (a message of the
 * usual size), grows to a longer message (at most STP_GSS_MSG_MAX) and is
 * freed once empty; the plaintext buffer is allocated for each message
 * and wiped and freed once taken. */
struct stp_gssprot_rd {
	gss_ctx_id_t ctx;       /* not owned */
	int level;              /* 1 or 2 */
	size_t start;
	uint8_t *in;            /* wire bytes in[off..len) of cap */
	size_t cap, off, len;
	uint8_t *plain;         /* plain[poff..plen) of pcap, not yet taken */
	size_t pcap, poff, plen;
};

void stp_gssprot_rd_init(struct stp_gssprot_rd *r, gss_ctx_id_t ctx, int level, size_t start);
/* Frees the buffers (the plaintext wiped); the context stays the caller's. */
void stp_gssprot_rd_clear(struct stp_gssprot_rd *r);
/* Where the next wire bytes go (*at) and how many fit (> 0): the rest of
 * the message being read and, unless exact, what may follow it; 0 when
 * out of memory. Say how many came with stp_gssprot_rd_got. */
size_t stp_gssprot_rd_room(struct stp_gssprot_rd *r, uint8_t **at, bool exact);
void stp_gssprot_rd_got(struct stp_gssprot_rd *r, size_t n);
/* The plaintext waiting, at *p: its length (> 0); the next whole message
 * is unwrapped first when none waits (an empty one is skipped). 0: more
 * wire bytes are needed. -1: refused, with *why (malformed, the peer's
 * abort message, a bad MIC, a replay, ..., out of memory). */
ssize_t stp_gssprot_rd_plain(struct stp_gssprot_rd *r, const uint8_t **p, const char **why);
/* n bytes of the plaintext at *p were used. */
void stp_gssprot_rd_take(struct stp_gssprot_rd *r, size_t n);
/* Plaintext waits, or a whole (or malformed) message does: the next
 * stp_gssprot_rd_plain needs no wire byte, and no fd event will say so. */
bool stp_gssprot_rd_ready(const struct stp_gssprot_rd *r);
/* How many wire bytes the message being read still needs at least (> 0),
 * so that a reader that must not take the next one's reads no more. */
size_t stp_gssprot_rd_want(const struct stp_gssprot_rd *r);
/* Part of a message is buffered: an EOF now would cut it. */
bool stp_gssprot_rd_inside(const struct stp_gssprot_rd *r);

#endif
