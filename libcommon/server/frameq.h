/* frameq.h - datagrams carried on a client's TCP connection (UDP_TCP, and
 * TCP_DELIVERY of UDP_BIND and MCAST), framed LEN(2) | UDP header | DATA
 * (PROTOCOL.md §3): the bounded queue towards the client and the frame
 * splitter for what comes from it. One piece for every command that
 * delivers over TCP. */
#ifndef STP_FRAMEQ_H
#define STP_FRAMEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct session;

struct stp_frameq {
	uint8_t *buf;
	size_t off, len, cap;
	size_t max;        /* bytes it may hold; beyond that frames are dropped */
};

/* Queues one frame LEN | d (fl bytes). Returns false (nothing queued) when
 * fl is over 65535, the queue is full, or memory is short. */
bool stp_frameq_push(struct stp_frameq *q, const uint8_t *d, size_t fl);
/* Writes what is queued through wr (a send(2)-like call on arg) until it
 * would block. Returns 0, or -1 when the other end is gone. */
typedef ssize_t stp_frameq_write(void *arg, const void *buf, size_t n);
int stp_frameq_drain(struct stp_frameq *q, stp_frameq_write *wr, void *arg);
/* Writes what is queued to ss's client without blocking, and leaves the
 * interest at read, plus write while anything waits. Returns 0, or -1 when
 * the client is gone. */
int stp_frameq_flush(struct stp_frameq *q, struct session *ss);
void stp_frameq_free(struct stp_frameq *q);

typedef void stp_frame_cb(void *arg, const uint8_t *frame, size_t n);

/* What comes from the client: a buffer grown only as the frames need (one
 * is at most 2 + 65535 bytes); whole frames go to a callback (the frame
 * without LEN), the rest waits at the front. */
struct stp_framein {
	uint8_t *buf;
	size_t len, cap;
};

/* Takes n bytes already received (frames sent right behind the request)
 * and hands the whole frames to cb. Returns 0, or -1 out of memory. */
int stp_framein_put(struct stp_framein *fi, const uint8_t *b, size_t n,
		    stp_frame_cb *cb, void *arg);
/* Reads ss's client connection, at most budget bytes for this event: with
 * fi, its frames go to cb; without (UDP delivery: the connection only tells,
 * by closing, that the client is done), the bytes are discarded. Returns
 * 0, or -1 at EOF, on an error or out of memory. */
int stp_control_read(struct session *ss, struct stp_framein *fi, size_t budget,
		     stp_frame_cb *cb, void *arg);
void stp_framein_free(struct stp_framein *fi);

#endif
