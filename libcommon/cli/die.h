/* die.h - for main() only: the one-line fatal messages of SPEC §2.3
 * ("PROG: what failed: why", usage errors ending in "try 'PROG --help'"),
 * then exit with the error's code. Library code never calls these. */
#ifndef STP_DIE_H
#define STP_DIE_H

#include "proto/err.h"

__attribute__((noreturn)) void stp_die(const char *prog, const struct stp_err *e);
__attribute__((noreturn, format(printf, 2, 3)))
void stp_die_usage(const char *prog, const char *fmt, ...);

/* A message that is not fatal (a session failed, a report could not be
 * written): "PROG: what failed: why" on stderr, and main goes on or
 * picks its exit code itself. */
__attribute__((format(printf, 2, 3)))
void stp_warn(const char *prog, const char *fmt, ...);
/* The same for an error value: "PROG: e->msg". */
void stp_warn_err(const char *prog, const struct stp_err *e);

#endif
