/* ratelimit.c - token buckets and the client address table. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/policy/ratelimit.h"

void stp_bucket_init(struct stp_bucket *b, long rate, uint64_t now)
{
	b->rate = (double)rate;
	b->burst = b->rate / 8;
	if (b->burst < 1024)
		b->burst = 1024;
	if (b->burst > b->rate)
		b->burst = b->rate;
	b->tokens = b->burst;
	b->last = now;
}

size_t stp_bucket_avail(struct stp_bucket *b, uint64_t now)
{
	if (now > b->last) {
		b->tokens += b->rate * (double)(now - b->last) / 1000.0;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last = now;
	}
	return b->tokens >= 1 ? (size_t)b->tokens : 0;
}

void stp_bucket_take(struct stp_bucket *b, size_t n)
{
	b->tokens -= (double)n;
}

size_t stp_bucket_chunk(const struct stp_bucket *b)
{
	size_t c = (size_t)(b->burst / 4);

	if (c > 4096)
		c = 4096;
	return c ? c : 1;
}

uint64_t stp_bucket_wait(const struct stp_bucket *b, size_t want)
{
	double need = (double)want - b->tokens;
	uint64_t ms;

	if (need <= 0)
		return 1;
	ms = (uint64_t)(need * 1000.0 / b->rate) + 1;
	return ms;
}

/* --- client addresses ------------------------------------------------------ */

#define NBUCKETS 4096
#define MAX_ENTRIES (1 << 20)

struct ent {
	struct ent *next;
	uint8_t key[16];        /* IPv6, IPv4 as v4-mapped */
	long sessions;
	int fails;
	int pending;            /* logins started, not answered yet */
	uint64_t fail_start;    /* start of the current window of failures */
	uint64_t blocked_until;
};

struct stp_clients {
	struct ent *b[NBUCKETS];
	size_t n;
};

static bool key_of(const struct sockaddr *sa, uint8_t *k)
{
	if (sa->sa_family == AF_INET) {
		memset(k, 0, 10);
		k[10] = k[11] = 0xFF;
		memcpy(k + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(k, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static size_t hash(const uint8_t *k)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % NBUCKETS;
}

/* The entry of sa's address; created when create is set. NULL if there is
 * none (or no memory, or the table is full). */
static struct ent *lookup(struct stp_clients *c, const struct sockaddr *sa, bool create)
{
	uint8_t k[16];
	struct ent *e;
	size_t h;

	if (!key_of(sa, k))
		return NULL;
	h = hash(k);
	for (e = c->b[h]; e; e = e->next)
		if (memcmp(e->key, k, 16) == 0)
			return e;
	if (!create || c->n >= MAX_ENTRIES || !(e = calloc(1, sizeof(*e))))
		return NULL;
	memcpy(e->key, k, 16);
	e->next = c->b[h];
	c->b[h] = e;
	c->n++;
	return e;
}

struct stp_clients *stp_clients_new(void)
{
	return calloc(1, sizeof(struct stp_clients));
}

void stp_clients_free(struct stp_clients *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct ent *e = c->b[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	free(c);
}

long stp_clients_admit(struct stp_clients *c, const struct sockaddr *sa, long limit)
{
	struct ent *e = lookup(c, sa, true);

	if (!e)
		return -1;
	if (limit > 0 && e->sessions >= limit)
		return 0;
	return ++e->sessions;
}

void stp_clients_release(struct stp_clients *c, const struct sockaddr *sa)
{
	struct ent *e = lookup(c, sa, false);

	if (e && e->sessions > 0)
		e->sessions--;
}

bool stp_clients_blocked(struct stp_clients *c, const struct sockaddr *sa, uint64_t now)
{
	struct ent *e = lookup(c, sa, false);

	return e && e->blocked_until > now;
}

/* The failures of e still in the window (none once it is over). */
static int live_fails(const struct ent *e, uint64_t now)
{
	return e->fails && now - e->fail_start <= STP_LOGIN_FAIL_WINDOW_MS ? e->fails : 0;
}

enum stp_login stp_clients_login_start(struct stp_clients *c, const struct sockaddr *sa,
				       uint64_t now, int max)
{
	uint8_t k[16];
	struct ent *e;

	if (!key_of(sa, k))
		return STP_LOGIN_UNTRACKED;
	/* refused rather than let through: an attacker filling the table must
	 * not get logins that escape the count */
	if (!(e = lookup(c, sa, true)))
		return STP_LOGIN_NOMEM;
	if (e->blocked_until > now)
		return STP_LOGIN_BLOCKED;
	if (max > 0 && live_fails(e, now) + e->pending >= max)
		return STP_LOGIN_BUSY;
	e->pending++;
	return STP_LOGIN_GO;
}

void stp_clients_login_dropped(struct stp_clients *c, const struct sockaddr *sa)
{
	struct ent *e = lookup(c, sa, false);

	if (e && e->pending > 0)
		e->pending--;
}

bool stp_clients_failed(struct stp_clients *c, const struct sockaddr *sa, uint64_t now, int max)
{
	struct ent *e = lookup(c, sa, true);

	if (!e)
		return false;
	if (e->pending > 0)
		e->pending--;
	if (e->fails == 0 || now - e->fail_start > STP_LOGIN_FAIL_WINDOW_MS) {
		e->fails = 0;
		e->fail_start = now;
	}
	if (++e->fails >= max && max > 0 && e->blocked_until <= now) {
		e->blocked_until = now + STP_LOGIN_BLOCK_MS;
		e->fails = 0;
		return true;
	}
	return false;
}

void stp_clients_succeeded(struct stp_clients *c, const struct sockaddr *sa)
{
	struct ent *e = lookup(c, sa, false);

	if (!e)
		return;
	e->fails = 0;
	if (e->pending > 0)
		e->pending--;
}

void stp_clients_sweep(struct stp_clients *c, uint64_t now)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct ent **pp = &c->b[i];
		while (*pp) {
			struct ent *e = *pp;
			if (e->sessions == 0 && e->pending == 0 && !live_fails(e, now) &&
			    e->blocked_until <= now) {
				*pp = e->next;
				free(e);
				c->n--;
			} else {
				pp = &e->next;
			}
		}
	}
}

size_t stp_clients_count(const struct stp_clients *c)
{
	return c->n;
}
