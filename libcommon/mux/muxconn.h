/* muxconn.h - one MUX connection (PROTOCOL.md §4): many streams over one
 * (TLS) connection, each stream bound to a local socket that speaks SOCKS5.
 * The same engine serves both ends:
 *
 * - STP_MUX_SERVER (stp-serve): an OPEN frame becomes a SOCKS5 request that
 *   ops->open serves on a local socket (a socketpair to a session of the
 *   server's own); the SOCKS5 reply read back from that socket becomes the
 *   REPLY frame, and the bytes after it DATA.
 * - STP_MUX_CLIENT (stp-connect --mux-master, stp-serve --upstream-mux): a
 *   local socket handed over by stp_mux_attach() speaks SOCKS5 as a client
 *   (method X'00'); its request becomes an OPEN frame, the REPLY frame its
 *   SOCKS5 reply, and the bytes after it DATA.
 *
 * Flow control is per stream and direction: 262144 bytes of credit, given
 * back with WINDOW as the receiver writes bytes to its local socket. A
 * stream whose local reader stalls holds at most its credit here and then
 * stops its sender; no other stream waits for it. Output to the connection
 * is bounded: streams stop reading their sockets while it is full.
 *
 * A stream ends by FIN both ways (half-close passes through: FIN becomes
 * shutdown(SHUT_WR) of the local socket once its queue is written, EOF on
 * the local socket becomes FIN), by RST either way, or by a REPLY whose REP
 * is not 0 (the stream is then gone on both ends, no FIN follows). */
#ifndef STP_MUXCONN_H
#define STP_MUXCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/evloop.h"

#define STP_MUX_CREDIT 262144u   /* initial credit per stream and direction */
#define STP_MUX_STREAMS_MAX 1024 /* concurrent streams per connection */

enum stp_mux_role { STP_MUX_SERVER, STP_MUX_CLIENT };

struct stp_mux;

struct stp_mux_ops {
	/* The connection, like read(2) and send(2): bytes, 0 at EOF, -1 with
	 * errno (EAGAIN: not now). */
	ssize_t (*recv)(void *arg, void *buf, size_t n);
	ssize_t (*send)(void *arg, const void *buf, size_t n);
	/* True when bytes are buffered above the socket (TLS); NULL: never. */
	bool (*pending)(void *arg);
	/* Sets the connection's event interest (STP_EV_READ/WRITE). */
	void (*want)(void *arg, unsigned mask);
	/* Server role: serve the request req (a whole SOCKS5 request, VER=5)
	 * of stream id. Returns the engine's end of a connected, non-blocking
	 * socket whose peer serves it (the engine owns the fd from then on),
	 * and sets *user (before any work that may end the user, which may
	 * call stp_mux_detach at once); or -1 with *rep, the code of the RST,
	 * and *user left alone. */
	int (*open)(void *arg, uint32_t id, const uint8_t *req, size_t n, void **user,
		    uint8_t *rep);
	/* A stream whose user is still attached (see stp_mux_detach) is
	 * gone: abort when it was reset or its connection is going (the
	 * user's work is over too), else it ended by FIN both ways (the user
	 * finishes on its own). May be NULL. */
	void (*release)(void *arg, void *user, bool abort);
	/* The connection ended: err 0 at the peer's close, else an errno
	 * (EPROTO: a protocol error, ETIMEDOUT: keep-alive), why in words.
	 * Called once, last, from the loop; the callee frees the engine. */
	void (*done)(void *arg, int err, const char *why);
	void *arg;
};

/* Starts the engine on a connection whose MUX reply is done; early holds
 * frames already read behind it (may be NULL). keepalive_ms > 0: PING after
 * that much silence, and end with ETIMEDOUT when three go unanswered.
 * Sets the connection's interest through ops->want. Returns NULL on ENOMEM. */
struct stp_mux *stp_mux_new(struct stp_loop *l, enum stp_mux_role role,
			    const struct stp_mux_ops *ops, const uint8_t *early, size_t n,
			    uint64_t keepalive_ms);
/* Closes every stream's socket (release with abort for those with a user)
 * and frees m. */
void stp_mux_free(struct stp_mux *m);

/* The connection is ready (STP_EV_* from the loop). */
void stp_mux_on_io(struct stp_mux *m, unsigned events);

/* Client role: a local SOCKS5 client on fd (non-blocking) becomes a
 * stream. Returns 0, or -1 (fd closed) at the stream limit or ENOMEM. */
int stp_mux_attach(struct stp_mux *m, int fd);

/* Server role: the user of stream id is gone; release will not be called. */
void stp_mux_detach(struct stp_mux *m, uint32_t id);

struct stp_mux_counts {
	uint64_t bytes_in, bytes_out;  /* DATA payload received / sent */
	uint64_t streams;              /* opened, in total */
	size_t live;                   /* open now */
	uint64_t last_active;          /* loop time of the last frame either way */
};
void stp_mux_counts(const struct stp_mux *m, struct stp_mux_counts *c);

#endif
