/* server_priv.h - what server.c and session.c share; not for programs. */
#ifndef STP_SERVER_PRIV_H
#define STP_SERVER_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "core/evloop.h"
#include "core/relay.h"
#include "core/resolver.h"
#include "server/server.h"
#include "proto/socks.h"
#include "server/stats.h"
#include "server/policy/users.h"

/* What a listener accepts: SOCKS/HTTP clients, or flows the kernel
 * redirected to stp-serve (transparent.h). */
enum lkind { LK_PROXY, LK_TTCP, LK_TUDP };

struct listener {
	int fd;
	bool tls;
	enum lkind kind;
	struct sockaddr_storage addr;
	socklen_t len;
	int *wfd;  /* --workers: one SO_REUSEPORT socket per worker (wfd[0] is fd),
		      held by the supervisor; NULL: fd alone (also: inherited) */
};

struct stp_server {
	struct stp_server_cfg cfg;
	struct stp_loop *loop;
	struct stp_resolver *res;
	struct stp_users *users;   /* the current policy's (pol->users); sessions use ss->pol */
	struct listener ls[STP_MAX_LISTEN];
	int nls;
	long nsessions, max_sessions;
	long nfds, fd_budget;      /* descriptors the sessions may hold (session->fds),
				      and what the fd limit leaves them */
	unsigned long refused;     /* clients closed at once at --max-sessions */
	bool accepting, draining;
	int reserve_fd;            /* spare fd, given up to refuse a client at EMFILE */
	bool fd_warned;            /* ... and said so, since the last accepted client */
	bool extra_warned;         /* a session's extra fds refused, said since the last granted */
	struct stp_timer drain_timer;
	struct stp_timer accept_timer;
	struct stp_timer trim_timer;   /* malloc_trim once the server is idle */
	struct session *sessions;  /* all live sessions, for the drain */
	SSL_CTX *tls_ctx;          /* for TLS listeners */
	struct ticket *tickets;    /* BIND_MULTI connections waiting for ATTACH */
	void *udp;                 /* cmd_udp.c's receive batch, while associations live */
	void *mcast;               /* cmd_mcast.c's group table, while MCAST sessions live */
	void *upstream;            /* upstream.c's TLS context, while sessions use it */
	void *upmux;               /* upmux.c's MUX session (--upstream-mux) */
	void *uph;                 /* uphealth.c's chains and their health */
	/* policy.c: the configuration SIGHUP reloads, and what it limits */
	struct policy *pol;        /* the current one; new sessions take it */
	struct policy *boot;       /* the first one (s->cfg's strings live in it) */
	struct policy *gc;         /* no longer held, freed by gc_timer */
	struct stp_timer gc_timer, sweep_timer;
	struct stp_clients *clients;  /* sessions and failed logins per client address */
	struct ubucket *ubuckets;  /* --user-bandwidth meters of users with sessions */
	struct stp_stats stats;    /* counters for --stats (stats.h) */
	struct stp_stats_srv *stats_srv;  /* the --stats endpoint, NULL: none */
	bool inetd_ok;             /* --inetd: the session got a success reply */
	/* --workers (workers.h): this process's part */
	int nworkers, worker;      /* 1, 0: no other workers */
	bool dropped;              /* --user done (the supervisor, before a restart) */
	struct stats_slot *shared; /* every worker's counters (stats.h); NULL: one worker */
	struct stp_timer publish_timer;
	unsigned publish_ticks;    /* ... its count (the status board: statsboard.h) */
	uint64_t session_seq;      /* the last session id given (/api/sessions) */
	void *tudp;                /* transparent.c's UDP flows (--transparent-udp) */
	void *handoff;             /* handoff.c's inboxes (--workers with BIND_MULTI) */
};

/* "user" when authenticated, else "@ADDR" of the client: who owns what a
 * session makes (BIND_MULTI tickets). */
#define STP_PRINCIPAL_MAX 300

