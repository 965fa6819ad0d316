/* stp-bind - receive incoming TCP connections on the proxy (BIND), or any
 * number of them (BIND_MULTI, -k): relayed on stdin/stdout, to a local
 * service (-F, a reverse tunnel), or to a command per connection (-e)
 * (SPEC §3.2). Parses options into one struct and wires libcommon calls. */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "client/bindc.h"
#include "cli/cli.h"
#include "client/clientopts.h"
#include "cli/die.h"
#include "client/stream.h"
#include "proto/version.h"

static const char prog[] = "stp-bind";

enum { O_ADDR_FILE = 256 };

static const struct stp_optdef own_options[] = {
	{ 'p', "port", "PORT", "ask the proxy to listen on PORT (default: any free port)" },
	{ 'k', "keep", NULL, "keep listening: accept any number of connections (STP BIND_MULTI)" },
	{ 'F', "forward", "HOST:PORT", "relay each accepted connection to this local service" },
	{ 'e', "exec", "CMD", "run CMD with /bin/sh -c per connection, its stdin/stdout on it" },
	{ O_ADDR_FILE, "addr-file", "FILE", "write 'ADDR PORT' of the bound address to FILE, atomically" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] [PEER [PORT]]";
static const char description[] =
	"Asks the proxy to listen for an incoming connection (BIND; PEER is the\n"
	"expected peer, default any) and prints 'bound ADDR PORT' on stderr once it\n"
	"has, then 'accepted ADDR PORT' per connection, and relays stdin/stdout.\n"
	"With -k it keeps listening: each connection goes to -F or -e, or, without\n"
	"either, to stdin/stdout one after another.\n"
	"Without -x or --config, the proxy comes from STP_CONFIG, STP_PROXY,\n"
	"then all_proxy or ALL_PROXY; a password from STP_PASSWORD or --password-file.\n"
	"--gssapi uses the Kerberos ticket of KRB5CCNAME (realms from KRB5_CONFIG).\n"
	"NO_PROXY/no_proxy does not apply: a BIND always asks the proxy.";

struct bind_opts {
	struct stp_clientopts co;
	bool keep;
	const char *forward;     /* -F HOST:PORT */
	char fwd_host[256];
	uint16_t fwd_port;
	const char *exec;        /* -e CMD */
	const char *addr_file;
	const char *peer;
	uint16_t peer_port;
	uint16_t port;           /* -p: the port asked for on the proxy */
};

static void parse_args(int argc, char **argv, struct bind_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 'p':
			if (stp_port_parse(optarg, &o->port) < 0 || o->port == 0)
				stp_die_usage(prog, "-p: bad port '%s'", optarg);
			break;
		case 'k': o->keep = true; break;
		case 'F': o->forward = optarg; break;
		case 'e': o->exec = optarg; break;
		case O_ADDR_FILE: o->addr_file = optarg; break;
		}
	}
	if (argc - optind > 2)
		stp_die_usage(prog, "too many arguments");
	if (argc - optind >= 1)
		o->peer = argv[optind];
	if (argc - optind == 2 && stp_port_parse(argv[optind + 1], &o->peer_port) < 0)
		stp_die_usage(prog, "bad port '%s'", argv[optind + 1]);
	/* BIND's DST names either the expected peer or, with any peer, the
	 * port wanted (PROTOCOL.md): not both */
	if (o->port && o->peer)
		stp_die_usage(prog, "-p asks for a port that any peer may connect to: "
			      "it does not go with PEER");
	if (o->forward && o->exec)
		stp_die_usage(prog, "-F and -e do not go together");
	if (o->forward && stp_hostport_split(o->forward, o->fwd_host, sizeof(o->fwd_host),
					     &o->fwd_port, -1, false, &e) < 0)
		stp_die_usage(prog, "-F: %s", e.msg);
	if (stp_clientopts_finish(&o->co, NULL, &e) < 0)
		stp_die(prog, &e);
}

/* Writes "ADDR PORT\n" to a temporary file beside path, then renames it:
 * a script polling for path never reads half a line. */
static void write_addr_file(const char *path, const struct stp_addr *a)
{
	char tmp[PATH_MAX], host[STP_ADDRSTRLEN];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		stp_die_usage(prog, "--addr-file: path too long");
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s %u\n", stp_addr_host(a, host, sizeof(host)), a->port) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) < 0) {
		stp_warn(prog, "--addr-file %s: %s", path, strerror(errno));
		unlink(tmp);
		exit(STP_EXIT_FAIL);
	}
}

/* The connection's bytes go to the local service. Returns the exit status. */
static int serve_forward(const struct bind_opts *o, struct stp_conn *conn)
{
	struct stp_conn local;
	struct stp_err e;

	if (stp_client_direct(&o->co.client, o->fwd_host, o->fwd_port, &local, &e) < 0) {
		stp_warn(prog, "-F %s: %s", o->forward, e.msg);
		stp_conn_close(conn);
		return STP_EXIT_FAIL;
	}
	if (stp_stream_run(local.fd, local.fd, conn, &e) < 0) {
		stp_warn_err(prog, &e);
		return STP_EXIT_FAIL;
	}
	return 0;
}

