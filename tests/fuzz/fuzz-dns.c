/* fuzz-dns.c - libFuzzer target for the DNS message helpers (dns.c) and the
 * channel framing (stp_dns_unframe): the input is one message, walked as a
 * query and as an answer with every record printed, then a stream of
 * frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "proto/dns.h"

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

	/* the input as a stream of LEN | message frames: each one taken out
	 * must be the next frame's bytes, and the rest must stay in place */
	size_t inlen = size, pos = 0;
	uint8_t *in = malloc(size ? size : 1);
	if (!in)
		abort();
	memcpy(in, data, size);
	for (;;) {
		ssize_t k = stp_dns_unframe(in, &inlen, out, 512);
		/* empty frames carry nothing and are passed over */
		while (size - pos >= 2 && data[pos] == 0 && data[pos + 1] == 0)
			pos += 2;
		if (k <= 0) {
			size_t want = size - pos >= 2 ? 2u + (size_t)(data[pos] << 8 | data[pos + 1]) : 2;
			FUZZ_ASSERT(inlen == size - pos && !memcmp(in, data + pos, inlen));
			FUZZ_ASSERT(k == 0 ? inlen < want : (inlen >= want && want - 2 > 512));
			break;
		}
		FUZZ_ASSERT((size_t)k <= 512 && (size_t)(data[pos] << 8 | data[pos + 1]) == (size_t)k);
		FUZZ_ASSERT(!memcmp(out, data + pos + 2, (size_t)k));
		pos += 2 + (size_t)k;
		FUZZ_ASSERT(inlen == size - pos);
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
