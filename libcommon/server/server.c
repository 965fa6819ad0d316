/* server.c - listeners, accepting, limits, signals and the drain. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/activate.h"
#include "proto/addr.h"
#include "proto/cmd.h"
#include "server/config.h"
#include "server/handoff.h"
#include "server/policy/rules.h"
#include "server/server_priv.h"
#include "server/upmux.h"
#include "server/uphealth.h"
#include "core/sock.h"
#include "server/stats.h"
#include "core/tls.h"
#include "server/transparent.h"
#include "server/workers.h"

#define ACCEPT_BATCH 64
#define FDS_RESERVED 32

static void on_accept(struct stp_loop *l, int fd, unsigned ev, void *arg);

static void set_accepting(struct stp_server *s, bool on)
{
	if (s->accepting == on)
		return;
	s->accepting = on;
	for (int i = 0; i < s->nls; i++)
		stp_loop_set(s->loop, s->ls[i].fd, on ? STP_EV_READ : 0);
}

/* Refuses (returns -1 with e) a listener on sa that would make an open
 * proxy: non-loopback, and no authentication or rules. what names it. */
static int check_open(const struct stp_server *s, const struct sockaddr *sa, bool tls,
		      const char *what, struct stp_err *e)
{
	if (!s->cfg.users_file && !s->cfg.auth_url && !s->cfg.gss_keytab && !stp_rules_count(s->cfg.rules) &&
	    !(tls && s->cfg.tls_client_ca) && !s->cfg.open && !stp_sa_is_loopback(sa))
		return stp_err_set(e, STP_EXIT_USAGE,
				   "refusing to listen on %s without authentication or rules: "
				   "that would be an open proxy (give --users FILE, --auth-url "
				   "URL or --rules, or --open if you mean it)", what);
	return 0;
}

static int listen_host(struct stp_server *s, const char *spec, const char *host,
		       uint16_t port, bool tls, struct stp_err *e);

/* TCP_NODELAY on a listener: Linux copies it to every socket accepted
 * from it, which saves a setsockopt per session (session_accept). Best
 * effort, as it was per session: a UNIX socket has no Nagle to turn off. */
static void listener_nodelay(int fd)
{
	stp_set_nodelay(fd);
}

/* Resolves spec (numeric or a name, at start-up only) and listens; the
 * name localhost on both loopback addresses, whatever /etc/hosts says
 * (RFC 6761; clients try either), with port 0 on one port. Returns 0, or
 * -1 with e filled. */
static int add_listener(struct stp_server *s, const char *spec, bool tls, struct stp_err *e)
{
	char host[256];
	uint16_t port;

	if (stp_hostport_split(spec, host, sizeof(host), &port, -1, false, e) < 0)
		return stp_err_prefix(e, "--listen");
	if (strcasecmp(host, "localhost") != 0)
		return listen_host(s, spec, host, port, tls, e);
	if (listen_host(s, spec, "127.0.0.1", port, tls, e) < 0)
		return -1;
	port = stp_sa_port((const struct sockaddr *)&s->ls[s->nls - 1].addr);
	if (listen_host(s, spec, "::1", port, tls, e) == 0)
		return 0;
	/* a machine without IPv6 has one loopback address */
	if (strstr(e->msg, strerror(EADDRNOTAVAIL)) || strstr(e->msg, strerror(EAFNOSUPPORT)))
		return 0;
	return -1;
}

