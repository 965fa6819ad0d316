/* gssstream.h - RFC 1961 §5 on the client side: once a protection level
 * other than none holds, every byte after the subnegotiation (the request,
 * the reply, the relayed stream both ways) travels in X'03' messages whose
 * token is gss_wrap of a chunk of plaintext (conf_req for confidentiality).
 * Wrapping one chunk into one message, and the stream of incoming
 * messages: that is core/gssprot.h's reader, the same one stp-serve uses;
 * this file adds the clients' error messages (the GSS-API status text) and
 * a feed of bytes that the caller has read. */
#ifndef STP_GSSSTREAM_H
#define STP_GSSSTREAM_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/gssprot.h"
#include "proto/err.h"
#include "proto/gssmsg.h"

/* Plaintext per message: a Kerberos wrap token adds well under 100 bytes,
 * so this keeps the token under the 65535 a length can say. */
#define STP_GSS_CHUNK 16384

/* One protected connection: the context, the level, and the reader of
 * the incoming messages (its buffers allocated on need). */
struct stp_gss_stream {
	gss_ctx_id_t ctx;       /* owned: deleted by stp_gss_stream_free */
	int level;              /* STP_GSS_LEVEL_INTEGRITY or _CONFIDENTIALITY */
	struct stp_gssprot_rd rd;
};

/* Wraps p[0..n) (n <= STP_GSS_CHUNK) into one ENCAP message in
 * out[0..cap) (cap >= STP_GSS_MSG_MAX is always enough). Returns its
 * length, or -1 with e (STP_EXIT_FAIL, the GSS-API status text). */
ssize_t stp_gss_wrap_msg(gss_ctx_id_t ctx, int level, const void *p, size_t n, uint8_t *out,
			 size_t cap, struct stp_err *e);

/* A stream for ctx (taken over) at level. Returns NULL when out of memory
 * (ctx is then still the caller's). */
struct stp_gss_stream *stp_gss_stream_new(gss_ctx_id_t ctx, int level);
/* Deletes the context and frees s (NULL: nothing). */
void stp_gss_stream_free(struct stp_gss_stream *s);

/* Feeds raw bytes in[0..n) that arrived; when a whole message is there it
 * is unwrapped. Returns the bytes of in taken (stops after a whole message
 * while plaintext is waiting), or -1 with e (STP_EXIT_FAIL: malformed,
 * the proxy's abort, tampered with, not protected as the level says). */
ssize_t stp_gss_stream_feed(struct stp_gss_stream *s, const uint8_t *in, size_t n,
			    struct stp_err *e);
/* How many raw bytes the message being read still needs at least (> 0),
 * so that a reader takes no bytes of the next one. */
size_t stp_gss_stream_want(const struct stp_gss_stream *s);
/* Whether part of a message has been fed (an EOF now cuts it). */
bool stp_gss_stream_inside(const struct stp_gss_stream *s);
/* Whether plaintext waits in s (take it with stp_gss_stream_take). */
bool stp_gss_stream_ready(const struct stp_gss_stream *s);
/* Copies up to cap bytes of waiting plaintext to buf; returns how many. */
size_t stp_gss_stream_take(struct stp_gss_stream *s, void *buf, size_t cap);

#endif
