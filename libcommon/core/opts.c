/* opts.c - option tables: getopt_long's arrays, --help, checked numbers. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/opts.h"

int stp_optdefs_join(struct stp_optdef *out, size_t cap, const struct stp_optdef *own,
		     const struct stp_optdef *shared)
{
	size_t n = 0;

	for (const struct stp_optdef *t[2] = { own, shared }, **p = t; p < t + 2; p++)
		for (const struct stp_optdef *d = *p; d && d->name; d++) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = *d;
		}
	out[n] = (struct stp_optdef)STP_OPT_END;
	return 0;
}

/* Returns 0, or -1 if defs has more than STP_OPTS_MAX entries. */
int stp_getopt_init(struct stp_getopt *g, const struct stp_optdef *defs)
{
	size_t n = 0, s = 0;

	memset(g, 0, sizeof(*g));
	g->shortopts[s++] = ':';  /* report a missing argument apart from an unknown option */
	for (const struct stp_optdef *d = defs; d->name; d++, n++) {
		if (n >= STP_OPTS_MAX)
			return -1;
		g->longopts[n].name = d->name;
		g->longopts[n].has_arg = d->arg ? required_argument : no_argument;
		g->longopts[n].val = d->key;
		if (d->key < 256) {
			g->shortopts[s++] = (char)d->key;
			if (d->arg)
				g->shortopts[s++] = ':';
		}
	}
	return 0;
}

void stp_usage(FILE *f, const char *prog, const char *synopsis,
	       const char *description, const struct stp_optdef *defs)
{
	fprintf(f, "usage: %s %s\n\n%s\n\noptions:\n", prog, synopsis, description);
	for (const struct stp_optdef *d = defs; d->name; d++) {
		char left[64];
		if (d->key < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->key, d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		/* one line per option, always: the drift test and grep rely on it */
		fprintf(f, "  %-30s  %s\n", left, d->help);
	}
}

/* Returns 0, or -1 with a usage error naming optname. */
int stp_parse_long(const char *s, long min, long max, long *out,
		   const char *optname, struct stp_err *e)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: not a number: '%s'", optname, s);
	if (v < min || v > max)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %ld is out of range %ld..%ld",
				   optname, v, min, max);
	*out = v;
	return 0;
}

/* Writes n for a message, with the largest suffix that divides it exactly
 * ("1T", "64k", "1000"). Returns buf. */
static const char *bytes_shown(long n, char *buf, size_t cap)
{
	static const char suffix[] = "kMGT";
	int i = -1;

	while (i < 3 && n != 0 && n % 1024 == 0) {
		n /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, cap, "%ld", n);
	else
		snprintf(buf, cap, "%ld%c", n, suffix[i]);
	return buf;
}

/* Returns 0, or -1 with a usage error naming optname. */
int stp_parse_bytes(const char *s, long min, long max, long *out,
		    const char *optname, struct stp_err *e)
{
	char *end, lo[32], hi[32];
	double v, mul = 1;

	errno = 0;
	v = strtod(s, &end);
	/* strtod also takes blanks, signs, hex, "inf" and "nan": only decimal
	 * digits, a point and an exponent here */
	if ((!isdigit((unsigned char)*s) && *s != '.') ||
	    strspn(s, "0123456789.eE+-") < (size_t)(end - s))
		end = (char *)s;
	switch (end == s ? '\0' : *end) {
	case 'k': case 'K': mul = 1024; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	}
	if (end == s || *end || errno)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: not a number of bytes "
				   "(such as 200000, 200k or 1.5M): '%s'", optname, s);
	v *= mul;
	/* !(v <= max) also refuses what a long cannot hold */
	if (v < (double)min || !(v <= (double)max) || v >= 0x1p63)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %s is out of range %s..%s", optname, s,
				   bytes_shown(min, lo, sizeof(lo)), bytes_shown(max, hi, sizeof(hi)));
	*out = (long)v;
	return 0;
}

/* Returns 0 with *ms, or -1 with a usage error naming optname. */
int stp_parse_secs(const char *s, long max_secs, long *ms,
		   const char *optname, struct stp_err *e)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || v != v)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: not a number of seconds: '%s'",
				   optname, s);
	if (v < 0 || v > (double)max_secs)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: %s is out of range 0..%ld seconds",
				   optname, s, max_secs);
	*ms = (long)(v * 1000.0 + 0.5);
	return 0;
}
