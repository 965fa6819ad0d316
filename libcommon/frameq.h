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

struct session;

struct stp_frameq {
	uint8_t *buf;
	size_t off, len, cap;
	size_t max;        /* bytes it may hold; beyond that frames are dropped */
};

/* Queues one frame LEN | d (fl bytes). Returns false (nothing queued) when
 * fl is over 65535, the queue is full, or memory is short. */
bool stp_frameq_push(struct stp_frameq *q, const uint8_t *d, size_t fl);
/* Writes what is queued to ss's client without blocking, and leaves the
 * interest at read, plus write while anything waits. Returns 0, or -1 when
 * the client is gone. */
int stp_frameq_flush(struct stp_frameq *q, struct session *ss);
void stp_frameq_free(struct stp_frameq *q);

/* Hands every whole frame in buf[0..*len) to cb (the frame without LEN)
 * and keeps the rest at the front; *len is updated. */
void stp_frames_split(uint8_t *buf, size_t *len,
		      void (*cb)(void *arg, const uint8_t *frame, size_t n), void *arg);

#endif
