/* stp-connect - one TCP stream through a proxy chain on stdin/stdout, or a
 * local port forward (SPEC §3.1). Parses options into one struct, checks
 * them in one place, and wires libcommon calls. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "client/client.h"
#include "cli/cli.h"
#include "client/clientopts.h"
#include "cli/die.h"
#include "core/msg.h"
#include "mux/muxmaster.h"
#include "proto/noproxy.h"
#include "core/opts.h"
#include "core/sock.h"
#include "client/stream.h"
#include "client/target.h"
#include "client/wrapagent.h"
#include "client/wrapexec.h"
#include "proto/url.h"
#include "proto/version.h"

static const char prog[] = "stp-connect";

enum { OPT_MUX = 256, OPT_MUX_FALLBACK, OPT_MUX_MASTER, OPT_WRAP };

static const struct stp_optdef own_options[] = {
	{ 'z', "check", NULL, "only check that the target can be reached, then exit" },
	{ 'L', "listen", "[ADDR:]PORT", "listen locally and forward each connection to HOST PORT" },
	{ OPT_MUX, "mux", "PATH", "send the stream through the mux master listening at PATH" },
	{ OPT_MUX_FALLBACK, "mux-fallback", NULL, "with --mux: if no master runs, go through the proxy directly" },
	{ OPT_MUX_MASTER, "mux-master", "PATH", "hold one MUX session to the proxy for --mux PATH clients" },
	{ OPT_WRAP, "wrap", "CMD", "run CMD [ARG...] with its TCP connections and names through the proxy" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] HOST PORT | HOST:PORT | --wrap CMD [ARG...]";
static const char description[] =
	"Opens a TCP stream to HOST PORT through the proxy (chain) and relays it on\n"
	"stdin/stdout; works as ssh's ProxyCommand.\n"
	"Without -x or --config, the proxy comes from STP_CONFIG, STP_PROXY,\n"
	"then all_proxy or ALL_PROXY; a password from STP_PASSWORD or --password-file.\n"
	"--gssapi uses the Kerberos ticket of KRB5CCNAME (realms from KRB5_CONFIG).\n"
	"NO_PROXY/no_proxy lists hosts reached directly.\n"
	"stp-connect --mux-master PATH [OPTIONS] (no HOST PORT) keeps one MUX session\n"
	"to the proxy and serves it as a SOCKS5 server without authentication on the\n"
	"Unix socket PATH (mode 0600); --mux PATH sends the stream through it.\n"
	"PORT may be a service name (ssh, https); HOST:PORT and [V6]:PORT may be\n"
	"given as one operand.\n"
	"--wrap CMD [ARG...] (the last option; what follows is CMD's) runs CMD with a\n"
	"preload library (LD_PRELOAD) that sends its TCP connections through the\n"
	"proxy and answers its name lookups with placeholder addresses, so that the\n"
	"proxy resolves the names; loopback and NO_PROXY targets go direct. The exit\n"
	"status is CMD's; a static or set-user-ID CMD cannot be wrapped (exit 7).";

struct connect_opts {
	struct stp_clientopts co;
	const char *listen;       /* -L */
	const char *mux;          /* --mux PATH */
	const char *mux_master;   /* --mux-master PATH */
	const char *host;
	char hostbuf[256];        /* HOST of the operands, without brackets */
	uint16_t port;
	bool check, direct;
	bool mux_fallback;        /* --mux-fallback */
	char **wrap;              /* --wrap CMD [ARG...]: argv from CMD on */
	struct stp_client mux_chain;  /* --mux: the one hop to the master */
};

/* The proxy chain from -x, --config or the environment (o->direct: host
 * is in NO_PROXY). Dies on a usage error. */
static void finish_chain(struct connect_opts *o)
{
	struct stp_err e;
	int r = stp_clientopts_finish(&o->co, o->host, &e);

	if (r < 0)
		stp_die(prog, &e);
	o->direct = r == 1;
}

/* --wrap's combinations, and its chain: finished now without --config
 * (a bad URL shows before CMD runs), or per target by the agent. */
static void check_wrap(struct connect_opts *o, int argc)
{
	struct stp_err e;

	if (!o->wrap[0])
		stp_die_usage(prog, "--wrap needs a command");
	if (o->check || o->listen || o->mux || o->mux_fallback || o->mux_master)
		stp_die_usage(prog, "--wrap does not go with %s", o->check ? "-z" : o->listen ? "-L" :
			      o->mux_master ? "--mux-master" : o->mux ? "--mux" : "--mux-fallback");
	if (argc != optind)
		stp_die_usage(prog, "--wrap takes no HOST PORT (the command follows it)");
	if (!o->co.config && !(getenv("STP_CONFIG") && *getenv("STP_CONFIG")) &&
	    stp_clientopts_finish(&o->co, NULL, &e) < 0)
		stp_die(prog, &e);
}

