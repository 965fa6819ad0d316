/* socks4.c - SOCKS4 and SOCKS4a codec (PROTOCOL.md §2). Pure functions: no
 * I/O, no malloc. The command byte is not judged here: the server answers
 * what it does not do with 91, as for SOCKS5's reply 7. */
#include <string.h>
#include "proto/socks.h"

#define SOCKS4_VER 4
#define SOCKS4_REPLY_VER 0
#define SOCKS4_HDR 8     /* VN|CD|DSTPORT|DSTIP */
#define SOCKS4_STR_MAX 255

/* Reads a NUL-terminated string of at most 255 bytes into out (256 bytes).
 * Returns bytes consumed (NUL included), 0 for more, -1 when no NUL comes
 * within 256 bytes. */
static ssize_t cstr_get(const uint8_t *b, size_t n, char *out)
{
	size_t have = n < SOCKS4_STR_MAX + 1 ? n : SOCKS4_STR_MAX + 1;
	const uint8_t *nul = memchr(b, 0, have);
	size_t len;

	if (!nul)
		return have > SOCKS4_STR_MAX ? -1 : 0;
	len = (size_t)(nul - b);
	memcpy(out, b, len);
	out[len] = '\0';
	return (ssize_t)len + 1;
}

/* 4a marks a name to follow with DSTIP 0.0.0.x, x != 0. */
static int is_socks4a(const uint8_t *ip)
{
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

/* Returns 0 for more, -1 for VN != 4, a USERID or HOSTNAME over 255 bytes, or
 * an empty 4a HOSTNAME. */
ssize_t stp4_request_get(const uint8_t *b, size_t n, struct stp4_request *r)
{
	struct stp4_request t;
	size_t off = SOCKS4_HDR;
	ssize_t k;

	if (n < 1)
		return 0;
	if (b[0] != SOCKS4_VER)
		return -1;
	if (n < SOCKS4_HDR)
		return 0;
	memset(&t, 0, sizeof(t));
	t.cmd = b[1];
	t.addr.port = (uint16_t)(b[2] << 8 | b[3]);
	k = cstr_get(b + off, n - off, t.userid);
	if (k <= 0)
		return k;
	off += (size_t)k;
	if (is_socks4a(b + 4)) {
		t.addr.atyp = STP_ATYP_NAME;
		k = cstr_get(b + off, n - off, t.addr.u.name);
		if (k <= 0)
			return k;
		if (k == 1)
			return -1;
		t.addr.namelen = (uint8_t)(k - 1);
		off += (size_t)k;
	} else {
		t.addr.atyp = STP_ATYP_IPV4;
		memcpy(t.addr.u.v4, b + 4, 4);
	}
	*r = t;
	return (ssize_t)off;
}

/* Returns 0 for a short cap, a USERID over 255 bytes, or a dst that is
 * neither IPv4 nor a valid name (SOCKS4 has no IPv6). */
size_t stp4_request_put(uint8_t *out, size_t cap, uint8_t cmd,
			const struct stp_addr *dst, const char *userid)
{
	size_t ulen, len;

	if (!dst || !stp_addr_wire_len(dst) || dst->atyp == STP_ATYP_IPV6)
		return 0;
	if (!userid)
		userid = "";
	ulen = strnlen(userid, SOCKS4_STR_MAX + 1);
	if (ulen > SOCKS4_STR_MAX)
		return 0;
	len = SOCKS4_HDR + ulen + 1;
	if (dst->atyp == STP_ATYP_NAME)
		len += (size_t)dst->namelen + 1;
	if (cap < len)
		return 0;

	out[0] = SOCKS4_VER;
	out[1] = cmd;
	out[2] = dst->port >> 8;
	out[3] = dst->port & 0xff;
	if (dst->atyp == STP_ATYP_NAME) {
		static const uint8_t mark[4] = { 0, 0, 0, 1 };

		memcpy(out + 4, mark, 4);
	} else {
		memcpy(out + 4, dst->u.v4, 4);
	}
	memcpy(out + SOCKS4_HDR, userid, ulen + 1);
	if (dst->atyp == STP_ATYP_NAME) {
		memcpy(out + SOCKS4_HDR + ulen + 1, dst->u.name, dst->namelen);
		out[len - 1] = '\0';
	}
	return len;
}

/* Returns 0 for more, -1 for VN != 0. cd and addr may be NULL. */
ssize_t stp4_reply_get(const uint8_t *b, size_t n, uint8_t *cd, struct stp_addr *addr)
{
	if (n < 1)
		return 0;
	if (b[0] != SOCKS4_REPLY_VER)
		return -1;
	if (n < SOCKS4_HDR)
		return 0;
	if (cd)
		*cd = b[1];
	if (addr) {
		memset(addr, 0, sizeof(*addr));
		addr->atyp = STP_ATYP_IPV4;
		addr->port = (uint16_t)(b[2] << 8 | b[3]);
		memcpy(addr->u.v4, b + 4, 4);
	}
	return SOCKS4_HDR;
}

/* Returns 0 for a short cap or a non-IPv4 addr; addr NULL means 0.0.0.0:0. */
size_t stp4_reply_put(uint8_t *out, size_t cap, uint8_t cd, const struct stp_addr *addr)
{
	if (cap < SOCKS4_HDR || (addr && addr->atyp != STP_ATYP_IPV4))
		return 0;
	out[0] = SOCKS4_REPLY_VER;
	out[1] = cd;
	if (addr) {
		out[2] = addr->port >> 8;
		out[3] = addr->port & 0xff;
		memcpy(out + 4, addr->u.v4, 4);
	} else {
		memset(out + 2, 0, 6);
	}
	return SOCKS4_HDR;
}
