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
#include "server/statsboard.h"
#include "server/uphealth.h"

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
	/* --workers: the others' live sessions as their boards last said */
	for (int k = 0; s->shared && k < s->nworkers; k++) {
		struct stats_board *b;
		if (k == s->worker || !(b = malloc(sizeof(*b))))
			continue;
		if (board_read(s, k, b) == 0) {
			t->bytes_up += b->live_up;
			t->bytes_down += b->live_down;
		}
		free(b);
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

/* The busiest keys of a (at most TOP_N), as a JSON array of
 * {"KEYNAME":..,"sessions":..,"bytes_up":..,"bytes_down":..}. */
static json_t *top_json(const struct board_top *t, int n, const char *keyname)
{
	json_t *a = json_array();

	for (int i = 0; i < n && i < TOP_N; i++) {
		json_t *o = json_object();
		put(o, keyname, stp_json_string(t[i].key));
		put(o, "sessions", num(t[i].sessions));
		put(o, "bytes_up", num(t[i].up));
		put(o, "bytes_down", num(t[i].down));
		push(a, o);
	}
	return a;
}

/* --- /api/status ----------------------------------------------------------- */

char *stats_api_status(struct stp_server *s, const struct stats_ring *r, uint64_t started_ms)
{
	json_t *o = json_object(), *a, *bc, *oc;
	struct stats_view v;
	struct board_all b;
	uint64_t now = stats_wall_ms();
	char buf[STP_ADDRSTRLEN];

	put(o, "version", json_string(STP_VERSION));
	put(o, "now_ms", num(now));
	put(o, "uptime_s", num(now >= started_ms ? (now - started_ms) / 1000 : 0));
	put(o, "workers", json_integer(s->nworkers));
	stats_view_all(s, &v);
	if (board_all(s, r, &b) < 0) {
		json_decref(o);
		return NULL;
	}
	a = json_array();
	for (int i = 0; i < s->nls; i++) {
		json_t *l = json_object();
		const struct sockaddr *sa = (const struct sockaddr *)&s->ls[i].addr;
		put(l, "addr", json_string(stp_sa_host(sa, buf, sizeof(buf))));
		put(l, "port", json_integer(stp_sa_port(sa)));
		put(l, "tls", json_boolean(s->ls[i].tls));
		put(l, "kind", json_string(stats_listener_kind(s, i)));
		put(l, "sessions_open", num(i < STATS_NLISTEN ? b.open_by_listener[i] : 0));
		put(l, "sessions_total", num(i < STATS_NLISTEN ? v.st.listener_sessions[i] : 0));
		push(a, l);
	}
	put(o, "listeners", a);
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
	/* live sessions of every worker: by command, the busiest */
	oc = json_object();
	for (int c = 0; c < STATS_NCMDS; c++)
		if (b.open_by_cmd[c])
			put(oc, stats_cmd_slot_label(c), num(b.open_by_cmd[c]));
	put(o, "open_by_command", oc);
	put(o, "top_users", top_json(b.users, b.nusers, "user"));
	put(o, "top_targets", top_json(b.targets, b.ntargets, "target"));
	put(o, "stale_workers", json_integer(b.stale));
	put(o, "upstreams", upstream_status_json(s));
	a = json_array();
	for (int i = 0; i < b.nref; i++) {
		const struct stats_refusal *f = &b.ref[i];
		json_t *fj = json_object();
		put(fj, "t_ms", num(f->t_ms));
		put(fj, "client", stp_json_string(f->client));
		put(fj, "user", stp_json_string(f->user));
		put(fj, "command", stp_json_string(f->command));
		put(fj, "target", stp_json_string(f->target));
		put(fj, "reason", stp_json_string(f->reason));
		push(a, fj);
	}
	board_all_free(&b);
	put(o, "refusals", a);
	return dump(o);
}

/* --- /api/sessions --------------------------------------------------------- */

char *stats_api_sessions(struct stp_server *s, long limit)
{
	json_t *o, *a;
	uint64_t now = stp_clock_ms();
	struct board_all b;

	if (board_all(s, NULL, &b) < 0)
		return NULL;
	o = json_object();
	a = json_array();
	/* newest first, of every worker (each lists its BOARD_SESS newest) */
	for (size_t i = 0; i < b.nsess && (long)i < limit; i++) {
		const struct board_sess *e = &b.sess[i];
		json_t *j = json_object();
		put(j, "id", num(e->id));
		put(j, "user", stp_json_string(e->user));
		put(j, "client", json_string(e->client));
		put(j, "command", json_string(e->command));
		put(j, "target", e->target[0] ? stp_json_string(e->target) : json_null());
		put(j, "state", json_string(e->active ? "active" : "handshake"));
		put(j, "bytes_up", num(e->up));
		put(j, "bytes_down", num(e->down));
		put(j, "age_s", json_real((double)(now >= e->start_ms ? now - e->start_ms : 0) / 1000.0));
		put(j, "worker", json_integer(e->worker));
		put(j, "listener", json_integer(e->listener));
		push(a, j);
	}
	put(o, "open", num(b.open));
	put(o, "limit", json_integer(limit));
	put(o, "sessions", a);
	board_all_free(&b);
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
