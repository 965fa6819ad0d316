/* statsapi.c - the status page's JSON (statsapi.h), built with jansson.
 * Untrusted text (user names, target names) goes through stp_json_string,
 * which never drops a string for bad UTF-8.
 *
 * The busiest users and targets are of the sessions live now, in this
 * process: the sessions are sorted by key (n log n, at most
 * STP_MAX_SESSIONS_DEFAULT of them) and runs added up, so that the cost
 * is paid by the page's request, never by the sessions. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/version.h"
#include "server/server_priv.h"
#include "server/statsapi.h"

#define TOP_N 10

uint64_t stats_wall_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Bytes ss has relayed so far, up (client to target) and down. */
static void sess_bytes(const struct session *ss, uint64_t *up, uint64_t *down)
{
	if (ss->relay) {
		*up = stp_relay_bytes(ss->relay, STP_RELAY_AB);
		*down = stp_relay_bytes(ss->relay, STP_RELAY_BA);
	} else {
		*up = ss->bytes_up;
		*down = ss->bytes_down;
	}
}

void stats_totals_of(struct stp_server *s, struct stats_totals *t)
{
	struct stats_view v;
	uint64_t up, down;

	stats_view_all(s, &v);
	memset(t, 0, sizeof(*t));
	t->bytes_up = v.st.bytes_up;
	t->bytes_down = v.st.bytes_down;
	for (int c = 0; c < STATS_NCMDS; c++)
		for (int r = 0; r < STATS_NRESULTS; r++) {
			t->sessions += v.st.sessions[c][r];
			if (r != STATS_OK && r != STATS_NONE)
				t->failures += v.st.sessions[c][r];
		}
	t->failures += v.st.auth_failures + v.refused;
	for (const struct session *ss = s->sessions; ss; ss = ss->next) {
		sess_bytes(ss, &up, &down);
		t->bytes_up += up;
		t->bytes_down += down;
	}
}

/* json_object_set_new that tolerates a NULL value (memory short): the
 * document is then checked once, at the end, by json_dumps. */
static void put(json_t *o, const char *k, json_t *v)
{
	if (o && v)
		json_object_set_new(o, k, v);
	else
		json_decref(v);
}

static void push(json_t *a, json_t *v)
{
	if (a && v)
		json_array_append_new(a, v);
	else
		json_decref(v);
}

static json_t *num(uint64_t v)
{
	return json_integer((json_int_t)v);
}

/* Dumps o (taking it) compactly; NULL when memory is short. */
static char *dump(json_t *o)
{
	char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return out;
}

/* The user of ss as the page shows it: the authenticated name, else "". */
static const char *sess_user(const struct session *ss)
{
	return ss->user;
}

static json_t *view_json(const struct stats_view *v)
{
	json_t *o = json_object();
	uint64_t n = 0, fail = 0;

	for (int c = 0; c < STATS_NCMDS; c++)
		for (int r = 0; r < STATS_NRESULTS; r++) {
			n += v->st.sessions[c][r];
			if (r != STATS_OK && r != STATS_NONE)
				fail += v->st.sessions[c][r];
		}
	put(o, "sessions_open", num(v->open));
	put(o, "max_sessions", num(v->max_sessions));
	put(o, "sessions_total", num(n));
	put(o, "failed_total", num(fail));
	put(o, "bytes_up", num(v->st.bytes_up));
	put(o, "bytes_down", num(v->st.bytes_down));
	put(o, "auth_failures", num(v->st.auth_failures));
	put(o, "rule_denials", num(v->st.rule_denials));
	put(o, "refused", num(v->refused));
	put(o, "resolver_lookups", num(v->lookups));
	put(o, "http", stats_http_json(&v->st.http));
	return o;
}

/* --- the busiest users and targets ----------------------------------------- */

static int by_user(const void *a, const void *b)
{
	const struct session *x = *(const struct session *const *)a;
	const struct session *y = *(const struct session *const *)b;

	return strcmp(sess_user(x), sess_user(y));
}

/* Orders targets: address type, port, then the address or name. */
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

static int by_target(const void *a, const void *b)
{
	const struct session *x = *(const struct session *const *)a;
	const struct session *y = *(const struct session *const *)b;

	return addr_cmp(&x->dst, &y->dst);
}

struct top {
	const struct session *first;  /* of the run: its key */
	uint64_t sessions, up, down;
};

