/* test-proxyproto.c - unit tests of the PROXY protocol parser
 * (libcommon/proto/proxyproto.h): v1 and v2 with TCP4, TCP6, UNKNOWN and
 * LOCAL, every valid header cut at every byte (always "need more"), the
 * connection's own bytes after a header left alone, and malformed headers
 * refused as soon as the byte that spoils them arrives. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/proxyproto.h"
#include "tap.h"

static const uint8_t sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

/* "ADDR PORT" of an AF_INET/AF_INET6 sockaddr, in buf. */
static const char *ep(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s %u", a, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "%s %u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, cap, "-");
	}
	return buf;
}

/* An exact-size heap copy, so that a read past n is ASan's to see. */
static uint8_t *exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

/* name as one TAP line: control bytes (the CR LF of v1 lines) shown as '.' */
static const char *clean(const char *name, char *buf, size_t cap)
{
	size_t i = 0;

	for (; name[i] && i + 1 < cap; i++)
		buf[i] = (unsigned char)name[i] < 0x20 ? '.' : name[i];
	buf[i] = '\0';
	return buf;
}

/* b[0..n) starts with a header of hlen bytes: every shorter cut asks for
 * more, the whole parses to hlen whatever follows it. */
static void valid(const char *raw, const uint8_t *b, size_t n, size_t hlen,
		  struct stp_pp_hdr *h)
{
	char name[160];
	const char *why;
	int cuts_ok = 1;

	clean(raw, name, sizeof(name));
	for (size_t k = 0; k < hlen; k++) {
		uint8_t *c = exact(b, k);
		ssize_t r = stp_pp_parse(c, k, h, &why);
		free(c);
		if (r != 0) {
			cuts_ok = 0;
			DIAG("%s: cut at %zu returned %zd (%s)", name, k, r, why ? why : "");
			break;
		}
	}
	CHECK(cuts_ok, "%s: every cut needs more", name);
	uint8_t *c = exact(b, n);
	CHECK_INT(stp_pp_parse(c, n, h, &why), (ssize_t)hlen, "%s: parsed (%s)", name,
		  why ? why : "ok");
	free(c);
	CHECK_INT(h->len, hlen, "%s: header length", name);
}

/* b[0..n) is refused, with want in the reason. */
static void invalid(const char *raw, const uint8_t *b, size_t n, const char *want)
{
	char name[160];
	struct stp_pp_hdr h;
	const char *why = NULL;
	uint8_t *c = exact(b, n);

	clean(raw, name, sizeof(name));
	CHECK_INT(stp_pp_parse(c, n, &h, &why), -1, "%s: refused", name);
	free(c);
	CHECK(why && strstr(why, want), "%s: says '%s' (%s)", name, want, why ? why : "null");
}

static void v1_ok(const char *line, const char *tail, int fam, const char *src,
		  const char *dst)
{
	char buf[512], s[80], d[80];
	struct stp_pp_hdr h;
	size_t hl = strlen(line);

	snprintf(buf, sizeof(buf), "%s%s", line, tail);
	valid(line, (const uint8_t *)buf, strlen(buf), hl, &h);
	CHECK_INT(h.version, 1, "v1: version");
	CHECK_INT(h.cmd, STP_PP_PROXY, "v1: PROXY");
	CHECK_INT(h.family, fam, "v1: family");
	if (fam != AF_UNSPEC) {
		CHECK_STR(ep(&h.src, s, sizeof(s)), src, "v1: source");
		CHECK_STR(ep(&h.dst, d, sizeof(d)), dst, "v1: destination");
	}
}

static void v1_bad(const char *line, const char *want)
{
	invalid(line, (const uint8_t *)line, strlen(line), want);
}

