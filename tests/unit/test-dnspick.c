/* test-dnspick.c - unit tests of libcommon/proto/dnspick.h: the address
 * of an A/AAAA answer after a CNAME, the name of a PTR answer without the
 * root's dot, no data, an error RCODE, a wrong ID, a query instead of a
 * response, and a response cut at every byte (never a read past it). */
#include <stdlib.h>
#include <string.h>
#include "proto/addr.h"
#include "proto/dns.h"
#include "proto/dnspick.h"
#include "tap.h"

static size_t put(uint8_t *b, size_t off, const void *p, size_t n)
{
	memcpy(b + off, p, n);
	return off + n;
}

/* A record owned by the question's name (a pointer to offset 12). */
static size_t put_rr(uint8_t *b, size_t off, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
	uint8_t h[12] = { 0xC0, 0x0C, type >> 8, type & 0xFF, 0, 1, 0, 0, 1, 0,
			  rdlen >> 8, rdlen & 0xFF };

	off = put(b, off, h, sizeof(h));
	return put(b, off, rd, rdlen);
}

/* A response to name/type with id: an, the records' count, set by caller. */
static size_t response(uint8_t *b, size_t cap, uint16_t id, const char *name, uint16_t type,
		       int rcode)
{
	size_t n = stp_dns_query_put(b, cap, id, name, type);

	b[2] |= 0x80;
	b[3] = (uint8_t)(0x80 | rcode);
	return n;
}

int main(void)
{
	static const uint8_t cname[] = { 3, 'w', 'w', 'w', 0xC0, 0x0C };
	static const uint8_t v4[] = { 192, 0, 2, 7 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
	static const uint8_t ptr[] = { 4, 'h', 'o', 's', 't', 4, 't', 'e', 's', 't', 0 };
	uint8_t b[512];
	struct stp_addr a;
	char txt[64];
	size_t n;
	int rc;

	/* A after a CNAME: the A record's address */
	n = response(b, sizeof(b), 7, "x.test", STP_DNS_T_A, 0);
	b[7] = 2;
	n = put_rr(b, n, STP_DNS_T_CNAME, cname, sizeof(cname));
	n = put_rr(b, n, STP_DNS_T_A, v4, sizeof(v4));
	CHECK_INT(stp_dns_pick(b, n, 7, STP_DNS_T_A, &a, &rc), 1, "A after a CNAME: found");
	CHECK(a.atyp == STP_ATYP_IPV4 && memcmp(a.u.v4, v4, 4) == 0 && a.port == 0,
	      "A: its address");
	CHECK_INT(stp_dns_pick(b, n, 8, STP_DNS_T_A, &a, &rc), -1, "another ID: refused");
	CHECK_INT(stp_dns_pick(b, n, 7, STP_DNS_T_AAAA, &a, &rc), -1, "another type: refused");
	for (size_t k = 0; k < n; k++) {
		uint8_t *cut = malloc(k ? k : 1);
		memcpy(cut, b, k);
		int r = stp_dns_pick(cut, k, 7, STP_DNS_T_A, &a, &rc);
		free(cut);
		if (r != -1) {
			CHECK(0, "cut at %zu: %d", k, r);
			break;
		}
	}
	CHECK(1, "a response cut at any byte is malformed (its records are counted)");

	/* AAAA */
	n = response(b, sizeof(b), 9, "x.test", STP_DNS_T_AAAA, 0);
	b[7] = 1;
	n = put_rr(b, n, STP_DNS_T_AAAA, v6, sizeof(v6));
	CHECK_INT(stp_dns_pick(b, n, 9, STP_DNS_T_AAAA, &a, &rc), 1, "AAAA: found");
	CHECK_STR(stp_addr_host(&a, txt, sizeof(txt)), "2001:db8::9", "AAAA: its address");

	/* PTR */
	n = response(b, sizeof(b), 10, "7.2.0.192.in-addr.arpa", STP_DNS_T_PTR, 0);
	b[7] = 1;
	n = put_rr(b, n, STP_DNS_T_PTR, ptr, sizeof(ptr));
	CHECK_INT(stp_dns_pick(b, n, 10, STP_DNS_T_PTR, &a, &rc), 1, "PTR: found");
	CHECK(a.atyp == STP_ATYP_NAME && a.namelen == 9, "PTR: a name");
	CHECK_STR(a.u.name, "host.test", "PTR: without the root's dot");

	/* no data, NXDOMAIN, a query */
	n = response(b, sizeof(b), 11, "x.test", STP_DNS_T_A, 0);
	CHECK_INT(stp_dns_pick(b, n, 11, STP_DNS_T_A, &a, &rc), 0, "no data: 0");
	CHECK_INT(rc, STP_DNS_NOERROR, "no data: NOERROR");
	n = response(b, sizeof(b), 12, "x.test", STP_DNS_T_A, STP_DNS_NXDOMAIN);
	CHECK_INT(stp_dns_pick(b, n, 12, STP_DNS_T_A, &a, &rc), 0, "NXDOMAIN: 0");
	CHECK_INT(rc, STP_DNS_NXDOMAIN, "NXDOMAIN: its RCODE");
	n = stp_dns_query_put(b, sizeof(b), 13, "x.test", STP_DNS_T_A);
	CHECK_INT(stp_dns_pick(b, n, 13, STP_DNS_T_A, &a, &rc), -1, "a query: refused");

	/* an A record of the wrong length is passed over */
	n = response(b, sizeof(b), 14, "x.test", STP_DNS_T_A, 0);
	b[7] = 1;
	n = put_rr(b, n, STP_DNS_T_A, v6, sizeof(v6));
	CHECK_INT(stp_dns_pick(b, n, 14, STP_DNS_T_A, &a, &rc), 0, "an A of 16 bytes: no data");
	return tap_done();
}
