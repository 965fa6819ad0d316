/* upstream.c - CONNECT, RESOLVE and RESOLVE_PTR through --upstream proxies
 * (upstream.h): names looked up with c-ares, the first hop dialled, then
 * TLS and the SOCKS handshakes of the chain, all driven by the loop.
 *
 * The state is one struct upstream hung on the session as ss->cst with
 * ss->ops = &up_ops, the session in S_CMD so that its timer (the connect
 * timeout) and a client that hangs up come here. After a CONNECT succeeds
 * the struct stays (smaller) for the rest of the session: it owns the TLS
 * connections the relay reads and writes through (ss->tssl, the innermost),
 * freed with the session before the relay closes the socket (SSL_free does
 * no I/O). */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "proto/cmd.h"
#include "proto/handshake.h"
#include "server/server_priv.h"
#include "core/logesc.h"
#include "core/sock.h"
#include "core/tls.h"
#include "server/egress.h"
#include "server/upstream.h"
#include "server/uphealth.h"
#include "server/upresolve.h"
#include "proto/url.h"

_Static_assert(STP_MAX_UPSTREAM <= STP_MAX_HOPS, "more upstreams than a chain holds");

/* The TLS client context of every upstream session, made at the first TLS
 * hop and freed with the last session that holds it (s->upstream). */
struct up_ctx {
	SSL_CTX *ctx;
	int refs;
};

enum up_phase {
	P_LOOKUP,   /* c-ares: the first hop's name, or a name a hop cannot resolve */
	P_DIAL,     /* connecting to the first hop's addresses, one at a time */
	P_TLS,      /* TLS client handshake with hop tls_done + 1 */
	P_HS,       /* SOCKS handshakes */
	P_DNS,      /* RESOLVE through an HTTP last hop: DNS over TCP (upresolve.c) */
};

struct upstream {
	struct session *ss;
	enum up_phase phase;
	int fd;                       /* to the first hop; -1 once the relay has it */
	SSL *ssl[STP_MAX_HOPS];       /* TLS layers, outermost first */
	int nssl;
	bool ctx_held;                /* a reference to s->upstream */
	/* the handshake: freed (hops wiped) once it is over */
	struct stp_proxy *hops;
	struct stp_addr *dest;        /* what hop i is asked to reach */
	int nhops;
	bool dial;                    /* fd is still to be dialled */
	int tls_done;                 /* the last hop whose TLS is up, -1: none */
	struct stp_hs hs;
	struct stp_opts *opts;        /* the client's STP options for the last hop; NULL: none */
	size_t outoff;                /* of hs.out written */
	uint8_t *in;                  /* the answer being read, exactly (UP_IN_CAP) */
	size_t inlen;
	struct stp_lookup *lookup;
	int looking;                  /* -1: hops[0].host, else dest[looking] */
	struct sockaddr_storage addrs[SESS_MAX_ADDRS];
	int naddrs, next_addr, last_errno;
	int chain;                    /* uphealth.h's chain index; -1: hops given (on_fd) */
	int tries;                    /* chains given up on by this session */
	upstream_udp_fn *udp_ready;   /* upstream_start_udp's; NULL: ss->cmd as asked */
	void (*unsupported)(struct session *ss);  /* upstream_start_opts_or's */
	struct upresolve *dns;        /* RESOLVE(_PTR) asked of a DNS server; NULL: not so */
};

/* The largest reply: an STP reply with a name and a full option block.
 * Allocated for the handshake only (sessions keep struct upstream). */
#define UP_IN_CAP (4 + 1 + 255 + 2 + 2 + STP_OPTLEN_MAX)

static void up_free_ops(struct session *ss);
static void up_on_client(struct session *ss, unsigned ev);
static void up_on_timer(struct session *ss);
static const struct cmd_ops up_ops = {
	.on_client = up_on_client, .on_timer = up_on_timer, .free = up_free_ops,
};

static void up_next(struct upstream *up);
static void up_pump(struct upstream *up);
static bool up_retry(struct upstream *up, const char *why);

bool upstream_enabled(const struct stp_server *s)
{
	return uphealth_count(s) > 0;  /* what SIGHUP last configured */
}

void upstream_inproc_hop(struct stp_proxy *p, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->proto = STP_PROTO_SOCKS5;
	p->remote_dns = true;
	snprintf(p->scheme, sizeof(p->scheme), "socks5h");
	snprintf(p->host, sizeof(p->host), "%s", label);
}

int upstream_config_hops(const struct stp_server *s, struct stp_proxy *out, int max)
{
	struct stp_err e;
	int n = 0;

	for (int i = 0; i < s->cfg.nupstream && n < max; i++, n++)
		if (stp_url_parse(s->cfg.upstream[i], &out[n], &e) < 0) {
			for (int j = 0; j <= n; j++)
				stp_proxy_wipe(&out[j]);
			return -1;
		}
	return n;
}

static const struct stp_log *up_log(const struct upstream *up)
{
	return &up->ss->srv->cfg.log;
}

static const char *hop_str(const struct upstream *up, int i, char *buf, size_t cap)
{
	return stp_proxy_hostport(&up->hops[i], buf, cap);
}

