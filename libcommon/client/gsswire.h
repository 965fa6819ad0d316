/* gsswire.h - the sending half of RFC 1961 §5 for event-driven users of
 * a protected connection (the MUX link, the DNS stub's channel): bytes
 * handed over are wrapped into one encapsulated message per write chunk
 * (at most STP_GSS_CHUNK plaintext) and written to the wire through a
 * non-blocking raw sender (the socket, or its TLS hop). A message goes
 * out whole before the next is made, so a message cut by EAGAIN is held
 * here and written first: such a user must want writability while
 * stp_gss_wire_held says so, and call stp_gss_wire_flush then.
 *
 * Receiving needs nothing of this: stp_conn_read (client.c) unwraps. */
#ifndef STP_GSSWIRE_H
#define STP_GSSWIRE_H

#include <gssapi/gssapi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The wire, like send(2): bytes written, or -1 with errno (EAGAIN). */
typedef ssize_t stp_gss_wire_send_fn(void *arg, const void *buf, size_t n);

struct stp_gss_wire {
	gss_ctx_id_t ctx;       /* the session's (conn->gss->ctx): not owned */
	int level;              /* STP_GSS_LEVEL_INTEGRITY or _CONFIDENTIALITY */
	stp_gss_wire_send_fn *send;
	void *arg;
	uint8_t *msg;           /* STP_GSS_MSG_MAX bytes: the message going out */
	size_t off, len;        /* msg[off..len) not written yet */
};

/* Sets w up for ctx at level over send(arg). Returns 0, or -1 (ENOMEM). */
int stp_gss_wire_init(struct stp_gss_wire *w, gss_ctx_id_t ctx, int level,
		      stp_gss_wire_send_fn *send, void *arg);
/* Frees w's buffer (the context stays the connection's). */
void stp_gss_wire_free(struct stp_gss_wire *w);

/* Writes what is held. Returns 0 when nothing is held any more, 1 when
 * some is (EAGAIN), -1 with errno (the connection failed). */
int stp_gss_wire_flush(struct stp_gss_wire *w);
/* Whether part of a message waits for the wire. */
bool stp_gss_wire_held(const struct stp_gss_wire *w);

/* send(2) for plaintext: wraps up to STP_GSS_CHUNK bytes of buf[0..n) into
 * one message and writes what the wire takes (the rest is held). Returns
 * the plaintext bytes taken (> 0), or -1 with errno: EAGAIN while a
 * message is still held, EPROTO when gss_wrap failed, or the wire's. */
ssize_t stp_gss_wire_send(struct stp_gss_wire *w, const void *buf, size_t n);

#endif
