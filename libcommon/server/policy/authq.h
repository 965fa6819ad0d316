/* authq.h - the queue of password checks waiting for a hashing thread,
 * fair between client addresses: one FIFO per address, served round-robin,
 * so an address that sends many logins delays its own, not the others'.
 * Bounded per address and in all; an item can leave before its turn (its
 * session closed). Pure: no locks (the caller holds one), no I/O; the
 * items are the caller's, embedded in its jobs. */
#ifndef STP_AUTHQ_H
#define STP_AUTHQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct stp_authq_addr;

struct stp_authq_item {
	struct stp_authq_item *prev, *next;
	struct stp_authq_addr *owner;   /* NULL: not queued */
};

struct stp_authq;

/* Returns an empty queue taking at most per_addr items of one address and
 * total in all, or NULL when out of memory. */
struct stp_authq *stp_authq_new(size_t per_addr, size_t total);
/* Frees the queue; the items still in it are the caller's. */
void stp_authq_free(struct stp_authq *q);
/* Appends it under sa's address (addresses other than IP share one FIFO).
 * Returns 0, or -1 when the address or the queue is full or out of memory
 * (it is not queued then). */
int stp_authq_push(struct stp_authq *q, struct stp_authq_item *it, const struct sockaddr *sa);
/* Takes the next item, one address after the other; NULL when empty. */
struct stp_authq_item *stp_authq_pop(struct stp_authq *q);
/* Takes it out of the queue, wherever it is; nothing if it is not queued. */
void stp_authq_remove(struct stp_authq *q, struct stp_authq_item *it);
/* Items queued in all. */
size_t stp_authq_len(const struct stp_authq *q);

#endif