/* Listens on host (a name or a literal) port for spec's listener. */
static int listen_host(struct stp_server *s, const char *spec, const char *host,
		       uint16_t port, bool tls, struct stp_err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char portstr[8];
	int rc, fd;

	if (s->nls == STP_MAX_LISTEN)
		return stp_err_set(e, STP_EXIT_USAGE, "--listen %s: at most %d listeners", spec,
				   STP_MAX_LISTEN);
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0)
		return stp_err_set(e, STP_EXIT_USAGE, "--listen %s: %s", spec, gai_strerror(rc));
	if (check_open(s, ai->ai_addr, tls, spec, e) < 0) {
		freeaddrinfo(ai);
		return -1;
	}
	if (s->nworkers > 1)
		fd = stp_listen_reuseport(ai->ai_addr, ai->ai_addrlen, 4096, e);
	else
		fd = stp_listen_sa(ai->ai_addr, ai->ai_addrlen, 4096, e);
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	struct listener *L = &s->ls[s->nls++];
	L->fd = fd;
	listener_nodelay(fd);
	L->tls = tls;
	L->len = sizeof(L->addr);
	if (getsockname(fd, (struct sockaddr *)&L->addr, &L->len) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "getsockname: %s", strerror(errno));
	if (s->nworkers > 1) {
		/* one socket per worker on the bound address (port 0 is chosen
		 * by now): made here, before --user, so that a worker started
		 * again later finds its own (the supervisor holds them all) */
		if (!(L->wfd = malloc((size_t)s->nworkers * sizeof(int))))
			return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		L->wfd[0] = fd;
		for (int k = 1; k < s->nworkers; k++)
			L->wfd[k] = -1;
		for (int k = 1; k < s->nworkers; k++)
			if ((L->wfd[k] = stp_listen_reuseport((const struct sockaddr *)&L->addr,
							      L->len, 4096, e)) < 0)
				return stp_err_prefix(e, "--workers");
			else
				listener_nodelay(L->wfd[k]);
	}
	return 0;
}

/* --transparent and --transparent-udp (transparent.h): their listeners,
 * after the others, checked like them against an open proxy. Returns 0,
 * or -1 with e. */
static int add_transparent(struct stp_server *s, struct stp_err *e)
{
	const struct stp_server_cfg *c = &s->cfg;

	if ((c->ntransparent || c->ntransparent_udp) && c->inetd)
		return stp_err_set(e, STP_EXIT_USAGE, "--transparent and --transparent-udp are "
				   "listeners, not for --inetd");
	for (int i = 0; i < c->ntransparent + c->ntransparent_udp; i++) {
		bool udp = i >= c->ntransparent;
		const char *spec = udp ? c->transparent_udp[i - c->ntransparent] : c->transparent[i];
		if (s->nls == STP_MAX_LISTEN)
			return stp_err_set(e, STP_EXIT_USAGE, "%s %s: at most %d listeners",
					   udp ? "--transparent-udp" : "--transparent", spec,
					   STP_MAX_LISTEN);
		if (transp_listen(spec, udp, s->nworkers, &s->ls[s->nls], e) < 0)
			return -1;
		s->nls++;
		if (check_open(s, (const struct sockaddr *)&s->ls[s->nls - 1].addr, false, spec,
			       e) < 0)
			return -1;
	}
	return 0;
}

/* Closes listener L's sockets (in the supervisor: every worker's). */
static void listener_close(struct stp_server *s, struct listener *L)
{
	if (L->fd >= 0 && s->loop)
		stp_loop_unwatch(s->loop, L->fd);
	if (L->wfd) {
		for (int k = 0; k < s->nworkers; k++)  /* wfd[0] is fd */
			if (L->wfd[k] >= 0)
				close(L->wfd[k]);
		free(L->wfd);
		L->wfd = NULL;
	} else if (L->fd >= 0) {
		close(L->fd);
	}
	L->fd = -1;
}

/* Socket activation: takes fd, which the service manager bound and made
 * listen, as a plain listener (non-blocking, close-on-exec). Returns 0, or
 * -1 with e; the listener table owns fd once it is added. */