static void test_v1(void)
{
	/* SOCKS bytes after the header are the connection's, not the header's */
	v1_ok("PROXY TCP4 192.0.2.1 198.51.100.2 56324 1080\r\n", "\x05\x01\x00", AF_INET,
	      "192.0.2.1 56324", "198.51.100.2 1080");
	v1_ok("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "", AF_INET, "0.0.0.0 0",
	      "255.255.255.255 65535");
	v1_ok("PROXY TCP6 2001:db8::1 2001:db8::2 4 1080\r\n", "GET", AF_INET6, "2001:db8::1 4",
	      "2001:db8::2 1080");
	v1_ok("PROXY TCP6 ::ffff:192.0.2.7 ::1 9 9\r\n", "", AF_INET6, "::ffff:192.0.2.7 9",
	      "::1 9");
	v1_ok("PROXY UNKNOWN\r\n", "\x05", AF_UNSPEC, NULL, NULL);
	/* the longest line there is (107 bytes): what follows UNKNOWN is ignored */
	v1_ok("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", "", AF_UNSPEC, NULL, NULL);
	v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", "", AF_INET6,
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535");
	CHECK_INT(strlen("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		  STP_PP_V1_MAX, "the longest v1 line is 107 bytes");

	v1_bad("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n", "longer than 107");
	/* no CR within 107 bytes: refused at the 107th, not waited for */
	{
		char l[200];
		memset(l, 'x', sizeof(l));
		memcpy(l, "PROXY ", 6);
		invalid("107 bytes without CR", (const uint8_t *)l, STP_PP_V1_MAX, "longer than 107");
		struct stp_pp_hdr h;
		const char *why;
		CHECK_INT(stp_pp_parse((const uint8_t *)l, STP_PP_V1_MAX - 1, &h, &why), 0,
			  "106 bytes without CR: more needed");
	}
	v1_bad("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY");
	v1_bad("PROXY\r\n", "not a PROXY");
	v1_bad("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "without CR");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "without CR LF");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "too many fields");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "too many fields");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "too few fields");
	v1_bad("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "too many fields");
	v1_bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "too many fields");
	v1_bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN");
	v1_bad("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN");
	v1_bad("PROXY UNKNOWNX\r\n", "too few fields");
	v1_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address");
	v1_bad("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "destination address");
	v1_bad("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "source address");
	v1_bad("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "source address");
	v1_bad("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "source address");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n", "destination address");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "destination address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "source address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "source address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", "destination address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", "destination address or port");
	v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "destination address or port");
	invalid("NUL in the line", (const uint8_t *)"PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 34,
		"NUL");
	/* an early "no": not SOCKS' first bytes, nor HTTP's, nor TLS's */
	invalid("SOCKS5 greeting", (const uint8_t *)"\x05\x01\x00", 3, "not a PROXY");
	invalid("SOCKS4", (const uint8_t *)"\x04\x01", 2, "not a PROXY");
	invalid("TLS ClientHello", (const uint8_t *)"\x16\x03\x01", 3, "not a PROXY");
	invalid("HTTP", (const uint8_t *)"GET / HTTP/1.1\r\n", 16, "not a PROXY");
	invalid("PRO then junk", (const uint8_t *)"PRX", 3, "not a PROXY");
}

/* A v2 header: ver/cmd, fam, the address block (alen bytes of addr) and
 * tlv extra bytes of TLVs, then tail. Returns the total length in out. */
static size_t v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *addr, size_t alen,
		 size_t tlv, const char *tail)
{
	size_t plen = alen + tlv, n = 16;

	memcpy(out, sig, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (uint8_t)(plen >> 8);
	out[15] = (uint8_t)plen;
	if (alen)
		memcpy(out + n, addr, alen);
	n += alen;
	for (size_t i = 0; i < tlv; i++)  /* PP2_TYPE_NOOP-ish padding bytes */
		out[n++] = (uint8_t)(i == 0 ? 0x04 : i < 3 ? 0 : 0xAA);
	if (tail) {
		memcpy(out + n, tail, strlen(tail));
		n += strlen(tail);
	}
	return n;
}

static uint8_t big[STP_PP_MAX + 64];

static void test_v2(void)
{
	static const uint8_t a4[12] = { 192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x04, 0x38 };
	uint8_t a6[36] = { 0 }, ax[216];
	struct stp_pp_hdr h;
	char s[80];
	size_t n;

	n = v2(big, 0x21, 0x11, a4, sizeof(a4), 0, "\x05\x01\x00");
	valid("v2 PROXY TCP4", big, n, 28, &h);
	CHECK(h.version == 2 && h.cmd == STP_PP_PROXY && h.family == AF_INET, "v2 TCP4: fields");
	CHECK_STR(ep(&h.src, s, sizeof(s)), "192.0.2.1 56324", "v2 TCP4: source");
	CHECK_STR(ep(&h.dst, s, sizeof(s)), "198.51.100.2 1080", "v2 TCP4: destination");

	/* TLVs (HAProxy's SSL or unique-id ones) are skipped */
	n = v2(big, 0x21, 0x11, a4, sizeof(a4), 40, "\x05");
	valid("v2 PROXY TCP4 + TLVs", big, n, 16 + 12 + 40, &h);
	CHECK_STR(ep(&h.src, s, sizeof(s)), "192.0.2.1 56324", "v2 TCP4 + TLVs: source");

	a6[0] = 0x20, a6[1] = 0x01, a6[2] = 0x0d, a6[3] = 0xb8, a6[15] = 7;  /* 2001:db8::7 */
	a6[31] = 1;                                                         /* ::1 */
	a6[32] = 0xFF, a6[33] = 0xFF, a6[34] = 0, a6[35] = 0;
	n = v2(big, 0x21, 0x21, a6, sizeof(a6), 0, "");
	valid("v2 PROXY TCP6", big, n, 52, &h);
	CHECK(h.family == AF_INET6, "v2 TCP6: family");
	CHECK_STR(ep(&h.src, s, sizeof(s)), "2001:db8::7 65535", "v2 TCP6: source");
	CHECK_STR(ep(&h.dst, s, sizeof(s)), "::1 0", "v2 TCP6: destination");

	/* LOCAL (health checks): no address, whatever the family byte says */
	n = v2(big, 0x20, 0x00, NULL, 0, 0, "\x05");
	valid("v2 LOCAL", big, n, 16, &h);
	CHECK(h.cmd == STP_PP_LOCAL && h.family == AF_UNSPEC, "v2 LOCAL: no address");
	n = v2(big, 0x20, 0x11, a4, sizeof(a4), 0, "");
	valid("v2 LOCAL with TCP4 block", big, n, 28, &h);
	CHECK(h.cmd == STP_PP_LOCAL && h.family == AF_UNSPEC, "v2 LOCAL: block ignored");
	n = v2(big, 0x20, 0x77, NULL, 0, 0, "");
	valid("v2 LOCAL, unknown family", big, n, 16, &h);

	/* PROXY UNSPEC and UNIX: a header, but no address to use */
	n = v2(big, 0x21, 0x00, NULL, 0, 0, "");
	valid("v2 PROXY UNSPEC", big, n, 16, &h);
	CHECK(h.cmd == STP_PP_PROXY && h.family == AF_UNSPEC, "v2 UNSPEC: no address");
	memset(ax, 'u', sizeof(ax));
	n = v2(big, 0x21, 0x31, ax, sizeof(ax), 0, "");
	valid("v2 PROXY UNIX", big, n, 16 + 216, &h);
	CHECK(h.family == AF_UNIX, "v2 UNIX: family");

	/* the largest header taken, and one byte more refused at byte 16 */
	n = v2(big, 0x21, 0x11, a4, sizeof(a4), STP_PP_V2_LEN_MAX - 12, "");
	valid("v2 4096-byte block", big, n, STP_PP_MAX, &h);
	n = v2(big, 0x21, 0x11, a4, sizeof(a4), STP_PP_V2_LEN_MAX - 11, "");
	invalid("v2 4097-byte block", big, 16, "longer than 4096");
	big[14] = big[15] = 0xFF;
	invalid("v2 65535-byte block", big, 16, "longer than 4096");

	/* each signature byte spoiled: refused with that byte */
	for (size_t i = 0; i < 12; i++) {
		char name[64];
		n = v2(big, 0x21, 0x11, a4, sizeof(a4), 0, "");
		big[i] ^= 0x40;
		snprintf(name, sizeof(name), "v2 signature byte %zu", i);
		invalid(name, big, i + 1, "not a PROXY");
	}
	n = v2(big, 0x11, 0x11, a4, sizeof(a4), 0, "");
	invalid("v2 version 1", big, 13, "unknown version");
	n = v2(big, 0x31, 0x11, a4, sizeof(a4), 0, "");
	invalid("v2 version 3", big, 13, "unknown version");
	n = v2(big, 0x22, 0x11, a4, sizeof(a4), 0, "");
	invalid("v2 command 2", big, 13, "unknown command");
	n = v2(big, 0x2F, 0x11, a4, sizeof(a4), 0, "");
	invalid("v2 command 15", big, 13, "unknown command");
	n = v2(big, 0x21, 0x12, a4, sizeof(a4), 0, "");
	invalid("v2 UDP4", big, 14, "datagram");
	n = v2(big, 0x21, 0x22, a6, sizeof(a6), 0, "");
	invalid("v2 UDP6", big, 14, "datagram");
	n = v2(big, 0x21, 0x10, a4, sizeof(a4), 0, "");
	invalid("v2 INET, unspecified transport", big, 14, "unknown address family");
	n = v2(big, 0x21, 0x13, a4, sizeof(a4), 0, "");
	invalid("v2 INET, transport 3", big, 14, "unknown address family");
	n = v2(big, 0x21, 0x41, a4, sizeof(a4), 0, "");
	invalid("v2 family 4", big, 14, "unknown address family");
	n = v2(big, 0x21, 0x11, a4, 11, 0, "");
	invalid("v2 TCP4 block of 11", big, 16, "too short");
	n = v2(big, 0x21, 0x21, a6, 35, 0, "");
	invalid("v2 TCP6 block of 35", big, 16, "too short");
	n = v2(big, 0x21, 0x21, a4, 12, 0, "");
	invalid("v2 TCP6 with a TCP4 block", big, 16, "too short");
	n = v2(big, 0x21, 0x31, ax, 215, 0, "");
	invalid("v2 UNIX block of 215", big, 16, "too short");
	(void)n;
}

int main(void)
{
	test_v1();
	test_v2();
	return tap_done();
}