enum sstate {
	S_PROXY,       /* a --proxy-protocol balancer's PROXY header (before TLS) */
	S_GREETING,    /* waiting for the first message (4 or 5 decides) */
	S_TLS,         /* TLS handshake of a TLS listener */
	S_AUTH,        /* RFC 1929 sub-negotiation */
	S_AUTH_WAIT,   /* password being checked off the loop */
	S_GSS,         /* RFC 1961 §3: a context token being read (sessgss.c) */
	S_GSS_WAIT,    /* ... being accepted off the loop */
	S_GSS_PROT,    /* RFC 1961 §4: the protection-level message being read */
	S_REQUEST,
	S_RESOLVING,
	S_CONNECTING,
	S_RELAY,
	S_CMD,         /* a command that runs the connection itself (ss->ops) */
	S_HTTP,        /* an HTTP request head being read (httpsrv.h) */
	S_HTTP_FWD,    /* an absolute-form request forwarded (httpfwd.h) */
	S_CLOSING,     /* final reply being written, then close */
	S_LINGER,      /* final words sent and write side shut: wait for the
			  client's close, so that a reset cannot discard them */
};

struct session;
/* A command that keeps the client connection after its reply (a UDP
 * association's control connection, a BIND_MULTI control channel, a DNS
 * channel) sets ss->ops and ss->state = S_CMD; the session then hands it
 * its client events, its timer, and its end. */
struct cmd_ops {
	void (*on_client)(struct session *ss, unsigned events);
	void (*on_timer)(struct session *ss);     /* ss->timer fired */
	void (*free)(struct session *ss);         /* release ss->cst; no I/O */
};

#define SESS_IN_SMALL 600
#define SESS_IN_MAX (262 + 2 + STP_OPTLEN_MAX + 8)
#define SESS_MAX_ADDRS 8
/* The fd budget: a session holds the client's and the target's socket (or
 * what stands in for the target: a BIND or BIND_MULTI listener, a UDP
 * association's relay endpoint); a MUX stream also the MUX engine's end of
 * its socketpair. More (session_fds_take) is counted on top. */
#define SESS_FDS 2
#define STREAM_FDS 3

struct session {
	struct stp_server *srv;
	struct session *prev, *next;
	enum sstate state;
	int cfd, tfd;
	uint8_t ver;                    /* 4 or 5 */
	uint8_t cmd;
	uint8_t rep;                    /* the reply sent (SOCKS5 code) */
	uint8_t *in;                    /* handshake input, freed at relay start */
	size_t inlen, incap;
	uint8_t out[STP_REPLY_MAX];     /* reply bytes not yet written */
	size_t outoff, outlen;
	struct stp_timer timer;
	struct stp_addr dst;
	struct sockaddr_storage peer;
	struct sockaddr_storage addrs[SESS_MAX_ADDRS];
	int naddrs, next_addr;
	int last_errno;
	struct stp_lookup *lookup;
	struct stp_auth_job *auth;      /* password at the users file ... */
	struct stp_authurl_job *aauth;  /* ... or at the auth URL */
	void (*auth_done)(void *ss, bool ok);
	struct policy *pol;             /* the configuration this session follows */
	struct sess_limit *lim;         /* bandwidth meters, NULL: none */
	bool admitted;                  /* counted in srv->clients */
	struct stp_relay *relay;
	char user[256];                 /* RFC 1929 user, or certificate subject */
	char *userid;                   /* SOCKS4 USERID: a claim, never a user;
					 * NULL when empty (most sessions have
					 * none: no room kept for it) */
	bool authenticated;             /* user was checked against --users */
	bool login_blocked;             /* refused unchecked: its address is blocked */
	bool cert_auth;                 /* ... or by a verified client certificate */
	bool gss_auth;                  /* ... or by GSS-API: user is its principal */
	struct sess_gss *gss;           /* the GSS-API exchange (sessgss.c), NULL: none */
	SSL *ssl;                       /* client side TLS (TLS listeners) */
	SSL *tssl;                      /* TLS to an --upstream proxy, relayed as side B;
					   owned by upstream.c (ss->cst) */
	const char *result;             /* for the log line */
	bool features_done;             /* FEATURES answered: one more request */
	const struct cmd_ops *ops;      /* S_CMD only */
	void *cst;                      /* the command's own state */
	uint64_t bytes_up, bytes_down;  /* counted by commands without a relay */
	uint64_t start;
	uint64_t replied_at;            /* loop time of the request's reply; 0: none yet */
	int fds;                        /* descriptors it may hold: SESS_FDS, STREAM_FDS */
	struct session *mux_parent;     /* a MUX stream's session: its MUX session */
	uint32_t mux_stream;            /* ... and the stream's id */
	int rule_no;                    /* the rule that allowed the request, 1-based
					   (its "egress", egress.h); 0: none */
	/* HTTP on the SOCKS port (httpsrv.c): a CONNECT session answered in HTTP */
	bool http;                      /* the client speaks HTTP */
	bool http_fwd;                  /* an absolute-form request forwarded */
	uint16_t http_seen;             /* head bytes looked at for a line end */
	int http_status;                /* the status sent (0: none, or the origin's) */
	char http_method[16];           /* for the log; "-" before the request line */
	bool http_keep;                 /* the client keeps the connection (forwarded) */
	bool http_head_req;             /* a HEAD request: its answer has no body */
	uint8_t http_minor;             /* the request's HTTP/1.minor */
	unsigned http_served;           /* forwarded requests answered on this connection */
	void *hfwd;                     /* httpfwd.c's state in S_HTTP_FWD */
	void *hidle;                    /* httpidle.c's origin kept for the next request */
	bool http_oreused;              /* this request went on a kept origin connection */
	uint64_t id;                    /* this process's session number, from 1 */
	/* --transparent (transparent.h): a flow the kernel redirected; TCP
	 * gets no SOCKS reply (its client never asked), UDP's reply goes to
	 * transparent.c's end of the socketpair */
	uint8_t transparent;            /* STP_TRANSP_*; 0: a proxy client */
	int listener;                   /* index in srv->ls it came in by (a
					   transparent one too); -1: none (--inetd) */
	bool handed;                    /* given to another worker (handoff.h): it
					   logs and counts the session, not this one */
};
#define STP_TRANSP_TCP 1
#define STP_TRANSP_UDP 2

