/* stp-serve - the SOCKS5/SOCKS4 proxy server (SPEC §3.6). Parses options
 * into one struct, checks them in one place, and runs libcommon's server. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/activate.h"
#include "core/event.h"
#include "proto/addr.h"
#include "server/config.h"
#include "cli/cli.h"
#include "cli/die.h"
#include "proto/url.h"
#include "server/policy/passwd.h"
#include "server/policy/ratelimit.h"
#include "server/server.h"

static const char prog[] = "stp-serve";

enum {
	O_USERS = 256, O_HASH, O_RESOLVER, O_HS_TIMEOUT, O_IDLE_TIMEOUT, O_MAX_SESS,
	O_OPEN, O_LOG_FORMAT, O_DRAIN_TIMEOUT, O_BIND_TIMEOUT, O_CONNECT_TIMEOUT,
	O_TLS_LISTEN = 0x100 + 64, O_CERT, O_KEY, O_CLIENT_CA,
	O_CLIENT_CONFIG = 0x100 + 96,
	O_RULES = 0x100 + 128, O_AUTH_URL, O_AUTH_CACHE, O_AUTH_NEG_CACHE, O_AUTH_TIMEOUT,
	O_PER_CLIENT, O_BANDWIDTH, O_USER_BANDWIDTH, O_USER,
	O_MCAST_IFACE = 0x100 + 160, O_MCAST_MAX_TTL, O_MCAST_ALLOW,
	O_STATS = 0x100 + 192, O_INETD, O_WORKERS, O_STATS_USERS, O_STATS_PER_USER,
	O_UPSTREAM = 0x100 + 224, O_UPSTREAM_CACERT, O_UPSTREAM_MUX, O_UPSTREAM_LOCAL,
	O_UPSTREAM_CHAIN, O_UPSTREAM_STRATEGY,
	O_UDP_ANY_SENDER = 0x100 + 256,
	O_PROXY_PROTOCOL = 0x100 + 288,
	O_LOGIN_FAILURES = 0x100 + 320,
	O_KEEPALIVE = 0x100 + 352, O_BIND_PORTS,
	O_NO_HTTP = 0x100 + 384,
	O_ADVERTISE = 0x100 + 416, O_UDP_PORTS, O_EGRESS, O_EGRESS_IFACE, O_ATTACH_AT,
	O_TRANSPARENT = 0x100 + 448, O_TRANSPARENT_UDP,
	O_GSS_KEYTAB = 0x100 + 512, O_GSS_SERVICE, O_GSS_PROTECTION,
};

/* A number macro as a string literal, for --help. */
#define STR_(x) #x
#define STR(x) STR_(x)

