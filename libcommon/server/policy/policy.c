/* policy.c - what SIGHUP reloads, and the server's checks that follow it:
 * the users file and the auth URL, the rules, the limits per client
 * address, per session and per user.
 *
 * One configuration is one struct policy, reference-counted: the server
 * holds the current one, each session the one it started under, so a
 * reload changes what new sessions get while the running ones keep theirs
 * (and their password checks in flight keep the users file they started
 * with). A policy nobody holds is freed from a zero-delay timer, never
 * from inside a callback of the users or auth-url worker it owns. */
#include <errno.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/logesc.h"
#include "server/policy/authurl.h"
#include "server/policy/gssauth.h"
#include "server/config.h"
#include "server/policy/ratelimit.h"
#include "server/policy/rules.h"
#include "server/server_priv.h"
#include "server/upstream.h"
#include "server/uphealth.h"

#define SWEEP_MS 30000

struct policy {
	int refs;
	struct stp_server_cfg cfg;     /* owns its memory */
	struct stp_users *users;
	struct stp_authurl *aurl;
	struct stp_gssauth *gss;       /* --gssapi-keytab's acceptor, NULL: none */
	struct policy *gc_next;
};

/* A user's shared meters (--user-bandwidth), one per user with sessions. */
struct ubucket {
	struct ubucket *next;
	int refs;
	struct stp_bucket b[2];
	char name[];
};

struct sess_limit {
	struct session *ss;
	bool per_session;
	struct stp_bucket b[2];        /* this session's, each way */
	struct ubucket *ub;            /* its user's, or NULL */
};

/* --- policies -------------------------------------------------------------- */

static void policy_free(struct policy *p)
{
	stp_users_free(p->users);
	stp_authurl_free(p->aurl);
	stp_gssauth_free(p->gss);
	stp_cfg_release(&p->cfg);
	free(p);
}

static void on_gc(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_server *s = arg;

	(void)l;
	(void)t;
	while (s->gc) {
		struct policy *p = s->gc;
		s->gc = p->gc_next;
		policy_free(p);
	}
}

static void policy_unref(struct stp_server *s, struct policy *p)
{
	if (!p || --p->refs > 0)
		return;
	p->gc_next = s->gc;
	s->gc = p;
	stp_timer_start(s->loop, &s->gc_timer, 0);
}

/* Makes a policy of cfg (taking its memory, also on failure) and starts
 * its workers. Returns NULL with e filled. */
static struct policy *policy_new(struct stp_server *s, const struct stp_server_cfg *cfg,
				 struct stp_err *e)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p) {
		struct stp_server_cfg tmp = *cfg;
		stp_cfg_release(&tmp);
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	p->refs = 1;
	if (cfg->users_file) {
		p->users = stp_users_load(cfg->users_file, e);
		if (!p->users || stp_users_start(p->users, s->loop, e) < 0)
			goto fail;
	}
	if (cfg->auth_url) {
		struct stp_authurl_cfg ac = {
			.url = cfg->auth_url, .cache_ms = cfg->auth_cache_ms,
			.neg_cache_ms = cfg->auth_neg_cache_ms, .timeout_ms = cfg->auth_timeout_ms,
		};
		p->aurl = stp_authurl_new(&ac, s->loop, e);
		if (!p->aurl)
			goto fail;
	}
	if (cfg->gss_keytab) {
		/* reads the keytab now: a SIGHUP with a bad one keeps the old */
		p->gss = stp_gssauth_new(cfg->gss_keytab,
					 cfg->gss_service ? cfg->gss_service : "rcmd", s->loop, e);
		if (!p->gss)
			goto fail;
	}
	return p;
fail:
	policy_free(p);
	return NULL;
}

static void on_sweep(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_server *s = arg;

	stp_clients_sweep(s->clients, stp_loop_now(l));
	stp_timer_start(l, t, SWEEP_MS);
}

