/* die.c - fatal messages and warnings for main(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/die.h"

void stp_die(const char *prog, const struct stp_err *e)
{
	if (e->code == STP_EXIT_USAGE)
		fprintf(stderr, "%s: %s; try '%s --help'\n", prog, e->msg, prog);
	else
		fprintf(stderr, "%s: %s\n", prog, e->msg);
	exit(e->code ? e->code : STP_EXIT_FAIL);
}

void stp_die_usage(const char *prog, const char *fmt, ...)
{
	struct stp_err e = { STP_EXIT_USAGE, "" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	stp_die(prog, &e);
}

void stp_warn(const char *prog, const char *fmt, ...)
{
	char line[STP_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog, line);
}

void stp_warn_err(const char *prog, const struct stp_err *e)
{
	stp_warn(prog, "%s", e->msg);
}
