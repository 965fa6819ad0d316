/* stp-mcast - join a multicast group on the proxy's network, print its
 * datagrams, and send to it (SPEC §3.4, MCAST of PROTOCOL.md §3). Parses
 * options into one struct, checks them in one place, and wires libcommon
 * calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "proto/addr.h"
#include "cli/cli.h"
#include "client/clientopts.h"
#include "proto/dgram.h"
#include "server/policy/mcastpol.h"
#include "cli/die.h"
#include "core/opts.h"
#include "client/udpclient.h"
#include "proto/version.h"

static const char prog[] = "stp-mcast";

enum { O_BOTH = 256, O_SOURCE, O_TTL, O_TCP, O_FORMAT, O_WAIT };

static const struct stp_optdef own_options[] = {
	{ 's', "send", NULL, "send stdin's datagrams to the group instead of receiving" },
	{ O_BOTH, "both", NULL, "send stdin's datagrams to the group and print the group's" },
	{ O_TTL, "ttl", "N", "TTL of the datagrams sent (default 1; the proxy may cap it)" },
	{ O_SOURCE, "source", "ADDR", "source-specific membership: only datagrams from ADDR" },
	{ O_TCP, "tcp", NULL, "carry the datagrams on the TCP connection to the proxy" },
	{ O_FORMAT, "format", "FORMAT", "datagrams on stdin/stdout: line, raw, hex or json (default line)" },
	{ O_WAIT, "wait", "SECS", "with --send or --both: after stdin ends, exit once nothing came for this long (default 1)" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] GROUP PORT";
static const char description[] =
	"Asks the proxy to join multicast GROUP (224.0.0.0/4 or ff00::/8) at PORT on its\n"
	"network and prints each datagram of the group on stdout, after printing\n"
	"'joined GROUP PORT' on stderr. With -s, sends each datagram from stdin to the\n"
	"group instead; --both does both. Leaving is closing: the membership ends\n"
	"when stp-mcast exits. Without -x the proxy comes from STP_PROXY, then\n"
	"ALL_PROXY/all_proxy. --json implies --format json.";

struct mcast_opts {
	struct stp_clientopts co;
	bool send, both, tcp, format_set;
	const char *source;
	long ttl;
	enum stp_dgram_fmt fmt;
	long wait_ms;
	const char *group_arg;
	struct stp_addr group;
};

static void parse_args(int argc, char **argv, struct mcast_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	bool ttl_set = false;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	o->wait_ms = 1000;
	o->ttl = 1;
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case 's': o->send = true; break;
		case O_BOTH: o->both = true; break;
		case O_TCP: o->tcp = true; break;
		case O_SOURCE: o->source = optarg; break;
		case O_TTL:
			if (stp_parse_long(optarg, 0, 255, &o->ttl, "--ttl", &e) < 0)
				stp_die(prog, &e);
			ttl_set = true;
			break;
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
		stp_die_usage(prog, "missing PORT after GROUP '%s'", argv[optind]);
	if (nargs == 0)
		stp_die_usage(prog, "missing GROUP and PORT");
	uint16_t port;
	o->group_arg = argv[optind];
	if (stp_port_parse(argv[optind + 1], &port) < 0 || port == 0)
		stp_die_usage(prog, "bad port '%s'", argv[optind + 1]);
	if (stp_addr_from_host(&o->group, o->group_arg, port) < 0 ||
	    o->group.atyp == STP_ATYP_NAME || !stp_mcast_is_group(&o->group))
		stp_die_usage(prog, "'%s' is not a multicast group address (224.0.0.0/4 or "
			      "ff00::/8)", o->group_arg);
	if (o->send && o->both)
		stp_die_usage(prog, "--send and --both do not go together");
	if (ttl_set && !o->send && !o->both)
		stp_die_usage(prog, "--ttl is for --send or --both");
	if (o->source) {
		struct stp_addr sa;
		if (stp_addr_from_host(&sa, o->source, 0) < 0 || sa.atyp != o->group.atyp)
			stp_die_usage(prog, "--source: expected a numeric %s address, not '%s'",
				      o->group.atyp == STP_ATYP_IPV4 ? "IPv4" : "IPv6", o->source);
	}
	if (o->co.json && !o->format_set)
		o->fmt = STP_DGRAM_JSON;
	/* a group on the proxy's network: there is no direct path */
	int r = stp_clientopts_finish(&o->co, o->group_arg, &e);
	if (r < 0)
		stp_die(prog, &e);
	if (r == 1)
		stp_die_usage(prog, "%s is to be reached directly (NO_PROXY or a \"direct\" route), "
			      "and stp-mcast joins only through a proxy", o->group_arg);
}

int main(int argc, char **argv)
{
	struct mcast_opts o;
	struct stp_udp_assoc a;
	struct stp_opts req;
	struct stp_err e = { 0, "" };
	char host[STP_ADDRSTRLEN];

	parse_args(argc, argv, &o);
	memset(&req, 0, sizeof(req));
	req.present = 1u << STP_OPT_DIRECTION;
	req.direction = o.both ? 3 : o.send ? 2 : 1;
	if (o.send || o.both) {
		req.present |= 1u << STP_OPT_TTL;
		req.ttl = (uint8_t)o.ttl;
	}
	if (o.source) {
		req.present |= 1u << STP_OPT_SOURCE;
		if (stp_addr_from_host(&req.source, o.source, 0) < 0)
			abort();  /* checked in parse_args */
	}
	if (o.tcp)
		req.present |= 1u << STP_OPT_TCP_DELIVERY;
	if (stp_mcast_open(&o.co.client, &o.group, &req, &a, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o.co);
	stp_addr_host(&o.group, host, sizeof(host));
	struct stp_event_field joined[] = { { "group", host, 0 }, { "port", NULL, o.group.port } };
	stp_event_print(stderr, o.co.json, "joined", joined, 2);
	struct stp_udp_io io = {
		.fmt = o.fmt,
		/* receiving only: stdin is not read, and only the proxy's end
		 * (or a signal) ends the run (poll ignores a negative fd) */
		.in_fd = o.send || o.both ? 0 : -1,
		.out_fd = 1,
		.target = &o.group,
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