int server_policy_init(struct stp_server *s, const struct stp_server_cfg *cfg,
		       struct stp_err *e)
{
	stp_timer_init(&s->gc_timer, on_gc, s);
	stp_timer_init(&s->sweep_timer, on_sweep, s);
	s->clients = stp_clients_new();
	if (!s->clients)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	s->pol = policy_new(s, cfg, e);
	if (!s->pol) {
		/* policy_new released the memory s->cfg shares */
		s->cfg.mem = NULL;
		s->cfg.rules = NULL;
		return -1;
	}
	s->users = s->pol->users;
	/* the first configuration lives as long as the server: the listener
	 * strings of s->cfg point into it */
	s->boot = s->pol;
	s->boot->refs++;
	stp_timer_start(s->loop, &s->sweep_timer, SWEEP_MS);
	return 0;
}

void server_policy_fini(struct stp_server *s)
{
	if (s->loop) {
		policy_unref(s, s->pol);
		policy_unref(s, s->boot);
		s->pol = s->boot = NULL;
		s->users = NULL;
		on_gc(s->loop, &s->gc_timer, s);
		stp_timer_stop(s->loop, &s->gc_timer);
		stp_timer_stop(s->loop, &s->sweep_timer);
	}
	stp_clients_free(s->clients);
	s->clients = NULL;
	while (s->ubuckets) {
		struct ubucket *u = s->ubuckets;
		s->ubuckets = u->next;
		free(u);
	}
}

/* --- reload ---------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_listeners(const struct stp_server_cfg *a, const struct stp_server_cfg *b)
{
	if (a->nlisten != b->nlisten)
		return false;
	for (int i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i], b->listen[i]) != 0 || a->listen_tls[i] != b->listen_tls[i])
			return false;
	return same_str(a->tls_cert, b->tls_cert) && same_str(a->tls_key, b->tls_key) &&
	       same_str(a->tls_client_ca, b->tls_client_ca);
}

/* Would nc make a listener of s an open proxy? Returns its index or -1. */
static int open_listener(const struct stp_server *s, const struct stp_server_cfg *nc)
{
	if (nc->users_file || nc->auth_url || nc->gss_keytab || stp_rules_count(nc->rules) || nc->open)
		return -1;
	for (int i = 0; i < s->nls; i++)
		if (!stp_sa_is_loopback((const struct sockaddr *)&s->ls[i].addr) &&
		    !(s->ls[i].tls && s->cfg.tls_client_ca))
			return i;
	return -1;
}