/* A client accepted on listener lidx (index in s->ls; -1: --inetd's). */
void session_accept(struct stp_server *s, int fd, const struct sockaddr_storage *peer, int lidx);
/* A session for a redirected flow (transparent.h): fd is the client's
 * connection (TCP) or a socketpair end carrying its datagrams framed as
 * UDP_TCP (udp); peer the client, dst the original target, lidx the
 * transparent listener (index in s->ls) it came in by. It runs the
 * request CONNECT (UDP_TCP) to dst as if the client had sent it: rules,
 * limits, --upstream, logs, stats. fd is owned by the session from the
 * call on (closed when refused). */
void session_open_transparent(struct stp_server *s, int fd, const struct sockaddr_storage *peer,
			      const struct stp_addr *dst, bool udp, int lidx);
/* Who a client authenticated as, for a session that moves (handoff.h). */
struct sess_creds {
	char user[256];
	bool authenticated, cert_auth, gss_auth;
};
/* A client another worker handed over (handoff.h): fd (owned from the call
 * on, closed when refused), its address, the listener it came in by, who
 * it authenticated as, and req[n]: its request followed by what it sent
 * after it. Runs the request as a session of this worker. */
void session_adopt(struct stp_server *s, int fd, const struct sockaddr_storage *peer, int lidx,
		   const struct sess_creds *who, const uint8_t *req, size_t n);
/* True when one more session holding fds descriptors fits --max-sessions
 * and the fd limit (server.c). */
bool server_room(const struct stp_server *s, int fds);
/* Descriptors a session opens beyond its own (a BIND_MULTI peer waiting
 * for ATTACH, a UDP association's sockets to targets) come from the same
 * budget, but never from its second half, which stays for the sessions'
 * own: one client multiplying its descriptors cannot lock the others
 * out. Counts n more for ss and returns true, or returns false with a
 * warning (once until a grant) naming what (e.g. "a peer") as refused.
 * session_free gives back all of ss->fds; session_fds_give returns n of
 * them earlier. */
