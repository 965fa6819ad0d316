/* test-dnswalk.c - unit tests of the answer walk of libcommon/proto/dns.h
 * (stp_dns_answers, stp_dns_query_for, stp_dns_rcode_text): the records of
 * a response as dig shows them, the type count, error RCODEs, a response
 * cut at every byte, a compression loop. */
#include <stdlib.h>
#include <string.h>
#include "proto/dns.h"
#include "tap.h"

static char data[4 * STP_DNS_MAX + 64];

/* What the walk passed to the callback. */
struct seen {
	int n;
	char owner[4][STP_DNS_NAMESTR + 1], type[4][16], cls[4][16], data[4][64];
	long ttl[4];
};

static void collect(void *arg, const struct stp_dns_answer *a)
{
	struct seen *s = arg;

	if (s->n >= 4)
		return;
	snprintf(s->owner[s->n], sizeof(s->owner[0]), "%s", a->owner);
	snprintf(s->type[s->n], sizeof(s->type[0]), "%s", a->type);
	snprintf(s->cls[s->n], sizeof(s->cls[0]), "%s", a->cls);
	snprintf(s->data[s->n], sizeof(s->data[0]), "%s", a->data);
	s->ttl[s->n] = a->rr.ttl;
	s->n++;
}

static size_t put(uint8_t *b, size_t off, const void *p, size_t n)
{
	memcpy(b + off, p, n);
	return off + n;
}

/* One record owned by the question's name (pointer to offset 12). */
static size_t put_rr(uint8_t *b, size_t off, uint16_t type, uint32_t ttl, const uint8_t *rd,
		     uint16_t rdlen)
{
	uint8_t h[12] = { 0xC0, 0x0C, type >> 8, type & 0xFF, 0, 1,
			  ttl >> 24, (ttl >> 16) & 0xFF, (ttl >> 8) & 0xFF, ttl & 0xFF,
			  rdlen >> 8, rdlen & 0xFF };

	off = put(b, off, h, sizeof(h));
	return put(b, off, rd, rdlen);
}

/* A response to "example.org MX": MX, A and TXT records, in that order;
 * ends[i] is the offset after record i. Returns the length. */
static size_t make_response(uint8_t *b, size_t cap, size_t ends[3])
{
	static const uint8_t mx[] = { 0, 10, 4, 'm', 'a', 'i', 'l', 0xC0, 0x0C };
	static const uint8_t a[] = { 192, 0, 2, 1 };
	static const uint8_t txt[] = { 2, 'h', 'i' };
	size_t n = stp_dns_query_put(b, cap, 0x1234, "example.org", STP_DNS_T_MX);

	b[2] |= 0x80;  /* QR: a response */
	b[7] = 3;      /* ANCOUNT */
	n = ends[0] = put_rr(b, n, STP_DNS_T_MX, 300, mx, sizeof(mx));
	n = ends[1] = put_rr(b, n, STP_DNS_T_A, 60, a, sizeof(a));
	n = ends[2] = put_rr(b, n, STP_DNS_T_TXT, 0, txt, sizeof(txt));
	return n;
}

static void test_records(void)
{
	uint8_t b[512];
	size_t ends[3], n = make_response(b, sizeof(b), ends);
	struct seen s = { 0 };
	int rcode = -5;
	int k = stp_dns_answers(b, n, STP_DNS_T_MX, data, sizeof(data), &rcode, collect, &s);

	CHECK_INT(k, 1, "one MX record among three");
	CHECK_INT(rcode, STP_DNS_NOERROR, "RCODE NOERROR");
	CHECK_INT(s.n, 3, "every record passed on, not only the MX");
	CHECK_STR(s.owner[0], "example.org.", "owner fully qualified");
	CHECK_STR(s.type[0], "MX", "MX type");
	CHECK_STR(s.cls[0], "IN", "class IN");
	CHECK_STR(s.data[0], "10 mail.example.org.", "MX data with the compressed name expanded");
	CHECK_INT(s.ttl[0], 300, "MX TTL");
	CHECK_STR(s.type[1], "A", "A type");
	CHECK_STR(s.data[1], "192.0.2.1", "A data");
	CHECK_INT(s.ttl[1], 60, "A TTL");
	CHECK_STR(s.type[2], "TXT", "TXT type");
	CHECK_STR(s.data[2], "\"hi\"", "TXT data quoted");

	memset(&s, 0, sizeof(s));
	k = stp_dns_answers(b, n, STP_DNS_T_ANY, data, sizeof(data), &rcode, collect, &s);
	CHECK_INT(k, 3, "ANY counts every record");
	memset(&s, 0, sizeof(s));
	k = stp_dns_answers(b, n, STP_DNS_T_AAAA, data, sizeof(data), &rcode, collect, &s);
	CHECK_INT(k, 0, "no AAAA record: 0, the others still passed on");
	CHECK_INT(s.n, 3, "three records seen while counting no AAAA");
}