void server_reload(struct stp_server *s)
{
	const struct stp_log *lg = &s->cfg.log;
	const char *file = s->cfg.config_file ? s->cfg.config_file : "the command line";
	struct stp_server_cfg nc;
	struct stp_err e = { 0 };
	struct policy *np;
	char where[STP_ADDRSTRLEN];
	int bad;

	if (stp_cfg_build(&nc, s->cfg.config_file, s->cfg.args, &e) < 0) {
		stp_log(lg, STP_LOG_WARN, "SIGHUP: %s; keeping the old configuration", e.msg);
		return;
	}
	if ((bad = open_listener(s, &nc)) >= 0) {
		stp_log(lg, STP_LOG_WARN, "SIGHUP: %s: listener %s would become an open proxy (no "
			"users, auth-url, gssapi-keytab, rules or open); keeping the old configuration", file,
			stp_sa_str((const struct sockaddr *)&s->ls[bad].addr, where, sizeof(where)));
		stp_cfg_release(&nc);
		return;
	}
	np = policy_new(s, &nc, &e);  /* takes nc's memory */
	if (!np) {
		stp_log(lg, STP_LOG_WARN, "SIGHUP: %s; keeping the old configuration", e.msg);
		return;
	}
	if (!same_listeners(&s->cfg, &np->cfg))
		stp_log(lg, STP_LOG_WARN, "SIGHUP: the listeners changed in %s: not applied until "
			"restart", file);
	if (strcmp(s->cfg.resolvers, np->cfg.resolvers) != 0 ||
	    !same_str(s->cfg.run_as, np->cfg.run_as) ||
	    s->cfg.max_sessions != np->cfg.max_sessions ||
	    !same_str(s->cfg.client_config_file, np->cfg.client_config_file))
		stp_log(lg, STP_LOG_WARN, "SIGHUP: resolver, user, max-sessions and client-config "
			"changes in %s are not applied until restart", file);
	/* what the rest of the server reads from s->cfg */
	s->cfg.handshake_timeout_ms = np->cfg.handshake_timeout_ms;
	s->cfg.connect_timeout_ms = np->cfg.connect_timeout_ms;
	s->cfg.bind_timeout_ms = np->cfg.bind_timeout_ms;
	s->cfg.bind_port_min = np->cfg.bind_port_min;
	s->cfg.bind_port_max = np->cfg.bind_port_max;
	s->cfg.keepalive_s = np->cfg.keepalive_s;
	/* behind NAT and egress: plain values, no strings held */
	memcpy(s->cfg.advertise, np->cfg.advertise, sizeof(s->cfg.advertise));
	s->cfg.udp_port_min = np->cfg.udp_port_min;
	s->cfg.udp_port_max = np->cfg.udp_port_max;
	memcpy(s->cfg.egress, np->cfg.egress, sizeof(s->cfg.egress));
	memcpy(s->cfg.egress_iface, np->cfg.egress_iface, sizeof(s->cfg.egress_iface));
	s->cfg.idle_timeout_ms = np->cfg.idle_timeout_ms;
	s->cfg.drain_timeout_ms = np->cfg.drain_timeout_ms;
	s->cfg.open = np->cfg.open;
	s->cfg.udp_any_sender = np->cfg.udp_any_sender;
	s->cfg.upstream_local = np->cfg.upstream_local;
	s->cfg.upstream_strategy = np->cfg.upstream_strategy;
	/* the upstream chains are copied there: np's strings may go later */
	if (uphealth_configure(s, &np->cfg) < 0)
		stp_log(lg, STP_LOG_WARN, "SIGHUP: upstream chains: out of memory; keeping "
			"the old ones");
	s->cfg.no_http = np->cfg.no_http;
	s->cfg.log.json = np->cfg.log.json;
	s->cfg.log.level = np->cfg.log.level;
	policy_unref(s, s->pol);
	s->pol = np;
	s->users = np->users;
	stp_log(lg, STP_LOG_INFO, "SIGHUP: reloaded %s: %zu rules%s%s%s; new sessions follow it",
		file, stp_rules_count(np->cfg.rules), np->users ? ", users file" : "",
		np->aurl ? ", auth-url" : "", np->gss ? ", gssapi-keytab" : "");
}

/* --- sessions -------------------------------------------------------------- */

bool server_proxy_listed(const struct stp_server *s, const struct sockaddr *peer)
{
	const struct stp_server_cfg *c = &s->pol->cfg;

	for (int i = 0; i < c->nproxy_from; i++)
		if (stp_cidr_has(&c->proxy_from[i], peer))
			return true;
	return false;
}

bool session_policy_attach(struct session *ss)
{
	struct stp_server *s = ss->srv;
	char host[STP_ADDRSTRLEN];
	long n = stp_clients_admit(s->clients, (const struct sockaddr *)&ss->peer,
				   s->pol->cfg.max_per_client);

	if (n == 0) {
		stp_log(&s->cfg.log, STP_LOG_INFO, "client %s has %ld sessions "
			"(max-sessions-per-client): new session refused",
			stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)),
			s->pol->cfg.max_per_client);
		return false;
	}
	ss->admitted = n > 0;
	ss->pol = s->pol;
	ss->pol->refs++;
	return true;
}

bool session_policy_share(struct session *ss, const struct session *parent)
{
	long n = stp_clients_admit(ss->srv->clients, (const struct sockaddr *)&ss->peer,
				   parent->pol->cfg.max_per_client);

	if (n == 0)
		return false;
	ss->admitted = n > 0;
	ss->pol = parent->pol;
	ss->pol->refs++;
	return true;
}