/* --- the shared TLS context ------------------------------------------------ */

/* Returns the context (a reference taken), or NULL with e. */
static SSL_CTX *ctx_get(struct upstream *up, struct stp_err *e)
{
	struct stp_server *s = up->ss->srv;
	struct up_ctx *c = s->upstream;

	if (!c) {
		struct stp_tls_client_cfg tc = { .cacert = s->cfg.upstream_cacert };
		c = calloc(1, sizeof(*c));
		if (!c) {
			stp_err_set(e, STP_EXIT_FAIL, "out of memory");
			return NULL;
		}
		c->ctx = stp_tls_client_ctx(&tc, e);
		if (!c->ctx) {
			free(c);
			return NULL;
		}
		s->upstream = c;
	}
	if (!up->ctx_held) {
		c->refs++;
		up->ctx_held = true;
	}
	return c->ctx;
}

static void ctx_put(struct upstream *up)
{
	struct stp_server *s = up->ss->srv;
	struct up_ctx *c = s->upstream;

	if (!up->ctx_held || !c)
		return;
	up->ctx_held = false;
	if (--c->refs > 0)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
	s->upstream = NULL;
}

/* --- ending ---------------------------------------------------------------- */

/* Frees what only the handshake needs (wiping the credentials). */
static void up_drop_hs(struct upstream *up)
{
	stp_lookup_cancel(up->lookup);
	up->lookup = NULL;
	if (up->hops) {
		for (int i = 0; i < up->nhops; i++)
			stp_proxy_wipe(&up->hops[i]);
		OPENSSL_cleanse(&up->hs, sizeof(up->hs));  /* out may hold a password */
		free(up->hops);
		up->hops = NULL;
	}
	free(up->dest);
	up->dest = NULL;
	free(up->in);
	up->in = NULL;
	if (up->opts)
		OPENSSL_cleanse(up->opts, sizeof(*up->opts));  /* a ticket */
	free(up->opts);
	up->opts = NULL;
}

/* Frees everything: TLS innermost first (each one's BIO refers to the one
 * outside it), the fd if still ours, the context reference. */
static void up_free(struct upstream *up)
{
	struct session *ss = up->ss;

	up_drop_hs(up);
	ss->tssl = NULL;  /* the relay's side B, if it is one of these */
	while (up->nssl > 0)
		SSL_free(up->ssl[--up->nssl]);
	if (up->fd >= 0) {
		stp_loop_unwatch(ss->srv->loop, up->fd);
		close(up->fd);
	}
	ctx_put(up);
	upresolve_free(up->dns);
	free(up);
}

static void up_free_ops(struct session *ss)
{
	struct upstream *up = ss->cst;

	if (!up)
		return;
	ss->cst = NULL;
	ss->ops = NULL;
	up_free(up);
}

/* Logs "upstream: why", frees the state and replies rep to the client. */
static void up_fail(struct upstream *up, uint8_t rep, int level, const char *why)
{
	struct session *ss = up->ss;
	char tgt[STP_HOSTPORT_MAX], etgt[STP_LOGESC_SIZE(sizeof(tgt))], ewhy[STP_LOGESC_SIZE(STP_ERR_MSG_MAX)];

	/* why may quote the target too (a hop's message) */
	stp_log(up_log(up), level, "upstream: %s (client request %s %s)",
		stp_logesc(ewhy, sizeof(ewhy), why, true),
		stp_cmd_str(ss->ver == 4 ? STP_CMD_CONNECT : ss->cmd),
		stp_logesc(etgt, sizeof(etgt), stp_addr_str(&ss->dst, tgt, sizeof(tgt)), false));
	up_free_ops(ss);
	session_reply_error(ss, rep);  /* may free ss */
}

/* The handshake failed with e: a hop's refusal goes back with its code. */
static void up_hs_failed(struct upstream *up, const struct stp_err *e)
{
	if (up->unsupported && up->hs.hop == up->nhops - 1 &&
	    ((up->hs.st == HS_FAILED && up->hs.rep == STP_REP_CMD_UNSUPPORTED) ||
	     e->code == STP_EXIT_UNSUPPORTED)) {
		/* the caller has another way (upstream_start_opts_or) */
		struct session *ss = up->ss;
		void (*other)(struct session *) = up->unsupported;
		stp_log(up_log(up), STP_LOG_DEBUG, "upstream: %s", e->msg);
		up_free_ops(ss);
		other(ss);
		return;
	}
	if (up->hs.st == HS_FAILED && up->hs.rep != STP_REP_OK) {
		/* the last hop could not reach the DNS server: to the client
		 * that is a name not resolved, as for a local lookup */
		up_fail(up, up->dns && up->hs.hop == up->nhops - 1 ? STP_REP_HOST_UNREACH
			: up->hs.rep, STP_LOG_INFO, e->msg);
		return;
	}
	/* the chain itself failed (a refusal above is the chain working) */
	uphealth_session_failed(up->ss->srv, up->chain, e->msg);
	up_fail(up, e->code == STP_EXIT_UNSUPPORTED ? STP_REP_CMD_UNSUPPORTED : STP_REP_FAIL,
		STP_LOG_WARN, e->msg);
}

