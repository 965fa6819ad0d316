/* statsring.h - the status page's memory of the past: a ring of samples
 * (one per STATS_RING_STEP_S seconds over the last hour) and a ring of the
 * last refusals, each of fixed size, allocated once with the --stats
 * endpoint. Pure bookkeeping: no I/O, no clock of its own (the caller
 * passes loop time in ms).
 *
 * Memory: STATS_RING_LEN samples of struct stats_sample (5 x 8 bytes) =
 * 14,400 bytes, plus STATS_REFUSALS entries of struct stats_refusal
 * (552 bytes) = 17,664 bytes: 32,136 bytes with the indexes, whatever the
 * load (sizeof(struct stats_ring), checked by test-statsring). */
#ifndef STP_STATSRING_H
#define STP_STATSRING_H

#include <stddef.h>
#include <stdint.h>

#define STATS_RING_STEP_S 10
#define STATS_RING_LEN 360     /* 360 x 10 s = the last hour */
#define STATS_REFUSALS 32

/* Totals at one moment; the ring keeps the differences between moments. */
struct stats_totals {
	uint64_t bytes_up, bytes_down, sessions, failures;
};

/* One step of the series: what happened in the STATS_RING_STEP_S seconds
 * before t_ms (wall-clock ms since the epoch, for the page's time axis). */
struct stats_sample {
	uint64_t t_ms;
	uint64_t bytes_up, bytes_down, sessions, failures;
};

struct stats_refusal {
	uint64_t t_ms;                 /* wall clock, ms since the epoch */
	char client[64];               /* "ADDR:PORT" */
	char user[128];
	char command[16];
	char target[272];
	char reason[64];
};

struct stats_ring {
	struct stats_sample s[STATS_RING_LEN];
	size_t head, n;                /* next slot to write; samples held */
	struct stats_totals last;      /* totals at the last sample */
	int primed;                    /* last holds a first reading */
	struct stats_refusal r[STATS_REFUSALS];
	size_t rhead, rn;
};

/* Takes a reading of the totals at wall-clock t_ms: the first one only
 * primes, each later one appends the differences (a total that went down,
 * a restarted worker's, counts as 0). */
void stats_ring_sample(struct stats_ring *r, const struct stats_totals *now, uint64_t t_ms);
/* Sample i, oldest first (i < r->n). */
const struct stats_sample *stats_ring_at(const struct stats_ring *r, size_t i);
/* Remembers a refusal, the oldest making room. Strings are cut to fit. */
void stats_ring_refusal(struct stats_ring *r, uint64_t t_ms, const char *client,
			const char *user, const char *command, const char *target,
			const char *reason);
/* Refusal i, newest first (i < r->rn). */
const struct stats_refusal *stats_ring_refusal_at(const struct stats_ring *r, size_t i);

#endif
