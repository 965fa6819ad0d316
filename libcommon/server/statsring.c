/* statsring.c - the samples and refusals rings of the status page
 * (statsring.h). */
#include <string.h>

#include "server/statsring.h"

/* b - a, or 0 when b is smaller (a counter that started again). */
static uint64_t delta(uint64_t a, uint64_t b)
{
	return b >= a ? b - a : 0;
}

void stats_ring_sample(struct stats_ring *r, const struct stats_totals *now, uint64_t t_ms)
{
	if (r->primed) {
		struct stats_sample *s = &r->s[r->head];

		s->t_ms = t_ms;
		s->bytes_up = delta(r->last.bytes_up, now->bytes_up);
		s->bytes_down = delta(r->last.bytes_down, now->bytes_down);
		s->sessions = delta(r->last.sessions, now->sessions);
		s->failures = delta(r->last.failures, now->failures);
		r->head = (r->head + 1) % STATS_RING_LEN;
		if (r->n < STATS_RING_LEN)
			r->n++;
	}
	r->last = *now;
	r->primed = 1;
}

const struct stats_sample *stats_ring_at(const struct stats_ring *r, size_t i)
{
	/* the oldest is head - n, modulo the length */
	return &r->s[(r->head + STATS_RING_LEN - r->n + i) % STATS_RING_LEN];
}

/* Copies src into dst of cap bytes, cut to fit, always terminated. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void stats_ring_refusal(struct stats_ring *r, uint64_t t_ms, const char *client,
			const char *user, const char *command, const char *target,
			const char *reason)
{
	struct stats_refusal *f = &r->r[r->rhead];

	f->t_ms = t_ms;
	copy_cut(f->client, sizeof(f->client), client);
	copy_cut(f->user, sizeof(f->user), user);
	copy_cut(f->command, sizeof(f->command), command);
	copy_cut(f->target, sizeof(f->target), target);
	copy_cut(f->reason, sizeof(f->reason), reason);
	r->rhead = (r->rhead + 1) % STATS_REFUSALS;
	if (r->rn < STATS_REFUSALS)
		r->rn++;
}

const struct stats_refusal *stats_ring_refusal_at(const struct stats_ring *r, size_t i)
{
	return &r->r[(r->rhead + STATS_REFUSALS - 1 - i) % STATS_REFUSALS];
}
