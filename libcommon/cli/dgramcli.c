/* dgramcli.c - the command line of the datagram programs (dgramcli.h). */
#include "cli/dgramcli.h"
#include "cli/die.h"
#include "core/opts.h"
#include "proto/addr.h"

void stp_dgram_cli_init(struct stp_dgram_cli *d)
{
	d->tcp = false;
	d->fmt = STP_DGRAM_LINE;
	d->format_set = false;
	d->wait_ms = 1000;
}

bool stp_dgram_cli_take(const char *prog, struct stp_dgram_cli *d, int key, const char *arg)
{
	struct stp_err e;

	if (key == STP_DGRAM_OPT_TCP) {
		d->tcp = true;
		return true;
	}
	if (key == STP_DGRAM_OPT_FORMAT) {
		if (stp_dgram_fmt_parse(arg, &d->fmt) < 0)
			stp_die_usage(prog, "--format: expected line, raw, hex or json, not '%s'", arg);
		d->format_set = true;
		return true;
	}
	if (key == STP_DGRAM_OPT_WAIT) {
		if (stp_parse_secs(arg, 86400, &d->wait_ms, "--wait", &e) < 0)
			stp_die(prog, &e);
		return true;
	}
	return false;
}

const char *stp_dgram_cli_operands(const char *prog, int nargs, char **args, const char *what,
				   bool optional, uint16_t *port)
{
	if (nargs > 2)
		stp_die_usage(prog, "too many arguments");
	if (nargs == 1)
		stp_die_usage(prog, "missing PORT after %s '%s'", what, args[0]);
	if (nargs == 0) {
		if (!optional)
			stp_die_usage(prog, "missing %s and PORT", what);
		return NULL;
	}
	if (stp_port_parse(args[1], port) < 0 || *port == 0)
		stp_die_usage(prog, "bad port '%s'", args[1]);
	return args[0];
}

void stp_dgram_cli_finish(const char *prog, struct stp_clientopts *co, struct stp_dgram_cli *d,
			  const char *target, const char *does)
{
	struct stp_err e;
	int r;

	if (co->json && !d->format_set)
		d->fmt = STP_DGRAM_JSON;
	/* datagrams have no direct path here: the proxy is the way out */
	r = stp_clientopts_finish(co, target, &e);
	if (r < 0)
		stp_die(prog, &e);
	if (r == 1)
		stp_die_usage(prog, "%s is to be reached directly (NO_PROXY or a \"direct\" route), "
			      "and %s only through a proxy", target, does);
}