static int add_inherited(struct stp_server *s, int fd, struct stp_err *e)
{
	int type = 0, acc = 0, fl;
	socklen_t tl = sizeof(type), al = sizeof(acc);
	char addr[STP_ADDRSTRLEN], what[STP_ADDRSTRLEN + 32];

	if (s->nls == STP_MAX_LISTEN)
		return stp_err_set(e, STP_EXIT_USAGE, "LISTEN_FDS: at most %d listeners",
				   STP_MAX_LISTEN);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "LISTEN_FDS: fd %d: %s", fd,
				   errno == ENOTSOCK ? "not a socket" : strerror(errno));
	if (type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc)
		return stp_err_set(e, STP_EXIT_USAGE,
				   "LISTEN_FDS: fd %d is not a listening stream socket", fd);
	struct listener *L = &s->ls[s->nls];
	L->fd = fd;
	listener_nodelay(fd);
	L->tls = false;
	L->len = sizeof(L->addr);
	if (getsockname(fd, (struct sockaddr *)&L->addr, &L->len) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "LISTEN_FDS: fd %d: getsockname: %s", fd,
				   strerror(errno));
	snprintf(what, sizeof(what), "%s (fd %d)",
		 stp_sa_str((const struct sockaddr *)&L->addr, addr, sizeof(addr)), fd);
	if (L->addr.ss_family != AF_UNIX &&
	    check_open(s, (const struct sockaddr *)&L->addr, false, what, e) < 0)
		return -1;
	if ((fl = fcntl(fd, F_GETFD)) < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0 ||
	    stp_set_nonblock(fd, true) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "LISTEN_FDS: fd %d: %s", fd, strerror(errno));
	s->nls++;
	return 0;
}

/* --inetd: checks that fd 0 is a connected stream socket, and that no
 * open proxy comes of serving it. Returns 0, or -1 with e (code 2). */
static int inetd_check(const struct stp_server *s, struct stp_err *e)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	char what[STP_ADDRSTRLEN];

	if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "--inetd: standard input is %s",
				   errno == ENOTSOCK ? "not a socket" : strerror(errno));
	if (type != SOCK_STREAM)
		return stp_err_set(e, STP_EXIT_USAGE,
				   "--inetd: standard input is not a stream socket");
	if (getsockname(0, (struct sockaddr *)&me, &ml) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "--inetd: standard input: %s", strerror(errno));
	/* a UNIX socket (socat's socketpair) has no address to judge: the
	 * listener in front of it decides who gets here */
	if (me.ss_family != AF_INET && me.ss_family != AF_INET6)
		me = s->cfg.inetd_local;
	if (me.ss_family == AF_INET || me.ss_family == AF_INET6)
		return check_open(s, (const struct sockaddr *)&me, false,
				  stp_sa_str((const struct sockaddr *)&me, what, sizeof(what)), e);
	return 0;
}

/* The session limit the fd limit allows: every session holds up to two fds
 * (client, target; a MUX stream three, see server_room); splice pipes are
 * optional and fall back to buffers. */
static long fd_session_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 512;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 22)
		rl.rlim_cur = 1 << 22;
	return ((long)rl.rlim_cur - FDS_RESERVED) / SESS_FDS;
}

static int loop_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 1 << 22)
		return 1 << 22;
	return (int)rl.rlim_cur;
}

/* What each worker makes for itself (all of it, with one worker): loop,
 * resolver, policy (users file worker thread, auth URL), the watches of
 * listeners and --stats, and then --user. Returns 0, or -1 with e. */
static int server_start(struct stp_server *s, struct stp_err *e)
{
	const struct stp_server_cfg *cfg = &s->cfg;

	s->loop = stp_loop_new(loop_fd_limit(), e);
	if (!s->loop)
		return -1;
	s->res = stp_resolver_new(s->loop, cfg->resolvers[0] ? cfg->resolvers : NULL, e);
	if (!s->res)
		return -1;
	if (server_policy_init(s, cfg, e) < 0)  /* users file, auth URL, rules */
		return -1;
	for (int i = 0; i < s->nls; i++)
		if (stp_loop_watch(s->loop, s->ls[i].fd, 0, s->ls[i].kind == LK_TUDP ?
				   transp_udp_on_read : on_accept, s) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "watch listener: %s", strerror(errno));
	if (s->nworkers == 1 && cfg->stats_listen &&
	    !(s->stats_srv = stp_stats_new(s, cfg->stats_listen, e)))
		return -1;
	if (s->nworkers > 1 && s->stats_srv && stp_stats_start(s->stats_srv, e) < 0)
		return -1;
	if (s->shared)
		stats_worker_start(s);
	if (handoff_start(s, e) < 0)  /* --workers: ATTACHes for this worker */
		return -1;
	if (uphealth_start(s, cfg, e) < 0)  /* the chains, and their checks */
		return -1;
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* listeners bound, keys and files read: from now on without root */
	if (cfg->run_as && !s->dropped && stp_drop_privileges(cfg->run_as, e) < 0)
		return -1;
	s->dropped = true;
	return 0;
}