static const struct stp_optdef options[] = {
	{ 'c', "config", "FILE", "JSON configuration file (reloaded on SIGHUP); options given here override it" },
	{ 'l', "listen", "ADDR:PORT", "listen here (repeatable; default 127.0.0.1:1080; port 0 takes a free port)" },
	{ O_TLS_LISTEN, "tls-listen", "ADDR:PORT", "listen here with TLS from the first byte (repeatable; needs --cert, --key)" },
	{ O_TRANSPARENT, "transparent", "ADDR:PORT", "take TCP connections the kernel redirected here (nftables redirect or tproxy) to their original targets (one per family)" },
	{ O_TRANSPARENT_UDP, "transparent-udp", "ADDR:PORT", "the same for UDP datagrams redirected by tproxy (needs CAP_NET_ADMIN; one per family)" },
	{ O_CERT, "cert", "FILE", "the TLS listeners' certificate chain (PEM)" },
	{ O_KEY, "key", "FILE", "its private key (PEM)" },
	{ O_CLIENT_CA, "client-ca", "FILE", "TLS listeners require a client certificate signed by this CA" },
	{ O_USERS, "users", "FILE", "require username/password; FILE holds user:HASH lines" },
	{ O_AUTH_URL, "auth-url", "URL", "check credentials with an HTTP POST to this authentication server" },
	{ O_GSS_KEYTAB, "gssapi-keytab", "FILE", "require authentication; offer GSS-API (RFC 1961, Kerberos) with the keys of FILE" },
	{ O_GSS_SERVICE, "gssapi-service", "NAME", "accept tickets for NAME/HOST@REALM principals of the keytab (default rcmd)" },
	{ O_GSS_PROTECTION, "gssapi-protection", "LEVEL", "the least GSS-API protection granted: none (default), integrity or confidentiality" },
	{ O_AUTH_CACHE, "auth-cache", "SECS", "remember the auth URL's yes for this long (default 60)" },
	{ O_AUTH_NEG_CACHE, "auth-negative-cache", "SECS", "remember its no for this long (default 10)" },
	{ O_AUTH_TIMEOUT, "auth-timeout", "SECS", "limit for the auth URL's answer, then: denied (default 5)" },
	{ O_RULES, "rules", "JSON", "access rules, a JSON array of rule objects (repeatable; first match wins)" },
	{ O_HASH, "hash-password", NULL, "read a password on stdin, print its hash for a users file, and exit" },
	{ O_RESOLVER, "resolver", "ADDR[:PORT]", "DNS server for target names (repeatable; default: the system's)" },
	{ O_HS_TIMEOUT, "handshake-timeout", "SECS", "close sessions that have not finished the handshake (default 10)" },
	{ O_CONNECT_TIMEOUT, "connect-timeout", "SECS", "limit for reaching a target (default 30)" },
	{ O_UPSTREAM, "upstream", "URL", "reach targets through this proxy (repeatable: a chain, in order; socks5h://, socks5hs://, ...)" },
	{ O_UPSTREAM_CACERT, "upstream-cacert", "FILE", "verify TLS upstreams with these CA certificates (default: the system's)" },
	{ O_UPSTREAM_MUX, "upstream-mux", NULL, "carry the upstream connections as streams of one MUX session to the first --upstream" },
	{ O_UPSTREAM_LOCAL, "upstream-local", "LIST", "with --upstream, carry out these commands here: udp,bind,dns (default: none; what the upstream cannot carry is refused)" },
	{ O_UPSTREAM_CHAIN, "upstream-chain", "URL[,URL...]", "an alternative upstream chain, hops in order (repeatable); chains are health-checked every second" },
	{ O_UPSTREAM_STRATEGY, "upstream-strategy", "STRATEGY", "how a session's chain is chosen among those up: failover (default), round-robin, hash-user" },
	{ O_BIND_TIMEOUT, "bind-timeout", "SECS", "BIND: limit for the peer to connect (default 120)" },
	{ O_BIND_PORTS, "bind-ports", "MIN-MAX", "BIND: the ports a client may ask for (default 1024-65535; none: no hints)" },
	{ O_UDP_PORTS, "udp-ports", "MIN-MAX", "UDP relays and UDP_BIND listen on ports of this range (default: any port)" },
	{ O_ADVERTISE, "advertise", "ADDR", "behind NAT: name ADDR, not the local address, in BIND, UDP and MCAST replies (one per family)" },
	{ O_EGRESS, "egress", "ADDR", "send connections and datagrams to targets from ADDR (one per family; a rule's \"egress\" first)" },
	{ O_EGRESS_IFACE, "egress-interface", "IFACE", "send to targets through interface IFACE only (SO_BINDTODEVICE)" },
	{ O_KEEPALIVE, "keepalive", "SECS", "TCP keepalive on client and target connections: probe after SECS idle (default 0: off)" },
	{ O_IDLE_TIMEOUT, "idle-timeout", "SECS", "close sessions idle this long (default 0: never)" },
	{ O_MAX_SESS, "max-sessions", "N", "most sessions at once (default " STR(STP_MAX_SESSIONS_DEFAULT) ", lowered to the fd limit)" },
	{ O_PER_CLIENT, "max-sessions-per-client", "N", "most sessions at once from one client address (default 0: no limit)" },
	{ O_LOGIN_FAILURES, "login-failures", "N", "failed logins from one address within 60 s that block its logins for 60 s (default " STR(STP_LOGIN_FAIL_MAX) "; 0: never)" },
	{ O_BANDWIDTH, "bandwidth", "RATE", "bytes per second each way per session, as 200000, 200k or 1.5M" },
	{ O_USER_BANDWIDTH, "user-bandwidth", "RATE", "bytes per second each way for all sessions of one user" },
	{ O_OPEN, "open", NULL, "allow a non-loopback listener without authentication or rules" },
	{ O_NO_HTTP, "no-http", NULL, "serve SOCKS only: no HTTP proxy requests on the listeners" },
	{ O_UDP_ANY_SENDER, "udp-any-sender", NULL, "UDP ASSOCIATE: accept datagrams from the host DST names, not only the client's" },
	{ O_PROXY_PROTOCOL, "proxy-protocol", "CIDR", "connections from CIDR (a load balancer) must start with a PROXY header (v1 or v2) naming the client (repeatable)" },
	{ O_ATTACH_AT, "attach-at", "HOST:PORT", "several instances behind one address: BIND_MULTI notices tell clients to ATTACH here, at this instance" },
	{ O_USER, "user", "NAME", "drop privileges to this user once the listeners are bound" },
	{ O_WORKERS, "workers", "N", "serve with N processes (1..64, or auto: one per CPU; default 1); limits are per process" },
	{ O_MCAST_IFACE, "mcast-iface", "NAME", "MCAST: join groups and send on this interface (default: the system's choice)" },
	{ O_MCAST_MAX_TTL, "mcast-max-ttl", "N", "MCAST: cap the TTL clients ask for at N (default 1)" },
	{ O_MCAST_ALLOW, "mcast-allow", "CIDR[:PORTS][/MODE]", "MCAST: allow only listed groups, MODE recv, send or both (repeatable)" },
	{ O_CLIENT_CONFIG, "client-config", "FILE", "hand this client configuration (JSON) to clients asking with CONFIG" },
	{ O_LOG_FORMAT, "log-format", "FORMAT", "session log lines as text or json (default text)" },
	{ O_DRAIN_TIMEOUT, "drain-timeout", "SECS", "on SIGTERM, wait this long for sessions to end (default 10)" },
	{ O_STATS, "stats", "ADDR:PORT", "serve a status page at http://ADDR:PORT/ and counters at /metrics (Prometheus text format)" },
	{ O_STATS_USERS, "stats-users", "FILE", "--stats requires Basic auth by the user:HASH lines of FILE (needed off loopback, unless --open)" },
	{ O_STATS_PER_USER, "stats-per-user", NULL, "--stats: metrics per user as well (one series per user)" },
	{ O_INETD, "inetd", NULL, "serve one session on stdin/stdout (inetd, socat, systemd Accept=yes), then exit" },
	{ 'v', "verbose", NULL, "more diagnostics on stderr (repeatable)" },
	{ 'q', "quiet", NULL, "only errors on stderr" },
	STP_OPT_END  /* then -h and -V, from the shared loop (cli.h) */
};

