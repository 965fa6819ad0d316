/* httploop.c - a request back into this proxy, by name (httploop.h). */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/addr.h"
#include "server/httploop.h"
#include "server/server_priv.h"

/* True when name (len bytes, no NUL needed) is host, in any case, with or
 * without one trailing dot. */
static bool same_name(const char *name, size_t len, const char *host)
{
	size_t hl = strlen(host);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	return len == hl && len > 0 && strncasecmp(name, host, len) == 0;
}

/* True for "localhost" and names under it (RFC 6761 §6.3: always loopback). */
static bool is_localhost(const char *name, size_t len)
{
	static const char sfx[] = ".localhost";

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (same_name(name, len, "localhost"))
		return true;
	return len > sizeof(sfx) - 1 &&
	       strncasecmp(name + len - (sizeof(sfx) - 1), sfx, sizeof(sfx) - 1) == 0;
}

bool http_loops_by_name(const struct stp_server *s, const struct stp_addr *dst)
{
	char me[256];
	bool have_me = gethostname(me, sizeof(me)) == 0;

	me[sizeof(me) - 1] = '\0';
	for (int i = 0; i < s->nls; i++) {
		const struct sockaddr *l = (const struct sockaddr *)&s->ls[i].addr;
		struct stp_addr la;
		if (stp_sa_port(l) != dst->port || stp_addr_from_sa(&la, l) < 0)
			continue;
		if (dst->atyp != STP_ATYP_NAME) {
			/* an --advertise address stands for this server */
			for (int k = 0; k < 2; k++) {
				struct stp_addr adv;
				const struct sockaddr *a = (const struct sockaddr *)&s->cfg.advertise[k];
				if (!a->sa_family || stp_addr_from_sa(&adv, a) < 0 ||
				    adv.atyp != dst->atyp)
					continue;
				size_t n = adv.atyp == STP_ATYP_IPV4 ? 4 : 16;
				if (memcmp(adv.atyp == STP_ATYP_IPV4 ? adv.u.v4 : adv.u.v6,
					   dst->atyp == STP_ATYP_IPV4 ? dst->u.v4 : dst->u.v6, n) == 0)
					return true;
			}
			continue;
		}
		size_t len = dst->namelen;
		if (is_localhost(dst->u.name, len) &&
		    (stp_addr_is_zero(&la) || stp_sa_is_loopback(l)))
			return true;
		if (have_me && same_name(dst->u.name, len, me))
			return true;
	}
	return false;
}
