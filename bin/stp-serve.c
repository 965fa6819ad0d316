/* stp-serve - the SOCKS5/SOCKS4 proxy server (SPEC §3.6). Parses options
 * into one struct, checks them in one place, and runs libcommon's server. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "addr.h"
#include "die.h"
#include "opts.h"
#include "passwd.h"
#include "server.h"
#include "version.h"

static const char prog[] = "stp-serve";

enum {
	O_USERS = 256, O_HASH, O_RESOLVER, O_HS_TIMEOUT, O_IDLE_TIMEOUT, O_MAX_SESS,
	O_OPEN, O_LOG_FORMAT, O_DRAIN_TIMEOUT, O_BIND_TIMEOUT, O_CONNECT_TIMEOUT,
};

static const struct stp_optdef options[] = {
	{ 'l', "listen", "ADDR:PORT", "listen here (repeatable; default 127.0.0.1:1080; port 0 takes a free port)" },
	{ O_USERS, "users", "FILE", "require username/password; FILE holds user:HASH lines" },
	{ O_HASH, "hash-password", NULL, "read a password on stdin, print its hash for a users file, and exit" },
	{ O_RESOLVER, "resolver", "ADDR[:PORT]", "DNS server for target names (repeatable; default: the system's)" },
	{ O_HS_TIMEOUT, "handshake-timeout", "SECS", "close sessions that have not finished the handshake (default 10)" },
	{ O_CONNECT_TIMEOUT, "connect-timeout", "SECS", "limit for reaching a target (default 30)" },
	{ O_BIND_TIMEOUT, "bind-timeout", "SECS", "BIND: limit for the peer to connect (default 120)" },
	{ O_IDLE_TIMEOUT, "idle-timeout", "SECS", "close sessions idle this long (default 0: never)" },
	{ O_MAX_SESS, "max-sessions", "N", "most sessions at once (default 16384, lowered to the fd limit)" },
	{ O_OPEN, "open", NULL, "allow a non-loopback listener without authentication" },
	{ O_LOG_FORMAT, "log-format", "FORMAT", "session log lines as text or json (default text)" },
	{ O_DRAIN_TIMEOUT, "drain-timeout", "SECS", "on SIGTERM, wait this long for sessions to end (default 10)" },
	{ 'v', "verbose", NULL, "more diagnostics on stderr (repeatable)" },
	{ 'q', "quiet", NULL, "only errors on stderr" },
	{ 'h', "help", NULL, "show this help and exit" },
	{ 'V', "version", NULL, "show the version and exit" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS]";
static const char description[] =
	"The stp proxy server: SOCKS5 (RFC 1928, RFC 1929) and SOCKS4/4a on the same\n"
	"port. Runs in the foreground and logs one line per session on stderr.";

struct serve_opts {
	struct stp_server_cfg cfg;
	bool hash_password;
	bool max_sessions_given;
	int verbosity;
};

static void add_resolver(struct stp_server_cfg *c, const char *spec)
{
	char host[256], item[300];
	uint16_t port;
	struct stp_err e;
	struct stp_addr a;

	if (stp_hostport_split(spec, host, sizeof(host), &port, 53, false, &e) < 0)
		stp_die(prog, &e);
	if (stp_addr_from_host(&a, host, port) < 0 || a.atyp == STP_ATYP_NAME)
		stp_die_usage(prog, "--resolver needs a numeric address, not '%s'", spec);
	if (a.atyp == STP_ATYP_IPV6)
		snprintf(item, sizeof(item), "[%s]:%u", host, port);
	else
		snprintf(item, sizeof(item), "%s:%u", host, port);
	if (strlen(c->resolvers) + strlen(item) + 2 > sizeof(c->resolvers))
		stp_die_usage(prog, "too many --resolver options (at '%s')", spec);
	if (c->resolvers[0])
		strcat(c->resolvers, ",");
	strcat(c->resolvers, item);
}

static void parse_args(int argc, char **argv, struct serve_opts *o)
{
	struct stp_getopt g;
	struct stp_err e;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->cfg.handshake_timeout_ms = 10000;
	o->cfg.connect_timeout_ms = 30000;
	o->cfg.bind_timeout_ms = 120000;
	o->cfg.drain_timeout_ms = 10000;
	o->cfg.max_sessions = 16384;
	o->verbosity = STP_LOG_INFO;
	if (stp_getopt_init(&g, options) < 0)
		abort();
	opterr = 0;
	while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (o->cfg.nlisten == STP_MAX_LISTEN)
				stp_die_usage(prog, "at most 16 listeners (at '%s')", optarg);
			o->cfg.listen[o->cfg.nlisten++] = optarg;
			break;
		case O_USERS: o->cfg.users_file = optarg; break;
		case O_HASH: o->hash_password = true; break;
		case O_RESOLVER: add_resolver(&o->cfg, optarg); break;
		case O_HS_TIMEOUT:
			if (stp_parse_secs(optarg, 86400, &v, "--handshake-timeout", &e) < 0 || v == 0)
				stp_die_usage(prog, "--handshake-timeout: not a positive number of seconds: '%s'", optarg);
			o->cfg.handshake_timeout_ms = v;
			break;
		case O_CONNECT_TIMEOUT:
		case O_BIND_TIMEOUT:
			if (stp_parse_secs(optarg, 86400, &v, c == O_BIND_TIMEOUT ? "--bind-timeout"
					   : "--connect-timeout", &e) < 0 || v == 0)
				stp_die_usage(prog, "%s: not a positive number of seconds: '%s'",
					      c == O_BIND_TIMEOUT ? "--bind-timeout" : "--connect-timeout",
					      optarg);
			if (c == O_BIND_TIMEOUT)
				o->cfg.bind_timeout_ms = v;
			else
				o->cfg.connect_timeout_ms = v;
			break;
		case O_IDLE_TIMEOUT:
			if (stp_parse_secs(optarg, 86400 * 365, &v, "--idle-timeout", &e) < 0)
				stp_die(prog, &e);
			o->cfg.idle_timeout_ms = v;
			break;
		case O_DRAIN_TIMEOUT:
			if (stp_parse_secs(optarg, 86400, &v, "--drain-timeout", &e) < 0)
				stp_die(prog, &e);
			o->cfg.drain_timeout_ms = v;
			break;
		case O_MAX_SESS:
			if (stp_parse_long(optarg, 1, 1 << 22, &v, "--max-sessions", &e) < 0)
				stp_die(prog, &e);
			o->cfg.max_sessions = v;
			o->max_sessions_given = true;
			break;
		case O_OPEN: o->cfg.open = true; break;
		case O_LOG_FORMAT:
			if (strcmp(optarg, "json") == 0)
				o->cfg.log.json = true;
			else if (strcmp(optarg, "text") != 0)
				stp_die_usage(prog, "--log-format: expected text or json, not '%s'", optarg);
			break;
		case 'v': o->verbosity++; break;
		case 'q': o->verbosity = STP_LOG_ERR; break;
		case 'h':
			stp_usage(stdout, prog, synopsis, description, options);
			exit(0);
		case 'V':
			printf("%s %s\n", prog, STP_VERSION);
			exit(0);
		case ':':
			stp_die_usage(prog, "option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			stp_die_usage(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		stp_die_usage(prog, "unexpected argument '%s'", argv[optind]);
	if (o->cfg.nlisten == 0)
		o->cfg.listen[o->cfg.nlisten++] = "127.0.0.1:1080";
	o->cfg.log.f = stderr;
	o->cfg.log.prog = prog;
	o->cfg.log.level = o->verbosity;
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
		fprintf(stderr, "%s: --hash-password: no password on stdin\n", prog);
		return STP_EXIT_USAGE;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0 || n > 255) {
		OPENSSL_cleanse(pw, sizeof(pw));
		fprintf(stderr, "%s: --hash-password: a password is 1 to 255 bytes (RFC 1929)\n", prog);
		return STP_EXIT_USAGE;
	}
	int rc = stp_passwd_hash(pw, n, out, sizeof(out), &e);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc < 0)
		stp_die(prog, &e);
	printf("%s\n", out);
	return 0;
}

int main(int argc, char **argv)
{
	struct serve_opts o;
	struct stp_server *srv;
	struct stp_err e = { 0 };
	char host[STP_ADDRSTRLEN];

	parse_args(argc, argv, &o);
	if (o.hash_password)
		return hash_password();
	srv = stp_server_new(&o.cfg, &e);
	if (!srv)
		stp_die(prog, &e);
	for (int i = 0; i < stp_server_nlisteners(srv); i++) {
		const struct sockaddr *sa = stp_server_listener(srv, i);
		/* scripts and tests wait for exactly this line */
		fprintf(stderr, "listening %s %u\n", stp_sa_host(sa, host, sizeof(host)),
			stp_sa_port(sa));
	}
	fflush(stderr);
	if (o.max_sessions_given && o.cfg.max_sessions > stp_server_max_sessions(srv))
		stp_log(&o.cfg.log, STP_LOG_WARN, "--max-sessions lowered to %ld by the file-descriptor limit",
			stp_server_max_sessions(srv));
	int rc = stp_server_run(srv, &e);
	stp_server_free(srv);
	if (rc < 0)
		stp_die(prog, &e);
	return 0;
}
