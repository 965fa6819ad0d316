/* stp-probe - diagnose a proxy: what answers, methods, credentials,
 * commands, DNS, IPv6, UDP, BIND, features, latency, an HTTP fetch and
 * bandwidth, one check per line as it runs, then a verdict (SPEC §3.7).
 * Parses options into one struct, checks them in one place, and runs
 * libcommon's probe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "cli/cli.h"
#include "cli/die.h"
#include "probe/probe.h"

static const char prog[] = "stp-probe";

enum { O_TARGET = 256, O_UDP_TARGET, O_NAME, O_URL, O_BANDWIDTH, O_REQUIRE, O_COLOR };

static const struct stp_optdef own_options[] = {
	{ O_TARGET, "target", "HOST:PORT", "CONNECT here (default: a listener of the probe's own)" },
	{ O_UDP_TARGET, "udp-target", "HOST:PORT", "a UDP echo service for the UDP round trip" },
	{ O_NAME, "name", "NAME", "a name only the proxy can resolve (default localhost)" },
	{ O_URL, "url", "URL", "fetch this http(s) URL through the proxy with libcurl" },
	{ O_BANDWIDTH, "bandwidth", "BYTES", "measure throughput with BYTES each way (e.g. 200000, 512K, 1.5M)" },
	{ O_REQUIRE, "require", "LIST", "FAIL when these checks are missing (e.g. bind,udp,resolve)" },
	{ 'n', "tries", "N", "latency tries (default 10)" },
	{ O_COLOR, "color", "WHEN", "colour the report: auto (on a terminal), always or never" },
	/* the shared client options, said as they act here: the operand is
	 * the proxy probed, -x hops lead to it, the report is on stdout */
	{ 'x', "proxy", "URL", "reach the probed proxy through this one (repeat to chain)" },
	{ 'U', "proxy-user", "USER[:PASS]", "credentials for the probed proxy when its URL has none" },
	{ '4', "ipv4", NULL, "reach the proxy (the first -x hop) over IPv4 only" },
	{ '6', "ipv6", NULL, "reach the proxy (the first -x hop) over IPv6 only" },
	{ STP_CO_JSON, "json", NULL, "print one JSON document at the end instead of the report" },
	{ 'q', "quiet", NULL, "print only the failed checks and the verdict" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] [URL]";
static const char description[] =
	"Diagnoses the SOCKS or HTTP proxy at URL and prints one check per line as it\n"
	"runs, 'STATUS  CHECK  DETAIL', then 'verdict: ok' or 'verdict: FAIL (N checks\n"
	"failed)'. Exits 0 when nothing failed, else with the code of the first\n"
	"failure. With -x, the proxy is probed through that chain. Without URL, the\n"
	"last proxy of the chain of -x, --config (or STP_CONFIG), STP_PROXY, all_proxy\n"
	"or ALL_PROXY is probed. The password may come from STP_PASSWORD or\n"
	"--password-file; NO_COLOR set means no colour. --gssapi uses the Kerberos\n"
	"ticket of KRB5CCNAME (realms from KRB5_CONFIG).";

struct probe_opts {
	struct stp_clientopts co;
	struct stp_probe_cfg cfg;
	int color;      /* -1 auto, 0 never, 1 always */
};

static void parse_require(struct probe_opts *o, const char *list)
{
	char buf[256], *save, *t;

	if (strlen(list) >= sizeof(buf))
		stp_die_usage(prog, "--require: list too long");
	snprintf(buf, sizeof(buf), "%s", list);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int c = stp_probe_check_from_name(t);
		if (c < 0)
			stp_die_usage(prog, "--require: unknown check '%s'", t);
		o->cfg.require |= 1u << c;
	}
}