static void limit_free(struct stp_server *s, struct sess_limit *lim)
{
	if (!lim)
		return;
	if (lim->ub && --lim->ub->refs == 0) {
		for (struct ubucket **pp = &s->ubuckets; *pp; pp = &(*pp)->next)
			if (*pp == lim->ub) {
				*pp = lim->ub->next;
				break;
			}
		free(lim->ub);
	}
	free(lim);
}

void session_policy_detach(struct session *ss)
{
	struct stp_server *s = ss->srv;

	/* a check in flight held a slot of its address's failed logins:
	 * without an answer it is neither a failure nor a success */
	if (ss->auth || ss->aauth)
		stp_clients_login_dropped(s->clients, (const struct sockaddr *)&ss->peer);
	if (ss->auth)
		stp_auth_cancel(ss->pol->users, ss->auth);
	if (ss->aauth)
		stp_authurl_cancel(ss->pol->aurl, ss->aauth);
	ss->auth = NULL;
	ss->aauth = NULL;
	if (ss->admitted)
		stp_clients_release(s->clients, (const struct sockaddr *)&ss->peer);
	ss->admitted = false;
	limit_free(s, ss->lim);
	ss->lim = NULL;
	policy_unref(s, ss->pol);
	ss->pol = NULL;
}

bool session_needs_auth(const struct session *ss)
{
	return ss->pol->users || ss->pol->aurl || ss->pol->gss;
}

bool session_offers_password(const struct session *ss)
{
	return ss->pol->users || ss->pol->aurl;
}

struct stp_gssauth *session_gssauth(const struct session *ss)
{
	return ss->pol->gss;
}

int session_gss_least(const struct session *ss)
{
	return ss->pol->cfg.gss_protection;
}

/* A password check is over: count failures per client address. */
static void auth_result(struct session *ss, bool ok)
{
	struct stp_server *s = ss->srv;
	const struct sockaddr *peer = (const struct sockaddr *)&ss->peer;
	char host[STP_ADDRSTRLEN];

	if (ok) {
		stp_clients_succeeded(s->clients, peer);
	} else if (stp_clients_failed(s->clients, peer, stp_loop_now(s->loop),
				      (int)ss->pol->cfg.login_failures)) {
		stp_log(&s->cfg.log, STP_LOG_WARN, "%ld failed logins from %s within %d s: its "
			"logins are refused for %d s", ss->pol->cfg.login_failures,
			stp_sa_host(peer, host, sizeof(host)), STP_LOGIN_FAIL_WINDOW_MS / 1000,
			STP_LOGIN_BLOCK_MS / 1000);
	}
	ss->auth_done(ss, ok);
}

static void users_done(void *arg, bool ok)
{
	struct session *ss = arg;

	ss->auth = NULL;
	auth_result(ss, ok);
}

static void aurl_done(void *arg, bool ok, const char *why)
{
	struct session *ss = arg;

	ss->aauth = NULL;
	if (why) {
		/* the backend failed: denied, but not the client's fault */
		char u[STP_LOGESC_SIZE(sizeof(ss->user))];
		stp_clients_login_dropped(ss->srv->clients, (const struct sockaddr *)&ss->peer);
		stp_log(&ss->srv->cfg.log, STP_LOG_WARN, "auth-url: no answer for user '%s': %s: "
			"denied", stp_logesc(u, sizeof(u), ss->user, false), why);
		ss->auth_done(ss, false);
		return;
	}
	auth_result(ss, ok);
}

