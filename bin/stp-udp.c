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
#include "cli/die.h"
#include "core/opts.h"
#include "core/sock.h"
#include "client/udpclient.h"
#include "proto/version.h"

static const char prog[] = "stp-udp";

enum { O_TCP = 256, O_FORMAT, O_WAIT };

static const struct stp_optdef own_options[] = {
	{ 'L', "local", "[ADDR:]PORT", "local UDP forward: datagrams to this port go to HOST PORT" },
	{ 'l', "listen", NULL, "UDP BIND: a port on the proxy that takes datagrams from any peer" },
	{ O_TCP, "tcp", NULL, "carry the datagrams on the TCP connection to the proxy" },
	{ O_FORMAT, "format", "FORMAT", "datagrams on stdin/stdout: line, raw, hex or json (default line)" },
	{ O_WAIT, "wait", "SECS", "after stdin ends, exit once nothing came for this long (default 1)" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] HOST PORT";
static const char description[] =
	"Sends each datagram from stdin to HOST PORT through the proxy (UDP ASSOCIATE)\n"
	"and prints each datagram that comes back. With -L, forwards a local UDP port\n"
	"instead; with -l, asks the proxy for a UDP port any peer may send to (HOST PORT\n"
	"optional: answers go to the last sender). Without -x the proxy comes from\n"
	"STP_PROXY, then ALL_PROXY/all_proxy. --json implies --format json.";

struct udp_opts {
	struct stp_clientopts co;
	const char *local;        /* -L */
	bool listen, tcp, format_set;
	enum stp_dgram_fmt fmt;
	long wait_ms;
	const char *host;
	uint16_t port;
};

static void parse_args(int argc, char **argv, struct udp_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	o->wait_ms = 1000;
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 'L': o->local = optarg; break;
		case 'l': o->listen = true; break;
		case O_TCP: o->tcp = true; break;
		case O_FORMAT:
			if (stp_dgram_fmt_parse(optarg, &o->fmt) < 0)
				stp_die_usage(prog, "--format: expected line, raw, hex or json, not '%s'",
					      optarg);
			o->format_set = true;
			break;
		case O_WAIT:
			if (stp_parse_secs(optarg, 86400, &o->wait_ms, "--wait", &e) < 0)
				stp_die(prog, &e);
			break;
		}
	}
	int nargs = argc - optind;
	if (nargs > 2)
		stp_die_usage(prog, "too many arguments");
	if (nargs == 1)
		stp_die_usage(prog, "missing PORT after HOST '%s'", argv[optind]);
	if (nargs == 0 && !o->listen)
		stp_die_usage(prog, "missing HOST and PORT");
	if (nargs == 2) {
		o->host = argv[optind];
		if (stp_port_parse(argv[optind + 1], &o->port) < 0 || o->port == 0)
			stp_die_usage(prog, "bad port '%s'", argv[optind + 1]);
	}
	if (o->local && o->listen)
		stp_die_usage(prog, "-L and -l do not go together");
	if (o->local && o->format_set)
		stp_die_usage(prog, "-L forwards datagrams as they are: --format does not apply");
	if (o->co.json && !o->format_set)
		o->fmt = STP_DGRAM_JSON;
	/* the configuration's route for HOST picks the chain; datagrams have
	 * no direct path here, so a target to be reached directly is refused */
	int r = stp_clientopts_finish(&o->co, o->host, &e);
	if (r < 0)
		stp_die(prog, &e);
	if (r == 1)
		stp_die_usage(prog, "%s is to be reached directly (NO_PROXY or a \"direct\" route), "
			      "and stp-udp sends only through a proxy", o->host);
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
	if (stp_udp_forward(&o->co.client, o->tcp, fd, target, &o->co.log, &e) < 0)
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
	if (stp_udp_open(&o.co.client, o.listen, o.tcp, &a, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o.co);
	if (o.listen)
		stp_cli_event(&o.co, "bound", &a.ext);
	struct stp_udp_io io = {
		.fmt = o.fmt, .in_fd = 0, .out_fd = 1,
		.target = o.host ? &target : NULL,
		.reply_to_last = o.listen && !o.host,
		.wait_ms = o.wait_ms,
		.client = &o.co.client,
		.log = &o.co.log,
	};
	int rc = stp_udp_io_run(&a, &io, &e);
	stp_udp_close(&a);
	if (rc < 0)
		stp_die(prog, &e);
	return 0;
}
