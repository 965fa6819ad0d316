/* dgtx.h - datagrams gathered while a received batch is worked through,
 * then sent together: one sendmmsg(2) for the lot, and one UDP GSO send
 * (UDP_SEGMENT) for each run of alike datagrams (one socket, one
 * destination, one size but the last) where the kernel takes it. The
 * relay's per-datagram accounting stays: each datagram's outcome is handed
 * back to its owner, sent (0) or the errno it failed with.
 *
 * The queue holds pointers, not copies: the bytes must stay put until
 * dgtx_flush(), which the caller runs before it reuses them. */
#ifndef STP_DGTX_H
#define STP_DGTX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define DGTX_MAX 32                  /* the receive batch's size */

/* One datagram's outcome: err 0 = sent, else its errno. len is the owner's
 * own figure (what it counts as payload). */
typedef void dgtx_done_fn(void *owner, size_t len, int err);

struct dgtx_meta {
	dgtx_done_fn *done;
	void *owner;
	size_t len;
};

/* All zeros is an empty queue with GSO allowed. */
struct dgtx {
	int fd;                          /* what the queued ones leave from */
	unsigned n;
	bool gso_off;                    /* the kernel or the route refused it */
	struct mmsghdr m[DGTX_MAX];
	struct iovec iov[DGTX_MAX];
	struct sockaddr_storage to[DGTX_MAX];
	struct dgtx_meta meta[DGTX_MAX];
};

/* Queues b (n bytes) for to on fd; sends what is queued first when fd is
 * another socket or the queue is full. done(owner, len, err) reports the
 * outcome, at the latest from the next dgtx_flush(). */
void dgtx_add(struct dgtx *t, int fd, const void *b, size_t n, const struct sockaddr *to,
	      socklen_t tolen, dgtx_done_fn *done, void *owner, size_t len);
/* Sends everything queued, each outcome to its owner; the queue is empty
 * after. Never waits: what the socket does not take now fails (EAGAIN). */
void dgtx_flush(struct dgtx *t);

#endif
