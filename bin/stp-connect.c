/* stp-connect - one TCP stream through a proxy chain on stdin/stdout, or a
 * local port forward (SPEC §3.1). Parses options into one struct, checks
 * them in one place, and wires libcommon calls. */
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "msg.h"
#include "noproxy.h"
#include "opts.h"
#include "sock.h"
#include "stream.h"
#include "url.h"
#include "version.h"

static const char prog[] = "stp-connect";

enum { O_PASSWORD_FILE = 256, O_JSON };

static const struct stp_optdef options[] = {
	{ 'x', "proxy", "URL", "the proxy (repeat to chain; the first is contacted first)" },
	{ 'U', "proxy-user", "USER[:PASS]", "credentials for the last hop without credentials in its URL" },
	{ O_PASSWORD_FILE, "password-file", "FILE", "read the proxy password from the first line of FILE" },
	{ '4', "ipv4", NULL, "resolve names the client resolves to IPv4 only" },
	{ '6', "ipv6", NULL, "resolve names the client resolves to IPv6 only" },
	{ 'w', "timeout", "SECS", "limit for reaching the proxy, the handshake and the target (default 30)" },
	{ 'z', "check", NULL, "only check that the target can be reached, then exit" },
	{ 'L', "listen", "[ADDR:]PORT", "listen locally and forward each connection to HOST PORT" },
	{ O_JSON, "json", NULL, "events on stderr as JSON lines" },
	{ 'v', "verbose", NULL, "more diagnostics on stderr (repeatable)" },
	{ 'q', "quiet", NULL, "only errors on stderr" },
	{ 'h', "help", NULL, "show this help and exit" },
	{ 'V', "version", NULL, "show the version and exit" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] HOST PORT";
static const char description[] =
	"Opens a TCP stream to HOST PORT through the proxy (chain) and relays it on\n"
	"stdin/stdout; works as ssh's ProxyCommand. Without -x the proxy comes from\n"
	"STP_PROXY, then ALL_PROXY/all_proxy; NO_PROXY/no_proxy lists hosts reached\n"
	"directly. The password may come from STP_PASSWORD or --password-file.";

struct connect_opts {
	struct stp_client client;
	const char *urls[STP_MAX_HOPS];
	int nurls;
	char *user_arg;           /* -U, scrubbed from argv after copying */
	const char *password_file;
	const char *listen;       /* -L */
	const char *host;
	uint16_t port;
	bool check, json, direct;
	struct stp_log log;
};

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "; try '%s --help'\n", prog);
	exit(STP_EXIT_USAGE);
}

static void die(const struct stp_err *e)
{
	if (e->code == STP_EXIT_USAGE)
		fprintf(stderr, "%s: %s; try '%s --help'\n", prog, e->msg, prog);
	else
		fprintf(stderr, "%s: %s\n", prog, e->msg);
	exit(e->code ? e->code : STP_EXIT_FAIL);
}

/* Reads the first line of path into buf. Exits on failure. */
static void read_password_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "%s: --password-file %s: %s\n", prog, path, strerror(errno));
		exit(STP_EXIT_USAGE);
	}
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
}

/* Gives -U's credentials to the last hop without its own, with the
 * password from -U, STP_PASSWORD or --password-file, in that order. */
static void apply_credentials(struct connect_opts *o)
{
	struct stp_proxy *p = NULL;
	char pass[256] = "";
	const char *colon;
	size_t ul;

	if (!o->user_arg)
		return;
	for (int i = o->client.nhops - 1; i >= 0 && !p; i--)
		if (!o->client.hops[i].has_user)
			p = &o->client.hops[i];
	if (!p)
		usage_error("-U: every proxy URL already has credentials%s", "");
	colon = strchr(o->user_arg, ':');
	ul = colon ? (size_t)(colon - o->user_arg) : strlen(o->user_arg);
	if (ul == 0 || ul > 255)
		usage_error("-U: a user name is 1 to 255 bytes%s", "");
	memcpy(p->user, o->user_arg, ul);
	p->user[ul] = '\0';
	if (colon)
		snprintf(pass, sizeof(pass), "%s", colon + 1);
	else if (getenv("STP_PASSWORD"))
		snprintf(pass, sizeof(pass), "%s", getenv("STP_PASSWORD"));
	else if (o->password_file)
		read_password_file(o->password_file, pass, sizeof(pass));
	else
		usage_error("-U %s: no password (give USER:PASS, STP_PASSWORD or --password-file)",
			    p->user);
	if (!pass[0] || strlen(pass) > 255)
		usage_error("-U %s: a password is 1 to 255 bytes", p->user);
	memcpy(p->pass, pass, strlen(pass) + 1);
	OPENSSL_cleanse(pass, sizeof(pass));
	p->has_user = p->has_pass = true;
	/* keep the password out of ps(1) */
	OPENSSL_cleanse(o->user_arg, strlen(o->user_arg));
}