/* --- RESOLVE through an HTTP last hop ------------------------------------- */

static ssize_t up_io(struct upstream *up, bool wr, void *buf, size_t n, unsigned *want);

static ssize_t up_dns_io(void *arg, bool wr, void *buf, size_t n, unsigned *want)
{
	return up_io(arg, wr, buf, n, want);
}

/* Runs the DNS exchange as far as the stream allows; at its end, the
 * answer (or reply 4) to the client and one log line. */
static void up_dns_pump(struct upstream *up)
{
	struct session *ss = up->ss;
	struct upresolve_result res;
	unsigned want = STP_EV_READ;
	uint8_t b[STP_REPLY_MAX];
	size_t n;
	char srv[STP_HOSTPORT_MAX], hn[STP_HOSTPORT_MAX], ans[STP_HOSTPORT_MAX], msg[1700];

	if (upresolve_pump(up->dns, up_dns_io, up, &want, &res) == 0) {
		if (stp_loop_set(ss->srv->loop, up->fd, want) < 0)
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, "DNS server: watch failed");
		return;
	}
	stp_addr_str(&up->dest[up->nhops - 1], srv, sizeof(srv));
	hop_str(up, up->nhops - 1, hn, sizeof(hn));
	if (res.rep != STP_REP_OK) {
		snprintf(msg, sizeof(msg), "%s: %s (DNS server %s through proxy %s)",
			 upresolve_question(up->dns), res.why, srv, hn);
		up_fail(up, res.rep, STP_LOG_INFO, msg);
		return;
	}
	stp_log(up_log(up), STP_LOG_INFO, "upstream: %s: %s (DNS server %s through proxy %s)",
		upresolve_question(up->dns), stp_addr_host(&res.bnd, ans, sizeof(ans)), srv, hn);
	up_free_ops(ss);  /* the connection to the DNS server ends here */
	n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &res.bnd, NULL);
	if (n == 0) {
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	ss->rep = STP_REP_OK;
	session_fail(ss, b, n, "ok");  /* sends the answer, then closes */
}

/* The chain reached the DNS server: the exchange gets a connect timeout
 * of its own, as each step of the chain did. */
static void up_dns_begin(struct upstream *up)
{
	struct session *ss = up->ss;

	up->phase = P_DNS;
	stp_timer_start(ss->srv->loop, &ss->timer, (uint64_t)ss->srv->cfg.connect_timeout_ms);
	up_dns_pump(up);
}

/* The last hop said yes: the reply to the client, then the relay (CONNECT,
 * and the commands upcarry.c passes through) or the close (RESOLVE,
 * RESOLVE_PTR, which answer in BND). */
static void up_done(struct upstream *up)
{
	struct session *ss = up->ss;
	struct stp_addr bnd = up->hs.bnd;
	uint8_t b[STP_REPLY_MAX];
	size_t n;
	char hn[STP_HOSTPORT_MAX], tgt[STP_HOSTPORT_MAX], etgt[STP_LOGESC_SIZE(sizeof(tgt))];

	uphealth_session_ok(ss->srv, up->chain);
	if (up->dns) {
		up_dns_begin(up);
		return;
	}
	stp_log(up_log(up), STP_LOG_DEBUG, "upstream: %s %s through %s (%d hop%s): ok",
		stp_cmd_str(up->hs.cmd),
		stp_logesc(etgt, sizeof(etgt), stp_addr_str(&ss->dst, tgt, sizeof(tgt)), false),
		hop_str(up, 0, hn, sizeof(hn)), up->nhops, up->nhops == 1 ? "" : "s");
	if (up->udp_ready) {
		/* the relay here takes over: the control connection is only
		 * watched for its end (the TLS on it is never used again) */
		upstream_udp_fn *ready = up->udp_ready;
		int fd = up->fd;
		stp_loop_unwatch(ss->srv->loop, fd);
		up->fd = -1;
		up_free_ops(ss);
		ready(ss, fd, &bnd);
		return;
	}
	if (ss->ver == 5 && (ss->cmd == STP_CMD_RESOLVE || ss->cmd == STP_CMD_RESOLVE_PTR)) {
		up_free_ops(ss);  /* the upstream connection ends here */
		n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, NULL);
		if (n == 0) {
			session_reply_error(ss, STP_REP_FAIL);
			return;
		}
		ss->rep = STP_REP_OK;
		session_fail(ss, b, n, "ok");  /* sends the answer, then closes */
		return;
	}
	/* CONNECT: the socket and the TLS on it go to the relay */
	struct stp_opts ropts = up->hs.reply_opts;  /* up_drop_hs wipes hs */
	up_drop_hs(up);
	ss->tfd = up->fd;
	up->fd = -1;
	ss->tssl = up->nssl ? up->ssl[up->nssl - 1] : NULL;
	if (ss->ver == 4) {
		if (bnd.atyp != STP_ATYP_IPV4) {
			memset(&bnd, 0, sizeof(bnd));
			bnd.atyp = STP_ATYP_IPV4;
		}
		n = stp4_reply_put(b, sizeof(b), STP4_GRANTED, &bnd);
	} else {
		/* an STP command's reply keeps the last hop's options (a
		 * BIND_MULTI's, an ATTACH's); the rest of the command (NOTICEs,
		 * BIND's second reply, framed datagrams, DNS messages) is bytes
		 * the relay passes on unchanged */
		n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, &ropts);
		if (n == 0)
			n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, NULL);
		if (n == 0) {
			memset(&bnd, 0, sizeof(bnd));
			bnd.atyp = STP_ATYP_IPV4;
			n = stp5_reply_put(b, sizeof(b), ss->cmd, STP_REP_OK, &bnd, NULL);
		}
	}
	session_start_relay(ss, b, n);  /* may free ss */
}

