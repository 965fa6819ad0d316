/* opts.h - each program declares its options once, in a table; getopt_long,
 * --help and the drift test (tests/docs.bats) all read that table. */
#ifndef STP_OPTS_H
#define STP_OPTS_H

#include <stdio.h>
#include <getopt.h>

struct stp_optdef {
	int key;           /* short letter, or a value >= 256 for long-only options */
	const char *name;  /* long name without the dashes */
	const char *arg;   /* argument shown in --help ("URL"), NULL for a flag */
	const char *help;  /* one line */
};
#define STP_OPT_END { 0, NULL, NULL, NULL }

/* Longest table any program has. */
#define STP_OPTS_MAX 64

struct stp_getopt {
	struct option longopts[STP_OPTS_MAX + 1];
	char shortopts[STP_OPTS_MAX * 2 + 2];
};

/* Joins a program's own options and a shared table (e.g. the client
 * options) into out, own first. Returns 0, or -1 if they do not fit. */
int stp_optdefs_join(struct stp_optdef *out, size_t cap, const struct stp_optdef *own,
		     const struct stp_optdef *shared);

/* Builds getopt_long's tables from defs. Returns 0, or -1 if defs is too long. */
int stp_getopt_init(struct stp_getopt *g, const struct stp_optdef *defs);

/* Prints --help: "usage: PROG SYNOPSIS", the description, then one line per
 * option in this exact shape (the drift test parses it):
 *   "  -x, --proxy URL           the proxy ..."
 *   "      --json                one JSON object per line"  */
void stp_usage(FILE *f, const char *prog, const char *synopsis,
	       const char *description, const struct stp_optdef *defs);

/* Checked number parsing: the whole string, within [min, max]. Returns 0,
 * or -1 with e filled as a usage error naming the option. */
#include "proto/err.h"
int stp_parse_long(const char *s, long min, long max, long *out,
		   const char *optname, struct stp_err *e);
/* A number of bytes: decimal, possibly fractional ("1.5M"), with an
 * optional suffix k, M or G in either case (K = 1024), within [min, max]
 * after the suffix. Returns 0, or -1 with a usage error naming optname. */
#define STP_BYTES_MAX (1L << 40)  /* 1T: the most a size or rate option takes */
int stp_parse_bytes(const char *s, long min, long max, long *out,
		    const char *optname, struct stp_err *e);
/* Seconds, possibly fractional ("2.5"), in [0, max]; result in ms. */
int stp_parse_secs(const char *s, long max_secs, long *ms,
		   const char *optname, struct stp_err *e);

#endif