static void parse_args(int argc, char **argv, struct probe_opts *o)
{
	/* the proxy to probe is the operand, not --config's; the options
	 * re-declared in own_options keep their keys, so the shared loop
	 * still takes them */
	static const char *const omit[] = { "proxy", "proxy-user", "ipv4", "ipv6",
					    "json", "quiet", "keepalive", NULL };
	struct stp_cli cli;
	struct stp_err e;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->color = -1;
	o->cfg.tries = 10;
	stp_cli_init_except(&cli, &o->co, prog, synopsis, description, own_options, omit);
	while ((c = stp_cli_next(&cli, argc, argv)) != -1) {
		switch (c) {
		case O_TARGET: o->cfg.target = optarg; break;
		case O_UDP_TARGET: o->cfg.udp_target = optarg; break;
		case O_NAME:
			if (!*optarg || strlen(optarg) > 255)
				stp_die_usage(prog, "--name: a name is 1 to 255 bytes");
			o->cfg.name = optarg;
			break;
		case O_URL: o->cfg.url = optarg; break;
		case O_BANDWIDTH:
			if (stp_parse_bytes(optarg, 1, STP_BYTES_MAX, &v, "--bandwidth", &e) < 0)
				stp_die(prog, &e);
			o->cfg.bandwidth = v;
			break;
		case O_REQUIRE: parse_require(o, optarg); break;
		case 'n':
			if (stp_parse_long(optarg, 1, 10000, &v, "-n", &e) < 0)
				stp_die(prog, &e);
			o->cfg.tries = (int)v;
			break;
		case O_COLOR:
			if (strcmp(optarg, "auto") == 0)
				o->color = -1;
			else if (strcmp(optarg, "always") == 0)
				o->color = 1;
			else if (strcmp(optarg, "never") == 0)
				o->color = 0;
			else
				stp_die_usage(prog, "--color: expected auto, always or never, not '%s'", optarg);
			break;
		}
	}
	if (argc - optind > 1)
		stp_die_usage(prog, "too many arguments");
	if (o->co.nurls == STP_MAX_HOPS)
		stp_die_usage(prog, "at most %d proxies before the URL", STP_MAX_HOPS - 1);
	char hp[270];
	uint16_t port;
	if (o->cfg.target && stp_hostport_split(o->cfg.target, hp, sizeof(hp), &port, -1, false, &e) < 0)
		stp_die_usage(prog, "--target: %s", e.msg);
	if (o->cfg.udp_target &&
	    stp_hostport_split(o->cfg.udp_target, hp, sizeof(hp), &port, -1, false, &e) < 0)
		stp_die_usage(prog, "--udp-target: %s", e.msg);
	/* the operand is the last hop: -x hops come before it, -U goes to it;
	 * without one, the last hop of the chain the other clients would use
	 * (for --target's host, in --config's routes) is the one probed */
	int rc = 0;
	if (optind < argc && stp_clientopts_add_url(&o->co, argv[optind], "the proxy URL", &e) < 0)
		stp_die(prog, &e);
	if (o->cfg.target)
		stp_hostport_split(o->cfg.target, hp, sizeof(hp), &port, -1, false, &e);
	rc = stp_clientopts_finish(&o->co, o->cfg.target ? hp : NULL, &e);
	if (rc < 0)
		stp_die(prog, &e);
	if (o->co.client.nhops == 0)
		stp_die_usage(prog, "no proxy to probe: the route for %s is \"direct\"",
			      o->cfg.target ? o->cfg.target : "every target");
	o->cfg.chain = o->co.client;
	o->cfg.chain.nhops = o->co.client.nhops - 1;
	o->cfg.proxy = o->co.client.hops[o->co.client.nhops - 1];
	o->cfg.verbose = o->co.log.level;
	stp_clientopts_wipe(&o->co);
}

struct out {
	bool color, json, quiet;
};

static void print_result(const struct stp_probe_result *r, void *arg)
{
	const struct out *out = arg;

	if (out->json || (out->quiet && r->status != PS_FAIL))
		return;
	stp_probe_print_result(stdout, r, out->color);
}

int main(int argc, char **argv)
{
	struct probe_opts o;
	struct stp_probe_report rep;
	struct stp_err e;
	struct out out;

	parse_args(argc, argv, &o);
	out.json = o.co.json;
	out.quiet = o.co.log.level <= STP_LOG_ERR;
	out.color = o.color == 1 || (o.color < 0 && isatty(1) && !getenv("NO_COLOR"));
	memset(&rep, 0, sizeof(rep));
	rep.on_result = print_result;
	rep.arg = &out;
	int rc = stp_probe_run(&o.cfg, &rep, &e);
	stp_proxy_wipe(&o.cfg.proxy);
	for (int i = 0; i < o.cfg.chain.nhops; i++)
		stp_proxy_wipe(&o.cfg.chain.hops[i]);
	if (rc < 0)
		stp_die(prog, &e);
	if (out.json) {
		json_t *doc = stp_probe_json(&rep);
		if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) < 0) {
			stp_warn(prog, "writing the JSON report failed");
			json_decref(doc);
			stp_probe_report_free(&rep);
			return STP_EXIT_FAIL;
		}
		json_decref(doc);
		fputc('\n', stdout);
	} else {
		stp_probe_print_verdict(stdout, &rep, out.color);
	}
	int code = rep.exit_code;
	stp_probe_report_free(&rep);
	if (fflush(stdout) != 0) {
		stp_warn(prog, "writing the report failed");
		return STP_EXIT_FAIL;
	}
	return code;
}
