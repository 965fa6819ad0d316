/* dnspick.c - see dnspick.h. */
#include <string.h>

#include "proto/dns.h"
#include "proto/dnspick.h"

/* Fills out from an A/AAAA record's RDATA. Returns 1, or 0 when its
 * length is not an address's. */
static int take_addr(const uint8_t *b, const struct stp_dns_rr *rr, struct stp_addr *out)
{
	size_t want = rr->type == STP_DNS_T_A ? 4 : 16;

	if (rr->rdlen != want)
		return 0;
	memset(out, 0, sizeof(*out));
	out->atyp = want == 4 ? STP_ATYP_IPV4 : STP_ATYP_IPV6;
	memcpy(want == 4 ? out->u.v4 : out->u.v6, b + rr->rdoff, want);
	return 1;
}

/* Fills out from a PTR record's name. Returns 1, 0 when it cannot be a
 * SOCKS name (empty, the root, over 255 bytes), -1 when malformed. */
static int take_name(const uint8_t *b, size_t n, const struct stp_dns_rr *rr,
		     struct stp_addr *out)
{
	char name[STP_DNS_NAMESTR + 2];
	size_t len;

	if (stp_dns_rdata_str(b, n, rr, name, sizeof(name)) < 0)
		return -1;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';  /* as c-ares gives it (cmd_resolve.c) */
	if (len == 0 || len > 255)
		return 0;
	memset(out, 0, sizeof(*out));
	out->atyp = STP_ATYP_NAME;
	out->namelen = (uint8_t)len;
	memcpy(out->u.name, name, len + 1);
	return 1;
}

int stp_dns_pick(const uint8_t *b, size_t n, uint16_t id, uint16_t qtype,
		 struct stp_addr *out, int *rcode)
{
	struct stp_dns_msg m;
	struct stp_dns_rr rr;
	size_t off;

	if (stp_dns_parse(b, n, &m) < 0 || m.id != id || !STP_DNS_QR(m.flags) ||
	    m.qdcount != 1 || m.qtype != qtype)
		return -1;
	*rcode = (int)STP_DNS_RCODE(m.flags);
	if (*rcode != STP_DNS_NOERROR)
		return 0;
	off = m.qend;
	/* a CNAME chain comes first; the first record of the type asked wins */
	for (unsigned i = 0; i < m.ancount; i++) {
		if (stp_dns_next_rr(b, n, &off, &rr) < 0)
			return -1;
		if (rr.type != qtype || rr.cls != 1)
			continue;
		int r = qtype == STP_DNS_T_PTR ? take_name(b, n, &rr, out) : take_addr(b, &rr, out);
		if (r != 0)
			return r;
	}
	return 0;
}
