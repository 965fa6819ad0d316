/* scope.c - address scopes and the relay address check (scope.h). */
#include <stdbool.h>
#include <string.h>

#include "proto/scope.h"

/* a's IPv4 bytes in v4 (v4-mapped IPv6 too): true, else false. */
static bool as_v4(const struct stp_addr *a, uint8_t v4[4])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (a->atyp == STP_ATYP_IPV4) {
		memcpy(v4, a->u.v4, 4);
		return true;
	}
	if (a->atyp == STP_ATYP_IPV6 && memcmp(a->u.v6, mapped, 12) == 0) {
		memcpy(v4, a->u.v6 + 12, 4);
		return true;
	}
	return false;
}

static enum stp_scope scope4(const uint8_t b[4])
{
	if (!b[0] && !b[1] && !b[2] && !b[3])
		return STP_SCOPE_UNSPEC;
	if (b[0] == 127)
		return STP_SCOPE_LOOPBACK;
	if (b[0] == 169 && b[1] == 254)
		return STP_SCOPE_LINK;
	if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
	    (b[0] == 100 && (b[1] & 0xc0) == 64))
		return STP_SCOPE_PRIVATE;
	return STP_SCOPE_PUBLIC;
}

static enum stp_scope scope6(const uint8_t b[16])
{
	static const uint8_t zero[16], one[16] = { [15] = 1 };

	if (memcmp(b, zero, 16) == 0)
		return STP_SCOPE_UNSPEC;
	if (memcmp(b, one, 16) == 0)
		return STP_SCOPE_LOOPBACK;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return STP_SCOPE_LINK;
	if ((b[0] & 0xfe) == 0xfc)
		return STP_SCOPE_PRIVATE;
	return STP_SCOPE_PUBLIC;
}

enum stp_scope stp_addr_scope(const struct stp_addr *a)
{
	uint8_t v4[4];

	if (as_v4(a, v4))
		return scope4(v4);
	if (a->atyp == STP_ATYP_IPV6)
		return scope6(a->u.v6);
	return STP_SCOPE_NAME;
}

/* A relay of a narrower scope than the proxy's own address is out of the
 * client's reach: the proxy named the address of a network the client is
 * not on (its NAT's inside, its own host). The same or a wider scope may
 * well be reachable, and is left alone. */
const char *stp_relay_unroutable(const struct stp_addr *relay, const struct stp_addr *proxy)
{
	enum stp_scope r = stp_addr_scope(relay), p;

	if (r == STP_SCOPE_UNSPEC)
		return "unspecified";
	if (!proxy || r == STP_SCOPE_NAME)
		return NULL;
	p = stp_addr_scope(proxy);
	if (p == STP_SCOPE_NAME || p == STP_SCOPE_UNSPEC)
		return NULL;
	if (r == STP_SCOPE_LOOPBACK && p != STP_SCOPE_LOOPBACK)
		return "a loopback address";
	if (r == STP_SCOPE_LINK && p > STP_SCOPE_LINK)
		return "a link-local address";
	if (r == STP_SCOPE_PRIVATE && p == STP_SCOPE_PUBLIC)
		return "a private address";
	return NULL;
}
