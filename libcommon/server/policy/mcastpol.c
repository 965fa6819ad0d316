/* mcastpol.c - the multicast policy: groups and --mcast-allow entries. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"
#include "server/policy/mcastpol.h"

/* "N" or "N-M" into lo..hi (lo <= hi). Returns 0 or -1. */
static int parse_ports(const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[16], *dash;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (!buf[0] || stp_port_parse(buf, lo) < 0)
		return -1;
	*hi = *lo;
	if (dash && (!dash[1] || stp_port_parse(dash + 1, hi) < 0))
		return -1;
	return *lo <= *hi ? 0 : -1;
}

/* "ADDR[/LEN]" into r. Returns 0, or -1 with why set. */
static int parse_cidr(char *s, struct stp_mcast_rule *r, const char **why)
{
	char *slash = strchr(s, '/');
	unsigned max;

	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, s, r->a) == 1) {
		r->fam = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, s, r->a) == 1) {
		r->fam = 6;
		max = 128;
	} else {
		*why = "expected a numeric address or CIDR";
		return -1;
	}
	r->plen = max;
	if (slash) {
		char *end;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end || v > max) {
			*why = "bad prefix length";
			return -1;
		}
		r->plen = (unsigned)v;
	}
	return 0;
}

int stp_mcast_rule_parse(const char *s, struct stp_mcast_rule *r, const char *where,
			 struct stp_err *e)
{
	char buf[128], *p, *cidr, *portstr = NULL;
	const char *why = NULL;
	static const struct { const char *name; unsigned dir; } modes[] = {
		{ "recv", STP_MC_RECV }, { "send", STP_MC_SEND },
		{ "both", STP_MC_RECV | STP_MC_SEND },
	};

	memset(r, 0, sizeof(*r));
	r->phi = 65535;
	r->dir = STP_MC_RECV | STP_MC_SEND;
	if (strlen(s) >= sizeof(buf))
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%.40s...': too long", where, s);
	strcpy(buf, s);
	/* the mode: a last "/word" that is not a prefix length */
	p = strrchr(buf, '/');
	if (p && p[1] && (p[1] < '0' || p[1] > '9')) {
		size_t i;
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (strcmp(p + 1, modes[i].name) == 0)
				break;
		if (i == sizeof(modes) / sizeof(modes[0]))
			return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s': expected recv, send or "
					   "both after the last '/'", where, s);
		r->dir = modes[i].dir;
		*p = '\0';
	}
	cidr = buf;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || (close[1] && close[1] != ':'))
			return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s': expected [CIDR] or "
					   "[CIDR]:PORTS", where, s);
		*close = '\0';
		cidr = buf + 1;
		if (close[1] == ':')
			portstr = close + 2;
	} else {
		char *colon = strchr(buf, ':');
		/* one colon: IPv4:PORTS; more: a bare IPv6 CIDR */
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			portstr = colon + 1;
		}
	}
	if (parse_cidr(cidr, r, &why) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s': %s", where, s, why);
	if (portstr && parse_ports(portstr, &r->plo, &r->phi) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s: '%s': expected PORT or PORT-PORT "
				   "after ':'", where, s);
	return 0;
}

static bool rule_matches(const struct stp_mcast_rule *r, const struct stp_addr *g)
{
	const uint8_t *a;
	unsigned full, rest;

	if (g->atyp == STP_ATYP_IPV4 && r->fam == 4)
		a = g->u.v4;
	else if (g->atyp == STP_ATYP_IPV6 && r->fam == 6)
		a = g->u.v6;
	else
		return false;
	if (g->port < r->plo || g->port > r->phi)
		return false;
	full = r->plen / 8;
	rest = r->plen % 8;
	if (memcmp(a, r->a, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((a[full] & mask) != (r->a[full] & mask))
			return false;
	}
	return true;
}

unsigned stp_mcast_granted(const struct stp_mcast_rule *r, int n, const struct stp_addr *group)
{
	unsigned dir = 0;

	if (n == 0)
		return STP_MC_RECV | STP_MC_SEND;
	for (int i = 0; i < n; i++)
		if (rule_matches(&r[i], group))
			dir |= r[i].dir;
	return dir;
}
