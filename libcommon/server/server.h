/* server.h - stp-serve's engine: listeners, sessions, the SOCKS5/SOCKS4
 * server side, on one event loop. main fills the config and prints. */
#ifndef STP_SERVER_H
#define STP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "proto/cidr.h"
#include "proto/err.h"
#include "core/msg.h"

#define STP_MAX_LISTEN 16
#define STP_MCAST_ALLOW_MAX 32
#define STP_MAX_UPSTREAM 8       /* --upstream hops (a chain, handshake.h) */
#define STP_MAX_CHAINS 8         /* --upstream-chain alternatives (uphealth.h) */
/* --upstream-strategy: how a session's chain is chosen among those up */
enum { STP_UPSTRAT_FAILOVER, STP_UPSTRAT_ROUND_ROBIN, STP_UPSTRAT_HASH_USER };
/* --upstream-local: command classes this server carries out itself */
#define STP_UPLOCAL_UDP  1u      /* UDP ASSOCIATE, UDP_BIND, UDP_TCP, MCAST */
#define STP_UPLOCAL_BIND 2u      /* BIND, BIND_MULTI, ATTACH (and SOCKS4 BIND) */
#define STP_UPLOCAL_DNS  4u      /* the DNS channel */
#define STP_MAX_PROXY_FROM 32    /* --proxy-protocol ranges */
#define STP_MAX_TRANSPARENT 4    /* --transparent, --transparent-udp: each */

struct stp_cfg_args;
struct stp_cfg_mem;
struct stp_rules;

/* --max-sessions when not given; a bare number, since stp-serve's --help
 * spells it out with # (the fd limit may lower it at start). */
#define STP_MAX_SESSIONS_DEFAULT 16384

