/* stp-udp - UDP datagrams through a proxy: UDP ASSOCIATE, UDP BIND, UDP
 * over the TCP connection; a local UDP forward (SPEC §3.3). Parses
 * options into one struct, checks them in one place, and wires libcommon
 * calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "cli/cli.h"
#include "client/clientopts.h"
#include "proto/dgram.h"
#include "cli/dgramcli.h"
#include "cli/die.h"
#include "core/opts.h"
#include "core/sock.h"
#include "client/udpclient.h"
#include "proto/version.h"

static const char prog[] = "stp-udp";

static const struct stp_optdef own_options[] = {
	{ 'L', "local", "[ADDR:]PORT", "local UDP forward: datagrams to this port go to HOST PORT" },
	{ 'l', "listen", NULL, "UDP BIND: a port on the proxy that takes datagrams from any peer" },
	STP_DGRAM_OPTDEF_TCP,
	STP_DGRAM_OPTDEF_FORMAT,
	{ STP_DGRAM_OPT_WAIT, "wait", "SECS", "after stdin ends, exit once nothing came for this long (default 1)" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] HOST PORT";
static const char description[] =
	"Sends each datagram from stdin to HOST PORT through the proxy (UDP ASSOCIATE)\n"
	"and prints each datagram that comes back. With -L, forwards a local UDP port\n"
	"instead; with -l, asks the proxy for a UDP port any peer may send to (HOST PORT\n"
	"optional: answers go to the last sender). --json implies --format json.\n"
	"Without -x or --config, the proxy comes from STP_CONFIG, STP_PROXY,\n"
	"then all_proxy or ALL_PROXY; a password from STP_PASSWORD or --password-file.\n"
	"--gssapi uses the Kerberos ticket of KRB5CCNAME (realms from KRB5_CONFIG).";

struct udp_opts {
	struct stp_clientopts co;
	struct stp_dgram_cli d;   /* --tcp, --format, --wait */
	const char *local;        /* -L */
	bool listen;
	const char *host;
	uint16_t port;
};

static void parse_args(int argc, char **argv, struct udp_opts *o)
{
	struct stp_cli cli;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	stp_dgram_cli_init(&o->d);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		if (stp_dgram_cli_take(prog, &o->d, c, optarg))
			continue;
		switch (c) {
		case 'L': o->local = optarg; break;
		case 'l': o->listen = true; break;
		}
	}
	/* with -l, HOST PORT may be left out: answers go to the last sender */
	o->host = stp_dgram_cli_operands(prog, argc - optind, argv + optind, "HOST", o->listen,
					 &o->port);
	if (o->local && o->listen)
		stp_die_usage(prog, "-L and -l do not go together");
	if (o->local && o->d.format_set)
		stp_die_usage(prog, "-L forwards datagrams as they are: --format does not apply");
	/* the configuration's route for HOST picks the chain */
	stp_dgram_cli_finish(prog, &o->co, &o->d, o->host, "stp-udp sends");
}

/* -L: a local UDP socket; each sender gets an association of its own. */
static int run_local(struct udp_opts *o, const struct stp_addr *target)
{
	struct sockaddr_storage ss;
	struct stp_err e;
	int fd = stp_listen_local("-L", o->local, SOCK_DGRAM, &ss, &e);

	if (fd < 0)
		stp_die(prog, &e);
	stp_cli_event_sa(&o->co, "listening", (struct sockaddr *)&ss);
	if (stp_udp_forward(&o->co.client, o->d.tcp, fd, target, &o->co.log, &e) < 0)
		stp_die(prog, &e);
	return 0;
}

int main(int argc, char **argv)
{
	struct udp_opts o;
	struct stp_udp_assoc a;
	struct stp_addr target;
	struct stp_err e = { 0, "" };

	parse_args(argc, argv, &o);
	if (o.host && stp_udp_dest(&o.co.client, o.host, o.port, &target, &e) < 0)
		stp_die(prog, &e);
	if (o.local)
		return run_local(&o, &target);
	if (stp_udp_open(&o.co.client, o.listen, o.d.tcp, &a, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o.co);
	if (o.listen)
		stp_cli_event(&o.co, "bound", &a.ext);
	struct stp_udp_io io = {
		.fmt = o.d.fmt, .in_fd = 0, .out_fd = 1,
		.target = o.host ? &target : NULL,
		.reply_to_last = o.listen && !o.host,
		.wait_ms = o.d.wait_ms,
		.client = &o.co.client,
		.log = &o.co.log,
	};
	int rc = stp_udp_io_run(&a, &io, &e);
	stp_udp_close(&a);
	if (rc < 0)
		stp_die(prog, &e);
	return 0;
}
