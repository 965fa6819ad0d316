/* cli.h - for main() only: the option loop every program shares. It joins
 * the program's own options with the common client options (clientopts.h)
 * or, for a program that is no client, with just --help and --version;
 * takes the common ones, prints --help and --version and exits, and dies
 * with a usage error on an unknown option or a missing argument; the
 * program sees only its own options. */
#ifndef STP_CLI_H
#define STP_CLI_H

#include "client/clientopts.h"
#include "core/opts.h"

struct stp_cli {
	const char *prog, *synopsis, *description;
	struct stp_optdef options[STP_OPTS_MAX];
	struct stp_getopt g;
	struct stp_clientopts *co;    /* NULL: no client options */
};

/* The loop for a client program: own, then every client option, into co. */
void stp_cli_init(struct stp_cli *cli, struct stp_clientopts *co, const char *prog,
		  const char *synopsis, const char *description, const struct stp_optdef *own);
/* The same without the client options named in omit (long names, NULL
 * at the end), for a program that has no use for them. */
void stp_cli_init_except(struct stp_cli *cli, struct stp_clientopts *co, const char *prog,
			 const char *synopsis, const char *description,
			 const struct stp_optdef *own, const char *const *omit);
/* The loop for a program that is no client (stp-serve): own, then -h,
 * --help and -V, --version, which the program must not use itself. */
void stp_cli_init_plain(struct stp_cli *cli, const char *prog, const char *synopsis,
			const char *description, const struct stp_optdef *own);

/* The next of the program's own options (its key; optarg as getopt sets
 * it), or -1 when the options end (optind then points at the operands). */
int stp_cli_next(struct stp_cli *cli, int argc, char **argv);

/* An event line on stderr: "NAME ADDR PORT", or with --json
 * {"event":"NAME","addr":"ADDR","port":PORT} (scripts wait for these). */
void stp_cli_event(const struct stp_clientopts *co, const char *name, const struct stp_addr *a);
void stp_cli_event_sa(const struct stp_clientopts *co, const char *name, const struct sockaddr *sa);

#endif