/* Keeps t among the TOP_N of best (by sessions, then bytes). */
static void top_keep(struct top *best, int *n, const struct top *t)
{
	int i = *n < TOP_N ? (*n)++ : TOP_N - 1;

	if (i == TOP_N - 1 && *n == TOP_N && best[i].first &&
	    (best[i].sessions > t->sessions ||
	     (best[i].sessions == t->sessions && best[i].up + best[i].down >= t->up + t->down)))
		return;
	best[i] = *t;
	while (i > 0 && (best[i - 1].sessions < best[i].sessions ||
			 (best[i - 1].sessions == best[i].sessions &&
			  best[i - 1].up + best[i - 1].down < best[i].up + best[i].down))) {
		struct top tmp = best[i - 1];
		best[i - 1] = best[i];
		best[i] = tmp;
		i--;
	}
}

/* The busiest keys among the n sessions at v (sorted by cmp), as a JSON
 * array of {"KEYNAME":..,"sessions":..,"bytes_up":..,"bytes_down":..}. */
static json_t *top_json(const struct session **v, size_t n,
			int (*cmp)(const void *, const void *), bool target)
{
	struct top best[TOP_N], cur = { 0 };
	int nb = 0;
	json_t *a = json_array();
	uint64_t up, down;

	memset(best, 0, sizeof(best));
	if (n)
		qsort(v, n, sizeof(*v), cmp);
	for (size_t i = 0; i < n; i++) {
		if (!cur.first || cmp(&cur.first, &v[i]) != 0) {
			if (cur.first)
				top_keep(best, &nb, &cur);
			memset(&cur, 0, sizeof(cur));
			cur.first = v[i];
		}
		sess_bytes(v[i], &up, &down);
		cur.sessions++;
		cur.up += up;
		cur.down += down;
	}
	if (cur.first)
		top_keep(best, &nb, &cur);
	for (int i = 0; i < nb; i++) {
		json_t *o = json_object();
		char buf[STP_ADDRSTRLEN + 300];
		if (target)
			put(o, "target", stp_json_string(stp_addr_str(&best[i].first->dst, buf,
								      sizeof(buf))));
		else
			put(o, "user", stp_json_string(sess_user(best[i].first)));
		put(o, "sessions", num(best[i].sessions));
		put(o, "bytes_up", num(best[i].up));
		put(o, "bytes_down", num(best[i].down));
		push(a, o);
	}
	return a;
}

/* --- /api/status ----------------------------------------------------------- */