/* --- the session's events -------------------------------------------------- */

static void up_on_client(struct session *ss, unsigned ev)
{
	/* no read interest on the client until the reply: only a hang-up */
	if (ev & STP_EV_ERROR) {
		ss->result = "client gone before reply";
		session_free(ss);
	}
}

static void up_on_timer(struct session *ss)
{
	struct upstream *up = ss->cst;
	long ms = ss->srv->cfg.connect_timeout_ms;
	struct stp_err e = { 0 };
	char hn[STP_HOSTPORT_MAX], msg[400];

	if (!up) {
		session_free(ss);
		return;
	}
	hop_str(up, 0, hn, sizeof(hn));
	switch (up->phase) {
	case P_LOOKUP:
		snprintf(msg, sizeof(msg), "no answer from the resolver within %ld s (for %s)",
			 ms / 1000, up->looking < 0 ? up->hops[0].host : up->dest[up->looking].u.name);
		break;
	case P_DIAL:
		snprintf(msg, sizeof(msg), "cannot reach proxy %s: timed out after %ld s", hn,
			 ms / 1000);
		uphealth_session_failed(ss->srv, up->chain, msg);
		break;
	case P_TLS:
		snprintf(msg, sizeof(msg), "TLS to proxy %s: no handshake answer within %ld s",
			 hop_str(up, up->tls_done + 1, hn, sizeof(hn)), ms / 1000);
		break;
	case P_HS:
		stp_hs_fail_eof(&up->hs, true, ms, &e);
		snprintf(msg, sizeof(msg), "%s", e.msg);
		break;
	case P_DNS: {
		char srv[STP_HOSTPORT_MAX];
		snprintf(msg, sizeof(msg), "%s: no answer from DNS server %s through proxy %s "
			 "within %ld s", upresolve_question(up->dns),
			 stp_addr_str(&up->dest[up->nhops - 1], srv, sizeof(srv)),
			 hop_str(up, up->nhops - 1, hn, sizeof(hn)), ms / 1000);
		break;
	}
	}
	up_fail(up, STP_REP_TTL, STP_LOG_WARN, msg);
}

/* --- names ----------------------------------------------------------------- */

/* Fills sa from the first usable address of ai with port. Returns 0 or -1. */
static int first_addr(const struct ares_addrinfo *ai, int family, uint16_t port,
		      struct stp_addr *out)
{
	for (const struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n; n = n->ai_next) {
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		if (family != AF_UNSPEC && n->ai_family != family)
			continue;
		if (stp_addr_from_sa(out, n->ai_addr) < 0)
			continue;
		out->port = port;
		return 0;
	}
	return -1;
}