static void parse_args(int argc, char **argv, struct connect_opts *o)
{
	struct stp_getopt g;
	struct stp_err e;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->client.family = AF_UNSPEC;
	o->client.timeout_ms = 30000;
	o->log = (struct stp_log){ stderr, prog, STP_LOG_INFO, false };
	if (stp_getopt_init(&g, options) < 0)
		abort();
	opterr = 0;
	while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
		switch (c) {
		case 'x':
			if (o->nurls == STP_MAX_HOPS)
				usage_error("at most 8 proxies (at '%s')", optarg);
			o->urls[o->nurls++] = optarg;
			break;
		case 'U': o->user_arg = optarg; break;
		case O_PASSWORD_FILE: o->password_file = optarg; break;
		case '4': o->client.family = AF_INET; break;
		case '6': o->client.family = AF_INET6; break;
		case 'w':
			if (stp_parse_secs(optarg, 86400, &v, "-w", &e) < 0 || v == 0)
				usage_error("-w: not a positive number of seconds: '%s'", optarg);
			o->client.timeout_ms = v;
			break;
		case 'z': o->check = true; break;
		case 'L': o->listen = optarg; break;
		case O_JSON: o->json = true; break;
		case 'v': o->log.level++; break;
		case 'q': o->log.level = STP_LOG_ERR; break;
		case 'h':
			stp_usage(stdout, prog, synopsis, description, options);
			exit(0);
		case 'V':
			printf("%s %s\n", prog, STP_VERSION);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		usage_error(argc - optind < 2 ? "missing HOST and PORT%s" : "too many arguments%s", "");
	o->host = argv[optind];
	if (stp_port_parse(argv[optind + 1], &o->port) < 0 || o->port == 0)
		usage_error("bad port '%s'", argv[optind + 1]);
	if (o->check && o->listen)
		usage_error("-z and -L do not go together%s", "");

	/* the proxy: -x, else the environment (curl's convention) */
	const char *env = NULL;
	if (o->nurls == 0) {
		const char *names[] = { "STP_PROXY", "ALL_PROXY", "all_proxy" };
		for (size_t i = 0; i < 3 && !env; i++)
			if (getenv(names[i]) && *getenv(names[i]))
				env = getenv(names[i]);
		if (env)
			o->urls[o->nurls++] = env;
	}
	const char *np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
	if (np && stp_noproxy_match(np, o->host))
		o->direct = true;
	if (o->nurls == 0 && !o->direct)
		usage_error("no proxy: give -x URL, or set STP_PROXY or ALL_PROXY%s", "");
	for (int i = 0; i < o->nurls; i++) {
		if (stp_url_parse(o->urls[i], &o->client.hops[i], &e) < 0) {
			fprintf(stderr, "%s: %s%s: %s; try '%s --help'\n", prog,
				o->urls[i] == env ? "proxy from the environment" : "-x",
				"", e.msg, prog);
			exit(STP_EXIT_USAGE);
		}
	}
	o->client.nhops = o->nurls;
	apply_credentials(o);
}

static void event(const struct connect_opts *o, const char *name, const struct sockaddr *sa)
{
	char host[STP_ADDRSTRLEN];

	stp_sa_host(sa, host, sizeof(host));
	if (o->json)
		fprintf(stderr, "{\"event\":\"%s\",\"addr\":\"%s\",\"port\":%u}\n", name, host,
			stp_sa_port(sa));
	else
		fprintf(stderr, "%s %s %u\n", name, host, stp_sa_port(sa));
	fflush(stderr);
}

/* Opens the stream: through the chain, or directly for NO_PROXY hosts. */
static int open_stream(const struct connect_opts *o, struct stp_conn *conn, struct stp_err *e)
{
	if (o->direct)
		return stp_client_direct(&o->client, o->host, o->port, conn, e);
	return stp_client_open(&o->client, STP_CMD_CONNECT, o->host, o->port, conn, e);
}

static int forward_open(void *arg, uint8_t *early, size_t *nearly, struct stp_err *e)
{
	const struct connect_opts *o = arg;
	struct stp_conn conn;

	if (open_stream(o, &conn, e) < 0)
		return -1;
	memcpy(early, conn.early, conn.nearly);
	*nearly = conn.nearly;
	return conn.fd;
}

static int run_listen(struct connect_opts *o)
{
	char host[256];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stp_err e;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char portstr[8];
	int fd, rc;

	if (stp_hostport_split(o->listen, host, sizeof(host), &port, -1, true, &e) < 0) {
		fprintf(stderr, "%s: -L: %s; try '%s --help'\n", prog, e.msg, prog);
		return STP_EXIT_USAGE;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host[0] ? host : "127.0.0.1", portstr, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "%s: -L %s: %s; try '%s --help'\n", prog, o->listen,
			gai_strerror(rc), prog);
		return STP_EXIT_USAGE;
	}
	fd = stp_listen_sa(ai->ai_addr, ai->ai_addrlen, 128, &e);
	freeaddrinfo(ai);
	if (fd < 0)
		die(&e);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "%s: getsockname: %s\n", prog, strerror(errno));
		return STP_EXIT_FAIL;
	}
	event(o, "listening", (struct sockaddr *)&ss);
	if (stp_forward_serve(fd, forward_open, o, &o->log, &e) < 0)
		die(&e);
	return 0;
}

int main(int argc, char **argv)
{
	struct connect_opts o;
	struct stp_conn conn;
	struct stp_err e = { 0, "" };

	parse_args(argc, argv, &o);
	if (o.listen)
		return run_listen(&o);
	if (open_stream(&o, &conn, &e) < 0)
		die(&e);
	for (int i = 0; i < o.client.nhops; i++)
		stp_proxy_wipe(&o.client.hops[i]);
	if (o.check) {
		close(conn.fd);
		return 0;
	}
	if (stp_stream_run(0, 1, conn.fd, conn.early, conn.nearly, &e) < 0)
		die(&e);
	return 0;
}
