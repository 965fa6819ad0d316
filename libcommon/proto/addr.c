/* addr.c - address text and conversions shared by clients and server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/addr.h"

/* Returns 0 and the port, or -1 if s is not a whole decimal 0..65535. */
int stp_port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Returns 0, or -1 with a usage error naming what is wrong in s. */
int stp_hostport_split(const char *s, char *host, size_t hostcap, uint16_t *port,
		       int default_port, bool port_only_ok, struct stp_err *e)
{
	const char *h = s, *hend, *colon = NULL;

	if (port_only_ok && stp_port_parse(s, port) == 0) {
		host[0] = '\0';
		return 0;
	}
	if (*s == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend)
			return stp_err_set(e, STP_EXIT_USAGE, "unclosed '[' in '%s'", s);
		if (hend[1] == ':')
			colon = hend + 1;
		else if (hend[1] != '\0')
			return stp_err_set(e, STP_EXIT_USAGE, "junk after ']' in '%s'", s);
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return stp_err_set(e, STP_EXIT_USAGE,
					   "IPv6 address needs brackets: '[%s]'", s);
		hend = colon ? colon : s + strlen(s);
	}
	if (hend == h)
		return stp_err_set(e, STP_EXIT_USAGE, "empty host in '%s'", s);
	if ((size_t)(hend - h) >= hostcap)
		return stp_err_set(e, STP_EXIT_USAGE, "host too long in '%s'", s);
	if (colon) {
		if (stp_port_parse(colon + 1, port) < 0)
			return stp_err_set(e, STP_EXIT_USAGE, "bad port '%s' in '%s'",
					   colon + 1, s);
	} else if (default_port >= 0) {
		*port = (uint16_t)default_port;
	} else {
		return stp_err_set(e, STP_EXIT_USAGE, "missing port in '%s'", s);
	}
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	return 0;
}

/* Returns 0, or -1 if a name is longer than 255 bytes or empty. */
int stp_addr_from_host(struct stp_addr *a, const char *host, uint16_t port)
{
	size_t n = strlen(host);

	memset(a, 0, sizeof(*a));
	a->port = port;
	if (inet_pton(AF_INET, host, a->u.v4) == 1) {
		a->atyp = STP_ATYP_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, a->u.v6) == 1) {
		a->atyp = STP_ATYP_IPV6;
		return 0;
	}
	if (n == 0 || n > 255)
		return -1;
	a->atyp = STP_ATYP_NAME;
	a->namelen = (uint8_t)n;
	memcpy(a->u.name, host, n + 1);
	return 0;
}

/* Returns the sockaddr length, or 0 for a name or an invalid ATYP. */
socklen_t stp_addr_to_sa(const struct stp_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->atyp == STP_ATYP_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->u.v4, 4);
		return sizeof(*sin);
	}
	if (a->atyp == STP_ATYP_IPV6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->u.v6, 16);
		return sizeof(*sin6);
	}
	return 0;
}

/* Returns 0, or -1 for a family other than AF_INET/AF_INET6. */
int stp_addr_from_sa(struct stp_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		a->atyp = STP_ATYP_IPV4;
		memcpy(a->u.v4, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a->atyp = STP_ATYP_IPV4;
			memcpy(a->u.v4, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			a->atyp = STP_ATYP_IPV6;
			memcpy(a->u.v6, &sin6->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

/* Returns buf holding the host part of a ("?" for an invalid ATYP). */
const char *stp_addr_host(const struct stp_addr *a, char *buf, size_t cap)
{
	switch (a->atyp) {
	case STP_ATYP_IPV4:
		return inet_ntop(AF_INET, a->u.v4, buf, (socklen_t)cap) ? buf : "?";
	case STP_ATYP_IPV6:
		return inet_ntop(AF_INET6, a->u.v6, buf, (socklen_t)cap) ? buf : "?";
	case STP_ATYP_NAME:
		snprintf(buf, cap, "%s", a->u.name);
		return buf;
	}
	snprintf(buf, cap, "?");
	return buf;
}

/* Returns buf holding "host:port", IPv6 in brackets. */
const char *stp_addr_str(const struct stp_addr *a, char *buf, size_t cap)
{
	char h[STP_HOSTPORT_MAX];

	stp_addr_host(a, h, sizeof(h));
	if (a->atyp == STP_ATYP_IPV6)
		snprintf(buf, cap, "[%s]:%u", h, a->port);
	else
		snprintf(buf, cap, "%s:%u", h, a->port);
	return buf;
}

const char *stp_sa_host(const struct sockaddr *sa, char *buf, size_t cap)
{
	struct stp_addr a;

	if (stp_addr_from_sa(&a, sa) < 0) {
		snprintf(buf, cap, "?");
		return buf;
	}
	return stp_addr_host(&a, buf, cap);
}

const char *stp_sa_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	struct stp_addr a;

	if (stp_addr_from_sa(&a, sa) < 0) {
		snprintf(buf, cap, "?");
		return buf;
	}
	return stp_addr_str(&a, buf, cap);
}

uint16_t stp_sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool stp_sa_is_loopback(const struct sockaddr *sa)
{
	struct stp_addr a;

	if (stp_addr_from_sa(&a, sa) < 0)
		return false;
	if (a.atyp == STP_ATYP_IPV4)
		return a.u.v4[0] == 127;
	return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a.u.v6);
}

/* connect(2) and sendto(2) take 0.0.0.0 and :: (::ffff:0.0.0.0 too) for
 * the local host and deliver on loopback. */
socklen_t stp_sa_target(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	struct stp_addr a;

	if (stp_addr_from_sa(&a, sa) < 0)
		return 0;
	if (stp_addr_is_zero(&a)) {
		if (a.atyp == STP_ATYP_IPV4) {
			a.u.v4[0] = 127;
			a.u.v4[3] = 1;
		} else {
			a.u.v6[15] = 1;
		}
	}
	return stp_addr_to_sa(&a, out);
}

/* Returns 0, or -1 if host is not a numeric IPv4/IPv6 address. */
int stp_sa_from_numeric(struct sockaddr_storage *ss, socklen_t *len,
			const char *host, uint16_t port)
{
	struct stp_addr a;

	if (stp_addr_from_host(&a, host, port) < 0 || a.atyp == STP_ATYP_NAME)
		return -1;
	*len = stp_addr_to_sa(&a, ss);
	return 0;
}

bool stp_addr_is_zero(const struct stp_addr *a)
{
	static const uint8_t zero[16];

	if (a->atyp == STP_ATYP_IPV4)
		return memcmp(a->u.v4, zero, 4) == 0;
	if (a->atyp == STP_ATYP_IPV6)
		return memcmp(a->u.v6, zero, 16) == 0;
	return false;
}

void stp_sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

bool stp_mcast_is_group(const struct stp_addr *a)
{
	if (a->atyp == STP_ATYP_IPV4)
		return (a->u.v4[0] & 0xf0) == 0xe0;
	if (a->atyp == STP_ATYP_IPV6)
		return a->u.v6[0] == 0xff;
	return false;
}