static void on_lookup(void *arg, int status, const struct ares_addrinfo *ai)
{
	struct upstream *up = arg;
	char msg[400];

	up->lookup = NULL;
	if (up->looking < 0) {
		/* the first hop: every address, tried in order */
		up->naddrs = 0;
		for (const struct ares_addrinfo_node *n = ai && status == ARES_SUCCESS ? ai->nodes : NULL;
		     n && up->naddrs < SESS_MAX_ADDRS; n = n->ai_next) {
			if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
				continue;
			struct sockaddr_storage *sa = &up->addrs[up->naddrs++];
			memset(sa, 0, sizeof(*sa));
			memcpy(sa, n->ai_addr, n->ai_addrlen);
			if (sa->ss_family == AF_INET)
				((struct sockaddr_in *)sa)->sin_port = htons(up->hops[0].port);
			else
				((struct sockaddr_in6 *)sa)->sin6_port = htons(up->hops[0].port);
		}
		if (up->naddrs == 0) {
			char hn[STP_HOSTPORT_MAX];
			snprintf(msg, sizeof(msg), "cannot resolve proxy %s: %s",
				 hop_str(up, 0, hn, sizeof(hn)),
				 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
			if (up_retry(up, msg))
				return;
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
			return;
		}
		up->next_addr = 0;
		up_next(up);
		return;
	}
	/* a name hop `looking` cannot resolve itself (socks5://, socks4://) */
	struct stp_addr *d = &up->dest[up->looking];
	int fam = up->hops[up->looking].proto == STP_PROTO_SOCKS4 ? AF_INET : AF_UNSPEC;
	if (status != ARES_SUCCESS || first_addr(ai, fam, d->port, d) < 0) {
		bool target = up->looking == up->nhops - 1;
		snprintf(msg, sizeof(msg), "cannot resolve %s%s: %s", target ? "" : "proxy ",
			 d->u.name, status == ARES_SUCCESS ? "no usable address" : ares_strerror(status));
		up_fail(up, target ? STP_REP_HOST_UNREACH : STP_REP_FAIL, STP_LOG_INFO, msg);
		return;
	}
	if (up->looking == up->nhops - 1) {
		/* the target's address is known here: the rules for it, as
		 * for a direct CONNECT to a name */
		struct sockaddr_storage sa;
		struct session *ss = up->ss;
		if (stp_addr_to_sa(d, &sa) && !session_permit_addr(ss, (struct sockaddr *)&sa)) {
			up_free_ops(ss);  /* up is gone */
			session_reply_error(ss, STP_REP_NOT_ALLOWED);
			return;
		}
	}
	up_next(up);
}

/* --- another chain -------------------------------------------------------- */

static int up_init_hs(struct upstream *up);

/* The chain's first hop could not be reached (why): marks the chain down
 * and, when another one is up and this session has not tried it, starts
 * over through that one before any byte went out. Returns true when it
 * did (the session goes on, or has failed already). */
static bool up_retry(struct upstream *up, const char *why)
{
	struct session *ss = up->ss;
	struct stp_server *s = ss->srv;
	struct stp_proxy hops[STP_MAX_UPSTREAM];
	int k, n;

	if (up->chain < 0)
		return false;
	uphealth_session_failed(s, up->chain, why);
	if (++up->tries >= uphealth_count(s))
		return false;
	n = uphealth_pick(s, ss, hops, STP_MAX_UPSTREAM, &k);
	if (n < 1 || k == up->chain || !uphealth_up(s, k)) {
		for (int i = 0; i < n; i++)
			stp_proxy_wipe(&hops[i]);
		return false;
	}
	stp_log(up_log(up), STP_LOG_INFO, "upstream: chain %d unreachable, trying chain %d (%s)",
		up->chain + 1, k + 1, uphealth_label(s, k));
	for (int i = 0; i < up->nhops; i++)
		stp_proxy_wipe(&up->hops[i]);
	memcpy(up->hops, hops, (size_t)n * sizeof(*hops));
	for (int i = 0; i < n; i++)
		stp_proxy_wipe(&hops[i]);
	up->nhops = n;
	up->chain = k;
	up->naddrs = up->next_addr = up->last_errno = 0;
	up->outoff = up->inlen = 0;
	up->dial = true;
	if (up_init_hs(up) == 0)
		up_next(up);
	return true;
}

/* --- dialling -------------------------------------------------------------- */

static void on_up_fd(struct stp_loop *l, int fd, unsigned ev, void *arg);

/* Starts the connection to the next address of the first hop; with none
 * left, fails. */
static void dial_next(struct upstream *up)
{
	struct stp_loop *l = up->ss->srv->loop;
	char hn[STP_HOSTPORT_MAX], msg[400];

	while (up->next_addr < up->naddrs) {
		struct sockaddr_storage *sa = &up->addrs[up->next_addr++];
		socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							   : sizeof(struct sockaddr_in);
		/* from the session's egress (--egress, a rule's "egress") */
		int fd = egress_connect_start(up->ss, (struct sockaddr *)sa, len);
		if (fd < 0) {
			up->last_errno = errno;
			continue;
		}
		if (stp_loop_watch(l, fd, STP_EV_WRITE, on_up_fd, up) < 0) {
			up->last_errno = errno;
			close(fd);
			continue;
		}
		up->fd = fd;
		up->phase = P_DIAL;
		return;
	}
	snprintf(msg, sizeof(msg), "cannot reach proxy %s: %s", hop_str(up, 0, hn, sizeof(hn)),
		 strerror(up->last_errno ? up->last_errno : EHOSTUNREACH));
	if (up_retry(up, msg))
		return;
	up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
}

/* --- TLS ------------------------------------------------------------------- */

/* Adds a TLS layer for hop i inside the ones there are. Returns 0 or -1. */
static int tls_begin(struct upstream *up, int i, struct stp_err *e)
{
	SSL_CTX *ctx = ctx_get(up, e);
	SSL *outer = up->nssl ? up->ssl[up->nssl - 1] : NULL, *ssl;
	char hn[STP_HOSTPORT_MAX];

	if (!ctx)
		return -1;
	ssl = stp_tls_client_new(ctx, up->fd, outer, up->hops[i].host, e);
	if (!ssl)
		return stp_err_prefix(e, "TLS to proxy %s", hop_str(up, i, hn, sizeof(hn)));
	up->ssl[up->nssl++] = ssl;
	up->phase = P_TLS;
	return 0;
}

/* One step of the innermost TLS handshake. Returns 1 done, 0 wants *want,
 * -1 failed with e. */
static int tls_step(struct upstream *up, unsigned *want, struct stp_err *e)
{
	SSL *ssl = up->ssl[up->nssl - 1];
	int i = up->tls_done + 1;
	int r = stp_tls_step_want(stp_tls_connect_step(ssl), want);
	char hn[STP_HOSTPORT_MAX];

	if (r > 0)
		up->tls_done = i;
	if (r >= 0)
		return r;
	return stp_tls_connect_error(ssl, hop_str(up, i, hn, sizeof(hn)), e);
}

/* --- the handshakes -------------------------------------------------------- */

/* Reads (wr false) or writes through the innermost TLS layer, or the
 * socket. Returns bytes, 0 at EOF, or -1 with errno (EAGAIN: wait for
 * *want). */
static ssize_t up_io(struct upstream *up, bool wr, void *buf, size_t n, unsigned *want)
{
	SSL *ssl = up->nssl ? up->ssl[up->nssl - 1] : NULL;
	ssize_t k;

	if (!ssl) {
		k = wr ? send(up->fd, buf, n, MSG_NOSIGNAL) : read(up->fd, buf, n);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			errno = EAGAIN;
			*want = wr ? STP_EV_WRITE : STP_EV_READ;
		}
		return k;
	}
	size_t done;
	switch (wr ? stp_tls_write(ssl, buf, n, &done) : stp_tls_read(ssl, buf, n, &done)) {
	case STP_TLS_OK:
		return (ssize_t)done;
	case STP_TLS_WANT_READ:
		*want = STP_EV_READ;
		errno = EAGAIN;
		return -1;
	case STP_TLS_WANT_WRITE:
		*want = STP_EV_WRITE;
		errno = EAGAIN;
		return -1;
	case STP_TLS_EOF:
		if (!wr)
			return 0;
		errno = EPIPE;
		return -1;
	case STP_TLS_ERROR:
		break;
	}
	return -1;
}