bool session_fds_take(struct session *ss, int n, const char *what);
void session_fds_give(struct session *ss, int n);
/* Reads from the client (through TLS on a TLS listener): bytes, 0 at EOF,
 * -1 with errno (EAGAIN: nothing now). For commands in S_CMD. */
ssize_t session_recv(struct session *ss, void *buf, size_t n);
/* Writes to the client without blocking (through TLS on a TLS listener):
 * bytes written, or -1 with errno (EAGAIN: try on the next write event). */
ssize_t session_write(struct session *ss, const void *buf, size_t n);
/* True when TLS holds client bytes already read from the socket: no fd
 * event will announce them, so a reader with room must read again. */
bool session_pending(const struct session *ss);
void session_free(struct session *ss);
void session_log_end(const struct session *ss);

/* For the commands (cmd_*.c). session_send queues bytes for the client and
 * writes them: 0 all written, 1 some left (write interest set; once it is
 * flushed the session sets read interest again), -1 gone or no room. It is
 * for replies (ss->out holds 300 bytes): a command that streams to the
 * client (a DNS channel, UDP over TCP) keeps its own bounded buffer. */
int session_send(struct session *ss, const uint8_t *b, size_t n);
/* Sends a final message (may be none) and closes once it is written. */
void session_fail(struct session *ss, const uint8_t *b, size_t n, const char *why);
/* Sends the error reply rep in the client's protocol version, then closes. */
void session_reply_error(struct session *ss, uint8_t rep);
/* --idle-timeout, given the loop time of the session's last activity:
 * ends the session ("idle timeout") and returns true when it is over,
 * else (re-)arms ss->timer for the rest and returns false. */
bool session_idle_check(struct session *ss, uint64_t last);
/* Sends the success reply, then relays the client and ss->tfd. */
void session_start_relay(struct session *ss, const uint8_t *reply, size_t n);

/* The commands. Each takes over a session whose request is parsed
 * (ss->cmd, ss->dst) and ends in a reply: an error, or a relay. */
void cmd_connect(struct session *ss);
void cmd_features(struct session *ss);
void cmd_config(struct session *ss);
void cmd_bind(struct session *ss);
void cmd_bind_multi(struct session *ss, const struct stp5_msg *m);
void cmd_attach(struct session *ss, const struct stp5_msg *m);
const char *session_principal(const struct session *ss, char *buf, size_t cap);

/* A BIND helper shared with BIND_MULTI (cmd_bind.c). */
int bind_listen(struct session *ss, int backlog, uint8_t *rep);
/* A BIND or BIND_MULTI listener's accept4 failed with err: at the fd
 * limit it pauses (stp_accept_pause) and warns once per episode. */
struct stp_accept_pause;
void bind_accept_failed(struct session *ss, struct stp_accept_pause *p, int err);

/* UDP ASSOCIATE, UDP_BIND and UDP_TCP (cmd_udp.c); m carries the options. */
void cmd_udp(struct session *ss, const struct stp5_msg *m);

/* MCAST: multicast groups joined for clients (cmd_mcast.c). */
void cmd_mcast(struct session *ss, const struct stp5_msg *m);

/* Tor's RESOLVE and RESOLVE_PTR, and the STP DNS channel (cmd_resolve.c,
 * cmd_dns.c). */
void cmd_resolve(struct session *ss);
void cmd_resolve_ptr(struct session *ss);
void cmd_dns(struct session *ss);

/* MUX (cmd_mux.c): streams are sessions of their own on one end of a
 * socketpair, with the MUX session's client, user and policy. */
void cmd_mux(struct session *ss);
/* Serves request req (VER=5, n bytes) of stream id of MUX session parent
 * on fd; *slot = the new session before it runs. Returns false (fd closed)
 * with *rep: X'C1' at --max-sessions-per-client, X'01' out of memory. */
bool session_open_stream(struct session *parent, int fd, uint32_t id,
			 const uint8_t *req, size_t n, void **slot, uint8_t *rep);