void session_auth_start(struct session *ss, const char *user, const char *pass,
			stp_auth_cb *done)
{
	struct policy *p = ss->pol;
	const struct sockaddr *peer = (const struct sockaddr *)&ss->peer;
	char host[STP_ADDRSTRLEN];

	ss->auth_done = done;
	switch (stp_clients_login_start(ss->srv->clients, peer, stp_loop_now(ss->srv->loop),
					(int)p->cfg.login_failures)) {
	case STP_LOGIN_GO:
	case STP_LOGIN_UNTRACKED:
		break;
	case STP_LOGIN_BLOCKED:
		/* refused unchecked: the log says so, not "authentication failed" */
		ss->result = "blocked";
		ss->login_blocked = true;
		done(ss, false);
		return;
	case STP_LOGIN_BUSY:
		/* its failures and the logins it has in flight reach the limit:
		 * one more could be the one that should have been blocked */
		ss->result = "too many logins in progress";
		done(ss, false);
		return;
	case STP_LOGIN_NOMEM:
		ss->result = "out of memory";
		done(ss, false);
		return;
	}
	/* a user of the users file is checked there; others at the auth URL */
	if (p->users && (!p->aurl || stp_users_has(p->users, user))) {
		struct stp_auth_job *j;
		int rc = stp_users_check(p->users, user, pass, peer, users_done, ss, &j);
		if (rc == 0) {
			ss->auth = j;
		} else if (rc < 0) {
			stp_clients_login_dropped(ss->srv->clients, peer);
			ss->result = "too many logins in progress";
			done(ss, false);
		}
		return;  /* rc 1: users_done ran, and ss may be gone */
	}
	struct stp_authurl_job *j = stp_authurl_check(p->aurl, user, pass,
						      stp_sa_host(peer, host, sizeof(host)),
						      aurl_done, ss);
	if (j)
		ss->aauth = j;
}

/* --- rules ----------------------------------------------------------------- */

/* The default for targets on the proxy's own host and link-local ones
 * (stp-serve.1, SECURITY): denied to a client that is not on loopback
 * itself unless the deciding rule, idx, names them. Only what this server
 * sends to is judged: CONNECT's target (with --upstream the last proxy
 * connects, on its own host) and UDP's; BIND's DST is a peer expected to
 * call in, RESOLVE connects nowhere. A client that is not on IP (a UNIX
 * socket) came through a listener in front, which decides for it. */
static bool protected_denied(const struct session *ss, unsigned rc, int idx,
			     const struct sockaddr *addr)
{
	const struct sockaddr *peer = (const struct sockaddr *)&ss->peer;

	if (!addr || (rc != STP_RC_CONNECT && rc != STP_RC_UDP) ||
	    (rc == STP_RC_CONNECT && upstream_enabled(ss->srv)) ||
	    (peer->sa_family != AF_INET && peer->sa_family != AF_INET6) ||
	    stp_sa_is_loopback(peer))
		return false;
	return stp_rules_protected(addr) && !stp_rules_unlocks(ss->pol->cfg.rules, idx);
}

/* What the rules judge of ss: its client, user, command class rc, and
 * the target (name and/or address, port). */
static struct stp_rule_req rule_req(const struct session *ss, unsigned rc, const char *name,
				    const struct sockaddr *addr, uint16_t port)
{
	return (struct stp_rule_req){
		.client = (const struct sockaddr *)&ss->peer,
		.user = ss->authenticated ? ss->user : NULL,
		.principal = ss->authenticated && ss->gss_auth,
		.cmd = rc,
		.name = name,
		.addr = addr,
		.port = port,
	};
}

/* Logs the denial of ss's request, for the resolved address addr of its
 * name (NULL: for DST), by rule idx (-1: by none, -2: by protected_denied). */
