/* dgramcli.h - for main() only: the command line stp-udp and stp-mcast
 * share: --format and --wait, the operands "HOST PORT" (or "GROUP PORT"),
 * and a target that only a proxy can reach. Dies on usage errors, as
 * cli.h does. */
#ifndef STP_DGRAMCLI_H
#define STP_DGRAMCLI_H

#include <stdbool.h>
#include <stdint.h>
#include "client/clientopts.h"
#include "proto/dgram.h"

/* The keys of --tcp, --format and --wait in the programs' option tables;
 * --wait's help differs between them, the others' do not. */
enum { STP_DGRAM_OPT_TCP = 0x2000, STP_DGRAM_OPT_FORMAT, STP_DGRAM_OPT_WAIT };
#define STP_DGRAM_OPTDEF_TCP \
	{ STP_DGRAM_OPT_TCP, "tcp", NULL, "carry the datagrams on the TCP connection to the proxy" }
#define STP_DGRAM_OPTDEF_FORMAT \
	{ STP_DGRAM_OPT_FORMAT, "format", "FORMAT", \
	  "datagrams on stdin/stdout: line, raw, hex or json (default line)" }

struct stp_dgram_cli {
	bool tcp;                 /* --tcp: datagrams on the TCP connection */
	enum stp_dgram_fmt fmt;   /* --format (default line; --json: json) */
	bool format_set;
	long wait_ms;             /* --wait (default 1 s) */
};

/* The defaults: UDP, line format, 1 s wait. */
void stp_dgram_cli_init(struct stp_dgram_cli *d);

/* Takes option key with its argument when it is --tcp, --format or --wait:
 * returns true (dying on a bad value), or false for any other key. */
bool stp_dgram_cli_take(const char *prog, struct stp_dgram_cli *d, int key, const char *arg);

/* The nargs operands args: "WHAT PORT" (port 1-65535), or none when
 * optional. Dies on too many, a WHAT without PORT, none, or a bad port.
 * Returns the WHAT operand with *port, or NULL when there are none. */
const char *stp_dgram_cli_operands(const char *prog, int nargs, char **args, const char *what,
				   bool optional, uint16_t *port);

/* Finishes the common options for target (clientopts_finish), dying on an
 * error and on a target to be reached directly, since `does` ("stp-udp
 * sends") only through a proxy; --json without --format means json. */
void stp_dgram_cli_finish(const char *prog, struct stp_clientopts *co, struct stp_dgram_cli *d,
			  const char *target, const char *does);

#endif