/* A stream's session ends: its MUX session forgets it. */
void cmd_mux_child_gone(struct session *ss);
/* The server drains: each MUX session ends once its streams have. */
void cmd_mux_drain(struct stp_server *s);

/* policy.c: configuration generations, SIGHUP, authentication back ends,
 * rules, per-client limits and bandwidth meters. */
/* Makes the first policy of cfg (s->cfg), which takes its memory, except
 * when this fails before (then s->cfg.mem is still set). Returns 0, or -1
 * with e. */
int server_policy_init(struct stp_server *s, const struct stp_server_cfg *cfg,
		       struct stp_err *e);
void server_policy_fini(struct stp_server *s);
void server_reload(struct stp_server *s);
/* True when peer is one of --proxy-protocol's balancers in the current
 * policy (SIGHUP changes the list for new connections). */
bool server_proxy_listed(const struct stp_server *s, const struct sockaddr *peer);
/* At accept: the per-client limit (logs a refusal) and the policy the
 * session follows. Returns false if the session is refused. */
bool session_policy_attach(struct session *ss);
/* A MUX stream's session follows its MUX session's policy, and counts as a
 * session of its client address. Returns false (not logged: a client can
 * send OPENs faster than connections) at --max-sessions-per-client. */
bool session_policy_share(struct session *ss, const struct session *parent);
/* At the end: cancels password checks, releases what attach took. */
void session_policy_detach(struct session *ss);
bool session_needs_auth(const struct session *ss);
/* True when the policy checks passwords (--users, --auth-url). */
bool session_offers_password(const struct session *ss);
/* The policy's GSS-API acceptor (--gssapi-keytab), or NULL. */
struct stp_gssauth *session_gssauth(const struct session *ss);
/* Its --gssapi-protection: the least level granted (enum stp_gss_level). */
int session_gss_least(const struct session *ss);

/* sessgss.c: RFC 1961 after the method X'01' was chosen: the context
 * tokens (checked off the loop), the protection level, then S_REQUEST.
 * sessgss_begin moves ss to S_GSS; sessgss_step handles the input in
 * S_GSS and S_GSS_PROT and returns as step() does; sessgss_free (at the
 * session's end) cancels a step in flight and deletes the context. */
void sessgss_begin(struct session *ss);
int sessgss_step(struct session *ss);
void sessgss_free(struct session *ss);
/* The input buffer's limit in state st beyond SESS_IN_MAX: a GSS-API
 * message can be longer than any SOCKS request; 0: no other limit. */
size_t sessgss_in_max(enum sstate st);
/* session.c, for sessgss.c: drops n handshake bytes; runs the handshake
 * over the buffered input (ss may be gone afterwards). */
void session_consume(struct session *ss, size_t n);
void session_process_input(struct session *ss);
/* Checks user/pass with the users file or the auth URL, unless the client
 * address is blocked for failed logins; done(ss, ok) runs once, maybe
 * before this returns (then ss may be gone). */
void session_auth_start(struct session *ss, const char *user, const char *pass,
			stp_auth_cb *done);
/* The rules for the parsed request: false = denied, logged, and the reply
 * X'02' (SOCKS4: 91) is on its way (ss may be gone). */
bool session_permit(struct session *ss);
/* The rules again for a resolved address of a name target, before
 * connecting to it: false = denied (logged; no reply sent). */
bool session_permit_addr(struct session *ss, const struct sockaddr *addr);
/* A UDP datagram's target (name: as the client gave it, or NULL): true if
 * the rules allow it. Counts a denial; logs nothing (a flood would). */
bool session_permit_target(struct session *ss, const struct sockaddr *addr,
			   const char *name, uint16_t port);
/* The "egress" address of family fam of the rule that allowed ss's
 * request, into *out: true, or false when it names none. */
bool session_rule_egress(const struct session *ss, int fam, struct sockaddr_storage *out);
/* Adds the bandwidth limits that apply to ss to a relay's configuration. */
void session_relay_limits(struct session *ss, struct stp_relay_cfg *rc);
/* --user: setgroups, setgid, setuid, checked. Returns 0, or -1 with e. */
int stp_drop_privileges(const char *user, struct stp_err *e);

#endif