static void log_denial(const struct session *ss, unsigned rc, const struct sockaddr *addr,
		       const char *user, int idx)
{
	const struct stp_rules *r = ss->pol->cfg.rules;
	char client[STP_ADDRSTRLEN], tn[STP_HOSTPORT_MAX], ta[STP_ADDRSTRLEN];
	/* the target name and the user name are the client's bytes */
	char target[STP_LOGESC_SIZE(sizeof(tn))], u[STP_LOGESC_SIZE(sizeof(ss->user))];

	stp_sa_host((const struct sockaddr *)&ss->peer, client, sizeof(client));
	stp_logesc(target, sizeof(target), stp_addr_str(&ss->dst, tn, sizeof(tn)), false);
	stp_logesc(u, sizeof(u), user ? user : "-", false);
	if (addr)
		stp_sa_host(addr, ta, sizeof(ta));
	if (idx >= 0)
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "rule %d denies %s from %s user %s to "
			"%s%s%s%s: %s", idx + 1, stp_rule_cmd_name(rc), client,
			u, target, addr ? " (" : "", addr ? ta : "",
			addr ? ")" : "", stp_rules_text(r, (size_t)idx));
	else if (idx == -2)
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "%s from %s user %s to %s%s%s%s: a "
			"loopback or link-local target, and no rule names it: denied",
			stp_rule_cmd_name(rc), client, u, target,
			addr ? " (" : "", addr ? ta : "", addr ? ")" : "");
	else
		stp_log(&ss->srv->cfg.log, STP_LOG_INFO, "no rule allows %s from %s user %s to "
			"%s%s%s%s: denied", stp_rule_cmd_name(rc), client, u,
			target, addr ? " (" : "", addr ? ta : "", addr ? ")" : "");
}

/* Checks ss's request against its rules and the protected targets, with
 * the target address addr (NULL: the request's own). Logs a denial.
 * Returns true if allowed. */
static bool check(struct session *ss, const struct sockaddr *addr)
{
	const struct stp_rules *r = ss->pol->cfg.rules;
	struct sockaddr_storage dst;
	int idx;
	unsigned rc = stp_rule_cmd_of(ss->ver, ss->cmd);

	if (rc == 0)
		return true;
	struct stp_rule_req q = rule_req(ss, rc, ss->dst.atyp == STP_ATYP_NAME ? ss->dst.u.name : NULL,
					 addr, ss->dst.port);
	/* a UDP request's DST is the client's own address: its targets are
	 * judged datagram by datagram (session_permit_target) */
	q.any_target = rc == STP_RC_UDP && !addr;
	if (!q.addr && !q.any_target && ss->dst.atyp != STP_ATYP_NAME &&
	    stp_addr_to_sa(&ss->dst, &dst))
		q.addr = (const struct sockaddr *)&dst;
	if (stp_rules_allow(r, &q, &idx)) {
		if (!protected_denied(ss, rc, idx, q.addr)) {
			/* a UDP association's sockets serve every target: a
			 * rule for some destinations names no source for it */
			ss->rule_no = q.any_target && stp_rules_names_target(r, idx) ? 0 : idx + 1;
			return true;
		}
		idx = -2;
	}
	log_denial(ss, rc, addr, q.user, idx);
	return false;
}

bool session_permit(struct session *ss)
{
	if (check(ss, NULL))
		return true;
	ss->result = "denied by rules";
	ss->srv->stats.rule_denials++;
	session_reply_error(ss, STP_REP_NOT_ALLOWED);
	return false;
}

bool session_permit_addr(struct session *ss, const struct sockaddr *addr)
{
	if (ss->dst.atyp != STP_ATYP_NAME)
		return true;  /* checked with this very address at the request */
	if (check(ss, addr))
		return true;
	ss->result = "denied by rules";
	ss->srv->stats.rule_denials++;
	return false;
}

bool session_permit_target(struct session *ss, const struct sockaddr *addr,
			   const char *name, uint16_t port)
{
	const struct stp_rules *r = ss->pol->cfg.rules;
	unsigned rc = stp_rule_cmd_of(ss->ver, ss->cmd);
	int idx;

	if (rc == 0)
		return true;
	struct stp_rule_req q = rule_req(ss, rc, name, addr, port);
	if (stp_rules_allow(r, &q, &idx) && !protected_denied(ss, rc, idx, addr))
		return true;
	ss->srv->stats.rule_denials++;
	return false;
}