static const char synopsis[] = "[OPTIONS]";
static const char description[] =
	"The stp proxy server: SOCKS5 (RFC 1928, RFC 1929), SOCKS4/4a and HTTP/1.1\n"
	"proxy requests (CONNECT, absolute-form) on the same port. Runs in the\n"
	"foreground and logs one line per session on stderr. With --gssapi-keytab,\n"
	"the Kerberos library reads KRB5_CONFIG and KRB5RCACHEDIR.";

struct serve_opts {
	struct stp_server_cfg cfg;
	struct stp_cfg_args args;    /* the configuration options, in order */
	const char *config_file;     /* -c */
	bool hash_password;
	bool inetd;                  /* --inetd */
};

/* The long name of option key c. */
static const char *opt_name(int c)
{
	for (const struct stp_optdef *d = options; d->name; d++)
		if (d->key == c)
			return d->name;
	return "?";
}

/* Takes the passwords of each URL of a chain "URL,URL..." out of argv. */
static void scrub_chain(char *list)
{
	for (char *u = list; u;) {
		char *comma = strchr(u, ',');
		if (comma)
			*comma = '\0';
		stp_url_scrub(u);
		if (!comma)
			break;
		/* the scrubbed URL may be shorter: close the gap */
		size_t n = strlen(u);
		memmove(u + n + 1, comma + 1, strlen(comma + 1) + 1);
		u[n] = ',';
		u += n + 1;
	}
}