static void parse_args(int argc, char **argv, struct connect_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	int c;

	memset(o, 0, sizeof(*o));
	/* --wrap ends stp-connect's options: CMD's own follow (argv stays
	 * one array: CMD's part is left out of option parsing) */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (strcmp(argv[i], "--wrap") == 0) {
			o->wrap = argv + i + 1;
			argc = i;
			break;
		}
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 'z': o->check = true; break;
		case 'L': o->listen = optarg; break;
		case OPT_MUX: o->mux = optarg; break;
		case OPT_MUX_FALLBACK: o->mux_fallback = true; break;
		case OPT_MUX_MASTER: o->mux_master = optarg; break;
		case OPT_WRAP:   /* only as --wrap=CMD: --wrap itself ends the options */
			stp_die_usage(prog, "--wrap takes CMD as the next word: --wrap CMD [ARG...]");
		}
	}
	if (o->wrap) {
		check_wrap(o, argc);
		return;
	}
	if (o->mux_master) {
		if (o->check || o->listen || o->mux || o->mux_fallback)
			stp_die_usage(prog, "--mux-master does not go with %s", o->check ? "-z" :
				      o->listen ? "-L" : o->mux ? "--mux" : "--mux-fallback");
		if (argc != optind)
			stp_die_usage(prog, "--mux-master takes no HOST PORT");
		if (stp_clientopts_finish(&o->co, NULL, &e) < 0)
			stp_die(prog, &e);
		return;
	}
	if (o->mux_fallback && !o->mux)
		stp_die_usage(prog, "--mux-fallback needs --mux PATH");
	if (argc - optind < 1 || argc - optind > 2)
		stp_die_usage(prog, argc - optind < 1 ? "missing HOST and PORT" : "too many arguments");
	if (stp_target_parse(argc - optind, argv + optind, "tcp", o->hostbuf, sizeof(o->hostbuf),
			     &o->port, &e) < 0)
		stp_die(prog, &e);
	o->host = o->hostbuf;
	if (o->check && o->listen)
		stp_die_usage(prog, "-z and -L do not go together");
	/* the chain of -x etc.; with --mux only for --mux-fallback (checked
	 * now, so that a bad URL shows even while the master runs), and a
	 * running master needs no proxy configured here */
	if (!o->mux || o->mux_fallback)
		finish_chain(o);
	if (!o->mux)
		return;
	if (stp_client_unix(&o->mux_chain, &o->co.client, o->mux, &e) < 0)
		stp_die_usage(prog, "--mux %s", e.msg);
	if (o->co.user_arg)  /* unused without --mux-fallback: out of ps(1) too */
		OPENSSL_cleanse(o->co.user_arg, strlen(o->co.user_arg));
	if (!o->mux_fallback) {
		const char *np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
		o->direct = np && stp_noproxy_match(np, o->host);
	}
}

/* Opens the stream: through the mux master (--mux; with --mux-fallback
 * through the chain when no master runs), through the chain, or directly
 * for NO_PROXY hosts. */
static int open_stream(const struct connect_opts *o, struct stp_conn *conn, struct stp_err *e)
{
	if (o->direct)
		return stp_client_direct(&o->co.client, o->host, o->port, conn, e);
	if (o->mux) {
		int rc = stp_client_open_unix(&o->mux_chain, STP_CMD_CONNECT, o->host, o->port,
					      conn, e);
		if (rc != -2 || !o->mux_fallback)
			return rc < 0 ? -1 : 0;
		stp_log(&o->co.log, STP_LOG_DEBUG, "%s: going through the proxy directly", e->msg);
	}
	return stp_client_open(&o->co.client, STP_CMD_CONNECT, o->host, o->port, conn, e);
}

static int forward_open(void *arg, struct stp_conn *conn, struct stp_err *e)
{
	return open_stream(arg, conn, e);
}

static int run_listen(struct connect_opts *o)
{
	struct sockaddr_storage ss;
	struct stp_err e;
	int fd = stp_listen_local("-L", o->listen, SOCK_STREAM, &ss, &e);

	if (fd < 0)
		stp_die(prog, &e);
	stp_cli_event_sa(&o->co, "listening", (struct sockaddr *)&ss);
	if (stp_forward_serve(fd, forward_open, o, &o->co.log, &e) < 0)
		stp_die(prog, &e);
	return 0;
}

/* --wrap: starts the agent, then becomes CMD. Returns only on failure. */
static int run_wrap(struct connect_opts *o)
{
	char path[4096], lib[4096];
	struct stp_wrap_agent a;
	struct stp_err e = { 0, "" };
	bool per_target = o->co.config || (getenv("STP_CONFIG") && *getenv("STP_CONFIG"));

	if (stp_wrap_find(o->wrap[0], path, sizeof(path), &e) < 0 ||
	    stp_wrap_check(path, &e) < 0 || stp_wrap_lib(lib, sizeof(lib), &e) < 0 ||
	    stp_wrap_agent_start(&o->co, per_target, getpid(), &a, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o->co);   /* the agent holds the chain */
	stp_wrap_exec(path, o->wrap, lib, &a, o->co.client.timeout_ms, &e);
	OPENSSL_cleanse(a.token, sizeof(a.token));
	stp_die(prog, &e);
}

int main(int argc, char **argv)
{
	struct connect_opts o;
	struct stp_conn conn;
	struct stp_err e = { 0, "" };

	parse_args(argc, argv, &o);
	if (o.wrap)
		return run_wrap(&o);
	if (o.mux_master) {
		int rc = stp_mux_master_run(&o.co, o.mux_master, &e);
		stp_clientopts_wipe(&o.co);
		if (rc < 0)
			stp_die(prog, &e);
		return 0;
	}
	if (o.listen)
		return run_listen(&o);
	if (open_stream(&o, &conn, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o.co);
	if (o.check) {
		stp_conn_close(&conn);
		return 0;
	}
	if (stp_stream_run(0, 1, &conn, &e) < 0)
		stp_die(prog, &e);
	return 0;
}