/* How many bytes of answer the machine needs in all, given what is there:
 * exactly one message, so that nothing after the last reply (the target's
 * first bytes) is read here instead of by the relay. */
static size_t hs_need(const struct stp_hs *h, const uint8_t *b, size_t have)
{
	switch (h->st) {
	case HS_METHOD:
	case HS_AUTH:
		return 2;
	case HS_REPLY4:
		return 8;
	case HS_REPLY: {
		size_t base;
		if (have < 5)
			return 5;
		switch (b[3]) {
		case STP_ATYP_IPV4: base = 4 + 4 + 2; break;
		case STP_ATYP_IPV6: base = 4 + 16 + 2; break;
		case STP_ATYP_NAME: base = 4 + 1 + (size_t)b[4] + 2; break;
		default: return 5;  /* the codec calls it malformed */
		}
		/* the last hop's reply to an STP command: OPTLEN | OPTIONS too */
		if (h->hop != h->nhops - 1 || !STP_CMD_IS_STP(h->cmd))
			return base;
		if (have < base + 2)
			return base + 2;
		return base + 2 + (((size_t)b[base] << 8) | b[base + 1]);
	}
	case HS_HTTP:
		/* an HTTP answer has no length up front: a byte at a time, so
		 * that the tunnel's first bytes stay in the socket (the
		 * machine eats each; a few dozen bytes, once per session) */
		return have ? have : 1;
	default:
		return 0;
	}
}

/* Runs TLS and the handshakes as far as the socket allows, then waits for
 * what they want. Ends the session's request on failure or success. */
static void up_pump(struct upstream *up)
{
	struct stp_loop *l = up->ss->srv->loop;
	struct stp_err e = { 0 };
	unsigned want = STP_EV_READ;
	char hn[STP_HOSTPORT_MAX], eb[200], msg[400];
	ssize_t k;

	for (;;) {
		if (up->phase == P_TLS) {
			int r = tls_step(up, &want, &e);
			if (r < 0) {
				up_fail(up, STP_REP_FAIL, STP_LOG_WARN, e.msg);
				return;
			}
			if (r == 0)
				break;
			up->phase = P_HS;
			continue;
		}
		int hop = up->hs.hop;
		if (up->hs.st != HS_DONE && up->hops[hop].tls && up->tls_done < hop) {
			if (tls_begin(up, hop, &e) < 0) {
				up_fail(up, STP_REP_FAIL, STP_LOG_WARN, e.msg);
				return;
			}
			continue;
		}
		if (up->outoff < up->hs.outlen) {
			k = up_io(up, true, up->hs.out + up->outoff, up->hs.outlen - up->outoff, &want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				snprintf(msg, sizeof(msg), "proxy %s: %s", hop_str(up, hop, hn, sizeof(hn)),
					 strerror(k < 0 ? errno : EPIPE));
				up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
				return;
			}
			up->outoff += (size_t)k;
			continue;
		}
		if (up->hs.st == HS_DONE) {
			up_done(up);
			return;
		}
		size_t need = hs_need(&up->hs, up->in, up->inlen);
		if (need > UP_IN_CAP)
			need = UP_IN_CAP;  /* OPTLEN over 4096: the codec refuses it */
		if (up->inlen < need) {
			k = up_io(up, false, up->in + up->inlen, need - up->inlen, &want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k == 0 || (k < 0 && errno == ECONNRESET)) {
				/* (an HTTP refusal whose body ends with the close
				 * is judged here, with its reply code) */
				stp_hs_fail_eof(&up->hs, false, 0, &e);
				up_hs_failed(up, &e);
				return;
			}
			if (k < 0) {
				snprintf(msg, sizeof(msg), "proxy %s: %s", hop_str(up, hop, hn, sizeof(hn)),
					 errno == EPROTO ? stp_tls_error(eb, sizeof(eb)) : strerror(errno));
				up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
				return;
			}
			up->inlen += (size_t)k;
			continue;  /* what is needed may have grown (a reply's address) */
		}
		k = stp_hs_feed(&up->hs, up->in, up->inlen, &e);
		if (k < 0) {
			up_hs_failed(up, &e);
			return;
		}
		if (k == 0) {
			snprintf(msg, sizeof(msg), "proxy %s: malformed answer",
				 hop_str(up, hop, hn, sizeof(hn)));
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
			return;
		}
		memmove(up->in, up->in + k, up->inlen - (size_t)k);
		up->inlen -= (size_t)k;
		up->outoff = 0;
	}
	if (stp_loop_set(l, up->fd, want) < 0) {
		snprintf(msg, sizeof(msg), "proxy %s: watch: %s", hop_str(up, up->hs.hop, hn, sizeof(hn)),
			 strerror(errno));
		up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
	}
}