static void parse_args(int argc, char **argv, struct serve_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init_plain(&cli, prog, synopsis, description, options);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 'c': o->config_file = optarg; break;
		case O_HASH: o->hash_password = true; break;
		case O_INETD: o->inetd = true; break;
		default:
			/* everything else is a configuration key (config.h); the
			 * value is copied, so a password can leave argv */
			if (stp_cfg_args_add(&o->args, opt_name(c), optarg, &e) < 0)
				stp_die(prog, &e);
			if (c == O_AUTH_URL || c == O_UPSTREAM)
				stp_url_scrub(optarg);
			if (c == O_UPSTREAM_CHAIN)
				scrub_chain(optarg);
		}
	}
	if (optind < argc)
		stp_die_usage(prog, "unexpected argument '%s'", argv[optind]);
}

/* Checks the combinations, wherever the values came from. */
static void check_cfg(const struct stp_server_cfg *c)
{
	bool any_tls = false;

	for (int i = 0; i < c->nlisten; i++)
		any_tls |= c->listen_tls[i];
	if (any_tls && (!c->tls_cert || !c->tls_key))
		stp_die_usage(prog, "--tls-listen needs --cert FILE and --key FILE");
	if (!any_tls && (c->tls_cert || c->tls_key || c->tls_client_ca))
		stp_die_usage(prog, "--cert, --key and --client-ca are for --tls-listen");
	if (c->upstream_mux && c->nupstream == 0)
		stp_die_usage(prog, "--upstream-mux needs --upstream URL");
	if (c->upstream_mux && c->nchains > 0)
		stp_die_usage(prog, "--upstream-mux is for one --upstream chain, not --upstream-chain");
	if (c->upstream_local && c->nupstream == 0 && c->nchains == 0)
		stp_die_usage(prog, "--upstream-local needs --upstream URL");
	if ((c->stats_users || c->stats_per_user) && !c->stats_listen && !c->inetd)
		stp_die_usage(prog, "--stats-users and --stats-per-user are for --stats ADDR:PORT");
}

/* The numeric address in environment variables addr and port, into *out;
 * left as it is (family 0) when they are not both there and valid. */
static void env_addr(const char *addr, const char *port, struct sockaddr_storage *out)
{
	const char *a = getenv(addr), *p = getenv(port);
	uint16_t n;
	socklen_t len;

	if (a && p && stp_port_parse(p, &n) == 0 && stp_sa_from_numeric(out, &len, a, n) < 0)
		memset(out, 0, sizeof(*out));
}

/* --inetd, or systemd socket activation (LISTEN_PID, LISTEN_FDS): where
 * the sockets come from. The variables are removed either way, so that
 * nothing started later inherits them. */
static void activation(struct serve_opts *o)
{
	int n = stp_listen_fds(true);

	o->cfg.inetd = o->inetd;
	if (o->inetd) {
		int which = stp_inetd_stdio();
		if (which < 0) {
			struct stp_err e;
			stp_err_set(&e, STP_EXIT_FAIL, "--inetd: /dev/null: %s", strerror(errno));
			stp_die(prog, &e);
		}
		if (which & 2)
			o->cfg.log.f = NULL;  /* stderr is the client: no log */
		/* one process per connection: no listeners, no --stats port */
		o->cfg.stats_listen = NULL;
		/* behind socat, stdin is a socketpair: socat names both ends */
		env_addr("SOCAT_PEERADDR", "SOCAT_PEERPORT", &o->cfg.inetd_peer);
		env_addr("SOCAT_SOCKADDR", "SOCAT_SOCKPORT", &o->cfg.inetd_local);
		return;  /* systemd's Accept=yes sets LISTEN_FDS too: stdin it is */
	}
	if (n < 0) {
		struct stp_err e;
		stp_err_set(&e, STP_EXIT_USAGE, "LISTEN_FDS: not a number of sockets");
		stp_die(prog, &e);
	}
	if (n == 0)
		return;
	o->cfg.listen_fds = n;  /* with --workers, shared by every worker */
	for (size_t i = 0; i < o->args.n; i++)
		if (strcmp(o->args.v[i].key, "listen") == 0 ||
		    strcmp(o->args.v[i].key, "tls-listen") == 0) {
			stp_log(&o->cfg.log, STP_LOG_DEBUG,
				"socket activation: %d inherited listeners; --%s ignored", n,
				o->args.v[i].key);
			break;
		}
}

