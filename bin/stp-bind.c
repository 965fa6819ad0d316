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
#include <sys/socket.h>
#include <sys/wait.h>
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
	"either, to stdin/stdout one after another.";

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
		fprintf(stderr, "%s: --addr-file %s: %s\n", prog, path, strerror(errno));
		unlink(tmp);
		exit(STP_EXIT_FAIL);
	}
}

/* In a child: the connection's bytes go to the local service. */
static void serve_forward(const struct bind_opts *o, struct stp_conn *conn)
{
	struct stp_conn local;
	struct stp_err e;

	if (stp_client_direct(&o->co.client, o->fwd_host, o->fwd_port, &local, &e) < 0) {
		fprintf(stderr, "%s: -F %s: %s\n", prog, o->forward, e.msg);
		_exit(STP_EXIT_FAIL);
	}
	int lfd = local.fd;
	if (stp_stream_run(lfd, lfd, conn, &e) < 0) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		_exit(STP_EXIT_FAIL);
	}
	_exit(0);
}

/* In a child: the connection is CMD's stdin and stdout. */
static void serve_exec(const struct bind_opts *o, struct stp_conn *conn, const struct stp_addr *peer)
{
	char host[STP_ADDRSTRLEN], port[8];

	int fd = conn->fd, sp[2];

	snprintf(port, sizeof(port), "%u", peer->port);
	if (conn->nearly || stp_conn_ssl(conn)) {
		/* the peer spoke first and its bytes came with the reply (they
		 * cannot go back into the socket), or TLS wraps the connection:
		 * the command gets a socket pair, and a relay feeds it */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
			fprintf(stderr, "%s: -e: socketpair: %s\n", prog, strerror(errno));
			_exit(STP_EXIT_FAIL);
		}
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "%s: -e: fork: %s\n", prog, strerror(errno));
			_exit(STP_EXIT_FAIL);
		}
		if (pid > 0) {
			struct stp_err e;
			close(sp[1]);
			int rc = stp_stream_run(sp[0], sp[0], conn, &e);
			_exit(rc < 0 ? STP_EXIT_FAIL : 0);
		}
		close(sp[0]);
		close(conn->fd);
		fd = sp[1];
	}
	setenv("STP_PEER_ADDR", stp_addr_host(peer, host, sizeof(host)), 1);
	setenv("STP_PEER_PORT", port, 1);
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		_exit(STP_EXIT_FAIL);
	if (fd > 1)
		close(fd);
	execl("/bin/sh", "sh", "-c", o->exec, (char *)NULL);
	fprintf(stderr, "%s: -e: /bin/sh: %s\n", prog, strerror(errno));
	_exit(127);
}

/* -k: every notice is fetched with ATTACH and served by -F, -e, or in turn
 * on stdin/stdout. Returns the exit status. */
static int run_multi(struct bind_opts *o, struct stp_conn *ctl)
{
	struct stp_addr peer;
	uint8_t ticket[STP_TICKET_LEN];
	struct stp_err e;
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT;  /* children reaped by the kernel */
	sigaction(SIGCHLD, &sa, NULL);
	while ((rc = stp_bind_next(ctl, &peer, ticket, &e)) == 0) {
		struct stp_conn conn;

		stp_cli_event(&o->co, "accepted", &peer);
		if (o->forward || o->exec) {
			pid_t pid = fork();
			if (pid < 0) {
				fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
				continue;
			}
			if (pid > 0)
				continue;
			stp_conn_close(ctl);
			if (stp_attach(&o->co.client, ticket, &conn, &e) < 0) {
				fprintf(stderr, "%s: attach %s: %s\n", prog, "connection", e.msg);
				_exit(e.code);
			}
			if (o->forward)
				serve_forward(o, &conn);
			serve_exec(o, &conn, &peer);
		}
		if (stp_attach(&o->co.client, ticket, &conn, &e) < 0) {
			fprintf(stderr, "%s: %s\n", prog, e.msg);
			continue;
		}
		/* one after another: dups, so that stdout stays open for the next */
		int in = dup(0), out = dup(1);
		if (in < 0 || out < 0 ||
		    stp_stream_run(in, out, &conn, &e) < 0)
			fprintf(stderr, "%s: %s\n", prog, in < 0 || out < 0 ? strerror(errno) : e.msg);
	}
	OPENSSL_cleanse(ticket, sizeof(ticket));
	if (rc < 0)
		stp_die(prog, &e);
	fprintf(stderr, "%s: the proxy closed the control connection\n", prog);
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
	if (stp_bind_open(&o.co.client, o.keep, o.peer, o.peer_port, &ctl, &e) < 0)
		stp_die(prog, &e);
	stp_cli_event(&o.co, "bound", &ctl.bnd);
	if (o.addr_file)
		write_addr_file(o.addr_file, &ctl.bnd);
	if (o.keep)
		return run_multi(&o, &ctl);
	rc = stp_bind_next(&ctl, &peer, ticket, &e);
	if (rc < 0)
		stp_die(prog, &e);
	if (rc == 1) {
		fprintf(stderr, "%s: the proxy closed the connection before a peer came\n", prog);
		return STP_EXIT_FAIL;
	}
	stp_cli_event(&o.co, "accepted", &peer);
	stp_clientopts_wipe(&o.co);
	conn = ctl;
	if (o.forward)
		serve_forward(&o, &conn);
	if (o.exec)
		serve_exec(&o, &conn, &peer);
	if (stp_stream_run(0, 1, &conn, &e) < 0)
		stp_die(prog, &e);
	return 0;
}
