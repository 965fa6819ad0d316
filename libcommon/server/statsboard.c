/* statsboard.c - live sessions of every worker for the status page
 * (statsboard.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/server_priv.h"
#include "server/statsboard.h"

#define READ_TRIES 64  /* a writer rewrites a board once a second: a few
			  tries always find it still */

_Static_assert(STATS_NLISTEN == STP_MAX_LISTEN, "a board counts every listener");

/* Bytes ss has relayed so far, up (client to target) and down. */
static void live_bytes(const struct session *ss, uint64_t *up, uint64_t *down)
{
	if (ss->relay) {
		*up = stp_relay_bytes(ss->relay, STP_RELAY_AB);
		*down = stp_relay_bytes(ss->relay, STP_RELAY_BA);
	} else {
		*up = ss->bytes_up;
		*down = ss->bytes_down;
	}
}

/* Copies src into dst of cap bytes, cut to fit, always terminated. */
static void cut(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The command slot of ss as stats.c counts it: 0 none, 1 + index, last
 * unknown. */
static int cmd_slot(const struct session *ss)
{
	if (ss->cmd == 0)
		return 0;
	int i = stp_cmd_index(ss->ver, ss->cmd);
	return i < 0 ? STATS_NCMDS - 1 : 1 + i;
}

/* --- the busiest users and targets of one process's sessions --------------- */

static int addr_cmp(const struct stp_addr *x, const struct stp_addr *y)
{
	if (x->atyp != y->atyp)
		return x->atyp < y->atyp ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	switch (x->atyp) {
	case STP_ATYP_IPV4: return memcmp(x->u.v4, y->u.v4, 4);
	case STP_ATYP_IPV6: return memcmp(x->u.v6, y->u.v6, 16);
	default: return strncmp(x->u.name, y->u.name, sizeof(x->u.name));
	}
}

static int by_user(const void *a, const void *b)
{
	const struct session *x = *(const struct session *const *)a;
	const struct session *y = *(const struct session *const *)b;

	return strcmp(x->user, y->user);
}

static int by_target(const void *a, const void *b)
{
	const struct session *x = *(const struct session *const *)a;
	const struct session *y = *(const struct session *const *)b;

	return addr_cmp(&x->dst, &y->dst);
}

static bool busier(const struct board_top *a, const struct board_top *b)
{
	return a->sessions > b->sessions ||
	       (a->sessions == b->sessions && a->up + a->down > b->up + b->down);
}

/* Keeps t among the cap busiest of best[0..*n), busiest first. */
static void top_keep(struct board_top *best, int *n, int cap, const struct board_top *t)
{
	int i;

	if (*n == cap && !busier(t, &best[cap - 1]))
		return;
	i = *n < cap ? (*n)++ : cap - 1;
	best[i] = *t;
	for (; i > 0 && busier(&best[i], &best[i - 1]); i--) {
		struct board_top tmp = best[i - 1];
		best[i - 1] = best[i];
		best[i] = tmp;
	}
}

/* The busiest keys of the n sessions at v into best (cap of them). */
static int tops_of(const struct session **v, size_t n, bool target,
		   struct board_top *best, int cap)
{
	int (*cmp)(const void *, const void *) = target ? by_target : by_user;
	struct board_top cur;
	const struct session *first = NULL;
	int nb = 0;
	uint64_t up, down;

	if (n)
		qsort(v, n, sizeof(*v), cmp);
	for (size_t i = 0; i <= n; i++) {
		if (first && (i == n || cmp(&first, &v[i]) != 0)) {
			if (target)
				stp_addr_str(&first->dst, cur.key, sizeof(cur.key));
			else
				cut(cur.key, sizeof(first->user) < sizeof(cur.key) ?
					     sizeof(first->user) : sizeof(cur.key), first->user);
			top_keep(best, &nb, cap, &cur);
			first = NULL;
		}
		if (i == n)
			break;
		if (!first) {
			memset(&cur, 0, sizeof(cur));
			first = v[i];
		}
		live_bytes(v[i], &up, &down);
		cur.sessions++;
		cur.up += up;
		cur.down += down;
	}
	return nb;
}

/* --- one process's board --------------------------------------------------- */

void board_fill(struct stp_server *s, struct stats_board *b)
{
	const struct session **v = NULL, **tv = NULL;
	size_t n = 0, nt = 0;
	uint64_t up, down;

	b->t_ms = stp_clock_ms();
	b->open = (uint64_t)s->nsessions;
	b->live_up = b->live_down = 0;
	memset(b->open_by_cmd, 0, sizeof(b->open_by_cmd));
	memset(b->open_by_listener, 0, sizeof(b->open_by_listener));
	b->nsess = 0;
	if (s->nsessions > 0) {
		v = malloc((size_t)s->nsessions * sizeof(*v));
		tv = malloc((size_t)s->nsessions * sizeof(*tv));
	}
	/* sessions are linked at the head: newest first */
	for (const struct session *ss = s->sessions; ss; ss = ss->next) {
		live_bytes(ss, &up, &down);
		b->live_up += up;
		b->live_down += down;
		b->open_by_cmd[cmd_slot(ss)]++;
		if (ss->listener >= 0 && ss->listener < STATS_NLISTEN)
			b->open_by_listener[ss->listener]++;
		if (v && n < (size_t)s->nsessions)
			v[n++] = ss;
		if (tv && ss->cmd && nt < (size_t)s->nsessions)
			tv[nt++] = ss;
		if (b->nsess < BOARD_SESS) {
			struct board_sess *e = &b->sess[b->nsess++];
			char buf[STP_ADDRSTRLEN];
			e->id = ss->id;
			e->start_ms = ss->start;
			e->up = up;
			e->down = down;
			e->worker = s->worker;
			e->listener = ss->listener;
			cut(e->user, sizeof(e->user), ss->user);
			cut(e->client, sizeof(e->client),
			    stp_sa_str((const struct sockaddr *)&ss->peer, buf, sizeof(buf)));
			cut(e->command, sizeof(e->command),
			    ss->cmd ? stp_cmd_label(ss->ver, ss->cmd) : "none");
			if (ss->cmd)
				stp_addr_str(&ss->dst, e->target, sizeof(e->target));
			else
				e->target[0] = '\0';
			e->active = ss->state == S_RELAY || ss->state == S_CMD;
		}
	}
	/* short of memory the tops stay empty: the counts above are still right */
	b->nusers = (uint32_t)tops_of(v, v ? n : 0, false, b->users, BOARD_TOP);
	b->ntargets = (uint32_t)tops_of(tv, tv ? nt : 0, true, b->targets, BOARD_TOP);
	free(v);
	free(tv);
}

/* --- the shared boards ----------------------------------------------------- */

/* Starts (odd) or ends (even) a write of b. */
static void write_begin(struct stats_board *b)
{
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct stats_board *b)
{
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
}

void board_reset(struct stp_server *s)
{
	struct stats_board *b = stats_shared_board(s, s->worker);

	if (b && (b->seq & 1))
		__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
}

void board_publish(struct stp_server *s)
{
	struct stats_board *b = stats_shared_board(s, s->worker);

	if (!b)
		return;
	write_begin(b);
	board_fill(s, b);
	write_end(b);
}

void board_refusal(struct stp_server *s, const struct stats_refusal *r)
{
	struct stats_board *b = stats_shared_board(s, s->worker);

	if (!b)
		return;
	write_begin(b);
	b->ref[b->rhead] = *r;
	b->rhead = (b->rhead + 1) % STATS_REFUSALS;
	if (b->nref < STATS_REFUSALS)
		b->nref++;
	write_end(b);
}

int board_read(struct stp_server *s, int k, struct stats_board *out)
{
	struct stats_board *b = stats_shared_board(s, k);

	if (!b)
		return -1;
	for (int t = 0; t < READ_TRIES; t++) {
		uint64_t s1 = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out, b, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&b->seq, __ATOMIC_RELAXED) == s1) {
			/* strings are the writer's, but bounded here all the same */
			if (out->nsess > BOARD_SESS || out->nusers > BOARD_TOP ||
			    out->ntargets > BOARD_TOP || out->nref > STATS_REFUSALS ||
			    out->rhead >= STATS_REFUSALS)
				return -1;
			return 0;
		}
	}
	return -1;
}