char *stats_api_status(struct stp_server *s, const struct stats_ring *r, uint64_t started_ms)
{
	json_t *o = json_object(), *a, *bc, *oc;
	struct stats_view v;
	uint64_t now = stats_wall_ms(), open_by[STATS_NCMDS] = { 0 };
	const struct session **sv = NULL, **tv = NULL;
	size_t n = 0, nt = 0;
	char buf[STP_ADDRSTRLEN];

	put(o, "version", json_string(STP_VERSION));
	put(o, "now_ms", num(now));
	put(o, "uptime_s", num(now >= started_ms ? (now - started_ms) / 1000 : 0));
	put(o, "workers", json_integer(s->nworkers));
	a = json_array();
	for (int i = 0; i < s->nls; i++) {
		json_t *l = json_object();
		const struct sockaddr *sa = (const struct sockaddr *)&s->ls[i].addr;
		put(l, "addr", json_string(stp_sa_host(sa, buf, sizeof(buf))));
		put(l, "port", json_integer(stp_sa_port(sa)));
		put(l, "tls", json_boolean(s->ls[i].tls));
		push(a, l);
	}
	put(o, "listeners", a);
	stats_view_all(s, &v);
	put(o, "total", view_json(&v));
	a = json_array();
	for (int k = 0; k < s->nworkers; k++) {
		struct stats_view w;
		stats_view_worker(s, k, &w);
		json_t *wj = view_json(&w);
		put(wj, "worker", json_integer(k));
		push(a, wj);
	}
	put(o, "per_worker", a);
	/* ended sessions by command and result, the labels of /metrics */
	bc = json_object();
	for (int c = 0; c < STATS_NCMDS; c++) {
		json_t *rj = NULL;
		for (int k = 0; k < STATS_NRESULTS; k++) {
			if (!v.st.sessions[c][k])
				continue;
			if (!rj)
				rj = json_object();
			put(rj, stats_result_label(k), num(v.st.sessions[c][k]));
		}
		if (rj)
			put(bc, stats_cmd_slot_label(c), rj);
	}
	put(o, "ended", bc);
	/* live sessions of this process: by command, the busiest */
	if (s->nsessions > 0) {
		sv = malloc((size_t)s->nsessions * sizeof(*sv));
		tv = malloc((size_t)s->nsessions * sizeof(*tv));
	}
	for (const struct session *ss = s->sessions; ss; ss = ss->next) {
		int c = ss->cmd == 0 ? 0 : stp_cmd_index(ss->ver, ss->cmd);
		c = ss->cmd == 0 ? 0 : (c < 0 ? STATS_NCMDS - 1 : 1 + c);
		open_by[c]++;
		if (sv && n < (size_t)s->nsessions)
			sv[n++] = ss;
		if (tv && ss->cmd && nt < (size_t)s->nsessions)
			tv[nt++] = ss;
	}
	oc = json_object();
	for (int c = 0; c < STATS_NCMDS; c++)
		if (open_by[c])
			put(oc, stats_cmd_slot_label(c), num(open_by[c]));
	put(o, "open_by_command", oc);
	put(o, "top_users", top_json(sv, sv ? n : 0, by_user, false));
	put(o, "top_targets", top_json(tv, tv ? nt : 0, by_target, true));
	free(sv);
	free(tv);
	a = json_array();
	for (size_t i = 0; r && i < r->rn; i++) {
		const struct stats_refusal *f = stats_ring_refusal_at(r, i);
		json_t *fj = json_object();
		put(fj, "t_ms", num(f->t_ms));
		put(fj, "client", stp_json_string(f->client));
		put(fj, "user", stp_json_string(f->user));
		put(fj, "command", stp_json_string(f->command));
		put(fj, "target", stp_json_string(f->target));
		put(fj, "reason", stp_json_string(f->reason));
		push(a, fj);
	}
	put(o, "refusals", a);
	return dump(o);
}

/* --- /api/sessions --------------------------------------------------------- */

char *stats_api_sessions(struct stp_server *s, long limit)
{
	json_t *o = json_object(), *a = json_array();
	uint64_t now = stp_loop_now(s->loop), up, down;
	char buf[STP_ADDRSTRLEN + 300];
	long n = 0;

	/* newest first: sessions are linked at the head */
	for (const struct session *ss = s->sessions; ss && n < limit; ss = ss->next, n++) {
		json_t *j = json_object();
		sess_bytes(ss, &up, &down);
		put(j, "id", num(ss->id));
		put(j, "user", stp_json_string(sess_user(ss)));
		put(j, "client", json_string(stp_sa_str((const struct sockaddr *)&ss->peer,
							buf, sizeof(buf))));
		put(j, "command", json_string(ss->cmd ? stp_cmd_label(ss->ver, ss->cmd) : "none"));
		put(j, "target", ss->cmd ? stp_json_string(stp_addr_str(&ss->dst, buf, sizeof(buf)))
					 : json_null());
		put(j, "state", json_string(ss->state == S_RELAY || ss->state == S_CMD ?
					    "active" : "handshake"));
		put(j, "bytes_up", num(up));
		put(j, "bytes_down", num(down));
		put(j, "age_s", json_real((double)(now >= ss->start ? now - ss->start : 0) / 1000.0));
		put(j, "worker", json_integer(s->worker));
		push(a, j);
	}
	put(o, "open", json_integer(s->nsessions));
	put(o, "limit", json_integer(limit));
	put(o, "sessions", a);
	return dump(o);
}

/* --- /api/series ----------------------------------------------------------- */

char *stats_api_series(const struct stats_ring *r)
{
	json_t *o = json_object(), *a = json_array();

	put(o, "step_s", json_integer(STATS_RING_STEP_S));
	put(o, "capacity", json_integer(STATS_RING_LEN));
	for (size_t i = 0; i < r->n; i++) {
		const struct stats_sample *sm = stats_ring_at(r, i);
		json_t *j = json_object();
		put(j, "t_ms", num(sm->t_ms));
		put(j, "bytes_up", num(sm->bytes_up));
		put(j, "bytes_down", num(sm->bytes_down));
		put(j, "sessions", num(sm->sessions));
		put(j, "failures", num(sm->failures));
		push(a, j);
	}
	put(o, "samples", a);
	return dump(o);
}
