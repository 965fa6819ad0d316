/* cli.c - the shared option loop of the programs (main only). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "proto/addr.h"
#include "cli/cli.h"
#include "cli/die.h"
#include "proto/version.h"

/* True if name is one of names (NULL: none). */
static bool named(const char *const *names, const char *name)
{
	for (; names && *names; names++)
		if (strcmp(*names, name) == 0)
			return true;
	return false;
}

/* Fills cli for own joined with the client options a program takes: all
 * but those in omit, or with co NULL only --help and --version. */
static void setup(struct stp_cli *cli, struct stp_clientopts *co, const char *prog,
		  const char *synopsis, const char *description,
		  const struct stp_optdef *own, const char *const *omit)
{
	struct stp_optdef shared[STP_OPTS_MAX];
	size_t n = 0;

	cli->prog = prog;
	cli->synopsis = synopsis;
	cli->description = description;
	cli->co = co;
	if (co)
		stp_clientopts_init(co, prog);
	for (const struct stp_optdef *d = stp_client_optdefs; d->name && n + 1 < STP_OPTS_MAX; d++)
		if (co ? !named(omit, d->name) : d->key == 'h' || d->key == 'V')
			shared[n++] = *d;
	shared[n] = (struct stp_optdef)STP_OPT_END;
	/* the tables are the program's own: too long is a programming error */
	if (stp_optdefs_join(cli->options, STP_OPTS_MAX, own, shared) < 0 ||
	    stp_getopt_init(&cli->g, cli->options) < 0)
		abort();
	opterr = 0;
}

void stp_cli_init(struct stp_cli *cli, struct stp_clientopts *co, const char *prog,
		  const char *synopsis, const char *description, const struct stp_optdef *own)
{
	setup(cli, co, prog, synopsis, description, own, NULL);
}

void stp_cli_init_except(struct stp_cli *cli, struct stp_clientopts *co, const char *prog,
			 const char *synopsis, const char *description,
			 const struct stp_optdef *own, const char *const *omit)
{
	setup(cli, co, prog, synopsis, description, own, omit);
}

void stp_cli_init_plain(struct stp_cli *cli, const char *prog, const char *synopsis,
			const char *description, const struct stp_optdef *own)
{
	setup(cli, NULL, prog, synopsis, description, own, NULL);
}

/* Without client options, only --help and --version are the loop's. */
static int take_plain(int c)
{
	return c == 'h' ? STP_CO_HELP : c == 'V' ? STP_CO_VERSION : STP_CO_NOT_MINE;
}

int stp_cli_next(struct stp_cli *cli, int argc, char **argv)
{
	struct stp_err e;
	int c;

	while ((c = getopt_long(argc, argv, cli->g.shortopts, cli->g.longopts, NULL)) != -1) {
		switch (c) {
		case ':':
			stp_die_usage(cli->prog, "option '%s' needs an argument", argv[optind - 1]);
		case '?':
			stp_die_usage(cli->prog, "unknown option '%s'", argv[optind - 1]);
		}
		switch (cli->co ? stp_clientopts_take(cli->co, c, optarg, &e) : take_plain(c)) {
		case STP_CO_TAKEN:
			continue;
		case STP_CO_HELP:
			stp_usage(stdout, cli->prog, cli->synopsis, cli->description, cli->options);
			exit(0);
		case STP_CO_VERSION:
			printf("%s %s\n", cli->prog, STP_VERSION);
			exit(0);
		case STP_CO_NOT_MINE:
			return c;
		default:
			stp_die(cli->prog, &e);
		}
	}
	return -1;
}

void stp_cli_event(const struct stp_clientopts *co, const char *name, const struct stp_addr *a)
{
	char host[STP_ADDRSTRLEN];

	stp_addr_host(a, host, sizeof(host));
	struct stp_event_field v[] = { { "addr", host, 0 }, { "port", NULL, a->port } };
	stp_event_print(stderr, co->json, name, v, 2);
}

void stp_cli_event_sa(const struct stp_clientopts *co, const char *name, const struct sockaddr *sa)
{
	struct stp_addr a;

	if (stp_addr_from_sa(&a, sa) == 0)
		stp_cli_event(co, name, &a);
}