/* Types and classes without a name are shown by number, RDATA as RFC 3597. */
static void test_unknown(void)
{
	uint8_t b[512];
	size_t ends[3], n = make_response(b, sizeof(b), ends);
	struct seen s = { 0 };
	int rcode;

	b[ends[1] + 2] = 0xFF;  /* the TXT record becomes TYPE65400 of CLASS9 */
	b[ends[1] + 3] = 0x78;
	b[ends[1] + 5] = 9;
	int k = stp_dns_answers(b, n, 65400, data, sizeof(data), &rcode, collect, &s);
	CHECK_INT(k, 1, "type 65400 counted");
	CHECK_STR(s.type[2], "TYPE65400", "unknown type by number");
	CHECK_STR(s.cls[2], "CLASS9", "unknown class by number");
	CHECK_STR(s.data[2], "\\# 3 026869", "unknown RDATA in the generic form");
}

static void test_rcode(void)
{
	uint8_t b[512];
	size_t ends[3], n = make_response(b, sizeof(b), ends);
	struct seen s = { 0 };
	int rcode;

	b[3] = (b[3] & 0xF0) | STP_DNS_NXDOMAIN;
	int k = stp_dns_answers(b, n, STP_DNS_T_MX, data, sizeof(data), &rcode, collect, &s);
	CHECK_INT(k, 0, "NXDOMAIN: nothing counted");
	CHECK_INT(rcode, STP_DNS_NXDOMAIN, "NXDOMAIN reported");
	CHECK_INT(s.n, 0, "NXDOMAIN: no record walked");
	CHECK_STR(stp_dns_rcode_text(STP_DNS_NXDOMAIN), "no such name", "NXDOMAIN in words");
	CHECK_STR(stp_dns_rcode_text(STP_DNS_SERVFAIL), "the resolver failed", "SERVFAIL in words");
	CHECK_STR(stp_dns_rcode_text(STP_DNS_REFUSED), "the resolver refused", "REFUSED in words");
	CHECK_STR(stp_dns_rcode_text(9), "the resolver answered an error", "another RCODE in words");
}

/* Cut anywhere, the response is malformed: -1, after exactly the records
 * that fit whole. */
static void test_cut(void)
{
	uint8_t b[512];
	size_t ends[3], n = make_response(b, sizeof(b), ends);
	int bad = 0;

	for (size_t len = 0; len < n; len++) {
		struct seen s = { 0 };
		int rcode, whole = (len >= ends[0]) + (len >= ends[1]) + (len >= ends[2]);
		int k = stp_dns_answers(b, len, STP_DNS_T_ANY, data, sizeof(data), &rcode, collect, &s);
		if (k != -1 || s.n != whole || (len < STP_DNS_HDR && rcode != -1)) {
			DIAG("cut at %zu: returned %d after %d records (rcode %d)", len, k, s.n, rcode);
			bad++;
		}
	}
	CHECK_INT(bad, 0, "a response cut at each of %zu bytes is malformed, records before the cut seen", n);
}

static void test_loop(void)
{
	uint8_t b[512];
	size_t ends[3], n = make_response(b, sizeof(b), ends);
	size_t q = ends[0] - 21;  /* the MX record's owner */
	struct seen s = { 0 };
	int rcode;

	b[q] = 0xC0;
	b[q + 1] = (uint8_t)q;  /* a pointer to itself */
	int k = stp_dns_answers(b, n, STP_DNS_T_MX, data, sizeof(data), &rcode, collect, &s);
	CHECK_INT(k, -1, "a compression loop in an owner name is malformed");
	CHECK_INT(s.n, 0, "nothing walked before it");
}

static void test_query_for(void)
{
	uint8_t q[512];
	struct stp_dns_msg m;
	size_t n;

	n = stp_dns_query_for(q, sizeof(q), 7, "192.0.2.1", STP_DNS_T_PTR);
	CHECK(n > 0 && stp_dns_parse(q, n, &m) == 0, "PTR query for an IPv4 literal");
	CHECK_STR(m.qname, "1.2.0.192.in-addr.arpa", "asked by its reverse name");
	CHECK_INT(m.qtype, STP_DNS_T_PTR, "type PTR");
	n = stp_dns_query_for(q, sizeof(q), 7, "2001:db8::1", STP_DNS_T_PTR);
	CHECK(n > 0 && stp_dns_parse(q, n, &m) == 0, "PTR query for an IPv6 literal");
	CHECK(strlen(m.qname) == 72 && strcmp(m.qname + 64, "ip6.arpa") == 0 &&
	      strncmp(m.qname, "1.0.0.0.", 8) == 0, "nibbles reversed under ip6.arpa: %s", m.qname);
	n = stp_dns_query_for(q, sizeof(q), 7, "1.2.0.192.in-addr.arpa", STP_DNS_T_PTR);
	CHECK(n > 0 && stp_dns_parse(q, n, &m) == 0, "PTR query for a name");
	CHECK_STR(m.qname, "1.2.0.192.in-addr.arpa", "a name is asked as it is");
	n = stp_dns_query_for(q, sizeof(q), 7, "192.0.2.1", STP_DNS_T_A);
	CHECK(n > 0 && stp_dns_parse(q, n, &m) == 0, "A query for a literal");
	CHECK_STR(m.qname, "192.0.2.1", "only PTR turns a literal around");
	CHECK_INT(stp_dns_query_for(q, sizeof(q), 7, "a..b", STP_DNS_T_A), 0, "an empty label: no query");
}

int main(void)
{
	test_records();
	test_unknown();
	test_rcode();
	test_cut();
	test_loop();
	test_query_for();
	return tap_done();
}