/* --workers N, in the supervisor: the checks of server_start, with the
 * same messages, and all it made undone again (a loop, a resolver channel
 * or the users file's thread must not be shared across fork); then the
 * --stats listener and the workers' shared counters. Returns 0, or -1
 * with e. */
static int server_check(struct stp_server *s, struct stp_err *e)
{
	struct stp_cfg_mem *mem = s->cfg.mem;
	struct stp_rules *rules = s->cfg.rules;
	struct stp_server_cfg c = s->cfg;
	int rc = -1;

	/* the policy made here owns none of the configuration's memory
	 * (each worker's first policy takes its copy of it) */
	c.mem = NULL;
	if (!(s->loop = stp_loop_new(loop_fd_limit(), e)))
		return -1;
	s->res = stp_resolver_new(s->loop, c.resolvers[0] ? c.resolvers : NULL, e);
	if (s->res && server_policy_init(s, &c, e) == 0)
		rc = 0;
	server_policy_fini(s);  /* joins the users file's thread */
	s->cfg.mem = mem;
	s->cfg.rules = rules;
	stp_resolver_free(s->res);
	s->res = NULL;
	stp_loop_free(s->loop);
	s->loop = NULL;
	if (rc < 0)
		return -1;
	/* --user is acted on after fork: an unknown name is still refused
	 * now, as stp_drop_privileges would */
	errno = 0;
	if (s->cfg.run_as && !getpwnam(s->cfg.run_as))
		return stp_err_set(e, STP_EXIT_USAGE, "--user %s: %s", s->cfg.run_as,
				   errno ? strerror(errno) : "no such user");
	/* bound here, so that a bad address is an error before "listening";
	 * worker 0 serves it */
	if (s->cfg.stats_listen && !(s->stats_srv = stp_stats_new(s, s->cfg.stats_listen, e)))
		return -1;
	if (!(s->shared = stats_shared_new(s->nworkers, e)))
		return -1;
	/* an ATTACH may reach a worker that does not hold its ticket */
	return handoff_init(s, e);
}

struct stp_server *stp_server_new(const struct stp_server_cfg *cfg, struct stp_err *e)
{
	struct stp_server *s = calloc(1, sizeof(*s));
	long lim, want;

