/* proxyproto.c - the PROXY protocol header, v1 and v2, parsed strictly:
 * the address it carries becomes the client's for rules and limits, so
 * anything that is not exactly what the specification allows is refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proto/proxyproto.h"

static const uint8_t v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

static ssize_t fail(const char **why, const char *text)
{
	*why = text;
	return -1;
}

/* A v1 port: decimal 0..65535, no sign, no leading zero. Returns 0 or -1. */
static int v1_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* One v1 endpoint as a sockaddr of family fam. Returns 0 or -1. */
static int v1_endpoint(int fam, const char *addr, const char *port, struct sockaddr_storage *ss)
{
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	if (v1_port(port, &p) < 0)
		return -1;
	if (fam == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(p);
		return inet_pton(AF_INET, addr, &in->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(p);
	return inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1 ? 0 : -1;
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN[ ...]\r\n":
 * single spaces, nothing else. */
static ssize_t parse_v1(const uint8_t *buf, size_t len, struct stp_pp_hdr *h, const char **why)
{
	static const char sig[] = "PROXY ";
	size_t n = len < STP_PP_V1_MAX ? len : STP_PP_V1_MAX;
	size_t k = n < sizeof(sig) - 1 ? n : sizeof(sig) - 1;
	const uint8_t *cr, *lf;
	char line[STP_PP_V1_MAX + 1], *f[5], *p;
	int nf = 0;

	if (memcmp(buf, sig, k) != 0)
		return fail(why, "not a PROXY protocol header");
	cr = memchr(buf, '\r', n);
	lf = memchr(buf, '\n', cr ? (size_t)(cr - buf) : n);
	if (lf)
		return fail(why, "v1 line ends without CR");
	if (!cr)
		return len >= STP_PP_V1_MAX ? fail(why, "v1 line longer than 107 bytes") : 0;
	size_t end = (size_t)(cr - buf);  /* the line without CRLF */
	if (end + 2 > STP_PP_V1_MAX)
		return fail(why, "v1 line longer than 107 bytes");
	if (end + 1 >= len)
		return 0;
	if (buf[end + 1] != '\n')
		return fail(why, "v1 line ends without CR LF");
	if (memchr(buf, '\0', end))
		return fail(why, "v1 line holds a NUL byte");
	memcpy(line, buf, end);
	line[end] = '\0';

	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->cmd = STP_PP_PROXY;
	h->len = end + 2;
	p = line + sizeof(sig) - 1;
	/* UNKNOWN: whatever follows it is to be ignored */
	if (strncmp(p, "UNKNOWN", 7) == 0 && (p[7] == '\0' || p[7] == ' ')) {
		h->family = AF_UNSPEC;
		return (ssize_t)h->len;
	}
	for (;;) {
		if (nf == 5)
			return fail(why, "v1 line has too many fields");
		f[nf++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (nf != 5)
		return fail(why, "v1 line has too few fields");
	if (strcmp(f[0], "TCP4") == 0)
		h->family = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		h->family = AF_INET6;
	else
		return fail(why, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
	if (v1_endpoint(h->family, f[1], f[3], &h->src) < 0)
		return fail(why, "v1 source address or port is not valid");
	if (v1_endpoint(h->family, f[2], f[4], &h->dst) < 0)
		return fail(why, "v1 destination address or port is not valid");
	return (ssize_t)h->len;
}

/* The address block's size for a v2 family byte's high nibble. */
static size_t v2_addr_len(uint8_t fam)
{
	switch (fam >> 4) {
	case 1: return 12;   /* 2 x IPv4, 2 x port */
	case 2: return 36;   /* 2 x IPv6, 2 x port */
	case 3: return 216;  /* 2 x 108-byte UNIX path */
	}
	return 0;
}

/* Signature, 0x20|cmd, family<<4|transport, length, addresses, TLVs. Each
 * byte is judged as soon as it is there, so garbage is refused at once. */
static ssize_t parse_v2(const uint8_t *buf, size_t len, struct stp_pp_hdr *h, const char **why)
{
	size_t k = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	uint8_t cmd = 0, fam = 0;
	size_t plen;

	if (memcmp(buf, v2_sig, k) != 0)
		return fail(why, "not a PROXY protocol header");
	if (len > 12) {
		if (buf[12] >> 4 != 2)
			return fail(why, "v2 header of an unknown version");
		cmd = buf[12] & 0x0F;
		if (cmd > 1)
			return fail(why, "v2 header with an unknown command");
	}
	if (len > 13 && cmd == STP_PP_PROXY) {
		/* LOCAL ignores the family; PROXY must name a defined one */
		fam = buf[13];
		if (fam == 0x12 || fam == 0x22 || fam == 0x32)
			return fail(why, "v2 header for a datagram (UDP) connection");
		if (fam != 0x00 && fam != 0x11 && fam != 0x21 && fam != 0x31)
			return fail(why, "v2 header with an unknown address family");
	}
	if (len < STP_PP_V2_HDR)
		return 0;
	plen = (size_t)buf[14] << 8 | buf[15];
	if (plen > STP_PP_V2_LEN_MAX)
		return fail(why, "v2 header longer than 4096 bytes");
	if (cmd == STP_PP_PROXY && plen < v2_addr_len(fam))
		return fail(why, "v2 address block too short for its family");
	if (len < STP_PP_V2_HDR + plen)
		return 0;

	memset(h, 0, sizeof(*h));
	h->version = 2;
	h->cmd = cmd == STP_PP_PROXY ? STP_PP_PROXY : STP_PP_LOCAL;
	h->len = STP_PP_V2_HDR + plen;
	h->family = AF_UNSPEC;
	if (h->cmd == STP_PP_LOCAL)
		return (ssize_t)h->len;
	const uint8_t *a = buf + STP_PP_V2_HDR;
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;
		h->family = s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);  /* both in network order */
		memcpy(&d->sin_port, a + 10, 2);
	} else if (fam == 0x21) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;
		h->family = s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	} else if (fam == 0x31) {
		h->family = AF_UNIX;  /* no address the rules could judge */
	}
	return (ssize_t)h->len;
}

ssize_t stp_pp_parse(const uint8_t *buf, size_t len, struct stp_pp_hdr *h, const char **why)
{
	*why = NULL;
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return parse_v1(buf, len, h, why);
	if (buf[0] == v2_sig[0])
		return parse_v2(buf, len, h, why);
	return fail(why, "not a PROXY protocol header");
}