struct stp_server_cfg {
	const char *listen[STP_MAX_LISTEN];  /* "ADDR:PORT" as given */
	bool listen_tls[STP_MAX_LISTEN];     /* --tls-listen: TLS from the first byte */
	int nlisten;
	const char *tls_cert, *tls_key;      /* for TLS listeners */
	const char *tls_client_ca;           /* require client certificates from it */
	const char *users_file;              /* NULL: no authentication */
	char resolvers[1024];                /* c-ares CSV, "" = the system's */
	long handshake_timeout_ms;           /* greeting .. request */
	long connect_timeout_ms;             /* reaching the target */
	long bind_timeout_ms;                /* BIND: waiting for the peer */
	long bind_port_min, bind_port_max;   /* --bind-ports: the port hints granted */
	long keepalive_s;                    /* --keepalive: TCP keepalive, 0 = off */
	/* behind NAT (nat.h) and egress (egress.h); [0] IPv4, [1] IPv6,
	 * family 0: not given */
	struct sockaddr_storage advertise[2];  /* --advertise: the address in relay replies */
	long udp_port_min, udp_port_max;     /* --udp-ports: relay ports; 0: the kernel's */
	struct sockaddr_storage egress[2];   /* --egress: the source of what goes out */
	char egress_iface[16];               /* --egress-interface (IFNAMSIZ); "": none */
	long idle_timeout_ms;                /* 0 = never */
	long drain_timeout_ms;               /* after SIGTERM */
	long max_sessions;                   /* default STP_MAX_SESSIONS_DEFAULT */
	bool open;                           /* allow non-loopback without auth */
	bool udp_any_sender;                 /* UDP ASSOCIATE: DST may name another host */
	bool no_http;                        /* --no-http: SOCKS only on every listener */
	/* --proxy-protocol: connections from these (load balancers) start with
	 * a PROXY header naming the client (proxyproto.h); SIGHUP reloads them */
	struct stp_cidr proxy_from[STP_MAX_PROXY_FROM];
	int nproxy_from;
	/* --attach-at HOST:PORT (checked): where clients reach this very
	 * instance, named in every BIND_MULTI NOTICE (option ATTACH_AT) when
	 * several instances share one address; NULL: not named */
	const char *attach_at;
	const char *client_config;           /* CONFIG's document (--client-config), or NULL */
	size_t client_config_len;
	struct stp_log log;
	/* configuration file, rules, authentication, limits (config.h) */
	const char *config_file;             /* -c FILE, read again on SIGHUP; NULL: none */
	const struct stp_cfg_args *args;     /* the command line, applied over the file */
	const char *client_config_file;      /* --client-config FILE */
	struct stp_rules *rules;             /* access rules (rules.h); NULL: none */
	const char *auth_url;                /* backend authentication (authurl.h) */
	/* GSS-API, RFC 1961 (gssauth.h, sessgss.c) */
	const char *gss_keytab;              /* --gssapi-keytab FILE; NULL: no method X'01' */
	const char *gss_service;             /* --gssapi-service; NULL: "rcmd" */
	int gss_protection;                  /* --gssapi-protection: the least level granted */
	long auth_cache_ms;                  /* how long its answers are remembered: yes */
	long auth_neg_cache_ms;              /* no */
	long auth_timeout_ms;                /* limit for its answer (then: no) */
	long max_per_client;                 /* sessions per client address; 0: no limit */
	long login_failures;                 /* failed logins that block an address
						(ratelimit.h); 0: never blocked */
	long bandwidth;                      /* bytes/s each way per session; 0: none */
	long user_bandwidth;                 /* bytes/s each way per user; 0: none */
	const char *run_as;                  /* --user: drop privileges to this user */
	long workers;                        /* --workers: processes, each with its own
						loop (workers.h); 1: this one alone */
	/* --upstream: CONNECT, RESOLVE, RESOLVE_PTR through these proxies (upstream.h) */
	const char *upstream[STP_MAX_UPSTREAM];  /* proxy URLs, a chain in order, checked */
	int nupstream;                       /* 0: the server reaches targets itself */
	const char *upstream_cacert;         /* trust anchors for TLS upstreams; NULL: system's */
	bool upstream_mux;                   /* one MUX session to upstream[0] (upmux.h) */
	unsigned upstream_local;             /* STP_UPLOCAL_* bits: carried out here
						despite --upstream (upcarry.h) */
	const char *upstream_chain[STP_MAX_CHAINS];  /* --upstream-chain "URL,URL...", checked */
	int nchains;                         /* 0: none (--upstream alone, or direct) */
	int upstream_strategy;               /* STP_UPSTRAT_*; default failover */
	/* multicast (cmd_mcast.c, mcastpol.h) */
	const char *mcast_iface;             /* --mcast-iface NAME; NULL: the system's choice */
	long mcast_max_ttl;                  /* the TTL option is capped to this (default 1) */
	const char *mcast_allow[STP_MCAST_ALLOW_MAX];  /* --mcast-allow entries, checked */
	int nmcast_allow;                    /* 0: every group, both directions */
	/* operations (stats.h; --inetd and socket activation in stp-serve.c) */
	const char *stats_listen;            /* --stats ADDR:PORT; NULL: no endpoint */
	const char *stats_users;             /* --stats-users FILE: Basic auth for it */
	bool stats_per_user;                 /* --stats-per-user: metrics by user */
	bool inetd;                          /* one session on fd 0, no listeners */
	/* --inetd on a UNIX socket (socat's socketpair) has no addresses of its
	 * own: the client's and the listener's as the program in front tells
	 * them (socat's SOCAT_PEERADDR/PORT, SOCAT_SOCKADDR/PORT); family 0: unknown */
	struct sockaddr_storage inetd_peer, inetd_local;
	int listen_fds;                      /* > 0: fds 3.. are listeners (LISTEN_FDS) */
	/* --transparent, --transparent-udp: "ADDR:PORT" as given (transparent.h) */
	const char *transparent[STP_MAX_TRANSPARENT];
	int ntransparent;
	const char *transparent_udp[STP_MAX_TRANSPARENT];
	int ntransparent_udp;
	struct stp_cfg_mem *mem;             /* owns the strings and rules a built cfg holds */
};

struct stp_server;

/* Reads and checks --client-config's document (clientcfg.h) into a malloc'd
 * buffer the caller frees after the server. Returns 0, or -1 with e (a
 * usage error naming the line and column). */
int stp_server_load_client_config(const char *path, char **doc, size_t *len,
				  struct stp_err *e);

/* Binds every listener and loads the users file. Returns NULL with e filled
 * (usage errors: code 2). */
struct stp_server *stp_server_new(const struct stp_server_cfg *cfg, struct stp_err *e);
/* The bound address of listener i (port 0 resolved), for "listening" lines;
 * *tls tells whether it is a TLS listener. */
const struct sockaddr *stp_server_listener(const struct stp_server *s, int i, bool *tls);
int stp_server_nlisteners(const struct stp_server *s);
/* What the "listening" line of listener i appends: "tls", "transparent",
 * "transparent-udp", or NULL. */
const char *stp_server_listener_tag(const struct stp_server *s, int i);
long stp_server_max_sessions(const struct stp_server *s);
/* Serves until SIGTERM/SIGINT and the drain; returns 0, or -1 with e. */
int stp_server_run(struct stp_server *s, struct stp_err *e);
/* The --stats endpoint's bound address, or NULL when there is none. */
const struct sockaddr *stp_server_stats_addr(const struct stp_server *s);
/* --inetd: whether the one session got a success reply (main exits 0). */
bool stp_server_inetd_ok(const struct stp_server *s);
void stp_server_free(struct stp_server *s);

#endif