	if (!s) {
		stp_err_set(e, STP_EXIT_FAIL, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->reserve_fd = -1;
	s->nworkers = cfg->inetd || cfg->workers < 1 ? 1 : (int)cfg->workers;
	if (s->nworkers > STP_MAX_WORKERS)
		s->nworkers = STP_MAX_WORKERS;
	lim = fd_session_limit();
	s->fd_budget = lim * SESS_FDS;
	/* each worker has its share of --max-sessions, rounded up */
	want = (cfg->max_sessions + s->nworkers - 1) / s->nworkers;
	s->max_sessions = want < lim ? want : lim;
	if (s->max_sessions < 1)
		s->max_sessions = 1;
	if (cfg->inetd) {
		if (inetd_check(s, e) < 0)
			goto fail;
	} else if (cfg->listen_fds > 0) {
		/* socket activation: the manager's sockets instead of --listen
		 * (with --workers, every worker accepts on the same ones) */
		for (int i = 0; i < cfg->listen_fds; i++)
			if (add_inherited(s, STP_LISTEN_FDS_START + i, e) < 0)
				goto fail;
	} else {
		for (int i = 0; i < cfg->nlisten; i++)
			if (add_listener(s, cfg->listen[i], cfg->listen_tls[i], e) < 0)
				goto fail;
	}
	if (add_transparent(s, e) < 0)
		goto fail;
	for (int i = 0; i < s->nls && !s->tls_ctx; i++)
		if (s->ls[i].tls && !(s->tls_ctx = stp_tls_server_ctx(cfg->tls_cert, cfg->tls_key,
								       cfg->tls_client_ca, e)))
			goto fail;
	if ((s->nworkers > 1 ? server_check(s, e) : server_start(s, e)) < 0)
		goto fail;
	return s;
fail:
	stp_server_free(s);
	return NULL;
}

const struct sockaddr *stp_server_listener(const struct stp_server *s, int i, bool *tls)
{
	*tls = s->ls[i].tls;
	return (const struct sockaddr *)&s->ls[i].addr;
}

const char *stp_server_listener_tag(const struct stp_server *s, int i)
{
	switch (s->ls[i].kind) {
	case LK_TTCP: return "transparent";
	case LK_TUDP: return "transparent-udp";
	default: return s->ls[i].tls ? "tls" : NULL;
	}
}

int stp_server_nlisteners(const struct stp_server *s)
{
	return s->nls;
}

long stp_server_max_sessions(const struct stp_server *s)
{
	return s->max_sessions * s->nworkers;
}

const struct sockaddr *stp_server_stats_addr(const struct stp_server *s)
{
	return s->stats_srv ? stp_stats_addr(s->stats_srv) : NULL;
}

bool stp_server_inetd_ok(const struct stp_server *s)
{
	return s->inetd_ok;
}

static void on_accept_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_server *s = arg;

	(void)l;
	(void)t;
	if (!s->draining && server_room(s, SESS_FDS))
		set_accepting(s, true);
}

bool server_room(const struct stp_server *s, int fds)
{
	return s->nsessions < s->max_sessions && s->nfds + fds <= s->fd_budget;
}

bool session_fds_take(struct session *ss, int n, const char *what)
{
	struct stp_server *s = ss->srv;
	char host[STP_ADDRSTRLEN];

	if (s->nfds + n <= s->fd_budget / 2) {
		ss->fds += n;
		s->nfds += n;
		s->extra_warned = false;
		return true;
	}
	/* once per episode: a flood of peers must not flood the log */
	if (!s->extra_warned)
		stp_log(&s->cfg.log, STP_LOG_WARN, "%s for %s: file-descriptor budget spent: "
			"%s refused", stp_cmd_label(ss->ver, ss->cmd),
			stp_sa_host((const struct sockaddr *)&ss->peer, host, sizeof(host)), what);
	s->extra_warned = true;
	return false;
}

void session_fds_give(struct session *ss, int n)
{
	ss->fds -= n;
	ss->srv->nfds -= n;
}

/* At the fd limit the kernel keeps the client in the backlog, and a
 * level-triggered listener would spin: give up the spare fd, accept the
 * client, close it at once (a clear refusal), take the spare back. */
static void refuse_one(struct stp_server *s, int lfd)
{
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	/* once per episode: an attacker at the limit must not flood the log */
	if (!s->fd_warned)
		stp_log(&s->cfg.log, STP_LOG_WARN,
			"file-descriptor limit reached: refusing new sessions");
	s->fd_warned = true;
	/* and stop listening for a moment, existing sessions go on */
	set_accepting(s, false);
	stp_timer_start(s->loop, &s->accept_timer, 100);
}

/* The listener of fd. */
static int lidx(const struct stp_server *s, int fd)
{
	for (int i = 0; i < s->nls; i++)
		if (s->ls[i].fd == fd)
			return i;
	return 0;
}

static void on_accept(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_server *s = arg;

	(void)l;
	(void)ev;
	for (int n = 0; n < ACCEPT_BATCH && s->accepting; n++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (stp_accept_exhausted(errno))
				refuse_one(s, fd);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				stp_log(&s->cfg.log, STP_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		if (!server_room(s, SESS_FDS)) {
			/* refused at once: a client left in the backlog would
			 * only learn it from its own timeout */
			close(cfd);
			s->refused++;
			continue;
		}
		s->fd_warned = false;
		int li = lidx(s, fd);
		if (s->ls[li].kind == LK_TTCP)
			transp_accept(s, li, cfd, &peer);  /* a flow the kernel redirected */
		else
			session_accept(s, cfd, &peer, li);
	}
}

static void stop_listening(struct stp_server *s)
{
	for (int i = 0; i < s->nls; i++) {
		stp_loop_unwatch(s->loop, s->ls[i].fd);
		close(s->ls[i].fd);
		s->ls[i].fd = -1;
	}
	s->accepting = false;
}

static void on_drain_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_server *s = arg;

	(void)t;
	stp_log(&s->cfg.log, STP_LOG_INFO, "drain timeout: closing %ld sessions", s->nsessions);
	while (s->sessions)
		session_free(s->sessions);
	stp_loop_stop(l);
}

static void on_term(struct stp_loop *l, int signo, void *arg)
{
	struct stp_server *s = arg;

	if (s->draining) {
		/* a second signal: do not wait any longer */
		on_drain_timer(l, &s->drain_timer, s);
		return;
	}
	s->draining = true;
	stop_listening(s);
	transp_udp_free(s);  /* UDP flows end now: their sessions see it */
	stp_stats_stop(s->stats_srv);
	stp_log(&s->cfg.log, STP_LOG_INFO, "%s: stopped accepting; %ld sessions to drain",
		strsignal(signo), s->nsessions);
	if (s->nsessions == 0) {
		stp_loop_stop(l);
		return;
	}
	cmd_mux_drain(s);
	stp_timer_start(l, &s->drain_timer, (uint64_t)s->cfg.drain_timeout_ms);
}

/* Called by session_free: the accept pause and the drain follow the count. */
/* The last session is gone: after a burst of thousands, glibc keeps their
 * freed memory in its heap; give it back to the system, once things stay
 * quiet for TRIM_AFTER_MS (a server idling between single sessions trims
 * at most that often). */
#define TRIM_AFTER_MS 1000

static void on_trim_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_server *s = arg;

