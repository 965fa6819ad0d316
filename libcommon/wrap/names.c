/* names.c - the wrapped program's name lookups (wrap.h): a name becomes a
 * placeholder address (proto/placeholder.h) numbered by the agent, so no
 * DNS packet leaves the machine and the proxy resolves the name when the
 * program connects. Numeric addresses and localhost stay with libc.
 * Reverse lookups of placeholders give their names; other addresses get no
 * reverse DNS (that would leave the machine): their numeric form, or "no
 * name" where one is required. Every name looks up as existing: whether it
 * does is known only when the proxy tries to connect to it. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/placeholder.h"
#include "wrap/wrap.h"

#define EXPORT __attribute__((visibility("default")))

/* Whether this host has an IPv6 address beyond loopback and link-local. */
static bool have_ipv6(void)
{
	struct ifaddrs *ifa, *i;
	bool yes = false;

	if (getifaddrs(&ifa) < 0)
		return true;
	for (i = ifa; i && !yes; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			yes = !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a);
		}
	freeifaddrs(ifa);
	return yes;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	bool on = wrap_on();
	int fam = hints ? hints->ai_family : AF_UNSPEC;

	if (!wrap_real.getaddrinfo)
		return EAI_SYSTEM;
	if (!on || wrap_local_name(node) || (hints && (hints->ai_flags & AI_NUMERICHOST)) ||
	    (fam != AF_UNSPEC && fam != AF_INET && fam != AF_INET6))
		return wrap_real.getaddrinfo(node, service, hints, res);
	uint32_t n = wrap_name_number(node);
	if (!n)
		return EAI_AGAIN;
	/* libc parses the service and lays out the list for a numeric
	 * address of the family; then the placeholder takes its place. An
	 * unspecified family gets IPv4, then IPv6 (curl -6 asks for either
	 * and keeps the IPv6 ones), the latter left out under AI_ADDRCONFIG
	 * on a host without a global IPv6 address. */
	struct addrinfo h, *v6 = NULL;
	if (hints)
		h = *hints;
	else
		memset(&h, 0, sizeof(h));
	bool both = fam == AF_UNSPEC && !((h.ai_flags & AI_ADDRCONFIG) && !have_ipv6());
	h.ai_flags = (h.ai_flags | AI_NUMERICHOST) & ~(AI_ADDRCONFIG | AI_CANONNAME | AI_V4MAPPED | AI_ALL);
	h.ai_family = fam == AF_INET6 ? AF_INET6 : AF_INET;
	int r = wrap_real.getaddrinfo(h.ai_family == AF_INET6 ? "::1" : "127.0.0.1", service, &h, res);
	if (r != 0)
		return r;
	if (both) {
		h.ai_family = AF_INET6;
		if (wrap_real.getaddrinfo("::1", service, &h, &v6) != 0)
			v6 = NULL;
	}
	for (struct addrinfo *ai = *res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			stp_ph_make(AF_INET, n, &((struct sockaddr_in *)ai->ai_addr)->sin_addr);
		else if (ai->ai_family == AF_INET6)
			stp_ph_make(AF_INET6, n, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
		if (!ai->ai_next && v6) {
			ai->ai_next = v6;   /* freeaddrinfo frees node by node */
			v6 = NULL;
		}
	}
	/* freeaddrinfo frees ai_canonname */
	if (hints && (hints->ai_flags & AI_CANONNAME) && *res)
		(*res)->ai_canonname = strdup(node);
	return 0;
}

/* Whether sa is a loopback address (its reverse lookup stays local). */
static bool loopback_sa(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
		       char *serv, socklen_t servlen, int flags)
{
	bool on = wrap_on();
	uint32_t n;

	if (!wrap_real.getnameinfo)
		return EAI_SYSTEM;
	if (!on || !sa || !host || !hostlen || (flags & NI_NUMERICHOST) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || loopback_sa(sa))
		return wrap_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	n = stp_ph_number_sa(sa, salen);
	if (n) {
		char name[256];
		if (wrap_number_name(n, name, sizeof(name)) == 0) {
			if (strlen(name) >= hostlen)
				return EAI_OVERFLOW;
			if (serv && servlen) {
				int r = wrap_real.getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
				if (r != 0)
					return r;
			}
			memcpy(host, name, strlen(name) + 1);
			return 0;
		}
	}
	if (flags & NI_NAMEREQD)
		return EAI_NONAME;
	return wrap_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
}

/* Lays out a hostent for name with one address of family af in buf.
 * Returns 0, or ERANGE. */