static void on_up_fd(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct upstream *up = arg;
	struct session *ss = up->ss;
	char hn[STP_HOSTPORT_MAX], msg[400];

	(void)l;
	switch (up->phase) {
	case P_DIAL: {
		int err = stp_connect_result(fd);
		if (err == 0) {
			/* the handshakes get a connect timeout of their own */
			stp_timer_start(ss->srv->loop, &ss->timer,
					(uint64_t)ss->srv->cfg.connect_timeout_ms);
			up->dial = false;
			up_next(up);
			return;
		}
		up->last_errno = err;
		stp_loop_unwatch(ss->srv->loop, fd);
		close(fd);
		up->fd = -1;
		dial_next(up);
		return;
	}
	case P_LOOKUP:
		/* no interest while names resolve: only an error comes */
		if (ev & STP_EV_ERROR) {
			snprintf(msg, sizeof(msg), "proxy %s: connection lost",
				 hop_str(up, 0, hn, sizeof(hn)));
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
		}
		return;
	case P_TLS:
	case P_HS:
		up_pump(up);
		return;
	case P_DNS:
		up_dns_pump(up);
		return;
	}
}

/* Goes on with whatever comes next: a name to resolve, the dial, or the
 * handshakes. */
static void up_next(struct upstream *up)
{
	struct stp_resolver *res = up->ss->srv->res;
	struct stp_addr a;
	struct stp_lookup *q;

	up->phase = P_LOOKUP;
	if (up->dial && up->naddrs == 0) {
		/* the first hop's name; a literal needs no lookup */
		if (stp_addr_from_host(&a, up->hops[0].host, up->hops[0].port) == 0 &&
		    a.atyp != STP_ATYP_NAME && stp_addr_to_sa(&a, &up->addrs[0])) {
			up->naddrs = 1;
			up->next_addr = 0;
		} else {
			up->looking = -1;
			q = stp_lookup_start(res, up->hops[0].host, AF_UNSPEC, on_lookup, up);
			if (q)
				up->lookup = q;
			return;  /* on_lookup goes on (it may have run: up may be gone) */
		}
	}
	if (up->fd >= 0)
		stp_loop_set(up->ss->srv->loop, up->fd, 0);
	/* CONNECT only: a name a hop does not resolve itself is resolved here
	 * (RESOLVE's and RESOLVE_PTR's DST is the question, never looked up) */
	for (int i = 0; i < up->nhops; i++) {
		struct stp_addr *d = &up->dest[i];
		if (d->atyp != STP_ATYP_NAME || up->hops[i].remote_dns ||
		    (i == up->nhops - 1 && up->hs.cmd != STP_CMD_CONNECT))
			continue;
		up->looking = i;
		q = stp_lookup_start(res, d->u.name,
				     up->hops[i].proto == STP_PROTO_SOCKS4 ? AF_INET : AF_UNSPEC,
				     on_lookup, up);
		if (q)
			up->lookup = q;
		return;
	}
	if (up->dial) {
		dial_next(up);
		return;
	}
	up->phase = P_HS;
	up_pump(up);
}

/* --- starting -------------------------------------------------------------- */

/* The state for ss with room for nhops hops (filled by the caller), the
 * session set up to wait for it. Returns NULL (after replying X'01') when
 * out of memory. */
static struct upstream *up_new(struct session *ss, int nhops)
{
	struct stp_server *s = ss->srv;
	struct upstream *up = calloc(1, sizeof(*up));

	if (up) {
		up->hops = calloc((size_t)nhops, sizeof(*up->hops));
		up->dest = calloc((size_t)nhops, sizeof(*up->dest));
		up->in = malloc(UP_IN_CAP);
	}
	if (!up || !up->hops || !up->dest || !up->in) {
		if (up) {
			free(up->hops);
			free(up->dest);
			free(up->in);
		}
		free(up);
		session_reply_error(ss, STP_REP_FAIL);
		return NULL;
	}
	up->ss = ss;
	up->fd = -1;
	up->chain = -1;
	up->nhops = nhops;
	up->tls_done = -1;
	ss->cst = up;
	ss->ops = &up_ops;
	ss->state = S_CMD;
	stp_loop_set(s->loop, ss->cfd, 0);  /* early data waits in the socket */
	stp_timer_start(s->loop, &ss->timer, (uint64_t)s->cfg.connect_timeout_ms);
	return up;
}