	(void)l;
	(void)t;
	if (s->nsessions == 0)
		malloc_trim(0);
}

void server_session_gone(struct stp_server *s);
void server_session_gone(struct stp_server *s)
{
	if (s->cfg.inetd || s->draining) {
		if (s->nsessions == 0)
			stp_loop_stop(s->loop);
		return;
	}
	if (s->nsessions == 0 && !stp_timer_armed(&s->trim_timer))
		stp_timer_start(s->loop, &s->trim_timer, TRIM_AFTER_MS);
	if (!s->accepting && server_room(s, SESS_FDS) && !stp_timer_armed(&s->accept_timer))
		set_accepting(s, true);
}

/* SIGHUP: a fresh configuration for new sessions (policy.c). */
static void on_hup(struct stp_loop *l, int signo, void *arg)
{
	(void)l;
	(void)signo;
	server_reload(arg);
}

/* In worker k (0-based), just forked: keeps its own listening sockets
 * (the copies of the others' are closed; the supervisor holds them), the
 * --stats listener if it is worker 0, then starts. Returns 0, or -1 with e. */
static int worker_start(struct stp_server *s, int k, struct stp_err *e)
{
	s->worker = k;
	for (int i = 0; i < s->nls; i++) {
		struct listener *L = &s->ls[i];
		if (!L->wfd)
			continue;  /* inherited (LISTEN_FDS): one socket for all */
		for (int j = 0; j < s->nworkers; j++)
			if (j != k && close(L->wfd[j]) < 0)
				return stp_err_set(e, STP_EXIT_FAIL, "worker %d: close: %s", k + 1,
						   strerror(errno));
		L->fd = L->wfd[k];
		free(L->wfd);
		L->wfd = NULL;
	}
	if (k != 0) {
		stp_stats_free(s->stats_srv);
		s->stats_srv = NULL;
	}
	return server_start(s, e);
}