static int fill_hostent(struct hostent *h, char *buf, size_t cap, const char *name, int af,
			const void *addr)
{
	size_t al = af == AF_INET ? 4 : 16, nl = strlen(name) + 1;
	uintptr_t p = ((uintptr_t)buf + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	size_t pad = p - (uintptr_t)buf;

	if (cap < pad + 3 * sizeof(char *) + al + nl)
		return ERANGE;
	char **list = (char **)p;          /* addr_list[0], NULL, aliases NULL */
	char *a = (char *)(list + 3), *nm = a + al;
	memcpy(a, addr, al);
	memcpy(nm, name, nl);
	list[0] = a;
	list[1] = NULL;
	list[2] = NULL;
	h->h_name = nm;
	h->h_aliases = &list[2];
	h->h_addrtype = af;
	h->h_length = (int)al;
	h->h_addr_list = list;
	return 0;
}

/* The answers of the calls without _r: one per thread, as glibc's are. */
static __thread struct {
	struct hostent h;
	char buf[512];
} tls_host;

/* gethostbyname2_r for a name of the agent. Returns 0 or an errno. */
static int host_by_name(const char *name, int af, struct hostent *ret, char *buf, size_t len,
			struct hostent **result, int *herr)
{
	uint8_t a[16];
	uint32_t n = wrap_name_number(name);

	*result = NULL;
	if (!n) {
		*herr = TRY_AGAIN;
		return EAGAIN;
	}
	stp_ph_make(af, n, a);
	if (fill_hostent(ret, buf, len, name, af, a) != 0) {
		*herr = NETDB_INTERNAL;
		return ERANGE;
	}
	*result = ret;
	*herr = 0;
	return 0;
}

static bool ours(const char *name, int af)
{
	return wrap_on() && !wrap_local_name(name) && (af == AF_INET || af == AF_INET6);
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len,
			    struct hostent **result, int *h_errnop)
{
	if (!ours(name, af))
		return wrap_real.gethostbyname2_r ?
			wrap_real.gethostbyname2_r(name, af, ret, buf, len, result, h_errnop) : ENOSYS;
	return host_by_name(name, af, ret, buf, len, result, h_errnop);
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
			   struct hostent **result, int *h_errnop)
{
	if (!ours(name, AF_INET))
		return wrap_real.gethostbyname_r ?
			wrap_real.gethostbyname_r(name, ret, buf, len, result, h_errnop) : ENOSYS;
	return host_by_name(name, AF_INET, ret, buf, len, result, h_errnop);
}

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *r;

	if (!ours(name, af))
		return wrap_real.gethostbyname2 ? wrap_real.gethostbyname2(name, af) : NULL;
	host_by_name(name, af, &tls_host.h, tls_host.buf, sizeof(tls_host.buf), &r, &h_errno);
	return r;
}

EXPORT struct hostent *gethostbyname(const char *name)
{
	struct hostent *r;

	if (!ours(name, AF_INET))
		return wrap_real.gethostbyname ? wrap_real.gethostbyname(name) : NULL;
	host_by_name(name, AF_INET, &tls_host.h, tls_host.buf, sizeof(tls_host.buf), &r, &h_errno);
	return r;
}

/* gethostbyaddr_r's work: a placeholder's name, loopback to libc, and
 * no reverse DNS for anything else. Returns 0, an errno, or -1 (libc's). */
static int host_by_addr(const void *addr, socklen_t len, int type, struct hostent *ret,
			char *buf, size_t buflen, struct hostent **result, int *herr)
{
	char name[256];
	uint32_t n;

	if (!wrap_on() || !addr || !((type == AF_INET && len == 4) || (type == AF_INET6 && len == 16)))
		return -1;
	if (type == AF_INET ? (((const uint8_t *)addr)[0] == 127) :
	    IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr))
		return -1;
	*result = NULL;
	n = stp_ph_number(type, addr);
	if (!n || wrap_number_name(n, name, sizeof(name)) < 0) {
		*herr = HOST_NOT_FOUND;
		return ENOENT;
	}
	if (fill_hostent(ret, buf, buflen, name, type, addr) != 0) {
		*herr = NETDB_INTERNAL;
		return ERANGE;
	}
	*result = ret;
	*herr = 0;
	return 0;
}

EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
			   char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
	int r = host_by_addr(addr, len, type, ret, buf, buflen, result, h_errnop);

	if (r >= 0)
		return r;
	return wrap_real.gethostbyaddr_r ?
		wrap_real.gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop) : ENOSYS;
}

EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *res;
	int r = host_by_addr(addr, len, type, &tls_host.h, tls_host.buf, sizeof(tls_host.buf),
			     &res, &h_errno);

	if (r >= 0)
		return res;
	return wrap_real.gethostbyaddr ? wrap_real.gethostbyaddr(addr, len, type) : NULL;
}