/* With up->hops filled: what each hop is asked for, and the machine.
 * Returns 0, or -1 after failing the session. */
static int up_init_hs(struct upstream *up)
{
	struct session *ss = up->ss;
	struct stp_err e = { 0 };
	uint8_t cmd = up->udp_ready ? STP_CMD_UDP : ss->ver == 4 ? STP_CMD_CONNECT : ss->cmd;

	if (up->udp_ready && up->nhops > 1) {
		/* the datagrams go from here straight to the last hop's relay,
		 * which the hops before it do not carry */
		up_fail(up, STP_REP_CMD_UNSUPPORTED, STP_LOG_INFO,
			"UDP refused: it goes through a one-hop upstream chain only, and does "
			"not leave from here");
		return -1;
	}
	for (int i = 0; i < up->nhops - 1; i++)
		if (stp_addr_from_host(&up->dest[i], up->hops[i + 1].host, up->hops[i + 1].port) < 0) {
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, "bad proxy host name");
			return -1;
		}
	up->dest[up->nhops - 1] = ss->dst;
	if (up->udp_ready) {
		/* DST: where datagrams will come from; zeros: not known yet */
		memset(&up->dest[up->nhops - 1], 0, sizeof(up->dest[0]));
		up->dest[up->nhops - 1].atyp = STP_ATYP_IPV4;
	} else if (upresolve_wanted(ss->ver, ss->cmd, &up->hops[up->nhops - 1])) {
		/* an HTTP proxy carries only streams: CONNECT to the DNS
		 * server and ask it there (upresolve.h) */
		char why[STP_ERR_MSG_MAX];
		if (!up->dns && !(up->dns = upresolve_new(ss->cmd, &ss->dst, why, sizeof(why)))) {
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, why);
			return -1;
		}
		if (upresolve_server(ss->srv, &up->dest[up->nhops - 1]) < 0) {
			up_fail(up, STP_REP_FAIL, STP_LOG_WARN, "no DNS server to ask through the HTTP proxy");
			return -1;
		}
		cmd = STP_CMD_CONNECT;
	}
	if (stp_hs_init_opts(&up->hs, up->hops, up->nhops, up->dest, cmd,
			     up->opts, &e) < 0) {
		up_hs_failed(up, &e);
		return -1;
	}
	return 0;
}

void upstream_start(struct session *ss)
{
	upstream_start_opts(ss, NULL);
}

void upstream_start_opts(struct session *ss, const struct stp_opts *opts)
{
	upstream_start_opts_or(ss, opts, NULL);
}

/* upstream_start_opts, upstream_start_opts_or and upstream_start_udp. */
static void up_start(struct session *ss, const struct stp_opts *opts, upstream_udp_fn *udp_ready,
		     void (*unsupported)(struct session *ss))
{
	struct stp_server *s = ss->srv;
	struct upstream *up;

	/* room for any chain: a retry may take a longer one */
	if (!(up = up_new(ss, STP_MAX_UPSTREAM)))
		return;
	up->udp_ready = udp_ready;
	up->unsupported = unsupported;
	if (opts) {
		up->opts = malloc(sizeof(*up->opts));
		if (!up->opts) {
			up_fail(up, STP_REP_FAIL, STP_LOG_ERR, "out of memory");
			return;
		}
		*up->opts = *opts;
	}
	int n = uphealth_pick(s, ss, up->hops, STP_MAX_UPSTREAM, &up->chain);
	if (n < 1) {
		up->nhops = 0;
		up_fail(up, STP_REP_FAIL, STP_LOG_ERR, "an --upstream URL does not parse");
		return;
	}
	up->nhops = n;
	if (up_init_hs(up) < 0)
		return;
	up->dial = true;
	up_next(up);
}

void upstream_start_opts_or(struct session *ss, const struct stp_opts *opts,
			    void (*unsupported)(struct session *ss))
{
	up_start(ss, opts, NULL, unsupported);
}

void upstream_start_udp(struct session *ss, upstream_udp_fn *ready)
{
	up_start(ss, NULL, ready, NULL);
}

void upstream_start_on_fd(struct session *ss, int fd, const struct stp_proxy *hops, int nhops)
{
	struct upstream *up;
	char msg[STP_ERR_MSG_MAX];

	if (nhops < 1 || nhops > STP_MAX_HOPS) {
		close(fd);
		session_reply_error(ss, STP_REP_FAIL);
		return;
	}
	up = up_new(ss, nhops);
	if (!up) {
		close(fd);
		return;
	}
	memcpy(up->hops, hops, (size_t)nhops * sizeof(*hops));
	up->fd = fd;
	if (stp_loop_watch(ss->srv->loop, fd, 0, on_up_fd, up) < 0) {
		snprintf(msg, sizeof(msg), "watch: %s", strerror(errno));
		up_fail(up, STP_REP_FAIL, STP_LOG_WARN, msg);
		return;
	}
	if (up_init_hs(up) < 0)
		return;
	up_next(up);
}
