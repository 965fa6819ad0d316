/* authq.c - round-robin over per-address FIFOs of password checks. An
 * address is in the table and on the ring only while it has items, so
 * both are bounded by the queue's total. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/policy/authq.h"

#define NBUCKETS 256

struct stp_authq_addr {
	struct stp_authq_addr *hnext;        /* hash chain */
	struct stp_authq_addr *rprev, *rnext; /* the ring of addresses with items */
	struct stp_authq_item *head, *tail;
	size_t n;
	uint8_t key[16];
};

struct stp_authq {
	struct stp_authq_addr *b[NBUCKETS];
	struct stp_authq_addr *turn;         /* whose item pop takes next */
	size_t per_addr, total, n;
};

/* IPv6, IPv4 as v4-mapped, anything else all zeros. */
static void key_of(const struct sockaddr *sa, uint8_t *k)
{
	memset(k, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		k[10] = k[11] = 0xFF;
		memcpy(k + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		memcpy(k, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static size_t hash(const uint8_t *k)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % NBUCKETS;
}

struct stp_authq *stp_authq_new(size_t per_addr, size_t total)
{
	struct stp_authq *q = calloc(1, sizeof(*q));

	if (q) {
		q->per_addr = per_addr;
		q->total = total;
	}
	return q;
}

void stp_authq_free(struct stp_authq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct stp_authq_addr *a = q->b[i], *n; a; a = n) {
			n = a->hnext;
			for (struct stp_authq_item *it = a->head; it; it = it->next)
				it->owner = NULL;
			free(a);
		}
	free(q);
}

/* sa's entry, made (and put on the ring just before the one whose turn it
 * is: last in this round) if it has none. NULL when out of memory. */
static struct stp_authq_addr *addr_of(struct stp_authq *q, const struct sockaddr *sa)
{
	uint8_t k[16];
	struct stp_authq_addr *a;
	size_t h;

	key_of(sa, k);
	h = hash(k);
	for (a = q->b[h]; a; a = a->hnext)
		if (memcmp(a->key, k, 16) == 0)
			return a;
	if (!(a = calloc(1, sizeof(*a))))
		return NULL;
	memcpy(a->key, k, 16);
	a->hnext = q->b[h];
	q->b[h] = a;
	if (!q->turn) {
		a->rprev = a->rnext = a;
		q->turn = a;
	} else {
		a->rnext = q->turn;
		a->rprev = q->turn->rprev;
		a->rprev->rnext = a;
		q->turn->rprev = a;
	}
	return a;
}

/* a has no items left: off the ring and out of the table. */
static void addr_drop(struct stp_authq *q, struct stp_authq_addr *a)
{
	struct stp_authq_addr **pp = &q->b[hash(a->key)];

	while (*pp != a)
		pp = &(*pp)->hnext;
	*pp = a->hnext;
	if (a->rnext == a) {
		q->turn = NULL;
	} else {
		a->rprev->rnext = a->rnext;
		a->rnext->rprev = a->rprev;
		if (q->turn == a)
			q->turn = a->rnext;
	}
	free(a);
}

int stp_authq_push(struct stp_authq *q, struct stp_authq_item *it, const struct sockaddr *sa)
{
	struct stp_authq_addr *a;

	if (q->n >= q->total || !(a = addr_of(q, sa)))
		return -1;
	if (a->n >= q->per_addr) {
		if (a->n == 0)
			addr_drop(q, a);  /* per_addr 0: nothing is ever queued */
		return -1;
	}
	it->owner = a;
	it->next = NULL;
	it->prev = a->tail;
	if (a->tail)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->n++;
	q->n++;
	return 0;
}

void stp_authq_remove(struct stp_authq *q, struct stp_authq_item *it)
{
	struct stp_authq_addr *a = it->owner;

	if (!a)
		return;
	if (it->prev)
		it->prev->next = it->next;
	else
		a->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		a->tail = it->prev;
	it->owner = NULL;
	it->prev = it->next = NULL;
	a->n--;
	q->n--;
	if (a->n == 0)
		addr_drop(q, a);
}

struct stp_authq_item *stp_authq_pop(struct stp_authq *q)
{
	struct stp_authq_addr *a = q->turn;
	struct stp_authq_item *it;

	if (!a)
		return NULL;
	it = a->head;
	q->turn = a->rnext;  /* before remove, which may free a */
	stp_authq_remove(q, it);
	return it;
}

size_t stp_authq_len(const struct stp_authq *q)
{
	return q->n;
}
