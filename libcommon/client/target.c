/* target.c - HOST PORT, HOST:PORT, [V6]:PORT and service names (target.h). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "client/target.h"
#include "proto/addr.h"

int stp_port_lookup(const char *s, const char *proto, uint16_t *port)
{
	struct servent *se;

	if (stp_port_parse(s, port) == 0)
		return *port ? 0 : -1;
	/* a name that could be mistaken for a number never gets here */
	if (!*s || strlen(s) > 64 || !(se = getservbyname(s, proto)))
		return -1;
	*port = ntohs((uint16_t)se->s_port);
	return *port ? 0 : -1;
}

/* host without its brackets into out; -1 for an unclosed one or a host
 * that does not fit. */
static int unbracket(const char *h, size_t len, char *out, size_t cap)
{
	if (len && h[0] == '[') {
		if (len < 3 || h[len - 1] != ']')
			return -1;
		h++;
		len -= 2;
	}
	if (len == 0 || len >= cap)
		return -1;
	memcpy(out, h, len);
	out[len] = '\0';
	return 0;
}

int stp_target_parse(int nargs, char *const *args, const char *proto, char *host, size_t cap,
		     uint16_t *port, struct stp_err *e)
{
	const char *s = args[0], *colon;

	if (nargs == 2) {
		if (unbracket(s, strlen(s), host, cap) < 0)
			return stp_err_set(e, STP_EXIT_USAGE, "bad host '%.60s'", s);
		if (stp_port_lookup(args[1], proto, port) < 0)
			return stp_err_set(e, STP_EXIT_USAGE, "bad port '%.60s' (a number 1-65535 or "
					   "a service name such as ssh)", args[1]);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return stp_err_set(e, STP_EXIT_USAGE, "unclosed '[' in '%.60s'", s);
		if (close[1] != ':')
			return stp_err_set(e, STP_EXIT_USAGE, "missing PORT after HOST '%.60s' "
					   "(write [V6]:PORT or HOST PORT)", s);
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			return stp_err_set(e, STP_EXIT_USAGE, "'%.60s': an IPv6 address with a port "
					   "goes in brackets: [V6]:PORT", s);
		if (!colon)
			return stp_err_set(e, STP_EXIT_USAGE, "missing PORT after HOST '%.60s' "
					   "(write HOST PORT or HOST:PORT)", s);
	}
	if (unbracket(s, (size_t)(colon - s), host, cap) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "bad host in '%.60s'", s);
	if (stp_port_lookup(colon + 1, proto, port) < 0)
		return stp_err_set(e, STP_EXIT_USAGE, "bad port '%.60s' (a number 1-65535 or "
				   "a service name such as ssh)", colon + 1);
	return 0;
}