/* The supervisor's hooks (workers.h). */
static int on_workers_started(void *arg, struct stp_err *e)
{
	struct stp_server *s = arg;

	/* the workers have their sockets: the supervisor needs no root
	 * either (a worker started again later finds them bound) */
	if (s->cfg.run_as && stp_drop_privileges(s->cfg.run_as, e) < 0)
		return -1;
	s->dropped = true;
	return 0;
}

static void on_workers_stopping(void *arg)
{
	struct stp_server *s = arg;

	/* nobody accepts any more: a client queued on a socket only the
	 * supervisor still held would wait for nothing */
	for (int i = 0; i < s->nls; i++)
		listener_close(s, &s->ls[i]);
	stp_stats_free(s->stats_srv);
	s->stats_srv = NULL;
}

int stp_server_run(struct stp_server *s, struct stp_err *e)
{
	if (s->nworkers > 1 && !s->loop) {
		struct stp_workers w = {
			.n = s->nworkers, .log = &s->cfg.log, .arg = s,
			.started = on_workers_started, .stopping = on_workers_stopping,
		};
		int k = stp_workers_run(&w, e);
		if (k <= 0)
			return k;  /* the supervisor, after the stop */
		if (worker_start(s, k - 1, e) < 0)
			return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	stp_timer_init(&s->drain_timer, on_drain_timer, s);
	stp_timer_init(&s->accept_timer, on_accept_timer, s);
	stp_timer_init(&s->trim_timer, on_trim_timer, s);
	if (stp_loop_signal(s->loop, SIGTERM, on_term, s) < 0 ||
	    stp_loop_signal(s->loop, SIGINT, on_term, s) < 0 ||
	    stp_loop_signal(s->loop, SIGHUP, on_hup, s) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "signals: %s", strerror(errno));
	if (s->cfg.inetd) {
		/* the one session: stdin is the client (stdout the same socket) */
		struct sockaddr_storage peer = { 0 };
		socklen_t len = sizeof(peer);
		if (getpeername(0, (struct sockaddr *)&peer, &len) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "--inetd: standard input: %s",
					   strerror(errno));
		if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
			peer = s->cfg.inetd_peer;
		if (stp_set_nonblock(0, true) < 0)
			return stp_err_set(e, STP_EXIT_FAIL, "--inetd: %s", strerror(errno));
		session_accept(s, 0, &peer, -1);
		if (s->nsessions == 0)
			return stp_err_set(e, STP_EXIT_FAIL, "--inetd: cannot start the session");
	}
	set_accepting(s, true);
	if (stp_loop_run(s->loop) < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "event loop: %s", strerror(errno));
	return 0;
}

void stp_server_free(struct stp_server *s)
{
	if (!s)
		return;
	while (s->sessions)
		session_free(s->sessions);  /* BIND_MULTI sessions drop their tickets */
	handoff_free(s);
	transp_udp_free(s);
	upmux_free(s);
	uphealth_free(s);
	stp_stats_free(s->stats_srv);
	for (int i = 0; i < s->nls; i++)
		listener_close(s, &s->ls[i]);
	if (!s->boot)
		stp_cfg_release(&s->cfg);  /* no policy took it */
	server_policy_fini(s);
	stp_resolver_free(s->res);
	if (s->loop) {
		stp_timer_stop(s->loop, &s->drain_timer);
		stp_timer_stop(s->loop, &s->accept_timer);
		stp_timer_stop(s->loop, &s->trim_timer);
		stp_timer_stop(s->loop, &s->publish_timer);
	}
	stp_loop_free(s->loop);
	SSL_CTX_free(s->tls_ctx);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	stats_shared_free(s->shared, s->nworkers);
	free(s);
}