/* The connection is CMD's stdin and stdout. Returns the exit status (127
 * when /bin/sh cannot run), or not at all once CMD has replaced us. */
static int serve_exec(const struct bind_opts *o, struct stp_conn *conn, const struct stp_addr *peer)
{
	char host[STP_ADDRSTRLEN], port[8];
	struct stp_err e;
	pid_t pid;
	int fd;

	snprintf(port, sizeof(port), "%u", peer->port);
	setenv("STP_PEER_ADDR", stp_addr_host(peer, host, sizeof(host)), 1);
	setenv("STP_PEER_PORT", port, 1);
	if (!conn->nearly && !stp_conn_ssl(conn) && !conn->gss)
		stp_exec_on(o->exec, conn->fd, &e);
	/* the peer spoke first and its bytes came with the reply (they cannot
	 * go back into the socket), or TLS wraps the connection: the command
	 * gets a socket pair, and a relay feeds it */
	else if (stp_exec_attached(o->exec, &fd, &pid, &e) == 0)
		return stp_stream_run(fd, fd, conn, &e) < 0 ? STP_EXIT_FAIL : 0;
	stp_warn(prog, "-e: %s", e.msg);
	stp_conn_close(conn);
	return e.code;
}

/* -k: what a child does with one notice: fetch the connection with ATTACH
 * and serve it with -F or -e. */
struct notice {
	const struct bind_opts *o;
	struct stp_conn *ctl;
	const uint8_t *ticket;
	const struct stp_addr *peer;
	const struct stp_addr *at;   /* the notice's ATTACH_AT, atyp 0: none */
};

static int serve_notice(void *arg)
{
	struct notice *n = arg;
	struct stp_conn conn;
	struct stp_err e;

	stp_conn_close(n->ctl);
	if (stp_attach(&n->o->co.client, n->ticket, n->at, &conn, &e) < 0) {
		stp_warn(prog, "attach %s: %s", "connection", e.msg);
		return e.code;
	}
	if (n->o->forward)
		return serve_forward(n->o, &conn);
	return serve_exec(n->o, &conn, n->peer);
}

/* -k: every notice is fetched with ATTACH and served by -F, -e, or in turn
 * on stdin/stdout. Returns the exit status. */
static int run_multi(struct bind_opts *o, struct stp_conn *ctl)
{
	struct stp_addr peer, at;
	uint8_t ticket[STP_TICKET_LEN];
	struct notice n = { o, ctl, ticket, &peer, &at };
	struct stp_err e;
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT;  /* children reaped by the kernel */
	sigaction(SIGCHLD, &sa, NULL);
	while ((rc = stp_bind_next(ctl, &peer, ticket, &at, &e)) == 0) {
		struct stp_conn conn;

		stp_cli_event(&o->co, "accepted", &peer);
		if (o->forward || o->exec) {
			if (stp_run_child(serve_notice, &n, &e) < 0)
				stp_warn_err(prog, &e);
			continue;
		}
		if (stp_attach(&o->co.client, ticket, &at, &conn, &e) < 0 ||
		    stp_stream_run_dup(0, 1, &conn, &e) < 0)
			stp_warn_err(prog, &e);
	}
	OPENSSL_cleanse(ticket, sizeof(ticket));
	if (rc < 0)
		stp_die(prog, &e);
	stp_warn(prog, "the proxy closed the control connection");
	return STP_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	struct bind_opts o;
	struct stp_conn ctl, conn;
	struct stp_addr peer;
	uint8_t ticket[STP_TICKET_LEN];
	struct stp_err e = { 0, "" };
	int rc;

	parse_args(argc, argv, &o);
	if (stp_bind_open(&o.co.client, o.keep, o.peer, o.peer ? o.peer_port : o.port,
			  &ctl, &e) < 0)
		stp_die(prog, &e);
	stp_cli_event(&o.co, "bound", &ctl.bnd);
	if (o.addr_file)
		write_addr_file(o.addr_file, &ctl.bnd);
	if (o.keep)
		return run_multi(&o, &ctl);
	rc = stp_bind_next(&ctl, &peer, ticket, NULL, &e);
	if (rc < 0)
		stp_die(prog, &e);
	if (rc == 1) {
		stp_warn(prog, "the proxy closed the connection before a peer came");
		return STP_EXIT_FAIL;
	}
	stp_cli_event(&o.co, "accepted", &peer);
	stp_clientopts_wipe(&o.co);
	conn = ctl;
	if (o.forward)
		return serve_forward(&o, &conn);
	if (o.exec)
		return serve_exec(&o, &conn, &peer);
	if (stp_stream_run(0, 1, &conn, &e) < 0)
		stp_die(prog, &e);
	return 0;
}