/* --hash-password: one line from stdin (no echo on a terminal) to one hash. */
static int hash_password(void)
{
	char pw[1024], out[STP_HASH_MAX];
	struct termios old, quiet;
	bool tty = isatty(0) && tcgetattr(0, &old) == 0;
	struct stp_err e;
	size_t n;

	if (tty) {
		fprintf(stderr, "password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	char *got = fgets(pw, sizeof(pw), stdin);
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!got) {
		stp_warn(prog, "--hash-password: no password on stdin");
		return STP_EXIT_USAGE;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0 || n > 255) {
		OPENSSL_cleanse(pw, sizeof(pw));
		stp_warn(prog, "--hash-password: a password is 1 to 255 bytes (RFC 1929)");
		return STP_EXIT_USAGE;
	}
	int rc = stp_passwd_hash(pw, n, out, sizeof(out), &e);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc < 0)
		stp_die(prog, &e);
	printf("%s\n", out);
	return 0;
}

/* The line scripts wait for: "listening ADDR PORT[ TAG]". */
static void announce(const struct sockaddr *sa, const char *tag)
{
	char host[STP_ADDRSTRLEN];
	struct stp_event_field v[] = {
		{ "addr", stp_sa_host(sa, host, sizeof(host)), 0 },
		{ "port", NULL, stp_sa_port(sa) },
		{ "tag", tag, 0 },
	};

	stp_event_print(stderr, false, "listening", v, tag ? 3 : 2);
}

int main(int argc, char **argv)
{
	struct serve_opts o;
	struct stp_server *srv;
	struct stp_err e = { 0 };

	parse_args(argc, argv, &o);
	if (o.hash_password)
		return hash_password();
	if (stp_cfg_build(&o.cfg, o.config_file, &o.args, &e) < 0)
		stp_die(prog, &e);
	check_cfg(&o.cfg);
	o.cfg.log.f = stderr;
	o.cfg.log.prog = prog;
	activation(&o);
	if (o.cfg.inetd && o.cfg.workers > 1) {
		/* one session on stdin: one process (the file's key is ignored) */
		for (size_t i = 0; i < o.args.n; i++)
			if (strcmp(o.args.v[i].key, "workers") == 0)
				stp_die_usage(prog, "--workers is for listeners, not --inetd");
		o.cfg.workers = 1;
	}
	char *client_config = NULL;
	if (o.cfg.client_config_file &&
	    stp_server_load_client_config(o.cfg.client_config_file, &client_config,
					  &o.cfg.client_config_len, &e) < 0)
		stp_die(prog, &e);
	o.cfg.client_config = client_config;
	srv = stp_server_new(&o.cfg, &e);
	if (!srv)
		stp_die(prog, &e);
	for (int i = 0; i < stp_server_nlisteners(srv); i++) {
		bool tls;
		const struct sockaddr *sa = stp_server_listener(srv, i, &tls);
		/* scripts and tests wait for exactly this line */
		announce(sa, stp_server_listener_tag(srv, i));
	}
	const struct sockaddr *st = stp_server_stats_addr(srv);
	if (st)
		announce(st, "stats");
	if (o.cfg.max_sessions != STP_MAX_SESSIONS_DEFAULT && o.cfg.max_sessions > stp_server_max_sessions(srv))
		stp_log(&o.cfg.log, STP_LOG_WARN, "--max-sessions lowered to %ld by the file-descriptor limit",
			stp_server_max_sessions(srv));
	int rc = stp_server_run(srv, &e);
	bool inetd_ok = stp_server_inetd_ok(srv);
	stp_server_free(srv);  /* and the configuration with it */
	free(client_config);
	stp_cfg_args_free(&o.args);
	if (rc < 0)
		stp_die(prog, &e);
	return o.inetd && !inetd_ok ? STP_EXIT_FAIL : 0;
}
