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
#include "cli/dgramcli.h"
#include "cli/die.h"
#include "core/opts.h"
#include "client/udpclient.h"
#include "proto/version.h"

static const char prog[] = "stp-mcast";

enum { O_BOTH = 256, O_SOURCE, O_TTL };

static const struct stp_optdef own_options[] = {
	{ 's', "send", NULL, "send stdin's datagrams to the group instead of receiving" },
	{ O_BOTH, "both", NULL, "both: send stdin's datagrams to the group and print the group's datagrams" },
	{ O_TTL, "ttl", "N", "TTL of the datagrams sent (default 1; the proxy may cap it)" },
	{ O_SOURCE, "source", "ADDR", "source-specific membership: only datagrams from ADDR" },
	STP_DGRAM_OPTDEF_TCP,
	STP_DGRAM_OPTDEF_FORMAT,
	{ STP_DGRAM_OPT_WAIT, "wait", "SECS", "with --both: after stdin ends, exit once nothing came for this long (default 1)" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] GROUP PORT";
static const char description[] =
	"Asks the proxy to join multicast GROUP (224.0.0.0/4 or ff00::/8) at PORT on its\n"
	"network and prints each datagram of the group on stdout, after printing\n"
	"'joined GROUP PORT' on stderr. With -s, sends each datagram from stdin to the\n"
	"group instead; --both does both. Leaving is closing: the membership ends\n"
	"when stp-mcast exits. --json implies --format json.\n"
	"Without -x or --config, the proxy comes from STP_CONFIG, STP_PROXY,\n"
	"then all_proxy or ALL_PROXY; a password from STP_PASSWORD or --password-file.\n"
	"--gssapi uses the Kerberos ticket of KRB5CCNAME (realms from KRB5_CONFIG).";

struct mcast_opts {
	struct stp_clientopts co;
	struct stp_dgram_cli d;   /* --tcp, --format, --wait */
	bool send, both;
	const char *source;
	long ttl;
	const char *group_arg;
	struct stp_addr group;
};

static void parse_args(int argc, char **argv, struct mcast_opts *o)
{
	struct stp_cli cli;
	struct stp_err e;
	bool ttl_set = false;
	uint16_t port;
	int c;

	memset(o, 0, sizeof(*o));
	stp_cli_init(&cli, &o->co, prog, synopsis, description, own_options);
	stp_dgram_cli_init(&o->d);
	o->ttl = 1;
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		if (stp_dgram_cli_take(prog, &o->d, c, optarg))
			continue;
		switch (c) {
		case 's': o->send = true; break;
		case O_BOTH: o->both = true; break;
		case O_SOURCE: o->source = optarg; break;
		case O_TTL:
			if (stp_parse_long(optarg, 0, 255, &o->ttl, "--ttl", &e) < 0)
				stp_die(prog, &e);
			ttl_set = true;
			break;
		}
	}
	o->group_arg = stp_dgram_cli_operands(prog, argc - optind, argv + optind, "GROUP", false,
					      &port);
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
	/* a group on the proxy's network */
	stp_dgram_cli_finish(prog, &o->co, &o->d, o->group_arg, "stp-mcast joins");
}

int main(int argc, char **argv)
{
	struct mcast_opts o;
	struct stp_udp_assoc a;
	struct stp_opts req;
	struct stp_err e = { 0, "" };
	char host[STP_ADDRSTRLEN];

	parse_args(argc, argv, &o);
	if (stp_mcast_request(&req, o.send || o.both, !o.send, o.d.tcp, (int)o.ttl, o.source, &e) < 0)
		stp_die(prog, &e);
	if (stp_mcast_open(&o.co.client, &o.group, &req, &a, &e) < 0)
		stp_die(prog, &e);
	stp_clientopts_wipe(&o.co);
	stp_addr_host(&o.group, host, sizeof(host));
	struct stp_event_field joined[] = { { "group", host, 0 }, { "port", NULL, o.group.port } };
	if (!o.send)  /* --send joins nothing (SPEC 3.4) */
		stp_event_print(stderr, o.co.json, "joined", joined, 2);
	struct stp_udp_io io = {
		.fmt = o.d.fmt,
		/* receiving only: stdin is not read, and only the proxy's end
		 * (or a signal) ends the run (poll ignores a negative fd) */
		.in_fd = o.send || o.both ? 0 : -1,
		.out_fd = 1,
		.target = &o.group,
		/* --send: nothing comes back to wait for; done once all is sent */
		.wait_ms = o.send ? 0 : o.d.wait_ms,
		.client = &o.co.client,
		.log = &o.co.log,
	};
	int rc = stp_udp_io_run(&a, &io, &e);
	stp_udp_close(&a);
	if (rc < 0)
		stp_die(prog, &e);
	return 0;
}