bool session_rule_egress(const struct session *ss, int fam, struct sockaddr_storage *out)
{
	return ss->rule_no > 0 && stp_rules_egress(ss->pol->cfg.rules, ss->rule_no - 1, fam, out);
}

/* --- bandwidth ------------------------------------------------------------- */

static size_t budget(void *arg, int dir, size_t want, uint64_t *wait_ms)
{
	struct sess_limit *lim = arg;
	uint64_t now = stp_loop_now(lim->ss->srv->loop), wait = 0;
	size_t allow = want;

	if (lim->per_session) {
		struct stp_bucket *b = &lim->b[dir];
		size_t a = stp_bucket_avail(b, now), need = stp_bucket_chunk(b);
		if (need > want)
			need = want;
		if (a < need)
			wait = stp_bucket_wait(b, need);
		if (a < allow)
			allow = a;
	}
	if (lim->ub) {
		struct stp_bucket *b = &lim->ub->b[dir];
		size_t a = stp_bucket_avail(b, now), need = stp_bucket_chunk(b);
		if (need > want)
			need = want;
		if (a < need) {
			uint64_t w = stp_bucket_wait(b, need);
			if (w > wait)
				wait = w;
		}
		if (a < allow)
			allow = a;
	}
	if (wait) {
		*wait_ms = wait;
		return 0;
	}
	return allow;
}

static void spent(void *arg, int dir, size_t n)
{
	struct sess_limit *lim = arg;

	if (lim->per_session)
		stp_bucket_take(&lim->b[dir], n);
	if (lim->ub)
		stp_bucket_take(&lim->ub->b[dir], n);
}

void session_relay_limits(struct session *ss, struct stp_relay_cfg *rc)
{
	struct stp_server *s = ss->srv;
	const struct stp_server_cfg *c = &ss->pol->cfg;
	uint64_t now = stp_loop_now(s->loop);
	struct sess_limit *lim;

	if (!c->bandwidth && !(c->user_bandwidth && ss->authenticated))
		return;
	if (!ss->lim && !(ss->lim = calloc(1, sizeof(*ss->lim))))
		return;  /* no memory for a meter: unmetered rather than failed */
	lim = ss->lim;
	lim->ss = ss;
	if (c->bandwidth) {
		lim->per_session = true;
		stp_bucket_init(&lim->b[0], c->bandwidth, now);
		stp_bucket_init(&lim->b[1], c->bandwidth, now);
	}
	if (c->user_bandwidth && ss->authenticated && !lim->ub) {
		struct ubucket *u;
		for (u = s->ubuckets; u && strcmp(u->name, ss->user) != 0; u = u->next)
			;
		if (!u && (u = calloc(1, sizeof(*u) + strlen(ss->user) + 1))) {
			strcpy(u->name, ss->user);
			stp_bucket_init(&u->b[0], c->user_bandwidth, now);
			stp_bucket_init(&u->b[1], c->user_bandwidth, now);
			u->next = s->ubuckets;
			s->ubuckets = u;
		}
		if (u) {
			/* a reload's new rate applies from the user's next session on */
			u->b[0].rate = u->b[1].rate = (double)c->user_bandwidth;
			u->refs++;
			lim->ub = u;
		}
	}
	rc->budget = budget;
	rc->spent = spent;
	rc->limit_arg = lim;
}

/* --- privileges ------------------------------------------------------------ */

int stp_drop_privileges(const char *user, struct stp_err *e)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return stp_err_set(e, STP_EXIT_USAGE, "--user %s: %s", user,
				   errno ? strerror(errno) : "no such user");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (setgroups(1, &gid) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--user %s: setgroups: %s", user, strerror(errno));
	if (setgid(gid) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--user %s: setgid: %s", user, strerror(errno));
	if (setuid(uid) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "--user %s: setuid: %s", user, strerror(errno));
	/* checked: nothing of root is left, and there is no way back */
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)))
		return stp_err_set(e, STP_EXIT_FAIL, "--user %s: privileges were not dropped", user);
	return 0;
}
