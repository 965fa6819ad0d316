/* relay.h - the one relay every program uses: bytes both ways between side A
 * (a_rfd/a_wfd, e.g. stdin/stdout or a client socket) and side B (a socket).
 *
 * Each direction goes OPEN -> DRAIN (EOF seen, bytes pending) -> CLOSED; the
 * writer is shut down (or, if not a socket, closed) only once that
 * direction's buffer is empty, so a half-close is passed on without losing a
 * byte (OpenSSH's nchan). Buffers are bounded and exist only while bytes are
 * in flight; when both ends of a direction are sockets, bytes move through a
 * pipe with splice(2) and never enter user space. */
#ifndef STP_RELAY_H
#define STP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"
#include "core/evloop.h"

typedef struct ssl_st SSL;

struct stp_relay;

/* A rate limit (optional): before each read for direction dir (STP_RELAY_AB
 * or _BA), the relay asks how many of want bytes it may read now; 0 pauses
 * that direction (no read interest) for *wait_ms, then it asks again.
 * spent reports the bytes each read moved. Works in splice mode too. */
typedef size_t stp_relay_budget_cb(void *arg, int dir, size_t want, uint64_t *wait_ms);
typedef void stp_relay_spent_cb(void *arg, int dir, size_t n);

struct stp_relay_cfg {
	int a_rfd, a_wfd;   /* may be the same fd */
	int b_rfd, b_wfd;
	bool splice;        /* use splice(2) where both ends are sockets */
	bool own_sockets;   /* every fd is a socket whose only reference the
			       relay holds (a server's): no checks, and no
			       epoll bookkeeping before close(); the last
			       half-close may be left to that close(), so
			       the done callback frees the relay at once */
	size_t bufsize;     /* per-direction buffer; 0 = 16384 */
	SSL *a_ssl, *b_ssl;  /* TLS on that side (not owned; no splice then) */
	const void *ab_prefill;  /* bytes to send to B before any read from A */
	size_t ab_prefill_len;   /* at most bufsize */
	/* B is a local socket whose full close (a hang-up, not a half-close)
	 * means the far end is gone: an EOF from B that comes with one while A
	 * still sends ends the relay with ECONNRESET (stp-connect --mux: the
	 * master gone, or the stream reset). */
	bool b_hangup_fails;
	stp_relay_budget_cb *budget;  /* NULL: no rate limit */
	stp_relay_spent_cb *spent;
	void *limit_arg;
};

enum { STP_RELAY_AB = 0, STP_RELAY_BA = 1 };

/* Called once, when both directions are closed (err 0) or on the first I/O
 * error (err = errno). The callee may free the relay. */
typedef void stp_relay_done_cb(struct stp_relay *r, void *arg, int err);

/* Starts relaying; the relay owns the four fds from now on, also on
 * failure. Returns NULL with e filled on failure (fds closed). */
struct stp_relay *stp_relay_new(struct stp_loop *l, const struct stp_relay_cfg *cfg,
				stp_relay_done_cb *cb, void *arg, struct stp_err *e);
/* Stops watching and closes every fd; frees r. NULL is a no-op. */
void stp_relay_free(struct stp_relay *r);

uint64_t stp_relay_bytes(const struct stp_relay *r, int dir);
/* Loop time (ms) of the last byte moved either way. */
uint64_t stp_relay_last_active(const struct stp_relay *r);

#endif