/* --- every worker merged --------------------------------------------------- */

static int top_by_key(const void *a, const void *b)
{
	return strcmp(((const struct board_top *)a)->key, ((const struct board_top *)b)->key);
}

/* Sums the n entries at v (sorted here) by key into the busiest cap of
 * out. */
static int tops_merge(struct board_top *v, size_t n, struct board_top *out, int cap)
{
	int nb = 0;

	qsort(v, n, sizeof(*v), top_by_key);
	for (size_t i = 0; i < n;) {
		struct board_top cur = v[i];
		size_t j = i + 1;
		for (; j < n && strcmp(v[j].key, cur.key) == 0; j++) {
			cur.sessions += v[j].sessions;
			cur.up += v[j].up;
			cur.down += v[j].down;
		}
		top_keep(out, &nb, cap, &cur);
		i = j;
	}
	return nb;
}

static int sess_newest(const void *a, const void *b)
{
	const struct board_sess *x = a, *y = b;

	if (x->start_ms != y->start_ms)
		return x->start_ms > y->start_ms ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

static int ref_newest(const void *a, const void *b)
{
	const struct stats_refusal *x = a, *y = b;

	return x->t_ms > y->t_ms ? -1 : x->t_ms < y->t_ms;
}

static void terminate(struct board_sess *e)
{
	e->user[sizeof(e->user) - 1] = e->client[sizeof(e->client) - 1] = '\0';
	e->command[sizeof(e->command) - 1] = e->target[sizeof(e->target) - 1] = '\0';
}

int board_all(struct stp_server *s, const struct stats_ring *r, struct board_all *a)
{
	int nw = s->shared ? s->nworkers : 1;
	struct stats_board *b = malloc(sizeof(*b));
	struct board_top *users = calloc((size_t)nw * BOARD_TOP, sizeof(*users));
	struct board_top *targets = calloc((size_t)nw * BOARD_TOP, sizeof(*targets));
	struct stats_refusal *refs = calloc((size_t)nw * STATS_REFUSALS, sizeof(*refs));
	size_t nu = 0, nt = 0, nr = 0;

	memset(a, 0, sizeof(*a));
	a->sess = calloc((size_t)nw * BOARD_SESS, sizeof(*a->sess));
	if (!b || !users || !targets || !refs || !a->sess) {
		free(b);
		free(users);
		free(targets);
		free(refs);
		board_all_free(a);
		return -1;
	}
	for (int k = 0; k < nw; k++) {
		if (!s->shared) {
			b->nref = 0;
			board_fill(s, b);
		} else {
			if (k == s->worker)
				board_publish(s);  /* this one fresh */
			if (board_read(s, k, b) < 0) {
				a->stale++;
				continue;
			}
		}
		a->open += b->open;
		a->live_up += b->live_up;
		a->live_down += b->live_down;
		for (int c = 0; c < STATS_NCMDS; c++)
			a->open_by_cmd[c] += b->open_by_cmd[c];
		for (int l = 0; l < STATS_NLISTEN; l++)
			a->open_by_listener[l] += b->open_by_listener[l];
		for (uint32_t i = 0; i < b->nsess; i++) {
			a->sess[a->nsess] = b->sess[i];
			terminate(&a->sess[a->nsess++]);
		}
		for (uint32_t i = 0; i < b->nusers; i++) {
			users[nu] = b->users[i];
			users[nu++].key[sizeof(users->key) - 1] = '\0';
		}
		for (uint32_t i = 0; i < b->ntargets; i++) {
			targets[nt] = b->targets[i];
			targets[nt++].key[sizeof(targets->key) - 1] = '\0';
		}
		for (uint32_t i = 0; s->shared && i < b->nref; i++)
			refs[nr++] = b->ref[i];
	}
	if (!s->shared)
		for (size_t i = 0; r && i < r->rn && nr < STATS_REFUSALS; i++)
			refs[nr++] = *stats_ring_refusal_at(r, i);
	qsort(a->sess, a->nsess, sizeof(*a->sess), sess_newest);
	a->nusers = tops_merge(users, nu, a->users, BOARD_TOP);
	a->ntargets = tops_merge(targets, nt, a->targets, BOARD_TOP);
	qsort(refs, nr, sizeof(*refs), ref_newest);
	for (size_t i = 0; i < nr && i < STATS_REFUSALS; i++) {
		a->ref[a->nref] = refs[i];
		struct stats_refusal *f = &a->ref[a->nref++];
		f->client[sizeof(f->client) - 1] = f->user[sizeof(f->user) - 1] = '\0';
		f->command[sizeof(f->command) - 1] = f->target[sizeof(f->target) - 1] = '\0';
		f->reason[sizeof(f->reason) - 1] = '\0';
	}
	free(b);
	free(users);
	free(targets);
	free(refs);
	return 0;
}

void board_all_free(struct board_all *a)
{
	free(a->sess);
	a->sess = NULL;
}
