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
#include "client/clientopts.h"
#include "cli/die.h"
#include "probe/probe.h"
#include "proto/version.h"

static const char prog[] = "stp-probe";

enum { O_TARGET = 256, O_UDP_TARGET, O_NAME, O_URL, O_BANDWIDTH, O_REQUIRE, O_COLOR };

static const struct stp_optdef own_options[] = {
	{ O_TARGET, "target", "HOST:PORT", "CONNECT here (default: a listener of the probe's own)" },
	{ O_UDP_TARGET, "udp-target", "HOST:PORT", "a UDP echo service for the UDP round trip" },
	{ O_NAME, "name", "NAME", "a name only the proxy can resolve (default localhost)" },
	{ O_URL, "url", "URL", "fetch this http(s) URL through the proxy with libcurl" },
	{ O_BANDWIDTH, "bandwidth", "BYTES", "measure throughput with BYTES each way (suffix K, M, G)" },
	{ O_REQUIRE, "require", "LIST", "FAIL when these checks are missing (e.g. bind,udp,resolve)" },
	{ 'n', "tries", "N", "latency tries (default 10)" },
	{ O_COLOR, "color", "WHEN", "colour the report: auto (on a terminal), always or never" },
	STP_OPT_END
};

static const char synopsis[] = "[OPTIONS] URL";
static const char description[] =
	"Diagnoses the SOCKS proxy at URL and prints one check per line as it runs,\n"
	"'STATUS  CHECK  DETAIL', then 'verdict: ok' or 'verdict: FAIL (N checks\n"
	"failed)'. Exits 0 when nothing failed, else with the code of the first\n"
	"failure. With -x, the proxy is probed through that chain.";

struct probe_opts {
	struct stp_clientopts co;
	struct stp_probe_cfg cfg;
	int color;      /* -1 auto, 0 never, 1 always */
};

/* "10M" -> 10485760; returns 0 or -1. */
static int parse_bytes(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10), mul = 1;

	if (end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024; end++; break;
	case 'm': case 'M': mul = 1024 * 1024; end++; break;
	case 'g': case 'G': mul = 1024 * 1024 * 1024; end++; break;
	}
	if (*end || v > (1LL << 40) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

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
	struct stp_optdef shared[STP_OPTS_MAX], options[STP_OPTS_MAX];
	struct stp_getopt g;
	struct stp_err e;
	size_t k = 0;
	long v;
	int c, r;

	memset(o, 0, sizeof(*o));
	o->color = -1;
	o->cfg.tries = 10;
	stp_clientopts_init(&o->co, prog);
	/* every common option but --config: the proxy to probe is the operand */
	for (const struct stp_optdef *d = stp_client_optdefs; d->name && k + 1 < STP_OPTS_MAX; d++)
		if (strcmp(d->name, "config") != 0)
			shared[k++] = *d;
	shared[k] = (struct stp_optdef)STP_OPT_END;
	if (stp_optdefs_join(options, STP_OPTS_MAX, own_options, shared) < 0 ||
	    stp_getopt_init(&g, options) < 0)
		abort();
	opterr = 0;
	while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
		r = stp_clientopts_take(&o->co, c, optarg, &e);
		if (r < 0)
			stp_die(prog, &e);
		if (r == STP_CO_HELP) {
			stp_usage(stdout, prog, synopsis, description, options);
			exit(0);
		}
		if (r == STP_CO_VERSION) {
			printf("%s %s\n", prog, STP_VERSION);
			exit(0);
		}
		if (r == STP_CO_TAKEN)
			continue;
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
			if (parse_bytes(optarg, &o->cfg.bandwidth) < 0)
				stp_die_usage(prog, "--bandwidth: not a number of bytes: '%s'", optarg);
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
		case ':':
			stp_die_usage(prog, "option '%s' needs an argument", argv[optind - 1]);
		default:
			stp_die_usage(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		stp_die_usage(prog, argc - optind < 1 ? "missing the proxy URL" : "too many arguments");
	if (o->co.nurls == STP_MAX_HOPS)
		stp_die_usage(prog, "at most %d proxies before the URL", STP_MAX_HOPS - 1);
	char hp[270];
	uint16_t port;
	if (o->cfg.target && stp_hostport_split(o->cfg.target, hp, sizeof(hp), &port, -1, false, &e) < 0)
		stp_die_usage(prog, "--target: %s", e.msg);
	if (o->cfg.udp_target &&
	    stp_hostport_split(o->cfg.udp_target, hp, sizeof(hp), &port, -1, false, &e) < 0)
		stp_die_usage(prog, "--udp-target: %s", e.msg);
	/* the operand is the last hop: -x hops come before it, -U goes to it */
	o->co.urls[o->co.nurls++] = argv[optind];
	if (stp_clientopts_finish(&o->co, NULL, &e) < 0)
		stp_die(prog, &e);
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
			fprintf(stderr, "%s: writing the JSON report failed\n", prog);
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
		fprintf(stderr, "%s: writing the report failed\n", prog);
		return STP_EXIT_FAIL;
	}
	return code;
}
