/* fuzz-dns.c - libFuzzer target for the DNS message helpers (dns.c) and the
 * channel framing (stp_dns_unframe): the input is one message, walked as a
 * query and as an answer with every record printed, then a stream of
 * frames. The Makefile's fuzz rule links a fixed list of codec files, so
 * the two files under test are compiled in here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/dns.h"
#include "../../libcommon/proto/dns.c"

/* stp_dns_unframe without dnsclient.c's blocking client (same code). */
static ssize_t unframe(uint8_t *in, size_t *inlen, uint8_t *msg, size_t cap)
{
	size_t len;

	if (*inlen < 2)
		return 0;
	len = (size_t)in[0] << 8 | in[1];
	if (*inlen < 2 + len)
		return 0;
	if (len > cap)
		return -1;
	memcpy(msg, in + 2, len);
	memmove(in, in + 2 + len, *inlen - 2 - len);
	*inlen -= 2 + len;
	return (ssize_t)len;
}

static char text[4 * STP_DNS_MAX + 64];
static uint8_t out[STP_DNS_MAX + 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stp_dns_msg m;
	uint8_t *b = malloc(size ? size : 1);
	int rc;

	if (!b)
		abort();
	memcpy(b, data, size);  /* exact size: ASan sees any overread */

	rc = stp_dns_check_query(b, size, &m);
	FUZZ_ASSERT(rc >= -1 && rc <= STP_DNS_NOTIMP);
	if (rc >= 0) {
		FUZZ_ASSERT(m.qend >= STP_DNS_HDR && m.qend <= size);
		size_t n = stp_dns_error_reply(out, sizeof(out), b, m.qend, rc ? rc : 2);
		FUZZ_ASSERT(n == m.qend);
		struct stp_dns_msg r;
		FUZZ_ASSERT(stp_dns_parse(out, n, &r) == 0 || m.qend == STP_DNS_HDR);
		FUZZ_ASSERT(STP_DNS_QR(r.flags));
	}
	unsigned udp = stp_dns_udp_size(b, size);
	FUZZ_ASSERT(udp >= STP_DNS_UDP_MIN && udp <= 65535);

	size_t limit = size ? data[0] * 4u : 0;
	size_t t = stp_dns_truncate(out, sizeof(out), b, size, limit);
	FUZZ_ASSERT(t == size || t <= limit);

	if (stp_dns_parse(b, size, &m) == 0) {
		size_t off = m.qend;
		unsigned total = (unsigned)m.ancount + m.nscount + m.arcount;
		for (unsigned i = 0; i < total; i++) {
			struct stp_dns_rr rr;
			if (stp_dns_next_rr(b, size, &off, &rr) < 0)
				break;
			FUZZ_ASSERT(off <= size && rr.rdoff + rr.rdlen == off);
			stp_dns_rdata_str(b, size, &rr, text, sizeof(text));
			FUZZ_ASSERT(strlen(text) < sizeof(text));
			/* a small buffer must be cut, never overrun */
			char small[16];
			stp_dns_rdata_str(b, size, &rr, small, sizeof(small));
			FUZZ_ASSERT(strlen(small) < sizeof(small));
		}
	}

	/* the input as a stream of LEN | message frames */
	size_t inlen = size;
	uint8_t *in = malloc(size ? size : 1);
	if (!in)
		abort();
	memcpy(in, data, size);
	for (;;) {
		ssize_t k = unframe(in, &inlen, out, 512);
		if (k == 0)
			break;
		if (k < 0) {
			FUZZ_ASSERT(inlen >= 2);
			break;
		}
		FUZZ_ASSERT((size_t)k <= 512);
	}
	free(in);

	/* the type table both ways */
	if (size >= 2) {
		char tb[16];
		uint16_t ty = (uint16_t)(data[0] << 8 | data[1]), back;
		const char *s = stp_dns_type_str(ty, tb, sizeof(tb));
		FUZZ_ASSERT(ty == 0 || ty == 41 || (stp_dns_type_parse(s, &back) == 0 && back == ty));
	}
	free(b);
	return 0;
}
